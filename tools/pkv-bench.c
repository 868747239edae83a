// SPDX-License-Identifier: MIT
/*
 * pkv-bench — latency and throughput of PaxosKV through the public client
 * library (include/paxoskv.h), nothing else.
 *
 * The parent process parses the options, optionally starts a dev cluster
 * (pkv-cluster), checks that the daemon answers, then forks one process per
 * client. Each client opens its own handle, prepares its keys, runs its
 * unmeasured warm-up, waits at a start barrier, and runs the measured loop,
 * writing each op's latency into a preallocated array in a shared mapping.
 * The parent then merges the arrays and reports percentiles. The bound
 * workload times something else per iteration: from the SIGKILL of a process
 * a key is bound to until every daemon reports the key absent. The kill-gap
 * workload runs put-new writers on every daemon of a dev cluster but one,
 * SIGKILLs that one mid-run and reports the longest pause in the writes.
 *
 * Exit status: 0 ok, 1 a value did not verify, 64 usage, 69 daemon
 * unavailable (or the dev cluster did not start).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, getrandom; the build passes it too */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devcluster.h"
#include "paxoskv.h"

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

static const char *const workload_names[] = {
	[WL_NONE] = "none",
	[WL_PUT_NEW] = "put-new",
	[WL_PUT_EXISTING] = "put-existing",
	[WL_GET_HIT] = "get-hit",
	[WL_GET_MISS] = "get-miss",
	[WL_MIXED] = "mixed",
	[WL_BOUND] = "bound",
	[WL_KILL_GAP] = "kill-gap",
};

struct bench_config {
	const char *endpoint; /* -n NODE or -S SOCKET; NULL: the library's default */
	unsigned cluster;     /* --cluster N: start a dev cluster of N daemons */
	enum workload workload, baseline;
	const char *baseline_daemon_args; /* --baseline-daemon-args: PKVD_ARGS of the baseline */
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
};

