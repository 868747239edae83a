// SPDX-License-Identifier: MIT
/*
 * paxos-lifetimes.c — the learner and the lifetimes of chosen values:
 * bindings (pid, node, key, until) and when they end, the watches of local
 * processes, the erasure of a key generation and its fan-out to every
 * daemon, and the until expiry heap.
 *
 * Erasing acceptor state is outside plain Paxos. What keeps it safe: a key's
 * life has a generation, and a message of an older generation is ignored
 * (acceptor_gen_ok) while one of a newer generation ends the older ones
 * here; knowledge that a binding ended only grows (lifetimes_binding_dead),
 * so an erasure is never undone; and every daemon that erases tells every
 * other one until each acknowledged (the fan-out), so a lifetime ends once,
 * cluster-wide.
 */
#include "paxos-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- bindings: what this daemon knows has ended ------------------------ */

uint64_t lifetimes_wall_ms(const struct paxos *p, uint64_t now)
{
	int64_t w = (int64_t)now + p->wall_off_us;
	return w > 0 ? (uint64_t)w / 1000 : 0;
}

/*
 * docs/design.md §5.2: only a pair with a voter in it watches each other.
 * An observer does not judge another observer's connectivity (they send
 * each other no heartbeats); the voters do, and their erasures reach it.
 */
bool lifetimes_peer_judged(const struct paxos *p, uint32_t n)
{
	return is_voter(p, p->cfg.self) || is_voter(p, n);
}

/* A disconnect is only news for a peer that was connected since we started. */
static bool peer_lost(const struct paxos *p, uint32_t n)
{
	if (n == p->cfg.self)
		return false;
	if (n == 0 || n > PKV_MAX_NODES || !p->peers[n].configured)
		return true;
	if (!lifetimes_peer_judged(p, n))
		return false;
	return p->peers[n].seen_up && !p->peers[n].connected;
}

/*
 * When the loss of peer n counts as seen, for a binding this daemon came to
 * know at `since` (0: before any loss; docs/design.md §4.2, "A loss seen
 * before the binding"). A loss seen before the binding was known here may
 * be this daemon's own isolation, not the peer's: the binding is judged as
 * if the failure detector had started watching the peer at its learning,
 * so the loss counts from a failure timeout after it (the peer is heard
 * again by then if it lives). A loss seen after it counts as it was seen.
 */
static uint64_t loss_seen(const struct paxos *p, uint32_t n, uint64_t since)
{
	uint64_t down = n >= 1 && n <= PKV_MAX_NODES ? p->peers[n].down_at : 0;
	if (PKV_PAXOS_BROKEN_STALE_LOSS || !since || down >= since)
		return down;
	return since + p->cfg.failure_timeout_us;
}

/*
 * A lost owner's pid bindings hold for the restart grace after the loss:
 * time for it to come back and take them back (docs/design.md §6.2). Ending
 * them later than the failure detector does keeps the lease (§5.1), which
 * only needs them not to end earlier.
 */
static bool owner_gone(const struct paxos *p, uint32_t n, uint64_t since, uint64_t now)
{
	if (!peer_lost(p, n))
		return false;
	if (n == 0 || n > PKV_MAX_NODES || !p->peers[n].configured || PKV_PAXOS_BROKEN_GRACE)
		return true;
	uint64_t seen = loss_seen(p, n, since);
	return now >= seen && now - seen >= p->cfg.restart_grace_us;
}

static bool node_gone(const struct paxos *p, uint32_t n, uint64_t since, uint64_t now)
{
	return peer_lost(p, n) && now >= loss_seen(p, n, since);
}

static bool pid_exited(const struct paxos *p, int32_t pid, uint64_t start_time)
{
	for (size_t i = 0; i < p->n_exited; i++)
		if (p->exited[i].pid == pid && p->exited[i].start_time == start_time)
			return true;
	return false;
}

bool lifetimes_own_pid(const struct paxos *p, const struct pkv_bindings *b)
{
	return (b->mask & PKV_BIND_PID) && b->owner == p->cfg.self &&
	       b->owner_inc == p->cfg.bind_inc;
}

/*
 * True when, as far as this daemon knows, one of the bindings has ended.
 * Knowledge only grows (exits, disconnects seen, clock, erased generations),
 * which is what makes erasure monotone. A key binding with key_gen 0 is not
 * resolved yet and counts as alive. `since`: when the bindings became known
 * here, for a value learned while a peer they name counted lost (loss_seen);
 * 0 for any other.
 */
