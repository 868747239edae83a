// SPDX-License-Identifier: MIT
/*
 * loop-durable.c — the loop's side of the durable acceptor log
 * (docs/design.md §6.3): the end of a turn, which holds what the turn
 * produced while the log batch it depends on is not on disk (the rule is
 * durable-hold.c's) and releases what waited for batches now on disk; and
 * the batches' write and fdatasync on the ring.
 */
#include "daemon.h"
#include "loop-internal.h"

#include "paxos.h"
#include "persist.h"
#include "shm.h"

/* What waited for log batches now on disk goes out: the cache, the
 * answers, the datagrams (docs/design.md §6.3, §8). */
static void release_held(struct daemon *d)
{
	uint64_t durable = persist_durable_ticket(d);
	struct hold_batch *b;
	while ((b = durable_hold_due(&d->hold, durable))) {
		for (size_t i = 0; i < b->n_learned; i++) {
			const struct hold_learned *l = &b->learned[i];
			/* Still that generation's chosen value: one erased since
			 * is not published (its erasure goes out after it). */
			struct store_entry *e = store_lookup(d->store, l->bucket, l->key, false);
			if (e && e->gen == l->gen && e->chosen)
				shm_cache_publish(d->local.shm, l->bucket, l->key, e->chosen_value,
						  e->gen,
						  (e->chosen_bind->mask & PKV_BIND_UNTIL)
							  ? e->chosen_bind->until
							  : 0);
		}
		for (size_t i = 0; i < b->n_erased; i++) {
			const struct hold_learned *l = &b->erased[i];
			if (d->ctl.n_doubt)
				control_lifetime_erased(d, l->bucket, l->key, l->gen);
			shm_cache_erase(d->local.shm, l->bucket, l->key, l->gen);
		}
		for (size_t i = 0; i < b->n_done; i++)
			complete_one(d, &b->done[i]);
		send_outbox(d, &b->ob);
		/* A classic ACCEPT only within LOOP_PRIOR_HOLD_US of its making:
		 * the proposer's ballots live that much less (daemon_init). */
		uint64_t now = daemon_now_us();
		size_t k = 0;
		for (size_t i = 0; i < b->prior.n; i++)
			if (now - b->prior_at[i] <= LOOP_PRIOR_HOLD_US)
				b->prior.v[k++] = b->prior.v[i];
		b->prior.n = k;
		send_outbox(d, &b->prior);
		durable_hold_pop(&d->hold);
	}
}

/* The next due batch of the log goes to the ring: write, then fdatasync. */
static void start_sync(struct daemon *d)
{
	struct persist_batch b;
	if (d->sync_in_flight)
		return;
	int r = persist_sync_start(d, &b);
	if (r < 0) {
		d->stopping = true;
		d->failed = true;
		return;
	}
	if (r == 0)
		return;
	uint64_t delay_us = (uint64_t)d->fault.sync_delay_ms * 1000u; /* sync_delay= */
	r = net_file_sync(d->net, b.fd, b.buf, b.len, b.off, delay_us);
	if (r < 0) {
		/* No room on the ring: write and sync here instead. */
		uint64_t ns = 0;
		if (persist_sync_done(d, 0, 1, &ns) < 0) {
			d->stopping = true;
			d->failed = true;
		}
		return;
	}
	d->sync_in_flight = true;
}

void on_file_synced(void *ctx, ssize_t wres, int fres)
{
	struct daemon *d = ctx;
	uint64_t ns = 0;
	d->sync_in_flight = false;
	if (persist_sync_done(d, wres, fres, &ns) < 0) {
		d->stopping = true;
		d->failed = true;
		return;
	}
	pkv_hist_add(&d->hist_sync, ns / 1000u);
}

/*
 * The end of a turn (docs/design.md §6.3): the turn's changes go to the
 * log's pending batch; what waited for batches now on disk leaves; what
 * this turn produced leaves now when it depends on nothing unsynced, and is
 * held otherwise (durable_hold_dep says what each message needs); the next
 * batch is written when none is in flight.
 */
void flush(struct daemon *d)
{
	uint64_t need_all, need_prior;
	if (persist_turn(d, &need_all, &need_prior) < 0) {
		pkv_outbox_reset(&d->ob);
		d->stopping = true;
		d->failed = true;
		return;
	}
	release_held(d);
	uint64_t durable = persist_durable_ticket(d);
	drain_paxos(d, need_all > durable ? need_all : 0);
	if (need_all > durable) {
		/* Keep in d->ob what may leave now, hold the rest. */
		size_t k = 0;
		for (size_t i = 0; i < d->ob.n; i++) {
			const struct pkv_out *o = &d->ob.v[i];
			enum hold_dep dep = durable_hold_dep(&o->msg);
			uint64_t need = dep == HOLD_ALL ? need_all : dep == HOLD_PRIOR ? need_prior : 0;
			if (need <= durable)
				d->ob.v[k++] = *o;
			else if (dep == HOLD_PRIOR) {
				if (durable_hold_prior(&d->hold, need, o, daemon_now_us()) < 0)
					d->stats_flush_errors++;
			} else if (durable_hold_msg(&d->hold, need, o) < 0)
				d->stats_flush_errors++; /* lost, as on the network */
		}
		d->ob.n = k;
	}
	send_outbox(d, &d->ob);
	pkv_outbox_reset(&d->ob);
	start_sync(d);
}
