// SPDX-License-Identifier: MIT
/*
 * Recipe: a service registry.
 *
 *   recipe-registry SOCKET register SERVICE ADDR NODE
 *   recipe-registry SOCKET list SERVICE
 *
 * An instance registers key SERVICE/ADDR in bucket "services", bound to its
 * own process and to its node: the entry disappears cluster-wide within
 * milliseconds of the process exiting, and when its node drops out of the
 * cluster. It stays registered until stdin closes. `list` prints the
 * addresses registered now, one a line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "paxoskv.h"

#define BUCKET "services"

int main(int argc, char **argv)
{
	bool reg = argc == 6 && !strcmp(argv[2], "register");
	bool list = argc == 4 && !strcmp(argv[2], "list");
	if (!reg && !list) {
		fprintf(stderr, "usage: recipe-registry SOCKET register SERVICE ADDR NODE |"
				" SOCKET list SERVICE\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct pkv_client *c;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-registry: %s\n", pkv_strerror(r));
		return 69;
	}
	const char *svc = argv[3];
	size_t sl = strlen(svc);
	if (list) {
		struct pkv_keys *it;
		r = pkv_keys(c, BUCKET, strlen(BUCKET), &it);
		const void *k;
		size_t kl;
		if (r == PKV_OK) {
			while ((r = pkv_keys_next(it, &k, &kl)) == 1)
				if (kl > sl + 1 && !memcmp(k, svc, sl) && ((const char *)k)[sl] == '/')
					printf("%.*s\n", (int)(kl - sl - 1), (const char *)k + sl + 1);
			pkv_keys_free(it);
		}
		pkv_close(c);
		return r < 0 || r >= PKV_NOT_FOUND ? 1 : 0;
	}
	char key[1024];
	snprintf(key, sizeof(key), "%s/%s", svc, argv[4]);
	struct pkv_put_opts o = {.bucket = BUCKET, .bucket_len = strlen(BUCKET),
				 .pid = PKV_PID_SELF, .node = argv[5]};
	struct pkv_value v = PKV_VALUE_INIT;
	r = pkv_put(c, key, strlen(key), argv[4], strlen(argv[4]), &o, &v);
	if (r != PKV_OK) {
		fprintf(stderr, "recipe-registry: register: %s\n", pkv_strerror(r));
		return 1;
	}
	printf("registered %s\n", key);
	char line[64];
	while (fgets(line, sizeof(line), stdin))
		;
	pkv_value_free(&v);
	pkv_close(c);
	return 0;
}
