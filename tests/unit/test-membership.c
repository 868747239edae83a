// SPDX-License-Identifier: MIT
/*
 * Unit tests for membership (daemon/membership.c): heartbeats, the failure
 * detector, quorum and its events. A tiny in-test network carries heartbeats
 * between a few membership instances in simulated time, driven only by the
 * deadlines membership_tick returns, as the daemon's loop drives it.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/membership.h"

#define T0 1000000u	      /* µs: clocks start away from 0 ("no echo") */
#define TIMEOUT 1000000u      /* 1 s failure timeout */
#define INTERVAL 200000u      /* 200 ms heartbeat */
#define MAXN 5u
#define MAX_FLIGHT 4096u
#define MAX_LOG 512u

struct flight {
	uint64_t at;
	uint32_t from, to;
	uint64_t inc;
	struct pkv_msg msg;
};

struct logged {
	uint64_t at;
	struct membership_event ev;
};

struct net {
	unsigned n;
	uint64_t now;
	uint64_t latency;
	struct membership m[MAXN + 1];
	uint64_t inc[MAXN + 1];
	uint64_t deadline[MAXN + 1];
	bool alive[MAXN + 1];
	unsigned ticks[MAXN + 1];
	struct flight q[MAX_FLIGHT];
	unsigned nq;
	struct logged log[MAXN + 1][MAX_LOG];
	unsigned nlog[MAXN + 1];
	struct pkv_outbox ob;
};

static struct net net;

/* Configures nodes 1..cfg->n_nodes (as the daemon does from its node table)
 * and starts m. */
static int init_cfg(struct membership *m, struct membership_cfg *cfg)
{
	for (unsigned i = 0; i < cfg->n_nodes && i < PKV_MAX_NODES; i++)
		cfg->nodes[i] = i + 1;
	return membership_init(m, cfg);
}

static void drain(unsigned i)
{
	struct membership_event ev;
	while (membership_next_event(&net.m[i], &ev)) {
		ck_assert_uint_lt(net.nlog[i], MAX_LOG);
		net.log[i][net.nlog[i]++] = (struct logged){.at = net.now, .ev = ev};
	}
}

static void node_start(unsigned i)
{
	struct membership_cfg p = {
		.self = i,
		.n_nodes = net.n,
		.cluster_size = net.n,
		.incarnation = ++net.inc[i],
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
	};
	ck_assert_int_eq(init_cfg(&net.m[i], &p), 0);
	net.alive[i] = true;
	net.deadline[i] = net.now;
	net.nlog[i] = 0;
	drain(i);
}

static void net_init(unsigned n)
{
	memset(&net, 0, sizeof(net));
	net.n = n;
	net.now = T0;
	net.latency = 500;
	pkv_outbox_init(&net.ob);
	for (unsigned i = 1; i <= n; i++) {
		net.inc[i] = 100 * i;
		node_start(i);
	}
}

static void net_free(void)
{
	pkv_outbox_free(&net.ob);
}

/* Checks the deadline rule on every tick: after now, no later than any
 * heartbeat due or any connected peer's timeout. */
static void check_deadline(unsigned i, uint64_t d)
{
	const struct membership *m = &net.m[i];
	ck_assert_uint_gt(d, net.now);
	ck_assert_uint_le(d, net.now + INTERVAL);
	for (uint32_t id = 1; id <= net.n; id++) {
		const struct membership_peer *p = membership_peer(m, id);
		if (!p)
			continue;
		ck_assert_uint_le(d, p->next_hb_us);
		if (p->connected)
			ck_assert_uint_le(d, p->last_heard_us + TIMEOUT);
	}
}

static void tick(unsigned i)
{
	pkv_outbox_reset(&net.ob);
	uint64_t d = membership_tick(&net.m[i], net.now, &net.ob);
	check_deadline(i, d);
	net.deadline[i] = d;
	net.ticks[i]++;
	drain(i);
	for (size_t k = 0; k < net.ob.n; k++) {
		const struct pkv_out *o = &net.ob.v[k];
		ck_assert_uint_ne(o->to, PKV_TO_ALL);
		ck_assert_uint_ne(o->to, i);
		ck_assert_uint_lt(net.nq, MAX_FLIGHT);
		net.q[net.nq++] = (struct flight){
			.at = net.now + net.latency,
			.from = i,
			.to = o->to,
			.inc = net.m[i].incarnation,
			.msg = o->msg,
		};
	}
}

static void deliver(const struct flight *f)
{
	if (!net.alive[f->to])
		return;
	membership_on_datagram(&net.m[f->to], f->from, f->inc, net.now);
	membership_on_heartbeat(&net.m[f->to], f->from, &f->msg, net.now);
	drain(f->to);
}

/* Steps simulated time from event to event until `end`. */
static void net_run_until(uint64_t end)
{
	for (;;) {
		uint64_t next = UINT64_MAX;
		for (unsigned i = 1; i <= net.n; i++)
			if (net.alive[i] && net.deadline[i] < next)
				next = net.deadline[i];
		for (unsigned k = 0; k < net.nq; k++)
			if (net.q[k].at < next)
				next = net.q[k].at;
		if (next > end)
			break;
		net.now = next;
		for (unsigned k = 0; k < net.nq;) {
			if (net.q[k].at == net.now) {
				struct flight f = net.q[k];
				net.q[k] = net.q[--net.nq];
				deliver(&f);
			} else {
				k++;
			}
		}
		for (unsigned i = 1; i <= net.n; i++)
			if (net.alive[i] && net.deadline[i] <= net.now)
				tick(i);
	}
	net.now = end;
}

/* A killed node neither ticks nor receives; what it sent is lost. */
static void node_kill(unsigned i)
{
	net.alive[i] = false;
	for (unsigned k = 0; k < net.nq;) {
		if (net.q[k].from == i)
			net.q[k] = net.q[--net.nq];
		else
			k++;
	}
}

