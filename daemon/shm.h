/* SPDX-License-Identifier: MIT */
/*
 * shm.h — the daemon's side of the local-attach segment (include/pkv-shm.h):
 * creating it, granting and reclaiming client slots, taking requests from the
 * clients' areas, answering them, publishing chosen values into the learner cache and
 * the cluster view.
 *
 * Pure of io_uring and of the event loop: the loop owns the fds this module
 * hands out (doorbell eventfd, client pidfds) and calls in at these moments:
 *
 *   start       shm_create_sized(&seg, incarnation, pid, cfg.cache_entries)
 *               (the segment clients map read-only; each attach gets an area
 *               of its own, include/pkv-shm.h)
 *   attach      control socket op CTL_OP_ATTACH: peer checked,
 *               slot = shm_attach_client(seg, cred.pid, cred.uid),
 *               pidfd_open(cred.pid), shm_send_attach(fd, seg, slot)
 *               (slot < 0: shm_send_attach_error(fd, PKV_S_UNAVAILABLE))
 *   pidfd fires shm_reclaim_client(seg, slot); close the pidfd
 *   each turn   up to PKV_SHM_CLIENTS times: shm_ring_next(seg, &rq), dispatch
 *               rq to paxos
 *   completion  shm_respond(seg, slot, ticket, status, gen, val, len) or
 *               shm_respond_keys(seg, slot, ticket, keys, n)
 *   learned     shm_cache_publish(...) for every chosen value learned;
 *               shm_cache_erase(...) when a key generation ends
 *   membership  shm_set_view(...) on every quorum/peer/size change
 *   block       if (shm_sleep_begin(seg)) wait for completions (the doorbell
 *               fd, an epoll set of the clients' eventfds, is one);
 *               afterwards shm_sleep_end(seg); else do not
 *               block: requests are waiting
 *   exit        shm_destroy(seg): clears daemon_alive and wakes every waiter
 *
 * Single-threaded: every call comes from the daemon's loop thread, except
 * that the cache writers go through robust process-shared stripe locks, so
 * a second writer (thread or process) would be safe for the cache.
 */
#ifndef PKV_SHM_DAEMON_H
#define PKV_SHM_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"
#include "pkv-shm.h"

struct shm_segment;

/*
 * Creates the memfd, maps it, seals it (no later writable mapping, no
 * shrink or grow), initialises every stripe lock, sets up the header and
 * writes the magic last. Also creates the doorbell's epoll fd.
 * Returns 0 or -errno.
 */
int shm_create(struct shm_segment **out, uint64_t incarnation, pid_t daemon_pid);
/*
 * The same with a learner cache of `cache_entries` entries (stripes sized for
 * PKV_SHM_STRIPE_LOAD entries each; geometry in pkv-shm.h,
 * pkv_shm_cache_geom_for).
 * shm_create uses PKV_SHM_CACHE_DEFAULT. Returns 0, -EINVAL when
 * cache_entries is outside [PKV_SHM_CACHE_MIN, PKV_SHM_CACHE_MAX], or -errno.
 */
int shm_create_sized(struct shm_segment **out, uint64_t incarnation, pid_t daemon_pid,
		     uint32_t cache_entries);
/*
 * Marks the daemon gone (daemon_alive = 0), wakes every client waiting on a
 * response or on the view so they notice at once, unmaps, closes the fds.
 */
void shm_destroy(struct shm_segment *seg);

int shm_memfd(const struct shm_segment *seg);
/* Readable when a client rang: an epoll fd over every client's eventfd. */
int shm_doorbell_fd(const struct shm_segment *seg);
/*
 * How an answer wakes its waiting client: wake(ctx, word) queues the wake
 * (0) or refuses (nonzero); unset or refused, the answer wakes the client
 * with a system call of its own.
 */
void shm_set_waker(struct shm_segment *seg, int (*wake)(void *ctx, uint32_t *word), void *ctx);
/* Slot's area as the daemon maps it, its memfd and its doorbell eventfd
 * (NULL or -1 for a free slot): tests and the attach reply. */
