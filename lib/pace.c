// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Pacing under --max-pause: how many VMAs each stop heals, sized from what
 * the last stops measured, and when a stop cuts its part short.  Nothing
 * here stops, reads or moves anything: the executor (defrag.c) tells it
 * what happened and asks what to do next.
 */
#include <stdint.h>
#include <string.h>

#include "pace.h"

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
size_t ar_pace_even_part(size_t vmas, size_t max, bool parts_merge)
{
	size_t parts = (vmas + max - 1) / max;
	size_t n = (vmas + parts - 1) / parts;

	if (parts_merge && vmas - n == 1)
		n++;
	return n;
}

size_t ar_pace_expected_parts(size_t vmas, unsigned int max_pause_ms)
{
	size_t part = max_pause_ms ? guessed_part(max_pause_ms) : SIZE_MAX;

	return part >= vmas ? 1 : (vmas + part - 1) / part;
}

void ar_pace_init(struct ar_pace *pc, unsigned int max_pause_ms)
{
	memset(pc, 0, sizeof(*pc));
	pc->max_pause_ms = max_pause_ms;
	pc->part_vmas = max_pause_ms ? guessed_part(max_pause_ms) : SIZE_MAX;
}

void ar_pace_stop_begins(struct ar_pace *pc)
{
	pc->last_part = 0;
	pc->last_moves_ns = 0;
	pc->last_setup_ns = 0;
}

void ar_pace_healed(struct ar_pace *pc, size_t vmas, uint64_t moves_ns,
		    uint64_t setup_ns)
{
	pc->last_part += vmas;
	pc->last_moves_ns += moves_ns;
	pc->last_setup_ns += setup_ns;
}

static void note_vma_cost(struct ar_pace *pc, uint64_t ns)
{
	pc->vma_costs[pc->ncosts++ % AR_PACE_COST_HISTORY] = ns ? ns : 1;
}

/* The lowest cost per VMA of the last stops; there was one at least. */
static uint64_t vma_cost(const struct ar_pace *pc)
{
	size_t n = pc->ncosts < AR_PACE_COST_HISTORY ? pc->ncosts : AR_PACE_COST_HISTORY;
	uint64_t low = pc->vma_costs[0];

	for (size_t i = 1; i < n; i++)
		if (pc->vma_costs[i] < low)
			low = pc->vma_costs[i];
	return low;
}

void ar_pace_part_done(struct ar_pace *pc, uint64_t stopping_ns)
{
	pc->stopping_ns = stopping_ns;
	if (pc->last_part) {
		note_vma_cost(pc, pc->last_moves_ns / pc->last_part);
		pc->setup_ns = pc->last_setup_ns;
	}
}

/*
 * Under --max-pause, in the stop: part_end (the part beginning at the VMA
 * first of proc), or an earlier end when healing the whole part would
 * take the stop past PAUSE_CUT_PERCENT of the bound, stopped_ns being how
 * long the process has been stopped already.  At
 * least two VMAs are healed, and a run whose parts merge is never left
 * with one VMA alone at its end.
 */
uint64_t ar_pace_cut(const struct ar_pace *pc, const struct ar_proc *proc,
		     size_t first, uint64_t part_end, bool ends_merging_run,
		     uint64_t stopped_ns)
{
	const uint64_t bound = (uint64_t)pc->max_pause_ms * 1000000u *
			       PAUSE_CUT_PERCENT / 100u;
	const uint64_t per_vma = pc->ncosts ? vma_cost(pc) :
				 GUESS_NS_PER_VMA;
	size_t n = 0, k;
	uint64_t spare;

	if (first == SIZE_MAX || !pc->stopping_ns ||
	    stopped_ns <= 2 * pc->stopping_ns)
		return part_end;	/* no outlier, or not as planned */
	while (first + n < proc->nvmas && proc->vmas[first + n].end <= part_end)
		n++;
	spare = stopped_ns + pc->resume_ns + pc->setup_ns < bound ?
		bound - stopped_ns - pc->resume_ns - pc->setup_ns : 0;
	k = (size_t)(spare / per_vma);
	if (k < 2)
		k = 2;
	if (k >= n)
		return part_end;
	if (ends_merging_run && n - k == 1)
		k--;
	return k >= 2 && k < n ? proc->vmas[first + k - 1].end : part_end;
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
static size_t part_from_costs(const struct ar_pace *pc, uint64_t pause_ns)
{
	const uint64_t goal = pause_goal_ns(pc->max_pause_ms);
	const uint64_t per_vma = vma_cost(pc);
	const uint64_t moving = per_vma * pc->last_part;
	const uint64_t other = pause_ns > moving ? pause_ns - moving : 0;
	const uint64_t room = goal > other + goal / 2 ? goal - other : goal / 2;
	uint64_t n = room / per_vma;

	if (n > 2 * (uint64_t)pc->part_vmas)
		n = 2 * (uint64_t)pc->part_vmas;
	if (n < pc->part_vmas / 2)
		n = pc->part_vmas / 2;
	return n < 2 ? 2 : (size_t)n;
}

void ar_pace_stop_ended(struct ar_pace *pc, uint64_t pause_ns,
			uint64_t resume_ns, bool rollback)
{
	if (rollback) {
		if (pc->last_part)
			pc->part_vmas = next_part(pc->last_part, pause_ns,
						  pc->max_pause_ms);
		return;
	}
	pc->resume_ns = resume_ns;
	if (pc->max_pause_ms && pc->last_part)
		pc->part_vmas = pc->ncosts ? part_from_costs(pc, pause_ns) :
				next_part(pc->last_part, pause_ns,
					  pc->max_pause_ms);
}

void ar_pace_rollback_begins(struct ar_pace *pc)
{
	if (pc->part_vmas / 4)
		pc->part_vmas /= 4;
}
