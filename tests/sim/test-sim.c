// SPDX-License-Identifier: MIT
/*
 * test-sim.c — the paxos core in a simulated cluster (tests/lib/sim.h).
 *
 * Built twice: against pkv_paxos (every test must pass), and with
 * SIM_BROKEN against pkv_paxos_broken, whose acceptor breaks one rule; there
 * the only test asserts that the seed sweep does find a violation, i.e. that
 * the checker can fail.
 *
 * Environment:
 *   PKV_SIM_SEEDS=N   seeds in the sweep (meson passes -Dsim_seeds)
 *   PKV_SIM_SEED=S    replay only seed S
 *   PKV_SIM_DEBUG=1   with a replay: print each node's configuration at the end
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static const char *prog = "test-sim";

#define CHUNK 100u

static unsigned env_uint(const char *name, unsigned def)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static __attribute__((unused)) double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static __attribute__((unused)) unsigned n_seeds(void)
{
	return env_uint("PKV_SIM_SEEDS", 2000);
}

static __attribute__((unused)) bool replay_mode(uint64_t *seed)
{
	const char *v = getenv("PKV_SIM_SEED");
	if (!v || !*v)
		return false;
	*seed = strtoull(v, NULL, 10);
	return true;
}

/*
 * docs/design.md §6.3: an acceptor's answer leaves only once the record it
 * reveals is on disk. Three durable nodes whose syncs take 20 ms; node1
 * puts "alpha" in the fast round; 5 ms later, before their syncs are done,
 * nodes 2 and 3 are killed and restarted (their logs hold nothing yet);
 * node1 is cut off, and node2 puts "omega". Had 2 and 3 answered before
 * their votes were on disk, alpha was chosen at F and answered, then
 * forgotten by the majority that chooses omega: two values in one
 * generation. With the rule, alpha was never chosen. Returns the problems
 * sim_check finds.
 */
#if (!defined(SIM_BROKEN) && !defined(SIM_BROKEN_GC)) || defined(SIM_BROKEN_HOLD)
static unsigned crash_between_answer_and_sync(char *err, size_t errlen)
{
	struct sim s;
	struct sim_config c = { .seed = 11, .n = 3, .lat_min_us = 200, .lat_max_us = 400,
				.durable = true, .sync_min_us = 20000, .sync_max_us = 20000 };
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	size_t a = sim_put(&s, 1, 0, "alpha", 3000000, false);
	sim_run_until(&s, s.now + 5000);
	sim_kill(&s, 2);
	sim_kill(&s, 3);
	sim_isolate(&s, 1, true);
	sim_restart(&s, 2);
	sim_restart(&s, 3);
	sim_run_until(&s, s.now + 20000);
	size_t z = sim_put(&s, 2, 0, "omega", 2000000, false);
	sim_run_until_done(&s, s.now + 2500000);
	sim_heal(&s);
	for (unsigned n = 1; n <= 3; n++)
		sim_get(&s, n, 0, 2000000, false);
	sim_run_until_done(&s, s.now + 4000000);
	unsigned problems = sim_check(&s, err, errlen);
	fprintf(stderr, "crash between answer and sync: put alpha on node1 %s '%.*s', put omega on "
			"node2 %s '%.*s', %u problem(s)%s%s\n",
		s.ops[a].done ? "answered" : "pending", (int)s.ops[a].result_len,
		(const char *)s.ops[a].result, s.ops[z].done ? "answered" : "pending",
		(int)s.ops[z].result_len, (const char *)s.ops[z].result, problems,
		problems ? ": " : "", problems ? err : "");
	sim_free(&s);
	return problems;
}
#endif

#if !defined(SIM_BROKEN) && !defined(SIM_BROKEN_GC)

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

