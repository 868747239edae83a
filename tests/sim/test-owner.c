// SPDX-License-Identifier: MIT
/*
 * test-owner.c — an owner learns its own key (docs/design.md §6.2, "A put
 * whose outcome is unknown"), in the simulated cluster (tests/lib/sim.h).
 *
 * A put bound to one of the owner's processes times out with its value
 * accepted at one voter only; another daemon's later round meets that
 * value and chooses it (Paxos: it must). The owner watches its processes
 * only for the values it learned, and it hears of this one from nobody: as
 * an observer it gets no CHOSEN, as a voter it may lose it. When the
 * process then exits — after the owner read the key back, or before —
 * the key must still end everywhere. The fourth case: a forwarded put
 * answered OK with another value before its FORWARD_REPLY came, whose copy
 * at the primary chooses the owner's value in the next generation.
 *
 * Built against pkv_paxos (every case passes) and against
 * pkv_paxos_broken_owner_read, whose owner does not read back its puts of
 * unknown outcome; there each case must fail (meson: should_fail,
 * CK_RUN_CASE).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim-case.h"
#include "sim.h"

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

/*
 * The script's faults. While `owner_cut`, the owner's ACCEPTs reach
 * `acceptor` only (its PREPAREs and everything else pass), so its value is
 * accepted there and nowhere else. While `chosen_lost`, no CHOSEN reaches
 * the owner. While `adopting`, the PROMISEs of `mute` are lost, so that the
 * other daemon's majority is the one with `acceptor` in it.
 */
struct script {
	unsigned owner, acceptor, mute;
	bool owner_cut, chosen_lost, adopting;
};

static uint64_t script_filter(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			      void *arg)
{
	(void)s;
	const struct script *sc = arg;
	if (sc->owner_cut && from == sc->owner && m->type == PKV_MSG_ACCEPT && to != sc->acceptor)
		return SIM_FILTER_DROP;
	if (sc->chosen_lost && to == sc->owner && m->type == PKV_MSG_CHOSEN)
		return SIM_FILTER_DROP;
	if (sc->adopting && from == sc->mute && m->type == PKV_MSG_PROMISE)
		return SIM_FILTER_DROP;
	return SIM_FILTER_PASS;
}

/*
 * The owner's bound put of k0 times out with its value at one voter; then
 * `other` puts k0 and its round chooses the owner's value; then the
 * process exits — with `exit_first`, at once, before the owner could
 * have read the key back. Returns after a generous settle; the caller
 * checks.
 */
static void unknown_outcome_then_exit(struct sim *s, struct script *sc, unsigned other,
				      bool exit_first)
{
	sim_run_until(s, 50000);
	unsigned proc = sim_spawn(s, sc->owner);
	sim_set_filter(s, script_filter, sc);
	sc->owner_cut = true;
	sc->chosen_lost = true;
	struct sim_bind sb = { .mask = PKV_BIND_PID, .proc = proc };
	size_t put = sim_put_bound(s, sc->owner, 0, "owned", &sb, 300000, false);
	ck_assert(sim_run_until_done(s, s->now + 1000000));
	ck_assert_msg(s->ops[put].status == PKV_S_TIMEOUT, "the owner's put ended with %d",
		      s->ops[put].status);
	struct store_entry *e = sim_entry(s, sc->acceptor, 0);
	ck_assert_msg(e && e->accepted_value.len == 5 &&
			      !memcmp(e->accepted_value.p, "owned", 5),
		      "node %u did not accept the owner's value", sc->acceptor);
	/*
	 * The owner's messages are no longer lost: only the CHOSEN to it is.
	 * The other put comes before the owner could read its key back.
	 */
	sc->owner_cut = false;
	sim_run_until(s, s->now + 20000);
	sc->adopting = true;
	size_t adopt = sim_put(s, other, 0, "other", 1000000, false);
	ck_assert(sim_run_until_done(s, s->now + 2000000));
	ck_assert_int_eq(s->ops[adopt].status, PKV_S_OK);
	ck_assert_msg(s->ops[adopt].result_len == 5 && !memcmp(s->ops[adopt].result, "owned", 5),
		      "node %u's put chose its own value, not the owner's", other);
	sc->adopting = false;
	if (exit_first) {
		ck_assert_uint_eq(sim_chosen_gen(s, sc->owner, 0), 0);
	} else {
		sim_run_until(s, s->now + 100000);
		ck_assert_uint_ne(sim_chosen_gen(s, other, 0), 0);
	}
	sim_proc_kill(s, proc);
	/* Well past any retransmission and read-back backoff. */
	sim_run_until(s, s->now + 20000000);
}

