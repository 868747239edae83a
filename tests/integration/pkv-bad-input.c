// SPDX-License-Identifier: MIT
/*
 * pkv-bad-input — bad-input scenarios for the multi-daemon tests, through the
 * public library only (include/paxoskv.h). Every loop is bounded in count
 * and time; it signals only the daemon pid it is given (one the test
 * started). Prints "FAIL: ..." and exits 1 on the first broken rule.
 *
 *   pkv-bad-input limits NODE...
 *	keys, buckets and values at the limits (and binary ones: NUL bytes
 *	inside) are accepted and round-trip on every node; one byte over, an
 *	empty key or bucket, dead bindings are refused with the documented
 *	status; afterwards every accepted key reads the same on every node and
 *	nothing refused was stored, truncated or not.
 *   pkv-bad-input flood NODE DAEMON_PID THREADS OTHER_NODE...
 *	SIGSTOPs the daemon, kills a client while it waits for an answer, then
 *	floods it from THREADS handles with FLOOD_CALLS short-timeout puts
 *	each (every one posted over the handle's last, unanswered one). Every
 *	call must return PKV_TIMEOUT in bounded time (never hang). After SIGCONT every handle works again, and
 *	nothing chosen before was lost; each flooded key is absent or holds
 *	exactly the value proposed for it.
 *   pkv-bad-input cache-fill NODE OTHER_NODE COUNT THREADS
 *	puts COUNT distinct keys (more than the learner cache holds) and reads
 *	every one back on both nodes: evicted keys come through the ring with
 *	the right value. Checks the cache really overflowed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "paxoskv.h"

#define MAX_NODES   8
#define MAX_THREADS 120 /* below the daemon's 128 client slots */

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct pkv_client *open_node(const char *node)
{
	struct pkv_client *c;
	int r = pkv_open(&c, node);
	if (r != PKV_OK)
		fail("attach to %s: %s (%s)", node, pkv_strerror(r), pkv_errmsg());
	return c;
}

static bool same(const struct pkv_value *v, const void *p, size_t n)
{
	return v->len == n && (n == 0 || memcmp(v->data, p, n) == 0);
}

/* --- limits ------------------------------------------------------------------ */

/* A key that was accepted: what every node must keep returning. */
struct kept {
	const char *what;
	const void *bucket;
	size_t bucket_len;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t gen;
};

static void put_ok(struct pkv_client *c, struct kept *k)
{
	struct pkv_put_opts o = {.bucket = k->bucket, .bucket_len = k->bucket_len};
	struct pkv_value v = PKV_VALUE_INIT;
	int r = pkv_put(c, k->key, k->key_len, k->value, k->value_len, &o, &v);
	if (r != PKV_OK)
		fail("put %s: %s (%s)", k->what, pkv_strerror(r), pkv_errmsg());
	if (!same(&v, k->value, k->value_len))
		fail("put %s chose another value (%zu bytes, want %zu)", k->what, v.len,
		     k->value_len);
	k->gen = v.gen;
	pkv_value_free(&v);
}

static void get_same(struct pkv_client *c, const char *node, const struct kept *k, uint32_t flags)
{
	struct pkv_get_opts o = {.bucket = k->bucket, .bucket_len = k->bucket_len, .flags = flags};
	struct pkv_value v = PKV_VALUE_INIT;
	int r = pkv_get(c, k->key, k->key_len, &o, &v);
	if (r != PKV_OK)
		fail("get %s on %s%s: %s (%s)", k->what, node, flags ? " (no cache)" : "",
		     pkv_strerror(r), pkv_errmsg());
	if (!same(&v, k->value, k->value_len) || v.gen != k->gen)
		fail("get %s on %s: %zu bytes gen %" PRIu64 ", want %zu bytes gen %" PRIu64,
		     k->what, node, v.len, v.gen, k->value_len, k->gen);
	pkv_value_free(&v);
}

