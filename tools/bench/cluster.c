// SPDX-License-Identifier: MIT
/*
 * pkv-bench: the dev cluster of --cluster N. The pkv-cluster script next to
 * the binary ($PKV_CLUSTER overrides) runs `up N` in a new
 * /tmp/pkv-bench-XXXXXX run dir with a free UDP port base; `down` and the
 * removal of the run dir follow at exit. Its output goes to stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "devcluster.h"

struct bench_cluster cluster;

int cluster_script(const char *arg, unsigned n)
{
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%u", n);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* stdout is the report's (one JSON object with --json). */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* A fleet: up N --voters V (docs/design.md §5.2). */
		char vbuf[16];
		snprintf(vbuf, sizeof(vbuf), "%u", cluster.voters);
		const char *va = n && cluster.voters ? "--voters" : NULL;
		execl(cluster.script, cluster.script, arg, n ? nbuf : NULL, va, vbuf, (char *)NULL);
		execl("/bin/bash", "bash", cluster.script, arg, n ? nbuf : NULL, va, vbuf,
		      (char *)NULL);
		fprintf(stderr, "pkv-bench: cannot run %s: %s\n", cluster.script, strerror(errno));
		_exit(127);
	}
	int status;
	bool forwarded = false;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
		/* Interrupted: make sure the script ends too, then clean up. */
		if (got_signal && !forwarded) {
			kill(pid, SIGTERM);
			forwarded = true;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

void cluster_down(void)
{
	if (!cluster.up || getpid() != cluster.owner)
		return;
	cluster.up = false;
	cluster_script("down", 0);
	if (cluster.keep)
		fprintf(stderr, "pkv-bench: daemon logs kept in %s\n", cluster.run_dir);
	else
		devcluster_remove_dir(cluster.run_dir);
}

/* Finds the script next to the binary ($PKV_CLUSTER overrides). */
static int cluster_find_script(void)
{
	const char *env = getenv("PKV_CLUSTER");
	if (env && *env) {
		snprintf(cluster.script, sizeof(cluster.script), "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		if ((size_t)snprintf(cluster.script, sizeof(cluster.script), "%s/pkv-cluster",
				     self) >= sizeof(cluster.script))
			return -ENAMETOOLONG;
	}
	return access(cluster.script, X_OK) == 0 ? 0 : -errno;
}

int cluster_up(unsigned n)
{
	int r = cluster_find_script();
	if (r) {
		fprintf(stderr, "pkv-bench: cannot find the dev cluster launcher %s: %s\n",
			cluster.script, strerror(-r));
		return BENCH_EX_UNAVAILABLE;
	}
	int base = devcluster_random_port_base(n);
	if (base < 0) {
		fprintf(stderr, "pkv-bench: no free UDP port range for %u daemons\n", n);
		return BENCH_EX_UNAVAILABLE;
	}
	/* TMPDIR: the run dir, and durable logs, on the filesystem asked for */
	const char *tmp = getenv("TMPDIR");
	snprintf(cluster.run_dir, sizeof(cluster.run_dir), "%s/pkv-bench-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(cluster.run_dir)) {
		fprintf(stderr, "pkv-bench: mkdtemp: %s\n", strerror(errno));
		return BENCH_EX_UNAVAILABLE;
	}
	snprintf(cluster.port_base, sizeof(cluster.port_base), "%d", base);
	/* The script and the library (in the clients) both read these. */
	setenv("PKV_RUN_DIR", cluster.run_dir, 1);
	setenv("PKV_PORT_BASE", cluster.port_base, 1);
	unsetenv("PKV_SOCKET");
	cluster.owner = getpid();
	cluster.up = true;
	fprintf(stderr, "pkv-bench: starting %u daemons in %s (udp ports %d..%d)\n", n,
		cluster.run_dir, base + 1, base + (int)n);
	r = cluster_script("up", n);
	if (got_signal)
		return 128 + got_signal;
	if (r != 0) {
		fprintf(stderr, "pkv-bench: the dev cluster did not start (pkv-cluster up %u: %d)\n",
			n, r);
		devcluster_dump_logs(cluster.run_dir, stderr);
		return BENCH_EX_UNAVAILABLE;
	}
	return 0;
}
