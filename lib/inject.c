// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Remote system calls through ptrace.
 *
 * Safety rests on three facts measured on this kernel (shared/FACTS.md):
 *  - a process group-stopped by SIGSTOP before PTRACE_SEIZE stays stopped
 *    when its tracer dies, so a dead tool leaves it frozen, not running;
 *  - registers restored while a thread sits in a stop inside get_signal()
 *    (group-stop trap, signal-delivery stop) let the kernel restart the
 *    system call the thread was blocked in: no EINTR;
 *  - a single-step SIGTRAP left pending when the tracer dies kills the
 *    process.
 * So no call is single-stepped.  The first call (mapping the stub) runs
 * through an existing syscall instruction under PTRACE_SYSCALL with
 * TRACESYSGOOD, whose stops leave no signal behind; every later call runs
 * in the stub, which ends in a tgkill(SIGSTOP) loop: a thread that finds
 * itself untraced stops itself again rather than running on.
 *
 * The group stop alone does not keep the other threads still: someone
 * else's SIGCONT ends it, and if we die before restop_signal() has
 * stopped the process again, they would run from their own registers
 * with memory out of place.  So they are parked in that same loop while
 * we are attached (park_threads()), their registers journaled first;
 * tgkill is the one call the loop makes, checked against each thread's
 * seccomp filters.  Parking costs one PTRACE_SETREGS per thread at attach
 * (restoring them at detach was done anyway) and one register set per
 * thread in the journal, written once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gaps.h"
#include "inject.h"
#include "journal.h"
#include "layout.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define SYSCALL_STOP (SIGTRAP | 0x80)
#define DATA_SIZE (2UL << 20)

struct thread {
	pid_t tid;
	int seized;
	int parked;		/* its registers are not regs: see park_threads() */
	int died_traced;	/* killed while ours: see reap_killed() */
	struct ar_regs regs;	/* as found */
	uint64_t rseq;		/* its registered struct rseq, 0 if none */
	uint32_t rseq_len;
	/*
	 * Its seccomp mode (ar_seccomp_mode()) once read: a stopped thread
	 * cannot change it, so one read serves the whole stop.
	 */
	bool seccomp_known;
	int seccomp;
};

struct ar_inject {
	struct ar_ctx *ctx;
	pid_t pid, self;
	int pidfd, memfd;
	int was_stopped;
	struct thread *threads;
	size_t nthreads, cap;
	struct thread *inj;	/* the thread that runs the calls */
	uint64_t insn;		/* an existing syscall instruction */
	uint64_t code, data;	/* stub page, data area (0 when not mapped) */
	int code_mapped, data_mapped;
	int broken;		/* an injection failed: only detach is allowed */
	int in_syscall_stop;	/* injected thread left in a syscall-exit stop */
	int keep_stopped;	/* memory out of place: leave it to recover */
	int restopping;		/* a SIGCONT came: our SIGSTOP is on its way */
	int killed;		/* a stopped thread vanished: see process_gone */
	int exit_waited;	/* and its exit was waited for, in vain */
	siginfo_t *held;	/* signals the injected thread got meanwhile, */
	size_t nheld, held_cap;	/* in order (see hold_signal()) */
	cpu_set_t old_cpus;
	int pinned;
	struct ar_journal *journal;
	struct ar_gaps gaps;	/* read before the stop: see gaps.c */
	uint64_t starttime;	/* of the process meant; 0: whichever */
	struct ar_inject_stats st;
};

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static int explain_eperm(struct ar_inject *inj, int err)
{
	char why[400];

	if (ar_access_why_not(inj->pid, AR_ACCESS_REFUSED, why, sizeof(why)))
		return ar_fail(inj->ctx, EPERM, "%s", why);
	return ar_fail_errno(inj->ctx, err, "cannot trace process %d", inj->pid);
}

/*
 * Everything that can be said before trying: each refusal names what is
 * missing.  The final word is PTRACE_SEIZE's; explain_eperm() words it.
 */
static int precheck(struct ar_ctx *ctx, pid_t pid)
{
	char buf[4096], comm[64] = "", why[400];
	const char *v;
	int n;

	if (pid <= 0)
		return ar_fail(ctx, EINVAL, "invalid pid %d", pid);
	if (pid == getpid())
		return ar_fail(ctx, EINVAL,
			       "refusing to inject into ourselves (pid %d)",
			       pid);
	n = ar_read_status(pid, pid, buf, sizeof(buf));
	if (n < 0)
		return ar_fail(ctx, ESRCH, "no process %d", pid);
	v = ar_status_field(buf, "Name");
	if (v)
		sscanf(v, "%63[^\n]", comm);
	v = ar_status_field(buf, "Tgid");
	if (v && atoi(v) != pid)
		return ar_fail(ctx, EINVAL,
			       "%d is a thread of process %d: give the process id",
			       pid, atoi(v));
	v = ar_status_field(buf, "State");
	if (v && (*v == 'Z' || *v == 'X'))
		return ar_fail(ctx, ESRCH, "process %d (%s) is a zombie",
			       pid, comm);
	v = ar_status_field(buf, "Kthread");
	if ((v && *v == '1') || !ar_status_field(buf, "VmSize"))
		return ar_fail(ctx, EINVAL,
			       "%d (%s) is a kernel thread or has no memory map",
			       pid, comm);
	v = ar_status_field(buf, "TracerPid");
	if (v && atoi(v) != 0) {
		char tbuf[4096], tcomm[64] = "?";
		const char *tv;

		if (ar_read_status(atoi(v), atoi(v), tbuf, sizeof(tbuf)) > 0 &&
		    (tv = ar_status_field(tbuf, "Name")))
			sscanf(tv, "%63[^\n]", tcomm);
		return ar_fail(ctx, EBUSY,
			       "process %d (%s) is already traced by %d (%s)",
			       pid, comm, atoi(v), tcomm);
	}
	if (ar_access_why_not(pid, AR_ACCESS_ATTACH, why, sizeof(why)))
		return ar_fail(ctx, EPERM, "%s", why);
	v = ar_status_field(buf, "Seccomp");
	if (v && *v == '1')
		return ar_fail(ctx, EPERM,
			       "process %d (%s) runs in strict seccomp mode: "
			       "it may not make the calls we need", pid, comm);
	return 0;
}

static struct thread *find_thread(struct ar_inject *inj, pid_t tid)
{
	for (size_t i = 0; i < inj->nthreads; i++)
		if (inj->threads[i].tid == tid)
			return &inj->threads[i];
	return NULL;
}

