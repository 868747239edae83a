// SPDX-License-Identifier: MIT
/*
 * test-client.c — libpaxoskv-client through its public header, attached
 * over a real control socket to a fake daemon (daemon/shm.c with an
 * in-memory store instead of paxos; see fake-daemon.h).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-daemon.h"
#include "paxoskv.h"
#include "pkv-shm.h"
#include "shm.h"

static char dir[64];
static char sock[128];
static struct fake_daemon fd_;
static struct pkv_client *c;
static struct pkv_value v = PKV_VALUE_INIT;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pkv-client-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/pkvd.sock", dir);
	ck_assert_int_eq(fake_init(&fd_, sock, 100, 0), 0);
	ck_assert_int_eq(fake_start(&fd_), 0);
	ck_assert_int_eq(pkv_open(&c, sock), 0);
}

static void teardown(void)
{
	pkv_value_free(&v);
	pkv_close(c);
	fake_stop(&fd_);
	rmdir(dir);
}

static int put(const char *k, const char *val, struct pkv_value *chosen)
{
	return pkv_put(c, k, strlen(k), val, strlen(val), NULL, chosen);
}

/* Waits on an eventfd of the fake daemon, with a deadline. */
static void wait_event(int efd)
{
	struct pollfd p = {.fd = efd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	uint64_t n;
	ck_assert_int_eq(read(efd, &n, sizeof(n)), (ssize_t)sizeof(n));
}

START_TEST(put_returns_the_chosen_value_and_get_reads_it_from_the_cache)
{
	ck_assert_int_eq(put("k", "first", &v), PKV_OK);
	ck_assert_str_eq(v.data, "first");
	ck_assert_uint_eq(v.gen, 1);
	ck_assert_int_eq(put("k", "second", &v), PKV_OK);
	ck_assert_str_eq(v.data, "first"); /* write-once */
	struct pkv_stats st;
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	uint64_t requests = st.requests;
	ck_assert_int_eq(pkv_get(c, "k", 1, NULL, &v), PKV_OK);
	ck_assert_str_eq(v.data, "first");
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	ck_assert_uint_eq(st.requests, requests); /* no request: a memory read */
	ck_assert_uint_eq(st.cache_hits, 1);
	struct pkv_get_opts nocache = {.flags = PKV_GET_NO_CACHE};
	ck_assert_int_eq(pkv_get(c, "k", 1, &nocache, &v), PKV_OK);
	ck_assert_str_eq(v.data, "first");
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	ck_assert_uint_eq(st.requests, requests + 1);
	ck_assert_uint_eq(st.incarnation, 100);
}
END_TEST

START_TEST(get_of_a_missing_key_is_not_found_or_the_default)
{
	ck_assert_int_eq(pkv_get(c, "nope", 4, NULL, &v), PKV_NOT_FOUND);
	struct pkv_get_opts o = {.def = "dflt", .def_len = 4};
	ck_assert_int_eq(pkv_get(c, "nope", 4, &o, &v), PKV_OK);
	ck_assert_str_eq(v.data, "dflt");
	ck_assert_uint_eq(v.gen, 0);
}
END_TEST

START_TEST(buckets_are_separate_namespaces)
{
	struct pkv_put_opts po = {.bucket = "other", .bucket_len = 5};
	ck_assert_int_eq(pkv_put(c, "k", 1, "x", 1, &po, &v), PKV_OK);
	ck_assert_int_eq(pkv_get(c, "k", 1, NULL, &v), PKV_NOT_FOUND);
	struct pkv_get_opts go = {.bucket = "other", .bucket_len = 5};
	ck_assert_int_eq(pkv_get(c, "k", 1, &go, &v), PKV_OK);
	ck_assert_str_eq(v.data, "x");
}
END_TEST

START_TEST(full_size_value_travels_both_ways_and_larger_is_refused)
{
	static char big[PKV_VALUE_MAX + 1];
	memset(big, 'z', sizeof(big));
	ck_assert_int_eq(pkv_put(c, "big", 3, big, PKV_VALUE_MAX + 1, NULL, &v), PKV_TOO_LARGE);
	ck_assert_int_eq(pkv_put(c, "big", 3, big, PKV_VALUE_MAX, NULL, &v), PKV_OK);
	ck_assert_uint_eq(v.len, PKV_VALUE_MAX);
	pkv_value_free(&v);
	ck_assert_int_eq(pkv_get(c, "big", 3, NULL, &v), PKV_OK);
	ck_assert_uint_eq(v.len, PKV_VALUE_MAX);
	ck_assert(memcmp(v.data, big, PKV_VALUE_MAX) == 0);
	static char key[PKV_KEY_MAX + 1];
	ck_assert_int_eq(pkv_get(c, key, sizeof(key), NULL, &v), PKV_TOO_LARGE);
}
END_TEST

START_TEST(bindings_are_sent_and_refused_until_lifetimes_land)
{
	struct pkv_put_opts o = {.pid = getpid()};
	ck_assert_int_eq(pkv_put(c, "k", 1, "v", 1, &o, NULL), PKV_INVALID_VALUE);
	struct pkv_put_opts u = {.until = pkv_now() + 1000};
	ck_assert_int_eq(pkv_put(c, "k", 1, "v", 1, &u, NULL), PKV_INVALID_VALUE);
	struct pkv_put_opts n = {.node = "node2"};
	ck_assert_int_eq(pkv_put(c, "k", 1, "v", 1, &n, NULL), PKV_INVALID_VALUE);
	ck_assert_int_eq(pkv_put(c, "k", 1, "v", 1, NULL, NULL), PKV_OK);
}
END_TEST

START_TEST(keys_are_listed_in_order_across_pages)
{
	enum { N = 3000 }; /* about 100 KB of records: two pages at least */
	for (unsigned i = 0; i < N; i++) {
		char k[40];
		snprintf(k, sizeof(k), "key-%06u-padding-padding", i);
		ck_assert_int_eq(put(k, "v", NULL), PKV_OK);
	}
	struct pkv_put_opts po = {.bucket = "elsewhere", .bucket_len = 9};
	ck_assert_int_eq(pkv_put(c, "zzz", 3, "v", 1, &po, NULL), PKV_OK);
	struct pkv_keys *it;
	ck_assert_int_eq(pkv_keys(c, NULL, 0, &it), PKV_OK);
	const void *k;
	size_t len;
	unsigned n = 0;
	int r;
	while ((r = pkv_keys_next(it, &k, &len)) == 1) {
		char want[40];
		snprintf(want, sizeof(want), "key-%06u-padding-padding", n);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert(memcmp(k, want, len) == 0);
		n++;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, N);
	pkv_keys_free(it);
}
END_TEST

START_TEST(cluster_view_is_read_from_shared_memory)
{
	uint64_t epoch;
	ck_assert_int_eq(pkv_quorum(c, &epoch), 0);
	ck_assert_uint_eq(epoch, 1);
	ck_assert_int_eq(pkv_cluster_size(c), 3);
	struct pkv_node nodes[8];
	ck_assert_int_eq(pkv_nodes(c, nodes, 8), 3);
	ck_assert_str_eq(nodes[0].name, "node1");
	ck_assert_str_eq(nodes[2].name, "node3");
	ck_assert(nodes[0].self && nodes[0].connected);
	ck_assert(!nodes[1].connected);
	ck_assert_int_eq(pkv_wait_for_quorum(c, 0), PKV_TIMEOUT);
	ck_assert_int_eq(put("__quorum", "", NULL), PKV_OK);
	ck_assert_int_eq(pkv_quorum(c, &epoch), 1);
	ck_assert_uint_eq(epoch, 2);
	ck_assert_int_eq(pkv_wait_for_quorum(c, 0), PKV_OK);
}
END_TEST

static void *wait_quorum_thread(void *arg)
{
	struct pkv_client *cl = arg;
	return (void *)(intptr_t)pkv_wait_for_quorum(cl, 10000);
}

START_TEST(wait_for_quorum_wakes_on_the_flip)
{
	struct pkv_client *other;
	ck_assert_int_eq(pkv_open(&other, sock), 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, wait_quorum_thread, c), 0);
	ck_assert_int_eq(pkv_put(other, "__quorum", 8, "", 0, NULL, NULL), PKV_OK);
	void *r;
	pthread_join(t, &r);
	ck_assert_int_eq((int)(intptr_t)r, PKV_OK);
	pkv_close(other);
}
END_TEST

