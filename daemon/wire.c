// SPDX-License-Identifier: MIT
/*
 * wire.c — datagram codec, the session handshake, authentication, the
 * anti-replay window and the delay bound.
 *
 * The layout is in wire.h, the argument in docs/design.md §7. Integers are
 * packed byte by byte (never by struct copy), so the format does not depend
 * on the compiler's padding or the host's byte order; compilers turn these
 * loops into single loads/stores.
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

/* Header offsets, every type. */
#define H_MAGIC	   0
#define H_VERSION  4
#define H_TYPE	   5
#define H_FLAGS	   6
#define H_RESERVED 7
#define H_CLUSTER  8
#define H_SENDER   16
#define H_RECEIVER 20
/* Data. The nonce is the 24 bytes seq..random. */
#define H_SESSION 24
#define H_SEQ	  32
#define H_RANDOM  40
#define H_STAMP	  56
#define H_ECHO	  64
#define H_COUNT	  72
#define H_NONCE	  H_SEQ
/* INIT and RESP. */
#define HS_ID	   24
#define HS_INC	   32
#define HS_CTR	   40 /* INIT: the handshake counter */
#define HS_SESSION 40 /* RESP: the session id */
#define HS_EPK	   48
#define HS_TAG	   80

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
_Static_assert(H_STAMP - H_NONCE == AUTH_NONCE_BYTES, "nonce is seq..random");
_Static_assert(HS_TAG + WIRE_TAG_BYTES == WIRE_HS_BYTES, "handshake layout");
_Static_assert(WIRE_HS_BYTES >= WIRE_MIN_DGRAM, "a handshake is not truncated");
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

static void put_common(uint8_t *buf, uint8_t type, uint8_t flags, uint64_t cluster,
		       uint32_t sender, uint32_t receiver)
{
	memcpy(buf + H_MAGIC, WIRE_MAGIC, 4);
	buf[H_VERSION] = WIRE_VERSION;
	buf[H_TYPE] = type;
	buf[H_FLAGS] = flags;
	buf[H_RESERVED] = 0;
	put64(buf + H_CLUSTER, cluster);
	put32(buf + H_SENDER, sender);
	put32(buf + H_RECEIVER, receiver);
}

static bool peer_ok(const struct wire *w, uint32_t id)
{
	return id != 0 && id <= PKV_MAX_NODES && id != w->self && w->peers[id].known;
}

bool wire_can_send(const struct wire *w, uint32_t id)
{
	return peer_ok(w, id) && w->peers[id].tx.live;
}

