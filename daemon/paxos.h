/* SPDX-License-Identifier: MIT */
/*
 * paxos.h — per-key write-once Basic Paxos: acceptor, proposer, learner.
 *
 * The module is pure: messages and time go in, messages and effects come out.
 * It reads no clock (every call takes `now`, µs of a monotonic clock), does no
 * I/O, has no global state, and takes its randomness from a seed in the
 * config. One `struct paxos` per daemon.
 *
 * Wiring (what the event loop does):
 *
 *   store = store_new(); pkv_outbox_init(&ob);
 *   p = paxos_new(&cfg, store, &ob);
 *   for each authenticated message m from node `from`:
 *           paxos_receive(p, from, &m, now);
 *   for each heartbeat from a peer:  paxos_peer_update(p, id, true, flags, epoch, now);
 *   when the failure detector drops a peer: paxos_peer_update(p, id, false, 0, 0, now);
 *   when a peer comes back with a new incarnation: paxos_peer_restarted(p, id, now);
 *   for each heartbeat's configuration: paxos_peer_conf(p, id, &conf, now);
 *   on resize: paxos_change_voters(p, id, voters, deadline, now);
 *   local client requests: paxos_put / paxos_get / paxos_keys;
 *   every turn: paxos_set_wall(p, wall_ms, now) (until bindings);
 *   when paxos_next_deadline(p) <= now: paxos_tick(p, now);
 *   when a watched process exits: paxos_pid_exited(p, pid, start, now);
 *   when a peer's incarnation is learned/changes: paxos_peer_incarnation();
 *   for each heartbeat's binding incarnation: paxos_peer_bind_inc();
 *   end of turn: send every entry of `ob` (PKV_TO_ALL = every configured node
 *           except self), then pkv_outbox_reset(&ob);
 *           drain paxos_completions(), then paxos_completions_reset(p);
 *           drain paxos_events(), then paxos_events_reset(p);
 *           drain paxos_learned() (publish with e->chosen_bind.until),
 *           paxos_erased() (shm_cache_erase), paxos_watches() (pidfd);
 *           put paxos_heartbeat_flags(p) and paxos_epoch(p) into heartbeats.
 *
 * Messages to self: the proposer never puts a message addressed to itself in
 * the outbox. It hands its own acceptor the message directly (through a
 * private queue processed before each call returns), so the loop never has
 * to loop messages back, and the local acceptor obeys exactly the same rules
 * as a remote one.
 *
 * Durability: acceptor state lives in the store; with the durable log on,
 * the loop writes every entry the store lists as dirty (store_track_dirty)
 * to disk before the turn's outbox and completions leave, and restores it
 * at start (paxos_restore). A daemon restarted
 * without durable state must be created with cfg.restarted and then answers
 * no PREPARE/ACCEPT/QUERY/SYNC_REQ until it has copied the acceptor state of
 * a strict majority of cluster_size, not counting itself (docs/design.md §6.1).
 *
 * Node ids are 1..PKV_MAX_NODES (0 is PKV_TO_ALL). Ballots are (round, node).
 *
 * Return values: 0 on success or -ENOMEM. A request the module cannot serve
 * (bad arguments, no quorum, …) still returns 0 and yields a completion with
 * the status, so the loop has a single answer path.
 */
#ifndef PKV_PAXOS_H
#define PKV_PAXOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "store.h"

#define PAXOS_NO_DEADLINE UINT64_MAX
/* The largest generation a message may name: generations never wrap. */
#define PAXOS_MAX_GEN (UINT64_C(1) << 62)
/* A KEYS_REPLY page holds at most this many keys, whatever the request asks. */
#define PAXOS_KEYS_PAGE_MAX 256u
/* A KEYS_REQ page looks at most this many entries (tombstones included). */
#define PAXOS_KEYS_SCAN_MAX 4096u
/* A peer's bucket drops applied and not yet acknowledged, at most. */
#define PAXOS_DROPS_PER_PEER 8u
/* Values judged from their learning (docs/design.md §4.2), at most. */
#define PAXOS_REJUDGE_MAX 1024u
/* Puts a peer forwarded here that are still running, at most. */
#define PAXOS_FORWARDS_PER_PEER 256u