struct err_slot {
	int code;
	uint64_t count;
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
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
	nanosleep(&ts, NULL);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t random_u64(void)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = now_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

/* --- usage and options ------------------------------------------------------ */

static void usage_hint(void)
{
	fputs("usage: pkv-bench [-n NODE | -S SOCKET] [--cluster N] WORKLOAD [options]\n"
	      "       pkv-bench --help for the workloads and options\n",
	      stderr);
}

static void usage(FILE *f)
{
	fputs("usage: pkv-bench [-n NODE | -S SOCKET] [--cluster N] WORKLOAD [options]\n"
	      "workloads:\n"
	      "  put-new        first put of fresh keys (each op a new key)\n"
	      "  put-existing   put of pre-populated keys; verifies the old value comes back\n"
	      "  get-hit        get of pre-populated keys (the shared cache); verifies the value\n"
	      "  get-miss       get of keys never written (PKV_NOT_FOUND through the ring)\n"
	      "  mixed          --read-share P percent get-hit, the rest put-new\n"
	      "  bound          put a key bound to a child process, SIGKILL it, time until\n"
	      "                 every daemon reports the key absent (default --ops 200)\n"
	      "  kill-gap       put-new writers on every daemon but one (--cluster N, N >= 3);\n"
	      "                 SIGKILL that one after a third of --seconds (default 6) and\n"
	      "                 report the longest pause in the writes around the kill\n"
	      "                 (with --keys N: N keys put first, so the store is that large)\n"
	      "options:\n"
	      "  --cluster N         start a dev cluster of N daemons for the run (pkv-cluster)\n"
	      "  --clients N         client processes, one handle each (default 1)\n"
	      "  --seconds S         measured time per client (default 5)\n"
	      "  --ops N             measured ops per client (stops at whichever comes first)\n"
	      "  --warmup-ops N      unmeasured ops per client first (default 100)\n"
	      "  --key-size B        key bytes, 16..1024 (default 16)\n"
	      "  --value-size B      value bytes, 1..60000 (default 32)\n"
	      "  --bucket NAME       bucket of the keys (default bench)\n"
	      "  --keys N            distinct pre-populated keys, shared by all clients\n"
	      "                      (default 512); loaded first by concurrent puts\n"
	      "  --loaders N         processes putting the keys concurrently (default 32)\n"
	      "  --read-share P      percent reads in mixed (default 90)\n"
	      "  --baseline WORKLOAD run WORKLOAD first and print main/baseline ratios\n"
	      "  --baseline-daemon-args ARGS\n"
	      "                      with --cluster: run the baseline (the same workload unless\n"
	      "                      --baseline says) first on a dev cluster whose daemons get\n"
	      "                      ARGS as PKVD_ARGS, e.g. '--no-fast-put'; then the main run on\n"
	      "                      a fresh cluster with the caller's PKVD_ARGS\n"
	      "  --victim I          kill-gap: the node to kill (default the last)\n"
	      "  --restart           kill-gap: start the victim again after two thirds of the run\n"
	      "  --gap-window MS     kill-gap: look for the write gap within MS of the kill\n"
	      "                      (and of the restart; default 1000)\n"
	      "  --report-rss        with --cluster: each daemon's resident memory before and\n"
	      "                      after the run, and bytes per key added\n"
	      "  --keep-run-dir      with --cluster: keep the run dir (daemon logs) after the run\n"
	      "  --json              print one JSON object\n"
	      "exit status: 0 ok, 1 a value did not verify, 64 usage, 69 daemon unavailable\n",
	      f);
}

static enum workload workload_parse(const char *s)
{
	for (size_t i = 1; i < sizeof(workload_names) / sizeof(workload_names[0]); i++)
		if (!strcmp(s, workload_names[i]))
			return (enum workload)i;
	return WL_NONE;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_CLUSTER = 256,
	OPT_CLIENTS,
	OPT_SECONDS,
	OPT_OPS,
	OPT_KEY_SIZE,
	OPT_VALUE_SIZE,
	OPT_JSON,
	OPT_BASELINE,
	OPT_BASELINE_ARGS,
	OPT_WARMUP,
	OPT_BUCKET,
	OPT_READ_SHARE,
	OPT_KEYS,
	OPT_LOADERS,
	OPT_VICTIM,
	OPT_RESTART,
	OPT_REPORT_RSS,
	OPT_KEEP_RUN_DIR,
	OPT_GAP_WINDOW,
};

/* Returns 0, or an exit status after printing why. */
static int parse_args(int argc, char **argv, struct bench_config *cfg)
{
	static const struct option o[] = {
		{"node", required_argument, NULL, 'n'},
		{"socket", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{"cluster", required_argument, NULL, OPT_CLUSTER},
		{"clients", required_argument, NULL, OPT_CLIENTS},
		{"seconds", required_argument, NULL, OPT_SECONDS},
		{"ops", required_argument, NULL, OPT_OPS},
		{"key-size", required_argument, NULL, OPT_KEY_SIZE},
		{"value-size", required_argument, NULL, OPT_VALUE_SIZE},
		{"json", no_argument, NULL, OPT_JSON},
		{"baseline", required_argument, NULL, OPT_BASELINE},
		{"baseline-daemon-args", required_argument, NULL, OPT_BASELINE_ARGS},
		{"warmup-ops", required_argument, NULL, OPT_WARMUP},
		{"bucket", required_argument, NULL, OPT_BUCKET},
		{"read-share", required_argument, NULL, OPT_READ_SHARE},
		{"keys", required_argument, NULL, OPT_KEYS},
		{"loaders", required_argument, NULL, OPT_LOADERS},
		{"victim", required_argument, NULL, OPT_VICTIM},
		{"restart", no_argument, NULL, OPT_RESTART},
		{"report-rss", no_argument, NULL, OPT_REPORT_RSS},
		{"keep-run-dir", no_argument, NULL, OPT_KEEP_RUN_DIR},
		{"gap-window", required_argument, NULL, OPT_GAP_WINDOW},
		{0},
	};
	const char *node = NULL, *sock = NULL;
	bool have_seconds = false, have_ops = false;
	uint64_t v;
	char *end;
	int c, li = -1;

	*cfg = (struct bench_config){
		.clients = 1,
		.seconds = 5,
		.ops = UINT64_MAX,
		.key_size = KEY_TAG_LEN,
		.value_size = 32,
		.warmup_ops = 100,
		.bucket = "bench",
		.read_share = 90,
		.keys = 512,
		.loaders = LOADERS_DEFAULT,
		.window_ns = KILLGAP_WINDOW_MS * 1000000ull,
	};
	while ((c = getopt_long(argc, argv, "n:S:h", o, &li)) != -1) {
		switch (c) {
		case 'n':
			node = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(BENCH_EX_OK);
		case OPT_CLUSTER:
			if (!parse_u64(optarg, 1, 64, &v))
				goto bad_value;
			cfg->cluster = (unsigned)v;
			break;
		case OPT_CLIENTS:
			if (!parse_u64(optarg, 1, 1024, &v))
				goto bad_value;
			cfg->clients = (unsigned)v;
			break;
		case OPT_SECONDS:
			errno = 0;
			cfg->seconds = strtod(optarg, &end);
			if (errno || *end || !(cfg->seconds > 0 && cfg->seconds <= 86400))
				goto bad_value;
			have_seconds = true;
			cfg->seconds_given = true;
			break;
		case OPT_OPS:
			if (!parse_u64(optarg, 1, UINT64_MAX - 1, &cfg->ops))
				goto bad_value;
			have_ops = true;
			cfg->ops_given = true;
			break;
		case OPT_KEY_SIZE:
			if (!parse_u64(optarg, KEY_TAG_LEN, PKV_KEY_MAX, &v))
				goto bad_value;
			cfg->key_size = (size_t)v;
			break;
		case OPT_VALUE_SIZE:
			if (!parse_u64(optarg, 1, PKV_VALUE_MAX, &v))
				goto bad_value;
			cfg->value_size = (size_t)v;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_BASELINE:
			cfg->baseline = workload_parse(optarg);
			if (cfg->baseline == WL_NONE)
				goto bad_value;
			break;
		case OPT_BASELINE_ARGS:
			cfg->baseline_daemon_args = optarg;
			break;
		case OPT_WARMUP:
			if (!parse_u64(optarg, 0, UINT32_MAX, &cfg->warmup_ops))
				goto bad_value;
			cfg->warmup_given = true;
			break;
		case OPT_BUCKET:
			if (!*optarg || strlen(optarg) > PKV_BUCKET_MAX)
				goto bad_value;
			cfg->bucket = optarg;
			break;
		case OPT_READ_SHARE:
			if (!parse_u64(optarg, 0, 100, &v))
				goto bad_value;
			cfg->read_share = (unsigned)v;
			break;
		case OPT_KEYS:
			if (!parse_u64(optarg, 1, 10000000, &v))
				goto bad_value;
			cfg->keys = (unsigned)v;
			cfg->keys_given = true;
			break;
		case OPT_LOADERS:
			if (!parse_u64(optarg, 1, LOADERS_MAX, &v))
				goto bad_value;
			cfg->loaders = (unsigned)v;
			break;
		case OPT_VICTIM:
			if (!parse_u64(optarg, 1, 64, &v))
				goto bad_value;
			cfg->victim = (unsigned)v;
			break;
		case OPT_RESTART:
			cfg->restart = true;
			break;
		case OPT_REPORT_RSS:
			cfg->report_rss = true;
			break;
		case OPT_KEEP_RUN_DIR:
			cfg->keep_run_dir = true;
			break;
		case OPT_GAP_WINDOW:
			if (!parse_u64(optarg, 1, 60000, &v))
				goto bad_value;
			cfg->window_ns = v * 1000000ull;
			cfg->window_given = true;
			break;
		default:
			usage_hint();
			return BENCH_EX_USAGE;
		}
		li = -1;
	}
	if (node && sock) {
		fputs("pkv-bench: -n and -S exclude each other\n", stderr);
		return BENCH_EX_USAGE;
	}
	cfg->endpoint = sock ? sock : node;
	if (argc - optind != 1) {
		fputs(argc == optind ? "pkv-bench: no workload given\n"
				     : "pkv-bench: one workload only\n",
		      stderr);
		usage_hint();
		return BENCH_EX_USAGE;
	}
	cfg->workload = workload_parse(argv[optind]);
	if (cfg->workload == WL_NONE) {
		fprintf(stderr, "pkv-bench: unknown workload '%s'\n", argv[optind]);
		usage_hint();
		return BENCH_EX_USAGE;
	}
	if (have_ops && !have_seconds)
		cfg->seconds = OPS_ONLY_LIMIT_S;
	if ((cfg->report_rss || cfg->keep_run_dir) && !cfg->cluster) {
		fputs("pkv-bench: --report-rss and --keep-run-dir need --cluster N\n", stderr);
		return BENCH_EX_USAGE;
	}
	if (cfg->workload != WL_KILL_GAP && (cfg->victim || cfg->restart || cfg->window_given)) {
		fputs("pkv-bench: --victim, --restart and --gap-window belong to kill-gap\n",
		      stderr);
		return BENCH_EX_USAGE;
	}
	if (cfg->baseline == WL_KILL_GAP ||
	    (cfg->workload == WL_KILL_GAP && cfg->baseline != WL_NONE)) {
		fputs("pkv-bench: kill-gap takes no --baseline\n", stderr);
		return BENCH_EX_USAGE;
	}
	if (cfg->baseline_daemon_args) {
		if (!cfg->cluster) {
			fputs("pkv-bench: --baseline-daemon-args needs --cluster N\n", stderr);
			return BENCH_EX_USAGE;
		}
		if (cfg->workload == WL_KILL_GAP) {
			fputs("pkv-bench: kill-gap takes no --baseline-daemon-args\n", stderr);
			return BENCH_EX_USAGE;
		}
		if (cfg->baseline == WL_NONE)
			cfg->baseline = cfg->workload;
	}
	if (cfg->workload == WL_KILL_GAP) {
		/* The victim's death must leave a quorum, and writers elsewhere. */
		if (cfg->cluster < 3) {
			fputs("pkv-bench: kill-gap needs --cluster N with N >= 3\n", stderr);
			return BENCH_EX_USAGE;
		}
		if (!cfg->victim)
			cfg->victim = cfg->cluster;
		if (cfg->victim > cfg->cluster) {
			fprintf(stderr, "pkv-bench: --victim %u is not a node of the cluster\n",
				cfg->victim);
			return BENCH_EX_USAGE;
		}
		if (cfg->clients > KILLGAP_WRITERS_MAX) {
			fprintf(stderr, "pkv-bench: kill-gap runs at most %u writers\n",
				KILLGAP_WRITERS_MAX);
			return BENCH_EX_USAGE;
		}
		if (cfg->endpoint) {
			fputs("pkv-bench: kill-gap attaches its writers itself (no -n/-S)\n",
			      stderr);
			return BENCH_EX_USAGE;
		}
	}
	return 0;

bad_value:
	fprintf(stderr, "pkv-bench: bad value '%s' for --%s\n", optarg, li >= 0 ? o[li].name : "?");
	usage_hint();
	return BENCH_EX_USAGE;
}

/* --- the dev cluster (--cluster N) ----------------------------------------- */

static struct {
	bool up;
	bool keep; /* --keep-run-dir */
	pid_t owner;
	char script[PATH_MAX];
	char run_dir[64];
	char port_base[16];
} cluster;

/* Runs `pkv-cluster ARG [N]` with its output on stderr; returns its exit status. */
static int cluster_script(const char *arg, unsigned n)
{
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%u", n);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* stdout is the report's (one JSON object with --json). */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl(cluster.script, cluster.script, arg, n ? nbuf : NULL, (char *)NULL);
		execl("/bin/bash", "bash", cluster.script, arg, n ? nbuf : NULL, (char *)NULL);
		fprintf(stderr, "pkv-bench: cannot run %s: %s\n", cluster.script, strerror(errno));
		_exit(127);
	}
	int status;
	bool forwarded = false;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
		/* Interrupted: make sure the script ends too, then clean up. */
		if (got_signal && !forwarded) {
			kill(pid, SIGTERM);
			forwarded = true;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static void cluster_down(void)
{
	if (!cluster.up || getpid() != cluster.owner)
		return;
	cluster.up = false;
	cluster_script("down", 0);
	if (cluster.keep)
		fprintf(stderr, "pkv-bench: daemon logs kept in %s\n", cluster.run_dir);
	else
		devcluster_remove_dir(cluster.run_dir);
}

/* Finds the script next to the binary ($PKV_CLUSTER overrides). */
static int cluster_find_script(void)
{
	const char *env = getenv("PKV_CLUSTER");
	if (env && *env) {
		snprintf(cluster.script, sizeof(cluster.script), "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		if ((size_t)snprintf(cluster.script, sizeof(cluster.script), "%s/pkv-cluster",
				     self) >= sizeof(cluster.script))
			return -ENAMETOOLONG;
	}
	return access(cluster.script, X_OK) == 0 ? 0 : -errno;
}

static int cluster_up(unsigned n)
{
	int r = cluster_find_script();
	if (r) {
		fprintf(stderr, "pkv-bench: cannot find the dev cluster launcher %s: %s\n",
			cluster.script, strerror(-r));
		return BENCH_EX_UNAVAILABLE;
	}
	int base = devcluster_random_port_base(n);
	if (base < 0) {
		fprintf(stderr, "pkv-bench: no free UDP port range for %u daemons\n", n);
		return BENCH_EX_UNAVAILABLE;
	}
	snprintf(cluster.run_dir, sizeof(cluster.run_dir), "/tmp/pkv-bench-XXXXXX");
	if (!mkdtemp(cluster.run_dir)) {
		fprintf(stderr, "pkv-bench: mkdtemp: %s\n", strerror(errno));
		return BENCH_EX_UNAVAILABLE;
	}
	snprintf(cluster.port_base, sizeof(cluster.port_base), "%d", base);
	/* The script and the library (in the clients) both read these. */
	setenv("PKV_RUN_DIR", cluster.run_dir, 1);
	setenv("PKV_PORT_BASE", cluster.port_base, 1);
	unsetenv("PKV_SOCKET");
	cluster.owner = getpid();
	cluster.up = true;
	fprintf(stderr, "pkv-bench: starting %u daemons in %s (udp ports %d..%d)\n", n,
		cluster.run_dir, base + 1, base + (int)n);
	r = cluster_script("up", n);
	if (got_signal)
		return 128 + got_signal;
	if (r != 0) {
		fprintf(stderr, "pkv-bench: the dev cluster did not start (pkv-cluster up %u: %d)\n",
			n, r);
		devcluster_dump_logs(cluster.run_dir, stderr);
		return BENCH_EX_UNAVAILABLE;
	}
	return 0;
}

/* --- keys and values --------------------------------------------------------- */

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void put_base62(char *out, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--) {
		out[i] = base62[v % 62];
		v /= 62;
	}
}

/* One client's key space: the prefix is fixed, kind and seq vary. */
struct keygen {
	char *key;
	size_t key_size;
};

/* owner: the pid in the tag; a client's own keys carry its pid, the pool the parent's. */
static void keygen_init(struct keygen *kg, char *buf, size_t key_size, pid_t owner,
			uint64_t nonce)
{
	kg->key = buf;
	kg->key_size = key_size;
	memset(buf, '.', key_size);
	put_base62(buf, (uint64_t)owner, 4);
	put_base62(buf + 4, nonce, 3);
}

/* Kinds: 'p' pre-populated pool, 'n' put-new, 'x' never written. */
static const char *keygen_make(struct keygen *kg, char kind, uint64_t seq)
{
	kg->key[7] = kind;
	put_base62(kg->key + 8, seq, KEY_SEQ_DIGITS);
	return kg->key;
}

/* A value derived from its key, so any client can verify any answer. */
static void value_make(char *out, size_t size, const char *key, size_t key_size, char marker)
{
	out[0] = marker;
	for (size_t i = 1; i < size; i++)
		out[i] = key[(i - 1) % key_size];
}

static bool value_is(const struct pkv_value *v, const char *want, size_t size)
{
	return v->len == size && memcmp(v->data, want, size) == 0;
}

/* --- one client -------------------------------------------------------------- */

struct client {
	const struct bench_config *cfg;
	enum workload workload;
	struct pkv_client *pkv;
	struct pkv_put_opts put_opts;
	struct pkv_get_opts get_opts;
	struct keygen kg;
	struct keygen pool; /* the shared pre-populated keys */
	char *value, *expect;
	struct pkv_value answer;
	uint64_t next_new, next_miss; /* sequence numbers of fresh keys */
	uint64_t rng;
	struct client_result *res;
	uint64_t *samples;
	uint64_t cap;
	struct pkv_client **watch; /* bound: one handle per daemon of bound_nodes */
	uint64_t *done_ts;	   /* kill-gap: completion times of successful puts */
};

enum op_outcome {
	OP_OK,
	OP_MISMATCH,
	OP_ERROR,
};

struct op {
	enum workload kind; /* the op run: a mixed workload runs put-new or get-hit */
	int status;
	enum op_outcome outcome;
};

static void result_error(struct client_result *res, int code)
{
	if (code == PKV_UNAVAILABLE)
		res->unavailable++;
	for (int i = 0; i < ERR_SLOTS; i++) {
		if (res->errs[i].count && res->errs[i].code == code) {
			res->errs[i].count++;
			return;
		}
		if (!res->errs[i].count) {
			res->errs[i].code = code;
			res->errs[i].count = 1;
			return;
		}
	}
	res->errs_other++;
}

static void note_message(struct client_result *res, const char *what, int status)
{
	if (res->message[0])
		return;
	snprintf(res->message, sizeof(res->message), "%s: %s (%s)", what, pkv_strerror(status),
		 pkv_errmsg());
}

/* Prepares the arguments of the next op: its key, and the value of a put. */
static const char *op_prepare(struct client *cl, struct op *op)
{
	const struct bench_config *cfg = cl->cfg;
	const char *key;

	op->kind = cl->workload;
	if (op->kind == WL_KILL_GAP)
		op->kind = WL_PUT_NEW;
	if (op->kind == WL_MIXED)
		op->kind = xorshift(&cl->rng) % 100 < cfg->read_share ? WL_GET_HIT : WL_PUT_NEW;
	switch (op->kind) {
	case WL_PUT_NEW:
		key = keygen_make(&cl->kg, 'n', cl->next_new++);
		value_make(cl->value, cfg->value_size, key, cfg->key_size, 'A');
		break;
	case WL_PUT_EXISTING:
		key = keygen_make(&cl->pool, 'p', xorshift(&cl->rng) % cfg->keys);
		value_make(cl->value, cfg->value_size, key, cfg->key_size, 'B');
		break;
	case WL_GET_HIT:
		key = keygen_make(&cl->pool, 'p', xorshift(&cl->rng) % cfg->keys);
		break;
	default:
		key = keygen_make(&cl->kg, 'x', cl->next_miss++);
		break;
	}
	return key;
}

static void op_run(struct client *cl, const char *key, struct op *op)
{
	size_t ks = cl->cfg->key_size, vs = cl->cfg->value_size;

	switch (op->kind) {
	case WL_PUT_NEW:
	case WL_PUT_EXISTING:
		op->status = pkv_put(cl->pkv, key, ks, cl->value, vs, &cl->put_opts, &cl->answer);
		break;
	default:
		op->status = pkv_get(cl->pkv, key, ks, &cl->get_opts, &cl->answer);
		break;
	}
}

/* Checks the answer of an op (outside the timed span). */
static void op_check(struct client *cl, const char *key, struct op *op)
{
	size_t ks = cl->cfg->key_size, vs = cl->cfg->value_size;

	if (op->kind == WL_GET_MISS) {
		op->outcome = op->status == PKV_NOT_FOUND ? OP_OK
			      : op->status == PKV_OK	  ? OP_MISMATCH
							  : OP_ERROR;
		return;
	}
	if (op->status != PKV_OK) {
		op->outcome = OP_ERROR;
		return;
	}
	/* A fresh key keeps our value; a pool key keeps its first ('A') value. */
	value_make(cl->expect, vs, key, ks, 'A');
	op->outcome = value_is(&cl->answer, cl->expect, vs) ? OP_OK : OP_MISMATCH;
}

static void client_record(struct client *cl, const struct op *op, uint64_t lat)
{
	struct client_result *res = cl->res;

	if (op->outcome == OP_ERROR) {
		result_error(res, op->status);
		note_message(res, "op", op->status);
		return;
	}
	if (op->outcome == OP_MISMATCH) {
		res->mismatches++;
		if (!res->message[0])
			snprintf(res->message, sizeof(res->message),
				 "%s: the answer is not the value written",
				 workload_names[op->kind]);
		return;
	}
	res->ops++;
	if (op->kind == WL_GET_HIT || op->kind == WL_GET_MISS)
		res->reads++;
	else
		res->writes++;
	if (lat > res->max_ns)
		res->max_ns = lat;
	/* Algorithm R: past the capacity every op is kept with probability cap/ops. */
	if (res->nsamples < cl->cap) {
		cl->samples[res->nsamples++] = lat;
	} else {
		uint64_t j = xorshift(&cl->rng) % res->ops;
		if (j < cl->cap)
			cl->samples[j] = lat;
	}
}

static void kill_children(const pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
}

/* What one loader reports, in the shared mapping. */
struct load_result {
	int done;
	int status;
	uint64_t loaded;
	char message[200];
};

/*
 * One loader process: puts the pool keys i with i % loaders == index, each
 * with the value the readers expect ('A'), and checks the answer. Many
 * loaders put at once, so the daemon has many rounds in flight and sends
 * their messages to each peer batched in shared datagrams.
 */
static void loader_main(const struct bench_config *cfg, unsigned index, pid_t owner,
			uint64_t nonce, uint64_t deadline, struct load_result *out)
{
	struct pkv_client *pkv = NULL;
	struct pkv_value answer = PKV_VALUE_INIT;
	struct pkv_put_opts po = {.bucket = cfg->bucket, .bucket_len = strlen(cfg->bucket)};
	struct keygen kg;
	char *key = malloc(cfg->key_size);
	char *value = malloc(cfg->value_size);
	int r = -ENOMEM;

	if (!key || !value)
		goto out;
	keygen_init(&kg, key, cfg->key_size, owner, nonce);
	r = pkv_open(&pkv, cfg->endpoint);
	if (r) {
		snprintf(out->message, sizeof(out->message), "load: attach: %s (%s)",
			 pkv_strerror(r), pkv_errmsg());
		goto out;
	}
	for (uint64_t i = index; i < cfg->keys; i += cfg->loaders) {
		if (got_signal || now_ns() >= deadline) {
			r = PKV_TIMEOUT;
			snprintf(out->message, sizeof(out->message),
				 "load: %" PRIu64 " keys put before the time limit", out->loaded);
			goto out;
		}
		keygen_make(&kg, 'p', i);
		value_make(value, cfg->value_size, key, cfg->key_size, 'A');
		r = pkv_put(pkv, key, cfg->key_size, value, cfg->value_size, &po, &answer);
		if (r != PKV_OK) {
			snprintf(out->message, sizeof(out->message), "load: put: %s (%s)",
				 pkv_strerror(r), pkv_errmsg());
			goto out;
		}
		if (!value_is(&answer, value, cfg->value_size)) {
			r = PKV_INVALID_VALUE;
			snprintf(out->message, sizeof(out->message),
				 "load: a fresh key came back with another value");
			goto out;
		}
		out->loaded++;
	}
	r = 0;
out:
	out->status = r;
	out->done = 1;
	pkv_value_free(&answer);
	pkv_close(pkv);
	free(key);
	free(value);
	_exit(r ? 1 : 0);
}

/*
 * Puts the pool of put-existing, get-hit and mixed before any client starts
 * (unmeasured): --loaders processes with a handle each. Returns 0, or an exit
 * status after printing why.
 */
static int pool_load(const struct bench_config *cfg, uint64_t nonce)
{
	unsigned n = cfg->loaders < cfg->keys ? cfg->loaders : cfg->keys;
	struct bench_config lc = *cfg;
	lc.loaders = n;
	size_t size = n * sizeof(struct load_result);
	struct load_result *res =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t *pids = calloc(n, sizeof(*pids));
	if (res == MAP_FAILED || !pids) {
		fprintf(stderr, "pkv-bench: load: out of memory\n");
		free(pids);
		if (res != MAP_FAILED)
			munmap(res, size);
		return BENCH_EX_UNAVAILABLE;
	}
	uint64_t start = now_ns();
	uint64_t deadline = start + SETUP_LIMIT_NS + cfg->keys * LOAD_NS_PER_KEY / n;
	if (cfg->keys >= 100000)
		fprintf(stderr, "pkv-bench: loading %u keys with %u concurrent loaders\n",
			cfg->keys, n);
	fflush(NULL);
	unsigned started = 0;
	int ex = 0;
	for (; started < n; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "pkv-bench: fork: %s\n", strerror(errno));
			ex = BENCH_EX_UNAVAILABLE;
			break;
		}
		if (pid == 0)
			loader_main(&lc, started, getppid(), nonce, deadline, &res[started]);
		pids[started] = pid;
	}
	if (ex)
		kill_children(pids, started);
	uint64_t loaded = 0;
	for (unsigned i = 0; i < started; i++) {
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			if (got_signal)
				kill_children(pids, started);
		loaded += res[i].loaded;
		if (!ex && (!res[i].done || res[i].status)) {
			fprintf(stderr, "pkv-bench: %s\n",
				res[i].done ? res[i].message : "load: a loader process died");
			ex = res[i].status == PKV_UNAVAILABLE || !res[i].done ? BENCH_EX_UNAVAILABLE
									       : BENCH_EX_MISMATCH;
			if (res[i].status == PKV_TIMEOUT || res[i].status == PKV_NO_QUORUM)
				ex = BENCH_EX_UNAVAILABLE;
			kill_children(pids, started);
		}
	}
	if (got_signal && !ex)
		ex = 128 + got_signal;
	if (!ex && cfg->keys >= 100000)
		fprintf(stderr, "pkv-bench: loaded %" PRIu64 " keys in %.1f s\n", loaded,
			(double)(now_ns() - start) / 1e9);
	free(pids);
	munmap(res, size);
	return ex;
}

