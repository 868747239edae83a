// SPDX-License-Identifier: MIT
/*
 * client.c — the public calls of libpaxoskv-client (include/paxoskv.h).
 *
 * A handle holds its current attachment behind an atomic pointer: cache and
 * view reads load it and read shared memory with no lock. Requests take
 * the handle's mutex (one request/response area per handle). When the
 * daemon goes away the attachment is retired, not freed — a reader in
 * another thread may still be looking at its mapping — and a new one is
 * made on the next call; retired attachments are freed by pkv_close.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include "internal.h"
#include "pkv-ctl.h"

#define RESPONSE_GRACE_MS 1000u /* beyond the request timeout, for the daemon to answer */
#define LIVENESS_EVERY_MS 50u	/* reads and requests poll the control socket at most this often */
#define LEASE_POLL_MS 10u	/* pkv_wait_for_quorum: quorum, waiting for the lease */
#define REATTACH_EVERY_MS 50u	/* pkv_wait_for_quorum: retry period without a daemon */
#define VIEW_SPINS 256u		/* view reads: attempts before waiting on the sequence word */
#define VIEW_WAIT_SLICE_MS 10u	/* view reads: one futex wait on an odd sequence */
#define VIEW_WAIT_MS 1000u	/* view reads: an update this long means a stopped daemon */

struct pkv_client {
	pthread_mutex_t lock; /* the request slot; attach and re-attach */
	struct pkv_attach *cur; /* atomic; NULL when detached */
	struct pkv_attach *retired;
	struct pkv_client *next, **prevp; /* every live handle (handles_lock) */
	char *endpoint; /* NULL: environment and defaults */
	pkv_fail_handler fail;
	void *fail_arg;
	/*
	 * Every cached read adds to hits: a line apart from cur, which every
	 * read loads, so threads sharing the handle do not have it invalidated
	 * by each other's counting.
	 */
	uint8_t counters_apart[64];
	uint64_t hits, misses, reattaches; /* atomic, relaxed */
};

struct pkv_keys {
	struct pkv_client *c;
	uint8_t bucket[PKV_BUCKET_MAX];
	size_t bucket_len;
	struct pkv_value page;
	size_t pos;
	int more;
	uint8_t cursor[PKV_KEY_MAX];
	size_t cursor_len;
};

static __thread char errbuf[256];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* Every open handle, for the fork handlers; held only to link and unlink. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pkv_client *handles;

int client_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return code;
}

uint64_t client_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

PKV_EXPORT uint64_t pkv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

PKV_EXPORT const char *pkv_version(void)
{
	return PKV_VERSION_STRING;
}

PKV_EXPORT const char *pkv_errmsg(void)
{
	return errbuf;
}

PKV_EXPORT const char *pkv_strerror(int code)
{
	switch (code) {
	case PKV_OK:
		return "ok";
	case PKV_NOT_FOUND:
		return "not found";
	case PKV_NO_QUORUM:
		return "no quorum";
	case PKV_INVALID_VALUE:
		return "invalid value";
	case PKV_TOO_LARGE:
		return "key or value too large";
	case PKV_TIMEOUT:
		return "timed out";
	case PKV_UNAVAILABLE:
		return "daemon unavailable";
	case PKV_BAD_REQUEST:
		return "bad request";
	case PKV_NOT_IN_SYNC:
		return "not in sync";
	case PKV_NO_MEMORY:
		return "daemon out of memory";
	case PKV_STALE:
		return "that generation has already ended";
	case PKV_NOT_OWNER:
		return "not bound to the calling process";
	case PKV_LAYOUT_MISMATCH:
		return "shared memory layout mismatch (daemon of another build)";
	default:
		return code < 0 ? strerror(-code) : "unknown status";
	}
}

static void retire_locked(struct pkv_client *c, struct pkv_attach *a);

/*
 * fork() with threads (docs/design.md §8). Another thread of the parent may
 * hold a handle's lock at the fork: it waits inside a request, for up to the
 * request's timeout. The child has no such thread, so its copy of the lock
 * would stay locked for good. Two ways out: take every handle's lock in the
 * prepare handler (then fork() waits for every request in flight, seconds
 * with a missing quorum, and a fail handler that forks under pkv_put would
 * deadlock), or give the child fresh locks. The child's handle needs no
 * state that the parent's thread protects: its attachment is the parent's
 * slot, which the child must not use anyway. So prepare only takes the
 * list's lock (held for a few instructions, never across a request), and
 * the child re-initialises every handle's lock and drops the inherited
 * attachment; its next call attaches anew. The mapping stays (a retired
 * attachment, freed by pkv_close); the control socket copy is closed so that
 * the parent's daemon sees the parent's hang-up alone.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&handles_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&handles_lock);
}

static void atfork_child(void)
{
	for (struct pkv_client *c = handles; c; c = c->next) {
		pthread_mutex_init(&c->lock, NULL);
		struct pkv_attach *a = c->cur;
		if (a)
			retire_locked(c, a);
	}
	pthread_mutex_init(&handles_lock, NULL);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void default_fail(struct pkv_client *c, int status, const char *message, void *arg)
{
	fprintf(stderr, "paxoskv: %s\n", message);
	abort();
}

/* --- attachments -------------------------------------------------------------- */

