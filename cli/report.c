// SPDX-License-Identifier: GPL-2.0-or-later
/* Output of stat and top: tables, JSON, Prometheus text format. */
#include <argp.h>
#include <errno.h>
#include <libsmartcols.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "report.h"

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

static const int default_cols[] = {
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
	[RCOL_BLOCKERS] = { "BLOCKERS", 0.2, 0, "what would block a repair: shared, uffd, guard, pinned" },
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static void oom(void)
{
	cli_error("out of memory");
	exit(EXIT_FAIL);
}

void report_init(struct report *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->cols, default_cols, sizeof(default_cols));
	r->ncols = NCOLS(default_cols);
	r->thresholds.map_use = -1;
}

char *report_help_filter(int key, const char *text, bool with_run_columns)
{
	char *procs, *runs = NULL, *buf = NULL;

	if (key != ARGP_KEY_HELP_POST_DOC)
		return (char *)text;
	procs = columns_help("Columns (default: PID,COMM,VMAS,ANON,SPLITS,RUNS,"
			     "SPLIT-RSS,MAP-USE)", proc_cols, NCOLS(proc_cols));
	if (with_run_columns)
		runs = columns_help("Run columns (-v)", run_cols, NCOLS(run_cols));
	if (procs && asprintf(&buf, "%s\n%s%s%s", procs,
			      runs ? runs : "", runs ? "\n" : "", text) < 0)
		buf = NULL;
	free(procs);
	free(runs);
	return buf ? buf : (char *)text;
}

enum {
	OPT_THRESHOLD_SPLITS = 0x200,
	OPT_THRESHOLD_MAP_USE,
	OPT_PROMETHEUS,
	OPT_PROMETHEUS_FILE,
};

static const struct argp_option report_options[] = {
	{ "output", 'o', "LIST", 0, "Columns to print (see below); +LIST appends", 0 },
	{ "json", 'J', NULL, 0, "Print JSON (keys in anonremap(8))", 0 },
	{ "raw", 'r', NULL, 0, "Raw output: no alignment", 0 },
	{ "noheadings", 'n', NULL, 0, "Do not print headings", 0 },
	{ "bytes", 'b', NULL, 0, "Print sizes in bytes", 0 },
	{ "prometheus", OPT_PROMETHEUS, NULL, 0,
	  "Print metrics in the Prometheus text format", 0 },
	{ "prometheus-file", OPT_PROMETHEUS_FILE, "PATH", 0,
	  "Write the metrics to PATH atomically (temporary file and rename) "
	  "instead of printing", 0 },
	{ "threshold-splits", OPT_THRESHOLD_SPLITS, "N", 0,
	  "Exit 3 when a process has N or more splits", 1 },
	{ "threshold-map-use", OPT_THRESHOLD_MAP_USE, "PERCENT", 0,
	  "Exit 3 when a process uses PERCENT of vm.max_map_count", 1 },
	{ NULL }
};

