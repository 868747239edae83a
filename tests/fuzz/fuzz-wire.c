// SPDX-License-Identifier: MIT
/*
 * fuzz-wire — libFuzzer target for the datagram receive path.
 *
 * Built and run by tests/fuzz/run.sh; by hand, from the source root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -D_GNU_SOURCE -Idaemon tests/fuzz/fuzz-wire.c daemon/wire.c daemon/auth.c \
 *         daemon/msg.c -lsodium -o fuzz-wire
 *   ./fuzz-wire -max_total_time=60 corpus-copy tests/fuzz/corpus/wire
 *
 * Each input is used three ways:
 *  1. as a raw datagram handed to wire_receive (a forged tag must be
 *     rejected; no input may crash or read out of bounds);
 *  2. as a message area (after a 2-byte count) handed to wire_decode_body,
 *     the test-only entry that skips authentication; every area it accepts
 *     must re-encode to the very same bytes;
 *  3. as a message area sealed with the fuzzer's key, so the whole of
 *     wire_receive past authentication runs on it, in both modes; it must
 *     agree with wire_decode_body;
 *  4. as a stream of sealed datagrams from two senders, whose acceptance
 *     must match a model of the replay window and of incarnations
 *     (replay_stream).
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
	if (wire_receive(&rx, &key, buf, size, 0, &h, &it) == 0) {
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
	rc = wire_receive(&rx, &key, buf, (size_t)dlen, 0, &h, &it);
	check(rc == (decodes ? 0 : WIRE_RC(WIRE_REJ_MALFORMED)));
	if (rc == 0) {
		drain(&it, &n);
		check(n == count);
		check(rx.peers[PEER].active && rx.peers[PEER].top == 1);
		/* The same datagram again is a replay (encrypted ones were decrypted in place). */
		if (!encrypt)
			check(wire_receive(&rx, &key, buf, (size_t)dlen, 0, &h, &it) ==
			      WIRE_RC(WIRE_REJ_REPLAY));
	}
}

/*
 * The replay window and incarnations, against a model: the input, read as up
 * to SEQ_MAX records of 9 bytes, is a stream of empty sealed datagrams from
 * two senders. Record: byte 0 bit 0 the sender (PEER or 3), bits 1-2 the
 * incarnation (0, 3: same; 1: next; 2: previous), bits 3-4 how the 8-byte
 * number that follows gives the sequence (0: its low 16 bits; 1: the
 * sender's highest accepted minus its low 12 bits; 2: that plus them; 3: as
 * is). The model keeps every sequence accepted in the current incarnation:
 * a datagram is a replay if its sequence was accepted, or is WINDOW or more
 * below the highest one; an older incarnation is refused; a newer one starts
 * afresh.
 */
#define SEQ_MAX 64u

struct model_peer {
	bool active;
	uint64_t inc, top;
	unsigned n;
	uint64_t seen[SEQ_MAX];
};

static void replay_stream(const uint8_t *data, size_t size)
{
	static struct model_peer mp[2];
	static uint8_t dg[WIRE_MIN_DGRAM];
	struct wire_hdr out;
	struct wire_iter it;

	memset(mp, 0, sizeof(mp));
	fresh_rx();
	for (size_t r = 0; r < SEQ_MAX && (r + 1) * 9 <= size; r++) {
		const uint8_t *rec = data + r * 9;
		struct model_peer *p = &mp[rec[0] & 1];
		uint64_t v = 0, inc = p->inc, seq;
		for (unsigned i = 0; i < 8; i++)
			v |= (uint64_t)rec[1 + i] << (8 * i);
		switch ((rec[0] >> 1) & 3) {
		case 1:
			inc++;
			break;
		case 2:
			inc -= inc > 0;
			break;
		}
		switch ((rec[0] >> 3) & 3) {
		case 0:
			seq = v & 0xffff;
			break;
		case 1:
			seq = p->top - (v & 0xfff);
			break;
		case 2:
			seq = p->top + (v & 0xfff);
			break;
		default:
			seq = v;
			break;
		}

		struct wire_builder b;
		struct wire_hdr h = {.cluster_id = CLUSTER, .sender = (rec[0] & 1) ? 3 : PEER,
				     .incarnation = inc, .seq = seq};
		check(wire_begin(&b, dg, sizeof(dg), &h) == 0);
		int n = wire_finish(&b, &key, false);
		check(n == (int)WIRE_MIN_DGRAM);

		int want = 0;
		bool fresh = !p->active || inc > p->inc;
		if (!fresh && inc < p->inc) {
			want = WIRE_RC(WIRE_REJ_OLD_INCARNATION);
		} else if (!fresh && seq <= p->top) {
			if (p->top - seq >= WIRE_REPLAY_WINDOW)
				want = WIRE_RC(WIRE_REJ_REPLAY);
			for (unsigned i = 0; i < p->n && !want; i++)
				if (p->seen[i] == seq)
					want = WIRE_RC(WIRE_REJ_REPLAY);
		}
		check(wire_receive(&rx, &key, dg, (size_t)n, 0, &out, &it) == want);
		if (want)
			continue;
		check(out.seq == seq && out.incarnation == inc && out.count == 0);
		if (fresh) {
			p->active = true;
			p->inc = inc;
			p->top = 0;
			p->n = 0;
		}
		if (seq > p->top)
			p->top = seq;
		p->seen[p->n++] = seq;
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
	replay_stream(data, size);
	if (size < 2)
		return 0;
	/* Counts up to 1023 (a datagram holds fewer); the top bit picks the mode. */
	count = (uint16_t)(data[0] | (data[1] & 0x03) << 8);
	decodes = body_roundtrip(data + 2, size - 2, count);
	sealed_body(data + 2, size - 2, count, data[1] & 0x80, decodes);
	return 0;
}
