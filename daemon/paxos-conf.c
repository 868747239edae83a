// SPDX-License-Identifier: MIT
/*
 * paxos-conf.c — configurations (docs/design.md §5): moving to a newer
 * configuration, learned from the reserved bucket or heard of in a peer's
 * heartbeat (the acceptor answers only the newer one from then on, and a
 * voter of it catches up before it answers); the reserved bucket's key of
 * each configuration; a change of the voters, one at a time, as a classic
 * put into that bucket. Why a change keeps agreement: docs/design.md §5.
 */
#include "paxos-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* ---- configurations (docs/design.md §5) -------------------------------- */

/*
 * Moving to a newer configuration: from now on this daemon's acceptor
 * answers only its messages (the old one is frozen here), and a voter of
 * the new one answers nothing until it has copied the acceptor state of a
 * majority of the frozen voters of the one before (sync_step, catch-up).
 * Requests start again in the new configuration.
 */
void paxos_conf_move(struct paxos *p, const struct pkv_conf *c, uint64_t now)
{
	if (c->num <= p->conf || !c->voters)
		return;
	p->conf = c->num;
	p->voters = c->voters;
	p->prev_voters = c->prev_voters;
	paxos_update_voters(p);
	p->stats.conf_changes++;
	for (uint32_t n = 1; n <= PKV_MAX_NODES; n++)
		sync_peer_reset(&p->peers[n]);
	if (is_voter(p, p->cfg.self) && !PKV_PAXOS_BROKEN_CATCHUP) {
		p->synced = false;
		p->catchup = true;
		p->unsynced_since = 0;
	} else if (!p->state_lost) {
		/* Not a voter (or TEST ONLY: no catch-up): nothing to copy. */
		p->synced = true;
		p->catchup = false;
	}
	paxos_push_event(p, PAXOS_E_CONF, p->conf, "paxos: moved to a new configuration");
	for (struct req *r = p->reqs; r; r = r->next)
		proposer_dispatch(p, r, PAXOS_EV_NEW_CONF, 0, NULL, now);
	sync_step(p, now);
}

/* The reserved bucket's key of configuration n: n in decimal, chosen in n - 1. */
static struct pkv_bytes conf_key(char buf[24], uint64_t n)
{
	int len = snprintf(buf, 24, "%" PRIu64, n);
	return (struct pkv_bytes){ (const uint8_t *)buf, (uint32_t)len };
}

void paxos_conf_learned(struct paxos *p, struct store_entry *e, uint64_t now)
{
	struct pkv_conf c;
	if (!e->chosen || !pkv_conf_decode(e->chosen_value.p, e->chosen_value.len, &c))
		return;
	char buf[24];
	if (!pkv_bytes_eq(conf_key(buf, c.num), e->key))
		return; /* not the configuration its key names */
	paxos_conf_move(p, &c, now);
}

void paxos_peer_conf(struct paxos *p, uint32_t node, const struct pkv_conf *c, uint64_t now)
{
	if (!paxos_peer_ok(p, node) || !c->voters)
		return;
	struct peer *pe = &p->peers[node];
	bool news = pe->conf.num != c->num;
	pe->conf = *c;
	/* Every heartbeat says it again; paxos_peer_update did the rest then. */
	if (!news)
		return;
	/* A newer configuration was chosen: a peer that moved to it says so. */
	if (c->num > p->conf)
		paxos_conf_move(p, c, now);
	sync_step(p, now);
	paxos_kick_waiting(p, now);
	paxos_finish_call(p, now);
}

struct pkv_conf paxos_conf(const struct paxos *p)
{
	return (struct pkv_conf){ .num = p->conf, .voters = p->voters,
				  .prev_voters = p->prev_voters };
}

int paxos_change_voters(struct paxos *p, uint64_t id, uint64_t voters, uint64_t deadline,
			uint64_t now)
{
	struct pkv_conf c = { .num = p->conf + 1, .voters = voters, .prev_voters = p->voters };
	char key[24];
	uint8_t val[PKV_CONF_BYTES];
	pkv_conf_encode(val, &c);
	struct pkv_bytes bucket = { (const uint8_t *)PKV_CONF_BUCKET, PKV_CONF_BUCKET_LEN };
	struct req *r = req_new(p, PAXOS_REQ_PUT, id, bucket, conf_key(key, c.num), deadline, false);
	if (!r)
		return -ENOMEM;
	uint64_t diff = voters ^ p->voters;
	/* One voter added or removed, among the configured nodes. */
	if (popcount(diff) != 1 || !voters ||
	    (voters & ~(p->configured_mask | self_bit(p)))) {
		req_complete_status(p, r, PKV_S_BAD_REQUEST);
		return paxos_finish_call(p, now);
	}
	if (paxos_bytes_dup(&r->value, (struct pkv_bytes){ val, sizeof(val) })) {
		req_complete_status(p, r, PKV_S_NO_MEMORY);
		paxos_finish_call(p, now);
		return -ENOMEM;
	}
	r->has_value = true;
	r->no_forward = true;
	r->tried_fast = true; /* a classic round: fast rounds never decide a change */
	if (!paxos_has_quorum(p)) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return paxos_finish_call(p, now);
	}
	struct store_entry *e = store_lookup(p->store, bucket, r->key, false);
	if (e && e->chosen) {
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return paxos_finish_call(p, now);
	}
	proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
	return paxos_finish_call(p, now);
}
