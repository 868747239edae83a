// SPDX-License-Identifier: MIT
/*
 * test-paxos.c — one core, messages fed by hand: the rules of each role.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paxos.h"

struct fx {
	struct store *s;
	struct pkv_outbox ob;
	struct paxos *p;
	uint64_t now;
};

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

static struct pkv_ballot bal(uint64_t round, uint32_t node)
{
	return (struct pkv_ballot){ .round = round, .node = node };
}

/*
 * Node 1 of n, all peers connected and synced unless told otherwise. Puts
 * run classic rounds (phase 1 first) unless fx_fast is set: most tests here
 * check the classic protocol; the fast round has tests of its own.
 */
static bool fx_fast;

static unsigned fx_size; /* cluster_size when not 0 (else n) */

static void fx_init(struct fx *f, unsigned n, bool restarted, bool fresh, bool connect)
{
	struct paxos_config c = {
		.no_fast_put = !fx_fast,
		.fast_wait_us = 500,
		.self = 1,
		.n_nodes = n,
		.cluster_size = fx_size ? fx_size : n,
		.restarted = restarted,
		.fresh = fresh,
		.seed = 42,
		.retransmit_us = 1000,
		.backoff_max_us = 1000,
		.epoch_grace_us = 100000,
		.sync_page = 2,
		/* the restart quiet period (start_us 0 + 1 µs) is over at once */
		.restart_quiet_us = 1,
	};
	for (unsigned i = 0; i < n; i++)
		c.nodes[i] = i + 1;
	f->s = store_new();
	pkv_outbox_init(&f->ob);
	f->p = paxos_new(&c, f->s, &f->ob);
	ck_assert_ptr_nonnull(f->p);
	f->now = 1000;
	if (connect)
		for (unsigned i = 2; i <= n; i++)
			paxos_peer_update(f->p, i, true, PKV_MF_SYNCED, 0, f->now);
}

static void fx_free(struct fx *f)
{
	paxos_free(f->p);
	store_free(f->s);
	pkv_outbox_free(&f->ob);
}

static const struct pkv_msg *find(const struct fx *f, uint8_t type, uint32_t to)
{
	for (size_t i = 0; i < f->ob.n; i++)
		if (f->ob.v[i].msg.type == type && (to == UINT32_MAX || f->ob.v[i].to == to))
			return &f->ob.v[i].msg;
	return NULL;
}

static size_t count(const struct fx *f, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < f->ob.n; i++)
		n += f->ob.v[i].msg.type == type;
	return n;
}

static struct pkv_msg prepare(uint64_t round, uint32_t node)
{
	return (struct pkv_msg){ .type = PKV_MSG_PREPARE,
				 .bucket = b("B"),
				 .key = b("k"),
				 .gen = 1,
				 .ballot = bal(round, node),
				 .req = 7 };
}

static struct pkv_msg accept(uint64_t round, uint32_t node, const char *v)
{
	struct pkv_msg m = prepare(round, node);
	m.type = PKV_MSG_ACCEPT;
	m.value = b(v);
	return m;
}

/*
 * Teaches node 1 a chosen value as a real round does: it accepts the value
 * itself (the ACCEPTED it answers is not kept), then the proposer's CHOSEN
 * is evidence it can check (docs/design.md §3.5).
 */
static void fx_chosen(struct fx *f, uint32_t from, const struct pkv_msg *c)
{
	struct pkv_msg a = *c;
	a.type = PKV_MSG_ACCEPT;
	a.req = 0;
	size_t n0 = f->ob.n;
	paxos_receive(f->p, from, &a, f->now);
	f->ob.n = n0;
	paxos_receive(f->p, from, c, f->now);
}

START_TEST(acceptor_promises_prepare_above_promise)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(5, 2);
	paxos_receive(f.p, 2, &m, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_PROMISE, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_OK);
	ck_assert(!(r->flags & PKV_MF_HAS_VALUE));
	ck_assert_uint_eq(r->req, 7);
	ck_assert_int_eq(pkv_ballot_cmp(r->ballot, bal(5, 2)), 0);
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_rejects_prepare_below_promise)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(5, 3);
	paxos_receive(f.p, 3, &m, f.now);
	pkv_outbox_reset(&f.ob);
	m = prepare(5, 2); /* same round, lower node: a lower ballot */
	paxos_receive(f.p, 2, &m, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_PROMISE, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(!(r->flags & PKV_MF_OK));
	ck_assert_int_eq(pkv_ballot_cmp(r->accepted, bal(5, 3)), 0);
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_reports_highest_accepted_in_promise)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = accept(3, 2, "old");
	paxos_receive(f.p, 2, &m, f.now);
	m = accept(4, 3, "newer");
	paxos_receive(f.p, 3, &m, f.now);
	pkv_outbox_reset(&f.ob);
	m = prepare(9, 2);
	paxos_receive(f.p, 2, &m, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_PROMISE, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_OK);
	ck_assert(r->flags & PKV_MF_HAS_VALUE);
	ck_assert_int_eq(pkv_ballot_cmp(r->accepted, bal(4, 3)), 0);
	ck_assert(pkv_bytes_eq(r->value, b("newer")));
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_rejects_accept_below_promise)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(6, 3);
	paxos_receive(f.p, 3, &m, f.now);
	pkv_outbox_reset(&f.ob);
	m = accept(5, 2, "late");
	paxos_receive(f.p, 2, &m, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_ACCEPTED, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(!(r->flags & PKV_MF_OK));
	ck_assert_int_eq(pkv_ballot_cmp(r->accepted, bal(6, 3)), 0);
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert(!e->has_accepted);
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_accepts_at_promise_and_raises_promise)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(6, 3);
	paxos_receive(f.p, 3, &m, f.now);
	m = accept(6, 3, "v");
	paxos_receive(f.p, 3, &m, f.now);
	m = accept(8, 2, "w"); /* no prepare seen for 8: still allowed */
	paxos_receive(f.p, 2, &m, f.now);
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert(e->has_accepted);
	ck_assert(pkv_bytes_eq(e->accepted_value, b("w")));
	ck_assert_int_eq(pkv_ballot_cmp(e->promised, bal(8, 2)), 0);
	ck_assert_uint_eq(count(&f, PKV_MSG_ACCEPTED), 2);
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_ignores_other_generation)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(6, 3);
	m.gen = 0;
	paxos_receive(f.p, 3, &m, f.now);
	ck_assert_uint_eq(f.ob.n, 0);
	ck_assert_uint_eq(paxos_stats(f.p)->stale_gen, 1);
	fx_free(&f);
}
END_TEST

START_TEST(learner_counts_conflicting_chosen_as_violation)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = accept(1, 2, "a");
	m.type = PKV_MSG_CHOSEN;
	fx_chosen(&f, 2, &m);
	paxos_receive(f.p, 3, &m, f.now); /* the same again: fine */
	ck_assert_uint_eq(paxos_stats(f.p)->violations, 0);
	/* Another value on one peer's word alone is no evidence: ignored. */
	m.value = b("b");
	paxos_receive(f.p, 3, &m, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->violations, 0);
	/* Checked evidence of another value (accepted here, a voter's word): a violation. */
	m = accept(2, 3, "b");
	m.type = PKV_MSG_CHOSEN;
	fx_chosen(&f, 3, &m);
	ck_assert_uint_eq(paxos_stats(f.p)->violations, 1);
	size_t n;
	const struct paxos_event_rec *ev = paxos_events(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ev[0].kind, PAXOS_E_VIOLATION);
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert(pkv_bytes_eq(e->chosen_value, b("a")));
	fx_free(&f);
}
END_TEST

START_TEST(put_answers_from_learner_at_once)
{
	struct fx f;
	fx_init(&f, 3, false, false, false); /* no quorum even */
	struct pkv_msg m = accept(1, 2, "known");
	m.type = PKV_MSG_CHOSEN;
	fx_chosen(&f, 2, &m);
	paxos_put(f.p, 11, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(c[0].id, 11);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert_uint_eq(c[0].gen, 1);
	ck_assert(pkv_bytes_eq(c[0].value, b("known")));
	ck_assert_uint_eq(f.ob.n, 0);
	fx_free(&f);
}
END_TEST

START_TEST(requests_out_of_limits_are_refused)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	static uint8_t big[PKV_MAX_VALUE + 1];
	struct pkv_bytes bigv = { big, sizeof(big) }, bigk = { big, PKV_MAX_KEY + 1 };
	struct pkv_bytes bigb = { big, PKV_MAX_BUCKET + 1 };
	memset(big, 'x', sizeof(big));
	paxos_put(f.p, 1, b("B"), b("k"), bigv, PAXOS_NO_DEADLINE, false, f.now);
	paxos_put(f.p, 2, b("B"), bigk, b("v"), PAXOS_NO_DEADLINE, false, f.now);
	paxos_get(f.p, 3, bigb, b("k"), PAXOS_NO_DEADLINE, false, f.now);
	paxos_get(f.p, 4, b(""), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	paxos_get(f.p, 5, b("B"), b(""), PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(c[0].status, PKV_S_TOO_LARGE);
	ck_assert_int_eq(c[1].status, PKV_S_TOO_LARGE);
	ck_assert_int_eq(c[2].status, PKV_S_TOO_LARGE);
	ck_assert_int_eq(c[3].status, PKV_S_BAD_REQUEST);
	ck_assert_int_eq(c[4].status, PKV_S_BAD_REQUEST);
	ck_assert_uint_eq(f.ob.n, 0);
	fx_free(&f);
}
END_TEST

/* Answers the outbox's PREPARE from node `from` with a promise. */
static void promise_from(struct fx *f, uint32_t from, const struct pkv_msg *prep,
			 struct pkv_ballot acc, const char *v)
{
	struct pkv_msg r = { .type = PKV_MSG_PROMISE,
			     .bucket = prep->bucket,
			     .key = prep->key,
			     .gen = 1,
			     .ballot = prep->ballot,
			     .req = prep->req,
			     .flags = PKV_MF_OK };
	if (v) {
		r.flags |= PKV_MF_HAS_VALUE;
		r.accepted = acc;
		r.value = b(v);
	}
	paxos_receive(f->p, from, &r, f->now);
}

START_TEST(proposer_adopts_highest_accepted_value)
{
	struct fx f;
	fx_init(&f, 5, false, false, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *p0 = find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	ck_assert_ptr_nonnull(p0);
	struct pkv_msg prep = *p0; /* bytes stay in the outbox arena */
	/* Self promised (locally); two more make 3 of 5. */
	promise_from(&f, 2, &prep, bal(1, 4), "low");
	ck_assert_ptr_null(find(&f, PKV_MSG_ACCEPT, UINT32_MAX));
	promise_from(&f, 3, &prep, bal(2, 5), "high");
	const struct pkv_msg *acc = find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert_ptr_nonnull(acc);
	ck_assert(pkv_bytes_eq(acc->value, b("high")));
	ck_assert_int_eq(pkv_ballot_cmp(acc->ballot, prep.ballot), 0);
	fx_free(&f);
}
END_TEST

START_TEST(proposer_chooses_on_majority_accepted_and_broadcasts)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	promise_from(&f, 3, &prep, bal(0, 0), NULL);
	struct pkv_msg acc = *find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert(pkv_bytes_eq(acc.value, b("mine")));
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	struct pkv_msg r = { .type = PKV_MSG_ACCEPTED,
			     .bucket = acc.bucket,
			     .key = acc.key,
			     .gen = 1,
			     .ballot = acc.ballot,
			     .req = acc.req,
			     .flags = PKV_MF_OK };
	paxos_receive(f.p, 2, &r, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert(pkv_bytes_eq(c[0].value, b("mine")));
	const struct pkv_msg *ch = find(&f, PKV_MSG_CHOSEN, PKV_TO_ALL);
	ck_assert_ptr_nonnull(ch);
	ck_assert(pkv_bytes_eq(ch->value, b("mine")));
	ck_assert_uint_eq(paxos_stats(f.p)->rounds_in_flight, 0);
	fx_free(&f);
}
END_TEST

START_TEST(quorum_is_majority_of_cluster_size_not_of_connected)
{
	struct fx f;
	fx_init(&f, 5, false, false, false);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	ck_assert(!paxos_has_quorum(f.p)); /* 2 of 5 connected */
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_NO_QUORUM);
	paxos_completions_reset(f.p);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	ck_assert(paxos_has_quorum(f.p));
	/* 3 connected, but promises from 2 of them are not a majority of 5. */
	paxos_put(f.p, 2, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	promise_from(&f, 2, &prep, bal(0, 0), NULL);
	ck_assert_ptr_null(find(&f, PKV_MSG_ACCEPT, UINT32_MAX));
	promise_from(&f, 3, &prep, bal(0, 0), NULL);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL));
	fx_free(&f);
}
END_TEST

START_TEST(proposer_retransmits_to_silent_nodes)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	(void)prep;
	pkv_outbox_reset(&f.ob);
	uint64_t t = paxos_next_deadline(f.p);
	ck_assert_uint_eq(t, f.now + 1000);
	paxos_tick(f.p, t);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, 2));
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, 3));
	ck_assert_uint_eq(paxos_stats(f.p)->retransmits, 2);
	fx_free(&f);
}
END_TEST

