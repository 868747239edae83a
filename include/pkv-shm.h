/* SPDX-License-Identifier: MIT */
/*
 * pkv-shm.h — the shared-memory segment between pkvd and its local clients.
 *
 * Shared by the daemon (daemon/shm.c), the client library (libclient/) and
 * the tools. Not installed: the layout is private to one build of PaxosKV,
 * and a client refuses a segment whose format word differs from its own.
 *
 * Two kinds of memory, so that a client can write only what is its own
 * (docs/design.md §8):
 *
 *   the segment  one per daemon incarnation: header, cluster view, daemon
 *                counters and the learner cache. A memfd the daemon maps
 *                read-write and then seals with F_SEAL_FUTURE_WRITE (and
 *                against shrinking and growing): every client maps it
 *                PROT_READ; a writable MAP_SHARED mapping, an mprotect to
 *                PROT_WRITE, write(2) and a hole punched in it fail for any
 *                process, whatever its fd's mode. Readers never write it:
 *                seqlock reads, and FUTEX_WAIT works on a read-only mapping.
 *   a client's area  one per attach (struct pkv_shm_client, 128 KiB): a
 *                memfd the daemon creates, maps and passes to that client
 *                only, with an eventfd of its own (its doorbell). The
 *                client writes its request and the post word there; the
 *                daemon writes the response. A fresh memfd for every attach,
 *                so no former owner of the slot still maps it. The daemon
 *                treats every byte of it as hostile: it copies a request out
 *                once, checks every field of its copy, and keeps no pointer,
 *                index or offset it trusts in the area.
 *
 * All are passed at attach over the control socket with SCM_RIGHTS (see
 * "Attach" below).
 *
 * Segment layout (struct pkv_shm_layout, every region aligned to a cache
 * line, the cache to pages):
 *
 *   header    identity: magic (written last), format, size, incarnation,
 *             daemon_alive; the `sleeping` word of the doorbell
 *   view      cluster view under a seqlock: quorum, quorum epoch,
 *             cluster_size, self, connected bitmask, node names; and,
 *             outside the seqlock, the lease (one word, see "Lease").
 *             The writer FUTEX_WAKEs seq after each update; a reader that
 *             finds it odd retries with a pause, then FUTEX_WAITs on it,
 *             and gives up only on a dead daemon or one stopped mid-update
 *   stats     daemon counters (single writer, relaxed 64-bit stores)
 *   -- end of struct pkv_shm_layout; the cache follows, its geometry chosen
 *      by the daemon at start and written in the header (cache_*):
 *   locks     cache_stripes writer records (struct pkv_shm_stripe_lock): a
 *             robust mutex and the writer's bookkeeping per stripe; only
 *             the daemon locks them (readers take no lock)
 *   seqs      cache_stripes seqlock words (uint32_t), packed: 16 stripes a
 *             line, so the words readers load on every lookup stay in cache
 *   stripes   the learner cache: cache_stripes independent stripes of
 *             PKV_SHM_STRIPE_ENTRIES entries (struct pkv_shm_stripe, 8 KiB,
 *             cache_stride bytes apart, on pages)
 *   heaps     cache_stripes private data heaps of cache_heap bytes
 *
 * Cache geometry (pkv_shm_cache_geom): the daemon's setting cache_entries
 * (default PKV_SHM_CACHE_DEFAULT, at most PKV_SHM_CACHE_MAX) gives
 * stripes = cache_entries / PKV_SHM_STRIPE_LOAD rounded up: a stripe has
 * room for 64 entries but is sized for 48 of them, so that with keys spread
 * by the hash few stripes ever fill (with 1 M keys in a cache of 1 M
 * entries, 3 % of them did when stripes were sized for 64: those evicted
 * entries cost a trip through the ring on every read; at 48 it is 0.07 %).
 * The stripe of a hash is (hash >> 32) * stripes >> 32: any count works.
 * An entry whose bucket + key + value fit PKV_SHM_INLINE (88) bytes, each
 * padded to 8 (pkv_shm_entry_span), lives
 * inside its entry; larger ones go to the stripe's heap, which is
 * PKV_SHM_HEAP_BUDGET / stripes bytes rounded down to a line, clamped to
 * [PKV_SHM_STRIPE_HEAP_MIN, PKV_SHM_STRIPE_HEAP_MAX]: the default 683
 * stripes keep 96 KiB each (any entry up to the limits fits), and from 4096
 * stripes on a stripe has 16 KiB, 256 bytes for each of its 64 slots, so a
 * cache of 1 M entries holds 1 M small ones inline and still has room for
 * larger ones. An entry larger than a stripe's heap is not cached
 * (stats.cache_refused): reads of it go through the ring. The client takes the
 * geometry from the header and checks it against pkv_shm_cache_layout, never
 * from its own constants.
 *
 * Memory: the memfd is sized to the whole segment, but shmem allocates a
 * page only when it is first written. At start the daemon writes the header
 * and the lock records (stripes x 128 bytes); a stripe's pages (two of
 * 4 KiB) are touched only when an entry is published into them, and its heap
 * only by entries too large to sit inline, as far as they reach (the heap is
 * bump-allocated and compacted to the front). Sizes (x86-64, glibc):
 *   default, 32768 entries: 683 stripes, 96 KiB heaps, a 69 MiB segment
 *     (the cache), 0.1 MiB at start, and 128 KiB of area per attached
 *     client;
 *   cache_entries = 1 M: 21846 stripes, 16 KiB heaps, a 531 MiB segment
 *     (2.7 MiB of locks, 171 MiB of stripes, 341 MiB of heaps); 3 MiB at
 *     start, about 174 MiB (179 bytes a key more than at start) once 1 M
 *     entries of at most PKV_SHM_INLINE bytes are cached (layout 3, with
 *     stripes sized for 64 entries, took 202 MiB and lost 3 % of them);
 *   cache_entries = 4 M: a 2075 MiB segment; 11 MiB at start.
 * Transparent huge pages would cut the TLB misses of a large cache, but
 * shmem uses them only where /sys/kernel/mm/transparent_hugepage/shmem_enabled
 * allows; the daemon does not depend on them. A lookup whose entry sits at
 * its home slot needs two adjacent lines of one page of the stripes and a
 * seq line that is usually cached; when the home slot holds another key, the
 * reader also prefetches the next three slots (libclient/cache.c), where
 * most other entries sit.
 *
 * All shared words are accessed with the GCC/Clang __atomic builtins through
 * the helpers below; the structures hold plain integers so that the layout
 * is the same for every compiler and language mode.
 *
 * Requests (one at a time per attachment: the library holds the handle's
 * lock across a request). In its own area the client moves req_tag to the
 * new tag first (release fence), writes the fields and the request data,
 * then stores post = tag (seq_cst): that store commits the request. The
 * daemon keeps, per slot and in its own memory, the last post it took
 * (`seen`); a turn of its loop scans the attached slots round-robin from
 * where the last one stopped and takes a slot whose post differs from
 * seen: seen = post, then it copies the fields and data out once (each
 * length read once and bounded by the area), re-reads req_tag and throws
 * the copy away if it is not the posted tag (the client moved on: torn).
 * A client therefore has at most one request taken per lap of the scan, and
 * a turn takes at most PKV_SHM_CLIENTS requests: a client that rewrites its
 * post word as fast as it can is served like any busy client and delays
 * nobody by more than one request. A client killed at any instant leaves a
 * half-written request that was never posted (never read), or a posted one
 * the daemon serves or skips; its area goes with its slot at reclaim.
 * Nothing in the area can make the daemon loop, read outside the area or
 * answer another client: the slot an answer goes to is the daemon's own
 * record (the request's ticket: the daemon's attach generation of the slot
 * and the tag).
 *
 * Response: the daemon fills status, gen, until, resp_len, resp_flags and the
 * response area, then stores resp_tag = req_tag with release, then, if the client
 * set `waiting`, FUTEX_WAKEs resp_tag (by a system call, or as a submission on
 * its io_uring, which leaves by the end of that loop turn). The client waits with FUTEX_WAIT
 * (shared, not private: the word is in a shared mapping) in slices of at most
 * PKV_SHM_WAIT_SLICE_MS, checking in between that the daemon is still alive,
 * so a dead daemon costs a bounded wait, never a hang.
 *
 * Doorbell: each client has its own eventfd (the daemon watches them all
 * through one epoll fd), so no client can drain another's. Before
 * blocking, the daemon sets `sleeping` = 1 (in the read-only header) and
 * re-checks every attached slot's post word (both with seq_cst order); it
 * clears `sleeping` when it wakes. Every client that has posted a request
 * and then reads `sleeping` = 1 (seq_cst) writes 1 to its eventfd; no
 * client can clear the word. So a producer stopped or killed between the
 * two steps delays only its own request. A busy daemon takes requests
 * without a single syscall on either side.
 *
 * Cache protocol (per stripe seqlock + robust mutex):
 *   writer: lock (robust, process-shared) → seq++ (odd) → release fence →
 *           modify entries and heap → seq++ (even, release) → unlock.
 *   Every byte under the seqlock is stored and loaded with relaxed atomics
 *   (pkv_shm_copy_in/out below; the reader's whole-word loads in
 *   libclient/cache.c), never a plain memcpy.
 *   reader: s1 = seq (acquire); odd → retry; scan the entries' tags from
 *           the home slot, compare bucket and key, copy the value out (every offset and
 *           length bounds-checked first: the reader may see a torn entry);
 *           acquire fence; s2 = seq; s1 != s2 → retry. After
 *           PKV_SHM_READ_RETRIES failed attempts the reader gives up and asks
 *           the daemon through its area, so it never waits on a writer, live
 *           or dead.
 *   A writer that dies holding the lock leaves seq odd and the mutex owned;
 *   the next locker gets EOWNERDEAD, clears the stripe (the acceptors hold the
 *   truth, the cache only copies it), makes seq even again (and different),
 *   calls pthread_mutex_consistent and counts the recovery.
 *
 * Lease (docs/design.md §5.1, §8): view.lease_ns is when the daemon's
 *   lease ends, in ns of CLOCK_MONOTONIC (the same clock on every process
 *   of the host), UINT64_MAX for a lone voter, 0 for none. The daemon
 *   stores it (relaxed, one aligned 64-bit word) whenever a heartbeat moves
 *   it, less the resolution of CLOCK_MONOTONIC_COARSE (one tick: how far
 *   that clock lags CLOCK_MONOTONIC). A cached read returns a value only
 *   while clock_gettime(CLOCK_MONOTONIC_COARSE) is below it; past it, it asks the daemon, which
 *   answers no quorum, or reads from a quorum (a stale read on request
 *   returns the cached value marked stale). The reader checks the clock
 *   itself, so a daemon that is stopped or starved cannot extend its lease.
 *
 * Attach (on the control socket, SOCK_SEQPACKET, framed by pkv-ctl.h):
 *   request:  a struct ctl_req with op = CTL_OP_ATTACH and no payload
 *   reply:    struct pkv_shm_attach_rep (a struct ctl_rep followed by the
 *             attach payload) in one packet; when status is 0 the
 *             packet carries SCM_RIGHTS with three fds: [0] the segment's
 *             memfd (map it PROT_READ: nothing else is allowed), [1] the
 *             client's doorbell eventfd, [2] the memfd of the client's
 *             area (area_size bytes, read-write). On error: no fds, len = 0.
 *   The client keeps the connection open: the daemon's end closing (POLLHUP)
 *   is how a client notices a daemon that died without a clean exit.
 */
