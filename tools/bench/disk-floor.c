// SPDX-License-Identifier: MIT
/*
 * disk-floor.c — the disk's floor for a durable put (--fdatasync-floor), on
 * the filesystem of the cluster's run dir (where the daemons keep their
 * logs), so a durable put's latency is read against what this disk can do
 * at best in the same run. Two floors, measured in alternating rounds so
 * that both see the disk in the same moments:
 *
 *   one writer  4 KiB appended to a file and fdatasync'ed;
 *   W writers   the co-located floor: W threads, each with its own file in
 *               the same dir, started together, each appending 4 KiB and
 *               fdatasync'ing; a round lasts from the common start until
 *               the last writer's fdatasync returns.
 *
 * A durable fast put waits for a durable acceptance from every voter
 * (docs/design.md §3.4). When the voters' logs share one disk, as a dev
 * cluster's do, the syncs of one put run at the same time on the same
 * device, and the W-writer round is the best that disk can do for them.
 *
 * Bounded: S seconds (at least FLOOR_ROUNDS_MIN rounds of each floor), at
 * most FLOOR_ROUNDS_MAX rounds of each; every file is unlinked as soon as
 * it is created, cut back to empty (outside the timed part) when it reaches
 * FLOOR_FILE_MAX, and closed at the end; the writer threads are created
 * once, before the timed part, and joined on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "disk-floor.h"
#include "stats.h"

#define FLOOR_BLOCK 4096
#define FLOOR_ROUNDS_MIN 20
#define FLOOR_FILE_MAX (64ull << 20)

/* A file of its own in dir, already unlinked: an fd or -errno. */
static int floor_file(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/fdatasync-floor.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* One append + fdatasync at *off; *end is when the sync returned. */
static int floor_append(int fd, off_t *off, const uint8_t *block, uint64_t *end)
{
	errno = 0;
	if (pwrite(fd, block, FLOOR_BLOCK, *off) != FLOOR_BLOCK)
		return errno ? -errno : -EIO;
	if (fdatasync(fd) != 0)
		return -errno;
	*end = now_ns();
	*off += FLOOR_BLOCK;
	return 0;
}

/* A file at FLOOR_FILE_MAX is emptied, before the caller's clock starts. */
static int floor_wrap(int fd, off_t *off)
{
	if ((uint64_t)*off < FLOOR_FILE_MAX)
		return 0;
	if (ftruncate(fd, 0) != 0)
		return -errno;
	*off = 0;
	return 0;
}

/* The writers' common start and finish: one mutex, two condition variables. */
struct lockstep {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t round;	   /* the caller bumps it to start a round */
	unsigned running;  /* writer threads that exist */
	unsigned finished; /* writers done with the current round */
	bool stop;
};

struct floor_writer {
	struct lockstep *ls;
	const uint8_t *block;
	pthread_t tid;
	int fd;
	off_t off;
	uint64_t end; /* when this round's fdatasync returned */
	int err;      /* this round's: 0 or -errno */
};

static void *floor_writer_main(void *arg)
{
	struct floor_writer *w = arg;
	struct lockstep *ls = w->ls;
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&ls->mu);
		while (ls->round == seen && !ls->stop)
			pthread_cond_wait(&ls->go, &ls->mu);
		bool stop = ls->stop;
		seen = ls->round;
		pthread_mutex_unlock(&ls->mu);
		if (stop)
			return NULL;
		w->err = floor_append(w->fd, &w->off, w->block, &w->end);
		pthread_mutex_lock(&ls->mu);
		if (++ls->finished == ls->running)
			pthread_cond_signal(&ls->done);
		pthread_mutex_unlock(&ls->mu);
	}
}

