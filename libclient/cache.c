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
#include <time.h>

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

/*
 * The shared bytes of an entry are read as whole aligned 8-byte words,
 * relaxed (pkv-shm.h: the daemon may be rewriting them), and compared and
 * copied from registers. Each of bucket, key and value starts on a word
 * (pkv_shm_key_at, pkv_shm_value_at) and its last word is padding to the
 * end, inside the entry or the heap, so a word is one load: no shift, no
 * byte outside the entry. Copying the words into a private buffer first
 * cost a failed store-to-load forward on every lookup, and joining words of
 * a field off a word boundary more than a quarter of a hot read's
 * instructions.
 */
static inline uint64_t shared_word(const uint64_t *p, size_t i)
{
	return __atomic_load_n(&p[i], __ATOMIC_RELAXED);
}

/* A word whose first r bytes (1..7, memory order) are set, the rest clear. */
static inline uint64_t first_bytes(size_t r)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (1ull << (8u * r)) - 1u;
#else
	return ~0ull << (8u * (8u - r));
#endif
}

/* b[0, r) (r 1..7) as the first bytes of a word; reads no byte outside. */
static inline uint64_t private_tail(const uint8_t *b, size_t r)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (r >= 4)
		return pkv_shm_rd32(b) | pkv_shm_rd32(b + r - 4) << (8u * (r - 4u));
	return (uint64_t)b[0] | (uint64_t)b[r >> 1] << 8 | (uint64_t)b[r - 1] << 16;
#else
	if (r >= 4)
		return pkv_shm_rd32(b) << 32 | pkv_shm_rd32(b + r - 4) << (8u * (8u - r));
	return (uint64_t)b[0] << 56 | (uint64_t)b[r >> 1] << 48 | (uint64_t)b[r - 1] << 40;
#endif
}

/* Whether the shared field at p (a word, padded to one) holds b[0, n). */
static inline bool shared_eq(const uint64_t *p, const uint8_t *b, size_t n)
{
	uint64_t diff = 0;
	size_t i = 0;
	for (; i + 8u <= n; i += 8u)
		diff |= shared_word(p, i / 8u) ^ pkv_shm_rd64(b + i);
	if (i < n)
		diff |= (shared_word(p, i / 8u) ^ private_tail(b + i, n - i)) & first_bytes(n - i);
	return diff == 0;
}

/* Values up to this size are copied from registers, larger ones by pkv_shm_copy_out. */
#define COPY_WORDS_MAX 256u

/*
 * Copies the shared field at p (a word, padded to one) of n bytes to dst a
 * word at a time: dst must have room for n rounded up to 8 (the bytes past
 * n are the padding's).
 */
static inline void shared_copy(uint8_t *dst, const uint64_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8u) {
		uint64_t v = shared_word(p, i / 8u);
		memcpy(dst + i, &v, 8);
	}
}

/* The lines of the three slots after the home slot, whose misses then overlap. */
static inline void neighbours_prefetch(const struct pkv_shm_stripe *st, unsigned home)
{
	for (unsigned k = 1; k < 4; k++) {
		const uint8_t *pe = (const uint8_t *)&st->ent[(home + k) &
							      (PKV_SHM_STRIPE_ENTRIES - 1u)];
		__builtin_prefetch(pe);
		__builtin_prefetch(pe + PKV_SHM_LINE);
	}
}

