/* SPDX-License-Identifier: MIT */
/*
 * paxos-internal.h — what the files of the paxos core share: struct paxos,
 * the requests and lifetime records it holds, a few small helpers, and the
 * functions one role calls in another. Only daemon/paxos*.c include it; the
 * rest of the daemon, the simulator and the tests use paxos.h.
 *
 * The files, one role each (paxos.c has the map and the safety overview):
 *   paxos.c            creation, the message router, ticks, membership
 *                      inputs, outputs and stats; helpers shared by all
 *   paxos-acceptor.c   the acceptor's rules (promise, accept) and answers
 *   paxos-proposer.c   rounds, the fast round, backoff, forwarding: the
 *                      state machine of every request (proposer_dispatch)
 *   paxos-req.c        requests: put/get/keys entry points, completions
 *   paxos-lifetimes.c  the learner, bindings, watches, erasure, expiry
 *   paxos-drop.c       bucket drop
 *   paxos-sync.c       restart: sync, epochs, durable restore
 *   paxos-info.c       key inspection (read-only INFO_REQ / INFO_REPLY)
 *   paxos-conf.c       configurations: moving to a newer one, voter changes
 *
 * A non-static function carries its file's prefix (paxos_, acceptor_,
 * proposer_, req_, lifetimes_, drop_, sync_). Those with paxos_ and a
 * prototype here are internal even though they share the public prefix.
 */
#ifndef PKV_PAXOS_INTERNAL_H
#define PKV_PAXOS_INTERNAL_H

#include "paxos.h"

/*
 * TEST ONLY switches (daemon/meson.build builds a core with each one set,
 * never linked into pkvd): one rule left out, for the checkers to catch.
 */
#ifndef PKV_PAXOS_BROKEN_VOTERS
#define PKV_PAXOS_BROKEN_VOTERS 0 /* votes counted from any daemon (§5) */
#endif
#ifndef PKV_PAXOS_CHECK_LIMITS
#define PKV_PAXOS_CHECK_LIMITS 1 /* 0: values and generations unchecked (§7) */
#endif
#ifndef PKV_PAXOS_BROKEN_EPOCH_GENS
#define PKV_PAXOS_BROKEN_EPOCH_GENS 0 /* generations restart at 1 in a new epoch (§6.1) */
#endif
#ifndef PKV_PAXOS_BROKEN_CATCHUP
#define PKV_PAXOS_BROKEN_CATCHUP 0 /* a new configuration answers without a catch-up (§5) */
#endif
#ifndef PKV_PAXOS_BROKEN_CONF
#define PKV_PAXOS_BROKEN_CONF 0 /* messages of another configuration answered (§5) */
#endif
#ifndef PKV_PAXOS_BROKEN_CHOSEN
#define PKV_PAXOS_BROKEN_CHOSEN 0 /* one peer's CHOSEN is learned as it stands (§3.5) */
#endif
#ifndef PKV_PAXOS_BROKEN_DROP
#define PKV_PAXOS_BROKEN_DROP 0 /* one peer's DROP erases its bucket (§4.4) */
#endif
#ifndef PKV_PAXOS_BROKEN_GRACE
/* an owner's pid bindings end at once when it is lost or restarts (§6.2) */
#define PKV_PAXOS_BROKEN_GRACE 0
#endif
#ifndef PKV_PAXOS_BROKEN_STALE_LOSS
/* a binding learned while its peer counts lost ends at once (§4.2) */
#define PKV_PAXOS_BROKEN_STALE_LOSS 0
#endif
#ifndef PKV_PAXOS_BROKEN_FENCE
/* a floor put's read answers as fenced but fences nothing (§4.6) */
#define PKV_PAXOS_BROKEN_FENCE 0
#endif
#ifndef PKV_PAXOS_BROKEN_GC
/* a tombstone is collected without raising its bucket's floor (§4.6) */
#define PKV_PAXOS_BROKEN_GC 0
#endif
#ifndef PKV_PAXOS_BROKEN_VOUCH
/* "chosen" said past the lease, in a QUERY's answer and a SYNC page (§5.1) */
#define PKV_PAXOS_BROKEN_VOUCH 0
#endif
#ifndef PKV_PAXOS_BROKEN_OWNER_READ
/* an owner's bound put of unknown outcome is not read back (§6.2) */
#define PKV_PAXOS_BROKEN_OWNER_READ 0
#endif
#ifndef PKV_PAXOS_BROKEN_GET_ACROSS_RESTART
#define PKV_PAXOS_BROKEN_GET_ACROSS_RESTART 0 /* a get's answers never expire (§3.3) */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BIT(node) (1ull << ((node)-1))