static int failed_status;
static void record_fail(struct pkv_client *cl, int status, const char *msg, void *arg)
{
	failed_status = status;
	*(int *)arg += 1;
}

START_TEST(no_quorum_fail_calls_the_handler_and_the_default_aborts)
{
	ck_assert_int_eq(put("__noquorum", "v", NULL), PKV_NO_QUORUM);
	int calls = 0;
	pkv_set_fail_handler(c, record_fail, &calls);
	struct pkv_put_opts o = {.no_quorum = PKV_NO_QUORUM_FAIL};
	ck_assert_int_eq(pkv_put(c, "__noquorum", 10, "v", 1, &o, NULL), PKV_NO_QUORUM);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(failed_status, PKV_NO_QUORUM);
	ck_assert_int_eq(pkv_put(c, "fine", 4, "v", 1, &o, NULL), PKV_OK);
	ck_assert_int_eq(calls, 1);
	pkv_set_fail_handler(c, NULL, NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fclose(stderr);
		/* The child re-attaches (its own slot) and then raises. */
		pkv_put(c, "__noquorum", 10, "v", 1, &o, NULL);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGABRT);
}
END_TEST

START_TEST(forked_child_gets_its_own_slot)
{
	ck_assert_int_eq(put("k", "parent", NULL), PKV_OK);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pkv_value cv = PKV_VALUE_INIT;
		struct pkv_get_opts o = {.flags = PKV_GET_NO_CACHE};
		int r = pkv_get(c, "k", 1, &o, &cv);
		struct pkv_stats st;
		pkv_stats(c, &st);
		_exit(r == PKV_OK && !strcmp(cv.data, "parent") && st.reattaches == 1 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(pkv_get(c, "k", 1, &(struct pkv_get_opts){.flags = PKV_GET_NO_CACHE}, &v),
			 PKV_OK);
	ck_assert_str_eq(v.data, "parent");
}
END_TEST

/* --- fork while another thread is inside a request --------------------------- */

static void *hang_thread(void *arg)
{
	struct pkv_put_opts o = {.timeout_ms = 8000};
	return (void *)(intptr_t)pkv_put(arg, "__hang", 6, "v", 1, &o, NULL);
}

/* Waits up to timeout_ms for child pid; kills it if it is still running. */
static int wait_child(pid_t pid, int timeout_ms, int *status)
{
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		usleep(10000);
	}
}

