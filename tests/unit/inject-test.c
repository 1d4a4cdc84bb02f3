// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Live tests of the injector and the uffd-move backend against
 * tests/helpers/target, which verifies its own memory and registers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "inject.h"
#include "journal.h"
#include "target-client.h"
#include "uffd.h"

static struct ar_ctx *ctx;

/* getpid and a failing close, injected into one thread of the target. */
static void inject_into(const char *thread)
{
	struct tgt t;
	struct ar_inject *inj;
	pid_t tid;
	long ret = 0;
	double t0, per_call;
	int n = 200;

	CHECK(tgt_start(&t, "-r 16") == 0);
	tid = strcmp(thread, "main") ? thread_named(t.pid, thread) : t.pid;
	CHECK(tid > 0);
	usleep(20000);	/* let it block */
	CHECK_EQ(ar_inject_attach(ctx, t.pid, tid, AR_INJECT_NO_JOURNAL, &inj),
		 0);
	CHECK_EQ(ar_inject_tid(inj), tid);
	CHECK(ar_inject_nthreads(inj) >= 6);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		CHECK_EQ(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
		CHECK_EQ(ret, t.pid);
	}
	per_call = (now_us() - t0) / n;
	CHECK_EQ(ar_inject_call(inj, &ret, SYS_close, (uint64_t)-1, 0, 0, 0, 0,
				0), 0);
	CHECK_EQ(ret, -EBADF);
	CHECK_EQ(ar_inject_detach(inj), 0);
	printf("# %s: injected getpid %.1f us/call\n", thread, per_call);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void inject_main_in_read(void) { inject_into("main"); }
static void inject_sleeper_in_nanosleep(void) { inject_into("sleeper"); }
static void inject_reader_in_read(void) { inject_into("reader"); }
static void inject_futex_waiter(void) { inject_into("futex"); }
/*
 * A worker stopped between two instructions of its page loop, not in a
 * call: its registers (flags included) must come back exactly too.
 */
static void inject_busy_worker(void)
{
	struct ar_inject_stats st;
	struct ar_inject *inj;
	struct tgt t;
	int between = 0;
	pid_t tid;
	long ret;

	/* 64 MiB per pass: the worker mostly computes. */
	CHECK(tgt_start(&t, "-H 32 -w 1") == 0);
	tid = thread_named(t.pid, "worker");
	CHECK(tid > 0);
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(ar_inject_attach(ctx, t.pid, tid, AR_INJECT_NO_JOURNAL,
					  &inj), 0);
		ar_inject_get_stats(inj, &st);
		between += st.stopped_in < 0;
		CHECK_EQ(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0),
			 0);
		CHECK_EQ(ret, t.pid);
		CHECK_EQ(ar_inject_detach(inj), 0);
		usleep((useconds_t)(1000 + rand() % 5000));
	}
	printf("# stopped between instructions %d times of 20\n", between);
	CHECK(between > 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * How many threads of pid other than skip have their user instruction
 * pointer outside [lo, hi), as /proc/PID/task/TID/syscall shows it (its
 * last field) for a stopped thread; -1 if a thread could not be read.
 * With say, each one outside is printed.
 */
static int threads_outside(pid_t pid, pid_t skip, uint64_t lo, uint64_t hi,
			   int say, int *seen)
{
	char path[64], buf[256], *p;
	DIR *d;
	struct dirent *de;
	int outside = 0;

	*seen = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);
		unsigned long long pc;

		if (tid <= 0 || tid == skip)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid,
			 tid);
		if (ar_read_small_file(path, buf, sizeof(buf)) <= 0 ||
		    !(p = strrchr(buf, ' ')) ||
		    sscanf(p, " %llx", &pc) != 1) {
			outside = -1;
			break;
		}
		(*seen)++;
		if (pc < lo || pc >= hi) {
			if (say)
				printf("# thread %d at %#llx: %s", tid, pc, buf);
			outside++;
		}
	}
	closedir(d);
	return outside;
}

/*
 * While attached, every thread but the injected one sits parked in the
 * stub's self-stop loop, its registers journaled; detached, each has its
 * own back: the sleeper, reader and futex threads see no EINTR and no
 * changed register.
 */
