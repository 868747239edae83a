// SPDX-License-Identifier: MIT
/*
 * pkv — the command line client (README.md, "Command line").
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "json.h"
#include "paxoskv.h"
#include "pkv-ctl.h" /* PKV_SYSTEM_SOCKET */
#include "pkv-report.h"

enum exit_code {
	EX_OK_ = 0,
	EX_NOT_FOUND = 1,
	EX_NO_QUORUM = 2,
	EX_INVALID = 3,
	EX_USAGE_ = 64,
	EX_WAIT_TIMEOUT = 75, /* hold --wait: the key stayed held past --timeout (EX_TEMPFAIL) */
	EX_TOO_LARGE = 65,
	EX_UNAVAILABLE_ = 69,
};

static const char *opt_node, *opt_socket;
static bool opt_json; /* -o json: as each command's --json */

#define PKV_MAX_NODES_CLI 64 /* configured nodes a daemon can report */

static void usage(FILE *f)
{
	fputs("usage: pkv [-n NODE | -S SOCKET] [-o json|text] COMMAND ...\n"
	      "       pkv -h | --help | -V | --version\n"
	      "  put  [-b BUCKET] [--pid PID] [--node NODE] [--key KEY2] [--until MS | --ttl MS]\n"
	      "       [--no-quorum return|retry|fail] [--timeout MS] KEY VALUE\n"
	      "                                  store VALUE unless KEY has a value; prints the chosen value\n"
	      "  hold [put options] [--doubt-signal N] KEY VALUE -- CMD [ARG...]\n"
	      "                                  put KEY bound to this process, run CMD while holding it,\n"
	      "                                  exit with CMD's status (3 if KEY holds another value);\n"
	      "                                  signal N (15, SIGTERM; 0: none) to CMD once the lock\n"
	      "                                  is in doubt (the daemon's lease is over); SIGTERM once\n"
	      "                                  it is lost or its lifetime ended; says when confirmed\n"
	      "  hold --wait [--timeout S] [put options] KEY VALUE -- CMD [ARG...]\n"
	      "                                  wait until KEY is free (waiters on one daemon in\n"
	      "                                  arrival order), then hold it; exit 75 when still\n"
	      "                                  held after S seconds\n"
	      "  release [-b BUCKET] KEY GEN      end this process's own binding of KEY early\n"
	      "                                  (exit 1: GEN already ended; 3: not bound to it)\n"
	      "  get  [-b BUCKET] [-g] [--default VALUE] [--stale] [--json] KEY\n"
	      "                                  print the value of KEY (-g: then its generation;\n"
	      "                                   --json: an object of key, value, generation, stale)\n"
	      "  info [-b BUCKET] [--json] [--timeout MS] KEY\n"
	      "                                  each daemon's acceptor (promise, accepted ballot and\n"
	      "                                  value) and learner (chosen) state of KEY\n"
	      "  keys [-b BUCKET] [-0 | --json]   the keys known across the cluster, one a line\n"
	      "                                   (-0: each ended by a NUL byte; --json: an array\n"
	      "                                   of objects, each with its key)\n"
	      "  pid  [-b BUCKET] [--default V] KEY   the pid KEY is bound to\n"
	      "  node [-b BUCKET] [--default V] KEY   the node KEY is bound to\n"
	      "  now                              the system time in ms (for --until)\n"
	      "  cluster [--json]                 this daemon's view: name: value lines\n"
	      "  wait [--timeout S] [-b BUCKET]   block until the daemon has quorum and can serve\n"
	      "  watch                            print quorum and lease events as they happen\n"
	      "                                   (and lifetime_ended/confirmed of its own bindings)\n"
	      "  watch [-b BUCKET] [--from GEN] [--json] KEY | -b BUCKET\n"
	      "                                  key events, one a line: chosen KEY GEN VALUE,\n"
	      "                                  ended KEY GEN (-b alone: every key of BUCKET)\n"
	      "  resize N                         change the voters to N, one voter at a time, each\n"
	      "                                   change chosen by the voters: prints ok, or not_in_sync\n"
	      "                                   (exit 3) if a voter did not take it or another won\n"
	      "  member list                      every configured node: voter or not, up or down\n"
	      "  member add NODE | remove NODE    make NODE a voter / not a voter (resize by one: the\n"
	      "                                   lowest non-voter joins, the highest voter leaves)\n"
	      "  buckets                          the buckets this daemon holds keys of\n"
	      "  stats [--json | --openmetrics]   the daemon's counters (paxos:, local:, durable:,\n"
	      "                                   bucket: lines of NAME=VALUE fields); --openmetrics\n"
	      "                                   (or --prometheus): with cluster's figures, in the\n"
	      "                                   OpenMetrics text format\n"
	      "  drop BUCKET                      erase every key of BUCKET cluster-wide\n"
	      "which daemon: -n NODE (a node name in the run dir), -S SOCKET, or env PKV_NODE,\n"
	      "PKV_SOCKET; by default the first node running in $PKV_RUN_DIR when it is set,\n"
	      "else the host's daemon at " PKV_SYSTEM_SOCKET " when it exists, else the first\n"
	      "node running in the per-user run dir ($XDG_RUNTIME_DIR/paxoskv or /tmp/paxoskv-UID).\n"
	      "exit status: 0 ok, 1 not found, 2 no quorum, 3 invalid value, 64 usage,\n"
	      "65 value or key too large, 69 daemon unavailable, 75 hold --wait timed out\n"
	      "-o json: JSON for every command but hold (which runs a command; exit 64): as\n"
	      "--json where a command has it; put, pid, node, now, member list: one object\n"
	      "or array; watch: one object a line; release, drop, wait, resize, member add\n"
	      "and remove: {\"ok\":true,...}; errors stay on stderr with the same status\n"
	      "--json: keys, values and buckets as \"key\" (\"value\", \"bucket\") when they are\n"
	      "valid UTF-8 (control bytes and NUL as \\u00XX), else as \"key_base64\"\n"
	      "(\"value_base64\", \"bucket_base64\"): standard base64 of the bytes\n",
	      f);
}

/*
 * A usage error: one line on stderr naming the problem, exit 64. The full
 * usage text is for -h; on a mistake it would bury the one line that says
 * what was wrong.
 */
static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pkv: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (pkv -h for help)\n", stderr);
	return EX_USAGE_;
}

/*
 * getopt's '?' or ':' (opterr is off: the messages are ours). Every command
 * parses with optind = 0, which makes glibc start afresh, and with '+':
 * options come before the operands, so a KEY or VALUE may start with '-'.
 */
static int bad_option(int c, char **argv, const char *cmd)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	const char *sep = *cmd ? ": " : "";
	if (c == ':')
		return usage_error("%s%soption %s needs a value", cmd, sep, arg);
	if (optopt)
		return usage_error("%s%sunknown option -%c", cmd, sep, optopt);
	return usage_error("%s%sunknown option %s", cmd, sep, arg);
}

/* Decimal digits only, at most max: no sign, no blanks, no overflow. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The daemon this command talks to: -S, -n, or the library's defaults. */
static const char *endpoint(void)
{
	return opt_socket ? opt_socket : opt_node;
}

static int exit_for(int s)
{
	switch (s) {
	case PKV_OK:
		return EX_OK_;
	case PKV_NOT_FOUND:
		return EX_NOT_FOUND;
	case PKV_NO_QUORUM:
		return EX_NO_QUORUM;
	case PKV_INVALID_VALUE:
		return EX_INVALID;
	case PKV_TOO_LARGE:
		return EX_TOO_LARGE;
	case PKV_BAD_REQUEST:
		return EX_USAGE_;
	default:
		return EX_UNAVAILABLE_;
	}
}

static struct pkv_client *open_or_report(int *ex)
{
	struct pkv_client *c;
	int r = pkv_open(&c, endpoint());
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: cannot attach to the daemon: %s (%s)\n", pkv_strerror(r),
			pkv_errmsg());
		*ex = EX_UNAVAILABLE_;
		return NULL;
	}
	return c;
}

static int check_sizes(const char *bucket, size_t klen, size_t vlen)
{
	size_t blen = bucket ? strlen(bucket) : 0;
	if (bucket && (blen == 0 || blen > PKV_BUCKET_MAX))
		return usage_error("a bucket name is 1..%u bytes, not %zu", PKV_BUCKET_MAX, blen);
	if (klen > PKV_KEY_MAX || vlen > PKV_VALUE_MAX) {
		bool key = klen > PKV_KEY_MAX;
		fprintf(stderr, "pkv: %s too large: %zu bytes, the limit is %u\n", key ? "key" : "value",
			key ? klen : vlen, key ? PKV_KEY_MAX : PKV_VALUE_MAX);
		return EX_TOO_LARGE;
	}
	return EX_OK_;
}

/* One of the daemon's text reports (cluster status, node statistics). */
static int daemon_text(int (*fetch)(struct pkv_client *, char **), const char *what, char **text)
{
	int ex = EX_OK_;
	struct pkv_client *c = open_or_report(&ex);
	if (!c)
		return ex;
	int r = fetch(c, text);
	pkv_close(c);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: %s: %s\n", what, pkv_strerror(r));
		return exit_for(r);
	}
	return EX_OK_;
}

