// SPDX-License-Identifier: MIT
/*
 * pkv-bench: the workloads. Keys and values, one client process (prepare,
 * warm-up, start barrier, the measured loop writing each op's latency into
 * its array of the shared mapping), the loaders of the key pool, and the
 * bound workload (a key bound to a child process, the time from its SIGKILL
 * until every daemon reports the key absent).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "paxoskv.h"

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
	if (!stats_err_add(res->errs, ERR_SLOTS, code, 1))
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

void kill_children(const pid_t *pids, unsigned n)
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
int pool_load(const struct bench_config *cfg, uint64_t nonce)
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
	/* Asleep until the parent opens the barrier: 32 clients polling every
	 * 20 µs were a load of their own while the last ones warmed up. */
	while (!__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE) && !got_signal)
		bench_futex_wait(&ctl->go, 0, 100000000l);
}

static uint64_t client_measure(struct client *cl)
{
	const struct bench_config *cfg = cl->cfg;
	struct client_result *res = cl->res;
	uint64_t start = now_ns();
	uint64_t deadline = start + (uint64_t)(cfg->seconds * 1e9);
	uint64_t prev = start; /* the last successful completion (kill-gap) */
	struct op op;

	uint64_t i = 0;
	res->start_ns = start;
	for (; i < cfg->ops && !got_signal; i++) {
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
	return i;
}

/* --- get-hit's floor ----------------------------------------------------------- */

int floor_fill(const struct bench_config *cfg, uint64_t nonce)
{
	char *key = malloc(cfg->key_size), *value = malloc(cfg->value_size);
	struct keygen kg;
	int r = -ENOMEM;
	if (key && value)
		r = floor_create(&bench_floor, cfg->keys, cfg->value_size);
	if (r < 0) {
		fprintf(stderr, "pkv-bench: the floor's table: %s\n", strerror(-r));
		free(key);
		free(value);
		return BENCH_EX_UNAVAILABLE;
	}
	/* The pool's keys: their owner is this process, the clients' parent. */
	keygen_init(&kg, key, cfg->key_size, getpid(), nonce);
	for (uint64_t i = 0; i < cfg->keys; i++) {
		keygen_make(&kg, 'p', i);
		value_make(value, cfg->value_size, key, cfg->key_size, 'A');
		floor_insert(&bench_floor, cfg->bucket, strlen(cfg->bucket), key, cfg->key_size,
			     value, cfg->value_size);
	}
	free(key);
	free(value);
	return 0;
}

/* Back-to-back ops of the floor's comparison, and the most per-op samples. */
#define TIGHT_OPS (1u << 20)
#define TIGHT_CHUNK (1u << 10)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * After the measured reads: the floor over the keys those reads took, in
 * their order (the generator restarted from the same state), each lookup
 * timed as a read is; then reads and floor lookups back to back over that
 * list of keys, in chunks timed as a whole (no clock read per op).
 */
static void client_floor(struct client *cl, uint64_t rng0, uint64_t iterations)
{
	const struct bench_config *cfg = cl->cfg;
	struct client_result *res = cl->res;
	const char *bucket = cfg->bucket;
	size_t blen = strlen(bucket), ks = cfg->key_size;
	uint64_t n = iterations < TIGHT_OPS ? iterations : TIGHT_OPS;
	uint64_t *s = malloc(n * sizeof(*s));
	char *keys = malloc(n * ks);
	uint8_t *out = malloc(cfg->value_size + 1);
	size_t got = 0;

	if (!bench_floor.slots || !n || !s || !keys || !out)
		goto done;
	cl->rng = rng0;
	for (uint64_t i = 0; i < n; i++) {
		memcpy(keys + i * ks, keygen_make(&cl->pool, 'p', xorshift(&cl->rng) % cfg->keys),
		       ks);
	}
	double sum = 0;
	for (uint64_t i = 0; i < n && !got_signal; i++) {
		const char *key = keys + i * ks;
		uint64_t t0 = now_ns();
		got += floor_lookup(&bench_floor, bucket, blen, key, ks, out);
		uint64_t t1 = now_ns();
		s[i] = t1 - t0;
		sum += (double)(t1 - t0);
	}
	stats_sort(s, n);
	res->floor_n = n;
	res->floor_p50 = s[n / 2];
	res->floor_p90 = s[n * 9 / 10];
	res->floor_p99 = s[n * 99 / 100];
	res->floor_mean_ns = sum / (double)n;

	/* In chunks, read and floor in turn over the same keys; the median
	 * chunk of each, so a preemption spoils a chunk, not the figure. */
	double rd[TIGHT_OPS / TIGHT_CHUNK], fl[TIGHT_OPS / TIGHT_CHUNK];
	unsigned chunks = 0;
	for (uint64_t c = 0; c + TIGHT_CHUNK <= n; c += TIGHT_CHUNK, chunks++) {
		const char *k = keys + c * ks;
		uint64_t t0 = now_ns();
		for (uint64_t i = 0; i < TIGHT_CHUNK; i++)
			(void)pkv_get(cl->pkv, k + i * ks, ks, &cl->get_opts, &cl->answer);
		uint64_t t1 = now_ns();
		for (uint64_t i = 0; i < TIGHT_CHUNK; i++)
			got += floor_lookup(&bench_floor, bucket, blen, k + i * ks, ks, out);
		uint64_t t2 = now_ns();
		rd[chunks] = (double)(t1 - t0) / TIGHT_CHUNK;
		fl[chunks] = (double)(t2 - t1) / TIGHT_CHUNK;
	}
	if (chunks) {
		qsort(rd, chunks, sizeof(rd[0]), cmp_double);
		qsort(fl, chunks, sizeof(fl[0]), cmp_double);
		res->tight_n = (uint64_t)chunks * TIGHT_CHUNK;
		res->tight_read_ns = rd[chunks / 2];
		res->tight_floor_ns = fl[chunks / 2];
	}
	if (got != (n + res->tight_n) * cfg->value_size && !res->message[0])
		snprintf(res->message, sizeof(res->message), "floor: a key missing from its table");
done:
	free(s);
	free(keys);
	free(out);
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

struct bound_nodes bound_nodes; /* bench.h */

/* 0, or an exit status after saying why. */
int bound_discover(const struct bench_config *cfg)
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

void client_main(const struct bench_config *cfg, enum workload wl, uint64_t nonce,
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
		uint64_t rng0 = cl.rng;
		uint64_t iterations = client_measure(&cl);
		client_stats(&cl, &hits1, &misses1);
		if (wl == WL_GET_HIT)
			client_floor(&cl, rng0, iterations);
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