static void threads_parked_while_attached(void)
{
	const struct ar_journal_state *js;
	size_t nthreads, journaled;
	struct ar_inject *inj;
	struct tgt t;
	long ret = 0;
	int seen, outside;

	CHECK(tgt_start(&t, "-r 16 -w 2") == 0);
	usleep(20000);	/* let them block */
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), 0);
	js = ar_journal_state(ar_inject_journal(inj));
	journaled = js->nthreads;
	nthreads = ar_inject_nthreads(inj);
	outside = threads_outside(t.pid, ar_inject_tid(inj), js->code,
				  js->code + 4096, 1, &seen);
	/* Detached before any check: a test that returns attached hangs. */
	CHECK_EQ(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	CHECK_EQ(ar_inject_detach(inj), 0);
	CHECK_EQ(ret, t.pid);
	CHECK_EQ(outside, 0);
	CHECK_EQ((size_t)seen, nthreads - 1);
	CHECK_EQ(journaled, nthreads - 1);
	CHECK(seen >= 5);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * The tool dies attached, then someone sends SIGCONT: no thread runs code
 * of its own, the parked ones stop the process again from the stub, and
 * recover gives each its registers back (no EINTR, no register changed).
 */
static void parked_threads_stop_again(void)
{
	struct ar_journal *j;
	uint64_t code = 0;
	struct tgt t;
	int pfd[2], status, seen = 0, outside = -1;
	pid_t child;

	CHECK(tgt_start(&t, "-r 100 -w 2") == 0);
	usleep(20000);
	CHECK_EQ(pipe(pfd), 0);
	fflush(stdout);
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		struct ar_inject *inj;

		if (ar_inject_attach(ctx, t.pid, 0, 0, &inj))
			_exit(1);
		code = ar_journal_state(ar_inject_journal(inj))->code;
		if (write(pfd[1], &code, sizeof(code)) != sizeof(code))
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	CHECK_EQ(read(pfd[0], &code, sizeof(code)), (ssize_t)sizeof(code));
	close(pfd[0]);
	kill(child, SIGKILL);
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK_EQ(kill(t.pid, SIGCONT), 0);
	/* Stopped again, and every thread where the stub stopped it. */
	for (int i = 0; i < 100; i++) {
		usleep(10000);
		if (proc_state(t.pid) != 'T')
			continue;
		outside = threads_outside(t.pid, 0, code, code + 4096, i == 99,
					  &seen);
		if (!outside)
			break;
	}
	CHECK_EQ(proc_state(t.pid), 'T');
	CHECK_EQ(outside, 0);
	CHECK(seen >= 6);
	CHECK_EQ(ar_journal_open(ctx, t.pid, &j), 0);
	CHECK_EQ(ar_journal_state(j)->nthreads, (size_t)seen - 1);
	ar_journal_close(j);
	CHECK_EQ(ar_recover(ctx, t.pid, NULL), 0);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * 1000 fragmented pages moved out one by one by an injected batch and
 * back again; the target checks every byte.
 */
static void batch_1000_mremaps(void)
{
	enum { N = 1000 };
	static struct ar_sysdesc d[N];
	struct tgt t;
	struct ar_inject *inj;
	uint64_t data, scratch;
	size_t size, done;
	double t0, out_us, back_us;

	CHECK(tgt_start(&t, "-r 1000 -w 2") == 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), N);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj), 0);
	data = ar_inject_data(inj, &size);
	CHECK(size >= sizeof(d));
	CHECK_EQ(ar_inject_find_gap(inj, N * PAGE, PAGE, 0, &scratch), 0);
	for (size_t i = 0; i < N; i++)
		d[i] = (struct ar_sysdesc){ .nr = SYS_mremap,
			.args = { t.start + i * PAGE, PAGE, PAGE,
				  MREMAP_FIXED | MREMAP_MAYMOVE,
				  scratch + i * PAGE } };
	t0 = now_us();
	CHECK_EQ(ar_inject_batch(inj, data, d, N, &done), 0);
	out_us = now_us() - t0;
	CHECK_EQ(done, N);
	CHECK_EQ(d[N - 1].result, scratch + (N - 1) * PAGE);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 0);
	CHECK_EQ(count_vmas(t.pid, scratch, scratch + N * PAGE), N);
	for (size_t i = 0; i < N; i++)
		d[i] = (struct ar_sysdesc){ .nr = SYS_mremap,
			.args = { scratch + i * PAGE, PAGE, PAGE,
				  MREMAP_FIXED | MREMAP_MAYMOVE,
				  t.start + i * PAGE } };
	t0 = now_us();
	CHECK_EQ(ar_inject_batch(inj, data, d, N, &done), 0);
	back_us = now_us() - t0;
	CHECK_EQ(done, N);
	/* A batch stops at the first error and says where. */
	for (size_t i = 0; i < 10; i++)
		d[i] = (struct ar_sysdesc){ .nr = SYS_getpid };
	d[5] = (struct ar_sysdesc){ .nr = SYS_close,
				    .args = { (uint64_t)-1 } };
	CHECK_EQ(ar_inject_batch(inj, data, d, 10, &done), 0);
	CHECK_EQ(done, 5);
	CHECK_EQ((long)d[4].result, t.pid);
	CHECK_EQ((long)d[5].result, -EBADF);
	CHECK_EQ(d[6].result, AR_SYSDESC_PENDING);
	CHECK_EQ(ar_inject_detach(inj), 0);
	printf("# batch of %d mremaps: %.1f us/call out, %.1f us/call back\n",
	       N, out_us / N, back_us / N);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), N);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void refuse_self(void)
{
	struct ar_inject *inj;

	CHECK_EQ(ar_inject_attach(ctx, getpid(), 0, AR_INJECT_NO_JOURNAL, &inj),
		 -EINVAL);
	CHECK(strstr(ar_ctx_errmsg(ctx), "ourselves"));
}

static void refuse_kernel_thread(void)
{
	struct ar_inject *inj;

	CHECK_EQ(ar_inject_attach(ctx, 2, 0, AR_INJECT_NO_JOURNAL, &inj),
		 -EINVAL);
	CHECK(strstr(ar_ctx_errmsg(ctx), "kernel thread"));
}

static void refuse_zombie(void)
{
	struct ar_inject *inj;
	pid_t pid = fork();
	int ret;

	CHECK(pid >= 0);
	if (!pid)
		_exit(0);
	while (proc_state(pid) != 'Z')
		usleep(1000);
	ret = ar_inject_attach(ctx, pid, 0, AR_INJECT_NO_JOURNAL, &inj);
	waitpid(pid, NULL, 0);
	CHECK_EQ(ret, -ESRCH);
	CHECK(strstr(ar_ctx_errmsg(ctx), "zombie"));
}

/*
 * The process a defrag read, known by its start time: should its pid name
 * another process by the time of a stop (it exited, the pid was reused),
 * that one is not stopped.
 */
