// SPDX-License-Identifier: MIT
/*
 * shm-ring.c — the ring consumer of the local-attach segment: taking
 * requests, answering them in the client slots, and the doorbell (shm.h).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "shm-seg.h"

static const char default_bucket[] = PKV_DEFAULT_BUCKET;

/* --- ring: consumer ------------------------------------------------------------ */

static void post_response(struct pkv_shm_client *c, uint32_t tag)
{
	/* seq_cst pairs with the client's `waiting = 1; load resp_tag` (Dekker). */
	__atomic_store_n(&c->resp_tag, tag, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->waiting, __ATOMIC_SEQ_CST))
		futex_wake(&c->resp_tag);
}

/* The client's current request is `ticket`: still attached, still waiting for it. */
static struct pkv_shm_client *ticket_client(struct shm_segment *seg, unsigned slot,
					    uint64_t ticket)
{
	if (slot >= PKV_SHM_CLIENTS)
		return NULL;
	struct pkv_shm_client *c = &seg->m->clients[slot];
	if (pkv_shm_load_acq(&c->state) != PKV_SHM_ATTACHED ||
	    c->attach_gen != (uint32_t)(ticket >> 32) ||
	    pkv_shm_load_acq(&c->req_tag) != (uint32_t)ticket)
		return NULL;
	return c;
}

static void refuse(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status)
{
	STAT_INC(seg, malformed);
	shm_respond(seg, slot, ticket, status, 0, NULL, 0);
}

bool shm_ring_pending(const struct shm_segment *seg)
{
	uint64_t w = pkv_shm_load_acq(&seg->m->ring[seg->head & RING_MASK].word);
	return PKV_SHM_RW_IS_FULL(w) && PKV_SHM_RW_AT(w, seg->head);
}

/*
 * Copies and checks the request of client `slot` whose ring entry carried
 * `tag`. Returns 0 (out filled), 1 (stale: skip) or a status to answer.
 */
static int take_request(struct shm_segment *seg, unsigned slot, uint32_t tag,
			struct shm_request *out)
{
	struct pkv_shm_client *c = &seg->m->clients[slot];
	if (pkv_shm_load_acq(&c->state) != PKV_SHM_ATTACHED)
		return 1;
	uint32_t t1 = pkv_shm_load_acq(&c->req_tag);
	if (t1 != tag) /* the whole tag: the ring word carries all 32 bits */
		return 1;
	uint32_t attach_gen = c->attach_gen;
	/* Snapshot the fields once: the client may rewrite them at any time. */
	uint8_t op = pkv_shm_load_rlx(&c->op);
	uint8_t flags = pkv_shm_load_rlx(&c->flags);
	uint32_t blen = pkv_shm_load_rlx(&c->bucket_len);
	uint32_t nlen = pkv_shm_load_rlx(&c->node_len);
	uint32_t klen = pkv_shm_load_rlx(&c->key_len);
	uint32_t vlen = pkv_shm_load_rlx(&c->value_len);
	uint32_t dlen = pkv_shm_load_rlx(&c->dep_len);
	uint32_t timeout = pkv_shm_load_rlx(&c->timeout_ms);
	int32_t bind_pid = pkv_shm_load_rlx(&c->bind_pid);
	uint64_t until = pkv_shm_load_rlx(&c->until);
	uint64_t total = (uint64_t)blen + nlen + klen + vlen + dlen;
	bool fits = total <= PKV_SHM_REQ_DATA;
	if (fits)
		pkv_shm_copy_out(seg->rq, c->req_data, (size_t)total);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (pkv_shm_load_rlx(&c->req_tag) != t1)
		return 1; /* the client moved on while we copied: torn */