/*
 * A thread of the parent holds the handle's lock, waiting in a request the
 * daemon never answers, when the main thread forks. The child's cached get,
 * uncached get and put complete, within a deadline well before the parent's
 * request could end.
 */
START_TEST(fork_while_a_thread_waits_in_a_request_the_childs_calls_complete)
{
	ck_assert_int_eq(put("k", "parent", NULL), PKV_OK);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, hang_thread, c), 0);
	wait_event(fd_.hang_fd); /* the daemon holds the request: the lock is taken */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pkv_value cv = PKV_VALUE_INIT;
		int bad = 0;
		if (pkv_get(c, "k", 1, NULL, &cv) != PKV_OK || strcmp(cv.data, "parent"))
			bad |= 1;
		struct pkv_get_opts o = {.flags = PKV_GET_NO_CACHE};
		if (pkv_get(c, "k", 1, &o, &cv) != PKV_OK || strcmp(cv.data, "parent"))
			bad |= 2;
		if (pkv_put(c, "child", 5, "c", 1, NULL, &cv) != PKV_OK || strcmp(cv.data, "c"))
			bad |= 4;
		pkv_value_free(&cv);
		_exit(bad);
	}
	int st = 0;
	int r = wait_child(pid, 4000, &st);
	ck_assert_msg(r == 0, "the child's calls hung (the handle's lock stayed locked)");
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	void *res;
	pthread_join(t, &res);
	ck_assert_int_eq((int)(intptr_t)res, PKV_TIMEOUT);
	/* The parent's handle goes on, in its own slot. */
	ck_assert_int_eq(pkv_get(c, "child", 5, NULL, &v), PKV_OK);
	ck_assert_str_eq(v.data, "c");
}
END_TEST