START_TEST(nack_backs_off_then_forwards_to_primary)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	/* A key whose primary is not node 1. */
	char key[16];
	uint32_t prim = 1;
	for (int i = 0; prim == 1; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		prim = paxos_primary(f.p, b("B"), b(key));
	}
	paxos_put(f.p, 1, b("B"), b(key), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	struct pkv_msg nack = { .type = PKV_MSG_PROMISE,
				.bucket = prep.bucket,
				.key = prep.key,
				.gen = 1,
				.ballot = prep.ballot,
				.req = prep.req,
				.accepted = bal(50, 3) };
	paxos_receive(f.p, 2, &nack, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->conflicts, 1);
	pkv_outbox_reset(&f.ob);
	uint64_t t = paxos_next_deadline(f.p);
	ck_assert_uint_gt(t, f.now);
	ck_assert_uint_le(t, f.now + 1001);
	paxos_tick(f.p, t);
	const struct pkv_msg *fw = find(&f, PKV_MSG_FORWARD, prim);
	ck_assert_ptr_nonnull(fw);
	ck_assert(pkv_bytes_eq(fw->value, b("v")));
	ck_assert_uint_eq(fw->arg0, PAXOS_NO_DEADLINE);
	ck_assert_uint_eq(paxos_stats(f.p)->forwards, 1);
	/* The primary's answer completes the put, and the origin learns the
	 * value from it even though no CHOSEN reached it: it owns the put's
	 * pid bindings and must watch them. */
	struct pkv_msg rep = { .type = PKV_MSG_FORWARD_REPLY,
			       .req = fw->req,
			       .bucket = b("B"),
			       .key = b(key),
			       .gen = 1,
			       .value = b("theirs"),
			       .accepted = bal(51, prim),
			       .arg0 = PKV_S_OK };
	paxos_receive(f.p, prim, &rep, t);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert(pkv_bytes_eq(c[0].value, b("theirs")));
	const struct store_entry *e = store_lookup(f.s, b("B"), b(key), false);
	ck_assert(e && e->chosen && pkv_bytes_eq(e->chosen_value, b("theirs")));
	fx_free(&f);
}
END_TEST

START_TEST(new_round_is_above_every_round_seen)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = prepare(40, 3);
	paxos_receive(f.p, 3, &m, f.now);
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *p = find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	ck_assert_uint_eq(p->ballot.round, 41);
	ck_assert_uint_eq(p->ballot.node, 1);
	fx_free(&f);
}
END_TEST

START_TEST(put_times_out_at_deadline)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), f.now + 5000, false, f.now);
	for (uint64_t t = f.now; t <= f.now + 5000; t = paxos_next_deadline(f.p))
		paxos_tick(f.p, t);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_TIMEOUT);
	ck_assert_uint_eq(paxos_stats(f.p)->requests_in_flight, 0);
	fx_free(&f);
}
END_TEST

START_TEST(get_with_majority_on_one_ballot_is_chosen)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_get(f.p, 9, b("B"), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *q = find(&f, PKV_MSG_QUERY, PKV_TO_ALL);
	ck_assert_ptr_nonnull(q);
	struct pkv_msg r = { .type = PKV_MSG_QUERY_REPLY,
			     .bucket = b("B"),
			     .key = b("k"),
			     .gen = 1,
			     .req = q->req,
			     .flags = PKV_MF_HAS_VALUE,
			     .accepted = bal(3, 2),
			     .value = b("x") };
	paxos_receive(f.p, 2, &r, f.now);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0); /* 1 vote + self's empty answer */
	paxos_receive(f.p, 3, &r, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert(pkv_bytes_eq(c[0].value, b("x")));
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert(e->chosen);
	fx_free(&f);
}
END_TEST

/*
 * The quiet period (tests/model, model-sync-needs-quiet-period): a restarted
 * acceptor asks no one for its state until restart_quiet_us after it
 * started, so no PREPARE/ACCEPT of a round under way at the restart can land
 * on a source after the copy; and a proposer abandons a ballot once it is
 * ballot_life_us old rather than retransmit it.
 */
START_TEST(restarted_acceptor_waits_the_quiet_period_before_syncing)
{
	struct paxos_config c = {
		.self = 1,
		.n_nodes = 3,
		.cluster_size = 3,
		.restarted = true,
		.seed = 7,
		.retransmit_us = 1000,
		.ballot_life_us = 50000,
		.start_us = 1000,
	};
	for (unsigned i = 0; i < 3; i++)
		c.nodes[i] = i + 1;
	struct fx f = { .s = store_new(), .now = 1000 };
	pkv_outbox_init(&f.ob);
	f.p = paxos_new(&c, f.s, &f.ob);
	ck_assert_ptr_nonnull(f.p);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_SYNC_REQ, UINT32_MAX));
	/* The deadline is the end of the quiet period (2 x ballot life). */
	ck_assert_uint_eq(paxos_next_deadline(f.p), 1000 + 100000);
	paxos_tick(f.p, 1000 + 99999);
	ck_assert_ptr_null(find(&f, PKV_MSG_SYNC_REQ, UINT32_MAX));
	paxos_tick(f.p, 1000 + 100000);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_SYNC_REQ, 2));
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_SYNC_REQ, 3));
	fx_free(&f);
}
END_TEST

START_TEST(proposer_abandons_a_ballot_past_its_lifetime)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	/* Peers never answer: the same ballot is retransmitted, then replaced. */
	ck_assert_int_eq(paxos_put(f.p, 1, b("PaxosKV"), b("k"), b("v"), f.now + 10000000, false,
				   f.now), 0);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, UINT32_MAX);
	ck_assert_ptr_nonnull(pr);
	uint64_t first = pr->ballot.round;
	uint64_t t = f.now;
	uint64_t last = first;
	while (t < f.now + 1000000 + 10000) { /* past the default 1 s lifetime */
		pkv_outbox_reset(&f.ob);
		t = paxos_next_deadline(f.p);
		paxos_tick(f.p, t);
		const struct pkv_msg *m = find(&f, PKV_MSG_PREPARE, UINT32_MAX);
		if (m)
			last = m->ballot.round;
	}
	ck_assert_uint_gt(last, first);
	fx_free(&f);
}
END_TEST

START_TEST(restarted_acceptor_answers_nothing_until_majority_copied)
{
	struct fx f;
	fx_init(&f, 3, true, false, false);
	ck_assert(!paxos_synced(f.p));
	ck_assert_uint_eq(paxos_heartbeat_flags(f.p), 0);
	struct pkv_msg m = prepare(5, 2);
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_uint_eq(f.ob.n, 0);
	ck_assert_uint_eq(paxos_stats(f.p)->dropped_unsynced, 1);
	/* Only synced peers are sources. */
	paxos_peer_update(f.p, 2, true, 0, 0, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_SYNC_REQ, 2));
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	const struct pkv_msg *sq = find(&f, PKV_MSG_SYNC_REQ, 2);
	ck_assert_ptr_nonnull(sq);
	ck_assert_uint_eq(sq->arg0, 0);
	uint64_t req2 = sq->req, req3 = find(&f, PKV_MSG_SYNC_REQ, 3)->req;
	/* Node 2: one entry, accepted (4,2) "v", promise (6,3). */
	struct pkv_msg r = { .type = PKV_MSG_SYNC_REPLY,
			     .req = req2,
			     .bucket = b("B"),
			     .key = b("k"),
			     .gen = 1,
			     .ballot = bal(6, 3),
			     .accepted = bal(4, 2),
			     .value = b("v"),
			     .flags = PKV_MF_HAS_VALUE | PKV_MF_LAST,
			     .arg0 = 1 };
	paxos_receive(f.p, 2, &r, f.now);
	ck_assert(!paxos_synced(f.p)); /* 1 of 3 is not a majority */
	/* Node 3: empty store. */
	struct pkv_msg e3 = { .type = PKV_MSG_SYNC_REPLY, .req = req3, .flags = PKV_MF_LAST };
	paxos_receive(f.p, 3, &e3, f.now);
	ck_assert(paxos_synced(f.p));
	ck_assert(paxos_heartbeat_flags(f.p) & PKV_MF_SYNCED);
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(pkv_ballot_cmp(e->promised, bal(6, 3)), 0);
	ck_assert(pkv_bytes_eq(e->accepted_value, b("v")));
	/* Now it answers, and keeps the copied promise. */
	pkv_outbox_reset(&f.ob);
	m = prepare(5, 2);
	paxos_receive(f.p, 2, &m, f.now);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PROMISE, 2);
	ck_assert_ptr_nonnull(pr);
	ck_assert(!(pr->flags & PKV_MF_OK));
	fx_free(&f);
}
END_TEST

/*
 * An entry whose learner knows a value chosen at another ballot than the one
 * it accepted last goes out as two records of one index: the acceptor's,
 * then the learner's (arg1 = 1). The network may swap them; the copier must
 * not finish the index on the learner's record and drop the accepted value
 * that comes next: a voter that holds only the chosen value would vote at a
 * later configuration's fast ballot for another value, and a round there
 * would find that vote above the chosen one (docs/design.md §5).
 */
START_TEST(sync_copy_keeps_the_accepted_value_when_the_learner_record_comes_first)
{
	/* The source: "v" chosen at (4,2), accepted again at (5,3). */
	struct fx src;
	fx_init(&src, 3, false, false, true);
	struct pkv_msg m = accept(4, 2, "v");
	m.type = PKV_MSG_CHOSEN;
	fx_chosen(&src, 2, &m);
	m = accept(5, 3, "v");
	paxos_receive(src.p, 3, &m, src.now);
	pkv_outbox_reset(&src.ob);
	struct pkv_msg q = { .type = PKV_MSG_SYNC_REQ, .req = 5, .arg0 = 0 };
	paxos_receive(src.p, 3, &q, src.now);
	ck_assert_uint_eq(count(&src, PKV_MSG_SYNC_REPLY), 2);
	struct pkv_msg acc = src.ob.v[0].msg, learn = src.ob.v[1].msg;
	ck_assert(acc.flags & PKV_MF_HAS_VALUE);
	ck_assert_int_eq(pkv_ballot_cmp(acc.accepted, bal(5, 3)), 0);
	ck_assert(learn.flags & PKV_MF_CHOSEN);
	ck_assert_uint_eq(learn.arg0, acc.arg0);

	/* The copier, restarted: node 2's records arrive swapped. */
	struct fx f;
	fx_init(&f, 3, true, false, false);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	uint64_t req2 = find(&f, PKV_MSG_SYNC_REQ, 2)->req;
	uint64_t req3 = find(&f, PKV_MSG_SYNC_REQ, 3)->req;
	learn.req = acc.req = req2;
	paxos_receive(f.p, 2, &learn, f.now);
	struct pkv_msg e3 = { .type = PKV_MSG_SYNC_REPLY, .req = req3, .flags = PKV_MF_LAST };
	paxos_receive(f.p, 3, &e3, f.now);
	paxos_receive(f.p, 2, &acc, f.now);
	ck_assert(paxos_synced(f.p));
	struct store_entry *e = store_lookup(f.s, b("B"), b("k"), false);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->chosen);
	ck_assert(e->has_accepted);
	ck_assert_int_eq(pkv_ballot_cmp(e->accepted, bal(5, 3)), 0);
	fx_free(&f);
	fx_free(&src);
}
END_TEST

START_TEST(sync_pages_through_the_store)
{
	/* The answering side: pages of sync_page (2) entries, arg0 = index + 1. */
	struct fx f;
	fx_init(&f, 3, false, false, true);
	for (int i = 0; i < 3; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		struct pkv_msg m = accept(1, 2, "v");
		m.key = b(k);
		paxos_receive(f.p, 2, &m, f.now);
	}
	pkv_outbox_reset(&f.ob);
	struct pkv_msg q = { .type = PKV_MSG_SYNC_REQ, .req = 5, .arg0 = 0 };
	paxos_receive(f.p, 3, &q, f.now);
	ck_assert_uint_eq(count(&f, PKV_MSG_SYNC_REPLY), 2);
	ck_assert_uint_eq(f.ob.v[1].msg.arg0, 2);
	ck_assert(!(f.ob.v[1].msg.flags & PKV_MF_LAST));
	pkv_outbox_reset(&f.ob);
	q.arg0 = 2;
	paxos_receive(f.p, 3, &q, f.now);
	ck_assert_uint_eq(count(&f, PKV_MSG_SYNC_REPLY), 1);
	ck_assert(f.ob.v[0].msg.flags & PKV_MF_LAST);
	ck_assert(pkv_bytes_eq(f.ob.v[0].msg.key, b("k2")));
	fx_free(&f);
}
END_TEST

START_TEST(fresh_majority_bootstraps_synced)
{
	struct fx f;
	fx_init(&f, 5, false, true, false);
	ck_assert(!paxos_synced(f.p));
	ck_assert(paxos_heartbeat_flags(f.p) & PKV_MF_FRESH);
	paxos_peer_update(f.p, 2, true, PKV_MF_FRESH, 0, f.now);
	ck_assert(!paxos_synced(f.p));
	paxos_peer_update(f.p, 3, true, PKV_MF_FRESH | PKV_MF_SYNCED, 0, f.now);
	ck_assert(paxos_synced(f.p));
	fx_free(&f);
}
END_TEST

START_TEST(fresh_node_among_old_ones_must_sync)
{
	struct fx f;
	fx_init(&f, 3, false, true, false);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_FRESH, 0, f.now);
	ck_assert(!paxos_synced(f.p));
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_SYNC_REQ, 2));
	fx_free(&f);
}
END_TEST

