// SPDX-License-Identifier: MIT
/*
 * loop.c — wires the pure modules (membership, paxos, wire) to net.c, and
 * owns the rest of the shell: it calls control, local, persist, resize and
 * fault, and gives them the hooks through which they reach one another.
 *
 * The end of each turn, where what depends on a log batch not yet on disk
 * is held and what waited for one is released (docs/design.md §6.3), is in
 * loop-durable.c; the configuration reread on SIGHUP, in loop-reload.c.
 */
#include "daemon.h"
#include "loop-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "control.h"
#include "fault.h"
#include "paxos.h"
#include "persist.h"
#include "pkv-ctl.h"
#include "resize.h"
#include "shm.h"

static const char *node_name(struct daemon *d, uint32_t id)
{
	const struct pkv_node_cfg *n = config_node_by_id(&d->cfg, id);
	return n ? n->name : "?";
}

/* The names of the configured nodes in mask (bit id-1), space separated, for the log. */
#define NAMES_CAP (PKV_MAX_NODES * 66)
static const char *node_names(const struct daemon *d, uint64_t mask, char buf[NAMES_CAP])
{
	size_t o = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < d->cfg.n_nodes && o < NAMES_CAP; i++)
		if ((mask >> (d->cfg.nodes[i].id - 1)) & 1u)
			o += (size_t)snprintf(buf + o, NAMES_CAP - o, "%s%s", o ? " " : "",
					      d->cfg.nodes[i].name);
	return buf;
}

static void log_connected(struct daemon *d, int level, const char *what)
{
	char buf[NAMES_CAP];
	daemon_logl(d, level, "%s cluster_size=%u connected: %s", what, d->mem.cluster_size,
		   node_names(d, membership_connected_mask(&d->mem), buf));
}

/* Tells paxos what the failure detector and the heartbeats say of a peer. */
static void update_peer(struct daemon *d, uint32_t id, uint64_t now)
{
	const struct membership_peer *p = membership_peer(&d->mem, id);
	if (!p)
		return;
	unsigned flags = (p->synced ? PKV_MF_SYNCED : 0u) | (p->fresh ? PKV_MF_FRESH : 0u);
	paxos_peer_update(d->paxos, id, p->connected, flags, p->epoch, now);
	if (p->connected && p->conf.voters)
		paxos_peer_conf(d->paxos, id, &p->conf, now);
}

/*
 * The daemon moved to another configuration (docs/design.md §5): on disk
 * before anything of this turn leaves, so a restart never answers the
 * configuration it left; then membership, the clients' view and the log.
 */
static void on_new_conf(struct daemon *d)
{
	d->conf = paxos_conf(d->paxos);
	int r = persist_state_write(d);
	if (r < 0) {
		daemon_err(d, "cannot write the state file: %s; stopping", strerror(-r));
		d->failed = true;
		d->stopping = true;
	}
	membership_set_conf(&d->mem, &d->conf);
	char buf[NAMES_CAP];
	daemon_notice(d, "configuration %" PRIu64 ": voters %s%s", d->conf.num,
		   node_names(d, d->conf.voters, buf),
		   membership_is_voter(&d->mem, d->self) ? "" : " (this daemon does not vote)");
	local_set_view(d);
}

static void handle_membership_events(struct daemon *d, uint64_t now)
{
	struct membership_event ev;
	bool any = false;
	while (membership_next_event(&d->mem, &ev)) {
		any = true;
		switch (ev.kind) {
		case MEMBERSHIP_QUORUM_REACHED:
			log_connected(d, PKV_LOG_NOTICE, "[quorum:yes]");
			control_publish_event(d, CTL_EVENT_QUORUM_REACHED, ev.quorum_epoch);
			break;
		case MEMBERSHIP_QUORUM_LOST:
			log_connected(d, PKV_LOG_WARNING, "[quorum:no]");
			control_publish_event(d, CTL_EVENT_QUORUM_LOST, ev.quorum_epoch);
			break;
		case MEMBERSHIP_PEER_RESTARTED:
			daemon_notice(d, "%s restarted (new incarnation)", node_name(d, ev.node));
			paxos_peer_incarnation(d->paxos, ev.node, ev.incarnation, now);
			paxos_peer_restarted(d->paxos, ev.node, now);
			update_peer(d, ev.node, now);
			break;
		case MEMBERSHIP_PEER_UP:
			paxos_peer_incarnation(d->paxos, ev.node, ev.incarnation, now);
			/* fall through */
		case MEMBERSHIP_PEER_DOWN:
			/* After a change of the voters two daemons that both do
			 * not vote stop watching each other (§5.2): not a loss. */
			if (ev.kind == MEMBERSHIP_PEER_DOWN &&
			    !membership_is_voter(&d->mem, d->self) &&
			    !membership_is_voter(&d->mem, ev.node))
				daemon_info(d, "%s no longer watched (neither of us votes)",
					    node_name(d, ev.node));
			else
				daemon_logl(d,
					    ev.kind == MEMBERSHIP_PEER_UP ? PKV_LOG_INFO
									  : PKV_LOG_WARNING,
					    "%s %s", node_name(d, ev.node),
					    ev.kind == MEMBERSHIP_PEER_UP ? "up" : "down");
			update_peer(d, ev.node, now);
			break;
		}
	}
	if (any)
		local_set_view(d);
}

