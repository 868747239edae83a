// SPDX-License-Identifier: MIT
/* pkv-example — leader election with libpaxoskv-client in a few lines.
 * Build: cc pkv-example.c $(pkg-config --cflags --libs paxoskv-client) */
#include <paxoskv.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *me = argc > 1 ? argv[1] : "candidate";
	struct pkv_client *c;
	int r = pkv_open(&c, NULL); /* the local daemon: $PKV_NODE or the first one */
	if (r != PKV_OK) {
		fprintf(stderr, "attach: %s\n", pkv_strerror(r));
		return 69;
	}
	struct pkv_value leader = PKV_VALUE_INIT;
	r = pkv_put(c, "leader", 6, me, strlen(me), NULL, &leader); /* first writer wins */
	if (r == PKV_OK)
		printf("leader: %s%s (generation %llu)\n", (char *)leader.data,
		       strcmp(leader.data, me) == 0 ? " (me)" : "", (unsigned long long)leader.gen);
	else
		fprintf(stderr, "put: %s\n", pkv_strerror(r));
	/* Later reads come from the shared cache: a memory lookup, no syscall. */
	if (pkv_get(c, "leader", 6, NULL, &leader) == PKV_OK)
		printf("read back: %s\n", (char *)leader.data);
	pkv_value_free(&leader);
	pkv_close(c);
	return r == PKV_OK ? 0 : 1;
}
