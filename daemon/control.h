/* SPDX-License-Identifier: MIT */
/*
 * control.h — the daemon's UNIX socket (control.c): requests from `pkv`
 * and the tools, replies, quorum events for subscribers.
 *
 * The loop owns a struct control, registers its hooks with control_init and
 * hands it the socket's completions (control_accept, control_recv,
 * control_sent) and what other modules finished (control_drop_done,
 * control_resize_done, control_publish_event).
 */
#ifndef PKV_CONTROL_H
#define PKV_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "msg.h"

struct daemon;
struct ctl_conn;
struct local_attach;
struct persist_stats;

struct control_hooks {
	/* CTL_OP_ATTACH on connection fd: grant a shared-memory slot and
	 * record it in *ref (the reply carries fds: sent at once). */
	void (*attach)(struct daemon *d, int fd, struct local_attach **ref);
	/* Connection c is being freed: its slot (NULL if none) goes, and
	 * nothing may answer c any more. */
	void (*closed)(struct daemon *d, struct ctl_conn *c, struct local_attach *attach);
	/* CTL_OP_RESIZE: 0 when started (the answer comes through
	 * control_resize_done), else the status to answer at once. */
	int (*resize)(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now);
	/* The durable log's figures for CTL_OP_STATS. */
	void (*durable_stats)(const struct daemon *d, struct persist_stats *st);
	/* CTL_OP_RELEASE: a process's start time, as pid bindings record it. */
	uint64_t (*pid_start_time)(int32_t pid);
};

struct control {
	int fd; /* the listening socket, -1 before control_open */
	struct ctl_conn *conns;
	const struct control_hooks *hooks;
	size_t n_doubt; /* lifetimes in doubt, over every subscriber */
	size_t n_watch; /* key watches (CTL_OP_WATCH) open */
	uint64_t watch_seq; /* arrival order of watches */
	uint64_t last_ticket; /* the last lock waiter's ticket (struct ctl_watch_ticket) */
	uint64_t watch_dropped; /* watch streams ended: reader too slow, no memory */
	bool watch_late;	/* some watch has a chosen value kept back (no lease) */
	bool closing_all;	/* control_close_all: every connection goes, nothing is sent */
};

void control_init(struct control *ctl, const struct control_hooks *h);
int control_open(struct daemon *d);
void control_accept(struct daemon *d, int fd);
void control_recv(struct daemon *d, struct ctl_conn *c, ssize_t len);
void control_sent(struct daemon *d, struct ctl_conn *c, int res);
void control_close_all(struct daemon *d);
/* Sends a quorum event to every subscribed connection. */
void control_publish_event(struct daemon *d, const char *event, uint64_t epoch);
/*
 * Per-binding events (docs/design.md §5.1): when the lease lapses, each
 * subscriber's lifetimes (values bound to its process by this daemon) are
 * in doubt; one erased meanwhile is told lifetime_ended, and those still
 * here when the lease holds again lifetime_confirmed.
 */
void control_lease_lost(struct daemon *d);
void control_lease_regained(struct daemon *d);
void control_lifetime_erased(struct daemon *d, struct pkv_bytes bucket, struct pkv_bytes key,
			     uint64_t through);
/*
 * Key watches (docs/design.md §8.3): the generations paxos_erased() and the
 * entries paxos_learned() list this turn, to every watch of the key or its
 * bucket; and the answers of key inspections (§8.6, paxos_info_replies,
 * then reset). Call before the lists are drained for the cache and reset.
 */
void control_drain_paxos(struct daemon *d);
/* A bucket drop finished in paxos: answer the connection that asked. */
void control_drop_done(struct daemon *d, uint64_t req, int status);
/* A resize this node ran has finished: answer the connection that asked. */
void control_resize_done(struct daemon *d, struct ctl_conn *c, int status);

#endif
