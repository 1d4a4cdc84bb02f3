// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The executor of a defrag: stops the process as often as the pacing
 * (pace.c) says, plans again on what it is then (plan.c), has the backend
 * heal each run, rolls --must back when a later run fails, and resumes.
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
#include <unistd.h>

#include "backend.h"
#include "inject.h"
#include "internal.h"
#include "pace.h"
#include "plan.h"
#include "rollback.h"

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

struct session {
	struct ar_ctx *ctx;
	pid_t pid;
	const struct ar_defrag_opts *opts;
	enum ar_backend backend;
	struct ar_plan *p;
	/*
	 * The plan is still to be made, in the first stop; running is then
	 * the process as /proc/PID/maps showed it (AR_READ_MAPS_ONLY).
	 */
	bool plan_in_stop;
	const struct ar_proc *running;
	struct ar_defrag_report *r;
	size_t run;		/* the plan's run under way */
	uint64_t next;		/* and where its unhealed part begins */
	size_t done, total;	/* VMAs, for progress */
	size_t run_done;	/* VMAs of the run under way healed or kept */
	bool failed;		/* a run failed: --must tries no more */
	bool interrupted;	/* opts->stop was set */
	struct ar_target target;	/* who the process is, read once */
	struct ar_pace pace;	/* --max-pause: the parts' sizes */
	struct ar_jsrc *src;
	struct ar_rollback rollback;	/* --must: what to split back */
};

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

