// SPDX-License-Identifier: MIT
/*
 * pkv-key-events — helpers of the key watch and release tests.
 *
 *   pkv-key-events holder SOCKET KEY
 *	the holder side of test-release.sh: puts KEY bound to itself and
 *	prints "gen G"; on a line of stdin releases generation G (prints
 *	"released" or the status), then releases it again (prints "stale" when
 *	told PKV_STALE), then stays alive until stdin closes, so that a key
 *	seen absent was released, not ended by this process's exit.
 *   pkv-key-events bad-requests SOCKET
 *	malformed CTL_OP_WATCH and CTL_OP_RELEASE requests, each on a
 *	connection of its own: each is answered with the documented status
 *	(never an event stream, never a release), and the daemon answers a
 *	report afterwards. Prints "FAIL: ..." and exits 1 on the first that is
 *	not.
 *   pkv-key-events put-hex SOCKET BUCKET KEY VALUE
 *	puts KEY with VALUE into BUCKET ("-": the default bucket), each given
 *	in hex, so that the machine-output test can store bytes a command
 *	line cannot hold (a NUL); prints the chosen generation.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "paxoskv.h"
#include "pkv-ctl.h"

/* One raw request on a fresh connection: the first reply's status. */
static int raw_status(const char *path, uint8_t op, uint8_t flags, uint32_t blen, uint32_t klen,
		      uint32_t vlen, size_t send_len_delta)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1000;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = sizeof(struct ctl_req) + blen + klen + vlen;
	uint8_t *pkt = calloc(1, len + 16);
	struct ctl_req rq = {.magic = CTL_MAGIC,
			     .op = op,
			     .flags = flags,
			     .bucket_len = (uint8_t)blen,
			     .key_len = klen,
			     .value_len = vlen};
	memcpy(pkt, &rq, sizeof(rq));
	memset(pkt + sizeof(rq), 'x', blen + klen);
	(void)send(fd, pkt, len + send_len_delta, MSG_NOSIGNAL);
	free(pkt);
	struct ctl_rep rep;
	ssize_t n = recv(fd, &rep, sizeof(rep), 0);
	close(fd);
	return n == (ssize_t)sizeof(rep) && rep.magic == CTL_MAGIC ? rep.status : -1001;
}

/* The daemon's count of open watches (pkv cluster's `watches:`), or -1. */
static long open_watches(const char *path)
{
	struct pkv_client *c;
	char *text = NULL;
	if (pkv_open(&c, path) != PKV_OK)
		return -1;
	long n = -1;
	if (pkv_cluster_status(c, &text) == PKV_OK) {
		const char *w = strstr(text, "\nwatches: ");
		if (w)
			n = strtol(w + 11, NULL, 10);
	}
	free(text);
	pkv_close(c);
	return n;
}

static int bad_requests(const char *path)
{
	long before = open_watches(path);
	if (before < 0) {
		printf("FAIL: no watch count from the daemon\n");
		return 1;
	}
	static const struct {
		const char *what;
		uint8_t op, flags;
		uint32_t blen, klen, vlen;
		size_t extra;
		int want;
	} cases[] = {
		{"watch: unknown flag", CTL_OP_WATCH, 0x80, 0, 1, 8, 0, PKV_S_BAD_REQUEST},
		{"watch: generation of 4 bytes", CTL_OP_WATCH, 0, 0, 1, 4, 0, PKV_S_BAD_REQUEST},
		{"watch: no generation", CTL_OP_WATCH, 0, 0, 1, 0, 0, PKV_S_BAD_REQUEST},
		{"watch: a key and the bucket flag", CTL_OP_WATCH, CTL_WATCH_BUCKET, 0, 1, 8, 0,
		 PKV_S_BAD_REQUEST},
		{"watch: no key, no bucket flag", CTL_OP_WATCH, 0, 0, 0, 8, 0, PKV_S_BAD_REQUEST},
		{"watch: a queue on a bucket", CTL_OP_WATCH, CTL_WATCH_BUCKET | CTL_WATCH_QUEUE, 0, 0,
		 8, 0, PKV_S_BAD_REQUEST},
		{"watch: a key over the limit", CTL_OP_WATCH, 0, 0, PKV_MAX_KEY + 1, 8, 0,
		 PKV_S_TOO_LARGE},
		{"watch: a packet longer than its lengths", CTL_OP_WATCH, 0, 0, 1, 8, 3,
		 PKV_S_BAD_REQUEST},
		{"release: no key", CTL_OP_RELEASE, 0, 0, 0, 8, 0, PKV_S_BAD_REQUEST},
		{"release: no generation", CTL_OP_RELEASE, 0, 0, 1, 0, 0, PKV_S_BAD_REQUEST},
		{"release: a flag", CTL_OP_RELEASE, 1, 0, 1, 8, 0, PKV_S_BAD_REQUEST},
		{"release: a key over the limit", CTL_OP_RELEASE, 0, 0, PKV_MAX_KEY + 1, 8, 0,
		 PKV_S_TOO_LARGE},
		{"release: generation 0", CTL_OP_RELEASE, 0, 0, 1, 8, 0, PKV_S_NOT_FOUND},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = raw_status(path, cases[i].op, cases[i].flags, cases[i].blen, cases[i].klen,
				    cases[i].vlen, cases[i].extra);
		if (st != cases[i].want) {
			printf("FAIL: %s: status %d, want %d\n", cases[i].what, st, cases[i].want);
			return 1;
		}
	}
	long after = open_watches(path);
	if (after != before) {
		printf("FAIL: %ld watches open before the bad requests, %ld after\n", before, after);
		return 1;
	}
	printf("%zu bad requests refused\n", sizeof(cases) / sizeof(cases[0]));
	return 0;
}

