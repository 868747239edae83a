// SPDX-License-Identifier: MIT
/*
 * pkv-bench — what its files share: the configuration, the results of a
 * client and of a phase, the dev cluster, and the functions each file
 * offers the others.
 *
 *   main.c       options, phases in order, verdicts, exit status
 *   cluster.c    the dev cluster of --cluster N (the pkv-cluster script)
 *   workloads.c  keys and values, the client processes, the pool load, bound
 *   phase.c      one phase: forking the clients, merging, kill-gap events
 *   floor.c      get-hit's floor: a bare lookup in a compact shared table
 *   disk-floor.c the disk's floors, one writer and W in lockstep (disk-floor.h)
 *   wake-floor.c the machine's floors for an in-memory put: futex and UDP
 *                round trips, C clients' rate against one server (wake-floor.h)
 *   procfs.c     daemon memory from /proc (--report-rss)
 *   fleet.c      a fleet's voter traffic and CPU, an observer's memory (--report-fleet)
 *   report.c     the text and JSON reports
 *   stats.c      percentiles, gaps, counts (pure; stats.h)
 */
#ifndef PKV_BENCH_H
#define PKV_BENCH_H

#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "disk-floor.h"
#include "wake-floor.h"
#include "paxoskv.h"
#include "stats.h"

enum bench_exit {
	BENCH_EX_OK = 0,
	BENCH_EX_MISMATCH = 1,
	BENCH_EX_USAGE = 64,
	BENCH_EX_UNAVAILABLE = 69,
};

/*
 * A key starts with a 16-byte tag, unique per client process and phase:
 * pid (4 base-62 digits: pid_max is at most 2^22 < 62^4), the phase nonce
 * (3 digits), the key kind (1 char) and a sequence number (8 digits).
 * --key-size pads it with '.'; it cannot be shorter than the tag.
 */
#define KEY_TAG_LEN 16
#define KEY_SEQ_DIGITS 8

/* Latency samples kept per client; beyond this a uniform reservoir is kept. */
#define SAMPLES_MAX (1u << 20)
/* Distinct status codes counted per client; the rest fall into one slot. */
#define ERR_SLOTS 16
/* Bounds of the unmeasured phases (prepare, warm-up) and of --ops runs. */
#define SETUP_LIMIT_NS (120ull * 1000000000ull)
/* Loading the key pool: SETUP_LIMIT_NS plus this much per key and loader. */
#define LOAD_NS_PER_KEY 4000000ull
#define LOADERS_DEFAULT 32u
#define LOADERS_MAX 100u /* a daemon serves 128 handles */
#define OPS_ONLY_LIMIT_S 600.0
#define QUORUM_WAIT_MS 10000u
/*
 * bound: iterations when --ops is not given, the limit of each wait (the key
 * visible everywhere, then gone everywhere), the slice of each get in them.
 */
#define BOUND_DEFAULT_OPS 200u
#define BOUND_LIMIT_NS (10ull * 1000000000ull)
#define BOUND_GET_TIMEOUT_MS 2000u
#define BOUND_NODES_MAX 64
/*
 * kill-gap: writers at most (a daemon serves 128 handles, and at least two
 * survive), the default run length, and the half-width of the window around
 * the kill (and the restart) in which the merged write gap is looked for.
 */
#define KILLGAP_WRITERS_MAX 256u
#define KILLGAP_DEFAULT_SECONDS 6.0
#define KILLGAP_WINDOW_MS 1000u
#define KILLGAP_TOP 5 /* pauses listed, wherever they fall */
/* How long the tool waits for a killed daemon to vanish from /proc. */
#define KILLGAP_VANISH_NS (2ull * 1000000000ull)

enum workload {
	WL_NONE = 0,
	WL_PUT_NEW,
	WL_PUT_EXISTING,
	WL_GET_HIT,
	WL_GET_MISS,
	WL_MIXED,
	WL_BOUND,
	WL_KILL_GAP,
};

extern const char *const workload_names[];

