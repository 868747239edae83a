// SPDX-License-Identifier: MIT
/*
 * gen-seeds — writes the seed corpora of fuzz-wire and fuzz-ring:
 *
 *   clang -D_GNU_SOURCE -Idaemon tests/fuzz/gen-seeds.c daemon/wire.c daemon/auth.c \
 *         daemon/msg.c -lsodium -o gen-seeds
 *   ./gen-seeds tests/fuzz/corpus
 *
 * Output goes to DIR/wire, DIR/ring and DIR/core (which must exist). The seeds are
 * checked in; run this again when the datagram or ring format changes.
 *
 * wire: valid datagrams sealed under fuzz-wire's fixed session from node 2
 * (fuzz-wire-setup.h: the same random source, so the same session keys; the
 * fuzzer starts past authentication), one plain and one encrypted, and
 * fuzz-wire's second form, a 2-byte message count then a message area, a
 * stream of datagram records for its replay-window model, and a handshake
 * script ('H', then op and argument bytes; see handshake_ops). (corpus/wire/
 * regress-seq-wrap is not generated: it is the reproducer of a fixed hang.)
 * ring: fuzz-ring's input format (see fuzz-ring.c): a put, a bound put, a
 * get, a keys page with a cursor, and one request of each refusal.
 * core: fuzz-core's scripts (see fuzz-core.c): a store of 200 keys, then a
 * datagram full of KEYS_REQ, SYNC_REQ, DROP or FORWARD from one peer; a local
 * put, get, listing and drop.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pkv-shm.h"
#include "fuzz-wire-setup.h"
#include "wire.h"

static const char *dir;

static void put_file(const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static struct pkv_bytes str(const char *s)
{
	return (struct pkv_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

/* A put's messages: prepare, accept of a bound value, chosen, a heartbeat. */
static unsigned add_msgs(struct wire_builder *b)
{
	struct pkv_msg ms[] = {
		{.type = PKV_MSG_HEARTBEAT, .arg0 = 3, .arg1 = 7},
		{.type = PKV_MSG_PREPARE, .req = 9, .gen = 1, .ballot = {4, 2},
		 .bucket = str("PaxosKV"), .key = str("lock/a")},
		{.type = PKV_MSG_ACCEPT, .req = 9, .gen = 1, .ballot = {4, 2},
		 .bucket = str("PaxosKV"), .key = str("lock/a"), .value = str("owner-17")},
		{.type = PKV_MSG_CHOSEN, .gen = 1, .ballot = {4, 2}, .accepted = {4, 2},
		 .bucket = str("svc"), .key = str("db"), .value = str("10.0.0.5:5432")},
		{.type = PKV_MSG_ERASE, .gen = 2, .bucket = str("svc"), .key = str("db")},
	};
	unsigned n = 0;
	for (unsigned i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (wire_add(b, &ms[i]) == 0)
			n++;
	return n;
}

static void wire_seeds(void)
{
	static uint8_t buf[WIRE_MAX_DGRAM];
	static struct wire self, peer, peer2;

	for (int encrypt = 0; encrypt < 2; encrypt++) {
		struct wire_builder b;
		if (fz_pair(&self, &peer, &peer2) != 0 ||
		    wire_begin(&b, &peer, FZ_SELF, buf, sizeof(buf), encrypt, 0) != 0)
			exit(1);
		add_msgs(&b);
		int n = wire_finish(&b);
		if (n <= 0)
			exit(1);
		put_file("wire", encrypt ? "sealed-encrypted" : "sealed-plain", buf, (size_t)n);
	}

	/* The second form: count (low 10 bits), then the bare message area. */
	struct wire_builder b;
	if (wire_begin(&b, &peer, FZ_SELF, buf, sizeof(buf), false, 0) != 0)
		exit(1);
	unsigned count = add_msgs(&b);
	size_t body = b.len - WIRE_HDR_BYTES;
	static uint8_t area[WIRE_MAX_DGRAM + 2];
	area[0] = (uint8_t)count;
	area[1] = (uint8_t)(count >> 8);
	memcpy(area + 2, buf + WIRE_HDR_BYTES, body);
	put_file("wire", "area-plain", area, body + 2);
	area[1] |= 0x80; /* the same, sealed encrypted */
	put_file("wire", "area-encrypted", area, body + 2);

	/*
	 * fuzz-wire's replay stream (9-byte records, see replay_stream): both
	 * senders, in and out of order, a repeat, the window's edge.
	 */
	static const struct {
		uint8_t ctl;
		uint64_t v;
	} recs[] = {
		{0x00, 1},    {0x00, 3},    {0x01, 1},	 {0x00, 2},    {0x00, 3},
		{0x10, 1023}, {0x10, 1024}, {0x08, 1023}, {0x08, 1024}, {0x02, 1},
		{0x04, 5},    {0x03, 7},    {0x18, 40000},
	};
	uint8_t stream[sizeof(recs) / sizeof(recs[0]) * 9];
	for (unsigned i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		stream[i * 9] = recs[i].ctl;
		for (unsigned j = 0; j < 8; j++)
			stream[i * 9 + 1 + j] = (uint8_t)(recs[i].v >> (8 * j));
	}
	put_file("wire", "replay-stream", stream, sizeof(stream));

	/*
	 * A handshake script: both start, node 1's INIT is answered and the
	 * answer lost, time passes, node 2 restarts, node 1's confirmation is
	 * replayed, data both ways.
	 */
	static const uint8_t script[] = {
	    'H',  0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x06, 0x05,
	    0x05, 0x01, 0x01, 0x02, 0x03, 0x04, 0x07, 0x00, 0x07, 0x01,
	};
	put_file("wire", "handshake-script", script, sizeof(script));
}

/* --- ring ---------------------------------------------------------------- */

struct ring_seed {
	uint8_t op, flags, mode;
	const char *bucket, *key, *value, *node, *dep;
	uint32_t key_len, value_len; /* override the lengths when non-zero */
	uint32_t timeout_ms;
	int32_t bind_pid;
	uint64_t until;
};

static size_t le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return n;
}

