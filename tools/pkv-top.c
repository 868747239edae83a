// SPDX-License-Identifier: MIT
/*
 * pkv-top — a live inspector of one daemon, like top(1).
 *
 * Built on the public library only (include/paxoskv.h): the header and peer
 * rows come from pkv_cluster_status (the `pkv cluster` text), the paxos,
 * local and bucket rows from pkv_node_stats, this handle's cache counters
 * from pkv_stats, a bucket's keys from pkv_keys and pkv_get. Rates are the
 * difference of two counters over the time between two refreshes, so the
 * first screen shows "-" for them.
 *
 * Two front ends share one renderer, which produces lines of text: -b prints
 * them (scripts, tests), the interactive mode draws them with curses. -b
 * --json writes the same snapshot as one JSON object a refresh instead,
 * through the tools' JSON writer (tools/json.h).
 */
#include <ctype.h>
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "json.h"
#include "paxoskv.h"

enum top_exit {
	TOP_EX_OK = 0,
	TOP_EX_USAGE = 64,
	TOP_EX_UNAVAILABLE = 69,
};

/* How many keys the drill-down lists; a larger bucket is cut, and says so. */
#define TOP_KEYS_MAX 10000u
/* Value bytes shown in the drill-down; the rest is elided. */
#define TOP_VALUE_SHOWN 256u
#define TOP_COLS_MAX 12

/* ---- Snapshots: what one refresh read from the daemon ---- */

struct top_peer {
	char *name, *addr, *state, *heard;
	char *role; /* voter, observer, non-voter; "-" from a daemon that does not say */
	bool has_rtt;
	uint64_t rtt_us, hb_in, hb_out;
};

struct top_bucket {
	char *label; /* as the daemon prints it: the name, or 0x and hex */
	uint64_t keys, bytes, chosen, puts, gets;
	/* Not exported by the daemon yet: shown as "-" until they are. */
	bool has_bound, has_rounds, has_erasures;
	uint64_t bound[4]; /* keys bound by pid, node, key, until */
	uint64_t rounds, erasures;
	/* Per second since the previous refresh; NAN when unknown. */
	double put_rate, get_rate, erase_rate;
};

struct top_snap {
	int status;	/* PKV_OK, or why the daemon did not answer */
	int stats_status; /* of pkv_node_stats; buckets are empty unless PKV_OK */
	uint64_t at_ms; /* monotonic time of the reading */
	char *node, *cluster, *connected, *rejected, *datagrams, *paxos, *local;
	char *lease, *clock; /* "lease:" and "clock:" of the report (design §5.1, §4.5) */
	unsigned id, cluster_size, n_connected;
	bool quorum, has_synced, synced;
	bool has_voter, voter; /* "voter:" of the daemon's report */
	bool has_conf, catching_up; /* "configuration:" of the daemon's report */
	uint64_t conf;
	uint64_t incarnation, uptime_ms, epoch, rejected_total;
	struct top_peer *peers;
	size_t npeers;
	struct top_bucket *buckets;
	size_t nbuckets;
	bool has_handle_stats;
	struct pkv_stats hs;
	double ring_rate; /* client requests per second, NAN when unknown */
};

static void snap_free(struct top_snap *s)
{
	free(s->node);
	free(s->cluster);
	free(s->connected);
	free(s->rejected);
	free(s->lease);
	free(s->clock);
	free(s->datagrams);
	free(s->paxos);
	free(s->local);
	for (size_t i = 0; i < s->npeers; i++) {
		free(s->peers[i].name);
		free(s->peers[i].addr);
		free(s->peers[i].state);
		free(s->peers[i].role);
		free(s->peers[i].heard);
	}
	free(s->peers);
	for (size_t i = 0; i < s->nbuckets; i++)
		free(s->buckets[i].label);
	free(s->buckets);
	memset(s, 0, sizeof(*s));
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("pkv-top: out of memory\n", stderr);
		exit(70);
	}
	return q;
}

static char *xstrndup(const char *p, size_t n)
{
	char *s = xrealloc(NULL, n + 1);
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

static char *xstrdup(const char *p)
{
	return xstrndup(p, strlen(p));
}

/*
 * The value of token NAME=VALUE in a line of space-separated tokens, copied
 * into out; false if absent.
 */
static bool tok_str(const char *line, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = line;
	while (p && *p) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = 0;
			return true;
		}
		p = end;
	}
	return false;
}

static bool tok_u64(const char *line, const char *name, uint64_t *v)
{
	char buf[32], *end;
	if (!tok_str(line, name, buf, sizeof(buf)) || !isdigit((unsigned char)buf[0]))
		return false;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

static uint64_t tok_u64_or0(const char *line, const char *name)
{
	uint64_t v = 0;
	tok_u64(line, name, &v);
	return v;
}

static uint64_t u64_of(const char *s)
{
	return s ? strtoull(s, NULL, 10) : 0;
}

/* The first space-separated token of line, allocated. */
static char *first_tok(const char *line, const char **rest)
{
	while (*line == ' ')
		line++;
	const char *end = strchr(line, ' ');
	size_t len = end ? (size_t)(end - line) : strlen(line);
	*rest = line + len;
	return xstrndup(line, len);
}

static void parse_peer(struct top_snap *s, const char *v)
{
	const char *rest;
	char buf[128];
	s->peers = xrealloc(s->peers, (s->npeers + 1) * sizeof(*s->peers));
	struct top_peer *p = &s->peers[s->npeers++];
	memset(p, 0, sizeof(*p));
	p->name = first_tok(v, &rest);
	p->addr = xstrdup(tok_str(rest, "addr", buf, sizeof(buf)) ? buf : "?");
	p->state = xstrdup(tok_str(rest, "state", buf, sizeof(buf)) ? buf : "?");
	p->role = xstrdup(tok_str(rest, "role", buf, sizeof(buf)) ? buf : "-");
	p->heard = xstrdup(tok_str(rest, "last_heard_ms", buf, sizeof(buf)) ? buf : "?");
	p->has_rtt = tok_u64(rest, "rtt_us", &p->rtt_us);
	p->hb_in = tok_u64_or0(rest, "hb_in");
	p->hb_out = tok_u64_or0(rest, "hb_out");
}

/* The `pkv cluster` text: "name: value" lines (daemon/control.c). */
static void parse_cluster(struct top_snap *s, const char *text)
{
	const char *line = text;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *l = xstrndup(line, len);
		char *colon = strstr(l, ": ");
		char *v = colon ? colon + 2 : NULL;
		if (colon)
			*colon = 0;
		if (!colon && !strncmp(l, "connected:", 10)) /* nobody: no trailing space */
			v = l + 10, l[9] = 0;
		if (!v) {
			/* not a "name: value" line */
		} else if (!strcmp(l, "node")) {
			free(s->node);
			s->node = xstrdup(v);
		} else if (!strcmp(l, "id")) {
			s->id = (unsigned)u64_of(v);
		} else if (!strcmp(l, "cluster")) {
			free(s->cluster);
			s->cluster = xstrdup(v);
		} else if (!strcmp(l, "cluster_size")) {
			s->cluster_size = (unsigned)u64_of(v);
		} else if (!strcmp(l, "quorum")) {
			s->quorum = !strcmp(v, "yes");
		} else if (!strcmp(l, "connected")) {
			while (*v == ' ')
				v++;
			free(s->connected);
			s->connected = xstrdup(v);
			s->n_connected = 0;
			for (const char *p = v; *p;) {
				while (*p == ' ')
					p++;
				if (*p)
					s->n_connected++;
				while (*p && *p != ' ')
					p++;
			}
		} else if (!strcmp(l, "incarnation")) {
			s->incarnation = u64_of(v);
		} else if (!strcmp(l, "uptime_ms")) {
			s->uptime_ms = u64_of(v);
		} else if (!strcmp(l, "lease")) {
			free(s->lease);
			s->lease = xstrdup(v);
		} else if (!strcmp(l, "clock")) {
			free(s->clock);
			s->clock = xstrdup(v);
		} else if (!strcmp(l, "voter")) {
			s->has_voter = true;
			s->voter = !strncmp(v, "yes", 3);
		} else if (!strcmp(l, "configuration")) {
			s->has_conf = true;
			s->conf = u64_of(v);
			s->catching_up = strstr(v, "catching up") != NULL;
		} else if (!strcmp(l, "synced")) {
			s->has_synced = true;
			s->synced = !strcmp(v, "yes");
		} else if (!strcmp(l, "epoch")) {
			s->epoch = u64_of(v);
		} else if (!strcmp(l, "rejected")) {
			while (*v == ' ')
				v++;
			free(s->rejected);
			s->rejected = xstrdup(v);
			s->rejected_total = 0;
			for (const char *p = strchr(v, '='); p; p = strchr(p + 1, '='))
				s->rejected_total += strtoull(p + 1, NULL, 10);
		} else if (!strcmp(l, "peer")) {
			parse_peer(s, v);
		} else if (!strcmp(l, "datagrams")) {
			free(s->datagrams);
			s->datagrams = xstrdup(v);
		}
		free(l);
		line = nl ? nl + 1 : NULL;
	}
}

