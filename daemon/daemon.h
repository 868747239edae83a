/* SPDX-License-Identifier: MIT */
/*
 * daemon.h — the I/O shell of pkvd: the state the event loop wires together.
 *
 * The loop turn, in this order (one flush per turn):
 *   1. fire timers: membership_tick, paxos_tick
 *   2. hand membership events to the log and to paxos
 *   3. deliver self-addressed messages, seal the outbox into datagrams
 *      (all messages to one peer in as few datagrams as fit)
 *   4. submit every queued SQE and wait for completions, once
 *   5. dispatch completions: datagrams → wire_receive → membership/paxos,
 *      control packets → requests, signals → stop
 */
#ifndef PKV_DAEMON_H
#define PKV_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "control.h"
#include "fault.h"
#include "log.h"
#include "membership.h"
#include "msg.h"
#include "net.h"
#include "resize.h"
#include "wire.h"

struct paxos;
struct paxos_completion;
struct store;
struct shm_segment;
struct local_attach;
struct pid_watch;
struct ctl_conn;
struct persist;

struct daemon {
	struct pkv_config cfg;
	struct auth_key key;
	uint64_t cluster_id;
	uint32_t self;
	uint64_t incarnation;
	uint32_t salt;
	uint64_t seq;
	bool fresh; /* first boot of this run dir */
	uint64_t started_us;

	struct net *net;
	struct wire_rx rx;
	struct membership mem;
	struct store *store;
	struct paxos *paxos;
	struct pkv_outbox ob;
	struct persist *persist; /* the durable acceptor log; NULL when off */

	struct shm_segment *shm;
	struct pid_watch *pid_watches; /* processes pid bindings of ours depend on */
	/* Per client slot (PKV_SHM_CLIENTS): the ticket of its latest request,
	 * and that request's id in paxos; a completion of any other id is of a
	 * request the client gave up on and must not answer the slot. */
	uint64_t local_ticket[128];
	uint64_t local_req[128];

	struct control ctl;
	uint64_t next_req;

	/* Fault injection (-Dfault_injection=true): applied to authenticated
	 * datagrams in and to datagrams out. */
	struct fault fault;

	/* resize_cluster: this node's requests and the ones it applied */
	struct resize resize;

	bool stopping;
	bool failed; /* stopping because of an error: exit non-zero */
	uint64_t stats_flush_errors;
	uint64_t stats_stale_completions; /* answers to requests clients gave up on */
};

int daemon_init(struct daemon *d);
int daemon_run(struct daemon *d);
void daemon_fini(struct daemon *d);

/* local.c: the shared-memory attach path */
int local_init(struct daemon *d);
void local_fini(struct daemon *d);
void local_set_view(struct daemon *d);
void local_attach(struct daemon *d, int fd, struct local_attach **ref);
void local_detach(struct daemon *d, struct local_attach *a);
void local_on_poll(struct daemon *d, void *token, int res, bool more);
void local_dispatch(struct daemon *d, uint64_t now);
bool local_complete(struct daemon *d, const struct paxos_completion *c);
void local_publish_learned(struct daemon *d);
void local_apply_lifetimes(struct daemon *d, uint64_t now);
uint64_t local_pid_start_time(int32_t pid);
bool local_sleep_begin(struct daemon *d);
void local_sleep_end(struct daemon *d);

#endif