static void ring_seed(const char *name, const struct ring_seed *s)
{
	static uint8_t out[42 + 4096];
	const char *parts[] = {s->bucket, s->key, s->value, s->node, s->dep};
	size_t len[5];
	for (unsigned i = 0; i < 5; i++)
		len[i] = parts[i] ? strlen(parts[i]) : 0;
	memset(out, 0, 42);
	out[0] = s->op;
	out[1] = s->flags;
	out[2] = (uint8_t)len[0];
	out[3] = (uint8_t)len[3];
	le(out + 4, s->key_len ? s->key_len : len[1], 4);
	le(out + 8, s->value_len ? s->value_len : len[2], 4);
	le(out + 12, len[4], 4);
	le(out + 16, s->timeout_ms, 4);
	le(out + 20, (uint32_t)s->bind_pid, 4);
	le(out + 24, s->until, 8);
	out[32] = s->mode;
	/* keys scribble: the cursor's own lengths, as an honest client leaves them */
	le(out + 33, len[2], 4);
	out[37] = (uint8_t)len[0];
	le(out + 38, len[1], 4);
	size_t n = 42;
	for (unsigned i = 0; i < 5; i++) {
		memcpy(out + n, parts[i] ? parts[i] : "", len[i]);
		n += len[i];
	}
	put_file("ring", name, out, n);
}

static void ring_seeds(void)
{
	ring_seed("put", &(struct ring_seed){.op = PKV_SHM_OP_PUT, .bucket = "PaxosKV",
					     .key = "lock/a", .value = "owner-17",
					     .timeout_ms = 5000});
	ring_seed("put-default-bucket",
		  &(struct ring_seed){.op = PKV_SHM_OP_PUT, .key = "k", .value = "v"});
	ring_seed("put-bound", &(struct ring_seed){.op = PKV_SHM_OP_PUT,
						   .flags = PKV_SHM_F_BIND_PID |
							    PKV_SHM_F_NO_QUORUM_RETRY,
						   .bucket = "svc", .key = "db", .value = "10.0.0.5",
						   .node = "node2", .dep = "db-lease", .bind_pid = 4242,
						   .until = 1900000000000ull});
	ring_seed("get", &(struct ring_seed){.op = PKV_SHM_OP_GET, .bucket = "svc", .key = "db",
					     .flags = PKV_SHM_F_NO_QUORUM_RETRY});
	ring_seed("keys-cursor", &(struct ring_seed){.op = PKV_SHM_OP_KEYS, .bucket = "svc",
						     .value = "db"});
	ring_seed("bad-op", &(struct ring_seed){.op = 9, .key = "k"});
	ring_seed("stale-post", &(struct ring_seed){.op = PKV_SHM_OP_GET, .key = "k", .mode = 1});
	ring_seed("not-posted", &(struct ring_seed){.op = PKV_SHM_OP_GET, .key = "k", .mode = 2});
	ring_seed("key-too-large",
		  &(struct ring_seed){.op = PKV_SHM_OP_PUT, .key = "k", .key_len = PKV_MAX_KEY + 1});
	ring_seed("value-too-large", &(struct ring_seed){.op = PKV_SHM_OP_PUT, .key = "k",
							 .value_len = PKV_MAX_VALUE + 1});
	ring_seed("unknown-node", &(struct ring_seed){.op = PKV_SHM_OP_PUT, .key = "k",
						      .value = "v", .node = "node9"});
	ring_seed("self-bound", &(struct ring_seed){.op = PKV_SHM_OP_PUT, .key = "k", .value = "v",
						    .dep = "k"});
}

