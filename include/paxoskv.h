/* SPDX-License-Identifier: MIT */
/*
 * paxoskv.h — the PaxosKV client library (libpaxoskv-client).
 *
 * A process attaches to its host's daemon (pkvd) and then:
 *  - reads chosen values from a learner cache the daemon publishes in shared
 *    memory (mapped read-only): a cache hit costs a memory lookup, no
 *    syscall, no shared write;
 *  - sends puts, cache misses and key listings through a request area of its
 *    own, shared with the daemon only, and waits for the answer on a futex;
 *  - reads the daemon's cluster view (quorum, cluster size, nodes) in place.
 *
 * Keys are write-once: pkv_put returns the value the cluster chose, which may
 * be another writer's. Every value comes with its generation, which grows
 * with each lifetime of a key (usable as a fencing token).
 *
 * Threads: a struct pkv_client may be shared by threads. Cache reads and view
 * reads take no lock. Requests to the daemon are serialised by a mutex in
 * the handle (each handle owns one request/response area);
 * threads that want parallel requests open one handle each.
 *
 * Daemon restarts: a call notices a daemon that exited or died (its segment
 * says so, or its control socket hung up) and returns PKV_UNAVAILABLE; the
 * next call re-attaches, to the new daemon if one is running. Calls never
 * hang on a dead daemon: waits are sliced and re-check its liveness.
 *
 * fork(): a child may keep using its parent's handles, also when another
 * thread of the parent was inside a call at the fork: the child gets fresh
 * locks and its own attachment (its own slot) on its first call.
 *
 * Errors: every call returns int: 0 (PKV_OK) or a positive count on success,
 * a code of enum pkv_code (values 1000 and up), or a negative errno for a
 * system failure. pkv_strerror() names both. pkv_errmsg() gives the context of
 * the last failure in the calling thread.
 *
 * Ownership: nothing returned ever points into shared memory. Values come
 * back in struct pkv_value, whose buffer the library (re)allocates and the
 * caller releases with pkv_value_free(); key iterators own their keys until
 * pkv_keys_free().
 */
#ifndef PAXOSKV_H
#define PAXOSKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKV_VERSION_MAJOR 0
#define PKV_VERSION_MINOR 1
#define PKV_VERSION_MICRO 0
#define PKV_VERSION_STRING "0.1.0"
/* Compile-time version as one number: 0x00MMmmuu. */
#define PKV_VERSION_NUMBER                                                                         \
	((PKV_VERSION_MAJOR << 16) | (PKV_VERSION_MINOR << 8) | PKV_VERSION_MICRO)

#if defined(PKV_BUILDING_CLIENT) && defined(__GNUC__)
#define PKV_EXPORT __attribute__((visibility("default")))
#else
#define PKV_EXPORT
#endif

/* Limits (the same as the daemon's). A larger input is refused, never cut. */
#define PKV_BUCKET_MAX 255u
#define PKV_KEY_MAX 1024u
#define PKV_VALUE_MAX 60000u
#define PKV_NODE_NAME_MAX 63u
#define PKV_BUCKET_DEFAULT "PaxosKV"

/*
 * Status codes. The values from PKV_NOT_FOUND to PKV_NOT_OWNER are the
 * daemon's own (they travel in responses unchanged); codes from 1100 up are
 * the library's; negative values are -errno.
 */
enum pkv_code {
	PKV_OK = 0,
	PKV_NOT_FOUND = 1000,  /* no value (get, and default not given) */
	PKV_NO_QUORUM,	       /* the daemon's cluster has no quorum */
	PKV_INVALID_VALUE,     /* value refused (e.g. a binding already dead) */
	PKV_TOO_LARGE,	       /* bucket, key or value over the limits */
	PKV_TIMEOUT,	       /* no answer before the deadline */
	PKV_UNAVAILABLE,       /* no daemon, or it exited or restarted meanwhile */
	PKV_BAD_REQUEST,       /* malformed request */
	PKV_NOT_IN_SYNC,       /* nodes disagreed (resize) */
	PKV_NO_MEMORY,	       /* the daemon ran out of memory */
	PKV_STALE,	       /* release: that generation of the key has already ended */
	PKV_NOT_OWNER,	       /* release: the key is not bound to the calling process */
	PKV_LAYOUT_MISMATCH = 1100, /* the daemon's shared memory is of another build */
};

