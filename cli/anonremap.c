// SPDX-License-Identifier: GPL-2.0-or-later
/* anonremap: command dispatch and the helpers the subcommands share. */
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *argp_program_version = "anonremap " AR_VERSION_STRING;
const char *argp_program_bug_address = NULL;

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("anonremap: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct ar_ctx *the_ctx;

static void free_ctx(void)
{
	ar_ctx_free(the_ctx);
}

struct ar_ctx *cli_ctx(void)
{
	if (!the_ctx) {
		if (ar_ctx_new(&the_ctx)) {
			cli_error("out of memory");
			exit(EXIT_FAIL);
		}
		atexit(free_ctx);
	}
	return the_ctx;
}

void format_size(char *buf, size_t len, uint64_t val, bool bytes)
{
	static const char units[] = "BKMGTPE";
	unsigned int exp = 0;
	uint64_t whole = val, rem = 0;
	unsigned int tenths;

	if (bytes || val < 1024) {
		snprintf(buf, len, bytes ? "%llu" : "%lluB", (unsigned long long)val);
		return;
	}
	while (whole >= 1024 && exp < sizeof(units) - 2) {
		rem = whole % 1024;
		whole /= 1024;
		exp++;
	}
	tenths = (unsigned int)((rem * 10 + 512) / 1024);
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	if (tenths)
		snprintf(buf, len, "%llu.%u%c", (unsigned long long)whole, tenths,
			 units[exp]);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)whole, units[exp]);
}

bool parse_pid(const char *arg, pid_t *pid)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)arg[0]))
		return false;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || v == 0 || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

error_t parse_single_pid(int key, char *arg, struct argp_state *state,
			 pid_t *pid)
{
	switch (key) {
	case ARGP_KEY_ARG:
		if (*pid)
			argp_error(state, "one process id only");
		if (!parse_pid(arg, pid))
			argp_error(state, "'%s' is not a process id", arg);
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "no process id given");
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static int column_id(const char *name, size_t len, const struct colinfo *cols,
		     size_t ncols)
{
	size_t i;

	for (i = 0; i < ncols; i++)
		if (strlen(cols[i].name) == len && !strncasecmp(cols[i].name, name, len))
			return (int)i;
	return -1;
}

bool parse_columns(const char *list, const struct colinfo *cols, size_t ncols,
		   int *ids, size_t *nids, size_t max)
{
	const char *p = list;

	if (*p == '+')
		p++;
	else
		*nids = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		int id = column_id(p, len, cols, ncols);

		if (id < 0) {
			cli_error("unknown column: %.*s (see --help)", (int)len, p);
			return false;
		}
		if (*nids >= max) {
			cli_error("too many columns: %s", list);
			return false;
		}
		ids[(*nids)++] = id;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*nids) {
		cli_error("no columns in: %s", list);
		return false;
	}
	return true;
}

char *columns_help(const char *title, const struct colinfo *cols, size_t ncols)
{
	char *buf = NULL;
	size_t size = 0, i;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	fprintf(f, "%s:\n", title);
	for (i = 0; i < ncols; i++)
		fprintf(f, "  %-12s %s\n", cols[i].name, cols[i].help);
	fclose(f);
	return buf;
}

bool parse_threshold_percent(const char *arg, double *val)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end != arg && *end == '%')
		end++;
	if (errno || end == arg || *end || v < 0 || v > 100)
		return false;
	*val = v;
	return true;
}

double map_use_percent(const struct ar_summary *s)
{
	if (!s->max_map_count)
		return 0;
	return 100.0 * (double)s->vmas / (double)s->max_map_count;
}

bool threshold_reached(const struct thresholds *t, const struct ar_summary *s)
{
	if (t->splits && s->splits >= t->splits)
		return true;
	return t->map_use >= 0 && map_use_percent(s) >= t->map_use;
}

enum { OPT_USAGE = 0x1000 };

static const struct argp_option common_options[] = {
	{ "help", 'h', NULL, 0, "Give this help list", -1 },
	{ "usage", OPT_USAGE, NULL, 0, "Give a short usage message", -1 },
	{ "version", 'V', NULL, 0, "Print program version", -1 },
	{ NULL }
};

static error_t common_parse(int key, char *arg, struct argp_state *state)
{
	(void)arg;
	switch (key) {
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case OPT_USAGE:
		argp_state_help(state, stdout, ARGP_HELP_USAGE | ARGP_HELP_EXIT_OK);
		break;
	case 'V':
		printf("%s\n", argp_program_version);
		exit(EXIT_OK);
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp cli_common_argp = {
	common_options, common_parse, NULL, NULL, NULL, NULL, NULL
};

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "stat", cmd_stat, "report the anonymous VMA fragmentation of processes" },
	{ "top", cmd_top, "rank every readable process by fragmentation" },
	{ "defrag", cmd_defrag, "merge the split VMAs of a live process" },
	{ "probe", cmd_probe, "say which defrag backends work here" },
	{ "recover", cmd_recover, "finish or roll back an interrupted defrag" },
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

struct main_args {
	int cmd_index;
};

static error_t main_parse(int key, char *arg, struct argp_state *state)
{
	struct main_args *args = state->input;

	(void)arg;
	switch (key) {
	case ARGP_KEY_ARG:
		args->cmd_index = state->next - 1;
		state->next = state->argc;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "no command given");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static char *main_help_filter(int key, const char *text, void *input)
{
	char *buf = NULL;
	size_t size = 0, i;
	FILE *f;

	(void)input;
	if (key != ARGP_KEY_HELP_POST_DOC)
		return (char *)text;
	f = open_memstream(&buf, &size);
	if (!f)
		return (char *)text;
	fputs("Commands:\n", f);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n%s", text);
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	static const struct argp_child children[] = {
		{ &cli_common_argp, 0, NULL, -1 },
		{ NULL, 0, NULL, 0 },
	};
	static const struct argp argp = {
		NULL, main_parse, "COMMAND [ARG...]",
		"Find and repair anonymous-memory VMA fragmentation."
		"\vRun 'anonremap COMMAND --help' for a command's options. "
		"Exit status: 0 ok, 1 failure, 2 usage error, "
		"3 a --threshold-* was reached. See anonremap(8).",
		children, main_help_filter, NULL
	};
	struct main_args args = { .cmd_index = 0 };
	const struct command *cmd;
	char name[64];

	argp_err_exit_status = EXIT_USAGE;
	argp_parse(&argp, argc, argv, ARGP_IN_ORDER | ARGP_NO_HELP, NULL, &args);
	cmd = find_command(argv[args.cmd_index]);
	if (!cmd) {
		cli_error("unknown command '%s'", argv[args.cmd_index]);
		fputs("Try 'anonremap --help' for more information.\n", stderr);
		return EXIT_USAGE;
	}
	/* argp names a subcommand's usage after its argv[0]. */
	snprintf(name, sizeof(name), "anonremap %s", cmd->name);
	argv[args.cmd_index] = name;
	return cmd->run(argc - args.cmd_index, argv + args.cmd_index);
}
