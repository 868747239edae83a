// SPDX-License-Identifier: MIT
/*
 * net.c — io_uring set-up, the provided-buffer ring, send/recv batching.
 * The only file of the project that includes liburing.h.
 */
#include "net.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 512u
#define RX_BGID 1
#define RX_NBUF 64u /* power of two */
#define RX_PAYLOAD 65536u
#define RX_BUFSZ (RX_PAYLOAD + sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_storage))
#define TX_PAYLOAD 65536u
#define TX_MAX 256u
#define BIND_RETRY_MS 5000u	 /* a dying incarnation's socket: see net_udp_bind */
#define BIND_RETRY_STEP_MS 20u

enum op_tag {
	TAG_UDP_RECV = 1,
	TAG_ACCEPT,
	TAG_CTL_RECV,
	TAG_CTL_SEND,
	TAG_SIGNAL, /* and the file sync's ops: the pointer says which (struct net) */
	TAG_DGRAM_SEND,
	TAG_POLL,
};
/* user_data 0 marks requests whose own completion means nothing (cancels). */
#define TAG_MASK 7ull

struct txbuf {
	struct txbuf *next_free;
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage to;
	uint8_t data[TX_PAYLOAD];
};

struct net {
	struct io_uring ring;
	struct net_handlers h;
	void *ctx;
	int udp_fd;
	int listen_fd;
	int sig_fd;
	struct signalfd_siginfo siginfo;
	/* net_file_sync: one chain at a time; its ops' user_data point here. */
	struct {
		uint64_t op_write, op_sync, op_delay; /* addresses only */
		struct __kernel_timespec delay;
		unsigned left; /* completions still to come */
		ssize_t wres;
		int fres;
	} fs;
	struct msghdr rx_mh;
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint8_t *rx_bufs;
	struct txbuf *tx_free;
	unsigned tx_count;
	struct net_stats st;
	bool futex_wake_ok; /* the ring takes futex wakes (net_futex_wake) */
	unsigned sends_queued; /* datagram sends since the last net_run_once */
};

/* Linux 6.7's futex ops on the ring; the build's headers may predate them. */
#define NET_OP_FUTEX_WAKE 52u /* IORING_OP_FUTEX_WAKE */
#define NET_FUTEX2_SIZE_U32 0x02u
#define NET_FUTEX_MATCH_ANY 0xffffffffull /* FUTEX_BITSET_MATCH_ANY */

static uint64_t tag(const void *p, enum op_tag t)
{
	return (uint64_t)(uintptr_t)p | t;
}

static struct io_uring_sqe *get_sqe(struct net *n)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&n->ring);
	if (!sqe) {
		/* The submission queue is full: push what is there and retry. */
		io_uring_submit(&n->ring);
		n->st.submits++;
		sqe = io_uring_get_sqe(&n->ring);
	}
	return sqe;
}