/* `cluster` and `stats`: a daemon report printed as it is. */
static int print_daemon_text(int argc, int (*fetch)(struct pkv_client *, char **),
			     const char *what)
{
	if (argc != 1)
		return usage_error("%s takes no arguments", what);
	char *text;
	int ex = daemon_text(fetch, what, &text);
	if (ex)
		return ex;
	fputs(text, stdout);
	free(text);
	return EX_OK_;
}

/* The output form of cluster and stats: their text, --json or --openmetrics. */
enum report_form { FORM_TEXT, FORM_JSON, FORM_OPENMETRICS };

static int report_form(int argc, char **argv, const char *what, bool openmetrics,
		       enum report_form *form)
{
	*form = opt_json ? FORM_JSON : FORM_TEXT;
	if (argc == 1)
		return EX_OK_;
	if (opt_json)
		return usage_error("%s: -o json is the form already; no '%s' with it", what,
				   argv[argc - 1]);
	if (argc == 2 && !strcmp(argv[1], "--json"))
		*form = FORM_JSON;
	else if (argc == 2 && openmetrics &&
		 (!strcmp(argv[1], "--openmetrics") || !strcmp(argv[1], "--prometheus")))
		*form = FORM_OPENMETRICS;
	else
		return usage_error("%s takes no arguments, only %s; not '%s'", what,
				   openmetrics ? "one of --json and --openmetrics" : "--json",
				   argv[argc - 1]);
	return EX_OK_;
}

/* One JSON object of the report's fields (pkv(1), "JSON output"). */
static void print_report_json(const char *text)
{
	struct json j;
	json_init(&j, stdout);
	json_obj_begin(&j);
	report_json(&j, text);
	json_obj_end(&j);
	json_end(&j);
}

/*
 * -o json of a command that prints only a status on success: the start of
 * {"ok":true,...}, with [bucket], for the caller's members and json_done.
 */
static void json_ok_begin(struct json *j, const char *bucket)
{
	json_init(j, stdout);
	json_obj_begin(j);
	json_key(j, "ok");
	json_bool(j, true);
	if (bucket)
		json_field_bytes(j, "bucket", bucket, strlen(bucket));
}

static void json_done(struct json *j)
{
	json_obj_end(j);
	json_end(j);
}

/* {"event":NAME, …: the start of one watch event's line, for json_done. */
static void json_event_begin(struct json *j, const char *name)
{
	json_init(j, stdout);
	json_obj_begin(j);
	json_key(j, "event");
	json_cstr(j, name);
}

/* The key an event is of: [bucket], key and generation. */
static void json_event_key(struct json *j, const void *bucket, size_t bucket_len,
			   const void *key, size_t key_len, uint64_t gen)
{
	if (bucket_len)
		json_field_bytes(j, "bucket", bucket, bucket_len);
	json_field_bytes(j, "key", key, key_len);
	json_member_u64(j, "generation", gen);
}

static int cmd_cluster(int argc, char **argv)
{
	enum report_form form;
	int ex = report_form(argc, argv, "cluster", false, &form);
	if (ex)
		return ex;
	if (form == FORM_TEXT)
		return print_daemon_text(1, pkv_cluster_status, "cluster");
	char *text;
	ex = daemon_text(pkv_cluster_status, "cluster", &text);
	if (ex)
		return ex;
	print_report_json(text);
	free(text);
	return EX_OK_;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * The daemon's incarnation, from its `pkv cluster` report (0: no answer),
 * and when *restart_ms is not NULL how long its peers surely keep its pid
 * bindings once it is gone (docs/design.md §6.2): the failure timeout plus
 * the restart grace after its last datagram, less a heartbeat, the most
 * its last datagram can precede its end. *restart_ms is left as it is
 * when the report does not say (a daemon older than `timing:`).
 */
static uint64_t daemon_incarnation(struct pkv_client *cl, unsigned *restart_ms)
{
	char *text = NULL;
	uint64_t inc = 0;
	if (pkv_cluster_status(cl, &text) == PKV_OK) {
		const char *at = strstr(text, "incarnation: ");
		if (at)
			inc = strtoull(at + strlen("incarnation: "), NULL, 10);
		unsigned ft, grace, hb;
		at = strstr(text, "\ntiming: ");
		if (restart_ms && at &&
		    sscanf(at, "\ntiming: failure_timeout_ms=%u restart_grace_ms=%u heartbeat_ms=%u",
			   &ft, &grace, &hb) == 3 &&
		    ft + grace > hb)
			*restart_ms = ft + grace - hb;
		free(text);
	}
	return inc;
}

/*
 * The incarnation of the daemon whose attachment serves this handle's
 * reads (pkv_stats; 0: none). The library may attach anew on any call, so
 * a read's origin is known only when this is the same before and after it.
 */
static uint64_t attached_incarnation(struct pkv_client *cl)
{
	struct pkv_stats s;
	return pkv_stats(cl, &s) == PKV_OK ? s.incarnation : 0;
}

static int cmd_wait(int argc, char **argv)
{
	static const struct option o[] = {
		{"timeout", required_argument, NULL, 't'},
		{"bucket", required_argument, NULL, 'b'},
		{0},
	};
	double timeout_s = 30;
	const char *bucket = NULL;
	int c;
	char *end;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:t:b:", o, NULL)) != -1) {
		if (c == 't') {
			timeout_s = strtod(optarg, &end);
			/* !(x <= max) also refuses NaN; the cap keeps the ms in range */
			if (end == optarg || *end || timeout_s < 0 || !(timeout_s <= 1e7))
				return usage_error("wait: --timeout takes seconds (0..10000000), "
						   "not '%s'",
						   optarg);
		} else if (c == 'b') {
			bucket = optarg;
		} else {
			return bad_option(c, argv, "wait");
		}
	}
	if (optind != argc)
		return usage_error("wait: unexpected argument '%s'", argv[optind]);
	if (check_sizes(bucket, 0, 0))
		return EX_USAGE_;
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_s * 1000);
	int r = PKV_UNAVAILABLE;
	for (;;) {
		struct pkv_client *cl;
		if (pkv_open(&cl, endpoint()) == PKV_OK) {
			uint64_t now = mono_ms();
			r = pkv_wait_for_bucket(cl, bucket, bucket ? strlen(bucket) : 0,
						now < deadline ? (uint32_t)(deadline - now) : 0);
			pkv_close(cl);
			if (r == PKV_OK && opt_json) {
				struct json j;
				json_ok_begin(&j, bucket);
				json_done(&j);
			}
			if (r == PKV_OK)
				return EX_OK_;
		}
		if (mono_ms() >= deadline) {
			fprintf(stderr, "pkv: the daemon is not ready after %.1f s: %s\n", timeout_s,
				pkv_strerror(r));
			return r == PKV_UNAVAILABLE ? EX_UNAVAILABLE_ : EX_NO_QUORUM;
		}
		/* No daemon to attach to yet: it may be starting. */
		poll(NULL, 0, 50);
	}
}

/* One key event a line: "chosen KEY GEN VALUE" or "ended KEY GEN", or JSON. */
static void print_key_event(const struct pkv_watch_event *ev, bool json)
{
	bool chosen = ev->kind == PKV_WATCH_CHOSEN;
	if (json) {
		struct json j;
		json_event_begin(&j, chosen ? "chosen" : "ended");
		json_event_key(&j, ev->bucket, ev->bucket_len, ev->key, ev->key_len, ev->gen);
		if (chosen) {
			json_field_bytes(&j, "value", ev->value, ev->value_len);
			if (ev->until) {
				json_member_u64(&j, "until", ev->until);
			}
		}
		json_done(&j);
		return;
	}
	printf("%s ", chosen ? "chosen" : "ended");
	fwrite(ev->key, 1, ev->key_len, stdout);
	printf(" %" PRIu64, ev->gen);
	if (chosen) {
		fputc(' ', stdout);
		fwrite(ev->value, 1, ev->value_len, stdout);
	}
	fputc('\n', stdout);
}

/*
 * What a watch printed of one key: the highest generation printed chosen
 * and the highest printed ended. A bucket watch keeps one for every key it
 * has printed, in a hash table; a key watch has one.
 */
struct seen_key {
	struct seen_key *next;
	uint64_t chosen, ended;
	size_t len;
	unsigned char key[];
};

struct seen {
	struct seen_key **slot;
	size_t nslot, n;
};

static size_t seen_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211u;
	return (size_t)h;
}

/* The key's record, made (all zero) when it has none; NULL without memory. */
static struct seen_key *seen_get(struct seen *s, const void *key, size_t len)
{
	if (s->nslot) {
		for (struct seen_key *k = s->slot[seen_hash(key, len) % s->nslot]; k; k = k->next)
			if (k->len == len && !memcmp(k->key, key, len))
				return k;
	}
	if (s->n >= s->nslot) { /* grow at load 1 */
		size_t nslot = s->nslot ? 2 * s->nslot : 64;
		struct seen_key **slot = calloc(nslot, sizeof(*slot));
		if (!slot)
			return NULL;
		for (size_t i = 0; i < s->nslot; i++)
			for (struct seen_key *k = s->slot[i], *next; k; k = next) {
				next = k->next;
				size_t at = seen_hash(k->key, k->len) % nslot;
				k->next = slot[at];
				slot[at] = k;
			}
		free(s->slot);
		s->slot = slot;
		s->nslot = nslot;
	}
	struct seen_key *k = calloc(1, sizeof(*k) + len);
	if (!k)
		return NULL;
	memcpy(k->key, key, len);
	k->len = len;
	size_t at = seen_hash(key, len) % s->nslot;
	k->next = s->slot[at];
	s->slot[at] = k;
	s->n++;
	return k;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->nslot; i++)
		for (struct seen_key *k = s->slot[i], *next; k; k = next) {
			next = k->next;
			free(k);
		}
	free(s->slot);
}

