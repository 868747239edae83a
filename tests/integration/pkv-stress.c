// SPDX-License-Identifier: MIT
/*
 * pkv-stress — client-side scenarios for the multi-daemon tests, through the
 * public library only (include/paxoskv.h). Every loop is bounded in count and
 * time and stops itself; it signals only the daemon pid it is given (one the
 * test started).
 *
 *   pkv-stress read-stopped NODE KEY VALUE DAEMON_PID COUNT
 *	read KEY once, SIGSTOP the daemon, read it COUNT more times with
 *	PKV_GET_STALE_OK (each must be served from the in-process cache); then
 *	plain reads must stop returning it once the daemon's lease is over
 *	(docs/design.md §5.1), while a stale read still does, marked stale;
 *	SIGCONT the daemon.
 *   pkv-stress stress CLIENTS REQUESTS VICTIMS SEED NODE...
 *	CLIENTS processes × REQUESTS requests each, spread over the nodes,
 *	every answer checked; meanwhile VICTIMS processes attach and are
 *	SIGKILLed at random instants, again and again.
 *   pkv-stress restart NODE OKS_AFTER
 *	put/get in a loop; prints "progress" once it has answers, and ends
 *	once OKS_AFTER calls succeeded against a new daemon incarnation.
 *   pkv-stress pid-gone BOUND_MS KEY OWNER NODE...
 *	puts KEY through OWNER bound to a child process, sees it on every
 *	node, kills the child and measures until every node reports KEY absent.
 *   pkv-stress kill-gone BOUND_MS PID SIGNAL KEY NODE...
 *	sends SIGNAL to PID (a daemon the test started) and measures until
 *	every NODE reports KEY absent.
 *   pkv-stress until-gone LATE_MS KEY TTL_MS NODE...
 *	puts KEY with until = now + TTL_MS and reads it on every node: never
 *	absent before until, absent everywhere at most LATE_MS after it.
 *   pkv-stress put-many NODE BUCKET PREFIX COUNT TTL_MS
 *	puts keys PREFIX0..PREFIX<COUNT-1> into BUCKET through NODE, each
 *	with until = now + TTL_MS (0: none) and its own name as its value;
 *	every put must succeed with its own value (a put that took longer
 *	than TTL_MS is made again with a new until, up to 3 times). Prints
 *	"puts=COUNT min_gen=G max_gen=G until_passed=N": the generations
 *	the puts returned, and the puts made again.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "paxoskv.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct pkv_client *open_or_die(const char *node)
{
	struct pkv_client *c;
	int r = pkv_open(&c, node);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv-stress: attach to %s: %s (%s)\n", node, pkv_strerror(r),
			pkv_errmsg());
		exit(69);
	}
	return c;
}

static bool value_is(const struct pkv_value *v, const char *want)
{
	return v->len == strlen(want) && memcmp(v->data, want, v->len) == 0;
}

static pid_t stopped_daemon;

static void resume_daemon(void)
{
	if (stopped_daemon > 0)
		kill(stopped_daemon, SIGCONT);
}

static int read_stopped(char **argv)
{
	const char *node = argv[0], *key = argv[1], *want = argv[2];
	pid_t daemon = (pid_t)atol(argv[3]);
	long count = atol(argv[4]);
	struct pkv_client *c = open_or_die(node);
	struct pkv_value v = PKV_VALUE_INIT;
	struct pkv_get_opts o = {.timeout_ms = 2000, .flags = PKV_GET_STALE_OK};
	int r = pkv_get(c, key, strlen(key), &o, &v);
	if (r != PKV_OK || !value_is(&v, want)) {
		fprintf(stderr, "first read: %s\n", pkv_strerror(r));
		return 1;
	}
	struct pkv_stats before, after;
	pkv_stats(c, &before);
	stopped_daemon = daemon;
	atexit(resume_daemon);
	if (kill(daemon, SIGSTOP) < 0) {
		perror("SIGSTOP");
		return 1;
	}
	uint64_t t0 = mono_ms();
	for (long i = 0; i < count; i++) {
		r = pkv_get(c, key, strlen(key), &o, &v);
		if (r != PKV_OK || !value_is(&v, want)) {
			fprintf(stderr, "read %ld while the daemon is stopped: %s\n", i,
				pkv_strerror(r));
			return 1;
		}
	}
	uint64_t took = mono_ms() - t0;
	pkv_stats(c, &after);
	/* The lease ends by the reader's clock, whatever the stopped daemon last wrote. */
	struct pkv_get_opts plain = {.timeout_ms = 100};
	uint64_t lease_end = 0;
	while (mono_ms() - t0 < 20000) {
		r = pkv_get(c, key, strlen(key), &plain, &v);
		if (r != PKV_OK) {
			lease_end = mono_ms() - t0;
			break;
		}
	}
	if (!lease_end) {
		fprintf(stderr, "plain reads still answered 20 s after the daemon stopped\n");
		return 1;
	}
	r = pkv_get(c, key, strlen(key), &o, &v);
	if (r != PKV_OK || !value_is(&v, want) || !(v.flags & PKV_VALUE_STALE)) {
		fprintf(stderr, "stale read past the lease: %s, flags %" PRIu64 "\n", pkv_strerror(r),
			v.flags);
		return 1;
	}
	resume_daemon();
	printf("reads %ld cache_hits %" PRIu64 " ms %" PRIu64 " plain reads refused after %" PRIu64
	       " ms\n",
	       count, after.cache_hits - before.cache_hits, took, lease_end);
	pkv_value_free(&v);
	pkv_close(c);
	return after.cache_hits - before.cache_hits == (uint64_t)count ? 0 : 1;
}

