/* SPDX-License-Identifier: MIT */
/*
 * loop-internal.h — what the files of the loop share. Only daemon/loop*.c
 * include it; the rest of the daemon uses daemon.h.
 *
 * The files:
 *   loop.c          the loop turn: timers, membership, completions, the
 *                   outbox sealed into datagrams, init and teardown
 *   loop-reload.c   SIGHUP: the configuration reread between two turns
 *   loop-durable.c  the end of a turn: what waits for the durable log is
 *                   held and released (docs/design.md §6.3); the log's
 *                   write and fdatasync
 */
#ifndef PKV_LOOP_INTERNAL_H
#define PKV_LOOP_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct paxos_completion;
struct pkv_outbox;

/* How long a classic ACCEPT may wait for the proposer's own records. */
#define LOOP_PRIOR_HOLD_US 100000u

/* ---- loop.c ------------------------------------------------------------- */

/* A completion goes to whoever asked: a drop, a resize, or a ring client. */
void complete_one(struct daemon *d, const struct paxos_completion *c);
/* The turn's outputs of paxos; hold: the log batch they wait for (0: none). */
void drain_paxos(struct daemon *d, uint64_t hold);
/* Every message of ob, to each peer in as few datagrams as fit. */
void send_outbox(struct daemon *d, const struct pkv_outbox *ob);

/* ---- loop-durable.c ----------------------------------------------------- */

/* The end of a turn (docs/design.md §6.3). */
void flush(struct daemon *d);
/* net.h's file_synced: a batch's write and fdatasync finished. */
void on_file_synced(void *ctx, ssize_t wres, int fres);

#endif