static int rx_setup(struct net *n)
{
	n->br_len = RX_NBUF * sizeof(struct io_uring_buf);
	n->br = mmap(NULL, n->br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (n->br == MAP_FAILED) {
		n->br = NULL;
		return -errno;
	}
	n->rx_bufs = mmap(NULL, (size_t)RX_NBUF * RX_BUFSZ, PROT_READ | PROT_WRITE,
			  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (n->rx_bufs == MAP_FAILED) {
		n->rx_bufs = NULL;
		return -errno;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)n->br,
		.ring_entries = RX_NBUF,
		.bgid = RX_BGID,
	};
	int r = io_uring_register_buf_ring(&n->ring, &reg, 0);
	if (r < 0)
		return r;
	io_uring_buf_ring_init(n->br);
	unsigned mask = io_uring_buf_ring_mask(RX_NBUF);
	for (unsigned i = 0; i < RX_NBUF; i++)
		io_uring_buf_ring_add(n->br, n->rx_bufs + (size_t)i * RX_BUFSZ, RX_BUFSZ, (uint16_t)i,
				      mask, (int)i);
	io_uring_buf_ring_advance(n->br, RX_NBUF);
	return 0;
}

/*
 * A futex wake as a submission: (word, wake up to INT_MAX, any bit), shared
 * (the word is in memory mapped by other processes). Only a failure
 * completes (CQE_SKIP_SUCCESS), with user_data 0: nothing to do.
 */
static void prep_futex_wake(struct io_uring_sqe *sqe, uint32_t *word)
{
	io_uring_prep_rw((int)NET_OP_FUTEX_WAKE, sqe, (int)NET_FUTEX2_SIZE_U32, word, 0,
			 (uint64_t)INT_MAX);
	sqe->addr3 = NET_FUTEX_MATCH_ANY;
	sqe->rw_flags = 0; /* futex_flags: none */
	io_uring_sqe_set_data64(sqe, 0);
}

/*
 * Whether this kernel's ring takes futex wakes: one is tried on a word of
 * ours, before anything else is queued, and its completion read back.
 */
static bool futex_wake_probe(struct net *n)
{
	uint32_t word = 0;
	struct io_uring_probe *pr = io_uring_get_probe_ring(&n->ring);
	bool listed = pr && io_uring_opcode_supported(pr, (int)NET_OP_FUTEX_WAKE);
	if (pr)
		io_uring_free_probe(pr);
	if (!listed || !(n->ring.features & IORING_FEAT_CQE_SKIP))
		return false;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&n->ring);
	if (!sqe)
		return false;
	prep_futex_wake(sqe, &word);
	if (io_uring_submit_and_wait(&n->ring, 1) < 0)
		return false;
	struct io_uring_cqe *cqe;
	if (io_uring_peek_cqe(&n->ring, &cqe) < 0)
		return false;
	bool ok = cqe->res >= 0; /* no waiter: 0 woken */
	io_uring_cqe_seen(&n->ring, cqe);
	return ok;
}

struct net *net_new(const struct net_handlers *h, void *ctx)
{
	struct net *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->h = *h;
	n->ctx = ctx;
	n->udp_fd = n->listen_fd = n->sig_fd = -1;
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
	int r = io_uring_queue_init_params(RING_ENTRIES, &n->ring, &p);
	if (r < 0) {
		/* Older kernels: try without the optional flags. */
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(RING_ENTRIES, &n->ring, &p);
	}
	if (r < 0) {
		free(n);
		errno = -r;
		return NULL;
	}
	if (!(p.features & IORING_FEAT_EXT_ARG)) {
		io_uring_queue_exit(&n->ring);
		free(n);
		errno = ENOSYS;
		return NULL;
	}
	r = rx_setup(n);
	if (r < 0) {
		net_free(n);
		errno = -r;
		return NULL;
	}
	n->futex_wake_ok = futex_wake_probe(n);
	return n;
}

/*
 * Cancels every request still armed and reaps the completions, so the files
 * they hold (the UDP socket above all) are released before we return: the
 * kernel's own teardown of a ring is asynchronous, and a restarted daemon
 * must find its port free at once.
 */
static void txbuf_put(struct net *n, struct txbuf *t);

static void cancel_all(struct net *n)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, 0);
	io_uring_submit(&n->ring);
	struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
	for (int i = 0; i < 64; i++) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe_timeout(&n->ring, &cqe, &ts) < 0)
			break; /* nothing more within 20 ms: all cancelled */
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		if ((ud & TAG_MASK) == TAG_DGRAM_SEND)
			txbuf_put(n, (void *)(uintptr_t)(ud & ~TAG_MASK));
		io_uring_cqe_seen(&n->ring, cqe);
	}
}