static void refuse_other_process_with_pid(void)
{
	struct ar_inject *inj;
	struct ar_proc *proc;
	struct ar_target target;
	struct tgt t;

	CHECK(tgt_start(&t, "-r 10 -w 1") == 0);
	CHECK_EQ(ar_proc_read(ctx, t.pid, 0, &proc), 0);
	ar_proc_target(proc, &target);
	ar_proc_free(proc);
	target.starttime++;
	CHECK_EQ(ar_inject_attach_known(ctx, &target, 0, AR_INJECT_NO_JOURNAL,
					NULL, 0, &inj), -ESRCH);
	CHECK(strstr(ar_ctx_errmsg(ctx), "another process"));
	CHECK(proc_state(t.pid) != 'T');
	target.starttime--;
	CHECK_EQ(ar_inject_attach_known(ctx, &target, 0, AR_INJECT_NO_JOURNAL,
					NULL, 0, &inj), 0);
	CHECK_EQ(ar_inject_detach(inj), 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void refuse_traced(void)
{
	struct ar_inject *inj;
	char msg[512];
	bool filtered;
	struct tgt t;
	int ret, pret;

	CHECK(tgt_start(&t, "") == 0);
	CHECK_EQ(ar_inject_preflight(ctx, t.pid, &filtered), 0);
	CHECK(!filtered);
	CHECK(ptrace(PTRACE_SEIZE, t.pid, NULL, NULL) == 0);
	ret = ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj);
	snprintf(msg, sizeof(msg), "%s", ar_ctx_errmsg(ctx));
	pret = ar_inject_preflight(ctx, t.pid, &filtered);
	ptrace(PTRACE_INTERRUPT, t.pid, NULL, NULL);
	waitpid(t.pid, NULL, __WALL);
	ptrace(PTRACE_DETACH, t.pid, NULL, NULL);
	CHECK_EQ(ret, -EBUSY);
	CHECK(strstr(msg, "already traced"));
	CHECK_EQ(pret, -EBUSY);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), msg));
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * Attach from a child running as uid 65534 without capabilities; the
 * refusal's errno and message come back through a pipe.
 */
static int attach_as_nobody(pid_t pid, char *msg, size_t size)
{
	int fd[2], status;
	ssize_t n;
	pid_t child;

	if (pipe(fd))
		return -1;
	child = fork();
	if (!child) {
		struct ar_inject *inj;
		int err;

		close(fd[0]);
		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(255);
		err = ar_inject_attach(ctx, pid, 0, AR_INJECT_NO_JOURNAL, &inj);
		if (!err)
			ar_inject_detach(inj);
		if (write(fd[1], ar_ctx_errmsg(ctx),
			  strlen(ar_ctx_errmsg(ctx))) < 0)
			_exit(254);
		_exit(-err);
	}
	close(fd[1]);
	n = read(fd[0], msg, size - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fd[0]);
	if (child < 0 || waitpid(child, &status, 0) != child ||
	    !WIFEXITED(status))
		return -1;
	return -WEXITSTATUS(status);
}

static void refuse_other_uid(void)
{
	struct tgt t;
	char msg[512];

	CHECK(tgt_start(&t, "") == 0);
	CHECK_EQ(attach_as_nobody(t.pid, msg, sizeof(msg)), -EPERM);
	printf("# %s\n", msg);
	CHECK(strstr(msg, "uid 0") && strstr(msg, "CAP_SYS_PTRACE"));
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void refuse_non_dumpable(void)
{
	struct tgt t;
	char msg[512];

	CHECK(tgt_start(&t, "-u 65534 -D") == 0);
	CHECK_EQ(attach_as_nobody(t.pid, msg, sizeof(msg)), -EPERM);
	printf("# %s\n", msg);
	CHECK(strstr(msg, "not dumpable"));
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* A filter that denies (or kills on) userfaultfd: refused before any call. */
static void refuse_seccomp(const char *mode)
{
	static const struct ar_call_check need[] = {
		{ NULL, SYS_mremap, { 0 } }, { NULL, SYS_userfaultfd, { 0 } },
	};
	struct ar_inject *inj;
	struct tgt t;
	char args[32];

	snprintf(args, sizeof(args), "-r 8 -s %s", mode);
	CHECK(tgt_start(&t, args) == 0);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj), 0);
	CHECK_EQ(ar_inject_check_calls(inj, need, 1), 0);
	CHECK_EQ(ar_inject_check_calls(inj, need, 2), -EPERM);
	CHECK(strstr(ar_ctx_errmsg(ctx), "userfaultfd"));
	CHECK(strstr(ar_ctx_errmsg(ctx), strcmp(mode, "kill") ? "deny" : "kill"));
	CHECK_EQ(ar_inject_detach(inj), 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* A process sharing the memory (CLONE_VM) would run on: refused. */
static void refuse_mm_sharer(void)
{
	struct ar_inject *inj = NULL;
	struct tgt t;

	char msg[512];
	bool filtered;

	CHECK(tgt_start(&t, "-r 8 -V") == 0);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj),
		 -EBUSY);
	CHECK(inj == NULL);
	CHECK(strstr(ar_ctx_errmsg(ctx), "CLONE_VM"));
	printf("# %s\n", ar_ctx_errmsg(ctx));
	/* Found the same without a stop. */
	snprintf(msg, sizeof(msg), "%s", ar_ctx_errmsg(ctx));
	CHECK_EQ(ar_inject_preflight(ctx, t.pid, &filtered), -EBUSY);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), msg));
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void refuse_seccomp_deny(void) { refuse_seccomp("deny"); }
static void refuse_seccomp_kill(void) { refuse_seccomp("kill"); }

