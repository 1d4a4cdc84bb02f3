/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy backend (internal API): heal a run on any kernel by copying its
 * pages into a fresh VMA, then moving that VMA over the run.
 */
#ifndef ANONREMAP_BACKEND_COPY_H
#define ANONREMAP_BACKEND_COPY_H

#include "heal.h"
#include "inject.h"

/*
 * Heal one run in the target: its VMAs become one VMA with the same
 * contents, protections, flags and name.  Holes stay holes (pagemap);
 * swapped-out pages are read back in and copied, so the process's Rss
 * grows by what the run had in swap.  Each source VMA is unmapped as soon
 * as it is copied: memory grows by at most one VMA plus 2 MiB meanwhile.
 *
 * Copying un-shares COW pages, so runs with pages shared with another
 * process (-EBUSY) are refused before anything changes, as are those
 * ar_copy_check_run() refuses and those with a NUMA policy or guard
 * regions (-EPERM).  A failure before any source was unmapped removes
 * dst; after, the copied front of the run is put back in place (as one
 * VMA, the rest untouched).  If even that fails, the journal keeps what
 * `recover` needs and the process stays stopped (-EIO).
 */
int ar_copy_heal(struct ar_inject *inj, const struct ar_heal_run *run,
		 struct ar_heal_stats *st);

/*
 * The refusals of ar_copy_heal() that need no access to the process (its
 * flags and protections), for plans that must know before anything moves.
 * Unlike uffd-move, read-only and PROT_NONE runs can be healed.
 */
int ar_copy_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run);

/* Whether a journal phase belongs to this backend. */
int ar_copy_owns(uint32_t phase);

/*
 * Finish or undo the copy the journal of inj describes (used by recover).
 * On failure the process stays stopped, the journal kept.
 */
int ar_copy_recover(struct ar_inject *inj, enum ar_recovery *how);

#endif /* ANONREMAP_BACKEND_COPY_H */
