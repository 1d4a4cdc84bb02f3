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

#include "heal.h"
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

/*
 * Finish or undo the run the journal of inj describes (used by recover).
 * On failure the process stays stopped, the journal kept.
 */
int ar_uffd_recover(struct ar_inject *inj, enum ar_recovery *how);

#endif /* ANONREMAP_UFFD_H */
