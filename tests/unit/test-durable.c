// SPDX-License-Identifier: MIT
/* test-durable.c — the durable acceptor log: framing, torn tails, corruption, compaction. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable.h"

/* ---- fixtures ---------------------------------------------------------- */

static char dir[256];

static void dir_setup(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/pkv-durable-XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char p[512];
	const char *names[] = { DURABLE_LOG_NAME, DURABLE_TMP_NAME };
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	chmod(dir, 0700);
	rmdir(dir);
}

static void path_of(char *p, size_t n, const char *name)
{
	snprintf(p, n, "%s/%s", dir, name);
}

static uint8_t *file_read(const char *name, size_t *len)
{
	char p[512];
	path_of(p, sizeof(p), name);
	FILE *f = fopen(p, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void file_write(const char *name, const uint8_t *b, size_t len)
{
	char p[512];
	path_of(p, sizeof(p), name);
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	fclose(f);
}

/* A deterministic record for index i; version v changes ballots/values. */
struct trec {
	char bucket[16], key[32], aval[64], cval[64];
	struct durable_rec r;
};

static void make_rec(struct trec *t, unsigned i, unsigned v)
{
	snprintf(t->bucket, sizeof(t->bucket), "B%u", i % 3);
	snprintf(t->key, sizeof(t->key), "key-%u", i);
	snprintf(t->aval, sizeof(t->aval), "value-%u-%u", i, v);
	snprintf(t->cval, sizeof(t->cval), "chosen-%u-%u", i, v);
	memset(&t->r, 0, sizeof(t->r));
	t->r.bucket = (struct pkv_bytes){ (const uint8_t *)t->bucket, (uint32_t)strlen(t->bucket) };
	t->r.key = (struct pkv_bytes){ (const uint8_t *)t->key, (uint32_t)strlen(t->key) };
	t->r.gen = 1 + v / 4;
	t->r.promised = (struct pkv_ballot){ 10 + v, i % 7 };
	t->r.max_round = 10 + v + i;
	if (v % 3) {
		t->r.has_accepted = true;
		t->r.accepted = (struct pkv_ballot){ 9 + v, i % 5 };
		t->r.accepted_value =
			(struct pkv_bytes){ (const uint8_t *)t->aval, (uint32_t)strlen(t->aval) };
	}
	if (v % 3 == 2) {
		t->r.chosen = true;
		if (i % 2) { /* same as accepted: stored once */
			t->r.chosen_ballot = t->r.accepted;
			t->r.chosen_value = t->r.accepted_value;
		} else {
			t->r.chosen_ballot = (struct pkv_ballot){ 8 + v, 1 };
			t->r.chosen_value = (struct pkv_bytes){ (const uint8_t *)t->cval,
								(uint32_t)strlen(t->cval) };
		}
	}
}

static bool bytes_eq(struct pkv_bytes a, struct pkv_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool rec_eq(const struct durable_rec *a, const struct durable_rec *b)
{
	return bytes_eq(a->bucket, b->bucket) && bytes_eq(a->key, b->key) && a->gen == b->gen &&
	       pkv_ballot_cmp(a->promised, b->promised) == 0 &&
	       a->has_accepted == b->has_accepted &&
	       pkv_ballot_cmp(a->accepted, b->accepted) == 0 &&
	       bytes_eq(a->accepted_value, b->accepted_value) && a->chosen == b->chosen &&
	       pkv_ballot_cmp(a->chosen_ballot, b->chosen_ballot) == 0 &&
	       bytes_eq(a->chosen_value, b->chosen_value) && a->max_round == b->max_round;
}

/* Replay collector: checks each record against an expected list. */
struct expect {
	const struct trec *want;
	size_t n, seen;
	bool mismatch;
};

static int expect_apply(void *arg, const struct durable_rec *r)
{
	struct expect *e = arg;
	if (e->seen >= e->n || !rec_eq(r, &e->want[e->seen].r))
		e->mismatch = true;
	e->seen++;
	return 0;
}

static int count_apply(void *arg, const struct durable_rec *r)
{
	(*(size_t *)arg)++;
	return 0;
}

static struct durable *open_ok(void)
{
	struct durable *d = NULL;
	char err[512];
	int rc = durable_open(&d, dir, err, sizeof(err));
	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	ck_assert_ptr_nonnull(d);
	return d;
}

static size_t count_records(void)
{
	struct durable *d = open_ok();
	size_t n = 0;
	ck_assert_int_eq(durable_replay(d, count_apply, &n), 0);
	ck_assert_int_eq(durable_close(d), 0);
	return n;
}

static void expect_replay(struct durable *d, const struct trec *want, size_t n)
{
	struct expect e = { want, n, 0, false };
	ck_assert_int_eq(durable_replay(d, expect_apply, &e), 0);
	ck_assert_uint_eq(e.seen, n);
	ck_assert(!e.mismatch);
}

/* Writes n records (record i at version 0), sync every `per` records. */
static struct trec *write_records(size_t n, size_t per)
{
	struct trec *t = calloc(n, sizeof(*t));
	struct durable *d = open_ok();
	for (size_t i = 0; i < n; i++) {
		make_rec(&t[i], (unsigned)i, (unsigned)i);
		ck_assert_int_eq(durable_append(d, &t[i].r), 0);
		if ((i + 1) % per == 0)
			ck_assert_int_eq(durable_sync(d), 0);
	}
	ck_assert_int_eq(durable_close(d), 0);
	return t;
}

/* Offset of record i in a log written with only KEY records. */
static size_t rec_offset(const uint8_t *b, size_t i)
{
	size_t off = DURABLE_FILE_HEADER;
	while (i--) {
		uint32_t plen = (uint32_t)b[off + 4] | (uint32_t)b[off + 5] << 8 |
				(uint32_t)b[off + 6] << 16 | (uint32_t)b[off + 7] << 24;
		off += DURABLE_FRAME_HEADER + plen;
	}
	return off;
}

static int open_refused(char *err, size_t errlen)
{
	struct durable *d = (struct durable *)1;
	int rc = durable_open(&d, dir, err, errlen);
	ck_assert_ptr_null(d);
	return rc;
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(crc32c_matches_the_castagnoli_check_value)
{
	ck_assert_uint_eq(durable_crc32c(0, "123456789", 9), 0xe3069283u);
	/* Incremental use gives the same result. */
	ck_assert_uint_eq(durable_crc32c(durable_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	ck_assert_uint_eq(durable_crc32c_table(0, "123456789", 9), 0xe3069283u);
}
END_TEST

/* The instruction's path (where the CPU has it) and the table agree on every
 * length, alignment and split of a buffer. */
START_TEST(crc32c_instruction_and_table_agree)
{
	uint8_t buf[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131u + 7u);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 7) {
			uint32_t t = durable_crc32c_table(0x12345678u, buf + off, len);
			ck_assert_uint_eq(durable_crc32c(0x12345678u, buf + off, len), t);
			size_t h = len / 3;
			ck_assert_uint_eq(durable_crc32c(durable_crc32c(0x12345678u, buf + off, h),
							 buf + off + h, len - h),
					  t);
		}
}
END_TEST

START_TEST(empty_dir_opens_as_an_empty_log)
{
	struct durable *d = open_ok();
	size_t n = 0;
	ck_assert_int_eq(durable_replay(d, count_apply, &n), 0);
	ck_assert_uint_eq(n, 0);
	struct durable_stats st;
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.log_bytes, DURABLE_FILE_HEADER);
	ck_assert_uint_eq(st.torn_bytes, 0);
	ck_assert(st.created);
	ck_assert(!durable_should_compact(d));
	ck_assert_int_eq(durable_close(d), 0);
	size_t len;
	free(file_read(DURABLE_LOG_NAME, &len));
	ck_assert_uint_eq(len, DURABLE_FILE_HEADER);
	ck_assert_uint_eq(count_records(), 0);
}
END_TEST

START_TEST(many_records_round_trip_in_order)
{
	enum { N = 5000 };
	struct trec *t = write_records(N, 37);
	struct durable *d = open_ok();
	struct durable_stats st;
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.records_replayed, N);
	ck_assert_uint_eq(st.live_keys, N);
	ck_assert(!st.created);
	expect_replay(d, t, N);
	/* Replay is once, before appends. */
	ck_assert_int_eq(durable_replay(d, count_apply, &(size_t){ 0 }), -EINVAL);
	ck_assert_int_eq(durable_close(d), 0);
	free(t);
}
END_TEST

static int stop_at_three(void *arg, const struct durable_rec *r)
{
	return ++*(size_t *)arg == 3 ? 42 : 0;
}

START_TEST(replay_stops_when_apply_fails)
{
	free(write_records(10, 10));
	struct durable *d = open_ok();
	size_t n = 0;
	ck_assert_int_eq(durable_replay(d, stop_at_three, &n), 42);
	ck_assert_uint_eq(n, 3);
	durable_close(d);
}
END_TEST

START_TEST(largest_value_and_key_round_trip)
{
	static uint8_t bucket[PKV_MAX_BUCKET], key[PKV_MAX_KEY], v1[DURABLE_MAX_VALUE],
		v2[DURABLE_MAX_VALUE];
	for (size_t i = 0; i < sizeof(v1); i++) {
		v1[i] = (uint8_t)(i * 7);
		v2[i] = (uint8_t)(i * 13 + 1);
	}
	memset(bucket, 'b', sizeof(bucket));
	memset(key, 0, sizeof(key)); /* NUL bytes are data */
	key[0] = 'k';
	struct trec t[2];
	memset(t, 0, sizeof(t));
	t[0].r = (struct durable_rec){
		.bucket = { bucket, sizeof(bucket) },
		.key = { key, sizeof(key) },
		.gen = UINT64_MAX,
		.promised = { UINT64_MAX, UINT32_MAX },
		.has_accepted = true,
		.accepted = { UINT64_MAX - 1, 3 },
		.accepted_value = { v1, sizeof(v1) },
		.chosen = true,
		.chosen_ballot = { 5, 6 },
		.chosen_value = { v2, sizeof(v2) },
		.max_round = UINT64_MAX,
	};
	t[1].r = t[0].r;
	t[1].r.accepted_value = (struct pkv_bytes){ v1, 0 }; /* an empty value is a value */
	t[1].r.chosen = false;
	t[1].r.chosen_ballot = (struct pkv_ballot){ 0, 0 };
	t[1].r.chosen_value = (struct pkv_bytes){ NULL, 0 };
	struct durable *d = open_ok();
	ck_assert_int_eq(durable_append(d, &t[0].r), 0);
	ck_assert_int_eq(durable_append(d, &t[1].r), 0);
	ck_assert_int_eq(durable_close(d), 0);
	d = open_ok();
	expect_replay(d, t, 2);
	durable_close(d);
}
END_TEST

START_TEST(records_out_of_limits_are_refused)
{
	static uint8_t big[DURABLE_MAX_VALUE + 1];
	struct trec t;
	struct durable *d = open_ok();
	make_rec(&t, 1, 1);

	struct durable_rec r = t.r;
	r.key.len = PKV_MAX_KEY + 1;
	r.key.p = big;
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	r = t.r;
	r.key.len = 0;
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	r = t.r;
	r.bucket.len = 0;
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	r = t.r;
	r.bucket = (struct pkv_bytes){ big, PKV_MAX_BUCKET + 1 };
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	r = t.r;
	r.accepted_value = (struct pkv_bytes){ big, DURABLE_MAX_VALUE + 1 };
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	r = t.r;
	r.has_accepted = false; /* a value without an accept is a caller bug */
	ck_assert_int_eq(durable_append(d, &r), -EINVAL);
	ck_assert_int_eq(durable_close(d), 0);
	ck_assert_uint_eq(count_records(), 0);
}
END_TEST

START_TEST(sync_makes_records_visible_to_a_reopen_and_unsynced_ones_are_not)
{
	struct trec t[2];
	make_rec(&t[0], 1, 1);
	make_rec(&t[1], 2, 2);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child "crashes" after syncing one record and appending
		 * another: no close, no flush. */
		struct durable *d = NULL;
		char err[256];
		if (durable_open(&d, dir, err, sizeof(err)) || durable_append(d, &t[0].r) ||
		    durable_sync(d) || durable_append(d, &t[1].r))
			_exit(1);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct durable *d = open_ok();
	expect_replay(d, t, 1);
	durable_close(d);
}
END_TEST

START_TEST(append_buffers_in_memory_until_sync)
{
	struct trec t;
	struct durable *d = open_ok();
	struct durable_stats st;
	make_rec(&t, 1, 2);
	ck_assert_int_eq(durable_append(d, &t.r), 0);
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.log_bytes, DURABLE_FILE_HEADER);
	ck_assert_uint_gt(st.pending_bytes, 0);
	ck_assert_uint_eq(st.syncs, 0);
	ck_assert_int_eq(durable_sync(d), 0);
	ck_assert_int_eq(durable_sync(d), 0); /* nothing pending: no sync */
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.log_bytes, DURABLE_FILE_HEADER + st.bytes_appended);
	ck_assert_uint_eq(st.pending_bytes, 0);
	ck_assert_uint_eq(st.syncs, 1);
	ck_assert_uint_gt(st.sync_ns, 0);
	durable_close(d);
}
END_TEST

/*
 * The daemon's sync off the loop: durable_sync_begin hands out the pending
 * records as a batch, what is appended meanwhile goes into the next batch
 * (group commit), a second begin while one is in flight is refused, and a
 * batch the caller wrote and synced replays; one still in flight at close
 * is written and synced by the close.
 */
START_TEST(sync_begin_hands_out_a_batch_and_appends_meanwhile_go_into_the_next)
{
	struct trec t[3];
	for (unsigned i = 0; i < 3; i++)
		make_rec(&t[i], i + 1, i + 1);
	struct durable *d = open_ok();
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	ck_assert_int_eq(durable_sync_begin(d, &buf, &len, &off), 0); /* nothing pending */
	ck_assert_int_eq(durable_append(d, &t[0].r), 0);
	ck_assert_int_eq(durable_sync_begin(d, &buf, &len, &off), 1);
	ck_assert_uint_eq(off, DURABLE_FILE_HEADER);
	ck_assert_uint_gt(len, 0);
	ck_assert(durable_sync_in_flight(d));
	/* The batch's records end at log_bytes; len may add zeros ahead. */
	struct durable_stats st;
	durable_get_stats(d, &st);
	uint64_t rec_end = st.log_bytes;
	ck_assert_uint_gt(rec_end, off);
	ck_assert_uint_ge(off + len, rec_end);
	ck_assert_int_eq(durable_append(d, &t[1].r), 0); /* the next batch */
	const uint8_t *b2;
	size_t l2;
	uint64_t o2;
	ck_assert_int_eq(durable_sync_begin(d, &b2, &l2, &o2), -EBUSY);
	/* the caller's write and sync, as the ring would do them */
	ck_assert_int_eq(pwrite(durable_fd(d), buf, len, (off_t)off), (ssize_t)len);
	ck_assert_int_eq(fdatasync(durable_fd(d)), 0);
	uint64_t ns = 0;
	ck_assert_int_eq(durable_sync_end(d, (ssize_t)len, 0, &ns), 0);
	ck_assert(!durable_sync_in_flight(d));
	/* the next batch starts where the first ended; left in flight */
	ck_assert_int_eq(durable_sync_begin(d, &b2, &l2, &o2), 1);
	ck_assert_uint_eq(o2, rec_end);
	ck_assert_int_eq(durable_append(d, &t[2].r), 0);
	ck_assert_int_eq(durable_close(d), 0); /* writes the batch in flight and the rest */
	d = open_ok();
	expect_replay(d, t, 3);
	durable_close(d);
}
END_TEST

/* Writes and syncs one batch through durable_sync_begin/_end, as the ring does. */
static void ring_sync(struct durable *d)
{
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	ck_assert_int_eq(durable_sync_begin(d, &buf, &len, &off), 1);
	ck_assert_int_eq(pwrite(durable_fd(d), buf, len, (off_t)off), (ssize_t)len);
	ck_assert_int_eq(fdatasync(durable_fd(d)), 0);
	ck_assert_int_eq(durable_sync_end(d, (ssize_t)len, 0, NULL), 0);
}

/*
 * Batches synced off the loop write zeros ahead of the records, so the next
 * batches overwrite blocks the file has (a data-only fdatasync): the file is
 * longer than its records, all zeros past them. A reopen takes those zeros
 * for what they are (not a torn write: nothing cut), replays every record
 * and writes the next batch where the records end, over the zeros.
 */
START_TEST(zeros_written_ahead_are_overwritten_and_not_taken_for_a_torn_tail)
{
	struct trec t[40];
	for (unsigned i = 0; i < 40; i++)
		make_rec(&t[i], i + 1, 1);
	struct durable *d = open_ok();
	for (unsigned i = 0; i < 20; i++) {
		ck_assert_int_eq(durable_append(d, &t[i].r), 0);
		ring_sync(d);
	}
	struct durable_stats st;
	durable_get_stats(d, &st);
	uint64_t rec_end = st.log_bytes;
	ck_assert_int_eq(durable_close(d), 0);
	size_t flen;
	uint8_t *f = file_read(DURABLE_LOG_NAME, &flen);
	ck_assert_uint_gt(flen, rec_end); /* zeros ahead */
	for (size_t i = rec_end; i < flen; i++)
		ck_assert_uint_eq(f[i], 0);
	free(f);
	d = open_ok();
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.torn_bytes, 0);
	ck_assert_uint_eq(st.log_bytes, rec_end);
	expect_replay(d, t, 20);
	for (unsigned i = 20; i < 40; i++) {
		ck_assert_int_eq(durable_append(d, &t[i].r), 0);
		ring_sync(d);
	}
	ck_assert_int_eq(durable_close(d), 0);
	size_t flen2;
	f = file_read(DURABLE_LOG_NAME, &flen2);
	ck_assert_uint_eq(flen2, flen); /* written over the zeros, not after them */
	free(f);
	d = open_ok();
	expect_replay(d, t, 40);
	durable_close(d);
}
END_TEST

