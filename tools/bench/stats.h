// SPDX-License-Identifier: MIT
/*
 * pkv-bench statistics: percentiles over per-client sample sets, the pauses
 * of a merged completion timeline (kill-gap), status code counts, ratios.
 * Pure functions of their arguments (tests/unit/test-bench-stats.c).
 */
#ifndef PKV_BENCH_STATS_H
#define PKV_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One distinct status code and how many ops ended with it. */
struct err_slot {
	int code;
	uint64_t count;
};

/*
 * Adds `count` to the slot of `code` in slots[0..n) (slots in use first, a
 * zero count marks the first free one); false when the code has no slot and
 * none is free (the caller counts it as other).
 */
bool stats_err_add(struct err_slot *slots, size_t n, int code, uint64_t count);

/* Sorts n values in ascending order. */
void stats_sort(uint64_t *v, size_t n);

/* Number of the sorted samples s[0..n) that are <= v. */
uint64_t stats_count_le(const uint64_t *s, uint64_t n, uint64_t v);

/* One client's samples for the merged percentiles. */
struct sample_set {
	const uint64_t *samples; /* sorted */
	uint64_t n;
	double weight; /* ops this client ran per sample kept */
};

/*
 * The q-quantile across clients (nearest rank, weighted): the smallest
 * latency v in [0, max] such that the weighted share of samples <= v
 * reaches q. Each client's samples weigh ops/samples, so a client whose
 * reservoir overflowed counts for all its ops. 0 without samples; `max`
 * must be at least the largest sample.
 */
uint64_t stats_quantile(const struct sample_set *sets, unsigned nsets, uint64_t max, double q);

/* Sorts n > 0 samples and takes their p50 and p99 as stats_quantile does
 * (the floors' percentiles, like the phases'). */
void stats_p50_p99(uint64_t *v, uint64_t n, uint64_t *p50, uint64_t *p99);

/* Whether the interval [a, b] overlaps the window [at - window, at + window]. */
bool stats_near(uint64_t a, uint64_t b, uint64_t at, uint64_t window);

/*
 * The longest interval between consecutive points of the sorted timeline
 * t[0..n) that overlaps [at - window, at + window]; *from is where it
 * begins, relative to `at` (left alone when there is none: the result is 0).
 */
uint64_t stats_gap_near(const uint64_t *t, size_t n, uint64_t at, uint64_t window,
			int64_t *from);

/*
 * The longest interval of the sorted timeline away from the events: not
 * overlapping the window around `kill`, nor around `restart` unless it is 0.
 */
uint64_t stats_steady_gap(const uint64_t *t, size_t n, uint64_t kill, uint64_t restart,
			  uint64_t window);

/*
 * The k longest intervals of the sorted timeline, longest first, into
 * top[0..k) (zeroed by the caller; an interval must be longer than the
 * k-th so far to enter, so of equal ones the earliest stays first), and
 * where each begins relative to `origin` into from[0..k).
 */
void stats_top_gaps(const uint64_t *t, size_t n, uint64_t origin, uint64_t *top,
		    int64_t *from, unsigned k);

/* a / b, or 0 when b is not positive. */
double stats_ratio(double a, double b);

/*
 * Growth per key added: (after - before) / (keys_after - keys_before) into
 * *out; false when no key was added.
 */
bool stats_per_key(uint64_t before, uint64_t after, uint64_t keys_before, uint64_t keys_after,
		   double *out);

#endif
