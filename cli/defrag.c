// SPDX-License-Identifier: GPL-2.0-or-later
/* anonremap defrag, probe and recover. */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"

struct defrag_args {
	struct ar_defrag_opts opts;
	bool json;
	pid_t pid;
};

enum {
	OPT_MUST = 0x400, OPT_DRY_RUN, OPT_BACKEND, OPT_RANGE, OPT_MAX_PAUSE,
	OPT_UNSHARE,
};

static const struct argp_option defrag_options[] = {
	{ "must", OPT_MUST, NULL, 0,
	  "Heal every run in range or change nothing (exit 1 with the reason)", 0 },
	{ "dry-run", OPT_DRY_RUN, NULL, 0,
	  "Print the plan: runs, what blocks them, moves, VMAs after; move nothing", 0 },
	{ "backend", OPT_BACKEND, "NAME", 0,
	  "auto (default: relocate, else uffd-move), relocate, uffd-move, or "
	  "copy (any kernel, slower; only when asked); see 'anonremap probe'", 0 },
	{ "range", OPT_RANGE, "START-END", 0,
	  "Only the VMAs inside this address range (hexadecimal)", 0 },
	{ "max-pause", OPT_MAX_PAUSE, "MS", 0,
	  "Stop the process at most about MS milliseconds at a time; a run "
	  "too big for one stop ends as a few VMAs", 0 },
	{ "unshare", OPT_UNSHARE, NULL, 0,
	  "Rewrite in place pages a finished fork left unmovable (never pages "
	  "still shared with a live process)", 0 },
	{ "json", 'J', NULL, 0, "Print JSON", 0 },
	{ NULL }
};

static bool parse_hex_u64(const char *s, const char *end, uint64_t *val)
{
	char *stop;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (s == end || !strchr("0123456789abcdefABCDEF", *s))
		return false;
	errno = 0;
	*val = strtoull(s, &stop, 16);
	return !errno && stop == end;
}

static bool parse_range(const char *arg, uint64_t *start, uint64_t *end)
{
	const char *dash = strchr(arg, '-');

	return dash && parse_hex_u64(arg, dash, start) &&
	       parse_hex_u64(dash + 1, dash + strlen(dash), end) && *end > *start;
}

static error_t defrag_parse(int key, char *arg, struct argp_state *state)
{
	struct defrag_args *a = state->input;

	switch (key) {
	case OPT_MUST:
		a->opts.must = 1;
		break;
	case OPT_DRY_RUN:
		a->opts.dry_run = 1;
		break;
	case OPT_UNSHARE:
		a->opts.unshare = 1;
		break;
	case OPT_BACKEND:
		if (ar_backend_parse(arg, &a->opts.backend))
			argp_error(state, "--backend: '%s' is not one of auto, "
				   "relocate, uffd-move, copy", arg);
		break;
	case OPT_RANGE:
		if (!parse_range(arg, &a->opts.start, &a->opts.end))
			argp_error(state, "--range: '%s' is not START-END in "
				   "hexadecimal with START < END", arg);
		break;
	case OPT_MAX_PAUSE: {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || arg[0] < '0' || arg[0] > '9' || !v ||
		    v > 3600000)
			argp_error(state, "--max-pause: '%s' is not a number of "
				   "milliseconds (1-3600000)", arg);
		a->opts.max_pause_ms = (unsigned int)v;
		break;
	}
	case 'J':
		a->json = true;
		break;
	default:
		return parse_single_pid(key, arg, state, &a->pid);
	}
	return 0;
}

static const char *fate_name(enum ar_run_fate fate)
{
	switch (fate) {
	case AR_RUN_PLANNED:
		return "planned";
	case AR_RUN_HEALED:
		return "healed";
	case AR_RUN_SKIPPED:
		return "skipped";
	case AR_RUN_FAILED:
		return "failed";
	}
	return "?";
}

static size_t count_fate(const struct ar_defrag_report *r, enum ar_run_fate fate)
{
	size_t i, n = 0;

	for (i = 0; i < r->nruns; i++)
		n += r->runs[i].fate == fate;
	return n;
}

/*
 * Under --max-pause, stops that took longer, with what a stop costs
 * whatever its size: a process with many threads takes long to stop.
 */
static void print_pause_bound(const struct ar_defrag_report *r,
			      unsigned int max_pause_ms)
{
	if (!max_pause_ms || !r->pauses_over)
		return;
	printf("  --max-pause %u: %zu of %zu stops took longer", max_pause_ms,
	       r->pauses_over, r->pauses);
	if (r->stop_floor_ns)
		printf("; stopping, checking and resuming the process (%zu "
		       "threads) alone took %.1f ms at best", r->threads,
		       (double)r->stop_floor_ns / 1e6);
	putchar('\n');
}