/*
 * The lease and the voters' clock (docs/design.md §4.5, §5.1), from what the
 * heartbeats said: the lease goes to the shared view and the core; the
 * core's wall clock is the voters' (kept running from the last one known
 * while a majority's clocks are not); our own clock's distance from it is
 * logged when it passes MEMBERSHIP_SKEW_WARN_MS. The subscribers hear when
 * the lease lapses after it held (lease_lost: the lifetimes we hold are in
 * doubt) and when it holds again (lease_regained).
 */
static void update_time(struct daemon *d, uint64_t own_wall_ms, uint64_t now)
{
	uint64_t lease = membership_lease_until(&d->mem);
	if (lease != d->lease_until_us) {
		d->lease_until_us = lease;
		local_set_lease(d, lease);
		paxos_set_lease(d->paxos, lease);
	}
	bool held = now < d->lease_until_us;
	if (held && d->lease_state != LEASE_HELD) {
		if (d->lease_state == LEASE_LOST) {
			daemon_notice(d, "lease regained: cached values are vouched for again");
			control_publish_event(d, CTL_EVENT_LEASE_REGAINED, d->mem.quorum_epoch);
			control_lease_regained(d);
		}
		d->lease_state = LEASE_HELD;
		membership_set_lease_catchup(&d->mem, false);
	} else if (!held && d->lease_state == LEASE_HELD) {
		daemon_warn(d, "lease lost: no echo from a quorum of voters within the lease;"
			      " cached values are in doubt");
		control_publish_event(d, CTL_EVENT_LEASE_LOST, d->mem.quorum_epoch);
		control_lease_lost(d);
		d->lease_state = LEASE_LOST;
		membership_set_lease_catchup(&d->mem, true);
	}
	uint64_t qw;
	if (!membership_quorum_wall(&d->mem, now, &qw))
		return;
	paxos_set_wall(d->paxos, qw, now);
	int64_t skew = (int64_t)own_wall_ms - (int64_t)qw;
	d->clock_skew_ms = skew;
	uint64_t mag = (uint64_t)(skew < 0 ? -skew : skew);
	if (!d->clock_off && mag > MEMBERSHIP_SKEW_WARN_MS) {
		d->clock_off = true;
		daemon_warn(d, "clock: this node's wall clock is %+" PRId64 " ms off the voters' (more"
			      " than %u ms); until bindings follow the voters' clock",
			   skew, MEMBERSHIP_SKEW_WARN_MS);
	} else if (d->clock_off && mag <= MEMBERSHIP_SKEW_WARN_MS / 2) {
		d->clock_off = false;
		daemon_notice(d, "clock: this node's wall clock agrees with the voters' again (%+" PRId64
			      " ms)",
			   skew);
	}
}

/* A completion goes to whoever asked: a drop, a resize, or a ring client. */
void complete_one(struct daemon *d, const struct paxos_completion *c)
{
	if (c->kind == PAXOS_REQ_DROP)
		control_drop_done(d, c->id, c->status);
	else if (c->kind != PAXOS_REQ_FORWARDED && !resize_on_completion(d, c, daemon_now_us()))
		local_complete(d, c);
}

/*
 * hold: the ticket of the log batch the turn's learned values and answers
 * depend on, when it is not on disk yet (0: they go out now). Held ones are
 * copied (durable-hold.h) and go out, the cache first, in release_held.
 */