/* An unfinished run's journal blocks a new attach until recovered. */
static void refuse_while_journal(void)
{
	struct ar_journal *j, *j2;
	struct ar_inject *inj;
	struct ar_journal_state *st;
	struct tgt t;
	uint64_t starttime;

	CHECK(tgt_start(&t, "") == 0);
	CHECK_EQ(ar_journal_create(ctx, t.pid, &j), 0);
	st = ar_journal_state(j);
	st->pid = t.pid;
	CHECK_EQ(ar_proc_starttime(t.pid, &st->starttime), 0);
	st->phase = AR_JP_ATTACHED;
	CHECK_EQ(ar_journal_write(j, st, 0), 0);
	/* Held open, as by a live tool. */
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), -EBUSY);
	CHECK(strstr(ar_ctx_errmsg(ctx), "right now"));
	CHECK_EQ(ar_recover(ctx, t.pid, NULL), -EBUSY);
	/* Left behind, as by a dead one. */
	starttime = st->starttime;
	ar_journal_close(j);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), -EBUSY);
	CHECK(strstr(ar_ctx_errmsg(ctx), "recover"));
	CHECK_EQ(ar_journal_open(ctx, t.pid, &j2), 0);
	CHECK_EQ(ar_journal_state(j2)->starttime, starttime);
	CHECK_EQ(ar_journal_remove(j2), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * A journal is locked before it can be seen: a child creates and removes
 * one for pid over and over while we open and try to lock whatever is
 * there.  A lock we get on a file still linked is one a live tool's
 * journal was found without (recover would take it for a dead tool's).
 */
static void journal_never_seen_unlocked(void)
{
	unsigned int seen = 0, unlocked = 0;
	char path[256];
	pid_t pid = getppid(), writer;
	int status;

	CHECK_EQ(ar_journal_path(path, sizeof(path), pid), 0);
	writer = fork();
	if (!writer) {
		for (int i = 0; i < 4000; i++) {
			struct ar_journal *j;

			if (!ar_journal_create(ctx, pid, &j))
				ar_journal_remove(j);
		}
		_exit(0);
	}
	CHECK(writer > 0);
	while (waitpid(writer, &status, WNOHANG) == 0) {
		struct stat sb;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		seen++;
		if (!flock(fd, LOCK_EX | LOCK_NB) && !fstat(fd, &sb) &&
		    sb.st_nlink > 0)
			unlocked++;
		close(fd);
	}
	/* A creation that failed may have left it (the race, before). */
	unlink(path);
	printf("# journal seen %u times, unlocked %u times\n", seen, unlocked);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(seen > 0);
	CHECK_EQ(unlocked, 0);
}

#define NOBODY_RUN "/run/user/65534"

/*
 * What nobody's tool, killed, leaves for pid in its runtime directory: a
 * journal whose process start time is off by skew (1: a stale one).
 */
static int nobody_leaves_journal(pid_t pid, uint64_t skew)
{
	int status;
	pid_t child = fork();

	if (!child) {
		struct ar_journal *j;
		struct ar_journal_state *st;

		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) ||
		    setenv("XDG_RUNTIME_DIR", NOBODY_RUN, 1) ||
		    ar_journal_create(ctx, pid, &j))
			_exit(1);
		st = ar_journal_state(j);
		st->pid = pid;
		st->phase = AR_JP_ATTACHED;
		if (ar_proc_starttime(pid, &st->starttime))
			_exit(1);
		st->starttime += skew;
		_exit(ar_journal_write(j, st, 0) ? 1 : 0);
	}
	if (child < 0 || waitpid(child, &status, 0) != child ||
	    !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * A journal another user's run left in its runtime directory is seen by
 * root's defrag and recover, which name it and its owner; a stale one
 * (another process had the pid) is ignored, and left to its owner.
 */
static void refuse_other_users_journal(void)
{
	char path[256], want[512];
	struct ar_journal *j;
	struct ar_inject *inj;
	bool made_run = access(NOBODY_RUN, F_OK) != 0;
	struct tgt t;

	CHECK(tgt_start(&t, "-u 65534") == 0);
	CHECK(!made_run || (!mkdir(NOBODY_RUN, 0700) &&
			    !chown(NOBODY_RUN, 65534, 65534)));
	snprintf(path, sizeof(path), NOBODY_RUN "/anonremap/%d.journal", t.pid);
	CHECK_EQ(nobody_leaves_journal(t.pid, 1), 0);
	CHECK_EQ(ar_journal_check(ctx, t.pid), 0);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), 0);
	CHECK_EQ(ar_inject_detach(inj), 0);
	CHECK(access(path, F_OK) == 0);
	CHECK(unlink(path) == 0);

	CHECK_EQ(nobody_leaves_journal(t.pid, 0), 0);
	snprintf(want, sizeof(want), "an interrupted run of uid 65534 left %s: "
		 "run `anonremap recover %d` as uid 65534 with "
		 "XDG_RUNTIME_DIR=" NOBODY_RUN, path, t.pid);
	CHECK_EQ(ar_journal_check(ctx, t.pid), -EBUSY);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), want));
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), -EBUSY);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), want));
	CHECK_EQ(ar_journal_open(ctx, t.pid, &j), -EBUSY);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), want));
	CHECK(proc_state(t.pid) != 'T');
	CHECK(unlink(path) == 0);
	CHECK(rmdir(NOBODY_RUN "/anonremap") == 0);
	CHECK(!made_run || rmdir(NOBODY_RUN) == 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* The VmFlags line of the VMA of pid that contains addr, and its kB of THP. */
static int vma_flags(pid_t pid, unsigned long addr, char *flags, size_t size,
		     long *thp_kb)
{
	char path[64], line[512];
	int in = 0, found = 0;
	FILE *f;

	*thp_kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, ' ') &&
		    line[strspn(line, "0123456789abcdef")] == '-')
			in = s <= addr && addr < e;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			*thp_kb = atol(line + 14);
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strlen(line + 8);

			if (n >= size)
				n = size - 1;
			memcpy(flags, line + 8, n);
			flags[n] = '\0';
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

static void heal_and_check(const char *args, unsigned int flags,
			   long vmas_before, int thp)
{
	struct ar_heal_stats st;
	struct tgt t;
	char before[256], after[256];
	long kb, thp_before = 0, thp_after, locked;
	double pause;

	CHECK(tgt_start(&t, args) == 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), vmas_before);
	CHECK(vma_flags(t.pid, t.start, before, sizeof(before), &kb) == 0);
	locked = smaps_kb(t.pid, t.start, t.end, "Locked:");
	if (thp) {
		thp_before = smaps_kb(t.pid, t.start, t.end, "AnonHugePages:");
		CHECK(thp_before > 0);
	}
	CHECK_EQ(heal_region(ctx, &t, flags, &st, &pause), 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	CHECK(vma_flags(t.pid, t.start, after, sizeof(after), &kb) == 0);
	if (strcmp(before, after))
		printf("# VmFlags before:%s# VmFlags after: %s", before, after);
	CHECK(!strcmp(before, after));
	CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), locked);
	thp_after = smaps_kb(t.pid, t.start, t.end, "AnonHugePages:");
	if (thp)
		CHECK_EQ(thp_after, thp_before);
	printf("# %s: %llu moves in %llu batches, heal %.2f ms, process "
	       "stopped %.2f ms\n", args, (unsigned long long)st.moves,
	       (unsigned long long)st.batches, st.ns / 1e6, pause / 1e3);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void uffd_heals_1000_reversed(void)
{
	heal_and_check("-r 1000 -w 2", 0, 1000, 0);
}