/* cache_lookup's body, inlined into cache_read too: a hit is a few tens of ns. */
static inline __attribute__((always_inline)) int lookup(const struct pkv_shm_layout *m,
							 const struct pkv_shm_cache_geom *g,
							 const void *bucket, size_t bucket_len,
							 const void *key, size_t key_len,
							 uint64_t now_ms, struct pkv_value *out)
{
	if (bucket_len == 0 || bucket_len > PKV_BUCKET_MAX || key_len > PKV_KEY_MAX)
		return CACHE_MISS;
	uint64_t h = pkv_shm_hash(bucket, bucket_len, key, key_len);
	const unsigned si = pkv_shm_stripe_of(h, g->stripes);
	const struct pkv_shm_stripe *st = pkv_shm_stripe_at(m, g, si);
	const uint32_t *seq = pkv_shm_stripe_seq_at(m, g, si);
	const unsigned home = pkv_shm_home_of(h);
	/*
	 * A hit is at the home slot or a few slots on (with stripes about 3/4
	 * full, 2 in 3 entries sit at home, most others within 3 slots). Both
	 * lines of the home slot are asked for now, so that their misses
	 * overlap the one on seq; the next three slots' lines only once the
	 * home slot turns out to hold another key (neighbours_prefetch). Asking
	 * for all four slots' lines up front pulled eight lines into L1 for
	 * every read: 512 hot keys read back to back took 30.5-33 ns that way
	 * and 28.3-28.9 this way, and random reads among 1 M keys were the
	 * same within the noise (tools/bench.md, "get-hit and its floor").
	 */
	const uint8_t *pe = (const uint8_t *)&st->ent[home];
	__builtin_prefetch(pe);
	__builtin_prefetch(pe + PKV_SHM_LINE);
	for (unsigned attempt = 0; attempt < PKV_SHM_READ_RETRIES; attempt++) {
		uint32_t s1 = pkv_shm_load_acq(seq);
		if (s1 & 1u) {
			cpu_relax();
			continue;
		}
		const struct pkv_shm_entry *hit = NULL;
		uint32_t vlen = 0;
		/* From the home slot on, wrapping: the order the writer fills slots in. */
		for (unsigned k = 0; k < PKV_SHM_STRIPE_ENTRIES; k++) {
			const struct pkv_shm_entry *e =
				&st->ent[(home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u)];
			if (__builtin_expect(pkv_shm_load_rlx(&e->tag) != h, 0)) {
				if (k == 0 && attempt == 0)
					neighbours_prefetch(st, home);
				continue;
			}
			uint32_t off = pkv_shm_load_rlx(&e->off);
			uint32_t vl = pkv_shm_load_rlx(&e->value_len);
			uint32_t kl = pkv_shm_load_rlx(&e->key_len);
			uint32_t bl = pkv_shm_load_rlx(&e->bucket_len);
			if (bl != bucket_len || kl != key_len)
				continue;
			/* A torn entry must not send the reads out of the entry or the heap. */
			uint32_t span = pkv_shm_entry_span(bl, kl, vl);
			const uint8_t *p;
			if (off == PKV_SHM_OFF_INLINE) {
				if (span > PKV_SHM_INLINE)
					break;
				p = e->inl;
			} else {
				if ((uint64_t)off + span > g->heap || (off & 7u))
					break;
				p = pkv_shm_stripe_heap(m, g, si) + off;
			}
			/*
			 * The daemon may be rewriting these bytes: they are read
			 * as relaxed words (shared_word) and compared and copied
			 * from registers; the sequence word below says whether
			 * what was read was whole.
			 */
			const uint64_t *w = (const uint64_t *)(const void *)p;
			if (!shared_eq(w, bucket, bl) ||
			    !shared_eq(w + pkv_shm_key_at(bl) / 8u, key, kl))
				continue;
			if (client_value_reserve(out, vl + 8u) < 0)
				return -ENOMEM;
			const uint64_t *v = w + pkv_shm_value_at(bl, kl) / 8u;
			if (vl <= COPY_WORDS_MAX)
				shared_copy(out->data, v, vl);
			else
				pkv_shm_copy_out(out->data, v, vl);
			vlen = vl;
			hit = e;
			break;
		}
		uint64_t gen = 0, until = 0;
		if (hit) {
			gen = pkv_shm_load_rlx(&hit->gen);
			until = pkv_shm_load_rlx(&hit->until);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (pkv_shm_load_rlx(seq) != s1)
			continue;
		if (!hit)
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

int cache_lookup(const struct pkv_shm_layout *m, const struct pkv_shm_cache_geom *g,
		 const void *bucket, size_t bucket_len, const void *key, size_t key_len,
		 uint64_t now_ms, struct pkv_value *out)
{
	return lookup(m, g, bucket, bucket_len, key, key_len, now_ms, out);
}

int cache_read(struct pkv_attach *a, const void *bucket, size_t bucket_len, const void *key,
	       size_t key_len, bool stale_ok, uint64_t every_ms, struct pkv_value *out)
{
	/* The flags only: the clock is read once, after the lookup. */
	if (!attach_flags_alive(a))
		return CACHE_GONE;
	int r = lookup(a->m, &a->geom, bucket, bucket_len, key, key_len, 0, out);
	if (r != CACHE_HIT)
		return r;
	/*
	 * One clock read per hit (docs/design.md §8): the coarse clock, after
	 * the lookup, for the lease; the same reading says whether the control
	 * socket is due its poll (it lags CLOCK_MONOTONIC, which the poll's
	 * schedule is in, by at most a tick: the poll comes that much later).
	 */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now / 1000000u >= __atomic_load_n(&a->next_check_ms, __ATOMIC_RELAXED) &&
	    !attach_alive(a, every_ms))
		return CACHE_GONE;
	bool leased = lease_holds_at(a->m, now);
	if (!leased && !stale_ok)
		return CACHE_PAST_LEASE;
	out->flags = leased ? 0 : PKV_VALUE_STALE;
	return CACHE_HIT;
}
