// SPDX-License-Identifier: MIT
/*
 * wake-floor.c — the machine's floors for an in-memory put (--wakeup-floor),
 * so a put's latency and rate are read against what this machine can do at
 * all in the same run. An in-memory put goes client -> daemon (a slot in
 * shared memory and a futex wake) -> a peer daemon (UDP) -> back -> client
 * (docs/design.md §3.4, the fast round): at least one futex round trip
 * between two processes and one UDP round trip between two processes.
 * Three measurements, one after the other, a third of the time each:
 *
 *   futex   a parent and a forked child pass a turn back and forth through
 *           a word in a shared anonymous mapping, each FUTEX_WAITing (not
 *           private: two processes) until the word is its own and
 *           FUTEX_WAKEing the other when it hands it over; one round trip
 *           timed by the parent;
 *   udp     the same over two blocking UDP sockets on 127.0.0.1, a
 *           WAKE_UDP_BYTES datagram there and back;
 *   rate    C client processes, each with one word in shared memory, post
 *           to one server process that scans the words, answers each
 *           posted one at once and FUTEX_WAKEs its client if it sleeps;
 *           idle, the server sleeps on a doorbell futex, which a client
 *           rings only when the server says it sleeps. Round trips/s of
 *           all clients: the best any C-client put rate with one process
 *           per client can reach here.
 *
 * chain floor = futex p50 + udp p50.
 *
 * Bounded: each ping-pong runs until its time is up (at least
 * WAKE_ROUNDS_MIN round trips) and at most WAKE_TRIPS_MAX; each client at
 * most WAKE_RATE_TRIPS_MAX. A wait sleeps at most WAKE_SLICE_NS, then looks
 * at the other side: the parent at its child (waitpid), a child at its own
 * deadline (the end of its part plus WAKE_GRACE_NS) and its parent; a child
 * dies with pkv-bench (PR_SET_PDEATHSIG) and leaves by _exit, so the
 * parent's atexit handlers (the dev cluster's) stay the parent's. On any
 * failure or signal the parent SIGKILLs its own children by pid and reaps
 * them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "stats.h"
#include "wake-floor.h"

#define WAKE_ROUNDS_MIN 20
#define WAKE_RATE_TRIPS_MAX (1ull << 28)
#define WAKE_SLICE_NS 50000000L			   /* a wait's longest sleep */
#define WAKE_STALL_NS (10ull * 1000000000ull)	   /* a round trip this long: stuck */
#define WAKE_GRACE_NS (15ull * 1000000000ull)	   /* a child outlives its part by at most this */
#define WAKE_REAP_NS (5ull * 1000000000ull)	   /* a child told to end is gone by then */
#define WAKE_RESEND_NS 1000000000ull		   /* a UDP ping unanswered this long goes again */
#define WAKE_POLL_NS 1000000L			   /* the parent's look at its children */

/* --- processes --------------------------------------------------------------- */

/*
 * The children of the three parts, in the order forked: the futex
 * ping-pong's, the UDP ping-pong's, the rate's server and its clients;
 * pid 0 once reaped.
 */
struct wake_kids {
	pid_t pid[2 + 1 + WAKE_CLIENTS_MAX];
	unsigned n;
};

static void wake_why(struct wake_result *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void wake_why(struct wake_result *out, const char *fmt, ...)
{
	if (out->why[0])
		return; /* the first failure is the one to tell */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
}

/* A child: default signals (a ^C to the group ends it at once), dies with its parent. */
static pid_t wake_fork(struct wake_kids *k)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid > 0) {
		k->pid[k->n++] = pid;
	} else if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(ECHILD);
	}
	return pid;
}

/* SIGKILLs every child not yet reaped, by pid, and reaps it. */
static void wake_kill(struct wake_kids *k)
{
	for (unsigned i = 0; i < k->n; i++)
		if (k->pid[i] > 0)
			kill(k->pid[i], SIGKILL);
	for (unsigned i = 0; i < k->n; i++) {
		while (k->pid[i] > 0 && waitpid(k->pid[i], NULL, 0) < 0 && errno == EINTR)
			;
		k->pid[i] = 0;
	}
	k->n = 0;
}