struct paxos_config {
	uint32_t self;			  /* this node's id */
	uint32_t nodes[PKV_MAX_NODES];	  /* configured node ids, self included */
	uint32_t n_nodes;
	uint32_t cluster_size;		  /* configuration 0: the first cluster_size nodes vote */
	uint64_t observers;		  /* configured observers (bit id-1): not among them */
	/*
	 * The configuration the daemon had (its state file): number, voters and
	 * voters before (docs/design.md §5). voters 0: configuration 0.
	 */
	struct pkv_conf conf;
	bool restarted;			  /* ran before, acceptor state lost: sync first */
	bool fresh;			  /* first boot of the run dir */
	uint64_t seed;			  /* PRNG seed (backoff); any value */
	uint64_t retransmit_us;		  /* resend an unanswered phase; 0: 100 ms */
	uint64_t backoff_max_us;	  /* random backoff bound after a nack; 0: 100 ms */
	uint64_t epoch_grace_us;	  /* all-unsynced wait before a new epoch; 0: 3 s */
	/*
	 * Keys first used in epoch e start at generation (e << epoch_gen_shift)
	 * + 1, so a fencing token never repeats across a new epoch (0: 32).
	 */
	uint32_t epoch_gen_shift;
	/*
	 * A ballot's messages live at most ballot_life_us: a proposer that has
	 * not finished a round by then starts a higher ballot instead of
	 * retransmitting (0: 1 s). A restarted daemon starts its sync only
	 * restart_quiet_us after start_us, the monotonic time it started
	 * (0: 2 × ballot_life_us): by then no PREPARE or ACCEPT of a round that
	 * was under way when it lost its state can still land on a sync source
	 * after being copied — the counterexample of tests/model
	 * (model-sync-needs-quiet-period). It assumes the network delays no
	 * datagram by more than ballot_life_us.
	 */
	uint64_t ballot_life_us;
	uint64_t restart_quiet_us;
	uint64_t start_us;
	uint32_t sync_page;		  /* entries per SYNC_REQ page (≤ 64); 0: 32 */
	uint32_t keys_page;		  /* keys per KEYS_REQ page (≤ PAXOS_KEYS_PAGE_MAX); 0: 64 */
	/*
	 * The answer budget of each peer (docs/design.md §7, "Bounded work"):
	 * KEYS_REQ, SYNC_REQ and DROP are answered only while the bytes this
	 * daemon queued in answer to that peer's earlier ones stay within
	 * peer_burst_bytes (0: 512 KiB) above a rate of peer_rate_bytes per
	 * second (0: 32 MiB/s); the others are dropped and counted.
	 */
	uint64_t peer_rate_bytes;
	uint64_t peer_burst_bytes;
	uint64_t incarnation;		  /* this daemon's incarnation */
	/*
	 * The incarnation its pid bindings are made under (owner_inc), 0: the
	 * incarnation. A daemon restarted within the grace keeps its
	 * predecessor's, and so takes back its bindings: each is watched
	 * again, and one whose process died meanwhile ends at once
	 * (docs/design.md §6.2). Peers learn it from the heartbeats
	 * (paxos_peer_bind_inc).
	 */
	uint64_t bind_inc;
	/*
	 * How long after a peer is lost its pid bindings still hold: the time
	 * it has to come back (restart_grace_ms; 0: none, they end with the
	 * disconnect). Node bindings end with the disconnect regardless.
	 */
	uint64_t restart_grace_us;
	/*
	 * The failure detector's timeout (failure_timeout_ms; 0: 1 s). A
	 * binding learned while the peer it names already counts lost here is
	 * judged as if that loss were seen this long after the learning
	 * (docs/design.md §4.2, "A loss seen before the binding"): time for a
	 * peer this daemon only lost sight of while it was cut off itself to
	 * be heard again.
	 */
	uint64_t failure_timeout_us;
	bool no_fast_put;		  /* never try the fast round; config fast_put = no */
	/*
	 * A fast round not chosen within fast_wait_us (0: 10 ms) goes on in a
	 * classic round. Without even a majority's answer by then, the fast
	 * round is not tried again for 20 × fast_wait_us: a node that stopped
	 * answering costs the wait once, not on every put until the failure
	 * detector notices. Once a majority has answered, the rest are waited
	 * for only 4 × the recent fast-round time (paxos-proposer.c,
	 * fast_straggler_us).
	 */
	uint64_t fast_wait_us;
};

