// SPDX-License-Identifier: MIT
/*
 * cache.c — reading the learner cache in place. The reader side of the
 * stripe seqlock (include/pkv-shm.h): no lock, no syscall, no store to
 * shared memory; a bounded number of attempts, so a writer that is slow or
 * dead costs a trip through the ring, never a wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int client_value_reserve(struct pkv_value *v, size_t len)
{
	if (v->data && v->cap > len)
		return 0;
	size_t cap = len + 1 < 64 ? 64 : len + 1;
	void *p = realloc(v->data, cap);
	if (!p)
		return -ENOMEM;
	v->data = p;
	v->cap = cap;
	return 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int cache_lookup(const struct pkv_shm_layout *m, const struct pkv_shm_cache_geom *g,
		 const void *bucket, size_t bucket_len, const void *key, size_t key_len,
		 uint64_t now_ms, struct pkv_value *out)
{
	if (bucket_len == 0 || bucket_len > PKV_BUCKET_MAX || key_len > PKV_KEY_MAX)
		return CACHE_MISS;
	uint64_t h = pkv_shm_hash(bucket, bucket_len, key, key_len);
	const struct pkv_shm_stripe *st = pkv_shm_stripe_at(m, g, pkv_shm_stripe_of(h, g->stripes));
	const uint8_t *heap = pkv_shm_stripe_heap(st);
	const uint32_t heap_size = g->heap;
	const unsigned home = pkv_shm_home_of(h);
	/*
	 * The entry at the home slot is where a hit usually is: ask for its
	 * two lines now, so that their misses overlap those on seq and hash.
	 */
	__builtin_prefetch(&st->ent[home]);
	__builtin_prefetch((const uint8_t *)&st->ent[home] + PKV_SHM_LINE);
	for (unsigned attempt = 0; attempt < PKV_SHM_READ_RETRIES; attempt++) {
		uint32_t s1 = pkv_shm_load_acq(&st->seq);
		if (s1 & 1u) {
			cpu_relax();
			continue;
		}
		bool found = false;
		uint32_t vlen = 0;
		uint64_t gen = 0, until = 0;
		/* From the home slot on, wrapping: the order the writer fills slots in. */
		for (unsigned k = 0; k < PKV_SHM_STRIPE_ENTRIES; k++) {
			unsigned i = (home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u);
			if (pkv_shm_load_rlx(&st->hash[i]) != h)
				continue;
			const struct pkv_shm_entry *e = &st->ent[i];
			uint32_t off = pkv_shm_load_rlx(&e->off);
			uint32_t vl = pkv_shm_load_rlx(&e->value_len);
			uint32_t kl = pkv_shm_load_rlx(&e->key_len);
			uint32_t bl = pkv_shm_load_rlx(&e->bucket_len);
			if (bl != bucket_len || kl != key_len)
				continue;
			/* A torn entry must not send the copy out of the entry or the heap. */
			uint64_t total = (uint64_t)bl + kl + vl;
			const uint8_t *p;
			if (off == PKV_SHM_OFF_INLINE) {
				if (total > PKV_SHM_INLINE)
					break;
				p = e->inl;
			} else {
				if (vl > PKV_VALUE_MAX || (uint64_t)off + total > heap_size)
					break;
				p = heap + off;
			}
			if (memcmp(p, bucket, bl) != 0 || memcmp(p + bl, key, kl) != 0)
				continue;
			if (client_value_reserve(out, vl) < 0)
				return -ENOMEM;
			memcpy(out->data, p + bl + kl, vl);
			gen = pkv_shm_load_rlx(&e->gen);
			until = pkv_shm_load_rlx(&e->until);
			vlen = vl;
			found = true;
			break;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (pkv_shm_load_rlx(&st->seq) != s1)
			continue;
		if (!found)
			return CACHE_MISS;
		if (until) {
			if (!now_ms)
				now_ms = pkv_now();
			if (now_ms >= until)
				return CACHE_EXPIRED;
		}
		out->len = vlen;
		((uint8_t *)out->data)[vlen] = 0;
		out->gen = gen;
		out->until = until;
		return CACHE_HIT;
	}
	return CACHE_BUSY;
}