/*
 * Reaps child i if it has ended: 1 when it did (with exit 0), 0 when it
 * still runs, -errno when it failed (its exit status is an errno value,
 * see the children below; a signal that ended it is told in out->why).
 */
static int wake_reaped(struct wake_kids *k, unsigned i, const char *who, struct wake_result *out)
{
	int st;
	if (k->pid[i] <= 0)
		return 1;
	pid_t r = waitpid(k->pid[i], &st, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	k->pid[i] = 0;
	if (r < 0) {
		wake_why(out, "%s: waitpid: %s", who, strerror(errno));
		return -ECHILD;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFEXITED(st)) {
		wake_why(out, "%s: %s", who, strerror(WEXITSTATUS(st)));
		return -WEXITSTATUS(st);
	}
	wake_why(out, "%s: killed by signal %d", who, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return -ECHILD;
}

/* Waits for children [from, to) to end on their own until `deadline`: 0 or -errno. */
static int wake_reap(struct wake_kids *k, unsigned from, unsigned to, uint64_t deadline,
		     const char *who, struct wake_result *out)
{
	for (;;) {
		bool running = false;
		for (unsigned i = from; i < to; i++) {
			int r = wake_reaped(k, i, who, out);
			if (r < 0)
				return r;
			running |= r == 0;
		}
		if (!running)
			return 0;
		if (got_signal)
			return -EINTR;
		if (now_ns() > deadline) {
			wake_why(out, "%s: did not end in time", who);
			return -ETIMEDOUT;
		}
		sleep_ns(WAKE_POLL_NS);
	}
}

/* --- futexes ----------------------------------------------------------------- */

/* bench.h's, on this file's atomic words and with its wait slice. */
static void wake_futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	bench_futex_wait((void *)w, val, WAKE_SLICE_NS);
}

static void wake_futex_wake(_Atomic uint32_t *w, int n)
{
	bench_futex_wake((void *)w, n);
}

static void *wake_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Whether a ping-pong goes on: the count and the time, at least WAKE_ROUNDS_MIN. */
static bool wake_more(uint64_t n, uint64_t end)
{
	return n < WAKE_TRIPS_MAX && (n < WAKE_ROUNDS_MIN || now_ns() < end);
}

/* The turn: odd while it is the child's, even while the parent's. */
struct wake_pingpong {
	_Atomic uint32_t turn;
	_Atomic uint32_t stop;
};

static _Noreturn void wake_pingpong_child(struct wake_pingpong *pp, uint64_t limit)
{
	for (uint64_t trips = 0; trips <= WAKE_TRIPS_MAX;) {
		if (atomic_load(&pp->stop))
			_exit(0);
		uint32_t v = atomic_load(&pp->turn);
		if (v & 1) {
			atomic_store(&pp->turn, v + 1);
			wake_futex_wake(&pp->turn, 1);
			trips++;
			continue;
		}
		wake_futex_wait(&pp->turn, v);
		if (now_ns() > limit)
			_exit(ETIMEDOUT);
	}
	_exit(E2BIG);
}

static int wake_futex(double seconds, uint64_t *samples, struct wake_kids *k,
		      struct wake_result *out)
{
	struct wake_pingpong *pp = wake_map(sizeof(*pp));
	if (!pp) {
		int e = errno;
		wake_why(out, "futex ping-pong: mmap: %s", strerror(e));
		return -e;
	}
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), n = 0;
	pid_t pid = wake_fork(k);
	if (pid == 0)
		wake_pingpong_child(pp, end + WAKE_GRACE_NS);
	int rc = 0;
	if (pid < 0) {
		rc = -errno;
		wake_why(out, "futex: fork: %s", strerror(errno));
		goto out;
	}
	uint32_t turn = 0;
	while (!rc && wake_more(n, end)) {
		if (got_signal) {
			rc = -EINTR;
			break;
		}
		uint64_t t0 = now_ns();
		atomic_store(&pp->turn, ++turn);
		wake_futex_wake(&pp->turn, 1);
		while (atomic_load(&pp->turn) == turn) {
			wake_futex_wait(&pp->turn, turn);
			if (atomic_load(&pp->turn) != turn)
				break;
			/* A slice passed, or a signal came: look at the child. */
			int r = wake_reaped(k, k->n - 1, "futex ping-pong child", out);
			if (got_signal) {
				rc = -EINTR;
			} else if (r != 0) {
				wake_why(out, "futex ping-pong: the child ended");
				rc = r < 0 ? r : -ECHILD;
			} else if (now_ns() - t0 > WAKE_STALL_NS) {
				wake_why(out, "futex ping-pong: no answer in %llu s",
					 WAKE_STALL_NS / 1000000000ull);
				rc = -ETIMEDOUT;
			}
			if (rc)
				break;
		}
		if (rc)
			break;
		samples[n++] = now_ns() - t0;
		turn++;
	}
	if (!rc) {
		atomic_store(&pp->stop, 1);
		atomic_fetch_add(&pp->turn, 1);
		wake_futex_wake(&pp->turn, 1);
		rc = wake_reap(k, k->n - 1, k->n, now_ns() + WAKE_REAP_NS, "futex ping-pong child",
			       out);
	}
	if (!rc) {
		out->futex_n = n;
		stats_p50_p99(samples, n, &out->futex_p50, &out->futex_p99);
	}
out:
	munmap(pp, sizeof(*pp));
	return rc;
}

