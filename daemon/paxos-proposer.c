// SPDX-License-Identifier: MIT
/*
 * paxos-proposer.c — the proposer: one state machine per request
 * (proposer_dispatch, one handler per state), classic rounds, the fast round,
 * backoff after a conflict and forwarding to the key's primary.
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
 * The fast round: its rules and why they are safe are at the top of
 * paxos-acceptor.c. Rule 2 is counted here (quorum_at: every one of
 * cluster_size at F, a majority at any other ballot); rule 3 is phase 2's
 * choice of the highest ballot among the promises (st_preparing).
 */
#include "paxos-internal.h"

#include <errno.h>
#include <stdlib.h>

/* ---- starting rounds --------------------------------------------------- */

/* Acceptances that choose a value at ballot b: every voter at F. */
static unsigned quorum_at(const struct paxos *p, struct pkv_ballot b)
{
#if PKV_PAXOS_BROKEN_FAST_QUORUM
	/* TEST ONLY: a majority is taken as enough for the fast round. */
	(void)b;
	return quorum(p);
#else
	return is_fast(b) ? nvoters(p) : quorum(p);
#endif
}

static bool proposer_ready(const struct paxos *p)
{
	return p->synced && paxos_has_quorum(p);
}

/*
 * To every daemon, or to the voters only when some configured node does not
 * vote (docs/design.md §5.2): nobody else's answer counts, and an observer
 * learns a value on its first read of it rather than on every put.
 */
static void proposer_send_voters(struct paxos *p, const struct pkv_msg *m)
{
	if (!((p->configured_mask | self_bit(p)) & ~p->voters)) {
		paxos_send(p, PKV_TO_ALL, m);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (is_voter(p, p->cfg.nodes[i]))
			paxos_send(p, p->cfg.nodes[i], m);
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
		paxos_msg_value(p, &m, r->proposal, r->proposal_bind);
		r->value_sent |= r->proposal_bind == &r->bind; /* its own: in doubt if it fails */
		break;
	case PAXOS_ST_QUERYING:
		m.type = PKV_MSG_QUERY;
		m.gen = r->probe ? r->fence : 0; /* a floor put's read fences (§4.6) */
		m.ballot = (struct pkv_ballot){ 0 };
		m.arg1 = p->conf;
		break;
	default:
		return;
	}
	/* To the voters only: a fleet's observers cost a round nothing. */
	if (all) {
		proposer_send_voters(p, &m);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (!is_voter(p, n))
			continue;
		if (!(answered & BIT(n))) {
			paxos_send(p, n, &m);
			p->stats.retransmits++;
		}
	}
}

/*
 * The request's own value has a binding known dead here. A forwarded put's
 * bindings are known here since its FORWARD came: a loss of the peer seen
 * before that counts from a failure timeout after it (docs/design.md §4.2).
 */
static bool own_binding_dead(struct paxos *p, const struct req *r, uint64_t now)
{
	return lifetimes_binding_dead_since(p, bind_or_null(&r->bind), r->bucket,
					    r->kind == PAXOS_REQ_FORWARDED ? r->fwd_at : 0, now);
}

