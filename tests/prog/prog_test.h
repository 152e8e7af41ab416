/* SPDX-License-Identifier: GPL-2.0 */
/*
 * prog_test.h - how a program test is defined and reported. A test is
 *
 *	PROG_TEST(name, flags)
 *	{
 *		...
 *	}
 *
 * with PROG_TEST at the start of a line of a tests/prog/t_*.c file. The
 * Makefile finds these lines and generates $(OUTPUT)/tests/prog_tests.h,
 * one PROG_TEST_ENTRY(name, flags) per test: the runner's table, and
 * below the tests' prototypes, so that a definition the generator missed
 * fails the build (-Wmissing-prototypes) instead of never running.
 *
 * flags, 0 or these or'ed together:
 *   TEST_REPLIES   the test sends replies (fx_ingress()); it runs again
 *                  as NAME.tc_ingress with replies through the TC ingress
 *                  program instead of XDP.
 *   TEST_SUBTESTS  the test's table rows are subtests (test_subtest()), and
 *                  it does nothing outside them: to list them, the runner
 *                  calls it with every test_subtest() returning false.
 *   TEST_NO_FAST   the test does not run again as NAME.fast, where every
 *                  fixture has the fast path on and fx_egress() and
 *                  fx_ingress() take it (harness.h, fx_set_fast()); a
 *                  comment at the test says why. A .fast run fails if no
 *                  packet took the fast path (the whole test run), unless
 *   TEST_FAST_NONE none of the test's packets is the fast path's
 *                  (fragments, outbound errors, malformed, ...): its .fast
 *                  run fails if one took it.
 */
#ifndef PROG_TEST_PROG_TEST_H
#define PROG_TEST_PROG_TEST_H

#include <stdbool.h>

#define TEST_REPLIES (1u << 0)
#define TEST_SUBTESTS (1u << 1)
#define TEST_NO_FAST (1u << 2)
#define TEST_FAST_NONE (1u << 3)

#define PROG_TEST(name, flags) void test_##name(void)

#define PROG_TEST_ENTRY(name, flags) void test_##name(void);
#include "prog_tests.h"
#undef PROG_TEST_ENTRY

/*
 * Start the subtest named by @fmt (made a name: lower case, runs of other
 * characters than letters and digits as one '_'), ending the one before:
 * true if it is selected and is to run now, reported as TEST/NAME.
 */
bool test_subtest(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PROG_TEST_PROG_TEST_H */
