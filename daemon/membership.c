// SPDX-License-Identifier: MIT
/*
 * membership.c — heartbeats, the failure detector and quorum. Pure: no
 * sockets, no clock reads; see membership.h for how the loop drives it.
 */
#include "membership.h"

#include <errno.h>
#include <string.h>

/* TEST ONLY (pkvd-noregain): the lease comes back on the first echoes (§5.1). */
#ifndef PKV_MEMBERSHIP_BROKEN_REGAIN
#define PKV_MEMBERSHIP_BROKEN_REGAIN 0
#endif

static bool peer_id_valid(const struct membership *m, uint32_t id)
{
	return id >= 1 && id <= PKV_MAX_NODES && id != m->self && m->peers[id].configured;
}

/*
 * docs/design.md §5.2: heartbeats and the failure detector run between a
 * voter and every other daemon, never between two daemons that both do not
 * vote. A voter watches everyone; an observer watches the voters only, and
 * takes what happens to other observers from the voters' erasures. So an
 * idle fleet of n observers costs each voter n heartbeats sent and n
 * received per interval, and nobody an all-to-all mesh.
 */
static bool peer_watched(const struct membership *m, uint32_t id)
{
	return membership_is_voter(m, m->self) || membership_is_voter(m, id);
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
	m->bind_inc = cfg->bind_inc ? cfg->bind_inc : cfg->incarnation;
	uint64_t configured = UINT64_C(1) << (cfg->self - 1);
	for (unsigned i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i] >= 1 && cfg->nodes[i] <= PKV_MAX_NODES)
			configured |= UINT64_C(1) << (cfg->nodes[i] - 1);
	m->conf.voters = pkv_voters(configured & ~cfg->observers, cfg->cluster_size);
	m->failure_timeout_us = cfg->failure_timeout_us;
	m->heartbeat_interval_us = cfg->heartbeat_interval_us;
	m->lease_us = cfg->failure_timeout_us * 3 / 5;
	m->lease_catchup = true; /* a durable restart missed erasures too */
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

void membership_not_looking(struct membership *m, uint64_t from_us, uint64_t to_us)
{
	if (to_us <= from_us)
		return;
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!peer_id_valid(m, id))
			continue;
		struct membership_peer *p = &m->peers[id];
		if (!p->connected || p->last_heard_us >= to_us)
			continue;
		p->last_heard_us += to_us - from_us;
		if (p->last_heard_us > to_us)
			p->last_heard_us = to_us;
	}
}

void membership_on_datagram(struct membership *m, uint32_t from, uint64_t incarnation,
			    uint64_t now_us)
{
	if (!peer_id_valid(m, from) || !peer_watched(m, from))
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
			p->lease_sent_us = 0;
			p->wall_known = false;
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
	if (!peer_id_valid(m, from) || hb->type != PKV_MSG_HEARTBEAT || !peer_watched(m, from))
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
	/* Its pid bindings' incarnation (ballot.round, unused by heartbeats
	 * otherwise; §6.2); none said: its incarnation. */
	uint64_t bi = hb->ballot.round ? hb->ballot.round : p->incarnation;
	if (bi > p->bind_inc)
		p->bind_inc = bi;
	/*
	 * Its wall clock when it sent this (0: not given); §4.5. In whole ms
	 * both, so that its clock moved on by ours never leads it: the
	 * heartbeat's ms (truncated) against ours rounded up, as peer_wall
	 * counts ours truncated.
	 */
	if (hb->accepted.round) {
		p->wall_off_ms = (int64_t)hb->accepted.round - (int64_t)((now_us + 999u) / 1000u);
		p->wall_known = true;
	}

	/*
	 * req is our own send time coming back, gen how long the peer sat on
	 * it; both on clocks that never go backwards, so a sample that would
	 * be negative is a corrupt or misrouted echo and is ignored.
	 */
	if (hb->req != 0 && hb->req <= now_us && now_us - hb->req >= hb->gen) {
		uint64_t sample = now_us - hb->req - hb->gen;
		/*
		 * The peer heard our heartbeat of hb->req: the lease (§5.1).
		 * Out of the lease, only from a synced peer (it holds a
		 * majority's tombstones) whose erasures we all acknowledged:
		 * we regain it once we know what a majority ended while we
		 * were out.
		 */
		bool owed = (hb->flags & PKV_MF_ERASE_OWED) || !(hb->flags & PKV_MF_SYNCED);
		bool counts = !owed || PKV_MEMBERSHIP_BROKEN_REGAIN ||
			      (!m->lease_catchup && now_us < membership_lease_until(m));
		if (counts && hb->req > p->lease_sent_us)
			p->lease_sent_us = hb->req;
		p->rtt_last_us = sample;
		if (p->rtt_us == 0)
			p->rtt_us = sample ? sample : 1;
		else
			p->rtt_us = (7 * p->rtt_us + sample) / 8;
	}
}

/* Our wall clock at now_us (ms), moved on from the last membership_set_wall. */
static uint64_t self_wall(const struct membership *m, uint64_t now_us)
{
	return m->wall_ms + (now_us > m->wall_at_us ? now_us - m->wall_at_us : 0) / 1000u;
}