int wire_begin(struct wire_builder *b, struct wire *w, uint32_t to, uint8_t *buf, size_t cap,
	       bool encrypt, uint64_t now_us)
{
	struct wire_session *s;
	struct wire_peer *p;

	if (cap < WIRE_MIN_DGRAM || !peer_ok(w, to))
		return -EINVAL;
	p = &w->peers[to];
	s = &p->tx;
	if (!s->live)
		return -ENOTCONN;
	b->buf = buf;
	b->cap = cap < WIRE_MAX_DGRAM ? cap : WIRE_MAX_DGRAM;
	b->len = WIRE_HDR_BYTES;
	b->count = 0;
	b->finished = false;
	b->encrypt = encrypt;
	b->key = s->key;
	put_common(buf, WIRE_T_DATA, encrypt ? WIRE_F_ENCRYPTED : 0, w->cluster_id, w->self, to);
	put64(buf + H_SESSION, s->id);
	put64(buf + H_SEQ, ++s->seq);
	/* Fresh for every datagram, even in a process restored from a memory
	 * snapshot: the nonce never repeats under the session key. */
	auth_random(buf + H_RANDOM, 16);
	put64(buf + H_STAMP, now_us);
	p->sent_us = now_us;
	/* Only a stamp of the incarnation we send to means anything to it. */
	put64(buf + H_ECHO, p->stamp_inc == s->peer_inc ? p->stamp_in : 0);
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

int wire_finish(struct wire_builder *b)
{
	uint8_t *buf = b->buf;
	struct auth_key k;

	if (b->finished)
		return -EINVAL;
	b->finished = true;
	memcpy(k.k, b->key, AUTH_KEY_BYTES);
	if (b->encrypt)
		auth_seal(buf + WIRE_HDR_BYTES, buf + b->len, buf + WIRE_HDR_BYTES,
			  b->len - WIRE_HDR_BYTES, buf, WIRE_HDR_BYTES, buf + H_NONCE, &k);
	else
		auth_seal(NULL, buf + b->len, NULL, 0, buf, b->len, buf + H_NONCE, &k);
	auth_key_wipe(&k);
	return (int)(b->len + WIRE_TAG_BYTES);
}

/* ---- sessions ---------------------------------------------------------- */

static const uint8_t zero_nonce[AUTH_NONCE_BYTES];

static void session_wipe(struct wire_session *s)
{
	sodium_memzero(s, sizeof(*s));
}

void wire_init(struct wire *w, uint64_t cluster_id, uint32_t self, uint64_t incarnation,
	       const struct auth_key *seed)
{
	sodium_memzero(w, sizeof(*w));
	w->cluster_id = cluster_id;
	w->self = self;
	w->incarnation = incarnation;
	w->max_age_us = WIRE_MAX_AGE_US;
	w->rekey_dgrams = WIRE_REKEY_DGRAMS;
	w->rekey_us = WIRE_REKEY_US;
	auth_node_keypair(w->pk, w->sk, seed);
}

void wire_wipe(struct wire *w)
{
	sodium_memzero(w, sizeof(*w));
}

int wire_set_peer_keys(struct wire *w, uint32_t id, const uint8_t pk[AUTH_PK_BYTES],
		       const uint8_t *alt)
{
	uint8_t out[AUTH_DH_BYTES], in[AUTH_DH_BYTES], aout[AUTH_DH_BYTES], ain[AUTH_DH_BYTES];
	struct wire_peer *p;
	int wiped = 0;

	if (id == 0 || id > PKV_MAX_NODES || id == w->self)
		return -EINVAL;
	if (auth_dh(out, true, w->pk, w->sk, pk) != 0 || auth_dh(in, false, w->pk, w->sk, pk) != 0 ||
	    (alt && (auth_dh(aout, true, w->pk, w->sk, alt) != 0 ||
		     auth_dh(ain, false, w->pk, w->sk, alt) != 0)))
		return -EINVAL;
	p = &w->peers[id];
	if (!p->known)
		sodium_memzero(p, sizeof(*p));
	/* Sessions made with a key that is no longer listed end now. */
	struct wire_session *live[] = { &p->tx, &p->rx, &p->rx_next, &p->rx_prev };
	for (unsigned i = 0; i < 4; i++) {
		struct wire_session *s = live[i];
		if (s->live && memcmp(s->peer_pk, pk, AUTH_PK_BYTES) != 0 &&
		    !(alt && !memcmp(s->peer_pk, alt, AUTH_PK_BYTES))) {
			session_wipe(s);
			wiped++;
		}
	}
	const uint8_t *inflight = p->hs_alt ? p->alt_pk : p->pk;
	if (p->hs_pending && memcmp(inflight, pk, AUTH_PK_BYTES) != 0 &&
	    !(alt && !memcmp(inflight, alt, AUTH_PK_BYTES)))
		p->hs_pending = false; /* an INIT to a key gone: a new one is due */
	p->known = true;
	memcpy(p->pk, pk, AUTH_PK_BYTES);
	memcpy(p->ss_out, out, sizeof(out));
	memcpy(p->ss_in, in, sizeof(in));
	p->has_alt = alt != NULL;
	if (alt) {
		memcpy(p->alt_pk, alt, AUTH_PK_BYTES);
		memcpy(p->alt_ss_out, aout, sizeof(aout));
		memcpy(p->alt_ss_in, ain, sizeof(ain));
	} else {
		sodium_memzero(p->alt_pk, sizeof(p->alt_pk));
		sodium_memzero(p->alt_ss_out, sizeof(p->alt_ss_out));
		sodium_memzero(p->alt_ss_in, sizeof(p->alt_ss_in));
		p->try_alt = p->hs_alt = false;
	}
	sodium_memzero(out, sizeof(out));
	sodium_memzero(in, sizeof(in));
	sodium_memzero(aout, sizeof(aout));
	sodium_memzero(ain, sizeof(ain));
	return wiped;
}

int wire_add_peer(struct wire *w, uint32_t id, const uint8_t pk[AUTH_PK_BYTES])
{
	int r = wire_set_peer_keys(w, id, pk, NULL);
	return r < 0 ? r : 0;
}

void wire_remove_peer(struct wire *w, uint32_t id)
{
	if (id == 0 || id > PKV_MAX_NODES)
		return;
	sodium_memzero(&w->peers[id], sizeof(w->peers[id]));
}

/* The INIT's tag key: the static-static term and the initiator's ephemeral
 * key, so each INIT has its own key (the AEAD nonce is then all zeros). */
static void init_key(struct auth_key *k, const uint8_t ss[AUTH_DH_BYTES], const uint8_t *init)
{
	struct auth_part parts[] = {{ss, AUTH_DH_BYTES}, {init + HS_EPK, AUTH_PK_BYTES}};
	auth_kdf(k->k, AUTH_KEY_BYTES, "paxoskv hs init v2", parts, 2);
}

/*
 * The RESP's tag key and the session key, from the four terms and both
 * handshake messages (the RESP without its tag).
 */
static void session_keys(struct auth_key *resp_key, uint8_t sess_key[AUTH_KEY_BYTES],
			 const uint8_t *es, const uint8_t *ss, const uint8_t *ee, const uint8_t *se,
			 const uint8_t *init, const uint8_t *resp)
{
	uint8_t h[2 * AUTH_KEY_BYTES];
	struct auth_part parts[] = {
	    {es, AUTH_DH_BYTES}, {ss, AUTH_DH_BYTES},	{ee, AUTH_DH_BYTES},
	    {se, AUTH_DH_BYTES}, {init, WIRE_HS_BYTES}, {resp, HS_TAG},
	};
	auth_kdf(h, sizeof(h), "paxoskv session v2", parts, 6);
	memcpy(resp_key->k, h, AUTH_KEY_BYTES);
	memcpy(sess_key, h + AUTH_KEY_BYTES, AUTH_KEY_BYTES);
	sodium_memzero(h, sizeof(h));
}

size_t wire_handshake_due(struct wire *w, uint32_t id, uint64_t now_us, uint8_t *buf, size_t cap,
			  uint64_t *next_us)
{
	struct wire_peer *p;
	struct auth_key k;
	uint64_t gap;

	if (!peer_ok(w, id) || cap < WIRE_HS_BYTES)
		return 0;
	p = &w->peers[id];
	/* A sending session past a rekey bound is replaced (it sends until then). */
	bool worn = p->tx.live &&
		    (p->tx.seq >= w->rekey_dgrams || now_us - p->tx.since_us >= w->rekey_us);
	if (p->hs_pending ? now_us < p->hs_next_us
			  : p->tx.live && p->tx.peer_inc >= p->hs_want_inc && !worn) {
		if (p->hs_pending && p->hs_next_us < *next_us)
			*next_us = p->hs_next_us;
		return 0;
	}
	if (!p->hs_pending && worn && p->tx.peer_inc >= p->hs_want_inc)
		w->rekeys++;
	p->hs_tries = p->hs_pending ? p->hs_tries + 1 : 0;
	/* During a rotation: the key the peer last used; unanswered, the other one next. */
	p->hs_alt = p->has_alt && p->try_alt;
	if (p->has_alt && p->hs_pending)
		p->hs_alt = p->try_alt = !p->try_alt;
	/* A new ephemeral key for every INIT, retries too. */
	auth_ephemeral(p->e_pk, p->e_sk);
	if (auth_dh(p->es, true, p->e_pk, p->e_sk, p->hs_alt ? p->alt_pk : p->pk) != 0)
		return 0; /* the keys were checked by wire_set_peer_keys: unreachable */
	p->hs_id = auth_random64();
	put_common(buf, WIRE_T_INIT, 0, w->cluster_id, w->self, id);
	put64(buf + HS_ID, p->hs_id);
	put64(buf + HS_INC, w->incarnation);
	put64(buf + HS_CTR, ++w->hs_ctr);
	memcpy(buf + HS_EPK, p->e_pk, AUTH_PK_BYTES);
	init_key(&k, p->hs_alt ? p->alt_ss_out : p->ss_out, buf);
	auth_seal(NULL, buf + HS_TAG, NULL, 0, buf, HS_TAG, zero_nonce, &k);
	auth_key_wipe(&k);
	memcpy(p->hs_init, buf, WIRE_HS_BYTES);
	p->hs_pending = true;
	p->hs_sent_us = now_us;
	gap = p->hs_tries >= 16 ? WIRE_HS_RETRY_MAX_US : (uint64_t)WIRE_HS_RETRY_US << p->hs_tries;
	if (gap > WIRE_HS_RETRY_MAX_US)
		gap = WIRE_HS_RETRY_MAX_US;
	p->hs_next_us = now_us + gap;
	if (p->hs_next_us < *next_us)
		*next_us = p->hs_next_us;
	return WIRE_HS_BYTES;
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
	    [WIRE_REJ_WRONG_RECEIVER] = "wrong_receiver",
	    [WIRE_REJ_NO_SESSION] = "no_session",
	};
	if ((unsigned)r < WIRE_REJ__COUNT)
		return names[r];
	return "unknown";
}