/*
 * Prints an event unless it was printed already: a generation chosen or
 * ended at most what the key's record says is not new (a re-watch reports
 * the current state again). A value chosen in a newer generation than one
 * printed as live says that one ended (generations only advance by
 * erasure, §4.1): printed first when the stream did not say so, as after a
 * restart of the daemon, which does not remember what it told.
 */
static void watch_report(struct seen_key *k, const struct pkv_watch_event *ev, bool json)
{
	if (ev->kind == PKV_WATCH_CHOSEN) {
		if (ev->gen <= k->chosen || ev->gen <= k->ended)
			return;
		if (k->chosen > k->ended) {
			struct pkv_watch_event end = *ev;
			end.kind = PKV_WATCH_ENDED;
			end.gen = ev->gen - 1;
			print_key_event(&end, json);
			k->ended = end.gen;
		}
		print_key_event(ev, json);
		k->chosen = ev->gen;
		return;
	}
	if (ev->gen <= k->ended)
		return;
	print_key_event(ev, json);
	k->ended = ev->gen;
}

/*
 * After a bucket watch is made again (docs/design.md §8.3): a key printed
 * as live that the daemon no longer has a value of has ended, which the
 * new stream cannot say (the daemon reports the keys it holds, and a
 * restarted one never told this watch anything). A get tells, asking the
 * acceptors on a miss; a key with a value now needs nothing here, as the
 * stream reports it. PKV_OK, or why a key could not be read by `deadline`.
 */
static int watch_bucket_resume(struct pkv_client *cl, struct seen *s, const char *bucket,
			       size_t blen, bool json, uint64_t deadline)
{
	for (size_t i = 0; i < s->nslot; i++) {
		for (struct seen_key *k = s->slot[i]; k; k = k->next) {
			if (k->chosen <= k->ended)
				continue;
			int r;
			for (;;) {
				uint64_t now = mono_ms();
				struct pkv_get_opts go = {
				    .bucket = bucket,
				    .bucket_len = blen,
				    .timeout_ms = now < deadline ? (uint32_t)(deadline - now) : 1,
				};
				struct pkv_value v = PKV_VALUE_INIT;
				r = pkv_get(cl, k->key, k->len, &go, &v);
				pkv_value_free(&v);
				if (r == PKV_OK || r == PKV_NOT_FOUND || mono_ms() >= deadline)
					break;
				poll(NULL, 0, 100);
			}
			if (r == PKV_NOT_FOUND) {
				size_t dl = sizeof(PKV_BUCKET_DEFAULT) - 1;
				bool dflt = blen == dl && !memcmp(bucket, PKV_BUCKET_DEFAULT, dl);
				struct pkv_watch_event end = {
				    .kind = PKV_WATCH_ENDED,
				    .gen = k->chosen,
				    .bucket = bucket,
				    .bucket_len = dflt ? 0 : blen,
				    .key = k->key,
				    .key_len = k->len,
				};
				watch_report(k, &end, json);
			} else if (r != PKV_OK) {
				return r;
			}
		}
	}
	return PKV_OK;
}

/*
 * The watch made again after its stream ended (the daemon restarted, or
 * dropped a reader too slow): a key watch from the last generation it
 * printed; a bucket watch once the daemon serves again, then the keys it
 * printed as live are checked (watch_bucket_resume). PKV_OK with *w set.
 */
static int watch_again(struct pkv_client *cl, struct seen *s, const char *bucket, size_t blen,
		       const char *key, size_t klen, bool json, struct pkv_watch **w)
{
	/* The daemon back within 30 s (a restart on a loaded host), and then
	 * serving (a bucket watch waits for that) within 30 s more. */
	uint64_t give_up = mono_ms() + 30000, serve_by = 0;
	int r = PKV_UNAVAILABLE;
	while (mono_ms() < (serve_by ? serve_by : give_up)) {
		if (key) {
			struct seen_key *k = seen_get(s, key, klen);
			r = k ? pkv_watch(cl, bucket, blen, key, klen, k->chosen, 0, w) : -ENOMEM;
			if (r == PKV_OK)
				return r;
			poll(NULL, 0, 100);
			continue;
		}
		uint64_t now = mono_ms(), until = serve_by ? serve_by : give_up;
		r = pkv_wait_for_bucket(cl, bucket, blen, (uint32_t)(until - now));
		if (r == PKV_OK) {
			if (!serve_by)
				serve_by = mono_ms() + 30000;
			r = pkv_watch(cl, bucket, blen, NULL, 0, 0, 0, w);
		}
		if (r == PKV_OK) {
			r = watch_bucket_resume(cl, s, bucket, blen, json, serve_by);
			if (r == PKV_OK)
				return r;
			pkv_unwatch(*w);
			*w = NULL;
		} else if (r == PKV_TIMEOUT && !serve_by) {
			serve_by = mono_ms() + 30000; /* up, not yet serving */
		}
		poll(NULL, 0, 100);
	}
	return r;
}

/*
 * watch KEY / watch -b BUCKET: key events (docs/design.md §8.3). Either
 * rides out a daemon restart: a key watch watches again from the last
 * generation it printed, a bucket watch watches again and checks the keys
 * it printed as live; no event is lost or printed twice.
 */
static int cmd_watch_keys(int argc, char **argv)
{
	enum { O_JSON = 256, O_FROM };
	static const struct option lo[] = {
		{"bucket", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, O_JSON},
		{"from", required_argument, NULL, O_FROM},
		{0},
	};
	const char *bucket = NULL;
	bool json = opt_json;
	uint64_t from = 0;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:b:", lo, NULL)) != -1) {
		if (c == 'b')
			bucket = optarg;
		else if (c == O_JSON)
			json = true;
		else if (c == O_FROM) {
			if (!parse_u64(optarg, UINT64_MAX, &from))
				return usage_error("watch: --from takes a generation, not '%s'", optarg);
		} else
			return bad_option(c, argv, "watch");
	}
	if (argc - optind > 1)
		return usage_error("watch takes at most one KEY after its options");
	const char *key = optind < argc ? argv[optind] : NULL;
	if (!key && !bucket)
		return usage_error("watch: give a KEY, -b BUCKET, or neither for quorum events");
	if (key && !*key)
		return usage_error("empty key: a key is 1..%u bytes", PKV_KEY_MAX);
	int ex = check_sizes(bucket, key ? strlen(key) : 1, 0);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	size_t blen = bucket ? strlen(bucket) : 0, klen = key ? strlen(key) : 0;
	if (key) { /* a miss asks the acceptors: the daemon then knows the key */
		struct pkv_get_opts go = {.bucket = bucket, .bucket_len = blen};
		struct pkv_value v = PKV_VALUE_INIT;
		(void)pkv_get(cl, key, klen, &go, &v);
		pkv_value_free(&v);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct seen seen = {0};
	if (key) {
		struct seen_key *k = seen_get(&seen, key, klen);
		if (!k) {
			fputs("pkv: watch: out of memory\n", stderr);
			pkv_close(cl);
			return EX_UNAVAILABLE_;
		}
		k->chosen = from;
		k->ended = from ? from - 1 : 0;
	}
	struct pkv_watch *w = NULL;
	int r = pkv_watch(cl, bucket, blen, key, klen, from, 0, &w);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: watch: %s (%s)\n", pkv_strerror(r), pkv_errmsg());
		seen_free(&seen);
		pkv_close(cl);
		return exit_for(r);
	}
	for (;;) {
		struct pkv_watch_event ev;
		r = pkv_watch_next(w, &ev, 60000);
		if (r == 1) {
			struct seen_key *k = seen_get(&seen, ev.key, ev.key_len);
			if (!k) { /* without its record, an event could print twice */
				r = -ENOMEM;
				break;
			}
			watch_report(k, &ev, json);
			continue;
		}
		if (r == 0)
			continue;
		pkv_unwatch(w);
		w = NULL;
		r = watch_again(cl, &seen, bucket, blen, key, klen, json, &w);
		if (r != PKV_OK)
			break;
	}
	fprintf(stderr, "pkv: watch: %s (%s)\n", pkv_strerror(r), pkv_errmsg());
	pkv_unwatch(w);
	seen_free(&seen);
	pkv_close(cl);
	return EX_UNAVAILABLE_;
}