uint64_t membership_wall(const struct membership *m, uint64_t now_us)
{
	return self_wall(m, now_us);
}

static void send_heartbeat(struct membership *m, struct membership_peer *p, uint64_t now_us,
			   struct pkv_outbox *out)
{
	struct pkv_msg hb = {
		.type = PKV_MSG_HEARTBEAT,
		.flags = (uint8_t)((m->synced ? PKV_MF_SYNCED : 0) | (m->fresh ? PKV_MF_FRESH : 0) |
				   ((m->erase_owed >> (p->id - 1)) & 1u ? PKV_MF_ERASE_OWED : 0)),
		.arg0 = m->cluster_size,
		.arg1 = m->epoch,
		.arg2 = now_us,
		.ballot = { .round = m->bind_inc },
	};
	uint8_t conf[PKV_CONF_BYTES];
	pkv_conf_encode(conf, &m->conf);
	hb.value = (struct pkv_bytes){ conf, sizeof(conf) };
	if (m->wall_set)
		hb.accepted.round = self_wall(m, now_us);
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
		if (!peer_watched(m, id)) {
			/* Another observer (§5.2): no heartbeat; it was a voter
			 * until a change if it still looks connected, and the
			 * timeout above ends that. */
			if (p->connected && p->last_heard_us + m->failure_timeout_us < next)
				next = p->last_heard_us + m->failure_timeout_us;
			continue;
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

void membership_set_lease_catchup(struct membership *m, bool catchup)
{
	m->lease_catchup = catchup;
}

void membership_set_erase_owed(struct membership *m, uint64_t mask)
{
	m->erase_owed = mask;
}

bool membership_quorum(const struct membership *m)
{
	return m->quorum;
}

void membership_set_wall(struct membership *m, uint64_t wall_ms, uint64_t now_us)
{
	m->wall_set = true;
	m->wall_ms = wall_ms;
	m->wall_at_us = now_us;
}

/* The k-th largest (k >= 1) of v[0 .. n-1], n >= k; v is reordered. */
static uint64_t kth_largest(uint64_t *v, unsigned n, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (v[j] > v[i]) {
				uint64_t t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	return v[k - 1];
}

/*
 * docs/design.md §5.1: a voter peer that echoed our send time s counted us
 * connected at s, and keeps doing so until s + failure_timeout on its clock;
 * the lease ends lease_us after s. Self, if a voter, needs no echo.
 */
uint64_t membership_lease_until(const struct membership *m)
{
	uint64_t voters = membership_voters(m);
	unsigned need = m->cluster_size / 2u + 1u;
	if ((voters >> (m->self - 1)) & 1u)
		need--;
	if (need == 0)
		return UINT64_MAX;
	uint64_t t[PKV_MAX_NODES];
	unsigned n = 0;
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!peer_id_valid(m, id) || !((voters >> (id - 1)) & 1u))
			continue;
		const struct membership_peer *p = &m->peers[id];
		if (p->lease_sent_us)
			t[n++] = p->lease_sent_us + m->lease_us;
	}
	return n < need ? 0 : kth_largest(t, n, need);
}

/* A connected peer's clock at now_us, in ms since the epoch. */
static bool peer_wall(const struct membership_peer *p, uint64_t now_us, uint64_t *out)
{
	if (!p->connected || !p->wall_known)
		return false;
	int64_t w = (int64_t)(now_us / 1000u) + p->wall_off_ms;
	if (w <= 0)
		return false;
	*out = (uint64_t)w;
	return true;
}

/*
 * docs/design.md §4.5: an instant has passed for the cluster once a strict
 * majority of the voters' clocks are past it, so the majority-th largest
 * clock is the cluster's. A peer's clock is the one its last heartbeat
 * carried, moved on by our monotonic clock: it lags the peer's by the
 * datagram's delay, which can only make an until end later.
 */
bool membership_quorum_wall(const struct membership *m, uint64_t now_us, uint64_t *wall_ms)
{
	uint64_t voters = membership_voters(m);
	unsigned need = m->cluster_size / 2u + 1u;
	uint64_t t[PKV_MAX_NODES + 1];
	unsigned n = 0;
	if (m->wall_set && ((voters >> (m->self - 1)) & 1u))
		t[n++] = self_wall(m, now_us);
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		if (!peer_id_valid(m, id) || !((voters >> (id - 1)) & 1u))
			continue;
		if (peer_wall(&m->peers[id], now_us, &t[n]))
			n++;
	}
	if (n < need)
		return false;
	*wall_ms = kth_largest(t, n, need);
	return true;
}

bool membership_peer_skew(const struct membership *m, uint32_t id, uint64_t now_us,
			  int64_t *skew_ms)
{
	uint64_t w;
	if (!peer_id_valid(m, id) || !m->wall_set || !peer_wall(&m->peers[id], now_us, &w))
		return false;
	*skew_ms = (int64_t)w - (int64_t)(self_wall(m, now_us));
	return true;
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
