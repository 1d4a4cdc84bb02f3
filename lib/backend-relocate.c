// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The relocate backend: heal a run of split anonymous VMAs with mremap()
 * and MREMAP_RELOCATE_ANON, on kernels with this project's patches.
 *
 * Relocation gives a moved VMA the page offset of its new address and an
 * anon_vma of its own or its new neighbour's, so VMAs moved next to each
 * other merge as they land.  A VMA cannot be relocated where it is, so
 * every source moves twice, the fewest there can be: each source VMA, in
 * address order, to the same offset in a free range with the run's 2 MiB
 * phase (PMD-mapped THPs then move as PMDs), then the one VMA that made
 * back over the run.  No destination is mapped first: mremap() brings
 * the VMAs with every attribute (flags, name, NUMA policy), there is no
 * reservation to unmap when a move fails, and each move is cheaper
 * without one to split (in the test guest, healing 4000 one-page VMAs
 * in-process took 1.3 to 1.5 times as long with a reservation).
 * All moves of a stage run in one batch inside the stopped process.
 *
 * Crash safety: each mremap() is whole or not at all, so the journal
 * records only the stage (and the sources, dst, and the flag) before it
 * begins; where every source is, `recover` reads back from the maps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"

/* Our kernel patch's flags, unknown to stock headers. */
#ifndef MREMAP_RELOCATE_ANON
#define MREMAP_RELOCATE_ANON 8
#define MREMAP_MUST_RELOCATE_ANON 16
#endif

#define HUGE ar_arch_pmd_size()
#define MAX_BATCH 16384

/*
 * This backend's journal phases (9 to 12).  mremap() moves whole VMAs, so
 * where each source is can be read back from the target's maps.  The
 * journal's mflags holds the MREMAP_*RELOCATE_ANON flag of the forward
 * moves.
 */
enum {
	AR_JP_RELOC_MOVING = 9,	/* sources move to dst in address order: those
				   gone from the run are a prefix, at dst */
	AR_JP_RELOC_BACK = 10,	/* every source is at dst: what dst holds
				   moves back over the run */
	AR_JP_RELOC_UNDO = 11,	/* the moved prefix goes back source by source,
				   each through the scratch slot */
	AR_JP_RELOC_SPLIT = 12,	/* --must: the sources, pieces of a healed run,
				   become VMAs again one by one through the
				   slot (no dst) */
};

/* What this backend keeps in the journal (AR_JREC()). */
struct __attribute__((may_alias)) reloc_rec {
	uint64_t slot;		/* UNDO, SPLIT: the scratch slot, 0 if none */
};

struct reloc {
	struct ar_inject *inj;
	struct ar_ctx *ctx;
	struct ar_journal *j;
	struct ar_journal_state *js;	/* the journal's, or local */
	struct ar_journal_state local;
	struct reloc_rec *rec;		/* in js */
	pid_t pid;
	uint64_t descs;			/* the data area, for batches */
	size_t cap;			/* descriptors a batch may hold */
	struct ar_heal_stats *st;
};

/* Where a source of the run waits in the scratch slot of an undo. */
static uint64_t slot_of(const struct reloc *r, uint64_t addr)
{
	return r->rec->slot + addr % HUGE;
}

static struct ar_sysdesc mremap_desc(uint64_t from, uint64_t len,
				     uint64_t to, uint64_t flags)
{
	return (struct ar_sysdesc){
		.nr = SYS_mremap,
		.args = { from, len, len,
			  MREMAP_MAYMOVE | MREMAP_FIXED | flags, to },
	};
}

/* Size of the undo's scratch slot: any source fits at its 2 MiB phase. */
static uint64_t slot_len(const struct reloc *r)
{
	uint64_t longest = 0;

	for (size_t i = 0; i < r->js->nsrc; i++)
		if (r->js->src[i].end - r->js->src[i].start > longest)
			longest = r->js->src[i].end - r->js->src[i].start;
	return HUGE + longest;
}

