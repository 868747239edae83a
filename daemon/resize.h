/* SPDX-License-Identifier: MIT */
/*
 * resize.h — resize_cluster across the connected nodes (resize.c).
 *
 * The loop owns a struct resize, registers its hooks with resize_init, and
 * calls in: resize_start for a request of the control socket,
 * resize_on_message for RESIZE and RESIZE_ACK datagrams, resize_tick every
 * turn (retransmits and time-outs), resize_forget_conn when the connection
 * that asked goes away.
 */
#ifndef PKV_RESIZE_H
#define PKV_RESIZE_H

#include <stdint.h>

#include "msg.h"

struct daemon;
struct ctl_conn;
struct resize_op;

struct resize_hooks {
	/* This node's cluster_size changed (membership and paxos know it). */
	void (*size_changed)(struct daemon *d);
	/* A resize this node ran has finished: answer the connection that
	 * asked (never called for a connection forgotten). */
	void (*done)(struct daemon *d, struct ctl_conn *c, int status);
};

struct resize {
	const struct resize_hooks *hooks;
	/* resize_cluster requests this node started, waiting for acks */
	struct resize_op *ops;
	/* per sender: the last resize applied on its behalf (for retransmits) */
	struct {
		uint64_t req;
		uint32_t prev;
	} applied[PKV_MAX_NODES + 1];
};

void resize_init(struct resize *r, const struct resize_hooks *h);
/* Starts a resize to n asked by connection c; 0, or a status to answer at
 * once (PKV_S_BAD_REQUEST, PKV_S_NO_MEMORY). */
int resize_start(struct daemon *d, struct ctl_conn *c, uint32_t n, uint64_t now);
void resize_on_message(struct daemon *d, uint32_t from, const struct pkv_msg *m, uint64_t now);
/* Retransmits and time-outs; returns the next time it wants a turn. */
uint64_t resize_tick(struct daemon *d, uint64_t now);
void resize_forget_conn(struct daemon *d, struct ctl_conn *c);

#endif
