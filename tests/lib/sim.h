/* SPDX-License-Identifier: MIT */
/*
 * sim.h — a deterministic cluster of paxos cores in one process.
 *
 * N nodes (ids 1..N), each a struct paxos + struct store + outbox, driven in
 * simulated time (µs). The network is seeded: per message latency (which
 * also reorders), loss and duplication; links can be cut one way or both
 * (partitions, including asymmetric ones). A node can be killed and
 * restarted: it comes back as "restarted, not durable" with an empty store
 * and must sync before its acceptor answers — or, with cfg.durable, with the
 * state it had when it was killed, restored as pkvd restores its log.
 *
 * Membership is an oracle standing in for heartbeats: every hb_us, each
 * node is told, for every peer, whether it hears it (peer up and the link
 * peer→node not cut), the peer's synced/fresh flags and epoch, and whether
 * the peer restarted since last time; with cfg.lease, also its lease.
 *
 * Lifetimes: each node has a wall clock (a common base plus a fixed skew of
 * at most skew_ms), simulated processes live on nodes (spawned and killed
 * by the scenario; the owner's core is told of exits it watches), and puts
 * may bind keys to a process, a node, another key or an until instant.
 *
 * Membership faults (each off by default; while off none of them consumes a
 * random number or moves an event, so the trace hashes stay as they were):
 * cfg.cluster_size below n (more daemons than cluster_size, all voting);
 * sim_resize() applying a resize to one node only (a RESIZE that missed a
 * node); sim_restart_wiped() (the run dir was wiped: no state file); silent
 * link drops (sim_silence) that the membership oracle does not see; an
 * extra delay on a link (sim_delay_link), past the latency bound; and a
 * per-message filter (sim_set_filter) that drops or delays chosen messages,
 * for scripting an exact interleaving.
 *
 * Every client operation is recorded in a history; sim_check() verifies the
 * agreement property of docs/design.md §9 over it (within a key's generation every
 * put and get that returns a value returns the same value, and every learner
 * that learned a value for that generation learned the same one), that no
 * core counted a violation, and that a get started after an operation
 * returned a value for generation g does not answer NOT_FOUND unless g had
 * ended (been erased somewhere) before the get returned; with cfg.lease and
 * cfg.late_read_us, that no get answers a generation's value well after the
 * generation was seen ended (docs/design.md §5.1). A bucket drop that
 * returned OK ended every generation some operation had returned a value of
 * before the drop started.
 * sim_check_lifetimes() verifies, after the network healed and settled,
 * that no daemon still holds an ended generation or a value whose binding
 * has ended.
 */
#ifndef PKV_TEST_SIM_H
#define PKV_TEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "paxos.h"
#include "store.h"
#include "durable-hold.h"

#define SIM_MAX_NODES 7
#define SIM_MAX_KEYS 64
#define SIM_MAX_PROCS 64
#define SIM_WALL_BASE_MS 1700000000000ull

