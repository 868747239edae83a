// SPDX-License-Identifier: MIT
/*
 * test-ring.c — requests through the clients' own areas: the daemon side
 * (daemon/shm*.c) and the client side (libclient/ring.c) in one process and
 * across fork().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "shm.h"

static struct shm_segment *seg;
static struct pkv_shm_layout *m;

/* A slot's area, through the daemon's own mapping of it. */
#define AREA(slot) shm_client_area(seg, (unsigned)(slot))

static void setup(void)
{
	ck_assert_int_eq(shm_create(&seg, 42, getpid()), 0);
	m = shm_layout(seg);
}

static void teardown(void)
{
	shm_destroy(seg);
}

/* A client as the library holds it, without the control socket. */
static struct pkv_attach client_at(int slot)
{
	struct pkv_attach a = {
		.m = m,
		.size = sizeof(*m),
		.c = AREA(slot),
		.ctl_fd = -1,
		.bell_fd = shm_client_doorbell_fd(seg, (unsigned)slot),
		.slot = (unsigned)slot,
		.attach_gen = AREA(slot)->attach_gen,
	};
	return a;
}

static struct ring_req put_req(const char *key, const char *value)
{
	struct ring_req rq = {
		.op = PKV_SHM_OP_PUT,
		.bucket = {"b", 1},
		.key = {key, strlen(key)},
		.value = {value, strlen(value)},
	};
	return rq;
}

static uint32_t submit(struct pkv_attach *a, const struct ring_req *rq)
{
	uint32_t tag = ring_write_request(AREA(a->slot), &a->tag, rq);
	ck_assert_int_eq(ring_publish(a, tag), 0);
	return tag;
}

static bool bytes_is(struct pkv_bytes b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

/* The daemon echoes the key as the value, so each answer is checkable. */
static void serve_all(void)
{
	struct shm_request rq;
	while (shm_ring_next(seg, &rq))
		ck_assert_int_eq(shm_respond(seg, rq.slot, rq.ticket, PKV_S_OK, 7, rq.key.p,
					     rq.key.len),
				 0);
}

static void round_trip(struct pkv_attach *a, const char *key)
{
	struct ring_req rq = put_req(key, "v");
	uint32_t tag = submit(a, &rq);
	serve_all();
	ck_assert_int_eq(ring_wait(a, tag, client_mono_ms() + 5000), 0);
	struct pkv_shm_client *c = AREA(a->slot);
	ck_assert_int_eq(c->status, PKV_S_OK);
	ck_assert_uint_eq(c->resp_len, strlen(key));
	ck_assert(memcmp(c->resp_data, key, strlen(key)) == 0);
}

START_TEST(request_round_trip_carries_every_field)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	ck_assert_int_ge(slot, 0);
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("key1", "value1");
	rq.flags = PKV_SHM_F_NO_QUORUM_RETRY;
	rq.timeout_ms = 1234;
	rq.until = 99;
	uint32_t tag = submit(&a, &rq);

	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got));
	ck_assert_uint_eq(got.slot, (unsigned)slot);
	ck_assert_uint_eq(got.op, PKV_SHM_OP_PUT);
	ck_assert_uint_eq(got.flags, PKV_SHM_F_NO_QUORUM_RETRY);
	ck_assert_uint_eq(got.timeout_ms, 1234);
	ck_assert(bytes_is(got.bucket, "b"));
	ck_assert(bytes_is(got.key, "key1"));
	ck_assert(bytes_is(got.value, "value1"));
	ck_assert(got.has_bindings); /* until is a binding */
	ck_assert(!shm_ring_next(seg, &got));

	ck_assert_int_eq(shm_respond(seg, got.slot, got.ticket, PKV_S_OK, 5, "chosen", 6), 0);
	ck_assert_int_eq(ring_wait(&a, tag, client_mono_ms() + 5000), 0);
	ck_assert_int_eq(AREA(slot)->status, PKV_S_OK);
	ck_assert_uint_eq(AREA(slot)->gen, 5);
	ck_assert(memcmp(AREA(slot)->resp_data, "chosen", 6) == 0);
	ck_assert_uint_eq(shm_stats(seg)->requests, 1);
	ck_assert_uint_eq(shm_stats(seg)->responses, 1);
}
END_TEST