/* --- view reads overlapping updates -------------------------------------------- */

static int view_stop;

/* The daemon's side: the same view rewritten over and over, a few a ms. */
static void *view_writer(void *arg)
{
	static const char *names[] = {"node1", "node2", "node3"};
	unsigned n = 0;
	while (!__atomic_load_n(&view_stop, __ATOMIC_RELAXED)) {
		shm_set_view(fd_.seg, true, 7, 3, 1, 7, names, 3);
		if (++n % 4 == 0)
			usleep(1000);
	}
	return (void *)(uintptr_t)n;
}

struct view_reader {
	struct pkv_client *c;
	unsigned reads, errors;
	int last_bad;
};

static void *view_reader(void *arg)
{
	struct view_reader *r = arg;
	struct pkv_node nodes[PKV_SHM_NODES];
	char name[PKV_NODE_NAME_MAX + 1];
	for (unsigned i = 0; !__atomic_load_n(&view_stop, __ATOMIC_RELAXED); i++) {
		uint64_t epoch = 0;
		int q = pkv_quorum(r->c, &epoch);
		if (q != 1 || epoch != 7)
			r->errors++, r->last_bad = q;
		int n = pkv_nodes(r->c, nodes, PKV_SHM_NODES);
		if (n != 3 || strcmp(nodes[1].name, "node2") || !nodes[2].connected)
			r->errors++, r->last_bad = n;
		int w = pkv_wait_for_quorum(r->c, 0);
		if (w != PKV_OK)
			r->errors++, r->last_bad = w;
		if (i % 16 == 0) { /* a round trip each: fewer of them */
			int k = pkv_node(r->c, "__node2", 7, NULL, name, sizeof(name));
			if (k != PKV_OK || strcmp(name, "node2"))
				r->errors++, r->last_bad = k;
		}
		r->reads += 4;
	}
	return NULL;
}

/*
 * The daemon rewrites the view every few hundred µs for three seconds
 * while two readers call pkv_quorum, pkv_nodes, pkv_wait_for_quorum and
 * pkv_node: every call answers, with the view's values, every time.
 */
START_TEST(view_reads_overlapping_updates_never_fail)
{
	static const char *names[] = {"node1", "node2", "node3"};
	shm_set_view(fd_.seg, true, 7, 3, 1, 7, names, 3);
	struct view_reader r[2] = {{.c = c}, {.c = NULL}};
	ck_assert_int_eq(pkv_open(&r[1].c, sock), 0);
	view_stop = 0;
	pthread_t w, rt[2];
	ck_assert_int_eq(pthread_create(&w, NULL, view_writer, NULL), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&rt[i], NULL, view_reader, &r[i]), 0);
	usleep(3000 * 1000);
	__atomic_store_n(&view_stop, 1, __ATOMIC_RELAXED);
	void *updates;
	pthread_join(w, &updates);
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	pkv_close(r[1].c);
	fprintf(stderr, "view: %u updates, %u + %u reads, %u + %u errors\n",
		(unsigned)(uintptr_t)updates, r[0].reads, r[1].reads, r[0].errors, r[1].errors);
	ck_assert_uint_gt(r[0].reads + r[1].reads, 1000);
	ck_assert_msg(r[0].errors + r[1].errors == 0, "%u failed view reads (last: %d)",
		      r[0].errors + r[1].errors, r[0].last_bad ? r[0].last_bad : r[1].last_bad);
}
END_TEST

