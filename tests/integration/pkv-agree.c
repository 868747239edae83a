// SPDX-License-Identifier: MIT
/*
 * pkv-agree — writers and an agreement checker for the membership test,
 * through the public library only (include/paxoskv.h). Bounded; it signals
 * no process.
 *
 *   pkv-agree write LOG NODE WRITER STOPFILE SECONDS
 *	puts through NODE until STOPFILE exists or SECONDS pass: a distinct
 *	key dW.I = wW.I each turn, and a contended key cS = wW.I once per
 *	200 ms slot S, the key every writer puts in that slot. LOG gets
 *	"A key value" before each put and "C key value chosen" after each
 *	put that answered. A distinct key answered with another value than
 *	the writer's is reported at once (exit 1).
 *   pkv-agree check DEADLINE_MS NODES LOG...
 *	NODES is a comma list (1,2,3). For every key of the logs: the puts
 *	that answered agree on one value, which some writer sent, and every
 *	node reads that value (absent is a lost value); a key no put was
 *	told about reads, where present, one of the values sent for it and
 *	the same on every node. A read that gets no answer is retried until
 *	the deadline. Prints one summary line; exit 0 agreement, 1 a
 *	violation (each on its own line), 2 reads that never answered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "paxoskv.h"

#define SLOT_MS	  200u
#define WORD_MAX  32
#define MAX_NODES 16

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool value_is(const struct pkv_value *v, const char *want)
{
	return v->len == strlen(want) && memcmp(v->data, want, v->len) == 0;
}

/* ---- write ---- */

static int put_one(struct pkv_client *c, FILE *log, const char *key, const char *val,
		   struct pkv_value *v)
{
	struct pkv_put_opts po = {.timeout_ms = 3000};
	fprintf(log, "A %s %s\n", key, val);
	fflush(log);
	int r = pkv_put(c, key, strlen(key), val, strlen(val), &po, v);
	if (r == PKV_OK) {
		/* every value written here is a short word */
		fprintf(log, "C %s %s %.*s\n", key, val, (int)v->len, (const char *)v->data);
		fflush(log);
	}
	return r;
}

static int cmd_write(char **argv)
{
	const char *path = argv[0], *node = argv[1], *stop = argv[3];
	int w = atoi(argv[2]);
	uint64_t end = mono_ms() + 1000u * (uint64_t)atol(argv[4]);
	FILE *log = fopen(path, "a");
	if (!log) {
		fprintf(stderr, "pkv-agree: %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct pkv_client *c;
	int r = pkv_open(&c, node);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv-agree: attach to %s: %s\n", node, pkv_strerror(r));
		return 69;
	}
	struct pkv_value v = PKV_VALUE_INIT;
	char key[WORD_MAX], val[WORD_MAX];
	uint64_t last_slot = 0;
	long i, chosen = 0, failed = 0;
	int rc = 0;
	/* bounded in count as well as in time */
	for (i = 1; i <= 100000 && mono_ms() < end && access(stop, F_OK) != 0; i++) {
		snprintf(key, sizeof(key), "d%d.%ld", w, i);
		snprintf(val, sizeof(val), "w%d.%ld", w, i);
		r = put_one(c, log, key, val, &v);
		if (r == PKV_OK && !value_is(&v, val)) {
			fprintf(stderr, "pkv-agree: writer %d: %s put %s, answered %.*s\n", w, key,
				val, (int)v.len, (const char *)v.data);
			rc = 1;
			break;
		}
		chosen += r == PKV_OK;
		failed += r != PKV_OK;
		uint64_t slot = mono_ms() / SLOT_MS;
		if (slot != last_slot) {
			last_slot = slot;
			snprintf(key, sizeof(key), "c%" PRIu64, slot);
			r = put_one(c, log, key, val, &v);
			chosen += r == PKV_OK;
			failed += r != PKV_OK;
		}
		/* a failed call (no quorum, a change in progress) backs off more */
		nap_ms(r == PKV_OK ? 40 : 150);
	}
	printf("writer %d via %s: turns=%ld chosen=%ld failed=%ld\n", w, node, i - 1, chosen,
	       failed);
	pkv_value_free(&v);
	pkv_close(c);
	if (fclose(log) != 0)
		return 2;
	return rc;
}

/* ---- check ---- */

struct rec {
	char kind; /* 'A' attempted, 'C' chosen (answered) */
	char key[WORD_MAX], val[WORD_MAX], got[WORD_MAX];
};

static struct rec *recs;
static size_t n_recs, cap_recs;
static unsigned long violations;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	if (++violations > 20)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("VIOLATION: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/*
 * One line of a writer's log into r: false for a line being written now
 * (no newline yet: the log's last) or one that is not a record.
 */
static bool parse_rec(const char *line, struct rec *r)
{
	size_t n = strlen(line);
	if (!n || line[n - 1] != '\n')
		return false;
	memset(r, 0, sizeof(*r));
	int got = sscanf(line, "%c %31s %31s %31s", &r->kind, r->key, r->val, r->got);
	return (r->kind == 'A' && got == 3) || (r->kind == 'C' && got == 4);
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "pkv-agree: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		if (n_recs == cap_recs) {
			cap_recs = cap_recs ? 2 * cap_recs : 4096;
			recs = realloc(recs, cap_recs * sizeof(*recs));
			if (!recs) {
				fprintf(stderr, "pkv-agree: out of memory\n");
				exit(2);
			}
		}
		if (parse_rec(line, &recs[n_recs]))
			n_recs++;
	}
	fclose(f);
}

static int rec_by_key(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

static bool was_sent(const struct rec *g, size_t n, const char *val)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(g[i].val, val))
			return true;
	return false;
}

