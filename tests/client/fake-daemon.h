/* SPDX-License-Identifier: MIT */
/*
 * fake-daemon.h — a stand-in for pkvd's local side, for the client tests:
 * daemon/shm.c served over a real control socket (attach with SCM_RIGHTS,
 * pidfd and hang-up reclaim, doorbell), with an in-memory write-once store
 * in place of paxos. Runs in a thread (fake_start) or as the whole of a
 * forked process (fake_run).
 *
 * Keys with a meaning:
 *   "__noquorum"  put/get answer PKV_S_NO_QUORUM
 *   "__hang"      never answered; the hang eventfd is written
 *   "__die"       the serving process kills itself (SIGKILL) on receipt
 *   "__quorum"    put sets the view's quorum to yes (and answers OK)
 *   "__node2"     get answers "v", bound to node id 2
 * A put with any binding is refused with PKV_S_INVALID_VALUE, as pkvd does
 * until lifetimes land.
 */
#ifndef PKV_TEST_FAKE_DAEMON_H
#define PKV_TEST_FAKE_DAEMON_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct shm_segment;

struct fake_daemon {
	char path[108];
	int listen_fd;
	int stop_fd;   /* eventfd: written to stop the thread */
	int hang_fd;   /* eventfd: written when a "__hang" request arrives */
	int reclaim_fd; /* eventfd: written on each slot reclaim */
	uint64_t incarnation;
	struct shm_segment *seg;
	pthread_t thread;
	struct fake_entry *entries;
	size_t n, cap;
};

/* Creates the segment and the listening socket at `path`. Returns 0 or -errno. */
int fake_init(struct fake_daemon *d, const char *path, uint64_t incarnation, int quorum);
/* The same with a learner cache of cache_entries entries (pkvd --cache-entries). */
int fake_init_sized(struct fake_daemon *d, const char *path, uint64_t incarnation, int quorum,
		    uint32_t cache_entries);
/* Serves until stop (thread) or forever (process). */
void *fake_run(void *d);
int fake_start(struct fake_daemon *d);
/* Stops the thread, destroys the segment (clean exit), removes the socket. */
void fake_stop(struct fake_daemon *d);
/* Serves in a forked child instead (it runs until it dies: kill it, or
 * "__die"); the parent keeps the segment, not the listening socket. Returns
 * the child's pid, or -errno. */
pid_t fake_fork(struct fake_daemon *d);
/* What is left once the server is gone (a forked child dead, or the thread
 * joined): destroys the segment, closes the eventfds, removes the socket. */
void fake_free(struct fake_daemon *d);

#endif
