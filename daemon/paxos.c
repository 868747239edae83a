// SPDX-License-Identifier: MIT
/*
 * paxos.c — the core of per-key Basic Paxos: creation, the message router
 * (paxos_receive), ticks, membership inputs, the outputs the loop drains,
 * stats, and the helpers every role uses.
 *
 * Safety rests on the two acceptor rules (phase 1b and 2b, paxos-acceptor.c),
 * on ballots being unique (paxos-proposer.c), and on the restart rule (sync
 * before answering, paxos-sync.c). Everything else — backoff, forwarding to
 * the primary, retransmission, the learner cache — is there for liveness and
 * speed and may be wrong without breaking agreement. The fast round and why
 * it is safe: paxos-acceptor.c, "The fast round".
 *
 * One struct paxos (paxos-internal.h) holds the state of every role; each
 * file holds one role's rules:
 *   paxos-acceptor.c   promise and accept (the rules agreement rests on),
 *                      queries, key listings
 *   paxos-proposer.c   rounds, the fast round, backoff, forwarding to the
 *                      primary: the state machine of every request
 *   paxos-req.c        requests: put/get/keys entry points, completions
 *   paxos-lifetimes.c  the learner; bindings, watches of local processes,
 *                      erasure and its fan-out, the until expiry heap
 *   paxos-drop.c       bucket drop
 *   paxos-sync.c       restart: sync from a majority, epochs, durable restore
 *   paxos-conf.c       configurations: moving to a newer one, changes of
 *                      the voters, a peer's configuration
 *   paxos-info.c       key inspection: what each daemon promised, accepted
 *                      and learned for a key (read-only)
 */
#include "paxos-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------- */

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
	[PAXOS_EV_NEW_CONF] = "new_conf",
};

const char *paxos_state_to_str(enum paxos_state s)
{
	return (unsigned)s < PAXOS_ST__COUNT ? state_names[s] : "unknown";
}

const char *paxos_event_to_str(enum paxos_event e)
{
	return (unsigned)e < PAXOS_EV__COUNT ? event_names[e] : "unknown";
}

/* ---- helpers the roles share ------------------------------------------- */

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
bool paxos_same_value(struct pkv_bytes av, const struct pkv_bindings *ab, struct pkv_bytes bv,
		      const struct pkv_bindings *bb)
{
	return pkv_bytes_eq(av, bv) && bindings_eq(ab, bb);
}

uint64_t paxos_connected_mask(const struct paxos *p)
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
	return popcount(paxos_connected_mask(p) & p->voters) >= quorum(p);
}

void paxos_update_voters(struct paxos *p)
{
	if (PKV_PAXOS_BROKEN_VOTERS) /* TEST ONLY: every configured daemon votes */
		p->voters = p->configured_mask | self_bit(p);
}

bool paxos_peer_ok(const struct paxos *p, uint32_t n)
{
	return n >= 1 && n <= PKV_MAX_NODES && n != p->cfg.self && p->peers[n].configured;
}

int paxos_bytes_dup(struct pkv_bytes *dst, struct pkv_bytes src)
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

void paxos_bytes_free(struct pkv_bytes *b)
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
void paxos_send(struct paxos *p, uint32_t to, const struct pkv_msg *m)
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

void paxos_push_event(struct paxos *p, enum paxos_event_kind k, uint64_t arg, const char *text)
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

/* Copies src (NULL: none) with its own key bytes. */
int paxos_bind_dup(struct pkv_bindings *dst, const struct pkv_bindings *src)
{
	struct pkv_bindings n = { 0 };
	if (src && (src->mask & PKV_BIND_ALL)) {
		n = *src;
		n.mask &= PKV_BIND_ALL;
		if (!(n.mask & PKV_BIND_KEY))
			n.key = (struct pkv_bytes){ 0 };
		if (paxos_bytes_dup(&n.key, n.key))
			return -ENOMEM;
	}
	*dst = n;
	return 0;
}

void paxos_bind_free(struct pkv_bindings *b)
{
	free((void *)b->key.p);
	memset(b, 0, sizeof(*b));
}

