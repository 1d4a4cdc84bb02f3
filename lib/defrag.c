// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Defragmentation: from the runs of a snapshot to a plan, and the plan
 * carried out by a backend inside the stopped process.
 *
 * The plan is made twice: once from a snapshot of the running process
 * (all a dry run needs) and again once every thread is stopped, because
 * the process may have changed its mappings in between.  Only the second
 * plan is carried out.  When nothing has to be known before the stop (see
 * plans_in_stop()), only the second is made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend-copy.h"
#include "backend-relocate.h"
#include "inject.h"
#include "internal.h"
#include "pagemap.h"
#include "uffd.h"

static const char *const backend_names[] = {
	[AR_BACKEND_AUTO] = "auto",
	[AR_BACKEND_RELOCATE] = "relocate",
	[AR_BACKEND_UFFD_MOVE] = "uffd-move",
	[AR_BACKEND_COPY] = "copy",
};

/* What the planner and the executor need of a backend that can run. */
struct backend_ops {
	int (*check)(struct ar_ctx *ctx, const struct ar_heal_run *run);
	int (*heal)(struct ar_inject *inj, const struct ar_heal_run *run,
		    struct ar_heal_stats *st);
	/* Split a healed run back into its sources (--must rolling back). */
	int (*split)(struct ar_inject *inj, const struct ar_heal_run *run,
		     struct ar_heal_stats *st);
	bool parts_merge;	/* parts of a run healed apart merge */
	/* An mlocked run's destination is locked beside it while it heals. */
	bool locks_dst;
};

static int uffd_split(struct ar_inject *inj, const struct ar_heal_run *run,
		      struct ar_heal_stats *st)
{
	return ar_heal_split_by_heals(inj, ar_uffd_heal, run, st);
}

static int copy_split(struct ar_inject *inj, const struct ar_heal_run *run,
		      struct ar_heal_stats *st)
{
	return ar_heal_split_by_heals(inj, ar_copy_heal, run, st);
}

static const struct backend_ops uffd_ops = {
	ar_uffd_check_run, ar_uffd_heal, uffd_split, false, true,
};
static const struct backend_ops copy_ops = {
	ar_copy_check_run, ar_copy_heal, copy_split, false, true,
};
static const struct backend_ops relocate_ops = {
	ar_relocate_check_run, ar_relocate_heal, ar_relocate_split, true, false,
};

/* NULL for a backend this version cannot drive (see ar_backend_probe()). */
static const struct backend_ops *backend_ops(enum ar_backend backend)
{
	switch (backend) {
	case AR_BACKEND_UFFD_MOVE:
		return &uffd_ops;
	case AR_BACKEND_COPY:
		return &copy_ops;
	case AR_BACKEND_RELOCATE:
		return &relocate_ops;
	case AR_BACKEND_AUTO:
		break;
	}
	return NULL;
}

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

/* The copy backend needs process_vm_readv() (CONFIG_CROSS_MEMORY_ATTACH). */
static int copy_probe(struct ar_ctx *ctx)
{
	char src = 42, dst = 0;
	struct iovec local = { &dst, 1 }, remote = { &src, 1 };

	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1 || dst != 42)
		return ar_fail_errno(ctx, errno, "process_vm_readv() does not "
				     "work here");
	return 0;
}

AR_EXPORT int ar_backend_probe(struct ar_ctx *ctx, enum ar_backend backend)
{
	switch (backend) {
	case AR_BACKEND_RELOCATE:
		return ar_relocate_probe(ctx);
	case AR_BACKEND_UFFD_MOVE:
		return ar_uffd_probe(ctx);
	case AR_BACKEND_COPY:
		return copy_probe(ctx);
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
		       "uffd-move: %s; --backend copy works on any kernel but "
		       "is slower and gives up pages shared with a fork",
		       why[0], why[1]);
}

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

/*
 * Whether the VMAs of r can be healed as they are: AR_RUN_PLANNED, or
 * AR_RUN_SKIPPED with the reason.  src has room for r->vmas entries.
 */
static enum ar_run_fate check_segment(struct ar_ctx *ctx,
				      const struct backend_ops *ops,
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
	if (ops->check(ctx, &hr)) {
		snprintf(reason, len, "%s", ctx->errmsg);
		return AR_RUN_SKIPPED;
	}
	return AR_RUN_PLANNED;
}

/*
 * What a stop costs, for sizing the first part under --max-pause and for
 * --dry-run: on the idle 2-vCPU VMs this was written on, healing a run of
 * one-page VMAs in parts took 15 to 20 us per VMA (FACTS.md: about 10 us
 * of it is the UFFDIO_MOVE itself), and the rest of a stop (stopping and
 * seizing every thread, checking the part, setting up the move, resuming)
 * about 1.5 ms: 10 000 VMAs under --max-pause 10 took 29 to 63 stops.
 */
#define GUESS_NS_PER_VMA 20000u
#define GUESS_NS_PER_STOP 1500000u
/*
 * Parts are sized for this share of --max-pause; the rest is margin for
 * what a stop cannot plan: on the idle 2-vCPU VM, stopping the threads
 * sometimes takes 3 to 6 ms instead of about one, and moves twice as long
 * as the last stop's are seen.  The longest stop of a 10 000-VMA defrag
 * under --max-pause 10, as the median of twelve runs (parts sized from
 * the moves' cost): with 50%, 9.1 to 11.6 ms in 47 series (mean stop
 * 5.1 to 5.6 ms, 40 to 100 stops); with 40%, 8.7 to 10.0 ms in four
 * (mean stop 4.3 to 4.4 ms, 63 to 116 stops).
 */
