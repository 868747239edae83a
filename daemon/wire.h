/* SPDX-License-Identifier: MIT */
/*
 * wire.h — the datagram format and the receive pipeline.
 *
 * Pure: no sockets, no clock reads, no allocation. The loop hands in a
 * buffer and gets messages (struct pkv_msg) out, or a reject reason.
 *
 * Datagram (all integers little-endian, packed by hand):
 *
 *   off  size  header
 *     0     4  magic "PKV1"
 *     4     1  version (WIRE_VERSION)
 *     5     1  flags: bit 0 = messages encrypted; other bits must be 0
 *     6     2  reserved, must be 0
 *     8     8  cluster id (auth_cluster_id of the cluster's name)
 *    16     4  sender node id         ┐
 *    20     4  salt                   │ these 24 bytes are the AEAD nonce,
 *    24     8  sender incarnation     │ see auth.h
 *    32     8  sequence number        ┘
 *    40     2  message count
 *    42        messages, back to back
 *   end-16 16  authentication tag
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

#define WIRE_MAGIC	 "PKV1"
#define WIRE_VERSION	 1u
#define WIRE_F_ENCRYPTED 0x01u

#define WIRE_HDR_BYTES	     42u
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
/* Sequence numbers remembered per sender, below the highest one seen. */
#define WIRE_REPLAY_WINDOW 1024u
/*
 * The delay bound (docs/design.md §7): a datagram older than this is
 * dropped. Proven old by sequence: a sequence at or below the highest one
 * accepted from the sender max_age_us ago was sent before that one arrived.
 * The receiver keeps WIRE_AGE_MARKS marks (time, highest sequence), one per
 * max_age_us / WIRE_AGE_STEPS, so a datagram is dropped once it is older
 * than max_age_us plus one step plus the gap to the sender's next datagram.
 */
#define WIRE_MAX_AGE_US 1000000u
#define WIRE_AGE_STEPS	4u
#define WIRE_AGE_MARKS	(WIRE_AGE_STEPS + 2u)

struct wire_hdr {
	uint8_t version;
	uint8_t flags; /* WIRE_F_*; set by wire_finish, ignored by wire_begin */
	uint64_t cluster_id;
	uint32_t sender;
	uint32_t salt;
	uint64_t incarnation;
	uint64_t seq;
	uint16_t count; /* set by the builder, ignored by wire_begin */
};

/*
 * Building a datagram:
 *	wire_begin(&b, buf, sizeof(buf), &hdr);
 *	while (more && wire_add(&b, &m) == 0) ...
 *	len = wire_finish(&b, &key, encrypt);
 * The buffer holds a valid datagram after every call; wire_finish seals it.
 */
struct wire_builder {
	uint8_t *buf;
	size_t cap; /* min(buffer size, WIRE_MAX_DGRAM) */
	size_t len; /* header + messages so far (no tag yet) */
	uint16_t count;
	bool finished;
};

/*
 * Starts a datagram in buf (cap bytes; only min(cap, WIRE_MAX_DGRAM) are
 * used). Returns 0, or -EINVAL if cap < WIRE_MIN_DGRAM.
 */
int wire_begin(struct wire_builder *b, uint8_t *buf, size_t cap, const struct wire_hdr *h);

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
 * Seals the datagram with key k, encrypting the messages when encrypt is
 * set, and returns its length (≤ WIRE_MAX_DGRAM), or -EINVAL if the builder
 * was already finished.
 */
int wire_finish(struct wire_builder *b, const struct auth_key *k, bool encrypt);

/* Reasons to drop a received datagram; each is counted in wire_rx.rejects. */
enum wire_reject {
	WIRE_REJ_TRUNCATED,
	WIRE_REJ_MALFORMED,
	WIRE_REJ_BAD_AUTH,
	WIRE_REJ_WRONG_CLUSTER,
	WIRE_REJ_UNKNOWN_SENDER,
	WIRE_REJ_OLD_INCARNATION,
	WIRE_REJ_REPLAY,
	WIRE_REJ_TOO_OLD,
	WIRE_REJ__COUNT
};

