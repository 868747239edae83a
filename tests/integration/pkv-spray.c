// SPDX-License-Identifier: MIT
/*
 * pkv-spray — sends COUNT junk datagrams to 127.0.0.1:PORT (loopback only):
 * random bytes, random bytes behind a valid magic and version, and data,
 * INIT and RESP headers that name a real sender and node1 as receiver with
 * garbage keys and tags. Bounded; exits.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: deterministic for a given seed, so a failure replays */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: pkv-spray PORT COUNT SEED\n");
		return 64;
	}
	int port = atoi(argv[1]);
	long count = atol(argv[2]);
	rng_state = strtoull(argv[3], NULL, 10);
	if (port <= 0 || port > 65535 || count < 0 || count > 10000000) {
		fprintf(stderr, "pkv-spray: bad port or count\n");
		return 64;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	static uint8_t buf[600];
	long sent = 0;
	for (long i = 0; i < count; i++) {
		size_t len = (size_t)(rnd() % sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rnd();
		switch (i % 3) {
		case 0:
			break; /* pure noise */
		case 1:
			if (len >= 5)
				memcpy(buf, "PKV2\x02", 5); /* plausible magic and version */
			break;
		case 2:
			if (len >= 74) {
				/* a data datagram, an INIT or a RESP (96 bytes) */
				uint8_t type = (uint8_t)(1 + rnd() % 3);
				if (type != 1)
					len = 96;
				memcpy(buf, "PKV2\x02", 5);
				buf[5] = type;
				buf[6] = buf[7] = 0;
				/* sender id 1..3 and receiver 1 at the usual places, random
				 * everything else (session ids, keys, tags) */
				buf[16] = (uint8_t)(1 + rnd() % 3);
				memset(buf + 17, 0, 3);
				buf[20] = 1;
				memset(buf + 21, 0, 3);
			}
			break;
		}
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0)
			sent++;
	}
	printf("sent %ld\n", sent);
	close(fd);
	return 0;
}