void drain_paxos(struct daemon *d, uint64_t hold)
{
	size_t n;
	/*
	 * The cache first, then the answers (docs/design.md §8): a client woken
	 * with generation g must find g (or later) in the cache on its next
	 * read, never the value or absence before it.
	 */
	/* Watches first: they read this turn's erasures and learned values
	 * before either list is reset or held. On a durable daemon a watch may
	 * so hear of an end before its record is on disk (docs/design.md §10). */
	control_drain_paxos(d);
	if (hold) {
		/* The ends of lifetimes wait too: a value gone from the cache
		 * must not come back with a crash before the disk has it. */
		const struct paxos_erased *er = paxos_erased(d->paxos, &n);
		for (size_t i = 0; i < n; i++)
			if (durable_hold_erased(&d->hold, hold, store_bucket_name(er[i].e->bucket),
						er[i].e->key, er[i].gen) < 0)
				d->stats_flush_errors++;
		paxos_erased_reset(d->paxos);
	} else if (d->ctl.n_doubt) { /* before local_apply_lifetimes resets the list */
		const struct paxos_erased *er = paxos_erased(d->paxos, &n);
		for (size_t i = 0; i < n; i++)
			control_lifetime_erased(d, store_bucket_name(er[i].e->bucket), er[i].e->key,
						er[i].gen);
	}
	if (!hold) {
		local_publish_learned(d);
	} else {
		struct store_entry *const *le = paxos_learned(d->paxos, &n);
		for (size_t i = 0; i < n; i++)
			if (le[i]->chosen &&
			    durable_hold_learned(&d->hold, hold, store_bucket_name(le[i]->bucket),
						 le[i]->key, le[i]->gen) < 0)
				d->stats_flush_errors++; /* no memory: it is read from a quorum */
		paxos_learned_reset(d->paxos);
	}
	local_apply_lifetimes(d, daemon_now_us());
	const struct paxos_completion *done = paxos_completions(d->paxos, &n);
	for (size_t i = 0; i < n; i++) {
		if (!hold)
			complete_one(d, &done[i]);
		else if (durable_hold_completion(&d->hold, hold, &done[i]) < 0)
			d->stats_flush_errors++; /* no memory: the client times out */
	}
	paxos_completions_reset(d->paxos);
	const struct paxos_event_rec *ev = paxos_events(d->paxos, &n);
	bool conf = false;
	for (size_t i = 0; i < n; i++) {
		static const int level[] = {
			[PAXOS_E_SYNCED] = PKV_LOG_NOTICE,
			[PAXOS_E_NEW_EPOCH] = PKV_LOG_WARNING,
			[PAXOS_E_VIOLATION] = PKV_LOG_ERR,
			[PAXOS_E_CONF] = PKV_LOG_INFO,
		};
		daemon_logl(d, (unsigned)ev[i].kind < sizeof(level) / sizeof(level[0])
				       ? level[ev[i].kind] : PKV_LOG_INFO,
			    "%s", ev[i].text);
		conf |= ev[i].kind == PAXOS_E_CONF;
	}
	if (conf)
		on_new_conf(d);
	paxos_events_reset(d->paxos);
	unsigned flags = paxos_heartbeat_flags(d->paxos);
	membership_set_self_state(&d->mem, (flags & PKV_MF_SYNCED) != 0, (flags & PKV_MF_FRESH) != 0,
				  paxos_epoch(d->paxos));
}

static void seal_and_send(struct daemon *d, struct wire_builder *b, uint8_t *buf,
			  const struct pkv_node_cfg *peer)
{
	int len = wire_finish(b);
	if (len < 0) {
		d->stats_flush_errors++;
		return;
	}
	if (fault_drops(&d->fault, peer->id, true) ||
	    fault_hold(&d->fault, buf, (size_t)len, peer, false)) {
		net_dgram_discard(d->net, buf);
		return;
	}
	net_dgram_send(d->net, buf, (size_t)len, &peer->addr);
	if (PKV_FAULT_INJECTION && d->fault.n_held)
		fault_release(&d->fault, 0, peer->id); /* reorder: the held ones go after this */
}