START_TEST(all_unsynced_majority_declares_new_epoch_after_grace)
{
	struct fx f;
	fx_init(&f, 3, true, false, false);
	paxos_peer_update(f.p, 2, true, 0, 4, f.now);
	ck_assert(!paxos_synced(f.p));
	uint64_t t = paxos_next_deadline(f.p);
	ck_assert_uint_eq(t, f.now + 100000);
	paxos_tick(f.p, t - 1);
	ck_assert(!paxos_synced(f.p));
	paxos_tick(f.p, t);
	ck_assert(paxos_synced(f.p));
	ck_assert_uint_eq(paxos_epoch(f.p), 5);
	ck_assert_uint_eq(paxos_stats(f.p)->epochs_declared, 1);
	size_t n;
	const struct paxos_event_rec *ev = paxos_events(f.p, &n);
	bool loud = false;
	for (size_t i = 0; i < n; i++)
		loud |= ev[i].kind == PAXOS_E_NEW_EPOCH && strstr(ev[i].text, "lost");
	ck_assert(loud);
	fx_free(&f);
}
END_TEST

START_TEST(forwarded_put_replies_to_origin)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg fw = { .type = PKV_MSG_FORWARD,
			      .bucket = b("B"),
			      .key = b("k"),
			      .value = b("fv"),
			      .req = 77,
			      .arg0 = 1000000 };
	paxos_receive(f.p, 3, &fw, f.now);
	paxos_receive(f.p, 3, &fw, f.now); /* a retransmission: one round */
	ck_assert_uint_eq(count(&f, PKV_MSG_PREPARE), 1);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	promise_from(&f, 2, &prep, bal(0, 0), NULL);
	struct pkv_msg acc = *find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	struct pkv_msg r = { .type = PKV_MSG_ACCEPTED,
			     .bucket = acc.bucket,
			     .key = acc.key,
			     .gen = 1,
			     .ballot = acc.ballot,
			     .req = acc.req,
			     .flags = PKV_MF_OK };
	paxos_receive(f.p, 2, &r, f.now);
	const struct pkv_msg *rep = find(&f, PKV_MSG_FORWARD_REPLY, 3);
	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->req, 77);
	ck_assert_uint_eq(rep->arg0, PKV_S_OK);
	ck_assert(pkv_bytes_eq(rep->value, b("fv")));
	/* With the chosen ballot, so the origin can learn the value. */
	ck_assert(pkv_ballot_cmp(rep->accepted, acc.ballot) == 0);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0); /* not a local request */
	fx_free(&f);
}
END_TEST

START_TEST(keys_merges_local_and_peer_answers)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = accept(1, 2, "v");
	m.key = b("b");
	paxos_receive(f.p, 2, &m, f.now);
	pkv_outbox_reset(&f.ob);
	paxos_keys(f.p, 4, b("B"), PAXOS_NO_DEADLINE, f.now);
	const struct pkv_msg *q2 = find(&f, PKV_MSG_KEYS_REQ, 2);
	ck_assert_ptr_nonnull(q2);
	uint64_t req = q2->req;
	struct pkv_msg r = { .type = PKV_MSG_KEYS_REPLY, .bucket = b("B"), .req = req };
	r.key = b("a");
	paxos_receive(f.p, 2, &r, f.now);
	r.key = b("b");
	r.flags = PKV_MF_LAST;
	paxos_receive(f.p, 2, &r, f.now);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	r.key = (struct pkv_bytes){ 0 };
	paxos_receive(f.p, 3, &r, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(c[0].n_keys, 2);
	ck_assert(pkv_bytes_eq(c[0].keys[0], b("a")));
	ck_assert(pkv_bytes_eq(c[0].keys[1], b("b")));
	fx_free(&f);
}
END_TEST

START_TEST(state_and_event_names)
{
	ck_assert_str_eq(paxos_state_to_str(PAXOS_ST_PREPARING), "preparing");
	ck_assert_str_eq(paxos_state_to_str(PAXOS_ST__COUNT), "unknown");
	ck_assert_str_eq(paxos_event_to_str(PAXOS_EV_NACK), "nack");
	for (int i = 0; i < PAXOS_ST__COUNT; i++)
		ck_assert_ptr_nonnull(paxos_state_to_str((enum paxos_state)i));
	for (int i = 0; i < PAXOS_EV__COUNT; i++)
		ck_assert_str_ne(paxos_event_to_str((enum paxos_event)i), "unknown");
}
END_TEST


/* ---- lifetimes ---- */

static uint8_t encbuf[4][256];

/* A message value carrying v with bindings bd (sets PKV_MF_BOUND on m). */
static void set_bound(struct pkv_msg *m, int slot, const char *v, const struct pkv_bindings *bd)
{
	size_t n = pkv_bound_encode(encbuf[slot], sizeof(encbuf[slot]), b(v), bd);
	ck_assert_uint_gt(n, 0);
	m->value = (struct pkv_bytes){ .p = encbuf[slot], .len = (uint32_t)n };
	m->flags |= PKV_MF_BOUND;
}

static struct pkv_msg chosen_msg(const char *key, uint64_t gen, const char *v)
{
	return (struct pkv_msg){ .type = PKV_MSG_CHOSEN, .bucket = b("B"), .key = b(key),
				 .gen = gen, .ballot = bal(1, 2), .value = b(v) };
}

/* Three nodes; "k" learned as "v" from node 2; the lease over; nothing sent yet. */
static void fx_past_the_lease(struct fx *f)
{
	fx_init(f, 3, false, false, true);
	struct pkv_msg ch = chosen_msg("k", 1, "v");
	fx_chosen(f, 2, &ch);
	paxos_set_lease(f->p, f->now);
	pkv_outbox_reset(&f->ob);
}

static struct pkv_msg erase_msg(const char *key, uint64_t gen)
{
	return (struct pkv_msg){ .type = PKV_MSG_ERASE, .bucket = b("B"), .key = b(key),
				 .gen = gen };
}

static struct store_entry *entry(struct fx *f, const char *key)
{
	return store_lookup(f->s, b("B"), b(key), false);
}

static const struct pkv_msg *last(const struct fx *f, uint8_t type)
{
	const struct pkv_msg *r = NULL;
	for (size_t i = 0; i < f->ob.n; i++)
		if (f->ob.v[i].msg.type == type)
			r = &f->ob.v[i].msg;
	return r;
}

/*
 * Attack: one datagram with an ACCEPT (or CHOSEN) whose unbound value is
 * over the 60,000-byte client limit — the wire admits up to its own larger
 * limit for values with bindings. It used to be accepted and stopped a
 * durable daemon when its log refused the record; now it is dropped.
 */
START_TEST(oversized_value_in_accept_or_chosen_is_dropped)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	static uint8_t big[PKV_MAX_VALUE + 1];
	memset(big, 'x', sizeof(big));
	struct pkv_msg m = accept(5, 2, "v");
	m.value = (struct pkv_bytes){ .p = big, .len = sizeof(big) };
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_ACCEPTED, 2));
	struct store_entry *e = entry(&f, "k");
	ck_assert(!e || !e->has_accepted);
	struct pkv_msg c = chosen_msg("k", 1, "v");
	c.value = (struct pkv_bytes){ .p = big, .len = sizeof(big) };
	paxos_receive(f.p, 2, &c, f.now);
	e = entry(&f, "k");
	ck_assert(!e || !e->chosen);
	ck_assert_uint_eq(paxos_stats(f.p)->malformed_dropped, 2);
	/* At the limit it is an ordinary value. */
	m.value.len = PKV_MAX_VALUE;
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ACCEPTED, 2));
	fx_free(&f);
}
END_TEST

/* Attack: an ERASE of generation 2^64-1 wrapped the key's generation to 0. */
START_TEST(erase_of_the_last_generation_does_not_wrap)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg c = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &c);
	ck_assert_uint_eq(entry(&f, "k")->gen, 1);
	struct pkv_msg m = erase_msg("k", UINT64_MAX);
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_uint_eq(entry(&f, "k")->gen, 1);
	ck_assert(entry(&f, "k")->chosen);
	m = erase_msg("k", PAXOS_MAX_GEN + 1);
	paxos_receive(f.p, 3, &m, f.now);
	ck_assert_uint_eq(entry(&f, "k")->gen, 1);
	ck_assert_uint_eq(paxos_stats(f.p)->malformed_dropped, 2);
	fx_free(&f);
}
END_TEST

START_TEST(message_of_older_generation_is_ignored)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = erase_msg("k", 1);
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_uint_eq(entry(&f, "k")->gen, 2);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE_ACK, 2));
	pkv_outbox_reset(&f.ob);
	m = prepare(5, 3); /* generation 1 */
	paxos_receive(f.p, 3, &m, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_PROMISE, 3));
	/* The sender is told that generation 1 ended. */
	const struct pkv_msg *e = find(&f, PKV_MSG_ERASE, 3);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->gen, 1);
	ck_assert_uint_ge(paxos_stats(f.p)->stale_gen, 1);
	fx_free(&f);
}
END_TEST

/*
 * A key first met at its bucket's floor ends the generations below it on an
 * entry that never held them (docs/design.md §4.6): no watcher hears of
 * that end. A key that held a value ends it as before, floor or not.
 */
START_TEST(no_watched_end_below_the_floor_of_a_key_never_held)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "a");
	fx_chosen(&f, 2, &m);
	/* a floor put's read of another key fences bucket B at 3 */
	struct pkv_msg q = { .type = PKV_MSG_QUERY, .bucket = b("B"), .key = b("z"), .gen = 3,
			     .req = 9 };
	paxos_receive(f.p, 2, &q, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_QUERY_REPLY, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->gen, 3);
	paxos_erased_reset(f.p);
	m = prepare(5, 2);
	m.key = b("e");
	m.gen = 3;
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_uint_eq(entry(&f, "e")->gen, 3);
	m.key = b("k");
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert_uint_eq(entry(&f, "k")->gen, 3);
	size_t n;
	const struct paxos_erased *er = paxos_erased(f.p, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(er[0].e, entry(&f, "e"));
	ck_assert_uint_eq(er[0].gen, 2);
	ck_assert(er[0].unseen);
	ck_assert_ptr_eq(er[1].e, entry(&f, "k"));
	ck_assert_uint_eq(er[1].gen, 2);
	ck_assert(!er[1].unseen);
	fx_free(&f);
}
END_TEST

START_TEST(erased_key_chooses_anew_in_next_generation)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "a");
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "k")->chosen);
	m = erase_msg("k", 1);
	paxos_receive(f.p, 2, &m, f.now);
	struct store_entry *e = entry(&f, "k");
	ck_assert(!e->chosen);
	ck_assert_uint_eq(e->gen, 2);
	size_t n;
	const struct paxos_erased *er = paxos_erased(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(er[0].e, e);
	ck_assert_uint_eq(er[0].gen, 1);
	/* A put now runs generation 2 and returns it. */
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 1, b("B"), b("k"), b("b"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, UINT32_MAX);
	ck_assert_ptr_nonnull(pr);
	ck_assert_uint_eq(pr->gen, 2);
	struct pkv_msg pm = { .type = PKV_MSG_PROMISE, .bucket = b("B"), .key = b("k"), .gen = 2,
			      .ballot = pr->ballot, .req = pr->req, .flags = PKV_MF_OK };
	paxos_receive(f.p, 2, &pm, f.now);
	ck_assert_ptr_nonnull(last(&f, PKV_MSG_ACCEPT));
	pm.type = PKV_MSG_ACCEPTED;
	paxos_receive(f.p, 2, &pm, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert_uint_eq(c[0].gen, 2);
	ck_assert(pkv_bytes_eq(c[0].value, b("b")));
	fx_free(&f);
}
END_TEST

START_TEST(accepted_value_with_dead_binding_is_not_adopted)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_set_wall(f.p, 5000000, f.now);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, UINT32_MAX);
	ck_assert_ptr_nonnull(pr);
	struct pkv_ballot ballot = pr->ballot;
	uint64_t rq = pr->req;
	/* Node 2 accepted another value bound to an instant already past. */
	struct pkv_bindings dead = { .mask = PKV_BIND_UNTIL, .until = 4000000 };
	struct pkv_msg pm = { .type = PKV_MSG_PROMISE, .bucket = b("B"), .key = b("k"), .gen = 1,
			      .ballot = ballot, .req = rq, .flags = PKV_MF_OK | PKV_MF_HAS_VALUE,
			      .accepted = bal(1, 2) };
	set_bound(&pm, 0, "theirs", &dead);
	paxos_receive(f.p, 2, &pm, f.now);
	/* It is proposed in generation 1 (it may be chosen there)… */
	const struct pkv_msg *ac = last(&f, PKV_MSG_ACCEPT);
	ck_assert_ptr_nonnull(ac);
	ck_assert(ac->flags & PKV_MF_BOUND);
	ck_assert_uint_eq(paxos_stats(f.p)->dead_adopted, 1);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg am = { .type = PKV_MSG_ACCEPTED, .bucket = b("B"), .key = b("k"), .gen = 1,
			      .ballot = ballot, .req = rq, .flags = PKV_MF_OK };
	paxos_receive(f.p, 2, &am, f.now);
	/* …but never returned: generation 1 ends and our value runs in 2. */
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(entry(&f, "k")->gen, 2);
	pr = last(&f, PKV_MSG_PREPARE);
	ck_assert_ptr_nonnull(pr);
	ck_assert_uint_eq(pr->gen, 2);
	pm = (struct pkv_msg){ .type = PKV_MSG_PROMISE, .bucket = b("B"), .key = b("k"), .gen = 2,
			       .ballot = pr->ballot, .req = pr->req, .flags = PKV_MF_OK };
	paxos_receive(f.p, 2, &pm, f.now);
	pm.type = PKV_MSG_ACCEPTED;
	paxos_receive(f.p, 2, &pm, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert_uint_eq(c[0].gen, 2);
	ck_assert(pkv_bytes_eq(c[0].value, b("mine")));
	fx_free(&f);
}
END_TEST