struct peer {
	bool configured, connected, synced, fresh;
	bool seen_up;	       /* connected at least once: a disconnect is news */
	uint64_t inc;	       /* incarnation (paxos_peer_incarnation), 0: unknown */
	uint64_t bind_inc;     /* its pid bindings' incarnation (paxos_peer_bind_inc), 0: unknown */
	uint64_t down_at;      /* when it was lost (connected went false) */
	uint64_t lost_inc;     /* the incarnation it had then (inc; §4.2) */
	bool grace_pending;    /* lost, its pid bindings wait out the restart grace */
	uint64_t epoch;
	struct pkv_conf conf;  /* its configuration, from its heartbeats */
	/* Sync from this peer (while we are not synced). */
	bool sync_done;
	uint64_t sync_rid;     /* req of the outstanding page, 0: none */
	uint64_t sync_cursor;  /* first entry index of the page */
	uint64_t sync_got;     /* bit i: entry sync_cursor + i received */
	bool sync_last;	       /* the peer's store ended within the page */
	uint64_t sync_end;     /* index after the peer's last entry */
	uint64_t sync_sent_at;
	/*
	 * Answer budget (paxos.c, paxos_budget_*): the theoretical time at
	 * which what we queued in answer to this peer's listings, syncs and
	 * drops is paid for at cfg.peer_rate_bytes.
	 */
	uint64_t budget_tat;
};

struct qvote {
	struct pkv_ballot b;
	uint64_t who; /* the voters that reported it, bit BIT(node) */
	struct pkv_bytes value; /* owned */
	struct pkv_bindings bind; /* owned key */
};

struct req {
	struct req *next, *prev; /* all requests */
	struct req *hnext;	 /* rid hash chain */
	uint64_t rid;		 /* our id in msg.req */
	uint64_t id;		 /* the caller's id */
	enum paxos_req_kind kind;
	enum paxos_state state;
	uint32_t origin;	 /* FORWARDED: the node that asked */
	uint64_t origin_req;
	uint64_t fwd_at;	 /* FORWARDED: when the FORWARD came (§4.2) */
	struct pkv_bytes bucket, key, value; /* owned; value: own proposal */
	bool has_value;
	uint64_t deadline;
	uint64_t t_ballot; /* when the current ballot started (ballot_life_us) */
	bool retry;
	uint64_t t_timer; /* retransmit / backoff; UINT64_MAX: none */

	/* Phase 1 and 2. */
	struct pkv_ballot ballot;
	uint64_t promised_mask, accepted_mask;
	bool has_best;
	struct pkv_ballot best;
	struct pkv_bytes best_value; /* owned */
	struct pkv_bytes proposal;   /* borrowed: value or best_value */
	struct pkv_bindings bind;    /* put: own bindings (owned key) */
	struct pkv_bindings best_bind; /* of best_value (owned key) */
	const struct pkv_bindings *proposal_bind; /* &bind or &best_bind */
	uint64_t parent;	     /* a key binding's resolving get: the put's rid */
	bool internal;		     /* a get of the core's own (req_confirm): no completion */
	bool owner_read;	     /* internal: reads back a put in doubt (req_doubt_tick) */
	bool value_sent;	     /* put: its own value left in an ACCEPT or a FORWARD */
	bool fwd_open;		     /* put: a FORWARD left and no FORWARD_REPLY came */
	bool resolve_done;	     /* RESOLVING: the get finished with resolve_st */
	int resolve_st;
	uint32_t conflicts;
	bool drop_applied; /* DROP: the local store's keys of the bucket ended */
	bool drop_decided; /* DROP: its record is chosen (key: r->value) */
	uint64_t drop_child; /* DROP: rid of the put of its record; 0: none */
	int drop_child_st;   /* DROP: that put's status, once done */
	bool drop_child_done;
	bool learn_only; /* GET: a learner read (a CHOSEN hint); completes to no one */
	bool get_round; /* a get finishing an interrupted round */
	bool tried_fast; /* put: the fast round was tried (once per request) */
	bool probe;	 /* put: reading before it takes its bucket's floor (§4.6) */
	bool probed;	 /* put: that read was started (once per request) */
	uint64_t fence;	 /* probe: the floor its read fences at (§4.6) */
	/* probe: voters that answered fenced (nothing live, refusing below
	 * the fence) / that hold something live below it, and its generation */
	uint64_t fenced_mask, holder_mask, holder_gen;
	bool no_forward;
	uint32_t fwd_to;

