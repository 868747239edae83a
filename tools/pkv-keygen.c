// SPDX-License-Identifier: MIT
/*
 * pkv-keygen — writes a new cluster key file.
 *
 *   pkv-keygen [-f] FILE
 *
 * The file holds 32 random bytes as 64 hex digits and a newline, mode 0600.
 * Copy it to every host of the cluster (keeping the mode: pkvd refuses a key
 * file that group or others can read). Exit status: 0 written, 1 failed,
 * 64 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "auth.h"

#define EXIT_USAGE 64

static void usage(FILE *f)
{
	fprintf(f, "usage: pkv-keygen [-f] FILE\n"
		   "\n"
		   "Writes a new random cluster key to FILE (mode 0600), as 64 hex digits.\n"
		   "Every daemon of a cluster needs the same key file.\n"
		   "\n"
		   "  -f  overwrite FILE if it exists\n"
		   "  -h  show this help\n");
}

int main(int argc, char **argv)
{
	char err[512];
	bool force = false;
	int c;

	while ((c = getopt(argc, argv, "fh")) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "pkv-keygen: expected exactly one FILE\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "pkv-keygen: libsodium failed to initialise\n");
		return 1;
	}
	if (auth_key_generate_file(argv[optind], force, err, sizeof(err)) != 0) {
		fprintf(stderr, "pkv-keygen: %s\n", err);
		return 1;
	}
	return 0;
}
