// SPDX-License-Identifier: MIT
/*
 * paxos.c — acceptor, proposer and learner of per-key Basic Paxos.
 *
 * Safety rests on the two acceptor rules (phase 1b and 2b below), on ballots
 * being unique, and on the restart rule (sync before answering). Everything
 * else — backoff, forwarding to the primary, retransmission, the learner
 * cache — is there for liveness and speed and may be wrong without breaking
 * agreement.
 *
 * Ballot uniqueness: a ballot is (round, node id), and a node picks a round
 * above every round it has seen for the key. A node restarted without its
 * state might reuse a round of its previous incarnation; it only proposes
 * once synced, and the sync copied the promises of a majority that excludes
 * itself, which intersects every majority (with or without the old self)
 * that promised a ballot of the old incarnation. So every ballot the old
 * incarnation took to phase 2 is below the new incarnation's first round.
 * Ballots the old incarnation never took to phase 2 carry no value, so a
 * reuse of one of them is harmless.
 *
 * The fast round: a put of a key this node holds nothing of skips phase 1
 * and sends ACCEPT at the fast ballot F = (round 1, node 0), below every
 * classic ballot (classic rounds start at 2). Unlike a classic ballot, F is
 * shared: any proposer may use it, each with its own value, as in a fast
 * round of Fast Paxos (Lamport, 2006). The rules that keep it safe:
 *   1. An acceptor votes at F at most once per generation: it accepts
 *      ACCEPT(F, v) only when it has promised nothing above F and has not
 *      accepted at F another value (a repeat of the same value and bindings
 *      is answered again).
 *   2. A value is chosen at F only when every one of cluster_size acceptors
 *      accepted it (the fast quorum): proposers, gets and learners count
 *      cluster_size for F and a majority for any other ballot.
 *   3. Phase 2 of a classic ballot proposes the value of the highest ballot
 *      among a majority's promises, as always; when that is F and the
 *      promises carry different values at F, any of them is taken.
 * Why that is enough: the only change from classic Paxos is that F may carry
 * several values. Let Q be the promising majority of a classic ballot b.
 * If some value v was chosen at F, every acceptor voted v at F, so every
 * member of Q reports v at F or a higher ballot (rule 1: none of them votes
 * again at F), and the usual induction over the ballots between F and b
 * shows the proposal is v. If the members of Q report different values at
 * F, no value was chosen at F (it would need all of them), so any choice is
 * safe — the rule of Fast Paxos with fast quorum = all acceptors, which also
 * meets its condition that any two fast quorums and a classic quorum
 * intersect. A value chosen at a classic ballot is as in Basic Paxos.
 * Restarts without durable state: a restarted acceptor forgets its vote at
 * F and may vote again. If v was chosen at F, every other acceptor voted v,
 * so the majority it syncs from all hold v at F (or higher), and the copy
 * holds it too; if v was not chosen, the forgotten vote decided nothing. A
 * fresh incarnation of a proposer may send another value at F: that is one
 * more proposer of the fast round, which rule 1 already allows for.
 * tests/model/paxoskv.pml checks these rules with spin (FAST variants).
 */
#include "paxos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BIT(node) (1ull << ((node)-1))

struct peer {
	bool configured, connected, synced, fresh;
	bool seen_up;	       /* connected at least once: a disconnect is news */
	uint64_t inc;	       /* incarnation (paxos_peer_incarnation), 0: unknown */
	uint64_t epoch;
	/* Sync from this peer (while we are not synced). */
	bool sync_done;
	uint64_t sync_rid;     /* req of the outstanding page, 0: none */
	uint64_t sync_cursor;  /* first entry index of the page */
	uint64_t sync_got;     /* bit i: entry sync_cursor + i received */
	bool sync_last;	       /* the peer's store ended within the page */
	uint64_t sync_end;     /* index after the peer's last entry */
	uint64_t sync_sent_at;
};

struct qvote {
	struct pkv_ballot b;
	uint32_t n;
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
	bool resolve_done;	     /* RESOLVING: the get finished with resolve_st */
	int resolve_st;
	uint32_t conflicts;
	bool drop_applied; /* DROP: the local store's keys of the bucket ended */
	bool get_round; /* a get finishing an interrupted round */
	bool tried_fast; /* put: the fast round was tried (once per request) */
	bool no_forward;
	uint32_t fwd_to;

	/* Query (get) and keys. */
	uint64_t answered_mask, expect_mask;
	struct qvote votes[PKV_MAX_NODES];
	uint32_t n_votes;
	struct pkv_bytes *keys;
	size_t n_keys, cap_keys;
};

#define RID_BUCKETS 256u

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
	struct paxos_stats stats;
	int oom; /* sticky -ENOMEM seen during a call */

	/* Lifetimes. */
	bool wall_set;
	int64_t wall_off_us;	   /* wall µs = now + wall_off_us */
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
	struct uexp *uheap;	   /* until expiries, min-heap */
	size_t n_uheap, cap_uheap;

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

struct uexp {
	uint64_t until;
	struct store_entry *e;
	uint64_t gen;
};

struct drop_pending {
	uint32_t to;		/* the drop's origin */
	uint64_t req;		/* its request id */
	struct pkv_bytes bucket; /* owned */
	bool applied;		/* false: waiting until synced */
};

struct drop_done {
	uint32_t to;
	uint64_t req;
};

#define DROP_DONE_RING 64u

static const char *const state_names[PAXOS_ST__COUNT] = {
	[PAXOS_ST_WAIT_QUORUM] = "wait_quorum", [PAXOS_ST_QUERYING] = "querying",
	[PAXOS_ST_PREPARING] = "preparing",	[PAXOS_ST_ACCEPTING] = "accepting",
	[PAXOS_ST_BACKOFF] = "backoff",		[PAXOS_ST_FORWARDED] = "forwarded",
	[PAXOS_ST_KEYS] = "keys",		[PAXOS_ST_DONE] = "done",
	[PAXOS_ST_RESOLVING] = "resolving",	[PAXOS_ST_DROPPING] = "dropping",
};

static const char *const event_names[PAXOS_EV__COUNT] = {
	[PAXOS_EV_START] = "start",
	[PAXOS_EV_QUORUM] = "quorum",
	[PAXOS_EV_PROMISE] = "promise",
	[PAXOS_EV_ACCEPTED] = "accepted",
	[PAXOS_EV_NACK] = "nack",
	[PAXOS_EV_QUERY_REPLY] = "query_reply",
	[PAXOS_EV_KEYS_REPLY] = "keys_reply",
	[PAXOS_EV_FWD_REPLY] = "fwd_reply",
	[PAXOS_EV_CHOSEN] = "chosen",
	[PAXOS_EV_TIMER] = "timer",
	[PAXOS_EV_DEADLINE] = "deadline",
	[PAXOS_EV_PEER_DOWN] = "peer_down",
	[PAXOS_EV_ERASED] = "erased",
	[PAXOS_EV_DROP_ACK] = "drop_ack",
};

const char *paxos_state_to_str(enum paxos_state s)
{
	return (unsigned)s < PAXOS_ST__COUNT ? state_names[s] : "unknown";
}

const char *paxos_event_to_str(enum paxos_event e)
{
	return (unsigned)e < PAXOS_EV__COUNT ? event_names[e] : "unknown";
}

/* ---- small helpers ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned popcount(uint64_t m)
{
	return (unsigned)__builtin_popcountll(m);
}

static unsigned quorum(const struct paxos *p)
{
	return p->cfg.cluster_size / 2 + 1;
}

/* The fast ballot (see the top of this file): shared, below every classic one. */
static const struct pkv_ballot fast_ballot = { .round = 1, .node = 0 };

static bool is_fast(struct pkv_ballot b)
{
	return pkv_ballot_cmp(b, fast_ballot) == 0;
}

/* Acceptances that choose a value at ballot b: all of cluster_size at F. */
static unsigned quorum_at(const struct paxos *p, struct pkv_ballot b)
{
#if PKV_PAXOS_BROKEN_FAST_QUORUM
	/* TEST ONLY: a majority is taken as enough for the fast round. */
	(void)b;
	return quorum(p);
#else
	return is_fast(b) ? p->cfg.cluster_size : quorum(p);
#endif
}

static bool bindings_eq(const struct pkv_bindings *a, const struct pkv_bindings *b)
{
	if (a->mask != b->mask)
		return false;
	if ((a->mask & PKV_BIND_PID) &&
	    (a->owner != b->owner || a->owner_inc != b->owner_inc || a->pid != b->pid ||
	     a->start_time != b->start_time))
		return false;
	if ((a->mask & PKV_BIND_NODE) && a->node != b->node)
		return false;
	if ((a->mask & PKV_BIND_KEY) && (a->key_gen != b->key_gen || !pkv_bytes_eq(a->key, b->key)))
		return false;
	if ((a->mask & PKV_BIND_UNTIL) && a->until != b->until)
		return false;
	return true;
}

/* Value and bindings both equal: one vote at F, whoever sent it. */
static bool same_value(struct pkv_bytes av, const struct pkv_bindings *ab, struct pkv_bytes bv,
		       const struct pkv_bindings *bb)
{
	return pkv_bytes_eq(av, bv) && bindings_eq(ab, bb);
}

static uint64_t self_bit(const struct paxos *p)
{
	return BIT(p->cfg.self);
}

static uint64_t connected_mask(const struct paxos *p)
{
	uint64_t m = self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (p->peers[n].connected)
			m |= BIT(n);
	}
	return m;
}

bool paxos_has_quorum(const struct paxos *p)
{
	return popcount(connected_mask(p)) >= quorum(p);
}

static bool peer_ok(const struct paxos *p, uint32_t n)
{
	return n >= 1 && n <= PKV_MAX_NODES && n != p->cfg.self && p->peers[n].configured;
}

static int dup_bytes(struct pkv_bytes *dst, struct pkv_bytes src)
{
	uint8_t *c = NULL;
	if (src.len) {
		c = malloc(src.len);
		if (!c)
			return -ENOMEM;
		memcpy(c, src.p, src.len);
	}
	dst->p = c;
	dst->len = src.len;
	return 0;
}

