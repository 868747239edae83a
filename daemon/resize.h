/* SPDX-License-Identifier: MIT */
/*
 * resize.h — resize_cluster: the voters changed one at a time, each change
 * a configuration the voters choose (resize.c, docs/design.md §5).
 *
 * The loop owns a struct resize, registers its hooks with resize_init, and
 * calls in: resize_start for a request of the control socket,
 * resize_on_completion for every completion of the core (true: it was a
 * step of a resize), resize_tick every turn, resize_forget_conn when the
 * connection that asked goes away.
 */
#ifndef PKV_RESIZE_H
#define PKV_RESIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "msg.h"

struct daemon;
struct ctl_conn;
struct resize_op;

struct resize_hooks {
	/* A resize this node ran has finished: answer the connection that
	 * asked (never called for a connection forgotten). */
	void (*done)(struct daemon *d, struct ctl_conn *c, int status);
};

struct resize {
	const struct resize_hooks *hooks;
	struct resize_op *ops; /* resize_cluster requests this node runs */
};

struct paxos_completion;

void resize_init(struct resize *r, const struct resize_hooks *h);
/* Starts a resize to n voters asked by connection c; 0, or a status to
 * answer at once (PKV_S_BAD_REQUEST, PKV_S_NO_MEMORY). */
int resize_start(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now);
/* A completion of the core; true when it belonged to a resize step. */
bool resize_on_completion(struct daemon *d, const struct paxos_completion *pc, uint64_t now);
/* Steps and time-outs; returns the next time it wants a turn. */
uint64_t resize_tick(struct daemon *d, uint64_t now);
void resize_forget_conn(struct daemon *d, struct ctl_conn *c);

#endif
