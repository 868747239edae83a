// SPDX-License-Identifier: MIT
/*
 * Unit tests of wire.c: the codec round trip, batching, and every reason a
 * receiver drops a datagram — each asserted and counted, and each shown to
 * leave the receiver's per-sender state untouched.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

#define SELF	1u
#define PEER	2u
#define PEER2	3u
#define CLUSTER 0x1122334455667788ull

/* other_key: as build()'s key, a sender that does not hold the session key. */
static struct auth_key key, other_key;
static struct auth_key seeds[PKV_MAX_NODES + 1];
static uint8_t pks[PKV_MAX_NODES + 1][AUTH_PK_BYTES];
/* The receiver under test (node SELF), and the daemons that send to it. */
static struct wire rx;
static struct wire senders[4];
static uint8_t dgram[WIRE_MAX_DGRAM + 64];
static uint8_t copy[WIRE_MAX_DGRAM + 64];

static uint8_t big_bucket[PKV_MAX_BUCKET];
static uint8_t big_key[PKV_MAX_KEY];
static uint8_t big_value[WIRE_MAX_VALUE];

/* The receiver's clock (µs), moved by the delay-bound tests. */
static uint64_t now_us;

static void node_keys(void)
{
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		uint8_t sk[AUTH_SK_BYTES];
		auth_node_seed_from_cluster_key(&seeds[id], &key, id == 1 ? "a" : id == 2 ? "b" : "c");
		seeds[id].k[31] ^= (uint8_t)id;
		auth_node_keypair(pks[id], sk, &seeds[id]);
	}
}

/* A fresh wire for node id of incarnation inc, expecting the nodes in peers. */
static void wire_node(struct wire *w, uint32_t id, uint64_t inc)
{
	wire_init(w, CLUSTER, id, inc, &seeds[id]);
	for (uint32_t p = 1; p <= 3; p++)
		if (p != id)
			ck_assert_int_eq(wire_add_peer(w, p, pks[p]), 0);
}

/*
 * Runs the handshake of the session from `from` to `to` (an INIT, its RESP;
 * the confirming empty datagram is returned in *confirm, not delivered).
 */
static size_t handshake(struct wire *from, struct wire *to, uint8_t *confirm)
{
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	uint64_t next = UINT64_MAX;
	size_t rl = 0, cl = 0;

	ck_assert_uint_eq(wire_handshake_due(from, to->self, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	ck_assert_int_eq(wire_receive(to, init, sizeof(init), now_us, &h, &it, resp, sizeof(resp),
				      &rl),
			 WIRE_HANDSHAKE);
	ck_assert_uint_eq(rl, WIRE_HS_BYTES);
	ck_assert_int_eq(wire_receive(from, resp, rl, now_us, &h, &it, confirm, WIRE_HS_BYTES,
				      &cl),
			 WIRE_HANDSHAKE);
	ck_assert_uint_eq(cl, WIRE_MIN_DGRAM);
	ck_assert(wire_can_send(from, to->self));
	return cl;
}

/* Sender id (PEER or PEER2) runs incarnation inc, with a session to rx. */
static struct wire *sender(uint32_t id, uint64_t inc)
{
	static uint8_t confirm[WIRE_HS_BYTES];
	struct wire *w = &senders[id];

	if (w->self != id || w->incarnation != inc || !wire_can_send(w, SELF)) {
		wire_node(w, id, inc);
		handshake(w, &rx, confirm);
	}
	return w;
}

static void setup(void)
{
	now_us = 0;
	ck_assert_int_ge(sodium_init(), 0);
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++) {
		key.k[i] = (uint8_t)(i * 7 + 1);
		other_key.k[i] = (uint8_t)(i * 7 + 2);
	}
	for (unsigned i = 0; i < sizeof(big_bucket); i++)
		big_bucket[i] = (uint8_t)(i * 3 + 1);
	for (unsigned i = 0; i < sizeof(big_key); i++)
		big_key[i] = (uint8_t)(i * 5 + 2);
	for (unsigned i = 0; i < sizeof(big_value); i++)
		big_value[i] = (uint8_t)(i * 11 + 3);
	node_keys();
	memset(senders, 0, sizeof(senders));
	wire_node(&rx, SELF, 1);
}

/* What a test asks of a datagram: its sender's incarnation picks the session. */
struct thdr {
	uint64_t cluster_id;
	uint32_t sender;
	uint64_t incarnation;
	uint64_t seq;
};

static struct thdr hdr(uint32_t sender, uint64_t inc, uint64_t seq)
{
	return (struct thdr){
	    .cluster_id = CLUSTER,
	    .sender = sender,
	    .incarnation = inc,
	    .seq = seq,
	};
}

/* Starts a datagram from h.sender's session (PEER's, patched later for others). */
static void begin(struct wire_builder *b, uint8_t *buf, size_t cap, struct thdr h, bool encrypt)
{
	uint32_t id = h.sender == PEER2 ? PEER2 : PEER;
	struct wire *w = sender(id, h.incarnation);

	w->peers[SELF].tx.seq = h.seq - 1;
	w->cluster_id = h.cluster_id;
	ck_assert_int_eq(wire_begin(b, w, SELF, buf, cap, encrypt, now_us), 0);
	w->cluster_id = CLUSTER;
}

/* Seals b; with other_key as k, under a key that is not the session's. */
static int finish(struct wire_builder *b, struct thdr h, const struct auth_key *k)
{
	uint8_t forged[AUTH_KEY_BYTES];
	int len;

	if (k == &other_key) {
		memcpy(forged, b->key, AUTH_KEY_BYTES);
		forged[0] ^= 1;
		b->key = forged;
	}
	len = wire_finish(b);
	if (h.sender != PEER && h.sender != PEER2) {
		b->buf[16] = (uint8_t)h.sender;
		b->buf[17] = (uint8_t)(h.sender >> 8);
		b->buf[18] = (uint8_t)(h.sender >> 16);
		b->buf[19] = (uint8_t)(h.sender >> 24);
	}
	return len;
}

static struct pkv_msg small_msg(uint8_t type, uint64_t req)
{
	static const uint8_t k[] = "some-key";
	static const uint8_t v[] = "a value";

	return (struct pkv_msg){
	    .type = type,
	    .flags = PKV_MF_OK,
	    .req = req,
	    .gen = 3,
	    .ballot = {7, PEER},
	    .bucket = {(const uint8_t *)PKV_DEFAULT_BUCKET, sizeof(PKV_DEFAULT_BUCKET) - 1},
	    .key = {k, sizeof(k) - 1},
	    .value = {v, sizeof(v) - 1},
	};
}

/* Every field at an extreme, every byte string at its limit. */
static struct pkv_msg max_msg(uint8_t type)
{
	return (struct pkv_msg){
	    .type = type,
	    .flags = 0xff,
	    .req = UINT64_MAX,
	    .gen = UINT64_MAX - 1,
	    .ballot = {UINT64_MAX - 2, UINT32_MAX},
	    .accepted = {0x8000000000000001ull, UINT32_MAX - 1},
	    .arg0 = 0x0102030405060708ull,
	    .arg1 = UINT64_MAX - 3,
	    .arg2 = 0xfedcba9876543210ull,
	    .bucket = {big_bucket, PKV_MAX_BUCKET},
	    .key = {big_key, PKV_MAX_KEY},
	    .value = {big_value, WIRE_MAX_VALUE},
	};
}

static void assert_bytes_eq(struct pkv_bytes a, struct pkv_bytes b)
{
	ck_assert_uint_eq(a.len, b.len);
	if (a.len)
		ck_assert_int_eq(memcmp(a.p, b.p, a.len), 0);
}

static void assert_msg_eq(const struct pkv_msg *a, const struct pkv_msg *b)
{
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->req, b->req);
	ck_assert_uint_eq(a->gen, b->gen);
	ck_assert_int_eq(pkv_ballot_cmp(a->ballot, b->ballot), 0);
	ck_assert_int_eq(pkv_ballot_cmp(a->accepted, b->accepted), 0);
	ck_assert_uint_eq(a->arg0, b->arg0);
	ck_assert_uint_eq(a->arg1, b->arg1);
	ck_assert_uint_eq(a->arg2, b->arg2);
	assert_bytes_eq(a->bucket, b->bucket);
	assert_bytes_eq(a->key, b->key);
	assert_bytes_eq(a->value, b->value);
}

static size_t build(uint8_t *buf, struct thdr h, const struct pkv_msg *ms, unsigned n,
		    const struct auth_key *k, bool encrypt)
{
	struct wire_builder b;
	int len;

	begin(&b, buf, WIRE_MAX_DGRAM, h, encrypt);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(wire_add(&b, &ms[i]), 0);
	len = finish(&b, h, k);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

static size_t build_one(struct thdr h, bool encrypt)
{
	struct pkv_msg m = small_msg(PKV_MSG_PREPARE, h.seq);

	return build(dgram, h, &m, 1, &key, encrypt);
}

/*
 * Seals a hand-made message area with a valid tag, so that it passes
 * authentication and reaches the body checks.
 */
static size_t build_raw(uint8_t *buf, struct thdr h, uint16_t count, const uint8_t *body,
			size_t body_len, bool encrypt)
{
	struct wire_builder b;
	int len;

	begin(&b, buf, WIRE_MAX_DGRAM, h, encrypt);
	memcpy(buf + WIRE_HDR_BYTES, body, body_len);
	b.len = WIRE_HDR_BYTES + body_len;
	buf[WIRE_HDR_BYTES - 2] = (uint8_t)count;
	buf[WIRE_HDR_BYTES - 1] = (uint8_t)(count >> 8);
	len = finish(&b, h, &key);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

static int receive_into(struct wire *w, uint8_t *buf, size_t len)
{
	struct wire_hdr h;
	struct wire_iter it;
	uint8_t reply[WIRE_HS_BYTES];
	size_t rl;

	return wire_receive(w, buf, len, now_us, &h, &it, reply, sizeof(reply), &rl);
}

static int receive(uint8_t *buf, size_t len)
{
	return receive_into(&rx, buf, len);
}

static int receive_out(uint8_t *buf, size_t len, struct wire_hdr *out, struct wire_iter *it)
{
	uint8_t reply[WIRE_HS_BYTES];
	size_t rl;

	return wire_receive(&rx, buf, len, now_us, out, it, reply, sizeof(reply), &rl);
}

static void assert_accepted(uint8_t *buf, size_t len)
{
	ck_assert_int_eq(receive(buf, len), 0);
}

static uint64_t total_rejects(void)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < WIRE_REJ__COUNT; i++)
		t += rx.rejects[i];
	return t;
}

