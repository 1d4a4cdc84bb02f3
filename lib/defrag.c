// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Defragmentation: from the runs of a snapshot to a plan, and the plan
 * carried out by a backend inside the stopped process.
 *
 * The plan is made twice: once from a snapshot of the running process
 * (all a dry run needs) and again once every thread is stopped, because
 * the process may have changed its mappings in between.  Only the second
 * plan is carried out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "internal.h"
#include "uffd.h"

/* Our kernel patch's flags (kernel/patches), unknown to stock headers. */
#define MREMAP_RELOCATE_ANON 8
#define MREMAP_MUST_RELOCATE_ANON 16

static const char *const backend_names[] = {
	[AR_BACKEND_AUTO] = "auto",
	[AR_BACKEND_RELOCATE] = "relocate",
	[AR_BACKEND_UFFD_MOVE] = "uffd-move",
};

AR_EXPORT const char *ar_backend_name(enum ar_backend backend)
{
	if ((unsigned int)backend >= AR_ARRAY_SIZE(backend_names))
		return NULL;
	return backend_names[backend];
}

AR_EXPORT int ar_backend_parse(const char *name, enum ar_backend *backend)
{
	size_t i;

	for (i = 0; i < AR_ARRAY_SIZE(backend_names); i++)
		if (!strcmp(name, backend_names[i])) {
			*backend = (enum ar_backend)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * Does mremap() know MREMAP_RELOCATE_ANON?  A stock kernel rejects the
 * unknown flag with EINVAL before looking at anything else; a patched one
 * moves our own scratch page.
 */
static int kernel_has_relocate(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *moved;

	if (p == MAP_FAILED)
		return -errno;
	p[0] = 1;
	moved = mremap(p, page, page,
		       MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_RELOCATE_ANON,
		       p + page);
	munmap(p, 2 * page);
	return moved != MAP_FAILED;
}

AR_EXPORT int ar_backend_probe(struct ar_ctx *ctx, enum ar_backend backend)
{
	int ret;

	switch (backend) {
	case AR_BACKEND_RELOCATE:
		ret = kernel_has_relocate();
		if (ret < 0)
			return ar_fail_errno(ctx, -ret, "cannot probe");
		if (!ret)
			return ar_fail(ctx, EOPNOTSUPP,
				       "this kernel has no "
				       "MREMAP_RELOCATE_ANON (the patch series in "
				       "kernel/ adds it)");
		return ar_fail(ctx, EOPNOTSUPP,
			       "the kernel has MREMAP_RELOCATE_ANON, "
			       "but this version of anonremap cannot drive it "
			       "yet");
	case AR_BACKEND_UFFD_MOVE:
		return ar_uffd_probe(ctx);
	case AR_BACKEND_AUTO:
		break;
	}
	return ar_fail(ctx, EINVAL, "no such backend: %d", (int)backend);
}

/* The first backend that works, or the reasons none does. */
static int choose_backend(struct ar_ctx *ctx, enum ar_backend *backend)
{
	static const enum ar_backend order[] = {
		AR_BACKEND_RELOCATE, AR_BACKEND_UFFD_MOVE,
	};
	char why[AR_ARRAY_SIZE(order)][sizeof(ctx->errmsg)];
	int ret = 0;
	size_t i;

	if (*backend != AR_BACKEND_AUTO)
		return ar_backend_probe(ctx, *backend);
	for (i = 0; i < AR_ARRAY_SIZE(order); i++) {
		ret = ar_backend_probe(ctx, order[i]);
		if (!ret) {
			*backend = order[i];
			return 0;
		}
		snprintf(why[i], sizeof(why[i]), "%s", ctx->errmsg);
	}
	return ar_fail(ctx, -ret, "no backend works here: relocate: %s; "
		       "uffd-move: %s", why[0], why[1]);
}

static const char *blocker_reason(unsigned int blockers)
{
	if (blockers & AR_BLOCK_SHARED)
		return "pages shared with another process (a fork)";
	if (blockers & AR_BLOCK_MLOCKED)
		return "mlocked";
	if (blockers & AR_BLOCK_UFFD)
		return "registered with the process's own userfaultfd";
	return "holds guard regions";
}

/* The part of run inside [start, end): whole VMAs only. */
static bool clip_run(const struct ar_proc *proc, const struct ar_run *run,
		     uint64_t start, uint64_t end, struct ar_run *out)
{
	size_t first = run->first_vma, last = run->first_vma + run->vmas;

	while (first < last && proc->vmas[first].start < start)
		first++;
	while (last > first && proc->vmas[last - 1].end > end)
		last--;
	if (last - first < 2)
		return false;
	if (first == run->first_vma && last == run->first_vma + run->vmas) {
		*out = *run;
		return true;
	}
	memset(out, 0, sizeof(*out));
	out->first_vma = first;
	out->vmas = last - first;
	out->start = proc->vmas[first].start;
	out->end = proc->vmas[last - 1].end;
	out->blockers = run->blockers;
	return true;
}

struct plan {
	struct ar_run *runs;		/* clipped to the range */
	struct ar_defrag_run *out;	/* what the report says of each */
	size_t n;
	size_t healable;		/* runs without a reason to skip */
};

static void plan_free(struct plan *p)
{
	free(p->runs);
	free(p->out);
	memset(p, 0, sizeof(*p));
}

/*
 * Every run in the range, each either planned or skipped with the reason.
 * The checks are those that need nothing but the snapshot; the backend
 * may still refuse a run when it looks at the process itself.
 */
static int make_plan(struct ar_ctx *ctx, const struct ar_proc *proc,
		     const struct ar_defrag_opts *opts, struct plan *p)
{
	uint64_t end = opts->end ? opts->end : UINT64_MAX;
	struct ar_jsrc *src = NULL;
	size_t i, maxvmas = 0;

	memset(p, 0, sizeof(*p));
	p->runs = calloc(proc->nruns ? proc->nruns : 1, sizeof(*p->runs));
	p->out = calloc(proc->nruns ? proc->nruns : 1, sizeof(*p->out));
	if (!p->runs || !p->out) {
		plan_free(p);
		return ar_fail(ctx, ENOMEM, "out of memory");
	}
	for (i = 0; i < proc->nruns; i++)
		if (clip_run(proc, &proc->runs[i], opts->start, end, &p->runs[p->n])) {
			if (p->runs[p->n].vmas > maxvmas)
				maxvmas = p->runs[p->n].vmas;
			p->n++;
		}
	if (maxvmas)
		src = calloc(maxvmas, sizeof(*src));
	if (maxvmas && !src) {
		plan_free(p);
		return ar_fail(ctx, ENOMEM, "out of memory");
	}
	for (i = 0; i < p->n; i++) {
		const struct ar_run *r = &p->runs[i];
		struct ar_defrag_run *o = &p->out[i];
		struct ar_heal_run hr;

		o->start = r->start;
		o->end = r->end;
		o->vmas = r->vmas;
		o->blockers = r->blockers;
		o->fate = AR_RUN_PLANNED;
		if (r->blockers) {
			o->fate = AR_RUN_SKIPPED;
			snprintf(o->reason, sizeof(o->reason), "%s",
				 blocker_reason(r->blockers));
		} else if (ar_heal_run_from_proc(&hr, src, proc, r)) {
			o->fate = AR_RUN_SKIPPED;
			snprintf(o->reason, sizeof(o->reason),
				 "its VMAs differ in flags this version cannot "
				 "carry over");
		} else if (ar_uffd_check_run(ctx, &hr)) {
			o->fate = AR_RUN_SKIPPED;
			snprintf(o->reason, sizeof(o->reason), "%s", ctx->errmsg);
		}
		p->healable += o->fate == AR_RUN_PLANNED;
	}
	free(src);
	return 0;
}

/* Refuse the whole defrag when --must and a run cannot heal. */
static int must_refuse(struct ar_ctx *ctx, const struct plan *p, pid_t pid)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->out[i].fate == AR_RUN_SKIPPED)
			return ar_fail(ctx, EPERM, "pid %d: run %#llx-%#llx cannot "
				       "be healed (%s): nothing moved (--must)",
				       (int)pid,
				       (unsigned long long)p->out[i].start,
				       (unsigned long long)p->out[i].end,
				       p->out[i].reason);
	return 0;
}

