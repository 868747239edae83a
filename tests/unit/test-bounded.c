// SPDX-License-Identifier: MIT
/*
 * test-bounded.c — bounded work per received datagram (docs/design.md §7,
 * "Bounded work"): what one core queues in answer to floods of KEYS_REQ,
 * SYNC_REQ, DROP and FORWARD from one peer, counted message by message, and that the
 * paged key listing still lists every key.
 *
 * A datagram holds at most about 865 requests of these kinds (65,000 bytes,
 * ~75 bytes each), so "one datagram" below is 865 messages handed to the
 * core at one instant, as the loop does.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paxos.h"

#define PER_DGRAM 865u
#define MSG_BYTES 64u /* paxos.c's BUDGET_MSG_BYTES */

struct node {
	struct store *s;
	struct pkv_outbox ob;
	struct paxos *p;
	uint32_t self;
};

static struct pkv_bytes b(const char *s)
{
	return (struct pkv_bytes){ .p = (const uint8_t *)s, .len = (uint32_t)strlen(s) };
}

/* Node `self` of n, every peer connected and synced; classic rounds only. */
static void node_init(struct node *nd, uint32_t self, unsigned n, uint64_t now)
{
	struct paxos_config c = {
		.no_fast_put = true,
		.self = self,
		.n_nodes = n,
		.cluster_size = n,
		.seed = 42 + self,
		.retransmit_us = 1000,
		.backoff_max_us = 1000,
		.sync_page = 32,
	};
	for (unsigned i = 0; i < n; i++)
		c.nodes[i] = i + 1;
	nd->self = self;
	nd->s = store_new();
	pkv_outbox_init(&nd->ob);
	nd->p = paxos_new(&c, nd->s, &nd->ob);
	ck_assert_ptr_nonnull(nd->p);
	for (unsigned i = 1; i <= n; i++)
		if (i != self)
			paxos_peer_update(nd->p, i, true, PKV_MF_SYNCED, 0, now);
	pkv_outbox_reset(&nd->ob);
}

static void node_free(struct node *nd)
{
	paxos_completions_reset(nd->p);
	paxos_free(nd->p);
	store_free(nd->s);
	pkv_outbox_free(&nd->ob);
}

/* `nkeys` keys with an accepted value, after `holes` entries without one. */
static void fill(struct node *nd, const char *bucket, unsigned holes, unsigned nkeys,
		 uint64_t now)
{
	char k[32];
	uint32_t from = nd->self == 2 ? 3 : 2;
	for (unsigned i = 0; i < holes + nkeys; i++) {
		snprintf(k, sizeof(k), "%s%06u", i < holes ? "hole-" : "key-", i < holes ? i : i - holes);
		struct pkv_msg m = { .type = i < holes ? PKV_MSG_PREPARE : PKV_MSG_ACCEPT,
				     .bucket = b(bucket),
				     .key = b(k),
				     .gen = 1,
				     .ballot = { .round = 2, .node = from },
				     .value = i < holes ? (struct pkv_bytes){ 0 } : b("value"),
				     .req = 1 };
		paxos_receive(nd->p, from, &m, now);
	}
	pkv_outbox_reset(&nd->ob);
}

static size_t count(const struct node *nd, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < nd->ob.n; i++)
		n += nd->ob.v[i].msg.type == type;
	return n;
}

/* Bytes queued, as the answer budget counts them. */
static uint64_t queued_bytes(const struct node *nd)
{
	uint64_t n = 0;
	for (size_t i = 0; i < nd->ob.n; i++) {
		const struct pkv_msg *m = &nd->ob.v[i].msg;
		n += MSG_BYTES + m->bucket.len + m->key.len + m->value.len;
	}
	return n;
}

/*
 * One datagram full of KEYS_REQ for a bucket of 1,000 keys. Before the
 * budget, every request queued the whole bucket: 865,000 replies (144 MB
 * of RSS in pkvd). Now: one page per request, and requests only while the
 * peer's budget (512 KiB by default) lasts.
 */
