// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The uffd-move backend: heal a run of split anonymous VMAs in a live
 * process with UFFDIO_MOVE (Linux >= 6.8).
 *
 * UFFDIO_MOVE refuses a caller whose mm is not the userfaultfd's, so every
 * call runs inside the target, injected: create a userfaultfd, map a fresh
 * destination with the run's attributes and 2 MiB phase (PMD THPs then move
 * whole), register it, move each source VMA into it in one batch, then
 * unregister it and mremap it over the run.  Moving sets each page's index
 * and anon_vma to the destination's, so the result is one mergeable VMA.
 * UFFDIO_MOVE refuses to move between a locked VMA and one that is not:
 * an mlocked run's destination is locked on fault, which leaves it empty,
 * then locked as the run was once over it (see ar_heal_needs_relock()).
 *
 * Every step is journaled first.  A failure moves back what was moved (the
 * run itself is registered for that, as a move's destination must be);
 * recovery after a crash reads the batch's results from the target's
 * memory, finishes the moves, or undoes them if they cannot finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "pagemap.h"
#include "uffd.h"

#define HUGE ar_arch_pmd_size()
#define CTL_OFF 0		/* ioctl arguments, the anonymous name */
#define DESC_OFF 4096		/* descriptors, then their uffdio_moves */
#define SEQ_SIZE 8		/* before DESC_OFF: the batch written */
#define FINISH_OFF 1024		/* dst_over_run()'s descriptors */
_Static_assert(FINISH_OFF + 4 * sizeof(struct ar_sysdesc) <=
	       DESC_OFF - SEQ_SIZE, "dst_over_run()'s batch overlaps");
#define MAX_BATCH 16384
#define MAX_EAGAIN 100		/* EAGAINs in a row without progress */

/* This backend's journal phases (journal.h leaves 3 to 5 to it). */
enum {
	AR_JP_UFFD_DST = 3,	/* a run begins: fd and dst may exist, empty */
	AR_JP_UFFD_MOVING = 4,	/* dst registered; the batch below under way,
				   or done and dst maybe over the run already */
	AR_JP_UFFD_UNDO = 5,	/* moving back what src[].moved says was moved */
};

/* What this backend keeps in the journal (AR_JREC()). */
struct __attribute__((may_alias)) uffd_rec {
	int32_t uffd;		/* fd number in the target, -1 if none */
	/*
	 * The batch under way: its descriptors at batch, then as many
	 * uffdio_moves; the target holds batch_seq in the word before them
	 * once they are all written, so a batch never written is told apart
	 * from an older one.  Sources before batch_first are done; first_lo
	 * is how far src[batch_first] had got when the batch was built.
	 */
	uint32_t nbatch, batch_first, pad;
	uint64_t batch, batch_seq, first_lo;
};

struct heal {
	struct ar_inject *inj;
	struct ar_ctx *ctx;
	struct ar_journal *j;
	struct ar_journal_state *js;	/* the journal's, or local */
	struct ar_journal_state local;
	struct uffd_rec *rec;		/* in js */
	uint64_t data;
	size_t data_size;
	uint64_t *moved;	/* per source: bytes moved to dst, from its start */
	uint64_t *undone;	/* per source: bytes of moved[] put back */
	int recovering;		/* after a crash: steps may have been done */
	struct ar_heal_stats *st;
};

static int call_ok(struct heal *h, const char *what, long *ret, long nr,
		   uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		   uint64_t a5, uint64_t a6)
{
	return ar_heal_call(h->inj, what, ret, nr, a1, a2, a3, a4, a5, a6);
}

/* An ioctl on the target's userfaultfd with arg copied in and back. */
static int uffd_ioctl(struct heal *h, const char *what, unsigned long req,
		      void *arg, size_t len)
{
	uint64_t where = h->data + CTL_OFF;
	int err = ar_inject_write(h->inj, where, arg, len);

	if (!err)
		err = call_ok(h, what, NULL, SYS_ioctl, (uint64_t)h->rec->uffd,
			      req, where, 0, 0, 0);
	if (!err)
		err = ar_inject_read(h->inj, where, arg, len);
	return err;
}

static int uffd_register(struct heal *h, uint64_t start, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { start, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return uffd_ioctl(h, "UFFDIO_REGISTER", UFFDIO_REGISTER, &reg,
			  sizeof(reg));
}

static int uffd_unregister(struct heal *h, uint64_t start, uint64_t len)
{
	struct uffdio_range range = { start, len };

	return uffd_ioctl(h, "UFFDIO_UNREGISTER", UFFDIO_UNREGISTER, &range,
			  sizeof(range));
}

static int open_uffd(struct heal *h)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MOVE };
	long fd;
	int err = call_ok(h, "userfaultfd", &fd, SYS_userfaultfd,
			  O_CLOEXEC | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0);

	if (err)
		return err;
	h->rec->uffd = (int32_t)fd;
	err = uffd_ioctl(h, "UFFDIO_API", UFFDIO_API, &api, sizeof(api));
	if (err == -EINVAL)
		return ar_fail(h->ctx, EOPNOTSUPP, "this kernel has no "
			       "UFFDIO_MOVE (Linux 6.8 or later needed)");
	if (!err && !(api.features & UFFD_FEATURE_MOVE))
		return ar_fail(h->ctx, EOPNOTSUPP, "userfaultfd lacks "
			       "UFFD_FEATURE_MOVE");
	return err;
}

