// SPDX-License-Identifier: MIT
/*
 * test-cache.c — the learner cache: the daemon's writers (daemon/shm.c) and
 * the lock-free readers (libclient/cache.c), robust-lock recovery after a
 * writer dies, seqlock consistency across processes, the layout stamp.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "shm.h"

static struct shm_segment *seg;
static struct pkv_shm_layout *m;
static struct pkv_value val = PKV_VALUE_INIT;

static void setup(void)
{
	ck_assert_int_eq(shm_create(&seg, 7, getpid()), 0);
	m = shm_layout(seg);
}

static void teardown(void)
{
	pkv_value_free(&val);
	shm_destroy(seg);
}

static struct pkv_bytes B(const char *s)
{
	return (struct pkv_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static int publish(const char *k, const char *v, uint64_t gen, uint64_t until)
{
	return shm_cache_publish(seg, B("bucket"), B(k), B(v), gen, until);
}

static int lookup(const char *k)
{
	return cache_lookup(m, "bucket", 6, k, strlen(k), 0, &val);
}

static unsigned stripe_of_key(const char *k)
{
	return pkv_shm_stripe_of(pkv_shm_hash("bucket", 6, k, strlen(k)));
}

START_TEST(published_value_is_read_in_place)
{
	ck_assert_int_eq(lookup("k"), CACHE_MISS);
	ck_assert_int_eq(publish("k", "hello", 3, 0), 0);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_uint_eq(val.len, 5);
	ck_assert_str_eq(val.data, "hello");
	ck_assert_uint_eq(val.gen, 3);
	/* Another bucket with the same key is another entry. */
	ck_assert_int_eq(cache_lookup(m, "other", 5, "k", 1, 0, &val), CACHE_MISS);
	ck_assert_uint_eq(shm_stats(seg)->cache_entries, 1);
}
END_TEST

START_TEST(until_in_the_past_is_never_returned)
{
	uint64_t now = pkv_now();
	ck_assert_int_eq(publish("past", "v", 1, now - 1), 0);
	ck_assert_int_eq(publish("future", "v", 1, now + 3600000), 0);
	ck_assert_int_eq(lookup("past"), CACHE_EXPIRED);
	ck_assert_int_eq(lookup("future"), CACHE_HIT);
	ck_assert_uint_eq(val.until, now + 3600000);
	/* The instant itself has passed: until is exclusive. */
	ck_assert_int_eq(cache_lookup(m, "bucket", 6, "future", 6, now + 3600000, &val),
			 CACHE_EXPIRED);
}
END_TEST

START_TEST(newer_generation_replaces_and_older_never_does)
{
	ck_assert_int_eq(publish("k", "one", 1, 0), 0);
	ck_assert_int_eq(publish("k", "two", 2, 0), 0);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_str_eq(val.data, "two");
	ck_assert_int_eq(publish("k", "old", 1, 0), 0);
	ck_assert_int_eq(publish("k", "same-gen", 2, 0), 0);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_str_eq(val.data, "two");
	ck_assert_uint_eq(val.gen, 2);
}
END_TEST

START_TEST(erase_removes_its_generation_and_older_only)
{
	ck_assert_int_eq(publish("k", "v", 5, 0), 0);
	ck_assert_int_eq(shm_cache_erase(seg, B("bucket"), B("k"), 4), 0);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_int_eq(shm_cache_erase(seg, B("bucket"), B("k"), 5), 1);
	ck_assert_int_eq(lookup("k"), CACHE_MISS);
	ck_assert_int_eq(publish("a", "v", 1, 0), 0);
	ck_assert_int_eq(publish("b", "v", 1, 0), 0);
	ck_assert_int_eq(shm_cache_publish(seg, B("keep"), B("a"), B("v"), 1, 0), 0);
	ck_assert_int_eq(shm_cache_erase_bucket(seg, B("bucket")), 2);
	ck_assert_int_eq(lookup("a"), CACHE_MISS);
	ck_assert_int_eq(cache_lookup(m, "keep", 4, "a", 1, 0, &val), CACHE_HIT);
	ck_assert_uint_eq(shm_stats(seg)->cache_entries, 1);
}
END_TEST

START_TEST(oversized_entries_are_refused)
{
	static uint8_t big[PKV_MAX_VALUE + 1];
	struct pkv_bytes v = {big, sizeof(big)};
	ck_assert_int_eq(shm_cache_publish(seg, B("bucket"), B("k"), v, 1, 0), -E2BIG);
	v.len = PKV_MAX_VALUE;
	ck_assert_int_eq(shm_cache_publish(seg, B("bucket"), B("k"), v, 1, 0), 0);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_uint_eq(val.len, PKV_MAX_VALUE);
}
END_TEST