START_TEST(keys_req_flood_in_one_datagram_stays_within_the_peer_budget)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 3, now);
	fill(&nd, "B", 0, 1000, now);
	struct pkv_msg q = { .type = PKV_MSG_KEYS_REQ, .bucket = b("B"), .arg0 = 1000000 };
	for (unsigned i = 0; i < PER_DGRAM; i++) {
		q.req = 100 + i;
		paxos_receive(nd.p, 2, &q, now);
	}
	size_t replies = count(&nd, PKV_MSG_KEYS_REPLY);
	uint64_t bytes = queued_bytes(&nd);
	/* The burst plus one page of the largest size (256 keys of 10 bytes). */
	uint64_t bound = (512u << 10) + PAXOS_KEYS_PAGE_MAX * (MSG_BYTES + 1 + 10);
	ck_assert_msg(bytes <= bound, "%zu replies, %llu bytes queued for one datagram", replies,
		      (unsigned long long)bytes);
	const struct paxos_stats *st = paxos_stats(nd.p);
	ck_assert_uint_gt(st->keys_over_budget, PER_DGRAM / 2);
	/* Every request answered got one page at most: 256 keys. */
	ck_assert_uint_le(replies, (PER_DGRAM - st->keys_over_budget) * PAXOS_KEYS_PAGE_MAX);
	node_free(&nd);
}
END_TEST

/*
 * The flood goes on, 865 KEYS_REQ every millisecond for two seconds: what
 * is queued grows with the rate (32 MiB/s), not with the requests (1.7
 * million of them would queue 1.7 billion replies).
 */
START_TEST(keys_req_flood_over_many_datagrams_is_bounded_by_the_rate)
{
	struct node nd;
	uint64_t now = 1000000, t0 = now;
	node_init(&nd, 1, 3, now);
	fill(&nd, "B", 0, 1000, now);
	struct pkv_msg q = { .type = PKV_MSG_KEYS_REQ, .bucket = b("B") };
	uint64_t bytes = 0;
	for (unsigned d = 0; d < 2000; d++, now += 1000) {
		for (unsigned i = 0; i < PER_DGRAM; i++) {
			q.req = (uint64_t)d * PER_DGRAM + i;
			paxos_receive(nd.p, 2, &q, now);
		}
		bytes += queued_bytes(&nd);
		ck_assert_uint_le(nd.ob.n, 20000); /* per datagram, whatever came before */
		pkv_outbox_reset(&nd.ob);
	}
	uint64_t bound = (512u << 10) + (32ull << 20) * (now - t0) / 1000000 + 64 * 1024;
	ck_assert_msg(bytes <= bound, "%llu bytes queued in 2 s", (unsigned long long)bytes);
	ck_assert_uint_gt(paxos_stats(nd.p)->keys_over_budget, PER_DGRAM * 1900);
	node_free(&nd);
}
END_TEST

/* A page holds PAXOS_KEYS_PAGE_MAX keys at most, whatever arg0 asks. */
START_TEST(keys_page_is_capped_whatever_the_request_asks)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 3, now);
	fill(&nd, "B", 0, 1000, now);
	struct pkv_msg q = { .type = PKV_MSG_KEYS_REQ, .bucket = b("B"), .req = 9,
			     .arg0 = UINT64_MAX };
	paxos_receive(nd.p, 2, &q, now);
	ck_assert_uint_eq(count(&nd, PKV_MSG_KEYS_REPLY), PAXOS_KEYS_PAGE_MAX);
	const struct pkv_msg *last = &nd.ob.v[nd.ob.n - 1].msg;
	ck_assert(last->flags & PKV_MF_LAST);
	ck_assert_uint_eq(last->arg2, PAXOS_KEYS_PAGE_MAX);
	ck_assert_uint_eq(last->arg0, PAXOS_KEYS_PAGE_MAX); /* the next page's cursor */
	/* A cursor past the end: one key-less final reply. */
	pkv_outbox_reset(&nd.ob);
	q.arg1 = UINT64_MAX;
	paxos_receive(nd.p, 2, &q, now);
	ck_assert_uint_eq(nd.ob.n, 1);
	ck_assert(nd.ob.v[0].msg.flags & PKV_MF_LAST);
	ck_assert_uint_eq(nd.ob.v[0].msg.key.len, 0);
	ck_assert_uint_eq(nd.ob.v[0].msg.arg0, 0);
	/* A bucket of entries without a value: a page looks at PAXOS_KEYS_SCAN_MAX. */
	fill(&nd, "H", PAXOS_KEYS_SCAN_MAX + 10, 0, now);
	q.bucket = b("H");
	q.arg1 = 0;
	paxos_receive(nd.p, 2, &q, now);
	ck_assert_uint_eq(nd.ob.n, 1);
	ck_assert_uint_eq(nd.ob.v[0].msg.key.len, 0);
	ck_assert_uint_eq(nd.ob.v[0].msg.arg0, PAXOS_KEYS_SCAN_MAX);
	node_free(&nd);
}
END_TEST

