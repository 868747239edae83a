// SPDX-License-Identifier: MIT
/*
 * wire.c — datagram codec, authentication, anti-replay window.
 *
 * The layout is in wire.h. Integers are packed byte by byte (never by struct
 * copy), so the format does not depend on the compiler's padding or the
 * host's byte order; compilers turn these loops into single loads/stores.
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

/* Header offsets. The nonce is the 24 bytes sender..seq, in auth.h's order. */
#define H_MAGIC	      0
#define H_VERSION     4
#define H_FLAGS	      5
#define H_RESERVED    6
#define H_CLUSTER     8
#define H_SENDER      16
#define H_SALT	      20
#define H_INCARNATION 24
#define H_SEQ	      32
#define H_COUNT	      40
#define H_NONCE	      H_SENDER

/* Message offsets. */
#define M_TYPE	       0
#define M_FLAGS	       1
#define M_BUCKET_LEN   2
#define M_RESERVED     3
#define M_KEY_LEN      4
#define M_VALUE_LEN    6
#define M_REQ	       10
#define M_GEN	       18
#define M_BALLOT_ROUND 26
#define M_BALLOT_NODE  34
#define M_ACC_ROUND    38
#define M_ACC_NODE     46
#define M_ARG0	       50
#define M_ARG1	       58
#define M_ARG2	       66

_Static_assert(H_COUNT + 2 == WIRE_HDR_BYTES, "header layout");
_Static_assert(H_SEQ + 8 - H_NONCE == AUTH_NONCE_BYTES, "nonce is sender..seq");
_Static_assert(M_ARG2 + 8 == WIRE_MSG_FIXED_BYTES, "message layout");
_Static_assert(PKV_MAX_BUCKET <= UINT8_MAX, "bucket length is a u8");
_Static_assert(PKV_MAX_KEY <= UINT16_MAX, "key length is a u16");
/* The largest message must travel alone in one datagram. */
_Static_assert(WIRE_HDR_BYTES + WIRE_MSG_FIXED_BYTES + PKV_MAX_BUCKET + PKV_MAX_KEY +
		       WIRE_MAX_VALUE + WIRE_TAG_BYTES <=
		   WIRE_MAX_DGRAM,
	       "largest message fits a datagram");
_Static_assert(WIRE_REPLAY_WINDOW % 64 == 0, "window is whole words");

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- messages ---------------------------------------------------------- */

size_t wire_msg_size(const struct pkv_msg *m)
{
	return WIRE_MSG_FIXED_BYTES + (size_t)m->bucket.len + m->key.len + m->value.len;
}

static bool bytes_ok(struct pkv_bytes b, uint32_t max)
{
	return b.len <= max && (b.len == 0 || b.p != NULL);
}

static bool msg_sendable(const struct pkv_msg *m)
{
	return m->type >= 1 && m->type < PKV_MSG__COUNT && bytes_ok(m->bucket, PKV_MAX_BUCKET) &&
	       bytes_ok(m->key, PKV_MAX_KEY) && bytes_ok(m->value, WIRE_MAX_VALUE);
}

static void encode_msg(uint8_t *p, const struct pkv_msg *m)
{
	p[M_TYPE] = m->type;
	p[M_FLAGS] = m->flags;
	p[M_BUCKET_LEN] = (uint8_t)m->bucket.len;
	p[M_RESERVED] = 0;
	put16(p + M_KEY_LEN, (uint16_t)m->key.len);
	put32(p + M_VALUE_LEN, m->value.len);
	put64(p + M_REQ, m->req);
	put64(p + M_GEN, m->gen);
	put64(p + M_BALLOT_ROUND, m->ballot.round);
	put32(p + M_BALLOT_NODE, m->ballot.node);
	put64(p + M_ACC_ROUND, m->accepted.round);
	put32(p + M_ACC_NODE, m->accepted.node);
	put64(p + M_ARG0, m->arg0);
	put64(p + M_ARG1, m->arg1);
	put64(p + M_ARG2, m->arg2);
	p += WIRE_MSG_FIXED_BYTES;
	/* memcpy with a NULL source is undefined even for 0 bytes. */
	if (m->bucket.len)
		memcpy(p, m->bucket.p, m->bucket.len);
	p += m->bucket.len;
	if (m->key.len)
		memcpy(p, m->key.p, m->key.len);
	p += m->key.len;
	if (m->value.len)
		memcpy(p, m->value.p, m->value.len);
}