/* The VMAs of the target over the run, dst and the undo's slot. */
static int read_layout(struct reloc *r, struct ar_heal_layout *l)
{
	uint64_t ranges[3][2] = { { r->js->run_start, r->js->run_end } };
	size_t n = 1;

	if (r->js->dst) {
		ranges[n][0] = r->js->dst;
		ranges[n++][1] = r->js->dst + ar_js_len(r->js);
	}
	if (r->rec->slot) {
		ranges[n][0] = r->rec->slot;
		ranges[n++][1] = r->rec->slot + slot_len(r);
	}
	return ar_heal_layout_read(r->ctx, r->pid, ranges, n, l);
}

/* Whether nothing is mapped at dst any more. */
static bool dst_free(const struct reloc *r, const struct ar_heal_layout *l)
{
	return ar_heal_range_state(l, r->js->dst,
				   r->js->dst + ar_js_len(r->js)) ==
	       AR_RANGE_FREE;
}

/* Whether anything is mapped in the undo's scratch slot. */
static bool slot_used(const struct reloc *r, const struct ar_heal_layout *l)
{
	size_t i = ar_heal_layout_find(l, r->rec->slot);

	return r->rec->slot && i < l->n &&
	       l->v[i][0] < r->rec->slot + slot_len(r);
}

/*
 * Run the n moves of d in batches, in order, stopping at the first that
 * fails (its error in ctx); *done says how many succeeded.
 */
static int run_moves(struct reloc *r, struct ar_sysdesc *d, size_t n,
		     size_t *done)
{
	*done = 0;
	while (*done < n) {
		size_t chunk = n - *done < r->cap ? n - *done : r->cap, ok;
		const struct ar_sysdesc *f;
		int err = ar_inject_batch(r->inj, r->descs, d + *done, chunk,
					  &ok);

		if (err)
			return err;
		r->st->batches++;
		r->st->moves += ok;
		*done += ok;
		if (ok == chunk)
			continue;
		f = &d[*done];
		if ((long)f->result == -EFAULT &&
		    (f->args[3] & MREMAP_MUST_RELOCATE_ANON))
			return ar_fail(r->ctx, EFAULT, "the kernel cannot "
				       "relocate %#llx-%#llx of process %d "
				       "(pages shared with a fork, pinned, "
				       "swapped out or KSM)",
				       (unsigned long long)f->args[0],
				       (unsigned long long)(f->args[0] +
							    f->args[1]),
				       r->pid);
		return ar_fail_errno(r->ctx, (int)-(long)f->result,
				     "mremap of %#llx-%#llx to %#llx in "
				     "process %d",
				     (unsigned long long)f->args[0],
				     (unsigned long long)(f->args[0] + f->args[1]),
				     (unsigned long long)f->args[4], r->pid);
	}
	return 0;
}

static struct ar_sysdesc *alloc_descs(struct reloc *r, size_t n)
{
	struct ar_sysdesc *d = calloc(n ? n : 1, sizeof(*d));

	if (!d)
		ar_fail(r->ctx, ENOMEM, "out of memory");
	return d;
}

/* Move sources [from, nsrc) to their places at dst, which must be free. */
static int move_sources(struct reloc *r, size_t from)
{
	size_t n = r->js->nsrc - from, done;
	struct ar_sysdesc *d = alloc_descs(r, n);
	int err;

	if (!d)
		return -ENOMEM;
	for (size_t i = from; i < r->js->nsrc; i++) {
		const struct ar_jsrc *s = &r->js->src[i];

		d[i - from] = mremap_desc(s->start, s->end - s->start,
					  ar_js_dst(r->js, s->start),
					  r->js->mflags);
	}
	err = run_moves(r, d, n, &done);
	free(d);
	return err;
}

/*
 * Every source is at dst: move each VMA there (one, unless a move fell
 * back) over its place in the run, relocating it so that its page offset
 * is that of its address.  Never over anything mapped.
 */