/* Delivers every queued message until nothing moves; returns the rounds. */
static unsigned pump(struct node *nds, unsigned n, uint64_t now)
{
	unsigned rounds = 0;
	for (bool moved = true; moved && rounds < 10000; rounds++) {
		moved = false;
		for (unsigned i = 0; i < n; i++) {
			struct pkv_outbox out = nds[i].ob;
			pkv_outbox_init(&nds[i].ob);
			for (size_t k = 0; k < out.n; k++) {
				moved = true;
				for (unsigned j = 0; j < n; j++)
					if (j != i && (out.v[k].to == j + 1 || out.v[k].to == PKV_TO_ALL))
						paxos_receive(nds[j].p, i + 1, &out.v[k].msg, now);
			}
			pkv_outbox_free(&out);
		}
	}
	return rounds;
}

/*
 * A legitimate listing after a flood: node 1 lists a bucket of 3,000 keys
 * (behind 5,000 entries without a value) held by nodes 2 and 3, page by
 * page, and gets every key once the flood's budget has refilled.
 */
START_TEST(keys_listing_pages_through_the_whole_bucket_after_a_flood)
{
	struct node nds[3];
	uint64_t now = 1000000;
	for (unsigned i = 0; i < 3; i++)
		node_init(&nds[i], i + 1, 3, now);
	fill(&nds[1], "B", 5000, 3000, now);
	fill(&nds[2], "B", 0, 3000, now);
	/* Node 1 floods node 2 first: it spends its budget there. */
	struct pkv_msg q = { .type = PKV_MSG_KEYS_REQ, .bucket = b("B") };
	for (unsigned i = 0; i < PER_DGRAM; i++) {
		q.req = i + 1;
		paxos_receive(nds[1].p, 1, &q, now);
	}
	ck_assert_uint_gt(paxos_stats(nds[1].p)->keys_over_budget, 0);
	pkv_outbox_reset(&nds[1].ob);
	now += 1000000;
	ck_assert_int_eq(paxos_keys(nds[0].p, 77, b("B"), now + 10000000, now), 0);
	unsigned rounds = pump(nds, 3, now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(nds[0].p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].status, PKV_S_OK);
	ck_assert_uint_eq(c[0].n_keys, 3000);
	ck_assert(pkv_bytes_eq(c[0].keys[0], b("key-000000")));
	ck_assert(pkv_bytes_eq(c[0].keys[2999], b("key-002999")));
	ck_assert_uint_gt(rounds, 3000 / 64); /* it paged */
	node_free(&nds[0]);
	node_free(&nds[1]);
	node_free(&nds[2]);
}
END_TEST

/*
 * A page whose non-final reply was lost is asked again at the timer, not
 * taken as complete: the final reply counts the page's keys.
 */
