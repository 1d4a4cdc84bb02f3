/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the anonremap subcommands share. */
#ifndef ANONREMAP_CLI_H
#define ANONREMAP_CLI_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "anonremap.h"

/* Exit status, documented in anonremap(8). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* a process could not be handled */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_THRESHOLD = 3,	/* a --threshold-* was reached */
};

#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* "anonremap: message" on stderr. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* A library context for the whole run; exits when none can be had. */
struct ar_ctx *cli_ctx(void);

/* "1.9G" style, or the plain number of bytes when bytes is true. */
void format_size(char *buf, size_t len, uint64_t val, bool bytes);

/* Strict decimal pid; false for anything else. */
bool parse_pid(const char *arg, pid_t *pid);
/*
 * The ARGP_KEY_ARG and ARGP_KEY_NO_ARGS cases of a command that takes
 * exactly one pid (*pid starts at 0); ARGP_ERR_UNKNOWN for other keys.
 */
error_t parse_single_pid(int key, char *arg, struct argp_state *state,
			 pid_t *pid);

/* A column of a table: as util-linux's struct colinfo. */
struct colinfo {
	const char *name;
	double whint;
	int flags;		/* SCOLS_FL_* */
	const char *help;
};

/*
 * Parse "-o NAME,NAME" (or "+NAME,..." to append to the ids already in
 * *nids) into column ids.  Returns false and names the bad column on error.
 */
bool parse_columns(const char *list, const struct colinfo *cols, size_t ncols,
		   int *ids, size_t *nids, size_t max);
/* One "  NAME  help" line per column, for --help. */
char *columns_help(const char *title, const struct colinfo *cols, size_t ncols);

/* -h/--help, --usage, -V/--version: an argp child of every command. */
extern const struct argp cli_common_argp;

/* Thresholds shared by stat and top. */
struct thresholds {
	size_t splits;		/* 0: not set */
	double map_use;		/* percent; < 0: not set */
};
bool parse_threshold_percent(const char *arg, double *val);
bool threshold_reached(const struct thresholds *t, const struct ar_summary *s);
double map_use_percent(const struct ar_summary *s);

int cmd_stat(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_defrag(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_recover(int argc, char **argv);

#endif