static void free_bytes(struct pkv_bytes *b)
{
	free((void *)b->p);
	b->p = NULL;
	b->len = 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Every message the roles send goes through here. Messages to self go to
 * the private queue, PKV_TO_ALL goes to the outbox and the private queue.
 */
static void send_msg(struct paxos *p, uint32_t to, const struct pkv_msg *m)
{
	int r = 0;
	if (to == PKV_TO_ALL) {
		if (p->cfg.n_nodes > 1)
			r = pkv_outbox_push(p->ob, PKV_TO_ALL, m);
		if (!r)
			r = pkv_outbox_push(&p->selfq, p->cfg.self, m);
	} else if (to == p->cfg.self) {
		r = pkv_outbox_push(&p->selfq, to, m);
	} else {
		r = pkv_outbox_push(p->ob, to, m);
	}
	if (r)
		p->oom = r; /* a lost message is like a lost datagram: retransmitted */
}

static void push_event(struct paxos *p, enum paxos_event_kind k, uint64_t arg, const char *text)
{
	if (p->n_ev == p->cap_ev) {
		size_t cap = p->cap_ev ? p->cap_ev * 2 : 8;
		struct paxos_event_rec *v = realloc(p->ev, cap * sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->ev = v;
		p->cap_ev = cap;
	}
	p->ev[p->n_ev++] = (struct paxos_event_rec){ .kind = k, .arg = arg, .text = text };
}

/* ---- bindings ---------------------------------------------------------- */

static const struct pkv_bindings *bind_or_null(const struct pkv_bindings *b)
{
	return b && (b->mask & PKV_BIND_ALL) ? b : NULL;
}

/* Copies src (NULL: none) with its own key bytes. */
static int bind_dup(struct pkv_bindings *dst, const struct pkv_bindings *src)
{
	struct pkv_bindings n = { 0 };
	if (src && (src->mask & PKV_BIND_ALL)) {
		n = *src;
		n.mask &= PKV_BIND_ALL;
		if (!(n.mask & PKV_BIND_KEY))
			n.key = (struct pkv_bytes){ 0 };
		if (dup_bytes(&n.key, n.key))
			return -ENOMEM;
	}
	*dst = n;
	return 0;
}

static void bind_free(struct pkv_bindings *b)
{
	free((void *)b->key.p);
	memset(b, 0, sizeof(*b));
}

/*
 * Puts value + bindings into m: the bare value when unbound, else the
 * encoded pair in p->scratch with PKV_MF_BOUND. Send m before the next call
 * (send_msg copies it).
 */
static void msg_value(struct paxos *p, struct pkv_msg *m, struct pkv_bytes v,
		      const struct pkv_bindings *b)
{
	b = bind_or_null(b);
	if (!b) {
		m->value = v;
		return;
	}
	size_t n = pkv_bound_encode(p->scratch, sizeof(p->scratch), v, b);
	m->value = (struct pkv_bytes){ .p = p->scratch, .len = (uint32_t)n };
	m->flags |= PKV_MF_BOUND;
}

static uint64_t wall_ms(const struct paxos *p, uint64_t now)
{
	int64_t w = (int64_t)now + p->wall_off_us;
	return w > 0 ? (uint64_t)w / 1000 : 0;
}

/* A disconnect is only news for a peer that was connected since we started. */
static bool peer_lost(const struct paxos *p, uint32_t n)
{
	if (n == p->cfg.self)
		return false;
	if (n == 0 || n > PKV_MAX_NODES || !p->peers[n].configured)
		return true;
	return p->peers[n].seen_up && !p->peers[n].connected;
}

static bool pid_exited(const struct paxos *p, int32_t pid, uint64_t start_time)
{
	for (size_t i = 0; i < p->n_exited; i++)
		if (p->exited[i].pid == pid && p->exited[i].start_time == start_time)
			return true;
	return false;
}

static bool self_owned_pid(const struct paxos *p, const struct pkv_bindings *b)
{
	return (b->mask & PKV_BIND_PID) && b->owner == p->cfg.self &&
	       b->owner_inc == p->cfg.incarnation;
}

/*
 * True when, as far as this daemon knows, one of the bindings has ended.
 * Knowledge only grows (exits, disconnects seen, clock, erased generations),
 * which is what makes erasure monotone. A key binding with key_gen 0 is not
 * resolved yet and counts as alive.
 */
static bool binding_dead(struct paxos *p, const struct pkv_bindings *b, struct pkv_bytes bucket,
			 uint64_t now)
{
	if (!b)
		return false;
	if (b->mask & PKV_BIND_PID) {
		if (b->owner == p->cfg.self) {
			if (b->owner_inc != p->cfg.incarnation || pid_exited(p, b->pid, b->start_time))
				return true;
		} else {
			if (peer_lost(p, b->owner))
				return true;
			const struct peer *pe = &p->peers[b->owner];
			if (pe->inc && b->owner_inc < pe->inc)
				return true; /* the owner restarted: its watches are gone */
		}
	}
	if ((b->mask & PKV_BIND_NODE) && peer_lost(p, b->node))
		return true;
	if ((b->mask & PKV_BIND_UNTIL) && p->wall_set && wall_ms(p, now) >= b->until)
		return true;
	if ((b->mask & PKV_BIND_KEY) && b->key_gen) {
		struct store_entry *d = store_lookup(p->store, bucket, b->key, false);
		if (d && d->gen > b->key_gen)
			return true;
	}
	return false;
}

/* ---- requests --------------------------------------------------------- */

static void set_state(struct paxos *p, struct req *r, enum paxos_state s)
{
	bool was = r->state == PAXOS_ST_PREPARING || r->state == PAXOS_ST_ACCEPTING;
	bool is = s == PAXOS_ST_PREPARING || s == PAXOS_ST_ACCEPTING;
	if (was && !is)
		p->stats.rounds_in_flight--;
	else if (!was && is)
		p->stats.rounds_in_flight++;
	r->state = s;
}

static struct req *req_find(const struct paxos *p, uint64_t rid)
{
	for (struct req *r = p->by_rid[rid % RID_BUCKETS]; r; r = r->hnext)
		if (r->rid == rid)
			return r->state == PAXOS_ST_DONE ? NULL : r;
	return NULL;
}

static struct req *req_new(struct paxos *p, enum paxos_req_kind kind, uint64_t id,
			   struct pkv_bytes bucket, struct pkv_bytes key, uint64_t deadline,
			   bool retry)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (dup_bytes(&r->bucket, bucket) || dup_bytes(&r->key, key)) {
		free_bytes(&r->bucket);
		free(r);
		return NULL;
	}
	r->rid = p->next_rid++;
	r->id = id;
	r->kind = kind;
	r->state = PAXOS_ST_WAIT_QUORUM;
	r->deadline = deadline;
	r->retry = retry;
	r->t_timer = UINT64_MAX;
	r->next = p->reqs;
	if (p->reqs)
		p->reqs->prev = r;
	p->reqs = r;
	r->hnext = p->by_rid[r->rid % RID_BUCKETS];
	p->by_rid[r->rid % RID_BUCKETS] = r;
	p->stats.requests_in_flight++;
	return r;
}

static void req_free(struct req *r)
{
	bind_free(&r->bind);
	bind_free(&r->best_bind);
	free_bytes(&r->bucket);
	free_bytes(&r->key);
	free_bytes(&r->value);
	free_bytes(&r->best_value);
	for (uint32_t i = 0; i < r->n_votes; i++) {
		free_bytes(&r->votes[i].value);
		bind_free(&r->votes[i].bind);
	}
	for (size_t i = 0; i < r->n_keys; i++)
		free_bytes(&r->keys[i]);
	free(r->keys);
	free(r);
}

static void req_unlink(struct paxos *p, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		p->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	struct req **pp = &p->by_rid[r->rid % RID_BUCKETS];
	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
}

static void reap(struct paxos *p)
{
	struct req *r = p->reqs;
	while (r) {
		struct req *n = r->next;
		if (r->state == PAXOS_ST_DONE) {
			req_unlink(p, r);
			req_free(r);
		}
		r = n;
	}
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct pkv_bytes *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->p, y->p, n) : 0;
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * Finishes a request: a completion for a local caller, a FORWARD_REPLY for a
 * forwarded put. Keys move into the completion (the request is done).
 */
static void req_complete(struct paxos *p, struct req *r, int status, uint64_t gen,
			 struct pkv_bytes value, const struct pkv_bindings *bind)
{
	if (r->state == PAXOS_ST_DONE)
		return;
	set_state(p, r, PAXOS_ST_DONE);
	p->stats.requests_in_flight--;
	if (r->parent) {
		/* A key binding's get: hand the answer to the put (finish()). */
		struct req *par = req_find(p, r->parent);
		if (par && par->state == PAXOS_ST_RESOLVING) {
			par->resolve_done = true;
			par->resolve_st = status;
			if (status == PKV_S_OK)
				par->bind.key_gen = gen;
		}
		return;
	}
	if (r->kind == PAXOS_REQ_FORWARDED) {
		struct pkv_msg m = {
			.type = PKV_MSG_FORWARD_REPLY,
			.req = r->origin_req,
			.arg0 = (uint64_t)status,
			.gen = gen,
			.bucket = r->bucket,
			.key = r->key,
		};
		if (status == PKV_S_OK) {
			msg_value(p, &m, value, bind);
			/* The chosen ballot, so the origin learns the value too. */
			struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
			if (e && e->chosen && e->gen == gen)
				m.accepted = e->chosen_ballot;
		}
		send_msg(p, r->origin, &m);
		return;
	}
	if (p->n_comp == p->cap_comp) {
		size_t cap = p->cap_comp ? p->cap_comp * 2 : 16;
		struct paxos_completion *v = realloc(p->comp, cap * sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->comp = v;
		p->cap_comp = cap;
	}
	struct paxos_completion *c = &p->comp[p->n_comp];
	memset(c, 0, sizeof(*c));
	c->id = r->id;
	c->kind = r->kind;
	c->status = status;
	c->gen = gen;
	if (status == PKV_S_OK && r->kind != PAXOS_REQ_KEYS &&
	    (dup_bytes(&c->value, value) || bind_dup(&c->bind, bind))) {
		free_bytes(&c->value);
		c->status = PKV_S_NO_MEMORY;
	}
	if (r->kind == PAXOS_REQ_KEYS && status == PKV_S_OK) {
		if (r->n_keys)
			qsort(r->keys, r->n_keys, sizeof(*r->keys), cmp_bytes);
		size_t w = 0;
		for (size_t i = 0; i < r->n_keys; i++) {
			if (w && !cmp_bytes(&r->keys[w - 1], &r->keys[i]))
				free_bytes(&r->keys[i]);
			else
				r->keys[w++] = r->keys[i];
		}
		c->keys = r->keys;
		c->n_keys = w;
		r->keys = NULL;
		r->n_keys = r->cap_keys = 0;
	}
	p->n_comp++;
}

static void complete_status(struct paxos *p, struct req *r, int status)
{
	req_complete(p, r, status, 0, (struct pkv_bytes){ 0 }, NULL);
}

/* ---- learner ---------------------------------------------------------- */

static void dispatch(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		     const struct pkv_msg *m, uint64_t now);

static bool req_is_key(const struct req *r, const struct store_entry *e)
{
	return pkv_bytes_eq(r->key, e->key) && pkv_bytes_eq(r->bucket, store_bucket_name(e->bucket));
}

/* ---- lifetimes: watches, erasure, fan-out, expiry ----------------------- */

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : 16;
	void *nv = realloc(v, nc * size);
	if (nv)
		*cap = nc;
	return nv;
}

static void push_watch(struct paxos *p, int32_t pid, uint64_t start_time, bool watch)
{
	struct paxos_watch *v = grow(p->watches, &p->cap_watches, p->n_watches, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->watches = v;
	v[p->n_watches++] = (struct paxos_watch){ .pid = pid, .start_time = start_time,
						  .watch = watch };
}

/* Drops wrefs[i] (its entry list too), keeping the array dense. */
static void wref_drop(struct paxos *p, size_t i)
{
	free(p->wrefs[i].ents);
	p->wrefs[i] = p->wrefs[--p->n_wrefs];
}

/*
 * Counts the live keys bound to a local process; watch on 0 → 1, unwatch on
 * 1 → 0. +1: entry e's chosen value is bound to the process; -1: no longer
 * (e unused).
 */
static void watch_ref(struct paxos *p, int32_t pid, uint64_t start_time, int delta,
		      struct store_entry *e)
{
	size_t i;
	for (i = 0; i < p->n_wrefs; i++)
		if (p->wrefs[i].pid == pid && p->wrefs[i].start_time == start_time)
			break;
	if (delta > 0) {
		if (i == p->n_wrefs) {
			struct wref *v = grow(p->wrefs, &p->cap_wrefs, p->n_wrefs, sizeof(*v));
			if (!v) {
				p->oom = -ENOMEM;
				p->wrefs_incomplete = true; /* exits walk the store */
				return;
			}
			p->wrefs = v;
			v[p->n_wrefs++] = (struct wref){ .pid = pid, .start_time = start_time };
		}
		struct wref *w = &p->wrefs[i];
		if (w->n_ents != SIZE_MAX) {
			struct store_entry **ents =
				grow(w->ents, &w->cap_ents, w->n_ents, sizeof(*ents));
			if (!ents) {
				p->oom = -ENOMEM;
				w->n_ents = SIZE_MAX; /* incomplete: the exit walks the store */
			} else {
				w->ents = ents;
				w->ents[w->n_ents++] = e;
			}
		}
		if (w->refs++ == 0)
			push_watch(p, pid, start_time, true);
		return;
	}
	if (i == p->n_wrefs || --p->wrefs[i].refs)
		return;
	wref_drop(p, i);
	push_watch(p, pid, start_time, false);
}

static void push_erased(struct paxos *p, struct store_entry *e, uint64_t gen)
{
	struct paxos_erased *v = grow(p->erased, &p->cap_erased, p->n_erased, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->erased = v;
	v[p->n_erased++] = (struct paxos_erased){ .e = e, .gen = gen };
}

static void uheap_push(struct paxos *p, uint64_t until, struct store_entry *e, uint64_t gen)
{
	struct uexp *v = grow(p->uheap, &p->cap_uheap, p->n_uheap, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->uheap = v;
	size_t i = p->n_uheap++;
	while (i) {
		size_t up = (i - 1) / 2;
		if (v[up].until <= until)
			break;
		v[i] = v[up];
		i = up;
	}
	v[i] = (struct uexp){ .until = until, .e = e, .gen = gen };
}

static void uheap_pop(struct paxos *p)
{
	struct uexp *v = p->uheap;
	struct uexp last = v[--p->n_uheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->n_uheap)
			break;
		if (c + 1 < p->n_uheap && v[c + 1].until < v[c].until)
			c++;
		if (v[c].until >= last.until)
			break;
		v[i] = v[c];
		i = c;
	}
	if (p->n_uheap)
		v[i] = last;
}

/*
 * The daemons an erasure must reach before its tombstone is forgotten: the
 * first cluster_size configured nodes and any other that was ever up. Dev
 * numbering configures nodes 1..9 for a cluster of 3 so that it can grow;
 * waiting for nodes that never ran kept every tombstone (and its ERASE
 * retransmissions) forever. A node that joins later is fresh and copies
 * the tombstones when it syncs.
 */
static uint64_t all_nodes_mask(const struct paxos *p)
{
	uint64_t m = self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (i < p->cfg.cluster_size || p->peers[n].seen_up)
			m |= BIT(n);
	}
	return m;
}

static void fanout_send(struct paxos *p, struct fanout *f, uint64_t now)
{
	struct pkv_msg m = {
		.type = PKV_MSG_ERASE,
		.bucket = store_bucket_name(f->e->bucket),
		.key = f->e->key,
		.gen = f->gen,
	};
	uint64_t to = all_nodes_mask(p) & ~f->acked & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (!(to & BIT(n)))
			continue;
		send_msg(p, n, &m);
		p->stats.erase_sent++;
	}
	f->next_at = now + p->cfg.retransmit_us;
}

static struct fanout *fanout_find(struct paxos *p, const struct store_entry *e)
{
	for (size_t i = 0; i < p->n_fanout; i++)
		if (p->fanout[i].e == e)
			return &p->fanout[i];
	return NULL;
}

/* Tombstone collection: forget the fan-out once every node acknowledged. */
static void fanout_maybe_done(struct paxos *p, struct fanout *f)
{
	if ((f->acked & all_nodes_mask(p)) != all_nodes_mask(p))
		return;
	*f = p->fanout[--p->n_fanout];
	p->stats.tombstones_pending = p->n_fanout;
}

/*
 * Every daemon that erases tells every other one, until each acknowledged
 * (or itself said so with an ERASE): if the first daemon died right after
 * erasing, the others still spread it.
 */
static void fanout_add(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
		       uint64_t now)
{
	struct fanout *f = fanout_find(p, e);
	if (!f) {
		struct fanout *v = grow(p->fanout, &p->cap_fanout, p->n_fanout, sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->fanout = v;
		f = &v[p->n_fanout++];
		f->e = e;
		f->gen = 0;
	}
	if (gen >= f->gen) {
		f->gen = gen;
		f->acked = self_bit(p) | (from ? BIT(from) : 0);
	}
	p->stats.tombstones_pending = p->n_fanout;
	fanout_send(p, f, now);
	fanout_maybe_done(p, f);
}

static void fanout_ack(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from)
{
	struct fanout *f = fanout_find(p, e);
	if (!f || gen < f->gen)
		return;
	f->acked |= BIT(from);
	fanout_maybe_done(p, f);
}

static void cascade(struct paxos *p, struct store_entry *e, uint64_t now);

/*
 * Ends every generation <= through of the key here: forgets its acceptor
 * and learner state (store_erase), stops a watch, reports it (paxos_erased),
 * spreads it (ERASE), restarts the requests on the key in the next
 * generation, and erases the keys bound to it (cascade). `from`: the node
 * that told us (it needs no ERASE), 0: ourselves.
 */
static void erase_entry(struct paxos *p, struct store_entry *e, uint64_t through, uint32_t from,
			uint64_t now)
{
	if (e->gen > through)
		return;
	bool watched = e->chosen && self_owned_pid(p, e->chosen_bind);
	int32_t pid = e->chosen_bind->pid;
	uint64_t st = e->chosen_bind->start_time;
	store_erase(p->store, e, through);
	if (watched)
		watch_ref(p, pid, st, -1, NULL);
	push_erased(p, e, through);
	p->stats.erasures++;
	store_bucket_stats(e->bucket)->erasures++;
	fanout_add(p, e, through, from, now);
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state != PAXOS_ST_DONE && r->kind != PAXOS_REQ_KEYS && req_is_key(r, e))
			dispatch(p, r, PAXOS_EV_ERASED, 0, NULL, now);
	cascade(p, e, now);
}

/* Key bindings: every key of the bucket bound to an ended generation of e's key. */
static void cascade(struct paxos *p, struct store_entry *e, uint64_t now)
{
	struct store_bucket *b = e->bucket;
	/*
	 * The walk is O(keys of the bucket), once per erasure: with a quarter
	 * of a million keys that is about 15 ms of the loop for every ended
	 * lifetime. The store counts the bucket's chosen entries bound to a
	 * key (bound[] is indexed by the PKV_BIND_* bit), so a bucket without any is not
	 * walked.
	 */
	if (store_bucket_stats(b)->bound[__builtin_ctz(PKV_BIND_KEY)] == 0)
		return;
	for (size_t i = 0; i < store_bucket_nkeys(b); i++) {
		struct store_entry *d = store_bucket_entry_at(b, i);
		const struct pkv_bindings *db = d->chosen_bind;
		if (d != e && d->chosen && (db->mask & PKV_BIND_KEY) && db->key_gen < e->gen &&
		    pkv_bytes_eq(db->key, e->key))
			erase_entry(p, d, d->gen, 0, now);
	}
}

/* A learned value whose binding is known to have ended ends its generation. */
static bool check_entry(struct paxos *p, struct store_entry *e, uint64_t now)
{
	if (!e->chosen ||
	    !binding_dead(p, bind_or_null(e->chosen_bind), store_bucket_name(e->bucket), now))
		return true;
	erase_entry(p, e, e->gen, 0, now);
	return false;
}

/* After news (a disconnect, a restart, an exit): erase what it ended. */
static void sweep(struct paxos *p, uint64_t now)
{
	/* The walk is O(keys): with nothing bound to a pid or node (the
	 * store counts them) a lost peer must not stall the loop for it. */
	if (!store_bound_pid_node(p->store))
		return;
	for (size_t i = 0; i < store_nentries(p->store); i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		if (e->chosen && (e->chosen_bind->mask & (PKV_BIND_PID | PKV_BIND_NODE)))
			check_entry(p, e, now);
	}
}

static void expire_until(struct paxos *p, uint64_t now)
{
	if (!p->wall_set)
		return;
	uint64_t w = wall_ms(p, now);
	while (p->n_uheap && p->uheap[0].until <= w) {
		struct uexp x = p->uheap[0];
		uheap_pop(p);
		if (x.e->gen == x.gen && x.e->chosen)
			check_entry(p, x.e, now);
	}
}

/*
 * Records a chosen value. Chosen values never change within a generation,
 * so a second, different one (value or bindings) is a broken safety
 * property: count it loudly. A value learned with a dead binding ends its
 * generation at once.
 */
static bool learned_effects(struct paxos *p, struct store_entry *e, uint64_t now);

static void learn(struct paxos *p, struct store_entry *e, struct pkv_ballot b,
		  struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t now)
{
	bind = bind_or_null(bind);
	if (e->chosen) {
		struct pkv_bindings none = { 0 };
		if (!pkv_bytes_eq(e->chosen_value, value) ||
		    !pkv_bindings_eq(e->chosen_bind, bind ? bind : &none)) {
			p->stats.violations++;
			push_event(p, PAXOS_E_VIOLATION, e->gen,
				   "paxos: BUG: two different values chosen for one key generation");
		}
		return;
	}
	if (store_set_chosen_bound(p->store, e, b, value, bind)) {
		p->oom = -ENOMEM;
		return;
	}
	p->stats.learned++;
	if (!learned_effects(p, e, now))
		return;
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state != PAXOS_ST_DONE && r->kind != PAXOS_REQ_KEYS && req_is_key(r, e))
			dispatch(p, r, PAXOS_EV_CHOSEN, 0, NULL, now);
}

