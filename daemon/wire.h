/* SPDX-License-Identifier: MIT */
/*
 * wire.h — the datagram format, the session handshake and the receive
 * pipeline.
 *
 * Pure: no sockets, no clock reads, no allocation (the caller owns struct
 * wire; the daemon keeps it in locked, non-dumpable memory since it holds
 * the node's secret key and the session keys). Randomness comes from
 * auth.h. The loop hands in a buffer and gets messages (struct pkv_msg)
 * out, a handshake datagram to send back, or a reject reason.
 *
 * Sessions (docs/design.md §7): each direction of each pair of daemons has
 * its own session, set up by a handshake the sender of that direction
 * starts (INIT) and the receiver answers (RESP), both with fresh ephemeral
 * keys; the session key is derived from four crypto_kx terms (ephemeral and
 * static keys of both ends, Noise KK's es, ss, ee, se) and both messages.
 * The receiver takes the session as current only when a data datagram
 * under it arrives (key confirmation), so a replayed INIT costs at most an
 * unconfirmed answer.
 *
 * Data datagram (all integers little-endian, packed by hand):
 *
 *   off  size  header
 *     0     4  magic "PKV2"
 *     4     1  version (WIRE_VERSION)
 *     5     1  type: WIRE_T_DATA
 *     6     1  flags: bit 0 = messages encrypted; other bits must be 0
 *     7     1  reserved, must be 0
 *     8     8  cluster id (auth_cluster_id of the cluster's name)
 *    16     4  sender node id
 *    20     4  receiver node id
 *    24     8  session id (chosen by the receiver in its RESP)
 *    32     8  sequence number (per session, from 1)  ┐ the AEAD nonce
 *    40    16  random bytes, new for every datagram   ┘
 *    56     8  stamp: the sender's monotonic clock (µs) at wire_begin
 *    64     8  echo: the newest stamp the sender had received from the
 *              receiver's incarnation the session is bound to (0: none)
 *    72     2  message count
 *    74        messages, back to back
 *   end-16 16  authentication tag (session key)
 *
 * INIT (sender → receiver, 96 bytes): the first 24 bytes as above with
 * type WIRE_T_INIT and flags 0, then
 *    24     8  handshake id (the initiator's, random)
 *    32     8  initiator's incarnation
 *    40     8  initiator's handshake counter (grows within an incarnation)
 *    48    32  initiator's ephemeral public key
 *    80    16  tag: AEAD over bytes 0..80, key from ss (static-static)
 * RESP (receiver → sender, 96 bytes): type WIRE_T_RESP, then
 *    24     8  handshake id (echoed)
 *    32     8  responder's incarnation
 *    40     8  session id
 *    48    32  responder's ephemeral public key
 *    80    16  tag: AEAD over bytes 0..80, key from es, ss, ee, se
 *
 *   message (one layout for every type, so new types need no codec change):
 *     0     1  type (1 .. PKV_MSG__COUNT-1)
 *     1     1  flags (enum pkv_msg_flag; passed through)
 *     2     1  bucket length (≤ PKV_MAX_BUCKET)
 *     3     1  reserved, must be 0
 *     4     2  key length (≤ PKV_MAX_KEY)
 *     6     4  value length (≤ PKV_MAX_VALUE + PKV_BOUND_FIXED + PKV_MAX_KEY:
 *                a value with its bindings)
 *    10     8  req
 *    18     8  gen
 *    26     8  ballot.round
 *    34     4  ballot.node
 *    38     8  accepted.round
 *    46     4  accepted.node
 *    50    24  arg0, arg1, arg2
 *    74        bucket, key, value bytes
 *
 * Authenticated-only datagrams: the tag covers bytes [0, end-16) as
 * associated data. Encrypted datagrams: the header is the associated data and
 * the messages are the ciphertext.
 */
#ifndef PKV_WIRE_H
#define PKV_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "msg.h"

#define WIRE_MAGIC	 "PKV2"
#define WIRE_VERSION	 3u
#define WIRE_F_ENCRYPTED 0x01u
#define WIRE_T_DATA	 1u
#define WIRE_T_INIT	 2u
#define WIRE_T_RESP	 3u