#ifndef PKV_SHM_H
#define PKV_SHM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkv-ctl.h"

#define PKV_SHM_MAGIC 0x504b5653484d3031ull /* "PKVSHM01" */
#define PKV_SHM_LAYOUT_VERSION 8u

#define PKV_SHM_CLIENTS 128u	      /* attached client handles at once */
#define PKV_SHM_STRIPE_ENTRIES 64u    /* entries per stripe (a format constant) */
#define PKV_SHM_PLACE_MAX 8u /* a full stripe evicts within this many slots of the home */
#define PKV_SHM_STRIPE_LOAD 48u	      /* entries a stripe is sized for (3/4 full) */
#define PKV_SHM_CACHE_DEFAULT 32768u  /* cache entries by default: 683 stripes */
#define PKV_SHM_CACHE_MIN 1024u	      /* at least 22 stripes */
#define PKV_SHM_CACHE_MAX 4194304u    /* at most 87382 stripes */
#define PKV_SHM_HEAP_BUDGET (64u << 20) /* heap bytes of all stripes, before clamping */
#define PKV_SHM_STRIPE_HEAP_MIN 16384u	/* 256 bytes an entry on average */
#define PKV_SHM_STRIPE_HEAP_MAX 131072u /* a full entry (bucket + key + 60000) fits */
#define PKV_SHM_NODES 64u	      /* = PKV_MAX_NODES */
#define PKV_SHM_NAME_MAX 64u	      /* node name + NUL */
#define PKV_SHM_CLIENT_SIZE 131072u   /* one client's area (its own memfd) */
#define PKV_SHM_CLIENT_HEAD 256u      /* owner, request, waiting, response lines */
#define PKV_SHM_REQ_DATA (65536u - PKV_SHM_CLIENT_HEAD) /* request bytes */
#define PKV_SHM_RESP_DATA 65536u      /* response bytes */
#define PKV_SHM_READ_RETRIES 16u      /* seqlock attempts before the ring */
#define PKV_SHM_WAIT_SLICE_MS 100u    /* futex wait slice between liveness checks */
#define PKV_SHM_DEFAULT_TIMEOUT_MS 5000u /* a request with timeout 0 */

