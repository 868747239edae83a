// SPDX-License-Identifier: MIT
/*
 * The daemon's reports are lines of `NAME: VALUE...`; a VALUE is a bare word
 * (yes, no, a number, a name), NAME=VALUE fields, and at most one trailing
 * note in parentheses. pkv-report.h turns them into JSON and OpenMetrics.
 */
#include "pkv-report.h"

#include "pkv-hist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 128

struct line {
	const char *name;
	const char *bare[MAX_TOKENS];
	unsigned n_bare;
	const char *key[MAX_TOKENS], *val[MAX_TOKENS];
	unsigned n_kv;
	const char *note; /* NULL: none */
	const char *rest; /* everything after the colon, note removed */
};

/* Lines that list names; lines that repeat, one a peer or bucket. */
static bool is_list(const char *name)
{
	return !strcmp(name, "nodes") || !strcmp(name, "voters") || !strcmp(name, "connected");
}

static bool is_repeated(const char *name)
{
	return !strcmp(name, "peer") || !strcmp(name, "bucket") || !strcmp(name, "latency");
}

/* Lines whose value is always an object, whatever state they report. */
static bool is_object(const char *name)
{
	return !strcmp(name, "lease") || !strcmp(name, "clock");
}

/*
 * Splits one line (modified in place) into l; false when it is not of the
 * NAME: form.
 */
static bool parse_line(char *s, struct line *l)
{
	memset(l, 0, sizeof(*l));
	char *colon = strchr(s, ':');
	if (!colon || colon == s)
		return false;
	*colon = '\0';
	l->name = s;
	char *rest = colon + 1;
	while (*rest == ' ')
		rest++;
	/* a note ends a status line; names (of nodes, peers, buckets) are never one */
	char *paren = is_list(l->name) || is_repeated(l->name) ? NULL : strchr(rest, '(');
	size_t n = strlen(rest);
	if (paren && n && rest[n - 1] == ')') {
		rest[n - 1] = '\0';
		l->note = paren + 1;
		*paren = '\0';
		for (char *e = paren; e > rest && e[-1] == ' '; e--)
			e[-1] = '\0';
	}
	l->rest = rest;
	/* the tokens of a copy: rest stays whole for a multi-word value */
	char *copy = strdup(rest);
	if (!copy)
		return false;
	l->bare[MAX_TOKENS - 1] = copy; /* freed by line_free */
	bool named = is_repeated(l->name); /* the first word names a peer or bucket */
	for (char *save, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		if (named && l->n_bare == 0 && l->n_kv == 0) {
			/* a bucket may be called "keys=1": a name, whatever it holds */
			l->bare[l->n_bare++] = t;
		} else if (eq && eq != t && l->n_kv < MAX_TOKENS) {
			*eq = '\0';
			l->key[l->n_kv] = t;
			l->val[l->n_kv++] = eq + 1;
		} else if (!eq && l->n_bare < MAX_TOKENS - 1) {
			l->bare[l->n_bare++] = t;
		}
	}
	return true;
}

static void line_free(struct line *l)
{
	free((void *)l->bare[MAX_TOKENS - 1]);
}

/* An optionally signed decimal integer. */
static bool is_int(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	size_t n = strspn(s, "0123456789");
	return n > 0 && n <= 20 && s[n] == '\0';
}

/* A word as JSON: yes/no as booleans, integers as numbers, never as null. */
static void json_word(struct json *j, const char *w)
{
	if (!strcmp(w, "yes") || !strcmp(w, "no")) {
		json_bool(j, w[0] == 'y');
	} else if (!strcmp(w, "never")) {
		json_null(j);
	} else if (is_int(w)) {
		/* JSON numbers have no '+' and no leading zeros */
		bool neg = w[0] == '-';
		const char *d = w + (w[0] == '+' || neg);
		while (d[0] == '0' && d[1])
			d++;
		char num[24];
		snprintf(num, sizeof(num), "%s%s", neg && strcmp(d, "0") ? "-" : "", d);
		json_number(j, num);
	} else {
		json_cstr(j, w);
	}
}

/* A line's value: see pkv(1), "JSON output". */
static void json_line_value(struct json *j, const struct line *l, bool named)
{
	json_obj_begin(j);
	unsigned b = 0;
	if (named && l->n_bare) {
		json_key(j, "name");
		json_cstr(j, l->bare[b++]);
	}
	if (b < l->n_bare) {
		json_key(j, "value");
		if (l->n_bare - b == 1)
			json_word(j, l->bare[b]);
		else
			json_cstr(j, l->rest);
	}
	for (unsigned i = 0; i < l->n_kv; i++) {
		json_key(j, l->key[i]);
		json_word(j, l->val[i]);
	}
	if (l->note) {
		json_key(j, "note");
		json_cstr(j, l->note);
	}
	json_obj_end(j);
}

