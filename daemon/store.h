/* SPDX-License-Identifier: MIT */
/*
 * store.h — buckets → keys → per-key protocol state.
 *
 * The store is the memory of one daemon's Paxos roles: for every (bucket,
 * key) it holds the acceptor state (promise, accepted ballot + value), the
 * learner state (chosen value, if known), the key's generation and room for
 * lifetime bindings. It does no I/O and knows nothing about messages; the
 * rules that change the state live in paxos*.c.
 *
 * Buckets need no set-up: any name of 1..PKV_MAX_BUCKET bytes is created on
 * first use. Keys are byte strings of 1..PKV_MAX_KEY bytes, values of
 * 0..PKV_MAX_VALUE bytes; both may contain NUL.
 *
 * Ownership: the store owns every entry, bucket and byte string in it. A
 * pointer returned by a lookup stays valid until store_free() or until the
 * entry is collected (store_collect): entries and buckets are never moved
 * while the store lives (erasure leaves the entry in place as a tombstone:
 * no value, the generation bumped; only its collection ends it). Byte strings
 * inside an entry (value pointers) change when the entry is updated through
 * the setters below, so do not keep them across such a call.
 *
 * Iteration: entries are numbered in creation order, per bucket and over the
 * whole store. The number is a stable cursor for paging (KEYS and SYNC
 * replies): an entry keeps its numbers while it lives, so a cursor never
 * skips or repeats an entry that lives throughout the paging. A collected
 * tombstone (store_collect) leaves a hole that the next new entry of its
 * bucket fills; such a new entry may fall behind a cursor, as one made after
 * the paging would.
 */
#ifndef PKV_STORE_H
#define PKV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct store;
struct store_bucket;

/*
 * The reserved bucket (no client names a bucket that starts with NUL) whose
 * key B holds, as its generation, the floor of bucket B: the generation
 * below which every key of B that was collected had ended (docs/design.md
 * §4.6). An entry like any other, so the durable log and the restart sync
 * carry it.
 */
#define STORE_FLOOR_BUCKET "\0floor"
#define STORE_FLOOR_BUCKET_LEN 6u

/*
 * One key. Fields are read by paxos and written only through the functions
 * below. Memory per key matters (a daemon may hold millions), so entries and
 * their keys are packed back to back in large blocks (no per-entry malloc),
 * small values come from size-class slabs, bindings are out of line and
 * shared by every entry without any (`store_no_bindings`), and a chosen value
 * equal to the accepted one shares its buffer.
 */
struct store_entry {
	struct store_bucket *bucket; /* owning bucket */
	struct pkv_bytes key;	     /* right after the entry, same block */
	uint64_t gen;		     /* lifetime generation; 1 for the first */

	/* Acceptor. */
	struct pkv_ballot promised; /* highest prepare answered (or accept taken) */
	struct pkv_ballot accepted; /* ballot of the accepted value; zero: none */
	struct pkv_bytes accepted_value;
	const struct pkv_bindings *accepted_bind; /* never NULL */

	/* Learner. */
	struct pkv_ballot chosen_ballot;
	struct pkv_bytes chosen_value;
	const struct pkv_bindings *chosen_bind; /* never NULL; ->until for the cache */

	/* Proposer: highest round seen in any message about this key. */
	uint64_t max_round;

	/*
	 * Generations: `gen` is the live one. Every generation below it has
	 * ended (erased); a tombstone is an entry with gen > 1 and no value.
	 */

	uint32_t khash; /* private to store.c: the key's hash in its key table */
	bool has_accepted : 1;
	bool chosen : 1;
	bool dirty : 1;		/* private: in the store's dirty list */
	bool chosen_shared : 1; /* private: chosen_value.p is accepted_value.p */
	bool gc_queued : 1;	/* paxos-lifetimes.c: waits in the collection queue */
	bool gc_again : 1;	/* paxos-lifetimes.c: its fan-out ended again since */
	bool rejudge : 1;	/* paxos-lifetimes.c: learned while a peer it names was lost */
};

