// SPDX-License-Identifier: MIT
/*
 * paxos-drop.c — bucket drop: the live generation of every key of the
 * bucket ends on every daemon, with the ordinary erasure rules (docs/design.md §4.4).
 *
 * How it spreads. The origin ends the generation of each key it holds of
 * the bucket (lifetimes_erase: tombstone, paxos_erased output, cascade,
 * requests on the key restarted in the next generation) and sends DROP to
 * every connected peer, again on every retransmit timer to those that did
 * not acknowledge.
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
 *    member refuses (acceptor_gen_ok) and tells the sender with an ERASE.
 *    So no value is ever chosen again in g, and a get's query meets a member of D
 *    whose newer generation ends g at the asker before it finishes.
 *  - A daemon M that missed the drop (down or cut off) may still hold such
 *    a value in g, as acceptor and in its learner, and its local learner
 *    would answer a get with it. It is not left like that: the ERASE
 *    fan-out of each member of D that ended the key keeps being sent to M
 *    until M acknowledges (the fan-out is dropped only when every configured
 *    node acknowledged), and any message of generation g+1 that reaches M
 *    (a PREPARE, a CHOSEN, a QUERY_REPLY, a SYNC_REPLY) ends g at M too
 *    (acceptor_gen_ok). So M reports the key absent within a retransmit
 *    interval of hearing from the cluster again — the same bound as any erasure. A
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
#include "paxos-internal.h"

#include <errno.h>
#include <stdlib.h>

/* Ends the live generation of every key of the bucket held here. */
static void drop_apply(struct paxos *p, struct pkv_bytes bucket, uint64_t now)
{
	p->stats.drops_applied++;
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	if (!b)
		return;
	/* Entries only append, so indices stay valid while erasures run. */
	p->work += store_bucket_nkeys(b); /* a peer's drop is paid from its budget */
	for (size_t i = 0; i < store_bucket_nkeys(b); i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		/* An entry with nothing in its generation holds nothing to end. */
		if (!store_entry_has_value(e) && pkv_ballot_is_zero(e->promised))
			continue;
		p->stats.drop_erasures++;
		lifetimes_erase(p, e, e->gen, 0, now);
	}
}

/* Every connected node acknowledged the ERASE of every key of the bucket we ended. */
static bool drop_settled(const struct paxos *p, struct pkv_bytes bucket)
{
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	if (!b)
		return true;
	uint64_t conn = paxos_connected_mask(p);
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
	uint64_t to = paxos_connected_mask(p) & ~r->answered_mask & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (to & BIT(p->cfg.nodes[i]))
			paxos_send(p, p->cfg.nodes[i], &m);
	r->t_timer = now + p->cfg.retransmit_us;
}

static void drop_check(struct paxos *p, struct req *r)
{
	if (!r->drop_applied)
		return;
	uint64_t acked = r->answered_mask | self_bit(p);
	if ((paxos_connected_mask(p) & ~acked) == 0 && popcount(acked & p->voters) >= quorum(p) &&
	    drop_settled(p, r->bucket))
		req_complete_status(p, r, PKV_S_OK);
}

void drop_on_event(struct paxos *p, struct req *r, enum paxos_event ev, uint32_t from,
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
	paxos_send(p, to, &a);
}

void drop_on_drop(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
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
	/*
	 * Bounded work (docs/design.md §7): a peer has at most
	 * PAXOS_DROPS_PER_PEER drops pending here; one more is dropped like a
	 * lost datagram (its origin retransmits), so DROPs under fresh request
	 * ids cannot grow this list without end.
	 */
	size_t mine = 0;
	for (size_t i = 0; i < p->n_dpend; i++)
		mine += p->dpend[i].to == from;
	if (mine >= PAXOS_DROPS_PER_PEER) {
		p->stats.drops_over_budget++;
		return;
	}
	struct drop_pending *v = paxos_grow(p->dpend, &p->cap_dpend, p->n_dpend, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return; /* not applied: the origin retransmits */
	}
	p->dpend = v;
	struct drop_pending *d = &v[p->n_dpend];
	if (paxos_bytes_dup(&d->bucket, m->bucket)) {
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
void drop_step(struct paxos *p, uint64_t now)
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
		paxos_bytes_free(&d->bucket);
		*d = p->dpend[--p->n_dpend];
	}
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->kind == PAXOS_REQ_DROP && r->state == PAXOS_ST_DROPPING)
			drop_check(p, r);
}

int paxos_bucket_drop(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
		      uint64_t now)
{
	p->stats.drops++;
	struct req *r = req_new(p, PAXOS_REQ_DROP, id, bucket, (struct pkv_bytes){ 0 }, deadline,
				false);
	if (!r)
		return -ENOMEM;
	int bad = req_check_args(bucket, (struct pkv_bytes){ 0 }, false);
	if (bad) {
		req_complete_status(p, r, bad);
		return paxos_finish_call(p, now);
	}
	if (!paxos_has_quorum(p)) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return paxos_finish_call(p, now);
	}
	req_set_state(p, r, PAXOS_ST_DROPPING);
	if (p->synced) {
		r->drop_applied = true;
		drop_apply(p, bucket, now);
	}
	drop_send(p, r, now);
	drop_check(p, r); /* a cluster of one is done at once */
	return paxos_finish_call(p, now);
}
