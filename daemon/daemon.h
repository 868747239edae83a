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
 *   5. dispatch completions: datagrams → wire_receive → membership/paxos
 *      (handshakes answered at once),
 *      control packets → requests, signals → stop
 *
 * The loop owns every module of the shell and its calls run one way:
 *
 *   main → loop → control, local, persist, resize, fault, net, shm
 *   control → fault, net, shm        local → net, shm
 *   every module → log (log.h), and the pure libraries (paxos, store, msg,
 *   wire, membership, config, durable, ringreq)
 *
 * Where a module needs something of another beside or above it, the loop
 * registers hooks (control_hooks, resize_hooks, fault's send callback).
 * daemon/calls.txt lists the allowed calls; check-calls.sh enforces them.
 */
#ifndef PKV_DAEMON_H
#define PKV_DAEMON_H

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "control.h"
#include "durable-hold.h"
#include "pkv-hist.h"
#include "fault.h"
#include "local.h"
#include "log.h"
#include "membership.h"
#include "msg.h"
#include "net.h"
#include "notify.h"
#include "resize.h"
#include "wire.h"

struct paxos;
struct store;
struct persist;

struct daemon {
	struct pkv_config cfg;
	const char *config_path; /* -c FILE, reread by daemon_reload; NULL: none */
	/* what the command line set over the file: a reload keeps them */
	unsigned cli_failure_timeout_ms, cli_heartbeat_ms; /* 0: not given */
	int cli_log_level;				   /* -1: not given */
	unsigned cli_max_datagram; /* --max-datagram, else 0: a reload keeps it */
	char log_file[PATH_MAX]; /* --log-file, reopened on SIGHUP; "" = stderr */
	char state_dir[PATH_MAX]; /* the state file and acceptor log: cfg.state_dir or RUN_DIR/NAME */
	char ctl_path[108];	  /* the control socket: cfg.socket or RUN_DIR/NAME/pkvd.sock */
	bool has_group;		  /* cfg.group names this gid */
	unsigned group_gid;
	/* The lease's failure timeout (docs/design.md §8.1): the smallest one
	 * this process ran with; a reload never lengthens the lease. */
	unsigned lease_ft_ms;
	struct notify notify; /* the service manager (notify.h) */
	bool reload;	      /* SIGHUP seen: daemon_reload at the end of the turn */
	uint64_t wake_by_us;  /* when the loop's last wait was to end (membership_not_looking) */
	/* This node's key seed until daemon_init hands it to the wire; then
	 * NULL. In sodium_malloc'd memory: locked, never in a core dump. */
	struct auth_key *seed;
	uint64_t cluster_id;
	uint32_t self;
	uint64_t incarnation;
	/* The incarnation its pid bindings are made under: the previous one's
	 * when restarted within the grace (persist_handover_take). */
	uint64_t bind_inc;
	int handover_fd;	     /* STATE_DIR/handover, -1: none */
	uint64_t handover_stamped_us; /* its last stamp (monotonic µs) */
	uint32_t salt;
	bool fresh;	 /* first boot of this run dir, told to bootstrap the cluster */
	bool lost_state; /* no state file and not told to bootstrap: state lost */
	struct pkv_conf conf; /* the configuration (state file, then paxos_conf) */
	uint64_t started_us;

	struct net *net;
	/* Sessions, the node's secret key and the session keys: sodium_malloc'd. */
	struct wire *wire;
	struct membership mem;
	uint64_t lease_until_us; /* membership_lease_until, as last published */
	/* The lease as the subscribers were told (docs/design.md §5.1). */
	enum { LEASE_NEVER_HELD, LEASE_HELD, LEASE_LOST } lease_state;
	bool clock_off;		 /* our clock is MEMBERSHIP_SKEW_WARN_MS off: said */
	int64_t clock_skew_ms;	 /* ours minus the voters' (0: unknown) */
	struct store *store;
	struct paxos *paxos;
	struct pkv_outbox ob;
	struct persist *persist; /* the durable acceptor log; NULL when off */
	/* What waits for a batch of that log to be on disk (docs/design.md §6.3) */
	struct durable_hold hold;
	bool sync_in_flight; /* a batch's write + fdatasync is on the ring */
	/* Latencies (µs): a put from request to answer, a get that missed the
	 * cache, a batch's write + fdatasync. */
	struct pkv_hist hist_put, hist_get_miss, hist_sync;

	struct local local; /* the shared-memory segment and its clients */

	struct control ctl;
	/* the last id given to a request into paxos or to a resize (control,
	 * local and resize count on it alike) */
	uint64_t next_req;

	/* Fault injection (-Dfault_injection=true): applied to authenticated
	 * datagrams in and to datagrams out. */
	struct fault fault;

	/* resize_cluster: this node's requests and the ones it applied */
	struct resize resize;

	bool stopping;
	bool failed; /* stopping because of an error: exit non-zero */
	uint64_t stats_flush_errors;
	/* docs/design.md §7, "Datagram size": the largest datagram sent that
	 * batched two messages or more (bytes), and the datagrams sent over the
	 * peer's cap, each a single message too large for it. */
	uint64_t stats_largest_batch, stats_oversize;
};

int daemon_init(struct daemon *d);
int daemon_run(struct daemon *d);
void daemon_fini(struct daemon *d);

/*
 * SIGHUP: reopens the log file (--log-file) and rereads the configuration
 * file for what may change at run time — failure_timeout_ms, heartbeat_ms,
 * log_level — logging each change. A file that no longer parses or
 * validates, or that changes a setting that needs a restart, is refused with
 * a log line and the old values stay. Other reloadable parts hook in here.
 * Returns 0, or -EINVAL when the file was refused.
 */
int daemon_reload(struct daemon *d);

/* Reads a whole file (at most 1 MiB) into a malloc'd buffer; 0 or -errno. */
int daemon_read_file(const char *path, char **out, size_t *len);

#endif
