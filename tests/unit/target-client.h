/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Driving tests/helpers/target from a test or a benchmark: start it, ask
 * it to verify itself, stop it, look at its VMAs, heal its region.
 */
#ifndef AR_TARGET_CLIENT_H
#define AR_TARGET_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "inject.h"
#include "journal.h"
#include "uffd.h"

/* The backends under test, from the library's list. */
#define UFFD ar_backend_ops(AR_BACKEND_UFFD_MOVE)
#define COPY ar_backend_ops(AR_BACKEND_COPY)
#define RELOCATE ar_backend_ops(AR_BACKEND_RELOCATE)

/*
 * For tests that forge the journal of a tool that died mid-run: the
 * backends' phases, as their ops list them, and the head of their journal
 * records (AR_JREC()), as backend-uffd.c and backend-copy.c lay them out.
 */
#define UFFD_PHASE_MOVING (UFFD->phases[1])
#define COPY_PHASE_DST (COPY->phases[0])
#define COPY_PHASE_BACK (COPY->phases[1])
struct __attribute__((may_alias)) test_uffd_rec {
	int32_t uffd;			/* -1: none */
};
struct __attribute__((may_alias)) test_copy_rec {
	uint32_t prot_after, batch_first;
};

#define PAGE 4096UL

struct tgt {
	pid_t pid;
	FILE *in, *out;
	unsigned long start, end;
	size_t pages;
};

static char target_path[PATH_MAX];	/* set by tgt_locate() */
/*
 * Targets not yet quit, by value: a test that fails early leaves its
 * struct tgt out of scope, and kill_all() must not read it.
 */
static struct tgt live[32];
static size_t nlive;

static inline void forget(pid_t pid)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i].pid == pid)
			live[i--] = live[--nlive];
}

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Start the target with args ("-r 1000 -w 2"); 0 when READY. */
static inline int tgt_start(struct tgt *t, const char *args)
{
	int in[2], out[2];
	char buf[256], *argv[16], *save = NULL;
	int argc = 0;

	memset(t, 0, sizeof(*t));
	if (nlive == sizeof(live) / sizeof(live[0]) ||
	    pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = target_path;
	for (char *tok = strtok_r(buf, " ", &save); tok && argc < 15;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (!t->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(target_path, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->in = fdopen(in[1], "w");
	t->out = fdopen(out[0], "r");
	live[nlive++] = *t;
	if (!fgets(buf, sizeof(buf), t->out) ||
	    sscanf(buf, "READY pid=%*d start=%lx end=%lx pages=%zu", &t->start,
		   &t->end, &t->pages) != 3)
		return -1;
	return 0;
}

/* Ask the target to verify everything: its error count, or -1. */
static inline long tgt_verify(struct tgt *t)
{
	char buf[128];
	long errors;

	fputs("verify\n", t->in);
	fflush(t->in);
	if (!fgets(buf, sizeof(buf), t->out) ||
	    sscanf(buf, "VERIFIED errors=%ld", &errors) != 1)
		return -1;
	return errors;
}

/* Stop the target; its exit status (0: no corruption, no anomaly). */
static inline int tgt_quit(struct tgt *t)
{
	char buf[128];
	int status;

	forget(t->pid);
	fputs("quit\n", t->in);
	fclose(t->in);
	/* Read its last words: it must not die of SIGPIPE saying them. */
	while (fgets(buf, sizeof(buf), t->out))
		;
	fclose(t->out);
	t->in = t->out = NULL;
	if (waitpid(t->pid, &status, 0) != t->pid)
		return -1;
	t->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline void kill_all(void)
{
	while (nlive) {
		struct tgt *t = &live[--nlive];

		if (t->pid > 0) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
		}
		fclose(t->in);
		fclose(t->out);
	}
}

/* The thread of pid whose comm is name. */
static inline pid_t thread_named(pid_t pid, const char *name)
{
	char path[64], buf[64];

	for (int tries = 0; tries < 100; tries++) {
		for (pid_t tid = pid; tid < pid + 64; tid++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid,
				 tid);
			if (ar_read_small_file(path, buf, sizeof(buf)) > 0 &&
			    !strncmp(buf, name, strlen(name)))
				return tid;
		}
		usleep(10000);
	}
	return -1;
}

/* VMAs of pid inside [start, end). */
static inline long count_vmas(pid_t pid, unsigned long start, unsigned long end)
{
	char path[64], line[512];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < end && e > start)
			n++;
	}
	fclose(f);
	return n;
}

/*
 * The VMAs of pid meeting [start, end) as "start-end perms" lines into buf
 * (the maps line without offset, device, inode and name); -1 when it does
 * not fit or maps cannot be read.
 */
static inline int maps_of(pid_t pid, unsigned long start, unsigned long end,
			  char *buf, size_t size)
{
	char path[64], line[512];
	size_t used = 0;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	buf[0] = 0;
	while (!ret && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];
		int n;

		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3 ||
		    s >= end || e <= start)
			continue;
		n = snprintf(buf + used, size - used, "%lx-%lx %s\n", s, e,
			     perms);
		if (n < 0 || (size_t)n >= size - used)
			ret = -1;
		else
			used += (size_t)n;
	}
	fclose(f);
	return ret;
}