/*
 * What a chosen value sets going: its end when a binding is already dead (then
 * false), else the watch of an own pid, the until timer, and the cache.
 */
static bool learned_effects(struct paxos *p, struct store_entry *e, uint64_t now)
{
	if (!check_entry(p, e, now))
		return false;
	if (self_owned_pid(p, e->chosen_bind))
		watch_ref(p, e->chosen_bind->pid, e->chosen_bind->start_time, +1, e);
	if (e->chosen_bind->mask & PKV_BIND_UNTIL)
		uheap_push(p, e->chosen_bind->until, e, e->gen);
	if (p->n_learned == p->cap_learned) {
		size_t cap = p->cap_learned ? p->cap_learned * 2 : 64;
		struct store_entry **v = realloc(p->learned, cap * sizeof(*v));
		if (v) {
			p->learned = v;
			p->cap_learned = cap;
		}
	}
	/* Without memory the entry is still learned; only the cache misses it. */
	if (p->n_learned < p->cap_learned)
		p->learned[p->n_learned++] = e;
	return true;
}

/*
 * Marks a change to e's persistent state for the durable log. Without memory
 * for the mark the change stays in memory only; p->oom makes the loop log it,
 * and the acceptor answers nothing that depended on it.
 */
static int touch(struct paxos *p, struct store_entry *e)
{
	int r = store_touch(p->store, e);
	if (r)
		p->oom = r;
	return r;
}

static void note_round(struct paxos *p, struct store_entry *e, struct pkv_ballot b)
{
	if (b.round > e->max_round) {
		e->max_round = b.round;
		touch(p, e);
	}
}

/* ---- acceptor --------------------------------------------------------- */

static bool acceptor_may_answer(struct paxos *p)
{
	if (p->synced)
		return true;
	p->stats.dropped_unsynced++;
	return false;
}

/*
 * Generations (DESIGN §3.2): a message of a newer generation says every
 * older one has ended (generations only advance by erasure), so we erase
 * up to it and go on; a message of an older generation is ignored, and its
 * sender (not self) is told with an ERASE so that it catches up.
 */
static bool gen_ok(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
		   uint64_t now)
{
	if (gen > e->gen)
		erase_entry(p, e, gen - 1, from, now);
	if (gen == e->gen)
		return true;
	p->stats.stale_gen++;
	if (from && from != p->cfg.self && e->gen > 1) {
		struct pkv_msg m = {
			.type = PKV_MSG_ERASE,
			.bucket = store_bucket_name(e->bucket),
			.key = e->key,
			.gen = e->gen - 1,
		};
		send_msg(p, from, &m);
	}
	return false;
}

/*
 * What both acceptor phases do first: answer only once synced, find the
 * key's entry, ignore another generation (gen_ok), note the round, and start
 * the reply of `type` about the same key and ballot. NULL: no answer.
 */
static struct store_entry *acceptor_begin(struct paxos *p, uint32_t from, const struct pkv_msg *m,
					  uint64_t now, uint8_t type, struct pkv_msg *r)
{
	if (!acceptor_may_answer(p))
		return NULL;
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, true);
	if (!e) {
		p->oom = -ENOMEM;
		return NULL;
	}
	if (!gen_ok(p, e, m->gen, from, now))
		return NULL;
	note_round(p, e, m->ballot);
	*r = (struct pkv_msg){
		.type = type,
		.bucket = m->bucket,
		.key = m->key,
		.gen = e->gen,
		.ballot = m->ballot,
		.req = m->req,
	};
	return e;
}

/*
 * Phase 1b.
 *   "If an acceptor receives a prepare request with number n greater than
 *    that of any prepare request to which it has already responded, then it
 *    responds to the request with a promise not to accept any more proposals
 *    numbered less than n and with the highest-numbered proposal (if any)
 *    that it has accepted."                    — Paxos Made Simple, §2.2
 * Enforced: promise iff ballot >= promised (equal: the same prepare again,
 * answered the same way), and the reply always carries the accepted
 * (ballot, value). Otherwise nack with the higher promise.
 */