static void retire_locked(struct pkv_client *c, struct pkv_attach *a)
{
	__atomic_store_n(&c->cur, NULL, __ATOMIC_RELEASE);
	attach_hangup(a); /* the daemon frees the slot when the connection closes */
	a->retired_next = c->retired;
	c->retired = a;
}

/*
 * The attachment requests go through, made anew if the daemon went away or
 * the process forked (atfork_child dropped it). Under c->lock. `every_ms`:
 * how stale attach_alive's poll of the control socket may be (0: poll now).
 * A daemon that stopped cleanly or was found gone is seen at once either
 * way; one killed within the last every_ms takes the request to its ring,
 * where ring_wait finds it gone after a wait slice.
 */
static int attached_locked(struct pkv_client *c, struct pkv_attach **out, uint64_t every_ms)
{
	struct pkv_attach *a = c->cur;
	if (a && !attach_alive(a, every_ms)) {
		retire_locked(c, a);
		a = NULL;
	}
	if (!a) {
		int r = attach_open(c->endpoint, &a);
		if (r)
			return r;
		__atomic_add_fetch(&c->reattaches, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&c->cur, a, __ATOMIC_RELEASE);
	}
	*out = a;
	return 0;
}

/* The attachment for a lock-free read, or NULL (then take the locked path). */
static struct pkv_attach *attached_fast(struct pkv_client *c)
{
	struct pkv_attach *a = __atomic_load_n(&c->cur, __ATOMIC_ACQUIRE);
	if (!a)
		return NULL;
	return attach_alive(a, LIVENESS_EVERY_MS) ? a : NULL;
}

static struct pkv_attach *attached_view(struct pkv_client *c)
{
	struct pkv_attach *a = attached_fast(c);
	if (a)
		return a;
	pthread_mutex_lock(&c->lock);
	int r = attached_locked(c, &a, 0);
	pthread_mutex_unlock(&c->lock);
	return r ? NULL : a;
}

const char *client_endpoint(const struct pkv_client *c)
{
	return c->endpoint;
}