static int wait_stop(pid_t tid, int *status)
{
	for (;;) {
		if (waitpid(tid, status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (WIFSTOPPED(*status))
			return 0;
		if (WIFEXITED(*status) || WIFSIGNALED(*status))
			return -ESRCH;
	}
}

static int is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

static int thread_dead(struct ar_inject *inj, pid_t tid)
{
	char state = ar_thread_state(inj->pid, tid);

	return !state || state == 'Z' || state == 'X';
}

/*
 * Seize one thread and wait until it sits in its group-stop trap.  A thread
 * that dequeued the SIGSTOP after the seize reports a signal-delivery stop
 * instead: handing the signal back makes it join the group stop.  Any other
 * signal is handed back too (the thread may run its handler; nothing has
 * been changed yet).
 */
/* linux/ptrace.h, Linux 5.13; not in every libc's sys/ptrace.h. */
#define AR_PTRACE_GET_RSEQ_CONFIGURATION 0x420f
struct ar_rseq_configuration {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/*
 * Where stopped thread t registered its struct rseq, which the kernel
 * writes (the CPU it runs on) each time the thread goes back to user
 * space after being scheduled out: a ptrace stop, a preemption.  Unknown
 * on kernels before 5.13, which have no way to ask, as none.
 */
static void read_rseq(struct thread *t)
{
	struct ar_rseq_configuration conf;

	memset(&conf, 0, sizeof(conf));
	if (ptrace(AR_PTRACE_GET_RSEQ_CONFIGURATION, t->tid,
		   (void *)sizeof(conf), &conf) <= 0)
		return;
	t->rseq = conf.rseq_abi_pointer;
	t->rseq_len = conf.rseq_abi_size;
}

static int seize_one(struct ar_inject *inj, pid_t tid)
{
	struct thread *t;
	int status, sig, ret;

	if (inj->nthreads == inj->cap) {
		size_t cap = inj->cap ? inj->cap * 2 : 16;
		struct thread *p = realloc(inj->threads, cap * sizeof(*p));

		if (!p)
			return ar_fail(inj->ctx, ENOMEM, "out of memory");
		inj->threads = p;
		inj->cap = cap;
	}
	t = &inj->threads[inj->nthreads];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)PTRACE_O_TRACESYSGOOD)) {
		/* A thread exiting meanwhile: ESRCH, or EPERM once a zombie. */
		if (errno == ESRCH || (errno == EPERM && thread_dead(inj, tid)))
			return 0;
		return explain_eperm(inj, errno);
	}
	t->seized = 1;
	inj->nthreads++;
	for (;;) {
		ret = wait_stop(tid, &status);
		if (ret == -ESRCH) {
			inj->nthreads--;
			return 0;
		}
		if (ret)
			return ar_fail_errno(inj->ctx, -ret, "waitpid %d", tid);
		sig = WSTOPSIG(status);
		if (status >> 16 == PTRACE_EVENT_STOP && is_stop_signal(sig))
			break;
		if (status >> 16)
			sig = 0;
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig))
			return ar_fail_errno(inj->ctx, errno, "PTRACE_CONT %d",
					     tid);
	}
	ret = ar_arch_get_regs(tid, &t->regs);
	if (ret)
		return ar_fail_errno(inj->ctx, -ret, "cannot read registers "
				     "of thread %d", tid);
	read_rseq(t);
	return 0;
}

/* Seize every thread, again and again until a pass finds no new one. */
static int seize_all(struct ar_inject *inj)
{
	char path[64];
	int found;

	snprintf(path, sizeof(path), "/proc/%d/task", inj->pid);
	do {
		DIR *d = opendir(path);
		struct dirent *de;

		if (!d)
			return ar_fail_errno(inj->ctx, errno, "cannot read %s",
					     path);
		found = 0;
		while ((de = readdir(d))) {
			pid_t tid = atoi(de->d_name);
			int ret;

			if (tid <= 0 || find_thread(inj, tid))
				continue;
			found = 1;
			ret = seize_one(inj, tid);
			if (ret) {
				closedir(d);
				return ret;
			}
		}
		closedir(d);
	} while (found);
	if (!inj->nthreads)
		return ar_fail(inj->ctx, ESRCH, "process %d has no live thread",
			       inj->pid);
	return 0;
}