/* One chunk of the seed sweep per loop iteration, so figures print as it goes. */
START_TEST(random_histories_keep_agreement)
{
	uint64_t seed;
	uint64_t first = (uint64_t)_i * CHUNK + 1, last = first + CHUNK - 1;
	if (replay_mode(&seed)) {
		if (_i != 0)
			return;
		first = last = seed;
	} else if (last > n_seeds()) {
		last = n_seeds();
	}
	double t0 = wall();
	size_t ops = 0;
	uint64_t delivered = 0, simt = 0, rounds = 0, conflicts = 0, forwards = 0;
	uint64_t fast = 0, fast_chosen = 0, fast_refused = 0;
	unsigned kills = 0, parts = 0, durable = 0, whole = 0;
	uint64_t bound = 0, invalid = 0, erasures = 0, pkills = 0;
	unsigned drops = 0, drops_ok = 0, changes = 0;
	uint64_t conf_moves = 0, late_old = 0, collected = 0;
	for (uint64_t sd = first; sd <= last; sd++) {
		char err[600];
		struct sim_figures fig;
		unsigned pr = sim_random_run(sd, err, sizeof(err), &fig);
		if (pr)
			ck_abort_msg("seed %" PRIu64 " (%u nodes): %u problem(s): %s\n"
				     "  replay: PKV_SIM_SEED=%" PRIu64 " %s",
				     sd, fig.n, pr, err, sd, prog);
		ops += fig.ops;
		delivered += fig.delivered;
		simt += fig.sim_time_us;
		rounds += fig.rounds;
		fast += fig.fast_rounds;
		fast_chosen += fig.fast_chosen;
		fast_refused += fig.fast_refused;
		conflicts += fig.conflicts;
		forwards += fig.forwards;
		kills += fig.kills;
		parts += fig.partitions;
		durable += fig.durable;
		whole += fig.whole_cluster_kills;
		bound += fig.bound_puts;
		invalid += fig.invalid_puts;
		erasures += fig.erasures;
		pkills += fig.proc_kills;
		drops += fig.drops;
		drops_ok += fig.drops_ok;
		changes += fig.changes;
		conf_moves += fig.conf_changes;
		late_old += fig.late_old;
		collected += fig.collected;
	}
	if (first <= last)
		fprintf(stderr,
			"sim: seeds %" PRIu64 "..%" PRIu64 ": %zu ops, %" PRIu64 " rounds, %" PRIu64
			" fast rounds (%" PRIu64 " chosen fast, %" PRIu64 " fast votes refused), %" PRIu64
			" conflicts, %" PRIu64 " forwards, %u kills (%u seeds durable, %u whole-cluster"
			" kills), %u partitions, %" PRIu64
			" messages, %" PRIu64 " bound puts (%" PRIu64 " invalid), %" PRIu64
			" process deaths, %" PRIu64 " erasures, %u drops (%u ok), %u voter changes"
			" (%" PRIu64 " configuration moves), %" PRIu64 " tombstones collected, %" PRIu64
			" old-generation messages sent after collection, %.1f s simulated, %.2f s wall\n",
			first, last, ops, rounds, fast, fast_chosen, fast_refused, conflicts, forwards, kills, durable, whole, parts,
			delivered, bound,
			invalid, pkills, erasures, drops, drops_ok, changes, conf_moves, collected,
			late_old, simt / 1e6,
			wall() - t0);
}
END_TEST

/*
 * docs/design.md §4.6, in one history: key 0 lives 100 ms, expires, and
 * every node collects its tombstone (collection waits 2 x ballot_life =
 * 300 ms past the acknowledgements). Then node 2 sends node 3 an ACCEPT
 * of the ended generation (a message of that generation after the
 * collection), and node 3 puts the key again: the old message changes
 * nothing, the put wins in a generation above the first, and the history
 * checks. Returns NULL, or what went wrong.
 */