/* Whether the maps line of the VMA of pid starting at start names name. */
static inline int vma_named(pid_t pid, unsigned long start, const char *name)
{
	char path[64], line[512];
	int named = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strtoul(line, NULL, 16) == start && strstr(line, name))
			named = 1;
	fclose(f);
	return named;
}

static inline char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (ar_read_small_file(path, buf, sizeof(buf)) < 0 ||
	    !(p = strrchr(buf, ')')))
		return '?';
	return p[2];
}

/*
 * Find tests/helpers/target: beside a test built in tests/unit (or in
 * check-asan's copy of that tree), else from the top of the tree.
 * 0, or -1 when it cannot be named.
 */
static inline int tgt_locate(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int len;

	if (n < 0)
		return -1;
	self[n] = '\0';
	len = snprintf(target_path, sizeof(target_path), "%s/../helpers/target",
		       dirname(self));
	if (len < 0 || (size_t)len >= sizeof(target_path))
		return -1;
	if (access(target_path, X_OK))
		snprintf(target_path, sizeof(target_path), "tests/helpers/target");
	return 0;
}

/* A backend's heal (struct ar_backend_ops). */
typedef int (*heal_fn)(struct ar_inject *inj, const struct ar_heal_run *run,
		       struct ar_heal_stats *st);

/*
 * Of stopped pid, the run covering [start, end), as a backend takes it:
 * *procp and *srcp are the caller's to free, even on failure.
 */
static inline int read_run(struct ar_ctx *ctx, pid_t pid, unsigned long start,
			   unsigned long end, struct ar_proc **procp,
			   struct ar_jsrc **srcp, struct ar_heal_run *hr)
{
	const struct ar_run *run = NULL;
	int err = ar_proc_read(ctx, pid, 0, procp);

	*srcp = NULL;
	for (size_t i = 0; !err && i < ar_proc_nruns(*procp); i++) {
		const struct ar_run *r = ar_proc_run(*procp, i);

		if (r->start <= start && r->end >= end)
			run = r;
	}
	if (!err && !run)
		err = -ENOENT;
	if (!err && !(*srcp = calloc(run->vmas, sizeof(**srcp))))
		err = -ENOMEM;
	return err ? err : ar_heal_run_from_proc(hr, *srcp, *procp, run);
}

/*
 * Attach to pid, find the run covering [start, end) (read while stopped),
 * heal it with heal, detach.  Returns the heal's result.
 */
static inline int heal_range(struct ar_ctx *ctx, pid_t pid, unsigned long start,
			     unsigned long end, heal_fn heal, unsigned int flags,
			     struct ar_heal_stats *st)
{
	struct ar_inject *inj;
	struct ar_proc *proc = NULL;
	struct ar_heal_run hr;
	struct ar_jsrc *src = NULL;
	int err, derr;

	err = ar_inject_attach(ctx, pid, 0, flags, &inj);
	if (err)
		return err;
	err = read_run(ctx, pid, start, end, &proc, &src, &hr);
	if (!err)
		err = heal(inj, &hr, st);
	derr = ar_inject_detach(inj);
	free(src);
	ar_proc_free(proc);
	return err ? err : derr;
}

/*
 * In one stop: heal the run covering [start, end) with heal, count its
 * VMAs into *healed_vmas, then split it back into the VMAs it was with
 * ar_heal_split_by_heals() (what --must does when a later run fails).
 */
static inline int heal_then_split(struct ar_ctx *ctx, pid_t pid,
				  unsigned long start, unsigned long end,
				  heal_fn heal, long *healed_vmas)
{
	struct ar_inject *inj;
	struct ar_proc *proc = NULL;
	struct ar_heal_run hr;
	struct ar_heal_stats st;
	struct ar_jsrc *src = NULL;
	int err, derr;

	err = ar_inject_attach(ctx, pid, 0, 0, &inj);
	if (err)
		return err;
	err = read_run(ctx, pid, start, end, &proc, &src, &hr);
	if (!err)
		err = heal(inj, &hr, &st);
	*healed_vmas = count_vmas(pid, start, end);
	if (!err)
		err = ar_heal_split_by_heals(inj, heal, &hr, &st);
	derr = ar_inject_detach(inj);
	free(src);
	ar_proc_free(proc);
	return err ? err : derr;
}

/* heal_range() of the target's region with uffd-move, timed when asked. */
static inline int heal_region(struct ar_ctx *ctx, struct tgt *t,
			       unsigned int flags, struct ar_heal_stats *st,
			       double *pause_us)
{
	double t0 = now_us();
	int err = heal_range(ctx, t->pid, t->start, t->end, UFFD->heal, flags,
			     st);

	if (pause_us)
		*pause_us = now_us() - t0;
	return err;
}

/* Sum of an smaps field ("Rss:") in kB over the VMAs of pid in [start, end). */
static inline long smaps_kb(pid_t pid, unsigned long start, unsigned long end,
			    const char *field)
{
	char path[64], line[512];
	size_t flen = strlen(field);
	long total = 0;
	int in = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (line[strspn(line, "0123456789abcdef")] == '-' &&
		    sscanf(line, "%lx-%lx ", &s, &e) == 2)
			in = s < end && e > start;
		else if (in && !strncmp(line, field, flen))
			total += atol(line + flen);
	}
	fclose(f);
	return total;
}

#endif /* AR_TARGET_CLIENT_H */
