// SPDX-License-Identifier: MIT
/*
 * test-cache.c — the learner cache: the daemon's writers
 * (daemon/shm-cache.c) and the lock-free readers (libclient/cache.c),
 * robust-lock recovery after a writer dies, seqlock consistency across
 * processes, the layout stamp.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "shm.h"

static struct shm_segment *seg;
static struct pkv_shm_layout *m;
static const struct pkv_shm_cache_geom *geo;
static struct pkv_value val = PKV_VALUE_INIT;

static void setup(void)
{
	ck_assert_int_eq(shm_create(&seg, 7, getpid()), 0);
	m = shm_layout(seg);
	geo = shm_cache_geom(seg);
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
	return cache_lookup(m, geo, "bucket", 6, k, strlen(k), 0, &val);
}

static unsigned stripe_of_key(const char *k)
{
	return pkv_shm_stripe_of(pkv_shm_hash("bucket", 6, k, strlen(k)), geo->stripes);
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
	ck_assert_int_eq(cache_lookup(m, geo, "other", 5, "k", 1, 0, &val), CACHE_MISS);
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
	ck_assert_int_eq(cache_lookup(m, geo, "bucket", 6, "future", 6, now + 3600000, &val),
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
	ck_assert_int_eq(cache_lookup(m, geo, "keep", 4, "a", 1, 0, &val), CACHE_HIT);
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

/* How far from its home slot a cached key sits (-1: not cached). */
static int distance_from_home(const char *k)
{
	uint64_t h = pkv_shm_hash("bucket", 6, k, strlen(k));
	const struct pkv_shm_stripe *st = shm_stripe(seg, stripe_of_key(k));
	unsigned home = pkv_shm_home_of(h);
	for (unsigned d = 0; d < PKV_SHM_STRIPE_ENTRIES; d++)
		if (st->ent[(home + d) & (PKV_SHM_STRIPE_ENTRIES - 1u)].tag == h)
			return (int)d;
	return -1;
}

START_TEST(full_stripe_evicts_the_oldest_near_the_home_and_keeps_serving)
{
	enum { N = PKV_SHM_STRIPE_ENTRIES + 10 };
	static char keys[N][16];
	same_stripe_keys(keys, N);
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(publish(keys[i], keys[i], 1, 0), 0);
	/* Nothing goes while the stripe has room; then one per new key. */
	ck_assert_uint_eq(shm_stats(seg)->cache_evicted, 10);
	unsigned hits = 0;
	for (unsigned i = 0; i < N; i++) {
		int r = lookup(keys[i]);
		ck_assert(r == CACHE_HIT || r == CACHE_MISS);
		if (r == CACHE_HIT) {
			ck_assert_str_eq(val.data, keys[i]);
			hits++;
		}
	}
	ck_assert_uint_eq(hits, PKV_SHM_STRIPE_ENTRIES);
	ck_assert_int_eq(lookup(keys[N - 1]), CACHE_HIT);
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

/*
 * In a full stripe every new entry lands within PKV_SHM_PLACE_MAX slots of
 * its home, so a reader finds it in as many probes; evicting the stripe's
 * oldest entry wherever it sat put new ones 32 slots on on average.
 */
START_TEST(full_stripe_places_each_new_entry_near_its_home)
{
	enum { N = 4 * PKV_SHM_STRIPE_ENTRIES };
	static char keys[N][16];
	same_stripe_keys(keys, N);
	unsigned far = 0;
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(publish(keys[i], keys[i], 1, 0), 0);
		int d = distance_from_home(keys[i]);
		ck_assert_int_ge(d, 0);
		if (i >= PKV_SHM_STRIPE_ENTRIES && d >= (int)PKV_SHM_PLACE_MAX)
			far++;
	}
	ck_assert_msg(far == 0, "%u of %u entries placed in a full stripe sit %u or more slots"
		      " from their home", far, N - PKV_SHM_STRIPE_ENTRIES, PKV_SHM_PLACE_MAX);
	ck_assert_uint_eq(shm_stats(seg)->cache_evicted, N - PKV_SHM_STRIPE_ENTRIES);
}
END_TEST

/*
 * The writer's search for a key reads only as far from home as its entries
 * sit (struct pkv_shm_stripe_lock: max_disp). Churn on one stripe, through
 * room and fullness, erasures and new generations: after every step the
 * bound covers every entry, and a key's new generation replaces its entry
 * instead of adding a second one, which a bound too short would do.
 */