static void parse_bucket(struct top_snap *s, const char *v)
{
	const char *rest;
	s->buckets = xrealloc(s->buckets, (s->nbuckets + 1) * sizeof(*s->buckets));
	struct top_bucket *b = &s->buckets[s->nbuckets++];
	memset(b, 0, sizeof(*b));
	b->label = first_tok(v, &rest);
	b->keys = tok_u64_or0(rest, "keys");
	b->bytes = tok_u64_or0(rest, "bytes");
	b->chosen = tok_u64_or0(rest, "chosen");
	b->puts = tok_u64_or0(rest, "puts");
	b->gets = tok_u64_or0(rest, "gets");
	/* Shown once the daemon prints them on the bucket line. */
	static const char *const bound[4] = {"bound_pid", "bound_node", "bound_key", "bound_until"};
	b->has_bound = true;
	for (int i = 0; i < 4; i++)
		b->has_bound = tok_u64(rest, bound[i], &b->bound[i]) && b->has_bound;
	b->has_rounds = tok_u64(rest, "rounds_in_flight", &b->rounds);
	b->has_erasures = tok_u64(rest, "erasures", &b->erasures);
	b->put_rate = b->get_rate = b->erase_rate = NAN;
}

/* The pkv_node_stats text: paxos:, local:, and one bucket: line per bucket. */
static void parse_stats(struct top_snap *s, const char *text)
{
	const char *line = text;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *l = xstrndup(line, len);
		if (!strncmp(l, "paxos: ", 7)) {
			free(s->paxos);
			s->paxos = xstrdup(l + 7);
		} else if (!strncmp(l, "local: ", 7)) {
			free(s->local);
			s->local = xstrdup(l + 7);
		} else if (!strncmp(l, "bucket: ", 8)) {
			parse_bucket(s, l + 8);
		}
		free(l);
		line = nl ? nl + 1 : NULL;
	}
}

static double rate(uint64_t now, uint64_t before, double dt)
{
	if (dt <= 0 || now < before) /* a counter that went back: a restart */
		return NAN;
	return (double)(now - before) / dt;
}

/* Rates between two readings of the same daemon lifetime. */
static void snap_rates(struct top_snap *s, const struct top_snap *prev)
{
	s->ring_rate = NAN;
	if (!prev || prev->status != PKV_OK || prev->incarnation != s->incarnation)
		return;
	double dt = (double)(s->at_ms - prev->at_ms) / 1000.0;
	if (s->local && prev->local)
		s->ring_rate = rate(tok_u64_or0(s->local, "requests"),
				    tok_u64_or0(prev->local, "requests"), dt);
	/* A bucket new since the last reading counted all of it meanwhile. */
	static const struct top_bucket none = {.has_erasures = true};
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct top_bucket *b = &s->buckets[i];
		const struct top_bucket *p = &none;
		for (size_t j = 0; j < prev->nbuckets; j++) {
			if (!strcmp(prev->buckets[j].label, b->label)) {
				p = &prev->buckets[j];
				break;
			}
		}
		if (prev->stats_status != PKV_OK)
			continue;
		b->put_rate = rate(b->puts, p->puts, dt);
		b->get_rate = rate(b->gets, p->gets, dt);
		if (b->has_erasures && p->has_erasures)
			b->erase_rate = rate(b->erasures, p->erasures, dt);
	}
}

static void snap_take(struct pkv_client *c, struct top_snap *s, const struct top_snap *prev)
{
	memset(s, 0, sizeof(*s));
	s->ring_rate = NAN;
	s->at_ms = mono_ms();
	char *text = NULL;
	s->status = pkv_cluster_status(c, &text);
	if (s->status != PKV_OK)
		return;
	parse_cluster(s, text);
	free(text);
	text = NULL;
	s->stats_status = pkv_node_stats(c, &text);
	if (s->stats_status == PKV_OK)
		parse_stats(s, text);
	free(text);
	s->has_handle_stats = pkv_stats(c, &s->hs) == PKV_OK;
	snap_rates(s, prev);
}

/*
 * The raw name of a bucket from its label. The daemon prints a name as it is
 * when every byte is printable ASCII other than space, else as 0x and hex;
 * so a label that decodes from hex to such a plain name was printed plain
 * (a name that is literally "0x41"), and one that decodes to anything else
 * was hex. Returns the length; *out is allocated.
 */
static size_t bucket_raw(const char *label, char **out)
{
	size_t n = strlen(label);
	if (n >= 2 && label[0] == '0' && label[1] == 'x' && n % 2 == 0) {
		size_t m = (n - 2) / 2;
		char *raw = xrealloc(NULL, m + 1);
		bool hex = true, plain = m > 0;
		for (size_t i = 0; i < m && hex; i++) {
			unsigned x;
			hex = isxdigit((unsigned char)label[2 + 2 * i]) &&
			      isxdigit((unsigned char)label[3 + 2 * i]) &&
			      sscanf(label + 2 + 2 * i, "%2x", &x) == 1;
			raw[i] = (char)x;
			plain = plain && hex && x > ' ' && x < 0x7f;
		}
		if (hex && !plain) {
			raw[m] = 0;
			*out = raw;
			return m;
		}
		free(raw);
	}
	*out = xstrdup(label);
	return n;
}