/* Proposer states (one request = one state machine). */
enum paxos_state {
	PAXOS_ST_WAIT_QUORUM, /* no quorum (retry) or local acceptor not synced */
	PAXOS_ST_QUERYING,    /* get: asking acceptors what they accepted */
	PAXOS_ST_PREPARING,   /* phase 1a sent, collecting promises */
	PAXOS_ST_ACCEPTING,   /* phase 2a sent, collecting accepted */
	PAXOS_ST_BACKOFF,     /* nacked; waiting a random time before a new round */
	PAXOS_ST_FORWARDED,   /* put handed to the key's primary */
	PAXOS_ST_KEYS,	      /* keys: collecting KEYS_REPLY */
	PAXOS_ST_DONE,
	PAXOS_ST_RESOLVING,   /* put bound to a key: finding that key's generation */
	PAXOS_ST_DROPPING,    /* bucket drop: waiting for every connected node's DROP_ACK */
	PAXOS_ST__COUNT
};

enum paxos_event {
	PAXOS_EV_START,
	PAXOS_EV_QUORUM,    /* connectivity or sync state changed */
	PAXOS_EV_PROMISE,   /* positive phase 1b */
	PAXOS_EV_ACCEPTED,  /* positive phase 2b */
	PAXOS_EV_NACK,	    /* a higher ballot was seen */
	PAXOS_EV_QUERY_REPLY,
	PAXOS_EV_KEYS_REPLY,
	PAXOS_EV_FWD_REPLY,
	PAXOS_EV_CHOSEN,    /* the local learner learned the key's value */
	PAXOS_EV_TIMER,	    /* retransmit or backoff timer */
	PAXOS_EV_DEADLINE,
	PAXOS_EV_PEER_DOWN,
	PAXOS_EV_ERASED,    /* the key's generation ended while the request ran */
	PAXOS_EV_DROP_ACK,  /* a node applied the bucket drop */
	PAXOS_EV_NEW_CONF,  /* the daemon moved to another configuration */
	PAXOS_EV__COUNT
};

const char *paxos_state_to_str(enum paxos_state s);
const char *paxos_event_to_str(enum paxos_event e);

enum paxos_req_kind {
	PAXOS_REQ_PUT,
	PAXOS_REQ_GET,
	PAXOS_REQ_KEYS,
	PAXOS_REQ_FORWARDED, /* a put run on behalf of another node; no completion */
	PAXOS_REQ_DROP,	     /* bucket drop (status only) */
};

/*
 * A finished request. `value` (put/get) and `keys` (keys) point into memory
 * owned by the paxos and stay valid until paxos_completions_reset() or
 * paxos_free(). `keys` is sorted bytewise and has no duplicates.
 */
struct paxos_completion {
	uint64_t id;	       /* the caller's request id */
	enum paxos_req_kind kind;
	int status;	       /* enum pkv_status */
	uint64_t gen;	       /* generation of the value (put/get OK) */
	struct pkv_bytes value;
	struct pkv_bindings bind; /* the chosen value's bindings (put/get OK) */
	struct pkv_bytes *keys;
	size_t n_keys;
};

enum paxos_event_kind {
	PAXOS_E_SYNCED,	   /* arg = epoch; the acceptor answers from now on */
	PAXOS_E_NEW_EPOCH, /* arg = new epoch: values held only by restarted daemons may be lost */
	PAXOS_E_VIOLATION, /* a learner saw two chosen values for one key generation (a bug) */
	PAXOS_E_CONF,	   /* arg = new configuration number (paxos_conf): persist it */
};

struct paxos_event_rec {
	enum paxos_event_kind kind;
	uint64_t arg;
	const char *text; /* static string, a log line */
};

