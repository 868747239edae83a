// SPDX-License-Identifier: MIT
/*
 * test-lease.c — what a daemon past its lease may say of its learner
 * (docs/design.md §5.1, "The own learner past the lease"), in the simulated
 * cluster with the lease modelled (tests/lib/sim.h, cfg.lease).
 *
 * The fault both cases inject is the shape the scenario runner found (seed
 * 9400003): a daemon cut off while the majority ends a lifetime it holds,
 * back in contact but still without its lease, because the erasure sent to
 * it meanwhile does not arrive (every ERASE to it is lost). It is then the
 * first to answer a reader that does not know the generation ended: a
 * restarted daemon copying its store (SYNC), or a daemon that never learned
 * the key reading it (QUERY). Its learner still holds the value; were its
 * answer to say "chosen", the reader would take the value as a fact and a
 * get would answer it, well after the generation was seen ended. sim_check
 * reports that (cfg.late_read_us).
 *
 * Built against pkv_paxos (both cases pass) and against
 * pkv_paxos_broken_vouch, whose daemons say "chosen" past their lease too
 * (the rule left out of acceptor_on_query and sync_on_req); there each case
 * must fail (meson: should_fail, CK_RUN_CASE).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim-case.h"
#include "sim.h"

#define LATE_US 100000u /* a read this long after the end is a late one */

static struct sim_config lease_cfg(uint64_t seed, unsigned n)
{
	return (struct sim_config){.seed = seed,
				   .n = n,
				   .lat_min_us = 200,
				   .lat_max_us = 2000,
				   .lease = true,
				   .late_read_us = LATE_US};
}

/*
 * The fault, as a message filter: every ERASE to the lease-less node is
 * lost; `hidden` (0: none) never hears of k0 but the answers to its own
 * QUERYs; answers of kind `slow` to `reader` from anyone but the
 * lease-less node come 10 ms late, so its answer is the first.
 */
struct fault {
	unsigned lease_less, hidden, reader;
	enum pkv_msg_type slow;
};

static uint64_t fault_filter(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			     void *arg)
{
	(void)s;
	const struct fault *f = arg;
	bool k0 = m->key.len == 2 && !memcmp(m->key.p, "k0", 2);
	if (m->type == PKV_MSG_ERASE && to == f->lease_less)
		return SIM_FILTER_DROP;
	if (f->hidden && to == f->hidden && k0 && m->type != PKV_MSG_QUERY_REPLY)
		return SIM_FILTER_DROP;
	if (f->slow && m->type == f->slow && to == f->reader && from != f->lease_less)
		return 10000; /* within a retransmission: a request asked
			       * again would outdate the late answers */
	return SIM_FILTER_PASS;
}

/*
 * Node `owner` puts k0 bound to its own connectivity; then it is cut off
 * until the others have ended the binding, and a get on node `witness`
 * sees it ended. Returns the generation.
 */
static uint64_t end_while_cut_off(struct sim *s, unsigned owner, unsigned witness)
{
	sim_run_until(s, 50000); /* every lease held */
	struct sim_bind nb = {.mask = PKV_BIND_NODE, .node = owner};
	size_t op = sim_put_bound(s, owner, 0, "held", &nb, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[op].status, PKV_S_OK);
	uint64_t gen = s->ops[op].gen;
	sim_run_until(s, s->now + 50000); /* every learner has it */
	ck_assert_uint_eq(sim_chosen_gen(s, owner, 0), gen);

	sim_isolate(s, owner, true);
	sim_run_until(s, s->now + 5 * s->cfg.hb_us); /* counted lost, the binding ended */
	ck_assert_uint_eq(sim_chosen_gen(s, witness, 0), 0);
	ck_assert_uint_eq(sim_chosen_gen(s, owner, 0), gen); /* it cannot know */
	size_t seen = sim_get(s, witness, 0, 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[seen].status, PKV_S_NOT_FOUND);
	return gen;
}

/* The owner is back in contact, without its lease: its peers owe it an erasure. */
static void back_without_lease(struct sim *s, unsigned owner, uint64_t gen)
{
	sim_isolate(s, owner, false);
	sim_run_until(s, s->now + 10 * s->cfg.hb_us);
	ck_assert_msg(s->nodes[owner].lease_until < s->now,
		      "node %u regained its lease while owed an erasure", owner);
	ck_assert_uint_eq(sim_chosen_gen(s, owner, 0), gen);
	sim_run_until(s, s->now + 3 * LATE_US); /* well past the end */
}

static void assert_clean(const struct sim *s, size_t read)
{
	char err[300];
	ck_assert_msg(sim_check(s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(s->ops[read].done && !s->ops[read].lost, "the read did not complete");
	ck_assert_msg(s->ops[read].status == PKV_S_NOT_FOUND || s->ops[read].status == PKV_S_NO_QUORUM,
		      "the read answered status %d", s->ops[read].status);
}

START_TEST(copier_learns_nothing_from_a_lease_less_source)
{
	struct sim s;
	struct sim_config c = lease_cfg(51, 3);
	sim_init(&s, &c);
	struct fault f = {.lease_less = 3, .reader = 2, .slow = PKV_MSG_SYNC_REPLY};
	uint64_t gen = end_while_cut_off(&s, 3, 2);
	sim_set_filter(&s, fault_filter, &f);
	back_without_lease(&s, 3, gen);

	/* Node 2 restarts without state and copies; node 3's pages come first. */
	sim_kill(&s, 2);
	sim_restart(&s, 2);
	size_t read = sim_get(&s, 2, 0, 2000000, true);
	ck_assert(sim_run_until_done(&s, s.now + 3000000));
	assert_clean(&s, read);
	sim_free(&s);
}
END_TEST

START_TEST(query_answered_by_a_lease_less_node_is_no_fact)
{
	struct sim s;
	struct sim_config c = lease_cfg(52, 5);
	sim_init(&s, &c);
	/* Node 2 never hears of k0, so it owes node 3 nothing, and node 3's
	 * lease needs one more peer. */
	struct fault f = {.lease_less = 3, .hidden = 2};
	sim_set_filter(&s, fault_filter, &f);
	uint64_t gen = end_while_cut_off(&s, 3, 1);
	ck_assert_uint_eq(sim_chosen_gen(&s, 2, 0), 0);
	back_without_lease(&s, 3, gen);

	/* Node 2 reads k0, which it never saw: node 3 answers first. */
	f.reader = 2;
	f.slow = PKV_MSG_QUERY_REPLY;
	size_t read = sim_get(&s, 2, 0, 2000000, true);
	ck_assert(sim_run_until_done(&s, s.now + 3000000));
	assert_clean(&s, read);
	sim_free(&s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("lease");
	SIM_CASE(su, copier_learns_nothing_from_a_lease_less_source, 60);
	SIM_CASE(su, query_answered_by_a_lease_less_node_is_no_fact, 60);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