	/* Query (get) and keys. */
	uint64_t t_query; /* when the query's answers started counting */
	uint64_t answered_mask, expect_mask;
	struct qvote votes[PKV_MAX_NODES];
	uint32_t n_votes;
	struct pkv_bytes *keys;
	size_t n_keys, cap_keys;
	/* Keys: per peer (index node - 1), the page asked and its keys so far. */
	uint64_t keys_cursor[PKV_MAX_NODES];
	uint32_t keys_got[PKV_MAX_NODES];
};

/*
 * A put bound to one of our processes that ended without OK after its value
 * left this daemon (docs/design.md §6.2): it may be chosen still, and the
 * owner reads the key back until it knows.
 */
struct doubt {
	struct pkv_bytes bucket, key; /* owned */
	uint64_t gen;	   /* the generation the put ended in */
	uint64_t quiet_at; /* none of the put's messages is in flight from then on */
	uint64_t next_at;  /* the next read */
	uint64_t wait;	   /* the wait after that one */
	bool reading;	   /* a read runs */
	bool cleared;	   /* a read heard every voter hold no value of gen */
	/* forwarded, unanswered: the primary's copy may run until about then
	 * (the put's deadline); 0: not forwarded, or answered */
	uint64_t fwd_deadline;
	uint64_t fwd_rid;  /* its FORWARD's req, whose OK reply ends that (0: none) */
	uint32_t fwd_to;   /* and the primary it went to */
	bool read_after;   /* forwarded: a read begun at quiet_at or later learned */
};
/* Puts in doubt at once, at most; past it one is dropped and counted. */
#define PAXOS_DOUBTS_MAX 256u

#define RID_BUCKETS 256u
/* Learner reads running at once, at most (req_learn_read). */
#define PAXOS_LEARN_READS 64u

struct paxos {
	struct paxos_config cfg;
	uint32_t sorted[PKV_MAX_NODES];
	struct store *store;
	struct pkv_outbox *ob;
	struct pkv_outbox selfq; /* messages to the local roles */
	uint64_t rng;
	uint64_t next_rid;
	struct peer peers[PKV_MAX_NODES + 1];
	uint64_t configured_mask;
	/*
	 * The voters (docs/design.md §5): the first cluster_size configured
	 * ids. Only their promises, acceptances, votes at F, query replies
	 * and sync copies count; a daemon outside them proposes and learns
	 * but its acceptor answers nothing.
	 */
	uint64_t voters;
	/*
	 * The configuration (docs/design.md §5): its number, whose top bits
	 * every ballot of it carries, and the voters of the one before, from
	 * whose frozen acceptors a voter catches up after a change.
	 */
	uint64_t conf;
	uint64_t prev_voters;
	bool catchup; /* not synced because of a change, not a restart */
	bool state_lost; /* restarted without durable state, not yet synced */
	bool synced, fresh;
	uint64_t epoch;
	uint64_t unsynced_since; /* all-unsynced majority seen since; 0: not */
	bool quiet_over; /* restarted: the quiet period before the sync has passed */
	uint64_t fast_pause_until; /* no fast round before (a fast round timed out) */
	uint64_t fast_ewma_us;	   /* recent time to a full fast quorum */
	struct req *reqs;
	struct req *by_rid[RID_BUCKETS];
	struct paxos_completion *comp;
	size_t n_comp, cap_comp;
	struct paxos_event_rec *ev;
	size_t n_ev, cap_ev;
	struct store_entry **learned; /* learned since the last reset */
	size_t n_learned, cap_learned;
	struct paxos_info_rec *info; /* INFO_REPLYs since the last reset (paxos-info.c) */
	size_t n_info, cap_info;
	struct paxos_stats stats;
	int oom; /* sticky -ENOMEM seen during a call */
	uint64_t work; /* entries walked by the message being handled (answer budget) */