/* Hex digits into bytes at out (room for strlen(hex) / 2); the count or -1. */
static long from_hex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex);
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;
		if (sscanf(hex + i, "%2x", &v) != 1)
			return -1;
		out[i / 2] = (uint8_t)v;
	}
	return (long)(n / 2);
}

static int put_hex(const char *path, const char *bhex, const char *khex, const char *vhex)
{
	static uint8_t b[PKV_BUCKET_MAX], k[PKV_KEY_MAX], val[PKV_VALUE_MAX];
	bool dflt = !strcmp(bhex, "-");
	if ((!dflt && strlen(bhex) > 2 * sizeof(b)) || strlen(khex) > 2 * sizeof(k) ||
	    strlen(vhex) > 2 * sizeof(val)) {
		fprintf(stderr, "put-hex: an argument is too long\n");
		return 64;
	}
	long bl = dflt ? 0 : from_hex(bhex, b), kl = from_hex(khex, k), vl = from_hex(vhex, val);
	if (bl < 0 || kl < 0 || vl < 0) {
		fprintf(stderr, "put-hex: BUCKET, KEY and VALUE are hex digits\n");
		return 64;
	}
	struct pkv_client *c;
	int r = pkv_open(&c, path);
	if (r != PKV_OK) {
		fprintf(stderr, "open: %s\n", pkv_strerror(r));
		return 69;
	}
	struct pkv_put_opts o = {.bucket = dflt ? NULL : b, .bucket_len = (size_t)bl};
	struct pkv_value v = PKV_VALUE_INIT;
	r = pkv_put(c, k, (size_t)kl, val, (size_t)vl, &o, &v);
	if (r == PKV_OK)
		printf("gen %" PRIu64 "\n", v.gen);
	else
		fprintf(stderr, "put: %s\n", pkv_strerror(r));
	pkv_value_free(&v);
	pkv_close(c);
	return r == PKV_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "bad-requests"))
		return bad_requests(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "put-hex"))
		return put_hex(argv[2], argv[3], argv[4], argv[5]);
	if (argc != 4 || strcmp(argv[1], "holder") != 0) {
		fprintf(stderr, "usage: pkv-key-events holder SOCKET KEY | bad-requests SOCKET |"
				" put-hex SOCKET BUCKET KEY VALUE\n");
		return 64;
	}
	argv++;
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "open: %s\n", pkv_strerror(r));
		return 69;
	}
	const char *key = argv[2];
	struct pkv_put_opts o = {.pid = PKV_PID_SELF};
	struct pkv_value v = PKV_VALUE_INIT;
	r = pkv_put(c, key, strlen(key), "held", 4, &o, &v);
	if (r != PKV_OK || v.len != 4 || memcmp(v.data, "held", 4) != 0) {
		fprintf(stderr, "put: %s\n", pkv_strerror(r));
		return 1;
	}
	printf("gen %" PRIu64 "\n", v.gen);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	r = pkv_release(c, NULL, 0, key, strlen(key), v.gen);
	printf("%s\n", r == PKV_OK ? "released" : pkv_strerror(r));
	r = pkv_release(c, NULL, 0, key, strlen(key), v.gen);
	printf("%s\n", r == PKV_STALE ? "stale" : pkv_strerror(r));
	while (fgets(line, sizeof(line), stdin))
		;
	pkv_value_free(&v);
	pkv_close(c);
	return 0;
}
