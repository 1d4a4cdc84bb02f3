// SPDX-License-Identifier: GPL-2.0-or-later
/* anonremap stat: report the fragmentation of processes.  Never writes. */
#include <argp.h>
#include <errno.h>
#include <libsmartcols.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"

enum {
	COL_PID, COL_COMM, COL_VMAS, COL_ANON, COL_SPLITS, COL_RUNS,
	COL_SPLIT_SIZE, COL_SPLIT_RSS, COL_MAX_MAP, COL_MAP_USE,
};

static const struct colinfo proc_cols[] = {
	[COL_PID] = { "PID", 7, SCOLS_FL_RIGHT, "process id" },
	[COL_COMM] = { "COMM", 0.1, SCOLS_FL_TRUNC, "command name" },
	[COL_VMAS] = { "VMAS", 6, SCOLS_FL_RIGHT, "VMAs (what vm.max_map_count limits)" },
	[COL_ANON] = { "ANON", 6, SCOLS_FL_RIGHT, "anonymous private VMAs" },
	[COL_SPLITS] = { "SPLITS", 6, SCOLS_FL_RIGHT, "boundaries between equal VMAs the kernel cannot merge" },
	[COL_RUNS] = { "RUNS", 4, SCOLS_FL_RIGHT, "chains of VMAs joined by splits" },
	[COL_SPLIT_SIZE] = { "SPLIT-SIZE", 5, SCOLS_FL_RIGHT, "bytes mapped by VMAs in runs" },
	[COL_SPLIT_RSS] = { "SPLIT-RSS", 5, SCOLS_FL_RIGHT, "resident bytes in VMAs in runs" },
	[COL_MAX_MAP] = { "MAX-MAP", 6, SCOLS_FL_RIGHT, "vm.max_map_count" },
	[COL_MAP_USE] = { "MAP-USE", 5, SCOLS_FL_RIGHT, "VMAS as a share of vm.max_map_count" },
};

static const int default_proc_cols[] = {
	COL_PID, COL_COMM, COL_VMAS, COL_ANON, COL_SPLITS, COL_RUNS,
	COL_SPLIT_RSS, COL_MAP_USE,
};

enum {
	RCOL_PID, RCOL_START, RCOL_END, RCOL_VMAS, RCOL_SIZE, RCOL_RSS,
	RCOL_THP, RCOL_SWAP, RCOL_BLOCKERS,
};

