// SPDX-License-Identifier: MIT
/*
 * resize.c — resize_cluster: sets cluster_size on this node and on every
 * connected peer, and says whether they agreed on the size before.
 *
 * The node that runs the resize sets its own size, sends RESIZE to each
 * connected peer (retransmitted every RETX_US until acknowledged) and
 * answers its caller once every one of them acknowledged: ok when each had
 * the same size as this node before and every voter of the old and of the
 * new size took part, not_in_sync when any had another size or a voter was
 * not connected to take the change (the connected ones have the new size
 * either way), timeout when one did not answer in time.
 *
 * The voters change one at a time (docs/design.md §5): a size that is not
 * the current one plus or minus one is refused (bad_request), since only a
 * single step keeps every majority of the old voters meeting every
 * majority of the new ones. A receiver applies the size and acknowledges with the size it had;
 * it remembers the last resize of each sender, so a retransmitted RESIZE
 * is acknowledged with the same previous size as the first.
 *
 * The loop owns the state (struct resize) and calls in; what follows from
 * a resize outside this module (the new view for local clients, the answer
 * on the control socket) goes out through the hooks the loop registered.
 */
#include "resize.h"

#include "daemon.h"

#include <errno.h>
#include <stdlib.h>

#include "paxos.h"

#define RETX_US 100000u
#define RESIZE_TIMEOUT_US 5000000u

struct resize_op {
	struct resize_op *next;
	struct ctl_conn *conn; /* NULL once the caller went away */
	uint64_t req;
	uint32_t size, prev;
	uint64_t waiting; /* peers (bit id-1) still to acknowledge */
	bool disagree; /* a peer had another size, or a voter missed the change */
	uint64_t deadline, next_retx;
};

void resize_init(struct resize *r, const struct resize_hooks *h)
{
	r->hooks = h;
}

static void set_size(struct daemon *d, uint32_t n, uint64_t now)
{
	if (n == d->mem.cluster_size)
		return;
	daemon_log(d, "cluster_size %u -> %u", d->mem.cluster_size, n);
	membership_set_cluster_size(&d->mem, n);
	paxos_set_cluster_size(d->paxos, n, now);
	d->cfg.cluster_size = n;
	d->resize.hooks->size_changed(d);
}

static void send_resize(struct daemon *d, struct resize_op *op)
{
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!(op->waiting & (1ull << (id - 1))))
			continue;
		struct pkv_msg m = {
			.type = PKV_MSG_RESIZE,
			.req = op->req,
			.arg0 = op->size,
			.arg1 = op->prev,
		};
		pkv_outbox_push(&d->ob, id, &m);
	}
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
	daemon_log(d, "resize to %u: %s", op->size,
		   status == PKV_S_OK ? "ok"
		   : status == PKV_S_NOT_IN_SYNC ? "not_in_sync"
						 : "timed out");
	free(op);
}

int resize_start(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now)
{
	if (n < 1 || n > PKV_MAX_NODES)
		return PKV_S_BAD_REQUEST;
	uint32_t cur = d->mem.cluster_size;
	if (n + 1 < cur || n > cur + 1) {
		daemon_log(d, "resize to %u refused: the voters change one at a time (%u -> %u, then on)",
			   n, cur, n < cur ? cur - 1 : cur + 1);
		return PKV_S_BAD_REQUEST;
	}
	struct resize_op *op = calloc(1, sizeof(*op));
	if (!op)
		return PKV_S_NO_MEMORY;
	op->conn = c;
	op->req = ++d->next_req;
	op->size = n;
	op->prev = d->mem.cluster_size;
	op->waiting = membership_connected_mask(&d->mem) & ~(1ull << (d->self - 1));
	uint64_t old_voters = membership_voters(&d->mem);
	op->next_retx = now + RETX_US;
	op->next = d->resize.ops;
	d->resize.ops = op;
	set_size(d, n, now);
	/* A voter, old or new, that is not here to take the change missed it. */
	uint64_t missed = (old_voters | membership_voters(&d->mem)) &
			  ~membership_connected_mask(&d->mem);
	if (missed) {
		op->disagree = true;
		daemon_log(d, "resize to %u: a voter is not connected and misses the change", n);
	}
	op->deadline = now + RESIZE_TIMEOUT_US;
	if (!op->waiting)
		finish(d, op, op->disagree ? PKV_S_NOT_IN_SYNC : PKV_S_OK);
	else
		send_resize(d, op);
	return 0;
}

void resize_on_message(struct daemon *d, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	if (from < 1 || from > PKV_MAX_NODES)
		return;
	if (m->type == PKV_MSG_RESIZE) {
		if (m->arg0 < 1 || m->arg0 > PKV_MAX_NODES)
			return;
		if (d->resize.applied[from].req != m->req) {
			d->resize.applied[from].req = m->req;
			d->resize.applied[from].prev = d->mem.cluster_size;
			set_size(d, (uint32_t)m->arg0, now);
		}
		struct pkv_msg ack = {
			.type = PKV_MSG_RESIZE_ACK,
			.req = m->req,
			.arg0 = d->mem.cluster_size,
			.arg1 = d->resize.applied[from].prev,
		};
		pkv_outbox_push(&d->ob, from, &ack);
		return;
	}
	for (struct resize_op *op = d->resize.ops; op; op = op->next) {
		if (op->req != m->req)
			continue;
		uint64_t bit = 1ull << (from - 1);
		if (!(op->waiting & bit))
			return;
		op->waiting &= ~bit;
		if (m->arg1 != op->prev)
			op->disagree = true;
		if (!op->waiting)
			finish(d, op, op->disagree ? PKV_S_NOT_IN_SYNC : PKV_S_OK);
		return;
	}
}

uint64_t resize_tick(struct daemon *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct resize_op *op = d->resize.ops;
	while (op) {
		struct resize_op *after = op->next;
		if (now >= op->deadline) {
			finish(d, op, PKV_S_TIMEOUT);
		} else {
			if (now >= op->next_retx) {
				send_resize(d, op);
				op->next_retx = now + RETX_US;
			}
			if (op->next_retx < next)
				next = op->next_retx;
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
