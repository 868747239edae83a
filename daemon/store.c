// SPDX-License-Identifier: MIT
/*
 * store.c — buckets and key tables (see store.h).
 *
 * Two levels of hash tables: the store maps bucket names to buckets (a few
 * chained ones), and each bucket maps keys to entries (open addressing).
 * Besides the tables, entries are numbered in creation order: store-wide
 * (an array of entry pointers) and per bucket (an array of store-wide
 * numbers). These are the stable cursors used for paging, and a key table's
 * slot names its entry by store-wide number.
 *
 * Memory per key is what limits a daemon, so:
 * - entries are never freed while the store lives, hence are cut with their
 *   key from large blocks (a bump arena): no malloc header, no size-class
 *   rounding;
 * - values of up to SLAB_MAX bytes come from slabs of 8-byte size classes
 *   with free lists (values are replaced and erased, so their room is
 *   reused); larger ones are malloc'ed;
 * - the index arrays grow in fixed chunks, never by copying all of them.
 *
 * A key table is linear probing over 4-byte slots: an entry's number and 5
 * bits of its key's hash (the whole hash is in the entry). A miss mostly
 * reads one cache line of the table and no entry (one probed slot in 32
 * agrees by chance); a hit reads the entry it finds. (Hash chains through
 * the entries cost two cache misses per entry passed, and the store's
 * lookups were a third of a busy daemon's time in user space.) The
 * number's 27 bits cap a store at 2^27 - 2 entries, tombstones and holes
 * included.
 *
 * A key table doubles incrementally: the old table is kept while its
 * clusters move to the new one, a few per lookup, so that no call does work
 * in proportion to the number of keys (the daemon has one loop; a 2^20-key
 * rehash in one step stalls it for tens to hundreds of milliseconds).
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Chunked arrays: element i is in chunk i >> VEC_SHIFT. Only the directory
 * (one pointer per chunk) is ever copied when it grows. The first chunk
 * starts small and doubles up to a full chunk, so small buckets stay small.
 */
#define VEC_SHIFT 12
#define VEC_CHUNK ((size_t)1 << VEC_SHIFT)

struct store_vec {
	uint8_t **chunk;
	size_t nchunk, dircap;
	size_t cap0; /* elements of room in chunk[0] */
};

/* Values of 1..SLAB_MAX bytes live in slabs, one per multiple of 8 bytes. */
#define SLAB_MAX     256u
#define SLAB_CLASSES (SLAB_MAX / 8)
_Static_assert(PKV_MAX_BUCKET <= SLAB_MAX, "bucket names live in the slabs");

struct store_slab {
	void *free;    /* freed slots, linked through their first 8 bytes */
	uint8_t *bump; /* unused room of the newest block */
	size_t left;
	size_t next_block; /* size of the next block */
};

/* Blocks (arena and slabs) are malloc'ed with this header, freed together. */
struct store_block {
	struct store_block *next;
};

/*
 * Block sizes double from BLOCK_MIN to BLOCK_MAX, so a small store stays
 * small and a big one makes few large allocations; less than a power of two
 * so that malloc's own header still fits in the same pages.
 */
#define BLOCK_MIN ((size_t)16 << 10)
#define BLOCK_MAX ((size_t)1 << 20)
#define BLOCK_PAD 64u

/* Old-table slots moved to the new table per lookup, while one grows (and
 * then on to the end of the cluster). */
#define MIGRATE_STEP 16u

/*
 * While clusters move, the pages of the old table already emptied go back to
 * the kernel RELEASE_BYTES at a time: freeing a table of millions of slots
 * in one call otherwise costs a millisecond or more of unmapping. A wrong
 * page size only makes madvise() fail, which is harmless.
 */
#define RELEASE_BYTES ((size_t)64 << 10)
#define RELEASE_PAGE  ((uintptr_t)4096)

/*
 * A key table's slot: entry number + 1 (0: empty) in the low SLOT_BITS bits,
 * the top bits of key_hash() of its key above them.
 */
typedef uint32_t key_slot;
#define SLOT_BITS 27u
#define SLOT_X	  ((1u << SLOT_BITS) - 1u)
#define SLOT_TAG  (~SLOT_X)