/* Closing twice is harmless while the process is stopped: nothing reuses it. */
static int close_uffd(struct heal *h)
{
	long r;
	int err;

	if (h->rec->uffd < 0)
		return 0;
	err = ar_inject_call(h->inj, &r, SYS_close, (uint64_t)h->rec->uffd, 0,
			     0, 0, 0, 0);
	if (err)
		return err;
	if (r < 0 && !(r == -EBADF && h->recovering))
		return ar_fail_errno(h->ctx, (int)-r, "close in process %d",
				     h->js->pid);
	h->rec->uffd = -1;
	return 0;
}

static int has_pages(struct heal *h, uint64_t start, uint64_t len);

/*
 * Map the destination (at the journaled address) like the run, register
 * it.  Fresh, it holds no page: checked, since moved_unseen() relies on
 * it to tell a page moved from its source from a stranger.
 */
static int map_dst(struct heal *h, const char *name)
{
	int err = ar_heal_map_dst(h->inj, h->js->dst, ar_js_len(h->js),
				  (int)h->js->prot, (int)h->js->mflags,
				  h->js->advice, name, h->data + CTL_OFF);

	if (!err && (err = has_pages(h, h->js->dst, ar_js_len(h->js))) > 0)
		err = ar_fail(h->ctx, EEXIST, "the new destination %#llx-%#llx "
			      "in process %d holds pages before any move "
			      "(a kernel anomaly): run left as it was",
			      (unsigned long long)h->js->dst,
			      (unsigned long long)(h->js->dst +
						   ar_js_len(h->js)),
			      h->js->pid);
	return err ? err : uffd_register(h, h->js->dst, ar_js_len(h->js));
}

/*
 * No move has run yet (the journal says so): nothing of the run is at
 * dst, and a page found there is none of the process's memory.
 */
static int before_moves(const struct heal *h)
{
	return h->js->phase == AR_JP_UFFD_DST;
}

/* Descriptors per batch; their uffdio_moves follow the cap-th one. */
static size_t batch_cap(const struct heal *h)
{
	size_t cap = (h->data_size - DESC_OFF) /
		     (sizeof(struct ar_sysdesc) + sizeof(struct uffdio_move));

	return cap < MAX_BATCH ? cap : MAX_BATCH;
}

/* The part of source i still to move, as offsets from its start. */
static void pending_range(const struct heal *h, size_t i, int back,
			  uint64_t *lo, uint64_t *hi)
{
	if (back) {
		*lo = h->undone[i];
		*hi = h->moved[i];
	} else {
		*lo = h->moved[i];
		*hi = h->js->src[i].end - h->js->src[i].start;
	}
}

/* Progress of source i: off bytes of its pending range are done. */
static void advance(struct heal *h, size_t i, int back, uint64_t off)
{
	if (back)
		h->undone[i] += off;
	else
		h->moved[i] += off;
}

#define PAGE ar_page_size()

static int read_pagemap(struct heal *h, int fd, uint64_t start, size_t n,
			uint64_t *buf);

/* A pagemap entry: a page is there, present or swapped out. */
#define PM_PAGE (PM_PRESENT | PM_SWAP)
/* Pages one EEXIST may have moved unseen: up to a PMD's worth. */
#define STRETCH_PAGES 512

/*
 * A move failed with EEXIST at the page from -> to, len bytes of it left.
 * Linux 6.18's move_pages() keeps an -EAGAIN of one attempt after the
 * retry moved the pages (up to a PMD's worth), comes back to where it was
 * and finds them moved: -EEXIST, and the count leaves them out.  Returns
 * the bytes from `from` on that were so moved (nothing at from, a page at
 * to), > 0 when the move may go on past them; 0 when the first page sits
 * on both sides, a real conflict.  A fresh dst holds no page of its own
 * (see map_dst()): one there came from its source.
 */
static long moved_unseen(struct heal *h, uint64_t from, uint64_t to,
			 uint64_t len)
{
	uint64_t src[STRETCH_PAGES], dst[STRETCH_PAGES];
	size_t n = (size_t)(len / PAGE), k;
	int fd = ar_pagemap_open(h->ctx, h->js->pid), err;

	if (fd < 0)
		return fd;
	if (n > STRETCH_PAGES)
		n = STRETCH_PAGES;
	err = read_pagemap(h, fd, from, n, src);
	if (!err)
		err = read_pagemap(h, fd, to, n, dst);
	close(fd);
	if (err)
		return err;
	for (k = 0; k < n; k++)
		if ((src[k] & PM_PAGE) || !(dst[k] & PM_PAGE))
			break;
	return (long)(k * PAGE);
}

