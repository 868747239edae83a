// SPDX-License-Identifier: MIT
/*
 * shm-cache.c — the writer of the local-attach segment's learner cache
 * (stripes, their locks and heaps) and of its cluster view (shm.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "shm-seg.h"

/* --- view ------------------------------------------------------------------- */

void shm_set_view(struct shm_segment *seg, bool quorum, uint64_t epoch, uint32_t cluster_size,
		  uint32_t self, uint64_t connected, const char *const *names, uint32_t n_nodes)
{
	struct pkv_shm_view *v = &seg->m->view;
	uint32_t s = v->seq;
	pkv_shm_store_rlx(&v->seq, s + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (n_nodes > PKV_SHM_NODES)
		n_nodes = PKV_SHM_NODES;
	pkv_shm_store_rlx(&v->quorum, quorum ? 1u : 0u);
	pkv_shm_store_rlx(&v->quorum_epoch, epoch);
	pkv_shm_store_rlx(&v->cluster_size, cluster_size);
	pkv_shm_store_rlx(&v->self, self);
	pkv_shm_store_rlx(&v->connected, connected);
	pkv_shm_store_rlx(&v->n_nodes, n_nodes);
	for (uint32_t i = 0; i < n_nodes; i++) {
		/* Readers copy the names while we write: relaxed stores (pkv-shm.h). */
		char name[PKV_SHM_NAME_MAX] = {0};
		if (names && names[i])
			strncpy(name, names[i], PKV_SHM_NAME_MAX - 1);
		pkv_shm_copy_in(v->names[i], name, PKV_SHM_NAME_MAX);
	}
	pkv_shm_store_rel(&v->seq, s + 2);
	futex_wake(&v->seq);
}

void shm_set_lease(struct shm_segment *seg, uint64_t until_us)
{
	static uint64_t coarse_ns; /* the coarse clock's resolution: how far it may lag */
	if (!coarse_ns) {
		struct timespec r;
		coarse_ns = 1;
		if (clock_getres(CLOCK_MONOTONIC_COARSE, &r) == 0)
			coarse_ns += (uint64_t)r.tv_sec * 1000000000u + (uint64_t)r.tv_nsec;
	}
	uint64_t ns = until_us >= UINT64_MAX / 1000u ? UINT64_MAX : until_us * 1000u;
	if (ns != UINT64_MAX)
		ns = ns > coarse_ns ? ns - coarse_ns : 0;
	pkv_shm_store_rlx(&seg->m->view.lease_ns, ns);
}

/* --- learner cache ------------------------------------------------------------ */

/* One stripe as the writer sees it: its lock record, its entries, its heap. */
struct stripe {
	struct pkv_shm_stripe_lock *w;
	uint32_t *seq;
	struct pkv_shm_stripe *st;
	uint8_t *heap;
	uint32_t heap_size;
};

static struct stripe stripe_get(struct shm_segment *seg, unsigned i)
{
	struct pkv_shm_stripe *st = pkv_shm_stripe_at(seg->m, &seg->geom, i);
	return (struct stripe){
		.w = pkv_shm_stripe_lock_at(seg->m, &seg->geom, i),
		.seq = pkv_shm_stripe_seq_at(seg->m, &seg->geom, i),
		.st = st,
		.heap = pkv_shm_stripe_heap(seg->m, &seg->geom, i),
		.heap_size = seg->geom.heap,
	};
}

/* Writer side of the stripe seqlock (see pkv-shm.h). */
static void write_begin(struct stripe *s)
{
	pkv_shm_store_rlx(s->seq, *s->seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct stripe *s)
{
	pkv_shm_store_rel(s->seq, *s->seq + 1);
}

/* Slots from an entry's home slot to slot i, wrapping. */
static unsigned disp_of(uint64_t tag, unsigned i)
{
	return (i - pkv_shm_home_of(tag)) & (PKV_SHM_STRIPE_ENTRIES - 1u);
}

/*
 * The writer's bound on how far from home its entries sit (pkv-shm.h,
 * struct pkv_shm_stripe_lock: max_disp): a search for an absent key reads
 * the tags of max_disp + 1 slots, not all PKV_SHM_STRIPE_ENTRIES (a line
 * each: a fresh key's publish scanned 64 lines, 4 % of a daemon's CPU under
 * put-new). Raised by every placement; taken down only when the farthest
 * entry goes, by a scan of the stripe, and only from beyond the eviction
 * window: a full stripe places within PKV_SHM_PLACE_MAX slots of home, so
 * there the bound is that small anyway, and every eviction of an entry at
 * it rescanned the stripe's 64 lines for nothing (1 % of the daemons' time
 * under 32-client put-new, where every new key evicts).
 */
static void disp_rescan(struct stripe *s)
{
	unsigned m = 0;
	for (unsigned i = 0; s->w->n_used && i < PKV_SHM_STRIPE_ENTRIES; i++) {
		uint64_t tag = s->st->ent[i].tag;
		unsigned disp = tag ? disp_of(tag, i) : 0;
		if (disp > m)
			m = disp;
	}
	s->w->max_disp = m;
}

static void entry_free(struct shm_segment *seg, struct stripe *s, unsigned i)
{
	uint64_t tag = s->st->ent[i].tag;
	pkv_shm_store_rlx(&s->st->ent[i].tag, 0);
	s->w->n_used--;
	STAT_ADD(seg, cache_entries, -1);
	if (tag && s->w->max_disp >= PKV_SHM_PLACE_MAX && disp_of(tag, i) >= s->w->max_disp)
		disp_rescan(s);
}

/*
 * A dead writer may have left anything half written: forget the stripe.
 * Leaves seq even and different from any value a reader saw before the
 * writer died, so every such reader retries and finds the stripe empty.
 */
static void stripe_clear(struct shm_segment *seg, struct stripe *s)
{
	if (!(*s->seq & 1u))
		write_begin(s);
	/* n_used, not the tags: the dead writer may have set one early. */
	STAT_ADD(seg, cache_entries, -(int64_t)s->w->n_used);
	/* Only tags that are set: an untouched page of the stripe stays untouched. */
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++)
		if (s->st->ent[i].tag)
			pkv_shm_store_rlx(&s->st->ent[i].tag, 0);
	s->w->n_used = 0;
	s->w->heap_used = 0;
	s->w->max_disp = 0;
	write_end(s);
}

int shm_stripe_lock(struct shm_segment *seg, unsigned i)
{
	if (i >= seg->geom.stripes)
		return -EINVAL;
	struct stripe s = stripe_get(seg, i);
	int r = pthread_mutex_lock(&s.w->lock);
	if (r == EOWNERDEAD) {
		/* The holder died: what it touched is suspect. It is a cache: drop it. */
		s.w->suspect = 1;
		stripe_clear(seg, &s);
		r = pthread_mutex_consistent(&s.w->lock);
		s.w->suspect = 0;
		s.w->recoveries++;
		STAT_INC(seg, lock_recoveries);
		if (r) {
			pthread_mutex_unlock(&s.w->lock);
			return -r;
		}
		return 0;
	}
	return -r;
}

void shm_stripe_unlock(struct shm_segment *seg, unsigned i)
{
	pthread_mutex_unlock(&pkv_shm_stripe_lock_at(seg->m, &seg->geom, i)->lock);
}

/* Where an entry's bucket, key and value are: inline or in the heap. */
static const uint8_t *entry_data(const struct stripe *s, const struct pkv_shm_entry *e)
{
	return e->off == PKV_SHM_OFF_INLINE ? e->inl : s->heap + e->off;
}

static bool entry_is(const struct stripe *s, unsigned i, uint64_t h, struct pkv_bytes bucket,
		     struct pkv_bytes key)
{
	const struct pkv_shm_entry *e = &s->st->ent[i];
	if (e->tag != h || e->bucket_len != bucket.len || e->key_len != key.len)
		return false;
	const uint8_t *d = entry_data(s, e);
	return memcmp(d, bucket.p, bucket.len) == 0 &&
	       memcmp(d + pkv_shm_key_at(bucket.len), key.p, key.len) == 0;
}

/* Searches from the home slot, the order readers use, as far as max_disp. */
static int entry_find(const struct stripe *s, uint64_t h, struct pkv_bytes bucket,
		      struct pkv_bytes key)
{
	unsigned home = pkv_shm_home_of(h);
	unsigned last = s->w->max_disp < PKV_SHM_STRIPE_ENTRIES ? s->w->max_disp
								 : PKV_SHM_STRIPE_ENTRIES - 1u;
	/* The tags' lines all at once: their misses overlap. */
	for (unsigned k = 0; k <= last; k++)
		__builtin_prefetch(&s->st->ent[(home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u)].tag);
	for (unsigned k = 0; k <= last; k++) {
		unsigned i = (home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u);
		if (entry_is(s, i, h, bucket, key))
			return (int)i;
	}
	return -1;
}

static uint32_t entry_bytes(const struct pkv_shm_entry *e)
{
	return pkv_shm_entry_span(e->bucket_len, e->key_len, e->value_len);
}

/*
 * One of an entry's fields at dst (8-byte aligned), its last word padded
 * with zeros (pkv-shm.h: each field starts on a word). Relaxed stores.
 */
static void field_in(uint8_t *dst, const void *src, uint32_t len)
{
	uint32_t whole = len & ~7u;
	pkv_shm_copy_in(dst, src, whole);
	if (len > whole) {
		uint64_t w = 0;
		memcpy(&w, (const uint8_t *)src + whole, len - whole);
		pkv_shm_store_rlx((uint64_t *)(void *)(dst + whole), w);
	}
}

/* Moves live heap entries to the front of the heap, in offset order. Inside a write. */
/*
 * Moves len bytes down the heap (dst < src) while readers may copy them:
 * through a bounce buffer, storing relaxed (pkv-shm.h). Front to back in
 * chunks is safe for an overlap downwards: each chunk is read before any
 * store reaches it.
 */
static void heap_move(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	uint8_t buf[512];
	while (len) {
		uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);
		pkv_shm_copy_out(buf, src, n);
		pkv_shm_copy_in(dst, buf, n);
		dst += n;
		src += n;
		len -= n;
	}
}

