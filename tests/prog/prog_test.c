// SPDX-License-Identifier: GPL-2.0
/*
 * prog_test.c - the program test runner. The tests (tests/prog/t_*.c,
 * found at build time, see prog_test.h) send hand-built frames through
 * the real egress (TC) and ingress (XDP) programs with BPF_PROG_TEST_RUN;
 * each loads a fresh instance. Every test runs once, then those that send
 * replies (TEST_REPLIES) run again with replies through the TC ingress
 * program, as NAME.tc_ingress, then every test but those defined
 * TEST_NO_FAST again through the fast path, as NAME.fast.
 *
 *	prog_test [-v] [-l] [PATTERN...]
 *
 * A PATTERN is a glob (fnmatch) on test names, NAME.tc_ingress and
 * NAME.fast included,
 * and runs those tests with all their subtests; TEST/SUB runs the subtests
 * SUB of the tests TEST. -l lists the names that would run, one a line, in
 * the order they would be reported; -v shows libbpf's messages (verifier
 * logs).
 *
 * Prints "PASS name" or "FAIL name" for each subtest run (as TEST/SUB)
 * and each test run, a test after its subtests, then "N passed, N failed":
 * N counts those lines, so a test with subtests counts once for each
 * subtest and once itself. Before it, how many packets the .fast runs
 * sent on through the fast path. Exit status 0 if all passed, 1 if any failed,
 * 2 for an unknown flag or a pattern that matches nothing.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "bpfmasq.skel.h"
#include "harness.h"
#include "log.h"
#include "prog_test.h"

struct prog_test {
	const char *name;
	void (*fn)(void);
	unsigned int flags;
};

static const struct prog_test tests[] = {
#define PROG_TEST_ENTRY(name, flags) { #name, test_##name, flags },
#include "prog_tests.h"
#undef PROG_TEST_ENTRY
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

/* How a test runs: the programs its packets go through. */
enum run_mode {
	RUN_XDP, /* TC egress, XDP ingress */
	RUN_TC_INGRESS, /* replies through TC ingress: TEST_REPLIES */
	RUN_FAST, /* through the fast path first: all but TEST_NO_FAST */
	RUN_MODES,
};

static const char *const mode_suffix[RUN_MODES] = { "", ".tc_ingress",
						    ".fast" };

static bool mode_runs(const struct prog_test *t, enum run_mode mode)
{
	if (mode == RUN_TC_INGRESS)
		return t->flags & TEST_REPLIES;
	if (mode == RUN_FAST)
		return !(t->flags & TEST_NO_FAST);
	return true;
}
#define NAME_LEN 160
#define MAX_SUBTESTS 64

static struct {
	char **pats;
	int npats;
	bool *pat_used; /* the pattern selected something */
	bool naming; /* calling a test to name its subtests, not run them */
	bool print; /* -l: print the names selected while naming */
	int passed, failed;
	unsigned long fast_taken; /* packets the .fast runs forwarded */

	/* The test being run, or named. */
	const struct prog_test *test;
	char name[NAME_LEN]; /* as reported: NAME, NAME.tc_ingress, ... */
	int nsubs; /* subtests it named, selected or not */
	char subs[MAX_SUBTESTS][NAME_LEN]; /* their names */
	int nselected; /* of those, selected */
	/* Its subtest running, if any. */
	bool in_sub;
	char sub_name[2 * NAME_LEN + 1]; /* TEST/SUB */
	int sub_start; /* cur_failures when it started */
} run;

/* Does @pat select test @name, or with @sub, its subtest @sub? */
static bool pat_selects(const char *pat, const char *name, const char *sub)
{
	const char *slash = strchr(pat, '/');
	char test_pat[NAME_LEN];

	if (!slash)
		return !fnmatch(pat, name, 0);
	if (!sub)
		return false;
	snprintf(test_pat, sizeof(test_pat), "%.*s", (int)(slash - pat), pat);
	return !fnmatch(test_pat, name, 0) && !fnmatch(slash + 1, sub, 0);
}

