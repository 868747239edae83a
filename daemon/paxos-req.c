// SPDX-License-Identifier: MIT
/*
 * paxos-req.c — requests: the client entry points (put, get, keys), the
 * checks and bindings of a put, the list of requests and their completions.
 * A request runs in the proposer's state machine (proposer_dispatch); this
 * file starts it and hands its answer to the caller.
 */
#include "paxos-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the requests ------------------------------------------------------ */

void req_set_state(struct paxos *p, struct req *r, enum paxos_state s)
{
	bool was = r->state == PAXOS_ST_PREPARING || r->state == PAXOS_ST_ACCEPTING;
	bool is = s == PAXOS_ST_PREPARING || s == PAXOS_ST_ACCEPTING;
	if (was && !is)
		p->stats.rounds_in_flight--;
	else if (!was && is)
		p->stats.rounds_in_flight++;
	r->state = s;
}

struct req *req_find(const struct paxos *p, uint64_t rid)
{
	for (struct req *r = p->by_rid[rid % RID_BUCKETS]; r; r = r->hnext)
		if (r->rid == rid)
			return r->state == PAXOS_ST_DONE ? NULL : r;
	return NULL;
}

struct req *req_new(struct paxos *p, enum paxos_req_kind kind, uint64_t id,
		    struct pkv_bytes bucket, struct pkv_bytes key, uint64_t deadline,
		    bool retry)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (paxos_bytes_dup(&r->bucket, bucket) || paxos_bytes_dup(&r->key, key)) {
		paxos_bytes_free(&r->bucket);
		free(r);
		return NULL;
	}
	r->rid = p->next_rid++;
	r->id = id;
	r->kind = kind;
	r->state = PAXOS_ST_WAIT_QUORUM;
	r->deadline = deadline;
	r->retry = retry;
	r->t_timer = UINT64_MAX;
	r->next = p->reqs;
	if (p->reqs)
		p->reqs->prev = r;
	p->reqs = r;
	r->hnext = p->by_rid[r->rid % RID_BUCKETS];
	p->by_rid[r->rid % RID_BUCKETS] = r;
	p->stats.requests_in_flight++;
	return r;
}

void req_free(struct req *r)
{
	paxos_bind_free(&r->bind);
	paxos_bind_free(&r->best_bind);
	paxos_bytes_free(&r->bucket);
	paxos_bytes_free(&r->key);
	paxos_bytes_free(&r->value);
	paxos_bytes_free(&r->best_value);
	for (uint32_t i = 0; i < r->n_votes; i++) {
		paxos_bytes_free(&r->votes[i].value);
		paxos_bind_free(&r->votes[i].bind);
	}
	for (size_t i = 0; i < r->n_keys; i++)
		paxos_bytes_free(&r->keys[i]);
	free(r->keys);
	free(r);
}

static void req_unlink(struct paxos *p, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		p->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	struct req **pp = &p->by_rid[r->rid % RID_BUCKETS];
	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
}

void req_rekey(struct paxos *p, struct req *r)
{
	struct req **pp = &p->by_rid[r->rid % RID_BUCKETS];
	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
	r->rid = p->next_rid++;
	r->hnext = p->by_rid[r->rid % RID_BUCKETS];
	p->by_rid[r->rid % RID_BUCKETS] = r;
}

void req_reap(struct paxos *p)
{
	struct req *r = p->reqs;
	while (r) {
		struct req *n = r->next;
		if (r->state == PAXOS_ST_DONE) {
			req_unlink(p, r);
			req_free(r);
		}
		r = n;
	}
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct pkv_bytes *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->p, y->p, n) : 0;
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* ---- puts of unknown outcome (docs/design.md §6.2) --------------------- */

