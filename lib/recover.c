// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Recovery after a tool died mid-defrag: read its journal, put the
 * registers back, hand the run under way to the backend that wrote the
 * journal's phase, and resume the process.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"

/* The boot time, in seconds since the epoch (/proc/stat btime); 0: unknown. */
static unsigned long long boot_time(void)
{
	unsigned long long btime = 0;
	char line[256];
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) &&
	       sscanf(line, "btime %llu", &btime) != 1)
		;
	fclose(f);
	return btime;
}

/*
 * Whether process pid began well after the file at path was last written:
 * its pid is then another process's than the one the file was made for.
 * Start times are known to the second only: a second more is allowed.
 */
static bool started_after(pid_t pid, const char *path)
{
	unsigned long long btime = boot_time();
	long ticks = sysconf(_SC_CLK_TCK);
	uint64_t start;
	struct stat sb;

	if (!btime || ticks <= 0 || stat(path, &sb) ||
	    ar_proc_starttime(pid, &start))
		return false;
	return btime + start / (uint64_t)ticks > (uint64_t)sb.st_mtime + 1;
}

int ar_recover(struct ar_ctx *ctx, pid_t pid, enum ar_recovery *how)
{
	const struct ar_backend_ops *backend;
	struct ar_journal *j;
	struct ar_inject *inj;
	enum ar_recovery dummy;
	char path[256];
	int err;

	if (!how)
		how = &dummy;
	*how = AR_RECOVERY_NOTHING;
	err = ar_journal_open(ctx, pid, &j);

	if (err == -ENODATA && !ar_journal_path(path, sizeof(path), pid)) {
		/*
		 * Died before the first record: nothing was changed, but the
		 * process may have been left stopped.  Not one started since.
		 */
		if (!started_after(pid, path))
			kill(pid, SIGCONT);
		unlink(path);
		return 0;
	}
	if (err)
		return err;
	if (ar_journal_state(j)->phase == AR_JP_DONE) {
		/* Everything was restored; it only may still wait for SIGCONT. */
		struct ar_journal_state *js = ar_journal_state(j);
		uint64_t st;

		if (!js->was_stopped && !ar_proc_starttime(pid, &st) &&
		    st == js->starttime && ar_thread_state(pid, pid) == 'T')
			kill(pid, SIGCONT);
		return ar_journal_remove(j);
	}
	err = ar_inject_attach_journal(ctx, j, &inj);
	if (err) {
		if (err == -ESRCH && ar_journal_state(j)->starttime) {
			uint64_t st;

			if (ar_proc_starttime(pid, &st) ||
			    st != ar_journal_state(j)->starttime) {
				ar_journal_remove(j);
				return ar_fail(ctx, ESRCH, "process %d is gone; "
					       "removed its stale journal", pid);
			}
		}
		ar_journal_close(j);
		return err;
	}
	backend = ar_backend_of_phase(ar_journal_state(j)->phase);
	/* Without one, no run was under way: registers restored is all. */
	err = backend ? backend->recover(inj, how) : 0;
	if (err) {
		char msg[sizeof(ctx->errmsg)];

		memcpy(msg, ctx->errmsg, sizeof(msg));
		ar_inject_keep_stopped(inj);
		ar_inject_detach(inj);
		memcpy(ctx->errmsg, msg, sizeof(msg));
		return err;
	}
	return ar_inject_detach(inj);
}

AR_EXPORT int ar_defrag_recover(struct ar_ctx *ctx, pid_t pid,
				enum ar_recover_result *result)
{
	enum ar_recovery how = AR_RECOVERY_NOTHING;
	int ret = ar_recover(ctx, pid, &how);

	if (ret)
		return ret;
	if (result)
		*result = how == AR_RECOVERY_FINISHED ? AR_RECOVER_FINISHED :
			  how == AR_RECOVERY_UNDONE ? AR_RECOVER_UNDONE :
			  AR_RECOVER_NOTHING;
	return 0;
}
