// SPDX-License-Identifier: MIT
/*
 * fuzz-wire — libFuzzer target for the datagram receive path and the
 * session handshake.
 *
 * Built and run by tests/fuzz/run.sh; by hand, from the source root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -D_GNU_SOURCE -Idaemon tests/fuzz/fuzz-wire.c daemon/wire.c daemon/auth.c \
 *         daemon/msg.c -lsodium -o fuzz-wire
 *   ./fuzz-wire -max_total_time=60 corpus-copy tests/fuzz/corpus/wire
 *
 * The random source is deterministic (fuzz-wire-setup.h), so every input
 * starts from the same sessions: node 1 hears nodes 2 and 3, and sends to 2.
 * Each input is used five ways:
 *  1. as a raw datagram (data, INIT or RESP) handed to node 1 (a forged tag
 *     must be rejected; no input may crash or read out of bounds; a seed
 *     sealed by gen-seeds under the fixed session gets past the tag);
 *  2. as a message area (after a 2-byte count) handed to wire_decode_body,
 *     the test-only entry that skips authentication; every area it accepts
 *     must re-encode to the very same bytes;
 *  3. as a message area sealed under node 2's session, so the whole of
 *     wire_receive past authentication runs on it, in both modes; it must
 *     agree with wire_decode_body;
 *  4. as a stream of sealed datagrams from two senders, whose acceptance
 *     must match a model of the replay window (replay_stream);
 *  5. as a script of handshake events between two daemons over a network
 *     that loses, repeats, corrupts and reorders, with restarts of either
 *     (handshake_ops); whatever happened, a clean exchange afterwards must
 *     set up both sessions, and a datagram accepted must name the sender's
 *     incarnation it was sent in.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-wire-setup.h"

#define SELF	FZ_SELF
#define PEER	FZ_PEER
#define CLUSTER FZ_CLUSTER

static uint8_t buf[WIRE_MAX_DGRAM + 1];
static uint8_t enc[WIRE_MAX_DGRAM];
/* The fixed start (t_*) and the copies an input works on. */
static struct wire t_self, t_peer, t_peer2;
static struct wire rx, tx, tx2;

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void fresh(void)
{
	memcpy(&rx, &t_self, sizeof(rx));
	memcpy(&tx, &t_peer, sizeof(tx));
	memcpy(&tx2, &t_peer2, sizeof(tx2));
}