struct sim_config {
	uint64_t seed;
	unsigned n;		 /* nodes, ≤ SIM_MAX_NODES */
	unsigned loss_pm;	 /* per mille of messages lost */
	unsigned dup_pm;	 /* per mille duplicated */
	uint64_t lat_min_us, lat_max_us;
	uint64_t hb_us;		 /* membership refresh period */
	uint64_t retransmit_us;	 /* paxos config */
	uint64_t backoff_max_us; /* paxos config */
	uint64_t skew_ms;	 /* wall clocks differ by at most this much */
	/*
	 * Durable acceptor state: a killed node keeps its store as its disk and
	 * a restart restores it (paxos_restore) instead of syncing, so any
	 * number of nodes, all of them included, may be down at once. A learned
	 * chosen value is synced lazily by pkvd, so a restart may forget some:
	 * the simulation forgets each one with probability 1/2.
	 */
	bool durable;
	/*
	 * Durable nodes as pkvd runs them since the log's sync left the loop
	 * (docs/design.md §6.3): each node writes its log in batches, one at a
	 * time, each taking 1..sync_max_us; what a turn sends waits for the
	 * batch it depends on as pkvd's loop holds it (durable_hold_dep), and a
	 * kill keeps only what a completed sync wrote. 0: the disk is the
	 * whole store at the kill (every turn synced before it sent).
	 */
	uint64_t sync_max_us;
	uint64_t sync_min_us; /* 0: 1 */
	/*
	 * Old generations after collection (docs/design.md §4.6): per mille of
	 * PREPARE, ACCEPT, CHOSEN and ERASE messages kept aside (a few at a
	 * time) and, once their generation has ended somewhere and the
	 * collection delay has passed, sent again to a random node: a message
	 * of a collected key's old generation that arrives after the
	 * tombstone is gone, and later than the wire would let it. 0: off.
	 */
	unsigned late_old_pm;
	/*
	 * Every node's cluster_size at start (0: n). Below n, the daemons
	 * above cluster_size are configured and running all the same: they
	 * vote like the others (docs/design.md §5: they must not).
	 */
	unsigned cluster_size;
	/*
	 * The last `observers` nodes are configured observers (docs/design.md
	 * §5.2): never voters of configuration 0, and the membership oracle
	 * tells no pair of daemons that both do not vote about each other (no
	 * heartbeats between them). 0: none.
	 */
	unsigned observers;
	/*
	 * restart_grace_us of every core (docs/design.md §6.2): a lost node's
	 * pid bindings hold this long past the loss, and a durable node
	 * restarted within it after its kill takes its bindings back (keeps
	 * its binding incarnation), as pkvd's hand-over file decides. 0: none.
	 */
	uint64_t restart_grace_us;
	/* failure_timeout_us of every core (docs/design.md §4.2); 0: 1 s. */
	uint64_t failure_timeout_us;
	/*
	 * The lease (docs/design.md §5.1) as the oracle's heartbeats give it:
	 * at every heartbeat a node holds it until the next one while a
	 * majority of its voters (itself counted when a voter) hears it and
	 * is heard by it; after a lapse, and from its start, a peer counts
	 * only while it is synced and owes the node no erasure
	 * (paxos_erase_owed), as membership.c renews it. The lease ends at
	 * the heartbeat at which the peers count the node lost. false: the
	 * cores are never told a lease (they take it as held for good).
	 */
	bool lease;
	/*
	 * With the lease: sim_check reports a get that began more than this
	 * long after its generation was seen ended (a get that began after a
	 * value of it was returned answered not found, or a later generation)
	 * and answered the generation's value. 0: not checked.
	 */
	uint64_t late_read_us;
};

/* Bindings of a simulated put (mask: enum pkv_bind_flag). */
struct sim_bind {
	unsigned mask;
	unsigned proc;	 /* PID: index of a process (on the putting node) */
	unsigned node;	 /* NODE */
	unsigned key;	 /* KEY: the other key's index */
	uint64_t ttl_ms; /* UNTIL: the putting node's wall clock + ttl */
};

struct sim_proc {
	unsigned node;
	int32_t pid;
	uint64_t start_time;
	bool alive;
};

/* What the cluster decided for one generation of one key. */
struct sim_gen {
	bool set;
	uint8_t v[64];
	uint32_t len;
	bool erased;
	uint64_t erased_at; /* first time a node erased it */
	uint32_t erased_by; /* bit i: node i erased it (cleared when i is killed:
			     * an erasure held only by a daemon that died with
			     * no durable state is lost, like any of its state) */
};

enum sim_op_kind { SIM_PUT, SIM_GET, SIM_KEYS, SIM_DROP, SIM_CHANGE };

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
	unsigned bind_mask; /* put: the bindings asked for */
};

struct sim_msg;

struct sim_node {
	bool up;
	struct store *store;
	struct pkv_outbox ob;
	struct paxos *p;
	uint32_t incarnation;
	uint32_t bind_inc;   /* its pid bindings' incarnation (cfg.bind_inc) */
	uint64_t killed_at;  /* when it went down */
	uint32_t seen_inc[SIM_MAX_NODES + 1]; /* peers' incarnations last told */
	/* Counters kept across restarts. */
	uint64_t violations, epochs;
	int64_t skew_ms; /* this node's wall clock minus the true one */
	struct store *disk; /* durable: the killed node's state, until restart */
	/* durable with sync_max_us: the log as synced (snap), the batch being
	 * written, its tickets as persist.c counts them, what waits for them */
	struct sim_snap {
		struct paxos_saved *v;
		size_t n;
		bool valid;
	} snap, flight;
	uint64_t t_next, t_done, t_flight, t_urgent;
	uint64_t sync_done_at;
	struct durable_hold hold;
	/* The cluster_size of its configuration file (cfg.cluster_size). */
	unsigned cluster_size;
	/* Its state file's configuration (PAXOS_E_CONF); gone when wiped. */
	struct pkv_conf conf;
	/* Heartbeats reach it without the peers' configuration (sim_hide_conf). */
	bool conf_hidden;
	uint64_t conf_changes; /* configurations it moved to, across restarts */
	uint64_t lease_until;  /* cfg.lease: the lease it holds (0: none yet) */
};

