// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Who may read or trace a process, and in words why we may not: shared
 * by the /proc readers (ptrace read access) and the injector (attach), so
 * a refusal names what is missing whichever of them meets it first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

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

char ar_thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	if (ar_read_small_file(path, buf, sizeof(buf)) < 0 ||
	    !(p = strrchr(buf, ')')) || p[1] != ' ')
		return 0;
	return p[2];
}

bool ar_have_cap(int cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (!caps)
		return false;
	if (cap_get_flag(caps, (cap_value_t)cap, CAP_EFFECTIVE, &v))
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}

bool ar_yama_why_not(int scope, enum ar_access mode, bool cap_sys_ptrace,
		     char *why, size_t len)
{
	if (mode == AR_ACCESS_READ)
		return false;
	if (scope == 3)
		snprintf(why, len, "ptrace is disabled "
			 "(kernel.yama.ptrace_scope=3), even with "
			 "CAP_SYS_PTRACE");
	else if (scope == 2 && !cap_sys_ptrace)
		snprintf(why, len, "kernel.yama.ptrace_scope=2 allows ptrace "
			 "only with CAP_SYS_PTRACE, which we lack");
	else if (scope == 1 && mode == AR_ACCESS_REFUSED && !cap_sys_ptrace)
		snprintf(why, len, "kernel.yama.ptrace_scope=1 allows ptrace "
			 "only of descendants without CAP_SYS_PTRACE, which we "
			 "lack");
	else
		return false;
	return true;
}

static bool yama_forbids(enum ar_access mode, bool cap, char *why, size_t len)
{
	char scope[16];

	return ar_read_small_file("/proc/sys/kernel/yama/ptrace_scope", scope,
				  sizeof(scope)) > 0 &&
	       ar_yama_why_not(atoi(scope), mode, cap, why, len);
}

/*
 * The kernel wants every one of the target's ids (real, effective, saved)
 * to be ours: the real ones when attaching, the filesystem ones (the
 * effective ones, as set-id programs leave them) when reading /proc.
 */
static bool ids_differ(const char *status, const char *key, unsigned int ours,
		       pid_t pid, char *why, size_t len)
{
	const char *v = ar_status_field(status, key);
	unsigned int r, e, s;

	if (!v || sscanf(v, "%u %u %u", &r, &e, &s) != 3 ||
	    (r == ours && e == ours && s == ours))
		return false;
	snprintf(why, len, "process %d runs as %s %u (effective %u, saved %u), "
		 "we are %s %u without CAP_SYS_PTRACE", (int)pid,
		 key[0] == 'U' ? "uid" : "gid", r, e, s,
		 key[0] == 'U' ? "uid" : "gid", ours);
	return true;
}

bool ar_access_why_not(pid_t pid, enum ar_access mode, char *why, size_t len)
{
	bool attach = mode != AR_ACCESS_READ;
	uid_t uid = attach ? getuid() : geteuid();
	gid_t gid = attach ? getgid() : getegid();
	bool cap = ar_have_cap(CAP_SYS_PTRACE);
	char buf[4096], path[64];
	struct stat sb;

	if (yama_forbids(mode, cap, why, len))
		return true;
	if (cap)
		return false;
	if (ar_read_status(pid, pid, buf, sizeof(buf)) > 0 &&
	    (ids_differ(buf, "Uid", uid, pid, why, len) ||
	     ids_differ(buf, "Gid", gid, pid, why, len)))
		return true;
	/* A non-dumpable process's /proc files belong to root. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (stat(path, &sb) == 0 && sb.st_uid != uid) {
		snprintf(why, len, "process %d is not dumpable (PR_SET_DUMPABLE "
			 "0 or set-id), and we lack CAP_SYS_PTRACE", (int)pid);
		return true;
	}
	return false;
}