static int mem_io(struct ar_inject *inj, int write, uint64_t addr,
		  void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ?
			pwrite(inj->memfd, (char *)buf + done, len - done,
			       (off_t)(addr + done)) :
			pread(inj->memfd, (char *)buf + done, len - done,
			      (off_t)(addr + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ar_fail_errno(inj->ctx, n < 0 ? errno : EIO,
					     "cannot %s %zu bytes at %#llx in "
					     "process %d", write ? "write" : "read",
					     len, (unsigned long long)addr,
					     inj->pid);
		done += (size_t)n;
	}
	return 0;
}

int ar_inject_read(struct ar_inject *inj, uint64_t addr, void *buf,
		   size_t len)
{
	return mem_io(inj, 0, addr, buf, len);
}

int ar_inject_write(struct ar_inject *inj, uint64_t addr, const void *buf,
		    size_t len)
{
	return mem_io(inj, 1, addr, (void *)buf, len);
}

/*
 * A syscall instruction to borrow: the one the thread is blocked behind,
 * else one in the vdso.
 */
static int find_syscall_insn(struct ar_inject *inj)
{
	const struct ar_regs *r = &inj->inj->regs;
	size_t ilen = ar_arch_syscall_insn_len;
	struct ar_maps_line l;
	struct ar_maps m;
	uint64_t s = 0, e = 0;
	uint8_t b[16];
	int ret;

	if (ar_arch_syscall_nr(r) >= 0 &&
	    !mem_io(inj, 0, ar_arch_ip(r) - ilen, b, ilen) &&
	    !memcmp(b, ar_arch_syscall_insn, ilen)) {
		inj->insn = ar_arch_ip(r) - ilen;
		return 0;
	}
	ret = ar_maps_open(inj->ctx, inj->pid, &m);
	if (ret)
		return ret;
	while ((ret = ar_maps_next(&m, &l)) > 0)
		if (!strcmp(l.name, "[vdso]")) {
			s = l.start;
			e = l.end;
			break;
		}
	ar_maps_close(&m);
	if (ret < 0)
		return ret;
	if (e > s && e - s <= (1 << 20)) {
		uint8_t *vdso = malloc(e - s), *p = NULL;

		if (!vdso)
			return ar_fail(inj->ctx, ENOMEM, "out of memory");
		if (!mem_io(inj, 0, s, vdso, e - s))
			p = memmem(vdso, e - s, ar_arch_syscall_insn, ilen);
		if (p)
			inj->insn = s + (uint64_t)(p - vdso);
		free(vdso);
		if (p)
			return 0;
	}
	return ar_fail(inj->ctx, ENOEXEC,
		       "no syscall instruction found in process %d (no vdso?)",
		       inj->pid);
}

/*
 * ar_inject_check_calls() for thread tid: filters are per thread.  They
 * see the calls made from the stub, or before it is mapped from the
 * borrowed syscall instruction.
 */
static int check_calls_of(struct ar_inject *inj, pid_t tid,
			  const struct ar_call_check *calls, size_t n)
{
	struct thread *t = find_thread(inj, tid);
	int mode;

	if (t && t->seccomp_known) {
		mode = t->seccomp;
	} else {
		mode = ar_seccomp_mode(inj->ctx, inj->pid, tid);
		if (t && mode >= 0) {
			t->seccomp = mode;
			t->seccomp_known = true;
		}
	}
	if (mode <= 0)
		return mode;
	return ar_seccomp_check_calls(inj->ctx, inj->pid, tid,
				      inj->code ? inj->code : inj->insn,
				      calls, n);
}

int ar_inject_check_calls(struct ar_inject *inj,
			  const struct ar_call_check *calls, size_t n)
{
	return check_calls_of(inj, inj->inj->tid, calls, n);
}

/*
 * Keep sig, taken from the injected thread in a signal-delivery stop, for
 * detach to send again, with its siginfo.  A standard signal is held once
 * (they do not queue), a real-time one as often as it came.
 */
static void hold_signal(struct ar_inject *inj, int sig)
{
	siginfo_t si;

	if (sig < SIGRTMIN)
		for (size_t i = 0; i < inj->nheld; i++)
			if (inj->held[i].si_signo == sig)
				return;
	if (inj->nheld == inj->held_cap) {
		size_t cap = inj->held_cap ? 2 * inj->held_cap : 8;
		siginfo_t *p = realloc(inj->held, cap * sizeof(*p));

		if (!p)
			return;	/* cannot happen in practice; the signal is lost */
		inj->held = p;
		inj->held_cap = cap;
	}
	if (ptrace(PTRACE_GETSIGINFO, inj->inj->tid, NULL, &si) ||
	    si.si_signo != sig) {
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_TKILL;
	}
	inj->held[inj->nheld++] = si;
}

/*
 * Send a held signal to the injected thread again.  Only a siginfo with a
 * negative si_code other than SI_TKILL (sigqueue(), POSIX timers, AIO)
 * may be sent by another process (rt_tgsigqueueinfo(2)); it keeps its
 * sender and value.  Others (kill(), the kernel's) arrive as from tgkill.
 */
static void resend_signal(struct ar_inject *inj, siginfo_t *si)
{
	if (si->si_code < 0 && si->si_code != SI_TKILL &&
	    !syscall(SYS_rt_tgsigqueueinfo, inj->pid, inj->inj->tid,
		     si->si_signo, si))
		return;
	syscall(SYS_tgkill, inj->pid, inj->inj->tid, si->si_signo);
}

/*
 * Someone else's SIGCONT (sig) ends the group stop that keeps the threads
 * stopped should we die: they would run with memory out of place.  Stop
 * the process again at once; when that SIGSTOP reaches the injected
 * thread, it is let through (returned, to be delivered), so that a group
 * stop is under way again while we carry on.  The signal to deliver, or 0.
 */
static int restop_signal(struct ar_inject *inj, int sig)
{
	if (sig == SIGCONT && !inj->restopping &&
	    !sys_pidfd_send_signal(inj->pidfd, SIGSTOP))
		inj->restopping = 1;
	else if (sig == SIGSTOP && inj->restopping) {
		inj->restopping = 0;
		return SIGSTOP;
	}
	return 0;
}

/* What to do about a stop that is not the one we wait for. */
static int stray_stop(struct ar_inject *inj, int status, int *sig)
{
	pid_t tid = inj->inj->tid;
	siginfo_t si;

	*sig = 0;
	if (status >> 16)
		return 0;	/* a trap (group stop): carry on */
	switch (WSTOPSIG(status)) {
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP:
		if (!ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) &&
		    si.si_code > 0) {
			struct ar_regs r;

			ar_arch_get_regs(tid, &r);
			inj->broken = 1;
			return ar_fail(inj->ctx, EFAULT, "injected code in "
				       "thread %d got signal %d at %#llx",
				       tid, WSTOPSIG(status),
				       (unsigned long long)ar_arch_ip(&r));
		}
		break;
	}
	/* Somebody else's signal: hold it, it is delivered at detach. */
	if (!is_stop_signal(WSTOPSIG(status)) && WSTOPSIG(status) != SIGCONT)
		hold_signal(inj, WSTOPSIG(status));
	*sig = restop_signal(inj, WSTOPSIG(status));
	return 0;
}

static int fail_ptrace(struct ar_inject *inj, const char *what)
{
	int err = errno;

	inj->broken = 1;
	if (err == ESRCH)
		inj->killed = 1;
	return ar_fail_errno(inj->ctx, err, "%s on thread %d", what,
			     inj->inj->tid);
}

/*
 * One call through the borrowed syscall instruction: syscall-enter stop,
 * syscall-exit stop.  Used only while the stub is not mapped.
 */
static int raw_call(struct ar_inject *inj, long *ret, long nr,
		    const uint64_t args[6])
{
	pid_t tid = inj->inj->tid;
	struct ar_regs r = inj->inj->regs;
	int status, sig = 0, entered = 0, err;

	ar_arch_setup_syscall(&r, inj->insn, nr, args);
	if ((err = ar_arch_set_regs(tid, &r))) {
		errno = -err;
		return fail_ptrace(inj, "PTRACE_SETREGS");
	}
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, tid, NULL, (void *)(long)sig))
			return fail_ptrace(inj, "PTRACE_SYSCALL");
		if ((err = wait_stop(tid, &status))) {
			errno = -err;
			return fail_ptrace(inj, "waitpid");
		}
		if (WSTOPSIG(status) == SYSCALL_STOP && !(status >> 16)) {
			if (entered++) {
				if ((err = ar_arch_get_regs(tid, &r))) {
					errno = -err;
					return fail_ptrace(inj, "PTRACE_GETREGS");
				}
				*ret = ar_arch_syscall_result(&r);
				inj->in_syscall_stop = 1;
				return 0;
			}
			sig = 0;
			continue;
		}
		if ((err = stray_stop(inj, status, &sig)))
			return err;
	}
}

/* Resume the injected thread in the stub until it stops itself in park. */
static int run_stub(struct ar_inject *inj, struct ar_regs *r)
{
	const struct ar_arch_stub *stub = ar_arch_stub();
	pid_t tid = inj->inj->tid;
	int status, sig = 0, err;

	if ((err = ar_arch_set_regs(tid, r))) {
		errno = -err;
		return fail_ptrace(inj, "PTRACE_SETREGS");
	}
	for (;;) {
		uint64_t ip;

		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig))
			return fail_ptrace(inj, "PTRACE_CONT");
		if ((err = wait_stop(tid, &status))) {
			errno = -err;
			return fail_ptrace(inj, "waitpid");
		}
		if (WSTOPSIG(status) == SIGSTOP && !(status >> 16)) {
			if ((err = ar_arch_get_regs(tid, r))) {
				errno = -err;
				return fail_ptrace(inj, "PTRACE_GETREGS");
			}
			ip = ar_arch_ip(r);
			if (ip >= inj->code + stub->park &&
			    ip <= inj->code + stub->park_end) {
				inj->in_syscall_stop = 0;
				return 0;
			}
			/* Someone else's SIGSTOP, or ours after a SIGCONT. */
			sig = restop_signal(inj, SIGSTOP);
			continue;
		}
		if ((err = stray_stop(inj, status, &sig)))
			return err;
	}
}

