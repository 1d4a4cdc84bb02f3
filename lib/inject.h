/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Remote system calls in a live process through ptrace (internal API).
 *
 * Life cycle, compel-like, every step undoable:
 *   ar_inject_attach()   group-stop the process (SIGSTOP), seize every
 *                        thread, save their registers, write the journal,
 *                        map a stub page and a data area in the target;
 *   ar_inject_call()     one system call in the chosen thread;
 *   ar_inject_batch()    an array of calls run by the stub inside the target;
 *   ar_inject_detach()   unmap the scratch, restore every register, detach,
 *                        SIGCONT (unless the process was stopped before),
 *                        remove the journal.
 *
 * Between calls the injected thread sits in a signal-delivery stop inside
 * the stub's self-stop loop, never with the single-step flag set.  Every
 * other thread is parked for as long as we are attached: it stays in its
 * group-stop trap with its registers, once journaled, pointed at that same
 * loop (no pending restart, no trap flag), and gets them back exactly,
 * orig_rax included, before the stub is unmapped at detach, so a system
 * call it was blocked in restarts with no EINTR.  If the tool dies, the
 * process stays in its group stop until `recover` restores the journaled
 * registers of every thread.  A SIGCONT sent by someone else meanwhile
 * ends the group stop, before or after the tool's death: the threads then
 * run nothing of the program, only the loop, which stops the process
 * again at once.  ar_inject_keep_stopped() leaves every thread parked.
 *
 * What the target can observe: SIGSTOP and SIGCONT (its parent gets
 * CLD_STOPPED/CLD_CONTINUED, a SIGCONT handler runs once), TracerPid and
 * two scratch mappings in /proc while attached, CPU time spent in the
 * calls.  After the tool died, a foreign SIGCONT shows more: the process
 * continues and stops again (CLD_CONTINUED, CLD_STOPPED), and a signal
 * with a handler (a SIGCONT handler too) that reaches a parked thread
 * runs that handler there: on the thread's own stack (or its sigaltstack),
 * with the stub's loop as the interrupted context in its ucontext, and
 * with memory that may be out of place: a handler that touches the pages
 * being moved can see them missing, and one that writes there makes
 * `recover` fail (EEXIST).  A thread parked between two instructions of
 * an rseq critical section that runs so loses its rseq_cs (the kernel
 * clears it outside the section): restored, it would finish the section
 * without the abort it was owed.
 */
#ifndef ANONREMAP_INJECT_H
#define ANONREMAP_INJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch.h"
#include "internal.h"
#include "seccomp.h"

struct ar_inject;

enum ar_inject_flags {
	/* Do not write a journal (probing, tests of the mechanism itself). */
	AR_INJECT_NO_JOURNAL = 1u << 0,
	/*
	 * Journal records are not fdatasync'ed (ar_journal_set_sync()): for
	 * bounded pauses, where one sync can cost more than the whole pause.
	 */
	AR_INJECT_NO_SYNC = 1u << 1,
};

/*
 * Attach to process pid; calls run in thread tid (0: one blocked in a
 * system call, the main thread first).  Refuses with a message naming
 * exactly what is missing: EINVAL (self, a kernel thread, a thread id),
 * ESRCH (gone, zombie), EBUSY (already traced, another anonremap at work,
 * or a journal of an unfinished run: recover first), EPERM (uid,
 * CAP_SYS_PTRACE, ptrace_scope, non-dumpable, seccomp would deny a call we
 * need).
 */
int ar_inject_attach(struct ar_ctx *ctx, pid_t pid, pid_t tid,
		     unsigned int flags, struct ar_inject **injp);

/*
 * What ar_inject_attach() would refuse that can be told without stopping
 * or tracing the process, with the same message: what precedes the stop
 * (a thread id, a zombie, already traced, permissions, a journal
 * anywhere: ar_journal_check()), and what attach checks once it has
 * stopped the threads: a clone(CLONE_VM) sharer, strict seccomp mode,
 * seccomp filters we may not read.  Whether the filters allow our calls
 * is known only once attached: *filtered says whether there are any.
 */
int ar_inject_preflight(struct ar_ctx *ctx, pid_t pid, bool *filtered);

/*
 * The same, given every mapping of the process as the caller read it
 * while it ran (vmas[0..n-1], in address order): scratch and destination
 * ranges are picked from that copy instead of a fresh read of
 * /proc/PID/maps (milliseconds at 10 000 VMAs), and, as always, used only
 * once the kernel confirms them free.  NULL vmas: read it.  t is the
 * process the caller read (t->starttime 0: whichever has the pid): should
 * its pid name another one now (it exited, its pid was reused), ESRCH
 * before anything is done to it.  The journal records t's identity.
 */
int ar_inject_attach_known(struct ar_ctx *ctx, const struct ar_target *t,
			   pid_t tid, unsigned int flags,
			   const struct ar_vma *vmas, size_t n,
			   struct ar_inject **injp);

/*
 * Check that the injected thread's seccomp filters allow every call of
 * calls, evaluated with their arguments; -EPERM naming the call if not
 * (a filter that would kill the process on it, or deny it).
 * ar_inject_attach() checks what the injector itself needs.
 */
int ar_inject_check_calls(struct ar_inject *inj,
			  const struct ar_call_check *calls, size_t n);