static int move_back(struct reloc *r)
{
	const uint64_t dst = r->js->dst, end = dst + ar_js_len(r->js);
	struct ar_heal_layout l = { 0 };
	struct ar_sysdesc *d = NULL;
	size_t first, n = 0, done;
	int err = read_layout(r, &l);

	if (err)
		goto out;
	first = ar_heal_layout_find(&l, dst);
	while (first + n < l.n && l.v[first + n][0] < end)
		n++;
	if (!(d = alloc_descs(r, n))) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t a = l.v[first + k][0], b = l.v[first + k][1];
		uint64_t to = r->js->run_start + (a - dst);

		if (a < dst || b > end ||
		    ar_heal_range_state(&l, to, to + (b - a)) != AR_RANGE_FREE) {
			err = ar_fail(r->ctx, EBADMSG, "process %d: %#llx-%#llx "
				      "cannot go back over the run: the maps "
				      "are not as the journal left them",
				      r->pid, (unsigned long long)a,
				      (unsigned long long)b);
			goto out;
		}
		d[k] = mremap_desc(a, b - a, to, MREMAP_RELOCATE_ANON);
	}
	err = run_moves(r, d, n, &done);
out:
	free(d);
	ar_heal_layout_free(&l);
	return err;
}

/*
 * What the run became: one VMA, or more where moves fell back; whether
 * it merged with the VMA before it.  It must be whole, and dst empty.
 */
static int outcome(struct reloc *r)
{
	const uint64_t start = r->js->run_start, end = r->js->run_end;
	struct ar_heal_layout l = { 0 };
	uint64_t at = start;
	size_t i, n = 0;
	int err = read_layout(r, &l);

	if (err)
		goto out;
	for (i = ar_heal_layout_find(&l, start); i < l.n && l.v[i][0] < end;
	     i++, n++) {
		if (l.v[i][0] > at)
			break;
		at = l.v[i][1];
	}
	if (at < end || !n || !dst_free(r, &l)) {
		err = ar_fail(r->ctx, EIO, "process %d: the run %#llx-%#llx is "
			      "not whole after the moves", r->pid,
			      (unsigned long long)start,
			      (unsigned long long)end);
		goto out;
	}
	r->st->extra_vmas = n - 1;
	r->st->joined_prev = l.v[ar_heal_layout_find(&l, start)][0] < start;
out:
	ar_heal_layout_free(&l);
	return err;
}

/* Every source is at dst: the journaled last stage, then the result. */
static int finish(struct reloc *r)
{
	int err = ar_journal_step(r->j, r->js, AR_JP_RELOC_BACK, 0);

	if (!err)
		err = move_back(r);
	if (!err)
		err = ar_journal_step(r->j, r->js, AR_JP_READY, 0);
	return err ? err : outcome(r);
}

/*
 * The moves that put source i back in place, into d (two at most): from
 * dst, relocated, to the scratch slot, where its new page offset and
 * fresh anon_vma keep it from merging with its neighbours again; from
 * the slot back in place.  slot_busy: the slot may hold it already.  The
 * layout l is checked so that nothing mapped is ever overwritten.
 */
static int undo_moves(struct reloc *r, const struct ar_heal_layout *l,
		      size_t i, bool slot_busy, struct ar_sysdesc *d,
		      size_t *n)
{
	const struct ar_jsrc *s = &r->js->src[i];
	const uint64_t len = s->end - s->start, at = ar_js_dst(r->js, s->start);
	const uint64_t slot = slot_of(r, s->start);
	enum ar_heal_range in_place = ar_heal_range_state(l, s->start, s->end);

	*n = 0;
	if (in_place == AR_RANGE_EXACT)
		return 0;	/* never moved, or put back */
	if (in_place == AR_RANGE_FREE && !slot_busy &&
	    ar_heal_range_state(l, at, at + len) != AR_RANGE_FREE)
		d[(*n)++] = mremap_desc(at, len, slot, MREMAP_RELOCATE_ANON);
	if (in_place == AR_RANGE_FREE &&
	    (*n || ar_heal_range_state(l, slot, slot + len) == AR_RANGE_EXACT)) {
		d[(*n)++] = mremap_desc(slot, len, s->start, 0);
		return 0;
	}
	return ar_fail(r->ctx, EBADMSG, "process %d: source %#llx-%#llx is "
		       "neither in place, at dst nor in the slot", r->pid,
		       (unsigned long long)s->start,
		       (unsigned long long)s->end);
}

/*
 * Put every source that is at dst back in place, each as the VMA it was,
 * so the process is left with its old layout.  Moving the merged VMA
 * back whole would heal the sources moved so far (--must forbids that),
 * and so would moving them back piece by piece straight from dst: their
 * offsets and anon_vma match.
 */