/*
 * A batch torn over the zeros ahead (its first bytes written, the rest still
 * zeros) is a torn tail as before: cut at the last whole record, the records
 * before it replayed.
 */
START_TEST(batch_torn_over_the_zeros_ahead_is_cut)
{
	struct trec t[3];
	for (unsigned i = 0; i < 3; i++)
		make_rec(&t[i], i + 1, 1);
	struct durable *d = open_ok();
	ck_assert_int_eq(durable_append(d, &t[0].r), 0);
	ring_sync(d);
	ck_assert_int_eq(durable_append(d, &t[1].r), 0);
	ck_assert_int_eq(durable_append(d, &t[2].r), 0);
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	ck_assert_int_eq(durable_sync_begin(d, &buf, &len, &off), 1);
	/* Only the first 30 bytes of the batch reach the disk; then a crash. */
	ck_assert_int_eq(pwrite(durable_fd(d), buf, 30, (off_t)off), 30);
	ck_assert_int_eq(fdatasync(durable_fd(d)), 0);
	size_t flen;
	uint8_t *f = file_read(DURABLE_LOG_NAME, &flen);
	/* What durable_close would settle is lost: the file as the crash left it. */
	durable_close(d);
	file_write(DURABLE_LOG_NAME, f, flen);
	free(f);
	d = open_ok();
	struct durable_stats st;
	durable_get_stats(d, &st);
	ck_assert_uint_gt(st.torn_bytes, 0);
	ck_assert_uint_eq(st.log_bytes, off);
	expect_replay(d, t, 1);
	durable_close(d);
}
END_TEST

