// SPDX-License-Identifier: MIT
/*
 * pkv-release-holder SOCKET KEY: the holder side of the release test
 * (test-release.sh). Puts KEY bound to itself and prints "gen G"; on a line
 * of stdin releases generation G (prints "released" or the status), then
 * releases it again (prints "stale" when told PKV_STALE), then stays alive
 * until stdin closes, so that a key seen absent was released, not ended by
 * this process's exit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "paxoskv.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pkv-release-holder SOCKET KEY\n");
		return 64;
	}
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
