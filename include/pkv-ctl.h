/* SPDX-License-Identifier: MIT */
/*
 * pkv-ctl.h — the control protocol on the daemon's UNIX socket.
 *
 * Shared by the daemon (daemon/control.c, daemon/shm.c), the client library
 * (libclient/) and the tools and tests that speak to a daemon directly.
 * Not installed, like pkv-shm.h: the protocol is private to one build of
 * PaxosKV. It stands alone (C99 or C++, only <stdint.h>) so that the library
 * needs nothing from daemon/.
 *
 * SOCK_SEQPACKET: one request per packet, answered by one or more reply
 * packets (CTL_RF_MORE on all but the last). One request at a time per
 * connection. Integers are host byte order: both ends are on one host.
 *
 * The socket is $RUN_DIR/<node>/CTL_SOCKET_NAME, or the config's `socket`
 * (a system daemon: PKV_SYSTEM_SOCKET), mode 0660 with the configured group;
 * the daemon checks SO_PEERCRED and SO_PEERGROUPS (same uid, root, or a
 * member of the configured group). A refused client gets one packet, a
 * struct ctl_rep with status -EACCES and the reason as its text, and the
 * connection closes.
 *
 * Attach (CTL_OP_ATTACH) is a struct ctl_req with no payload; its reply,
 * struct pkv_shm_attach_rep, is a struct ctl_rep followed by the segment's
 * description (include/pkv-shm.h, "Attach").
 */
#ifndef PKV_CTL_H
#define PKV_CTL_H

#include <stdint.h>

/* Limits of a request (the public ones, PKV_*_MAX in paxoskv.h, equal them). */
#define PKV_MAX_BUCKET 255u
#define PKV_MAX_KEY 1024u
#define PKV_MAX_VALUE 60000u

/*
 * Status codes shared by the daemon, the control path and the client library
 * (ctl_rep.status, and the ring's responses). 0 is success; our own
 * conditions live in a reserved range so that they never collide with -errno
 * values. The public enum pkv_code (paxoskv.h) has the same values.
 */
enum pkv_status {
	PKV_S_OK = 0,
	PKV_S_NOT_FOUND = 1000,
	PKV_S_NO_QUORUM,
	PKV_S_INVALID_VALUE,
	PKV_S_TOO_LARGE,
	PKV_S_TIMEOUT,
	PKV_S_UNAVAILABLE,
	PKV_S_BAD_REQUEST,
	PKV_S_NOT_IN_SYNC,
	PKV_S_NO_MEMORY,
	PKV_S_STALE,	 /* release: that generation of the key has already ended */
	PKV_S_NOT_OWNER, /* release: the key is not bound to the calling process */
};

#define CTL_MAGIC 0x504b5643u /* "PKVC" */
#define CTL_SOCKET_NAME "pkvd.sock"
/* Where clients look for the host's daemon when nothing names one
 * (libclient/attach.c); a build may move it with -DPKV_SYSTEM_SOCKET=… */
#ifndef PKV_SYSTEM_SOCKET
#define PKV_SYSTEM_SOCKET "/run/paxoskv/pkvd.sock"
#endif
#define CTL_MAX_PACKET (sizeof(struct ctl_req) + PKV_MAX_BUCKET + PKV_MAX_KEY + PKV_MAX_VALUE)