static int undo(struct reloc *r)
{
	struct ar_heal_layout l = { 0 };
	struct ar_sysdesc *d = NULL;
	size_t n = 0, done;
	bool slot_busy;
	int err = 0;

	if (!r->rec->slot)
		err = ar_inject_find_gap(r->inj, slot_len(r), HUGE, 0,
					 &r->rec->slot);
	if (err || (err = ar_journal_step(r->j, r->js, AR_JP_RELOC_UNDO, 0)) ||
	    (err = read_layout(r, &l)))
		goto out;
	if (!(d = alloc_descs(r, 2 * r->js->nsrc))) {
		err = -ENOMEM;
		goto out;
	}
	/* Only the first source still out of place can be in the slot. */
	slot_busy = slot_used(r, &l);
	for (size_t i = 0; i < r->js->nsrc && !err; i++) {
		size_t k;

		err = undo_moves(r, &l, i, slot_busy, d + n, &k);
		if (k)
			slot_busy = false;
		n += k;
	}
	if (!err)
		err = run_moves(r, d, n, &done);
	if (!err)
		err = read_layout(r, &l);
	if (!err && (!dst_free(r, &l) || slot_used(r, &l)))
		err = ar_fail(r->ctx, EIO, "process %d: memory left at %#llx "
			      "or %#llx after moving the sources back", r->pid,
			      (unsigned long long)r->js->dst,
			      (unsigned long long)r->rec->slot);
	if (!err)
		err = ar_journal_step(r->j, r->js, AR_JP_READY, 0);
out:
	free(d);
	ar_heal_layout_free(&l);
	return err;
}

static int reloc_init(struct reloc *r, struct ar_inject *inj,
		      struct ar_heal_stats *st)
{
	size_t size;

	memset(r, 0, sizeof(*r));
	r->inj = inj;
	r->ctx = ar_inject_ctx(inj);
	r->j = ar_inject_journal(inj);
	r->js = r->j ? ar_journal_state(r->j) : &r->local;
	r->rec = AR_JREC(r->js, struct reloc_rec);
	r->pid = ar_inject_pid(inj);
	r->js->pid = r->pid;
	r->descs = ar_inject_data(inj, &size);
	r->cap = size / sizeof(struct ar_sysdesc);
	if (r->cap > MAX_BATCH)
		r->cap = MAX_BATCH;
	r->st = st;
	if (!r->cap)
		return ar_fail(r->ctx, EINVAL, "no scratch data area");
	return 0;
}

/* The journal state of run, nothing placed yet (no dst, no slot). */
static int set_run(struct reloc *r, const struct ar_heal_run *run)
{
	struct ar_jsrc *src = malloc(run->nsrc * sizeof(*src));

	if (!src)
		return ar_fail(r->ctx, ENOMEM, "out of memory");
	for (size_t i = 0; i < run->nsrc; i++)
		src[i] = (struct ar_jsrc){ run->src[i].start, run->src[i].end,
					   0 };
	free(r->js->src);
	r->js->src = src;
	r->js->nsrc = run->nsrc;
	r->js->run_start = run->start;
	r->js->run_end = run->end;
	r->js->dst = 0;
	r->rec->slot = 0;
	r->js->mflags = run->must ? MREMAP_MUST_RELOCATE_ANON :
				    MREMAP_RELOCATE_ANON;
	r->st->bytes = run->end - run->start;
	return 0;
}

/* The journal's record of run, before anything moves. */
static int begin(struct reloc *r, const struct ar_heal_run *run)
{
	return set_run(r, run) ?:
	       ar_inject_find_gap(r->inj, run->end - run->start, HUGE,
				  run->start % HUGE, &r->js->dst) ?:
	       ar_journal_step(r->j, r->js, AR_JP_RELOC_MOVING, 1);
}

/*
 * A stage failed, the reason in ctx: put the sources back when they are
 * all still whole (can_undo), else, or if that fails too, leave the
 * process stopped for `recover`.
 */
