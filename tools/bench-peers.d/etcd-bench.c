/* etcd-bench — etcd's side of bench-peers: the v3 JSON gateway over one
 * persistent HTTP/1.1 connection per client (no library in the way, so the
 * figure is etcd's, not a client stack's).
 *
 *   etcd-bench [options] ENDPOINTS WORKLOAD
 *
 * ENDPOINTS: host:port[,host:port...]; client i talks to endpoint i mod n.
 * WORKLOAD:
 *   put-if-absent   txn: compare create_revision(key) == 0, then put (fresh keys)
 *   get-serial      range of a pre-populated key, serializable (the member's own state)
 *   get-linear      range of a pre-populated key, linearizable (read index via the leader)
 *   bound           lease with the smallest TTL etcd grants, key attached, owner
 *                   process keeps it alive and is SIGKILLed; time until a poller
 *                   no longer sees the key (--trials N)
 *   wait            exit 0 once every endpoint answers a linearizable read
 *                   (the cluster has a leader), 69 after --seconds
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: etcd-bench [--clients N] [--seconds S] [--ops N] [--keys N] [--trials N]\n"
	"                  HOST:PORT[,HOST:PORT...] put-if-absent|get-serial|get-linear|bound|wait\n";

#define MAX_ENDPOINTS 16
#define RESP_MAX      (1 << 20)

static struct sockaddr_in endpoints[MAX_ENDPOINTS];
static unsigned n_endpoints;

struct http_conn {
	int fd;
	unsigned ep;
	size_t len;  /* bytes buffered in buf */
	char *buf;   /* response bytes read ahead */
	char *body;  /* the last response's body, NUL-terminated */
	size_t body_len;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int parse_endpoints(const char *list)
{
	char *dup = strdup(list), *save = NULL, *tok;

	for (tok = strtok_r(dup, ",", &save); tok && n_endpoints < MAX_ENDPOINTS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		struct sockaddr_in *sa = &endpoints[n_endpoints];

		if (!colon)
			goto bad;
		*colon = '\0';
		memset(sa, 0, sizeof(*sa));
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, tok, &sa->sin_addr) != 1)
			goto bad;
		n_endpoints++;
	}
	free(dup);
	return n_endpoints ? 0 : -EINVAL;
bad:
	free(dup);
	return -EINVAL;
}

static void http_close(struct http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Closes the connection and frees its buffers. */
static void http_free(struct http_conn *c)
{
	http_close(c);
	free(c->buf);
	free(c->body);
	c->buf = c->body = NULL;
}

static int http_connect(struct http_conn *c, unsigned ep)
{
	int one = 1;
	struct timeval tv = {.tv_sec = 10};

	if (!c->buf) {
		c->buf = malloc(RESP_MAX + 1);
		c->body = malloc(RESP_MAX + 1);
		if (!c->buf || !c->body)
			return -ENOMEM;
	}
	c->ep = ep % n_endpoints;
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Every read and write is bounded: a stuck server fails the op. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&endpoints[c->ep], sizeof(endpoints[0])) < 0) {
		int e = -errno;
		http_close(c);
		return e;
	}
	return 0;
}

/* Reads more bytes into c->buf; 0 or -errno (-EPIPE on a closed peer). */
static int http_fill(struct http_conn *c)
{
	ssize_t n;

	if (c->len >= RESP_MAX)
		return -EMSGSIZE;
	n = read(c->fd, c->buf + c->len, RESP_MAX - c->len);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 0;
}

static void http_consume(struct http_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->buf[c->len] = '\0';
}

/* Reads one response: status line, headers, then a body sized by
 * Content-Length or sent chunked (the gateway streams lease keep-alive
 * answers chunked). Returns the status code or -errno. */