enum ctl_op {
	CTL_OP_CLUSTER = 1, /* text: "name: value" lines */
	/* 2..4: the numbers of the ring's put/get/keys (include/pkv-shm.h);
	 * data requests are served only through the shared-memory ring. */
	CTL_OP_ATTACH = 6, /* grant a ring slot (pkv-shm.h, "Attach") */
	/* Builds with -Dfault_injection=true only (else PKV_S_BAD_REQUEST):
	 * the value is a text spec, "drop=P dup=P reorder=P delay=MS skew=MS
	 * block=IDS block_in=IDS block_out=IDS" (P in percent; IDS are node
	 * ids "1,3"; block drops every datagram to and from those nodes,
	 * block_in/block_out one direction only, late_erase=IDS loses only the
	 * ERASE and QUERY_REPLY messages from those nodes; skew moves the wall clock the
	 * core sees). Each call replaces every fault; an empty spec clears
	 * them. Tests use it through pkv-fault. */
	CTL_OP_FAULT = 7,
	/* text: "name: value" lines for inspectors (pkv-top): the node's
	 * counters, then one `bucket:` line per bucket (see control.c). */
	CTL_OP_STATS = 8,
	/* Turns the connection into an event stream: the daemon sends one
	 * packet per quorum flip, status 0, gen = the quorum epoch, payload
	 * the event's name (CTL_EVENT_*, without the NUL). No reply to the
	 * request itself. */
	CTL_OP_SUBSCRIBE = 9,
	/* resize_cluster: timeout_ms carries the new cluster_size. Sets it on
	 * this node and every connected peer; status 0 (ok),
	 * PKV_S_NOT_IN_SYNC (the nodes had different sizes before; all have the
	 * new one now), PKV_S_TIMEOUT (a peer did not answer) or
	 * PKV_S_BAD_REQUEST (size out of range). */
	CTL_OP_RESIZE = 10,
	/* Drops the bucket named in the payload: status once every connected
	 * daemon applied it (PKV_S_NO_QUORUM, PKV_S_TIMEOUT otherwise). */
	CTL_OP_DROP = 11,
	/* Key watch (docs/design.md §8.3): bucket, then the key (key_len 0
	 * with CTL_WATCH_BUCKET: every key of the bucket), then the value: 8
	 * bytes, the generation the caller already knows (0: none). First
	 * reply: a struct ctl_rep, status 0 or the reason for a refusal (then
	 * the connection closes); with CTL_WATCH_QUEUE its payload is a
	 * struct ctl_watch_ticket (the waiter's place, docs/design.md §8.5).
	 * Then one packet per event, gen = the key's generation, payload a
	 * struct ctl_watch_event and its bytes. */
	CTL_OP_WATCH = 12,
	/* Release: bucket, key, value = 8 bytes of generation. Ends the key's
	 * lifetime when it is bound to the connection's process (SO_PEERCRED)
	 * by this daemon: status 0, PKV_S_STALE (that generation ended or is
	 * not chosen here), PKV_S_NOT_OWNER, PKV_S_NOT_FOUND (no such key). */
	CTL_OP_RELEASE = 13,
	/* Key inspection (docs/design.md §8.6): bucket, key. First reply:
	 * status, gen = the number of configured nodes, CTL_RF_MORE; then one
	 * packet per record as each daemon answers (struct ctl_info_rec and the
	 * value), all with CTL_RF_MORE: the client stops reading when it has
	 * two records from every node or its deadline passes, and hangs up. */
	CTL_OP_INFO = 14,
};

enum ctl_info_flag {
	CTL_INFO_HAS_VALUE = 1u << 0,
	CTL_INFO_SYNCED = 1u << 1, /* the node's acceptor answers (synced) */
	CTL_INFO_VOTER = 1u << 2,
};

/* A record of CTL_OP_INFO, followed by value_len bytes of value. */
struct ctl_info_rec {
	uint32_t node; /* node id */
	uint8_t kind;  /* 1: acceptor, 2: learner */
	uint8_t flags; /* CTL_INFO_* */
	uint16_t reserved;
	uint64_t gen; /* the key's live generation on that node (0: no entry) */
	uint64_t promised_round; /* acceptor: the promise */
	uint32_t promised_node;
	uint32_t ballot_node;	/* accepted (acceptor) or chosen (learner) ballot */
	uint64_t ballot_round;
	uint32_t bind_mask; /* the value's bindings: 1 pid, 2 node, 4 key, 8 until */
	uint32_t value_len;
};

/* ctl_req.flags of CTL_OP_WATCH. */
enum ctl_watch_flag {
	CTL_WATCH_BUCKET = 1u << 0, /* every key of the bucket; key_len must be 0 */
	/* A lock waiter: ENDED goes only to the oldest such watch of the key
	 * on this daemon, and to the next one when it leaves while the key
	 * is free (docs/design.md §8.5). Key watches only. */
	CTL_WATCH_QUEUE = 1u << 1,
};
#define CTL_WATCH_FLAGS (CTL_WATCH_BUCKET | CTL_WATCH_QUEUE)