/* ---- core: fuzz-core's scripts ------------------------------------------ */

enum { CORE_MSG, CORE_FLOOD, CORE_TIME, CORE_PEER, CORE_RESTART, CORE_LOCAL };

struct script {
	uint8_t b[8192];
	size_t n;
};

static void sb(struct script *s, uint8_t v)
{
	if (s->n < sizeof(s->b))
		s->b[s->n++] = v;
}

/*
 * A message as fuzz-core reads it: type, flags, then req, gen, ballot
 * (round, node), accepted (round, node), arg0..2 as table picks (a byte
 * below 13 picks 0, 1, 2, 3, ...), bucket pick, key (three bytes: one of
 * 4,096 distinct keys), value length and bytes.
 */
static void core_msg(struct script *s, uint8_t type, uint8_t gen, uint8_t round, unsigned key,
		     const char *value)
{
	sb(s, type);
	sb(s, 0);
	sb(s, 1);		/* req 1 */
	sb(s, gen);
	sb(s, round);
	sb(s, 2);		/* ballot node 2 */
	sb(s, 0), sb(s, 0);	/* accepted: none */
	sb(s, 0), sb(s, 0), sb(s, 0); /* arg0..2 = 0 */
	sb(s, 0);		/* bucket "B" */
	sb(s, (uint8_t)(0xc0 | (key & 15)));
	sb(s, (uint8_t)((key >> 4) & 15));
	sb(s, (uint8_t)((key >> 8) & 15));
	sb(s, (uint8_t)strlen(value));
	for (const char *c = value; *c; c++)
		sb(s, (uint8_t)*c);
}

static void core_seed(const char *name, uint8_t flood_type, uint8_t from, unsigned nkeys,
		      const char *value)
{
	struct script s = { .n = 0 };
	sb(&s, 0); /* 3 nodes */
	sb(&s, 8); /* synced, peers connected */
	for (unsigned k = 0; k < nkeys; k++) {
		sb(&s, CORE_MSG);
		sb(&s, 1); /* from node 2 */
		core_msg(&s, PKV_MSG_ACCEPT, 1, 2, k, value);
	}
	if (flood_type) {
		sb(&s, CORE_FLOOD);
		sb(&s, (uint8_t)(from - 1));
		sb(&s, 216); /* 865 messages: a datagram's worth */
		core_msg(&s, flood_type, 1, 0, 0, "");
	}
	put_file("core", name, s.b, s.n);
}

static void core_seeds(void)
{
	/* 100-byte values: a datagram of SYNC_REQ asks for 865 × 8 records of them. */
	static const char v100[] = "0123456789012345678901234567890123456789012345678901234567890123456789"
				   "012345678901234567890123456789";
	core_seed("keys-flood", PKV_MSG_KEYS_REQ, 2, 200, "v");
	core_seed("sync-flood", PKV_MSG_SYNC_REQ, 3, 40, v100);
	core_seed("drop-flood", PKV_MSG_DROP, 2, 200, "v");
	core_seed("forward-flood", PKV_MSG_FORWARD, 2, 0, "v");
	/* Local requests, time passing, a peer lost and back. */
	struct script s = { .n = 0 };
	sb(&s, 1); /* 4 nodes */
	sb(&s, 8);
	static const uint8_t steps[] = {
		CORE_LOCAL, 0, 0, 0, 1, 9,   /* put B/b */
		CORE_TIME, 0, 20,	     /* 40 ms */
		CORE_LOCAL, 0, 1, 0, 1, 9,   /* get B/b */
		CORE_PEER, 2, 0,	     /* node 3 lost */
		CORE_LOCAL, 0, 2, 0, 0, 9,   /* keys B */
		CORE_TIME, 0, 30,
		CORE_PEER, 2, 3,	     /* node 3 back, synced */
		CORE_RESTART, 1,	     /* node 2 restarted */
		CORE_LOCAL, 0, 3, 0, 0, 9,   /* drop B */
		CORE_TIME, 0, 100,
	};
	for (size_t i = 0; i < sizeof(steps); i++)
		sb(&s, steps[i]);
	put_file("core", "local-requests", s.b, s.n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 64;
	}
	dir = argv[1];
	if (fz_init() < 0)
		return 1;
	wire_seeds();
	ring_seeds();
	core_seeds();
	return 0;
}