START_TEST(writer_search_bound_covers_every_entry_through_churn)
{
	enum { N = PKV_SHM_STRIPE_ENTRIES * 2, STEPS = 6000 };
	char keys[N][16];
	same_stripe_keys(keys, N);
	unsigned si = stripe_of_key(keys[0]);
	const struct pkv_shm_stripe *st = shm_stripe(seg, si);
	const struct pkv_shm_stripe_lock *w = shm_stripe_writer(seg, si);
	uint64_t gens[N] = {0}, next_gen = 1, rng = 12345;
	unsigned far = 0;
	for (unsigned step = 0; step < STEPS; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/* Up to all N keys early on (a full stripe), fewer later (room). */
		unsigned live = step < STEPS / 2 ? N : PKV_SHM_STRIPE_ENTRIES / 2;
		unsigned k = (unsigned)(rng >> 33) % live;
		if ((rng >> 20) % 4 == 0 && gens[k]) {
			shm_cache_erase(seg, B("bucket"), B(keys[k]), gens[k]);
			gens[k] = 0;
		} else {
			gens[k] = ++next_gen;
			ck_assert_int_eq(publish(keys[k], keys[k], gens[k], 0), 0);
		}
		if (step == STEPS / 2) /* the far keys go: erased, or left to eviction */
			for (unsigned j = live; j < N; j++)
				if (gens[j])
					shm_cache_erase(seg, B("bucket"), B(keys[j]), gens[j]);
		unsigned used = 0, maxd = 0;
		for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++) {
			uint64_t tag = st->ent[i].tag;
			if (!tag)
				continue;
			used++;
			unsigned d = (i - pkv_shm_home_of(tag)) & (PKV_SHM_STRIPE_ENTRIES - 1u);
			if (d > maxd)
				maxd = d;
		}
		ck_assert_msg(maxd <= w->max_disp, "step %u: an entry sits %u from home, the bound"
			      " says %u", step, maxd, w->max_disp);
		ck_assert_uint_eq(w->n_used, used);
		if (maxd >= 8)
			far++;
	}
	/* No key has two entries: each cached key is found once, at its gen. */
	unsigned cached = 0;
	for (unsigned k = 0; k < N; k++) {
		uint64_t h = pkv_shm_hash("bucket", 6, keys[k], strlen(keys[k]));
		unsigned copies = 0;
		for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++)
			copies += st->ent[i].tag == h;
		ck_assert_msg(copies <= 1, "%s has %u entries", keys[k], copies);
		if (copies && lookup(keys[k]) == CACHE_HIT) {
			ck_assert_uint_eq(val.gen, gens[k]);
			cached++;
		}
	}
	ck_assert_uint_gt(cached, 0);
	/* The churn did reach far from home, and the bound came back down. */
	ck_assert_uint_gt(far, 0);
	ck_assert_uint_lt(w->max_disp, PKV_SHM_STRIPE_ENTRIES - 1);
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
	ck_assert_uint_eq(*pkv_shm_stripe_seq_at(m, geo, si) & 1u, 1);
	ck_assert_int_eq(lookup(keys[0]), CACHE_BUSY);
	ck_assert_int_eq(lookup(keys[1]), CACHE_BUSY);
	/* The next writer gets EOWNERDEAD, clears the stripe, carries on. */
	ck_assert_int_eq(publish(keys[1], "whole", 1, 0), 0);
	ck_assert_uint_eq(shm_stats(seg)->lock_recoveries, 1);
	ck_assert_uint_eq(shm_stripe_writer(seg, si)->recoveries, 1);
	ck_assert_uint_eq(shm_stripe_writer(seg, si)->suspect, 0);
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

/* 0, or 2 torn, 3 back in time, 4 no hit at all. */
static int reader_run(unsigned iterations, char keys[][16], unsigned nkeys)
{
	struct pkv_value v = PKV_VALUE_INIT;
	uint64_t last[8] = {0};
	unsigned hits = 0;
	for (unsigned i = 0; i < iterations; i++) {
		unsigned k = i % nkeys;
		int r = cache_lookup(m, geo, "bucket", 6, keys[k], strlen(keys[k]), 0, &v);
		if (r != CACHE_HIT)
			continue;
		hits++;
		char want[3100];
		size_t len = gen_value(v.gen, want);
		if (v.len != len || memcmp(v.data, want, len) != 0) {
			pkv_value_free(&v);
			return 2; /* torn */
		}
		if (v.gen < last[k]) {
			pkv_value_free(&v);
			return 3; /* went back in time */
		}
		last[k] = v.gen;
	}
	pkv_value_free(&v);
	return hits ? 0 : 4;
}