int ar_inject_call(struct ar_inject *inj, long *ret, long nr, uint64_t a1,
		   uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
		   uint64_t a6)
{
	const uint64_t args[6] = { a1, a2, a3, a4, a5, a6 };
	uint64_t t0 = ar_now_ns();
	struct ar_regs r;
	int err;

	if (inj->broken)
		return ar_fail(inj->ctx, EIO, "injection into process %d "
			       "already failed", inj->pid);
	if (!inj->code_mapped) {
		err = raw_call(inj, ret, nr, args);
	} else {
		r = inj->inj->regs;
		ar_arch_setup_single(&r, inj->code, nr, args, inj->pid,
				     inj->inj->tid);
		err = run_stub(inj, &r);
		if (!err)
			*ret = ar_arch_single_result(&r);
	}
	inj->st.calls++;
	inj->st.call_ns += ar_now_ns() - t0;
	return err;
}

static int check_batch(struct ar_inject *inj, uint64_t remote_descs,
		       size_t n)
{
	if (inj->broken)
		return ar_fail(inj->ctx, EIO, "injection into process %d "
			       "already failed", inj->pid);
	if (!inj->data_mapped || remote_descs < inj->data ||
	    remote_descs + n * sizeof(struct ar_sysdesc) >
	    inj->data + DATA_SIZE)
		return ar_fail(inj->ctx, EINVAL, "batch of %zu calls does not "
			       "fit the data area", n);
	return 0;
}

int ar_inject_batch_write(struct ar_inject *inj, uint64_t remote_descs,
			  struct ar_sysdesc *descs, size_t n)
{
	int err = check_batch(inj, remote_descs, n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		descs[i].result = AR_SYSDESC_PENDING;
	return ar_inject_write(inj, remote_descs, descs, n * sizeof(*descs));
}

int ar_inject_batch_run(struct ar_inject *inj, uint64_t remote_descs,
			struct ar_sysdesc *descs, size_t n, size_t *done)
{
	uint64_t t0 = ar_now_ns();
	struct ar_regs r;
	size_t left;
	int err = check_batch(inj, remote_descs, n);

	*done = 0;
	if (err)
		return err;
	r = inj->inj->regs;
	ar_arch_setup_batch(&r, inj->code, remote_descs, n, inj->pid,
			    inj->inj->tid);
	err = run_stub(inj, &r);
	if (err)
		return err;
	err = ar_inject_read(inj, remote_descs, descs, n * sizeof(*descs));
	if (err)
		return err;
	left = ar_arch_batch_left(&r);
	if (left > n) {
		inj->broken = 1;
		return ar_fail(inj->ctx, EIO, "batch stub returned garbage");
	}
	*done = n - left;
	inj->st.batches++;
	inj->st.batch_calls += n - left + (left ? 1 : 0);
	inj->st.batch_ns += ar_now_ns() - t0;
	return 0;
}

int ar_inject_batch(struct ar_inject *inj, uint64_t remote_descs,
		    struct ar_sysdesc *descs, size_t n, size_t *done)
{
	int err = ar_inject_batch_write(inj, remote_descs, descs, n);

	*done = 0;
	return err ? err : ar_inject_batch_run(inj, remote_descs, descs, n,
					       done);
}

uint64_t ar_inject_data(const struct ar_inject *inj, size_t *size)
{
	*size = inj->data_mapped ? DATA_SIZE : 0;
	return inj->data;
}

int ar_inject_find_gap(struct ar_inject *inj, uint64_t len, uint64_t align,
		       uint64_t phase, uint64_t *addr)
{
	return ar_gaps_find(&inj->gaps, len, align, phase, addr);
}

int ar_inject_mmap(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   int prot, int flags)
{
	long ret;
	int err = ar_inject_call(inj, &ret, SYS_mmap, addr, len,
				 (uint64_t)prot,
				 (uint64_t)(flags | MAP_FIXED_NOREPLACE),
				 (uint64_t)-1, 0);

	if (err)
		return err;
	if (ret < 0 && ret > -AR_MAX_ERRNO)
		return ar_fail_errno(inj->ctx, (int)-ret, "mmap of %llu bytes "
				     "in process %d", (unsigned long long)len,
				     inj->pid);
	if ((uint64_t)ret != addr) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE. */
		ar_inject_munmap(inj, (uint64_t)ret, len);
		return ar_fail(inj->ctx, EEXIST, "mmap in process %d landed at "
			       "%#lx, not %#llx", inj->pid, ret,
			       (unsigned long long)addr);
	}
	return 0;
}

int ar_inject_munmap(struct ar_inject *inj, uint64_t addr, uint64_t len)
{
	long ret;
	int err = ar_inject_call(inj, &ret, SYS_munmap, addr, len, 0, 0, 0, 0);

	if (err)
		return err;
	if (ret)
		return ar_fail_errno(inj->ctx, (int)-ret, "munmap in process %d",
				     inj->pid);
	return 0;
}

/* Pin ourselves to the CPU the injected thread last ran on. */
static void pin_cpu(struct ar_inject *inj)
{
	struct ar_stat st;
	cpu_set_t set;
	int cpu;

	if (ar_stat_read(inj->pid, inj->inj->tid, &st) < AR_STAT_PROCESSOR)
		return;
	cpu = st.processor;
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	if (sched_getaffinity(0, sizeof(inj->old_cpus), &inj->old_cpus) ||
	    !CPU_ISSET(cpu, &inj->old_cpus))
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	inj->pinned = !sched_setaffinity(0, sizeof(set), &set);
}

static int stub_syscalls_allowed(struct ar_inject *inj)
{
	const struct ar_call_check calls[] = {
		{ NULL, SYS_mmap, { 0, ar_page_size(), PROT_READ | PROT_EXEC,
				    MAP_PRIVATE | MAP_ANONYMOUS |
				    MAP_FIXED_NOREPLACE, (uint64_t)-1, 0 } },
		{ NULL, SYS_mmap, { 0, DATA_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS |
				    MAP_FIXED_NOREPLACE, (uint64_t)-1, 0 } },
		{ NULL, SYS_munmap, { 0 } },
		{ NULL, SYS_tgkill, { (uint64_t)inj->pid,
				      (uint64_t)inj->inj->tid, SIGSTOP } },
	};

	return ar_inject_check_calls(inj, calls, AR_ARRAY_SIZE(calls));
}

/*
 * The park loop's tgkill, checked against each other thread's filters
 * (a filter installed without TSYNC binds one thread and those it makes
 * later).  A thread under no filter costs one read of its status.
 */
