// SPDX-License-Identifier: MIT
/*
 * pkv-wire-flood — floods of authenticated requests, for the attack tests
 * of docs/design.md §7 ("Bounded work"). Loopback only.
 *
 *   pkv-wire-flood fill NODE BUCKET COUNT
 *	puts COUNT keys ("k000000"...) into BUCKET through NODE's daemon.
 *   pkv-wire-flood send KEY_FILE CLUSTER PORT SENDER keys|sync BUCKET DATAGRAMS MARK
 *	sets up a session with node1 of a dev cluster at 127.0.0.1:PORT as
 *	node SENDER (a configured node that is not running, listening on its
 *	own port PORT - 1 + SENDER; its key derived from the cluster key, as
 *	every dev node's is), then sends DATAGRAMS datagrams in it, each as
 *	full as it fits of KEYS_REQ for BUCKET or of SYNC_REQ from the start
 *	of the store, then one datagram with a CHOSEN of key MARK in bucket
 *	"flood-mark": once the daemon answers `get -b flood-mark MARK`, it
 *	has handled every datagram before it (on a daemon that takes a lone
 *	CHOSEN as a hint, once it counted the mark: chosen_unchecked).
 *   pkv-wire-flood forge KEY_FILE CLUSTER PORT SENDER BUCKET KEY MARK
 *	in such a session, a forged DROP of BUCKET and CHOSENs of a value
 *	nobody proposed (see forge() below), then the mark.
 *
 * Exit 0 when everything was sent, 1 on failure, 64 on bad usage.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "paxoskv.h"
#include "wire.h"

static int fill(const char *node, const char *bucket, long count)
{
	struct pkv_client *c;
	if (pkv_open(&c, node) != PKV_OK) {
		fprintf(stderr, "pkv-wire-flood: attach %s: %s\n", node, pkv_errmsg());
		return 1;
	}
	struct pkv_put_opts o = { .bucket = bucket, .bucket_len = strlen(bucket) };
	struct pkv_value v = PKV_VALUE_INIT;
	char key[32];
	for (long i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "k%06ld", i);
		int r = pkv_put(c, key, strlen(key), "v", 1, &o, &v);
		if (r != PKV_OK) {
			fprintf(stderr, "pkv-wire-flood: put %s: %s\n", key, pkv_strerror(r));
			return 1;
		}
	}
	pkv_value_free(&v);
	pkv_close(c);
	return 0;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int send_dgram(int fd, const struct sockaddr_in *sa, struct wire_builder *b)
{
	int len = wire_finish(b);
	if (len < 0 || sendto(fd, b->buf, (size_t)len, 0, (const struct sockaddr *)sa,
			      sizeof(*sa)) != len) {
		perror("pkv-wire-flood: sendto");
		return 1;
	}
	/* One datagram a loop turn or so: the socket's queue never overflows. */
	nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	return 0;
}

/* One step of a handshake with node 1: an INIT when due, then what comes back. */
static int handshake_step(int fd, const struct sockaddr_in *sa, struct wire *w)
{
	static uint8_t buf[WIRE_MAX_DGRAM], reply[WIRE_MAX_DGRAM];
	uint64_t next = UINT64_MAX;
	size_t n = wire_handshake_due(w, 1, mono_us(), buf, sizeof(buf), &next);
	if (n && sendto(fd, buf, n, 0, (const struct sockaddr *)sa, sizeof(*sa)) != (ssize_t)n)
		return 1;
	ssize_t got = recv(fd, buf, sizeof(buf), 0); /* SO_RCVTIMEO: 100 ms */
	if (got <= 0)
		return 0;
	struct wire_hdr h;
	struct wire_iter it;
	size_t rlen = 0;
	int rc = wire_receive(w, buf, (size_t)got, mono_us(), &h, &it, reply, sizeof(reply), &rlen);
	if (rc == WIRE_HANDSHAKE && rlen &&
	    sendto(fd, reply, rlen, 0, (const struct sockaddr *)sa, sizeof(*sa)) != (ssize_t)rlen)
		return 1;
	return 0;
}

/* The handshake with node 1 as node `sender` (docs/design.md §7). */
static int handshake(int fd, const struct sockaddr_in *sa, struct wire *w)
{
	uint64_t give_up = mono_us() + 10000000u;
	while (!wire_can_send(w, 1) && mono_us() < give_up)
		if (handshake_step(fd, sa, w))
			return 1;
	if (!wire_can_send(w, 1)) {
		fprintf(stderr, "pkv-wire-flood: no session with node1\n");
		return 1;
	}
	return 0;
}