/*
 * Receives buf and asserts it is dropped for reason r, counted once under r
 * and nowhere else, and that nothing else in rx moved.
 */
static void assert_rejected(uint8_t *buf, size_t len, enum wire_reject r)
{
	static struct wire before;
	uint64_t count_before = rx.rejects[r], total_before = total_rejects();
	int rc;

	memcpy(&before, &rx, sizeof(rx));
	rc = receive(buf, len);
	ck_assert_msg(rc == WIRE_RC(r), "expected %s, got rc %d (%s)", wire_reject_to_str(r), rc,
		      rc > 0 ? wire_reject_to_str(WIRE_RC_REJECT(rc)) : "accepted");
	ck_assert_uint_eq(rx.rejects[r], count_before + 1);
	ck_assert_uint_eq(total_rejects(), total_before + 1);
	before.rejects[r]++;
	/* What an authentic datagram leaves: its sender's stamp, and whether
	 * a stale echo was answered (wire.h). */
	for (uint32_t id = 1; id <= PKV_MAX_NODES; id++) {
		before.peers[id].stamp_in = rx.peers[id].stamp_in;
		before.peers[id].stamp_inc = rx.peers[id].stamp_inc;
		before.peers[id].stamp_sent_us = rx.peers[id].stamp_sent_us;
		before.peers[id].sent_us = rx.peers[id].sent_us;
		before.peers[id].rx.seq = rx.peers[id].rx.seq;
		before.peers[id].tx.seq = rx.peers[id].tx.seq;
	}
	ck_assert_int_eq(memcmp(&before, &rx, sizeof(rx)), 0);
}

/*
 * The receiver speaks to sender id (incarnation inc): an empty datagram from rx, stamped
 * now_us, which the sender takes; its next datagrams echo that stamp.
 */
static void hear_rx(uint32_t id, uint64_t inc)
{
	static uint8_t first[WIRE_HS_BYTES], one[WIRE_MIN_DGRAM];
	struct wire *w = sender(id, inc);
	struct wire_builder b;

	if (!wire_can_send(&rx, id) || rx.peers[id].tx.peer_inc != w->incarnation) {
		/* Ours now, whatever INIT of rx a test left waiting. */
		rx.peers[id].hs_pending = false;
		rx.peers[id].hs_want_inc = w->incarnation;
		size_t n = handshake(&rx, w, first);
		ck_assert_int_eq(receive_into(w, first, n), WIRE_OK);
	}
	ck_assert_int_eq(wire_begin(&b, &rx, id, one, sizeof(one), false, now_us), 0);
	int n = wire_finish(&b);
	ck_assert_int_eq(receive_into(w, one, (size_t)n), WIRE_OK);
}

/* ---- codec ------------------------------------------------------------- */

static void roundtrip_every_type(bool encrypt)
{
	for (uint8_t t = 1; t < PKV_MSG__COUNT; t++) {
		struct pkv_msg m = max_msg(t), got;
		struct thdr h = hdr(PEER, 100, t);
		struct wire_hdr out;
		struct wire_iter it;
		uint8_t reply[WIRE_HS_BYTES];
		size_t rl, len = build(dgram, h, &m, 1, &key, encrypt);

		ck_assert_uint_le(len, WIRE_MAX_DGRAM);
		ck_assert_uint_eq(len, WIRE_HDR_BYTES + wire_msg_size(&m) + WIRE_TAG_BYTES);
		ck_assert_int_eq(wire_receive(&rx, dgram, len, now_us, &out, &it, reply,
					      sizeof(reply), &rl),
				 0);
		ck_assert_uint_eq(rl, 0);
		ck_assert_uint_eq(out.cluster_id, CLUSTER);
		ck_assert_uint_eq(out.sender, PEER);
		ck_assert_uint_eq(out.receiver, SELF);
		ck_assert_uint_eq(out.incarnation, 100);
		ck_assert_uint_eq(out.seq, t);
		ck_assert_uint_eq(out.count, 1);
		ck_assert_uint_eq(out.type, WIRE_T_DATA);
		ck_assert_uint_eq(out.flags, encrypt ? WIRE_F_ENCRYPTED : 0);
		ck_assert(wire_next(&it, &got));
		assert_msg_eq(&got, &m);
		/* Decoding borrows: the bytes point into the datagram. */
		ck_assert(got.value.p > dgram && got.value.p < dgram + len);
		ck_assert(!wire_next(&it, &got));
	}
	ck_assert_uint_eq(rx.accepted, PKV_MSG__COUNT - 1);
	ck_assert_uint_eq(total_rejects(), 0);
}

START_TEST(roundtrip_every_type_with_max_size_fields)
{
	roundtrip_every_type(false);
}
END_TEST

START_TEST(roundtrip_every_type_encrypted)
{
	roundtrip_every_type(true);
}
END_TEST

START_TEST(roundtrip_keeps_empty_byte_strings_and_zero_fields)
{
	struct pkv_msg m = {.type = PKV_MSG_HEARTBEAT}, got;
	struct wire_hdr out;
	struct wire_iter it;
	size_t len = build(dgram, hdr(PEER, 1, 0), &m, 1, &key, false);

	ck_assert_uint_eq(len, WIRE_HDR_BYTES + WIRE_MSG_FIXED_BYTES + WIRE_TAG_BYTES);
	ck_assert_int_eq(receive_out(dgram, len, &out, &it), 0);
	ck_assert(wire_next(&it, &got));
	assert_msg_eq(&got, &m);
}
END_TEST

START_TEST(batch_fills_datagram_until_enospc_and_stays_valid)
{
	struct wire_builder b;
	struct thdr h = hdr(PEER, 1, 1);
	struct wire_hdr out;
	struct wire_iter it;
	struct pkv_msg m, got;
	unsigned n = 0;
	int rc, len;

	begin(&b, dgram, sizeof(dgram), h, false);
	for (;;) {
		m = small_msg(PKV_MSG_ACCEPT, n);
		rc = wire_add(&b, &m);
		if (rc != 0)
			break;
		n++;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_uint_eq(wire_count(&b), n);
	/* It stopped because the next one would not fit, not before. */
	ck_assert_uint_gt(WIRE_HDR_BYTES + n * wire_msg_size(&m) + wire_msg_size(&m) +
			      WIRE_TAG_BYTES,
			  WIRE_MAX_DGRAM);
	len = wire_finish(&b);
	ck_assert_int_le(len, WIRE_MAX_DGRAM);
	ck_assert_int_eq(receive_out(dgram, (size_t)len, &out, &it), 0);
	ck_assert_uint_eq(out.count, n);
	for (unsigned i = 0; i < n; i++) {
		struct pkv_msg want = small_msg(PKV_MSG_ACCEPT, i);
		ck_assert(wire_next(&it, &got));
		assert_msg_eq(&got, &want);
	}
	ck_assert(!wire_next(&it, &got));
}
END_TEST

START_TEST(batch_refuses_large_message_after_small_ones_and_stays_valid)
{
	struct wire_builder b;
	struct thdr h = hdr(PEER, 1, 1);
	struct wire_hdr out;
	struct wire_iter it;
	struct pkv_msg small = small_msg(PKV_MSG_CHOSEN, 1), big = max_msg(PKV_MSG_CHOSEN), got;
	int len;

	begin(&b, dgram, sizeof(dgram), h, true);
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(wire_add(&b, &small), 0);
	ck_assert_int_eq(wire_add(&b, &big), -ENOSPC);
	len = wire_finish(&b);
	ck_assert_int_eq(receive_out(dgram, (size_t)len, &out, &it), 0);
	ck_assert_uint_eq(out.count, 60);
	for (int i = 0; i < 60; i++)
		ck_assert(wire_next(&it, &got));
	ck_assert(!wire_next(&it, &got));
}
END_TEST

START_TEST(builder_respects_a_small_buffer)
{
	uint8_t small_buf[200];
	struct wire_builder b;
	struct wire *w = sender(PEER, 1);
	struct pkv_msg m = small_msg(PKV_MSG_QUERY, 1);

	ck_assert_int_eq(wire_begin(&b, w, SELF, small_buf, WIRE_MIN_DGRAM - 1, false, now_us),
			 -EINVAL);
	ck_assert_int_eq(wire_begin(&b, w, SELF, small_buf, sizeof(small_buf), false, now_us), 0);
	ck_assert_int_eq(wire_add(&b, &m), 0);
	ck_assert_int_eq(wire_add(&b, &m), -ENOSPC);
	ck_assert_int_eq(wire_finish(&b),
			 (int)(WIRE_HDR_BYTES + wire_msg_size(&m) + WIRE_TAG_BYTES));
	ck_assert_int_eq(wire_finish(&b), -EINVAL);
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
}
END_TEST

START_TEST(builder_refuses_unsendable_messages)
{
	struct wire_builder b;
	struct pkv_msg m;

	begin(&b, dgram, sizeof(dgram), hdr(PEER, 1, 1), false);
	m = max_msg(0);
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	m = max_msg(PKV_MSG__COUNT);
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	m = max_msg(PKV_MSG_ACCEPT);
	m.value.len = WIRE_MAX_VALUE + 1;
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	m = max_msg(PKV_MSG_ACCEPT);
	m.key.len = PKV_MAX_KEY + 1;
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	m = max_msg(PKV_MSG_ACCEPT);
	m.bucket.len = PKV_MAX_BUCKET + 1;
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	m = small_msg(PKV_MSG_ACCEPT, 1);
	m.key.p = NULL;
	ck_assert_int_eq(wire_add(&b, &m), -EINVAL);
	ck_assert_uint_eq(wire_count(&b), 0);
	/* The largest valid message fits alone. */
	m = max_msg(PKV_MSG_ACCEPT);
	ck_assert_int_eq(wire_add(&b, &m), 0);
}
END_TEST

START_TEST(encrypted_datagram_hides_the_messages)
{
	struct pkv_msg m = max_msg(PKV_MSG_ACCEPT);
	size_t len = build(dgram, hdr(PEER, 1, 1), &m, 1, &key, true);

	ck_assert_ptr_null(memmem(dgram, len, big_value, 64));
	ck_assert_ptr_null(memmem(dgram, len, big_key, 64));
	len = build(dgram, hdr(PEER, 1, 1), &m, 1, &key, false);
	ck_assert_ptr_nonnull(memmem(dgram, len, big_value, 64));
}
END_TEST

/* ---- rejections -------------------------------------------------------- */

/*
 * Flips every bit of a datagram, one at a time: the format bytes give
 * malformed, the encrypted flag and everything else bad_auth.
 */
static void every_flipped_bit_is_rejected(bool encrypt)
{
	size_t len = build_one(hdr(PEER, 1, 1), encrypt);
	unsigned malformed = 0, bad_auth = 0, other = 0;

	for (size_t bit = 0; bit < 8 * len; bit++) {
		size_t byte = bit / 8;
		enum wire_reject want = WIRE_REJ_BAD_AUTH;

		memcpy(copy, dgram, len);
		copy[byte] ^= (uint8_t)(1u << (bit % 8));
		if (byte < 8 && !(byte == 6 && bit % 8 == 0))
			want = WIRE_REJ_MALFORMED;
		else if (byte >= 16 && byte < 20) /* read to choose the key */
			want = copy[16] == PEER2 && !copy[17] && !copy[18] && !copy[19]
				   ? WIRE_REJ_NO_SESSION
				   : WIRE_REJ_UNKNOWN_SENDER;
		else if (byte >= 20 && byte < 24)
			want = WIRE_REJ_WRONG_RECEIVER;
		else if (byte >= 24 && byte < 32)
			want = WIRE_REJ_NO_SESSION;
		assert_rejected(copy, len, want);
		malformed += want == WIRE_REJ_MALFORMED;
		bad_auth += want == WIRE_REJ_BAD_AUTH;
		other += want != WIRE_REJ_MALFORMED && want != WIRE_REJ_BAD_AUTH;
	}
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_MALFORMED], malformed);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_BAD_AUTH], bad_auth);
	ck_assert_uint_eq(other, 16 * 8);
	ck_assert_uint_eq(rx.accepted, 0);
	/* The untouched datagram is still good: no flip moved the window. */
	assert_accepted(dgram, len);
}