static int park_syscalls_allowed(struct ar_inject *inj)
{
	for (size_t i = 0; i < inj->nthreads; i++) {
		struct thread *t = &inj->threads[i];
		char what[64];
		struct ar_call_check call = {
			what, SYS_tgkill, { (uint64_t)inj->pid, (uint64_t)t->tid,
					    SIGSTOP },
		};
		int err;

		if (t == inj->inj)
			continue;
		snprintf(what, sizeof(what), "tgkill in thread %d (to park it)",
			 t->tid);
		err = check_calls_of(inj, t->tid, &call, 1);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Before any thread is parked, their registers go to the journal
 * (the injected thread's are in its header): `recover` puts them back.
 */
static int journal_threads(struct ar_inject *inj)
{
	struct ar_jthread *rec;
	size_t n = 0;
	int err;

	if (!inj->journal || inj->nthreads < 2)
		return 0;
	rec = calloc(inj->nthreads - 1, sizeof(*rec));
	if (!rec)
		return ar_fail(inj->ctx, ENOMEM, "out of memory");
	for (size_t i = 0; i < inj->nthreads; i++) {
		if (&inj->threads[i] == inj->inj)
			continue;
		rec[n].tid = inj->threads[i].tid;
		rec[n].regs = inj->threads[i].regs;
		n++;
	}
	err = ar_journal_write_threads(inj->journal, rec, n);
	free(rec);
	return err;
}

/*
 * Every thread but the injected one sits in its group-stop trap and never
 * runs while we are attached.  Should we die after someone else's SIGCONT
 * ended the group stop, it would run on from its own registers with memory
 * out of place.  So, once the stub is mapped, each is pointed at the stub's
 * self-stop loop (its registers as found are in t->regs and the journal):
 * left to itself it stops the process again and runs nothing of its own.
 */
static int park_threads(struct ar_inject *inj)
{
	for (size_t i = 0; i < inj->nthreads; i++) {
		struct thread *t = &inj->threads[i];
		struct ar_regs r = t->regs;
		int err;

		if (t == inj->inj)
			continue;
		ar_arch_setup_park(&r, inj->code, inj->pid, t->tid);
		err = ar_arch_set_regs(t->tid, &r);
		if (err)
			return ar_fail_errno(inj->ctx, -err, "cannot park thread "
					     "%d", t->tid);
		t->parked = 1;
	}
	return 0;
}

/*
 * Registers as found, back into every parked thread: in its trap still,
 * so a system call it was in restarts (orig_rax is back).
 */
static int unpark_threads(struct ar_inject *inj)
{
	int err = 0;

	for (size_t i = 0; i < inj->nthreads; i++) {
		struct thread *t = &inj->threads[i];
		int e;

		if (!t->parked)
			continue;
		e = ar_arch_set_regs(t->tid, &t->regs);
		if (!e || e == -ESRCH)
			t->parked = 0;
		else if (!err)
			err = ar_fail_errno(inj->ctx, -e, "cannot restore the "
					    "registers of thread %d", t->tid);
	}
	return err;
}

/* Map the stub page and the data area at the journaled addresses. */
static int map_scratch(struct ar_inject *inj)
{
	const struct ar_arch_stub *stub = ar_arch_stub();
	int err;

	if (!inj->code_mapped) {
		err = ar_inject_mmap(inj, inj->code, ar_page_size(),
				     PROT_READ | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS);
		if (err)
			return err;
		err = ar_inject_write(inj, inj->code, stub->code, stub->len);
		if (err) {
			/* Not marked mapped yet: raw_call still works. */
			ar_inject_munmap(inj, inj->code, ar_page_size());
			return err;
		}
		inj->code_mapped = 1;
	}
	if (!inj->data_mapped) {
		err = ar_inject_mmap(inj, inj->data, DATA_SIZE,
				     PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS);
		if (err)
			return err;
		inj->data_mapped = 1;
	}
	return 0;
}

static void fill_jstate(struct ar_inject *inj, struct ar_journal_state *js,
			uint32_t phase)
{
	js->phase = phase;
	js->pid = inj->pid;
	js->tid = inj->inj->tid;
	js->was_stopped = (uint32_t)inj->was_stopped;
	js->regs = inj->inj->regs;
	js->code = inj->code;
	js->code_len = ar_page_size();
	js->data = inj->data;
	js->data_len = DATA_SIZE;
}

static int journal_phase(struct ar_inject *inj, uint32_t phase)
{
	struct ar_journal_state *js;

	if (!inj->journal)
		return 0;
	js = ar_journal_state(inj->journal);
	fill_jstate(inj, js, phase);
	return ar_journal_write(inj->journal, js, 0);
}

/*
 * Whether the process our pidfd names has exited, or has no memory any
 * more (a zombie, or on its way out): nothing of it is left to recover.
 */
static bool process_ended(const struct ar_inject *inj)
{
	char buf[4096];
	const char *v;

	if (inj->pidfd < 0)
		return false;
	if (sys_pidfd_send_signal(inj->pidfd, 0))
		return errno == ESRCH;
	/* Still the same process (the pidfd says so): what is left of it? */
	if (ar_read_status(inj->pid, inj->pid, buf, sizeof(buf)) < 0)
		return sys_pidfd_send_signal(inj->pidfd, 0) && errno == ESRCH;
	v = ar_status_field(buf, "State");
	return (v && (*v == 'Z' || *v == 'X')) || !ar_status_field(buf, "VmSize");
}

/*
 * How long a killed process is given to finish exiting, in ms, and how
 * often it is looked at meanwhile.
 */
#define KILLED_EXIT_WAIT_MS 2000
#define KILLED_POLL_MS 5

static void killed_poll_sleep(void)
{
	const struct timespec step = { 0, KILLED_POLL_MS * 1000 * 1000 };

	nanosleep(&step, NULL);
}

/*
 * As process_ended(), but a process one of whose threads vanished while
 * stopped under ptrace was killed (nothing else ends a thread stopped so),
 * and its exit may still be under way: it is given a while to finish, so
 * that a journal is not kept for a process about to be gone.
 */
bool ar_inject_process_gone(struct ar_inject *inj)
{
	for (int ms = 0; ; ms += KILLED_POLL_MS) {
		if (process_ended(inj))
			return true;
		if (!inj->killed || inj->exit_waited)
			return false;
		if (ms >= KILLED_EXIT_WAIT_MS) {
			/* Asked again (at detach), it is not waited for twice. */
			inj->exit_waited = 1;
			return false;
		}
		killed_poll_sleep();
	}
}

#define AR_KCMP_VM 1	/* linux/kcmp.h */

/* fn for each thread of process pid, as /proc lists them; its first error. */
static int each_thread(struct ar_ctx *ctx, pid_t pid,
		       int (*fn)(struct ar_ctx *ctx, pid_t pid, pid_t tid,
				 void *arg), void *arg)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? ar_fail(ctx, ESRCH, "no process %d", pid) :
			ar_fail_errno(ctx, errno, "cannot read %s", path);
	while (!err && (de = readdir(d)))
		if (atoi(de->d_name) > 0)
			err = fn(ctx, pid, atoi(de->d_name), arg);
	closedir(d);
	return err;
}

/*
 * A process that shares the target's memory without being one of its
 * threads (clone(CLONE_VM) without CLONE_THREAD: a vfork() child that has
 * not called exec yet, a posix_spawn() helper) keeps running while the
 * threads are stopped, and would see pages in flight.  Such a process is
 * a child of one of the threads (its creator is stopped, and could not
 * have made it after the stop): ask kcmp(2) about each child of thread
 * tid.  0, or -EBUSY naming the sharer.
 */
static int refuse_mm_sharers(struct ar_ctx *ctx, pid_t pid, pid_t tid,
			     void *unused)
{
	char path[64], buf[4096], *p, *end;

	(void)unused;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid);
	if (ar_read_small_file(path, buf, sizeof(buf)) < 0)
		return 0;	/* gone, or no CONFIG_PROC_CHILDREN */
	for (p = buf; *p; p = end) {
		long child = strtol(p, &end, 10);

		if (end == p)
			break;
		if (child > 0 &&
		    !syscall(SYS_kcmp, pid, (pid_t)child, AR_KCMP_VM, 0, 0))
			return ar_fail(ctx, EBUSY, "process %ld shares the memory "
				       "of process %d without being one of its "
				       "threads (clone(CLONE_VM), e.g. a vfork() "
				       "child before its exec): it would run on "
				       "while pages move; try again later",
				       child, pid);
	}
	return 0;
}

/*
 * Seccomp filters can be read (PTRACE_SECCOMP_GET_FILTER) only from a
 * stopped tracee: before attaching, only whether a thread has any, and
 * whether we could read them, is known.
 */
static int seccomp_before_attach(struct ar_ctx *ctx, pid_t pid, pid_t tid,
				 void *filtered)
{
	int ret = ar_seccomp_mode(ctx, pid, tid);

	if (ret > 0)
		*(bool *)filtered = true;
	return ret == -ESRCH || ret > 0 ? 0 : ret;
}

int ar_inject_preflight(struct ar_ctx *ctx, pid_t pid, bool *filtered)
{
	int err = precheck(ctx, pid);

	if (!err)
		err = ar_journal_check(ctx, pid);
	*filtered = false;
	if (!err)
		err = each_thread(ctx, pid, refuse_mm_sharers, NULL);
	if (!err)
		err = each_thread(ctx, pid, seccomp_before_attach, filtered);
	return err;
}

/*
 * Common part of attach and recover: pidfd, group stop, seize.  On return
 * inj->threads hold the registers as found.
 */
static int stop_and_seize(struct ar_inject *inj)
{
	struct ar_stat st;
	char path[64];
	int err, n;

	inj->pidfd = sys_pidfd_open(inj->pid);
	if (inj->pidfd < 0)
		return errno == ESRCH ?
			ar_fail(inj->ctx, ESRCH, "no process %d", inj->pid) :
			ar_fail_errno(inj->ctx, errno, "pidfd_open(%d)",
				      inj->pid);
	/*
	 * One read of its stat says whether it was stopped, and whether it
	 * is the process the caller meant: the pidfd names that one only if
	 * it still had the pid after pidfd_open (a later process is let be).
	 */
	n = ar_stat_read(inj->pid, 0, &st);
	if (inj->starttime && (n < AR_STAT_STARTTIME ||
			       st.starttime != inj->starttime))
		return ar_fail(inj->ctx, ESRCH, "process %d exited (its pid "
			       "is another process's now)", inj->pid);
	inj->was_stopped = n >= AR_STAT_STATE && st.state == 'T';
	inj->st.stopped_since_ns = ar_now_ns();
	if (sys_pidfd_send_signal(inj->pidfd, SIGSTOP))
		return errno == EPERM ? explain_eperm(inj, EPERM) :
			ar_fail_errno(inj->ctx, errno, "cannot stop process %d",
				      inj->pid);
	snprintf(path, sizeof(path), "/proc/%d/mem", inj->pid);
	inj->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (inj->memfd < 0)
		return errno == EACCES || errno == EPERM ?
			explain_eperm(inj, errno) :
			ar_fail_errno(inj->ctx, errno, "cannot open %s", path);
	err = seize_all(inj);
	if (err)
		return err;
	/* The pid is still the process our pidfd names: no reuse. */
	if (sys_pidfd_send_signal(inj->pidfd, 0))
		return ar_fail(inj->ctx, ESRCH, "process %d exited", inj->pid);
	return 0;
}

static struct ar_inject *inject_new(struct ar_ctx *ctx, pid_t pid)
{
	struct ar_inject *inj = calloc(1, sizeof(*inj));

	if (!inj)
		return NULL;
	inj->ctx = ctx;
	inj->pid = pid;
	inj->self = getpid();
	inj->pidfd = -1;
	inj->memfd = -1;
	ar_gaps_init(&inj->gaps, ctx, pid);
	return inj;
}

/*
 * The thread to run calls in: one blocked in a system call (the main one
 * first), since a thread stopped between two instructions might be inside
 * an rseq critical section, which running other code would break.
 */
static struct thread *choose_thread(struct ar_inject *inj)
{
	struct thread *leader = find_thread(inj, inj->pid);

	if (leader && ar_arch_syscall_nr(&leader->regs) >= 0)
		return leader;
	for (size_t i = 0; i < inj->nthreads; i++)
		if (ar_arch_syscall_nr(&inj->threads[i].regs) >= 0)
			return &inj->threads[i];
	return leader ? leader : &inj->threads[0];
}

int ar_inject_attach(struct ar_ctx *ctx, pid_t pid, pid_t tid,
		     unsigned int flags, struct ar_inject **injp)
{
	const struct ar_target t = { .pid = pid };

	return ar_inject_attach_known(ctx, &t, tid, flags, NULL, 0, injp);
}

int ar_inject_attach_known(struct ar_ctx *ctx, const struct ar_target *t,
			   pid_t tid, unsigned int flags,
			   const struct ar_vma *vmas, size_t n,
			   struct ar_inject **injp)
{
	const pid_t pid = t->pid;
	struct ar_inject *inj = inject_new(ctx, pid);
	uint64_t page = ar_page_size();
	struct ar_journal_state *js;
	int err;

	*injp = NULL;
	if (!inj)
		return ar_fail(ctx, ENOMEM, "out of memory");
	inj->starttime = t->starttime;
	err = precheck(ctx, pid);
	if (err) {
		free(inj);
		return err;
	}
	if (!(flags & AR_INJECT_NO_JOURNAL)) {
		err = ar_journal_create(ctx, pid, &inj->journal);
		if (err) {
			free(inj);
			return err;
		}
	}
	if (inj->journal && (flags & AR_INJECT_NO_SYNC))
		ar_journal_set_sync(inj->journal, false);
	/* While it runs: what is free, for the scratch pages (find_gap). */
	if (vmas ? ar_gaps_copy(&inj->gaps, vmas, n) :
		   ar_gaps_read(&inj->gaps))
		inj->gaps.n = 0;
	err = stop_and_seize(inj);
	if (!err)
		err = each_thread(ctx, pid, refuse_mm_sharers, NULL);
	if (err)
		goto fail;
	inj->inj = tid ? find_thread(inj, tid) : choose_thread(inj);
	if (!inj->inj) {
		err = ar_fail(ctx, ESRCH, "no thread %d in process %d", tid,
			      pid);
		goto fail;
	}
	pin_cpu(inj);
	if ((err = find_syscall_insn(inj)) ||
	    (err = stub_syscalls_allowed(inj)) ||
	    (err = ar_inject_find_gap(inj, 2 * page + DATA_SIZE, page, 0,
				      &inj->code)) ||
	    (err = park_syscalls_allowed(inj)))
		goto fail;
	inj->data = inj->code + 2 * page;
	if (inj->journal) {
		js = ar_journal_state(inj->journal);
		memset(js, 0, sizeof(*js));
		/* The identity stop_and_seize() checked, when it was given. */
		if (inj->starttime)
			js->starttime = inj->starttime;
		else if ((err = ar_proc_starttime(pid, &js->starttime)))
			goto fail;
		if ((err = journal_threads(inj)) ||
		    (err = journal_phase(inj, AR_JP_ATTACHED)))
			goto fail;
	}
	if ((err = map_scratch(inj)) || (err = park_threads(inj)))
		goto fail;
	inj->st.attach_ns = ar_now_ns() - inj->st.stopped_since_ns;
	*injp = inj;
	return 0;
fail:
	{
		char msg[sizeof(ctx->errmsg)];

		memcpy(msg, ctx->errmsg, sizeof(msg));
		ar_inject_detach(inj);
		memcpy(ctx->errmsg, msg, sizeof(msg));
	}
	return err;
}

pid_t ar_inject_rseq_in(const struct ar_inject *inj, uint64_t start,
			uint64_t end, uint64_t *addr)
{
	pid_t tid = 0;

	for (size_t i = 0; i < inj->nthreads; i++) {
		const struct thread *t = &inj->threads[i];

		if (!t->rseq || t->rseq + t->rseq_len <= start ||
		    t->rseq >= end || (tid && t->rseq >= *addr))
			continue;
		tid = t->tid;
		*addr = t->rseq;
	}
	return tid;
}

int ar_inject_vma_at(struct ar_inject *inj, uint64_t addr, uint64_t *end)
{
	struct ar_maps_line l;
	struct ar_maps m;
	int ret = ar_maps_open(inj->ctx, inj->pid, &m);

	if (ret)
		return ret;
	while ((ret = ar_maps_next(&m, &l)) > 0)
		if (l.start == addr) {
			if (end)
				*end = l.end;
			break;
		}
	ar_maps_close(&m);
	return ret;
}

/*
 * The dead tool parked the other threads: their registers to restore are
 * the journal's.  A thread the journal does not know (none: an older
 * journal) has its own.
 */
static void journaled_threads(struct ar_inject *inj,
			      const struct ar_journal_state *js)
{
	for (size_t i = 0; i < js->nthreads; i++) {
		struct thread *t = find_thread(inj, js->threads[i].tid);

		if (!t || t == inj->inj)
			continue;
		t->regs = js->threads[i].regs;
		t->parked = 1;
	}
}

int ar_inject_attach_journal(struct ar_ctx *ctx, struct ar_journal *j,
			     struct ar_inject **injp)
{
	const struct ar_arch_stub *stub = ar_arch_stub();
	struct ar_journal_state *js = ar_journal_state(j);
	struct ar_inject *inj = inject_new(ctx, js->pid);
	struct ar_regs cur;
	uint64_t starttime, ip;
	int err;

	*injp = NULL;
	if (!inj)
		return ar_fail(ctx, ENOMEM, "out of memory");
	if (ar_proc_starttime(js->pid, &starttime) || starttime != js->starttime) {
		free(inj);
		return ar_fail(ctx, ESRCH, "process %d of the journal is gone",
			       js->pid);
	}
	inj->starttime = js->starttime;
	err = precheck(ctx, js->pid);
	if (err) {
		free(inj);
		return err;
	}
	err = stop_and_seize(inj);
	if (err)
		goto fail;
	inj->was_stopped = (int)js->was_stopped;
	inj->inj = find_thread(inj, js->tid);
	if (!inj->inj) {
		err = ar_fail(ctx, ESRCH, "thread %d of the journal is gone",
			      js->tid);
		goto fail;
	}
	cur = inj->inj->regs;
	inj->inj->regs = js->regs;
	journaled_threads(inj, js);
	inj->code = js->code;
	inj->data = js->data;
	pin_cpu(inj);
	if ((err = find_syscall_insn(inj)) ||
	    (err = stub_syscalls_allowed(inj)))
		goto fail;
	if (inj->code && (err = ar_inject_vma_at(inj, inj->code, NULL)) < 0)
		goto fail;
	inj->code_mapped = err > 0;
	/* The tool may have died between mapping the page and filling it. */
	if (inj->code_mapped &&
	    (err = ar_inject_write(inj, inj->code, stub->code, stub->len)))
		goto fail;
	/*
	 * A call or batch the dead tool left under way: let it finish and
	 * stop, before looking at what it may have changed.
	 */
	ip = ar_arch_ip(&cur);
	if (inj->code_mapped && ip >= inj->code &&
	    ip < inj->code + stub->park && (err = run_stub(inj, &cur)))
		goto fail;
	if (inj->data && (err = ar_inject_vma_at(inj, inj->data, NULL)) < 0)
		goto fail;
	inj->data_mapped = err > 0;
	inj->journal = j;
	if (inj->code && (err = map_scratch(inj)))
		goto fail;
	/*
	 * Parked again for the repair, as the dead tool had them.  A filter
	 * that now forbids it (the tool checked before parking) is no reason
	 * to leave the memory out of place: repair unparked.
	 */
	if (inj->code_mapped && !park_syscalls_allowed(inj) &&
	    (err = park_threads(inj)))
		goto fail;
	*injp = inj;
	return 0;
fail:
	{
		char msg[sizeof(ctx->errmsg)];

		memcpy(msg, ctx->errmsg, sizeof(msg));
		inj->journal = NULL;	/* the caller's, kept for next time */
		ar_inject_detach(inj);
		memcpy(ctx->errmsg, msg, sizeof(msg));
	}
	return err;
}

/* Bring the injected thread from a syscall stop into a get_signal() stop. */
static int park(struct ar_inject *inj)
{
	pid_t tid = inj->inj->tid;
	int status, sig = 0, err;

	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL))
		return fail_ptrace(inj, "PTRACE_INTERRUPT");
	for (;;) {
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig))
			return fail_ptrace(inj, "PTRACE_CONT");
		if ((err = wait_stop(tid, &status))) {
			errno = -err;
			return fail_ptrace(inj, "waitpid");
		}
		if (status >> 16 == PTRACE_EVENT_STOP) {
			inj->in_syscall_stop = 0;
			return 0;
		}
		if ((err = stray_stop(inj, status, &sig)))
			return err;
	}
}