	/* Lifetimes. */
	bool wall_set;
	int64_t wall_off_us;	   /* wall µs = now + wall_off_us */
	/* The lease (paxos_set_lease, docs/design.md §5.1); none set: always held. */
	bool lease_set;
	uint64_t lease_until;
	struct pkv_bindings rx_bind; /* bindings of the message being handled */
	struct paxos_watch *watches; /* output */
	size_t n_watches, cap_watches;
	struct wref *wrefs;	   /* watched local processes, with key counts */
	size_t n_wrefs, cap_wrefs;
	bool wrefs_incomplete;	   /* a wref could not be made: exits walk the store */
	struct exited_pid *exited; /* ring of recent exits */
	size_t n_exited, exited_pos;
	struct paxos_erased *erased; /* output */
	size_t n_erased, cap_erased;
	struct fanout *fanout;	   /* erasures not yet acknowledged by all */
	size_t n_fanout, cap_fanout;
	/* Per node: fan-outs it has not acknowledged (paxos_erase_owed, §5.1). */
	uint32_t erase_owed[PKV_MAX_NODES + 1];
	/*
	 * Chosen values learned while a peer their bindings name counted lost
	 * (§4.2): judged from their learning; entries with store_entry.rejudge.
	 */
	struct rejudge *rejudge;
	size_t n_rejudge, cap_rejudge;
	uint64_t rejudge_next; /* the earliest `at` among them; UINT64_MAX: none */
	struct uexp *uheap;	   /* until expiries, min-heap */
	size_t n_uheap, cap_uheap;
	/* Tombstones whose fan-out ended, oldest first (§4.6): from gcq_head. */
	struct gcrec *gcq;
	size_t gcq_head, n_gcq, cap_gcq;
	uint64_t gc_retry_at; /* while a daemon is down or copying: look again then */
	/* Own bound puts of unknown outcome, read back (req_doubt_tick, §6.2). */
	struct doubt *doubts;
	size_t n_doubts, cap_doubts;
	uint64_t doubt_next; /* the earliest read due among them; UINT64_MAX: none */

	/* Bucket drops applied for a peer, DROP_ACK not sent yet / sent. */
	struct drop_pending *dpend;
	size_t n_dpend, cap_dpend;
	struct drop_done *ddone; /* ring of DROP_ACKs sent (retransmitted DROPs) */
	size_t n_ddone, ddone_pos;
	uint8_t scratch[PKV_BOUND_FIXED + PKV_MAX_KEY + PKV_MAX_VALUE];
};

struct wref {
	int32_t pid;
	uint64_t start_time;
	uint32_t refs;
	/*
	 * The entries whose chosen value it owns, so that its exit erases them
	 * without walking the store. Appended when a value is learned, never
	 * removed one by one: an entry erased or re-put since is skipped by
	 * the check at the exit. Freed with the wref.
	 */
	struct store_entry **ents;
	size_t n_ents, cap_ents;
};

struct exited_pid {
	int32_t pid;
	uint64_t start_time;
};

#define EXITED_RING 1024u

struct fanout {
	struct store_entry *e;
	uint64_t gen;
	uint64_t acked; /* nodes that have erased through gen */
	uint64_t next_at;
};

/* A tombstone waiting out the delay bound before its collection (§4.6). */
struct gcrec {
	struct store_entry *e;
	uint64_t gen; /* its live generation when its fan-out ended */
	uint64_t at;  /* when that was */
};

/* A value learned while a peer its bindings name counted lost. */
struct rejudge {
	struct store_entry *e;
	uint64_t gen;
	uint64_t since; /* when it was learned */
	uint64_t at;	/* judged as any other from then on */
};

struct uexp {
	uint64_t until;
	struct store_entry *e;
	uint64_t gen;
};