START_TEST(receiver_rejects_every_single_bit_flip)
{
	every_flipped_bit_is_rejected(false);
}
END_TEST

START_TEST(receiver_rejects_every_single_bit_flip_encrypted)
{
	every_flipped_bit_is_rejected(true);
}
END_TEST

START_TEST(receiver_rejects_truncated_datagram)
{
	size_t len = build_one(hdr(PEER, 1, 1), false);
	static const size_t too_short[] = {0, 1, 4, 41, 58, WIRE_MIN_DGRAM - 1};

	for (unsigned i = 0; i < sizeof(too_short) / sizeof(too_short[0]); i++)
		assert_rejected(dgram, too_short[i], WIRE_REJ_TRUNCATED);
	/* Long enough for a header and a tag, but cut: the tag no longer matches. */
	for (size_t l = WIRE_MIN_DGRAM; l < len; l += 7)
		assert_rejected(dgram, l, WIRE_REJ_BAD_AUTH);
	assert_rejected(dgram, len - 1, WIRE_REJ_BAD_AUTH);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_TRUNCATED], 6);
	assert_accepted(dgram, len);
}
END_TEST

START_TEST(receiver_rejects_wrong_key)
{
	struct pkv_msg m = small_msg(PKV_MSG_PREPARE, 1);
	size_t len = build(dgram, hdr(PEER, 1, 1), &m, 1, &other_key, false);

	assert_rejected(dgram, len, WIRE_REJ_BAD_AUTH);
	len = build(dgram, hdr(PEER, 1, 1), &m, 1, &other_key, true);
	assert_rejected(dgram, len, WIRE_REJ_BAD_AUTH);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_BAD_AUTH], 2);
}
END_TEST

START_TEST(receiver_rejects_other_cluster_with_same_key)
{
	struct thdr h = hdr(PEER, 1, 1);
	size_t len;

	h.cluster_id = CLUSTER + 1;
	len = build_one(h, false);
	assert_rejected(dgram, len, WIRE_REJ_WRONG_CLUSTER);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_WRONG_CLUSTER], 1);
}
END_TEST

START_TEST(receiver_rejects_unknown_sender_and_self)
{
	static const uint32_t bad[] = {0, 4, PKV_MAX_NODES, PKV_MAX_NODES + 1, UINT32_MAX, SELF};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = build_one(hdr(bad[i], 1, 1), false);
		assert_rejected(dgram, len, WIRE_REJ_UNKNOWN_SENDER);
	}
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_UNKNOWN_SENDER], 6);
	/* A removed peer becomes unknown. */
	assert_accepted(dgram, build_one(hdr(PEER2, 1, 1), false));
	wire_remove_peer(&rx, PEER2);
	assert_rejected(dgram, build_one(hdr(PEER2, 1, 2), false), WIRE_REJ_UNKNOWN_SENDER);
}
END_TEST

START_TEST(add_peer_refuses_invalid_ids_and_self)
{
	static const uint8_t low_order[AUTH_PK_BYTES]; /* all zeros: no DH with it */

	ck_assert_int_eq(wire_add_peer(&rx, 0, pks[2]), -EINVAL);
	ck_assert_int_eq(wire_add_peer(&rx, PKV_MAX_NODES + 1, pks[2]), -EINVAL);
	ck_assert_int_eq(wire_add_peer(&rx, SELF, pks[2]), -EINVAL);
	ck_assert_int_eq(wire_add_peer(&rx, 5, low_order), -EINVAL);
	ck_assert_int_eq(wire_add_peer(&rx, PKV_MAX_NODES, pks[PKV_MAX_NODES]), 0);
}
END_TEST

START_TEST(receiver_rejects_replayed_datagram)
{
	size_t len = build_one(hdr(PEER, 1, 5), false);

	memcpy(copy, dgram, len);
	assert_accepted(dgram, len);
	assert_rejected(copy, len, WIRE_REJ_REPLAY);
	assert_rejected(copy, len, WIRE_REJ_REPLAY);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_REPLAY], 2);

	/* Encrypted: decrypted in place on accept, so replay a saved copy. */
	len = build_one(hdr(PEER, 1, 6), true);
	memcpy(copy, dgram, len);
	assert_accepted(dgram, len);
	assert_rejected(copy, len, WIRE_REJ_REPLAY);
}
END_TEST

START_TEST(receiver_rejects_sequence_below_window)
{
	const uint64_t top = 5000;

	assert_accepted(dgram, build_one(hdr(PEER, 1, top), false));
	/* Never seen, but too old to tell: dropped. */
	assert_rejected(dgram, build_one(hdr(PEER, 1, top - WIRE_REPLAY_WINDOW), false),
			WIRE_REJ_REPLAY);
	assert_rejected(dgram, build_one(hdr(PEER, 1, 0), false), WIRE_REJ_REPLAY);
	/* The oldest one the window still covers is accepted, once. */
	assert_accepted(dgram, build_one(hdr(PEER, 1, top - WIRE_REPLAY_WINDOW + 1), false));
	assert_rejected(dgram, build_one(hdr(PEER, 1, top - WIRE_REPLAY_WINDOW + 1), false),
			WIRE_REJ_REPLAY);
}
END_TEST

START_TEST(receiver_accepts_out_of_order_sequences_once_each)
{
	/* 1029 and 1025 reuse the slots of 5 and 1 once the window moved past them. */
	static const uint64_t order[] = {10, 5, 7, 6, 1, 11, 1030, 1029, 1025, 9, 8, 1031, 12};
	static const uint64_t again[] = {5, 7, 10, 1030, 1029, 12, 9};

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		assert_accepted(dgram, build_one(hdr(PEER, 1, order[i]), false));
	for (unsigned i = 0; i < sizeof(again) / sizeof(again[0]); i++)
		assert_rejected(dgram, build_one(hdr(PEER, 1, again[i]), false), WIRE_REJ_REPLAY);
	/* 1031 - 1024 = 7: sequences up to 7 fell out of the window. */
	assert_rejected(dgram, build_one(hdr(PEER, 1, 4), false), WIRE_REJ_REPLAY);
	assert_accepted(dgram, build_one(hdr(PEER, 1, 13), false));
	ck_assert_uint_eq(rx.accepted, sizeof(order) / sizeof(order[0]) + 1);
}
END_TEST