struct bench_config {
	const char *endpoint; /* -n NODE or -S SOCKET; NULL: the library's default */
	unsigned cluster;     /* --cluster N: start a dev cluster of N daemons */
	enum workload workload, baseline;
	const char *baseline_daemon_args; /* --baseline-daemon-args: PKVD_ARGS of the baseline */
	const char *baseline_pkvd;	  /* --baseline-pkvd: the daemon binary of the baseline */
	unsigned clients;
	double seconds;
	uint64_t ops; /* per client; UINT64_MAX: bounded by time only */
	bool ops_given, seconds_given, warmup_given; /* bound has other defaults */
	bool keys_given; /* kill-gap loads a pool only when asked */
	bool window_given;
	size_t key_size, value_size;
	bool json;
	uint64_t warmup_ops;
	const char *bucket;
	unsigned read_share; /* percent of reads in `mixed` */
	unsigned keys;	     /* pre-populated keys, shared by all clients */
	unsigned loaders;    /* processes that put the pool concurrently */
	unsigned victim;     /* kill-gap: the node killed (0: the last one) */
	bool restart;	     /* kill-gap: start the victim again near the end */
	uint64_t window_ns;  /* kill-gap: half-width of the window around the kill */
	bool report_rss;     /* --report-rss: daemon memory per key added */
	bool keep_run_dir;   /* --keep-run-dir: leave the logs after the run */
	unsigned voters;     /* --voters V: a fleet of --cluster N, V of them voting */
	const char *baseline_node; /* --baseline-node: the baseline through this daemon */
	bool report_fleet;   /* --report-fleet: a voter's traffic and CPU, an observer's RSS */
	double floor_seconds; /* --fdatasync-floor S: the disk's floor, measured S s (0: no) */
	unsigned floor_writers; /* --floor-writers W (0: the voters, see main.c) */
	double wake_seconds;  /* --wakeup-floor S: the machine's wakeup floors, S s (0: no) */
};

/* What one client reports, in the shared mapping. */
struct client_result {
	int done;	  /* the client reached the end (else it crashed) */
	int setup_status; /* nonzero: open, prepare or warm-up failed */
	char message[200]; /* context of the first failure */
	uint64_t start_ns, end_ns;
	uint64_t ops;	     /* successful measured ops */
	uint64_t reads, writes; /* successful measured ops by kind (mixed) */
	uint64_t mismatches; /* ops whose answer was not the expected value */
	uint64_t max_ns;
	uint64_t nsamples; /* samples stored (<= the capacity) */
	uint64_t cache_hits, cache_misses;
	uint64_t unavailable; /* ops that failed with PKV_UNAVAILABLE */
	struct err_slot errs[ERR_SLOTS];
	uint64_t errs_other;
	/* kill-gap: completion times kept (and those past the capacity) */
	uint64_t ndone, done_lost;
	uint64_t gap_max_ns; /* the writer's own longest pause between successes */
	uint64_t gap_at_ns;  /* when that pause began (CLOCK_MONOTONIC) */
	unsigned node;	     /* the daemon the writer is attached to */
	/*
	 * get-hit: the floor (floor.c) over the same keys in the same order,
	 * each op timed as a read is (floor_n ops), and both back to back
	 * (tight_n ops between two clock reads, ns per op).
	 */
	uint64_t floor_n, floor_p50, floor_p90, floor_p99;
	uint64_t tight_n;
	double floor_mean_ns, tight_read_ns, tight_floor_ns;
};

/* The start barrier: clients count themselves ready, then wait for `go`. */
struct bench_control {
	unsigned ready;
	unsigned go;
};

