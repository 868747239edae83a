// SPDX-License-Identifier: MIT
/*
 * shm-ring.c — the request side of local attach: taking requests out of the
 * clients' areas, answering them there, and the doorbell (shm.h). Every
 * byte of a client's area is the client's to write at any time: it is read
 * once, bounded, checked, and never trusted (include/pkv-shm.h "Requests").
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shm-seg.h"

static const char default_bucket[] = PKV_DEFAULT_BUCKET;

/* --- requests ------------------------------------------------------------------ */

static void post_response(struct shm_segment *seg, struct pkv_shm_client *c, uint32_t tag)
{
	/* seq_cst pairs with the client's `waiting = 1; load resp_tag` (Dekker). */
	__atomic_store_n(&c->resp_tag, tag, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->waiting, __ATOMIC_SEQ_CST) &&
	    !(seg->wake && seg->wake(seg->wake_ctx, &c->resp_tag) == 0))
		futex_wake(&c->resp_tag);
}

/* The client's current request is `ticket`: still attached, still waiting for it. */
static struct pkv_shm_client *ticket_client(struct shm_segment *seg, unsigned slot,
					    uint64_t ticket)
{
	if (slot >= PKV_SHM_CLIENTS)
		return NULL;
	const struct shm_slot *s = &seg->slots[slot];
	/* The slot and its generation are ours; only the tag is the client's
	 * (lying about it keeps its own answer from it, nobody else's). */
	if (!s->c || s->attach_gen != (uint32_t)(ticket >> 32) ||
	    pkv_shm_load_acq(&s->c->req_tag) != (uint32_t)ticket)
		return NULL;
	return s->c;
}

static void refuse(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status)
{
	STAT_INC(seg, malformed);
	shm_respond(seg, slot, ticket, status, 0, NULL, 0);
}

/*
 * Slot i's post word, loaded once (seq_cst: pairs with the client's
 * `store post; load sleeping`), and whether it is one the daemon has not
 * taken yet. Any value counts: the request it names is checked anyway.
 */
static bool slot_posted(const struct shm_segment *seg, unsigned i, uint32_t *post)
{
	if (!shm_slot_attached(seg, i))
		return false;
	const struct shm_slot *s = &seg->slots[i];
	*post = __atomic_load_n(&s->c->post, __ATOMIC_SEQ_CST);
	return *post != s->seen;
}

bool shm_ring_pending(const struct shm_segment *seg)
{
	if (!seg->n_attached)
		return false;
	uint32_t post;
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++)
		if (slot_posted(seg, i, &post))
			return true;
	return false;
}

/*
 * Copies and checks the request of client `slot` whose ring entry carried
 * `tag`. Returns 0 (out filled), 1 (stale: skip) or a status to answer.
 */
static int take_request(struct shm_segment *seg, unsigned slot, uint32_t tag,
			struct shm_request *out)
{
	struct shm_slot *s = &seg->slots[slot];
	struct pkv_shm_client *c = s->c;
	uint32_t t1 = pkv_shm_load_acq(&c->req_tag);
	if (t1 != tag) /* the client moved on (or is writing a newer request) */
		return 1;
	uint32_t attach_gen = s->attach_gen;
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
	out->pid = s->pid;
	s->cursor_len = 0;
	if (op != PKV_SHM_OP_PUT && op != PKV_SHM_OP_GET && op != PKV_SHM_OP_KEYS)
		return PKV_S_BAD_REQUEST;
	if (!fits || klen > PKV_MAX_KEY || vlen > PKV_MAX_VALUE || nlen > PKV_SHM_NAME_MAX - 1 ||
	    dlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE;
	if (op == PKV_SHM_OP_KEYS && vlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE; /* the cursor is a key */
	if (op == PKV_SHM_OP_KEYS) {
		/* Kept for the answer: shm_respond_keys never reads the area again. */
		memcpy(seg->cursors[slot], seg->rq + blen + klen, vlen);
		s->cursor_len = (uint16_t)vlen;
	}
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
	if (!seg->n_attached)
		return false;
	/*
	 * One lap over the slots at most, from where the last call stopped: a
	 * slot that was served goes to the back, so a client that posts as fast
	 * as it can takes one request in turn with every other one, and the
	 * caller bounds a turn's work by the number of calls.
	 */
	for (unsigned n = 0; n < PKV_SHM_CLIENTS; n++) {
		unsigned i = seg->scan;
		seg->scan = (seg->scan + 1) % PKV_SHM_CLIENTS;
		uint32_t post;
		if (!slot_posted(seg, i, &post))
			continue;
		seg->slots[i].seen = post;
		int r = take_request(seg, i, post, out);
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
	return false;
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
	post_response(seg, c, (uint32_t)ticket);
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
	/* The cursor as the request was taken (the daemon's copy, never the area's). */
	const uint8_t *cursor = seg->cursors[slot];
	uint32_t clen = seg->slots[slot].cursor_len;
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
	post_response(seg, c, (uint32_t)ticket);
	STAT_INC(seg, responses);
	return 0;
}

/* --- doorbell -------------------------------------------------------------- */

bool shm_sleep_begin(struct shm_segment *seg)
{
	__atomic_store_n(&seg->m->hdr.sleeping, 1, __ATOMIC_SEQ_CST);
	/* seq_cst pairs with the client's `store post; load sleeping`. */
	if (shm_ring_pending(seg)) {
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
	struct epoll_event ev[16];
	/*
	 * The bells are edge-triggered (shm.c): taking their events is all the
	 * draining there is, one system call for up to 16 bells, no read of
	 * each counter. A counter a client filled up (2^64 - 2) takes no more
	 * rings: that client's own requests then wait for the daemon's next
	 * turn. Bounded: a client that rings without pause keeps the epoll fd
	 * readable (the loop then turns again), never this loop spinning.
	 */
	for (unsigned round = 0; round < PKV_SHM_CLIENTS / 16; round++) {
		if (epoll_wait(seg->bell_fd, ev, 16, 0) < 16)
			break;
	}
}