/* Request ops of the ring (pkv-ctl.h keeps these numbers free). */
enum pkv_shm_op {
	PKV_SHM_OP_PUT = 2,
	PKV_SHM_OP_GET = 3,
	PKV_SHM_OP_KEYS = 4,
};

enum pkv_shm_req_flag {
	PKV_SHM_F_NO_QUORUM_RETRY = 1u << 0, /* put/get: wait for quorum */
	PKV_SHM_F_BIND_PID = 1u << 1,	     /* put: bind_pid is set (PKV_SHM_PID_SELF: the caller) */
	PKV_SHM_F_STALE_OK = 1u << 2,	     /* get: a cached value past the lease will do */
};

/*
 * bind_pid's value for "the process that attached this slot": the daemon
 * takes the pid the kernel gave it for the attach connection (SO_PEERCRED,
 * translated into the daemon's pid namespace), never a number the client
 * computed (docs/design.md §8). Equal to PKV_PID_SELF of paxoskv.h.
 */
#define PKV_SHM_PID_SELF (-1)

enum pkv_shm_rep_flag {
	PKV_SHM_RF_MORE = 1u << 0, /* keys: more pages; ask again after the last key */
	PKV_SHM_RF_STALE = 1u << 1, /* get: answered past the daemon's lease */
};