static void reader_child(unsigned iterations, char keys[][16], unsigned nkeys)
{
	_exit(reader_run(iterations, keys, nkeys));
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

struct reader_thread {
	char (*keys)[16];
	unsigned nkeys;
	int result;
	int done;
};

static void *reader_thread(void *arg)
{
	struct reader_thread *r = arg;
	r->result = reader_run(200000, r->keys, r->nkeys);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The same between threads of one process, where ThreadSanitizer sees both
 * sides (the client suites run under it in .ci/run): every byte the readers
 * copy or compare under the seqlock, and every byte the writer stores or
 * moves, goes through relaxed atomics (pkv_shm_copy_*), so no data race is
 * reported, and no reader sees a torn value.
 */
START_TEST(readers_see_whole_values_while_a_writer_rewrites_across_threads)
{
	enum { READERS = 2, NKEYS = 4 };
	char keys[NKEYS][16];
	same_stripe_keys(keys, NKEYS);
	char buf[3100];
	for (unsigned k = 0; k < NKEYS; k++) {
		size_t len = gen_value(1, buf);
		shm_cache_publish(seg, B("bucket"), B(keys[k]),
				  (struct pkv_bytes){(uint8_t *)buf, (uint32_t)len}, 1, 0);
	}
	struct reader_thread r[READERS];
	pthread_t t[READERS];
	for (unsigned i = 0; i < READERS; i++) {
		r[i] = (struct reader_thread){.keys = keys, .nkeys = NKEYS};
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader_thread, &r[i]), 0);
	}
	uint64_t gen = 1;
	for (;;) {
		unsigned done = 0;
		for (unsigned i = 0; i < READERS; i++)
			done += __atomic_load_n(&r[i].done, __ATOMIC_ACQUIRE);
		if (done == READERS)
			break;
		gen++;
		for (unsigned k = 0; k < NKEYS; k++) {
			size_t len = gen_value(gen, buf);
			if (gen % 5 == 0)
				shm_cache_erase(seg, B("bucket"), B(keys[k]), gen);
			shm_cache_publish(seg, B("bucket"), B(keys[k]),
					  (struct pkv_bytes){(uint8_t *)buf, (uint32_t)len}, gen,
					  0);
		}
	}
	for (unsigned i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(r[i].result, 0);
	}
	ck_assert_uint_gt(gen, 10);
}
END_TEST

START_TEST(layout_mismatch_is_refused)
{
	struct pkv_shm_cache_geom got;
	size_t size = geo->size;
	ck_assert_int_eq(attach_check_layout(m, size, &got), 0);
	m->hdr.format ^= 1;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	m->hdr.format ^= 1;
	m->hdr.magic = 0; /* a daemon still creating it, or not ours */
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	m->hdr.magic = PKV_SHM_MAGIC;
	ck_assert_int_eq(attach_check_layout(m, size - 4096, &got), PKV_LAYOUT_MISMATCH);
	m->hdr.daemon_alive = 0;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_UNAVAILABLE);
	m->hdr.daemon_alive = 1;
}
END_TEST

START_TEST(default_cache_has_stripes_for_48_entries_and_room_for_any_entry)
{
	/* 32768 entries in 683 stripes; 64 MiB / 683 of heap, on a line. */
	ck_assert_uint_eq(geo->stripes, 683);
	ck_assert_uint_eq(geo->heap, 98240);
	ck_assert_uint_ge(geo->heap, PKV_MAX_BUCKET + PKV_MAX_KEY + PKV_MAX_VALUE);
	ck_assert_uint_eq(m->hdr.cache_stripes, 683);
	ck_assert_uint_eq(m->hdr.cache_stripe_entries, PKV_SHM_STRIPE_ENTRIES);
	ck_assert_uint_eq(m->hdr.cache_heap, 98240);
	ck_assert_uint_eq(m->hdr.size, geo->size);
	ck_assert_uint_eq(geo->locks_off, sizeof(struct pkv_shm_layout));
	ck_assert_uint_eq(geo->seq_off % PKV_SHM_PAGE, 0);
	ck_assert_uint_eq(geo->off % PKV_SHM_PAGE, 0);
	ck_assert_uint_eq(geo->heap_off % PKV_SHM_PAGE, 0);
	ck_assert_uint_ge(geo->seq_off, geo->locks_off + 683u * sizeof(struct pkv_shm_stripe_lock));
	ck_assert_uint_ge(geo->off, geo->seq_off + 683u * sizeof(uint32_t));
	ck_assert_uint_eq(geo->heap_off, geo->off + 683u * sizeof(struct pkv_shm_stripe));
	ck_assert_uint_ge(geo->size, geo->heap_off + 683u * geo->heap);
}
END_TEST