/*
 * Checks the message at p (avail bytes left in the area) and returns its
 * encoded size, or 0 if it is malformed. Fills *m when m is not NULL.
 */
static size_t decode_msg(const uint8_t *p, size_t avail, struct pkv_msg *m)
{
	uint32_t blen, klen, vlen;
	size_t size;

	if (avail < WIRE_MSG_FIXED_BYTES)
		return 0;
	if (p[M_TYPE] == 0 || p[M_TYPE] >= PKV_MSG__COUNT || p[M_RESERVED] != 0)
		return 0;
	blen = p[M_BUCKET_LEN];
	klen = get16(p + M_KEY_LEN);
	vlen = get32(p + M_VALUE_LEN);
	if (klen > PKV_MAX_KEY || vlen > WIRE_MAX_VALUE)
		return 0;
	/* Bounded by the checks above: no overflow. */
	size = WIRE_MSG_FIXED_BYTES + (size_t)blen + klen + vlen;
	if (size > avail)
		return 0;
	if (!m)
		return size;
	m->type = p[M_TYPE];
	m->flags = p[M_FLAGS];
	m->req = get64(p + M_REQ);
	m->gen = get64(p + M_GEN);
	m->ballot.round = get64(p + M_BALLOT_ROUND);
	m->ballot.node = get32(p + M_BALLOT_NODE);
	m->accepted.round = get64(p + M_ACC_ROUND);
	m->accepted.node = get32(p + M_ACC_NODE);
	m->arg0 = get64(p + M_ARG0);
	m->arg1 = get64(p + M_ARG1);
	m->arg2 = get64(p + M_ARG2);
	p += WIRE_MSG_FIXED_BYTES;
	m->bucket = (struct pkv_bytes){.p = p, .len = blen};
	p += blen;
	m->key = (struct pkv_bytes){.p = p, .len = klen};
	p += klen;
	m->value = (struct pkv_bytes){.p = p, .len = vlen};
	return size;
}

int wire_decode_body(const uint8_t *p, size_t len, unsigned count, struct wire_iter *it)
{
	const uint8_t *q = p, *end = p + len;

	for (unsigned i = 0; i < count; i++) {
		size_t n = decode_msg(q, (size_t)(end - q), NULL);
		if (n == 0)
			return -EBADMSG;
		q += n;
	}
	if (q != end)
		return -EBADMSG;
	it->p = p;
	it->end = end;
	it->left = count;
	return 0;
}

bool wire_next(struct wire_iter *it, struct pkv_msg *m)
{
	size_t n;

	if (it->left == 0)
		return false;
	n = decode_msg(it->p, (size_t)(it->end - it->p), m);
	if (n == 0) {
		/* Unreachable for an iterator from wire_receive: it was validated. */
		it->left = 0;
		return false;
	}
	it->p += n;
	it->left--;
	return true;
}

/* ---- building ---------------------------------------------------------- */

int wire_begin(struct wire_builder *b, uint8_t *buf, size_t cap, const struct wire_hdr *h)
{
	if (cap < WIRE_MIN_DGRAM)
		return -EINVAL;
	b->buf = buf;
	b->cap = cap < WIRE_MAX_DGRAM ? cap : WIRE_MAX_DGRAM;
	b->len = WIRE_HDR_BYTES;
	b->count = 0;
	b->finished = false;
	memcpy(buf + H_MAGIC, WIRE_MAGIC, 4);
	buf[H_VERSION] = WIRE_VERSION;
	buf[H_FLAGS] = 0;
	buf[H_RESERVED] = 0;
	buf[H_RESERVED + 1] = 0;
	put64(buf + H_CLUSTER, h->cluster_id);
	put32(buf + H_SENDER, h->sender);
	put32(buf + H_SALT, h->salt);
	put64(buf + H_INCARNATION, h->incarnation);
	put64(buf + H_SEQ, h->seq);
	put16(buf + H_COUNT, 0);
	return 0;
}

int wire_add(struct wire_builder *b, const struct pkv_msg *m)
{
	size_t size;

	if (b->finished || !msg_sendable(m))
		return -EINVAL;
	size = wire_msg_size(m);
	if (b->count == UINT16_MAX || size > b->cap - WIRE_TAG_BYTES - b->len)
		return -ENOSPC;
	encode_msg(b->buf + b->len, m);
	b->len += size;
	b->count++;
	put16(b->buf + H_COUNT, b->count);
	return 0;
}

