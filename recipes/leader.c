// SPDX-License-Identifier: MIT
/*
 * Recipe: leader election with followers that take over.
 *
 *   recipe-leader SOCKET KEY NAME
 *
 * Every candidate puts NAME for KEY bound to its own process. The one whose
 * value is chosen leads (its generation is its term, a fencing token) until
 * it exits or releases; the others watch KEY from the generation they saw
 * and try again as soon as that lifetime ends — no polling, no session
 * timeout: the daemon erases the key milliseconds after the leader dies.
 * Prints "leader NAME term G" or "follower of LEADER term G" on each change.
 * A leader reads a line "resign" on stdin to hand over (pkv_release).
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "paxoskv.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: recipe-leader SOCKET KEY NAME\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *key = argv[2], *name = argv[3];
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-leader: %s\n", pkv_strerror(r));
		return 69;
	}
	struct pkv_put_opts o = {.pid = PKV_PID_SELF, .no_quorum = PKV_NO_QUORUM_RETRY};
	struct pkv_value v = PKV_VALUE_INIT;
	for (;;) {
		r = pkv_put(c, key, strlen(key), name, strlen(name), &o, &v);
		if (r != PKV_OK) {
			fprintf(stderr, "recipe-leader: put: %s\n", pkv_strerror(r));
			sleep(1);
			continue;
		}
		uint64_t term = v.gen;
		if (v.len == strlen(name) && !memcmp(v.data, name, v.len)) {
			printf("leader %s term %" PRIu64 "\n", name, term);
			/* Lead until told to resign (or killed: the key dies with us). */
			char line[64];
			while (fgets(line, sizeof(line), stdin) && strncmp(line, "resign", 6) != 0)
				;
			r = pkv_release(c, NULL, 0, key, strlen(key), term);
			printf("resigned term %" PRIu64 ": %s\n", term, pkv_strerror(r));
			break;
		}
		printf("follower of %.*s term %" PRIu64 "\n", (int)v.len, (const char *)v.data, term);
		/* Watch from the term we saw: its end cannot slip past us. */
		struct pkv_watch *w;
		r = pkv_watch(c, NULL, 0, key, strlen(key), term, 0, &w);
		if (r != PKV_OK) {
			sleep(1);
			continue;
		}
		struct pkv_watch_event ev;
		while ((r = pkv_watch_next(w, &ev, 60000)) >= 0 && r < PKV_NOT_FOUND)
			if (r == 1 && ev.kind == PKV_WATCH_ENDED && ev.gen >= term)
				break;
		pkv_unwatch(w);
	}
	pkv_value_free(&v);
	pkv_close(c);
	return 0;
}