static error_t report_parse(int key, char *arg, struct argp_state *state)
{
	struct report *r = state->input;
	unsigned long v;
	char *end;

	switch (key) {
	case 'o':
		if (!parse_columns(arg, proc_cols, NCOLS(proc_cols), r->cols,
				   &r->ncols, MAX_COLUMNS))
			argp_error(state, "invalid --output list");
		break;
	case 'J':
		r->json = true;
		break;
	case 'r':
		r->raw = true;
		break;
	case 'n':
		r->noheadings = true;
		break;
	case 'b':
		r->bytes = true;
		break;
	case OPT_PROMETHEUS:
		r->prometheus = true;
		break;
	case OPT_PROMETHEUS_FILE:
		if (!*arg)
			argp_error(state, "--prometheus-file: empty path");
		r->prometheus = true;
		r->prometheus_file = arg;
		break;
	case OPT_THRESHOLD_SPLITS:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || arg[0] < '0' || arg[0] > '9' || !v)
			argp_error(state, "--threshold-splits: '%s' is not a positive number",
				   arg);
		r->thresholds.splits = v;
		break;
	case OPT_THRESHOLD_MAP_USE:
		if (!parse_threshold_percent(arg, &r->thresholds.map_use))
			argp_error(state, "--threshold-map-use: '%s' is not a percentage (0-100)",
				   arg);
		break;
	case ARGP_KEY_END:
		if (r->json && r->prometheus)
			argp_error(state, "--json and --prometheus exclude each other");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp report_argp = {
	report_options, report_parse, NULL, NULL, NULL, NULL, NULL
};

int scan_add(struct scan *s, const struct report *r, pid_t pid,
	     unsigned int flags, bool complain)
{
	struct ar_ctx *ctx = cli_ctx();
	struct ar_summary sum;
	int ret;

	if (s->nprocs == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 64;
		struct ar_proc **n = realloc(s->procs, ncap * sizeof(*n));

		if (!n)
			oom();
		s->procs = n;
		s->cap = ncap;
	}
	ret = ar_proc_read(ctx, pid, flags, &s->procs[s->nprocs]);
	switch (ret) {
	case 0:
		ar_proc_summary(s->procs[s->nprocs++], &sum);
		if (threshold_reached(&r->thresholds, &sum))
			s->reached = true;
		return 0;
	case -ESRCH:
		s->vanished++;
		break;
	case -EACCES:
	case -EPERM:
		s->denied++;
		break;
	case -EINVAL:
		s->kernel_threads++;
		break;
	default:
		s->errors++;
	}
	if (complain)
		cli_error("%s", ar_ctx_errmsg(ctx));
	return ret;
}

void scan_free(struct scan *s)
{
	size_t i;

	for (i = 0; i < s->nprocs; i++)
		ar_proc_free(s->procs[i]);
	free(s->procs);
	s->procs = NULL;
	s->nprocs = s->cap = 0;
}

static struct libscols_table *new_table(const struct report *r, const char *name)
{
	struct libscols_table *tb = scols_new_table();

	if (!tb)
		oom();
	scols_table_set_name(tb, name);
	scols_table_enable_raw(tb, r->raw);
	scols_table_enable_noheadings(tb, r->noheadings);
	return tb;
}

static void add_column(struct libscols_table *tb, const struct colinfo *ci)
{
	if (!scols_table_new_column(tb, ci->name, ci->whint, ci->flags))
		oom();
}

static void set_cell(struct libscols_line *ln, size_t col, const char *fmt, ...)
	CLI_PRINTF(3, 4);

static void set_cell(struct libscols_line *ln, size_t col, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0 || scols_line_refer_data(ln, col, s))
		oom();
}

static void set_size(struct libscols_line *ln, size_t col, uint64_t val,
		     bool bytes)
{
	char buf[32];

	format_size(buf, sizeof(buf), val, bytes);
	set_cell(ln, col, "%s", buf);
}

static struct libscols_line *new_line(struct libscols_table *tb)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);

	if (!ln)
		oom();
	return ln;
}