/* A short write: the rest is written and synced by durable_sync_end. */
START_TEST(short_write_of_a_batch_is_finished_by_sync_end)
{
	struct trec t;
	make_rec(&t, 4, 2);
	struct durable *d = open_ok();
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	ck_assert_int_eq(durable_append(d, &t.r), 0);
	ck_assert_int_eq(durable_sync_begin(d, &buf, &len, &off), 1);
	ck_assert_int_eq(pwrite(durable_fd(d), buf, 10, (off_t)off), 10);
	ck_assert_int_eq(durable_sync_end(d, 10, -ECANCELED, NULL), 0);
	durable_close(d);
	d = open_ok();
	expect_replay(d, &t, 1);
	durable_close(d);
}
END_TEST

/* The last record in its own batch, cut at every byte offset inside it. */
START_TEST(torn_tail_is_dropped_at_every_offset_and_the_log_appends_after)
{
	enum { N = 20 };
	struct trec *t = write_records(N, 1);
	size_t len;
	uint8_t *full = file_read(DURABLE_LOG_NAME, &len);
	size_t last = rec_offset(full, N - 1);
	ck_assert_uint_eq(rec_offset(full, N), len);
	struct trec extra;
	make_rec(&extra, 9, 3); /* smaller than the torn record: no value */
	struct trec *want = calloc(N, sizeof(*want));
	memcpy(want, t, (N - 1) * sizeof(*t));
	want[N - 1] = extra;

	for (size_t cut = last; cut < len; cut++) {
		file_write(DURABLE_LOG_NAME, full, cut);
		struct durable *d = open_ok();
		struct durable_stats st;
		durable_get_stats(d, &st);
		ck_assert_uint_eq(st.torn_bytes, cut - last);
		ck_assert_uint_eq(st.records_replayed, N - 1);
		size_t now;
		free(file_read(DURABLE_LOG_NAME, &now));
		ck_assert_uint_eq(now, last); /* cut on disk, not only skipped */
		expect_replay(d, t, N - 1);
		ck_assert_int_eq(durable_append(d, &extra.r), 0);
		ck_assert_int_eq(durable_close(d), 0);
		d = open_ok();
		durable_get_stats(d, &st);
		ck_assert_uint_eq(st.torn_bytes, 0);
		expect_replay(d, want, N);
		durable_close(d);
	}
	free(want);
	free(full);
	free(t);
}
END_TEST

