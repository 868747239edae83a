/* SPDX-License-Identifier: MIT */
/*
 * ctl.h — the control protocol on the daemon's UNIX socket.
 *
 * SOCK_SEQPACKET: one request per packet, answered by one or more reply
 * packets (CTL_RF_MORE on all but the last). One request at a time per
 * connection. Integers are host byte order: both ends are on one host.
 *
 * The socket is $RUN_DIR/<node>/pkvd.sock, mode 0660; the daemon checks
 * SO_PEERCRED (same uid, root, or the configured group).
 */
#ifndef PKV_CTL_H
#define PKV_CTL_H

#include <stdint.h>

#include "msg.h"

#define CTL_MAGIC 0x504b5643u /* "PKVC" */
#define CTL_SOCKET_NAME "pkvd.sock"
#define CTL_MAX_PACKET (sizeof(struct ctl_req) + PKV_MAX_BUCKET + PKV_MAX_KEY + PKV_MAX_VALUE)

enum ctl_op {
	CTL_OP_CLUSTER = 1, /* text: "name: value" lines */
	/* 2..4: the numbers of the ring's put/get/keys (include/pkv-shm.h);
	 * data requests are served only through the shared-memory ring. */
	CTL_OP_ATTACH = 6, /* = PKV_SHM_CTL_OP_ATTACH: grant a ring slot (pkv-shm.h) */
	/* Builds with -Dfault_injection=true only (else PKV_S_BAD_REQUEST):
	 * the value is a text spec, "drop=P dup=P reorder=P delay=MS skew=MS
	 * block=IDS block_in=IDS block_out=IDS" (P in percent; IDS are node
	 * ids "1,3"; block drops every datagram to and from those nodes,
	 * block_in/block_out one direction only; skew moves the wall clock the
	 * core sees). Each call replaces every fault; an empty spec clears
	 * them. Tests use it through pkv-fault. */
	CTL_OP_FAULT = 7,
	/* text: "name: value" lines for inspectors (pkv-top): the node's
	 * counters, then one `bucket:` line per bucket (see control.c). */
	CTL_OP_STATS = 8,
	/* Turns the connection into an event stream: the daemon sends one
	 * packet per quorum flip, status 0, gen = the quorum epoch, payload
	 * "quorum_reached" or "quorum_lost". No reply to the request itself. */
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
};

struct ctl_req {
	uint32_t magic;
	uint8_t op;
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
	uint32_t magic;
	int32_t status; /* enum pkv_status, or -errno */
	uint64_t gen;
	uint32_t len; /* payload bytes that follow */
	uint32_t flags;
};

#endif
