// SPDX-License-Identifier: MIT
/*
 * wake-floor.c — the machine's floors for an in-memory put (--wakeup-floor),
 * so a put's latency and rate are read against what this machine can do at
 * all in the same run. An in-memory put goes client -> daemon (a slot in
 * shared memory and a futex wake) -> a peer daemon (UDP) -> back -> client
 * (docs/design.md §3.4, the fast round): at least one futex round trip
 * between two processes and one UDP round trip between two processes.
 * Five measurements, one after the other, a fifth of the time each:
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
 *   replicated  the same, but the server takes the words posted at each
 *           scan through one UDP round trip to WAKE_PEERS peer processes
 *           (one datagram to each, the batch answered at the first echo,
 *           a majority of three) before it answers them: what three
 *           voters, each a process of its own, reach here with one round
 *           in flight. A reference rather than a bound: the CPUs idle now
 *           and then while a round waits, which overlapping rounds could
 *           use.
 *   fast    one client in lockstep with the same server, which takes each
 *           request through a UDP round trip to WAKE_PEERS peers and
 *           answers once every peer echoed (the fast round's quorum: all
 *           three voters, docs/design.md §3.4); each round trip timed.
 *           The shape of a lone client's fast put with its three voters
 *           on this machine, and the scheduler's share in it: the peers
 *           wake together and share the CPUs with the server.
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
 * The children of the parts, in the order forked: the futex ping-pong's,
 * the UDP ping-pong's, each rate's peers, server and clients; pid 0 once
 * reaped.
 */
struct wake_kids {
	pid_t pid[2 + 2 * (WAKE_PEERS + 1 + WAKE_CLIENTS_MAX)];
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

/*
 * Waits for children [from, to) to end on their own until `deadline`, doing
 * poke(arg) first and then every WAKE_SLICE_NS while they run (NULL: none):
 * 0 or -errno.
 */
static int wake_reap_poking(struct wake_kids *k, unsigned from, unsigned to, uint64_t deadline,
			    const char *who, struct wake_result *out, void (*poke)(const void *),
			    const void *arg)
{
	uint64_t next = 0;
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
		uint64_t now = now_ns();
		if (now > deadline) {
			wake_why(out, "%s: did not end in time", who);
			return -ETIMEDOUT;
		}
		if (poke && now >= next) {
			poke(arg);
			next = now + WAKE_SLICE_NS;
		}
		sleep_ns(WAKE_POLL_NS);
	}
}