static int new_report(struct ar_ctx *ctx, const struct ar_proc *proc,
		      struct plan *p, enum ar_backend backend,
		      struct ar_defrag_report **reportp)
{
	struct ar_defrag_report *r = calloc(1, sizeof(*r));
	size_t i, healed_splits = 0;

	if (!r)
		return ar_fail(ctx, ENOMEM, "out of memory");
	r->pid = proc->sum.pid;
	memcpy(r->comm, proc->sum.comm, sizeof(r->comm));
	r->backend = backend;
	r->splits_before = proc->sum.splits;
	r->vmas_before = proc->sum.vmas;
	for (i = 0; i < p->n; i++)
		if (p->out[i].fate == AR_RUN_PLANNED)
			healed_splits += p->out[i].vmas - 1;
	r->splits_after = r->splits_before - healed_splits;
	r->vmas_after = r->vmas_before - healed_splits;
	r->runs = p->out;
	r->nruns = p->n;
	p->out = NULL;
	*reportp = r;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * Heal every planned run of the stopped process.  Returns 0, -EAGAIN when
 * a run failed but was moved back, or the error that leaves the process
 * stopped for `recover` (then nothing more is tried).
 */
static int heal_runs(struct ar_inject *inj, const struct ar_proc *proc,
		     struct plan *p, const struct ar_defrag_opts *opts,
		     uint64_t *bytes)
{
	struct ar_ctx *ctx = ar_inject_ctx(inj);
	struct ar_jsrc *src;
	size_t i, maxvmas = 1;
	int ret = 0;

	for (i = 0; i < p->n; i++)
		if (p->runs[i].vmas > maxvmas)
			maxvmas = p->runs[i].vmas;
	src = calloc(maxvmas, sizeof(*src));
	if (!src)
		return ar_fail(ctx, ENOMEM, "out of memory");
	for (i = 0; i < p->n; i++) {
		struct ar_defrag_run *o = &p->out[i];
		struct ar_heal_stats st;
		struct ar_heal_run hr;
		int err;

		if (o->fate != AR_RUN_PLANNED)
			continue;
		err = ar_heal_run_from_proc(&hr, src, proc, &p->runs[i]);
		if (!err)
			err = ar_uffd_heal(inj, &hr, &st);
		if (!err) {
			o->fate = AR_RUN_HEALED;
			*bytes += st.bytes;
			continue;
		}
		o->fate = AR_RUN_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s", ctx->errmsg);
		if (err == -EIO) {
			ret = err;	/* out of place: only recover may go on */
			break;
		}
		ret = -EAGAIN;
		if (opts->must)
			break;
	}
	free(src);
	return ret;
}

static int read_snapshot(struct ar_ctx *ctx, pid_t pid, struct ar_proc **procp)
{
	return ar_proc_read(ctx, pid, AR_READ_BLOCKERS, procp);
}

/* Detach, keeping the message of the failure that came before, if any. */
static int detach_keeping_message(struct ar_inject *inj, int ret)
{
	struct ar_ctx *ctx = ar_inject_ctx(inj);
	char msg[sizeof(ctx->errmsg)];
	int dret;

	snprintf(msg, sizeof(msg), "%s", ctx->errmsg);
	dret = ar_inject_detach(inj);
	if (dret && !ret)
		return dret;
	snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", msg);
	if (ret == -EIO)
		ar_fail(ctx, EIO, "%s; the process stays stopped: run "
			"'anonremap recover PID'", msg);
	return ret;
}

/*
 * Stop the process, plan again on what it is now, heal, resume.  The
 * counts before come from the snapshot taken while it ran: the stopped one
 * also shows the injector's scratch pages.
 */
static int defrag_stopped(struct ar_ctx *ctx, pid_t pid,
			  const struct ar_defrag_opts *opts,
			  enum ar_backend backend, const struct ar_proc *running,
			  struct ar_defrag_report **reportp)
{
	struct ar_proc *proc = NULL, *after = NULL;
	struct ar_inject_stats ist;
	struct ar_inject *inj;
	uint64_t bytes = 0, resumed;
	char msg[sizeof(ctx->errmsg)];
	struct plan p;
	int ret;

