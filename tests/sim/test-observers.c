// SPDX-License-Identifier: MIT
/*
 * test-observers.c — a fleet's observers (docs/design.md §5.2) in the
 * simulated cluster (tests/lib/sim.h): daemons configured as observers
 * never vote, do not watch each other, and are killed, cut off and hold
 * lifetimes like any daemon, under the same checks.
 *
 * Built against pkv_paxos (every case passes) and against
 * pkv_paxos_broken_voters, which counts every daemon's answer, an
 * observer's included; there observers_cannot_form_a_second_majority
 * must fail (meson: should_fail, CK_RUN_CASE).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim-case.h"
#include "sim.h"

#define GRACE_US 100000u

/* 3 voters (1..3) and n - 3 observers, a quiet network. */
static struct sim_config fleet_cfg(uint64_t seed, unsigned n)
{
	return (struct sim_config){.seed = seed,
				   .n = n,
				   .cluster_size = 3,
				   .observers = n - 3,
				   .lat_min_us = 200,
				   .lat_max_us = 2000,
				   .restart_grace_us = GRACE_US};
}

/* Observer 4 puts k0 bound to a process of its own (*proc); observer 5
 * reads it. Returns the generation, which 5 holds chosen. */
static uint64_t held_on_4_learned_on_5(struct sim *s, unsigned *proc)
{
	*proc = sim_spawn(s, 4);
	struct sim_bind sb = {.mask = PKV_BIND_PID, .proc = *proc};
	size_t op = sim_put_bound(s, 4, 0, "held", &sb, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[op].status, PKV_S_OK);
	size_t g = sim_get(s, 5, 0, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[g].status, PKV_S_OK);
	uint64_t gen = s->ops[op].gen;
	ck_assert_uint_eq(sim_chosen_gen(s, 5, 0), gen);
	return gen;
}

static void assert_checks(const struct sim *s)
{
	char err[300];
	ck_assert_msg(sim_check(s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sim_check_lifetimes(s, err, sizeof(err)) == 0, "%s", err);
}

/*
 * Seven daemons, three of them voters. Cut {1, 4, 5, 6, 7} from {2, 3}:
 * counted as votes, the observers would make the first side five of
 * seven — a majority of the daemons — while {2, 3} is a majority of the
 * voters, and each side would choose its own value for k0. Only the voters'
 * side may choose.
 */
START_TEST(observers_cannot_form_a_second_majority)
{
	struct sim s;
	struct sim_config c = fleet_cfg(171, 7);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	ck_assert_msg(sim_all_synced(&s), "the fleet did not bootstrap");
	for (unsigned a = 2; a <= 3; a++)
		for (unsigned o = 1; o <= 7; o++)
			if (o != 2 && o != 3) {
				sim_cut(&s, a, o, true);
				sim_cut(&s, o, a, true);
			}
	sim_run_until(&s, s.now + 3 * s.cfg.hb_us);
	size_t v = sim_put(&s, 2, 0, "v", 1000000, false);
	size_t w = sim_put(&s, 5, 0, "w", 1000000, false);
	sim_run_until_done(&s, s.now + 1000000);
	fprintf(stderr, "split: put v on node 2 {2,3}: status %d; put w on node 5 {1,4..7}: status %d\n",
		s.ops[v].status, s.ops[w].status);
	bool both = s.ops[v].status == PKV_S_OK && s.ops[w].status == PKV_S_OK &&
		    strcmp((const char *)s.ops[v].result, (const char *)s.ops[w].result) != 0;
	ck_assert_msg(!both, "observers' votes counted: k0 chosen as v on {2,3} and w on {1,4..7}");
	ck_assert_msg(s.ops[w].status != PKV_S_OK || !strcmp((const char *)s.ops[w].result, "v"),
		      "the side with one voter and four observers chose w");
	sim_heal(&s);
	sim_run_until(&s, s.now + 500000);
	char err[300];
	ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
	sim_free(&s);
}
END_TEST

/*
 * A key bound to a process of observer 4 is learned by observer 5; the
 * process dies: 4 erases it, and 5 — which never hears from 4 — loses it
 * through the voters' fan-out.
 */
START_TEST(observer_process_exit_ends_the_key_on_the_other_observer)
{
	struct sim s;
	struct sim_config c = fleet_cfg(172, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	unsigned proc;
	uint64_t gen = held_on_4_learned_on_5(&s, &proc);
	sim_proc_kill(&s, proc);
	sim_run_until(&s, s.now + 300000);
	for (unsigned n = 1; n <= 5; n++)
		ck_assert_msg(sim_chosen_gen(&s, n, 0) != gen, "node %u still holds the dead holder's k0", n);
	assert_checks(&s);
	sim_free(&s);
}
END_TEST

/*
 * Observer 4 holds k0 for a process and is killed; observer 5 learned k0.
 * The voters count 4 down and end its pid bindings past the grace; 5 does
 * not judge 4 (it never heard from it) and loses k0 by the voters' ERASE.
 * The voters keep their quorum throughout.
 */
START_TEST(killed_observer_ends_its_bindings_everywhere_and_no_quorum_changes)
{
	struct sim s;
	struct sim_config c = fleet_cfg(173, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	unsigned proc;
	uint64_t gen = held_on_4_learned_on_5(&s, &proc);
	sim_kill(&s, 4);
	sim_run_until(&s, s.now + 2 * s.cfg.hb_us + 3 * GRACE_US);
	for (unsigned n = 1; n <= 5; n++)
		if (n != 4)
			ck_assert_msg(sim_chosen_gen(&s, n, 0) != gen,
				      "node %u still holds k0 of the killed observer", n);
	for (unsigned n = 1; n <= 5; n++)
		if (n != 4)
			ck_assert_msg(paxos_has_quorum(s.nodes[n].p), "node %u lost its quorum", n);
	/* A put through the remaining observer still goes through. */
	size_t p2 = sim_put(&s, 5, 1, "after", 1000000, false);
	ck_assert(sim_run_until_done(&s, s.now + 2000000));
	ck_assert_int_eq(s.ops[p2].status, PKV_S_OK);
	assert_checks(&s);
	sim_free(&s);
}
END_TEST

/*
 * The sweep's seeds that configure observers (sim_random_run: two of five
 * or seven daemons, killed, cut off and holding lifetimes among the
 * faults), each checked as the sweep checks it.
 */
START_TEST(sweep_with_observers_keeps_every_rule)
{
	unsigned runs = 0, problems = 0;
	char err[300], first[300] = "";
	uint64_t first_seed = 0;
	for (uint64_t seed = 3; runs < 60; seed += 4) {
		if (seed % 3 == 0)
			continue; /* three daemons: no room for observers */
		struct sim_figures fig;
		unsigned pr = sim_random_run(seed, err, sizeof(err), &fig);
		ck_assert_uint_eq(fig.observers, 2);
		if (pr && !problems) {
			snprintf(first, sizeof(first), "%s", err);
			first_seed = seed;
		}
		problems += pr;
		runs++;
	}
	ck_assert_msg(problems == 0, "%u problems; first at seed %" PRIu64 ": %s", problems,
		      first_seed, first);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("observers");
	SIM_CASE(s, observers_cannot_form_a_second_majority, 120);
	SIM_CASE(s, observer_process_exit_ends_the_key_on_the_other_observer, 120);
	SIM_CASE(s, killed_observer_ends_its_bindings_everywhere_and_no_quorum_changes, 120);
	SIM_CASE(s, sweep_with_observers_keeps_every_rule, 120);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