static int cmd_watch(int argc, char **argv)
{
	if (argc != 1)
		return cmd_watch_keys(argc, argv);
	int ex = EX_OK_;
	struct pkv_client *c = open_or_report(&ex);
	if (!c)
		return ex;
	struct pkv_subscription *sub;
	int r = pkv_subscribe(c, &sub);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: watch: %s\n", pkv_strerror(r));
		pkv_close(c);
		return exit_for(r);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct pollfd p = {.fd = pkv_subscription_fd(sub), .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		int event;
		uint64_t gen;
		while ((r = pkv_subscription_next(sub, &event, &gen)) == 1) {
			if (event == PKV_EVENT_LIFETIME_ENDED || event == PKV_EVENT_LIFETIME_CONFIRMED) {
				/* name KEY gen=G [bucket=B]: only this process's own bindings */
				char b[PKV_BUCKET_MAX + 1], k[1025];
				size_t bl, kl;
				if (pkv_subscription_key(sub, b, sizeof(b) - 1, &bl, k, sizeof(k) - 1,
							 &kl) != PKV_OK)
					continue;
				const char *name = event == PKV_EVENT_LIFETIME_ENDED
							   ? "lifetime_ended"
							   : "lifetime_confirmed";
				if (opt_json) {
					struct json j;
					json_event_begin(&j, name);
					json_event_key(&j, b, bl, k, kl, gen);
					json_done(&j);
					continue;
				}
				printf("%s %.*s gen=%" PRIu64 "%s%.*s\n", name, (int)kl, k, gen,
				       bl ? " bucket=" : "", (int)bl, b);
				continue;
			}
			const char *name = event == PKV_EVENT_QUORUM_REACHED	? "quorum_reached"
					   : event == PKV_EVENT_QUORUM_LOST	? "quorum_lost"
					   : event == PKV_EVENT_LEASE_LOST	? "lease_lost"
					   : event == PKV_EVENT_LEASE_REGAINED ? "lease_regained"
										: "unknown";
			if (opt_json) {
				struct json j;
				json_event_begin(&j, name);
				json_done(&j);
			} else {
				puts(name);
			}
		}
		if (r != 0) /* the daemon went away, or an error: the stream is over */
			break;
	}
	fprintf(stderr, "pkv: watch: %s\n", pkv_strerror(r));
	pkv_unsubscribe(sub);
	pkv_close(c);
	return EX_UNAVAILABLE_;
}

static void print_ballot(uint64_t round, uint32_t node)
{
	printf("%" PRIu64 ".%u", round, (unsigned)node);
}

/*
 * info [-b BUCKET] [--json] [--timeout MS] KEY: each daemon's acceptor and
 * learner state of KEY (docs/design.md §8.6), one line each, in node order;
 * a configured node that did not answer says so.
 */
static int cmd_info(int argc, char **argv)
{
	enum { O_JSON = 256 };
	static const struct option lo[] = {
		{"bucket", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, O_JSON},
		{"timeout", required_argument, NULL, 't'},
		{0},
	};
	const char *bucket = NULL;
	bool json = opt_json;
	uint64_t timeout_ms = 1000;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:b:", lo, NULL)) != -1) {
		if (c == 'b')
			bucket = optarg;
		else if (c == O_JSON)
			json = true;
		else if (c == 't') {
			if (!parse_u64(optarg, 600000, &timeout_ms) || !timeout_ms)
				return usage_error("info: --timeout takes milliseconds (1..600000), not"
						   " '%s'", optarg);
		} else
			return bad_option(c, argv, "info");
	}
	if (argc - optind != 1)
		return usage_error("info takes one KEY after its options");
	const char *key = argv[optind];
	if (!*key)
		return usage_error("empty key: a key is 1..%u bytes", PKV_KEY_MAX);
	int ex = check_sizes(bucket, strlen(key), 0);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	struct pkv_key_info *v = NULL;
	size_t n = 0;
	int r = pkv_info(cl, bucket, bucket ? strlen(bucket) : 0, key, strlen(key),
			 (uint32_t)timeout_ms, &v, &n);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: info %s: %s\n", key, pkv_strerror(r));
		pkv_close(cl);
		return exit_for(r);
	}
	struct pkv_node nodes[PKV_MAX_NODES_CLI];
	int nn = pkv_nodes(cl, nodes, PKV_MAX_NODES_CLI);
	if (nn < 0 || nn > (int)PKV_MAX_NODES_CLI)
		nn = 0;
	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_arr_begin(&j);
	}
	for (int i = 0; i < nn; i++) {
		bool answered = false;
		for (int kind = PKV_INFO_ACCEPTOR; kind <= PKV_INFO_LEARNER; kind++) {
			for (size_t k = 0; k < n; k++) {
				const struct pkv_key_info *x = &v[k];
				if (x->node != nodes[i].id || x->kind != kind)
					continue;
				answered = true;
				bool acc = kind == PKV_INFO_ACCEPTOR;
				if (json) {
					json_obj_begin(&j);
					json_key(&j, "node");
					json_cstr(&j, nodes[i].name);
					json_key(&j, "role");
					json_cstr(&j, acc ? "acceptor" : "learner");
					json_member_u64(&j, "generation", x->gen);
					if (acc) {
						json_member_u64(&j, "promised_round", x->promised_round);
						json_member_u64(&j, "promised_node", x->promised_node);
					}
					if (x->has_value) {
						json_member_u64(&j, "ballot_round", x->ballot_round);
						json_member_u64(&j, "ballot_node", x->ballot_node);
						json_field_bytes(&j, "value", x->value,
								 x->value_len);
					}
					json_key(&j, "synced");
					json_bool(&j, x->synced);
					json_key(&j, "voter");
					json_bool(&j, x->voter);
					json_obj_end(&j);
					continue;
				}
				printf("%s %s gen=%" PRIu64, nodes[i].name, acc ? "acceptor" : "learner",
				       x->gen);
				if (acc) {
					printf(" promised=");
					print_ballot(x->promised_round, x->promised_node);
				}
				printf(" %s=", acc ? "accepted" : "chosen");
				if (x->has_value) {
					print_ballot(x->ballot_round, x->ballot_node);
					printf(" value=");
					fwrite(x->value, 1, x->value_len, stdout);
				} else {
					printf("none");
				}
				printf("%s%s\n", x->synced ? "" : " (not synced)",
				       x->voter ? "" : " (not a voter)");
			}
		}
		if (!answered && !json)
			printf("%s no answer\n", nodes[i].name);
		else if (!answered) {
			json_obj_begin(&j);
			json_key(&j, "node");
			json_cstr(&j, nodes[i].name);
			json_key(&j, "role");
			json_null(&j);
			json_obj_end(&j);
		}
	}
	if (json) {
		json_arr_end(&j);
		json_end(&j);
	}
	pkv_info_free(v, n);
	pkv_close(cl);
	return EX_OK_;
}

/* release [-b BUCKET] KEY GEN: end this process's own binding early. */
static int cmd_release(int argc, char **argv)
{
	static const struct option lo[] = {
		{"bucket", required_argument, NULL, 'b'},
		{0},
	};
	const char *bucket = NULL;
	int c;
	uint64_t gen;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:b:", lo, NULL)) != -1) {
		if (c == 'b')
			bucket = optarg;
		else
			return bad_option(c, argv, "release");
	}
	if (argc - optind != 2)
		return usage_error("release takes KEY GEN after its options");
	const char *key = argv[optind];
	if (!*key)
		return usage_error("empty key: a key is 1..%u bytes", PKV_KEY_MAX);
	if (!parse_u64(argv[optind + 1], UINT64_MAX, &gen) || gen == 0)
		return usage_error("release: GEN is a generation (1 and up), not '%s'",
				   argv[optind + 1]);
	int ex = check_sizes(bucket, strlen(key), 0);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	int r = pkv_release(cl, bucket, bucket ? strlen(bucket) : 0, key, strlen(key), gen);
	pkv_close(cl);
	if (r == PKV_OK && opt_json) {
		struct json j;
		json_ok_begin(&j, bucket);
		json_field_bytes(&j, "key", key, strlen(key));
		json_member_u64(&j, "generation", gen);
		json_done(&j);
	}
	if (r == PKV_OK)
		return EX_OK_;
	if (r == PKV_STALE) {
		fprintf(stderr, "pkv: release %s: generation %" PRIu64 " has already ended: nothing"
				" to release\n", key, gen);
		return EX_NOT_FOUND;
	}
	if (r == PKV_NOT_OWNER) {
		fprintf(stderr, "pkv: release %s: not bound to this process (only the process a key"
				" is bound to can release it)\n", key);
		return EX_INVALID;
	}
	fprintf(stderr, "pkv: release %s: %s\n", key, pkv_strerror(r));
	return exit_for(r);
}

/* -o json of resize and member add|remove: {"ok":…,"voters":N[,"node":…]}. */
static void print_resize_json(bool ok, uint64_t n, const char *node)
{
	struct json j;
	json_init(&j, stdout);
	json_obj_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, ok);
	if (!ok) {
		json_key(&j, "result");
		json_cstr(&j, "not_in_sync");
	}
	json_member_u64(&j, "voters", n);
	if (node) {
		json_key(&j, "node");
		json_cstr(&j, node);
	}
	json_done(&j);
}

/* resize to n voters; node: the one member add|remove names, else NULL. */
static int resize_to(uint64_t n, const char *node)
{
	int ex = EX_OK_;
	struct pkv_client *c = open_or_report(&ex);
	if (!c)
		return ex;
	int r = pkv_resize_cluster(c, (unsigned)n);
	pkv_close(c);
	if (r == PKV_OK || r == PKV_NOT_IN_SYNC) {
		if (opt_json)
			print_resize_json(r == PKV_OK, n, node);
		else
			puts(r == PKV_OK ? "ok" : "not_in_sync");
		return r == PKV_OK ? EX_OK_ : EX_INVALID;
	}
	if (r == PKV_BAD_REQUEST) {
		fprintf(stderr, "pkv: resize: %" PRIu64 " voters: more than the configured nodes\n", n);
		return exit_for(r);
	}
	fprintf(stderr, "pkv: resize: %s\n", pkv_strerror(r));
	return exit_for(r);
}

