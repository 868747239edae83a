/* zk-bench — ZooKeeper's side of bench-peers, through the C client
 * (libzookeeper_mt, synchronous calls), one session per client.
 *
 *   zk-bench [options] HOST:PORT[,HOST:PORT...] WORKLOAD
 *
 * Client i has a session with server i mod n only (as etcd-bench spreads its
 * clients over the members). WORKLOAD:
 *   put-if-absent   zoo_create of a fresh persistent znode (fails if it exists)
 *   get-local       zoo_get of a pre-populated znode (the server's own state)
 *   get-sync        zoo_async (sync) then zoo_get: the read after the server has
 *                   caught up with the leader (ZooKeeper's linearizable-ish read)
 *   bound           ephemeral znode of a session with the smallest timeout the
 *                   server allows; the owner process is SIGKILLed; time until a
 *                   poller on another server no longer sees the node (--trials N)
 *   wait            exit 0 once every server accepts a session and answers
 *                   (it is in a quorum), 69 after --seconds
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* The synchronous calls (zoo_create, zoo_get ...) exist only in the
 * multi-threaded library, and its header shows them only with THREADED. */
#define THREADED
#include <zookeeper/zookeeper.h>

static const char usage[] =
	"usage: zk-bench [--clients N] [--seconds S] [--ops N] [--keys N] [--trials N]\n"
	"                HOST:PORT[,HOST:PORT...] put-if-absent|get-local|get-sync|bound|wait\n";

#define MAX_SERVERS 16
#define ZK_PARENT   "/bench-peers"

static char *servers[MAX_SERVERS];
static unsigned n_servers;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void no_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

/* A session with one server; NULL unless connected within timeout_ms. */
static zhandle_t *zk_open(unsigned server, int session_ms, unsigned timeout_ms)
{
	zhandle_t *zh = zookeeper_init(servers[server % n_servers], no_watch, session_ms, NULL,
				       NULL, 0);
	uint64_t deadline = harness_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (!zh)
		return NULL;
	while (zoo_state(zh) != ZOO_CONNECTED_STATE) {
		if (harness_now_ns() > deadline) {
			zookeeper_close(zh);
			return NULL;
		}
		sleep_ms(2);
	}
	return zh;
}

static void zk_path(char *out, size_t size, const char *key)
{
	snprintf(out, size, ZK_PARENT "/%s", key);
}

/* 0 created, 1 it existed (another's value stays), negative ZooKeeper error. */
static int zk_create(zhandle_t *zh, const char *key, int flags)
{
	char path[64], val[HARNESS_VALUE_SIZE + 1];
	int rc;

	zk_path(path, sizeof(path), key);
	harness_value(val, key);
	rc = zoo_create(zh, path, val, HARNESS_VALUE_SIZE, &ZOO_OPEN_ACL_UNSAFE, flags, NULL, 0);
	if (rc == ZOK)
		return 0;
	return rc == ZNODEEXISTS ? 1 : (rc < 0 ? rc : -1);
}

/* The first failure of a client goes to stderr (the run's clients.log). */
static int zk_failed(const char *what, int rc)
{
	static bool said;

	if (!said)
		fprintf(stderr, "zk-bench: %s: %s\n", what, zerror(rc));
	said = true;
	return -1;
}

/* --- workloads ------------------------------------------------------------ */

struct zk_ctx {
	zhandle_t *zh;
	unsigned keys;
	bool sync;
};

static int prepare_common(void *vctx, unsigned client, unsigned keys)
{
	struct zk_ctx *x = vctx;
	int rc;

	x->keys = keys;
	/* 32 clients connecting at once to a JVM on a loaded 2-core machine
	 * took longer than 10 s here, and the C client gives up a handshake
	 * after a third of the session timeout and tries again: a 30 s
	 * session (the ensemble allows it) and 40 s to get it; the harness
	 * waits 60 s for them all. */
	x->zh = zk_open(client, 30000, 40000);
	if (!x->zh) {
		fprintf(stderr, "zk-bench: no session with %s within 40 s\n",
			servers[client % n_servers]);
		return -ECONNREFUSED;
	}
	rc = zoo_create(x->zh, ZK_PARENT, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	return rc == ZOK || rc == ZNODEEXISTS ? 0 : -EIO;
}

static int prepare_reads(void *vctx, unsigned client, unsigned keys)
{
	struct zk_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];
	int rc = prepare_common(vctx, client, keys);

	for (unsigned i = 0; rc == 0 && i < keys; i++) {
		harness_key(key, 'p', i);
		rc = zk_create(x->zh, key, 0) ? -EIO : 0;
	}
	return rc;
}

