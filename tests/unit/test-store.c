// SPDX-License-Identifier: MIT
/* test-store.c — buckets, keys, cursors, counters. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

START_TEST(any_bucket_name_works_from_first_use)
{
	struct store *s = store_new();
	ck_assert_ptr_null(store_lookup(s, b("fresh"), b("k"), false));
	struct store_entry *e = store_lookup(s, b("fresh"), b("k"), true);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->gen, 1);
	ck_assert(!e->has_accepted && !e->chosen);
	ck_assert(pkv_ballot_is_zero(e->promised));
	ck_assert_ptr_eq(store_lookup(s, b("fresh"), b("k"), false), e);
	ck_assert_uint_eq(store_nbuckets(s), 1);
	ck_assert(pkv_bytes_eq(store_bucket_name(store_bucket_at(s, 0)), b("fresh")));
	store_free(s);
}
END_TEST

START_TEST(bucket_names_and_keys_out_of_limits_are_refused)
{
	struct store *s = store_new();
	static uint8_t big[PKV_MAX_KEY + 1];
	memset(big, 'a', sizeof(big));
	ck_assert_ptr_null(store_lookup(s, b(""), b("k"), true));
	ck_assert_ptr_null(store_lookup(s, (struct pkv_bytes){ big, 256 }, b("k"), true));
	ck_assert_ptr_nonnull(store_lookup(s, (struct pkv_bytes){ big, 255 }, b("k"), true));
	ck_assert_ptr_null(store_lookup(s, b("B"), (struct pkv_bytes){ big, PKV_MAX_KEY + 1 }, true));
	ck_assert_ptr_nonnull(store_lookup(s, b("B"), (struct pkv_bytes){ big, PKV_MAX_KEY }, true));
	ck_assert_ptr_null(store_lookup(s, b("B"), b(""), true));
	store_free(s);
}
END_TEST

START_TEST(keys_with_nul_bytes_are_distinct)
{
	struct store *s = store_new();
	struct pkv_bytes k1 = { (const uint8_t *)"a\0b", 3 }, k2 = { (const uint8_t *)"a\0c", 3 };
	struct store_entry *e1 = store_lookup(s, b("B"), k1, true);
	struct store_entry *e2 = store_lookup(s, b("B"), k2, true);
	ck_assert_ptr_ne(e1, e2);
	ck_assert_ptr_eq(store_lookup(s, b("B"), k1, false), e1);
	/* The same key in two buckets is two entries. */
	ck_assert_ptr_ne(store_lookup(s, b("C"), k1, true), e1);
	store_free(s);
}
END_TEST

START_TEST(values_are_copied_and_counted)
{
	struct store *s = store_new();
	struct store_entry *e = store_lookup(s, b("B"), b("key"), true);
	char v[8] = "value";
	struct pkv_ballot bal = { 2, 1 };
	ck_assert_int_eq(store_set_accepted(s, e, bal, (struct pkv_bytes){ (uint8_t *)v, 5 }), 0);
	v[0] = 'X';
	ck_assert(pkv_bytes_eq(e->accepted_value, b("value")));
	ck_assert_uint_eq(e->max_round, 2);
	struct store_bucket *bk = store_bucket(s, b("B"), false);
	ck_assert_uint_eq(store_bucket_bytes(bk), 3 + 5);
	ck_assert_int_eq(store_set_chosen(s, e, bal, b("value")), 0);
	ck_assert_uint_eq(store_bucket_bytes(bk), 3 + 5 + 5);
	ck_assert_int_eq(store_set_accepted(s, e, (struct pkv_ballot){ 3, 1 }, b("")), 0);
	ck_assert_uint_eq(store_bytes(s), 3 + 5);
	ck_assert(e->has_accepted);
	ck_assert_uint_eq(e->accepted_value.len, 0);
	ck_assert(store_entry_has_value(e));
	store_free(s);
}
END_TEST