static void proc_row(struct libscols_table *tb, const struct report *r,
		     const struct ar_summary *s)
{
	struct libscols_line *ln = new_line(tb);
	size_t i;

	for (i = 0; i < r->ncols; i++) {
		switch (r->cols[i]) {
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
			set_size(ln, i, s->split_bytes, r->bytes);
			break;
		case COL_SPLIT_RSS:
			set_size(ln, i, s->split_rss_bytes, r->bytes);
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

/* "shared,uffd" or "-" */
static void blockers_string(char *buf, size_t len, unsigned int blockers)
{
	unsigned int bit;
	size_t used = 0;

	buf[0] = '\0';
	for (bit = 1; bit <= AR_BLOCK_ALL; bit <<= 1) {
		if (!(blockers & bit & AR_BLOCK_ALL))
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? "," : "",
				 ar_blocker_name(bit));
		if (used >= len)
			break;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void run_rows(struct libscols_table *tb, const struct report *r,
		     const struct ar_proc *proc)
{
	size_t i, n = ar_proc_nruns(proc);
	struct ar_summary s;
	char buf[64];

	ar_proc_summary(proc, &s);
	for (i = 0; i < n; i++) {
		const struct ar_run *run = ar_proc_run(proc, i);
		struct libscols_line *ln = new_line(tb);

		set_cell(ln, RCOL_PID, "%d", (int)s.pid);
		set_cell(ln, RCOL_START, "0x%llx", (unsigned long long)run->start);
		set_cell(ln, RCOL_END, "0x%llx", (unsigned long long)run->end);
		set_cell(ln, RCOL_VMAS, "%zu", run->vmas);
		set_size(ln, RCOL_SIZE, run->bytes, r->bytes);
		set_size(ln, RCOL_RSS, run->rss_bytes, r->bytes);
		set_size(ln, RCOL_THP, run->thp_bytes, r->bytes);
		set_size(ln, RCOL_SWAP, run->swap_bytes, r->bytes);
		blockers_string(buf, sizeof(buf), run->blockers);
		set_cell(ln, RCOL_BLOCKERS, "%s", buf);
	}
}

struct totals {
	size_t vmas, splits;
	const struct ar_summary *worst;	/* highest map use */
	struct ar_summary worst_buf;
};

static void compute_totals(const struct scan *s, struct totals *t)
{
	double worst = -1;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < s->nprocs; i++) {
		struct ar_summary sum;

		ar_proc_summary(s->procs[i], &sum);
		t->vmas += sum.vmas;
		t->splits += sum.splits;
		if (map_use_percent(&sum) > worst) {
			worst = map_use_percent(&sum);
			t->worst_buf = sum;
			t->worst = &t->worst_buf;
		}
	}
}

static void print_summary_line(const struct scan *s)
{
	struct totals t;

	compute_totals(s, &t);
	printf("processes %zu, skipped %zu (vanished %zu, denied %zu, errors %zu), "
	       "VMAs %zu, splits %zu", s->nprocs,
	       s->vanished + s->denied + s->errors, s->vanished, s->denied,
	       s->errors, t.vmas, t.splits);
	if (t.worst)
		printf(", worst MAP-USE %.0f%% (pid %d %s)",
		       map_use_percent(t.worst), (int)t.worst->pid, t.worst->comm);
	putchar('\n');
}

/* How many of the scanned processes to print. */
static size_t shown(const struct scan *s)
{
	return s->limit && s->limit < s->nprocs ? s->limit : s->nprocs;
}

static void print_tables(const struct report *r, const struct scan *s,
			 bool summary)
{
	struct libscols_table *tb;
	size_t i, nruns = 0;

	if (summary && !r->raw && !r->noheadings)
		print_summary_line(s);
	if (!s->nprocs)
		return;
	tb = new_table(r, "processes");
	for (i = 0; i < r->ncols; i++)
		add_column(tb, &proc_cols[r->cols[i]]);
	for (i = 0; i < shown(s); i++) {
		struct ar_summary sum;

		ar_proc_summary(s->procs[i], &sum);
		proc_row(tb, r, &sum);
		nruns += ar_proc_nruns(s->procs[i]);
	}
	scols_print_table(tb);
	scols_unref_table(tb);
	if (!r->verbose || !nruns)
		return;

	tb = new_table(r, "runs");
	for (i = 0; i < NCOLS(run_cols); i++)
		add_column(tb, &run_cols[i]);
	for (i = 0; i < shown(s); i++)
		run_rows(tb, r, s->procs[i]);
	putchar('\n');
	scols_print_table(tb);
	scols_unref_table(tb);
}

static void json_run(struct json *j, const struct ar_run *run)
{
	unsigned int bit;
	char addr[32];

	json_open(j, NULL, '{');
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)run->start);
	json_string(j, "start", addr);
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)run->end);
	json_string(j, "end", addr);
	json_u64(j, "vmas", run->vmas);
	json_u64(j, "bytes", run->bytes);
	json_u64(j, "rss_bytes", run->rss_bytes);
	json_u64(j, "thp_bytes", run->thp_bytes);
	json_u64(j, "swap_bytes", run->swap_bytes);
	json_open(j, "blockers", '[');
	for (bit = 1; bit <= AR_BLOCK_ALL; bit <<= 1)
		if (run->blockers & bit & AR_BLOCK_ALL)
			json_string(j, NULL, ar_blocker_name(bit));
	json_close(j, ']');
	json_close(j, '}');
}