static int cmd_resize(int argc, char **argv)
{
	uint64_t n;
	if (argc != 2)
		return usage_error("resize takes one argument, the new cluster size");
	if (!parse_u64(argv[1], 64, &n) || n < 1)
		return usage_error("resize: a cluster size is 1..64, not '%s'", argv[1]);
	return resize_to(n, NULL);
}

/* The value of line "NAME: value" of a daemon report, or NULL. Points into text. */
static char *report_field(char *text, const char *name, size_t *len)
{
	size_t n = strlen(name);
	for (char *l = text; l && *l;) {
		char *end = strchr(l, '\n');
		size_t ll = end ? (size_t)(end - l) : strlen(l);
		if (ll > n + 1 && !strncmp(l, name, n) && l[n] == ':' && l[n + 1] == ' ') {
			*len = ll - n - 2;
			return l + n + 2;
		}
		l = end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * The next space-separated word of list[0..ll) at or after *pos: its start
 * and length (*wl), with *pos moved past it; NULL when there is none.
 */
static const char *next_word(const char *list, size_t ll, size_t *pos, size_t *wl)
{
	size_t i = *pos;
	while (i < ll && list[i] == ' ')
		i++;
	size_t j = i;
	while (j < ll && list[j] != ' ')
		j++;
	*pos = j;
	*wl = j - i;
	return j > i ? list + i : NULL;
}

/* Is word w (length wl) one of the space-separated words of list (length ll)? */
static bool word_in(const char *list, size_t ll, const char *w, size_t wl)
{
	size_t pos = 0, n;
	for (const char *x; (x = next_word(list, ll, &pos, &n));)
		if (n == wl && !strncmp(x, w, wl))
			return true;
	return false;
}

/*
 * member list|add NODE|remove NODE, in the shape of etcdctl member. A
 * change adds the lowest configured node that is not a voter or removes the
 * highest voter (docs/design.md §5), so add takes the node after the last
 * voter and remove the last voter; both are a resize by one, with its answers.
 */
static int cmd_member(int argc, char **argv)
{
	bool list = argc == 2 && !strcmp(argv[1], "list");
	bool add = argc == 3 && !strcmp(argv[1], "add");
	bool rm = argc == 3 && !strcmp(argv[1], "remove");
	if (!list && !add && !rm)
		return usage_error("member takes list, add NODE or remove NODE");
	char *text;
	int ex = daemon_text(pkv_cluster_status, "member", &text);
	if (ex)
		return ex;
	size_t nl = 0, vl = 0, cl = 0, sl = 0;
	const char *nodes = report_field(text, "nodes", &nl);
	const char *voters = report_field(text, "voters", &vl);
	const char *conn = report_field(text, "connected", &cl);
	const char *self = report_field(text, "node", &sl);
	if (!nodes || !voters || !conn || !self) {
		free(text);
		fprintf(stderr, "pkv: member: the daemon does not report its voters (an older pkvd?)\n");
		return EX_UNAVAILABLE_;
	}
	/* The configured nodes in order; k-th word at words[k]. */
	const char *words[PKV_MAX_NODES_CLI];
	size_t wlen[PKV_MAX_NODES_CLI], n_words = 0, n_voters = 0, pos = 0;
	while (n_words < PKV_MAX_NODES_CLI &&
	       (words[n_words] = next_word(nodes, nl, &pos, &wlen[n_words]))) {
		n_voters += word_in(voters, vl, words[n_words], wlen[n_words]);
		n_words++;
	}
	/* Configured observers (docs/design.md §5.2); an older pkvd lists none. */
	size_t ol = 0;
	const char *obs = report_field(text, "observers", &ol);
	if (list) {
		struct json j;
		if (opt_json) {
			json_init(&j, stdout);
			json_arr_begin(&j);
		} else {
			printf("%-16s %-10s %s\n", "NAME", "ROLE", "STATE");
		}
		for (size_t k = 0; k < n_words; k++) {
			bool v = word_in(voters, vl, words[k], wlen[k]);
			bool up = word_in(conn, cl, words[k], wlen[k]);
			bool me = wlen[k] == sl && !strncmp(words[k], self, sl);
			bool o = !v && obs && word_in(obs, ol, words[k], wlen[k]);
			const char *role = v ? "voter" : o ? "observer" : "non-voter";
			if (!opt_json) {
				printf("%-16.*s %-10s %s%s\n", (int)wlen[k], words[k], role,
				       up ? "up" : "down", me ? " (this daemon)" : "");
				continue;
			}
			json_obj_begin(&j);
			json_key(&j, "name");
			json_str(&j, words[k], wlen[k]);
			json_key(&j, "role");
			json_cstr(&j, role);
			json_key(&j, "state");
			json_cstr(&j, up ? "up" : "down");
			json_key(&j, "this_daemon");
			json_bool(&j, me);
			json_obj_end(&j);
		}
		if (opt_json) {
			json_arr_end(&j);
			json_end(&j);
		}
		free(text);
		return EX_OK_;
	}
	const char *name = argv[2];
	/*
	 * The node that changes, as the daemon picks it (daemon/resize.c): the
	 * first non-voter not marked observer (an observer when none is left),
	 * or the last voter.
	 */
	size_t want = n_words;
	for (int pass = 0; add && pass < 2 && want == n_words; pass++)
		for (size_t k = 0; k < n_words && want == n_words; k++)
			if (!word_in(voters, vl, words[k], wlen[k]) &&
			    (pass || !obs || !word_in(obs, ol, words[k], wlen[k])))
				want = k;
	for (size_t k = 0; !add && k < n_words; k++)
		if (word_in(voters, vl, words[k], wlen[k]))
			want = k;
	bool ok = n_voters >= 1 && want < n_words && wlen[want] == strlen(name) &&
		  !strncmp(words[want], name, wlen[want]);
	if (!ok) {
		if (want < n_words)
			fprintf(stderr,
				"pkv: member %s: one voter changes at a time, in node order (%zu voters"
				" now, observers last); only %.*s can be %s next\n",
				argv[1], n_voters, (int)wlen[want], words[want],
				add ? "added" : "removed");
		else
			fprintf(stderr, "pkv: member %s: no configured node can be %s now\n", argv[1],
				add ? "added" : "removed");
		free(text);
		return EX_INVALID;
	}
	free(text);
	return resize_to(add ? n_voters + 1 : n_voters - 1, name);
}

static int cmd_drop(int argc, char **argv)
{
	if (argc != 2)
		return usage_error("drop takes one argument, the bucket name");
	if (check_sizes(argv[1], 0, 0))
		return EX_USAGE_;
	int ex = EX_OK_;
	struct pkv_client *c = open_or_report(&ex);
	if (!c)
		return ex;
	int r = pkv_bucket_drop(c, argv[1], strlen(argv[1]));
	pkv_close(c);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: drop %s: %s\n", argv[1], pkv_strerror(r));
		return exit_for(r);
	}
	if (opt_json) {
		struct json j;
		json_ok_begin(&j, argv[1]);
		json_done(&j);
	}
	return EX_OK_;
}

static int cmd_buckets(int argc, char **argv)
{
	if (argc != 1)
		return usage_error("buckets takes no arguments");
	char *text;
	int ex = daemon_text(pkv_node_stats, "buckets", &text);
	if (ex)
		return ex;
	/*
	 * -o json: an array of {"name": …}, the name as stats prints it (0x and
	 * hex digits for one that is not printable), as stats --json does.
	 */
	struct json j;
	if (opt_json) {
		json_init(&j, stdout);
		json_arr_begin(&j);
	}
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "bucket: ", 8) != 0)
			continue;
		char *sp = strchr(line + 8, ' ');
		size_t nl = sp ? (size_t)(sp - line - 8) : strlen(line + 8);
		if (opt_json) {
			json_obj_begin(&j);
			json_key(&j, "name");
			json_str(&j, line + 8, nl);
			json_obj_end(&j);
		} else {
			printf("%.*s\n", (int)nl, line + 8);
		}
	}
	if (opt_json) {
		json_arr_end(&j);
		json_end(&j);
	}
	free(text);
	return EX_OK_;
}

static int cmd_stats(int argc, char **argv)
{
	enum report_form form;
	int ex = report_form(argc, argv, "stats", true, &form);
	if (ex)
		return ex;
	if (form == FORM_TEXT)
		return print_daemon_text(1, pkv_node_stats, "stats");
	char *text, *cluster = NULL;
	ex = daemon_text(pkv_node_stats, "stats", &text);
	if (ex)
		return ex;
	if (form == FORM_JSON) {
		print_report_json(text);
	} else {
		/* the gauges of the daemon's view (quorum, peers) with its counters */
		ex = daemon_text(pkv_cluster_status, "stats", &cluster);
		if (!ex)
			report_openmetrics(stdout, cluster, text);
		free(cluster);
	}
	free(text);
	return ex;
}

