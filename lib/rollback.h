/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rollback of --must (internal API): what a defrag healed, to split
 * back when a later run fails.  See rollback.c.
 */
#ifndef ANONREMAP_ROLLBACK_H
#define ANONREMAP_ROLLBACK_H

#include <stddef.h>

#include "backend.h"

struct ar_healed_part;

struct ar_rollback {
	struct ar_healed_part *parts;	/* in the order healed */
	size_t n, cap;
};

/* Remember hr, a part of the plan's run run just healed (copied). */
int ar_rollback_remember(struct ar_ctx *ctx, struct ar_rollback *rb,
			 size_t run, const struct ar_heal_run *hr);

/*
 * Split back at most max pieces, newest first, with ops->split; *split:
 * how many were.  out, the report's runs, says of each run split back
 * that it was.  0, or -EIO (memory out of place: the process stays
 * stopped for recover); a split that fails otherwise ends the rollback
 * (every part forgotten), with the reason in its run's report.
 */
int ar_rollback_split(struct ar_rollback *rb, struct ar_inject *inj,
		      const struct ar_backend_ops *ops,
		      struct ar_defrag_run *out, size_t max, size_t *split);

/* Forget every part (nothing more will be split back). */
void ar_rollback_forget(struct ar_rollback *rb);
void ar_rollback_free(struct ar_rollback *rb);

#endif /* ANONREMAP_ROLLBACK_H */
