/* SPDX-License-Identifier: MIT */
/*
 * control-internal.h — what the files of the control socket share: a
 * connection (struct ctl_conn) and the calls one file makes in the other.
 * Only daemon/control*.c include it; the rest of the daemon uses control.h.
 *
 * The files:
 *   control.c        the socket: peer credentials, requests, replies, the
 *                    text of `pkv cluster` and of the stats, per-binding
 *                    events, key inspections
 *   control-watch.c  key and bucket watches and lock waiters' queues
 *                    (docs/design.md §8.3, §8.5): their tickets and events
 */
#ifndef PKV_CONTROL_INTERNAL_H
#define PKV_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "pkv-ctl.h"

struct daemon;
struct ctl_packet;
struct ctl_doubt;
struct local_attach;

struct ctl_conn {
	struct ctl_conn *next;
	int fd;
	bool sending;  /* a send is in flight */
	bool closing;  /* peer gone: free once nothing is in flight */
	bool subscriber; /* receives quorum events */
	uint64_t drop_req; /* a bucket drop waiting in paxos, 0 if none */
	unsigned queued; /* packets waiting in txq */
	bool recv_armed;
	struct local_attach *attach; /* the shared-memory slot granted here */
	int32_t pid; /* the peer's process, from SO_PEERCRED at accept */
	/* Subscriber: the lifetimes bound to its process that are in doubt
	 * since the lease lapsed (docs/design.md §5.1). */
	struct ctl_doubt **doubt;
	size_t n_doubt;
	struct ctl_packet *txq, **txtail;
	size_t queued_bytes; /* bytes waiting in txq */
	/* Key watch (CTL_OP_WATCH): what it watches and what it was told. */
	bool watcher;
	uint8_t wflags;	     /* CTL_WATCH_* */
	uint64_t wseq;	     /* arrival order, for CTL_WATCH_QUEUE */
	uint64_t wchosen;    /* highest generation reported chosen */
	uint64_t wended;     /* highest generation reported ended */
	uint8_t *wbucket;    /* bucket then key, one block */
	uint32_t wblen, wklen;
	bool told_free;	     /* queue head told the key is free, nothing chosen since */
	bool wlate;	     /* a chosen value kept back: no lease then (§8.3) */
	uint64_t info_id;    /* CTL_OP_INFO: the paxos request whose answers go here */
	uint8_t rx[CTL_MAX_PACKET];
};

/* ---- control.c ---------------------------------------------------------- */

/* Queues a reply packet on c and starts sending it; false: no memory. */
bool queue_reply(struct daemon *d, struct ctl_conn *c, int status, uint64_t gen,
		 const void *payload, size_t len, bool more);
/* The bucket and key request rq names; 0 or the status to refuse with. */
int req_bucket_key(const struct ctl_conn *c, const struct ctl_req *rq, struct pkv_bytes *bucket,
		   struct pkv_bytes *key);
/* req_bucket_key, and the 8 bytes after the key (the caller checked
 * value_len == 8): a watch's first generation, a release's generation. */
int req_bucket_key_u64(const struct ctl_conn *c, const struct ctl_req *rq,
		       struct pkv_bytes *bucket, struct pkv_bytes *key, uint64_t *v);

/* ---- control-watch.c ---------------------------------------------------- */

/* CTL_OP_WATCH: checked like every request; 0 or the status to refuse with. */
int watch_request(struct daemon *d, struct ctl_conn *c, const struct ctl_req *rq);
/* What the learner saw this turn, to every watch it concerns. */
void watch_drain(struct daemon *d);
/* Watcher c goes (its connection is freed): a queue's next waiter is told. */
void watch_leave(struct daemon *d, struct ctl_conn *c);

#endif
