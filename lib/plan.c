// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Planning: from the runs of a snapshot to the runs a defrag will heal,
 * each planned or skipped with its reason, the refusals --must and
 * --dry-run make before anything stops, and the report a plan becomes.
 * The executor (defrag.c) carries a plan out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pace.h"
#include "plan.h"

static const char *blocker_reason(unsigned int blockers)
{
	if (blockers & AR_BLOCK_SHARED)
		return "pages shared with another process (a fork)";
	if (blockers & AR_BLOCK_UFFD)
		return "registered with the process's own userfaultfd";
	if (blockers & AR_BLOCK_PINNED)
		return "pinned: the process's io_uring holds them as fixed "
		       "buffers";
	return "holds guard regions";
}

/* The part of run inside [start, end): whole VMAs only. */
bool ar_plan_clip_run(const struct ar_proc *proc, const struct ar_run *run,
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

/*
 * Whether the VMAs of r can be healed as they are: AR_RUN_PLANNED, or
 * AR_RUN_SKIPPED with the reason.  src has room for r->vmas entries.
 */
enum ar_run_fate ar_plan_check_segment(struct ar_ctx *ctx,
				      const struct ar_backend_ops *ops,
				      const struct ar_proc *proc,
				      const struct ar_run *r, struct ar_jsrc *src,
				      char *reason, size_t len)
{
	struct ar_heal_run hr;

	if (r->blockers) {
		snprintf(reason, len, "%s", blocker_reason(r->blockers));
		return AR_RUN_SKIPPED;
	}
	if (ar_heal_run_from_proc(&hr, src, proc, r)) {
		snprintf(reason, len, "its VMAs differ in flags this version "
			 "cannot carry over");
		return AR_RUN_SKIPPED;
	}
	if (ops->check_run(ctx, &hr)) {
		snprintf(reason, len, "%s", ctx->errmsg);
		return AR_RUN_SKIPPED;
	}
	return AR_RUN_PLANNED;
}

void ar_plan_free(struct ar_plan *p)
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
int ar_plan_make(struct ar_ctx *ctx, const struct ar_proc *proc,
		     const struct ar_defrag_opts *opts,
		     const struct ar_backend_ops *ops, struct ar_plan *p)
{
	uint64_t end = opts->end ? opts->end : UINT64_MAX;
	struct ar_jsrc *src = NULL;
	size_t i, maxvmas = 0;

	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->runs = calloc(proc->nruns ? proc->nruns : 1, sizeof(*p->runs));
	p->out = calloc(proc->nruns ? proc->nruns : 1, sizeof(*p->out));
	if (!p->runs || !p->out) {
		ar_plan_free(p);
		return ar_fail(ctx, ENOMEM, "out of memory");
	}
	for (i = 0; i < proc->nruns; i++)
		if (ar_plan_clip_run(proc, &proc->runs[i], opts->start, end, &p->runs[p->n])) {
			if (p->runs[p->n].vmas > maxvmas)
				maxvmas = p->runs[p->n].vmas;
			p->n++;
		}
	if (maxvmas)
		src = calloc(maxvmas, sizeof(*src));
	if (maxvmas && !src) {
		ar_plan_free(p);
		return ar_fail(ctx, ENOMEM, "out of memory");
	}
	for (i = 0; i < p->n; i++) {
		const struct ar_run *r = &p->runs[i];
		struct ar_defrag_run *o = &p->out[i];

		o->start = r->start;
		o->end = r->end;
		o->vmas = r->vmas;
		o->blockers = r->blockers;
		o->fate = ar_plan_check_segment(ctx, ops, proc, r, src, o->reason,
					sizeof(o->reason));
		o->vmas_after = o->fate != AR_RUN_PLANNED ? r->vmas :
				ops->parts_merge ? 1 :
				ar_pace_expected_parts(r->vmas, opts->max_pause_ms);
		o->moves = o->fate != AR_RUN_PLANNED ? 0 : r->vmas +
			   ar_pace_expected_parts(r->vmas, opts->max_pause_ms);
		p->healable += o->fate == AR_RUN_PLANNED;
	}
	free(src);
	return 0;
}

/*
 * --dry-run and --must, whole runs in one stop (no --max-pause): an
 * mlocked run whose destination, locked beside it while it heals, would
 * pass the process's RLIMIT_MEMLOCK is skipped, as the stop would fail
 * it.  Under --max-pause each stop locks only a part's worth, which the
 * plan cannot know.
 */
void ar_plan_memlock_refusals(pid_t pid, const struct ar_proc *proc,
			     struct ar_plan *p)
{
	struct ar_memlock m;
	char words[96];

	if (!p->ops->locks_dst || ar_memlock_read(pid, &m))
		return;
	ar_memlock_words(&m, words, sizeof(words));
	for (size_t i = 0; i < p->n; i++) {
		const struct ar_run *r = &p->runs[i];
		struct ar_defrag_run *o = &p->out[i];

		if (o->fate != AR_RUN_PLANNED ||
		    !(proc->vmas[r->first_vma].vmflags & AR_VMF(LO)) ||
		    ar_memlock_allows(&m, r->end - r->start))
			continue;
		snprintf(o->reason, sizeof(o->reason), "mlocked: healing it "
			 "locks %llu kB more while it moves, beyond "
			 "RLIMIT_MEMLOCK (%s; no CAP_IPC_LOCK)",
			 (unsigned long long)(r->end - r->start) / 1024, words);
		o->fate = AR_RUN_SKIPPED;
		o->vmas_after = o->vmas;
		o->moves = 0;
		p->healable--;
	}
}

/* Refuse the whole defrag when --must and a run cannot heal. */
int ar_plan_must_refuse(struct ar_ctx *ctx, const struct ar_plan *p, pid_t pid)
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

/*
 * The runs from first on still planned are skipped: not tried, for why.
 * Of run first, first_done VMAs were healed or kept (its vmas_after counts
 * what they became); what was not tried is left as it was.
 */
void ar_plan_not_tried(struct ar_plan *p, size_t first, size_t first_done,
		      const char *why)
{
	for (size_t i = first; i < p->n; i++) {
		struct ar_defrag_run *o = &p->out[i];

		if (o->fate != AR_RUN_PLANNED)
			continue;
		snprintf(o->reason, sizeof(o->reason), "not tried: %.480s", why);
		o->fate = AR_RUN_SKIPPED;
		if (i == first && first_done) {
			o->vmas_after += o->vmas - first_done;
		} else {
			o->vmas_after = o->vmas;
			o->moves = 0;
		}
	}
}

/*
 * --dry-run and --must: what the stop would refuse, found without one
 * (ar_inject_preflight()), refuses the plan's runs here.  *filtered: the
 * process has seccomp filters, which only the stop can read.
 */
int ar_plan_preflight(struct ar_ctx *ctx, pid_t pid, struct ar_plan *p,
		     bool *filtered)
{
	int ret = ar_inject_preflight(ctx, pid, filtered);

	if (ret)
		ar_plan_not_tried(p, 0, 0, ctx->errmsg);
	return ret;
}

int ar_plan_report(struct ar_ctx *ctx, const struct ar_proc *proc,
		      struct ar_plan *p, enum ar_backend backend,
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
	for (i = 0; i < p->n; i++) {
		const struct ar_defrag_run *o = &p->out[i];

		if (o->fate != AR_RUN_PLANNED)
			continue;
		healed_splits += o->vmas - o->vmas_after;
		r->bytes_moved += o->end - o->start;
		r->moves += o->moves;
	}
	r->splits_after = r->splits_before - healed_splits;
	r->vmas_after = r->vmas_before - healed_splits;
	r->runs = p->out;
	r->nruns = p->n;
	p->out = NULL;
	*reportp = r;
	return 0;
}

/*
 * The VMAs of proc from addr up to end, as a run; false when they are not
 * one any more (the process changed its mappings between two stops).
 */
bool ar_plan_find_segment(const struct ar_proc *proc, uint64_t addr,
			 uint64_t end, struct ar_run *seg)
{
	size_t i;

	for (i = 0; i < proc->nruns; i++) {
		const struct ar_run *r = &proc->runs[i];

		if (r->start <= addr && r->end >= end)
			return ar_plan_clip_run(proc, r, addr, end, seg) &&
			       seg->start == addr && seg->end == end;
	}
	return false;
}

/* Whether maps, read with AR_READ_MAPS_ONLY, may have splits in the range. */
bool ar_plan_may_have_splits(const struct ar_proc *maps,
			    const struct ar_defrag_opts *opts)
{
	uint64_t end = opts->end ? opts->end : UINT64_MAX;
	struct ar_run seg;
	size_t i;

	for (i = 0; i < maps->nruns; i++)
		if (ar_plan_clip_run(maps, &maps->runs[i], opts->start, end, &seg))
			return true;
	return false;
}

/* Index of the VMA of proc that starts at addr, or SIZE_MAX. */
size_t ar_plan_vma_at(const struct ar_proc *proc, uint64_t addr)
{
	size_t lo = 0, hi = proc->nvmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (proc->vmas[mid].start < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < proc->nvmas && proc->vmas[lo].start == addr ? lo : SIZE_MAX;
}
