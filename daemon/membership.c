// SPDX-License-Identifier: MIT
/*
 * membership.c — heartbeats, the failure detector and quorum. Pure: no
 * sockets, no clock reads; see membership.h for how the loop drives it.
 */
#include "membership.h"

#include <errno.h>
#include <string.h>

static bool peer_id_valid(const struct membership *m, uint32_t id)
{
	return id >= 1 && id <= PKV_MAX_NODES && id != m->self && m->peers[id].configured;
}

static void push_event(struct membership *m, const struct membership_event *ev)
{
	if (m->ev_len == MEMBERSHIP_EVENT_QUEUE) {
		m->events_dropped++;
		return;
	}
	m->ev[(m->ev_head + m->ev_len) % MEMBERSHIP_EVENT_QUEUE] = *ev;
	m->ev_len++;
}

static void peer_event(struct membership *m, enum membership_event_kind kind,
		       const struct membership_peer *p, uint64_t old_inc)
{
	struct membership_event ev = {
		.kind = kind,
		.node = p->id,
		.incarnation = p->incarnation,
		.old_incarnation = old_inc,
	};
	push_event(m, &ev);
}

/*
 * docs/design.md §5: quorum? = connected voters including self > half the
 * voters. The voters are the configuration's (at first the first
 * cluster_size configured ids), self among them or not; a daemon beyond
 * them counts for nobody's quorum.
 */
static void update_quorum(struct membership *m)
{
	uint64_t v = membership_connected_mask(m) & membership_voters(m);
	bool q = 2u * (unsigned)__builtin_popcountll(v) > m->cluster_size;

	if (q == m->quorum)
		return;
	m->quorum = q;
	m->quorum_epoch++;
	struct membership_event ev = {
		.kind = q ? MEMBERSHIP_QUORUM_REACHED : MEMBERSHIP_QUORUM_LOST,
		.node = m->self,
		.quorum_epoch = m->quorum_epoch,
	};
	push_event(m, &ev);
}

int membership_init(struct membership *m, const struct membership_cfg *cfg)
{
	if (cfg->self < 1 || cfg->self > PKV_MAX_NODES || cfg->cluster_size < 1 ||
	    cfg->cluster_size > PKV_MAX_NODES || cfg->incarnation == 0 ||
	    cfg->heartbeat_interval_us == 0 ||
	    cfg->heartbeat_interval_us >= cfg->failure_timeout_us || cfg->n_nodes > PKV_MAX_NODES)
		return -EINVAL;

	memset(m, 0, sizeof(*m));
	m->self = cfg->self;
	m->cluster_size = cfg->cluster_size;
	m->incarnation = cfg->incarnation;
	uint64_t configured = UINT64_C(1) << (cfg->self - 1);
	for (unsigned i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i] >= 1 && cfg->nodes[i] <= PKV_MAX_NODES)
			configured |= UINT64_C(1) << (cfg->nodes[i] - 1);
	m->conf.voters = pkv_voters(configured, cfg->cluster_size);
	m->failure_timeout_us = cfg->failure_timeout_us;
	m->heartbeat_interval_us = cfg->heartbeat_interval_us;
	for (unsigned i = 0; i < cfg->n_nodes; i++) {
		uint32_t id = cfg->nodes[i];
		if (id < 1 || id > PKV_MAX_NODES || m->peers[id].configured)
			return -EINVAL;
		if (id == m->self)
			continue;
		m->peers[id].id = id;
		m->peers[id].configured = true;
		m->peers[id].next_hb_us = 0; /* due at the first tick */
	}
	update_quorum(m);
	return 0;
}

void membership_set_self_state(struct membership *m, bool synced, bool fresh, uint64_t epoch)
{
	m->synced = synced;
	m->fresh = fresh;
	m->epoch = epoch;
}

void membership_on_datagram(struct membership *m, uint32_t from, uint64_t incarnation,
			    uint64_t now_us)
{
	if (!peer_id_valid(m, from))
		return;
	struct membership_peer *p = &m->peers[from];

	if (incarnation < p->incarnation)
		return;
	if (incarnation > p->incarnation) {
		uint64_t old = p->incarnation;
		p->incarnation = incarnation;
		if (old != 0) {
			/*
			 * A restart inside the failure timeout looks like no
			 * outage at all, yet the old process and its pid
			 * bindings are gone: report it on its own. What we
			 * knew of the old process no longer holds.
			 */
			p->restarts++;
			p->echo_ts = 0;
			p->synced = false;
			p->fresh = false;
			peer_event(m, MEMBERSHIP_PEER_RESTARTED, p, old);
		}
	}
	if (now_us > p->last_heard_us)
		p->last_heard_us = now_us;
	if (!p->connected) {
		p->connected = true;
		peer_event(m, MEMBERSHIP_PEER_UP, p, 0);
		update_quorum(m);
	}
}

