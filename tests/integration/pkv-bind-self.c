// SPDX-License-Identifier: MIT
/*
 * pkv-bind-self NODE_SOCKET KEY VALUE: puts KEY bound to this very process
 * through the library (PKV_PID_SELF), prints the chosen value and its
 * generation, then waits to be killed. Exit 3 if the put was refused.
 */
#include <paxoskv.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: pkv-bind-self SOCKET KEY VALUE\n");
		return 64;
	}
	struct pkv_client *c = NULL;
	int r = pkv_open(&c, argv[1]);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv-bind-self: open %s: %s\n", argv[1], pkv_strerror(r));
		return 69;
	}
	struct pkv_put_opts o = {.pid = PKV_PID_SELF};
	struct pkv_value v = PKV_VALUE_INIT;
	r = pkv_put(c, argv[2], strlen(argv[2]), argv[3], strlen(argv[3]), &o, &v);
	if (r != PKV_OK) {
		fprintf(stderr, "pkv-bind-self: put %s: %s\n", argv[2], pkv_strerror(r));
		return 3;
	}
	printf("%.*s %llu\n", (int)v.len, (const char *)v.data, (unsigned long long)v.gen);
	fflush(stdout);
	pkv_value_free(&v);
	for (;;)
		pause();
}