START_TEST(keys_page_with_a_lost_reply_is_asked_again)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 2, now);
	ck_assert_int_eq(paxos_keys(nd.p, 5, b("B"), now + 10000000, now), 0);
	ck_assert_uint_eq(nd.ob.n, 1);
	uint64_t rid = nd.ob.v[0].msg.req;
	pkv_outbox_reset(&nd.ob);
	/* Page 0 of two keys: "a" is lost, the final "b" arrives. */
	struct pkv_msg r = { .type = PKV_MSG_KEYS_REPLY, .bucket = b("B"), .req = rid,
			     .key = b("b"), .flags = PKV_MF_LAST, .arg2 = 2 };
	paxos_receive(nd.p, 2, &r, now);
	size_t n;
	paxos_completions(nd.p, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(nd.ob.n, 0); /* no next page yet */
	now += 1000;
	paxos_tick(nd.p, now);
	ck_assert_uint_eq(count(&nd, PKV_MSG_KEYS_REQ), 1);
	ck_assert_uint_eq(nd.ob.v[0].msg.arg1, 0); /* the same page */
	r.key = b("a");
	r.flags = 0;
	paxos_receive(nd.p, 2, &r, now);
	r.key = b("b");
	r.flags = PKV_MF_LAST;
	paxos_receive(nd.p, 2, &r, now);
	const struct paxos_completion *c = paxos_completions(nd.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(c[0].n_keys, 2);
	node_free(&nd);
}
END_TEST

/* A peer that answers a page with endless keys adds PAXOS_KEYS_PAGE_MAX of them. */
START_TEST(keys_page_of_endless_replies_adds_a_page_of_keys)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 2, now);
	ck_assert_int_eq(paxos_keys(nd.p, 5, b("B"), now + 10000000, now), 0);
	uint64_t rid = nd.ob.v[0].msg.req;
	pkv_outbox_reset(&nd.ob);
	struct pkv_msg r = { .type = PKV_MSG_KEYS_REPLY, .bucket = b("B"), .req = rid };
	char k[16];
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(k, sizeof(k), "x%05u", i);
		r.key = b(k);
		paxos_receive(nd.p, 2, &r, now);
	}
	r.key = (struct pkv_bytes){ 0 };
	r.flags = PKV_MF_LAST;
	r.arg2 = PAXOS_KEYS_PAGE_MAX;
	paxos_receive(nd.p, 2, &r, now);
	size_t n;
	const struct paxos_completion *c = paxos_completions(nd.p, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(c[0].n_keys, PAXOS_KEYS_PAGE_MAX);
	node_free(&nd);
}
END_TEST

/*
 * One datagram full of SYNC_REQ for a store of 2,000 entries. Before the
 * budget every one was answered with a page: 865 × 32 records.
 */
START_TEST(sync_req_flood_in_one_datagram_stays_within_the_peer_budget)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 3, now);
	fill(&nd, "B", 0, 2000, now);
	struct pkv_msg q = { .type = PKV_MSG_SYNC_REQ };
	for (unsigned i = 0; i < PER_DGRAM; i++) {
		q.req = 100 + i;
		q.arg0 = (i * 32u) % 2000u;
		paxos_receive(nd.p, 3, &q, now);
	}
	uint64_t bytes = queued_bytes(&nd);
	/* The burst plus one page of 32 records of at most 80 bytes. */
	uint64_t bound = (512u << 10) + 32 * (MSG_BYTES + 80);
	ck_assert_msg(bytes <= bound, "%zu records, %llu bytes queued for one datagram",
		      count(&nd, PKV_MSG_SYNC_REPLY), (unsigned long long)bytes);
	ck_assert_uint_gt(paxos_stats(nd.p)->sync_over_budget, PER_DGRAM / 2);
	/* The budget refills: a restarted peer's sync is answered a second later. */
	pkv_outbox_reset(&nd.ob);
	now += 1000000;
	q.arg0 = 0;
	paxos_receive(nd.p, 3, &q, now);
	ck_assert_uint_eq(count(&nd, PKV_MSG_SYNC_REPLY), 32);
	/* And one peer's flood does not spend another's budget. */
	pkv_outbox_reset(&nd.ob);
	for (unsigned i = 0; i < PER_DGRAM; i++)
		paxos_receive(nd.p, 3, &q, now);
	pkv_outbox_reset(&nd.ob);
	paxos_receive(nd.p, 2, &q, now);
	ck_assert_uint_eq(count(&nd, PKV_MSG_SYNC_REPLY), 32);
	node_free(&nd);
}
END_TEST

/*
 * DROPs under fresh request ids (and fresh drop keys) for a bucket: each
 * one was applied (a walk of the bucket) and kept pending without end. Now
 * a DROP whose record was never chosen erases nothing, and a peer has
 * PAXOS_DROPS_PER_PEER pending at most, each with one learner read.
 */