#define PAUSE_SHARE_PERCENT 40u
/*
 * Once stopped, a part is cut short when the stop, as it has gone so far
 * and as the last stop measured healing and resuming, would pass this
 * share of --max-pause; only in a stop whose stopping took more than
 * twice as long as the last one's (a thread slow to stop), since on a
 * machine where every stop is slow, cutting parts makes stops more
 * numerous, not shorter.
 */
#define PAUSE_CUT_PERCENT 90u

static uint64_t pause_goal_ns(unsigned int max_pause_ms)
{
	return (uint64_t)max_pause_ms * 1000000u * PAUSE_SHARE_PERCENT / 100u;
}

/* The VMAs one stop of max_pause_ms may heal by the guesses, >= 2. */
static size_t guessed_part(unsigned int max_pause_ms)
{
	uint64_t goal = pause_goal_ns(max_pause_ms);

	if (goal <= GUESS_NS_PER_STOP + 2 * GUESS_NS_PER_VMA)
		return 2;
	return (size_t)((goal - GUESS_NS_PER_STOP) / GUESS_NS_PER_VMA);
}

/*
 * The next part's size from the last: scaled by how far its stop was from
 * the goal, at most halved or doubled at a time.  Whatever a stop costs
 * besides its VMAs, this settles where the stops take the goal.
 */
static size_t next_part(size_t last, uint64_t pause_ns, unsigned int max_pause_ms)
{
	uint64_t goal = pause_goal_ns(max_pause_ms);
	uint64_t n;

	if (!pause_ns)
		return last * 2;
	n = (uint64_t)last * goal / pause_ns;
	if (n > 2 * (uint64_t)last)
		n = 2 * (uint64_t)last;
	if (n < last / 2)
		n = last / 2;
	return n < 2 ? 2 : (size_t)n;
}

/*
 * Of a run of vmas VMAs, how many the first of even parts of <= max has.
 * Parts that merge must not leave one VMA alone at the end: it would not
 * be a run any more, nothing would merge it.
 */
static size_t even_part(size_t vmas, size_t max, bool parts_merge)
{
	size_t parts = (vmas + max - 1) / max;
	size_t n = (vmas + parts - 1) / parts;

	if (parts_merge && vmas - n == 1)
		n++;
	return n;
}

static size_t expected_parts(size_t vmas, unsigned int max_pause_ms)
{
	size_t part = max_pause_ms ? guessed_part(max_pause_ms) : SIZE_MAX;

	return part >= vmas ? 1 : (vmas + part - 1) / part;
}