/* Whether pid is a child of ours (its status says so). */
static bool our_child(const struct ar_inject *inj)
{
	char buf[4096];
	const char *v;

	if (ar_read_status(inj->pid, inj->pid, buf, sizeof(buf)) < 0)
		return false;
	v = ar_status_field(buf, "PPid");
	return v && atoi(v) == inj->self;
}

/*
 * A thread killed while we trace it stays a zombie of ours until we wait
 * for it, and its process cannot end before it: wait for each (the
 * leader last, as the kernel lets it go last; not when the process is our
 * child, whose own wait is its parent's to make).  Bounded: a thread may
 * take a while to die.
 */
static void reap_killed(struct ar_inject *inj)
{
	bool child = our_child(inj);

	for (int ms = 0; ms < KILLED_EXIT_WAIT_MS; ms += KILLED_POLL_MS) {
		size_t left = 0;

		for (size_t i = 0; i < inj->nthreads; i++) {
			struct thread *t = &inj->threads[i];
			pid_t r;
			int st;

			if (!t->died_traced || (t->tid == inj->pid && child))
				continue;
			r = waitpid(t->tid, &st, __WALL | WNOHANG);
			/* Stopped, it was not dead after all: let it go. */
			if ((r < 0 && errno == ECHILD) ||
			    (r == t->tid && !WIFSTOPPED(st)) ||
			    (r == t->tid && !ptrace(PTRACE_DETACH, t->tid, NULL,
						    NULL)))
				t->died_traced = 0;
			else
				left++;
		}
		if (!left)
			return;
		killed_poll_sleep();
	}
}

