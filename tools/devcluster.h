// SPDX-License-Identifier: MIT
/*
 * devcluster — the pieces of a dev cluster on loopback that pkv-bench and
 * the scenario runner (tests/scenario) share: a free UDP port base for N
 * daemons, the pid of a daemon of a run dir (checked against its cmdline),
 * whether a process still runs, the end of each daemon's log, and removal
 * of a run dir. How the daemons are started stays with each caller:
 * pkv-bench drives the pkv-cluster script, the scenario runner forks pkvd
 * itself to pause, kill and restart its children.
 */
#ifndef PKV_DEVCLUSTER_H
#define PKV_DEVCLUSTER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* The first candidate port base and the last one (plus the node count). */
#define DEVCLUSTER_PORT_LOW 20000
#define DEVCLUSTER_PORT_SPAN 40000
/* Daemons a dev cluster has at most (pkv-cluster up takes 1..64). */
#define DEVCLUSTER_NODES_MAX 64

/*
 * Whether UDP ports base+1 .. base+n can all be bound on loopback now (they
 * are bound together, then released): 1 yes, 0 no, -errno when no socket
 * could be made. n is at most DEVCLUSTER_NODES_MAX.
 */
int devcluster_ports_free(int base, unsigned n);

/*
 * A port base with base+1 .. base+n free: up to `tries` candidates, each
 * from pick(arg), so a caller with a seeded generator chooses its own
 * sequence. The base, or -EADDRINUSE, or -errno (no socket).
 */
int devcluster_port_base(unsigned n, unsigned tries, int (*pick)(void *arg), void *arg);

/* The same with 64 candidates uniform in [20000, 60000 - n), seeded by getrandom. */
int devcluster_random_port_base(unsigned n);

/*
 * The pid of nodeI of the run dir, from RUN_DIR/nodeI/pkvd.pid, if
 * /proc/PID/cmdline says that process is a pkvd run as `--node I` — the
 * check pkv-cluster makes before it signals one — else 0. So a recycled pid
 * is never signalled.
 */
pid_t devcluster_daemon_pid(const char *run_dir, unsigned node);

/* True while the process runs (a zombie counts as gone). */
bool devcluster_process_alive(pid_t pid);

/* The last 2 KiB of each RUN_DIR/nodeI/pkvd.log, node1 on, to `out`. */
void devcluster_dump_logs(const char *run_dir, FILE *out);

/* Removes the run dir and everything under it; 0, or -1 if some entry stayed. */
int devcluster_remove_dir(const char *dir);

#endif