bool lifetimes_binding_dead_since(struct paxos *p, const struct pkv_bindings *b,
				  struct pkv_bytes bucket, uint64_t since, uint64_t now)
{
	if (!b)
		return false;
	if (b->mask & PKV_BIND_PID) {
		if (b->owner == p->cfg.self) {
			/* Ours, or our predecessor's taken back (cfg.bind_inc): watched. */
			if (b->owner_inc != p->cfg.bind_inc || pid_exited(p, b->pid, b->start_time))
				return true;
		} else {
			const struct peer *pe = b->owner >= 1 && b->owner <= PKV_MAX_NODES
							? &p->peers[b->owner]
							: NULL;
			/*
			 * An incarnation of the owner newer than the one this
			 * daemon lost is not the one it lost: a loss ends the
			 * bindings of the incarnations heard before it (§4.2).
			 * A loss of an incarnation never told (0) ends them all.
			 */
			bool unheard = !PKV_PAXOS_BROKEN_STALE_LOSS && pe && pe->configured &&
				       pe->lost_inc && b->owner_inc > pe->lost_inc;
			if (!unheard && owner_gone(p, b->owner, since, now))
				return true;
			/* The owner restarted and did not take them back: its watches are gone. */
			if (pe && pe->bind_inc && b->owner_inc < pe->bind_inc)
				return true;
			if (PKV_PAXOS_BROKEN_GRACE && pe && pe->inc && b->owner_inc < pe->inc)
				return true; /* TEST ONLY: a restart ends them, taken back or not */
		}
	}
	if ((b->mask & PKV_BIND_NODE) && node_gone(p, b->node, since, now))
		return true;
	if ((b->mask & PKV_BIND_UNTIL) && p->wall_set && lifetimes_wall_ms(p, now) >= b->until)
		return true;
	if ((b->mask & PKV_BIND_KEY) && b->key_gen) {
		struct store_entry *d = store_lookup(p->store, bucket, b->key, false);
		if (d && d->gen > b->key_gen)
			return true;
	}
	return false;
}

bool lifetimes_binding_dead(struct paxos *p, const struct pkv_bindings *b, struct pkv_bytes bucket,
			    uint64_t now)
{
	return lifetimes_binding_dead_since(p, b, bucket, 0, now);
}

/* A peer the bindings name (owner of a pid, a node) counts lost here now. */
static bool names_lost_peer(const struct paxos *p, const struct pkv_bindings *b)
{
	if (!b)
		return false;
	if ((b->mask & PKV_BIND_PID) && b->owner != p->cfg.self && peer_lost(p, b->owner))
		return true;
	return (b->mask & PKV_BIND_NODE) && peer_lost(p, b->node);
}

/* ---- values learned while a peer they name counted lost ---------------- */

static struct rejudge *rejudge_find(struct paxos *p, const struct store_entry *e)
{
	for (size_t i = 0; i < p->n_rejudge; i++)
		if (p->rejudge[i].e == e)
			return &p->rejudge[i];
	return NULL;
}

static void rejudge_drop(struct paxos *p, struct rejudge *r)
{
	r->e->rejudge = false;
	*r = p->rejudge[--p->n_rejudge];
	p->stats.rejudge_waiting = p->n_rejudge;
}

/*
 * e's chosen value was just learned: when a peer its bindings name counts
 * lost now, it is judged from now on (loss_seen) until the loss counts as
 * any other would, and looked at again then (lifetimes_rejudge_tick).
 */
static void rejudge_note(struct paxos *p, struct store_entry *e, uint64_t now)
{
	const struct pkv_bindings *b = e->chosen_bind;
	if (PKV_PAXOS_BROKEN_STALE_LOSS || e->rejudge || !names_lost_peer(p, b))
		return;
	/* Bounded (a lookup walks the list): past it, judged as before. */
	if (p->n_rejudge >= PAXOS_REJUDGE_MAX) {
		p->stats.rejudge_full++;
		return;
	}
	struct rejudge *v = paxos_grow(p->rejudge, &p->cap_rejudge, p->n_rejudge, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return; /* judged as before: ended now if the old loss says so */
	}
	p->rejudge = v;
	uint64_t at = now + p->cfg.failure_timeout_us;
	if (b->mask & PKV_BIND_PID)
		at += p->cfg.restart_grace_us;
	v[p->n_rejudge++] = (struct rejudge){ .e = e, .gen = e->gen, .since = now, .at = at };
	p->stats.learned_in_loss++;
	p->stats.rejudge_waiting = p->n_rejudge;
	if (at < p->rejudge_next)
		p->rejudge_next = at;
	e->rejudge = true;
}

/* When e's bindings became known here, for lifetimes_binding_dead_since. */
static uint64_t entry_since(struct paxos *p, const struct store_entry *e)
{
	if (!e->rejudge)
		return 0;
	const struct rejudge *r = rejudge_find(p, e);
	return r ? r->since : 0;
}