START_TEST(cache_size_setting_sizes_stripes_for_48_entries_each)
{
	struct pkv_shm_cache_geom x;
	ck_assert_int_eq(pkv_shm_cache_geom_for(PKV_SHM_CACHE_MIN - 1, &x), -1);
	ck_assert_int_eq(pkv_shm_cache_geom_for(PKV_SHM_CACHE_MAX + 1, &x), -1);
	ck_assert_int_eq(pkv_shm_cache_geom_for(PKV_SHM_CACHE_MIN, &x), 0);
	ck_assert_uint_eq(x.stripes, 22);
	ck_assert_uint_eq(x.heap, PKV_SHM_STRIPE_HEAP_MAX);
	ck_assert_int_eq(pkv_shm_cache_geom_for(1000000, &x), 0); /* rounded up */
	ck_assert_uint_eq(x.stripes, 20834);
	ck_assert_uint_eq(x.heap, PKV_SHM_STRIPE_HEAP_MIN);
	ck_assert_int_eq(pkv_shm_cache_geom_for(1048576, &x), 0);
	ck_assert_uint_eq(x.stripes, 21846);
	ck_assert_int_eq(pkv_shm_cache_geom_for(PKV_SHM_CACHE_MAX, &x), 0);
	ck_assert_uint_eq(x.stripes, 87382);
	/* Counts a daemon would not choose are refused. */
	ck_assert_int_eq(pkv_shm_cache_layout(21, PKV_SHM_STRIPE_HEAP_MIN, &x), -1);
	ck_assert_int_eq(pkv_shm_cache_layout(87383, PKV_SHM_STRIPE_HEAP_MIN, &x), -1);
	ck_assert_int_eq(shm_create_sized(&(struct shm_segment *){NULL}, 1, getpid(), 1023), -EINVAL);
}
END_TEST

/* Pages of [p, p + len) the kernel holds for the mapping (mincore). */
static size_t resident_pages(const void *p, size_t len)
{
	size_t n = (len + PKV_SHM_PAGE - 1) / PKV_SHM_PAGE;
	unsigned char *vec = malloc(n);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)(uintptr_t)p, len, vec), 0);
	size_t r = 0;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1u;
	free(vec);
	return r;
}

START_TEST(large_cache_is_read_with_the_geometry_in_its_header)
{
	struct shm_segment *big;
	ck_assert_int_eq(shm_create_sized(&big, 8, getpid(), 1048576), 0);
	struct pkv_shm_layout *bm = shm_layout(big);
	/* The reader takes the geometry from the header, as attach does. */
	struct pkv_shm_cache_geom bg;
	ck_assert_int_eq(attach_check_layout(bm, shm_cache_geom(big)->size, &bg), 0);
	ck_assert_uint_eq(bg.stripes, 21846);
	ck_assert_uint_eq(bg.heap, PKV_SHM_STRIPE_HEAP_MIN);
	ck_assert_uint_eq(bg.size, bm->hdr.size);
	ck_assert_uint_ne(bg.size, geo->size);
	/* Lazy: creating it wrote no stripe page. */
	const uint8_t *stripes = (const uint8_t *)bm + bg.off;
	ck_assert_uint_eq(resident_pages(stripes, bg.size - bg.off), 0);

	enum { N = 20000 };
	char k[32], v[32];
	for (unsigned i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "key-%u", i);
		snprintf(v, sizeof(v), "value-%u", i);
		ck_assert_int_eq(shm_cache_publish(big, B("bucket"), B(k), B(v), 1, 0), 0);
	}
	ck_assert_uint_eq(shm_stats(big)->cache_evicted, 0);
	for (unsigned i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "key-%u", i);
		snprintf(v, sizeof(v), "value-%u", i);
		ck_assert_int_eq(cache_lookup(bm, &bg, "bucket", 6, k, strlen(k), 0, &val), CACHE_HIT);
		ck_assert_str_eq(val.data, v);
		/* The default geometry would look in another stripe or none. */
	}
	/* 20000 small entries touch a few pages of the stripes they land in. */
	ck_assert_uint_le(resident_pages(stripes, bg.size - bg.off), 3u * bg.stripes);

	/* Larger than a 16 KiB heap: not cached, and no older generation stays. */
	static char large[PKV_SHM_STRIPE_HEAP_MIN + 1];
	memset(large, 'x', sizeof(large) - 1);
	ck_assert_int_eq(shm_cache_publish(big, B("bucket"), B("key-1"), B(large), 2, 0), -E2BIG);
	ck_assert_int_eq(cache_lookup(bm, &bg, "bucket", 6, "key-1", 5, 0, &val), CACHE_MISS);
	ck_assert_uint_eq(shm_stats(big)->cache_refused, 1);
	/* The default geometry caches it. */
	ck_assert_int_eq(publish("key-1", large, 2, 0), 0);
	ck_assert_int_eq(lookup("key-1"), CACHE_HIT);
	ck_assert_uint_eq(val.len, sizeof(large) - 1);
	shm_destroy(big);
}
END_TEST