START_TEST(empty_bucket_means_default_and_zero_timeout_means_default)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = {.op = PKV_SHM_OP_GET, .key = {"k", 1}};
	submit(&a, &rq);
	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got));
	ck_assert(bytes_is(got.bucket, PKV_DEFAULT_BUCKET));
	ck_assert_uint_eq(got.timeout_ms, PKV_SHM_DEFAULT_TIMEOUT_MS);
	ck_assert(!got.has_bindings);
}
END_TEST

START_TEST(malformed_request_is_answered_by_the_ring_and_never_dispatched)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("k", "v");
	rq.op = 99;
	uint32_t tag = submit(&a, &rq);
	struct shm_request got;
	ck_assert(!shm_ring_next(seg, &got));
	ck_assert_int_eq(ring_wait(&a, tag, client_mono_ms() + 5000), 0);
	ck_assert_int_eq(AREA(slot)->status, PKV_S_BAD_REQUEST);

	/* A length over the limit written straight into the slot. */
	rq = put_req("k", "v");
	tag = ring_write_request(AREA(slot), &a.tag, &rq);
	AREA(slot)->key_len = PKV_MAX_KEY + 1;
	ck_assert_int_eq(ring_publish(&a, tag), 0);
	ck_assert(!shm_ring_next(seg, &got));
	ck_assert_int_eq(ring_wait(&a, tag, client_mono_ms() + 5000), 0);
	ck_assert_int_eq(AREA(slot)->status, PKV_S_TOO_LARGE);
	ck_assert_uint_eq(shm_stats(seg)->malformed, 2);
}
END_TEST

START_TEST(requests_of_many_clients_are_taken_one_a_client_in_slot_order)
{
	struct pkv_attach a[PKV_SHM_CLIENTS];
	uint32_t tag[PKV_SHM_CLIENTS];
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++) {
		int slot = shm_attach_client(seg, getpid(), getuid());
		ck_assert_int_eq(slot, (int)i);
		a[i] = client_at(slot);
	}
	ck_assert_int_eq(shm_attach_client(seg, getpid(), getuid()), -EAGAIN);
	/* Three rounds, every client posting in each. */
	for (unsigned lap = 0; lap < 3; lap++) {
		for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++) {
			struct ring_req rq = put_req("k", "v");
			tag[i] = submit(&a[i], &rq);
		}
		for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++) {
			struct shm_request got;
			ck_assert(shm_ring_next(seg, &got));
			ck_assert_uint_eq(got.slot, i);
			shm_respond(seg, got.slot, got.ticket, PKV_S_OK, 0, NULL, 0);
		}
		for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++)
			ck_assert_int_eq(ring_wait(&a[i], tag[i], client_mono_ms() + 5000), 0);
	}
}
END_TEST

START_TEST(doorbell_is_rung_only_when_the_daemon_sleeps)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	int bell = shm_client_doorbell_fd(seg, (unsigned)slot);
	uint64_t v;
	struct ring_req rq = put_req("k", "v");
	submit(&a, &rq);
	ck_assert_int_lt(read(bell, &v, sizeof(v)), 0); /* busy: no syscall */
	ck_assert(!shm_sleep_begin(seg)); /* a request waits: do not block */
	serve_all();
	ck_assert(shm_sleep_begin(seg));
	submit(&a, &rq);
	ck_assert_int_eq(read(bell, &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 1);
	/* The word is the daemon's to clear: until it wakes, every producer rings. */
	ck_assert_uint_eq(m->hdr.sleeping, 1);
	serve_all();
	submit(&a, &rq);
	ck_assert_int_eq(read(bell, &v, sizeof(v)), (ssize_t)sizeof(v));
	shm_sleep_end(seg);
	ck_assert_uint_eq(m->hdr.sleeping, 0);
	serve_all();
	submit(&a, &rq);
	ck_assert_int_lt(read(bell, &v, sizeof(v)), 0);
}
END_TEST

START_TEST(request_replaced_before_the_daemon_took_it_is_stale)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("old", "v");
	submit(&a, &rq);
	/* The client gave up (timeout) and writes its next request. */
	rq = put_req("new", "v");
	uint32_t tag = ring_write_request(AREA(slot), &a.tag, &rq);
	struct shm_request got;
	ck_assert(!shm_ring_next(seg, &got)); /* the old post no longer matches */
	ck_assert_uint_eq(shm_stats(seg)->stale, 1);
	ck_assert_int_eq(ring_publish(&a, tag), 0);
	ck_assert(shm_ring_next(seg, &got));
	ck_assert(bytes_is(got.key, "new"));
}
END_TEST