/* One survivor: puts of its own keys (and re-puts: write-once), gets, and
 * puts to shared keys whose answers the parent compares across clients. */
static int survivor(int id, const char *node, long requests, int report_fd)
{
	struct pkv_client *c = open_or_die(node);
	struct pkv_value v = PKV_VALUE_INIT;
	struct pkv_put_opts po = {.timeout_ms = 30000};
	struct pkv_get_opts go = {.timeout_ms = 30000};
	char key[64], val[64];
	for (long r = 0; r < requests; r++) {
		int rc;
		const char *what;
		if (r % 10 == 9) {
			snprintf(key, sizeof(key), "shared-%ld", (r / 10) % 7);
			snprintf(val, sizeof(val), "client-%d", id);
			rc = pkv_put(c, key, strlen(key), val, strlen(val), &po, &v);
			what = "shared put";
			if (rc == PKV_OK) {
				char line[160];
				int n = snprintf(line, sizeof(line), "%s %.*s\n", key, (int)v.len,
						 (const char *)v.data);
				if (write(report_fd, line, (size_t)n) != n)
					return 2;
				continue;
			}
		} else if (r % 2 == 0) {
			snprintf(key, sizeof(key), "own-%d-%ld", id, (r / 2) % 50);
			snprintf(val, sizeof(val), "v-%d-%ld", id, (r / 2) % 50);
			rc = pkv_put(c, key, strlen(key), val, strlen(val), &po, &v);
			what = "put";
		} else {
			snprintf(key, sizeof(key), "own-%d-%ld", id, (r / 2) % 50);
			snprintf(val, sizeof(val), "v-%d-%ld", id, (r / 2) % 50);
			rc = pkv_get(c, key, strlen(key), &go, &v);
			what = "get";
		}
		if (rc != PKV_OK || !value_is(&v, val)) {
			fprintf(stderr, "client %d request %ld (%s %s): %s, got '%.*s' want '%s'\n", id,
				r, what, key, pkv_strerror(rc), rc == PKV_OK ? (int)v.len : 0,
				rc == PKV_OK ? (const char *)v.data : "", val);
			return 1;
		}
	}
	pkv_value_free(&v);
	pkv_close(c);
	return 0;
}

/* A victim attaches and sends requests until it is killed. */
static void victim_body(const char *node, int n)
{
	struct pkv_client *c = open_or_die(node);
	struct pkv_value v = PKV_VALUE_INIT;
	struct pkv_put_opts po = {.timeout_ms = 30000};
	char key[64];
	for (long r = 0; r < 100000; r++) {
		snprintf(key, sizeof(key), "victim-%d-%d-%ld", n, (int)getpid(), r % 20);
		pkv_put(c, key, strlen(key), "x", 1, &po, &v);
		pkv_get(c, key, strlen(key), NULL, &v);
	}
	_exit(0);
}

