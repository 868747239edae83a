/* etcd-bench — etcd's side of bench-peers. Two ways to reach etcd's v3 API:
 * its native gRPC API (--grpc; built with -DETCD_BENCH_GRPC and gRPC's C
 * core library, libgrpc, one channel per client, the protobuf messages
 * encoded here by hand), or the v3 JSON gateway over one persistent HTTP/1.1
 * connection per client (no library at all). gRPC is what etcd's own
 * clients speak; the gateway adds a JSON to gRPC hop inside etcd.
 *
 *   etcd-bench [--grpc] [options] ENDPOINTS WORKLOAD
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
	"usage: etcd-bench [--grpc] [--clients N] [--seconds S] [--ops N] [--keys N] [--trials N]\n"
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

/* --- the native gRPC API ---------------------------------------------------- */

/* With --grpc the three measured workloads (put-if-absent, get-serial,
 * get-linear) are unary calls on etcd's KV service through gRPC's C core;
 * bound and wait stay on the gateway (they time a lease, not a call). */
static bool use_grpc;

#ifdef ETCD_BENCH_GRPC
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

/* Protobuf wire format, only what these messages need: varints, and
 * length-delimited fields of bytes or nested messages. */
struct pb {
	uint8_t buf[512];
	size_t len;
	bool overflow;
};

static void pb_varint(struct pb *b, uint64_t v)
{
	do {
		if (b->len >= sizeof(b->buf)) {
			b->overflow = true;
			return;
		}
		b->buf[b->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3 | 0);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *p, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	if (b->len + n > sizeof(b->buf)) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void pb_msg(struct pb *b, unsigned field, const struct pb *m)
{
	if (m->overflow)
		b->overflow = true;
	pb_bytes(b, field, m->buf, m->len);
}

/* One field of a message being read: its number, wire type, and either its
 * varint or its bytes. */
struct pb_field {
	unsigned num, type;
	uint64_t v;
	const uint8_t *p;
	size_t n;
};

static bool pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/* Reads the next field at *p; false at the end or on malformed input
 * (*p == end tells which). */
static bool pb_next(const uint8_t **p, const uint8_t *end, struct pb_field *f)
{
	uint64_t tag;

	if (*p >= end || !pb_read_varint(p, end, &tag))
		return false;
	f->num = (unsigned)(tag >> 3);
	f->type = (unsigned)(tag & 7);
	switch (f->type) {
	case 0:
		return pb_read_varint(p, end, &f->v);
	case 1:
	case 5: {
		size_t n = f->type == 1 ? 8 : 4;
		if ((size_t)(end - *p) < n)
			return false;
		*p += n;
		return true;
	}
	case 2:
		if (!pb_read_varint(p, end, &f->v) || f->v > (uint64_t)(end - *p))
			return false;
		f->p = *p;
		f->n = (size_t)f->v;
		*p += f->n;
		return true;
	default:
		return false;
	}
}

struct grpc_conn {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	uint8_t resp[4096];
	size_t resp_len;
};

/* gRPC starts its threads on grpc_init: called in the client process,
 * after the harness forked it, never before a fork. */
static int grpc_conn_open(struct grpc_conn *g, unsigned ep)
{
	char host[INET_ADDRSTRLEN], target[64];
	grpc_channel_credentials *cr;
	const struct sockaddr_in *sa = &endpoints[ep % n_endpoints];

	inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
	snprintf(target, sizeof(target), "%s:%u", host, (unsigned)ntohs(sa->sin_port));
	grpc_init();
	cr = grpc_insecure_credentials_create();
	g->ch = grpc_channel_create(target, cr, NULL);
	grpc_channel_credentials_release(cr);
	g->cq = grpc_completion_queue_create_for_pluck(NULL);
	return g->ch && g->cq ? 0 : -ENOMEM;
}

static void grpc_conn_close(struct grpc_conn *g)
{
	if (g->ch)
		grpc_channel_destroy(g->ch);
	g->ch = NULL;
}

/* One unary call: the request's bytes out, the response's bytes into
 * g->resp. 0, or -EIO with the status on stderr (first failure only).
 * The deadline is 30 s: on a machine at load average 40 a call here took
 * more than 10 s, and the harness bounds a client's preparation anyway. */
static int grpc_unary(struct grpc_conn *g, const char *method, const struct pb *req)
{
	static bool said;
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)req->buf, req->len);
	grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&s, 1), *in = NULL;
	grpc_metadata_array md_in, trailers;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_seconds(30, GPR_TIMESPAN));
	grpc_call *call;
	grpc_op ops[6];
	grpc_event ev;
	int rc = -EIO;

	grpc_slice_unref(s);
	grpc_metadata_array_init(&md_in);
	grpc_metadata_array_init(&trailers);
	call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
					grpc_slice_from_static_string(method), NULL, deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	/* The first call of a client waits for the channel to connect. */
	ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = out;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_in;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &in;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailers;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (call && grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK) {
		ev = grpc_completion_queue_pluck(g->cq, call, gpr_inf_future(GPR_CLOCK_MONOTONIC),
						 NULL);
		if (ev.type == GRPC_OP_COMPLETE && ev.success && status == GRPC_STATUS_OK && in) {
			grpc_byte_buffer_reader r;
			grpc_slice all;

			if (grpc_byte_buffer_reader_init(&r, in)) {
				all = grpc_byte_buffer_reader_readall(&r);
				g->resp_len = GRPC_SLICE_LENGTH(all);
				if (g->resp_len <= sizeof(g->resp)) {
					memcpy(g->resp, GRPC_SLICE_START_PTR(all), g->resp_len);
					rc = 0;
				}
				grpc_slice_unref(all);
				grpc_byte_buffer_reader_destroy(&r);
			}
		}
	}
	if (rc && !said) {
		char *d = grpc_slice_to_c_string(details);

		fprintf(stderr, "etcd-bench: %s: gRPC status %d %s\n", method, (int)status, d);
		gpr_free(d);
		said = true;
	}
	if (in)
		grpc_byte_buffer_destroy(in);
	grpc_byte_buffer_destroy(out);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_in);
	grpc_metadata_array_destroy(&trailers);
	if (call)
		grpc_call_unref(call);
	return rc;
}