/* pkv_node's lookup on a view the daemon stopped in the middle of writing. */
START_TEST(node_lookup_with_a_view_stuck_mid_update_is_an_error_not_a_walk)
{
	char name[PKV_NODE_NAME_MAX + 1];
	ck_assert_int_eq(pkv_node(c, "__node2", 7, NULL, name, sizeof(name)), PKV_OK);
	ck_assert_str_eq(name, "node2");
	struct pkv_shm_layout *m = shm_layout(fd_.seg);
	uint32_t s = pkv_shm_load_rlx(&m->view.seq);
	pkv_shm_store_rel(&m->view.seq, s + 1); /* odd: a writer stopped halfway */
	int r = pkv_node(c, "__node2", 7, NULL, name, sizeof(name));
	int q = pkv_quorum(c, NULL);
	pkv_shm_store_rel(&m->view.seq, s + 2);
	ck_assert_int_eq(r, PKV_UNAVAILABLE);
	ck_assert_int_eq(q, PKV_UNAVAILABLE);
	ck_assert_int_eq(pkv_node(c, "__node2", 7, NULL, name, sizeof(name)), PKV_OK);
}
END_TEST

START_TEST(client_killed_while_waiting_is_reclaimed_and_others_go_on)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pkv_client *cc;
		if (pkv_open(&cc, sock) != 0)
			_exit(1);
		pkv_put(cc, "__hang", 6, "v", 1, NULL, NULL); /* killed in here */
		_exit(2);
	}
	wait_event(fd_.hang_fd); /* the daemon holds the child's request */
	kill(pid, SIGKILL);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	wait_event(fd_.reclaim_fd);
	struct pkv_stats s;
	ck_assert_int_eq(pkv_stats(c, &s), PKV_OK);
	ck_assert_uint_eq(s.reclaimed, 1);
	ck_assert_int_eq(put("after", "v", &v), PKV_OK);
	ck_assert_str_eq(v.data, "v");
}
END_TEST

START_TEST(daemon_restart_fails_calls_in_flight_and_the_next_call_reattaches)
{
	ck_assert_int_eq(put("k", "v1", NULL), PKV_OK);
	fake_stop(&fd_); /* clean exit: daemon_alive cleared, waiters woken */
	ck_assert_int_eq(pkv_get(c, "k", 1, NULL, &v), PKV_UNAVAILABLE);
	ck_assert_int_eq(pkv_quorum(c, NULL), PKV_UNAVAILABLE);
	ck_assert_int_eq(fake_init(&fd_, sock, 200, 1), 0);
	ck_assert_int_eq(fake_start(&fd_), 0);
	ck_assert_int_eq(pkv_get(c, "k", 1, NULL, &v), PKV_NOT_FOUND); /* a new, empty daemon */
	ck_assert_int_eq(put("k", "v2", &v), PKV_OK);
	ck_assert_str_eq(v.data, "v2");
	struct pkv_stats st;
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	ck_assert_uint_eq(st.incarnation, 200);
	ck_assert_uint_eq(st.reattaches, 1);
	ck_assert_int_eq(pkv_quorum(c, NULL), 1);
}
END_TEST

/*
 * The cache geometry is the daemon's, read from the segment at each attach:
 * a client re-attaching to a daemon with a larger or a smaller cache reads
 * every cached value in place, with no request.
 */
static void put_then_get_all_from_the_cache(unsigned n)
{
	char k[32], val[32];
	for (unsigned i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%u", i);
		snprintf(val, sizeof(val), "value-%u", i);
		ck_assert_int_eq(put(k, val, NULL), PKV_OK);
	}
	struct pkv_stats st;
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	uint64_t requests = st.requests, hits = st.cache_hits;
	for (unsigned i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%u", i);
		snprintf(val, sizeof(val), "value-%u", i);
		ck_assert_int_eq(pkv_get(c, k, strlen(k), NULL, &v), PKV_OK);
		ck_assert_str_eq(v.data, val);
	}
	ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
	ck_assert_uint_eq(st.requests, requests);
	ck_assert_uint_eq(st.cache_hits, hits + n);
}