static int client_warmup(struct client *cl, uint64_t deadline)
{
	for (uint64_t i = 0; i < cl->cfg->warmup_ops; i++) {
		if (got_signal || now_ns() >= deadline)
			break;
		struct op op;
		const char *key = op_prepare(cl, &op);
		op_run(cl, key, &op);
		op_check(cl, key, &op);
		if (op.outcome == OP_ERROR && op.status == PKV_UNAVAILABLE) {
			note_message(cl->res, "warm-up", op.status);
			return op.status;
		}
	}
	return 0;
}

static void client_wait_go(struct bench_control *ctl)
{
	__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE) && !got_signal)
		sleep_ns(20000);
}

static void client_measure(struct client *cl)
{
	const struct bench_config *cfg = cl->cfg;
	struct client_result *res = cl->res;
	uint64_t start = now_ns();
	uint64_t deadline = start + (uint64_t)(cfg->seconds * 1e9);
	uint64_t prev = start; /* the last successful completion (kill-gap) */
	struct op op;

	res->start_ns = start;
	for (uint64_t i = 0; i < cfg->ops && !got_signal; i++) {
		const char *key = op_prepare(cl, &op);
		uint64_t t0 = now_ns();
		if (t0 >= deadline)
			break;
		op_run(cl, key, &op);
		uint64_t t1 = now_ns();
		op_check(cl, key, &op);
		client_record(cl, &op, t1 - t0);
		if (cl->done_ts && op.outcome == OP_OK) {
			if (t1 - prev > res->gap_max_ns) {
				res->gap_max_ns = t1 - prev;
				res->gap_at_ns = prev;
			}
			prev = t1;
			if (res->ndone < cl->cap)
				cl->done_ts[res->ndone++] = t1;
			else
				res->done_lost++;
		}
	}
	res->end_ns = now_ns();
	/* A writer stuck until the end has its pause counted too. */
	if (cl->done_ts && res->end_ns - prev > res->gap_max_ns) {
		res->gap_max_ns = res->end_ns - prev;
		res->gap_at_ns = prev;
	}
}

