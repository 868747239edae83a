// SPDX-License-Identifier: MIT
/*
 * notify.c — the service manager's readiness datagrams (notify.h).
 */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int notify_init(struct notify *n, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	size_t len = strlen(path);
	if (path[0] != '/' && path[0] != '@')
		return fail(err, errlen, "NOTIFY_SOCKET '%s' is neither an absolute path nor '@name'",
			    path);
	if (len >= sizeof(n->addr.sun_path))
		return fail(err, errlen, "NOTIFY_SOCKET is longer than a socket address (%zu bytes)",
			    len);
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0'; /* abstract: the name is the bytes after the NUL */
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));

	const char *wd = getenv("WATCHDOG_USEC");
	if (wd && *wd) {
		uint64_t us, pid;
		if (!parse_u64(wd, &us))
			return fail(err, errlen, "WATCHDOG_USEC '%s' is not a number of microseconds",
				    wd);
		const char *wpid = getenv("WATCHDOG_PID");
		/* The watchdog is another process's when WATCHDOG_PID names it. */
		if (!wpid || !*wpid || (parse_u64(wpid, &pid) && pid == (uint64_t)getpid()))
			n->watchdog_us = us;
	}
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		int e = errno;
		return fail(err, errlen, "cannot create the notify socket: %s", strerror(e)), -e;
	}
	return 0;
}

void notify_close(struct notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

bool notify_enabled(const struct notify *n)
{
	return n->fd >= 0;
}

int notify_send(const struct notify *n, const char *text)
{
	if (n->fd < 0)
		return 0;
	ssize_t r = sendto(n->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT,
			   (const struct sockaddr *)&n->addr, n->addrlen);
	return r < 0 ? -errno : 0;
}

int notify_ready(struct notify *n, const char *status)
{
	if (n->ready || n->fd < 0)
		return 0;
	char buf[NOTIFY_STATUS_MAX + 32];
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	snprintf(n->status, sizeof(n->status), "%s", status);
	n->ready = true;
	return notify_send(n, buf);
}

int notify_status(struct notify *n, const char *text)
{
	if (n->fd < 0 || strncmp(n->status, text, sizeof(n->status) - 1) == 0)
		return 0;
	snprintf(n->status, sizeof(n->status), "%s", text);
	char buf[NOTIFY_STATUS_MAX + 16];
	snprintf(buf, sizeof(buf), "STATUS=%s", n->status);
	return notify_send(n, buf);
}

uint64_t notify_watchdog(struct notify *n, uint64_t now)
{
	if (n->fd < 0 || !n->watchdog_us)
		return UINT64_MAX;
	if (now >= n->next_watchdog_us) {
		(void)notify_send(n, "WATCHDOG=1");
		n->next_watchdog_us = now + n->watchdog_us / 2;
	}
	return n->next_watchdog_us;
}

int notify_reloading(struct notify *n, uint64_t monotonic_us)
{
	/* MONOTONIC_USEC: newer managers (Type=notify-reload) want it with
	 * RELOADING=1; older ones ignore it. */
	char buf[64];
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, monotonic_us);
	return notify_send(n, buf);
}

int notify_reloaded(struct notify *n)
{
	return n->ready ? notify_send(n, "READY=1") : 0;
}

int notify_stopping(struct notify *n)
{
	return notify_send(n, "STOPPING=1");
}
