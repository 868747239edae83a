/* SPDX-License-Identifier: MIT */
/*
 * msg.h — protocol messages exchanged between daemons.
 *
 * This is the seam between the pure protocol core (membership, paxos, store)
 * and the wire codec (wire.c). The core produces and consumes struct pkv_msg;
 * wire.c turns a batch of them into one authenticated datagram and back.
 *
 * Byte strings (bucket, key, value) are borrowed: a decoded message points
 * into the receive buffer, and is valid only for the duration of the call
 * that hands it to the core. The core copies what it keeps.
 *
 * Field use per type (fields not listed are zero and ignored):
 *
 *  type            fields
 *  HEARTBEAT       arg0 = sender's cluster_size, arg1 = sender's epoch,
 *                  arg2 = sender's send time (µs, its own clock),
 *                  req  = echo of the last arg2 heard from the receiver
 *                         (0 if none), gen = µs the echo was held;
 *                  flags: PKV_MF_SYNCED when the sender's acceptor is synced
 *                  (caught up in its configuration),
 *                  PKV_MF_FRESH when the sender never ran before (first boot
 *                  of its run dir) and holds no acceptor state,
 *                  PKV_MF_ERASE_OWED when the receiver has not acknowledged
 *                  an erasure the sender spreads (docs/design.md §5.1);
 *                  value = the sender's configuration, pkv_conf_encode()
 *                  (configuration number, voters, voters of the one before),
 *                  accepted.round = the sender's wall clock in ms (0: none)
 *  PREPARE         bucket, key, gen, ballot, req (proposer's round id)
 *  PROMISE         bucket, key, gen, ballot (the prepare's), req,
 *                  flags: PKV_MF_OK (promise given) or not (nack; accepted =
 *                  the higher promise seen; arg0 != 0: refused below the
 *                  bucket's floor arg0, docs/design.md §4.6),
 *                  PKV_MF_HAS_VALUE with accepted = ballot of accepted
 *                  value, value = that value
 *  ACCEPT          bucket, key, gen, ballot, value, req
 *  ACCEPTED        bucket, key, gen, ballot, req,
 *                  flags: PKV_MF_OK or nack (accepted = the promise seen;
 *                  arg0 != 0: refused below the floor arg0, as PROMISE)
 *  CHOSEN          bucket, key, gen, ballot, value (learner broadcast; the
 *                  receiver learns it only as evidence it can check,
 *                  docs/design.md §3.5, else it reads the key)
 *  QUERY           bucket, key, req, arg1 = the asker's configuration
 *                  (get: what has the acceptor accepted?); gen != 0: a
 *                  floor put's read, which fences at floor gen (§4.6)
 *  QUERY_REPLY     bucket, key, gen, req, accepted, value, arg1 = the
 *                  answering acceptor's configuration,
 *                  flags: PKV_MF_HAS_VALUE, PKV_MF_CHOSEN (learner knows it:
 *                  then accepted = the chosen ballot, value = chosen value)
 *  KEYS_REQ        bucket, req, arg0 = page size (the receiver caps it),
 *                  arg1 = cursor (bucket entry index; 0: from the start)
 *  KEYS_REPLY      bucket, key, req, arg1 = the request's cursor; one page,
 *                  flags: PKV_MF_LAST on the page's final one, which has
 *                  arg2 = keys in the page, arg0 = next cursor (0: the
 *                  bucket ended); a PKV_MF_LAST reply with an empty key
 *                  carries no key
 *  SYNC_REQ        req, arg0 = cursor (opaque to the requester),
 *                  arg1 = the requester's configuration, arg2 = 1 for a
 *                  catch-up after a change (docs/design.md §5), 0 for a
 *                  restart
 *  SYNC_REPLY      bucket, key, gen, req, ballot = promised, accepted, value,
 *                  flags: PKV_MF_HAS_VALUE, PKV_MF_CHOSEN (with no
 *                  HAS_VALUE: a learner-only record), PKV_MF_LAST;
 *                  arg0 = entry index + 1 (the next cursor), arg1 = 1 on
 *                  a learner-only record that follows the acceptor's
 *                  record of the same index (it does not complete the
 *                  index). Past the end of
 *                  the store: one record with no key, PKV_MF_LAST, arg0 =
 *                  the cursor asked for
 *  FORWARD         bucket, key, value, req (put forwarded to primary),
 *                  arg0 = remaining time budget in µs
 *  FORWARD_REPLY   bucket, key (checked by the origin against its
 *                  request), req, arg0 = status (enum pkv_status), gen, value
 *  RESIZE          req, arg0 = new cluster_size, arg1 = the size the sender
 *                  had before (resize_cluster, handled by the loop)
 *  RESIZE_ACK      req, arg0 = the size the receiver now has, arg1 = the size
 *                  it had before
 *  ERASE           bucket, key, gen: every generation <= gen of the key has
 *                  ended (a lifetime ended); retransmitted until acknowledged
 *  ERASE_ACK       bucket, key, gen (the ERASE's)
 *  DROP            bucket = PKV_DROP_BUCKET, key = the drop's key there,
 *                  req: apply the bucket drop whose record the voters chose
 *                  under that key (docs/design.md §4.4); the receiver acts
 *                  only on the chosen record, never on the DROP alone;
 *                  retransmitted until acknowledged
 *  DROP_ACK        bucket, key, req (the DROP's): the receiver applied it
 *                  and every connected node acknowledged the ERASE of each
 *                  key it ended
 *  INFO_REQ        bucket, key, req: key inspection, read-only (paxos-info.c)
 *  INFO_REPLY      bucket, key, req, gen, arg0 = acceptor or learner record,
 *                  ballot, accepted, value, flags (paxos-info.c)
 *
 * Bindings travel with the value. A message whose value is bound (PROMISE,
 * ACCEPT, CHOSEN, QUERY_REPLY, SYNC_REPLY, FORWARD, FORWARD_REPLY) sets
 * PKV_MF_BOUND, and its value field then holds pkv_bound_encode(value,
 * bindings) instead of the bare value; without the flag the value is bare
 * and unbound. What Paxos agrees on is the pair (value, bindings).
 *
 * A core module may add types below PKV_MSG__COUNT; wire.c encodes every
 * message with the same layout, so new types need no codec change.
 */
