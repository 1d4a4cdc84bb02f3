// SPDX-License-Identifier: GPL-2.0-or-later
/* anonremap stat: report the fragmentation of processes.  Never writes. */
#include <argp.h>
#include <stdlib.h>
#include <time.h>

#include "report.h"

struct stat_args {
	struct report report;
	pid_t *pids;
	size_t npids;
};

static const struct argp_option stat_options[] = {
	{ "verbose", 'v', NULL, 0, "Add one row per run of split VMAs, with blockers", 0 },
	{ NULL }
};

static error_t stat_parse(int key, char *arg, struct argp_state *state)
{
	struct stat_args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->report;
		break;
	case 'v':
		a->report.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (!parse_pid(arg, &a->pids[a->npids]))
			argp_error(state, "'%s' is not a process id", arg);
		a->npids++;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "no process id given");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static char *stat_help_filter(int key, const char *text, void *input)
{
	(void)input;
	return report_help_filter(key, text, true);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int cmd_stat(int argc, char **argv)
{
	static const struct argp_child children[] = {
		{ &report_argp, 0, NULL, 0 },
		{ &cli_common_argp, 0, NULL, -1 },
		{ NULL, 0, NULL, 0 },
	};
	static const struct argp argp = {
		stat_options, stat_parse, "PID...",
		"Report the anonymous VMA fragmentation of processes."
		"\vA split is a boundary between two touching anonymous private "
		"VMAs that show equal attributes yet were not merged; a run is "
		"a chain of VMAs joined by splits. Exit status: 0 ok, 1 a "
		"process could not be read, 2 usage error, 3 a --threshold-* "
		"was reached (takes precedence over 1).",
		children, stat_help_filter, NULL
	};
	struct stat_args a = { .npids = 0 };
	struct scan scan = { .nprocs = 0 };
	struct timespec start;
	size_t i;
	bool failed;
	int ret;

	a.pids = calloc(argc, sizeof(*a.pids));
	if (!a.pids) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	report_init(&a.report);
	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &a);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < a.npids; i++)
		scan_add(&scan, &a.report, a.pids[i],
			 a.report.verbose ? AR_READ_BLOCKERS : 0, true);
	scan.seconds = seconds_since(&start);
	failed = scan.nprocs < a.npids;
	ret = report_print(&a.report, &scan, false);
	scan_free(&scan);
	free(a.pids);
	if (scan.reached)
		return EXIT_THRESHOLD;
	return ret || failed ? EXIT_FAIL : EXIT_OK;
}