static void print_text(const struct ar_defrag_report *r, bool dry,
		       unsigned int max_pause_ms)
{
	char moved[32];
	size_t i;

	format_size(moved, sizeof(moved), r->bytes_moved, false);
	if (dry) {
		printf("pid %d (%s): would heal %zu of %zu runs: splits %zu → %zu; "
		       "VMAs %zu → %zu", (int)r->pid, r->comm,
		       count_fate(r, AR_RUN_PLANNED), r->nruns, r->splits_before,
		       r->splits_after, r->vmas_before, r->vmas_after);
		if (r->moves)
			printf("; would move %s in %zu moves", moved, r->moves);
		printf("; backend %s\n", ar_backend_name(r->backend));
	} else {
		printf("pid %d (%s): %zu splits in %zu runs → %zu; VMAs %zu → %zu; "
		       "moved %s; paused %.1f ms max", (int)r->pid,
		       r->comm, r->splits_before, r->nruns, r->splits_after,
		       r->vmas_before, r->vmas_after, moved,
		       (double)r->pause_ns / 1e6);
		if (r->pauses > 1)
			printf(" (%zu stops)", r->pauses);
		printf("; backend %s\n", ar_backend_name(r->backend));
		print_pause_bound(r, max_pause_ms);
	}
	if (r->note[0])
		printf("  note: %s\n", r->note);
	for (i = 0; i < r->nruns; i++) {
		const struct ar_defrag_run *run = &r->runs[i];

		if (!dry && run->fate == AR_RUN_HEALED && run->vmas_after == 1)
			continue;
		printf("  run 0x%" PRIx64 "-0x%" PRIx64 " (%zu VMAs): %s",
		       run->start, run->end, run->vmas, fate_name(run->fate));
		if (run->vmas_after > 1 && run->vmas_after < run->vmas)
			printf(" into %zu VMAs%s", run->vmas_after,
			       run->reason[0] ? "" : " (--max-pause)");
		printf("%s%s\n", run->reason[0] ? ": " : "", run->reason);
	}
}

static void print_json(const struct ar_defrag_report *r, bool dry)
{
	struct json j;
	char addr[32];
	size_t i;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_u64(&j, "pid", (uint64_t)r->pid);
	json_string(&j, "comm", r->comm);
	json_string(&j, "backend", ar_backend_name(r->backend));
	json_string(&j, "mode", dry ? "dry-run" : "defrag");
	json_u64(&j, "splits_before", r->splits_before);
	json_u64(&j, "splits_after", r->splits_after);
	json_u64(&j, "vmas_before", r->vmas_before);
	json_u64(&j, "vmas_after", r->vmas_after);
	json_u64(&j, "bytes_moved", r->bytes_moved);
	json_u64(&j, "moves", r->moves);
	json_double(&j, "pause_ms", (double)r->pause_ns / 1e6);
	json_double(&j, "pause_total_ms", (double)r->pause_total_ns / 1e6);
	json_u64(&j, "pauses", r->pauses);
	json_u64(&j, "pauses_over_max", r->pauses_over);
	json_double(&j, "stop_floor_ms", (double)r->stop_floor_ns / 1e6);
	json_u64(&j, "threads", r->threads);
	json_string(&j, "note", r->note);
	json_open(&j, "runs", '[');
	for (i = 0; i < r->nruns; i++) {
		const struct ar_defrag_run *run = &r->runs[i];

		json_open(&j, NULL, '{');
		snprintf(addr, sizeof(addr), "0x%" PRIx64, run->start);
		json_string(&j, "start", addr);
		snprintf(addr, sizeof(addr), "0x%" PRIx64, run->end);
		json_string(&j, "end", addr);
		json_u64(&j, "vmas", run->vmas);
		json_u64(&j, "vmas_after", run->vmas_after);
		json_u64(&j, "moves", run->moves);
		json_string(&j, "fate", fate_name(run->fate));
		json_string(&j, "reason", run->reason);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	json_finish(&j);
}

/* "defrag: 1234/59877 VMAs" on a terminal, rewritten in place. */
static void show_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "\rdefrag: %zu/%zu VMAs", done, total);
	if (done == total)
		fputs("\r\033[K", stderr);
}

