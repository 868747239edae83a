/* SPDX-License-Identifier: MIT */
/*
 * ringreq.h — the checks the daemon applies to one request from the local
 * request ring before any of it reaches paxos.
 *
 * Everything in a ring request comes from a client process, which may be
 * buggy or hostile. shm_ring_next (daemon/shm.c) has already copied the
 * request out of shared memory once, into a buffer private to the daemon,
 * with each length read once, bounded by the request area and checked
 * against the client's tag; what it returns can no longer change under us.
 * ringreq_decode then checks what the request means: the op, the flags that
 * op allows, the bucket, key and value limits, and the bindings, resolving a
 * node binding's name against the configuration.
 *
 * Pure: no I/O, no clock, no allocation, no shared memory. That is what lets
 * a fuzzer (tests/fuzz/fuzz-ring.c) and the unit tests call it on any bytes.
 * The one check that needs the system — is the bound pid a live process of
 * this host, and since when — is the caller's: it reads the start time of
 * out->bind.pid when out->bind.mask has PKV_BIND_PID.
 */
#ifndef PKV_RINGREQ_H
#define PKV_RINGREQ_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "msg.h"
#include "shm.h"

/* A ring request that passed every check. Its byte strings point where rq's do. */
struct ringreq {
	uint8_t op;	     /* PKV_SHM_OP_PUT, PKV_SHM_OP_GET or PKV_SHM_OP_KEYS */
	bool retry;	     /* put, get: no_quorum retry (wait for a quorum) */
	bool stale_ok;	     /* get: the learner's value past the lease will do (§5.1) */
	uint32_t timeout_ms; /* never 0 */
	struct pkv_bytes bucket; /* 1..PKV_MAX_BUCKET bytes */
	struct pkv_bytes key;	 /* put, get: 1..PKV_MAX_KEY bytes; keys: empty */
	/* put: the value, 0..PKV_MAX_VALUE bytes; keys: the cursor, 0..PKV_MAX_KEY; get: empty */
	struct pkv_bytes value;
	/*
	 * put only: the bindings asked for (bind.mask != 0). PKV_BIND_PID: pid
	 * > 0, start_time left 0 for the caller. PKV_BIND_NODE: node is the id
	 * of a configured node. PKV_BIND_KEY: 1..PKV_MAX_KEY bytes, not the key
	 * itself. PKV_BIND_UNTIL: until != 0.
	 */
	bool bound;
	struct pkv_bindings bind;
};

/*
 * Checks request rq against the limits and against cfg (node bindings name
 * a node of cfg). Returns PKV_S_OK with *out filled, or the status to answer
 * the client with:
 *   PKV_S_BAD_REQUEST    unknown op or flag; a part the op does not take
 *                        (a key for keys, a value for get, bindings for get
 *                        or keys); an empty bucket or an empty key
 *   PKV_S_TOO_LARGE      bucket, key, value, cursor or dependency key over
 *                        its limit
 *   PKV_S_INVALID_VALUE  a binding that cannot hold: pid <= 0, a node name
 *                        that is malformed or not configured, a key bound
 *                        to itself
 * *out is zeroed on failure.
 */
int ringreq_decode(const struct shm_request *rq, const struct pkv_config *cfg,
		   struct ringreq *out);

#endif
