/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Minimal TAP producer for the unit tests.  Each test is a function that
 * uses CHECK(); tap_run() prints "ok N - name" or "not ok N - name" with
 * the first failed condition, and tap_done() the plan.  The exit status is
 * non-zero when any test failed.
 */
#ifndef AR_TAP_H
#define AR_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed, tap_current_failed;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			if (!tap_current_failed)                             \
				printf("# %s:%d: CHECK(%s) failed\n",        \
				       __FILE__, __LINE__, #cond);           \
			tap_current_failed = 1;                              \
			return;                                              \
		}                                                            \
	} while (0)

/* Like CHECK() for integers, printing both values on failure. */
#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);          \
		if (a_ != b_) {                                              \
			printf("# %s:%d: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, a_, #b, b_);          \
			tap_current_failed = 1;                              \
			return;                                              \
		}                                                            \
	} while (0)

/* TAP_ONLY=name runs that test alone (while working on it). */
static inline void tap_run(const char *name, void (*fn)(void))
{
	const char *only = getenv("TAP_ONLY");

	if (only && *only && strcmp(only, name))
		return;
	tap_current_failed = 0;
	fflush(stdout);
	fn();
	tap_count++;
	if (tap_current_failed)
		tap_failed++;
	printf("%sok %d - %s\n", tap_current_failed ? "not " : "", tap_count,
	       name);
	fflush(stdout);
}

#define TAP_RUN(fn) tap_run(#fn, fn)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif /* AR_TAP_H */
