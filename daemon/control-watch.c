// SPDX-License-Identifier: MIT
/*
 * control-watch.c — key and bucket watches on the control socket
 * (docs/design.md §8.3) and the queue watches of lock waiters (§8.5): a
 * watch request, its ticket, the state the stream starts from, and the
 * events each loop turn's erasures and learned values make, to every watch
 * they concern and to the head of a key's queue.
 */
#include "control.h"
#include "control-internal.h"

#include "daemon.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "paxos.h"
#include "pkv-ctl.h"
#include "store.h"

/* ---- key watches (docs/design.md §8.3) ---- */

/* A watcher that stopped reading loses its stream (and re-watches from the
 * last generation it saw), not our memory. */
#define WATCH_QUEUE_MAX_BYTES (8u << 20)

static bool watch_matches(const struct ctl_conn *c, struct pkv_bytes bucket, struct pkv_bytes key)
{
	if (!c->watcher || c->closing || c->wblen != bucket.len ||
	    memcmp(c->wbucket, bucket.p, bucket.len) != 0)
		return false;
	return (c->wflags & CTL_WATCH_BUCKET) ||
	       (c->wklen == key.len && !memcmp(c->wbucket + c->wblen, key.p, key.len));
}

static void watch_drop_conn(struct daemon *d, struct ctl_conn *c)
{
	c->closing = true;
	shutdown(c->fd, SHUT_RDWR); /* completes the armed recv */
	d->ctl.watch_dropped++;
}

static void watch_send(struct daemon *d, struct ctl_conn *c, uint8_t kind, uint64_t gen,
		       struct pkv_bytes bucket, struct pkv_bytes key, struct pkv_bytes value,
		       uint64_t until)
{
	if (c->closing)
		return;
	if (c->queued_bytes > WATCH_QUEUE_MAX_BYTES) {
		daemon_warn(d, "control: a watcher stopped reading (%zu bytes queued); its stream"
			       " ends",
			    c->queued_bytes);
		watch_drop_conn(d, c);
		return;
	}
	/* The default bucket goes as none, as clients name it. */
	size_t dl = sizeof(PKV_DEFAULT_BUCKET) - 1;
	bool dflt = bucket.len == dl && !memcmp(bucket.p, PKV_DEFAULT_BUCKET, dl);
	uint32_t blen = dflt ? 0 : bucket.len;
	struct ctl_watch_event ev = {
	    .kind = kind,
	    .bucket_len = (uint8_t)blen,
	    .key_len = key.len,
	    .value_len = value.len,
	    .until = until,
	};
	size_t len = sizeof(ev) + blen + key.len + value.len;
	uint8_t *buf = malloc(len);
	/* An event lost would be a gap: the stream ends instead, and the
	 * client re-watches from the last generation it saw. */
	if (!buf) {
		watch_drop_conn(d, c);
		return;
	}
	memcpy(buf, &ev, sizeof(ev));
	memcpy(buf + sizeof(ev), bucket.p, blen);
	memcpy(buf + sizeof(ev) + blen, key.p, key.len);
	if (value.len)
		memcpy(buf + sizeof(ev) + blen + key.len, value.p, value.len);
	if (!queue_reply(d, c, PKV_S_OK, gen, buf, len, false))
		watch_drop_conn(d, c);
	free(buf);
	if (kind == CTL_WATCH_CHOSEN)
		c->told_free = false;
}

static void watch_send_chosen(struct daemon *d, struct ctl_conn *c, const struct store_entry *e)
{
	const struct pkv_bindings *b = e->chosen_bind;
	watch_send(d, c, CTL_WATCH_CHOSEN, e->gen, store_bucket_name(e->bucket), e->key,
		   e->chosen_value, (b->mask & PKV_BIND_UNTIL) ? b->until : 0);
	if (e->gen > c->wchosen)
		c->wchosen = e->gen;
}

static void watch_send_ended(struct daemon *d, struct ctl_conn *c, struct pkv_bytes bucket,
			     struct pkv_bytes key, uint64_t through)
{
	watch_send(d, c, CTL_WATCH_ENDED, through, bucket, key, (struct pkv_bytes){0}, 0);
	if (through > c->wended)
		c->wended = through;
}

/* The oldest lock waiter (CTL_WATCH_QUEUE) of the key here, but `except`. */
static struct ctl_conn *watch_head(struct daemon *d, struct pkv_bytes bucket, struct pkv_bytes key,
				   const struct ctl_conn *except)
{
	struct ctl_conn *h = NULL;
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next)
		if (c != except && (c->wflags & CTL_WATCH_QUEUE) && watch_matches(c, bucket, key) &&
		    (!h || c->wseq < h->wseq))
			h = c;
	return h;
}

