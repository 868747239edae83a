// SPDX-License-Identifier: MIT
/*
 * lock.c — the lock that waits (pkv_lock; docs/design.md §8.5): a recipe
 * on the store's own calls. A waiter queues on its daemon (a
 * PKV_WATCH_QUEUE watch, which hands it a ticket), registers cluster-wide
 * with a waiter key bound to itself, learns the other waiters of the lock
 * through a watch of their bucket, and puts the lock key only when it is
 * free and no older waiter is known — or when the older ones let it stay
 * free too long. The put decides, as every put does: an order the waiters
 * get wrong costs fairness, never safety.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "pkv-ctl.h"

#include "paxoskv.h"

/*
 * How long each older waiter may leave a free lock untaken before a younger
 * one puts anyway: a waiter with n older waiters known puts once the key
 * has been free for n times this (docs/design.md §8.5, "Liveness").
 */
#define LOCK_STALL_MS 2000u

/*
 * The waiters' bucket: this prefix, then the lock's bucket name (not a
 * name of the daemons' own, whose first byte is NUL: those are never
 * erased); or, for a bucket name too long for that, the second prefix and
 * 16 hex digits of its hash.
 */
#define LOCK_QUEUE_PREFIX     "lockq\0"
#define LOCK_QUEUE_PREFIX_LEN (sizeof(LOCK_QUEUE_PREFIX) - 1)
#define LOCK_QUEUE_HASHED     "lockq#"

/* A waiter key: the lock's id, then ticket, node, incarnation (big-endian)
 * and one byte saying whether the id is the lock key or its hash. */
#define WAITER_SUFFIX	 (8u + 4u + 8u + 1u)
#define LOCK_ID_HASHED	 1u
#define LOCK_ID_HASH_LEN 16u

/* A waiter's place in the cluster-wide order: ticket, then node, then
 * incarnation (struct ctl_watch_ticket). */
struct waiter_id {
	uint64_t ticket;
	uint32_t node;
	uint64_t incarnation;
};

struct older_waiter {
	struct waiter_id id;
	uint64_t gen;
};

struct lock_queue {
	uint8_t bucket[PKV_BUCKET_MAX];
	size_t bucket_len;
	uint8_t lock_id[PKV_KEY_MAX];
	size_t id_len;
	uint8_t form; /* 0: lock_id is the lock key; LOCK_ID_HASHED */
	struct waiter_id me;
	uint8_t key[PKV_KEY_MAX]; /* our waiter key */
	size_t key_len;
	/* The live waiters older than us that we know of. */
	struct older_waiter *older;
	size_t n_older, cap_older;
};

static uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8u * (n - 1u - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int id_cmp(const struct waiter_id *a, const struct waiter_id *b)
{
	if (a->ticket != b->ticket)
		return a->ticket < b->ticket ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	if (a->incarnation != b->incarnation)
		return a->incarnation < b->incarnation ? -1 : 1;
	return 0;
}

/*
 * The names: the waiters' bucket from the lock's bucket, the lock's id
 * from its key (hashed when the key leaves no room for the suffix; a
 * collision of two such hashes would only merge two locks' queues, which
 * costs fairness, never safety), and our waiter key.
 */
static void queue_names(struct lock_queue *q, const void *bucket, size_t bucket_len,
			const void *key, size_t key_len)
{
	if (!bucket) {
		bucket = PKV_BUCKET_DEFAULT;
		bucket_len = sizeof(PKV_BUCKET_DEFAULT) - 1;
	}
	if (LOCK_QUEUE_PREFIX_LEN + bucket_len <= PKV_BUCKET_MAX) {
		memcpy(q->bucket, LOCK_QUEUE_PREFIX, LOCK_QUEUE_PREFIX_LEN);
		memcpy(q->bucket + LOCK_QUEUE_PREFIX_LEN, bucket, bucket_len);
		q->bucket_len = LOCK_QUEUE_PREFIX_LEN + bucket_len;
	} else {
		static const char hex[] = "0123456789abcdef";
		uint64_t h = fnv1a64(0xcbf29ce484222325ull, bucket, bucket_len);
		memcpy(q->bucket, LOCK_QUEUE_HASHED, LOCK_QUEUE_PREFIX_LEN);
		for (unsigned i = 0; i < 16; i++)
			q->bucket[LOCK_QUEUE_PREFIX_LEN + i] =
			    (uint8_t)hex[(h >> (60 - 4 * i)) & 15];
		q->bucket_len = LOCK_QUEUE_PREFIX_LEN + 16;
	}
	if (key_len + WAITER_SUFFIX <= PKV_KEY_MAX) {
		memcpy(q->lock_id, key, key_len);
		q->id_len = key_len;
		q->form = 0;
	} else {
		put_be(q->lock_id, fnv1a64(0xcbf29ce484222325ull, key, key_len), 8);
		put_be(q->lock_id + 8, fnv1a64(0x6c62272e07bb0142ull, key, key_len), 8);
		q->id_len = LOCK_ID_HASH_LEN;
		q->form = LOCK_ID_HASHED;
	}
	uint8_t *p = q->key;
	memcpy(p, q->lock_id, q->id_len);
	p += q->id_len;
	put_be(p, q->me.ticket, 8);
	put_be(p + 8, q->me.node, 4);
	put_be(p + 12, q->me.incarnation, 8);
	p[20] = q->form;
	q->key_len = q->id_len + WAITER_SUFFIX;
}

/* A key of the waiters' bucket that names a waiter of our lock: its id. */
static bool waiter_of_ours(const struct lock_queue *q, const void *key, size_t len,
			   struct waiter_id *id)
{
	const uint8_t *k = key;
	if (len != q->id_len + WAITER_SUFFIX || k[len - 1] != q->form ||
	    memcmp(k, q->lock_id, q->id_len) != 0)
		return false;
	k += q->id_len;
	id->ticket = get_be(k, 8);
	id->node = (uint32_t)get_be(k + 8, 4);
	id->incarnation = get_be(k + 12, 8);
	return true;
}

static void older_add(struct lock_queue *q, const struct waiter_id *id, uint64_t gen)
{
	if (id_cmp(id, &q->me) >= 0)
		return; /* younger waiters never hold us back */
	for (size_t i = 0; i < q->n_older; i++) {
		if (id_cmp(&q->older[i].id, id) == 0) {
			if (gen > q->older[i].gen)
				q->older[i].gen = gen;
			return;
		}
	}
	if (q->n_older == q->cap_older) {
		size_t cap = q->cap_older ? q->cap_older * 2 : 8;
		struct older_waiter *o = realloc(q->older, cap * sizeof(*o));
		if (!o)
			return; /* one waiter unknown: fairness, not safety */
		q->older = o;
		q->cap_older = cap;
	}
	q->older[q->n_older++] = (struct older_waiter){*id, gen};
}

static void older_end(struct lock_queue *q, const struct waiter_id *id, uint64_t through)
{
	for (size_t i = 0; i < q->n_older; i++) {
		if (id_cmp(&q->older[i].id, id) == 0 && q->older[i].gen <= through) {
			q->older[i] = q->older[--q->n_older];
			return;
		}
	}
}

/* An event of the waiters' bucket. */
static void queue_event(struct lock_queue *q, const struct pkv_watch_event *ev)
{
	struct waiter_id id;
	if (!waiter_of_ours(q, ev->key, ev->key_len, &id))
		return;
	if (ev->kind == PKV_WATCH_CHOSEN)
		older_add(q, &id, ev->gen);
	else
		older_end(q, &id, ev->gen);
}

/*
 * The waiters registered before us whose keys our daemon has not learned
 * (a learner that missed a CHOSEN): the listing asks the acceptors, and a
 * get of each older one learns it. Best effort: what it misses costs
 * fairness only.
 */
static void queue_catch_up(struct pkv_client *c, struct lock_queue *q)
{
	struct pkv_keys *it;
	if (pkv_keys(c, q->bucket, q->bucket_len, &it) != PKV_OK)
		return;
	struct pkv_get_opts go = {.bucket = q->bucket, .bucket_len = q->bucket_len};
	struct pkv_value v = PKV_VALUE_INIT;
	const void *k;
	size_t kl;
	while (pkv_keys_next(it, &k, &kl) == 1) {
		struct waiter_id id;
		if (waiter_of_ours(q, k, kl, &id) && id_cmp(&id, &q->me) < 0 &&
		    pkv_get(c, k, kl, &go, &v) == PKV_OK)
			older_add(q, &id, v.gen);
	}
	pkv_value_free(&v);
	pkv_keys_free(it);
}

/* The chosen value is ours: the same bytes (each waiter its own value). */
static bool is_ours(const struct pkv_value *v, const void *value, size_t len)
{
	return v->len == len && (len == 0 || !memcmp(v->data, value, len));
}

static bool retryable(int r)
{
	return r == PKV_NO_QUORUM || r == PKV_TIMEOUT || r == PKV_UNAVAILABLE;
}

/* One call's timeout: what is left to the deadline, 5 s at most, so that a
 * call lost in a stall is made again. */
static uint32_t call_timeout(uint64_t deadline, uint64_t now)
{
	uint64_t left = deadline - now;
	return left < 5000 ? (uint32_t)left : 5000;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000 * 1000};
	nanosleep(&ts, NULL);
}

/* Our waiter key, bound to us, in the waiters' bucket. */
static int queue_register(struct pkv_client *c, struct lock_queue *q, const void *value,
			  size_t value_len, uint64_t deadline, uint64_t *gen)
{
	struct pkv_put_opts po = {
	    .bucket = q->bucket, .bucket_len = q->bucket_len, .pid = PKV_PID_SELF};
	struct pkv_value got = PKV_VALUE_INIT;
	int r;
	for (;;) {
		uint64_t now = client_mono_ms();
		if (now >= deadline) {
			r = client_err(PKV_TIMEOUT, "the key stayed held");
			break;
		}
		po.timeout_ms = call_timeout(deadline, now);
		r = pkv_put(c, q->key, q->key_len, value, value_len, &po, &got);
		if (r == PKV_OK && !is_ours(&got, value, value_len))
			r = client_err(-EEXIST, "pkv_lock: another waiter has this waiter's name");
		if (!retryable(r))
			break;
		pause_ms(50);
	}
	*gen = r == PKV_OK ? got.gen : 0;
	pkv_value_free(&got);
	return r;
}

