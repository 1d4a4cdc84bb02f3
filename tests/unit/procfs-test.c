// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of procfs.c: the stat parser, status fields, limits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"
#include "tap.h"

/* A stat line of Linux 6.x, comm "a) (b" to be found by its last ')'. */
static const char line[] =
	"4242 (a) (b) S 1 4242 4242 0 -1 4194560 1234 0 0 0 5 6 0 0 20 0 1 0 "
	"987654 10000000 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 "
	"17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static void stat_fields_after_any_comm(void)
{
	struct ar_stat st;

	CHECK_EQ(ar_stat_parse(line, &st), AR_STAT_PROCESSOR);
	CHECK(!strcmp(st.comm, "a) (b"));
	CHECK_EQ(st.state, 'S');
	CHECK_EQ(st.flags, 4194560UL);
	CHECK_EQ(st.starttime, 987654ULL);
	CHECK_EQ(st.processor, 3);
}

static void stat_cut_short(void)
{
	struct ar_stat st;

	CHECK_EQ(ar_stat_parse("1 (x) R 0 1 1 0 -1 64", &st), AR_STAT_FLAGS);
	CHECK_EQ(st.state, 'R');
	CHECK_EQ(ar_stat_parse("1 (x)", &st), 0);
	CHECK_EQ(ar_stat_parse("1 x) R", &st), 0);
}

static void stat_and_status_of_ourselves(void)
{
	char buf[4096];
	struct ar_stat st;
	const char *v;
	uint64_t start;

	CHECK_EQ(ar_stat_read(getpid(), 0, &st), AR_STAT_PROCESSOR);
	CHECK_EQ(st.state, 'R');
	CHECK_EQ(ar_thread_state(getpid(), getpid()), 'R');
	CHECK_EQ(ar_proc_starttime(getpid(), &start), 0);
	CHECK_EQ(start, st.starttime);
	CHECK(ar_read_status(getpid(), getpid(), buf, sizeof(buf)) > 0);
	v = ar_status_field(buf, "Tgid");
	CHECK(v && atoi(v) == getpid());
	CHECK(!ar_status_field(buf, "Tgi"));
}

static void limit_of_ourselves(void)
{
	struct rlimit rl;
	bool unlimited;
	uint64_t value;

	CHECK_EQ(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(ar_read_limit(getpid(), "Max locked memory", &unlimited,
			       &value), 0);
	CHECK_EQ(unlimited, rl.rlim_cur == RLIM_INFINITY);
	CHECK_EQ(value, unlimited ? 0 : rl.rlim_cur);
	CHECK_EQ(ar_read_limit(getpid(), "Max nothing", &unlimited, &value),
		 -ENODATA);
}

int main(void)
{
	TAP_RUN(stat_fields_after_any_comm);
	TAP_RUN(stat_cut_short);
	TAP_RUN(stat_and_status_of_ourselves);
	TAP_RUN(limit_of_ourselves);
	return tap_done();
}