/* The first event of `kind` about `node` logged by `at`, or NULL. */
static const struct logged *find_event(unsigned at, enum membership_event_kind kind, uint32_t node)
{
	for (unsigned k = 0; k < net.nlog[at]; k++)
		if (net.log[at][k].ev.kind == kind && net.log[at][k].ev.node == node)
			return &net.log[at][k];
	return NULL;
}

static unsigned count_events(unsigned at, enum membership_event_kind kind)
{
	unsigned c = 0;
	for (unsigned k = 0; k < net.nlog[at]; k++)
		c += net.log[at][k].ev.kind == kind;
	return c;
}

START_TEST(three_nodes_exchanging_heartbeats_reach_quorum)
{
	net_init(3);
	for (unsigned i = 1; i <= 3; i++)
		ck_assert(!membership_quorum(&net.m[i]));
	net_run_until(T0 + 2 * INTERVAL);
	for (unsigned i = 1; i <= 3; i++) {
		ck_assert(membership_quorum(&net.m[i]));
		ck_assert_uint_eq(membership_connected_count(&net.m[i]), 3);
		ck_assert_uint_eq(membership_connected_mask(&net.m[i]), 0x7);
		const struct logged *q = find_event(i, MEMBERSHIP_QUORUM_REACHED, i);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(q->ev.quorum_epoch, 1);
		ck_assert_uint_eq(count_events(i, MEMBERSHIP_PEER_UP), 2);
		ck_assert_uint_eq(count_events(i, MEMBERSHIP_QUORUM_REACHED), 1);
		for (uint32_t j = 1; j <= 3; j++) {
			if (j == i)
				continue;
			const struct logged *up = find_event(i, MEMBERSHIP_PEER_UP, j);
			ck_assert_ptr_nonnull(up);
			ck_assert_uint_eq(up->ev.incarnation, net.inc[j]);
			ck_assert_uint_eq(membership_peer(&net.m[i], j)->incarnation, net.inc[j]);
		}
	}
	net_free();
}
END_TEST

START_TEST(silent_peer_is_reported_down_within_one_interval_after_timeout)
{
	net_init(3);
	net_run_until(T0 + 3 * INTERVAL + 12345);
	node_kill(3);
	uint64_t last = membership_peer(&net.m[1], 3)->last_heard_us;
	ck_assert_uint_gt(last, T0);

	/* Not before the timeout... */
	net_run_until(last + TIMEOUT - 1);
	ck_assert_ptr_null(find_event(1, MEMBERSHIP_PEER_DOWN, 3));
	ck_assert(membership_is_connected(&net.m[1], 3));

	/* ...and within one heartbeat interval after it. */
	net_run_until(last + TIMEOUT + INTERVAL);
	const struct logged *down = find_event(1, MEMBERSHIP_PEER_DOWN, 3);
	ck_assert_ptr_nonnull(down);
	ck_assert_uint_ge(down->at, last + TIMEOUT);
	ck_assert_uint_le(down->at, last + TIMEOUT + INTERVAL);
	ck_assert(!membership_is_connected(&net.m[1], 3));
	ck_assert_uint_eq(membership_connected_mask(&net.m[1]), 0x3);
	ck_assert_ptr_nonnull(find_event(2, MEMBERSHIP_PEER_DOWN, 3));
	/* Two of three still make a majority of 3. */
	ck_assert(membership_quorum(&net.m[1]));
	ck_assert_uint_eq(count_events(1, MEMBERSHIP_QUORUM_LOST), 0);
	net_free();
}
END_TEST

/*
 * A daemon that was not running (SIGSTOP, no CPU) for longer than the
 * failure timeout heard nothing meanwhile, and what the peers sent is past
 * the wire's delay bound when it runs again: its stall (loop.c hands it to
 * membership_not_looking) is not the peers' silence. They are judged from
 * then on: down only if silent for the timeout after it. Without the call
 * the same tick reports both down.
 */
START_TEST(own_stall_is_not_a_peers_silence)
{
	for (int told = 0; told < 2; told++) {
		net_init(3);
		net_run_until(T0 + 3 * INTERVAL);
		node_kill(2);
		node_kill(3); /* nothing reaches node 1 from here on */
		uint64_t from = net.now, to = net.now + 3 * TIMEOUT;
		net.now = to;
		if (told)
			membership_not_looking(&net.m[1], from, to);
		(void)membership_tick(&net.m[1], to, &net.ob);
		drain(1);
		if (!told) {
			ck_assert_ptr_nonnull(find_event(1, MEMBERSHIP_PEER_DOWN, 2));
			ck_assert(!membership_quorum(&net.m[1]));
			net_free();
			continue;
		}
		ck_assert_ptr_null(find_event(1, MEMBERSHIP_PEER_DOWN, 2));
		ck_assert_ptr_null(find_event(1, MEMBERSHIP_PEER_DOWN, 3));
		ck_assert(membership_quorum(&net.m[1]));
		/* Still silent a timeout after the stall: down. */
		net.now = to + TIMEOUT;
		(void)membership_tick(&net.m[1], net.now, &net.ob);
		drain(1);
		ck_assert_ptr_nonnull(find_event(1, MEMBERSHIP_PEER_DOWN, 2));
		ck_assert_ptr_nonnull(find_event(1, MEMBERSHIP_PEER_DOWN, 3));
		net_free();
	}
}
END_TEST