START_TEST(cascade_erases_dependent_keys)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("base", 1, "x");
	fx_chosen(&f, 2, &m);
	struct pkv_bindings kb = { .mask = PKV_BIND_KEY, .key = b("base"), .key_gen = 1 };
	m = chosen_msg("mid", 1, "y");
	set_bound(&m, 0, "y", &kb);
	fx_chosen(&f, 2, &m);
	struct pkv_bindings kb2 = { .mask = PKV_BIND_KEY, .key = b("mid"), .key_gen = 1 };
	m = chosen_msg("top", 1, "z");
	set_bound(&m, 1, "z", &kb2);
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "top")->chosen);
	m = erase_msg("base", 1);
	paxos_receive(f.p, 2, &m, f.now);
	ck_assert(!entry(&f, "mid")->chosen);
	ck_assert(!entry(&f, "top")->chosen);
	ck_assert_uint_eq(entry(&f, "top")->gen, 2);
	size_t n;
	paxos_erased(f.p, &n);
	ck_assert_uint_eq(n, 3);
	fx_free(&f);
}
END_TEST

/*
 * docs/design.md §6.2: a restart alone ends nothing; the owner's heartbeat
 * says whether it took its bindings back (the same binding incarnation) or
 * not (a newer one), and only then do they end.
 */
START_TEST(owner_restart_kills_its_pid_bindings)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_peer_incarnation(f.p, 2, 5, f.now);
	paxos_peer_bind_inc(f.p, 2, 5, f.now);
	struct pkv_bindings pb = { .mask = PKV_BIND_PID, .owner = 2, .owner_inc = 5, .pid = 42,
				   .start_time = 9 };
	struct pkv_msg m = chosen_msg("p", 1, "v");
	set_bound(&m, 0, "v", &pb);
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "p")->chosen);
	paxos_peer_incarnation(f.p, 2, 6, f.now);
	paxos_peer_restarted(f.p, 2, f.now);
	paxos_peer_bind_inc(f.p, 2, 5, f.now); /* took them back */
	ck_assert(entry(&f, "p")->chosen);
	paxos_peer_incarnation(f.p, 2, 7, f.now);
	paxos_peer_restarted(f.p, 2, f.now);
	paxos_peer_bind_inc(f.p, 2, 7, f.now); /* did not */
	ck_assert(!entry(&f, "p")->chosen);
	ck_assert_uint_eq(entry(&f, "p")->gen, 2);
	fx_free(&f);
}
END_TEST

/*
 * docs/design.md §4.2: a loss ends the pid bindings of the incarnations
 * heard before it (here with no restart grace: at once), and every one
 * when no incarnation was told; a newer incarnation's end waits until that
 * one is heard and lost.
 */
START_TEST(owner_loss_ends_the_bindings_of_incarnations_heard_before_it)
{
	struct fx f;
	fx_init(&f, 3, false, false, true); /* 2 and 3 up, no incarnation told */
	struct pkv_bindings p2 = { .mask = PKV_BIND_PID, .owner = 2, .owner_inc = 5, .pid = 42,
				   .start_time = 9 };
	struct pkv_bindings p3 = { .mask = PKV_BIND_PID, .owner = 3, .owner_inc = 6, .pid = 43,
				   .start_time = 9 };
	paxos_peer_incarnation(f.p, 3, 4, f.now);
	struct pkv_msg m = chosen_msg("p", 1, "v");
	set_bound(&m, 0, "v", &p2);
	fx_chosen(&f, 2, &m);
	m = chosen_msg("q", 1, "w");
	set_bound(&m, 0, "w", &p3);
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "p")->chosen && entry(&f, "q")->chosen);
	paxos_peer_update(f.p, 2, false, 0, 0, f.now);
	ck_assert_msg(!entry(&f, "p")->chosen, "a loss of an untold incarnation ended nothing");
	paxos_peer_update(f.p, 3, false, 0, 0, f.now);
	f.now += 10000000;
	paxos_tick(f.p, f.now);
	ck_assert_msg(entry(&f, "q")->chosen,
		      "node 3's loss at incarnation 4 ended a binding of its incarnation 6");
	paxos_peer_incarnation(f.p, 3, 6, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, false, 0, 0, f.now);
	ck_assert_msg(!entry(&f, "q")->chosen, "node 3 lost at incarnation 6 kept its binding");
	fx_free(&f);
}
END_TEST

START_TEST(pid_exit_erases_watched_key)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_bindings pb = { .mask = PKV_BIND_PID, .owner = 1, .owner_inc = 0, .pid = 77,
				   .start_time = 3 };
	struct pkv_msg m = chosen_msg("p", 1, "v");
	set_bound(&m, 0, "v", &pb);
	fx_chosen(&f, 2, &m);
	size_t n;
	const struct paxos_watch *w = paxos_watches(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert(w[0].watch);
	ck_assert_int_eq(w[0].pid, 77);
	pkv_outbox_reset(&f.ob);
	paxos_pid_exited(f.p, 77, 3, f.now);
	ck_assert(!entry(&f, "p")->chosen);
	/* Every other daemon is told, until it acknowledges. */
	ck_assert_uint_eq(count(&f, PKV_MSG_ERASE), 2);
	struct pkv_msg ack = { .type = PKV_MSG_ERASE_ACK, .bucket = b("B"), .key = b("p"),
			       .gen = 1 };
	paxos_receive(f.p, 2, &ack, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->tombstones_pending, 1);
	paxos_receive(f.p, 3, &ack, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->tombstones_pending, 0);
	fx_free(&f);
}
END_TEST

/*
 * The exit of a process erases the keys bound to it and no other, found
 * through the process's own list (no walk of the store), including a key
 * erased and chosen again for the same process in its next generation.
 */
START_TEST(pid_exit_erases_the_keys_of_that_process_only)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_bindings a = { .mask = PKV_BIND_PID, .owner = 1, .pid = 77, .start_time = 3 };
	struct pkv_bindings other = a;
	other.pid = 78;
	const char *mine[] = { "a1", "a2", "a3" }, *theirs[] = { "o1", "o2" };
	for (size_t i = 0; i < 3; i++) {
		struct pkv_msg m = chosen_msg(mine[i], 1, "v");
		set_bound(&m, 0, "v", &a);
		fx_chosen(&f, 2, &m);
	}
	for (size_t i = 0; i < 2; i++) {
		struct pkv_msg m = chosen_msg(theirs[i], 1, "v");
		set_bound(&m, 0, "v", &other);
		fx_chosen(&f, 2, &m);
	}
	struct pkv_msg u = chosen_msg("free", 1, "v"); /* bound to nothing */
	fx_chosen(&f, 2, &u);
	/* a2 ends (a peer's erasure) and is chosen again for the same process. */
	struct pkv_msg er = { .type = PKV_MSG_ERASE, .bucket = b("B"), .key = b("a2"), .gen = 1 };
	paxos_receive(f.p, 2, &er, f.now);
	ck_assert(!entry(&f, "a2")->chosen);
	struct pkv_msg again = chosen_msg("a2", 2, "w");
	set_bound(&again, 0, "w", &a);
	fx_chosen(&f, 2, &again);
	ck_assert(entry(&f, "a2")->chosen);
	ck_assert_uint_eq(entry(&f, "a2")->gen, 2);

	paxos_pid_exited(f.p, 77, 3, f.now);
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(!entry(&f, mine[i])->chosen, "%s survived its process", mine[i]);
	ck_assert_uint_eq(entry(&f, "a2")->gen, 3);
	for (size_t i = 0; i < 2; i++)
		ck_assert_msg(entry(&f, theirs[i])->chosen, "%s ended with another process",
			      theirs[i]);
	ck_assert(entry(&f, "free")->chosen);
	/* The other process's keys still end with it. */
	paxos_pid_exited(f.p, 78, 3, f.now);
	for (size_t i = 0; i < 2; i++)
		ck_assert(!entry(&f, theirs[i])->chosen);
	ck_assert(entry(&f, "free")->chosen);
	fx_free(&f);
}
END_TEST

/*
 * A value learned with its binding already ended is erased at once. When it
 * is bound to one of our processes too, that erasure must not take the
 * watch of the process's live keys: the process's exit still ends them.
 * (Found by the simulation with the lease modelled, seed 5652: a durable
 * restart restored a live key and a dead one of one process, and the
 * process's exit then ended neither.)
 */
START_TEST(pid_exit_ends_a_live_key_after_a_dead_one_of_that_process_was_learned)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	/* base ends: generation 1 is over. */
	struct pkv_msg base = chosen_msg("base", 1, "v");
	fx_chosen(&f, 2, &base);
	struct pkv_msg er = { .type = PKV_MSG_ERASE, .bucket = b("B"), .key = b("base"), .gen = 1 };
	paxos_receive(f.p, 2, &er, f.now);
	ck_assert_uint_eq(entry(&f, "base")->gen, 2);

	struct pkv_bindings pid = { .mask = PKV_BIND_PID, .owner = 1, .pid = 77, .start_time = 3 };
	struct pkv_msg live = chosen_msg("live", 1, "v");
	set_bound(&live, 0, "v", &pid);
	fx_chosen(&f, 2, &live);
	/* Bound to the same process and to base's generation 1, already over. */
	struct pkv_bindings both = pid;
	both.mask |= PKV_BIND_KEY;
	both.key = b("base");
	both.key_gen = 1;
	struct pkv_msg dead = chosen_msg("dead", 1, "w");
	set_bound(&dead, 0, "w", &both);
	fx_chosen(&f, 2, &dead);
	ck_assert_msg(!entry(&f, "dead")->chosen, "a value whose key binding had ended was kept");
	ck_assert(entry(&f, "live")->chosen);

	paxos_pid_exited(f.p, 77, 3, f.now);
	ck_assert_msg(!entry(&f, "live")->chosen,
		      "the process exited, but its live key outlived it: the dead key's erasure "
		      "took its watch");
	fx_free(&f);
}
END_TEST

/*
 * A put bound to one of our processes times out after its ACCEPT left: it
 * may be chosen later by another daemon's round, and nobody has to tell us
 * (docs/design.md §6.2, "A put whose outcome is unknown"). The owner reads
 * the key back; when the read finds the value chosen, the process, which
 * exited meanwhile, ends it at once.
 */
START_TEST(bound_put_of_unknown_outcome_is_read_back_and_ended_after_its_exit)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_bindings pid = { .mask = PKV_BIND_PID, .pid = 77, .start_time = 3 };
	uint64_t end = f.now + 5000;
	paxos_put_bound(f.p, 1, b("B"), b("k"), b("v"), &pid, end, false, f.now);
	struct pkv_msg prep = *find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	promise_from(&f, 2, &prep, (struct pkv_ballot){ 0 }, NULL);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL));
	for (uint64_t t = f.now; t <= end; t = paxos_next_deadline(f.p))
		paxos_tick(f.p, f.now = t);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_TIMEOUT);
	ck_assert_uint_eq(paxos_stats(f.p)->owner_doubts, 1);
	paxos_pid_exited(f.p, 77, 3, f.now); /* not watched: nothing to end yet */

	/* Node 2's round chose the value; the CHOSEN never came. The owner reads. */
	pkv_outbox_reset(&f.ob);
	for (int i = 0; i < 20 && !find(&f, PKV_MSG_QUERY, UINT32_MAX); i++) {
		uint64_t t = paxos_next_deadline(f.p);
		paxos_tick(f.p, f.now = t > f.now ? t : f.now);
	}
	const struct pkv_msg *q = find(&f, PKV_MSG_QUERY, UINT32_MAX);
	ck_assert_msg(q, "the owner never read back its put of unknown outcome");
	ck_assert_uint_eq(paxos_stats(f.p)->owner_reads, 1);
	struct pkv_bindings own = pid;
	own.owner = 1;
	struct pkv_msg r = { .type = PKV_MSG_QUERY_REPLY, .bucket = b("B"), .key = b("k"),
			     .gen = 1, .req = q->req, .flags = PKV_MF_HAS_VALUE,
			     .accepted = bal(9, 2) };
	set_bound(&r, 0, "v", &own);
	paxos_receive(f.p, 2, &r, f.now);
	paxos_receive(f.p, 3, &r, f.now);
	ck_assert_msg(entry(&f, "k")->gen == 2 && !entry(&f, "k")->chosen,
		      "the value of a process that exited was learned and kept");
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE, UINT32_MAX));
	/* The doubt is settled at its next look: a newer generation is known. */
	for (int i = 0; i < 20 && paxos_stats(f.p)->owner_doubts; i++) {
		uint64_t t = paxos_next_deadline(f.p);
		paxos_tick(f.p, f.now = t > f.now ? t : f.now);
	}
	ck_assert_uint_eq(paxos_stats(f.p)->owner_doubts, 0);
	fx_free(&f);
}
END_TEST