/*
 * The queue's head hears that the key is free (no chosen value here), once
 * until a value is chosen again or a later generation ends: ENDED with the
 * last generation that ended. (A generation this daemon learns only by its
 * end — chosen and erased in one turn, or known from the ERASE alone — sends
 * the head no CHOSEN, and its end must still reach the head.)
 */
static void watch_tell_head(struct daemon *d, struct pkv_bytes bucket, struct pkv_bytes key,
			    const struct ctl_conn *except)
{
	struct store_entry *e = store_lookup(d->store, bucket, key, false);
	if (e && e->chosen)
		return;
	struct ctl_conn *h = watch_head(d, bucket, key, except);
	uint64_t through = e ? e->gen - 1 : 0;
	if (!h || (h->told_free && h->wended >= through))
		return;
	watch_send_ended(d, h, bucket, key, through);
	h->told_free = true;
}

void watch_leave(struct daemon *d, struct ctl_conn *c)
{
	struct pkv_bytes bucket = {c->wbucket, c->wblen};
	struct pkv_bytes key = {c->wbucket + c->wblen, c->wklen};
	c->watcher = false;
	/* A head that left without the key: the next waiter's turn (not while
	 * every connection goes at stop: nothing may be sent then). */
	if ((c->wflags & CTL_WATCH_QUEUE) && !d->ctl.closing_all)
		watch_tell_head(d, bucket, key, c);
	free(c->wbucket);
	c->wbucket = NULL;
	d->ctl.n_watch--;
}

/*
 * Without the lease (docs/design.md §8.3) a watch is told no value chosen:
 * what this daemon knows may be a lifetime a majority ended meanwhile. The
 * value is kept back, and told once the lease holds, if it is still chosen
 * then (watch_catch_up). Ends are told at once: they are facts. A queue
 * watch (§8.5) is told as before, since a value chosen only keeps its
 * waiter waiting.
 */
static bool watch_told_chosen(struct daemon *d, struct ctl_conn *c, bool leased)
{
	if (leased || (c->wflags & CTL_WATCH_QUEUE))
		return true;
	c->wlate = true;
	d->ctl.watch_late = true;
	return false;
}

/*
 * The state the watch starts from: what changed after generation `from`,
 * which the caller already knows (0: nothing), is reported first — an
 * ended lifetime, then the value chosen now — so no event falls between
 * the caller's read and its watch.
 */
static void watch_start(struct daemon *d, struct ctl_conn *c, uint64_t from)
{
	struct pkv_bytes bucket = {c->wbucket, c->wblen};
	struct pkv_bytes key = {c->wbucket + c->wblen, c->wklen};
	bool leased = daemon_now_us() < d->lease_until_us;
	c->wchosen = from;
	c->wended = from ? from - 1 : 0;
	if (c->wflags & CTL_WATCH_BUCKET) {
		c->wended = 0; /* per key from here on */
		if (!watch_told_chosen(d, c, leased))
			return; /* wchosen keeps `from` for watch_catch_up */
		struct store_bucket *b = store_bucket(d->store, bucket, false);
		for (size_t i = 0; b && i < store_bucket_nslots(b); i++) {
			const struct store_entry *e = store_bucket_entry_at(b, i);
			if (e && e->chosen && e->gen > from) /* NULL: a collected hole */
				watch_send_chosen(d, c, e);
		}
		c->wchosen = 0;
		return;
	}
	struct store_entry *e = store_lookup(d->store, bucket, key, false);
	bool queue = c->wflags & CTL_WATCH_QUEUE;
	/* A key this daemon no longer holds at all (its tombstone collected)
	 * after the caller saw generation `from`: that lifetime ended. */
	if (!queue && from && (!e || e->gen > from))
		watch_send_ended(d, c, bucket, key, e ? e->gen - 1 : from);
	if (e && e->chosen && e->gen > from && watch_told_chosen(d, c, leased))
		watch_send_chosen(d, c, e);
	if (queue)
		watch_tell_head(d, bucket, key, NULL);
}

/*
 * The lease holds: each watch told the values kept back from it that are
 * still chosen now, after this turn's ends (a lifetime that ended while
 * it was kept back shows as its end only, as one chosen and ended in one
 * turn does).
 */
static void watch_catch_up(struct daemon *d)
{
	d->ctl.watch_late = false;
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
		if (!c->watcher || !c->wlate)
			continue;
		c->wlate = false;
		struct pkv_bytes bucket = {c->wbucket, c->wblen};
		if (c->wflags & CTL_WATCH_BUCKET) {
			struct store_bucket *b = store_bucket(d->store, bucket, false);
			for (size_t i = 0; b && i < store_bucket_nslots(b); i++) {
				const struct store_entry *e = store_bucket_entry_at(b, i);
				if (e && e->chosen && e->gen > c->wchosen)
					watch_send_chosen(d, c, e);
			}
			c->wchosen = 0;
			continue;
		}
		struct pkv_bytes key = {c->wbucket + c->wblen, c->wklen};
		const struct store_entry *e = store_lookup(d->store, bucket, key, false);
		if (e && e->chosen && e->gen > c->wchosen)
			watch_send_chosen(d, c, e);
	}
}