/*
 * Puts value + bindings into m: the bare value when unbound, else the
 * encoded pair in p->scratch with PKV_MF_BOUND. Send m before the next call
 * (paxos_send copies it).
 */
void paxos_msg_value(struct paxos *p, struct pkv_msg *m, struct pkv_bytes v,
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

void *paxos_grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : 16;
	void *nv = realloc(v, nc * size);
	if (nv)
		*cap = nc;
	return nv;
}

/* ---- the end of every call; creation ---------------------------------- */

/* A Paxos message of another configuration than ours (docs/design.md §5). */
static bool other_conf(const struct paxos *p, const struct pkv_msg *m)
{
	if (PKV_PAXOS_BROKEN_CONF) /* TEST ONLY: every configuration answered */
		return false;
	switch (m->type) {
	case PKV_MSG_PREPARE:
	case PKV_MSG_ACCEPT:
	case PKV_MSG_PROMISE:
	case PKV_MSG_ACCEPTED:
		return pkv_ballot_conf(m->ballot) != p->conf;
	case PKV_MSG_QUERY:
	case PKV_MSG_QUERY_REPLY:
		return m->arg1 != p->conf;
	default:
		return false;
	}
}

static int paxos_handle(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

/* Runs the local roles' queued messages, then frees finished requests. */
int paxos_finish_call(struct paxos *p, uint64_t now)
{
	do {
		for (size_t i = 0; i < p->selfq.n; i++) {
			struct pkv_msg m = p->selfq.v[i].msg;
			paxos_handle(p, p->cfg.self, &m, now);
		}
		pkv_outbox_reset(&p->selfq);
	} while (req_resume_resolved(p, now) || p->selfq.n);
	if (p->n_dpend || p->stats.requests_in_flight)
		drop_step(p, now);
	req_reap(p);
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
	if (!p->cfg.epoch_gen_shift || p->cfg.epoch_gen_shift > 48)
		p->cfg.epoch_gen_shift = 32;
	if (!p->cfg.ballot_life_us)
		p->cfg.ballot_life_us = 1000000;
	if (!p->cfg.failure_timeout_us)
		p->cfg.failure_timeout_us = 1000000;
	p->rejudge_next = UINT64_MAX;
	p->doubt_next = UINT64_MAX;
	if (!p->cfg.restart_quiet_us)
		p->cfg.restart_quiet_us = 2 * p->cfg.ballot_life_us;
	if (!p->cfg.sync_page || p->cfg.sync_page > 64)
		p->cfg.sync_page = 32;
	if (!p->cfg.keys_page || p->cfg.keys_page > PAXOS_KEYS_PAGE_MAX)
		p->cfg.keys_page = 64;
	if (!p->cfg.peer_rate_bytes)
		p->cfg.peer_rate_bytes = 32u << 20;
	if (!p->cfg.peer_burst_bytes)
		p->cfg.peer_burst_bytes = 512u << 10;
	if (!p->cfg.bind_inc)
		p->cfg.bind_inc = p->cfg.incarnation;
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
	if (cfg->conf.voters) {
		p->conf = cfg->conf.num;
		p->voters = cfg->conf.voters;
		p->prev_voters = cfg->conf.prev_voters;
	} else {
		p->voters = pkv_voters((p->configured_mask | self_bit(p)) & ~cfg->observers,
				       p->cfg.cluster_size);
	}
	paxos_update_voters(p);
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
	p->state_lost = cfg->restarted;
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
	info_free(p);
	free(p->watches);
	for (size_t i = 0; i < p->n_wrefs; i++)
		free(p->wrefs[i].ents);
	free(p->wrefs);
	free(p->exited);
	free(p->erased);
	free(p->fanout);
	free(p->gcq);
	free(p->uheap);
	free(p->rejudge);
	req_doubt_free(p);
	for (size_t i = 0; i < p->n_dpend; i++)
		paxos_bytes_free(&p->dpend[i].bucket), paxos_bytes_free(&p->dpend[i].key);
	free(p->dpend);
	free(p->ddone);
	pkv_outbox_free(&p->selfq);
	free(p);
}

/* ---- the answer budget ------------------------------------------------- */

/*
 * Bounded work per datagram (docs/design.md §7). A KEYS_REQ, a SYNC_REQ or a
 * DROP costs its receiver work out of proportion to its size: a page of
 * replies, a walk of a bucket, an erasure fan-out. Each peer has a budget,
 * a token bucket kept as one instant (the generic cell rate algorithm):
 * budget_tat is when what we queued for the peer so far is paid for at
 * peer_rate_bytes per second. One is answered only while that instant is at
 * most peer_burst_bytes' worth ahead of now; its cost (what it queued, and
 * the entries it walked) is charged afterwards. So whatever a peer sends, in
 * one datagram or many, what we queue for it stays below peer_burst_bytes +
 * one answer + peer_rate_bytes per second, and the rest is dropped and
 * counted. Dropping is always safe: the requester retransmits, as after a
 * lost datagram.
 */
#define BUDGET_MSG_BYTES 64u  /* a message's fixed part on the wire, about */
#define BUDGET_ENTRY_BYTES 16u /* an entry walked without an answer */

static uint64_t budget_us(const struct paxos *p, uint64_t bytes)
{
	return bytes * 1000000u / p->cfg.peer_rate_bytes;
}

static bool budget_open(const struct paxos *p, uint32_t from, uint64_t now)
{
	return p->peers[from].budget_tat <= now + budget_us(p, p->cfg.peer_burst_bytes);
}

/* Charges `from` for what the handler queued since outbox entry `n0`. */
static void budget_charge(struct paxos *p, uint32_t from, size_t n0, uint64_t now)
{
	uint64_t bytes = p->work * BUDGET_ENTRY_BYTES;
	for (size_t i = n0; i < p->ob->n; i++) {
		const struct pkv_msg *m = &p->ob->v[i].msg;
		bytes += BUDGET_MSG_BYTES + m->bucket.len + m->key.len + m->value.len;
	}
	struct peer *pe = &p->peers[from];
	uint64_t t = pe->budget_tat > now ? pe->budget_tat : now;
	pe->budget_tat = t + budget_us(p, bytes);
}

/* ---- the message router ------------------------------------------------ */

/* Forwarded puts of `from` running here; 0 when `req` is one (a retransmit). */
static unsigned forwards_running(const struct paxos *p, uint32_t from, uint64_t req)
{
	unsigned n = 0;
	for (const struct req *r = p->reqs; r; r = r->next) {
		if (r->kind != PAXOS_REQ_FORWARDED || r->origin != from || r->state == PAXOS_ST_DONE)
			continue;
		if (r->origin_req == req)
			return 0;
		n++;
	}
	return n;
}

/*
 * A CHOSEN is learned on its own only as evidence this daemon can check
 * (docs/design.md §3.5): the sender's word counts when the sender is a
 * voter, and this daemon's own acceptor counts when it is a voter and
 * accepted that very (ballot, value); both are needed (one, for a lone
 * voter). Anything less is a hint, which a learner read settles.
 */
static bool chosen_checked(const struct paxos *p, const struct store_entry *e, uint32_t from,
			   const struct pkv_msg *m)
{
	if (PKV_PAXOS_BROKEN_CHOSEN)
		return true; /* TEST ONLY: one peer's word is taken as it stands */
	unsigned n = is_voter(p, from);
	if (is_voter(p, p->cfg.self) && e->has_accepted && !pkv_ballot_cmp(e->accepted, m->ballot) &&
	    paxos_same_value(e->accepted_value, e->accepted_bind, m->value, &p->rx_bind))
		n++;
	return n >= (quorum(p) < 2 ? quorum(p) : 2);
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

static int paxos_handle(struct paxos *p, uint32_t from, const struct pkv_msg *m0, uint64_t now)
{
	struct req *r;
	/* Bound values arrive encoded; the roles see value and bindings apart. */
	struct pkv_msg mm = *m0;
	const struct pkv_msg *m = &mm;
	memset(&p->rx_bind, 0, sizeof(p->rx_bind));
	if ((m0->flags & PKV_MF_BOUND) && pkv_bound_decode(m0->value, &mm.value, &p->rx_bind))
		return 0; /* malformed: dropped like a bad datagram */
	/*
	 * Bounded input (docs/design.md §7): a value over the client limit, or
	 * a generation that could wrap, is dropped like a malformed datagram.
	 * The wire admits values with bindings up to WIRE_MAX_VALUE; one
	 * without them over PKV_MAX_VALUE stopped a durable daemon (its log
	 * refuses it), and an ERASE of generation 2^64-1 wrapped a key's
	 * generation to 0.
	 */
	if (PKV_PAXOS_CHECK_LIMITS &&
	    (m->value.len > PKV_MAX_VALUE || m->gen > PAXOS_MAX_GEN ||
	     m->key.len > PKV_MAX_KEY || m->bucket.len > PKV_MAX_BUCKET)) {
		p->stats.malformed_dropped++;
		return 0;
	}
	/*
	 * A vote counts only from a voter (docs/design.md §5); a sync copy's
	 * source is checked by the sync, which may copy from the voters of the
	 * configuration before.
	 */
	if (!is_voter(p, from) &&
	    (m->type == PKV_MSG_PROMISE || m->type == PKV_MSG_ACCEPTED ||
	     m->type == PKV_MSG_QUERY_REPLY)) {
		p->stats.not_voter_dropped++;
		return 0;
	}
	/*
	 * Every Paxos message belongs to one configuration (its ballot's top
	 * bits, or arg1 of a query): an acceptor answers only its own, and a
	 * proposer counts only answers of its own (docs/design.md §5).
	 */
	if (other_conf(p, m)) {
		p->stats.other_conf_dropped++;
		return 0;
	}
	/* The reserved buckets' values are never erased nor dropped. */
	if ((m->type == PKV_MSG_ERASE && pkv_bucket_reserved(m->bucket.p, m->bucket.len)) ||
	    (m->type == PKV_MSG_DROP && !is_drop_bucket(m->bucket)))
		return 0;
	/* Answers out of proportion to the message: within the peer's budget. */
	bool budgeted = from != p->cfg.self &&
			(m->type == PKV_MSG_KEYS_REQ || m->type == PKV_MSG_SYNC_REQ ||
			 m->type == PKV_MSG_DROP);
	size_t n0 = p->ob->n;
	if (budgeted && !budget_open(p, from, now)) {
		if (m->type == PKV_MSG_KEYS_REQ)
			p->stats.keys_over_budget++;
		else if (m->type == PKV_MSG_SYNC_REQ)
			p->stats.sync_over_budget++;
		else
			p->stats.drops_over_budget++;
		return 0;
	}
	p->work = 0;
	switch (m->type) {
	case PKV_MSG_PREPARE:
		acceptor_on_prepare(p, from, m, now);
		break;
	case PKV_MSG_ACCEPT:
		acceptor_on_accept(p, from, m, now);
		break;
	case PKV_MSG_ERASE:
		if (from != p->cfg.self && m->gen >= 1)
			lifetimes_on_erase(p, from, m, now);
		break;
	case PKV_MSG_ERASE_ACK: {
		struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
		if (e && from != p->cfg.self)
			lifetimes_fanout_ack(p, e, m->gen, from, now);
		break;
	}
	case PKV_MSG_DROP:
		if (from != p->cfg.self)
			drop_on_drop(p, from, m, now);
		break;
	case PKV_MSG_DROP_ACK:
		r = req_find(p, m->req);
		if (r && r->kind == PAXOS_REQ_DROP && from != p->cfg.self &&
		    pkv_bytes_eq(r->value, m->key))
			proposer_dispatch(p, r, PAXOS_EV_DROP_ACK, from, m, now);
		break;
	case PKV_MSG_QUERY:
		acceptor_on_query(p, from, m, now);
		break;
	case PKV_MSG_INFO_REQ:
		info_on_req(p, from, m);
		break;
	case PKV_MSG_INFO_REPLY:
		info_on_reply(p, from, m);
		break;
	case PKV_MSG_KEYS_REQ:
		acceptor_on_keys_req(p, from, m);
		break;
	case PKV_MSG_SYNC_REQ:
		sync_on_req(p, from, m, now);
		break;
	case PKV_MSG_SYNC_REPLY:
		if (from != p->cfg.self)
			sync_on_reply(p, from, m, now);
		break;
	case PKV_MSG_CHOSEN: {
		if (from == p->cfg.self)
			break;
		struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
		if (!e && lifetimes_below_floor(p, m->bucket, m->gen))
			break;
		if (!e)
			e = store_lookup(p->store, m->bucket, m->key, true);
		if (!e)
			return -ENOMEM;
		if (!acceptor_gen_ok(p, e, m->gen, from, now))
			break;
		if (chosen_checked(p, e, from, m)) {
			lifetimes_learn(p, e, m->ballot, m->value, &p->rx_bind, now);
			break;
		}
		/* A hint: a read from the voters decides (docs/design.md §3.5). */
		p->stats.chosen_unchecked++;
		if (!e->chosen)
			req_learn_read(p, m->bucket, m->key, now);
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
				lifetimes_erase(p, e, m->gen - 1, from, now); /* restarts r */
				break;
			}
			if (e && m->gen < e->gen)
				break; /* a reply about an ended generation */
			if (!(m->flags & PKV_MF_OK) && m->arg0) {
				proposer_floor_nack(p, r, m->arg0, now); /* §4.6 */
				break;
			}
			if (e)
				acceptor_note_round(p, e, m->accepted);
		}
		if (!(m->flags & PKV_MF_OK))
			proposer_dispatch(p, r, PAXOS_EV_NACK, from, m, now);
		else
			proposer_dispatch(p, r,
					  m->type == PKV_MSG_PROMISE ? PAXOS_EV_PROMISE
								     : PAXOS_EV_ACCEPTED,
					  from, m, now);
		break;
	case PKV_MSG_QUERY_REPLY:
		r = reply_req(p, m, true);
		if (r)
			proposer_dispatch(p, r, PAXOS_EV_QUERY_REPLY, from, m, now);
		break;
	case PKV_MSG_KEYS_REPLY:
		r = req_find(p, m->req);
		if (r && r->kind == PAXOS_REQ_KEYS && pkv_bytes_eq(r->bucket, m->bucket))
			proposer_dispatch(p, r, PAXOS_EV_KEYS_REPLY, from, m, now);
		break;
	case PKV_MSG_FORWARD:
		if (from == p->cfg.self)
			break;
		/*
		 * Bounded work (docs/design.md §7): a forwarded put is a request
		 * with a round of its own, and its deadline is the peer's to
		 * set; a peer has PAXOS_FORWARDS_PER_PEER running at most. One
		 * more is dropped like a lost datagram (its origin forwards it
		 * again at its retransmit timer).
		 */
		if (forwards_running(p, from, m->req) >= PAXOS_FORWARDS_PER_PEER) {
			p->stats.forwards_over_budget++;
			break;
		}
		proposer_on_forward(p, from, m, now);
		break;
	case PKV_MSG_FORWARD_REPLY:
		r = req_find(p, m->req);
		if (!r || r->state == PAXOS_ST_DONE)
			req_doubt_fwd_reply(p, from, m); /* a put answered before it */
		if (r && r->kind == PAXOS_REQ_PUT && r->fwd_to == from &&
		    pkv_bytes_eq(r->bucket, m->bucket) && pkv_bytes_eq(r->key, m->key)) {
			/*
			 * Learn what the primary got chosen before answering: the
			 * origin owns the put's pid bindings and watches them only
			 * for values it learned. Relying on the CHOSEN broadcast
			 * alone, a lost one left the owner blind to its process's
			 * exit, and the key outlived it (seen in the scenario soak).
			 */
			if (m->arg0 == PKV_S_OK && !pkv_ballot_is_zero(m->accepted) &&
			    (store_lookup(p->store, m->bucket, m->key, false) ||
			     !lifetimes_below_floor(p, m->bucket, m->gen))) {
				struct store_entry *e =
					store_lookup(p->store, m->bucket, m->key, true);
				if (e && acceptor_gen_ok(p, e, m->gen, from, now))
					lifetimes_learn(p, e, m->accepted, m->value, &p->rx_bind,
							now);
			}
			if (r->state == PAXOS_ST_FORWARDED)
				proposer_dispatch(p, r, PAXOS_EV_FWD_REPLY, from, m, now);
			else if (m->arg0 == PKV_S_OK)
				req_complete(p, r, PKV_S_OK, m->gen, m->value, &p->rx_bind);
		} else if (!r && m->arg0 == PKV_S_OK && !pkv_ballot_is_zero(m->accepted)) {
			/*
			 * The put here ended first (it learned the key's value of
			 * an earlier generation), and the primary went on to put
			 * its value again in the next one: a hint, learned as a
			 * CHOSEN hint is, from a majority (§3.5) — the bindings
			 * of that value are this daemon's to watch.
			 */
			req_learn_read(p, m->bucket, m->key, now);
		}
		break;
	default:
		break; /* heartbeats belong to membership */
	}
	if (budgeted)
		budget_charge(p, from, n0, now);
	return 0;
}

int paxos_receive(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (!paxos_peer_ok(p, from))
		return 0;
	paxos_handle(p, from, m, now);
	sync_step(p, now);
	return paxos_finish_call(p, now);
}

/* ---- time and membership ----------------------------------------------- */

uint64_t paxos_next_deadline(const struct paxos *p)
{
	uint64_t t = PAXOS_NO_DEADLINE;
	for (const struct req *r = p->reqs; r; r = r->next) {
		if (r->state == PAXOS_ST_DONE)
			continue;
		t = min_u64(t, min_u64(r->t_timer, r->deadline));
	}
	if (!p->synced) {
		/* The pages sync_step asks again, from the sources it copies from. */
		for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
			uint32_t n = p->cfg.nodes[i];
			const struct peer *pe = &p->peers[n];
			if (pe->sync_rid && !pe->sync_done && sync_is_source(p, n))
				t = min_u64(t, pe->sync_sent_at + p->cfg.retransmit_us);
		}
		if (p->unsynced_since && !p->catchup)
			t = min_u64(t, p->unsynced_since + p->cfg.epoch_grace_us);
		if (p->cfg.restarted && !p->quiet_over && !p->catchup)
			t = min_u64(t, p->cfg.start_us + p->cfg.restart_quiet_us);
	}
	for (size_t i = 0; i < p->n_fanout; i++)
		t = min_u64(t, p->fanout[i].next_at);
	t = min_u64(t, lifetimes_gc_next(p));
	t = min_u64(t, lifetimes_rejudge_next(p));
	if (p->n_doubts)
		t = min_u64(t, p->doubt_next);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		const struct peer *pe = &p->peers[p->cfg.nodes[i]];
		if (pe->grace_pending)
			t = min_u64(t, pe->down_at + p->cfg.restart_grace_us);
	}
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
	lifetimes_expire_until(p, now);
	/* A lost owner's pid bindings end once the restart grace is over too. */
	bool graced = false;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		struct peer *pe = &p->peers[p->cfg.nodes[i]];
		if (pe->grace_pending && now - pe->down_at >= p->cfg.restart_grace_us) {
			pe->grace_pending = false;
			graced = true;
		}
	}
	if (graced)
		lifetimes_sweep(p, now);
	lifetimes_rejudge_tick(p, now);
	for (size_t i = 0; i < p->n_fanout; i++)
		if (p->fanout[i].next_at <= now)
			lifetimes_fanout_send(p, &p->fanout[i], now);
	lifetimes_gc(p, now);
	req_doubt_tick(p, now);
	for (struct req *r = p->reqs; r; r = r->next) {
		if (r->state == PAXOS_ST_DONE)
			continue;
		if (r->deadline <= now) {
			proposer_dispatch(p, r, PAXOS_EV_DEADLINE, 0, NULL, now);
			continue;
		}
		if (r->t_timer <= now) {
			r->t_timer = UINT64_MAX;
			proposer_dispatch(p, r, PAXOS_EV_TIMER, 0, NULL, now);
		}
	}
	paxos_finish_call(p, now);
	return paxos_next_deadline(p);
}

