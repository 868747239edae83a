// SPDX-License-Identifier: MIT
/*
 * test-holders.c — a daemon's restart and its holders' pid bindings
 * (docs/design.md §6.2), in the simulated cluster (tests/lib/sim.h).
 *
 * Built against pkv_paxos (every case passes) and against
 * pkv_paxos_broken_grace, whose peers end an owner's pid bindings at once
 * when it is lost or restarts; there restart_within_grace_keeps_live_holder
 * must fail (meson: should_fail, CK_RUN_CASE).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define GRACE_US 300000u

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){.p = (const uint8_t *)s, .len = (uint32_t)strlen(s)};
}

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

/* k0 on node n: its chosen generation, 0 when it holds no chosen value. */
static uint64_t chosen_gen(const struct sim *s, unsigned n)
{
	struct store_entry *e = store_lookup(s->nodes[n].store, b("PaxosKV"), b("k0"), false);
	return e && e->chosen ? e->gen : 0;
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
		ck_assert_uint_eq(chosen_gen(&s, n), gen);

	sim_kill(&s, 1);
	sim_run_until(&s, s.now + GRACE_US / 3);
	sim_restart(&s, 1);
	/* Well past the grace: the peers heard the new incarnation long ago. */
	sim_run_until(&s, s.now + 3 * GRACE_US);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(chosen_gen(&s, n) == gen,
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
		ck_assert_uint_eq(chosen_gen(&s, n), gen); /* the grace holds */
	sim_restart(&s, 1);
	/* Ended by the restart's check, before the peers' grace is over. */
	sim_run_until(&s, killed + 2 * GRACE_US / 3);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(
		    chosen_gen(&s, n) == 0,
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
		ck_assert_uint_eq(chosen_gen(&s, n), gen);
	sim_run_until(&s, killed + GRACE_US + 20000);
	for (unsigned n = 2; n <= 3; n++)
		ck_assert_msg(chosen_gen(&s, n) == 0, "node %u: k0 outlived the grace", n);
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
		ck_assert_msg(chosen_gen(&s, n) == 0,
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
	ck_assert_uint_eq(chosen_gen(&s, 1), 0); /* node 1 does not know */
	sim_kill(&s, 1);
	sim_set_filter(&s, NULL, NULL);
	sim_run_until(&s, s.now + GRACE_US / 3);
	sim_restart(&s, 1);
	sim_run_until(&s, s.now + GRACE_US);
	ck_assert_msg(chosen_gen(&s, 1) != 0, "node 1 did not learn its own holder's key");
	sim_proc_kill(&s, proc);
	sim_run_until(&s, s.now + 200000);
	for (unsigned n = 1; n <= 3; n++)
		ck_assert_msg(chosen_gen(&s, n) == 0,
			      "node %u still holds k0 after its holder died", n);
	assert_lifetimes(&s);
	sim_free(&s);
}
END_TEST

/* One test case per rule, named after it, so CK_RUN_CASE can pick one. */
#define ADD_CASE(suite, fn)                                                                        \
	do {                                                                                       \
		TCase *tc = tcase_create(#fn);                                                     \
		tcase_set_timeout(tc, 60);                                                         \
		tcase_add_test(tc, fn);                                                            \
		suite_add_tcase(suite, tc);                                                        \
	} while (0)

static Suite *holders_suite(void)
{
	Suite *s = suite_create("holders");
	ADD_CASE(s, restart_within_grace_keeps_live_holder);
	ADD_CASE(s, holder_dead_while_owner_down_ends_at_restart);
	ADD_CASE(s, owner_lost_past_grace_ends_its_holders);
	ADD_CASE(s, restart_without_state_ends_holders_at_once);
	ADD_CASE(s, put_under_way_at_stop_is_watched_after_restart);
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
