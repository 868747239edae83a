// SPDX-License-Identifier: MIT
/*
 * pkv — the command line client (DESIGN section 7).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "msg.h"

enum exit_code {
	EX_OK_ = 0,
	EX_NOT_FOUND = 1,
	EX_NO_QUORUM = 2,
	EX_INVALID = 3,
	EX_USAGE_ = 64,
	EX_TOO_LARGE = 65,
	EX_UNAVAILABLE_ = 69,
};

static const char *opt_node, *opt_socket;

static void usage(FILE *f)
{
	fputs("usage: pkv [-n NODE | -S SOCKET] COMMAND ...\n"
	      "  put  [-b BUCKET] [--no-quorum return|retry|fail] [--timeout MS] KEY VALUE\n"
	      "                                  store VALUE unless KEY has a value; prints the chosen value\n"
	      "  get  [-b BUCKET] [--default VALUE] KEY    print the value of KEY\n"
	      "  keys [-b BUCKET]                 the keys known across the cluster, one a line\n"
	      "  now                              the system time in ms (for --until)\n"
	      "  cluster                          this daemon's view: name: value lines\n"
	      "  wait [--timeout S]               block until the daemon has quorum and can serve\n"
	      "which daemon: -n NODE (a node name in $PKV_RUN_DIR), -S SOCKET, or env PKV_NODE,\n"
	      "PKV_SOCKET; by default the first node running in $PKV_RUN_DIR.\n"
	      "exit status: 0 ok, 1 not found, 2 no quorum, 3 invalid value, 64 usage,\n"
	      "65 value or key too large, 69 daemon unavailable\n",
	      f);
}

static void run_dir(char *out, size_t cap)
{
	const char *env = getenv("PKV_RUN_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(out, cap, "%s", env);
	else if (xdg && *xdg)
		snprintf(out, cap, "%s/paxoskv", xdg);
	else
		snprintf(out, cap, "/tmp/paxoskv-%u", (unsigned)getuid());
}

static int connect_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int connect_daemon(char *which, size_t cap)
{
	char dir[PATH_MAX / 2], path[PATH_MAX];
	const char *sock = opt_socket ? opt_socket : getenv("PKV_SOCKET");
	const char *node = opt_node ? opt_node : getenv("PKV_NODE");
	run_dir(dir, sizeof(dir));
	if (sock && *sock) {
		snprintf(which, cap, "%s", sock);
		return connect_path(sock);
	}
	if (node && *node) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, node, CTL_SOCKET_NAME);
		snprintf(which, cap, "%s", path);
		return connect_path(path);
	}
	for (unsigned i = 1; i <= PKV_MAX_NODES; i++) {
		snprintf(path, sizeof(path), "%s/node%u/%s", dir, i, CTL_SOCKET_NAME);
		int fd = connect_path(path);
		if (fd >= 0)
			return fd;
	}
	snprintf(which, cap, "any node in %s", dir);
	return -ENOENT;
}

struct reply {
	int status;
	uint64_t gen;
	uint8_t *data;
	size_t len;
};

/* Sends one request and collects every reply packet into r. */
static int roundtrip(int fd, const struct ctl_req *rq, const void *bucket, const void *key,
		     const void *value, struct reply *r)
{
	size_t len = sizeof(*rq) + rq->bucket_len + rq->key_len + rq->value_len;
	uint8_t *pkt = malloc(len);
	if (!pkt)
		return -ENOMEM;
	memcpy(pkt, rq, sizeof(*rq));
	uint8_t *p = pkt + sizeof(*rq);
	memcpy(p, bucket, rq->bucket_len);
	memcpy(p + rq->bucket_len, key, rq->key_len);
	memcpy(p + rq->bucket_len + rq->key_len, value, rq->value_len);
	ssize_t n = send(fd, pkt, len, MSG_NOSIGNAL);
	free(pkt);
	if (n < 0)
		return -errno;
	memset(r, 0, sizeof(*r));
	uint8_t *buf = malloc(CTL_MAX_PACKET + sizeof(struct ctl_rep));
	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = recv(fd, buf, CTL_MAX_PACKET + sizeof(struct ctl_rep), 0);
		if (n < (ssize_t)sizeof(struct ctl_rep)) {
			free(buf);
			return n < 0 ? -errno : -ECONNRESET;
		}
		struct ctl_rep rep;
		memcpy(&rep, buf, sizeof(rep));
		if (rep.magic != CTL_MAGIC || rep.len != (size_t)n - sizeof(rep)) {
			free(buf);
			return -EPROTO;
		}
		uint8_t *nd = realloc(r->data, r->len + rep.len + 1);
		if (!nd) {
			free(buf);
			return -ENOMEM;
		}
		r->data = nd;
		memcpy(r->data + r->len, buf + sizeof(rep), rep.len);
		r->len += rep.len;
		r->data[r->len] = 0;
		r->status = rep.status;
		r->gen = rep.gen;
		if (!(rep.flags & CTL_RF_MORE))
			break;
	}
	free(buf);
	return 0;
}