/*
 * The first reply of a CTL_WATCH_QUEUE watch carries the waiter's ticket
 * (docs/design.md §8.5): the daemon's wall clock in ms when it queued (the
 * voters' while the daemon's own is off theirs), above
 * every ticket this daemon incarnation handed out before, so tickets follow
 * the order of arrival on one daemon and (node, incarnation, ticket) names
 * one waiter in the cluster.
 */
struct ctl_watch_ticket {
	uint64_t ticket;
	uint64_t incarnation; /* the daemon's */
	uint32_t node;	      /* the daemon's node id */
	uint32_t reserved;
};

enum ctl_watch_kind {
	CTL_WATCH_CHOSEN = 1, /* the key was chosen in generation gen: value follows */
	CTL_WATCH_ENDED = 2,  /* every generation <= gen of the key has ended */
};

/* An event of CTL_OP_WATCH, followed by bucket, key and value bytes. The
 * default bucket goes as length 0. */
struct ctl_watch_event {
	uint8_t kind; /* enum ctl_watch_kind */
	uint8_t bucket_len;
	uint16_t reserved;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t reserved2;
	uint64_t until; /* the value's until binding, 0: none */
};

struct ctl_req {
	uint32_t magic; /* CTL_MAGIC */
	uint8_t op;	/* enum ctl_op */
	uint8_t flags;
	uint8_t bucket_len; /* 0: the default bucket */
	uint8_t reserved;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t timeout_ms; /* 0: the daemon's default */
	/* followed by bucket, key, value */
};

enum ctl_rep_flag {
	CTL_RF_MORE = 1u << 0,
};

struct ctl_rep {
	uint32_t magic; /* CTL_MAGIC */
	int32_t status; /* enum pkv_status, or -errno */
	uint64_t gen;
	uint32_t len; /* payload bytes that follow */
	uint32_t flags;
};

/*
 * Events of CTL_OP_SUBSCRIBE: the payload is the name without its NUL, so
 * a packet is sizeof(struct ctl_rep) + CTL_EVENT_*_LEN bytes, never more
 * than sizeof(struct ctl_rep) + CTL_EVENT_NAME_MAX.
 */
#define CTL_EVENT_QUORUM_REACHED "quorum_reached"
#define CTL_EVENT_QUORUM_REACHED_LEN (sizeof(CTL_EVENT_QUORUM_REACHED) - 1)
#define CTL_EVENT_QUORUM_LOST "quorum_lost"
#define CTL_EVENT_QUORUM_LOST_LEN (sizeof(CTL_EVENT_QUORUM_LOST) - 1)
#define CTL_EVENT_LEASE_LOST "lease_lost"
#define CTL_EVENT_LEASE_LOST_LEN (sizeof(CTL_EVENT_LEASE_LOST) - 1)
#define CTL_EVENT_LEASE_REGAINED "lease_regained"
#define CTL_EVENT_LEASE_REGAINED_LEN (sizeof(CTL_EVENT_LEASE_REGAINED) - 1)
/*
 * Per-binding events (docs/design.md §5.1), to a subscriber about a value
 * bound to its own process: gen = the key's generation, and after the name
 * a NUL, the bucket's length (one byte), the bucket and the key.
 */
#define CTL_EVENT_LIFETIME_ENDED	 "lifetime_ended"
#define CTL_EVENT_LIFETIME_ENDED_LEN	 (sizeof(CTL_EVENT_LIFETIME_ENDED) - 1)
#define CTL_EVENT_LIFETIME_CONFIRMED	 "lifetime_confirmed"
#define CTL_EVENT_LIFETIME_CONFIRMED_LEN (sizeof(CTL_EVENT_LIFETIME_CONFIRMED) - 1)
#define CTL_EVENT_NAME_MAX 64u

#endif
