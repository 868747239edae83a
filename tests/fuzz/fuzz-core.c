// SPDX-License-Identifier: MIT
/*
 * fuzz-core — libFuzzer target for the Paxos core itself: decoded messages,
 * as the wire hands them over, from fuzzer-chosen peers, interleaved with
 * time passing, membership changes and local requests.
 *
 * Built and run by tests/fuzz/run.sh; by hand, from the source root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -D_GNU_SOURCE -Idaemon -Iinclude tests/fuzz/fuzz-core.c daemon/paxos*.c \
 *         daemon/store.c daemon/msg.c -o fuzz-core
 *   ./fuzz-core -max_total_time=60 corpus-copy tests/fuzz/corpus/core
 *
 * An input is a script (the byte layout is in the `OP_*` list below): the
 * first two bytes pick the cluster (3-5 nodes, this core restarted or not),
 * then each step is an opcode and its operands. A message's fields come from
 * small tables of values that matter (generations 0, 1, 2, 2^62, 2^64-1;
 * cursors at and past the ends; our own request ids) or raw bytes, and a
 * step may repeat one message up to 1,024 times at one instant: a datagram
 * full of it. After every step the outputs are drained as the loop drains
 * them, and these are checked:
 *  - what the core queued in answer to one peer's KEYS_REQ and SYNC_REQ,
 *    over the whole run, stays within that peer's answer budget (burst +
 *    rate × elapsed time + one answer): no input makes work per datagram
 *    grow with the store or with the number of requests;
 *  - one KEYS_REQ gets at most one page;
 *  - the store never holds more keys than its limit, and requests in flight
 *    stay below what the script created locally plus PAXOS_FORWARDS_PER_PEER
 *    per peer;
 *  - no crash, no sanitizer report, no leak (libFuzzer's checks).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "paxos.h"

#define MAX_KEYS 512u
#define RATE (32u << 20) /* the paxos_config defaults, set explicitly */
#define BURST (512u << 10)
#define SYNC_PAGE 8u
#define MSG_BYTES 64u /* paxos.c's BUDGET_MSG_BYTES */

enum {
	OP_MSG,	    /* from, message: one message */
	OP_FLOOD,   /* from, count byte (x4), message: a datagram full of it */
	OP_TIME,    /* byte: advance (byte² × 100 µs), then tick */
	OP_PEER,    /* node, byte: connected bit, synced / fresh flags */
	OP_RESTART, /* node: the peer restarted (new incarnation) */
	OP_LOCAL,   /* kind, key: a local put, get, keys or drop */
	OP__COUNT
};

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

static struct pkv_bytes raw(struct in *in, size_t len)
{
	if (len > in->n)
		len = in->n;
	struct pkv_bytes b = { .p = len ? in->p : NULL, .len = (uint32_t)len };
	in->p += len;
	in->n -= len;
	return b;
}