uint64_t lifetimes_rejudge_next(const struct paxos *p)
{
	return p->rejudge_next;
}

/*
 * The values whose learning's failure timeout (and grace) is over: judged
 * as any other from now on. One at a time, since a check's erasure (and
 * its cascade) may drop others from the list.
 */
void lifetimes_rejudge_tick(struct paxos *p, uint64_t now)
{
	if (p->rejudge_next > now)
		return;
	for (;;) {
		size_t i = 0;
		while (i < p->n_rejudge && p->rejudge[i].at > now)
			i++;
		if (i == p->n_rejudge)
			break;
		struct store_entry *e = p->rejudge[i].e;
		bool live = e->gen == p->rejudge[i].gen && e->chosen;
		rejudge_drop(p, &p->rejudge[i]);
		if (live)
			lifetimes_check_entry(p, e, now);
	}
	p->rejudge_next = UINT64_MAX;
	for (size_t i = 0; i < p->n_rejudge; i++)
		if (p->rejudge[i].at < p->rejudge_next)
			p->rejudge_next = p->rejudge[i].at;
}

/* ---- watches, erasure, fan-out, expiry --------------------------------- */

static void push_watch(struct paxos *p, int32_t pid, uint64_t start_time, bool watch)
{
	struct paxos_watch *v = paxos_grow(p->watches, &p->cap_watches, p->n_watches, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->watches = v;
	v[p->n_watches++] = (struct paxos_watch){ .pid = pid, .start_time = start_time,
						  .watch = watch };
}

/* Drops wrefs[i] (its entry list too), keeping the array dense. */
static void wref_drop(struct paxos *p, size_t i)
{
	free(p->wrefs[i].ents);
	p->wrefs[i] = p->wrefs[--p->n_wrefs];
}

/*
 * Counts the live keys bound to a local process; watch on 0 → 1, unwatch on
 * 1 → 0. +1: entry e's chosen value is bound to the process; -1: no longer
 * (e unused).
 */
static void watch_ref(struct paxos *p, int32_t pid, uint64_t start_time, int delta,
		      struct store_entry *e)
{
	size_t i;
	for (i = 0; i < p->n_wrefs; i++)
		if (p->wrefs[i].pid == pid && p->wrefs[i].start_time == start_time)
			break;
	if (delta > 0) {
		if (i == p->n_wrefs) {
			struct wref *v =
				paxos_grow(p->wrefs, &p->cap_wrefs, p->n_wrefs, sizeof(*v));
			if (!v) {
				p->oom = -ENOMEM;
				p->wrefs_incomplete = true; /* exits walk the store */
				return;
			}
			p->wrefs = v;
			v[p->n_wrefs++] = (struct wref){ .pid = pid, .start_time = start_time };
		}
		struct wref *w = &p->wrefs[i];
		if (w->n_ents != SIZE_MAX) {
			struct store_entry **ents =
				paxos_grow(w->ents, &w->cap_ents, w->n_ents, sizeof(*ents));
			if (!ents) {
				p->oom = -ENOMEM;
				w->n_ents = SIZE_MAX; /* incomplete: the exit walks the store */
			} else {
				w->ents = ents;
				w->ents[w->n_ents++] = e;
			}
		}
		if (w->refs++ == 0)
			push_watch(p, pid, start_time, true);
		return;
	}
	if (i == p->n_wrefs || --p->wrefs[i].refs)
		return;
	wref_drop(p, i);
	push_watch(p, pid, start_time, false);
}

static void push_erased(struct paxos *p, struct store_entry *e, uint64_t gen, bool unseen)
{
	struct paxos_erased *v = paxos_grow(p->erased, &p->cap_erased, p->n_erased, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->erased = v;
	v[p->n_erased++] = (struct paxos_erased){ .e = e, .gen = gen, .unseen = unseen };
}

static void uheap_push(struct paxos *p, uint64_t until, struct store_entry *e, uint64_t gen)
{
	struct uexp *v = paxos_grow(p->uheap, &p->cap_uheap, p->n_uheap, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return;
	}
	p->uheap = v;
	size_t i = p->n_uheap++;
	while (i) {
		size_t up = (i - 1) / 2;
		if (v[up].until <= until)
			break;
		v[i] = v[up];
		i = up;
	}
	v[i] = (struct uexp){ .until = until, .e = e, .gen = gen };
}

static void uheap_pop(struct paxos *p)
{
	struct uexp *v = p->uheap;
	struct uexp last = v[--p->n_uheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->n_uheap)
			break;
		if (c + 1 < p->n_uheap && v[c + 1].until < v[c].until)
			c++;
		if (v[c].until >= last.until)
			break;
		v[i] = v[c];
		i = c;
	}
	if (p->n_uheap)
		v[i] = last;
}

/*
 * The daemons an erasure must reach before its tombstone is forgotten: the
 * voters and any other node that was ever up. Dev
 * numbering configures nodes 1..9 for a cluster of 3 so that it can grow;
 * waiting for nodes that never ran kept every tombstone (and its ERASE
 * retransmissions) forever. A node that joins later is fresh and copies
 * the tombstones when it syncs.
 */
static uint64_t all_nodes_mask(const struct paxos *p)
{
	uint64_t m = self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (is_voter(p, n) || p->peers[n].seen_up)
			m |= BIT(n);
	}
	return m;
}

