// SPDX-License-Identifier: MIT
/*
 * paxos-sync.c — restart. A daemon restarted without durable state answers
 * no PREPARE, ACCEPT, QUERY or SYNC_REQ until, after a quiet period, it has
 * copied the acceptor state of a strict majority of cluster_size, not
 * counting itself (sync_step); a majority that lost its state starts a new
 * epoch instead of waiting forever. Also here: the answering side of a sync
 * (sync_on_req), and the restore of durable acceptor state at start.
 */
#include "paxos-internal.h"

#include <errno.h>

/* ---- the answering side ------------------------------------------------ */

/*
 * One page of the store for a restarting peer: records for entries
 * [arg0, arg0 + sync_page), each with arg0 = its index + 1. An entry whose
 * learner knows a value at a ballot other than the accepted one gets a
 * second, learner-only record (PKV_MF_CHOSEN without PKV_MF_HAS_VALUE).
 * PKV_MF_LAST marks the store's last entry; an empty store past the cursor
 * answers one key-less PKV_MF_LAST record with arg0 = cursor.
 */
void sync_on_req(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	/*
	 * A restart copies from synced voters of its own configuration; a
	 * catch-up (arg2 = 1) from voters of the configuration before it that
	 * have moved on (frozen there) and did not lose their state
	 * (docs/design.md §5).
	 */
	if (m->arg2 == 1) {
		if (p->state_lost || p->conf < m->arg1) {
			p->stats.dropped_unsynced++;
			return;
		}
	} else if (m->arg1 != p->conf || !acceptor_may_answer(p)) {
		return;
	}
	size_t n = store_nslots(p->store);
	uint64_t c = m->arg0;
	/*
	 * "Chosen" only while our lease holds, as in a QUERY's answer
	 * (docs/design.md §5.1): a copier learns it as a fact, and a get
	 * waiting there answers it before the other sources' pages, which
	 * may hold the generation's end, arrive. Past the lease the
	 * acceptor's records alone. (TEST ONLY, PKV_PAXOS_BROKEN_VOUCH:
	 * "chosen" all the same.)
	 */
	bool vouch = leased(p, now) || PKV_PAXOS_BROKEN_VOUCH;
	struct pkv_msg r = { .type = PKV_MSG_SYNC_REPLY, .req = m->req };
	if (c >= n) {
		r.flags = PKV_MF_LAST;
		r.arg0 = c;
		paxos_send(p, from, &r);
		return;
	}
	for (uint64_t i = c; i < n && i < c + p->cfg.sync_page; i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		r.arg0 = i + 1;
		uint8_t last = i + 1 == n ? PKV_MF_LAST : 0;
		if (!e) {
			/* A collected tombstone's hole (§4.6): a record with no key. */
			r.bucket = r.key = r.value = (struct pkv_bytes){ 0 };
			r.gen = 0;
			r.ballot = r.accepted = (struct pkv_ballot){ 0 };
			r.flags = last;
			paxos_send(p, from, &r);
			continue;
		}
		r.bucket = store_bucket_name(e->bucket);
		r.key = e->key;
		r.gen = e->gen;
		r.ballot = e->promised;
		r.flags = last;
		r.accepted = (struct pkv_ballot){ 0 };
		r.value = (struct pkv_bytes){ 0 };
		if (e->has_accepted) {
			r.flags |= PKV_MF_HAS_VALUE;
			r.accepted = e->accepted;
			paxos_msg_value(p, &r, e->accepted_value, e->accepted_bind);
		}
		bool same = e->has_accepted && !pkv_ballot_cmp(e->accepted, e->chosen_ballot);
		if (vouch && e->chosen && (same || !e->has_accepted)) {
			r.flags |= PKV_MF_CHOSEN;
			r.flags &= (uint8_t)~PKV_MF_BOUND;
			r.accepted = e->chosen_ballot;
			paxos_msg_value(p, &r, e->chosen_value, e->chosen_bind);
		}
		paxos_send(p, from, &r);
		if (vouch && e->chosen && !same && e->has_accepted) {
			/* The learner's record of the same index: it does not
			 * stand for the index (arg1), or a copier that got it
			 * first would finish the page without the acceptor's. */
			r.flags = PKV_MF_CHOSEN | last;
			r.accepted = e->chosen_ballot;
			r.arg1 = 1;
			paxos_msg_value(p, &r, e->chosen_value, e->chosen_bind);
			paxos_send(p, from, &r);
			r.arg1 = 0;
		}
	}
}

/* ---- the restarting side ----------------------------------------------- */

