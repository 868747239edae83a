/* SPDX-License-Identifier: MIT */
/*
 * persist.h — the daemon's durable acceptor state (config `durable`); see
 * persist.c for the wiring and durable.h for the log.
 */
#ifndef PKV_PERSIST_H
#define PKV_PERSIST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;

/*
 * Opens the log when the config asks for it (else does nothing). *restored
 * tells whether the log held state from an earlier run: then the node starts
 * synced instead of copying state from a majority. Call before paxos_new;
 * on error a message has been printed.
 */
int persist_open(struct daemon *d, bool *restored);
/* Replays the log into d->paxos and starts tracking changes. */
int persist_replay(struct daemon *d, uint64_t now);
/*
 * Appends what changed in this turn to the log's pending batch. *need_all
 * is the ticket of the batch that this turn's replies depend on (HOLD_ALL),
 * *need_prior the one that the turn's classic ACCEPTs depend on (HOLD_PRIOR:
 * records of earlier turns); 0 with the log off. What depends on ticket t
 * leaves once persist_durable_ticket() >= t. On failure (logged) nothing of
 * the turn may be sent.
 */
int persist_turn(struct daemon *d, uint64_t *need_all, uint64_t *need_prior);
/* A batch to write at off and fdatasync, through the loop's ring. */
struct persist_batch {
	int fd;
	const uint8_t *buf;
	size_t len;
	uint64_t off;
};
/*
 * Hands out the pending batch when one is due (a reply waits for it, or
 * learned values waited long enough) and none is in flight: 1 and *b, 0
 * when nothing is to be written, -errno (logged) on a broken log.
 */
int persist_sync_start(struct daemon *d, struct persist_batch *b);
/* The batch's write and fdatasync results; 0, or -errno (logged): stop. */
int persist_sync_done(struct daemon *d, ssize_t wres, int fres, uint64_t *sync_ns);
/* Every batch up to this ticket is on disk. */
uint64_t persist_durable_ticket(const struct daemon *d);
void persist_close(struct daemon *d);
/*
 * Writes the state file: incarnation, cluster name, configuration (d->conf).
 * Returns 0 or -errno; the old file stays on failure.
 */
int persist_state_write(const struct daemon *d);
/*
 * The hand-over file (STATE_DIR/handover, docs/design.md §6.2): the
 * incarnation the pid bindings are made under, the boot, and when the
 * daemon was last alive. persist_handover_take decides d->bind_inc at
 * start — the previous one when it stopped less than restart_grace_ms ago
 * in this boot, else the new incarnation — and writes the file. Call after
 * the incarnation is known. Returns 0 or -errno.
 */
int persist_handover_take(struct daemon *d);
/* Marks the daemon alive now (at most every heartbeat / 2 unless final;
 * final: a clean stop). */
void persist_handover_stamp(struct daemon *d, uint64_t now_us, bool final);

struct persist_stats {
	bool on;
	uint64_t log_bytes, records, syncs, sync_ns, compactions;
};
void persist_stats(const struct daemon *d, struct persist_stats *st);

#endif