/* The lines of text, each a malloc'd copy; *n of them. */
static char **split_lines(const char *text, size_t *n)
{
	size_t cap = 1;
	for (const char *p = text; *p; p++)
		cap += *p == '\n';
	char **v = calloc(cap, sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (const char *p = text; *p && *n < cap;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		v[*n] = strndup(p, len);
		if (v[*n])
			(*n)++;
		p += len + (e != NULL);
	}
	return v;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void report_json(struct json *j, const char *text)
{
	size_t n;
	char **lines = split_lines(text, &n);
	if (!lines)
		return;
	bool *done = calloc(n ? n : 1, sizeof(*done));
	for (size_t i = 0; done && i < n; i++) {
		if (done[i])
			continue;
		char *copy = strdup(lines[i]);
		struct line l;
		if (!copy || !parse_line(copy, &l)) {
			free(copy);
			continue;
		}
		json_key(j, l.name);
		if (is_list(l.name)) {
			json_arr_begin(j);
			for (unsigned b = 0; b < l.n_bare; b++)
				json_cstr(j, l.bare[b]);
			json_arr_end(j);
		} else if (is_repeated(l.name)) {
			/* every line of this name, wherever it is, in one array */
			json_arr_begin(j);
			for (size_t k = i; k < n; k++) {
				char *c2 = strdup(lines[k]);
				struct line l2;
				if (c2 && parse_line(c2, &l2)) {
					if (!strcmp(l2.name, l.name)) {
						json_line_value(j, &l2, true);
						done[k] = true;
					}
					line_free(&l2);
				}
				free(c2);
			}
			json_arr_end(j);
		} else if (l.n_kv || is_object(l.name)) {
			json_line_value(j, &l, false);
		} else {
			if (l.n_bare == 1)
				json_word(j, l.bare[0]);
			else if (l.n_bare == 0)
				json_null(j);
			else
				json_cstr(j, l.rest);
			if (l.note) {
				char name[128];
				snprintf(name, sizeof(name), "%s_note", l.name);
				json_key(j, name);
				json_cstr(j, l.note);
			}
		}
		line_free(&l);
		free(copy);
	}
	free(done);
	free_lines(lines, n);
}

/* ---- OpenMetrics ---- */

struct sample {
	char family[128];
	bool counter;
	bool histogram; /* a sample of a histogram family: suffix says which */
	const char *suffix; /* "_bucket", "_count", "_sum" */
	char label[16];
	char *label_value; /* malloc'd: a bucket's name is up to 512 hex digits */
	char value[32];
};

struct samples {
	struct sample *v;
	size_t n, cap;
};

/* Fields that are current values, not running totals. */
static bool is_gauge_field(const char *k)
{
	static const char *const g[] = {
		"rounds_in_flight", "requests_in_flight", "keys", "entries", "max_keys",
		"cache_entries", "cache_capacity", "log_bytes", "records", "bytes", "bound_pid",
		"bound_node", "bound_key", "bound_until", "left_ms", "skew_ms", "last_heard_ms",
		"rtt_us", "clock_ms", "held",
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		if (!strcmp(k, g[i]))
			return true;
	return false;
}

/* A metric name of [a-zA-Z0-9_] only. */
static void metric_name(char *out, size_t cap, const char *a, const char *b)
{
	snprintf(out, cap, "paxoskv_%s%s%s", a, b ? "_" : "", b ? b : "");
	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
}

static void add(struct samples *s, const char *a, const char *b, bool counter,
		const char *label, const char *label_value, const char *value)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct sample *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	struct sample *x = &s->v[s->n++];
	memset(x, 0, sizeof(*x));
	metric_name(x->family, sizeof(x->family), a, b);
	x->counter = counter;
	if (label) {
		snprintf(x->label, sizeof(x->label), "%s", label);
		x->label_value = strdup(label_value);
		if (!x->label_value) {
			s->n--; /* a sample without its label would clash with the others */
			return;
		}
	}
	snprintf(x->value, sizeof(x->value), "%s", value[0] == '+' ? value + 1 : value);
}

/*
 * A `latency: NAME n= sum_us= p50_us= p99_us= b<i>=...` line (pkv-hist.h) as
 * the histogram paxoskv_latency_NAME_seconds: every bucket's cumulative
 * count under its upper bound (2^(i+1) µs), +Inf, the count and the sum.
 */
static void latency_samples(struct samples *s, const struct line *l)
{
	if (!l->n_bare)
		return;
	uint64_t b[PKV_HIST_BUCKETS] = {0}, n = 0, sum_us = 0;
	for (unsigned i = 0; i < l->n_kv; i++) {
		const char *k = l->key[i];
		if (!is_int(l->val[i]))
			continue;
		uint64_t v = strtoull(l->val[i], NULL, 10);
		if (!strcmp(k, "n"))
			n = v;
		else if (!strcmp(k, "sum_us"))
			sum_us = v;
		else if (k[0] == 'b' && is_int(k + 1) && strtoul(k + 1, NULL, 10) < PKV_HIST_BUCKETS)
			b[strtoul(k + 1, NULL, 10)] = v;
	}
	char fam[96], le[32], v[32];
	snprintf(fam, sizeof(fam), "%s_seconds", l->bare[0]);
	uint64_t cum = 0;
	for (unsigned i = 0; i < PKV_HIST_BUCKETS; i++) {
		cum += b[i];
		snprintf(le, sizeof(le), "%g", (double)pkv_hist_upper_us(i) / 1e6);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
		add(s, "latency", fam, false, "le", le, v);
		s->v[s->n - 1].histogram = true;
		s->v[s->n - 1].suffix = "_bucket";
	}
	snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
	add(s, "latency", fam, false, "le", "+Inf", v);
	s->v[s->n - 1].histogram = true;
	s->v[s->n - 1].suffix = "_bucket";
	add(s, "latency", fam, false, NULL, NULL, v);
	s->v[s->n - 1].histogram = true;
	s->v[s->n - 1].suffix = "_count";
	snprintf(v, sizeof(v), "%llu.%06llu", (unsigned long long)(sum_us / 1000000u),
		 (unsigned long long)(sum_us % 1000000u));
	add(s, "latency", fam, false, NULL, NULL, v);
	s->v[s->n - 1].histogram = true;
	s->v[s->n - 1].suffix = "_sum";
}

/* The numeric content of one report line. */
static void line_samples(struct samples *s, const struct line *l)
{
	if (!strcmp(l->name, "latency")) {
		latency_samples(s, l);
		return;
	}
	if (is_list(l->name)) {
		char n[16];
		if (!strcmp(l->name, "connected")) {
			/* this node is always in the list: the peers are the rest */
			snprintf(n, sizeof(n), "%u", l->n_bare ? l->n_bare - 1 : 0);
			add(s, "connected_peers", NULL, false, NULL, NULL, n);
		} else {
			snprintf(n, sizeof(n), "%u", l->n_bare);
			add(s, l->name, NULL, false, NULL, NULL, n);
		}
		return;
	}
	bool repeated = is_repeated(l->name);
	const char *label = repeated && l->n_bare ? l->name : NULL;
	const char *label_value = label ? l->bare[0] : NULL;
	if (!repeated && l->n_bare == 1) {
		const char *w = l->bare[0];
		if (!strcmp(w, "yes") || !strcmp(w, "no") || !strcmp(w, "ok") || !strcmp(w, "off"))
			add(s, l->name, !strcmp(l->name, "clock") ? "ok" : NULL, false, NULL, NULL,
			    w[0] == 'y' || !strcmp(w, "ok") ? "1" : "0");
		else if (is_int(w))
			add(s, l->name, NULL, false, NULL, NULL, w);
	}
	if (repeated && !strcmp(l->name, "peer")) {
		for (unsigned i = 0; i < l->n_kv; i++)
			if (!strcmp(l->key[i], "state"))
				add(s, "peer_up", NULL, false, label, label_value,
				    strcmp(l->val[i], "up") ? "0" : "1");
	}
	for (unsigned i = 0; i < l->n_kv; i++) {
		if (!is_int(l->val[i]))
			continue;
		if (!strcmp(l->name, "rejected")) /* one family, the reason a label */
			add(s, "rejected", NULL, true, "reason", l->key[i], l->val[i]);
		else
			add(s, l->name, l->key[i], !is_gauge_field(l->key[i]), label, label_value,
			    l->val[i]);
	}
}

static void collect(struct samples *s, const char *text)
{
	if (!text)
		return;
	size_t n;
	char **lines = split_lines(text, &n);
	if (!lines)
		return;
	for (size_t i = 0; i < n; i++) {
		struct line l;
		if (parse_line(lines[i], &l)) {
			line_samples(s, &l);
			line_free(&l);
		}
	}
	free_lines(lines, n);
}

/* A label value: \, " and newline escaped. */
static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

void report_openmetrics(FILE *f, const char *cluster_text, const char *stats_text)
{
	struct samples s = {0};
	collect(&s, cluster_text);
	collect(&s, stats_text);
	/* each family once, its samples together, in the order first seen */
	for (size_t i = 0; i < s.n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(s.v[k].family, s.v[i].family);
		if (seen)
			continue;
		fprintf(f, "# TYPE %s %s\n", s.v[i].family,
			s.v[i].histogram ? "histogram" : s.v[i].counter ? "counter" : "gauge");
		for (size_t k = i; k < s.n; k++) {
			const struct sample *x = &s.v[k];
			if (strcmp(x->family, s.v[i].family) != 0)
				continue;
			fprintf(f, "%s%s", x->family,
				x->histogram ? x->suffix : x->counter ? "_total" : "");
			if (x->label[0]) {
				fprintf(f, "{%s=\"", x->label);
				label_value(f, x->label_value);
				fputs("\"}", f);
			}
			fprintf(f, " %s\n", x->value);
		}
	}
	fputs("# EOF\n", f);
	for (size_t i = 0; i < s.n; i++)
		free(s.v[i].label_value);
	free(s.v);
}