START_TEST(late_response_to_an_abandoned_request_is_dropped)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("first", "v");
	submit(&a, &rq);
	struct shm_request first;
	ck_assert(shm_ring_next(seg, &first));
	rq = put_req("second", "v");
	uint32_t tag2 = submit(&a, &rq);
	ck_assert_int_eq(shm_respond(seg, first.slot, first.ticket, PKV_S_OK, 0, "x", 1), -ESTALE);
	ck_assert_uint_ne(AREA(slot)->resp_tag, tag2);
	serve_all();
	ck_assert_int_eq(ring_wait(&a, tag2, client_mono_ms() + 5000), 0);
	ck_assert(memcmp(AREA(slot)->resp_data, "second", 6) == 0);
}
END_TEST

START_TEST(client_killed_mid_write_is_skipped_and_reclaimed)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Half a request: the new tag and some fields, then death. */
		struct pkv_shm_client *c = AREA(slot);
		pkv_shm_store_rlx(&c->req_tag, 1);
		c->op = PKV_SHM_OP_PUT;
		c->key_len = 3;
		memcpy(c->req_data, "bk", 2);
		raise(SIGKILL);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	struct shm_request got;
	ck_assert(!shm_ring_next(seg, &got)); /* nothing was committed */
	shm_reclaim_client(seg, (unsigned)slot);
	ck_assert_ptr_null(AREA(slot)); /* the area went with the slot */
	ck_assert_uint_eq(shm_stats(seg)->reclaimed, 1);

	/* The slot serves its next owner, and another client never noticed. */
	int again = shm_attach_client(seg, getpid(), getuid());
	int other = shm_attach_client(seg, getpid(), getuid());
	ck_assert_int_eq(again, slot);
	struct pkv_attach a = client_at(other), b = client_at(again);
	round_trip(&a, "alpha");
	round_trip(&b, "beta");
}
END_TEST

START_TEST(committed_request_of_a_dead_client_is_purged_at_reclaim)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	int other = shm_attach_client(seg, getpid(), getuid());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pkv_attach a = client_at(slot);
		struct ring_req rq = put_req("dead", "v");
		uint32_t tag = ring_write_request(AREA(slot), &a.tag, &rq);
		ring_publish(&a, tag);
		raise(SIGKILL);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	struct pkv_attach o = client_at(other);
	struct ring_req rq = put_req("alive", "v");
	uint32_t tag = submit(&o, &rq);
	shm_reclaim_client(seg, (unsigned)slot);
	ck_assert_uint_eq(shm_stats(seg)->purged, 1);
	/* The slot is granted again before the daemon looked at the dead post. */
	ck_assert_int_eq(shm_attach_client(seg, getpid(), getuid()), slot);
	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got));
	ck_assert(bytes_is(got.key, "alive"));
	ck_assert(!shm_ring_next(seg, &got));
	ck_assert_int_eq(shm_respond(seg, got.slot, got.ticket, PKV_S_OK, 0, NULL, 0), 0);
	ck_assert_int_eq(ring_wait(&o, tag, client_mono_ms() + 5000), 0);
}
END_TEST

START_TEST(response_to_a_reclaimed_slot_is_dropped)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("k", "v");
	submit(&a, &rq);
	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got)); /* in paxos when the client dies */
	shm_reclaim_client(seg, (unsigned)slot);
	ck_assert_int_eq(shm_attach_client(seg, getpid(), getuid()), slot);
	struct pkv_attach b = client_at(slot);
	ck_assert_int_eq(shm_respond(seg, got.slot, got.ticket, PKV_S_OK, 0, "x", 1), -ESTALE);
	ck_assert_uint_eq(AREA(slot)->resp_tag, 0);
	round_trip(&b, "fresh");
}
END_TEST

/*
 * A child runs round trips in a loop and is killed at an arbitrary point of
 * one (writing, posting, waiting): the daemon keeps serving, nothing
 * wedges, the slot comes back.
 */