/* KV.Txn: if create_revision(key) == 0 then put(key, value).
 * etcdserverpb: TxnRequest{compare=1, success=2}; Compare{target=2 (CREATE
 * = 1), key=3, create_revision=5 (set to 0, which a oneof still sends)};
 * RequestOp{request_put=2}; PutRequest{key=1, value=2};
 * TxnResponse{succeeded=2}. */
static int grpc_put_if_absent(struct grpc_conn *g, const char *key)
{
	char val[HARNESS_VALUE_SIZE + 1];
	struct pb cmp = {0}, put = {0}, op = {0}, txn = {0};
	const uint8_t *p, *end;
	struct pb_field f;
	bool succeeded = false;

	harness_value(val, key);
	pb_uint(&cmp, 2, 1);
	pb_bytes(&cmp, 3, key, strlen(key));
	pb_uint(&cmp, 5, 0);
	pb_bytes(&put, 1, key, strlen(key));
	pb_bytes(&put, 2, val, strlen(val));
	pb_msg(&op, 2, &put);
	pb_msg(&txn, 1, &cmp);
	pb_msg(&txn, 2, &op);
	if (txn.overflow)
		return -EMSGSIZE;
	if (grpc_unary(g, "/etcdserverpb.KV/Txn", &txn) < 0)
		return -EIO;
	p = g->resp;
	end = g->resp + g->resp_len;
	while (pb_next(&p, end, &f))
		if (f.num == 2 && f.type == 0)
			succeeded = f.v != 0;
	if (p != end)
		return -EPROTO;
	return succeeded ? 0 : 1;
}

/* KV.Range of one key: RangeRequest{key=1, serializable=7};
 * RangeResponse{kvs=2}; KeyValue{value=5}. 0 when the value is the
 * expected one, 1 when missing or different. */