struct phase_result {
	enum workload workload;
	unsigned clients;
	uint64_t ops, errors, mismatches, reads, writes, unavailable;
	uint64_t cache_hits, cache_misses;
	double elapsed_s, ops_per_s;
	uint64_t p50, p90, p99, p999, max;
	struct err_slot errs[ERR_SLOTS * 4];
	uint64_t errs_other;
	unsigned failed_clients;
	int setup_status;
	char message[200];
	/* kill-gap; times are CLOCK_MONOTONIC ns, 0 when it did not happen */
	unsigned victim;
	uint64_t window_ns;
	uint64_t go_ns, kill_ns, vanish_ns, restart_ns;
	uint64_t write_gap_ns, restart_gap_ns;
	uint64_t steady_gap_ns; /* the longest pause away from the kill and restart */
	/* the longest pauses of the whole run (all writers), longest first */
	uint64_t top_gap[KILLGAP_TOP];
	int64_t top_gap_from_kill[KILLGAP_TOP];
	int64_t write_gap_from_kill_ns, restart_gap_from_restart_ns;
	uint64_t writer_gap_max_ns, done_lost;
	unsigned nwriters;
	uint64_t writer_gap[KILLGAP_WRITERS_MAX];
	int64_t writer_gap_from_kill[KILLGAP_WRITERS_MAX];
	unsigned writer_node[KILLGAP_WRITERS_MAX];
	/* get-hit: the floor, the mean over the clients (0: not measured) */
	uint64_t floor_keys, floor_n, floor_p50, floor_p90, floor_p99, tight_n;
	double floor_mean_ns, tight_read_ns, tight_floor_ns;
};

/* --- main.c ----------------------------------------------------------------- */

/* The signal that interrupts the run (SIGINT, SIGTERM, SIGHUP), else 0. */
extern volatile sig_atomic_t got_signal;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
	nanosleep(&ts, NULL);
}

/*
 * A word in a MAP_SHARED mapping that processes wait on: FUTEX_WAIT while it
 * holds val, at most slice_ns (a signal or a spurious wake returns sooner:
 * callers look again), and FUTEX_WAKE of n waiters. Not the _PRIVATE
 * ops: the waiters are other processes.
 */
