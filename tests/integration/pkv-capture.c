// SPDX-License-Identifier: MIT
/*
 * pkv-capture — what a network attacker without keys does on loopback:
 * records UDP datagrams and sends them again, unchanged.
 *
 *   pkv-capture record PORT FILE MS     record the payloads of IPv4 UDP
 *                                       datagrams to 127.0.0.1:PORT seen on
 *                                       lo for MS milliseconds (a packet
 *                                       socket: needs CAP_NET_RAW)
 *   pkv-capture replay FILE PORT GAP_US [ROUNDS]
 *                                       sends each recorded payload to
 *                                       127.0.0.1:PORT, GAP_US apart, ROUNDS
 *                                       times over (default 1)
 *
 * Only loopback; bounded in time and count; prints how many it recorded or
 * sent. record says "capturing" on stderr once its socket is bound, so a
 * test waits for that instead of sleeping. Exit 77 when a packet socket cannot be opened (no privilege), so a
 * test can skip.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECORDS 100000

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int record(int port, const char *path, long ms)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	if (fd < 0) {
		perror("pkv-capture: packet socket");
		return 77;
	}
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(ETH_P_IP),
				 .sll_ifindex = (int)if_nametoindex("lo")};
	if (ll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		perror("pkv-capture: bind to lo");
		return 77;
	}
	FILE *out = fopen(path, "wb");
	if (!out) {
		perror(path);
		return 1;
	}
	fprintf(stderr, "capturing\n");
	static uint8_t pkt[70000];
	uint64_t end = now_ms() + (uint64_t)ms;
	long n = 0;
	for (uint64_t t = now_ms(); t < end && n < MAX_RECORDS; t = now_ms()) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)(end - t)) <= 0)
			continue;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		/* On lo each packet shows up going out and coming in: keep one. */
		if (len < (ssize_t)sizeof(struct iphdr) || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		const struct iphdr *ip = (const void *)pkt;
		size_t ihl = (size_t)ip->ihl * 4u;
		if (ip->version != 4 || ip->protocol != IPPROTO_UDP ||
		    (size_t)len < ihl + sizeof(struct udphdr) ||
		    ip->daddr != htonl(INADDR_LOOPBACK))
			continue;
		const struct udphdr *udp = (const void *)(pkt + ihl);
		if (ntohs(udp->dest) != port)
			continue;
		uint32_t plen = (uint32_t)((size_t)len - ihl - sizeof(*udp));
		if (fwrite(&plen, sizeof(plen), 1, out) != 1 ||
		    fwrite(pkt + ihl + sizeof(*udp), 1, plen, out) != plen) {
			perror(path);
			return 1;
		}
		n++;
	}
	if (fclose(out) != 0) {
		perror(path);
		return 1;
	}
	close(fd);
	printf("%ld\n", n);
	return 0;
}

static int replay(const char *path, int port, long gap_us, long rounds)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static uint8_t buf[70000];
	long sent = 0;

	if (fd < 0) {
		perror("pkv-capture: socket");
		return 1;
	}
	for (long r = 0; r < rounds; r++) {
		FILE *in = fopen(path, "rb");
		uint32_t len;
		if (!in) {
			perror(path);
			return 1;
		}
		while (fread(&len, sizeof(len), 1, in) == 1 && len <= sizeof(buf) &&
		       fread(buf, 1, len, in) == len) {
			if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)len)
				sent++;
			if (gap_us > 0) {
				struct timespec ts = {gap_us / 1000000, (gap_us % 1000000) * 1000};
				nanosleep(&ts, NULL);
			}
		}
		fclose(in);
	}
	printf("%ld\n", sent);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "record")) {
		int port = atoi(argv[2]);
		long ms = atol(argv[4]);
		if (port <= 0 || port > 65535 || ms <= 0 || ms > 600000)
			goto usage;
		return record(port, argv[3], ms);
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "replay")) {
		int port = atoi(argv[3]);
		long gap = atol(argv[4]), rounds = argc == 6 ? atol(argv[5]) : 1;
		if (port <= 0 || port > 65535 || gap < 0 || gap > 10000000 || rounds < 1 ||
		    rounds > 1000)
			goto usage;
		return replay(argv[2], port, gap, rounds);
	}
usage:
	fprintf(stderr, "usage: pkv-capture record PORT FILE MS\n"
			"       pkv-capture replay FILE PORT GAP_US [ROUNDS]\n");
	return 64;
}