static int receive(struct wire *w, uint8_t *p, size_t len, uint64_t now, struct wire_hdr *h,
		   struct wire_iter *it, uint8_t *reply, size_t *rl)
{
	return wire_receive(w, p, len, now, h, it, reply, WIRE_HS_BYTES, rl);
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
	uint8_t reply[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	size_t rl;
	unsigned n;
	int rc;

	if (size > sizeof(buf))
		return;
	memcpy(buf, data, size);
	fresh();
	rc = receive(&rx, buf, size, 0, &h, &it, reply, &rl);
	if (rc == WIRE_OK) {
		drain(&it, &n);
		check(n == h.count && rl == 0 && h.incarnation == 1);
	} else if (rc == WIRE_HANDSHAKE) {
		check(rl <= WIRE_HS_BYTES);
	} else {
		check(rc > 0 && rc <= WIRE_REJ__COUNT && rl == 0);
	}
}

/* Returns whether the area decoded; re-encodes it and compares if so. */
static bool body_roundtrip(const uint8_t *body, size_t len, unsigned count)
{
	struct wire_builder b;
	struct wire_iter it;
	struct pkv_msg m;
	unsigned n = 0;

	if (wire_decode_body(body, len, count, &it) != 0)
		return false;
	check(len + WIRE_MIN_DGRAM <= sizeof(enc) || count == 0);
	fresh();
	check(wire_begin(&b, &tx, SELF, enc, sizeof(enc), false, 0) == 0);
	while (wire_next(&it, &m)) {
		check(wire_add(&b, &m) == 0);
		n++;
	}
	check(n == count);
	check(b.len == WIRE_HDR_BYTES + len);
	check(memcmp(enc + WIRE_HDR_BYTES, body, len) == 0);
	return true;
}

/* Seals the area under node 2's session so wire_receive checks it past authentication. */
static void sealed_body(const uint8_t *body, size_t len, uint16_t count, bool encrypt, bool decodes)
{
	uint8_t reply[WIRE_HS_BYTES];
	struct wire_builder b;
	struct wire_hdr h;
	struct wire_iter it;
	uint64_t top;
	size_t rl;
	int rc, dlen;
	unsigned n;

	if (len > WIRE_MAX_DGRAM - WIRE_MIN_DGRAM)
		return;
	fresh();
	top = rx.peers[PEER].rx.top;
	check(wire_begin(&b, &tx, SELF, buf, WIRE_MAX_DGRAM, encrypt, 0) == 0);
	memcpy(buf + WIRE_HDR_BYTES, body, len);
	b.len = WIRE_HDR_BYTES + len;
	buf[WIRE_HDR_BYTES - 2] = (uint8_t)count;
	buf[WIRE_HDR_BYTES - 1] = (uint8_t)(count >> 8);
	dlen = wire_finish(&b);
	rc = receive(&rx, buf, (size_t)dlen, 0, &h, &it, reply, &rl);
	check(rc == (decodes ? 0 : WIRE_RC(WIRE_REJ_MALFORMED)));
	if (rc == 0) {
		drain(&it, &n);
		check(n == count);
		check(rx.peers[PEER].rx.top == top + 1);
		/* The same datagram again is a replay (encrypted ones were decrypted in place). */
		if (!encrypt)
			check(receive(&rx, buf, (size_t)dlen, 0, &h, &it, reply, &rl) ==
			      WIRE_RC(WIRE_REJ_REPLAY));
	} else {
		check(rx.peers[PEER].rx.top == top);
	}
}

/*
 * The replay window, against a model: the input, read as up to SEQ_MAX
 * records of 9 bytes, is a stream of empty datagrams sealed under the
 * sessions of nodes 2 and 3. Record: byte 0 bit 0 the sender, bits 3-4 how
 * the 8-byte number that follows gives the sequence (0: its low 16 bits; 1:
 * the sender's highest accepted minus its low 12 bits; 2: that plus them;
 * 3: as is). The model keeps every sequence accepted: a datagram is a
 * replay if its sequence was accepted, or is WINDOW or more below the
 * highest one.
 */
#define SEQ_MAX 64u

struct model_peer {
	uint64_t top;
	unsigned n;
	uint64_t seen[SEQ_MAX + 1];
};

static void replay_stream(const uint8_t *data, size_t size)
{
	static struct model_peer mp[2];
	static uint8_t dg[WIRE_MIN_DGRAM];
	uint8_t reply[WIRE_HS_BYTES];
	struct wire_hdr out;
	struct wire_iter it;
	size_t rl;

	fresh();
	for (int i = 0; i < 2; i++) {
		/* The sessions' confirmations were sequence 1. */
		mp[i].top = 1;
		mp[i].n = 1;
		mp[i].seen[0] = 1;
	}
	for (size_t r = 0; r < SEQ_MAX && (r + 1) * 9 <= size; r++) {
		const uint8_t *rec = data + r * 9;
		struct model_peer *p = &mp[rec[0] & 1];
		struct wire *sender = (rec[0] & 1) ? &tx2 : &tx;
		uint64_t v = 0, seq;
		for (unsigned i = 0; i < 8; i++)
			v |= (uint64_t)rec[1 + i] << (8 * i);
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
		sender->peers[SELF].tx.seq = seq - 1;
		check(wire_begin(&b, sender, SELF, dg, sizeof(dg), false, 0) == 0);
		int n = wire_finish(&b);
		check(n == (int)WIRE_MIN_DGRAM);

		int want = 0;
		if (seq <= p->top) {
			if (p->top - seq >= WIRE_REPLAY_WINDOW)
				want = WIRE_RC(WIRE_REJ_REPLAY);
			for (unsigned i = 0; i < p->n && !want; i++)
				if (p->seen[i] == seq)
					want = WIRE_RC(WIRE_REJ_REPLAY);
		}
		check(receive(&rx, dg, (size_t)n, 0, &out, &it, reply, &rl) == want);
		if (want)
			continue;
		check(out.seq == seq && out.incarnation == 1 && out.count == 0);
		if (seq > p->top)
			p->top = seq;
		p->seen[p->n++] = seq;
	}
}

/* ---- handshakes under a bad network ------------------------------------ */

#define POOL 8u

struct net {
	struct wire *node[2]; /* node 1, node 2 */
	uint64_t inc[2];      /* their incarnations now */
	uint8_t pool[POOL][WIRE_HS_BYTES];
	size_t len[POOL];
	uint8_t to[POOL];
	unsigned next;
	uint64_t t;
};

static void capture(struct net *n, unsigned to, const uint8_t *p, size_t len)
{
	unsigned i = n->next++ % POOL;
	memcpy(n->pool[i], p, len);
	n->len[i] = len;
	n->to[i] = (uint8_t)to;
}

/* Delivers p to node `to`; answers go into the pool, or (chain) are delivered too. */
static void deliver(struct net *n, unsigned to, uint8_t *p, size_t len, bool chain, int depth)
{
	uint8_t reply[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	size_t rl;
	unsigned count;
	int rc = receive(n->node[to], p, len, n->t, &h, &it, reply, &rl);

	if (rc == WIRE_OK) {
		drain(&it, &count);
		/* Only the sender's incarnation of the time can have sealed it. */
		check(h.incarnation <= n->inc[!to]);
	}
	if (rl == 0)
		return;
	if (chain && depth < 4)
		deliver(n, !to, reply, rl, true, depth + 1);
	else
		capture(n, !to, reply, rl);
}

/*
 * Node `from` sends an empty datagram to the other; true when accepted
 * there. One dropped for a stale echo (the other sent nothing for long)
 * is answered with the other's stamp: that goes back, and `from` tries
 * once more.
 */
static bool data_flows(struct net *n, unsigned from)
{
	uint8_t dg[WIRE_MIN_DGRAM], reply[WIRE_HS_BYTES], back[WIRE_HS_BYTES];
	struct wire_builder b;
	struct wire_hdr h;
	struct wire_iter it;
	size_t rl, bl;
	struct wire *f = n->node[from];
	int rc = WIRE_RC(WIRE_REJ_TOO_OLD);

	for (int attempt = 0; attempt < 2 && rc == WIRE_RC(WIRE_REJ_TOO_OLD); attempt++) {
		if (wire_begin(&b, f, n->node[!from]->self, dg, sizeof(dg), false, n->t) != 0)
			return false;
		int len = wire_finish(&b);
		rc = receive(n->node[!from], dg, (size_t)len, n->t, &h, &it, reply, &rl);
		if (rc == WIRE_RC(WIRE_REJ_TOO_OLD) && rl)
			(void)receive(f, reply, rl, n->t, &h, &it, back, &bl);
	}
	return rc == WIRE_OK && h.incarnation == n->inc[from];
}

static void restart(struct net *n, unsigned which)
{
	n->inc[which]++;
	check(fz_node(n->node[which], which ? PEER : SELF, n->inc[which]) == 0);
}

static void handshake_ops(const uint8_t *data, size_t size)
{
	static struct wire a, b;
	struct net n = {.node = {&a, &b}, .inc = {1, 1}};
	uint8_t init[WIRE_HS_BYTES];

	if (size < 1 || data[0] != 0x48) /* 'H': the inputs meant for this */
		return;
	fz_rng_ctr = (uint64_t)1 << 40; /* the same run for the same input */
	check(fz_node(&a, SELF, 1) == 0 && fz_node(&b, PEER, 1) == 0);
	for (size_t i = 1; i + 1 < size && i < 2 * 24; i += 2) {
		unsigned op = data[i] & 7, arg = data[i + 1], who = arg & 1, k = (arg >> 1) % POOL;
		uint64_t next = UINT64_MAX;
		size_t len;
		switch (op) {
		case 0: /* a handshake that is due goes into the network */
			len = wire_handshake_due(n.node[who], n.node[!who]->self, n.t, init, sizeof(init),
						 &next);
			if (len)
				capture(&n, !who, init, len);
			break;
		case 1: /* the network delivers a datagram (again, perhaps) */
		case 2:
			if (n.len[k])
				deliver(&n, n.to[k], n.pool[k], n.len[k], false, 0);
			break;
		case 3: /* ... to the wrong node */
			if (n.len[k])
				deliver(&n, !n.to[k], n.pool[k], n.len[k], false, 0);
			break;
		case 4: /* ... corrupted */
			if (n.len[k]) {
				uint8_t c[WIRE_HS_BYTES];
				memcpy(c, n.pool[k], n.len[k]);
				c[(arg >> 4) * 6 % n.len[k]] ^= (uint8_t)(1u << (arg % 8));
				deliver(&n, n.to[k], c, n.len[k], false, 0);
			}
			break;
		case 5: /* a daemon restarts */
			restart(&n, who);
			break;
		case 6: /* time passes */
			n.t += (uint64_t)(arg + 1) * 20000u;
			break;
		case 7: /* data flows, or not */
			(void)data_flows(&n, who);
			break;
		}
	}
	/* The network heals: every due handshake is delivered, answers too. */
	for (int round = 0; round < 3; round++) {
		n.t += 10 * WIRE_HS_RETRY_MAX_US;
		for (unsigned who = 0; who < 2; who++) {
			uint64_t next = UINT64_MAX;
			size_t len = wire_handshake_due(n.node[who], n.node[!who]->self, n.t, init,
							sizeof(init), &next);
			if (len)
				deliver(&n, !who, init, len, true, 0);
		}
	}
	check(data_flows(&n, 0));
	check(data_flows(&n, 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint16_t count;
	bool decodes;

	if (!ready) {
		check(fz_init() == 0);
		check(fz_pair(&t_self, &t_peer, &t_peer2) == 0);
		ready = true;
	}
	raw_datagram(data, size);
	replay_stream(data, size);
	handshake_ops(data, size);
	if (size < 2)
		return 0;
	/* Counts up to 1023 (a datagram holds fewer); the top bit picks the mode. */
	count = (uint16_t)(data[0] | (data[1] & 0x03) << 8);
	decodes = body_roundtrip(data + 2, size - 2, count);
	sealed_body(data + 2, size - 2, count, data[1] & 0x80, decodes);
	return 0;
}