/* Bytes as text: printable ASCII as is, the rest escaped. */
static char *escape(const void *p, size_t n, size_t limit)
{
	const unsigned char *b = p;
	size_t shown = n > limit ? limit : n;
	char *out = xrealloc(NULL, shown * 4 + 8);
	size_t o = 0;
	for (size_t i = 0; i < shown; i++) {
		if (b[i] == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (b[i] >= ' ' && b[i] < 0x7f) {
			out[o++] = (char)b[i];
		} else {
			o += (size_t)sprintf(out + o, "\\x%02x", b[i]);
		}
	}
	if (shown < n)
		o += (size_t)sprintf(out + o, "...");
	out[o] = 0;
	return out;
}

/* ---- Lines: the renderer's output, shared by both front ends ---- */

enum top_role {
	TOP_ROLE_TEXT,
	TOP_ROLE_TITLE,
	TOP_ROLE_HEAD, /* a table's column names */
	TOP_ROLE_SELECTED,
	TOP_ROLE_WARN,
	TOP_ROLE_FOOTER,
};

struct top_line {
	char *text;
	int role;
};

struct top_lines {
	struct top_line *v;
	size_t n, cap;
};

static void lines_add_str(struct top_lines *l, int role, char *text)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].text = text;
	l->v[l->n].role = role;
	l->n++;
}

__attribute__((format(printf, 3, 4))) static void lines_add(struct top_lines *l, int role,
							     const char *fmt, ...)
{
	va_list ap;
	char *text;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (!text)
		text = xstrdup("");
	lines_add_str(l, role, text);
}

static void lines_clear(struct top_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	l->n = 0;
}

/*
 * A table: cells are strings; column widths are computed over every row so
 * that they do not jump while the view scrolls.
 */
struct top_table {
	size_t ncol;
	const char *head[TOP_COLS_MAX];
	bool right[TOP_COLS_MAX];
	size_t cap[TOP_COLS_MAX]; /* widest shown, 0: any (batch mode) */
	char **cells;		  /* nrows * ncol */
	int *roles;
	size_t nrows, rowcap;
};

static size_t table_row(struct top_table *t, int role)
{
	if (t->nrows == t->rowcap) {
		t->rowcap = t->rowcap ? 2 * t->rowcap : 16;
		t->cells = xrealloc(t->cells, t->rowcap * t->ncol * sizeof(*t->cells));
		t->roles = xrealloc(t->roles, t->rowcap * sizeof(*t->roles));
	}
	memset(&t->cells[t->nrows * t->ncol], 0, t->ncol * sizeof(*t->cells));
	t->roles[t->nrows] = role;
	return t->nrows++;
}

__attribute__((format(printf, 4, 5))) static void table_set(struct top_table *t, size_t row,
							     size_t col, const char *fmt, ...)
{
	va_list ap;
	char *text;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	t->cells[row * t->ncol + col] = text ? text : xstrdup("");
}

static void table_free(struct top_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->roles);
	t->cells = NULL;
	t->roles = NULL;
	t->nrows = t->rowcap = 0;
}

static void table_width(const struct top_table *t, size_t *w)
{
	for (size_t c = 0; c < t->ncol; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * t->ncol + c];
			size_t n = s ? strlen(s) : 0;
			if (n > w[c])
				w[c] = n;
		}
		if (t->cap[c] && w[c] > t->cap[c])
			w[c] = t->cap[c];
	}
}

static char *table_format(const struct top_table *t, const size_t *w, const char *const *cells)
{
	size_t total = 1;
	for (size_t c = 0; c < t->ncol; c++)
		total += w[c] + 2;
	char *out = xrealloc(NULL, total), *o = out;
	for (size_t c = 0; c < t->ncol; c++) {
		const char *s = cells[c] ? cells[c] : "";
		size_t n = strlen(s);
		if (n > w[c]) { /* only with a cap: mark the cut */
			memcpy(o, s, w[c] - 1);
			o[w[c] - 1] = '~';
			o += w[c];
		} else if (t->right[c]) {
			memset(o, ' ', w[c] - n);
			memcpy(o + (w[c] - n), s, n);
			o += w[c];
		} else {
			memcpy(o, s, n);
			memset(o + n, ' ', w[c] - n);
			o += w[c];
		}
		if (c + 1 < t->ncol) {
			memcpy(o, "  ", 2);
			o += 2;
		}
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = 0;
	return out;
}

/* Emits the head and rows [first, first + count) of t. */
static void table_emit(const struct top_table *t, struct top_lines *l, size_t first, size_t count)
{
	size_t w[TOP_COLS_MAX];
	table_width(t, w);
	lines_add_str(l, TOP_ROLE_HEAD, table_format(t, w, t->head));
	for (size_t r = first; r < t->nrows && r < first + count; r++)
		lines_add_str(l, t->roles[r],
			      table_format(t, w, (const char *const *)&t->cells[r * t->ncol]));
}

/* ---- The view: what is shown, and the renderer ---- */

enum top_sort {
	TOP_SORT_NAME,
	TOP_SORT_KEYS,
	TOP_SORT_BYTES,
	TOP_SORT_CHOSEN,
	TOP_SORT_PUTS,
	TOP_SORT_GETS,
	TOP_SORT__COUNT,
};

static const char *const top_sort_names[TOP_SORT__COUNT] = {
	"BUCKET", "KEYS", "BYTES", "CHOSEN", "PUTS/S", "GETS/S",
};

struct top_key {
	char *key; /* raw bytes */
	size_t len;
	bool fetched;
	int status;
	char *shown; /* the escaped value, or why there is none */
	uint64_t gen, until;
};

struct top_view {
	bool batch;
	size_t rows, cols; /* the screen; 0: unlimited (batch) */
	int sort;
	bool reverse;
	char *selected; /* label of the selected bucket */
	size_t bucket_top;
	bool help;
	/* Drill-down into one bucket's keys, when drill is set. */
	char *drill; /* label */
	char *drill_raw;
	size_t drill_raw_len;
	int drill_status;
	struct top_key *keys;
	size_t nkeys;
	bool keys_cut;
	size_t key_sel, key_top;
};

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_rate(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b) ? (isnan(a) ? -1 : 1) : 0;
	return a < b ? -1 : a > b;
}

static int sort_key;
static bool sort_reverse;

/* Numbers largest first (what top does); names in bytewise order. */
static int cmp_bucket(const void *x, const void *y)
{
	const struct top_bucket *a = x, *b = y;
	int r = 0;
	switch (sort_key) {
	case TOP_SORT_KEYS:
		r = -cmp_u64(a->keys, b->keys);
		break;
	case TOP_SORT_BYTES:
		r = -cmp_u64(a->bytes, b->bytes);
		break;
	case TOP_SORT_CHOSEN:
		r = -cmp_u64(a->chosen, b->chosen);
		break;
	case TOP_SORT_PUTS:
		r = -cmp_rate(a->put_rate, b->put_rate);
		break;
	case TOP_SORT_GETS:
		r = -cmp_rate(a->get_rate, b->get_rate);
		break;
	default:
		break;
	}
	if (sort_reverse)
		r = -r;
	if (r == 0) {
		r = strcmp(a->label, b->label);
		if (sort_reverse && sort_key == TOP_SORT_NAME)
			r = -r;
	}
	return r;
}

static void sort_buckets(struct top_snap *s, const struct top_view *v)
{
	sort_key = v->sort;
	sort_reverse = v->reverse;
	if (s->nbuckets > 1)
		qsort(s->buckets, s->nbuckets, sizeof(*s->buckets), cmp_bucket);
}

static void fmt_rate(char *buf, size_t cap, double r)
{
	if (isnan(r))
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.1f", r);
}