/*
 * The check runs while the writers write, and reads their logs one after
 * the other: a value may be answered in a log read later than the log of
 * the writer that sent it, whose 'A' line came after that log was read.
 * The 'A' line is written before the put starts, so it is in its log by
 * the time anything answered that value: before calling a value sent by
 * no writer, read the logs again.
 */
static char **log_paths;
static int n_log_paths;

static bool sent_by_now(const char *key, const char *val)
{
	char line[256];
	struct rec r;
	for (int i = 0; i < n_log_paths; i++) {
		FILE *f = fopen(log_paths[i], "r");
		if (!f)
			continue;
		bool found = false;
		while (!found && fgets(line, sizeof(line), f))
			found = parse_rec(line, &r) && r.kind == 'A' && !strcmp(r.key, key) &&
				!strcmp(r.val, val);
		fclose(f);
		if (found)
			return true;
	}
	return false;
}

static struct pkv_client *cl[MAX_NODES + 1];
static int nodes[MAX_NODES], n_nodes;
static uint64_t deadline;
static unsigned long unanswered, reads;

/* Reads key on node: PKV_OK (v filled), PKV_NOT_FOUND, or the last error at the deadline. */
static int read_key(int node, const char *key, struct pkv_value *v)
{
	struct pkv_get_opts go = {.timeout_ms = 3000, .flags = PKV_GET_NO_CACHE};
	for (;;) {
		int r = pkv_get(cl[node], key, strlen(key), &go, v);
		reads++;
		if (r == PKV_OK || r == PKV_NOT_FOUND || mono_ms() > deadline)
			return r;
		nap_ms(50);
	}
}

static void check_key(const struct rec *g, size_t n, struct pkv_value *v, unsigned long *chosen)
{
	const char *key = g[0].key, *want = NULL;
	for (size_t i = 0; i < n; i++) {
		if (g[i].kind != 'C')
			continue;
		if (!want) {
			want = g[i].got;
		} else if (strcmp(want, g[i].got)) {
			violation("%s: puts answered '%s' and '%s'", key, want, g[i].got);
			return;
		}
	}
	if (want && !was_sent(g, n, want) && !sent_by_now(key, want)) {
		violation("%s: chosen '%s', which no writer sent", key, want);
		return;
	}
	*chosen += want != NULL;
	char seen[WORD_MAX] = "";
	int seen_on = 0;
	for (int k = 0; k < n_nodes; k++) {
		int node = nodes[k];
		int r = read_key(node, key, v);
		if (r == PKV_OK) {
			char got[WORD_MAX];
			snprintf(got, sizeof(got), "%.*s", (int)v->len, (const char *)v->data);
			if (want && strcmp(got, want))
				violation("%s: node%d reads '%s', the puts were told '%s'", key,
					  node, got, want);
			else if (!was_sent(g, n, got) && !sent_by_now(key, got))
				violation("%s: node%d reads '%s', which no writer sent", key, node,
					  got);
			else if (seen_on && strcmp(seen, got))
				violation("%s: node%d reads '%s', node%d '%s'", key, node, got,
					  seen_on, seen);
			snprintf(seen, sizeof(seen), "%s", got);
			seen_on = node;
		} else if (r == PKV_NOT_FOUND) {
			if (want)
				violation("%s: node%d reads it absent, the puts were told '%s'",
					  key, node, want);
		} else {
			if (++unanswered <= 20)
				printf("UNANSWERED: %s on node%d: %s\n", key, node,
				       pkv_strerror(r));
		}
	}
}

static int cmd_check(int argc, char **argv)
{
	deadline = mono_ms() + (uint64_t)atol(argv[0]);
	char *list = argv[1], *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t && n_nodes < MAX_NODES;
	     t = strtok_r(NULL, ",", &save)) {
		int node = atoi(t);
		if (node < 1 || node > MAX_NODES) {
			fprintf(stderr, "pkv-agree: bad node '%s'\n", t);
			return 64;
		}
		nodes[n_nodes++] = node;
	}
	log_paths = argv + 2;
	n_log_paths = argc - 2;
	for (int i = 2; i < argc; i++)
		load(argv[i]);
	for (int k = 0; k < n_nodes; k++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", nodes[k]);
		int r = pkv_open(&cl[nodes[k]], name);
		if (r != PKV_OK) {
			fprintf(stderr, "pkv-agree: attach to %s: %s\n", name, pkv_strerror(r));
			return 2;
		}
	}
	qsort(recs, n_recs, sizeof(*recs), rec_by_key);
	struct pkv_value v = PKV_VALUE_INIT;
	unsigned long keys = 0, contended = 0, chosen = 0;
	uint64_t t0 = mono_ms();
	for (size_t i = 0; i < n_recs;) {
		size_t j = i + 1;
		while (j < n_recs && !strcmp(recs[j].key, recs[i].key))
			j++;
		keys++;
		contended += recs[i].key[0] == 'c';
		check_key(&recs[i], j - i, &v, &chosen);
		i = j;
	}
	printf("agree: keys=%lu contended=%lu chosen=%lu nodes=%d reads=%lu unanswered=%lu "
	       "violations=%lu ms=%" PRIu64 "\n",
	       keys, contended, chosen, n_nodes, reads, unanswered, violations, mono_ms() - t0);
	pkv_value_free(&v);
	for (int k = 0; k < n_nodes; k++)
		pkv_close(cl[nodes[k]]);
	free(recs);
	return violations ? 1 : unanswered ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "write"))
		return cmd_write(argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	fprintf(stderr, "usage: pkv-agree write LOG NODE WRITER STOPFILE SECONDS\n"
			"       pkv-agree check DEADLINE_MS NODES LOG...\n");
	return 64;
}
