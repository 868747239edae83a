/* harness — see harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Past this many samples a client keeps a uniform reservoir; its samples are
 * then weighted by its op count when percentiles are merged. */
#define HARNESS_SAMPLES (1u << 20)
/* How long clients may take to prepare before the run is given up. */
#define HARNESS_PREPARE_DEADLINE_NS (60ull * 1000000000ull)

struct harness_slot {
	_Atomic int state; /* 0 preparing, 1 ready, 2 failed, 3 done */
	uint64_t ops, errors, mismatches, stored;
	uint64_t start_ns, end_ns;
	uint32_t samples[HARNESS_SAMPLES]; /* ns, clipped to 2^32-1 */
};

struct harness_shared {
	_Atomic uint64_t start_ns; /* 0 until the parent opens the barrier */
	_Atomic int abort;
	_Atomic uint32_t gate; /* a futex: 1 once start_ns or abort is set */
	struct harness_slot slot[];
};

static unsigned harness_nonce;

uint64_t harness_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void harness_key(char out[HARNESS_KEY_SIZE + 1], char kind, uint64_t seq)
{
	snprintf(out, HARNESS_KEY_SIZE + 1, "%c%05x%02x%08llx", kind,
		 (unsigned)getpid() & 0xfffffu, harness_nonce & 0xffu,
		 (unsigned long long)(seq & 0xffffffffull));
}

void harness_value(char out[HARNESS_VALUE_SIZE + 1], const char *key)
{
	/* "v" + key + padding: readable in a server's dump, checkable. */
	snprintf(out, HARNESS_VALUE_SIZE + 1, "v%s%s", key, "...............................");
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	nanosleep(&ts, NULL);
}

/* The barrier's futex (the waiters are other processes: not _PRIVATE). */
static void gate_wait(_Atomic uint32_t *gate)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000l};

	syscall(SYS_futex, (void *)gate, FUTEX_WAIT, 0, &ts, NULL, 0);
}