	ret = ar_inject_attach(ctx, pid, 0, 0, &inj);
	if (ret)
		return ret;
	ret = read_snapshot(ctx, pid, &proc);
	if (!ret)
		ret = make_plan(ctx, proc, opts, &p);
	if (ret) {
		ar_proc_free(proc);
		return detach_keeping_message(inj, ret);
	}
	if (opts->must)
		ret = must_refuse(ctx, &p, pid);
	if (!ret)
		ret = heal_runs(inj, proc, &p, opts, &bytes);
	if (!ret && p.healable < p.n)
		ret = -EAGAIN;
	ar_inject_get_stats(inj, &ist);
	ret = detach_keeping_message(inj, ret);
	resumed = now_ns();
	ar_proc_free(proc);

	if (new_report(ctx, running, &p, backend, reportp) == 0) {
		(*reportp)->bytes_moved = bytes;
		(*reportp)->pause_ns = resumed - ist.stopped_since_ns;
		/* The counts after, as the kernel shows them; keep the message. */
		snprintf(msg, sizeof(msg), "%s", ctx->errmsg);
		if (!ar_proc_read(ctx, pid, 0, &after)) {
			(*reportp)->splits_after = after->sum.splits;
			(*reportp)->vmas_after = after->sum.vmas;
			ar_proc_free(after);
		}
		snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", msg);
	}
	plan_free(&p);
	return ret;
}

AR_EXPORT int ar_defrag(struct ar_ctx *ctx, pid_t pid,
			const struct ar_defrag_opts *opts,
			struct ar_defrag_report **reportp)
{
	enum ar_backend backend = opts->backend;
	struct ar_proc *proc;
	struct plan p;
	int ret, rret;