const char *wire_reject_to_str(enum wire_reject r);

/* What the receiver remembers of one sender. */
struct wire_peer {
	bool known;	      /* configured: datagrams from it are expected */
	bool active;	      /* a datagram of `incarnation` was accepted */
	uint64_t incarnation; /* the newest incarnation accepted */
	uint64_t top;	      /* the highest sequence accepted in it */
	/* bit (s % WIRE_REPLAY_WINDOW) set: sequence s in (top - WINDOW, top] seen */
	uint64_t seen[WIRE_REPLAY_WINDOW / 64];
	/* The delay bound: `top` as it was at `at` (µs), newest at marks[newest]. */
	struct {
		uint64_t at, top;
	} marks[WIRE_AGE_MARKS];
	unsigned n_marks, newest;
};

struct wire_rx {
	uint64_t cluster_id;
	uint32_t self;
	uint64_t max_age_us; /* the delay bound; WIRE_MAX_AGE_US after wire_rx_init */
	struct wire_peer peers[PKV_MAX_NODES + 1]; /* indexed by node id; [0] unused */
	uint64_t accepted;
	uint64_t rejects[WIRE_REJ__COUNT];
};

/* Messages of an accepted datagram, decoded on demand by wire_next. */
struct wire_iter {
	const uint8_t *p, *end;
	unsigned left;
};

void wire_rx_init(struct wire_rx *rx, uint64_t cluster_id, uint32_t self);

/*
 * Expects datagrams from node id (1..PKV_MAX_NODES, not self). Returns 0 or
 * -EINVAL. Adding a known peer again keeps its state.
 */
int wire_rx_add_peer(struct wire_rx *rx, uint32_t id);

/* Forgets a peer and its replay state; its datagrams become unknown_sender. */
void wire_rx_remove_peer(struct wire_rx *rx, uint32_t id);

/*
 * Checks one received datagram, in this order (the first failure wins):
 *   len < WIRE_MIN_DGRAM                               → truncated
 *   len > WIRE_MAX_DGRAM, bad magic, version, header
 *   flags or reserved bytes                            → malformed
 *   tag does not verify under k                        → bad_auth
 *   cluster id is not rx->cluster_id                   → wrong_cluster
 *   sender not a known peer, or is self                → unknown_sender
 *   incarnation below the sender's newest accepted     → old_incarnation
 *   same incarnation, sequence at or below the highest
 *   one accepted from the sender max_age_us before now  → too_old
 *   same incarnation, sequence seen or below window    → replay
 *   a message does not decode, count mismatch, or
 *   bytes left over after the last message             → malformed
 * Only the magic, version, flags and reserved bytes are read before the tag
 * is verified. Encrypted messages are decrypted in place (buf is modified,
 * also when the tag fails). A datagram of zero messages is valid.
 *
 * Returns WIRE_OK (0) when the datagram is accepted: *hdr_out holds its header, *it
 * yields its messages (pointing into buf), the sender's newest incarnation is
 * updated (a higher one starts a fresh replay window and delay marks) and
 * the sequence is marked seen. now_us is the receiver's monotonic clock; it
 * must not go backwards between calls. Otherwise returns WIRE_RC(reason) = reason + 1, counts it in
 * rx->rejects[reason], and changes nothing else in rx; *hdr_out and *it are
 * then unspecified.
 */
#define WIRE_OK		   0
#define WIRE_RC(reason)	   ((int)(reason) + 1)
#define WIRE_RC_REJECT(rc) ((enum wire_reject)((rc)-1))
__attribute__((warn_unused_result)) int wire_receive(struct wire_rx *rx, const struct auth_key *k,
						     uint8_t *buf, size_t len, uint64_t now_us,
						     struct wire_hdr *hdr_out,
						     struct wire_iter *it);

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