PKV_EXPORT int pkv_lock(struct pkv_client *c, const void *bucket, size_t bucket_len,
			const void *key, size_t key_len, const void *value, size_t value_len,
			uint32_t timeout_ms, struct pkv_value *held)
{
	if (!c || !key || (!value && value_len))
		return client_err(-EINVAL, "pkv_lock: bad arguments");
	uint64_t deadline = timeout_ms ? client_mono_ms() + timeout_ms : UINT64_MAX;
	/* In the daemon's queue first, so that a newcomer never passes a
	 * waiter of the same daemon; the ticket is our place in the cluster. */
	struct pkv_watch *w, *qw = NULL;
	struct ctl_watch_ticket t;
	int r = watch_open(c, bucket, bucket_len, key, key_len, 0, PKV_WATCH_QUEUE, &w, &t);
	if (r != PKV_OK)
		return r;
	struct lock_queue *q = calloc(1, sizeof(*q));
	if (!q) {
		pkv_unwatch(w);
		return -ENOMEM;
	}
	q->me = (struct waiter_id){t.ticket, t.node, t.incarnation};
	queue_names(q, bucket, bucket_len, key, key_len);
	uint64_t wgen = 0;
	struct pkv_value got = PKV_VALUE_INIT;
	/* A daemon without tickets: its first waiter races the other
	 * daemons' for each free generation, as before tickets. */
	if (t.ticket)
		r = queue_register(c, q, value, value_len, deadline, &wgen);
	if (r == PKV_OK && t.ticket)
		r = watch_open(c, q->bucket, q->bucket_len, NULL, 0, 0, 0, &qw, NULL);
	if (r == PKV_OK && t.ticket)
		queue_catch_up(c, q);
	struct pkv_put_opts po = {.bucket = bucket, .bucket_len = bucket_len, .pid = PKV_PID_SELF};
	/* The key is free when an end (told to the daemon's first waiter
	 * only) is at or above every value chosen since we queued. */
	bool told_end = false, was_free = false;
	uint64_t ended = 0, chosen = 0, free_since = 0;
	while (r == PKV_OK) {
		uint64_t now = client_mono_ms();
		if (now >= deadline) {
			r = client_err(PKV_TIMEOUT, "the key stayed held");
			break;
		}
		bool is_free = told_end && ended >= chosen;
		if (is_free && !was_free)
			free_since = now;
		was_free = is_free;
		uint64_t wait = deadline - now;
		if (wait > 1000)
			wait = 1000;
		if (is_free) {
			uint64_t due = free_since + (uint64_t)q->n_older * LOCK_STALL_MS;
			if (now >= due) {
				po.timeout_ms = call_timeout(deadline, now);
				r = pkv_put(c, key, key_len, value, value_len, &po, &got);
				if (r == PKV_OK && is_ours(&got, value, value_len))
					break;
				if (r == PKV_OK) {
					/* another waiter's: wait for its end */
					if (got.gen > chosen)
						chosen = got.gen;
				} else if (retryable(r)) {
					r = PKV_OK;
					pause_ms(50); /* the key is free: try again shortly */
				}
				continue;
			}
			if (due - now < wait)
				wait = due - now;
		}
		struct pollfd p[2] = {{.fd = pkv_watch_fd(w), .events = POLLIN},
				      {.fd = pkv_watch_fd(qw), .events = POLLIN}};
		if (poll(p, 2, (int)wait) <= 0)
			continue;
		struct pkv_watch_event ev;
		int n;
		while (qw && r == PKV_OK && (n = pkv_watch_next(qw, &ev, 0)) != 0) {
			if (n < 0 || n >= PKV_NOT_FOUND)
				r = n;
			else
				queue_event(q, &ev);
		}
		while (r == PKV_OK && (n = pkv_watch_next(w, &ev, 0)) != 0) {
			if (n < 0 || n >= PKV_NOT_FOUND) {
				r = n;
			} else if (ev.kind == PKV_WATCH_ENDED) {
				told_end = true;
				if (ev.gen > ended)
					ended = ev.gen;
			} else if (ev.gen > chosen) {
				chosen = ev.gen;
			}
		}
	}
	pkv_unwatch(qw);
	/* Out of the queue whatever happened: the next waiter must not wait
	 * for us (our exit would end the key too, later). */
	if (wgen)
		(void)pkv_release(c, q->bucket, q->bucket_len, q->key, q->key_len, wgen);
	pkv_unwatch(w);
	free(q->older);
	free(q);
	if (r == PKV_OK && held) {
		pkv_value_free(held);
		*held = got;
	} else {
		pkv_value_free(&got);
	}
	return r;
}