static bool selected(const char *name, const char *sub)
{
	bool any = !run.npats;
	int i;

	for (i = 0; i < run.npats; i++) {
		if (!pat_selects(run.pats[i], name, sub))
			continue;
		any = true;
		run.pat_used[i] = true;
	}
	return any;
}

static void report(const char *name, int failures)
{
	printf("%s %s\n", failures ? "FAIL" : "PASS", name);
	if (failures)
		run.failed++;
	else
		run.passed++;
}

static void subtest_end(void)
{
	if (!run.in_sub)
		return;
	run.in_sub = false;
	report(run.sub_name, cur_failures - run.sub_start);
	cur_test = run.name;
	test_ctx(NULL);
}

/* A name from a description: "IHL 4" -> "ihl_4", "gateway's" -> "gateways". */
static void subtest_name(char *sub, const char *desc)
{
	size_t n = 0;
	char c;

	for (; *desc; desc++) {
		c = *desc >= 'A' && *desc <= 'Z' ? *desc - 'A' + 'a' : *desc;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			sub[n++] = c;
		else if (c == '\'')
			continue;
		else if (n && sub[n - 1] != '_')
			sub[n++] = '_';
	}
	while (n && sub[n - 1] == '_')
		n--;
	sub[n] = '\0';
}

bool test_subtest(const char *fmt, ...)
{
	char desc[NAME_LEN], sub[NAME_LEN];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	subtest_name(sub, desc);
	if (!(run.test->flags & TEST_SUBTESTS)) {
		assert_fail(__FILE__, __LINE__,
			    "subtest %s in a test not defined TEST_SUBTESTS",
			    sub);
		return false;
	}
	subtest_end();
	/* Names must tell subtests apart, or one could not be selected. */
	for (i = 0; i < run.nsubs && i < MAX_SUBTESTS; i++) {
		if (strcmp(run.subs[i], sub))
			continue;
		if (!run.naming)
			assert_fail(__FILE__, __LINE__,
				    "two subtests named '%s'", sub);
		return false;
	}
	if (run.nsubs < MAX_SUBTESTS)
		strcpy(run.subs[run.nsubs], sub);
	run.nsubs++;
	if (!*sub) {
		if (!run.naming)
			assert_fail(__FILE__, __LINE__,
				    "subtest '%s' has no name", desc);
		return false;
	}
	if (!selected(run.name, sub))
		return false;
	run.nselected++;
	if (run.naming) {
		if (run.print)
			printf("%s/%s\n", run.name, sub);
		return false;
	}
	snprintf(run.sub_name, sizeof(run.sub_name), "%s/%s", run.name, sub);
	run.in_sub = true;
	run.sub_start = cur_failures;
	cur_test = run.sub_name;
	test_ctx(NULL);
	return true;
}

static void begin(const struct prog_test *t, enum run_mode mode)
{
	run.test = t;
	snprintf(run.name, sizeof(run.name), "%s%s", t->name,
		 mode_suffix[mode]);
	run.nsubs = 0;
	run.nselected = 0;
	fx_set_ingress_tc(mode == RUN_TC_INGRESS);
	fx_set_fast(mode == RUN_FAST);
}

/*
 * Whether the run of @t in @mode is selected; a test with subtests is
 * called to name them, and selected if it named a selected one (or none:
 * it then fails when it runs).
 */
static bool select_test(const struct prog_test *t, enum run_mode mode)
{
	bool sel;

	begin(t, mode);
	if (!(t->flags & TEST_SUBTESTS)) {
		sel = selected(run.name, NULL);
	} else {
		run.naming = true;
		t->fn();
		run.naming = false;
		sel = run.nselected || (!run.nsubs && selected(run.name, NULL));
	}
	if (sel && run.print)
		printf("%s\n", run.name);
	return sel;
}

/*
 * A .fast run must have tested the fast path: a packet of the whole test
 * (a few of its subtests may not send one) forwarded by it, or, for a
 * test whose packets are none of its own (TEST_FAST_NONE), not one.
 */