enum cmd_kind { CMD_PUT, CMD_GET, CMD_HOLD };

struct cmd_opts {
	bool show_gen;
	bool stale; /* get --stale: a value past the daemon's lease will do */
	bool json; /* get --json: one JSON object */
	int doubt_signal; /* hold: to CMD when the lock is in doubt; -1 until given */
	bool wait;	  /* hold --wait: wait for the key to be free */
	uint32_t wait_ms; /* hold --wait --timeout S: how long; 0: forever */
	const char *bucket, *def;
	int no_quorum;
	uint32_t timeout_ms;
	struct pkv_put_opts put;
};

static const char *const cmd_name[] = {"put", "get", "hold"};

/*
 * Parses the options of put, get and hold (get also serves pid and node);
 * returns optind, or -1 after a one-line message on a usage error.
 */
static int parse_opts(int argc, char **argv, enum cmd_kind kind, struct cmd_opts *o)
{
	enum { O_PID = 256, O_NODE, O_KEY, O_UNTIL, O_TTL, O_STALE, O_DOUBT, O_JSON, O_WAIT };
	static const struct option lo[] = {
		{"bucket", required_argument, NULL, 'b'},
		{"default", required_argument, NULL, 'd'},
		{"no-quorum", required_argument, NULL, 'q'},
		{"timeout", required_argument, NULL, 't'},
		{"pid", required_argument, NULL, O_PID},
		{"node", required_argument, NULL, O_NODE},
		{"key", required_argument, NULL, O_KEY},
		{"until", required_argument, NULL, O_UNTIL},
		{"ttl", required_argument, NULL, O_TTL},
		{"stale", no_argument, NULL, O_STALE},
		{"doubt-signal", required_argument, NULL, O_DOUBT},
		{"json", no_argument, NULL, O_JSON},
		{"wait", no_argument, NULL, O_WAIT},
		{0},
	};
	const char *cmd = cmd_name[kind];
	const char *timeout_arg = NULL;
	memset(o, 0, sizeof(*o));
	o->doubt_signal = -1;
	o->json = opt_json; /* put: -o json only; main refuses it for hold */
	int c;
	uint64_t v;
	bool put = kind != CMD_GET, until_set = false;
	optind = 0;
	/* Options stop at the first operand: hold's CMD keeps its own. */
	while ((c = getopt_long(argc, argv, kind == CMD_HOLD ? "+:b:" : "+:b:g", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			o->show_gen = true;
			break;
		case 'b':
			o->bucket = optarg;
			break;
		case O_DOUBT:
			if (kind != CMD_HOLD)
				return usage_error("%s: --doubt-signal is an option of hold", cmd), -1;
			if (!parse_u64(optarg, 64, &v))
				return usage_error("%s: --doubt-signal takes a signal number (0..64, 0:"
						   " none), not '%s'",
						   cmd, optarg),
				       -1;
			o->doubt_signal = (int)v;
			break;
		case O_JSON:
			if (put)
				return usage_error("%s: --json is an option of get", cmd), -1;
			o->json = true;
			break;
		case O_STALE:
			if (put)
				return usage_error("%s: --stale is an option of get", cmd), -1;
			o->stale = true;
			break;
		case 'd':
			if (put)
				return usage_error("%s: --default is an option of get", cmd), -1;
			o->def = optarg;
			break;
		case 'q':
			if (!put)
				return usage_error("%s: --no-quorum is an option of put", cmd), -1;
			if (!strcmp(optarg, "retry"))
				o->no_quorum = PKV_NO_QUORUM_RETRY;
			else if (!strcmp(optarg, "fail"))
				o->no_quorum = PKV_NO_QUORUM_FAIL; /* the library's handler aborts */
			else if (strcmp(optarg, "return") != 0)
				return usage_error("%s: --no-quorum takes return, retry or fail, "
						   "not '%s'",
						   cmd, optarg),
				       -1;
			break;
		case 't':
			timeout_arg = optarg; /* ms, or with hold --wait seconds: read below */
			break;
		case O_WAIT:
			if (kind != CMD_HOLD)
				return usage_error("%s: --wait is an option of hold", cmd), -1;
			o->wait = true;
			break;
		case O_PID:
			if (!put || kind == CMD_HOLD)
				return usage_error("%s: --pid is an option of put", cmd), -1;
			if (!parse_u64(optarg, INT32_MAX, &v) || v == 0)
				return usage_error("%s: --pid takes a process id (1..%d), not '%s'", cmd,
						   INT32_MAX, optarg),
				       -1;
			o->put.pid = (int32_t)v;
			break;
		case O_NODE:
			if (!put)
				return usage_error("%s: --node (a binding) is an option of put; "
						   "-n before the command picks the daemon",
						   cmd),
				       -1;
			if (!*optarg || strlen(optarg) > PKV_NODE_NAME_MAX)
				return usage_error("%s: --node takes a node name of 1..%u bytes", cmd,
						   PKV_NODE_NAME_MAX),
				       -1;
			o->put.node = optarg;
			break;
		case O_KEY:
			if (!put)
				return usage_error("%s: --key is an option of put", cmd), -1;
			if (!*optarg)
				return usage_error("%s: --key takes a key of 1..%u bytes", cmd,
						   PKV_KEY_MAX),
				       -1;
			o->put.dep_key = optarg;
			o->put.dep_key_len = strlen(optarg);
			break;
		case O_UNTIL:
		case O_TTL: {
			const char *opt = c == O_UNTIL ? "--until" : "--ttl";
			if (!put)
				return usage_error("%s: %s is an option of put", cmd, opt), -1;
			if (until_set)
				return usage_error("%s: give one of --until and --ttl", cmd), -1;
			until_set = true;
			uint64_t now = c == O_TTL ? pkv_now() : 0;
			/* The sum must not wrap: a ttl past the end of time is a typo. */
			if (!parse_u64(optarg, UINT64_MAX - now, &v))
				return usage_error("%s: %s takes milliseconds (0..%" PRIu64
						   "), not '%s'",
						   cmd, opt, UINT64_MAX - now, optarg),
				       -1;
			o->put.until = now + v;
			break;
		}
		default:
			return bad_option(c, argv, cmd), -1;
		}
	}
	if (timeout_arg && o->wait) {
		/* hold --wait --timeout S: how long to wait for the key, in seconds */
		char *end;
		double sec = strtod(timeout_arg, &end);
		if (end == timeout_arg || *end || sec < 0 || !(sec <= 4e6))
			return usage_error("%s: --timeout with --wait takes seconds (0..4000000), "
					   "not '%s'",
					   cmd, timeout_arg),
			       -1;
		o->wait_ms = sec > 0 && sec * 1000 < 1 ? 1 : (uint32_t)(sec * 1000);
	} else if (timeout_arg) {
		if (!parse_u64(timeout_arg, UINT32_MAX, &v))
			return usage_error("%s: --timeout takes milliseconds (0..%u), not '%s'", cmd,
					   UINT32_MAX, timeout_arg),
			       -1;
		o->timeout_ms = (uint32_t)v;
	}
	o->put.bucket = o->bucket;
	o->put.bucket_len = o->bucket ? strlen(o->bucket) : 0;
	o->put.no_quorum = o->no_quorum;
	o->put.timeout_ms = o->timeout_ms;
	if (o->no_quorum == PKV_NO_QUORUM_RETRY && !o->timeout_ms)
		o->put.timeout_ms = UINT32_MAX; /* retry: block until quorum returns */
	return optind;
}

/* The key operand and a put's bound key: 1..PKV_KEY_MAX bytes. */
/* The key (and value, "" when none) of a key command, before any daemon is asked. */
static int check_key(const char *key, const char *value, const struct cmd_opts *o)
{
	if (!*key)
		return usage_error("empty key: a key is 1..%u bytes", PKV_KEY_MAX);
	if (o->put.dep_key_len > PKV_KEY_MAX) {
		fprintf(stderr, "pkv: --key too large: %zu bytes, the limit is %u\n",
			o->put.dep_key_len, PKV_KEY_MAX);
		return EX_TOO_LARGE;
	}
	return check_sizes(o->bucket, strlen(key), strlen(value));
}

static int cmd_put_get(int argc, char **argv, bool put)
{
	struct cmd_opts o;
	int at = parse_opts(argc, argv, put ? CMD_PUT : CMD_GET, &o);
	if (at < 0)
		return EX_USAGE_;
	if (argc - at != (put ? 2 : 1))
		return usage_error(put ? "put takes KEY VALUE after its options"
				       : "get takes one KEY after its options");
	const char *key = argv[at];
	const char *value = put ? argv[at + 1] : "";
	int ex = check_key(key, value, &o);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	struct pkv_value v = PKV_VALUE_INIT;
	int r;
	if (put) {
		r = pkv_put(cl, key, strlen(key), value, strlen(value), &o.put, &v);
	} else {
		struct pkv_get_opts go = {
			.bucket = o.bucket,
			.bucket_len = o.bucket ? strlen(o.bucket) : 0,
			.def = o.def,
			.def_len = o.def ? strlen(o.def) : 0,
			.timeout_ms = o.timeout_ms,
			.flags = o.stale ? PKV_GET_STALE_OK : 0,
		};
		r = pkv_get(cl, key, strlen(key), &go, &v);
	}
	/* A stale value goes out as any other, and stderr says what it is. */
	if (r == PKV_OK && (v.flags & PKV_VALUE_STALE))
		fprintf(stderr, "pkv: %s: stale: this daemon has not heard from a majority of the "
				"voters lately; they may have ended this value\n",
			key);
	if (r == PKV_OK && o.json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j);
		if (o.bucket) {
			json_field_bytes(&j, "bucket", o.bucket, strlen(o.bucket));
		}
		json_field_bytes(&j, "key", key, strlen(key));
		json_field_bytes(&j, "value", v.data, v.len);
		json_member_u64(&j, "generation", v.gen);
		if (put) {
			/* the chosen value is the one this put proposed (same bytes) */
			json_key(&j, "won");
			json_bool(&j, v.len == strlen(value) && !memcmp(v.data, value, v.len));
		} else {
			json_key(&j, "stale");
			json_bool(&j, (v.flags & PKV_VALUE_STALE) != 0);
		}
		json_obj_end(&j);
		json_end(&j);
	} else if (r == PKV_OK) {
		fwrite(v.data, 1, v.len, stdout);
		fputc('\n', stdout);
		/* -g: the generation, the fencing token, on a line of its own */
		if (o.show_gen)
			printf("%llu\n", (unsigned long long)v.gen);
	} else if (r == PKV_INVALID_VALUE && put) {
		/*
		 * The daemon refuses a put whose binding has already ended; a pid
		 * of another pid namespace than the daemon's names nothing it
		 * may watch (one line: scripts read it).
		 */
		fprintf(stderr,
			"pkv: %s: %s: a binding (--pid, --node, --key, --until) has already "
			"ended%s\n",
			key, pkv_strerror(r),
			o.put.pid > 0 ? ", or --pid was given from another pid namespace (a "
					"container) than the daemon's: bind to the calling process "
					"with pkv hold"
				      : "");
	} else {
		fprintf(stderr, "pkv: %s: %s\n", key, pkv_strerror(r));
	}
	pkv_value_free(&v);
	pkv_close(cl);
	return exit_for(r);
}