/* Phase 1a with a round above every round seen for the key. */
static void start_round(struct paxos *p, struct req *r, uint64_t now)
{
	struct store_entry *e = req_entry(p, r);
	if (!e) {
		r->t_timer = now + p->cfg.retransmit_us;
		req_set_state(p, r, PAXOS_ST_BACKOFF);
		return;
	}
	r->probe = false;
	/* Our own value must still be alive (it may be our second lifetime). */
	if (r->has_value && own_binding_dead(p, r, now)) {
		req_complete_status(p, r, PKV_S_INVALID_VALUE);
		return;
	}
	uint64_t round = e->max_round;
	if (e->promised.round > round)
		round = e->promised.round;
	if (r->ballot.round > round)
		round = r->ballot.round;
	/*
	 * Classic rounds start above F's, in this daemon's configuration
	 * (docs/design.md §5): a round seen in an older one is below it.
	 */
	struct pkv_ballot fast = fast_ballot_of(p->conf);
	if (round < fast.round)
		round = fast.round;
	if (round + 1 >= pkv_conf_base(p->conf + 1))
		round = fast.round; /* a round of a newer configuration: moot here */
	r->ballot = (struct pkv_ballot){ .round = round + 1, .node = p->cfg.self };
	r->t_ballot = now;
	e->max_round = round + 1;
	acceptor_mark_dirty(p, e);
	r->promised_mask = r->accepted_mask = 0;
	r->has_best = false;
	paxos_bytes_free(&r->best_value);
	paxos_bind_free(&r->best_bind);
	r->proposal_bind = NULL;
	p->stats.rounds_started++;
	req_set_state(p, r, PAXOS_ST_PREPARING);
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
	/* Every voter up (a fast quorum is all cluster_size of them). */
	if ((p->voters & ~paxos_connected_mask(p)) || now < p->fast_pause_until)
		return false;
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
	if (e && (!pkv_ballot_is_zero(e->promised) || store_entry_has_value(e)))
		return false;
	if (own_binding_dead(p, r, now))
		return false; /* start_round answers it */
	r->tried_fast = true;
	r->ballot = fast_ballot_of(p->conf);
	r->t_ballot = now;
	r->promised_mask = r->accepted_mask = 0;
	r->has_best = false;
	r->proposal = r->value;
	r->proposal_bind = &r->bind;
	p->stats.fast_rounds++;
	req_set_state(p, r, PAXOS_ST_ACCEPTING);
	r->t_timer = now + p->cfg.fast_wait_us;
	send_phase(p, r, 0, true);
	return true;
}

static void start_query(struct paxos *p, struct req *r, uint64_t now)
{
	r->t_query = now;
	r->answered_mask = 0;
	for (uint32_t i = 0; i < r->n_votes; i++) {
		paxos_bytes_free(&r->votes[i].value);
		paxos_bind_free(&r->votes[i].bind);
	}
	r->n_votes = 0;
	r->fenced_mask = r->holder_mask = r->holder_gen = 0;
	req_set_state(p, r, PAXOS_ST_QUERYING);
	r->t_timer = now + p->cfg.retransmit_us;
	send_phase(p, r, 0, true);
}

/* Asks peer n for the page of r's bucket at r's cursor for n. */
static void keys_ask(struct paxos *p, struct req *r, uint32_t n)
{
	struct pkv_msg m = {
		.type = PKV_MSG_KEYS_REQ,
		.bucket = r->bucket,
		.req = r->rid,
		.arg0 = p->cfg.keys_page,
		.arg1 = r->keys_cursor[n - 1],
	};
	r->keys_got[n - 1] = 0;
	paxos_send(p, n, &m);
}

void proposer_start_keys(struct paxos *p, struct req *r, uint64_t now)
{
	r->expect_mask = paxos_connected_mask(p) & ~self_bit(p);
	r->answered_mask = 0;
	req_set_state(p, r, PAXOS_ST_KEYS);
	r->t_timer = now + p->cfg.retransmit_us;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		r->keys_cursor[n - 1] = 0;
		if (r->expect_mask & BIT(n))
			keys_ask(p, r, n);
	}
}

/*
 * A put of a key this daemon holds nothing live of, below its bucket's
 * floor (collected tombstones, docs/design.md §4.6), reads first, and the
 * read is a fence: each voter that holds nothing live of the key below the
 * floor F raises its own floor to F before it answers "fenced", and from
 * then on refuses every PREPARE and ACCEPT of the key below F. Once so
 * many answered fenced that the others are no majority, no value below F is
 * or can ever be chosen, and the put takes F. A key that lives below F at a
 * voter, with the others a majority, is put where it lives.
 */
static bool needs_probe(struct paxos *p, struct req *r)
{
	if (r->probed || !r->has_value)
		return false;
	uint64_t floor = lifetimes_floor(p, r->bucket);
	if (floor <= store_gen_base(p->store) + 1)
		return false;
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
	return lifetimes_holds_nothing(e) && (!e || e->gen < floor);
}

static void start_probe(struct paxos *p, struct req *r, uint64_t now)
{
	r->probe = r->probed = true;
	r->fence = lifetimes_floor(p, r->bucket);
	start_query(p, r, now);
}