struct drop_pending {
	uint32_t to;		/* the drop's origin */
	uint64_t req;		/* its request id */
	struct pkv_bytes key;	/* owned: the drop's key in PKV_DROP_BUCKET */
	struct pkv_bytes bucket; /* owned: the bucket its chosen record names, once known */
	bool applied;		/* false: waiting for the record, or until synced */
	uint64_t read_at;	/* when a learner read of the record last started */
	uint64_t since;		/* when the DROP came (an unproven one is forgotten) */
};

struct drop_done {
	uint32_t to;
	uint64_t req;
};

#define DROP_DONE_RING 64u

/* ---- small helpers ---------------------------------------------------- */

/* The PRNG of p->rng: backoff delays and the first request id. */
static inline uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline unsigned popcount(uint64_t m)
{
	return (unsigned)__builtin_popcountll(m);
}

static inline unsigned nvoters(const struct paxos *p)
{
	/* TEST ONLY (PKV_PAXOS_BROKEN_VOTERS): every daemon votes, quorums as before. */
	return PKV_PAXOS_BROKEN_VOTERS ? p->cfg.cluster_size : popcount(p->voters);
}

static inline unsigned quorum(const struct paxos *p)
{
	return nvoters(p) / 2 + 1;
}

/* Whether this daemon vouches for its learner at `now` (docs/design.md
 * §5.1, paxos_set_lease): a core never told a lease takes it as held. */
static inline bool leased(const struct paxos *p, uint64_t now)
{
	return !p->lease_set || now < p->lease_until;
}

/*
 * The fast ballot of a configuration (paxos-acceptor.c): shared, below every
 * classic ballot of it; round 1 of configuration 0 is (1, 0).
 */
static inline struct pkv_ballot fast_ballot_of(uint64_t conf)
{
	return (struct pkv_ballot){ .round = pkv_conf_base(conf) + 1, .node = 0 };
}

static inline bool is_fast(struct pkv_ballot b)
{
	return b.node == 0 && (b.round & ((UINT64_C(1) << PKV_CONF_SHIFT) - 1)) == 1;
}

static inline uint64_t self_bit(const struct paxos *p)
{
	return BIT(p->cfg.self);
}

static inline bool is_voter(const struct paxos *p, uint32_t n)
{
	return n >= 1 && n <= PKV_MAX_NODES && (p->voters & BIT(n));
}

static inline const struct pkv_bindings *bind_or_null(const struct pkv_bindings *b)
{
	return b && (b->mask & PKV_BIND_ALL) ? b : NULL;
}

/* ---- paxos.c: shared helpers ------------------------------------------- */

/* The reserved bucket of configuration changes (docs/design.md §5). */
static inline bool is_conf_bucket(struct pkv_bytes b)
{
	return b.len == PKV_CONF_BUCKET_LEN && !memcmp(b.p, PKV_CONF_BUCKET, PKV_CONF_BUCKET_LEN);
}
/* The reserved bucket of bucket drops (docs/design.md §4.4). */
static inline bool is_drop_bucket(struct pkv_bytes b)
{
	return b.len == PKV_DROP_BUCKET_LEN && !memcmp(b.p, PKV_DROP_BUCKET, PKV_DROP_BUCKET_LEN);
}

uint64_t paxos_connected_mask(const struct paxos *p);
/* TEST ONLY (PKV_PAXOS_BROKEN_VOTERS): every configured daemon counts as a voter. */
void paxos_update_voters(struct paxos *p);
bool paxos_peer_ok(const struct paxos *p, uint32_t n);
int paxos_bytes_dup(struct pkv_bytes *dst, struct pkv_bytes src);
void paxos_bytes_free(struct pkv_bytes *b);
void paxos_send(struct paxos *p, uint32_t to, const struct pkv_msg *m);
void paxos_push_event(struct paxos *p, enum paxos_event_kind k, uint64_t arg, const char *text);
int paxos_bind_dup(struct pkv_bindings *dst, const struct pkv_bindings *src);
void paxos_bind_free(struct pkv_bindings *b);
void paxos_msg_value(struct paxos *p, struct pkv_msg *m, struct pkv_bytes v,
		     const struct pkv_bindings *b);