struct pkv_shm_client *shm_client_area(const struct shm_segment *seg, unsigned slot);
int shm_client_area_fd(const struct shm_segment *seg, unsigned slot);
int shm_client_doorbell_fd(const struct shm_segment *seg, unsigned slot);
/* The mapped segment (tests and tools read it; the daemon writes through shm_*). */
struct pkv_shm_layout *shm_layout(const struct shm_segment *seg);
const struct pkv_shm_stats *shm_stats(const struct shm_segment *seg);
/* The cache geometry of the segment (also in its header). */
const struct pkv_shm_cache_geom *shm_cache_geom(const struct shm_segment *seg);
/* Stripe i's reader part and its writer record (tests and tools). */
struct pkv_shm_stripe *shm_stripe(const struct shm_segment *seg, unsigned i);
struct pkv_shm_stripe_lock *shm_stripe_writer(const struct shm_segment *seg, unsigned i);

/*
 * Grants a free client slot to process `pid` (the peer's SO_PEERCRED), with
 * a fresh area (memfd) and doorbell eventfd. Returns the slot index,
 * -EAGAIN when every slot is taken, or -errno.
 */
int shm_attach_client(struct shm_segment *seg, pid_t pid, uid_t uid);
/*
 * Frees `slot` after its process died or hung up: unmaps and closes its
 * area and doorbell (a request it posted goes with them) and marks the slot
 * free. Responses still due to it are dropped by shm_respond. Safe to call
 * twice.
 */
void shm_reclaim_client(struct shm_segment *seg, unsigned slot);

/*
 * Sends the attach reply on the control connection `sock`: the payload and,
 * with SCM_RIGHTS, the segment's memfd, the slot's doorbell eventfd and the
 * slot's area memfd. Returns 0 or -errno.
 */
int shm_send_attach(int sock, struct shm_segment *seg, int slot);
/* Refuses an attach with `status` (enum pkv_status or -errno). */
int shm_send_attach_error(int sock, int status);

/*
 * A request taken from a client's area. Its byte strings point into a copy
 * private to the daemon (taken once and verified against the client's tag,
 * so a client cannot change them afterwards): valid until the next
 * shm_ring_next call.
 * paxos_put/get copy what they keep, so dispatching at once is enough.
 */
struct shm_request {
	unsigned slot;
	uint64_t ticket; /* pass back to shm_respond */
	uint32_t pid;	 /* the client's process */
	uint8_t op;	 /* enum pkv_shm_op */
	uint8_t flags;	 /* enum pkv_shm_req_flag */
	uint32_t timeout_ms; /* never 0: PKV_SHM_DEFAULT_TIMEOUT_MS if the client sent 0 */
	struct pkv_bytes bucket; /* never empty: the default bucket if the client sent none */
	struct pkv_bytes key;
	struct pkv_bytes value;	 /* put: the value; keys: the cursor (list keys after it) */
	/* Bindings (put). Not served until lifetimes land: refuse with INVALID_VALUE. */
	bool has_bindings;
	int32_t bind_pid; /* valid if flags & PKV_SHM_F_BIND_PID */
	struct pkv_bytes node;
	struct pkv_bytes dep_key;
	uint64_t until;
};

/*
 * Takes the next posted request, looking at each slot at most once per call,
 * round-robin from where the last call stopped. Returns true and fills
 * *out, or false when no client posted one. Stale requests (client moved
 * on) are skipped and counted; malformed ones (unknown op, lengths over the
 * limits) are answered here with PKV_S_BAD_REQUEST / PKV_S_TOO_LARGE and
 * skipped.
 */
bool shm_ring_next(struct shm_segment *seg, struct shm_request *out);
/* True if some client posted a request not taken yet. */
bool shm_ring_pending(const struct shm_segment *seg);