/* After the read: a put runs its round, a get reads plainly. */
static void probe_go_on(struct paxos *p, struct req *r, uint64_t now)
{
	if (!r->has_value)
		start_query(p, r, now);
	else if (!start_fast(p, r, now))
		start_round(p, r, now);
}

/*
 * A majority answered fenced: nothing below the floor is chosen or ever
 * will be, so the key's generations below it end here (with the fan-out
 * when this daemon held something of one, which no majority accepted) and
 * the request goes on at the floor.
 */
static void probe_done(struct paxos *p, struct req *r, uint64_t now)
{
	if (lifetimes_floor(p, r->bucket) != r->fence) {
		/* Another read raised our floor meanwhile: fence at it. */
		req_rekey(p, r);
		start_probe(p, r, now);
		return;
	}
	r->probe = false;
	struct store_entry *e = req_entry(p, r);
	if (!e)
		return;
	if (e->gen < r->fence) {
		if (r->has_value)
			p->stats.floor_puts++;
		if (!lifetimes_holds_nothing(e)) {
			lifetimes_erase(p, e, r->fence - 1, 0, now); /* restarts r there */
			return;
		}
		store_erase(p->store, e, r->fence - 1);
		lifetimes_moved_to_floor(p, e, now);
	}
	probe_go_on(p, r, now);
}

void proposer_floor_nack(struct paxos *p, struct req *r, uint64_t f, uint64_t now)
{
	/* Fenced at f already: the voter's refusal counts as its silence. */
	if (r->fence >= f || (r->state != PAXOS_ST_PREPARING && r->state != PAXOS_ST_ACCEPTING))
		return;
	if (!lifetimes_raise_floor(p, r->bucket, f))
		return;
	req_rekey(p, r); /* the round's other answers count no more */
	start_probe(p, r, now);
}

/*
 * The answers to a floor put's read (docs/design.md §4.6). Fenced (the
 * floor, no value): counted towards the fenced majority. The key's live
 * generation below the floor, with or without a value: a holder, not
 * fenced. Above the floor, or a value at it: the key lives there; the put
 * goes on there as after any newer generation.
 */
static void probe_querying(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			   const struct pkv_msg *m, uint64_t now)
{
	unsigned q = quorum(p);
	if (ev == PAXOS_EV_QUERY_REPLY) {
		if (r->answered_mask & BIT(from))
			return;
		struct store_entry *e = req_entry(p, r);
		if (!e)
			return;
		bool value = m->flags & (PKV_MF_HAS_VALUE | PKV_MF_CHOSEN);
		if (m->gen > r->fence || (value && m->gen == r->fence)) {
			r->probe = false;
			if (m->gen > e->gen)
				lifetimes_erase(p, e, m->gen - 1, from, now); /* restarts r there */
			else
				probe_go_on(p, r, now);
			return;
		}
		r->answered_mask |= BIT(from);
		if (m->gen == r->fence) {
			r->fenced_mask |= BIT(from);
		} else if (m->gen >= e->gen) {
			r->holder_mask |= BIT(from);
			if (m->gen > r->holder_gen)
				r->holder_gen = m->gen;
		} else {
			/* An ended generation's: told, and asked again. */
			r->answered_mask &= ~BIT(from);
			acceptor_gen_ok(p, e, m->gen, from, now);
		}
	} else if (ev != PAXOS_EV_TIMER) {
		return;
	}
	/*
	 * Enough fenced that the others are no majority: every majority (and
	 * the fast quorum, all of them) meets a fenced voter, so nothing below
	 * the floor is chosen or ever will be.
	 */
	if (popcount(r->fenced_mask) + q > nvoters(p)) {
		probe_done(p, r, now);
		return;
	}
	/*
	 * Otherwise wait until a majority holds the key below the floor (with
	 * every voter answering, one of the two comes), asking again those
	 * that did not answer either way.
	 */
	if (popcount(r->holder_mask) < q) {
		if (ev == PAXOS_EV_TIMER) {
			r->t_timer = now + p->cfg.retransmit_us;
			send_phase(p, r, r->answered_mask, false);
		}
		return;
	}
	/* The key lives below the floor at a voter: the request goes on there. */
	r->probe = false;
	struct store_entry *e = req_entry(p, r);
	if (!e)
		return;
	if (r->holder_gen > e->gen) {
		lifetimes_erase(p, e, r->holder_gen - 1, 0, now); /* restarts r there */
		return;
	}
	if (r->has_value)
		start_round(p, r, now);
	else
		start_query(p, r, now);
}