static void client_stats(struct client *cl, uint64_t *hits, uint64_t *misses)
{
	struct pkv_stats st;
	if (pkv_stats(cl->pkv, &st) == 0) {
		*hits = st.cache_hits;
		*misses = st.cache_misses;
	}
}

/* --- the bound workload ------------------------------------------------------ */

/*
 * The daemons a bound key must vanish from, found by the parent before the
 * clients fork: node1..nodeN with --cluster N, else the daemon's own node and
 * the nodes it lists as connected. Its own node is reached through the tool's
 * endpoint (it may be a socket outside the run dir), the others by name.
 */
static struct {
	unsigned n;
	int self; /* index of the tool's daemon, or -1: every node by name */
	char names[BOUND_NODES_MAX][PKV_NODE_NAME_MAX + 1];
} bound_nodes;

/* 0, or an exit status after saying why. */
static int bound_discover(const struct bench_config *cfg)
{
	struct pkv_node nodes[BOUND_NODES_MAX];
	struct pkv_client *c;
	int r;

	bound_nodes.n = 0;
	bound_nodes.self = -1;
	if (cfg->cluster) {
		for (unsigned i = 1; i <= cfg->cluster; i++)
			snprintf(bound_nodes.names[bound_nodes.n++], sizeof(bound_nodes.names[0]),
				 "node%u", i);
		return 0;
	}
	r = pkv_open(&c, cfg->endpoint);
	if (!r) {
		r = pkv_nodes(c, nodes, BOUND_NODES_MAX);
		pkv_close(c);
	}
	if (r < 0 || r >= PKV_NOT_FOUND) {
		fprintf(stderr, "pkv-bench: bound: cannot list the nodes: %s (%s)\n",
			pkv_strerror(r), pkv_errmsg());
		return BENCH_EX_UNAVAILABLE;
	}
	for (int i = 0; i < r && i < BOUND_NODES_MAX; i++) {
		if (!nodes[i].self && !nodes[i].connected)
			continue;
		if (nodes[i].self)
			bound_nodes.self = (int)bound_nodes.n;
		memcpy(bound_nodes.names[bound_nodes.n++], nodes[i].name, sizeof(nodes[i].name));
	}
	if (bound_nodes.self < 0) {
		fputs("pkv-bench: bound: the daemon does not list its own node\n", stderr);
		return BENCH_EX_UNAVAILABLE;
	}
	return 0;
}

static int bound_open(struct client *cl)
{
	cl->watch = calloc(bound_nodes.n, sizeof(*cl->watch));
	if (!cl->watch)
		return -ENOMEM;
	for (unsigned i = 0; i < bound_nodes.n; i++) {
		const char *ep = (int)i == bound_nodes.self ? cl->cfg->endpoint
							     : bound_nodes.names[i];
		int r = pkv_open(&cl->watch[i], ep);
		if (r) {
			char what[PKV_NODE_NAME_MAX + 16];
			snprintf(what, sizeof(what), "attach %s", bound_nodes.names[i]);
			note_message(cl->res, what, r);
			return r;
		}
	}
	return 0;
}

static void bound_close(struct client *cl)
{
	if (!cl->watch)
		return;
	for (unsigned i = 0; i < bound_nodes.n; i++)
		pkv_close(cl->watch[i]);
	free(cl->watch);
	cl->watch = NULL;
}

/*
 * Forks the process a key is bound to: it only waits. It ends when killed,
 * or at EOF on the pipe, so it never outlives the client that made it.
 * Returns its pid (the write end of the pipe in *wfd) or -errno.
 */
static pid_t bound_spawn(int *wfd)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		char c;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(fds[0]);
	*wfd = fds[1];
	return pid;
}

static void bound_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A get slice that ends by the deadline (at least 1 ms). */
static uint32_t bound_slice(uint64_t deadline)
{
	uint64_t now = now_ns(), left = deadline > now ? (deadline - now) / 1000000u : 0;
	return left >= BOUND_GET_TIMEOUT_MS ? BOUND_GET_TIMEOUT_MS : (uint32_t)left + 1u;
}

static void bound_fail(struct client *cl, struct op *op, int status, const char *what,
		       unsigned node)
{
	char buf[PKV_NODE_NAME_MAX + 64];
	op->status = status;
	op->outcome = OP_ERROR;
	snprintf(buf, sizeof(buf), "bound: %s %s", what, bound_nodes.names[node]);
	note_message(cl->res, buf, status);
}

/*
 * One iteration: put `key` bound to a fresh child, see it on every daemon,
 * SIGKILL the child and poll every daemon until each reports the key
 * absent. *lat is the time from the kill to the last absent answer.
 */
static void bound_run(struct client *cl, const char *key, struct op *op, uint64_t *lat)
{
	size_t ks = cl->cfg->key_size, vs = cl->cfg->value_size;
	struct pkv_get_opts go = cl->get_opts;
	bool gone[BOUND_NODES_MAX] = {false};
	unsigned left = bound_nodes.n;
	uint64_t deadline, t0, last = 0;
	int wfd = -1, r = PKV_TIMEOUT;
	pid_t child = bound_spawn(&wfd);

	op->kind = WL_BOUND;
	op->outcome = OP_OK;
	*lat = 0;
	if (child < 0) {
		op->status = child;
		op->outcome = OP_ERROR;
		note_message(cl->res, "bound: fork", child);
		return;
	}
	cl->put_opts.pid = child;
	op->status = pkv_put(cl->pkv, key, ks, cl->value, vs, &cl->put_opts, &cl->answer);
	if (op->status != PKV_OK) {
		op->outcome = OP_ERROR;
		note_message(cl->res, "bound: put", op->status);
		goto out;
	}
	if (!value_is(&cl->answer, cl->value, vs)) {
		op->outcome = OP_MISMATCH;
		goto out;
	}
	/* The clock starts once every daemon has learnt the key. */
	deadline = now_ns() + BOUND_LIMIT_NS;
	for (unsigned i = 0; i < bound_nodes.n; i++) {
		do {
			go.timeout_ms = bound_slice(deadline);
			r = pkv_get(cl->watch[i], key, ks, &go, &cl->answer);
		} while (r != PKV_OK && !got_signal && now_ns() < deadline);
		if (r != PKV_OK) {
			bound_fail(cl, op, r == PKV_NOT_FOUND ? PKV_TIMEOUT : r,
				   "key not visible on", i);
			goto out;
		}
		if (!value_is(&cl->answer, cl->value, vs)) {
			op->outcome = OP_MISMATCH;
			goto out;
		}
	}
	t0 = now_ns();
	bound_reap(child);
	child = 0;
	deadline = t0 + BOUND_LIMIT_NS;
	/* Tight: the figure is the removal latency, not the polling period. */
	while (left && !got_signal && now_ns() < deadline) {
		for (unsigned i = 0; i < bound_nodes.n; i++) {
			if (gone[i])
				continue;
			go.timeout_ms = bound_slice(deadline);
			r = pkv_get(cl->watch[i], key, ks, &go, &cl->answer);
			if (r == PKV_NOT_FOUND) {
				last = now_ns();
				gone[i] = true;
				left--;
			}
		}
	}
	if (left) {
		unsigned i = 0;
		while (gone[i])
			i++;
		bound_fail(cl, op, PKV_TIMEOUT, "key still present 10 s after the kill on", i);
		goto out;
	}
	op->status = PKV_OK;
	*lat = last - t0;
out:
	if (child > 0)
		bound_reap(child);
	close(wfd);
}

/*
 * Runs up to `iterations` until `deadline`. Measured (res->start_ns set):
 * records each one. Warm-up: returns the first failure as a setup status,
 * since a measured run could only repeat it; a refused binding (a daemon
 * without pid bindings) counts as an unavailable daemon.
 */
static int bound_measure(struct client *cl, uint64_t iterations, uint64_t deadline)
{
	const struct bench_config *cfg = cl->cfg;
	struct op op;
	uint64_t lat;

	for (uint64_t i = 0; i < iterations && !got_signal && now_ns() < deadline; i++) {
		const char *key = keygen_make(&cl->kg, 'b', cl->next_new++);
		value_make(cl->value, cfg->value_size, key, cfg->key_size, 'A');
		bound_run(cl, key, &op, &lat);
		if (cl->res->start_ns) {
			client_record(cl, &op, lat);
		} else if (op.outcome == OP_MISMATCH) {
			snprintf(cl->res->message, sizeof(cl->res->message),
				 "bound: warm-up: the answer is not the value written");
			return PKV_INVALID_VALUE;
		} else if (op.outcome == OP_ERROR) {
			return op.status == PKV_INVALID_VALUE ? PKV_UNAVAILABLE : op.status;
		}
	}
	return 0;
}