START_TEST(bucket_counts_chosen_and_bound_keys_through_erasure)
{
	struct store *s = store_new();
	struct store_entry *plain = store_lookup(s, b("B"), b("plain"), true);
	struct store_entry *node = store_lookup(s, b("B"), b("node"), true);
	struct store_entry *both = store_lookup(s, b("B"), b("both"), true);
	struct pkv_ballot bal = { 1, 1 };
	struct pkv_bindings bn = { .mask = PKV_BIND_NODE, .node = 2 };
	struct pkv_bindings bu = { .mask = PKV_BIND_PID | PKV_BIND_UNTIL, .pid = 7, .until = 9 };
	/* Accepting counts nothing: only chosen keys are live keys. */
	ck_assert_int_eq(store_set_accepted_bound(s, node, bal, b("v"), &bn), 0);
	struct store_bucket_stats *st = store_bucket_stats(store_bucket(s, b("B"), false));
	ck_assert_uint_eq(st->chosen, 0);
	ck_assert_int_eq(store_set_chosen(s, plain, bal, b("v")), 0);
	ck_assert_int_eq(store_set_chosen_bound(s, node, bal, b("v"), &bn), 0);
	ck_assert_int_eq(store_set_chosen_bound(s, both, bal, b("v"), &bu), 0);
	ck_assert_uint_eq(st->chosen, 3);
	ck_assert_uint_eq(st->bound[0], 1); /* pid */
	ck_assert_uint_eq(st->bound[1], 1); /* node */
	ck_assert_uint_eq(st->bound[2], 0); /* key */
	ck_assert_uint_eq(st->bound[3], 1); /* until */
	/* What a sweep after a lost peer or an exit must look at: node or pid. */
	ck_assert_uint_eq(store_bound_pid_node(s), 2);
	/* Learning the same choice again replaces the slot, it does not add. */
	ck_assert_int_eq(store_set_chosen_bound(s, node, bal, b("v"), &bn), 0);
	ck_assert_uint_eq(st->chosen, 3);
	ck_assert_uint_eq(st->bound[1], 1);
	ck_assert(store_erase(s, both, both->gen));
	ck_assert(store_erase(s, node, node->gen));
	ck_assert_uint_eq(st->chosen, 1);
	for (int f = 0; f < 4; f++)
		ck_assert_uint_eq(st->bound[f], 0);
	ck_assert_uint_eq(store_bound_pid_node(s), 0);
	/* Erasing a generation with nothing chosen leaves the counts alone. */
	ck_assert(store_erase(s, node, node->gen));
	ck_assert_uint_eq(st->chosen, 1);
	store_free(s);
}
END_TEST

START_TEST(dirty_list_marks_durable_changes_once_and_learning_as_lazy)
{
	struct store *s = store_new();
	struct store_entry *e = store_lookup(s, b("B"), b("k"), true);
	struct pkv_ballot bal = { 1, 1 };
	size_t n;
	bool urgent;
	/* Off: nothing is kept. */
	ck_assert_int_eq(store_set_accepted(s, e, bal, b("v")), 0);
	store_dirty(s, &n, &urgent);
	ck_assert_uint_eq(n, 0);
	store_track_dirty(s, true);
	/* A learned value alone is listed but need not be synced before sending. */
	ck_assert_int_eq(store_set_chosen(s, e, bal, b("v")), 0);
	struct store_entry *const *v = store_dirty(s, &n, &urgent);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(v[0], e);
	ck_assert(!urgent);
	/* An acceptor change makes the turn urgent; the entry stays listed once. */
	ck_assert_int_eq(store_set_accepted(s, e, bal, b("v")), 0);
	ck_assert_int_eq(store_touch(s, e), 0);
	store_dirty(s, &n, &urgent);
	ck_assert_uint_eq(n, 1);
	ck_assert(urgent);
	store_dirty_reset(s);
	store_dirty(s, &n, &urgent);
	ck_assert_uint_eq(n, 0);
	ck_assert(!urgent);
	/* Ending a generation is urgent: an ERASE_ACK must not outrun it. */
	ck_assert(store_erase(s, e, e->gen));
	v = store_dirty(s, &n, &urgent);
	ck_assert_uint_eq(n, 1);
	ck_assert(urgent);
	ck_assert_uint_eq(v[0]->gen, 2);
	store_free(s);
}
END_TEST