/*
 * A put bound to one of our processes that ended without OK once its value
 * had left this daemon (an ACCEPT or a FORWARD) may be chosen still: a later
 * round of any proposer that meets the value accepted adopts it. We watch a
 * process only for the values we learn, and nobody tells us of that choice
 * for sure (an observer gets no CHOSEN, a voter may lose it). So the key is
 * read back, with a quorum read that learns, until one of: the generation's
 * value learned here (watched from then on, or ended at once if the process
 * is gone), a newer generation, or every voter holding no value at all in
 * the generation, heard after the put's messages can no longer arrive.
 * A forwarded put answered before its FORWARD_REPLY (OK included: a value
 * learned here) is in doubt too, and only a read begun after the primary's
 * copy gave up settles it: that copy goes on from generation to generation.
 */

static struct doubt *doubt_find(struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key)
{
	for (struct doubt *d = p->doubts; d < p->doubts + p->n_doubts; d++)
		if (pkv_bytes_eq(d->bucket, bucket) && pkv_bytes_eq(d->key, key))
			return d;
	return NULL;
}

static void doubt_drop(struct paxos *p, size_t i)
{
	paxos_bytes_free(&p->doubts[i].bucket);
	paxos_bytes_free(&p->doubts[i].key);
	p->doubts[i] = p->doubts[--p->n_doubts];
	p->stats.owner_doubts = p->n_doubts;
}

