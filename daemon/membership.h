/* SPDX-License-Identifier: MIT */
/*
 * membership.h — peers, heartbeats, failure detector, quorum (docs/design.md §5).
 *
 * Pure: time comes in as µs of a monotonic clock, heartbeats go out through
 * the outbox, and what changed comes back as events the caller drains. The
 * daemon's loop calls:
 *
 *	membership_on_datagram()   for every authenticated datagram, first;
 *	membership_on_heartbeat()  for every HEARTBEAT message in it;
 *	membership_tick()          when the deadline it last returned is due
 *	                           (and after inputs, to re-arm the timer);
 *	membership_next_event()    after each of the above, until it says false.
 *
 * Nodes are the configured ids (1..PKV_MAX_NODES), self among them. A peer is
 * connected while it has been heard from within failure_timeout_us: it is
 * marked down when now - last_heard >= failure_timeout_us. Quorum is a strict
 * majority of the configured cluster_size (never of the nodes connected):
 * connected voters, self included, > cluster_size / 2. The voters are the
 * first cluster_size configured ids (docs/design.md §5); any other daemon
 * runs, but counts for nobody's quorum.
 *
 * Heartbeats (msg.h) go to each peer on its own (to = peer id), whether or
 * not it is connected, once per heartbeat_interval_us — to every peer from a
 * voter, to the voters only from a daemon that does not vote (an observer,
 * docs/design.md §5.2), which also takes no other non-voter's datagram as a
 * sign of life. Each carries the last
 * send time heard from that peer (req) and how long it was held (gen), so the
 * peer measures its round-trip time without comparing clocks:
 *	rtt = now - echoed send time - hold time.
 */
#ifndef PKV_MEMBERSHIP_H
#define PKV_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "msg.h"

enum membership_event_kind {
	MEMBERSHIP_PEER_UP = 1,
	MEMBERSHIP_PEER_DOWN,
	/*
	 * The peer runs a new incarnation: everything bound to the old one
	 * (pid bindings) is dead, even if the peer never looked disconnected.
	 */
	MEMBERSHIP_PEER_RESTARTED,
	MEMBERSHIP_QUORUM_REACHED,
	MEMBERSHIP_QUORUM_LOST,
};

struct membership_event {
	enum membership_event_kind kind;
	uint32_t node;		  /* the peer; self for quorum events */
	uint64_t incarnation;	  /* peer events: the peer's incarnation now */
	uint64_t old_incarnation; /* PEER_RESTARTED: the one that ended */
	uint64_t quorum_epoch;	  /* quorum events: the epoch the flip started */
};

struct membership_peer {
	uint32_t id;
	bool configured;
	bool connected;
	uint64_t incarnation;  /* highest seen, 0 = never heard */
	uint64_t bind_inc;     /* its pid bindings' incarnation (heartbeats), 0 = none said */
	uint64_t last_heard_us; /* any authenticated datagram */
	/* The echo we owe: the peer's last heartbeat send time (arg2), on
	 * its clock, and when we received it, on ours. echo_ts 0 = none. */
	uint64_t echo_ts;
	uint64_t echo_rx_us;
	uint64_t rtt_us;      /* smoothed (1/8 gain, as TCP's SRTT), 0 = no sample */
	uint64_t rtt_last_us; /* last sample */
	/* As of the peer's last heartbeat. */
	uint32_t cluster_size;
	uint64_t epoch;
	struct pkv_conf conf; /* voters 0: none announced */
	bool synced, fresh;
	uint64_t hb_in, hb_out;
	uint64_t restarts; /* incarnation changes seen */
	uint64_t next_hb_us; /* when the next heartbeat to it is due */
	/*
	 * The lease (docs/design.md §5.1): the latest of our own heartbeat send
	 * times that this peer echoed back, on our monotonic clock. The peer
	 * had heard from us at that instant, so it counts us connected until
	 * at least failure_timeout later. 0: none.
	 */
	uint64_t lease_sent_us;
	/* Its wall clock (ms since the epoch) minus our monotonic ms, from its
	 * last heartbeat: its clock now is about now_ms + wall_off_ms. */
	int64_t wall_off_ms;
	bool wall_known;
};

