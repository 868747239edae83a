// SPDX-License-Identifier: MIT
/*
 * pkv-read-after-put NODE COUNT — COUNT puts of new keys through NODE's ring,
 * each followed at once by a plain (cached) get of the same key. The daemon
 * fills its shared cache before it answers (docs/design.md §8), so every get
 * must be a cache hit with the put's generation or a later one: a miss means
 * the cache was older than the answer the client already had, and an older
 * generation means reads went backwards.
 * Prints "puts=N hits=N misses=N older=N" and exits 0 when hits == COUNT and
 * nothing went backwards; 1 when the cache lagged; 2 on other errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paxoskv.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pkv-read-after-put NODE COUNT\n");
		return 2;
	}
	unsigned count = (unsigned)strtoul(argv[2], NULL, 10);
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r) {
		fprintf(stderr, "pkv-read-after-put: open: %s (%s)\n", pkv_strerror(r), pkv_errmsg());
		return 2;
	}
	struct pkv_value put = PKV_VALUE_INIT, got = PKV_VALUE_INIT;
	unsigned hits = 0, misses = 0, older = 0;
	for (unsigned i = 0; i < count; i++) {
		char key[64], val[64];
		snprintf(key, sizeof(key), "rap-%d-%u", (int)getpid(), i);
		snprintf(val, sizeof(val), "v%u", i);
		r = pkv_put(c, key, strlen(key), val, strlen(val), NULL, &put);
		if (r) {
			fprintf(stderr, "pkv-read-after-put: put %s: %s (%s)\n", key, pkv_strerror(r),
				pkv_errmsg());
			return 2;
		}
		struct pkv_stats s0, s1;
		pkv_stats(c, &s0);
		r = pkv_get(c, key, strlen(key), NULL, &got);
		pkv_stats(c, &s1);
		if (r || got.len != put.len || memcmp(got.data, put.data, put.len)) {
			fprintf(stderr, "pkv-read-after-put: get %s after its put: %s\n", key,
				r ? pkv_strerror(r) : "another value");
			return 2;
		}
		if (got.gen < put.gen)
			older++;
		if (s1.cache_hits > s0.cache_hits)
			hits++;
		else
			misses++;
	}
	printf("puts=%u hits=%u misses=%u older=%u\n", count, hits, misses, older);
	pkv_value_free(&put);
	pkv_value_free(&got);
	pkv_close(c);
	return hits == count && older == 0 ? 0 : 1;
}
