/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The defrag backends (internal API): how pages get moved.  Each backend is
 * one file (backend-*.c) that defines one struct ar_backend_ops; the list
 * in backends.c is the only place that names them.  The planner, the
 * executor, `probe` and `recover` walk the list and never name a member:
 * adding a backend is one new file and one line in that list.
 */
#ifndef ANONREMAP_BACKEND_H
#define ANONREMAP_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "heal.h"
#include "inject.h"

/* What recover did about the run under way. */
enum ar_recovery {
	AR_RECOVERY_NOTHING,	/* no run was under way: registers restored */
	AR_RECOVERY_FINISHED,	/* the run was completed: one VMA */
	AR_RECOVERY_UNDONE,	/* the run was moved back as it was */
};

struct ar_backend_ops {
	enum ar_backend id;	/* in the public API (anonremap.h) */
	const char *name;	/* as --backend takes it */
	/*
	 * Tried by AR_BACKEND_AUTO, in the list's order.  A backend that is
	 * not says, in hint, why one would still choose it by name.
	 */
	bool automatic;
	const char *hint;
	/* Parts of a run healed in different stops merge into one VMA. */
	bool parts_merge;
	/* An mlocked run's destination is locked beside it while it heals. */
	bool locks_dst;
	/* Why a heal left st->extra_vmas, when it can (for the report). */
	const char *extra_vmas_why;

	/*
	 * Whether this kernel and these privileges can run the backend,
	 * tried in our own process; 0, or a negative errno with the reason
	 * in ctx.
	 */
	int (*probe)(struct ar_ctx *ctx);
	/*
	 * The refusals of heal() that need no access to the process (the
	 * run's flags and protections), for plans that must know before
	 * anything moves: 0, or -EPERM / -EINVAL with the reason in ctx.
	 */
	int (*check_run)(struct ar_ctx *ctx, const struct ar_heal_run *run);
	/*
	 * Heal one run in the stopped target: its VMAs become one VMA (or,
	 * where the backend falls back, as few as st->extra_vmas says) with
	 * the same contents and attributes.  On failure the run is put back
	 * as it was; if even that fails, the journal keeps what recover
	 * needs and the process stays stopped (-EIO).
	 */
	int (*heal)(struct ar_inject *inj, const struct ar_heal_run *run,
		    struct ar_heal_stats *st);
	/*
	 * Make each source of run, a piece of a run healed by this backend,
	 * a VMA of its own again (--must rolling back after a later run
	 * failed); -EIO as heal().
	 */
	int (*split)(struct ar_inject *inj, const struct ar_heal_run *run,
		     struct ar_heal_stats *st);
	/*
	 * Finish or undo the run the journal of inj describes, the journal
	 * of a tool that died while this backend ran (its phase is one of
	 * phases[]).  On failure the process stays stopped, the journal kept.
	 */
	int (*recover)(struct ar_inject *inj, enum ar_recovery *how);
	/* The journal phases (enum ar_jphase) this backend writes, 0-ended. */
	const uint32_t *phases;
};

/* Every backend this version can drive, in the order auto tries them. */
extern const struct ar_backend_ops *const ar_backends[];
extern const size_t ar_nbackends;

/* The backend of id, NULL for AR_BACKEND_AUTO or an unknown id. */
const struct ar_backend_ops *ar_backend_ops(enum ar_backend id);

/* The backend that writes journal phase phase, NULL for a common phase. */
const struct ar_backend_ops *ar_backend_of_phase(uint32_t phase);

/*
 * Resolve *id: a named backend is probed; AR_BACKEND_AUTO becomes the first
 * automatic one whose probe passes, or fails with every reason.
 */
int ar_backend_choose(struct ar_ctx *ctx, enum ar_backend *id);

/*
 * Repair pid after a tool died (recover.c): restore the journaled
 * registers, have the backend of the run under way finish (or, when that
 * fails, undo) it, unmap the scratch pages, detach and resume.  -ENOENT
 * when there is no journal, -EBUSY when a live tool holds it; on other
 * failures the process stays stopped and the journal stays for another
 * try.  how may be NULL.
 */
int ar_recover(struct ar_ctx *ctx, pid_t pid, enum ar_recovery *how);

#endif /* ANONREMAP_BACKEND_H */
