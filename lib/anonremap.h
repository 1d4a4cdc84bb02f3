/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libanonremap - find and repair anonymous-memory VMA fragmentation.
 *
 * Every function that can fail returns 0 or a positive count on success and
 * a negative errno on failure; the context then holds a message that names
 * what failed (ar_ctx_errmsg()).  The library never prints.
 */
#ifndef ANONREMAP_H
#define ANONREMAP_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AR_VERSION_STRING "0.1.0"

/* Library context: owns the last error message. Not thread-safe. */
struct ar_ctx;

int ar_ctx_new(struct ar_ctx **ctxp);
void ar_ctx_free(struct ar_ctx *ctx);
/* Message describing the last failure, or "" when there was none. */
const char *ar_ctx_errmsg(const struct ar_ctx *ctx);

/* Snapshot of one process's address space, with its fragmentation analysis. */
struct ar_proc;

enum ar_read_flags {
	/*
	 * Also look for what would block a repair that smaps cannot show:
	 * pages shared with another process (the exclusive bit of
	 * /proc/PID/pagemap) and guard regions.  Costs one pagemap read per
	 * run of split VMAs.
	 */
	AR_READ_BLOCKERS = 1u << 0,
};

/*
 * Read /proc/PID/smaps in one pass and analyse it.  Fails with -ESRCH for a
 * missing, dead or zombie process, -EINVAL for a kernel thread, -EACCES or
 * -EPERM when the caller may not read the process's memory map.
 */
int ar_proc_read(struct ar_ctx *ctx, pid_t pid, unsigned int flags,
		 struct ar_proc **procp);
/*
 * Parse a saved smaps file (tests, offline analysis).  The pid is 0, comm
 * is empty, max_map_count is the running system's and blockers found
 * through pagemap are never reported.
 */
int ar_proc_parse_file(struct ar_ctx *ctx, const char *path,
		       struct ar_proc **procp);
void ar_proc_free(struct ar_proc *proc);

struct ar_summary {
	pid_t pid;
	char comm[64];
	size_t vmas;		/* VMAs, the count that max_map_count limits */
	size_t anon_vmas;	/* anonymous private VMAs */
	size_t splits;		/* touching, equal, yet unmerged boundaries */
	size_t runs;		/* maximal chains of VMAs joined by splits */
	uint64_t split_bytes;	/* bytes in VMAs that belong to a run */
	uint64_t split_rss_bytes;
	size_t max_map_count;	/* vm.max_map_count when read */
};

void ar_proc_summary(const struct ar_proc *proc, struct ar_summary *sum);

/* Why a run cannot be repaired as it is. */
enum ar_blocker {
	AR_BLOCK_SHARED = 1u << 0,	/* pages shared with another process */
	/* 1u << 1 was AR_BLOCK_MLOCKED: mlocked runs are healed now */
	AR_BLOCK_UFFD = 1u << 2,	/* VmFlags um, uw or ui */
	AR_BLOCK_GUARD = 1u << 3,	/* guard region (MADV_GUARD_INSTALL) */
	AR_BLOCK_PINNED = 1u << 4,	/* io_uring fixed buffers */
};
#define AR_BLOCK_ALL (AR_BLOCK_SHARED | AR_BLOCK_UFFD | AR_BLOCK_GUARD | \
		      AR_BLOCK_PINNED)

/* Short stable name of one AR_BLOCK_* bit ("shared", "uffd", ...). */
const char *ar_blocker_name(unsigned int blocker);

struct ar_run {
	uint64_t start, end;
	size_t first_vma;	/* index for ar_proc_vma() */
	size_t vmas;
	uint64_t bytes, rss_bytes, thp_bytes, swap_bytes;
	unsigned int blockers;	/* AR_BLOCK_* */
};

size_t ar_proc_nruns(const struct ar_proc *proc);
const struct ar_run *ar_proc_run(const struct ar_proc *proc, size_t i);