/* pid KEY / node KEY: the process or node the key is bound to. */
static int cmd_binding(int argc, char **argv, bool pid)
{
	struct cmd_opts o;
	int at = parse_opts(argc, argv, CMD_GET, &o);
	if (at < 0)
		return EX_USAGE_;
	if (argc - at != 1)
		return usage_error("%s takes one KEY after its options", pid ? "pid" : "node");
	bool json = o.json && opt_json; /* -o json; --json is an option of get */
	if (o.stale || (o.json && !opt_json))
		return usage_error("%s: %s is an option of get", pid ? "pid" : "node",
				   o.stale ? "--stale" : "--json");
	const char *key = argv[at];
	int ex = check_key(key, "", &o);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	struct pkv_get_opts go = {
		.bucket = o.bucket,
		.bucket_len = o.bucket ? strlen(o.bucket) : 0,
		.timeout_ms = o.timeout_ms,
	};
	int r;
	int32_t p = 0;
	char name[PKV_NODE_NAME_MAX + 1] = "";
	if (pid)
		r = pkv_pid(cl, key, strlen(key), &go, &p);
	else
		r = pkv_node(cl, key, strlen(key), &go, name, sizeof(name));
	bool dflt = r == PKV_NOT_FOUND && o.def;
	if (json && (r == PKV_OK || dflt)) {
		/* {[bucket,] key, pid|node} or, for --default, pid|node null and default */
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j);
		if (o.bucket)
			json_field_bytes(&j, "bucket", o.bucket, strlen(o.bucket));
		json_field_bytes(&j, "key", key, strlen(key));
		json_key(&j, pid ? "pid" : "node");
		if (dflt)
			json_null(&j);
		else if (pid)
			json_i64(&j, p);
		else
			json_cstr(&j, name);
		if (dflt)
			json_field_bytes(&j, "default", o.def, strlen(o.def));
		json_done(&j);
	} else if (r == PKV_OK) {
		if (pid)
			printf("%d\n", (int)p);
		else
			puts(name);
	}
	if (dflt) {
		if (!json)
			puts(o.def);
		r = PKV_OK;
	} else if (r != PKV_OK) {
		fprintf(stderr, "pkv: %s: %s\n", key, pkv_strerror(r));
	}
	pkv_close(cl);
	return exit_for(r);
}

/*
 * hold: puts KEY bound to this process, runs CMD while holding it, and exits
 * with CMD's status. The key dies with this process — the shell's lock.
 */