/*
 * Dev numbering configures nodes 1..9 for a cluster of 3: an erasure waits
 * for the first cluster_size nodes and any other once it was up, not for
 * nodes that never ran (their tombstones were kept, and re-sent, forever).
 */
START_TEST(tombstone_is_collected_without_nodes_that_never_ran)
{
	struct fx f;
	fx_size = 3;
	fx_init(&f, 5, false, false, false);
	fx_size = 0;
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg er = erase_msg("k", 1);
	paxos_receive(f.p, 2, &er, f.now);
	ck_assert(!entry(&f, "k")->chosen);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE, 3));
	ck_assert_ptr_null(find(&f, PKV_MSG_ERASE, 4));
	ck_assert_ptr_null(find(&f, PKV_MSG_ERASE, 5));
	struct pkv_msg ack = { .type = PKV_MSG_ERASE_ACK, .bucket = b("B"), .key = b("k"),
			       .gen = 1 };
	paxos_receive(f.p, 3, &ack, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->tombstones_pending, 0);

	/* Node 4 was up once: later erasures wait for it too. */
	paxos_peer_update(f.p, 4, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 4, false, 0, 0, f.now);
	struct pkv_msg m2 = chosen_msg("k2", 1, "v");
	fx_chosen(&f, 2, &m2);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg er2 = erase_msg("k2", 1);
	paxos_receive(f.p, 2, &er2, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE, 4));
	struct pkv_msg ack2 = ack;
	ack2.key = b("k2");
	paxos_receive(f.p, 3, &ack2, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->tombstones_pending, 1);
	paxos_receive(f.p, 4, &ack2, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->tombstones_pending, 0);
	fx_free(&f);
}
END_TEST

/*
 * Past the lease (docs/design.md §5.1) a get of a learned key goes to a
 * quorum, and the daemon's own learner's answer is not a fact there: a
 * lifetime may have ended where it cannot see. It used to complete the get
 * at once with the learner's value.
 */
START_TEST(get_past_the_lease_does_not_take_its_own_learners_answer)
{
	struct fx f;
	fx_past_the_lease(&f);
	paxos_get(f.p, 9, b("B"), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	const struct pkv_msg *q = find(&f, PKV_MSG_QUERY, PKV_TO_ALL);
	ck_assert_ptr_nonnull(q);
	/* Node 2 ended the generation meanwhile: the value is gone here too. */
	struct pkv_msg r = { .type = PKV_MSG_QUERY_REPLY, .bucket = b("B"), .key = b("k"),
			     .gen = 2, .req = q->req };
	paxos_receive(f.p, 2, &r, f.now);
	ck_assert(!entry(&f, "k")->chosen);
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	q = last(&f, PKV_MSG_QUERY);
	r.req = q->req;
	paxos_receive(f.p, 2, &r, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_NOT_FOUND);
	paxos_completions_reset(f.p);

	/* With the value still live at a quorum, the get returns it. */
	struct pkv_msg ch = chosen_msg("k", 2, "w");
	fx_chosen(&f, 2, &ch);
	pkv_outbox_reset(&f.ob);
	paxos_get(f.p, 10, b("B"), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	q = find(&f, PKV_MSG_QUERY, PKV_TO_ALL);
	ck_assert_ptr_nonnull(q);
	struct pkv_msg r2 = { .type = PKV_MSG_QUERY_REPLY, .bucket = b("B"), .key = b("k"),
			      .gen = 2, .req = q->req, .flags = PKV_MF_CHOSEN | PKV_MF_HAS_VALUE,
			      .accepted = bal(1, 2), .value = b("w") };
	paxos_receive(f.p, 3, &r2, f.now);
	c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert(pkv_bytes_eq(c[0].value, b("w")));
	fx_free(&f);
}
END_TEST

/*
 * Past the lease (docs/design.md §5.1) a QUERY is answered with the
 * acceptor's vote alone, never "chosen": the reader takes "chosen" as a
 * fact and answers the value, and a lifetime may have ended where this
 * daemon cannot see (the QUERY's side of what a restart's copy did in the
 * scenario runner's seed 9400003, sync_page_past_the_lease_says_no_chosen
 * below). With the lease held, "chosen" again.
 */
START_TEST(query_past_the_lease_is_answered_without_chosen)
{
	struct fx f;
	fx_past_the_lease(&f);
	f.now += 1;
	struct pkv_msg q = { .type = PKV_MSG_QUERY, .bucket = b("B"), .key = b("k"), .req = 9 };
	paxos_receive(f.p, 2, &q, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_QUERY_REPLY, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->gen, 1);
	ck_assert_msg(!(r->flags & PKV_MF_CHOSEN), "past the lease the reply says chosen");
	pkv_outbox_reset(&f.ob);
	paxos_set_lease(f.p, f.now + 1000000);
	q.req = 10;
	paxos_receive(f.p, 2, &q, f.now);
	r = find(&f, PKV_MSG_QUERY_REPLY, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_CHOSEN);
	ck_assert(pkv_bytes_eq(r->value, b("v")));
	fx_free(&f);
}
END_TEST

/*
 * The same for a restart's copy: past the lease a SYNC page carries the
 * acceptor's records alone, never "chosen". The scenario runner's seed
 * 9400003 (ASan) showed why: a daemon restarted without state copied first
 * from a peer just back from a partition, still without its lease and
 * losing the erasures sent to it meanwhile; its page said "chosen", the
 * copier learned the value, and a get waiting there answered it at once,
 * 6 ms before the next source's page ended that generation. The copier had
 * read the key absent before its restart.
 */
START_TEST(sync_page_past_the_lease_says_no_chosen)
{
	struct fx f;
	fx_past_the_lease(&f);
	f.now += 1;
	for (int leased = 0; leased < 2; leased++) {
		if (leased)
			paxos_set_lease(f.p, f.now + 1000000);
		pkv_outbox_reset(&f.ob);
		struct pkv_msg q = { .type = PKV_MSG_SYNC_REQ, .req = 40 + (uint64_t)leased };
		paxos_receive(f.p, 2, &q, f.now);
		bool seen = false, chosen = false;
		for (size_t i = 0; i < f.ob.n; i++) {
			const struct pkv_msg *m = &f.ob.v[i].msg;
			if (m->type != PKV_MSG_SYNC_REPLY || !pkv_bytes_eq(m->key, b("k")))
				continue;
			seen = true;
			chosen |= (m->flags & PKV_MF_CHOSEN) != 0;
		}
		ck_assert_msg(seen, "no record of k in the page");
		ck_assert_msg(chosen == (leased != 0), "leased %d: a record says chosen: %d", leased,
			      chosen);
	}
	fx_free(&f);
}
END_TEST

/*
 * A get whose query loses its quorum answers no quorum then (it proposed
 * nothing), not at its deadline: a daemon past its lease that still counts
 * its peers connected asks them, and they had gone quiet.
 */
START_TEST(get_that_loses_its_quorum_answers_no_quorum_at_once)
{
	struct fx f;
	fx_past_the_lease(&f);
	paxos_get(f.p, 9, b("B"), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_QUERY, PKV_TO_ALL));
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	/* One peer lost: a quorum is left (self and node 3), the query waits. */
	paxos_peer_update(f.p, 2, false, 0, 0, f.now);
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	/* The second: no quorum, and the get says so. */
	paxos_peer_update(f.p, 3, false, 0, 0, f.now);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_NO_QUORUM);
	fx_free(&f);
}
END_TEST

/* A forwarded put past the lease does not answer from the learner either. */
START_TEST(forwarded_put_past_the_lease_does_not_answer_from_the_learner)
{
	struct fx f;
	fx_past_the_lease(&f);
	struct pkv_msg fw = { .type = PKV_MSG_FORWARD, .bucket = b("B"), .key = b("k"),
			      .req = 5, .arg0 = PAXOS_NO_DEADLINE, .value = b("mine") };
	paxos_receive(f.p, 2, &fw, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_FORWARD_REPLY, 2));
	fx_free(&f);
}
END_TEST

/*
 * A key listing past the lease answers no quorum (docs/design.md §5.1): it
 * starts from our own keys, which may include lifetimes a majority ended.
 * It used to list them, asking only the peers it still saw.
 */
START_TEST(keys_past_the_lease_answers_no_quorum)
{
	struct fx f;
	fx_past_the_lease(&f);
	paxos_keys(f.p, 4, b("B"), PAXOS_NO_DEADLINE, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_NO_QUORUM);
	ck_assert_uint_eq(c[0].n_keys, 0);
	ck_assert_ptr_null(find(&f, PKV_MSG_KEYS_REQ, 2));
	paxos_completions_reset(f.p);
	/* The lease again: the key is listed. */
	paxos_set_lease(f.p, f.now + 1);
	paxos_keys(f.p, 5, b("B"), PAXOS_NO_DEADLINE, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_KEYS_REQ, 2));
	fx_free(&f);
}
END_TEST

/*
 * paxos_erase_owed (docs/design.md §5.1): a node is named from the
 * erasure's fan-out until it acknowledged it, whoever told us.
 */
#define NODE_BIT(n) (UINT64_C(1) << ((n)-1))
START_TEST(erase_owed_names_nodes_until_they_acknowledge)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	ck_assert_uint_eq(paxos_erase_owed(f.p), 0);
	struct pkv_msg er = erase_msg("k", 1);
	paxos_receive(f.p, 2, &er, f.now);
	ck_assert_uint_eq(paxos_erase_owed(f.p), NODE_BIT(3));
	struct pkv_msg ack = { .type = PKV_MSG_ERASE_ACK, .bucket = b("B"), .key = b("k"),
			       .gen = 1 };
	paxos_receive(f.p, 3, &ack, f.now);
	ck_assert_uint_eq(paxos_erase_owed(f.p), 0);
	/* A newer erasure of the key is owed anew. */
	m = chosen_msg("k", 2, "w");
	fx_chosen(&f, 2, &m);
	er = erase_msg("k", 2);
	paxos_receive(f.p, 3, &er, f.now);
	ck_assert_uint_eq(paxos_erase_owed(f.p), NODE_BIT(2));
	paxos_peer_update(f.p, 2, false, 0, 0, f.now); /* down: still owed */
	ck_assert_uint_eq(paxos_erase_owed(f.p), NODE_BIT(2));
	ack.gen = 2;
	paxos_receive(f.p, 2, &ack, f.now);
	ck_assert_uint_eq(paxos_erase_owed(f.p), 0);
	fx_free(&f);
}
END_TEST

START_TEST(node_disconnect_erases_node_bound_key)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_bindings nb = { .mask = PKV_BIND_NODE, .node = 3 };
	struct pkv_msg m = chosen_msg("n", 1, "v");
	set_bound(&m, 0, "v", &nb);
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "n")->chosen);
	paxos_peer_update(f.p, 3, false, 0, 0, f.now);
	ck_assert(!entry(&f, "n")->chosen);
	fx_free(&f);
}
END_TEST

/*
 * docs/design.md §5.2: node 4 of five is an observer, node 5 another; the
 * voters are 1..3. Node 4 does not watch node 5 (no heartbeats between
 * them): a put bound to node 5 is not refused for node 5 looking down, and
 * its round goes to the voters only.
 */
START_TEST(observer_binds_to_an_unwatched_observer_and_sends_rounds_to_voters_only)
{
	struct paxos_config c = {
		.no_fast_put = true,
		.self = 4,
		.n_nodes = 5,
		.cluster_size = 3,
		.observers = NODE_BIT(4) | NODE_BIT(5),
		.seed = 42,
		.retransmit_us = 1000,
		.backoff_max_us = 1000,
		.epoch_grace_us = 100000,
		.restart_quiet_us = 1,
	};
	for (unsigned i = 0; i < 5; i++)
		c.nodes[i] = i + 1;
	struct fx f;
	f.s = store_new();
	pkv_outbox_init(&f.ob);
	f.p = paxos_new(&c, f.s, &f.ob);
	ck_assert_ptr_nonnull(f.p);
	f.now = 1000;
	ck_assert_uint_eq(paxos_conf(f.p).voters, NODE_BIT(1) | NODE_BIT(2) | NODE_BIT(3));
	for (unsigned i = 1; i <= 3; i++)
		paxos_peer_update(f.p, i, true, PKV_MF_SYNCED, 0, f.now);
	/* Node 5 was seen once (a voter before a change) and is gone since. */
	paxos_peer_update(f.p, 5, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 5, false, 0, 0, f.now);
	struct pkv_bindings nb = { .mask = PKV_BIND_NODE, .node = 5 };
	f.ob.n = 0;
	paxos_put_bound(f.p, 1, b("B"), b("k"), b("v"), &nb, PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_msg(n == 0, "the put bound to observer 5 was answered at once (refused)");
	for (unsigned to = 1; to <= 3; to++)
		ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, to));
	ck_assert_msg(find(&f, PKV_MSG_PREPARE, 5) == NULL, "a PREPARE went to observer 5");
	for (size_t i = 0; i < f.ob.n; i++)
		ck_assert_msg(f.ob.v[i].to != PKV_TO_ALL, "a round was broadcast to every daemon");
	fx_free(&f);
}
END_TEST

