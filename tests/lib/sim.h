/* SPDX-License-Identifier: MIT */
/*
 * sim.h — a deterministic cluster of paxos cores in one process.
 *
 * N nodes (ids 1..N), each a struct paxos + struct store + outbox, driven in
 * simulated time (µs). The network is seeded: per message latency (which
 * also reorders), loss and duplication; links can be cut one way or both
 * (partitions, including asymmetric ones). A node can be killed and
 * restarted: it comes back as "restarted, not durable" with an empty store
 * and must sync before its acceptor answers.
 *
 * Membership is an oracle standing in for heartbeats: every hb_us, each
 * node is told, for every peer, whether it hears it (peer up and the link
 * peer→node not cut), the peer's synced/fresh flags and epoch, and whether
 * the peer restarted since last time.
 *
 * Every client operation is recorded in a history; sim_check() verifies the
 * agreement property of DESIGN §3.2 over it (within a key's generation every
 * put and get that returns a value returns the same value), that learners
 * never disagree, that no core counted a violation, and that a get started
 * after an operation returned a value for the key does not answer
 * NOT_FOUND.
 */
#ifndef PKV_TEST_SIM_H
#define PKV_TEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "paxos.h"
#include "store.h"

#define SIM_MAX_NODES 7
#define SIM_MAX_KEYS 64

struct sim_config {
	uint64_t seed;
	unsigned n;		 /* nodes, ≤ SIM_MAX_NODES */
	unsigned loss_pm;	 /* per mille of messages lost */
	unsigned dup_pm;	 /* per mille duplicated */
	uint64_t lat_min_us, lat_max_us;
	uint64_t hb_us;		 /* membership refresh period */
	uint64_t retransmit_us;	 /* paxos config */
	uint64_t backoff_max_us; /* paxos config */
};

enum sim_op_kind { SIM_PUT, SIM_GET, SIM_KEYS };

struct sim_op {
	enum sim_op_kind kind;
	unsigned node;
	unsigned key;	   /* index into the key names "k0", "k1", … */
	char value[32];	   /* put: the proposed value */
	uint64_t start, end;
	bool done;
	bool lost;	   /* the node died before answering */
	int status;
	uint64_t gen;
	uint8_t result[64];
	uint32_t result_len;
	size_t n_keys;
};

struct sim_msg;

struct sim_node {
	bool up;
	struct store *store;
	struct pkv_outbox ob;
	struct paxos *p;
	uint32_t incarnation;
	uint32_t seen_inc[SIM_MAX_NODES + 1]; /* peers' incarnations last told */
	/* Counters kept across restarts. */
	uint64_t violations, epochs;
};

struct sim {
	struct sim_config cfg;
	uint64_t now;
	uint64_t rng;
	struct sim_node nodes[SIM_MAX_NODES + 1];
	bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* [from][to] */
	struct sim_msg **heap;
	size_t n_heap, cap_heap;
	uint64_t msg_seq;
	uint64_t next_hb;
	struct sim_op *ops;
	size_t n_ops, cap_ops;
	/* Figures. */
	uint64_t delivered, dropped, duplicated;
	uint64_t conflicts, forwards, rounds; /* summed over stopped cores */
};

/* Fills defaults for the fields left 0. */
void sim_init(struct sim *s, const struct sim_config *cfg);
void sim_free(struct sim *s);

uint64_t sim_rand(struct sim *s);
/* Uniform in [lo, hi]. */
uint64_t sim_range(struct sim *s, uint64_t lo, uint64_t hi);

/* Runs every event due up to and including time t; now = t afterwards. */
void sim_run_until(struct sim *s, uint64_t t);
/* Runs until every operation is done or time t; true when all are done. */
bool sim_run_until_done(struct sim *s, uint64_t t);

/* Client operations on node `node`; deadline relative to now (0: none). */
size_t sim_put(struct sim *s, unsigned node, unsigned key, const char *value, uint64_t timeout,
	       bool retry);
size_t sim_get(struct sim *s, unsigned node, unsigned key, uint64_t timeout, bool retry);
size_t sim_keys(struct sim *s, unsigned node, uint64_t timeout);

/* Network faults. */
void sim_cut(struct sim *s, unsigned from, unsigned to, bool cut);
void sim_isolate(struct sim *s, unsigned node, bool cut);
void sim_heal(struct sim *s);

/* Node faults. A killed node's pending operations are marked lost. */
void sim_kill(struct sim *s, unsigned node);
void sim_restart(struct sim *s, unsigned node);
bool sim_all_synced(const struct sim *s);

/*
 * Checks the history and the learners. Returns the number of problems found
 * and writes the first one (a line) into err.
 */
unsigned sim_check(const struct sim *s, char *err, size_t errlen);

/*
 * One randomized scenario: n from the seed (3/5/7), random network, faults,
 * concurrent clients on few keys, then heal and a final get of every key on
 * every node (liveness). Returns problems found (sim_check + liveness).
 */
struct sim_figures {
	unsigned n;
	size_t ops;
	uint64_t delivered, sim_time_us;
	unsigned kills, partitions;
	uint64_t conflicts, forwards, rounds;
};
unsigned sim_random_run(uint64_t seed, char *err, size_t errlen, struct sim_figures *fig);

#endif