static int victims(int n, char **nodes, int n_nodes, long kills)
{
	for (long k = 0; k < kills; k++) {
		pid_t p = fork();
		if (p < 0)
			return 1;
		if (p == 0)
			victim_body(nodes[(n + k) % n_nodes], n);
		/* A random instant: sometimes before attach, often mid-request. */
		struct timespec d = {0, (long)(rnd() % 20000000u)};
		nanosleep(&d, NULL);
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	return 0;
}

static int stress(char **argv, int argc)
{
	int clients = atoi(argv[0]);
	long requests = atol(argv[1]);
	int n_victims = atoi(argv[2]);
	rng_state = strtoull(argv[3], NULL, 10);
	char **nodes = argv + 4;
	int n_nodes = argc - 4;
	if (clients < 1 || clients > 512 || requests < 1 || n_nodes < 1)
		return 64;
	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	pid_t *pids = calloc((size_t)(clients + n_victims), sizeof(pid_t));
	uint64_t t0 = mono_ms();
	for (int i = 0; i < clients; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(survivor(i, nodes[i % n_nodes], requests, fds[1]));
		}
	}
	for (int i = 0; i < n_victims; i++) {
		pids[clients + i] = fork();
		if (pids[clients + i] == 0) {
			close(fds[0]);
			rng_state += (uint64_t)i * 7919u;
			_exit(victims(i, nodes, n_nodes, 40));
		}
	}
	close(fds[1]);
	/* Shared keys: every client must have been told the same value. */
	char chosen[7][64] = {{0}};
	long shared = 0, disagreements = 0;
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		int k;
		char who[64];
		if (sscanf(line, "shared-%d %63s", &k, who) != 2 || k < 0 || k >= 7)
			continue;
		shared++;
		if (!chosen[k][0])
			snprintf(chosen[k], sizeof(chosen[k]), "%s", who);
		else if (strcmp(chosen[k], who) != 0) {
			fprintf(stderr, "shared-%d: told '%s' and '%s'\n", k, chosen[k], who);
			disagreements++;
		}
	}
	fclose(f);
	int failed = 0;
	for (int i = 0; i < clients + n_victims; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "%s %d failed (status %d)\n", i < clients ? "client" : "victim",
				i, st);
			failed++;
		}
	}
	free(pids);
	printf("clients %d requests %ld victims %d kills %d shared_answers %ld disagreements %ld "
	       "failed %d ms %" PRIu64 "\n",
	       clients, requests, n_victims, n_victims * 40, shared, disagreements, failed,
	       mono_ms() - t0);
	return failed || disagreements ? 1 : 0;
}

static int restart(char **argv)
{
	const char *node = argv[0];
	long want_after = atol(argv[1]);
	struct pkv_client *c = open_or_die(node);
	struct pkv_stats st;
	pkv_stats(c, &st);
	uint64_t first_incarnation = st.incarnation;
	struct pkv_value v = PKV_VALUE_INIT;
	struct pkv_put_opts po = {.timeout_ms = 3000};
	long ok_before = 0, ok_after = 0, unavailable = 0, other = 0;
	uint64_t worst = 0, end = mono_ms() + 120000;
	bool told = false;
	char key[64];
	for (long i = 0; ok_after < want_after && mono_ms() < end; i++) {
		snprintf(key, sizeof(key), "restart-%ld", i);
		uint64_t t0 = mono_ms();
		int r = pkv_put(c, key, strlen(key), "v", 1, &po, &v);
		if (r == PKV_OK)
			r = pkv_get(c, key, strlen(key), NULL, &v);
		uint64_t took = mono_ms() - t0;
		if (took > worst)
			worst = took;
		if (r == PKV_OK) {
			pkv_stats(c, &st);
			if (st.incarnation != first_incarnation)
				ok_after++;
			else
				ok_before++;
		} else if (r == PKV_UNAVAILABLE || r == PKV_TIMEOUT || r == PKV_NO_QUORUM) {
			unavailable++; /* a clear error while the daemon is away */
		} else {
			fprintf(stderr, "unexpected: %s (%s)\n", pkv_strerror(r), pkv_errmsg());
			other++;
		}
		if (!told && ok_before >= 20) {
			printf("progress\n");
			fflush(stdout);
			told = true;
		}
	}
	printf("ok_before %ld ok_after %ld unavailable %ld other %ld worst_ms %" PRIu64 "\n",
	       ok_before, ok_after, unavailable, other, worst);
	pkv_value_free(&v);
	pkv_close(c);
	/* Each call returns within its timeout plus the liveness slice. */
	return ok_after >= want_after && other == 0 && worst < 10000 ? 0 : 1;
}