/* A node whose wall clock is this far from the voters' says so (§5.1). */
#define MEMBERSHIP_SKEW_WARN_MS 1000

#define MEMBERSHIP_EVENT_QUEUE 256u

struct membership {
	uint32_t self;
	uint32_t cluster_size; /* the number of voters */
	struct pkv_conf conf;  /* ours (membership_set_conf) */
	uint64_t failure_timeout_us;
	uint64_t heartbeat_interval_us;
	uint64_t incarnation;
	uint64_t bind_inc; /* our pid bindings' incarnation, in every heartbeat */
	uint64_t epoch;
	bool synced, fresh;

	bool quorum;
	uint64_t quorum_epoch; /* increments on every quorum flip */
	uint64_t lease_us;     /* 3/5 of failure_timeout_us (docs/design.md §5.1) */
	/*
	 * Regaining the lease (§5.1): after it lapsed (or before it first
	 * held), a peer's echo counts only from a heartbeat that says
	 * PKV_MF_SYNCED and not PKV_MF_ERASE_OWED. erase_owed: the peers our
	 * heartbeats say it to.
	 */
	bool lease_catchup;
	uint64_t erase_owed;
	/* Our own wall clock as the loop last gave it (membership_set_wall). */
	bool wall_set;
	uint64_t wall_ms, wall_at_us;

	/* By id; only configured entries are used, never [0] or [self]. */
	struct membership_peer peers[PKV_MAX_NODES + 1];

	/* Ring of pending events. Draining after every call keeps it far from
	 * full (a call raises at most one event per peer and one quorum event);
	 * if it ever overflows, the newest events are dropped and counted. */
	struct membership_event ev[MEMBERSHIP_EVENT_QUEUE];
	unsigned ev_head, ev_len;
	uint64_t events_dropped;
	uint64_t hb_send_failed; /* outbox out of memory */
};

struct membership_cfg {
	uint32_t self;
	uint32_t cluster_size; /* 1..PKV_MAX_NODES */
	uint64_t incarnation;  /* ours, > 0 */
	uint64_t bind_inc;     /* our pid bindings' incarnation (§6.2); 0: incarnation */
	uint64_t failure_timeout_us;
	uint64_t heartbeat_interval_us; /* > 0 and < failure_timeout_us */
	/* The configured node ids (1..PKV_MAX_NODES, each once); self may be
	 * listed or not. */
	uint32_t nodes[PKV_MAX_NODES];
	unsigned n_nodes;
	/* The configured observers (bit id-1): never voters of configuration 0
	 * (docs/design.md §5.2). */
	uint64_t observers;
};

/*
 * Starts with every peer disconnected and a heartbeat due to each at the
 * first tick. With cluster_size 1 the lone node has quorum at once:
 * QUORUM_REACHED is queued. Returns 0, or -EINVAL when the configuration
 * makes no sense (*m is then unusable).
 */
int membership_init(struct membership *m, const struct membership_cfg *cfg);

/* Our own acceptor state, advertised in the heartbeats we send. */
void membership_set_self_state(struct membership *m, bool synced, bool fresh, uint64_t epoch);

/*
 * An authenticated datagram from peer `from` running `incarnation`. Counts as
 * hearing from it (PEER_UP if it was down). An incarnation above the one seen
 * before raises PEER_RESTARTED, connected or not. An incarnation below it is
 * a leftover of a dead process and is ignored (wire.c drops those already).
 * Unknown ids and self are ignored.
 */
void membership_on_datagram(struct membership *m, uint32_t from, uint64_t incarnation,
			    uint64_t now_us);

/*
 * We were not looking from from_us to to_us: the loop woke that much past
 * the time it asked for (a SIGSTOP, a host that gave us no CPU). Silence
 * while we could not hear is no sign of a peer's death, and what the peers
 * sent meanwhile is past the wire's delay bound when we come back (wire.h):
 * each connected peer's silence so far is moved on by the stall (never past
 * to_us), so it is judged on what it sends once we listen again.
 */