/* What a request does once it may run (quorum, synced). */
static void proposer_begin(struct paxos *p, struct req *r, uint64_t now)
{
	switch (r->kind) {
	case PAXOS_REQ_GET:
		start_query(p, r, now);
		break;
	case PAXOS_REQ_PUT:
	case PAXOS_REQ_FORWARDED:
		if (needs_probe(p, r)) {
			start_probe(p, r, now);
		} else if (!start_fast(p, r, now)) {
			start_round(p, r, now);
		}
		break;
	case PAXOS_REQ_KEYS:
		proposer_start_keys(p, r, now);
		break;
	case PAXOS_REQ_DROP:
		break; /* started by paxos_bucket_drop, never waits */
	}
}

/*
 * A value is chosen: tell every learner, record it, answer. When its
 * binding has ended, lifetimes_learn() ends the generation instead and the
 * request goes on in the next one (PAXOS_EV_ERASED): the dead value is not
 * returned.
 */
static void proposer_chosen(struct paxos *p, struct req *r, struct pkv_ballot b, struct pkv_bytes v,
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
	paxos_msg_value(p, &m, v, bind);
	/*
	 * A learner read that only saw the value chosen learned what its
	 * proposer told everyone already; one that finished a round tells.
	 */
	if (p->cfg.n_nodes > 1 && (!r->learn_only || r->get_round))
		proposer_send_voters(p, &m);
	/* lifetimes_learn() completes every request on the key, r included. */
	lifetimes_learn(p, e, b, v, bind, now);
	if (e->gen != gen || !e->chosen)
		return;
	if (r->state != PAXOS_ST_DONE)
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
}

static void proposer_backoff(struct paxos *p, struct req *r, const struct pkv_msg *m, uint64_t now)
{
	struct store_entry *e = req_entry(p, r);
	if (e && m)
		acceptor_note_round(p, e, m->accepted);
	r->conflicts++;
	p->stats.conflicts++;
	uint64_t span = p->cfg.backoff_max_us;
	/* Grows with repeated conflicts, up to 4× the configured bound. */
	if (r->conflicts > 1)
		span *= r->conflicts < 4 ? r->conflicts : 4;
	r->t_timer = now + 1 + splitmix(&p->rng) % span;
	req_set_state(p, r, PAXOS_ST_BACKOFF);
}

static void proposer_forward(struct paxos *p, struct req *r, uint32_t to, uint64_t now)
{
	r->fwd_to = to;
	r->value_sent = true;
	r->fwd_open = true;
	req_set_state(p, r, PAXOS_ST_FORWARDED);
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
	paxos_msg_value(p, &m, r->value, &r->bind);
	paxos_send(p, to, &m);
}

/* After a backoff: forward to the primary after the first conflict, else retry. */
static void retry_round(struct paxos *p, struct req *r, uint64_t now)
{
	if (!proposer_ready(p)) {
		r->t_timer = UINT64_MAX;
		req_set_state(p, r, PAXOS_ST_WAIT_QUORUM);
		return;
	}
	if (r->kind == PAXOS_REQ_PUT && r->conflicts >= 1 && !r->no_forward) {
		uint32_t prim = paxos_primary(p, r->bucket, r->key);
		if (prim != p->cfg.self && p->peers[prim].connected) {
			if (r->fwd_to == 0)
				p->stats.forwards++;
			proposer_forward(p, r, prim, now);
			return;
		}
	}
	start_round(p, r, now);
}

/* --- one handler per state --- */

static void st_wait_quorum(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			   const struct pkv_msg *m, uint64_t now)
{
	if ((ev == PAXOS_EV_START || ev == PAXOS_EV_QUORUM) && proposer_ready(p))
		proposer_begin(p, r, now);
}