static void fmt_uptime(char *buf, size_t cap, uint64_t ms)
{
	uint64_t s = ms / 1000u;
	if (s >= 86400u)
		snprintf(buf, cap, "%" PRIu64 "d %02u:%02u:%02u", s / 86400u,
			 (unsigned)(s / 3600u % 24u), (unsigned)(s / 60u % 60u), (unsigned)(s % 60u));
	else
		snprintf(buf, cap, "%u:%02u:%02u", (unsigned)(s / 3600u), (unsigned)(s / 60u % 60u),
			 (unsigned)(s % 60u));
}

static void render_header(const struct top_snap *s, struct top_lines *l)
{
	char up[48], rr[32], hit[48];
	fmt_uptime(up, sizeof(up), s->uptime_ms);
	lines_add(l, TOP_ROLE_TITLE,
		  "pkv-top  node %s (id %u, cluster %s)  incarnation %" PRIu64 "  up %s",
		  s->node ? s->node : "?", s->id, s->cluster ? s->cluster : "?", s->incarnation,
		  up);
	char sync[128] = "";
	if (s->has_synced)
		snprintf(sync, sizeof(sync), "  synced %s  epoch %" PRIu64, s->synced ? "yes" : "no",
			 s->epoch);
	if (s->has_conf) /* docs/design.md §5: a new voter answers once caught up */
		snprintf(sync + strlen(sync), sizeof(sync) - strlen(sync), "  conf %" PRIu64 "%s",
			 s->conf, s->catching_up ? " CATCHING UP" : "");
	bool outside = s->has_voter && !s->voter;
	lines_add(l,
		  s->quorum && (!s->has_synced || s->synced) && !outside ? TOP_ROLE_TEXT : TOP_ROLE_WARN,
		  "quorum %s  cluster_size %u  connected %u (%s)%s%s", s->quorum ? "yes" : "no",
		  s->cluster_size, s->n_connected, s->connected ? s->connected : "", sync,
		  outside ? "  NOT A VOTER" : "");
	/* Cached reads are vouched for only under the lease; a clock off the voters' is said. */
	if (s->lease || s->clock) {
		bool warn = (s->lease && strncmp(s->lease, "yes", 3) != 0) ||
			    (s->clock && strncmp(s->clock, "ok", 2) != 0);
		lines_add(l, warn ? TOP_ROLE_WARN : TOP_ROLE_TEXT, "lease %s  clock %s",
			  s->lease ? s->lease : "?", s->clock ? s->clock : "?");
	}
	if (s->paxos) {
		const char *p = s->paxos;
		uint64_t violations = tok_u64_or0(p, "violations");
		lines_add(l, violations ? TOP_ROLE_WARN : TOP_ROLE_TEXT,
			  "paxos: rounds %" PRIu64 "  in flight %" PRIu64
			  "  requests in flight %" PRIu64 "  conflicts %" PRIu64
			  "  forwards %" PRIu64 "  retransmits %" PRIu64 "  violations %" PRIu64,
			  tok_u64_or0(p, "rounds_started"), tok_u64_or0(p, "rounds_in_flight"),
			  tok_u64_or0(p, "requests_in_flight"), tok_u64_or0(p, "conflicts"),
			  tok_u64_or0(p, "forwards"), tok_u64_or0(p, "retransmits"), violations);
	}
	fmt_rate(rr, sizeof(rr), s->ring_rate);
	/* The hit rate of this handle: it reads only in the drill-down. */
	uint64_t lookups = s->hs.cache_hits + s->hs.cache_misses;
	if (s->has_handle_stats && lookups)
		snprintf(hit, sizeof(hit), "%.0f%% of %" PRIu64,
			 100.0 * (double)s->hs.cache_hits / (double)lookups, lookups);
	else
		snprintf(hit, sizeof(hit), "-");
	if (s->local) {
		uint64_t att = tok_u64_or0(s->local, "attaches");
		uint64_t rec = tok_u64_or0(s->local, "reclaimed");
		lines_add(l, TOP_ROLE_TEXT,
			  "local: clients %" PRIu64 "  requests/s %s  cache entries %" PRIu64
			  "  cache hit rate %s  lock recoveries %" PRIu64,
			  att >= rec ? att - rec : 0, rr, tok_u64_or0(s->local, "cache_entries"), hit,
			  tok_u64_or0(s->local, "lock_recoveries"));
	} else if (s->has_handle_stats) {
		lines_add(l, TOP_ROLE_TEXT,
			  "local: clients %" PRIu64 "  cache entries %" PRIu64
			  "  cache hit rate %s  lock recoveries %" PRIu64,
			  s->hs.attached >= s->hs.reclaimed ? s->hs.attached - s->hs.reclaimed : 0,
			  s->hs.cache_entries, hit, s->hs.lock_recoveries);
	}
}

static void render_peers(const struct top_snap *s, struct top_lines *l, size_t max_rows,
			 bool batch)
{
	struct top_table t = {
		.ncol = 8,
		.head = {"PEER", "ADDRESS", "STATE", "ROLE", "LAST HEARD", "RTT", "HB IN", "HB OUT"},
		.right = {false, false, false, false, true, true, true, true},
		.cap = {batch ? 0 : 24, batch ? 0 : 40},
	};
	size_t shown = max_rows && s->npeers > max_rows ? max_rows - 1 : s->npeers;
	/* On a short screen the peers that are up come first. */
	size_t *order = xrealloc(NULL, s->npeers * sizeof(*order)), n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->npeers; i++)
			if (shown == s->npeers ? pass == 0 : (!strcmp(s->peers[i].state, "up")) == !pass)
				order[n++] = i;
	for (size_t k = 0; k < n; k++) {
		const struct top_peer *p = &s->peers[order[k]];
		/* An observer's fellow observers are unwatched, not down (§5.2). */
		bool up = !strcmp(p->state, "up") || !strcmp(p->state, "unwatched");
		size_t r = table_row(&t, up ? TOP_ROLE_TEXT : TOP_ROLE_WARN);
		table_set(&t, r, 0, "%s", p->name);
		table_set(&t, r, 1, "%s", p->addr);
		table_set(&t, r, 2, "%s", p->state);
		table_set(&t, r, 3, "%s", p->role);
		if (isdigit((unsigned char)p->heard[0]))
			table_set(&t, r, 4, "%s ms", p->heard);
		else
			table_set(&t, r, 4, "%s", p->heard);
		if (p->has_rtt && p->rtt_us)
			table_set(&t, r, 5, "%.3f ms", (double)p->rtt_us / 1000.0);
		else
			table_set(&t, r, 5, "-");
		table_set(&t, r, 6, "%" PRIu64, p->hb_in);
		table_set(&t, r, 7, "%" PRIu64, p->hb_out);
	}
	free(order);
	table_emit(&t, l, 0, shown);
	if (shown < s->npeers)
		lines_add(l, TOP_ROLE_TEXT, "(%zu more peers)", s->npeers - shown);
	table_free(&t);
	lines_add(l, s->rejected_total ? TOP_ROLE_WARN : TOP_ROLE_TEXT,
		  "rejected datagrams: %" PRIu64 " (%s)", s->rejected_total,
		  s->rejected ? s->rejected : "");
}

/* Keeps sel visible in a window of `rows` rows starting at *top. */
static void scroll_to(size_t sel, size_t rows, size_t n, size_t *top)
{
	if (!rows) {
		*top = 0;
		return;
	}
	if (sel < *top)
		*top = sel;
	if (sel >= *top + rows)
		*top = sel - rows + 1;
	if (n <= rows)
		*top = 0;
	else if (*top > n - rows)
		*top = n - rows;
}