/*
 * Starts a datagram to node 1. The daemon ages what it receives by the
 * session's start and by the echo of its own stamps (docs/design.md §7,
 * "The delay bound"); this sender hears nothing of node 1 but the
 * handshake, so it starts a new session (a rekey) every REFRESH_US, well
 * within the bound, and its datagrams stay young however long the flood.
 */
#define REFRESH_US 400000u
static int begin(int fd, const struct sockaddr_in *sa, struct wire *w, struct wire_builder *b,
		 uint8_t *buf, size_t cap)
{
	w->rekey_us = REFRESH_US;
	uint64_t since = w->peers[1].tx.since_us;
	if (mono_us() - since >= REFRESH_US) {
		uint64_t give_up = mono_us() + 10000000u;
		while (w->peers[1].tx.since_us == since && mono_us() < give_up)
			if (handshake_step(fd, sa, w))
				return 1;
		if (w->peers[1].tx.since_us == since) {
			fprintf(stderr, "pkv-wire-flood: no new session with node1\n");
			return 1;
		}
	}
	return wire_begin(b, w, 1, buf, cap, false, mono_us()) != 0;
}

/*
 * A session with node 1 of a dev cluster at 127.0.0.1:PORT as node SENDER
 * (a configured node that is not running), from its own port.
 */