enum pkv_shm_client_state {
	PKV_SHM_FREE = 0,
	PKV_SHM_ATTACHED = 1,
};

#define PKV_SHM_LINE 64u
#define PKV_SHM_PAGE 4096u
#define PKV_SHM_ALIGNED(n) __attribute__((aligned(n)))

/* --- header ------------------------------------------------------------- */

struct pkv_shm_header {
	uint64_t magic;	      /* PKV_SHM_MAGIC, written last at creation */
	uint64_t format;      /* pkv_shm_format() of the daemon's build */
	uint64_t size;	      /* bytes of the whole segment */
	uint64_t incarnation; /* the daemon's incarnation */
	uint32_t daemon_pid;
	uint32_t daemon_alive; /* 1 while serving; 0 after a clean exit */
	/* Cache geometry (see above); constant for the segment's life. */
	uint32_t cache_stripes;	       /* a power of two */
	uint32_t cache_stripe_entries; /* PKV_SHM_STRIPE_ENTRIES */
	uint32_t cache_heap;	       /* heap bytes per stripe, a multiple of PKV_SHM_LINE */
	uint32_t reserved0;
	uint64_t cache_locks_off; /* offset of the lock records */
	uint64_t cache_off;	  /* offset of stripe 0 */
	uint64_t cache_stride;	  /* bytes from a stripe to the next */
	uint64_t reserved1[2];

	uint32_t sleeping PKV_SHM_ALIGNED(PKV_SHM_LINE); /* doorbell wanted (daemon-written) */
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

struct pkv_shm_view {
	uint32_t seq; /* seqlock, odd while written; FUTEX_WAKEd after each change */
	uint32_t quorum;
	uint64_t quorum_epoch; /* changes on every quorum flip */
	uint32_t cluster_size;
	uint32_t self;	  /* this daemon's node id (1-based) */
	uint32_t n_nodes; /* configured nodes: names[0 .. n_nodes-1] are ids 1..n */
	uint32_t reserved0;
	uint64_t connected; /* bit id-1 set: node id is connected (self included) */
	uint64_t lease_ns;  /* outside the seqlock: see "Lease" above */
	uint64_t reserved1[2];
	char names[PKV_SHM_NODES][PKV_SHM_NAME_MAX];
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

/* Daemon counters. Single writer; a reader may see each one a little old. */
struct pkv_shm_stats {
	uint64_t requests;	 /* requests taken from client areas and handed out */
	uint64_t responses;	 /* responses delivered */
	uint64_t stale;		 /* requests or responses for a client gone or moved on */
	uint64_t malformed;	 /* requests refused with BAD_REQUEST / TOO_LARGE */
	uint64_t doorbells;	 /* times the daemon asked to be woken */
	uint64_t attached;	 /* attaches granted */
	uint64_t attach_refused; /* no free client slot */
	uint64_t reclaimed;	 /* client slots freed after the client died */
	uint64_t purged;	 /* posted requests of dead clients dropped at reclaim */
	uint64_t cache_published;
	uint64_t cache_erased;
	uint64_t cache_evicted;
	uint64_t cache_entries; /* live entries now */
	uint64_t cache_refused; /* publish of an entry too large for a stripe */
	uint64_t lock_recoveries; /* EOWNERDEAD repairs */
	uint64_t reserved[17];
};

/* --- a client's area ------------------------------------------------------ */

/*
 * One client's area, in a memfd of its own that only that client (and the
 * daemon) maps. Everything here is client-writable: the daemon reads each
 * field once, checks it, and trusts none of it.
 */
struct pkv_shm_client {
	/* Written by the daemon at attach, for the client's check; never read back. */
	uint32_t state; /* enum pkv_shm_client_state */
	uint32_t pid;
	uint32_t uid;
	uint32_t attach_gen; /* grows at every attach of this slot */

	/*
	 * Request: written by the client. req_data holds, back to back,
	 * bucket, key, value, node (binding) and dependency key.
	 * The client first moves req_tag to the new tag (so an older posted
	 * request of its own turns stale), then writes the fields and data,
	 * then stores post = tag. The daemon copies the request and
	 * re-reads req_tag afterwards: a change means a torn copy, skipped.
	 */
	uint32_t req_tag PKV_SHM_ALIGNED(PKV_SHM_LINE);
	uint8_t op;
	uint8_t flags;
	uint8_t bucket_len;
	uint8_t node_len;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t dep_len;
	uint32_t timeout_ms;
	int32_t bind_pid;
	uint64_t until; /* ms since the epoch; 0: none */
	uint64_t req_reserved[2];

	/* The client sets it before FUTEX_WAIT, so the daemon wakes only waiters. */
	uint32_t waiting PKV_SHM_ALIGNED(PKV_SHM_LINE);
	uint32_t post; /* the tag of the request committed last (client, seq_cst) */