static int give_up(struct reloc *r, int err, bool can_undo)
{
	char msg[sizeof(r->ctx->errmsg)], why[sizeof(r->ctx->errmsg)];
	int uerr = err;

	memcpy(msg, r->ctx->errmsg, sizeof(msg));
	if (can_undo)
		uerr = undo(r);
	if (!uerr) {
		snprintf(r->ctx->errmsg, sizeof(r->ctx->errmsg),
			 "%.400s; every source was put back as it was", msg);
		return err;
	}
	/* Memory may be out of place: only recover may resume it. */
	ar_inject_keep_stopped(r->inj);
	memcpy(why, r->ctx->errmsg, sizeof(why));
	if (can_undo)
		return ar_fail(r->ctx, EIO, "%.200s; then %.200s; process %d "
			       "stays stopped: run `anonremap recover %d`",
			       msg, why, r->pid, r->pid);
	return ar_fail(r->ctx, EIO, "%.400s; process %d stays stopped: run "
		       "`anonremap recover %d`", msg, r->pid, r->pid);
}

/*
 * mremap() carries VM_LOCKED and VM_LOCKONFAULT with each VMA it moves,
 * and the pages stay mlocked: mlocked runs need nothing of their own.
 */
static int ar_relocate_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run)
{
	return ar_heal_check_run(ctx, run);
}

static int ar_relocate_heal(struct ar_inject *inj, const struct ar_heal_run *run,
			    struct ar_heal_stats *st)
{
	/* The moves as the filters will see them (see ar_inject_check_calls()). */
	const struct ar_call_check calls[] = {
		{ "mremap(MREMAP_RELOCATE_ANON)", SYS_mremap,
		  { 0, 0, 0, MREMAP_MAYMOVE | MREMAP_FIXED |
			     MREMAP_RELOCATE_ANON } },
		{ "mremap(MREMAP_MUST_RELOCATE_ANON)", SYS_mremap,
		  { 0, 0, 0, MREMAP_MAYMOVE | MREMAP_FIXED |
			     MREMAP_MUST_RELOCATE_ANON } },
	};
	struct ar_heal_stats dummy;
	uint64_t t0 = ar_now_ns();
	struct reloc r;
	int err;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if ((err = reloc_init(&r, inj, st)) ||
	    (err = ar_relocate_check_run(r.ctx, run)) ||
	    (err = ar_inject_check_calls(inj, calls, run->must ? 2 : 1)) ||
	    (err = begin(&r, run)))
		goto out;
	st->moves_ns = ar_now_ns();
	err = move_sources(&r, 0);
	st->moves_ns = ar_now_ns() - st->moves_ns;
	if (err)
		err = give_up(&r, err, true);
	else if ((err = finish(&r)))
		err = give_up(&r, err, false);
out:
	if (!r.j)
		free(r.local.src);	/* else the journal's */
	st->ns = ar_now_ns() - t0;
	return err;
}

/*
 * The moves that make piece i of a healed run a VMA of its own again, into
 * d (two at most): relocated to the scratch slot, where it gets a fresh
 * anon_vma and the page offset of the slot, then back in place as it is,
 * where neither lets it merge with its neighbours.  A piece found in the
 * slot (a crash between the two) only goes back.
 */
static int split_moves(struct reloc *r, const struct ar_heal_layout *l,
		       size_t i, struct ar_sysdesc *d, size_t *n)
{
	const struct ar_jsrc *s = &r->js->src[i];
	const uint64_t len = s->end - s->start, slot = slot_of(r, s->start);

	*n = 0;
	switch (ar_heal_piece_state(l, s->start, s->end)) {
	case AR_PIECE_DONE:
		return 0;
	case AR_PIECE_INSIDE:
		d[(*n)++] = mremap_desc(s->start, len, slot,
					MREMAP_MUST_RELOCATE_ANON);
		d[(*n)++] = mremap_desc(slot, len, s->start, 0);
		return 0;
	case AR_PIECE_FREE:
		if (ar_heal_range_state(l, slot, slot + len) == AR_RANGE_EXACT) {
			d[(*n)++] = mremap_desc(slot, len, s->start, 0);
			return 0;
		}
		break;
	case AR_PIECE_ACROSS:
		break;
	}
	return ar_fail(r->ctx, EBADMSG, "process %d: %#llx-%#llx is neither "
		       "part of one VMA nor in the slot", r->pid,
		       (unsigned long long)s->start,
		       (unsigned long long)s->end);
}