/* A crash may lose any page of an unsynced batch, not only its end. */
START_TEST(torn_batch_with_a_lost_page_in_the_middle_is_dropped)
{
	enum { N = 12 };
	struct trec *t = write_records(N, 4); /* batches of 4: the last is 8..11 */
	size_t len;
	uint8_t *b = file_read(DURABLE_LOG_NAME, &len);
	size_t x = rec_offset(b, 9);
	memset(b + x, 0, rec_offset(b, 10) - x);
	file_write(DURABLE_LOG_NAME, b, len);
	struct durable *d = open_ok();
	struct durable_stats st;
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.torn_bytes, len - x);
	expect_replay(d, t, 9);
	durable_close(d);
	free(b);
	free(t);
}
END_TEST

/* Damage in a synced batch with later batches after it: refuse, name the offset. */
START_TEST(flipped_bit_in_a_middle_record_is_refused_with_its_offset)
{
	enum { N = 10 };
	free(write_records(N, 1));
	size_t len;
	uint8_t *orig = file_read(DURABLE_LOG_NAME, &len);
	size_t x = rec_offset(orig, 4), xe = rec_offset(orig, 5);
	char want[64];
	snprintf(want, sizeof(want), "offset %zu ", x);
	/* Every bit of the frame header (crc, length, crc, type, batch) and of
	 * the payload. */
	for (size_t bit = 0; bit < (xe - x) * 8; bit++) {
		uint8_t *b = malloc(len);
		memcpy(b, orig, len);
		b[x + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		file_write(DURABLE_LOG_NAME, b, len);
		char err[512] = "";
		ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
		ck_assert_msg(strstr(err, want) && strstr(err, dir), "bit %zu: %s", bit, err);
		free(b);
	}
	/* The file is left as it was found: nothing truncated. */
	size_t after;
	free(file_read(DURABLE_LOG_NAME, &after));
	ck_assert_uint_eq(after, len);
	free(orig);
}
END_TEST

START_TEST(lost_page_in_a_synced_batch_is_refused)
{
	free(write_records(12, 4));
	size_t len;
	uint8_t *b = file_read(DURABLE_LOG_NAME, &len);
	size_t x = rec_offset(b, 5); /* inside batch 2 of 3 */
	memset(b + x, 0, rec_offset(b, 6) - x);
	file_write(DURABLE_LOG_NAME, b, len);
	char err[512], want[64];
	snprintf(want, sizeof(want), "offset %zu ", x);
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, want), "%s", err);
	free(b);
}
END_TEST