/*
 * A per-message fault: called for every message a core sends to a peer
 * (after the cut check, before loss and latency are drawn). Returns
 * SIM_FILTER_PASS, SIM_FILTER_DROP (lost; the membership oracle does not
 * notice), or an extra delay in µs added to the message's latency.
 */
struct sim;
typedef uint64_t (*sim_filter_fn)(struct sim *s, uint32_t from, uint32_t to,
				  const struct pkv_msg *m, void *arg);
#define SIM_FILTER_PASS 0
#define SIM_FILTER_DROP UINT64_MAX

struct sim {
	struct sim_config cfg;
	uint64_t now;
	uint64_t rng;
	struct sim_node nodes[SIM_MAX_NODES + 1];
	bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* [from][to] */
	/* [from][to]: paxos messages lost, heartbeats still heard (sim_silence). */
	bool silent[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	/* [from][to]: µs added to every message sent on the link (sim_delay_link). */
	uint64_t delay[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	sim_filter_fn filter;
	void *filter_arg;
	struct sim_msg **heap;
	size_t n_heap, cap_heap;
	uint64_t msg_seq;
	uint64_t next_hb;
	struct sim_op *ops;
	size_t n_ops, cap_ops;
	struct sim_proc procs[SIM_MAX_PROCS];
	unsigned n_procs;
	int32_t next_pid;
	struct sim_gen *gens[SIM_MAX_KEYS]; /* indexed by generation */
	size_t cap_gens[SIM_MAX_KEYS];
	uint64_t max_erased[SIM_MAX_KEYS];
	/* late_old_pm: the messages kept aside, and how many were sent late. */
	struct sim_msg *attic[16];
	uint64_t late_old_sent;
	unsigned learn_conflicts;
	char learn_err[200];
	uint64_t erasures, bound_puts, invalid_puts;
	/* Figures. */
	uint64_t delivered, dropped, duplicated;
	uint64_t silenced, delayed; /* by the faults above (filter included) */
	uint64_t conflicts, forwards, rounds; /* summed over stopped cores */
	uint64_t fast_rounds, fast_chosen, fast_refused;
	/*
	 * The trace hash: FNV-1a over every message a core sends (time, from,
	 * to, every field) and every completion it reports (time, node, request,
	 * status, generation, value), in the order they happen. Two builds of
	 * the core that behave the same give the same hash for every seed.
	 */
	uint64_t trace;
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
size_t sim_put_bound(struct sim *s, unsigned node, unsigned key, const char *value,
		     const struct sim_bind *b, uint64_t timeout, bool retry);
size_t sim_get(struct sim *s, unsigned node, unsigned key, uint64_t timeout, bool retry);

/* Processes: spawn on a node (returns the index, or UINT_MAX when full); kill. */
unsigned sim_spawn(struct sim *s, unsigned node);
void sim_proc_kill(struct sim *s, unsigned proc);
/* A node's wall clock now (ms). */
uint64_t sim_wall(const struct sim *s, unsigned node);
size_t sim_keys(struct sim *s, unsigned node, uint64_t timeout);
/* Drops the bucket (every key) from node `node`. */
size_t sim_drop(struct sim *s, unsigned node, uint64_t timeout);

/* Network faults. */
void sim_cut(struct sim *s, unsigned from, unsigned to, bool cut);
void sim_isolate(struct sim *s, unsigned node, bool cut);
/* Ends every cut, silent drop and link delay (not the filter). */
void sim_heal(struct sim *s);

/*
 * Faults the membership oracle does not see. sim_silence: every paxos
 * message from `from` to `to` is lost (sent from now on, or in flight),
 * while heartbeats still say the peer is up. sim_delay_link: every message
 * sent on the link from now on takes `extra_us` more than its drawn
 * latency (0: none); the delay bound the restart quiet period assumes
 * (docs/design.md §6.1) holds only while extra_us stays below
 * ballot_life_us. sim_set_filter: a per-message fault (NULL: none).
 */
void sim_silence(struct sim *s, unsigned from, unsigned to, bool silent);
void sim_delay_link(struct sim *s, unsigned from, unsigned to, uint64_t extra_us);
void sim_set_filter(struct sim *s, sim_filter_fn fn, void *arg);

/*
 * Membership. sim_change: node `node` proposes the voters `voters` (bit
 * id-1 each; one added or removed) as the next configuration
 * (paxos_change_voters); an op of kind SIM_CHANGE, whose result holds the
 * configuration chosen. sim_hide_conf: heartbeats reach the node without
 * the configuration they carry, so it learns a change only from the
 * CHOSEN of its key (a node that misses a change for as long as that).
 * sim_voters: the voters node `node` counts with now.
 */
size_t sim_change(struct sim *s, unsigned node, uint64_t voters, uint64_t timeout);
void sim_hide_conf(struct sim *s, unsigned node, bool hidden);
uint64_t sim_voters(const struct sim *s, unsigned node);

/*
 * Authority faults (docs/design.md §3.5, §4.4): a holder of node `from`'s
 * key sends `m` to `to` as that node, outside its core's rules (a CHOSEN
 * of a value nobody proposed, a DROP of a record nobody chose). The
 * message goes through the network like any other. A value that starts
 * with SIM_FORGED is one nobody proposed: sim_check reports any learner
 * or operation that holds one.
 */
#define SIM_FORGED "forged:"
void sim_forge(struct sim *s, unsigned from, unsigned to, const struct pkv_msg *m);
/* The store of node `node` (up or not), and a key's name in the simulation's bucket. */
struct store_entry *sim_entry(const struct sim *s, unsigned node, unsigned key);
/* Key `key` on node `node` (up): its chosen generation, 0 when it holds no chosen value. */
uint64_t sim_chosen_gen(const struct sim *s, unsigned node, unsigned key);

/* Node faults. A killed node's pending operations are marked lost. */
void sim_kill(struct sim *s, unsigned node);
/* A batch of node's log is being written (sync_max_us): a kill now falls
 * between what the node sent and the sync it depends on. */
bool sim_sync_in_flight(const struct sim *s, unsigned node);
void sim_restart(struct sim *s, unsigned node);
/*
 * Restarts a killed node as if its run dir had been wiped: no state file,
 * so the core starts fresh (cfg.fresh, not cfg.restarted) and, with
 * cfg.durable, the disk is gone too. The incarnation still grows (pkvd
 * takes it from the clock).
 */
/* Restarts a node whose run dir was wiped: no state, no durable log; a
 * first boot only with bootstrap (pkvd --bootstrap), else a lost node. */
void sim_restart_wiped(struct sim *s, unsigned node, bool bootstrap);
bool sim_all_synced(const struct sim *s);

/*
 * Checks the history and the learners. Returns the number of problems found
 * and writes the first one (a line) into err.
 */
unsigned sim_check(const struct sim *s, char *err, size_t errlen);
/*
 * After heal and settle: no up node holds a generation some node erased,
 * nor a learned value whose binding the simulation knows has ended (a dead
 * process or an owner restarted since, an until past on every clock, a key
 * binding whose key moved on on that node). Returns problems found.
 */
unsigned sim_check_lifetimes(const struct sim *s, char *err, size_t errlen);

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
	unsigned durable, whole_cluster_kills;
	uint64_t conflicts, forwards, rounds;
	uint64_t fast_rounds, fast_chosen, fast_refused; /* the fast round (paxos-acceptor.c) */
	uint64_t bound_puts, invalid_puts, erasures, proc_kills;
	unsigned drops, drops_ok;
	unsigned changes;      /* changes of the voters proposed */
	unsigned observers;    /* configured observers (sim_config.observers) */
	uint64_t conf_changes; /* configurations moved to, summed over the nodes */
	uint64_t trace; /* struct sim's trace hash at the end of the run */
	uint64_t late_old;  /* old-generation messages sent again after collection */
	uint64_t collected; /* tombstones collected, summed over the live cores */
};
unsigned sim_random_run(uint64_t seed, char *err, size_t errlen, struct sim_figures *fig);
/* late_old_pm: sends one kept message of an ended generation again, if any
 * is due (kept at least `age_us`). Returns true when one was sent. */
bool sim_send_late_old(struct sim *s, uint64_t age_us);

#endif