START_TEST(cache_of_any_size_is_read_with_the_daemons_geometry)
{
	put_then_get_all_from_the_cache(300);
	static const uint32_t sizes[] = {1048576, PKV_SHM_CACHE_MIN, PKV_SHM_CACHE_MAX};
	for (unsigned r = 0; r < sizeof(sizes) / sizeof(sizes[0]); r++) {
		fake_stop(&fd_);
		ck_assert_int_eq(fake_init_sized(&fd_, sock, 400 + r, 1, sizes[r]), 0);
		ck_assert_int_eq(fake_start(&fd_), 0);
		struct pkv_shm_cache_geom want;
		ck_assert_int_eq(pkv_shm_cache_geom_for(sizes[r], &want), 0);
		ck_assert_uint_eq(shm_cache_geom(fd_.seg)->stripes, want.stripes);
		ck_assert_uint_eq(shm_layout(fd_.seg)->hdr.cache_stripes, want.stripes);
		put_then_get_all_from_the_cache(sizes[r] == PKV_SHM_CACHE_MIN ? 200 : 2000);
		struct pkv_stats st;
		ck_assert_int_eq(pkv_stats(c, &st), PKV_OK);
		ck_assert_uint_eq(st.incarnation, 400 + r);
	}
}
END_TEST

/*
 * A daemon process killed between two requests, its segment's daemon_alive
 * left set: the next request ends with PKV_UNAVAILABLE in well under a
 * second, whether the client's last poll of the control socket is fresh
 * (requests poll it at most every 50 ms: the request goes to the dead ring
 * and ring_wait finds the daemon gone) or older; and the one after too.
 */
