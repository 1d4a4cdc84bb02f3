// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading and parsing a process's or thread's small /proc text files:
 * stat (one parser of its fields after the comm), status (a field by
 * its key) and limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

int ar_stat_parse(const char *line, struct ar_stat *st)
{
	const char *open = strchr(line, '('), *close = strrchr(line, ')');
	unsigned long long start;
	int n;

	memset(st, 0, sizeof(*st));
	if (!open || !close || close < open)
		return 0;
	snprintf(st->comm, sizeof(st->comm), "%.*s", (int)(close - open - 1),
		 open + 1);
	/* Fields 3 to 39 (proc_pid_stat(5)), those not wanted skipped. */
	n = sscanf(close + 1, " %c %*d %*d %*d %*d %*d %lu %*u %*u %*u %*u "
		   "%*u %*u %*d %*d %*d %*d %*d %*d %llu %*u %*d %*u %*u %*u "
		   "%*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d %d",
		   &st->state, &st->flags, &start, &st->processor);
	if (n >= AR_STAT_STARTTIME)
		st->starttime = start;
	return n > 0 ? n : 0;
}

static int stat_read_at(int dirfd, const char *path, struct ar_stat *st)
{
	char buf[1024];
	int n = ar_read_small_file_at(dirfd, path, buf, sizeof(buf));

	return n < 0 ? n : ar_stat_parse(buf, st);
}

int ar_stat_read(pid_t pid, pid_t tid, struct ar_stat *st)
{
	char path[64];

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
			 (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_read_at(AT_FDCWD, path, st);
}

int ar_stat_read_at(int dirfd, struct ar_stat *st)
{
	return stat_read_at(dirfd, "stat", st);
}

char ar_thread_state(pid_t pid, pid_t tid)
{
	struct ar_stat st;

	return ar_stat_read(pid, tid, &st) >= AR_STAT_STATE ? st.state : 0;
}

int ar_proc_starttime(pid_t pid, uint64_t *starttime)
{
	struct ar_stat st;

	if (ar_stat_read(pid, 0, &st) < AR_STAT_STARTTIME)
		return -ESRCH;
	*starttime = st.starttime;
	return 0;
}

const char *ar_status_field(const char *status, const char *key)
{
	size_t klen = strlen(key);
	const char *p = status;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int ar_read_status(pid_t pid, pid_t tid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	return ar_read_small_file(path, buf, size);
}

int ar_status_owner(pid_t pid, uid_t *uid)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (stat(path, &sb))
		return -errno;
	*uid = sb.st_uid;
	return 0;
}

int ar_read_limit(pid_t pid, const char *name, bool *unlimited,
		  uint64_t *value)
{
	char path[64], text[4096], key[64];
	unsigned long long limit;
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	/* At the start of a line, after the table's heading. */
	snprintf(key, sizeof(key), "\n%s", name);
	if (ar_read_small_file(path, text, sizeof(text)) <= 0 ||
	    !(v = strstr(text, key)))
		return -ENODATA;
	v += strlen(key);
	v += strspn(v, " ");
	*unlimited = !strncmp(v, "unlimited", 9);
	*value = 0;
	if (*unlimited)
		return 0;
	if (sscanf(v, "%llu", &limit) != 1)
		return -ENODATA;
	*value = limit;
	return 0;
}
