// SPDX-License-Identifier: MIT
/*
 * pkv-bench: the fleet figures of --report-fleet (docs/design.md §5.2). A
 * voter (node1) is sampled — its datagram counters from the `datagrams:`
 * line of its `pkv cluster` report, its CPU time from /proc/PID/stat — over
 * FLEET_IDLE_NS before any phase (idle) and over the main phase (load);
 * the last node of the dev cluster (an observer with --voters) has its
 * VmRSS read once at idle.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "devcluster.h"
#include "paxoskv.h"

static bool read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return true;
}

/* utime + stime (fields 14 and 15), after the command's closing paren. */
static bool cpu_ticks(pid_t pid, uint64_t *out)
{
	char path[64], text[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!read_file(path, text, sizeof(text)))
		return false;
	const char *p = strrchr(text, ')');
	if (!p)
		return false;
	p += 2; /* field 3, the state */
	for (int field = 3; field < 14 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return false;
	char *end;
	uint64_t ut = strtoull(p, &end, 10);
	uint64_t st = strtoull(end, NULL, 10);
	*out = ut + st;
	return true;
}

void fleet_sample(unsigned node, struct fleet_sample *s)
{
	char name[16], *text = NULL;
	struct pkv_client *c;
	*s = (struct fleet_sample){0};
	pid_t pid = devcluster_daemon_pid(cluster.run_dir, node);
	snprintf(name, sizeof(name), "node%u", node);
	if (!pid || pkv_open(&c, name))
		return;
	if (pkv_cluster_status(c, &text) == 0 && text) {
		const char *in = strstr(text, "\ndatagrams: in=");
		const char *out = in ? strstr(in, " out=") : NULL;
		if (in && out && cpu_ticks(pid, &s->cpu_ticks)) {
			s->dgrams_in = strtoull(in + 15, NULL, 10);
			s->dgrams_out = strtoull(out + 5, NULL, 10);
			s->at_ns = now_ns();
			s->ok = true;
		}
	}
	free(text);
	pkv_close(c);
}

void fleet_idle(const struct bench_config *cfg, struct fleet_report *f)
{
	fprintf(stderr, "pkv-bench: fleet: sampling node%u idle for %llu s\n", FLEET_VOTER,
		(unsigned long long)(FLEET_IDLE_NS / 1000000000ull));
	fleet_sample(FLEET_VOTER, &f->idle_from);
	uint64_t end = now_ns() + FLEET_IDLE_NS;
	while (now_ns() < end && !got_signal)
		sleep_ns(50000000l);
	fleet_sample(FLEET_VOTER, &f->idle_to);
	f->observer = cfg->voters && cfg->voters < cfg->cluster ? cfg->cluster : 0;
	if (f->observer) {
		char path[64], text[4096];
		pid_t pid = devcluster_daemon_pid(cluster.run_dir, f->observer);
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		const char *p;
		if (pid && read_file(path, text, sizeof(text)) && (p = strstr(text, "VmRSS:")))
			f->observer_rss = strtoull(p + 6, NULL, 10) * 1024u;
	}
}

static void print_rates(const char *what, const struct fleet_sample *a,
			const struct fleet_sample *b)
{
	if (!a->ok || !b->ok || b->at_ns <= a->at_ns) {
		printf("fleet: node%u %s: not measured\n", FLEET_VOTER, what);
		return;
	}
	double s = (double)(b->at_ns - a->at_ns) / 1e9;
	double in = (double)(b->dgrams_in - a->dgrams_in) / s;
	double out = (double)(b->dgrams_out - a->dgrams_out) / s;
	double cpu = (double)(b->cpu_ticks - a->cpu_ticks) / (double)sysconf(_SC_CLK_TCK) / s;
	printf("fleet: node%u (voter) %s: datagrams/s in %.0f out %.0f, CPU %.1f%% of a core"
	       " (over %.1f s)\n",
	       FLEET_VOTER, what, in, out, 100.0 * cpu, s);
}

void fleet_print(const struct bench_config *cfg, const struct fleet_report *f)
{
	printf("fleet: %u daemons, %u voters, %u observers\n", cfg->cluster,
	       cfg->voters ? cfg->voters : cfg->cluster,
	       cfg->voters ? cfg->cluster - cfg->voters : 0);
	print_rates("idle", &f->idle_from, &f->idle_to);
	print_rates("under load (the main phase)", &f->load_from, &f->load_to);
	if (f->observer)
		printf("fleet: node%u (observer) idle RSS %.1f MiB\n", f->observer,
		       (double)f->observer_rss / (1024.0 * 1024.0));
}
