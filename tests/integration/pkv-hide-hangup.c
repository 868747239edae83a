// SPDX-License-Identifier: MIT
/*
 * pkv-hide-hangup.so — LD_PRELOAD into a client so that, while the file
 * $PKV_HIDE_HANGUP_FILE exists, it does not see its daemon gone: a
 * poll(fds, 1, 0) that finds the descriptor readable or hung up (the
 * library's liveness poll of its control socket, libclient/attach.c
 * attach_alive) reports nothing instead, and appends a byte to that file,
 * whose size then counts the hangups hidden. A SIGKILLed daemon leaves its
 * segment marked alive, so the client goes on reading the cache it left,
 * as it does for up to a liveness period (50 ms) without this; the test
 * widens that window to as long as it needs. Removing the file ends it.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	static int (*real)(struct pollfd *, nfds_t, int);
	if (!real)
		real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
	int n = real(fds, nfds, timeout);
	const char *path = getenv("PKV_HIDE_HANGUP_FILE");
	if (n <= 0 || nfds != 1 || timeout != 0 || !path)
		return n;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return n; /* no file: nothing hidden */
	ssize_t w = write(fd, "h", 1);
	(void)w;
	close(fd);
	fds[0].revents = 0;
	return 0;
}
