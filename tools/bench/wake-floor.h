// SPDX-License-Identifier: MIT
/*
 * pkv-bench --wakeup-floor (wake-floor.c): the machine's floors for an
 * in-memory put, what any put whose chain is client -> daemon (shared
 * memory + futex wake) -> peer (UDP) -> back cannot beat on this machine.
 * Needs only libc (tests/integration/test-bench-floor.sh runs it through
 * pkv-bench).
 */
#ifndef PKV_BENCH_WAKE_FLOOR_H
#define PKV_BENCH_WAKE_FLOOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define WAKE_CLIENTS_MAX 1024  /* pkv-bench's --clients at most */
#define WAKE_TRIPS_MAX (1u << 20) /* of each ping-pong */
#define WAKE_UDP_BYTES 128     /* each UDP ping's datagram, there and back */
#define WAKE_PEERS 2           /* the replicated floor's peers: three voters in all */
#define WAKE_PARTS 5           /* the measurements, one after the other */

/*
 * A client-rate floor: `clients` processes, each in lockstep with one
 * server process, trips round trips in ns, `rate` per second; with peers,
 * the server took each scan's words through `rounds` UDP round trips to
 * them before it answered, at the first echo or, with `all`, at every
 * peer's; with `all`, lat_n of client 0's round trips timed (ns).
 */
struct wake_rate_result {
	unsigned clients, peers;
	bool all;
	uint64_t trips, ns, rounds;
	double rate;
	uint64_t lat_n, p50, p99;
};

/* Latencies in ns. */
struct wake_result {
	/* Two processes, a word in a shared mapping, FUTEX_WAIT/FUTEX_WAKE. */
	uint64_t futex_n, futex_p50, futex_p99;
	/* Two processes, blocking UDP sockets on 127.0.0.1, WAKE_UDP_BYTES each way. */
	uint64_t udp_n, udp_p50, udp_p99;
	/* The chain floor of an in-memory put: futex_p50 + udp_p50. */
	uint64_t chain_p50;
	/* The client-rate floor: a server that answers at once. */
	struct wake_rate_result direct;
	/* The replicated-rate floor: a server that answers after a round to WAKE_PEERS peers. */
	struct wake_rate_result replicated;
	/*
	 * The fast-round floor: one client, a server that answers after the
	 * echoes of all WAKE_PEERS peers (the fast round's quorum, every
	 * voter), each round trip timed.
	 */
	struct wake_rate_result fast;
	double seconds; /* asked for, all parts together */
	char why[200];	/* on failure: what failed, and where */
};

/*
 * The five floors, a fifth of `seconds` each (at least WAKE_ROUNDS_MIN
 * round trips of each ping-pong, at most WAKE_TRIPS_MAX). 0 and *out
 * filled, or -errno with *out zeroed but for `why` (-EINVAL: clients
 * outside 1..WAKE_CLIENTS_MAX or seconds not positive; -EINTR: pkv-bench
 * got a signal). Every child process it forked is gone (exited, or killed
 * by pid and reaped) when it returns, on every path.
 */
int wake_floor(double seconds, unsigned clients, struct wake_result *out);

struct phase_result;

/*
 * The floors as text lines and as a JSON member ("wakeup_floor": {...},
 * led by ", "), each with the main phase's p50 over the chain floor and its
 * ops/s over the two client-rate floors; base: the baseline phase, or NULL.
 */
void wake_print_text(FILE *f, const struct wake_result *w, const struct phase_result *main_pr,
		     const struct phase_result *base);
void wake_print_json(FILE *f, const struct wake_result *w, const struct phase_result *main_pr,
		     const struct phase_result *base);

#endif