/* fault.h: a held datagram goes out (and false when no buffer is free). */
static bool send_held(void *ctx, const struct pkv_node_cfg *peer, const uint8_t *data, size_t len)
{
	struct daemon *d = ctx;
	size_t cap;
	uint8_t *buf = net_dgram_buf(d->net, &cap);
	if (!buf)
		return false;
	if (cap < len) {
		net_dgram_discard(d->net, buf);
	} else {
		memcpy(buf, data, len);
		net_dgram_send(d->net, buf, len, &peer->addr);
	}
	return true;
}

/* A datagram to `to` of at most max bytes. */
static uint8_t *begin_dgram(struct daemon *d, struct wire_builder *b, uint32_t to, size_t max)
{
	size_t cap;
	uint8_t *buf = net_dgram_buf(d->net, &cap);
	if (!buf)
		return NULL;
	if (cap > max)
		cap = max;
	if (wire_begin(b, d->wire, to, buf, cap, d->cfg.encrypt, daemon_now_us()) < 0) {
		net_dgram_discard(d->net, buf);
		return NULL;
	}
	return buf;
}

/* A handshake datagram (or a session's first, empty one) to a peer. */
static void send_raw(struct daemon *d, const struct pkv_node_cfg *peer, const uint8_t *data,
		     size_t len)
{
	if (fault_drops(&d->fault, peer->id, true) || fault_hold(&d->fault, data, len, peer, true))
		return;
	size_t cap;
	uint8_t *buf = net_dgram_buf(d->net, &cap);
	if (!buf)
		return;
	if (cap < len) {
		net_dgram_discard(d->net, buf);
		return;
	}
	memcpy(buf, data, len);
	net_dgram_send(d->net, buf, len, &peer->addr);
}

/*
 * Starts or retries the handshakes that are due, and sends the wire's own
 * stamps that are (wire.h); returns the time the next one is, or
 * UINT64_MAX.
 */
static uint64_t handshakes(struct daemon *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	uint8_t init[WIRE_HS_BYTES];
	/* rekey= (fault injection): a lowered rekey bound. */
	d->wire->rekey_dgrams = d->fault.rekey_dgrams ? d->fault.rekey_dgrams : WIRE_REKEY_DGRAMS;
	for (unsigned i = 0; i < d->cfg.n_nodes; i++) {
		const struct pkv_node_cfg *peer = &d->cfg.nodes[i];
		if (peer->id == d->self)
			continue;
		size_t len = wire_handshake_due(d->wire, peer->id, now, init, sizeof(init), &next);
		if (len)
			send_raw(d, peer, init, len);
		/* Our stamp to a peer we sent nothing for a while (wire.h). */
		len = wire_stamp_due(d->wire, peer->id, now, init, sizeof(init), &next);
		if (len)
			send_raw(d, peer, init, len);
	}
	return next;
}

_Static_assert(PKV_CONFIG_MAX_DATAGRAM == WIRE_MAX_DGRAM, "max_datagram reaches the wire's limit");

/* Seals and sends a datagram built to the peer's cap, counting its size. */
static void send_batch(struct daemon *d, struct wire_builder *b, uint8_t *buf,
		       const struct pkv_node_cfg *peer)
{
	if (wire_count(b) > 1 && b->len + WIRE_TAG_BYTES > d->stats_largest_batch)
		d->stats_largest_batch = b->len + WIRE_TAG_BYTES;
	seal_and_send(d, b, buf, peer);
}

/*
 * Packs every message of ob for one peer into as few datagrams as fit its
 * cap (config_datagram_cap; docs/design.md §7, "Datagram size"). A message
 * too large for the cap on its own goes alone in a datagram of up to
 * WIRE_MAX_DGRAM, which IP fragments; the batch before it is sent first, so
 * the peer's messages leave in the order they were queued.
 */