START_TEST(client_killed_at_any_instant_never_wedges_the_daemon)
{
	int other = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach o = client_at(other);
	unsigned seed = 12345;
	for (unsigned round = 0; round < 30; round++) {
		int slot = shm_attach_client(seg, getpid(), getuid());
		ck_assert_int_ge(slot, 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct pkv_attach a = client_at(slot);
			for (;;) {
				struct ring_req rq = put_req("loop", "v");
				uint32_t tag = ring_write_request(AREA(slot), &a.tag, &rq);
				ring_publish(&a, tag);
				if (ring_wait(&a, tag, client_mono_ms() + 5000) != 0)
					_exit(1);
			}
		}
		seed = seed * 1103515245u + 12345u;
		uint64_t until = shm_stats(seg)->responses + 1 + (seed >> 16) % 50;
		while (shm_stats(seg)->responses < until) {
			struct shm_request got;
			if (shm_ring_next(seg, &got))
				shm_respond(seg, got.slot, got.ticket, PKV_S_OK, 0, NULL, 0);
		}
		/* Spin a little more so the kill lands anywhere in the child's loop. */
		for (unsigned spin = (seed >> 8) % 5000; spin; spin--)
			__asm__ volatile("" ::: "memory");
		kill(pid, SIGKILL);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st));
		shm_reclaim_client(seg, (unsigned)slot);
		serve_all();
		round_trip(&o, "still-here");
	}
	ck_assert_uint_eq(shm_stats(seg)->reclaimed, 30);
}
END_TEST

START_TEST(dead_daemon_ends_the_wait)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = put_req("k", "v");
	uint32_t tag = submit(&a, &rq);
	pkv_shm_store_rel(&m->hdr.daemon_alive, 0);
	ck_assert_int_eq(ring_wait(&a, tag, client_mono_ms() + 60000), PKV_UNAVAILABLE);
	pkv_shm_store_rel(&m->hdr.daemon_alive, 1);
	struct pkv_attach b = client_at(shm_attach_client(seg, getpid(), getuid()));
	uint32_t tag2 = submit(&b, &rq);
	ck_assert_int_eq(ring_wait(&b, tag2, client_mono_ms()), PKV_TIMEOUT);
}
END_TEST

/*
 * The drain leaves the daemon's epoll fd quiet until the next ring, although
 * it reads no bell's counter (the bells are edge-triggered): otherwise the
 * daemon's loop would turn without pause after one ring.
 */
START_TEST(drained_doorbells_stay_quiet_until_rung_again)
{
	struct pkv_attach a = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct pkv_attach b = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct pollfd bell = {.fd = shm_doorbell_fd(seg), .events = POLLIN};
	struct ring_req rq = put_req("k", "v");
	for (int round = 0; round < 3; round++) {
		ck_assert(shm_sleep_begin(seg));
		submit(&a, &rq);
		submit(&b, &rq);
		ck_assert_int_eq(poll(&bell, 1, 5000), 1);
		shm_doorbell_drain(seg);
		ck_assert_int_eq(poll(&bell, 1, 0), 0);
		shm_sleep_end(seg);
		serve_all();
	}
}
END_TEST

/* --- how an answer wakes its client -------------------------------------------- */

struct waker_log {
	int ret;	  /* what the waker answers: 0 it woke, else it refuses */
	unsigned calls;
	uint32_t *word;
};

static int logging_waker(void *ctx, uint32_t *word)
{
	struct waker_log *l = ctx;
	l->calls++;
	l->word = word;
	if (l->ret == 0)
		syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return l->ret;
}

struct waiter {
	struct pkv_attach *a;
	uint32_t tag;
	int r;
	uint64_t ms;
	pid_t tid; /* the waiting thread, once it runs */
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	uint64_t t0 = client_mono_ms();
	w->r = ring_wait(w->a, w->tag, t0 + 20000);
	w->ms = client_mono_ms() - t0;
	return NULL;
}

/* Whether thread tid of this process sleeps in the kernel (state S). */
static bool thread_sleeps(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold anything */
	return p && p[1] == ' ' && p[2] == 'S';
}

/*
 * A client asleep on its answer: the daemon's waker (its ring) is asked to
 * wake it, on the client's own response word; where the waker refuses (a
 * kernel without futex ops on the ring), the answer wakes it by system
 * call. Either way the client wakes at once, not at the end of its wait
 * slice (PKV_SHM_WAIT_SLICE_MS), so each case runs until one wake is under
 * half a slice.
 */