	/* Response: written by the daemon; resp_tag last (release). */
	uint32_t resp_tag PKV_SHM_ALIGNED(PKV_SHM_LINE); /* futex word */
	int32_t status;
	uint32_t resp_flags; /* enum pkv_shm_rep_flag */
	uint32_t resp_len;
	uint64_t gen;
	uint64_t resp_until;
	int32_t resp_pid;   /* the value's pid binding, 0: none */
	uint32_t resp_node; /* the value's node binding (node id), 0: none */

	/*
	 * Separate areas: the daemon writes only resp_data, the client only
	 * req_data, so a late answer to a request the client gave up on can
	 * never tear the request it is writing now.
	 */
	uint8_t req_data[PKV_SHM_REQ_DATA] PKV_SHM_ALIGNED(PKV_SHM_LINE);
	uint8_t resp_data[PKV_SHM_RESP_DATA];
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

/* --- learner cache -------------------------------------------------------- */

/*
 * An entry is two cache lines. Its first line holds the tag (the full hash,
 * 0: a free slot), the lengths, gen, until and the first 24 inline bytes, so
 * a lookup checks a slot with one line. bucket, key and value lie in that
 * order, each from an 8-byte boundary (pkv_shm_key_at, pkv_shm_value_at),
 * either in `inl` (when their span fits PKV_SHM_INLINE bytes: off =
 * PKV_SHM_OFF_INLINE) or in the stripe heap at `off`, a multiple of 8. So a
 * reader compares and copies them as whole aligned words, each read once:
 * with the bytes back to back, every word of a key or value off an 8-byte
 * boundary was two loads joined by shifts, more than a quarter of a hot
 * read's instructions (docs/design.md §8). The padding (zeros) is masked off
 * in a compare, and a copy's bytes past the value's length are the
 * reader's to ignore. Inline, a hit reads
 * the stripe's seq word and the entry, whose addresses all follow from the
 * hash, so their cache misses overlap; through the heap it waits for one
 * more miss after reading `off`.
 */
#define PKV_SHM_ENTRY_SIZE 128u
#define PKV_SHM_OFF_INLINE 0xffffffffu
struct pkv_shm_entry {
	uint64_t tag; /* pkv_shm_hash of (bucket, key); 0: free */
	uint64_t gen;
	uint64_t until; /* ms since the epoch; 0: none */
	uint32_t off;	/* in the stripe heap, or PKV_SHM_OFF_INLINE */
	uint32_t stamp; /* publish order in the stripe, for eviction (writer only) */
	uint16_t value_len; /* <= PKV_SHM_VALUE_MAX */
	uint16_t key_len;
	uint8_t bucket_len;
	uint8_t pad[3];
	uint8_t inl[PKV_SHM_ENTRY_SIZE - 40];
} PKV_SHM_ALIGNED(PKV_SHM_LINE);
#define PKV_SHM_INLINE (PKV_SHM_ENTRY_SIZE - 40u) /* 88 bytes: the span of bucket, key, value */
#define PKV_SHM_VALUE_MAX 60000u /* = PKV_VALUE_MAX: value_len fits 16 bits */

/* Where an entry's key and value start in its bytes, and the bytes it spans. */
static inline uint32_t pkv_shm_pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static inline uint32_t pkv_shm_key_at(uint32_t bucket_len)
{
	return pkv_shm_pad8(bucket_len);
}

static inline uint32_t pkv_shm_value_at(uint32_t bucket_len, uint32_t key_len)
{
	return pkv_shm_pad8(bucket_len) + pkv_shm_pad8(key_len);
}

static inline uint32_t pkv_shm_entry_span(uint32_t bucket_len, uint32_t key_len,
					  uint32_t value_len)
{
	return pkv_shm_value_at(bucket_len, key_len) + pkv_shm_pad8(value_len);
}

/*
 * Writers only (the daemon), one per stripe, packed apart from the stripes:
 * creating the segment initialises every mutex, and keeping them here means
 * that touches stripes x 128 bytes, not a page of every stripe.
 */
struct pkv_shm_stripe_lock {
	pthread_mutex_t lock; /* robust, process-shared */
	uint32_t suspect;     /* set while a dead writer's stripe is repaired */
	uint32_t n_used;
	uint32_t heap_used; /* bump pointer into the heap */
	uint32_t max_disp;  /* no entry sits farther than this from its home slot */
	uint32_t next_stamp; /* the stamp of the next entry published (wraps) */
	uint32_t reserved1;
	uint64_t recoveries;
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

/*
 * What readers scan. An entry goes to the first free slot from its home slot
 * (pkv_shm_home_of) onwards, wrapping; in a full stripe, the oldest of the
 * PKV_SHM_PLACE_MAX slots from its home is evicted for it (the daemon's
 * rule; readers scan the whole stripe, so it can change without a new
 * layout). Readers scan in the same order, so
 * a lookup whose entry sits at its home slot reads the stripe's seq word
 * (pkv_shm_stripe_seq_at, packed apart) and the entry's two lines (inline
 * data), all at addresses known from the hash. The heap (cache_heap bytes)
 * is in the heaps region, at pkv_shm_stripe_heap().
 */
struct pkv_shm_stripe {
	struct pkv_shm_entry ent[PKV_SHM_STRIPE_ENTRIES];
} PKV_SHM_ALIGNED(PKV_SHM_PAGE);

/* --- the whole segment ---------------------------------------------------- */

struct pkv_shm_layout {
	struct pkv_shm_header hdr;
	struct pkv_shm_view view;
	struct pkv_shm_stats stats PKV_SHM_ALIGNED(PKV_SHM_LINE);
	/* Then, from sizeof(struct pkv_shm_layout), the cache. Clients map all of it read-only. */
} PKV_SHM_ALIGNED(PKV_SHM_PAGE);

_Static_assert(sizeof(struct pkv_shm_client) == PKV_SHM_CLIENT_SIZE, "client slot size");
_Static_assert(offsetof(struct pkv_shm_client, req_data) == PKV_SHM_CLIENT_HEAD,
	       "client slot head");
_Static_assert(PKV_SHM_REQ_DATA >= 255u + 1024u + 60000u + 255u + 1024u,
	       "a full request fits the request area");
_Static_assert(PKV_SHM_RESP_DATA >= 60000u, "a full value fits the response area");
_Static_assert(PKV_SHM_STRIPE_HEAP_MAX >= 256u + 1024u + 60000u,
	       "a full entry fits the largest stripe heap");
_Static_assert(PKV_SHM_STRIPE_HEAP_MIN % PKV_SHM_LINE == 0 &&
		       PKV_SHM_STRIPE_HEAP_MAX % PKV_SHM_LINE == 0,
	       "heaps keep stripes on cache lines");
_Static_assert(sizeof(struct pkv_shm_layout) % PKV_SHM_PAGE == 0,
	       "the cache starts on a page");
_Static_assert(PKV_SHM_CLIENT_SIZE % PKV_SHM_PAGE == 0, "a client's area is whole pages");
_Static_assert(sizeof(struct pkv_shm_stripe_lock) == 2 * PKV_SHM_LINE, "lock record size");
_Static_assert(sizeof(struct pkv_shm_entry) == PKV_SHM_ENTRY_SIZE &&
		       offsetof(struct pkv_shm_entry, inl) + PKV_SHM_INLINE == PKV_SHM_ENTRY_SIZE,
	       "entry: two lines, the inline bytes fill the rest");
_Static_assert(offsetof(struct pkv_shm_entry, inl) <= PKV_SHM_LINE,
	       "tag, lengths, gen and until in the entry's first line");
_Static_assert(offsetof(struct pkv_shm_entry, inl) % 8u == 0 && PKV_SHM_INLINE % 8u == 0,
	       "inline bytes start and end on a word");
_Static_assert(sizeof(struct pkv_shm_stripe) == PKV_SHM_STRIPE_ENTRIES * PKV_SHM_ENTRY_SIZE &&
		       sizeof(struct pkv_shm_stripe) % PKV_SHM_PAGE == 0,
	       "a stripe's entries fill whole pages");
_Static_assert(PKV_SHM_VALUE_MAX <= UINT16_MAX, "value_len fits 16 bits");
_Static_assert(PKV_SHM_INLINE < PKV_SHM_STRIPE_HEAP_MIN, "heap offsets never look inline");
_Static_assert((PKV_SHM_STRIPE_ENTRIES & (PKV_SHM_STRIPE_ENTRIES - 1)) == 0,
	       "entries per stripe: a power of two");
_Static_assert(PKV_SHM_STRIPE_LOAD <= PKV_SHM_STRIPE_ENTRIES, "a stripe holds its load");
_Static_assert((uint64_t)PKV_SHM_CACHE_MAX * PKV_SHM_ENTRY_SIZE < (1ull << 40),
	       "the segment's size fits the offsets");

/*
 * The format word: layout version and every size that the two sides must
 * agree on, including the C library's pthread_mutex_t.
 */
static inline uint64_t pkv_shm_format(void)
{
	static const uint64_t parts[] = {
		PKV_SHM_LAYOUT_VERSION,
		sizeof(struct pkv_shm_layout),
		sizeof(struct pkv_shm_header),
		sizeof(struct pkv_shm_view),
		sizeof(struct pkv_shm_stats),
		sizeof(struct pkv_shm_client),
		sizeof(struct pkv_shm_stripe_lock),
		sizeof(struct pkv_shm_stripe),
		sizeof(struct pkv_shm_entry),
		sizeof(pthread_mutex_t),
		PKV_SHM_CLIENTS,
		PKV_SHM_STRIPE_ENTRIES,
		PKV_SHM_STRIPE_LOAD,
		offsetof(struct pkv_shm_client, post),
		offsetof(struct pkv_shm_header, cache_stripes),
	};
	uint64_t f = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		f ^= parts[i];
		f *= 0x100000001b3ull;
	}
	return f;
}

static inline uint64_t pkv_shm_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

static inline uint64_t pkv_shm_rd64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t pkv_shm_rd32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * n bytes into h, eight at a time: a lookup hashes on every call, and a
 * byte at a time made a 21-byte key cost 21 dependent multiplies. The tail
 * (1 to 8 bytes) is read as two overlapping words, so no byte outside
 * [p, p + n) is read.
 */
static inline uint64_t pkv_shm_hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	for (; n > 8; n -= 8, p += 8)
		h = pkv_shm_mix(h, pkv_shm_rd64(p));
	uint64_t w = 0;
	if (n >= 4)
		w = pkv_shm_rd32(p) | pkv_shm_rd32(p + n - 4) << 32;
	else if (n)
		w = p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16;
	return pkv_shm_mix(h, w);
}

/*
 * Cache key hash over (bucket, key); never 0 (0 marks a free entry). The
 * stripe is taken from the high half, the home slot from low bits, the
 * stored tag is the whole word. Both lengths go into the seed, so no
 * (bucket, key) split collides by construction; a reader compares bucket
 * and key anyway.
 */
static inline uint64_t pkv_shm_hash(const void *bucket, size_t blen, const void *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)blen << 32 | klen);
	h = pkv_shm_hash_bytes(h, (const uint8_t *)bucket, blen);
	h = pkv_shm_hash_bytes(h, (const uint8_t *)key, klen);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h | 1u;
}