/*
 * Split the journaled pieces off the VMAs they merged into, in one batch;
 * splitting a piece off does not change where the VMA of the pieces after
 * it ends, so one read of the maps plans every move.
 */
static int split_pieces(struct reloc *r)
{
	struct ar_heal_layout l = { 0 };
	struct ar_sysdesc *d = NULL;
	size_t n = 0, done = 0;
	int err = read_layout(r, &l);

	if (!err && !(d = alloc_descs(r, 2 * r->js->nsrc)))
		err = -ENOMEM;
	for (size_t i = 0; i < r->js->nsrc && !err; i++) {
		size_t k;

		err = split_moves(r, &l, i, d + n, &k);
		n += k;
	}
	if (!err) {
		err = run_moves(r, d, n, &done);
		/* Only a move back from the slot leaves a piece out of place. */
		if (err && done < n &&
		    !(d[done].args[3] & MREMAP_MUST_RELOCATE_ANON))
			err = -EIO;
	}
	if (err != -EIO) {
		/* Every piece is in place, split off or not. */
		char msg[sizeof(r->ctx->errmsg)];
		int jerr;

		memcpy(msg, r->ctx->errmsg, sizeof(msg));
		jerr = ar_journal_step(r->j, r->js, AR_JP_READY, 0);
		if (!err)
			err = jerr;
		else
			memcpy(r->ctx->errmsg, msg, sizeof(msg));
	}
	free(d);
	ar_heal_layout_free(&l);
	return err;
}

static int ar_relocate_split(struct ar_inject *inj, const struct ar_heal_run *run,
			     struct ar_heal_stats *st)
{
	const struct ar_call_check calls[] = {
		{ "mremap(MREMAP_MUST_RELOCATE_ANON)", SYS_mremap,
		  { 0, 0, 0, MREMAP_MAYMOVE | MREMAP_FIXED |
			     MREMAP_MUST_RELOCATE_ANON } },
		{ "mremap", SYS_mremap, { 0, 0, 0,
					  MREMAP_MAYMOVE | MREMAP_FIXED } },
	};
	uint64_t t0 = ar_now_ns();
	struct reloc r;
	int err;

	memset(st, 0, sizeof(*st));
	if ((err = reloc_init(&r, inj, st)) ||
	    (err = ar_inject_check_calls(inj, calls, AR_ARRAY_SIZE(calls))) ||
	    (err = set_run(&r, run)))
		goto out;
	r.js->mflags = MREMAP_MUST_RELOCATE_ANON;
	err = ar_inject_find_gap(inj, slot_len(&r), HUGE, 0, &r.rec->slot) ?:
	      ar_journal_step(r.j, r.js, AR_JP_RELOC_SPLIT, 1) ?:
	      split_pieces(&r);
	if (err == -EIO)
		err = give_up(&r, err, false);	/* a piece may be in the slot */
out:
	if (!r.j)
		free(r.local.src);	/* else the journal's */
	st->ns = ar_now_ns() - t0;
	return err;
}

/*
 * After a crash while sources moved to dst: how many did (a prefix, now
 * at dst), checking that the others are in place and their room at dst
 * free.
 */
static int sources_moved(struct reloc *r, size_t *m)
{
	struct ar_heal_layout l = { 0 };
	size_t i = 0;
	int err = read_layout(r, &l);

	while (!err && i < r->js->nsrc &&
	       ar_heal_range_state(&l, r->js->src[i].start,
				   r->js->src[i].end) == AR_RANGE_FREE)
		i++;
	*m = i;
	for (; !err && i < r->js->nsrc; i++) {
		const struct ar_jsrc *s = &r->js->src[i];

		if (ar_heal_range_state(&l, s->start, s->end) != AR_RANGE_EXACT ||
		    ar_heal_range_state(&l, ar_js_dst(r->js, s->start),
					ar_js_dst(r->js, s->end)) !=
		    AR_RANGE_FREE)
			err = ar_fail(r->ctx, EBADMSG, "process %d: source "
				      "%#llx-%#llx is not as the journal left "
				      "it", r->pid,
				      (unsigned long long)s->start,
				      (unsigned long long)s->end);
	}
	ar_heal_layout_free(&l);
	return err;
}