/* The body of a forked client. Never returns. */
static void client_main(const struct bench_config *cfg, enum workload wl, uint64_t nonce,
			pid_t pool_owner, struct bench_control *ctl, struct client_result *res, uint64_t *samples,
			uint64_t *done_ts, uint64_t cap)
{
	struct client cl = {
		.cfg = cfg,
		.workload = wl,
		.res = res,
		.samples = samples,
		.cap = cap,
		.rng = (random_u64() ^ nonce) | 1,
		.done_ts = done_ts,
	};
	char *key = malloc(cfg->key_size);
	char *pool_key = malloc(cfg->key_size);
	cl.value = malloc(cfg->value_size);
	cl.expect = malloc(cfg->value_size);
	uint64_t deadline = now_ns() + SETUP_LIMIT_NS;
	uint64_t hits0 = 0, misses0 = 0, hits1 = 0, misses1 = 0;
	int r;

	if (!key || !pool_key || !cl.value || !cl.expect) {
		res->setup_status = -ENOMEM;
		goto ready;
	}
	/* Touch the sample pages now, not inside the measured loop. */
	memset(samples, 0, cap * sizeof(*samples));
	if (done_ts)
		memset(done_ts, 0, cap * sizeof(*done_ts));
	keygen_init(&cl.kg, key, cfg->key_size, getpid(), nonce);
	keygen_init(&cl.pool, pool_key, cfg->key_size, pool_owner, nonce);
	cl.put_opts.bucket = cfg->bucket;
	cl.put_opts.bucket_len = strlen(cfg->bucket);
	cl.get_opts.bucket = cfg->bucket;
	cl.get_opts.bucket_len = strlen(cfg->bucket);

	r = pkv_open(&cl.pkv, cfg->endpoint);
	if (r) {
		res->setup_status = r;
		note_message(res, "attach", r);
		goto ready;
	}
	if (wl == WL_BOUND) {
		r = bound_open(&cl);
		if (r) {
			res->setup_status = r;
			goto ready;
		}
		/* Unmeasured iterations: res->start_ns is still 0. */
		res->setup_status = bound_measure(&cl, cfg->warmup_ops, deadline);
		goto ready;
	}
	r = client_warmup(&cl, deadline);
	if (r) {
		res->setup_status = r;
		goto ready;
	}
	/* Fresh keys of the measured loop follow those of the warm-up. */
	client_stats(&cl, &hits0, &misses0);
ready:
	client_wait_go(ctl);
	if (!res->setup_status && !got_signal && wl == WL_BOUND) {
		res->start_ns = now_ns();
		bound_measure(&cl, cfg->ops, res->start_ns + (uint64_t)(cfg->seconds * 1e9));
		res->end_ns = now_ns();
	} else if (!res->setup_status && !got_signal) {
		client_measure(&cl);
		client_stats(&cl, &hits1, &misses1);
		res->cache_hits = hits1 - hits0;
		res->cache_misses = misses1 - misses0;
	}
	res->done = 1;
	pkv_value_free(&cl.answer);
	bound_close(&cl);
	pkv_close(cl.pkv);
	free(key);
	free(pool_key);
	free(cl.value);
	free(cl.expect);
	_exit(res->setup_status ? 1 : 0);
}