void lifetimes_fanout_send(struct paxos *p, struct fanout *f, uint64_t now)
{
	struct pkv_msg m = {
		.type = PKV_MSG_ERASE,
		.bucket = store_bucket_name(f->e->bucket),
		.key = f->e->key,
		.gen = f->gen,
	};
	uint64_t to = all_nodes_mask(p) & ~f->acked & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (!(to & BIT(n)))
			continue;
		paxos_send(p, n, &m);
		p->stats.erase_sent++;
	}
	f->next_at = now + p->cfg.retransmit_us;
}

/*
 * Counts, per node, the fan-outs it has not acknowledged: +1 or -1 for each
 * node missing from `acked` (paxos_erase_owed; docs/design.md §5.1).
 */
static void owed_count(struct paxos *p, uint64_t acked, int delta)
{
	for (uint64_t m = ~acked; m; m &= m - 1) {
		unsigned n = (unsigned)__builtin_ctzll(m) + 1u;
		p->erase_owed[n] = (uint32_t)((int64_t)p->erase_owed[n] + delta);
	}
}

static struct fanout *fanout_find(struct paxos *p, const struct store_entry *e)
{
	for (size_t i = 0; i < p->n_fanout; i++)
		if (p->fanout[i].e == e)
			return &p->fanout[i];
	return NULL;
}

static void gc_enqueue(struct paxos *p, struct store_entry *e, uint64_t now);

/* Forget the fan-out once every node acknowledged; the tombstone then waits
 * for its collection (§4.6). */
static void fanout_maybe_done(struct paxos *p, struct fanout *f, uint64_t now)
{
	if ((f->acked & all_nodes_mask(p)) != all_nodes_mask(p))
		return;
	struct store_entry *e = f->e;
	owed_count(p, f->acked, -1);
	*f = p->fanout[--p->n_fanout];
	p->stats.tombstones_pending = p->n_fanout;
	gc_enqueue(p, e, now);
}

/*
 * Every daemon that erases tells every other one, until each acknowledged
 * (or itself said so with an ERASE): if the first daemon died right after
 * erasing, the others still spread it.
 */
void lifetimes_fanout_add(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
			  uint64_t now)
{
	if (is_floor_bucket(store_bucket_name(e->bucket)))
		return; /* a floor is no erasure: nobody is told (§4.6) */
	struct fanout *f = fanout_find(p, e);
	if (!f) {
		struct fanout *v = paxos_grow(p->fanout, &p->cap_fanout, p->n_fanout, sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->fanout = v;
		f = &v[p->n_fanout++];
		f->e = e;
		f->gen = 0;
		f->acked = ~UINT64_C(0); /* counted below */
	}
	if (gen >= f->gen) {
		owed_count(p, f->acked, -1);
		f->gen = gen;
		f->acked = self_bit(p) | (from ? BIT(from) : 0);
		owed_count(p, f->acked, +1);
	}
	p->stats.tombstones_pending = p->n_fanout;
	lifetimes_fanout_send(p, f, now);
	fanout_maybe_done(p, f, now);
}

void lifetimes_fanout_ack(struct paxos *p, struct store_entry *e, uint64_t gen, uint32_t from,
			  uint64_t now)
{
	struct fanout *f = fanout_find(p, e);
	if (!f || gen < f->gen)
		return;
	if (!(f->acked & BIT(from)))
		p->erase_owed[from]--;
	f->acked |= BIT(from);
	fanout_maybe_done(p, f, now);
}

static void cascade(struct paxos *p, struct store_entry *e, uint64_t now);

/*
 * Ends every generation <= through of the key here: forgets its acceptor
 * and learner state (store_erase), stops a watch, reports it (paxos_erased),
 * spreads it (ERASE), restarts the requests on the key in the next
 * generation, and erases the keys bound to it (cascade). `from`: the node
 * that told us (it needs no ERASE), 0: ourselves.
 */
void lifetimes_erase(struct paxos *p, struct store_entry *e, uint64_t through, uint32_t from,
		     uint64_t now)
{
	if (e->gen > through)
		return;
	if (is_floor_bucket(store_bucket_name(e->bucket))) {
		/* A floor only rises (a sync, a restart's log): no lifetime ends. */
		store_erase(p->store, e, through);
		return;
	}
	bool watched = e->chosen && lifetimes_own_pid(p, e->chosen_bind);
	int32_t pid = e->chosen_bind->pid;
	uint64_t st = e->chosen_bind->start_time;
	/*
	 * An entry that holds nothing, ended below its bucket's floor: every
	 * lifetime it ends ended before, and was collected (or never began),
	 * and a daemon that held one told its watchers then (§4.6). Its end
	 * still resolves a client's doubt, but no watcher hears of it.
	 */
	bool unseen = lifetimes_holds_nothing(e) &&
		      through < lifetimes_floor(p, store_bucket_name(e->bucket));
	if (e->rejudge) {
		struct rejudge *r = rejudge_find(p, e);
		if (r)
			rejudge_drop(p, r);
		e->rejudge = false;
	}
	store_erase(p->store, e, through);
	if (watched)
		watch_ref(p, pid, st, -1, NULL);
	push_erased(p, e, through, unseen);
	p->stats.erasures++;
	store_bucket_stats(e->bucket)->erasures++;
	lifetimes_fanout_add(p, e, through, from, now);
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state != PAXOS_ST_DONE && r->kind != PAXOS_REQ_KEYS && req_is_key(r, e))
			proposer_dispatch(p, r, PAXOS_EV_ERASED, 0, NULL, now);
	cascade(p, e, now);
}