static const char *collected_key_goes_on_in_a_higher_generation(char *err, size_t len)
{
	struct sim s;
	struct sim_config c = { .seed = 3, .n = 3, .lat_min_us = 200, .lat_max_us = 2000 };
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	struct sim_bind sb = { .mask = PKV_BIND_UNTIL, .ttl_ms = 100 };
	size_t a = sim_put_bound(&s, 1, 0, "first", &sb, 1000000, false);
	sim_run_until(&s, s.now + 1500000);
	const char *why = NULL;
	uint64_t collected = 0;
	for (unsigned n = 1; n <= 3; n++)
		collected += paxos_stats(s.nodes[n].p)->tombstones_collected;
	if (s.ops[a].status != PKV_S_OK || s.ops[a].gen != 1)
		why = "the first put did not succeed in generation 1";
	else if (collected < 3)
		why = "not every node collected the tombstone";
	struct pkv_msg old = {
		.type = PKV_MSG_ACCEPT,
		.bucket = b("PaxosKV"),
		.key = b("k0"),
		.gen = 1,
		.ballot = { 5, 2 },
		.value = b("zombie"),
	};
	sim_forge(&s, 2, 3, &old);
	sim_run_until(&s, s.now + 50000);
	size_t z = sim_put(&s, 3, 0, "second", 1000000, false);
	sim_run_until_done(&s, s.now + 2000000);
	if (!why && (s.ops[z].status != PKV_S_OK || s.ops[z].result_len != 6 ||
		     memcmp(s.ops[z].result, "second", 6)))
		why = "the put after collection did not choose its value";
	else if (!why && s.ops[z].gen <= s.ops[a].gen)
		why = "the key came back in a generation not above its first";
	if (!why && sim_check(&s, err, len))
		why = err;
	if (why != err)
		snprintf(err, len, "%s (generations %" PRIu64 " then %" PRIu64 ", %" PRIu64
			 " collected)", why ? why : "ok", s.ops[a].gen, s.ops[z].gen, collected);
	sim_free(&s);
	return why ? err : NULL;
}

START_TEST(collected_key_is_put_again_in_a_higher_generation)
{
	char err[400];
	const char *why = collected_key_goes_on_in_a_higher_generation(err, sizeof(err));
	ck_assert_msg(!why, "%s", why);
}
END_TEST

/*
 * docs/design.md §4.6, "Durable restart": the durable log after a
 * collection. Durable nodes whose syncs take up to 3 ms; k0 lives 100 ms
 * and every node collects it (its number becomes a hole, its generation
 * the floor's), k1 keeps a value. Then the whole cluster is killed and
 * restarted from what its syncs wrote: the floor and k1 are back, and k0
 * is put again in a generation above its first.
 */
START_TEST(durable_restart_after_collection_keeps_the_floor_and_the_live_keys)
{
	struct sim s;
	struct sim_config c = { .seed = 5, .n = 3, .lat_min_us = 200, .lat_max_us = 2000,
				.durable = true, .sync_max_us = 3000 };
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	struct sim_bind sb = { .mask = PKV_BIND_UNTIL, .ttl_ms = 100 };
	size_t a = sim_put_bound(&s, 1, 0, "first", &sb, 1000000, false);
	sim_run_until(&s, s.now + 20000);
	size_t k1 = sim_put(&s, 2, 1, "kept", 1000000, false);
	sim_run_until(&s, s.now + 1500000);
	uint64_t collected = 0;
	for (unsigned n = 1; n <= 3; n++)
		collected += paxos_stats(s.nodes[n].p)->tombstones_collected;
	ck_assert_int_eq(s.ops[a].status, PKV_S_OK);
	ck_assert_int_eq(s.ops[k1].status, PKV_S_OK);
	ck_assert_uint_eq(collected, 3);
	for (unsigned n = 1; n <= 3; n++)
		sim_kill(&s, n);
	sim_run_until(&s, s.now + 20000);
	for (unsigned n = 1; n <= 3; n++)
		sim_restart(&s, n);
	sim_run_until(&s, s.now + 50000);
	size_t g = sim_get(&s, 3, 1, 1000000, false);
	size_t z = sim_put(&s, 3, 0, "second", 1000000, false);
	ck_assert(sim_run_until_done(&s, s.now + 2000000));
	ck_assert_int_eq(s.ops[g].status, PKV_S_OK);
	ck_assert_uint_eq(s.ops[g].result_len, 4);
	ck_assert(!memcmp(s.ops[g].result, "kept", 4));
	ck_assert_int_eq(s.ops[z].status, PKV_S_OK);
	ck_assert_msg(s.ops[z].gen > s.ops[a].gen, "k0 came back in generation %" PRIu64
		      " after %" PRIu64, s.ops[z].gen, s.ops[a].gen);
	char err[300];
	ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
	sim_free(&s);
}
END_TEST

static struct sim_config quiet(uint64_t seed, unsigned n)
{
	return (struct sim_config){ .seed = seed, .n = n, .lat_min_us = 200, .lat_max_us = 2000 };
}

