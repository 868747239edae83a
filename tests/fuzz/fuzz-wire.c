// SPDX-License-Identifier: MIT
/*
 * fuzz-wire — libFuzzer target for the datagram receive path.
 *
 * Build and run from the source root (not part of the Meson build):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -D_GNU_SOURCE -Idaemon tests/fuzz/fuzz-wire.c daemon/wire.c daemon/auth.c \
 *         -lsodium -o fuzz-wire
 *   mkdir -p fuzz-wire-corpus && ./fuzz-wire -max_total_time=30 fuzz-wire-corpus
 *
 * Each input is used three ways:
 *  1. as a raw datagram handed to wire_receive (a forged tag must be
 *     rejected; no input may crash or read out of bounds);
 *  2. as a message area (after a 2-byte count) handed to wire_decode_body,
 *     the test-only entry that skips authentication; every area it accepts
 *     must re-encode to the very same bytes;
 *  3. as a message area sealed with the fuzzer's key, so the whole of
 *     wire_receive past authentication runs on it, in both modes; it must
 *     agree with wire_decode_body.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

#define SELF	1u
#define PEER	2u
#define CLUSTER 0x5061786f734b5631ull

static struct auth_key key;
static uint8_t buf[WIRE_MAX_DGRAM + 1];
static uint8_t enc[WIRE_MAX_DGRAM];
static struct wire_rx rx;

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void fresh_rx(void)
{
	wire_rx_init(&rx, CLUSTER, SELF);
	check(wire_rx_add_peer(&rx, PEER) == 0);
	check(wire_rx_add_peer(&rx, 3) == 0);
}

/* Touches every decoded byte so ASan sees any read out of bounds. */
static unsigned drain(struct wire_iter *it, unsigned *count)
{
	struct pkv_msg m;
	unsigned sum = 0;

	*count = 0;
	while (wire_next(it, &m)) {
		for (uint32_t i = 0; i < m.bucket.len; i++)
			sum += m.bucket.p[i];
		for (uint32_t i = 0; i < m.key.len; i++)
			sum += m.key.p[i];
		for (uint32_t i = 0; i < m.value.len; i++)
			sum += m.value.p[i];
		(*count)++;
	}
	return sum;
}

static void raw_datagram(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	struct wire_iter it;
	unsigned n;

	if (size > sizeof(buf))
		return;
	memcpy(buf, data, size);
	fresh_rx();
	if (wire_receive(&rx, &key, buf, size, &h, &it) == 0) {
		drain(&it, &n);
		check(n == h.count);
	}
}

/* Returns whether the area decoded; re-encodes it and compares if so. */
static bool body_roundtrip(const uint8_t *body, size_t len, unsigned count)
{
	struct wire_builder b;
	struct wire_hdr h = {.cluster_id = CLUSTER, .sender = PEER};
	struct wire_iter it;
	struct pkv_msg m;
	unsigned n = 0;

	if (wire_decode_body(body, len, count, &it) != 0)
		return false;
	check(len + WIRE_MIN_DGRAM <= sizeof(enc) || count == 0);
	check(wire_begin(&b, enc, sizeof(enc), &h) == 0);
	while (wire_next(&it, &m)) {
		check(wire_add(&b, &m) == 0);
		n++;
	}
	check(n == count);
	check(b.len == WIRE_HDR_BYTES + len);
	check(memcmp(enc + WIRE_HDR_BYTES, body, len) == 0);
	return true;
}

/* Seals the area with a valid tag so wire_receive checks it past authentication. */
static void sealed_body(const uint8_t *body, size_t len, uint16_t count, bool encrypt, bool decodes)
{
	struct wire_builder b;
	struct wire_hdr h = {.cluster_id = CLUSTER, .sender = PEER, .incarnation = 1, .seq = 1};
	struct wire_iter it;
	int rc, dlen;
	unsigned n;

	if (len > WIRE_MAX_DGRAM - WIRE_MIN_DGRAM)
		return;
	check(wire_begin(&b, buf, WIRE_MAX_DGRAM, &h) == 0);
	memcpy(buf + WIRE_HDR_BYTES, body, len);
	b.len = WIRE_HDR_BYTES + len;
	buf[40] = (uint8_t)count;
	buf[41] = (uint8_t)(count >> 8);
	dlen = wire_finish(&b, &key, encrypt);
	fresh_rx();
	rc = wire_receive(&rx, &key, buf, (size_t)dlen, &h, &it);
	check(rc == (decodes ? 0 : WIRE_RC(WIRE_REJ_MALFORMED)));
	if (rc == 0) {
		drain(&it, &n);
		check(n == count);
		check(rx.peers[PEER].active && rx.peers[PEER].top == 1);
		/* The same datagram again is a replay (encrypted ones were decrypted in place). */
		if (!encrypt)
			check(wire_receive(&rx, &key, buf, (size_t)dlen, &h, &it) ==
			      WIRE_RC(WIRE_REJ_REPLAY));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint16_t count;
	bool decodes;

	if (!ready) {
		check(sodium_init() >= 0);
		for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
			key.k[i] = (uint8_t)(0x40 + i);
		ready = true;
	}
	raw_datagram(data, size);
	if (size < 2)
		return 0;
	/* Counts up to 1023 (a datagram holds fewer); the top bit picks the mode. */
	count = (uint16_t)(data[0] | (data[1] & 0x03) << 8);
	decodes = body_roundtrip(data + 2, size - 2, count);
	sealed_body(data + 2, size - 2, count, data[1] & 0x80, decodes);
	return 0;
}