static void become_synced(struct paxos *p, uint64_t now)
{
	p->synced = true;
	p->catchup = false;
	p->state_lost = false;
	p->unsynced_since = 0;
	paxos_push_event(p, PAXOS_E_SYNCED, p->epoch,
			 "paxos: acceptor synced; answering from now on");
	for (struct req *r = p->reqs; r; r = r->next)
		proposer_dispatch(p, r, PAXOS_EV_QUORUM, 0, NULL, now);
}

static void sync_send_page(struct paxos *p, uint32_t n, uint64_t now)
{
	struct peer *pe = &p->peers[n];
	pe->sync_rid = p->next_rid++;
	pe->sync_sent_at = now;
	struct pkv_msg m = { .type = PKV_MSG_SYNC_REQ,
			     .req = pe->sync_rid,
			     .arg0 = pe->sync_cursor,
			     .arg1 = p->conf,
			     .arg2 = p->catchup ? 1 : 0 };
	paxos_send(p, n, &m);
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
		lifetimes_erase(p, e, m->gen - 1, from, now);
	if (m->gen != e->gen)
		return;
	p->stats.sync_entries++;
	p->fresh = false;
	/* Per key: highest promise, highest-ballot accepted value. */
	if (pkv_ballot_cmp(m->ballot, e->promised) > 0) {
		e->promised = m->ballot;
		acceptor_mark_dirty(p, e);
	}
	acceptor_note_round(p, e, m->ballot);
	if ((m->flags & PKV_MF_HAS_VALUE) &&
	    (!e->has_accepted || pkv_ballot_cmp(m->accepted, e->accepted) > 0)) {
		if (store_set_accepted_bound(p->store, e, m->accepted, m->value,
					     bind_or_null(&p->rx_bind)))
			p->oom = -ENOMEM;
	}
	if (m->flags & PKV_MF_CHOSEN)
		lifetimes_learn(p, e, m->accepted, m->value, &p->rx_bind, now);
}

void sync_on_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct peer *pe = &p->peers[from];
	/* Once synced, late pages must not change the acceptor behind our promises. */
	if (p->synced || pe->sync_done || m->req != pe->sync_rid || pe->sync_rid == 0)
		return;
	/* Sources: the voters before a change, or ours after a restart (§5). */
	if (!((p->catchup ? p->prev_voters : p->voters) & BIT(from))) {
		p->stats.not_voter_dropped++;
		return;
	}
	uint32_t page = p->cfg.sync_page;
	/*
	 * A record with no key inside the page is a hole (a collected
	 * tombstone, §4.6): nothing to copy, but counted as received. The page's
	 * bare LAST answer names the index after the source's end, below the
	 * page, so it is not taken for one.
	 */
	uint64_t hidx = m->arg0 - 1;
	bool hole = !m->key.len && m->arg0 && hidx >= pe->sync_cursor &&
		    hidx < pe->sync_cursor + page;
	if (hole) {
		pe->sync_got |= 1ull << (hidx - pe->sync_cursor);
	} else if (m->key.len) {
		uint64_t idx = m->arg0 - 1;
		if (m->arg0 == 0 || idx < pe->sync_cursor || idx >= pe->sync_cursor + page)
			return;
		sync_merge(p, from, m, now);
		if (p->oom || pe->sync_rid == 0)
			return; /* not marked: asked again (or a new configuration) */
		/*
		 * The index is copied once its acceptor's record came: an
		 * extra learner record (arg1) may overtake it, and a page
		 * finished on that would drop the accepted value arriving
		 * next, which a voter must hold (docs/design.md §5).
		 */
		if (m->arg1 != 1)
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
		sync_adopt_epoch(p, pe->epoch);
		return;
	}
	pe->sync_cursor = end;
	pe->sync_got = 0;
	sync_send_page(p, from, now);
}

/*
 * Epochs only grow; keys first used in epoch e start at generation
 * (e << epoch_gen_shift) + 1, above any generation of an earlier epoch (up to
 * 2^shift lifetimes of a key per epoch), so the fencing token of a key never
 * repeats or goes back across a new epoch (docs/design.md §6.1). A value an
 * absent daemon kept from before the epoch meets the newer generation and
 * ends, as any older generation does.
 */
void sync_peer_reset(struct peer *pe)
{
	pe->sync_done = false;
	pe->sync_rid = 0;
	pe->sync_cursor = 0;
	pe->sync_got = 0;
	pe->sync_last = false;
}

void sync_adopt_epoch(struct paxos *p, uint64_t epoch)
{
	if (epoch <= p->epoch)
		return;
	p->epoch = epoch;
	if (!PKV_PAXOS_BROKEN_EPOCH_GENS)
		store_set_gen_base(p->store, epoch << p->cfg.epoch_gen_shift);
}