START_TEST(chosen_value_shares_the_accepted_buffer_until_it_is_replaced)
{
	struct store *s = store_new();
	struct store_entry *e = store_lookup(s, b("B"), b("k"), true);
	struct pkv_ballot bal = { 1, 1 };
	struct pkv_bindings bn = { .mask = PKV_BIND_KEY, .key = b("dep"), .key_gen = 3 };
	ck_assert_int_eq(store_set_accepted_bound(s, e, bal, b("same"), &bn), 0);
	ck_assert_int_eq(store_set_chosen_bound(s, e, bal, b("same"), &bn), 0);
	ck_assert_ptr_eq(e->chosen_value.p, e->accepted_value.p);
	/* The bindings are copies, dependency key included. */
	ck_assert(e->chosen_bind->mask == PKV_BIND_KEY && e->chosen_bind->key_gen == 3);
	ck_assert(pkv_bytes_eq(e->chosen_bind->key, b("dep")));
	ck_assert_ptr_ne(e->chosen_bind->key.p, bn.key.p);
	/* A new accepted value leaves the chosen one intact. */
	ck_assert_int_eq(store_set_accepted(s, e, (struct pkv_ballot){ 2, 1 }, b("other")), 0);
	ck_assert(pkv_bytes_eq(e->chosen_value, b("same")));
	ck_assert(pkv_bytes_eq(e->accepted_value, b("other")));
	ck_assert_ptr_eq(e->accepted_bind, &store_no_bindings);
	/* And sharing again, then erasing, frees each buffer once. */
	ck_assert_int_eq(store_set_chosen(s, e, bal, b("other")), 0);
	ck_assert_ptr_eq(e->chosen_value.p, e->accepted_value.p);
	ck_assert_ptr_eq(e->chosen_bind, &store_no_bindings);
	ck_assert(store_erase(s, e, e->gen));
	ck_assert_uint_eq(e->accepted_value.len + e->chosen_value.len, 0);
	ck_assert_int_eq(store_set_accepted(s, e, bal, b("x")), 0);
	ck_assert_int_eq(store_set_chosen(s, e, bal, b("x")), 0);
	store_free(s); /* valgrind/ASan: no double free, no leak */
}
END_TEST

START_TEST(cursors_are_stable_while_keys_are_added)
{
	struct store *s = store_new();
	char k[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_ptr_nonnull(store_lookup(s, b(i % 2 ? "odd" : "even"), b(k), true));
	}
	struct store_bucket *odd = store_bucket(s, b("odd"), false);
	ck_assert_uint_eq(store_bucket_nkeys(odd), 500);
	/* Page through while adding: earlier indices keep their entries. */
	struct store_entry *at10 = store_bucket_entry_at(odd, 10);
	ck_assert(pkv_bytes_eq(at10->key, b("k21")));
	for (int i = 1000; i < 3000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		store_lookup(s, b("odd"), b(k), true);
	}
	ck_assert_ptr_eq(store_bucket_entry_at(odd, 10), at10);
	ck_assert_ptr_null(store_bucket_entry_at(odd, 2500));
	ck_assert_uint_eq(store_nentries(s), 3000);
	ck_assert(pkv_bytes_eq(store_entry_at(s, 0)->key, b("k0")));
	ck_assert(pkv_bytes_eq(store_entry_at(s, 2999)->key, b("k2999")));
	ck_assert_ptr_null(store_entry_at(s, 3000));
	/* Every key still found after the tables grew. */
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_ptr_nonnull(
			store_lookup(s, b(i < 1000 && i % 2 == 0 ? "even" : "odd"), b(k), false));
	}
	store_free(s);
}
END_TEST

START_TEST(many_buckets_are_listed)
{
	struct store *s = store_new();
	char n[16];
	for (int i = 0; i < 100; i++) {
		snprintf(n, sizeof(n), "bucket%d", i);
		ck_assert_ptr_nonnull(store_bucket(s, b(n), true));
	}
	ck_assert_uint_eq(store_nbuckets(s), 100);
	for (int i = 0; i < 100; i++) {
		snprintf(n, sizeof(n), "bucket%d", i);
		ck_assert_ptr_eq(store_bucket(s, b(n), false), store_bucket_at(s, (size_t)i));
	}
	store_bucket_stats(store_bucket_at(s, 3))->puts++;
	ck_assert_uint_eq(store_bucket_stats(store_bucket(s, b("bucket3"), false))->puts, 1);
	store_free(s);
}
END_TEST

/* A 16-byte key "key-%012u", as the benchmark's. */
static struct pkv_bytes key16(char buf[17], unsigned i)
{
	snprintf(buf, 17, "key-%012u", i);
	return (struct pkv_bytes){ (const uint8_t *)buf, 16 };
}