/*
 * One case on n daemons (the last `observers` of them observers): the
 * script above, then the key must be gone from every store and every
 * check must pass.
 */
static void run_case(uint64_t seed, unsigned n, unsigned observers, struct script sc,
		     unsigned other, bool exit_first)
{
	struct sim s;
	struct sim_config c = { .seed = seed, .n = n, .observers = observers, .lat_min_us = 200,
				.lat_max_us = 2000 };
	sim_init(&s, &c);
	unknown_outcome_then_exit(&s, &sc, other, exit_first);
	char err[300];
	ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
	for (unsigned i = 1; i <= n; i++)
		ck_assert_msg(sim_chosen_gen(&s, i, 0) == 0,
			      "node %u still holds k0, bound to a process that exited 20 s ago", i);
	ck_assert_msg(sim_check_lifetimes(&s, err, sizeof(err)) == 0, "%s", err);
	sim_free(&s);
}

START_TEST(observer_owner_ends_a_key_chosen_after_its_put_timed_out)
{
	/* Five daemons, 4 and 5 observers: an observer gets no CHOSEN at all. */
	run_case(11575, 5, 2, (struct script){ .owner = 5, .acceptor = 1, .mute = 3 }, 2, false);
}
END_TEST

START_TEST(voter_owner_ends_a_key_chosen_after_its_put_timed_out)
{
	/*
	 * Three voters; the owner, node 3, accepts its own value, which is
	 * chosen by node 1's round; the CHOSEN to node 3 is lost.
	 */
	run_case(11576, 3, 0, (struct script){ .owner = 3, .acceptor = 3, .mute = 2 }, 1, false);
}
END_TEST

START_TEST(observer_owner_ends_a_key_whose_process_exited_before_it_learned)
{
	/* As the first case, but the process exits before the owner reads. */
	run_case(11577, 5, 2, (struct script){ .owner = 5, .acceptor = 1, .mute = 3 }, 2, true);
}
END_TEST

/*
 * A forwarded put whose answer is lost (docs/design.md §6.2). The owner's
 * bound put meets a round of another daemon's, backs off and forwards to
 * the key's primary, whose rounds are stalled; the owner learns the
 * generation's value, another one, which answers its put OK. Its process
 * exits, and that generation ends. The primary's copy of the put runs on
 * until the owner's deadline: it goes on in the next generation and
 * chooses the owner's value there, and neither its FORWARD_REPLY nor any
 * CHOSEN reaches the owner.
 */
struct fwd_script {
	unsigned owner, prim, other;
	bool hide_owner;  /* the key's PREPAREs, ACCEPTs and CHOSENs to the owner are lost */
	bool owner_slow;   /* the owner's ACCEPTs are lost: its fast round gets no answer */
	bool prim_stalled; /* the primary's PREPAREs and ACCEPTs are lost */
	bool owner_deaf;   /* FORWARD_REPLY and CHOSEN to the owner are lost */
};

static uint64_t fwd_filter(struct sim *s, uint32_t from, uint32_t to, const struct pkv_msg *m,
			   void *arg)
{
	(void)s;
	const struct fwd_script *sc = arg;
	bool round = m->type == PKV_MSG_PREPARE || m->type == PKV_MSG_ACCEPT;
	if (sc->hide_owner && to == sc->owner && (round || m->type == PKV_MSG_CHOSEN))
		return SIM_FILTER_DROP;
	/* The primary never hears the first value chosen: its copy must run on. */
	if (to == sc->prim && m->type == PKV_MSG_CHOSEN)
		return SIM_FILTER_DROP;
	if (sc->owner_slow && from == sc->owner && m->type == PKV_MSG_ACCEPT)
		return SIM_FILTER_DROP;
	if (sc->prim_stalled && from == sc->prim && round)
		return SIM_FILTER_DROP;
	if (sc->owner_deaf && to == sc->owner &&
	    (m->type == PKV_MSG_FORWARD_REPLY || m->type == PKV_MSG_CHOSEN))
		return SIM_FILTER_DROP;
	return SIM_FILTER_PASS;
}

