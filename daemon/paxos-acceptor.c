// SPDX-License-Identifier: MIT
/*
 * paxos-acceptor.c — the acceptor of per-key Basic Paxos: the two rules that
 * agreement rests on (phase 1b and 2b below), and the answers to queries and
 * key listings. A key's acceptor state lives in its store entry; every change
 * is marked for the durable log (acceptor_mark_dirty) before it is answered.
 *
 * The fast round: a put of a key this node holds nothing of skips phase 1
 * and sends ACCEPT at the fast ballot F = (round 1, node 0), below every
 * classic ballot (classic rounds start at 2). Unlike a classic ballot, F is
 * shared: any proposer may use it, each with its own value, as in a fast
 * round of Fast Paxos (Lamport, 2006). The rules that keep it safe:
 *   1. An acceptor votes at F at most once per generation: it accepts
 *      ACCEPT(F, v) only when it has promised nothing above F and has
 *      accepted nothing but v at F (a repeat of the same value and bindings
 *      is answered again). Each configuration has its own F (docs/design.md
 *      §5); a value copied from an earlier configuration's ballot counts as
 *      accepted, so a voter that caught up votes at F only on keys nothing
 *      reached.
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
#include "paxos-internal.h"

#include <errno.h>

/*
 * Marks a change to e's persistent state for the durable log. Without memory
 * for the mark the change stays in memory only; p->oom makes the loop log it,
 * and the acceptor answers nothing that depended on it.
 */
int acceptor_mark_dirty(struct paxos *p, struct store_entry *e)
{
	int r = store_touch(p->store, e);
	if (r)
		p->oom = r;
	return r;
}

void acceptor_note_round(struct paxos *p, struct store_entry *e, struct pkv_ballot b)
{
	if (b.round > e->max_round) {
		e->max_round = b.round;
		acceptor_mark_dirty(p, e);
	}
}

bool acceptor_may_answer(struct paxos *p)
{
	/* A daemon that is not a voter does not vote (docs/design.md §5). */
	if (!is_voter(p, p->cfg.self)) {
		p->stats.not_voter_dropped++;
		return false;
	}
	if (p->synced)
		return true;
	p->stats.dropped_unsynced++;
	return false;
}

/*
 * Generations (docs/design.md §4.1): a message of a newer generation says every
 * older one has ended (generations only advance by erasure), so we erase
 * up to it and go on; a message of an older generation is ignored, and its
 * sender (not self) is told with an ERASE so that it catches up.
 */
bool acceptor_gen_ok(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
		     uint64_t now)
{
	if (gen > e->gen)
		lifetimes_erase(p, e, gen - 1, from, now);
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
		paxos_send(p, from, &m);
	}
	return false;
}

/*
 * A PREPARE or ACCEPT of a key this acceptor holds nothing live of (no
 * entry, or a bare one below the floor), in a generation below its bucket's
 * floor, is refused (docs/design.md §4.6): a collected generation's, or one
 * a floor put's read fenced off. The nack carries the floor (arg0), so a
 * proposer below it fences at it in turn. True: refused.
 */
static bool fenced_off(struct paxos *p, uint32_t from, const struct store_entry *e,
		       const struct pkv_msg *m, uint8_t type)
{
	if (!lifetimes_holds_nothing(e))
		return false;
	uint64_t f = lifetimes_floor(p, m->bucket);
	if (m->gen >= f || (e && e->gen >= f))
		return false;
	p->stats.stale_gen++;
	struct pkv_msg r = {
		.type = type,
		.bucket = m->bucket,
		.key = m->key,
		.gen = m->gen,
		.ballot = m->ballot,
		.req = m->req,
		.arg0 = f,
	};
	paxos_send(p, from, &r);
	return true;
}

/*
 * What both acceptor phases do first: answer only once synced, find the
 * key's entry, ignore another generation (acceptor_gen_ok), note the
 * round, and start the reply of `type` about the same key and ballot.
 * NULL: no answer.
 */
