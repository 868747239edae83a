// SPDX-License-Identifier: MIT
/*
 * fuzz-ring — libFuzzer target for the request path: everything the daemon
 * reads from a client's area (its own memfd), which that client can fill
 * with whatever it likes at any time.
 *
 * Built and run by tests/fuzz/run.sh; by hand, from the source root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -D_GNU_SOURCE -Idaemon -Iinclude tests/fuzz/fuzz-ring.c \
 *         daemon/ringreq.c daemon/shm.c daemon/shm-ring.c daemon/shm-cache.c \
 *         daemon/config.c -o fuzz-ring
 *   ./fuzz-ring -max_total_time=60 corpus-copy tests/fuzz/corpus/ring
 *
 * Input (little-endian), the client slot's request fields, then its data:
 *
 *   0 op  1 flags  2 bucket_len  3 node_len  4 key_len:u32  8 value_len:u32
 *   12 dep_len:u32  16 timeout_ms:u32  20 bind_pid:i32  24 until:u64
 *   32 post: bits 0-1 what the post word says (0: this request's tag,
 *      1: a tag that is not req_tag (stale), 2 and 3: nothing posted)
 *   33 keys scribble: value_len:u32, bucket_len:u8, key_len:u32 written over
 *      the area after the daemon took the request, before it answers keys
 *   42 request data (bucket, key, value, node, dependency key back to back)
 *
 * Each input is used twice:
 *  1. through the real consumer: a segment made by shm_create, one attached
 *     client whose area is written as a client would, its post word set,
 *     then shm_ring_next. It must take, skip (stale) or refuse exactly the
 *     requests it should, and take a post once; a request it takes must
 *     point into the daemon's private copy, not the client's area, and must
 *     not change when the client rewrites its area afterwards (no second
 *     fetch); then ringreq_decode and the answer (shm_respond /
 *     shm_respond_keys, which answers from the cursor copied at take, the
 *     area's lengths scribbled meanwhile) run on it.
 *  2. directly through ringreq_decode, with lengths shm_ring_next never
 *     produces (empty bucket, long node names, any op).
 * Every accepted request is checked against what ringreq.h promises.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ringreq.h"
#include "shm.h"

#define HDR 42u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct shm_segment *seg;
static struct pkv_shm_layout *m;
static unsigned slot;
static uint32_t tag_counter;
static struct pkv_config cfg;
/* Room for the longest part at its offset in direct_decode: a read past a limit shows. */
static uint8_t area[PKV_SHM_REQ_DATA];

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void setup(void)
{
	static const char text[] = "self = node1\n"
				   "node node1 127.0.0.1:7401\n"
				   "node node2 127.0.0.1:7402\n"
				   "node node-3.x 127.0.0.1:7403\n";
	char err[128];
	check(config_parse(&cfg, text, sizeof(text) - 1, err, sizeof(err)) == 0);
	check(shm_create(&seg, 1, getpid()) == 0);
	m = shm_layout(seg);
	int s = shm_attach_client(seg, getpid(), getuid());
	check(s >= 0 && (unsigned)s + 1 < PKV_SHM_CLIENTS);
	slot = (unsigned)s;
}

static unsigned touch(struct pkv_bytes b)
{
	unsigned sum = 0;
	for (uint32_t i = 0; i < b.len; i++)
		sum += b.p[i];
	return sum;
}

