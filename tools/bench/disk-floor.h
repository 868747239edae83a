// SPDX-License-Identifier: MIT
/*
 * pkv-bench --fdatasync-floor (disk-floor.c): the disk's floors for a
 * durable put, one writer and W writers in lockstep. Needs only libc and
 * threads (tests/integration/test-bench-floor.sh runs it through pkv-bench).
 */
#ifndef PKV_BENCH_DISK_FLOOR_H
#define PKV_BENCH_DISK_FLOOR_H

#include <stdint.h>

#define FLOOR_WRITERS_MAX 64
#define FLOOR_ROUNDS_MAX 100000 /* of each floor */

/* Latencies in ns. */
struct floor_result {
	/* One writer: 4 KiB appended to a file, then fdatasync. */
	uint64_t n, p50, p99;
	/*
	 * The co-located floor: `writers` threads, each with its own file in
	 * the same dir, doing the same from a common start; a round lasts
	 * until the last one's fdatasync returns. co_n rounds.
	 */
	unsigned writers;
	uint64_t co_n, co_p50, co_p99;
	char dir[4096];
};

/*
 * Both floors in dir, in alternating rounds for `seconds` (at least 20
 * rounds of each, at most FLOOR_ROUNDS_MAX). 0 and *out filled, or -errno
 * (-EINVAL: writers outside 1..FLOOR_WRITERS_MAX) and *out zeroed. The
 * files are gone and the threads joined when it returns, on every path.
 */
int floor_fdatasync(const char *dir, double seconds, unsigned writers, struct floor_result *out);

#endif
