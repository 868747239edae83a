// SPDX-License-Identifier: MIT
/*
 * pkv-bench: daemon memory for --report-rss. Each daemon of the dev cluster
 * (its pid checked as pkv-cluster checks it) is read from /proc/PID/status
 * (VmRSS, RssAnon, RssFile, RssShmem) with its key count (the entries= of
 * its `paxos:` stats line) before and after the run.
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

struct bench_rss rss; /* bench.h */

#define RSS_SETTLE_NS 300000000l
#define RSS_SETTLE_LIMIT_NS (30ull * 1000000000ull)

static uint64_t status_kib(const char *text, const char *field)
{
	const char *p = strstr(text, field);
	return p ? strtoull(p + strlen(field), NULL, 10) * 1024u : 0;
}

/* The entries= field of the daemon's `paxos:` stats line. */
static bool daemon_entries(unsigned node, uint64_t *entries)
{
	char name[16], *text = NULL;
	struct pkv_client *c;
	bool ok = false;
	snprintf(name, sizeof(name), "node%u", node);
	if (pkv_open(&c, name))
		return false;
	if (pkv_node_stats(c, &text) == 0 && text) {
		/* " entries=": not cache_entries= of the local: line */
		const char *p = strstr(text, " entries=");
		if (p) {
			*entries = strtoull(p + 9, NULL, 10);
			ok = true;
		}
	}
	free(text);
	pkv_close(c);
	return ok;
}

void rss_take(struct rss_snap *snaps)
{
	for (unsigned i = 1; i <= rss.n; i++) {
		struct rss_snap *r = &snaps[i - 1];
		char path[64], text[4096];
		*r = (struct rss_snap){.pid = devcluster_daemon_pid(cluster.run_dir, i)};
		if (!r->pid)
			continue;
		r->have_entries = daemon_entries(i, &r->entries);
		snprintf(path, sizeof(path), "/proc/%d/status", (int)r->pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0) {
			r->pid = 0;
			continue;
		}
		text[n] = 0;
		r->vmrss = status_kib(text, "VmRSS:");
		r->anon = status_kib(text, "RssAnon:");
		r->file = status_kib(text, "RssFile:");
		r->shmem = status_kib(text, "RssShmem:");
	}
}

/*
 * Waits until no daemon's key count changes over RSS_SETTLE_NS (at most
 * RSS_SETTLE_LIMIT_NS): a daemon outside the majority that answered the last
 * rounds may still be applying their messages when the clients are done.
 */
void rss_settle(void)
{
	uint64_t prev[64] = {0}, start = now_ns();
	bool first = true;
	while (!got_signal && now_ns() - start < RSS_SETTLE_LIMIT_NS) {
		bool same = true;
		for (unsigned i = 1; i <= rss.n; i++) {
			uint64_t e = 0;
			daemon_entries(i, &e);
			same = same && e == prev[i - 1];
			prev[i - 1] = e;
		}
		if (same && !first)
			return;
		first = false;
		sleep_ns(RSS_SETTLE_NS);
	}
}

bool rss_per_key(uint64_t before, uint64_t after, const struct rss_snap *b,
		 const struct rss_snap *a, double *out)
{
	if (!a->pid || a->pid != b->pid || !a->have_entries || !b->have_entries)
		return false;
	return stats_per_key(before, after, b->entries, a->entries, out);
}