START_TEST(until_in_the_past_is_invalid_value)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_set_wall(f.p, 1000000, f.now);
	struct pkv_bindings ub = { .mask = PKV_BIND_UNTIL, .until = 999999 };
	paxos_put_bound(f.p, 1, b("B"), b("k"), b("v"), &ub, PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_bindings nb = { .mask = PKV_BIND_NODE, .node = 9 };
	paxos_put_bound(f.p, 2, b("B"), b("k"), b("v"), &nb, PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_bindings db = { .mask = PKV_BIND_PID | PKV_BIND_PID_DEAD, .pid = 5 };
	paxos_put_bound(f.p, 3, b("B"), b("k"), b("v"), &db, PAXOS_NO_DEADLINE, false, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(c[i].status, PKV_S_INVALID_VALUE);
	fx_free(&f);
}
END_TEST

START_TEST(until_expiry_is_a_deadline_and_erases)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	paxos_set_wall(f.p, 1000000, f.now); /* wall ms at now µs */
	struct pkv_bindings ub = { .mask = PKV_BIND_UNTIL, .until = 1000050 };
	struct pkv_msg m = chosen_msg("u", 1, "v");
	set_bound(&m, 0, "v", &ub);
	fx_chosen(&f, 2, &m);
	ck_assert(entry(&f, "u")->chosen);
	ck_assert_uint_eq(entry(&f, "u")->chosen_bind->until, 1000050);
	ck_assert_uint_eq(paxos_next_deadline(f.p), f.now + 50000);
	paxos_tick(f.p, f.now + 49000);
	ck_assert(entry(&f, "u")->chosen);
	paxos_tick(f.p, f.now + 50000);
	ck_assert(!entry(&f, "u")->chosen);
	fx_free(&f);
}
END_TEST

/* ---- bucket drop ---- */

/*
 * A small cluster of cores with a reliable network: every message in an
 * outbox is delivered at once, except to or from a node that is down.
 */
#define CL_MAX 5

struct cl {
	unsigned n;
	struct store *s[CL_MAX + 1];
	struct pkv_outbox ob[CL_MAX + 1];
	struct paxos *p[CL_MAX + 1];
	bool down[CL_MAX + 1];
	uint64_t now;
};

static void cl_init(struct cl *c, unsigned n)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->now = 1000;
	for (unsigned i = 1; i <= n; i++) {
		struct paxos_config cfg = {
			.self = i,
			.n_nodes = n,
			.cluster_size = n,
			.seed = 100 + i,
			.retransmit_us = 1000,
			.backoff_max_us = 1000,
		};
		for (unsigned j = 0; j < n; j++)
			cfg.nodes[j] = j + 1;
		c->s[i] = store_new();
		pkv_outbox_init(&c->ob[i]);
		c->p[i] = paxos_new(&cfg, c->s[i], &c->ob[i]);
		ck_assert_ptr_nonnull(c->p[i]);
	}
	for (unsigned i = 1; i <= n; i++)
		for (unsigned j = 1; j <= n; j++)
			if (i != j)
				paxos_peer_update(c->p[i], j, true, PKV_MF_SYNCED, 0, c->now);
}

static void cl_free(struct cl *c)
{
	for (unsigned i = 1; i <= c->n; i++) {
		paxos_free(c->p[i]);
		store_free(c->s[i]);
		pkv_outbox_free(&c->ob[i]);
	}
}

/* Delivers until every outbox is empty. */
static void cl_pump(struct cl *c)
{
	for (bool any = true; any;) {
		any = false;
		for (unsigned i = 1; i <= c->n; i++) {
			if (!c->ob[i].n)
				continue;
			any = true;
			struct pkv_outbox q = c->ob[i];
			pkv_outbox_init(&c->ob[i]);
			for (size_t k = 0; k < q.n && !c->down[i]; k++) {
				const struct pkv_out *o = &q.v[k];
				for (unsigned j = 1; j <= c->n; j++)
					if (j != i && !c->down[j] && (o->to == PKV_TO_ALL || o->to == j))
						paxos_receive(c->p[j], i, &o->msg, c->now);
			}
			pkv_outbox_free(&q);
		}
	}
}

/* Lets time pass in retransmit steps, delivering as it goes. */
static void cl_run(struct cl *c, unsigned steps)
{
	cl_pump(c);
	for (unsigned s = 0; s < steps; s++) {
		c->now += 1000;
		for (unsigned i = 1; i <= c->n; i++)
			if (!c->down[i])
				paxos_tick(c->p[i], c->now);
		cl_pump(c);
	}
}

/* Node i goes down or comes back; the others' failure detectors see it. */
static void cl_set_down(struct cl *c, unsigned i, bool down)
{
	c->down[i] = down;
	for (unsigned j = 1; j <= c->n; j++) {
		if (j == i)
			continue;
		paxos_peer_update(c->p[j], i, !down, PKV_MF_SYNCED, 0, c->now);
		if (!down)
			paxos_peer_update(c->p[i], j, true, PKV_MF_SYNCED, 0, c->now);
	}
	if (down)
		pkv_outbox_reset(&c->ob[i]);
}

/* The completion with this id on node i (NULL: none yet). */
static const struct paxos_completion *cl_done(const struct cl *c, unsigned i, uint64_t id)
{
	size_t n;
	const struct paxos_completion *v = paxos_completions(c->p[i], &n);
	for (size_t k = 0; k < n; k++)
		if (v[k].id == id)
			return &v[k];
	return NULL;
}

static const struct paxos_completion *cl_put(struct cl *c, unsigned i, uint64_t id,
					     const char *bucket, const char *key, const char *v)
{
	paxos_put(c->p[i], id, b(bucket), b(key), b(v), PAXOS_NO_DEADLINE, false, c->now);
	cl_run(c, 20);
	const struct paxos_completion *r = cl_done(c, i, id);
	ck_assert_ptr_nonnull(r);
	return r;
}

static const struct paxos_completion *cl_drop(struct cl *c, unsigned i, uint64_t id,
					      const char *bucket)
{
	paxos_bucket_drop(c->p[i], id, b(bucket), PAXOS_NO_DEADLINE, c->now);
	cl_run(c, 20);
	const struct paxos_completion *r = cl_done(c, i, id);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->kind, PAXOS_REQ_DROP);
	return r;
}

static struct store_entry *cl_entry(struct cl *c, unsigned i, const char *bucket, const char *key)
{
	return store_lookup(c->s[i], b(bucket), b(key), false);
}

START_TEST(drop_erases_every_key_of_the_bucket_on_every_node)
{
	struct cl c;
	cl_init(&c, 3);
	ck_assert_int_eq(cl_put(&c, 1, 1, "B", "k1", "v1")->status, PKV_S_OK);
	ck_assert_int_eq(cl_put(&c, 2, 2, "B", "k2", "v2")->status, PKV_S_OK);
	ck_assert_int_eq(cl_put(&c, 3, 3, "B", "k3", "v3")->status, PKV_S_OK);
	/* A key only node 3 holds: a value accepted there, never chosen. */
	struct pkv_msg m = accept(1, 2, "lone");
	m.key = b("lone");
	paxos_receive(c.p[3], 2, &m, c.now);
	ck_assert(cl_entry(&c, 3, "B", "lone")->has_accepted);
	ck_assert_ptr_null(cl_entry(&c, 1, "B", "lone"));
	for (unsigned i = 1; i <= 3; i++)
		paxos_erased_reset(c.p[i]);

	ck_assert_int_eq(cl_drop(&c, 1, 9, "B")->status, PKV_S_OK);
	static const char *const keys[] = { "k1", "k2", "k3", "lone" };
	for (unsigned i = 1; i <= 3; i++) {
		for (unsigned k = 0; k < 4; k++) {
			struct store_entry *e = cl_entry(&c, i, "B", keys[k]);
			/* Every node holds the tombstone, even of a key it never held. */
			ck_assert_msg(e != NULL, "node %u key %s", i, keys[k]);
			ck_assert_msg(!store_entry_has_value(e), "node %u key %s", i, keys[k]);
			ck_assert_uint_eq(e->gen, 2);
		}
		size_t n;
		paxos_erased(c.p[i], &n);
		ck_assert_uint_ge(n, 3); /* the shared cache is told */
	}
	ck_assert_uint_eq(paxos_stats(c.p[1])->drops, 1);
	/* Gets find nothing anywhere. */
	paxos_get(c.p[2], 20, b("B"), b("k1"), PAXOS_NO_DEADLINE, false, c.now);
	paxos_get(c.p[3], 21, b("B"), b("lone"), PAXOS_NO_DEADLINE, false, c.now);
	cl_run(&c, 20);
	ck_assert_int_eq(cl_done(&c, 2, 20)->status, PKV_S_NOT_FOUND);
	ck_assert_int_eq(cl_done(&c, 3, 21)->status, PKV_S_NOT_FOUND);
	cl_free(&c);
}
END_TEST

START_TEST(drop_cascades_to_keys_bound_to_dropped_keys)
{
	struct fx f;
	fx_init(&f, 1, false, false, false);
	paxos_put(f.p, 1, b("B"), b("base"), b("x"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_bindings kb = { .mask = PKV_BIND_KEY, .key = b("base") };
	/* Bound to a key of the same bucket: ends with it (cascade), once. */
	paxos_put_bound(f.p, 2, b("B"), b("dep"), b("y"), &kb, PAXOS_NO_DEADLINE, false, f.now);
	ck_assert(entry(&f, "dep")->chosen);
	paxos_completions_reset(f.p);
	paxos_erased_reset(f.p);
	paxos_bucket_drop(f.p, 3, b("B"), PAXOS_NO_DEADLINE, f.now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1); /* a cluster of one: done at once */
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert_uint_eq(entry(&f, "base")->gen, 2);
	ck_assert_uint_eq(entry(&f, "dep")->gen, 2);
	paxos_erased(f.p, &n);
	ck_assert_uint_eq(n, 2);
	fx_free(&f);
}
END_TEST

START_TEST(drop_needs_quorum)
{
	struct cl c;
	cl_init(&c, 3);
	ck_assert_int_eq(cl_put(&c, 1, 1, "B", "k", "v")->status, PKV_S_OK);
	cl_set_down(&c, 2, true);
	cl_set_down(&c, 3, true);
	ck_assert(!paxos_has_quorum(c.p[1]));
	pkv_outbox_reset(&c.ob[1]);
	paxos_bucket_drop(c.p[1], 9, b("B"), PAXOS_NO_DEADLINE, c.now);
	const struct paxos_completion *r = cl_done(&c, 1, 9);
	ck_assert_ptr_nonnull(r); /* at once */
	ck_assert_int_eq(r->status, PKV_S_NO_QUORUM);
	/* A minority wipes nothing, here or elsewhere. */
	ck_assert(cl_entry(&c, 1, "B", "k")->chosen);
	ck_assert_uint_eq(cl_entry(&c, 1, "B", "k")->gen, 1);
	ck_assert_uint_eq(c.ob[1].n, 0);
	cl_free(&c);
}
END_TEST

/* The drop's record in PKV_DROP_BUCKET, under `key`, naming bucket B. */
static struct pkv_msg drop_record_msg(const char *key, uint32_t origin)
{
	static uint8_t rec[2 + PKV_MAX_BUCKET];
	uint32_t n = pkv_drop_encode(rec, origin, (const uint8_t *)"B", 1);
	return (struct pkv_msg){ .type = PKV_MSG_CHOSEN,
				 .bucket = { (const uint8_t *)PKV_DROP_BUCKET, PKV_DROP_BUCKET_LEN },
				 .key = b(key), .gen = 1, .ballot = bal(3, origin),
				 .value = { rec, n } };
}

static struct pkv_msg drop_msg(const char *key, uint32_t origin, uint64_t req)
{
	struct pkv_msg d = drop_record_msg(key, origin);
	d.type = PKV_MSG_DROP;
	d.gen = 0;
	d.ballot = (struct pkv_ballot){ 0 };
	d.req = req;
	return d;
}

START_TEST(drop_times_out_when_its_record_is_not_chosen)
{
	/* Nobody answers the put of the record: no DROP leaves, nothing is erased. */
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	pkv_outbox_reset(&f.ob);
	paxos_bucket_drop(f.p, 9, b("B"), f.now + 5000, f.now);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, UINT32_MAX);
	ck_assert_ptr_nonnull(pr);
	ck_assert(pkv_bytes_eq(pr->bucket, (struct pkv_bytes){ (const uint8_t *)PKV_DROP_BUCKET,
							       PKV_DROP_BUCKET_LEN }));
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP, UINT32_MAX));
	for (uint64_t t = f.now; t <= f.now + 5000; t = paxos_next_deadline(f.p)) {
		paxos_tick(f.p, t);
		ck_assert_ptr_null(find(&f, PKV_MSG_DROP, UINT32_MAX));
	}
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_TIMEOUT);
	ck_assert_int_eq(c[0].kind, PAXOS_REQ_DROP);
	ck_assert(entry(&f, "k")->chosen);
	fx_free(&f);
}
END_TEST