START_TEST(two_proposers_never_choose_different_values)
{
	/* Same instant, same key, different values, on two nodes; lossy. */
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sim s;
		struct sim_config c = quiet(seed, 3 + 2 * (seed % 3));
		c.loss_pm = 50;
		c.dup_pm = 20;
		sim_init(&s, &c);
		sim_run_until(&s, 50000);
		size_t a = sim_put(&s, 1, 0, "alpha", 3000000, false);
		size_t z = sim_put(&s, 2, 0, "omega", 3000000, false);
		ck_assert(sim_run_until_done(&s, 4000000));
		ck_assert_int_eq(s.ops[a].status, PKV_S_OK);
		ck_assert_int_eq(s.ops[z].status, PKV_S_OK);
		ck_assert_uint_eq(s.ops[a].result_len, s.ops[z].result_len);
		ck_assert(!memcmp(s.ops[a].result, s.ops[z].result, s.ops[a].result_len));
		char err[300];
		ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "seed %" PRIu64 ": %s", seed,
			      err);
		sim_free(&s);
	}
}
END_TEST

START_TEST(put_returns_the_earlier_chosen_value)
{
	struct sim s;
	struct sim_config c = quiet(7, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	size_t a = sim_put(&s, 1, 0, "first", 1000000, false);
	ck_assert(sim_run_until_done(&s, 2000000));
	size_t z = sim_put(&s, 4, 0, "second", 1000000, false);
	ck_assert(sim_run_until_done(&s, 3000000));
	ck_assert_int_eq(s.ops[a].status, PKV_S_OK);
	ck_assert_int_eq(s.ops[z].status, PKV_S_OK);
	ck_assert_uint_eq(s.ops[z].result_len, 5);
	ck_assert(!memcmp(s.ops[z].result, "first", 5));
	sim_free(&s);
}
END_TEST

START_TEST(get_finishes_interrupted_round)
{
	/* Node 2's acceptor alone accepted "x" (the proposer died mid-round). */
	struct sim s;
	struct sim_config c = quiet(3, 3);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	struct store_entry *e = store_lookup(s.nodes[2].store, b("PaxosKV"), b("k0"), true);
	struct pkv_ballot bal = { .round = 1, .node = 1 };
	ck_assert_int_eq(store_set_accepted(s.nodes[2].store, e, bal, b("x")), 0);
	e->promised = bal;
	/*
	 * Asked on node 2, so its value is among the first majority of answers
	 * (a majority answering "nothing" first would rightly be not found).
	 */
	size_t g = sim_get(&s, 2, 0, 1000000, false);
	ck_assert(sim_run_until_done(&s, 2000000));
	ck_assert_int_eq(s.ops[g].status, PKV_S_OK);
	ck_assert_uint_eq(s.ops[g].result_len, 1);
	ck_assert(s.ops[g].result[0] == 'x');
	/* The round made it chosen: a later put gets "x" too. */
	size_t p = sim_put(&s, 1, 0, "y", 1000000, false);
	ck_assert(sim_run_until_done(&s, 3000000));
	ck_assert(s.ops[p].result[0] == 'x');
	ck_assert_uint_ge(paxos_stats(s.nodes[2].p)->rounds_started, 1);
	sim_free(&s);
}
END_TEST

START_TEST(get_of_unwritten_key_is_not_found)
{
	struct sim s;
	struct sim_config c = quiet(4, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	size_t g = sim_get(&s, 2, 1, 1000000, false);
	ck_assert(sim_run_until_done(&s, 2000000));
	ck_assert_int_eq(s.ops[g].status, PKV_S_NOT_FOUND);
	sim_free(&s);
}
END_TEST

START_TEST(restarted_acceptor_answers_nothing_until_synced)
{
	struct sim s;
	struct sim_config c = quiet(5, 3);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	size_t a = sim_put(&s, 1, 0, "kept", 1000000, false);
	ck_assert(sim_run_until_done(&s, 1000000));
	ck_assert_int_eq(s.ops[a].status, PKV_S_OK);

	/* Node 3 restarts while node 2 is unreachable: no synced majority. */
	sim_kill(&s, 3);
	sim_isolate(&s, 2, true);
	sim_restart(&s, 3);
	sim_run_until(&s, s.now + 500000);
	ck_assert(!paxos_synced(s.nodes[3].p));
	struct pkv_msg prep = {
		.type = PKV_MSG_PREPARE,
		.bucket = b("PaxosKV"),
		.key = b("k0"),
		.gen = 1,
		.ballot = { .round = 99, .node = 1 },
		.req = 1,
	};
	uint64_t dropped = paxos_stats(s.nodes[3].p)->dropped_unsynced;
	paxos_receive(s.nodes[3].p, 1, &prep, s.now);
	ck_assert_uint_eq(s.nodes[3].ob.n, 0);
	prep.type = PKV_MSG_ACCEPT;
	prep.value = b("evil");
	paxos_receive(s.nodes[3].p, 1, &prep, s.now);
	ck_assert_uint_eq(s.nodes[3].ob.n, 0);
	ck_assert_uint_eq(paxos_stats(s.nodes[3].p)->dropped_unsynced, dropped + 2);

	/* Node 2 is back: node 3 copies both peers and then knows "kept". */
	sim_heal(&s);
	sim_run_until(&s, s.now + 500000);
	ck_assert(paxos_synced(s.nodes[3].p));
	struct store_entry *e = store_lookup(s.nodes[3].store, b("PaxosKV"), b("k0"), false);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->has_accepted);
	ck_assert(pkv_bytes_eq(e->accepted_value, b("kept")));
	ck_assert_uint_eq(paxos_epoch(s.nodes[3].p), 0);
	sim_free(&s);
}
END_TEST

START_TEST(no_quorum_returns_promptly)
{
	struct sim s;
	struct sim_config c = quiet(6, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	sim_isolate(&s, 1, true);
	sim_run_until(&s, s.now + 100000);
	size_t a = sim_put(&s, 1, 0, "v", 5000000, false);
	size_t g = sim_get(&s, 1, 0, 5000000, false);
	ck_assert(s.ops[a].done);
	ck_assert(s.ops[g].done);
	ck_assert_int_eq(s.ops[a].status, PKV_S_NO_QUORUM);
	ck_assert_int_eq(s.ops[g].status, PKV_S_NO_QUORUM);
	ck_assert_uint_eq(s.ops[a].end, s.ops[a].start);
	sim_free(&s);
}
END_TEST

START_TEST(retry_waits_for_quorum)
{
	struct sim s;
	struct sim_config c = quiet(8, 3);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	sim_isolate(&s, 1, true);
	sim_run_until(&s, s.now + 100000);
	size_t a = sim_put(&s, 1, 0, "patient", 0, true);
	sim_run_until(&s, s.now + 2000000);
	ck_assert(!s.ops[a].done);
	sim_heal(&s);
	ck_assert(sim_run_until_done(&s, s.now + 1000000));
	ck_assert_int_eq(s.ops[a].status, PKV_S_OK);
	ck_assert(!memcmp(s.ops[a].result, "patient", 7));
	sim_free(&s);
}
END_TEST

START_TEST(contention_forwards_to_primary)
{
	/* Every node puts the same key at once: someone is nacked and forwards. */
	uint64_t forwards = 0, served = 0;
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct sim s;
		struct sim_config c = quiet(seed, 5);
		c.backoff_max_us = 5000;
		sim_init(&s, &c);
		sim_run_until(&s, 50000);
		for (unsigned n = 1; n <= 5; n++) {
			char v[8];
			snprintf(v, sizeof(v), "n%u", n);
			sim_put(&s, n, 2, v, 3000000, false);
		}
		ck_assert(sim_run_until_done(&s, 4000000));
		for (unsigned n = 1; n <= 5; n++) {
			forwards += paxos_stats(s.nodes[n].p)->forwards;
			served += paxos_stats(s.nodes[n].p)->forwards_served;
			ck_assert_int_eq(s.ops[n - 1].status, PKV_S_OK);
		}
		char err[300];
		ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
		sim_free(&s);
	}
	ck_assert_uint_gt(forwards, 0);
	ck_assert_uint_gt(served, 0);
}
END_TEST

START_TEST(keys_lists_every_written_key_once)
{
	struct sim s;
	struct sim_config c = quiet(9, 5);
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	for (unsigned k = 0; k < 4; k++)
		sim_put(&s, 1 + k % 5, k, "v", 1000000, false);
	ck_assert(sim_run_until_done(&s, 2000000));
	size_t q = sim_keys(&s, 3, 1000000);
	ck_assert(sim_run_until_done(&s, 3000000));
	ck_assert_int_eq(s.ops[q].status, PKV_S_OK);
	ck_assert_uint_eq(s.ops[q].n_keys, 4);
	sim_free(&s);
}
END_TEST

START_TEST(killed_majority_of_one_resyncs_and_agrees)
{
	/* Each node in turn is killed and restarted between writes. */
	struct sim s;
	struct sim_config c = quiet(10, 5);
	c.loss_pm = 30;
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	for (unsigned n = 1; n <= 5; n++) {
		char v[8];
		snprintf(v, sizeof(v), "r%u", n);
		sim_put(&s, n, n % 3, v, 1000000, false);
		ck_assert(sim_run_until_done(&s, s.now + 2000000));
		sim_kill(&s, n);
		sim_restart(&s, n);
		sim_run_until(&s, s.now + 500000);
		ck_assert(sim_all_synced(&s));
	}
	for (unsigned n = 1; n <= 5; n++)
		for (unsigned k = 0; k < 3; k++)
			sim_get(&s, n, k, 2000000, false);
	ck_assert(sim_run_until_done(&s, s.now + 3000000));
	char err[300];
	ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
	sim_free(&s);
}
END_TEST

START_TEST(acceptor_answers_only_once_its_record_is_on_disk)
{
	char err[600];
	ck_assert_msg(crash_between_answer_and_sync(err, sizeof(err)) == 0, "%s", err);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("rules");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, two_proposers_never_choose_different_values);
	tcase_add_test(tc, put_returns_the_earlier_chosen_value);
	tcase_add_test(tc, get_finishes_interrupted_round);
	tcase_add_test(tc, get_of_unwritten_key_is_not_found);
	tcase_add_test(tc, restarted_acceptor_answers_nothing_until_synced);
	tcase_add_test(tc, no_quorum_returns_promptly);
	tcase_add_test(tc, retry_waits_for_quorum);
	tcase_add_test(tc, contention_forwards_to_primary);
	tcase_add_test(tc, keys_lists_every_written_key_once);
	tcase_add_test(tc, killed_majority_of_one_resyncs_and_agrees);
	tcase_add_test(tc, acceptor_answers_only_once_its_record_is_on_disk);
	tcase_add_test(tc, collected_key_is_put_again_in_a_higher_generation);
	tcase_add_test(tc, durable_restart_after_collection_keeps_the_floor_and_the_live_keys);
	suite_add_tcase(s, tc);

	TCase *sweep = tcase_create("sweep");
	tcase_set_timeout(sweep, 600);
	uint64_t seed;
	unsigned chunks = replay_mode(&seed) ? 1 : (n_seeds() + CHUNK - 1) / CHUNK;
	tcase_add_loop_test(sweep, random_histories_keep_agreement, 0, (int)chunks);
	suite_add_tcase(s, sweep);
	return s;
}

