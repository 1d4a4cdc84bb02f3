// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * anonremap top: every process the caller can read, ranked by splits or by
 * map-count use.  Processes that vanish or refuse access are counted in the
 * summary, never fatal.
 */
#include <argp.h>
#include <dlfcn.h>
#include <errno.h>
#include <libproc2/pids.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

enum sort_key { SORT_SPLITS, SORT_MAP_USE, SORT_VMAS, SORT_SPLIT_RSS };

static const char *const sort_names[] = {
	[SORT_SPLITS] = "splits",
	[SORT_MAP_USE] = "map-use",
	[SORT_VMAS] = "vmas",
	[SORT_SPLIT_RSS] = "split-rss",
};

#define DEFAULT_TABLE_LIMIT 20

struct top_args {
	struct report report;
	enum sort_key sort;
	long limit;		/* -1: the default for the output format */
	unsigned int watch;	/* seconds, 0: once */
};

enum { OPT_SORT = 0x300, OPT_LIMIT, OPT_WATCH };

static const struct argp_option top_options[] = {
	{ "sort", OPT_SORT, "KEY", 0,
	  "Rank by splits (default), map-use, vmas or split-rss", 0 },
	{ "limit", OPT_LIMIT, "N", 0,
	  "Print the first N processes (0: all; default 20 in a table, all "
	  "with --json or --prometheus)", 0 },
	{ "watch", OPT_WATCH, "SECONDS", 0,
	  "Scan again every SECONDS until interrupted", 0 },
	{ NULL }
};

static bool parse_uint(const char *arg, unsigned long max, unsigned long *val)
{
	char *end;

	if (arg[0] < '0' || arg[0] > '9')
		return false;
	errno = 0;
	*val = strtoul(arg, &end, 10);
	return !errno && !*end && *val <= max;
}