struct paxos_stats {
	uint64_t rounds_started;     /* phase 1 attempts */
	uint64_t rounds_in_flight;   /* requests in PREPARING/ACCEPTING now */
	uint64_t requests_in_flight; /* unfinished requests now */
	uint64_t conflicts;	     /* nacks that sent a round to backoff */
	uint64_t forwards;	     /* puts forwarded to a primary */
	uint64_t forwards_served;    /* puts run for another node */
	uint64_t retransmits;
	uint64_t chosen;	     /* values this node's proposer got chosen */
	uint64_t learned;	     /* values recorded by the learner */
	uint64_t violations;	     /* learner disagreements: must stay 0 */
	uint64_t dropped_unsynced;   /* acceptor messages dropped while not synced */
	uint64_t not_voter_dropped;  /* votes from, or acceptor messages to, a non-voter */
	uint64_t other_conf_dropped; /* Paxos messages of another configuration */
	uint64_t conf_changes;	     /* configurations moved to */
	uint64_t malformed_dropped;  /* a value, key or generation out of its limits */
	uint64_t keys_over_budget;   /* KEYS_REQ dropped: the peer's answer budget was spent */
	uint64_t sync_over_budget;   /* SYNC_REQ dropped: the same */
	uint64_t drops_over_budget;  /* DROP dropped: the same, or PAXOS_DROPS_PER_PEER pending */
	uint64_t forwards_over_budget; /* FORWARD dropped: PAXOS_FORWARDS_PER_PEER running */
	uint64_t stale_gen;	     /* messages of another generation ignored */
	uint64_t epochs_declared;    /* new epochs (possible loss) */
	uint64_t puts, gets, keys;   /* requests taken */
	uint64_t sync_entries;	     /* entries merged while syncing */
	uint64_t erasures;	     /* key generations ended here */
	/* Values learned while a peer they name counted lost (§4.2): judged
	 * from their learning; not so, PAXOS_REJUDGE_MAX waiting already. */
	uint64_t learned_in_loss, rejudge_full;
	uint64_t rejudge_waiting;    /* gauge: such values still judged from their learning */
	uint64_t erase_sent;	     /* ERASE messages sent (retransmits included) */
	uint64_t tombstones_pending; /* erasures not yet acknowledged by every node */
	uint64_t tombstones_collected; /* tombstones forgotten (docs/design.md §4.6) */
	uint64_t floor_puts;	       /* puts of a key at its bucket's floor (§4.6) */
	uint64_t dead_adopted;	     /* rounds finished for a value with a dead binding */
	uint64_t drops;		     /* bucket drops taken (paxos_bucket_drop) */
	uint64_t drops_applied;	     /* bucket drops applied here (own and peers') */
	uint64_t drop_erasures;	     /* key generations ended by bucket drops */
	uint64_t drops_unproven;     /* DROPs naming no chosen record (yet): not applied */
	uint64_t chosen_unchecked;   /* CHOSENs not evidence on their own (a learner read checks) */
	uint64_t learn_reads;	     /* learner reads started (CHOSEN or DROP hints) */
	/* Own bound puts of unknown outcome (§6.2): reads of them started, puts
	 * in doubt now (a gauge), puts not followed (PAXOS_DOUBTS_MAX held). */
	uint64_t owner_reads, owner_doubts, owner_doubts_dropped;
	uint64_t keys_refused;	     /* requests refused at the key limit */
	uint64_t fast_rounds;	     /* puts that tried the fast round (no phase 1) */
	uint64_t fast_chosen;	     /* of those, chosen in it (one round trip) */
	uint64_t fast_fallbacks;     /* of those, gone on in a classic round */
	uint64_t fast_refused;	     /* fast ACCEPTs refused: a vote at F was given already */
};

/*
 * Creates the paxos of one daemon. `cfg` is copied. `store` and `outbox` are
 * borrowed: both must outlive the paxos; the paxos only appends to the
 * outbox (the loop resets it). Returns NULL on bad config or no memory.
 * Every configured peer starts disconnected; self is always connected.
 */
struct paxos *paxos_new(const struct paxos_config *cfg, struct store *store,
			struct pkv_outbox *outbox);
/* Frees the paxos, its requests and completions (not the store/outbox). */
void paxos_free(struct paxos *p);

/*
 * Handles one message from node `from` (an authenticated peer; messages
 * claiming to be from self or from an unconfigured node are ignored). The
 * message's byte strings are borrowed for the duration of the call.
 */
int paxos_receive(struct paxos *p, uint32_t from, const struct pkv_msg *m, uint64_t now);

/*
 * Fires due timers (retransmits, backoffs, deadlines, sync pages, epoch
 * grace). Returns paxos_next_deadline().
 */
uint64_t paxos_tick(struct paxos *p, uint64_t now);
/* The earliest time paxos_tick must run; PAXOS_NO_DEADLINE when idle. */
uint64_t paxos_next_deadline(const struct paxos *p);

/*
 * Membership input. `connected`: the failure detector hears the peer.
 * `flags`: the PKV_MF_SYNCED / PKV_MF_FRESH bits of its last heartbeat;
 * `epoch`: the epoch it announced. Call on every heartbeat or change.
 */