static struct pkv_bytes str(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

static const char *const buckets[] = { "B", "C", PKV_DEFAULT_BUCKET };
static const char *const keys[] = { "a", "b", "c", "d", "e", "f", "g", "h" };

static struct pkv_bytes pick_bucket(struct in *in)
{
	uint8_t c = u8(in);
	if (c < 0xf0)
		return str(buckets[c % 3]);
	return raw(in, u8(in) & 0x0f); /* empty or odd names too */
}

static struct pkv_bytes pick_key(struct in *in)
{
	uint8_t c = u8(in);
	if (c < 0xc0)
		return str(keys[c % 8]);
	if (c < 0xf0) {
		/* Many distinct keys: the store fills up to its limit. */
		static char k[16][8];
		char *s = k[c & 15];
		s[0] = 'k';
		s[1] = (char)('a' + (u8(in) & 15));
		s[2] = (char)('a' + (u8(in) & 15));
		s[3] = (char)('a' + (c & 15));
		s[4] = 0;
		return str(s);
	}
	return raw(in, u8(in) & 0x1f);
}

static uint64_t pick_u64(struct in *in, uint64_t last_rid)
{
	static const uint64_t vals[] = { 0, 1, 2, 3, 32, 64, 255, 256, 4096, PAXOS_MAX_GEN,
					 PAXOS_MAX_GEN + 1, UINT64_MAX - 1, UINT64_MAX };
	uint8_t c = u8(in);
	if (c < 13)
		return vals[c];
	if (c < 0x40)
		return last_rid + (c & 3); /* replies that find a request */
	if (c < 0x80)
		return c & 0x3f;
	return u64(in);
}

struct fx {
	struct store *s;
	struct pkv_outbox ob;
	struct paxos *p;
	uint32_t n;
	uint64_t now, t0;
	uint64_t last_rid; /* a request id the core sent lately */
	uint64_t answered[PKV_MAX_NODES + 1]; /* KEYS_REPLY + SYNC_REPLY bytes per peer */
	uint64_t largest[PKV_MAX_NODES + 1];  /* the largest of those replies */
	uint64_t local_reqs;
};

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static uint64_t msg_bytes(const struct pkv_msg *m)
{
	return MSG_BYTES + m->bucket.len + m->key.len + m->value.len;
}

/* The loop's end of turn: outputs drained, invariants checked. */
static void drain(struct fx *f)
{
	for (size_t i = 0; i < f->ob.n; i++) {
		const struct pkv_out *o = &f->ob.v[i];
		if (o->msg.req)
			f->last_rid = o->msg.req;
		if ((o->msg.type == PKV_MSG_KEYS_REPLY || o->msg.type == PKV_MSG_SYNC_REPLY) &&
		    o->to >= 1 && o->to <= PKV_MAX_NODES) {
			uint64_t b = msg_bytes(&o->msg);
			f->answered[o->to] += b;
			if (b > f->largest[o->to])
				f->largest[o->to] = b;
		}
	}
	/*
	 * The budget: what was queued for a peer's listings and syncs is paid
	 * for at RATE after a BURST, give or take the answer that spent it (a
	 * page of KEYS_REPLY, or two records per entry of a SYNC page, none
	 * larger than the largest reply seen).
	 */
	uint64_t page = PAXOS_KEYS_PAGE_MAX > 2 * SYNC_PAGE ? PAXOS_KEYS_PAGE_MAX : 2 * SYNC_PAGE;
	for (uint32_t n = 1; n <= f->n; n++)
		check(f->answered[n] <= BURST + RATE * (f->now - f->t0) / 1000000u +
						2 * page * f->largest[n]);
	check(store_nentries(f->s) <= MAX_KEYS + f->local_reqs);
	/* A local put may start a get of the key it is bound to: two each. */
	check(paxos_stats(f->p)->requests_in_flight <=
	      2 * f->local_reqs + f->n * PAXOS_FORWARDS_PER_PEER);
	pkv_outbox_reset(&f->ob);
	paxos_completions_reset(f->p);
	paxos_events_reset(f->p);
	paxos_learned_reset(f->p);
	paxos_watches_reset(f->p);
	paxos_erased_reset(f->p);
	store_dirty_reset(f->s);
}

static void read_msg(struct fx *f, struct in *in, struct pkv_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = (uint8_t)(u8(in) % (PKV_MSG__COUNT + 1));
	m->flags = u8(in);
	m->req = pick_u64(in, f->last_rid);
	m->gen = pick_u64(in, f->last_rid);
	m->ballot = (struct pkv_ballot){ .round = pick_u64(in, 0), .node = u8(in) % (f->n + 2) };
	m->accepted = (struct pkv_ballot){ .round = pick_u64(in, 0), .node = u8(in) % (f->n + 2) };
	m->arg0 = pick_u64(in, f->last_rid);
	m->arg1 = pick_u64(in, f->last_rid);
	m->arg2 = pick_u64(in, f->last_rid);
	m->bucket = pick_bucket(in);
	m->key = pick_key(in);
	uint8_t vl = u8(in);
	m->value = raw(in, vl < 0xf0 ? vl : (size_t)vl << 8);
}

static void one_input(struct fx *f, struct in *in)
{
	while (in->n) {
		uint8_t op = u8(in) % OP__COUNT;
		uint32_t node = u8(in) % f->n + 1;
		struct pkv_msg m;
		switch (op) {
		case OP_MSG:
			read_msg(f, in, &m);
			paxos_receive(f->p, node, &m, f->now);
			break;
		case OP_FLOOD: {
			unsigned k = 4u * u8(in) + 1;
			read_msg(f, in, &m);
			for (unsigned i = 0; i < k; i++) {
				m.req += 1;
				paxos_receive(f->p, node, &m, f->now);
			}
			break;
		}
		case OP_TIME: {
			uint64_t d = u8(in);
			f->now += d * d * 100;
			paxos_tick(f->p, f->now);
			break;
		}
		case OP_PEER: {
			uint8_t b = u8(in);
			paxos_peer_update(f->p, node, b & 1, (b >> 1) & (PKV_MF_SYNCED | PKV_MF_FRESH),
					  b >> 6, f->now);
			break;
		}
		case OP_RESTART:
			paxos_peer_restarted(f->p, node, f->now);
			paxos_peer_incarnation(f->p, node, f->now, f->now);
			break;
		default: {
			uint8_t kind = u8(in);
			struct pkv_bytes bucket = pick_bucket(in), key = pick_key(in);
			uint64_t id = ++f->local_reqs, dl = f->now + 1000u * (1u + u8(in));
			switch (kind & 3) {
			case 0:
				paxos_put(f->p, id, bucket, key, str("v"), dl, kind & 4, f->now);
				break;
			case 1:
				paxos_get(f->p, id, bucket, key, dl, kind & 4, f->now);
				break;
			case 2:
				paxos_keys(f->p, id, bucket, dl, f->now);
				break;
			default:
				paxos_bucket_drop(f->p, id, bucket, dl, f->now);
				break;
			}
			break;
		}
		}
		drain(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { .p = data, .n = size };
	struct fx f = { .now = 1000000 };
	f.t0 = f.now;
	f.n = 3 + u8(&in) % 3;
	uint8_t mode = u8(&in);
	struct paxos_config c = {
		.self = 1,
		.n_nodes = f.n,
		.cluster_size = f.n,
		.restarted = mode & 1,
		.fresh = (mode & 3) == 2,
		.seed = mode,
		.retransmit_us = 1000,
		.backoff_max_us = 1000,
		.epoch_grace_us = 100000,
		.ballot_life_us = 5000,
		.start_us = f.now,
		.sync_page = SYNC_PAGE,
		.keys_page = 4,
		.no_fast_put = mode & 4,
		.peer_rate_bytes = RATE,
		.peer_burst_bytes = BURST,
		.incarnation = 7,
	};
	for (uint32_t i = 0; i < f.n; i++)
		c.nodes[i] = i + 1;
	f.s = store_new();
	check(f.s != NULL);
	store_set_max_entries(f.s, MAX_KEYS);
	pkv_outbox_init(&f.ob);
	f.p = paxos_new(&c, f.s, &f.ob);
	check(f.p != NULL);
	paxos_set_wall(f.p, 1700000000000ull, f.now);
	for (uint32_t i = 2; i <= f.n; i++)
		if (mode & 8)
			paxos_peer_update(f.p, i, true, PKV_MF_SYNCED, 0, f.now);
	drain(&f);
	one_input(&f, &in);
	paxos_free(f.p);
	store_free(f.s);
	pkv_outbox_free(&f.ob);
	return 0;
}