void paxos_kick_waiting(struct paxos *p, uint64_t now)
{
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state == PAXOS_ST_WAIT_QUORUM)
			proposer_dispatch(p, r, PAXOS_EV_QUORUM, 0, NULL, now);
}

void paxos_peer_update(struct paxos *p, uint32_t node, bool connected, unsigned flags,
		       uint64_t epoch, uint64_t now)
{
	if (!paxos_peer_ok(p, node))
		return;
	struct peer *pe = &p->peers[node];
	bool was = pe->connected;
	pe->connected = connected;
	if (connected) {
		pe->grace_pending = false;
		pe->synced = flags & PKV_MF_SYNCED;
		pe->fresh = flags & PKV_MF_FRESH;
		pe->epoch = epoch;
		pe->seen_up = true;
		/* A synced peer's newer epoch is ours too (its keys' generations). */
		if (p->synced && pe->synced)
			sync_adopt_epoch(p, epoch);
	}
	if (was && !connected) {
		pe->down_at = now;
		pe->lost_inc = pe->inc;
		pe->grace_pending = p->cfg.restart_grace_us > 0;
		for (struct req *r = p->reqs; r; r = r->next)
			proposer_dispatch(p, r, PAXOS_EV_PEER_DOWN, node, NULL, now);
		/* Keys bound to the node end; to its processes (noconnection),
		 * once the restart grace is over too (paxos_tick). */
		lifetimes_sweep(p, now);
	}
	sync_step(p, now);
	paxos_kick_waiting(p, now);
	paxos_finish_call(p, now);
}