static void acceptor_prepare(struct paxos *p, uint32_t from, const struct pkv_msg *m,
			     uint64_t now)
{
	struct pkv_msg r;
	struct store_entry *e = acceptor_begin(p, from, m, now, PKV_MSG_PROMISE, &r);
	if (!e)
		return;
	if (pkv_ballot_cmp(m->ballot, e->promised) >= 0) {
		e->promised = m->ballot;
		p->fresh = false;
		if (touch(p, e))
			return; /* not answered: the promise could not be made durable */
		r.flags = PKV_MF_OK;
#if PKV_PAXOS_BROKEN_ACCEPTOR
		/* TEST ONLY: the promise forgets to report the accepted value. */
		(void)0;
#else
		if (e->has_accepted) {
			r.flags |= PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
#endif
	} else {
		r.accepted = e->promised;
	}
	send_msg(p, from, &r);
}

/*
 * Phase 2b.
 *   "If an acceptor receives an accept request for a proposal numbered n, it
 *    accepts the proposal unless it has already responded to a prepare
 *    request having a number greater than n."  — Paxos Made Simple, §2.2
 * Enforced: accept iff ballot >= promised; accepting also raises the promise
 * to the ballot. Otherwise nack with the promise.
 */
static void acceptor_accept(struct paxos *p, uint32_t from, const struct pkv_msg *m,
			    uint64_t now)
{
	struct pkv_msg r;
	struct store_entry *e = acceptor_begin(p, from, m, now, PKV_MSG_ACCEPTED, &r);
	if (!e)
		return;
	/* Rule 1 of the fast round: one vote at F, repeats of it answered again. */
	bool fast_revote = is_fast(m->ballot) && e->has_accepted && is_fast(e->accepted) &&
			   !same_value(m->value, &p->rx_bind, e->accepted_value, e->accepted_bind);
	if (fast_revote)
		p->stats.fast_refused++;
	if (!fast_revote && pkv_ballot_cmp(m->ballot, e->promised) >= 0) {
		if (store_set_accepted_bound(p->store, e, m->ballot, m->value,
					     bind_or_null(&p->rx_bind))) {
			p->oom = -ENOMEM;
			return; /* no answer: the proposer retransmits */
		}
		e->promised = m->ballot;
		p->fresh = false;
		r.flags = PKV_MF_OK; /* durable: store_set_accepted_bound touched e */
	} else {
		r.accepted = e->promised;
	}
	send_msg(p, from, &r);
}

/* A get asks what the acceptor accepted, and whether the learner knows. */
static void acceptor_query(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	if (!acceptor_may_answer(p))
		return;
	struct pkv_msg r = {
		.type = PKV_MSG_QUERY_REPLY,
		.bucket = m->bucket,
		.key = m->key,
		.req = m->req,
		.gen = 1,
	};
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	if (e) {
		r.gen = e->gen;
		if (e->chosen) {
			r.flags = PKV_MF_CHOSEN | PKV_MF_HAS_VALUE;
			r.accepted = e->chosen_ballot;
			msg_value(p, &r, e->chosen_value, e->chosen_bind);
		} else if (e->has_accepted) {
			r.flags = PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
	}
	send_msg(p, from, &r);
}

/*
 * Keys of a bucket that hold a value here, one per message; the loop packs
 * them into as many datagrams as needed. arg0 (max per reply) is advisory.
 */
static void keys_answer(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	struct store_bucket *b = store_bucket(p->store, m->bucket, false);
	struct pkv_msg r = {
		.type = PKV_MSG_KEYS_REPLY,
		.bucket = m->bucket,
		.req = m->req,
	};
	size_t n = b ? store_bucket_nkeys(b) : 0;
	size_t last = SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		if (store_entry_has_value(store_bucket_entry_at(b, i)))
			last = i;
	for (size_t i = 0; last != SIZE_MAX && i <= last; i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		if (!store_entry_has_value(e))
			continue;
		r.key = e->key;
		r.flags = i == last ? PKV_MF_LAST : 0;
		send_msg(p, from, &r);
	}
	if (last == SIZE_MAX) {
		r.key = (struct pkv_bytes){ 0 };
		r.flags = PKV_MF_LAST;
		send_msg(p, from, &r);
	}
}

/*
 * One page of the store for a restarting peer: records for entries
 * [arg0, arg0 + sync_page), each with arg0 = its index + 1. An entry whose
 * learner knows a value at a ballot other than the accepted one gets a
 * second, learner-only record (PKV_MF_CHOSEN without PKV_MF_HAS_VALUE).
 * PKV_MF_LAST marks the store's last entry; an empty store past the cursor
 * answers one key-less PKV_MF_LAST record with arg0 = cursor.
 */
static void sync_answer(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	if (!acceptor_may_answer(p))
		return;
	size_t n = store_nentries(p->store);
	uint64_t c = m->arg0;
	struct pkv_msg r = { .type = PKV_MSG_SYNC_REPLY, .req = m->req };
	if (c >= n) {
		r.flags = PKV_MF_LAST;
		r.arg0 = c;
		send_msg(p, from, &r);
		return;
	}
	for (uint64_t i = c; i < n && i < c + p->cfg.sync_page; i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		r.bucket = store_bucket_name(e->bucket);
		r.key = e->key;
		r.gen = e->gen;
		r.ballot = e->promised;
		r.arg0 = i + 1;
		uint8_t last = i + 1 == n ? PKV_MF_LAST : 0;
		r.flags = last;
		r.accepted = (struct pkv_ballot){ 0 };
		r.value = (struct pkv_bytes){ 0 };
		if (e->has_accepted) {
			r.flags |= PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
		bool same = e->has_accepted && !pkv_ballot_cmp(e->accepted, e->chosen_ballot);
		if (e->chosen && (same || !e->has_accepted)) {
			r.flags |= PKV_MF_CHOSEN;
			r.flags &= (uint8_t)~PKV_MF_BOUND;
			r.accepted = e->chosen_ballot;
			msg_value(p, &r, e->chosen_value, e->chosen_bind);
		}
		send_msg(p, from, &r);
		if (e->chosen && !same && e->has_accepted) {
			r.flags = PKV_MF_CHOSEN | last;
			r.accepted = e->chosen_ballot;
			msg_value(p, &r, e->chosen_value, e->chosen_bind);
			send_msg(p, from, &r);
		}
	}
}

/* ---- proposer --------------------------------------------------------- */

static struct store_entry *req_entry(struct paxos *p, struct req *r)
{
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, true);
	if (!e)
		p->oom = -ENOMEM;
	return e;
}

static bool ready(const struct paxos *p)
{
	return p->synced && paxos_has_quorum(p);
}

/* Sends the current phase's message to every node that has not answered. */
static void send_phase(struct paxos *p, struct req *r, uint64_t answered, bool all)
{
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
	struct pkv_msg m = {
		.bucket = r->bucket,
		.key = r->key,
		.gen = e ? e->gen : 1,
		.ballot = r->ballot,
		.req = r->rid,
	};
	switch (r->state) {
	case PAXOS_ST_PREPARING:
		m.type = PKV_MSG_PREPARE;
		break;
	case PAXOS_ST_ACCEPTING:
		m.type = PKV_MSG_ACCEPT;
		msg_value(p, &m, r->proposal, r->proposal_bind);
		break;
	case PAXOS_ST_QUERYING:
		m.type = PKV_MSG_QUERY;
		m.gen = 0;
		m.ballot = (struct pkv_ballot){ 0 };
		break;
	default:
		return;
	}
	if (all) {
		send_msg(p, PKV_TO_ALL, &m);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (!(answered & BIT(n))) {
			send_msg(p, n, &m);
			p->stats.retransmits++;
		}
	}
}

/* Phase 1a with a round above every round seen for the key. */
static void start_round(struct paxos *p, struct req *r, uint64_t now)
{
	struct store_entry *e = req_entry(p, r);
	if (!e) {
		r->t_timer = now + p->cfg.retransmit_us;
		set_state(p, r, PAXOS_ST_BACKOFF);
		return;
	}
	/* Our own value must still be alive (it may be our second lifetime). */
	if (r->has_value && binding_dead(p, bind_or_null(&r->bind), r->bucket, now)) {
		complete_status(p, r, PKV_S_INVALID_VALUE);
		return;
	}
	uint64_t round = e->max_round;
	if (e->promised.round > round)
		round = e->promised.round;
	if (r->ballot.round > round)
		round = r->ballot.round;
	if (round < fast_ballot.round)
		round = fast_ballot.round; /* classic rounds start above F's */
	r->ballot = (struct pkv_ballot){ .round = round + 1, .node = p->cfg.self };
	r->t_ballot = now;
	e->max_round = round + 1;
	touch(p, e);
	r->promised_mask = r->accepted_mask = 0;
	r->has_best = false;
	free_bytes(&r->best_value);
	bind_free(&r->best_bind);
	r->proposal_bind = NULL;
	p->stats.rounds_started++;
	set_state(p, r, PAXOS_ST_PREPARING);
	r->t_timer = now + p->cfg.retransmit_us;
	send_phase(p, r, 0, true);
}

/*
 * How long a fast round waits for its last answers once a majority has
 * accepted: 4 x the recent time to a full fast quorum, within [250 µs,
 * fast_wait_us] (fast_wait_us / 4 before any fast round finished). Past
 * that a classic round, which needs only the majority, is quicker than a
 * node that is waiting for a CPU.
 */
static uint64_t fast_straggler_us(const struct paxos *p)
{
	uint64_t w = p->cfg.fast_wait_us;
	if (!p->fast_ewma_us)
		return w / 4;
	uint64_t t = 4 * p->fast_ewma_us;
	if (t < 250)
		t = 250;
	return t < w ? t : w;
}

static void fast_note_latency(struct paxos *p, uint64_t us)
{
	p->fast_ewma_us = p->fast_ewma_us ? (7 * p->fast_ewma_us + us) / 8 : us;
}

/*
 * A put's first try at a key this node holds nothing of, with every node of
 * cluster_size connected: ACCEPT at the fast ballot, no phase 1. False when
 * it does not apply; the caller then runs a classic round.
 */
static bool start_fast(struct paxos *p, struct req *r, uint64_t now)
{
	if (p->cfg.no_fast_put || r->tried_fast || !r->has_value || r->conflicts)
		return false;
	if (popcount(connected_mask(p)) < p->cfg.cluster_size || now < p->fast_pause_until)
		return false;
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
	if (e && (!pkv_ballot_is_zero(e->promised) || store_entry_has_value(e)))
		return false;
	if (binding_dead(p, bind_or_null(&r->bind), r->bucket, now))
		return false; /* start_round answers it */
	r->tried_fast = true;
	r->ballot = fast_ballot;
	r->t_ballot = now;
	r->promised_mask = r->accepted_mask = 0;
	r->has_best = false;
	r->proposal = r->value;
	r->proposal_bind = &r->bind;
	p->stats.fast_rounds++;
	set_state(p, r, PAXOS_ST_ACCEPTING);
	r->t_timer = now + p->cfg.fast_wait_us;
	send_phase(p, r, 0, true);
	return true;
}

static void start_query(struct paxos *p, struct req *r, uint64_t now)
{
	r->answered_mask = 0;
	for (uint32_t i = 0; i < r->n_votes; i++) {
		free_bytes(&r->votes[i].value);
		bind_free(&r->votes[i].bind);
	}
	r->n_votes = 0;
	set_state(p, r, PAXOS_ST_QUERYING);
	r->t_timer = now + p->cfg.retransmit_us;
	send_phase(p, r, 0, true);
}

static void start_keys(struct paxos *p, struct req *r, uint64_t now)
{
	r->expect_mask = connected_mask(p) & ~self_bit(p);
	r->answered_mask = 0;
	set_state(p, r, PAXOS_ST_KEYS);
	r->t_timer = now + p->cfg.retransmit_us;
	struct pkv_msg m = {
		.type = PKV_MSG_KEYS_REQ,
		.bucket = r->bucket,
		.req = r->rid,
		.arg0 = p->cfg.keys_page,
	};
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (r->expect_mask & BIT(p->cfg.nodes[i]))
			send_msg(p, p->cfg.nodes[i], &m);
}

/* What a request does once it may run (quorum, synced). */
static void begin(struct paxos *p, struct req *r, uint64_t now)
{
	switch (r->kind) {
	case PAXOS_REQ_GET:
		start_query(p, r, now);
		break;
	case PAXOS_REQ_PUT:
	case PAXOS_REQ_FORWARDED:
		if (!start_fast(p, r, now))
			start_round(p, r, now);
		break;
	case PAXOS_REQ_KEYS:
		start_keys(p, r, now);
		break;
	case PAXOS_REQ_DROP:
		break; /* started by paxos_bucket_drop, never waits */
	}
}

/*
 * A value is chosen: tell every learner, record it, answer. When its
 * binding has ended, learn() ends the generation instead and the request
 * goes on in the next one (PAXOS_EV_ERASED): the dead value is not returned.
 */
static void chosen(struct paxos *p, struct req *r, struct pkv_ballot b, struct pkv_bytes v,
		   const struct pkv_bindings *bind, uint64_t now)
{
	struct store_entry *e = req_entry(p, r);
	if (!e)
		return;
	uint64_t gen = e->gen;
	struct pkv_msg m = {
		.type = PKV_MSG_CHOSEN,
		.bucket = r->bucket,
		.key = r->key,
		.gen = e->gen,
		.ballot = b,
	};
	msg_value(p, &m, v, bind);
	if (p->cfg.n_nodes > 1)
		send_msg(p, PKV_TO_ALL, &m);
	/* learn() completes every request on the key, r included. */
	learn(p, e, b, v, bind, now);
	if (e->gen != gen || !e->chosen)
		return;
	if (r->state != PAXOS_ST_DONE)
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
}

static void go_backoff(struct paxos *p, struct req *r, const struct pkv_msg *m, uint64_t now)
{
	struct store_entry *e = req_entry(p, r);
	if (e && m)
		note_round(p, e, m->accepted);
	r->conflicts++;
	p->stats.conflicts++;
	uint64_t span = p->cfg.backoff_max_us;
	/* Grows with repeated conflicts, up to 4× the configured bound. */
	if (r->conflicts > 1)
		span *= r->conflicts < 4 ? r->conflicts : 4;
	r->t_timer = now + 1 + splitmix(&p->rng) % span;
	set_state(p, r, PAXOS_ST_BACKOFF);
}

static void forward(struct paxos *p, struct req *r, uint32_t to, uint64_t now)
{
	r->fwd_to = to;
	set_state(p, r, PAXOS_ST_FORWARDED);
	r->t_timer = now + 4 * p->cfg.retransmit_us;
	struct pkv_msg m = {
		.type = PKV_MSG_FORWARD,
		.bucket = r->bucket,
		.key = r->key,
		.req = r->rid,
		.arg0 = r->deadline == PAXOS_NO_DEADLINE ? PAXOS_NO_DEADLINE
			: r->deadline > now		 ? r->deadline - now
							 : 0,
	};
	msg_value(p, &m, r->value, &r->bind);
	send_msg(p, to, &m);
}

/* After a backoff: forward to the primary after the first conflict, else retry. */
static void retry_round(struct paxos *p, struct req *r, uint64_t now)
{
	if (!ready(p)) {
		r->t_timer = UINT64_MAX;
		set_state(p, r, PAXOS_ST_WAIT_QUORUM);
		return;
	}
	if (r->kind == PAXOS_REQ_PUT && r->conflicts >= 1 && !r->no_forward) {
		uint32_t prim = paxos_primary(p, r->bucket, r->key);
		if (prim != p->cfg.self && p->peers[prim].connected) {
			if (r->fwd_to == 0)
				p->stats.forwards++;
			forward(p, r, prim, now);
			return;
		}
	}
	start_round(p, r, now);
}

/* --- one handler per state --- */

static void st_wait_quorum(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			   const struct pkv_msg *m, uint64_t now)
{
	if ((ev == PAXOS_EV_START || ev == PAXOS_EV_QUORUM) && ready(p))
		begin(p, r, now);
}

static void st_querying(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			const struct pkv_msg *m, uint64_t now)
{
	unsigned q = quorum(p);
	if (ev == PAXOS_EV_QUERY_REPLY) {
		if (r->answered_mask & BIT(from))
			return;
		r->answered_mask |= BIT(from);
		struct store_entry *e = req_entry(p, r);
		if (!e)
			return;
		if (m->gen > e->gen) {
			/* A newer generation: erasing restarts the query there. */
			erase_entry(p, e, m->gen - 1, from, now);
			return;
		}
		bool stale = m->gen < e->gen; /* the sender holds nothing of ours */
		if (stale)
			gen_ok(p, e, m->gen, from, now); /* tells it to catch up */
		if (!stale && (m->flags & PKV_MF_CHOSEN)) {
			/* The sender's learner knows it: that is a fact. */
			uint64_t gen = e->gen;
			learn(p, e, m->accepted, m->value, &p->rx_bind, now);
			if (e->gen == gen && r->state != PAXOS_ST_DONE && e->chosen)
				req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
			return;
		}
		if (!stale && (m->flags & PKV_MF_HAS_VALUE)) {
			struct qvote *v = NULL;
			for (uint32_t i = 0; i < r->n_votes; i++)
				if (!pkv_ballot_cmp(r->votes[i].b, m->accepted) &&
				    (!is_fast(m->accepted) || same_value(r->votes[i].value, &r->votes[i].bind,
									 m->value, &p->rx_bind)))
					v = &r->votes[i];
			if (!v) {
				v = &r->votes[r->n_votes];
				if (dup_bytes(&v->value, m->value) || bind_dup(&v->bind, &p->rx_bind)) {
					free_bytes(&v->value);
					p->oom = -ENOMEM;
					r->answered_mask &= ~BIT(from);
					return;
				}
				v->b = m->accepted;
				v->n = 0;
				r->n_votes++;
			}
			/* A majority accepted one ballot (all, at F): that value is chosen. */
			if (++v->n >= quorum_at(p, v->b)) {
				chosen(p, r, v->b, v->value, &v->bind, now);
				return;
			}
		}
	} else if (ev != PAXOS_EV_TIMER) {
		return;
	}
	unsigned answered = popcount(r->answered_mask);
	if (answered < q) {
		if (ev == PAXOS_EV_TIMER) {
			r->t_timer = now + p->cfg.retransmit_us;
			send_phase(p, r, r->answered_mask, false);
		}
		return;
	}
	if (r->n_votes == 0) {
		/* A majority holds no value: nothing was chosen. */
		req_complete(p, r, PKV_S_NOT_FOUND, 0, (struct pkv_bytes){ 0 }, NULL);
		return;
	}
	/*
	 * Values without a majority: an interrupted round. Wait for the other
	 * connected nodes until the timer, then finish the round.
	 */
	bool all = (connected_mask(p) & ~r->answered_mask) == 0;
	if (all || ev == PAXOS_EV_TIMER) {
		r->get_round = true;
		start_round(p, r, now);
	}
}

static void st_preparing(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			 const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_PROMISE:
		if (r->promised_mask & BIT(from))
			return;
		if ((m->flags & PKV_MF_HAS_VALUE) &&
		    (!r->has_best || pkv_ballot_cmp(m->accepted, r->best) > 0)) {
			struct pkv_bytes nv;
			struct pkv_bindings nb;
			if (dup_bytes(&nv, m->value)) {
				p->oom = -ENOMEM;
				return;
			}
			if (bind_dup(&nb, &p->rx_bind)) {
				free_bytes(&nv);
				p->oom = -ENOMEM;
				return;
			}
			free_bytes(&r->best_value);
			bind_free(&r->best_bind);
			r->best_value = nv;
			r->best_bind = nb;
			r->best = m->accepted;
			r->has_best = true;
		}
		r->promised_mask |= BIT(from);
		if (popcount(r->promised_mask) < quorum(p))
			return;
		/*
		 * Adopt the highest-ballot accepted value, else our own.
		 *
		 * A value whose binding is known dead is never adopted as an
		 * answer, yet it is still the one we propose in this
		 * generation. Why: it may already be chosen here (a majority
		 * accepted it and nobody told us), and agreement within a
		 * generation forbids choosing anything else in it. Proposing
		 * it makes the generation's decision certain (it or, if a
		 * higher ballot wins meanwhile, that ballot's value, by the
		 * usual Paxos argument); when it is chosen, learn() sees the
		 * dead binding and ends the generation — correct, since the
		 * chosen value's lifetime is over — and the request starts
		 * again in generation g + 1 with its own value (put) or a new
		 * query (get). Ending g on any weaker evidence (say, the dead
		 * value is only accepted) could erase a live value chosen in g
		 * at a higher ballot by a proposer we raced with.
		 */
		if (r->has_best) {
			r->proposal = r->best_value;
			r->proposal_bind = &r->best_bind;
			if (binding_dead(p, bind_or_null(&r->best_bind), r->bucket, now))
				p->stats.dead_adopted++;
		} else if (r->has_value) {
			r->proposal = r->value;
			r->proposal_bind = &r->bind;
		} else {
			/*
			 * A get's round: no acceptor of a majority accepted
			 * anything below our ballot, and they promised to
			 * accept nothing below it, so nothing is chosen.
			 */
			req_complete(p, r, PKV_S_NOT_FOUND, 0, (struct pkv_bytes){ 0 }, NULL);
			return;
		}
		set_state(p, r, PAXOS_ST_ACCEPTING);
		r->t_timer = now + p->cfg.retransmit_us;
		send_phase(p, r, 0, true);
		return;
	case PAXOS_EV_NACK:
		go_backoff(p, r, m, now);
		return;
	case PAXOS_EV_TIMER:
		/* A ballot's messages live a bounded time (the restart quiet period). */
		if (now - r->t_ballot >= p->cfg.ballot_life_us) {
			start_round(p, r, now);
			return;
		}
		r->t_timer = now + p->cfg.retransmit_us;
		send_phase(p, r, r->promised_mask, false);
		return;
	default:
		return;
	}
}

static void st_accepting(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			 const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_ACCEPTED:
		r->accepted_mask |= BIT(from);
		if (popcount(r->accepted_mask) >= quorum_at(p, r->ballot)) {
			p->stats.chosen++;
			if (is_fast(r->ballot)) {
				p->stats.fast_chosen++;
				fast_note_latency(p, now - r->t_ballot);
			}
			chosen(p, r, r->ballot, r->proposal, r->proposal_bind, now);
		} else if (is_fast(r->ballot) && popcount(r->accepted_mask) >= quorum(p)) {
			/* A majority has it: a straggler is not waited for long. */
			uint64_t t = r->t_ballot + fast_straggler_us(p);
			if (t < r->t_timer)
				r->t_timer = t > now ? t : now;
		}
		return;
	case PAXOS_EV_NACK:
		if (is_fast(r->ballot)) {
			/*
			 * Another value or a classic round got there first: a
			 * classic round settles it (its phase 1 finds the votes).
			 */
			p->stats.fast_fallbacks++;
			start_round(p, r, now);
			return;
		}
		go_backoff(p, r, m, now);
		return;
	case PAXOS_EV_TIMER:
		if (is_fast(r->ballot)) {
			/*
			 * Not every node answered in time: a majority is enough
			 * classically. A node that has not answered at all in
			 * fast_wait_us may be gone: pause the fast round. One
			 * that is merely late (a majority did answer) is not.
			 */
			p->stats.fast_fallbacks++;
			if (popcount(r->accepted_mask) < quorum(p))
				p->fast_pause_until = now + 20 * p->cfg.fast_wait_us;
			start_round(p, r, now);
			return;
		}
		if (now - r->t_ballot >= p->cfg.ballot_life_us) {
			start_round(p, r, now);
			return;
		}
		r->t_timer = now + p->cfg.retransmit_us;
		send_phase(p, r, r->accepted_mask, false);
		return;
	default:
		return;
	}
}