START_TEST(lookups_find_every_key_while_the_table_grows)
{
	/* The key table doubles a few chains at a time: between the inserts,
	 * keys live in the old table or the new one. Sample earlier keys after
	 * every insert (so lookups land on both halves mid-move), then all. */
	struct store *s = store_new();
	enum { N = 40000 };
	char k[17];
	static struct store_entry *made[N];
	for (unsigned i = 0; i < N; i++) {
		made[i] = store_lookup(s, b("B"), key16(k, i), true);
		ck_assert_ptr_nonnull(made[i]);
		/* A second bucket grows at its own pace. */
		if (i % 3 == 0)
			ck_assert_ptr_nonnull(store_lookup(s, b("C"), key16(k, i), true));
		unsigned probe[] = { i, i / 2, i - i / 3, (i * 7919u) % (i + 1), i / 17 };
		for (size_t j = 0; j < sizeof(probe) / sizeof(probe[0]); j++)
			ck_assert_ptr_eq(store_lookup(s, b("B"), key16(k, probe[j]), false),
					 made[probe[j]]);
		/* A key not in yet is not found, in either table. */
		ck_assert_ptr_null(store_lookup(s, b("B"), key16(k, i + 1), false));
	}
	/* Looking up an existing key never makes a second entry. */
	for (unsigned i = 0; i < N; i++)
		ck_assert_ptr_eq(store_lookup(s, b("B"), key16(k, i), true), made[i]);
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(store_lookup(s, b("C"), key16(k, i), false) != NULL, i % 3 == 0);
	ck_assert_uint_eq(store_bucket_nkeys(store_bucket(s, b("B"), false)), N);
	ck_assert_uint_eq(store_nentries(s), N + (N + 2) / 3);
	store_free(s);
}
END_TEST

START_TEST(cursors_span_index_chunks_in_creation_order)
{
	/* The creation-order arrays grow in chunks of thousands: every index,
	 * per bucket and store-wide, keeps its entry across chunk edges. */
	struct store *s = store_new();
	enum { N = 20000 };
	char k[17];
	for (unsigned i = 0; i < N; i++)
		ck_assert_ptr_nonnull(store_lookup(s, b(i % 4 ? "many" : "few"), key16(k, i), true));
	struct store_bucket *many = store_bucket(s, b("many"), false);
	struct store_bucket *few = store_bucket(s, b("few"), false);
	size_t im = 0, ifew = 0;
	for (unsigned i = 0; i < N; i++) {
		struct store_entry *e = store_entry_at(s, i);
		ck_assert(pkv_bytes_eq(e->key, key16(k, i)));
		if (i % 4)
			ck_assert_ptr_eq(store_bucket_entry_at(many, im++), e);
		else
			ck_assert_ptr_eq(store_bucket_entry_at(few, ifew++), e);
	}
	ck_assert_uint_eq(im, store_bucket_nkeys(many));
	ck_assert_ptr_null(store_bucket_entry_at(many, im));
	ck_assert_ptr_null(store_bucket_entry_at(few, ifew));
	ck_assert_ptr_null(store_entry_at(s, N));
	store_free(s);
}
END_TEST

START_TEST(entries_are_packed_back_to_back_with_their_keys)
{
	/* No per-entry malloc: the next entry starts right after the previous
	 * one's key, rounded to 8 bytes. */
	struct store *s = store_new();
	ck_assert_uint_le(sizeof(struct store_entry), 144);
	struct store_entry *e1 = store_lookup(s, b("B"), b("0123456789abcdef"), true);
	struct store_entry *e2 = store_lookup(s, b("B"), b("k"), true);
	struct store_entry *e3 = store_lookup(s, b("B"), b("k3"), true);
	ck_assert_ptr_eq((const uint8_t *)e1->key.p, (const uint8_t *)(e1 + 1));
	ck_assert_ptr_eq((uint8_t *)e2, (uint8_t *)e1 + sizeof(*e1) + 16);
	ck_assert_ptr_eq((uint8_t *)e3, (uint8_t *)e2 + sizeof(*e2) + 8);
	ck_assert(pkv_bytes_eq(e1->key, b("0123456789abcdef")));
	ck_assert(pkv_bytes_eq(e2->key, b("k")));
	store_free(s);
}
END_TEST

