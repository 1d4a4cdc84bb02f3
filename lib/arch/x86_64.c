// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * x86_64: registers, the syscall instruction and the injected stub; the
 * page and PMD sizes and the top of user space.
 */
#include <errno.h>
#include <linux/audit.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>

#include "arch.h"

#define AR_XSTR(x) #x
#define AR_STR(x) AR_XSTR(x)

_Static_assert(sizeof(struct user_regs_struct) <= sizeof(struct ar_regs),
	       "struct ar_regs too small");

#define X86_EFLAGS_TF 0x100

static struct user_regs_struct *x86(struct ar_regs *regs)
{
	return (struct user_regs_struct *)regs;
}

static const struct user_regs_struct *cx86(const struct ar_regs *regs)
{
	return (const struct user_regs_struct *)regs;
}

int ar_arch_get_regs(pid_t tid, struct ar_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	return ptrace(PTRACE_GETREGS, tid, NULL, x86(regs)) ? -errno : 0;
}

int ar_arch_set_regs(pid_t tid, const struct ar_regs *regs)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, cx86(regs)) ? -errno : 0;
}

uint64_t ar_arch_ip(const struct ar_regs *regs)
{
	return cx86(regs)->rip;
}

long ar_arch_syscall_nr(const struct ar_regs *regs)
{
	return (long)cx86(regs)->orig_rax;
}

static void set_args(struct user_regs_struct *r, long nr, const uint64_t a[6])
{
	r->rax = (uint64_t)nr;
	r->rdi = a[0];
	r->rsi = a[1];
	r->rdx = a[2];
	r->r10 = a[3];
	r->r8 = a[4];
	r->r9 = a[5];
	/* -1: not in a system call, so nothing to restart on the way out. */
	r->orig_rax = (uint64_t)-1;
	/*
	 * Never run injected code single-stepped, even if the thread had the
	 * trap flag set itself (saved registers keep it, exactly).
	 */
	r->eflags &= ~(uint64_t)X86_EFLAGS_TF;
}

void ar_arch_setup_syscall(struct ar_regs *regs, uint64_t ip, long nr,
			   const uint64_t args[6])
{
	set_args(x86(regs), nr, args);
	x86(regs)->rip = ip;
}

long ar_arch_syscall_result(const struct ar_regs *regs)
{
	return (long)cx86(regs)->rax;
}

uint32_t ar_arch_audit(void)
{
	return AUDIT_ARCH_X86_64;
}

/* TASK_SIZE_MAX with 4-level page tables. */
uint64_t ar_arch_user_top(void)
{
	return (UINT64_C(1) << 47) - ar_page_size();
}

const uint8_t ar_arch_syscall_insn[] = { 0x0f, 0x05 };
const size_t ar_arch_syscall_insn_len = sizeof(ar_arch_syscall_insn);

/*
 * The stub uses only registers, never the stack:
 *   single: rax, rdi..r9 = the call; result kept in rbx.
 *   batch:  r12 = descriptor array, r13 = count; on return r13 = calls not
 *           completed (the failed one included), results in the array.
 *   park:   r14 = tgid, r15 = tid; tgkill(tgid, tid, SIGSTOP) in a loop.
 */
