/* SPDX-License-Identifier: MIT */
/*
 * persist.h — the daemon's durable acceptor state (config `durable`); see
 * persist.c for the wiring and durable.h for the log.
 */
#ifndef PKV_PERSIST_H
#define PKV_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

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
 * Writes and syncs what changed in this turn. Call before anything of the
 * turn is sent; on failure (logged) nothing of the turn may be sent.
 */
int persist_turn(struct daemon *d);
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