/* What a put does when the daemon's cluster has no quorum. */
enum pkv_no_quorum {
	PKV_NO_QUORUM_RETURN = 0, /* return PKV_NO_QUORUM (default) */
	PKV_NO_QUORUM_RETRY = 1,  /* wait for a quorum, up to the timeout */
	PKV_NO_QUORUM_FAIL = 2,	  /* call the fail handler (pkv_set_fail_handler) */
};

struct pkv_client;
struct pkv_keys;

/*
 * A value returned by the library. Start from PKV_VALUE_INIT (all zero);
 * each call that fills it reuses `data` when `cap` suffices and reallocates
 * it otherwise, so a loop can reuse one struct pkv_value without a malloc per
 * read. Release with pkv_value_free(). `data` is NUL-terminated after `len`
 * bytes (the NUL is not counted), for the convenience of text values.
 */
struct pkv_value {
	void *data;
	size_t len;
	size_t cap;	/* bytes allocated at data: the library's bookkeeping */
	uint64_t gen;	/* generation of the value; 0 for a get default */
	uint64_t until; /* the value's until binding (ms since the epoch), 0: none */
	uint64_t flags; /* PKV_VALUE_* */
	uint64_t reserved[1];
};
#define PKV_VALUE_INIT {0, 0, 0, 0, 0, 0, {0}}

enum pkv_value_flag {
	/*
	 * A get with PKV_GET_STALE_OK returned this value from a daemon past
	 * its lease: the daemon has not heard from a majority of the voters
	 * lately, so they may have ended this lifetime (the key released, its
	 * holder's process or node lost, its bucket dropped) without its
	 * knowing. Good for display; not proof that a lock is still held.
	 */
	PKV_VALUE_STALE = 1u << 0,
};

/*
 * Put options. Zero means the default for every field, so a zeroed struct
 * (or a NULL pointer) is a plain put into the default bucket.
 *
 * Lifetime bindings: the key is erased cluster-wide when any of them ends —
 * the process `pid` of this host exits (watched by the daemon with a pidfd;
 * its start time is recorded, so a recycled pid is never mistaken for it),
 * the node `node` disconnects from a daemon, the key `dep_key` (same
 * bucket) is erased, or the wall clock reaches `until`. A put whose binding
 * is already dead — a pid not alive on this host, a node not connected, a
 * key not present, an until in the past — answers PKV_INVALID_VALUE. After
 * the erasure, the next put of the key chooses anew, in a higher
 * generation (struct pkv_value.gen: a fencing token).
 *
 * pid = PKV_PID_SELF binds the key to the calling process as the kernel
 * names it to the daemon (the attach connection's credentials, translated
 * into the daemon's pid namespace): the way to bind to oneself, and the
 * only one from a container. An explicit pid is a pid of the daemon's
 * namespace; from a process in another pid namespace it is refused with
 * PKV_INVALID_VALUE, since the number means another process there.
 */
#define PKV_PID_SELF (-1)

struct pkv_put_opts {
	const void *bucket; /* NULL: PKV_BUCKET_DEFAULT */
	size_t bucket_len;
	int no_quorum;	     /* enum pkv_no_quorum */
	uint32_t timeout_ms; /* 0: the daemon's default (5 s) */
	/* Bindings: the key lives while all of them hold. */
	int32_t pid;	      /* a local process, PKV_PID_SELF; 0: none */
	const char *node;     /* a node name (NUL-terminated); NULL: none */
	const void *dep_key;  /* another key of the same bucket; NULL: none */
	size_t dep_key_len;
	uint64_t until;	      /* ms since the epoch (see pkv_now); 0: none */
	uint64_t reserved[8]; /* zero */
};