/* --- the parent: phases, merging, percentiles ------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Number of sorted samples <= v. */
static uint64_t count_le(const uint64_t *s, uint64_t n, uint64_t v)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (s[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct sample_set {
	const uint64_t *samples; /* sorted */
	uint64_t n;
	double weight; /* ops this client ran per sample kept */
};

/*
 * The q-quantile across clients: the smallest latency v such that the
 * weighted share of samples <= v reaches q. Each client's samples weigh
 * ops/samples, so a client whose reservoir overflowed counts for all its ops.
 */
static uint64_t quantile(const struct sample_set *sets, unsigned nsets, uint64_t max, double q)
{
	double total = 0;
	for (unsigned i = 0; i < nsets; i++)
		total += (double)sets[i].n * sets[i].weight;
	if (total <= 0)
		return 0;
	double want = q * total;
	uint64_t lo = 0, hi = max;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		double have = 0;
		for (unsigned i = 0; i < nsets; i++)
			have += (double)count_le(sets[i].samples, sets[i].n, mid) * sets[i].weight;
		if (have >= want * (1 - 1e-12))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void phase_add_error(struct phase_result *pr, int code, uint64_t count)
{
	size_t n = sizeof(pr->errs) / sizeof(pr->errs[0]);
	for (size_t i = 0; i < n; i++) {
		if (pr->errs[i].count && pr->errs[i].code == code) {
			pr->errs[i].count += count;
			return;
		}
		if (!pr->errs[i].count) {
			pr->errs[i].code = code;
			pr->errs[i].count = count;
			return;
		}
	}
	pr->errs_other += count;
}

static void phase_merge(const struct bench_config *cfg, struct client_result *res,
			uint64_t *samples, uint64_t cap, struct phase_result *pr)
{
	struct sample_set *sets = calloc(cfg->clients, sizeof(*sets));
	uint64_t first = UINT64_MAX, last = 0;
	unsigned nsets = 0;

	for (unsigned i = 0; i < cfg->clients; i++) {
		struct client_result *r = &res[i];
		if (!r->done) {
			pr->failed_clients++;
			if (!pr->message[0])
				snprintf(pr->message, sizeof(pr->message),
					 "a client process died");
			continue;
		}
		if (r->setup_status) {
			pr->failed_clients++;
			if (!pr->setup_status)
				pr->setup_status = r->setup_status;
			if (!pr->message[0])
				snprintf(pr->message, sizeof(pr->message), "%s", r->message);
			continue;
		}
		if (r->message[0] && !pr->message[0])
			snprintf(pr->message, sizeof(pr->message), "%s", r->message);
		pr->ops += r->ops;
		pr->reads += r->reads;
		pr->writes += r->writes;
		pr->mismatches += r->mismatches;
		pr->unavailable += r->unavailable;
		pr->cache_hits += r->cache_hits;
		pr->cache_misses += r->cache_misses;
		for (int e = 0; e < ERR_SLOTS && r->errs[e].count; e++) {
			pr->errors += r->errs[e].count;
			phase_add_error(pr, r->errs[e].code, r->errs[e].count);
		}
		pr->errors += r->errs_other;
		pr->errs_other += r->errs_other;
		if (r->max_ns > pr->max)
			pr->max = r->max_ns;
		if (r->start_ns < first)
			first = r->start_ns;
		if (r->end_ns > last)
			last = r->end_ns;
		uint64_t *s = samples + (size_t)i * cap;
		qsort(s, r->nsamples, sizeof(*s), cmp_u64);
		if (sets && r->nsamples) {
			sets[nsets].samples = s;
			sets[nsets].n = r->nsamples;
			sets[nsets].weight = (double)r->ops / (double)r->nsamples;
			nsets++;
		}
	}
	pr->errors += pr->mismatches;
	if (last > first) {
		pr->elapsed_s = (double)(last - first) / 1e9;
		pr->ops_per_s = (double)pr->ops / pr->elapsed_s;
	}
	if (sets) {
		pr->p50 = quantile(sets, nsets, pr->max, 0.50);
		pr->p90 = quantile(sets, nsets, pr->max, 0.90);
		pr->p99 = quantile(sets, nsets, pr->max, 0.99);
		pr->p999 = quantile(sets, nsets, pr->max, 0.999);
	}
	free(sets);
}

/* --- kill-gap: the kill, the restart, the gaps ----------------------------- */

/* The daemon writer i attaches to: the nodes other than the victim in turn. */
static unsigned killgap_writer_node(const struct bench_config *cfg, unsigned i)
{
	unsigned node = i % (cfg->cluster - 1) + 1;
	return node >= cfg->victim ? node + 1 : node;
}

static void sleep_until(uint64_t t)
{
	while (!got_signal) {
		if (now_ns() >= t)
			return;
		struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
				      .tv_nsec = (long)(t % 1000000000ull)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

/*
 * The parent's part of a kill-gap run, from the start barrier on: SIGKILL
 * the victim after a third of the run, wait until it is gone, and with
 * --restart start it again after two thirds. The victim is signalled by its
 * pid directly (not through the script) so the kill time is known to the
 * microsecond.
 */
static void killgap_events(const struct bench_config *cfg, uint64_t go, struct phase_result *pr)
{
	uint64_t span = (uint64_t)(cfg->seconds * 1e9);

	pr->victim = cfg->victim;
	pr->go_ns = go;
	sleep_until(go + span / 3);
	if (got_signal)
		return;
	pid_t pid = devcluster_daemon_pid(cluster.run_dir, cfg->victim);
	if (!pid) {
		snprintf(pr->message, sizeof(pr->message), "kill-gap: node%u is not running",
			 cfg->victim);
		return;
	}
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	pr->kill_ns = now_ns();
	if (kill(pid, SIGKILL) < 0) {
		snprintf(pr->message, sizeof(pr->message), "kill-gap: kill node%u (pid %d): %s",
			 cfg->victim, (int)pid, strerror(errno));
		pr->kill_ns = 0;
		return;
	}
	while (devcluster_process_alive(pid) && now_ns() - pr->kill_ns < KILLGAP_VANISH_NS)
		sleep_ns(200000);
	if (!devcluster_process_alive(pid)) {
		pr->vanish_ns = now_ns();
		/* As `pkv-cluster kill` leaves it: no pid file for a dead daemon. */
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/node%u/pkvd.pid", cluster.run_dir, cfg->victim);
		unlink(path);
	}
	/* Wall clock too, to compare with the daemons' logs (UTC, ms). */
	struct tm tm;
	char when[32] = "";
	if (gmtime_r(&wall.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "pkv-bench: kill-gap: SIGKILLed node%u (pid %d) at %.3f s (%s.%03ld UTC)\n",
		cfg->victim, (int)pid, (double)(pr->kill_ns - go) / 1e9, when,
		wall.tv_nsec / 1000000);
	if (!cfg->restart)
		return;
	sleep_until(go + span / 3 * 2);
	if (got_signal)
		return;
	pr->restart_ns = now_ns();
	int r = cluster_script("start", cfg->victim);
	if (r) {
		fprintf(stderr, "pkv-bench: kill-gap: pkv-cluster start %u: %d\n", cfg->victim, r);
		pr->restart_ns = 0;
	}
}

/*
 * The longest interval between consecutive points of the sorted timeline t
 * that overlaps [at - window, at + window]; *from is where it begins,
 * relative to `at`.
 */
static uint64_t gap_near(const uint64_t *t, size_t n, uint64_t at, uint64_t window,
			int64_t *from)
{
	uint64_t lo = at > window ? at - window : 0;
	uint64_t hi = at + window, best = 0;

	for (size_t i = 1; i < n; i++) {
		if (t[i] < lo || t[i - 1] > hi)
			continue;
		if (t[i] - t[i - 1] > best) {
			best = t[i] - t[i - 1];
			*from = (int64_t)t[i - 1] - (int64_t)at;
		}
	}
	return best;
}

/* Whether the interval [a, b] overlaps the window around `at`. */
static bool near(uint64_t a, uint64_t b, uint64_t at, uint64_t window)
{
	return b + window >= at && a <= at + window;
}

/*
 * Merges the writers' completion times into one timeline (the start of the
 * first writer and the end of the last one bound it, so a stall that lasts
 * until the end counts) and finds the longest pause near the kill and the
 * restart; also each writer's own longest pause.
 */
static void killgap_merge(const struct bench_config *cfg, const struct client_result *res,
			  const uint64_t *done_ts, uint64_t cap, struct phase_result *pr)
{
	uint64_t total = 0, first = UINT64_MAX, last = 0;

	pr->nwriters = cfg->clients;
	for (unsigned i = 0; i < cfg->clients; i++) {
		const struct client_result *r = &res[i];
		pr->writer_node[i] = r->node;
		if (!r->done || r->setup_status)
			continue;
		total += r->ndone;
		pr->done_lost += r->done_lost;
		first = r->start_ns < first ? r->start_ns : first;
		last = r->end_ns > last ? r->end_ns : last;
		pr->writer_gap[i] = r->gap_max_ns;
		if (pr->kill_ns)
			pr->writer_gap_from_kill[i] = (int64_t)r->gap_at_ns - (int64_t)pr->kill_ns;
		if (r->gap_max_ns > pr->writer_gap_max_ns)
			pr->writer_gap_max_ns = r->gap_max_ns;
	}
	if (!pr->kill_ns || first == UINT64_MAX)
		return;
	uint64_t *all = malloc((size_t)(total + 2) * sizeof(*all));
	if (!all)
		return;
	size_t n = 0;
	all[n++] = first;
	all[n++] = last;
	for (unsigned i = 0; i < cfg->clients; i++) {
		if (!res[i].done || res[i].setup_status)
			continue;
		memcpy(all + n, done_ts + (size_t)i * cap, res[i].ndone * sizeof(*all));
		n += res[i].ndone;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	/* The reference: pauses the machine makes anyway, away from the events. */
	for (size_t i = 1; i < n; i++) {
		if (near(all[i - 1], all[i], pr->kill_ns, cfg->window_ns) ||
		    (pr->restart_ns && near(all[i - 1], all[i], pr->restart_ns, cfg->window_ns)))
			continue;
		if (all[i] - all[i - 1] > pr->steady_gap_ns)
			pr->steady_gap_ns = all[i] - all[i - 1];
	}
	/* Where the long pauses are: a kill's, or the daemons' own (e.g. a rehash). */
	for (size_t i = 1; i < n; i++) {
		uint64_t g = all[i] - all[i - 1];
		int k = KILLGAP_TOP;
		while (k > 0 && g > pr->top_gap[k - 1])
			k--;
		if (k == KILLGAP_TOP)
			continue;
		memmove(&pr->top_gap[k + 1], &pr->top_gap[k],
			(KILLGAP_TOP - 1 - (size_t)k) * sizeof(pr->top_gap[0]));
		memmove(&pr->top_gap_from_kill[k + 1], &pr->top_gap_from_kill[k],
			(KILLGAP_TOP - 1 - (size_t)k) * sizeof(pr->top_gap_from_kill[0]));
		pr->top_gap[k] = g;
		pr->top_gap_from_kill[k] = (int64_t)all[i - 1] - (int64_t)pr->kill_ns;
	}
	pr->window_ns = cfg->window_ns;
	pr->write_gap_ns =
		gap_near(all, n, pr->kill_ns, cfg->window_ns, &pr->write_gap_from_kill_ns);
	if (pr->restart_ns)
		pr->restart_gap_ns = gap_near(all, n, pr->restart_ns, cfg->window_ns,
					      &pr->restart_gap_from_restart_ns);
	free(all);
}

/* Each running daemon's `paxos:` counters, on stderr: what the kill cost. */
static void cluster_print_paxos_stats(unsigned n)
{
	for (unsigned i = 1; i <= n; i++) {
		char name[16], *text = NULL;
		struct pkv_client *c;
		snprintf(name, sizeof(name), "node%u", i);
		if (!devcluster_daemon_pid(cluster.run_dir, i) || pkv_open(&c, name))
			continue;
		if (pkv_node_stats(c, &text) == 0 && text) {
			char *nl = strchr(text, '\n');
			if (nl)
				*nl = 0;
			fprintf(stderr, "pkv-bench: %s %s\n", name, text);
		}
		free(text);
		pkv_close(c);
	}
}

/*
 * bound's own defaults: an iteration takes milliseconds, not microseconds, so
 * it runs --ops iterations (200 if not given) without the 5 s cut, after one
 * warm-up iteration.
 */
static const struct bench_config *phase_config(struct bench_config *pc,
					       const struct bench_config *cfg, enum workload wl)
{
	*pc = *cfg;
	/* kill-gap is a run of fixed length around the kill, whatever --ops says. */
	if (wl == WL_KILL_GAP && !pc->seconds_given)
		pc->seconds = KILLGAP_DEFAULT_SECONDS;
	if (wl != WL_BOUND)
		return pc;
	if (!pc->ops_given)
		pc->ops = BOUND_DEFAULT_OPS;
	if (!pc->seconds_given)
		pc->seconds = OPS_ONLY_LIMIT_S;
	if (!pc->warmup_given)
		pc->warmup_ops = 1;
	return pc;
}

/* Runs one workload with all clients; 0 or an exit status. */
static int phase_run(const struct bench_config *main_cfg, enum workload wl,
		     struct phase_result *pr)
{
	struct bench_config phase_cfg;
	const struct bench_config *cfg = phase_config(&phase_cfg, main_cfg, wl);
	uint64_t cap = cfg->ops < SAMPLES_MAX ? cfg->ops : SAMPLES_MAX;
	size_t head = sizeof(struct bench_control) + cfg->clients * sizeof(struct client_result);
	head = (head + 4095) & ~(size_t)4095;
	/* kill-gap keeps each success's completion time too, after the samples. */
	size_t arrays = wl == WL_KILL_GAP ? 2 : 1;
	size_t size = head + arrays * (size_t)cfg->clients * cap * sizeof(uint64_t);
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "pkv-bench: cannot map %zu bytes for samples: %s\n", size,
			strerror(errno));
		return BENCH_EX_UNAVAILABLE;
	}
	struct bench_control *ctl = map;
	struct client_result *res = (struct client_result *)(ctl + 1);
	uint64_t *samples = (uint64_t *)((char *)map + head);
	uint64_t *done_ts = wl == WL_KILL_GAP ? samples + (size_t)cfg->clients * cap : NULL;
	pid_t *pids = calloc(cfg->clients, sizeof(*pids));
	uint64_t nonce = random_u64() % (62 * 62 * 62);
	unsigned started = 0, reaped = 0;
	int ex = 0;

	memset(pr, 0, sizeof(*pr));
	pr->workload = wl;
	pr->clients = cfg->clients;
	if (!pids) {
		munmap(map, size);
		return BENCH_EX_UNAVAILABLE;
	}
	/* kill-gap: a store of --keys keys when the kill comes (a sweep costs O(keys)). */
	if (wl == WL_PUT_EXISTING || wl == WL_GET_HIT || wl == WL_MIXED ||
	    (wl == WL_KILL_GAP && cfg->keys_given)) {
		ex = pool_load(cfg, nonce);
		if (ex) {
			free(pids);
			munmap(map, size);
			return ex;
		}
	}
	fflush(NULL);
	for (; started < cfg->clients; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "pkv-bench: fork: %s\n", strerror(errno));
			ex = BENCH_EX_UNAVAILABLE;
			break;
		}
		if (pid == 0) {
			struct bench_config wc = *cfg;
			char ep[16];
			if (wl == WL_KILL_GAP) {
				/* Writers spread over the daemons that survive. */
				res[started].node = killgap_writer_node(cfg, started);
				snprintf(ep, sizeof(ep), "node%u", res[started].node);
				wc.endpoint = ep;
			}
			client_main(&wc, wl, nonce, getppid(), ctl, &res[started],
				    samples + (size_t)started * cap,
				    done_ts ? done_ts + (size_t)started * cap : NULL, cap);
		}
		pids[started] = pid;
	}
	/* Start barrier: every client ready (or gone), then all go at once. */
	while (!ex && !got_signal &&
	       __atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) + reaped < started) {
		int status;
		for (unsigned i = 0; i < started; i++) {
			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pids[i] = -pids[i];
				reaped++;
			}
		}
		sleep_ns(1000000);
	}
	uint64_t go = now_ns();
	__atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
	if (!ex && !got_signal && wl == WL_KILL_GAP)
		killgap_events(cfg, go, pr);
	if (ex || got_signal)
		kill_children(pids, started);
	for (unsigned i = 0; i < started; i++) {
		if (pids[i] <= 0)
			continue;
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {
			if (got_signal)
				kill_children(pids, started);
		}
	}
	if (got_signal && !ex)
		ex = 128 + got_signal;
	if (!ex)
		phase_merge(cfg, res, samples, cap, pr);
	if (!ex && wl == WL_KILL_GAP)
		killgap_merge(cfg, res, done_ts, cap, pr);
	free(pids);
	munmap(map, size);
	return ex;
}

/* --- daemon memory (--report-rss) ------------------------------------------ */

/* One daemon's memory and key count at one moment. */
struct rss_snap {
	pid_t pid; /* 0: not running */
	bool have_entries;
	uint64_t vmrss, anon, file, shmem; /* bytes, from /proc/PID/status */
	uint64_t entries;		   /* the store's entries= (`pkv stats`) */
};

static struct {
	unsigned n;
	struct rss_snap before[64], after[64];
} rss;

#define RSS_SETTLE_NS 300000000l
#define RSS_SETTLE_LIMIT_NS (30ull * 1000000000ull)

static uint64_t status_kib(const char *text, const char *field)
{
	const char *p = strstr(text, field);
	return p ? strtoull(p + strlen(field), NULL, 10) * 1024u : 0;
}

/* The entries= field of the daemon's `paxos:` stats line. */
static bool daemon_entries(unsigned node, uint64_t *entries)
{
	char name[16], *text = NULL;
	struct pkv_client *c;
	bool ok = false;
	snprintf(name, sizeof(name), "node%u", node);
	if (pkv_open(&c, name))
		return false;
	if (pkv_node_stats(c, &text) == 0 && text) {
		/* " entries=": not cache_entries= of the local: line */
		const char *p = strstr(text, " entries=");
		if (p) {
			*entries = strtoull(p + 9, NULL, 10);
			ok = true;
		}
	}
	free(text);
	pkv_close(c);
	return ok;
}

static void rss_take(struct rss_snap *snaps)
{
	for (unsigned i = 1; i <= rss.n; i++) {
		struct rss_snap *r = &snaps[i - 1];
		char path[64], text[4096];
		*r = (struct rss_snap){.pid = devcluster_daemon_pid(cluster.run_dir, i)};
		if (!r->pid)
			continue;
		r->have_entries = daemon_entries(i, &r->entries);
		snprintf(path, sizeof(path), "/proc/%d/status", (int)r->pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0) {
			r->pid = 0;
			continue;
		}
		text[n] = 0;
		r->vmrss = status_kib(text, "VmRSS:");
		r->anon = status_kib(text, "RssAnon:");
		r->file = status_kib(text, "RssFile:");
		r->shmem = status_kib(text, "RssShmem:");
	}
}

/*
 * Waits until no daemon's key count changes over RSS_SETTLE_NS (at most
 * RSS_SETTLE_LIMIT_NS): a daemon outside the majority that answered the last
 * rounds may still be applying their messages when the clients are done.
 */
static void rss_settle(void)
{
	uint64_t prev[64] = {0}, start = now_ns();
	bool first = true;
	while (!got_signal && now_ns() - start < RSS_SETTLE_LIMIT_NS) {
		bool same = true;
		for (unsigned i = 1; i <= rss.n; i++) {
			uint64_t e = 0;
			daemon_entries(i, &e);
			same = same && e == prev[i - 1];
			prev[i - 1] = e;
		}
		if (same && !first)
			return;
		first = false;
		sleep_ns(RSS_SETTLE_NS);
	}
}

/* Bytes per key added; false when it cannot be said (no keys added, a restart). */
static bool per_key(uint64_t before, uint64_t after, const struct rss_snap *b,
		    const struct rss_snap *a, double *out)
{
	if (!a->pid || a->pid != b->pid || !a->have_entries || !b->have_entries ||
	    a->entries <= b->entries)
		return false;
	*out = ((double)after - (double)before) / (double)(a->entries - b->entries);
	return true;
}

static void json_per_key(FILE *f, const char *name, uint64_t before, uint64_t after,
			 const struct rss_snap *b, const struct rss_snap *a)
{
	double pk;
	if (per_key(before, after, b, a, &pk))
		fprintf(f, ", \"%s\": %.1f", name, pk);
	else
		fprintf(f, ", \"%s\": null", name);
}

static void print_rss_text(const struct bench_config *cfg)
{
	printf("memory: each daemon's /proc/PID/status before -> after; per key: the growth over "
	       "the keys it added (entries=); target under %zu B/key\n",
	       2 * (cfg->key_size + cfg->value_size) + 128);
	for (unsigned i = 0; i < rss.n; i++) {
		const struct rss_snap *b = &rss.before[i], *a = &rss.after[i];
		if (!a->pid || a->pid != b->pid) {
			printf("  node%u  not the same daemon before and after\n", i + 1);
			continue;
		}
		printf("  node%u  keys %" PRIu64 " -> %" PRIu64 "\n", i + 1, b->entries,
		       a->entries);
		const struct {
			const char *name;
			uint64_t b, a;
		} rows[] = {
			{"VmRSS", b->vmrss, a->vmrss},
			{"RssAnon", b->anon, a->anon},
			{"RssShmem", b->shmem, a->shmem},
			{"RssFile", b->file, a->file},
		};
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
			double pk;
			printf("    %-9s %9.1f -> %9.1f MiB", rows[k].name,
			       (double)rows[k].b / 1048576.0, (double)rows[k].a / 1048576.0);
			if (per_key(rows[k].b, rows[k].a, b, a, &pk))
				printf("  %8.1f B/key\n", pk);
			else
				putchar('\n');
		}
	}
}

