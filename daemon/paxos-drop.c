// SPDX-License-Identifier: MIT
/*
 * paxos-drop.c — bucket drop: the live generation of every key of the
 * bucket ends on every daemon, with the ordinary erasure rules (docs/design.md §4.4).
 *
 * Who decides. A drop is first a value the voters choose: the origin puts a
 * drop record naming the bucket under a fresh key of the reserved bucket
 * PKV_DROP_BUCKET (drop_propose). A DROP names that key, and a daemon acts
 * on it only for a record it holds as chosen (learned by the rules of
 * docs/design.md §3.5, never on one peer's word); until then it asks the
 * voters for it with a learner read. The DROP says when: a record learned
 * late, with no DROP, is never applied, since it would end values put
 * after the drop.
 *
 * How it spreads. Once its record is chosen, the origin ends the
 * generation of each key it holds of the bucket (lifetimes_erase:
 * tombstone, paxos_erased output, cascade, requests on the key restarted
 * in the next generation) and sends DROP to every connected peer, again on
 * every retransmit timer to those that did not acknowledge.
 * A daemon that gets a DROP, and holds its record, does the same for the
 * keys it holds. Every one
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

static struct pkv_bytes drop_bucket_name(void)
{
	return (struct pkv_bytes){ (const uint8_t *)PKV_DROP_BUCKET, PKV_DROP_BUCKET_LEN };
}

/* Ends the live generation of every key of the bucket held here. */
static void drop_apply(struct paxos *p, struct pkv_bytes bucket, uint64_t now)
{
	if (pkv_bucket_reserved(bucket.p, bucket.len))
		return; /* the daemons' own buckets are never dropped */
	p->stats.drops_applied++;
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	if (!b)
		return;
	/* Entries keep their positions (erasing collects nothing), so indices
	 * stay valid while erasures run. */
	p->work += store_bucket_nslots(b); /* a peer's drop is paid from its budget */
	for (size_t i = 0; i < store_bucket_nslots(b); i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		/* An entry with nothing in its generation holds nothing to end. */
		if (!e || (!store_entry_has_value(e) && pkv_ballot_is_zero(e->promised)))
			continue;
		p->stats.drop_erasures++;
		lifetimes_erase(p, e, e->gen, 0, now);
	}
}

/*
 * The bucket that the chosen record under `key` names; false while no
 * record is chosen there (or what is chosen is not a drop record).
 */
static bool drop_record(struct paxos *p, struct pkv_bytes key, struct pkv_bytes *bucket)
{
	struct store_entry *e = store_lookup(p->store, drop_bucket_name(), key, false);
	if (!e || !e->chosen)
		return false;
	const uint8_t *b;
	uint32_t len;
	if (!pkv_drop_decode(e->chosen_value.p, e->chosen_value.len, &b, &len))
		return false;
	*bucket = (struct pkv_bytes){ b, len };
	return true;
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
	r->t_timer = now + p->cfg.retransmit_us;
	if (!r->drop_decided)
		return; /* the put of the record retransmits on its own */
	/*
	 * Connected peers only: one the drop does not wait for is reached by
	 * the ERASE fan-out, whereas a DROP reaching it long after the drop
	 * completed would end values put since.
	 */
	uint8_t rec[2 + PKV_MAX_BUCKET];
	uint32_t n = pkv_drop_encode(rec, p->cfg.self, r->bucket.p, r->bucket.len);
	struct pkv_msg m = { .type = PKV_MSG_DROP, .bucket = drop_bucket_name(), .key = r->value,
			     .value = { rec, n }, .req = r->rid };
	uint64_t to = paxos_connected_mask(p) & ~r->answered_mask & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++)
		if (to & BIT(p->cfg.nodes[i]))
			paxos_send(p, p->cfg.nodes[i], &m);
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

static void drop_ack_send(struct paxos *p, uint32_t to, uint64_t req, struct pkv_bytes key)
{
	struct pkv_msg a = { .type = PKV_MSG_DROP_ACK, .bucket = drop_bucket_name(), .key = key,
			     .req = req };
	paxos_send(p, to, &a);
}

/*
 * A pending peer's drop: applied once its record is chosen here and this
 * daemon is synced; until the record is known, a learner read asks the
 * voters for it (again at every retransmit interval).
 */
static void drop_pending_try(struct paxos *p, struct drop_pending *d, uint64_t now)
{
	if (d->applied)
		return;
	struct pkv_bytes bucket;
	if (!drop_record(p, d->key, &bucket)) {
		if (!d->read_at || now >= d->read_at + p->cfg.retransmit_us) {
			d->read_at = now;
			req_learn_read(p, drop_bucket_name(), d->key, now);
		}
		return;
	}
	if (!d->bucket.p && paxos_bytes_dup(&d->bucket, bucket)) {
		p->oom = -ENOMEM;
		return;
	}
	if (!p->synced)
		return;
	d->applied = true;
	drop_apply(p, d->bucket, now);
}