START_TEST(receiver_window_reaches_the_last_sequence_number)
{
	/* A sliding loop that compares with the sequence never ends at
	 * UINT64_MAX (found by fuzz-wire's replay stream). */
	assert_accepted(dgram, build_one(hdr(PEER, 1, UINT64_MAX - 3), false));
	assert_accepted(dgram, build_one(hdr(PEER, 1, UINT64_MAX), false));
	assert_accepted(dgram, build_one(hdr(PEER, 1, UINT64_MAX - 1), false));
	assert_rejected(dgram, build_one(hdr(PEER, 1, UINT64_MAX), false), WIRE_REJ_REPLAY);
	assert_rejected(dgram, build_one(hdr(PEER, 1, UINT64_MAX - 3), false), WIRE_REJ_REPLAY);
}
END_TEST

START_TEST(receiver_window_slides_over_large_jumps)
{
	const uint64_t top = 3 + 5 * WIRE_REPLAY_WINDOW + 10;

	assert_accepted(dgram, build_one(hdr(PEER, 1, 3), false));
	assert_accepted(dgram, build_one(hdr(PEER, 1, top), false));
	/* The slot that marked 3 now stands for 3 + 5 * WINDOW, never seen. */
	assert_accepted(dgram, build_one(hdr(PEER, 1, 3 + 5 * WIRE_REPLAY_WINDOW), false));
	assert_accepted(dgram, build_one(hdr(PEER, 1, top - WIRE_REPLAY_WINDOW + 1), false));
	assert_rejected(dgram, build_one(hdr(PEER, 1, top - WIRE_REPLAY_WINDOW), false),
			WIRE_REJ_REPLAY);
	/* Small steps reuse slots too: walk the window round twice. */
	for (uint64_t s = top + 1; s <= top + 2 * WIRE_REPLAY_WINDOW; s++)
		assert_accepted(dgram, build_one(hdr(PEER, 1, s), false));
	assert_rejected(dgram, build_one(hdr(PEER, 1, top + WIRE_REPLAY_WINDOW + 1), false),
			WIRE_REJ_REPLAY);
}
END_TEST

START_TEST(receiver_rejects_old_incarnation_after_newer_seen)
{
	uint8_t init[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;
	struct wire old;

	/* An INIT of incarnation 100, kept; then the peer runs 200. */
	wire_node(&old, PEER, 100);
	ck_assert_uint_eq(wire_handshake_due(&old, SELF, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	assert_accepted(dgram, build_one(hdr(PEER, 200, 1), false));
	assert_rejected(init, sizeof(init), WIRE_REJ_OLD_INCARNATION);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_OLD_INCARNATION], 1);
	/* Incarnations are per sender. */
	assert_accepted(dgram, build_one(hdr(PEER2, 100, 2), false));
}
END_TEST

START_TEST(new_incarnation_resets_the_window)
{
	size_t len;

	assert_accepted(dgram, build_one(hdr(PEER, 100, 50), false));
	len = build_one(hdr(PEER, 100, 2 * WIRE_REPLAY_WINDOW), false);
	memcpy(copy, dgram, len);
	assert_accepted(dgram, len);
	/* The restarted sender counts from 0 again, and its first datagram may be late. */
	assert_accepted(dgram, build_one(hdr(PEER, 101, 1), false));
	assert_accepted(dgram, build_one(hdr(PEER, 101, 0), false));
	assert_accepted(dgram, build_one(hdr(PEER, 101, 50), false));
	assert_rejected(dgram, build_one(hdr(PEER, 101, 50), false), WIRE_REJ_REPLAY);
	assert_rejected(dgram, build_one(hdr(PEER, 101, 0), false), WIRE_REJ_REPLAY);
	/* The old incarnation's session is gone with its key. */
	assert_rejected(copy, len, WIRE_REJ_NO_SESSION);
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 101);
}
END_TEST

/*
 * The delay bound: a sender's datagrams every 100 ms for 3 s, each step
 * the receiver's stamp back; a datagram held back by the network is
 * dropped once it is older than WIRE_MAX_AGE_US, and accepted while it is
 * younger than that.
 */
START_TEST(datagram_held_past_the_delay_bound_is_dropped)
{
	uint64_t seq = 1;
	size_t len = build_one(hdr(PEER, 7, seq++), false); /* held from t = 0 */
	memcpy(copy, dgram, len);
	size_t young_len = 0;
	static uint8_t young[WIRE_MAX_DGRAM];
	for (now_us = 0; now_us <= 3000000; now_us += 100000) {
		hear_rx(PEER, 7);
		assert_accepted(dgram, build_one(hdr(PEER, 7, seq++), false));
		if (now_us == 2500000) { /* held from t = 2.5 s */
			young_len = build_one(hdr(PEER, 7, seq++), false);
			memcpy(young, dgram, young_len);
		}
	}
	/* 3 s late: dropped, and counted as too old, not as a replay. */
	assert_rejected(copy, len, WIRE_REJ_TOO_OLD);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_TOO_OLD], 1);
	/* 0.5 s late: accepted, once. */
	assert_accepted(young, young_len);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_REPLAY], 0);
}
END_TEST

/*
 * A sender that died: nothing comes after its last datagrams, so nothing
 * but their echo can age them (docs/design.md §7). Held 0.5 s: accepted;
 * held 1.2 s: dropped. The bound counted by sequence alone took both.
 */
START_TEST(dead_senders_last_datagram_held_past_the_bound_is_dropped)
{
	uint64_t seq = 1;
	for (now_us = 0; now_us <= 1000000; now_us += 100000) {
		hear_rx(PEER, 7);
		assert_accepted(dgram, build_one(hdr(PEER, 7, seq++), false));
	}
	now_us = 1000000;
	size_t len1 = build_one(hdr(PEER, 7, seq++), false);
	static uint8_t last1[WIRE_MAX_DGRAM];
	memcpy(last1, dgram, len1);
	size_t len2 = build_one(hdr(PEER, 7, seq++), false);
	memcpy(copy, dgram, len2);
	/* The sender is dead from here on. */
	now_us = 1500000;
	assert_accepted(last1, len1);
	now_us = 2200000;
	assert_rejected(copy, len2, WIRE_REJ_TOO_OLD);
}
END_TEST

/*
 * The bound is kept per sender, and a new session starts it afresh: a
 * sender that never heard the receiver is aged from its session's
 * handshake, one that did from the receiver's stamp it echoes.
 */
START_TEST(delay_bound_is_per_sender_and_session)
{
	now_us = 1000;
	(void)sender(PEER, 7);
	(void)sender(PEER2, 3);
	uint64_t seq = 1;
	for (; now_us <= 2500000; now_us += 250000) {
		hear_rx(PEER, 7);
		assert_accepted(dgram, build_one(hdr(PEER, 7, seq++), false));
		if (now_us <= 1000000) /* PEER2's session was set up at 1 ms */
			assert_accepted(dgram, build_one(hdr(PEER2, 3, seq), false));
	}
	now_us = 2600000;
	assert_rejected(dgram, build_one(hdr(PEER2, 3, seq++), false), WIRE_REJ_TOO_OLD);
	/* Once it hears the receiver, it is heard again. */
	hear_rx(PEER2, 3);
	assert_accepted(dgram, build_one(hdr(PEER2, 3, seq++), false));
	/* A new incarnation of PEER: a new session, young from its handshake. */
	assert_accepted(dgram, build_one(hdr(PEER, 8, 5), false));
	assert_accepted(dgram, build_one(hdr(PEER, 8, 1), false));
}
END_TEST

/*
 * A sender the receiver says little to: its datagram past the bound is
 * answered with the receiver's stamp (at most once per WIRE_STAMP_GAP_US),
 * and the sender's next datagram, echoing it, is taken.
 */
START_TEST(stale_echo_is_answered_with_a_stamp_and_then_heard)
{
	static uint8_t back[WIRE_HS_BYTES], ignored[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	size_t bl, il;
	now_us = 0;
	hear_rx(PEER, 7); /* rx has a session to send on */
	assert_accepted(dgram, build_one(hdr(PEER, 7, 1), false));
	now_us = 1500000;
	size_t len = build_one(hdr(PEER, 7, 2), false);
	ck_assert_int_eq(wire_receive(&rx, dgram, len, now_us, &h, &it, back, sizeof(back), &bl),
			 WIRE_RC(WIRE_REJ_TOO_OLD));
	ck_assert_uint_eq(bl, WIRE_MIN_DGRAM);
	ck_assert_uint_eq(h.sender, PEER);
	/* Another within the gap: no second answer. */
	len = build_one(hdr(PEER, 7, 3), false);
	ck_assert_int_eq(wire_receive(&rx, dgram, len, now_us, &h, &it, ignored, sizeof(ignored),
				      &il),
			 WIRE_RC(WIRE_REJ_TOO_OLD));
	ck_assert_uint_eq(il, 0);
	/* The answer reaches the sender; what it sends next is taken. */
	now_us += 1000;
	ck_assert_int_eq(receive_into(&senders[PEER], back, bl), WIRE_OK);
	assert_accepted(dgram, build_one(hdr(PEER, 7, 4), false));
	/* The sender's echo names rx's incarnation only: a restarted rx has
	 * a new session with it, young from its own handshake. */
	ck_assert_uint_eq(senders[PEER].peers[SELF].stamp_inc, 1);
}
END_TEST

/*
 * Heartbeats rarer than the bound: the receiver's own stamps keep the
 * sender's echo young. Due to a peer it heard from (within
 * WIRE_STAMP_LISTEN_US) once it sent it nothing for WIRE_STAMP_EVERY_US;
 * the sender takes it, and its datagrams are heard however long the gaps.
 */
START_TEST(stamps_flow_to_a_peer_that_talks_to_us)
{
	static uint8_t st[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX, seq = 1;
	now_us = 0;
	hear_rx(PEER, 7);
	/* Not heard from PEER yet: nothing due, nothing planned. */
	ck_assert_uint_eq(wire_stamp_due(&rx, PEER, now_us, st, sizeof(st), &next), 0);
	ck_assert_uint_eq(next, UINT64_MAX);
	assert_accepted(dgram, build_one(hdr(PEER, 7, seq++), false));
	for (int i = 0; i < 12; i++) { /* 12 × 250 ms, PEER sending every 500 ms */
		next = UINT64_MAX;
		ck_assert_uint_eq(wire_stamp_due(&rx, PEER, now_us, st, sizeof(st), &next), 0);
		ck_assert_uint_le(next, now_us + WIRE_STAMP_EVERY_US);
		now_us = next;
		size_t n = wire_stamp_due(&rx, PEER, now_us, st, sizeof(st), &next);
		ck_assert_uint_eq(n, WIRE_MIN_DGRAM);
		ck_assert_int_eq(receive_into(&senders[PEER], st, n), WIRE_OK);
		if (i % 2)
			assert_accepted(dgram, build_one(hdr(PEER, 7, seq++), false));
	}
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_TOO_OLD], 0);
	/* PEER silent for WIRE_STAMP_LISTEN_US: no more stamps for it. */
	now_us += WIRE_STAMP_LISTEN_US;
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_stamp_due(&rx, PEER, now_us, st, sizeof(st), &next), 0);
	ck_assert_uint_eq(next, UINT64_MAX);
}
END_TEST