START_TEST(value_slab_reuses_freed_values)
{
	struct store *s = store_new();
	struct store_entry *e1 = store_lookup(s, b("B"), b("k1"), true);
	struct store_entry *e2 = store_lookup(s, b("B"), b("k2"), true);
	struct pkv_ballot bal = { 1, 1 };
	char v[40];
	memset(v, 'a', sizeof(v));
	ck_assert_int_eq(store_set_accepted(s, e1, bal, (struct pkv_bytes){ (uint8_t *)v, 32 }), 0);
	const uint8_t *p = e1->accepted_value.p;
	/* Values of a class sit 8-byte classes apart: a 32-byte value costs 32. */
	ck_assert_int_eq(store_set_accepted(s, e2, bal, (struct pkv_bytes){ (uint8_t *)v, 32 }), 0);
	ck_assert_ptr_eq(e2->accepted_value.p, p + 32);
	/* Erasure frees the value; the next one of its class takes its room. */
	ck_assert(store_erase(s, e1, e1->gen));
	ck_assert_int_eq(store_set_accepted(s, e1, bal, (struct pkv_bytes){ (uint8_t *)v, 40 }), 0);
	ck_assert_ptr_ne(e1->accepted_value.p, p); /* another class */
	memset(v, 'b', sizeof(v));
	ck_assert_int_eq(store_set_chosen(s, e2, bal, (struct pkv_bytes){ (uint8_t *)v, 25 }), 0);
	ck_assert_ptr_eq(e2->chosen_value.p, p); /* 25 bytes: the 32-byte class */
	ck_assert(pkv_bytes_eq(e2->chosen_value, (struct pkv_bytes){ (uint8_t *)v, 25 }));
	/* Replacing a value frees the old one too. */
	const uint8_t *old = e2->accepted_value.p;
	ck_assert_int_eq(store_set_accepted(s, e2, bal, (struct pkv_bytes){ (uint8_t *)v, 8 }), 0);
	ck_assert_int_eq(store_set_accepted(s, e1, bal, (struct pkv_bytes){ (uint8_t *)v, 31 }), 0);
	ck_assert_ptr_eq(e1->accepted_value.p, old);
	ck_assert(pkv_bytes_eq(e1->accepted_value, (struct pkv_bytes){ (uint8_t *)v, 31 }));
	ck_assert(pkv_bytes_eq(e2->accepted_value, (struct pkv_bytes){ (uint8_t *)v, 8 }));
	store_free(s);
}
END_TEST

START_TEST(values_of_every_size_keep_their_bytes)
{
	/* Slab classes up to 256 bytes and malloc'ed ones above, replaced,
	 * shared and erased in turn; ASan checks the frees. */
	struct store *s = store_new();
	static uint8_t v[PKV_MAX_VALUE];
	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i * 31 + 7);
	struct store_entry *e[300];
	char k[17];
	for (uint32_t n = 0; n < 300; n++) {
		e[n] = store_lookup(s, b("B"), key16(k, n), true);
		struct pkv_bytes val = { v + n, n };
		ck_assert_int_eq(store_set_accepted(s, e[n], (struct pkv_ballot){ 1, 1 }, val), 0);
		if (n % 2)
			ck_assert_int_eq(store_set_chosen(s, e[n], (struct pkv_ballot){ 1, 1 }, val), 0);
	}
	struct store_entry *big = store_lookup(s, b("B"), b("big"), true);
	struct pkv_bytes bigv = { v, PKV_MAX_VALUE };
	ck_assert_int_eq(store_set_chosen(s, big, (struct pkv_ballot){ 1, 1 }, bigv), 0);
	for (uint32_t n = 0; n < 300; n++) {
		ck_assert(pkv_bytes_eq(e[n]->accepted_value, (struct pkv_bytes){ v + n, n }));
		/* A new accepted value hands the shared buffer to the chosen slot. */
		if (n % 2) {
			ck_assert_int_eq(store_set_accepted(s, e[n], (struct pkv_ballot){ 2, 1 },
							    (struct pkv_bytes){ v, 300 - n }), 0);
			ck_assert(pkv_bytes_eq(e[n]->chosen_value, (struct pkv_bytes){ v + n, n }));
		}
	}
	ck_assert(pkv_bytes_eq(big->chosen_value, bigv));
	for (uint32_t n = 0; n < 300; n += 3)
		ck_assert(store_erase(s, e[n], e[n]->gen));
	/* What was not erased is intact: room freed by erasure is not theirs. */
	for (uint32_t n = 1; n < 300; n += 3) {
		struct pkv_bytes want = { v + n, n };
		ck_assert(pkv_bytes_eq(n % 2 ? e[n]->chosen_value : e[n]->accepted_value, want));
	}
	for (uint32_t n = 0; n < 300; n += 3)
		ck_assert_int_eq(store_set_accepted(s, e[n], (struct pkv_ballot){ 3, 1 },
						    (struct pkv_bytes){ v + 1, n }), 0);
	for (uint32_t n = 1; n < 300; n += 3) {
		struct pkv_bytes want = { v + n, n };
		ck_assert(pkv_bytes_eq(n % 2 ? e[n]->chosen_value : e[n]->accepted_value, want));
	}
	store_free(s);
}
END_TEST