static int http_read_response(struct http_conn *c)
{
	char *end, *p;
	size_t hlen;
	long clen = -1;
	int status, rc;
	bool chunked = false;

	while (!(end = strstr(c->buf, "\r\n\r\n")))
		if ((rc = http_fill(c)) < 0)
			return rc;
	hlen = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	for (p = strstr(c->buf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, "Content-Length:", 15))
			clen = strtol(p + 17, NULL, 10);
		else if (!strncasecmp(p + 2, "Transfer-Encoding: chunked", 26))
			chunked = true;
	}
	http_consume(c, hlen);
	c->body_len = 0;
	if (!chunked) {
		if (clen < 0 || clen > RESP_MAX)
			return -EPROTO;
		while (c->len < (size_t)clen)
			if ((rc = http_fill(c)) < 0)
				return rc;
		memcpy(c->body, c->buf, (size_t)clen);
		c->body_len = (size_t)clen;
		c->body[c->body_len] = '\0';
		http_consume(c, (size_t)clen);
		return status;
	}
	for (;;) {
		size_t size;

		while (!(end = strstr(c->buf, "\r\n")))
			if ((rc = http_fill(c)) < 0)
				return rc;
		size = strtoul(c->buf, NULL, 16);
		hlen = (size_t)(end - c->buf) + 2;
		while (c->len < hlen + size + 2)
			if ((rc = http_fill(c)) < 0)
				return rc;
		if (c->body_len + size > RESP_MAX)
			return -EMSGSIZE;
		memcpy(c->body + c->body_len, c->buf + hlen, size);
		c->body_len += size;
		c->body[c->body_len] = '\0';
		http_consume(c, hlen + size + 2);
		if (size == 0)
			return status;
	}
}

/* POSTs a JSON body and reads the answer into c->body; reconnects once if
 * the kept-alive connection was closed. Returns the HTTP status or -errno. */
static int http_post(struct http_conn *c, const char *path, const char *json)
{
	char req[4096];
	int n, rc;

	n = snprintf(req, sizeof(req),
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     path, strlen(json), json);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -EMSGSIZE;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && (rc = http_connect(c, c->ep)) < 0)
			return rc;
		if (write(c->fd, req, (size_t)n) != n) {
			http_close(c);
			continue;
		}
		rc = http_read_response(c);
		if (rc >= 0)
			return rc;
		http_close(c);
		if (rc != -EPIPE)
			return rc;
	}
	return -EPIPE;
}

static void b64(char *out, const char *in, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
			     (unsigned char)in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned char)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* --- workloads ------------------------------------------------------------ */

struct etcd_ctx {
	struct http_conn conn;
	unsigned keys;
	bool serializable;
};

/* The first failure of a client goes to stderr (the run's clients.log). */
static int etcd_failed(const char *what, int rc)
{
	static bool said;

	if (!said)
		fprintf(stderr, "etcd-bench: %s: %s\n", what,
			rc < 0 ? strerror(-rc) : "unexpected HTTP status");
	said = true;
	return rc < 0 ? rc : -EPROTO;
}

static int put_if_absent(struct http_conn *c, const char *key)
{
	char k64[64], v64[64], val[HARNESS_VALUE_SIZE + 1], json[512];
	int st;

	harness_value(val, key);
	b64(k64, key, strlen(key));
	b64(v64, val, strlen(val));
	snprintf(json, sizeof(json),
		 "{\"compare\":[{\"target\":\"CREATE\",\"key\":\"%s\",\"createRevision\":\"0\"}],"
		 "\"success\":[{\"requestPut\":{\"key\":\"%s\",\"value\":\"%s\"}}]}",
		 k64, k64, v64);
	st = http_post(c, "/v3/kv/txn", json);
	if (st != 200)
		return etcd_failed("txn", st);
	/* A failed compare omits "succeeded" (false is the JSON default). */
	return strstr(c->body, "\"succeeded\":true") ? 0 : 1;
}

static int prepare_common(void *vctx, unsigned client, unsigned keys)
{
	struct etcd_ctx *x = vctx;

	x->keys = keys;
	x->conn.fd = -1;
	return http_connect(&x->conn, client);
}

static int prepare_reads(void *vctx, unsigned client, unsigned keys)
{
	struct etcd_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];
	int rc = prepare_common(vctx, client, keys);

	for (unsigned i = 0; rc == 0 && i < keys; i++) {
		harness_key(key, 'p', i);
		rc = put_if_absent(&x->conn, key) ? -EIO : 0;
	}
	return rc;
}

