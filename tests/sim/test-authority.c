// SPDX-License-Identifier: MIT
/*
 * test-authority.c — what one node's word can and cannot do
 * (docs/design.md §3.5 and §4.4): a holder of one node's key, speaking as
 * that node outside the core's rules, must not make any daemon learn a
 * value nobody proposed, nor erase a bucket that the voters did not decide
 * to drop. The simulator forges the messages (sim_forge); the cores with
 * the rule left out (pkv-paxos-broken-chosen, pkv-paxos-broken-drop) must
 * fail the case that checks it (tests/sim/meson.build).
 *
 * Run one: CK_RUN_CASE=<test name> build/tests/sim/test-authority
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-case.h"
#include "sim.h"

#define NKEYS 4

static struct sim_config quiet(uint64_t seed)
{
	return (struct sim_config){ .seed = seed, .n = 3, .lat_min_us = 200, .lat_max_us = 2000 };
}

static struct pkv_bytes bytes(const char *s)
{
	return (struct pkv_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

/* Three nodes up and synced, keys k0..k3 chosen: "v0".."v3". */
static void start(struct sim *s, uint64_t seed)
{
	struct sim_config c = quiet(seed);
	sim_init(s, &c);
	sim_run_until(s, 50000);
	ck_assert_msg(sim_all_synced(s), "the cluster did not bootstrap");
	for (unsigned k = 0; k < NKEYS; k++) {
		char v[8];
		snprintf(v, sizeof(v), "v%u", k);
		sim_put(s, 1 + k % 3, k, v, 2000000, false);
	}
	ck_assert_msg(sim_run_until_done(s, s->now + 3000000), "the puts did not finish");
	sim_run_until(s, s->now + 200000);
}

static void expect_clean(const struct sim *s)
{
	char err[400];
	unsigned pr = sim_check(s, err, sizeof(err));
	ck_assert_msg(pr == 0, "sim_check: %u problem(s): %s", pr, err);
}

/*
 * Node 2's key says, as node 2, that "forged:…" was chosen for a key the
 * cluster decided (k0) and for one it never saw (k9); neither value was
 * proposed. No learner may take it, and gets everywhere must answer what
 * the cluster chose.
 */
START_TEST(forged_chosen_is_learned_nowhere)
{
	struct sim s;
	start(&s, 7);
	const unsigned keys[2] = { 0, 9 };
	for (unsigned i = 0; i < 2; i++) {
		char kname[8];
		snprintf(kname, sizeof(kname), "k%u", keys[i]);
		for (unsigned to = 1; to <= 3; to++) {
			if (to == 2)
				continue;
			struct pkv_msg m = { .type = PKV_MSG_CHOSEN,
					     .bucket = bytes(PKV_DEFAULT_BUCKET),
					     .key = bytes(kname),
					     .gen = 1,
					     .ballot = { 40, 2 },
					     .value = bytes(SIM_FORGED "x") };
			sim_forge(&s, 2, to, &m);
		}
	}
	sim_run_until(&s, s.now + 500000);
	size_t g[4];
	for (unsigned n = 1; n <= 3; n++)
		g[n] = sim_get(&s, n, 9, 1000000, false);
	ck_assert(sim_run_until_done(&s, s.now + 3000000));
	for (unsigned n = 1; n <= 3; n++) {
		struct store_entry *e = sim_entry(&s, n, 9);
		ck_assert_msg(!e || !e->chosen, "node %u learned '%.*s' for k9", n,
			      e ? (int)e->chosen_value.len : 0,
			      e ? (const char *)e->chosen_value.p : "");
		ck_assert_msg(s.ops[g[n]].status == PKV_S_NOT_FOUND, "get k9 on node %u: status %d",
			      n, s.ops[g[n]].status);
	}
	expect_clean(&s);
	sim_free(&s);
}
END_TEST

/*
 * Node 2's key sends node 1 and node 3 a DROP of the bucket under a record
 * key that nobody proposed. Every key must stay as chosen, on every node.
 */
START_TEST(forged_drop_erases_nothing)
{
	struct sim s;
	start(&s, 11);
	uint8_t rec[2 + PKV_MAX_BUCKET];
	uint32_t n = pkv_drop_encode(rec, 2, (const uint8_t *)PKV_DEFAULT_BUCKET,
				     (uint32_t)strlen(PKV_DEFAULT_BUCKET));
	for (unsigned to = 1; to <= 3; to += 2) {
		struct pkv_msg d = { .type = PKV_MSG_DROP,
				     .bucket = { (const uint8_t *)PKV_DROP_BUCKET,
						 PKV_DROP_BUCKET_LEN },
				     .key = bytes("nobody-chose-me"),
				     .value = { rec, n },
				     .req = 4242 };
		sim_forge(&s, 2, to, &d);
	}
	sim_run_until(&s, s.now + 1000000);
	for (unsigned node = 1; node <= 3; node++)
		for (unsigned k = 0; k < NKEYS; k++) {
			struct store_entry *e = sim_entry(&s, node, k);
			ck_assert_msg(e && e->chosen && e->gen == 1,
				      "node %u lost k%u to a DROP nobody decided (gen %" PRIu64 ")",
				      node, k, e ? e->gen : 0);
		}
	expect_clean(&s);
	sim_free(&s);
}
END_TEST

/* The real thing: a drop decided by the voters ends every key on every node. */
START_TEST(decided_drop_erases_every_node)
{
	struct sim s;
	start(&s, 13);
	size_t d = sim_drop(&s, 3, 3000000);
	ck_assert(sim_run_until_done(&s, s.now + 4000000));
	ck_assert_int_eq(s.ops[d].status, PKV_S_OK);
	sim_run_until(&s, s.now + 500000);
	for (unsigned node = 1; node <= 3; node++)
		for (unsigned k = 0; k < NKEYS; k++) {
			struct store_entry *e = sim_entry(&s, node, k);
			ck_assert_msg(!e || (!e->chosen && e->gen >= 2),
				      "node %u still holds k%u after the drop", node, k);
		}
	expect_clean(&s);
	sim_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("authority");
	SIM_CASE(s, forged_chosen_is_learned_nowhere, 60);
	SIM_CASE(s, forged_drop_erases_nothing, 60);
	SIM_CASE(s, decided_drop_erases_every_node, 60);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