/* VmFlags two-letter codes that the library knows, as bits. */
enum ar_vmflag {
	AR_VMF_RD, AR_VMF_WR, AR_VMF_EX, AR_VMF_SH, AR_VMF_MR, AR_VMF_MW,
	AR_VMF_ME, AR_VMF_MS, AR_VMF_GD, AR_VMF_PF, AR_VMF_LO, AR_VMF_IO,
	AR_VMF_SR, AR_VMF_RR, AR_VMF_DC, AR_VMF_DE, AR_VMF_AC, AR_VMF_NR,
	AR_VMF_HT, AR_VMF_SF, AR_VMF_NL, AR_VMF_AR, AR_VMF_WF, AR_VMF_DD,
	AR_VMF_SD, AR_VMF_MM, AR_VMF_HG, AR_VMF_NH, AR_VMF_MG, AR_VMF_BT,
	AR_VMF_UM, AR_VMF_UW, AR_VMF_UI, AR_VMF_SS, AR_VMF_SL, AR_VMF_LF,
	AR_VMF_MT, AR_VMF_DP, AR_VMF_GU,
	AR_VMF_NR_KNOWN
};
#define AR_VMF(f) (UINT64_C(1) << AR_VMF_##f)

struct ar_vma {
	uint64_t start, end;
	char perms[5];		/* "rw-p" */
	uint64_t offset;
	uint32_t inode;
	int pkey;		/* ProtectionKey, -1 when not shown */
	uint64_t vmflags;	/* AR_VMF() bits of the known codes */
	uint32_t vmflags_other;	/* hash of unknown codes, 0 when none */
	const char *name;	/* "" for a plain anonymous mapping */
	uint64_t rss, anon, thp, swap, locked;	/* bytes */
	unsigned int anonymous:1;	/* anonymous and private */
};

size_t ar_proc_nvmas(const struct ar_proc *proc);
const struct ar_vma *ar_proc_vma(const struct ar_proc *proc, size_t i);

/*
 * Defragmentation: move the pages of each run into one fresh VMA inside
 * the live process (ptrace-injected system calls), so the run becomes a
 * single VMA with the same contents, protections, flags and name.
 */
enum ar_backend {
	AR_BACKEND_AUTO,	/* the first that works, in this order: */
	AR_BACKEND_RELOCATE,	/* mremap(MREMAP_RELOCATE_ANON), patched kernels */
	AR_BACKEND_UFFD_MOVE,	/* userfaultfd UFFDIO_MOVE, Linux 6.8 and later */
	AR_BACKEND_COPY,	/* copy the pages, any kernel; never chosen by
				   auto: slower, and it gives up sharing */
};

/*
 * "auto", "relocate", "uffd-move", "copy"; NULL for an unknown value.  The
 * backends are the values after AR_BACKEND_AUTO up to the first without a
 * name: walk them so to list every backend this version has.
 */
const char *ar_backend_name(enum ar_backend backend);
/* The inverse; -EINVAL for an unknown name. */
int ar_backend_parse(const char *name, enum ar_backend *backend);
/*
 * Whether backend can run on this kernel with these privileges: 0, or a
 * negative errno with the reason in ctx.  Probes in the caller's process.
 */
int ar_backend_probe(struct ar_ctx *ctx, enum ar_backend backend);

