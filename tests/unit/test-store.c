// SPDX-License-Identifier: MIT
/* test-store.c — buckets, keys, cursors, counters. */
#include <check.h>
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

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_test(tc, any_bucket_name_works_from_first_use);
	tcase_add_test(tc, bucket_names_and_keys_out_of_limits_are_refused);
	tcase_add_test(tc, keys_with_nul_bytes_are_distinct);
	tcase_add_test(tc, values_are_copied_and_counted);
	tcase_add_test(tc, bucket_counts_chosen_and_bound_keys_through_erasure);
	tcase_add_test(tc, dirty_list_marks_durable_changes_once_and_learning_as_lazy);
	tcase_add_test(tc, chosen_value_shares_the_accepted_buffer_until_it_is_replaced);
	tcase_add_test(tc, cursors_are_stable_while_keys_are_added);
	tcase_add_test(tc, many_buckets_are_listed);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