/* Get options; a zeroed struct or NULL means the default bucket, no default. */
struct pkv_get_opts {
	const void *bucket; /* NULL: PKV_BUCKET_DEFAULT */
	size_t bucket_len;
	/* If set, a missing key yields PKV_OK with this value and gen 0. */
	const void *def;
	size_t def_len;
	uint32_t timeout_ms; /* 0: the daemon's default */
	uint32_t flags;	     /* PKV_GET_* */
	uint64_t reserved[6];
};

enum pkv_get_flag {
	PKV_GET_NO_CACHE = 1u << 0, /* skip the shared cache: ask the daemon */
	/*
	 * Past the daemon's lease (see pkv_get), return what it has anyway,
	 * marked PKV_VALUE_STALE in value->flags, instead of PKV_NO_QUORUM.
	 */
	PKV_GET_STALE_OK = 1u << 1,
};

/* A node of the daemon's configuration, as pkv_nodes reports it. */
struct pkv_node {
	uint32_t id; /* 1-based */
	int connected;
	int self;
	char name[PKV_NODE_NAME_MAX + 1];
};

/* Daemon statistics, for pkv-top and monitoring. */
struct pkv_stats {
	uint64_t incarnation;
	uint64_t requests, responses, stale, malformed, doorbells;
	uint64_t attached, attach_refused, reclaimed, purged;
	uint64_t cache_published, cache_erased, cache_evicted, cache_entries, cache_refused;
	uint64_t lock_recoveries;
	/* This handle's own counters. cache_hits is counted without a locked
	 * instruction (a cached read is a few tens of ns): exact for one
	 * thread, while threads reading through one handle at once may lose
	 * a few of each other's. */
	uint64_t cache_hits, cache_misses, reattaches;
	uint64_t reserved[8];
};

/*
 * The handler a put with PKV_NO_QUORUM_FAIL calls when it would return an
 * error (the C form of raising). `message` says what failed. If the handler
 * returns, pkv_put returns the status. The default prints the message to
 * stderr and calls abort().
 */
typedef void (*pkv_fail_handler)(struct pkv_client *client, int status, const char *message,
				 void *arg);

/* The library's version, "MAJOR.MINOR.MICRO" (compare PKV_VERSION_STRING). */
PKV_EXPORT const char *pkv_version(void);

/*
 * Attaches to a daemon. `endpoint`:
 *   NULL or ""        $PKV_SOCKET, else the node $PKV_NODE, else the first
 *                     node running under the run dir
 *   contains a '/'    the daemon's control socket path
 *   otherwise         a node name: RUN_DIR/NAME/pkvd.sock
 * RUN_DIR is $PKV_RUN_DIR, else $XDG_RUNTIME_DIR/paxoskv, else
 * /tmp/paxoskv-UID. On success *client is a new handle (close it with
 * pkv_close). Errors: PKV_UNAVAILABLE (no daemon answers),
 * PKV_LAYOUT_MISMATCH, -ENOMEM, -errno.
 */
PKV_EXPORT int pkv_open(struct pkv_client **client, const char *endpoint);

/* Detaches and frees the handle (NULL is fine). No call may be in flight. */
PKV_EXPORT void pkv_close(struct pkv_client *client);

/*
 * Proposes `value` for `key`. On PKV_OK, `chosen` (if not NULL) receives the
 * chosen value and its generation — compare it with `value` to know whether
 * this put won. Errors: PKV_NO_QUORUM, PKV_INVALID_VALUE, PKV_TOO_LARGE,
 * PKV_TIMEOUT, PKV_UNAVAILABLE, -errno. With PKV_NO_QUORUM_FAIL, any error
 * goes to the fail handler first.
 */
