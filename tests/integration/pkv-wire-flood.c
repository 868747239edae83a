// SPDX-License-Identifier: MIT
/*
 * pkv-wire-flood — floods of authenticated requests, for the attack tests
 * of docs/design.md §7 ("Bounded work"). Loopback only.
 *
 *   pkv-wire-flood fill NODE BUCKET COUNT
 *	puts COUNT keys ("k000000"...) into BUCKET through NODE's daemon.
 *   pkv-wire-flood send KEY_FILE CLUSTER PORT SENDER keys|sync BUCKET DATAGRAMS MARK
 *	sends DATAGRAMS datagrams to 127.0.0.1:PORT sealed with the cluster
 *	key as node SENDER (a configured node that is not running), each as
 *	full as it fits of KEYS_REQ for BUCKET or of SYNC_REQ from the start
 *	of the store, then one datagram with a CHOSEN of key MARK in bucket
 *	"flood-mark": once the daemon answers `get -b flood-mark MARK`, it
 *	has handled every datagram before it.
 *
 * Exit 0 when everything was sent, 1 on failure, 64 on bad usage.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static int send_dgram(int fd, const struct sockaddr_in *sa, struct wire_builder *b,
		      const struct auth_key *k)
{
	int len = wire_finish(b, k, false);
	if (len < 0 || sendto(fd, b->buf, (size_t)len, 0, (const struct sockaddr *)sa,
			      sizeof(*sa)) != len) {
		perror("pkv-wire-flood: sendto");
		return 1;
	}
	/* One datagram a loop turn or so: the socket's queue never overflows. */
	nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	return 0;
}

static int flood(char **a)
{
	const char *key_file = a[0], *cluster = a[1], *kind = a[4], *bucket = a[5], *mark = a[7];
	int port = atoi(a[2]), sender = atoi(a[3]);
	long count = atol(a[6]);
	bool keys = !strcmp(kind, "keys");
	if (port <= 0 || port > 65535 || sender < 1 || sender > (int)PKV_MAX_NODES || count < 0 ||
	    count > 100000 || (!keys && strcmp(kind, "sync")))
		return 64;
	if (sodium_init() < 0)
		return 1;
	struct auth_key k;
	char err[256];
	if (auth_key_load(&k, key_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "pkv-wire-flood: %s\n", err);
		return 1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	/* A new incarnation of a node that is not running: a stream of its own. */
	struct wire_hdr h = { .version = WIRE_VERSION,
			      .cluster_id = auth_cluster_id(cluster),
			      .sender = (uint32_t)sender,
			      .salt = randombytes_random(),
			      .incarnation = (uint64_t)time(NULL) * 1000u + randombytes_uniform(1000),
			      .seq = 1 };
	static uint8_t buf[WIRE_MAX_DGRAM];
	struct wire_builder b;
	struct pkv_msg m = { .type = keys ? PKV_MSG_KEYS_REQ : PKV_MSG_SYNC_REQ, .req = 1 };
	if (keys)
		m.bucket = (struct pkv_bytes){ (const uint8_t *)bucket, (uint32_t)strlen(bucket) };
	unsigned per = 0;
	for (long d = 0; d < count; d++, h.seq++) {
		wire_begin(&b, buf, sizeof(buf), &h);
		while (wire_add(&b, &m) == 0)
			m.req++;
		per = wire_count(&b);
		if (send_dgram(fd, &sa, &b, &k))
			return 1;
	}
	struct pkv_msg c = { .type = PKV_MSG_CHOSEN,
			     .bucket = { (const uint8_t *)"flood-mark", 10 },
			     .key = { (const uint8_t *)mark, (uint32_t)strlen(mark) },
			     .value = { (const uint8_t *)"handled", 7 },
			     .gen = 1,
			     .ballot = { .round = 2, .node = (uint32_t)sender } };
	wire_begin(&b, buf, sizeof(buf), &h);
	if (wire_add(&b, &c) || send_dgram(fd, &sa, &b, &k))
		return 1;
	printf("sent %ld datagrams of %u %s each as node %d\n", count, per,
	       keys ? "KEYS_REQ" : "SYNC_REQ", sender);
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
	fprintf(stderr, "usage: pkv-wire-flood fill NODE BUCKET COUNT | send KEY_FILE CLUSTER PORT "
			"SENDER keys|sync BUCKET DATAGRAMS MARK\n");
	return 64;
}