/*
 * MADV_DONTDUMP, DONTFORK and WIPEONFORK survive the heal (VmFlags
 * compared), and the name where this kernel has anonymous names.
 */
static void uffd_keeps_attributes(void)
{
	struct tgt t;
	int named;

	heal_and_check("-r 100 -a -w 2", 0, 100, 0);
	CHECK(tgt_start(&t, "-r 20 -a -w 1") == 0);
	named = vma_named(t.pid, t.start, "[anon:frag]");
	CHECK(named >= 0);
	CHECK_EQ(heal_region(ctx, &t, 0, NULL, NULL), 0);
	if (named)
		CHECK_EQ(vma_named(t.pid, t.start, "[anon:frag]"), 1);
	else
		printf("# no CONFIG_ANON_VMA_NAME here: names not tested\n");
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* Also without a journal (AR_INJECT_NO_JOURNAL). */
static void uffd_heals_holes(void)
{
	heal_and_check("-r 500 -z 7 -w 2", AR_INJECT_NO_JOURNAL, 500, 0);
}

/*
 * Moves the kernel made but left out of its count (Linux 6.18, see
 * moved_unseen() in lib/backend-uffd.c) are stepped over: simulated by
 * forgetting the last five moves of the first batch.  Each costs one more
 * move (its EEXIST); the run heals and every page is where it belongs.
 */
static void uffd_steps_over_unseen_moves(void)
{
	struct ar_heal_stats st;
	struct tgt t;
	int ret;

	CHECK(tgt_start(&t, "-r 200 -w 2") == 0);
	setenv("ANONREMAP_TEST_FORGET_MOVES", "5", 1);
	ret = heal_region(ctx, &t, 0, &st, NULL);
	unsetenv("ANONREMAP_TEST_FORGET_MOVES");
	CHECK_EQ(ret, 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	CHECK_EQ(st.moves, 205);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void uffd_heals_thp_whole(void)
{
	heal_and_check("-H 4 -w 2", 0, 4, 1);
}

/*
 * An mlocked run heals and stays mlocked: VmFlags "lo" without "lf", and
 * all of it Locked (compared in heal_and_check()), THP ones whole.
 */
static void uffd_keeps_mlock(void)
{
	heal_and_check("-r 300 -l -w 2", 0, 300, 0);
	heal_and_check("-H 4 -l -w 2", 0, 4, 1);
}

/* Locked on fault (mlock2(MLOCK_ONFAULT)): "lo lf", and holes stay holes. */
static void uffd_keeps_mlock_onfault(void)
{
	heal_and_check("-r 300 -z 7 -L -w 2", 0, 300, 0);
}

/*
 * --must's rollback: a run healed with UFFDIO_MOVE is split back into the
 * VMAs it was, THP ones too, while the target's threads write; every page
 * in place.
 */
static void uffd_split_back(const char *args)
{
	char maps[2][16384], before[256], after[256];
	long healed = 0, kb;
	struct tgt t;

	CHECK(tgt_start(&t, args) == 0);
	CHECK(maps_of(t.pid, t.start, t.end, maps[0], sizeof(maps[0])) == 0);
	CHECK(vma_flags(t.pid, t.start, before, sizeof(before), &kb) == 0);
	CHECK_EQ(heal_then_split(ctx, t.pid, t.start, t.end, UFFD->heal,
				 &healed), 0);
	CHECK_EQ(healed, 1);
	CHECK(maps_of(t.pid, t.start, t.end, maps[1], sizeof(maps[1])) == 0);
	if (strcmp(maps[0], maps[1]))
		printf("# before:\n%s# after:\n%s", maps[0], maps[1]);
	CHECK(!strcmp(maps[0], maps[1]));
	CHECK(vma_flags(t.pid, t.start, after, sizeof(after), &kb) == 0);
	CHECK(!strcmp(before, after));
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void uffd_split_back_reversed(void)
{
	uffd_split_back("-r 300 -z 9 -w 2");
}

static void uffd_split_back_mlocked(void)
{
	uffd_split_back("-r 300 -l -w 2");
}

static void uffd_split_back_thp(void)
{
	uffd_split_back("-H 4 -w 2");
}

/* Heal VMAs [from, to) of the run over the region within session inj. */
static int heal_part(struct ar_inject *inj, struct tgt *t, size_t from,
		     size_t to)
{
	struct ar_proc *proc = NULL;
	struct ar_heal_run hr;
	struct ar_jsrc src[64];
	struct ar_run part = { 0 };
	int err = ar_proc_read(ctx, t->pid, 0, &proc);

	for (size_t i = 0; !err && i < ar_proc_nruns(proc); i++) {
		const struct ar_run *r = ar_proc_run(proc, i);

		if (r->start <= t->start && r->end >= t->end)
			part = *r;
	}
	if (!err && (!part.vmas || to > part.vmas || to - from > 64))
		err = -ENOENT;
	if (!err) {
		part.first_vma += from;
		part.vmas = to - from;
		part.start = ar_proc_vma(proc, part.first_vma)->start;
		part.end = ar_proc_vma(proc, part.first_vma + part.vmas - 1)->end;
		err = ar_heal_run_from_proc(&hr, src, proc, &part);
	}
	if (!err)
		err = UFFD->heal(inj, &hr, NULL);
	ar_proc_free(proc);
	return err;
}

/* Two runs healed in one session: the journal carries over between them. */
static void uffd_two_runs_one_session(void)
{
	struct ar_inject *inj;
	struct tgt t;

	CHECK(tgt_start(&t, "-r 60 -w 2") == 0);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), 0);
	CHECK_EQ(heal_part(inj, &t, 0, 30), 0);
	/* The first run is now VMA 0; the second is VMAs 1..30. */
	CHECK_EQ(heal_part(inj, &t, 1, 31), 0);
	CHECK_EQ(ar_inject_detach(inj), 0);
	/* UFFDIO_MOVE gives each its own anon_vma: two VMAs. */
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 2);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* Threads created and exiting while we attach, again and again. */
static void uffd_heals_while_threads_come_and_go(void)
{
	struct tgt t;

	struct ar_inject *inj;
	long ret;

	CHECK(tgt_start(&t, "-r 200 -w 2 -T") == 0);
	CHECK_EQ(heal_region(ctx, &t, 0, NULL, NULL), 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), 0);
		CHECK_EQ(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0),
			 0);
		CHECK_EQ(ret, t.pid);
		CHECK_EQ(ar_inject_detach(inj), 0);
	}
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* A process stopped before we came stays stopped after. */
static void stopped_target_stays_stopped(void)
{
	struct tgt t;
	int status;

	CHECK(tgt_start(&t, "-r 100 -w 2") == 0);
	CHECK_EQ(kill(t.pid, SIGSTOP), 0);
	CHECK_EQ(waitpid(t.pid, &status, WUNTRACED), t.pid);
	CHECK(WIFSTOPPED(status));
	CHECK_EQ(heal_region(ctx, &t, 0, NULL, NULL), 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	usleep(20000);
	CHECK_EQ(proc_state(t.pid), 'T');
	CHECK_EQ(kill(t.pid, SIGCONT), 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* A move that fails half-way (pages shared with a child): all put back. */
static void uffd_failure_moves_back(void)
{
	struct tgt t;
	char path[256];
	int err;

	CHECK(tgt_start(&t, "-r 200 -f -w 2") == 0);
	err = heal_region(ctx, &t, 0, NULL, NULL);
	printf("# %s\n", ar_ctx_errmsg(ctx));
	CHECK_EQ(err, -EBUSY);
	CHECK(strstr(ar_ctx_errmsg(ctx), "shared"));
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 200);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(ar_journal_path(path, sizeof(path), t.pid), 0);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * The tool killed with SIGKILL at random instants of a heal of the target
 * started with args, then recover: the run is healed (if it can be) or
 * untouched, never in between, every page intact, the process running.
 * AR_KILL9_ITERATIONS multiplies the iterations for a stress run.
 */
static void kill9_loop(const char *args, int iterations, int can_heal)
{
	static const char *const phases[] = {
		"none", "attached", "ready", "uffd-dst", "moving", "undo",
		"done",
	};
	const char *env = getenv("AR_KILL9_ITERATIONS");
	unsigned int seen[AR_ARRAY_SIZE(phases)] = { 0 };
	unsigned int healed = 0, untouched = 0, how_seen[3] = { 0 };
	double full_us;
	struct tgt t;
	pid_t child;
	long pages;
	int status;

	if (env)
		iterations = iterations * atoi(env) / 20;
	/* How long a forked tool takes here, to spread the kills over it. */
	CHECK(tgt_start(&t, args) == 0);
	pages = (long)t.pages;
	fflush(stdout);
	full_us = now_us();
	child = fork();
	CHECK(child >= 0);
	if (!child)
		_exit(heal_region(ctx, &t, 0, NULL, NULL) ? 1 : 0);
	CHECK_EQ(waitpid(child, &status, 0), child);
	full_us = now_us() - full_us;
	CHECK_EQ(WEXITSTATUS(status), can_heal ? 0 : 1);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), can_heal ? 1 : pages);
	CHECK_EQ(tgt_quit(&t), 0);
	srand((unsigned int)getpid());
	for (int it = 0; it < iterations; it++) {
		enum ar_recovery how = AR_RECOVERY_NOTHING;
		char before[256], after[256];
		struct ar_journal *j;
		unsigned int phase = 0;
		long vmas, kb, locked;
		int err;

		CHECK(tgt_start(&t, args) == 0);
		CHECK(vma_flags(t.pid, t.start, before, sizeof(before),
				&kb) == 0);
		locked = smaps_kb(t.pid, t.start, t.end, "Locked:");
		fflush(stdout);
		child = fork();
		CHECK(child >= 0);
		if (!child)
			_exit(heal_region(ctx, &t, 0, NULL, NULL) ? 1 : 0);
		usleep((useconds_t)(rand() % (int)(full_us + 1)));
		kill(child, SIGKILL);
		CHECK_EQ(waitpid(child, &status, 0), child);
		if (!ar_journal_open(ctx, t.pid, &j)) {
			phase = ar_journal_state(j)->phase;
			ar_journal_close(j);
		}
		if (phase < AR_ARRAY_SIZE(phases))
			seen[phase]++;
		err = ar_recover(ctx, t.pid, &how);
		if (err && err != -ENOENT)
			printf("# iteration %d, phase %u: %s\n", it, phase,
			       ar_ctx_errmsg(ctx));
		CHECK(err == 0 || err == -ENOENT);
		how_seen[how]++;
		vmas = count_vmas(t.pid, t.start, t.end);
		CHECK(vmas == pages || (can_heal && vmas == 1));
		CHECK(how != AR_RECOVERY_FINISHED || vmas == 1);
		CHECK(how != AR_RECOVERY_UNDONE || vmas == pages);
		healed += vmas == 1;
		untouched += vmas == pages;
		CHECK(vma_flags(t.pid, t.start, after, sizeof(after), &kb) == 0);
		if (strcmp(before, after))
			printf("# VmFlags before:%s# VmFlags after: %s", before,
			       after);
		CHECK(!strcmp(before, after));
		CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), locked);
		CHECK(proc_state(t.pid) != 'T');
		CHECK_EQ(tgt_verify(&t), 0);
		CHECK_EQ(tgt_quit(&t), 0);
	}
	printf("# %s: %d kills over %.1f ms: %u healed, %u untouched "
	       "(recover finished %u, undid %u); journal phase at death:",
	       args, iterations, full_us / 1e3, healed, untouched,
	       how_seen[AR_RECOVERY_FINISHED], how_seen[AR_RECOVERY_UNDONE]);
	for (size_t i = 0; i < AR_ARRAY_SIZE(phases); i++)
		if (seen[i])
			printf(" %s=%u", phases[i], seen[i]);
	printf("\n");
}