static void doubt_note(struct paxos *p, const struct req *r)
{
	/* TEST ONLY (PKV_PAXOS_BROKEN_OWNER_READ): the put's fate is left to others. */
	if (PKV_PAXOS_BROKEN_OWNER_READ || !lifetimes_own_pid(p, &r->bind))
		return;
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
	if (!e || (e->chosen && !r->fwd_open))
		return; /* known: ours is watched, or another value was chosen
			 * (unless the primary's copy may still run) */
	struct doubt *d = doubt_find(p, r->bucket, r->key);
	if (!d) {
		if (p->n_doubts == PAXOS_DOUBTS_MAX) {
			p->stats.owner_doubts_dropped++;
			return;
		}
		struct doubt *v = paxos_grow(p->doubts, &p->cap_doubts, p->n_doubts, sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->doubts = v;
		d = &v[p->n_doubts];
		*d = (struct doubt){ 0 };
		if (paxos_bytes_dup(&d->bucket, r->bucket) || paxos_bytes_dup(&d->key, r->key)) {
			paxos_bytes_free(&d->bucket);
			p->oom = -ENOMEM;
			return;
		}
		p->n_doubts++;
		p->stats.owner_doubts = p->n_doubts;
	}
	/* Its times start at the next tick (req_doubt_tick): due at once. */
	d->gen = e->gen;
	d->quiet_at = 0;
	d->cleared = false;
	d->read_after = false;
	if (r->fwd_open) {
		/* Two forwarded puts unanswered: only both deadlines settle it. */
		d->fwd_rid = d->fwd_deadline && d->fwd_rid != r->rid ? 0 : r->rid;
		d->fwd_to = r->fwd_to;
		if (r->deadline > d->fwd_deadline)
			d->fwd_deadline = r->deadline;
	}
	d->next_at = 0;
	p->doubt_next = 0;
}

static void doubt_read_done(struct paxos *p, const struct req *r, int status)
{
	struct doubt *d = doubt_find(p, r->bucket, r->key);
	if (!d)
		return;
	d->reading = false;
	/*
	 * No voter holds a value of the generation: ours is nowhere, so no
	 * round can adopt it (a value moves only from a holder, and a holder
	 * holds some value for good), provided none of the put's own
	 * messages was still on its way when the query started (quiet_at
	 * 0: a put noted again since, whose times are not set yet).
	 */
	if (status == PKV_S_NOT_FOUND && r->n_votes == 0 && !(p->voters & ~r->answered_mask) &&
	    d->quiet_at && r->t_query >= d->quiet_at)
		d->cleared = true;
	/* It learned the value of a generation current after the put's copies ended. */
	if (status == PKV_S_OK && d->quiet_at && r->t_query >= d->quiet_at)
		d->read_after = true;
}

/*
 * A FORWARD_REPLY OK that came after its put was answered here: the
 * primary's copy is done, having run in no generation past the reply's,
 * in which a value is chosen (learned with the reply). The generation
 * rules apply from there.
 */
void req_doubt_fwd_reply(struct paxos *p, uint32_t from, const struct pkv_msg *m)
{
	if (!p->n_doubts || m->arg0 != PKV_S_OK)
		return;
	struct doubt *d = doubt_find(p, m->bucket, m->key);
	if (!d || !d->fwd_deadline || !d->fwd_rid || d->fwd_rid != m->req || d->fwd_to != from)
		return;
	d->fwd_deadline = 0;
	d->fwd_rid = 0;
	if (m->gen > d->gen)
		d->gen = m->gen;
}

void req_doubt_tick(struct paxos *p, uint64_t now)
{
	if (!p->n_doubts || now < p->doubt_next)
		return;
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < p->n_doubts;) {
		struct doubt *d = &p->doubts[i];
		struct store_entry *e = store_lookup(p->store, d->bucket, d->key, false);
		bool done;
		if (d->fwd_deadline) {
			/*
			 * The primary's copy may choose ours in any generation
			 * until it ends, and this daemon may know of a newer
			 * generation late: only a read begun after it ended
			 * settles it (learning, or every voter holding nothing).
			 */
			done = !e || d->read_after || d->cleared;
		} else {
			done = !e || e->gen > d->gen || (e->chosen && e->gen == d->gen) ||
			       d->cleared;
		}
		if (done) {
			doubt_drop(p, i);
			continue;
		}
		if (!d->quiet_at) {
			/*
			 * The put's last ACCEPT or FORWARD left before now; a
			 * forwarded one runs at the primary until about the
			 * deadline it was given, ours. Two ballot lives past
			 * the later of the two, none of its messages arrives
			 * anywhere (the delay bound, §7).
			 */
			uint64_t from = d->fwd_deadline > now ? d->fwd_deadline : now;
			d->quiet_at = from > UINT64_MAX - 2 * p->cfg.ballot_life_us
					      ? UINT64_MAX
					      : from + 2 * p->cfg.ballot_life_us;
			d->next_at = now + 2 * p->cfg.retransmit_us;
			d->wait = 4 * p->cfg.retransmit_us;
		} else if (now >= d->next_at) {
			/* One read at a time; a read still running is looked at again. */
			if (!d->reading && p->synced && paxos_has_quorum(p)) {
				struct req *r = req_new(p, PAXOS_REQ_GET, 0, d->bucket, d->key,
							now + 4 * p->cfg.ballot_life_us, false);
				if (!r) {
					p->oom = -ENOMEM;
				} else {
					r->internal = r->owner_read = true;
					d->reading = true;
					p->stats.owner_reads++;
					proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
					d = &p->doubts[i]; /* a put it ended may have moved it */
				}
			}
			/* Backoff: doubling up to 32 retransmit intervals. */
			d->next_at = now + d->wait;
			if (d->wait < 32 * p->cfg.retransmit_us)
				d->wait *= 2;
		}
		if (d->next_at < next)
			next = d->next_at;
		i++;
	}
	p->doubt_next = next;
}

void req_doubt_free(struct paxos *p)
{
	while (p->n_doubts)
		doubt_drop(p, p->n_doubts - 1);
	free(p->doubts);
}

/*
 * Finishes a request: a completion for a local caller, a FORWARD_REPLY for a
 * forwarded put. Keys move into the completion (the request is done).
 */
