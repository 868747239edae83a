// SPDX-License-Identifier: MIT
/*
 * persist.c — the durable acceptor log wired into the daemon (config
 * `durable`, durable.h for the file and its rules).
 *
 * At start the log in the state dir is replayed into paxos before the first
 * datagram is read, so the node answers at once with everything it promised
 * and accepted before it stopped, and its learner still knows what was
 * chosen. During a turn the store lists every entry whose persistent state
 * changed; at the end of the turn persist_turn() appends those entries to
 * the pending batch and says which batch (ticket) the turn's replies depend
 * on; the loop holds those replies (durable-hold.h) and writes the batch
 * with persist_sync_start() through io_uring, one batch in flight at a
 * time: what is appended meanwhile goes into the next (group commit). A
 * failed write stops the daemon without sending what depended on it.
 * A turn whose only changes are learned chosen values starts no sync: those
 * records wait for the next sync, at most PERSIST_LAZY_US plus one turn
 * (the loop turns at least once a heartbeat interval), since a majority of
 * acceptors already holds each of them on disk (docs/design.md §6.3).
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
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
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
	/*
	 * Batches of the log by ticket (durable-hold.h): the pending one is
	 * ticket_next; every one up to ticket_done is on disk; ticket_flight
	 * is being written (0: none); ticket_urgent is the latest batch that
	 * holds a record a reply depends on, pending_urgent when that is the
	 * pending one.
	 */
	uint64_t ticket_next, ticket_done, ticket_flight, ticket_urgent;
	bool pending_urgent;
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
	while (p->compact_cursor < store_nslots(p->store)) {
		const struct store_entry *e = store_entry_at(p->store, p->compact_cursor++);
		if (e && entry_live(e))
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
	p->ticket_next = 1;
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

int persist_turn(struct daemon *d, uint64_t *need_all, uint64_t *need_prior)
{
	struct persist *p = d->persist;
	*need_all = *need_prior = 0;
	if (!p)
		return 0;
	*need_prior = p->ticket_urgent;
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
	/*
	 * A learned value bound to one of our processes is synced now, not
	 * lazily: a restart within the grace takes back (and checks) only
	 * the bindings its log holds as chosen (docs/design.md §6.2).
	 */
	for (size_t i = 0; i < n && !urgent; i++) {
		const struct store_entry *e = dirty[i];
		urgent = e->chosen && (e->chosen_bind->mask & PKV_BIND_PID) &&
			 e->chosen_bind->owner == d->self;
	}
	store_dirty_reset(d->store);
	p->lazy = p->lazy || n;
	if (urgent && n) {
		/* This turn's replies depend on the pending batch. */
		p->ticket_urgent = p->ticket_next;
		p->pending_urgent = true;
	}
	*need_all = p->ticket_urgent;
	if (r < 0) {
		daemon_err(d, "durable: cannot write the acceptor log: %s (%s); stopping, "
			      "nothing of this turn is sent",
			   durable_errmsg(p->log)[0] ? durable_errmsg(p->log) : "", strerror(-r));
		return r;
	}
	/*
	 * Compaction syncs what is pending on this thread first, so once it
	 * returned the pending batch is on disk. Not while a batch is in
	 * flight: its completion is still to come.
	 */
	if (!durable_sync_in_flight(p->log) && durable_should_compact(p->log)) {
		compact(d, p);
		if (p->pending_urgent && !durable_sync_in_flight(p->log)) {
			struct durable_stats st;
			durable_get_stats(p->log, &st);
			if (!st.pending_bytes) {
				p->ticket_done = p->ticket_next++;
				p->pending_urgent = false;
				p->lazy = false;
			}
		}
	}
	return 0;
}

int persist_sync_start(struct daemon *d, struct persist_batch *b)
{
	struct persist *p = d->persist;
	if (!p || durable_sync_in_flight(p->log))
		return 0;
	uint64_t now = daemon_now_us();
	if (!p->pending_urgent && !(p->lazy && now - p->last_sync_us >= PERSIST_LAZY_US))
		return 0;
	int r = durable_sync_begin(p->log, &b->buf, &b->len, &b->off);
	if (r <= 0) {
		p->pending_urgent = false;
		p->lazy = false;
		if (r < 0)
			daemon_err(d, "durable: cannot write the acceptor log: %s; stopping",
				   strerror(-r));
		return r;
	}
	b->fd = durable_fd(p->log);
	p->ticket_flight = p->ticket_next++;
	p->pending_urgent = false;
	p->lazy = false;
	p->last_sync_us = now;
	return 1;
}

int persist_sync_done(struct daemon *d, ssize_t wres, int fres, uint64_t *sync_ns)
{
	struct persist *p = d->persist;
	if (!p || !p->ticket_flight)
		return 0;
	int r = durable_sync_end(p->log, wres, fres, sync_ns);
	if (r < 0) {
		daemon_err(d, "durable: cannot write the acceptor log: %s (%s); stopping, "
			      "nothing that depends on it is sent",
			   durable_errmsg(p->log)[0] ? durable_errmsg(p->log) : "", strerror(-r));
		return r;
	}
	p->ticket_done = p->ticket_flight;
	p->ticket_flight = 0;
	return 0;
}

uint64_t persist_durable_ticket(const struct daemon *d)
{
	return d->persist ? d->persist->ticket_done : 0;
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

/* ---- the hand-over file (docs/design.md §6.2) -------------------------- */

/*
 * One fixed-width record, rewritten in place: a pwrite of ~100 bytes is
 * seen whole by a later reader, and the page cache keeps it across a
 * SIGKILL (a host crash ends the holders too: the boot id then differs).
 */
#define HANDOVER_FMT \
	"pkvd-handover 1\nboot %.36s\nbind_inc %020" PRIu64 "\nalive_ms %020" PRIu64 "\n"

static void boot_id(char out[37])
{
	out[0] = 0;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return;
	if (fscanf(f, "%36s", out) != 1)
		out[0] = 0;
	fclose(f);
}

/* CLOCK_BOOTTIME: runs across process restarts and through suspend. */
static uint64_t boottime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void handover_write(struct daemon *d)
{
	if (d->handover_fd < 0)
		return;
	char boot[37], rec[160];
	boot_id(boot);
	int n = snprintf(rec, sizeof(rec), HANDOVER_FMT, boot, d->bind_inc, boottime_ms());
	if (n > 0 && pwrite(d->handover_fd, rec, (size_t)n, 0) != n)
		daemon_warn(d, "cannot write the hand-over file: %s", strerror(errno));
}

int persist_handover_take(struct daemon *d)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/handover", d->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	d->bind_inc = d->incarnation;
	char boot[37], was_boot[37] = "";
	uint64_t was_inc = 0, alive_ms = 0;
	boot_id(boot);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "pkvd-handover 1 boot %36s bind_inc %" SCNu64 " alive_ms %" SCNu64,
			   was_boot, &was_inc, &alive_ms) != 3)
			was_inc = 0;
		fclose(f);
	}
	uint64_t now = boottime_ms(), ago = now >= alive_ms ? now - alive_ms : UINT64_MAX;
	char log[PATH_MAX];
	struct stat st;
	bool has_log = d->cfg.durable &&
		       snprintf(log, sizeof(log), "%s/%s/%s", d->cfg.run_dir, d->cfg.self,
				DURABLE_LOG_NAME) < (int)sizeof(log) &&
		       stat(log, &st) == 0 && st.st_size > 0;
	if (!was_inc || d->fresh) {
		/* nothing to take back */
	} else if (!has_log) {
		/* It would learn its bindings only once synced, seconds later. */
		daemon_log(d, "no durable state: the pid bindings of the previous incarnation end");
	} else if (!boot[0] || strcmp(boot, was_boot) != 0) {
		daemon_log(d, "the host rebooted since the last stop: no holder to take back");
	} else if (!d->cfg.restart_grace_ms || ago > d->cfg.restart_grace_ms ||
		   was_inc >= d->incarnation) {
		daemon_log(d, "stopped %" PRIu64 " ms ago, past restart_grace_ms %u: the pid "
			      "bindings of the previous incarnation end",
			   ago, d->cfg.restart_grace_ms);
	} else {
		d->bind_inc = was_inc;
		daemon_log(d, "stopped %" PRIu64 " ms ago, within restart_grace_ms %u: taking back "
			      "the pid bindings of incarnation %" PRIu64 " (each process is checked)",
			   ago, d->cfg.restart_grace_ms, was_inc);
	}
	d->handover_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->handover_fd < 0)
		return -errno;
	handover_write(d);
	d->handover_stamped_us = 0;
	return 0;
}

void persist_handover_stamp(struct daemon *d, uint64_t now_us, bool final)
{
	uint64_t every = (uint64_t)d->cfg.heartbeat_ms * 500u;
	if (!final && now_us - d->handover_stamped_us < every)
		return;
	d->handover_stamped_us = now_us;
	handover_write(d);
	if (final && d->handover_fd >= 0) {
		close(d->handover_fd);
		d->handover_fd = -1;
	}
}