#ifndef PKV_MSG_H
#define PKV_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkv-ctl.h" /* PKV_MAX_BUCKET, _KEY, _VALUE; enum pkv_status */

#define PKV_MAX_NODES 64u
#define PKV_DEFAULT_BUCKET "PaxosKV"

struct pkv_bytes {
	const uint8_t *p;
	uint32_t len;
};

/*
 * Ballots are totally ordered by (round, node) and unique per node. The top
 * bits of the round are the configuration the ballot belongs to
 * (docs/design.md §5), so ballots are ordered by configuration first.
 */
struct pkv_ballot {
	uint64_t round;
	uint32_t node;
};

#define PKV_CONF_SHIFT 40u

static inline uint64_t pkv_ballot_conf(struct pkv_ballot b)
{
	return b.round >> PKV_CONF_SHIFT;
}

/* Rounds of configuration c are [c << PKV_CONF_SHIFT, (c + 1) << PKV_CONF_SHIFT). */
static inline uint64_t pkv_conf_base(uint64_t conf)
{
	return conf << PKV_CONF_SHIFT;
}

/*
 * A configuration as heartbeats carry it and as the reserved bucket's values
 * hold it: number, voters, voters of the configuration before (bit id-1
 * each), 8 bytes little-endian each.
 */
#define PKV_CONF_BYTES 24u
#define PKV_CONF_BUCKET "\0conf" /* reserved: no client names a bucket starting with NUL */
#define PKV_CONF_BUCKET_LEN 5u

/*
 * Bucket drops (docs/design.md §4.4): a drop of bucket B is the value chosen
 * for a fresh key of this reserved bucket; the value names B
 * (pkv_drop_encode). Daemons erase B's keys only for a chosen record.
 */
#define PKV_DROP_BUCKET "\0drop"
#define PKV_DROP_BUCKET_LEN 5u
#define PKV_DROP_MAGIC 0xd7u

struct pkv_conf {
	uint64_t num, voters, prev_voters;
};

