/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What stat and top print: the process table, the run table, JSON and the
 * Prometheus text format, and the options that choose between them.
 */
#ifndef ANONREMAP_CLI_REPORT_H
#define ANONREMAP_CLI_REPORT_H

#include <stdio.h>

#include "cli.h"

#define MAX_COLUMNS 64

struct report {
	bool verbose;		/* per-run rows and runs_detail */
	bool json, raw, noheadings, bytes, prometheus;
	const char *prometheus_file;
	int cols[MAX_COLUMNS];
	size_t ncols;
	struct thresholds thresholds;
};

/* What a scan of several processes found, for summaries and metrics. */
struct scan {
	struct ar_proc **procs;
	size_t nprocs, cap;
	size_t vanished;	/* gone or zombies before they could be read */
	size_t denied;		/* permission refused */
	size_t errors;		/* any other failure */
	size_t kernel_threads;	/* skipped: no user memory */
	size_t limit;		/* print at most this many; 0: all */
	double seconds;		/* wall time of the scan */
	bool reached;		/* a threshold was reached */
};

/* Options shared by stat and top: -o -J -r -n -b, thresholds, Prometheus. */
extern const struct argp report_argp;
void report_init(struct report *r);
/* An argp help filter's work: the columns before the text after the options. */
char *report_help_filter(int key, const char *text, bool with_run_columns);

/*
 * Read one process into the scan.  Failures are sorted into the counters;
 * when complain is true they are also reported on stderr.  Returns 0 or
 * the negative errno of the failure.
 */
int scan_add(struct scan *s, const struct report *r, pid_t pid,
	     unsigned int flags, bool complain);
void scan_free(struct scan *s);

/* Print the scan as the options ask: table, JSON or Prometheus. */
int report_print(const struct report *r, const struct scan *s, bool summary);

#endif
