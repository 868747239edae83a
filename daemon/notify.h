/* SPDX-License-Identifier: MIT */
/*
 * notify.h — the service manager's readiness protocol, without libsystemd
 * (docs/design.md §8.1).
 *
 * When $NOTIFY_SOCKET is set (a path, or "@name" for an abstract socket),
 * each state change is one datagram of "NAME=value" lines to it: READY=1 once
 * the daemon is synced and serving, STATUS=… when quorum, configuration or
 * epoch change, WATCHDOG=1 every half of $WATCHDOG_USEC (when
 * $WATCHDOG_PID is unset or ours), RELOADING=1 … READY=1 around a reload,
 * STOPPING=1 on stop. Without $NOTIFY_SOCKET every call does nothing.
 *
 * A leaf like log.h: no struct daemon, so a unit test drives it alone.
 */
#ifndef PKV_NOTIFY_H
#define PKV_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOTIFY_STATUS_MAX 256u

struct notify {
	int fd; /* -1: no service manager to tell */
	struct sockaddr_un addr;
	socklen_t addrlen;
	uint64_t watchdog_us;	   /* 0: no watchdog */
	uint64_t next_watchdog_us; /* monotonic */
	bool ready;		   /* READY=1 was sent */
	char status[NOTIFY_STATUS_MAX]; /* the last STATUS= sent */
};

/*
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. Returns 0 (also
 * when there is nothing to tell: n->fd stays -1), or -EINVAL with a message
 * in err when a variable is malformed (a relative path, a name too long for
 * an address, a watchdog time that is no number).
 */
int notify_init(struct notify *n, char *err, size_t errlen);
void notify_close(struct notify *n);
bool notify_enabled(const struct notify *n);

/* One datagram of text; 0 or -errno (also 0 when not enabled). */
int notify_send(const struct notify *n, const char *text);

/* READY=1 with the status, once; the later calls do nothing. */
int notify_ready(struct notify *n, const char *status);
/* STATUS=text, when it differs from the last one sent. */
int notify_status(struct notify *n, const char *text);
/* WATCHDOG=1 when due at now (monotonic µs); returns when the next is due
 * (UINT64_MAX without a watchdog). */
uint64_t notify_watchdog(struct notify *n, uint64_t now);
int notify_reloading(struct notify *n, uint64_t monotonic_us);
int notify_reloaded(struct notify *n);
int notify_stopping(struct notify *n);

#endif
