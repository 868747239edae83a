// SPDX-License-Identifier: MIT
/*
 * Unit tests for pkv-bench's statistics (tools/bench/stats.c): the merged
 * percentiles (nearest rank, weighted per client), the pauses of the
 * kill-gap timeline, status code counts, ratios and bytes per key. Every
 * expected value is worked out by hand in the comment next to it.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "stats.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct sample_set one_set(const uint64_t *s, uint64_t n, double weight)
{
	return (struct sample_set){.samples = s, .n = n, .weight = weight};
}

/* --- percentiles -------------------------------------------------------- */

START_TEST(count_le_counts_sorted_samples_up_to_v)
{
	static const uint64_t s[] = {1, 2, 2, 5};
	ck_assert_uint_eq(stats_count_le(s, 4, 0), 0);
	ck_assert_uint_eq(stats_count_le(s, 4, 1), 1);
	ck_assert_uint_eq(stats_count_le(s, 4, 2), 3);
	ck_assert_uint_eq(stats_count_le(s, 4, 4), 3);
	ck_assert_uint_eq(stats_count_le(s, 4, 5), 4);
	ck_assert_uint_eq(stats_count_le(s, 4, 100), 4);
	ck_assert_uint_eq(stats_count_le(s, 0, 100), 0);
}
END_TEST

START_TEST(sort_orders_ascending)
{
	uint64_t v[] = {30, 5, UINT64_MAX, 0, 5, 17};
	static const uint64_t want[] = {0, 5, 5, 17, 30, UINT64_MAX};
	stats_sort(v, ARRAY_LEN(v));
	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		ck_assert_uint_eq(v[i], want[i]);
}
END_TEST

START_TEST(quantile_without_samples_is_zero)
{
	static const uint64_t s[] = {42};
	struct sample_set empty = one_set(s, 0, 1.0);
	ck_assert_uint_eq(stats_quantile(NULL, 0, 0, 0.5), 0);
	ck_assert_uint_eq(stats_quantile(&empty, 1, 42, 0.5), 0);
	ck_assert_uint_eq(stats_quantile(&empty, 1, 42, 0.999), 0);
}
END_TEST

START_TEST(quantile_of_one_sample_is_that_sample)
{
	static const uint64_t s[] = {7};
	struct sample_set set = one_set(s, 1, 1.0);
	ck_assert_uint_eq(stats_quantile(&set, 1, 7, 0.50), 7);
	ck_assert_uint_eq(stats_quantile(&set, 1, 7, 0.99), 7);
	ck_assert_uint_eq(stats_quantile(&set, 1, 7, 0.999), 7);
	ck_assert_uint_eq(stats_quantile(&set, 1, 7, 1.0), 7);
	/* max above the sample: still the smallest v with the share reached */
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 0.5), 7);
}
END_TEST

START_TEST(quantile_takes_exact_ranks_of_1_to_1000)
{
	/* 1000 samples 1..1000: the q-quantile is sample number q * 1000. */
	uint64_t *s = malloc(1000 * sizeof(*s));
	ck_assert_ptr_nonnull(s);
	for (uint64_t i = 0; i < 1000; i++)
		s[i] = i + 1;
	struct sample_set set = one_set(s, 1000, 1.0);
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 0.50), 500);
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 0.90), 900);
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 0.99), 990);
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 0.999), 999);
	ck_assert_uint_eq(stats_quantile(&set, 1, 1000, 1.0), 1000);
	free(s);
}
END_TEST

START_TEST(quantile_is_nearest_rank_not_interpolated)
{
	static const uint64_t s[] = {10, 20, 30, 40};
	struct sample_set set = one_set(s, 4, 1.0);
	/* want 2 of 4: the 2nd sample, 20 (interpolation would give 25) */
	ck_assert_uint_eq(stats_quantile(&set, 1, 40, 0.50), 20);
	/* want 3: 30 */
	ck_assert_uint_eq(stats_quantile(&set, 1, 40, 0.75), 30);
	/* want 3.6: the 4th sample */
	ck_assert_uint_eq(stats_quantile(&set, 1, 40, 0.90), 40);
	/* want 0.4: the 1st */
	ck_assert_uint_eq(stats_quantile(&set, 1, 40, 0.10), 10);
}
END_TEST