/*
 * A get counts the acceptors' answers the way a proposer counts its votes,
 * and under the same two limits (docs/design.md §3.3):
 *  - an answer counts at most ballot_life_us after the query started, as a
 *    ballot's votes do: a voter that restarts without its state stays
 *    silent for the quiet period (2 x ballot_life_us), so every answer
 *    counted together was held at one moment by a voter that has not
 *    forgotten it; past that the query starts again;
 *  - a voter that goes down or restarts loses its answers at once.
 * Without them a get counted a vote at F that the voter had forgotten
 * beside votes for the same value cast after it forgot, and returned a
 * value that was never chosen (test-membership: hole 4).
 */
static void query_forget(struct req *r, uint32_t node)
{
	r->answered_mask &= ~BIT(node);
	r->fenced_mask &= ~BIT(node);
	r->holder_mask &= ~BIT(node);
	for (uint32_t i = 0; i < r->n_votes; i++)
		r->votes[i].who &= ~BIT(node);
}

static void st_querying(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
			const struct pkv_msg *m, uint64_t now)
{
	unsigned q = quorum(p);
	/* (TEST ONLY, PKV_PAXOS_BROKEN_GET_ACROSS_RESTART: answers never expire.) */
	bool expire = !PKV_PAXOS_BROKEN_GET_ACROSS_RESTART;
	if (expire && ev == PAXOS_EV_PEER_DOWN) {
		query_forget(r, from);
		/*
		 * A get that lost its quorum answers so now, as one that
		 * started without (paxos_get), not at its deadline: it has
		 * proposed nothing, so the answer leaves nothing in doubt
		 * (docs/design.md §5.1). A put's query goes on: it may run
		 * a round once a quorum is back (retry), and says no quorum
		 * at its deadline.
		 */
		if (r->kind == PAXOS_REQ_GET && !r->retry && !paxos_has_quorum(p))
			req_complete_status(p, r, PKV_S_NO_QUORUM);
		return;
	}
	if (expire && ev == PAXOS_EV_TIMER && now >= r->t_query + p->cfg.ballot_life_us) {
		req_rekey(p, r); /* late answers to the old query count no more */
		start_query(p, r, now);
		return;
	}
	if (r->probe) {
		probe_querying(p, r, ev, from, m, now);
		return;
	}
	if (ev == PAXOS_EV_QUERY_REPLY) {
		if (r->answered_mask & BIT(from))
			return;
		r->answered_mask |= BIT(from);
		struct store_entry *e = req_entry(p, r);
		if (!e)
			return;
		if (m->gen > e->gen) {
			/* A newer generation: erasing restarts the query there. */
			lifetimes_erase(p, e, m->gen - 1, from, now);
			return;
		}
		bool stale = m->gen < e->gen; /* the sender holds nothing of ours */
		if (stale)
			acceptor_gen_ok(p, e, m->gen, from, now); /* tells it to catch up */
		/*
		 * The sender's learner knows it: that is a fact — except our
		 * own learner's past the lease (docs/design.md §5.1): the
		 * lifetime may have ended where we cannot see it, so its
		 * answer counts only as our acceptor's vote, beside a
		 * quorum's (a newer generation among them ends it here).
		 */
		bool own_unvouched = from == p->cfg.self && !leased(p, now);
		if (!stale && (m->flags & PKV_MF_CHOSEN) && !own_unvouched) {
			uint64_t gen = e->gen;
			lifetimes_learn(p, e, m->accepted, m->value, &p->rx_bind, now);
			if (e->gen == gen && r->state != PAXOS_ST_DONE && e->chosen)
				req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
			return;
		}
		if (!stale && (m->flags & PKV_MF_HAS_VALUE)) {
			struct qvote *v = NULL;
			for (uint32_t i = 0; i < r->n_votes; i++)
				if (!pkv_ballot_cmp(r->votes[i].b, m->accepted) &&
				    (!is_fast(m->accepted) ||
				     paxos_same_value(r->votes[i].value, &r->votes[i].bind,
						      m->value, &p->rx_bind)))
					v = &r->votes[i];
			if (!v) {
				v = &r->votes[r->n_votes];
				if (paxos_bytes_dup(&v->value, m->value) ||
				    paxos_bind_dup(&v->bind, &p->rx_bind)) {
					paxos_bytes_free(&v->value);
					p->oom = -ENOMEM;
					r->answered_mask &= ~BIT(from);
					return;
				}
				v->b = m->accepted;
				v->who = 0;
				r->n_votes++;
			}
			/*
			 * A majority accepted one ballot (all, at F): that value
			 * is chosen. Only a ballot of this configuration: values
			 * of an older one were copied by the catch-up, each voter
			 * from its own majority of the frozen voters, so equal
			 * copies on a majority do not show a choice; the round
			 * below finishes them (docs/design.md §5).
			 */
			v->who |= BIT(from);
			if (popcount(v->who) >= quorum_at(p, v->b) &&
			    pkv_ballot_conf(v->b) == p->conf) {
				proposer_chosen(p, r, v->b, v->value, &v->bind, now);
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
		/*
		 * An owner's read of a put in doubt (docs/design.md §6.2) is
		 * over only when no voter holds a value: it waits for every
		 * connected voter, until the timer.
		 */
		if (r->owner_read && ev != PAXOS_EV_TIMER &&
		    (paxos_connected_mask(p) & p->voters & ~r->answered_mask))
			return;
		/* A majority holds no value: nothing was chosen. */
		req_complete(p, r, PKV_S_NOT_FOUND, 0, (struct pkv_bytes){ 0 }, NULL);
		return;
	}
	/*
	 * Values without a majority: an interrupted round. Wait for the other
	 * connected nodes until the timer, then finish the round.
	 */
	bool all = (paxos_connected_mask(p) & p->voters & ~r->answered_mask) == 0;
	if (all || ev == PAXOS_EV_TIMER) {
		r->get_round = !r->has_value;
		r->probe = false; /* a put finishes that round, then answers its value */
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
			if (paxos_bytes_dup(&nv, m->value)) {
				p->oom = -ENOMEM;
				return;
			}
			if (paxos_bind_dup(&nb, &p->rx_bind)) {
				paxos_bytes_free(&nv);
				p->oom = -ENOMEM;
				return;
			}
			paxos_bytes_free(&r->best_value);
			paxos_bind_free(&r->best_bind);
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
		 * usual Paxos argument); when it is chosen, lifetimes_learn()
		 * sees the dead binding and ends the generation — correct, since the
		 * chosen value's lifetime is over — and the request starts
		 * again in generation g + 1 with its own value (put) or a new
		 * query (get). Ending g on any weaker evidence (say, the dead
		 * value is only accepted) could erase a live value chosen in g
		 * at a higher ballot by a proposer we raced with.
		 */
		if (r->has_best) {
			r->proposal = r->best_value;
			r->proposal_bind = &r->best_bind;
			if (lifetimes_binding_dead(p, bind_or_null(&r->best_bind), r->bucket, now))
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
		req_set_state(p, r, PAXOS_ST_ACCEPTING);
		r->t_timer = now + p->cfg.retransmit_us;
		send_phase(p, r, 0, true);
		return;
	case PAXOS_EV_NACK:
		proposer_backoff(p, r, m, now);
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
			proposer_chosen(p, r, r->ballot, r->proposal, r->proposal_bind, now);
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
		proposer_backoff(p, r, m, now);
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
		r->fwd_open = false; /* the primary's copy is done */
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
		proposer_forward(p, r, r->fwd_to, now);
		return;
	default:
		return;
	}
}

/*
 * A listing pages through each peer (acceptor_on_keys_req): one page asked
 * at a time per peer, the next one once the page's final reply came with
 * every key it counts; a page not complete by the timer is asked again.
 */
static void st_keys(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		    const struct pkv_msg *m, uint64_t now)
{
	switch (ev) {
	case PAXOS_EV_KEYS_REPLY:
		if (!(r->expect_mask & ~r->answered_mask & BIT(from)) ||
		    m->arg1 != r->keys_cursor[from - 1])
			break; /* a page we no longer wait for */
		/* A page holds PAXOS_KEYS_PAGE_MAX keys: no peer grows it past that. */
		if (m->key.len && r->keys_got[from - 1] < PAXOS_KEYS_PAGE_MAX) {
			req_keys_add(p, r, m->key);
			r->keys_got[from - 1]++;
		}
		if (!(m->flags & PKV_MF_LAST) || r->keys_got[from - 1] < m->arg2)
			break; /* a reply of the page was lost: the timer asks again */
		if (m->arg0 == 0) {
			r->answered_mask |= BIT(from);
			break;
		}
		r->keys_cursor[from - 1] = m->arg0;
		keys_ask(p, r, from);
		break;
	case PAXOS_EV_PEER_DOWN:
		r->expect_mask &= ~BIT(from);
		break;
	case PAXOS_EV_TIMER:
		r->t_timer = now + p->cfg.retransmit_us;
		for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
			uint32_t n = p->cfg.nodes[i];
			if ((r->expect_mask & ~r->answered_mask) & BIT(n)) {
				p->stats.retransmits++;
				keys_ask(p, r, n);
			}
		}
		break;
	default:
		break;
	}
	if ((r->expect_mask & ~r->answered_mask) == 0)
		req_complete_status(p, r, PKV_S_OK);
}

static void st_done(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		    const struct pkv_msg *m, uint64_t now)
{
}

/* ---- the state machine ------------------------------------------------- */

typedef void (*state_fn)(struct paxos *, struct req *, enum paxos_event, uint32_t,
			 const struct pkv_msg *, uint64_t);

static const state_fn state_handlers[PAXOS_ST__COUNT] = {
	[PAXOS_ST_WAIT_QUORUM] = st_wait_quorum, [PAXOS_ST_QUERYING] = st_querying,
	[PAXOS_ST_PREPARING] = st_preparing,	 [PAXOS_ST_ACCEPTING] = st_accepting,
	[PAXOS_ST_BACKOFF] = st_backoff,	 [PAXOS_ST_FORWARDED] = st_forwarded,
	[PAXOS_ST_KEYS] = st_keys,		 [PAXOS_ST_DONE] = st_done,
	[PAXOS_ST_RESOLVING] = st_done, /* the resolving get answers: req_resume_resolved() */
	[PAXOS_ST_DROPPING] = drop_on_event,
};

/*
 * Two events mean the same in every live state: the deadline ends the
 * request, and a value learned for the key answers it. The rest goes to the
 * state's handler.
 */
void proposer_dispatch(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
		       const struct pkv_msg *m, uint64_t now)
{
	if (r->state == PAXOS_ST_DONE)
		return;
	if (ev == PAXOS_EV_DEADLINE) {
		if (r->kind == PAXOS_REQ_KEYS)
			req_complete_status(p, r, PKV_S_OK); /* what we have so far */
		else
			req_complete_status(p, r,
					    r->state == PAXOS_ST_WAIT_QUORUM && !paxos_has_quorum(p)
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
	if (ev == PAXOS_EV_ERASED || ev == PAXOS_EV_NEW_CONF) {
		/*
		 * The generation in flight ended: go on in the next one. Or the
		 * configuration changed: what the round or query collected
		 * belongs to the old one, and no acceptor answers it any more
		 * (docs/design.md §5); start again in the new one.
		 */
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
		if (ev == PAXOS_EV_NEW_CONF)
			req_rekey(p, r);
		if (!proposer_ready(p))
			req_set_state(p, r, PAXOS_ST_WAIT_QUORUM);
		else if (r->has_value)
			start_round(p, r, now);
		else
			start_query(p, r, now);
		return;
	}
	state_handlers[r->state](p, r, ev, from, m, now);
}

/* ---- forwarded puts ---------------------------------------------------- */

void proposer_on_forward(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
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
	if (!r || paxos_bytes_dup(&r->value, m->value)) {
		if (r)
			req_complete_status(p, r, PKV_S_NO_MEMORY);
		p->oom = -ENOMEM;
		return;
	}
	r->origin = from;
	r->origin_req = m->req;
	r->fwd_at = now;
	r->has_value = true;
	r->no_forward = true; /* never forwarded twice */
	p->stats.forwards_served++;
	if (paxos_bind_dup(&r->bind, &p->rx_bind)) {
		req_complete_status(p, r, PKV_S_NO_MEMORY);
		p->oom = -ENOMEM;
		return;
	}
	/* The learner's value, only while the lease holds (docs/design.md §5.1). */
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	if (leased(p, now) && e && e->chosen && lifetimes_check_entry(p, e, now)) {
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return;
	}
	if (!paxos_has_quorum(p)) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return;
	}
	proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
}