/* Stale bytes exposed by a crash (an intact record from an older batch) are
 * not a record of the last batch: dropped, never replayed over newer state. */
START_TEST(stale_record_from_an_older_batch_at_the_tail_is_dropped)
{
	enum { N = 10 };
	struct trec *t = write_records(N, 1);
	size_t len;
	uint8_t *b = file_read(DURABLE_LOG_NAME, &len);
	size_t x = rec_offset(b, 2), xe = rec_offset(b, 3);
	uint8_t *c = malloc(len + (xe - x));
	memcpy(c, b, len);
	memcpy(c + len, b + x, xe - x);
	file_write(DURABLE_LOG_NAME, c, len + (xe - x));
	struct durable *d = open_ok();
	struct durable_stats st;
	durable_get_stats(d, &st);
	ck_assert_uint_eq(st.torn_bytes, xe - x);
	expect_replay(d, t, N);
	durable_close(d);
	free(c);
	free(b);
	free(t);
}
END_TEST

START_TEST(bad_file_header_is_refused)
{
	free(write_records(3, 1));
	size_t len;
	uint8_t *b = file_read(DURABLE_LOG_NAME, &len);
	b[17] ^= 1; /* first batch number */
	file_write(DURABLE_LOG_NAME, b, len);
	char err[512];
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "offset 0"), "%s", err);
	file_write(DURABLE_LOG_NAME, b, 10); /* shorter than a header */
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
	free(b);
}
END_TEST