bool paxos_same_value(struct pkv_bytes av, const struct pkv_bindings *ab, struct pkv_bytes bv,
		      const struct pkv_bindings *bb);
void *paxos_grow(void *v, size_t *cap, size_t n, size_t size);
/* paxos-info.c */
void info_on_req(struct paxos *p, uint32_t from, const struct pkv_msg *m);
void info_on_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m);
void info_free(struct paxos *p);
/* The end of every entry point: runs the local roles' queued messages. */
int paxos_finish_call(struct paxos *p, uint64_t now);
/* Requests waiting for a quorum try again (PAXOS_EV_QUORUM). */
void paxos_kick_waiting(struct paxos *p, uint64_t now);

/* ---- paxos-conf.c ----------------------------------------------------- */

/* A configuration change was learned (the reserved bucket's value of e). */
void paxos_conf_learned(struct paxos *p, struct store_entry *e, uint64_t now);
/* Moves to configuration c (learned or heard of): stops answering the old one. */
void paxos_conf_move(struct paxos *p, const struct pkv_conf *c, uint64_t now);

/* ---- paxos-acceptor.c ------------------------------------------------- */

int acceptor_mark_dirty(struct paxos *p, struct store_entry *e);
void acceptor_note_round(struct paxos *p, struct store_entry *e, struct pkv_ballot b);
bool acceptor_may_answer(struct paxos *p);
bool acceptor_gen_ok(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
		     uint64_t now);
void acceptor_on_prepare(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);
void acceptor_on_accept(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);
void acceptor_on_query(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);
void acceptor_on_keys_req(struct paxos *p, uint32_t from, const struct pkv_msg *m);

/* ---- paxos-proposer.c ------------------------------------------------- */

/*
 * Feeds an event to a request's state machine. The learner and the erasure
 * code call it for every request on a key whose value was learned
 * (PAXOS_EV_CHOSEN) or whose generation ended (PAXOS_EV_ERASED).
 */
void proposer_dispatch(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		       const struct pkv_msg *m, uint64_t now);
void proposer_start_keys(struct paxos *p, struct req *r, uint64_t now);
/* A PREPARE or ACCEPT of r refused below a voter's floor f (§4.6). */
void proposer_floor_nack(struct paxos *p, struct req *r, uint64_t f, uint64_t now);
void proposer_on_forward(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

/* ---- paxos-req.c ------------------------------------------------------ */

void req_set_state(struct paxos *p, struct req *r, enum paxos_state s);
struct req *req_find(const struct paxos *p, uint64_t rid);
/* A new request id for r: answers to what it sent before no longer find it. */
void req_rekey(struct paxos *p, struct req *r);
struct req *req_new(struct paxos *p, enum paxos_req_kind kind, uint64_t id,
		    struct pkv_bytes bucket, struct pkv_bytes key, uint64_t deadline, bool retry);
void req_free(struct req *r);
void req_reap(struct paxos *p);
void req_complete(struct paxos *p, struct req *r, int status, uint64_t gen,
		  struct pkv_bytes value, const struct pkv_bindings *bind);
void req_complete_status(struct paxos *p, struct req *r, int status);
bool req_is_key(const struct req *r, const struct store_entry *e);
void req_confirm(struct paxos *p, struct store_entry *e, uint64_t now);
struct store_entry *req_entry(struct paxos *p, struct req *r);
void req_keys_add(struct paxos *p, struct req *r, struct pkv_bytes key);
bool req_resume_resolved(struct paxos *p, uint64_t now);
/*
 * A learner read of a key (docs/design.md §3.5): a get that answers no one;
 * it learns the value when a quorum of voters shows it chosen. At most
 * PAXOS_LEARN_READS of them run; one per key. False when none was started.
 */
bool req_learn_read(struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key, uint64_t now);
/* Own bound puts of unknown outcome (docs/design.md §6.2): their reads. */
void req_doubt_tick(struct paxos *p, uint64_t now);
void req_doubt_free(struct paxos *p);
void req_doubt_fwd_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m);
int req_check_args(struct pkv_bytes bucket, struct pkv_bytes key, bool need_key);

/* ---- paxos-lifetimes.c ------------------------------------------------ */

