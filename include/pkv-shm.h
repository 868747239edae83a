/* SPDX-License-Identifier: MIT */
/*
 * pkv-shm.h — the shared-memory segment between pkvd and its local clients.
 *
 * Shared by the daemon (daemon/shm.c), the client library (libclient/) and
 * the tools. Not installed: the layout is private to one build of PaxosKV,
 * and a client refuses a segment whose format word differs from its own.
 *
 * One segment per daemon incarnation: a memfd (sealed against shrinking and
 * growing, so no client can make the daemon fault) mapped MAP_SHARED by the
 * daemon and every attached client, plus a doorbell eventfd. Both are passed
 * at attach over the control socket with SCM_RIGHTS (see "Attach" below).
 *
 * Layout (struct pkv_shm_layout, every region aligned to a cache line, the
 * regions clients must not write aligned to pages):
 *
 *   header    identity: magic (written last), format, size, incarnation,
 *             daemon_alive; the doorbell word; ring head and tail
 *   view      cluster view under a seqlock: quorum, quorum epoch,
 *             cluster_size, self, connected bitmask, node names
 *   stats     daemon counters (single writer, relaxed 64-bit stores)
 *   ring      PKV_SHM_RING_SLOTS request descriptors, one cache line each
 *   clients   PKV_SHM_CLIENTS client slots of 128 KiB: owner, request and
 *             response fields, a request area that holds a full request
 *             (bucket + key + value + node + dependency key) and a response
 *             area that holds a full value or a page of keys
 *   stripes   the learner cache: PKV_SHM_STRIPES independent stripes, each
 *             with a robust mutex (writers), a seqlock word (readers),
 *             PKV_SHM_STRIPE_ENTRIES entries and a private data heap
 *
 * Who writes what:
 *   daemon:  header, view, stats, client owner + response fields, ring head,
 *            ring words back to empty, every stripe
 *   client:  its own slot's request fields, request area and `waiting`
 *            word; ring tail and ring words
 *            (empty → full, by CAS); the doorbell word (1 → 0, by exchange)
 *   nobody else writes anything. A client reads the cache and the view in
 *   place and never writes them: reads cost no syscall and no shared write.
 *
 * All shared words are accessed with the GCC/Clang __atomic builtins through
 * the helpers below; the structures hold plain integers so that the layout
 * is the same for every compiler and language mode.
 *
 * Ring protocol (multi-producer, single consumer):
 *   A request is written entirely into the client's own slot first (new
 *   req_tag, release fence, fields, request area). Then one CAS publishes it: the ring
 *   word at position `tail` goes from EMPTY(pos) to FULL(pos, client, tag),
 *   and the producer (or any other producer that sees the slot full) moves
 *   `tail` on with a CAS. Claiming a ring slot and committing the request are
 *   the same atomic step, so a client killed at any instant leaves either
 *   nothing in the ring (killed before the CAS: its half-written slot is never
 *   read, and the daemon frees it when the pidfd fires) or a complete
 *   descriptor (killed after: the daemon serves or skips it; reclaim purges
 *   it). No dead producer can leave a claimed-but-unwritten ring slot.
 *   The consumer takes FULL(head) words in order and writes EMPTY(head + N)
 *   back, which frees the slot for the producer one lap later.
 *   The daemon checks every popped descriptor against the client slot: the
 *   slot must be attached and its req_tag must still match, else the entry is
 *   stale (the client timed out and moved on, or died) and is skipped.
 *   Positions are 64-bit; a ring word keeps the low 32 bits, so a producer
 *   would have to stall for 2^32 requests to be confused by wrap-around.
 *
 * Response: the daemon fills status, gen, until, resp_len, resp_flags and the
 * response area, then stores resp_tag = req_tag with release, then, if the client
 * set `waiting`, FUTEX_WAKEs resp_tag. The client waits with FUTEX_WAIT
 * (shared, not private: the word is in a shared mapping) in slices of at most
 * PKV_SHM_WAIT_SLICE_MS, checking in between that the daemon is still alive,
 * so a dead daemon costs a bounded wait, never a hang.
 *
 * Doorbell: before blocking, the daemon sets `sleeping` = 1 and re-checks the
 * ring (both with seq_cst order). A client that has published a request reads
 * `sleeping` (seq_cst); if it is 1 the client exchanges it to 0 and, if it won
 * the exchange, writes 1 to the eventfd. A busy daemon thus takes requests
 * without a single syscall on either side.
 *
 * Cache protocol (per stripe seqlock + robust mutex):
 *   writer: lock (robust, process-shared) → seq++ (odd) → release fence →
 *           modify entries and heap → seq++ (even, release) → unlock.
 *   reader: s1 = seq (acquire); odd → retry; scan the stripe's hash array,
 *           compare bucket and key, copy the value out (every offset and
 *           length bounds-checked first: the reader may see a torn entry);
 *           acquire fence; s2 = seq; s1 != s2 → retry. After
 *           PKV_SHM_READ_RETRIES failed attempts the reader gives up and asks
 *           the daemon through the ring, so it never waits on a writer, live
 *           or dead.
 *   A writer that dies holding the lock leaves seq odd and the mutex owned;
 *   the next locker gets EOWNERDEAD, clears the stripe (the acceptors hold the
 *   truth, the cache only copies it), makes seq even again (and different),
 *   calls pthread_mutex_consistent and counts the recovery.
 *
 * Attach (on the control socket, SOCK_SEQPACKET, framed like ctl.h):
 *   request:  struct pkv_shm_attach_req (the layout of struct ctl_req with
 *             op = PKV_SHM_CTL_OP_ATTACH and no payload)
 *   reply:    struct pkv_shm_attach_rep (the layout of struct ctl_rep followed
 *             by the attach payload) in one packet; when status is 0 the
 *             packet carries SCM_RIGHTS with two fds: [0] the memfd,
 *             [1] the doorbell eventfd. On error: no fds, len = 0.
 *   The client keeps the connection open: the daemon's end closing (POLLHUP)
 *   is how a client notices a daemon that died without a clean exit.
 */