START_TEST(quorum_is_lost_when_two_of_three_are_down_and_regained_when_one_returns)
{
	net_init(3);
	net_run_until(T0 + 3 * INTERVAL);
	node_kill(2);
	node_kill(3);
	net_run_until(net.now + TIMEOUT + 2 * INTERVAL);
	ck_assert(!membership_quorum(&net.m[1]));
	const struct logged *lost = find_event(1, MEMBERSHIP_QUORUM_LOST, 1);
	ck_assert_ptr_nonnull(lost);
	ck_assert_uint_eq(lost->ev.quorum_epoch, 2);
	ck_assert_uint_eq(membership_connected_count(&net.m[1]), 1);

	/* Node 2 comes back as a new process. */
	node_start(2);
	net_run_until(net.now + 2 * INTERVAL);
	ck_assert(membership_quorum(&net.m[1]));
	ck_assert(membership_quorum(&net.m[2]));
	ck_assert_uint_eq(count_events(1, MEMBERSHIP_QUORUM_REACHED), 2);
	const struct logged *l = &net.log[1][net.nlog[1] - 1];
	ck_assert_int_eq(l->ev.kind, MEMBERSHIP_QUORUM_REACHED);
	ck_assert_uint_eq(l->ev.quorum_epoch, 3);
	ck_assert_uint_eq(membership_connected_mask(&net.m[1]), 0x3);
	net_free();
}
END_TEST

START_TEST(peer_restart_within_timeout_is_reported_in_the_network)
{
	net_init(3);
	net_run_until(T0 + 3 * INTERVAL);
	node_kill(3);
	net_run_until(net.now + INTERVAL / 2);
	uint64_t old = net.inc[3];
	node_start(3); /* back well inside the failure timeout */
	net_run_until(net.now + 2 * INTERVAL);
	const struct logged *r = find_event(1, MEMBERSHIP_PEER_RESTARTED, 3);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->ev.old_incarnation, old);
	ck_assert_uint_eq(r->ev.incarnation, old + 1);
	ck_assert_ptr_null(find_event(1, MEMBERSHIP_PEER_DOWN, 3));
	ck_assert(membership_is_connected(&net.m[1], 3));
	net_free();
}
END_TEST

/* Connects peers 2..k+1 of a node 1 by a datagram each. */
static void connect_peers(struct membership *m, unsigned k, uint64_t now)
{
	for (uint32_t id = 2; id <= k + 1; id++)
		membership_on_datagram(m, id, 7, now);
}

static const unsigned sizes[] = {1, 2, 4, 5};

START_TEST(quorum_is_a_strict_majority_of_cluster_size)
{
	unsigned n = sizes[_i];
	struct membership m;
	struct membership_cfg p = {
		.self = 1,
		.n_nodes = n,
		.cluster_size = n,
		.incarnation = 1,
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
	};
	ck_assert_int_eq(init_cfg(&m, &p), 0);
	for (unsigned peers = 0; peers < n; peers++) {
		connect_peers(&m, peers, T0);
		unsigned have = peers + 1;
		bool want = have > n / 2;
		ck_assert_msg(membership_quorum(&m) == want, "size %u with %u connected: quorum %d",
			      n, have, membership_quorum(&m));
		ck_assert_uint_eq(membership_connected_count(&m), have);
	}
	/* The first connected count with quorum: 1 of 1, 2 of 2, 3 of 4, 3 of 5. */
	static const unsigned need[] = {[1] = 1, [2] = 2, [4] = 3, [5] = 3};
	ck_assert_uint_eq(n / 2 + 1, need[n]);

	struct membership_event ev;
	ck_assert(membership_next_event(&m, &ev));
	if (n == 1) {
		/* A lone node of a one-node cluster has quorum from the start. */
		ck_assert_int_eq(ev.kind, MEMBERSHIP_QUORUM_REACHED);
		ck_assert_uint_eq(ev.quorum_epoch, 1);
		ck_assert(!membership_next_event(&m, &ev));
	}
}
END_TEST

START_TEST(quorum_counts_cluster_size_not_connected_nodes)
{
	/* 5 nodes configured, cluster_size 3: the voters are 1..3; two of
	 * them connected are enough, and extra configured nodes do not raise
	 * the bar. */
	struct membership m;
	struct membership_cfg p = {
		.self = 3,
		.n_nodes = 5,
		.cluster_size = 3,
		.incarnation = 1,
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
	};
	ck_assert_int_eq(init_cfg(&m, &p), 0);
	ck_assert_uint_eq(membership_voters(&m), 0x7u);
	ck_assert(!membership_quorum(&m));
	membership_on_datagram(&m, 1, 9, T0);
	ck_assert(membership_quorum(&m));
	ck_assert_uint_eq(membership_connected_mask(&m), (1u << 2) | (1u << 0));
}
END_TEST

/*
 * More daemons than voters: with nodes 1..4 running and cluster_size 3, a
 * daemon beyond the voters (node 4, or node 5) counts for nobody's quorum,
 * so {3, 4} and {3, 5} are not majorities beside {1, 2}; and a daemon that
 * is not a voter sees the voters' quorum, not its own.
 */
START_TEST(daemons_beyond_the_voters_count_for_no_quorum)
{
	struct membership m;
	struct membership_cfg p = {
		.self = 3,
		.n_nodes = 5,
		.cluster_size = 3,
		.incarnation = 1,
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
	};
	ck_assert_int_eq(init_cfg(&m, &p), 0);
	membership_on_datagram(&m, 4, 9, T0);
	membership_on_datagram(&m, 5, 9, T0);
	ck_assert_uint_eq(membership_connected_count(&m), 3);
	ck_assert_msg(!membership_quorum(&m), "nodes 3, 4 and 5 made a quorum of voters 1..3");
	ck_assert(membership_is_voter(&m, 3) && !membership_is_voter(&m, 4));

	struct membership o;
	p.self = 4;
	ck_assert_int_eq(init_cfg(&o, &p), 0);
	ck_assert(!membership_is_voter(&o, 4));
	membership_on_datagram(&o, 5, 9, T0);
	ck_assert(!membership_quorum(&o));
	membership_on_datagram(&o, 1, 9, T0);
	ck_assert(!membership_quorum(&o));
	membership_on_datagram(&o, 2, 9, T0);
	ck_assert_msg(membership_quorum(&o), "node 4 does not see the voters' quorum of 1 and 2");

	/* A change to 4 voters makes node 4 a voter: 1, 2 of 4 is no longer a quorum. */
	struct pkv_conf c4 = { .num = 1, .voters = 0xf, .prev_voters = 0x7 };
	ck_assert_int_eq(membership_set_conf(&o, &c4), 0);
	ck_assert(membership_is_voter(&o, 4));
	ck_assert(membership_quorum(&o)); /* 1, 2 and self 4: 3 of 4 */
}
END_TEST