static int session(const char *key_file, const char *cluster, int port, int sender, struct wire *w,
		   int *fdp, struct sockaddr_in *sa)
{
	if (sodium_init() < 0)
		return 1;
	struct auth_key k;
	char err[256];
	if (auth_key_load(&k, key_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "pkv-wire-flood: %s\n", err);
		return 1;
	}
	/* Dev keys: every node's seed comes from the cluster key and its name. */
	char name[32];
	struct auth_key seed, seed1;
	uint8_t pk1[AUTH_PK_BYTES], sk1[AUTH_SK_BYTES];
	snprintf(name, sizeof(name), "node%d", sender);
	auth_node_seed_from_cluster_key(&seed, &k, name);
	auth_node_seed_from_cluster_key(&seed1, &k, "node1");
	auth_node_keypair(pk1, sk1, &seed1);
	/* A new incarnation of a node that is not running: a session of its own. */
	wire_init(w, auth_cluster_id(cluster), (uint32_t)sender,
		  (uint64_t)time(NULL) * 1000000000u + randombytes_uniform(1000000), &seed);
	if (wire_add_peer(w, 1, pk1) < 0)
		return 1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in me = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)(port - 1 + sender)) };
	inet_pton(AF_INET, "127.0.0.1", &sa->sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
	struct timeval tv = { .tv_usec = 100000 };
	if (fd < 0 || bind(fd, (const struct sockaddr *)&me, sizeof(me)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		perror("pkv-wire-flood: socket");
		return 1;
	}
	*fdp = fd;
	return handshake(fd, sa, w);
}

static struct pkv_bytes str(const char *s)
{
	return (struct pkv_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

/* The mark behind a flood: a CHOSEN of MARK in bucket "flood-mark". */
static int send_mark(int fd, const struct sockaddr_in *sa, struct wire *w, int sender,
		     const char *mark)
{
	static uint8_t buf[WIRE_MAX_DGRAM];
	struct wire_builder b;
	struct pkv_msg c = { .type = PKV_MSG_CHOSEN,
			     .bucket = str("flood-mark"),
			     .key = str(mark),
			     .value = str("handled"),
			     .gen = 1,
			     .ballot = { .round = 2, .node = (uint32_t)sender } };
	if (begin(fd, sa, w, &b, buf, sizeof(buf)) || wire_add(&b, &c) ||
	    send_dgram(fd, sa, &b))
		return 1;
	return 0;
}

static int flood(char **a)
{
	const char *kind = a[4], *bucket = a[5], *mark = a[7];
	int port = atoi(a[2]), sender = atoi(a[3]);
	long count = atol(a[6]);
	bool keys = !strcmp(kind, "keys");
	if (port <= 1 || port + sender > 65536 || sender < 2 || sender > (int)PKV_MAX_NODES ||
	    count < 0 || count > 100000 || (!keys && strcmp(kind, "sync")))
		return 64;
	static struct wire w;
	int fd;
	struct sockaddr_in sa;
	if (session(a[0], a[1], port, sender, &w, &fd, &sa))
		return 1;
	static uint8_t buf[WIRE_MAX_DGRAM];
	struct wire_builder b;
	struct pkv_msg m = { .type = keys ? PKV_MSG_KEYS_REQ : PKV_MSG_SYNC_REQ, .req = 1 };
	if (keys)
		m.bucket = str(bucket);
	unsigned per = 0;
	for (long d = 0; d < count; d++) {
		if (begin(fd, &sa, &w, &b, buf, sizeof(buf)))
			return 1;
		while (wire_add(&b, &m) == 0)
			m.req++;
		per = wire_count(&b);
		if (send_dgram(fd, &sa, &b))
			return 1;
	}
	if (send_mark(fd, &sa, &w, sender, mark))
		return 1;
	printf("sent %ld datagrams of %u %s each as node %d\n", count, per,
	       keys ? "KEYS_REQ" : "SYNC_REQ", sender);
	wire_wipe(&w);
	close(fd);
	return 0;
}

/*
 * forge: what one node's key could do alone before the authority rules
 * (docs/design.md §3.5, §4.4), sent to node 1 as node SENDER:
 *  - a DROP of BUCKET, as one peer's DROP named it (the bucket itself),
 *  - a DROP under a record key of the reserved bucket "\0drop" that nobody
 *    chose, its record naming BUCKET (bytes made here: magic 0xd7, sender,
 *    the bucket's name),
 *  - a CHOSEN of "evil" for KEY (a key the cluster holds) and for
 *    "k-forged" (one it never saw), at a ballot nobody ran,
 * then the mark.
 */
static int forge(char **a)
{
	const char *bucket = a[4], *key = a[5], *mark = a[6];
	int port = atoi(a[2]), sender = atoi(a[3]);
	size_t blen = strlen(bucket);
	if (port <= 1 || port + sender > 65536 || sender < 2 || sender > (int)PKV_MAX_NODES ||
	    blen == 0 || blen > 255)
		return 64;
	static struct wire w;
	int fd;
	struct sockaddr_in sa;
	if (session(a[0], a[1], port, sender, &w, &fd, &sa))
		return 1;
	uint8_t rec[2 + 255];
	rec[0] = 0xd7;
	rec[1] = (uint8_t)sender;
	memcpy(rec + 2, bucket, blen);
	struct pkv_msg msgs[] = {
		{ .type = PKV_MSG_DROP, .bucket = str(bucket), .req = 7001 },
		{ .type = PKV_MSG_DROP,
		  .bucket = { (const uint8_t *)"\0drop", 5 },
		  .key = str("forged-drop"),
		  .value = { rec, (uint32_t)(2 + blen) },
		  .req = 7002 },
		{ .type = PKV_MSG_CHOSEN, .bucket = str(bucket), .key = str(key), .gen = 1,
		  .ballot = { .round = 7, .node = (uint32_t)sender }, .value = str("evil") },
		{ .type = PKV_MSG_CHOSEN, .bucket = str(bucket), .key = str("k-forged"), .gen = 1,
		  .ballot = { .round = 7, .node = (uint32_t)sender }, .value = str("evil") },
	};
	static uint8_t buf[WIRE_MAX_DGRAM];
	struct wire_builder b;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (begin(fd, &sa, &w, &b, buf, sizeof(buf)) || wire_add(&b, &msgs[i]) ||
		    send_dgram(fd, &sa, &b))
			return 1;
	if (send_mark(fd, &sa, &w, sender, mark))
		return 1;
	printf("sent two DROPs of %s and two CHOSENs of 'evil' as node %d\n", bucket, sender);
	wire_wipe(&w);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "fill"))
		return fill(argv[2], argv[3], atol(argv[4]));
	if (argc == 10 && !strcmp(argv[1], "send")) {
		int r = flood(argv + 2);
		if (r != 64)
			return r;
	}
	if (argc == 9 && !strcmp(argv[1], "forge")) {
		int r = forge(argv + 2);
		if (r != 64)
			return r;
	}
	fprintf(stderr, "usage: pkv-wire-flood fill NODE BUCKET COUNT | send KEY_FILE CLUSTER PORT "
			"SENDER keys|sync BUCKET DATAGRAMS MARK | forge KEY_FILE CLUSTER PORT "
			"SENDER BUCKET KEY MARK\n");
	return 64;
}
