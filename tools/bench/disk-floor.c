// SPDX-License-Identifier: MIT
/*
 * disk-floor.c — the disk's floor for a durable put (--fdatasync-floor): 4 KiB
 * appended to a file and fdatasync'ed, again and again, on the filesystem
 * of the cluster's run dir (where the daemons keep their logs), so a
 * durable put's latency is read against what this disk can do at best in
 * the same run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "stats.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int floor_fdatasync(const char *dir, double seconds, struct floor_result *out)
{
	memset(out, 0, sizeof(*out));
	char path[4200];
	snprintf(path, sizeof(path), "%s/fdatasync-floor.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	static uint8_t block[4096];
	memset(block, 0xa5, sizeof(block));
	size_t cap = 100000, n = 0;
	uint64_t *v = malloc(cap * sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	int rc = 0;
	uint64_t end = mono_ns() + (uint64_t)(seconds * 1e9);
	off_t off = 0;
	while (n < cap && (n < 20 || mono_ns() < end)) {
		uint64_t t0 = mono_ns();
		if (pwrite(fd, block, sizeof(block), off) != (ssize_t)sizeof(block) ||
		    fdatasync(fd) != 0) {
			rc = -errno;
			break;
		}
		v[n++] = mono_ns() - t0;
		off += (off_t)sizeof(block);
	}
	close(fd);
	if (!rc && n) {
		qsort(v, n, sizeof(*v), cmp_u64);
		out->n = n;
		out->p50 = v[n / 2];
		out->p99 = v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
		snprintf(out->dir, sizeof(out->dir), "%s", dir);
	}
	free(v);
	return rc;
}
