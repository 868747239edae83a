// SPDX-License-Identifier: MIT
/*
 * test-holders.c — a daemon's restart and its holders' pid bindings
 * (docs/design.md §6.2), in the simulated cluster (tests/lib/sim.h).
 *
 * Built against pkv_paxos (every case passes) and against
 * pkv_paxos_broken_grace, whose peers end an owner's pid bindings at once
 * when it is lost or restarts; there restart_within_grace_keeps_live_holder
 * must fail (meson: should_fail, CK_RUN_CASE). Against
 * pkv_paxos_broken_stale_loss, whose daemons end a binding they learn while
 * they count its peer lost at once, however long ago they lost it (the rule
 * of docs/design.md §4.2, "A loss seen before the binding", left out), the
 * cases after a heal must fail.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim-case.h"
#include "sim.h"

#define GRACE_US 300000u

static struct sim_config holders_cfg(uint64_t seed, bool durable)
{
	return (struct sim_config){.seed = seed,
				   .n = 3,
				   .lat_min_us = 200,
				   .lat_max_us = 2000,
				   .durable = durable,
				   .restart_grace_us = GRACE_US};
}

/* Node 1 puts k0 bound to a process of its own; returns the generation. */
static uint64_t hold_on_node1(struct sim *s, unsigned *proc)
{
	sim_run_until(s, 50000);
	*proc = sim_spawn(s, 1);
	struct sim_bind sb = {.mask = PKV_BIND_PID, .proc = *proc};
	size_t op = sim_put_bound(s, 1, 0, "held", &sb, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[op].status, PKV_S_OK);
	sim_run_until(s, s->now + 50000); /* every learner has it */
	return s->ops[op].gen;
}