struct plan {
	const struct backend_ops *ops;
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
		     const struct ar_defrag_opts *opts,
		     const struct backend_ops *ops, struct plan *p)
{
	uint64_t end = opts->end ? opts->end : UINT64_MAX;
	struct ar_jsrc *src = NULL;
	size_t i, maxvmas = 0;

	memset(p, 0, sizeof(*p));
	p->ops = ops;
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

		o->start = r->start;
		o->end = r->end;
		o->vmas = r->vmas;
		o->blockers = r->blockers;
		o->fate = check_segment(ctx, ops, proc, r, src, o->reason,
					sizeof(o->reason));
		o->vmas_after = o->fate != AR_RUN_PLANNED ? r->vmas :
				ops->parts_merge ? 1 :
				expected_parts(r->vmas, opts->max_pause_ms);
		o->moves = o->fate != AR_RUN_PLANNED ? 0 : r->vmas +
			   expected_parts(r->vmas, opts->max_pause_ms);
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
static void memlock_refusals(pid_t pid, const struct ar_proc *proc,
			     struct plan *p)
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

/*
 * The runs from first on still planned are skipped: not tried, for why.
 * Of run first, first_done VMAs were healed or kept (its vmas_after counts
 * what they became); what was not tried is left as it was.
 */
static void not_tried(struct plan *p, size_t first, size_t first_done,
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
static int preflight(struct ar_ctx *ctx, pid_t pid, struct plan *p,
		     bool *filtered)
{
	int ret = ar_inject_preflight(ctx, pid, filtered);

	if (ret)
		not_tried(p, 0, 0, ctx->errmsg);
	return ret;
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
static bool find_segment(const struct ar_proc *proc, uint64_t addr,
			 uint64_t end, struct ar_run *seg)
{
	size_t i;

	for (i = 0; i < proc->nruns; i++) {
		const struct ar_run *r = &proc->runs[i];

		if (r->start <= addr && r->end >= end)
			return clip_run(proc, r, addr, end, seg) &&
			       seg->start == addr && seg->end == end;
	}
	return false;
}

static int read_snapshot(struct ar_ctx *ctx, pid_t pid, struct ar_proc **procp)
{
	return ar_proc_read(ctx, pid, AR_READ_BLOCKERS, procp);
}

/*
 * Detach, keeping the message of the failure that came before, if any;
 * *resumed_ns as ar_inject_detach_at() sets it.
 */
static int detach_keeping_message(struct ar_inject *inj, int ret,
				  uint64_t *resumed_ns)
{
	struct ar_ctx *ctx = ar_inject_ctx(inj);
	pid_t pid = ar_inject_pid(inj);
	char msg[sizeof(ctx->errmsg)];
	bool gone = ar_inject_process_gone(inj);
	int dret;

	snprintf(msg, sizeof(msg), "%s", ctx->errmsg);
	dret = ar_inject_detach_at(inj, resumed_ns);
	if (gone)
		return ar_fail(ctx, ESRCH, "process %d exited during the defrag",
			       (int)pid);
	if (dret && !ret)
		return dret;
	snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", msg);
	if (ret == -EIO)
		ar_fail(ctx, EIO, "%.400s; the process stays stopped: run "
			"'anonremap recover %d'", msg, (int)pid);
	return ret;
}

/*
 * A part of a run healed by this defrag, remembered under --must: should a
 * later run fail, it is split back into the VMAs it was.
 */
struct healed_part {
	size_t run;		/* the plan's */
	struct ar_heal_run hr;	/* its sources still to split back (owned) */
	char perms[sizeof(((struct ar_vma *)0)->perms)];
};

#define COST_HISTORY 8

struct session {
	struct ar_ctx *ctx;
	pid_t pid;
	const struct ar_defrag_opts *opts;
	enum ar_backend backend;
	struct plan *p;
	/*
	 * The plan is still to be made, in the first stop; running is then
	 * the process as /proc/PID/maps showed it (AR_READ_MAPS_ONLY).
	 */
	bool plan_in_stop;
	const struct ar_proc *running;
	struct ar_defrag_report *r;
	size_t run;		/* the plan's run under way */
	uint64_t next;		/* and where its unhealed part begins */
	size_t part_vmas;	/* under --max-pause: the next part's size */
	size_t last_part;	/* VMAs healed in the last stop */
	uint64_t last_moves_ns;	/* and the backends' moves_ns of them */
	uint64_t last_setup_ns;	/* the rest of the backends' time */
	size_t done, total;	/* VMAs, for progress */
	size_t run_done;	/* VMAs of the run under way healed or kept */
	bool failed;		/* a run failed: --must tries no more */
	bool interrupted;	/* opts->stop was set */
	/* Under --max-pause, as the last stop measured them: */
	uint64_t stopping_ns;	/* from SIGSTOP until the moves began */
	/*
	 * The moves alone (the backends' moves_ns: a part's setting up,
	 * which does not grow with it, is setup_ns), per VMA, in the last
	 * COST_HISTORY stops.  Parts are sized from the lowest, so that one
	 * slow stop cannot make the next part smaller.
	 */
	uint64_t vma_costs[COST_HISTORY];
	size_t ncosts;
	uint64_t resume_ns;	/* detaching until the process runs */
	uint64_t setup_ns;	/* the backend's, besides its moves */
	struct ar_jsrc *src;
	struct healed_part *healed;	/* --must: what to split back */
	size_t nhealed, healed_cap;
};

static void healed_part_free(struct healed_part *h)
{
	free((void *)h->hr.src);
	free((void *)h->hr.name);
}

/* Under --must, remember the part hr of the run under way as healed. */
static int remember_healed(struct session *s, const struct ar_heal_run *hr)
{
	struct ar_jsrc *src = malloc(hr->nsrc * sizeof(*src));
	char *name = strdup(hr->name ? hr->name : "");
	struct healed_part *h;

	if (!src || !name)
		goto nomem;
	if (s->nhealed == s->healed_cap) {
		size_t cap = s->healed_cap ? 2 * s->healed_cap : 16;
		struct healed_part *more = realloc(s->healed,
						   cap * sizeof(*more));

		if (!more)
			goto nomem;
		s->healed = more;
		s->healed_cap = cap;
	}
	memcpy(src, hr->src, hr->nsrc * sizeof(*src));
	h = &s->healed[s->nhealed++];
	h->run = s->run;
	h->hr = *hr;
	h->hr.src = src;
	h->hr.name = name;
	snprintf(h->perms, sizeof(h->perms), "%s", hr->perms);
	h->hr.perms = NULL;	/* h->perms, wherever h is then */
	return 0;
nomem:
	free(src);
	free(name);
	return ar_fail(s->ctx, ENOMEM, "out of memory");
}

static void run_ends(struct session *s, enum ar_run_fate fate,
		     const char *reason)
{
	struct ar_defrag_run *o = &s->p->out[s->run];

	o->fate = fate;
	if (reason)
		snprintf(o->reason, sizeof(o->reason), "%s%.480s",
			 o->vmas_after ? "partly healed, then: " : "", reason);
	if (fate == AR_RUN_FAILED)
		s->failed = true;
	/* What was not healed or kept is there as it was. */
	if (fate != AR_RUN_HEALED)
		o->vmas_after += o->vmas - s->run_done;
	s->run++;
	s->run_done = 0;
	s->next = 0;
}

/*
 * Write every present page of [start, end) of the stopped process pid with
 * its own bytes.  A page that fork once shared keeps no "exclusive" mark
 * after the other sharer is gone, and UFFDIO_MOVE refuses it; the write
 * fault finds the process its only user and marks it again, in place.
 */
static int unshare_pages(struct ar_ctx *ctx, pid_t pid, uint64_t start,
			 uint64_t end)
{
	uint64_t page = ar_page_size(), entry, addr;
	char *buf = malloc(page);
	int fd, ret = 0;

	if (!buf)
		return ar_fail(ctx, ENOMEM, "out of memory");
	fd = ar_pagemap_open(ctx, pid);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	for (addr = start; addr < end && !ret; addr += page) {
		struct iovec local = { buf, page };
		struct iovec remote = { (void *)(uintptr_t)addr, page };

		if ((ret = ar_pagemap_read(fd, addr, 1, &entry))) {
			ret = ar_fail_errno(ctx, -ret, "cannot read /proc/%d/pagemap",
					    (int)pid);
			break;
		}
		if (!(entry & PM_PRESENT))
			continue;	/* a hole stays a hole */
		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)page ||
		    process_vm_writev(pid, &local, 1, &remote, 1, 0) != (ssize_t)page)
			ret = ar_fail_errno(ctx, errno, "cannot rewrite the page at "
					    "%#llx of process %d",
					    (unsigned long long)addr, (int)pid);
	}
	close(fd);
	free(buf);
	return ret;
}

/* Index of the VMA of proc that starts at addr, or SIZE_MAX. */
static size_t vma_starting_at(const struct ar_proc *proc, uint64_t addr)
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

/* [addr, end) is one VMA of proc. */
static bool single_vma(const struct ar_proc *proc, uint64_t addr, uint64_t end)
{
	size_t i = vma_starting_at(proc, addr);

	return i != SIZE_MAX && proc->vmas[i].end == end;
}

/*
 * Every thread's struct rseq stays where it is, mapped, while the process
 * is stopped: the kernel writes it when the thread returns to user space
 * (the injected thread after each call), and would find it unmapped or
 * moved away (a crash), or fault a stray page in at its source.  seg is
 * cut to end before the VMA holding the lowest one in it; when fewer than
 * two VMAs would be left before that VMA, they and it stay as they are,
 * s->next goes past them, and false is returned; with --must, false and
 * nothing else.  The run's reason says why it keeps more VMAs.
 */
static bool keep_rseq_in_place(struct session *s, const struct ar_inject *inj,
			       const struct ar_proc *proc, struct ar_run *seg)
{
	struct ar_defrag_run *o = &s->p->out[s->run];
	uint64_t addr;
	pid_t tid = ar_inject_rseq_in(inj, seg->start, seg->end, &addr);
	size_t k = seg->first_vma, kept;

	if (!tid)
		return true;
	while (proc->vmas[k].end <= addr)
		k++;
	snprintf(o->reason, sizeof(o->reason), "the VMA at %#llx holds the "
		 "rseq area of thread %d, which the kernel writes whenever the "
		 "thread runs: it stays in place",
		 (unsigned long long)proc->vmas[k].start, (int)tid);
	if (s->opts->must)
		return false;	/* the run cannot become one VMA */
	if (k >= seg->first_vma + 2) {
		seg->vmas = k - seg->first_vma;
		seg->end = proc->vmas[k].start;
		return true;
	}
	kept = k - seg->first_vma + 1;
	o->vmas_after += kept;
	s->done += kept;
	s->run_done += kept;
	s->next = proc->vmas[k].end;
	return false;
}

/*
 * Heal the run under way from s->next up to part_end (0: to its end) in
 * the stopped process, whose mappings proc shows.  Returns 0, or the error
 * after which nothing more may be tried (-EIO: memory out of place).
 */
static int heal_next_part(struct session *s, struct ar_inject *inj,
			  const struct ar_proc *proc, uint64_t part_end)
{
	struct ar_defrag_run *o = &s->p->out[s->run];
	char why[sizeof(o->reason)];
	struct ar_heal_stats st;
	struct ar_heal_run hr;
	struct ar_run seg;
	int err;

	if (!s->next)
		s->next = o->start;
	for (;;) {
		if (!find_segment(proc, s->next, part_end ? part_end : o->end,
				  &seg)) {
			if (o->vmas_after && single_vma(proc, s->next, o->end)) {
				/* parts came out uneven: the last is one VMA */
				o->vmas_after++;
				run_ends(s, AR_RUN_HEALED, NULL);
			} else {
				run_ends(s, AR_RUN_FAILED, "the process changed "
					 "these mappings between two stops");
			}
			return 0;
		}
		if (keep_rseq_in_place(s, inj, proc, &seg))
			break;
		if (s->opts->must) {
			char kept[sizeof(o->reason)];

			snprintf(kept, sizeof(kept), "%s", o->reason);
			run_ends(s, AR_RUN_FAILED, kept);
			return 0;
		}
		if (s->next >= o->end) {
			run_ends(s, o->vmas_after < o->vmas ? AR_RUN_HEALED :
				 AR_RUN_SKIPPED, NULL);
			return 0;
		}
		if (part_end && s->next >= part_end)
			return 0;	/* the next stop goes on */
	}
	if (check_segment(s->ctx, s->p->ops, proc, &seg, s->src, why,
			  sizeof(why)) != AR_RUN_PLANNED) {
		run_ends(s, AR_RUN_SKIPPED, why);
		return 0;
	}
	err = ar_heal_run_from_proc(&hr, s->src, proc, &seg);
	hr.must = s->opts->must;
	if (!err)
		err = s->p->ops->heal(inj, &hr, &st);
	/* Pages the fork that shared them left unmovable (see above). */
	/* Pinned pages are EBUSY too, and stay so once rewritten. */
	if (err == -EBUSY && s->p->ops == &uffd_ops && s->opts->unshare) {
		err = unshare_pages(s->ctx, s->pid, seg.start, seg.end);
		if (!err)
			err = s->p->ops->heal(inj, &hr, &st);
		if (err == -EBUSY) {
			run_ends(s, AR_RUN_FAILED, "pages still cannot move once "
				 "rewritten in place (--unshare): pinned, for DMA "
				 "or as io_uring fixed buffers");
			return 0;
		}
	} else if (err == -EBUSY && s->p->ops == &uffd_ops) {
		run_ends(s, AR_RUN_FAILED, "pages once shared with a forked "
			 "process and not written since cannot move; --unshare "
			 "rewrites them in place (pinned pages cannot move "
			 "either: DMA, io_uring fixed buffers)");
		return 0;
	}
	if (err) {
		run_ends(s, AR_RUN_FAILED, s->ctx->errmsg);
		return err == -EIO ? err : 0;
	}
	s->r->bytes_moved += st.bytes;
	s->r->moves += seg.vmas + 1;
	o->moves += seg.vmas + 1;
	s->last_part += seg.vmas;
	s->last_moves_ns += st.moves_ns;
	s->last_setup_ns += st.ns - st.moves_ns;
	/* Relocated parts merge with the part before them. */
	if (!(st.joined_prev && o->vmas_after))
		o->vmas_after++;
	o->vmas_after += st.extra_vmas;
	if (st.extra_vmas)
		snprintf(o->reason, sizeof(o->reason), "some VMAs could not "
			 "be relocated (pages shared with a fork, pinned, "
			 "swapped out or KSM) and did not merge");
	if (s->opts->must && remember_healed(s, &hr)) {
		run_ends(s, AR_RUN_FAILED, "healed, but out of memory to "
			 "remember how to split it back (--must)");
		return 0;
	}
	s->next = seg.end;
	s->done += seg.vmas;
	s->run_done += seg.vmas;
	if (s->next >= o->end)
		run_ends(s, AR_RUN_HEALED, NULL);
	if (s->opts->progress)
		s->opts->progress(s->opts->progress_arg, s->done, s->total);
	return 0;
}

/* The report of run i, once --must has split back what was healed of it. */
static void run_split_back(struct session *s, size_t i)
{
	struct ar_defrag_run *o = &s->p->out[i];
	size_t len = strlen(o->reason);

	o->vmas_after = o->vmas;
	if (o->fate == AR_RUN_FAILED) {
		snprintf(o->reason + len, sizeof(o->reason) - len,
			 "; what was healed of it was split back (--must)");
		return;
	}
	o->fate = AR_RUN_FAILED;
	snprintf(o->reason, sizeof(o->reason), "healed, then split back as it "
		 "was: a later run failed (--must)");
}

static void forget_healed(struct session *s)
{
	while (s->nhealed)
		healed_part_free(&s->healed[--s->nhealed]);
}

/*
 * --must, after a run failed: split what this defrag healed back into the
 * VMAs it was, newest part first, at most max pieces in this stop.
 * Returns 0, or -EIO (memory out of place: the process stays stopped for
 * recover).  A split that fails otherwise ends the rollback, with the
 * reason in the run's report.
 */
static int unheal(struct session *s, struct ar_inject *inj, size_t max)
{
	struct ar_journal *j = ar_inject_journal(inj);

	/*
	 * Each piece is a journaled heal of its own: its records need not
	 * wait for the disk (see ar_journal_set_sync()), or the rollback
	 * would cost milliseconds a piece.
	 */
	if (j)
		ar_journal_set_sync(j, false);
	while (s->nhealed && max) {
		struct healed_part *h = &s->healed[s->nhealed - 1];
		size_t k = h->hr.nsrc < max ? h->hr.nsrc : max, run = h->run;
		struct ar_heal_run tail = h->hr;
		struct ar_heal_stats st;
		int err;

		tail.src += h->hr.nsrc - k;
		tail.nsrc = k;
		tail.start = tail.src[0].start;
		tail.perms = h->perms;	/* h moves when the array grows */
		err = s->p->ops->split(inj, &tail, &st);
		if (err) {
			struct ar_defrag_run *o = &s->p->out[run];

			snprintf(o->reason, sizeof(o->reason), "healed, but "
				 "--must could not split it back: %.400s",
				 s->ctx->errmsg);
			forget_healed(s);
			return err == -EIO ? err : 0;
		}
		s->last_part += k;
		max -= k;
		h->hr.nsrc -= k;
		if (h->hr.nsrc) {
			h->hr.end = h->hr.src[h->hr.nsrc - 1].end;
			continue;
		}
		healed_part_free(h);
		s->nhealed--;
		if (!s->nhealed || s->healed[s->nhealed - 1].run != run)
			run_split_back(s, run);
	}
	return 0;
}

/* Whether --must has healed parts to split back after a failure. */
static bool rolling_back(const struct session *s)
{
	return s->failed && s->opts->must && s->nhealed;
}

/* The first run from s->run on that is still planned; false if none. */
static bool next_planned_run(struct session *s)
{
	while (s->run < s->p->n && s->p->out[s->run].fate != AR_RUN_PLANNED)
		s->run++;
	return s->run < s->p->n;
}

/*
 * Under --max-pause, while the process runs: where the part the next stop
 * heals ends, sized from what the last stops measured.  The part is cut
 * from the snapshot taken before the first stop; it is read again just
 * before its stop, and the stop heals it only if the process still has
 * those mappings (part_in_stop()).  0 when no planned run is left.
 */
static uint64_t plan_part(struct session *s, const struct ar_proc *running)
{
	const struct ar_defrag_run *o;
	size_t first, last;

	if (!next_planned_run(s))
		return 0;
	o = &s->p->out[s->run];
	if (!s->next)
		s->next = o->start;
	/* The plan's runs are runs of this snapshot: its VMAs first..last-1. */
	last = s->p->runs[s->run].first_vma + s->p->runs[s->run].vmas;
	first = vma_starting_at(running, s->next);
	if (first == SIZE_MAX || first + 2 > last)
		return o->end;	/* not as it was: the stop sees what it is */
	return running->vmas[first + even_part(last - first, s->part_vmas,
					       s->p->ops->parts_merge) - 1].end;
}

/*
 * The part's mappings for the stop, given pre, the part as read just
 * before the stop while the process ran: pre itself when the kernel
 * confirms they are unchanged (asking costs little per VMA), else a fresh
 * read (costs pause in proportion to every VMA before the part's end).
 * Blockers are looked for again either way: a fork in between shares
 * pages.
 */
static int part_in_stop(struct session *s, struct ar_proc **pre,
			uint64_t part_end, struct ar_proc **procp)
{
	int ret = *pre ? ar_proc_part_unchanged(s->ctx, *pre) : 0;

	if (ret == 1) {
		*procp = *pre;
		*pre = NULL;
		return ar_proc_rescan_blockers(s->ctx, *procp);
	}
	return ar_proc_read_part(s->ctx, s->pid, AR_READ_BLOCKERS, s->next,
				 part_end, procp);
}

static void note_vma_cost(struct session *s, uint64_t ns)
{
	s->vma_costs[s->ncosts++ % COST_HISTORY] = ns ? ns : 1;
}

/* The lowest cost per VMA of the last stops; there was one at least. */
static uint64_t vma_cost(const struct session *s)
{
	size_t n = s->ncosts < COST_HISTORY ? s->ncosts : COST_HISTORY;
	uint64_t low = s->vma_costs[0];

	for (size_t i = 1; i < n; i++)
		if (s->vma_costs[i] < low)
			low = s->vma_costs[i];
	return low;
}

/*
 * Under --max-pause, in the stop: part_end, or an earlier end when healing
 * the whole part would take the stop past PAUSE_CUT_PERCENT of the bound,
 * stopped_ns being how long the process has been stopped already.  At
 * least two VMAs are healed, and a run whose parts merge is never left
 * with one VMA alone at its end.
 */
static uint64_t cut_part(const struct session *s, const struct ar_proc *proc,
			 uint64_t part_end, uint64_t stopped_ns)
{
	const uint64_t bound = (uint64_t)s->opts->max_pause_ms * 1000000u *
			       PAUSE_CUT_PERCENT / 100u;
	const uint64_t per_vma = s->ncosts ? vma_cost(s) :
				 GUESS_NS_PER_VMA;
	size_t first = vma_starting_at(proc, s->next), n = 0, k;
	uint64_t spare;

	if (first == SIZE_MAX || !s->stopping_ns ||
	    stopped_ns <= 2 * s->stopping_ns)
		return part_end;	/* no outlier, or not as planned */
	while (first + n < proc->nvmas && proc->vmas[first + n].end <= part_end)
		n++;
	spare = stopped_ns + s->resume_ns + s->setup_ns < bound ?
		bound - stopped_ns - s->resume_ns - s->setup_ns : 0;
	k = (size_t)(spare / per_vma);
	if (k < 2)
		k = 2;
	if (k >= n)
		return part_end;
	if (s->p->ops->parts_merge && n - k == 1 &&
	    part_end >= s->p->out[s->run].end)
		k--;
	return k >= 2 && k < n ? proc->vmas[first + k - 1].end : part_end;
}

/*
 * From plan p: the report, whose runs it fills from here on, and what the
 * stops need.  proc gives the counts before; with the plan made in the
 * stop, the VMA count is the one read before it (the stopped process also
 * shows the injector's scratch pages).
 */
static int session_start(struct session *s, const struct ar_proc *proc)
{
	struct plan *p = s->p;
	size_t i, maxvmas = 1;
	int ret;

	for (i = 0; i < p->n; i++) {
		if (p->out[i].fate == AR_RUN_PLANNED)
			s->total += p->out[i].vmas;
		if (p->runs[i].vmas > maxvmas)
			maxvmas = p->runs[i].vmas;
	}
	s->src = calloc(maxvmas, sizeof(*s->src));
	if (!s->src)
		return ar_fail(s->ctx, ENOMEM, "out of memory");
	ret = new_report(s->ctx, proc, p, s->backend, &s->r);
	if (ret)
		return ret;
	if (s->plan_in_stop) {
		s->r->vmas_after -= s->r->vmas_before - s->running->sum.vmas;
		s->r->vmas_before = s->running->sum.vmas;
	}
	/* The report's runs are the plan's from here on: counted anew. */
	p->out = s->r->runs;
	s->r->bytes_moved = 0;
	s->r->moves = 0;
	for (i = 0; i < p->n; i++) {
		p->out[i].moves = 0;
		if (p->out[i].fate == AR_RUN_PLANNED)
			p->out[i].vmas_after = 0;
	}
	return 0;
}

/*
 * The plan, made in the first stop from proc (see plans_in_stop()).  Runs
 * that cannot heal are skipped with their reason, as without a stop.
 */
static int plan_in_stop(struct session *s, const struct ar_proc *proc)
{
	int ret = make_plan(s->ctx, proc, s->opts, backend_ops(s->backend),
			    s->p);

	if (!ret)
		ret = session_start(s, proc);
	if (!ret) {
		s->plan_in_stop = false;
		return 0;
	}
	plan_free(s->p);	/* as it was: it may be tried again */
	free(s->src);
	s->src = NULL;
	s->total = 0;
	return ret;
}

/*
 * The stop failed before the plan was made (another anonremap holds the
 * journal, say): make it now, while the process runs, so that every run
 * says why it was not tried.  The failure's message is kept.
 */
static void plan_after_failure(struct session *s)
{
	char msg[sizeof(s->ctx->errmsg)];
	struct ar_proc *proc;

	snprintf(msg, sizeof(msg), "%s", s->ctx->errmsg);
	if (!read_snapshot(s->ctx, s->pid, &proc)) {
		plan_in_stop(s, proc);
		ar_proc_free(proc);
	}
	snprintf(s->ctx->errmsg, sizeof(s->ctx->errmsg), "%s", msg);
}

/*
 * One stop: without a pause bound, heal every planned run; with one, the
 * part planned for it, pre being that part read just before the stop
 * (consumed).  Returns 0, or the error after which nothing more may be
 * tried (-EIO: memory out of place, the process stays stopped for
 * recover).
 */
static int heal_in_one_stop(struct session *s, struct ar_inject *inj,
			    uint64_t part_end, struct ar_proc **pre)
{
	struct ar_inject_stats ist;
	struct ar_proc *proc;
	uint64_t t0;
	int ret;

	s->last_part = 0;
	s->last_moves_ns = 0;
	s->last_setup_ns = 0;
	if (part_end)
		ret = part_in_stop(s, pre, part_end, &proc);
	else
		ret = read_snapshot(s->ctx, s->pid, &proc);
	if (!ret && s->plan_in_stop) {
		ret = plan_in_stop(s, proc);
		if (ret)
			ar_proc_free(proc);
	}
	if (ret)
		return ret;
	if (part_end) {
		ar_inject_get_stats(inj, &ist);
		t0 = ar_now_ns();
		part_end = cut_part(s, proc, part_end,
				    t0 - ist.stopped_since_ns);
		ret = heal_next_part(s, inj, proc, part_end);
		s->stopping_ns = t0 - ist.stopped_since_ns;
		if (s->last_part) {
			note_vma_cost(s, s->last_moves_ns / s->last_part);
			s->setup_ns = s->last_setup_ns;
		}
	} else {
		while (!ret && next_planned_run(s) &&
		       !(s->failed && s->opts->must))
			ret = heal_next_part(s, inj, proc, 0);
		/* No pause bound: everything is put back in this stop. */
		if (!ret && rolling_back(s))
			ret = unheal(s, inj, SIZE_MAX);
	}
	ar_proc_free(proc);
	return ret;
}

/*
 * Under --max-pause, the next part's size from what the last stop, of
 * pause_ns, measured: the part fills what the goal leaves besides
 * stopping, checking, setting up and resuming, at the lowest recent cost
 * per VMA (vma_cost()).  Where those alone take more than half the goal
 * (a loaded machine), a part still moves half a goal's worth: smaller
 * parts would make stops more numerous, not shorter.  At most halved or
 * doubled at a time, from the size planned for the last stop (a part cut
 * short in its stop, or a run's last part, says nothing of the next).
 */
static size_t part_from_costs(const struct session *s, uint64_t pause_ns)
{
	const uint64_t goal = pause_goal_ns(s->opts->max_pause_ms);
	const uint64_t per_vma = vma_cost(s);
	const uint64_t moving = per_vma * s->last_part;
	const uint64_t other = pause_ns > moving ? pause_ns - moving : 0;
	const uint64_t room = goal > other + goal / 2 ? goal - other : goal / 2;
	uint64_t n = room / per_vma;

	if (n > 2 * (uint64_t)s->part_vmas)
		n = 2 * (uint64_t)s->part_vmas;
	if (n < s->part_vmas / 2)
		n = s->part_vmas / 2;
	return n < 2 ? 2 : (size_t)n;
}

/*
 * A stop of pause ns with nthreads threads; a rollback's stops split
 * what was healed and say nothing of the floor.
 */
static void count_pause(struct session *s, uint64_t pause, size_t nthreads,
			bool rollback)
{
	const uint64_t healing = s->last_moves_ns + s->last_setup_ns;
	struct ar_defrag_report *r = s->r;

	r->pauses++;
	r->pause_total_ns += pause;
	if (pause > r->pause_ns)
		r->pause_ns = pause;
	if (s->opts->max_pause_ms &&
	    pause > (uint64_t)s->opts->max_pause_ms * 1000000u)
		r->pauses_over++;
	if (nthreads > r->threads)
		r->threads = nthreads;
	if (!rollback && s->last_part && pause > healing &&
	    (!r->stop_floor_ns || pause - healing < r->stop_floor_ns))
		r->stop_floor_ns = pause - healing;
}

/*
 * Stop the process as often as the pause budget needs, plan again on what
 * it is each time, heal, resume.  The counts before come from the
 * snapshot taken while it ran: a stopped one also shows the injector's
 * scratch pages.
 */
static int defrag_stopped(struct ar_ctx *ctx, pid_t pid,
			  const struct ar_defrag_opts *opts,
			  enum ar_backend backend, const struct ar_proc *running,
			  bool in_stop, struct plan *p,
			  struct ar_defrag_report **reportp)
{
	struct session s = {
		.ctx = ctx, .pid = pid, .opts = opts, .backend = backend,
		.p = p, .plan_in_stop = in_stop, .running = running,
		.part_vmas = opts->max_pause_ms ?
			     guessed_part(opts->max_pause_ms) : SIZE_MAX,
	};
	char msg[sizeof(ctx->errmsg)];
	struct ar_proc *after;
	size_t i;
	int ret = 0;

	if (!in_stop)
		ret = session_start(&s, running);
	while (!ret && (s.plan_in_stop || rolling_back(&s) ||
			(!(s.failed && opts->must) && next_planned_run(&s)))) {
		unsigned int flags = opts->max_pause_ms ? AR_INJECT_NO_SYNC : 0;
		uint64_t part_end = 0, pause, resumed, detach_at;
		size_t nthreads;
		/* --max-pause: a rollback takes stops of its own. */
		bool rollback = rolling_back(&s);
		struct ar_inject_stats ist;
		struct ar_proc *pre = NULL;	/* the part, read before the stop */
		struct ar_inject *inj;

		if (!rollback && opts->stop && *opts->stop) {
			s.interrupted = true;
			if (!opts->must)
				break;
			s.failed = true;	/* what was healed goes back */
			continue;
		}
		if (!rollback && opts->max_pause_ms) {
			part_end = plan_part(&s, running);
			if (!part_end)
				break;
			ret = ar_proc_read_part(ctx, pid, AR_READ_BLOCKERS,
						s.next, part_end, &pre);
			if (ret)
				break;
		}
		ret = ar_inject_attach_known(ctx, pid, 0, flags,
					     running->vmas, running->nvmas,
					     running->starttime, &inj);
		if (ret) {
			ar_proc_free(pre);
			break;
		}
		ar_inject_get_stats(inj, &ist);
		if (rollback) {
			s.last_part = 0;
			ret = unheal(&s, inj, s.part_vmas);
		} else {
			ret = heal_in_one_stop(&s, inj, part_end, &pre);
		}
		ar_proc_free(pre);
		nthreads = ar_inject_nthreads(inj);
		detach_at = ar_now_ns();
		ret = detach_keeping_message(inj, ret, &resumed);
		pause = resumed - ist.stopped_since_ns;
		if (rollback) {
			if (s.last_part)
				s.part_vmas = next_part(s.last_part, pause,
							opts->max_pause_ms);
		} else {
			s.resume_ns = resumed - detach_at;
			if (opts->max_pause_ms && s.last_part)
				s.part_vmas = s.ncosts ?
					      part_from_costs(&s, pause) :
					      next_part(s.last_part, pause,
							opts->max_pause_ms);
		}
		if (s.r)
			count_pause(&s, pause, nthreads, rollback);
		/*
		 * A split costs more than a move (with uffd-move and copy, a
		 * heal of its own per piece): the rollback's first stop
		 * splits a quarter of the last part, and is measured.
		 */
		if (!rollback && rolling_back(&s) && s.part_vmas / 4)
			s.part_vmas /= 4;
	}
	forget_healed(&s);
	if (s.interrupted && !ret)
		ret = ar_fail(ctx, EINTR, "interrupted by a signal: no new stop "
			      "was begun, the process runs%s",
			      opts->must ? ", what was healed was split back "
			      "(--must)" : "");
	if (ret && s.plan_in_stop)
		plan_after_failure(&s);
	*reportp = s.r;
	if (!s.r)
		goto out;	/* no plan: the plan's runs are its own */
	/* Runs left planned: the defrag stopped, or --must gave up. */
	not_tried(p, s.run, s.run_done, ret ? ctx->errmsg :
		  "an earlier run failed (--must)");
	p->out = NULL;
	if (!ret)
		for (i = 0; i < s.r->nruns; i++)
			if (s.r->runs[i].fate != AR_RUN_HEALED)
				ret = -EAGAIN;
	/* The counts after, as the kernel shows them; keep the message. */
	snprintf(msg, sizeof(msg), "%s", ctx->errmsg);
	if (!ar_proc_read(ctx, pid, 0, &after)) {
		s.r->splits_after = after->sum.splits;
		s.r->vmas_after = after->sum.vmas;
		ar_proc_free(after);
	}
	snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", msg);
out:
	free(s.healed);
	free(s.src);
	return ret;
}

/*
 * Whether the plan can wait for the stop.  A dry run makes no stop,
 * --must refuses before any and --max-pause cuts its parts from a plan
 * made while the process runs.  Otherwise the smaps read that the stop
 * needs anyway serves the plan too, and /proc/PID/maps, read first at a
 * fifth of the cost, tells whether there is anything to stop for.
 */
static bool plans_in_stop(const struct ar_defrag_opts *opts)
{
	return !opts->dry_run && !opts->must && !opts->max_pause_ms;
}

/* Whether maps, read with AR_READ_MAPS_ONLY, may have splits in the range. */
static bool may_have_splits(const struct ar_proc *maps,
			    const struct ar_defrag_opts *opts)
{
	uint64_t end = opts->end ? opts->end : UINT64_MAX;
	struct ar_run seg;
	size_t i;

	for (i = 0; i < maps->nruns; i++)
		if (clip_run(maps, &maps->runs[i], opts->start, end, &seg))
			return true;
	return false;
}

/*
 * Without --dry-run, --must or --max-pause: plan in the stop.  0 when done
 * here, *ret telling how it went: the defrag was made, or maps shows
 * nothing that could be a split anywhere (the report then says so, as
 * exactly as smaps would).  -1 when the planner's path must be taken:
 * maybe-splits outside the range only, which maps alone would overcount.
 */
static int defrag_planned_in_stop(struct ar_ctx *ctx, pid_t pid,
				  const struct ar_defrag_opts *opts,
				  enum ar_backend backend,
				  struct ar_defrag_report **reportp, int *ret)
{
	struct ar_proc *maps;
	struct plan p = { 0 };
	int how = 0;

	*ret = ar_proc_read(ctx, pid, AR_READ_MAPS_ONLY, &maps);
	if (*ret)
		return 0;
	if (may_have_splits(maps, opts))
		*ret = defrag_stopped(ctx, pid, opts, backend, maps, true, &p,
				      reportp);
	else if (maps->sum.splits)
		how = -1;
	else
		*ret = new_report(ctx, maps, &p, backend, reportp);
	plan_free(&p);
	ar_proc_free(maps);
	return how;
}

AR_EXPORT int ar_defrag(struct ar_ctx *ctx, pid_t pid,
			const struct ar_defrag_opts *opts,
			struct ar_defrag_report **reportp)
{
	enum ar_backend backend = opts->backend;
	struct ar_proc *proc;
	bool filtered = false;
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
	if (plans_in_stop(opts) &&
	    defrag_planned_in_stop(ctx, pid, opts, backend, reportp, &ret) >= 0)
		return ret;
	/* A first plan while it runs: refusals need not stop the process. */
	ret = read_snapshot(ctx, pid, &proc);
	if (ret)
		return ret;
	ret = make_plan(ctx, proc, opts, backend_ops(backend), &p);
	if (ret) {
		ar_proc_free(proc);
		return ret;
	}
	if ((opts->dry_run || opts->must) && !opts->max_pause_ms)
		memlock_refusals(pid, proc, &p);
	if (opts->must)
		ret = must_refuse(ctx, &p, pid);
	if (!ret && (opts->dry_run || opts->must) && p.healable)
		ret = preflight(ctx, pid, &p, &filtered);
	if (!ret && !opts->dry_run && p.healable) {
		ret = defrag_stopped(ctx, pid, opts, backend, proc, false, &p,
				     reportp);
	} else {
		if (!ret && p.healable < p.n)
			ret = -EAGAIN;
		rret = new_report(ctx, proc, &p, backend, reportp);
		if (rret)
			ret = rret;
		else if (filtered)
			snprintf((*reportp)->note, sizeof((*reportp)->note),
				 "process %d has seccomp filters: whether they "
				 "allow the calls a defrag makes is known only "
				 "once it is stopped", (int)pid);
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