#elif defined(SIM_BROKEN_GC)

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

/* The core of this build collects tombstones without their floor: the
 * scripted history must catch it. */
/*
 * docs/design.md §4.6, in one history: key 0 lives 100 ms, expires, and
 * every node collects its tombstone (collection waits 2 x ballot_life =
 * 300 ms past the acknowledgements). Then node 2 sends node 3 an ACCEPT
 * of the ended generation (a message of that generation after the
 * collection), and node 3 puts the key again: the old message changes
 * nothing, the put wins in a generation above the first, and the history
 * checks. Returns NULL, or what went wrong.
 */
static const char *collected_key_goes_on_in_a_higher_generation(char *err, size_t len)
{
	struct sim s;
	struct sim_config c = { .seed = 3, .n = 3, .lat_min_us = 200, .lat_max_us = 2000 };
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	struct sim_bind sb = { .mask = PKV_BIND_UNTIL, .ttl_ms = 100 };
	size_t a = sim_put_bound(&s, 1, 0, "first", &sb, 1000000, false);
	sim_run_until(&s, s.now + 1500000);
	const char *why = NULL;
	uint64_t collected = 0;
	for (unsigned n = 1; n <= 3; n++)
		collected += paxos_stats(s.nodes[n].p)->tombstones_collected;
	if (s.ops[a].status != PKV_S_OK || s.ops[a].gen != 1)
		why = "the first put did not succeed in generation 1";
	else if (collected < 3)
		why = "not every node collected the tombstone";
	struct pkv_msg old = {
		.type = PKV_MSG_ACCEPT,
		.bucket = b("PaxosKV"),
		.key = b("k0"),
		.gen = 1,
		.ballot = { 5, 2 },
		.value = b("zombie"),
	};
	sim_forge(&s, 2, 3, &old);
	sim_run_until(&s, s.now + 50000);
	size_t z = sim_put(&s, 3, 0, "second", 1000000, false);
	sim_run_until_done(&s, s.now + 2000000);
	if (!why && (s.ops[z].status != PKV_S_OK || s.ops[z].result_len != 6 ||
		     memcmp(s.ops[z].result, "second", 6)))
		why = "the put after collection did not choose its value";
	else if (!why && s.ops[z].gen <= s.ops[a].gen)
		why = "the key came back in a generation not above its first";
	if (!why && sim_check(&s, err, len))
		why = err;
	if (why != err)
		snprintf(err, len, "%s (generations %" PRIu64 " then %" PRIu64 ", %" PRIu64
			 " collected)", why ? why : "ok", s.ops[a].gen, s.ops[z].gen, collected);
	sim_free(&s);
	return why ? err : NULL;
}

