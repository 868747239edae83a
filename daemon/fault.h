/* SPDX-License-Identifier: MIT */
/*
 * fault.h — fault injection on the daemon's datagrams (-Dfault_injection=true;
 * without it every call here is a no-op and fault_set says -ENOTSUP).
 *
 * The loop owns a struct fault: it asks fault_drops for each datagram in and
 * out, fault_dup for each one in, fault_hold for each one out, and calls
 * fault_tick every turn; held datagrams leave through the send callback
 * given to fault_init. The control socket sets the faults (fault_set) and
 * reads the counters.
 */
#ifndef PKV_FAULT_H
#define PKV_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct fault_held;
struct pkv_node_cfg;

/* Sends a held datagram to peer; false when no send buffer is free (it
 * stays held and is tried again). */
typedef bool fault_send_fn(void *ctx, const struct pkv_node_cfg *peer, const uint8_t *data,
			   size_t len);

struct fault {
	unsigned drop_pct, dup_pct, reorder_pct;
	unsigned delay_ms; /* each datagram out waits 0..delay_ms */
	unsigned lag_ms;   /* lag= : and lag_ms more, every one (a late link, in order) */
	int64_t skew_ms;   /* added to the wall clock the core sees */
	unsigned cache_lag_us; /* the loop stalls this long before publishing learned values */
	uint64_t rekey_dgrams; /* rekey= : the sessions' rekey bound in datagrams (0: the default) */
	unsigned sync_delay_ms; /* sync_delay= : each write + fdatasync of the log takes this much longer */
	uint64_t blocked;  /* bit id-1: both directions */
	uint64_t block_in, block_out; /* bit id-1: one direction only */
	uint64_t late_erase;	      /* bit id-1: what tells of an erasure from it is lost */
	uint64_t rng;
	uint64_t seed; /* the rng's start, taken by the first fault_set */
	uint64_t dropped, duplicated, blocked_count, delayed, reordered;
	/* datagrams out held back by delay= or reorder= */
	struct fault_held **held;
	size_t n_held;
	fault_send_fn *send;
	void *send_ctx;
};

void fault_init(struct fault *f, uint64_t seed, fault_send_fn *send, void *send_ctx);
void fault_free(struct fault *f);

/*
 * Spec: space-separated "drop=P dup=P reorder=P delay=MS lag=MS skew=MS
 * block=IDS block_in=IDS block_out=IDS cache_lag=US rekey=N late_erase=IDS
 * sync_delay=MS" (P in percent; skew may be negative; cache_lag widens the moment between
 * learning a value and its entry in the shared cache, for the ordering test;
 * rekey: sessions rekey after N datagrams, 1..2^20; late_erase loses the ERASE
 * and QUERY_REPLY messages from those nodes, what would tell this daemon of
 * their erasures, and nothing else; sync_delay makes every write + fdatasync
 * of the durable log complete MS later, as a slow disk would; lag holds every
 * datagram out exactly MS more, a link that is late throughout). Each call replaces every fault; ""
 * clears them all. Logs the
 * new faults to d's log. Returns 0 or -EINVAL (or -ENOTSUP without it).
 */
int fault_set(struct fault *f, struct daemon *d, const char *spec, size_t len);

/* True when the datagram to (`out`) or from `peer` is lost. */
bool fault_drops(struct fault *f, uint32_t peer, bool out);
/* True when an ERASE or QUERY_REPLY from peer is lost (late_erase=, §5.1). */
bool fault_drops_late(struct fault *f, uint32_t peer);
/* True when the datagram in is to be delivered a second time. */
bool fault_dup(struct fault *f);
/* True when the sealed datagram to peer was copied into the held queue
 * (the caller gives its buffer back). A handshake datagram or an empty
 * one answering a stale echo (raw) is held by lag= alone. */
bool fault_hold(struct fault *f, const uint8_t *buf, size_t len, const struct pkv_node_cfg *peer,
		bool raw);
/* Sends the held datagrams due at `now`, or with after_peer set, those held
 * behind the next datagram to that peer. */
void fault_release(struct fault *f, uint64_t now, uint32_t after_peer);
/* Sends the held datagrams that are due; returns the next release time. */
uint64_t fault_tick(struct fault *f, uint64_t now);

#endif