void paxos_peer_update(struct paxos *p, uint32_t node, bool connected, unsigned flags,
		       uint64_t epoch, uint64_t now);
/* The peer restarted (new incarnation): forget sync progress from it. */
void paxos_peer_restarted(struct paxos *p, uint32_t node, uint64_t now);
/*
 * The configuration a peer's heartbeat announced. A newer one than ours was
 * chosen (docs/design.md §5): this daemon moves to it at once.
 */
void paxos_peer_conf(struct paxos *p, uint32_t node, const struct pkv_conf *c, uint64_t now);
/* This daemon's configuration, and whether it is caught up in it. */
struct pkv_conf paxos_conf(const struct paxos *p);
/*
 * Changes the voters to `voters`, one node added or removed (docs/design.md
 * §5): proposes configuration conf + 1 to the voters of this one, in it. The
 * completion (kind PAXOS_REQ_PUT, id) is PKV_S_OK once it is chosen (the
 * daemon has moved to it), PKV_S_NOT_IN_SYNC when another change was chosen
 * instead or this daemon is not synced, PKV_S_BAD_REQUEST when `voters` is
 * not one step away, or no quorum / timeout as a put.
 */
int paxos_change_voters(struct paxos *p, uint64_t id, uint64_t voters, uint64_t deadline,
			uint64_t now);

/*
 * Client requests. `id` is the caller's, echoed in the completion. Byte
 * strings are copied. `deadline` is absolute µs (PAXOS_NO_DEADLINE: none).
 * `retry`: when there is no quorum, wait for one (up to the deadline) instead
 * of completing with PKV_S_NO_QUORUM at once.
 *
 * put: completes with PKV_S_OK and the chosen value (maybe another writer's),
 *      PKV_S_NO_QUORUM, PKV_S_TIMEOUT, PKV_S_TOO_LARGE, PKV_S_BAD_REQUEST.
 * get: PKV_S_OK + value, PKV_S_NOT_FOUND, PKV_S_NO_QUORUM, PKV_S_TIMEOUT, …
 * keys: PKV_S_OK + keys of the bucket that some reachable node holds a value
 *      for; answers when every connected node answered or at the deadline.
 */
int paxos_put(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      struct pkv_bytes value, uint64_t deadline, bool retry, uint64_t now);
/*
 * put with lifetime bindings (NULL: none, the same as paxos_put). Copied.
 *  pid:   owner 0 means this daemon (owner and owner_inc are filled in); the
 *         loop checked that the pid is a live local process and passes its
 *         start time; PKV_BIND_PID_DEAD in mask says it found it dead.
 *  node:  must be configured and connected (self counts as connected).
 *  key:   the key must hold a value (local learner, else a get on the
 *         cluster); key_gen is filled in with its generation.
 *  until: must be after the wall clock (paxos_set_wall).
 * Any of these failing completes with PKV_S_INVALID_VALUE. The encoded
 * value + bindings must fit PKV_MAX_VALUE (else PKV_S_TOO_LARGE). The put
 * returns the chosen value with its bindings, maybe another writer's.
 */
int paxos_put_bound(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
		    struct pkv_bytes value, const struct pkv_bindings *bind, uint64_t deadline,
		    bool retry, uint64_t now);
int paxos_get(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
	      uint64_t deadline, bool retry, uint64_t now);
/* A get that takes the learner's value past the lease (paxos_set_lease). */
int paxos_get_stale(struct paxos *p, uint64_t id, struct pkv_bytes bucket, struct pkv_bytes key,
		    uint64_t deadline, bool retry, uint64_t now);
int paxos_keys(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
	       uint64_t now);
/*
 * Bucket drop: ends the live generation of every key of the bucket on every
 * daemon (tombstones, paxos_erased outputs, key-binding cascades), so that
 * the name can be used again, empty; the next put of a key chooses anew in
 * the next generation. Needs quorum like a put (a minority cannot wipe what
 * the majority serves). Completes (kind PAXOS_REQ_DROP) with
 *   PKV_S_OK         every connected node (a majority of cluster_size at
 *                    least) applied it, and every connected node holds the
 *                    tombstone of every key any of them ended;
 *   PKV_S_NO_QUORUM  at once, without quorum (nothing is erased);
 *   PKV_S_TIMEOUT    at the deadline (the drop may be partly applied: it
 *                    goes on spreading through the ERASE fan-out);
 *   PKV_S_TOO_LARGE / PKV_S_BAD_REQUEST for a bad bucket name.
 * Puts racing with the drop land on either side of it.
 */