static int prepare_serial(void *vctx, unsigned client, unsigned keys)
{
	((struct etcd_ctx *)vctx)->serializable = true;
	return prepare_reads(vctx, client, keys);
}

static int op_put(void *vctx, uint64_t seq)
{
	struct etcd_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];

	harness_key(key, 'n', seq);
	return put_if_absent(&x->conn, key);
}

/* Range of one key; 0 when its value is the expected one, 1 when it is
 * missing or different, -errno on failure. present: out, whether a kv came. */
static int range_key(struct http_conn *c, const char *key, bool serializable, bool *present)
{
	char k64[64], v64[64], val[HARNESS_VALUE_SIZE + 1], json[256], want[96];
	int st;

	harness_value(val, key);
	b64(k64, key, strlen(key));
	b64(v64, val, strlen(val));
	snprintf(json, sizeof(json), "{\"key\":\"%s\",\"serializable\":%s}", k64,
		 serializable ? "true" : "false");
	st = http_post(c, "/v3/kv/range", json);
	if (st != 200)
		return etcd_failed("range", st);
	*present = strstr(c->body, "\"kvs\":") != NULL;
	snprintf(want, sizeof(want), "\"value\":\"%s\"", v64);
	return *present && strstr(c->body, want) ? 0 : 1;
}

static int op_get(void *vctx, uint64_t seq)
{
	struct etcd_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];
	bool present;

	harness_key(key, 'p', seq % x->keys);
	return range_key(&x->conn, key, x->serializable, &present);
}

static void finish(void *vctx)
{
	http_free(&((struct etcd_ctx *)vctx)->conn);
}

/* --- owner-bound removal --------------------------------------------------- */

/* The owner: grant a lease of ttl_ms (rounded up to seconds; etcd grants
 * at least its minimum), put the key under it, report the granted TTL on
 * fd, then keep the lease alive every TTL/3 as etcd's own clients do,
 * until killed (or 120 s pass, so it cannot outlive a lost parent). */
