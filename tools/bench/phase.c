// SPDX-License-Identifier: MIT
/*
 * pkv-bench: one phase. The parent maps the shared results and sample
 * arrays, loads the key pool if the workload reads it, forks the clients,
 * lets them go at once from the start barrier, reaps them and merges their
 * results into percentiles (stats.c). For kill-gap it also SIGKILLs the
 * victim (and starts it again with --restart) and finds the pauses of the
 * merged completion timeline around those events.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "devcluster.h"
#include "paxoskv.h"

static void phase_add_error(struct phase_result *pr, int code, uint64_t count)
{
	if (!stats_err_add(pr->errs, sizeof(pr->errs) / sizeof(pr->errs[0]), code, count))
		pr->errs_other += count;
}

static void phase_merge(const struct bench_config *cfg, struct client_result *res,
			uint64_t *samples, uint64_t cap, struct phase_result *pr)
{
	struct sample_set *sets = calloc(cfg->clients, sizeof(*sets));
	uint64_t first = UINT64_MAX, last = 0;
	unsigned nsets = 0;

	for (unsigned i = 0; i < cfg->clients; i++) {
		struct client_result *r = &res[i];
		if (!r->done) {
			pr->failed_clients++;
			if (!pr->message[0])
				snprintf(pr->message, sizeof(pr->message),
					 "a client process died");
			continue;
		}
		if (r->setup_status) {
			pr->failed_clients++;
			if (!pr->setup_status)
				pr->setup_status = r->setup_status;
			if (!pr->message[0])
				snprintf(pr->message, sizeof(pr->message), "%s", r->message);
			continue;
		}
		if (r->message[0] && !pr->message[0])
			snprintf(pr->message, sizeof(pr->message), "%s", r->message);
		pr->ops += r->ops;
		pr->reads += r->reads;
		pr->writes += r->writes;
		pr->mismatches += r->mismatches;
		pr->unavailable += r->unavailable;
		pr->cache_hits += r->cache_hits;
		pr->cache_misses += r->cache_misses;
		for (int e = 0; e < ERR_SLOTS && r->errs[e].count; e++) {
			pr->errors += r->errs[e].count;
			phase_add_error(pr, r->errs[e].code, r->errs[e].count);
		}
		pr->errors += r->errs_other;
		pr->errs_other += r->errs_other;
		if (r->max_ns > pr->max)
			pr->max = r->max_ns;
		if (r->start_ns < first)
			first = r->start_ns;
		if (r->end_ns > last)
			last = r->end_ns;
		uint64_t *s = samples + (size_t)i * cap;
		stats_sort(s, r->nsamples);
		if (sets && r->nsamples) {
			sets[nsets].samples = s;
			sets[nsets].n = r->nsamples;
			sets[nsets].weight = (double)r->ops / (double)r->nsamples;
			nsets++;
		}
	}
	pr->errors += pr->mismatches;
	/* get-hit's floor: the mean over the clients that measured it. */
	unsigned nf = 0;
	for (unsigned i = 0; i < cfg->clients; i++) {
		const struct client_result *r = &res[i];
		if (!r->done || r->setup_status || !r->floor_n)
			continue;
		nf++;
		pr->floor_n += r->floor_n;
		pr->floor_p50 += r->floor_p50;
		pr->floor_p90 += r->floor_p90;
		pr->floor_p99 += r->floor_p99;
		pr->floor_mean_ns += r->floor_mean_ns;
		pr->tight_n += r->tight_n;
		pr->tight_read_ns += r->tight_read_ns;
		pr->tight_floor_ns += r->tight_floor_ns;
	}
	if (nf) {
		pr->floor_keys = cfg->keys;
		pr->floor_p50 /= nf;
		pr->floor_p90 /= nf;
		pr->floor_p99 /= nf;
		pr->floor_mean_ns /= nf;
		pr->tight_read_ns /= nf;
		pr->tight_floor_ns /= nf;
	}
	if (last > first) {
		pr->elapsed_s = (double)(last - first) / 1e9;
		pr->ops_per_s = (double)pr->ops / pr->elapsed_s;
	}
	if (sets) {
		pr->p50 = stats_quantile(sets, nsets, pr->max, 0.50);
		pr->p90 = stats_quantile(sets, nsets, pr->max, 0.90);
		pr->p99 = stats_quantile(sets, nsets, pr->max, 0.99);
		pr->p999 = stats_quantile(sets, nsets, pr->max, 0.999);
	}
	free(sets);
}