/* Waits for children [from, to) to end on their own until `deadline`: 0 or -errno. */
static int wake_reap(struct wake_kids *k, unsigned from, unsigned to, uint64_t deadline,
		     const char *who, struct wake_result *out)
{
	return wake_reap_poking(k, from, to, deadline, who, out, NULL, NULL);
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

/* Echoes each datagram until the stop datagram (or the limit, or `most` echoes). */
static _Noreturn void wake_udp_child(int fd, uint64_t limit, uint64_t most)
{
	uint8_t buf[WAKE_UDP_BYTES];
	for (uint64_t echoes = 0; echoes <= most;) {
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

/* A ping's datagram: its sequence number, its kind, filler. */
static void wake_udp_fill(uint8_t buf[WAKE_UDP_BYTES], uint64_t seq, uint8_t kind)
{
	memset(buf, 0x5a, WAKE_UDP_BYTES);
	memcpy(buf, &seq, sizeof(seq));
	buf[8] = kind;
}

/* One ping of sequence number seq sent: 0 or -errno. */
static int wake_udp_ping(int fd, uint64_t seq, uint8_t kind, struct wake_result *out)
{
	uint8_t buf[WAKE_UDP_BYTES];
	wake_udp_fill(buf, seq, kind);
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
		wake_udp_child(fb, end + WAKE_GRACE_NS, 2ull * WAKE_TRIPS_MAX);
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

/* --- the client-rate floors ----------------------------------------------------- */

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
	uint64_t rounds;       /* the server's rounds to its peers, written at its end */
	uint32_t all;          /* a round waits for every peer's echo, not the first */
	uint64_t *lat;         /* client 0's round trips (ns), a shared map; NULL: untimed */
	uint64_t lat_n;        /* how many, written by client 0 at its end */
	/* The server's sleep: `sleeping` set while it is (about to be) on the doorbell. */
	_Atomic uint32_t sleeping __attribute__((aligned(64)));
	_Atomic uint32_t doorbell;
	struct wake_rate_slot slot[] __attribute__((aligned(64)));
};

/* The replicated floor's server: its socket and its peers' addresses (no peers: none). */
struct wake_rate_net {
	int fd;
	unsigned peers;
	struct sockaddr_in peer[WAKE_PEERS];
};

static bool wake_rate_posted(uint32_t w)
{
	return w == WAKE_SLOT_POSTED || w == WAKE_SLOT_WAITING;
}

/*
 * The datagram of round seq (or the stop) to every peer, each tried even
 * when one before failed: 0 or the first errno value.
 */
static int wake_rate_send(const struct wake_rate_net *net, uint64_t seq, uint8_t kind)
{
	uint8_t buf[WAKE_UDP_BYTES];
	wake_udp_fill(buf, seq, kind);
	int e = 0;
	for (unsigned i = 0; i < net->peers; i++) {
		errno = 0;
		if (sendto(net->fd, buf, sizeof(buf), 0, (const struct sockaddr *)&net->peer[i],
			   sizeof(net->peer[i])) != (ssize_t)sizeof(buf) && !e)
			e = errno ? errno : EIO;
	}
	return e;
}

/*
 * One round: round seq's datagram to every peer, back at the first echo of
 * it (the server and one peer: two of three), or with `all` at the echoes
 * of every peer (the fast round's quorum: every voter); the other echoes
 * are read and passed over in later rounds. Sent again after
 * WAKE_RESEND_NS without the echoes it waits for. 0 or an errno value.
 */
static int wake_rate_round(const struct wake_rate_net *net, uint64_t seq, bool all,
			   uint64_t limit)
{
	uint64_t sent = now_ns();
	uint32_t heard = 0, want = all ? (1u << net->peers) - 1 : 0;
	int e = wake_rate_send(net, seq, WAKE_UDP_PING);
	while (!e) {
		uint8_t buf[WAKE_UDP_BYTES + 1];
		uint64_t got;
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		ssize_t r = recvfrom(net->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
				     &from_len);
		if (r == WAKE_UDP_BYTES) {
			memcpy(&got, buf, sizeof(got));
			for (unsigned i = 0; got == seq && i < net->peers; i++)
				if (from.sin_port == net->peer[i].sin_port)
					heard |= 1u << i;
			if (heard && (heard & want) == want)
				return 0;
			continue;
		}
		if (r < 0 && !wake_udp_again(errno))
			return errno;
		uint64_t now = now_ns();
		if (now > limit)
			return ETIMEDOUT;
		if (now - sent > WAKE_RESEND_NS) {
			sent = now;
			e = wake_rate_send(net, seq, WAKE_UDP_PING);
		}
	}
	return e;
}

/*
 * Answers every word posted at the scan, after a round to the peers if it
 * has any: how many it answered, or -errno.
 */
static int wake_rate_scan(struct wake_rate_board *b, unsigned clients,
			  const struct wake_rate_net *net, uint64_t limit)
{
	static uint16_t taken[WAKE_CLIENTS_MAX];
	unsigned n = 0;
	for (unsigned i = 0; i < clients; i++)
		if (wake_rate_posted(atomic_load(&b->slot[i].word)))
			taken[n++] = (uint16_t)i;
	if (n && net->peers) {
		int e = wake_rate_round(net, ++b->rounds, b->all != 0, limit);
		if (e)
			return -e;
	}
	for (unsigned j = 0; j < n; j++) {
		struct wake_rate_slot *s = &b->slot[taken[j]];
		if (atomic_exchange(&s->word, WAKE_SLOT_ANSWERED) == WAKE_SLOT_WAITING)
			wake_futex_wake(&s->word, 1);
	}
	return (int)n;
}

static _Noreturn void wake_rate_server(struct wake_rate_board *b, unsigned clients,
				       const struct wake_rate_net *net, uint64_t limit)
{
	for (;;) {
		if (atomic_load(&b->stop))
			_exit(wake_rate_send(net, 0, WAKE_UDP_STOP));
		if (now_ns() > limit)
			_exit(ETIMEDOUT);
		int n = wake_rate_scan(b, clients, net, limit);
		if (n < 0)
			_exit(-n);
		if (n)
			continue;
		/*
		 * Asleep only when no word is posted after `sleeping` is set: a
		 * client posts, then reads `sleeping`; so either this scan sees
		 * its word or the client rings the doorbell, which then differs
		 * from the value read here and the wait returns at once.
		 */
		atomic_store(&b->sleeping, 1);
		uint32_t bell = atomic_load(&b->doorbell);
		n = wake_rate_scan(b, clients, net, limit);
		if (n < 0)
			_exit(-n);
		if (!n && !atomic_load(&b->stop))
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
	uint64_t trips = 0, end = b->end_ns, n_lat = 0;
	uint64_t *lat = s == &b->slot[0] ? b->lat : NULL;
	/* The loop's own clock reading starts the trip: no extra one per trip. */
	uint64_t t0;
	while (trips < WAKE_RATE_TRIPS_MAX && (t0 = now_ns()) < end) {
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
		if (lat && n_lat < WAKE_TRIPS_MAX)
			lat[n_lat++] = now_ns() - t0;
	}
	if (lat)
		b->lat_n = n_lat;
	s->trips = trips;
	s->end_ns = now_ns();
	_exit(0);
}

/*
 * The replicated floor's sockets, made before the fork: the server's, and
 * one per peer, connected to the server's. 0 or -errno (the made ones
 * closed by the caller: every fd starts at -1).
 */
static int wake_rate_sockets(struct wake_rate_net *net, int *peer_fd, unsigned peers,
			     struct wake_result *out)
{
	struct sockaddr_in srv;
	net->fd = wake_udp_socket(&srv);
	if (net->fd < 0) {
		wake_why(out, "replicated rate: a socket on 127.0.0.1: %s", strerror(-net->fd));
		return net->fd;
	}
	for (unsigned i = 0; i < peers; i++) {
		peer_fd[i] = wake_udp_socket(&net->peer[i]);
		if (peer_fd[i] < 0) {
			wake_why(out, "replicated rate: a socket on 127.0.0.1: %s",
				 strerror(-peer_fd[i]));
			return peer_fd[i];
		}
		if (connect(peer_fd[i], (struct sockaddr *)&srv, sizeof(srv)) != 0) {
			int e = errno;
			wake_why(out, "replicated rate: connect: %s", strerror(e));
			return -e;
		}
		net->peers++;
	}
	return 0;
}

/* The stop to every peer again (a full queue drops it, or the send fails). */
static void wake_rate_stop_peers(const void *net)
{
	(void)wake_rate_send(net, 0, WAKE_UDP_STOP);
}

/*
 * Ends the server, then its peers. The server sends each peer a stop as it
 * ends, but only the first echo of a round counts, so the slower peer may
 * be behind on a queue full of pings, and a stop that finds the queue full
 * is dropped: that peer then waited out its limit ("did not end in time",
 * seen on a loaded machine). So the stop also goes from here, through the
 * server's socket (the peers hear only it), every WAKE_SLICE_NS until the
 * peers are gone. 0 or -errno.
 */
static int wake_rate_end(struct wake_kids *k, unsigned first, unsigned srv,
			 struct wake_rate_board *b, const struct wake_rate_net *net,
			 struct wake_result *out)
{
	atomic_store(&b->stop, 1);
	atomic_fetch_add(&b->doorbell, 1);
	wake_futex_wake(&b->doorbell, 1);
	int rc = wake_reap(k, srv, srv + 1, now_ns() + WAKE_REAP_NS, "the server", out);
	int r = wake_reap_poking(k, first, srv, now_ns() + WAKE_REAP_NS, "a peer", out,
				 wake_rate_stop_peers, net);
	return r ? r : rc;
}

/*
 * One client-rate floor: `clients` clients and their server, which takes
 * each scan's words through a round to `peers` echoing processes first
 * (0: none), answered at the first echo or, with `all`, at every peer's
 * (the fast-round floor, which also times client 0's round trips). 0 and
 * *r filled, or -errno.
 */
static int wake_rate(double seconds, unsigned clients, unsigned peers, bool all,
		     struct wake_kids *k, struct wake_rate_result *res, struct wake_result *out)
{
	const char *what = all ? "fast round" : peers ? "replicated rate" : "client rate";
	size_t len = sizeof(struct wake_rate_board) + clients * sizeof(struct wake_rate_slot);
	size_t lat_len = all ? WAKE_TRIPS_MAX * sizeof(uint64_t) : 0;
	struct wake_rate_net net = {.fd = -1};
	int peer_fd[WAKE_PEERS] = {-1, -1};
	struct wake_rate_board *b = wake_map(len);
	uint64_t *lat = all && b ? wake_map(lat_len) : NULL;
	if (!b || (all && !lat)) {
		int e = errno;
		wake_why(out, "%s: mmap: %s", what, strerror(e));
		if (b)
			munmap(b, len);
		return -e;
	}
	b->all = all;
	b->lat = lat;
	int rc = peers ? wake_rate_sockets(&net, peer_fd, peers, out) : 0;
	if (rc)
		goto out;
	/* Generous: forking and starting C clients on a loaded machine. */
	uint64_t limit = now_ns() + (uint64_t)(seconds * 1e9) + 2 * WAKE_GRACE_NS;
	unsigned first = k->n;	     /* the peers, then the server, then its clients */
	unsigned srv = first + peers;
	for (unsigned i = 0; i < peers + 1 + clients; i++) {
		pid_t pid = wake_fork(k);
		if (pid == 0 && i < peers) {
			close(net.fd);
			wake_udp_child(peer_fd[i], limit, WAKE_RATE_TRIPS_MAX);
		}
		if (pid == 0 && i == peers)
			wake_rate_server(b, clients, &net, limit);
		if (pid == 0)
			wake_rate_client(b, &b->slot[i - peers - 1], limit);
		if (pid < 0) {
			rc = -errno;
			wake_why(out, "%s: fork: %s", what, strerror(errno));
			goto out;
		}
	}
	/* Every client at the start line, the server and its peers alive. */
	uint64_t t0 = now_ns();
	while (atomic_load(&b->ready) < clients) {
		for (unsigned i = first; i < k->n && !rc; i++) {
			int r = wake_reaped(k, i, i == srv ? "the server" : "a peer or client", out);
			if (r != 0)
				rc = r < 0 ? r : -ECHILD;
		}
		if (!rc && got_signal)
			rc = -EINTR;
		if (!rc && now_ns() - t0 > WAKE_STALL_NS) {
			wake_why(out, "%s: %u of %u clients ready in %llu s", what,
				 atomic_load(&b->ready), clients, WAKE_STALL_NS / 1000000000ull);
			rc = -ETIMEDOUT;
		}
		if (rc) {
			if (rc == -ECHILD)
				wake_why(out, "%s: a process ended before the start", what);
			goto out;
		}
		sleep_ns(WAKE_POLL_NS);
	}
	uint64_t start = now_ns();
	b->end_ns = start + (uint64_t)(seconds * 1e9);
	atomic_store(&b->go, 1);
	wake_futex_wake(&b->go, INT_MAX);
	/* Idle until the end (a look at the server and its peers now and then). */
	for (uint64_t now = start; !rc && now < b->end_ns; now = now_ns()) {
		uint64_t left = b->end_ns - now;
		sleep_ns(left < WAKE_SLICE_NS ? (long)left : WAKE_SLICE_NS);
		for (unsigned i = first; i <= srv && !rc; i++) {
			int r = wake_reaped(k, i, i == srv ? "the server" : "a peer", out);
			if (r != 0)
				rc = r < 0 ? r : -ECHILD;
		}
		if (!rc && got_signal)
			rc = -EINTR;
	}
	if (rc) {
		if (rc == -ECHILD)
			wake_why(out, "%s: the server or a peer ended early", what);
		goto out;
	}
	/* The clients end on their own at end_ns; the server when told, its peers by it. */
	rc = wake_reap(k, srv + 1, k->n, b->end_ns + WAKE_REAP_NS, "a client", out);
	if (rc)
		goto out;
	rc = wake_rate_end(k, first, srv, b, &net, out);
	if (rc)
		goto out;
	uint64_t trips = 0, last = start;
	for (unsigned i = 0; i < clients; i++) {
		trips += b->slot[i].trips;
		if (b->slot[i].end_ns > last)
			last = b->slot[i].end_ns;
	}
	if (!trips || last == start) {
		wake_why(out, "%s: no round trip in %.2f s", what, seconds);
		rc = -ETIMEDOUT;
		goto out;
	}
	*res = (struct wake_rate_result){.clients = clients,
					 .peers = peers,
					 .all = all,
					 .trips = trips,
					 .ns = last - start,
					 .rounds = b->rounds,
					 .rate = (double)trips * 1e9 / (double)(last - start)};
	if (lat) {
		res->lat_n = b->lat_n;
		stats_p50_p99(lat, b->lat_n, &res->p50, &res->p99);
	}
out:
	if (net.fd >= 0)
		close(net.fd);
	for (unsigned i = 0; i < WAKE_PEERS; i++)
		if (peer_fd[i] >= 0)
			close(peer_fd[i]);
	if (lat)
		munmap(lat, lat_len);
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
	double part = seconds / WAKE_PARTS;
	rc = wake_futex(part, samples, k, out);
	if (!rc)
		rc = wake_udp(part, samples, k, out);
	if (!rc)
		rc = wake_rate(part, clients, 0, false, k, &out->direct, out);
	if (!rc)
		rc = wake_rate(part, clients, WAKE_PEERS, false, k, &out->replicated, out);
	if (!rc)
		rc = wake_rate(part, 1, WAKE_PEERS, true, k, &out->fast, out);
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
	const struct wake_rate_result *d = &w->direct, *r = &w->replicated;
	fprintf(f,
		"wakeup floor: client-rate floor, %u client%s in lockstep with one server through"
		" futexes: %.0f round trips/s (%" PRIu64 " in %.2f s)\n",
		d->clients, d->clients == 1 ? "" : "s", d->rate, d->trips, (double)d->ns / 1e9);
	if (base)
		fprintf(f, "wakeup floor: baseline ops/s / client-rate floor = %.3f\n",
			stats_ratio(base->ops_per_s, d->rate));
	fprintf(f, "wakeup floor: %s ops/s / client-rate floor = %.3f\n", wl,
		stats_ratio(main_pr->ops_per_s, d->rate));
	fprintf(f,
		"wakeup floor: replicated-rate floor, the same with each batch taken through a UDP"
		" round trip to %u peer processes (answered at the first echo): %.0f round trips/s"
		" (%" PRIu64 " in %.2f s, %.1f a batch)\n",
		r->peers, r->rate, r->trips, (double)r->ns / 1e9,
		stats_ratio((double)r->trips, (double)r->rounds));
	if (base)
		fprintf(f, "wakeup floor: baseline ops/s / replicated-rate floor = %.3f\n",
			stats_ratio(base->ops_per_s, r->rate));
	fprintf(f, "wakeup floor: %s ops/s / replicated-rate floor = %.3f\n", wl,
		stats_ratio(main_pr->ops_per_s, r->rate));
	const struct wake_rate_result *x = &w->fast;
	fprintf(f,
		"wakeup floor: fast-round floor, 1 client in lockstep with one server that answers"
		" after the echoes of all %u peer processes (every voter): p50 %.1f us p99 %.1f us"
		" (%" PRIu64 " trips)\n",
		x->peers, (double)x->p50 / 1e3, (double)x->p99 / 1e3, x->lat_n);
	if (base)
		fprintf(f, "wakeup floor: baseline p50 / fast-round floor = %.2f\n",
			stats_ratio((double)base->p50, (double)x->p50));
	fprintf(f, "wakeup floor: %s p50 / fast-round floor = %.2f\n", wl,
		stats_ratio((double)main_pr->p50, (double)x->p50));
}

void wake_print_json(FILE *f, const struct wake_result *w, const struct phase_result *main_pr,
		     const struct phase_result *base)
{
	const struct wake_rate_result *d = &w->direct, *r = &w->replicated, *x = &w->fast;
	/* Own field names, apart from the phase's and the disk floor's. */
	fprintf(f,
		", \"wakeup_floor\": {\"wake_seconds\": %.6g, \"wake_futex_trips\": %" PRIu64
		", \"wake_futex_p50_ns\": %" PRIu64 ", \"wake_futex_p99_ns\": %" PRIu64
		", \"wake_udp_bytes\": %d, \"wake_udp_trips\": %" PRIu64
		", \"wake_udp_p50_ns\": %" PRIu64 ", \"wake_udp_p99_ns\": %" PRIu64
		", \"wake_chain_p50_ns\": %" PRIu64 ", \"wake_clients\": %u"
		", \"wake_client_trips\": %" PRIu64 ", \"wake_client_ns\": %" PRIu64
		", \"wake_client_rate\": %.1f, \"p50_over_chain_p50\": %.6g"
		", \"ops_per_s_over_client_rate\": %.6g, \"wake_replicated_peers\": %u"
		", \"wake_replicated_trips\": %" PRIu64 ", \"wake_replicated_ns\": %" PRIu64
		", \"wake_replicated_rounds\": %" PRIu64 ", \"wake_replicated_rate\": %.1f"
		", \"ops_per_s_over_replicated_rate\": %.6g, \"wake_fast_peers\": %u"
		", \"wake_fast_trips\": %" PRIu64 ", \"wake_fast_p50_ns\": %" PRIu64
		", \"wake_fast_p99_ns\": %" PRIu64 ", \"p50_over_fast_p50\": %.6g",
		w->seconds, w->futex_n, w->futex_p50, w->futex_p99, WAKE_UDP_BYTES, w->udp_n,
		w->udp_p50, w->udp_p99, w->chain_p50, d->clients, d->trips, d->ns, d->rate,
		stats_ratio((double)main_pr->p50, (double)w->chain_p50),
		stats_ratio(main_pr->ops_per_s, d->rate), r->peers, r->trips, r->ns, r->rounds,
		r->rate, stats_ratio(main_pr->ops_per_s, r->rate), x->peers, x->lat_n, x->p50,
		x->p99, stats_ratio((double)main_pr->p50, (double)x->p50));
	if (base)
		fprintf(f,
			", \"baseline_p50_over_chain_p50\": %.6g"
			", \"baseline_ops_per_s_over_client_rate\": %.6g"
			", \"baseline_ops_per_s_over_replicated_rate\": %.6g"
			", \"baseline_p50_over_fast_p50\": %.6g",
			stats_ratio((double)base->p50, (double)w->chain_p50),
			stats_ratio(base->ops_per_s, d->rate), stats_ratio(base->ops_per_s, r->rate),
			stats_ratio((double)base->p50, (double)x->p50));
	fputc('}', f);
}
