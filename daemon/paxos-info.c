// SPDX-License-Identifier: MIT
/*
 * paxos-info.c — key inspection (docs/design.md §8.6): what each daemon's
 * acceptor promised and accepted for a key, and what its learner holds.
 * Read-only: an INFO_REQ changes no state anywhere, and an INFO_REPLY only
 * goes to the output list the I/O shell drains (paxos_info_replies); the
 * messages travel in authenticated datagrams like every other.
 *
 * Message use (msg.h):
 *   INFO_REQ    bucket, key, req
 *   INFO_REPLY  bucket, key, req, gen, arg0 = PAXOS_INFO_ACCEPTOR with
 *               ballot = promised, accepted = ballot of the accepted value;
 *               arg0 = PAXOS_INFO_LEARNER with accepted = the chosen
 *               ballot. value: that value (bound as usual); flags:
 *               PKV_MF_HAS_VALUE, PKV_MF_SYNCED (the acceptor answers),
 *               PKV_MF_OK (the sender is a voter)
 */
#include "paxos-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int paxos_info_request(struct paxos *p, uint64_t id, struct pkv_bytes bucket,
		       struct pkv_bytes key, uint64_t now)
{
	struct pkv_msg m = {.type = PKV_MSG_INFO_REQ, .bucket = bucket, .key = key, .req = id};
	p->oom = 0;
	paxos_send(p, PKV_TO_ALL, &m);
	int r = p->oom;
	paxos_finish_call(p, now);
	return r;
}

void info_on_req(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	const struct store_entry *e = store_lookup(p->store, m->bucket, m->key, false);
	uint8_t common = (uint8_t)((p->synced ? PKV_MF_SYNCED : 0) |
				   (is_voter(p, p->cfg.self) ? PKV_MF_OK : 0));
	struct pkv_msg a = {
	    .type = PKV_MSG_INFO_REPLY,
	    .bucket = m->bucket,
	    .key = m->key,
	    .req = m->req,
	    .gen = e ? e->gen : 0,
	    .arg0 = PAXOS_INFO_ACCEPTOR,
	    .flags = common,
	};
	if (e) {
		a.ballot = e->promised;
		if (e->has_accepted) {
			a.accepted = e->accepted;
			a.flags |= PKV_MF_HAS_VALUE;
			paxos_msg_value(p, &a, e->accepted_value, e->accepted_bind);
		}
	}
	paxos_send(p, from, &a);
	struct pkv_msg l = a;
	l.arg0 = PAXOS_INFO_LEARNER;
	l.flags = common;
	l.ballot = (struct pkv_ballot){0};
	l.accepted = (struct pkv_ballot){0};
	l.value = (struct pkv_bytes){0};
	if (e && e->chosen) {
		l.accepted = e->chosen_ballot;
		l.flags |= PKV_MF_HAS_VALUE;
		paxos_msg_value(p, &l, e->chosen_value, e->chosen_bind);
	}
	paxos_send(p, from, &l);
}

void info_on_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	if (m->arg0 != PAXOS_INFO_ACCEPTOR && m->arg0 != PAXOS_INFO_LEARNER)
		return;
	struct paxos_info_rec *v =
	    paxos_grow(p->info, &p->cap_info, p->n_info, sizeof(*p->info));
	if (!v)
		return; /* lost like a datagram: the asker times out on it */
	p->info = v;
	struct paxos_info_rec *r = &p->info[p->n_info];
	memset(r, 0, sizeof(*r));
	if (m->value.len && paxos_bytes_dup(&r->value, m->value))
		return;
	r->id = m->req;
	r->node = from;
	r->kind = (unsigned)m->arg0;
	r->gen = m->gen;
	r->promised = m->ballot;
	r->ballot = m->accepted;
	r->has_value = (m->flags & PKV_MF_HAS_VALUE) != 0;
	r->synced = (m->flags & PKV_MF_SYNCED) != 0;
	r->voter = (m->flags & PKV_MF_OK) != 0;
	r->bind_mask = p->rx_bind.mask;
	p->n_info++;
}

const struct paxos_info_rec *paxos_info_replies(const struct paxos *p, size_t *n)
{
	*n = p->n_info;
	return p->info;
}

void paxos_info_reset(struct paxos *p)
{
	for (size_t i = 0; i < p->n_info; i++)
		paxos_bytes_free(&p->info[i].value);
	p->n_info = 0;
}

void info_free(struct paxos *p)
{
	paxos_info_reset(p);
	free(p->info);
	p->info = NULL;
	p->cap_info = 0;
}