/*
 * docs/design.md §5.2: nodes 4..6 are configured observers. Configuration
 * 0's voters are 1..3; a voter heartbeats everyone, an observer only the
 * voters, and an observer takes no other observer's datagram as a sign of
 * life (it does not watch them: the voters do).
 */
START_TEST(observers_heartbeat_only_voters_and_do_not_watch_each_other)
{
	struct membership v, o;
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	struct membership_cfg p = {
		.self = 1,
		.n_nodes = 6,
		.cluster_size = 3,
		.incarnation = 1,
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
		.observers = 0x38,
	};
	ck_assert_int_eq(init_cfg(&v, &p), 0);
	p.self = 4;
	ck_assert_int_eq(init_cfg(&o, &p), 0);
	ck_assert_uint_eq(membership_voters(&v), 0x7);
	ck_assert_uint_eq(membership_voters(&o), 0x7);
	ck_assert(!membership_is_voter(&o, 4));

	membership_tick(&v, T0, &ob);
	membership_tick(&o, T0, &ob);
	for (uint32_t id = 2; id <= 6; id++)
		ck_assert_uint_eq(membership_peer(&v, id)->hb_out, 1);
	for (uint32_t id = 1; id <= 3; id++)
		ck_assert_uint_eq(membership_peer(&o, id)->hb_out, 1);
	ck_assert_msg(membership_peer(&o, 5)->hb_out == 0 && membership_peer(&o, 6)->hb_out == 0,
		      "an observer heartbeats another observer");

	/* The voter watches the observer; the observer watches voters only. */
	membership_on_datagram(&v, 4, 9, T0);
	ck_assert(membership_is_connected(&v, 4));
	membership_on_datagram(&o, 5, 9, T0);
	ck_assert_msg(!membership_is_connected(&o, 5), "observer 4 counts observer 5 connected");
	membership_on_datagram(&o, 1, 9, T0);
	membership_on_datagram(&o, 2, 9, T0);
	ck_assert(membership_quorum(&o));
	/* Cut off from the voters: no quorum, whatever observers it hears. */
	membership_tick(&o, T0 + TIMEOUT, &ob);
	membership_on_datagram(&o, 6, 9, T0 + TIMEOUT);
	ck_assert(!membership_quorum(&o));

	/* Promoted (configuration 1 adds node 4): it heartbeats everyone. */
	struct pkv_conf c1 = { .num = 1, .voters = 0xf, .prev_voters = 0x7 };
	ck_assert_int_eq(membership_set_conf(&o, &c1), 0);
	membership_tick(&o, T0 + TIMEOUT + INTERVAL, &ob);
	ck_assert_uint_eq(membership_peer(&o, 5)->hb_out, 1);
	membership_on_datagram(&o, 5, 9, T0 + TIMEOUT + INTERVAL);
	ck_assert(membership_is_connected(&o, 5));
	pkv_outbox_free(&ob);
}
END_TEST

static void init_pair(struct membership *m, uint64_t now)
{
	struct membership_cfg p = {
		.self = 1,
		.n_nodes = 3,
		.cluster_size = 3,
		.incarnation = 1,
		.failure_timeout_us = TIMEOUT,
		.heartbeat_interval_us = INTERVAL,
	};
	ck_assert_int_eq(init_cfg(m, &p), 0);
}

START_TEST(higher_incarnation_raises_peer_restarted_without_disconnect)
{
	struct membership m;
	struct membership_event ev;

	init_pair(&m, T0);
	membership_on_datagram(&m, 2, 5, T0);
	ck_assert(membership_next_event(&m, &ev));
	ck_assert_int_eq(ev.kind, MEMBERSHIP_PEER_UP);
	ck_assert_uint_eq(ev.node, 2);
	ck_assert_uint_eq(ev.incarnation, 5);
	ck_assert(membership_next_event(&m, &ev));
	ck_assert_int_eq(ev.kind, MEMBERSHIP_QUORUM_REACHED);
	ck_assert(!membership_next_event(&m, &ev));

	membership_on_datagram(&m, 2, 6, T0 + 10000);
	ck_assert(membership_next_event(&m, &ev));
	ck_assert_int_eq(ev.kind, MEMBERSHIP_PEER_RESTARTED);
	ck_assert_uint_eq(ev.node, 2);
	ck_assert_uint_eq(ev.old_incarnation, 5);
	ck_assert_uint_eq(ev.incarnation, 6);
	ck_assert(!membership_next_event(&m, &ev)); /* no down, no up */
	ck_assert(membership_is_connected(&m, 2));
	ck_assert_uint_eq(membership_peer(&m, 2)->restarts, 1);

	/* A leftover of the old incarnation is not a sign of life. */
	membership_on_datagram(&m, 2, 5, T0 + 20000);
	ck_assert(!membership_next_event(&m, &ev));
	ck_assert_uint_eq(membership_peer(&m, 2)->incarnation, 6);
	ck_assert_uint_eq(membership_peer(&m, 2)->last_heard_us, T0 + 10000);

	/* The same incarnation again is just a datagram. */
	membership_on_datagram(&m, 2, 6, T0 + 30000);
	ck_assert(!membership_next_event(&m, &ev));
	ck_assert_uint_eq(membership_peer(&m, 2)->last_heard_us, T0 + 30000);
}
END_TEST

