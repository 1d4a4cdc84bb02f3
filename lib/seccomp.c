// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Seccomp as it bears on injected calls: a thread's seccomp mode, and
 * its classic-BPF filters, read with PTRACE_SECCOMP_GET_FILTER and run
 * here against each call we would make, with its arguments.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "arch.h"
#include "seccomp.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

static const char *syscall_name(long nr)
{
	static const struct {
		long nr;
		const char *name;
	} names[] = {
		{ SYS_mmap, "mmap" }, { SYS_munmap, "munmap" },
		{ SYS_mremap, "mremap" }, { SYS_madvise, "madvise" },
		{ SYS_ioctl, "ioctl" }, { SYS_close, "close" },
		{ SYS_tgkill, "tgkill" }, { SYS_prctl, "prctl" },
		{ SYS_userfaultfd, "userfaultfd" }, { SYS_getpid, "getpid" },
		{ SYS_mprotect, "mprotect" },
	};

	for (size_t i = 0; i < AR_ARRAY_SIZE(names); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return "a system call";
}

/* Classic BPF as seccomp runs it; anything unknown counts as a kill. */
static uint32_t bpf_run(const struct sock_filter *f, size_t n,
			const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t k = i->k, v = BPF_SRC(i->code) == BPF_X ? x : k;

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (k > sizeof(*d) - 4 || k & 3)
				return SECCOMP_RET_KILL_PROCESS;
			memcpy(&a, (const char *)d + k, 4);
			continue;
		case BPF_LD | BPF_W | BPF_LEN:
			a = sizeof(*d);
			continue;
		case BPF_LDX | BPF_W | BPF_LEN:
			x = sizeof(*d);
			continue;
		case BPF_LD | BPF_IMM:
			a = k;
			continue;
		case BPF_LDX | BPF_IMM:
			x = k;
			continue;
		case BPF_LD | BPF_MEM:
			a = mem[k % BPF_MEMWORDS];
			continue;
		case BPF_LDX | BPF_MEM:
			x = mem[k % BPF_MEMWORDS];
			continue;
		case BPF_ST:
			mem[k % BPF_MEMWORDS] = a;
			continue;
		case BPF_STX:
			mem[k % BPF_MEMWORDS] = x;
			continue;
		case BPF_MISC | BPF_TAX:
			x = a;
			continue;
		case BPF_MISC | BPF_TXA:
			a = x;
			continue;
		case BPF_RET | BPF_K:
			return k;
		case BPF_RET | BPF_A:
			return a;
		case BPF_JMP | BPF_JA:
			pc += k;
			continue;
		}
		if (BPF_CLASS(i->code) == BPF_JMP) {
			int t;

			switch (BPF_OP(i->code)) {
			case BPF_JEQ: t = a == v; break;
			case BPF_JGT: t = a > v; break;
			case BPF_JGE: t = a >= v; break;
			case BPF_JSET: t = (a & v) != 0; break;
			default: return SECCOMP_RET_KILL_PROCESS;
			}
			pc += t ? i->jt : i->jf;
			continue;
		}
		if (BPF_CLASS(i->code) != BPF_ALU)
			return SECCOMP_RET_KILL_PROCESS;
		switch (BPF_OP(i->code)) {
		case BPF_ADD: a += v; break;
		case BPF_SUB: a -= v; break;
		case BPF_MUL: a *= v; break;
		case BPF_DIV:
			if (!v)
				return SECCOMP_RET_KILL_PROCESS;
			a /= v;
			break;
		case BPF_MOD:
			if (!v)
				return SECCOMP_RET_KILL_PROCESS;
			a %= v;
			break;
		case BPF_OR: a |= v; break;
		case BPF_AND: a &= v; break;
		case BPF_XOR: a ^= v; break;
		case BPF_LSH: a = v < 32 ? a << v : 0; break;
		case BPF_RSH: a = v < 32 ? a >> v : 0; break;
		case BPF_NEG: a = -a; break;
		default: return SECCOMP_RET_KILL_PROCESS;
		}
	}
	return SECCOMP_RET_KILL_PROCESS;
}

static int filters_unreadable(struct ar_ctx *ctx, pid_t pid)
{
	return ar_fail(ctx, EPERM, "process %d runs under a seccomp filter, "
		       "and reading it (PTRACE_SECCOMP_GET_FILTER) needs "
		       "CAP_SYS_ADMIN, which we lack", pid);
}

int ar_seccomp_mode(struct ar_ctx *ctx, pid_t pid, pid_t tid)
{
	char buf[4096];
	const char *v;

	if (ar_read_status(pid, tid, buf, sizeof(buf)) < 0)
		return ar_fail(ctx, ESRCH, "thread %d is gone", tid);
	v = ar_status_field(buf, "Seccomp");
	if (!v || *v == '0')
		return 0;
	if (*v != '2')
		return ar_fail(ctx, EPERM, "thread %d runs in strict seccomp "
			       "mode", tid);
	return ar_have_cap(CAP_SYS_ADMIN) ? 1 : filters_unreadable(ctx, pid);
}

int ar_seccomp_check_calls(struct ar_ctx *ctx, pid_t pid, pid_t tid,
			   uint64_t ip, const struct ar_call_check *calls,
			   size_t n)
{
	struct sock_filter *prog = NULL;
	int32_t *action;
	int ret = 0;

	action = malloc(n * sizeof(*action));
	if (!action)
		return ar_fail(ctx, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		action[i] = (int32_t)SECCOMP_RET_ALLOW;
	for (unsigned long idx = 0;; idx++) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx,
				  NULL);
		struct sock_filter *p;

		if (len < 0 && errno == ENOENT && idx > 0)
			break;
		if (len < 0) {
			ret = errno == EACCES || errno == EPERM ?
				filters_unreadable(ctx, pid) :
				ar_fail_errno(ctx, errno, "cannot read the "
					      "seccomp filters of thread %d",
					      tid);
			goto out;
		}
		p = realloc(prog, (size_t)len * sizeof(*prog));
		if (!p) {
			ret = ar_fail(ctx, ENOMEM, "out of memory");
			goto out;
		}
		prog = p;
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx,
			   prog) != len) {
			ret = ar_fail_errno(ctx, errno, "cannot read the "
					    "seccomp filters of thread %d", tid);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct seccomp_data d = {
				.nr = (int)calls[i].nr,
				.arch = ar_arch_audit(),
				.instruction_pointer = ip,
			};
			int32_t r;

			memcpy(d.args, calls[i].args, sizeof(d.args));
			r = (int32_t)(bpf_run(prog, (size_t)len, &d) &
				      SECCOMP_RET_ACTION_FULL);

			if (r < action[i])
				action[i] = r;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (action[i] != (int32_t)SECCOMP_RET_ALLOW &&
		    action[i] != (int32_t)SECCOMP_RET_LOG) {
			ret = ar_fail(ctx, EPERM, "the seccomp filter of process "
				      "%d would %s %s, which we need", pid,
				      (uint32_t)action[i] == SECCOMP_RET_KILL_PROCESS ||
				      (uint32_t)action[i] == SECCOMP_RET_KILL_THREAD ?
				      "kill it on" : "deny",
				      calls[i].what ? calls[i].what :
				      syscall_name(calls[i].nr));
			break;
		}
out:
	free(prog);
	free(action);
	return ret;
}