	memset(out, 0, sizeof(*out));
	out->slot = slot;
	out->ticket = (uint64_t)attach_gen << 32 | t1;
	out->pid = c->pid;
	if (op != PKV_SHM_OP_PUT && op != PKV_SHM_OP_GET && op != PKV_SHM_OP_KEYS)
		return PKV_S_BAD_REQUEST;
	if (!fits || klen > PKV_MAX_KEY || vlen > PKV_MAX_VALUE || nlen > PKV_SHM_NAME_MAX - 1 ||
	    dlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE;
	if (op == PKV_SHM_OP_KEYS && vlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE; /* the cursor is a key */
	const uint8_t *p = seg->rq;
	out->op = op;
	out->flags = flags;
	out->timeout_ms = timeout ? timeout : PKV_SHM_DEFAULT_TIMEOUT_MS;
	out->bucket = (struct pkv_bytes){p, blen};
	p += blen;
	out->key = (struct pkv_bytes){p, klen};
	p += klen;
	out->value = (struct pkv_bytes){p, vlen};
	p += vlen;
	out->node = (struct pkv_bytes){p, nlen};
	p += nlen;
	out->dep_key = (struct pkv_bytes){p, dlen};
	if (blen == 0)
		out->bucket = (struct pkv_bytes){(const uint8_t *)default_bucket,
						 sizeof(default_bucket) - 1};
	if (flags & PKV_SHM_F_BIND_PID)
		out->bind_pid = bind_pid;
	out->until = until;
	out->has_bindings = (flags & PKV_SHM_F_BIND_PID) || nlen || dlen || until;
	return 0;
}

bool shm_ring_next(struct shm_segment *seg, struct shm_request *out)
{
	struct pkv_shm_layout *m = seg->m;
	for (;;) {
		struct pkv_shm_ring_slot *s = &m->ring[seg->head & RING_MASK];
		uint64_t w = pkv_shm_load_acq(&s->word);
		if (!PKV_SHM_RW_IS_FULL(w) || !PKV_SHM_RW_AT(w, seg->head))
			return false;
		/* Free the slot for the producer one lap ahead, then look at the entry. */
		pkv_shm_store_rel(&s->word, PKV_SHM_RW_EMPTY(seg->head + PKV_SHM_RING_SLOTS));
		seg->head++;
		pkv_shm_store_rlx(&m->hdr.head, seg->head);
		unsigned slot = PKV_SHM_RW_CLIENT(w);
		if (slot >= PKV_SHM_CLIENTS) {
			STAT_INC(seg, stale);
			continue;
		}
		int r = take_request(seg, slot, PKV_SHM_RW_TAG(w), out);
		if (r == 1) {
			STAT_INC(seg, stale);
			continue;
		}
		if (r != 0) {
			refuse(seg, out->slot, out->ticket, r);
			continue;
		}
		STAT_INC(seg, requests);
		return true;
	}
}

int shm_respond(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status, uint64_t gen,
		const void *value, uint32_t len)
{
	return shm_respond_bound(seg, slot, ticket, status, gen, value, len, 0, 0, 0, 0);
}

int shm_respond_bound(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status,
		      uint64_t gen, const void *value, uint32_t len, uint64_t until, int32_t pid,
		      uint32_t node, uint32_t rflags)
{
	struct pkv_shm_client *c = ticket_client(seg, slot, ticket);
	if (!c) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	if (len > PKV_MAX_VALUE) {
		status = PKV_S_TOO_LARGE;
		len = 0;
	}
	/* Relaxed stores: the client may be reading an earlier answer (pkv-shm.h). */
	if (len)
		pkv_shm_copy_in(c->resp_data, value, len);
	pkv_shm_store_rlx(&c->status, status);
	pkv_shm_store_rlx(&c->gen, gen);
	pkv_shm_store_rlx(&c->resp_until, until);
	pkv_shm_store_rlx(&c->resp_pid, pid);
	pkv_shm_store_rlx(&c->resp_node, node);
	pkv_shm_store_rlx(&c->resp_flags, rflags);
	pkv_shm_store_rlx(&c->resp_len, len);
	post_response(c, (uint32_t)ticket);
	STAT_INC(seg, responses);
	return 0;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);
	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

int shm_respond_keys(struct shm_segment *seg, unsigned slot, uint64_t ticket,
		     const struct pkv_bytes *keys, size_t n)
{
	struct pkv_shm_client *c = ticket_client(seg, slot, ticket);
	if (!c) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	/* The cursor is the request's value; copy it, then check the tag again. */
	uint8_t cursor[PKV_MAX_KEY];
	uint32_t blen = pkv_shm_load_rlx(&c->bucket_len);
	uint32_t klen = pkv_shm_load_rlx(&c->key_len);
	uint32_t clen = pkv_shm_load_rlx(&c->value_len);
	if (clen > sizeof(cursor) || (uint64_t)blen + klen + clen > PKV_SHM_REQ_DATA)
		clen = 0;
	pkv_shm_copy_out(cursor, c->req_data + blen + klen, clen);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (pkv_shm_load_rlx(&c->req_tag) != (uint32_t)ticket) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	size_t i = 0;
	if (clen)
		while (i < n && key_cmp(keys[i].p, keys[i].len, cursor, clen) <= 0)
			i++;
	uint32_t o = 0;
	uint32_t more = 0;
	for (; i < n; i++) {
		if (keys[i].len > PKV_MAX_KEY)
			continue;
		if (o + 2u + keys[i].len > PKV_SHM_RESP_DATA) {
			more = PKV_SHM_RF_MORE;
			break;
		}
		uint16_t l = (uint16_t)keys[i].len;
		pkv_shm_copy_in(c->resp_data + o, &l, 2);
		pkv_shm_copy_in(c->resp_data + o + 2, keys[i].p, keys[i].len);
		o += 2u + keys[i].len;
	}
	pkv_shm_store_rlx(&c->status, PKV_S_OK);
	pkv_shm_store_rlx(&c->gen, 0);
	pkv_shm_store_rlx(&c->resp_until, 0);
	pkv_shm_store_rlx(&c->resp_pid, 0);
	pkv_shm_store_rlx(&c->resp_node, 0);
	pkv_shm_store_rlx(&c->resp_flags, more);
	pkv_shm_store_rlx(&c->resp_len, o);
	post_response(c, (uint32_t)ticket);
	STAT_INC(seg, responses);
	return 0;
}

/* --- doorbell -------------------------------------------------------------- */

bool shm_sleep_begin(struct shm_segment *seg)
{
	__atomic_store_n(&seg->m->hdr.sleeping, 1, __ATOMIC_SEQ_CST);
	/* seq_cst pairs with the producer's `CAS ring word; load sleeping`. */
	uint64_t w = __atomic_load_n(&seg->m->ring[seg->head & RING_MASK].word, __ATOMIC_SEQ_CST);
	if (PKV_SHM_RW_IS_FULL(w) && PKV_SHM_RW_AT(w, seg->head)) {
		__atomic_store_n(&seg->m->hdr.sleeping, 0, __ATOMIC_SEQ_CST);
		return false;
	}
	STAT_INC(seg, doorbells);
	return true;
}

void shm_sleep_end(struct shm_segment *seg)
{
	__atomic_store_n(&seg->m->hdr.sleeping, 0, __ATOMIC_SEQ_CST);
}

void shm_doorbell_drain(struct shm_segment *seg)
{
	uint64_t v;
	while (read(seg->bell_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}