/*
 * Tests only: ANONREMAP_TEST_FORGET_MOVES=N makes the first forward batch
 * forget the last N of its done moves, as the kernel bug moved_unseen()
 * answers does, so that their sources are moved again, fail with EEXIST
 * and are stepped over.  Safe whatever N: a page is stepped over only
 * when pagemap shows it moved.  *i becomes the first source to move
 * again.
 */
static void forget_moves(struct heal *h, size_t first, size_t done,
			const struct uffdio_move *mv, size_t *i)
{
	const char *env = getenv("ANONREMAP_TEST_FORGET_MOVES");
	size_t n = env ? (size_t)strtoul(env, NULL, 10) : 0;

	if (!n || !done)
		return;
	if (n > done)
		n = done;
	for (size_t k = done - n; k < done; k++)
		h->moved[first + k] -= mv[k].len;
	*i = first + done - n;
}

/*
 * Move, in batches, what is pending of every source: forward run -> dst,
 * or back dst -> run for the part moved[] says went forward.  The
 * progress arrays follow each move's result, so they are exact even after
 * a failure; a partial move (EAGAIN) has its rest retried, and a page
 * found where it was going already (EEXIST) is stepped over.
 */
static int move_all(struct heal *h, int back)
{
	const uint64_t start = h->js->run_start, dst = h->js->dst;
	const uint64_t descs = h->data + DESC_OFF;
	/* Where the moves lie in the target: recover finds them there. */
	const uint64_t moves = descs + batch_cap(h) * sizeof(struct ar_sysdesc);
	/*
	 * A batch has one move per source at most: as many entries here
	 * (a calloc of the whole cap, 1.6 MiB, cost 1.7 ms a stop).
	 */
	size_t cap = batch_cap(h) < h->js->nsrc ? batch_cap(h) : h->js->nsrc;
	uint64_t lo, hi, zero = 0;
	struct ar_sysdesc *d;
	struct uffdio_move *mv;
	size_t i = 0, eagain = 0;
	int err = 0;

	d = calloc(cap ? cap : 1, sizeof(*d));
	mv = calloc(cap ? cap : 1, sizeof(*mv));
	if (!d || !mv) {
		err = ar_fail(h->ctx, ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		size_t n = 0, done, first;

		for (; i < h->js->nsrc; i++) {
			pending_range(h, i, back, &lo, &hi);
			if (lo < hi)
				break;
		}
		first = i;
		/* What is pending is contiguous: moves go in address order. */
		for (; i < h->js->nsrc && n < cap; i++, n++) {
			uint64_t s = h->js->src[i].start;
			uint64_t d_off = dst + (s - start);

			pending_range(h, i, back, &lo, &hi);
			if (lo == hi)
				break;
			mv[n] = (struct uffdio_move){
				.dst = (back ? s : d_off) + lo,
				.src = (back ? d_off : s) + lo,
				.len = hi - lo,
				.mode = UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
			};
			d[n] = (struct ar_sysdesc){
				.nr = SYS_ioctl,
				.args = { (uint64_t)h->rec->uffd, UFFDIO_MOVE,
					  moves + n * sizeof(*mv) },
			};
		}
		if (!n)
			break;
		pending_range(h, first, back, &lo, &hi);
		h->rec->batch = descs;
		h->rec->nbatch = (uint32_t)n;
		h->rec->batch_first = (uint32_t)first;
		h->rec->first_lo = lo;
		h->rec->batch_seq++;
		/* Journal, then invalidate, write, validate, run. */
		if ((err = ar_journal_step(h->j, h->js, back ?
					   AR_JP_UFFD_UNDO : AR_JP_UFFD_MOVING,
					   0)) ||
		    (err = ar_inject_write(h->inj, descs - SEQ_SIZE, &zero,
					   SEQ_SIZE)) ||
		    (err = ar_inject_write(h->inj, moves, mv, n * sizeof(*mv))) ||
		    (err = ar_inject_batch_write(h->inj, descs, d, n)) ||
		    (err = ar_inject_write(h->inj, descs - SEQ_SIZE,
					   &h->rec->batch_seq, SEQ_SIZE)) ||
		    (err = ar_inject_batch_run(h->inj, descs, d, n, &done)) ||
		    (err = ar_inject_read(h->inj, moves, mv, n * sizeof(*mv))))
			goto out;
		h->st->batches++;
		h->st->moves += done + (done < n);
		for (size_t k = 0; k < done; k++)
			advance(h, first + k, back, mv[k].len);
		if (done == n && h->st->batches == 1 && !back)
			forget_moves(h, first, done, mv, &i);
		if (done == n)
			continue;
		/* Descriptor `done` failed; a partial move says how far. */
		if (done || mv[done].move > 0)
			eagain = 0;
		if (mv[done].move > 0)
			advance(h, first + done, back, (uint64_t)mv[done].move);
		if ((long)d[done].result == -EAGAIN && ++eagain < MAX_EAGAIN) {
			i = first + done;
			continue;
		}
		if ((long)d[done].result == -EEXIST) {
			uint64_t off = mv[done].move > 0 ? (uint64_t)mv[done].move : 0;
			long there = moved_unseen(h, mv[done].src + off,
						  mv[done].dst + off,
						  mv[done].len - off);

			if (there < 0) {
				err = (int)there;
				goto out;
			}
			if (there) {
				advance(h, first + done, back, (uint64_t)there);
				i = first + done;
				continue;
			}
		}
		err = ar_fail_errno(h->ctx, (int)-(long)d[done].result,
				    "UFFDIO_MOVE of %#llx-%#llx%s in process %d",
				    (unsigned long long)mv[done].src,
				    (unsigned long long)(mv[done].src +
							 mv[done].len),
				    (long)d[done].result == -EBUSY ?
				    " (pages shared with another process, or "
				    "pinned)" : "",
				    h->js->pid);
		goto out;
	}
out:
	free(d);
	free(mv);
	return err;
}

/* The pagemap entries of n pages of the target from start, from fd. */
static int read_pagemap(struct heal *h, int fd, uint64_t start, size_t n,
			uint64_t *buf)
{
	int err = ar_pagemap_read(fd, start, n, buf);

	return err ? ar_fail_errno(h->ctx, -err, "cannot read /proc/%d/pagemap",
				   h->js->pid) : 0;
}

/*
 * 1 when a page of [start, start + len) of the target is present or
 * swapped out, per /proc/PID/pagemap: the check that stands between a
 * wrong belief and an unmap that would lose memory.
 */
static int has_pages(struct heal *h, uint64_t start, uint64_t len)
{
	uint64_t buf[512];
	int fd = ar_pagemap_open(h->ctx, h->js->pid), found = 0;

	if (fd < 0)
		return fd;
	for (uint64_t a = start; a < start + len && !found;) {
		size_t n = (size_t)((start + len - a) / PAGE);

		if (n > AR_ARRAY_SIZE(buf))
			n = AR_ARRAY_SIZE(buf);
		if ((found = read_pagemap(h, fd, a, n, buf)))
			break;
		for (size_t i = 0; i < n && !found; i++)
			found = !!(buf[i] & PM_PAGE);
		a += n * PAGE;
	}
	close(fd);
	return found;
}

/*
 * Unregister dst, mremap it over the run, lock it as the run was (see
 * ar_heal_needs_relock()) and close the fd, in one batch: alone, each
 * injected call costs a round trip to the target, tens of microseconds of
 * a stop that may be bounded.  Its descriptors lie between the ioctl
 * argument and the moves' batch, which recover may still read.
 */
static int dst_over_run(struct heal *h)
{
	const uint64_t len = ar_js_len(h->js), range = h->data + CTL_OFF;
	const struct uffdio_range r = { h->js->dst, len };
	const char *what[4] = { "UFFDIO_UNREGISTER", "mremap" };
	struct ar_sysdesc d[4] = {
		{ .nr = SYS_ioctl,
		  .args = { (uint64_t)h->rec->uffd, UFFDIO_UNREGISTER, range } },
		{ .nr = SYS_mremap,
		  .args = { h->js->dst, len, len,
			    MREMAP_FIXED | MREMAP_MAYMOVE, h->js->run_start } },
	};
	size_t n = 2, done;
	int err = ar_inject_write(h->inj, range, &r, sizeof(r));

	if (ar_heal_needs_relock(h->js->advice)) {
		what[n] = "mlock of the healed run";
		d[n++] = (struct ar_sysdesc){
			.nr = SYS_mlock, .args = { h->js->run_start, len } };
	}
	what[n] = "close";
	d[n++] = (struct ar_sysdesc){
		.nr = SYS_close, .args = { (uint64_t)h->rec->uffd } };
	if (!err)
		err = ar_inject_batch(h->inj, h->data + FINISH_OFF, d, n, &done);
	if (err)
		return err;
	/* Closing twice is harmless, as in close_uffd(). */
	if (done == n ||
	    (done == n - 1 && (long)d[n - 1].result == -EBADF && h->recovering)) {
		h->rec->uffd = -1;
		return 0;
	}
	return ar_fail_errno(h->ctx, (int)-(long)d[done].result,
			     "%s in process %d", what[done], h->js->pid);
}

/*
 * Every page is at dst: make dst the run, close the fd.  When recovering,
 * dst gone means the mremap was done already: what came after it is done
 * again.
 */
static int finish(struct heal *h)
{
	uint64_t len = ar_js_len(h->js);
	int err = h->recovering ? ar_inject_vma_at(h->inj, h->js->dst, NULL) : 1;

	if (err < 0)
		return err;
	if (err) {
		err = has_pages(h, h->js->run_start, len);
		if (err > 0)
			err = ar_fail(h->ctx, EIO, "pages left in %#llx-%#llx "
				      "after the moves",
				      (unsigned long long)h->js->run_start,
				      (unsigned long long)h->js->run_end);
		return err ? err : dst_over_run(h);
	}
	err = ar_heal_relock(h->inj, h->js->run_start, len, h->js->advice);
	return err ? err : close_uffd(h);
}

static int any_moved(const struct heal *h)
{
	for (size_t i = 0; i < h->js->nsrc; i++)
		if (h->moved[i])
			return 1;
	return 0;
}

/*
 * Before an undo, once moves have run: a source whose part of dst holds
 * pages past what moved[] says went there (moves the count left out, see
 * moved_unseen()) has all the rest of its part moved back too; holes and
 * pages already home are stepped over.
 */
static int take_strays(struct heal *h)
{
	for (size_t i = 0; i < h->js->nsrc; i++) {
		const struct ar_jsrc *s = &h->js->src[i];
		uint64_t len = s->end - s->start;
		int found;

		if (h->moved[i] >= len)
			continue;
		found = has_pages(h, h->js->dst + (s->start - h->js->run_start) +
				  h->moved[i], len - h->moved[i]);
		if (found < 0)
			return found;
		if (found)
			h->moved[i] = len;
	}
	return 0;
}

/*
 * Put back what was moved and remove what we created.  -EIO when pages
 * could not be put back: the journal then keeps them findable.  dst gone
 * means an earlier undo got that far.
 */
static int undo(struct heal *h)
{
	uint64_t len = ar_js_len(h->js);
	int err = ar_inject_vma_at(h->inj, h->js->dst, NULL);

	if (err > 0 && !before_moves(h))
		err = take_strays(h) ?: 1;
	if (err > 0 && any_moved(h)) {
		for (size_t i = 0; i < h->js->nsrc; i++)
			h->js->src[i].moved = h->moved[i];
		h->rec->nbatch = 0;
		err = ar_journal_step(h->j, h->js, AR_JP_UFFD_UNDO, 1);
		/*
		 * Registering the run makes it a valid move destination
		 * (again, harmlessly, when an undo resumes).
		 */
		if (!err)
			err = uffd_register(h, h->js->run_start, len);
		if (!err)
			err = move_all(h, 1);
		if (!err)
			err = uffd_unregister(h, h->js->run_start, len);
		if (err) {
			char why[sizeof(h->ctx->errmsg)];

			snprintf(why, sizeof(why), "%s", ar_ctx_errmsg(h->ctx));
			ar_inject_keep_stopped(h->inj);
			return ar_fail(h->ctx, EIO, "could not move pages back "
				       "(%s); process %d stays stopped: run "
				       "`anonremap recover %d`", why,
				       h->js->pid, h->js->pid);
		}
		err = 1;
	}
	if (err > 0) {
		err = before_moves(h) ? 0 : has_pages(h, h->js->dst, len);
		if (err > 0) {
			ar_inject_keep_stopped(h->inj);
			return ar_fail(h->ctx, EIO, "pages still at %#llx in "
				       "process %d; it stays stopped: run "
				       "`anonremap recover %d`",
				       (unsigned long long)h->js->dst,
				       h->js->pid, h->js->pid);
		}
		if (!err)
			err = ar_inject_munmap(h->inj, h->js->dst, len);
	}
	if (!err)
		err = close_uffd(h);
	if (!err)
		err = ar_journal_step(h->j, h->js, AR_JP_READY, 0);
	return err;
}

static int heal_init(struct heal *h, struct ar_inject *inj,
		     struct ar_heal_stats *st)
{
	memset(h, 0, sizeof(*h));
	h->inj = inj;
	h->ctx = ar_inject_ctx(inj);
	h->j = ar_inject_journal(inj);
	h->js = h->j ? ar_journal_state(h->j) : &h->local;
	h->rec = AR_JREC(h->js, struct uffd_rec);
	h->js->pid = ar_inject_pid(inj);
	h->data = ar_inject_data(inj, &h->data_size);
	h->st = st;
	if (h->data_size <= DESC_OFF)
		return ar_fail(h->ctx, EINVAL, "no scratch data area");
	return 0;
}

/* The calls a heal makes, against the process's seccomp filters. */
static int check_calls(struct heal *h, const char *name)
{
	const struct ar_call_check uffd_calls[] = {
		{ NULL, SYS_userfaultfd, { O_CLOEXEC | UFFD_USER_MODE_ONLY } },
		{ "ioctl(UFFDIO_API)", SYS_ioctl, { 0, UFFDIO_API } },
		{ "ioctl(UFFDIO_REGISTER)", SYS_ioctl, { 0, UFFDIO_REGISTER } },
		{ "ioctl(UFFDIO_MOVE)", SYS_ioctl, { 0, UFFDIO_MOVE } },
		{ "ioctl(UFFDIO_UNREGISTER)", SYS_ioctl,
		  { 0, UFFDIO_UNREGISTER } },
		{ NULL, SYS_close, { 0 } },
	};

	/* ar_heal_check_calls() adds mlock2 and mlock for an mlocked run. */
	return ar_heal_check_calls(h->inj, (int)h->js->prot,
				   (int)h->js->mflags, h->js->advice, name,
				   uffd_calls, AR_ARRAY_SIZE(uffd_calls));
}

/*
 * The refusals of a heal that need no access to the process: those of
 * ar_heal_check_run(), and runs that are not writable.
 */
static int ar_uffd_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run)
{
	int err = ar_heal_check_run(ctx, run);

	if (!err && run->perms[1] != 'w')
		err = ar_fail(ctx, EPERM, "run %#llx-%#llx is not writable: "
			      "UFFDIO_MOVE moves only between writable VMAs",
			      (unsigned long long)run->start,
			      (unsigned long long)run->end);
	return err;
}