static void stripe_compact(struct stripe *s)
{
	struct pkv_shm_stripe *st = s->st;
	unsigned idx[PKV_SHM_STRIPE_ENTRIES], n = 0;
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++) {
		if (!st->ent[i].tag || st->ent[i].off == PKV_SHM_OFF_INLINE)
			continue;
		unsigned j = n++;
		while (j > 0 && st->ent[idx[j - 1]].off > st->ent[i].off) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	uint32_t o = 0;
	for (unsigned k = 0; k < n; k++) {
		struct pkv_shm_entry *e = &st->ent[idx[k]];
		uint32_t len = entry_bytes(e);
		if (e->off != o)
			heap_move(s->heap + o, s->heap + e->off, len);
		pkv_shm_store_rlx(&e->off, o);
		o += len;
	}
	s->w->heap_used = o;
}

/*
 * The slot for an entry whose home is `home`: the first free one from there
 * on, as readers scan; in a full stripe, the oldest of the PKV_SHM_PLACE_MAX
 * slots from home, evicted. Evicting the oldest of the whole stripe put the
 * new entry wherever that one was, 32 slots on on average, so in a full
 * cache (the usual state of a cache smaller than the key set) a hot key's
 * read scanned that far and took 2.2 times as long. A stripe with room
 * evicts nothing, so a cache of n entries still holds n keys. Inside a
 * write.
 */