/* An echo ahead of the receiver's clock is none of its stamps: it proves nothing. */
START_TEST(echo_ahead_of_the_clock_proves_nothing)
{
	now_us = 0;
	struct wire *w = sender(PEER, 7);
	assert_accepted(dgram, build_one(hdr(PEER, 7, 1), false));
	now_us = 1500000;
	w->peers[SELF].stamp_inc = 1;
	w->peers[SELF].stamp_in = now_us + 60000000;
	assert_rejected(dgram, build_one(hdr(PEER, 7, 2), false), WIRE_REJ_TOO_OLD);
}
END_TEST

START_TEST(rejected_datagram_leaves_sender_state_unchanged)
{
	struct pkv_msg m = small_msg(PKV_MSG_PREPARE, 1);
	uint8_t body[WIRE_MSG_FIXED_BYTES] = {0}; /* type 0: malformed */
	size_t len;

	assert_accepted(dgram, build_one(hdr(PEER, 100, 10), false));
	/* A forged far-ahead sequence (wrong key) must not advance the window... */
	len = build(dgram, hdr(PEER, 100, 1000000), &m, 1, &other_key, false);
	assert_rejected(dgram, len, WIRE_REJ_BAD_AUTH);
	len = build(dgram, hdr(PEER, 100, 0), &m, 1, &other_key, true);
	assert_rejected(dgram, len, WIRE_REJ_BAD_AUTH);
	/* ...nor an authentic but malformed one, in either way. */
	assert_rejected(dgram, build_raw(dgram, hdr(PEER, 100, 5000), 1, body, sizeof(body), false),
			WIRE_REJ_MALFORMED);
	assert_rejected(dgram, build_raw(dgram, hdr(PEER, 100, 1), 1, body, sizeof(body), true),
			WIRE_REJ_MALFORMED);
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 100);
	ck_assert_uint_eq(rx.peers[PEER].rx.top, 10);
	/* So sequences far below 1000000 and 5000 are still accepted. */
	assert_accepted(dgram, build_one(hdr(PEER, 100, 3), false));
	assert_accepted(dgram, build_one(hdr(PEER, 100, 11), false));
	/* And the malformed datagram's sequence was not marked seen. */
	assert_accepted(dgram, build_one(hdr(PEER, 100, 5000), false));
}
END_TEST

/* A valid encoded message to corrupt. */
static size_t encode_valid(uint8_t *out)
{
	struct wire_builder b;
	struct pkv_msg m = small_msg(PKV_MSG_ACCEPT, 1);
	static uint8_t tmp[1024];
	size_t n = wire_msg_size(&m);

	begin(&b, tmp, sizeof(tmp), hdr(PEER, 1, 1), false);
	ck_assert_int_eq(wire_add(&b, &m), 0);
	memcpy(out, tmp + WIRE_HDR_BYTES, n);
	return n;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(receiver_rejects_malformed_bodies_with_valid_tag)
{
	uint8_t body[256];
	size_t n = encode_valid(body);
	uint64_t seq = 1;
	bool enc = _i;

	/* The unmodified body is accepted: the cases below fail only for their flaw. */
	assert_accepted(dgram, build_raw(dgram, hdr(PEER, 1, seq++), 1, body, n, enc));

#define EXPECT_MALFORMED(count, len)                                                               \
	assert_rejected(dgram, build_raw(dgram, hdr(PEER, 1, seq++), count, body, len, enc),       \
			WIRE_REJ_MALFORMED)

	/* Bad types. */
	body[0] = 0;
	EXPECT_MALFORMED(1, n);
	body[0] = PKV_MSG__COUNT;
	EXPECT_MALFORMED(1, n);
	body[0] = 0xff;
	EXPECT_MALFORMED(1, n);
	body[0] = PKV_MSG_ACCEPT;
	/* Reserved byte set. */
	body[3] = 1;
	EXPECT_MALFORMED(1, n);
	body[3] = 0;
	/* Lengths over their limits. */
	put_le(body + 4, PKV_MAX_KEY + 1, 2);
	EXPECT_MALFORMED(1, n);
	put_le(body + 4, 8, 2);
	put_le(body + 6, WIRE_MAX_VALUE + 1, 4);
	EXPECT_MALFORMED(1, n);
	put_le(body + 6, UINT32_MAX, 4);
	EXPECT_MALFORMED(1, n);
	/* Lengths within limits but past the end of the datagram. */
	put_le(body + 6, 8, 4);
	EXPECT_MALFORMED(1, n);
	put_le(body + 6, 7, 4);
	body[2] = 200;
	EXPECT_MALFORMED(1, n);
	body[2] = 7;
	/* Count mismatch: too many, too few, none. */
	EXPECT_MALFORMED(2, n);
	EXPECT_MALFORMED(0, n);
	memcpy(body + n, body, n);
	EXPECT_MALFORMED(1, 2 * n);
	EXPECT_MALFORMED(3, 2 * n);
	/* Trailing bytes after the last message. */
	EXPECT_MALFORMED(1, n + 1);
	EXPECT_MALFORMED(2, 2 * n + 3);
	/* A cut fixed part; a lone message header with no body at all. */
	EXPECT_MALFORMED(1, WIRE_MSG_FIXED_BYTES - 1);
	EXPECT_MALFORMED(1, 10);
	EXPECT_MALFORMED(1, 0);
#undef EXPECT_MALFORMED
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_MALFORMED], 18);

	/* Two good messages, the right count: accepted. */
	assert_accepted(dgram, build_raw(dgram, hdr(PEER, 1, seq++), 2, body, 2 * n, enc));
}
END_TEST

/* Over the limit by one byte, with the bytes present: only the limit check catches it. */
START_TEST(receiver_rejects_lengths_over_limit_even_when_bytes_present)
{
	static uint8_t body[WIRE_MAX_DGRAM];
	struct pkv_msg m = max_msg(PKV_MSG_ACCEPT);
	struct wire_builder b;
	size_t n = wire_msg_size(&m);

	begin(&b, dgram, sizeof(dgram), hdr(PEER, 1, 1), false);
	ck_assert_int_eq(wire_add(&b, &m), 0);
	memcpy(body, dgram + WIRE_HDR_BYTES, n);
	body[n] = 0x55;

	put_le(body + 4, PKV_MAX_KEY + 1, 2);
	assert_rejected(dgram, build_raw(dgram, hdr(PEER, 1, 2), 1, body, n + 1, false),
			WIRE_REJ_MALFORMED);
	put_le(body + 4, PKV_MAX_KEY, 2);
	put_le(body + 6, WIRE_MAX_VALUE + 1, 4);
	assert_rejected(dgram, build_raw(dgram, hdr(PEER, 1, 3), 1, body, n + 1, false),
			WIRE_REJ_MALFORMED);
	put_le(body + 6, WIRE_MAX_VALUE, 4);
	assert_accepted(dgram, build_raw(dgram, hdr(PEER, 1, 4), 1, body, n, false));
}
END_TEST

START_TEST(receiver_rejects_malformed_header)
{
	size_t len = build_one(hdr(PEER, 1, 1), false);

	memcpy(copy, dgram, len);
	copy[0] = 'X';
	assert_rejected(copy, len, WIRE_REJ_MALFORMED);
	memcpy(copy, dgram, len);
	copy[4] = WIRE_VERSION + 1;
	assert_rejected(copy, len, WIRE_REJ_MALFORMED);
	memcpy(copy, dgram, len);
	copy[5] = WIRE_T_RESP; /* a handshake is 96 bytes */
	assert_rejected(copy, len, WIRE_REJ_MALFORMED);
	memcpy(copy, dgram, len);
	copy[6] |= 0x80;
	assert_rejected(copy, len, WIRE_REJ_MALFORMED);
	memcpy(copy, dgram, len);
	copy[7] = 1;
	assert_rejected(copy, len, WIRE_REJ_MALFORMED);
	/* Larger than any datagram we send. */
	memset(copy, 0, sizeof(copy));
	memcpy(copy, dgram, len);
	assert_rejected(copy, WIRE_MAX_DGRAM + 1, WIRE_REJ_MALFORMED);
	ck_assert_uint_eq(rx.rejects[WIRE_REJ_MALFORMED], 6);
}
END_TEST

START_TEST(decode_body_accepts_only_exact_message_areas)
{
	uint8_t body[512];
	size_t n = encode_valid(body);
	struct wire_iter it;
	struct pkv_msg m, want = small_msg(PKV_MSG_ACCEPT, 1);

	ck_assert_int_eq(wire_decode_body(body, n, 1, &it), 0);
	ck_assert(wire_next(&it, &m));
	assert_msg_eq(&m, &want);
	ck_assert(!wire_next(&it, &m));
	ck_assert_int_eq(wire_decode_body(body, 0, 0, &it), 0);
	ck_assert(!wire_next(&it, &m));
	ck_assert_int_eq(wire_decode_body(body, n - 1, 1, &it), -EBADMSG);
	ck_assert_int_eq(wire_decode_body(body, n, 2, &it), -EBADMSG);
	ck_assert_int_eq(wire_decode_body(body, n, 0, &it), -EBADMSG);
}
END_TEST