/* --- kill-gap: the kill, the restart, the gaps ----------------------------- */

/* The daemon writer i attaches to: the nodes other than the victim in turn. */
static unsigned killgap_writer_node(const struct bench_config *cfg, unsigned i)
{
	unsigned node = i % (cfg->cluster - 1) + 1;
	return node >= cfg->victim ? node + 1 : node;
}

static void sleep_until(uint64_t t)
{
	while (!got_signal) {
		if (now_ns() >= t)
			return;
		struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
				      .tv_nsec = (long)(t % 1000000000ull)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

/*
 * The parent's part of a kill-gap run, from the start barrier on: SIGKILL
 * the victim after a third of the run, wait until it is gone, and with
 * --restart start it again after two thirds. The victim is signalled by its
 * pid directly (not through the script) so the kill time is known to the
 * microsecond.
 */
static void killgap_events(const struct bench_config *cfg, uint64_t go, struct phase_result *pr)
{
	uint64_t span = (uint64_t)(cfg->seconds * 1e9);

	pr->victim = cfg->victim;
	pr->go_ns = go;
	sleep_until(go + span / 3);
	if (got_signal)
		return;
	pid_t pid = devcluster_daemon_pid(cluster.run_dir, cfg->victim);
	if (!pid) {
		snprintf(pr->message, sizeof(pr->message), "kill-gap: node%u is not running",
			 cfg->victim);
		return;
	}
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	pr->kill_ns = now_ns();
	if (kill(pid, SIGKILL) < 0) {
		snprintf(pr->message, sizeof(pr->message), "kill-gap: kill node%u (pid %d): %s",
			 cfg->victim, (int)pid, strerror(errno));
		pr->kill_ns = 0;
		return;
	}
	while (devcluster_process_alive(pid) && now_ns() - pr->kill_ns < KILLGAP_VANISH_NS)
		sleep_ns(200000);
	if (!devcluster_process_alive(pid)) {
		pr->vanish_ns = now_ns();
		/* As `pkv-cluster kill` leaves it: no pid file for a dead daemon. */
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/node%u/pkvd.pid", cluster.run_dir, cfg->victim);
		unlink(path);
	}
	/* Wall clock too, to compare with the daemons' logs (UTC, ms). */
	struct tm tm;
	char when[32] = "";
	if (gmtime_r(&wall.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "pkv-bench: kill-gap: SIGKILLed node%u (pid %d) at %.3f s (%s.%03ld UTC)\n",
		cfg->victim, (int)pid, (double)(pr->kill_ns - go) / 1e9, when,
		wall.tv_nsec / 1000000);
	if (!cfg->restart)
		return;
	sleep_until(go + span / 3 * 2);
	if (got_signal)
		return;
	pr->restart_ns = now_ns();
	int r = cluster_script("start", cfg->victim);
	if (r) {
		fprintf(stderr, "pkv-bench: kill-gap: pkv-cluster start %u: %d\n", cfg->victim, r);
		pr->restart_ns = 0;
	}
}


/*
 * Merges the writers' completion times into one timeline (the start of the
 * first writer and the end of the last one bound it, so a stall that lasts
 * until the end counts) and finds the longest pause near the kill and the
 * restart; also each writer's own longest pause.
 */
static void killgap_merge(const struct bench_config *cfg, const struct client_result *res,
			  const uint64_t *done_ts, uint64_t cap, struct phase_result *pr)
{
	uint64_t total = 0, first = UINT64_MAX, last = 0;

	pr->nwriters = cfg->clients;
	for (unsigned i = 0; i < cfg->clients; i++) {
		const struct client_result *r = &res[i];
		pr->writer_node[i] = r->node;
		if (!r->done || r->setup_status)
			continue;
		total += r->ndone;
		pr->done_lost += r->done_lost;
		first = r->start_ns < first ? r->start_ns : first;
		last = r->end_ns > last ? r->end_ns : last;
		pr->writer_gap[i] = r->gap_max_ns;
		if (pr->kill_ns)
			pr->writer_gap_from_kill[i] = (int64_t)r->gap_at_ns - (int64_t)pr->kill_ns;
		if (r->gap_max_ns > pr->writer_gap_max_ns)
			pr->writer_gap_max_ns = r->gap_max_ns;
	}
	if (!pr->kill_ns || first == UINT64_MAX)
		return;
	uint64_t *all = malloc((size_t)(total + 2) * sizeof(*all));
	if (!all)
		return;
	size_t n = 0;
	all[n++] = first;
	all[n++] = last;
	for (unsigned i = 0; i < cfg->clients; i++) {
		if (!res[i].done || res[i].setup_status)
			continue;
		memcpy(all + n, done_ts + (size_t)i * cap, res[i].ndone * sizeof(*all));
		n += res[i].ndone;
	}
	stats_sort(all, n);
	/* The reference: pauses the machine makes anyway, away from the events. */
	pr->steady_gap_ns = stats_steady_gap(all, n, pr->kill_ns, pr->restart_ns, cfg->window_ns);
	/* Where the long pauses are: a kill's, or the daemons' own (e.g. a rehash). */
	stats_top_gaps(all, n, pr->kill_ns, pr->top_gap, pr->top_gap_from_kill, KILLGAP_TOP);
	pr->window_ns = cfg->window_ns;
	pr->write_gap_ns =
		stats_gap_near(all, n, pr->kill_ns, cfg->window_ns, &pr->write_gap_from_kill_ns);
	if (pr->restart_ns)
		pr->restart_gap_ns = stats_gap_near(all, n, pr->restart_ns, cfg->window_ns,
					      &pr->restart_gap_from_restart_ns);
	free(all);
}

void cluster_print_paxos_stats(unsigned n)
{
	for (unsigned i = 1; i <= n; i++) {
		char name[16], *text = NULL;
		struct pkv_client *c;
		snprintf(name, sizeof(name), "node%u", i);
		if (!devcluster_daemon_pid(cluster.run_dir, i) || pkv_open(&c, name))
			continue;
		if (pkv_node_stats(c, &text) == 0 && text) {
			char *nl = strchr(text, '\n');
			if (nl)
				*nl = 0;
			fprintf(stderr, "pkv-bench: %s %s\n", name, text);
		}
		free(text);
		pkv_close(c);
	}
}

/*
 * bound's own defaults: an iteration takes milliseconds, not microseconds, so
 * it runs --ops iterations (200 if not given) without the 5 s cut, after one
 * warm-up iteration.
 */
static const struct bench_config *phase_config(struct bench_config *pc,
					       const struct bench_config *cfg, enum workload wl)
{
	*pc = *cfg;
	/* kill-gap is a run of fixed length around the kill, whatever --ops says. */
	if (wl == WL_KILL_GAP && !pc->seconds_given)
		pc->seconds = KILLGAP_DEFAULT_SECONDS;
	if (wl != WL_BOUND)
		return pc;
	if (!pc->ops_given)
		pc->ops = BOUND_DEFAULT_OPS;
	if (!pc->seconds_given)
		pc->seconds = OPS_ONLY_LIMIT_S;
	if (!pc->warmup_given)
		pc->warmup_ops = 1;
	return pc;
}

int phase_run(const struct bench_config *main_cfg, enum workload wl, struct phase_result *pr)
{
	struct bench_config phase_cfg;
	const struct bench_config *cfg = phase_config(&phase_cfg, main_cfg, wl);
	uint64_t cap = cfg->ops < SAMPLES_MAX ? cfg->ops : SAMPLES_MAX;
	size_t head = sizeof(struct bench_control) + cfg->clients * sizeof(struct client_result);
	head = (head + 4095) & ~(size_t)4095;
	/* kill-gap keeps each success's completion time too, after the samples. */
	size_t arrays = wl == WL_KILL_GAP ? 2 : 1;
	size_t size = head + arrays * (size_t)cfg->clients * cap * sizeof(uint64_t);
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "pkv-bench: cannot map %zu bytes for samples: %s\n", size,
			strerror(errno));
		return BENCH_EX_UNAVAILABLE;
	}
	struct bench_control *ctl = map;
	struct client_result *res = (struct client_result *)(ctl + 1);
	uint64_t *samples = (uint64_t *)((char *)map + head);
	uint64_t *done_ts = wl == WL_KILL_GAP ? samples + (size_t)cfg->clients * cap : NULL;
	pid_t *pids = calloc(cfg->clients, sizeof(*pids));
	uint64_t nonce = random_u64() % (62 * 62 * 62);
	unsigned started = 0, reaped = 0;
	int ex = 0;

	memset(pr, 0, sizeof(*pr));
	pr->workload = wl;
	pr->clients = cfg->clients;
	if (!pids) {
		munmap(map, size);
		return BENCH_EX_UNAVAILABLE;
	}
	/* kill-gap: a store of --keys keys when the kill comes (a sweep costs O(keys)). */
	if (wl == WL_PUT_EXISTING || wl == WL_GET_HIT || wl == WL_MIXED ||
	    (wl == WL_KILL_GAP && cfg->keys_given)) {
		ex = pool_load(cfg, nonce);
		if (!ex && wl == WL_GET_HIT)
			ex = floor_fill(cfg, nonce);
		if (ex) {
			free(pids);
			munmap(map, size);
			return ex;
		}
	}
	fflush(NULL);
	for (; started < cfg->clients; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "pkv-bench: fork: %s\n", strerror(errno));
			ex = BENCH_EX_UNAVAILABLE;
			break;
		}
		if (pid == 0) {
			struct bench_config wc = *cfg;
			char ep[16];
			if (wl == WL_KILL_GAP) {
				/* Writers spread over the daemons that survive. */
				res[started].node = killgap_writer_node(cfg, started);
				snprintf(ep, sizeof(ep), "node%u", res[started].node);
				wc.endpoint = ep;
			}
			client_main(&wc, wl, nonce, getppid(), ctl, &res[started],
				    samples + (size_t)started * cap,
				    done_ts ? done_ts + (size_t)started * cap : NULL, cap);
		}
		pids[started] = pid;
	}
	/* Start barrier: every client ready (or gone), then all go at once. */
	while (!ex && !got_signal &&
	       __atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) + reaped < started) {
		int status;
		for (unsigned i = 0; i < started; i++) {
			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pids[i] = -pids[i];
				reaped++;
			}
		}
		sleep_ns(1000000);
	}
	uint64_t go = now_ns();
	__atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
	bench_futex_wake(&ctl->go, INT_MAX);
	if (!ex && !got_signal && wl == WL_KILL_GAP)
		killgap_events(cfg, go, pr);
	if (ex || got_signal)
		kill_children(pids, started);
	for (unsigned i = 0; i < started; i++) {
		if (pids[i] <= 0)
			continue;
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {
			if (got_signal)
				kill_children(pids, started);
		}
	}
	if (got_signal && !ex)
		ex = 128 + got_signal;
	if (!ex)
		phase_merge(cfg, res, samples, cap, pr);
	if (!ex && wl == WL_KILL_GAP)
		killgap_merge(cfg, res, done_ts, cap, pr);
	floor_free(&bench_floor);
	free(pids);
	munmap(map, size);
	return ex;
}
