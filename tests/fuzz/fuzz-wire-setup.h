/* SPDX-License-Identifier: MIT */
/*
 * fuzz-wire-setup.h — what fuzz-wire and gen-seeds share: a deterministic
 * random source (so a session, and so a sealed seed, is the same on every
 * run), the node keys, and two daemons with sessions both ways.
 */
#ifndef PKV_FUZZ_WIRE_SETUP_H
#define PKV_FUZZ_WIRE_SETUP_H

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

#define FZ_SELF	   1u
#define FZ_PEER	   2u
#define FZ_PEER2   3u
#define FZ_CLUSTER 0x5061786f734b5631ull

static uint64_t fz_rng_ctr;

static void fz_rng_buf(void *const p, const size_t n)
{
	static const uint8_t k[crypto_stream_chacha20_KEYBYTES] = {0x70, 0x6b, 0x76};
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	memcpy(nonce, &fz_rng_ctr, sizeof(nonce));
	fz_rng_ctr++;
	crypto_stream_chacha20(p, n, nonce, k);
}

static uint32_t fz_rng_random(void)
{
	uint32_t v;
	fz_rng_buf(&v, sizeof(v));
	return v;
}

static const char *fz_rng_name(void)
{
	return "fuzz";
}

static randombytes_implementation fz_rng = {
    .implementation_name = fz_rng_name,
    .random = fz_rng_random,
    .buf = fz_rng_buf,
};

/* Before sodium_init. */
static int fz_init(void)
{
	if (randombytes_set_implementation(&fz_rng) != 0)
		return -1;
	return sodium_init() < 0 ? -1 : 0;
}

static void fz_seed(struct auth_key *seed, uint32_t id)
{
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		seed->k[i] = (uint8_t)(0x40 + i + 17 * id);
}

/* A fresh daemon id (incarnation inc) that knows nodes 1..3. */
static int fz_node(struct wire *w, uint32_t id, uint64_t inc)
{
	struct auth_key seed;
	fz_seed(&seed, id);
	wire_init(w, FZ_CLUSTER, id, inc, &seed);
	for (uint32_t p = 1; p <= 3; p++) {
		uint8_t pk[AUTH_PK_BYTES], sk[AUTH_SK_BYTES];
		if (p == id)
			continue;
		fz_seed(&seed, p);
		auth_node_keypair(pk, sk, &seed);
		if (wire_add_peer(w, p, pk) != 0)
			return -1;
	}
	return 0;
}

/* The session from -> to, confirmed at `to`. Returns 0 or -1. */
static int fz_session(struct wire *from, struct wire *to)
{
	uint8_t init[WIRE_HS_BYTES], resp[WIRE_HS_BYTES], conf[WIRE_HS_BYTES];
	struct wire_hdr h;
	struct wire_iter it;
	uint64_t next = UINT64_MAX;
	size_t rl, cl;

	if (wire_handshake_due(from, to->self, 0, init, sizeof(init), &next) != WIRE_HS_BYTES ||
	    wire_receive(to, init, sizeof(init), 0, &h, &it, resp, sizeof(resp), &rl) !=
		WIRE_HANDSHAKE ||
	    wire_receive(from, resp, rl, 0, &h, &it, conf, sizeof(conf), &cl) != WIRE_HANDSHAKE ||
	    wire_receive(to, conf, cl, 0, &h, &it, resp, sizeof(resp), &rl) != WIRE_OK)
		return -1;
	return 0;
}

/*
 * The fixed start of every fuzz input: self (node 1) with confirmed sessions
 * from peer (node 2) and peer2 (node 3), and back to peer. The random source
 * starts from 0, so the sessions are the same on every run.
 */
static int fz_pair(struct wire *self, struct wire *peer, struct wire *peer2)
{
	fz_rng_ctr = 0;
	if (fz_node(self, FZ_SELF, 1) || fz_node(peer, FZ_PEER, 1) || fz_node(peer2, FZ_PEER2, 1))
		return -1;
	if (fz_session(peer, self) || fz_session(peer2, self) || fz_session(self, peer))
		return -1;
	return 0;
}

#endif