START_TEST(checker_catches_collection_without_floor)
{
	(void)wall;
	(void)n_seeds;
	(void)replay_mode;
	char err[400];
	const char *why = collected_key_goes_on_in_a_higher_generation(err, sizeof(err));
	fprintf(stderr, "sim (collection without floor): %s\n", why ? why : "nothing found");
	ck_assert_msg(why, "the history found nothing wrong with a core that collects without floor");
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim-broken-gc");
	TCase *tc = tcase_create("can-fail");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, checker_catches_collection_without_floor);
	suite_add_tcase(s, tc);
	return s;
}

#else /* SIM_BROKEN */

#ifndef SIM_BROKEN_HOLD
/*
 * The acceptor of this build breaks one rule of phase 1b. The sweep must
 * catch it; the test fails if the checker finds nothing.
 */
START_TEST(checker_catches_broken_acceptor)
{
	uint64_t seed;
	uint64_t first = 1, last = n_seeds();
	if (replay_mode(&seed))
		first = last = seed;
	unsigned caught = 0;
	uint64_t first_caught = 0;
	char first_err[600] = "";
	double t0 = wall();
	uint64_t sd;
	for (sd = first; sd <= last && caught < 5; sd++) {
		char err[600];
		if (sim_random_run(sd, err, sizeof(err), NULL)) {
			if (!caught++) {
				first_caught = sd;
				snprintf(first_err, sizeof(first_err), "%s", err);
			}
		}
	}
	fprintf(stderr, "sim (broken acceptor): %u violating seed(s) in %" PRIu64
			" seeds, %.2f s; first: seed %" PRIu64 ": %s\n"
			"  replay: PKV_SIM_SEED=%" PRIu64 " %s\n",
		caught, sd - first, wall() - t0, first_caught, first_err, first_caught, prog);
	ck_assert_msg(caught > 0, "the checker found no violation with a broken acceptor");
}
END_TEST
#endif

#ifdef SIM_BROKEN_HOLD
/* The hold rule left out (pkv-hold-broken): the case above must fail. */
START_TEST(checker_catches_answer_before_sync)
{
	char err[600];
	ck_assert_msg(crash_between_answer_and_sync(err, sizeof(err)) > 0,
		      "no violation with answers sent before their records are on disk");
}
END_TEST
#endif

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim-broken");
	TCase *tc = tcase_create("can-fail");
	tcase_set_timeout(tc, 600);
#ifdef SIM_BROKEN_HOLD
	tcase_add_test(tc, checker_catches_answer_before_sync);
#else
	tcase_add_test(tc, checker_catches_broken_acceptor);
#endif
	suite_add_tcase(s, tc);
	return s;
}

#endif

int main(int argc, char **argv)
{
	(void)argc;
	prog = argv[0];
	SRunner *sr = srunner_create(sim_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