START_TEST(reject_names_are_stable)
{
	static const char *const want[WIRE_REJ__COUNT] = {
	    "truncated",      "malformed",	 "bad_auth", "wrong_cluster",
	    "unknown_sender", "old_incarnation", "replay",	 "too_old",
	    "wrong_receiver", "no_session",
	};

	for (unsigned i = 0; i < WIRE_REJ__COUNT; i++)
		ck_assert_str_eq(wire_reject_to_str((enum wire_reject)i), want[i]);
	ck_assert_str_eq(wire_reject_to_str(WIRE_REJ__COUNT), "unknown");
}
END_TEST

/* ---- sessions and attacks ---------------------------------------------- */

/* A DROP datagram from PEER, sealed; returns its length. */
static size_t drop_dgram(struct wire *w, uint32_t to, uint8_t *buf)
{
	struct pkv_msg m = {.type = PKV_MSG_DROP, .req = 9};
	struct wire_builder b;

	ck_assert_int_eq(wire_begin(&b, w, to, buf, WIRE_MAX_DGRAM, false, now_us), 0);
	ck_assert_int_eq(wire_add(&b, &m), 0);
	return (size_t)wire_finish(&b);
}

/*
 * Issue 22, finding 1: a receiver that restarted took any captured datagram
 * as new. Now its sessions died with it: the capture is of no session.
 */
START_TEST(replay_to_restarted_receiver_is_rejected)
{
	struct wire *w = sender(PEER, 5);
	size_t len = drop_dgram(w, SELF, dgram);

	memcpy(copy, dgram, len);
	assert_accepted(dgram, len);
	/* The receiver restarts (a new incarnation, nothing of the old one). */
	wire_node(&rx, SELF, 2);
	assert_rejected(copy, len, WIRE_REJ_NO_SESSION);
	ck_assert_uint_eq(rx.accepted, 0);
	/* Its sender's own next datagram too, until they shake hands again. */
	len = drop_dgram(w, SELF, dgram);
	assert_rejected(dgram, len, WIRE_REJ_NO_SESSION);
}
END_TEST