static void absent(struct pkv_client *c, const char *node, const char *what, const void *bucket,
		   size_t bucket_len, const void *key, size_t key_len)
{
	struct pkv_get_opts o = {
	    .bucket = bucket, .bucket_len = bucket_len, .flags = PKV_GET_NO_CACHE};
	struct pkv_value v = PKV_VALUE_INIT;
	int r = pkv_get(c, key, key_len, &o, &v);
	if (r != PKV_NOT_FOUND)
		fail("%s on %s: %s, want not found", what, node, pkv_strerror(r));
	pkv_value_free(&v);
}

static void expect(int got, int want, const char *what)
{
	if (got != want)
		fail("%s: %s (%d), want %s (%d)", what, pkv_strerror(got), got, pkv_strerror(want),
		     want);
	/* The context message says what was wrong, for the user. */
	if (!*pkv_errmsg())
		fail("%s: no context message", what);
	printf("# refused as expected: %s: %s (%s)\n", what, pkv_strerror(got), pkv_errmsg());
}

static int limits(int n, char **nodes)
{
	struct pkv_client *cl[MAX_NODES];
	if (n > MAX_NODES)
		fail("at most %d nodes", MAX_NODES);
	for (int i = 0; i < n; i++)
		cl[i] = open_node(nodes[i]);

	static uint8_t key_max[PKV_KEY_MAX + 1], value_max[PKV_VALUE_MAX + 1];
	static uint8_t bucket_max[PKV_BUCKET_MAX + 1], node_long[PKV_NODE_NAME_MAX + 2];
	static uint8_t key_over[PKV_KEY_MAX + 1];
	memset(key_over, 'x', sizeof(key_over));
	/* Binary contents, NUL bytes included: buffers are byte strings. */
	for (size_t i = 0; i < sizeof(key_max); i++)
		key_max[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(value_max); i++)
		value_max[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(bucket_max); i++)
		bucket_max[i] = (uint8_t)(i % 5 == 1 ? 0 : 'a' + i % 26);
	memset(node_long, 'n', sizeof(node_long) - 1);

	struct kept k[] = {
	    {"a 1024-byte binary key", NULL, 0, key_max, PKV_KEY_MAX, "at-key-limit", 12, 0},
	    {"a 60000-byte binary value", NULL, 0, "value-limit", 11, value_max, PKV_VALUE_MAX, 0},
	    {"a 255-byte bucket with NULs", bucket_max, PKV_BUCKET_MAX, "k", 1, "in-big-bucket", 13,
	     0},
	    {"key \"nul\\0a\"", NULL, 0, "nul\0a", 5, "A", 1, 0},
	    {"key \"nul\\0b\"", NULL, 0, "nul\0b", 5, "B", 1, 0},
	    {"key \"nul\"", NULL, 0, "nul", 3, "plain", 5, 0},
	    {"key \"\\0\"", NULL, 0, "\0", 1, "one-nul", 7, 0},
	    {"value \"v\\0w\\0\"", NULL, 0, "nul-value", 9, "v\0w\0", 4, 0},
	    {"an empty value", NULL, 0, "empty-value", 11, "", 0, 0},
	    {"bucket \"bk\\0x\"", "bk\0x", 4, "same-key", 8, "in-bk-nul-x", 11, 0},
	    {"bucket \"bk\"", "bk", 2, "same-key", 8, "in-bk", 5, 0},
	};
	size_t nk = sizeof(k) / sizeof(k[0]);
	for (size_t i = 0; i < nk; i++)
		put_ok(cl[i % (size_t)n], &k[i]);
	for (int j = 0; j < n; j++)
		for (size_t i = 0; i < nk; i++) {
			get_same(cl[j], nodes[j], &k[i], PKV_GET_NO_CACHE);
			get_same(cl[j], nodes[j], &k[i], 0);
		}
	printf("# %zu keys at the limits and with NUL bytes round-trip on %d nodes\n", nk, n);

	/* One byte over each limit, through every call that takes it. */
	struct pkv_client *c = cl[0];
	struct pkv_value v = PKV_VALUE_INIT;
	struct pkv_put_opts po = {0};
	struct pkv_get_opts go = {0};
	int32_t pid;
	char name[PKV_NODE_NAME_MAX + 1];
	struct pkv_keys *it;
	expect(pkv_put(c, key_over, PKV_KEY_MAX + 1, "v", 1, NULL, &v), PKV_TOO_LARGE,
	       "put of a 1025-byte key");
	expect(pkv_get(c, key_max, PKV_KEY_MAX + 1, NULL, &v), PKV_TOO_LARGE,
	       "get of a 1025-byte key");
	expect(pkv_pid(c, key_max, PKV_KEY_MAX + 1, NULL, &pid), PKV_TOO_LARGE,
	       "pid of a 1025-byte key");
	expect(pkv_node(c, key_max, PKV_KEY_MAX + 1, NULL, name, sizeof(name)), PKV_TOO_LARGE,
	       "node of a 1025-byte key");
	expect(pkv_put(c, "too-big-value", 13, value_max, PKV_VALUE_MAX + 1, NULL, &v),
	       PKV_TOO_LARGE, "put of a 60001-byte value");
	po = (struct pkv_put_opts){.bucket = bucket_max, .bucket_len = PKV_BUCKET_MAX + 1};
	expect(pkv_put(c, "k", 1, "v", 1, &po, &v), PKV_TOO_LARGE, "put into a 256-byte bucket");
	go = (struct pkv_get_opts){.bucket = bucket_max, .bucket_len = PKV_BUCKET_MAX + 1};
	expect(pkv_get(c, "k", 1, &go, &v), PKV_TOO_LARGE, "get from a 256-byte bucket");
	expect(pkv_keys(c, bucket_max, PKV_BUCKET_MAX + 1, &it), PKV_TOO_LARGE,
	       "keys of a 256-byte bucket");
	po = (struct pkv_put_opts){.dep_key = key_max, .dep_key_len = PKV_KEY_MAX + 1};
	expect(pkv_put(c, "dep-too-big", 11, "v", 1, &po, &v), PKV_TOO_LARGE,
	       "put bound to a 1025-byte key");
	po = (struct pkv_put_opts){.node = (const char *)node_long};
	expect(pkv_put(c, "node-too-long", 13, "v", 1, &po, &v), PKV_TOO_LARGE,
	       "put bound to a 64-character node name");

	/* Empty names: malformed, not too large. */
	expect(pkv_put(c, "", 0, "v", 1, NULL, &v), PKV_BAD_REQUEST, "put of an empty key");
	expect(pkv_get(c, "", 0, NULL, &v), PKV_BAD_REQUEST, "get of an empty key");
	po = (struct pkv_put_opts){.bucket = "", .bucket_len = 0};
	expect(pkv_put(c, "k", 1, "v", 1, &po, &v), PKV_BAD_REQUEST,
	       "put into an empty bucket name");
	go = (struct pkv_get_opts){.bucket = "", .bucket_len = 0};
	expect(pkv_get(c, "k", 1, &go, &v), PKV_BAD_REQUEST, "get from an empty bucket name");
	expect(pkv_keys(c, "", 0, &it), PKV_BAD_REQUEST, "keys of an empty bucket name");
	/*
	 * The daemons' own buckets (first byte NUL: the membership's, the
	 * drops', the collected keys' floors): no client names one. A put
	 * there would decide a configuration or a drop by a client's say.
	 */
	static const struct {
		const char *name;
		size_t len;
	} reserved[] = {{"\0conf", 5}, {"\0drop", 5}, {"\0floor", 6}, {"\0x", 2}};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		char what[5][96];
		struct pkv_watch *w = NULL;
		struct pkv_key_info *ki = NULL;
		size_t nki = 0;
		const char *op[5] = {"put into", "get from", "keys of", "watch of", "info of a key of"};
		for (int j = 0; j < 5; j++)
			snprintf(what[j], sizeof(what[j]), "%s a reserved bucket (\\0%s)", op[j],
				 reserved[i].name + 1);
		po = (struct pkv_put_opts){.bucket = reserved[i].name, .bucket_len = reserved[i].len};
		expect(pkv_put(c, "9", 1, "client-config", 13, &po, &v), PKV_BAD_REQUEST, what[0]);
		go = (struct pkv_get_opts){.bucket = reserved[i].name, .bucket_len = reserved[i].len,
					   .flags = PKV_GET_NO_CACHE};
		expect(pkv_get(c, "1", 1, &go, &v), PKV_BAD_REQUEST, what[1]);
		expect(pkv_keys(c, reserved[i].name, reserved[i].len, &it), PKV_BAD_REQUEST, what[2]);
		expect(pkv_watch(c, reserved[i].name, reserved[i].len, NULL, 0, 0, 0, &w),
		       PKV_BAD_REQUEST, what[3]);
		expect(pkv_info(c, reserved[i].name, reserved[i].len, "1", 1, 2000, &ki, &nki),
		       PKV_BAD_REQUEST, what[4]);
		if (w)
			pkv_unwatch(w);
		if (ki)
			pkv_info_free(ki, nki);
	}
	expect(pkv_put(c, NULL, 3, "v", 1, NULL, &v), -EINVAL, "put of a NULL key of length 3");
	expect(pkv_put(c, "k", 1, NULL, 1, NULL, &v), -EINVAL, "put of a NULL value of length 1");

	/* Dead bindings: refused, nothing stored. */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	po = (struct pkv_put_opts){.pid = dead};
	expect(pkv_put(c, "dead-pid", 8, "v", 1, &po, &v), PKV_INVALID_VALUE,
	       "put bound to a dead pid");
	po = (struct pkv_put_opts){.pid = -2}; /* -1 is PKV_PID_SELF */
	expect(pkv_put(c, "negative-pid", 12, "v", 1, &po, &v), PKV_INVALID_VALUE,
	       "put bound to pid -2");
	po = (struct pkv_put_opts){.node = "node99"};
	expect(pkv_put(c, "unknown-node", 12, "v", 1, &po, &v), PKV_INVALID_VALUE,
	       "put bound to an unknown node");
	po = (struct pkv_put_opts){.dep_key = "no-such-key", .dep_key_len = 11};
	expect(pkv_put(c, "absent-dep", 10, "v", 1, &po, &v), PKV_INVALID_VALUE,
	       "put bound to an absent key");
	po = (struct pkv_put_opts){.until = pkv_now() - 1000};
	expect(pkv_put(c, "past-until", 10, "v", 1, &po, &v), PKV_INVALID_VALUE,
	       "put with an until in the past");
	pkv_value_free(&v);

	/* Nothing refused was stored, truncated or not; everything kept stays. */
	for (int j = 0; j < n; j++) {
		absent(cl[j], nodes[j], "the 1024-byte prefix of the refused 1025-byte key", NULL,
		       0, key_over, PKV_KEY_MAX);
		absent(cl[j], nodes[j], "the key of the refused 60001-byte value", NULL, 0,
		       "too-big-value", 13);
		absent(cl[j], nodes[j], "the refused dead-pid put", NULL, 0, "dead-pid", 8);
		absent(cl[j], nodes[j], "the refused unknown-node put", NULL, 0, "unknown-node",
		       12);
		absent(cl[j], nodes[j], "the refused absent-dep put", NULL, 0, "absent-dep", 10);
		absent(cl[j], nodes[j], "the refused past-until put", NULL, 0, "past-until", 10);
		absent(cl[j], nodes[j], "the refused node-too-long put", NULL, 0, "node-too-long",
		       13);
		for (size_t i = 0; i < nk; i++) {
			get_same(cl[j], nodes[j], &k[i], PKV_GET_NO_CACHE);
			get_same(cl[j], nodes[j], &k[i], 0);
		}
	}

	/* keys lists binary keys whole: the NUL-bearing ones are distinct. */
	int r = pkv_keys(cl[n - 1], NULL, 0, &it);
	if (r != PKV_OK)
		fail("keys: %s", pkv_strerror(r));
	const void *kp;
	size_t kl;
	unsigned seen = 0, listed = 0;
	while ((r = pkv_keys_next(it, &kp, &kl)) == 1) {
		listed++;
		for (size_t i = 0; i < nk; i++)
			if (!k[i].bucket && kl == k[i].key_len && !memcmp(kp, k[i].key, kl))
				seen |= 1u << i;
	}
	pkv_keys_free(it);
	if (r != 0)
		fail("keys_next: %s", pkv_strerror(r));
	unsigned want = 0, want_n = 0;
	for (size_t i = 0; i < nk; i++)
		if (!k[i].bucket) {
			want |= 1u << i;
			want_n++;
		}
	if (seen != want || listed != want_n)
		fail("keys of the default bucket: %u listed, mask %#x, want %u, mask %#x", listed,
		     seen, want_n, want);
	for (int i = 0; i < n; i++)
		pkv_close(cl[i]);
	printf("limits ok\n");
	return 0;
}