static void st_backoff(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		       const struct pkv_msg *m, uint64_t now)
{
	if (ev == PAXOS_EV_TIMER)
		retry_round(p, r, now);
}

static void st_forwarded(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			 const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_FWD_REPLY:
		if (m->arg0 == PKV_S_OK) {
			req_complete(p, r, PKV_S_OK, m->gen, m->value, &p->rx_bind);
			return;
		}
		/* The primary could not do it; keep trying here. */
		r->no_forward = true;
		retry_round(p, r, now);
		return;
	case PAXOS_EV_PEER_DOWN:
		if (from != r->fwd_to)
			return;
		r->no_forward = true;
		retry_round(p, r, now);
		return;
	case PAXOS_EV_TIMER:
		p->stats.retransmits++;
		forward(p, r, r->fwd_to, now);
		return;
	default:
		return;
	}
}

static void keys_add(struct paxos *p, struct req *r, struct pkv_bytes key)
{
	if (r->n_keys == r->cap_keys) {
		size_t cap = r->cap_keys ? r->cap_keys * 2 : 16;
		struct pkv_bytes *v = realloc(r->keys, cap * sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		r->keys = v;
		r->cap_keys = cap;
	}
	if (dup_bytes(&r->keys[r->n_keys], key)) {
		p->oom = -ENOMEM;
		return;
	}
	r->n_keys++;
}

static void st_keys(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		    const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_KEYS_REPLY:
		if (m->key.len)
			keys_add(p, r, m->key);
		if (m->flags & PKV_MF_LAST)
			r->answered_mask |= BIT(from);
		break;
	case PAXOS_EV_PEER_DOWN:
		r->expect_mask &= ~BIT(from);
		break;
	case PAXOS_EV_TIMER: {
		r->t_timer = now + p->cfg.retransmit_us;
		struct pkv_msg q = {
			.type = PKV_MSG_KEYS_REQ,
			.bucket = r->bucket,
			.req = r->rid,
			.arg0 = p->cfg.keys_page,
		};
		for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
			uint32_t n = p->cfg.nodes[i];
			if ((r->expect_mask & ~r->answered_mask) & BIT(n)) {
				p->stats.retransmits++;
				send_msg(p, n, &q);
			}
		}
		break;
	}
	default:
		break;
	}
	if ((r->expect_mask & ~r->answered_mask) == 0)
		complete_status(p, r, PKV_S_OK);
}

/* ---- bucket drop ------------------------------------------------------ */

/*
 * Bucket drop: the live generation of every key of the bucket ends on every
 * daemon, with the ordinary erasure rules (DESIGN §3.2).
 *
 * How it spreads. The origin ends the generation of each key it holds of
 * the bucket (erase_entry: tombstone, paxos_erased output, cascade, requests
 * on the key restarted in the next generation) and sends DROP to every
 * connected peer, again on every retransmit timer to those that did not
 * acknowledge.
 * A daemon that gets a DROP does the same for the keys it holds. Every one
 * of these erasures goes through the usual ERASE fan-out to every
 * configured node — the origin of the drop included, since it may not hold
 * the key — retransmitted until each acknowledged. A daemon sends DROP_ACK
 * only when every node it sees connected has acknowledged the ERASE of each
 * key of the bucket it ended, and the origin completes only when every
 * connected node (a majority at least) acknowledged and its own erasures
 * are acknowledged the same way. A daemon that is not synced (restarted,
 * copying a majority's acceptor state) does not hold its state yet: it
 * applies the drop, and acknowledges, only once synced — applied to a
 * partial store, the keys the sync brings in afterwards would survive.
 *
 * Why that is enough, and what a daemon that missed the drop still holds.
 * Let D be the connected set when the drop completes: a majority, each of
 * which holds the tombstone (generation > g) of every key that any member
 * of D held in generation g, whether it held the key itself or not.
 *  - A value chosen before the drop in generation g was accepted by a
 *    majority, which meets D: some member of D held it, so all of D has
 *    the tombstone. Every later PREPARE/ACCEPT of generation g needs a
 *    majority of answers in g, which would include a member of D; that
 *    member refuses (gen_ok) and tells the sender with an ERASE. So no
 *    value is ever chosen again in g, and a get's query meets a member of D
 *    whose newer generation ends g at the asker before it finishes.
 *  - A daemon M that missed the drop (down or cut off) may still hold such
 *    a value in g, as acceptor and in its learner, and its local learner
 *    would answer a get with it. It is not left like that: the ERASE
 *    fan-out of each member of D that ended the key keeps being sent to M
 *    until M acknowledges (the fan-out is dropped only when every configured
 *    node acknowledged), and any message of generation g+1 that reaches M
 *    (a PREPARE, a CHOSEN, a QUERY_REPLY, a SYNC_REPLY) ends g at M too
 *    (gen_ok). So M reports the key absent within a retransmit interval of
 *    hearing from the cluster again — the same bound as any erasure. A
 *    member of D that restarts without state loses its fan-out, but its
 *    sync copies the tombstone from a majority (sync_merge ends g, and
 *    that erasure fans out again).
 *  - A key that only daemons outside D held (a minority accepted a value
 *    and its round never finished) is unknown to D: a later get may finish
 *    that round and choose the value in g after the drop. Its put never
 *    completed before the drop (a completed put had a majority, which
 *    meets D), so that is a put racing with the drop landing after it.
 *    Agreement within g holds either way: g was never decided before.
 * Puts racing with the drop land on either side: one that ran its round
 * in g before a daemon of its majority applied the drop was chosen in g and
 * is then erased; one restarted by the erasure runs in g+1 and survives.
 */

/* Ends the live generation of every key of the bucket held here. */
static void drop_apply(struct paxos *p, struct pkv_bytes bucket, uint64_t now)
{
	p->stats.drops_applied++;
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	if (!b)
		return;
	/* Entries only append, so indices stay valid while erasures run. */
	for (size_t i = 0; i < store_bucket_nkeys(b); i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		/* An entry with nothing in its generation holds nothing to end. */
		if (!store_entry_has_value(e) && pkv_ballot_is_zero(e->promised))
			continue;
		p->stats.drop_erasures++;
		erase_entry(p, e, e->gen, 0, now);
	}
}

/* Every connected node acknowledged the ERASE of every key of the bucket we ended. */
static bool drop_settled(const struct paxos *p, struct pkv_bytes bucket)
{
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	if (!b)
		return true;
	uint64_t conn = connected_mask(p);
	for (size_t i = 0; i < p->n_fanout; i++)
		if (p->fanout[i].e->bucket == b && (conn & ~p->fanout[i].acked))
			return false;
	return true;
}

static void drop_send(struct paxos *p, struct req *r, uint64_t now)
{
	/*
	 * Connected peers only: one the drop does not wait for is reached by
	 * the ERASE fan-out, whereas a DROP reaching it long after the drop
	 * completed would end values put since.
	 */
	struct pkv_msg m = { .type = PKV_MSG_DROP, .bucket = r->bucket, .req = r->rid };
	uint64_t to = connected_mask(p) & ~r->answered_mask & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (to & BIT(p->cfg.nodes[i]))
			send_msg(p, p->cfg.nodes[i], &m);
	r->t_timer = now + p->cfg.retransmit_us;
}

static void drop_check(struct paxos *p, struct req *r)
{
	if (!r->drop_applied)
		return;
	uint64_t acked = r->answered_mask | self_bit(p);
	if ((connected_mask(p) & ~acked) == 0 && popcount(acked) >= quorum(p) &&
	    drop_settled(p, r->bucket))
		complete_status(p, r, PKV_S_OK);
}

static void st_dropping(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_DROP_ACK:
		r->answered_mask |= BIT(from);
		break;
	case PAXOS_EV_TIMER:
		p->stats.retransmits++;
		drop_send(p, r, now);
		break;
	default:
		break; /* a peer down or back: the check below sees it */
	}
	drop_check(p, r);
}

static void drop_ack_send(struct paxos *p, uint32_t to, uint64_t req, struct pkv_bytes bucket)
{
	struct pkv_msg a = { .type = PKV_MSG_DROP_ACK, .bucket = bucket, .req = req };
	send_msg(p, to, &a);
}

static void on_drop(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (!store_bucket_name_ok(m->bucket))
		return;
	for (size_t i = 0; i < p->n_dpend; i++)
		if (p->dpend[i].to == from && p->dpend[i].req == m->req)
			return; /* applied; acknowledged once settled */
	for (size_t i = 0; i < p->n_ddone; i++)
		if (p->ddone[i].to == from && p->ddone[i].req == m->req) {
			drop_ack_send(p, from, m->req, m->bucket); /* the ack was lost */
			return;
		}
	struct drop_pending *v = grow(p->dpend, &p->cap_dpend, p->n_dpend, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return; /* not applied: the origin retransmits */
	}
	p->dpend = v;
	struct drop_pending *d = &v[p->n_dpend];
	if (dup_bytes(&d->bucket, m->bucket)) {
		p->oom = -ENOMEM;
		return;
	}
	d->to = from;
	d->req = m->req;
	d->applied = p->synced;
	p->n_dpend++;
	if (d->applied)
		drop_apply(p, m->bucket, now);
}