START_TEST(erase_and_reput_keeps_counts)
{
	struct store *s = store_new();
	char k[17];
	struct pkv_ballot bal = { 1, 1 };
	struct pkv_bytes val = b("0123456789abcdef0123456789abcdef");
	enum { N = 1000 };
	for (unsigned i = 0; i < N; i++) {
		struct store_entry *e = store_lookup(s, b("B"), key16(k, i), true);
		ck_assert_int_eq(store_set_accepted(s, e, bal, val), 0);
		ck_assert_int_eq(store_set_chosen(s, e, bal, val), 0);
	}
	struct store_bucket *bk = store_bucket(s, b("B"), false);
	uint64_t bytes = store_bytes(s);
	ck_assert_uint_eq(bytes, N * (16 + 32 + 32));
	ck_assert_uint_eq(store_bucket_stats(bk)->chosen, N);
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < N; i++) {
			struct store_entry *e = store_lookup(s, b("B"), key16(k, i), false);
			ck_assert(store_erase(s, e, e->gen));
		}
		/* Tombstones stay: same keys, only the key bytes held. */
		ck_assert_uint_eq(store_bucket_nkeys(bk), N);
		ck_assert_uint_eq(store_bytes(s), N * 16);
		ck_assert_uint_eq(store_bucket_bytes(bk), N * 16);
		ck_assert_uint_eq(store_bucket_stats(bk)->chosen, 0);
		for (unsigned i = 0; i < N; i++) {
			struct store_entry *e = store_lookup(s, b("B"), key16(k, i), true);
			ck_assert_uint_eq(e->gen, (uint64_t)round + 2);
			ck_assert_int_eq(store_set_accepted(s, e, bal, val), 0);
			ck_assert_int_eq(store_set_chosen(s, e, bal, val), 0);
			ck_assert(pkv_bytes_eq(e->chosen_value, val));
		}
		ck_assert_uint_eq(store_nentries(s), N);
		ck_assert_uint_eq(store_bytes(s), bytes);
		ck_assert_uint_eq(store_bucket_stats(bk)->chosen, N);
	}
	store_free(s);
}
END_TEST

/*
 * Collection (docs/design.md §4.6): a tombstone's entry goes, the count
 * follows, a key that lives throughout keeps its cursor, the next entry of
 * the bucket takes the hole, and churning keys through the store reuses
 * the same memory and numbers instead of growing.
 */
START_TEST(collected_tombstones_leave_holes_the_bucket_fills_again)
{
	struct store *s = store_new();
	char k[32];
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_ptr_nonnull(store_lookup(s, b("B"), b(k), true));
	}
	struct store_bucket *bk = store_bucket(s, b("B"), false);
	struct store_entry *keep = store_lookup(s, b("B"), b("k50"), false);
	struct store_entry *e = store_lookup(s, b("B"), b("k10"), false);
	ck_assert_int_eq(store_set_accepted(s, e, (struct pkv_ballot){ 2, 1 }, b("v")), 0);
	ck_assert_int_eq(store_collect(s, e), -EBUSY); /* holds a value */
	ck_assert(store_erase(s, e, 1));
	ck_assert_int_eq(store_collect(s, e), 0);
	ck_assert_ptr_null(store_lookup(s, b("B"), b("k10"), false));
	ck_assert_uint_eq(store_nentries(s), 99);
	ck_assert_uint_eq(store_bucket_nkeys(bk), 99);
	ck_assert_uint_eq(store_nslots(s), 100);
	ck_assert_ptr_null(store_bucket_entry_at(bk, 10));
	ck_assert_ptr_null(store_entry_at(s, 10));
	ck_assert_ptr_eq(store_bucket_entry_at(bk, 50), keep);
	ck_assert_uint_eq(store_collected(s), 1);
	/* The next key of the bucket takes the hole and the room. */
	struct store_entry *n = store_lookup(s, b("B"), b("k77x"), true);
	ck_assert_ptr_eq(n, e);
	ck_assert_ptr_eq(store_bucket_entry_at(bk, 10), n);
	ck_assert_uint_eq(store_nslots(s), 100);
	ck_assert_uint_eq(store_nentries(s), 100);
	ck_assert_ptr_eq(store_lookup(s, b("B"), b("k50"), false), keep);

	/* Churn: 50,000 keys through a store that holds 100 at a time. */
	size_t slots = store_nslots(s);
	for (int i = 0; i < 50000; i++) {
		snprintf(k, sizeof(k), "churn-%d", i);
		struct store_entry *c = store_lookup(s, b("B"), b(k), true);
		ck_assert_ptr_nonnull(c);
		ck_assert(store_erase(s, c, c->gen));
		ck_assert_int_eq(store_collect(s, c), 0);
	}
	ck_assert_uint_eq(store_nentries(s), 100);
	ck_assert_uint_le(store_nslots(s), slots + 1);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		if (i != 10)
			ck_assert_ptr_nonnull(store_lookup(s, b("B"), b(k), false));
	}
	store_free(s);
}
END_TEST

