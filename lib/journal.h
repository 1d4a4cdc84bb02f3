/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Journal of an injection session (internal API).  One file per target,
 * /run/anonremap/PID.journal (or $XDG_RUNTIME_DIR/anonremap/ when not
 * root), rewritten and fsync'd before every step that recovery could not
 * otherwise tell apart: the injected thread's saved registers, where the
 * scratch pages are, and which step of which run is under way, so that
 * `recover` can restore the registers and finish or undo the run after the
 * tool died.  The other threads' registers, as found, are written once,
 * between the header and the source list.  Steps whose effect can be read
 * back from the target (is dst still mapped? which pages are where?) get
 * no record of their own.
 */
#ifndef ANONREMAP_JOURNAL_H
#define ANONREMAP_JOURNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "arch.h"
#include "internal.h"

/*
 * The phases every session goes through.  Between READY and DONE, a run's
 * backend writes phases of its own (3 to 5, and 7 on), which it defines
 * and lists in its ops (backend.h): recover hands the journal to the
 * backend whose list holds its phase.
 */
enum ar_jphase {
	AR_JP_ATTACHED = 1,	/* registers saved; scratch planned, maybe mapped */
	AR_JP_READY = 2,	/* no run under way */
	AR_JP_DONE = 6,		/* restored and detached: SIGCONT maybe sent */
};

/* Room for a backend's own record in the journal (opaque here). */
#define AR_JREC_SIZE 64

/*
 * The backend's record in st, as its type: a struct of at most
 * AR_JREC_SIZE bytes, of fixed-size fields (it is written to disk as is),
 * declared __attribute__((may_alias)) since it lives in st->rec.
 */
#define AR_JREC(st, type)                                                    \
	((type *)(void *)(st)->rec +                                         \
	 0 * sizeof(char[sizeof(type) <= AR_JREC_SIZE ? 1 : -1]))

/* A source VMA of the run; moved: bytes at dst when an undo began. */
struct ar_jsrc {
	uint64_t start, end;
	uint64_t moved;
};

/* A thread other than the injected one: its registers as found. */
struct ar_jthread {
	int32_t tid;
	uint32_t pad;
	struct ar_regs regs;
};

/* Everything a journal holds, as read back by ar_journal_load(). */
struct ar_journal_state {
	uint32_t phase;		/* enum ar_jphase */
	pid_t pid, tid;
	uint64_t starttime;	/* /proc/PID/stat field 22: identity */
	uint32_t was_stopped;	/* the process was stopped before we came */
	struct ar_regs regs;	/* the injected thread's, as found */
	uint64_t code, code_len, data, data_len;
	uint64_t run_start, run_end, dst;
	uint32_t prot, mflags;	/* dst mmap protection and flags */
	uint64_t advice;	/* AR_ADV_* bits applied to dst */
	/*
	 * The run's backend's own record: what it must find again after a
	 * crash beyond these fields, laid out as it alone knows (AR_JREC()).
	 * Kept from run to run of a session; a backend sets what it uses
	 * when a run begins.
	 */
	uint64_t rec[AR_JREC_SIZE / 8];
	size_t nsrc;
	struct ar_jsrc *src;	/* owned by the journal (freed with it) */
	/*
	 * The other threads, parked in the stub while we are attached:
	 * written once (ar_journal_write_threads()), owned by the journal.
	 */
	size_t nthreads;
	struct ar_jthread *threads;
};

struct ar_journal;

/*
 * Whether ar_journal_write() waits for the record to reach the disk
 * (fdatasync; the default).  Without it a record still outlives the tool
 * (it is in the page cache the moment pwrite returns), not a crash of the
 * machine, which the process it describes does not outlive either.
 */
void ar_journal_set_sync(struct ar_journal *j, bool sync);

/* Path of pid's journal into buf. */
int ar_journal_path(char *buf, size_t size, pid_t pid);
/*
 * Whether a journal of pid exists where any tool may have written it:
 * ours, root's /run/anonremap, /run/user/UID/anonremap for each uid the
 * process runs as, and our $XDG_RUNTIME_DIR/anonremap.  0 when none we
 * can see (a directory we may not enter, such as root's for other users,
 * is not seen) or only stale ones (an older process had the pid: its
 * start time differs); -EBUSY naming the file, and whose it is, when a
 * tool holds one or an interrupted run left one.  Nothing is changed.
 */
int ar_journal_check(struct ar_ctx *ctx, pid_t pid);
/*
 * Create pid's journal, locked (flock) for as long as it is open; -EBUSY
 * as ar_journal_check() says (a stale journal of ours is removed).
 */
int ar_journal_create(struct ar_ctx *ctx, pid_t pid,
		      struct ar_journal **jp);
/* Write st (and, when src is set, the source list) durably. */
int ar_journal_write(struct ar_journal *j, const struct ar_journal_state *st,
		     int with_src);

/*
 * A backend's next step: phase in st, then st written to j as above, when
 * there is a journal (a backend driven without one, as by the unit tests,
 * only keeps st).
 */
int ar_journal_step(struct ar_journal *j, struct ar_journal_state *st,
		    uint32_t phase, int with_src);

/* The length of the run st records. */
static inline uint64_t ar_js_len(const struct ar_journal_state *st)
{
	return st->run_end - st->run_start;
}

/* Where byte addr of the run st records is at st->dst. */
static inline uint64_t ar_js_dst(const struct ar_journal_state *st,
				 uint64_t addr)
{
	return st->dst + (addr - st->run_start);
}
/*
 * Record the registers of the threads about to be parked, before any
 * record that refers to them: the next ar_journal_write() makes them part
 * of the journal.  Once per journal.
 */
int ar_journal_write_threads(struct ar_journal *j,
			     const struct ar_jthread *threads, size_t n);
/* Remove the file (the session ended cleanly) and free j. */
int ar_journal_remove(struct ar_journal *j);
/* Free j, keeping the file for `recover`. */
void ar_journal_close(struct ar_journal *j);
/* The state last written, owned by j. */
struct ar_journal_state *ar_journal_state(struct ar_journal *j);
/*
 * Open an existing journal of pid, lock it and read it: -ENOENT when none,
 * -EBUSY when a live tool holds it, -ENODATA when it holds no record yet
 * (its tool died before the first), -EBADMSG when damaged.  When
 * we have none but another user's interrupted run left one elsewhere
 * (see ar_journal_check()): -EBUSY naming it and its owner, who alone
 * may use it.
 */
int ar_journal_open(struct ar_ctx *ctx, pid_t pid, struct ar_journal **jp);

#endif /* ANONREMAP_JOURNAL_H */