struct ar_defrag_opts {
	enum ar_backend backend;
	uint64_t start, end;	/* only runs inside [start, end); end 0: all */
	int must;		/* every planned run heals, or nothing moves */
	int dry_run;		/* plan only: the process is not stopped */
	/*
	 * Pages once shared by a fork whose other sharer is gone are no
	 * longer marked exclusive and cannot move; rewrite each with its own
	 * bytes (no memory is copied: the process is their only user).
	 */
	int unshare;
	/*
	 * Longest stop wanted, in milliseconds; 0: none.  The process runs
	 * between stops.  A run too big for one stop is healed in parts,
	 * each one VMA: with uffd-move the parts cannot merge with each
	 * other, so the run ends as a few large VMAs instead of one.
	 */
	unsigned int max_pause_ms;
	/* Called after each part healed, with VMAs done and to do in all. */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
	/*
	 * When not NULL: once *stop is nonzero (a signal handler of the
	 * caller's sets it), no new stop begins.  The stop under way ends as
	 * every stop does, its runs healed or moved back, never half done;
	 * with must, what was healed is split back; the runs left are not
	 * tried, and ar_defrag() fails with -EINTR.
	 */
	volatile sig_atomic_t *stop;
};

enum ar_run_fate {
	AR_RUN_PLANNED,		/* dry run: would be healed */
	AR_RUN_HEALED,
	AR_RUN_SKIPPED,		/* left as it was, reason says why */
	AR_RUN_FAILED,		/* tried, moved back as it was, reason says why */
};

struct ar_defrag_run {
	uint64_t start, end;
	size_t vmas;
	size_t vmas_after;	/* 1, more when --max-pause splits it or
				   relocation fell back (expected in a dry
				   run) */
	unsigned int blockers;	/* AR_BLOCK_* */
	enum ar_run_fate fate;
	char reason[512];	/* "" when planned or healed into the
				   VMAs expected */
	/*
	 * VMA moves its heals made (expected in a dry run): each source VMA
	 * into a fresh range, and each part back over the run.
	 */
	size_t moves;
};

struct ar_defrag_report {
	pid_t pid;
	char comm[64];
	enum ar_backend backend;	/* the one chosen */
	size_t splits_before, splits_after;	/* after: predicted in a dry run */
	size_t vmas_before, vmas_after;
	uint64_t bytes_moved;		/* expected in a dry run, as is moves */
	size_t moves;			/* the runs' moves together */
	uint64_t pause_ns;		/* the longest stop */
	uint64_t pause_total_ns;	/* all stops together */
	size_t pauses;			/* how many times it was stopped */
	size_t nruns;
	struct ar_defrag_run *runs;	/* the runs in range, address order */
	/* Under --max-pause: the stops longer than max_pause_ms. */
	size_t pauses_over;
	/*
	 * The least a stop that healed something took besides its moves and
	 * their setting up: stopping every thread, checking, resuming.  No
	 * part size takes a stop below it.  0 when no stop healed.
	 */
	uint64_t stop_floor_ns;
	size_t threads;			/* threads stopped, at most */
	/*
	 * A dry run: what it could not check without stopping the process
	 * ("" when nothing), e.g. whether seccomp filters allow our calls.
	 */
	char note[256];
};

/*
 * Plan and, unless opts->dry_run, carry out the defragmentation of pid.
 * Returns 0 when every planned run healed (or, dry, would be tried),
 * -EAGAIN when some were skipped or failed (the report says which, the
 * others healed), or another negative errno when nothing could be done;
 * with opts->must, any run that cannot heal fails the whole call before
 * anything moves.  *reportp is set whenever the process could be read.
 */
int ar_defrag(struct ar_ctx *ctx, pid_t pid, const struct ar_defrag_opts *opts,
	      struct ar_defrag_report **reportp);
void ar_defrag_report_free(struct ar_defrag_report *report);

enum ar_recover_result {
	AR_RECOVER_NOTHING,	/* no run was under way: registers restored */
	AR_RECOVER_FINISHED,	/* the interrupted run was completed */
	AR_RECOVER_UNDONE,	/* the interrupted run was moved back */
};

/*
 * Repair pid after a defrag was killed: restore its registers, finish or
 * undo the run under way from the journal, resume it.  -ENOENT when there
 * is no journal for pid.
 */
int ar_defrag_recover(struct ar_ctx *ctx, pid_t pid,
		      enum ar_recover_result *result);

#ifdef __cplusplus
}
#endif

#endif /* ANONREMAP_H */