/* The bindings of every value bound to nothing (mask 0). */
extern const struct pkv_bindings store_no_bindings;

/*
 * Dirty tracking, for the durable acceptor log (durable.h). With tracking on,
 * every change to an entry's persistent state — the setters and
 * store_erase() below, and store_touch() for the fields paxos writes itself
 * (promised, max_round, gen) — puts the entry once in the dirty list; the
 * loop writes those entries to the log and syncs it before any reply of the
 * turn leaves, then resets the list. Off (the default), nothing is kept.
 */
void store_track_dirty(struct store *s, bool on);
/* Marks an entry changed; returns -ENOMEM when the list cannot grow (the
 * caller must then not answer: the change would not reach the disk). */
int store_touch(struct store *s, struct store_entry *e);
/*
 * The entries changed since the last reset, each once, in first-change order.
 * *urgent is false when every change was a learned chosen value, which need
 * not be synced before the turn's messages leave (store.c says why).
 */
struct store_entry *const *store_dirty(const struct store *s, size_t *n, bool *urgent);
void store_dirty_reset(struct store *s);

/*
 * A cap on entries (keys of every bucket, tombstones included; 0: none, the
 * default). At the cap store_lookup() creates nothing and returns NULL, as
 * without memory; store_full() tells the two apart, store_refused() counts.
 * The store's own cap, 2^27 - 2 entry numbers (store.c, key tables), counts
 * as full too, whatever the cap set here.
 */
/* Chosen entries whose bindings include a pid or a node: what a sweep after
 * a peer's loss or a process's exit has to look at. */
uint64_t store_bound_pid_node(const struct store *s);

void store_set_max_entries(struct store *s, size_t max);
/*
 * The generation an entry created from now on starts at: base + 1 (base 0
 * at first). A new epoch raises it so that a fencing token never repeats
 * (docs/design.md §6.1). Entries that exist keep their generation.
 */
void store_set_gen_base(struct store *s, uint64_t base);
bool store_full(const struct store *s);
/* The entry of STORE_FLOOR_BUCKET named `bucket` (made with create, over
 * the key cap: a floor is made to collect an entry), or NULL. */
struct store_entry *store_lookup_floor(struct store *s, struct pkv_bytes bucket, bool create);
/* The base set above: a new entry's generation is this + 1. */
uint64_t store_gen_base(const struct store *s);
uint64_t store_refused(const struct store *s);

/* Returns a new, empty store, or NULL when out of memory. */
struct store *store_new(void);
/* Frees the store and everything in it; NULL is ignored. */
void store_free(struct store *s);

/* True when the name is a valid bucket name (1..PKV_MAX_BUCKET bytes). */
bool store_bucket_name_ok(struct pkv_bytes name);

/*
 * Finds the bucket with this name; with create, makes it when missing.
 * Returns NULL when missing (and !create), on an invalid name, or when out
 * of memory.
 */
struct store_bucket *store_bucket(struct store *s, struct pkv_bytes name, bool create);
struct pkv_bytes store_bucket_name(const struct store_bucket *b);
/* Number of entries in the bucket (including ones with no value yet, and
 * tombstones not collected yet). */
size_t store_bucket_nkeys(const struct store_bucket *b);
/* Positions of the bucket's order: store_bucket_entry_at() below this is
 * an entry or NULL (a hole left by store_collect). */
size_t store_bucket_nslots(const struct store_bucket *b);
/* Bytes of keys and values (accepted + chosen) held for the bucket. */
uint64_t store_bucket_bytes(const struct store_bucket *b);
/* The entry at position i of the bucket (creation order), NULL past the end
 * or at a hole. */
struct store_entry *store_bucket_entry_at(const struct store_bucket *b, size_t i);