/*
 * Who this daemon copies from (docs/design.md §5, §6.1): after a restart,
 * the synced voters of its own configuration; in a catch-up, the voters of
 * the configuration before that have moved on (frozen there).
 */
bool sync_is_source(const struct paxos *p, uint32_t n)
{
	const struct peer *pe = &p->peers[n];
	if (n == p->cfg.self || !pe->connected)
		return false;
	if (p->catchup)
		return (p->prev_voters & BIT(n)) && pe->conf.num >= p->conf;
	return pe->synced && is_voter(p, n) && pe->conf.num == p->conf;
}

/* Asks each source not yet copied for its next page, or again when it is due. */
static void sync_page_sources(struct paxos *p, uint64_t now)
{
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		struct peer *pe = &p->peers[n];
		if (pe->sync_done || !sync_is_source(p, n))
			continue;
		if (pe->sync_rid == 0 || now >= pe->sync_sent_at + p->cfg.retransmit_us)
			sync_send_page(p, n, now);
	}
}

/*
 * The catch-up after a change (docs/design.md §5): copy a strict majority of
 * the voters of the configuration before, each once it has moved on (frozen
 * there: it answers nothing of it any more). This daemon counts itself when
 * it was one of them and kept its state. No quiet period: a frozen source
 * takes no message of the old configuration after the copy.
 */
static void sync_catchup(struct paxos *p, uint64_t now)
{
	uint64_t src = p->prev_voters;
	unsigned need = popcount(src) / 2 + 1;
	unsigned done = (src & self_bit(p)) && !p->state_lost ? 1 : 0;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (n != p->cfg.self && (src & BIT(n)) && p->peers[n].sync_done)
			done++;
	}
	if (done >= need) {
		become_synced(p, now);
		return;
	}
	sync_page_sources(p, now);
}

/* Drives the restart rule; called from every entry point while unsynced. */
void sync_step(struct paxos *p, uint64_t now)
{
	if (p->synced)
		return;
	if (p->catchup) {
		sync_catchup(p, now);
		return;
	}
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
	/*
	 * Only voters count (docs/design.md §5): as copy sources, toward the
	 * bootstrap majority and toward a majority that lost its state. A
	 * daemon that is not a voter syncs from the voters like any other.
	 */
	unsigned q = quorum(p);
	unsigned self_v = is_voter(p, p->cfg.self) ? 1 : 0;
	unsigned connected = self_v, fresh = p->fresh ? self_v : 0, synced_peers = 0, done = 0;
	unsigned unsynced = self_v;  /* connected voters without their state, self included */
	unsigned synced_done = 0;    /* connected synced voters we finished copying */
	bool all_fresh = true;	     /* no connected daemon, voter or not, holds state */
	uint64_t max_epoch = p->epoch;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		struct peer *pe = &p->peers[n];
		if (n == p->cfg.self)
			continue;
		if (pe->connected && !pe->fresh)
			all_fresh = false;
		if (!is_voter(p, n))
			continue;
		if (pe->sync_done)
			done++;
		if (!pe->connected)
			continue;
		connected++;
		if (pe->fresh)
			fresh++;
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
	sync_page_sources(p, now);
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
			sync_adopt_epoch(p, max_epoch + 1);
			p->stats.epochs_declared++;
			paxos_push_event(
				p, PAXOS_E_NEW_EPOCH, p->epoch,
				"paxos: NEW EPOCH: a majority restarted without durable state; "
				"values held only by the restarted daemons may be lost");
			become_synced(p, now);
		}
	} else {
		p->unsynced_since = 0;
	}
}

/* ---- restore from the durable log -------------------------------------- */

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
	for (size_t i = 0; i < store_nslots(p->store); i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		if (!e)
			continue;
		/*
		 * The fan-out of an erasure lives in memory: every ended
		 * generation is announced again, or peers that had not yet
		 * acknowledged it before the restart would keep the value.
		 */
		if (e->gen > 1)
			lifetimes_fanout_add(p, e, e->gen - 1, 0, now);
		if (e->chosen)
			(void)lifetimes_learned_effects(p, e, now);
		/*
		 * Accepted, bound to one of our processes, not known chosen:
		 * its put was under way at the stop, and the others may have
		 * chosen it since. Taken back, it must be watched once chosen,
		 * so find out (docs/design.md §6.2).
		 */
		else if (e->has_accepted && (e->accepted_bind->mask & PKV_BIND_PID) &&
			 e->accepted_bind->owner == p->cfg.self &&
			 e->accepted_bind->owner_inc == p->cfg.bind_inc &&
			 p->cfg.bind_inc != p->cfg.incarnation)
			req_confirm(p, e, now);
		if (e->chosen && is_conf_bucket(store_bucket_name(e->bucket)))
			paxos_conf_learned(p, e, now);
	}
}