#ifndef PKV_SHM_H
#define PKV_SHM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKV_SHM_MAGIC 0x504b5653484d3031ull /* "PKVSHM01" */
#define PKV_SHM_LAYOUT_VERSION 2u

#define PKV_SHM_CLIENTS 128u	      /* attached client handles at once */
#define PKV_SHM_RING_SLOTS 256u	      /* power of two, >= PKV_SHM_CLIENTS */
#define PKV_SHM_STRIPES 512u	      /* cache stripes (locks, seqlocks): 32768 entries */
#define PKV_SHM_STRIPE_ENTRIES 64u    /* entries per stripe */
#define PKV_SHM_STRIPE_HEAP 131072u   /* bytes of bucket+key+value per stripe */
#define PKV_SHM_NODES 64u	      /* = PKV_MAX_NODES */
#define PKV_SHM_NAME_MAX 64u	      /* node name + NUL */
#define PKV_SHM_CLIENT_SIZE 131072u   /* one client slot */
#define PKV_SHM_CLIENT_HEAD 256u      /* owner, request, waiting, response lines */
#define PKV_SHM_REQ_DATA (65536u - PKV_SHM_CLIENT_HEAD) /* request bytes */
#define PKV_SHM_RESP_DATA 65536u      /* response bytes */
#define PKV_SHM_READ_RETRIES 16u      /* seqlock attempts before the ring */
#define PKV_SHM_WAIT_SLICE_MS 100u    /* futex wait slice between liveness checks */
#define PKV_SHM_DEFAULT_TIMEOUT_MS 5000u /* a request with timeout 0 */

/* The control-socket op for attach (= ctl.h's CTL_OP_ATTACH). */
#define PKV_SHM_CTL_MAGIC 0x504b5643u /* = CTL_MAGIC */
#define PKV_SHM_CTL_OP_ATTACH 6u

/* Request ops of the ring (ctl.h keeps these numbers free). */
enum pkv_shm_op {
	PKV_SHM_OP_PUT = 2,
	PKV_SHM_OP_GET = 3,
	PKV_SHM_OP_KEYS = 4,
};

enum pkv_shm_req_flag {
	PKV_SHM_F_NO_QUORUM_RETRY = 1u << 0, /* put/get: wait for quorum */
	PKV_SHM_F_BIND_PID = 1u << 1,	     /* put: bind_pid is set */
};

enum pkv_shm_rep_flag {
	PKV_SHM_RF_MORE = 1u << 0, /* keys: more pages; ask again after the last key */
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
	uint64_t reserved0[4];