static int ar_uffd_heal(struct ar_inject *inj, const struct ar_heal_run *run,
			struct ar_heal_stats *st)
{
	struct ar_heal_stats dummy;
	uint64_t t0 = ar_now_ns();
	struct heal h;
	struct ar_jsrc *src;
	int err, uerr;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if ((err = heal_init(&h, inj, st)) ||
	    (err = ar_uffd_check_run(h.ctx, run)) ||
	    (!run->policy_known &&
	     (err = ar_heal_check_mempolicy(h.ctx, h.js->pid, run))))
		return err;
	src = malloc(run->nsrc * sizeof(*src));
	h.moved = calloc(run->nsrc, sizeof(*h.moved));
	h.undone = calloc(run->nsrc, sizeof(*h.undone));
	if (!src || !h.moved || !h.undone) {
		free(src);
		free(h.moved);
		free(h.undone);
		return ar_fail(h.ctx, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < run->nsrc; i++)
		src[i] = (struct ar_jsrc){ run->src[i].start, run->src[i].end,
					   0 };
	free(h.js->src);
	h.js->src = src;
	h.js->nsrc = run->nsrc;
	h.js->run_start = run->start;
	h.js->run_end = run->end;
	h.rec->uffd = -1;
	h.js->dst = 0;
	h.rec->nbatch = 0;
	h.js->prot = (uint32_t)ar_heal_prot_of(run->perms);
	h.js->mflags = MAP_PRIVATE | MAP_ANONYMOUS |
		       (run->vmflags & AR_VMF(NR) ? MAP_NORESERVE : 0);
	h.js->advice = ar_heal_advice_of(run->vmflags);
	st->bytes = run->end - run->start;
	/*
	 * One record before anything changes: the run, where its pages will
	 * go, its sources.  The fd number joins it with the first batch (a
	 * crash before that leaks at most the fd).
	 */
	err = check_calls(&h, run->name);
	if (!err)
		err = ar_inject_find_gap(inj, run->end - run->start, HUGE,
					 run->start % HUGE, &h.js->dst);
	if (!err)
		err = ar_journal_step(h.j, h.js, AR_JP_UFFD_DST, 1);
	if (err)
		goto out;
	err = open_uffd(&h);
	if (!err)
		err = map_dst(&h, run->name);
	if (!err) {
		uint64_t t1 = ar_now_ns();

		err = move_all(&h, 0);
		st->moves_ns = ar_now_ns() - t1;
		if (!err)
			err = finish(&h);
	}
	if (err) {
		char msg[sizeof(h.ctx->errmsg)];

		memcpy(msg, h.ctx->errmsg, sizeof(msg));
		uerr = undo(&h);
		if (uerr) {
			/* Memory may be out of place: only recover may resume it. */
			ar_inject_keep_stopped(inj);
			err = uerr;
		} else {
			memcpy(h.ctx->errmsg, msg, sizeof(msg));
		}
	}
out:
	free(h.moved);
	free(h.undone);
	if (!h.j)
		free(h.local.src);	/* else the journal's */
	st->ns = ar_now_ns() - t0;
	return err;
}

/*
 * Rebuild the progress after a crash: sources before the journaled batch
 * are done, src[batch_first] had got to first_lo, and if the target holds
 * the batch's sequence number, the batch's results are in its memory (the
 * dead tool's batch was let to finish).
 */
static int reload_progress(struct heal *h, int back)
{
	const struct ar_journal_state *js = h->js;
	const struct uffd_rec *rec = h->rec;
	const uint64_t moves = rec->batch + batch_cap(h) *
						sizeof(struct ar_sysdesc);
	size_t n = rec->nbatch, first = rec->batch_first;
	struct ar_sysdesc *d = NULL;
	struct uffdio_move mv;
	uint64_t seq;
	int err = 0;

	for (size_t i = 0; i < js->nsrc; i++) {
		h->moved[i] = back ? js->src[i].moved :
			      i < first ? js->src[i].end - js->src[i].start : 0;
		h->undone[i] = back && i < first ? h->moved[i] : 0;
	}
	if (!n)
		return 0;
	if (first + n > js->nsrc)
		return ar_fail(h->ctx, EBADMSG, "journal batch out of range");
	if (back)
		h->undone[first] = rec->first_lo;
	else
		h->moved[first] = rec->first_lo;
	if ((err = ar_inject_read(h->inj, rec->batch - SEQ_SIZE, &seq,
				  sizeof(seq))))
		return err;
	if (seq != rec->batch_seq)
		return 0;	/* never fully written, so never run */
	d = calloc(n, sizeof(*d));
	if (!d)
		return ar_fail(h->ctx, ENOMEM, "out of memory");
	if ((err = ar_inject_read(h->inj, rec->batch, d, n * sizeof(*d))))
		goto out;
	for (size_t k = 0; k < n; k++) {
		const struct ar_jsrc *s = &js->src[first + k];
		uint64_t at, lo, done = 0;

		if ((err = ar_inject_read(h->inj, moves + k * sizeof(mv), &mv,
					  sizeof(mv))))
			goto out;
		at = back ? mv.dst : mv.src;
		if (d[k].nr != SYS_ioctl || d[k].args[1] != UFFDIO_MOVE ||
		    d[k].args[2] != moves + k * sizeof(mv) || at < s->start ||
		    at + mv.len > s->end ||
		    (back ? mv.src : mv.dst) != js->dst + (at - js->run_start)) {
			err = ar_fail(h->ctx, EBADMSG, "the batch in process "
				      "%d does not match the journal",
				      js->pid);
			goto out;
		}
		lo = at - s->start;
		if (d[k].result == 0)
			done = mv.len;
		else if (d[k].result != AR_SYSDESC_PENDING && mv.move > 0)
			done = (uint64_t)mv.move;
		if (back)
			h->undone[first + k] = lo + done;
		else
			h->moved[first + k] = lo + done;
	}
out:
	free(d);
	return err;
}

static int ar_uffd_recover(struct ar_inject *inj, enum ar_recovery *how)
{
	struct ar_heal_stats st;
	struct heal h;
	int err;

	*how = AR_RECOVERY_NOTHING;
	if ((err = heal_init(&h, inj, &st)))
		return err;
	memset(&st, 0, sizeof(st));
	h.moved = calloc(h.js->nsrc + 1, sizeof(*h.moved));
	h.undone = calloc(h.js->nsrc + 1, sizeof(*h.undone));
	if (!h.moved || !h.undone) {
		err = ar_fail(h.ctx, ENOMEM, "out of memory");
		goto out;
	}
	h.recovering = 1;
	switch (h.js->phase) {
	case AR_JP_UFFD_DST:
		*how = AR_RECOVERY_UNDONE;
		err = undo(&h);
		break;
	case AR_JP_UFFD_UNDO:
		*how = AR_RECOVERY_UNDONE;
		err = reload_progress(&h, 1);
		if (!err)
			err = undo(&h);
		break;
	case AR_JP_UFFD_MOVING:
		*how = AR_RECOVERY_FINISHED;
		err = ar_inject_vma_at(inj, h.js->dst, NULL);
		if (err <= 0) {
			/* dst is over the run already: its lock, the fd left. */
			if (!err)
				err = ar_heal_relock(inj, h.js->run_start,
						     ar_js_len(h.js),
						     h.js->advice);
			if (!err)
				err = close_uffd(&h);
			break;
		}
		err = reload_progress(&h, 0);
		if (!err)
			err = move_all(&h, 0);
		if (!err)
			err = finish(&h);
		if (err) {
			/* Cannot finish (say, pages shared meanwhile): undo. */
			*how = AR_RECOVERY_UNDONE;
			err = undo(&h);
		}
		break;
	}
out:
	if (err)
		ar_inject_keep_stopped(inj);
	free(h.moved);
	free(h.undone);
	return err;
}

static int ar_uffd_probe(struct ar_ctx *ctx)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MOVE };
	long page = (long)ar_page_size();
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	char *p = MAP_FAILED;
	int err = 0;

	if (fd < 0)
		return errno == ENOSYS ?
			ar_fail(ctx, ENOSYS, "userfaultfd is not built into "
				"this kernel") :
			errno == EPERM ?
			ar_fail(ctx, EPERM, "userfaultfd is forbidden here "
				"(vm.unprivileged_userfaultfd, seccomp, LSM)") :
			ar_fail_errno(ctx, errno, "userfaultfd");
	if (ioctl(fd, UFFDIO_API, &api) || !(api.features & UFFD_FEATURE_MOVE)) {
		err = ar_fail(ctx, EOPNOTSUPP, "this kernel has no UFFDIO_MOVE "
			      "(Linux 6.8 or later needed)");
		goto out;
	}
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err = ar_fail_errno(ctx, errno, "mmap");
		goto out;
	}
	p[0] = 42;
	{
		struct uffdio_register reg = {
			.range = { (uint64_t)(p + page), (uint64_t)page },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		struct uffdio_move mv = {
			.dst = (uint64_t)(p + page), .src = (uint64_t)p,
			.len = (uint64_t)page,
		};

		if (ioctl(fd, UFFDIO_REGISTER, &reg) ||
		    ioctl(fd, UFFDIO_MOVE, &mv) || p[page] != 42)
			err = ar_fail_errno(ctx, errno, "UFFDIO_MOVE does not "
					    "work here");
	}
out:
	if (p != MAP_FAILED)
		munmap(p, 2 * page);
	close(fd);
	return err;
}