PKV_EXPORT int pkv_put(struct pkv_client *client, const void *key, size_t key_len,
		       const void *value, size_t value_len, const struct pkv_put_opts *opts,
		       struct pkv_value *chosen);

/*
 * Reads the chosen value of `key`: from the shared cache when it holds it
 * (never a value whose until has passed), else from the daemon.
 * The lease: a daemon vouches for the values it knows only while it has
 * heard from a majority of the voters recently enough that none of them can
 * have ended a lifetime without its knowing (0.6 x failure_timeout_ms after
 * the last heartbeat of it they echoed). Past the lease, a read of a value
 * it knows answers PKV_NO_QUORUM (or reads from a quorum if there is one
 * again), unless PKV_GET_STALE_OK asks for the stale value. The check costs
 * a clock read (vDSO), no syscall.
 * PKV_OK fills *value (a default counts, see struct pkv_get_opts). On any
 * other result *value still owns its buffer (free it as usual) but its
 * contents are unspecified. Errors: PKV_NOT_FOUND, PKV_NO_QUORUM,
 * PKV_TOO_LARGE, PKV_TIMEOUT, PKV_UNAVAILABLE, -errno.
 */
PKV_EXPORT int pkv_get(struct pkv_client *client, const void *key, size_t key_len,
		       const struct pkv_get_opts *opts, struct pkv_value *value);

/*
 * The process a key is bound to (put's `pid` binding): PKV_OK and *pid, or
 * PKV_NOT_FOUND when the key is absent or has no pid binding. The pid names
 * a process on the host of the daemon that took the put. Asks the daemon
 * (no cache). Same errors as pkv_get.
 */
PKV_EXPORT int pkv_pid(struct pkv_client *client, const void *key, size_t key_len,
		       const struct pkv_get_opts *opts, int32_t *pid);
/*
 * The node a key is bound to (put's `node` binding): its name copied into
 * name (cap bytes, PKV_NODE_NAME_MAX + 1 always suffices), or
 * PKV_NOT_FOUND when the key is absent or has no node binding.
 */
PKV_EXPORT int pkv_node(struct pkv_client *client, const void *key, size_t key_len,
			const struct pkv_get_opts *opts, char *name, size_t cap);

/* Frees value->data and zeroes *value (NULL is fine). */
PKV_EXPORT void pkv_value_free(struct pkv_value *value);

/*
 * Lists the keys of a bucket (NULL: the default bucket) known across the
 * cluster, in bytewise order. *iter is freed with pkv_keys_free. Keys are
 * fetched in pages as the iterator advances, so pkv_keys_next can also fail.
 * PKV_NO_QUORUM while the daemon holds no lease (as a pkv_get): its own
 * keys may include lifetimes the majority ended (docs/design.md §5.1).
 */
PKV_EXPORT int pkv_keys(struct pkv_client *client, const void *bucket, size_t bucket_len,
			struct pkv_keys **iter);
/*
 * The next key: returns 1 and sets *key / *key_len (owned by the iterator,
 * valid until the next call or pkv_keys_free), 0 at the end, or an error.
 */
PKV_EXPORT int pkv_keys_next(struct pkv_keys *iter, const void **key, size_t *key_len);
PKV_EXPORT void pkv_keys_free(struct pkv_keys *iter);

/* System time in ms since the epoch: the clock of `until`. */
PKV_EXPORT uint64_t pkv_now(void);

/*
 * The daemon's cluster view, read from shared memory (no syscall unless an
 * update is in progress, which the read waits out): pkv_quorum returns 1
 * (quorum) or 0, and the quorum epoch (changes on every flip) in *epoch if
 * not NULL; pkv_cluster_size the configured size. Both return
 * PKV_UNAVAILABLE if the daemon is gone (or stopped in the middle of an
 * update for a second), never another code: test `pkv_quorum(c, NULL) == 1`,
 * not its truth, since PKV_UNAVAILABLE is not 0.
 */