/* [addr, end) is one VMA of proc. */
static bool single_vma(const struct ar_proc *proc, uint64_t addr, uint64_t end)
{
	size_t i = ar_plan_vma_at(proc, addr);

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
		if (!ar_plan_find_segment(proc, s->next, part_end ? part_end : o->end,
				  &seg)) {
			if (o->vmas_after && single_vma(proc, s->next, o->end)) {
				/* parts came out uneven: the last is one VMA */
				o->vmas_after++;
				run_ends(s, AR_RUN_HEALED, NULL);
			} else if (part_end && single_vma(proc, s->next,
							  part_end)) {
				/*
				 * What an rseq area kept in place left of the
				 * part is one VMA: the next stop's part
				 * begins with it.
				 */
				return 0;
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
	if (ar_plan_check_segment(s->ctx, s->p->ops, proc, &seg, s->src, why,
			  sizeof(why)) != AR_RUN_PLANNED) {
		run_ends(s, AR_RUN_SKIPPED, why);
		return 0;
	}
	err = ar_heal_run_from_proc(&hr, s->src, proc, &seg);
	hr.must = s->opts->must;
	hr.unshare = s->opts->unshare;
	if (!err)
		err = s->p->ops->heal(inj, &hr, &st);
	if (err) {
		run_ends(s, AR_RUN_FAILED, s->ctx->errmsg);
		return err == -EIO ? err : 0;
	}
	s->r->bytes_moved += st.bytes;
	s->r->moves += seg.vmas + 1;
	o->moves += seg.vmas + 1;
	ar_pace_healed(&s->pace, seg.vmas, st.moves_ns, st.ns - st.moves_ns);
	/* Relocated parts merge with the part before them. */
	if (!(st.joined_prev && o->vmas_after))
		o->vmas_after++;
	o->vmas_after += st.extra_vmas;
	if (st.extra_vmas)
		snprintf(o->reason, sizeof(o->reason), "%s",
			 s->p->ops->extra_vmas_why);
	if (s->opts->must &&
	    ar_rollback_remember(s->ctx, &s->rollback, s->run, &hr)) {
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

/* --must: split back at most max pieces of what was healed, in this stop. */
static int unheal(struct session *s, struct ar_inject *inj, size_t max)
{
	size_t split;
	int err = ar_rollback_split(&s->rollback, inj, s->p->ops, s->p->out,
				    max, &split);

	ar_pace_healed(&s->pace, split, 0, 0);
	return err;
}

/* Whether --must has healed parts to split back after a failure. */
static bool rolling_back(const struct session *s)
{
	return s->failed && s->opts->must && s->rollback.n;
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
	first = ar_plan_vma_at(running, s->next);
	if (first == SIZE_MAX || first + 2 > last)
		return o->end;	/* not as it was: the stop sees what it is */
	return running->vmas[first + ar_pace_even_part(last - first,
						       s->pace.part_vmas,
						       s->p->ops->parts_merge) -
			     1].end;
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
	return ar_proc_read_stopped(s->ctx, &s->target, AR_READ_BLOCKERS,
				    s->next, part_end, procp);
}

/*
 * From plan p: the report, whose runs it fills from here on, and what the
 * stops need.  proc gives the counts before; with the plan made in the
 * stop, the VMA count is the one read before it (the stopped process also
 * shows the injector's scratch pages).
 */
static int session_start(struct session *s, const struct ar_proc *proc)
{
	struct ar_plan *p = s->p;
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
	ret = ar_plan_report(s->ctx, proc, p, s->backend, &s->r);
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
	int ret = ar_plan_make(s->ctx, proc, s->opts, ar_backend_ops(s->backend),
			    s->p);

	if (!ret)
		ret = session_start(s, proc);
	if (!ret) {
		s->plan_in_stop = false;
		return 0;
	}
	ar_plan_free(s->p);	/* as it was: it may be tried again */
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

	ar_pace_stop_begins(&s->pace);
	if (part_end)
		ret = part_in_stop(s, pre, part_end, &proc);
	else
		ret = ar_proc_read_stopped(s->ctx, &s->target,
					   AR_READ_BLOCKERS, 0, 0, &proc);
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
		part_end = ar_pace_cut(&s->pace, proc,
				       ar_plan_vma_at(proc, s->next), part_end,
				       s->p->ops->parts_merge &&
				       part_end >= s->p->out[s->run].end,
				       t0 - ist.stopped_since_ns);
		ret = heal_next_part(s, inj, proc, part_end);
		ar_pace_part_done(&s->pace, t0 - ist.stopped_since_ns);
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
 * A stop of pause ns with nthreads threads; a rollback's stops split
 * what was healed and say nothing of the floor.
 */
static void count_pause(struct session *s, uint64_t pause, size_t nthreads,
			bool rollback)
{
	const uint64_t healing = s->pace.last_moves_ns + s->pace.last_setup_ns;
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
	if (!rollback && s->pace.last_part && pause > healing &&
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
			  bool in_stop, struct ar_plan *p,
			  struct ar_defrag_report **reportp)
{
	struct session s = {
		.ctx = ctx, .pid = pid, .opts = opts, .backend = backend,
		.p = p, .plan_in_stop = in_stop, .running = running,
	};
	char msg[sizeof(ctx->errmsg)];
	struct ar_proc *after;
	size_t i;
	int ret = 0;

	ar_proc_target(running, &s.target);
	ar_pace_init(&s.pace, opts->max_pause_ms);
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
		ret = ar_inject_attach_known(ctx, &s.target, 0, flags,
					     running->vmas, running->nvmas,
					     &inj);
		if (ret) {
			ar_proc_free(pre);
			break;
		}
		ar_inject_get_stats(inj, &ist);
		if (rollback) {
			ar_pace_stop_begins(&s.pace);
			ret = unheal(&s, inj, s.pace.part_vmas);
		} else {
			ret = heal_in_one_stop(&s, inj, part_end, &pre);
		}
		ar_proc_free(pre);
		nthreads = ar_inject_nthreads(inj);
		detach_at = ar_now_ns();
		ret = detach_keeping_message(inj, ret, &resumed);
		pause = resumed - ist.stopped_since_ns;
		ar_pace_stop_ended(&s.pace, pause, resumed - detach_at,
				   rollback);
		if (s.r)
			count_pause(&s, pause, nthreads, rollback);
		/*
		 * A split costs more than a move (with uffd-move and copy, a
		 * heal of its own per piece): the rollback's first stop
		 * splits a quarter of the last part, and is measured.
		 */
		if (!rollback && rolling_back(&s))
			ar_pace_rollback_begins(&s.pace);
	}
	ar_rollback_forget(&s.rollback);
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
	ar_plan_not_tried(p, s.run, s.run_done, ret ? ctx->errmsg :
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
	ar_rollback_free(&s.rollback);
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
	struct ar_plan p = { 0 };
	int how = 0;

	*ret = ar_proc_read(ctx, pid, AR_READ_MAPS_ONLY, &maps);
	if (*ret)
		return 0;
	if (ar_plan_may_have_splits(maps, opts))
		*ret = defrag_stopped(ctx, pid, opts, backend, maps, true, &p,
				      reportp);
	else if (maps->sum.splits)
		how = -1;
	else
		*ret = ar_plan_report(ctx, maps, &p, backend, reportp);
	ar_plan_free(&p);
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
	struct ar_plan p;
	int ret, rret;

	*reportp = NULL;
	if (pid == getpid())
		return ar_fail(ctx, EINVAL, "pid %d: a process cannot defragment "
			       "itself", (int)pid);
	if (opts->end && opts->end <= opts->start)
		return ar_fail(ctx, EINVAL, "empty range %#llx-%#llx",
			       (unsigned long long)opts->start,
			       (unsigned long long)opts->end);
	ret = ar_backend_choose(ctx, &backend);
	if (ret)
		return ret;
	if (plans_in_stop(opts) &&
	    defrag_planned_in_stop(ctx, pid, opts, backend, reportp, &ret) >= 0)
		return ret;
	/* A first plan while it runs: refusals need not stop the process. */
	ret = read_snapshot(ctx, pid, &proc);
	if (ret)
		return ret;
	ret = ar_plan_make(ctx, proc, opts, ar_backend_ops(backend), &p);
	if (ret) {
		ar_proc_free(proc);
		return ret;
	}
	if ((opts->dry_run || opts->must) && !opts->max_pause_ms)
		ar_plan_memlock_refusals(pid, proc, &p);
	if (opts->must)
		ret = ar_plan_must_refuse(ctx, &p, pid);
	if (!ret && (opts->dry_run || opts->must) && p.healable)
		ret = ar_plan_preflight(ctx, pid, &p, &filtered);
	if (!ret && !opts->dry_run && p.healable) {
		ret = defrag_stopped(ctx, pid, opts, backend, proc, false, &p,
				     reportp);
	} else {
		if (!ret && p.healable < p.n)
			ret = -EAGAIN;
		rret = ar_plan_report(ctx, proc, &p, backend, reportp);
		if (rret)
			ret = rret;
		else if (filtered)
			snprintf((*reportp)->note, sizeof((*reportp)->note),
				 "process %d has seccomp filters: whether they "
				 "allow the calls a defrag makes is known only "
				 "once it is stopped", (int)pid);
	}
	ar_plan_free(&p);
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