static int uffd_split(struct ar_inject *inj, const struct ar_heal_run *run,
		      struct ar_heal_stats *st)
{
	return ar_heal_split_by_heals(inj, ar_uffd_heal, run, st);
}

/*
 * Write every present page of [start, end) of the stopped process pid with
 * its own bytes (--unshare).  A page that fork once shared keeps no "exclusive" mark
 * after the other sharer is gone, and UFFDIO_MOVE refuses it; the write
 * fault finds the process its only user and marks it again, in place.
 */
static int unshare_pages(struct ar_ctx *ctx, pid_t pid, uint64_t start,
			 uint64_t end)
{
	uint64_t page = ar_page_size(), entry, addr;
	char *buf = malloc(page);
	int fd, ret = 0;

	if (!buf)
		return ar_fail(ctx, ENOMEM, "out of memory");
	fd = ar_pagemap_open(ctx, pid);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	for (addr = start; addr < end && !ret; addr += page) {
		struct iovec local = { buf, page };
		struct iovec remote = { (void *)(uintptr_t)addr, page };

		if ((ret = ar_pagemap_read(fd, addr, 1, &entry))) {
			ret = ar_fail_errno(ctx, -ret, "cannot read /proc/%d/pagemap",
					    (int)pid);
			break;
		}
		if (!(entry & PM_PRESENT))
			continue;	/* a hole stays a hole */
		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)page ||
		    process_vm_writev(pid, &local, 1, &remote, 1, 0) != (ssize_t)page)
			ret = ar_fail_errno(ctx, errno, "cannot rewrite the page at "
					    "%#llx of process %d",
					    (unsigned long long)addr, (int)pid);
	}
	close(fd);
	free(buf);
	return ret;
}

