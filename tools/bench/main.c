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
 * This file: the options, the phases in order (a baseline first, on its own
 * dev cluster with --baseline-daemon-args or --baseline-pkvd), the verdicts
 * and the exit status; bench.h says which file holds the rest.
 *
 * Exit status: 0 ok, 1 a value did not verify, 64 usage, 69 daemon
 * unavailable (or the dev cluster did not start).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrandom; the build passes it too */
#endif
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bench.h"
#include "stats.h"
#include "paxoskv.h"

const char *const workload_names[] = {
	[WL_NONE] = "none",
	[WL_PUT_NEW] = "put-new",
	[WL_PUT_EXISTING] = "put-existing",
	[WL_GET_HIT] = "get-hit",
	[WL_GET_MISS] = "get-miss",
	[WL_MIXED] = "mixed",
	[WL_BOUND] = "bound",
	[WL_KILL_GAP] = "kill-gap",
};

volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

uint64_t random_u64(void)
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
	      "  --baseline-pkvd PATH\n"
	      "                      with --cluster: run the baseline (the same workload unless\n"
	      "                      --baseline says) first on a dev cluster of the pkvd binary\n"
	      "                      PATH (e.g. an older build's pkvd); then the\n"
	      "                      main run on a fresh cluster of this build's pkvd (or $PKVD)\n"
	      "  --victim I          kill-gap: the node to kill (default the last)\n"
	      "  --restart           kill-gap: start the victim again after two thirds of the run\n"
	      "  --gap-window MS     kill-gap: look for the write gap within MS of the kill\n"
	      "                      (and of the restart; default 1000)\n"
	      "  --report-rss        with --cluster: each daemon's resident memory before and\n"
	      "                      after the run, and bytes per key added\n"
	      "  --keep-run-dir      with --cluster: keep the run dir (daemon logs) after the run\n"
	      "  --voters V          with --cluster N: a fleet, node1..nodeV vote and the others\n"
	      "                      are observers (pkv-cluster up N --voters V)\n"
	      "  --baseline-node NODE\n"
	      "                      run the baseline (the same workload unless --baseline says)\n"
	      "                      first on the same daemons through NODE, then the main run\n"
	      "                      through -n NODE: e.g. a put from an observer against one\n"
	      "                      from a voter\n"
	      "  --report-fleet      with --cluster: node1's (a voter's) datagrams/s and CPU at\n"
	      "                      idle (3 s before the phases) and during the main phase, and\n"
	      "                      the last node's (an observer's) idle memory; text only\n"
	      "  --fdatasync-floor S after the run, S seconds of 4 KiB append + fdatasync in the\n"
	      "                      cluster's run dir (TMPDIR, else /tmp; else the current dir):\n"
	      "                      the disk's floor, and each phase's p50 against it; and in\n"
	      "                      alternating rounds the co-located floor: W writers, each\n"
	      "                      its own file there, 4 KiB + fdatasync from a common start,\n"
	      "                      a round lasting until the last sync returns\n"
	      "  --floor-writers W   W of the co-located floor, 1..64 (default: the voters of\n"
	      "                      --cluster N, else of the run dir's cluster, else 3)\n"
	      "  --wakeup-floor S    after the run, S seconds (a fifth each) of the machine's\n"
	      "                      floors for an in-memory put: a futex round trip and a UDP\n"
	      "                      round trip over 127.0.0.1 between two processes (their p50s\n"
	      "                      added: the chain floor), and the round trips/s of --clients\n"
	      "                      processes in lockstep with one server through futexes (the\n"
	      "                      client-rate floor), then with a server that takes each batch\n"
	      "                      through a UDP round trip to two peer processes first (the\n"
	      "                      replicated-rate floor), and one client's round trips through\n"
	      "                      a server that answers once both peers echoed (the fast-round\n"
	      "                      floor); the main p50 and ops/s against them\n"
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
	OPT_BASELINE_PKVD,
	OPT_WARMUP,
	OPT_BUCKET,
	OPT_READ_SHARE,
	OPT_KEYS,
	OPT_LOADERS,
	OPT_VICTIM,
	OPT_RESTART,
	OPT_REPORT_RSS,
	OPT_KEEP_RUN_DIR,
	OPT_VOTERS,
	OPT_BASELINE_NODE,
	OPT_REPORT_FLEET,
	OPT_FDATASYNC_FLOOR,
	OPT_GAP_WINDOW,
	OPT_FLOOR_WRITERS,
	OPT_WAKEUP_FLOOR,
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
		{"baseline-pkvd", required_argument, NULL, OPT_BASELINE_PKVD},
		{"warmup-ops", required_argument, NULL, OPT_WARMUP},
		{"bucket", required_argument, NULL, OPT_BUCKET},
		{"read-share", required_argument, NULL, OPT_READ_SHARE},
		{"keys", required_argument, NULL, OPT_KEYS},
		{"loaders", required_argument, NULL, OPT_LOADERS},
		{"victim", required_argument, NULL, OPT_VICTIM},
		{"restart", no_argument, NULL, OPT_RESTART},
		{"report-rss", no_argument, NULL, OPT_REPORT_RSS},
		{"keep-run-dir", no_argument, NULL, OPT_KEEP_RUN_DIR},
		{"voters", required_argument, NULL, OPT_VOTERS},
		{"baseline-node", required_argument, NULL, OPT_BASELINE_NODE},
		{"report-fleet", no_argument, NULL, OPT_REPORT_FLEET},
		{"fdatasync-floor", required_argument, NULL, OPT_FDATASYNC_FLOOR},
		{"gap-window", required_argument, NULL, OPT_GAP_WINDOW},
		{"floor-writers", required_argument, NULL, OPT_FLOOR_WRITERS},
		{"wakeup-floor", required_argument, NULL, OPT_WAKEUP_FLOOR},
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
		case OPT_BASELINE_PKVD:
			cfg->baseline_pkvd = optarg;
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
		case OPT_FDATASYNC_FLOOR: {
			char *fend = NULL;
			cfg->floor_seconds = strtod(optarg, &fend);
			if (!fend || *fend || !(cfg->floor_seconds > 0 && cfg->floor_seconds <= 60)) {
				fprintf(stderr, "pkv-bench: --fdatasync-floor takes seconds, 0 < S <= 60"
						" (got '%s')\n", optarg);
				return BENCH_EX_USAGE;
			}
			break;
		}
		case OPT_WAKEUP_FLOOR: {
			char *wend = NULL;
			errno = 0;
			cfg->wake_seconds = strtod(optarg, &wend);
			if (errno || !wend || *wend ||
			    !(cfg->wake_seconds > 0 && cfg->wake_seconds <= 60)) {
				fprintf(stderr, "pkv-bench: --wakeup-floor takes seconds, 0 < S <= 60"
						" (got '%s')\n", optarg);
				return BENCH_EX_USAGE;
			}
			break;
		}
		case OPT_KEEP_RUN_DIR:
			cfg->keep_run_dir = true;
			break;
		case OPT_VOTERS:
			if (!parse_u64(optarg, 1, 64, &v))
				goto bad_value;
			cfg->voters = (unsigned)v;
			break;
		case OPT_BASELINE_NODE:
			if (!*optarg || strlen(optarg) > PKV_NODE_NAME_MAX)
				goto bad_value;
			cfg->baseline_node = optarg;
			break;
		case OPT_REPORT_FLEET:
			cfg->report_fleet = true;
			break;
		case OPT_GAP_WINDOW:
			if (!parse_u64(optarg, 1, 60000, &v))
				goto bad_value;
			cfg->window_ns = v * 1000000ull;
			cfg->window_given = true;
			break;
		case OPT_FLOOR_WRITERS:
			if (!parse_u64(optarg, 1, FLOOR_WRITERS_MAX, &v))
				goto bad_value;
			cfg->floor_writers = (unsigned)v;
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
	if (cfg->floor_writers && !(cfg->floor_seconds > 0)) {
		fputs("pkv-bench: --floor-writers belongs to --fdatasync-floor\n", stderr);
		return BENCH_EX_USAGE;
	}
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
	if (cfg->voters && (!cfg->cluster || cfg->voters > cfg->cluster)) {
		fputs("pkv-bench: --voters V needs --cluster N with V <= N\n", stderr);
		return BENCH_EX_USAGE;
	}
	if (cfg->report_fleet && (!cfg->cluster || cfg->json)) {
		fputs("pkv-bench: --report-fleet needs --cluster N and prints text only\n", stderr);
		return BENCH_EX_USAGE;
	}
	if (cfg->baseline_node) {
		if (cfg->baseline_daemon_args || cfg->baseline_pkvd || cfg->workload == WL_KILL_GAP) {
			fputs("pkv-bench: --baseline-node runs the baseline on the same daemons"
			      " (no --baseline-daemon-args, --baseline-pkvd or kill-gap)\n",
			      stderr);
			return BENCH_EX_USAGE;
		}
		if (cfg->baseline == WL_NONE)
			cfg->baseline = cfg->workload;
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
	if (cfg->baseline_pkvd) {
		if (!cfg->cluster) {
			fputs("pkv-bench: --baseline-pkvd needs --cluster N\n", stderr);
			return BENCH_EX_USAGE;
		}
		if (cfg->workload == WL_KILL_GAP) {
			fputs("pkv-bench: kill-gap takes no --baseline-pkvd\n", stderr);
			return BENCH_EX_USAGE;
		}
		if (access(cfg->baseline_pkvd, X_OK) != 0) {
			fprintf(stderr, "pkv-bench: --baseline-pkvd %s: %s\n", cfg->baseline_pkvd,
				strerror(errno));
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

/* Whether the baseline runs on a dev cluster of its own, with other daemons. */
static bool baseline_apart(const struct bench_config *cfg)
{
	return cfg->baseline_daemon_args || cfg->baseline_pkvd;
}

/* Sets an environment variable for a while; *saved keeps the old value (NULL: unset). */
static int env_swap(const char *name, const char *value, char **saved, bool *had)
{
	const char *env = getenv(name);
	*had = env != NULL;
	*saved = env ? strdup(env) : NULL;
	if (env && !*saved)
		return -ENOMEM;
	setenv(name, value, 1);
	return 0;
}

static void env_restore(const char *name, char *saved, bool had)
{
	if (had)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

/*
 * --baseline-daemon-args, --baseline-pkvd: the baseline phase on a cluster
 * of its own, whose daemons get other arguments (PKVD_ARGS) or are another
 * binary (PKVD, which pkv-cluster runs); it is taken down before the main
 * run's, which the caller's environment starts.
 */
static int baseline_on_other_daemons(const struct bench_config *cfg, struct phase_result *base)
{
	char *saved_args = NULL, *saved_pkvd = NULL;
	bool had_args = false, had_pkvd = false;

	if (cfg->baseline_daemon_args) {
		if (env_swap("PKVD_ARGS", cfg->baseline_daemon_args, &saved_args, &had_args))
			return BENCH_EX_UNAVAILABLE;
		fprintf(stderr, "pkv-bench: baseline: daemons with PKVD_ARGS='%s'\n",
			cfg->baseline_daemon_args);
	}
	if (cfg->baseline_pkvd) {
		if (env_swap("PKVD", cfg->baseline_pkvd, &saved_pkvd, &had_pkvd)) {
			if (cfg->baseline_daemon_args)
				env_restore("PKVD_ARGS", saved_args, had_args);
			return BENCH_EX_UNAVAILABLE;
		}
		fprintf(stderr, "pkv-bench: baseline: daemons run %s\n", cfg->baseline_pkvd);
	}
	int ex = cluster_up(cfg->cluster);
	if (cfg->baseline_daemon_args)
		env_restore("PKVD_ARGS", saved_args, had_args);
	if (cfg->baseline_pkvd)
		env_restore("PKVD", saved_pkvd, had_pkvd);
	if (!ex)
		ex = preflight(cfg);
	if (!ex && cfg->baseline == WL_BOUND)
		ex = bound_discover(cfg);
	if (!ex)
		ex = phase_checked(cfg, cfg->baseline, base);
	cluster_down();
	return ex;
}

/*
 * W of the co-located floor: --floor-writers, else the voters of --cluster
 * N, else those of the run dir's cluster (its cluster_size file, which
 * pkv-cluster writes: the voters), else 3.
 */
static unsigned floor_writers(const struct bench_config *cfg)
{
	if (cfg->floor_writers)
		return cfg->floor_writers;
	if (cfg->cluster)
		return cfg->voters ? cfg->voters : cfg->cluster;
	char path[PATH_MAX];
	const char *env = getenv("PKV_RUN_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(path, sizeof(path), "%s/cluster_size", env);
	else if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/paxoskv/cluster_size", xdg);
	else
		snprintf(path, sizeof(path), "/tmp/paxoskv-%u/cluster_size", (unsigned)getuid());
	unsigned w = 3;
	FILE *f = fopen(path, "r");
	if (f) {
		unsigned v;
		if (fscanf(f, "%u", &v) == 1 && v >= 1 && v <= FLOOR_WRITERS_MAX)
			w = v;
		fclose(f);
	}
	return w;
}

static int bench(const struct bench_config *cfg)
{
	struct phase_result base, main_pr;
	int ex;

	if (baseline_apart(cfg)) {
		ex = baseline_on_other_daemons(cfg, &base);
		if (ex)
			return ex;
	}
	if (cfg->cluster) {
		cluster.keep = cfg->keep_run_dir;
		cluster.voters = cfg->voters;
		ex = cluster_up(cfg->cluster);
		if (ex)
			return ex;
	}
	ex = preflight(cfg);
	if (!ex && (cfg->workload == WL_BOUND ||
		    (cfg->baseline == WL_BOUND && !baseline_apart(cfg))))
		ex = bound_discover(cfg);
	if (ex)
		return ex;
	if (cfg->report_rss) {
		rss.n = cfg->cluster;
		rss_take(rss.before);
	}
	struct fleet_report fleet = {0};
	if (cfg->report_fleet)
		fleet_idle(cfg, &fleet);
	if (cfg->baseline && !baseline_apart(cfg)) {
		/* --baseline-node: the same daemons, through another one. */
		struct bench_config bcfg = *cfg;
		if (cfg->baseline_node)
			bcfg.endpoint = cfg->baseline_node;
		ex = phase_checked(&bcfg, cfg->baseline, &base);
		if (ex)
			return ex;
	}
	if (cfg->report_fleet)
		fleet_sample(FLEET_VOTER, &fleet.load_from);
	ex = phase_checked(cfg, cfg->workload, &main_pr);
	if (cfg->report_fleet)
		fleet_sample(FLEET_VOTER, &fleet.load_to);
	if (!ex && cfg->workload == WL_KILL_GAP)
		cluster_print_paxos_stats(cfg->cluster);
	if (!ex && cfg->report_rss) {
		rss_settle();
		rss_take(rss.after);
	}
	if (ex)
		return ex;
	struct floor_result fl = {0};
	if (cfg->floor_seconds > 0) {
		int r = floor_fdatasync(cfg->cluster ? cluster.run_dir : ".", cfg->floor_seconds,
					floor_writers(cfg), &fl);
		if (r < 0) {
			fprintf(stderr, "pkv-bench: --fdatasync-floor: %s\n", strerror(-r));
			return BENCH_EX_UNAVAILABLE;
		}
	}
	struct wake_result wk = {0};
	if (cfg->wake_seconds > 0) {
		fprintf(stderr, "pkv-bench: wakeup floor: %.2f s, %u client%s\n", cfg->wake_seconds,
			cfg->clients, cfg->clients == 1 ? "" : "s");
		int r = wake_floor(cfg->wake_seconds, cfg->clients, &wk);
		if (r < 0) {
			if (r != -EINTR || !got_signal)
				fprintf(stderr, "pkv-bench: --wakeup-floor: %s\n", wk.why);
			return BENCH_EX_UNAVAILABLE;
		}
	}
	if (cfg->json) {
		print_json(cfg, &main_pr, cfg->baseline ? &base : NULL, &fl, &wk);
	} else {
		if (cfg->baseline) {
			print_text(cfg, &base);
			print_text(cfg, &main_pr);
			if (cfg->baseline_daemon_args) {
				const char *env = getenv("PKVD_ARGS");
				printf("daemons: baseline PKVD_ARGS='%s', main PKVD_ARGS='%s'\n",
				       cfg->baseline_daemon_args, env ? env : "");
			}
			if (cfg->baseline_pkvd) {
				const char *env = getenv("PKVD");
				printf("daemons: baseline pkvd %s, main pkvd %s\n", cfg->baseline_pkvd,
				       env && *env ? env : "(this build's)");
			}
			if (cfg->baseline_node)
				printf("through: baseline %s, main %s\n", cfg->baseline_node,
				       cfg->endpoint ? cfg->endpoint : "(the default daemon)");
			print_ratios(&main_pr, &base);
		} else {
			print_text(cfg, &main_pr);
		}
		if (cfg->report_fleet)
			fleet_print(cfg, &fleet);
		if (cfg->report_rss)
			print_rss_text(cfg);
		if (fl.n) {
			printf("floor: fdatasync of a 4 KiB append p50 %.1f us p99 %.1f us (%llu syncs in %s)\n",
			       (double)fl.p50 / 1e3, (double)fl.p99 / 1e3, (unsigned long long)fl.n,
			       fl.dir);
			if (cfg->baseline)
				printf("floor: baseline p50 / fdatasync p50 = %.2f\n",
				       stats_ratio((double)base.p50, (double)fl.p50));
			printf("floor: %s p50 / fdatasync p50 = %.2f\n", workload_names[main_pr.workload],
			       stats_ratio((double)main_pr.p50, (double)fl.p50));
			printf("floor: %u writers in lockstep, each its own file there (%u voters' syncs"
			       " on one disk), a round until the last fdatasync p50 %.1f us p99 %.1f us"
			       " (%llu rounds)\n",
			       fl.writers, fl.writers, (double)fl.co_p50 / 1e3, (double)fl.co_p99 / 1e3,
			       (unsigned long long)fl.co_n);
			if (cfg->baseline)
				printf("floor: baseline p50 / %u-writer floor p50 = %.2f\n", fl.writers,
				       stats_ratio((double)base.p50, (double)fl.co_p50));
			printf("floor: %s p50 / %u-writer floor p50 = %.2f\n",
			       workload_names[main_pr.workload], fl.writers,
			       stats_ratio((double)main_pr.p50, (double)fl.co_p50));
		}
		if (wk.futex_n)
			wake_print_text(stdout, &wk, &main_pr, cfg->baseline ? &base : NULL);
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