/* Acknowledges the drops whose erasures settled; runs the origin's checks. */
static void drops_step(struct paxos *p, uint64_t now)
{
	for (size_t i = 0; p->synced && i < p->n_dpend; i++)
		if (!p->dpend[i].applied) {
			p->dpend[i].applied = true;
			drop_apply(p, p->dpend[i].bucket, now);
		}
	for (struct req *r = p->reqs; p->synced && r; r = r->next)
		if (r->kind == PAXOS_REQ_DROP && r->state == PAXOS_ST_DROPPING && !r->drop_applied) {
			r->drop_applied = true;
			drop_apply(p, r->bucket, now);
		}
	for (size_t i = 0; i < p->n_dpend;) {
		struct drop_pending *d = &p->dpend[i];
		if (!d->applied || !drop_settled(p, d->bucket)) {
			i++;
			continue;
		}
		drop_ack_send(p, d->to, d->req, d->bucket);
		if (!p->ddone) {
			p->ddone = calloc(DROP_DONE_RING, sizeof(*p->ddone));
			if (!p->ddone)
				p->oom = -ENOMEM;
		}
		if (p->ddone) {
			p->ddone[p->ddone_pos] = (struct drop_done){ .to = d->to, .req = d->req };
			p->ddone_pos = (p->ddone_pos + 1) % DROP_DONE_RING;
			if (p->n_ddone < DROP_DONE_RING)
				p->n_ddone++;
		}
		free_bytes(&d->bucket);
		*d = p->dpend[--p->n_dpend];
	}
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->kind == PAXOS_REQ_DROP && r->state == PAXOS_ST_DROPPING)
			drop_check(p, r);
}

static void st_done(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		    const struct pkv_msg *m, uint64_t now)
{
}

typedef void (*state_fn)(struct paxos *, struct req *, enum paxos_event, uint32_t,
			 const struct pkv_msg *, uint64_t);

static const state_fn state_handlers[PAXOS_ST__COUNT] = {
	[PAXOS_ST_WAIT_QUORUM] = st_wait_quorum, [PAXOS_ST_QUERYING] = st_querying,
	[PAXOS_ST_PREPARING] = st_preparing,	 [PAXOS_ST_ACCEPTING] = st_accepting,
	[PAXOS_ST_BACKOFF] = st_backoff,	 [PAXOS_ST_FORWARDED] = st_forwarded,
	[PAXOS_ST_KEYS] = st_keys,		 [PAXOS_ST_DONE] = st_done,
	[PAXOS_ST_RESOLVING] = st_done, /* the resolving get answers through finish() */
	[PAXOS_ST_DROPPING] = st_dropping,
};

/*
 * Two events mean the same in every live state: the deadline ends the
 * request, and a value learned for the key answers it. The rest goes to the
 * state's handler.
 */
static void dispatch(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		     const struct pkv_msg *m, uint64_t now)
{
	if (r->state == PAXOS_ST_DONE)
		return;
	if (ev == PAXOS_EV_DEADLINE) {
		if (r->kind == PAXOS_REQ_KEYS)
			complete_status(p, r, PKV_S_OK); /* what we have so far */
		else
			complete_status(p, r, r->state == PAXOS_ST_WAIT_QUORUM && !paxos_has_quorum(p)
						      ? PKV_S_NO_QUORUM
						      : PKV_S_TIMEOUT);
		return;
	}
	if (ev == PAXOS_EV_CHOSEN) {
		struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
		if (e && e->chosen)
			req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return;
	}
	if (ev == PAXOS_EV_ERASED) {
		/* The generation in flight ended: go on in the next one. */
		switch (r->state) {
		case PAXOS_ST_QUERYING:
		case PAXOS_ST_PREPARING:
		case PAXOS_ST_ACCEPTING:
		case PAXOS_ST_BACKOFF:
			break;
		default:
			return; /* not started, forwarded or resolving: nothing in flight */
		}
		r->t_timer = UINT64_MAX;
		if (!ready(p))
			set_state(p, r, PAXOS_ST_WAIT_QUORUM);
		else if (r->has_value)
			start_round(p, r, now);
		else
			start_query(p, r, now);
		return;
	}
	state_handlers[r->state](p, r, ev, from, m, now);
}

/* ---- restart: sync ---------------------------------------------------- */

static void become_synced(struct paxos *p, uint64_t now)
{
	p->synced = true;
	p->unsynced_since = 0;
	push_event(p, PAXOS_E_SYNCED, p->epoch, "paxos: acceptor synced; answering from now on");
	for (struct req *r = p->reqs; r; r = r->next)
		dispatch(p, r, PAXOS_EV_QUORUM, 0, NULL, now);
}

static void sync_send_page(struct paxos *p, uint32_t n, uint64_t now)
{
	struct peer *pe = &p->peers[n];
	pe->sync_rid = p->next_rid++;
	pe->sync_sent_at = now;
	struct pkv_msg m = { .type = PKV_MSG_SYNC_REQ, .req = pe->sync_rid, .arg0 = pe->sync_cursor };
	send_msg(p, n, &m);
}

static void sync_merge(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, true);
	if (!e) {
		p->oom = -ENOMEM;
		return;
	}
	/* A peer behind us holds nothing of the live generation; one ahead ends ours. */
	if (m->gen > e->gen)
		erase_entry(p, e, m->gen - 1, from, now);
	if (m->gen != e->gen)
		return;
	p->stats.sync_entries++;
	p->fresh = false;
	/* Per key: highest promise, highest-ballot accepted value. */
	if (pkv_ballot_cmp(m->ballot, e->promised) > 0) {
		e->promised = m->ballot;
		touch(p, e);
	}
	note_round(p, e, m->ballot);
	if ((m->flags & PKV_MF_HAS_VALUE) &&
	    (!e->has_accepted || pkv_ballot_cmp(m->accepted, e->accepted) > 0)) {
		if (store_set_accepted_bound(p->store, e, m->accepted, m->value,
					     bind_or_null(&p->rx_bind)))
			p->oom = -ENOMEM;
	}
	if (m->flags & PKV_MF_CHOSEN)
		learn(p, e, m->accepted, m->value, &p->rx_bind, now);
}

static void sync_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct peer *pe = &p->peers[from];
	/* Once synced, late pages must not change the acceptor behind our promises. */
	if (p->synced || pe->sync_done || m->req != pe->sync_rid || pe->sync_rid == 0)
		return;
	uint32_t page = p->cfg.sync_page;
	if (m->key.len) {
		uint64_t idx = m->arg0 - 1;
		if (m->arg0 == 0 || idx < pe->sync_cursor || idx >= pe->sync_cursor + page)
			return;
		sync_merge(p, from, m, now);
		if (p->oom)
			return; /* not marked: the page is asked again */
		pe->sync_got |= 1ull << (idx - pe->sync_cursor);
	}
	if (m->flags & PKV_MF_LAST) {
		pe->sync_last = true;
		pe->sync_end = m->arg0;
	}
	uint64_t end = pe->sync_cursor + page;
	if (pe->sync_last && pe->sync_end < end)
		end = pe->sync_end;
	for (uint64_t i = pe->sync_cursor; i < end; i++)
		if (!(pe->sync_got & (1ull << (i - pe->sync_cursor))))
			return;
	if (pe->sync_last && end == pe->sync_end) {
		pe->sync_done = true;
		pe->sync_rid = 0;
		if (pe->epoch > p->epoch)
			p->epoch = pe->epoch;
		return;
	}
	pe->sync_cursor = end;
	pe->sync_got = 0;
	sync_send_page(p, from, now);
}

/* Drives the restart rule; called from every entry point while unsynced. */
static void sync_step(struct paxos *p, uint64_t now)
{
	if (p->synced)
		return;
	/*
	 * Quiet period: a round that was under way when this daemon lost its
	 * state may still have PREPAREs or ACCEPTs in flight. Were we to copy a
	 * source before one of them lands there, the acceptance this daemon
	 * made before the restart — which may have completed a majority —
	 * would be in neither copy. Ballots live at most ballot_life_us, so we
	 * wait that out (twice, for the network) before copying anyone.
	 */
	if (p->cfg.restarted && !p->quiet_over) {
		if (now < p->cfg.start_us + p->cfg.restart_quiet_us)
			return;
		p->quiet_over = true;
	}
	unsigned q = quorum(p);
	unsigned connected = 1, fresh = p->fresh ? 1 : 0, synced_peers = 0, done = 0;
	unsigned unsynced = 1;	     /* connected nodes without their state, self included */
	unsigned synced_done = 0;    /* connected synced peers we finished copying */
	bool all_fresh = true;
	uint64_t max_epoch = p->epoch;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		struct peer *pe = &p->peers[n];
		if (n == p->cfg.self)
			continue;
		if (pe->sync_done)
			done++;
		if (!pe->connected)
			continue;
		connected++;
		if (pe->fresh)
			fresh++;
		else
			all_fresh = false;
		if (pe->synced) {
			synced_peers++;
			if (pe->sync_done)
				synced_done++;
		} else {
			unsynced++;
		}
		if (pe->epoch > max_epoch)
			max_epoch = pe->epoch;
	}
	/* A strict majority of cluster_size, not counting ourselves, copied. */
	if (done >= q) {
		become_synced(p, now);
		return;
	}
	/* Cluster bootstrap: nobody holds state, and a majority is here. */
	if (p->fresh && all_fresh && fresh >= q) {
		become_synced(p, now);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		struct peer *pe = &p->peers[n];
		if (n == p->cfg.self || pe->sync_done || !pe->connected || !pe->synced)
			continue;
		if (pe->sync_rid == 0 || now >= pe->sync_sent_at + p->cfg.retransmit_us)
			sync_send_page(p, n, now);
	}
	/*
	 * A majority of cluster_size is up but lost its state (restarted
	 * without durable state, self included), and we copied every synced
	 * peer there is: a value only the restarted daemons held is gone, and
	 * a synced majority can never form again. Waiting would be forever.
	 * (One restarted daemon beside a synced one that is merely unreachable
	 * is not this case: it keeps waiting, since the unreachable one may
	 * hold a chosen value.)
	 */
	if (connected >= q && unsynced >= q && synced_done == synced_peers &&
	    !(p->fresh && all_fresh)) {
		if (p->unsynced_since == 0) {
			p->unsynced_since = now ? now : 1;
		} else if (now - p->unsynced_since >= p->cfg.epoch_grace_us) {
			p->epoch = max_epoch + 1;
			p->stats.epochs_declared++;
			push_event(p, PAXOS_E_NEW_EPOCH, p->epoch,
				   "paxos: NEW EPOCH: a majority restarted without durable state; "
				   "values held only by the restarted daemons may be lost");
			become_synced(p, now);
		}
	} else {
		p->unsynced_since = 0;
	}
}

/* ---- entry points ----------------------------------------------------- */

static int handle(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

/* Puts whose key binding's get finished go on (or fail). True if any did. */
static bool resume_resolved(struct paxos *p, uint64_t now)
{
	bool any = false;
	for (struct req *r = p->reqs; r; r = r->next) {
		if (r->state != PAXOS_ST_RESOLVING || !r->resolve_done)
			continue;
		any = true;
		r->resolve_done = false;
		if (r->resolve_st == PKV_S_OK) {
			set_state(p, r, PAXOS_ST_WAIT_QUORUM);
			dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
		} else {
			/* The key it would live with is not there: invalid_value. */
			complete_status(p, r, r->resolve_st == PKV_S_NOT_FOUND ? PKV_S_INVALID_VALUE
									       : r->resolve_st);
		}
	}
	return any;
}

/* Runs the local roles' queued messages, then frees finished requests. */
static int finish(struct paxos *p, uint64_t now)
{
	do {
		for (size_t i = 0; i < p->selfq.n; i++) {
			struct pkv_msg m = p->selfq.v[i].msg;
			handle(p, p->cfg.self, &m, now);
		}
		pkv_outbox_reset(&p->selfq);
	} while (resume_resolved(p, now) || p->selfq.n);
	if (p->n_dpend || p->stats.requests_in_flight)
		drops_step(p, now);
	reap(p);
	int r = p->oom;
	p->oom = 0;
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct paxos *paxos_new(const struct paxos_config *cfg, struct store *store,
			struct pkv_outbox *outbox)
{
	if (!cfg || !store || !outbox || cfg->n_nodes == 0 || cfg->n_nodes > PKV_MAX_NODES ||
	    cfg->cluster_size == 0 || cfg->self == 0 || cfg->self > PKV_MAX_NODES)
		return NULL;
	struct paxos *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.retransmit_us)
		p->cfg.retransmit_us = 100000;
	if (!p->cfg.fast_wait_us)
		p->cfg.fast_wait_us = 10000;
	if (!p->cfg.backoff_max_us)
		p->cfg.backoff_max_us = 100000;
	if (!p->cfg.epoch_grace_us)
		p->cfg.epoch_grace_us = 3000000;
	if (!p->cfg.ballot_life_us)
		p->cfg.ballot_life_us = 1000000;
	if (!p->cfg.restart_quiet_us)
		p->cfg.restart_quiet_us = 2 * p->cfg.ballot_life_us;
	if (!p->cfg.sync_page || p->cfg.sync_page > 64)
		p->cfg.sync_page = 32;
	if (!p->cfg.keys_page)
		p->cfg.keys_page = 64;
	bool self_in = false;
	for (uint32_t i = 0; i < cfg->n_nodes; i++) {
		uint32_t n = cfg->nodes[i];
		if (n == 0 || n > PKV_MAX_NODES || p->peers[n].configured) {
			free(p);
			return NULL;
		}
		p->peers[n].configured = true;
		p->configured_mask |= BIT(n);
		self_in |= n == cfg->self;
		p->sorted[i] = n;
	}
	if (!self_in) {
		free(p);
		return NULL;
	}
	p->peers[cfg->self].configured = false; /* peers only */
	qsort(p->sorted, cfg->n_nodes, sizeof(p->sorted[0]), cmp_u32);
	p->store = store;
	p->ob = outbox;
	pkv_outbox_init(&p->selfq);
	p->rng = cfg->seed;
	/*
	 * Request ids start at a random point so that replies addressed to a
	 * previous incarnation of this daemon do not match new requests.
	 */
	p->next_rid = (splitmix(&p->rng) >> 16) + 1;
	p->fresh = cfg->fresh;
	p->synced = !cfg->restarted && !cfg->fresh;
	return p;
}

void paxos_free(struct paxos *p)
{
	if (!p)
		return;
	paxos_completions_reset(p);
	while (p->reqs) {
		struct req *r = p->reqs;
		p->reqs = r->next;
		req_free(r);
	}
	free(p->comp);
	free(p->ev);
	free(p->learned);
	free(p->watches);
	for (size_t i = 0; i < p->n_wrefs; i++)
		free(p->wrefs[i].ents);
	free(p->wrefs);
	free(p->exited);
	free(p->erased);
	free(p->fanout);
	free(p->uheap);
	for (size_t i = 0; i < p->n_dpend; i++)
		free_bytes(&p->dpend[i].bucket);
	free(p->dpend);
	free(p->ddone);
	pkv_outbox_free(&p->selfq);
	free(p);
}

/* Finds the request a reply is for; replies must name the same key. */
static struct req *reply_req(struct paxos *p, const struct pkv_msg *m, bool check_key)
{
	struct req *r = req_find(p, m->req);
	if (!r)
		return NULL;
	if (check_key && (!pkv_bytes_eq(r->bucket, m->bucket) || !pkv_bytes_eq(r->key, m->key)))
		return NULL;
	return r;
}

static void on_forward(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->kind == PAXOS_REQ_FORWARDED && r->origin == from && r->origin_req == m->req &&
		    r->state != PAXOS_ST_DONE)
			return; /* already working on it */
	uint64_t deadline = m->arg0 == PAXOS_NO_DEADLINE ? PAXOS_NO_DEADLINE
			    : m->arg0 > UINT64_MAX - now ? PAXOS_NO_DEADLINE
							 : now + m->arg0;
	if (m->key.len == 0 || m->key.len > PKV_MAX_KEY || m->value.len > PKV_MAX_VALUE ||
	    !store_bucket_name_ok(m->bucket))
		return;
	struct req *r = req_new(p, PAXOS_REQ_FORWARDED, 0, m->bucket, m->key, deadline, false);
	if (!r || dup_bytes(&r->value, m->value)) {
		if (r)
			complete_status(p, r, PKV_S_NO_MEMORY);
		p->oom = -ENOMEM;
		return;
	}
	r->origin = from;
	r->origin_req = m->req;
	r->has_value = true;
	r->no_forward = true; /* never forwarded twice */
	p->stats.forwards_served++;
	if (bind_dup(&r->bind, &p->rx_bind)) {
		complete_status(p, r, PKV_S_NO_MEMORY);
		p->oom = -ENOMEM;
		return;
	}
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	if (e && e->chosen && check_entry(p, e, now)) {
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return;
	}
	if (!paxos_has_quorum(p)) {
		complete_status(p, r, PKV_S_NO_QUORUM);
		return;
	}
	dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
}

