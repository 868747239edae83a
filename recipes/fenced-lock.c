// SPDX-License-Identifier: MIT
/*
 * Recipe: a lock whose fencing token a protected resource checks.
 *
 *   recipe-fenced-lock SOCKET KEY RESOURCE
 *
 * Takes the lock KEY with pkv_lock (waiting for it); the value's generation
 * is the fencing token. The protected resource here is a file: a write
 * carries the writer's token, and the resource refuses any token below the
 * highest it has seen (resource_write) — so a holder that lost the lock
 * while it was paused, partitioned or slow cannot overwrite the work of
 * the next holder. Commands on stdin: "write DATA" (prints "written TOKEN"
 * or "refused TOKEN < SEEN"), "release", "quit".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "paxoskv.h"

/*
 * The resource's side: first line the highest token seen, then the data.
 * flock serialises the writers on this host; the check is what fences.
 */
static int resource_write(const char *path, uint64_t token, const char *data, uint64_t *seen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return -errno;
	char buf[64] = {0};
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	*seen = n > 0 ? strtoull(buf, NULL, 10) : 0;
	if (token < *seen) {
		close(fd);
		return 1; /* refused: a newer holder has written */
	}
	char out[4096];
	int len = snprintf(out, sizeof(out), "%" PRIu64 "\n%s\n", token, data);
	int r = ftruncate(fd, 0) == 0 && pwrite(fd, out, (size_t)len, 0) == len ? 0 : -errno;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: recipe-fenced-lock SOCKET KEY RESOURCE\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *key = argv[2];
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-fenced-lock: %s\n", pkv_strerror(r));
		return 69;
	}
	char me[64];
	snprintf(me, sizeof(me), "pid-%ld", (long)getpid());
	struct pkv_value held = PKV_VALUE_INIT;
	r = pkv_lock(c, NULL, 0, key, strlen(key), me, strlen(me), 0, &held);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-fenced-lock: lock: %s\n", pkv_strerror(r));
		return 1;
	}
	uint64_t token = held.gen;
	printf("locked token %" PRIu64 "\n", token);
	char line[1024];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "write ", 6)) {
			uint64_t seen = 0;
			int w = resource_write(argv[3], token, line + 6, &seen);
			if (w == 0)
				printf("written %" PRIu64 "\n", token);
			else if (w == 1)
				printf("refused %" PRIu64 " < %" PRIu64 "\n", token, seen);
			else
				printf("error %s\n", strerror(-w));
		} else if (!strcmp(line, "release")) {
			r = pkv_release(c, NULL, 0, key, strlen(key), token);
			printf("released: %s\n", pkv_strerror(r));
		} else if (!strcmp(line, "quit")) {
			break;
		}
	}
	pkv_value_free(&held);
	pkv_close(c);
	return 0;
}