__asm__(
	"	.pushsection .rodata\n"
	"	.balign 16\n"
	"	.globl ar_x86_stub, ar_x86_single, ar_x86_batch\n"
	"	.globl ar_x86_park, ar_x86_park_end, ar_x86_stub_end\n"
	"	.hidden ar_x86_stub, ar_x86_single, ar_x86_batch\n"
	"	.hidden ar_x86_park, ar_x86_park_end, ar_x86_stub_end\n"
	"ar_x86_stub:\n"
	"ar_x86_single:\n"
	"	syscall\n"
	"	mov %rax, %rbx\n"
	"	jmp ar_x86_park\n"
	"ar_x86_batch:\n"
	"	test %r13, %r13\n"
	"	jz ar_x86_park\n"
	"1:	mov 0(%r12), %rax\n"
	"	mov 8(%r12), %rdi\n"
	"	mov 16(%r12), %rsi\n"
	"	mov 24(%r12), %rdx\n"
	"	mov 32(%r12), %r10\n"
	"	mov 40(%r12), %r8\n"
	"	mov 48(%r12), %r9\n"
	"	syscall\n"
	"	mov %rax, 56(%r12)\n"
	"	cmp $-4095, %rax\n"
	"	jae ar_x86_park\n"
	"	add $64, %r12\n"
	"	dec %r13\n"
	"	jnz 1b\n"
	"ar_x86_park:\n"
	"	mov %r14, %rdi\n"
	"	mov %r15, %rsi\n"
	"	mov $" AR_STR(SIGSTOP) ", %edx\n"
	"	mov $" AR_STR(__NR_tgkill) ", %eax\n"
	"	syscall\n"
	"	jmp ar_x86_park\n"
	"ar_x86_park_end:\n"
	"ar_x86_stub_end:\n"
	"	.popsection\n");

#define DECL_STUB(name) \
	extern const uint8_t name[] __attribute__((visibility("hidden")))
DECL_STUB(ar_x86_stub);
DECL_STUB(ar_x86_single);
DECL_STUB(ar_x86_batch);
DECL_STUB(ar_x86_park);
DECL_STUB(ar_x86_park_end);
DECL_STUB(ar_x86_stub_end);

_Static_assert(sizeof(struct ar_sysdesc) == 64, "stub assumes 64-byte descs");

const struct ar_arch_stub *ar_arch_stub(void)
{
	static struct ar_arch_stub stub;

	if (!stub.code) {
		stub.len = (size_t)(ar_x86_stub_end - ar_x86_stub);
		stub.single = (size_t)(ar_x86_single - ar_x86_stub);
		stub.batch = (size_t)(ar_x86_batch - ar_x86_stub);
		stub.park = (size_t)(ar_x86_park - ar_x86_stub);
		stub.park_end = (size_t)(ar_x86_park_end - ar_x86_stub);
		stub.code = ar_x86_stub;
	}
	return &stub;
}

void ar_arch_setup_single(struct ar_regs *regs, uint64_t code, long nr,
			  const uint64_t args[6], pid_t tgid, pid_t tid)
{
	struct user_regs_struct *r = x86(regs);

	set_args(r, nr, args);
	r->rip = code + ar_arch_stub()->single;
	r->r14 = (uint64_t)tgid;
	r->r15 = (uint64_t)tid;
}

void ar_arch_setup_batch(struct ar_regs *regs, uint64_t code, uint64_t descs,
			 size_t n, pid_t tgid, pid_t tid)
{
	struct user_regs_struct *r = x86(regs);
	static const uint64_t none[6];

	set_args(r, 0, none);
	r->rip = code + ar_arch_stub()->batch;
	r->r12 = descs;
	r->r13 = n;
	r->r14 = (uint64_t)tgid;
	r->r15 = (uint64_t)tid;
}

void ar_arch_setup_park(struct ar_regs *regs, uint64_t code, pid_t tgid,
			pid_t tid)
{
	struct user_regs_struct *r = x86(regs);
	static const uint64_t none[6];

	set_args(r, 0, none);
	r->rip = code + ar_arch_stub()->park;
	r->r14 = (uint64_t)tgid;
	r->r15 = (uint64_t)tid;
}

long ar_arch_single_result(const struct ar_regs *regs)
{
	return (long)cx86(regs)->rbx;
}

size_t ar_arch_batch_left(const struct ar_regs *regs)
{
	return (size_t)cx86(regs)->r13;
}

/* --- Memory sizes (page, PMD) --- */

size_t ar_page_size(void)
{
	/* Racing first callers store the same value. */
	static size_t size;

	if (!size)
		size = (size_t)sysconf(_SC_PAGESIZE);
	return size;
}

uint64_t ar_arch_pmd_size(void)
{
	return UINT64_C(2) << 20;
}