/* What ringreq.h promises of a request it accepts, or of a refusal. */
static void check_decoded(const struct shm_request *rq, int s, const struct ringreq *q)
{
	if (s != PKV_S_OK) {
		static const struct ringreq zero;
		check(s == PKV_S_BAD_REQUEST || s == PKV_S_TOO_LARGE || s == PKV_S_INVALID_VALUE);
		check(memcmp(q, &zero, sizeof(zero)) == 0);
		return;
	}
	check(q->op == rq->op);
	check(q->timeout_ms != 0);
	check(q->bucket.len >= 1 && q->bucket.len <= PKV_MAX_BUCKET);
	switch (q->op) {
	case PKV_SHM_OP_PUT:
		check(q->key.len >= 1 && q->key.len <= PKV_MAX_KEY);
		check(q->value.len <= PKV_MAX_VALUE);
		break;
	case PKV_SHM_OP_GET:
		check(q->key.len >= 1 && q->key.len <= PKV_MAX_KEY);
		check(q->value.len == 0 && !q->bound);
		break;
	case PKV_SHM_OP_KEYS:
		check(q->key.len == 0 && q->value.len <= PKV_MAX_KEY && !q->bound && !q->retry);
		break;
	default:
		check(false);
	}
	check(q->bound == (q->bind.mask != 0));
	check((q->bind.mask & ~(uint32_t)PKV_BIND_ALL) == 0);
	if (q->bind.mask & PKV_BIND_PID)
		check((q->bind.pid > 0 || q->bind.pid == PKV_SHM_PID_SELF) &&
		      q->bind.start_time == 0);
	if (q->bind.mask & PKV_BIND_NODE) {
		check(q->bind.node >= 1 && q->bind.node <= cfg.n_nodes);
		const char *name = cfg.nodes[q->bind.node - 1].name;
		check(rq->node.len == strlen(name) && memcmp(rq->node.p, name, rq->node.len) == 0);
	} else {
		check(rq->node.len == 0);
	}
	if (q->bind.mask & PKV_BIND_KEY)
		check(q->bind.key.len >= 1 && q->bind.key.len <= PKV_MAX_KEY &&
		      !(q->bind.key.len == q->key.len &&
			memcmp(q->bind.key.p, q->key.p, q->key.len) == 0));
	(void)(touch(q->bucket) + touch(q->key) + touch(q->value) + touch(q->bind.key));
}

static bool in_segment(struct pkv_bytes b)
{
	const uint8_t *lo = (const uint8_t *)m, *hi = lo + sizeof(*m);
	const uint8_t *alo = (const uint8_t *)shm_client_area(seg, slot);
	const uint8_t *ahi = alo + sizeof(struct pkv_shm_client);
	return b.len && ((b.p >= lo && b.p < hi) || (b.p >= alo && b.p < ahi));
}

/* Writes the request into the client's area as libclient's ring_write_request does. */
static uint32_t client_write(const uint8_t *h, const uint8_t *d, size_t n)
{
	struct pkv_shm_client *c = shm_client_area(seg, slot);
	uint32_t tag = ++tag_counter;
	if (tag == 0)
		tag = ++tag_counter;
	pkv_shm_store_rlx(&c->req_tag, tag);
	c->op = h[0];
	c->flags = h[1];
	c->bucket_len = h[2];
	c->node_len = h[3];
	c->key_len = rd32(h + 4);
	c->value_len = rd32(h + 8);
	c->dep_len = rd32(h + 12);
	c->timeout_ms = rd32(h + 16);
	c->bind_pid = (int32_t)rd32(h + 20);
	c->until = rd64(h + 24);
	uint64_t total = (uint64_t)h[2] + h[3] + c->key_len + c->value_len + c->dep_len;
	if (n > PKV_SHM_REQ_DATA)
		n = PKV_SHM_REQ_DATA;
	memcpy(c->req_data, d, n);
	/* What the input does not cover reads as zeros, so each run is deterministic. */
	if (total > n)
		memset(c->req_data + n, 0, (size_t)(total < PKV_SHM_REQ_DATA ? total : PKV_SHM_REQ_DATA) - n);
	return tag;
}