PKV_EXPORT int pkv_quorum(struct pkv_client *client, uint64_t *epoch);
PKV_EXPORT int pkv_cluster_size(struct pkv_client *client);
/*
 * Copies up to `cap` configured nodes into `nodes`; returns how many the
 * daemon knows (0..64, which may exceed cap), or PKV_UNAVAILABLE as
 * pkv_quorum does.
 */
PKV_EXPORT int pkv_nodes(struct pkv_client *client, struct pkv_node *nodes, size_t cap);

/*
 * Blocks until the daemon reports quorum, re-attaching if it restarts, for
 * at most timeout_ms (0: check once). PKV_OK, PKV_TIMEOUT or PKV_UNAVAILABLE.
 */
PKV_EXPORT int pkv_wait_for_quorum(struct pkv_client *client, uint32_t timeout_ms);

/*
 * The daemon's own report of its node, as `pkv cluster` prints it:
 * "name: value" lines (node, cluster_size, quorum, connected, synced,
 * epoch, rejected datagrams by reason, one `peer:` line per peer). On
 * PKV_OK, *text is a NUL-terminated string the caller frees with free().
 */
PKV_EXPORT int pkv_cluster_status(struct pkv_client *client, char **text);

/*
 * The daemon's counters for inspectors such as pkv-top, as "name: value"
 * lines: `paxos:` (rounds, conflicts, forwards, …), `local:` (attaches,
 * ring requests, cache entries, …) and one `bucket: NAME keys=N bytes=N
 * chosen=N puts=N gets=N` line per bucket (a name that is not printable
 * ASCII without spaces is shown as 0x and hex). Same ownership as
 * pkv_cluster_status.
 */
PKV_EXPORT int pkv_node_stats(struct pkv_client *client, char **text);

/*
 * resize_cluster: sets the configured cluster size (the number of voters:
 * the first `size` configured nodes) on the daemon and on every node
 * connected to it. The size changes by one at a time: any other size is
 * PKV_BAD_REQUEST, as is a size out of 1..64. PKV_OK when every node had the
 * same size before and every voter of the old and the new size took part;
 * PKV_NOT_IN_SYNC when some node had another size or a voter was not
 * connected to take the change (the connected nodes have the new size
 * either way); PKV_TIMEOUT when a node did not answer. To add a voter,
 * start its daemon first and then grow the size; to remove one, shrink the
 * size while its daemon still runs, then stop it.
 */
PKV_EXPORT int pkv_resize_cluster(struct pkv_client *client, unsigned size);

/*
 * Drops a bucket (NULL: the default bucket): every key of it is erased
 * cluster-wide, safely under Paxos — each key's generation ends, and the next
 * put of a key in the bucket chooses anew. The name stays usable, empty.
 * Needs quorum. PKV_OK once every connected daemon applied it;
 * PKV_NO_QUORUM, PKV_TIMEOUT, PKV_UNAVAILABLE otherwise.
 */
PKV_EXPORT int pkv_bucket_drop(struct pkv_client *client, const void *bucket, size_t bucket_len);

/*
 * Blocks until the daemon can serve `bucket` (NULL: the default bucket):
 * buckets need no set-up, so this waits for quorum and for the daemon's
 * acceptor to be synced after a restart — for start-up ordering in scripts
 * and service units. PKV_OK, PKV_TIMEOUT or PKV_UNAVAILABLE.
 */
PKV_EXPORT int pkv_wait_for_bucket(struct pkv_client *client, const void *bucket,
				   size_t bucket_len, uint32_t timeout_ms);