static size_t bucket_index(const struct top_snap *s, const char *label)
{
	for (size_t i = 0; label && i < s->nbuckets; i++)
		if (!strcmp(s->buckets[i].label, label))
			return i;
	return 0;
}

static void render_buckets(const struct top_snap *s, struct top_view *v, struct top_lines *l,
			   size_t max_rows)
{
	if (s->stats_status != PKV_OK) {
		lines_add(l, TOP_ROLE_WARN, "buckets: not available (%s)",
			  pkv_strerror(s->stats_status));
		return;
	}
	struct top_table t = {
		.ncol = 9,
		.head = {"BUCKET", "KEYS", "BYTES", "CHOSEN", "PUTS/S", "GETS/S", "BOUND P/N/K/U",
			 "ROUNDS", "ERASES/S"},
		.right = {false, true, true, true, true, true, true, true, true},
		.cap = {v->batch ? 0 : 32},
	};
	char head0[TOP_COLS_MAX][24];
	if (!v->batch) { /* mark the sort column */
		for (size_t c = 0; c < TOP_SORT__COUNT; c++) {
			snprintf(head0[c], sizeof(head0[c]), "%s%s", top_sort_names[c],
				 (int)c == v->sort ? (v->reverse ? "^" : "*") : "");
			t.head[c] = head0[c];
		}
	}
	size_t sel = bucket_index(s, v->selected);
	for (size_t i = 0; i < s->nbuckets; i++) {
		const struct top_bucket *b = &s->buckets[i];
		char pr[32], gr[32], er[32];
		size_t r = table_row(&t, !v->batch && i == sel ? TOP_ROLE_SELECTED : TOP_ROLE_TEXT);
		fmt_rate(pr, sizeof(pr), b->put_rate);
		fmt_rate(gr, sizeof(gr), b->get_rate);
		fmt_rate(er, sizeof(er), b->erase_rate);
		table_set(&t, r, 0, "%s", b->label);
		table_set(&t, r, 1, "%" PRIu64, b->keys);
		table_set(&t, r, 2, "%" PRIu64, b->bytes);
		table_set(&t, r, 3, "%" PRIu64, b->chosen);
		table_set(&t, r, 4, "%s", pr);
		table_set(&t, r, 5, "%s", gr);
		if (b->has_bound)
			table_set(&t, r, 6, "%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64,
				  b->bound[0], b->bound[1], b->bound[2], b->bound[3]);
		else
			table_set(&t, r, 6, "-");
		if (b->has_rounds)
			table_set(&t, r, 7, "%" PRIu64, b->rounds);
		else
			table_set(&t, r, 7, "-");
		table_set(&t, r, 8, "%s", er);
	}
	size_t rows = max_rows ? (max_rows > 1 ? max_rows - 1 : 1) : 0; /* minus the head */
	scroll_to(sel, rows, s->nbuckets, &v->bucket_top);
	table_emit(&t, l, v->bucket_top, rows ? rows : s->nbuckets);
	if (!s->nbuckets)
		lines_add(l, TOP_ROLE_TEXT, "(no buckets)");
	table_free(&t);
}

static void drill_clear(struct top_view *v)
{
	for (size_t i = 0; i < v->nkeys; i++) {
		free(v->keys[i].key);
		free(v->keys[i].shown);
	}
	free(v->keys);
	v->keys = NULL;
	v->nkeys = 0;
	v->keys_cut = false;
}

/* Lists the drilled bucket's keys afresh; values are read as they are shown. */
static void drill_load(struct pkv_client *c, struct top_view *v)
{
	drill_clear(v);
	struct pkv_keys *it;
	v->drill_status = pkv_keys(c, v->drill_raw, v->drill_raw_len, &it);
	if (v->drill_status != PKV_OK)
		return;
	const void *k;
	size_t klen, cap = 0;
	int r;
	while ((r = pkv_keys_next(it, &k, &klen)) == 1) {
		if (v->nkeys == TOP_KEYS_MAX) {
			v->keys_cut = true;
			break;
		}
		if (v->nkeys == cap) {
			cap = cap ? 2 * cap : 64;
			v->keys = xrealloc(v->keys, cap * sizeof(*v->keys));
		}
		struct top_key *e = &v->keys[v->nkeys++];
		memset(e, 0, sizeof(*e));
		e->key = xstrndup(k, klen);
		e->len = klen;
	}
	if (r < 0 || r >= PKV_NOT_FOUND)
		v->drill_status = r;
	pkv_keys_free(it);
}

static void drill_fetch(struct pkv_client *c, struct top_view *v, struct top_key *e)
{
	if (e->fetched)
		return;
	struct pkv_get_opts o = {
		.bucket = v->drill_raw,
		.bucket_len = v->drill_raw_len,
		.timeout_ms = 1000, /* a screen must not hang on one key */
	};
	struct pkv_value val = PKV_VALUE_INIT;
	e->status = pkv_get(c, e->key, e->len, &o, &val);
	e->fetched = true;
	if (e->status == PKV_OK) {
		e->shown = escape(val.data, val.len, TOP_VALUE_SHOWN);
		e->gen = val.gen;
		e->until = val.until;
	} else {
		if (asprintf(&e->shown, "(%s)", pkv_strerror(e->status)) < 0)
			e->shown = NULL;
	}
	pkv_value_free(&val);
}

static void render_drill(struct pkv_client *c, struct top_view *v, struct top_lines *l,
			 size_t max_rows)
{
	lines_add(l, TOP_ROLE_TITLE, "bucket %s: %zu key%s%s  (Esc: back)", v->drill, v->nkeys,
		  v->nkeys == 1 ? "" : "s", v->keys_cut ? " (list cut)" : "");
	if (v->drill_status != PKV_OK) {
		lines_add(l, TOP_ROLE_WARN, "keys: %s", pkv_strerror(v->drill_status));
		return;
	}
	size_t rows = max_rows ? (max_rows > 2 ? max_rows - 2 : 1) : 0;
	if (v->key_sel >= v->nkeys)
		v->key_sel = v->nkeys ? v->nkeys - 1 : 0;
	scroll_to(v->key_sel, rows, v->nkeys, &v->key_top);
	size_t first = v->key_top, last = rows ? first + rows : v->nkeys;
	if (last > v->nkeys)
		last = v->nkeys;
	struct top_table t = {
		.ncol = 4,
		.head = {"KEY", "GEN", "BINDINGS", "VALUE"},
		.right = {false, true, false, false},
		.cap = {v->batch ? 0 : 40},
	};
	/* Only the visible rows are read: one pkv_get each, mostly cache hits. */
	uint64_t now = pkv_now();
	for (size_t i = first; i < last; i++) {
		struct top_key *e = &v->keys[i];
		drill_fetch(c, v, e);
		char *k = escape(e->key, e->len, PKV_KEY_MAX);
		size_t r = table_row(&t, i == v->key_sel ? TOP_ROLE_SELECTED : TOP_ROLE_TEXT);
		table_set(&t, r, 0, "%s", k);
		free(k);
		if (e->status == PKV_OK)
			table_set(&t, r, 1, "%" PRIu64, e->gen);
		else
			table_set(&t, r, 1, "-");
		if (e->status == PKV_OK && e->until)
			table_set(&t, r, 2, "until %+.1fs",
				  ((double)e->until - (double)now) / 1000.0);
		else
			table_set(&t, r, 2, "-");
		table_set(&t, r, 3, "%s", e->shown ? e->shown : "");
	}
	table_emit(&t, l, 0, t.nrows);
	table_free(&t);
}

static void render(struct pkv_client *c, struct top_snap *s, struct top_view *v,
		   struct top_lines *l)
{
	if (s->status != PKV_OK) {
		lines_add(l, TOP_ROLE_WARN, "pkv-top: the daemon is unavailable: %s%s",
			  pkv_strerror(s->status), v->batch ? "" : " (retrying)");
		return;
	}
	sort_buckets(s, v);
	render_header(s, l);
	if (v->drill) {
		lines_add(l, TOP_ROLE_TEXT, "%s", "");
		size_t used = l->n + 1; /* the footer */
		render_drill(c, v, l, v->rows ? (v->rows > used ? v->rows - used : 3) : 0);
		return;
	}
	lines_add(l, TOP_ROLE_TEXT, "%s", "");
	/* Peers get what the buckets leave them, but the buckets keep some rows. */
	size_t peer_rows = 0;
	if (v->rows) {
		size_t fixed = l->n + 2 /* rejected, blank */ + 1 /* footer */ + 1 /* head */;
		size_t want_buckets = s->nbuckets < 4 ? s->nbuckets + 1 : 5;
		peer_rows = v->rows > fixed + want_buckets + 3 ? v->rows - fixed - want_buckets : 3;
	}
	render_peers(s, l, peer_rows, v->batch);
	lines_add(l, TOP_ROLE_TEXT, "%s", "");
	size_t used = l->n + (v->batch ? 0 : 1);
	render_buckets(s, v, l, v->rows ? (v->rows > used ? v->rows - used : 2) : 0);
}

/* ---- Batch mode as JSON: one object a refresh, on one line ---- */

/* A number with three decimals, or null when it is not known (NAN). */
static void json_rate(struct json *j, const char *name, double r)
{
	char buf[48];
	json_key(j, name);
	if (isnan(r) || isinf(r)) {
		json_null(j);
		return;
	}
	snprintf(buf, sizeof(buf), "%.3f", r);
	json_number(j, buf);
}

static void json_member_text(struct json *j, const char *name, const char *s)
{
	json_key(j, name);
	if (s)
		json_cstr(j, s);
	else
		json_null(j);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A bucket's name as bytes: the daemon prints a name of printable bytes as
 * it is, any other as 0x and hex (daemon/control.c), which is decoded back.
 */
static void json_bucket_name(struct json *j, const char *label)
{
	size_t n = strlen(label);
	bool hex = n > 2 && n % 2 == 0 && label[0] == '0' && label[1] == 'x';
	for (size_t i = 2; hex && i < n; i++)
		hex = hex_digit(label[i]) >= 0;
	if (!hex) {
		json_field_bytes(j, "bucket", label, n);
		return;
	}
	size_t len = (n - 2) / 2;
	unsigned char *b = xrealloc(NULL, len);
	for (size_t i = 0; i < len; i++)
		b[i] =
		    (unsigned char)(hex_digit(label[2 + 2 * i]) << 4 | hex_digit(label[3 + 2 * i]));
	json_field_bytes(j, "bucket", b, len);
	free(b);
}

/* What render() shows of s in batch mode, as one JSON object on one line. */
static void render_json(const struct top_snap *s, FILE *f)
{
	struct json j;
	json_init(&j, f);
	json_obj_begin(&j);
	json_member_text(&j, "node", s->node);
	json_member_u64(&j, "id", s->id);
	json_member_text(&j, "cluster", s->cluster);
	json_member_u64(&j, "incarnation", s->incarnation);
	json_member_u64(&j, "uptime_ms", s->uptime_ms);
	json_key(&j, "quorum");
	json_bool(&j, s->quorum);
	json_member_u64(&j, "cluster_size", s->cluster_size);
	json_key(&j, "connected");
	json_arr_begin(&j);
	for (const char *p = s->connected ? s->connected : ""; *p;) {
		size_t len = strcspn(p, " ");
		if (len)
			json_str(&j, p, len);
		p += len;
		p += strspn(p, " ");
	}
	json_arr_end(&j);
	if (s->has_synced) {
		json_key(&j, "synced");
		json_bool(&j, s->synced);
		json_member_u64(&j, "epoch", s->epoch);
	}
	if (s->has_conf) { /* docs/design.md §5: a new voter answers once caught up */
		json_member_u64(&j, "conf", s->conf);
		json_key(&j, "catching_up");
		json_bool(&j, s->catching_up);
	}
	if (s->has_voter) {
		json_key(&j, "voter");
		json_bool(&j, s->voter);
	}
	if (s->lease)
		json_member_text(&j, "lease", s->lease);
	if (s->clock)
		json_member_text(&j, "clock", s->clock);
	if (s->paxos) {
		static const char *const px[] = {
		    "rounds_started", "rounds_in_flight", "requests_in_flight", "conflicts",
		    "forwards",	      "retransmits",	  "violations"};
		json_key(&j, "paxos");
		json_obj_begin(&j);
		for (size_t i = 0; i < sizeof(px) / sizeof(px[0]); i++)
			json_member_u64(&j, px[i], tok_u64_or0(s->paxos, px[i]));
		json_obj_end(&j);
	}
	uint64_t lookups = s->hs.cache_hits + s->hs.cache_misses;
	if (s->local || s->has_handle_stats) {
		json_key(&j, "local");
		json_obj_begin(&j);
		if (s->local) {
			uint64_t att = tok_u64_or0(s->local, "attaches");
			uint64_t rec = tok_u64_or0(s->local, "reclaimed");
			json_member_u64(&j, "clients", att >= rec ? att - rec : 0);
			json_rate(&j, "requests_per_s", s->ring_rate);
			json_member_u64(&j, "cache_entries",
					tok_u64_or0(s->local, "cache_entries"));
			json_member_u64(&j, "lock_recoveries",
					tok_u64_or0(s->local, "lock_recoveries"));
		} else {
			json_member_u64(&j, "clients",
					s->hs.attached >= s->hs.reclaimed
					    ? s->hs.attached - s->hs.reclaimed
					    : 0);
			json_member_u64(&j, "cache_entries", s->hs.cache_entries);
			json_member_u64(&j, "lock_recoveries", s->hs.lock_recoveries);
		}
		/* The hit rate of this handle, a fraction; null before its first lookup. */
		json_rate(&j, "cache_hit_rate",
			  s->has_handle_stats && lookups
			      ? (double)s->hs.cache_hits / (double)lookups
			      : NAN);
		json_member_u64(&j, "cache_lookups", s->has_handle_stats ? lookups : 0);
		json_obj_end(&j);
	}
	json_key(&j, "peers");
	json_arr_begin(&j);
	for (size_t i = 0; i < s->npeers; i++) {
		const struct top_peer *p = &s->peers[i];
		json_obj_begin(&j);
		json_member_text(&j, "name", p->name);
		json_member_text(&j, "address", p->addr);
		json_member_text(&j, "state", p->state);
		json_member_text(&j, "role", p->role);
		json_key(&j, "last_heard_ms"); /* null: never heard, or not said */
		if (isdigit((unsigned char)p->heard[0]))
			json_u64(&j, u64_of(p->heard));
		else
			json_null(&j);
		json_rate(&j, "rtt_ms", p->has_rtt && p->rtt_us ? (double)p->rtt_us / 1000.0 : NAN);
		json_member_u64(&j, "hb_in", p->hb_in);
		json_member_u64(&j, "hb_out", p->hb_out);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_member_u64(&j, "rejected_datagrams", s->rejected_total);
	json_member_text(&j, "rejected", s->rejected ? s->rejected : "");
	/* null: the daemon did not give them; "buckets_error" says why. */
	json_key(&j, "buckets");
	if (s->stats_status != PKV_OK) {
		json_null(&j);
		json_member_text(&j, "buckets_error", pkv_strerror(s->stats_status));
	} else {
		json_arr_begin(&j);
		for (size_t i = 0; i < s->nbuckets; i++) {
			const struct top_bucket *b = &s->buckets[i];
			json_obj_begin(&j);
			json_bucket_name(&j, b->label);
			json_member_u64(&j, "keys", b->keys);
			json_member_u64(&j, "bytes", b->bytes);
			json_member_u64(&j, "chosen", b->chosen);
			json_rate(&j, "puts_per_s", b->put_rate);
			json_rate(&j, "gets_per_s", b->get_rate);
			json_key(&j, "bound");
			if (b->has_bound) {
				static const char *const lt[4] = {"pid", "node", "key", "until"};
				json_obj_begin(&j);
				for (int k = 0; k < 4; k++)
					json_member_u64(&j, lt[k], b->bound[k]);
				json_obj_end(&j);
			} else {
				json_null(&j);
			}
			json_key(&j, "rounds_in_flight");
			if (b->has_rounds)
				json_u64(&j, b->rounds);
			else
				json_null(&j);
			json_rate(&j, "erasures_per_s", b->erase_rate);
			json_obj_end(&j);
		}
		json_arr_end(&j);
	}
	json_obj_end(&j);
	json_end(&j);
}

/* ---- Batch mode ---- */

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void sleep_ms(uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	for (uint64_t now = mono_ms(); now < end && !top_stop; now = mono_ms())
		poll(NULL, 0, (int)(end - now));
}

static int run_batch(struct pkv_client *c, const char *who, uint64_t interval_ms, long count,
		     bool json)
{
	struct top_snap prev = {.status = -1}, cur;
	struct top_view v = {.batch = true};
	struct top_lines l = {0};
	for (long i = 0; i < count && !top_stop; i++) {
		if (i) {
			sleep_ms(interval_ms);
			if (!json) /* JSON Lines: one object a line, nothing between */
				fputc('\n', stdout);
		}
		snap_take(c, &cur, i ? &prev : NULL);
		if (cur.status != PKV_OK) {
			fflush(stdout);
			fprintf(stderr, "pkv-top: %s: the daemon is unavailable: %s (%s)\n", who,
				pkv_strerror(cur.status), pkv_errmsg());
			snap_free(&cur);
			snap_free(&prev);
			free(l.v);
			return TOP_EX_UNAVAILABLE;
		}
		if (json) {
			sort_buckets(&cur, &v);
			render_json(&cur, stdout);
		} else {
			render(c, &cur, &v, &l);
			for (size_t k = 0; k < l.n; k++)
				puts(l.v[k].text);
		}
		fflush(stdout);
		lines_clear(&l);
		snap_free(&prev);
		prev = cur;
	}
	snap_free(&prev);
	free(l.v);
	return TOP_EX_OK;
}

/* ---- Interactive mode ---- */

static const char *const top_help[] = {
	"pkv-top: a live view of one PaxosKV daemon",
	"",
	"  Up/Down, k/j    select a bucket (or a key)",
	"  PgUp/PgDn       a page up or down",
	"  Home/End        the first or last row",
	"  Enter           list the selected bucket's keys and values",
	"  Esc, Backspace  back to the buckets",
	"  s               sort by the next column (* marks it)",
	"  r               reverse the sort order",
	"  Space           refresh now",
	"  ?, h            this help",
	"  q               quit",
	"",
	"Rates are per second between two refreshes; '-' means not known",
	"yet, or not exported by this daemon.",
	"",
	"any key closes this help",
};

static bool curses_on;

static void curses_end(void)
{
	if (curses_on) {
		endwin();
		curses_on = false;
	}
}

static int role_attr(int role)
{
	switch (role) {
	case TOP_ROLE_TITLE:
		return A_BOLD;
	case TOP_ROLE_HEAD:
		return A_REVERSE;
	case TOP_ROLE_SELECTED:
		return A_REVERSE | A_BOLD;
	case TOP_ROLE_WARN:
		return has_colors() ? (int)COLOR_PAIR(1) | A_BOLD : A_BOLD;
	case TOP_ROLE_FOOTER:
		return A_DIM;
	default:
		return A_NORMAL;
	}
}

static void draw_help(void)
{
	size_t n = sizeof(top_help) / sizeof(top_help[0]), w = 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(top_help[i]) > w)
			w = strlen(top_help[i]);
	int h = (int)n + 2, ww = (int)w + 4;
	if (h > LINES)
		h = LINES;
	if (ww > COLS)
		ww = COLS;
	int y0 = (LINES - h) / 2, x0 = (COLS - ww) / 2;
	WINDOW *win = newwin(h, ww, y0 < 0 ? 0 : y0, x0 < 0 ? 0 : x0);
	if (!win)
		return;
	werase(win);
	box(win, 0, 0);
	for (size_t i = 0; i < n && (int)i + 1 < h - 1; i++)
		mvwaddnstr(win, (int)i + 1, 2, top_help[i], ww - 4);
	wnoutrefresh(win);
	delwin(win);
}

static void draw(struct pkv_client *c, struct top_snap *s, struct top_view *v,
		 struct top_lines *l, uint64_t interval_ms)
{
	v->rows = LINES > 0 ? (size_t)LINES : 1;
	v->cols = COLS > 0 ? (size_t)COLS : 1;
	lines_clear(l);
	render(c, s, v, l);
	erase();
	size_t max = v->rows > 1 ? v->rows - 1 : 1;
	for (size_t i = 0; i < l->n && i < max; i++) {
		int a = role_attr(l->v[i].role);
		attrset(a);
		mvaddnstr((int)i, 0, l->v[i].text, (int)v->cols);
		if (a & A_REVERSE) /* whole-width bars for heads and selection */
			for (int x = (int)strlen(l->v[i].text); x < (int)v->cols; x++)
				mvaddch((int)i, x, ' ');
	}
	attrset(role_attr(TOP_ROLE_FOOTER));
	char foot[256];
	snprintf(foot, sizeof(foot), "%s  refresh %.1fs  sort %s%s  |  ? help  q quit",
		 v->drill ? "Esc back" : "Enter keys", (double)interval_ms / 1000.0,
		 top_sort_names[v->sort], v->reverse ? " (reversed)" : "");
	mvaddnstr((int)v->rows - 1, 0, foot, (int)v->cols);
	attrset(A_NORMAL);
	wnoutrefresh(stdscr);
	if (v->help)
		draw_help();
	doupdate();
}

static void drill_enter(struct pkv_client *c, struct top_snap *s, struct top_view *v)
{
	if (s->status != PKV_OK || !s->nbuckets)
		return;
	const struct top_bucket *b = &s->buckets[bucket_index(s, v->selected)];
	v->drill = xstrdup(b->label);
	v->drill_raw_len = bucket_raw(b->label, &v->drill_raw);
	v->key_sel = v->key_top = 0;
	drill_load(c, v);
}

static void drill_leave(struct top_view *v)
{
	drill_clear(v);
	free(v->drill);
	free(v->drill_raw);
	v->drill = v->drill_raw = NULL;
}

/* Moves the selection by delta rows (clamped) in the current table. */
static void move_sel(struct top_snap *s, struct top_view *v, long delta)
{
	if (v->drill) {
		long n = (long)v->nkeys, at = (long)v->key_sel + delta;
		v->key_sel = (size_t)(at < 0 ? 0 : at >= n ? (n ? n - 1 : 0) : at);
		return;
	}
	if (s->status != PKV_OK || !s->nbuckets)
		return;
	long n = (long)s->nbuckets, at = (long)bucket_index(s, v->selected) + delta;
	at = at < 0 ? 0 : at >= n ? n - 1 : at;
	free(v->selected);
	v->selected = xstrdup(s->buckets[at].label);
}

static int run_screen(struct pkv_client *c, uint64_t interval_ms, long count)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fputs("pkv-top: the interactive mode needs a terminal (try -b)\n", stderr);
		return TOP_EX_USAGE;
	}
	setlocale(LC_ALL, "");
	/* Ours before initscr, so curses leaves them and every exit restores the tty. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	set_escdelay(50); /* Esc alone is a key here, not the start of a sequence */
	if (!initscr()) {
		fputs("pkv-top: cannot initialise the terminal\n", stderr);
		return TOP_EX_USAGE;
	}
	curses_on = true;
	atexit(curses_end);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
	}

	struct top_snap prev = {.status = -1}, cur = {.status = -1};
	struct top_view v = {.batch = false};
	struct top_lines l = {0};
	long done = 0;
	uint64_t next = mono_ms();
	while (!top_stop) {
		uint64_t now = mono_ms();
		if (now >= next) {
			if (count && done == count)
				break;
			snap_free(&prev);
			prev = cur;
			snap_take(c, &cur, &prev);
			if (cur.status == PKV_OK) {
				sort_buckets(&cur, &v);
				if (!v.selected && cur.nbuckets)
					v.selected = xstrdup(cur.buckets[0].label);
				if (v.drill)
					drill_load(c, &v);
			}
			done++;
			next = mono_ms() + interval_ms;
			draw(c, &cur, &v, &l, interval_ms);
		}
		now = mono_ms();
		/* Sleep in getch until a key or the next refresh: no busy loop. */
		timeout(next > now ? (int)(next - now) : 0);
		int ch = getch();
		if (ch == ERR)
			continue;
		if (v.help) {
			v.help = false;
		} else if (ch == 'q' || ch == 'Q') {
			break;
		} else if (ch == '?' || ch == 'h') {
			v.help = true;
		} else if (ch == 's' && !v.drill) {
			v.sort = (v.sort + 1) % TOP_SORT__COUNT;
		} else if (ch == 'r' && !v.drill) {
			v.reverse = !v.reverse;
		} else if (ch == KEY_UP || ch == 'k') {
			move_sel(&cur, &v, -1);
		} else if (ch == KEY_DOWN || ch == 'j') {
			move_sel(&cur, &v, 1);
		} else if (ch == KEY_PPAGE) {
			move_sel(&cur, &v, -(long)(LINES > 10 ? LINES / 2 : 5));
		} else if (ch == KEY_NPAGE) {
			move_sel(&cur, &v, LINES > 10 ? LINES / 2 : 5);
		} else if (ch == KEY_HOME || ch == 'g') {
			move_sel(&cur, &v, -(1L << 30));
		} else if (ch == KEY_END || ch == 'G') {
			move_sel(&cur, &v, 1L << 30);
		} else if ((ch == '\n' || ch == '\r' || ch == KEY_ENTER) && !v.drill) {
			drill_enter(c, &cur, &v);
		} else if ((ch == 27 || ch == KEY_BACKSPACE || ch == 127 || ch == 8) && v.drill) {
			drill_leave(&v);
		} else if (ch == ' ') {
			next = mono_ms();
			continue;
		} else if (ch != KEY_RESIZE) {
			continue; /* an unbound key: nothing to redraw */
		}
		/* KEY_RESIZE: curses has updated LINES and COLS already. */
		draw(c, &cur, &v, &l, interval_ms);
	}
	curses_end();
	drill_leave(&v);
	free(v.selected);
	lines_clear(&l);
	free(l.v);
	snap_free(&prev);
	snap_free(&cur);
	return TOP_EX_OK;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fputs("usage: pkv-top [-n NODE | -S SOCKET] [-b [--json | -o json|text]] [-d SECONDS]\n"
	      "               [-c COUNT]\n"
	      "       pkv-top -h | --help | -V | --version\n"
	      "  -n NODE      the daemon of node NODE in $PKV_RUN_DIR (or env PKV_NODE)\n"
	      "  -S SOCKET    the daemon's control socket (or env PKV_SOCKET)\n"
	      "  -b           batch mode: plain text, no terminal control\n"
	      "  --json       with -b: each refresh as one JSON object on one line (the\n"
	      "               same as -o json; -o text is the text form)\n"
	      "  -d SECONDS   time between refreshes (default 1)\n"
	      "  -c COUNT     stop after COUNT refreshes (default: 1 with -b, else none)\n"
	      "by default the daemon pkv finds (pkv -h).\n"
	      "exit status: 0 ok, 64 usage, 69 daemon unavailable\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *node = NULL, *sock = NULL;
	bool batch = false, json = false;
	double delay = 1.0;
	long count = -1;
	int ch;
	char *end;
	static const struct option lo[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"json", no_argument, NULL, 'J'},
		{0},
	};
	while ((ch = getopt_long(argc, argv, "n:S:bd:c:o:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			node = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'b':
			batch = true;
			break;
		case 'J':
			json = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fputs("pkv-top: -o takes json or text\n", stderr);
				return TOP_EX_USAGE;
			}
			json = !strcmp(optarg, "json");
			break;
		case 'd':
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(delay >= 0.1 && delay <= 86400)) {
				fputs("pkv-top: -d takes seconds, from 0.1 to 86400\n", stderr);
				return TOP_EX_USAGE;
			}
			break;
		case 'c':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || count < 1) {
				fputs("pkv-top: -c takes a count of at least 1\n", stderr);
				return TOP_EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return TOP_EX_OK;
		case 'V':
			printf("pkv-top %s\n", PKV_VERSION);
			return TOP_EX_OK;
		default:
			usage(stderr);
			return TOP_EX_USAGE;
		}
	}
	if (optind != argc || (node && sock)) {
		usage(stderr);
		return TOP_EX_USAGE;
	}
	if (json && !batch) {
		fputs("pkv-top: --json (-o json) is for batch mode: add -b\n", stderr);
		return TOP_EX_USAGE;
	}
	if (count < 0)
		count = batch ? 1 : 0; /* 0: until q */
	const char *ep = sock ? sock : node;
	const char *who = ep ? ep : "the local daemon";
	struct pkv_client *c;
	int r = pkv_open(&c, ep);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv-top: cannot attach to %s: %s (%s)\n", who, pkv_strerror(r),
			pkv_errmsg());
		return TOP_EX_UNAVAILABLE;
	}
	uint64_t interval_ms = (uint64_t)(delay * 1000.0 + 0.5);
	if (batch) {
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		r = run_batch(c, who, interval_ms, count, json);
	} else {
		r = run_screen(c, interval_ms, count);
	}
	pkv_close(c);
	return r;
}