/*
 * A bare entry moved up to its bucket's floor by a floor put (§4.6): no
 * lifetime of it held anything, but a key bound to one of its generations
 * below has ended with them.
 */
void lifetimes_moved_to_floor(struct paxos *p, struct store_entry *e, uint64_t now)
{
	cascade(p, e, now);
}

/* Key bindings: every key of the bucket bound to an ended generation of e's key. */
static void cascade(struct paxos *p, struct store_entry *e, uint64_t now)
{
	struct store_bucket *b = e->bucket;
	/*
	 * The walk is O(keys of the bucket), once per erasure: with a quarter
	 * of a million keys that is about 15 ms of the loop for every ended
	 * lifetime. The store counts the bucket's chosen entries bound to a
	 * key (bound[] is indexed by the PKV_BIND_* bit), so a bucket without any is not
	 * walked.
	 */
	if (store_bucket_stats(b)->bound[__builtin_ctz(PKV_BIND_KEY)] == 0)
		return;
	for (size_t i = 0; i < store_bucket_nslots(b); i++) {
		struct store_entry *d = store_bucket_entry_at(b, i);
		if (!d)
			continue;
		const struct pkv_bindings *db = d->chosen_bind;
		if (d != e && d->chosen && (db->mask & PKV_BIND_KEY) && db->key_gen < e->gen &&
		    pkv_bytes_eq(db->key, e->key))
			lifetimes_erase(p, d, d->gen, 0, now);
	}
}

/* A learned value whose binding is known to have ended ends its generation. */
bool lifetimes_check_entry(struct paxos *p, struct store_entry *e, uint64_t now)
{
	if (!e->chosen || !lifetimes_binding_dead_since(p, bind_or_null(e->chosen_bind),
							store_bucket_name(e->bucket),
							entry_since(p, e), now))
		return true;
	lifetimes_erase(p, e, e->gen, 0, now);
	return false;
}

/* After news (a disconnect, a restart, an exit): erase what it ended. */
void lifetimes_sweep(struct paxos *p, uint64_t now)
{
	/* The walk is O(keys): with nothing bound to a pid or node (the
	 * store counts them) a lost peer must not stall the loop for it. */
	if (!store_bound_pid_node(p->store))
		return;
	for (size_t i = 0; i < store_nslots(p->store); i++) {
		struct store_entry *e = store_entry_at(p->store, i);
		if (e && e->chosen && (e->chosen_bind->mask & (PKV_BIND_PID | PKV_BIND_NODE)))
			lifetimes_check_entry(p, e, now);
	}
}

void lifetimes_expire_until(struct paxos *p, uint64_t now)
{
	if (!p->wall_set)
		return;
	uint64_t w = lifetimes_wall_ms(p, now);
	while (p->n_uheap && p->uheap[0].until <= w) {
		struct uexp x = p->uheap[0];
		uheap_pop(p);
		if (x.e->gen == x.gen && x.e->chosen)
			lifetimes_check_entry(p, x.e, now);
	}
}

/* ---- collection of tombstones (docs/design.md §4.6) ---------------------- */