static error_t top_parse(int key, char *arg, struct argp_state *state)
{
	struct top_args *a = state->input;
	unsigned long v;
	size_t i;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->report;
		break;
	case OPT_SORT:
		for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
			if (!strcmp(arg, sort_names[i]))
				break;
		if (i == sizeof(sort_names) / sizeof(sort_names[0]))
			argp_error(state, "--sort: '%s' is not one of splits, "
				   "map-use, vmas, split-rss", arg);
		a->sort = (enum sort_key)i;
		break;
	case OPT_LIMIT:
		if (!parse_uint(arg, 1000000000, &v))
			argp_error(state, "--limit: '%s' is not a number", arg);
		a->limit = (long)v;
		break;
	case OPT_WATCH:
		if (!parse_uint(arg, 86400, &v) || !v)
			argp_error(state, "--watch: '%s' is not a number of seconds "
				   "(1-86400)", arg);
		a->watch = (unsigned int)v;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "top takes no process ids (use stat)");
		break;
	case ARGP_KEY_END:
		if (a->watch && a->report.prometheus_file)
			argp_error(state, "--watch and --prometheus-file exclude each "
				   "other (run it from a timer)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static char *top_help_filter(int key, const char *text, void *input)
{
	(void)input;
	return report_help_filter(key, text, false);
}

static double sort_value(const struct ar_proc *proc, enum sort_key key)
{
	struct ar_summary s;

	ar_proc_summary(proc, &s);
	switch (key) {
	case SORT_MAP_USE:
		return map_use_percent(&s);
	case SORT_VMAS:
		return (double)s.vmas;
	case SORT_SPLIT_RSS:
		return (double)s.split_rss_bytes;
	case SORT_SPLITS:
		break;
	}
	return (double)s.splits;
}

static enum sort_key the_sort_key;

/* Highest first; equal values by pid so the order is stable. */
static int compare_procs(const void *a, const void *b)
{
	const struct ar_proc *pa = *(struct ar_proc *const *)a;
	const struct ar_proc *pb = *(struct ar_proc *const *)b;
	double va = sort_value(pa, the_sort_key), vb = sort_value(pb, the_sort_key);
	struct ar_summary sa, sb;

	if (va != vb)
		return va < vb ? 1 : -1;
	ar_proc_summary(pa, &sa);
	ar_proc_summary(pb, &sb);
	return (sa.pid > sb.pid) - (sa.pid < sb.pid);
}

/*
 * libproc2, loaded when top needs it: linked in, it and what it pulls in
 * (libsystemd, libgcrypt, three compression libraries) cost every command
 * milliseconds at start, defrag's included.
 */
#define PROC2_SONAME "libproc2.so.0"

struct proc2 {
	__typeof__(procps_pids_new) *pids_new;
	__typeof__(procps_pids_reap) *pids_reap;
	__typeof__(procps_pids_unref) *pids_unref;
};

static int load_proc2(struct proc2 *p)
{
	void *dl = dlopen(PROC2_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		cli_error("cannot enumerate processes: %s", dlerror());
		return -1;
	}
	p->pids_new = (__typeof__(p->pids_new))dlsym(dl, "procps_pids_new");
	p->pids_reap = (__typeof__(p->pids_reap))dlsym(dl, "procps_pids_reap");
	p->pids_unref = (__typeof__(p->pids_unref))dlsym(dl,
							   "procps_pids_unref");
	if (!p->pids_new || !p->pids_reap || !p->pids_unref) {
		cli_error("cannot enumerate processes: %s lacks the pids "
			  "interface", PROC2_SONAME);
		return -1;
	}
	return 0;	/* stays loaded: top may scan again */
}

/* Every process of the system, through libproc2. */
static int scan_system(struct scan *s, const struct report *r)
{
	static struct proc2 p;
	enum pids_item items[] = { PIDS_ID_PID };
	struct pids_info *info = NULL;
	struct pids_fetch *fetch;
	struct timespec t0, t1;
	int i, ret;

	if (!p.pids_new && load_proc2(&p))
		return EXIT_FAIL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p.pids_new(&info, items, 1);
	if (ret < 0) {
		cli_error("cannot enumerate processes: %s", strerror(-ret));
		return EXIT_FAIL;
	}
	fetch = p.pids_reap(info, PIDS_FETCH_TASKS_ONLY);
	if (!fetch) {
		cli_error("cannot enumerate processes: %s", strerror(errno));
		p.pids_unref(&info);
		return EXIT_FAIL;
	}
	for (i = 0; i < fetch->counts->total; i++) {
		pid_t pid = PIDS_VAL(0, s_int, fetch->stacks[i], info);

		scan_add(s, r, pid, 0, false);
	}
	p.pids_unref(&info);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int top_once(const struct top_args *a, bool *reached)
{
	struct scan scan = { .nprocs = 0 };
	int ret = scan_system(&scan, &a->report);

	if (ret)
		return ret;
	the_sort_key = a->sort;
	qsort(scan.procs, scan.nprocs, sizeof(*scan.procs), compare_procs);
	if (a->limit > 0)
		scan.limit = (size_t)a->limit;
	else if (a->limit < 0 && !a->report.json && !a->report.prometheus)
		scan.limit = DEFAULT_TABLE_LIMIT;
	ret = report_print(&a->report, &scan, true);
	*reached = *reached || scan.reached;
	scan_free(&scan);
	return ret;
}

static int top_watch(const struct top_args *a, bool *reached)
{
	struct sigaction sa = { .sa_handler = on_interrupt };
	bool tty = isatty(STDOUT_FILENO);
	int ret = EXIT_OK;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!interrupted) {
		if (tty)
			fputs("\033[H\033[2J", stdout);
		ret = top_once(a, reached);
		if (ret)
			break;
		if (!tty)
			putchar('\n');
		fflush(stdout);
		sleep(a->watch);	/* a signal ends the sleep early */
	}
	return ret;
}

int cmd_top(int argc, char **argv)
{
	static const struct argp_child children[] = {
		{ &report_argp, 0, NULL, 0 },
		{ &cli_common_argp, 0, NULL, -1 },
		{ NULL, 0, NULL, 0 },
	};
	static const struct argp argp = {
		top_options, top_parse, NULL,
		"Rank every process the caller can read by its anonymous VMA "
		"fragmentation."
		"\vThe first line sums up the scan: processes read, processes "
		"skipped because they vanished, denied access or failed, total "
		"VMAs and splits, and the worst map-count use; -r and -n leave "
		"it out. Exit status: 0 ok, 1 the processes could not be "
		"enumerated or the output not written, 2 usage error, 3 a "
		"--threshold-* was reached by any process read.",
		children, top_help_filter, NULL
	};
	struct top_args a = { .sort = SORT_SPLITS, .limit = -1 };
	bool reached = false;
	int ret;

	report_init(&a.report);
	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &a);
	ret = a.watch ? top_watch(&a, &reached) : top_once(&a, &reached);
	if (ret)
		return ret;
	return reached ? EXIT_THRESHOLD : EXIT_OK;
}