/* Quorum events (pkv_subscribe). */
enum pkv_event {
	PKV_EVENT_QUORUM_REACHED = 1,
	PKV_EVENT_QUORUM_LOST = 2,
	/*
	 * The daemon's lease lapsed (docs/design.md §5.1): it can no longer
	 * vouch that the lifetimes it holds have not ended elsewhere — in
	 * doubt. Its cached reads answer PKV_NO_QUORUM unless PKV_GET_STALE_OK.
	 */
	PKV_EVENT_LEASE_LOST = 3,
	/*
	 * The lease holds again after PKV_EVENT_LEASE_LOST: the daemon is in
	 * contact with a quorum; a lifetime that ended meanwhile is erased as
	 * usual when the erasure reaches it (docs/design.md §5.1, §10).
	 */
	PKV_EVENT_LEASE_REGAINED = 4,
	/*
	 * Per binding, to a subscriber about a value bound to its own process
	 * (put with pid = the subscriber's pid, through this daemon), after
	 * PKV_EVENT_LEASE_LOST put it in doubt: the majority ended its
	 * lifetime meanwhile — the process no longer holds it. The epoch
	 * argument of pkv_subscription_next is the key's generation;
	 * pkv_subscription_key gives the key.
	 */
	PKV_EVENT_LIFETIME_ENDED = 5,
	/*
	 * Per binding, as above: the lease holds again — which it does only
	 * once the erasures a majority made meanwhile are in (docs/design.md
	 * §5.1) — and the lifetime is intact: the process still holds it.
	 */
	PKV_EVENT_LIFETIME_CONFIRMED = 6,
};

struct pkv_subscription;

/*
 * Subscribes to the daemon's quorum events: one event per flip, in order
 * (quorum reached/lost, and the lease lost/regained), and the subscribing
 * process's own lifetimes in doubt, ended or confirmed (PKV_EVENT_LIFETIME_*).
 * pkv_subscription_fd gives a file descriptor to poll (POLLIN) in the
 * caller's own event loop; pkv_subscription_next then returns 1 with the
 * event and the quorum epoch it started, 0 when none is pending, or an error
 * (PKV_UNAVAILABLE when the daemon went away: subscribe again). Free with
 * pkv_unsubscribe. Independent of the handle once made.
 */
PKV_EXPORT int pkv_subscribe(struct pkv_client *client, struct pkv_subscription **sub);
PKV_EXPORT int pkv_subscription_fd(const struct pkv_subscription *sub);
PKV_EXPORT int pkv_subscription_next(struct pkv_subscription *sub, int *event, uint64_t *epoch);
/*
 * The bucket and key of the last PKV_EVENT_LIFETIME_* that
 * pkv_subscription_next returned, copied into the caller's buffers (the
 * default bucket has length 0); their lengths go to *bucket_len and
 * *key_len. PKV_OK, or -ENOSPC when a buffer is too small (the lengths are
 * set), -EINVAL on bad arguments. At most PKV_BUCKET_MAX and 1024 bytes.
 */
PKV_EXPORT int pkv_subscription_key(const struct pkv_subscription *sub, void *bucket,
				    size_t bucket_cap, size_t *bucket_len, void *key,
				    size_t key_cap, size_t *key_len);
PKV_EXPORT void pkv_unsubscribe(struct pkv_subscription *sub);