static inline void pkv_put_u64le(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t pkv_get_u64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void pkv_conf_encode(uint8_t out[PKV_CONF_BYTES], const struct pkv_conf *c)
{
	pkv_put_u64le(out, c->num);
	pkv_put_u64le(out + 8, c->voters);
	pkv_put_u64le(out + 16, c->prev_voters);
}

/* False when the bytes are not a configuration. */
static inline bool pkv_conf_decode(const uint8_t *p, size_t len, struct pkv_conf *c)
{
	if (len != PKV_CONF_BYTES || !p)
		return false;
	c->num = pkv_get_u64le(p);
	c->voters = pkv_get_u64le(p + 8);
	c->prev_voters = pkv_get_u64le(p + 16);
	return c->voters != 0;
}

/*
 * A drop record: magic, the proposer's node id, then the dropped bucket's
 * name. Returns the length written (out holds 2 + PKV_MAX_BUCKET).
 */
static inline uint32_t pkv_drop_encode(uint8_t *out, uint32_t node, const uint8_t *bucket,
				       uint32_t len)
{
	out[0] = PKV_DROP_MAGIC;
	out[1] = (uint8_t)node;
	for (uint32_t i = 0; i < len; i++)
		out[2 + i] = bucket[i];
	return 2 + len;
}

/* The bucket a drop record names; false when the bytes are not one. */
static inline bool pkv_drop_decode(const uint8_t *p, uint32_t len, const uint8_t **bucket,
				   uint32_t *blen)
{
	if (!p || len < 3 || len > 2 + PKV_MAX_BUCKET || p[0] != PKV_DROP_MAGIC || p[2] == 0)
		return false;
	*bucket = p + 2;
	*blen = len - 2;
	return true;
}

/* A bucket name reserved for the daemons (first byte NUL). */
static inline bool pkv_bucket_reserved(const uint8_t *name, size_t len)
{
	return len >= 1 && name && name[0] == 0;
}

static inline int pkv_ballot_cmp(struct pkv_ballot a, struct pkv_ballot b)
{
	if (a.round != b.round)
		return a.round < b.round ? -1 : 1;
	if (a.node != b.node)
		return a.node < b.node ? -1 : 1;
	return 0;
}

/*
 * The voters (docs/design.md §5): the cluster_size lowest node ids of the
 * configured set (bit id-1 each), one rule for membership and paxos.
 */
static inline uint64_t pkv_voters(uint64_t configured, uint32_t cluster_size)
{
	uint64_t v = 0;
	for (uint32_t n = 0; configured && n < cluster_size; n++) {
		uint64_t low = configured & (~configured + 1);
		v |= low;
		configured &= ~low;
	}
	return v;
}

static inline bool pkv_ballot_is_zero(struct pkv_ballot b)
{
	return b.round == 0 && b.node == 0;
}

enum pkv_msg_type {
	PKV_MSG_HEARTBEAT = 1,
	PKV_MSG_PREPARE,
	PKV_MSG_PROMISE,
	PKV_MSG_ACCEPT,
	PKV_MSG_ACCEPTED,
	PKV_MSG_CHOSEN,
	PKV_MSG_QUERY,
	PKV_MSG_QUERY_REPLY,
	PKV_MSG_KEYS_REQ,
	PKV_MSG_KEYS_REPLY,
	PKV_MSG_SYNC_REQ,
	PKV_MSG_SYNC_REPLY,
	PKV_MSG_FORWARD,
	PKV_MSG_FORWARD_REPLY,
	PKV_MSG_RESIZE,
	PKV_MSG_RESIZE_ACK,
	PKV_MSG_ERASE,
	PKV_MSG_ERASE_ACK,
	PKV_MSG_DROP,
	PKV_MSG_DROP_ACK,
	PKV_MSG_INFO_REQ,
	PKV_MSG_INFO_REPLY,
	PKV_MSG__COUNT
};

enum pkv_msg_flag {
	PKV_MF_OK = 1u << 0,
	PKV_MF_HAS_VALUE = 1u << 1,
	PKV_MF_LAST = 1u << 2,
	PKV_MF_SYNCED = 1u << 3,
	PKV_MF_CHOSEN = 1u << 4,
	PKV_MF_FRESH = 1u << 5,
	PKV_MF_BOUND = 1u << 6,	     /* value = pkv_bound_encode(value, bindings) */
	PKV_MF_ERASE_OWED = 1u << 7, /* heartbeat: you owe me an ERASE_ACK */
};

/*
 * Lifetime bindings of a value (docs/design.md §4.2). Any binding ending ends the
 * key's generation. `key` is borrowed or owned as the holder says.
 */
enum pkv_bind_flag {
	PKV_BIND_PID = 1u << 0,	  /* owner, owner_inc, pid, start_time */
	PKV_BIND_NODE = 1u << 1,  /* node */
	PKV_BIND_KEY = 1u << 2,	  /* key (same bucket), key_gen */
	PKV_BIND_UNTIL = 1u << 3, /* until */
	/* Input only (paxos_put_bound): the caller found the pid dead. Never sent. */
	PKV_BIND_PID_DEAD = 1u << 7,
};
#define PKV_BIND_ALL (PKV_BIND_PID | PKV_BIND_NODE | PKV_BIND_KEY | PKV_BIND_UNTIL)

struct pkv_bindings {
	uint32_t mask;	     /* enum pkv_bind_flag */
	uint32_t owner;	     /* pid: node id of the daemon that watches it */
	uint64_t owner_inc;  /* pid: that daemon's incarnation */
	int32_t pid;
	uint64_t start_time; /* pid: process start time, as the owner reads it */
	uint32_t node;	     /* node: a configured node id */
	struct pkv_bytes key; /* key: another key of the same bucket */
	uint64_t key_gen;    /* key: the generation of `key` it lives with */
	uint64_t until;	     /* until: wall-clock ms since the epoch */
};

/* Fixed part of an encoded binding set; the dependency key follows it. */
#define PKV_BOUND_FIXED 48u

/* Bytes pkv_bound_encode needs for value + bindings. */
size_t pkv_bound_size(struct pkv_bytes value, const struct pkv_bindings *b);
/* Encodes into buf (cap bytes). Returns the length, or 0 when cap is short. */
size_t pkv_bound_encode(uint8_t *buf, size_t cap, struct pkv_bytes value,
			const struct pkv_bindings *b);
/*
 * Splits an encoded blob: value and b->key point into it. Returns 0, or
 * -EINVAL when malformed (unknown version, lengths past the end).
 */
int pkv_bound_decode(struct pkv_bytes blob, struct pkv_bytes *value, struct pkv_bindings *b);
/* Same bindings (mask and every field the mask uses). */
bool pkv_bindings_eq(const struct pkv_bindings *a, const struct pkv_bindings *b);

struct pkv_msg {
	uint8_t type;  /* enum pkv_msg_type */
	uint8_t flags; /* enum pkv_msg_flag */
	uint64_t req;
	uint64_t gen;
	struct pkv_ballot ballot;
	struct pkv_ballot accepted;
	uint64_t arg0, arg1, arg2;
	struct pkv_bytes bucket, key, value;
};

const char *pkv_msg_type_to_str(unsigned type);

/*
 * The outbox: what a core module wants sent. Times in the core are
 * microseconds of a monotonic clock, passed in by the caller.
 *
 * pkv_outbox_push copies the message's byte strings into the outbox's own
 * arena, so the caller's buffers may change right after. Entries stay valid
 * until pkv_outbox_reset. The loop drains the outbox once per turn, after
 * every input of that turn has been handled (one flush per loop turn).
 */
#define PKV_TO_ALL 0u /* every configured node except the sender */

struct pkv_out {
	uint32_t to; /* node id, or PKV_TO_ALL */
	struct pkv_msg msg;
};

struct pkv_arena_chunk;

struct pkv_outbox {
	struct pkv_out *v;
	size_t n, cap;
	struct pkv_arena_chunk *chunks; /* newest first */
};

void pkv_outbox_init(struct pkv_outbox *ob);
/* Returns 0, or -ENOMEM (nothing queued). */
int pkv_outbox_push(struct pkv_outbox *ob, uint32_t to, const struct pkv_msg *m);
/* Forgets every entry; keeps one chunk of memory for reuse. */
void pkv_outbox_reset(struct pkv_outbox *ob);
void pkv_outbox_free(struct pkv_outbox *ob);

#endif
