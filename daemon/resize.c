// SPDX-License-Identifier: MIT
/*
 * resize.c — resize_cluster: changes the voters to n, one voter at a time,
 * each change decided by the voters as a configuration (docs/design.md §5).
 *
 * A step adds the lowest configured node that is not a voter, or removes the
 * highest voter; the core proposes it as the next configuration to the
 * current voters (paxos_change_voters), and every daemon that learns it
 * moves on and catches up. Steps follow one another until the voters are n.
 * The caller is answered ok once every voter of the last configuration and
 * of the one before that is connected says (in its heartbeats) that it has
 * the last one and, if it votes, has caught up; not_in_sync when that does
 * not happen in time (a voter was down or cut off: the change is made, it
 * will learn it when it comes back) or another change was chosen first;
 * no_quorum or timeout when a step could not be decided.
 *
 * The loop owns the state (struct resize) and calls in; what follows from
 * a change outside this module (the new view for local clients, the answer
 * on the control socket) goes out through the hooks the loop registered.
 */
#include "resize.h"

#include "daemon.h"

#include <errno.h>
#include <stdlib.h>

#include "paxos.h"

#define RESIZE_TIMEOUT_US 10000000u
#define CONFIRM_POLL_US 50000u

struct resize_op {
	struct resize_op *next;
	struct ctl_conn *conn; /* NULL once the caller went away */
	uint32_t target;
	uint64_t change_id;    /* the step in flight in the core; 0: none */
	uint64_t want;	       /* its voters */
	uint64_t deadline;
};

void resize_init(struct resize *r, const struct resize_hooks *h)
{
	r->hooks = h;
}

static void finish(struct daemon *d, struct resize_op *op, int status)
{
	for (struct resize_op **pp = &d->resize.ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	if (op->conn)
		d->resize.hooks->done(d, op->conn, status);
	daemon_notice(d, "resize to %u: %s", op->target,
		   status == PKV_S_OK		 ? "ok"
		   : status == PKV_S_NOT_IN_SYNC ? "not_in_sync"
		   : status == PKV_S_NO_QUORUM	 ? "no quorum"
						 : "timed out");
	free(op);
}

static uint64_t configured_mask(const struct daemon *d)
{
	uint64_t m = 0;
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		m |= UINT64_C(1) << (d->cfg.nodes[i].id - 1);
	return m;
}

/*
 * One step toward n voters: the lowest non-voter in — one not marked
 * `observer` first, an observer only when no other is left (promoting it,
 * docs/design.md §5.2) — or the highest voter out.
 */
static uint64_t next_voters(const struct daemon *d, uint64_t voters, uint32_t n)
{
	if ((uint32_t)__builtin_popcountll(voters) < n) {
		uint64_t free_ids = configured_mask(d) & ~voters;
		uint64_t plain = free_ids & ~config_observer_mask(&d->cfg);
		if (plain)
			free_ids = plain;
		return voters | (free_ids & (~free_ids + 1));
	}
	return voters & ~(UINT64_C(1) << (63 - __builtin_clzll(voters)));
}

/*
 * Every voter of the configuration and of the one before it, self aside,
 * is connected and announces it; the voters among them caught up.
 */
static bool all_confirmed(const struct daemon *d, const struct pkv_conf *c)
{
	if (!paxos_synced(d->paxos) && (c->voters >> (d->self - 1)) & 1u)
		return false;
	uint64_t who = (c->voters | c->prev_voters) & ~(UINT64_C(1) << (d->self - 1));
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!((who >> (id - 1)) & 1u))
			continue;
		const struct membership_peer *p = membership_peer(&d->mem, id);
		if (!p || !p->connected || p->conf.num < c->num)
			return false;
		if (p->conf.num == c->num && ((c->voters >> (id - 1)) & 1u) && !p->synced)
			return false;
	}
	return true;
}

static void step(struct daemon *d, struct resize_op *op, uint64_t now)
{
	struct pkv_conf c = paxos_conf(d->paxos);
	if ((uint32_t)__builtin_popcountll(c.voters) == op->target) {
		if (all_confirmed(d, &c))
			finish(d, op, PKV_S_OK);
		return; /* resize_tick polls until the deadline */
	}
	/* The change before must be in place here first: a majority caught up. */
	if (!paxos_synced(d->paxos) && ((c.voters >> (d->self - 1)) & 1u))
		return;
	op->want = next_voters(d, c.voters, op->target);
	op->change_id = ++d->next_req;
	daemon_info(d, "resize: proposing configuration %llu (%u voters)",
		   (unsigned long long)c.num + 1, (unsigned)__builtin_popcountll(op->want));
	if (paxos_change_voters(d->paxos, op->change_id, op->want, op->deadline, now) < 0)
		finish(d, op, PKV_S_NO_MEMORY);
}

int resize_start(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now)
{
	if (n < 1 || n > d->cfg.n_nodes)
		return PKV_S_BAD_REQUEST;
	struct resize_op *op = calloc(1, sizeof(*op));
	if (!op)
		return PKV_S_NO_MEMORY;
	op->conn = c;
	op->target = n;
	op->deadline = now + RESIZE_TIMEOUT_US;
	op->next = d->resize.ops;
	d->resize.ops = op;
	step(d, op, now);
	return 0;
}

bool resize_on_completion(struct daemon *d, const struct paxos_completion *pc, uint64_t now)
{
	for (struct resize_op *op = d->resize.ops; op; op = op->next) {
		if (op->change_id == 0 || op->change_id != pc->id)
			continue;
		op->change_id = 0;
		struct pkv_conf got;
		if (pc->status != PKV_S_OK) {
			finish(d, op, pc->status == PKV_S_BAD_REQUEST ? PKV_S_BAD_REQUEST
				      : pc->status == PKV_S_NO_QUORUM ? PKV_S_NO_QUORUM
									: PKV_S_TIMEOUT);
		} else if (!pkv_conf_decode(pc->value.p, pc->value.len, &got) ||
			   got.voters != op->want) {
			daemon_warn(d, "resize: another change of the voters was chosen first");
			finish(d, op, PKV_S_NOT_IN_SYNC);
		} else {
			step(d, op, now);
		}
		return true;
	}
	return false;
}

uint64_t resize_tick(struct daemon *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct resize_op *op = d->resize.ops;
	while (op) {
		struct resize_op *after = op->next;
		if (now >= op->deadline && op->change_id == 0) {
			struct pkv_conf c = paxos_conf(d->paxos);
			bool there = (uint32_t)__builtin_popcountll(c.voters) == op->target;
			finish(d, op, there ? PKV_S_NOT_IN_SYNC : PKV_S_TIMEOUT);
		} else {
			if (op->change_id == 0)
				step(d, op, now);
			if (now + CONFIRM_POLL_US < next)
				next = now + CONFIRM_POLL_US;
		}
		op = after;
	}
	return next;
}

void resize_forget_conn(struct daemon *d, struct ctl_conn *c)
{
	for (struct resize_op *op = d->resize.ops; op; op = op->next)
		if (op->conn == c)
			op->conn = NULL;
}