/*
 * Memory out of place (keep_stopped): every thread stays parked, the
 * injected one too when it sits in the stub's loop, so that a SIGCONT
 * before `recover` runs nothing of the program.
 */
static int stays_parked(const struct ar_inject *inj, const struct thread *t)
{
	if (!inj->keep_stopped || !inj->code_mapped)
		return 0;
	return t == inj->inj ? !inj->in_syscall_stop : t->parked;
}

int ar_inject_detach(struct ar_inject *inj)
{
	return ar_inject_detach_at(inj, NULL);
}

int ar_inject_detach_at(struct ar_inject *inj, uint64_t *resumed_ns)
{
	struct ar_ctx *ctx;
	int err = 0, e;

	if (resumed_ns)
		*resumed_ns = 0;
	if (!inj)
		return 0;
	ctx = inj->ctx;
	/*
	 * No record here: every state the journal can be in is safe to
	 * recover from once the run is over, and fsyncs are pause.
	 */
	if (inj->inj && !inj->keep_stopped) {
		/* Before the stub they loop in goes. */
		if ((e = unpark_threads(inj)))
			err = err ? err : e;
		if (inj->data_mapped && !inj->broken) {
			e = ar_inject_munmap(inj, inj->data, DATA_SIZE);
			if (!e)
				inj->data_mapped = 0;
			err = err ? err : e;
		}
		if (inj->code_mapped && !inj->broken) {
			/* The stub cannot unmap itself and return: go raw. */
			inj->code_mapped = 0;
			e = ar_inject_munmap(inj, inj->code, ar_page_size());
			if (e)
				inj->code_mapped = 1;
			err = err ? err : e;
		}
		if (inj->in_syscall_stop && (e = park(inj)))
			err = err ? err : e;
	}
	for (size_t i = 0; i < inj->nthreads; i++) {
		struct thread *t = &inj->threads[i];

		e = 0;
		/* The others' registers were changed only if parked. */
		if ((t == inj->inj || t->parked) && !stays_parked(inj, t))
			e = ar_arch_set_regs(t->tid, &t->regs);
		if (e == -ESRCH)
			inj->killed = 1;
		else if (e && !err)
			err = ar_fail_errno(ctx, -e, "cannot restore the "
					    "registers of thread %d", t->tid);
		if (!ptrace(PTRACE_DETACH, t->tid, NULL, NULL))
			continue;
		if (errno == ESRCH)
			inj->killed = t->died_traced = 1;
		else if (!err)
			err = ar_fail_errno(ctx, errno, "cannot detach from "
					    "thread %d", t->tid);
	}
	if (inj->killed)
		reap_killed(inj);
	if (inj->inj)
		for (size_t i = 0; i < inj->nheld; i++)
			resend_signal(inj, &inj->held[i]);
	/*
	 * Once the process runs, the journaled registers are stale: say so
	 * before it may run, so recover never puts them back.
	 */
	if (inj->inj && inj->journal && !err && !inj->keep_stopped)
		err = journal_phase(inj, AR_JP_DONE);
	if (inj->pidfd >= 0 && !inj->was_stopped && !inj->keep_stopped &&
	    !(inj->journal && err)) {
		/*
		 * Taken before the SIGCONT, as the stop's start is before the
		 * SIGSTOP: the threads it wakes may run on our CPU at once
		 * (we are pinned to the injected thread's), and the time
		 * until we run again is theirs, not a pause.
		 */
		if (resumed_ns)
			*resumed_ns = ar_now_ns();
		sys_pidfd_send_signal(inj->pidfd, SIGCONT);
	}
	if (inj->pinned)
		sched_setaffinity(0, sizeof(inj->old_cpus), &inj->old_cpus);
	if (inj->journal) {
		/* A process that died in the stop took its memory along. */
		if ((err || inj->keep_stopped) && !ar_inject_process_gone(inj))
			ar_journal_close(inj->journal);
		else
			ar_journal_remove(inj->journal);
	}
	if (inj->memfd >= 0)
		close(inj->memfd);
	if (inj->pidfd >= 0)
		close(inj->pidfd);
	ar_gaps_free(&inj->gaps);
	free(inj->held);
	free(inj->threads);
	free(inj);
	if (resumed_ns && !*resumed_ns)
		*resumed_ns = ar_now_ns();
	return err;
}

void ar_inject_keep_stopped(struct ar_inject *inj)
{
	inj->keep_stopped = 1;
}

struct ar_ctx *ar_inject_ctx(const struct ar_inject *inj)
{
	return inj->ctx;
}

pid_t ar_inject_pid(const struct ar_inject *inj)
{
	return inj->pid;
}

pid_t ar_inject_tid(const struct ar_inject *inj)
{
	return inj->inj->tid;
}

size_t ar_inject_nthreads(const struct ar_inject *inj)
{
	return inj->nthreads;
}

struct ar_journal *ar_inject_journal(const struct ar_inject *inj)
{
	return inj->journal;
}

void ar_inject_get_stats(const struct ar_inject *inj,
			 struct ar_inject_stats *st)
{
	*st = inj->st;
	st->stopped_in = ar_arch_syscall_nr(&inj->inj->regs);
}
