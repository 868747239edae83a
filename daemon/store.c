// SPDX-License-Identifier: MIT
/*
 * store.c — buckets and key tables (see store.h).
 *
 * Two levels of chained hash tables: the store maps bucket names to buckets,
 * and each bucket maps keys to entries. Besides the hash chains, entries and
 * buckets are kept in creation-ordered pointer arrays, which are the stable
 * cursors used for paging.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct store_bucket {
	struct pkv_bytes name; /* owned */
	uint64_t hash;
	struct store_bucket *hnext;
	struct store_entry **tab; /* hash chains */
	size_t tab_size;	  /* power of two */
	struct store_entry **order;
	size_t n, cap;
	uint64_t bytes;
	struct store_bucket_stats stats;
};

struct store {
	struct store_bucket **tab;
	size_t tab_size;
	struct store_bucket **order;
	size_t nb, bcap;
	struct store_entry **entries;
	size_t ne, ecap;
	uint64_t bytes;
	uint64_t bound_pid_node; /* chosen entries bound to a pid or a node */
	size_t max_entries; /* 0: no limit */
	uint64_t refused;   /* entries not created for the limit */
	bool track, urgent;
	struct store_entry **dirty;
	size_t nd, dcap;
};

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

static int dup_bytes(struct pkv_bytes *dst, struct pkv_bytes src)
{
	uint8_t *p = NULL;
	if (src.len) {
		p = malloc(src.len);
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
static void slots_free(struct store_entry *e)
{
	if (!e->chosen_shared)
		free((void *)e->chosen_value.p);
	free((void *)e->accepted_value.p);
	bind_free(e->accepted_bind);
	bind_free(e->chosen_bind);
	e->chosen_shared = false;
}

static void entry_free(struct store_entry *e)
{
	slots_free(e);
	free(e);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ne; i++)
		entry_free(s->entries[i]);
	for (size_t i = 0; i < s->nb; i++) {
		struct store_bucket *b = s->order[i];
		free((void *)b->name.p);
		free(b->tab);
		free(b->order);
		free(b);
	}
	free(s->entries);
	free(s->dirty);
	free(s->order);
	free(s->tab);
	free(s);
}

bool store_bucket_name_ok(struct pkv_bytes name)
{
	return name.len >= 1 && name.len <= PKV_MAX_BUCKET && name.p;
}

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
	if (!b->tab || dup_bytes(&b->name, name)) {
		free(b->tab);
		free(b);
		return NULL;
	}
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
	return b->n;
}

uint64_t store_bucket_bytes(const struct store_bucket *b)
{
	return b->bytes;
}

struct store_entry *store_bucket_entry_at(const struct store_bucket *b, size_t i)
{
	return i < b->n ? b->order[i] : NULL;
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
	return s->ne;
}

struct store_entry *store_entry_at(const struct store *s, size_t i)
{
	return i < s->ne ? s->entries[i] : NULL;
}

uint64_t store_bytes(const struct store *s)
{
	return s->bytes;
}

static void bucket_rehash(struct store_bucket *b)
{
	size_t nsize = b->tab_size * 2;
	struct store_entry **nt = calloc(nsize, sizeof(*nt));
	if (!nt)
		return;
	for (size_t i = 0; i < b->n; i++) {
		struct store_entry *e = b->order[i];
		size_t h = e->hash & (nsize - 1);
		e->hnext = nt[h];
		nt[h] = e;
	}
	free(b->tab);
	b->tab = nt;
	b->tab_size = nsize;
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
	uint64_t h = hash_bytes(FNV_BASIS, key);
	for (struct store_entry *e = b->tab[h & (b->tab_size - 1)]; e; e = e->hnext)
		if (e->hash == h && pkv_bytes_eq(e->key, key))
			return e;
	if (!create)
		return NULL;
	if (store_full(s)) {
		s->refused++;
		return NULL;
	}
	if (grow_ptrs((void ***)&b->order, &b->cap, b->n + 1) ||
	    grow_ptrs((void ***)&s->entries, &s->ecap, s->ne + 1))
		return NULL;
	struct store_entry *e = calloc(1, sizeof(*e) + key.len);
	if (!e)
		return NULL;
	memcpy(e + 1, key.p, key.len);
	e->key = (struct pkv_bytes){ (const uint8_t *)(e + 1), key.len };
	e->accepted_bind = e->chosen_bind = &store_no_bindings;
	e->bucket = b;
	e->gen = 1;
	e->hash = h;
	size_t slot = h & (b->tab_size - 1);
	e->hnext = b->tab[slot];
	b->tab[slot] = e;
	b->order[b->n++] = e;
	e->gidx = (uint32_t)s->ne;
	s->entries[s->ne++] = e;
	account(s, b, key.len);
	if (b->n > b->tab_size)
		bucket_rehash(b);
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
 * the accepted value then hands the old buffer to the chosen slot.
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
	} else if (dup_bytes(&nv, value)) {
		bind_free(nb);
		return -ENOMEM;
	}
	if (chosen_slot) {
		count_chosen(s, e, -1);
		bind_free(e->chosen_bind);
		e->chosen_bind = nb;
		account(s, e->bucket, (int64_t)nv.len - (int64_t)e->chosen_value.len);
		if (!e->chosen_shared)
			free((void *)e->chosen_value.p);
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
			free((void *)e->accepted_value.p);
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
	slots_free(e);
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

void store_set_max_entries(struct store *s, size_t max)
{
	s->max_entries = max;
}

bool store_full(const struct store *s)
{
	return s->max_entries && s->ne >= s->max_entries;
}

uint64_t store_refused(const struct store *s)
{
	return s->refused;
}