static void fast_check(const struct prog_test *t)
{
	run.fast_taken += fx_fast_taken;
	if (t->flags & TEST_FAST_NONE) {
		if (fx_fast_taken)
			assert_fail(__FILE__, __LINE__,
				    "%lu packets took the fast path, defined "
				    "TEST_FAST_NONE",
				    fx_fast_taken);
		return;
	}
	if (!fx_fast_taken && run.nselected == run.nsubs)
		assert_fail(__FILE__, __LINE__,
			    "no packet took the fast path: define the test "
			    "TEST_FAST_NONE or TEST_NO_FAST, or find why");
}

static void run_test(const struct prog_test *t, enum run_mode mode)
{
	begin(t, mode);
	cur_test = run.name;
	cur_failures = 0;
	t->fn();
	subtest_end();
	test_ctx(NULL);
	if ((t->flags & TEST_SUBTESTS) && !run.nsubs)
		assert_fail(__FILE__, __LINE__,
			    "defined TEST_SUBTESTS, but named no subtest");
	if (mode == RUN_FAST)
		fast_check(t);
	report(run.name, cur_failures);
}

/* Fail early, once, with the likely reason, instead of in every test. */
static bool probe_load(void)
{
	struct bpfmasq *skel = bpfmasq__open();
	int err = skel ? bpfmasq__load(skel) : -errno;

	bpfmasq__destroy(skel);
	if (!err)
		return true;
	fprintf(stderr,
		"prog_test: cannot load the BPF programs: %s\n"
		"prog_test: run as root on a kernel with BPF support%s\n",
		strerror(-err),
		log_verbose ? "" : "; -v shows the verifier's log");
	return false;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: prog_test [-v] [-l] [PATTERN...]\n"
		   "  PATTERN  glob on test names (NAME, NAME.tc_ingress,\n"
		   "           NAME.fast), or\n"
		   "           TEST/SUB on subtest names\n"
		   "  -l       list the names that would run\n"
		   "  -v       libbpf's messages, verifier logs included\n");
}

int main(int argc, char **argv)
{
	static bool sel[RUN_MODES][NTESTS];
	bool list = false, verbose = false;
	int i, mode;
	size_t t;

	run.pats = calloc(argc, sizeof(*run.pats));
	run.pat_used = calloc(argc, sizeof(*run.pat_used));
	if (!run.pats || !run.pat_used)
		return 1;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v")) {
			verbose = true;
		} else if (!strcmp(argv[i], "-l")) {
			list = true;
		} else if (!strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "prog_test: unknown flag '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		} else {
			run.pats[run.npats++] = argv[i];
		}
	}
	log_setup(verbose);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Every test, then its TC ingress runs, then its fast path runs. */
	run.print = list;
	for (mode = 0; mode < RUN_MODES; mode++)
		for (t = 0; t < NTESTS; t++)
			if (mode_runs(&tests[t], mode))
				sel[mode][t] = select_test(&tests[t], mode);
	run.print = false;
	for (i = 0; i < run.npats; i++) {
		if (run.pat_used[i])
			continue;
		fprintf(stderr,
			"prog_test: no test matches '%s' (-l lists them)\n",
			run.pats[i]);
		return 2;
	}
	if (list)
		return 0;

	if (geteuid() != 0)
		fprintf(stderr, "prog_test: not root, loading may fail\n");
	/*
	 * A network namespace of our own: FIB lookups (the ICMP errors of
	 * unreach.h) see no route of the host's and find no forwarding on.
	 */
	if (unshare(CLONE_NEWNET))
		fprintf(stderr,
			"prog_test: cannot unshare the network namespace: %s\n",
			strerror(errno));
	if (!probe_load())
		return 1;
	for (mode = 0; mode < RUN_MODES; mode++)
		for (t = 0; t < NTESTS; t++)
			if (sel[mode][t])
				run_test(&tests[t], mode);
	printf("fast path: %lu packets forwarded in the .fast runs\n",
	       run.fast_taken);
	printf("%d passed, %d failed\n", run.passed, run.failed);
	return run.failed ? 1 : 0;
}