static const char *status_text(int s)
{
	switch (s) {
	case PKV_S_OK:
		return "ok";
	case PKV_S_NOT_FOUND:
		return "not found";
	case PKV_S_NO_QUORUM:
		return "no quorum";
	case PKV_S_INVALID_VALUE:
		return "invalid value";
	case PKV_S_TOO_LARGE:
		return "key or value too large";
	case PKV_S_TIMEOUT:
		return "timed out";
	case PKV_S_UNAVAILABLE:
		return "daemon unavailable";
	case PKV_S_BAD_REQUEST:
		return "bad request";
	case PKV_S_NOT_IN_SYNC:
		return "not in sync";
	case PKV_S_NO_MEMORY:
		return "daemon out of memory";
	default:
		return s < 0 ? strerror(-s) : "unknown status";
	}
}

static int exit_for(int s)
{
	switch (s) {
	case PKV_S_OK:
		return EX_OK_;
	case PKV_S_NOT_FOUND:
		return EX_NOT_FOUND;
	case PKV_S_NO_QUORUM:
		return EX_NO_QUORUM;
	case PKV_S_INVALID_VALUE:
		return EX_INVALID;
	case PKV_S_TOO_LARGE:
		return EX_TOO_LARGE;
	case PKV_S_BAD_REQUEST:
		return EX_USAGE_;
	default:
		return EX_UNAVAILABLE_;
	}
}

static int open_or_report(void)
{
	char which[PATH_MAX];
	int fd = connect_daemon(which, sizeof(which));
	if (fd < 0)
		fprintf(stderr, "pkv: cannot reach the daemon (%s): %s\n", which, strerror(-fd));
	return fd;
}

/* Runs one request against the daemon; prints errors; returns the exit code. */
static int request(uint8_t op, uint8_t flags, const char *bucket, const char *key, size_t klen,
		   const char *value, size_t vlen, uint32_t timeout_ms, struct reply *r)
{
	size_t blen = bucket ? strlen(bucket) : 0;
	if (bucket && (blen == 0 || blen > PKV_MAX_BUCKET)) {
		fprintf(stderr, "pkv: a bucket name is 1..%u bytes\n", PKV_MAX_BUCKET);
		return EX_USAGE_;
	}
	if (klen > PKV_MAX_KEY || vlen > PKV_MAX_VALUE) {
		fprintf(stderr, "pkv: %s too large: %zu bytes, the limit is %u\n",
			klen > PKV_MAX_KEY ? "key" : "value", klen > PKV_MAX_KEY ? klen : vlen,
			klen > PKV_MAX_KEY ? PKV_MAX_KEY : PKV_MAX_VALUE);
		return EX_TOO_LARGE;
	}
	int fd = open_or_report();
	if (fd < 0)
		return EX_UNAVAILABLE_;
	struct ctl_req rq = {
		.magic = CTL_MAGIC,
		.op = op,
		.flags = flags,
		.bucket_len = (uint8_t)blen,
		.key_len = (uint32_t)klen,
		.value_len = (uint32_t)vlen,
		.timeout_ms = timeout_ms,
	};
	int e = roundtrip(fd, &rq, bucket, key, value, r);
	close(fd);
	if (e < 0) {
		fprintf(stderr, "pkv: the daemon closed the request: %s\n", strerror(-e));
		return EX_UNAVAILABLE_;
	}
	return EX_OK_;
}

static int cmd_cluster(int argc, char **argv)
{
	if (argc != 1) {
		usage(stderr);
		return EX_USAGE_;
	}
	struct reply r;
	int ex = request(CTL_OP_CLUSTER, 0, NULL, "", 0, "", 0, 0, &r);
	if (ex)
		return ex;
	fwrite(r.data, 1, r.len, stdout);
	free(r.data);
	return exit_for(r.status);
}

static bool field_is(const struct reply *r, const char *line)
{
	return r->data && strstr((const char *)r->data, line) != NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cmd_wait(int argc, char **argv)
{
	static const struct option o[] = {{"timeout", required_argument, NULL, 't'}, {0}};
	double timeout_s = 30;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:b:", o, NULL)) != -1) {
		if (c == 't')
			timeout_s = strtod(optarg, NULL);
		else if (c != 'b') {
			usage(stderr);
			return EX_USAGE_;
		}
	}
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_s * 1000);
	for (;;) {
		char which[PATH_MAX];
		int fd = connect_daemon(which, sizeof(which));
		if (fd >= 0) {
			struct ctl_req rq = {.magic = CTL_MAGIC, .op = CTL_OP_CLUSTER};
			struct reply r;
			int e = roundtrip(fd, &rq, "", "", "", &r);
			close(fd);
			bool ready = e == 0 && field_is(&r, "\nquorum: yes\n") &&
				     !field_is(&r, "\nsynced: no\n");
			free(r.data);
			if (ready)
				return EX_OK_;
		}
		if (mono_ms() >= deadline) {
			fprintf(stderr, "pkv: the daemon is not ready after %.1f s\n", timeout_s);
			return fd < 0 ? EX_UNAVAILABLE_ : EX_NO_QUORUM;
		}
		/* Polling the control socket: the event stream comes with `pkv watch`. */
		poll(NULL, 0, 50);
	}
}

