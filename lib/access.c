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
#include <unistd.h>

#include "internal.h"

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
	char buf[4096];
	uid_t owner;

	if (yama_forbids(mode, cap, why, len))
		return true;
	if (cap)
		return false;
	if (ar_read_status(pid, pid, buf, sizeof(buf)) > 0 &&
	    (ids_differ(buf, "Uid", uid, pid, why, len) ||
	     ids_differ(buf, "Gid", gid, pid, why, len)))
		return true;
	/* A non-dumpable process's /proc files belong to root. */
	if (!ar_status_owner(pid, &owner) && owner != uid) {
		snprintf(why, len, "process %d is not dumpable (PR_SET_DUMPABLE "
			 "0 or set-id), and we lack CAP_SYS_PTRACE", (int)pid);
		return true;
	}
	return false;
}