static void print_rss_json(FILE *f)
{
	fputs(", \"rss\": [", f);
	for (unsigned i = 0; i < rss.n; i++) {
		const struct rss_snap *b = &rss.before[i], *a = &rss.after[i];
		bool same = a->pid && a->pid == b->pid;
		fprintf(f,
			"%s{\"node\": %u, \"pid\": %d, \"keys_before\": %" PRIu64
			", \"keys_after\": %" PRIu64 ", \"vmrss_before\": %" PRIu64
			", \"vmrss_after\": %" PRIu64 ", \"rss_anon_before\": %" PRIu64
			", \"rss_anon_after\": %" PRIu64 ", \"rss_shmem_before\": %" PRIu64
			", \"rss_shmem_after\": %" PRIu64 ", \"rss_file_before\": %" PRIu64
			", \"rss_file_after\": %" PRIu64,
			i ? ", " : "", i + 1, same ? (int)a->pid : 0, b->entries, a->entries,
			b->vmrss, a->vmrss, b->anon, a->anon, b->shmem, a->shmem, b->file, a->file);
		json_per_key(f, "bytes_per_key", b->vmrss, a->vmrss, b, a);
		json_per_key(f, "anon_bytes_per_key", b->anon, a->anon, b, a);
		json_per_key(f, "shmem_bytes_per_key", b->shmem, a->shmem, b, a);
		fputs("}", f);
	}
	fputs("]", f);
}

/* --- reports ----------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static double rel_s(uint64_t t, uint64_t origin)
{
	return t ? ((double)t - (double)origin) / 1e9 : 0;
}

static void json_killgap(FILE *f, const struct phase_result *pr)
{
	fprintf(f,
		", \"victim\": %u, \"gap_window_ms\": %.0f, \"kill_at_s\": %.3f"
		", \"vanish_ms\": %.3f"
		", \"restart_at_s\": %.3f, \"write_gap_ns\": %" PRIu64
		", \"write_gap_from_kill_ns\": %" PRId64 ", \"restart_gap_ns\": %" PRIu64
		", \"restart_gap_from_restart_ns\": %" PRId64 ", \"writer_gap_max_ns\": %" PRIu64
		", \"steady_gap_ns\": %" PRIu64
		", \"completions_lost\": %" PRIu64 ", \"writer_gaps_ns\": [",
		pr->victim, (double)pr->window_ns / 1e6, rel_s(pr->kill_ns, pr->go_ns),
		pr->vanish_ns ? (double)(pr->vanish_ns - pr->kill_ns) / 1e6 : 0,
		rel_s(pr->restart_ns, pr->go_ns), pr->write_gap_ns, pr->write_gap_from_kill_ns,
		pr->restart_gap_ns, pr->restart_gap_from_restart_ns, pr->writer_gap_max_ns,
		pr->steady_gap_ns, pr->done_lost);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%" PRIu64, i ? ", " : "", pr->writer_gap[i]);
	fputs("], \"top_gaps_ns\": [", f);
	for (unsigned i = 0; i < KILLGAP_TOP && pr->top_gap[i]; i++)
		fprintf(f, "%s[%" PRIu64 ", %" PRId64 "]", i ? ", " : "", pr->top_gap[i],
			pr->top_gap_from_kill[i]);
	fputs("], \"writer_gaps_from_kill_ns\": [", f);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%" PRId64, i ? ", " : "", pr->writer_gap_from_kill[i]);
	fputs("], \"writer_nodes\": [", f);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%u", i ? ", " : "", pr->writer_node[i]);
	fputs("]", f);
}

static void json_phase(FILE *f, const struct bench_config *cfg, const struct phase_result *pr)
{
	fputs("{\"workload\": ", f);
	json_string(f, workload_names[pr->workload]);
	fprintf(f,
		", \"clients\": %u, \"key_size\": %zu, \"value_size\": %zu, \"bucket\": ",
		pr->clients, cfg->key_size, cfg->value_size);
	json_string(f, cfg->bucket);
	if (pr->workload == WL_MIXED)
		fprintf(f, ", \"read_share\": %u", cfg->read_share);
	if (pr->workload == WL_BOUND)
		fprintf(f, ", \"daemons\": %u", bound_nodes.n);
	if (pr->workload == WL_KILL_GAP)
		json_killgap(f, pr);
	fprintf(f,
		", \"ops\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"writes\": %" PRIu64
		", \"errors\": %" PRIu64 ", \"mismatches\": %" PRIu64 ", \"errors_by_code\": {",
		pr->ops, pr->reads, pr->writes, pr->errors, pr->mismatches);
	bool first = true;
	for (size_t i = 0; i < sizeof(pr->errs) / sizeof(pr->errs[0]) && pr->errs[i].count; i++) {
		fputs(first ? "" : ", ", f);
		json_string(f, pkv_strerror(pr->errs[i].code));
		fprintf(f, ": %" PRIu64, pr->errs[i].count);
		first = false;
	}
	if (pr->errs_other)
		fprintf(f, "%s\"other\": %" PRIu64, first ? "" : ", ", pr->errs_other);
	fprintf(f,
		"}, \"elapsed_s\": %.3f, \"ops_per_s\": %.1f, \"p50_ns\": %" PRIu64
		", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64
		", \"max_ns\": %" PRIu64 ", \"cache_hits\": %" PRIu64 ", \"cache_misses\": %" PRIu64
		"}",
		pr->elapsed_s, pr->ops_per_s, pr->p50, pr->p90, pr->p99, pr->p999, pr->max,
		pr->cache_hits, pr->cache_misses);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void print_json(const struct bench_config *cfg, const struct phase_result *main_pr,
		       const struct phase_result *base)
{
	/* The main phase's fields at the top level, then baseline and ratios. */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	json_phase(m, cfg, main_pr);
	fclose(m);
	if (len > 0)
		buf[len - 1] = 0; /* drop the closing brace */
	fputs(buf, stdout);
	free(buf);
	if (base) {
		fputs(", \"baseline\": ", stdout);
		json_phase(stdout, cfg, base);
		printf(", \"ratios\": {\"ops_per_s\": %.6g, \"p50\": %.6g, \"p99\": %.6g}",
		       ratio(main_pr->ops_per_s, base->ops_per_s),
		       ratio((double)main_pr->p50, (double)base->p50),
		       ratio((double)main_pr->p99, (double)base->p99));
		if (cfg->baseline_daemon_args) {
			const char *env = getenv("PKVD_ARGS");
			fputs(", \"baseline_daemon_args\": ", stdout);
			json_string(stdout, cfg->baseline_daemon_args);
			fputs(", \"daemon_args\": ", stdout);
			json_string(stdout, env ? env : "");
		}
	}
	if (cfg->report_rss)
		print_rss_json(stdout);
	fputs("}\n", stdout);
}