/* Compaction snapshot: iterate a model array. */
struct snap {
	struct trec *t;
	size_t n, i;
	int fail_at; /* return -EIO at this index; -1: never */
};

static int snap_next(void *arg, struct durable_rec *r)
{
	struct snap *s = arg;
	if ((int)s->i == s->fail_at)
		return -EIO;
	if (s->i == s->n)
		return 0;
	*r = s->t[s->i++].r;
	return 1;
}

START_TEST(compaction_keeps_exactly_the_live_state)
{
	enum { KEYS = 50, VERSIONS = 40 };
	struct trec *live = calloc(KEYS, sizeof(*live));
	struct trec scratch;
	struct durable *d = open_ok();
	for (unsigned v = 0; v < VERSIONS; v++) {
		for (unsigned i = 0; i < KEYS; i++) {
			make_rec(&scratch, i, v);
			ck_assert_int_eq(durable_append(d, &scratch.r), 0);
		}
		ck_assert_int_eq(durable_sync(d), 0);
	}
	for (unsigned i = 0; i < KEYS; i++)
		make_rec(&live[i], i, VERSIONS - 1);
	struct durable_stats before, after;
	durable_get_stats(d, &before);
	ck_assert_uint_eq(before.live_keys, KEYS);
	struct snap s = { live, KEYS, 0, -1 };
	ck_assert_int_eq(durable_compact(d, snap_next, &s), 0);
	durable_get_stats(d, &after);
	ck_assert_uint_eq(after.compactions, 1);
	ck_assert_uint_lt(after.log_bytes * (VERSIONS / 2), before.log_bytes);
	ck_assert_uint_eq(after.log_bytes, DURABLE_FILE_HEADER + after.live_bytes);
	/* Appends after compaction land in the new log. */
	struct trec *want = calloc(KEYS + 1, sizeof(*want));
	memcpy(want, live, KEYS * sizeof(*live));
	make_rec(&want[KEYS], 7, VERSIONS);
	ck_assert_int_eq(durable_append(d, &want[KEYS].r), 0);
	ck_assert_int_eq(durable_close(d), 0);
	d = open_ok();
	expect_replay(d, want, KEYS + 1);
	durable_close(d);
	/* No temp file is left behind. */
	char p[512];
	path_of(p, sizeof(p), DURABLE_TMP_NAME);
	ck_assert_int_ne(access(p, F_OK), 0);
	free(want);
	free(live);
}
END_TEST