void req_complete(struct paxos *p, struct req *r, int status, uint64_t gen,
		  struct pkv_bytes value, const struct pkv_bindings *bind)
{
	if (r->state == PAXOS_ST_DONE)
		return;
	req_set_state(p, r, PAXOS_ST_DONE);
	p->stats.requests_in_flight--;
	/*
	 * A forwarded put answered here before its FORWARD_REPLY came (a
	 * value learned meanwhile) is in doubt even when OK: the primary's
	 * copy runs on and may choose ours in a later generation.
	 */
	if (r->kind == PAXOS_REQ_PUT && r->value_sent && (status != PKV_S_OK || r->fwd_open))
		doubt_note(p, r);
	if (r->owner_read)
		doubt_read_done(p, r, status);
	if (r->learn_only || r->internal)
		return; /* a learner read, or a get of the core's own: what it
			 * found, it learned, and that was the point */
	if (r->parent) {
		/* A key binding's get: hand the answer to the put (req_resume_resolved()). */
		struct req *par = req_find(p, r->parent);
		if (par && par->kind == PAXOS_REQ_DROP && par->drop_child == r->rid) {
			/* The put of a drop's record: drop_step() goes on from here. */
			par->drop_child_done = true;
			par->drop_child_st = status;
			return;
		}
		if (par && par->state == PAXOS_ST_RESOLVING) {
			par->resolve_done = true;
			par->resolve_st = status;
			if (status == PKV_S_OK)
				par->bind.key_gen = gen;
		}
		return;
	}
	if (r->kind == PAXOS_REQ_FORWARDED) {
		struct pkv_msg m = {
			.type = PKV_MSG_FORWARD_REPLY,
			.req = r->origin_req,
			.arg0 = (uint64_t)status,
			.gen = gen,
			.bucket = r->bucket,
			.key = r->key,
		};
		if (status == PKV_S_OK) {
			paxos_msg_value(p, &m, value, bind);
			/* The chosen ballot, so the origin learns the value too. */
			struct store_entry *e = store_lookup(p->store, r->bucket, r->key, false);
			if (e && e->chosen && e->gen == gen)
				m.accepted = e->chosen_ballot;
		}
		paxos_send(p, r->origin, &m);
		return;
	}
	if (p->n_comp == p->cap_comp) {
		size_t cap = p->cap_comp ? p->cap_comp * 2 : 16;
		struct paxos_completion *v = realloc(p->comp, cap * sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		p->comp = v;
		p->cap_comp = cap;
	}
	struct paxos_completion *c = &p->comp[p->n_comp];
	memset(c, 0, sizeof(*c));
	c->id = r->id;
	c->kind = r->kind;
	c->status = status;
	c->gen = gen;
	if (status == PKV_S_OK && r->kind != PAXOS_REQ_KEYS &&
	    (paxos_bytes_dup(&c->value, value) || paxos_bind_dup(&c->bind, bind))) {
		paxos_bytes_free(&c->value);
		c->status = PKV_S_NO_MEMORY;
	}
	if (r->kind == PAXOS_REQ_KEYS && status == PKV_S_OK) {
		if (r->n_keys)
			qsort(r->keys, r->n_keys, sizeof(*r->keys), cmp_bytes);
		size_t w = 0;
		for (size_t i = 0; i < r->n_keys; i++) {
			if (w && !cmp_bytes(&r->keys[w - 1], &r->keys[i]))
				paxos_bytes_free(&r->keys[i]);
			else
				r->keys[w++] = r->keys[i];
		}
		c->keys = r->keys;
		c->n_keys = w;
		r->keys = NULL;
		r->n_keys = r->cap_keys = 0;
	}
	p->n_comp++;
}

void req_complete_status(struct paxos *p, struct req *r, int status)
{
	req_complete(p, r, status, 0, (struct pkv_bytes){ 0 }, NULL);
}

bool req_is_key(const struct req *r, const struct store_entry *e)
{
	return pkv_bytes_eq(r->key, e->key) && pkv_bytes_eq(r->bucket, store_bucket_name(e->bucket));
}

struct store_entry *req_entry(struct paxos *p, struct req *r)
{
	struct store_entry *e = store_lookup(p->store, r->bucket, r->key, true);
	if (!e)
		p->oom = -ENOMEM;
	return e;
}

void req_keys_add(struct paxos *p, struct req *r, struct pkv_bytes key)
{
	if (r->n_keys == r->cap_keys) {
		size_t cap = r->cap_keys ? r->cap_keys * 2 : 16;
		struct pkv_bytes *v = realloc(r->keys, cap * sizeof(*v));
		if (!v) {
			p->oom = -ENOMEM;
			return;
		}
		r->keys = v;
		r->cap_keys = cap;
	}
	if (paxos_bytes_dup(&r->keys[r->n_keys], key)) {
		p->oom = -ENOMEM;
		return;
	}
	r->n_keys++;
}

/* Puts whose key binding's get finished go on (or fail). True if any did. */
bool req_resume_resolved(struct paxos *p, uint64_t now)
{
	bool any = false;
	for (struct req *r = p->reqs; r; r = r->next) {
		if (r->state != PAXOS_ST_RESOLVING || !r->resolve_done)
			continue;
		any = true;
		r->resolve_done = false;
		if (r->resolve_st == PKV_S_OK) {
			req_set_state(p, r, PAXOS_ST_WAIT_QUORUM);
			proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
		} else {
			/* The key it would live with is not there: invalid_value. */
			req_complete_status(p, r,
					    r->resolve_st == PKV_S_NOT_FOUND ? PKV_S_INVALID_VALUE
									     : r->resolve_st);
		}
	}
	return any;
}

/* ---- entry points ------------------------------------------------------ */

int req_check_args(struct pkv_bytes bucket, struct pkv_bytes key, bool need_key)
{
	if (bucket.len > PKV_MAX_BUCKET || (need_key && key.len > PKV_MAX_KEY))
		return PKV_S_TOO_LARGE;
	if (!store_bucket_name_ok(bucket) || (need_key && key.len == 0))
		return PKV_S_BAD_REQUEST;
	return 0;
}

static void count_op(struct paxos *p, struct pkv_bytes bucket, bool put)
{
	struct store_bucket *b = store_bucket(p->store, bucket, true);
	if (!b)
		return;
	if (put)
		store_bucket_stats(b)->puts++;
	else
		store_bucket_stats(b)->gets++;
}

/*
 * A put's bindings: fills in the owner, checks each is alive now, and copies
 * them into the request. Returns 0 or the status to complete with.
 */
static int put_bindings(struct paxos *p, struct req *r, const struct pkv_bindings *in,
			uint64_t now)
{
	struct pkv_bindings b = *in;
	if (b.mask & PKV_BIND_PID_DEAD)
		return PKV_S_INVALID_VALUE;
	b.mask &= PKV_BIND_ALL;
	if (!b.mask)
		return 0;
	if ((b.mask & PKV_BIND_PID) && b.owner == 0) {
		b.owner = p->cfg.self;
		b.owner_inc = p->cfg.bind_inc;
	}
	if ((b.mask & PKV_BIND_PID) && b.owner != p->cfg.self)
		return PKV_S_INVALID_VALUE; /* only local processes can be watched */
	if ((b.mask & PKV_BIND_NODE) && b.node != p->cfg.self &&
	    (!paxos_peer_ok(p, b.node) ||
	     (lifetimes_peer_judged(p, b.node) && !p->peers[b.node].connected)))
		return PKV_S_INVALID_VALUE;
	if ((b.mask & PKV_BIND_UNTIL) && p->wall_set && lifetimes_wall_ms(p, now) >= b.until)
		return PKV_S_INVALID_VALUE;
	if (b.mask & PKV_BIND_KEY) {
		if (b.key.len == 0 || b.key.len > PKV_MAX_KEY)
			return PKV_S_BAD_REQUEST;
		if (pkv_bytes_eq(b.key, r->key))
			return PKV_S_INVALID_VALUE; /* a key cannot live with itself */
		b.key_gen = 0;
	} else {
		b.key = (struct pkv_bytes){ 0 };
	}
	if (lifetimes_binding_dead(p, &b, r->bucket, now))
		return PKV_S_INVALID_VALUE;
	if (pkv_bound_size(r->value, &b) > PKV_MAX_VALUE)
		return PKV_S_TOO_LARGE;
	if (paxos_bind_dup(&r->bind, &b))
		return PKV_S_NO_MEMORY;
	return 0;
}

/*
 * A key binding names a generation of the other key: the local learner's
 * if it knows a live value, else a get on the cluster finds it (the put
 * waits in RESOLVING; paxos_finish_call() resumes it through
 * req_resume_resolved()). False: the put must wait.
 */
static bool resolve_key(struct paxos *p, struct req *r, uint64_t now)
{
	if (!(r->bind.mask & PKV_BIND_KEY) || r->bind.key_gen)
		return true;
	struct store_entry *d = store_lookup(p->store, r->bucket, r->bind.key, false);
	if (d && d->chosen && lifetimes_check_entry(p, d, now)) {
		r->bind.key_gen = d->gen;
		return true;
	}
	struct req *c = req_new(p, PAXOS_REQ_GET, 0, r->bucket, r->bind.key, r->deadline, r->retry);
	if (!c) {
		req_complete_status(p, r, PKV_S_NO_MEMORY);
		return false;
	}
	c->parent = r->rid;
	req_set_state(p, r, PAXOS_ST_RESOLVING);
	proposer_dispatch(p, c, PAXOS_EV_START, 0, NULL, now);
	return false;
}

bool req_learn_read(struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key, uint64_t now)
{
	unsigned running = 0;
	for (const struct req *r = p->reqs; r; r = r->next) {
		if (!r->learn_only || r->state == PAXOS_ST_DONE)
			continue;
		if (pkv_bytes_eq(r->bucket, bucket) && pkv_bytes_eq(r->key, key))
			return false; /* one is on its way */
		running++;
	}
	/* Bounded work (docs/design.md §7): hints beyond the cap are dropped. */
	if (running >= PAXOS_LEARN_READS || !paxos_has_quorum(p) || !p->synced)
		return false;
	struct req *r = req_new(p, PAXOS_REQ_GET, 0, bucket, key,
				now + 4 * p->cfg.ballot_life_us, false);
	if (!r)
		return false;
	r->learn_only = true;
	p->stats.learn_reads++;
	proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
	return true;
}

/* Common start of put and get: learner first, then quorum. */
static int request(struct paxos *p, enum paxos_req_kind kind, uint64_t id, struct pkv_bytes bucket,
		   struct pkv_bytes key, const struct pkv_bytes *value,
		   const struct pkv_bindings *bind, uint64_t deadline, bool retry, bool stale_ok,
		   uint64_t now)
{
	struct req *r = req_new(p, kind, id, bucket, key, deadline, retry);
	if (!r)
		return -ENOMEM;
	int bad = req_check_args(bucket, key, true);
	if (!bad && value && value->len > PKV_MAX_VALUE)
		bad = PKV_S_TOO_LARGE;
	if (bad) {
		req_complete_status(p, r, bad);
		return paxos_finish_call(p, now);
	}
	count_op(p, bucket, kind == PAXOS_REQ_PUT);
	if (value) {
		if (paxos_bytes_dup(&r->value, *value)) {
			req_complete_status(p, r, PKV_S_NO_MEMORY);
			paxos_finish_call(p, now);
			return -ENOMEM;
		}
		r->has_value = true;
	}
	if (value && bind) {
		int st = put_bindings(p, r, bind, now);
		if (st) {
			req_complete_status(p, r, st);
			return paxos_finish_call(p, now);
		}
	}
	struct store_entry *e = store_lookup(p->store, bucket, key, false);
	/*
	 * Past the lease another daemon may have ended the value's lifetime
	 * (docs/design.md §5.1): only a quorum knows, unless stale will do.
	 */
	if ((stale_ok || leased(p, now)) && e && e->chosen && lifetimes_check_entry(p, e, now)) {
		req_complete(p, r, PKV_S_OK, e->gen, e->chosen_value, e->chosen_bind);
		return paxos_finish_call(p, now);
	}
	/*
	 * A daemon at its key limit (store_set_max_entries) cannot follow a
	 * round on a key it holds nothing of: refuse at once rather than time
	 * out. Keys it holds keep working.
	 */
	if (!e && store_full(p->store)) {
		p->stats.keys_refused++;
		req_complete_status(p, r, PKV_S_NO_MEMORY);
		return paxos_finish_call(p, now);
	}
	if (!paxos_has_quorum(p) && !retry) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return paxos_finish_call(p, now);
	}
	if (resolve_key(p, r, now))
		proposer_dispatch(p, r, PAXOS_EV_START, 0, NULL, now);
	return paxos_finish_call(p, now);
}

