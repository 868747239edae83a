// SPDX-License-Identifier: MIT
/*
 * pkv-bench: the reports. Text (one block per phase, the baseline's first,
 * then the ratios) or one JSON object (the main phase's fields at the top
 * level, then "baseline" and "ratios"); stdout carries nothing else.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "json.h"
#include "paxoskv.h"

static void json_per_key(FILE *f, const char *name, uint64_t before, uint64_t after,
			 const struct rss_snap *b, const struct rss_snap *a)
{
	double pk;
	if (rss_per_key(before, after, b, a, &pk))
		fprintf(f, ", \"%s\": %.1f", name, pk);
	else
		fprintf(f, ", \"%s\": null", name);
}

void print_rss_text(const struct bench_config *cfg)
{
	printf("memory: each daemon's /proc/PID/status before -> after; per key: the growth over "
	       "the keys it added (entries=); target under %zu B/key\n",
	       2 * (cfg->key_size + cfg->value_size) + 128);
	for (unsigned i = 0; i < rss.n; i++) {
		const struct rss_snap *b = &rss.before[i], *a = &rss.after[i];
		if (!a->pid || a->pid != b->pid) {
			printf("  node%u  not the same daemon before and after\n", i + 1);
			continue;
		}
		printf("  node%u  keys %" PRIu64 " -> %" PRIu64 "\n", i + 1, b->entries,
		       a->entries);
		const struct {
			const char *name;
			uint64_t b, a;
		} rows[] = {
			{"VmRSS", b->vmrss, a->vmrss},
			{"RssAnon", b->anon, a->anon},
			{"RssShmem", b->shmem, a->shmem},
			{"RssFile", b->file, a->file},
		};
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
			double pk;
			printf("    %-9s %9.1f -> %9.1f MiB", rows[k].name,
			       (double)rows[k].b / 1048576.0, (double)rows[k].a / 1048576.0);
			if (rss_per_key(rows[k].b, rows[k].a, b, a, &pk))
				printf("  %8.1f B/key\n", pk);
			else
				putchar('\n');
		}
	}
}

static void print_rss_json(FILE *f)
{
	fputs(", \"rss\": [", f);
	for (unsigned i = 0; i < rss.n; i++) {
		const struct rss_snap *b = &rss.before[i], *a = &rss.after[i];
		bool same = a->pid && a->pid == b->pid;
		fprintf(f,
			"%s{\"node\": %u, \"pid\": %d, \"keys_before\": %" PRIu64
			", \"keys_after\": %" PRIu64 ", \"vmrss_before\": %" PRIu64
			", \"vmrss_after\": %" PRIu64 ", \"rss_anon_before\": %" PRIu64
			", \"rss_anon_after\": %" PRIu64 ", \"rss_shmem_before\": %" PRIu64
			", \"rss_shmem_after\": %" PRIu64 ", \"rss_file_before\": %" PRIu64
			", \"rss_file_after\": %" PRIu64,
			i ? ", " : "", i + 1, same ? (int)a->pid : 0, b->entries, a->entries,
			b->vmrss, a->vmrss, b->anon, a->anon, b->shmem, a->shmem, b->file, a->file);
		json_per_key(f, "bytes_per_key", b->vmrss, a->vmrss, b, a);
		json_per_key(f, "anon_bytes_per_key", b->anon, a->anon, b, a);
		json_per_key(f, "shmem_bytes_per_key", b->shmem, a->shmem, b, a);
		fputs("}", f);
	}
	fputs("]", f);
}

/* The tools' one string escaper (tools/json.h): any bytes come out as valid JSON. */
static void json_string(FILE *f, const char *s)
{
	json_write_string(f, s, strlen(s));
}

static double rel_s(uint64_t t, uint64_t origin)
{
	return t ? ((double)t - (double)origin) / 1e9 : 0;
}