struct store_bucket {
	struct pkv_bytes name; /* owned */
	uint64_t hash;
	struct store_bucket *hnext;
	struct store *s;
	/*
	 * The key table (tab_size slots, a power of two, at most 3/4 full).
	 * While it grows, `old` (old_size slots) still holds the clusters not
	 * moved yet: the slots from `start` on, round the table, number `moved`
	 * and up (bucket_migrate).
	 */
	key_slot *tab;
	size_t tab_size;
	key_slot *old;
	size_t old_size, start, moved;
	size_t released;	/* bytes of old from slot start on given back */
	struct store_vec order; /* uint32_t: store-wide entry numbers */
	size_t n;		/* positions in order (live entries and holes) */
	size_t live;		/* entries held (n less the collected ones) */
	/*
	 * Store-wide numbers of collected entries of this bucket (store_collect).
	 * Each still sits at its position in `order`, as a hole, until a new
	 * entry of this bucket takes the number, and so the position: a number
	 * is never reused by another bucket, so no entry shows at two positions.
	 */
	uint32_t *free_slots;
	size_t nfree, cap_free;
	uint64_t bytes;
	struct store_bucket_stats stats;
};

struct store {
	struct store_bucket **tab;
	size_t tab_size;
	struct store_bucket **order;
	size_t nb, bcap;
	struct store_vec entries; /* struct store_entry *, creation order; NULL: collected */
	size_t ne;		  /* numbers used (entries held and holes) */
	size_t nlive;		  /* entries held */
	uint64_t collected;	  /* entries collected (store_collect) */
	/* Room of collected entries, by (key length + 7) / 8, linked through
	 * their first word: a new entry of the same size class takes it. */
	void *free_ent[PKV_MAX_KEY / 8 + 2];
	uint64_t bytes;
	uint64_t bound_pid_node; /* chosen entries bound to a pid or a node */
	size_t max_entries;	 /* 0: no limit */
	uint64_t gen_base;	 /* a new entry's generation is gen_base + 1 */
	uint64_t refused;	 /* entries not created for the limit */
	bool track, urgent;
	struct store_entry **dirty;
	size_t nd, dcap;

	struct store_block *blocks; /* every arena and slab block */
	uint8_t *arena;		    /* unused room of the newest entry block */
	size_t arena_left, arena_next;
	struct store_slab slab[SLAB_CLASSES];
};