static void kill9_then_recover(void)
{
	kill9_loop("-r 300 -w 2", 20, 1);
}

/* Heals that fail half-way (pages shared with a child) and undo. */
static void kill9_during_undo_then_recover(void)
{
	kill9_loop("-r 300 -f -w 2", 10, 0);
}

/* Healed or undone, an mlocked run stays mlocked (compared in the loop). */
static void kill9_mlocked_then_recover(void)
{
	kill9_loop("-r 300 -l -w 2", 10, 1);
	kill9_loop("-r 300 -f -l -w 2", 10, 0);
}

/*
 * The tool died after the batch that puts dst over an mlocked run ran its
 * mremap but before its mlock: the run is one VMA locked on fault ("lo
 * lf"), the journal still says moving, dst is gone.  A child of ours
 * leaves exactly that and dies attached; recover locks the run plainly
 * again.
 */
static void recover_relocks_healed_run(void)
{
	char before[256], after[256];
	struct tgt t;
	enum ar_recovery how = AR_RECOVERY_NOTHING;
	long kb, len;
	pid_t child;
	int status;

	CHECK(tgt_start(&t, "-r 100 -l -w 2") == 0);
	len = (long)(t.end - t.start);
	CHECK_EQ(heal_region(ctx, &t, 0, NULL, NULL), 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	CHECK(vma_flags(t.pid, t.start, before, sizeof(before), &kb) == 0);
	fflush(stdout);
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		struct ar_journal_state *js;
		struct ar_inject *inj;
		long r = -1;

		if (ar_inject_attach(ctx, t.pid, 0, 0, &inj) ||
		    ar_inject_call(inj, &r, SYS_mlock2, t.start, (uint64_t)len,
				   1 /* MLOCK_ONFAULT */, 0, 0, 0) || r)
			_exit(1);
		js = ar_journal_state(ar_inject_journal(inj));
		js->run_start = t.start;
		js->run_end = t.end;
		js->dst = PAGE;		/* below mmap_min_addr: never mapped */
		AR_JREC(js, struct test_uffd_rec)->uffd = -1;
		js->advice = AR_ADV_MLOCK;
		js->phase = UFFD_PHASE_MOVING;
		_exit(ar_journal_write(ar_inject_journal(inj), js, 0) ? 1 : 0);
	}
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(vma_flags(t.pid, t.start, after, sizeof(after), &kb) == 0);
	printf("# left by the dead tool:%s", after);
	CHECK(strstr(after, " lo lf "));
	CHECK_EQ(ar_recover(ctx, t.pid, &how), 0);
	CHECK_EQ(how, AR_RECOVERY_FINISHED);
	CHECK(vma_flags(t.pid, t.start, after, sizeof(after), &kb) == 0);
	CHECK(!strcmp(before, after));
	CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), len / 1024);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * The process is killed while attached: the next call fails, detach lets
 * its threads go (a thread killed while traced is the tracer's to wait
 * for, and the process cannot end before), and no journal is kept for it.
 * Several rounds: the exit races detach.
 */