/*
 * A get of the core's own, answered to nobody: the key's value is learned
 * (a majority's equal acceptances, or the round that finishes an
 * interrupted one), with what learning sets going. Used at restore for a
 * value bound to one of our processes that we accepted but do not know
 * chosen (docs/design.md §6.2). It waits for a quorum, up to a minute.
 */
void req_confirm(struct paxos *p, struct store_entry *e, uint64_t now)
{
	struct req *c = req_new(p, PAXOS_REQ_GET, 0, store_bucket_name(e->bucket), e->key,
				now + 60000000u, true);
	if (!c) {
		p->oom = -ENOMEM;
		return;
	}
	c->internal = true;
	proposer_dispatch(p, c, PAXOS_EV_START, 0, NULL, now);
}

int paxos_put(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      struct pkv_bytes value, uint64_t deadline, bool retry, uint64_t now)
{
	p->stats.puts++;
	return request(p, PAXOS_REQ_PUT, id, bucket, key, &value, NULL, deadline, retry, false, now);
}

int paxos_put_bound(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
		    struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t deadline,
		    bool retry, uint64_t now)
{
	p->stats.puts++;
	return request(p, PAXOS_REQ_PUT, id, bucket, key, &value, bind, deadline, retry, false, now);
}

int paxos_get(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      uint64_t deadline, bool retry, uint64_t now)
{
	p->stats.gets++;
	return request(p, PAXOS_REQ_GET, id, bucket, key, NULL, NULL, deadline, retry, false, now);
}