/* The floors' p50 and p99: sorted in place, nearest rank like the phases'. */
START_TEST(p50_p99_sorts_and_takes_nearest_ranks)
{
	uint64_t odd[] = {50, 10, 40, 20, 30};
	uint64_t p50, p99;
	stats_p50_p99(odd, 5, &p50, &p99);
	ck_assert_uint_eq(odd[0], 10);
	ck_assert_uint_eq(odd[4], 50);
	ck_assert_uint_eq(p50, 30);
	ck_assert_uint_eq(p99, 50);
	uint64_t even[] = {4, 3, 2, 1};
	stats_p50_p99(even, 4, &p50, &p99);
	ck_assert_uint_eq(p50, 2);
	ck_assert_uint_eq(p99, 4);
}
END_TEST

START_TEST(quantile_counts_duplicates)
{
	static const uint64_t s[] = {3, 3, 3, 9};
	struct sample_set set = one_set(s, 4, 1.0);
	ck_assert_uint_eq(stats_quantile(&set, 1, 9, 0.50), 3);
	ck_assert_uint_eq(stats_quantile(&set, 1, 9, 0.75), 3);
	/* want 3.96 > 3 */
	ck_assert_uint_eq(stats_quantile(&set, 1, 9, 0.99), 9);
}
END_TEST

START_TEST(quantile_merges_clients)
{
	static const uint64_t a[] = {1, 3, 5}, b[] = {2, 4, 6};
	struct sample_set sets[] = {one_set(a, 3, 1.0), one_set(b, 3, 1.0)};
	/* merged 1..6: want 3 -> 3, want 5.4 -> 6 */
	ck_assert_uint_eq(stats_quantile(sets, 2, 6, 0.50), 3);
	ck_assert_uint_eq(stats_quantile(sets, 2, 6, 0.90), 6);
	/* want 1.2 -> 2 */
	ck_assert_uint_eq(stats_quantile(sets, 2, 6, 0.20), 2);
}
END_TEST

START_TEST(quantile_weighs_an_overflowed_reservoir)
{
	/*
	 * Client a kept both its 2 ops (weight 1); client b ran 3 ops and kept
	 * one sample (weight 3). Total 5: samples <= 1 weigh 1, <= 2 weigh 2,
	 * <= 100 weigh 5.
	 */
	static const uint64_t a[] = {1, 2}, b[] = {100};
	struct sample_set sets[] = {one_set(a, 2, 1.0), one_set(b, 1, 3.0)};
	ck_assert_uint_eq(stats_quantile(sets, 2, 100, 0.20), 1);  /* want 1 */
	ck_assert_uint_eq(stats_quantile(sets, 2, 100, 0.40), 2);  /* want 2 */
	ck_assert_uint_eq(stats_quantile(sets, 2, 100, 0.50), 100); /* want 2.5 */
	/* unweighted, the median of {1, 2, 100} would be 2 */
	sets[1].weight = 1.0;
	ck_assert_uint_eq(stats_quantile(sets, 2, 100, 0.50), 2);
}
END_TEST