static const struct colinfo run_cols[] = {
	[RCOL_PID] = { "PID", 7, SCOLS_FL_RIGHT, "process id" },
	[RCOL_START] = { "START", 14, SCOLS_FL_RIGHT, "first address of the run" },
	[RCOL_END] = { "END", 14, SCOLS_FL_RIGHT, "address after the run" },
	[RCOL_VMAS] = { "VMAS", 6, SCOLS_FL_RIGHT, "VMAs in the run" },
	[RCOL_SIZE] = { "SIZE", 5, SCOLS_FL_RIGHT, "bytes mapped" },
	[RCOL_RSS] = { "RSS", 5, SCOLS_FL_RIGHT, "resident bytes" },
	[RCOL_THP] = { "THP", 5, SCOLS_FL_RIGHT, "bytes in PMD-mapped huge pages (AnonHugePages)" },
	[RCOL_SWAP] = { "SWAP", 5, SCOLS_FL_RIGHT, "bytes swapped out" },
	[RCOL_BLOCKERS] = { "BLOCKERS", 0.2, 0, "what would block a repair: shared, mlocked, uffd, guard" },
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_COLUMNS 64

struct stat_args {
	bool verbose, json, raw, noheadings, bytes;
	int cols[MAX_COLUMNS];
	size_t ncols;
	struct thresholds thresholds;
	pid_t *pids;
	size_t npids;
};

enum {
	OPT_THRESHOLD_SPLITS = 0x100,
	OPT_THRESHOLD_MAP_USE,
};

static const struct argp_option stat_options[] = {
	{ "verbose", 'v', NULL, 0, "Add one row per run of split VMAs, with blockers", 0 },
	{ "output", 'o', "LIST", 0, "Columns to print (see below); +LIST appends", 0 },
	{ "json", 'J', NULL, 0, "Print JSON (keys in anonremap(8))", 0 },
	{ "raw", 'r', NULL, 0, "Raw output: no alignment", 0 },
	{ "noheadings", 'n', NULL, 0, "Do not print headings", 0 },
	{ "bytes", 'b', NULL, 0, "Print sizes in bytes", 0 },
	{ "threshold-splits", OPT_THRESHOLD_SPLITS, "N", 0,
	  "Exit 3 when a process has N or more splits", 1 },
	{ "threshold-map-use", OPT_THRESHOLD_MAP_USE, "PERCENT", 0,
	  "Exit 3 when a process uses PERCENT of vm.max_map_count", 1 },
	{ NULL }
};

static error_t stat_parse(int key, char *arg, struct argp_state *state)
{
	struct stat_args *a = state->input;
	char *end;

	switch (key) {
	case 'v':
		a->verbose = true;
		break;
	case 'o':
		if (!parse_columns(arg, proc_cols, NCOLS(proc_cols), a->cols,
				   &a->ncols, MAX_COLUMNS))
			argp_error(state, "invalid --output list");
		break;
	case 'J':
		a->json = true;
		break;
	case 'r':
		a->raw = true;
		break;
	case 'n':
		a->noheadings = true;
		break;
	case 'b':
		a->bytes = true;
		break;
	case OPT_THRESHOLD_SPLITS:
		errno = 0;
		a->thresholds.splits = strtoul(arg, &end, 10);
		if (errno || *end || arg[0] < '0' || arg[0] > '9' ||
		    !a->thresholds.splits)
			argp_error(state, "--threshold-splits: '%s' is not a positive number",
				   arg);
		break;
	case OPT_THRESHOLD_MAP_USE:
		if (!parse_threshold_percent(arg, &a->thresholds.map_use))
			argp_error(state, "--threshold-map-use: '%s' is not a percentage (0-100)",
				   arg);
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
	char *procs, *runs, *buf = NULL;

	(void)input;
	if (key != ARGP_KEY_HELP_POST_DOC)
		return (char *)text;
	procs = columns_help("Columns (default: PID,COMM,VMAS,ANON,SPLITS,RUNS,SPLIT-RSS,MAP-USE)",
			     proc_cols, NCOLS(proc_cols));
	runs = columns_help("Run columns (-v)", run_cols, NCOLS(run_cols));
	if (procs && runs && asprintf(&buf, "%s\n%s\n%s", procs, runs, text) < 0)
		buf = NULL;
	free(procs);
	free(runs);
	return buf ? buf : (char *)text;
}

static struct libscols_table *new_table(const struct stat_args *a,
					const char *name)
{
	struct libscols_table *tb = scols_new_table();

	if (!tb) {
		cli_error("out of memory");
		exit(EXIT_FAIL);
	}
	scols_table_set_name(tb, name);
	scols_table_enable_raw(tb, a->raw);
	scols_table_enable_noheadings(tb, a->noheadings);
	return tb;
}

static void add_column(struct libscols_table *tb, const struct colinfo *ci)
{
	if (!scols_table_new_column(tb, ci->name, ci->whint, ci->flags)) {
		cli_error("out of memory");
		exit(EXIT_FAIL);
	}
}

static void set_cell(struct libscols_line *ln, size_t col, const char *fmt, ...)
	CLI_PRINTF(3, 4);

static void set_cell(struct libscols_line *ln, size_t col, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0 || scols_line_refer_data(ln, col, s)) {
		cli_error("out of memory");
		exit(EXIT_FAIL);
	}
}

static struct libscols_line *new_line(struct libscols_table *tb)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);

	if (!ln) {
		cli_error("out of memory");
		exit(EXIT_FAIL);
	}
	return ln;
}