/*
 * The heal of the ops: -EBUSY from pages a fork once shared (see above) is
 * retried once they are rewritten, with run->unshare; pinned pages are
 * -EBUSY too, and stay so once rewritten.  The reasons name both.
 */
static int uffd_heal_unsharing(struct ar_inject *inj,
			       const struct ar_heal_run *run,
			       struct ar_heal_stats *st)
{
	struct ar_ctx *ctx = ar_inject_ctx(inj);
	int err = ar_uffd_heal(inj, run, st);

	if (err != -EBUSY)
		return err;
	if (!run->unshare)
		return ar_fail(ctx, EBUSY, "pages once shared with a forked "
			       "process and not written since cannot move; "
			       "--unshare rewrites them in place (pinned pages "
			       "cannot move either: DMA, io_uring fixed "
			       "buffers)");
	err = unshare_pages(ctx, ar_inject_pid(inj), run->start, run->end);
	if (!err)
		err = ar_uffd_heal(inj, run, st);
	if (err == -EBUSY)
		return ar_fail(ctx, EBUSY, "pages still cannot move once "
			       "rewritten in place (--unshare): pinned, for DMA "
			       "or as io_uring fixed buffers");
	return err;
}

static const uint32_t uffd_phases[] = {
	AR_JP_UFFD_DST, AR_JP_UFFD_MOVING, AR_JP_UFFD_UNDO, 0
};

/*
 * Refuses (nothing changed) the runs it cannot carry: uffd-armed,
 * read-only, shared, growsdown, sealed, with a NUMA policy; an mlocked
 * run is healed when RLIMIT_MEMLOCK allows its destination to be locked
 * beside it.  Pages a fork once shared are -EBUSY until written: with
 * --unshare, they are rewritten in place and moved.
 */
const struct ar_backend_ops ar_backend_uffd = {
	.id = AR_BACKEND_UFFD_MOVE,
	.name = "uffd-move",
	.automatic = true,
	.parts_merge = false,
	.locks_dst = true,
	.probe = ar_uffd_probe,
	.check_run = ar_uffd_check_run,
	.heal = uffd_heal_unsharing,
	.split = uffd_split,
	.recover = ar_uffd_recover,
	.phases = uffd_phases,
};