/* Request counters of a bucket, kept by paxos-req.c. */
struct store_bucket_stats {
	uint64_t puts, gets; /* requests taken here */
	uint64_t erasures;   /* key generations of the bucket ended here */
	/* Kept by the store: chosen entries of the live generation, and of those
	 * the ones bound by pid, node, key and until (bit order of the
	 * PKV_BIND_* flags); a key can count under several lifetimes. */
	uint64_t chosen, bound[4];
};
struct store_bucket_stats *store_bucket_stats(struct store_bucket *b);

/* Number of buckets, and the i-th in creation order (NULL past the end). */
size_t store_nbuckets(const struct store *s);
struct store_bucket *store_bucket_at(const struct store *s, size_t i);

/* Number of entries in the store (tombstones not collected included). */
size_t store_nentries(const struct store *s);
/* Store-wide numbers in use: store_entry_at(i) below this is the entry of
 * number i, or NULL for a hole that store_collect left. */
size_t store_nslots(const struct store *s);
struct store_entry *store_entry_at(const struct store *s, size_t i);
/* Entries collected since the store was made. */
uint64_t store_collected(const struct store *s);
/*
 * Forgets e for good (a tombstone whose collection rule holds: see
 * docs/design.md §4.6): its memory and its numbers go to the next entries
 * of its size and of its bucket. e must hold no value and not be in the
 * dirty list (-EBUSY); -ENOMEM leaves it in place. Every pointer to e is
 * dead afterwards: the caller makes sure none is kept.
 */
int store_collect(struct store *s, struct store_entry *e);
/* Total bytes of keys and values held. */
uint64_t store_bytes(const struct store *s);

/*
 * Finds the entry for (bucket, key). With create, makes the bucket and the
 * entry (generation 1, no promise, nothing accepted or chosen) when missing.
 * Returns NULL when missing (and !create), when the bucket name or key is
 * out of limits (empty or too long), or when out of memory.
 */
struct store_entry *store_lookup(struct store *s, struct pkv_bytes bucket, struct pkv_bytes key,
				 bool create);

/* Copies value in as the accepted value at ballot b. 0 or -ENOMEM (unchanged). */
int store_set_accepted(struct store *s, struct store_entry *e, struct pkv_ballot b,
		       struct pkv_bytes value);
/* Copies value in as the chosen value at ballot b. 0 or -ENOMEM (unchanged). */
int store_set_chosen(struct store *s, struct store_entry *e, struct pkv_ballot b,
		     struct pkv_bytes value);
/* The same with bindings (copied; NULL: none). 0 or -ENOMEM (unchanged). */
int store_set_accepted_bound(struct store *s, struct store_entry *e, struct pkv_ballot b,
			     struct pkv_bytes value, const struct pkv_bindings *bind);
int store_set_chosen_bound(struct store *s, struct store_entry *e, struct pkv_ballot b,
			   struct pkv_bytes value, const struct pkv_bindings *bind);
/*
 * Ends every generation <= through: when e->gen <= through, forgets the
 * promise, the accepted and the chosen value with their bindings, and sets
 * gen = through + 1 (the next lifetime starts with a fresh instance). The
 * highest round seen is kept. Returns true when something ended.
 */
bool store_erase(struct store *s, struct store_entry *e, uint64_t through);
/* Empties every slot of e (as store_erase does) and sets its generation:
 * for restoring saved state over what an earlier record of the key said. */
void store_reset_entry(struct store *s, struct store_entry *e, uint64_t gen);

/* True when the entry has a value a reader could see (accepted or chosen). */
static inline bool store_entry_has_value(const struct store_entry *e)
{
	return e->has_accepted || e->chosen;
}

/* Byte-string equality (length and contents). */
static inline bool pkv_bytes_eq(struct pkv_bytes a, struct pkv_bytes b)
{
	if (a.len != b.len)
		return false;
	for (uint32_t i = 0; i < a.len; i++)
		if (a.p[i] != b.p[i])
			return false;
	return true;
}

#endif