static unsigned slot_near(struct shm_segment *seg, struct stripe *s, unsigned home)
{
	struct pkv_shm_stripe *st = s->st;
	if (s->w->n_used < PKV_SHM_STRIPE_ENTRIES) {
		unsigned i = home;
		while (st->ent[i].tag)
			i = (i + 1) & (PKV_SHM_STRIPE_ENTRIES - 1u);
		return i;
	}
	unsigned victim = home;
	uint32_t oldest = 0;
	for (unsigned k = 0; k < PKV_SHM_PLACE_MAX; k++) {
		unsigned i = (home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u);
		uint32_t age = s->w->next_stamp - st->ent[i].stamp; /* stamps wrap */
		if (k == 0 || age > oldest) {
			victim = i;
			oldest = age;
		}
	}
	entry_free(seg, s, victim);
	STAT_INC(seg, cache_evicted);
	return victim;
}

/* Frees the oldest entry (stamps wrap: the age counts). Inside a write. */
static void stripe_evict_one(struct shm_segment *seg, struct stripe *s)
{
	struct pkv_shm_stripe *st = s->st;
	int victim = -1;
	uint32_t oldest = 0;
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++) {
		uint32_t age = s->w->next_stamp - st->ent[i].stamp;
		if (st->ent[i].tag && (victim < 0 || age > oldest)) {
			victim = (int)i;
			oldest = age;
		}
	}
	if (victim >= 0) {
		entry_free(seg, s, (unsigned)victim);
		STAT_INC(seg, cache_evicted);
	}
}

