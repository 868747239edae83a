// SPDX-License-Identifier: MIT
/*
 * pkv-notify-sink — a service manager's end of $NOTIFY_SOCKET, for tests:
 *
 *   pkv-notify-sink PATH SECONDS
 *
 * binds a datagram socket at PATH and writes each datagram it receives to
 * stdout as one line, its newlines turned into '|' ("READY=1|STATUS=…"),
 * flushed at once. Stops after STOPPING=1 or after SECONDS, whichever is
 * first; removes PATH. Says "listening" on stderr once bound, so a test
 * waits for that instead of sleeping.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pkv-notify-sink PATH SECONDS\n");
		return 64;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pkv-notify-sink: path too long\n");
		return 64;
	}
	strcpy(sa.sun_path, argv[1]);
	long secs = strtol(argv[2], NULL, 10);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("pkv-notify-sink: bind");
		return 1;
	}
	fprintf(stderr, "listening\n");
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left_ms = secs * 1000 - ((now.tv_sec - t0.tv_sec) * 1000 +
					      (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left_ms <= 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, (int)left_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		char buf[4096];
		ssize_t len = recv(fd, buf, sizeof(buf) - 1, 0);
		if (len < 0)
			continue;
		buf[len] = 0;
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		printf("%s\n", buf);
		fflush(stdout);
		if (strstr(buf, "STOPPING=1"))
			break;
	}
	unlink(argv[1]);
	close(fd);
	return rc;
}