START_TEST(header_with_a_bad_cache_geometry_is_refused)
{
	struct pkv_shm_cache_geom got;
	size_t size = geo->size;
	struct pkv_shm_header *h = &m->hdr;
	struct pkv_shm_header keep = *h;
	h->cache_stripes = 682; /* the sizes in the header are for 683 */
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	/* More stripes than the mapping holds, the header otherwise consistent. */
	struct pkv_shm_cache_geom more;
	ck_assert_int_eq(pkv_shm_cache_layout(1024, h->cache_heap, &more), 0);
	h->cache_stripes = 1024;
	h->cache_off = more.off;
	h->size = more.size;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	h->cache_heap += 8; /* not on a line */
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	h->cache_stride += PKV_SHM_LINE;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	h->cache_stripe_entries = 128;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	h->cache_off += PKV_SHM_PAGE;
	ck_assert_int_eq(attach_check_layout(m, size, &got), PKV_LAYOUT_MISMATCH);
	*h = keep;
	ck_assert_int_eq(attach_check_layout(m, size, &got), 0);
	ck_assert_uint_eq(got.stripes, geo->stripes);
	ck_assert_uint_eq(got.stride, geo->stride);
}
END_TEST

START_TEST(entry_goes_to_its_home_slot_first)
{
	ck_assert_int_eq(publish("k", "v", 1, 0), 0);
	uint64_t h = pkv_shm_hash("bucket", 6, "k", 1);
	const struct pkv_shm_stripe *st = shm_stripe(seg, stripe_of_key("k"));
	ck_assert_uint_eq(st->ent[pkv_shm_home_of(h)].tag, h);
}
END_TEST

/*
 * 1 M keys in a cache of 1 M entries lost 3 % of them to full stripes when
 * a stripe was sized for 64: at 48 a cache of n entries holds n keys (the
 * keys here land in stripes as the hash spreads them, like any keys).
 */
START_TEST(cache_of_n_entries_holds_n_keys_with_few_evictions)
{
	enum { N = 65536 };
	struct shm_segment *s;
	ck_assert_int_eq(shm_create_sized(&s, 9, getpid(), N), 0);
	char k[32];
	for (unsigned i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "key-%08u", i);
		ck_assert_int_eq(shm_cache_publish(s, B("bench"), B(k), B("0123456789abcdef"), 1, 0),
				 0);
	}
	/* 0.07 % expected for keys spread at random; 3 % with stripes sized for 64. */
	ck_assert_uint_lt(shm_stats(s)->cache_evicted, N / 200);
	ck_assert_uint_eq(shm_stats(s)->cache_entries + shm_stats(s)->cache_evicted, N);
	shm_destroy(s);
}
END_TEST

/*
 * The tag matches but a byte of the stored bucket or key differs (as for two
 * keys of one hash): never a hit, whatever the length and the byte.
 */
