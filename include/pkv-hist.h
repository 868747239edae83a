/* SPDX-License-Identifier: MIT */
/*
 * pkv-hist.h — latency histograms with log2 buckets, shared by the daemon
 * (which counts) and the tools (which print percentiles and OpenMetrics).
 * Not installed.
 *
 * Bucket 0 counts values (µs) below 2; bucket i > 0 counts [2^i, 2^(i+1)).
 * The upper bound of bucket i is 2^(i+1) µs; the last bucket also takes
 * everything above (about 36 minutes and up). Adding is a few instructions
 * and no allocation, so it can sit on every request's path.
 */
#ifndef PKV_HIST_H
#define PKV_HIST_H

#include <stdint.h>

#define PKV_HIST_BUCKETS 32u

struct pkv_hist {
	uint64_t count;
	uint64_t sum_us;
	uint64_t b[PKV_HIST_BUCKETS];
};

static inline unsigned pkv_hist_bucket(uint64_t us)
{
	if (us < 2)
		return 0;
	unsigned i = 63u - (unsigned)__builtin_clzll(us);
	return i < PKV_HIST_BUCKETS ? i : PKV_HIST_BUCKETS - 1u;
}

/* The bucket's upper bound in µs (its `le` in OpenMetrics). */
static inline uint64_t pkv_hist_upper_us(unsigned i)
{
	return UINT64_C(2) << i;
}

static inline void pkv_hist_add(struct pkv_hist *h, uint64_t us)
{
	h->count++;
	h->sum_us += us;
	h->b[pkv_hist_bucket(us)]++;
}

/*
 * The q-quantile (0 < q <= 1) in µs, interpolated linearly inside its
 * bucket: exact to within the bucket's width (a factor of 2). 0 when empty.
 */
static inline uint64_t pkv_hist_quantile_us(const struct pkv_hist *h, double q)
{
	if (!h->count)
		return 0;
	double rank = q * (double)h->count;
	uint64_t cum = 0;
	for (unsigned i = 0; i < PKV_HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		if ((double)(cum + h->b[i]) >= rank) {
			double lo = i ? (double)(UINT64_C(1) << i) : 0.0;
			double hi = (double)pkv_hist_upper_us(i);
			double f = (rank - (double)cum) / (double)h->b[i];
			if (f < 0)
				f = 0;
			return (uint64_t)(lo + (hi - lo) * f + 0.5);
		}
		cum += h->b[i];
	}
	return pkv_hist_upper_us(PKV_HIST_BUCKETS - 1u);
}

#endif
