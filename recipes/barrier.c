// SPDX-License-Identifier: MIT
/*
 * Recipe: a barrier.
 *
 *   recipe-barrier SOCKET BARRIER COUNT MEMBER
 *
 * Each member puts key MEMBER into bucket "barrier/BARRIER", bound to its
 * own process (a member that dies leaves the barrier), then watches the
 * bucket — the watch first reports every member already there — until
 * COUNT members are present, and prints "passed". No member passes before
 * the last one arrives; none polls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paxoskv.h"

#define MAX_MEMBERS 256

int main(int argc, char **argv)
{
	if (argc != 5 || atoi(argv[3]) < 1 || atoi(argv[3]) > MAX_MEMBERS) {
		fprintf(stderr, "usage: recipe-barrier SOCKET BARRIER COUNT(1..%d) MEMBER\n",
			MAX_MEMBERS);
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int count = atoi(argv[3]);
	char bucket[256];
	snprintf(bucket, sizeof(bucket), "barrier/%s", argv[2]);
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-barrier: %s\n", pkv_strerror(r));
		return 69;
	}
	size_t bl = strlen(bucket);
	/* Watch first, then join: our own arrival is an event like the others. */
	struct pkv_watch *w;
	r = pkv_watch(c, bucket, bl, NULL, 0, 0, 0, &w);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-barrier: watch: %s\n", pkv_strerror(r));
		return 1;
	}
	struct pkv_put_opts o = {.bucket = bucket, .bucket_len = bl, .pid = PKV_PID_SELF};
	r = pkv_put(c, argv[4], strlen(argv[4]), "here", 4, &o, NULL);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-barrier: join: %s\n", pkv_strerror(r));
		return 1;
	}
	printf("joined %s\n", argv[4]);
	char *seen[MAX_MEMBERS];
	int n = 0;
	struct pkv_watch_event ev;
	while (n < count && (r = pkv_watch_next(w, &ev, 60000)) >= 0 && r < PKV_NOT_FOUND) {
		if (r != 1)
			continue;
		int i;
		for (i = 0; i < n; i++)
			if (strlen(seen[i]) == ev.key_len && !memcmp(seen[i], ev.key, ev.key_len))
				break;
		if (ev.kind == PKV_WATCH_CHOSEN && i == n && (seen[n] = strndup(ev.key, ev.key_len)))
			n++;
		else if (ev.kind == PKV_WATCH_ENDED && i < n) { /* a member left */
			free(seen[i]);
			seen[i] = seen[--n];
		}
	}
	if (n == count)
		printf("passed\n");
	for (int i = 0; i < n; i++)
		free(seen[i]);
	/* Stay a member until told to go: the others may still be counting. */
	char line[64];
	while (fgets(line, sizeof(line), stdin))
		;
	pkv_unwatch(w);
	pkv_close(c);
	return n == count ? 0 : 1;
}
