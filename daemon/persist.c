// SPDX-License-Identifier: MIT
/*
 * persist.c — the durable acceptor log wired into the daemon (config
 * `durable`, durable.h for the file and its rules).
 *
 * At start the log in the state dir is replayed into paxos before the first
 * datagram is read, so the node answers at once with everything it promised
 * and accepted before it stopped, and its learner still knows what was
 * chosen. During a turn the store lists every entry whose persistent state
 * changed; at the end of the turn, before any reply leaves (datagrams to
 * peers, answers to local clients, values published to the cache),
 * persist_turn() appends those entries and fdatasyncs the log once. A
 * failed write stops the daemon without sending what depended on it.
 * A turn whose only changes are learned chosen values does not sync: those
 * records wait for the next sync, at most PERSIST_LAZY_US plus one turn
 * (the loop turns at least once a heartbeat interval), since a majority of
 * acceptors already holds each of them on disk.
 *
 * Values are written as paxos holds them: the client's value followed by its
 * bindings, in the pkv_bound encoding (msg.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "durable.h"
#include "paxos.h"
#include "persist.h"
#include "store.h"

struct persist {
	struct durable *log;
	uint8_t acc[DURABLE_MAX_VALUE], cho[DURABLE_MAX_VALUE]; /* encode scratch */
	size_t compact_cursor;
	struct store *store;
	bool lazy; /* appended records not synced yet */
	uint64_t last_sync_us;
};

/* Logs smaller than this are not worth a rewrite at start. */
#define PERSIST_START_COMPACT_MIN (64u << 10)

/* The longest a learned value waits in memory for a sync. */
#define PERSIST_LAZY_US 100000u

static int saved_from_rec(const struct durable_rec *r, struct paxos_saved *k)
{
	*k = (struct paxos_saved){
		.bucket = r->bucket,
		.key = r->key,
		.gen = r->gen,
		.max_round = r->max_round,
		.promised = r->promised,
		.has_accepted = r->has_accepted,
		.chosen = r->chosen,
		.accepted = r->accepted,
		.chosen_ballot = r->chosen_ballot,
	};
	if (r->has_accepted &&
	    pkv_bound_decode(r->accepted_value, &k->accepted_value, &k->accepted_bind) < 0)
		return -EBADMSG;
	if (r->chosen && pkv_bound_decode(r->chosen_value, &k->chosen_value, &k->chosen_bind) < 0)
		return -EBADMSG;
	return 0;
}

static int apply_rec(void *arg, const struct durable_rec *r)
{
	struct paxos_saved k;
	int e = saved_from_rec(r, &k);
	return e ? e : paxos_restore(arg, &k);
}

/* The record of one entry's state; value slots are encoded into p's scratch. */
static int rec_from_entry(struct persist *p, const struct store_entry *e, struct durable_rec *r)
{
	*r = (struct durable_rec){
		.bucket = store_bucket_name(e->bucket),
		.key = e->key,
		.gen = e->gen,
		.promised = e->promised,
		.has_accepted = e->has_accepted,
		.chosen = e->chosen,
		.max_round = e->max_round,
	};
	if (e->has_accepted) {
		size_t n = pkv_bound_encode(p->acc, sizeof(p->acc), e->accepted_value,
					    e->accepted_bind);
		if (!n)
			return -EINVAL;
		r->accepted = e->accepted;
		r->accepted_value = (struct pkv_bytes){p->acc, (uint32_t)n};
	}
	if (e->chosen) {
		size_t n = pkv_bound_encode(p->cho, sizeof(p->cho), e->chosen_value, e->chosen_bind);
		if (!n)
			return -EINVAL;
		r->chosen_ballot = e->chosen_ballot;
		r->chosen_value = (struct pkv_bytes){p->cho, (uint32_t)n};
	}
	return 0;
}

/* An entry worth keeping: it promised, holds a value, or remembers a round
 * or an ended generation. */
static bool entry_live(const struct store_entry *e)
{
	return e->gen > 1 || e->max_round || e->has_accepted || e->chosen ||
	       !pkv_ballot_is_zero(e->promised);
}

static int compact_next(void *arg, struct durable_rec *r)
{
	struct persist *p = arg;
	while (p->compact_cursor < store_nentries(p->store)) {
		const struct store_entry *e = store_entry_at(p->store, p->compact_cursor++);
		if (entry_live(e))
			return rec_from_entry(p, e, r) ? -EINVAL : 1;
	}
	return 0;
}

/* Rewrites the log from the store; on failure the old log stays in use. */
static void compact(struct daemon *d, struct persist *p)
{
	struct durable_stats before, after;
	durable_get_stats(p->log, &before);
	p->compact_cursor = 0;
	uint64_t t0 = daemon_now_us();
	int r = durable_compact(p->log, compact_next, p);
	if (r < 0) {
		daemon_err(d, "durable: compaction failed: %s", strerror(-r));
		return;
	}
	durable_get_stats(p->log, &after);
	daemon_info(d, "durable: log compacted from %" PRIu64 " to %" PRIu64 " bytes in %" PRIu64 " ms",
		   before.log_bytes, after.log_bytes, (daemon_now_us() - t0) / 1000u);
}