/*
 * Key watches (docs/design.md §8.3). A watch reports, in order, when the key
 * is chosen (PKV_WATCH_CHOSEN: its value and generation) and when lifetimes
 * end (PKV_WATCH_ENDED: every generation <= gen of the key has ended). The
 * daemon serves it from what its own learner sees: no traffic per event.
 *
 * No gap: `from_gen` is the generation the caller already knows (from a
 * pkv_get, or 0 for none). The watch first reports what changed after it —
 * ENDED when that generation has ended, then CHOSEN when a newer value is
 * chosen now — and then every event as it happens. So: read, then watch
 * from the generation read, and nothing falls in between. A watch on a key
 * the daemon has never heard of reports its first value when it is chosen;
 * read it first with pkv_get (which asks the acceptors) to start from the
 * cluster's state.
 *
 * key == NULL watches every key of the bucket: first one CHOSEN per key
 * chosen now in a generation above from_gen, then every key's events.
 *
 * While the daemon holds no lease (cut off, or just restarted: see
 * pkv_get) a watch other than a queue is told no CHOSEN: what the daemon
 * knows may have ended meanwhile. Once the lease holds it is told each
 * value it missed that is still chosen; ENDED is told as it happens.
 *
 * PKV_WATCH_QUEUE makes the watch a lock waiter (pkv_lock): ENDED goes
 * only to the oldest waiter of the key on this daemon while the key is
 * free, once until a value is chosen again or a later generation ends; the
 * next waiter hears it when the first leaves (pkv_unwatch, or its process
 * exits) with the key free.
 *
 * pkv_watch_fd gives a descriptor to poll (POLLIN); pkv_watch_next waits up
 * to timeout_ms (0: only what is pending) and returns 1 with an event, 0
 * when none came, or an error: PKV_UNAVAILABLE when the daemon went away or
 * ended the stream (a reader too slow to keep up): watch again from the last
 * generation seen. A bucket watch has no one generation to resume from: watch
 * the bucket again (from 0, once pkv_wait_for_bucket says the daemon serves),
 * drop events at or below the generations already seen of each key, and
 * pkv_get each key last seen chosen and not ended — PKV_NOT_FOUND says that
 * lifetime ended meanwhile, which the new stream cannot (as `pkv watch -b`
 * does, docs/design.md §8.3). The event's pointers stay valid until the next call or
 * pkv_unwatch. Independent of the handle once made. Errors of pkv_watch:
 * PKV_BAD_REQUEST, PKV_TOO_LARGE, PKV_UNAVAILABLE, -errno.
 */
enum pkv_watch_kind {
	PKV_WATCH_CHOSEN = 1,
	PKV_WATCH_ENDED = 2,
};

enum pkv_watch_flag {
	PKV_WATCH_QUEUE = 1u << 1, /* a lock waiter (see above); key watches only */
};

struct pkv_watch_event {
	int kind;	/* enum pkv_watch_kind */
	uint64_t gen;	/* the generation chosen, or the last one ended */
	uint64_t until; /* CHOSEN: the value's until binding, 0: none */
	const void *bucket; /* length 0: the default bucket */
	size_t bucket_len;
	const void *key;
	size_t key_len;
	const void *value; /* CHOSEN only; NUL-terminated after value_len bytes */
	size_t value_len;
	uint64_t reserved[4];
};

struct pkv_watch;

PKV_EXPORT int pkv_watch(struct pkv_client *client, const void *bucket, size_t bucket_len,
			 const void *key, size_t key_len, uint64_t from_gen, unsigned flags,
			 struct pkv_watch **watch);
PKV_EXPORT int pkv_watch_fd(const struct pkv_watch *watch);
PKV_EXPORT int pkv_watch_next(struct pkv_watch *watch, struct pkv_watch_event *event,
			      uint32_t timeout_ms);
PKV_EXPORT void pkv_unwatch(struct pkv_watch *watch);

/*
 * Ends the lifetime `gen` of a key bound to the calling process (a put with
 * pid = PKV_PID_SELF or the caller's own pid, through this daemon) now,
 * exactly as the process's exit would: the key is erased cluster-wide (the
 * erasure spreads from this daemon as after an exit) and the next put
 * chooses anew in a higher generation. Only that process can release it
 * (the daemon knows the caller from its connection's credentials); it stays
 * alive and may bind keys again. PKV_OK once erased here; PKV_STALE when
 * that generation has already ended (a second release, or a stale token),
 * which changes nothing; PKV_NOT_OWNER when the key is not bound to the
 * caller through this daemon; PKV_NOT_FOUND for a generation this daemon
 * has not seen; PKV_BAD_REQUEST, PKV_TOO_LARGE, PKV_UNAVAILABLE.
 */