START_TEST(unknown_ids_and_self_are_ignored)
{
	struct membership m;
	struct membership_event ev;

	init_pair(&m, T0);
	membership_on_datagram(&m, 0, 5, T0);
	membership_on_datagram(&m, 1, 5, T0);
	membership_on_datagram(&m, 4, 5, T0);
	membership_on_datagram(&m, PKV_MAX_NODES + 1, 5, T0);
	ck_assert(!membership_next_event(&m, &ev));
	ck_assert_uint_eq(membership_connected_count(&m), 1);
	ck_assert_ptr_null(membership_peer(&m, 1));
	ck_assert_ptr_null(membership_peer(&m, 4));
	ck_assert(membership_is_connected(&m, 1));
	ck_assert(!membership_is_connected(&m, 4));
}
END_TEST

/* docs/design.md §6.2: heartbeats carry the binding incarnation. */
START_TEST(heartbeat_carries_the_binding_incarnation)
{
	struct membership a, b;
	struct membership_cfg pa = {
		.self = 1, .n_nodes = 2, .cluster_size = 2, .incarnation = 9, .bind_inc = 7,
		.failure_timeout_us = TIMEOUT, .heartbeat_interval_us = INTERVAL,
	};
	struct membership_cfg pb = pa;
	pb.self = 2;
	pb.bind_inc = 0; /* none: its incarnation */
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	ck_assert_int_eq(init_cfg(&a, &pa), 0);
	ck_assert_int_eq(init_cfg(&b, &pb), 0);
	membership_tick(&a, T0, &ob);
	ck_assert_uint_eq(ob.n, 1);
	ck_assert_uint_eq(ob.v[0].msg.ballot.round, 7);
	membership_on_datagram(&b, 1, 9, T0 + 300);
	membership_on_heartbeat(&b, 1, &ob.v[0].msg, T0 + 300);
	ck_assert_uint_eq(membership_peer(&b, 1)->bind_inc, 7);
	/* A heartbeat that says none stands for the sender's incarnation; an
	 * older one than known is ignored (it only grows). */
	struct pkv_msg hb = ob.v[0].msg;
	hb.ballot.round = 0;
	membership_on_heartbeat(&b, 1, &hb, T0 + 400);
	ck_assert_uint_eq(membership_peer(&b, 1)->bind_inc, 9);
	hb.ballot.round = 7;
	membership_on_heartbeat(&b, 1, &hb, T0 + 500);
	ck_assert_uint_eq(membership_peer(&b, 1)->bind_inc, 9);
	pkv_outbox_reset(&ob);
	membership_tick(&b, T0 + 1000, &ob);
	ck_assert_uint_eq(ob.v[0].msg.ballot.round, 9);
	pkv_outbox_free(&ob);
}
END_TEST

START_TEST(rtt_is_echo_age_minus_hold_time)
{
	/* Two nodes with unrelated clocks: node 2's reads 5e9 µs ahead. */
	const uint64_t skew = 5000000000u;
	struct membership a, b;
	struct membership_cfg pa = {
		.self = 1, .n_nodes = 2, .cluster_size = 2, .incarnation = 1,
		.failure_timeout_us = TIMEOUT, .heartbeat_interval_us = INTERVAL,
	};
	struct membership_cfg pb = pa;
	pb.self = 2;
	pb.incarnation = 2;
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	ck_assert_int_eq(init_cfg(&a, &pa), 0);
	ck_assert_int_eq(init_cfg(&b, &pb), 0);

	/* a → b at T0, a first heartbeat carries no echo. */
	membership_tick(&a, T0, &ob);
	ck_assert_uint_eq(ob.n, 1);
	struct pkv_msg hb = ob.v[0].msg;
	ck_assert_uint_eq(ob.v[0].to, 2);
	ck_assert_uint_eq(hb.arg2, T0);
	ck_assert_uint_eq(hb.req, 0);

	/* Arrives 300 µs later; b holds it 5000 µs before its own heartbeat. */
	membership_on_datagram(&b, 1, 1, T0 + skew + 300);
	membership_on_heartbeat(&b, 1, &hb, T0 + skew + 300);
	pkv_outbox_reset(&ob);
	membership_tick(&b, T0 + skew + 5300, &ob);
	ck_assert_uint_eq(ob.n, 1);
	hb = ob.v[0].msg;
	ck_assert_uint_eq(hb.req, T0);
	ck_assert_uint_eq(hb.gen, 5000);

	/* Back after another 400 µs: rtt = 700, not the 5700 µs elapsed. */
	membership_on_datagram(&a, 2, 2, T0 + 5700);
	membership_on_heartbeat(&a, 2, &hb, T0 + 5700);
	const struct membership_peer *p = membership_peer(&a, 2);
	ck_assert_uint_eq(p->rtt_last_us, 700);
	ck_assert_uint_eq(p->rtt_us, 700);
	ck_assert_uint_eq(p->hb_in, 1);

	/* A second sample of 1500 moves the smoothed value by an eighth. */
	struct pkv_msg hb2 = hb;
	hb2.req = T0 + 100000;
	hb2.gen = 10000;
	membership_on_heartbeat(&a, 2, &hb2, T0 + 111500);
	ck_assert_uint_eq(p->rtt_last_us, 1500);
	ck_assert_uint_eq(p->rtt_us, (7 * 700 + 1500) / 8);

	/* An impossible echo (from the future, or held longer than its age) is
	 * not a sample. */
	hb2.req = T0 + 999999999;
	membership_on_heartbeat(&a, 2, &hb2, T0 + 200000);
	hb2.req = T0 + 190000;
	hb2.gen = 20000;
	membership_on_heartbeat(&a, 2, &hb2, T0 + 200000);
	ck_assert_uint_eq(p->rtt_last_us, 1500);
	pkv_outbox_free(&ob);
}
END_TEST