static void flush_peer(struct daemon *d, const struct pkv_outbox *ob,
		       const struct pkv_node_cfg *peer)
{
	struct wire_builder b;
	uint8_t *buf = NULL;
	const size_t cap = config_datagram_cap(&d->cfg, peer);
	/* No session yet (its handshake is under way): what was queued for
	 * the peer is dropped, as on a lossy network; Paxos retransmits. */
	if (!wire_can_send(d->wire, peer->id))
		return;
	for (size_t i = 0; i < ob->n; i++) {
		const struct pkv_out *o = &ob->v[i];
		if (o->to != peer->id && o->to != PKV_TO_ALL)
			continue;
		/* A broadcast skips peers the failure detector does not hear:
		 * Paxos needs only a majority, retransmits what matters, and a
		 * returning peer learns through sync and queries. */
		if (o->to == PKV_TO_ALL && !membership_is_connected(&d->mem, peer->id))
			continue;
		if (WIRE_MIN_DGRAM + wire_msg_size(&o->msg) > cap) {
			if (buf) {
				send_batch(d, &b, buf, peer);
				buf = NULL;
			}
			struct wire_builder big;
			uint8_t *one = begin_dgram(d, &big, peer->id, WIRE_MAX_DGRAM);
			if (!one)
				return;
			if (wire_add(&big, &o->msg) < 0) {
				d->stats_flush_errors++; /* larger than any datagram */
				net_dgram_discard(d->net, one);
				continue;
			}
			d->stats_oversize++;
			seal_and_send(d, &big, one, peer);
			continue;
		}
		if (!buf && !(buf = begin_dgram(d, &b, peer->id, cap)))
			return;
		if (wire_add(&b, &o->msg) == -ENOSPC) {
			send_batch(d, &b, buf, peer);
			if (!(buf = begin_dgram(d, &b, peer->id, cap)))
				return;
			if (wire_add(&b, &o->msg) < 0) {
				d->stats_flush_errors++; /* cannot happen: it fits the cap */
				continue;
			}
		}
	}
	if (buf)
		send_batch(d, &b, buf, peer);
}

void send_outbox(struct daemon *d, const struct pkv_outbox *ob)
{
	if (!ob->n)
		return;
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		if (d->cfg.nodes[i].id != d->self)
			flush_peer(d, ob, &d->cfg.nodes[i]);
}

static void deliver(struct daemon *d, const struct wire_hdr *h, struct wire_iter *it, uint64_t now)
{
	struct pkv_msg m;
	while (wire_next(it, &m)) {
		if (m.type == PKV_MSG_HEARTBEAT) {
			membership_on_heartbeat(&d->mem, h->sender, &m, now);
			if (h->sender <= PKV_MAX_NODES)
				paxos_peer_bind_inc(d->paxos, h->sender,
						    d->mem.peers[h->sender].bind_inc, now);
			update_peer(d, h->sender, now);
		} else if ((m.type == PKV_MSG_ERASE || m.type == PKV_MSG_QUERY_REPLY) &&
			   fault_drops_late(&d->fault, h->sender)) {
			continue; /* late_erase= (fault injection): erasures told late */
		} else {
			paxos_receive(d->paxos, h->sender, &m, now);
		}
	}
}

static void on_dgram(void *ctx, const struct sockaddr_storage *from, uint8_t *buf, size_t len)
{
	struct daemon *d = ctx;
	struct wire_hdr h;
	struct wire_iter it;
	uint8_t reply[WIRE_HS_BYTES];
	size_t reply_len;
	uint64_t now = daemon_now_us();
	int rc = wire_receive(d->wire, buf, len, now, &h, &it, reply, sizeof(reply), &reply_len);
	if (reply_len) {
		/* A handshake's answer, or our stamp for a stale echo (wire.h):
		 * to the configured address, never to the source. */
		const struct pkv_node_cfg *peer = config_node_by_id(&d->cfg, h.sender);
		if (peer && !fault_drops(&d->fault, h.sender, false))
			send_raw(d, peer, reply, reply_len);
	}
	/* A handshake is no sign of life: only a session's datagram is. */
	if (rc != WIRE_OK)
		return; /* a handshake, or counted in d->wire->rejects */
	if (fault_drops(&d->fault, h.sender, false))
		return;
	membership_on_datagram(&d->mem, h.sender, h.incarnation, now);
	struct wire_iter again = it;
	deliver(d, &h, &it, now);
	/* A duplicate past the replay window: what a retransmitting network
	 * or a confused peer would hand the protocol. */
	if (fault_dup(&d->fault))
		deliver(d, &h, &again, now);
}

static void on_ctl_accept(void *ctx, int fd)
{
	control_accept(ctx, fd);
}

static void on_ctl_recv(void *ctx, void *conn, ssize_t len)
{
	control_recv(ctx, conn, len);
}

static void on_ctl_sent(void *ctx, void *conn, int res)
{
	control_sent(ctx, conn, res);
}