/* The stripe of hash h among `stripes` (any count up to 2^32). */
static inline unsigned pkv_shm_stripe_of(uint64_t h, uint32_t stripes)
{
	return (unsigned)(((h >> 32) * stripes) >> 32);
}

/* The slot an entry of hash h tries first (bits apart from the stripe's). */
static inline unsigned pkv_shm_home_of(uint64_t h)
{
	return (unsigned)(h >> 1) & (PKV_SHM_STRIPE_ENTRIES - 1u);
}

/* --- cache geometry -------------------------------------------------------- */

struct pkv_shm_cache_geom {
	uint32_t stripes;   /* entries / PKV_SHM_STRIPE_LOAD, rounded up */
	uint32_t heap;	    /* heap bytes per stripe */
	uint64_t locks_off; /* = sizeof(struct pkv_shm_layout) */
	uint64_t seq_off;   /* the seqlock words, on a page */
	uint64_t off;	    /* stripe 0, on a page */
	uint64_t stride;    /* sizeof(struct pkv_shm_stripe) */
	uint64_t heap_off;  /* stripe 0's heap, on a page */
	uint64_t size;	    /* the whole segment */
};

static inline uint64_t pkv_shm_page_up(uint64_t n)
{
	return (n + PKV_SHM_PAGE - 1) / PKV_SHM_PAGE * PKV_SHM_PAGE;
}