#define WIRE_HDR_BYTES	     74u
#define WIRE_HS_BYTES	     96u /* an INIT or a RESP */
#define WIRE_MSG_FIXED_BYTES 74u
#define WIRE_TAG_BYTES	     AUTH_TAG_BYTES
/* Fits one UDP datagram over IPv4/IPv6 (loopback MTU is 64 KiB). */
/*
 * A message's value field carries a client value, or a value with its
 * bindings (PKV_MF_BOUND: the fixed part and the dependency key in front);
 * the client-facing limit PKV_MAX_VALUE is enforced where values come in.
 */
#define WIRE_MAX_VALUE (PKV_MAX_VALUE + PKV_BOUND_FIXED + PKV_MAX_KEY)
#define WIRE_MAX_DGRAM 65000u
/* The smallest datagram: a header, no message, a tag. */
#define WIRE_MIN_DGRAM (WIRE_HDR_BYTES + WIRE_TAG_BYTES)
/* Sequence numbers remembered per session, below the highest one seen. */
#define WIRE_REPLAY_WINDOW 1024u
/*
 * The delay bound (docs/design.md §7): a datagram older than this is
 * dropped. Proven young by the echo, on the receiver's clock alone: a
 * datagram was sealed after its sender received the receiver's stamp it
 * echoes, so after that stamp; and after the receiver answered the
 * session's handshake. It is accepted only when the later of the two is
 * at most max_age_us before now, so also the last datagrams of a sender
 * that died are aged. A receiver that drops a datagram for a stale echo
 * answers with an empty datagram of its own (its stamp), at most once per
 * WIRE_STAMP_GAP_US to a peer, so a sender that hears little from it
 * learns a fresh stamp.
 */
#define WIRE_MAX_AGE_US	  1000000u
#define WIRE_STAMP_GAP_US (WIRE_MAX_AGE_US / 8)
/*
 * And a peer that talks to us (heard within WIRE_STAMP_LISTEN_US) gets an
 * empty datagram, our stamp, whenever we sent it nothing for
 * WIRE_STAMP_EVERY_US (wire_stamp_due), so its echo stays young however
 * rare the heartbeats are.
 */
#define WIRE_STAMP_EVERY_US  (WIRE_MAX_AGE_US / 4)
#define WIRE_STAMP_LISTEN_US (4 * WIRE_MAX_AGE_US)
/*
 * Handshake timing: an INIT unanswered after WIRE_HS_RETRY_US << tries is
 * sent again with a new ephemeral key, the gap doubling up to
 * WIRE_HS_RETRY_MAX_US (so at most one INIT a second to a peer that is
 * down); a RESP later than WIRE_HS_MAX_RTT_US after its INIT is dropped.
 * An answered INIT is kept until the peer's next INIT replaces it, however
 * long its confirmation takes: only the peer can confirm it, and the peer
 * may already be sending under it (its confirmation lost, or held up by a
 * partition); forgetting it would leave the peer sending into a void.
 */
/*
 * Rekeying (docs/design.md §7, "Rekeying"): a sending session is replaced by
 * a new handshake once it has sealed WIRE_REKEY_DGRAMS datagrams or is
 * WIRE_REKEY_US old, whichever comes first; it keeps sending until the new
 * one is answered. The receiver still opens the session before a rekey for
 * the delay bound after the new one is confirmed (rx_prev), so datagrams in
 * flight across the switch are neither lost nor taken twice.
 */
#define WIRE_REKEY_DGRAMS (1ull << 20)
#define WIRE_REKEY_US	  (120ull * 1000000u)
#define WIRE_HS_RETRY_US     100000u
#define WIRE_HS_RETRY_MAX_US 1000000u
#define WIRE_HS_MAX_RTT_US   1000000u

struct wire_hdr {
	uint8_t type;  /* WIRE_T_* */
	uint8_t flags; /* WIRE_F_* */
	uint64_t cluster_id;
	uint32_t sender;
	uint32_t receiver;
	uint64_t session;     /* data: the session id */
	uint64_t seq;	      /* data: the sequence number */
	uint64_t stamp, echo; /* data: the sender's clock, our stamp it echoes */
	uint64_t incarnation; /* data: the sender's incarnation the session is bound to */
	uint16_t count;
};

