// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rollback of --must: the parts of runs a defrag healed, remembered,
 * and split back into the VMAs they were, newest first, when a later run
 * fails.  The backend's split does the moving; this file keeps the list
 * and what the report says of each run split back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollback.h"

/*
 * A part of a run healed by this defrag, remembered under --must: should a
 * later run fail, it is split back into the VMAs it was.
 */
struct ar_healed_part {
	size_t run;		/* the plan's */
	struct ar_heal_run hr;	/* its sources still to split back (owned) */
	char perms[sizeof(((struct ar_vma *)0)->perms)];
};

static void healed_part_free(struct ar_healed_part *h)
{
	free((void *)h->hr.src);
	free((void *)h->hr.name);
}

int ar_rollback_remember(struct ar_ctx *ctx, struct ar_rollback *rb,
			 size_t run, const struct ar_heal_run *hr)
{
	struct ar_jsrc *src = malloc(hr->nsrc * sizeof(*src));
	char *name = strdup(hr->name ? hr->name : "");
	struct ar_healed_part *h;

	if (!src || !name)
		goto nomem;
	if (rb->n == rb->cap) {
		size_t cap = rb->cap ? 2 * rb->cap : 16;
		struct ar_healed_part *more = realloc(rb->parts,
						   cap * sizeof(*more));

		if (!more)
			goto nomem;
		rb->parts = more;
		rb->cap = cap;
	}
	memcpy(src, hr->src, hr->nsrc * sizeof(*src));
	h = &rb->parts[rb->n++];
	h->run = run;
	h->hr = *hr;
	h->hr.src = src;
	h->hr.name = name;
	snprintf(h->perms, sizeof(h->perms), "%s", hr->perms);
	h->hr.perms = NULL;	/* h->perms, wherever h is then */
	return 0;
nomem:
	free(src);
	free(name);
	return ar_fail(ctx, ENOMEM, "out of memory");
}

/* The report of run o, once --must has split back what was healed of it. */
static void run_split_back(struct ar_defrag_run *o)
{
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

void ar_rollback_forget(struct ar_rollback *rb)
{
	while (rb->n)
		healed_part_free(&rb->parts[--rb->n]);
}

void ar_rollback_free(struct ar_rollback *rb)
{
	ar_rollback_forget(rb);
	free(rb->parts);
	memset(rb, 0, sizeof(*rb));
}

/*
 * --must, after a run failed: split what this defrag healed back into the
 * VMAs it was, newest part first, at most max pieces in this stop, with
 * the backend's split; *split: how many were.  out: the report's runs.
 * Returns 0, or -EIO (memory out of place: the process stays stopped for
 * recover).  A split that fails otherwise ends the rollback, with the
 * reason in the run's report.
 */
int ar_rollback_split(struct ar_rollback *rb, struct ar_inject *inj,
		      const struct ar_backend_ops *ops,
		      struct ar_defrag_run *out, size_t max, size_t *split)
{
	struct ar_journal *j = ar_inject_journal(inj);
	struct ar_ctx *ctx = ar_inject_ctx(inj);

	/*
	 * Each piece is a journaled heal of its own: its records need not
	 * wait for the disk (see ar_journal_set_sync()), or the rollback
	 * would cost milliseconds a piece.
	 */
	*split = 0;
	if (j)
		ar_journal_set_sync(j, false);
	while (rb->n && max) {
		struct ar_healed_part *h = &rb->parts[rb->n - 1];
		size_t k = h->hr.nsrc < max ? h->hr.nsrc : max, run = h->run;
		struct ar_heal_run tail = h->hr;
		struct ar_heal_stats st;
		int err;

		tail.src += h->hr.nsrc - k;
		tail.nsrc = k;
		tail.start = tail.src[0].start;
		tail.perms = h->perms;	/* h moves when the array grows */
		err = ops->split(inj, &tail, &st);
		if (err) {
			struct ar_defrag_run *o = &out[run];

			snprintf(o->reason, sizeof(o->reason), "healed, but "
				 "--must could not split it back: %.400s",
				 ctx->errmsg);
			ar_rollback_forget(rb);
			return err == -EIO ? err : 0;
		}
		*split += k;
		max -= k;
		h->hr.nsrc -= k;
		if (h->hr.nsrc) {
			h->hr.end = h->hr.src[h->hr.nsrc - 1].end;
			continue;
		}
		healed_part_free(h);
		rb->n--;
		if (!rb->n || rb->parts[rb->n - 1].run != run)
			run_split_back(&out[run]);
	}
	return 0;
}