/* A voter is in the pair: this daemon judges n's connectivity (§5.2). */
bool lifetimes_peer_judged(const struct paxos *p, uint32_t n);
uint64_t lifetimes_wall_ms(const struct paxos *p, uint64_t now);
/* A pid binding of ours: a process this daemon watches (§6.2). */
bool lifetimes_own_pid(const struct paxos *p, const struct pkv_bindings *b);
bool lifetimes_binding_dead(struct paxos *p, const struct pkv_bindings *b,
			    struct pkv_bytes bucket, uint64_t now);
/* The same, for bindings known here since `since` (§4.2; 0: before any loss). */
bool lifetimes_binding_dead_since(struct paxos *p, const struct pkv_bindings *b,
				  struct pkv_bytes bucket, uint64_t since, uint64_t now);
/* Values learned while a peer they name counted lost (§4.2). */
void lifetimes_rejudge_tick(struct paxos *p, uint64_t now);
uint64_t lifetimes_rejudge_next(const struct paxos *p);
void lifetimes_learn(struct paxos *p, struct store_entry *e, struct pkv_ballot b,
		     struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t now);
bool lifetimes_learned_effects(struct paxos *p, struct store_entry *e, uint64_t now);
void lifetimes_erase(struct paxos *p, struct store_entry *e, uint64_t through, uint32_t from,
		     uint64_t now);
bool lifetimes_check_entry(struct paxos *p, struct store_entry *e, uint64_t now);
void lifetimes_sweep(struct paxos *p, uint64_t now);
void lifetimes_expire_until(struct paxos *p, uint64_t now);
void lifetimes_fanout_send(struct paxos *p, struct fanout *f, uint64_t now);
void lifetimes_fanout_add(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
			  uint64_t now);
void lifetimes_fanout_ack(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
			  uint64_t now);
/* Tombstone collection (docs/design.md §4.6). */
void lifetimes_gc(struct paxos *p, uint64_t now);
uint64_t lifetimes_gc_next(const struct paxos *p);
/* The generation floor of a bucket: a key it holds nothing of is put at
 * this generation at least, once a majority's read found nothing (0: none). */
uint64_t lifetimes_floor(struct paxos *p, struct pkv_bytes bucket);
/* A PREPARE, ACCEPT or CHOSEN of a key held nothing of here, in a
 * generation below its bucket's floor: a collected generation's, refused. */
bool lifetimes_below_floor(struct paxos *p, struct pkv_bytes bucket, uint64_t gen);
/* Nothing promised, accepted or chosen in the key's live generation (or no
 * entry at all): a key this daemon holds nothing live of. */
bool lifetimes_holds_nothing(const struct store_entry *e);
/* The fence of a floor put's read: the bucket's floor rises to f (false:
 * no memory for it, nothing changed). */
bool lifetimes_raise_floor(struct paxos *p, struct pkv_bytes bucket, uint64_t f);
/* A bare entry moved up to the floor by a floor put: its key bindings end. */
void lifetimes_moved_to_floor(struct paxos *p, struct store_entry *e, uint64_t now);
/* The reserved bucket that holds each bucket's floor (key: its name). */
static inline bool is_floor_bucket(struct pkv_bytes b)
{
	return b.len == STORE_FLOOR_BUCKET_LEN && !memcmp(b.p, STORE_FLOOR_BUCKET, b.len);
}
void lifetimes_on_erase(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

/* ---- paxos-drop.c ----------------------------------------------------- */

/* The PAXOS_ST_DROPPING state of a bucket drop's request. */
void drop_on_event(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		   const struct pkv_msg *m, uint64_t now);
void drop_on_drop(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);
void drop_step(struct paxos *p, uint64_t now);

/* ---- paxos-sync.c ----------------------------------------------------- */
void sync_adopt_epoch(struct paxos *p, uint64_t epoch);
/* Forgets the copy from pe: not done, no page asked, from the start. */
void sync_peer_reset(struct peer *pe);

void sync_step(struct paxos *p, uint64_t now);
/* Node n is one this daemon copies from now (restart or catch-up). */
bool sync_is_source(const struct paxos *p, uint32_t n);
void sync_on_req(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);
void sync_on_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

#endif