/*
 * docs/design.md §4.5: a peer's clock, moved on by ours, may lag the peer's
 * but never lead it (an until then ends early). Its heartbeat gives its
 * clock in whole ms; ours counts whole ms since the heartbeat came. Every
 * clock here reads the same exact ms when the heartbeats come, 1 µs before
 * one of our ms ticks: from then on the cluster's clock must never read a
 * ms the true clocks have not reached. (The peers' clocks led by 1 ms for
 * the µs before each tick: `until-gone` saw a key absent 1 ms early.)
 */
START_TEST(peer_clock_moved_on_by_ours_never_leads_it)
{
	struct membership m;
	init_pair(&m, T0);
	const uint64_t at = T0 + 5999;		/* 1 µs before our ms tick */
	const uint64_t wall = 1700000000000ull; /* ms: every clock, exactly, at `at` */
	membership_on_datagram(&m, 2, 5, at);
	membership_on_datagram(&m, 3, 6, at);
	struct pkv_msg hb = { .type = PKV_MSG_HEARTBEAT, .flags = PKV_MF_SYNCED, .arg0 = 3 };
	hb.accepted.round = wall;
	membership_on_heartbeat(&m, 2, &hb, at);
	membership_on_heartbeat(&m, 3, &hb, at);
	membership_set_wall(&m, wall, at);
	for (uint64_t t = at; t < at + 2500; t++) {
		uint64_t qw = 0, truth = wall + (t - at) / 1000u;
		ck_assert(membership_quorum_wall(&m, t, &qw));
		ck_assert_msg(qw <= truth, "%" PRIu64 " us after the heartbeats the cluster's clock reads "
			      "%" PRIu64 " ms, the true clocks %" PRIu64, t - at, qw, truth);
		/* and it lags by less than 2 ms */
		ck_assert_uint_ge(qw + 2, truth);
	}
}
END_TEST

START_TEST(heartbeat_carries_our_state_and_records_the_peers)
{
	struct membership m;
	struct pkv_outbox ob;

	pkv_outbox_init(&ob);
	init_pair(&m, T0);
	membership_set_self_state(&m, true, false, 42);
	uint64_t d = membership_tick(&m, T0, &ob);
	ck_assert_uint_eq(d, T0 + INTERVAL);
	ck_assert_uint_eq(ob.n, 2); /* one per peer, each addressed to it */
	for (size_t k = 0; k < ob.n; k++) {
		const struct pkv_msg *hb = &ob.v[k].msg;
		ck_assert_uint_eq(ob.v[k].to, k + 2);
		ck_assert_uint_eq(hb->type, PKV_MSG_HEARTBEAT);
		ck_assert_uint_eq(hb->arg0, 3);
		ck_assert_uint_eq(hb->arg1, 42);
		ck_assert_uint_eq(hb->arg2, T0);
		ck_assert_uint_eq(hb->flags, PKV_MF_SYNCED);
	}
	ck_assert_uint_eq(membership_peer(&m, 2)->hb_out, 1);

	/* Ticking again before the interval sends nothing. */
	pkv_outbox_reset(&ob);
	ck_assert_uint_eq(membership_tick(&m, T0 + 1000, &ob), T0 + INTERVAL);
	ck_assert_uint_eq(ob.n, 0);

	struct pkv_msg in = {
		.type = PKV_MSG_HEARTBEAT,
		.flags = PKV_MF_FRESH,
		.arg0 = 5,
		.arg1 = 9,
		.arg2 = 777,
	};
	membership_on_datagram(&m, 3, 4, T0 + 2000);
	membership_on_heartbeat(&m, 3, &in, T0 + 2000);
	const struct membership_peer *p = membership_peer(&m, 3);
	ck_assert_uint_eq(p->cluster_size, 5);
	ck_assert_uint_eq(p->epoch, 9);
	ck_assert(p->fresh);
	ck_assert(!p->synced);
	ck_assert_uint_eq(p->echo_ts, 777);

	/* The next heartbeat to 3 echoes 777 with the time it was held. */
	pkv_outbox_reset(&ob);
	membership_tick(&m, T0 + INTERVAL, &ob);
	ck_assert_uint_eq(ob.n, 2);
	ck_assert_uint_eq(ob.v[1].to, 3);
	ck_assert_uint_eq(ob.v[1].msg.req, 777);
	ck_assert_uint_eq(ob.v[1].msg.gen, INTERVAL - 2000);
	ck_assert_uint_eq(ob.v[0].msg.req, 0); /* nothing heard from 2 */
	pkv_outbox_free(&ob);
}
END_TEST

START_TEST(resize_flips_quorum_and_raises_an_event)
{
	struct membership m;
	struct membership_event ev;

	init_pair(&m, T0);
	membership_on_datagram(&m, 2, 5, T0);
	while (membership_next_event(&m, &ev))
		;
	ck_assert(membership_quorum(&m)); /* 2 of 3 */

	/* init_pair configures 3 nodes; node 4 joins the voters unheard. */
	struct pkv_conf c4 = { .num = 1, .voters = 0xf, .prev_voters = 0x7 };
	struct pkv_conf c3 = { .num = 2, .voters = 0x7, .prev_voters = 0xf };
	struct pkv_conf c2 = { .num = 3, .voters = 0x3, .prev_voters = 0x7 };
	ck_assert_int_eq(membership_set_conf(&m, &c4), 0); /* 2 of 4: no */
	ck_assert(!membership_quorum(&m));
	ck_assert(membership_next_event(&m, &ev));
	ck_assert_int_eq(ev.kind, MEMBERSHIP_QUORUM_LOST);
	ck_assert_uint_eq(ev.quorum_epoch, 2);

	ck_assert_int_eq(membership_set_conf(&m, &c3), 0);
	ck_assert(membership_quorum(&m));
	ck_assert(membership_next_event(&m, &ev));
	ck_assert_int_eq(ev.kind, MEMBERSHIP_QUORUM_REACHED);
	ck_assert_uint_eq(ev.quorum_epoch, 3);

	/* No flip, no event. */
	ck_assert_int_eq(membership_set_conf(&m, &c2), 0);
	ck_assert(!membership_next_event(&m, &ev));

	struct pkv_conf none = { .num = 4, .voters = 0 };
	ck_assert_int_eq(membership_set_conf(&m, &none), -EINVAL);
	ck_assert_uint_eq(m.cluster_size, 2);
}
END_TEST

