/* SPDX-License-Identifier: MIT */
/*
 * internal.h — the pieces of libpaxoskv-client behind the public calls.
 * Nothing here is exported (the library is built with -fvisibility=hidden
 * and a version script); the tests link the same code as a static library.
 *
 *   attach.c  endpoint rules, the attach handshake, mapping and checking
 *             the segment, daemon liveness
 *   ring.c    the client side of the request ring and the response wait
 *   cache.c   lock-free, write-free lookups in the learner cache
 *   client.c  the public API
 */
#ifndef PKV_CLIENT_INTERNAL_H
#define PKV_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "paxoskv.h"
#include "pkv-shm.h"

/* One attachment to one daemon incarnation. */
struct pkv_attach {
	struct pkv_attach *retired_next;
	const struct pkv_shm_layout *m; /* the segment, mapped read-only */
	size_t size;
	struct pkv_shm_cache_geom geom; /* from the segment's header, checked at attach */
	struct pkv_shm_client *c; /* this attachment's own area, read-write */
	int ctl_fd;  /* kept open: the daemon hanging up means it is gone */
	int bell_fd; /* this attachment's doorbell eventfd */
	unsigned slot;
	uint32_t attach_gen;
	uint64_t incarnation;
	uint32_t tag;		/* last request tag (under the handle's lock) */
	int dead;		/* atomic: the daemon went away */
	uint64_t next_check_ms; /* atomic: next liveness poll (monotonic ms) */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Formats the calling thread's error context (pkv_errmsg). Returns code. */
int client_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic milliseconds. */
uint64_t client_mono_ms(void);

/* --- attach.c --- */

/*
 * Connects to the daemon chosen by `endpoint` (rules in paxoskv.h), attaches,
 * maps the segment read-only and the client's own area read-write. Returns 0 and *out, or PKV_UNAVAILABLE,
 * PKV_LAYOUT_MISMATCH, a daemon status, -errno.
 */
int attach_open(const char *endpoint, struct pkv_attach **out);
/* Unmaps and closes everything. */
void attach_free(struct pkv_attach *a);
/* A text op (CTL_OP_CLUSTER, CTL_OP_STATS) on a connection of its own:
 * malloc'd, NUL-terminated text in *text. */
int attach_control_text(const char *endpoint, unsigned op, char **text);
/* Connects and sends a control request (op, arg in timeout_ms); returns the
 * connection fd (the caller reads the replies and closes it) or an error. */
int attach_control_request(const char *endpoint, unsigned op, uint32_t arg, int recv_timeout_s);
/* The same with a bucket name as the request's payload. */
int attach_control_bucket_request(const char *endpoint, unsigned op, uint32_t arg,
				  const void *bucket, size_t bucket_len, int recv_timeout_s);
/* A control request with bucket, key and value as its payload (flags in
 * ctl_req.flags); the connection fd, or an error, as above. */
int attach_control_send(const char *endpoint, unsigned op, unsigned flags, const void *bucket,
			size_t bucket_len, const void *key, size_t key_len, const void *value,
			size_t value_len, int recv_timeout_s);
/* The handle's endpoint (NULL: environment and defaults), for watch.c. */
const char *client_endpoint(const struct pkv_client *c);

/* --- watch.c --- */

struct ctl_watch_ticket;
/*
 * pkv_watch; with `ticket` (a PKV_WATCH_QUEUE watch) it also reads the
 * waiter's ticket from the daemon's first reply (lock.c); ticket 0 from a
 * daemon that hands out none (a version before them).
 */
int watch_open(struct pkv_client *c, const void *bucket, size_t bucket_len, const void *key,
	       size_t key_len, uint64_t from_gen, unsigned flags, struct pkv_watch **out,
	       struct ctl_watch_ticket *ticket);
/* Closes the control connection (the daemon then frees the slot). */
void attach_hangup(struct pkv_attach *a);
/*
 * Checks a mapped segment of `size` bytes: magic, format word, the cache
 * geometry in the header (one pkv_shm_cache_layout gives, fitting `size`),
 * daemon alive. Fills *geom from the header. Returns 0, PKV_LAYOUT_MISMATCH
 * or PKV_UNAVAILABLE.
 */
int attach_check_layout(const struct pkv_shm_layout *m, size_t size,
			struct pkv_shm_cache_geom *geom);
/*
 * Whether the daemon of `a` still serves: its daemon_alive word, and, at
 * most every `every_ms` (0: now), whether it hung up the control socket.
 * Marks `a` dead when not.
 */
bool attach_alive(struct pkv_attach *a, uint64_t every_ms);

/*
 * attach_alive(a, UINT64_MAX) inlined: the flags only, no clock, no poll.
 * A cached read asks this on every hit, where a call cost a twentieth of it.
 */
static inline bool attach_flags_alive(struct pkv_attach *a)
{
	if (__atomic_load_n(&a->dead, __ATOMIC_ACQUIRE))
		return false;
	if (__builtin_expect(!pkv_shm_load_acq(&a->m->hdr.daemon_alive), 0)) {
		__atomic_store_n(&a->dead, 1, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

/* --- ring.c --- */

struct ring_bytes {
	const void *p;
	size_t len;
};

struct ring_req {
	uint8_t op;    /* enum pkv_shm_op */
	uint8_t flags; /* enum pkv_shm_req_flag */
	uint32_t timeout_ms;
	int32_t bind_pid;
	uint64_t until;
	struct ring_bytes bucket, key, value, node, dep;
};

/*
 * Steps of one request, split so that tests can stop between them:
 * write (new tag first, then fields and data) → publish (the post word,
 * doorbell if the daemon sleeps) → wait (futex on resp_tag, sliced).
 * ring_write_request returns the request's tag; the lengths must already be
 * checked against the limits.
 */
uint32_t ring_write_request(struct pkv_shm_client *c, uint32_t *counter, const struct ring_req *rq);
/*
 * Posts the request `tag` written in a->c. Never waits (the area is the
 * client's own); returns 0, or PKV_UNAVAILABLE (`a` marked dead) if the
 * daemon is gone.
 */
int ring_publish(struct pkv_attach *a, uint32_t tag);
/* TEST ONLY: called between seeing the daemon asleep and ringing. */
extern void (*ring_doorbell_stall)(void);
/*
 * Waits for the response to `tag`. Returns 0 (response ready in the slot),
 * PKV_TIMEOUT, or PKV_UNAVAILABLE (daemon gone; `a` marked dead).
 */
int ring_wait(struct pkv_attach *a, uint32_t tag, uint64_t deadline_ms);

/* --- cache.c --- */

enum cache_result {
	CACHE_MISS = 0,
	CACHE_HIT = 1,
	CACHE_EXPIRED = 2, /* present, but its until has passed */
	CACHE_BUSY = 3,	   /* writers kept changing the stripe: ask the daemon */
};

/*
 * Looks (bucket, key) up without locks and without writing shared memory,
 * in the cache of segment m with geometry g (struct pkv_attach's geom).
 * On CACHE_HIT fills *out (growing out->data as pkv_value documents). On
 * other results out->data's bytes may have changed, len/gen/until have not.
 * `now_ms`: the realtime clock for until; 0 means read it if needed.
 * Returns an enum cache_result or -ENOMEM.
 */
/*
 * Whether the daemon's lease holds at now_ns, a reading of
 * CLOCK_MONOTONIC_COARSE (pkv-shm.h "Lease"; docs/design.md §8).
 */
static inline bool lease_holds_at(const struct pkv_shm_layout *m, uint64_t now_ns)
{
#ifdef PKV_TEST_IGNORE_LEASE
	/* TEST ONLY (tests/scenario: scenario-nolease): a reader that ignores
	 * the lease, for the scenario checker to catch. Never installed. */
	(void)m;
	(void)now_ns;
	return true;
#endif
	uint64_t lease = pkv_shm_load_rlx(&m->view.lease_ns);
	return lease == UINT64_MAX || now_ns < lease;
}

/* Whether the daemon's lease holds now (pkv-shm.h "Lease"): a vDSO clock read. */
static inline bool lease_holds(const struct pkv_shm_layout *m)
{
#ifdef PKV_TEST_IGNORE_LEASE
	/* TEST ONLY (tests/scenario: scenario-nolease): a reader that ignores
	 * the lease, for the scenario checker to catch. Never installed. */
	(void)m;
	return true;
#endif
	uint64_t lease = pkv_shm_load_rlx(&m->view.lease_ns);
	if (lease == UINT64_MAX)
		return true;
	/* The coarse clock (a few ns, where CLOCK_MONOTONIC takes ~20): it lags
	 * CLOCK_MONOTONIC by at most its resolution, which the daemon took off
	 * the lease it published (pkv-shm.h "Lease"). */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec < lease;
}
int cache_lookup(const struct pkv_shm_layout *m, const struct pkv_shm_cache_geom *g,
		 const void *bucket, size_t bucket_len, const void *key, size_t key_len,
		 uint64_t now_ms, struct pkv_value *out);

/* cache_read's answers besides CACHE_MISS, CACHE_HIT, CACHE_EXPIRED, CACHE_BUSY: */
#define CACHE_PAST_LEASE 4 /* cached, but the daemon's lease does not hold */
#define CACHE_GONE	 5 /* the daemon of `a` went away: re-attach */
/*
 * A read of the cache as pkv_get makes it (docs/design.md §8): the lookup,
 * then one reading of CLOCK_MONOTONIC_COARSE for both the lease and the
 * liveness poll of the control socket (at most every every_ms). On
 * CACHE_HIT out->flags says whether the value is stale (only with
 * stale_ok). Returns a CACHE_* result or -ENOMEM.
 */
int cache_read(struct pkv_attach *a, const void *bucket, size_t bucket_len, const void *key,
	       size_t key_len, bool stale_ok, uint64_t every_ms, struct pkv_value *out);

/* Makes room for len + 1 bytes in v->data. Returns 0 or -ENOMEM. */
int client_value_reserve(struct pkv_value *v, size_t len);

#endif
