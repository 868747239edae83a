// SPDX-License-Identifier: MIT
/*
 * test-net.c — the daemon's io_uring shell (daemon/net.c): how a turn that
 * sent datagrams waits. The completions of its own sends are not events: it
 * must sleep until something else arrives (a datagram, a readable fd) or
 * its timeout, not come back at once to reap them in a turn of its own.
 */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

static int polls;

static void on_dgram(void *ctx, const struct sockaddr_storage *from, uint8_t *buf, size_t len)
{
	(void)ctx, (void)from, (void)buf, (void)len;
}

static void on_poll(void *ctx, void *token, int res, bool more)
{
	(void)ctx, (void)token, (void)more;
	if (res > 0)
		polls++;
}

static const struct net_handlers handlers = {.dgram = on_dgram, .poll = on_poll};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct sockaddr_storage loopback_any(void)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ss;
}

/* A plain UDP socket on a free loopback port: where the sends go. */
static int sink_open(struct sockaddr_storage *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	*addr = loopback_any();
	ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, sizeof(struct sockaddr_in)), 0);
	socklen_t len = sizeof(*addr);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

static struct net *net_on_loopback(void)
{
	struct net *n = net_new(&handlers, NULL);
	ck_assert_ptr_nonnull(n);
	struct sockaddr_storage me = loopback_any();
	ck_assert_int_eq(net_udp_bind(n, &me), 0);
	/* Arming the receive is a submission: get it in before the test. */
	ck_assert_int_ge(net_run_once(n, 0), 0);
	return n;
}

static void send_to(struct net *n, const struct sockaddr_storage *to, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		size_t cap;
		uint8_t *buf = net_dgram_buf(n, &cap);
		ck_assert_ptr_nonnull(buf);
		buf[0] = (uint8_t)i;
		ck_assert_int_eq(net_dgram_send(n, buf, 1, to), 0);
	}
}

static unsigned sink_drain(int fd)
{
	unsigned got = 0;
	uint8_t b[16];
	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		got++;
	return got;
}

START_TEST(a_turn_that_only_sent_sleeps_until_its_timeout)
{
	struct sockaddr_storage sink;
	int sfd = sink_open(&sink);
	struct net *n = net_on_loopback();
	send_to(n, &sink, 3);
	uint64_t t0 = now_ms();
	int r = net_run_once(n, 400 * 1000);
	uint64_t took = now_ms() - t0;
	ck_assert_int_ge(r, 0);
	/* Nothing but its own sends' completions came: it slept the whole
	 * timeout (the old shell came back at once, a turn for nothing). */
	ck_assert_msg(took >= 350, "the turn came back after %llu ms, not at its 400 ms timeout",
		      (unsigned long long)took);
	/* The sends went out, and their completions were reaped: the buffers
	 * are free again and nothing failed. */
	ck_assert_uint_eq(sink_drain(sfd), 3);
	const struct net_stats *st = net_stats(n);
	ck_assert_uint_eq(st->dgrams_out, 3);
	ck_assert_uint_eq(st->send_errors, 0);
	ck_assert_uint_eq(st->send_dropped, 0);
	net_free(n);
	close(sfd);
}
END_TEST

static void *ring_later(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	if (write(fd, "x", 1) != 1)
		return (void *)1;
	return NULL;
}

START_TEST(an_event_after_the_sends_ends_the_wait)
{
	struct sockaddr_storage sink;
	int sfd = sink_open(&sink);
	struct net *n = net_on_loopback();
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	static int token;
	ck_assert_int_eq(net_poll(n, p[0], &token, true), 0);
	ck_assert_int_ge(net_run_once(n, 0), 0);
	polls = 0;
	send_to(n, &sink, 5);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, ring_later, &p[1]), 0);
	uint64_t t0 = now_ms();
	int r = 0;
	/* The five sends and the readable pipe: one turn, long before the
	 * 10 s timeout (waiting for one completion too many would sleep it). */
	while (polls == 0 && now_ms() - t0 < 10000)
		r += net_run_once(n, 10 * 1000 * 1000);
	uint64_t took = now_ms() - t0;
	void *wrote;
	pthread_join(th, &wrote);
	ck_assert_ptr_null(wrote);
	ck_assert_int_eq(polls, 1);
	ck_assert_msg(took < 5000, "the readable pipe ended the wait only after %llu ms",
		      (unsigned long long)took);
	ck_assert_int_ge(r, 6);
	ck_assert_uint_eq(sink_drain(sfd), 5);
	net_free(n);
	close(p[0]);
	close(p[1]);
	close(sfd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("wait");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_turn_that_only_sent_sleeps_until_its_timeout);
	tcase_add_test(tc, an_event_after_the_sends_ends_the_wait);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