static void on_poll(void *ctx, void *token, int res, bool more)
{
	local_on_poll(ctx, token, res, more);
}

static void on_signal(void *ctx, int signo)
{
	struct daemon *d = ctx;
	if (signo == SIGHUP) {
		d->reload = true; /* at the end of the turn, between two flushes */
		return;
	}
	daemon_notice(d, "received %s, stopping", strsignal(signo));
	d->stopping = true;
}

/* "quorum yes, configuration 3, epoch 1" for the service manager. */
static void notify_state(struct daemon *d)
{
	if (!notify_enabled(&d->notify))
		return;
	char st[NOTIFY_STATUS_MAX];
	bool synced = paxos_synced(d->paxos);
	snprintf(st, sizeof(st), "quorum %s, configuration %" PRIu64 ", epoch %" PRIu64 "%s",
		 membership_quorum(&d->mem) ? "yes" : "no", d->conf.num, paxos_epoch(d->paxos),
		 synced ? "" : ", syncing");
	if (synced && !d->notify.ready)
		(void)notify_ready(&d->notify, st);
	else
		(void)notify_status(&d->notify, st);
}

static void on_resize_done(struct daemon *d, struct ctl_conn *c, int status)
{
	control_resize_done(d, c, status);
}

static const struct resize_hooks resize_hooks = {
	.done = on_resize_done,
};

static void on_ctl_attach(struct daemon *d, int fd, struct local_attach **ref)
{
	local_attach(d, fd, ref);
}

static void on_ctl_closed(struct daemon *d, struct ctl_conn *c, struct local_attach *attach)
{
	local_detach(d, attach);
	resize_forget_conn(d, c);
}

static int on_ctl_resize(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now)
{
	return resize_start(d, c, n, now);
}

static const struct control_hooks control_hooks = {
	.attach = on_ctl_attach,
	.closed = on_ctl_closed,
	.resize = on_ctl_resize,
	.durable_stats = persist_stats,
	.pid_start_time = local_pid_start_time,
};

static const struct net_handlers handlers = {
	.dgram = on_dgram,
	.ctl_accept = on_ctl_accept,
	.ctl_recv = on_ctl_recv,
	.ctl_sent = on_ctl_sent,
	.signal = on_signal,
	.poll = on_poll,
	.file_synced = on_file_synced,
};