START_TEST(entry_with_the_tag_but_other_bytes_is_not_a_hit)
{
	static const char *const keys[] = {"k", "abc", "abcd", "abcdefg", "abcdefgh",
					   "abcdefghijklm", "0123456789abcdef",
					   "0123456789abcdefghijklmnopq"};
	for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
		const char *k = keys[j];
		size_t n = 6 + strlen(k);
		ck_assert_int_eq(publish(k, "v", 1, 0), 0);
		uint64_t h = pkv_shm_hash("bucket", 6, k, strlen(k));
		struct pkv_shm_entry *e = &shm_stripe(seg, stripe_of_key(k))->ent[pkv_shm_home_of(h)];
		ck_assert_uint_eq(e->tag, h);
		/* The bucket's 6 bytes, then the key's from the next word. */
		for (size_t i = 0; i < n; i++) {
			size_t at = i < 6 ? i : pkv_shm_key_at(6) + (i - 6);
			e->inl[at] ^= 0x01;
			ck_assert_int_eq(lookup(k), CACHE_MISS);
			e->inl[at] ^= 0x01;
		}
		ck_assert_int_eq(lookup(k), CACHE_HIT);
		ck_assert_str_eq(val.data, "v");
	}
}
END_TEST

/* Under ASan, each key sits in a buffer of exactly its size. */
START_TEST(hash_reads_only_the_key_and_depends_on_every_byte)
{
	for (size_t n = 0; n <= 40; n++) {
		uint8_t *k = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(k);
		for (size_t i = 0; i < n; i++)
			k[i] = (uint8_t)('a' + i);
		uint64_t h = pkv_shm_hash("b", 1, k, n);
		ck_assert_uint_ne(h, 0);
		for (size_t i = 0; i < n; i++) {
			k[i] ^= 0x20;
			ck_assert_uint_ne(pkv_shm_hash("b", 1, k, n), h);
			k[i] ^= 0x20;
		}
		free(k);
	}
	/* The same bytes split differently between bucket and key. */
	ck_assert_uint_ne(pkv_shm_hash("ab", 2, "c", 1), pkv_shm_hash("a", 1, "bc", 2));
}
END_TEST

START_TEST(small_entries_sit_inline_and_larger_ones_in_the_heap)
{
	/* "bucket" and "k" take a word each, then the value from the next word. */
	static char v[PKV_SHM_INLINE + 2];
	memset(v, 'i', PKV_SHM_INLINE - 16);
	ck_assert_int_eq(publish("k", v, 1, 0), 0);
	memset(v, 'h', PKV_SHM_INLINE - 15);
	ck_assert_int_eq(publish("j", v, 1, 0), 0);
	uint64_t hk = pkv_shm_hash("bucket", 6, "k", 1), hj = pkv_shm_hash("bucket", 6, "j", 1);
	const struct pkv_shm_stripe *sk = shm_stripe(seg, stripe_of_key("k"));
	const struct pkv_shm_stripe *sj = shm_stripe(seg, stripe_of_key("j"));
	ck_assert_uint_eq(sk->ent[pkv_shm_home_of(hk)].off, PKV_SHM_OFF_INLINE);
	ck_assert_uint_ne(sj->ent[pkv_shm_home_of(hj)].off, PKV_SHM_OFF_INLINE);
	/* In the heap the value's last word is padded too. */
	ck_assert_uint_eq(shm_stripe_writer(seg, stripe_of_key("j"))->heap_used, PKV_SHM_INLINE + 8);
	ck_assert_int_eq(lookup("k"), CACHE_HIT);
	ck_assert_uint_eq(val.len, PKV_SHM_INLINE - 16);
	ck_assert_int_eq(((char *)val.data)[val.len - 1], 'i');
	ck_assert_int_eq(lookup("j"), CACHE_HIT);
	ck_assert_uint_eq(val.len, PKV_SHM_INLINE - 15);
	ck_assert_int_eq(((char *)val.data)[val.len - 1], 'h');
}
END_TEST

/*
 * An entry whose tag and lengths match but whose offset or lengths would
 * take the read off a word or out of the inline bytes or the heap (what a
 * torn entry can show, the sequence word unchanged) is a miss: no load off
 * a word (UBSan's alignment check in the sanitized run), none outside.
 */