/* Keys that all land in one stripe. */
static void same_stripe_keys(char keys[][16], unsigned n)
{
	unsigned want = stripe_of_key("k0"), got = 0;
	for (unsigned i = 0; got < n; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%u", i);
		if (stripe_of_key(k) == want)
			memcpy(keys[got++], k, sizeof(k));
	}
}

START_TEST(full_stripe_evicts_the_oldest_and_keeps_serving)
{
	enum { N = PKV_SHM_STRIPE_ENTRIES + 10 };
	static char keys[N][16];
	same_stripe_keys(keys, N);
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(publish(keys[i], keys[i], 1, 0), 0);
	ck_assert_uint_eq(shm_stats(seg)->cache_evicted, 10);
	for (unsigned i = 0; i < 10; i++)
		ck_assert_int_eq(lookup(keys[i]), CACHE_MISS);
	for (unsigned i = 10; i < N; i++) {
		ck_assert_int_eq(lookup(keys[i]), CACHE_HIT);
		ck_assert_str_eq(val.data, keys[i]);
	}
	/* Full-size values: the heap, not the entry count, is the limit. */
	static char big[PKV_MAX_VALUE + 1];
	for (unsigned i = 0; i < 6; i++) {
		memset(big, 'a' + (int)i, PKV_MAX_VALUE);
		ck_assert_int_eq(publish(keys[i], big, 2, 0), 0);
		ck_assert_int_eq(lookup(keys[i]), CACHE_HIT);
		ck_assert_uint_eq(val.len, PKV_MAX_VALUE);
		ck_assert_int_eq(((char *)val.data)[PKV_MAX_VALUE - 1], 'a' + (int)i);
	}
	ck_assert_int_eq(lookup(keys[N - 1]), CACHE_MISS); /* evicted for room */
}
END_TEST