static int ar_relocate_recover(struct ar_inject *inj, enum ar_recovery *how)
{
	struct ar_heal_stats st;
	struct reloc r;
	size_t m;
	int err;

	*how = AR_RECOVERY_NOTHING;
	memset(&st, 0, sizeof(st));
	err = reloc_init(&r, inj, &st);
	if (!err && !r.j)
		err = ar_fail(r.ctx, EINVAL, "no journal to recover from");
	if (err)
		goto out;
	switch (r.js->phase) {
	case AR_JP_RELOC_MOVING:
		*how = AR_RECOVERY_FINISHED;
		err = sources_moved(&r, &m);
		if (!err && (err = move_sources(&r, m))) {
			*how = AR_RECOVERY_UNDONE;
			err = undo(&r);
		}
		if (!err && *how == AR_RECOVERY_FINISHED)
			err = finish(&r);
		break;
	case AR_JP_RELOC_BACK:
		*how = AR_RECOVERY_FINISHED;
		err = finish(&r);
		break;
	case AR_JP_RELOC_UNDO:
		*how = AR_RECOVERY_UNDONE;
		err = undo(&r);
		break;
	case AR_JP_RELOC_SPLIT:
		*how = AR_RECOVERY_UNDONE;
		err = split_pieces(&r);
		break;
	}
out:
	if (err)
		ar_inject_keep_stopped(inj);
	return err;
}

static int ar_relocate_probe(struct ar_ctx *ctx)
{
	long page = (long)ar_page_size();
	char *p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *moved;
	int err = 0;

	if (p == MAP_FAILED)
		return ar_fail_errno(ctx, errno, "mmap");
	p[0] = 42;
	/*
	 * A stock kernel rejects the unknown flag before anything else.
	 * Not through glibc's mremap(), which refuses flags it does not know.
	 */
	moved = (char *)syscall(SYS_mremap, p, page, page, MREMAP_MAYMOVE |
				MREMAP_FIXED | MREMAP_MUST_RELOCATE_ANON,
				p + 2 * page);
	if (moved == MAP_FAILED)
		err = errno == EINVAL ?
		      ar_fail(ctx, EOPNOTSUPP, "this kernel has no "
			      "MREMAP_RELOCATE_ANON (the patch series in "
			      "kernel/ adds it)") :
		      ar_fail_errno(ctx, errno, "MREMAP_MUST_RELOCATE_ANON "
				    "of a page of our own");
	else if (moved[0] != 42)
		err = ar_fail(ctx, EIO, "MREMAP_RELOCATE_ANON lost the "
			      "contents of a page of our own");
	munmap(p, 3 * page);
	return err;
}

static const uint32_t relocate_phases[] = {
	AR_JP_RELOC_MOVING, AR_JP_RELOC_BACK, AR_JP_RELOC_UNDO,
	AR_JP_RELOC_SPLIT, 0
};

/*
 * Each source VMA of a run is moved, relocated, next to the one before it
 * at a free address with the run's 2 MiB phase (they merge as they land),
 * and what that became is moved back over the run, relocated again.
 * mremap() carries every attribute of a VMA (flags, name, NUMA policy),
 * so nothing is mapped anew.  Where the kernel cannot relocate a source
 * (pages shared with a fork, pinned, swapped out...), MREMAP_RELOCATE_ANON
 * falls back to an ordinary move: the run is then healed into more than
 * one VMA, as st->extra_vmas says.  With run->must,
 * MREMAP_MUST_RELOCATE_ANON is used instead, and a source that cannot be
 * relocated (-EFAULT) has the sources moved before it put back one by one.
 * A split relocates each piece to a scratch slot, where it gets a fresh
 * anon_vma, and moves it back as it is.
 */
const struct ar_backend_ops ar_backend_relocate = {
	.id = AR_BACKEND_RELOCATE,
	.name = "relocate",
	.automatic = true,
	.parts_merge = true,
	.locks_dst = false,
	.extra_vmas_why = "some VMAs could not be relocated (pages shared "
			  "with a fork, pinned, swapped out or KSM) and did "
			  "not merge",
	.probe = ar_relocate_probe,
	.check_run = ar_relocate_check_run,
	.heal = ar_relocate_heal,
	.split = ar_relocate_split,
	.recover = ar_relocate_recover,
	.phases = relocate_phases,
};