static void owner_main(unsigned ep, const char *key, int fd, unsigned ttl_ms)
{
	struct http_conn c = {.fd = -1};
	char k64[64], v64[64], val[HARNESS_VALUE_SIZE + 1], json[512], id[32] = "";
	const char *p;
	long ttl = 0;
	uint64_t stop = harness_now_ns() + 120ull * 1000000000ull;

	/* TTLs are whole seconds; etcd raises one below its minimum. */
	snprintf(json, sizeof(json), "{\"TTL\":%u}", (ttl_ms + 999) / 1000);
	if (http_connect(&c, ep) < 0 || http_post(&c, "/v3/lease/grant", json) != 200)
		_exit(69);
	if ((p = strstr(c.body, "\"ID\":\"")))
		sscanf(p + 6, "%31[0-9]", id);
	if ((p = strstr(c.body, "\"TTL\":\"")))
		ttl = strtol(p + 7, NULL, 10);
	if (!id[0] || ttl <= 0)
		_exit(69);
	harness_value(val, key);
	b64(k64, key, strlen(key));
	b64(v64, val, strlen(val));
	snprintf(json, sizeof(json), "{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%s\"}", k64,
		 v64, id);
	if (http_post(&c, "/v3/kv/put", json) != 200)
		_exit(69);
	if (write(fd, &ttl, sizeof(ttl)) != sizeof(ttl))
		_exit(69);
	snprintf(json, sizeof(json), "{\"ID\":\"%s\"}", id);
	while (harness_now_ns() < stop) {
		sleep_ms((unsigned)(ttl * 1000 / 3));
		http_post(&c, "/v3/lease/keepalive", json);
	}
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int run_bound(const struct harness_config *cfg)
{
	uint64_t lat[100];
	unsigned done = 0;
	long ttl = 0;

	srand48((long)harness_now_ns());
	for (unsigned t = 0; t < cfg->trials; t++) {
		char key[HARNESS_KEY_SIZE + 1];
		struct http_conn poller = {.fd = -1};
		struct pollfd pfd;
		int fds[2], ws;
		pid_t pid;
		uint64_t t0, deadline;
		bool present = true;

		harness_key(key, 'b', t);
		if (pipe(fds) < 0)
			return 69;
		pid = fork();
		if (pid < 0)
			return 69;
		if (pid == 0) {
			close(fds[0]);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			owner_main(t, key, fds[1], cfg->owner_ttl_ms);
		}
		close(fds[1]);
		pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
		if (poll(&pfd, 1, 10000) != 1 || read(fds[0], &ttl, sizeof(ttl)) != sizeof(ttl)) {
			fprintf(stderr, "etcd-bench bound: the owner could not set up its lease\n");
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			close(fds[0]);
			return 69;
		}
		close(fds[0]);
		/* The poller reads from another member than the owner's, from its
		 * own applied state (serializable), as a watcher there would see it. */
		if (http_connect(&poller, t + 1) < 0) {
			http_free(&poller);
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			return 69;
		}
		/* Die at a random point of the keep-alive period, as a crash would. */
		sleep_ms(200 + (unsigned)(drand48() * 1000));
		kill(pid, SIGKILL);
		t0 = harness_now_ns();
		waitpid(pid, &ws, 0);
		deadline = t0 + 60ull * 1000000000ull;
		while (harness_now_ns() < deadline) {
			if (range_key(&poller, key, true, &present) >= 0 && !present)
				break;
			sleep_ms(1);
		}
		http_free(&poller);
		if (present) {
			fprintf(stderr, "etcd-bench bound: key still present 60 s after the kill\n");
			continue;
		}
		lat[done++] = harness_now_ns() - t0;
	}
	if (!done)
		return 69;
	qsort(lat, done, sizeof(lat[0]), cmp_u64);
	printf("{\"system\": \"etcd\", \"workload\": \"bound\", \"clients\": 1, \"ops\": %u, "
	       "\"errors\": %u, \"ops_per_s\": 0, \"p50_ns\": %llu, \"p99_ns\": %llu, "
	       "\"min_ns\": %llu, \"max_ns\": %llu, \"ttl_s\": %ld}\n",
	       done, cfg->trials - done, (unsigned long long)lat[(done - 1) / 2],
	       (unsigned long long)lat[done - 1], (unsigned long long)lat[0],
	       (unsigned long long)lat[done - 1], ttl);
	return 0;
}

static int run_wait(const struct harness_config *cfg)
{
	uint64_t deadline = harness_now_ns() + (uint64_t)(cfg->seconds * 1e9);

	for (unsigned ep = 0; ep < n_endpoints; ep++) {
		struct http_conn c = {.fd = -1};
		bool present;

		for (;;) {
			if ((c.fd >= 0 || http_connect(&c, ep) == 0) &&
			    range_key(&c, "bench-peers-wait", false, &present) >= 0)
				break;
			http_close(&c);
			if (harness_now_ns() > deadline) {
				http_free(&c);
				return 69;
			}
			sleep_ms(50);
		}
		http_free(&c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct harness_config cfg = {.system = "etcd"};
	struct harness_workload w = {.op = op_get, .finish = finish};
	int i = harness_parse(&cfg, argc, argv, usage);
	const char *name;

	if (i < 0 || argc - i != 2 || parse_endpoints(argv[i]) < 0) {
		fputs(usage, stderr);
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	name = argv[i + 1];
	if (!strcmp(name, "wait"))
		return run_wait(&cfg);
	if (!strcmp(name, "bound"))
		return run_bound(&cfg);
	w.name = name;
	if (!strcmp(name, "put-if-absent")) {
		w.prepare = prepare_common;
		w.op = op_put;
	} else if (!strcmp(name, "get-serial")) {
		w.prepare = prepare_serial;
	} else if (!strcmp(name, "get-linear")) {
		w.prepare = prepare_reads;
	} else {
		fputs(usage, stderr);
		return 64;
	}
	return harness_run(&cfg, &w, sizeof(struct etcd_ctx));
}