/* Attack: one peer's DROP erased the bucket. Now only a chosen record does. */
START_TEST(drop_without_a_chosen_record_erases_nothing)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg d = drop_msg("forged", 2, 55);
	paxos_receive(f.p, 2, &d, f.now);
	ck_assert(entry(&f, "k")->chosen);
	ck_assert_uint_eq(paxos_stats(f.p)->drops_applied, 0);
	ck_assert_uint_eq(paxos_stats(f.p)->drops_unproven, 1);
	/* It asks the voters for the record instead. */
	const struct pkv_msg *q = find(&f, PKV_MSG_QUERY, UINT32_MAX);
	ck_assert_ptr_nonnull(q);
	ck_assert(pkv_bytes_eq(q->key, b("forged")));
	/* One peer's CHOSEN of the record is no evidence either. */
	struct pkv_msg rec = drop_record_msg("forged", 2);
	paxos_receive(f.p, 2, &rec, f.now);
	paxos_tick(f.p, f.now + 1);
	ck_assert(entry(&f, "k")->chosen);
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP_ACK, UINT32_MAX));
	/* The voters answer that they hold no such record: still nothing. */
	struct pkv_msg none = { .type = PKV_MSG_QUERY_REPLY, .bucket = q->bucket, .key = q->key,
				.req = q->req, .gen = 1, .arg1 = 0 };
	paxos_receive(f.p, 2, &none, f.now);
	paxos_receive(f.p, 3, &none, f.now);
	ck_assert(entry(&f, "k")->chosen);
	ck_assert_uint_eq(paxos_stats(f.p)->drops_applied, 0);
	/* A few seconds on, the unproven DROP is forgotten: no more reads of it. */
	for (uint64_t t = f.now; t < f.now + 5000000; t += 100000)
		paxos_tick(f.p, t);
	pkv_outbox_reset(&f.ob);
	paxos_tick(f.p, f.now + 5200000);
	paxos_tick(f.p, f.now + 5400000);
	ck_assert_ptr_null(find(&f, PKV_MSG_QUERY, UINT32_MAX));
	ck_assert(entry(&f, "k")->chosen);
	fx_free(&f);
}
END_TEST

START_TEST(drop_ack_waits_until_the_erasures_are_acknowledged)
{
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	struct pkv_msg rec = drop_record_msg("d1", 2);
	fx_chosen(&f, 2, &rec); /* the voters chose the drop's record */
	ck_assert(entry(&f, "k")->chosen);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg d = drop_msg("d1", 2, 55);
	paxos_receive(f.p, 2, &d, f.now);
	ck_assert(!entry(&f, "k")->chosen);
	/* Everyone is told of the key, the drop's origin too. */
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE, 2));
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ERASE, 3));
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP_ACK, UINT32_MAX));
	struct pkv_msg ack = { .type = PKV_MSG_ERASE_ACK, .bucket = b("B"), .key = b("k"),
			       .gen = 1 };
	paxos_receive(f.p, 2, &ack, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP_ACK, UINT32_MAX));
	paxos_receive(f.p, 3, &ack, f.now);
	const struct pkv_msg *a = find(&f, PKV_MSG_DROP_ACK, 2);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->req, 55);
	ck_assert(pkv_bytes_eq(a->key, b("d1")));
	/* A retransmitted DROP (the ack was lost) is acknowledged, not applied again. */
	uint64_t applied = paxos_stats(f.p)->drops_applied;
	pkv_outbox_reset(&f.ob);
	paxos_receive(f.p, 2, &d, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_DROP_ACK, 2));
	ck_assert_uint_eq(paxos_stats(f.p)->drops_applied, applied);
	fx_free(&f);
}
END_TEST

START_TEST(put_after_drop_chooses_anew)
{
	struct cl c;
	cl_init(&c, 3);
	const struct paxos_completion *r = cl_put(&c, 1, 1, "B", "k", "old");
	ck_assert_int_eq(r->status, PKV_S_OK);
	ck_assert_uint_eq(r->gen, 1);
	ck_assert_int_eq(cl_drop(&c, 2, 2, "B")->status, PKV_S_OK);
	/* The same key, from a node and then another: the new value, next generation. */
	r = cl_put(&c, 3, 3, "B", "k", "new");
	ck_assert_int_eq(r->status, PKV_S_OK);
	ck_assert_uint_eq(r->gen, 2);
	ck_assert(pkv_bytes_eq(r->value, b("new")));
	r = cl_put(&c, 1, 4, "B", "k", "other");
	ck_assert_int_eq(r->status, PKV_S_OK);
	ck_assert_uint_eq(r->gen, 2);
	ck_assert(pkv_bytes_eq(r->value, b("new")));
	for (unsigned i = 1; i <= 3; i++)
		ck_assert_uint_eq(paxos_stats(c.p[i])->violations, 0);
	cl_free(&c);
}
END_TEST

START_TEST(drop_leaves_other_buckets_alone)
{
	struct cl c;
	cl_init(&c, 3);
	ck_assert_int_eq(cl_put(&c, 1, 1, "A", "k", "a")->status, PKV_S_OK);
	ck_assert_int_eq(cl_put(&c, 1, 2, "B", "k", "b")->status, PKV_S_OK);
	ck_assert_int_eq(cl_put(&c, 2, 3, "AB", "k", "ab")->status, PKV_S_OK);
	ck_assert_int_eq(cl_drop(&c, 3, 4, "B")->status, PKV_S_OK);
	for (unsigned i = 1; i <= 3; i++) {
		struct store_entry *a = cl_entry(&c, i, "A", "k");
		struct store_entry *ab = cl_entry(&c, i, "AB", "k");
		ck_assert(a->chosen && ab->chosen);
		ck_assert_uint_eq(a->gen, 1);
		ck_assert_uint_eq(ab->gen, 1);
		ck_assert(pkv_bytes_eq(a->chosen_value, b("a")));
		ck_assert(!store_entry_has_value(cl_entry(&c, i, "B", "k")));
	}
	/* Dropping a bucket nobody used is a no-op that succeeds. */
	ck_assert_int_eq(cl_drop(&c, 1, 5, "never")->status, PKV_S_OK);
	ck_assert(cl_entry(&c, 1, "A", "k")->chosen);
	cl_free(&c);
}
END_TEST

START_TEST(drop_reaches_a_node_that_missed_it)
{
	struct cl c;
	cl_init(&c, 3);
	ck_assert_int_eq(cl_put(&c, 1, 1, "B", "k", "v")->status, PKV_S_OK);
	ck_assert_int_eq(cl_put(&c, 1, 2, "B", "j", "w")->status, PKV_S_OK);
	cl_set_down(&c, 3, true);
	/* Nodes 1 and 2 are a majority: the drop completes without node 3. */
	ck_assert_int_eq(cl_drop(&c, 1, 3, "B")->status, PKV_S_OK);
	/* Node 3 still holds the dropped values: its learner would serve them. */
	ck_assert(cl_entry(&c, 3, "B", "k")->chosen);
	ck_assert(cl_entry(&c, 3, "B", "j")->chosen);
	/* But they can no longer be chosen again: a put elsewhere runs generation 2. */
	const struct paxos_completion *r = cl_put(&c, 2, 4, "B", "j", "w2");
	ck_assert_int_eq(r->status, PKV_S_OK);
	ck_assert_uint_eq(r->gen, 2);
	/* Node 3 comes back: the erasures reach it within a retransmit interval. */
	cl_set_down(&c, 3, false);
	cl_run(&c, 3);
	struct store_entry *k = cl_entry(&c, 3, "B", "k");
	ck_assert(!store_entry_has_value(k));
	ck_assert_uint_eq(k->gen, 2);
	struct store_entry *j = cl_entry(&c, 3, "B", "j");
	ck_assert_uint_eq(j->gen, 2);
	paxos_get(c.p[3], 5, b("B"), b("k"), PAXOS_NO_DEADLINE, false, c.now);
	paxos_get(c.p[3], 6, b("B"), b("j"), PAXOS_NO_DEADLINE, false, c.now);
	cl_run(&c, 20);
	ck_assert_int_eq(cl_done(&c, 3, 5)->status, PKV_S_NOT_FOUND);
	r = cl_done(&c, 3, 6);
	ck_assert_int_eq(r->status, PKV_S_OK);
	ck_assert_uint_eq(r->gen, 2);
	ck_assert(pkv_bytes_eq(r->value, b("w2")));
	/* Every node acknowledged: no tombstone left to spread. */
	for (unsigned i = 1; i <= 3; i++)
		ck_assert_uint_eq(paxos_stats(c.p[i])->tombstones_pending, 0);
	cl_free(&c);
}
END_TEST

START_TEST(drop_reaches_a_node_through_a_newer_generation)
{
	/* No ERASE reaches it: a message of generation 2 alone ends generation 1. */
	struct fx f;
	fx_init(&f, 3, false, false, true);
	struct pkv_msg m = chosen_msg("k", 1, "v");
	fx_chosen(&f, 2, &m);
	m = prepare(9, 2);
	m.gen = 2;
	paxos_receive(f.p, 2, &m, f.now);
	struct store_entry *e = entry(&f, "k");
	ck_assert(!e->chosen);
	ck_assert_uint_eq(e->gen, 2);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PROMISE, 2));
	fx_free(&f);
}
END_TEST

START_TEST(restarted_node_applies_drop_once_synced)
{
	/* Applied to a partial store, the drop would miss what the sync brings. */
	struct fx f;
	fx_init(&f, 3, true, false, false);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now);
	paxos_peer_update(f.p, 3, true, PKV_MF_SYNCED, 0, f.now);
	uint64_t req2 = find(&f, PKV_MSG_SYNC_REQ, 2)->req;
	uint64_t req3 = find(&f, PKV_MSG_SYNC_REQ, 3)->req;
	struct pkv_msg d = drop_msg("d1", 2, 55);
	paxos_receive(f.p, 2, &d, f.now);
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP_ACK, UINT32_MAX));
	/*
	 * A sync page sent before node 2 applied the drop brings a value in,
	 * and the drop's record, chosen.
	 */
	struct pkv_msg r = { .type = PKV_MSG_SYNC_REPLY, .req = req2, .bucket = b("B"),
			     .key = b("k"), .gen = 1, .ballot = bal(4, 2), .accepted = bal(4, 2),
			     .value = b("v"), .flags = PKV_MF_HAS_VALUE, .arg0 = 1 };
	paxos_receive(f.p, 2, &r, f.now);
	struct pkv_msg rec = drop_record_msg("d1", 2);
	struct pkv_msg rr = { .type = PKV_MSG_SYNC_REPLY, .req = req2, .bucket = rec.bucket,
			      .key = rec.key, .gen = 1, .ballot = rec.ballot, .accepted = rec.ballot,
			      .value = rec.value,
			      .flags = PKV_MF_HAS_VALUE | PKV_MF_CHOSEN | PKV_MF_LAST, .arg0 = 2 };
	paxos_receive(f.p, 2, &rr, f.now);
	struct pkv_msg e3 = { .type = PKV_MSG_SYNC_REPLY, .req = req3, .flags = PKV_MF_LAST };
	paxos_receive(f.p, 3, &e3, f.now);
	ck_assert(paxos_synced(f.p));
	/* Synced: the drop ends what the sync brought, then is acknowledged. */
	struct store_entry *e = entry(&f, "k");
	ck_assert(!store_entry_has_value(e));
	ck_assert_uint_eq(e->gen, 2);
	ck_assert_ptr_null(find(&f, PKV_MSG_DROP_ACK, UINT32_MAX));
	struct pkv_msg ack = { .type = PKV_MSG_ERASE_ACK, .bucket = b("B"), .key = b("k"),
			       .gen = 1 };
	paxos_receive(f.p, 2, &ack, f.now);
	paxos_receive(f.p, 3, &ack, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_DROP_ACK, 2));
	fx_free(&f);
}
END_TEST

/* ---- the fast round (paxos-acceptor.c: "The fast round") ---- */

static void fx_init_fast(struct fx *f, unsigned n, bool connect)
{
	fx_fast = true;
	fx_init(f, n, false, false, connect);
	fx_fast = false;
}

static struct pkv_ballot fast(void)
{
	return bal(1, 0);
}

/* Answers `acc` (an ACCEPT from the outbox) from node `from`: ok or a nack. */
static void accepted_from(struct fx *f, uint32_t from, const struct pkv_msg *acc, bool ok)
{
	struct pkv_msg r = { .type = PKV_MSG_ACCEPTED,
			     .bucket = acc->bucket,
			     .key = acc->key,
			     .gen = 1,
			     .ballot = acc->ballot,
			     .req = acc->req,
			     .flags = ok ? PKV_MF_OK : 0 };
	if (!ok)
		r.accepted = acc->ballot;
	paxos_receive(f->p, from, &r, f->now);
}

START_TEST(fast_put_skips_phase_one_and_needs_every_node)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_uint_eq(count(&f, PKV_MSG_PREPARE), 0);
	const struct pkv_msg *a0 = find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert_ptr_nonnull(a0);
	struct pkv_msg acc = *a0;
	ck_assert_int_eq(pkv_ballot_cmp(acc.ballot, fast()), 0);
	ck_assert(pkv_bytes_eq(acc.value, b("mine")));
	/* Self and node 2 are a majority, which is not enough at F. */
	accepted_from(&f, 2, &acc, true);
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(find(&f, PKV_MSG_CHOSEN, UINT32_MAX));
	accepted_from(&f, 3, &acc, true);
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert(pkv_bytes_eq(c[0].value, b("mine")));
	const struct pkv_msg *ch = find(&f, PKV_MSG_CHOSEN, PKV_TO_ALL);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(pkv_ballot_cmp(ch->ballot, fast()), 0);
	ck_assert_uint_eq(paxos_stats(f.p)->fast_chosen, 1);
	ck_assert_uint_eq(paxos_stats(f.p)->rounds_started, 0);
	fx_free(&f);
}
END_TEST

