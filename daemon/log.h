/* SPDX-License-Identifier: MIT */
/*
 * log.h — the daemon's log lines and its monotonic clock. A leaf: every
 * module of the shell may call it, and it calls none of them.
 */
#ifndef PKV_LOG_H
#define PKV_LOG_H

#include <stdint.h>

struct daemon;

/* One line on stderr: local time to the millisecond, node name, text. */
void daemon_log(struct daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* CLOCK_MONOTONIC in microseconds. */
uint64_t daemon_now_us(void);

#endif
