// SPDX-License-Identifier: MIT
/*
 * pkv-keygen — writes a new key file: a cluster key, or one node's key.
 *
 *   pkv-keygen [-f] FILE     write a new key, print its public key
 *   pkv-keygen -p FILE       print the public key of an existing key
 *
 * The file holds 32 random bytes as 64 hex digits and a newline, mode 0600,
 * written to a temporary file beside FILE, fsync'd and renamed into place
 * (an existing FILE, or a hard link to it, is never written through, and
 * stays as it was if anything fails). As a node's key, the 32 bytes are the
 * seed of its X25519 key pair; the public key printed goes on the node's
 * line in every node's configuration. As a cluster key (no public keys in
 * the configuration: dev clusters), every node's key is derived from it and
 * the printed public key is of no use. Exit status: 0 done, 1 failed,
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
		   "       pkv-keygen -p FILE\n"
		   "\n"
		   "Writes a new random key to FILE (mode 0600) as 64 hex digits, and prints\n"
		   "its public key. A node's key: put the public key at the end of the node's\n"
		   "line in every configuration. A cluster key (no public keys configured):\n"
		   "every daemon needs the same file.\n"
		   "\n"
		   "  -f  replace FILE if it exists (atomically: the old key stays on failure)\n"
		   "  -p  print the public key of the existing key FILE\n"
		   "  -h  show this help\n");
}

static int print_public(const struct auth_key *seed)
{
	uint8_t pk[AUTH_PK_BYTES], sk[AUTH_SK_BYTES];
	char hex[2 * AUTH_PK_BYTES + 1];

	auth_node_keypair(pk, sk, seed);
	sodium_memzero(sk, sizeof(sk));
	sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
	printf("%s\n", hex);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	char err[512];
	bool force = false, show = false;
	struct auth_key *key;
	int c, rc;

	while ((c = getopt(argc, argv, "fph")) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'p':
			show = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || (show && force)) {
		fprintf(stderr, "pkv-keygen: expected exactly one FILE (and -p without -f)\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "pkv-keygen: libsodium failed to initialise\n");
		return 1;
	}
	key = sodium_malloc(sizeof(*key));
	if (!key) {
		fprintf(stderr, "pkv-keygen: out of memory\n");
		return 1;
	}
	if (show)
		rc = auth_key_load(key, argv[optind], err, sizeof(err));
	else
		rc = auth_key_generate_file(argv[optind], force, key, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "pkv-keygen: %s\n", err);
		sodium_free(key);
		return 1;
	}
	rc = print_public(key);
	sodium_free(key);
	return rc;
}