static int flush_stdout(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on standard output");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static const struct argp_child common_children[] = {
	{ &cli_common_argp, 0, NULL, -1 },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * While the defrag runs, SIGINT, SIGTERM and SIGHUP (a closed terminal)
 * ask it to begin no new stop, so that the process is never left stopped
 * by a tool that died in a stop; SIGPIPE is ignored (a write fails
 * instead).  old[] gets the dispositions to put back.
 */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
#define NSTOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static void catch_stop_signals(struct sigaction old[])
{
	struct sigaction sa = { .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSTOP_SIGNALS; i++) {
		sa.sa_handler = stop_signals[i] == SIGPIPE ? SIG_IGN :
				on_stop_signal;
		sigaction(stop_signals[i], &sa, &old[i]);
	}
}

static void restore_stop_signals(const struct sigaction old[])
{
	for (size_t i = 0; i < NSTOP_SIGNALS; i++)
		sigaction(stop_signals[i], &old[i], NULL);
}

int cmd_defrag(int argc, char **argv)
{
	static const struct argp argp = {
		defrag_options, defrag_parse, "PID",
		"Merge the runs of split anonymous VMAs of a live process, from "
		"inside it, without changing one byte of its memory."
		"\vThe process is stopped (SIGSTOP and ptrace) while its pages "
		"move. Runs whose pages are shared with another process, "
		"pinned as io_uring fixed buffers, registered with userfaultfd "
		"or guarded are skipped and reported; "
		"mlocked runs stay mlocked. Exit status: 0 every run that could be healed was, 1 "
		"nothing done or a run failed (it was moved back) or --must "
		"refused, 2 usage error.",
		common_children, NULL, NULL
	};
	struct defrag_args a = { .opts.backend = AR_BACKEND_AUTO };
	struct sigaction old_actions[NSTOP_SIGNALS];
	struct ar_defrag_report *report = NULL;
	struct ar_ctx *ctx = cli_ctx();
	int ret, status;

	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &a);
	if (isatty(STDERR_FILENO))
		a.opts.progress = show_progress;
	a.opts.stop = &stop_requested;
	catch_stop_signals(old_actions);
	ret = ar_defrag(ctx, a.pid, &a.opts, &report);
	restore_stop_signals(old_actions);
	/*
	 * Refused before anything was done (the process could not be
	 * stopped, say): the error says it all, in one line; JSON still
	 * gives the runs and their reasons.
	 */
	if (report && !a.json && ret && ret != -EAGAIN && !report->pauses &&
	    (a.opts.dry_run || !report->bytes_moved)) {
		ar_defrag_report_free(report);
		report = NULL;
	}
	if (report) {
		if (a.json)
			print_json(report, a.opts.dry_run);
		else
			print_text(report, a.opts.dry_run, a.opts.max_pause_ms);
	}
	status = flush_stdout();
	if (ret && ret != -EAGAIN)
		cli_error("%s", ar_ctx_errmsg(ctx));
	if (ret && ret != -EAGAIN)
		status = EXIT_FAIL;
	else if (report && count_fate(report, AR_RUN_FAILED))
		status = EXIT_FAIL;
	ar_defrag_report_free(report);
	return status;
}

static error_t json_only_parse(int key, char *arg, struct argp_state *state)
{
	bool *json = state->input;

	(void)arg;
	switch (key) {
	case 'J':
		*json = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "no arguments expected");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_option json_only_options[] = {
	{ "json", 'J', NULL, 0, "Print JSON", 0 },
	{ NULL }
};

int cmd_probe(int argc, char **argv)
{
	static const struct argp argp = {
		json_only_options, json_only_parse, NULL,
		"Say which defrag backends work on this kernel with these "
		"privileges, and why the others do not."
		"\vExit status: 0 at least one works, 1 none does.",
		common_children, NULL, NULL
	};
	struct ar_ctx *ctx = cli_ctx();
	bool json = false, any = false;
	const char *name;
	enum ar_backend b;
	struct json j;

	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &json);
	json_init(&j, stdout);
	if (json) {
		json_open(&j, NULL, '{');
		json_open(&j, "backends", '[');
	}
	/* Every backend the library has: the ids after auto that have names. */
	for (b = AR_BACKEND_AUTO + 1; (name = ar_backend_name(b)); b++) {
		int ret = ar_backend_probe(ctx, b);

		any = any || !ret;
		if (json) {
			json_open(&j, NULL, '{');
			json_string(&j, "backend", name);
			json_bool(&j, "works", !ret);
			json_string(&j, "reason", ret ? ar_ctx_errmsg(ctx) : "");
			json_close(&j, '}');
		} else if (ret) {
			printf("%-10s no: %s\n", name, ar_ctx_errmsg(ctx));
		} else {
			printf("%-10s yes\n", name);
		}
	}
	if (json) {
		json_close(&j, ']');
		json_close(&j, '}');
		json_finish(&j);
	}
	if (flush_stdout())
		return EXIT_FAIL;
	return any ? EXIT_OK : EXIT_FAIL;
}

static error_t recover_parse(int key, char *arg, struct argp_state *state)
{
	return parse_single_pid(key, arg, state, state->input);
}

int cmd_recover(int argc, char **argv)
{
	static const struct argp argp = {
		NULL, recover_parse, "PID",
		"Finish or roll back a defrag that was interrupted (the tool "
		"killed), from its journal, and let the process run again."
		"\vExit status: 0 recovered, 1 no journal for the process or "
		"recovery failed (the process stays stopped and the journal "
		"stays for another try), 2 usage error.",
		common_children, NULL, NULL
	};
	static const char *const what[] = {
		[AR_RECOVER_NOTHING] = "no run was under way; registers restored",
		[AR_RECOVER_FINISHED] = "the interrupted run was completed",
		[AR_RECOVER_UNDONE] = "the interrupted run was moved back as it was",
	};
	enum ar_recover_result how;
	struct ar_ctx *ctx = cli_ctx();
	pid_t pid = 0;
	int ret;

	argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, &pid);
	ret = ar_defrag_recover(ctx, pid, &how);
	if (ret) {
		cli_error("%s", ar_ctx_errmsg(ctx));
		return EXIT_FAIL;
	}
	printf("pid %d: recovered: %s; running again\n", (int)pid, what[how]);
	return flush_stdout();
}