/* One direction's session: its key and, on the receiving side, its window. */
struct wire_session {
	bool live;
	uint64_t id;	      /* session id (the receiver's choice) */
	uint64_t peer_inc;    /* the other end's incarnation */
	uint8_t key[AUTH_KEY_BYTES];
	uint8_t peer_pk[AUTH_PK_BYTES]; /* the peer's static key it was made with */
	uint64_t since_us;    /* set up (receiver: RESP sent; sender: RESP received) */
	uint64_t seq;	      /* sending: the last sequence used */
	uint64_t top;	      /* receiving: the highest sequence accepted */
	/* bit (s % WIRE_REPLAY_WINDOW) set: sequence s in (top - WINDOW, top] seen */
	uint64_t seen[WIRE_REPLAY_WINDOW / 64];
};

/* What one daemon keeps of one peer. */
struct wire_peer {
	bool known; /* configured: datagrams from it are expected */
	uint8_t pk[AUTH_PK_BYTES];
	/* The static-static term, computed once: as the initiator of the
	 * session we send on, and as the responder of the one we receive on. */
	uint8_t ss_out[AUTH_DH_BYTES], ss_in[AUTH_DH_BYTES];
	/*
	 * During a rotation of the peer's key (wire_set_peer_keys): its other
	 * public key, either of which it may hold, and the same terms for it.
	 * An INIT from it is tried under both; ours goes to the key it last
	 * used (try_alt), the two keys taken in turn while unanswered.
	 */
	bool has_alt, try_alt, hs_alt;
	uint8_t alt_pk[AUTH_PK_BYTES];
	uint8_t alt_ss_out[AUTH_DH_BYTES], alt_ss_in[AUTH_DH_BYTES];
	/* Sending to the peer: the session we started, and our INIT in flight. */
	struct wire_session tx;
	bool hs_pending;
	/* The peer's incarnation the session we send on must be bound to: a
	 * newer one has lost it, so a handshake is due. */
	uint64_t hs_want_inc;
	uint64_t hs_id, hs_sent_us, hs_next_us;
	unsigned hs_tries;
	uint8_t hs_init[WIRE_HS_BYTES]; /* the INIT sent, part of the key's input */
	uint8_t e_pk[AUTH_PK_BYTES], e_sk[AUTH_SK_BYTES];
	uint8_t es[AUTH_DH_BYTES];
	/* Receiving from the peer: the confirmed session and an answered INIT. */
	struct wire_session rx, rx_next;
	/* The session before a rekey of the same incarnation, open until rx_prev_until. */
	struct wire_session rx_prev;
	uint64_t rx_prev_until;
	uint64_t init_inc, init_ctr; /* the newest INIT answered */
	uint64_t incarnation;	     /* the peer's, from the newest confirmed session */
	/* The newest stamp of the peer's incarnation stamp_inc, echoed in what
	 * we send to that incarnation; when we last answered a stale echo. */
	uint64_t stamp_in, stamp_inc, stamp_sent_us;
	bool heard;	   /* a datagram of it was accepted, last at heard_us */
	uint64_t heard_us;
	uint64_t sent_us;  /* when a datagram to it was last begun */
};

/* Reasons to drop a received datagram; each is counted in wire.rejects. */
enum wire_reject {
	WIRE_REJ_TRUNCATED,
	WIRE_REJ_MALFORMED,
	WIRE_REJ_BAD_AUTH,
	WIRE_REJ_WRONG_CLUSTER,
	WIRE_REJ_UNKNOWN_SENDER,
	WIRE_REJ_OLD_INCARNATION,
	WIRE_REJ_REPLAY,
	WIRE_REJ_TOO_OLD,
	WIRE_REJ_WRONG_RECEIVER,
	WIRE_REJ_NO_SESSION,
	WIRE_REJ__COUNT
};

struct wire {
	uint64_t cluster_id;
	uint32_t self;
	uint64_t incarnation;
	uint64_t max_age_us; /* the delay bound; WIRE_MAX_AGE_US after wire_init */
	/* Rekey bounds; WIRE_REKEY_DGRAMS and WIRE_REKEY_US after wire_init. */
	uint64_t rekey_dgrams, rekey_us;
	uint64_t rekeys; /* handshakes started because a sending session reached a bound */
	uint8_t pk[AUTH_PK_BYTES], sk[AUTH_SK_BYTES];
	uint64_t hs_ctr; /* INITs sent in this incarnation */
	struct wire_peer peers[PKV_MAX_NODES + 1]; /* indexed by node id; [0] unused */
	uint64_t accepted;
	uint64_t handshakes; /* sessions set up, both directions */
	uint64_t rejects[WIRE_REJ__COUNT];
};