/* What the learner saw this turn (before the cache and the answers). */
void watch_drain(struct daemon *d)
{
	if (!d->ctl.n_watch)
		return;
	size_t n;
	const struct paxos_erased *er = paxos_erased(d->paxos, &n);
	for (size_t i = 0; i < n; i++) {
		struct pkv_bytes bucket = store_bucket_name(er[i].e->bucket), key = er[i].e->key;
		bool queued = false;
		for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
			if (!watch_matches(c, bucket, key))
				continue;
			if (c->wflags & CTL_WATCH_QUEUE)
				queued = true;
			else if (er[i].unseen)
				continue; /* a collected generation's (§4.6) */
			else if ((c->wflags & CTL_WATCH_BUCKET) || er[i].gen > c->wended)
				watch_send_ended(d, c, bucket, key, er[i].gen);
		}
		if (queued)
			watch_tell_head(d, bucket, key, NULL);
	}
	bool leased = daemon_now_us() < d->lease_until_us;
	struct store_entry *const *le = paxos_learned(d->paxos, &n);
	for (size_t i = 0; i < n; i++) {
		const struct store_entry *e = le[i];
		if (!e->chosen)
			continue; /* ended in the same turn: ENDED said so */
		struct pkv_bytes bucket = store_bucket_name(e->bucket);
		for (struct ctl_conn *c = d->ctl.conns; c; c = c->next)
			if (watch_matches(c, bucket, e->key) && !c->wlate &&
			    ((c->wflags & CTL_WATCH_BUCKET) || e->gen > c->wchosen) &&
			    watch_told_chosen(d, c, leased))
				watch_send_chosen(d, c, e);
	}
	if (leased && d->ctl.watch_late)
		watch_catch_up(d);
}

/*
 * A lock waiter's ticket (docs/design.md §8.5): this node's wall clock in ms
 * while it agrees with the voters' (§4.5), the voters' when it is off; above
 * every ticket handed out before in this incarnation, so that tickets on one
 * daemon follow the order of arrival (watch_seq) and never repeat.
 */
static uint64_t watch_ticket(struct daemon *d)
{
	uint64_t wall, now = daemon_now_us();
	if (!d->clock_off || !membership_quorum_wall(&d->mem, now, &wall))
		wall = membership_wall(&d->mem, now); /* as the loop gave it this turn */
	if (wall <= d->ctl.last_ticket)
		wall = d->ctl.last_ticket + 1;
	d->ctl.last_ticket = wall;
	return wall;
}

/* CTL_OP_WATCH: checked like every request; 0 or the status to refuse with. */
int watch_request(struct daemon *d, struct ctl_conn *c, const struct ctl_req *rq)
{
	bool whole = rq->flags & CTL_WATCH_BUCKET;
	if (c->watcher || c->subscriber || c->attach || (rq->flags & ~CTL_WATCH_FLAGS) ||
	    rq->value_len != 8 || (whole && rq->key_len) || (!whole && !rq->key_len) ||
	    (whole && (rq->flags & CTL_WATCH_QUEUE)))
		return PKV_S_BAD_REQUEST;
	struct pkv_bytes bucket, key;
	uint64_t from;
	int st = req_bucket_key_u64(c, rq, &bucket, &key, &from);
	if (st)
		return st;
	c->wbucket = malloc(bucket.len + key.len + 1);
	if (!c->wbucket)
		return PKV_S_NO_MEMORY;
	memcpy(c->wbucket, bucket.p, bucket.len);
	memcpy(c->wbucket + bucket.len, key.p, key.len);
	c->wblen = bucket.len;
	c->wklen = rq->key_len;
	c->wflags = rq->flags;
	c->wseq = ++d->ctl.watch_seq;
	c->watcher = true;
	d->ctl.n_watch++;
	if (c->wflags & CTL_WATCH_QUEUE) {
		struct ctl_watch_ticket t = {
		    .ticket = watch_ticket(d),
		    .incarnation = d->incarnation,
		    .node = d->self,
		};
		queue_reply(d, c, PKV_S_OK, 0, &t, sizeof(t), false);
	} else {
		queue_reply(d, c, PKV_S_OK, 0, NULL, 0, false);
	}
	watch_start(d, c, from);
	return 0;
}