START_TEST(owner_ends_a_key_its_forwarded_put_chose_after_it_was_answered)
{
	struct sim s;
	struct sim_config c = { .seed = 16207, .n = 3, .lat_min_us = 200, .lat_max_us = 2000 };
	sim_init(&s, &c);
	sim_run_until(&s, 50000);
	struct fwd_script sc = { .prim = paxos_primary(s.nodes[1].p, b("PaxosKV"), b("k0")) };
	sc.owner = sc.prim == 1 ? 2 : 1;
	sc.other = 6 - sc.prim - sc.owner;
	sim_set_filter(&s, fwd_filter, &sc);

	/* Generation 1: the other daemon's value, bound to its process. */
	sc.hide_owner = true;
	unsigned first_proc = sim_spawn(&s, sc.other);
	struct sim_bind fb = { .mask = PKV_BIND_PID, .proc = first_proc };
	size_t first = sim_put_bound(&s, sc.other, 0, "first", &fb, 1000000, false);
	ck_assert(sim_run_until_done(&s, s.now + 1000000));
	ck_assert_int_eq(s.ops[first].status, PKV_S_OK);
	ck_assert_uint_eq(sim_chosen_gen(&s, sc.owner, 0), 0);
	ck_assert_uint_eq(sim_chosen_gen(&s, sc.prim, 0), 0);

	/*
	 * The owner's put: its fast round goes unanswered, and its classic
	 * round, the lowest it may take (it saw none of the key) from a lower
	 * node id, is below that round's promise: it backs off and forwards.
	 */
	sc.hide_owner = false;
	sc.owner_slow = true;
	sc.prim_stalled = true;
	unsigned proc = sim_spawn(&s, sc.owner);
	struct sim_bind sb = { .mask = PKV_BIND_PID, .proc = proc };
	uint64_t fwd0 = paxos_stats(s.nodes[sc.owner].p)->forwards;
	size_t put = sim_put_bound(&s, sc.owner, 0, "owned", &sb, 2000000, false);
	uint64_t t0 = s.now;
	while (paxos_stats(s.nodes[sc.owner].p)->forwards == fwd0 && s.now < t0 + 1000000)
		sim_run_until(&s, s.now + 1000);
	ck_assert_msg(paxos_stats(s.nodes[sc.owner].p)->forwards > fwd0,
		      "the owner's put did not forward");
	sc.owner_slow = false;
	sc.owner_deaf = true;

	/* The owner learns generation 1 (a get): its put is answered with it. */
	size_t get = sim_get(&s, sc.owner, 0, 500000, false);
	while (!s.ops[put].done && s.now < t0 + 1500000)
		sim_run_until(&s, s.now + 1000);
	ck_assert_int_eq(s.ops[get].status, PKV_S_OK);
	ck_assert_int_eq(s.ops[put].status, PKV_S_OK);
	ck_assert_msg(s.ops[put].result_len == 5 && !memcmp(s.ops[put].result, "first", 5),
		      "the owner's put was not answered with the first value");

	/* The process exits; generation 1 ends; the primary goes on. */
	sim_proc_kill(&s, proc);
	sim_run_until(&s, s.now + 20000);
	sim_proc_kill(&s, first_proc);
	sim_run_until(&s, s.now + 20000);
	sc.prim_stalled = false;
	while (sim_chosen_gen(&s, sc.prim, 0) < 2 && s.now < t0 + 2000000)
		sim_run_until(&s, s.now + 1000);
	struct store_entry *e = sim_entry(&s, sc.prim, 0);
	ck_assert_msg(e && e->chosen && e->chosen_value.len == 5 &&
			      !memcmp(e->chosen_value.p, "owned", 5),
		      "the primary did not choose the owner's value in a later generation");

	/* Well past any retransmission and read-back backoff. */
	sim_run_until(&s, s.now + 20000000);
	char err[300];
	ck_assert_msg(sim_check(&s, err, sizeof(err)) == 0, "%s", err);
	for (unsigned i = 1; i <= 3; i++)
		ck_assert_msg(sim_chosen_gen(&s, i, 0) == 0,
			      "node %u still holds k0, bound to a process that exited 20 s ago", i);
	ck_assert_msg(sim_check_lifetimes(&s, err, sizeof(err)) == 0, "%s", err);
	sim_free(&s);
}
END_TEST

static Suite *owner_suite(void)
{
	Suite *s = suite_create("owner");
	SIM_CASE(s, observer_owner_ends_a_key_chosen_after_its_put_timed_out, 60);
	SIM_CASE(s, voter_owner_ends_a_key_chosen_after_its_put_timed_out, 60);
	SIM_CASE(s, observer_owner_ends_a_key_whose_process_exited_before_it_learned, 60);
	SIM_CASE(s, owner_ends_a_key_its_forwarded_put_chose_after_it_was_answered, 60);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(owner_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