static void assert_lifetimes(const struct sim *s)
{
	char err[300];
	ck_assert_msg(sim_check(s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sim_check_lifetimes(s, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(restart_within_grace_keeps_live_holder)
{
	struct sim s;
	struct sim_config c = holders_cfg(41, true);
	sim_init(&s, &c);
	unsigned proc;
	uint64_t gen = hold_on_node1(&s, &proc);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_uint_eq(sim_chosen_gen(&s, n, 0), gen);

	sim_kill(&s, 1);
	sim_run_until(&s, s.now + GRACE_US / 3);
	sim_restart(&s, 1);
	/* Well past the grace: the peers heard the new incarnation long ago. */
	sim_run_until(&s, s.now + 3 * GRACE_US);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) == gen,
			      "node %u: the live holder's k0 (generation %" PRIu64
			      ") ended across its owner's restart within the grace",
			      n, gen);
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

START_TEST(holder_dead_while_owner_down_ends_at_restart)
{
	struct sim s;
	struct sim_config c = holders_cfg(42, true);
	sim_init(&s, &c);
	unsigned proc;
	uint64_t gen = hold_on_node1(&s, &proc);
	sim_kill(&s, 1);
	uint64_t killed = s.now;
	sim_proc_kill(&s, proc); /* nobody watches it now */
	sim_run_until(&s, killed + GRACE_US / 3);
	for (unsigned n = 2; n <= 3; n++)
		ck_assert_uint_eq(sim_chosen_gen(&s, n, 0), gen); /* the grace holds */
	sim_restart(&s, 1);
	/* Ended by the restart's check, before the peers' grace is over. */
	sim_run_until(&s, killed + 2 * GRACE_US / 3);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(
		    sim_chosen_gen(&s, n, 0) == 0,
		    "node %u still holds k0 of a holder that died while its owner was down", n);
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

START_TEST(owner_lost_past_grace_ends_its_holders)
{
	struct sim s;
	struct sim_config c = holders_cfg(43, true);
	sim_init(&s, &c);
	unsigned proc;
	uint64_t gen = hold_on_node1(&s, &proc);
	sim_kill(&s, 1);
	uint64_t killed = s.now;
	sim_run_until(&s, killed + GRACE_US - 20000);
	for (unsigned n = 2; n <= 3; n++)
		ck_assert_uint_eq(sim_chosen_gen(&s, n, 0), gen);
	sim_run_until(&s, killed + GRACE_US + 20000);
	for (unsigned n = 2; n <= 3; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) == 0, "node %u: k0 outlived the grace", n);
	sim_free(&s);
}
END_TEST

START_TEST(restart_without_state_ends_holders_at_once)
{
	/* No durable state to take back from: a new binding incarnation. */
	struct sim s;
	struct sim_config c = holders_cfg(44, false);
	sim_init(&s, &c);
	unsigned proc;
	(void)hold_on_node1(&s, &proc);
	sim_kill(&s, 1);
	uint64_t killed = s.now;
	sim_run_until(&s, killed + GRACE_US / 6);
	sim_restart(&s, 1);
	sim_run_until(&s, killed + GRACE_US / 2);
	for (unsigned n = 2; n <= 3; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) == 0,
			      "node %u: k0 outlived a restart that did not take it back", n);
	sim_free(&s);
}
END_TEST

/* Node 1 hears nothing (heartbeats apart): its put stays under way. */
static uint64_t deaf_1(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
		       void *arg)
{
	(void)s, (void)from, (void)m, (void)arg;
	return to == 1 ? SIM_FILTER_DROP : SIM_FILTER_PASS;
}

START_TEST(put_under_way_at_stop_is_watched_after_restart)
{
	/*
	 * Node 1's bound put is accepted everywhere but node 1 never learns
	 * it chosen (it hears nothing) before it is killed; node 2's get
	 * finishes the round. Taken back within the grace, node 1
	 * finds out it was chosen, so the holder's death still ends it.
	 */
	struct sim s;
	struct sim_config c = holders_cfg(45, true);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	unsigned proc = sim_spawn(&s, 1);
	sim_set_filter(&s, deaf_1, NULL);
	struct sim_bind sb = { .mask = PKV_BIND_PID, .proc = proc };
	(void)sim_put_bound(&s, 1, 0, "held", &sb, 10000000, false);
	sim_run_until(&s, s.now + 20000);
	size_t g = sim_get(&s, 2, 0, 1000000, false);
	sim_run_until(&s, s.now + 200000);
	ck_assert_int_eq(s.ops[g].status, PKV_S_OK);
	ck_assert_uint_eq(sim_chosen_gen(&s, 1, 0), 0); /* node 1 does not know */
	sim_kill(&s, 1);
	sim_set_filter(&s, NULL, NULL);
	sim_run_until(&s, s.now + GRACE_US / 3);
	sim_restart(&s, 1);
	sim_run_until(&s, s.now + GRACE_US);
	ck_assert_msg(sim_chosen_gen(&s, 1, 0) != 0, "node 1 did not learn its own holder's key");
	sim_proc_kill(&s, proc);
	sim_run_until(&s, s.now + 200000);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) == 0,
			      "node %u still holds k0 after its holder died", n);
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

/*
 * A loss seen before the binding (docs/design.md §4.2). Five nodes; node 2
 * is cut off from every other for longer than the failure timeout and the
 * grace, so it counts node 1 lost. Then the cut heals, except that node 2
 * does not hear node 1 yet (its heartbeats, and its handshake after a
 * restart, are late): node 2 sees the others, and counts node 1 lost still,
 * from a loss it saw while it was the one cut off.
 */
#define STALE_FT_US 200000u

static struct sim_config stale_cfg(uint64_t seed)
{
	struct sim_config c = holders_cfg(seed, false);
	c.n = 5;
	c.failure_timeout_us = STALE_FT_US;
	return c;
}

/* Node 2 cut off, and back but for node 1's messages to it. */
static void cut_off_2_then_hear_all_but_1(struct sim *s, bool restart_1)
{
	sim_run_until(s, 50000);
	sim_isolate(s, 2, true);
	sim_run_until(s, s->now + 2 * (STALE_FT_US + GRACE_US));
	if (restart_1) {
		/* without state: a new incarnation, new binding incarnation */
		sim_kill(s, 1);
		sim_run_until(s, s->now + GRACE_US / 3);
		sim_restart(s, 1);
		sim_run_until(s, s->now + 5000000); /* its quiet period and sync */
	}
	sim_isolate(s, 2, false);
	sim_cut(s, 1, 2, true);
	sim_run_until(s, s->now + 100000);
}

/* Node 1 puts k0 bound to a process of its own (or to node 1, with node). */
static uint64_t put_bound_on_1(struct sim *s, bool node)
{
	unsigned proc = sim_spawn(s, 1);
	struct sim_bind sb = node ? (struct sim_bind){ .mask = PKV_BIND_NODE, .node = 1 }
				  : (struct sim_bind){ .mask = PKV_BIND_PID, .proc = proc };
	size_t op = sim_put_bound(s, node ? 3 : 1, 0, "held", &sb, 2000000, false);
	ck_assert(sim_run_until_done(s, s->now + 3000000));
	ck_assert_int_eq(s->ops[op].status, PKV_S_OK);
	return s->ops[op].gen;
}

/* Node 2 reads k0 (it learns the value from a majority's answers). */
static void node_2_learns_k0(struct sim *s, uint64_t gen)
{
	size_t g = sim_get(s, 2, 0, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[g].status, PKV_S_OK);
	ck_assert_uint_eq(s->ops[g].gen, gen);
}

static void assert_held_everywhere(const struct sim *s, uint64_t gen, const char *when)
{
	for (unsigned n = 1; n <= 5; n++)
		ck_assert_msg(sim_chosen_gen(s, n, 0) == gen,
			      "node %u: k0 (generation %" PRIu64 ", its owner alive) ended %s", n,
			      gen, when);
}

START_TEST(owner_restarted_while_cut_off_keeps_its_new_holder)
{
	/* Node 1's new incarnation was never heard by node 2, never lost by it. */
	struct sim s;
	struct sim_config c = stale_cfg(46);
	sim_init(&s, &c);
	cut_off_2_then_hear_all_but_1(&s, true);
	uint64_t gen = put_bound_on_1(&s, false);
	node_2_learns_k0(&s, gen);
	sim_run_until(&s, s.now + 2 * (STALE_FT_US + GRACE_US));
	assert_held_everywhere(&s, gen, "while node 2 had not heard its owner's new incarnation");
	sim_heal(&s);
	sim_run_until(&s, s.now + 2 * (STALE_FT_US + GRACE_US));
	assert_held_everywhere(&s, gen, "after the heal");
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

/* Node 2 hears node 1 again within the failure timeout after it learned k0. */
static void heard_late_keeps(uint64_t seed, bool node, const char *when)
{
	struct sim s;
	struct sim_config c = stale_cfg(seed);
	sim_init(&s, &c);
	cut_off_2_then_hear_all_but_1(&s, false);
	uint64_t gen = put_bound_on_1(&s, node);
	node_2_learns_k0(&s, gen);
	sim_run_until(&s, s.now + STALE_FT_US / 2);
	sim_cut(&s, 1, 2, false);
	sim_run_until(&s, s.now + 2 * (STALE_FT_US + GRACE_US));
	assert_held_everywhere(&s, gen, when);
	assert_lifetimes(&s);
	sim_free(&s);
}

START_TEST(owner_heard_late_after_a_heal_keeps_its_holder)
{
	heard_late_keeps(47, false, "after node 2 heard its owner again");
}
END_TEST

START_TEST(node_heard_late_after_a_heal_keeps_its_key)
{
	heard_late_keeps(48, true, "after node 2 heard the node it is bound to again");
}
END_TEST

START_TEST(owner_still_unheard_after_learning_ends_its_holder)
{
	/* The rule delays the loss; it does not forget it. */
	struct sim s;
	struct sim_config c = stale_cfg(49);
	sim_init(&s, &c);
	cut_off_2_then_hear_all_but_1(&s, false);
	uint64_t gen = put_bound_on_1(&s, false);
	node_2_learns_k0(&s, gen);
	uint64_t learned = s.now;
	sim_run_until(&s, learned + STALE_FT_US + GRACE_US - 20000);
	assert_held_everywhere(&s, gen, "before the failure timeout and grace after node 2 learned it");
	sim_run_until(&s, learned + STALE_FT_US + GRACE_US + 50000);
	for (unsigned n = 1; n <= 5; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) == 0,
			      "node %u: k0 outlived its owner unheard for the failure timeout and"
			      " grace after node 2 learned it",
			      n);
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

static Suite *holders_suite(void)
{
	Suite *s = suite_create("holders");
	SIM_CASE(s, restart_within_grace_keeps_live_holder, 60);
	SIM_CASE(s, holder_dead_while_owner_down_ends_at_restart, 60);
	SIM_CASE(s, owner_lost_past_grace_ends_its_holders, 60);
	SIM_CASE(s, restart_without_state_ends_holders_at_once, 60);
	SIM_CASE(s, put_under_way_at_stop_is_watched_after_restart, 60);
	SIM_CASE(s, owner_restarted_while_cut_off_keeps_its_new_holder, 60);
	SIM_CASE(s, owner_heard_late_after_a_heal_keeps_its_holder, 60);
	SIM_CASE(s, node_heard_late_after_a_heal_keeps_its_key, 60);
	SIM_CASE(s, owner_still_unheard_after_learning_ends_its_holder, 60);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(holders_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
