/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether a thread's seccomp filters let it make the calls we would
 * inject (internal API): its seccomp mode, and its filters evaluated on
 * each call with its arguments.
 */
#ifndef ANONREMAP_SECCOMP_H
#define ANONREMAP_SECCOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

/*
 * A call to check against the target's seccomp filters: the arguments a
 * filter may look at (an ioctl's request, mmap's flags...), 0 where the
 * value is not known in advance (addresses, file descriptors).
 */
struct ar_call_check {
	const char *what;	/* for messages; NULL: the call's name */
	long nr;
	uint64_t args[6];
};

/*
 * Thread tid's seccomp state: 0 no filter, 1 filters we may read (once
 * it is a stopped tracee), or a refusal: strict mode, filters we may not
 * read, -ESRCH the thread is gone.
 */
int ar_seccomp_mode(struct ar_ctx *ctx, pid_t pid, pid_t tid);

/*
 * Check that the filters of thread tid of process pid, a stopped tracee
 * of ours whose ar_seccomp_mode() is 1, allow every call of calls made
 * from instruction ip; -EPERM naming the call if not (a filter that would
 * kill the process on it, or deny it).
 */
int ar_seccomp_check_calls(struct ar_ctx *ctx, pid_t pid, pid_t tid,
			   uint64_t ip, const struct ar_call_check *calls,
			   size_t n);

#endif /* ANONREMAP_SECCOMP_H */