static inline void bench_futex_wait(void *word, uint32_t val, long slice_ns)
{
	struct timespec ts = {.tv_sec = slice_ns / 1000000000l, .tv_nsec = slice_ns % 1000000000l};
	syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static inline void bench_futex_wake(void *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t random_u64(void);

/* --- cluster.c -------------------------------------------------------------- */

extern struct bench_cluster {
	bool up;
	bool keep; /* --keep-run-dir */
	pid_t owner;
	char script[PATH_MAX];
	char run_dir[64];
	char port_base[16];
	unsigned voters; /* up N --voters V; 0: every daemon votes */
} cluster;

/* Runs `pkv-cluster ARG [N]` with its output on stderr; returns its exit status. */
int cluster_script(const char *arg, unsigned n);
/* Starts a dev cluster of n daemons in a new run dir: 0 or an exit status. */
int cluster_up(unsigned n);
/* Stops it and removes the run dir (unless kept); only in the process that started it. */
void cluster_down(void);

/* --- workloads.c ------------------------------------------------------------ */

/*
 * The daemons a bound key must vanish from, found by the parent before the
 * clients fork: node1..nodeN with --cluster N, else the daemon's own node and
 * the nodes it lists as connected. Its own node is reached through the tool's
 * endpoint (it may be a socket outside the run dir), the others by name.
 */
extern struct bound_nodes {
	unsigned n;
	int self; /* index of the tool's daemon, or -1: every node by name */
	char names[BOUND_NODES_MAX][PKV_NODE_NAME_MAX + 1];
} bound_nodes;

/* 0, or an exit status after saying why. */
int bound_discover(const struct bench_config *cfg);
void kill_children(const pid_t *pids, unsigned n);
int pool_load(const struct bench_config *cfg, uint64_t nonce);
/* Fills bench_floor with the pool's keys and values: 0 or an exit status. */
int floor_fill(const struct bench_config *cfg, uint64_t nonce);
/* The body of a forked client. Never returns. */
__attribute__((noreturn)) void client_main(const struct bench_config *cfg, enum workload wl,
					   uint64_t nonce, pid_t pool_owner,
					   struct bench_control *ctl, struct client_result *res,
					   uint64_t *samples, uint64_t *done_ts, uint64_t cap);

/* --- floor.c --------------------------------------------------------------- */

/* One key of the floor's table: 0 marks a free slot (pkv_shm_hash is never 0). */
struct floor_slot {
	uint64_t hash;
	uint32_t off, len; /* the value in the heap after the slots */
};

/* The floor of get-hit: built by the parent, inherited by the clients. */
extern struct bench_floor {
	struct floor_slot *slots; /* NULL: none */
	uint8_t *heap;
	uint64_t mask;
	size_t size, used;
	uint64_t keys;
} bench_floor;

/* Maps a table for `keys` values of value_size bytes: 0 or -errno. */
int floor_create(struct bench_floor *t, uint64_t keys, size_t value_size);
void floor_insert(struct bench_floor *t, const void *bucket, size_t blen, const void *key,
		  size_t klen, const void *value, size_t vlen);
/* Copies the value of (bucket, key) into out; its length, 0 when absent. */
size_t floor_lookup(const struct bench_floor *t, const void *bucket, size_t blen,
		    const void *key, size_t klen, void *out);
void floor_free(struct bench_floor *t);

/* --- phase.c ---------------------------------------------------------------- */

/* Runs one workload with all clients; 0 or an exit status. */
int phase_run(const struct bench_config *main_cfg, enum workload wl, struct phase_result *pr);
/* Each running daemon's `paxos:` counters, on stderr: what the kill cost. */
void cluster_print_paxos_stats(unsigned n);

/* --- procfs.c --------------------------------------------------------------- */

/* One daemon's memory and key count at one moment. */
struct rss_snap {
	pid_t pid; /* 0: not running */
	bool have_entries;
	uint64_t vmrss, anon, file, shmem; /* bytes, from /proc/PID/status */
	uint64_t entries;		   /* the store's entries= (`pkv stats`) */
};

extern struct bench_rss {
	unsigned n;
	struct rss_snap before[64], after[64];
} rss;

void rss_take(struct rss_snap *snaps);
void rss_settle(void);
/* Bytes per key added; false when it cannot be said (no keys added, a restart). */
bool rss_per_key(uint64_t before, uint64_t after, const struct rss_snap *b,
		 const struct rss_snap *a, double *out);

/* --- fleet.c ---------------------------------------------------------------- */

/* The daemon whose traffic and CPU --report-fleet reads: node1, a voter. */
#define FLEET_VOTER 1u
#define FLEET_IDLE_NS (3ull * 1000000000ull)

/* One daemon at one moment: its datagram counters and CPU time. */
struct fleet_sample {
	bool ok;
	uint64_t at_ns;
	uint64_t dgrams_in, dgrams_out;
	uint64_t cpu_ticks; /* utime + stime, /proc/PID/stat */
};

struct fleet_report {
	struct fleet_sample idle_from, idle_to, load_from, load_to;
	unsigned observer; /* the node whose idle memory was read; 0: none */
	uint64_t observer_rss;
};

void fleet_sample(unsigned node, struct fleet_sample *s);
/* The idle figures: samples FLEET_IDLE_NS apart, and the last node's RSS. */
void fleet_idle(const struct bench_config *cfg, struct fleet_report *f);
void fleet_print(const struct bench_config *cfg, const struct fleet_report *f);

/* --- report.c --------------------------------------------------------------- */

/*
 * fl: the --fdatasync-floor result, or NULL (or fl->n == 0) for none; wk:
 * the --wakeup-floor result, or NULL (or wk->futex_n == 0) for none.
 */
void print_json(const struct bench_config *cfg, const struct phase_result *main_pr,
		const struct phase_result *base, const struct floor_result *fl,
		const struct wake_result *wk);
void print_text(const struct bench_config *cfg, const struct phase_result *pr);
void print_ratios(const struct phase_result *main_pr, const struct phase_result *base);
void print_rss_text(const struct bench_config *cfg);

#endif