	*reportp = NULL;
	if (pid == getpid())
		return ar_fail(ctx, EINVAL, "pid %d: a process cannot defragment "
			       "itself", (int)pid);
	if (opts->end && opts->end <= opts->start)
		return ar_fail(ctx, EINVAL, "empty range %#llx-%#llx",
			       (unsigned long long)opts->start,
			       (unsigned long long)opts->end);
	ret = choose_backend(ctx, &backend);
	if (ret)
		return ret;
	/* A first plan while it runs: refusals need not stop the process. */
	ret = read_snapshot(ctx, pid, &proc);
	if (ret)
		return ret;
	ret = make_plan(ctx, proc, opts, &p);
	if (ret) {
		ar_proc_free(proc);
		return ret;
	}
	if (opts->must)
		ret = must_refuse(ctx, &p, pid);
	if (!ret && !opts->dry_run && p.healable) {
		/* Its own report, or none when it could not even start. */
		ret = defrag_stopped(ctx, pid, opts, backend, proc, reportp);
	} else {
		if (!ret && p.healable < p.n)
			ret = -EAGAIN;
		rret = new_report(ctx, proc, &p, backend, reportp);
		if (rret)
			ret = rret;
	}
	plan_free(&p);
	ar_proc_free(proc);
	return ret;
}

AR_EXPORT void ar_defrag_report_free(struct ar_defrag_report *report)
{
	if (!report)
		return;
	free(report->runs);
	free(report);
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