	uint32_t sleeping PKV_SHM_ALIGNED(PKV_SHM_LINE); /* doorbell wanted */
	uint64_t tail PKV_SHM_ALIGNED(PKV_SHM_LINE);	   /* ring: next position to fill */
	uint64_t head PKV_SHM_ALIGNED(PKV_SHM_LINE);	   /* ring: next position to take */
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
	uint64_t reserved1[3];
	char names[PKV_SHM_NODES][PKV_SHM_NAME_MAX];
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

/* Daemon counters. Single writer; a reader may see each one a little old. */
struct pkv_shm_stats {
	uint64_t requests;	 /* descriptors taken from the ring and handed out */
	uint64_t responses;	 /* responses delivered */
	uint64_t stale;		 /* descriptors or responses for a client gone or moved on */
	uint64_t malformed;	 /* requests refused with BAD_REQUEST / TOO_LARGE */
	uint64_t doorbells;	 /* times the daemon asked to be woken */
	uint64_t attached;	 /* attaches granted */
	uint64_t attach_refused; /* no free client slot */
	uint64_t reclaimed;	 /* client slots freed after the client died */
	uint64_t purged;	 /* ring entries of dead clients dropped at reclaim */
	uint64_t cache_published;
	uint64_t cache_erased;
	uint64_t cache_evicted;
	uint64_t cache_entries; /* live entries now */
	uint64_t cache_refused; /* publish of an entry too large for a stripe */
	uint64_t lock_recoveries; /* EOWNERDEAD repairs */
	uint64_t reserved[17];
};

/* --- ring ---------------------------------------------------------------- */

struct pkv_shm_ring_slot {
	uint64_t word;
	uint8_t pad[PKV_SHM_LINE - sizeof(uint64_t)];
};

#define PKV_SHM_RW_FULL (1ull << 31)
#define PKV_SHM_RW_EMPTY(pos) ((uint64_t)(uint32_t)(pos) << 32)
#define PKV_SHM_RW_MAKE(pos, client, tag)                                                          \
	(PKV_SHM_RW_EMPTY(pos) | PKV_SHM_RW_FULL | ((uint64_t)((client) & 0x7fffu) << 16) |        \
	 (uint64_t)((tag) & 0xffffu))
#define PKV_SHM_RW_POS(w) ((uint32_t)((w) >> 32))
#define PKV_SHM_RW_IS_FULL(w) (((w) & PKV_SHM_RW_FULL) != 0)
#define PKV_SHM_RW_CLIENT(w) ((uint32_t)((w) >> 16) & 0x7fffu)
#define PKV_SHM_RW_TAG(w) ((uint32_t)(w) & 0xffffu)
#define PKV_SHM_RW_NO_CLIENT 0x7fffu /* a purged entry: skip it */

/* --- client slots --------------------------------------------------------- */

struct pkv_shm_client {
	/* Owner: written by the daemon at attach and reclaim. */
	uint32_t state; /* enum pkv_shm_client_state */
	uint32_t pid;
	uint32_t uid;
	uint32_t attach_gen; /* grows at every attach of this slot */

	/*
	 * Request: written by the client. req_data holds, back to back,
	 * bucket, key, value, node (binding) and dependency key.
	 * The client first moves req_tag to the new tag (so any older ring
	 * entry of its own turns stale), then writes the fields and data,
	 * then publishes the ring entry. The daemon copies the request and
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

struct pkv_shm_entry {
	uint64_t gen;
	uint64_t until; /* ms since the epoch; 0: none */
	uint64_t stamp; /* publish order, for eviction */
	uint32_t off;	/* bucket, key, value back to back in the stripe heap */
	uint32_t value_len;
	uint16_t key_len;
	uint8_t bucket_len;
	uint8_t reserved[5];
};

struct pkv_shm_stripe {
	/* Writers only (the daemon). */
	pthread_mutex_t lock; /* robust, process-shared */
	uint32_t suspect;     /* set while a dead writer's stripe is repaired */
	uint32_t n_used;
	uint32_t heap_used; /* bump pointer into heap */
	uint32_t reserved0;
	uint64_t next_stamp;
	uint64_t recoveries;