START_TEST(compaction_of_an_empty_state_then_appends_reopen)
{
	free(write_records(10, 3));
	struct durable *d = open_ok();
	struct snap s = { NULL, 0, 0, -1 };
	ck_assert_int_eq(durable_compact(d, snap_next, &s), 0);
	struct trec t[2];
	make_rec(&t[0], 1, 1);
	make_rec(&t[1], 2, 2);
	ck_assert_int_eq(durable_append(d, &t[0].r), 0);
	ck_assert_int_eq(durable_sync(d), 0);
	ck_assert_int_eq(durable_append(d, &t[1].r), 0);
	ck_assert_int_eq(durable_close(d), 0);
	d = open_ok();
	expect_replay(d, t, 2);
	durable_close(d);
}
END_TEST

START_TEST(failed_compaction_keeps_the_old_log)
{
	enum { N = 30 };
	struct trec *t = write_records(N, 5);
	struct durable *d = open_ok();
	struct trec extra[N + 1];
	memcpy(extra, t, N * sizeof(*t));
	make_rec(&extra[N], 77, 1);
	ck_assert_int_eq(durable_append(d, &extra[N].r), 0); /* pending at compaction */
	struct snap s = { t, N, 0, 10 };
	ck_assert_int_eq(durable_compact(d, snap_next, &s), -EIO);
	ck_assert_str_ne(durable_errmsg(d), "");
	char p[512];
	path_of(p, sizeof(p), DURABLE_TMP_NAME);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_int_eq(durable_close(d), 0);
	d = open_ok();
	expect_replay(d, extra, N + 1);
	durable_close(d);
	free(t);
}
END_TEST

/* A crash after the temp file was written but before the rename. */
START_TEST(crash_between_temp_write_and_rename_leaves_the_old_log)
{
	enum { N = 15 };
	struct trec *t = write_records(N, 4);
	/* A complete, valid temp file holding a different state... */
	size_t len;
	uint8_t *old = file_read(DURABLE_LOG_NAME, &len);
	file_write(DURABLE_TMP_NAME, old, rec_offset(old, 3));
	struct durable *d = open_ok();
	char p[512];
	path_of(p, sizeof(p), DURABLE_TMP_NAME);
	ck_assert_int_ne(access(p, F_OK), 0); /* removed */
	expect_replay(d, t, N);
	durable_close(d);
	/* ...and a half-written one. */
	file_write(DURABLE_TMP_NAME, (const uint8_t *)"PKVDL", 5);
	d = open_ok();
	ck_assert_int_ne(access(p, F_OK), 0);
	expect_replay(d, t, N);
	durable_close(d);
	free(old);
	free(t);
}
END_TEST

START_TEST(damage_inside_the_compacted_snapshot_is_refused)
{
	enum { N = 8 };
	struct trec *t = write_records(N, 1);
	struct durable *d = open_ok();
	struct snap s = { t, N, 0, -1 };
	ck_assert_int_eq(durable_compact(d, snap_next, &s), 0);
	ck_assert_int_eq(durable_close(d), 0);
	size_t len;
	uint8_t *b = file_read(DURABLE_LOG_NAME, &len);
	ck_assert_uint_eq(rec_offset(b, N), len);
	/* The last record of the file, but synced before the rename: not torn. */
	size_t x = rec_offset(b, N - 1);
	b[len - 1] ^= 0x80;
	file_write(DURABLE_LOG_NAME, b, len);
	char err[512], want[64];
	snprintf(want, sizeof(want), "offset %zu ", x);
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, want) && strstr(err, "snapshot"), "%s", err);
	/* Cut short inside the snapshot: also refused. */
	file_write(DURABLE_LOG_NAME, b, len - 1);
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EBADMSG);
	free(b);
	free(t);
}
END_TEST