int wire_finish(struct wire_builder *b, const struct auth_key *k, bool encrypt)
{
	uint8_t *buf = b->buf;

	if (b->finished)
		return -EINVAL;
	b->finished = true;
	buf[H_FLAGS] = encrypt ? WIRE_F_ENCRYPTED : 0;
	if (encrypt)
		auth_seal(buf + WIRE_HDR_BYTES, buf + b->len, buf + WIRE_HDR_BYTES,
			  b->len - WIRE_HDR_BYTES, buf, WIRE_HDR_BYTES, buf + H_NONCE, k);
	else
		auth_seal(NULL, buf + b->len, NULL, 0, buf, b->len, buf + H_NONCE, k);
	return (int)(b->len + WIRE_TAG_BYTES);
}

/* ---- receiving --------------------------------------------------------- */

const char *wire_reject_to_str(enum wire_reject r)
{
	static const char *const names[WIRE_REJ__COUNT] = {
	    [WIRE_REJ_TRUNCATED] = "truncated",
	    [WIRE_REJ_MALFORMED] = "malformed",
	    [WIRE_REJ_BAD_AUTH] = "bad_auth",
	    [WIRE_REJ_WRONG_CLUSTER] = "wrong_cluster",
	    [WIRE_REJ_UNKNOWN_SENDER] = "unknown_sender",
	    [WIRE_REJ_OLD_INCARNATION] = "old_incarnation",
	    [WIRE_REJ_REPLAY] = "replay",
	    [WIRE_REJ_TOO_OLD] = "too_old",
	};
	if ((unsigned)r < WIRE_REJ__COUNT)
		return names[r];
	return "unknown";
}

void wire_rx_init(struct wire_rx *rx, uint64_t cluster_id, uint32_t self)
{
	memset(rx, 0, sizeof(*rx));
	rx->cluster_id = cluster_id;
	rx->self = self;
	rx->max_age_us = WIRE_MAX_AGE_US;
}

int wire_rx_add_peer(struct wire_rx *rx, uint32_t id)
{
	if (id == 0 || id > PKV_MAX_NODES || id == rx->self)
		return -EINVAL;
	rx->peers[id].known = true;
	return 0;
}

void wire_rx_remove_peer(struct wire_rx *rx, uint32_t id)
{
	if (id == 0 || id > PKV_MAX_NODES)
		return;
	memset(&rx->peers[id], 0, sizeof(rx->peers[id]));
}

#define WIN_WORD(s) (((s) % WIRE_REPLAY_WINDOW) / 64)
#define WIN_BIT(s)  ((uint64_t)1 << ((s) % 64))

/* Seen, or too far below the highest sequence to tell: either way a replay. */
static bool window_rejects(const struct wire_peer *p, uint64_t seq)
{
	if (seq > p->top)
		return false;
	if (p->top - seq >= WIRE_REPLAY_WINDOW)
		return true;
	return p->seen[WIN_WORD(seq)] & WIN_BIT(seq);
}

static void window_mark(struct wire_peer *p, uint64_t seq)
{
	if (seq > p->top) {
		/* Slots of the sequences skipped over now stand for new numbers. */
		if (seq - p->top >= WIRE_REPLAY_WINDOW) {
			memset(p->seen, 0, sizeof(p->seen));
		} else {
			/* Counted, not compared: seq may be UINT64_MAX. */
			for (uint64_t i = 1, n = seq - p->top; i <= n; i++)
				p->seen[WIN_WORD(p->top + i)] &= ~WIN_BIT(p->top + i);
		}
		p->top = seq;
	}
	p->seen[WIN_WORD(seq)] |= WIN_BIT(seq);
}

/*
 * Older than the delay bound: seq is at or below the highest sequence that
 * had been accepted from the sender max_age_us ago, so it was sent before
 * that datagram arrived (a sender's sequence only grows).
 */
static bool too_old(const struct wire_rx *rx, const struct wire_peer *p, uint64_t seq,
		    uint64_t now)
{
	for (unsigned i = 0; i < p->n_marks; i++) {
		unsigned j = (p->newest + WIRE_AGE_MARKS - i) % WIRE_AGE_MARKS;
		if (p->marks[j].at + rx->max_age_us <= now)
			return seq <= p->marks[j].top;
	}
	return false;
}

/*
 * After an accepted datagram: a new mark once per step of the bound. A mark
 * never changes once made (its `top` must be what was accepted by `at`), so
 * the bound is checked against a mark up to a step older than it could be:
 * the check errs towards accepting.
 */