int paxos_bucket_drop(struct paxos *p, uint64_t id, struct pkv_bytes bucket, uint64_t deadline,
		      uint64_t now);

/*
 * Finished requests since the last reset, oldest first. The array and all
 * bytes it points to are owned by the paxos until paxos_completions_reset.
 */
const struct paxos_completion *paxos_completions(const struct paxos *p, size_t *n);
void paxos_completions_reset(struct paxos *p);

/*
 * Entries whose chosen value the local learner recorded since the last
 * reset (for the shared learner cache). The entries belong to the store and
 * stay valid until store_free; the array until paxos_learned_reset.
 */
struct store_entry *const *paxos_learned(const struct paxos *p, size_t *n);
void paxos_learned_reset(struct paxos *p);

/*
 * Lifetimes: inputs.
 *
 * Wall clock: the core reads no clock. paxos_set_wall tells it the wall
 * clock (ms since the epoch) at monotonic time `now` (µs); from then on
 * wall(t) = wall_ms + (t - now) / 1000. Call it at start and every loop
 * turn before paxos_tick (or at least when the wall clock may have jumped).
 * Until bindings expire when wall(now) >= until; paxos_next_deadline reports
 * the next expiry converted back to the monotonic domain with the same
 * offset. Before the first call no until binding expires.
 */
void paxos_set_wall(struct paxos *p, uint64_t wall_ms, uint64_t now);
/*
 * The lease (docs/design.md §5.1): until monotonic `until` (µs) this daemon
 * may answer from its learner. From then on a put or get of a key it has
 * learned goes to a quorum like one it never saw (no quorum: PKV_S_NO_QUORUM),
 * except a get through paxos_get_stale. Before the first call the lease is
 * always held (the simulator's cores run so): a daemon calls it before it
 * restores or answers anything.
 */
void paxos_set_lease(struct paxos *p, uint64_t until);
/* The failure detector's timeout changed (a reload): cfg.failure_timeout_us. */
void paxos_set_failure_timeout(struct paxos *p, uint64_t us);
/*
 * The nodes (bit n-1 for node n) that have not acknowledged an erasure this
 * daemon made or passed on (its ERASE fan-out). A heartbeat to such a node
 * says so (PKV_MF_ERASE_OWED): a node whose lease lapsed regains it only
 * from peers that owe it nothing (docs/design.md §5.1).
 */
uint64_t paxos_erase_owed(const struct paxos *p);
/*
 * A process this daemon watched (paxos_watches) exited. Also call it when a
 * watch cannot be set up because the process is already gone.
 */
void paxos_pid_exited(struct paxos *p, int32_t pid, uint64_t start_time, uint64_t now);
/*
 * Key inspection (docs/design.md §8.6, paxos-info.c): asks every daemon,
 * this one included, for its acceptor's and its learner's state of the key
 * (INFO_REQ, read-only). Each answer appears in paxos_info_replies under
 * `id` as it arrives; the caller decides how long to wait. 0 or -ENOMEM.
 */
enum paxos_info_kind {
	PAXOS_INFO_ACCEPTOR = 1, /* promised, ballot and value accepted */
	PAXOS_INFO_LEARNER = 2,	 /* ballot and value chosen, as the learner knows */
};
struct paxos_info_rec {
	uint64_t id;
	uint32_t node;	/* who answered */
	unsigned kind;	/* enum paxos_info_kind */
	uint64_t gen;	/* the key's live generation there (0: no entry) */
	struct pkv_ballot promised; /* acceptor only */
	struct pkv_ballot ballot;   /* accepted (acceptor) or chosen (learner) */
	struct pkv_bytes value;	    /* owned by the paxos until paxos_info_reset */
	uint32_t bind_mask;	    /* the value's bindings (PKV_BIND_*) */
	bool has_value, synced, voter;
};
int paxos_info_request(struct paxos *p, uint64_t id, struct pkv_bytes bucket,
		       struct pkv_bytes key, uint64_t now);