static void json_killgap(FILE *f, const struct phase_result *pr)
{
	fprintf(f,
		", \"victim\": %u, \"gap_window_ms\": %.0f, \"kill_at_s\": %.3f"
		", \"vanish_ms\": %.3f"
		", \"restart_at_s\": %.3f, \"write_gap_ns\": %" PRIu64
		", \"write_gap_from_kill_ns\": %" PRId64 ", \"restart_gap_ns\": %" PRIu64
		", \"restart_gap_from_restart_ns\": %" PRId64 ", \"writer_gap_max_ns\": %" PRIu64
		", \"steady_gap_ns\": %" PRIu64
		", \"completions_lost\": %" PRIu64 ", \"writer_gaps_ns\": [",
		pr->victim, (double)pr->window_ns / 1e6, rel_s(pr->kill_ns, pr->go_ns),
		pr->vanish_ns ? (double)(pr->vanish_ns - pr->kill_ns) / 1e6 : 0,
		rel_s(pr->restart_ns, pr->go_ns), pr->write_gap_ns, pr->write_gap_from_kill_ns,
		pr->restart_gap_ns, pr->restart_gap_from_restart_ns, pr->writer_gap_max_ns,
		pr->steady_gap_ns, pr->done_lost);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%" PRIu64, i ? ", " : "", pr->writer_gap[i]);
	fputs("], \"top_gaps_ns\": [", f);
	for (unsigned i = 0; i < KILLGAP_TOP && pr->top_gap[i]; i++)
		fprintf(f, "%s[%" PRIu64 ", %" PRId64 "]", i ? ", " : "", pr->top_gap[i],
			pr->top_gap_from_kill[i]);
	fputs("], \"writer_gaps_from_kill_ns\": [", f);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%" PRId64, i ? ", " : "", pr->writer_gap_from_kill[i]);
	fputs("], \"writer_nodes\": [", f);
	for (unsigned i = 0; i < pr->nwriters; i++)
		fprintf(f, "%s%u", i ? ", " : "", pr->writer_node[i]);
	fputs("]", f);
}

static void json_phase(FILE *f, const struct bench_config *cfg, const struct phase_result *pr)
{
	fputs("{\"workload\": ", f);
	json_string(f, workload_names[pr->workload]);
	fprintf(f, ", \"clients\": %u, \"key_size\": %zu, \"value_size\": %zu, ", pr->clients,
		cfg->key_size, cfg->value_size);
	json_write_bytes_member(f, "bucket", cfg->bucket, strlen(cfg->bucket));
	if (pr->workload == WL_MIXED)
		fprintf(f, ", \"read_share\": %u", cfg->read_share);
	if (pr->workload == WL_BOUND)
		fprintf(f, ", \"daemons\": %u", bound_nodes.n);
	if (pr->workload == WL_KILL_GAP)
		json_killgap(f, pr);
	fprintf(f,
		", \"ops\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"writes\": %" PRIu64
		", \"errors\": %" PRIu64 ", \"mismatches\": %" PRIu64 ", \"errors_by_code\": {",
		pr->ops, pr->reads, pr->writes, pr->errors, pr->mismatches);
	bool first = true;
	for (size_t i = 0; i < sizeof(pr->errs) / sizeof(pr->errs[0]) && pr->errs[i].count; i++) {
		fputs(first ? "" : ", ", f);
		json_string(f, pkv_strerror(pr->errs[i].code));
		fprintf(f, ": %" PRIu64, pr->errs[i].count);
		first = false;
	}
	if (pr->errs_other)
		fprintf(f, "%s\"other\": %" PRIu64, first ? "" : ", ", pr->errs_other);
	fprintf(f,
		"}, \"elapsed_s\": %.3f, \"ops_per_s\": %.1f, \"p50_ns\": %" PRIu64
		", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64
		", \"max_ns\": %" PRIu64 ", \"cache_hits\": %" PRIu64 ", \"cache_misses\": %" PRIu64,
		pr->elapsed_s, pr->ops_per_s, pr->p50, pr->p90, pr->p99, pr->p999, pr->max,
		pr->cache_hits, pr->cache_misses);
	if (pr->floor_keys)
		fprintf(f,
			", \"floor\": {\"keys\": %" PRIu64 ", \"ops\": %" PRIu64
			", \"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
			", \"mean_ns\": %.1f, \"tight_ops\": %" PRIu64
			", \"tight_read_ns\": %.2f, \"tight_floor_ns\": %.2f}"
			", \"floor_ratios\": {\"p50\": %.6g, \"p99\": %.6g, \"tight\": %.6g}",
			pr->floor_keys, pr->floor_n, pr->floor_p50, pr->floor_p90, pr->floor_p99,
			pr->floor_mean_ns, pr->tight_n, pr->tight_read_ns, pr->tight_floor_ns,
			stats_ratio((double)pr->p50, (double)pr->floor_p50),
			stats_ratio((double)pr->p99, (double)pr->floor_p99),
			stats_ratio(pr->tight_read_ns, pr->tight_floor_ns));
	fputc('}', f);
}