/*
 * Run one system call in the target.  Returns 0 when the call was run (its
 * result, possibly a negative errno, in *ret), or a negative errno when the
 * injection itself failed; the session is then unusable except for
 * ar_inject_detach().
 */
int ar_inject_call(struct ar_inject *inj, long *ret, long nr, uint64_t a1,
		   uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
		   uint64_t a6);

/*
 * Run n calls inside the target, in order, stopping at the first error.
 * descs must lie in the data area (ar_inject_data()); their results are
 * written there and copied back into descs.  *done is the number of calls
 * that succeeded; returns 0 even when one failed (look at
 * descs[*done].result), negative errno when the injection failed.
 */
int ar_inject_batch(struct ar_inject *inj, uint64_t remote_descs,
		    struct ar_sysdesc *descs, size_t n, size_t *done);

/*
 * The two halves of ar_inject_batch(), for callers that must record
 * something between writing the descriptors and running them.
 */
int ar_inject_batch_write(struct ar_inject *inj, uint64_t remote_descs,
			  struct ar_sysdesc *descs, size_t n);
int ar_inject_batch_run(struct ar_inject *inj, uint64_t remote_descs,
			struct ar_sysdesc *descs, size_t n, size_t *done);

/* The target's scratch data area: address and size in bytes. */
uint64_t ar_inject_data(const struct ar_inject *inj, size_t *size);

int ar_inject_read(struct ar_inject *inj, uint64_t addr, void *buf,
		   size_t len);
/* Through /proc/PID/mem: may write read-only private pages. */
int ar_inject_write(struct ar_inject *inj, uint64_t addr, const void *buf,
		    size_t len);

/*
 * Free address range of len bytes in the target, with a free page on each
 * side, placed so that addr % align == phase.
 */
int ar_inject_find_gap(struct ar_inject *inj, uint64_t len, uint64_t align,
		       uint64_t phase, uint64_t *addr);

/* Remote mmap at a fixed free address (MAP_FIXED_NOREPLACE) / munmap. */
int ar_inject_mmap(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   int prot, int flags);
int ar_inject_munmap(struct ar_inject *inj, uint64_t addr, uint64_t len);

/*
 * Whether the process has exited, or has no memory any more (a zombie, or
 * on its way out): nothing of it is left to recover.  When one of its
 * stopped threads vanished (it was killed), its exit is waited for, up to
 * 2 s, once per session.
 */
bool ar_inject_process_gone(struct ar_inject *inj);

/*
 * The thread whose struct rseq (registered with rseq(2)) lies lowest in
 * [start, end), its address in *addr; 0 when none does.  The kernel
 * writes that area whenever the thread returns to user space after being
 * scheduled out, the injected thread after each call, a parked one if a
 * SIGCONT wakes it: the memory under it must stay mapped and in place.
 */
pid_t ar_inject_rseq_in(const struct ar_inject *inj, uint64_t start,
			uint64_t end, uint64_t *addr);

/* 1 if a VMA of the target starts at addr (its end in *end), else 0. */
int ar_inject_vma_at(struct ar_inject *inj, uint64_t addr, uint64_t *end);

struct ar_journal;
/*
 * Attach for `recover`: the registers to restore are the journal's, the
 * scratch pages are where the journal says (mapped again if missing), and
 * a batch that the dead tool left half run is let to finish.  On success
 * inj owns j; on failure j stays the caller's.
 */
int ar_inject_attach_journal(struct ar_ctx *ctx, struct ar_journal *j,
			     struct ar_inject **injp);

/*
 * The target's memory is out of place and only `recover` can fix it:
 * ar_inject_detach() will restore registers but keep the process stopped,
 * the scratch pages mapped and the journal on disk.
 */
void ar_inject_keep_stopped(struct ar_inject *inj);

/*
 * Restore everything and let the process run again; frees inj.  Safe
 * after any failure.  Returns the first error met while restoring.
 */
int ar_inject_detach(struct ar_inject *inj);
/*
 * The same; *resumed_ns is when the process was let run again (the
 * SIGCONT), else when detaching ended.  The work after the SIGCONT
 * (removing the journal) is not part of its pause.
 */
int ar_inject_detach_at(struct ar_inject *inj, uint64_t *resumed_ns);

struct ar_ctx *ar_inject_ctx(const struct ar_inject *inj);
pid_t ar_inject_pid(const struct ar_inject *inj);
pid_t ar_inject_tid(const struct ar_inject *inj);
size_t ar_inject_nthreads(const struct ar_inject *inj);
struct ar_journal *ar_inject_journal(const struct ar_inject *inj);

/* Timing of the last session, for reports and benchmarks. */
struct ar_inject_stats {
	uint64_t calls, batches, batch_calls;
	uint64_t call_ns, batch_ns;	/* time spent in calls, in batches */
	uint64_t attach_ns;		/* SIGSTOP until ready to inject */
	long stopped_in;		/* call the injected thread was in, or
					   negative: between instructions */
	uint64_t stopped_since_ns;	/* CLOCK_MONOTONIC of the SIGSTOP */
};
void ar_inject_get_stats(const struct ar_inject *inj,
			 struct ar_inject_stats *st);

#endif /* ANONREMAP_INJECT_H */
