// SPDX-License-Identifier: MIT
/*
 * pkv-fault SOCKET SPEC — sets a daemon's injected faults (a pkvd built with
 * -Dfault_injection=true): SPEC is "drop=P dup=P reorder=P delay=MS skew=MS
 * block=ID,ID… block_in=ID,… block_out=ID,…" (P in percent; block cuts both
 * directions, block_in/block_out one; late_erase=ID,… loses only the ERASE
 * and QUERY_REPLY messages from those nodes; skew shifts the wall clock the
 * daemon judges until bindings by, may be negative; cache_lag=US stalls the
 * loop before each cache publish; rekey=N rekeys sessions after N
 * datagrams; sync_delay=MS makes each write + fdatasync of the durable log
 * complete MS later, a slow disk). Each call replaces every
 * fault; "" clears them.
 * Exits 0 when applied, 77 when the daemon has no fault injection (so a
 * test can skip), 1 on other errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pkv-ctl.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pkv-fault SOCKET SPEC\n");
		return 64;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sa.sun_path))
		return 64;
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("pkv-fault: connect");
		return 1;
	}
	size_t len = strlen(argv[2]);
	uint8_t pkt[sizeof(struct ctl_req) + 512];
	if (len > 512)
		return 64;
	struct ctl_req rq = {.magic = CTL_MAGIC, .op = CTL_OP_FAULT, .value_len = (uint32_t)len};
	memcpy(pkt, &rq, sizeof(rq));
	memcpy(pkt + sizeof(rq), argv[2], len);
	if (send(fd, pkt, sizeof(rq) + len, 0) < 0) {
		perror("pkv-fault: send");
		return 1;
	}
	struct ctl_rep rep;
	if (recv(fd, &rep, sizeof(rep), 0) != (ssize_t)sizeof(rep)) {
		perror("pkv-fault: recv");
		return 1;
	}
	close(fd);
	if (rep.status != PKV_S_OK) {
		fprintf(stderr, "pkv-fault: refused (no fault injection in this build, or a bad spec)\n");
		return 77;
	}
	return 0;
}
