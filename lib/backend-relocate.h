/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The relocate backend (internal API): heal a run with mremap() and this
 * project's MREMAP_RELOCATE_ANON (kernel/), which gives a moved VMA the
 * page offset of its new address and an anon_vma it can merge with.
 */
#ifndef ANONREMAP_BACKEND_RELOCATE_H
#define ANONREMAP_BACKEND_RELOCATE_H

#include "heal.h"
#include "inject.h"

/* Our kernel patch's flags, unknown to stock headers. */
#ifndef MREMAP_RELOCATE_ANON
#define MREMAP_RELOCATE_ANON 8
#define MREMAP_MUST_RELOCATE_ANON 16
#endif

/*
 * Heal one run in the target: each source VMA is moved, relocated, next
 * to the one before it at a free address with the run's 2 MiB phase
 * (they merge as they land), and what that became is moved back over
 * the run, relocated again.  mremap() carries every attribute of a VMA
 * (flags, name, NUMA policy), so nothing is mapped anew.
 *
 * Where the kernel cannot relocate a source (pages shared with a fork,
 * pinned, swapped out...), MREMAP_RELOCATE_ANON falls back to an ordinary
 * move: the run is then healed into more than one VMA, as st->extra_vmas
 * says.  With run->must, MREMAP_MUST_RELOCATE_ANON is used instead, and
 * a source that cannot be relocated (-EFAULT) has the sources moved
 * before it put back one by one, so the process is left with the layout
 * and contents it had.  If even that fails, the journal keeps what
 * `recover` needs and the process stays stopped (-EIO).
 */
int ar_relocate_heal(struct ar_inject *inj, const struct ar_heal_run *run,
		     struct ar_heal_stats *st);

/*
 * Make each source of run, a piece of a healed run now inside the VMA it
 * merged into, a VMA of its own again (for --must, when a later run
 * fails): relocated to a scratch slot, where it gets a fresh anon_vma,
 * and moved back as it is.  Contents and every attribute stay; the page
 * offsets become the slot's.  -EIO (process kept stopped for `recover`)
 * when a piece could not go back in place.
 */
int ar_relocate_split(struct ar_inject *inj, const struct ar_heal_run *run,
		      struct ar_heal_stats *st);

/*
 * The refusals of ar_relocate_heal() that need no access to the process:
 * those of ar_heal_check_run() (read-only and mlocked runs can be healed).
 */
int ar_relocate_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run);

/*
 * Whether this kernel relocates anonymous memory on mremap(), tried on a
 * page of our own; 0, or a negative errno with the reason in ctx.
 */
int ar_relocate_probe(struct ar_ctx *ctx);

/* Whether a journal phase belongs to this backend. */
int ar_relocate_owns(uint32_t phase);

/*
 * Finish or undo the run the journal of inj describes (used by recover).
 * On failure the process stays stopped, the journal kept.
 */
int ar_relocate_recover(struct ar_inject *inj, enum ar_recovery *how);

#endif /* ANONREMAP_BACKEND_RELOCATE_H */
