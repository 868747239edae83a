// SPDX-License-Identifier: MIT
/*
 * Unit tests for the service manager's readiness datagrams (daemon/notify.c):
 * a fake $NOTIFY_SOCKET (a path, and an abstract name) receives what a
 * service manager would.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/notify.h"

static int sink = -1;
static char sink_path[108];
static char err[256];

/* A datagram socket where the fake manager listens; abstract when name[0] == '@'. */
static void sink_open(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	ck_assert_uint_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (name[0] == '@')
		sa.sun_path[0] = 0;
	else
		len++;
	sink = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sink, 0);
	if (name[0] != '@')
		unlink(name);
	ck_assert_int_eq(bind(sink, (struct sockaddr *)&sa, len), 0);
	snprintf(sink_path, sizeof(sink_path), "%s", name);
	setenv("NOTIFY_SOCKET", name, 1);
}

static void sink_close(void)
{
	if (sink >= 0)
		close(sink);
	sink = -1;
	if (sink_path[0] == '/')
		unlink(sink_path);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* The next datagram, or "" when none is waiting. */
static const char *sink_next(void)
{
	static char buf[1024];
	ssize_t n = recv(sink, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		n = 0;
	}
	buf[n] = 0;
	return buf;
}

static void tmp_path(char *out, size_t cap)
{
	const char *t = getenv("TMPDIR");
	snprintf(out, cap, "%s/pkv-notify-%ld.sock", t && *t && strlen(t) < 60 ? t : "/tmp",
		 (long)getpid());
}

START_TEST(without_notify_socket_nothing_is_sent)
{
	struct notify n;
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert(!notify_enabled(&n));
	ck_assert_int_eq(notify_ready(&n, "quorum yes"), 0);
	ck_assert_int_eq(notify_stopping(&n), 0);
	ck_assert_uint_eq(notify_watchdog(&n, 1000), UINT64_MAX);
	notify_close(&n);
}
END_TEST

/* The whole life of a daemon, as its manager sees it. */
static void check_life_cycle(void)
{
	struct notify n;
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert(notify_enabled(&n));
	ck_assert_str_eq(sink_next(), "");
	ck_assert_int_eq(notify_status(&n, "quorum no, configuration 0, epoch 0, syncing"), 0);
	ck_assert_str_eq(sink_next(), "STATUS=quorum no, configuration 0, epoch 0, syncing");
	ck_assert_int_eq(notify_ready(&n, "quorum yes, configuration 1, epoch 0"), 0);
	ck_assert_str_eq(sink_next(), "READY=1\nSTATUS=quorum yes, configuration 1, epoch 0");
	/* READY=1 once; an unchanged status is not sent again */
	ck_assert_int_eq(notify_ready(&n, "quorum yes, configuration 1, epoch 0"), 0);
	ck_assert_int_eq(notify_status(&n, "quorum yes, configuration 1, epoch 0"), 0);
	ck_assert_str_eq(sink_next(), "");
	ck_assert_int_eq(notify_status(&n, "quorum no, configuration 1, epoch 0"), 0);
	ck_assert_str_eq(sink_next(), "STATUS=quorum no, configuration 1, epoch 0");
	ck_assert_int_eq(notify_reloading(&n, 123456789), 0);
	ck_assert_str_eq(sink_next(), "RELOADING=1\nMONOTONIC_USEC=123456789");
	ck_assert_int_eq(notify_reloaded(&n), 0);
	ck_assert_str_eq(sink_next(), "READY=1");
	ck_assert_int_eq(notify_stopping(&n), 0);
	ck_assert_str_eq(sink_next(), "STOPPING=1");
	ck_assert_str_eq(sink_next(), "");
	notify_close(&n);
}

START_TEST(a_path_socket_hears_ready_status_reload_and_stopping)
{
	char path[108];
	tmp_path(path, sizeof(path));
	sink_open(path);
	check_life_cycle();
	sink_close();
}
END_TEST

START_TEST(an_abstract_socket_hears_the_same)
{
	char name[64];
	snprintf(name, sizeof(name), "@pkv-notify-test-%ld", (long)getpid());
	sink_open(name);
	check_life_cycle();
	sink_close();
}
END_TEST

START_TEST(reload_before_ready_does_not_claim_ready)
{
	char path[108];
	tmp_path(path, sizeof(path));
	sink_open(path);
	struct notify n;
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert_int_eq(notify_reloading(&n, 1), 0);
	ck_assert_str_eq(sink_next(), "RELOADING=1\nMONOTONIC_USEC=1");
	ck_assert_int_eq(notify_reloaded(&n), 0);
	ck_assert_str_eq(sink_next(), "");
	notify_close(&n);
	sink_close();
}
END_TEST

START_TEST(watchdog_pings_at_half_its_interval)
{
	char path[108];
	tmp_path(path, sizeof(path));
	sink_open(path);
	setenv("WATCHDOG_USEC", "200000", 1);
	struct notify n;
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert_uint_eq(notify_watchdog(&n, 1000000), 1100000);
	ck_assert_str_eq(sink_next(), "WATCHDOG=1");
	ck_assert_uint_eq(notify_watchdog(&n, 1050000), 1100000);
	ck_assert_str_eq(sink_next(), "");
	ck_assert_uint_eq(notify_watchdog(&n, 1100000), 1200000);
	ck_assert_str_eq(sink_next(), "WATCHDOG=1");
	notify_close(&n);

	/* WATCHDOG_PID names us: ours; another process: not ours */
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert_uint_eq(notify_watchdog(&n, 5), 100005);
	ck_assert_str_eq(sink_next(), "WATCHDOG=1");
	notify_close(&n);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), 0);
	ck_assert_uint_eq(notify_watchdog(&n, 5), UINT64_MAX);
	ck_assert_str_eq(sink_next(), "");
	notify_close(&n);
	sink_close();
}
END_TEST

START_TEST(malformed_variables_are_refused_with_a_message)
{
	struct notify n;
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "neither an absolute path"), "%s", err);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	setenv("NOTIFY_SOCKET", longp, 1);
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "longer than a socket address"), "%s", err);
	setenv("NOTIFY_SOCKET", "@x", 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	ck_assert_int_eq(notify_init(&n, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "WATCHDOG_USEC 'soon'"), "%s", err);
	notify_close(&n);
	sink_close();
}
END_TEST

static Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("datagrams");
	tcase_add_test(tc, without_notify_socket_nothing_is_sent);
	tcase_add_test(tc, a_path_socket_hears_ready_status_reload_and_stopping);
	tcase_add_test(tc, an_abstract_socket_hears_the_same);
	tcase_add_test(tc, reload_before_ready_does_not_claim_ready);
	tcase_add_test(tc, watchdog_pings_at_half_its_interval);
	tcase_add_test(tc, malformed_variables_are_refused_with_a_message);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(notify_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