/* The entry stays 144 bytes (LP64). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct store_entry) <= 144,
	       "store_entry grew: memory per key matters");
_Static_assert(_Alignof(struct store_entry) <= 8, "arena blocks are 8-aligned");

/* FNV-1a, 64 bit: deterministic across daemons and runs. */
static uint64_t hash_bytes(uint64_t h, struct pkv_bytes b)
{
	for (uint32_t i = 0; i < b.len; i++) {
		h ^= b.p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

/*
 * A key's hash in a key table: FNV-1a, then a finalizer that spreads every
 * byte into the low bits (FNV's lowest k bits depend only on the lowest k
 * bits of each byte, and linear probing takes its slot from the low bits).
 */
static uint32_t key_hash(struct pkv_bytes key)
{
	uint64_t h = hash_bytes(FNV_BASIS, key);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static int grow_ptrs(void ***v, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void **nv = realloc(*v, ncap * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static void *vec_at(const struct store_vec *v, size_t i, size_t esz)
{
	return v->chunk[i >> VEC_SHIFT] + (i & (VEC_CHUNK - 1)) * esz;
}

/* Makes room for element i, the next one appended. 0 or -ENOMEM. */
static int vec_room(struct store_vec *v, size_t i, size_t esz)
{
	size_t k = i >> VEC_SHIFT;
	if (k < v->nchunk && (k > 0 || i < v->cap0))
		return 0;
	if (k >= v->dircap) {
		size_t ncap = v->dircap ? v->dircap * 2 : 4;
		uint8_t **nd = realloc(v->chunk, ncap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		v->chunk = nd;
		v->dircap = ncap;
	}
	if (k == 0) {
		size_t ncap = v->cap0 ? v->cap0 * 2 : 16;
		uint8_t *c = realloc(v->nchunk ? v->chunk[0] : NULL, ncap * esz);
		if (!c)
			return -ENOMEM;
		v->chunk[0] = c;
		v->nchunk = 1;
		v->cap0 = ncap;
		return 0;
	}
	uint8_t *c = malloc(VEC_CHUNK * esz);
	if (!c)
		return -ENOMEM;
	v->chunk[v->nchunk++] = c;
	return 0;
}

static void vec_free(struct store_vec *v)
{
	for (size_t k = 0; k < v->nchunk; k++)
		free(v->chunk[k]);
	free(v->chunk);
}

/* A block of `size` bytes (header included) on the store's list. */
static uint8_t *block_new(struct store *s, size_t size)
{
	struct store_block *bl = malloc(size);
	if (!bl)
		return NULL;
	bl->next = s->blocks;
	s->blocks = bl;
	return (uint8_t *)(bl + 1);
}

static size_t block_size(size_t *next)
{
	size_t size = *next ? *next : BLOCK_MIN;
	*next = size < BLOCK_MAX ? size * 2 : BLOCK_MAX;
	return size - BLOCK_PAD;
}

/* Room for an entry and its key, 8-aligned; never freed before the store. */
static void *arena_alloc(struct store *s, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if (size > s->arena_left) {
		size_t bs = block_size(&s->arena_next);
		/* The largest entry (PKV_MAX_KEY) is far below BLOCK_MIN. */
		uint8_t *p = block_new(s, bs);
		if (!p)
			return NULL;
		s->arena = p;
		s->arena_left = bs - sizeof(struct store_block);
	}
	void *r = s->arena;
	s->arena += size;
	s->arena_left -= size;
	return r;
}

static void *value_alloc(struct store *s, uint32_t len)
{
	if (len > SLAB_MAX)
		return malloc(len);
	size_t sz = (len + 7u) & ~7u;
	struct store_slab *sl = &s->slab[sz / 8 - 1];
	void *p = sl->free;
	if (p) {
		memcpy(&sl->free, p, sizeof(void *));
		return p;
	}
	if (sl->left < sz) {
		size_t bs = block_size(&sl->next_block);
		uint8_t *b = block_new(s, bs);
		if (!b)
			return NULL;
		/* The tail of the previous block is lost: less than one slot. */
		sl->bump = b;
		sl->left = (bs - sizeof(struct store_block)) / sz * sz;
	}
	p = sl->bump;
	sl->bump += sz;
	sl->left -= sz;
	return p;
}

/* Frees a value of len bytes (NULL when len is 0). */
static void value_free(struct store *s, const uint8_t *p, uint32_t len)
{
	if (!len)
		return;
	if (len > SLAB_MAX) {
		free((void *)p);
		return;
	}
	struct store_slab *sl = &s->slab[(len + 7u) / 8 - 1];
	void *slot = (void *)p;
	memcpy(slot, &sl->free, sizeof(void *));
	sl->free = slot;
}

static int value_dup(struct store *s, struct pkv_bytes *dst, struct pkv_bytes src)
{
	uint8_t *p = NULL;
	if (src.len) {
		p = value_alloc(s, src.len);
		if (!p)
			return -ENOMEM;
		memcpy(p, src.p, src.len);
	}
	dst->p = p;
	dst->len = src.len;
	return 0;
}

struct store *store_new(void)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->tab_size = 16;
	s->tab = calloc(s->tab_size, sizeof(*s->tab));
	if (!s->tab) {
		free(s);
		return NULL;
	}
	return s;
}

const struct pkv_bindings store_no_bindings;

static void bind_free(const struct pkv_bindings *b)
{
	if (b != &store_no_bindings)
		free((void *)b);
}

/* Frees both value slots and bindings, the shared buffer once. */
static void slots_free(struct store *s, struct store_entry *e)
{
	if (!e->chosen_shared)
		value_free(s, e->chosen_value.p, e->chosen_value.len);
	value_free(s, e->accepted_value.p, e->accepted_value.len);
	bind_free(e->accepted_bind);
	bind_free(e->chosen_bind);
	e->chosen_shared = false;
}

static struct store_entry *entry_get(const struct store *s, size_t i)
{
	return *(struct store_entry **)vec_at(&s->entries, i, sizeof(struct store_entry *));
}

void store_free(struct store *s)
{
	if (!s)
		return;
	/* Slab values, bucket names and entries go with their blocks; the rest
	 * one by one (not through value_free: that would touch every slot). */
	for (size_t i = 0; i < s->ne; i++) {
		struct store_entry *e = entry_get(s, i);
		if (!e)
			continue;
		if (e->accepted_value.len > SLAB_MAX)
			free((void *)e->accepted_value.p);
		if (!e->chosen_shared && e->chosen_value.len > SLAB_MAX)
			free((void *)e->chosen_value.p);
		bind_free(e->accepted_bind);
		bind_free(e->chosen_bind);
	}
	for (size_t i = 0; i < s->nb; i++) {
		struct store_bucket *b = s->order[i];
		free(b->tab);
		free(b->old);
		free(b->free_slots);
		vec_free(&b->order);
		free(b);
	}
	while (s->blocks) {
		struct store_block *next = s->blocks->next;
		free(s->blocks);
		s->blocks = next;
	}
	vec_free(&s->entries);
	free(s->dirty);
	free(s->order);
	free(s->tab);
	free(s);
}

bool store_bucket_name_ok(struct pkv_bytes name)
{
	return name.len >= 1 && name.len <= PKV_MAX_BUCKET && name.p;
}

/* Buckets are few (names, not keys): their table doubles in one step. */
static void store_rehash(struct store *s)
{
	size_t nsize = s->tab_size * 2;
	struct store_bucket **nt = calloc(nsize, sizeof(*nt));
	if (!nt)
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < s->nb; i++) {
		struct store_bucket *b = s->order[i];
		size_t h = b->hash & (nsize - 1);
		b->hnext = nt[h];
		nt[h] = b;
	}
	free(s->tab);
	s->tab = nt;
	s->tab_size = nsize;
}

struct store_bucket *store_bucket(struct store *s, struct pkv_bytes name, bool create)
{
	if (!store_bucket_name_ok(name))
		return NULL;
	uint64_t h = hash_bytes(FNV_BASIS, name);
	for (struct store_bucket *b = s->tab[h & (s->tab_size - 1)]; b; b = b->hnext)
		if (b->hash == h && pkv_bytes_eq(b->name, name))
			return b;
	if (!create)
		return NULL;
	if (grow_ptrs((void ***)&s->order, &s->bcap, s->nb + 1))
		return NULL;
	struct store_bucket *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->tab_size = 16;
	b->tab = calloc(b->tab_size, sizeof(*b->tab));
	/* The name comes from the slabs (at most SLAB_MAX bytes): freed with them. */
	if (!b->tab || value_dup(s, &b->name, name)) {
		free(b->tab);
		free(b);
		return NULL;
	}
	b->s = s;
	b->hash = h;
	size_t slot = h & (s->tab_size - 1);
	b->hnext = s->tab[slot];
	s->tab[slot] = b;
	s->order[s->nb++] = b;
	if (s->nb > s->tab_size)
		store_rehash(s);
	return b;
}

struct pkv_bytes store_bucket_name(const struct store_bucket *b)
{
	return b->name;
}

size_t store_bucket_nkeys(const struct store_bucket *b)
{
	return b->live;
}

size_t store_bucket_nslots(const struct store_bucket *b)
{
	return b->n;
}

uint64_t store_bucket_bytes(const struct store_bucket *b)
{
	return b->bytes;
}

struct store_entry *store_bucket_entry_at(const struct store_bucket *b, size_t i)
{
	if (i >= b->n)
		return NULL;
	return entry_get(b->s, *(uint32_t *)vec_at(&b->order, i, sizeof(uint32_t)));
}

struct store_bucket_stats *store_bucket_stats(struct store_bucket *b)
{
	return &b->stats;
}

size_t store_nbuckets(const struct store *s)
{
	return s->nb;
}

struct store_bucket *store_bucket_at(const struct store *s, size_t i)
{
	return i < s->nb ? s->order[i] : NULL;
}

size_t store_nentries(const struct store *s)
{
	return s->nlive;
}

size_t store_nslots(const struct store *s)
{
	return s->ne;
}

uint64_t store_collected(const struct store *s)
{
	return s->collected;
}

struct store_entry *store_entry_at(const struct store *s, size_t i)
{
	return i < s->ne ? entry_get(s, i) : NULL;
}

uint64_t store_bytes(const struct store *s)
{
	return s->bytes;
}

/* The entry a used slot names. */
static struct store_entry *slot_entry(const struct store *s, key_slot v)
{
	return entry_get(s, (v & SLOT_X) - 1);
}

/*
 * Probes table t (size slots) for key, from its home slot to the first empty
 * one. Returns its slot, or NULL with *hole (if given) at that empty slot.
 */
static key_slot *probe(const struct store *s, key_slot *t, size_t size, uint32_t h,
		       struct pkv_bytes key, key_slot **hole)
{
	size_t mask = size - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		key_slot *sl = &t[i];
		if (!*sl) {
			if (hole)
				*hole = sl;
			return NULL;
		}
		if (!((*sl ^ h) & SLOT_TAG)) {
			const struct store_entry *e = slot_entry(s, *sl);
			if (e->khash == h && e->key.len == key.len &&
			    !memcmp(e->key.p, key.p, key.len))
				return sl;
		}
	}
}

/* The hash of the key in a used slot. */
static uint32_t slot_hash(const struct store *s, key_slot v)
{
	return slot_entry(s, v)->khash;
}

/* True when old slot i (or a home at i) is in the part already moved. */
static bool old_moved(const struct store_bucket *b, size_t i)
{
	return ((i - b->start) & (b->old_size - 1)) < b->moved;
}

/*
 * The slot that holds key (hash h), in the table or, while it grows, in the
 * old one; NULL with *hole at the table's slot where it would go. The moved
 * part of old begins and ends at an empty slot, so a cluster is either all
 * moved or all still there, and a key whose home was moved is not in old.
 */
static key_slot *slot_find(struct store_bucket *b, uint32_t h, struct pkv_bytes key,
			   key_slot **hole)
{
	key_slot *sl = probe(b->s, b->tab, b->tab_size, h, key, hole);
	if (sl || !b->old || old_moved(b, h & (b->old_size - 1)))
		return sl;
	return probe(b->s, b->old, b->old_size, h, key, NULL);
}

/* Puts a key not in the table into it: the first empty slot from its home. */
static void slot_insert(key_slot *t, size_t size, key_slot v, uint32_t h)
{
	size_t mask = size - 1, i = h & mask;
	while (t[i])
		i = (i + 1) & mask;
	t[i] = v;
}

/*
 * Empties slot sl of table t, shifting back the rest of its cluster where
 * their probes would otherwise stop at the gap: a slot j moves into the gap
 * i unless its home lies round the table in (i, j]. No tombstones.
 */
static void slot_remove(const struct store *s, key_slot *t, size_t size, key_slot *sl)
{
	size_t mask = size - 1, i = (size_t)(sl - t);
	for (size_t j = (i + 1) & mask; t[j]; j = (j + 1) & mask) {
		size_t home = slot_hash(s, t[j]) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t[i] = t[j];
			i = j;
		}
	}
	t[i] = 0;
}

/*
 * Gives back the whole pages of the old table from slot start up to the
 * moved part's end (not round the table): never read again, and free()
 * reads only the chunk's header, outside them.
 */
static void release_moved(struct store_bucket *b)
{
	uintptr_t base = (uintptr_t)(b->old + b->start);
	size_t upto = b->moved < b->old_size - b->start ? b->moved : b->old_size - b->start;
	uintptr_t lo = (base + b->released + RELEASE_PAGE - 1) & ~(RELEASE_PAGE - 1);
	uintptr_t hi = (base + upto * sizeof(*b->old)) & ~(RELEASE_PAGE - 1);
	if (hi <= lo)
		return;
	(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	b->released = hi - base;
}

/* Gives back moved pages of the old table once RELEASE_BYTES have gathered. */
static void release_some(struct store_bucket *b)
{
	if (b->moved * sizeof(*b->old) - b->released >= RELEASE_BYTES)
		release_moved(b);
}

/*
 * Moves at least `slots` slots of the old table into the new one, and then
 * on to the next empty slot, so that the moved part ends at an empty slot
 * (slot_find). Frees the old table after its last. The entries' hashes are
 * fetched ahead, MIGRATE_STEP at a time, so that their cache misses overlap;
 * the writes go to two runs of the new table (old slot i's keys have new
 * homes near i and i + old_size).
 */
static void bucket_migrate(struct store_bucket *b, size_t slots)
{
	size_t mask = b->old_size - 1;
	while (b->old) {
		size_t first = b->moved, ahead = MIGRATE_STEP;
		if (ahead > b->old_size - first)
			ahead = b->old_size - first;
		for (size_t k = 0; k < ahead; k++) {
			key_slot v = b->old[(b->start + first + k) & mask];
			if (v)
				__builtin_prefetch(slot_entry(b->s, v));
		}
		for (size_t k = 0; k < ahead && b->old; k++) {
			key_slot v = b->old[(b->start + b->moved) & mask];
			if (!v && !slots) {
				release_some(b);
				return;
			}
			if (v)
				slot_insert(b->tab, b->tab_size, v, slot_hash(b->s, v));
			slots -= slots > 0;
			if (++b->moved == b->old_size) {
				free(b->old);
				b->old = NULL;
				b->old_size = b->start = b->moved = b->released = 0;
			}
		}
	}
}

/*
 * Starts doubling the table; bucket_migrate() then moves the clusters,
 * from an empty slot of the old table (one exists: it is at most 3/4
 * full). Without memory nothing changes: the table fills further, lookups
 * stay correct (one empty slot is enough), and the next insert tries again.
 * At MIGRATE_STEP slots per lookup the old table is gone long before the
 * new one is 3/4 full (old_size / MIGRATE_STEP more inserts at most).
 */
static void bucket_grow(struct store_bucket *b)
{
	if (b->old)
		bucket_migrate(b, SIZE_MAX);
	if (b->tab_size > SIZE_MAX / 2 / sizeof(*b->tab))
		return;
	key_slot *nt = calloc(b->tab_size * 2, sizeof(*nt));
	if (!nt)
		return;
	size_t start = 0;
	while (b->tab[start])
		start++;
	b->old = b->tab;
	b->old_size = b->tab_size;
	b->start = start;
	b->moved = b->released = 0;
	b->tab = nt;
	b->tab_size *= 2;
}

/* Whether the table takes one more key and keeps an empty slot: 3/4 full. */
static bool bucket_crowded(const struct store_bucket *b)
{
	return b->live + 1 > b->tab_size / 4 * 3;
}

static void account(struct store *s, struct store_bucket *b, int64_t delta)
{
	s->bytes += (uint64_t)delta;
	b->bytes += (uint64_t)delta;
}

struct store_entry *store_lookup(struct store *s, struct pkv_bytes bucket, struct pkv_bytes key,
				 bool create)
{
	if (key.len < 1 || key.len > PKV_MAX_KEY || !key.p)
		return NULL;
	struct store_bucket *b = store_bucket(s, bucket, create);
	if (!b)
		return NULL;
	bucket_migrate(b, MIGRATE_STEP);
	uint32_t h = key_hash(key);
	key_slot *hole;
	key_slot *found = slot_find(b, h, key, &hole);
	if (found)
		return slot_entry(s, *found);
	if (!create)
		return NULL;
	if (store_full(s)) {
		s->refused++;
		return NULL;
	}
	if (bucket_crowded(b)) {
		size_t size = b->tab_size;
		bucket_grow(b);
		if (b->tab_size != size)
			(void)probe(s, b->tab, b->tab_size, h, key, &hole);
		else if (b->live + 2 > b->tab_size)
			return NULL; /* no memory to grow, and one empty slot must stay */
	}
	bool reuse = b->nfree > 0;
	if (!reuse && (vec_room(&b->order, b->n, sizeof(uint32_t)) ||
		       vec_room(&s->entries, s->ne, sizeof(struct store_entry *))))
		return NULL;
	size_t cls = (key.len + 7u) / 8u;
	struct store_entry *e = s->free_ent[cls];
	if (e)
		memcpy(&s->free_ent[cls], (void *)e, sizeof(void *));
	else
		e = arena_alloc(s, sizeof(*e) + key.len);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e + 1, key.p, key.len);
	e->key = (struct pkv_bytes){ (const uint8_t *)(e + 1), key.len };
	e->accepted_bind = e->chosen_bind = &store_no_bindings;
	e->bucket = b;
	e->gen = s->gen_base + 1;
	uint32_t x;
	if (reuse) {
		/* A collected number of this bucket: its position comes with it. */
		x = b->free_slots[--b->nfree] + 1;
	} else {
		x = (uint32_t)s->ne + 1;
		*(uint32_t *)vec_at(&b->order, b->n++, sizeof(uint32_t)) = x - 1;
		s->ne++;
	}
	e->khash = h;
	*hole = (h & SLOT_TAG) | x;
	*(struct store_entry **)vec_at(&s->entries, x - 1, sizeof(e)) = e;
	s->nlive++;
	b->live++;
	account(s, b, key.len);
	return e;
}

void store_track_dirty(struct store *s, bool on)
{
	s->track = on;
	if (!on)
		store_dirty_reset(s);
}

/*
 * An acceptor's promise or accepted value, a proposer's round and an ended
 * generation must be on disk before a message revealing them leaves: urgent.
 * A learned chosen value need not be: a majority of acceptors holds it on
 * disk already, and a learner that forgets it learns it again.
 */
static int touch(struct store *s, struct store_entry *e, bool urgent)
{
	if (!s->track)
		return 0;
	s->urgent = s->urgent || urgent;
	if (e->dirty)
		return 0;
	if (grow_ptrs((void ***)&s->dirty, &s->dcap, s->nd + 1))
		return -ENOMEM;
	s->dirty[s->nd++] = e;
	e->dirty = true;
	return 0;
}

int store_touch(struct store *s, struct store_entry *e)
{
	return touch(s, e, true);
}

struct store_entry *const *store_dirty(const struct store *s, size_t *n, bool *urgent)
{
	*n = s->nd;
	*urgent = s->urgent;
	return s->dirty;
}

void store_dirty_reset(struct store *s)
{
	s->urgent = false;
	for (size_t i = 0; i < s->nd; i++)
		s->dirty[i]->dirty = false;
	s->nd = 0;
}

/* Adds (+1) or removes (-1) a chosen entry from its bucket's live counts and
 * from the store's count of entries bound to a pid or a node. */
static void count_chosen(struct store *s, const struct store_entry *e, int sign)
{
	struct store_bucket *b = e->bucket;
	if (!e->chosen)
		return;
	b->stats.chosen += (uint64_t)(int64_t)sign;
	for (unsigned f = 0; f < 4; f++)
		if (e->chosen_bind->mask & (1u << f))
			b->stats.bound[f] += (uint64_t)(int64_t)sign;
	if (e->chosen_bind->mask & (PKV_BIND_PID | PKV_BIND_NODE))
		s->bound_pid_node += (uint64_t)(int64_t)sign;
}

uint64_t store_bound_pid_node(const struct store *s)
{
	return s->bound_pid_node;
}

/*
 * Copies bindings (NULL or mask 0: none) into one allocation holding the
 * struct and its dependency key; none is the shared store_no_bindings.
 */
static int dup_bind(const struct pkv_bindings **dst, const struct pkv_bindings *src)
{
	if (!src || !(src->mask & PKV_BIND_ALL)) {
		*dst = &store_no_bindings;
		return 0;
	}
	uint32_t klen = (src->mask & PKV_BIND_KEY) ? src->key.len : 0;
	struct pkv_bindings *n = malloc(sizeof(*n) + klen);
	if (!n)
		return -ENOMEM;
	*n = *src;
	n->mask &= PKV_BIND_ALL;
	if (klen)
		memcpy(n + 1, src->key.p, klen);
	n->key = (struct pkv_bytes){ klen ? (const uint8_t *)(n + 1) : NULL, klen };
	*dst = n;
	return 0;
}

int store_set_accepted(struct store *s, struct store_entry *e, struct pkv_ballot b,
		       struct pkv_bytes value)
{
	return store_set_accepted_bound(s, e, b, value, NULL);
}

/*
 * Replaces one of an entry's (ballot, value, bindings) slots — the accepted
 * one or the chosen one — with copies; the entry is unchanged without memory.
 * A chosen value equal to the accepted value shares its buffer; replacing
 * the accepted value then hands the old buffer to the chosen slot (same
 * length, so it goes back to the right slab when the chosen slot frees it).
 */
static int set_slot(struct store *s, struct store_entry *e, bool chosen_slot, struct pkv_ballot b,
		    struct pkv_bytes value, const struct pkv_bindings *bind)
{
	const struct pkv_bindings *nb;
	struct pkv_bytes nv = { 0 };
	bool share = chosen_slot && e->has_accepted && pkv_bytes_eq(e->accepted_value, value);
	if (touch(s, e, !chosen_slot) || dup_bind(&nb, bind))
		return -ENOMEM;
	if (share) {
		nv = e->accepted_value;
	} else if (value_dup(s, &nv, value)) {
		bind_free(nb);
		return -ENOMEM;
	}
	if (chosen_slot) {
		count_chosen(s, e, -1);
		bind_free(e->chosen_bind);
		e->chosen_bind = nb;
		account(s, e->bucket, (int64_t)nv.len - (int64_t)e->chosen_value.len);
		if (!e->chosen_shared)
			value_free(s, e->chosen_value.p, e->chosen_value.len);
		e->chosen_value = nv;
		e->chosen_shared = share;
		e->chosen_ballot = b;
		e->chosen = true;
		count_chosen(s, e, +1);
	} else {
		bind_free(e->accepted_bind);
		e->accepted_bind = nb;
		account(s, e->bucket, (int64_t)nv.len - (int64_t)e->accepted_value.len);
		if (e->chosen_shared)
			e->chosen_shared = false; /* the old buffer is the chosen slot's now */
		else
			value_free(s, e->accepted_value.p, e->accepted_value.len);
		e->accepted_value = nv;
		e->accepted = b;
		e->has_accepted = true;
	}
	if (b.round > e->max_round)
		e->max_round = b.round;
	return 0;
}

int store_set_accepted_bound(struct store *s, struct store_entry *e, struct pkv_ballot b,
			     struct pkv_bytes value, const struct pkv_bindings *bind)
{
	return set_slot(s, e, false, b, value, bind);
}

int store_set_chosen(struct store *s, struct store_entry *e, struct pkv_ballot b,
		     struct pkv_bytes value)
{
	return store_set_chosen_bound(s, e, b, value, NULL);
}

int store_set_chosen_bound(struct store *s, struct store_entry *e, struct pkv_ballot b,
			   struct pkv_bytes value, const struct pkv_bindings *bind)
{
	return set_slot(s, e, true, b, value, bind);
}

bool store_erase(struct store *s, struct store_entry *e, uint64_t through)
{
	if (e->gen > through)
		return false;
	/* Without room in the dirty list the erasure still happens in memory: a
	 * restart from the log then brings back an ended generation, which
	 * the peers' ERASE retransmissions end again. */
	(void)store_touch(s, e);
	account(s, e->bucket, -(int64_t)e->accepted_value.len - (int64_t)e->chosen_value.len);
	count_chosen(s, e, -1);
	slots_free(s, e);
	e->accepted_value = e->chosen_value = (struct pkv_bytes){ 0 };
	e->accepted_bind = e->chosen_bind = &store_no_bindings;
	e->has_accepted = e->chosen = false;
	e->promised = e->accepted = e->chosen_ballot = (struct pkv_ballot){ 0 };
	e->gen = through + 1;
	return true;
}

void store_reset_entry(struct store *s, struct store_entry *e, uint64_t gen)
{
	store_erase(s, e, e->gen);
	e->gen = gen;
	e->max_round = 0;
}

void store_set_gen_base(struct store *s, uint64_t base)
{
	if (base > s->gen_base)
		s->gen_base = base;
}

struct store_entry *store_lookup_floor(struct store *s, struct pkv_bytes bucket, bool create)
{
	size_t max = s->max_entries;
	s->max_entries = 0;
	struct store_entry *e = store_lookup(
		s, (struct pkv_bytes){ (const uint8_t *)STORE_FLOOR_BUCKET, STORE_FLOOR_BUCKET_LEN },
		bucket, create);
	s->max_entries = max;
	return e;
}

uint64_t store_gen_base(const struct store *s)
{
	return s->gen_base;
}

void store_set_max_entries(struct store *s, size_t max)
{
	s->max_entries = max;
}

bool store_full(const struct store *s)
{
	return (s->max_entries && s->nlive >= s->max_entries) || s->ne >= SLOT_X - 1;
}

uint64_t store_refused(const struct store *s)
{
	return s->refused;
}

/*
 * Forgets an entry: out of its key table, a hole at its numbers (store-wide
 * and in its bucket) until the bucket's next new entry takes them, its room
 * to the next entry of its size. The caller (paxos-lifetimes.c) says when
 * that is safe; here only that nothing is left in it.
 */
int store_collect(struct store *s, struct store_entry *e)
{
	struct store_bucket *b = e->bucket;
	if (e->has_accepted || e->chosen || e->dirty)
		return -EBUSY;
	if (b->nfree == b->cap_free) {
		size_t cap = b->cap_free ? b->cap_free * 2 : 16;
		uint32_t *v = realloc(b->free_slots, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->free_slots = v;
		b->cap_free = cap;
	}
	bucket_migrate(b, MIGRATE_STEP);
	key_slot *sl = slot_find(b, e->khash, e->key, NULL);
	if (!sl || slot_entry(s, *sl) != e)
		return -ENOENT; /* not in its table: a broken store */
	uint32_t x = *sl & SLOT_X;
	if (sl >= b->tab && sl < b->tab + b->tab_size)
		slot_remove(s, b->tab, b->tab_size, sl);
	else
		slot_remove(s, b->old, b->old_size, sl);
	*(struct store_entry **)vec_at(&s->entries, x - 1, sizeof(e)) = NULL;
	b->free_slots[b->nfree++] = x - 1;
	b->live--;
	s->nlive--;
	s->collected++;
	account(s, b, -(int64_t)e->key.len);
	slots_free(s, e);
	size_t cls = (e->key.len + 7u) / 8u;
	memcpy((void *)e, &s->free_ent[cls], sizeof(void *));
	s->free_ent[cls] = e;
	return 0;
}