/*
 * Offsets and sizes of a cache of `stripes` stripes with `heap` bytes each.
 * Returns 0, or -1 if the pair is not one a daemon would choose (stripes out
 * of range, heap out of range or not a multiple of a line).
 * The client checks the header against it before it reads any stripe.
 */
static inline int pkv_shm_cache_layout(uint32_t stripes, uint32_t heap,
				       struct pkv_shm_cache_geom *g)
{
	const uint32_t lo = (PKV_SHM_CACHE_MIN + PKV_SHM_STRIPE_LOAD - 1) / PKV_SHM_STRIPE_LOAD;
	const uint32_t hi = (PKV_SHM_CACHE_MAX + PKV_SHM_STRIPE_LOAD - 1) / PKV_SHM_STRIPE_LOAD;
	if (stripes < lo || stripes > hi || heap < PKV_SHM_STRIPE_HEAP_MIN ||
	    heap > PKV_SHM_STRIPE_HEAP_MAX || heap % PKV_SHM_LINE)
		return -1;
	g->stripes = stripes;
	g->heap = heap;
	g->locks_off = sizeof(struct pkv_shm_layout);
	g->seq_off = g->locks_off +
		     pkv_shm_page_up((uint64_t)stripes * sizeof(struct pkv_shm_stripe_lock));
	g->off = g->seq_off + pkv_shm_page_up((uint64_t)stripes * sizeof(uint32_t));
	g->stride = sizeof(struct pkv_shm_stripe);
	g->heap_off = g->off + (uint64_t)stripes * g->stride;
	g->size = pkv_shm_page_up(g->heap_off + (uint64_t)stripes * heap);
	return 0;
}

/*
 * The daemon's choice for a cache of `entries` entries (see "Cache geometry"
 * above): stripes = entries / PKV_SHM_STRIPE_LOAD rounded up, heap
 * PKV_SHM_HEAP_BUDGET / stripes rounded down to a line and clamped.
 * Returns 0, or -1 if entries is outside [PKV_SHM_CACHE_MIN, PKV_SHM_CACHE_MAX].
 */
