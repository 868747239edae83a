// SPDX-License-Identifier: MIT
/* sim.c — the deterministic cluster fixture (see sim.h). */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET "PaxosKV"

struct sim_msg {
	uint64_t at, seq;
	uint32_t from, to;
	struct pkv_msg m;
	uint8_t data[]; /* bucket, key, value */
};

static struct pkv_bytes str_bytes(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

static void key_name(char *buf, size_t len, unsigned key)
{
	snprintf(buf, len, "k%u", key);
}

uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_range(struct sim *s, uint64_t lo, uint64_t hi)
{
	return lo + sim_rand(s) % (hi - lo + 1);
}

/* ---- message heap ordered by (delivery time, send order) ---- */

static bool msg_before(const struct sim_msg *a, const struct sim_msg *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void heap_push(struct sim *s, struct sim_msg *m)
{
	if (s->n_heap == s->cap_heap) {
		s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
		s->heap = realloc(s->heap, s->cap_heap * sizeof(*s->heap));
		if (!s->heap)
			abort();
	}
	size_t i = s->n_heap++;
	while (i) {
		size_t up = (i - 1) / 2;
		if (!msg_before(m, s->heap[up]))
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = m;
}

static struct sim_msg *heap_pop(struct sim *s)
{
	struct sim_msg *top = s->heap[0];
	struct sim_msg *last = s->heap[--s->n_heap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->n_heap)
			break;
		if (c + 1 < s->n_heap && msg_before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!msg_before(s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->n_heap)
		s->heap[i] = last;
	return top;
}

/* ---- the trace hash (struct sim.trace) ---- */

static void trace_bytes(struct sim *s, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++) {
		s->trace ^= b[i];
		s->trace *= 0x100000001b3ull;
	}
}

static void trace_u64(struct sim *s, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	trace_bytes(s, b, sizeof(b));
}

static void trace_field(struct sim *s, struct pkv_bytes f)
{
	trace_u64(s, f.len);
	if (f.len)
		trace_bytes(s, f.p, f.len);
}

static void trace_msg(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m)
{
	const uint64_t v[] = { 1, s->now, from, to, m->type, m->flags, m->req, m->gen,
			       m->ballot.round, m->ballot.node, m->accepted.round, m->accepted.node,
			       m->arg0, m->arg1, m->arg2 };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		trace_u64(s, v[i]);
	trace_field(s, m->bucket);
	trace_field(s, m->key);
	trace_field(s, m->value);
}

static void trace_completion(struct sim *s, unsigned node, const struct paxos_completion *c)
{
	const uint64_t v[] = { 2, s->now, node, c->id, c->kind, (uint64_t)(int64_t)c->status, c->gen,
			       c->bind.mask, c->n_keys };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		trace_u64(s, v[i]);
	trace_field(s, c->value);
	for (size_t i = 0; c->keys && i < c->n_keys; i++)
		trace_field(s, c->keys[i]);
}

static void enqueue(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m)
{
	trace_msg(s, from, to, m);
	if (s->cut[from][to]) {
		s->dropped++;
		return;
	}
	/* The faults below are off by default and then draw no random number. */
	uint64_t extra = s->delay[from][to];
	if (s->filter) {
		uint64_t f = s->filter(s, from, to, m, s->filter_arg);
		extra = f == SIM_FILTER_DROP ? SIM_FILTER_DROP : extra + f;
	}
	if (s->silent[from][to] || extra == SIM_FILTER_DROP) {
		s->dropped++;
		s->silenced++;
		return;
	}
	if (extra)
		s->delayed++;
	if (sim_range(s, 0, 999) < s->cfg.loss_pm) {
		s->dropped++;
		return;
	}
	/* Kept aside to be sent again long after (late_old_pm). */
	if (s->cfg.late_old_pm && m->gen && m->key.len &&
	    (m->type == PKV_MSG_PREPARE || m->type == PKV_MSG_ACCEPT ||
	     m->type == PKV_MSG_CHOSEN || m->type == PKV_MSG_ERASE) &&
	    !pkv_bucket_reserved(m->bucket.p, m->bucket.len) &&
	    sim_range(s, 0, 999) < s->cfg.late_old_pm) {
		size_t slot = (size_t)sim_range(s, 0, 15);
		size_t len = (size_t)m->bucket.len + m->key.len + m->value.len;
		struct sim_msg *x = malloc(sizeof(*x) + len);
		if (!x)
			abort();
		x->at = s->now;
		x->from = from;
		x->to = to;
		x->m = *m;
		uint8_t *d = x->data;
		struct pkv_bytes *fields[3] = { &x->m.bucket, &x->m.key, &x->m.value };
		for (int i = 0; i < 3; i++) {
			if (fields[i]->len)
				memcpy(d, fields[i]->p, fields[i]->len);
			fields[i]->p = d;
			d += fields[i]->len;
		}
		free(s->attic[slot]);
		s->attic[slot] = x;
	}
	unsigned copies = sim_range(s, 0, 999) < s->cfg.dup_pm ? 2 : 1;
	if (copies == 2)
		s->duplicated++;
	for (unsigned c = 0; c < copies; c++) {
		size_t len = (size_t)m->bucket.len + m->key.len + m->value.len;
		struct sim_msg *x = malloc(sizeof(*x) + len);
		if (!x)
			abort();
		x->at = s->now + sim_range(s, s->cfg.lat_min_us, s->cfg.lat_max_us) + extra;
		x->seq = s->msg_seq++;
		x->from = from;
		x->to = to;
		x->m = *m;
		uint8_t *d = x->data;
		struct pkv_bytes *fields[3] = { &x->m.bucket, &x->m.key, &x->m.value };
		for (int i = 0; i < 3; i++) {
			if (fields[i]->len)
				memcpy(d, fields[i]->p, fields[i]->len);
			fields[i]->p = d;
			d += fields[i]->len;
		}
		heap_push(s, x);
	}
}

/* ---- lifetimes bookkeeping ---- */

static unsigned key_index(struct pkv_bytes k)
{
	unsigned v = 0;
	for (uint32_t i = 1; i < k.len; i++)
		v = v * 10 + (unsigned)(k.p[i] - '0');
	return v < SIM_MAX_KEYS ? v : SIM_MAX_KEYS - 1;
}

/* Operations on one key (put, get), as opposed to keys and drop. */
static bool is_kv(const struct sim_op *op)
{
	return op->kind == SIM_PUT || op->kind == SIM_GET;
}

static struct sim_gen *gen_rec(struct sim *s, unsigned key, uint64_t gen)
{
	if (gen >= s->cap_gens[key]) {
		size_t cap = s->cap_gens[key] ? s->cap_gens[key] : 8;
		while (cap <= gen)
			cap *= 2;
		struct sim_gen *v = realloc(s->gens[key], cap * sizeof(*v));
		if (!v)
			abort();
		memset(v + s->cap_gens[key], 0, (cap - s->cap_gens[key]) * sizeof(*v));
		s->gens[key] = v;
		s->cap_gens[key] = cap;
	}
	return &s->gens[key][gen];
}

uint64_t sim_wall(const struct sim *s, unsigned node)
{
	return (uint64_t)((int64_t)(SIM_WALL_BASE_MS + s->now / 1000) + s->nodes[node].skew_ms);
}

static void drain(struct sim *s, unsigned id);

/* What the loop does with the lifetime outputs: learned, erased, watches. */
/* A value node id's learner holds as chosen: the learners must agree. */
static void record_learned(struct sim *s, unsigned id, const struct store_entry *e)
{
	unsigned k = key_index(e->key);
	struct sim_gen *g = gen_rec(s, k, e->gen);
	uint32_t len = e->chosen_value.len < sizeof(g->v) ? e->chosen_value.len : sizeof(g->v);
	if (!g->set) {
		g->set = true;
		g->len = len;
		if (len)
			memcpy(g->v, e->chosen_value.p, len);
	} else if (g->len != len || (len && memcmp(g->v, e->chosen_value.p, len))) {
		if (!s->learn_conflicts++)
			snprintf(s->learn_err, sizeof(s->learn_err),
				 "learner of node %u learned '%.*s' for k%u gen %" PRIu64
				 ", another '%.*s'",
				 id, (int)len, (const char *)e->chosen_value.p, k, e->gen, (int)g->len,
				 (const char *)g->v);
	}
}

/* Node id ended generations up to gen of a key. */
static void record_erased(struct sim *s, unsigned id, struct pkv_bytes key, uint64_t gen)
{
	unsigned k = key_index(key);
	s->erasures++;
	for (uint64_t g = 1; g <= gen; g++) {
		struct sim_gen *r = gen_rec(s, k, g);
		if (!r->erased) {
			r->erased = true;
			r->erased_at = s->now;
		}
		r->erased_by |= 1u << id;
	}
	if (gen > s->max_erased[k])
		s->max_erased[k] = gen;
}

/*
 * hold: the log batch the turn's learned values and ended lifetimes wait
 * for (0: none), as pkvd's loop holds the cache's updates.
 */
static void drain_lifetimes(struct sim *s, unsigned id, uint64_t hold)
{
	struct sim_node *nd = &s->nodes[id];
	size_t n;
	struct store_entry *const *le = paxos_learned(nd->p, &n);
	for (size_t i = 0; i < n; i++) {
		if (!le[i]->chosen)
			continue;
		if (!hold)
			record_learned(s, id, le[i]);
		else if (durable_hold_learned(&nd->hold, hold, store_bucket_name(le[i]->bucket),
					      le[i]->key, le[i]->gen))
			abort();
	}
	paxos_learned_reset(nd->p);
	const struct paxos_erased *er = paxos_erased(nd->p, &n);
	for (size_t i = 0; i < n; i++) {
		if (!hold)
			record_erased(s, id, er[i].e->key, er[i].gen);
		else if (durable_hold_erased(&nd->hold, hold, store_bucket_name(er[i].e->bucket),
					     er[i].e->key, er[i].gen))
			abort();
	}
	paxos_erased_reset(nd->p);
	/* A watch of a process already gone fails at once, as pidfd_open would. */
	int32_t gone[16];
	uint64_t gone_st[16];
	unsigned n_gone = 0;
	const struct paxos_watch *w = paxos_watches(nd->p, &n);
	for (size_t i = 0; i < n; i++) {
		if (!w[i].watch)
			continue;
		bool alive = false;
		for (unsigned j = 0; j < s->n_procs; j++)
			if (s->procs[j].node == id && s->procs[j].pid == w[i].pid &&
			    s->procs[j].start_time == w[i].start_time)
				alive = s->procs[j].alive;
		if (!alive && n_gone < 16) {
			gone[n_gone] = w[i].pid;
			gone_st[n_gone++] = w[i].start_time;
		}
	}
	paxos_watches_reset(nd->p);
	for (unsigned i = 0; i < n_gone; i++) {
		paxos_pid_exited(nd->p, gone[i], gone_st[i], s->now);
		drain(s, id);
	}
}

/* ---- nodes ---- */

static void complete_op(struct sim *s, unsigned id, const struct paxos_completion *c)
{
	if (c->id >= s->n_ops)
		abort();
	trace_completion(s, id, c);
	struct sim_op *op = &s->ops[c->id];
	if (op->done)
		abort(); /* completed twice */
	op->done = true;
	op->end = s->now;
	op->status = c->status;
	op->gen = c->gen;
	op->n_keys = c->n_keys;
	op->result_len = c->value.len < sizeof(op->result) ? c->value.len : sizeof(op->result);
	if (op->result_len)
		memcpy(op->result, c->value.p, op->result_len);
}

static void send_out(struct sim *s, unsigned id, const struct pkv_out *o)
{
	if (o->to == PKV_TO_ALL) {
		for (unsigned j = 1; j <= s->cfg.n; j++)
			if (j != id)
				enqueue(s, id, j, &o->msg);
	} else {
		enqueue(s, id, o->to, &o->msg);
	}
}

static bool lagging(const struct sim *s)
{
	return s->cfg.durable && s->cfg.sync_max_us;
}

/* ---- the durable log's batches (sync_max_us; pkvd: persist.c, loop.c) ---- */

static void snap_free(struct sim_snap *sn)
{
	for (size_t i = 0; i < sn->n; i++) {
		struct paxos_saved *k = &sn->v[i];
		free((void *)k->bucket.p);
		free((void *)k->key.p);
		free((void *)k->accepted_value.p);
		free((void *)k->accepted_bind.key.p);
		free((void *)k->chosen_value.p);
		free((void *)k->chosen_bind.key.p);
	}
	free(sn->v);
	memset(sn, 0, sizeof(*sn));
}

static struct pkv_bytes bytes_dup(struct pkv_bytes b)
{
	if (!b.len)
		return (struct pkv_bytes){ 0 };
	uint8_t *p = malloc(b.len);
	if (!p)
		abort();
	memcpy(p, b.p, b.len);
	return (struct pkv_bytes){ p, b.len };
}

/* What a sync started now writes: every entry's state (the log's last
 * record of each key), copied. */
static void snap_take(struct sim_snap *sn, struct store *st)
{
	memset(sn, 0, sizeof(*sn));
	/* Entries are numbered up to store_nslots; the holes collected
	 * tombstones left (§4.6) are not counted in store_nentries. */
	size_t n = store_nentries(st), slots = store_nslots(st);
	sn->v = calloc(n ? n : 1, sizeof(*sn->v));
	if (!sn->v)
		abort();
	for (size_t i = 0; i < slots; i++) {
		const struct store_entry *e = store_entry_at(st, i);
		if (!e)
			continue; /* a hole */
		if (sn->n == n)
			abort();
		struct paxos_saved *k = &sn->v[sn->n++];
		*k = (struct paxos_saved){
			.bucket = bytes_dup(store_bucket_name(e->bucket)),
			.key = bytes_dup(e->key),
			.gen = e->gen,
			.max_round = e->max_round,
			.promised = e->promised,
			.has_accepted = e->has_accepted,
			.accepted = e->accepted,
			.accepted_value = bytes_dup(e->accepted_value),
			.accepted_bind = *e->accepted_bind,
			.chosen = e->chosen,
			.chosen_ballot = e->chosen_ballot,
			.chosen_value = bytes_dup(e->chosen_value),
			.chosen_bind = *e->chosen_bind,
		};
		k->accepted_bind.key = bytes_dup(e->accepted_bind->key);
		k->chosen_bind.key = bytes_dup(e->chosen_bind->key);
	}
	sn->valid = true;
}

/* The next batch goes to the disk when a reply waits for it and none is
 * being written. */
static void sync_start(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	if (nd->t_flight || nd->t_urgent < nd->t_next)
		return;
	snap_take(&nd->flight, nd->store);
	nd->t_flight = nd->t_next++;
	uint64_t lo = s->cfg.sync_min_us ? s->cfg.sync_min_us : 1;
	nd->sync_done_at = s->now + sim_range(s, lo, s->cfg.sync_max_us > lo ? s->cfg.sync_max_us : lo);
}

static void sync_finish(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	snap_free(&nd->snap);
	nd->snap = nd->flight;
	memset(&nd->flight, 0, sizeof(nd->flight));
	nd->t_done = nd->t_flight;
	nd->t_flight = 0;
	struct hold_batch *b;
	while ((b = durable_hold_due(&nd->hold, nd->t_done))) {
		for (size_t i = 0; i < b->n_learned; i++) {
			const struct hold_learned *l = &b->learned[i];
			struct store_entry *e = store_lookup(nd->store, l->bucket, l->key, false);
			if (e && e->gen == l->gen && e->chosen)
				record_learned(s, id, e);
		}
		for (size_t i = 0; i < b->n_erased; i++)
			record_erased(s, id, b->erased[i].key, b->erased[i].gen);
		for (size_t i = 0; i < b->n_done; i++)
			complete_op(s, id, &b->done[i]);
		for (size_t i = 0; i < b->ob.n; i++)
			send_out(s, id, &b->ob.v[i]);
		/* as pkvd's loop: a classic ACCEPT within a tenth of a ballot's
		 * life of its making, whose ballots live that much less */
		for (size_t i = 0; i < b->prior.n; i++)
			if (s->now - b->prior_at[i] <= s->cfg.retransmit_us / 2)
				send_out(s, id, &b->prior.v[i]);
		durable_hold_pop(&nd->hold);
	}
	sync_start(s, id);
}

bool sim_sync_in_flight(const struct sim *s, unsigned node)
{
	return s->nodes[node].up && s->nodes[node].t_flight != 0;
}

static void drain(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	if (!nd->up)
		return;
	/* As persist_turn: the batch this turn's outputs depend on. */
	uint64_t need_all = 0, need_prior = 0;
	if (lagging(s)) {
		size_t nd_n;
		bool urgent;
		struct store_entry *const *dirty = store_dirty(nd->store, &nd_n, &urgent);
		for (size_t i = 0; i < nd_n && !urgent; i++)
			urgent = dirty[i]->chosen && (dirty[i]->chosen_bind->mask & PKV_BIND_PID) &&
				 dirty[i]->chosen_bind->owner == id;
		need_prior = nd->t_urgent;
		if (urgent && nd_n)
			nd->t_urgent = nd->t_next;
		need_all = nd->t_urgent;
		store_dirty_reset(nd->store);
	}
	for (size_t i = 0; i < nd->ob.n; i++) {
		struct pkv_out *o = &nd->ob.v[i];
		enum hold_dep dep = lagging(s) ? durable_hold_dep(&o->msg) : HOLD_NONE;
		uint64_t need = dep == HOLD_ALL ? need_all : dep == HOLD_PRIOR ? need_prior : 0;
		if (need <= nd->t_done)
			send_out(s, id, o);
		else if (dep == HOLD_PRIOR) {
			if (durable_hold_prior(&nd->hold, need, o, s->now))
				abort();
		} else if (durable_hold_msg(&nd->hold, need, o))
			abort();
	}
	pkv_outbox_reset(&nd->ob);
	size_t n;
	const struct paxos_completion *c = paxos_completions(nd->p, &n);
	for (size_t i = 0; i < n; i++) {
#ifdef SIM_BROKEN_HOLD
		complete_op(s, id, &c[i]); /* answers, too, before the disk */
#else
		if (need_all > nd->t_done) {
			if (durable_hold_completion(&nd->hold, need_all, &c[i]))
				abort();
		} else {
			complete_op(s, id, &c[i]);
		}
#endif
	}
	paxos_completions_reset(nd->p);
#ifdef SIM_BROKEN_HOLD
	drain_lifetimes(s, id, 0);
#else
	drain_lifetimes(s, id, need_all > nd->t_done ? need_all : 0);
#endif
	size_t ne;
	const struct paxos_event_rec *ev = paxos_events(nd->p, &ne);
	for (size_t i = 0; i < ne; i++) {
		if (ev[i].kind == PAXOS_E_VIOLATION)
			nd->violations++;
		if (ev[i].kind == PAXOS_E_NEW_EPOCH)
			nd->epochs++;
		if (ev[i].kind == PAXOS_E_CONF) {
			nd->conf = paxos_conf(nd->p); /* the state file, as pkvd writes it */
			nd->conf_changes++;
		}
	}
	paxos_events_reset(nd->p);
	if (lagging(s))
		sync_start(s, id);
}

static void node_start(struct sim *s, unsigned id, bool restarted, bool fresh)
{
	struct sim_node *nd = &s->nodes[id];
	struct paxos_config pc = {
		.self = id,
		.n_nodes = s->cfg.n,
		.cluster_size = nd->cluster_size,
		.restarted = restarted,
		.fresh = fresh,
		.seed = s->cfg.seed * 1000003u + id * 7919u + nd->incarnation,
		.retransmit_us = s->cfg.retransmit_us,
		.backoff_max_us = s->cfg.backoff_max_us,
		.epoch_grace_us = 2000000,
		.epoch_gen_shift = 16, /* keeps the history's generation table small */
		/* bounded ballots, and the restart quiet period (2x) they allow;
		 * a lagging durable node's ballots live what its held ACCEPTs
		 * may wait less (as pkvd's) */
		.ballot_life_us = 5 * s->cfg.retransmit_us - (lagging(s) ? s->cfg.retransmit_us / 2 : 0),
		.restart_quiet_us = 10 * s->cfg.retransmit_us,
		.start_us = s->now,
		.sync_page = 4, /* small pages: paging gets exercised */
		.incarnation = nd->incarnation,
		.bind_inc = nd->bind_inc,
		.restart_grace_us = s->cfg.restart_grace_us,
		.failure_timeout_us = s->cfg.failure_timeout_us,
		.conf = nd->conf,
	};
	for (unsigned j = 0; j < s->cfg.n; j++)
		pc.nodes[j] = j + 1;
	for (unsigned j = s->cfg.n - s->cfg.observers + 1; s->cfg.observers && j <= s->cfg.n; j++)
		pc.observers |= UINT64_C(1) << (j - 1);
	nd->store = store_new();
	pkv_outbox_init(&nd->ob);
	nd->p = paxos_new(&pc, nd->store, &nd->ob);
	if (!nd->store || !nd->p)
		abort();
	nd->up = true;
	if (lagging(s)) {
		if (fresh)
			nd->snap.valid = true; /* the log pkvd makes at a first boot */
		store_track_dirty(nd->store, true);
		nd->t_next = 1;
		nd->t_done = nd->t_flight = nd->t_urgent = 0;
		durable_hold_init(&nd->hold);
	}
	paxos_set_wall(nd->p, sim_wall(s, id), s->now);
	memset(nd->seen_inc, 0, sizeof(nd->seen_inc));
	if (s->cfg.lease) {
		/* none until a majority echoes it, told before anything is
		 * answered (docs/design.md §5.1) */
		nd->lease_until = 0;
		paxos_set_lease(nd->p, 0);
	}
}

static void node_stop(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	if (!nd->up)
		return;
	const struct paxos_stats *st = paxos_stats(nd->p);
	s->conflicts += st->conflicts;
	s->forwards += st->forwards;
	s->rounds += st->rounds_started;
	s->fast_rounds += st->fast_rounds;
	s->fast_chosen += st->fast_chosen;
	s->fast_refused += st->fast_refused;
	paxos_free(nd->p);
	if (lagging(s)) {
		/* Only what a completed sync wrote survives; what waited for
		 * the batch in flight is never sent. */
		store_free(nd->store);
		snap_free(&nd->flight);
		nd->t_flight = 0;
		durable_hold_free(&nd->hold);
	} else if (s->cfg.durable) {
		store_free(nd->disk);
		nd->disk = nd->store;
	} else {
		store_free(nd->store);
	}
	pkv_outbox_free(&nd->ob);
	nd->p = NULL;
	nd->store = NULL;
	nd->up = false;
}

void sim_init(struct sim *s, const struct sim_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	if (!s->cfg.n)
		s->cfg.n = 3;
	if (!s->cfg.lat_max_us)
		s->cfg.lat_max_us = 2000;
	if (!s->cfg.lat_min_us)
		s->cfg.lat_min_us = 100;
	if (!s->cfg.hb_us)
		s->cfg.hb_us = 20000;
	if (!s->cfg.retransmit_us)
		s->cfg.retransmit_us = 30000;
	if (!s->cfg.backoff_max_us)
		s->cfg.backoff_max_us = 20000;
	s->rng = cfg->seed ^ 0x5eedull;
	s->trace = 0xcbf29ce484222325ull; /* FNV-1a offset basis */
	s->now = 1;
	s->next_pid = 100;
	for (unsigned i = 1; i <= s->cfg.n; i++) {
		s->nodes[i].incarnation = 1;
		s->nodes[i].bind_inc = 1;
		s->nodes[i].cluster_size = s->cfg.cluster_size ? s->cfg.cluster_size : s->cfg.n;
		s->nodes[i].skew_ms =
			s->cfg.skew_ms ? (int64_t)sim_range(s, 0, 2 * s->cfg.skew_ms) - (int64_t)s->cfg.skew_ms
				       : 0;
		node_start(s, i, false, true);
	}
	s->next_hb = s->now;
}

void sim_free(struct sim *s)
{
	for (unsigned i = 1; i <= s->cfg.n; i++) {
		node_stop(s, i);
		store_free(s->nodes[i].disk);
		s->nodes[i].disk = NULL;
		snap_free(&s->nodes[i].snap);
	}
	for (size_t i = 0; i < s->n_heap; i++)
		free(s->heap[i]);
	free(s->heap);
	for (size_t i = 0; i < 16; i++)
		free(s->attic[i]);
	free(s->ops);
	for (unsigned k = 0; k < SIM_MAX_KEYS; k++)
		free(s->gens[k]);
}

/*
 * cfg.lease: node i's lease at this heartbeat (membership_lease_until, and
 * the regain rule of docs/design.md §5.1). A voter's echo counts while the
 * link works both ways; after a lapse (the lease ended before this
 * heartbeat, or never held) only from a peer that says it is synced and
 * owes i no erasure. The lease runs to the next heartbeat, at which the
 * peers that no longer hear i count it lost: it ends no later than that.
 */
static void lease_renew(struct sim *s, unsigned i)
{
	struct sim_node *nd = &s->nodes[i];
	uint64_t voters = paxos_conf(nd->p).voters;
	bool lapsed = !nd->lease_until || nd->lease_until < s->now;
	unsigned have = (unsigned)((voters >> (i - 1)) & 1u);
	for (unsigned j = 1; j <= s->cfg.n; j++) {
		const struct sim_node *pe = &s->nodes[j];
		if (j == i || !((voters >> (j - 1)) & 1u) || !pe->up || s->cut[i][j] ||
		    s->cut[j][i])
			continue;
		if (lapsed && (!(paxos_heartbeat_flags(pe->p) & PKV_MF_SYNCED) ||
			       ((paxos_erase_owed(pe->p) >> (i - 1)) & 1u)))
			continue;
		have++;
	}
	if (have > (unsigned)__builtin_popcountll(voters) / 2) {
		nd->lease_until = s->now + s->cfg.hb_us;
		paxos_set_lease(nd->p, nd->lease_until);
	}
}

/* The membership oracle: what each node's heartbeats would tell it. */
static void heartbeats(struct sim *s)
{
	for (unsigned i = 1; i <= s->cfg.n; i++) {
		struct sim_node *nd = &s->nodes[i];
		if (!nd->up)
			continue;
		uint64_t voters = paxos_conf(nd->p).voters;
		for (unsigned j = 1; j <= s->cfg.n; j++) {
			if (j == i)
				continue;
			struct sim_node *pe = &s->nodes[j];
			/* Two daemons that both do not vote send each other no
			 * heartbeats (membership.c, docs/design.md §5.2). */
			if (s->cfg.observers && !((voters >> (i - 1)) & 1u) &&
			    !((voters >> (j - 1)) & 1u)) {
				paxos_peer_update(nd->p, j, false, 0, 0, s->now);
				continue;
			}
			bool hears = pe->up && !s->cut[j][i];
			if (hears && nd->seen_inc[j] != pe->incarnation)
				paxos_peer_incarnation(nd->p, j, pe->incarnation, s->now);
			if (hears && nd->seen_inc[j] && nd->seen_inc[j] != pe->incarnation)
				paxos_peer_restarted(nd->p, j, s->now);
			if (hears) {
				nd->seen_inc[j] = pe->incarnation;
				/* the heartbeat's binding incarnation */
				paxos_peer_bind_inc(nd->p, j, pe->bind_inc, s->now);
			}
			paxos_peer_update(nd->p, j, hears, hears ? paxos_heartbeat_flags(pe->p) : 0,
					  hears ? paxos_epoch(pe->p) : 0, s->now);
			if (hears && !nd->conf_hidden) {
				struct pkv_conf c = paxos_conf(pe->p);
				paxos_peer_conf(nd->p, j, &c, s->now);
			}
		}
		if (s->cfg.lease)
			lease_renew(s, i);
		drain(s, i);
	}
}

static uint64_t next_event(const struct sim *s)
{
	uint64_t t = s->next_hb;
	if (s->n_heap && s->heap[0]->at < t)
		t = s->heap[0]->at;
	for (unsigned i = 1; i <= s->cfg.n; i++) {
		if (!s->nodes[i].up)
			continue;
		uint64_t d = paxos_next_deadline(s->nodes[i].p);
		if (d < t)
			t = d;
		if (s->nodes[i].t_flight && s->nodes[i].sync_done_at < t)
			t = s->nodes[i].sync_done_at;
	}
	return t;
}

void sim_run_until(struct sim *s, uint64_t t)
{
	for (;;) {
		uint64_t e = next_event(s);
		if (e > t)
			break;
		if (e > s->now)
			s->now = e;
		if (s->next_hb <= s->now) {
			heartbeats(s);
			s->next_hb = s->now + s->cfg.hb_us;
		}
		while (s->n_heap && s->heap[0]->at <= s->now) {
			struct sim_msg *m = heap_pop(s);
			struct sim_node *nd = &s->nodes[m->to];
			if (nd->up && !s->cut[m->from][m->to] && !s->silent[m->from][m->to]) {
				s->delivered++;
				paxos_receive(nd->p, m->from, &m->m, s->now);
				drain(s, m->to);
			} else {
				s->dropped++;
			}
			free(m);
		}
		for (unsigned i = 1; i <= s->cfg.n; i++) {
			struct sim_node *nd = &s->nodes[i];
			if (nd->up && nd->t_flight && nd->sync_done_at <= s->now)
				sync_finish(s, i);
		}
		for (unsigned i = 1; i <= s->cfg.n; i++) {
			struct sim_node *nd = &s->nodes[i];
			if (nd->up && paxos_next_deadline(nd->p) <= s->now) {
				paxos_tick(nd->p, s->now);
				drain(s, i);
			}
		}
	}
	if (t > s->now)
		s->now = t;
}

static bool all_done(const struct sim *s)
{
	for (size_t i = 0; i < s->n_ops; i++)
		if (!s->ops[i].done)
			return false;
	return true;
}

bool sim_run_until_done(struct sim *s, uint64_t t)
{
	while (!all_done(s) && s->now < t)
		sim_run_until(s, s->now + 10000 < t ? s->now + 10000 : t);
	return all_done(s);
}

static struct sim_op *new_op(struct sim *s, enum sim_op_kind kind, unsigned node, unsigned key)
{
	if (s->n_ops == s->cap_ops) {
		s->cap_ops = s->cap_ops ? s->cap_ops * 2 : 64;
		s->ops = realloc(s->ops, s->cap_ops * sizeof(*s->ops));
		if (!s->ops)
			abort();
	}
	struct sim_op *op = &s->ops[s->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->node = node;
	op->key = key;
	op->start = s->now;
	return op;
}

static uint64_t deadline(const struct sim *s, uint64_t timeout)
{
	return timeout ? s->now + timeout : PAXOS_NO_DEADLINE;
}

size_t sim_put(struct sim *s, unsigned node, unsigned key, const char *value, uint64_t timeout,
	       bool retry)
{
	struct sim_op *op = new_op(s, SIM_PUT, node, key);
	size_t id = s->n_ops - 1;
	snprintf(op->value, sizeof(op->value), "%s", value);
	if (!s->nodes[node].up) {
		op->done = op->lost = true;
		return id;
	}
	char k[16];
	key_name(k, sizeof(k), key);
	paxos_put(s->nodes[node].p, id, str_bytes(BUCKET), str_bytes(k), str_bytes(op->value),
		  deadline(s, timeout), retry, s->now);
	drain(s, node);
	return id;
}

size_t sim_put_bound(struct sim *s, unsigned node, unsigned key, const char *value,
		     const struct sim_bind *sb, uint64_t timeout, bool retry)
{
	struct sim_op *op = new_op(s, SIM_PUT, node, key);
	size_t id = s->n_ops - 1;
	snprintf(op->value, sizeof(op->value), "%s", value);
	op->bind_mask = sb->mask;
	s->bound_puts++;
	if (!s->nodes[node].up) {
		op->done = op->lost = true;
		return id;
	}
	char k[16], dk[16];
	key_name(k, sizeof(k), key);
	key_name(dk, sizeof(dk), sb->key);
	struct pkv_bindings b = { .mask = sb->mask };
	if (sb->mask & PKV_BIND_PID) {
		/* The loop checks the process is alive and local before the put. */
		const struct sim_proc *pr = &s->procs[sb->proc];
		b.pid = pr->pid;
		b.start_time = pr->start_time;
		if (!pr->alive || pr->node != node)
			b.mask |= PKV_BIND_PID_DEAD;
	}
	b.node = sb->node;
	if (sb->mask & PKV_BIND_KEY)
		b.key = str_bytes(dk);
	b.until = sim_wall(s, node) + sb->ttl_ms;
	paxos_put_bound(s->nodes[node].p, id, str_bytes(BUCKET), str_bytes(k),
			str_bytes(op->value), &b, deadline(s, timeout), retry, s->now);
	drain(s, node);
	return id;
}

unsigned sim_spawn(struct sim *s, unsigned node)
{
	if (s->n_procs == SIM_MAX_PROCS)
		return UINT32_MAX;
	struct sim_proc *pr = &s->procs[s->n_procs];
	pr->node = node;
	pr->pid = s->next_pid++;
	pr->start_time = s->now;
	pr->alive = true;
	return s->n_procs++;
}

void sim_proc_kill(struct sim *s, unsigned proc)
{
	struct sim_proc *pr = &s->procs[proc];
	if (!pr->alive)
		return;
	pr->alive = false;
	/* Its daemon's pidfd fires; a daemon that is down learns nothing. */
	struct sim_node *nd = &s->nodes[pr->node];
	if (nd->up) {
		paxos_pid_exited(nd->p, pr->pid, pr->start_time, s->now);
		drain(s, pr->node);
	}
}

size_t sim_get(struct sim *s, unsigned node, unsigned key, uint64_t timeout, bool retry)
{
	new_op(s, SIM_GET, node, key);
	size_t id = s->n_ops - 1;
	if (!s->nodes[node].up) {
		s->ops[id].done = s->ops[id].lost = true;
		return id;
	}
	char k[16];
	key_name(k, sizeof(k), key);
	paxos_get(s->nodes[node].p, id, str_bytes(BUCKET), str_bytes(k), deadline(s, timeout),
		  retry, s->now);
	drain(s, node);
	return id;
}

size_t sim_keys(struct sim *s, unsigned node, uint64_t timeout)
{
	new_op(s, SIM_KEYS, node, 0);
	size_t id = s->n_ops - 1;
	if (!s->nodes[node].up) {
		s->ops[id].done = s->ops[id].lost = true;
		return id;
	}
	paxos_keys(s->nodes[node].p, id, str_bytes(BUCKET), deadline(s, timeout), s->now);
	drain(s, node);
	return id;
}

size_t sim_drop(struct sim *s, unsigned node, uint64_t timeout)
{
	new_op(s, SIM_DROP, node, 0);
	size_t id = s->n_ops - 1;
	if (!s->nodes[node].up) {
		s->ops[id].done = s->ops[id].lost = true;
		return id;
	}
	paxos_bucket_drop(s->nodes[node].p, id, str_bytes(BUCKET), deadline(s, timeout), s->now);
	drain(s, node);
	return id;
}

void sim_forge(struct sim *s, unsigned from, unsigned to, const struct pkv_msg *m)
{
	enqueue(s, from, to, m);
}

static unsigned key_index(struct pkv_bytes k);

bool sim_send_late_old(struct sim *s, uint64_t age_us)
{
	for (size_t i = 0; i < 16; i++) {
		struct sim_msg *x = s->attic[i];
		if (!x || s->now < x->at + age_us)
			continue;
		unsigned k = key_index(x->m.key);
		/* Only a generation that has ended: no live round is replayed. */
		if (x->m.gen > s->max_erased[k] || x->m.gen == 0)
			continue;
		s->attic[i] = NULL;
		/*
		 * To a node past that generation: one that collected the key
		 * (its bucket's floor is above the message's generation) or
		 * holds it in a later one. A node still in the generation would
		 * take the message as a late one of a live round, which only the
		 * delay bound makes safe after a restart (§6.1).
		 */
		uint32_t to = (uint32_t)sim_range(s, 1, s->cfg.n);
		struct sim_node *nd = &s->nodes[to];
		const struct store_entry *e =
			nd->up ? store_lookup(nd->store, x->m.bucket, x->m.key, false) : NULL;
		const struct store_entry *f =
			nd->up && !e ? store_lookup_floor(nd->store, x->m.bucket, false) : NULL;
		if (to != x->from && ((e && e->gen > x->m.gen) || (f && f->gen > x->m.gen))) {
			s->late_old_sent++;
			enqueue(s, x->from, to, &x->m);
		}
		free(x);
		return true;
	}
	return false;
}

struct store_entry *sim_entry(const struct sim *s, unsigned node, unsigned key)
{
	char kname[16];
	key_name(kname, sizeof(kname), key);
	return store_lookup(s->nodes[node].store, str_bytes(BUCKET), str_bytes(kname), false);
}

uint64_t sim_chosen_gen(const struct sim *s, unsigned node, unsigned key)
{
	const struct store_entry *e = sim_entry(s, node, key);
	return e && e->chosen ? e->gen : 0;
}

static bool forged(const uint8_t *v, uint32_t len)
{
	size_t n = strlen(SIM_FORGED);
	return len >= n && !memcmp(v, SIM_FORGED, n);
}

void sim_cut(struct sim *s, unsigned from, unsigned to, bool cut)
{
	s->cut[from][to] = cut;
}

void sim_isolate(struct sim *s, unsigned node, bool cut)
{
	for (unsigned j = 1; j <= s->cfg.n; j++) {
		if (j == node)
			continue;
		s->cut[node][j] = cut;
		s->cut[j][node] = cut;
	}
}

void sim_heal(struct sim *s)
{
	memset(s->cut, 0, sizeof(s->cut));
	memset(s->silent, 0, sizeof(s->silent));
	memset(s->delay, 0, sizeof(s->delay));
}

void sim_silence(struct sim *s, unsigned from, unsigned to, bool silent)
{
	s->silent[from][to] = silent;
}

void sim_delay_link(struct sim *s, unsigned from, unsigned to, uint64_t extra_us)
{
	s->delay[from][to] = extra_us;
}

void sim_set_filter(struct sim *s, sim_filter_fn fn, void *arg)
{
	s->filter = fn;
	s->filter_arg = arg;
}

size_t sim_change(struct sim *s, unsigned node, uint64_t voters, uint64_t timeout)
{
	new_op(s, SIM_CHANGE, node, 0);
	size_t id = s->n_ops - 1;
	if (!s->nodes[node].up) {
		s->ops[id].done = s->ops[id].lost = true;
		return id;
	}
	paxos_change_voters(s->nodes[node].p, id, voters, deadline(s, timeout), s->now);
	drain(s, node);
	return id;
}

void sim_hide_conf(struct sim *s, unsigned node, bool hidden)
{
	s->nodes[node].conf_hidden = hidden;
}

uint64_t sim_voters(const struct sim *s, unsigned node)
{
	const struct sim_node *nd = &s->nodes[node];
	return nd->up ? paxos_conf(nd->p).voters : nd->conf.voters;
}

void sim_kill(struct sim *s, unsigned node)
{
	struct sim_node *nd = &s->nodes[node];
	if (!nd->up)
		return;
	drain(s, node); /* violation/epoch events are counted there */
	node_stop(s, node);
	nd->killed_at = s->now;
	/* Without durable state the node forgets what it erased. */
	for (unsigned k = 0; k < SIM_MAX_KEYS && !s->cfg.durable; k++)
		for (size_t g = 0; g < s->cap_gens[k]; g++)
			s->gens[k][g].erased_by &= ~(1u << node);
	for (size_t i = 0; i < s->n_ops; i++) {
		struct sim_op *op = &s->ops[i];
		if (!op->done && op->node == node) {
			op->done = op->lost = true;
			op->end = s->now;
		}
	}
}

/* Restores a durable node's state from its disk, as pkvd replays its log. */
static void node_restore_snap(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	for (size_t i = 0; i < nd->snap.n; i++) {
		struct paxos_saved k = nd->snap.v[i];
		/* a learned value not bound to our own process may not have been
		 * written yet (lazy), as below */
		if (k.chosen && !((k.chosen_bind.mask & PKV_BIND_PID) && k.chosen_bind.owner == id) &&
		    !sim_range(s, 0, 1)) {
			k.chosen = false;
			k.chosen_value = (struct pkv_bytes){ 0 };
			k.chosen_bind = (struct pkv_bindings){ 0 };
		}
		if (paxos_restore(nd->p, &k))
			abort();
	}
	paxos_restore_done(nd->p, s->now);
}

static void node_restore(struct sim *s, unsigned id)
{
	struct sim_node *nd = &s->nodes[id];
	if (lagging(s)) {
		node_restore_snap(s, id);
		return;
	}
	struct store *disk = nd->disk;
	for (size_t i = 0; i < store_nslots(disk); i++) {
		const struct store_entry *e = store_entry_at(disk, i);
		if (!e)
			continue;
		struct paxos_saved k = {
			.bucket = store_bucket_name(e->bucket),
			.key = e->key,
			.gen = e->gen,
			.max_round = e->max_round,
			.promised = e->promised,
			.has_accepted = e->has_accepted,
			.accepted = e->accepted,
			.accepted_value = e->accepted_value,
			.accepted_bind = *e->accepted_bind,
			/*
			 * A lazily synced learned value may be lost, but not
			 * one bound to a process of this node: pkvd syncs those
			 * at once (persist.c), since a restart within the grace
			 * takes back what its log holds (docs/design.md §6.2).
			 */
			.chosen = e->chosen && (sim_range(s, 0, 1) ||
						((e->chosen_bind->mask & PKV_BIND_PID) &&
						 e->chosen_bind->owner == id)),
			.chosen_ballot = e->chosen_ballot,
			.chosen_value = e->chosen_value,
			.chosen_bind = *e->chosen_bind,
		};
		if (!k.chosen) {
			k.chosen_value = (struct pkv_bytes){ 0 };
			k.chosen_bind = (struct pkv_bindings){ 0 };
		}
		if (paxos_restore(nd->p, &k))
			abort();
	}
	paxos_restore_done(nd->p, s->now);
	store_free(disk);
	nd->disk = NULL;
}

void sim_restart(struct sim *s, unsigned node)
{
	struct sim_node *nd = &s->nodes[node];
	if (nd->up)
		return;
	nd->incarnation++;
	bool restore = s->cfg.durable && (nd->disk || nd->snap.valid);
	/* As pkvd's hand-over file decides: durable state, within the grace. */
	if (!restore || !s->cfg.restart_grace_us || s->now - nd->killed_at > s->cfg.restart_grace_us)
		nd->bind_inc = nd->incarnation;
	node_start(s, node, !restore, false);
	if (restore) {
		/* A node with state on disk is neither fresh nor behind. */
		node_restore(s, node);
	}
}

void sim_restart_wiped(struct sim *s, unsigned node, bool bootstrap)
{
	struct sim_node *nd = &s->nodes[node];
	if (nd->up)
		return;
	nd->incarnation++;
	nd->bind_inc = nd->incarnation; /* and the hand-over file */
	store_free(nd->disk); /* the wiped run dir held the durable log too */
	nd->disk = NULL;
	snap_free(&nd->snap);
	nd->conf = (struct pkv_conf){ 0 }; /* and the state file */
	/* As pkvd's main.c decides: a first boot only when told to bootstrap. */
	node_start(s, node, !bootstrap, bootstrap);
}

bool sim_all_synced(const struct sim *s)
{
	for (unsigned i = 1; i <= s->cfg.n; i++)
		if (!s->nodes[i].up || !paxos_synced(s->nodes[i].p))
			return false;
	return true;
}

/* ---- the history checker ---- */

static bool same_rec(const struct sim_gen *g, const uint8_t *v, uint32_t len)
{
	return g->len == len && (len == 0 || !memcmp(g->v, v, len));
}

unsigned sim_check(const struct sim *s, char *err, size_t errlen)
{
	unsigned problems = 0;
	if (errlen)
		err[0] = 0;
#define REPORT(...)                                                   \
	do {                                                          \
		if (problems++ == 0 && errlen)                        \
			snprintf(err, errlen, __VA_ARGS__);           \
	} while (0)

	if (s->learn_conflicts)
		REPORT("agreement: %s", s->learn_err);
	/*
	 * Agreement over the history: one value per (key, generation). The
	 * reference for a generation is what a learner learned, else the
	 * first operation that returned it.
	 */
	struct sim *w = (struct sim *)s; /* gen_rec may grow the tables */
	size_t *first = calloc(SIM_MAX_KEYS * 4096, sizeof(*first));
	if (!first)
		abort();
	for (size_t i = 0; i < s->n_ops; i++) {
		const struct sim_op *op = &s->ops[i];
		if (!op->done || op->lost || !is_kv(op) || op->status != PKV_S_OK)
			continue;
		if (op->gen == 0) {
			REPORT("op %zu returned generation 0", i);
			continue;
		}
		if (forged(op->result, op->result_len))
			REPORT("op %zu (node %u) returned '%.*s', a value nobody proposed", i, op->node,
			       (int)op->result_len, (const char *)op->result);
		struct sim_gen *g = gen_rec(w, op->key, op->gen);
		size_t *f = op->gen < 4096 ? &first[op->key * 4096 + op->gen] : NULL;
		if (!g->set) {
			g->set = true;
			g->len = op->result_len;
			memcpy(g->v, op->result, op->result_len);
			if (f)
				*f = i + 1;
		} else if (!same_rec(g, op->result, op->result_len)) {
			REPORT("agreement: key k%u generation %" PRIu64 ": op %zu (node %u) returned "
			       "'%.*s' but %s%zu returned '%.*s'",
			       op->key, op->gen, i, op->node, (int)op->result_len,
			       (const char *)op->result, f && *f ? "op " : "a learner/op ",
			       f && *f ? *f - 1 : 0, (int)g->len, (const char *)g->v);
		}
	}
	free(first);
	/* Learners hold what the cluster decided for their generation. */
	for (unsigned n = 1; n <= s->cfg.n; n++) {
		const struct sim_node *nd = &s->nodes[n];
		if (nd->violations)
			REPORT("node %u counted %" PRIu64 " learner violations", n, nd->violations);
		if (!nd->up)
			continue;
		if (paxos_stats(nd->p)->violations && !nd->violations)
			REPORT("node %u counted %" PRIu64 " learner violations", n,
			       paxos_stats(nd->p)->violations);
		for (unsigned key = 0; key < SIM_MAX_KEYS; key++) {
			char kname[16];
			key_name(kname, sizeof(kname), key);
			struct store_entry *e =
				store_lookup(nd->store, str_bytes(BUCKET), str_bytes(kname), false);
			if (!e || !e->chosen)
				continue;
			if (forged(e->chosen_value.p, e->chosen_value.len))
				REPORT("learner of node %u holds '%.*s' for k%u, a value nobody "
				       "proposed",
				       n, (int)e->chosen_value.len, (const char *)e->chosen_value.p,
				       key);
			struct sim_gen *g = gen_rec(w, key, e->gen);
			uint32_t len = e->chosen_value.len < sizeof(g->v) ? e->chosen_value.len
									  : sizeof(g->v);
			if (!g->set) {
				g->set = true;
				g->len = len;
				memcpy(g->v, e->chosen_value.p, len);
			} else if (!same_rec(g, e->chosen_value.p, len)) {
				REPORT("learner of node %u holds '%.*s' for k%u gen %" PRIu64
				       ", others '%.*s'",
				       n, (int)len, (const char *)e->chosen_value.p, key, e->gen,
				       (int)g->len, (const char *)g->v);
			}
		}
	}
	/*
	 * A get that starts after a value of generation g was returned must not
	 * miss it, unless g ended (somewhere) before the get returned.
	 */
	for (size_t i = 0; i < s->n_ops; i++) {
		const struct sim_op *g = &s->ops[i];
		if (!g->done || g->lost || g->kind != SIM_GET || g->status != PKV_S_NOT_FOUND)
			continue;
		for (size_t j = 0; j < s->n_ops; j++) {
			const struct sim_op *o = &s->ops[j];
			if (!o->done || o->lost || !is_kv(o) || o->key != g->key ||
			    o->status != PKV_S_OK || o->end >= g->start)
				continue;
			const struct sim_gen *r = gen_rec(w, o->key, o->gen);
			if (r->erased && r->erased_at <= g->end)
				continue;
			REPORT("get op %zu on node %u answered not found for k%u after op %zu "
			       "returned a value of generation %" PRIu64 " that had not ended",
			       i, g->node, g->key, j, o->gen);
			break;
		}
	}
	/*
	 * cfg.lease: a get that answered generation g's value began at most
	 * late_read_us after g was seen ended — a get that began after a
	 * value of g was returned and answered not found, or any call that
	 * returned a later generation (docs/design.md §5.1: past the lease
	 * nothing vouches for a value, and within it erasures reach us).
	 */
	for (size_t i = 0; s->cfg.lease && s->cfg.late_read_us && i < s->n_ops; i++) {
		const struct sim_op *g = &s->ops[i];
		if (!g->done || g->lost || g->kind != SIM_GET || g->status != PKV_S_OK)
			continue;
		uint64_t shown = UINT64_MAX, ended = UINT64_MAX;
		size_t by = 0;
		for (size_t j = 0; j < s->n_ops; j++) {
			const struct sim_op *o = &s->ops[j];
			if (o->done && !o->lost && is_kv(o) && o->key == g->key &&
			    o->status == PKV_S_OK && o->gen == g->gen && o->end < shown)
				shown = o->end;
		}
		for (size_t j = 0; j < s->n_ops; j++) {
			const struct sim_op *o = &s->ops[j];
			if (!o->done || o->lost || !is_kv(o) || o->key != g->key || o->end >= ended)
				continue;
			bool absent = o->kind == SIM_GET && o->status == PKV_S_NOT_FOUND &&
				      o->start > shown;
			if (absent || (o->status == PKV_S_OK && o->gen > g->gen)) {
				ended = o->end;
				by = j;
			}
		}
		if (ended != UINT64_MAX && g->start > ended + s->cfg.late_read_us)
			REPORT("lease: get op %zu on node %u answered k%u generation %" PRIu64
			       " %" PRIu64 " us after op %zu (node %u) saw it ended",
			       i, g->node, g->key, g->gen, g->start - ended, by, s->ops[by].node);
	}
	/*
	 * A drop that returned OK ended every generation whose value some
	 * operation returned before the drop started: that value was chosen,
	 * so a majority held it, and the drop's majority meets it.
	 */
	for (size_t i = 0; i < s->n_ops; i++) {
		const struct sim_op *d = &s->ops[i];
		if (!d->done || d->lost || d->kind != SIM_DROP || d->status != PKV_S_OK)
			continue;
		for (size_t j = 0; j < s->n_ops; j++) {
			const struct sim_op *o = &s->ops[j];
			if (!o->done || o->lost || !is_kv(o) || o->status != PKV_S_OK ||
			    o->end >= d->start)
				continue;
			const struct sim_gen *r = gen_rec(w, o->key, o->gen);
			if (r->erased && r->erased_at <= d->end)
				continue;
			REPORT("drop op %zu on node %u returned OK at %" PRIu64 " but k%u generation "
			       "%" PRIu64 " (returned by op %zu before the drop) had not ended",
			       i, d->node, d->end, o->key, o->gen, j);
			break;
		}
	}
#undef REPORT
	return problems;
}

/* What the simulation knows about a binding (the truth, not a daemon's view). */
static bool truly_dead(const struct sim *s, unsigned node, const struct store_entry *e)
{
	const struct pkv_bindings *b = e->chosen_bind;
	if (b->mask & PKV_BIND_PID) {
		if (b->owner < 1 || b->owner > s->cfg.n ||
		    s->nodes[b->owner].bind_inc != b->owner_inc)
			return true;
		for (unsigned j = 0; j < s->n_procs; j++)
			if (s->procs[j].node == b->owner && s->procs[j].pid == b->pid &&
			    s->procs[j].start_time == b->start_time && !s->procs[j].alive)
				return true;
	}
	/* Past until on every clock (skews are bounded by skew_ms). */
	if ((b->mask & PKV_BIND_UNTIL) &&
	    SIM_WALL_BASE_MS + s->now / 1000 >= b->until + s->cfg.skew_ms + 1)
		return true;
	if (b->mask & PKV_BIND_KEY) {
		struct store_entry *d =
			store_lookup(s->nodes[node].store, str_bytes(BUCKET), b->key, false);
		if (d && d->gen > b->key_gen)
			return true;
	}
	return false;
}

unsigned sim_check_lifetimes(const struct sim *s, char *err, size_t errlen)
{
	unsigned problems = 0;
	if (errlen)
		err[0] = 0;
	for (unsigned n = 1; n <= s->cfg.n; n++) {
		const struct sim_node *nd = &s->nodes[n];
		if (!nd->up)
			continue;
		for (unsigned key = 0; key < SIM_MAX_KEYS; key++) {
			char kname[16];
			key_name(kname, sizeof(kname), key);
			struct store_entry *e =
				store_lookup(nd->store, str_bytes(BUCKET), str_bytes(kname), false);
			if (!e)
				continue;
			const char *why = NULL;
			if (!e->chosen)
				continue; /* a get finishes (and erases) what was only accepted */
			if (e->gen < s->cap_gens[key] && s->gens[key][e->gen].erased_by)
				why = "learner still holds a generation that ended";
			else if (truly_dead(s, n, e))
				why = "learner still holds a value whose binding ended";
			if (why && problems++ == 0 && errlen)
				snprintf(err, errlen,
					 "lifetime: node %u, k%u gen %" PRIu64 " (highest ended %" PRIu64
					 "): %s (bindings 0x%x)",
					 n, key, e->gen, s->max_erased[key], why, e->chosen_bind->mask);
		}
	}
	return problems;
}

/* ---- the randomized scenario ---- */

unsigned sim_random_run(uint64_t seed, char *err, size_t errlen, struct sim_figures *fig)
{
	unsigned drops = 0;
	static const unsigned sizes[] = { 3, 5, 7 };
	struct sim s;
	uint64_t r0 = seed * 0x9e3779b97f4a7c15ull + 1;
	struct sim_config cfg = {
		.seed = seed,
		.n = sizes[seed % 3],
		/* every fourth seed: durable acceptor state, and harder kills */
		.durable = seed % 4 == 0,
		/* its log written off the loop, a sync taking up to 3 ms */
		.sync_max_us = seed % 4 == 0 ? 3000 : 0,
		/* restarts come 10-300 ms after a kill: some within the grace */
		.restart_grace_us = 100000,
		/* the lease as pkvd's heartbeats give it; a get may answer a
		 * generation seen ended elsewhere for as long as an ERASE
		 * takes over a working link, a few retransmissions at most */
		.lease = true,
		.late_read_us = 100000,
	};
	/*
	 * Every odd seed: changes of the voters among the faults (docs/design.md
	 * §5), from fewer voters than nodes, one voter in or out at a time.
	 */
	bool memb = seed % 2 == 1;
	unsigned vmin = 3, vmax = cfg.n; /* two voters never survive a restart without state */
	if (memb)
		cfg.cluster_size = cfg.n == 3 ? 3 : cfg.n - 2;
	/*
	 * Every other one of those with five or seven nodes: the two daemons
	 * past the voters are configured observers (docs/design.md §5.2),
	 * killed, cut off and holding lifetimes like any node, checked alike.
	 */
	if (memb && cfg.n > 3 && seed % 4 == 3)
		cfg.observers = 2;
	unsigned changes = 0;
	/* Network personality from the seed. */
	struct sim tmp = { .rng = r0 };
	cfg.loss_pm = (unsigned)sim_range(&tmp, 0, 100);
	cfg.dup_pm = (unsigned)sim_range(&tmp, 0, 50);
	cfg.lat_min_us = sim_range(&tmp, 50, 500);
	cfg.lat_max_us = cfg.lat_min_us + sim_range(&tmp, 100, 8000);
	cfg.skew_ms = sim_range(&tmp, 0, 30);
	/* Every third seed: messages of ended generations sent again after
	 * their tombstones were collected (docs/design.md §4.6). */
	cfg.late_old_pm = seed % 3 == 2 ? 50 : 0;
	sim_init(&s, &cfg);
	unsigned n = s.cfg.n;
	/*
	 * Keys come into play over time (a window of two or three keys per
	 * 100 ms), so that most operations meet a key that is still being
	 * decided rather than one every learner already knows.
	 */
	const unsigned nkeys = SIM_MAX_KEYS;
	const uint64_t t_ops = 4000000;
	unsigned kills = 0, partitions = 0, proc_kills = 0;

	/* Cluster bootstrap: all fresh. */
	sim_run_until(&s, s.now + 50000);

	uint64_t next_fault = s.now + sim_range(&s, 0, 300000);
	unsigned down = 0;	/* killed node waiting to restart */
	uint64_t restart_at = 0;
	uint32_t down_mask = 0; /* durable: killed nodes waiting to restart */
	unsigned whole = 0;	/* durable: kills of every node at once */
	bool partitioned = false;
	uint64_t heal_at = 0;
	unsigned op_no = 0;
	uint64_t end_ops = s.now + t_ops;
	while (s.now < end_ops) {
		uint64_t step = sim_range(&s, 1000, 25000);
		sim_run_until(&s, s.now + step);
		/* A burst of clients, often on the same key from different nodes. */
		unsigned burst = (unsigned)sim_range(&s, 1, 4);
		unsigned key = (unsigned)((s.now - (end_ops - t_ops)) / 65000) +
			       (unsigned)sim_range(&s, 0, 2);
		if (key >= nkeys)
			key = nkeys - 1;
		for (unsigned b = 0; b < burst; b++) {
			unsigned node = (unsigned)sim_range(&s, 1, n);
			uint64_t timeout = sim_range(&s, 200000, 2000000);
			bool retry = sim_range(&s, 0, 4) == 0;
			unsigned dice = (unsigned)sim_range(&s, 0, 19);
			if (dice < 7) {
				char v[32];
				snprintf(v, sizeof(v), "v%u@n%u", op_no, node);
				sim_put(&s, node, key, v, timeout, retry);
			} else if (dice < 13) {
				/* A put bound to one or two lifetimes. */
				char v[32];
				snprintf(v, sizeof(v), "b%u@n%u", op_no, node);
				struct sim_bind sb = { 0 };
				unsigned kinds = (unsigned)sim_range(&s, 1, 2);
				for (unsigned c = 0; c < kinds; c++)
					sb.mask |= 1u << sim_range(&s, 0, 3);
				if (sb.mask & PKV_BIND_PID) {
					unsigned pick = UINT32_MAX;
					for (unsigned j = 0; j < s.n_procs; j++)
						if (s.procs[j].node == node &&
						    (s.procs[j].alive || sim_range(&s, 0, 9) == 0))
							pick = j;
					if (pick == UINT32_MAX)
						pick = sim_spawn(&s, node);
					if (pick == UINT32_MAX)
						sb.mask &= ~(unsigned)PKV_BIND_PID;
					sb.proc = pick;
				}
				sb.node = (unsigned)sim_range(&s, 1, n);
				sb.key = key >= 1 ? key - (unsigned)sim_range(&s, 1, key < 3 ? key : 3)
						  : key + 1;
				sb.ttl_ms = sim_range(&s, 5, 600);
				sim_put_bound(&s, node, key, v, &sb, timeout, retry);
			} else {
				sim_get(&s, node, key, timeout, retry);
			}
			op_no++;
		}
		if (sim_range(&s, 0, 30) == 0)
			sim_keys(&s, (unsigned)sim_range(&s, 1, n), 300000);
		/* Now and then the bucket is dropped while the clients go on. */
		if (sim_range(&s, 0, 80) == 0) {
			sim_drop(&s, (unsigned)sim_range(&s, 1, n), sim_range(&s, 200000, 2000000));
			drops++;
		}
		/* A message of an ended generation, past the collection delay
		 * (2 x ballot_life_us of node_start). */
		if (s.cfg.late_old_pm && sim_range(&s, 0, 3) == 0)
			sim_send_late_old(&s, 10 * s.cfg.retransmit_us);
		/*
		 * Now and then a holder of one node's key tells the others that
		 * a value nobody proposed was chosen (docs/design.md §3.5).
		 */
		if (sim_range(&s, 0, 60) == 0) {
			unsigned liar = (unsigned)sim_range(&s, 1, n);
			char v[32], kname[16];
			snprintf(v, sizeof(v), SIM_FORGED "%u", op_no);
			key_name(kname, sizeof(kname), key);
			for (unsigned to = 1; to <= n; to++) {
				if (to == liar || !s.nodes[to].up)
					continue;
				struct store_entry *e = sim_entry(&s, to, key);
				uint64_t conf = paxos_conf(s.nodes[to].p).num;
				struct pkv_msg m = {
					.type = PKV_MSG_CHOSEN,
					.bucket = str_bytes(BUCKET),
					.key = str_bytes(kname),
					.gen = e ? e->gen : 1,
					.ballot = { pkv_conf_base(conf) + 2 + sim_range(&s, 0, 50), liar },
					.value = str_bytes(v),
				};
				sim_forge(&s, liar, to, &m);
			}
		}
		/* Processes come and go. */
		if (sim_range(&s, 0, 7) == 0)
			sim_spawn(&s, (unsigned)sim_range(&s, 1, n));
		if (s.n_procs && sim_range(&s, 0, 5) == 0) {
			unsigned j = (unsigned)sim_range(&s, 0, s.n_procs - 1);
			if (s.procs[j].alive) {
				sim_proc_kill(&s, j);
				proc_kills++;
			}
		}
		/* Faults. */
		if (partitioned && s.now >= heal_at) {
			sim_heal(&s);
			partitioned = false;
		}
		if (down && s.now >= restart_at) {
			sim_restart(&s, down);
			down = 0;
		}
		if (down_mask && s.now >= restart_at) {
			for (unsigned i = 1; i <= n; i++)
				if (down_mask & (1u << i))
					sim_restart(&s, i);
			down_mask = 0;
		}
		if (s.now >= next_fault) {
			next_fault = s.now + sim_range(&s, 50000, 400000);
			unsigned kind = (unsigned)sim_range(&s, 0, memb ? 3 : 2);
			if (kind == 3) {
				/* One voter in or out, proposed by any node that is up. */
				unsigned by = (unsigned)sim_range(&s, 1, n);
				uint64_t v = sim_voters(&s, by);
				unsigned nv = (unsigned)__builtin_popcountll(v);
				bool add = nv <= vmin || (nv < vmax && sim_range(&s, 0, 1));
				if (nv <= vmin && nv >= vmax)
					continue; /* no room either way (3 nodes, 3 voters) */
				uint64_t all = (UINT64_C(1) << n) - 1, spare = all & ~v;
				v = add ? v | (spare & (~spare + 1))
					: v & ~(UINT64_C(1) << (63 - __builtin_clzll(v)));
				if (s.nodes[by].up) {
					sim_change(&s, by, v, sim_range(&s, 200000, 2000000));
					changes++;
				}
			} else if (kind == 0 && !partitioned) {
				/* Cut random links, some one way only. */
				unsigned cuts = (unsigned)sim_range(&s, 1, n);
				for (unsigned c = 0; c < cuts; c++) {
					unsigned a = (unsigned)sim_range(&s, 1, n);
					unsigned b2 = (unsigned)sim_range(&s, 1, n);
					if (a == b2)
						continue;
					sim_cut(&s, a, b2, true);
					if (sim_range(&s, 0, 1))
						sim_cut(&s, b2, a, true);
				}
				partitioned = true;
				partitions++;
				heal_at = s.now + sim_range(&s, 50000, 500000);
			} else if (kind == 1 && !partitioned) {
				sim_isolate(&s, (unsigned)sim_range(&s, 1, n), true);
				partitioned = true;
				partitions++;
				heal_at = s.now + sim_range(&s, 50000, 500000);
			} else if (kind == 2 && s.cfg.durable) {
				/*
				 * With state on disk nothing is lost however many
				 * nodes go down: sometimes all of them at once,
				 * else one more, whatever the others' state.
				 */
				bool all = sim_range(&s, 0, 3) == 0;
				unsigned pick = (unsigned)sim_range(&s, 1, n);
				/*
				 * Half the time the kill waits (up to 20 ms) for
				 * the picked node to be writing a batch of its
				 * log: between what it sent and the sync that
				 * what it sent depends on (docs/design.md §6.3).
				 */
				if (sim_range(&s, 0, 1) && !(down_mask & (1u << pick))) {
					uint64_t until = s.now + 20000;
					while (s.now < until && !sim_sync_in_flight(&s, pick))
						sim_run_until(&s, s.now + 50);
				}
				for (unsigned i = 1; i <= n; i++) {
					if ((all || i == pick) && !(down_mask & (1u << i))) {
						sim_kill(&s, i);
						down_mask |= 1u << i;
						kills++;
					}
				}
				whole += all;
				restart_at = s.now + sim_range(&s, 10000, 300000);
				/*
				 * docs/design.md §6.2: a holder of a node that is
				 * down dies now and then, and the node comes back
				 * within the grace as often as not, to take back
				 * the bindings of its live holders and end this one.
				 */
				if (sim_range(&s, 0, 1)) {
					for (unsigned j = 0; j < s.n_procs; j++)
						if ((down_mask & (1u << s.procs[j].node)) &&
						    s.procs[j].alive && sim_range(&s, 0, 1)) {
							sim_proc_kill(&s, j);
							proc_kills++;
							break;
						}
					if (sim_range(&s, 0, 1))
						restart_at = s.now + sim_range(&s, 10000, 90000);
				}
			} else if (kind == 2 && !down && sim_all_synced(&s)) {
				/*
				 * Kill one node only while every other node is
				 * synced, so at most one is ever unsynced: losing
				 * a majority's non-durable state is the one case
				 * where the design accepts loss (new epoch).
				 */
				down = (unsigned)sim_range(&s, 1, n);
				sim_kill(&s, down);
				kills++;
				restart_at = s.now + sim_range(&s, 10000, 300000);
			}
		}
	}
	/* Heal everything and let the in-flight operations finish. */
	sim_heal(&s);
	if (down)
		sim_restart(&s, down);
	for (unsigned i = 1; i <= n; i++)
		if (down_mask & (1u << i))
			sim_restart(&s, i);
	unsigned problems = 0;
	if (!sim_run_until_done(&s, s.now + 5000000)) {
		problems++;
		if (errlen)
			snprintf(err, errlen, "liveness: operations still pending after heal");
	}
	/* Liveness after heal: every node answers a get of every key. */
	sim_run_until(&s, s.now + 3 * s.cfg.hb_us); /* membership sees the heal */
	/*
	 * Lifetimes: within a bound after the heal (erasures retransmit every
	 * retransmit_us; until bindings end by the clocks' skew), every daemon
	 * reports every ended generation absent.
	 */
	sim_run_until(&s, s.now + 1000000 + s.cfg.skew_ms * 1000);
	char lerr[400];
	unsigned lp = sim_check_lifetimes(&s, lerr, sizeof(lerr));
	if (lp) {
		if (!problems && errlen)
			snprintf(err, errlen, "%s", lerr);
		problems += lp;
	}
	size_t first_final = s.n_ops;
	for (unsigned node = 1; node <= n; node++)
		for (unsigned key = 0; key < nkeys; key++)
			sim_get(&s, node, key, 5000000, false);
	bool done = sim_run_until_done(&s, s.now + 6000000);
	if (getenv("PKV_SIM_DEBUG"))
		for (unsigned i = 1; i <= n; i++) {
			struct pkv_conf c = s.nodes[i].up ? paxos_conf(s.nodes[i].p) : s.nodes[i].conf;
			fprintf(stderr, "node %u up %d conf %llu voters %llx prev %llx synced %d\n", i,
				s.nodes[i].up, (unsigned long long)c.num, (unsigned long long)c.voters,
				(unsigned long long)c.prev_voters,
				s.nodes[i].up ? paxos_synced(s.nodes[i].p) : -1);
		}
	for (size_t i = first_final; i < s.n_ops && !problems; i++) {
		const struct sim_op *op = &s.ops[i];
		if (!done || (op->status != PKV_S_OK && op->status != PKV_S_NOT_FOUND)) {
			problems++;
			if (errlen)
				snprintf(err, errlen,
					 "liveness: final get of k%u on node %u: status %d%s", op->key,
					 op->node, op->status, done ? "" : " (not done)");
		} else if (op->status == PKV_S_OK && gen_rec(&s, op->key, op->gen)->erased_by &&
			   gen_rec(&s, op->key, op->gen)->erased_at <= op->start) {
			problems++;
			if (errlen)
				snprintf(err, errlen,
					 "lifetime: final get of k%u on node %u returned generation %" PRIu64
					 ", which had ended",
					 op->key, op->node, op->gen);
		}
	}
	char cerr[512];
	unsigned c = sim_check(&s, cerr, sizeof(cerr));
	if (c && (!problems || (errlen && strncmp(err, "liveness", 8) == 0)))
		snprintf(err, errlen, "%s", cerr);
	problems += c;
	for (unsigned i = 1; i <= n; i++) {
		uint64_t ep = s.nodes[i].epochs;
		if (ep) {
			problems++;
			snprintf(err, errlen, "node %u declared a new epoch", i);
		}
	}
	if (fig) {
		fig->n = n;
		fig->ops = s.n_ops;
		fig->delivered = s.delivered;
		fig->sim_time_us = s.now;
		fig->kills = kills;
		fig->durable = s.cfg.durable;
		fig->whole_cluster_kills = whole;
		fig->partitions = partitions;
		fig->proc_kills = proc_kills;
		fig->bound_puts = s.bound_puts;
		fig->erasures = s.erasures;
		size_t inv = 0;
		for (size_t i = 0; i < s.n_ops; i++)
			inv += s.ops[i].done && s.ops[i].status == PKV_S_INVALID_VALUE;
		fig->invalid_puts = inv;
		fig->drops = drops;
		fig->changes = changes;
		fig->observers = cfg.observers;
		fig->conf_changes = 0;
		for (unsigned i = 1; i <= n; i++)
			fig->conf_changes += s.nodes[i].conf_changes;
		fig->drops_ok = 0;
		for (size_t i = 0; i < s.n_ops; i++)
			fig->drops_ok += s.ops[i].kind == SIM_DROP && s.ops[i].done &&
					 !s.ops[i].lost && s.ops[i].status == PKV_S_OK;
		fig->trace = s.trace;
		fig->late_old = s.late_old_sent;
		fig->collected = 0;
		for (unsigned i = 1; i <= n; i++)
			if (s.nodes[i].up)
				fig->collected += paxos_stats(s.nodes[i].p)->tombstones_collected;
	}
	sim_free(&s); /* stops the cores: their counters add up in s */
	if (fig) {
		fig->conflicts = s.conflicts;
		fig->forwards = s.forwards;
		fig->rounds = s.rounds;
		fig->fast_rounds = s.fast_rounds;
		fig->fast_chosen = s.fast_chosen;
		fig->fast_refused = s.fast_refused;
	}
	return problems;
}