void membership_on_heartbeat(struct membership *m, uint32_t from, const struct pkv_msg *hb,
			     uint64_t now_us)
{
	if (!peer_id_valid(m, from) || hb->type != PKV_MSG_HEARTBEAT)
		return;
	struct membership_peer *p = &m->peers[from];

	p->hb_in++;
	p->cluster_size = (uint32_t)hb->arg0;
	struct pkv_conf c;
	if (pkv_conf_decode(hb->value.p, hb->value.len, &c))
		p->conf = c;
	p->epoch = hb->arg1;
	p->synced = hb->flags & PKV_MF_SYNCED;
	p->fresh = hb->flags & PKV_MF_FRESH;
	p->echo_ts = hb->arg2;
	p->echo_rx_us = now_us;

	/*
	 * req is our own send time coming back, gen how long the peer sat on
	 * it; both on clocks that never go backwards, so a sample that would
	 * be negative is a corrupt or misrouted echo and is ignored.
	 */
	if (hb->req != 0 && hb->req <= now_us && now_us - hb->req >= hb->gen) {
		uint64_t sample = now_us - hb->req - hb->gen;
		p->rtt_last_us = sample;
		if (p->rtt_us == 0)
			p->rtt_us = sample ? sample : 1;
		else
			p->rtt_us = (7 * p->rtt_us + sample) / 8;
	}
}

static void send_heartbeat(struct membership *m, struct membership_peer *p, uint64_t now_us,
			   struct pkv_outbox *out)
{
	struct pkv_msg hb = {
		.type = PKV_MSG_HEARTBEAT,
		.flags = (uint8_t)((m->synced ? PKV_MF_SYNCED : 0) | (m->fresh ? PKV_MF_FRESH : 0)),
		.arg0 = m->cluster_size,
		.arg1 = m->epoch,
		.arg2 = now_us,
	};
	uint8_t conf[PKV_CONF_BYTES];
	pkv_conf_encode(conf, &m->conf);
	hb.value = (struct pkv_bytes){ conf, sizeof(conf) };
	if (p->echo_ts) {
		hb.req = p->echo_ts;
		hb.gen = now_us > p->echo_rx_us ? now_us - p->echo_rx_us : 0;
	}
	if (pkv_outbox_push(out, p->id, &hb) == 0)
		p->hb_out++;
	else
		m->hb_send_failed++; /* lost like a dropped datagram; next interval retries */
}

uint64_t membership_tick(struct membership *m, uint64_t now_us, struct pkv_outbox *out)
{
	uint64_t next = now_us + m->heartbeat_interval_us;

	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!peer_id_valid(m, id))
			continue;
		struct membership_peer *p = &m->peers[id];

		if (p->connected && now_us >= p->last_heard_us &&
		    now_us - p->last_heard_us >= m->failure_timeout_us) {
			p->connected = false;
			p->echo_ts = 0; /* too old to measure anything */
			peer_event(m, MEMBERSHIP_PEER_DOWN, p, 0);
		}
		if (now_us >= p->next_hb_us) {
			send_heartbeat(m, p, now_us, out);
			/* From now, not from the missed slot: no burst after a stall. */
			p->next_hb_us = now_us + m->heartbeat_interval_us;
		}
		if (p->next_hb_us < next)
			next = p->next_hb_us;
		if (p->connected && p->last_heard_us + m->failure_timeout_us < next)
			next = p->last_heard_us + m->failure_timeout_us;
	}
	update_quorum(m);
	return next;
}

bool membership_next_event(struct membership *m, struct membership_event *ev)
{
	if (m->ev_len == 0)
		return false;
	*ev = m->ev[m->ev_head];
	m->ev_head = (m->ev_head + 1) % MEMBERSHIP_EVENT_QUEUE;
	m->ev_len--;
	return true;
}

const char *membership_event_to_str(enum membership_event_kind kind)
{
	switch (kind) {
	case MEMBERSHIP_PEER_UP:
		return "peer_up";
	case MEMBERSHIP_PEER_DOWN:
		return "peer_down";
	case MEMBERSHIP_PEER_RESTARTED:
		return "peer_restarted";
	case MEMBERSHIP_QUORUM_REACHED:
		return "quorum_reached";
	case MEMBERSHIP_QUORUM_LOST:
		return "quorum_lost";
	}
	return "unknown";
}

bool membership_quorum(const struct membership *m)
{
	return m->quorum;
}

unsigned membership_connected_count(const struct membership *m)
{
	unsigned n = 1; /* self */
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++)
		if (peer_id_valid(m, id) && m->peers[id].connected)
			n++;
	return n;
}

bool membership_is_connected(const struct membership *m, uint32_t id)
{
	if (id == m->self)
		return true;
	return peer_id_valid(m, id) && m->peers[id].connected;
}

uint64_t membership_connected_mask(const struct membership *m)
{
	uint64_t mask = 0;
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++)
		if (membership_is_connected(m, id))
			mask |= UINT64_C(1) << (id - 1);
	return mask;
}

const struct membership_peer *membership_peer(const struct membership *m, uint32_t id)
{
	return peer_id_valid(m, id) ? &m->peers[id] : NULL;
}

uint64_t membership_voters(const struct membership *m)
{
	return m->conf.voters;
}

bool membership_is_voter(const struct membership *m, uint32_t id)
{
	return id >= 1 && id <= PKV_MAX_NODES && (membership_voters(m) >> (id - 1)) & 1u;
}

int membership_set_conf(struct membership *m, const struct pkv_conf *c)
{
	if (!c->voters)
		return -EINVAL;
	m->conf = *c;
	m->cluster_size = (uint32_t)__builtin_popcountll(c->voters);
	update_quorum(m);
	return 0;
}