/* --- UDP ---------------------------------------------------------------------- */

enum { WAKE_UDP_PING = 0, WAKE_UDP_STOP = 1 };

/* A blocking UDP socket on 127.0.0.1 (any port), receives time out after a slice. */
static int wake_udp_socket(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = 0, .tv_usec = WAKE_SLICE_NS / 1000};
	socklen_t len = sizeof(*addr);
	*addr = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static bool wake_udp_again(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Echoes each datagram until the stop datagram (or the limit). */
static _Noreturn void wake_udp_child(int fd, uint64_t limit)
{
	uint8_t buf[WAKE_UDP_BYTES];
	for (uint64_t echoes = 0; echoes <= 2ull * WAKE_TRIPS_MAX;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (now_ns() > limit)
			_exit(ETIMEDOUT);
		if (r < 0) {
			if (wake_udp_again(errno))
				continue;
			_exit(errno);
		}
		if (r == WAKE_UDP_BYTES && buf[8] == WAKE_UDP_STOP)
			_exit(0);
		if (send(fd, buf, (size_t)r, 0) != r)
			_exit(errno ? errno : EIO);
		echoes++;
	}
	_exit(E2BIG);
}

/* One ping of sequence number seq sent: 0 or -errno. */
static int wake_udp_ping(int fd, uint64_t seq, uint8_t kind, struct wake_result *out)
{
	uint8_t buf[WAKE_UDP_BYTES];
	memset(buf, 0x5a, sizeof(buf));
	memcpy(buf, &seq, sizeof(seq));
	buf[8] = kind;
	errno = 0;
	if (send(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		int e = errno ? errno : EIO;
		wake_why(out, "udp ping-pong: send: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int wake_udp(double seconds, uint64_t *samples, struct wake_kids *k,
		    struct wake_result *out)
{
	struct sockaddr_in a, b;
	int fa = wake_udp_socket(&a), fb = -1, rc = 0;
	uint64_t n = 0;
	if (fa >= 0)
		fb = wake_udp_socket(&b);
	if (fa < 0 || fb < 0) {
		rc = fa < 0 ? fa : fb;
		wake_why(out, "udp ping-pong: a socket on 127.0.0.1: %s", strerror(-rc));
		goto out;
	}
	if (connect(fa, (struct sockaddr *)&b, sizeof(b)) != 0 ||
	    connect(fb, (struct sockaddr *)&a, sizeof(a)) != 0) {
		rc = -errno;
		wake_why(out, "udp ping-pong: connect: %s", strerror(errno));
		goto out;
	}
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	pid_t pid = wake_fork(k);
	if (pid == 0) {
		close(fa);
		wake_udp_child(fb, end + WAKE_GRACE_NS);
	}
	if (pid < 0) {
		rc = -errno;
		wake_why(out, "udp ping-pong: fork: %s", strerror(errno));
		goto out;
	}
	close(fb);
	fb = -1;
	for (uint64_t seq = 1; !rc && wake_more(n, end); seq++) {
		if (got_signal) {
			rc = -EINTR;
			break;
		}
		uint64_t t0 = now_ns(), sent = t0;
		bool again = false; /* a round with a resend is not timed */
		rc = wake_udp_ping(fa, seq, WAKE_UDP_PING, out);
		while (!rc) {
			uint8_t buf[WAKE_UDP_BYTES + 1];
			uint64_t got;
			ssize_t r = recv(fa, buf, sizeof(buf), 0);
			if (r == WAKE_UDP_BYTES) {
				memcpy(&got, buf, sizeof(got));
				if (got == seq)
					break;
			}
			if (r >= 0)
				continue; /* an answer to a ping sent again: late, not this one */
			if (!wake_udp_again(errno)) {
				rc = -errno;
				wake_why(out, "udp ping-pong: recv: %s", strerror(errno));
				break;
			}
			int d = wake_reaped(k, k->n - 1, "udp ping-pong child", out);
			uint64_t now = now_ns();
			if (got_signal) {
				rc = -EINTR;
			} else if (d != 0) {
				wake_why(out, "udp ping-pong: the child ended");
				rc = d < 0 ? d : -ECHILD;
			} else if (now - t0 > WAKE_STALL_NS) {
				wake_why(out, "udp ping-pong: no answer in %llu s",
					 WAKE_STALL_NS / 1000000000ull);
				rc = -ETIMEDOUT;
			} else if (now - sent > WAKE_RESEND_NS) {
				again = true;
				sent = now;
				rc = wake_udp_ping(fa, seq, WAKE_UDP_PING, out);
			}
		}
		if (!rc && !again)
			samples[n++] = now_ns() - t0;
	}
	if (!rc)
		rc = wake_udp_ping(fa, 0, WAKE_UDP_STOP, out);
	if (!rc)
		rc = wake_reap(k, k->n - 1, k->n, now_ns() + WAKE_REAP_NS, "udp ping-pong child",
			       out);
	if (!rc && n == 0) {
		wake_why(out, "udp ping-pong: every round had to be sent again");
		rc = -ETIMEDOUT;
	}
	if (!rc) {
		out->udp_n = n;
		stats_p50_p99(samples, n, &out->udp_p50, &out->udp_p99);
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return rc;
}

/* --- the client-rate floor ------------------------------------------------------ */

/* A client's word: what it posted and what the server made of it. */
enum { WAKE_SLOT_IDLE, WAKE_SLOT_POSTED, WAKE_SLOT_WAITING, WAKE_SLOT_ANSWERED };

struct wake_rate_slot {
	_Atomic uint32_t word;
	uint64_t trips;	 /* the client's round trips, written at its end */
	uint64_t end_ns; /* when its last one came back */
} __attribute__((aligned(64)));

struct wake_rate_board {
	/* Written by the parent. */
	_Atomic uint32_t ready; /* clients at the start line */
	_Atomic uint32_t go;
	_Atomic uint32_t stop; /* the server's end */
	uint64_t end_ns;       /* the clients' end, set before go */
	/* The server's sleep: `sleeping` set while it is (about to be) on the doorbell. */
	_Atomic uint32_t sleeping __attribute__((aligned(64)));
	_Atomic uint32_t doorbell;
	struct wake_rate_slot slot[] __attribute__((aligned(64)));
};

static bool wake_rate_posted(uint32_t w)
{
	return w == WAKE_SLOT_POSTED || w == WAKE_SLOT_WAITING;
}

/* Answers every posted word at once: how many it answered. */
static unsigned wake_rate_scan(struct wake_rate_board *b, unsigned clients)
{
	unsigned answered = 0;
	for (unsigned i = 0; i < clients; i++) {
		if (!wake_rate_posted(atomic_load(&b->slot[i].word)))
			continue;
		if (atomic_exchange(&b->slot[i].word, WAKE_SLOT_ANSWERED) == WAKE_SLOT_WAITING)
			wake_futex_wake(&b->slot[i].word, 1);
		answered++;
	}
	return answered;
}

static _Noreturn void wake_rate_server(struct wake_rate_board *b, unsigned clients, uint64_t limit)
{
	for (;;) {
		if (atomic_load(&b->stop))
			_exit(0);
		if (now_ns() > limit)
			_exit(ETIMEDOUT);
		if (wake_rate_scan(b, clients))
			continue;
		/*
		 * Asleep only when no word is posted after `sleeping` is set: a
		 * client posts, then reads `sleeping`; so either this scan sees
		 * its word or the client rings the doorbell, which then differs
		 * from the value read here and the wait returns at once.
		 */
		atomic_store(&b->sleeping, 1);
		uint32_t bell = atomic_load(&b->doorbell);
		if (!wake_rate_scan(b, clients) && !atomic_load(&b->stop))
			wake_futex_wait(&b->doorbell, bell);
		atomic_store(&b->sleeping, 0);
	}
}

static _Noreturn void wake_rate_client(struct wake_rate_board *b, struct wake_rate_slot *s, uint64_t limit)
{
	atomic_fetch_add(&b->ready, 1);
	while (!atomic_load(&b->go)) {
		wake_futex_wait(&b->go, 0);
		if (now_ns() > limit)
			_exit(ETIMEDOUT);
	}
	uint64_t trips = 0, end = b->end_ns;
	while (trips < WAKE_RATE_TRIPS_MAX && now_ns() < end) {
		atomic_store(&s->word, WAKE_SLOT_POSTED);
		if (atomic_load(&b->sleeping)) {
			atomic_fetch_add(&b->doorbell, 1);
			wake_futex_wake(&b->doorbell, 1);
		}
		uint32_t w;
		while ((w = atomic_load(&s->word)) != WAKE_SLOT_ANSWERED) {
			/* Say it sleeps (the server wakes only a WAITING word), then sleep. */
			if (w == WAKE_SLOT_POSTED &&
			    !atomic_compare_exchange_strong(&s->word, &w, WAKE_SLOT_WAITING))
				continue;
			wake_futex_wait(&s->word, WAKE_SLOT_WAITING);
			if (now_ns() > limit)
				_exit(ETIMEDOUT);
		}
		trips++;
	}
	s->trips = trips;
	s->end_ns = now_ns();
	_exit(0);
}

static int wake_rate(double seconds, unsigned clients, struct wake_kids *k,
		     struct wake_result *out)
{
	size_t len = sizeof(struct wake_rate_board) + clients * sizeof(struct wake_rate_slot);
	struct wake_rate_board *b = wake_map(len);
	if (!b) {
		int e = errno;
		wake_why(out, "client rate: mmap: %s", strerror(e));
		return -e;
	}
	/* Generous: forking and starting C clients on a loaded machine. */
	uint64_t limit = now_ns() + (uint64_t)(seconds * 1e9) + 2 * WAKE_GRACE_NS;
	int rc = 0;
	unsigned first = k->n; /* the server; its clients follow */
	for (unsigned i = 0; i <= clients; i++) {
		pid_t pid = wake_fork(k);
		if (pid == 0) {
			if (i == 0)
				wake_rate_server(b, clients, limit);
			wake_rate_client(b, &b->slot[i - 1], limit);
		}
		if (pid < 0) {
			rc = -errno;
			wake_why(out, "client rate: fork: %s", strerror(errno));
			goto out;
		}
	}
	/* Every client at the start line, the server alive. */
	uint64_t t0 = now_ns();
	while (atomic_load(&b->ready) < clients) {
		for (unsigned i = first; i < k->n && !rc; i++) {
			int r = wake_reaped(k, i, i == first ? "client-rate server" : "client-rate client",
					    out);
			if (r != 0)
				rc = r < 0 ? r : -ECHILD;
		}
		if (!rc && got_signal)
			rc = -EINTR;
		if (!rc && now_ns() - t0 > WAKE_STALL_NS) {
			wake_why(out, "client rate: %u of %u clients ready in %llu s",
				 atomic_load(&b->ready), clients, WAKE_STALL_NS / 1000000000ull);
			rc = -ETIMEDOUT;
		}
		if (rc) {
			if (rc == -ECHILD)
				wake_why(out, "client rate: a process ended before the start");
			goto out;
		}
		sleep_ns(WAKE_POLL_NS);
	}
	uint64_t start = now_ns();
	b->end_ns = start + (uint64_t)(seconds * 1e9);
	atomic_store(&b->go, 1);
	wake_futex_wake(&b->go, INT_MAX);
	/* Idle until the end (a look at the server now and then), so as not to take a core. */
	for (uint64_t now = start; !rc && now < b->end_ns; now = now_ns()) {
		uint64_t left = b->end_ns - now;
		sleep_ns(left < WAKE_SLICE_NS ? (long)left : WAKE_SLICE_NS);
		int r = wake_reaped(k, first, "client-rate server", out);
		if (got_signal)
			rc = -EINTR;
		else if (r != 0)
			rc = r < 0 ? r : -ECHILD;
	}
	if (rc) {
		if (rc == -ECHILD)
			wake_why(out, "client rate: the server ended early");
		goto out;
	}
	/* The clients end on their own at end_ns; the server when told. */
	rc = wake_reap(k, first + 1, k->n, b->end_ns + WAKE_REAP_NS, "client-rate client", out);
	if (!rc) {
		int r = wake_reaped(k, first, "client-rate server", out);
		if (r != 0) {
			wake_why(out, "client rate: the server ended early");
			rc = r < 0 ? r : -ECHILD;
		}
	}
	if (rc)
		goto out;
	atomic_store(&b->stop, 1);
	atomic_fetch_add(&b->doorbell, 1);
	wake_futex_wake(&b->doorbell, 1);
	rc = wake_reap(k, first, first + 1, now_ns() + WAKE_REAP_NS, "client-rate server", out);
	if (rc)
		goto out;
	uint64_t trips = 0, last = start;
	for (unsigned i = 0; i < clients; i++) {
		trips += b->slot[i].trips;
		if (b->slot[i].end_ns > last)
			last = b->slot[i].end_ns;
	}
	if (!trips || last == start) {
		wake_why(out, "client rate: no round trip in %.2f s", seconds);
		rc = -ETIMEDOUT;
		goto out;
	}
	out->clients = clients;
	out->rate_trips = trips;
	out->rate_ns = last - start;
	out->rate = (double)trips * 1e9 / (double)(last - start);
out:
	munmap(b, len);
	return rc;
}

int wake_floor(double seconds, unsigned clients, struct wake_result *out)
{
	struct wake_kids *k = calloc(1, sizeof(*k));
	uint64_t *samples = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (clients < 1 || clients > WAKE_CLIENTS_MAX || !(seconds > 0)) {
		free(k);
		wake_why(out, "clients 1..%u and seconds > 0", WAKE_CLIENTS_MAX);
		return -EINVAL;
	}
	samples = malloc(WAKE_TRIPS_MAX * sizeof(*samples));
	if (!k || !samples) {
		rc = -ENOMEM;
		wake_why(out, "%s", strerror(ENOMEM));
		goto out;
	}
	/* Buffered output must not be written again by a child (they _exit anyway). */
	fflush(NULL);
	rc = wake_futex(seconds / 3, samples, k, out);
	if (!rc)
		rc = wake_udp(seconds / 3, samples, k, out);
	if (!rc)
		rc = wake_rate(seconds / 3, clients, k, out);
out:
	if (k)
		wake_kill(k);
	free(k);
	free(samples);
	if (rc) {
		char why[sizeof(out->why)];
		memcpy(why, out->why, sizeof(why));
		memset(out, 0, sizeof(*out));
		memcpy(out->why, why, sizeof(why));
		if (!out->why[0])
			snprintf(out->why, sizeof(out->why), "%s", strerror(-rc));
		return rc;
	}
	out->chain_p50 = out->futex_p50 + out->udp_p50;
	out->seconds = seconds;
	return 0;
}

/* --- reports ------------------------------------------------------------------ */

void wake_print_text(FILE *f, const struct wake_result *w, const struct phase_result *main_pr,
		     const struct phase_result *base)
{
	const char *wl = workload_names[main_pr->workload];
	fprintf(f,
		"wakeup floor: futex round trip between two processes p50 %.1f us p99 %.1f us"
		" (%" PRIu64 " trips)\n",
		(double)w->futex_p50 / 1e3, (double)w->futex_p99 / 1e3, w->futex_n);
	fprintf(f,
		"wakeup floor: UDP round trip between two processes over 127.0.0.1 (%d B) p50 %.1f us"
		" p99 %.1f us (%" PRIu64 " trips)\n",
		WAKE_UDP_BYTES, (double)w->udp_p50 / 1e3, (double)w->udp_p99 / 1e3, w->udp_n);
	fprintf(f, "wakeup floor: chain floor of an in-memory put (futex p50 + UDP p50) %.1f us\n",
		(double)w->chain_p50 / 1e3);
	if (base)
		fprintf(f, "wakeup floor: baseline p50 / chain floor = %.2f\n",
			stats_ratio((double)base->p50, (double)w->chain_p50));
	fprintf(f, "wakeup floor: %s p50 / chain floor = %.2f\n", wl,
		stats_ratio((double)main_pr->p50, (double)w->chain_p50));
	fprintf(f,
		"wakeup floor: client-rate floor, %u client%s in lockstep with one server through"
		" futexes: %.0f round trips/s (%" PRIu64 " in %.2f s)\n",
		w->clients, w->clients == 1 ? "" : "s", w->rate, w->rate_trips,
		(double)w->rate_ns / 1e9);
	if (base)
		fprintf(f, "wakeup floor: baseline ops/s / client-rate floor = %.3f\n",
			stats_ratio(base->ops_per_s, w->rate));
	fprintf(f, "wakeup floor: %s ops/s / client-rate floor = %.3f\n", wl,
		stats_ratio(main_pr->ops_per_s, w->rate));
}

void wake_print_json(FILE *f, const struct wake_result *w, const struct phase_result *main_pr,
		     const struct phase_result *base)
{
	/* Own field names, apart from the phase's and the disk floor's. */
	fprintf(f,
		", \"wakeup_floor\": {\"wake_seconds\": %.6g, \"wake_futex_trips\": %" PRIu64
		", \"wake_futex_p50_ns\": %" PRIu64 ", \"wake_futex_p99_ns\": %" PRIu64
		", \"wake_udp_bytes\": %d, \"wake_udp_trips\": %" PRIu64
		", \"wake_udp_p50_ns\": %" PRIu64 ", \"wake_udp_p99_ns\": %" PRIu64
		", \"wake_chain_p50_ns\": %" PRIu64 ", \"wake_clients\": %u"
		", \"wake_client_trips\": %" PRIu64 ", \"wake_client_ns\": %" PRIu64
		", \"wake_client_rate\": %.1f, \"p50_over_chain_p50\": %.6g"
		", \"ops_per_s_over_client_rate\": %.6g",
		w->seconds, w->futex_n, w->futex_p50, w->futex_p99, WAKE_UDP_BYTES, w->udp_n,
		w->udp_p50, w->udp_p99, w->chain_p50, w->clients, w->rate_trips, w->rate_ns,
		w->rate, stats_ratio((double)main_pr->p50, (double)w->chain_p50),
		stats_ratio(main_pr->ops_per_s, w->rate));
	if (base)
		fprintf(f,
			", \"baseline_p50_over_chain_p50\": %.6g"
			", \"baseline_ops_per_s_over_client_rate\": %.6g",
			stats_ratio((double)base->p50, (double)w->chain_p50),
			stats_ratio(base->ops_per_s, w->rate));
	fputc('}', f);
}
