/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every backend shares (internal API): the run to heal, its checks,
 * and the fresh destination VMA that takes the run's attributes.
 */
#ifndef ANONREMAP_HEAL_H
#define ANONREMAP_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "inject.h"
#include "journal.h"
#include "layout.h"

/* One run to heal: adjacent source VMAs, all with the same attributes. */
struct ar_heal_run {
	uint64_t start, end;
	unsigned int must;		/* every VMA must merge, or nothing moves */
	unsigned int unshare;		/* pages a fork once shared may be
					   rewritten in place (--unshare) */
	unsigned int policy_known;	/* NUMA policy known to be the default:
					   not read again (a piece of a run
					   healed a moment ago) */
	const struct ar_jsrc *src;	/* address order, exactly covering */
	size_t nsrc;
	const char *perms;		/* "rw-p" */
	uint64_t vmflags;		/* AR_VMF() bits */
	const char *name;		/* anonymous name, "" or NULL for none */
};

/*
 * Describe run (from ar_proc_read(), best read while the process is
 * stopped) for a backend; src must hold run->vmas entries.  -EINVAL when
 * its VMAs' attributes differ or it carries flags unknown to us.
 */
int ar_heal_run_from_proc(struct ar_heal_run *hr, struct ar_jsrc *src,
			  const struct ar_proc *proc, const struct ar_run *run);

struct ar_heal_stats {
	uint64_t bytes;		/* bytes of the run (holes included) */
	uint64_t moves;		/* UFFDIO_MOVE ioctls, or pages copied */
	uint64_t batches;
	uint64_t ns;		/* wall time of the heal */
	/*
	 * Of which the moves of the sources: the part that grows with the
	 * run's VMAs.  Setting up, and putting the run in place after (a
	 * few calls, whatever the VMAs), are not in it: counted per VMA,
	 * they would make small parts look dear, and be cut smaller still.
	 */
	uint64_t moves_ns;
	/*
	 * What the run became, when it may be more than one VMA: VMAs left
	 * beyond one (moves that fell back and did not merge), and whether
	 * its first VMA merged with the VMA before it (an earlier part).
	 */
	uint64_t extra_vmas;
	uint32_t joined_prev;
};

/*
 * The refusals that need nothing but the run's flags and protections:
 * uffd-armed, shared, growsdown, sealed, hugetlb and the like (mlocked
 * runs are the backend's to refuse).  0, or -EPERM / -EINVAL with the
 * reason in ctx.
 */
int ar_heal_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run);

/* -EPERM when a VMA of the run has a NUMA policy a new VMA would not have. */
int ar_heal_check_mempolicy(struct ar_ctx *ctx, pid_t pid,
			    const struct ar_heal_run *run);

/*
 * What a destination must get to match the run (journaled): madvise()
 * flags, and its mlock.
 */
enum ar_heal_advice {
	AR_ADV_HUGEPAGE = 1u << 0,
	AR_ADV_NOHUGEPAGE = 1u << 1,
	AR_ADV_DONTFORK = 1u << 2,
	AR_ADV_DONTDUMP = 1u << 3,
	AR_ADV_WIPEONFORK = 1u << 4,
	AR_ADV_MERGEABLE = 1u << 5,
	/*
	 * The run is mlocked (VmFlags lo): the destination is locked on
	 * fault from the start (UFFDIO_MOVE refuses to move between a
	 * locked VMA and one that is not, and the pages must stay locked
	 * while they are there); unless the run was locked on fault too
	 * (lf), what ends over the run is then locked plainly.
	 */
	AR_ADV_MLOCK = 1u << 6,
	AR_ADV_MLOCK_ONFAULT = 1u << 7,
};

/* AR_ADV_* bits for a run's AR_VMF() flags. */
uint64_t ar_heal_advice_of(uint64_t vmflags);
/* PROT_* of perms ("r-xp"). */
int ar_heal_prot_of(const char *perms);

/* Apply the AR_ADV_* bits of advice to [addr, addr + len) of the target. */
int ar_heal_advise(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   uint64_t advice);

/* What process pid may lock (RLIMIT_MEMLOCK, soft) and has locked. */
struct ar_memlock {
	bool cap_ipc_lock;	/* CAP_IPC_LOCK: no limit applies */
	bool unlimited;
	uint64_t limit, locked;	/* bytes */
};

/*
 * From /proc/PID/limits and status (VmLck, CapEff), which anyone may
 * read; -ENODATA when they cannot be read or parsed.
 */
int ar_memlock_read(pid_t pid, struct ar_memlock *m);
/* Whether mlock2() of len bytes more would pass, as the kernel counts. */
bool ar_memlock_allows(const struct ar_memlock *m, uint64_t len);
/* m in words: "unlimited", or "L kB, N kB locked already". */
void ar_memlock_words(const struct ar_memlock *m, char *buf, size_t size);

/*
 * Map the destination at the free address dst, give it advice (with
 * AR_ADV_MLOCK, lock it on fault: it stays empty, even in a process under
 * mlockall(MCL_FUTURE), as it gets prot only once so locked) and the
 * anonymous name of name ("[anon:NAME]"; others follow the address).  The
 * name is passed through scratch, an address in the injector's data area.
 */
int ar_heal_map_dst(struct ar_inject *inj, uint64_t dst, uint64_t len,
		    int prot, int mflags, uint64_t advice, const char *name,
		    uint64_t scratch);

/*
 * A destination locked on fault (ar_heal_map_dst()) was moved over
 * [addr, addr + len): whether the run it replaced was locked plainly, so
 * that it must be mlock()ed again, which clears VM_LOCKONFAULT.  Its pages
 * are all there already (a plain mlock populated them): it only walks them.
 */
bool ar_heal_needs_relock(uint64_t advice);

/* That mlock(), when ar_heal_needs_relock(advice); idempotent. */
int ar_heal_relock(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   uint64_t advice);

/*
 * Refuse up front (-EPERM naming the call) when the process's seccomp
 * filters would deny, or kill it on, a call a backend makes for a run:
 * mmap of the destination with prot and mflags, madvise and mlock of
 * advice, naming it (when name is "[anon:...]"), munmap, mremap back, and
 * the backend's own extra calls.
 */
int ar_heal_check_calls(struct ar_inject *inj, int prot, int mflags,
			uint64_t advice, const char *name,
			const struct ar_call_check *extra, size_t nextra);

/*
 * Inject a call that must succeed: its result in *ret when ret is set, a
 * negative errno naming what failed otherwise.
 */
int ar_heal_call(struct ar_inject *inj, const char *what, long *ret, long nr,
		 uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		 uint64_t a5, uint64_t a6);

/*
 * The heal of a backend, applied to one piece of a healed run at a time
 * so that each becomes a VMA of its own again: a backend that maps a
 * fresh destination gives it an anon_vma and a page offset of its own,
 * which keep it from merging with its neighbours.  run's sources are the
 * pieces (the VMAs the run was before it was healed); pieces that are a
 * VMA already, or will be, are left alone.  For --must, to put back what
 * a defrag healed before a later run failed.
 */
int ar_heal_split_by_heals(struct ar_inject *inj,
			   int (*heal)(struct ar_inject *inj,
				       const struct ar_heal_run *run,
				       struct ar_heal_stats *st),
			   const struct ar_heal_run *run,
			   struct ar_heal_stats *st);

#endif /* ANONREMAP_HEAL_H */