static void killed_between_requests(bool pause_first)
{
	char psock[160];
	snprintf(psock, sizeof(psock), "%s/killed-%d.sock", dir, pause_first);
	struct fake_daemon pd;
	ck_assert_int_eq(fake_init(&pd, psock, 301, 1), 0);
	pid_t pid = fake_fork(&pd);
	ck_assert_int_gt(pid, 0);
	struct pkv_client *pc;
	ck_assert_int_eq(pkv_open(&pc, psock), 0);
	ck_assert_int_eq(pkv_put(pc, "k1", 2, "v", 1, NULL, NULL), PKV_OK);
	if (pause_first) {
		/* Not a wait for an event: the time itself is the case, the
		 * client's 50 ms poll period run out before the kill. */
		struct timespec pause = {0, 80 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pkv_put(pc, "k2", 2, "v", 1, NULL, NULL), PKV_UNAVAILABLE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(took < 1000, "the put to a killed daemon took %ld ms", took);
	ck_assert_int_eq(pkv_put(pc, "k3", 2, "v", 1, NULL, NULL), PKV_UNAVAILABLE);
	pkv_close(pc);
	fake_free(&pd);
}

START_TEST(daemon_killed_right_after_a_request_fails_the_next_promptly)
{
	killed_between_requests(false);
}
END_TEST

START_TEST(daemon_killed_a_while_after_a_request_fails_the_next_promptly)
{
	killed_between_requests(true);
}
END_TEST

/* A daemon process killed while it holds a request: the call ends, no hang. */
START_TEST(daemon_killed_mid_request_returns_unavailable)
{
	char psock[160];
	snprintf(psock, sizeof(psock), "%s/killed.sock", dir);
	struct fake_daemon pd;
	ck_assert_int_eq(fake_init(&pd, psock, 300, 1), 0);
	pid_t pid = fake_fork(&pd);
	ck_assert_int_gt(pid, 0);
	struct pkv_client *pc;
	ck_assert_int_eq(pkv_open(&pc, psock), 0);
	ck_assert_int_eq(pkv_put(pc, "k", 1, "v", 1, NULL, NULL), PKV_OK);
	ck_assert_int_eq(pkv_put(pc, "__die", 5, "v", 1, NULL, NULL), PKV_UNAVAILABLE);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(pkv_get(pc, "k", 1, &(struct pkv_get_opts){.flags = PKV_GET_NO_CACHE}, &v),
			 PKV_UNAVAILABLE); /* nobody listens any more */
	pkv_close(pc);
	fake_free(&pd);
}
END_TEST

START_TEST(open_without_a_daemon_is_unavailable)
{
	struct pkv_client *x = (struct pkv_client *)1;
	char path[160];
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	ck_assert_int_eq(pkv_open(&x, path), PKV_UNAVAILABLE);
	ck_assert_ptr_null(x);
	ck_assert(strstr(pkv_errmsg(), "none.sock") != NULL);
	ck_assert_str_eq(pkv_strerror(PKV_NOT_FOUND), "not found");
	ck_assert_str_eq(pkv_strerror(-ENOENT), strerror(ENOENT));
	ck_assert_str_eq(pkv_version(), PKV_VERSION_STRING);
}
END_TEST

START_TEST(endpoint_node_name_uses_the_run_dir)
{
	char nd[128];
	snprintf(nd, sizeof(nd), "%s/nodeX", dir);
	ck_assert_int_eq(mkdir(nd, 0700), 0);
	char link[200];
	snprintf(link, sizeof(link), "%s/pkvd.sock", nd);
	ck_assert_int_eq(symlink(sock, link), 0);
	setenv("PKV_RUN_DIR", dir, 1);
	struct pkv_client *x;
	ck_assert_int_eq(pkv_open(&x, "nodeX"), 0);
	ck_assert_int_eq(pkv_put(x, "n", 1, "v", 1, NULL, NULL), PKV_OK);
	pkv_close(x);
	setenv("PKV_NODE", "nodeX", 1);
	ck_assert_int_eq(pkv_open(&x, NULL), 0);
	pkv_close(x);
	unsetenv("PKV_NODE");
	unsetenv("PKV_RUN_DIR");
	unlink(link);
	rmdir(nd);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, put_returns_the_chosen_value_and_get_reads_it_from_the_cache);
	tcase_add_test(tc, get_of_a_missing_key_is_not_found_or_the_default);
	tcase_add_test(tc, buckets_are_separate_namespaces);
	tcase_add_test(tc, full_size_value_travels_both_ways_and_larger_is_refused);
	tcase_add_test(tc, bindings_are_sent_and_refused_until_lifetimes_land);
	tcase_add_test(tc, keys_are_listed_in_order_across_pages);
	tcase_add_test(tc, cluster_view_is_read_from_shared_memory);
	tcase_add_test(tc, wait_for_quorum_wakes_on_the_flip);
	tcase_add_test(tc, no_quorum_fail_calls_the_handler_and_the_default_aborts);
	tcase_add_test(tc, forked_child_gets_its_own_slot);
	tcase_add_test(tc, fork_while_a_thread_waits_in_a_request_the_childs_calls_complete);
	tcase_add_test(tc, view_reads_overlapping_updates_never_fail);
	tcase_add_test(tc, node_lookup_with_a_view_stuck_mid_update_is_an_error_not_a_walk);
	tcase_add_test(tc, client_killed_while_waiting_is_reclaimed_and_others_go_on);
	tcase_add_test(tc, daemon_restart_fails_calls_in_flight_and_the_next_call_reattaches);
	tcase_add_test(tc, daemon_killed_right_after_a_request_fails_the_next_promptly);
	tcase_add_test(tc, daemon_killed_a_while_after_a_request_fails_the_next_promptly);
	tcase_add_test(tc, cache_of_any_size_is_read_with_the_daemons_geometry);
	tcase_add_test(tc, daemon_killed_mid_request_returns_unavailable);
	tcase_add_test(tc, open_without_a_daemon_is_unavailable);
	tcase_add_test(tc, endpoint_node_name_uses_the_run_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