static void print_killgap(const struct phase_result *pr)
{
	printf("  kill         node%u SIGKILLed at %.3f s", pr->victim,
	       rel_s(pr->kill_ns, pr->go_ns));
	if (pr->vanish_ns)
		printf(" (gone %.2f ms later)", (double)(pr->vanish_ns - pr->kill_ns) / 1e6);
	if (pr->restart_ns)
		printf(", started again at %.3f s", rel_s(pr->restart_ns, pr->go_ns));
	printf("\n  write gap    %.2f ms, from %+.2f ms after the kill"
	       " (all writers, within %.0f ms of it)\n",
	       (double)pr->write_gap_ns / 1e6, (double)pr->write_gap_from_kill_ns / 1e6,
	       (double)pr->window_ns / 1e6);
	if (pr->restart_ns)
		printf("  restart gap  %.2f ms, from %+.2f ms after the restart\n",
		       (double)pr->restart_gap_ns / 1e6,
		       (double)pr->restart_gap_from_restart_ns / 1e6);
	printf("  steady gap   %.2f ms (all writers, more than %.0f ms from the kill%s)\n",
	       (double)pr->steady_gap_ns / 1e6, (double)pr->window_ns / 1e6,
	       pr->restart_ns ? " and the restart" : "");
	printf("  top pauses  ");
	for (unsigned i = 0; i < KILLGAP_TOP && pr->top_gap[i]; i++)
		printf("%s %.2f ms at %+.0f ms", i ? "," : "", (double)pr->top_gap[i] / 1e6,
		       (double)pr->top_gap_from_kill[i] / 1e6);
	printf(" (all writers, the whole run; offsets from the kill)\n");
	printf("  writer gaps  max %.2f ms; each writer's longest pause"
	       " (ms, node, start after the kill):\n",
	       (double)pr->writer_gap_max_ns / 1e6);
	for (unsigned i = 0; i < pr->nwriters; i++)
		printf("%s%.2f@node%u%+.0f%s", i % 6 ? "  " : "    ",
		       (double)pr->writer_gap[i] / 1e6, pr->writer_node[i],
		       (double)pr->writer_gap_from_kill[i] / 1e6,
		       i % 6 == 5 || i + 1 == pr->nwriters ? "\n" : "");
	if (pr->done_lost)
		printf("  (%" PRIu64 " completion times past the capacity were not kept)\n",
		       pr->done_lost);
}

static void print_text(const struct bench_config *cfg, const struct phase_result *pr)
{
	printf("%s: %u client%s, key %zu B, value %zu B, bucket %s", workload_names[pr->workload],
	       pr->clients, pr->clients == 1 ? "" : "s", cfg->key_size, cfg->value_size,
	       cfg->bucket);
	if (pr->workload == WL_MIXED)
		printf(", %u%% reads", cfg->read_share);
	if (pr->workload == WL_BOUND)
		printf(", %u daemons; latency: from the kill to the key absent on all", bound_nodes.n);
	if (pr->workload == WL_KILL_GAP)
		printf(", put-new writers on every daemon but node%u", pr->victim);
	printf("\n  ops          %" PRIu64 " in %.2f s", pr->ops, pr->elapsed_s);
	if (pr->workload == WL_MIXED)
		printf(" (%" PRIu64 " reads, %" PRIu64 " writes)", pr->reads, pr->writes);
	printf("\n  ops/s        %.0f\n", pr->ops_per_s);
	printf("  latency µs   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
	       (double)pr->p50 / 1e3, (double)pr->p90 / 1e3, (double)pr->p99 / 1e3,
	       (double)pr->p999 / 1e3, (double)pr->max / 1e3);
	if (pr->cache_hits || pr->cache_misses)
		printf("  cache        %" PRIu64 " hits, %" PRIu64 " misses\n", pr->cache_hits,
		       pr->cache_misses);
	printf("  errors       %" PRIu64 "\n", pr->errors);
	for (size_t i = 0; i < sizeof(pr->errs) / sizeof(pr->errs[0]) && pr->errs[i].count; i++)
		printf("    %-20s %" PRIu64 "\n", pkv_strerror(pr->errs[i].code),
		       pr->errs[i].count);
	if (pr->errs_other)
		printf("    %-20s %" PRIu64 "\n", "other", pr->errs_other);
	if (pr->mismatches)
		printf("    %-20s %" PRIu64 "\n", "value mismatch", pr->mismatches);
	if (pr->workload == WL_KILL_GAP)
		print_killgap(pr);
}

static void print_ratios(const struct phase_result *main_pr, const struct phase_result *base)
{
	printf("%s / %s: ops/s x%.3f, p50 x%.3f, p99 x%.3f\n", workload_names[main_pr->workload],
	       workload_names[base->workload], ratio(main_pr->ops_per_s, base->ops_per_s),
	       ratio((double)main_pr->p50, (double)base->p50),
	       ratio((double)main_pr->p99, (double)base->p99));
}

/* --- main -------------------------------------------------------------------- */

/* Checks the daemon answers and has quorum before forking the clients. */
static int preflight(const struct bench_config *cfg)
{
	struct pkv_client *c;
	const char *where = cfg->endpoint ? cfg->endpoint : "the default daemon";
	int r = pkv_open(&c, cfg->endpoint);
	if (r) {
		fprintf(stderr, "pkv-bench: cannot attach to %s: %s (%s)\n", where,
			pkv_strerror(r), pkv_errmsg());
		return BENCH_EX_UNAVAILABLE;
	}
	r = pkv_wait_for_quorum(c, QUORUM_WAIT_MS);
	if (r) {
		fprintf(stderr, "pkv-bench: %s cannot serve: %s (%s)\n", where, pkv_strerror(r),
			pkv_errmsg());
		pkv_close(c);
		return BENCH_EX_UNAVAILABLE;
	}
	/* Clients open their own handles after fork, so this one goes first. */
	pkv_close(c);
	return 0;
}

/* 0, or an exit status after saying why the phase cannot be reported. */
static int phase_verdict(const struct phase_result *pr)
{
	if (pr->failed_clients) {
		fprintf(stderr, "pkv-bench: %s: %u of %u clients failed: %s\n",
			workload_names[pr->workload], pr->failed_clients, pr->clients,
			pr->message[0] ? pr->message : "unknown");
		return pr->setup_status == PKV_INVALID_VALUE ? BENCH_EX_MISMATCH
							     : BENCH_EX_UNAVAILABLE;
	}
	if (pr->workload == WL_KILL_GAP && !pr->kill_ns && !got_signal) {
		fprintf(stderr, "pkv-bench: kill-gap: the victim was not killed: %s\n",
			pr->message);
		return BENCH_EX_UNAVAILABLE;
	}
	if (!pr->ops && pr->unavailable) {
		fprintf(stderr, "pkv-bench: %s: the daemon became unavailable: %s\n",
			workload_names[pr->workload], pr->message);
		return BENCH_EX_UNAVAILABLE;
	}
	if (pr->errors && pr->message[0])
		fprintf(stderr, "pkv-bench: %s: first failure: %s\n",
			workload_names[pr->workload], pr->message);
	return 0;
}

/* Runs one phase and says why it cannot be reported: 0 or an exit status. */
static int phase_checked(const struct bench_config *cfg, enum workload wl, struct phase_result *pr)
{
	int ex = phase_run(cfg, wl, pr);
	return ex ? ex : phase_verdict(pr);
}

/*
 * --baseline-daemon-args: the baseline phase on a cluster of its own, whose
 * daemons get other arguments; it is taken down before the main run's.
 */
static int baseline_on_other_daemons(const struct bench_config *cfg, struct phase_result *base)
{
	const char *env = getenv("PKVD_ARGS");
	char *saved = env ? strdup(env) : NULL;
	if (env && !saved)
		return BENCH_EX_UNAVAILABLE;
	setenv("PKVD_ARGS", cfg->baseline_daemon_args, 1);
	fprintf(stderr, "pkv-bench: baseline: daemons with PKVD_ARGS='%s'\n",
		cfg->baseline_daemon_args);
	int ex = cluster_up(cfg->cluster);
	if (saved) {
		setenv("PKVD_ARGS", saved, 1);
		free(saved);
	} else {
		unsetenv("PKVD_ARGS");
	}
	if (!ex)
		ex = preflight(cfg);
	if (!ex && cfg->baseline == WL_BOUND)
		ex = bound_discover(cfg);
	if (!ex)
		ex = phase_checked(cfg, cfg->baseline, base);
	cluster_down();
	return ex;
}

static int bench(const struct bench_config *cfg)
{
	struct phase_result base, main_pr;
	int ex;

	if (cfg->baseline_daemon_args) {
		ex = baseline_on_other_daemons(cfg, &base);
		if (ex)
			return ex;
	}
	if (cfg->cluster) {
		cluster.keep = cfg->keep_run_dir;
		ex = cluster_up(cfg->cluster);
		if (ex)
			return ex;
	}
	ex = preflight(cfg);
	if (!ex && (cfg->workload == WL_BOUND ||
		    (cfg->baseline == WL_BOUND && !cfg->baseline_daemon_args)))
		ex = bound_discover(cfg);
	if (ex)
		return ex;
	if (cfg->report_rss) {
		rss.n = cfg->cluster;
		rss_take(rss.before);
	}
	if (cfg->baseline && !cfg->baseline_daemon_args) {
		ex = phase_checked(cfg, cfg->baseline, &base);
		if (ex)
			return ex;
	}
	ex = phase_checked(cfg, cfg->workload, &main_pr);
	if (!ex && cfg->workload == WL_KILL_GAP)
		cluster_print_paxos_stats(cfg->cluster);
	if (!ex && cfg->report_rss) {
		rss_settle();
		rss_take(rss.after);
	}
	if (ex)
		return ex;
	if (cfg->json) {
		print_json(cfg, &main_pr, cfg->baseline ? &base : NULL);
	} else {
		if (cfg->baseline) {
			print_text(cfg, &base);
			print_text(cfg, &main_pr);
			if (cfg->baseline_daemon_args) {
				const char *env = getenv("PKVD_ARGS");
				printf("daemons: baseline PKVD_ARGS='%s', main PKVD_ARGS='%s'\n",
				       cfg->baseline_daemon_args, env ? env : "");
			}
			print_ratios(&main_pr, &base);
		} else {
			print_text(cfg, &main_pr);
		}
		if (cfg->report_rss)
			print_rss_text(cfg);
	}
	fflush(stdout);
	if (main_pr.mismatches || (cfg->baseline && base.mismatches))
		return BENCH_EX_MISMATCH;
	return BENCH_EX_OK;
}

int main(int argc, char **argv)
{
	struct bench_config cfg;
	int ex = parse_args(argc, argv, &cfg);
	if (ex)
		return ex;

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking waitpid returns EINTR so the signal is seen. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	atexit(cluster_down);

	ex = bench(&cfg);
	cluster_down();
	if (got_signal) {
		fprintf(stderr, "pkv-bench: interrupted\n");
		return 128 + got_signal;
	}
	return ex;
}