/* Replaying the INIT as well gets an answer, never a session. */
START_TEST(replayed_init_to_restarted_receiver_confirms_no_session)
{
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;
	struct wire_hdr h;
	struct wire_iter it;
	struct wire s;
	size_t rl, len;

	wire_node(&s, PEER, 5);
	ck_assert_uint_eq(wire_handshake_due(&s, SELF, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	memcpy(copy, init, sizeof(init));
	ck_assert_int_eq(wire_receive(&rx, init, sizeof(init), now_us, &h, &it, resp, sizeof(resp),
				      &rl),
			 WIRE_HANDSHAKE);
	ck_assert_int_eq(wire_receive(&s, resp, rl, now_us, &h, &it, dgram, WIRE_HS_BYTES, &rl),
			 WIRE_HANDSHAKE);
	len = drop_dgram(&s, SELF, dgram);
	memcpy(dgram + 1024, dgram, len);
	assert_accepted(dgram, len);
	/* Restart; the attacker replays the INIT, then the DROP. */
	wire_node(&rx, SELF, 2);
	ck_assert_int_eq(wire_receive(&rx, copy, WIRE_HS_BYTES, now_us, &h, &it, resp, sizeof(resp),
				      &rl),
			 WIRE_HANDSHAKE);
	assert_rejected(dgram + 1024, len, WIRE_REJ_NO_SESSION);
	ck_assert_uint_eq(rx.accepted, 0);
	ck_assert(!rx.peers[PEER].rx.live);
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 0);
	/* A replayed INIT is answered once at most. */
	assert_rejected(copy, WIRE_HS_BYTES, WIRE_REJ_REPLAY);
}
END_TEST

/*
 * Finding 2: a datagram to node 2 was new to node 3. Now it names its
 * receiver and is sealed under the session to that receiver alone.
 */
START_TEST(datagram_redirected_to_another_receiver_is_rejected)
{
	static struct wire third;
	uint8_t confirm[WIRE_HS_BYTES];
	struct wire *w = sender(PEER, 5);
	size_t len;

	wire_node(&third, PEER2, 1);
	ck_assert_int_eq(receive_into(&third, confirm, handshake(w, &third, confirm)), WIRE_OK);
	len = drop_dgram(w, SELF, dgram);
	memcpy(copy, dgram, len);
	/* As captured: named for SELF. */
	ck_assert_int_eq(receive_into(&third, copy, len), WIRE_RC(WIRE_REJ_WRONG_RECEIVER));
	/* With the receiver field rewritten: no such session at the other. */
	memcpy(copy, dgram, len);
	copy[20] = PEER2;
	ck_assert_int_eq(receive_into(&third, copy, len), WIRE_RC(WIRE_REJ_NO_SESSION));
	/* And with the session id too: the tag is under another key. */
	memcpy(copy, dgram, len);
	copy[20] = PEER2;
	for (int i = 0; i < 8; i++)
		copy[24 + i] = (uint8_t)(third.peers[PEER].rx.id >> (8 * i));
	ck_assert_int_eq(receive_into(&third, copy, len), WIRE_RC(WIRE_REJ_BAD_AUTH));
	ck_assert_uint_eq(third.accepted, 1); /* the session's confirmation alone */
	assert_accepted(dgram, len);
}
END_TEST

/*
 * A dead node's heartbeats replayed: each already seen is a replay, and the
 * receiver hears nothing new from it (its liveness is only what is
 * accepted), so it goes down on schedule.
 */
START_TEST(replayed_heartbeats_of_a_dead_sender_are_rejected)
{
	static uint8_t caps[10][WIRE_MIN_DGRAM + WIRE_MSG_FIXED_BYTES];
	struct pkv_msg hb = {.type = PKV_MSG_HEARTBEAT};
	struct wire *w = sender(PEER, 5);
	size_t lens[10];
	uint64_t accepted;

	for (int i = 0; i < 10; i++) {
		hear_rx(PEER, 5);
		lens[i] = build(dgram, hdr(PEER, 5, (uint64_t)i + 1), &hb, 1, &key, false);
		memcpy(caps[i], dgram, lens[i]);
		assert_accepted(dgram, lens[i]);
		now_us += 200000;
	}
	(void)w;
	accepted = rx.accepted;
	/* The sender is dead; every capture comes back, at once and later:
	 * seen (replay), or seen and older than the bound (too_old). */
	for (int i = 0; i < 10; i++) {
		int rc = receive(caps[i], lens[i]);
		ck_assert(rc == WIRE_RC(WIRE_REJ_REPLAY) || rc == WIRE_RC(WIRE_REJ_TOO_OLD));
	}
	now_us += 2000000;
	for (int i = 0; i < 10; i++)
		ck_assert_int_ne(receive(caps[i], lens[i]), WIRE_OK);
	ck_assert_uint_eq(rx.accepted, accepted);
	/* Redirected to a node that never heard them: not its session. */
	static struct wire third;
	wire_node(&third, PEER2, 1);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(receive_into(&third, caps[i], lens[i]),
				 WIRE_RC(WIRE_REJ_WRONG_RECEIVER));
}
END_TEST

/*
 * Finding 4: any key holder spoke as any node. Node 3 holds only its own
 * key: as "node 2" its INIT fails, and so would its RESP; node 2 is neither
 * restarted nor heard.
 */
START_TEST(forged_heartbeat_with_only_one_nodes_key_is_rejected)
{
	static struct wire forger;
	uint8_t init[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;

	assert_accepted(dgram, build_one(hdr(PEER, 5, 1), false));
	/* Node 3's key, claiming to be node 2 of incarnation 2^64 - 1. */
	wire_init(&forger, CLUSTER, PEER, UINT64_MAX, &seeds[PEER2]);
	ck_assert_int_eq(wire_add_peer(&forger, SELF, pks[SELF]), 0);
	ck_assert_uint_eq(wire_handshake_due(&forger, SELF, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	assert_rejected(init, sizeof(init), WIRE_REJ_BAD_AUTH);
	ck_assert(!rx.peers[PEER].rx_next.live);
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 5);
	/* Node 2's real datagrams still go through. */
	assert_accepted(dgram, build_one(hdr(PEER, 5, 2), false));
}
END_TEST

/*
 * Finding 7: a restored snapshot repeated (sender, salt, incarnation,
 * sequence) nonces. The copy and the original send the same sequence:
 * their nonces differ (fresh bytes in each datagram).
 */
START_TEST(restored_snapshot_does_not_repeat_a_nonce)
{
	static struct wire snapshot;
	static uint8_t a[WIRE_MAX_DGRAM];
	struct wire *w = sender(PEER, 5);
	size_t la, lb;

	assert_accepted(dgram, build_one(hdr(PEER, 5, 1), false));
	memcpy(&snapshot, w, sizeof(snapshot));
	la = drop_dgram(w, SELF, a);
	lb = drop_dgram(&snapshot, SELF, dgram);
	ck_assert_uint_eq(la, lb);
	/* Same session, same sequence... */
	ck_assert_int_eq(memcmp(a + 24, dgram + 24, 16), 0);
	/* ...other nonce (sequence and 16 random bytes). */
	ck_assert_int_ne(memcmp(a + 32, dgram + 32, 24), 0);
	assert_accepted(a, la);
	/* The copy's datagram is the original's sequence again: dropped. */
	assert_rejected(dgram, lb, WIRE_REJ_REPLAY);
}
END_TEST

/* A live session survives a replayed or a new, unconfirmed INIT. */
START_TEST(unconfirmed_init_leaves_the_live_session)
{
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;
	struct wire_hdr h;
	struct wire_iter it;
	struct wire *w = sender(PEER, 5);
	size_t rl;

	assert_accepted(dgram, build_one(hdr(PEER, 5, 1), false));
	/* The peer starts another handshake; its RESP is lost. */
	w->peers[SELF].hs_want_inc = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(w, SELF, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	ck_assert_int_eq(wire_receive(&rx, init, sizeof(init), now_us, &h, &it, resp, sizeof(resp),
				      &rl),
			 WIRE_HANDSHAKE);
	ck_assert(rx.peers[PEER].rx_next.live);
	/* The old session still carries the peer's datagrams. */
	assert_accepted(dgram, build_one(hdr(PEER, 5, 2), false));
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 5);
	/* The answered session waits, however long, for the peer to use it. */
	now_us += 60000000;
	next = UINT64_MAX;
	(void)wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next);
	ck_assert(rx.peers[PEER].rx_next.live);
	hear_rx(PEER, 5); /* its echo young: only the session is in question */
	ck_assert(rx.peers[PEER].rx_next.live);
	assert_accepted(dgram, build_one(hdr(PEER, 5, 3), false));
}
END_TEST

/* Both ends start at once: two sessions, one per direction, no conflict. */
START_TEST(simultaneous_handshakes_set_up_both_directions)
{
	static struct wire a, b;
	uint8_t ia[WIRE_HS_BYTES], ib[WIRE_HS_BYTES], ra[WIRE_HS_BYTES], rb[WIRE_HS_BYTES];
	uint8_t ca[WIRE_HS_BYTES], cb[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;
	struct wire_hdr h;
	struct wire_iter it;
	size_t l1, l2, l3, l4;

	wire_node(&a, SELF, 1);
	wire_node(&b, PEER, 1);
	ck_assert_uint_eq(wire_handshake_due(&a, PEER, 0, ia, sizeof(ia), &next), WIRE_HS_BYTES);
	ck_assert_uint_eq(wire_handshake_due(&b, SELF, 0, ib, sizeof(ib), &next), WIRE_HS_BYTES);
	ck_assert_int_eq(wire_receive(&b, ia, sizeof(ia), 0, &h, &it, rb, sizeof(rb), &l1),
			 WIRE_HANDSHAKE);
	ck_assert_int_eq(wire_receive(&a, ib, sizeof(ib), 0, &h, &it, ra, sizeof(ra), &l2),
			 WIRE_HANDSHAKE);
	ck_assert_int_eq(wire_receive(&a, rb, l1, 0, &h, &it, ca, sizeof(ca), &l3), WIRE_HANDSHAKE);
	ck_assert_int_eq(wire_receive(&b, ra, l2, 0, &h, &it, cb, sizeof(cb), &l4), WIRE_HANDSHAKE);
	ck_assert_int_eq(receive_into(&b, ca, l3), WIRE_OK);
	ck_assert_int_eq(receive_into(&a, cb, l4), WIRE_OK);
	ck_assert_int_eq(receive_into(&b, dgram, drop_dgram(&a, PEER, dgram)), WIRE_OK);
	ck_assert_int_eq(receive_into(&a, dgram, drop_dgram(&b, SELF, dgram)), WIRE_OK);
	/* Nothing more is due on either side. */
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(&a, PEER, 10, ia, sizeof(ia), &next), 0);
	ck_assert_uint_eq(wire_handshake_due(&b, SELF, 10, ib, sizeof(ib), &next), 0);
	ck_assert_uint_eq(a.handshakes, 2);
	ck_assert_uint_eq(b.handshakes, 2);
}
END_TEST

/*
 * Rekeying under a lowered bound (8 datagrams): a sends 200 datagrams to b
 * while it rekeys, and the datagrams arrive in bursts of five, in reverse
 * order — so some sealed under a session arrive after the confirmation of
 * the next one. Every message arrives exactly once, and a replay of all of
 * them afterwards is refused.
 */
START_TEST(rekey_under_a_lowered_bound_loses_and_repeats_nothing)
{
	enum { N = 200, SLOT = 512 };
	static struct wire a, b;
	static uint8_t q[12][SLOT], all[N + 64][SLOT];
	static bool seen[N];
	size_t ql[12], alll[N + 64], nq = 0, nall = 0;
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES], reply[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	struct pkv_msg m;
	size_t rl;
	unsigned got = 0;

	wire_node(&a, PEER, 1);
	wire_node(&b, SELF, 1);
	a.rekey_dgrams = 8;
	memset(seen, 0, sizeof(seen));
	for (unsigned i = 0; i < N; i++) {
		now_us += 1000;
		uint64_t next = UINT64_MAX;
		size_t n = wire_handshake_due(&a, SELF, now_us, init, sizeof(init), &next);
		if (n) {
			ck_assert_int_eq(wire_receive(&b, init, n, now_us, &h, &it, resp, sizeof(resp),
						      &rl),
					 WIRE_HANDSHAKE);
			size_t cl = 0;
			ck_assert_int_eq(wire_receive(&a, resp, rl, now_us, &h, &it, q[nq], SLOT, &cl),
					 WIRE_HANDSHAKE);
			ql[nq++] = cl; /* the confirmation travels like any datagram */
		}
		struct wire_builder bl;
		struct pkv_msg one = small_msg(PKV_MSG_QUERY, i);
		ck_assert_int_eq(wire_begin(&bl, &a, SELF, q[nq], SLOT, false, now_us), 0);
		ck_assert_int_eq(wire_add(&bl, &one), 0);
		int len = wire_finish(&bl);
		ck_assert_int_gt(len, 0);
		ql[nq++] = (size_t)len;
		if (nq < 5 && i != N - 1)
			continue;
		/* The burst arrives newest first. */
		while (nq) {
			nq--;
			memcpy(all[nall], q[nq], ql[nq]);
			alll[nall++] = ql[nq];
			int rc = wire_receive(&b, q[nq], ql[nq], now_us, &h, &it, reply, sizeof(reply),
					      &rl);
			ck_assert_msg(rc == WIRE_OK, "datagram %zu of a burst before message %u: %s",
				      nq, i, rc > 0 ? wire_reject_to_str(WIRE_RC_REJECT(rc)) : "?");
			while (wire_next(&it, &m)) {
				ck_assert_uint_lt(m.req, N);
				ck_assert_msg(!seen[m.req], "message %u taken twice", (unsigned)m.req);
				seen[m.req] = true;
				got++;
			}
		}
	}
	ck_assert_uint_eq(got, N);
	ck_assert_uint_ge(a.rekeys, N / 8 - 1);
	ck_assert_uint_eq(b.rejects[WIRE_REJ_NO_SESSION], 0);
	/* Every datagram again: each one is refused. */
	for (size_t k = 0; k < nall; k++)
		ck_assert_int_ne(receive_into(&b, all[k], alll[k]), WIRE_OK);
	/* Past the delay bound the session before the last rekey is closed too. */
	now_us += 2 * WIRE_MAX_AGE_US;
	ck_assert(!b.peers[PEER].rx_prev.live || now_us >= b.peers[PEER].rx_prev_until);
}
END_TEST

/*
 * Key rotation (docs/design.md §7, "Rotation"): node PEER's line lists its
 * old key and its new one. A peer talks with it under either, both ways;
 * once the old key leaves the list, its sessions end at once and the old
 * key's handshakes are refused, while the new key's sessions live on.
 */
START_TEST(rotated_key_is_accepted_beside_the_old_one_then_alone)
{
	static struct wire a, old_b, new_b;
	static struct auth_key new_seed;
	uint8_t new_pk[AUTH_PK_BYTES], sk[AUTH_SK_BYTES], confirm[WIRE_HS_BYTES];
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	uint64_t next;
	size_t rl;

	new_seed = seeds[PEER];
	new_seed.k[0] ^= 0x5a;
	auth_node_keypair(new_pk, sk, &new_seed);
	wire_node(&a, SELF, 1);
	wire_node(&old_b, PEER, 1);
	ck_assert_int_eq(wire_set_peer_keys(&a, PEER, pks[PEER], new_pk), 0);
	/* The old key, both ways. */
	ck_assert_int_eq(receive_into(&a, confirm, handshake(&old_b, &a, confirm)), WIRE_OK);
	ck_assert_int_eq(receive_into(&old_b, confirm, handshake(&a, &old_b, confirm)), WIRE_OK);
	/* PEER restarts with its new key: both ways again, a's INITs finding the new key. */
	wire_init(&new_b, CLUSTER, PEER, 2, &new_seed);
	for (uint32_t p = 1; p <= 3; p++)
		if (p != PEER)
			ck_assert_int_eq(wire_add_peer(&new_b, p, pks[p]), 0);
	ck_assert_int_eq(receive_into(&a, confirm, handshake(&new_b, &a, confirm)), WIRE_OK);
	ck_assert_int_eq(receive_into(&new_b, confirm, handshake(&a, &new_b, confirm)), WIRE_OK);
	ck_assert_int_eq(receive_into(&a, dgram, drop_dgram(&new_b, SELF, dgram)), WIRE_OK);
	ck_assert_int_eq(receive_into(&new_b, dgram, drop_dgram(&a, PEER, dgram)), WIRE_OK);
	/* The old key leaves: its sessions were replaced already; none ends. */
	ck_assert_int_eq(wire_set_peer_keys(&a, PEER, new_pk, NULL), 0);
	ck_assert_int_eq(receive_into(&a, dgram, drop_dgram(&new_b, SELF, dgram)), WIRE_OK);
	/* The old key's INIT is refused. */
	wire_init(&old_b, CLUSTER, PEER, 3, &seeds[PEER]);
	ck_assert_int_eq(wire_add_peer(&old_b, SELF, pks[SELF]), 0);
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(&old_b, SELF, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
	ck_assert_int_eq(wire_receive(&a, init, sizeof(init), now_us, &h, &it, resp, sizeof(resp),
				      &rl),
			 WIRE_RC(WIRE_REJ_BAD_AUTH));
	/* A session still made with the old key ends when the key leaves the list. */
	wire_node(&a, SELF, 1);
	wire_node(&old_b, PEER, 1);
	ck_assert_int_eq(wire_set_peer_keys(&a, PEER, pks[PEER], new_pk), 0);
	ck_assert_int_eq(receive_into(&a, confirm, handshake(&old_b, &a, confirm)), WIRE_OK);
	ck_assert_int_eq(wire_set_peer_keys(&a, PEER, new_pk, NULL), 1);
	ck_assert_int_eq(receive_into(&a, dgram, drop_dgram(&old_b, SELF, dgram)),
			 WIRE_RC(WIRE_REJ_NO_SESSION));
}
END_TEST

/* A lost INIT is sent again, new each time, the gap doubling to a cap. */
START_TEST(lost_init_is_retried_with_backoff_up_to_a_cap)
{
	uint8_t init[WIRE_HS_BYTES], first[WIRE_HS_BYTES];
	uint64_t t = 0, next, gap = WIRE_HS_RETRY_US;
	struct wire s;

	wire_node(&s, PEER, 1);
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(&s, SELF, t, first, sizeof(first), &next),
			  WIRE_HS_BYTES);
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_eq(next, t + gap);
		next = UINT64_MAX;
		ck_assert_uint_eq(wire_handshake_due(&s, SELF, t + gap - 1, init, sizeof(init), &next),
				  0);
		t += gap;
		next = UINT64_MAX;
		ck_assert_uint_eq(wire_handshake_due(&s, SELF, t, init, sizeof(init), &next),
				  WIRE_HS_BYTES);
		ck_assert_int_ne(memcmp(init + 48, first + 48, 32), 0);
		gap = gap * 2 > WIRE_HS_RETRY_MAX_US ? WIRE_HS_RETRY_MAX_US : gap * 2;
	}
	ck_assert_uint_eq(gap, WIRE_HS_RETRY_MAX_US);
	/* The late ones still work: the receiver answers the newest. */
	now_us = t;
	ck_assert_int_eq(receive(init, sizeof(init)), WIRE_HANDSHAKE);
	ck_assert_int_eq(receive(first, sizeof(first)), WIRE_RC(WIRE_REJ_REPLAY));
}
END_TEST

/*
 * The peer restarts: its new session, once confirmed, carries the new
 * incarnation, ends the old session, and makes the receiver's own session
 * to it due again (the restarted peer lost it).
 */
START_TEST(restarted_sender_gets_a_new_session_and_a_new_handshake_back)
{
	uint8_t confirm[WIRE_HS_BYTES], init[WIRE_HS_BYTES];
	uint64_t next = UINT64_MAX;
	struct wire_hdr h;
	struct wire_iter it;
	size_t len, cl;

	/* rx has a session to PEER (incarnation 5) as well. */
	struct wire *w = sender(PEER, 5);
	cl = handshake(&rx, w, confirm);
	ck_assert_int_eq(receive_into(w, confirm, cl), WIRE_OK);
	len = drop_dgram(w, SELF, copy);
	assert_accepted(copy, len);
	/* PEER restarts as incarnation 6. */
	len = build_one(hdr(PEER, 6, 1), false);
	ck_assert_int_eq(receive_out(dgram, len, &h, &it), WIRE_OK);
	ck_assert_uint_eq(h.incarnation, 6);
	ck_assert_uint_eq(rx.peers[PEER].incarnation, 6);
	ck_assert_uint_eq(wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next),
			  WIRE_HS_BYTES);
}
END_TEST