static int prepare_sync(void *vctx, unsigned client, unsigned keys)
{
	((struct zk_ctx *)vctx)->sync = true;
	return prepare_reads(vctx, client, keys);
}

static int op_put(void *vctx, uint64_t seq)
{
	struct zk_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];
	int rc;

	harness_key(key, 'n', seq);
	rc = zk_create(x->zh, key, 0);
	return rc < 0 ? zk_failed("create", rc) : rc;
}

static void sync_done(int rc, const char *value, const void *data)
{
	(void)rc, (void)value, (void)data;
}

static int op_get(void *vctx, uint64_t seq)
{
	struct zk_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1], path[64], want[HARNESS_VALUE_SIZE + 1];
	char buf[HARNESS_VALUE_SIZE + 8];
	int len = sizeof(buf), rc;
	struct Stat st;

	harness_key(key, 'p', seq % x->keys);
	zk_path(path, sizeof(path), key);
	/* A session's requests are answered in order, so the get issued after
	 * the sync reads state at least as new as the leader's at sync time. */
	if (x->sync && (rc = zoo_async(x->zh, path, sync_done, NULL)) != ZOK)
		return zk_failed("sync", rc);
	rc = zoo_get(x->zh, path, 0, buf, &len, &st);
	if (rc != ZOK)
		return rc == ZNONODE ? 1 : zk_failed("get", rc);
	harness_value(want, key);
	return len == HARNESS_VALUE_SIZE && !memcmp(buf, want, HARNESS_VALUE_SIZE) ? 0 : 1;
}

static void finish(void *vctx)
{
	struct zk_ctx *x = vctx;

	if (x->zh)
		zookeeper_close(x->zh);
}

/* --- owner-bound removal --------------------------------------------------- */

/* The owner: a session asking for session_ms, which the server raises to its
 * minimum (2 × tickTime) if lower (the client library cannot connect with a
 * tiny timeout: it derives its connect timeout from it); an ephemeral znode;
 * the negotiated timeout goes to fd. The library pings every third of it
 * until the process is killed (or 120 s pass, so it cannot outlive a lost
 * parent). */