/* True when every client reports the key absent. */
static bool gone_everywhere(struct pkv_client **cl, int n, const char *key, struct pkv_value *v)
{
	struct pkv_get_opts o = {.timeout_ms = 2000};
	for (int i = 0; i < n; i++) {
		int r = pkv_get(cl[i], key, strlen(key), &o, v);
		if (r != PKV_NOT_FOUND)
			return false;
	}
	return true;
}

/* Polls until the key is gone everywhere; returns µs since t0_us, or -1. */
static long long wait_gone(struct pkv_client **cl, int n, const char *key, uint64_t t0_us,
			   uint64_t limit_ms)
{
	struct pkv_value v = PKV_VALUE_INIT;
	long long took = -1;
	while (mono_ms() * 1000u < t0_us + limit_ms * 1000u + 30000000u) {
		if (gone_everywhere(cl, n, key, &v)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			took = (long long)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u -
					   t0_us);
			break;
		}
	}
	pkv_value_free(&v);
	return took;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int open_all(char **nodes, int n, struct pkv_client **cl)
{
	for (int i = 0; i < n; i++)
		cl[i] = open_or_die(nodes[i]);
	return 0;
}

/* Closes the handles and frees the value; returns rc. */
static int done(struct pkv_client **cl, int n, struct pkv_value *v, int rc)
{
	for (int i = 0; i < n; i++)
		pkv_close(cl[i]);
	pkv_value_free(v);
	return rc;
}

static int pid_gone(char **argv, int argc)
{
	long bound = atol(argv[0]);
	const char *key = argv[1], *owner = argv[2];
	char **nodes = argv + 3;
	int n = argc - 3;
	struct pkv_client *cl[16];
	if (n < 1 || n > 16)
		return 64;
	open_all(nodes, n, cl);
	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(fds[0]);
	struct pkv_client *o = open_or_die(owner);
	struct pkv_put_opts po = {.pid = child, .timeout_ms = 10000};
	struct pkv_value v = PKV_VALUE_INIT;
	int r = pkv_put(o, key, strlen(key), "alive", 5, &po, &v);
	pkv_close(o);
	if (r != PKV_OK || !value_is(&v, "alive")) {
		fprintf(stderr, "pid-bound put: %s\n", pkv_strerror(r));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return done(cl, n, &v, 1);
	}
	struct pkv_get_opts go = {.timeout_ms = 10000};
	for (int i = 0; i < n; i++) {
		if (pkv_get(cl[i], key, strlen(key), &go, &v) != PKV_OK || !value_is(&v, "alive")) {
			fprintf(stderr, "%s does not see the key\n", nodes[i]);
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			return done(cl, n, &v, 1);
		}
	}
	uint64_t t0 = mono_us();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	long long took = wait_gone(cl, n, key, t0, (uint64_t)bound);
	printf("pid binding: gone from %d daemons %lld us after the process died (bound %ld ms)\n",
	       n, took, bound);
	return done(cl, n, &v, took >= 0 && took <= bound * 1000 ? 0 : 1);
}

static int kill_gone(char **argv, int argc)
{
	long bound = atol(argv[0]);
	pid_t pid = (pid_t)atol(argv[1]);
	int sig = atoi(argv[2]);
	const char *key = argv[3];
	char **nodes = argv + 4;
	int n = argc - 4;
	struct pkv_client *cl[16];
	if (n < 1 || n > 16 || pid <= 0)
		return 64;
	open_all(nodes, n, cl);
	struct pkv_value v = PKV_VALUE_INIT;
	uint64_t t0 = mono_us();
	if (kill(pid, sig) < 0) {
		perror("kill");
		return done(cl, n, &v, 1);
	}
	long long took = wait_gone(cl, n, key, t0, (uint64_t)bound);
	printf("%s: gone from %d daemons %lld us after signal %d (bound %ld ms)\n", key, n, took,
	       sig, bound);
	return done(cl, n, &v, took >= 0 && took <= bound * 1000 ? 0 : 1);
}