/* --- flood --------------------------------------------------------------------- */

#define FLOOD_TIMEOUT_MS 20u
/* A call may take its timeout, the library's grace for the daemon (1 s) and
 * a loaded machine's scheduling delays; more than this is a hang. */
#define FLOOD_HANG_MS	  8000u
#define FLOOD_DEADLINE_MS 40000u

struct flood_thread {
	pthread_t t;
	struct pkv_client *c;
	int id;
	int tried; /* keys flood-ID-0 .. flood-ID-(tried-1) were proposed */
	int timeouts;
	uint64_t longest_ms;
	char err[256];
};

/* Calls of each flood thread: each handle's area holds one request, which
 * every call replaces (the shared ring of 256 entries that this once filled
 * took 4 calls a handle). */
#define FLOOD_CALLS 8
static uint64_t flood_end;

static void flood_key(char *buf, size_t cap, int id, int j, bool value)
{
	snprintf(buf, cap, "%s-%d-%d", value ? "value" : "flood", id, j);
}

static void *flood_body(void *arg)
{
	struct flood_thread *ft = arg;
	struct pkv_put_opts o = {.timeout_ms = FLOOD_TIMEOUT_MS};
	struct pkv_value v = PKV_VALUE_INIT;
	while (ft->tried < FLOOD_CALLS && mono_ms() < flood_end) {
		char key[64], val[64];
		flood_key(key, sizeof(key), ft->id, ft->tried, false);
		flood_key(val, sizeof(val), ft->id, ft->tried, true);
		ft->tried++;
		uint64_t t0 = mono_ms();
		int r = pkv_put(ft->c, key, strlen(key), val, strlen(val), &o, &v);
		uint64_t took = mono_ms() - t0;
		if (took > ft->longest_ms)
			ft->longest_ms = took;
		if (took > FLOOD_HANG_MS) {
			snprintf(ft->err, sizeof(ft->err), "%s took %" PRIu64 " ms", key, took);
			break;
		}
		if (r != PKV_TIMEOUT) {
			snprintf(ft->err, sizeof(ft->err), "%s with the daemon stopped: %s (%s)",
				 key, pkv_strerror(r), pkv_errmsg());
			break;
		}
		ft->timeouts++;
	}
	pkv_value_free(&v);
	return NULL;
}