START_TEST(idle_cluster_wakes_once_per_heartbeat_interval)
{
	net_init(5);
	net.latency = 137;
	net_run_until(T0 + 10 * TIMEOUT);
	for (unsigned i = 1; i <= 5; i++) {
		ck_assert(membership_quorum(&net.m[i]));
		/* Every tick checked its deadline (check_deadline); and the
		 * count shows no busy polling: one wake per interval, plus the
		 * first. */
		ck_assert_uint_le(net.ticks[i], 10 * TIMEOUT / INTERVAL + 1);
		ck_assert_uint_ge(net.ticks[i], 10 * TIMEOUT / INTERVAL);
		ck_assert_uint_eq(count_events(i, MEMBERSHIP_PEER_DOWN), 0);
		const struct membership_peer *p = membership_peer(&net.m[i], i % 5 + 1);
		ck_assert_uint_ge(p->hb_out, 10 * TIMEOUT / INTERVAL);
		ck_assert_uint_eq(p->rtt_us, 2 * 137);
	}
	net_free();
}
END_TEST

START_TEST(deadline_follows_the_earliest_peer_timeout)
{
	/* With a heartbeat interval close to the timeout, a peer's timeout
	 * can come before the next heartbeat; tick must wake for it. */
	struct membership m;
	struct pkv_outbox ob;
	struct membership_cfg p = {
		.self = 1, .n_nodes = 2, .cluster_size = 2, .incarnation = 1,
		.failure_timeout_us = 1000, .heartbeat_interval_us = 900,
	};
	pkv_outbox_init(&ob);
	ck_assert_int_eq(init_cfg(&m, &p), 0);
	membership_on_datagram(&m, 2, 3, T0 - 500);
	uint64_t d = membership_tick(&m, T0, &ob);
	ck_assert_uint_eq(d, T0 + 500); /* last heard + timeout, before T0 + 900 */
	d = membership_tick(&m, d, &ob);
	ck_assert(!membership_is_connected(&m, 2));
	ck_assert_uint_eq(d, T0 + 900);
	pkv_outbox_free(&ob);
}
END_TEST

START_TEST(init_rejects_nonsense_parameters)
{
	struct membership m;
	struct membership_cfg ok = {
		.self = 1, .n_nodes = 3, .cluster_size = 3, .incarnation = 1,
		.failure_timeout_us = TIMEOUT, .heartbeat_interval_us = INTERVAL,
	};
	struct membership_cfg p;

	ck_assert_int_eq(init_cfg(&m, &ok), 0);
	p = ok, p.self = 0;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.self = PKV_MAX_NODES + 1;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.n_nodes = PKV_MAX_NODES + 1;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.cluster_size = 0;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.incarnation = 0;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.heartbeat_interval_us = TIMEOUT;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	p = ok, p.heartbeat_interval_us = 0;
	ck_assert_int_eq(init_cfg(&m, &p), -EINVAL);
	/* Node lists: each id once, within 1..PKV_MAX_NODES; self need not be
	 * listed. */
	p = ok;
	p.nodes[0] = 1, p.nodes[1] = 2, p.nodes[2] = 2;
	ck_assert_int_eq(membership_init(&m, &p), -EINVAL);
	p.nodes[2] = 0;
	ck_assert_int_eq(membership_init(&m, &p), -EINVAL);
	p.nodes[2] = PKV_MAX_NODES + 1;
	ck_assert_int_eq(membership_init(&m, &p), -EINVAL);
	p.nodes[0] = 2, p.nodes[1] = 7, p.n_nodes = 2;
	ck_assert_int_eq(membership_init(&m, &p), 0);
	membership_on_datagram(&m, 7, 1, T0);
	membership_on_datagram(&m, 3, 1, T0); /* not configured */
	ck_assert_uint_eq(membership_connected_mask(&m), 0x41);
	ck_assert(membership_quorum(&m));
}
END_TEST

START_TEST(event_names_are_stable)
{
	ck_assert_str_eq(membership_event_to_str(MEMBERSHIP_PEER_UP), "peer_up");
	ck_assert_str_eq(membership_event_to_str(MEMBERSHIP_PEER_DOWN), "peer_down");
	ck_assert_str_eq(membership_event_to_str(MEMBERSHIP_PEER_RESTARTED), "peer_restarted");
	/* `pkv watch` prints these two. */
	ck_assert_str_eq(membership_event_to_str(MEMBERSHIP_QUORUM_REACHED), "quorum_reached");
	ck_assert_str_eq(membership_event_to_str(MEMBERSHIP_QUORUM_LOST), "quorum_lost");
	ck_assert_str_eq(membership_event_to_str((enum membership_event_kind)99), "unknown");
}
END_TEST

