/* SPDX-License-Identifier: MIT */
/*
 * log.h — the daemon's log lines and its monotonic clock. A leaf: every
 * module of the shell may call it, and it calls none of them.
 *
 * Every line has a syslog priority (config.h, PKV_LOG_*): errors err, a lost
 * quorum or a peer down warning, start and stop notice, routine events info,
 * chatty ones debug. Lines less urgent than the configured log_level are not
 * written. Under journald (JOURNAL_STREAM names our stderr) a line is
 * "<N>node text": the journal keeps the priority and its own timestamp.
 * Otherwise it is "local time, node, level word, text".
 */
#ifndef PKV_LOG_H
#define PKV_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h" /* PKV_LOG_* */

struct daemon;

/* One line at priority level (PKV_LOG_*). */
void daemon_logl(struct daemon *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define daemon_err(d, ...) daemon_logl(d, PKV_LOG_ERR, __VA_ARGS__)
#define daemon_warn(d, ...) daemon_logl(d, PKV_LOG_WARNING, __VA_ARGS__)
#define daemon_notice(d, ...) daemon_logl(d, PKV_LOG_NOTICE, __VA_ARGS__)
#define daemon_info(d, ...) daemon_logl(d, PKV_LOG_INFO, __VA_ARGS__)
#define daemon_debug(d, ...) daemon_logl(d, PKV_LOG_DEBUG, __VA_ARGS__)
/* A routine line (info): the level of a call that names none. */
#define daemon_log(d, ...) daemon_logl(d, PKV_LOG_INFO, __VA_ARGS__)

/*
 * Decides the line format once at start: journald's "<N>" prefixes when
 * JOURNAL_STREAM ("DEV:INO") is stderr's device and inode, else our own
 * timestamps. Returns true for the journal.
 */
bool daemon_log_setup(void);

/*
 * Log to the file at path (appended, 0640) instead of stderr; called again
 * (SIGHUP) it reopens the same path, so a rotated file is let go. Returns 0 or
 * -errno; on a failure the old file stays in use.
 */
int daemon_log_open_file(const char *path);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t daemon_now_us(void);

#endif
