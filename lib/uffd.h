/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * userfaultfd definitions newer than Debian 12's headers (UFFDIO_MOVE came
 * with Linux 6.8), and the uffd-move backend (internal API).
 */
#ifndef ANONREMAP_UFFD_H
#define ANONREMAP_UFFD_H

#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "inject.h"
#include "journal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;	/* bytes moved, or a negative errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* One run to heal: adjacent source VMAs, all with the same attributes. */
struct ar_heal_run {
	uint64_t start, end;
	const struct ar_jsrc *src;	/* address order, exactly covering */
	size_t nsrc;
	const char *perms;		/* "rw-p" */
	uint64_t vmflags;		/* AR_VMF() bits */
	const char *name;		/* anonymous name, "" or NULL for none */
};

/*
 * Describe run (from ar_proc_read(), best read while the process is
 * stopped) for ar_uffd_heal(); src must hold run->vmas entries.  -EINVAL
 * when its VMAs' attributes differ or it carries flags unknown to us.
 */
int ar_heal_run_from_proc(struct ar_heal_run *hr, struct ar_jsrc *src,
			  const struct ar_proc *proc, const struct ar_run *run);

struct ar_heal_stats {
	uint64_t bytes;		/* bytes of the run (holes included) */
	uint64_t moves;		/* UFFDIO_MOVE ioctls */
	uint64_t batches;
	uint64_t ns;		/* wall time of the heal */
};

/*
 * Heal one run in the target: its VMAs become one VMA with the same
 * contents, protections, flags and name.  On failure every page is moved
 * back and the target is as before; if even that fails, the journal keeps
 * what `recover` needs and the process stays stopped (-EIO).  Refuses
 * (nothing changed) runs it cannot carry: mlocked, uffd-armed, read-only,
 * shared, growsdown, sealed, with a NUMA policy.
 */
int ar_uffd_heal(struct ar_inject *inj, const struct ar_heal_run *run,
		 struct ar_heal_stats *st);

/*
 * Whether this kernel and these privileges can run the backend, tried in
 * our own process; 0, or a negative errno with the reason in ctx.
 */
int ar_uffd_probe(struct ar_ctx *ctx);

/*
 * The refusals of ar_uffd_heal() that need no access to the process (its
 * flags and protections), for plans that must know before anything moves.
 */
int ar_uffd_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run);

/* What recover did about the run under way. */
enum ar_recovery {
	AR_RECOVERY_NOTHING,	/* no run was under way: registers restored */
	AR_RECOVERY_FINISHED,	/* the run was completed: one VMA */
	AR_RECOVERY_UNDONE,	/* the run was moved back as it was */
};

/*
 * Finish or undo the run the journal of inj describes (used by recover).
 * On failure the process stays stopped, the journal kept.
 */
int ar_uffd_recover(struct ar_inject *inj, enum ar_recovery *how);

/*
 * Repair pid after a tool died: restore the journaled registers, finish
 * (or, when that fails, undo) the interrupted run, unmap the scratch
 * pages, detach and resume.  -ENOENT when there is no journal, -EBUSY
 * when a live tool holds it; on other failures the process stays stopped
 * and the journal stays for another try.  how may be NULL.
 */
int ar_recover(struct ar_ctx *ctx, pid_t pid, enum ar_recovery *how);

#endif /* ANONREMAP_UFFD_H */