/*
 * A tombstone is forgotten once (1) every daemon that may hold the key
 * acknowledged its erasure (its fan-out ended), (2) the delay bound has
 * passed since, so no message of the ended generations is still on its
 * way, and (3) it is still bare: nothing promised, accepted or chosen in
 * its live generation, no request on the key, nothing unwritten to the
 * log. Its live generation goes into the bucket's floor first, so a later
 * put of the key is in that generation at least. Collection waits while a
 * daemon that may hold keys is down or copying (a restart sync must see
 * a floor at least as high as each tombstone it no longer finds).
 */

/* The delay bound the quiet period relies on (§6.1, §7): the wire drops a
 * datagram older than 1 s (WIRE_MAX_AGE_US), below 2 x ballot_life_us. */
static uint64_t gc_delay(const struct paxos *p)
{
	return p->cfg.restart_quiet_us;
}

static void gc_enqueue(struct paxos *p, struct store_entry *e, uint64_t now)
{
	if (e->gc_queued) {
		e->gc_again = true; /* the wait starts again when its turn comes */
		return;
	}
	if (p->gcq_head && p->gcq_head == p->n_gcq)
		p->gcq_head = p->n_gcq = 0;
	if (p->gcq_head > 1024 && p->gcq_head * 2 > p->n_gcq) {
		memmove(p->gcq, p->gcq + p->gcq_head, (p->n_gcq - p->gcq_head) * sizeof(*p->gcq));
		p->n_gcq -= p->gcq_head;
		p->gcq_head = 0;
	}
	struct gcrec *v = paxos_grow(p->gcq, &p->cap_gcq, p->n_gcq, sizeof(*v));
	if (!v) {
		p->oom = -ENOMEM;
		return; /* kept: a tombstone not collected is only memory */
	}
	p->gcq = v;
	v[p->n_gcq++] = (struct gcrec){ .e = e, .gen = e->gen, .at = now };
	e->gc_queued = true;
}

uint64_t lifetimes_gc_next(const struct paxos *p)
{
	if (p->gcq_head == p->n_gcq)
		return UINT64_MAX;
	uint64_t t = p->gcq[p->gcq_head].at + gc_delay(p);
	return t > p->gc_retry_at ? t : p->gc_retry_at;
}

/* Every daemon that may hold keys is up and synced (so none is copying). */
static bool gc_cluster_ready(const struct paxos *p)
{
	if (!p->synced)
		return false;
	uint64_t all = all_nodes_mask(p) & ~self_bit(p);
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if ((all & BIT(n)) && !(p->peers[n].connected && p->peers[n].synced))
			return false;
	}
	return true;
}

static bool gc_bare(struct paxos *p, struct store_entry *e)
{
	if (e->has_accepted || e->chosen || !pkv_ballot_is_zero(e->promised) || e->dirty ||
	    pkv_bucket_reserved(store_bucket_name(e->bucket).p, store_bucket_name(e->bucket).len) ||
	    fanout_find(p, e))
		return false;
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state != PAXOS_ST_DONE && r->kind != PAXOS_REQ_KEYS && req_is_key(r, e))
			return false;
	return true;
}

uint64_t lifetimes_floor(struct paxos *p, struct pkv_bytes bucket)
{
	if (PKV_PAXOS_BROKEN_GC)
		return 0; /* TEST ONLY: a collected key starts over */
	struct store_entry *f = store_lookup_floor(p->store, bucket, false);
	return f ? f->gen : 0;
}

bool lifetimes_below_floor(struct paxos *p, struct pkv_bytes bucket, uint64_t gen)
{
	if (gen >= lifetimes_floor(p, bucket))
		return false;
	p->stats.stale_gen++;
	return true;
}

bool lifetimes_holds_nothing(const struct store_entry *e)
{
	return !e || (!e->has_accepted && !e->chosen && pkv_ballot_is_zero(e->promised));
}

/*
 * Raises the bucket's floor to f (the fence of a floor put's read, §4.6).
 * Written to the log in this turn, before the answer that reveals it
 * leaves, as a floor raised by a collection is. False: no room for it.
 */
bool lifetimes_raise_floor(struct paxos *p, struct pkv_bytes bucket, uint64_t f)
{
	if (f <= store_gen_base(p->store) + 1)
		return true;
	struct store_entry *fl = store_lookup_floor(p->store, bucket, true);
	if (!fl) {
		p->oom = -ENOMEM;
		return false;
	}
	if (fl->gen < f) {
		store_erase(p->store, fl, f - 1);
		/* On disk before the answer leaves, or no answer. */
		if (acceptor_mark_dirty(p, fl))
			return false;
	}
	return true;
}

