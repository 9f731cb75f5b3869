/*
 * A tiny header-only TAP producer for the C unit tests.
 *
 *	plan(n);              or no plan and done_testing() prints "1..N"
 *	ok(cond, "what %d", i);
 *	todo(cond, "why", "what"); a known failure: TAP TODO, not held against the run
 *	diag("detail %s", s); a "# " line on stdout
 *	return (done_testing());  0 when every test passed and the plan held
 *
 * Everything is static so that any number of test programs can include it
 * without a library; tap_ prefixes keep it out of the code under test's way.
 */
#ifndef BATON_TAP_H
#define BATON_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_planned = -1; /* -1: no plan printed yet */
static int tap_run;
static int tap_failed;

/* Announce how many tests will run. */
static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Print a diagnostic line that TAP consumers show but do not count. */
static inline void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Record one test; returns cond so callers can add detail on failure. */
static inline int __attribute__((format(printf, 2, 3))) ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	return (cond);
}

/*
 * Record a test of something known not to work yet (a TAP TODO, which
 * tap-driver counts as XFAIL): a failure is shown but not held against
 * the run, and a pass is reported as XPASS, so the TODO gets removed.
 */
static inline int __attribute__((format(printf, 3, 4)))
todo(int cond, const char *reason, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # TODO %s\n", reason);
	fflush(stdout);
	return (cond);
}

/* Close the run: print a trailing plan if none was given; exit status. */
static inline int
done_testing(void)
{
	if (tap_planned < 0) {
		printf("1..%d\n", tap_run);
		tap_planned = tap_run;
	} else if (tap_planned != tap_run)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	fflush(stdout);
	return (tap_failed == 0 && tap_run == tap_planned ? 0 : 1);
}

#endif /* BATON_TAP_H */
