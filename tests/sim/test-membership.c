// SPDX-License-Identifier: MIT
/*
 * test-membership.c — scripted simulations of daemons that disagree about
 * membership (docs/design.md §5, §6.1, and §10 for what is still open).
 *
 * Holes found in review, and where they stand: 1 (a stale cluster_size in
 * a fast round) and 2 (shrinking twice) — closed by configurations, each
 * change chosen by the voters and followed by a catch-up; 3 (more daemons than voters) —
 * closed by the voter rule; 4 (a get across a restart) — closed by the
 * get's answer limits; 5 (a wiped majority) — closed by --bootstrap and the
 * epoch's generations. The closed ones also run against a core with their
 * rule left out (tests/sim/meson.build), where they must fail.
 *
 * Each test forces one interleaving with the simulator's membership faults
 * (tests/lib/sim.h: per-node cluster sizes, extra daemons, wiped run dirs,
 * silent links, a per-message filter, delayed datagrams) and ends in the
 * agreement checker. Each states the property the core must keep, so a test
 * FAILS while its hole is open: the failure message then reads
 * "hole N reproduced: <what sim_check found>", and the checker's text must
 * name both values, or it is not the hole that failed the test. A failure
 * for any other reason (a scenario step that no longer happens, a problem
 * that is not two values) makes the program exit 99, which meson reports as
 * an error even for a test expected to fail.
 *
 * meson registers one test per case, the open holes with should_fail; the
 * flag comes off, case by case, when the core closes the hole.
 *
 * Run one: CK_RUN_CASE=<test name> build/tests/sim/test-membership
 * (each test is its own TCase, named after it).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holes.h"
#include "sim-case.h"
#include "sim.h"

#define K 0 /* every scenario uses key k0 */

static struct sim_config quiet(uint64_t seed, unsigned n)
{
	return (struct sim_config){ .seed = seed, .n = n, .lat_min_us = 200, .lat_max_us = 2000 };
}

static bool is_fast_ballot(struct pkv_ballot b)
{
	return b.round == 1 && b.node == 0;
}

static const char *status_str(const struct sim *s, size_t op)
{
	static char buf[4][80];
	static unsigned slot;
	char *b = buf[slot++ % 4];
	const struct sim_op *o = &s->ops[op];
	if (!o->done)
		snprintf(b, 80, "pending");
	else if (o->lost)
		snprintf(b, 80, "lost");
	else if (o->status == PKV_S_OK)
		snprintf(b, 80, "'%.*s' gen %" PRIu64, (int)o->result_len, (const char *)o->result,
			 o->gen);
	else
		snprintf(b, 80, "status %d", o->status);
	return b;
}

/* A precondition of the scripted interleaving: when it fails, the scenario is broken. */
#define STEP(what, cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(what " scenario broken: " __VA_ARGS__);                       \
	} while (0)

/*
 * The end of every scenario: sim_check must find nothing. When it finds two
 * values in one generation — the hole — the test fails with "hole N
 * reproduced"; any other problem fails it as a broken scenario.
 */
static void expect_agreement(struct sim *s, const char *what, const char *a, const char *b,
			     const char *story)
{
	char err[600];
	unsigned pr = sim_check(s, err, sizeof(err));
	if (!pr) {
		fprintf(stderr, "%s: not reproduced (%s): sim_check finds no problem\n", what,
			story);
		return;
	}
	char qa[40], qb[40];
	snprintf(qa, sizeof(qa), "'%s'", a);
	snprintf(qb, sizeof(qb), "'%s'", b);
	if (!strstr(err, qa) || !strstr(err, qb))
		ck_abort_msg(
		    "%s scenario broken: sim_check found %u problem(s), not two values: %s", what,
		    pr, err);
	fprintf(stderr, "%s reproduced: %s: %s\n", what, story, err);
	ck_abort_msg("%s reproduced: %s: %s", what, story, err);
}

/* ---- hole 1 ------------------------------------------------------------ */

/* Runs until every node of `who` has the voters `voters` and caught up, or the deadline. */
static bool settle_conf(struct sim *s, uint64_t voters, uint64_t who, uint64_t until)
{
	while (s->now < until) {
		bool all = true;
		for (unsigned n = 1; n <= s->cfg.n; n++)
			if (s->nodes[n].up && (who >> (n - 1)) & 1u)
				all &= sim_voters(s, n) == voters && paxos_synced(s->nodes[n].p);
		if (all)
			return true;
		sim_run_until(s, s->now + 10000);
	}
	return false;
}

