// SPDX-License-Identifier: MIT
/* pkv-bench statistics (stats.h). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

bool stats_err_add(struct err_slot *slots, size_t n, int code, uint64_t count)
{
	for (size_t i = 0; i < n; i++) {
		if (slots[i].count && slots[i].code == code) {
			slots[i].count += count;
			return true;
		}
		if (!slots[i].count) {
			slots[i].code = code;
			slots[i].count = count;
			return true;
		}
	}
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void stats_sort(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t stats_count_le(const uint64_t *s, uint64_t n, uint64_t v)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (s[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t stats_quantile(const struct sample_set *sets, unsigned nsets, uint64_t max, double q)
{
	double total = 0;
	for (unsigned i = 0; i < nsets; i++)
		total += (double)sets[i].n * sets[i].weight;
	if (total <= 0)
		return 0;
	double want = q * total;
	uint64_t lo = 0, hi = max;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		double have = 0;
		for (unsigned i = 0; i < nsets; i++)
			have += (double)stats_count_le(sets[i].samples, sets[i].n, mid) *
				sets[i].weight;
		if (have >= want * (1 - 1e-12))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void stats_p50_p99(uint64_t *v, uint64_t n, uint64_t *p50, uint64_t *p99)
{
	stats_sort(v, n);
	struct sample_set s = {.samples = v, .n = n, .weight = 1};
	*p50 = stats_quantile(&s, 1, v[n - 1], 0.50);
	*p99 = stats_quantile(&s, 1, v[n - 1], 0.99);
}

bool stats_near(uint64_t a, uint64_t b, uint64_t at, uint64_t window)
{
	return b + window >= at && a <= at + window;
}

uint64_t stats_gap_near(const uint64_t *t, size_t n, uint64_t at, uint64_t window,
			int64_t *from)
{
	uint64_t lo = at > window ? at - window : 0;
	uint64_t hi = at + window, best = 0;

	for (size_t i = 1; i < n; i++) {
		if (t[i] < lo || t[i - 1] > hi)
			continue;
		if (t[i] - t[i - 1] > best) {
			best = t[i] - t[i - 1];
			*from = (int64_t)t[i - 1] - (int64_t)at;
		}
	}
	return best;
}

uint64_t stats_steady_gap(const uint64_t *t, size_t n, uint64_t kill, uint64_t restart,
			  uint64_t window)
{
	uint64_t best = 0;
	for (size_t i = 1; i < n; i++) {
		if (stats_near(t[i - 1], t[i], kill, window) ||
		    (restart && stats_near(t[i - 1], t[i], restart, window)))
			continue;
		if (t[i] - t[i - 1] > best)
			best = t[i] - t[i - 1];
	}
	return best;
}

void stats_top_gaps(const uint64_t *t, size_t n, uint64_t origin, uint64_t *top,
		    int64_t *from, unsigned k)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t g = t[i] - t[i - 1];
		unsigned j = k;
		while (j > 0 && g > top[j - 1])
			j--;
		if (j == k)
			continue;
		memmove(&top[j + 1], &top[j], (k - 1 - j) * sizeof(top[0]));
		memmove(&from[j + 1], &from[j], (k - 1 - j) * sizeof(from[0]));
		top[j] = g;
		from[j] = (int64_t)t[i - 1] - (int64_t)origin;
	}
}

double stats_ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

bool stats_per_key(uint64_t before, uint64_t after, uint64_t keys_before, uint64_t keys_after,
		   double *out)
{
	if (keys_after <= keys_before)
		return false;
	*out = ((double)after - (double)before) / (double)(keys_after - keys_before);
	return true;
}