void net_free(struct net *n)
{
	if (!n)
		return;
	cancel_all(n);
	io_uring_queue_exit(&n->ring);
	if (n->udp_fd >= 0)
		close(n->udp_fd);
	if (n->sig_fd >= 0)
		close(n->sig_fd);
	if (n->br)
		munmap(n->br, n->br_len);
	if (n->rx_bufs)
		munmap(n->rx_bufs, (size_t)RX_NBUF * RX_BUFSZ);
	while (n->tx_free) {
		struct txbuf *t = n->tx_free;
		n->tx_free = t->next_free;
		free(t);
	}
	free(n);
}

static int arm_udp_recv(struct net *n)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, n->udp_fd, &n->rx_mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RX_BGID;
	io_uring_sqe_set_data64(sqe, tag(n, TAG_UDP_RECV));
	return 0;
}

int net_udp_bind(struct net *n, const struct sockaddr_storage *addr)
{
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Room for bursts: FORCE works for root past net.core.rmem_max. */
	int bufsz = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	/*
	 * A previous incarnation of this node (the run dir's lock says none
	 * runs now) releases its socket when the kernel tears its io_uring
	 * down, which happens after the process is gone: restarted at once
	 * after a SIGKILL, the port may still be taken for a moment. Retry for
	 * up to BIND_RETRY_MS before giving up.
	 */
	for (unsigned waited = 0;; waited += BIND_RETRY_STEP_MS) {
		if (bind(fd, (const struct sockaddr *)addr, len) == 0)
			break;
		int e = -errno;
		if (e != -EADDRINUSE || waited >= BIND_RETRY_MS) {
			close(fd);
			return e;
		}
		struct timespec ts = {0, BIND_RETRY_STEP_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	n->udp_fd = fd;
	memset(&n->rx_mh, 0, sizeof(n->rx_mh));
	n->rx_mh.msg_namelen = sizeof(struct sockaddr_storage);
	return arm_udp_recv(n);
}

static int arm_accept(struct net *n)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_multishot_accept(sqe, n->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, tag(n, TAG_ACCEPT));
	return 0;
}

int net_listen(struct net *n, int fd)
{
	n->listen_fd = fd;
	return arm_accept(n);
}

static int arm_signal(struct net *n)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, n->sig_fd, &n->siginfo, sizeof(n->siginfo), 0);
	io_uring_sqe_set_data64(sqe, tag(n, TAG_SIGNAL));
	return 0;
}

int net_watch_signals(struct net *n, const int *signos, int count)
{
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < count; i++)
		sigaddset(&set, signos[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	n->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (n->sig_fd < 0)
		return -errno;
	return arm_signal(n);
}

int net_poll(struct net *n, int fd, void *token, bool multishot)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	else
		io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, tag(token, TAG_POLL));
	return 0;
}

int net_poll_cancel(struct net *n, void *token)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, tag(token, TAG_POLL));
	io_uring_sqe_set_data64(sqe, 0);
	return 0;
}

int net_ctl_recv(struct net *n, int fd, void *conn, void *buf, size_t cap)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv(sqe, fd, buf, cap, 0);
	io_uring_sqe_set_data64(sqe, tag(conn, TAG_CTL_RECV));
	return 0;
}

int net_ctl_send(struct net *n, int fd, void *conn, const void *buf, size_t len)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, tag(conn, TAG_CTL_SEND));
	return 0;
}

uint8_t *net_dgram_buf(struct net *n, size_t *cap)
{
	struct txbuf *t = n->tx_free;
	if (t) {
		n->tx_free = t->next_free;
	} else {
		if (n->tx_count >= TX_MAX) {
			n->st.send_dropped++;
			return NULL;
		}
		t = malloc(sizeof(*t));
		if (!t) {
			n->st.send_dropped++;
			return NULL;
		}
		n->tx_count++;
	}
	*cap = sizeof(t->data);
	return t->data;
}

static struct txbuf *txbuf_of(uint8_t *data)
{
	return (struct txbuf *)(data - offsetof(struct txbuf, data));
}

static void txbuf_put(struct net *n, struct txbuf *t)
{
	t->next_free = n->tx_free;
	n->tx_free = t;
}