static int until_gone(char **argv, int argc)
{
	long late = atol(argv[0]);
	const char *key = argv[1];
	uint64_t ttl = strtoull(argv[2], NULL, 10);
	char **nodes = argv + 3;
	int n = argc - 3;
	struct pkv_client *cl[16];
	if (n < 1 || n > 16)
		return 64;
	open_all(nodes, n, cl);
	uint64_t until = pkv_now() + ttl;
	struct pkv_put_opts po = {.until = until, .timeout_ms = 10000};
	struct pkv_value v = PKV_VALUE_INIT;
	int r = pkv_put(cl[0], key, strlen(key), "timed", 5, &po, &v);
	if (r != PKV_OK) {
		fprintf(stderr, "until put: %s\n", pkv_strerror(r));
		return done(cl, n, &v, 1);
	}
	/* Read on every node until all report it absent; never absent early. */
	struct pkv_get_opts go = {.timeout_ms = 2000};
	bool gone[16] = {false};
	int n_gone = 0;
	uint64_t last_gone = 0;
	while (n_gone < n && pkv_now() < until + (uint64_t)late + 30000u) {
		for (int i = 0; i < n; i++) {
			if (gone[i])
				continue;
			r = pkv_get(cl[i], key, strlen(key), &go, &v);
			/* Early means the whole call ended before until. */
			uint64_t after = pkv_now();
			if (r == PKV_NOT_FOUND) {
				if (after < until) {
					fprintf(stderr, "%s: absent %llu ms before until\n", nodes[i],
						(unsigned long long)(until - after));
					return done(cl, n, &v, 1);
				}
				gone[i] = true;
				n_gone++;
				last_gone = pkv_now();
			} else if (r != PKV_OK) {
				fprintf(stderr, "%s: %s\n", nodes[i], pkv_strerror(r));
				return done(cl, n, &v, 1);
			}
		}
	}
	long long lateness = n_gone == n ? (long long)(last_gone - until) : -1;
	printf("until binding: never absent early, gone from %d daemons %lld ms after until (bound "
	       "%ld ms)\n",
	       n, lateness, late);
	return done(cl, n, &v, lateness >= 0 && lateness <= late ? 0 : 1);
}

static int put_many(char **argv)
{
	const char *bucket = argv[1], *prefix = argv[2];
	long count = atol(argv[3]);
	uint64_t ttl = strtoull(argv[4], NULL, 10);
	struct pkv_client *c = open_or_die(argv[0]);
	struct pkv_value v = PKV_VALUE_INIT;
	uint64_t gmin = UINT64_MAX, gmax = 0, late = 0;
	int rc = 0;
	for (long i = 0; i < count; i++) {
		char key[128];
		int kl = snprintf(key, sizeof(key), "%s%ld", prefix, i);
		struct pkv_put_opts po = {.bucket = bucket,
					  .bucket_len = strlen(bucket),
					  .until = ttl ? pkv_now() + ttl : 0,
					  .timeout_ms = 10000};
		int r = pkv_put(c, key, (size_t)kl, key, (size_t)kl, &po, &v);
		/* A put slower than its TTL (a loaded host) finds its until past:
		 * again with a new one, counted. */
		for (int t = 0; ttl && r == PKV_INVALID_VALUE && t < 3; t++) {
			late++;
			po.until = pkv_now() + ttl;
			r = pkv_put(c, key, (size_t)kl, key, (size_t)kl, &po, &v);
		}
		if (r != PKV_OK || v.len != (size_t)kl || memcmp(v.data, key, (size_t)kl)) {
			fprintf(stderr, "put %s (%ld of %ld): %s\n", key, i + 1, count,
				r != PKV_OK ? pkv_strerror(r) : "another value was chosen");
			rc = 1;
			break;
		}
		gmin = v.gen < gmin ? v.gen : gmin;
		gmax = v.gen > gmax ? v.gen : gmax;
	}
	if (!rc)
		printf("puts=%ld min_gen=%llu max_gen=%llu until_passed=%llu\n", count,
		       (unsigned long long)gmin, (unsigned long long)gmax, (unsigned long long)late);
	return done(&c, 1, &v, rc);
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "put-many"))
		return put_many(argv + 2);
	if (argc >= 6 && !strcmp(argv[1], "pid-gone"))
		return pid_gone(argv + 2, argc - 2);
	if (argc >= 7 && !strcmp(argv[1], "kill-gone"))
		return kill_gone(argv + 2, argc - 2);
	if (argc >= 6 && !strcmp(argv[1], "until-gone"))
		return until_gone(argv + 2, argc - 2);
	if (argc >= 7 && !strcmp(argv[1], "read-stopped"))
		return read_stopped(argv + 2);
	if (argc >= 7 && !strcmp(argv[1], "stress"))
		return stress(argv + 2, argc - 2);
	if (argc == 4 && !strcmp(argv[1], "restart"))
		return restart(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of pkv-stress.c\n");
	return 64;
}