/* The status shm_ring_next must refuse the request with, or 0 to take it. */
static int expected_refusal(const uint8_t *h)
{
	uint8_t op = h[0];
	uint64_t k = rd32(h + 4), v = rd32(h + 8), dep = rd32(h + 12);
	if (op != PKV_SHM_OP_PUT && op != PKV_SHM_OP_GET && op != PKV_SHM_OP_KEYS)
		return PKV_S_BAD_REQUEST;
	if (h[2] + h[3] + k + v + dep > PKV_SHM_REQ_DATA || k > PKV_MAX_KEY ||
	    v > PKV_MAX_VALUE || h[3] > PKV_SHM_NAME_MAX - 1 || dep > PKV_MAX_KEY ||
	    (op == PKV_SHM_OP_KEYS && v > PKV_MAX_KEY))
		return PKV_S_TOO_LARGE;
	return 0;
}

/* Checks that b holds the bytes the client wrote at offset off (zeros past the input). */
static void check_copied(struct pkv_bytes b, const uint8_t *d, size_t n, size_t off)
{
	for (uint32_t i = 0; i < b.len; i++)
		check(b.p[i] == (off + i < n ? d[off + i] : 0));
}

static void serve(const uint8_t *h, const uint8_t *d, size_t n, struct shm_request *rq,
		  uint32_t tag)
{
	struct pkv_shm_client *c = shm_client_area(seg, slot);
	uint64_t ticket = rq->ticket;
	uint32_t blen = h[2], klen = rd32(h + 4), vlen = rd32(h + 8), nlen = h[3];

	check(rq->slot == slot && (uint32_t)rq->ticket == tag && rq->op == h[0] &&
	      rq->flags == h[1]);
	check(rq->timeout_ms == (rd32(h + 16) ? rd32(h + 16) : PKV_SHM_DEFAULT_TIMEOUT_MS));
	/* Every string is the daemon's own copy, or the built-in default bucket. */
	check(!in_segment(rq->bucket) && !in_segment(rq->key) && !in_segment(rq->value) &&
	      !in_segment(rq->node) && !in_segment(rq->dep_key));
	check(rq->key.len == klen && rq->value.len == vlen && rq->node.len == nlen);
	if (blen)
		check_copied(rq->bucket, d, n, 0);
	else
		check(rq->bucket.len == strlen(PKV_DEFAULT_BUCKET) &&
		      memcmp(rq->bucket.p, PKV_DEFAULT_BUCKET, rq->bucket.len) == 0);

	/* The client rewrites its whole area now; the daemon's copy must not move. */
	memset(c->req_data, 0xee, PKV_SHM_REQ_DATA);
	c->key_len = c->value_len = c->dep_len = UINT32_MAX;
	c->bucket_len = c->node_len = 0xff;
	c->op = 0xff;
	check_copied(rq->key, d, n, blen);
	check_copied(rq->value, d, n, (size_t)blen + klen);
	check_copied(rq->node, d, n, (size_t)blen + klen + vlen);
	check_copied(rq->dep_key, d, n, (size_t)blen + klen + vlen + nlen);

	struct ringreq q;
	int s = ringreq_decode(rq, &cfg, &q);
	check_decoded(rq, s, &q);
#ifdef FUZZ_RING_TRACE /* -DFUZZ_RING_TRACE: what each input decodes to, to check seeds */
	fprintf(stderr, "ring: op %u decoded to status %d, bindings 0x%x\n", rq->op, s, q.bind.mask);
#endif
	if (s != PKV_S_OK) {
		check(shm_respond(seg, slot, ticket, s, 0, NULL, 0) == 0);
		check(pkv_shm_load_acq(&c->resp_tag) == tag && c->status == s);
		return;
	}
	if (q.op != PKV_SHM_OP_KEYS) {
		/* Answer with the value itself, as a chosen put would. */
		check(shm_respond(seg, slot, ticket, PKV_S_OK, 1, q.value.p, q.value.len) == 0);
		check(c->resp_len == q.value.len &&
		      memcmp(c->resp_data, q.value.p, q.value.len) == 0);
		return;
	}
	/*
	 * keys: the client scribbles new lengths over its area first;
	 * shm_respond_keys must answer from the cursor it copied at take.
	 */
	c->value_len = rd32(h + 33);
	c->bucket_len = h[37];
	c->key_len = rd32(h + 38);
	static const struct pkv_bytes keys[] = {
		{(const uint8_t *)"a", 1}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"zz", 2}};
	check(shm_respond_keys(seg, slot, ticket, keys, 3) == 0);
	check(pkv_shm_load_acq(&c->resp_tag) == tag && c->resp_len <= 3 * 2 + 4);
}