void net_dgram_discard(struct net *n, uint8_t *buf)
{
	txbuf_put(n, txbuf_of(buf));
}

int net_dgram_send(struct net *n, uint8_t *buf, size_t len, const struct sockaddr_storage *to)
{
	struct txbuf *t = txbuf_of(buf);
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe) {
		txbuf_put(n, t);
		n->st.send_dropped++;
		return -EBUSY;
	}
	t->to = *to;
	t->iov.iov_base = t->data;
	t->iov.iov_len = len;
	memset(&t->mh, 0, sizeof(t->mh));
	t->mh.msg_name = &t->to;
	t->mh.msg_namelen = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in);
	t->mh.msg_iov = &t->iov;
	t->mh.msg_iovlen = 1;
	io_uring_prep_sendmsg(sqe, n->udp_fd, &t->mh, 0);
	io_uring_sqe_set_data64(sqe, tag(t, TAG_DGRAM_SEND));
	n->sends_queued++;
	n->st.dgrams_out++;
	n->st.bytes_out += len;
	return 0;
}

static void on_udp_recv(struct net *n, struct io_uring_cqe *cqe)
{
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			n->st.recv_nobufs++;
	} else if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = n->rx_bufs + (size_t)bid * RX_BUFSZ;
		struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &n->rx_mh);
		if (!o || (o->flags & MSG_TRUNC)) {
			n->st.recv_truncated++;
		} else {
			struct sockaddr_storage from = {0};
			unsigned nl = o->namelen < sizeof(from) ? o->namelen : sizeof(from);
			memcpy(&from, io_uring_recvmsg_name(o), nl);
			uint8_t *payload = io_uring_recvmsg_payload(o, &n->rx_mh);
			size_t plen = io_uring_recvmsg_payload_length(o, cqe->res, &n->rx_mh);
			n->st.dgrams_in++;
			n->st.bytes_in += plen;
			n->h.dgram(n->ctx, &from, payload, plen);
		}
		io_uring_buf_ring_add(n->br, buf, RX_BUFSZ, (uint16_t)bid,
				      io_uring_buf_ring_mask(RX_NBUF), 0);
		io_uring_buf_ring_advance(n->br, 1);
	}
	/* Multishot ends on errors or a dry buffer ring: re-arm it. */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_udp_recv(n);
}

/*
 * The file sync chain: write → fdatasync (→ a timeout, fault injection),
 * linked, so the sync starts only after the whole write and a failed or
 * short write cancels the rest. The handler runs once every op completed.
 */
int net_file_sync(struct net *n, int fd, const void *buf, size_t len, uint64_t off,
		  uint64_t delay_us)
{
	if (n->fs.left)
		return -EBUSY;
	if (io_uring_sq_space_left(&n->ring) < 3) {
		io_uring_submit(&n->ring);
		n->st.submits++;
	}
	n->fs.wres = 0;
	n->fs.fres = 0;
	n->fs.left = 0;
	struct io_uring_sqe *sqe;
	if (len) {
		if (!(sqe = get_sqe(n)))
			return -EBUSY;
		io_uring_prep_write(sqe, fd, buf, (unsigned)len, off);
		io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
		io_uring_sqe_set_data64(sqe, tag(&n->fs.op_write, TAG_SIGNAL));
		n->fs.left++;
	}
	if (!(sqe = get_sqe(n)))
		return -EBUSY; /* cannot happen: space was made above */
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	if (delay_us)
		io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	io_uring_sqe_set_data64(sqe, tag(&n->fs.op_sync, TAG_SIGNAL));
	n->fs.left++;
	if (delay_us) {
		n->fs.delay.tv_sec = (long long)(delay_us / 1000000u);
		n->fs.delay.tv_nsec = (long long)(delay_us % 1000000u) * 1000;
		if (!(sqe = get_sqe(n)))
			return -EBUSY;
		io_uring_prep_timeout(sqe, &n->fs.delay, 0, 0);
		io_uring_sqe_set_data64(sqe, tag(&n->fs.op_delay, TAG_SIGNAL));
		n->fs.left++;
	}
	return 0;
}