static int grpc_range_key(struct grpc_conn *g, const char *key, bool serializable)
{
	char val[HARNESS_VALUE_SIZE + 1];
	struct pb req = {0};
	const uint8_t *p, *end, *q;
	struct pb_field f, kf;
	bool match = false, present = false;

	harness_value(val, key);
	pb_bytes(&req, 1, key, strlen(key));
	if (serializable)
		pb_uint(&req, 7, 1);
	if (grpc_unary(g, "/etcdserverpb.KV/Range", &req) < 0)
		return -EIO;
	p = g->resp;
	end = g->resp + g->resp_len;
	while (pb_next(&p, end, &f)) {
		if (f.num != 2 || f.type != 2)
			continue;
		present = true;
		q = f.p;
		while (pb_next(&q, f.p + f.n, &kf))
			if (kf.num == 5 && kf.type == 2)
				match = kf.n == strlen(val) && !memcmp(kf.p, val, kf.n);
	}
	if (p != end)
		return -EPROTO;
	return present && match ? 0 : 1;
}
#else
struct grpc_conn {
	int unused;
};
static int grpc_conn_open(struct grpc_conn *g, unsigned ep)
{
	(void)g;
	(void)ep;
	return -ENOTSUP;
}
static void grpc_conn_close(struct grpc_conn *g)
{
	(void)g;
}
static int grpc_put_if_absent(struct grpc_conn *g, const char *key)
{
	(void)g;
	(void)key;
	return -ENOTSUP;
}
static int grpc_range_key(struct grpc_conn *g, const char *key, bool serializable)
{
	(void)g;
	(void)key;
	(void)serializable;
	return -ENOTSUP;
}
#endif

/* --- workloads ------------------------------------------------------------ */

struct etcd_ctx {
	struct http_conn conn;
	struct grpc_conn g;
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
	if (use_grpc)
		return grpc_conn_open(&x->g, client);
	return http_connect(&x->conn, client);
}

static int ctx_put(struct etcd_ctx *x, const char *key)
{
	int rc;

	if (!use_grpc)
		return put_if_absent(&x->conn, key);
	rc = grpc_put_if_absent(&x->g, key);
	return rc < 0 ? etcd_failed("txn", rc) : rc;
}

static int prepare_reads(void *vctx, unsigned client, unsigned keys)
{
	struct etcd_ctx *x = vctx;
	char key[HARNESS_KEY_SIZE + 1];
	int rc = prepare_common(vctx, client, keys);

	for (unsigned i = 0; rc == 0 && i < keys; i++) {
		harness_key(key, 'p', i);
		/* A loaded machine may see a leader change mid-way: try a put
		 * three times; a retry that finds the key there (1) is done. */
		for (int attempt = 0; attempt < 3; attempt++) {
			int r = ctx_put(x, key);

			rc = r == 0 || (r > 0 && attempt > 0) ? 0 : -EIO;
			if (rc == 0 || r > 0)
				break;
			sleep_ms(200);
		}
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
	return ctx_put(x, key);
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
	if (use_grpc) {
		int rc = grpc_range_key(&x->g, key, x->serializable);
		return rc < 0 ? etcd_failed("range", rc) : rc;
	}
	return range_key(&x->conn, key, x->serializable, &present);
}

static void finish(void *vctx)
{
	http_free(&((struct etcd_ctx *)vctx)->conn);
	grpc_conn_close(&((struct etcd_ctx *)vctx)->g);
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
	const char *name;
	int i, j = 1;

	/* --grpc is this client's own option; the rest are the harness's. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--grpc"))
			argv[j++] = argv[i];
		else
			use_grpc = true;
	argc = j;
	argv[argc] = NULL;
#ifndef ETCD_BENCH_GRPC
	if (use_grpc) {
		fputs("etcd-bench: built without gRPC (-DETCD_BENCH_GRPC, -lgrpc -lgpr)\n", stderr);
		return 64;
	}
#endif
	i = harness_parse(&cfg, argc, argv, usage);

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