static void on_erase(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, true);
	if (!e) {
		p->oom = -ENOMEM;
		return; /* unacknowledged: retransmitted */
	}
	erase_entry(p, e, m->gen, from, now);
	fanout_ack(p, e, m->gen, from); /* it erased through m->gen itself */
	struct pkv_msg a = {
		.type = PKV_MSG_ERASE_ACK,
		.bucket = m->bucket,
		.key = m->key,
		.gen = m->gen,
	};
	send_msg(p, from, &a);
}

static int handle(struct paxos *p, uint32_t from, const struct pkv_msg *m0, uint64_t now)
{
	struct req *r;
	/* Bound values arrive encoded; the roles see value and bindings apart. */
	struct pkv_msg mm = *m0;
	const struct pkv_msg *m = &mm;
	memset(&p->rx_bind, 0, sizeof(p->rx_bind));
	if ((m0->flags & PKV_MF_BOUND) && pkv_bound_decode(m0->value, &mm.value, &p->rx_bind))
		return 0; /* malformed: dropped like a bad datagram */
	switch (m->type) {
	case PKV_MSG_PREPARE:
		acceptor_prepare(p, from, m, now);
		break;
	case PKV_MSG_ACCEPT:
		acceptor_accept(p, from, m, now);
		break;
	case PKV_MSG_ERASE:
		if (from != p->cfg.self && m->gen >= 1)
			on_erase(p, from, m, now);
		break;
	case PKV_MSG_ERASE_ACK: {
		struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
		if (e && from != p->cfg.self)
			fanout_ack(p, e, m->gen, from);
		break;
	}
	case PKV_MSG_DROP:
		if (from != p->cfg.self)
			on_drop(p, from, m, now);
		break;
	case PKV_MSG_DROP_ACK:
		r = req_find(p, m->req);
		if (r && r->kind == PAXOS_REQ_DROP && from != p->cfg.self &&
		    pkv_bytes_eq(r->bucket, m->bucket))
			dispatch(p, r, PAXOS_EV_DROP_ACK, from, m, now);
		break;
	case PKV_MSG_QUERY:
		acceptor_query(p, from, m);
		break;
	case PKV_MSG_KEYS_REQ:
		keys_answer(p, from, m);
		break;
	case PKV_MSG_SYNC_REQ:
		sync_answer(p, from, m);
		break;
	case PKV_MSG_SYNC_REPLY:
		if (from != p->cfg.self)
			sync_reply(p, from, m, now);
		break;
	case PKV_MSG_CHOSEN: {
		struct store_entry *e = store_lookup(p->store, m->bucket, m->key, true);
		if (!e)
			return -ENOMEM;
		if (gen_ok(p, e, m->gen, from, now))
			learn(p, e, m->ballot, m->value, &p->rx_bind, now);
		break;
	}
	case PKV_MSG_PROMISE:
	case PKV_MSG_ACCEPTED:
		r = reply_req(p, m, true);
		if (!r || pkv_ballot_cmp(r->ballot, m->ballot))
			break; /* an older round's reply */
		{
			struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
			if (e && m->gen > e->gen) {
				erase_entry(p, e, m->gen - 1, from, now); /* restarts r */
				break;
			}
			if (e && m->gen < e->gen)
				break; /* a reply about an ended generation */
			if (e)
				note_round(p, e, m->accepted);
		}
		if (!(m->flags & PKV_MF_OK))
			dispatch(p, r, PAXOS_EV_NACK, from, m, now);
		else
			dispatch(p, r, m->type == PKV_MSG_PROMISE ? PAXOS_EV_PROMISE : PAXOS_EV_ACCEPTED,
				 from, m, now);
		break;
	case PKV_MSG_QUERY_REPLY:
		r = reply_req(p, m, true);
		if (r)
			dispatch(p, r, PAXOS_EV_QUERY_REPLY, from, m, now);
		break;
	case PKV_MSG_KEYS_REPLY:
		r = req_find(p, m->req);
		if (r && r->kind == PAXOS_REQ_KEYS && pkv_bytes_eq(r->bucket, m->bucket))
			dispatch(p, r, PAXOS_EV_KEYS_REPLY, from, m, now);
		break;
	case PKV_MSG_FORWARD:
		if (from != p->cfg.self)
			on_forward(p, from, m, now);
		break;
	case PKV_MSG_FORWARD_REPLY:
		r = req_find(p, m->req);
		if (r && r->kind == PAXOS_REQ_PUT && r->fwd_to == from &&
		    pkv_bytes_eq(r->bucket, m->bucket) && pkv_bytes_eq(r->key, m->key)) {
			/*
			 * Learn what the primary got chosen before answering: the
			 * origin owns the put's pid bindings and watches them only
			 * for values it learned. Relying on the CHOSEN broadcast
			 * alone, a lost one left the owner blind to its process's
			 * exit, and the key outlived it (seen in the scenario soak).
			 */
			if (m->arg0 == PKV_S_OK && !pkv_ballot_is_zero(m->accepted)) {
				struct store_entry *e =
					store_lookup(p->store, m->bucket, m->key, true);
				if (e && gen_ok(p, e, m->gen, from, now))
					learn(p, e, m->accepted, m->value, &p->rx_bind, now);
			}
			if (r->state == PAXOS_ST_FORWARDED)
				dispatch(p, r, PAXOS_EV_FWD_REPLY, from, m, now);
			else if (m->arg0 == PKV_S_OK)
				req_complete(p, r, PKV_S_OK, m->gen, m->value, &p->rx_bind);
		}
		break;
	default:
		break; /* heartbeats belong to membership */
	}
	return 0;
}

int paxos_receive(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (!peer_ok(p, from))
		return 0;
	handle(p, from, m, now);
	sync_step(p, now);
	return finish(p, now);
}

uint64_t paxos_next_deadline(const struct paxos *p)
{
	uint64_t t = PAXOS_NO_DEADLINE;
	for (const struct req *r = p->reqs; r; r = r->next) {
		if (r->state == PAXOS_ST_DONE)
			continue;
		t = min_u64(t, min_u64(r->t_timer, r->deadline));
	}
	if (!p->synced) {
		for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
			const struct peer *pe = &p->peers[p->cfg.nodes[i]];
			if (pe->configured && pe->sync_rid && !pe->sync_done && pe->connected &&
			    pe->synced)
				t = min_u64(t, pe->sync_sent_at + p->cfg.retransmit_us);
		}
		if (p->unsynced_since)
			t = min_u64(t, p->unsynced_since + p->cfg.epoch_grace_us);
		if (p->cfg.restarted && !p->quiet_over)
			t = min_u64(t, p->cfg.start_us + p->cfg.restart_quiet_us);
	}
	for (size_t i = 0; i < p->n_fanout; i++)
		t = min_u64(t, p->fanout[i].next_at);
	if (p->wall_set && p->n_uheap) {
		/* until (wall ms) back to the monotonic µs domain: now = wall µs - offset. */
		int64_t at = (int64_t)(p->uheap[0].until * 1000) - p->wall_off_us;
		t = min_u64(t, at > 0 ? (uint64_t)at : 0);
	}
	return t;
}

uint64_t paxos_tick(struct paxos *p, uint64_t now)
{
	sync_step(p, now);
	expire_until(p, now);
	for (size_t i = 0; i < p->n_fanout; i++)
		if (p->fanout[i].next_at <= now)
			fanout_send(p, &p->fanout[i], now);
	for (struct req *r = p->reqs; r; r = r->next) {
		if (r->state == PAXOS_ST_DONE)
			continue;
		if (r->deadline <= now) {
			dispatch(p, r, PAXOS_EV_DEADLINE, 0, NULL, now);
			continue;
		}
		if (r->t_timer <= now) {
			r->t_timer = UINT64_MAX;
			dispatch(p, r, PAXOS_EV_TIMER, 0, NULL, now);
		}
	}
	finish(p, now);
	return paxos_next_deadline(p);
}

static void kick_waiting(struct paxos *p, uint64_t now)
{
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state == PAXOS_ST_WAIT_QUORUM)
			dispatch(p, r, PAXOS_EV_QUORUM, 0, NULL, now);
}

void paxos_peer_update(struct paxos *p, uint32_t node, bool connected, unsigned flags,
		       uint64_t epoch, uint64_t now)
{
	if (!peer_ok(p, node))
		return;
	struct peer *pe = &p->peers[node];
	bool was = pe->connected;
	pe->connected = connected;
	if (connected) {
		pe->synced = flags & PKV_MF_SYNCED;
		pe->fresh = flags & PKV_MF_FRESH;
		pe->epoch = epoch;
		pe->seen_up = true;
	}
	if (was && !connected) {
		for (struct req *r = p->reqs; r; r = r->next)
			dispatch(p, r, PAXOS_EV_PEER_DOWN, node, NULL, now);
		/* Keys bound to the node, or to its processes (noconnection), end. */
		sweep(p, now);
	}
	sync_step(p, now);
	kick_waiting(p, now);
	finish(p, now);
}

void paxos_peer_restarted(struct paxos *p, uint32_t node, uint64_t now)
{
	if (!peer_ok(p, node))
		return;
	struct peer *pe = &p->peers[node];
	pe->sync_done = false;
	pe->sync_rid = 0;
	pe->sync_cursor = 0;
	pe->sync_got = 0;
	pe->sync_last = false;
	pe->synced = false;
	for (struct req *r = p->reqs; r; r = r->next)
		dispatch(p, r, PAXOS_EV_PEER_DOWN, node, NULL, now);
	/*
	 * Its processes' watches died with the old incarnation. With the new
	 * incarnation known (paxos_peer_incarnation), sweep() spares bindings
	 * made by it; unknown, every pid binding it owns ends.
	 */
	if (!pe->inc && store_bound_pid_node(p->store)) {
		for (size_t i = 0; i < store_nentries(p->store); i++) {
			struct store_entry *e = store_entry_at(p->store, i);
			if (e->chosen && (e->chosen_bind->mask & PKV_BIND_PID) &&
			    e->chosen_bind->owner == node)
				erase_entry(p, e, e->gen, 0, now);
		}
	}
	sweep(p, now);
	sync_step(p, now);
	finish(p, now);
}

void paxos_peer_incarnation(struct paxos *p, uint32_t node, uint64_t incarnation, uint64_t now)
{
	if (!peer_ok(p, node) || incarnation <= p->peers[node].inc)
		return;
	p->peers[node].inc = incarnation;
	sweep(p, now);
	finish(p, now);
}

void paxos_set_wall(struct paxos *p, uint64_t wall_ms_now, uint64_t now)
{
	p->wall_set = true;
	p->wall_off_us = (int64_t)(wall_ms_now * 1000) - (int64_t)now;
}