static inline int pkv_shm_cache_geom_for(uint32_t entries, struct pkv_shm_cache_geom *g)
{
	if (entries < PKV_SHM_CACHE_MIN || entries > PKV_SHM_CACHE_MAX)
		return -1;
	uint32_t stripes = (entries + PKV_SHM_STRIPE_LOAD - 1) / PKV_SHM_STRIPE_LOAD;
	uint32_t heap = PKV_SHM_HEAP_BUDGET / stripes / PKV_SHM_LINE * PKV_SHM_LINE;
	if (heap < PKV_SHM_STRIPE_HEAP_MIN)
		heap = PKV_SHM_STRIPE_HEAP_MIN;
	if (heap > PKV_SHM_STRIPE_HEAP_MAX)
		heap = PKV_SHM_STRIPE_HEAP_MAX;
	return pkv_shm_cache_layout(stripes, heap, g);
}

static inline struct pkv_shm_stripe *pkv_shm_stripe_at(const void *seg,
						       const struct pkv_shm_cache_geom *g,
						       unsigned i)
{
	return (struct pkv_shm_stripe *)((uint8_t *)(uintptr_t)seg + g->off +
					 (uint64_t)i * sizeof(struct pkv_shm_stripe));
}

/* Stripe i's seqlock word: odd while written. */
static inline uint32_t *pkv_shm_stripe_seq_at(const void *seg, const struct pkv_shm_cache_geom *g,
					      unsigned i)
{
	return (uint32_t *)((uint8_t *)(uintptr_t)seg + g->seq_off) + i;
}

static inline uint8_t *pkv_shm_stripe_heap(const void *seg, const struct pkv_shm_cache_geom *g,
					   unsigned i)
{
	return (uint8_t *)(uintptr_t)seg + g->heap_off + (uint64_t)i * g->heap;
}

static inline struct pkv_shm_stripe_lock *pkv_shm_stripe_lock_at(const void *seg,
								 const struct pkv_shm_cache_geom *g,
								 unsigned i)
{
	return (struct pkv_shm_stripe_lock *)((uint8_t *)(uintptr_t)seg + g->locks_off) + i;
}

/* --- attach messages (control socket) ------------------------------------ */

/*
 * The request is a plain struct ctl_req (op CTL_OP_ATTACH, every other field
 * 0). The reply is a struct ctl_rep, then the attach payload.
 */
struct pkv_shm_attach_rep {
	/* magic CTL_MAGIC; status 0, or enum pkv_status / -errno; gen 0;
	 * len PKV_SHM_ATTACH_PAYLOAD, or 0 on error; flags 0 */
	struct ctl_rep hdr;
	/* payload */
	uint64_t shm_magic;  /* PKV_SHM_MAGIC */
	uint64_t format;     /* pkv_shm_format() */
	uint64_t size;	     /* bytes to map */
	uint64_t incarnation;
	uint32_t slot; /* the client slot granted */
	uint32_t attach_gen;
	uint64_t area_size; /* bytes of the client's area: PKV_SHM_CLIENT_SIZE */
};

#define PKV_SHM_ATTACH_HDR sizeof(struct ctl_rep)
#define PKV_SHM_ATTACH_PAYLOAD (sizeof(struct pkv_shm_attach_rep) - PKV_SHM_ATTACH_HDR)

/* --- atomics -------------------------------------------------------------- */

#define pkv_shm_load_acq(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pkv_shm_load_rlx(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pkv_shm_store_rel(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define pkv_shm_store_rlx(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/*
 * Byte copies to and from memory that another process may write at the same
 * time: the seqlocked cache and view, a client's request and response areas.
 * The seqlock or the tag check afterwards throws a torn copy away, but a
 * plain memcpy racing a store is still a data race (undefined in C11, and
 * reported by ThreadSanitizer). These use relaxed atomic loads and stores,
 * aligned 8-byte words on the shared side and single bytes at its unaligned
 * ends; a relaxed access is a plain mov/ldr on x86-64 and ARM64.
 */
static inline void pkv_shm_copy_out(void *dst, const void *shared, size_t n)
{
	uint8_t *d = (uint8_t *)dst;
	const uint8_t *s = (const uint8_t *)shared;
	for (; n && ((uintptr_t)s & 7u); n--)
		*d++ = __atomic_load_n(s++, __ATOMIC_RELAXED);
	for (; n >= 8; n -= 8, s += 8, d += 8) {
		uint64_t w = __atomic_load_n((const uint64_t *)(const void *)s, __ATOMIC_RELAXED);
		__builtin_memcpy(d, &w, 8);
	}
	for (; n; n--)
		*d++ = __atomic_load_n(s++, __ATOMIC_RELAXED);
}

static inline void pkv_shm_copy_in(void *shared, const void *src, size_t n)
{
	uint8_t *d = (uint8_t *)shared;
	const uint8_t *s = (const uint8_t *)src;
	for (; n && ((uintptr_t)d & 7u); n--)
		__atomic_store_n(d++, *s++, __ATOMIC_RELAXED);
	for (; n >= 8; n -= 8, s += 8, d += 8) {
		uint64_t w;
		__builtin_memcpy(&w, s, 8);
		__atomic_store_n((uint64_t *)(void *)d, w, __ATOMIC_RELAXED);
	}
	for (; n; n--)
		__atomic_store_n(d++, *s++, __ATOMIC_RELAXED);
}

#endif
