// SPDX-License-Identifier: MIT
/*
 * sim-trace — prints the trace hash of each seed of the simulation sweep
 * (struct sim.trace: every message and completion, in order), then one line
 * with the hash of all of them. Two builds of the core whose behaviour is the
 * same print the same lines; a refactoring of the core is checked by running
 * this before and after it and comparing.
 *
 *   sim-trace [FIRST] LAST     seeds FIRST..LAST (FIRST defaults to 1)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s [FIRST] LAST\n", argv[0]);
		return 2;
	}
	uint64_t first = argc == 3 ? strtoull(argv[1], NULL, 10) : 1;
	uint64_t last = strtoull(argv[argc - 1], NULL, 10);
	uint64_t all = 0xcbf29ce484222325ull;
	unsigned bad = 0;
	for (uint64_t sd = first; sd <= last; sd++) {
		char err[600];
		struct sim_figures fig;
		unsigned pr = sim_random_run(sd, err, sizeof(err), &fig);
		bad += pr != 0;
		printf("%" PRIu64 " %016" PRIx64 "%s\n", sd, fig.trace, pr ? " problems" : "");
		for (int i = 0; i < 8; i++) {
			all ^= (fig.trace >> (8 * i)) & 0xff;
			all *= 0x100000001b3ull;
		}
	}
	printf("seeds %" PRIu64 "..%" PRIu64 ": all %016" PRIx64 ", %u with problems\n", first, last,
	       all, bad);
	return 0;
}