PKV_EXPORT int pkv_release(struct pkv_client *client, const void *bucket, size_t bucket_len,
			   const void *key, size_t key_len, uint64_t gen);

/*
 * A lock that waits (docs/design.md §8.5): puts `value` for `key` bound to
 * the calling process, waiting for the key to be free as long as another
 * value holds it, up to timeout_ms (0: wait forever). Waiters are served in
 * their order of arrival, on one daemon (a PKV_WATCH_QUEUE watch) and
 * across daemons (each waiter registers a waiter key bound to itself in a
 * bucket of the library's, named from the lock's bucket, and puts only
 * when no older waiter is known); an older waiter that leaves a free key
 * untaken for 2 s is passed, so none starves. On PKV_OK, *held (if
 * not NULL) receives the value and its generation: the fencing token to hand
 * to protected resources. Give each waiter its own value (say host:pid): a
 * waiter that finds its own value chosen takes it for its own. Unlock with
 * pkv_release(…, held->gen), or by exiting. Errors: PKV_TIMEOUT, and those
 * of pkv_put and pkv_watch.
 */
PKV_EXPORT int pkv_lock(struct pkv_client *client, const void *bucket, size_t bucket_len,
			const void *key, size_t key_len, const void *value, size_t value_len,
			uint32_t timeout_ms, struct pkv_value *held);

/*
 * Inspects a key (docs/design.md §8.6): what it is like on every daemon that
 * answers within timeout_ms (0: 1 s) — per daemon one PKV_INFO_ACCEPTOR
 * record (its promise, and the ballot, value and generation it accepted)
 * and one PKV_INFO_LEARNER record (the value it knows chosen, if any), as
 * the daemons report them now: for an operator when a key looks wrong, not
 * a read (use pkv_get). A daemon that does not answer has no records. On
 * PKV_OK, *records is an array of *n records the caller frees with
 * pkv_info_free. Errors: PKV_BAD_REQUEST, PKV_TOO_LARGE, PKV_UNAVAILABLE,
 * -errno.
 */
enum pkv_info_kind {
	PKV_INFO_ACCEPTOR = 1,
	PKV_INFO_LEARNER = 2,
};

struct pkv_key_info {
	uint32_t node; /* the answering node's id (see pkv_nodes) */
	int kind;      /* enum pkv_info_kind */
	int has_value;
	int synced;	   /* that node's acceptor answers (synced after a restart) */
	int voter;	   /* that node votes */
	uint64_t gen;	   /* the key's live generation there; 0: no entry at all */
	uint64_t promised_round; /* acceptor: the highest prepare answered */
	uint32_t promised_node;
	uint32_t ballot_node; /* the ballot of the value: accepted, or chosen */
	uint64_t ballot_round;
	uint32_t bind_mask; /* the value's bindings: 1 pid, 2 node, 4 key, 8 until */
	void *value;	    /* has_value: value_len bytes, NUL-terminated */
	size_t value_len;
	uint64_t reserved[4];
};

PKV_EXPORT int pkv_info(struct pkv_client *client, const void *bucket, size_t bucket_len,
			const void *key, size_t key_len, uint32_t timeout_ms,
			struct pkv_key_info **records, size_t *n);
PKV_EXPORT void pkv_info_free(struct pkv_key_info *records, size_t n);

/* Daemon statistics and this handle's counters. */
PKV_EXPORT int pkv_stats(struct pkv_client *client, struct pkv_stats *stats);

/* Sets the no-quorum FAIL handler of this handle; NULL restores the default. */
PKV_EXPORT void pkv_set_fail_handler(struct pkv_client *client, pkv_fail_handler handler,
				     void *arg);

/* A static text for a status code (enum pkv_code or -errno). */
PKV_EXPORT const char *pkv_strerror(int code);

/* The context of the calling thread's last failed call (never NULL). */
PKV_EXPORT const char *pkv_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif
