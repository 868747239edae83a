// SPDX-License-Identifier: MIT
/*
 * config.c — the configuration file parser. Pure: text in, struct out.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The build's default for `durable` (meson option durable_default). */
#ifndef PKV_CONFIG_DEFAULT_DURABLE
#define PKV_CONFIG_DEFAULT_DURABLE 0
#endif

void config_defaults(struct pkv_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->cluster, sizeof(c->cluster), "%s", PKV_CONFIG_DEFAULT_CLUSTER);
	c->cluster_size = PKV_CONFIG_DEFAULT_CLUSTER_SIZE;
	c->failure_timeout_ms = PKV_CONFIG_DEFAULT_FAILURE_TIMEOUT_MS;
	c->heartbeat_ms = PKV_CONFIG_DEFAULT_FAILURE_TIMEOUT_MS / 5;
	c->restart_grace_ms = PKV_CONFIG_DEFAULT_FAILURE_TIMEOUT_MS;
	c->durable = PKV_CONFIG_DEFAULT_DURABLE != 0;
	c->fast_put = true;
	c->batch_hold_us = PKV_CONFIG_DEFAULT_BATCH_HOLD_US;
	c->cache_entries = PKV_CONFIG_DEFAULT_CACHE_ENTRIES;
	c->max_keys = PKV_CONFIG_DEFAULT_MAX_KEYS;
	c->log_level = PKV_LOG_INFO;
}

static const char *const log_level_names[] = {
	[PKV_LOG_ERR] = "err",	   [PKV_LOG_WARNING] = "warning", [PKV_LOG_NOTICE] = "notice",
	[PKV_LOG_INFO] = "info", [PKV_LOG_DEBUG] = "debug",
};

const char *config_log_level_name(int level)
{
	if (level < PKV_LOG_ERR || level > PKV_LOG_DEBUG)
		return NULL;
	return log_level_names[level];
}

static int log_level_n(const char *s, size_t n)
{
	for (int l = PKV_LOG_ERR; l <= PKV_LOG_DEBUG; l++)
		if (strlen(log_level_names[l]) == n && memcmp(s, log_level_names[l], n) == 0)
			return l;
	return -EINVAL;
}

int config_log_level(const char *name)
{
	return log_level_n(name, strlen(name));
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

static bool name_valid_n(const char *s, size_t n)
{
	if (n == 0 || n > PKV_CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

bool config_name_valid(const char *s)
{
	return name_valid_n(s, strnlen(s, PKV_CONFIG_NAME_MAX + 1));
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Decimal digits only: no sign, no blanks, no overflow past max. */
static bool parse_uint(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool word_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/*
 * "1.2.3.4:PORT" or "[v6]:PORT" into a sockaddr. No zone ids ("%eth0"): they
 * need an interface lookup, which is I/O.
 */
static int parse_addr(struct pkv_node_cfg *nd, const char *s, size_t n, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs;
	size_t hn;
	bool v6 = n > 0 && s[0] == '[';

	if (v6) {
		const char *close = memchr(s, ']', n);
		if (!close || (size_t)(close - s) + 1 >= n || close[1] != ':') {
			*why = "need [IPV6]:PORT";
			return -1;
		}
		hs = s + 1;
		hn = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = NULL;
		for (size_t i = n; i > 0; i--) {
			if (s[i - 1] == ':') {
				colon = s + i - 1;
				break;
			}
		}
		if (!colon) {
			*why = "missing ':PORT'";
			return -1;
		}
		hs = s;
		hn = (size_t)(colon - s);
		if (memchr(hs, ':', hn)) {
			*why = "an IPv6 address needs brackets: [IPV6]:PORT";
			return -1;
		}
	}
	if (hn == 0 || hn >= sizeof(host)) {
		*why = "need an IPv4 or [IPv6] address literal";
		return -1;
	}
	memcpy(host, hs, hn);
	host[hn] = '\0';

	unsigned long port;
	const char *ps = colon + 1;
	if (!parse_uint(ps, (size_t)(s + n - ps), 65535, &port) || port == 0) {
		*why = "bad port (need 1..65535)";
		return -1;
	}

	memset(&nd->addr, 0, sizeof(nd->addr));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&nd->addr;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			*why = "not an IPv6 address literal";
			return -1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		nd->addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&nd->addr;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			*why = "need an IPv4 or [IPv6] address literal (host names are not resolved)";
			return -1;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		nd->addrlen = sizeof(*a);
	}
	nd->port = (uint16_t)port;
	return 0;
}

static bool addr_equal(const struct pkv_node_cfg *a, const struct pkv_node_cfg *b)
{
	if (a->addr.ss_family != b->addr.ss_family || a->port != b->port)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
		return x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
	return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* Writes "ADDR:PORT" / "[ADDR]:PORT" for messages. */
static void addr_str(const struct pkv_node_cfg *nd, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (nd->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&nd->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, nd->port);
	} else {
		const struct sockaddr_in *a = (const void *)&nd->addr;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, nd->port);
	}
}

enum setting {
	SET_CLUSTER,
	SET_CLUSTER_SIZE,
	SET_KEY_FILE,
	SET_RUN_DIR,
	SET_FAILURE_TIMEOUT,
	SET_HEARTBEAT,
	SET_RESTART_GRACE,
	SET_ENCRYPT,
	SET_DURABLE,
	SET_FAST_PUT,
	SET_MAX_KEYS,
	SET_CACHE_ENTRIES,
	SET_MAX_DATAGRAM,
	SET_BATCH_HOLD,
	SET_SELF,
	SET_GROUP,
	SET_STATE_DIR,
	SET_SOCKET,
	SET_LOG_LEVEL,
	SET__COUNT
};

static const char *const setting_names[SET__COUNT] = {
	[SET_CLUSTER] = "cluster",
	[SET_CLUSTER_SIZE] = "cluster_size",
	[SET_KEY_FILE] = "key_file",
	[SET_RUN_DIR] = "run_dir",
	[SET_FAILURE_TIMEOUT] = "failure_timeout_ms",
	[SET_HEARTBEAT] = "heartbeat_ms",
	[SET_RESTART_GRACE] = "restart_grace_ms",
	[SET_ENCRYPT] = "encrypt",
	[SET_DURABLE] = "durable",
	[SET_FAST_PUT] = "fast_put",
	[SET_MAX_KEYS] = "max_keys",
	[SET_CACHE_ENTRIES] = "cache_entries",
	[SET_MAX_DATAGRAM] = "max_datagram",
	[SET_BATCH_HOLD] = "batch_hold_us",
	[SET_SELF] = "self",
	[SET_GROUP] = "group",
	[SET_STATE_DIR] = "state_dir",
	[SET_SOCKET] = "socket",
	[SET_LOG_LEVEL] = "log_level",
};

struct parser {
	struct pkv_config *c;
	unsigned line;
	unsigned set_on[SET__COUNT]; /* line a setting was seen on, 0 = not yet */
	unsigned node_line[PKV_MAX_NODES];
	char *err;
	size_t errlen;
};

static int set_name(struct parser *p, char *dst, const char *v, size_t n, const char *what)
{
	if (!name_valid_n(v, n))
		return fail(p->err, p->errlen,
			    "line %u: bad %s '%.*s' (1..%u characters of A-Z a-z 0-9 _ . -)",
			    p->line, what, (int)(n > 80 ? 80 : n), v, PKV_CONFIG_NAME_MAX);
	/* Every name field is PKV_CONFIG_NAME_MAX + 1 bytes; clearing all of it
	 * keeps equal configurations byte-for-byte equal. */
	memset(dst, 0, PKV_CONFIG_NAME_MAX + 1);
	memcpy(dst, v, n);
	return 0;
}

static int set_path(struct parser *p, char *dst, const char *v, size_t n, const char *what)
{
	if (n == 0)
		return fail(p->err, p->errlen, "line %u: empty %s", p->line, what);
	if (n >= PATH_MAX)
		return fail(p->err, p->errlen, "line %u: %s longer than %u bytes", p->line, what,
			    (unsigned)PATH_MAX - 1);
	/* A control character in a path is a typo or worse, and a '\r' would not
	 * survive config_format and a parse back. Tabs inside are kept. */
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return fail(p->err, p->errlen, "line %u: control character in %s",
				    p->line, what);
	memset(dst, 0, PATH_MAX); /* as in set_name */
	memcpy(dst, v, n);
	return 0;
}

static int set_uint(struct parser *p, unsigned *dst, const char *v, size_t n, unsigned long lo,
		    unsigned long hi, const char *what)
{
	unsigned long x;
	if (!parse_uint(v, n, hi, &x) || x < lo)
		return fail(p->err, p->errlen, "line %u: %s '%.*s' out of range (%lu..%lu)",
			    p->line, what, (int)(n > 40 ? 40 : n), v, lo, hi);
	*dst = (unsigned)x;
	return 0;
}

static int set_bool(struct parser *p, bool *dst, const char *v, size_t vn, const char *what)
{
	if (word_eq(v, vn, "yes") || word_eq(v, vn, "true") || word_eq(v, vn, "on") ||
	    word_eq(v, vn, "1"))
		*dst = true;
	else if (word_eq(v, vn, "no") || word_eq(v, vn, "false") || word_eq(v, vn, "off") ||
		 word_eq(v, vn, "0"))
		*dst = false;
	else
		return fail(p->err, p->errlen, "line %u: %s must be yes or no, not '%.*s'", p->line,
			    what, (int)(vn > 40 ? 40 : vn), v);
	return 0;
}

static int parse_setting(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
	struct pkv_config *c = p->c;
	int s;

	for (s = 0; s < SET__COUNT; s++)
		if (word_eq(k, kn, setting_names[s]))
			break;
	if (s == SET__COUNT)
		return fail(p->err, p->errlen, "line %u: unknown setting '%.*s'", p->line,
			    (int)(kn > 40 ? 40 : kn), k);
	if (p->set_on[s])
		return fail(p->err, p->errlen, "line %u: '%s' already set on line %u", p->line,
			    setting_names[s], p->set_on[s]);
	p->set_on[s] = p->line;

	switch ((enum setting)s) {
	case SET_CLUSTER:
		return set_name(p, c->cluster, v, vn, "cluster name");
	case SET_CLUSTER_SIZE:
		return set_uint(p, &c->cluster_size, v, vn, 1, PKV_MAX_NODES, "cluster_size");
	case SET_KEY_FILE:
		return set_path(p, c->key_file, v, vn, "key_file");
	case SET_RUN_DIR:
		return set_path(p, c->run_dir, v, vn, "run_dir");
	case SET_FAILURE_TIMEOUT:
		return set_uint(p, &c->failure_timeout_ms, v, vn, PKV_CONFIG_MIN_FAILURE_TIMEOUT_MS,
				PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS, "failure_timeout_ms");
	case SET_RESTART_GRACE:
		return set_uint(p, &c->restart_grace_ms, v, vn, 0, PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS,
				"restart_grace_ms");
	case SET_HEARTBEAT:
		return set_uint(p, &c->heartbeat_ms, v, vn, PKV_CONFIG_MIN_HEARTBEAT_MS,
				PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS, "heartbeat_ms");
	case SET_ENCRYPT:
		return set_bool(p, &c->encrypt, v, vn, "encrypt");
	case SET_DURABLE:
		return set_bool(p, &c->durable, v, vn, "durable");
	case SET_FAST_PUT:
		return set_bool(p, &c->fast_put, v, vn, "fast_put");
	case SET_MAX_KEYS:
		return set_uint(p, &c->max_keys, v, vn, 0, PKV_CONFIG_MAX_KEYS, "max_keys");
	case SET_CACHE_ENTRIES:
		return set_uint(p, &c->cache_entries, v, vn, PKV_CONFIG_MIN_CACHE_ENTRIES,
				PKV_CONFIG_MAX_CACHE_ENTRIES, "cache_entries");
	case SET_MAX_DATAGRAM:
		return set_uint(p, &c->max_datagram, v, vn, PKV_CONFIG_MIN_DATAGRAM,
				PKV_CONFIG_MAX_DATAGRAM, "max_datagram");
	case SET_BATCH_HOLD:
		return set_uint(p, &c->batch_hold_us, v, vn, 0, PKV_CONFIG_MAX_BATCH_HOLD_US,
				"batch_hold_us");
	case SET_SELF:
		return set_name(p, c->self, v, vn, "self name");
	case SET_GROUP:
		return set_name(p, c->group, v, vn, "group name");
	case SET_STATE_DIR:
		return set_path(p, c->state_dir, v, vn, "state_dir");
	case SET_SOCKET:
		if (vn > PKV_CONFIG_SOCKET_MAX)
			return fail(p->err, p->errlen,
				    "line %u: socket path longer than %u bytes (the limit of a UNIX"
				    " socket address)",
				    p->line, PKV_CONFIG_SOCKET_MAX);
		return set_path(p, c->socket, v, vn, "socket");
	case SET_LOG_LEVEL: {
		int l = log_level_n(v, vn);
		if (l < 0)
			return fail(p->err, p->errlen,
				    "line %u: log_level must be err, warning, notice, info or debug,"
				    " not '%.*s'",
				    p->line, (int)(vn > 40 ? 40 : vn), v);
		c->log_level = l;
		return 0;
	}
	case SET__COUNT:
		break;
	}
	return -EINVAL;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* 64 hex digits into 32 bytes; false when it is not that. */
static bool parse_pubkey(uint8_t out[32], const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/*
 * `node NAME ADDRESS:PORT [PUBLIC-KEY [PUBLIC-KEY]]` (two during a key
 * rotation); rest is what follows "node" and its blanks.
 */
static int parse_node(struct parser *p, const char *rest, size_t n)
{
	struct pkv_config *c = p->c;
	size_t i = 0, name_n, addr_at, pk_at;

	while (i < n && !is_blank(rest[i]))
		i++;
	name_n = i;
	while (i < n && is_blank(rest[i]))
		i++;
	addr_at = i;
	while (i < n && !is_blank(rest[i]))
		i++;
	size_t addr_n = i - addr_at;
	while (i < n && is_blank(rest[i]))
		i++;
	/* `observer`: runs pkvd, never votes (docs/design.md §5.2). */
	bool observer = false;
	if (n - i >= 8 && !memcmp(rest + i, "observer", 8) && (n - i == 8 || is_blank(rest[i + 8]))) {
		observer = true;
		i += 8;
		while (i < n && is_blank(rest[i]))
			i++;
	}
	pk_at = i;
	while (i < n && !is_blank(rest[i]))
		i++;
	size_t pk_n = i - pk_at;
	while (i < n && is_blank(rest[i]))
		i++;
	size_t pk2_at = i;
	while (i < n && !is_blank(rest[i]))
		i++;
	size_t pk2_n = i - pk2_at;
	while (i < n && is_blank(rest[i]))
		i++;
	if (name_n == 0 || addr_n == 0 || i != n)
		return fail(p->err, p->errlen,
			    "line %u: expected 'node NAME ADDRESS:PORT' (then 'observer' for a node"
			    " that does not vote) and, with a key pair per node, its public key",
			    p->line);
	if (c->n_nodes == PKV_MAX_NODES)
		return fail(p->err, p->errlen, "line %u: more than %u nodes", p->line,
			    PKV_MAX_NODES);

	struct pkv_node_cfg *nd = &c->nodes[c->n_nodes];
	memset(nd, 0, sizeof(*nd));
	if (set_name(p, nd->name, rest, name_n, "node name"))
		return -EINVAL;
	const char *why = "";
	if (parse_addr(nd, rest + addr_at, addr_n, &why))
		return fail(p->err, p->errlen, "line %u: bad address '%.*s': %s", p->line,
			    (int)(addr_n > 80 ? 80 : addr_n), rest + addr_at, why);
	for (unsigned j = 0; j < c->n_nodes; j++) {
		if (strcmp(c->nodes[j].name, nd->name) == 0)
			return fail(p->err, p->errlen,
				    "line %u: duplicate node name '%s' (first on line %u)", p->line,
				    nd->name, p->node_line[j]);
		if (addr_equal(&c->nodes[j], nd)) {
			char a[INET6_ADDRSTRLEN + 10];
			addr_str(nd, a, sizeof(a));
			return fail(p->err, p->errlen,
				    "line %u: duplicate node address %s (node '%s', line %u)",
				    p->line, a, c->nodes[j].name, p->node_line[j]);
		}
	}
	if (pk_n) {
		if (!parse_pubkey(nd->pubkey, rest + pk_at, pk_n))
			return fail(p->err, p->errlen,
				    "line %u: expected 'node NAME ADDRESS:PORT' and, with a key pair"
				    " per node, its public key (64 hex digits, as pkv-keygen -p"
				    " prints), not '%.*s'",
				    p->line, (int)(pk_n > 80 ? 80 : pk_n), rest + pk_at);
		nd->has_pubkey = true;
	}
	if (pk2_n) {
		if (!parse_pubkey(nd->pubkey2, rest + pk2_at, pk2_n))
			return fail(p->err, p->errlen,
				    "line %u: a second public key (during a key rotation) is 64 hex"
				    " digits, as pkv-keygen -p prints, not '%.*s'",
				    p->line, (int)(pk2_n > 80 ? 80 : pk2_n), rest + pk2_at);
		if (!memcmp(nd->pubkey, nd->pubkey2, 32))
			return fail(p->err, p->errlen,
				    "line %u: the same public key twice (a rotation lists the old"
				    " key and the new one)",
				    p->line);
		nd->has_pubkey2 = true;
	}
	addr_str(nd, nd->addr_text, sizeof(nd->addr_text));
	nd->observer = observer;
	nd->id = c->n_nodes + 1;
	p->node_line[c->n_nodes] = p->line;
	c->n_nodes++;
	return 0;
}

static int parse_line(struct parser *p, const char *s, size_t n)
{
	size_t i = 0, kn;

	while (n > 0 && is_blank(s[n - 1]))
		n--;
	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;

	const char *k = s + i;
	while (i < n && !is_blank(s[i]) && s[i] != '=')
		i++;
	kn = (size_t)(s + i - k);
	while (i < n && is_blank(s[i]))
		i++;

	if (word_eq(k, kn, "node") && (i == n || s[i] != '='))
		return parse_node(p, s + i, n - i);
	if (i == n || s[i] != '=')
		return fail(p->err, p->errlen, "line %u: expected 'setting = value' or a node line",
			    p->line);
	if (kn == 0)
		return fail(p->err, p->errlen, "line %u: missing setting name before '='", p->line);
	i++;
	while (i < n && is_blank(s[i]))
		i++;
	return parse_setting(p, k, kn, s + i, n - i);
}

int config_parse(struct pkv_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	struct parser p = {.c = c, .err = err, .errlen = errlen};
	size_t at = 0;

	config_defaults(c);
	if (err && errlen)
		err[0] = '\0';
	while (at < len) {
		const char *s = text + at;
		const char *nl = memchr(s, '\n', len - at);
		size_t n = nl ? (size_t)(nl - s) : len - at;

		p.line++;
		at += n + (nl ? 1 : 0);
		if (n > PKV_CONFIG_LINE_MAX)
			return fail(err, errlen, "line %u: line too long (more than %u bytes)",
				    p.line, PKV_CONFIG_LINE_MAX);
		if (memchr(s, '\0', n))
			return fail(err, errlen, "line %u: NUL byte in the text", p.line);
		if (n > 0 && s[n - 1] == '\r')
			n--;
		int r = parse_line(&p, s, n);
		if (r)
			return r;
	}
	if (!p.set_on[SET_HEARTBEAT]) {
		unsigned hb = c->failure_timeout_ms / 5;
		c->heartbeat_ms = hb < PKV_CONFIG_MIN_HEARTBEAT_MS ? PKV_CONFIG_MIN_HEARTBEAT_MS : hb;
	}
	if (!p.set_on[SET_RESTART_GRACE])
		c->restart_grace_ms = c->failure_timeout_ms;
	return 0;
}

int config_cache_entries(const char *s, unsigned *out, char *err, size_t errlen)
{
	unsigned long x;
	size_t n = strlen(s);
	if (!parse_uint(s, n, PKV_CONFIG_MAX_CACHE_ENTRIES, &x) || x < PKV_CONFIG_MIN_CACHE_ENTRIES)
		return fail(err, errlen, "cache_entries '%.*s' out of range (%u..%u)",
			    (int)(n > 40 ? 40 : n), s, PKV_CONFIG_MIN_CACHE_ENTRIES,
			    PKV_CONFIG_MAX_CACHE_ENTRIES);
	*out = (unsigned)x;
	return 0;
}

int config_dev(struct pkv_config *c, unsigned n, unsigned port_base, unsigned max_nodes, char *err,
	       size_t errlen)
{
	if (max_nodes < 1 || max_nodes > PKV_MAX_NODES)
		return fail(err, errlen, "dev: max_nodes %u out of range (1..%u)", max_nodes,
			    PKV_MAX_NODES);
	if (n < 1 || n > max_nodes)
		return fail(err, errlen, "dev: node number %u out of range (1..%u)", n, max_nodes);
	if (port_base > 65535u - max_nodes)
		return fail(err, errlen, "dev: ports %u..%u pass 65535", port_base + 1,
			    port_base + max_nodes);

	c->n_nodes = max_nodes;
	for (unsigned i = 1; i <= max_nodes; i++) {
		struct pkv_node_cfg *nd = &c->nodes[i - 1];
		struct sockaddr_in *a = (struct sockaddr_in *)&nd->addr;

		memset(nd, 0, sizeof(*nd));
		nd->id = i;
		snprintf(nd->name, sizeof(nd->name), "node%u", i);
		nd->port = (uint16_t)(port_base + i);
		a->sin_family = AF_INET;
		a->sin_port = htons(nd->port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		nd->addrlen = sizeof(*a);
		addr_str(nd, nd->addr_text, sizeof(nd->addr_text));
	}
	snprintf(c->self, sizeof(c->self), "node%u", n);
	return 0;
}

int config_validate(const struct pkv_config *c, char *err, size_t errlen)
{
	if (!config_name_valid(c->cluster))
		return fail(err, errlen, "bad cluster name");
	if (c->n_nodes < 1 || c->n_nodes > PKV_MAX_NODES)
		return fail(err, errlen, "no nodes configured (add 'node NAME ADDRESS:PORT' lines)");
	if (c->cluster_size < 1 || c->cluster_size > PKV_MAX_NODES)
		return fail(err, errlen, "cluster_size %u out of range (1..%u)", c->cluster_size,
			    PKV_MAX_NODES);
	/*
	 * Observers never vote (docs/design.md §5.2): the voters of
	 * configuration 0 are the first cluster_size nodes that are not, so
	 * there must be that many.
	 */
	unsigned n_observers = config_observer_count(c);
	if (n_observers && c->n_nodes - n_observers < c->cluster_size)
		return fail(err, errlen,
			    "cluster_size %u needs %u nodes that are not observers, only %u are"
			    " (%u of the %u nodes say 'observer')",
			    c->cluster_size, c->cluster_size, c->n_nodes - n_observers, n_observers,
			    c->n_nodes);
	/* A quorum is a strict majority of cluster_size; fewer nodes never get one. */
	if (c->n_nodes <= c->cluster_size / 2)
		return fail(err, errlen,
			    "cluster_size %u needs at least %u configured nodes for a quorum, "
			    "only %u configured",
			    c->cluster_size, c->cluster_size / 2 + 1, c->n_nodes);
	if (c->failure_timeout_ms < PKV_CONFIG_MIN_FAILURE_TIMEOUT_MS ||
	    c->failure_timeout_ms > PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS)
		return fail(err, errlen, "failure_timeout_ms %u out of range (%u..%u)",
			    c->failure_timeout_ms, PKV_CONFIG_MIN_FAILURE_TIMEOUT_MS,
			    PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS);
	/* A heartbeat no faster than the timeout makes healthy peers flap. */
	if (c->heartbeat_ms < PKV_CONFIG_MIN_HEARTBEAT_MS ||
	    c->heartbeat_ms >= c->failure_timeout_ms)
		return fail(err, errlen,
			    "heartbeat_ms %u must be at least %u and below failure_timeout_ms %u",
			    c->heartbeat_ms, PKV_CONFIG_MIN_HEARTBEAT_MS, c->failure_timeout_ms);
	if (c->group[0] && !config_name_valid(c->group))
		return fail(err, errlen, "bad group name");
	for (unsigned i = 0; i < c->n_nodes; i++) {
		const struct pkv_node_cfg *a = &c->nodes[i];
		if (a->id != i + 1)
			return fail(err, errlen, "node '%s' has id %u at position %u", a->name,
				    a->id, i + 1);
		if (!config_name_valid(a->name))
			return fail(err, errlen, "node %u: bad name", i + 1);
		if ((a->addr.ss_family != AF_INET && a->addr.ss_family != AF_INET6) ||
		    a->port == 0)
			return fail(err, errlen, "node '%s': no address", a->name);
		if (a->has_pubkey != c->nodes[0].has_pubkey)
			return fail(err, errlen,
				    "node '%s' %s a public key and node '%s' %s: list one on every"
				    " node line (a key pair per node) or on none (node keys derived"
				    " from the cluster key)",
				    a->name, a->has_pubkey ? "lists" : "does not list", c->nodes[0].name,
				    c->nodes[0].has_pubkey ? "does" : "does not");
		for (unsigned j = 0; j < i; j++) {
			const struct pkv_node_cfg *o = &c->nodes[j];
			/* Every key listed, old or new, names one node alone. */
			bool same = a->has_pubkey && (!memcmp(o->pubkey, a->pubkey, 32) ||
						      (a->has_pubkey2 && !memcmp(o->pubkey, a->pubkey2, 32)) ||
						      (o->has_pubkey2 && !memcmp(o->pubkey2, a->pubkey, 32)) ||
						      (a->has_pubkey2 && o->has_pubkey2 &&
						       !memcmp(o->pubkey2, a->pubkey2, 32)));
			if (same)
				return fail(err, errlen, "nodes '%s' and '%s' have the same public key",
					    c->nodes[j].name, a->name);
			if (strcmp(c->nodes[j].name, a->name) == 0)
				return fail(err, errlen, "duplicate node name '%s'", a->name);
			if (addr_equal(&c->nodes[j], a))
				return fail(err, errlen, "nodes '%s' and '%s' have the same address",
					    c->nodes[j].name, a->name);
		}
	}
	if (!c->self[0])
		return fail(err, errlen, "self is not set (which node is this?)");
	if (!config_self(c))
		return fail(err, errlen, "self '%s' is not a configured node", c->self);
	return 0;
}

/* snprintf that keeps counting past the end of buf. */
__attribute__((format(printf, 4, 5))) static void out(char *buf, size_t len, size_t *at,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(*at < len ? buf + *at : NULL, *at < len ? len - *at : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n;
}

size_t config_format(const struct pkv_config *c, char *buf, size_t len)
{
	size_t at = 0;

	if (len)
		buf[0] = '\0';
	out(buf, len, &at, "cluster = %s\n", c->cluster);
	out(buf, len, &at, "cluster_size = %u\n", c->cluster_size);
	if (c->key_file[0])
		out(buf, len, &at, "key_file = %s\n", c->key_file);
	if (c->run_dir[0])
		out(buf, len, &at, "run_dir = %s\n", c->run_dir);
	out(buf, len, &at, "failure_timeout_ms = %u\n", c->failure_timeout_ms);
	out(buf, len, &at, "heartbeat_ms = %u\n", c->heartbeat_ms);
	out(buf, len, &at, "restart_grace_ms = %u\n", c->restart_grace_ms);
	out(buf, len, &at, "encrypt = %s\n", c->encrypt ? "yes" : "no");
	out(buf, len, &at, "durable = %s\n", c->durable ? "yes" : "no");
	out(buf, len, &at, "fast_put = %s\n", c->fast_put ? "yes" : "no");
	out(buf, len, &at, "max_keys = %u\n", c->max_keys);
	out(buf, len, &at, "cache_entries = %u\n", c->cache_entries);
	if (c->max_datagram)
		out(buf, len, &at, "max_datagram = %u\n", c->max_datagram);
	out(buf, len, &at, "batch_hold_us = %u\n", c->batch_hold_us);
	if (c->state_dir[0])
		out(buf, len, &at, "state_dir = %s\n", c->state_dir);
	if (c->socket[0])
		out(buf, len, &at, "socket = %s\n", c->socket);
	if (c->log_level != PKV_LOG_INFO && config_log_level_name(c->log_level))
		out(buf, len, &at, "log_level = %s\n", config_log_level_name(c->log_level));
	if (c->self[0])
		out(buf, len, &at, "self = %s\n", c->self);
	if (c->group[0])
		out(buf, len, &at, "group = %s\n", c->group);
	for (unsigned i = 0; i < c->n_nodes && i < PKV_MAX_NODES; i++) {
		char a[PKV_CONFIG_ADDR_TEXT];
		addr_str(&c->nodes[i], a, sizeof(a));
		out(buf, len, &at, "node %s %s%s", c->nodes[i].name, a,
		    c->nodes[i].observer ? " observer" : "");
		if (c->nodes[i].has_pubkey) {
			out(buf, len, &at, " ");
			for (unsigned k = 0; k < 32; k++)
				out(buf, len, &at, "%02x", c->nodes[i].pubkey[k]);
		}
		if (c->nodes[i].has_pubkey2) {
			out(buf, len, &at, " ");
			for (unsigned k = 0; k < 32; k++)
				out(buf, len, &at, "%02x", c->nodes[i].pubkey2[k]);
		}
		out(buf, len, &at, "\n");
	}
	return at;
}

unsigned config_observer_count(const struct pkv_config *c)
{
	unsigned k = 0;
	for (unsigned i = 0; i < c->n_nodes && i < PKV_MAX_NODES; i++)
		k += c->nodes[i].observer;
	return k;
}

uint64_t config_observer_mask(const struct pkv_config *c)
{
	uint64_t m = 0;
	for (unsigned i = 0; i < c->n_nodes && i < PKV_MAX_NODES; i++)
		if (c->nodes[i].observer)
			m |= UINT64_C(1) << i;
	return m;
}

unsigned config_datagram_cap(const struct pkv_config *c, const struct pkv_node_cfg *peer)
{
	if (c->max_datagram)
		return c->max_datagram;
	bool loopback = false;
	if (peer->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&peer->addr;
		loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127u;
	} else if (peer->addr.ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)&peer->addr)->sin6_addr;
		loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127u);
	}
	return loopback ? PKV_CONFIG_LOOPBACK_DATAGRAM : PKV_CONFIG_DEFAULT_DATAGRAM;
}

const struct pkv_node_cfg *config_node_by_name(const struct pkv_config *c, const char *name)
{
	for (unsigned i = 0; i < c->n_nodes && i < PKV_MAX_NODES; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

const struct pkv_node_cfg *config_node_by_id(const struct pkv_config *c, uint32_t id)
{
	if (id < 1 || id > c->n_nodes || id > PKV_MAX_NODES)
		return NULL;
	return &c->nodes[id - 1];
}

int config_self_from_host(struct pkv_config *c, const char *hostname)
{
	size_t n = strnlen(hostname, PKV_CONFIG_NAME_MAX + 1);
	const char *dot = memchr(hostname, '.', n);
	size_t cand[2] = {n, dot ? (size_t)(dot - hostname) : 0};
	for (unsigned k = 0; k < 2; k++) {
		if (!name_valid_n(hostname, cand[k]))
			continue;
		for (unsigned i = 0; i < c->n_nodes && i < PKV_MAX_NODES; i++) {
			const char *name = c->nodes[i].name;
			if (strlen(name) == cand[k] && memcmp(name, hostname, cand[k]) == 0) {
				memset(c->self, 0, sizeof(c->self));
				memcpy(c->self, name, cand[k]);
				return 0;
			}
		}
	}
	return -ENOENT;
}

const struct pkv_node_cfg *config_self(const struct pkv_config *c)
{
	if (!c->self[0])
		return NULL;
	return config_node_by_name(c, c->self);
}