int daemon_init(struct daemon *d)
{
	control_init(&d->ctl, &control_hooks);
	char nerr[256];
	if (notify_init(&d->notify, nerr, sizeof(nerr)) < 0) {
		fprintf(stderr, "pkvd: %s\n", nerr);
		return -EINVAL;
	}
	const struct pkv_node_cfg *self = config_self(&d->cfg);
	d->self = self->id;
	d->cluster_id = auth_cluster_id(d->cfg.cluster);
	d->started_us = daemon_now_us();
	pkv_outbox_init(&d->ob);
	fault_init(&d->fault, d->incarnation, send_held, d);
	resize_init(&d->resize, &resize_hooks);

	/* Locked memory, left out of core dumps (sodium_malloc). */
	d->wire = sodium_malloc(sizeof(*d->wire));
	if (!d->wire)
		return -ENOMEM;
	wire_init(d->wire, d->cluster_id, d->self, d->incarnation, d->seed);
	sodium_free(d->seed);
	d->seed = NULL;
	for (unsigned i = 0; i < d->cfg.n_nodes; i++) {
		const struct pkv_node_cfg *n = &d->cfg.nodes[i];
		if (n->id != d->self &&
		    wire_set_peer_keys(d->wire, n->id, n->pubkey,
				       n->has_pubkey2 ? n->pubkey2 : NULL) < 0) {
			daemon_err(d, "node '%s': its public key is not a usable X25519 key", n->name);
			return -EINVAL;
		}
	}

	struct membership_cfg mc = {
		.self = d->self,
		.cluster_size = d->cfg.cluster_size,
		.failure_timeout_us = (uint64_t)d->cfg.failure_timeout_ms * 1000u,
		.heartbeat_interval_us = (uint64_t)d->cfg.heartbeat_ms * 1000u,
		.incarnation = d->incarnation,
		.bind_inc = d->bind_inc,
	};
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		mc.nodes[mc.n_nodes++] = d->cfg.nodes[i].id;
	mc.observers = config_observer_mask(&d->cfg);
	if (membership_init(&d->mem, &mc) < 0) {
		daemon_err(d, "bad membership parameters");
		return -EINVAL;
	}

	/* With its state on disk a node restarts as it stopped: synced. */
	bool restored = false;
	int r = persist_open(d, &restored);
	if (r < 0)
		return r;
	struct paxos_config pc = {
		.self = d->self,
		.cluster_size = d->cfg.cluster_size,
		.restarted = !d->fresh && !restored,
		.fresh = d->fresh && !restored,
		.seed = d->incarnation ^ ((uint64_t)d->salt << 32),
		/* a majority restarted without durable state waits this long for a
		 * synced peer before it starts a new epoch */
		.epoch_grace_us = 3ull * d->cfg.failure_timeout_ms * 1000u,
		.incarnation = d->incarnation,
		.bind_inc = d->bind_inc,
		.restart_grace_us = (uint64_t)d->cfg.restart_grace_ms * 1000u,
		.failure_timeout_us = (uint64_t)d->cfg.failure_timeout_ms * 1000u,
		.no_fast_put = !d->cfg.fast_put,
		/* With the log, every fast vote is answered after a sync on each
		 * voter: a busy disk's 10-20 ms must not send puts classic (two
		 * syncs) and pause the fast round (docs/design.md §3.4, §6.3). */
		.fast_wait_us = d->cfg.durable ? 100000u : 0u,
		/* With the log, a classic ACCEPT may wait LOOP_PRIOR_HOLD_US for
		 * the proposer's own promise to be on disk: its ballots live that
		 * much less, so no ballot's message leaves after 1 s; the quiet
		 * period stays 2 s (docs/design.md §6.1, §6.3). */
		.ballot_life_us = d->cfg.durable ? 1000000u - LOOP_PRIOR_HOLD_US : 0u,
		.restart_quiet_us = d->cfg.durable ? 2000000u : 0u,
		/* ballots live 1 s; a restarted daemon syncs 2 s after its start */
		.start_us = d->started_us,
		.conf = d->conf,
	};
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		pc.nodes[pc.n_nodes++] = d->cfg.nodes[i].id;
	pc.observers = config_observer_mask(&d->cfg);
	d->store = store_new();
	if (!d->store)
		return -ENOMEM;
	d->paxos = paxos_new(&pc, d->store, &d->ob);
	if (!d->paxos)
		return -ENOMEM;
	/* No lease before a majority echoes us (§5.1): a core never told one
	 * takes its learner's values as vouched for, and values a durable log
	 * restores below were learned before the stop, which the majority may
	 * have ended since. update_time publishes it everywhere once it
	 * differs from d->lease_until_us (0 until then). */
#ifndef PKV_TEST_LATE_LEASE
	/* TEST ONLY, tests/scenario: scenario-durable-late-lease builds pkvd
	 * without this call (pkvd-late-lease), never installed. */
	paxos_set_lease(d->paxos, membership_lease_until(&d->mem));
#endif
	d->conf = paxos_conf(d->paxos);
	membership_set_conf(&d->mem, &d->conf);
	if ((r = persist_replay(d, daemon_now_us())) < 0)
		return r;
	/* After the replay: what a log holds is never refused, only new keys. */
	store_set_max_entries(d->store, d->cfg.max_keys);

	d->net = net_new(&handlers, d);
	if (!d->net) {
		int e = -errno;
		daemon_err(d, "cannot set up io_uring: %s", strerror(-e));
		return e;
	}
	r = net_udp_bind(d->net, &self->addr);
	if (r < 0) {
		daemon_err(d, "cannot bind UDP %s: %s", self->addr_text, strerror(-r));
		return r;
	}
	d->lease_ft_ms = d->cfg.failure_timeout_ms;
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	r = net_watch_signals(d->net, sigs, 3);
	if (r < 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	r = local_init(d);
	if (r < 0)
		return r;
	return control_open(d);
}

int daemon_run(struct daemon *d)
{
	daemon_notice(d, "started: id %u, udp %s, incarnation %" PRIu64 "%s", d->self,
		   config_self(&d->cfg)->addr_text, d->incarnation,
		   d->fresh	   ? ", first boot (bootstrap)"
		   : d->lost_state ? ", no state file and no --bootstrap: a node that lost its state"
				   : "");
	if (!membership_is_voter(&d->mem, d->self))
		daemon_notice(d, "not a voter of configuration %" PRIu64 " (%u voters): this daemon"
			      " serves and learns but does not vote",
			   d->conf.num, d->mem.cluster_size);
	log_connected(d, PKV_LOG_NOTICE, "[quorum:no]");
	while (!d->stopping) {
		/* The wall clock first: read at or before `now`, it never leads it (§4.5). */
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		uint64_t now = daemon_now_us();
		uint64_t wall_ms = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
		/* skew= (fault injection): a clock jump, as the heartbeats and the core see it */
		membership_set_wall(&d->mem, wall_ms + (uint64_t)d->fault.skew_ms, now);
		membership_set_erase_owed(&d->mem, paxos_erase_owed(d->paxos));
		/* Woken a heartbeat interval or more past the time asked for. */
		if (d->wake_by_us && now > d->wake_by_us + d->mem.heartbeat_interval_us)
			membership_not_looking(&d->mem, d->wake_by_us, now);
		uint64_t next = membership_tick(&d->mem, now, &d->ob);
		handle_membership_events(d, now);
		update_time(d, wall_ms + (uint64_t)d->fault.skew_ms, now);
		uint64_t hold = local_dispatch(d, now);
		if (hold && hold < next)
			next = hold;
		uint64_t pnext = paxos_tick(d->paxos, now);
		if (pnext < next)
			next = pnext;
		pnext = resize_tick(d, now);
		if (pnext < next)
			next = pnext;
		flush(d);
		now = daemon_now_us();
		if (d->reload) {
			d->reload = false;
			(void)daemon_reload(d);
		}
		notify_state(d);
		pnext = notify_watchdog(&d->notify, now);
		if (pnext < next)
			next = pnext;
		persist_handover_stamp(d, now, false);
		pnext = fault_tick(&d->fault, now);
		if (pnext < next)
			next = pnext;
		pnext = handshakes(d, now);
		if (pnext < next)
			next = pnext;
		/* The lease's end wakes us, to tell the subscribers on time. */
		if (d->lease_state == LEASE_HELD && d->lease_until_us < next)
			next = d->lease_until_us;
		uint64_t wait = next > now ? next - now : 0;
		d->wake_by_us = now + wait;
		/*
		 * Clients ring the doorbell only while we say we sleep. Under the
		 * hold we do not: what they post waits for the hold's end. A hold
		 * that ended in this turn's flush (its take's last answer) still
		 * keeps the doorbell off when the turn queued sends: their
		 * completions end the wait at once, and the next turn takes what
		 * gathered (§8). A turn that sent nothing (the answer to a quorum
		 * read, say) would sleep out the whole hold: it rings the doorbell.
		 */
		if (hold && !local_holding(d, now) && !net_sends_queued(d->net))
			hold = 0;
		bool sleeping = wait > 0 && !hold && local_sleep_begin(d);
		if (wait > 0 && !sleeping && !hold)
			wait = 0; /* requests wait in the ring */
		int r = net_run_once(d->net, wait);
		if (sleeping)
			local_sleep_end(d);
		if (r < 0) {
			daemon_err(d, "event loop failed: %s", strerror(-r));
			return r;
		}
	}
	(void)notify_stopping(&d->notify);
	/* A clean stop: the next start has the grace from now (§6.2). */
	persist_handover_stamp(d, daemon_now_us(), true);
	daemon_notice(d, "stopped");
	return d->failed ? -EIO : 0;
}

void daemon_fini(struct daemon *d)
{
	/* The ring goes first: it cancels the receives that point into the
	 * connections' buffers. Answers from here on wake their clients by
	 * system call. */
	if (d->local.shm)
		shm_set_waker(d->local.shm, NULL, NULL);
	if (d->net)
		net_free(d->net);
	d->net = NULL; /* what closes below must not queue on the freed ring */
	control_close_all(d);
	local_fini(d);
	if (d->paxos)
		paxos_free(d->paxos);
	persist_close(d);
	durable_hold_free(&d->hold);
	if (d->store)
		store_free(d->store);
	pkv_outbox_free(&d->ob);
	fault_free(&d->fault);
	if (d->wire) {
		wire_wipe(d->wire);
		sodium_free(d->wire);
		d->wire = NULL;
	}
	sodium_free(d->seed);
	d->seed = NULL;
	notify_close(&d->notify);
}