void paxos_peer_restarted(struct paxos *p, uint32_t node, uint64_t now)
{
	if (!paxos_peer_ok(p, node))
		return;
	struct peer *pe = &p->peers[node];
	sync_peer_reset(pe);
	pe->synced = false;
	for (struct req *r = p->reqs; r; r = r->next)
		proposer_dispatch(p, r, PAXOS_EV_PEER_DOWN, node, NULL, now);
	/*
	 * Its processes' watches died with the old incarnation, but the new
	 * one may take its bindings back (docs/design.md §6.2): they end when
	 * its heartbeat says it did not (paxos_peer_bind_inc), or when it is
	 * lost past the grace. (TEST ONLY, PKV_PAXOS_BROKEN_GRACE: with the
	 * new incarnation unknown, every pid binding it owns ends now.)
	 */
	if (PKV_PAXOS_BROKEN_GRACE && !pe->inc && store_bound_pid_node(p->store)) {
		for (size_t i = 0; i < store_nslots(p->store); i++) {
			struct store_entry *e = store_entry_at(p->store, i);
			if (e && e->chosen && (e->chosen_bind->mask & PKV_BIND_PID) &&
			    e->chosen_bind->owner == node)
				lifetimes_erase(p, e, e->gen, 0, now);
		}
	}
	lifetimes_sweep(p, now);
	sync_step(p, now);
	paxos_finish_call(p, now);
}