static void maybe_die(struct shm_segment *seg)
{
	if (seg->fault == SHM_FAULT_DIE_IN_PUBLISH)
		raise(SIGKILL);
}

int shm_cache_publish(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		      struct pkv_bytes value, uint64_t gen, uint64_t until)
{
	if (bucket.len == 0 || bucket.len > PKV_MAX_BUCKET || key.len > PKV_MAX_KEY ||
	    value.len > PKV_MAX_VALUE) {
		STAT_INC(seg, cache_refused);
		return -E2BIG;
	}
	uint64_t h = pkv_shm_hash(bucket.p, bucket.len, key.p, key.len);
	unsigned si = pkv_shm_stripe_of(h, seg->geom.stripes);
	struct stripe s = stripe_get(seg, si);
	struct pkv_shm_stripe *st = s.st;
	int r = shm_stripe_lock(seg, si);
	if (r)
		return r;
	int old = entry_find(&s, h, bucket, key);
	if (old >= 0 && st->ent[old].gen >= gen) {
		shm_stripe_unlock(seg, si);
		return 0; /* a chosen value never changes within its generation */
	}
	uint32_t need = pkv_shm_entry_span(bucket.len, key.len, value.len);
	bool inl = need <= PKV_SHM_INLINE;
	uint32_t heap_need = inl ? 0 : need;
	if (need > s.heap_size) {
		/*
		 * Larger than this geometry's stripe heap: readers ask the daemon.
		 * An older generation must not stay readable in its place.
		 */
		if (old >= 0) {
			write_begin(&s);
			entry_free(seg, &s, (unsigned)old);
			write_end(&s);
		}
		shm_stripe_unlock(seg, si);
		STAT_INC(seg, cache_refused);
		return -E2BIG;
	}
	write_begin(&s);
	if (old >= 0)
		entry_free(seg, &s, (unsigned)old);
	unsigned i = slot_near(seg, &s, pkv_shm_home_of(h));
	if (s.w->heap_used + heap_need > s.heap_size) {
		/* Room in the heap: the stripe's oldest go (slot i is free: kept). */
		stripe_compact(&s);
		while (s.w->heap_used + heap_need > s.heap_size) {
			stripe_evict_one(seg, &s);
			stripe_compact(&s);
		}
	}
	struct pkv_shm_entry *e = &st->ent[i];
	uint32_t off = inl ? PKV_SHM_OFF_INLINE : s.w->heap_used;
	uint8_t *dst = inl ? e->inl : s.heap + off;
	/* Readers may be copying these bytes: relaxed stores (pkv-shm.h). */
	uint8_t *vdst = dst + pkv_shm_value_at(bucket.len, key.len);
	field_in(dst, bucket.p, bucket.len);
	if (key.len) /* an empty key or value may have no buffer at all */
		field_in(dst + pkv_shm_key_at(bucket.len), key.p, key.len);
	if (seg->fault == SHM_FAULT_DIE_IN_PUBLISH) {
		field_in(vdst, value.p, value.len / 2);
		pkv_shm_store_rlx(&e->tag, h);
		maybe_die(seg);
	}
	if (value.len)
		field_in(vdst, value.p, value.len);
	pkv_shm_store_rlx(&e->gen, gen);
	pkv_shm_store_rlx(&e->until, until);
	pkv_shm_store_rlx(&e->stamp, s.w->next_stamp++);
	pkv_shm_store_rlx(&e->off, off);
	pkv_shm_store_rlx(&e->value_len, (uint16_t)value.len);
	pkv_shm_store_rlx(&e->key_len, (uint16_t)key.len);
	pkv_shm_store_rlx(&e->bucket_len, (uint8_t)bucket.len);
	pkv_shm_store_rlx(&e->tag, h);
	s.w->heap_used += heap_need;
	s.w->n_used++;
	unsigned disp = disp_of(h, i);
	if (disp > s.w->max_disp)
		s.w->max_disp = disp;
	write_end(&s);
	shm_stripe_unlock(seg, si);
	STAT_INC(seg, cache_published);
	STAT_INC(seg, cache_entries);
	return 0;
}