static void through_ring(const uint8_t *h, const uint8_t *d, size_t n)
{
	struct pkv_shm_client *c = shm_client_area(seg, slot);
	struct pkv_shm_stats before = *shm_stats(seg);
	uint32_t tag = client_write(h, d, n);
	unsigned mode = h[32] & 3u;
	if (mode == 0)
		pkv_shm_store_rel(&c->post, tag);
	else if (mode == 1)
		pkv_shm_store_rel(&c->post, tag ^ 0x8000u);

	struct shm_request rq;
	bool took = shm_ring_next(seg, &rq);
	const struct pkv_shm_stats *after = shm_stats(seg);
	struct shm_request again;
	check(!shm_ring_next(seg, &again)); /* a post is taken once, whatever it held */
	if (mode != 0) {
#ifdef FUZZ_RING_TRACE
		fprintf(stderr, "ring: mode %u, not taken\n", mode);
#endif
		check(!took && after->stale == before.stale + (mode == 1));
		check(after->malformed == before.malformed);
		return;
	}
	int want = expected_refusal(h);
#ifdef FUZZ_RING_TRACE
	fprintf(stderr, "ring: mode %u, took %d, refusal %d\n", mode, took, want);
#endif
	if (want) {
		check(!took && after->malformed == before.malformed + 1);
		check(pkv_shm_load_acq(&c->resp_tag) == tag && c->status == want);
		return;
	}
	check(took && after->requests == before.requests + 1);
	serve(h, d, n, &rq, tag);
}

/* ringreq_decode on lengths and ops the ring consumer would not produce. */
static void direct_decode(const uint8_t *h, const uint8_t *d, size_t n)
{
	memset(area, 0, sizeof(area));
	memcpy(area, d, n < sizeof(area) ? n : sizeof(area));
	/* Parts at fixed offsets with room for the longest accepted one each. */
	struct shm_request rq = {
		.op = h[0],
		.flags = h[1],
		.timeout_ms = rd32(h + 16),
		.bucket = {area, h[2]},
		.key = {area + 256, rd32(h + 4)},
		.value = {area + 256 + PKV_MAX_KEY, rd32(h + 8)},
		.node = {area + 64, h[3]},
		.dep_key = {area + 256 + PKV_MAX_KEY + 2048, rd32(h + 12)},
		.bind_pid = (int32_t)rd32(h + 20),
		.until = rd64(h + 24),
	};
	_Static_assert(256 + PKV_MAX_KEY + PKV_MAX_VALUE <= sizeof(area), "room for the value");
	/* The dependency key overlaps the value: it is only read when <= PKV_MAX_KEY. */
	rq.has_bindings = (rq.flags & PKV_SHM_F_BIND_PID) || rq.node.len || rq.dep_key.len ||
			  rq.until;
	struct ringreq q;
	check_decoded(&rq, ringreq_decode(&rq, &cfg, &q), &q);
	/* Without a configuration no node binding can be accepted. */
	int s = ringreq_decode(&rq, NULL, &q);
	check_decoded(&rq, s, &q);
	check(s != PKV_S_OK || !(q.bind.mask & PKV_BIND_NODE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!seg)
		setup();
	if (size < HDR)
		return 0;
	const uint8_t *d = data + HDR;
	size_t n = size - HDR;

	through_ring(data, d, n);
	direct_decode(data, d, n);
	return 0;
}