/*
 * Answers the request (slot, ticket): status (enum pkv_status or -errno),
 * gen, and the value (len <= PKV_MAX_VALUE; larger becomes PKV_S_TOO_LARGE).
 * Wakes the client if it sleeps. Returns 0, or -ESTALE if the client is gone
 * or has given up on that request (nothing written).
 */
int shm_respond(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status, uint64_t gen,
		const void *value, uint32_t len);
/* The same, with the value's bindings: until (ms), pid and node id (0: none). */
int shm_respond_bound(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status,
		      uint64_t gen, const void *value, uint32_t len, uint64_t until, int32_t pid,
		      uint32_t node, uint32_t rflags);
/*
 * Answers a keys request: the keys after the request's cursor, sorted
 * bytewise as paxos_keys returns them, packed as (u16 len, bytes) records;
 * PKV_SHM_RF_MORE when they did not all fit (the client asks again with
 * the last key as cursor). Returns like shm_respond.
 */
int shm_respond_keys(struct shm_segment *seg, unsigned slot, uint64_t ticket,
		     const struct pkv_bytes *keys, size_t n);

/*
 * Before blocking: asks clients to ring the doorbell. Returns false (and
 * takes the request back) when a client already posted a request: do not
 * block then. After waking, call shm_sleep_end.
 */
bool shm_sleep_begin(struct shm_segment *seg);
void shm_sleep_end(struct shm_segment *seg);
/* Takes the events of the clients' doorbells that rang (edge-triggered). */
void shm_doorbell_drain(struct shm_segment *seg);

/*
 * Learner cache. Publishes (bucket, key) = value of generation `gen` with
 * `until` (ms since the epoch, 0: none). An entry of a newer generation is
 * kept; the same generation is not rewritten (a chosen value never changes).
 * Evicts the oldest entries of the stripe when it is full. An entry larger
 * than a stripe's heap (geometry) is not cached, and an older generation of
 * it is removed: -E2BIG, counted in cache_refused.
 * Returns 0, -E2BIG (over the limits or the heap) or a lock error (-errno).
 */
int shm_cache_publish(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		      struct pkv_bytes value, uint64_t gen, uint64_t until);
/* Removes the entry if its generation is <= gen. Returns 1 if removed, 0, or -errno. */
int shm_cache_erase(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		    uint64_t gen);
/* Removes every entry of a bucket (bucket dropped). Returns the count or -errno. */
int shm_cache_erase_bucket(struct shm_segment *seg, struct pkv_bytes bucket);

/*
 * The one lock path of the cache: locks stripe `i`; on EOWNERDEAD marks it
 * suspect, clears it, makes it consistent and counts the recovery. Returns 0
 * with the lock held, or -errno. Exposed for the tests and for a future
 * second writer.
 */
int shm_stripe_lock(struct shm_segment *seg, unsigned i);
void shm_stripe_unlock(struct shm_segment *seg, unsigned i);

/*
 * The cluster view: quorum and its epoch (membership's quorum_epoch, which
 * changes on every flip), cluster_size, this node's id, the connected bitmask
 * (bit id-1) and the configured node names (names[i] is node id i+1).
 * Readers see all of it or none of it (seqlock); waiters in
 * pkv_wait_for_quorum are woken.
 */
void shm_set_view(struct shm_segment *seg, bool quorum, uint64_t epoch, uint32_t cluster_size,
		  uint32_t self, uint64_t connected, const char *const *names, uint32_t n_nodes);

/* The lease's end, µs of the monotonic clock (pkv-shm.h "Lease"). */
void shm_set_lease(struct shm_segment *seg, uint64_t until_us);

/* Test hooks: make the next cache write die (SIGKILL) halfway through. */
enum shm_fault {
	SHM_FAULT_NONE = 0,
	SHM_FAULT_DIE_IN_PUBLISH, /* seq odd, half the entry written */
};
void shm_set_fault(struct shm_segment *seg, enum shm_fault f);

#endif