void membership_not_looking(struct membership *m, uint64_t from_us, uint64_t to_us);

/* A HEARTBEAT from `from` (call membership_on_datagram for its datagram first). */
void membership_on_heartbeat(struct membership *m, uint32_t from, const struct pkv_msg *hb,
			     uint64_t now_us);

/*
 * Sends the heartbeats due, marks peers silent for failure_timeout_us as down,
 * recomputes quorum. Returns when it next needs to be called: after now_us,
 * and no later than the next heartbeat due or the next peer's timeout.
 * Inputs never pull that deadline earlier (a peer heard now times out after
 * now + failure_timeout_us, later than any heartbeat already due), so the loop
 * only re-arms its timer from what tick returns; an idle daemon wakes once
 * per heartbeat interval.
 */
uint64_t membership_tick(struct membership *m, uint64_t now_us, struct pkv_outbox *out);

/* Pops the oldest event into *ev; false when there is none. */
bool membership_next_event(struct membership *m, struct membership_event *ev);
const char *membership_event_to_str(enum membership_event_kind kind);

bool membership_quorum(const struct membership *m);

/*
 * Our wall clock (ms since the epoch) at monotonic now_us: heartbeats carry
 * it from then on, and it is self's clock in membership_quorum_wall.
 */
void membership_set_wall(struct membership *m, uint64_t wall_ms, uint64_t now_us);
/* Our wall clock (ms) at now_us, carried forward from membership_set_wall's. */
uint64_t membership_wall(const struct membership *m, uint64_t now_us);
/*
 * The lease (docs/design.md §5.1): until when (monotonic µs) a strict
 * majority of the voters, self included if a voter, is known to count this
 * daemon connected — the majority-th latest of the voters' echoed send times
 * plus lease_us. UINT64_MAX when no peer is needed (a lone voter), 0 when
 * a majority never echoed.
 */
uint64_t membership_lease_until(const struct membership *m);
/*
 * The lease held (false) or lapsed (true) as the loop saw it last; while
 * lapsed, and whenever membership_lease_until has passed, echoes from
 * heartbeats marked PKV_MF_ERASE_OWED, or not PKV_MF_SYNCED, do not renew
 * it (docs/design.md §5.1).
 */
void membership_set_lease_catchup(struct membership *m, bool catchup);
/* The peers (bit id-1) that owe us an ERASE_ACK (paxos_erase_owed). */
void membership_set_erase_owed(struct membership *m, uint64_t mask);
/*
 * The voters' clock (docs/design.md §4.5): the wall time (ms) that a strict
 * majority of the voters' clocks have reached at now_us — self's own clock,
 * and for every connected voter peer the clock its heartbeats carried,
 * carried forward on our monotonic clock. False when fewer than a majority
 * of the voters' clocks are known.
 */
bool membership_quorum_wall(const struct membership *m, uint64_t now_us, uint64_t *wall_ms);
/* A connected peer's clock minus ours, in ms; false when unknown. */
bool membership_peer_skew(const struct membership *m, uint32_t id, uint64_t now_us,
			  int64_t *skew_ms);
/* Connected nodes, self included. */
unsigned membership_connected_count(const struct membership *m);
/* True for self and for connected peers. */
bool membership_is_connected(const struct membership *m, uint32_t id);
/* Bit id-1 set for every connected node, self included. */
uint64_t membership_connected_mask(const struct membership *m);
/* Per-peer state for statistics; NULL for self and unknown ids. */
const struct membership_peer *membership_peer(const struct membership *m, uint32_t id);
/* Bit id-1 set for every voter of the configuration, self included if it is
 * one of them. */
uint64_t membership_voters(const struct membership *m);
bool membership_is_voter(const struct membership *m, uint32_t id);
/* The configuration (paxos_conf): heartbeats carry it; the voters and the
 * quorum follow it, which may raise a quorum event. Returns 0 or -EINVAL. */
int membership_set_conf(struct membership *m, const struct pkv_conf *c);

#endif