START_TEST(drop_flood_under_fresh_request_ids_keeps_pending_drops_bounded)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 3, now);
	fill(&nd, "B", 0, 100, now);
	uint8_t rec[2 + PKV_MAX_BUCKET], key[8];
	uint32_t n = pkv_drop_encode(rec, 2, (const uint8_t *)"B", 1);
	struct pkv_msg d = { .type = PKV_MSG_DROP, .bucket = { (const uint8_t *)PKV_DROP_BUCKET,
							       PKV_DROP_BUCKET_LEN },
			     .key = { key, sizeof(key) }, .value = { rec, n } };
	for (unsigned i = 0; i < PER_DGRAM; i++) {
		d.req = 1000 + i;
		pkv_put_u64le(key, d.req);
		paxos_receive(nd.p, 2, &d, now);
		pkv_outbox_reset(&nd.ob);
	}
	const struct paxos_stats *st = paxos_stats(nd.p);
	ck_assert_uint_eq(st->drops_applied, 0);
	ck_assert_uint_eq(st->drop_erasures, 0); /* no record, no erasure */
	ck_assert_uint_eq(st->drops_over_budget, PER_DGRAM - PAXOS_DROPS_PER_PEER);
	ck_assert_uint_le(st->learn_reads, PAXOS_DROPS_PER_PEER);
	node_free(&nd);
}
END_TEST

/*
 * FORWARDs of distinct keys with no deadline, to a node whose peers never
 * answer: each became a request running forever (a round, its retransmits,
 * ~6 KB), one datagram after another. Now a peer has
 * PAXOS_FORWARDS_PER_PEER running at most; a retransmitted one is no new one.
 */
START_TEST(forward_flood_of_fresh_keys_keeps_running_requests_bounded)
{
	struct node nd;
	uint64_t now = 1000000;
	node_init(&nd, 1, 3, now);
	struct pkv_msg f = { .type = PKV_MSG_FORWARD, .bucket = b("B"), .value = b("v"),
			     .arg0 = PAXOS_NO_DEADLINE };
	char k[16];
	for (unsigned d = 0; d < 4; d++)
		for (unsigned i = 0; i < PER_DGRAM; i++) {
			snprintf(k, sizeof(k), "f%u-%u", d, i);
			f.key = b(k);
			f.req = 1 + d * PER_DGRAM + i;
			paxos_receive(nd.p, 2, &f, now);
			pkv_outbox_reset(&nd.ob);
		}
	const struct paxos_stats *st = paxos_stats(nd.p);
	ck_assert_uint_le(st->requests_in_flight, PAXOS_FORWARDS_PER_PEER);
	ck_assert_uint_eq(st->forwards_over_budget, 4 * PER_DGRAM - PAXOS_FORWARDS_PER_PEER);
	/* The origin retransmits one that runs: not counted, not started twice. */
	f.req = 1;
	snprintf(k, sizeof(k), "f0-0");
	f.key = b(k);
	paxos_receive(nd.p, 2, &f, now);
	ck_assert_uint_eq(st->forwards_over_budget, 4 * PER_DGRAM - PAXOS_FORWARDS_PER_PEER);
	ck_assert_uint_le(st->requests_in_flight, PAXOS_FORWARDS_PER_PEER);
	/* Another peer's forwards are its own. */
	f.req = 99;
	f.key = b("other");
	paxos_receive(nd.p, 3, &f, now);
	ck_assert_uint_eq(st->requests_in_flight, PAXOS_FORWARDS_PER_PEER + 1);
	node_free(&nd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bounded");
	TCase *t = tcase_create("flood");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, keys_req_flood_in_one_datagram_stays_within_the_peer_budget);
	tcase_add_test(t, keys_req_flood_over_many_datagrams_is_bounded_by_the_rate);
	tcase_add_test(t, keys_page_is_capped_whatever_the_request_asks);
	tcase_add_test(t, keys_listing_pages_through_the_whole_bucket_after_a_flood);
	tcase_add_test(t, keys_page_with_a_lost_reply_is_asked_again);
	tcase_add_test(t, keys_page_of_endless_replies_adds_a_page_of_keys);
	tcase_add_test(t, sync_req_flood_in_one_datagram_stays_within_the_peer_budget);
	tcase_add_test(t, drop_flood_under_fresh_request_ids_keeps_pending_drops_bounded);
	tcase_add_test(t, forward_flood_of_fresh_keys_keeps_running_requests_bounded);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