START_TEST(writer_dying_mid_publish_is_recovered_and_readers_never_block)
{
	char keys[2][16];
	same_stripe_keys(keys, 2);
	unsigned si = stripe_of_key(keys[0]);
	ck_assert_int_eq(publish(keys[0], "kept?", 1, 0), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		shm_set_fault(seg, SHM_FAULT_DIE_IN_PUBLISH);
		publish(keys[1], "half-written-value", 1, 0);
		_exit(0); /* not reached */
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The dead writer left the seqlock odd: readers give up, never wait. */
	ck_assert_uint_eq(m->stripes[si].seq & 1u, 1);
	ck_assert_int_eq(lookup(keys[0]), CACHE_BUSY);
	ck_assert_int_eq(lookup(keys[1]), CACHE_BUSY);
	/* The next writer gets EOWNERDEAD, clears the stripe, carries on. */
	ck_assert_int_eq(publish(keys[1], "whole", 1, 0), 0);
	ck_assert_uint_eq(shm_stats(seg)->lock_recoveries, 1);
	ck_assert_uint_eq(m->stripes[si].recoveries, 1);
	ck_assert_uint_eq(m->stripes[si].suspect, 0);
	ck_assert_int_eq(lookup(keys[0]), CACHE_MISS); /* dropped with the stripe */
	ck_assert_int_eq(lookup(keys[1]), CACHE_HIT);
	ck_assert_str_eq(val.data, "whole");
	ck_assert_uint_eq(shm_stats(seg)->cache_entries, 1);
	/* And the lock is healthy again. */
	ck_assert_int_eq(shm_stripe_lock(seg, si), 0);
	shm_stripe_unlock(seg, si);
	ck_assert_uint_eq(shm_stats(seg)->lock_recoveries, 1);
}
END_TEST

START_TEST(holder_dying_between_writes_is_recovered)
{
	ck_assert_int_eq(publish("k", "v", 1, 0), 0);
	unsigned si = stripe_of_key("k");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (shm_stripe_lock(seg, si) == 0)
			raise(SIGKILL);
		_exit(1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	/* Readers do not look at the lock at all. */
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_int_eq(shm_cache_erase(seg, B("bucket"), B("k"), 1), 0); /* cleared first */
	ck_assert_uint_eq(shm_stats(seg)->lock_recoveries, 1);
	ck_assert_int_eq(lookup("k"), CACHE_MISS);
}
END_TEST

/*
 * Value of generation g for the consistency test: length and bytes both
 * derived from g, so a torn read (parts of two generations) is visible.
 */
static size_t gen_value(uint64_t g, char *buf)
{
	size_t len = 1 + (size_t)(g * 7919u) % 3000u;
	memset(buf, 'A' + (int)(g % 26), len);
	buf[len] = 0;
	return len;
}

static void reader_child(unsigned iterations, char keys[][16], unsigned nkeys)
{
	struct pkv_value v = PKV_VALUE_INIT;
	uint64_t last[8] = {0};
	unsigned hits = 0;
	for (unsigned i = 0; i < iterations; i++) {
		unsigned k = i % nkeys;
		int r = cache_lookup(m, "bucket", 6, keys[k], strlen(keys[k]), 0, &v);
		if (r != CACHE_HIT)
			continue;
		hits++;
		char want[3100];
		size_t len = gen_value(v.gen, want);
		if (v.len != len || memcmp(v.data, want, len) != 0)
			_exit(2); /* torn */
		if (v.gen < last[k])
			_exit(3); /* went back in time */
		last[k] = v.gen;
	}
	_exit(hits ? 0 : 4);
}

START_TEST(readers_see_whole_values_while_a_writer_rewrites_across_processes)
{
	enum { READERS = 2, NKEYS = 4 };
	char keys[NKEYS][16];
	same_stripe_keys(keys, NKEYS); /* one stripe: the most contention */
	char buf[3100];
	for (unsigned k = 0; k < NKEYS; k++) {
		size_t len = gen_value(1, buf);
		shm_cache_publish(seg, B("bucket"), B(keys[k]),
				  (struct pkv_bytes){(uint8_t *)buf, (uint32_t)len}, 1, 0);
	}
	pid_t pids[READERS];
	for (unsigned i = 0; i < READERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			reader_child(300000, keys, NKEYS);
	}
	uint64_t gen = 1;
	unsigned alive = READERS;
	int status[READERS];
	while (alive) {
		gen++;
		for (unsigned k = 0; k < NKEYS; k++) {
			size_t len = gen_value(gen, buf);
			if (gen % 5 == 0)
				shm_cache_erase(seg, B("bucket"), B(keys[k]), gen);
			shm_cache_publish(seg, B("bucket"), B(keys[k]),
					  (struct pkv_bytes){(uint8_t *)buf, (uint32_t)len}, gen,
					  0);
		}
		for (unsigned i = 0; i < READERS; i++) {
			if (pids[i] > 0 && waitpid(pids[i], &status[i], WNOHANG) == pids[i]) {
				pids[i] = 0;
				alive--;
			}
		}
	}
	for (unsigned i = 0; i < READERS; i++) {
		ck_assert(WIFEXITED(status[i]));
		ck_assert_int_eq(WEXITSTATUS(status[i]), 0);
	}
	ck_assert_uint_gt(gen, 10);
}
END_TEST

START_TEST(layout_mismatch_is_refused)
{
	ck_assert_int_eq(attach_check_layout(m, sizeof(*m)), 0);
	m->hdr.format ^= 1;
	ck_assert_int_eq(attach_check_layout(m, sizeof(*m)), PKV_LAYOUT_MISMATCH);
	m->hdr.format ^= 1;
	m->hdr.magic = 0; /* a daemon still creating it, or not ours */
	ck_assert_int_eq(attach_check_layout(m, sizeof(*m)), PKV_LAYOUT_MISMATCH);
	m->hdr.magic = PKV_SHM_MAGIC;
	ck_assert_int_eq(attach_check_layout(m, sizeof(*m) - 4096), PKV_LAYOUT_MISMATCH);
	m->hdr.daemon_alive = 0;
	ck_assert_int_eq(attach_check_layout(m, sizeof(*m)), PKV_UNAVAILABLE);
	m->hdr.daemon_alive = 1;
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, published_value_is_read_in_place);
	tcase_add_test(tc, until_in_the_past_is_never_returned);
	tcase_add_test(tc, newer_generation_replaces_and_older_never_does);
	tcase_add_test(tc, erase_removes_its_generation_and_older_only);
	tcase_add_test(tc, oversized_entries_are_refused);
	tcase_add_test(tc, full_stripe_evicts_the_oldest_and_keeps_serving);
	tcase_add_test(tc, writer_dying_mid_publish_is_recovered_and_readers_never_block);
	tcase_add_test(tc, holder_dying_between_writes_is_recovered);
	tcase_add_test(tc, readers_see_whole_values_while_a_writer_rewrites_across_processes);
	tcase_add_test(tc, layout_mismatch_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