int persist_open(struct daemon *d, bool *restored)
{
	*restored = false;
	if (!d->cfg.durable)
		return 0;
	char dir[PATH_MAX], err[256] = "";
	int n = snprintf(dir, sizeof(dir), "%s", d->state_dir);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	struct persist *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = durable_open(&p->log, dir, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "pkvd: %s\n", err[0] ? err : strerror(-r));
		if (r == -EBADMSG)
			fprintf(stderr, "pkvd: move %s/%s aside to start without durable state "
					"(the node then copies it from a majority)\n",
				dir, DURABLE_LOG_NAME);
		free(p);
		return r;
	}
	struct durable_stats st;
	durable_get_stats(p->log, &st);
	/* A log made just now holds nothing: the node has no state to restore. */
	*restored = !st.created;
	d->persist = p;
	return 0;
}

int persist_replay(struct daemon *d, uint64_t now)
{
	struct persist *p = d->persist;
	if (!p)
		return 0;
	p->store = d->store; /* made after persist_open, which paxos_new needed */
	int r = durable_replay(p->log, apply_rec, d->paxos);
	if (r < 0) {
		fprintf(stderr, "pkvd: replaying %s/%s: %s\n", d->state_dir, DURABLE_LOG_NAME,
			strerror(-r));
		return r;
	}
	/* Ends found at restore (pid bindings of the old incarnation) are
	 * changes: tracking them now sends them to the log with the first turn. */
	store_track_dirty(d->store, true);
	paxos_restore_done(d->paxos, now);
	struct durable_stats st;
	durable_get_stats(p->log, &st);
	daemon_notice(d, "durable: %" PRIu64 " records replayed, %zu keys restored%s",
		   st.records_replayed, store_nentries(d->store),
		   st.torn_bytes ? " (a torn tail of the last write was dropped)" : "");
	/*
	 * A start is the cheap moment to compact: the whole log was just read.
	 * Past twice the live size (a key's promise, acceptance and choice are
	 * three records) it is rewritten, so replays stay proportional to the
	 * keys, not to the history.
	 */
	if (st.log_bytes > PERSIST_START_COMPACT_MIN && st.log_bytes > 2 * st.live_bytes)
		compact(d, p);
	return 0;
}

int persist_turn(struct daemon *d)
{
	struct persist *p = d->persist;
	if (!p)
		return 0;
	size_t n;
	bool urgent;
	struct store_entry *const *dirty = store_dirty(d->store, &n, &urgent);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct durable_rec rec;
		r = rec_from_entry(p, dirty[i], &rec);
		if (r == 0)
			r = durable_append(p->log, &rec);
	}
	store_dirty_reset(d->store);
	p->lazy = p->lazy || n;
	uint64_t now = daemon_now_us();
	if (r == 0 && p->lazy && (urgent || now - p->last_sync_us >= PERSIST_LAZY_US)) {
		r = durable_sync(p->log);
		p->lazy = false;
		p->last_sync_us = now;
	}
	if (r < 0) {
		daemon_err(d, "durable: cannot write the acceptor log: %s (%s); stopping, "
			      "nothing of this turn is sent",
			   durable_errmsg(p->log)[0] ? durable_errmsg(p->log) : "", strerror(-r));
		return r;
	}
	if (durable_should_compact(p->log))
		compact(d, p);
	return 0;
}

void persist_stats(const struct daemon *d, struct persist_stats *st)
{
	memset(st, 0, sizeof(*st));
	const struct persist *p = d->persist;
	if (!p)
		return;
	struct durable_stats ds;
	durable_get_stats(p->log, &ds);
	st->on = true;
	st->log_bytes = ds.log_bytes;
	st->syncs = ds.syncs;
	st->sync_ns = ds.sync_ns;
	st->records = ds.records_appended;
	st->compactions = ds.compactions;
}

void persist_close(struct daemon *d)
{
	struct persist *p = d->persist;
	if (!p)
		return;
	(void)durable_close(p->log);
	free(p);
	d->persist = NULL;
}

/*
 * The state file (STATE_DIR/state): the last incarnation, the cluster's
 * name and the configuration (docs/design.md §5, §6.1), written to a
 * temporary file, synced and renamed over the old one.
 */
int persist_state_write(const struct daemon *d)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/state", d->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "incarnation %" PRIu64 "\ncluster %s\n", d->incarnation, d->cfg.cluster);
	if (d->conf.voters)
		fprintf(f, "conf %" PRIu64 " %" PRIx64 " %" PRIx64 "\n", d->conf.num, d->conf.voters,
			d->conf.prev_voters);
	int r = 0;
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	return r;
}