/*
 * Sets up w for node `self` of incarnation `incarnation` (> 0) with its key
 * pair from `seed`. Forgets every peer and session.
 */
void wire_init(struct wire *w, uint64_t cluster_id, uint32_t self, uint64_t incarnation,
	       const struct auth_key *seed);

/* Wipes the secret and session keys (sodium_memzero). */
void wire_wipe(struct wire *w);

/*
 * Expects datagrams from node id (1..PKV_MAX_NODES, not self), whose public
 * key is pk. Returns 0, or -EINVAL (bad id, or a public key no DH works
 * with). Adding a known peer again with the same key keeps its sessions.
 */
int wire_add_peer(struct wire *w, uint32_t id, const uint8_t pk[AUTH_PK_BYTES]);
/*
 * The peer's public keys, at start or on a reload of the configuration:
 * pk, and alt (NULL: none) while the peer's key is being rotated; a
 * handshake with either is accepted. A session (sending, receiving or
 * answered) made with a key no longer listed is wiped at once, so the old
 * key is refused from then on; the others live on. Returns the number of
 * sessions wiped, or -EINVAL (nothing changed) for an unusable key.
 */
int wire_set_peer_keys(struct wire *w, uint32_t id, const uint8_t pk[AUTH_PK_BYTES],
		       const uint8_t *alt);

/* Forgets a peer and its sessions; its datagrams become unknown_sender. */
void wire_remove_peer(struct wire *w, uint32_t id);

/* True when data can be sent to the peer (a session we started was answered). */
bool wire_can_send(const struct wire *w, uint32_t id);

/*
 * The handshake's clock: when an INIT to peer id is due (no session, a
 * retry, or a new one asked for), writes it to buf (cap ≥ WIRE_HS_BYTES)
 * and returns its length; 0 when none is due. *next_us is lowered to the
 * time the next one will be (left alone when none is planned).
 */
size_t wire_handshake_due(struct wire *w, uint32_t id, uint64_t now_us, uint8_t *buf, size_t cap,
			  uint64_t *next_us);

/*
 * The wire's own stamps: when peer id talks to us (a datagram of it
 * accepted within WIRE_STAMP_LISTEN_US) and we began none to it for
 * WIRE_STAMP_EVERY_US, writes an empty datagram to it in buf (cap ≥
 * WIRE_MIN_DGRAM) and returns its length; else 0. *next_us is lowered to
 * when the next one may be due (left alone when none is planned).
 */
size_t wire_stamp_due(struct wire *w, uint32_t id, uint64_t now_us, uint8_t *buf, size_t cap,
		      uint64_t *next_us);

/*
 * Building a data datagram to peer `to`:
 *	if (wire_begin(&b, w, to, buf, sizeof(buf), encrypt) == 0) {
 *		while (more && wire_add(&b, &m) == 0) ...
 *		len = wire_finish(&b);
 *	}
 * The buffer holds a valid datagram after every call; wire_finish seals it
 * under the session's key.
 */
struct wire_builder {
	uint8_t *buf;
	size_t cap; /* min(buffer size, WIRE_MAX_DGRAM) */
	size_t len; /* header + messages so far (no tag yet) */
	uint16_t count;
	bool finished;
	bool encrypt;
	const uint8_t *key; /* the session's */
};

/*
 * Starts a datagram to `to` in buf (cap bytes; only min(cap, WIRE_MAX_DGRAM)
 * are used), taking the session's next sequence number, stamped now_us
 * (the monotonic clock wire_receive is given). Returns 0; -ENOTCONN
 * when there is no session to `to` yet (wire_handshake_due sets one up);
 * -EINVAL if cap < WIRE_MIN_DGRAM or `to` is not a peer.
 */
int wire_begin(struct wire_builder *b, struct wire *w, uint32_t to, uint8_t *buf, size_t cap,
	       bool encrypt, uint64_t now_us);

/* Encoded size of m (fixed part plus its byte strings). */
size_t wire_msg_size(const struct pkv_msg *m);

/*
 * Appends m. Returns 0; -ENOSPC when it does not fit in what is left (the
 * datagram so far stays valid: send it and start another); -EINVAL when m
 * can never be sent (bad type, a length over its limit, NULL bytes with a
 * nonzero length) or the builder is finished.
 */
