/* SPDX-License-Identifier: MIT */
/*
 * holes.h — the exit status of a Check runner whose cases show open holes
 * (tests/sim/meson.build: such a case is should_fail while its hole is
 * open). A case whose hole is open fails with a message that says
 * "… reproduced: …"; any other failure means the case broke for another
 * reason, which is an error (exit 99, which meson reports as such, expected
 * to fail or not).
 */
#ifndef PKV_TESTS_HOLES_H
#define PKV_TESTS_HOLES_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0: nothing failed; 1: only holes reproduced; 99: another failure. */
static inline int holes_exit_status(SRunner *sr)
{
	int failed = srunner_ntests_failed(sr);
	bool broken = false;
	TestResult **res = srunner_failures(sr);
	for (int i = 0; i < failed; i++)
		if (!strstr(tr_msg(res[i]), " reproduced: ")) {
			fprintf(stderr, "%s: failed for another reason than its hole: %s\n",
				tr_tcname(res[i]), tr_msg(res[i]));
			broken = true;
		}
	free(res);
	return broken ? 99 : failed ? 1 : 0;
}

#endif