int paxos_get_stale(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
		    uint64_t deadline, bool retry, uint64_t now)
{
	p->stats.gets++;
	return request(p, PAXOS_REQ_GET, id, bucket, key, NULL, NULL, deadline, retry, true, now);
}

int paxos_keys(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
	       uint64_t now)
{
	p->stats.keys++;
	struct req *r = req_new(p, PAXOS_REQ_KEYS, id, bucket, (struct pkv_bytes){ 0 }, deadline,
				false);
	if (!r)
		return -ENOMEM;
	int bad = req_check_args(bucket, (struct pkv_bytes){ 0 }, false);
	if (bad) {
		req_complete_status(p, r, bad);
		return paxos_finish_call(p, now);
	}
	/*
	 * Past the lease our own keys may include lifetimes a majority ended
	 * (docs/design.md §5.1): a listing answers no quorum, as a read does.
	 */
	if (!leased(p, now)) {
		req_complete_status(p, r, PKV_S_NO_QUORUM);
		return paxos_finish_call(p, now);
	}
	/* Local keys with an accepted or chosen value. */
	struct store_bucket *b = store_bucket(p->store, bucket, false);
	for (size_t i = 0; b && i < store_bucket_nslots(b); i++) {
		struct store_entry *e = store_bucket_entry_at(b, i);
		if (e && store_entry_has_value(e))
			req_keys_add(p, r, e->key);
	}
	proposer_start_keys(p, r, now);
	if (r->expect_mask == 0)
		req_complete_status(p, r, PKV_S_OK);
	return paxos_finish_call(p, now);
}

/* ---- completions ------------------------------------------------------- */

const struct paxos_completion *paxos_completions(const struct paxos *p, size_t *n)
{
	*n = p->n_comp;
	return p->comp;
}

void paxos_completions_reset(struct paxos *p)
{
	for (size_t i = 0; i < p->n_comp; i++) {
		struct paxos_completion *c = &p->comp[i];
		paxos_bytes_free(&c->value);
		paxos_bind_free(&c->bind);
		for (size_t k = 0; k < c->n_keys; k++)
			paxos_bytes_free(&c->keys[k]);
		free(c->keys);
	}
	p->n_comp = 0;
}