static void killed_while_attached_no_journal(void)
{
	for (int round = 0; round < 5; round++) {
		struct ar_inject *inj;
		struct tgt t;
		char path[256];
		long ret = 0;
		int status, waited = 0;
		pid_t r;

		CHECK(tgt_start(&t, "-r 16 -w 4") == 0);
		CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, 0, &inj), 0);
		kill(t.pid, SIGKILL);
		CHECK(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0,
				     0) < 0);
		/* Its result depends on how far the exit got: not checked. */
		ar_inject_detach(inj);
		CHECK_EQ(ar_journal_path(path, sizeof(path), t.pid), 0);
		CHECK(access(path, F_OK) != 0);
		while ((r = waitpid(t.pid, &status, WNOHANG)) == 0 &&
		       waited++ < 500)
			usleep(10000);
		CHECK_EQ(r, t.pid);
		if (r == t.pid) {
			forget(t.pid);
			fclose(t.in);
			fclose(t.out);
		}
		kill_all();
	}
}

/* The process died after the tool: recover drops the stale journal. */
static void recover_dead_process(void)
{
	struct ar_journal *j;
	struct ar_journal_state *st;
	struct tgt t;
	char path[256];

	CHECK(tgt_start(&t, "") == 0);
	CHECK_EQ(ar_journal_create(ctx, t.pid, &j), 0);
	st = ar_journal_state(j);
	st->pid = t.pid;
	st->phase = UFFD_PHASE_MOVING;
	CHECK_EQ(ar_proc_starttime(t.pid, &st->starttime), 0);
	CHECK_EQ(ar_journal_write(j, st, 0), 0);
	ar_journal_close(j);
	kill(t.pid, SIGKILL);
	kill_all();
	CHECK_EQ(ar_recover(ctx, t.pid, NULL), -ESRCH);
	CHECK(strstr(ar_ctx_errmsg(ctx), "stale"));
	CHECK_EQ(ar_journal_path(path, sizeof(path), t.pid), 0);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(ar_recover(ctx, t.pid, NULL), -ENOENT);
}

static void uffd_probe_here(void)
{
	CHECK_EQ(UFFD->probe(ctx), 0);
}