START_TEST(sleeping_client_is_woken_by_the_waker_or_by_system_call_when_it_refuses)
{
	for (int refuse = 0; refuse < 2; refuse++) {
		struct waker_log log = {.ret = refuse ? -EOPNOTSUPP : 0};
		shm_set_waker(seg, logging_waker, &log);
		int slot = shm_attach_client(seg, getpid(), getuid());
		struct pkv_attach a = client_at(slot);
		bool woken_at_once = false;
		/* A round whose answer came between two slices (a loaded machine)
		 * asks no wake; another round is tried. */
		for (int round = 0; round < 20 && !woken_at_once; round++) {
			struct ring_req rq = put_req("asleep", "v");
			struct waiter w = {.a = &a, .tag = submit(&a, &rq)};
			log.calls = 0;
			log.word = NULL;
			pthread_t t;
			ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
			/* Answer only once the client has said it waits and its
			 * thread sleeps in the kernel (its futex wait). */
			uint64_t deadline = client_mono_ms() + 10000;
			pid_t tid;
			while (!__atomic_load_n(&AREA(slot)->waiting, __ATOMIC_SEQ_CST) ||
			       !(tid = __atomic_load_n(&w.tid, __ATOMIC_ACQUIRE)) ||
			       !thread_sleeps(tid))
				ck_assert(client_mono_ms() < deadline);
			serve_all();
			pthread_join(t, NULL);
			ck_assert_int_eq(w.r, 0);
			ck_assert_uint_le(log.calls, 1);
			if (log.calls == 1)
				ck_assert_ptr_eq(log.word, &AREA(slot)->resp_tag);
			woken_at_once = log.calls == 1 && w.ms < PKV_SHM_WAIT_SLICE_MS / 2;
		}
		ck_assert_msg(woken_at_once,
			      "%s: in 20 rounds no sleeping client was woken at once",
			      refuse ? "waker refused" : "waker woke");
		shm_reclaim_client(seg, (unsigned)slot);
	}
	shm_set_waker(seg, NULL, NULL);
}
END_TEST

/* --- a producer stalled before its doorbell -------------------------------- */

static int stall_in_fd, stall_out_fd;
static unsigned stall_calls;