static void gate_open(_Atomic uint32_t *gate)
{
	atomic_store(gate, 1);
	syscall(SYS_futex, (void *)gate, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void client_main(const struct harness_config *cfg, const struct harness_workload *w,
			struct harness_shared *sh, unsigned idx, size_t ctx_size)
{
	struct harness_slot *s = &sh->slot[idx];
	void *ctx = calloc(1, ctx_size ? ctx_size : 1);
	uint64_t seq = 0, deadline, start, rng;

	/* A client must not outlive the run that started it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	srand48((long)getpid() ^ (long)harness_now_ns());
	rng = (uint64_t)getpid() * 6364136223846793005ull + 1;
	/* Touch the sample pages before the clock starts. */
	memset(s->samples, 0, sizeof(s->samples));
	if (!ctx || (w->prepare && w->prepare(ctx, idx, cfg->prepop_keys) < 0)) {
		atomic_store(&s->state, 2);
		_exit(69);
	}
	for (unsigned i = 0; i < cfg->warmup_ops; i++)
		w->op(ctx, seq++);
	atomic_store(&s->state, 1);
	/*
	 * The barrier: the parent opens it once every client is ready. Asleep
	 * on a futex meanwhile: 32 ready clients polling every 100 µs took
	 * this 2-core machine from the servers while the last ones connected,
	 * and ZooKeeper's 32-client rows failed to get ready within 60 s.
	 */
	deadline = harness_now_ns() + HARNESS_PREPARE_DEADLINE_NS;
	while (!(start = atomic_load(&sh->start_ns))) {
		if (atomic_load(&sh->abort) || harness_now_ns() > deadline)
			_exit(69);
		gate_wait(&sh->gate);
	}
	while (harness_now_ns() < start)
		;
	s->start_ns = harness_now_ns();
	deadline = s->start_ns + (uint64_t)(cfg->seconds * 1e9);
	for (uint64_t n = 0; n < cfg->max_ops; n++) {
		uint64_t t0 = harness_now_ns();
		int rc = w->op(ctx, seq++);
		uint64_t t1 = harness_now_ns();
		uint64_t lat = t1 - t0;

		if (rc < 0) {
			s->errors++;
		} else if (rc > 0) {
			s->mismatches++;
		} else {
			uint32_t v = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;

			if (s->ops < HARNESS_SAMPLES) {
				s->samples[s->ops] = v;
			} else {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				uint64_t j = (rng >> 11) % (s->ops + 1);
				if (j < HARNESS_SAMPLES)
					s->samples[j] = v;
			}
			s->ops++;
		}
		if (t1 >= deadline)
			break;
	}
	s->end_ns = harness_now_ns();
	s->stored = s->ops < HARNESS_SAMPLES ? s->ops : HARNESS_SAMPLES;
	if (w->finish)
		w->finish(ctx);
	atomic_store(&s->state, 3);
	_exit(0);
}

struct weighted {
	uint32_t ns;
	double w;
};

static int cmp_weighted(const void *a, const void *b)
{
	const struct weighted *x = a, *y = b;

	return (x->ns > y->ns) - (x->ns < y->ns);
}

static uint64_t percentile(const struct weighted *v, size_t n, double total, double q)
{
	double acc = 0, want = q * total;

	for (size_t i = 0; i < n; i++) {
		acc += v[i].w;
		if (acc >= want)
			return v[i].ns;
	}
	return n ? v[n - 1].ns : 0;
}

int harness_run(const struct harness_config *cfg, const struct harness_workload *w,
		size_t ctx_size)
{
	size_t len = sizeof(struct harness_shared) + cfg->clients * sizeof(struct harness_slot);
	struct harness_shared *sh;
	pid_t *pids;
	uint64_t deadline, ops = 0, errors = 0, mism = 0, first = UINT64_MAX, last = 0;
	size_t nsamp = 0, k = 0;
	struct weighted *all;
	bool failed = false;
	int status = 0;

	sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc(cfg->clients, sizeof(*pids));
	if (sh == MAP_FAILED || !pids) {
		perror("harness: mmap");
		return 69;
	}
	fflush(stdout);
	for (unsigned i = 0; i < cfg->clients; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("harness: fork");
			atomic_store(&sh->abort, 1);
			failed = true;
			break;
		}
		if (pids[i] == 0)
			client_main(cfg, w, sh, i, ctx_size);
	}
	deadline = harness_now_ns() + HARNESS_PREPARE_DEADLINE_NS;
	while (!failed) {
		unsigned ready = 0;

		for (unsigned i = 0; i < cfg->clients; i++) {
			int st = atomic_load(&sh->slot[i].state);
			if (st == 2)
				failed = true;
			ready += st == 1;
		}
		if (ready == cfg->clients)
			break;
		if (harness_now_ns() > deadline) {
			fprintf(stderr, "harness: clients not ready within 60 s\n");
			failed = true;
		}
		sleep_ns(1000000);
	}
	if (failed)
		atomic_store(&sh->abort, 1);
	else
		atomic_store(&sh->start_ns, harness_now_ns() + 2000000);
	gate_open(&sh->gate);
	for (unsigned i = 0; i < cfg->clients; i++) {
		int ws;

		if (pids[i] <= 0)
			continue;
		if (waitpid(pids[i], &ws, 0) == pids[i] &&
		    !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0))
			failed = true;
	}
	if (failed) {
		fprintf(stderr, "%s %s: a client failed to prepare or run\n", cfg->system, w->name);
		return 69;
	}
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct harness_slot *s = &sh->slot[i];
		ops += s->ops;
		errors += s->errors;
		mism += s->mismatches;
		nsamp += s->stored;
		first = s->start_ns < first ? s->start_ns : first;
		last = s->end_ns > last ? s->end_ns : last;
	}
	all = malloc((nsamp ? nsamp : 1) * sizeof(*all));
	if (!all)
		return 69;
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct harness_slot *s = &sh->slot[i];
		double wt = s->stored ? (double)s->ops / (double)s->stored : 0;

		for (uint64_t j = 0; j < s->stored; j++)
			all[k++] = (struct weighted){s->samples[j], wt};
	}
	qsort(all, nsamp, sizeof(*all), cmp_weighted);
	double elapsed = last > first ? (double)(last - first) / 1e9 : 0;
	printf("{\"system\": \"%s\", \"workload\": \"%s\", \"clients\": %u, \"ops\": %llu, "
	       "\"errors\": %llu, \"mismatches\": %llu, \"elapsed_s\": %.3f, \"ops_per_s\": %.1f, "
	       "\"p50_ns\": %llu, \"p90_ns\": %llu, \"p99_ns\": %llu, \"max_ns\": %llu}\n",
	       cfg->system, w->name, cfg->clients, (unsigned long long)ops,
	       (unsigned long long)errors, (unsigned long long)mism, elapsed,
	       elapsed > 0 ? (double)ops / elapsed : 0.0,
	       (unsigned long long)percentile(all, nsamp, (double)ops, 0.50),
	       (unsigned long long)percentile(all, nsamp, (double)ops, 0.90),
	       (unsigned long long)percentile(all, nsamp, (double)ops, 0.99),
	       (unsigned long long)(nsamp ? all[nsamp - 1].ns : 0));
	fflush(stdout);
	free(all);
	free(pids);
	munmap(sh, len);
	if (mism)
		status = 1;
	return status;
}

int harness_parse(struct harness_config *cfg, int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"ops", required_argument, NULL, 'o'},
		{"warmup-ops", required_argument, NULL, 'w'},
		{"keys", required_argument, NULL, 'k'},
		{"trials", required_argument, NULL, 't'},
		{"owner-ttl-ms", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	cfg->clients = 1;
	cfg->seconds = 5;
	cfg->max_ops = 100000000;
	cfg->warmup_ops = 50;
	cfg->prepop_keys = 128;
	cfg->trials = 3;
	cfg->owner_ttl_ms = 1;
	harness_nonce = (unsigned)(harness_now_ns() ^ (uint64_t)getpid());
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg->clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			cfg->seconds = strtod(optarg, NULL);
			break;
		case 'o':
			cfg->max_ops = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			cfg->warmup_ops = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			cfg->prepop_keys = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			cfg->trials = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			cfg->owner_ttl_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (cfg->clients < 1 || cfg->clients > 256 || !(cfg->seconds > 0 && cfg->seconds <= 600) ||
	    cfg->prepop_keys < 1 || cfg->trials < 1 || cfg->trials > 100 || cfg->max_ops < 1) {
		fputs(usage, stderr);
		return -1;
	}
	return optind;
}
