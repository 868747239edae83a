/* SPDX-License-Identifier: MIT */
/*
 * sim-case.h — one Check TCase per scripted simulation case, named after
 * the case, so that CK_RUN_CASE picks one (tests/sim/meson.build runs a
 * case alone where it must fail on a core with a rule left out).
 */
#ifndef PKV_TESTS_SIM_CASE_H
#define PKV_TESTS_SIM_CASE_H

#include <check.h>

static inline void sim_case_add(Suite *s, const char *name, const TTest *t, int timeout_s)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, timeout_s);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

/* A case under its own name. */
#define SIM_CASE(suite, fn, timeout_s) sim_case_add((suite), #fn, (fn), (timeout_s))

#endif