START_TEST(quantile_tolerates_rounding_of_the_weights)
{
	/*
	 * Samples 1..10 standing for 12 ops (weight 1.2): p90 is rank 9. In
	 * doubles 9 * 1.2 = 10.799999999999999 falls short of 0.9 * 12 =
	 * 10.800000000000001; the relative tolerance keeps rank 9, not 10.
	 */
	static const uint64_t s[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	struct sample_set set = one_set(s, 10, 12.0 / 10.0);
	ck_assert_uint_eq(stats_quantile(&set, 1, 10, 0.90), 9);
	ck_assert_uint_eq(stats_quantile(&set, 1, 10, 0.50), 5);
}
END_TEST

/* --- kill-gap: pauses of the merged timeline ---------------------------- */

START_TEST(near_is_overlap_with_the_window)
{
	/* window around 15 of half-width 5: [10, 20] */
	ck_assert(stats_near(0, 10, 15, 5));
	ck_assert(!stats_near(0, 9, 15, 5));
	ck_assert(stats_near(20, 30, 15, 5));
	ck_assert(!stats_near(21, 30, 15, 5));
	ck_assert(stats_near(0, 100, 15, 5)); /* spans it */
	ck_assert(stats_near(14, 16, 15, 0)); /* zero window: contains `at` */
}
END_TEST

START_TEST(gap_near_takes_the_longest_overlapping_interval)
{
	/* intervals: [0,10] 10, [10,20] 10, [20,50] 30, [50,55] 5, [55,100] 45 */
	static const uint64_t t[] = {0, 10, 20, 50, 55, 100};
	int64_t from = 12345;
	/* [47, 57]: [20,50], [50,55], [55,100] overlap; the longest is 45 at 55 */
	ck_assert_uint_eq(stats_gap_near(t, 6, 52, 5, &from), 45);
	ck_assert_int_eq(from, 55 - 52);
	/* [14, 16]: only [10,20], which began 5 before */
	ck_assert_uint_eq(stats_gap_near(t, 6, 15, 1, &from), 10);
	ck_assert_int_eq(from, -5);
	/* [55, 65]: [50,55] touches it (5), [55,100] (45) */
	ck_assert_uint_eq(stats_gap_near(t, 6, 60, 5, &from), 45);
	ck_assert_int_eq(from, -5);
}
END_TEST

START_TEST(gap_near_clamps_the_window_at_zero)
{
	static const uint64_t t[] = {0, 10, 20, 50};
	int64_t from = 12345;
	/* [0, 13] (not wrapped): [0,10] 10 and [10,20] 10; the first stays */
	ck_assert_uint_eq(stats_gap_near(t, 4, 3, 10, &from), 10);
	ck_assert_int_eq(from, -3);
}
END_TEST

START_TEST(gap_near_counts_intervals_touching_the_window)
{
	static const uint64_t ends[] = {0, 40, 45}, begins[] = {10, 50, 100};
	int64_t from = 12345;
	/* window [40, 50]: [0,40] ends on its first point */
	ck_assert_uint_eq(stats_gap_near(ends, 3, 45, 5, &from), 40);
	ck_assert_int_eq(from, -45);
	/* window [40, 50]: [50,100] begins on its last point */
	ck_assert_uint_eq(stats_gap_near(begins, 3, 45, 5, &from), 50);
	ck_assert_int_eq(from, 5);
}
END_TEST

START_TEST(gap_near_without_an_interval_there_is_zero)
{
	static const uint64_t t[] = {0, 10, 20};
	int64_t from = 12345;
	ck_assert_uint_eq(stats_gap_near(t, 3, 1000, 10, &from), 0);
	ck_assert_int_eq(from, 12345);
	ck_assert_uint_eq(stats_gap_near(t, 1, 0, 10, &from), 0);
	ck_assert_int_eq(from, 12345);
}
END_TEST

START_TEST(steady_gap_skips_the_windows_of_kill_and_restart)
{
	/* [0,30] 30, [30,35] 5, [35,60] 25, [60,62] 2; kill at 61, window 1 */
	static const uint64_t t[] = {0, 30, 35, 60, 62};
	/* [35,60] and [60,62] are near the kill: the longest left is [0,30] */
	ck_assert_uint_eq(stats_steady_gap(t, 5, 61, 0, 1), 30);
	/* a restart at 2 (window [1,3]) takes [0,30] out too: [30,35] */
	ck_assert_uint_eq(stats_steady_gap(t, 5, 61, 2, 1), 5);
	/* restart 0 means none, not a restart at time 0 */
	ck_assert_uint_eq(stats_steady_gap(t, 5, 61, 0, 1), 30);
	/* a window that covers everything leaves nothing */
	ck_assert_uint_eq(stats_steady_gap(t, 5, 31, 0, 100), 0);
}
END_TEST

START_TEST(top_gaps_are_longest_first_with_offsets)
{
	/* gaps 5 (at 0), 1 (at 5), 10 (at 6), 1 (at 16), 3 (at 17) */
	static const uint64_t t[] = {0, 5, 6, 16, 17, 20};
	uint64_t top[3] = {0};
	int64_t from[3] = {0};
	stats_top_gaps(t, 6, 6, top, from, 3);
	ck_assert_uint_eq(top[0], 10);
	ck_assert_int_eq(from[0], 0); /* at 6, the origin */
	ck_assert_uint_eq(top[1], 5);
	ck_assert_int_eq(from[1], -6);
	ck_assert_uint_eq(top[2], 3);
	ck_assert_int_eq(from[2], 11);
}
END_TEST

START_TEST(top_gaps_keep_the_earliest_of_equal_ones)
{
	static const uint64_t t[] = {0, 4, 8, 12};
	uint64_t top[2] = {0};
	int64_t from[2] = {0};
	stats_top_gaps(t, 4, 0, top, from, 2);
	ck_assert_uint_eq(top[0], 4);
	ck_assert_int_eq(from[0], 0);
	ck_assert_uint_eq(top[1], 4);
	ck_assert_int_eq(from[1], 4);
}
END_TEST

START_TEST(top_gaps_leave_zero_for_missing_and_empty_pauses)
{
	static const uint64_t same[] = {5, 5, 5}, two[] = {0, 7};
	uint64_t top[3] = {0};
	int64_t from[3] = {0};
	stats_top_gaps(same, 3, 0, top, from, 3);
	ck_assert_uint_eq(top[0], 0);
	stats_top_gaps(two, 2, 10, top, from, 3);
	ck_assert_uint_eq(top[0], 7);
	ck_assert_int_eq(from[0], -10);
	ck_assert_uint_eq(top[1], 0);
	ck_assert_uint_eq(top[2], 0);
}
END_TEST

/* --- counts, ratios, bytes per key --------------------------------------- */

START_TEST(err_add_counts_each_code_in_its_slot)
{
	struct err_slot slots[3] = {{0}};
	ck_assert(stats_err_add(slots, 3, 5, 1));
	ck_assert(stats_err_add(slots, 3, 7, 1));
	ck_assert(stats_err_add(slots, 3, 5, 2));
	ck_assert(stats_err_add(slots, 3, 9, 4));
	/* full: an unknown code has no slot, a known one still counts */
	ck_assert(!stats_err_add(slots, 3, 11, 1));
	ck_assert(stats_err_add(slots, 3, 7, 1));
	ck_assert_int_eq(slots[0].code, 5);
	ck_assert_uint_eq(slots[0].count, 3);
	ck_assert_int_eq(slots[1].code, 7);
	ck_assert_uint_eq(slots[1].count, 2);
	ck_assert_int_eq(slots[2].code, 9);
	ck_assert_uint_eq(slots[2].count, 4);
}
END_TEST

START_TEST(ratio_is_zero_without_a_positive_base)
{
	ck_assert_double_eq(stats_ratio(10, 4), 2.5);
	ck_assert_double_eq(stats_ratio(0, 5), 0);
	ck_assert_double_eq(stats_ratio(1, 0), 0);
	ck_assert_double_eq(stats_ratio(1, -1), 0);
}
END_TEST

START_TEST(per_key_is_growth_over_keys_added)
{
	double pk = -1;
	ck_assert(stats_per_key(1000, 3000, 10, 20, &pk));
	ck_assert_double_eq(pk, 200.0);
	/* memory that shrank: negative */
	ck_assert(stats_per_key(3000, 1000, 0, 4, &pk));
	ck_assert_double_eq(pk, -500.0);
	/* no key added (or fewer keys): nothing to say, *out untouched */
	pk = -1;
	ck_assert(!stats_per_key(1000, 3000, 20, 20, &pk));
	ck_assert(!stats_per_key(1000, 3000, 20, 10, &pk));
	ck_assert_double_eq(pk, -1);
}
END_TEST

static Suite *bench_stats_suite(void)
{
	Suite *s = suite_create("bench-stats");
	TCase *tc = tcase_create("percentiles");
	tcase_add_test(tc, count_le_counts_sorted_samples_up_to_v);
	tcase_add_test(tc, sort_orders_ascending);
	tcase_add_test(tc, quantile_without_samples_is_zero);
	tcase_add_test(tc, quantile_of_one_sample_is_that_sample);
	tcase_add_test(tc, quantile_takes_exact_ranks_of_1_to_1000);
	tcase_add_test(tc, quantile_is_nearest_rank_not_interpolated);
	tcase_add_test(tc, quantile_counts_duplicates);
	tcase_add_test(tc, p50_p99_sorts_and_takes_nearest_ranks);
	tcase_add_test(tc, quantile_merges_clients);
	tcase_add_test(tc, quantile_weighs_an_overflowed_reservoir);
	tcase_add_test(tc, quantile_tolerates_rounding_of_the_weights);
	suite_add_tcase(s, tc);

	tc = tcase_create("kill-gap");
	tcase_add_test(tc, near_is_overlap_with_the_window);
	tcase_add_test(tc, gap_near_takes_the_longest_overlapping_interval);
	tcase_add_test(tc, gap_near_clamps_the_window_at_zero);
	tcase_add_test(tc, gap_near_counts_intervals_touching_the_window);
	tcase_add_test(tc, gap_near_without_an_interval_there_is_zero);
	tcase_add_test(tc, steady_gap_skips_the_windows_of_kill_and_restart);
	tcase_add_test(tc, top_gaps_are_longest_first_with_offsets);
	tcase_add_test(tc, top_gaps_keep_the_earliest_of_equal_ones);
	tcase_add_test(tc, top_gaps_leave_zero_for_missing_and_empty_pauses);
	suite_add_tcase(s, tc);

	tc = tcase_create("counts");
	tcase_add_test(tc, err_add_counts_each_code_in_its_slot);
	tcase_add_test(tc, ratio_is_zero_without_a_positive_base);
	tcase_add_test(tc, per_key_is_growth_over_keys_added);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bench_stats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