#define WIN_WORD(s) (((s) % WIRE_REPLAY_WINDOW) / 64)
#define WIN_BIT(s)  ((uint64_t)1 << ((s) % 64))

/* Seen, or too far below the highest sequence to tell: either way a replay. */
static bool window_rejects(const struct wire_session *p, uint64_t seq)
{
	if (seq > p->top)
		return false;
	if (p->top - seq >= WIRE_REPLAY_WINDOW)
		return true;
	return p->seen[WIN_WORD(seq)] & WIN_BIT(seq);
}

static void window_mark(struct wire_session *p, uint64_t seq)
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
 * An empty datagram to peer id in buf, sealed: a session's confirmation, or
 * our stamp. Its length, or 0 when there is no session to send on.
 */
static size_t seal_empty(struct wire *w, uint32_t id, uint64_t now, uint8_t *buf, size_t cap)
{
	struct wire_builder b;

	if (wire_begin(&b, w, id, buf, cap, false, now) != 0)
		return 0;
	int n = wire_finish(&b);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Older than the delay bound (wire.h): the datagram was sealed after the
 * session's handshake was answered (since_us) and after its sender had
 * received our stamp it echoes, both on our clock. An echo ahead of now
 * is none of ours and proves nothing.
 */
static bool too_old(const struct wire *rx, const struct wire_session *s, uint64_t echo,
		    uint64_t now)
{
	uint64_t young = s->since_us;
	if (echo <= now && echo > young)
		young = echo;
	return now - young > rx->max_age_us;
}

/*
 * The peer's stamp in an authentic datagram, newest kept per incarnation
 * (a replayed one is older and changes nothing): whatever we send after
 * it was sent after the peer's clock read it.
 */
static void keep_stamp(struct wire_peer *p, uint64_t inc, uint64_t stamp)
{
	if (p->stamp_inc != inc) {
		p->stamp_inc = inc;
		p->stamp_in = 0;
	}
	if (stamp > p->stamp_in)
		p->stamp_in = stamp;
}

size_t wire_stamp_due(struct wire *w, uint32_t id, uint64_t now_us, uint8_t *buf, size_t cap,
		      uint64_t *next_us)
{
	if (!peer_ok(w, id))
		return 0;
	struct wire_peer *p = &w->peers[id];
	if (!p->tx.live || !p->heard || now_us - p->heard_us >= WIRE_STAMP_LISTEN_US)
		return 0;
	if (now_us - p->sent_us < WIRE_STAMP_EVERY_US) {
		if (p->sent_us + WIRE_STAMP_EVERY_US < *next_us)
			*next_us = p->sent_us + WIRE_STAMP_EVERY_US;
		return 0;
	}
	size_t n = seal_empty(w, id, now_us, buf, cap);
	if (n && now_us + WIRE_STAMP_EVERY_US < *next_us)
		*next_us = now_us + WIRE_STAMP_EVERY_US;
	return n;
}

/*
 * A stale echo: our stamp goes back in an empty datagram, at most once per
 * WIRE_STAMP_GAP_US, so that a peer that hears little from us (it sends and
 * we only answer now and then) can be heard again.
 */
static void stamp_reply(struct wire *w, uint32_t id, uint64_t now, uint8_t *reply,
			size_t reply_cap, size_t *reply_len)
{
	struct wire_peer *p = &w->peers[id];

	if (p->stamp_sent_us && now - p->stamp_sent_us < WIRE_STAMP_GAP_US)
		return;
	/* No session to it: its handshake brings ours. */
	*reply_len = seal_empty(w, id, now, reply, reply_cap);
	if (*reply_len)
		p->stamp_sent_us = now;
}

static int reject(struct wire *w, enum wire_reject r)
{
	w->rejects[r]++;
	return WIRE_RC(r);
}

/* An INIT from peer p whose tag verified: answer it, keep the answered session. */
static int on_init(struct wire *w, struct wire_peer *p, bool alt, const uint8_t *buf, uint64_t now,
		   uint8_t *reply, size_t *reply_len)
{
	const uint8_t *ppk = alt ? p->alt_pk : p->pk, *ss_in = alt ? p->alt_ss_in : p->ss_in;
	uint64_t inc = get64(buf + HS_INC), ctr = get64(buf + HS_CTR);
	uint8_t e_pk[AUTH_PK_BYTES], e_sk[AUTH_SK_BYTES];
	uint8_t es[AUTH_DH_BYTES], ee[AUTH_DH_BYTES], se[AUTH_DH_BYTES];
	const uint8_t *epk = buf + HS_EPK;
	struct auth_key k;
	uint64_t sid;
	int rc;

	/* Only an INIT newer than every one answered: a replayed one is old. */
	if (inc < p->init_inc || inc < p->incarnation)
		return reject(w, WIRE_REJ_OLD_INCARNATION);
	if (inc == p->init_inc && ctr <= p->init_ctr)
		return reject(w, WIRE_REJ_REPLAY);
	auth_ephemeral(e_pk, e_sk);
	if (auth_dh(es, false, w->pk, w->sk, epk) != 0 || auth_dh(ee, false, e_pk, e_sk, epk) != 0 ||
	    auth_dh(se, false, e_pk, e_sk, ppk) != 0) {
		rc = reject(w, WIRE_REJ_BAD_AUTH);
		goto out;
	}
	do
		sid = auth_random64();
	while (sid == 0 || (p->rx.live && sid == p->rx.id));
	put_common(reply, WIRE_T_RESP, 0, w->cluster_id, w->self, get32(buf + H_SENDER));
	put64(reply + HS_ID, get64(buf + HS_ID));
	put64(reply + HS_INC, w->incarnation);
	put64(reply + HS_SESSION, sid);
	memcpy(reply + HS_EPK, e_pk, AUTH_PK_BYTES);
	/* The answered session replaces an earlier answered one, never the
	 * current: that stays until a datagram confirms the new one. */
	session_wipe(&p->rx_next);
	session_keys(&k, p->rx_next.key, es, ss_in, ee, se, buf, reply);
	auth_seal(NULL, reply + HS_TAG, NULL, 0, reply, HS_TAG, zero_nonce, &k);
	auth_key_wipe(&k);
	p->rx_next.live = true;
	p->rx_next.id = sid;
	p->rx_next.peer_inc = inc;
	p->rx_next.since_us = now;
	memcpy(p->rx_next.peer_pk, ppk, AUTH_PK_BYTES);
	/* The peer holds that key: our next INIT goes to it. */
	p->try_alt = alt;
	p->init_inc = inc;
	p->init_ctr = ctr;
	/* A newer incarnation may have lost the session we send on: shake
	 * hands again, keeping the old session until the new one is answered.
	 * A replayed INIT gets no further than this. */
	if (inc > p->hs_want_inc)
		p->hs_want_inc = inc;
	*reply_len = WIRE_HS_BYTES;
	rc = WIRE_HANDSHAKE;
out:
	sodium_memzero(e_sk, sizeof(e_sk));
	sodium_memzero(es, sizeof(es));
	sodium_memzero(ee, sizeof(ee));
	sodium_memzero(se, sizeof(se));
	return rc;
}

/* A RESP to our INIT in flight to p: verify it, and the session is ours to send on. */
static int on_resp(struct wire *w, struct wire_peer *p, uint32_t id, uint8_t *buf, uint64_t now,
		   uint8_t *reply, size_t reply_cap, size_t *reply_len)
{
	uint8_t ee[AUTH_DH_BYTES], se[AUTH_DH_BYTES], key[AUTH_KEY_BYTES];
	const uint8_t *epk = buf + HS_EPK;
	struct auth_key k;
	int rc;

	if (auth_dh(ee, true, p->e_pk, p->e_sk, epk) != 0 ||
	    auth_dh(se, true, w->pk, w->sk, epk) != 0) {
		rc = reject(w, WIRE_REJ_BAD_AUTH);
		goto out;
	}
	session_keys(&k, key, p->es, p->hs_alt ? p->alt_ss_out : p->ss_out, ee, se, p->hs_init, buf);
	rc = auth_open(NULL, NULL, 0, buf + HS_TAG, buf, HS_TAG, zero_nonce, &k);
	auth_key_wipe(&k);
	/* A forged RESP leaves the INIT in flight as it was. */
	if (rc != 0) {
		rc = reject(w, WIRE_REJ_BAD_AUTH);
		goto out;
	}
	if (get64(buf + H_CLUSTER) != w->cluster_id) {
		rc = reject(w, WIRE_REJ_WRONG_CLUSTER);
		goto out;
	}
	session_wipe(&p->tx);
	p->tx.live = true;
	p->tx.id = get64(buf + HS_SESSION);
	p->tx.peer_inc = get64(buf + HS_INC);
	p->tx.since_us = now;
	memcpy(p->tx.key, key, AUTH_KEY_BYTES);
	memcpy(p->tx.peer_pk, p->hs_alt ? p->alt_pk : p->pk, AUTH_PK_BYTES);
	p->try_alt = p->hs_alt;
	p->hs_pending = false;
	p->hs_tries = 0;
	sodium_memzero(p->e_sk, sizeof(p->e_sk));
	sodium_memzero(p->es, sizeof(p->es));
	w->handshakes++;
	/* Confirm the session at the peer at once, with an empty datagram. */
	*reply_len = seal_empty(w, id, now, reply, reply_cap);
	rc = WIRE_HANDSHAKE;
out:
	sodium_memzero(ee, sizeof(ee));
	sodium_memzero(se, sizeof(se));
	sodium_memzero(key, sizeof(key));
	return rc;
}

int wire_receive(struct wire *w, uint8_t *buf, size_t len, uint64_t now_us,
		 struct wire_hdr *hdr_out, struct wire_iter *it, uint8_t *reply, size_t reply_cap,
		 size_t *reply_len)
{
	struct wire_session *s;
	struct wire_peer *peer;
	struct wire_hdr h;
	struct auth_key k;
	uint8_t *tag;
	size_t body_len;
	uint32_t sender;
	uint8_t type;
	int rc;

	*reply_len = 0;
	if (len < WIRE_MIN_DGRAM)
		return reject(w, WIRE_REJ_TRUNCATED);
	type = buf[H_TYPE];
	if (len > WIRE_MAX_DGRAM || memcmp(buf + H_MAGIC, WIRE_MAGIC, 4) != 0 ||
	    buf[H_VERSION] != WIRE_VERSION || buf[H_RESERVED] != 0 ||
	    (type == WIRE_T_DATA ? (buf[H_FLAGS] & ~WIRE_F_ENCRYPTED) != 0
				 : (type != WIRE_T_INIT && type != WIRE_T_RESP) ||
				       buf[H_FLAGS] != 0 || len != WIRE_HS_BYTES))
		return reject(w, WIRE_REJ_MALFORMED);

	/* Before the tag, only what chooses the key is read. */
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.receiver = get32(buf + H_RECEIVER);
	sender = get32(buf + H_SENDER);
	if (h.receiver != w->self)
		return reject(w, WIRE_REJ_WRONG_RECEIVER);
	if (!peer_ok(w, sender))
		return reject(w, WIRE_REJ_UNKNOWN_SENDER);
	peer = &w->peers[sender];
	h.sender = sender;
	h.cluster_id = get64(buf + H_CLUSTER);

	if (type == WIRE_T_INIT) {
		if (reply_cap < WIRE_HS_BYTES)
			return -EINVAL; /* the caller's mistake: no room to answer */
		init_key(&k, peer->ss_in, buf);
		rc = auth_open(NULL, NULL, 0, buf + HS_TAG, buf, HS_TAG, zero_nonce, &k);
		auth_key_wipe(&k);
		/* During a rotation the peer may hold either key. */
		bool alt = false;
		if (rc != 0 && peer->has_alt) {
			init_key(&k, peer->alt_ss_in, buf);
			rc = auth_open(NULL, NULL, 0, buf + HS_TAG, buf, HS_TAG, zero_nonce, &k);
			auth_key_wipe(&k);
			alt = rc == 0;
		}
		if (rc != 0)
			return reject(w, WIRE_REJ_BAD_AUTH);
		if (h.cluster_id != w->cluster_id)
			return reject(w, WIRE_REJ_WRONG_CLUSTER);
		rc = on_init(w, peer, alt, buf, now_us, reply, reply_len);
		if (rc == WIRE_HANDSHAKE)
			*hdr_out = h;
		return rc;
	}
	if (type == WIRE_T_RESP) {
		if (!peer->hs_pending || get64(buf + HS_ID) != peer->hs_id ||
		    now_us - peer->hs_sent_us > WIRE_HS_MAX_RTT_US)
			return reject(w, WIRE_REJ_NO_SESSION);
		rc = on_resp(w, peer, sender, buf, now_us, reply, reply_cap, reply_len);
		if (rc == WIRE_HANDSHAKE)
			*hdr_out = h;
		return rc;
	}

	h.flags = buf[H_FLAGS];
	h.session = get64(buf + H_SESSION);
	h.seq = get64(buf + H_SEQ);
	h.stamp = get64(buf + H_STAMP);
	h.echo = get64(buf + H_ECHO);
	h.count = get16(buf + H_COUNT);
	if (peer->rx.live && peer->rx.id == h.session)
		s = &peer->rx;
	else if (peer->rx_next.live && peer->rx_next.id == h.session)
		s = &peer->rx_next;
	else if (peer->rx_prev.live && peer->rx_prev.id == h.session &&
		 now_us < peer->rx_prev_until)
		s = &peer->rx_prev; /* sent before a rekey, still in flight */
	else {
		/*
		 * Under a session we do not hold: most often the peer's, agreed
		 * with our predecessor before we restarted, so the peer does not
		 * know we did. While our INIT to it goes unanswered (backing
		 * off up to a second, as when the peer was cut off), the next
		 * one goes now: the peer is heard again a round trip after a
		 * heal, not up to a second later (docs/design.md §7). At most
		 * one per WIRE_HS_RETRY_US, whoever sends these.
		 */
		if (peer->hs_pending && now_us - peer->hs_sent_us >= WIRE_HS_RETRY_US &&
		    peer->hs_next_us > now_us)
			peer->hs_next_us = now_us;
		return reject(w, WIRE_REJ_NO_SESSION);
	}

	tag = buf + len - WIRE_TAG_BYTES;
	body_len = len - WIRE_TAG_BYTES - WIRE_HDR_BYTES;
	memcpy(k.k, s->key, AUTH_KEY_BYTES);
	if (h.flags & WIRE_F_ENCRYPTED)
		rc = auth_open(buf + WIRE_HDR_BYTES, buf + WIRE_HDR_BYTES, body_len, tag, buf,
			       WIRE_HDR_BYTES, buf + H_NONCE, &k);
	else
		rc = auth_open(NULL, NULL, 0, tag, buf, len - WIRE_TAG_BYTES, buf + H_NONCE, &k);
	auth_key_wipe(&k);
	if (rc != 0)
		return reject(w, WIRE_REJ_BAD_AUTH);
	if (h.cluster_id != w->cluster_id)
		return reject(w, WIRE_REJ_WRONG_CLUSTER);
	keep_stamp(peer, s->peer_inc, h.stamp);
	if (too_old(w, s, h.echo, now_us)) {
		stamp_reply(w, sender, now_us, reply, reply_cap, reply_len);
		*hdr_out = h; /* names whom the reply is for */
		return reject(w, WIRE_REJ_TOO_OLD);
	}
	if (window_rejects(s, h.seq))
		return reject(w, WIRE_REJ_REPLAY);
	if (wire_decode_body(buf + WIRE_HDR_BYTES, body_len, h.count, it) != 0)
		return reject(w, WIRE_REJ_MALFORMED);

	/* Accepted: only now does the peer's state move. */
	if (s == &peer->rx_next) {
		/*
		 * Confirmed: the answered session becomes the current one. The
		 * one before it is gone with its key — unless this is a rekey
		 * (the same incarnation): then what it sent before the switch
		 * may still be in flight, and it opens those for the delay
		 * bound. A datagram is sealed under one session only, and each
		 * session keeps its own window, so none is taken twice.
		 */
		session_wipe(&peer->rx_prev);
		if (peer->rx.live && peer->rx.peer_inc == peer->rx_next.peer_inc) {
			peer->rx_prev = peer->rx;
			peer->rx_prev_until = now_us + w->max_age_us;
		}
		session_wipe(&peer->rx);
		peer->rx = peer->rx_next;
		session_wipe(&peer->rx_next);
		s = &peer->rx;
		w->handshakes++;
		if (s->peer_inc > peer->incarnation)
			peer->incarnation = s->peer_inc;
		/* A peer that restarted has no session for what we send it. */
		if (s->peer_inc > peer->hs_want_inc)
			peer->hs_want_inc = s->peer_inc;
	}
	window_mark(s, h.seq);
	peer->heard = true;
	peer->heard_us = now_us;
	w->accepted++;
	h.incarnation = s->peer_inc;
	*hdr_out = h;
	return WIRE_OK;
}