void drop_on_drop(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (m->key.len == 0 || m->key.len > PKV_MAX_KEY)
		return;
#if PKV_PAXOS_BROKEN_DROP
	/* TEST ONLY: the DROP's own word names the bucket, and it is erased at once. */
	{
		const uint8_t *b;
		uint32_t len;
		if (pkv_drop_decode(m->value.p, m->value.len, &b, &len))
			drop_apply(p, (struct pkv_bytes){ b, len }, now);
	}
#endif
	for (size_t i = 0; i < p->n_dpend; i++)
		if (p->dpend[i].to == from && p->dpend[i].req == m->req)
			return; /* pending; acknowledged once applied and settled */
	for (size_t i = 0; i < p->n_ddone; i++)
		if (p->ddone[i].to == from && p->ddone[i].req == m->req) {
			drop_ack_send(p, from, m->req, m->key); /* the ack was lost */
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
		return; /* not taken: the origin retransmits */
	}
	p->dpend = v;
	struct drop_pending *d = &v[p->n_dpend];
	*d = (struct drop_pending){ .to = from, .req = m->req, .since = now };
	if (paxos_bytes_dup(&d->key, m->key)) {
		p->oom = -ENOMEM;
		return;
	}
	p->n_dpend++;
	/*
	 * Authority (docs/design.md §4.4): the DROP only says when; what is
	 * dropped is what the voters chose under its key. A DROP whose record
	 * is not chosen here (yet) erases nothing.
	 */
	struct pkv_bytes bucket;
	if (!drop_record(p, d->key, &bucket))
		p->stats.drops_unproven++;
	drop_pending_try(p, d, now);
}

/* Proposes the drop's record under a fresh key of PKV_DROP_BUCKET. */
static void drop_propose(struct paxos *p, struct req *r, uint64_t now)
{
	uint8_t key[9];
	uint64_t nonce = splitmix(&p->rng);
	pkv_put_u64le(key, nonce);
	key[8] = (uint8_t)p->cfg.self;
	uint8_t rec[2 + PKV_MAX_BUCKET];
	uint32_t n = pkv_drop_encode(rec, p->cfg.self, r->bucket.p, r->bucket.len);
	paxos_bytes_free(&r->value);
	struct req *c = req_new(p, PAXOS_REQ_PUT, 0, drop_bucket_name(),
				(struct pkv_bytes){ key, sizeof(key) }, r->deadline, false);
	if (!c || paxos_bytes_dup(&r->value, (struct pkv_bytes){ key, sizeof(key) }) ||
	    paxos_bytes_dup(&c->value, (struct pkv_bytes){ rec, n })) {
		if (c)
			req_complete_status(p, c, PKV_S_NO_MEMORY);
		req_complete_status(p, r, PKV_S_NO_MEMORY);
		return;
	}
	c->has_value = true;
	c->no_forward = true;
	c->parent = r->rid;
	r->drop_child = c->rid;
	r->drop_child_done = false;
	r->t_timer = now + p->cfg.retransmit_us;
	proposer_dispatch(p, c, PAXOS_EV_START, 0, NULL, now);
}

/* The origin: the put of its record finished. */
static void drop_on_record(struct paxos *p, struct req *r, uint64_t now)
{
	r->drop_child_done = false;
	if (r->drop_child_st != PKV_S_OK) {
		req_complete_status(p, r, r->drop_child_st);
		return;
	}
	struct pkv_bytes bucket;
	if (!drop_record(p, r->value, &bucket) || !pkv_bytes_eq(bucket, r->bucket)) {
		drop_propose(p, r, now); /* another record under our key: a fresh one */
		return;
	}
	r->drop_decided = true;
	drop_send(p, r, now);
}

/* Acknowledges the drops whose erasures settled; runs the origin's checks. */
void drop_step(struct paxos *p, uint64_t now)
{
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->kind == PAXOS_REQ_DROP && r->state == PAXOS_ST_DROPPING &&
		    r->drop_child_done)
			drop_on_record(p, r, now);
	for (size_t i = 0; i < p->n_dpend; i++)
		drop_pending_try(p, &p->dpend[i], now);
	for (struct req *r = p->reqs; p->synced && r; r = r->next)
		if (r->kind == PAXOS_REQ_DROP && r->state == PAXOS_ST_DROPPING && r->drop_decided &&
		    !r->drop_applied) {
			r->drop_applied = true;
			drop_apply(p, r->bucket, now);
		}
	for (size_t i = 0; i < p->n_dpend;) {
		struct drop_pending *d = &p->dpend[i];
		/*
		 * A DROP whose record no read has found for a while is
		 * forgotten, like a lost datagram: a real origin sends it
		 * again, a forged one stops costing reads.
		 */
		if (!d->applied && !d->bucket.p && now >= d->since + 4 * p->cfg.ballot_life_us) {
			paxos_bytes_free(&d->key);
			*d = p->dpend[--p->n_dpend];
			continue;
		}
		if (!d->applied || !drop_settled(p, d->bucket)) {
			i++;
			continue;
		}
		drop_ack_send(p, d->to, d->req, d->key);
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
		paxos_bytes_free(&d->key);
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
	if (!bad && pkv_bucket_reserved(bucket.p, bucket.len))
		bad = PKV_S_BAD_REQUEST;
	if (bad) {
		req_complete_status(p, r, bad);
		return paxos_finish_call(p, now);
	}
	if (!paxos_has_quorum(p)) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return paxos_finish_call(p, now);
	}
	req_set_state(p, r, PAXOS_ST_DROPPING);
	drop_propose(p, r, now);
	return paxos_finish_call(p, now);
}