START_TEST(torn_entry_off_a_word_or_past_its_bytes_is_a_miss)
{
	static char v[200];
	memset(v, 'v', sizeof(v) - 1);
	ck_assert_int_eq(publish("heap", v, 1, 0), 0);
	uint64_t h = pkv_shm_hash("bucket", 6, "heap", 4);
	struct pkv_shm_entry *e = &shm_stripe(seg, stripe_of_key("heap"))->ent[pkv_shm_home_of(h)];
	ck_assert_uint_eq(e->tag, h);
	ck_assert_uint_ne(e->off, PKV_SHM_OFF_INLINE);
	ck_assert_int_eq(lookup("heap"), CACHE_HIT);
	uint32_t off = e->off;
	uint32_t span = pkv_shm_entry_span(6, 4, (uint32_t)sizeof(v) - 1);
	uint8_t *heap = pkv_shm_stripe_heap(m, geo, stripe_of_key("heap"));
	/* The entry's very bytes, copied to an offset off a word: not read. */
	uint32_t spare = geo->heap / 2;
	ck_assert_uint_le(off + span, spare);
	for (uint32_t k = 1; k < 8; k++) {
		memset(heap + spare, 0, span + 8);
		memcpy(heap + spare + k, heap + off, span);
		e->off = spare + k;
		ck_assert_msg(lookup("heap") == CACHE_MISS, "offset %u past a word is read", k);
	}
	memset(heap + spare, 0, span + 8);
	e->off = geo->heap - span + 8; /* a word past the stripe's heap */
	ck_assert_int_eq(lookup("heap"), CACHE_MISS);
	/* The same bytes at the heap's very end: within it, read. */
	ck_assert_uint_le(spare + span + 8, geo->heap - span);
	memcpy(heap + geo->heap - span, heap + off, span);
	e->off = geo->heap - span;
	ck_assert_int_eq(lookup("heap"), CACHE_HIT);
	ck_assert_str_eq(val.data, v);
	e->off = off;
	ck_assert_int_eq(lookup("heap"), CACHE_HIT);
	ck_assert_str_eq(val.data, v);

	ck_assert_int_eq(publish("inl", "x", 1, 0), 0);
	h = pkv_shm_hash("bucket", 6, "inl", 3);
	e = &shm_stripe(seg, stripe_of_key("inl"))->ent[pkv_shm_home_of(h)];
	ck_assert_uint_eq(e->off, PKV_SHM_OFF_INLINE);
	e->value_len = PKV_SHM_INLINE - 16; /* bucket 8 + key 8 + value: exactly the inline bytes */
	ck_assert_int_eq(lookup("inl"), CACHE_HIT);
	e->value_len = PKV_SHM_INLINE - 15; /* one byte more: a word past them */
	ck_assert_int_eq(lookup("inl"), CACHE_MISS);
}
END_TEST

/*
 * Each field starts on a word and its last word is padded with zeros, also
 * where a longer entry of the key lay before: the padding never carries
 * the bytes of an older value.
 */
START_TEST(fields_start_on_words_and_their_padding_is_zeros)
{
	static char big[73];
	memset(big, 'X', sizeof(big) - 1);
	ck_assert_int_eq(publish("abc", big, 1, 0), 0);
	ck_assert_int_eq(publish("abc", "xyz12", 2, 0), 0);
	uint64_t h = pkv_shm_hash("bucket", 6, "abc", 3);
	const struct pkv_shm_entry *e = &shm_stripe(seg, stripe_of_key("abc"))->ent[pkv_shm_home_of(h)];
	ck_assert_uint_eq(e->tag, h);
	ck_assert_uint_eq(e->gen, 2);
	ck_assert_uint_eq(e->off, PKV_SHM_OFF_INLINE);
	static const uint8_t want[24] = {'b', 'u', 'c', 'k', 'e', 't', 0, 0, 'a', 'b', 'c', 0,
					 0,   0,   0,   0,   'x', 'y', 'z', '1', '2', 0, 0, 0};
	for (size_t i = 0; i < sizeof(want); i++)
		ck_assert_msg(e->inl[i] == want[i], "inline byte %zu is 0x%02x, not 0x%02x", i,
			      e->inl[i], want[i]);
	ck_assert_int_eq(lookup("abc"), CACHE_HIT);
	ck_assert_str_eq(val.data, "xyz12");
}
END_TEST

/*
 * The lookup compares and copies from whole shared words at every alignment
 * the bytes can take: buckets and keys of each length from short to over a
 * word or two, values inline and in the heap, each read back exactly, and
 * a query that differs in one byte of its bucket or key is a miss. Under
 * ASan each query sits in a buffer of exactly its size.
 */