static void gc_collect(struct paxos *p, struct store_entry *e)
{
	uint64_t g = e->gen;
	if (!PKV_PAXOS_BROKEN_GC && g > store_gen_base(p->store) + 1) {
		struct store_entry *f = store_lookup_floor(p->store, store_bucket_name(e->bucket), true);
		if (!f) {
			p->oom = -ENOMEM;
			return; /* not collected: no floor to keep its generation */
		}
		if (f->gen < g)
			store_erase(p->store, f, g - 1); /* marked for the log too */
	}
	if (store_collect(p->store, e) == 0)
		p->stats.tombstones_collected++;
}

void lifetimes_gc(struct paxos *p, uint64_t now)
{
	if (p->gcq_head == p->n_gcq || now < p->gc_retry_at)
		return;
	if (!gc_cluster_ready(p)) {
		p->gc_retry_at = now + p->cfg.retransmit_us;
		return;
	}
	while (p->gcq_head < p->n_gcq && now >= p->gcq[p->gcq_head].at + gc_delay(p)) {
		struct gcrec g = p->gcq[p->gcq_head++];
		g.e->gc_queued = false;
		if (g.e->gc_again) {
			g.e->gc_again = false;
			gc_enqueue(p, g.e, now);
			continue;
		}
		if (g.e->gen == g.gen && gc_bare(p, g.e))
			gc_collect(p, g.e);
	}
}

/* ---- the learner ------------------------------------------------------- */

/*
 * Records a chosen value. Chosen values never change within a generation,
 * so a second, different one (value or bindings) is a broken safety
 * property: count it loudly. A value learned with a dead binding ends its
 * generation at once.
 */
void lifetimes_learn(struct paxos *p, struct store_entry *e, struct pkv_ballot b,
		     struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t now)
{
	bind = bind_or_null(bind);
	if (e->chosen) {
		struct pkv_bindings none = { 0 };
		if (!pkv_bytes_eq(e->chosen_value, value) ||
		    !pkv_bindings_eq(e->chosen_bind, bind ? bind : &none)) {
			p->stats.violations++;
			paxos_push_event(
				p, PAXOS_E_VIOLATION, e->gen,
				"paxos: BUG: two different values chosen for one key generation");
		}
		return;
	}
	if (store_set_chosen_bound(p->store, e, b, value, bind)) {
		p->oom = -ENOMEM;
		return;
	}
	p->stats.learned++;
	if (!lifetimes_learned_effects(p, e, now))
		return;
	for (struct req *r = p->reqs; r; r = r->next)
		if (r->state != PAXOS_ST_DONE && r->kind != PAXOS_REQ_KEYS && req_is_key(r, e))
			proposer_dispatch(p, r, PAXOS_EV_CHOSEN, 0, NULL, now);
	if (is_conf_bucket(store_bucket_name(e->bucket)))
		paxos_conf_learned(p, e, now);
}

/*
 * What a chosen value sets going: its end when a binding is already dead (then
 * false), else the watch of an own pid, the until timer, and the cache.
 */
bool lifetimes_learned_effects(struct paxos *p, struct store_entry *e, uint64_t now)
{
	rejudge_note(p, e, now);
	/*
	 * An own process's key is counted among its watched keys before it
	 * is judged: one whose binding already ended is erased at once, and
	 * the erasure takes it off the count (lifetimes_erase). Counted after,
	 * that erasure took the count of another live key of the process,
	 * whose watch then ended with it, and the process's exit ended
	 * neither (tests/unit/test-paxos.c, pid_exit_ends_a_live_key_…).
	 */
	if (lifetimes_own_pid(p, e->chosen_bind))
		watch_ref(p, e->chosen_bind->pid, e->chosen_bind->start_time, +1, e);
	if (!lifetimes_check_entry(p, e, now))
		return false;
	/* A configuration or drop record (§5, §4.4): unbound, no client's to read. */
	if (pkv_bucket_reserved(store_bucket_name(e->bucket).p, store_bucket_name(e->bucket).len))
		return true;
	if (e->chosen_bind->mask & PKV_BIND_UNTIL)
		uheap_push(p, e->chosen_bind->until, e, e->gen);
	if (p->n_learned == p->cap_learned) {
		size_t cap = p->cap_learned ? p->cap_learned * 2 : 64;
		struct store_entry **v = realloc(p->learned, cap * sizeof(*v));
		if (v) {
			p->learned = v;
			p->cap_learned = cap;
		}
	}
	/* Without memory the entry is still learned; only the cache misses it. */
	if (p->n_learned < p->cap_learned)
		p->learned[p->n_learned++] = e;
	return true;
}

/* ---- inputs and outputs ------------------------------------------------ */