/* One lockstep round: its time into *ns, or -errno of the first writer that failed. */
static int floor_round(struct lockstep *ls, struct floor_writer *w, uint64_t *ns)
{
	for (unsigned i = 0; i < ls->running; i++) {
		int r = floor_wrap(w[i].fd, &w[i].off);
		if (r)
			return r;
	}
	pthread_mutex_lock(&ls->mu);
	ls->finished = 0;
	ls->round++;
	uint64_t t0 = now_ns();
	pthread_cond_broadcast(&ls->go);
	while (ls->finished < ls->running)
		pthread_cond_wait(&ls->done, &ls->mu);
	pthread_mutex_unlock(&ls->mu);
	uint64_t last = t0;
	for (unsigned i = 0; i < ls->running; i++) {
		if (w[i].err)
			return w[i].err;
		if (w[i].end > last)
			last = w[i].end;
	}
	*ns = last - t0;
	return 0;
}

int floor_fdatasync(const char *dir, double seconds, unsigned writers, struct floor_result *out)
{
	static uint8_t block[FLOOR_BLOCK];
	struct lockstep ls = {
		.mu = PTHREAD_MUTEX_INITIALIZER,
		.go = PTHREAD_COND_INITIALIZER,
		.done = PTHREAD_COND_INITIALIZER,
	};
	struct floor_writer w[FLOOR_WRITERS_MAX];
	uint64_t *one = NULL, *co = NULL, n1 = 0, nco = 0;
	int one_fd = -1, rc = 0;
	unsigned opened = 0;
	sigset_t all, old;
	uint64_t end;
	off_t off = 0;

	memset(out, 0, sizeof(*out));
	if (writers < 1 || writers > FLOOR_WRITERS_MAX || !(seconds > 0))
		return -EINVAL;
	memset(block, 0xa5, sizeof(block));
	one = malloc(FLOOR_ROUNDS_MAX * sizeof(*one));
	co = malloc(FLOOR_ROUNDS_MAX * sizeof(*co));
	if (!one || !co) {
		rc = -ENOMEM;
		goto out;
	}
	one_fd = floor_file(dir);
	if (one_fd < 0) {
		rc = one_fd;
		goto out;
	}
	for (; opened < writers; opened++) {
		w[opened] = (struct floor_writer){.ls = &ls, .block = block};
		w[opened].fd = floor_file(dir);
		if (w[opened].fd < 0) {
			rc = w[opened].fd;
			goto out;
		}
	}
	/* Signals stay with the calling thread (pkv-bench's handlers). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; ls.running < writers; ls.running++) {
		int r = pthread_create(&w[ls.running].tid, NULL, floor_writer_main, &w[ls.running]);
		if (r) {
			rc = -r;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	end = now_ns() + (uint64_t)(seconds * 1e9);
	while (!rc && n1 < FLOOR_ROUNDS_MAX && nco < FLOOR_ROUNDS_MAX &&
	       (n1 < FLOOR_ROUNDS_MIN || nco < FLOOR_ROUNDS_MIN || now_ns() < end)) {
		rc = floor_round(&ls, w, &co[nco]);
		if (rc)
			break;
		nco++;
		uint64_t t1 = 0; /* set by floor_append when it returns 0 */
		rc = floor_wrap(one_fd, &off);
		if (rc)
			break;
		uint64_t t0 = now_ns();
		rc = floor_append(one_fd, &off, block, &t1);
		if (rc)
			break;
		one[n1++] = t1 - t0;
	}

	pthread_mutex_lock(&ls.mu);
	ls.stop = true;
	pthread_cond_broadcast(&ls.go);
	pthread_mutex_unlock(&ls.mu);
	for (unsigned i = 0; i < ls.running; i++)
		pthread_join(w[i].tid, NULL);

	if (!rc) {
		out->n = n1;
		stats_p50_p99(one, n1, &out->p50, &out->p99);
		out->writers = writers;
		out->co_n = nco;
		stats_p50_p99(co, nco, &out->co_p50, &out->co_p99);
		snprintf(out->dir, sizeof(out->dir), "%s", dir);
	}
out:
	for (unsigned i = 0; i < opened; i++)
		close(w[i].fd);
	if (one_fd >= 0)
		close(one_fd);
	free(one);
	free(co);
	return rc;
}
