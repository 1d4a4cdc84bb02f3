/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Planning a defrag (internal API): which runs of a snapshot are healed,
 * which are skipped and why.  See plan.c.
 */
#ifndef ANONREMAP_PLAN_H
#define ANONREMAP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "internal.h"

struct ar_plan {
	const struct ar_backend_ops *ops;
	struct ar_run *runs;		/* clipped to the range */
	struct ar_defrag_run *out;	/* what the report says of each */
	size_t n;
	size_t healable;		/* runs without a reason to skip */
};

/*
 * Every run of proc in opts' range, each either planned or skipped with
 * the reason.  The checks are those that need nothing but the snapshot;
 * the backend may still refuse a run when it looks at the process itself.
 */
int ar_plan_make(struct ar_ctx *ctx, const struct ar_proc *proc,
		 const struct ar_defrag_opts *opts,
		 const struct ar_backend_ops *ops, struct ar_plan *p);
void ar_plan_free(struct ar_plan *p);

/* The part of run inside [start, end) into out: whole VMAs, two at least. */
bool ar_plan_clip_run(const struct ar_proc *proc, const struct ar_run *run,
		      uint64_t start, uint64_t end, struct ar_run *out);

/*
 * Whether the VMAs of r can be healed as they are: AR_RUN_PLANNED, or
 * AR_RUN_SKIPPED with the reason.  src has room for r->vmas entries.
 */
enum ar_run_fate ar_plan_check_segment(struct ar_ctx *ctx,
				       const struct ar_backend_ops *ops,
				       const struct ar_proc *proc,
				       const struct ar_run *r,
				       struct ar_jsrc *src, char *reason,
				       size_t len);

/*
 * --dry-run and --must, whole runs in one stop: skip the mlocked runs
 * whose destination, locked beside them, would pass RLIMIT_MEMLOCK.
 */
void ar_plan_memlock_refusals(pid_t pid, const struct ar_proc *proc,
			      struct ar_plan *p);

/* -EPERM naming the first run --must cannot heal, 0 when none. */
int ar_plan_must_refuse(struct ar_ctx *ctx, const struct ar_plan *p,
			pid_t pid);

/*
 * The runs from first on still planned are skipped: not tried, for why.
 * Of run first, first_done VMAs were healed or kept.
 */
void ar_plan_not_tried(struct ar_plan *p, size_t first, size_t first_done,
		       const char *why);

/*
 * --dry-run and --must: what the stop would refuse, found without one,
 * refuses the plan's runs.  *filtered: the process has seccomp filters.
 */
int ar_plan_preflight(struct ar_ctx *ctx, pid_t pid, struct ar_plan *p,
		      bool *filtered);

/* The report of plan p (its runs move into it) for the process proc. */
int ar_plan_report(struct ar_ctx *ctx, const struct ar_proc *proc,
		   struct ar_plan *p, enum ar_backend backend,
		   struct ar_defrag_report **reportp);

/*
 * The VMAs of proc from addr up to end, as a run; false when they are not
 * one any more (the process changed its mappings between two stops).
 */
bool ar_plan_find_segment(const struct ar_proc *proc, uint64_t addr,
			  uint64_t end, struct ar_run *seg);

/* Whether maps, read with AR_READ_MAPS_ONLY, may have splits in the range. */
bool ar_plan_may_have_splits(const struct ar_proc *maps,
			     const struct ar_defrag_opts *opts);

/* Index of the VMA of proc that starts at addr, or SIZE_MAX. */
size_t ar_plan_vma_at(const struct ar_proc *proc, uint64_t addr);

#endif /* ANONREMAP_PLAN_H */
