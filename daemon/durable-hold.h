/* SPDX-License-Identifier: MIT */
/*
 * durable-hold.h — what a loop turn produced that must wait for the durable
 * log (docs/design.md §6.3): the datagrams, the client answers and the
 * values to publish into the cache, each held until the batch of the log
 * its turn depends on is on disk, and the ends of lifetimes the turn made
 * (a value taken out of the cache must not come back after a crash).
 *
 * A batch of the log is named by a ticket: 1, 2, … in the order the batches
 * are written (persist.c hands them out). What depends on ticket t leaves
 * once every batch up to t is durable. Everything held is copied, so the
 * core's outbox, completions and learned list can be reset at the end of
 * the turn as usual. Pure data: no I/O; one holder, one thread.
 */
#ifndef PKV_DURABLE_HOLD_H
#define PKV_DURABLE_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "paxos.h"

/* A learned value to publish: looked up again in the store at release. */
struct hold_learned {
	struct pkv_bytes bucket, key; /* owned by the batch */
	uint64_t gen;
};

struct hold_batch {
	uint64_t ticket;
	struct pkv_outbox ob;
	struct paxos_completion *done; /* value, bind.key, keys: owned copies */
	size_t n_done, cap_done;
	struct hold_learned *learned;
	size_t n_learned, cap_learned;
	struct hold_learned *erased; /* generations ended: out of the cache */
	size_t n_erased, cap_erased;
	/* HOLD_PRIOR messages, each with the time it was held: one held too
	 * long is dropped at release (durable_hold_prior) */
	struct pkv_outbox prior;
	uint64_t *prior_at;
	size_t cap_prior_at;
};

struct durable_hold {
	struct hold_batch *b; /* sorted by ticket, one batch per ticket */
	size_t n, cap;
	uint64_t held_msgs, held_done; /* counters: ever held */
};

void durable_hold_init(struct durable_hold *h);
void durable_hold_free(struct durable_hold *h);

/* Each returns 0 or -ENOMEM (nothing held then). ticket > 0. */
int durable_hold_msg(struct durable_hold *h, uint64_t ticket, const struct pkv_out *o);
int durable_hold_completion(struct durable_hold *h, uint64_t ticket,
			    const struct paxos_completion *c);
int durable_hold_learned(struct durable_hold *h, uint64_t ticket, struct pkv_bytes bucket,
			 struct pkv_bytes key, uint64_t gen);

/*
 * A HOLD_PRIOR message (a classic ACCEPT) held at `now`: the releaser sends
 * it only while now − held ≤ its bound, else drops it (its ballot's messages
 * must not outlive the ballot: docs/design.md §6.3).
 */
int durable_hold_prior(struct durable_hold *h, uint64_t ticket, const struct pkv_out *o,
		       uint64_t now);

/* An ended generation, to take out of the cache (and tell subscribers). */
int durable_hold_erased(struct durable_hold *h, uint64_t ticket, struct pkv_bytes bucket,
			struct pkv_bytes key, uint64_t gen);

/* The oldest batch when its ticket is at most `durable`, else NULL. */
struct hold_batch *durable_hold_due(struct durable_hold *h, uint64_t durable);
/* Frees the oldest batch (after its contents went out). */
void durable_hold_pop(struct durable_hold *h);
static inline bool durable_hold_empty(const struct durable_hold *h)
{
	return h->n == 0;
}

/*
 * How a message depends on the durable log (docs/design.md §6.3):
 *  HOLD_NONE  — reveals no acceptor state and names no ballot this node must
 *               never reuse: a heartbeat, PREPARE, QUERY, KEYS_REQ, SYNC_REQ,
 *               FORWARD, and an ACCEPT at a fast ballot;
 *  HOLD_PRIOR — an ACCEPT at a classic ballot: the proposer's own promise
 *               and highest round of that ballot, recorded in an earlier turn
 *               (the turn that sent its PREPARE), must be on disk; it is held
 *               a bounded time for them (durable_hold_prior), then dropped,
 *               and the proposer resends it;
 *  HOLD_ALL   — everything else: it may reveal state recorded in this very
 *               turn (a PROMISE, an ACCEPTED, a NACK, a QUERY_REPLY, …) or
 *               follow from a vote of this node's own acceptor (a CHOSEN).
 */
enum hold_dep { HOLD_NONE, HOLD_PRIOR, HOLD_ALL };
enum hold_dep durable_hold_dep(const struct pkv_msg *m);

#endif