START_TEST(lookup_reads_every_length_and_alignment_exactly)
{
	static const size_t blens[] = {1, 3, 4, 5, 7, 8, 9, 13, 16, 17};
	static const size_t vlens[] = {0, 1, 5, 8, 9, 31, 32, 33, 60, 200, 257, 1000};
	char name[64], v[1024];
	unsigned n = 0;
	for (size_t bi = 0; bi < sizeof(blens) / sizeof(blens[0]); bi++) {
		for (size_t kl = 0; kl <= 24; kl++) {
			size_t bl = blens[bi], vl = vlens[(bi + kl) % (sizeof(vlens) / sizeof(vlens[0]))];
			char *b = malloc(bl), *k = malloc(kl ? kl : 1);
			ck_assert_ptr_nonnull(b);
			ck_assert_ptr_nonnull(k);
			for (size_t i = 0; i < bl; i++)
				b[i] = (char)('A' + (i + bi) % 26);
			for (size_t i = 0; i < kl; i++)
				k[i] = (char)('a' + (i * 7 + bi) % 26);
			for (size_t i = 0; i < vl; i++)
				v[i] = (char)(' ' + (i * 13 + kl) % 90);
			struct pkv_bytes bb = {(const uint8_t *)b, (uint32_t)bl};
			struct pkv_bytes kb = {(const uint8_t *)k, (uint32_t)kl};
			struct pkv_bytes vb = {(const uint8_t *)v, (uint32_t)vl};
			ck_assert_int_eq(shm_cache_publish(seg, bb, kb, vb, 3, 0), 0);
			snprintf(name, sizeof(name), "bucket %zu key %zu value %zu", bl, kl, vl);
			ck_assert_msg(cache_lookup(m, geo, b, bl, k, kl, 0, &val) == CACHE_HIT, "%s",
				      name);
			ck_assert_msg(val.len == vl && memcmp(val.data, v, vl) == 0 &&
					      ((char *)val.data)[vl] == 0 && val.gen == 3,
				      "%s: read back otherwise", name);
			for (size_t i = 0; i < bl + kl; i++) {
				char *c = i < bl ? &b[i] : &k[i - bl];
				*c ^= 0x01;
				ck_assert_msg(cache_lookup(m, geo, b, bl, k, kl, 0, &val) ==
						      CACHE_MISS,
					      "%s: byte %zu flipped is a hit", name, i);
				*c ^= 0x01;
			}
			free(b);
			free(k);
			n++;
		}
	}
	ck_assert_uint_eq(n, 250);
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
	tcase_add_test(tc, full_stripe_evicts_the_oldest_near_the_home_and_keeps_serving);
	tcase_add_test(tc, full_stripe_places_each_new_entry_near_its_home);
	tcase_add_test(tc, writer_search_bound_covers_every_entry_through_churn);
	tcase_add_test(tc, writer_dying_mid_publish_is_recovered_and_readers_never_block);
	tcase_add_test(tc, holder_dying_between_writes_is_recovered);
	tcase_add_test(tc, readers_see_whole_values_while_a_writer_rewrites_across_processes);
	tcase_add_test(tc, readers_see_whole_values_while_a_writer_rewrites_across_threads);
	tcase_add_test(tc, layout_mismatch_is_refused);
	tcase_add_test(tc, default_cache_has_stripes_for_48_entries_and_room_for_any_entry);
	tcase_add_test(tc, cache_size_setting_sizes_stripes_for_48_entries_each);
	tcase_add_test(tc, large_cache_is_read_with_the_geometry_in_its_header);
	tcase_add_test(tc, header_with_a_bad_cache_geometry_is_refused);
	tcase_add_test(tc, cache_of_n_entries_holds_n_keys_with_few_evictions);
	tcase_add_test(tc, hash_reads_only_the_key_and_depends_on_every_byte);
	tcase_add_test(tc, entry_with_the_tag_but_other_bytes_is_not_a_hit);
	tcase_add_test(tc, entry_goes_to_its_home_slot_first);
	tcase_add_test(tc, small_entries_sit_inline_and_larger_ones_in_the_heap);
	tcase_add_test(tc, lookup_reads_every_length_and_alignment_exactly);
	tcase_add_test(tc, fields_start_on_words_and_their_padding_is_zeros);
	tcase_add_test(tc, torn_entry_off_a_word_or_past_its_bytes_is_a_miss);
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