static int cmd_hold(int argc, char **argv)
{
	struct cmd_opts o;
	int at = parse_opts(argc, argv, CMD_HOLD, &o);
	/* KEY VALUE -- CMD [ARG…] */
	if (at < 0)
		return EX_USAGE_;
	if (argc - at < 4 || strcmp(argv[at + 2], "--") != 0)
		return usage_error("hold takes KEY VALUE -- CMD [ARG...]");
	const char *key = argv[at], *value = argv[at + 1];
	int ex = check_key(key, value, &o);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	/* This process as the kernel names it to the daemon: right in a container too. */
	o.put.pid = PKV_PID_SELF;
	struct pkv_value v = PKV_VALUE_INIT;
	int r;
	if (o.wait) {
		/* Behind the holder and the waiters that came first on this daemon. */
		r = pkv_lock(cl, o.put.bucket, o.put.bucket_len, key, strlen(key), value,
			     strlen(value), o.wait_ms, &v);
		if (r == PKV_TIMEOUT) {
			/* Without a lease the daemon tells a waiter nothing (§8.3). */
			if (pkv_wait_for_quorum(cl, 0) != PKV_OK)
				fprintf(stderr, "pkv: hold %s: not granted within the --timeout: the daemon"
						" holds no quorum and lease, so it cannot tell whether the"
						" key is free: %s not run\n", key, argv[at + 3]);
			else
				fprintf(stderr, "pkv: hold %s: still held after the --timeout: %s not run\n",
					key, argv[at + 3]);
			pkv_close(cl);
			return EX_WAIT_TIMEOUT;
		}
	} else {
		r = pkv_put(cl, key, strlen(key), value, strlen(value), &o.put, &v);
	}
	if (r != PKV_OK) {
		fprintf(stderr, "pkv: hold %s: %s\n", key, pkv_strerror(r));
		pkv_close(cl);
		return exit_for(r);
	}
	if (v.len != strlen(value) || memcmp(v.data, value, v.len) != 0) {
		fprintf(stderr, "pkv: %s is held: %.*s\n", key, (int)v.len, (const char *)v.data);
		pkv_value_free(&v);
		pkv_close(cl);
		return EX_INVALID;
	}
	/* The value's generation is the lock's fencing token: CMD hands it to
	 * what it protects, which refuses a token lower than one it has seen. */
	char token[24];
	snprintf(token, sizeof(token), "%" PRIu64, v.gen);
	pkv_value_free(&v);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		perror("pkv: hold: fork");
		pkv_close(cl);
		return EX_UNAVAILABLE_;
	}
	if (child == 0) {
		char **cmd = argv + at + 3;
		if (setenv("PKV_GENERATION", token, 1) != 0)
			_exit(127);
		execvp(cmd[0], cmd);
		fprintf(stderr, "pkv: hold: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	/*
	 * While CMD runs, read the lock from the cache (a few ns a read): once
	 * the daemon's lease is over (stale) the lock is in doubt — CMD gets
	 * the doubt signal — and once the key holds another value or none,
	 * CMD no longer holds it (docs/design.md §5.1). How a doubt ends comes
	 * on the subscription, for this process's own binding: "lifetime
	 * ended" (the majority ended it while this daemon was cut off) stops
	 * CMD with SIGTERM; "lifetime confirmed" (in contact again, the binding
	 * intact) keeps it running.
	 */
	int sig = o.doubt_signal < 0 ? SIGTERM : o.doubt_signal;
	struct pkv_subscription *sub = NULL;
	if (pkv_subscribe(cl, &sub) != PKV_OK) {
		fprintf(stderr, "pkv: hold %s: no event stream (%s): the end of a doubt is read"
				" from the cache\n", key, pkv_errmsg());
		sub = NULL;
	}
	struct pkv_get_opts go = {
		.bucket = o.put.bucket,
		.bucket_len = o.put.bucket_len,
		.timeout_ms = 1000,
		.flags = PKV_GET_STALE_OK,
	};
	bool in_doubt = false, stopped = false;
	int st = 0;
	/*
	 * A restart of the daemon (an upgrade, systemd) keeps the lock: the
	 * new incarnation takes the binding back and the peers wait out its
	 * grace (docs/design.md §6.2). From the moment the daemon is seen
	 * gone or restarted (no answer to `pkv cluster`, or another
	 * incarnation there than the one the lock last read as held from),
	 * the doubt of its absence and of the new incarnation before its
	 * lease holds is ridden out for as long as the peers surely keep the
	 * binding: the daemon's failure timeout plus its restart grace, less
	 * a heartbeat (daemon_incarnation; 2 s, the defaults less nothing,
	 * for a daemon that does not say). A lock seen lost is not ridden
	 * out, nor the doubt of a daemon that did not restart (cut off: its
	 * lease is over).
	 */
	unsigned restart_ms = 2000;
	uint64_t away_since = 0, inc0 = daemon_incarnation(cl, &restart_ms);
	for (;;) {
		pid_t w = waitpid(child, &st, WNOHANG);
		if (w == child || (w < 0 && errno != EINTR))
			break;
		int ev = 0;
		if (sub) {
			struct pollfd pf = {.fd = pkv_subscription_fd(sub), .events = POLLIN};
			(void)poll(&pf, 1, 20);
			uint64_t gen;
			int e, nr;
			while ((nr = pkv_subscription_next(sub, &e, &gen)) == 1) {
				char b[PKV_BUCKET_MAX], k[1024];
				size_t bl, kl;
				if ((e == PKV_EVENT_LIFETIME_ENDED || e == PKV_EVENT_LIFETIME_CONFIRMED) &&
				    pkv_subscription_key(sub, b, sizeof(b), &bl, k, sizeof(k), &kl) ==
					    PKV_OK &&
				    kl == strlen(key) && !memcmp(k, key, kl) && bl == o.put.bucket_len &&
				    (bl == 0 || !memcmp(b, o.put.bucket, bl)))
					ev = e;
			}
			if (nr != 0) {
				/* The daemon went away (PKV_UNAVAILABLE) or the stream
				 * broke: reads from the cache go on, at the pace of the
				 * sleep below, not of a descriptor readable for good. */
				pkv_unsubscribe(sub);
				sub = NULL;
			}
		} else {
			struct timespec ts = {0, 20 * 1000000};
			nanosleep(&ts, NULL);
		}
		if (stopped)
			continue;
		uint64_t read_inc = attached_incarnation(cl);
		int g = pkv_get(cl, key, strlen(key), &go, &v);
		if (attached_incarnation(cl) != read_inc)
			read_inc = 0; /* attached anew meanwhile: which daemon it was is unknown */
		bool mine = g == PKV_OK && v.len == strlen(value) && memcmp(v.data, value, v.len) == 0;
		bool stale = (g == PKV_OK && (v.flags & PKV_VALUE_STALE)) || g == PKV_NO_QUORUM;
		bool gone = !mine && !stale && g != PKV_TIMEOUT && g != PKV_UNAVAILABLE;
		uint64_t now = mono_ms();
		/* The daemon as it answers now: 0, none (gone, or not yet up).
		 * The cache of a gone daemon reads on until the library's poll
		 * of its control socket (every 50 ms) finds it gone, and by
		 * then a new incarnation may answer here: a read is the
		 * answering daemon's only if it came through an attachment to
		 * that incarnation (read_inc). Else its old lease would count
		 * for the new incarnation, whose first reads (before its lease
		 * holds) would then read as a doubt, not as a restart. */
		uint64_t inc = g == PKV_UNAVAILABLE ? 0 : daemon_incarnation(cl, &restart_ms);
		if (mine && !stale && inc && inc == read_inc) {
			away_since = 0;
			inc0 = inc; /* the next restart is another one */
		} else if (inc != inc0 && !away_since &&
			   (g == PKV_UNAVAILABLE || g == PKV_TIMEOUT || stale || mine))
			away_since = now;
		if (stale && away_since && now - away_since < restart_ms)
			stale = false; /* a restart under way: its doubt is ridden out */
		if (ev == PKV_EVENT_LIFETIME_ENDED || (in_doubt && gone)) {
			fprintf(stderr, "pkv: hold %s: lifetime ended (the majority ended it while the"
					" daemon was cut off): SIGTERM to %s\n", key, argv[at + 3]);
			kill(child, SIGTERM);
			stopped = true;
		} else if (gone) {
			fprintf(stderr, "pkv: hold %s: the lock is lost: SIGTERM to %s\n", key,
				argv[at + 3]);
			kill(child, SIGTERM);
			stopped = true;
		} else if (in_doubt && (ev == PKV_EVENT_LIFETIME_CONFIRMED || (!sub && mine && !stale))) {
			fprintf(stderr, "pkv: hold %s: lifetime confirmed (in contact again, the lock"
					" is still ours): %s keeps running\n", key, argv[at + 3]);
			in_doubt = false;
		} else if (stale && !in_doubt) {
			if (sig)
				fprintf(stderr, "pkv: hold %s: the lock is in doubt (the daemon's lease is"
						" over): signal %d to %s\n", key, sig, argv[at + 3]);
			else
				fprintf(stderr, "pkv: hold %s: the lock is in doubt (the daemon's lease is"
						" over): %s runs on until it is ended or confirmed\n",
					key, argv[at + 3]);
			if (sig)
				kill(child, sig);
			in_doubt = true;
		}
	}
	pkv_unsubscribe(sub);
	pkv_value_free(&v);
	pkv_close(cl);
	/* Our exit ends the key's lifetime: the daemon watches this pid. */
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int cmd_keys(int argc, char **argv)
{
	enum { O_JSON = 256 };
	static const struct option o[] = {
		{"bucket", required_argument, NULL, 'b'},
		{"null", no_argument, NULL, '0'},
		{"json", no_argument, NULL, O_JSON},
		{0},
	};
	const char *bucket = NULL;
	bool nul = false, json = opt_json;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:b:0", o, NULL)) != -1) {
		if (c == '0')
			nul = true;
		else if (c == O_JSON)
			json = true;
		else if (c == 'b')
			bucket = optarg;
		else
			return bad_option(c, argv, "keys");
	}
	if (nul && json)
		return usage_error("keys: give one of -0 and --json");
	if (optind != argc)
		return usage_error("keys: unexpected argument '%s'", argv[optind]);
	int ex = check_sizes(bucket, 0, 0);
	if (ex)
		return ex;
	struct pkv_client *cl = open_or_report(&ex);
	if (!cl)
		return ex;
	struct pkv_keys *it;
	int r = pkv_keys(cl, bucket, bucket ? strlen(bucket) : 0, &it);
	if (r == PKV_OK) {
		const void *k;
		size_t klen;
		struct json j;
		json_init(&j, stdout);
		if (json)
			json_arr_begin(&j);
		while ((r = pkv_keys_next(it, &k, &klen)) == 1) {
			if (json) { /* an object: a key that is not UTF-8 needs its own name */
				json_obj_begin(&j);
				json_field_bytes(&j, "key", k, klen);
				json_obj_end(&j);
				continue;
			}
			fwrite(k, 1, klen, stdout);
			fputc(nul ? '\0' : '\n', stdout);
		}
		if (r == 0)
			r = PKV_OK;
		/* a failure part way leaves no closing bracket: the output does not parse */
		if (json && r == PKV_OK) {
			json_arr_end(&j);
			json_end(&j);
		}
		pkv_keys_free(it);
	}
	if (r != PKV_OK)
		fprintf(stderr, "pkv: keys: %s\n", pkv_strerror(r));
	pkv_close(cl);
	return exit_for(r);
}

static int cmd_now(int argc, char **argv)
{
	if (argc != 1)
		return usage_error("now takes no arguments");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (opt_json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j);
		json_member_u64(&j, "now_ms", ms);
		json_done(&j);
	} else {
		printf("%" PRIu64 "\n", ms);
	}
	return EX_OK_;
}

static int cmd_put(int argc, char **argv)
{
	return cmd_put_get(argc, argv, true);
}

static int cmd_get(int argc, char **argv)
{
	return cmd_put_get(argc, argv, false);
}

static int cmd_pid(int argc, char **argv)
{
	return cmd_binding(argc, argv, true);
}

static int cmd_node(int argc, char **argv)
{
	return cmd_binding(argc, argv, false);
}

/* The commands, by the name the command line gives. */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"cluster", cmd_cluster}, {"put", cmd_put},	    {"get", cmd_get},
	{"keys", cmd_keys},	  {"hold", cmd_hold},	    {"pid", cmd_pid},
	{"node", cmd_node},	  {"now", cmd_now},	    {"wait", cmd_wait},
	{"watch", cmd_watch},	  {"release", cmd_release}, {"info", cmd_info},
	{"resize", cmd_resize},	  {"member", cmd_member},   {"buckets", cmd_buckets},
	{"stats", cmd_stats},	  {"drop", cmd_drop},
};

int main(int argc, char **argv)
{
	int c;
	static const struct option lo[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	opterr = 0; /* one message per mistake, ours */
	while ((c = getopt_long(argc, argv, "+:n:S:o:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
				return usage_error("-o takes json or text, not '%s'", optarg);
			opt_json = !strcmp(optarg, "json");
			break;
		case 'n':
			if (!*optarg)
				return usage_error("-n takes a node name");
			opt_node = optarg;
			break;
		case 'S':
			if (!*optarg)
				return usage_error("-S takes a socket path");
			opt_socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pkv %s\n", PKV_VERSION);
			return 0;
		default:
			return bad_option(c, argv, "");
		}
	}
	if (opt_node && opt_socket)
		return usage_error("give -n NODE or -S SOCKET, not both");
	if (optind >= argc)
		return usage_error("no command given");
	char **cargv = argv + optind;
	int cargc = argc - optind;
	const char *cmd = cargv[0];
	/* hold runs a command: its output is the command's own */
	if (opt_json && !strcmp(cmd, "hold"))
		return usage_error("-o json: hold has no JSON output (it runs a command; every "
				   "other command has)");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(cargc, cargv);
	return usage_error("unknown command '%s'", cmd);
}
