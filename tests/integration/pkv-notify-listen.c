// SPDX-License-Identifier: MIT
/*
 * pkv-notify-listen SOCKET OUT — the service manager's end of sd_notify for
 * the operator test: binds a datagram socket at SOCKET (what NOTIFY_SOCKET
 * names) and appends every datagram it receives to OUT, one line per
 * assignment ("READY=1", "STATUS=…", "WATCHDOG=1"), flushed at once so the
 * test can wait for a line. Runs until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];

	if (argc != 3) {
		fprintf(stderr, "usage: pkv-notify-listen SOCKET OUT\n");
		return 64;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pkv-notify-listen: socket path too long: %s\n", argv[1]);
		return 64;
	}
	strcpy(sa.sun_path, argv[1]);
	FILE *out = fopen(argv[2], "a");
	if (!out) {
		fprintf(stderr, "pkv-notify-listen: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "pkv-notify-listen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pkv-notify-listen: recv: %s\n", strerror(errno));
			return 1;
		}
		/* Assignments are separated by newlines; keep one a line. */
		buf[n] = '\0';
		fputs(buf, out);
		if (n == 0 || buf[n - 1] != '\n')
			fputc('\n', out);
		fflush(out);
	}
}