	/* Readers: seq, then the hash array they scan, then entries and heap. */
	uint32_t seq PKV_SHM_ALIGNED(PKV_SHM_LINE);
	uint64_t hash[PKV_SHM_STRIPE_ENTRIES] PKV_SHM_ALIGNED(PKV_SHM_LINE); /* 0: free */
	struct pkv_shm_entry ent[PKV_SHM_STRIPE_ENTRIES];
	uint8_t heap[PKV_SHM_STRIPE_HEAP] PKV_SHM_ALIGNED(PKV_SHM_LINE);
} PKV_SHM_ALIGNED(PKV_SHM_LINE);

/* --- the whole segment ---------------------------------------------------- */

struct pkv_shm_layout {
	struct pkv_shm_header hdr;
	struct pkv_shm_view view;
	struct pkv_shm_stats stats PKV_SHM_ALIGNED(PKV_SHM_LINE);
	struct pkv_shm_ring_slot ring[PKV_SHM_RING_SLOTS] PKV_SHM_ALIGNED(PKV_SHM_PAGE);
	struct pkv_shm_client clients[PKV_SHM_CLIENTS] PKV_SHM_ALIGNED(PKV_SHM_PAGE);
	/* Clients map this part read-only. */
	struct pkv_shm_stripe stripes[PKV_SHM_STRIPES] PKV_SHM_ALIGNED(PKV_SHM_PAGE);
} PKV_SHM_ALIGNED(PKV_SHM_PAGE);

_Static_assert((PKV_SHM_RING_SLOTS & (PKV_SHM_RING_SLOTS - 1)) == 0,
	       "ring slots: a power of two");
_Static_assert(PKV_SHM_RING_SLOTS >= PKV_SHM_CLIENTS, "ring holds a request per client");
_Static_assert(PKV_SHM_CLIENTS < PKV_SHM_RW_NO_CLIENT, "client index fits a ring word");
_Static_assert(sizeof(struct pkv_shm_client) == PKV_SHM_CLIENT_SIZE, "client slot size");
_Static_assert(offsetof(struct pkv_shm_client, req_data) == PKV_SHM_CLIENT_HEAD,
	       "client slot head");
_Static_assert(PKV_SHM_REQ_DATA >= 255u + 1024u + 60000u + 255u + 1024u,
	       "a full request fits the request area");
_Static_assert(PKV_SHM_RESP_DATA >= 60000u, "a full value fits the response area");
_Static_assert(PKV_SHM_STRIPE_HEAP >= 255u + 1024u + 60000u,
	       "a full entry fits a stripe heap");
_Static_assert(offsetof(struct pkv_shm_layout, stripes) % PKV_SHM_PAGE == 0,
	       "the read-only part starts on a page");

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
		sizeof(struct pkv_shm_stripe),
		sizeof(struct pkv_shm_entry),
		sizeof(pthread_mutex_t),
		PKV_SHM_CLIENTS,
		PKV_SHM_RING_SLOTS,
		PKV_SHM_STRIPES,
		PKV_SHM_STRIPE_ENTRIES,
		PKV_SHM_STRIPE_HEAP,
		offsetof(struct pkv_shm_layout, clients),
		offsetof(struct pkv_shm_layout, stripes),
	};
	uint64_t f = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		f ^= parts[i];
		f *= 0x100000001b3ull;
	}
	return f;
}

/*
 * Cache key hash over (bucket, key); never 0 (0 marks a free entry). The
 * stripe is taken from the high bits, the stored tag is the whole word.
 */
static inline uint64_t pkv_shm_hash(const void *bucket, size_t blen, const void *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const uint8_t *p = (const uint8_t *)bucket;
	for (size_t i = 0; i < blen; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h = (h ^ 0xffu) * 0x100000001b3ull; /* no (bucket, key) split collides */
	p = (const uint8_t *)key;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h | 1u;
}

static inline unsigned pkv_shm_stripe_of(uint64_t h)
{
	return (unsigned)((h >> 40) % PKV_SHM_STRIPES);
}

/* --- attach messages (control socket) ------------------------------------ */

/* The layout of ctl.h's struct ctl_req; daemon/shm.c asserts it. */
struct pkv_shm_attach_req {
	uint32_t magic; /* PKV_SHM_CTL_MAGIC */
	uint8_t op;	/* PKV_SHM_CTL_OP_ATTACH */
	uint8_t flags;	/* 0 */
	uint8_t bucket_len; /* 0 */
	uint8_t reserved;
	uint32_t key_len;    /* 0 */
	uint32_t value_len;  /* 0 */
	uint32_t timeout_ms; /* 0 */
};

/* The layout of ctl.h's struct ctl_rep, then the attach payload. */
struct pkv_shm_attach_rep {
	uint32_t magic; /* PKV_SHM_CTL_MAGIC */
	int32_t status; /* 0, or enum pkv_status / -errno */
	uint64_t gen;	/* 0 */
	uint32_t len;	/* bytes after the ctl_rep part: sizeof(rep) - 24, or 0 on error */
	uint32_t flags; /* 0 */
	/* payload */
	uint64_t shm_magic;  /* PKV_SHM_MAGIC */
	uint64_t format;     /* pkv_shm_format() */
	uint64_t size;	     /* bytes to map */
	uint64_t incarnation;
	uint32_t slot; /* the client slot granted */
	uint32_t attach_gen;
};

#define PKV_SHM_ATTACH_HDR 24u /* sizeof(struct ctl_rep) */
#define PKV_SHM_ATTACH_PAYLOAD (sizeof(struct pkv_shm_attach_rep) - PKV_SHM_ATTACH_HDR)

/* --- atomics -------------------------------------------------------------- */

#define pkv_shm_load_acq(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pkv_shm_load_rlx(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pkv_shm_store_rel(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define pkv_shm_store_rlx(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#endif