void print_json(const struct bench_config *cfg, const struct phase_result *main_pr,
		const struct phase_result *base, const struct floor_result *fl,
		const struct wake_result *wk)
{
	/* The main phase's fields at the top level, then baseline and ratios. */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	json_phase(m, cfg, main_pr);
	fclose(m);
	if (len > 0)
		buf[len - 1] = 0; /* drop the closing brace */
	fputs(buf, stdout);
	free(buf);
	if (base) {
		fputs(", \"baseline\": ", stdout);
		json_phase(stdout, cfg, base);
		printf(", \"ratios\": {\"ops_per_s\": %.6g, \"p50\": %.6g, \"p99\": %.6g}",
		       stats_ratio(main_pr->ops_per_s, base->ops_per_s),
		       stats_ratio((double)main_pr->p50, (double)base->p50),
		       stats_ratio((double)main_pr->p99, (double)base->p99));
		if (cfg->baseline_daemon_args) {
			const char *env = getenv("PKVD_ARGS");
			fputs(", \"baseline_daemon_args\": ", stdout);
			json_string(stdout, cfg->baseline_daemon_args);
			fputs(", \"daemon_args\": ", stdout);
			json_string(stdout, env ? env : "");
		}
		if (cfg->baseline_pkvd) {
			const char *env = getenv("PKVD");
			fputs(", \"baseline_pkvd\": ", stdout);
			json_string(stdout, cfg->baseline_pkvd);
			fputs(", \"pkvd\": ", stdout);
			json_string(stdout, env ? env : "");
		}
	}
	if (cfg->report_rss)
		print_rss_json(stdout);
	if (fl && fl->n) {
		/* Own field names, apart from the phase's p50_ns and p99_ns. */
		fputs(", \"fdatasync_floor\": {\"dir\": ", stdout);
		json_string(stdout, fl->dir);
		printf(", \"syncs\": %" PRIu64 ", \"fdatasync_p50_ns\": %" PRIu64
		       ", \"fdatasync_p99_ns\": %" PRIu64 ", \"p50_over_fdatasync_p50\": %.6g",
		       fl->n, fl->p50, fl->p99, stats_ratio((double)main_pr->p50, (double)fl->p50));
		if (base)
			printf(", \"baseline_p50_over_fdatasync_p50\": %.6g",
			       stats_ratio((double)base->p50, (double)fl->p50));
		/* The co-located floor: W writers in lockstep, each round to the last sync. */
		printf(", \"writers\": %u, \"rounds\": %" PRIu64 ", \"colocated_p50_ns\": %" PRIu64
		       ", \"colocated_p99_ns\": %" PRIu64 ", \"p50_over_colocated_p50\": %.6g",
		       fl->writers, fl->co_n, fl->co_p50, fl->co_p99,
		       stats_ratio((double)main_pr->p50, (double)fl->co_p50));
		if (base)
			printf(", \"baseline_p50_over_colocated_p50\": %.6g",
			       stats_ratio((double)base->p50, (double)fl->co_p50));
		fputc('}', stdout);
	}
	if (wk && wk->futex_n)
		wake_print_json(stdout, wk, main_pr, base);
	fputs("}\n", stdout);
}

static void print_killgap(const struct phase_result *pr)
{
	printf("  kill         node%u SIGKILLed at %.3f s", pr->victim,
	       rel_s(pr->kill_ns, pr->go_ns));
	if (pr->vanish_ns)
		printf(" (gone %.2f ms later)", (double)(pr->vanish_ns - pr->kill_ns) / 1e6);
	if (pr->restart_ns)
		printf(", started again at %.3f s", rel_s(pr->restart_ns, pr->go_ns));
	printf("\n  write gap    %.2f ms, from %+.2f ms after the kill"
	       " (all writers, within %.0f ms of it)\n",
	       (double)pr->write_gap_ns / 1e6, (double)pr->write_gap_from_kill_ns / 1e6,
	       (double)pr->window_ns / 1e6);
	if (pr->restart_ns)
		printf("  restart gap  %.2f ms, from %+.2f ms after the restart\n",
		       (double)pr->restart_gap_ns / 1e6,
		       (double)pr->restart_gap_from_restart_ns / 1e6);
	printf("  steady gap   %.2f ms (all writers, more than %.0f ms from the kill%s)\n",
	       (double)pr->steady_gap_ns / 1e6, (double)pr->window_ns / 1e6,
	       pr->restart_ns ? " and the restart" : "");
	printf("  top pauses  ");
	for (unsigned i = 0; i < KILLGAP_TOP && pr->top_gap[i]; i++)
		printf("%s %.2f ms at %+.0f ms", i ? "," : "", (double)pr->top_gap[i] / 1e6,
		       (double)pr->top_gap_from_kill[i] / 1e6);
	printf(" (all writers, the whole run; offsets from the kill)\n");
	printf("  writer gaps  max %.2f ms; each writer's longest pause"
	       " (ms, node, start after the kill):\n",
	       (double)pr->writer_gap_max_ns / 1e6);
	for (unsigned i = 0; i < pr->nwriters; i++)
		printf("%s%.2f@node%u%+.0f%s", i % 6 ? "  " : "    ",
		       (double)pr->writer_gap[i] / 1e6, pr->writer_node[i],
		       (double)pr->writer_gap_from_kill[i] / 1e6,
		       i % 6 == 5 || i + 1 == pr->nwriters ? "\n" : "");
	if (pr->done_lost)
		printf("  (%" PRIu64 " completion times past the capacity were not kept)\n",
		       pr->done_lost);
}

