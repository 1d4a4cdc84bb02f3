/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the injector needs to know about one architecture: the register
 * set, how a system call is set up in it and where its result comes back,
 * and the position-independent stub that runs injected calls inside the
 * target.  Only lib/arch/<arch>.c knows the register names.
 */
#ifndef ANONREMAP_ARCH_H
#define ANONREMAP_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Large enough for any architecture's general registers; opaque. */
struct ar_regs {
	uint64_t w[64];
};

/* One injected call, as the stub reads it from the target's memory. */
struct ar_sysdesc {
	uint64_t nr;
	uint64_t args[6];
	uint64_t result;	/* AR_SYSDESC_PENDING until the call ran */
};
#define AR_SYSDESC_PENDING UINT64_C(0x8000000000000000)

int ar_arch_get_regs(pid_t tid, struct ar_regs *regs);
int ar_arch_set_regs(pid_t tid, const struct ar_regs *regs);
uint64_t ar_arch_ip(const struct ar_regs *regs);
/*
 * The system call the thread is in, as the kernel will restart it;
 * negative when it was stopped between two instructions.
 */
long ar_arch_syscall_nr(const struct ar_regs *regs);

/*
 * Turn regs into "execute one system call at ip": nr, six arguments, no
 * pending restart (so the kernel does not rewind ip on the way out) and no
 * trap flag.  The setup_single/setup_batch below do the same.
 */
void ar_arch_setup_syscall(struct ar_regs *regs, uint64_t ip, long nr,
			   const uint64_t args[6]);
/* Return value of the call that just completed (negative errno). */
long ar_arch_syscall_result(const struct ar_regs *regs);

/* AUDIT_ARCH_* of the calls the stub makes, as seccomp filters see it. */
uint32_t ar_arch_audit(void);

/* The system call instruction and its length. */
extern const uint8_t ar_arch_syscall_insn[];
extern const size_t ar_arch_syscall_insn_len;

/*
 * The stub, copied to an executable page of the target.  Entry points are
 * offsets into it:
 *  - single: executes the call set up by ar_arch_setup_syscall() at
 *    code + single, keeps the result, then stops itself;
 *  - batch: runs an array of struct ar_sysdesc, storing each result and
 *    stopping at the first error;
 *  - park: the self-stop loop (tgkill(tgid, tid, SIGSTOP) forever), which
 *    both entry points end in, and where the other threads are parked
 *    (ar_arch_setup_park()), so a thread that finds itself running
 *    untraced (the tool died) stops again instead of running on.
 */
struct ar_arch_stub {
	const uint8_t *code;
	size_t len;
	size_t single, batch, park, park_end;
};
const struct ar_arch_stub *ar_arch_stub(void);
void ar_arch_setup_single(struct ar_regs *regs, uint64_t code, long nr,
			  const uint64_t args[6], pid_t tgid, pid_t tid);
void ar_arch_setup_batch(struct ar_regs *regs, uint64_t code, uint64_t descs,
			 size_t n, pid_t tgid, pid_t tid);
/*
 * Park a thread that runs no calls: regs become "loop in the stub's park
 * entry" (tgkill(tgid, tid, SIGSTOP), then again), with no pending restart
 * and no trap flag; the stack pointer is left alone, so a signal handler
 * run there uses the thread's own stack as it would have anyway.
 */
void ar_arch_setup_park(struct ar_regs *regs, uint64_t code, pid_t tgid,
			pid_t tid);
/* After the stub stopped: result of a single call; descriptors not run. */
long ar_arch_single_result(const struct ar_regs *regs);
size_t ar_arch_batch_left(const struct ar_regs *regs);

/* --- Memory sizes (page, PMD) --- */

/* The base page size (sysconf(_SC_PAGESIZE), asked once). */
size_t ar_page_size(void);
/*
 * The bytes one PMD maps, the size of a PMD THP: runs are moved at their
 * phase in it so that huge pages stay whole.  The architecture's value
 * (2 MiB on x86_64), not sysfs's hpage_pmd_size, which is absent when
 * THP is not built in, and which would be a file read for a constant.
 */
uint64_t ar_arch_pmd_size(void);

#endif /* ANONREMAP_ARCH_H */