void paxos_peer_bind_inc(struct paxos *p, uint32_t node, uint64_t bind_inc, uint64_t now)
{
	if (!paxos_peer_ok(p, node) || bind_inc <= p->peers[node].bind_inc)
		return;
	p->peers[node].bind_inc = bind_inc;
	lifetimes_sweep(p, now);
	paxos_finish_call(p, now);
}

void paxos_peer_incarnation(struct paxos *p, uint32_t node, uint64_t incarnation, uint64_t now)
{
	if (!paxos_peer_ok(p, node) || incarnation <= p->peers[node].inc)
		return;
	p->peers[node].inc = incarnation;
	lifetimes_sweep(p, now);
	paxos_finish_call(p, now);
}

/* ---- outputs and stats ------------------------------------------------- */

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
	/*
	 * Among the voters (docs/design.md §5.2): an observer may be gone
	 * without another observer knowing, and contention belongs where the
	 * votes are. With every node a voter this is the node list's pick.
	 */
	uint32_t nv = 0;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		nv += is_voter(p, p->sorted[i]);
	if (nv == 0)
		return p->sorted[h % p->cfg.n_nodes];
	uint32_t k = (uint32_t)(h % nv);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (is_voter(p, p->sorted[i]) && k-- == 0)
			return p->sorted[i];
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