START_TEST(fast_round_with_a_late_node_goes_on_classically_without_pausing)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg acc = *find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert_uint_eq(paxos_next_deadline(f.p), f.now + 500); /* fast_wait_us */
	accepted_from(&f, 2, &acc, true); /* node 3 stays silent */
	pkv_outbox_reset(&f.ob);
	/* A majority accepted: the straggler is waited for fast_wait_us / 4 only. */
	uint64_t t = paxos_next_deadline(f.p);
	ck_assert_uint_eq(t, f.now + 125);
	f.now = t;
	paxos_tick(f.p, t);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	ck_assert_ptr_nonnull(pr);
	ck_assert_uint_ge(pr->ballot.round, 2); /* classic rounds are above F */
	struct pkv_msg prep = *pr;
	/* Phase 1 finds the votes at F (self's and node 2's) and proposes them. */
	promise_from(&f, 2, &prep, fast(), "mine");
	const struct pkv_msg *a2 = find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert_ptr_nonnull(a2);
	ck_assert(pkv_bytes_eq(a2->value, b("mine")));
	struct pkv_msg acc2 = *a2;
	accepted_from(&f, 2, &acc2, true);
	size_t n;
	const struct paxos_completion *c = paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert(pkv_bytes_eq(c[0].value, b("mine")));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_fallbacks, 1);
	/* A late node is no reason to pause: the next new key goes fast again. */
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 2, b("B"), b("k2"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_uint_eq(count(&f, PKV_MSG_PREPARE), 0);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_rounds, 2);
	fx_free(&f);
}
END_TEST

START_TEST(fast_round_nobody_answers_pauses_the_fast_round)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	pkv_outbox_reset(&f.ob);
	uint64_t t = paxos_next_deadline(f.p);
	ck_assert_uint_eq(t, f.now + 500); /* fast_wait_us: no majority came */
	f.now = t;
	paxos_tick(f.p, t);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, PKV_TO_ALL));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_fallbacks, 1);
	/* The nodes may be gone: the next new key starts classically. */
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 2, b("B"), b("k2"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, PKV_TO_ALL));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_rounds, 1);
	/* After 20 x fast_wait_us it is tried again. */
	f.now += 20 * 500;
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 3, b("B"), b("k3"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_uint_eq(paxos_stats(f.p)->fast_rounds, 2);
	fx_free(&f);
}
END_TEST

START_TEST(fast_nack_goes_on_in_a_classic_round_that_takes_a_vote_at_f)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	paxos_put(f.p, 1, b("B"), b("k"), b("mine"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg acc = *find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	pkv_outbox_reset(&f.ob);
	accepted_from(&f, 2, &acc, false); /* node 2 voted another value at F */
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	ck_assert_ptr_nonnull(pr); /* at once: no backoff after a fast collision */
	struct pkv_msg prep = *pr;
	promise_from(&f, 2, &prep, fast(), "theirs");
	const struct pkv_msg *a2 = find(&f, PKV_MSG_ACCEPT, PKV_TO_ALL);
	ck_assert_ptr_nonnull(a2);
	/* Two values at F among the promises: nothing was chosen at F; either is safe. */
	ck_assert(pkv_bytes_eq(a2->value, b("mine")) || pkv_bytes_eq(a2->value, b("theirs")));
	ck_assert_int_gt(pkv_ballot_cmp(a2->ballot, fast()), 0);
	fx_free(&f);
}
END_TEST

START_TEST(acceptor_votes_once_in_the_fast_round)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	struct pkv_msg a = accept(1, 0, "a");
	paxos_receive(f.p, 2, &a, f.now);
	const struct pkv_msg *r = find(&f, PKV_MSG_ACCEPTED, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_OK);
	pkv_outbox_reset(&f.ob);
	struct pkv_msg other = accept(1, 0, "b");
	paxos_receive(f.p, 3, &other, f.now);
	r = find(&f, PKV_MSG_ACCEPTED, 3);
	ck_assert_ptr_nonnull(r);
	ck_assert(!(r->flags & PKV_MF_OK));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_refused, 1);
	pkv_outbox_reset(&f.ob);
	/* The same value again (a retransmission, or another proposer of it). */
	paxos_receive(f.p, 3, &a, f.now);
	r = find(&f, PKV_MSG_ACCEPTED, 3);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_OK);
	/* A classic prepare is told of the vote. */
	pkv_outbox_reset(&f.ob);
	struct pkv_msg p2 = prepare(2, 3);
	paxos_receive(f.p, 3, &p2, f.now);
	r = find(&f, PKV_MSG_PROMISE, 3);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->flags & PKV_MF_HAS_VALUE);
	ck_assert_int_eq(pkv_ballot_cmp(r->accepted, fast()), 0);
	ck_assert(pkv_bytes_eq(r->value, b("a")));
	/* After that promise no fast ACCEPT is taken, not even the voted one. */
	pkv_outbox_reset(&f.ob);
	paxos_receive(f.p, 2, &a, f.now);
	r = find(&f, PKV_MSG_ACCEPTED, 2);
	ck_assert_ptr_nonnull(r);
	ck_assert(!(r->flags & PKV_MF_OK));
	fx_free(&f);
}
END_TEST

START_TEST(get_takes_a_fast_value_as_chosen_only_from_every_node)
{
	struct fx f;
	fx_init_fast(&f, 3, true);
	paxos_get(f.p, 1, b("B"), b("k"), PAXOS_NO_DEADLINE, false, f.now);
	struct pkv_msg q = *find(&f, PKV_MSG_QUERY, PKV_TO_ALL);
	struct pkv_msg r = { .type = PKV_MSG_QUERY_REPLY,
			     .bucket = q.bucket,
			     .key = q.key,
			     .gen = 1,
			     .req = q.req,
			     .flags = PKV_MF_HAS_VALUE,
			     .accepted = fast(),
			     .value = b("v") };
	pkv_outbox_reset(&f.ob);
	paxos_receive(f.p, 2, &r, f.now);
	paxos_receive(f.p, 3, &r, f.now);
	/* Two of three at F (self holds nothing): not chosen; a round finishes it. */
	size_t n;
	paxos_completions(f.p, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, PKV_TO_ALL));
	fx_free(&f);
}
END_TEST

START_TEST(fast_round_is_not_tried_with_a_node_down_or_a_key_held)
{
	struct fx f;
	fx_init_fast(&f, 3, false);
	paxos_peer_update(f.p, 2, true, PKV_MF_SYNCED, 0, f.now); /* node 3 down */
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	ck_assert_ptr_nonnull(find(&f, PKV_MSG_PREPARE, PKV_TO_ALL));
	ck_assert_uint_eq(paxos_stats(f.p)->fast_rounds, 0);
	fx_free(&f);

	fx_init_fast(&f, 3, true);
	struct pkv_msg p5 = prepare(5, 2); /* this node promised something for k */
	paxos_receive(f.p, 2, &p5, f.now);
	pkv_outbox_reset(&f.ob);
	paxos_put(f.p, 1, b("B"), b("k"), b("v"), PAXOS_NO_DEADLINE, false, f.now);
	const struct pkv_msg *pr = find(&f, PKV_MSG_PREPARE, PKV_TO_ALL);
	ck_assert_ptr_nonnull(pr);
	ck_assert_uint_gt(pr->ballot.round, 5);
	ck_assert_uint_eq(paxos_stats(f.p)->fast_rounds, 0);
	fx_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("paxos");
	TCase *a = tcase_create("acceptor");
	tcase_add_test(a, acceptor_promises_prepare_above_promise);
	tcase_add_test(a, acceptor_rejects_prepare_below_promise);
	tcase_add_test(a, acceptor_reports_highest_accepted_in_promise);
	tcase_add_test(a, acceptor_rejects_accept_below_promise);
	tcase_add_test(a, acceptor_accepts_at_promise_and_raises_promise);
	tcase_add_test(a, acceptor_ignores_other_generation);
	suite_add_tcase(s, a);
	TCase *l = tcase_create("learner");
	tcase_add_test(l, learner_counts_conflicting_chosen_as_violation);
	tcase_add_test(l, put_answers_from_learner_at_once);
	tcase_add_test(l, get_with_majority_on_one_ballot_is_chosen);
	suite_add_tcase(s, l);
	TCase *p = tcase_create("proposer");
	tcase_add_test(p, requests_out_of_limits_are_refused);
	tcase_add_test(p, proposer_adopts_highest_accepted_value);
	tcase_add_test(p, proposer_chooses_on_majority_accepted_and_broadcasts);
	tcase_add_test(p, quorum_is_majority_of_cluster_size_not_of_connected);
	tcase_add_test(p, proposer_retransmits_to_silent_nodes);
	tcase_add_test(p, nack_backs_off_then_forwards_to_primary);
	tcase_add_test(p, new_round_is_above_every_round_seen);
	tcase_add_test(p, put_times_out_at_deadline);
	tcase_add_test(p, forwarded_put_replies_to_origin);
	tcase_add_test(p, keys_merges_local_and_peer_answers);
	tcase_add_test(p, state_and_event_names);
	suite_add_tcase(s, p);
	TCase *r = tcase_create("restart");
	tcase_add_test(r, restarted_acceptor_answers_nothing_until_majority_copied);
	tcase_add_test(r, restarted_acceptor_waits_the_quiet_period_before_syncing);
	tcase_add_test(r, proposer_abandons_a_ballot_past_its_lifetime);
	tcase_add_test(r, sync_pages_through_the_store);
	tcase_add_test(r, sync_copy_keeps_the_accepted_value_when_the_learner_record_comes_first);
	tcase_add_test(r, fresh_majority_bootstraps_synced);
	tcase_add_test(r, fresh_node_among_old_ones_must_sync);
	tcase_add_test(r, all_unsynced_majority_declares_new_epoch_after_grace);
	tcase_add_test(r, message_of_older_generation_is_ignored);
	tcase_add_test(r, oversized_value_in_accept_or_chosen_is_dropped);
	tcase_add_test(r, erase_of_the_last_generation_does_not_wrap);
	tcase_add_test(r, erased_key_chooses_anew_in_next_generation);
	tcase_add_test(r, no_watched_end_below_the_floor_of_a_key_never_held);
	tcase_add_test(r, accepted_value_with_dead_binding_is_not_adopted);
	tcase_add_test(r, cascade_erases_dependent_keys);
	tcase_add_test(r, owner_restart_kills_its_pid_bindings);
	tcase_add_test(r, owner_loss_ends_the_bindings_of_incarnations_heard_before_it);
	tcase_add_test(r, pid_exit_erases_watched_key);
	tcase_add_test(r, pid_exit_erases_the_keys_of_that_process_only);
	tcase_add_test(r, pid_exit_ends_a_live_key_after_a_dead_one_of_that_process_was_learned);
	tcase_add_test(r, bound_put_of_unknown_outcome_is_read_back_and_ended_after_its_exit);
	tcase_add_test(r, tombstone_is_collected_without_nodes_that_never_ran);
	tcase_add_test(r, get_past_the_lease_does_not_take_its_own_learners_answer);
	tcase_add_test(r, query_past_the_lease_is_answered_without_chosen);
	tcase_add_test(r, sync_page_past_the_lease_says_no_chosen);
	tcase_add_test(r, get_that_loses_its_quorum_answers_no_quorum_at_once);
	tcase_add_test(r, forwarded_put_past_the_lease_does_not_answer_from_the_learner);
	tcase_add_test(r, keys_past_the_lease_answers_no_quorum);
	tcase_add_test(r, erase_owed_names_nodes_until_they_acknowledge);
	tcase_add_test(r, node_disconnect_erases_node_bound_key);
	tcase_add_test(r, observer_binds_to_an_unwatched_observer_and_sends_rounds_to_voters_only);
	tcase_add_test(r, until_in_the_past_is_invalid_value);
	tcase_add_test(r, until_expiry_is_a_deadline_and_erases);
	suite_add_tcase(s, r);
	TCase *fr = tcase_create("fast");
	tcase_add_test(fr, fast_put_skips_phase_one_and_needs_every_node);
	tcase_add_test(fr, fast_round_with_a_late_node_goes_on_classically_without_pausing);
	tcase_add_test(fr, fast_round_nobody_answers_pauses_the_fast_round);
	tcase_add_test(fr, fast_nack_goes_on_in_a_classic_round_that_takes_a_vote_at_f);
	tcase_add_test(fr, acceptor_votes_once_in_the_fast_round);
	tcase_add_test(fr, get_takes_a_fast_value_as_chosen_only_from_every_node);
	tcase_add_test(fr, fast_round_is_not_tried_with_a_node_down_or_a_key_held);
	suite_add_tcase(s, fr);
	TCase *d = tcase_create("drop");
	tcase_add_test(d, drop_erases_every_key_of_the_bucket_on_every_node);
	tcase_add_test(d, drop_cascades_to_keys_bound_to_dropped_keys);
	tcase_add_test(d, drop_needs_quorum);
	tcase_add_test(d, drop_times_out_when_its_record_is_not_chosen);
	tcase_add_test(d, drop_without_a_chosen_record_erases_nothing);
	tcase_add_test(d, drop_ack_waits_until_the_erasures_are_acknowledged);
	tcase_add_test(d, put_after_drop_chooses_anew);
	tcase_add_test(d, drop_leaves_other_buckets_alone);
	tcase_add_test(d, drop_reaches_a_node_that_missed_it);
	tcase_add_test(d, drop_reaches_a_node_through_a_newer_generation);
	tcase_add_test(d, restarted_node_applies_drop_once_synced);
	suite_add_tcase(s, d);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