void print_text(const struct bench_config *cfg, const struct phase_result *pr)
{
	printf("%s: %u client%s, key %zu B, value %zu B, bucket %s", workload_names[pr->workload],
	       pr->clients, pr->clients == 1 ? "" : "s", cfg->key_size, cfg->value_size,
	       cfg->bucket);
	if (pr->workload == WL_MIXED)
		printf(", %u%% reads", cfg->read_share);
	if (pr->workload == WL_BOUND)
		printf(", %u daemons; latency: from the kill to the key absent on all", bound_nodes.n);
	if (pr->workload == WL_KILL_GAP)
		printf(", put-new writers on every daemon but node%u", pr->victim);
	printf("\n  ops          %" PRIu64 " in %.2f s", pr->ops, pr->elapsed_s);
	if (pr->workload == WL_MIXED)
		printf(" (%" PRIu64 " reads, %" PRIu64 " writes)", pr->reads, pr->writes);
	printf("\n  ops/s        %.0f\n", pr->ops_per_s);
	printf("  latency µs   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
	       (double)pr->p50 / 1e3, (double)pr->p90 / 1e3, (double)pr->p99 / 1e3,
	       (double)pr->p999 / 1e3, (double)pr->max / 1e3);
	if (pr->cache_hits || pr->cache_misses)
		printf("  cache        %" PRIu64 " hits, %" PRIu64 " misses\n", pr->cache_hits,
		       pr->cache_misses);
	printf("  errors       %" PRIu64 "\n", pr->errors);
	for (size_t i = 0; i < sizeof(pr->errs) / sizeof(pr->errs[0]) && pr->errs[i].count; i++)
		printf("    %-20s %" PRIu64 "\n", pkv_strerror(pr->errs[i].code),
		       pr->errs[i].count);
	if (pr->errs_other)
		printf("    %-20s %" PRIu64 "\n", "other", pr->errs_other);
	if (pr->mismatches)
		printf("    %-20s %" PRIu64 "\n", "value mismatch", pr->mismatches);
	if (pr->workload == WL_KILL_GAP)
		print_killgap(pr);
	if (pr->floor_keys) {
		printf("  floor        a bare lookup of the same keys in the same order in a compact"
		       " shared table of %" PRIu64 " keys (%" PRIu64 " ops)\n",
		       pr->floor_keys, pr->floor_n);
		printf("    latency ns p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
		       "; read/floor p50 x%.2f, p99 x%.2f\n",
		       pr->floor_p50, pr->floor_p90, pr->floor_p99,
		       stats_ratio((double)pr->p50, (double)pr->floor_p50),
		       stats_ratio((double)pr->p99, (double)pr->floor_p99));
		printf("    back to back, %" PRIu64 " ops in chunks of %u (the median chunk): read"
		       " %.1f ns/op, floor %.1f ns/op;"
		       " read/floor x%.2f\n",
		       pr->tight_n, 1u << 10, pr->tight_read_ns, pr->tight_floor_ns,
		       stats_ratio(pr->tight_read_ns, pr->tight_floor_ns));
	}
}

void print_ratios(const struct phase_result *main_pr, const struct phase_result *base)
{
	printf("%s / %s: ops/s x%.3f, p50 x%.3f, p99 x%.3f\n", workload_names[main_pr->workload],
	       workload_names[base->workload], stats_ratio(main_pr->ops_per_s, base->ops_per_s),
	       stats_ratio((double)main_pr->p50, (double)base->p50),
	       stats_ratio((double)main_pr->p99, (double)base->p99));
}