static void proc_row(struct libscols_table *tb, const struct stat_args *a,
		     const struct ar_summary *s)
{
	struct libscols_line *ln = new_line(tb);
	char size[32];
	size_t i;

	for (i = 0; i < a->ncols; i++) {
		switch (a->cols[i]) {
		case COL_PID:
			set_cell(ln, i, "%d", (int)s->pid);
			break;
		case COL_COMM:
			set_cell(ln, i, "%s", s->comm);
			break;
		case COL_VMAS:
			set_cell(ln, i, "%zu", s->vmas);
			break;
		case COL_ANON:
			set_cell(ln, i, "%zu", s->anon_vmas);
			break;
		case COL_SPLITS:
			set_cell(ln, i, "%zu", s->splits);
			break;
		case COL_RUNS:
			set_cell(ln, i, "%zu", s->runs);
			break;
		case COL_SPLIT_SIZE:
			format_size(size, sizeof(size), s->split_bytes, a->bytes);
			set_cell(ln, i, "%s", size);
			break;
		case COL_SPLIT_RSS:
			format_size(size, sizeof(size), s->split_rss_bytes, a->bytes);
			set_cell(ln, i, "%s", size);
			break;
		case COL_MAX_MAP:
			set_cell(ln, i, "%zu", s->max_map_count);
			break;
		case COL_MAP_USE:
			set_cell(ln, i, "%.0f%%", map_use_percent(s));
			break;
		}
	}
}

/* "shared,mlocked" or "-" */
static void blockers_string(char *buf, size_t len, unsigned int blockers)
{
	unsigned int bit;
	size_t used = 0;

	buf[0] = '\0';
	for (bit = 1; bit & AR_BLOCK_ALL; bit <<= 1) {
		if (!(blockers & bit))
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? "," : "",
				 ar_blocker_name(bit));
		if (used >= len)
			break;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void run_rows(struct libscols_table *tb, const struct stat_args *a,
		     const struct ar_proc *proc)
{
	size_t i, n = ar_proc_nruns(proc);
	pid_t pid;
	struct ar_summary s;
	char buf[64];

	ar_proc_summary(proc, &s);
	pid = s.pid;
	for (i = 0; i < n; i++) {
		const struct ar_run *r = ar_proc_run(proc, i);
		struct libscols_line *ln = new_line(tb);

		set_cell(ln, RCOL_PID, "%d", (int)pid);
		set_cell(ln, RCOL_START, "0x%llx", (unsigned long long)r->start);
		set_cell(ln, RCOL_END, "0x%llx", (unsigned long long)r->end);
		set_cell(ln, RCOL_VMAS, "%zu", r->vmas);
		format_size(buf, sizeof(buf), r->bytes, a->bytes);
		set_cell(ln, RCOL_SIZE, "%s", buf);
		format_size(buf, sizeof(buf), r->rss_bytes, a->bytes);
		set_cell(ln, RCOL_RSS, "%s", buf);
		format_size(buf, sizeof(buf), r->thp_bytes, a->bytes);
		set_cell(ln, RCOL_THP, "%s", buf);
		format_size(buf, sizeof(buf), r->swap_bytes, a->bytes);
		set_cell(ln, RCOL_SWAP, "%s", buf);
		blockers_string(buf, sizeof(buf), r->blockers);
		set_cell(ln, RCOL_BLOCKERS, "%s", buf);
	}
}

static void print_tables(const struct stat_args *a, struct ar_proc **procs,
			 size_t nprocs)
{
	struct libscols_table *tb = new_table(a, "processes");
	struct libscols_table *runs = NULL;
	size_t i, nruns = 0;

	for (i = 0; i < a->ncols; i++)
		add_column(tb, &proc_cols[a->cols[i]]);
	for (i = 0; i < nprocs; i++) {
		struct ar_summary s;

		ar_proc_summary(procs[i], &s);
		proc_row(tb, a, &s);
		nruns += ar_proc_nruns(procs[i]);
	}
	if (nprocs)
		scols_print_table(tb);
	scols_unref_table(tb);
	if (!a->verbose || !nruns)
		return;

	runs = new_table(a, "runs");
	for (i = 0; i < NCOLS(run_cols); i++)
		add_column(runs, &run_cols[i]);
	for (i = 0; i < nprocs; i++)
		run_rows(runs, a, procs[i]);
	putchar('\n');
	scols_print_table(runs);
	scols_unref_table(runs);
}

static void json_run(struct json *j, const struct ar_run *r)
{
	unsigned int bit;
	char addr[32];

	json_open(j, NULL, '{');
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)r->start);
	json_string(j, "start", addr);
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)r->end);
	json_string(j, "end", addr);
	json_u64(j, "vmas", r->vmas);
	json_u64(j, "bytes", r->bytes);
	json_u64(j, "rss_bytes", r->rss_bytes);
	json_u64(j, "thp_bytes", r->thp_bytes);
	json_u64(j, "swap_bytes", r->swap_bytes);
	json_open(j, "blockers", '[');
	for (bit = 1; bit & AR_BLOCK_ALL; bit <<= 1)
		if (r->blockers & bit)
			json_string(j, NULL, ar_blocker_name(bit));
	json_close(j, ']');
	json_close(j, '}');
}