void paxos_pid_exited(struct paxos *p, int32_t pid, uint64_t start_time, uint64_t now)
{
	if (!pid_exited(p, pid, start_time)) {
		if (!p->exited) {
			p->exited = calloc(EXITED_RING, sizeof(*p->exited));
			if (!p->exited)
				return;
		}
		p->exited[p->exited_pos] = (struct exited_pid){ .pid = pid, .start_time = start_time };
		p->exited_pos = (p->exited_pos + 1) % EXITED_RING;
		if (p->n_exited < EXITED_RING)
			p->n_exited++;
	}
	/*
	 * The process's watch is gone: no unwatch for it. Its keys are the
	 * wref's entries; the store is walked only when that list is
	 * incomplete (out of memory) — a walk is O(keys), which at a million
	 * keys is tens of milliseconds of the loop.
	 */
	struct wref w = { 0 };
	bool found = false;
	for (size_t i = 0; i < p->n_wrefs; i++)
		if (p->wrefs[i].pid == pid && p->wrefs[i].start_time == start_time) {
			w = p->wrefs[i];
			p->wrefs[i] = p->wrefs[--p->n_wrefs]; /* w owns the list now */
			found = true;
			break;
		}
	bool walk = (found && w.n_ents == SIZE_MAX) || p->wrefs_incomplete;
	size_t n = walk ? store_nentries(p->store) : found ? w.n_ents : 0;
	if (walk && !store_bound_pid_node(p->store))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_entry *e = walk ? store_entry_at(p->store, i) : w.ents[i];
		if (e->chosen && self_owned_pid(p, e->chosen_bind) && e->chosen_bind->pid == pid &&
		    e->chosen_bind->start_time == start_time)
			erase_entry(p, e, e->gen, 0, now);
	}
	free(w.ents);
	finish(p, now);
}

void paxos_set_cluster_size(struct paxos *p, uint32_t n, uint64_t now)
{
	if (n == 0)
		return;
	p->cfg.cluster_size = n;
	sync_step(p, now);
	kick_waiting(p, now);
	finish(p, now);
}

static int check_args(struct pkv_bytes bucket, struct pkv_bytes key, bool need_key)
{
	if (bucket.len > PKV_MAX_BUCKET || (need_key && key.len > PKV_MAX_KEY))
		return PKV_S_TOO_LARGE;
	if (!store_bucket_name_ok(bucket) || (need_key && key.len == 0))
		return PKV_S_BAD_REQUEST;
	return 0;
}

static void count_op(struct paxos *p, struct pkv_bytes bucket, bool put)
{
	struct store_bucket *b = store_bucket(p->store, bucket, true);
	if (!b)
		return;
	if (put)
		store_bucket_stats(b)->puts++;
	else
		store_bucket_stats(b)->gets++;
}

/*
 * A put's bindings: fills in the owner, checks each is alive now, and copies
 * them into the request. Returns 0 or the status to complete with.
 */
static int put_bindings(struct paxos *p, struct req *r, const struct pkv_bindings *in,
			uint64_t now)
{
	struct pkv_bindings b = *in;
	if (b.mask & PKV_BIND_PID_DEAD)
		return PKV_S_INVALID_VALUE;
	b.mask &= PKV_BIND_ALL;
	if (!b.mask)
		return 0;
	if ((b.mask & PKV_BIND_PID) && b.owner == 0) {
		b.owner = p->cfg.self;
		b.owner_inc = p->cfg.incarnation;
	}
	if ((b.mask & PKV_BIND_PID) && b.owner != p->cfg.self)
		return PKV_S_INVALID_VALUE; /* only local processes can be watched */
	if ((b.mask & PKV_BIND_NODE) && b.node != p->cfg.self &&
	    (!peer_ok(p, b.node) || !p->peers[b.node].connected))
		return PKV_S_INVALID_VALUE;
	if ((b.mask & PKV_BIND_UNTIL) && p->wall_set && wall_ms(p, now) >= b.until)
		return PKV_S_INVALID_VALUE;
	if (b.mask & PKV_BIND_KEY) {
		if (b.key.len == 0 || b.key.len > PKV_MAX_KEY)
			return PKV_S_BAD_REQUEST;
		if (pkv_bytes_eq(b.key, r->key))
			return PKV_S_INVALID_VALUE; /* a key cannot live with itself */
		b.key_gen = 0;
	} else {
		b.key = (struct pkv_bytes){ 0 };
	}
	if (binding_dead(p, &b, r->bucket, now))
		return PKV_S_INVALID_VALUE;
	if (pkv_bound_size(r->value, &b) > PKV_MAX_VALUE)
		return PKV_S_TOO_LARGE;
	if (bind_dup(&r->bind, &b))
		return PKV_S_NO_MEMORY;
	return 0;
}

/*
 * A key binding names a generation of the other key: the local learner's
 * if it knows a live value, else a get on the cluster finds it (the put
 * waits in RESOLVING; finish() resumes it). False: the put must wait.
 */
static bool resolve_key(struct paxos *p, struct req *r, uint64_t now)
{
	if (!(r->bind.mask & PKV_BIND_KEY) || r->bind.key_gen)
		return true;
	struct store_entry *d = store_lookup(p->store, r->bucket, r->bind.key, false);
	if (d && d->chosen && check_entry(p, d, now)) {
		r->bind.key_gen = d->gen;
		return true;
	}
	struct req *c = req_new(p, PAXOS_REQ_GET, 0, r->bucket, r->bind.key, r->deadline, r->retry);
	if (!c) {
		complete_status(p, r, PKV_S_NO_MEMORY);
		return false;
	}
	c->parent = r->rid;
	set_state(p, r, PAXOS_ST_RESOLVING);
	dispatch(p, c, PAXOS_EV_START, 0, NULL, now);
	return false;
}

/* Common start of put and get: learner first, then quorum. */
static int request(struct paxos *p, enum paxos_req_kind kind, uint64_t id, struct pkv_bytes bucket,
		   struct pkv_bytes key, const struct pkv_bytes *value,
		   const struct pkv_bindings *bind, uint64_t deadline, bool retry, uint64_t now)
{
	struct req *r = req_new(p, kind, id, bucket, key, deadline, retry);
	if (!r)
		return -ENOMEM;
	int bad = check_args(bucket, key, true);
	if (!bad && value && value->len > PKV_MAX_VALUE)
		bad = PKV_S_TOO_LARGE;
	if (bad) {
		complete_status(p, r, bad);
		return finish(p, now);
	}
	count_op(p, bucket, kind == PAXOS_REQ_PUT);
	if (value) {
		if (dup_bytes(&r->value, *value)) {
			complete_status(p, r, PKV_S_NO_MEMORY);
			finish(p, now);
			return -ENOMEM;
		}
		r->has_value = true;
	}
	if (value && bind) {
		int st = put_bindings(p, r, bind, now);
		if (st) {
			complete_status(p, r, st);
			return finish(p, now);
		}
	}
	struct store_entry *e = store_lookup(p->store, bucket, key, false);
	if (e && e->chosen && check_entry(p, e, now)) {
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return finish(p, now);
	}
	/*
	 * A daemon at its key limit (store_set_max_entries) cannot follow a
	 * round on a key it holds nothing of: refuse at once rather than time
	 * out. Keys it holds keep working.
	 */
	if (!e && store_full(p->store)) {
		p->stats.keys_refused++;
		complete_status(p, r, PKV_S_NO_MEMORY);
		return finish(p, now);
	}
	if (!paxos_has_quorum(p) && !retry) {
		complete_status(p, r, PKV_S_NO_QUORUM);
		return finish(p, now);
	}
	if (resolve_key(p, r, now))
		dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
	return finish(p, now);
}

int paxos_put(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      struct pkv_bytes value, uint64_t deadline, bool retry, uint64_t now)
{
	p->stats.puts++;
	return request(p, PAXOS_REQ_PUT, id, bucket, key, &value, NULL, deadline, retry, now);
}

int paxos_put_bound(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
		    struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t deadline,
		    bool retry, uint64_t now)
{
	p->stats.puts++;
	return request(p, PAXOS_REQ_PUT, id, bucket, key, &value, bind, deadline, retry, now);
}

int paxos_get(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      uint64_t deadline, bool retry, uint64_t now)
{
	p->stats.gets++;
	return request(p, PAXOS_REQ_GET, id, bucket, key, NULL, NULL, deadline, retry, now);
}

int paxos_keys(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
	       uint64_t now)
{
	p->stats.keys++;
	struct req *r = req_new(p, PAXOS_REQ_KEYS, id, bucket, (struct pkv_bytes){ 0 }, deadline,
				false);
	if (!r)
		return -ENOMEM;
	int bad = check_args(bucket, (struct pkv_bytes){ 0 }, false);
	if (bad) {
		complete_status(p, r, bad);
		return finish(p, now);
	}
	/* Local keys with an accepted or chosen value. */
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	for (size_t i = 0; b && i < store_bucket_nkeys(b); i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		if (store_entry_has_value(e))
			keys_add(p, r, e->key);
	}
	start_keys(p, r, now);
	if (r->expect_mask == 0)
		complete_status(p, r, PKV_S_OK);
	return finish(p, now);
}

int paxos_bucket_drop(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
		      uint64_t now)
{
	p->stats.drops++;
	struct req *r = req_new(p, PAXOS_REQ_DROP, id, bucket, (struct pkv_bytes){ 0 }, deadline,
				false);
	if (!r)
		return -ENOMEM;
	int bad = check_args(bucket, (struct pkv_bytes){ 0 }, false);
	if (bad) {
		complete_status(p, r, bad);
		return finish(p, now);
	}
	if (!paxos_has_quorum(p)) {
		complete_status(p, r, PKV_S_NO_QUORUM);
		return finish(p, now);
	}
	set_state(p, r, PAXOS_ST_DROPPING);
	if (p->synced) {
		r->drop_applied = true;
		drop_apply(p, bucket, now);
	}
	drop_send(p, r, now);
	drop_check(p, r); /* a cluster of one is done at once */
	return finish(p, now);
}

struct store_entry *const *paxos_learned(const struct paxos *p, size_t *n)
{
	*n = p->n_learned;
	return p->learned;
}

void paxos_learned_reset(struct paxos *p)
{
	p->n_learned = 0;
}

const struct paxos_completion *paxos_completions(const struct paxos *p, size_t *n)
{
	*n = p->n_comp;
	return p->comp;
}

void paxos_completions_reset(struct paxos *p)
{
	for (size_t i = 0; i < p->n_comp; i++) {
		struct paxos_completion *c = &p->comp[i];
		free_bytes(&c->value);
		bind_free(&c->bind);
		for (size_t k = 0; k < c->n_keys; k++)
			free_bytes(&c->keys[k]);
		free(c->keys);
	}
	p->n_comp = 0;
}

const struct paxos_watch *paxos_watches(const struct paxos *p, size_t *n)
{
	*n = p->n_watches;
	return p->watches;
}

void paxos_watches_reset(struct paxos *p)
{
	p->n_watches = 0;
}

const struct paxos_erased *paxos_erased(const struct paxos *p, size_t *n)
{
	*n = p->n_erased;
	return p->erased;
}

void paxos_erased_reset(struct paxos *p)
{
	p->n_erased = 0;
}

const struct paxos_event_rec *paxos_events(const struct paxos *p, size_t *n)
{
	*n = p->n_ev;
	return p->ev;
}

void paxos_events_reset(struct paxos *p)
{
	p->n_ev = 0;
}

unsigned paxos_heartbeat_flags(const struct paxos *p)
{
	return (p->synced ? PKV_MF_SYNCED : 0) | (p->fresh ? PKV_MF_FRESH : 0);
}

uint64_t paxos_epoch(const struct paxos *p)
{
	return p->epoch;
}

bool paxos_synced(const struct paxos *p)
{
	return p->synced;
}

uint32_t paxos_primary(const struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint32_t i = 0; i < bucket.len; i++)
		h = (h ^ bucket.p[i]) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull; /* separator: ("ab","c") != ("a","bc") */
	for (uint32_t i = 0; i < key.len; i++)
		h = (h ^ key.p[i]) * 0x100000001b3ull;
	return p->sorted[h % p->cfg.n_nodes];
}

const struct paxos_stats *paxos_stats(const struct paxos *p)
{
	return &p->stats;
}

uint64_t paxos_bucket_rounds(const struct paxos *p, struct pkv_bytes bucket)
{
	uint64_t n = 0;
	for (const struct req *r = p->reqs; r; r = r->next)
		n += (r->state == PAXOS_ST_PREPARING || r->state == PAXOS_ST_ACCEPTING) &&
		     pkv_bytes_eq(r->bucket, bucket);
	return n;
}

int paxos_restore(struct paxos *p, const struct paxos_saved *k)
{
	if (!store_bucket_name_ok(k->bucket) || k->key.len < 1 || k->key.len > PKV_MAX_KEY ||
	    k->gen < 1)
		return -EINVAL;
	struct store_entry *e = store_lookup(p->store, k->bucket, k->key, true);
	if (!e)
		return -ENOMEM;
	/* A later record of a key replaces everything an earlier one said. */
	store_reset_entry(p->store, e, k->gen);
	e->promised = k->promised;
	e->max_round = k->max_round;
	if (k->has_accepted &&
	    store_set_accepted_bound(p->store, e, k->accepted, k->accepted_value,
				     bind_or_null(&k->accepted_bind)))
		return -ENOMEM;
	if (k->chosen && store_set_chosen_bound(p->store, e, k->chosen_ballot, k->chosen_value,
						bind_or_null(&k->chosen_bind)))
		return -ENOMEM;
	if (e->max_round < k->promised.round)
		e->max_round = k->promised.round;
	p->fresh = false;
	return 0;
}

void paxos_restore_done(struct paxos *p, uint64_t now)
{
	for (size_t i = 0; i < store_nentries(p->store); i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		/*
		 * The fan-out of an erasure lives in memory: every ended
		 * generation is announced again, or peers that had not yet
		 * acknowledged it before the restart would keep the value.
		 */
		if (e->gen > 1)
			fanout_add(p, e, e->gen - 1, 0, now);
		if (e->chosen)
			(void)learned_effects(p, e, now);
	}
}
