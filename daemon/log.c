// SPDX-License-Identifier: MIT
/*
 * log.c — log lines and the monotonic clock (log.h).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static bool log_journal; /* "<N>" prefixes, no timestamps of our own */

uint64_t daemon_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool daemon_log_setup(void)
{
	/* systemd sets JOURNAL_STREAM for a unit's stdout/stderr; a child
	 * that inherited it but writes elsewhere must not use the prefixes. */
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	log_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
		      (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return log_journal;
}

int daemon_log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	fflush(stderr);
	int r = dup2(fd, 2) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		log_journal = false;
	return r;
}

void daemon_logl(struct daemon *d, int level, const char *fmt, ...)
{
	if (level > d->cfg.log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s %s\n", level, d->cfg.self, line);
		return;
	}
	char when[32];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	const char *lw = config_log_level_name(level);
	fprintf(stderr, "%s.%03ld %s %s %s\n", when, (long)(tv.tv_usec / 1000), d->cfg.self,
		lw ? lw : "info", line);
}