START_TEST(should_compact_when_garbage_dominates)
{
	struct durable *d = open_ok();
	struct trec t;
	static uint8_t v[1000];
	make_rec(&t, 1, 1);
	t.r.accepted_value = (struct pkv_bytes){ v, sizeof(v) };
	while (!durable_should_compact(d)) {
		struct durable_stats st;
		durable_get_stats(d, &st);
		ck_assert_uint_lt(st.log_bytes + st.pending_bytes, 2 * DURABLE_COMPACT_MIN_BYTES);
		ck_assert_int_eq(durable_append(d, &t.r), 0);
	}
	struct snap s = { &t, 1, 0, -1 };
	ck_assert_int_eq(durable_compact(d, snap_next, &s), 0);
	ck_assert(!durable_should_compact(d));
	ck_assert_int_eq(durable_close(d), 0);
	ck_assert_uint_eq(count_records(), 1);
}
END_TEST

START_TEST(second_open_of_the_same_dir_is_refused)
{
	struct durable *d = open_ok();
	char err[512];
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EWOULDBLOCK);
	ck_assert_msg(strstr(err, "in use"), "%s", err);
	durable_close(d);
	durable_close(open_ok());
}
END_TEST

/* The permission checks; as root they run in a child that drops to nobody. */
static void check_permission_errors(void)
{
	char err[512], p[512];

	ck_assert_int_eq(chmod(dir, 0500), 0);
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, dir) && strstr(err, strerror(EACCES)), "%s", err);
	/* An existing log that cannot be written is refused as well. */
	ck_assert_int_eq(chmod(dir, 0700), 0);
	durable_close(open_ok());
	path_of(p, sizeof(p), DURABLE_LOG_NAME);
	ck_assert_int_eq(chmod(p, 0400), 0);
	ck_assert_int_eq(open_refused(err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, p) && strstr(err, strerror(EACCES)), "%s", err);
}

START_TEST(missing_or_unwritable_dir_is_reported_with_path_and_reason)
{
	char err[512], p[512];
	struct durable *d = (struct durable *)1;
	snprintf(p, sizeof(p), "%s/missing", dir);
	ck_assert_int_eq(durable_open(&d, p, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(d);
	ck_assert_msg(strstr(err, p) && strstr(err, strerror(ENOENT)), "%s", err);

	if (geteuid() != 0) {
		check_permission_errors();
		return;
	}
	/* Root ignores permission bits: check as an unprivileged user. */
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		check_permission_errors(); /* a failed assertion exits non-zero */
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}
END_TEST

static Suite *durable_suite(void)
{
	Suite *s = suite_create("durable");
	TCase *tc = tcase_create("log");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, crc32c_matches_the_castagnoli_check_value);
	tcase_add_test(tc, crc32c_instruction_and_table_agree);
	tcase_add_test(tc, zeros_written_ahead_are_overwritten_and_not_taken_for_a_torn_tail);
	tcase_add_test(tc, batch_torn_over_the_zeros_ahead_is_cut);
	tcase_add_test(tc, empty_dir_opens_as_an_empty_log);
	tcase_add_test(tc, many_records_round_trip_in_order);
	tcase_add_test(tc, replay_stops_when_apply_fails);
	tcase_add_test(tc, largest_value_and_key_round_trip);
	tcase_add_test(tc, records_out_of_limits_are_refused);
	tcase_add_test(tc, sync_makes_records_visible_to_a_reopen_and_unsynced_ones_are_not);
	tcase_add_test(tc, append_buffers_in_memory_until_sync);
	tcase_add_test(tc, sync_begin_hands_out_a_batch_and_appends_meanwhile_go_into_the_next);
	tcase_add_test(tc, short_write_of_a_batch_is_finished_by_sync_end);
	tcase_add_test(tc, torn_tail_is_dropped_at_every_offset_and_the_log_appends_after);
	tcase_add_test(tc, torn_batch_with_a_lost_page_in_the_middle_is_dropped);
	tcase_add_test(tc, flipped_bit_in_a_middle_record_is_refused_with_its_offset);
	tcase_add_test(tc, lost_page_in_a_synced_batch_is_refused);
	tcase_add_test(tc, stale_record_from_an_older_batch_at_the_tail_is_dropped);
	tcase_add_test(tc, bad_file_header_is_refused);
	tcase_add_test(tc, compaction_keeps_exactly_the_live_state);
	tcase_add_test(tc, compaction_of_an_empty_state_then_appends_reopen);
	tcase_add_test(tc, failed_compaction_keeps_the_old_log);
	tcase_add_test(tc, crash_between_temp_write_and_rename_leaves_the_old_log);
	tcase_add_test(tc, damage_inside_the_compacted_snapshot_is_refused);
	tcase_add_test(tc, should_compact_when_garbage_dominates);
	tcase_add_test(tc, second_open_of_the_same_dir_is_refused);
	tcase_add_test(tc, missing_or_unwritable_dir_is_reported_with_path_and_reason);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(durable_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