static void print_json(const struct stat_args *a, struct ar_proc **procs,
		       size_t nprocs)
{
	struct json j;
	size_t i, r;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_open(&j, "processes", '[');
	for (i = 0; i < nprocs; i++) {
		struct ar_summary s;

		ar_proc_summary(procs[i], &s);
		json_open(&j, NULL, '{');
		json_u64(&j, "pid", (uint64_t)s.pid);
		json_string(&j, "comm", s.comm);
		json_u64(&j, "vmas", s.vmas);
		json_u64(&j, "anon_vmas", s.anon_vmas);
		json_u64(&j, "splits", s.splits);
		json_u64(&j, "runs", s.runs);
		json_u64(&j, "split_bytes", s.split_bytes);
		json_u64(&j, "split_rss_bytes", s.split_rss_bytes);
		json_u64(&j, "map_count", s.vmas);
		json_u64(&j, "max_map_count", s.max_map_count);
		if (a->verbose) {
			json_open(&j, "runs_detail", '[');
			for (r = 0; r < ar_proc_nruns(procs[i]); r++)
				json_run(&j, ar_proc_run(procs[i], r));
			json_close(&j, ']');
		}
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	json_finish(&j);
}

int cmd_stat(int argc, char **argv)
{
	static const struct argp argp = {
		stat_options, stat_parse, "PID...",
		"Report the anonymous VMA fragmentation of processes."
		"\vA split is a boundary between two touching anonymous private "
		"VMAs that show equal attributes yet were not merged; a run is "
		"a chain of VMAs joined by splits. Exit status: 0 ok, 1 a "
		"process could not be read, 2 usage error, 3 a --threshold-* "
		"was reached (takes precedence over 1).",
		cli_common_children, stat_help_filter, NULL
	};
	struct stat_args a = { .thresholds = { .map_use = -1 } };
	struct ar_ctx *ctx = cli_ctx();
	struct ar_proc **procs;
	size_t i, nprocs = 0;
	bool failed = false, reached = false;

	a.pids = calloc(argc, sizeof(*a.pids));
	procs = calloc(argc, sizeof(*procs));
	if (!a.pids || !procs) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	memcpy(a.cols, default_proc_cols, sizeof(default_proc_cols));
	a.ncols = NCOLS(default_proc_cols);
	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &a);

	for (i = 0; i < a.npids; i++) {
		struct ar_summary s;
		int ret = ar_proc_read(ctx, a.pids[i],
				       a.verbose ? AR_READ_BLOCKERS : 0,
				       &procs[nprocs]);

		if (ret) {
			cli_error("%s", ar_ctx_errmsg(ctx));
			failed = true;
			continue;
		}
		ar_proc_summary(procs[nprocs], &s);
		if (threshold_reached(&a.thresholds, &s))
			reached = true;
		nprocs++;
	}
	if (a.json)
		print_json(&a, procs, nprocs);
	else
		print_tables(&a, procs, nprocs);

	for (i = 0; i < nprocs; i++)
		ar_proc_free(procs[i]);
	free(procs);
	free(a.pids);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on standard output");
		return EXIT_FAIL;
	}
	if (reached)
		return EXIT_THRESHOLD;
	return failed ? EXIT_FAIL : EXIT_OK;
}
