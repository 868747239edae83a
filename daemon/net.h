/* SPDX-License-Identifier: MIT */
/*
 * net.h — the daemon's only io_uring user.
 *
 * One ring multiplexes everything the daemon waits for: UDP datagrams
 * (multishot recvmsg into a provided-buffer ring), the control socket
 * (multishot accept, one recv per connection), signals (a signalfd read) and
 * the next timer (the wait timeout of io_uring_submit_and_wait_timeout, so a
 * timer costs no SQE and an idle daemon sleeps in the kernel).
 *
 * net.c knows nothing of the protocol: completions are handed to the
 * callbacks in struct net_handlers. Sends are queued as SQEs and submitted
 * together with the wait at the end of the loop turn: one submit per turn.
 */
#ifndef PKV_NET_H
#define PKV_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct net;

struct net_handlers {
	/* A datagram: buf is valid only during the call (its buffer goes back
	 * to the kernel right after). */
	void (*dgram)(void *ctx, const struct sockaddr_storage *from, uint8_t *buf, size_t len);
	/* A new control connection; the callee owns fd. */
	void (*ctl_accept)(void *ctx, int fd);
	/* A control packet on a connection armed with net_ctl_recv, or len <= 0
	 * when it closed or failed (-errno). The buffer belongs to the caller
	 * of net_ctl_recv. Re-arm with net_ctl_recv to receive the next one. */
	void (*ctl_recv)(void *ctx, void *conn, ssize_t len);
	/* A control send completed (res bytes or -errno); the buffer may be
	 * reused. */
	void (*ctl_sent)(void *ctx, void *conn, int res);
	/* A signal from the daemon's signal mask arrived. */
	void (*signal)(void *ctx, int signo);
	/* An fd watched with net_poll became readable (res = poll mask), or
	 * the watch ended (res < 0, e.g. -ECANCELED). `more`: a multishot
	 * watch stays armed. */
	void (*poll)(void *ctx, void *token, int res, bool more);
	/* The chain of net_file_sync completed: wres is the write's result
	 * (bytes or -errno; 0 when there was nothing to write), fres the
	 * fdatasync's (0 or -errno; -ECANCELED after a failed or short write). */
	void (*file_synced)(void *ctx, ssize_t wres, int fres);
};

struct net_stats {
	uint64_t dgrams_in, dgrams_out, bytes_in, bytes_out;
	uint64_t recv_nobufs;   /* the provided-buffer ring ran dry: dropped */
	uint64_t recv_truncated; /* larger than a receive buffer: dropped */
	uint64_t send_errors;
	uint64_t send_dropped; /* no send buffer free: dropped (Paxos retries) */
	uint64_t submits, wakeups;
	uint64_t futex_wakes; /* clients woken through the ring (net_futex_wake) */
};

/* Whether datagram sends are queued for the next net_run_once: a UDP send
 * completes inline, so that wait ends at once. (A futex wake completes
 * unseen: CQE_SKIP_SUCCESS.) */
bool net_sends_queued(const struct net *n);

/* Creates the ring. Returns NULL and sets errno on failure. */
struct net *net_new(const struct net_handlers *h, void *ctx);
void net_free(struct net *n);

/* Binds the UDP socket to addr and arms the multishot receive. */
int net_udp_bind(struct net *n, const struct sockaddr_storage *addr);
/* Arms a multishot accept on a listening socket (the control socket). */
int net_listen(struct net *n, int fd);
/* Watches the given signals (blocks them and reads a signalfd). */
int net_watch_signals(struct net *n, const int *signos, int count);

/*
 * Watches fd for POLLIN; token (8-byte aligned) comes back in the poll
 * handler. multishot: stays armed after each event (eventfds); otherwise
 * fires once (pidfds: the process exited). net_poll_cancel ends a watch
 * early; its handler then sees -ECANCELED, after which token may be freed.
 */
int net_poll(struct net *n, int fd, void *token, bool multishot);
int net_poll_cancel(struct net *n, void *token);

/* Arms one receive of a control packet into buf (cap bytes). */
int net_ctl_recv(struct net *n, int fd, void *conn, void *buf, size_t cap);
/* Queues a control send of buf (kept alive by the caller until ctl_sent). */
int net_ctl_send(struct net *n, int fd, void *conn, const void *buf, size_t len);

/*
 * Queues a write of len bytes of buf at off (none when len is 0) linked to
 * an fdatasync of fd, and, when delay_us > 0 (fault injection), a timeout of
 * that long after it: the loop goes on receiving, sending and timing while
 * the disk works. buf stays alive until the file_synced handler runs. One
 * chain at a time: -EBUSY while one is in flight.
 */
int net_file_sync(struct net *n, int fd, const void *buf, size_t len, uint64_t off,
		  uint64_t delay_us);

/*
 * Outgoing datagrams are built in place: net_dgram_buf returns a buffer of
 * *cap bytes, the caller fills it and commits it with net_dgram_send. A buffer
 * goes back to the pool when its send completes. NULL when every buffer is in
 * flight (the datagram is then dropped and counted; Paxos retransmits).
 */
uint8_t *net_dgram_buf(struct net *n, size_t *cap);
int net_dgram_send(struct net *n, uint8_t *buf, size_t len, const struct sockaddr_storage *to);
/* Gives back a buffer from net_dgram_buf without sending it. */
void net_dgram_discard(struct net *n, uint8_t *buf);

/*
 * Submits everything queued and waits up to timeout_us (0: don't wait,
 * UINT64_MAX: no timeout) for completions, then dispatches all of them to the
 * handlers. Returns the number dispatched or -errno.
 */
int net_run_once(struct net *n, uint64_t timeout_us);

/*
 * Queues a wake of every waiter on the shared futex word: it leaves with the
 * next submission, the datagrams' (one system call for both). -EOPNOTSUPP
 * where the kernel's ring has no futex ops (before Linux 6.7): the caller
 * wakes by system call.
 */
int net_futex_wake(struct net *n, uint32_t *word);

const struct net_stats *net_stats(const struct net *n);

#endif