static void on_file_op(struct net *n, void *p, int res)
{
	if (!n->fs.left)
		return;
	if (p == &n->fs.op_write)
		n->fs.wres = res;
	else if (p == &n->fs.op_sync)
		n->fs.fres = res;
	/* the delay's -ETIME is its success; -ECANCELED follows a failure above */
	if (--n->fs.left == 0 && n->h.file_synced)
		n->h.file_synced(n->ctx, n->fs.wres, n->fs.fres);
}

static void dispatch(struct net *n, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	if (ud == 0)
		return;
	void *p = (void *)(uintptr_t)(ud & ~TAG_MASK);
	switch ((enum op_tag)(ud & TAG_MASK)) {
	case TAG_UDP_RECV:
		on_udp_recv(n, cqe);
		break;
	case TAG_ACCEPT:
		if (cqe->res >= 0)
			n->h.ctl_accept(n->ctx, cqe->res);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			arm_accept(n);
		break;
	case TAG_CTL_RECV:
		n->h.ctl_recv(n->ctx, p, cqe->res);
		break;
	case TAG_CTL_SEND:
		n->h.ctl_sent(n->ctx, p, cqe->res);
		break;
	case TAG_SIGNAL:
		if (p != n) {
			on_file_op(n, p, cqe->res);
			break;
		}
		if (cqe->res == (int)sizeof(n->siginfo))
			n->h.signal(n->ctx, (int)n->siginfo.ssi_signo);
		arm_signal(n);
		break;
	case TAG_DGRAM_SEND:
		if (cqe->res < 0)
			n->st.send_errors++;
		txbuf_put(n, p);
		break;
	case TAG_POLL:
		n->h.poll(n->ctx, p, cqe->res, (cqe->flags & IORING_CQE_F_MORE) != 0);
		break;
	}
}

int net_futex_wake(struct net *n, uint32_t *word)
{
	if (!n->futex_wake_ok)
		return -EOPNOTSUPP;
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EBUSY;
	prep_futex_wake(sqe, word);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	n->st.futex_wakes++;
	return 0;
}

bool net_sends_queued(const struct net *n)
{
	return n->sends_queued > 0;
}

int net_run_once(struct net *n, uint64_t timeout_us)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	struct __kernel_timespec *tsp = NULL;
	if (timeout_us != UINT64_MAX) {
		ts.tv_sec = (long long)(timeout_us / 1000000u);
		ts.tv_nsec = (long long)(timeout_us % 1000000u) * 1000;
		tsp = &ts;
	}
	n->st.submits++;
	/*
	 * One completion ends the wait, even that of a send this very submit
	 * made (UDP sends complete inline): such a turn comes back at once, to
	 * reap its sends, and sleeps on the next. Waiting for one completion
	 * past the turn's sends instead halved the daemons' system calls under
	 * 32-client put-new, but made a lone client's put slower (ops/s
	 * x0.86-0.89 in 4 of 5 invocations): that short extra turn often finds
	 * the peers' replies already in, and on a VM waking a sleeper costs
	 * more than the system call.
	 */
	int r = io_uring_submit_and_wait_timeout(&n->ring, &cqe, 1, tsp, NULL);
	n->sends_queued = 0;
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	n->st.wakeups++;
	int count = 0;
	unsigned head;
	/* Handlers may queue SQEs but never reap: draining in one batch is safe. */
	io_uring_for_each_cqe(&n->ring, head, cqe)
	{
		dispatch(n, cqe);
		count++;
	}
	io_uring_cq_advance(&n->ring, (unsigned)count);
	return count;
}

const struct net_stats *net_stats(const struct net *n)
{
	return &n->st;
}
