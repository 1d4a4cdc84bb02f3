/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one reader of a process's or thread's small /proc text files: stat,
 * status and limits (procfs.c).  Included by internal.h.
 */
#ifndef ANONREMAP_PROCFS_H
#define ANONREMAP_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the library uses of a stat line. */
struct ar_stat {
	char comm[64];		/* field 2, without its parentheses */
	char state;		/* 3: 'R', 'S', 'T', 't', 'Z', ... */
	unsigned long flags;	/* 9: PF_* */
	uint64_t starttime;	/* 22: clock ticks after boot */
	int processor;		/* 39: the CPU it last ran on */
};

/*
 * How far a stat line was parsed: the fields of struct ar_stat from
 * state on, each count including those before it.
 */
enum {
	AR_STAT_STATE = 1,
	AR_STAT_FLAGS,
	AR_STAT_STARTTIME,
	AR_STAT_PROCESSOR,
};

/*
 * Parse a stat line, whose comm (between the first '(' and the last ')')
 * may hold anything: the AR_STAT_* reached, 0 when not even the state.
 */
int ar_stat_parse(const char *line, struct ar_stat *st);
/*
 * /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat, parsed: as
 * ar_stat_parse(), or -errno when it cannot be read.
 */
int ar_stat_read(pid_t pid, pid_t tid, struct ar_stat *st);
/* The same of the /proc/PID directory dirfd. */
int ar_stat_read_at(int dirfd, struct ar_stat *st);
/*
 * The state letter of thread tid of process pid ('R', 'S', 'T', 't', 'Z',
 * ...: /proc/PID/task/TID/stat), or 0 when it cannot be read (gone).
 */
char ar_thread_state(pid_t pid, pid_t tid);
/* Process start time, field 22 of /proc/PID/stat; -ESRCH when gone. */
int ar_proc_starttime(pid_t pid, uint64_t *starttime);

/* Value of "Key:" in a /proc status file, or NULL. */
const char *ar_status_field(const char *status, const char *key);
/* /proc/PID/task/TID/status into buf, as ar_read_small_file(). */
int ar_read_status(pid_t pid, pid_t tid, char *buf, size_t size);
/*
 * The owner of process pid's /proc files (its status): root when it is
 * not dumpable.  0, or -errno.
 */
int ar_status_owner(pid_t pid, uid_t *uid);

/*
 * The soft limit "name" ("Max locked memory") of /proc/PID/limits: 0, and
 * *unlimited or *value; -ENODATA when it cannot be read or parsed.
 */
int ar_read_limit(pid_t pid, const char *name, bool *unlimited,
		  uint64_t *value);

#endif /* ANONREMAP_PROCFS_H */