/* The system call a process is blocked in (from /proc), or -1. */
static long blocked_in(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long nr = -1;
	if (fscanf(f, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

static pid_t stopped;

static void resume(void)
{
	if (stopped > 0)
		kill(stopped, SIGCONT);
}

static int flood(char **argv, int argc)
{
	const char *node = argv[0];
	pid_t daemon = (pid_t)atol(argv[1]);
	int nt = atoi(argv[2]);
	char **others = argv + 3;
	int n_others = argc - 3;
	if (daemon <= 0 || nt < 1 || nt > MAX_THREADS || n_others > MAX_NODES)
		fail("flood: bad arguments");

	struct pkv_client *c = open_node(node);
	struct kept base = {"flood-base", NULL, 0, "flood-base", 10, "base", 4, 0};
	put_ok(c, &base);

	static struct flood_thread ft[MAX_THREADS];
	for (int i = 0; i < nt; i++) {
		ft[i].c = open_node(node);
		ft[i].id = i;
	}

	/* A client that dies while its request waits for the daemon. */
	int go[2], ready[2];
	if (pipe(go) < 0 || pipe(ready) < 0)
		fail("pipe: %s", strerror(errno));
	pid_t victim = fork();
	if (victim == 0) {
		struct pkv_client *vc = open_node(node);
		char b;
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		struct pkv_value v = PKV_VALUE_INIT;
		pkv_put(vc, "killed-mid-request", 18, "victim", 6, NULL, &v);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char b;
	if (read(ready[0], &b, 1) != 1)
		fail("the victim client could not attach");
	close(ready[0]);

	stopped = daemon;
	atexit(resume);
	if (kill(daemon, SIGSTOP) < 0)
		fail("SIGSTOP %d: %s", (int)daemon, strerror(errno));
	if (write(go[1], "g", 1) != 1)
		fail("pipe write");
	close(go[1]);
	/* Wait until the victim sleeps on its response futex: its request is
	 * is posted and the daemon cannot have answered (it is stopped). */
	uint64_t until = mono_ms() + 30000;
	while (blocked_in(victim) != SYS_futex) {
		if (mono_ms() > until)
			fail("the victim client never blocked waiting for its answer");
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	printf("# killed a client waiting for its put's answer\n");

	flood_end = mono_ms() + FLOOD_DEADLINE_MS;
	for (int i = 0; i < nt; i++)
		pthread_create(&ft[i].t, NULL, flood_body, &ft[i]);
	int calls = 0;
	uint64_t longest = 0;
	for (int i = 0; i < nt; i++) {
		pthread_join(ft[i].t, NULL);
		calls += ft[i].tried;
		if (ft[i].longest_ms > longest)
			longest = ft[i].longest_ms;
		if (ft[i].err[0])
			fail("flood thread %d: %s", i, ft[i].err);
	}
	if (calls < nt * FLOOD_CALLS)
		fail("%d calls in %u ms, fewer than %d", calls, FLOOD_DEADLINE_MS, nt * FLOOD_CALLS);
	printf("# %d calls from %d handles, each returned PKV_TIMEOUT "
	       "(longest %" PRIu64 " ms)\n",
	       calls, nt, longest);

	stopped = 0;
	if (kill(daemon, SIGCONT) < 0)
		fail("SIGCONT: %s", strerror(errno));

	/* Every handle works again; nothing chosen was lost. */
	struct pkv_value v = PKV_VALUE_INIT;
	for (int i = 0; i < nt; i++) {
		char key[64], val[64];
		snprintf(key, sizeof(key), "after-%d", i);
		snprintf(val, sizeof(val), "after-value-%d", i);
		int r = pkv_put(ft[i].c, key, strlen(key), val, strlen(val), NULL, &v);
		if (r != PKV_OK || !same(&v, val, strlen(val)))
			fail("put %s after SIGCONT: %s (%s)", key, pkv_strerror(r), pkv_errmsg());
	}
	get_same(c, node, &base, PKV_GET_NO_CACHE);
	int chosen = 0;
	for (int i = 0; i < nt; i++)
		for (int j = 0; j < ft[i].tried; j++) {
			char key[64], val[64];
			flood_key(key, sizeof(key), i, j, false);
			flood_key(val, sizeof(val), i, j, true);
			struct pkv_get_opts o = {.flags = PKV_GET_NO_CACHE};
			int r = pkv_get(c, key, strlen(key), &o, &v);
			if (r == PKV_OK && !same(&v, val, strlen(val)))
				fail("%s holds a value never proposed for it", key);
			if (r != PKV_OK && r != PKV_NOT_FOUND)
				fail("get %s after SIGCONT: %s", key, pkv_strerror(r));
			chosen += r == PKV_OK;
		}
	struct pkv_get_opts o = {.flags = PKV_GET_NO_CACHE};
	int r = pkv_get(c, "killed-mid-request", 18, &o, &v);
	if (r == PKV_OK ? !same(&v, "victim", 6) : r != PKV_NOT_FOUND)
		fail("killed-mid-request: %s", pkv_strerror(r));
	printf("# after SIGCONT: %d handles put again; %d timed-out flood puts were chosen "
	       "late, the rest absent; killed client's key %s\n",
	       nt, chosen, r == PKV_OK ? "chosen" : "absent");
	for (int i = 0; i < n_others; i++) {
		struct pkv_client *oc = open_node(others[i]);
		get_same(oc, others[i], &base, PKV_GET_NO_CACHE);
		get_same(oc, others[i], &base, 0);
		pkv_close(oc);
	}
	pkv_value_free(&v);
	for (int i = 0; i < nt; i++)
		pkv_close(ft[i].c);
	pkv_close(c);
	printf("flood ok\n");
	return 0;
}

/* --- cache-fill ------------------------------------------------------------------ */

struct fill_thread {
	pthread_t t;
	const char *node, *other;
	int id, nt, count;
	uint64_t misses; /* node1 gets the cache could not answer */
	char err[256];
};

static void fill_kv(int i, char *key, size_t kcap, char *val, size_t vcap)
{
	snprintf(key, kcap, "c%06d", i);
	snprintf(val, vcap, "v%06d-%x", i, (unsigned)(i * 2654435761u));
}

static void *fill_body(void *arg)
{
	struct fill_thread *f = arg;
	struct pkv_client *c, *o;
	if (pkv_open(&c, f->node) != PKV_OK || pkv_open(&o, f->other) != PKV_OK) {
		snprintf(f->err, sizeof(f->err), "attach: %s", pkv_errmsg());
		return NULL;
	}
	struct pkv_value v = PKV_VALUE_INIT;
	char key[32], val[48];
	for (int i = f->id; i < f->count && !f->err[0]; i += f->nt) {
		fill_kv(i, key, sizeof(key), val, sizeof(val));
		int r = pkv_put(c, key, strlen(key), val, strlen(val), NULL, &v);
		if (r != PKV_OK || !same(&v, val, strlen(val)))
			snprintf(f->err, sizeof(f->err), "put %s: %s (%s)", key, pkv_strerror(r),
				 pkv_errmsg());
	}
	/* Every key back, on both nodes: from the cache or through the ring. */
	for (int pass = 0; pass < 2 && !f->err[0]; pass++) {
		struct pkv_client *g = pass ? o : c;
		for (int i = f->id; i < f->count && !f->err[0]; i += f->nt) {
			fill_kv(i, key, sizeof(key), val, sizeof(val));
			int r = pkv_get(g, key, strlen(key), NULL, &v);
			if (r != PKV_OK || !same(&v, val, strlen(val)))
				snprintf(f->err, sizeof(f->err), "get %s on %s: %s (%zu bytes)",
					 key, pass ? f->other : f->node, pkv_strerror(r), v.len);
		}
	}
	struct pkv_stats st;
	if (pkv_stats(c, &st) == PKV_OK)
		f->misses = st.cache_misses;
	pkv_value_free(&v);
	pkv_close(c);
	pkv_close(o);
	return NULL;
}

static int cache_fill(char **argv)
{
	static struct fill_thread ft[MAX_THREADS];
	int count = atoi(argv[2]), nt = atoi(argv[3]);
	if (count < 1 || nt < 1 || nt > MAX_THREADS)
		fail("cache-fill: bad arguments");
	uint64_t t0 = mono_ms(), misses = 0;
	for (int i = 0; i < nt; i++) {
		ft[i] = (struct fill_thread){
		    .node = argv[0], .other = argv[1], .id = i, .nt = nt, .count = count};
		pthread_create(&ft[i].t, NULL, fill_body, &ft[i]);
	}
	for (int i = 0; i < nt; i++) {
		pthread_join(ft[i].t, NULL);
		if (ft[i].err[0])
			fail("thread %d: %s", i, ft[i].err);
		misses += ft[i].misses;
	}
	struct pkv_client *c = open_node(argv[0]);
	struct pkv_stats st;
	int r = pkv_stats(c, &st);
	if (r != PKV_OK)
		fail("stats: %s", pkv_strerror(r));
	printf("# %d keys put and read back on 2 nodes in %" PRIu64 " ms; cache entries %" PRIu64
	       " evicted %" PRIu64 " refused %" PRIu64 "; %" PRIu64
	       " reads on %s went through the ring\n",
	       count, mono_ms() - t0, st.cache_entries, st.cache_evicted, st.cache_refused, misses,
	       argv[0]);
	if (misses == 0)
		fail("no read missed the cache: the ring path was not exercised");
	if (st.cache_evicted + st.cache_refused == 0)
		fail("the learner cache never overflowed: %" PRIu64 " entries", st.cache_entries);
	if (st.cache_entries >= (uint64_t)count)
		fail("the cache claims %" PRIu64 " entries for %d keys", st.cache_entries, count);
	pkv_close(c);
	printf("cache-fill ok\n");
	return 0;
}

/*
 * late NODE: two puts on one handle, as one client that gives up on a request
 * and goes on. The first (key "late-first", 1 s timeout) must time out; then
 * "sending second" is printed and the second put (key "late-second", 30 s)
 * runs. Prints the second's answer; exit 0 when it is its own value.
 */
static int late(const char *node)
{
	struct pkv_client *c = open_node(node);
	struct pkv_put_opts o = { .timeout_ms = 1000 };
	struct pkv_value v = { 0 };
	int r = pkv_put(c, "late-first", 10, "first-value", 11, &o, &v);
	if (r != PKV_TIMEOUT && r != PKV_NO_QUORUM)
		fail("the first put answered %s, want a timeout", pkv_strerror(r));
	printf("first: %s\nsending second\n", pkv_strerror(r));
	o.timeout_ms = 30000;
	r = pkv_put(c, "late-second", 11, "second-value", 12, &o, &v);
	if (r != PKV_OK)
		fail("the second put: %s", pkv_strerror(r));
	printf("second: %.*s\n", (int)v.len, (const char *)v.data);
	bool own = same(&v, "second-value", 12);
	pkv_value_free(&v);
	pkv_close(c);
	return own ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "limits"))
		return limits(argc - 2, argv + 2);
	if (argc >= 5 && !strcmp(argv[1], "flood"))
		return flood(argv + 2, argc - 2);
	if (argc == 6 && !strcmp(argv[1], "cache-fill"))
		return cache_fill(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "late"))
		return late(argv[2]);
	fprintf(stderr, "usage: pkv-bad-input limits NODE... | flood NODE DAEMON_PID THREADS "
			"[NODE...] | cache-fill NODE OTHER_NODE COUNT THREADS | late NODE\n");
	return 64;
}