static void age_mark(const struct wire_rx *rx, struct wire_peer *p, uint64_t now)
{
	uint64_t step = rx->max_age_us / WIRE_AGE_STEPS;
	if (p->n_marks && now < p->marks[p->newest].at + step)
		return;
	p->newest = p->n_marks ? (p->newest + 1) % WIRE_AGE_MARKS : 0;
	if (p->n_marks < WIRE_AGE_MARKS)
		p->n_marks++;
	p->marks[p->newest].at = now;
	p->marks[p->newest].top = p->top;
}

static int reject(struct wire_rx *rx, enum wire_reject r)
{
	rx->rejects[r]++;
	return WIRE_RC(r);
}

int wire_receive(struct wire_rx *rx, const struct auth_key *k, uint8_t *buf, size_t len,
		 uint64_t now_us, struct wire_hdr *hdr_out, struct wire_iter *it)
{
	struct wire_peer *peer;
	struct wire_hdr h;
	uint8_t *tag;
	size_t body_len;
	bool fresh;

	if (len < WIRE_MIN_DGRAM)
		return reject(rx, WIRE_REJ_TRUNCATED);
	if (len > WIRE_MAX_DGRAM || memcmp(buf + H_MAGIC, WIRE_MAGIC, 4) != 0 ||
	    buf[H_VERSION] != WIRE_VERSION || (buf[H_FLAGS] & ~WIRE_F_ENCRYPTED) != 0 ||
	    buf[H_RESERVED] != 0 || buf[H_RESERVED + 1] != 0)
		return reject(rx, WIRE_REJ_MALFORMED);

	/* Nothing beyond the format bytes is trusted before the tag verifies. */
	tag = buf + len - WIRE_TAG_BYTES;
	body_len = len - WIRE_TAG_BYTES - WIRE_HDR_BYTES;
	if (buf[H_FLAGS] & WIRE_F_ENCRYPTED) {
		if (auth_open(buf + WIRE_HDR_BYTES, buf + WIRE_HDR_BYTES, body_len, tag, buf,
			      WIRE_HDR_BYTES, buf + H_NONCE, k) != 0)
			return reject(rx, WIRE_REJ_BAD_AUTH);
	} else {
		if (auth_open(NULL, NULL, 0, tag, buf, len - WIRE_TAG_BYTES, buf + H_NONCE, k) != 0)
			return reject(rx, WIRE_REJ_BAD_AUTH);
	}

	h.version = buf[H_VERSION];
	h.flags = buf[H_FLAGS];
	h.cluster_id = get64(buf + H_CLUSTER);
	h.sender = get32(buf + H_SENDER);
	h.salt = get32(buf + H_SALT);
	h.incarnation = get64(buf + H_INCARNATION);
	h.seq = get64(buf + H_SEQ);
	h.count = get16(buf + H_COUNT);

	if (h.cluster_id != rx->cluster_id)
		return reject(rx, WIRE_REJ_WRONG_CLUSTER);
	if (h.sender == 0 || h.sender > PKV_MAX_NODES || h.sender == rx->self ||
	    !rx->peers[h.sender].known)
		return reject(rx, WIRE_REJ_UNKNOWN_SENDER);
	peer = &rx->peers[h.sender];
	/* A first datagram, or a restarted sender: its window starts afresh. */
	fresh = !peer->active || h.incarnation > peer->incarnation;
	if (!fresh && h.incarnation < peer->incarnation)
		return reject(rx, WIRE_REJ_OLD_INCARNATION);
	if (!fresh && too_old(rx, peer, h.seq, now_us))
		return reject(rx, WIRE_REJ_TOO_OLD);
	if (!fresh && window_rejects(peer, h.seq))
		return reject(rx, WIRE_REJ_REPLAY);
	if (wire_decode_body(buf + WIRE_HDR_BYTES, body_len, h.count, it) != 0)
		return reject(rx, WIRE_REJ_MALFORMED);

	/* Accepted: only now does the sender's state move. */
	if (fresh) {
		peer->active = true;
		peer->incarnation = h.incarnation;
		peer->top = 0;
		memset(peer->seen, 0, sizeof(peer->seen));
		peer->n_marks = 0;
	}
	window_mark(peer, h.seq);
	age_mark(rx, peer, now_us);
	rx->accepted++;
	*hdr_out = h;
	return 0;
}