static void json_summary(struct json *j, const struct scan *s)
{
	struct totals t;

	compute_totals(s, &t);
	json_open(j, "summary", '{');
	json_u64(j, "scanned", s->nprocs);
	json_u64(j, "vanished", s->vanished);
	json_u64(j, "denied", s->denied);
	json_u64(j, "errors", s->errors);
	json_u64(j, "vmas", t.vmas);
	json_u64(j, "splits", t.splits);
	if (t.worst) {
		json_u64(j, "worst_map_use_pid", (uint64_t)t.worst->pid);
		json_double(j, "worst_map_count_ratio", map_use_percent(t.worst) / 100);
	}
	json_close(j, '}');
}

static void print_json(const struct report *r, const struct scan *s,
		       bool summary)
{
	struct json j;
	size_t i, k;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	if (summary)
		json_summary(&j, s);
	json_open(&j, "processes", '[');
	for (i = 0; i < shown(s); i++) {
		struct ar_summary sum;

		ar_proc_summary(s->procs[i], &sum);
		json_open(&j, NULL, '{');
		json_u64(&j, "pid", (uint64_t)sum.pid);
		json_string(&j, "comm", sum.comm);
		json_u64(&j, "vmas", sum.vmas);
		json_u64(&j, "anon_vmas", sum.anon_vmas);
		json_u64(&j, "splits", sum.splits);
		json_u64(&j, "runs", sum.runs);
		json_u64(&j, "split_bytes", sum.split_bytes);
		json_u64(&j, "split_rss_bytes", sum.split_rss_bytes);
		json_u64(&j, "map_count", sum.vmas);
		json_u64(&j, "max_map_count", sum.max_map_count);
		if (r->verbose) {
			json_open(&j, "runs_detail", '[');
			for (k = 0; k < ar_proc_nruns(s->procs[i]); k++)
				json_run(&j, ar_proc_run(s->procs[i], k));
			json_close(&j, ']');
		}
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	json_finish(&j);
}

/* Label values escape backslash, double quote and newline. */
static void prom_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

enum prom_value {
	PV_VMAS, PV_ANON_VMAS, PV_SPLITS, PV_RUNS, PV_SPLIT_BYTES,
	PV_SPLIT_RSS_BYTES, PV_MAP_COUNT_RATIO,
};

static const struct {
	const char *name, *help;
} prom_metrics[] = {
	[PV_VMAS] = { "anonremap_vmas", "VMAs of the process, the count vm.max_map_count limits." },
	[PV_ANON_VMAS] = { "anonremap_anon_vmas", "Anonymous private VMAs of the process." },
	[PV_SPLITS] = { "anonremap_splits", "Boundaries between touching equal anonymous VMAs the kernel cannot merge." },
	[PV_RUNS] = { "anonremap_runs", "Chains of anonymous VMAs joined by splits." },
	[PV_SPLIT_BYTES] = { "anonremap_split_bytes", "Bytes mapped by VMAs in runs." },
	[PV_SPLIT_RSS_BYTES] = { "anonremap_split_rss_bytes", "Resident bytes in VMAs in runs." },
	[PV_MAP_COUNT_RATIO] = { "anonremap_map_count_ratio", "VMAs divided by vm.max_map_count." },
};

static void prom_sample(FILE *f, enum prom_value v, const struct ar_summary *s)
{
	fprintf(f, "%s{pid=\"%d\",comm=\"", prom_metrics[v].name, (int)s->pid);
	prom_label_value(f, s->comm);
	fputs("\"} ", f);
	switch (v) {
	case PV_VMAS:
		fprintf(f, "%zu\n", s->vmas);
		break;
	case PV_ANON_VMAS:
		fprintf(f, "%zu\n", s->anon_vmas);
		break;
	case PV_SPLITS:
		fprintf(f, "%zu\n", s->splits);
		break;
	case PV_RUNS:
		fprintf(f, "%zu\n", s->runs);
		break;
	case PV_SPLIT_BYTES:
		fprintf(f, "%llu\n", (unsigned long long)s->split_bytes);
		break;
	case PV_SPLIT_RSS_BYTES:
		fprintf(f, "%llu\n", (unsigned long long)s->split_rss_bytes);
		break;
	case PV_MAP_COUNT_RATIO:
		fprintf(f, "%.6g\n", map_use_percent(s) / 100);
		break;
	}
}

static void prom_gauge_header(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void write_prometheus(FILE *f, const struct scan *s)
{
	size_t i, v, max_map = 0;
	struct timespec now;

	for (v = 0; v < NCOLS(prom_metrics); v++) {
		prom_gauge_header(f, prom_metrics[v].name, prom_metrics[v].help);
		for (i = 0; i < shown(s); i++) {
			struct ar_summary sum;

			ar_proc_summary(s->procs[i], &sum);
			max_map = sum.max_map_count;
			prom_sample(f, (enum prom_value)v, &sum);
		}
	}
	if (max_map) {
		prom_gauge_header(f, "anonremap_map_count_limit", "vm.max_map_count.");
		fprintf(f, "anonremap_map_count_limit %zu\n", max_map);
	}
	prom_gauge_header(f, "anonremap_processes_scanned",
			  "Processes read in this scrape.");
	fprintf(f, "anonremap_processes_scanned %zu\n", s->nprocs);
	prom_gauge_header(f, "anonremap_scrape_errors",
			  "Processes that could not be read in this scrape, by reason.");
	fprintf(f, "anonremap_scrape_errors{reason=\"vanished\"} %zu\n", s->vanished);
	fprintf(f, "anonremap_scrape_errors{reason=\"denied\"} %zu\n", s->denied);
	fprintf(f, "anonremap_scrape_errors{reason=\"other\"} %zu\n", s->errors);
	prom_gauge_header(f, "anonremap_scrape_duration_seconds",
			  "Time taken to read every process.");
	fprintf(f, "anonremap_scrape_duration_seconds %.6f\n", s->seconds);
	clock_gettime(CLOCK_REALTIME, &now);
	prom_gauge_header(f, "anonremap_scrape_timestamp_seconds",
			  "When the scrape ended, in seconds since the epoch.");
	fprintf(f, "anonremap_scrape_timestamp_seconds %lld.%03ld\n",
		(long long)now.tv_sec, now.tv_nsec / 1000000);
}

/* Write to a temporary file beside path, then rename over it. */
static int write_prometheus_file(const char *path, const struct scan *s)
{
	char *tmp;
	FILE *f;
	int fd, err = 0;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		oom();
	fd = mkstemp(tmp);
	if (fd < 0) {
		cli_error("cannot create a temporary file for %s: %s", path,
			  strerror(errno));
		free(tmp);
		return EXIT_FAIL;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
	} else {
		if (fchmod(fd, 0644))
			err = errno;
		write_prometheus(f, s);
		if (fflush(f) || ferror(f) || fsync(fd))
			err = err ? err : errno;
		if (fclose(f))
			err = err ? err : errno;
	}
	if (!err && rename(tmp, path))
		err = errno;
	if (err) {
		cli_error("cannot write %s: %s", path, strerror(err));
		unlink(tmp);
	}
	free(tmp);
	return err ? EXIT_FAIL : EXIT_OK;
}

int report_print(const struct report *r, const struct scan *s, bool summary)
{
	if (r->prometheus_file)
		return write_prometheus_file(r->prometheus_file, s);
	if (r->prometheus)
		write_prometheus(stdout, s);
	else if (r->json)
		print_json(r, s, summary);
	else
		print_tables(r, s, summary);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on standard output");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