PKV_EXPORT int pkv_open(struct pkv_client **client, const char *endpoint)
{
	if (!client)
		return client_err(-EINVAL, "pkv_open: no handle pointer");
	*client = NULL;
	pthread_once(&atfork_once, atfork_register);
	struct pkv_client *c = calloc(1, sizeof(*c));
	if (!c)
		return client_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->fail = default_fail;
	if (endpoint && *endpoint && !(c->endpoint = strdup(endpoint))) {
		free(c);
		return client_err(-ENOMEM, "out of memory");
	}
	struct pkv_attach *a;
	int r = attach_open(c->endpoint, &a);
	if (r) {
		free(c->endpoint);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	c->cur = a;
	pthread_mutex_lock(&handles_lock);
	c->next = handles;
	c->prevp = &handles;
	if (handles)
		handles->prevp = &c->next;
	handles = c;
	pthread_mutex_unlock(&handles_lock);
	*client = c;
	return 0;
}

PKV_EXPORT void pkv_close(struct pkv_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&handles_lock);
	*c->prevp = c->next;
	if (c->next)
		c->next->prevp = c->prevp;
	pthread_mutex_unlock(&handles_lock);
	attach_free(c->cur);
	while (c->retired) {
		struct pkv_attach *a = c->retired;
		c->retired = a->retired_next;
		attach_free(a);
	}
	free(c->endpoint);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

PKV_EXPORT void pkv_set_fail_handler(struct pkv_client *c, pkv_fail_handler handler, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->fail = handler ? handler : default_fail;
	c->fail_arg = handler ? arg : NULL;
	pthread_mutex_unlock(&c->lock);
}

PKV_EXPORT void pkv_value_free(struct pkv_value *v)
{
	if (!v)
		return;
	free(v->data);
	memset(v, 0, sizeof(*v));
}

/* --- requests ------------------------------------------------------------------ */

struct response {
	int status;
	uint32_t flags;
	struct pkv_value *value; /* receives gen and the bytes, if not NULL */
	int32_t pid;		 /* the value's bindings */
	uint32_t node;
};

/* One round trip through the handle's area. Returns the daemon's status or an error. */
static int request(struct pkv_client *c, const struct ring_req *rq, struct response *out)
{
	uint32_t timeout = rq->timeout_ms ? rq->timeout_ms : PKV_SHM_DEFAULT_TIMEOUT_MS;
	uint64_t deadline = client_mono_ms() + timeout + RESPONSE_GRACE_MS;
	pthread_mutex_lock(&c->lock);
	struct pkv_attach *a;
	/* Not a poll per request: that system call was about a tenth of a
	 * client's time under 32-client put-new (docs/design.md §8). */
	int r = attached_locked(c, &a, LIVENESS_EVERY_MS);
	if (r)
		goto out;
	struct pkv_shm_client *slot = a->c;
	uint32_t tag = ring_write_request(slot, &a->tag, rq);
	r = ring_publish(a, tag);
	if (r) {
		retire_locked(c, a);
		r = client_err(r, "the daemon went away before the request");
		goto out;
	}
	r = ring_wait(a, tag, deadline);
	if (r == PKV_UNAVAILABLE) {
		retire_locked(c, a);
		r = client_err(r, "the daemon went away during the request");
		goto out;
	}
	if (r) {
		r = client_err(r, "no answer from the daemon in %u ms", timeout);
		goto out;
	}
	/* Relaxed loads: a late answer to an abandoned request may still be
	 * written by the daemon (it checks the tag first, but not atomically). */
	r = pkv_shm_load_rlx(&slot->status);
	out->status = r;
	out->flags = pkv_shm_load_rlx(&slot->resp_flags);
	out->pid = pkv_shm_load_rlx(&slot->resp_pid);
	out->node = pkv_shm_load_rlx(&slot->resp_node);
	uint32_t len = pkv_shm_load_rlx(&slot->resp_len);
	if (out->value && r == PKV_OK) {
		if (len > PKV_SHM_RESP_DATA) {
			r = client_err(PKV_BAD_REQUEST, "malformed response");
			goto out;
		}
		if (client_value_reserve(out->value, len) < 0) {
			r = client_err(-ENOMEM, "out of memory");
			goto out;
		}
		pkv_shm_copy_out(out->value->data, slot->resp_data, len);
		((uint8_t *)out->value->data)[len] = 0;
		out->value->len = len;
		out->value->gen = pkv_shm_load_rlx(&slot->gen);
		out->value->until = pkv_shm_load_rlx(&slot->resp_until);
		out->value->flags = (out->flags & PKV_SHM_RF_STALE) ? PKV_VALUE_STALE : 0;
	}
	if (r != PKV_OK)
		client_err(r, "the daemon answered: %s", pkv_strerror(r));
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void bucket_of(const void *bucket, size_t len, struct ring_bytes *out)
{
	if (bucket) {
		*out = (struct ring_bytes){bucket, len};
	} else {
		*out = (struct ring_bytes){PKV_BUCKET_DEFAULT, sizeof(PKV_BUCKET_DEFAULT) - 1};
	}
}

/*
 * A bucket, key or other byte string against its 1..max limit: empty is
 * malformed (PKV_BAD_REQUEST), longer is PKV_TOO_LARGE; the message says
 * which input and by how much.
 */
static int check_len(const char *what, size_t len, size_t max)
{
	if (len == 0)
		return client_err(PKV_BAD_REQUEST, "empty %s: it takes 1..%zu bytes", what, max);
	if (len > max)
		return client_err(PKV_TOO_LARGE, "%s of %zu bytes: the limit is %zu", what, len,
				  max);
	return 0;
}

static int check_bucket_key(size_t bucket_len, size_t key_len)
{
	int r = check_len("bucket name", bucket_len, PKV_BUCKET_MAX);
	return r ? r : check_len("key", key_len, PKV_KEY_MAX);
}

static int fail_put(struct pkv_client *c, const struct pkv_put_opts *o, int r)
{
	if (r == PKV_OK || !o || o->no_quorum != PKV_NO_QUORUM_FAIL)
		return r;
	char msg[320];
	snprintf(msg, sizeof(msg), "put failed: %s (%s)", pkv_strerror(r), pkv_errmsg());
	pthread_mutex_lock(&c->lock);
	pkv_fail_handler h = c->fail;
	void *arg = c->fail_arg;
	pthread_mutex_unlock(&c->lock);
	h(c, r, msg, arg);
	return r;
}

PKV_EXPORT int pkv_put(struct pkv_client *c, const void *key, size_t key_len, const void *value,
		       size_t value_len, const struct pkv_put_opts *opts, struct pkv_value *chosen)
{
	static const struct pkv_put_opts none;
	const struct pkv_put_opts *o = opts ? opts : &none;
	if (!c || (!key && key_len) || (!value && value_len))
		return client_err(-EINVAL, "pkv_put: bad arguments");
	struct ring_req rq = {
		.op = PKV_SHM_OP_PUT,
		.timeout_ms = o->timeout_ms,
		.key = {key, key_len},
		.value = {value, value_len},
		.until = o->until,
	};
	bucket_of(o->bucket, o->bucket_len, &rq.bucket);
	size_t node_len = o->node ? strlen(o->node) : 0;
	int bad = check_bucket_key(rq.bucket.len, key_len);
	if (!bad && value_len > PKV_VALUE_MAX)
		bad = client_err(PKV_TOO_LARGE, "value of %zu bytes: the limit is %u", value_len,
				 PKV_VALUE_MAX);
	if (!bad && node_len > PKV_NODE_NAME_MAX)
		bad = client_err(PKV_TOO_LARGE, "node name of %zu bytes: the limit is %u", node_len,
				 PKV_NODE_NAME_MAX);
	if (!bad && o->dep_key_len > PKV_KEY_MAX)
		bad = client_err(PKV_TOO_LARGE, "bound key of %zu bytes: the limit is %u",
				 o->dep_key_len, PKV_KEY_MAX);
	if (bad)
		return fail_put(c, o, bad);
	if (o->no_quorum == PKV_NO_QUORUM_RETRY)
		rq.flags |= PKV_SHM_F_NO_QUORUM_RETRY;
	_Static_assert(PKV_PID_SELF == PKV_SHM_PID_SELF, "one value for the caller");
	if (o->pid) {
		rq.flags |= PKV_SHM_F_BIND_PID;
		rq.bind_pid = o->pid;
	}
	rq.node = (struct ring_bytes){o->node, node_len};
	rq.dep = (struct ring_bytes){o->dep_key, o->dep_key ? o->dep_key_len : 0};
	struct pkv_value scratch = PKV_VALUE_INIT;
	struct response resp = {.value = chosen ? chosen : &scratch};
	int r = request(c, &rq, &resp);
	pkv_value_free(&scratch);
	return fail_put(c, o, r);
}

PKV_EXPORT int pkv_get(struct pkv_client *c, const void *key, size_t key_len,
		       const struct pkv_get_opts *opts, struct pkv_value *value)
{
	static const struct pkv_get_opts none;
	const struct pkv_get_opts *o = opts ? opts : &none;
	if (!c || !value || (!key && key_len))
		return client_err(-EINVAL, "pkv_get: bad arguments");
	struct ring_bytes bucket;
	bucket_of(o->bucket, o->bucket_len, &bucket);
	int bad = check_bucket_key(bucket.len, key_len);
	if (bad)
		return bad;
	if (!(o->flags & PKV_GET_NO_CACHE)) {
		struct pkv_attach *a = __atomic_load_n(&c->cur, __ATOMIC_ACQUIRE);
		if (a) {
			/* docs/design.md §5.1, §8: only while the daemon's lease holds;
			 * past it the daemon answers no quorum, or asks a quorum. */
			int r = cache_read(a, bucket.p, bucket.len, key, key_len,
					   (o->flags & PKV_GET_STALE_OK) != 0, LIVENESS_EVERY_MS, value);
			if (r == CACHE_HIT) {
				/* Not a locked add: that cost a hit a fifth of its time
				 * (paxoskv.h, struct pkv_stats: cache_hits). */
				__atomic_store_n(&c->hits, __atomic_load_n(&c->hits, __ATOMIC_RELAXED) + 1,
						 __ATOMIC_RELAXED);
				return PKV_OK;
			}
			if (r < 0)
				return client_err(r, "out of memory");
		}
		__atomic_add_fetch(&c->misses, 1, __ATOMIC_RELAXED);
	}
	struct ring_req rq = {
		.op = PKV_SHM_OP_GET,
		.timeout_ms = o->timeout_ms,
		.bucket = bucket,
		.key = {key, key_len},
	};
	if (o->flags & PKV_GET_STALE_OK)
		rq.flags |= PKV_SHM_F_STALE_OK;
	struct response resp = {.value = value};
	int r = request(c, &rq, &resp);
	/* The daemon checks until too; this covers a value that expired in flight. */
	if (r == PKV_OK && value->until && pkv_now() >= value->until)
		r = PKV_NOT_FOUND;
	if (r == PKV_NOT_FOUND && o->def) {
		if (client_value_reserve(value, o->def_len) < 0)
			return client_err(-ENOMEM, "out of memory");
		memcpy(value->data, o->def, o->def_len);
		((uint8_t *)value->data)[o->def_len] = 0;
		value->len = o->def_len;
		value->gen = 0;
		value->until = 0;
		value->flags = 0;
		r = PKV_OK;
	}
	return r;
}

/* --- keys ------------------------------------------------------------------------ */

static int keys_fetch(struct pkv_keys *it)
{
	struct ring_req rq = {
		.op = PKV_SHM_OP_KEYS,
		.bucket = {it->bucket, it->bucket_len},
		.value = {it->cursor, it->cursor_len},
	};
	struct response resp = {.value = &it->page};
	int r = request(it->c, &rq, &resp);
	it->pos = 0;
	if (r != PKV_OK) {
		it->page.len = 0;
		it->more = 0;
		return r;
	}
	it->more = (resp.flags & PKV_SHM_RF_MORE) != 0;
	return 0;
}

PKV_EXPORT int pkv_keys(struct pkv_client *c, const void *bucket, size_t bucket_len,
			struct pkv_keys **iter)
{
	if (!c || !iter)
		return client_err(-EINVAL, "pkv_keys: bad arguments");
	*iter = NULL;
	struct ring_bytes b;
	bucket_of(bucket, bucket_len, &b);
	int bad = check_len("bucket name", b.len, PKV_BUCKET_MAX);
	if (bad)
		return bad;
	struct pkv_keys *it = calloc(1, sizeof(*it));
	if (!it)
		return client_err(-ENOMEM, "out of memory");
	it->c = c;
	memcpy(it->bucket, b.p, b.len);
	it->bucket_len = b.len;
	int r = keys_fetch(it);
	if (r) {
		pkv_keys_free(it);
		return r;
	}
	*iter = it;
	return 0;
}

PKV_EXPORT int pkv_keys_next(struct pkv_keys *it, const void **key, size_t *key_len)
{
	if (!it || !key || !key_len)
		return client_err(-EINVAL, "pkv_keys_next: bad arguments");
	for (;;) {
		const uint8_t *p = it->page.data;
		if (it->pos + 2 <= it->page.len) {
			uint16_t l;
			memcpy(&l, p + it->pos, 2);
			if (it->pos + 2 + l > it->page.len || l > PKV_KEY_MAX)
				return client_err(PKV_BAD_REQUEST, "malformed key page");
			*key = p + it->pos + 2;
			*key_len = l;
			memcpy(it->cursor, p + it->pos + 2, l);
			it->cursor_len = l;
			it->pos += 2u + l;
			return 1;
		}
		if (!it->more)
			return 0;
		int r = keys_fetch(it);
		if (r)
			return r;
	}
}

PKV_EXPORT void pkv_keys_free(struct pkv_keys *it)
{
	if (!it)
		return;
	pkv_value_free(&it->page);
	free(it);
}

/* --- the cluster view ------------------------------------------------------------- */

/*
 * Copies the view consistently (seqlock reader). An update in progress is
 * waited out: VIEW_SPINS attempts with a pause, then futex waits on the
 * sequence word (the daemon wakes it after every update). Returns 0, or
 * PKV_UNAVAILABLE when the daemon went away or stayed in the middle of an
 * update for VIEW_WAIT_MS (stopped); never a count of failed tries.
 */
static int view_read(struct pkv_attach *a, struct pkv_shm_view *out, bool names)
{
	const struct pkv_shm_view *v = &a->m->view;
	uint64_t give_up = 0;
	for (unsigned attempt = 0;; attempt++) {
		uint32_t s1 = pkv_shm_load_acq(&v->seq);
		if (!(s1 & 1u)) {
			out->quorum = pkv_shm_load_rlx(&v->quorum);
			out->quorum_epoch = pkv_shm_load_rlx(&v->quorum_epoch);
			out->cluster_size = pkv_shm_load_rlx(&v->cluster_size);
			out->self = pkv_shm_load_rlx(&v->self);
			out->n_nodes = pkv_shm_load_rlx(&v->n_nodes);
			out->connected = pkv_shm_load_rlx(&v->connected);
			if (names)
				pkv_shm_copy_out(out->names, v->names, sizeof(out->names));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (pkv_shm_load_rlx(&v->seq) == s1) {
				out->seq = s1;
				return 0;
			}
		}
		if (attempt < VIEW_SPINS) {
			cpu_relax();
			continue;
		}
		/* A slow writer (preempted, stopped, or dead in the middle). */
		if (!attach_alive(a, 0))
			return client_err(PKV_UNAVAILABLE, "the daemon went away");
		uint64_t now = client_mono_ms();
		if (!give_up)
			give_up = now + VIEW_WAIT_MS;
		else if (now >= give_up)
			return client_err(PKV_UNAVAILABLE,
					  "the daemon stopped in the middle of a view update");
		if (!(s1 & 1u)) {
			sched_yield(); /* updates back to back: let the writer finish one */
			continue;
		}
		struct timespec ts = {0, (long)VIEW_WAIT_SLICE_MS * 1000000};
		syscall(SYS_futex, &v->seq, FUTEX_WAIT, s1, &ts, NULL, 0);
	}
}

PKV_EXPORT int pkv_quorum(struct pkv_client *c, uint64_t *epoch)
{
	struct pkv_attach *a = attached_view(c);
	if (!a)
		return PKV_UNAVAILABLE;
	struct pkv_shm_view v;
	int r = view_read(a, &v, false);
	if (r)
		return r;
	if (epoch)
		*epoch = v.quorum_epoch;
	return v.quorum ? 1 : 0;
}

PKV_EXPORT int pkv_cluster_size(struct pkv_client *c)
{
	struct pkv_attach *a = attached_view(c);
	if (!a)
		return PKV_UNAVAILABLE;
	return (int)pkv_shm_load_rlx(&a->m->view.cluster_size);
}

PKV_EXPORT int pkv_nodes(struct pkv_client *c, struct pkv_node *nodes, size_t cap)
{
	struct pkv_attach *a = attached_view(c);
	if (!a)
		return PKV_UNAVAILABLE;
	struct pkv_shm_view v;
	int r = view_read(a, &v, true);
	if (r)
		return r;
	uint32_t n = v.n_nodes > PKV_SHM_NODES ? PKV_SHM_NODES : v.n_nodes;
	for (uint32_t i = 0; i < n && i < cap; i++) {
		nodes[i].id = i + 1;
		nodes[i].connected = (v.connected >> i) & 1u;
		nodes[i].self = v.self == i + 1;
		memcpy(nodes[i].name, v.names[i], PKV_NODE_NAME_MAX);
		nodes[i].name[PKV_NODE_NAME_MAX] = 0;
	}
	return (int)n;
}

PKV_EXPORT int pkv_wait_for_quorum(struct pkv_client *c, uint32_t timeout_ms)
{
	uint64_t deadline = client_mono_ms() + timeout_ms;
	for (;;) {
		struct pkv_attach *a = attached_view(c);
		struct pkv_shm_view v;
		/* No daemon, or it went away while we read: retry the attach. */
		bool gone = !a || view_read(a, &v, false) != 0;
		uint64_t now = client_mono_ms();
		uint64_t slice = now < deadline ? deadline - now : 0;
		if (slice > PKV_SHM_WAIT_SLICE_MS)
			slice = PKV_SHM_WAIT_SLICE_MS;
		if (gone) {
			if (!slice)
				return client_err(PKV_UNAVAILABLE, "no daemon to wait for");
			if (slice > REATTACH_EVERY_MS)
				slice = REATTACH_EVERY_MS;
			struct timespec ts = {0, (long)slice * 1000000};
			nanosleep(&ts, NULL); /* no daemon to wake us: retry the attach */
			continue;
		}
		bool q = v.quorum != 0;
		/* Quorum and the lease: cached reads answer from then on (§5.1). */
		if (q && lease_holds(a->m))
			return PKV_OK;
		if (!slice)
			return client_err(PKV_TIMEOUT, "no quorum within %u ms", timeout_ms);
		/* The lease follows quorum within a heartbeat, and wakes no one. */
		if (q && slice > LEASE_POLL_MS)
			slice = LEASE_POLL_MS;
		struct timespec ts = {0, (long)slice * 1000000};
		/* Woken by the daemon on every view change (and when it exits);
		 * v.seq is the sequence of the view just read. */
		syscall(SYS_futex, &a->m->view.seq, FUTEX_WAIT, v.seq, &ts, NULL, 0);
	}
}

PKV_EXPORT int pkv_stats(struct pkv_client *c, struct pkv_stats *out)
{
	if (!c || !out)
		return client_err(-EINVAL, "pkv_stats: bad arguments");
	struct pkv_attach *a = attached_view(c);
	memset(out, 0, sizeof(*out));
	out->cache_hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
	out->cache_misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
	out->reattaches = __atomic_load_n(&c->reattaches, __ATOMIC_RELAXED);
	if (!a)
		return PKV_UNAVAILABLE;
	const struct pkv_shm_stats *s = &a->m->stats;
	out->incarnation = a->incarnation;
#define COPY(f) out->f = pkv_shm_load_rlx(&s->f)
	COPY(requests);
	COPY(responses);
	COPY(stale);
	COPY(malformed);
	COPY(doorbells);
	COPY(attached);
	COPY(attach_refused);
	COPY(reclaimed);
	COPY(purged);
	COPY(cache_published);
	COPY(cache_erased);
	COPY(cache_evicted);
	COPY(cache_entries);
	COPY(cache_refused);
	COPY(lock_recoveries);
#undef COPY
	return PKV_OK;
}

PKV_EXPORT int pkv_cluster_status(struct pkv_client *c, char **text)
{
	if (!c || !text)
		return client_err(-EINVAL, "pkv_cluster_status: bad arguments");
	*text = NULL;
	return attach_control_text(c->endpoint, CTL_OP_CLUSTER, text);
}

PKV_EXPORT int pkv_node_stats(struct pkv_client *c, char **text)
{
	if (!c || !text)
		return client_err(-EINVAL, "pkv_node_stats: bad arguments");
	*text = NULL;
	return attach_control_text(c->endpoint, CTL_OP_STATS, text);
}

PKV_EXPORT int pkv_resize_cluster(struct pkv_client *c, unsigned size)
{
	if (!c || size < 1 || size > PKV_SHM_NODES)
		return client_err(-EINVAL, "pkv_resize_cluster: size must be 1..%u", PKV_SHM_NODES);
	int fd = attach_control_request(c->endpoint, CTL_OP_RESIZE, size, 30);
	if (fd < 0)
		return fd;
	struct ctl_rep rep;
	ssize_t n = recv(fd, &rep, sizeof(rep), 0);
	close(fd);
	if (n != (ssize_t)sizeof(rep) || rep.magic != CTL_MAGIC)
		return client_err(PKV_UNAVAILABLE, "no answer to the resize");
	if (rep.status != PKV_OK)
		return client_err(rep.status, "resize to %u: %s", size, pkv_strerror(rep.status));
	return PKV_OK;
}

struct pkv_subscription {
	int fd;
	/* The key of the last lifetime event (pkv_subscription_key). */
	uint32_t blen, klen;
	uint8_t bucket[PKV_BUCKET_MAX];
	uint8_t key[PKV_MAX_KEY];
};

PKV_EXPORT int pkv_subscribe(struct pkv_client *c, struct pkv_subscription **out)
{
	if (!c || !out)
		return client_err(-EINVAL, "pkv_subscribe: bad arguments");
	struct pkv_subscription *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = attach_control_request(c->endpoint, CTL_OP_SUBSCRIBE, 0, 0);
	if (s->fd < 0) {
		int r = s->fd;
		free(s);
		return r;
	}
	*out = s;
	return PKV_OK;
}

PKV_EXPORT int pkv_subscription_fd(const struct pkv_subscription *s)
{
	return s ? s->fd : -EINVAL;
}

_Static_assert(CTL_EVENT_QUORUM_REACHED_LEN <= CTL_EVENT_NAME_MAX, "event name");
_Static_assert(CTL_EVENT_QUORUM_LOST_LEN <= CTL_EVENT_NAME_MAX, "event name");
_Static_assert(CTL_EVENT_LEASE_LOST_LEN <= CTL_EVENT_NAME_MAX, "event name");
_Static_assert(CTL_EVENT_LEASE_REGAINED_LEN <= CTL_EVENT_NAME_MAX, "event name");

PKV_EXPORT int pkv_subscription_next(struct pkv_subscription *s, int *event, uint64_t *epoch)
{
	if (!s || !event)
		return client_err(-EINVAL, "pkv_subscription_next: bad arguments");
	uint8_t buf[sizeof(struct ctl_rep) + CTL_EVENT_NAME_MAX + 2 + PKV_BUCKET_MAX + PKV_MAX_KEY];
	ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return client_err(PKV_UNAVAILABLE, "the daemon closed the event stream");
	struct ctl_rep rep;
	if ((size_t)n < sizeof(rep))
		return client_err(-EPROTO, "a malformed event");
	memcpy(&rep, buf, sizeof(rep));
	const char *name = (const char *)buf + sizeof(rep);
	size_t len = (size_t)n - sizeof(rep);
	/* A lifetime event: name, NUL, the bucket's length, bucket, key. */
	const uint8_t *nul = memchr(name, 0, len);
	if (nul) {
		size_t nl = (size_t)((const char *)nul - name), rest = len - nl - 1;
		const uint8_t *p = nul + 1;
		if (rest < 1 || p[0] > rest - 1 || rest - 1 - p[0] > PKV_MAX_KEY)
			return client_err(-EPROTO, "a malformed event");
		if (nl == CTL_EVENT_LIFETIME_ENDED_LEN &&
		    !memcmp(name, CTL_EVENT_LIFETIME_ENDED, nl))
			*event = PKV_EVENT_LIFETIME_ENDED;
		else if (nl == CTL_EVENT_LIFETIME_CONFIRMED_LEN &&
			 !memcmp(name, CTL_EVENT_LIFETIME_CONFIRMED, nl))
			*event = PKV_EVENT_LIFETIME_CONFIRMED;
		else
			return client_err(-EPROTO, "an unknown event");
		s->blen = p[0];
		s->klen = (uint32_t)(rest - 1 - p[0]);
		memcpy(s->bucket, p + 1, s->blen);
		memcpy(s->key, p + 1 + s->blen, s->klen);
		if (epoch)
			*epoch = rep.gen;
		return 1;
	}
	if (len == CTL_EVENT_QUORUM_REACHED_LEN &&
	    !memcmp(name, CTL_EVENT_QUORUM_REACHED, CTL_EVENT_QUORUM_REACHED_LEN))
		*event = PKV_EVENT_QUORUM_REACHED;
	else if (len == CTL_EVENT_QUORUM_LOST_LEN &&
		 !memcmp(name, CTL_EVENT_QUORUM_LOST, CTL_EVENT_QUORUM_LOST_LEN))
		*event = PKV_EVENT_QUORUM_LOST;
	else if (len == CTL_EVENT_LEASE_LOST_LEN &&
		 !memcmp(name, CTL_EVENT_LEASE_LOST, CTL_EVENT_LEASE_LOST_LEN))
		*event = PKV_EVENT_LEASE_LOST;
	else if (len == CTL_EVENT_LEASE_REGAINED_LEN &&
		 !memcmp(name, CTL_EVENT_LEASE_REGAINED, CTL_EVENT_LEASE_REGAINED_LEN))
		*event = PKV_EVENT_LEASE_REGAINED;
	else
		return client_err(-EPROTO, "an unknown event");
	if (epoch)
		*epoch = rep.gen;
	return 1;
}

PKV_EXPORT int pkv_subscription_key(const struct pkv_subscription *s, void *bucket,
				    size_t bucket_cap, size_t *bucket_len, void *key,
				    size_t key_cap, size_t *key_len)
{
	if (!s || !bucket_len || !key_len || (bucket_cap && !bucket) || (key_cap && !key))
		return client_err(-EINVAL, "pkv_subscription_key: bad arguments");
	*bucket_len = s->blen;
	*key_len = s->klen;
	if (bucket_cap < s->blen || key_cap < s->klen)
		return client_err(-ENOSPC, "pkv_subscription_key: the buffers are too small");
	if (s->blen)
		memcpy(bucket, s->bucket, s->blen);
	if (s->klen)
		memcpy(key, s->key, s->klen);
	return PKV_OK;
}

PKV_EXPORT void pkv_unsubscribe(struct pkv_subscription *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

PKV_EXPORT int pkv_wait_for_bucket(struct pkv_client *c, const void *bucket, size_t bucket_len,
				   uint32_t timeout_ms)
{
	/* Every daemon serves every bucket from its first use: a bucket is
	 * ready when the daemon can serve at all — quorum, and an acceptor that
	 * answers (synced after a restart). */
	if (!c || bucket_len > PKV_BUCKET_MAX || (bucket && bucket_len == 0))
		return client_err(-EINVAL, "pkv_wait_for_bucket: bad arguments");
	uint64_t deadline = client_mono_ms() + timeout_ms;
	for (;;) {
		uint64_t now = client_mono_ms();
		uint32_t left = now < deadline ? (uint32_t)(deadline - now) : 0;
		int r = pkv_wait_for_quorum(c, left);
		if (r == PKV_OK) {
			char *text = NULL;
			r = pkv_cluster_status(c, &text);
			bool synced = r == PKV_OK && !strstr(text, "\nsynced: no\n");
			free(text);
			if (synced)
				return PKV_OK;
		}
		if (client_mono_ms() >= deadline)
			return r == PKV_OK || r == PKV_TIMEOUT
				       ? client_err(PKV_TIMEOUT, "the daemon is not ready")
				       : r;
		/* Syncing after a restart: no event marks its end, look again. */
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* A get through the daemon, for the value's bindings (never from the cache). */
static int get_bindings(struct pkv_client *c, const void *key, size_t key_len,
			const struct pkv_get_opts *opts, struct response *resp)
{
	static const struct pkv_get_opts none;
	const struct pkv_get_opts *o = opts ? opts : &none;
	struct ring_bytes bucket;
	bucket_of(o->bucket, o->bucket_len, &bucket);
	int bad = check_bucket_key(bucket.len, key_len);
	if (bad)
		return bad;
	struct ring_req rq = {
		.op = PKV_SHM_OP_GET,
		.timeout_ms = o->timeout_ms,
		.bucket = bucket,
		.key = {key, key_len},
	};
	return request(c, &rq, resp);
}

PKV_EXPORT int pkv_pid(struct pkv_client *c, const void *key, size_t key_len,
		       const struct pkv_get_opts *opts, int32_t *pid)
{
	if (!c || !pid || (!key && key_len))
		return client_err(-EINVAL, "pkv_pid: bad arguments");
	struct response resp = {0};
	int r = get_bindings(c, key, key_len, opts, &resp);
	if (r == PKV_OK && resp.pid == 0)
		r = client_err(PKV_NOT_FOUND, "the value has no pid binding");
	if (r == PKV_OK)
		*pid = resp.pid;
	return r;
}

PKV_EXPORT int pkv_node(struct pkv_client *c, const void *key, size_t key_len,
			const struct pkv_get_opts *opts, char *name, size_t cap)
{
	if (!c || !name || !cap || (!key && key_len))
		return client_err(-EINVAL, "pkv_node: bad arguments");
	struct response resp = {0};
	int r = get_bindings(c, key, key_len, opts, &resp);
	if (r == PKV_OK && resp.node == 0)
		r = client_err(PKV_NOT_FOUND, "the value has no node binding");
	if (r != PKV_OK)
		return r;
	struct pkv_node nodes[PKV_SHM_NODES];
	int n = pkv_nodes(c, nodes, PKV_SHM_NODES);
	/* An error is no count of nodes (pkv_nodes returns one or the other). */
	if (n < 0 || n > (int)PKV_SHM_NODES)
		return n;
	for (int i = 0; i < n; i++) {
		if (nodes[i].id == resp.node) {
			if (strlen(nodes[i].name) >= cap)
				return client_err(-ENOSPC, "node name longer than the buffer");
			strcpy(name, nodes[i].name);
			return PKV_OK;
		}
	}
	return client_err(PKV_NOT_FOUND, "node %u is not in the daemon's configuration", resp.node);
}

PKV_EXPORT int pkv_bucket_drop(struct pkv_client *c, const void *bucket, size_t bucket_len)
{
	if (!c || (bucket && (bucket_len == 0 || bucket_len > PKV_BUCKET_MAX)))
		return client_err(-EINVAL, "pkv_bucket_drop: a bucket name is 1..%u bytes",
				  PKV_BUCKET_MAX);
	if (!bucket) {
		bucket = PKV_BUCKET_DEFAULT;
		bucket_len = sizeof(PKV_BUCKET_DEFAULT) - 1;
	}
	int fd = attach_control_bucket_request(c->endpoint, CTL_OP_DROP, 0, bucket, bucket_len, 30);
	if (fd < 0)
		return fd;
	struct ctl_rep rep;
	ssize_t n = recv(fd, &rep, sizeof(rep), 0);
	close(fd);
	if (n != (ssize_t)sizeof(rep) || rep.magic != CTL_MAGIC)
		return client_err(PKV_UNAVAILABLE, "no answer to the drop");
	if (rep.status != PKV_OK)
		return client_err(rep.status, "drop: %s", pkv_strerror(rep.status));
	return PKV_OK;
}
