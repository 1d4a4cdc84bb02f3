/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pacing under --max-pause (internal API): the size of each stop's part,
 * from what the last stops measured.  See pace.c.
 */
#ifndef ANONREMAP_PACE_H
#define ANONREMAP_PACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define AR_PACE_COST_HISTORY 8

struct ar_pace {
	unsigned int max_pause_ms;	/* 0: no bound, everything in one stop */
	size_t part_vmas;	/* the next part's size (SIZE_MAX: no bound) */
	/* What the stop under way, or the last one, healed: */
	size_t last_part;	/* VMAs healed (or split back) */
	uint64_t last_moves_ns;	/* and the backends' moves_ns of them */
	uint64_t last_setup_ns;	/* the rest of the backends' time */
	/* Under --max-pause, as the last stop measured them: */
	uint64_t stopping_ns;	/* from SIGSTOP until the moves began */
	/*
	 * The moves alone (the backends' moves_ns: a part's setting up,
	 * which does not grow with it, is setup_ns), per VMA, in the last
	 * AR_PACE_COST_HISTORY stops.  Parts are sized from the lowest, so
	 * that one slow stop cannot make the next part smaller.
	 */
	uint64_t vma_costs[AR_PACE_COST_HISTORY];
	size_t ncosts;
	uint64_t resume_ns;	/* detaching until the process runs */
	uint64_t setup_ns;	/* the backend's, besides its moves */
};

/* No stop yet: the first part is sized by what stops cost on our VMs. */
void ar_pace_init(struct ar_pace *pc, unsigned int max_pause_ms);

/* How many stops a run of vmas VMAs is expected to take (the plan's guess). */
size_t ar_pace_expected_parts(size_t vmas, unsigned int max_pause_ms);

/*
 * Of a run of vmas VMAs, how many the first of even parts of <= max has.
 * Parts that merge must not leave one VMA alone at the end: it would not
 * be a run any more, nothing would merge it.
 */
size_t ar_pace_even_part(size_t vmas, size_t max, bool parts_merge);

/* A stop begins: what it heals is counted anew. */
void ar_pace_stop_begins(struct ar_pace *pc);

/* The stop healed (or split back) vmas VMAs, the backend timing them so. */
void ar_pace_healed(struct ar_pace *pc, size_t vmas, uint64_t moves_ns,
		    uint64_t setup_ns);

/*
 * Under --max-pause, in the stop: part_end, or an earlier end, given the
 * part begins at VMA first of proc and the process has been stopped for
 * stopped_ns; ends_merging_run: the part ends a run whose parts merge, so
 * it must not leave one VMA alone.
 */
uint64_t ar_pace_cut(const struct ar_pace *pc, const struct ar_proc *proc,
		     size_t first, uint64_t part_end, bool ends_merging_run,
		     uint64_t stopped_ns);

/* The part of the stop was healed, its moves having begun after stopping_ns. */
void ar_pace_part_done(struct ar_pace *pc, uint64_t stopping_ns);

/*
 * A stop ended after pause_ns, resume_ns of it resuming: the next part's
 * size.  A rollback's stops split what was healed and say nothing of the
 * cost of healing.
 */
void ar_pace_stop_ended(struct ar_pace *pc, uint64_t pause_ns,
			uint64_t resume_ns, bool rollback);

/*
 * --must begins to split back: a split costs more than a move (with
 * uffd-move and copy, a heal of its own per piece), so the rollback's
 * first stop splits a quarter of the last part, and is measured.
 */
void ar_pace_rollback_begins(struct ar_pace *pc);

#endif /* ANONREMAP_PACE_H */