START_TEST(full_event_queue_drops_and_counts)
{
	struct membership m;
	struct membership_event ev;

	init_pair(&m, T0);
	for (unsigned k = 0; k < MEMBERSHIP_EVENT_QUEUE + 10; k++)
		membership_on_datagram(&m, 2, 10 + k, T0 + k);
	ck_assert_uint_eq(m.events_dropped, 10 + 1); /* the first datagram raised up + quorum */
	unsigned n = 0;
	while (membership_next_event(&m, &ev))
		n++;
	ck_assert_uint_eq(n, MEMBERSHIP_EVENT_QUEUE);
}
END_TEST

/*
 * The lease regained (docs/design.md §5.1): after it lapsed — or before it
 * ever held — an echo counts only from a peer whose erasures we all
 * acknowledged (its heartbeat does not say PKV_MF_ERASE_OWED); while the
 * lease holds, every echo renews it. And a heartbeat says ERASE_OWED to
 * exactly the peers the core names.
 */
static struct pkv_msg echo_hb(uint64_t req, bool owed)
{
	return (struct pkv_msg){.type = PKV_MSG_HEARTBEAT,
				.arg0 = 3,
				.arg2 = 1,
				.req = req,
				.flags = (uint8_t)(PKV_MF_SYNCED | (owed ? PKV_MF_ERASE_OWED : 0))};
}

START_TEST(lease_is_regained_only_from_peers_owed_no_erasure_ack)
{
	struct membership m;
	init_pair(&m, T0);
	uint64_t L = m.lease_us;
	/* Never held: peer 2 says we owe it an ERASE_ACK; its echo does not count. */
	struct pkv_msg hb = echo_hb(T0, true);
	membership_on_heartbeat(&m, 2, &hb, T0 + 100);
	ck_assert_uint_eq(membership_lease_until(&m), 0);
	/* Nothing owed, but the peer is not synced (lost its tombstones). */
	hb = echo_hb(T0 + 5, false);
	hb.flags &= (uint8_t)~PKV_MF_SYNCED;
	membership_on_heartbeat(&m, 2, &hb, T0 + 150);
	ck_assert_uint_eq(membership_lease_until(&m), 0);
	/* Acknowledged: the next echo counts. */
	hb = echo_hb(T0 + 10, false);
	membership_on_heartbeat(&m, 2, &hb, T0 + 200);
	ck_assert_uint_eq(membership_lease_until(&m), T0 + 10 + L);
	/* Held: an echo that says owed renews it (an erasure in flight). */
	membership_set_lease_catchup(&m, false);
	hb = echo_hb(T0 + 20, true);
	membership_on_heartbeat(&m, 2, &hb, T0 + 300);
	ck_assert_uint_eq(membership_lease_until(&m), T0 + 20 + L);
	/* Lapsed (before the loop said so): owed echoes do not bring it back. */
	hb = echo_hb(T0 + 20 + L, true);
	membership_on_heartbeat(&m, 2, &hb, T0 + 20 + L);
	hb = echo_hb(T0 + 30 + L, true);
	membership_on_heartbeat(&m, 3, &hb, T0 + 30 + L);
	ck_assert_uint_eq(membership_lease_until(&m), T0 + 20 + L);
	membership_set_lease_catchup(&m, true);
	hb = echo_hb(T0 + 40 + L, false);
	membership_on_heartbeat(&m, 3, &hb, T0 + 50 + L);
	ck_assert_uint_eq(membership_lease_until(&m), T0 + 40 + 2 * L);

	/* The flag goes to the peers named, and only to them. */
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	membership_set_erase_owed(&m, UINT64_C(1) << (3 - 1));
	membership_tick(&m, T0 + 60 + L, &ob);
	ck_assert_uint_eq(ob.n, 2);
	for (size_t i = 0; i < ob.n; i++)
		ck_assert_uint_eq((ob.v[i].msg.flags & PKV_MF_ERASE_OWED) != 0, ob.v[i].to == 3);
	pkv_outbox_free(&ob);
}
END_TEST

static Suite *membership_suite(void)
{
	Suite *s = suite_create("membership");
	TCase *tc = tcase_create("network");

	tcase_add_test(tc, three_nodes_exchanging_heartbeats_reach_quorum);
	tcase_add_test(tc, silent_peer_is_reported_down_within_one_interval_after_timeout);
	tcase_add_test(tc, own_stall_is_not_a_peers_silence);
	tcase_add_test(tc, quorum_is_lost_when_two_of_three_are_down_and_regained_when_one_returns);
	tcase_add_test(tc, peer_restart_within_timeout_is_reported_in_the_network);
	tcase_add_test(tc, idle_cluster_wakes_once_per_heartbeat_interval);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_loop_test(tc, quorum_is_a_strict_majority_of_cluster_size, 0,
			    (int)(sizeof(sizes) / sizeof(sizes[0])));
	tcase_add_test(tc, quorum_counts_cluster_size_not_connected_nodes);
	tcase_add_test(tc, daemons_beyond_the_voters_count_for_no_quorum);
	tcase_add_test(tc, observers_heartbeat_only_voters_and_do_not_watch_each_other);
	tcase_add_test(tc, higher_incarnation_raises_peer_restarted_without_disconnect);
	tcase_add_test(tc, unknown_ids_and_self_are_ignored);
	tcase_add_test(tc, rtt_is_echo_age_minus_hold_time);
	tcase_add_test(tc, heartbeat_carries_the_binding_incarnation);
	tcase_add_test(tc, heartbeat_carries_our_state_and_records_the_peers);
	tcase_add_test(tc, peer_clock_moved_on_by_ours_never_leads_it);
	tcase_add_test(tc, resize_flips_quorum_and_raises_an_event);
	tcase_add_test(tc, deadline_follows_the_earliest_peer_timeout);
	tcase_add_test(tc, init_rejects_nonsense_parameters);
	tcase_add_test(tc, event_names_are_stable);
	tcase_add_test(tc, full_event_queue_drops_and_counts);
	tcase_add_test(tc, lease_is_regained_only_from_peers_owed_no_erasure_ack);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(membership_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