static void owner_main(unsigned server, const char *key, int fd, unsigned session_ms)
{
	zhandle_t *zh = zk_open(server, (int)session_ms, 10000);
	int timeout;
	uint64_t stop = harness_now_ns() + 120ull * 1000000000ull;

	if (!zh)
		_exit(69);
	int rc = zoo_create(zh, ZK_PARENT, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	if ((rc != ZOK && rc != ZNODEEXISTS) || zk_create(zh, key, ZOO_EPHEMERAL) != 0)
		_exit(69);
	timeout = zoo_recv_timeout(zh);
	if (write(fd, &timeout, sizeof(timeout)) != sizeof(timeout))
		_exit(69);
	while (harness_now_ns() < stop)
		sleep_ms(100);
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int run_bound(const struct harness_config *cfg)
{
	uint64_t lat[100];
	unsigned done = 0;
	int timeout = 0;

	srand48((long)harness_now_ns());
	for (unsigned t = 0; t < cfg->trials; t++) {
		char key[HARNESS_KEY_SIZE + 1], path[64];
		zhandle_t *poller;
		struct pollfd pfd;
		struct Stat st;
		int fds[2], ws, rc = ZOK;
		pid_t pid;
		uint64_t t0, deadline;

		harness_key(key, 'b', t);
		zk_path(path, sizeof(path), key);
		if (pipe(fds) < 0)
			return 69;
		pid = fork();
		if (pid < 0)
			return 69;
		if (pid == 0) {
			close(fds[0]);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			owner_main(t, key, fds[1], cfg->owner_ttl_ms);
		}
		close(fds[1]);
		pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
		if (poll(&pfd, 1, 15000) != 1 ||
		    read(fds[0], &timeout, sizeof(timeout)) != sizeof(timeout)) {
			fprintf(stderr, "zk-bench bound: the owner could not create its node\n");
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			close(fds[0]);
			return 69;
		}
		close(fds[0]);
		/* The poller reads another server's own state, as a watcher there
		 * would learn of the deletion. */
		poller = zk_open(t + 1, 10000, 10000);
		if (!poller) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			return 69;
		}
		/* Die at a random point of the ping period, as a crash would. */
		sleep_ms(200 + (unsigned)(drand48() * 1000));
		kill(pid, SIGKILL);
		t0 = harness_now_ns();
		waitpid(pid, &ws, 0);
		deadline = t0 + 60ull * 1000000000ull;
		while (harness_now_ns() < deadline) {
			rc = zoo_exists(poller, path, 0, &st);
			if (rc == ZNONODE)
				break;
			sleep_ms(1);
		}
		zookeeper_close(poller);
		if (rc != ZNONODE) {
			fprintf(stderr, "zk-bench bound: node still present 60 s after the kill\n");
			continue;
		}
		lat[done++] = harness_now_ns() - t0;
	}
	if (!done)
		return 69;
	qsort(lat, done, sizeof(lat[0]), cmp_u64);
	printf("{\"system\": \"zookeeper\", \"workload\": \"bound\", \"clients\": 1, \"ops\": %u, "
	       "\"errors\": %u, \"ops_per_s\": 0, \"p50_ns\": %llu, \"p99_ns\": %llu, "
	       "\"min_ns\": %llu, \"max_ns\": %llu, \"session_timeout_ms\": %d}\n",
	       done, cfg->trials - done, (unsigned long long)lat[(done - 1) / 2],
	       (unsigned long long)lat[done - 1], (unsigned long long)lat[0],
	       (unsigned long long)lat[done - 1], timeout);
	return 0;
}

static int run_wait(const struct harness_config *cfg)
{
	uint64_t deadline = harness_now_ns() + (uint64_t)(cfg->seconds * 1e9);

	for (unsigned s = 0; s < n_servers; s++) {
		for (;;) {
			zhandle_t *zh = zk_open(s, 10000, 2000);
			struct Stat st;
			int rc = zh ? zoo_exists(zh, "/", 0, &st) : ZCONNECTIONLOSS;

			if (zh)
				zookeeper_close(zh);
			if (rc == ZOK)
				break;
			if (harness_now_ns() > deadline)
				return 69;
			sleep_ms(100);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct harness_config cfg = {.system = "zookeeper"};
	struct harness_workload w = {.op = op_get, .finish = finish};
	int i = harness_parse(&cfg, argc, argv, usage);
	char *save = NULL, *tok;
	const char *name;

	if (i < 0 || argc - i != 2) {
		fputs(usage, stderr);
		return 64;
	}
	for (tok = strtok_r(argv[i], ",", &save); tok && n_servers < MAX_SERVERS;
	     tok = strtok_r(NULL, ",", &save))
		servers[n_servers++] = tok;
	if (!n_servers) {
		fputs(usage, stderr);
		return 64;
	}
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	name = argv[i + 1];
	if (!strcmp(name, "wait"))
		return run_wait(&cfg);
	if (!strcmp(name, "bound"))
		return run_bound(&cfg);
	w.name = name;
	if (!strcmp(name, "put-if-absent")) {
		w.prepare = prepare_common;
		w.op = op_put;
	} else if (!strcmp(name, "get-local")) {
		w.prepare = prepare_reads;
	} else if (!strcmp(name, "get-sync")) {
		w.prepare = prepare_sync;
	} else {
		fputs(usage, stderr);
		return 64;
	}
	return harness_run(&cfg, &w, sizeof(struct zk_ctx));
}