/*
 * The receiver restarted while its peer was cut off: its INITs went
 * unanswered and back off to a second apart. The peer's first datagram
 * after the heal (under the session it agreed with the receiver's
 * predecessor) brings the next INIT forward to now, and only one per
 * WIRE_HS_RETRY_US however many such datagrams come.
 */
START_TEST(stale_session_datagram_brings_a_backed_off_init_forward)
{
	uint8_t init[WIRE_HS_BYTES];
	uint64_t next;
	struct wire *w = sender(PEER, 5);
	size_t len;

	wire_node(&rx, SELF, 2); /* restarted: no session either way */
	now_us = 1000000;
	for (int i = 0; i < 6; i++) { /* lost INITs: 0.1, 0.2, … 1 s apart */
		next = UINT64_MAX;
		ck_assert_uint_eq(wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next),
				  WIRE_HS_BYTES);
		now_us = next;
	}
	now_us -= WIRE_HS_RETRY_MAX_US / 2; /* half a second before the next */
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next), 0);
	ck_assert_uint_eq(next, now_us + WIRE_HS_RETRY_MAX_US / 2);

	/* Refused like any datagram of no session; only the INIT's time moves. */
	len = drop_dgram(w, SELF, dgram);
	ck_assert_int_eq(receive(dgram, len), WIRE_RC(WIRE_REJ_NO_SESSION));
	ck_assert_uint_eq(rx.accepted, 0);
	next = UINT64_MAX;
	ck_assert_msg(wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next) ==
			      WIRE_HS_BYTES,
		      "the peer's stale datagram did not bring the INIT forward");

	/* More of them right after: no INIT before WIRE_HS_RETRY_US. */
	now_us += WIRE_HS_RETRY_US / 2;
	len = drop_dgram(w, SELF, dgram);
	assert_rejected(dgram, len, WIRE_REJ_NO_SESSION); /* nothing moves now */
	next = UINT64_MAX;
	ck_assert_uint_eq(wire_handshake_due(&rx, PEER, now_us, init, sizeof(init), &next), 0);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("codec");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, roundtrip_every_type_with_max_size_fields);
	tcase_add_test(tc, roundtrip_every_type_encrypted);
	tcase_add_test(tc, roundtrip_keeps_empty_byte_strings_and_zero_fields);
	tcase_add_test(tc, batch_fills_datagram_until_enospc_and_stays_valid);
	tcase_add_test(tc, batch_refuses_large_message_after_small_ones_and_stays_valid);
	tcase_add_test(tc, builder_respects_a_small_buffer);
	tcase_add_test(tc, builder_refuses_unsendable_messages);
	tcase_add_test(tc, encrypted_datagram_hides_the_messages);
	tcase_add_test(tc, decode_body_accepts_only_exact_message_areas);
	tcase_add_test(tc, reject_names_are_stable);
	suite_add_tcase(s, tc);

	tc = tcase_create("receive");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, receiver_rejects_every_single_bit_flip);
	tcase_add_test(tc, receiver_rejects_every_single_bit_flip_encrypted);
	tcase_add_test(tc, receiver_rejects_truncated_datagram);
	tcase_add_test(tc, receiver_rejects_wrong_key);
	tcase_add_test(tc, receiver_rejects_other_cluster_with_same_key);
	tcase_add_test(tc, receiver_rejects_unknown_sender_and_self);
	tcase_add_test(tc, add_peer_refuses_invalid_ids_and_self);
	tcase_add_test(tc, receiver_rejects_replayed_datagram);
	tcase_add_test(tc, datagram_held_past_the_delay_bound_is_dropped);
	tcase_add_test(tc, dead_senders_last_datagram_held_past_the_bound_is_dropped);
	tcase_add_test(tc, delay_bound_is_per_sender_and_session);
	tcase_add_test(tc, stale_echo_is_answered_with_a_stamp_and_then_heard);
	tcase_add_test(tc, echo_ahead_of_the_clock_proves_nothing);
	tcase_add_test(tc, stamps_flow_to_a_peer_that_talks_to_us);
	tcase_add_test(tc, receiver_rejects_sequence_below_window);
	tcase_add_test(tc, receiver_accepts_out_of_order_sequences_once_each);
	tcase_add_test(tc, receiver_window_slides_over_large_jumps);
	tcase_add_test(tc, receiver_window_reaches_the_last_sequence_number);
	tcase_add_test(tc, receiver_rejects_old_incarnation_after_newer_seen);
	tcase_add_test(tc, new_incarnation_resets_the_window);
	tcase_add_test(tc, rejected_datagram_leaves_sender_state_unchanged);
	tcase_add_loop_test(tc, receiver_rejects_malformed_bodies_with_valid_tag, 0, 2);
	tcase_add_test(tc, receiver_rejects_lengths_over_limit_even_when_bytes_present);
	tcase_add_test(tc, receiver_rejects_malformed_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("sessions");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, replay_to_restarted_receiver_is_rejected);
	tcase_add_test(tc, replayed_init_to_restarted_receiver_confirms_no_session);
	tcase_add_test(tc, datagram_redirected_to_another_receiver_is_rejected);
	tcase_add_test(tc, replayed_heartbeats_of_a_dead_sender_are_rejected);
	tcase_add_test(tc, forged_heartbeat_with_only_one_nodes_key_is_rejected);
	tcase_add_test(tc, restored_snapshot_does_not_repeat_a_nonce);
	tcase_add_test(tc, unconfirmed_init_leaves_the_live_session);
	tcase_add_test(tc, simultaneous_handshakes_set_up_both_directions);
	tcase_add_test(tc, lost_init_is_retried_with_backoff_up_to_a_cap);
	tcase_add_test(tc, rekey_under_a_lowered_bound_loses_and_repeats_nothing);
	tcase_add_test(tc, rotated_key_is_accepted_beside_the_old_one_then_alone);
	tcase_add_test(tc, restarted_sender_gets_a_new_session_and_a_new_handshake_back);
	tcase_add_test(tc, stale_session_datagram_brings_a_backed_off_init_forward);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