START_TEST(keys_collected_mid_growth_leave_every_other_key_findable)
{
	/*
	 * Random puts and collections against a model, across several
	 * doublings of the key table: collections empty slots in the new table
	 * and in the old one mid-move (shifting back the rest of a cluster),
	 * so a key behind a gap must still be found and a collected one not.
	 */
	struct store *s = store_new();
	enum { N = 30000, OPS = 120000 };
	static struct store_entry *held[N];
	memset(held, 0, sizeof(held));
	char k[17];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t live = 0;
	for (unsigned op = 0; op < OPS; op++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned i = (unsigned)(x % N);
		/* Grows more than it shrinks: three puts to one collection. */
		bool collect = held[i] && x % 4 == 0;
		if (collect) {
			ck_assert(store_erase(s, held[i], held[i]->gen));
			ck_assert_int_eq(store_collect(s, held[i]), 0);
			held[i] = NULL;
			live--;
		} else if (!held[i]) {
			held[i] = store_lookup(s, b("B"), key16(k, i), true);
			ck_assert_ptr_nonnull(held[i]);
			live++;
		}
		/* Neighbours of i in key order, and a random other key. */
		unsigned probe[] = { i, (i + 1) % N, (i + N - 1) % N, (unsigned)((x >> 32) % N) };
		for (size_t j = 0; j < sizeof(probe) / sizeof(probe[0]); j++)
			ck_assert_ptr_eq(store_lookup(s, b("B"), key16(k, probe[j]), false),
					 held[probe[j]]);
	}
	for (unsigned i = 0; i < N; i++)
		ck_assert_ptr_eq(store_lookup(s, b("B"), key16(k, i), false), held[i]);
	ck_assert_uint_eq(store_bucket_nkeys(store_bucket(s, b("B"), false)), live);
	ck_assert_uint_eq(store_nentries(s), live);
	store_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	/* The growth tests make tens of thousands of keys: slow under sanitizers. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, any_bucket_name_works_from_first_use);
	tcase_add_test(tc, bucket_names_and_keys_out_of_limits_are_refused);
	tcase_add_test(tc, keys_with_nul_bytes_are_distinct);
	tcase_add_test(tc, values_are_copied_and_counted);
	tcase_add_test(tc, bucket_counts_chosen_and_bound_keys_through_erasure);
	tcase_add_test(tc, dirty_list_marks_durable_changes_once_and_learning_as_lazy);
	tcase_add_test(tc, chosen_value_shares_the_accepted_buffer_until_it_is_replaced);
	tcase_add_test(tc, cursors_are_stable_while_keys_are_added);
	tcase_add_test(tc, many_buckets_are_listed);
	tcase_add_test(tc, lookups_find_every_key_while_the_table_grows);
	tcase_add_test(tc, cursors_span_index_chunks_in_creation_order);
	tcase_add_test(tc, entries_are_packed_back_to_back_with_their_keys);
	tcase_add_test(tc, value_slab_reuses_freed_values);
	tcase_add_test(tc, values_of_every_size_keep_their_bytes);
	tcase_add_test(tc, erase_and_reput_keeps_counts);
	tcase_add_test(tc, collected_tombstones_leave_holes_the_bucket_fills_again);
	tcase_add_test(tc, keys_collected_mid_growth_leave_every_other_key_findable);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
