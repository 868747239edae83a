// SPDX-License-Identifier: MIT
/*
 * pkv-bench: the floor of a cached read (get-hit). A compact table of the
 * same keys in shared memory — an open-addressed array of (hash, value
 * offset, length) in a MAP_SHARED memfd, at most half full, and the values
 * packed after it — looked up with the cache's own hash (pkv_shm_hash) and
 * nothing else: no bucket or key compare, no sequence word, no liveness or
 * lease check. What a read costs above this is what the library adds to
 * the memory the lookup must touch (tools/bench.md, "get-hit and its floor").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "pkv-shm.h"

struct bench_floor bench_floor;

int floor_create(struct bench_floor *t, uint64_t keys, size_t value_size)
{
	uint64_t slots = 2;
	while (slots < 2 * keys)
		slots <<= 1;
	size_t table = (size_t)slots * sizeof(struct floor_slot);
	size_t size = table + (size_t)keys * value_size;
	int fd = memfd_create("pkv-bench-floor", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED)
		return -e;
	t->slots = m;
	t->heap = (uint8_t *)m + table;
	t->mask = slots - 1;
	t->size = size;
	t->used = 0;
	t->keys = keys;
	return 0;
}

void floor_insert(struct bench_floor *t, const void *bucket, size_t blen, const void *key,
		  size_t klen, const void *value, size_t vlen)
{
	uint64_t h = pkv_shm_hash(bucket, blen, key, klen);
	uint64_t i = h & t->mask;
	while (t->slots[i].hash && t->slots[i].hash != h)
		i = (i + 1) & t->mask;
	if (t->slots[i].hash == h)
		return; /* a 64-bit collision: the bare lookup takes the first */
	memcpy(t->heap + t->used, value, vlen);
	t->slots[i].off = (uint32_t)t->used;
	t->slots[i].len = (uint32_t)vlen;
	t->slots[i].hash = h;
	t->used += vlen;
}

size_t floor_lookup(const struct bench_floor *t, const void *bucket, size_t blen,
		    const void *key, size_t klen, void *out)
{
	uint64_t h = pkv_shm_hash(bucket, blen, key, klen);
	for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct floor_slot *s = &t->slots[i];
		if (s->hash == h) {
			memcpy(out, t->heap + s->off, s->len);
			return s->len;
		}
		if (!s->hash)
			return 0;
	}
}

void floor_free(struct bench_floor *t)
{
	if (t->slots)
		munmap(t->slots, t->size);
	memset(t, 0, sizeof(*t));
}