int shm_cache_erase(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		    uint64_t gen)
{
	if (bucket.len == 0 || bucket.len > PKV_MAX_BUCKET || key.len > PKV_MAX_KEY)
		return 0;
	uint64_t h = pkv_shm_hash(bucket.p, bucket.len, key.p, key.len);
	unsigned si = pkv_shm_stripe_of(h, seg->geom.stripes);
	struct stripe s = stripe_get(seg, si);
	int r = shm_stripe_lock(seg, si);
	if (r)
		return r;
	int erased = 0;
	/* An empty stripe is not looked at: its pages may never have been touched. */
	int i = s.w->n_used ? entry_find(&s, h, bucket, key) : -1;
	if (i >= 0 && s.st->ent[i].gen <= gen) {
		write_begin(&s);
		entry_free(seg, &s, (unsigned)i);
		write_end(&s);
		STAT_INC(seg, cache_erased);
		erased = 1;
	}
	shm_stripe_unlock(seg, si);
	return erased;
}

int shm_cache_erase_bucket(struct shm_segment *seg, struct pkv_bytes bucket)
{
	int count = 0;
	for (unsigned si = 0; si < seg->geom.stripes; si++) {
		struct stripe s = stripe_get(seg, si);
		int r = shm_stripe_lock(seg, si);
		if (r)
			return r;
		bool writing = false;
		/* Empty stripes are skipped unread, so a drop touches no fresh page. */
		for (unsigned i = 0; s.w->n_used && i < PKV_SHM_STRIPE_ENTRIES; i++) {
			const struct pkv_shm_entry *e = &s.st->ent[i];
			if (!e->tag || e->bucket_len != bucket.len ||
			    memcmp(entry_data(&s, e), bucket.p, bucket.len) != 0)
				continue;
			if (!writing) {
				write_begin(&s);
				writing = true;
			}
			entry_free(seg, &s, i);
			STAT_INC(seg, cache_erased);
			count++;
		}
		if (writing)
			write_end(&s);
		shm_stripe_unlock(seg, si);
	}
	return count;
}