int wire_add(struct wire_builder *b, const struct pkv_msg *m);

/* Messages added so far. */
static inline unsigned wire_count(const struct wire_builder *b)
{
	return b->count;
}

/*
 * Seals the datagram, encrypting the messages when asked to at
 * wire_begin, and returns its length (≤ WIRE_MAX_DGRAM), or -EINVAL if the
 * builder was already finished.
 */
int wire_finish(struct wire_builder *b);

const char *wire_reject_to_str(enum wire_reject r);

/* Messages of an accepted datagram, decoded on demand by wire_next. */
struct wire_iter {
	const uint8_t *p, *end;
	unsigned left;
};

/*
 * Checks one received datagram. Only the format bytes (magic, version,
 * type, flags, reserved, length) and the fields that choose the key
 * (receiver, sender, session or handshake id) are read before the tag
 * verifies; the first failure wins:
 *   len < WIRE_MIN_DGRAM (a handshake: not WIRE_HS_BYTES) → truncated
 *   len > WIRE_MAX_DGRAM, bad magic, version, type,
 *   flags or reserved bytes                              → malformed
 *   receiver is not self                                 → wrong_receiver
 *   sender not a known peer, or is self                  → unknown_sender
 *   data: no current or answered session of that id;
 *   RESP: no INIT of that handshake id in flight          → no_session
 *   tag does not verify                                  → bad_auth
 *   cluster id is not w->cluster_id                      → wrong_cluster
 *   INIT: incarnation below the newest answered          → old_incarnation
 *   INIT: not newer than the newest answered             → replay
 *   data: the later of its echo (when not ahead of now)
 *   and the session's set-up is more than max_age_us
 *   before now                                           → too_old
 *   data: sequence seen or below the window              → replay
 *   data: a message does not decode, count mismatch, or
 *   bytes left over after the last message               → malformed
 * Encrypted messages are decrypted in place (buf is modified, also when the
 * tag fails). A datagram of zero messages is valid.
 *
 * reply must have room for WIRE_HS_BYTES (-EINVAL otherwise, for an INIT).
 *
 * Returns WIRE_OK (0) for an accepted data datagram: *hdr_out holds its
 * header (with the incarnation its session is bound to), *it yields its
 * messages (pointing into buf). A datagram under an answered session
 * confirms it: it becomes the peer's current session, the one before it is
 * wiped. Returns WIRE_HANDSHAKE for an accepted INIT or RESP: *hdr_out
 * names the sender, and when *reply_len > 0 the caller sends reply (the
 * RESP to an INIT; after a RESP, an empty data datagram that confirms the
 * new session at once) to the sender's configured address. Otherwise
 * returns WIRE_RC(reason) = reason + 1, counts it in w->rejects[reason], and
 * changes nothing else in w, but for a datagram whose tag verified: its
 * stamp is kept to echo, and when it was too_old *reply_len > 0 may ask the
 * caller to send reply (an empty datagram carrying our stamp) to the
 * sender *hdr_out names. now_us is the receiver's monotonic clock; it must not go
 * backwards between calls, and is the clock wire_begin stamps with.
 */
#define WIRE_OK		   0
#define WIRE_HANDSHAKE	   (-1)
#define WIRE_RC(reason)	   ((int)(reason) + 1)
#define WIRE_RC_REJECT(rc) ((enum wire_reject)((rc)-1))
__attribute__((warn_unused_result)) int wire_receive(struct wire *w, uint8_t *buf, size_t len,
						     uint64_t now_us, struct wire_hdr *hdr_out,
						     struct wire_iter *it, uint8_t *reply,
						     size_t reply_cap, size_t *reply_len);

/* Yields the next message (byte strings point into the buffer); false at the end. */
bool wire_next(struct wire_iter *it, struct pkv_msg *m);

/*
 * FOR TESTS AND FUZZING: decodes and validates the message area alone (the
 * bytes between header and tag), with no authentication. Returns 0 and sets
 * *it, or -EBADMSG if the area is not exactly count valid messages. The
 * daemon never calls it directly; wire_receive calls it once the tag verified.
 */
int wire_decode_body(const uint8_t *p, size_t len, unsigned count, struct wire_iter *it);

#endif