/* Refused or failed heals leave the process exactly as it was. */
static void heal_refused_untouched(const char *args, int expect,
				   const char *why)
{
	struct tgt t;
	char path[256];

	CHECK(tgt_start(&t, args) == 0);
	CHECK_EQ(heal_region(ctx, &t, 0, NULL, NULL), expect);
	printf("# %s: %s\n", args, ar_ctx_errmsg(ctx));
	CHECK(strstr(ar_ctx_errmsg(ctx), why));
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), (long)t.pages);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(ar_journal_path(path, sizeof(path), t.pid), 0);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* The filter is read first: nothing is changed. */
static void heal_refused_by_seccomp(void)
{
	heal_refused_untouched("-r 50 -s deny", -EPERM, "userfaultfd");
}

/*
 * Signals sent while calls are injected reach the process afterwards:
 * sigqueue()'s with their code and value, a real-time one as often as it
 * was sent.  Only the injected thread runs, so it is the one to take them.
 */
static void signals_held_and_resent(void)
{
	union sigval v = { .sival_int = 4242 };
	int usr1 = -1, code = 0, value = 0, rt = -1;
	struct ar_inject *inj;
	char buf[128];
	struct tgt t;
	long ret;

	CHECK_EQ(tgt_start(&t, "-w 1 -r 10"), 0);
	CHECK_EQ(ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj), 0);
	CHECK_EQ(sigqueue(t.pid, SIGUSR1, v), 0);
	CHECK_EQ(sigqueue(t.pid, SIGRTMIN + 1, v), 0);
	CHECK_EQ(sigqueue(t.pid, SIGRTMIN + 1, v), 0);
	for (int i = 0; i < 10; i++) {
		CHECK_EQ(ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
		CHECK_EQ(ret, t.pid);
	}
	CHECK_EQ(ar_inject_detach(inj), 0);
	fputs("signals\n", t.in);
	fflush(t.in);
	CHECK(fgets(buf, sizeof(buf), t.out) != NULL);
	CHECK_EQ(sscanf(buf, "SIGNALS usr1=%d code=%d value=%d rt=%d", &usr1,
			&code, &value, &rt), 4);
	printf("# %s", buf);
	CHECK_EQ(usr1, 1);
	CHECK_EQ(code, SI_QUEUE);
	CHECK_EQ(value, 4242);
	CHECK_EQ(rt, 2);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* A filter that kills on one ioctl request only: read with arguments. */
static void heal_refused_by_seccomp_args(void)
{
	heal_refused_untouched("-r 50 -s move-kill", -EPERM,
			       "kill it on ioctl(UFFDIO_MOVE)");
}

/* An mlocked run: the filter is read for mlock2 too. */
static void heal_refused_by_seccomp_mlock2(void)
{
	heal_refused_untouched("-r 50 -l -s mlock2-kill", -EPERM,
			       "mlock2(MLOCK_ONFAULT)");
}

/* A NUMA policy cannot be carried to the new VMA: refused. */
static void heal_refused_mempolicy(void)
{
	heal_refused_untouched("-r 50 -m", -EPERM, "NUMA policy");
}

/* An errno nobody planned for (EMFILE) aborts and undoes cleanly. */
static void heal_unexpected_errno(void)
{
	heal_refused_untouched("-r 50 -n", -EMFILE, "userfaultfd");
}

static void run(const char *name, void (*fn)(void))
{
	tap_run(name, fn);
	kill_all();
}

#define RUN(fn) run(#fn, fn)

/* Tests that change uid. */
static void run_as_root(const char *name, void (*fn)(void))
{
	if (geteuid()) {
		printf("ok %d - %s # skip needs root\n", ++tap_count, name);
		return;
	}
	run(name, fn);
}

#define RUN_AS_ROOT(fn) run_as_root(#fn, fn)

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (tgt_locate())
		return 1;
	if (ar_ctx_new(&ctx))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	RUN(inject_main_in_read);
	RUN(inject_sleeper_in_nanosleep);
	RUN(inject_reader_in_read);
	RUN(inject_futex_waiter);
	RUN(inject_busy_worker);
	RUN(threads_parked_while_attached);
	RUN(parked_threads_stop_again);
	RUN(batch_1000_mremaps);
	RUN(uffd_heals_1000_reversed);
	RUN(uffd_heals_holes);
	RUN(uffd_heals_thp_whole);
	RUN(uffd_keeps_mlock);
	RUN(uffd_keeps_mlock_onfault);
	RUN(uffd_split_back_reversed);
	RUN(uffd_split_back_thp);
	RUN(uffd_split_back_mlocked);
	RUN(uffd_keeps_attributes);
	RUN(uffd_steps_over_unseen_moves);
	RUN(uffd_two_runs_one_session);
	RUN(stopped_target_stays_stopped);
	RUN(uffd_heals_while_threads_come_and_go);
	RUN(uffd_failure_moves_back);
	RUN(heal_refused_by_seccomp);
	RUN(heal_refused_by_seccomp_args);
	RUN(heal_refused_by_seccomp_mlock2);
	RUN(signals_held_and_resent);
	RUN(heal_refused_mempolicy);
	RUN(heal_unexpected_errno);
	RUN(kill9_then_recover);
	RUN(kill9_during_undo_then_recover);
	RUN(kill9_mlocked_then_recover);
	RUN(recover_relocks_healed_run);
	RUN(killed_while_attached_no_journal);
	RUN(recover_dead_process);
	RUN(uffd_probe_here);
	RUN(refuse_self);
	RUN(refuse_kernel_thread);
	RUN(refuse_zombie);
	RUN(refuse_other_process_with_pid);
	RUN(refuse_traced);
	RUN(refuse_mm_sharer);
	RUN_AS_ROOT(refuse_other_uid);
	RUN_AS_ROOT(refuse_non_dumpable);
	RUN(refuse_seccomp_deny);
	RUN(refuse_seccomp_kill);
	RUN(refuse_while_journal);
	RUN(journal_never_seen_unlocked);
	RUN_AS_ROOT(refuse_other_users_journal);
	ar_ctx_free(ctx);
	return tap_done();
}