const struct paxos_info_rec *paxos_info_replies(const struct paxos *p, size_t *n);
void paxos_info_reset(struct paxos *p);
/*
 * Release (docs/design.md §8.4): ends generation `gen` of the key now, as
 * the exit of its process would, when its chosen value is bound to process
 * (pid, start_time) watched by this daemon. PKV_S_OK; PKV_S_STALE when that
 * generation ended already (or holds no chosen value here); PKV_S_NOT_OWNER
 * when the value is not bound to that process through this daemon;
 * PKV_S_NOT_FOUND for a generation this daemon has not seen.
 */
int paxos_release(struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key, uint64_t gen,
		  int32_t pid, uint64_t start_time, uint64_t now);
/*
 * The peer's current incarnation (from its datagrams). Call when first
 * known and whenever it changes, before paxos_peer_restarted.
 */
void paxos_peer_incarnation(struct paxos *p, uint32_t node, uint64_t incarnation, uint64_t now);
/*
 * The incarnation the peer's pid bindings are made under (its heartbeats;
 * cfg.bind_inc there). Pid bindings it owns under an older one are dead:
 * it restarted and did not take them back.
 */
void paxos_peer_bind_inc(struct paxos *p, uint32_t node, uint64_t bind_inc, uint64_t now);

/*
 * Lifetimes: outputs, drained like paxos_learned.
 *
 * Watches: in order, start (watch = true) or stop watching a local process
 * with a pidfd. Started when a chosen value bound to a pid owned by this
 * daemon is learned, stopped when the last such key is erased otherwise.
 * Stopping a watch that is already gone is harmless.
 */
struct paxos_watch {
	int32_t pid;
	uint64_t start_time;
	bool watch;
};
const struct paxos_watch *paxos_watches(const struct paxos *p, size_t *n);
void paxos_watches_reset(struct paxos *p);

/*
 * Erased: (entry, gen) = every generation <= gen of the entry's key ended
 * here since the last reset: erase it from the shared cache
 * (shm_cache_erase(bucket, key, gen)). Entries belong to the store.
 */
struct paxos_erased {
	struct store_entry *e;
	uint64_t gen;
	/* no lifetime a watcher could have seen here ended: the entry held
	 * nothing and gen is below its bucket's floor (docs/design.md §4.6) */
	bool unseen;
};
const struct paxos_erased *paxos_erased(const struct paxos *p, size_t *n);
void paxos_erased_reset(struct paxos *p);

/* Notable events since the last reset (log them); same ownership rule. */
const struct paxos_event_rec *paxos_events(const struct paxos *p, size_t *n);
void paxos_events_reset(struct paxos *p);

/* Heartbeat content: PKV_MF_SYNCED and/or PKV_MF_FRESH; and the epoch. */
unsigned paxos_heartbeat_flags(const struct paxos *p);
uint64_t paxos_epoch(const struct paxos *p);
bool paxos_synced(const struct paxos *p);
/* True when connected nodes (self included) are a strict majority of cluster_size. */
bool paxos_has_quorum(const struct paxos *p);
/* The key's primary: a hash of bucket+key over the sorted configured nodes. */
uint32_t paxos_primary(const struct paxos *p, struct pkv_bytes bucket, struct pkv_bytes key);

/*
 * Restoring durable acceptor state (durable.h), between paxos_new (with
 * cfg.restarted false) and the first other call: paxos_restore for each saved
 * key, in log order — a later one replaces an earlier one of the same key —
 * then paxos_restore_done once, which ends values whose bindings died with
 * the previous run (pid bindings of this node's old incarnation), arms until
 * timers and lists every chosen value in paxos_learned() for the cache.
 * Byte strings are copied. Returns 0, -EINVAL (bad names, gen 0) or -ENOMEM.
 */
struct paxos_saved {
	struct pkv_bytes bucket, key;
	uint64_t gen, max_round;
	struct pkv_ballot promised;
	bool has_accepted, chosen;
	struct pkv_ballot accepted, chosen_ballot;
	struct pkv_bytes accepted_value, chosen_value;
	struct pkv_bindings accepted_bind, chosen_bind;
};
int paxos_restore(struct paxos *p, const struct paxos_saved *k);
void paxos_restore_done(struct paxos *p, uint64_t now);

const struct paxos_stats *paxos_stats(const struct paxos *p);
/* Rounds in phase 1 or 2 now for keys of the bucket (walks the requests). */
uint64_t paxos_bucket_rounds(const struct paxos *p, struct pkv_bytes bucket);

#endif