/* The first producer to reach the doorbell stops there until released. */
static void stall_first_producer(void)
{
	if (__atomic_fetch_add(&stall_calls, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	uint64_t one = 1;
	ck_assert_int_eq(write(stall_in_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	struct pollfd p = {.fd = stall_out_fd, .events = POLLIN};
	poll(&p, 1, 20000);
}

static void *publish_thread(void *arg)
{
	struct pkv_attach *a = arg;
	struct ring_req rq = put_req("stalled", "v");
	uint32_t tag = ring_write_request(AREA(a->slot), &a->tag, &rq);
	return (void *)(intptr_t)ring_publish(a, tag);
}

/*
 * Producer A publishes while the daemon sleeps and is stopped just before
 * it rings (a SIGSTOP, a preemption, a kill). Producer B's request must
 * still wake the daemon: B rings too.
 */
START_TEST(doorbell_rings_although_another_producer_stopped_before_ringing)
{
	stall_in_fd = eventfd(0, EFD_CLOEXEC);
	stall_out_fd = eventfd(0, EFD_CLOEXEC);
	stall_calls = 0;
	ring_doorbell_stall = stall_first_producer;
	struct pkv_attach a = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct pkv_attach b = client_at(shm_attach_client(seg, getpid(), getuid()));
	ck_assert(shm_sleep_begin(seg));
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, publish_thread, &a), 0);
	struct pollfd p = {.fd = stall_in_fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 10000), 1); /* A is stopped before its doorbell */
	struct ring_req rq = put_req("other", "v");
	submit(&b, &rq);
	/* What the daemon's wait sees: the eventfd readable. */
	struct pollfd bell = {.fd = shm_doorbell_fd(seg), .events = POLLIN};
	int rung = poll(&bell, 1, 1000);
	uint64_t one = 1;
	ck_assert_int_eq(write(stall_out_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	void *r;
	pthread_join(t, &r);
	ring_doorbell_stall = NULL;
	close(stall_in_fd);
	close(stall_out_fd);
	ck_assert_int_eq((int)(intptr_t)r, 0);
	ck_assert_msg(rung == 1, "the daemon slept on: no producer rang after A stopped");
	shm_sleep_end(seg);
}
END_TEST

/*
 * A post whose tag shares its low 16 bits with the client's current
 * request (the client moved on 65536 requests while the post waited) is
 * stale: the daemon must not take the request being written for it.
 */
START_TEST(post_is_matched_on_the_whole_request_tag)
{
	struct pkv_attach a = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct ring_req rq = put_req("old", "v");
	uint32_t old = submit(&a, &rq);
	a.tag = old + 65535u; /* the next tag is old + 65536 */
	struct ring_req now = put_req("being-written", "v");
	uint32_t cur = ring_write_request(AREA(a.slot), &a.tag, &now);
	ck_assert_uint_eq(cur & 0xffffu, old & 0xffffu);
	struct shm_request got;
	ck_assert_msg(!shm_ring_next(seg, &got),
		      "the daemon took the unpublished request %u for the post of %u", cur, old);
	ck_assert_uint_eq(shm_stats(seg)->stale, 1);
}
END_TEST

/* --- what a client can write --------------------------------------------------- */

/*
 * The segment as a client gets it (shm_memfd): no writable mapping, no
 * mprotect to writing, no write(2), no hole, no new size; a read-only
 * mapping works and a FUTEX_WAIT on it too.
 */
START_TEST(segment_cannot_be_made_writable_through_its_descriptor)
{
	int fd = shm_memfd(seg);
	size_t size = shm_cache_geom(seg)->size;
	ck_assert(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	ck_assert_int_eq(errno, EPERM);
	void *ro = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert(ro != MAP_FAILED);
	ck_assert_int_ne(mprotect(ro, size, PROT_READ | PROT_WRITE), 0);
	uint64_t junk = 1;
	ck_assert_int_lt(pwrite(fd, &junk, sizeof(junk), 0), 0);
	ck_assert_int_ne(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
	ck_assert_int_ne(ftruncate(fd, 4096), 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		ck_assert(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0) == MAP_FAILED);
		close(rw);
	}
	/* A reader waits on the view's sequence through its read-only mapping. */
	const struct pkv_shm_layout *rm = ro;
	uint32_t seq = pkv_shm_load_acq(&rm->view.seq);
	struct timespec ts = {0, 1000000};
	long r = syscall(SYS_futex, &rm->view.seq, FUTEX_WAIT, seq, &ts, NULL, 0);
	ck_assert_msg(r < 0 && errno == ETIMEDOUT, "FUTEX_WAIT on a read-only mapping: %s",
		      strerror(errno));
	/* The daemon's own mapping still writes, and the reader sees it. */
	pkv_shm_store_rel(&m->stats.reserved[0], 77);
	ck_assert_uint_eq(pkv_shm_load_acq(&rm->stats.reserved[0]), 77);
	munmap(ro, size);
}
END_TEST

/* A slot granted again gets a new area: the former owner's mapping is not it. */
START_TEST(slot_granted_again_gets_an_area_the_former_owner_cannot_reach)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	void *old = mmap(NULL, PKV_SHM_CLIENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 shm_client_area_fd(seg, (unsigned)slot), 0);
	ck_assert(old != MAP_FAILED);
	shm_reclaim_client(seg, (unsigned)slot);
	ck_assert_int_eq(shm_attach_client(seg, getpid(), getuid()), slot);
	/* The former owner scribbles what it still maps: the new owner never sees it. */
	memset(old, 0xa5, PKV_SHM_CLIENT_SIZE);
	struct pkv_attach b = client_at(slot);
	round_trip(&b, "new-owner");
	ck_assert_uint_eq(AREA(slot)->state, PKV_SHM_ATTACHED);
	munmap(old, PKV_SHM_CLIENT_SIZE);
}
END_TEST

/*
 * A client that posts again as soon as it is served is taken once a lap:
 * the other posted clients come first.
 */
START_TEST(client_posting_without_pause_is_served_in_turn_with_the_others)
{
	struct pkv_attach a = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct pkv_attach b = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct pkv_attach c = client_at(shm_attach_client(seg, getpid(), getuid()));
	struct ring_req rq = put_req("k", "v");
	submit(&a, &rq);
	submit(&b, &rq);
	submit(&c, &rq);
	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got));
	ck_assert_uint_eq(got.slot, a.slot);
	submit(&a, &rq); /* at once again */
	ck_assert(shm_ring_next(seg, &got));
	ck_assert_uint_eq(got.slot, b.slot);
	ck_assert(shm_ring_next(seg, &got));
	ck_assert_uint_eq(got.slot, c.slot);
	ck_assert(shm_ring_next(seg, &got));
	ck_assert_uint_eq(got.slot, a.slot);
	ck_assert(!shm_ring_next(seg, &got));
	/* A post word of garbage: one request copied and refused, nothing more. */
	uint64_t before = shm_stats(seg)->stale + shm_stats(seg)->malformed;
	pkv_shm_store_rel(&AREA(a.slot)->post, 0xdeadbeefu);
	ck_assert(!shm_ring_next(seg, &got));
	ck_assert(!shm_ring_next(seg, &got));
	ck_assert_uint_eq(shm_stats(seg)->stale + shm_stats(seg)->malformed, before + 1);
}
END_TEST

/*
 * A keys request is answered after the cursor the daemon copied when it
 * took the request: the client rewriting its area meanwhile changes
 * nothing (no second fetch).
 */
START_TEST(keys_are_answered_after_the_cursor_taken_not_the_one_in_the_area_now)
{
	int slot = shm_attach_client(seg, getpid(), getuid());
	struct pkv_attach a = client_at(slot);
	struct ring_req rq = {.op = PKV_SHM_OP_KEYS, .bucket = {"b", 1}, .value = {"b", 1}};
	uint32_t tag = submit(&a, &rq);
	struct shm_request got;
	ck_assert(shm_ring_next(seg, &got));
	/* The client scribbles the cursor's bytes and lengths, keeping its tag. */
	struct pkv_shm_client *c = AREA(slot);
	c->bucket_len = 0;
	c->key_len = 0;
	c->value_len = 0;
	memset(c->req_data, 0, 64);
	static const struct pkv_bytes keys[] = {
		{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}, {(const uint8_t *)"c", 1}};
	ck_assert_int_eq(shm_respond_keys(seg, got.slot, got.ticket, keys, 3), 0);
	ck_assert_int_eq(ring_wait(&a, tag, client_mono_ms() + 5000), 0);
	ck_assert_uint_eq(c->resp_len, 3); /* one record: u16 1, "c" */
	ck_assert_int_eq(c->resp_data[2], 'c');
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, request_round_trip_carries_every_field);
	tcase_add_test(tc, empty_bucket_means_default_and_zero_timeout_means_default);
	tcase_add_test(tc, malformed_request_is_answered_by_the_ring_and_never_dispatched);
	tcase_add_test(tc, requests_of_many_clients_are_taken_one_a_client_in_slot_order);
	tcase_add_test(tc, doorbell_is_rung_only_when_the_daemon_sleeps);
	tcase_add_test(tc, request_replaced_before_the_daemon_took_it_is_stale);
	tcase_add_test(tc, late_response_to_an_abandoned_request_is_dropped);
	tcase_add_test(tc, client_killed_mid_write_is_skipped_and_reclaimed);
	tcase_add_test(tc, committed_request_of_a_dead_client_is_purged_at_reclaim);
	tcase_add_test(tc, response_to_a_reclaimed_slot_is_dropped);
	tcase_add_test(tc, client_killed_at_any_instant_never_wedges_the_daemon);
	tcase_add_test(tc, dead_daemon_ends_the_wait);
	tcase_add_test(tc, doorbell_rings_although_another_producer_stopped_before_ringing);
	tcase_add_test(tc, post_is_matched_on_the_whole_request_tag);
	tcase_add_test(tc, segment_cannot_be_made_writable_through_its_descriptor);
	tcase_add_test(tc, slot_granted_again_gets_an_area_the_former_owner_cannot_reach);
	tcase_add_test(tc, client_posting_without_pause_is_served_in_turn_with_the_others);
	tcase_add_test(tc, keys_are_answered_after_the_cursor_taken_not_the_one_in_the_area_now);
	tcase_add_test(tc, sleeping_client_is_woken_by_the_waker_or_by_system_call_when_it_refuses);
	tcase_add_test(tc, drained_doorbells_stay_quiet_until_rung_again);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
