// SPDX-License-Identifier: MIT
/* devcluster — shared pieces of a loopback dev cluster (devcluster.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, getrandom; the build passes it too */
#endif
#include "devcluster.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int devcluster_ports_free(int base, unsigned n)
{
	int fds[DEVCLUSTER_NODES_MAX];
	unsigned opened = 0;
	bool ok = true;
	int r = 0;

	if (n > DEVCLUSTER_NODES_MAX)
		return -EINVAL;
	for (unsigned i = 1; i <= n && ok; i++) {
		struct sockaddr_in sa = {
			.sin_family = AF_INET,
			.sin_port = htons((uint16_t)(base + (int)i)),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			break;
		}
		fds[opened++] = fd;
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	}
	while (opened)
		close(fds[--opened]);
	return r ? r : ok;
}

int devcluster_port_base(unsigned n, unsigned tries, int (*pick)(void *arg), void *arg)
{
	for (unsigned attempt = 0; attempt < tries; attempt++) {
		int base = pick(arg);
		int r = devcluster_ports_free(base, n);
		if (r < 0)
			return r;
		if (r)
			return base;
	}
	return -EADDRINUSE;
}

struct random_pick {
	uint64_t seed;
	unsigned n;
};

static int random_pick(void *arg)
{
	struct random_pick *p = arg;
	uint64_t x = p->seed;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->seed = x;
	x *= 0x2545F4914F6CDD1Dull;
	return DEVCLUSTER_PORT_LOW + (int)(x % (DEVCLUSTER_PORT_SPAN - p->n));
}

int devcluster_random_port_base(unsigned n)
{
	struct random_pick p = {.n = n};
	if (getrandom(&p.seed, sizeof(p.seed), 0) != sizeof(p.seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		p.seed = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
			 ((uint64_t)getpid() << 32);
	}
	p.seed |= 1;
	return devcluster_port_base(n, 64, random_pick, &p);
}

pid_t devcluster_daemon_pid(const char *run_dir, unsigned node)
{
	char path[PATH_MAX], buf[4096], want[16];
	long pid = 0;

	snprintf(path, sizeof(path), "%s/node%u/pkvd.pid", run_dir, node);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || pid > INT_MAX)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	snprintf(want, sizeof(want), "%u", node);
	bool is_pkvd = false, is_node = false;
	/* cmdline is the arguments, each ended by a NUL */
	for (char *a = buf; a < buf + n; a += strlen(a) + 1) {
		char *next = a + strlen(a) + 1;
		if (a == buf) {
			const char *base = strrchr(a, '/');
			is_pkvd = strstr(base ? base + 1 : a, "pkvd") != NULL;
		} else if (!strcmp(a, "--node") && next < buf + n && !strcmp(next, want)) {
			is_node = true;
		}
	}
	return is_pkvd && is_node ? (pid_t)pid : 0;
}

bool devcluster_process_alive(pid_t pid)
{
	char path[64], line[256];
	bool alive = false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6)) {
			alive = !strchr(line, 'Z') && !strchr(line, 'X');
			break;
		}
	}
	fclose(f);
	return alive;
}

void devcluster_dump_logs(const char *run_dir, FILE *out)
{
	for (unsigned i = 1; i <= DEVCLUSTER_NODES_MAX; i++) {
		char path[PATH_MAX], buf[2048];
		snprintf(path, sizeof(path), "%s/node%u/pkvd.log", run_dir, i);
		FILE *f = fopen(path, "r");
		if (!f)
			break;
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
		fprintf(out, "--- node%u/pkvd.log (end) ---\n%s", i, buf);
	}
}

static bool remove_failed;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		remove_failed = true;
	return 0;
}

int devcluster_remove_dir(const char *dir)
{
	remove_failed = false;
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return -1;
	return remove_failed ? -1 : 0;
}