static int cmd_put_get(int argc, char **argv, bool put)
{
	static const struct option o[] = {
		{"bucket", required_argument, NULL, 'b'},
		{"default", required_argument, NULL, 'd'},
		{"no-quorum", required_argument, NULL, 'q'},
		{"timeout", required_argument, NULL, 't'},
		{0},
	};
	const char *bucket = NULL, *def = NULL;
	uint8_t flags = 0;
	bool fail_mode = false;
	uint32_t timeout_ms = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:", o, NULL)) != -1) {
		switch (c) {
		case 'b':
			bucket = optarg;
			break;
		case 'd':
			if (put)
				goto bad;
			def = optarg;
			break;
		case 'q':
			if (!put)
				goto bad;
			if (!strcmp(optarg, "retry"))
				flags |= CTL_F_NO_QUORUM_RETRY;
			else if (!strcmp(optarg, "fail"))
				fail_mode = true;
			else if (strcmp(optarg, "return") != 0)
				goto bad;
			break;
		case 't':
			timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			goto bad;
		}
	}
	if (argc - optind != (put ? 2 : 1))
		goto bad;
	const char *key = argv[optind];
	const char *value = put ? argv[optind + 1] : "";
	if (!timeout_ms && (flags & CTL_F_NO_QUORUM_RETRY))
		timeout_ms = UINT32_MAX; /* retry: block until quorum returns */
	struct reply r;
	int ex = request(put ? CTL_OP_PUT : CTL_OP_GET, flags, bucket, key, strlen(key), value,
			 strlen(value), timeout_ms, &r);
	if (ex)
		return ex;
	if (r.status == PKV_S_OK) {
		fwrite(r.data, 1, r.len, stdout);
		fputc('\n', stdout);
	} else if (r.status == PKV_S_NOT_FOUND && def) {
		puts(def);
		r.status = PKV_S_OK;
	} else {
		fprintf(stderr, "pkv: %s: %s\n", key, status_text(r.status));
		if (fail_mode && r.status == PKV_S_NO_QUORUM) {
			free(r.data);
			abort(); /* --no-quorum fail: the C form of raising */
		}
	}
	free(r.data);
	return exit_for(r.status);
bad:
	usage(stderr);
	return EX_USAGE_;
}

static int cmd_keys(int argc, char **argv)
{
	static const struct option o[] = {{"bucket", required_argument, NULL, 'b'}, {0}};
	const char *bucket = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:", o, NULL)) != -1) {
		if (c != 'b') {
			usage(stderr);
			return EX_USAGE_;
		}
		bucket = optarg;
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	struct reply r;
	int ex = request(CTL_OP_KEYS, 0, bucket, "", 0, "", 0, 0, &r);
	if (ex)
		return ex;
	if (r.status != PKV_S_OK) {
		fprintf(stderr, "pkv: keys: %s\n", status_text(r.status));
		free(r.data);
		return exit_for(r.status);
	}
	for (size_t at = 0; at + 2 <= r.len;) {
		uint16_t l;
		memcpy(&l, r.data + at, 2);
		if (at + 2 + l > r.len)
			break;
		fwrite(r.data + at + 2, 1, l, stdout);
		fputc('\n', stdout);
		at += 2 + (size_t)l;
	}
	free(r.data);
	return EX_OK_;
}

static int cmd_now(int argc, char **argv)
{
	if (argc != 1) {
		usage(stderr);
		return EX_USAGE_;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%" PRIu64 "\n", (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	return EX_OK_;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "+n:S:h")) != -1) {
		switch (c) {
		case 'n':
			opt_node = optarg;
			break;
		case 'S':
			opt_socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE_;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	char **cargv = argv + optind;
	int cargc = argc - optind;
	const char *cmd = cargv[0];
	if (!strcmp(cmd, "cluster"))
		return cmd_cluster(cargc, cargv);
	if (!strcmp(cmd, "put"))
		return cmd_put_get(cargc, cargv, true);
	if (!strcmp(cmd, "get"))
		return cmd_put_get(cargc, cargv, false);
	if (!strcmp(cmd, "keys"))
		return cmd_keys(cargc, cargv);
	if (!strcmp(cmd, "now"))
		return cmd_now(cargc, cargv);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(cargc, cargv);
	fprintf(stderr, "pkv: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE_;
}