/* Node 3 never learns a configuration: the CHOSEN of the reserved bucket is lost on its way. */
static uint64_t drop_conf_to_3(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			       void *arg)
{
	(void)s, (void)from, (void)arg;
	bool conf = m->bucket.len >= 1 && m->bucket.p[0] == 0;
	return to == 3 && conf && m->type == PKV_MSG_CHOSEN ? SIM_FILTER_DROP : SIM_FILTER_PASS;
}

/*
 * Five daemons configured, voters {1, 2, 3}; node 1 adds node 4, then node
 * 5, and node 3 misses both changes (it takes part in the first, but the
 * CHOSEN never reaches it and its heartbeats carry no configuration): it
 * still counts {1, 2, 3}. Node 3 puts v while its messages to node 1 are
 * lost, so it needs {2, 3}; node 1 puts w while the messages of 2 to it are
 * lost too, so its quorum is {1, 4, 5} — which meets {2, 3} nowhere. On the old core,
 * where a resize was a broadcast of the size, a node that missed it chose v
 * with its stale count while a classic round chose w (40 of 200 seeds).
 * Now every Paxos message carries its configuration: node 2 has moved on
 * and answers none of node 3's, so node 3 chooses nothing.
 */
START_TEST(stale_cluster_size_fast_round_keeps_agreement)
{
	struct sim s;
	struct sim_config c = quiet(101, 5);
	c.cluster_size = 3;
	c.lat_max_us = 500; /* every vote lands within the fast round's straggler wait */
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	STEP("hole 1", sim_all_synced(&s), "the cluster did not bootstrap");
	sim_hide_conf(&s, 3, true);
	sim_set_filter(&s, drop_conf_to_3, NULL);
	size_t c4 = sim_change(&s, 1, 0xf, 2000000);
	sim_run_until_done(&s, s.now + 2000000);
	STEP("hole 1", s.ops[c4].status == PKV_S_OK, "adding node 4: %s", status_str(&s, c4));
	STEP("hole 1", settle_conf(&s, 0xf, 0xb, s.now + 2000000), "voters {1,2,4} did not settle");
	size_t c5 = sim_change(&s, 1, 0x1f, 2000000);
	sim_run_until_done(&s, s.now + 2000000);
	STEP("hole 1", s.ops[c5].status == PKV_S_OK, "adding node 5: %s", status_str(&s, c5));
	STEP("hole 1", settle_conf(&s, 0x1f, 0x1b, s.now + 2000000),
	     "voters {1,2,4,5} did not settle");
	STEP("hole 1", sim_voters(&s, 3) == 0x7, "node 3 should still count voters {1,2,3}");
	sim_silence(&s, 3, 1, true);
	size_t v = sim_put(&s, 3, K, "v", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	sim_silence(&s, 2, 1, true);
	size_t w = sim_put(&s, 1, K, "w", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	fprintf(stderr, "hole 1: put v on node 3 (missed two changes): %s; put w on node 1: %s\n",
		status_str(&s, v), status_str(&s, w));
	STEP("hole 1", s.ops[w].done && s.ops[w].status == PKV_S_OK, "put w on node 1: %s",
	     status_str(&s, w));
	expect_agreement(&s, "hole 1", "v", "w",
			 "a node that missed two changes of the voters chose v with its old majority");
	sim_free(&s);
}
END_TEST

/* ---- hole 2 ------------------------------------------------------------ */

/*
 * Five daemons; v is accepted by 3, 4 and 5 and chosen, but every message
 * from 3 to 1 and 2 is lost (the CHOSEN too). Node 5 stops and node 1
 * removes it; node 4 stops and node 1 removes it: v was on 3 and 4 and 5,
 * and the voters are now {1, 2, 3}. Node 1 puts w while 3's messages to it
 * are lost again: its quorum is {1, 2}. On the old core (a resize was a
 * size broadcast, nothing copied) w was chosen (50 of 50 seeds). Now each
 * change is decided by the voters and every new voter catches up from a
 * majority of the frozen old ones, so 1 and 2 hold v before they answer.
 */
START_TEST(shrink_by_two_keeps_chosen_value)
{
	struct sim s;
	struct sim_config c = quiet(102, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	STEP("hole 2", sim_all_synced(&s), "the cluster did not bootstrap");
	sim_silence(&s, 3, 1, true);
	sim_silence(&s, 3, 2, true);
	size_t v = sim_put(&s, 3, K, "v", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	STEP("hole 2", s.ops[v].done && s.ops[v].status == PKV_S_OK, "put v on node 3: %s",
	     status_str(&s, v));
	sim_kill(&s, 5);
	sim_run_until(&s, s.now + 200000);
	size_t c1 = sim_change(&s, 1, 0xf, 3000000);
	sim_run_until_done(&s, s.now + 3000000);
	STEP("hole 2", s.ops[c1].status == PKV_S_OK, "removing node 5: %s", status_str(&s, c1));
	/* Node 3 cannot catch up while its messages to 1 and 2 are lost. */
	STEP("hole 2", settle_conf(&s, 0xf, 0xb, s.now + 3000000), "voters {1,2,4} did not settle");
	sim_kill(&s, 4);
	sim_silence(&s, 3, 1, false);
	sim_silence(&s, 3, 2, false);
	sim_run_until(&s, s.now + 200000);
	size_t c2 = sim_change(&s, 1, 0x7, 3000000);
	sim_run_until_done(&s, s.now + 3000000);
	STEP("hole 2", s.ops[c2].status == PKV_S_OK, "removing node 4: %s", status_str(&s, c2));
	STEP("hole 2", settle_conf(&s, 0x7, 0x7, s.now + 3000000), "voters {1,2,3} did not settle");
	sim_silence(&s, 3, 1, true);
	sim_silence(&s, 3, 2, true);
	size_t w = sim_put(&s, 1, K, "w", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	fprintf(stderr, "hole 2: put v on node 3 (5 nodes): %s; put w on node 1 after 5→4→3: %s\n",
		status_str(&s, v), status_str(&s, w));
	expect_agreement(&s, "hole 2", "v", "w", "shrinking 5→4→3 left v on node 3 alone");
	sim_free(&s);
}
END_TEST

/* ---- hole 3 ------------------------------------------------------------ */

/*
 * Four daemons configured, cluster_size 3. A partition {1, 2} | {3, 4}:
 * both sides count two votes, a majority of three.
 */
START_TEST(extra_daemon_cannot_form_second_majority)
{
	struct sim s;
	struct sim_config c = quiet(103, 4);
	c.cluster_size = 3;
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	STEP("hole 3", sim_all_synced(&s), "the cluster did not bootstrap");
	for (unsigned a = 1; a <= 2; a++)
		for (unsigned b = 3; b <= 4; b++) {
			sim_cut(&s, a, b, true);
			sim_cut(&s, b, a, true);
		}
	sim_run_until(&s, s.now + 3 * s.cfg.hb_us);
	size_t v = sim_put(&s, 1, K, "v", 1000000, false);
	size_t w = sim_put(&s, 3, K, "w", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	fprintf(stderr, "hole 3: put v on node 1 {1,2}: %s; put w on node 3 {3,4}: %s\n",
		status_str(&s, v), status_str(&s, w));
	expect_agreement(&s, "hole 3", "v", "w",
			 "4 daemons with cluster_size 3 split into two majorities");
	sim_free(&s);
}
END_TEST

/* ---- hole 4 ------------------------------------------------------------ */

/*
 * Five daemons. Node 1 sends ACCEPT(F, v): only 1 and 5 vote. A get on node
 * 5 counts those two votes (5 and 1). Node 1 restarts without its state and
 * syncs from 2–4 (nothing there). Node 1 puts w fast and votes w at F; a put
 * of v on node 2 makes 2–4 vote v; the get now counts five votes for v at F
 * — node 1's among them, from the incarnation that is gone — and returns v.
 * Node 1's classic round from {1, 3, 4} takes its own vote (w at F) first
 * and chooses w.
 */
enum h4_phase {
	H4_FIRST,	/* node 1's first put: its messages reach node 5 only */
	H4_RESTARTED,	/* node 1 restarted: it syncs from 2–4, puts w */
	H4_GET_ANSWERS, /* 2–4 voted v: the get hears them */
	H4_CLASSIC,	/* node 1's classic round reaches 3 and 4 */
};

static uint64_t h4_filter(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			  void *arg)
{
	(void)s;
	const enum h4_phase *ph = arg;
	bool round = m->type == PKV_MSG_PREPARE || m->type == PKV_MSG_ACCEPT;
	/* The get on node 5 hears nothing from 2–4 until they voted v. */
	if (m->type == PKV_MSG_QUERY_REPLY && to == 5 && from >= 2 && from <= 4 &&
	    *ph < H4_GET_ANSWERS)
		return SIM_FILTER_DROP;
	/* Node 1's rounds never reach node 2, and 3–4 only at the end. */
	if (from == 1 && round && (to == 2 || ((to == 3 || to == 4) && *ph < H4_CLASSIC)))
		return SIM_FILTER_DROP;
	/* The new incarnation of node 1 and node 5 do not talk (no sync, no CHOSEN). */
	if (*ph >= H4_RESTARTED && ((from == 1 && to == 5) || (from == 5 && to == 1)))
		return SIM_FILTER_DROP;
	/* Node 2's put goes no further than its votes at F. */
	if (from == 2 && (m->type == PKV_MSG_PREPARE || m->type == PKV_MSG_FORWARD ||
			  (m->type == PKV_MSG_ACCEPT && !is_fast_ballot(m->ballot))))
		return SIM_FILTER_DROP;
	return SIM_FILTER_PASS;
}

START_TEST(get_across_restart_counts_no_stale_f_votes)
{
	struct sim s;
	struct sim_config c = quiet(104, 5);
	sim_init(&s, &c);
	enum h4_phase ph = H4_FIRST;
	sim_set_filter(&s, h4_filter, &ph);
	sim_run_until(&s, 50000);
	STEP("hole 4", sim_all_synced(&s), "the cluster did not bootstrap");

	size_t v1 = sim_put(&s, 1, K, "v", 5000000, false);
	sim_run_until(&s, s.now + 5000);
	size_t g = sim_get(&s, 5, K, 10000000, false);
	sim_run_until(&s, s.now + 20000);
	sim_kill(&s, 1);
	ph = H4_RESTARTED;
	sim_restart(&s, 1);
	sim_run_until(&s, s.now + 1000000);
	STEP("hole 4", paxos_synced(s.nodes[1].p), "node 1 did not sync from 2–4");
	STEP("hole 4", !s.ops[g].done, "the get on node 5 answered early: %s", status_str(&s, g));

	size_t w = sim_put(&s, 1, K, "w", 5000000, false);
	sim_run_until(&s, s.now + 20000);
	size_t v2 = sim_put(&s, 2, K, "v", 5000000, false);
	sim_run_until(&s, s.now + 20000);
	ph = H4_GET_ANSWERS;
	sim_run_until(&s, s.now + 200000);
	ph = H4_CLASSIC;
	sim_run_until_done(&s, s.now + 3000000);
	fprintf(
	    stderr,
	    "hole 4: put v on node 1 (old incarnation): %s; get on node 5: %s; put w on node 1: %s;"
	    " put v on node 2: %s\n",
	    status_str(&s, v1), status_str(&s, g), status_str(&s, w), status_str(&s, v2));
	expect_agreement(&s, "hole 4", "v", "w",
			 "a get counted a vote at F from before its voter's restart");
	sim_free(&s);
}
END_TEST

/* ---- hole 5 ------------------------------------------------------------ */

/*
 * Three daemons; v is chosen. Node 3 is cut off, nodes 1 and 2 lose their
 * run dirs and come back. As "restarted" (state file kept) they wait, then
 * declare a new epoch, loudly. As "fresh" (run dir wiped) they take it for
 * a first boot: they bootstrap empty, with no new epoch, and choose w.
 */
static void h5_run(struct sim *s, bool wiped, size_t *v, size_t *w)
{
	struct sim_config c = quiet(105, 3);
	sim_init(s, &c);
	sim_run_until(s, 50000);
	*v = sim_put(s, 1, K, "v", 1000000, false);
	sim_run_until_done(s, s->now + 1000000);
	sim_isolate(s, 3, true);
	sim_kill(s, 1);
	sim_kill(s, 2);
	if (wiped) {
		/* Started again as a service manager would: no --bootstrap. */
		sim_restart_wiped(s, 1, false);
		sim_restart_wiped(s, 2, false);
	} else {
		sim_restart(s, 1);
		sim_restart(s, 2);
	}
	sim_run_until(s, s->now + 3000000);
	*w = sim_put(s, 1, K, "w", 1000000, false);
	sim_run_until_done(s, s->now + 1000000);
}

START_TEST(wiped_majority_does_not_bootstrap_silently)
{
	struct sim s;
	size_t v, w;
	h5_run(&s, false, &v, &w);
	uint64_t kept_epochs = s.nodes[1].epochs + s.nodes[2].epochs;
	sim_free(&s);
	h5_run(&s, true, &v, &w);
	uint64_t wiped_epochs = s.nodes[1].epochs + s.nodes[2].epochs;
	fprintf(stderr,
		"hole 5: put v: %s; majority restarted with state files: %" PRIu64
		" NEW EPOCH event(s); with wiped run dirs: %" PRIu64 ", then put w: %s\n",
		status_str(&s, v), kept_epochs, wiped_epochs, status_str(&s, w));
	STEP("hole 5", s.ops[v].done && s.ops[v].status == PKV_S_OK, "put v: %s",
	     status_str(&s, v));
	/* Loud is the least: a wiped majority that serves again says so. */
	if (s.ops[w].done && s.ops[w].status == PKV_S_OK && wiped_epochs == 0) {
		char err[600];
		unsigned pr = sim_check(&s, err, sizeof(err));
		STEP("hole 5", pr && strstr(err, "'v'") && strstr(err, "'w'"),
		     "the wiped majority served silently but sim_check found: %s", err);
		fprintf(stderr,
			"hole 5 reproduced: a wiped majority bootstrapped empty with no NEW "
			"EPOCH: %s\n",
			err);
		ck_abort_msg(
		    "hole 5 reproduced: a wiped majority bootstrapped empty with no NEW EPOCH "
		    "(%" PRIu64 " with state files kept): %s",
		    kept_epochs, err);
	}
	expect_agreement(&s, "hole 5", "v", "w", "a wiped majority chose again");
	sim_free(&s);
}
END_TEST

/* ---- the delay bound ---------------------------------------------------- */

/*
 * The restart quiet period (docs/design.md §6.1) assumes no datagram is
 * delayed more than ballot_life_us. Here one is held 2 s, far past the
 * quiet period (2 × ballot_life_us = 300 ms). Five daemons; node 1 runs a
 * classic round for v (its fast ACCEPTs are lost); its ACCEPT reaches node 3
 * at once, node 2 only 2 s later, and is lost to 4 and 5, as is everything
 * else node 1 sends node 2; after that, node 1 reaches nobody. Node 3
 * accepts, restarts without its state and syncs from 2, 4 and 5 while the
 * ACCEPT to node 2 is still in flight: its copy holds nothing of v. Nodes 1
 * and 2 are cut off from 3–5, and node 3 puts w with {3, 4, 5}. Then node 2
 * accepts v: v has been accepted at node 1's ballot by 1, 2 and the old
 * node 3, a majority, while w is chosen at a higher ballot — Paxos's P2 is
 * broken. No learner sees it: node 1 left that ballot after ballot_life_us,
 * so node 2's late ACCEPTED is ignored, and a get counts only the votes held
 * now. The test checks that nothing observable breaks (it passes today); an
 * observer that counts votes across a restart is hole 4.
 */
struct dl {
	bool held;
};

static uint64_t dl_filter(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			  void *arg)
{
	(void)s;
	struct dl *d = arg;
	if (from != 1)
		return SIM_FILTER_PASS;
	if (m->type == PKV_MSG_ACCEPT && is_fast_ballot(m->ballot))
		return SIM_FILTER_DROP; /* the fast round fails: node 1 goes classic */
	if (to == 2) {
		if (m->type == PKV_MSG_ACCEPT && !d->held) {
			d->held = true;
			return 2000000;
		}
		/* Node 1's later rounds would raise node 2's promise above the held ACCEPT. */
		return d->held ? SIM_FILTER_DROP : SIM_FILTER_PASS;
	}
	if (m->type == PKV_MSG_ACCEPT && to != 3)
		return SIM_FILTER_DROP;
	return SIM_FILTER_PASS;
}

static struct store_entry *k0_entry(struct sim *s, unsigned node)
{
	return store_lookup(s->nodes[node].store,
			    (struct pkv_bytes){.p = (const uint8_t *)"PaxosKV", .len = 7},
			    (struct pkv_bytes){.p = (const uint8_t *)"k0", .len = 2}, false);
}

START_TEST(delayed_datagram_past_bound_is_harmless)
{
	struct sim s;
	struct sim_config c = quiet(106, 5);
	sim_init(&s, &c);
	struct dl d = {0};
	sim_set_filter(&s, dl_filter, &d);
	sim_run_until(&s, 50000);
	STEP("delay bound", sim_all_synced(&s), "the cluster did not bootstrap");
	size_t v = sim_put(&s, 1, K, "v", 5000000, false);
	/* Until node 3 accepted at a classic ballot. */
	uint64_t until = s.now + 500000;
	struct store_entry *e = NULL;
	while (s.now < until) {
		sim_run_until(&s, s.now + 100);
		e = k0_entry(&s, 3);
		if (e && e->has_accepted && !is_fast_ballot(e->accepted))
			break;
	}
	STEP("delay bound", e && e->has_accepted && !is_fast_ballot(e->accepted) && d.held,
	     "node 3 did not accept v at a classic ballot with the ACCEPT to node 2 held");
	struct pkv_ballot b = e->accepted;
	uint64_t t_held = s.now;
	sim_kill(&s, 3);
	/* Node 1's later rounds must not finish v through the new node 3, 4 and 5. */
	for (unsigned n = 3; n <= 5; n++)
		sim_silence(&s, 1, n, true);
	sim_restart(&s, 3);
	sim_run_until(&s, s.now + 700000);
	STEP("delay bound", paxos_synced(s.nodes[3].p), "node 3 did not sync");
	e = k0_entry(&s, 2);
	STEP("delay bound", !e || !e->has_accepted, "node 2 accepted before node 3's copy");
	for (unsigned n = 3; n <= 5; n++)
		for (unsigned m = 1; m <= 2; m++) {
			sim_cut(&s, m, n, true);
			sim_cut(&s, n, m, true);
		}
	sim_run_until(&s, s.now + 3 * s.cfg.hb_us);
	size_t w = sim_put(&s, 3, K, "w", 1000000, false);
	sim_run_until(&s, t_held + 2500000);
	e = k0_entry(&s, 2);
	STEP("delay bound",
	     e && e->has_accepted && !pkv_ballot_cmp(e->accepted, b) &&
		 e->accepted_value.len == 1 && e->accepted_value.p[0] == 'v',
	     "node 2 did not accept v late at ballot %" PRIu64 ".%u", b.round, b.node);
	fprintf(stderr,
		"delay bound: v accepted at ballot %" PRIu64 ".%u by node 1, the old node 3 and "
		"(2 s late) node 2; put w on node 3: %s\n",
		b.round, b.node, status_str(&s, w));
	sim_heal(&s);
	sim_set_filter(&s, NULL, NULL);
	sim_run_until_done(&s, s.now + 3000000);
	size_t gets[6];
	for (unsigned n = 1; n <= 5; n++)
		gets[n] = sim_get(&s, n, K, 2000000, false);
	sim_run_until_done(&s, s.now + 3000000);
	fprintf(
	    stderr,
	    "delay bound: put v on node 1: %s; put w on node 3: %s; gets 1..5: %s %s %s %s %s\n",
	    status_str(&s, v), status_str(&s, w), status_str(&s, gets[1]), status_str(&s, gets[2]),
	    status_str(&s, gets[3]), status_str(&s, gets[4]), status_str(&s, gets[5]));
	expect_agreement(&s, "delay bound", "v", "w", "a datagram delayed past the quiet period");
	sim_free(&s);
}
END_TEST

/* ---- runner ------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("membership");
	SIM_CASE(s, stale_cluster_size_fast_round_keeps_agreement, 60);
	SIM_CASE(s, shrink_by_two_keeps_chosen_value, 60);
	SIM_CASE(s, extra_daemon_cannot_form_second_majority, 60);
	SIM_CASE(s, get_across_restart_counts_no_stale_f_votes, 60);
	SIM_CASE(s, wiped_majority_does_not_bootstrap_silently, 60);
	SIM_CASE(s, delayed_datagram_past_bound_is_harmless, 60);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int rc = holes_exit_status(sr);
	srunner_free(sr);
	return rc;
}