void lifetimes_on_erase(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now)
{
	struct store_entry *e = store_lookup(p->store, m->bucket, m->key, true);
	if (!e) {
		p->oom = -ENOMEM;
		return; /* unacknowledged: retransmitted */
	}
	lifetimes_erase(p, e, m->gen, from, now);
	lifetimes_fanout_ack(p, e, m->gen, from, now); /* it erased through m->gen itself */
	struct pkv_msg a = {
		.type = PKV_MSG_ERASE_ACK,
		.bucket = m->bucket,
		.key = m->key,
		.gen = m->gen,
	};
	paxos_send(p, from, &a);
}

uint64_t paxos_erase_owed(const struct paxos *p)
{
	uint64_t m = 0;
	for (uint32_t i = 0; i < p->cfg.n_nodes; i++) {
		uint32_t n = p->cfg.nodes[i];
		if (n != p->cfg.self && p->erase_owed[n])
			m |= BIT(n);
	}
	return m;
}

void paxos_set_lease(struct paxos *p, uint64_t until)
{
	p->lease_set = true;
	p->lease_until = until;
}

void paxos_set_failure_timeout(struct paxos *p, uint64_t us)
{
	if (us)
		p->cfg.failure_timeout_us = us;
}

void paxos_set_wall(struct paxos *p, uint64_t wall_ms_now, uint64_t now)
{
	p->wall_set = true;
	p->wall_off_us = (int64_t)(wall_ms_now * 1000) - (int64_t)now;
}

void paxos_pid_exited(struct paxos *p, int32_t pid, uint64_t start_time, uint64_t now)
{
	if (!pid_exited(p, pid, start_time)) {
		if (!p->exited) {
			p->exited = calloc(EXITED_RING, sizeof(*p->exited));
			if (!p->exited)
				return;
		}
		p->exited[p->exited_pos] = (struct exited_pid){ .pid = pid, .start_time = start_time };
		p->exited_pos = (p->exited_pos + 1) % EXITED_RING;
		if (p->n_exited < EXITED_RING)
			p->n_exited++;
	}
	/*
	 * The process's watch is gone: no unwatch for it. Its keys are the
	 * wref's entries; the store is walked only when that list is
	 * incomplete (out of memory) — a walk is O(keys), which at a million
	 * keys is tens of milliseconds of the loop.
	 */
	struct wref w = { 0 };
	bool found = false;
	for (size_t i = 0; i < p->n_wrefs; i++)
		if (p->wrefs[i].pid == pid && p->wrefs[i].start_time == start_time) {
			w = p->wrefs[i];
			p->wrefs[i] = p->wrefs[--p->n_wrefs]; /* w owns the list now */
			found = true;
			break;
		}
	bool walk = (found && w.n_ents == SIZE_MAX) || p->wrefs_incomplete;
	size_t n = walk ? store_nslots(p->store) : found ? w.n_ents : 0;
	if (walk && !store_bound_pid_node(p->store))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_entry *e = walk ? store_entry_at(p->store, i) : w.ents[i];
		if (e && e->chosen && lifetimes_own_pid(p, e->chosen_bind) &&
		    e->chosen_bind->pid == pid && e->chosen_bind->start_time == start_time)
			lifetimes_erase(p, e, e->gen, 0, now);
	}
	free(w.ents);
	paxos_finish_call(p, now);
}

/*
 * A release (docs/design.md §8.4) ends a binding the way the process's exit
 * would, through the same erasure — but for this one key, and without
 * recording the process as exited: it lives on and may bind again.
 */
int paxos_release(struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key, uint64_t gen,
		  int32_t pid, uint64_t start_time, uint64_t now)
{
	struct store_entry *e = store_lookup(p->store, bucket, key, false);
	if (gen == 0 || (e && gen > e->gen))
		return PKV_S_NOT_FOUND; /* a generation this daemon never saw */
	if (!e || gen < e->gen || !e->chosen)
		return PKV_S_STALE;
	const struct pkv_bindings *b = e->chosen_bind;
	if (!lifetimes_own_pid(p, b) || b->pid != pid || b->start_time != start_time)
		return PKV_S_NOT_OWNER;
	lifetimes_erase(p, e, e->gen, 0, now);
	paxos_finish_call(p, now);
	return PKV_S_OK;
}

struct store_entry *const *paxos_learned(const struct paxos *p, size_t *n)
{
	*n = p->n_learned;
	return p->learned;
}

void paxos_learned_reset(struct paxos *p)
{
	p->n_learned = 0;
}

const struct paxos_watch *paxos_watches(const struct paxos *p, size_t *n)
{
	*n = p->n_watches;
	return p->watches;
}

void paxos_watches_reset(struct paxos *p)
{
	p->n_watches = 0;
}

const struct paxos_erased *paxos_erased(const struct paxos *p, size_t *n)
{
	*n = p->n_erased;
	return p->erased;
}

void paxos_erased_reset(struct paxos *p)
{
	p->n_erased = 0;
}