static struct store_entry *acceptor_begin(struct paxos *p, uint32_t from, const struct pkv_msg *m,
					  uint64_t now, uint8_t type, struct pkv_msg *r)
{
	if (!acceptor_may_answer(p))
		return NULL;
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	if (fenced_off(p, from, e, m, type))
		return NULL;
	if (!e)
		e = store_lookup(p->store, m->bucket, m->key, true);
	if (!e) {
		p->oom = -ENOMEM;
		return NULL;
	}
	if (!acceptor_gen_ok(p, e, m->gen, from, now))
		return NULL;
	acceptor_note_round(p, e, m->ballot);
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
void acceptor_on_prepare(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct pkv_msg r;
	struct store_entry *e = acceptor_begin(p, from, m, now, PKV_MSG_PROMISE, &r);
	if (!e)
		return;
	if (pkv_ballot_cmp(m->ballot, e->promised) >= 0) {
		e->promised = m->ballot;
		p->fresh = false;
		if (acceptor_mark_dirty(p, e))
			return; /* not answered: the promise could not be made durable */
		r.flags = PKV_MF_OK;
#if PKV_PAXOS_BROKEN_ACCEPTOR
		/* TEST ONLY: the promise forgets to report the accepted value. */
		(void)0;
#else
		if (e->has_accepted) {
			r.flags |= PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			paxos_msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
#endif
	} else {
		r.accepted = e->promised;
	}
	paxos_send(p, from, &r);
}

/*
 * Phase 2b.
 *   "If an acceptor receives an accept request for a proposal numbered n, it
 *    accepts the proposal unless it has already responded to a prepare
 *    request having a number greater than n."  — Paxos Made Simple, §2.2
 * Enforced: accept iff ballot >= promised; accepting also raises the promise
 * to the ballot. Otherwise nack with the promise.
 */
void acceptor_on_accept(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct pkv_msg r;
	struct store_entry *e = acceptor_begin(p, from, m, now, PKV_MSG_ACCEPTED, &r);
	if (!e)
		return;
	/*
	 * Rule 1 of the fast round: one vote at F and nothing accepted before
	 * it (a value copied from another configuration's ballot included);
	 * repeats of the vote answered again.
	 */
	bool fast_revote = is_fast(m->ballot) && e->has_accepted &&
			   (pkv_ballot_cmp(e->accepted, m->ballot) ||
			    !paxos_same_value(m->value, &p->rx_bind, e->accepted_value,
					      e->accepted_bind));
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
	paxos_send(p, from, &r);
}

/*
 * A get asks what the acceptor accepted, and whether the learner knows.
 *
 * A floor put's read (m->gen: the floor F it fences at, docs/design.md
 * §4.6) is also a fence: when this acceptor holds nothing live of the key
 * below F, its bucket's floor rises to F before it answers (in the same
 * turn's log write, before the answer leaves), so it refuses every PREPARE
 * and ACCEPT of the key below F from then on; it answers "fenced":
 * generation F, no value. One that holds a promise, an acceptance or a
 * chosen value answers it, as to a get; a chosen value only while its lease
 * holds (past it, its acceptance only).
 */
void acceptor_on_query(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (!acceptor_may_answer(p))
		return;
	struct pkv_msg r = {
		.type = PKV_MSG_QUERY_REPLY,
		.bucket = m->bucket,
		.key = m->key,
		.req = m->req,
		.gen = 1,
		.arg1 = p->conf,
	};
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	uint64_t fence = m->gen;
	if (fence && !pkv_bucket_reserved(m->bucket.p, m->bucket.len) &&
	    lifetimes_holds_nothing(e) && (!e || e->gen < fence)) {
		/* (TEST ONLY, PKV_PAXOS_BROKEN_FENCE: the answer, not the fence.) */
		if (!PKV_PAXOS_BROKEN_FENCE && !lifetimes_raise_floor(p, m->bucket, fence))
			return; /* unanswered: asked again */
		r.gen = fence;
		paxos_send(p, from, &r);
		return;
	}
	if (e) {
		r.gen = e->gen;
		/*
		 * "Chosen" vouches that the value lives, which only the lease
		 * lets this learner say (docs/design.md §5.1): past it, a
		 * lifetime may have ended where it cannot see, and the reader
		 * takes the reply as a fact. So past the lease the answer is
		 * the acceptor's vote alone, counted beside a quorum's, among
		 * which a newer generation ends the value at the reader.
		 * (TEST ONLY, PKV_PAXOS_BROKEN_VOUCH: "chosen" all the same.)
		 */
		if (e->chosen && (leased(p, now) || PKV_PAXOS_BROKEN_VOUCH)) {
			r.flags = PKV_MF_CHOSEN | PKV_MF_HAS_VALUE;
			r.accepted = e->chosen_ballot;
			paxos_msg_value(p, &r, e->chosen_value, e->chosen_bind);
		} else if (e->has_accepted) {
			r.flags = PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			paxos_msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
	}
	paxos_send(p, from, &r);
}

/*
 * One page of the keys of a bucket that hold a value here (docs/design.md
 * §7, "Bounded work"): from bucket entry arg1 (the cursor), at most arg0
 * keys (capped at PAXOS_KEYS_PAGE_MAX; 0: keys_page), looking at no more
 * than PAXOS_KEYS_SCAN_MAX entries, one key per KEYS_REPLY. Every reply
 * carries the request's cursor in arg1; the page's final one has
 * PKV_MF_LAST, arg2 = the keys in the page and arg0 = the cursor of the next
 * page, or 0 past the bucket's end (a cursor that moved is at least 1).
 * Entries only append, so a cursor neither skips nor repeats a key.
 */
void acceptor_on_keys_req(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	struct store_bucket *b = store_bucket(p->store, m->bucket, false);
	struct pkv_msg r = {
		.type = PKV_MSG_KEYS_REPLY,
		.bucket = m->bucket,
		.req = m->req,
		.arg1 = m->arg1,
	};
	uint64_t want = m->arg0 ? m->arg0 : p->cfg.keys_page;
	if (want > PAXOS_KEYS_PAGE_MAX)
		want = PAXOS_KEYS_PAGE_MAX;
	size_t n = b ? store_bucket_nslots(b) : 0;
	size_t first = m->arg1 < n ? (size_t)m->arg1 : n;
	size_t end = first, last = SIZE_MAX;
	uint64_t keys = 0;
	while (end < n && end - first < PAXOS_KEYS_SCAN_MAX && keys < want) {
		const struct store_entry *x = store_bucket_entry_at(b, end);
		if (x && store_entry_has_value(x)) {
			last = end;
			keys++;
		}
		end++;
	}
	p->work += end - first;
	for (size_t i = first; last != SIZE_MAX && i < last; i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		if (!e || !store_entry_has_value(e))
			continue;
		r.key = e->key;
		paxos_send(p, from, &r);
	}
	r.key = last != SIZE_MAX ? store_bucket_entry_at(b, last)->key : (struct pkv_bytes){ 0 };
	r.flags = PKV_MF_LAST;
	r.arg0 = end < n ? end : 0;
	r.arg2 = keys;
	paxos_send(p, from, &r);
}
