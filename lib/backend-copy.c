// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The copy backend: heal a run of split anonymous VMAs on any kernel by
 * copying its pages into a fresh VMA, then mremap()ing that VMA over the
 * run.  Slower than moving pages, and a copy is a new page: pages shared
 * with another process (COW after fork, KSM) would be un-shared, so runs
 * holding any are refused.
 *
 * The destination is mapped with the run's 2 MiB phase, flags and name
 * (writable while it is filled when the run is not, so that it is
 * accounted like the run), each source VMA's present pages are copied
 * into it through /proc/PID/mem (which reads and writes whatever the
 * protections), holes skipped by /proc/PID/pagemap, and each source is
 * unmapped once copied.  For a MADV_HUGEPAGE run, the destination is
 * switched to MADV_NOHUGEPAGE while 2 MiB blocks that were not fully
 * populated are written, so a fault cannot fill them with a huge page.
 * An mlocked run's destination is locked on fault from the start, so
 * that its pages are locked as they are written, and locked as the run
 * was once over it (see ar_heal_needs_relock()).
 *
 * Crash safety: one journal record before the destination is mapped.  A
 * source is unmapped only once all of it is in dst, in address order, so
 * what is done is read back from the target's maps: the sources gone are
 * a prefix, those left are intact.  Recovery finishes the copy (or, when
 * no source was unmapped yet, drops dst); a copy that cannot go on puts
 * the copied prefix back in place with one mremap.
 */
#include <errno.h>
#include <fcntl.h>
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

#define PAGE ar_page_size()
#define HUGE ar_arch_pmd_size()
#define CTL_OFF 0		/* the anonymous name */
#define DESC_OFF 4096		/* munmap descriptors */
#define CHUNK_PAGES 256		/* pages read and written at once */
#define PENDING_MAX HUGE	/* copied bytes whose source is still mapped */
#define MAX_UNMAPS 1024		/* munmaps in one batch */

/*
 * This backend's journal phases (7 and 8).  Which sources are done is read
 * back from the target: a source is unmapped only once every page of it
 * is in dst, in address order, so the sources still mapped are a suffix.
 */
enum {
	AR_JP_COPY_DST = 7,	/* dst may exist; sources unmapped from the
				   front, each once copied to dst */
	AR_JP_COPY_BACK = 8,	/* copying failed: the copied prefix
				   (src[batch_first] on) goes back in place */
};

/* What this backend keeps in the journal (AR_JREC()). */
struct __attribute__((may_alias)) copy_rec {
	uint32_t prot_after;	/* dst protection once filled */
	uint32_t batch_first;	/* COPY_BACK: the copied prefix from here */
};

struct copy {
	struct ar_inject *inj;
	struct ar_ctx *ctx;
	struct ar_journal *j;
	struct ar_journal_state *js;	/* the journal's, or local */
	struct ar_journal_state local;
	struct copy_rec *rec;		/* in js */
	pid_t pid;
	uint64_t data;
	size_t data_size;
	int pagemap;			/* fd of /proc/PID/pagemap */
	/* Per 2 MiB block from the run's first: not fully populated. */
	unsigned char *sparse;
	size_t nblocks;
	int nohuge;			/* dst is MADV_NOHUGEPAGE for now */
	uint64_t *pm;			/* CHUNK_PAGES pagemap entries */
	char *buf;			/* CHUNK_PAGES pages */
	struct ar_heal_stats *st;
};

static int read_pagemap(struct copy *c, uint64_t addr, size_t n)
{
	int err = ar_pagemap_read(c->pagemap, addr, n, c->pm);

	return err ? ar_fail_errno(c->ctx, -err, "cannot read the pagemap of "
				   "process %d", c->pid) : 0;
}

static int page_is_zero(const char *p)
{
	/* All bytes equal to the next, and the first is 0. */
	return !p[0] && !memcmp(p, p + 1, PAGE - 1);
}

/*
 * A page to copy: present or swapped out, and not the shared zero page
 * (present, not exclusive, all zeros), which a hole in dst stands for.
 */
static int wanted(uint64_t e, const char *bytes)
{
	if (!(e & (PM_PRESENT | PM_SWAP)))
		return 0;
	return !(e & PM_PRESENT) || (e & PM_MMAP_EXCLUSIVE) ||
	       !page_is_zero(bytes);
}

/* Are the bytes of the page needed: all pages, or only those wanted() reads? */
static int needs_bytes(uint64_t e, int all)
{
	if (!(e & (PM_PRESENT | PM_SWAP)))
		return 0;
	return all || (e & PM_SWAP) || !(e & PM_MMAP_EXCLUSIVE);
}

/*
 * Read the pagemap of [addr, addr + n pages) of the run into pm and the
 * pages that hold anything into buf (all, or only those whose bytes
 * wanted() looks at).  Swapped-out pages are faulted in by the read:
 * their entries are read again after it.
 */
static int read_chunk(struct copy *c, uint64_t addr, size_t n, int all)
{
	int swapped = 0, err = read_pagemap(c, addr, n);

	for (size_t i = 0; !err && i < n;) {
		size_t k = i;

		if (!needs_bytes(c->pm[i], all)) {
			i++;
			continue;
		}
		while (k < n && needs_bytes(c->pm[k], all))
			swapped |= !!(c->pm[k++] & PM_SWAP);
		err = ar_inject_read(c->inj, addr + i * PAGE, c->buf + i * PAGE,
				     (k - i) * PAGE);
		i = k;
	}
	if (!err && swapped)
		err = read_pagemap(c, addr, n);
	return err;
}

/*
 * Before anything changes: refuse guard regions and pages shared with
 * another process, and for a MADV_HUGEPAGE run find the 2 MiB blocks that
 * are not fully populated.
 */
static int scan_run(struct copy *c)
{
	const uint64_t start = c->js->run_start, end = c->js->run_end;
	const uint64_t base = start / HUGE * HUGE;
	size_t *present = NULL;
	int err = 0;

	if (c->js->advice & AR_ADV_HUGEPAGE) {
		c->nblocks = (size_t)((end - base + HUGE - 1) / HUGE);
		c->sparse = calloc(c->nblocks, 1);
		present = calloc(c->nblocks, sizeof(*present));
		if (!c->sparse || !present) {
			free(present);
			return ar_fail(c->ctx, ENOMEM, "out of memory");
		}
	}
	for (uint64_t a = start; !err && a < end; a += CHUNK_PAGES * PAGE) {
		size_t n = (size_t)((end - a) / PAGE);

		if (n > CHUNK_PAGES)
			n = CHUNK_PAGES;
		if ((err = read_chunk(c, a, n, 0)))
			break;
		for (size_t i = 0; i < n && !err; i++) {
			uint64_t e = c->pm[i];

			if (e & PM_GUARD_REGION)
				err = ar_fail(c->ctx, EPERM, "run %#llx-%#llx "
					      "holds guard regions",
					      (unsigned long long)start,
					      (unsigned long long)end);
			else if ((e & PM_PRESENT) && !(e & PM_MMAP_EXCLUSIVE) &&
				 !page_is_zero(c->buf + i * PAGE))
				err = ar_fail(c->ctx, EBUSY, "the page at %#llx "
					      "is shared with another process "
					      "(a fork): copying would "
					      "un-share it",
					      (unsigned long long)(a + i * PAGE));
			else if (present && wanted(e, c->buf + i * PAGE))
				present[(a + i * PAGE - base) / HUGE]++;
		}
	}
	for (size_t b = 0; present && b < c->nblocks; b++)
		c->sparse[b] = present[b] < HUGE / PAGE;
	free(present);
	return err;
}

/* THP allowed for dst, or not: one madvise when it changes. */
static int thp_mode(struct copy *c, int nohuge)
{
	int err;

	if (c->nohuge == nohuge)
		return 0;
	err = ar_heal_advise(c->inj, c->js->dst, ar_js_len(c->js),
			     nohuge ? AR_ADV_NOHUGEPAGE : AR_ADV_HUGEPAGE);
	if (!err)
		c->nohuge = nohuge;
	return err;
}

/* Write pages [i, k) of the chunk at addr into dst. */
static int write_pages(struct copy *c, uint64_t addr, size_t i, size_t k)
{
	uint64_t at = addr + i * PAGE;
	int err = 0;

	if (c->sparse) {
		size_t b = (size_t)((at - c->js->run_start / HUGE * HUGE) / HUGE);

		err = thp_mode(c, b < c->nblocks && c->sparse[b]);
	}
	if (!err)
		err = ar_inject_write(c->inj, ar_js_dst(c->js, at),
				      c->buf + i * PAGE, (k - i) * PAGE);
	c->st->moves += k - i;
	return err;
}

/* Copy the pages of [s, e) to dst, each write within one 2 MiB block. */
static int copy_range(struct copy *c, uint64_t s, uint64_t e)
{
	int err = 0;

	for (uint64_t a = s; !err && a < e;) {
		uint64_t next = (a / HUGE + 1) * HUGE;
		size_t n = (size_t)((e - a) / PAGE);

		if (n > CHUNK_PAGES)
			n = CHUNK_PAGES;
		if (a + n * PAGE > next)
			n = (size_t)((next - a) / PAGE);
		err = read_chunk(c, a, n, 1);
		for (size_t i = 0; !err && i < n;) {
			size_t k = i;

			while (k < n && wanted(c->pm[k], c->buf + k * PAGE))
				k++;
			if (k > i)
				err = write_pages(c, a, i, k);
			i = k + 1;
		}
		a += n * PAGE;
	}
	return err;
}

/* Unmap sources [first, last), copied; in order, stopping at an error. */
static int unmap_sources(struct copy *c, size_t first, size_t last)
{
	const uint64_t descs = c->data + DESC_OFF;
	struct ar_sysdesc *d = calloc(last - first, sizeof(*d));
	size_t done;
	int err;

	if (!d)
		return ar_fail(c->ctx, ENOMEM, "out of memory");
	for (size_t i = first; i < last; i++)
		d[i - first] = (struct ar_sysdesc){
			.nr = SYS_munmap,
			.args = { c->js->src[i].start,
				  c->js->src[i].end - c->js->src[i].start },
		};
	err = ar_inject_batch(c->inj, descs, d, last - first, &done);
	if (!err && done < last - first)
		err = ar_fail_errno(c->ctx, (int)-(long)d[done].result,
				    "munmap of %#llx in process %d",
				    (unsigned long long)c->js->src[first + done].start,
				    c->pid);
	c->st->batches++;
	free(d);
	return err;
}

/* Copy sources [from, nsrc) and unmap each, a batch of them at a time. */
static int copy_sources(struct copy *c, size_t from)
{
	size_t cap = (c->data_size - DESC_OFF) / sizeof(struct ar_sysdesc);
	size_t first = from;
	uint64_t pending = 0;
	int err = 0;

	if (cap > MAX_UNMAPS)
		cap = MAX_UNMAPS;
	for (size_t i = from; !err && i < c->js->nsrc; i++) {
		const struct ar_jsrc *s = &c->js->src[i];

		err = copy_range(c, s->start, s->end);
		pending += s->end - s->start;
		if (!err && (pending >= PENDING_MAX || i + 1 - first >= cap ||
			     i + 1 == c->js->nsrc)) {
			err = unmap_sources(c, first, i + 1);
			first = i + 1;
			pending = 0;
		}
	}
	return err;
}

/* Every page is in dst: give it its final attributes, move it over the run. */
static int finish(struct copy *c)
{
	uint64_t len = ar_js_len(c->js);
	int err = 0;

	if (c->js->prot != c->rec->prot_after)
		err = ar_heal_call(c->inj, "mprotect", NULL, SYS_mprotect,
				   c->js->dst, len, c->rec->prot_after, 0, 0, 0);
	if (!err && c->js->advice & AR_ADV_HUGEPAGE)
		err = ar_heal_advise(c->inj, c->js->dst, len, AR_ADV_HUGEPAGE);
	if (!err)
		err = ar_heal_call(c->inj, "mremap", NULL, SYS_mremap,
				   c->js->dst, len, len,
				   MREMAP_FIXED | MREMAP_MAYMOVE,
				   c->js->run_start, 0);
	if (!err)
		err = ar_heal_relock(c->inj, c->js->run_start, len,
				     c->js->advice);
	if (!err)
		err = ar_journal_step(c->j, c->js, AR_JP_READY, 0);
	return err;
}

/* The target's VMAs that meet the run or dst, in address order. */
static int read_layout(struct copy *c, struct ar_heal_layout *l)
{
	const uint64_t ranges[2][2] = {
		{ c->js->run_start, c->js->run_end },
		{ c->js->dst, c->js->dst + ar_js_len(c->js) },
	};

	return ar_heal_layout_read(c->ctx, c->pid, ranges, 2, l);
}

/*
 * How far the copy got: *m sources are gone (copied), the rest must be
 * intact.  -EBADMSG when the target is not in a state this backend leaves.
 */
static int sources_done(struct copy *c, const struct ar_heal_layout *l,
			size_t *m)
{
	size_t i = 0;

	while (i < c->js->nsrc &&
	       ar_heal_range_state(l, c->js->src[i].start,
				   c->js->src[i].end) == AR_RANGE_FREE)
		i++;
	*m = i;
	for (; i < c->js->nsrc; i++)
		if (ar_heal_range_state(l, c->js->src[i].start,
					c->js->src[i].end) !=
		    AR_RANGE_EXACT)
			return ar_fail(c->ctx, EBADMSG, "process %d: source "
				       "%#llx-%#llx is not as the journal "
				       "left it", c->pid,
				       (unsigned long long)c->js->src[i].start,
				       (unsigned long long)c->js->src[i].end);
	return 0;
}

/*
 * The copy cannot go on: sources [0, m) are in dst only.  Move them back
 * in place with one mremap (they become one VMA) and drop the rest of dst,
 * which holds copies of sources still in place.
 */
static int put_back(struct copy *c, size_t m)
{
	uint64_t len = ar_js_len(c->js);
	uint64_t head = c->js->src[m].start - c->js->run_start;
	struct ar_heal_layout l = { 0 };
	int err;

	c->rec->batch_first = (uint32_t)m;
	if ((err = ar_journal_step(c->j, c->js, AR_JP_COPY_BACK, 0)) ||
	    (err = read_layout(c, &l)))
		goto out;
	if (ar_heal_range_state(&l, c->js->dst, c->js->dst + len) ==
	    AR_RANGE_EXACT) {
		if (c->js->prot != c->rec->prot_after)
			err = ar_heal_call(c->inj, "mprotect", NULL, SYS_mprotect,
					   c->js->dst, head, c->rec->prot_after,
					   0, 0, 0);
		if (!err && c->js->advice & AR_ADV_HUGEPAGE)
			err = ar_heal_advise(c->inj, c->js->dst, head,
					     AR_ADV_HUGEPAGE);
		if (!err)
			err = ar_heal_call(c->inj, "mremap", NULL, SYS_mremap,
					   c->js->dst, head, head,
					   MREMAP_FIXED | MREMAP_MAYMOVE,
					   c->js->run_start, 0);
	} else if (ar_heal_range_state(&l, c->js->run_start,
				       c->js->src[m].start) !=
		   AR_RANGE_EXACT) {
		err = ar_fail(c->ctx, EBADMSG, "process %d: neither dst nor "
			      "the run's front is where the journal says",
			      c->pid);
	}
	/* Again when resumed: the front may not have been locked yet. */
	if (!err)
		err = ar_heal_relock(c->inj, c->js->run_start, head,
				     c->js->advice);
	if (!err &&
	    ar_heal_range_state(&l, c->js->dst + head, c->js->dst + len) !=
	    AR_RANGE_FREE)
		err = ar_inject_munmap(c->inj, c->js->dst + head, len - head);
	if (!err)
		err = ar_journal_step(c->j, c->js, AR_JP_READY, 0);
out:
	ar_heal_layout_free(&l);
	return err;
}

/* Nothing was unmapped: drop dst if it is there. */
static int drop_dst(struct copy *c, const struct ar_heal_layout *l)
{
	uint64_t len = ar_js_len(c->js);
	int err = 0;

	if (ar_heal_range_state(l, c->js->dst, c->js->dst + len) !=
	    AR_RANGE_FREE)
		err = ar_inject_munmap(c->inj, c->js->dst, len);
	return err ? err : ar_journal_step(c->j, c->js, AR_JP_READY, 0);
}

/*
 * After a failure (go_on 0) or a crash (go_on 1), from what the target
 * shows: finish the copy (go_on), or drop dst when no source was unmapped
 * yet, or put back what was copied.  *how says which.
 */
static int resume(struct copy *c, int go_on, enum ar_recovery *how)
{
	uint64_t len = ar_js_len(c->js);
	struct ar_heal_layout l = { 0 };
	size_t m = 0;
	int err = read_layout(c, &l);

	if (err)
		goto out;
	*how = AR_RECOVERY_UNDONE;
	/*
	 * Putting back, dst still whole: from what the maps show, like
	 * after a failure (a batch of munmaps let finish may have unmapped
	 * more than the record says).  dst no longer whole: its front was
	 * moved back, as far as the record says.
	 */
	if (c->js->phase == AR_JP_COPY_BACK &&
	    ar_heal_range_state(&l, c->js->dst, c->js->dst + len) == AR_RANGE_EXACT)
		go_on = 0;
	else if (c->js->phase == AR_JP_COPY_BACK) {
		m = c->rec->batch_first;
		if (m >= c->js->nsrc)
			err = ar_fail(c->ctx, EBADMSG, "journal source out of "
				      "range");
		for (size_t i = m; !err && i < c->js->nsrc; i++)
			if (ar_heal_range_state(&l, c->js->src[i].start,
					c->js->src[i].end) != AR_RANGE_EXACT)
				err = ar_fail(c->ctx, EBADMSG, "process %d: "
					      "source %zu is not in place",
					      c->pid, i);
		if (!err)
			err = put_back(c, m);
		goto out;
	}
	if (ar_heal_range_state(&l, c->js->run_start, c->js->run_end) ==
	    AR_RANGE_EXACT &&
	    ar_heal_range_state(&l, c->js->dst, c->js->dst + len) ==
	    AR_RANGE_FREE) {
		*how = AR_RECOVERY_FINISHED;	/* dst was moved over the run */
		err = ar_heal_relock(c->inj, c->js->run_start, len,
				     c->js->advice);
		if (!err)
			err = ar_journal_step(c->j, c->js, AR_JP_READY, 0);
		goto out;
	}
	if ((err = sources_done(c, &l, &m)))
		goto out;
	if (!m) {
		err = drop_dst(c, &l);
		goto out;
	}
	if (ar_heal_range_state(&l, c->js->dst, c->js->dst + len) !=
	    AR_RANGE_EXACT) {
		err = ar_fail(c->ctx, EBADMSG, "process %d: sources were "
			      "copied but dst %#llx is not there", c->pid,
			      (unsigned long long)c->js->dst);
		goto out;
	}
	if (go_on || m == c->js->nsrc) {
		*how = AR_RECOVERY_FINISHED;
		err = copy_sources(c, m);
		if (!err)
			err = finish(c);
		if (!err || m == c->js->nsrc)
			goto out;
		/* It cannot go on: put back what it copied meanwhile too. */
		ar_heal_layout_free(&l);
		*how = AR_RECOVERY_UNDONE;
		if ((err = read_layout(c, &l)) ||
		    (err = sources_done(c, &l, &m)))
			goto out;
		if (m == c->js->nsrc) {
			err = ar_fail(c->ctx, EIO, "process %d: every page is "
				      "at %#llx but it cannot be moved over "
				      "the run", c->pid,
				      (unsigned long long)c->js->dst);
			goto out;
		}
	}
	err = m ? put_back(c, m) : drop_dst(c, &l);
out:
	ar_heal_layout_free(&l);
	return err;
}

static int copy_init(struct copy *c, struct ar_inject *inj,
		     struct ar_heal_stats *st)
{
	memset(c, 0, sizeof(*c));
	c->inj = inj;
	c->ctx = ar_inject_ctx(inj);
	c->j = ar_inject_journal(inj);
	c->js = c->j ? ar_journal_state(c->j) : &c->local;
	c->rec = AR_JREC(c->js, struct copy_rec);
	c->pid = ar_inject_pid(inj);
	c->js->pid = c->pid;
	c->data = ar_inject_data(inj, &c->data_size);
	c->st = st;
	c->pagemap = -1;
	if (c->data_size <= DESC_OFF + sizeof(struct ar_sysdesc))
		return ar_fail(c->ctx, EINVAL, "no scratch data area");
	c->pm = malloc(CHUNK_PAGES * sizeof(*c->pm));
	c->buf = malloc(CHUNK_PAGES * PAGE);
	if (!c->pm || !c->buf)
		return ar_fail(c->ctx, ENOMEM, "out of memory");
	c->pagemap = ar_pagemap_open(c->ctx, c->pid);
	return c->pagemap < 0 ? c->pagemap : 0;
}

static void copy_free(struct copy *c)
{
	if (c->pagemap >= 0)
		close(c->pagemap);
	free(c->pm);
	free(c->buf);
	free(c->sparse);
}

static int ar_copy_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run)
{
	return ar_heal_check_run(ctx, run);
}

/* The calls a copy makes, against the process's seccomp filters. */
static int check_calls(struct copy *c, const char *name)
{
	const struct ar_call_check mprotect_back = {
		NULL, SYS_mprotect, { 0, 0, c->rec->prot_after }
	};

	return ar_heal_check_calls(c->inj, (int)c->js->prot,
				   (int)c->js->mflags, c->js->advice, name,
				   &mprotect_back, 1);
}

static int ar_copy_heal(struct ar_inject *inj, const struct ar_heal_run *run,
			struct ar_heal_stats *st)
{
	struct ar_heal_stats dummy;
	uint64_t t0 = ar_now_ns();
	struct ar_jsrc *src;
	struct copy c;
	int err, prot;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if ((err = copy_init(&c, inj, st)) ||
	    (err = ar_copy_check_run(c.ctx, run)) ||
	    (!run->policy_known &&
	     (err = ar_heal_check_mempolicy(c.ctx, c.pid, run))))
		goto out;
	src = malloc(run->nsrc * sizeof(*src));
	if (!src) {
		err = ar_fail(c.ctx, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(src, run->src, run->nsrc * sizeof(*src));
	for (size_t i = 0; i < run->nsrc; i++)
		src[i].moved = 0;
	free(c.js->src);
	c.js->src = src;
	c.js->nsrc = run->nsrc;
	c.js->run_start = run->start;
	c.js->run_end = run->end;
	c.rec->batch_first = 0;
	prot = ar_heal_prot_of(run->perms);
	c.rec->prot_after = (uint32_t)prot;
	/*
	 * A run that is not writable but accounted was writable once: map
	 * dst writable so it is accounted too ("ac"), then take it back.
	 */
	if (!(prot & PROT_WRITE) && (run->vmflags & AR_VMF(AC)))
		prot |= PROT_READ | PROT_WRITE;
	c.js->prot = (uint32_t)prot;
	c.js->mflags = MAP_PRIVATE | MAP_ANONYMOUS |
		       (run->vmflags & AR_VMF(NR) ? MAP_NORESERVE : 0);
	c.js->advice = ar_heal_advice_of(run->vmflags);
	st->bytes = run->end - run->start;
	if ((err = check_calls(&c, run->name)) ||
	    (err = scan_run(&c)) ||
	    (err = ar_inject_find_gap(inj, run->end - run->start, HUGE,
				      run->start % HUGE, &c.js->dst)) ||
	    (err = ar_journal_step(c.j, c.js, AR_JP_COPY_DST, 1)))
		goto out;
	err = ar_heal_map_dst(inj, c.js->dst, ar_js_len(c.js), (int)c.js->prot,
			      (int)c.js->mflags, c.js->advice, run->name,
			      c.data + CTL_OFF);
	if (!err) {
		uint64_t t1 = ar_now_ns();

		err = copy_sources(&c, 0);
		st->moves_ns = ar_now_ns() - t1;
		if (!err)
			err = finish(&c);
	}
	if (err) {
		enum ar_recovery how;
		char msg[sizeof(c.ctx->errmsg)];
		int rerr;

		memcpy(msg, c.ctx->errmsg, sizeof(msg));
		rerr = resume(&c, 0, &how);
		if (rerr) {
			char why[sizeof(c.ctx->errmsg)];

			snprintf(why, sizeof(why), "%s", c.ctx->errmsg);
			/* Memory may be out of place: only recover may resume it. */
			ar_inject_keep_stopped(inj);
			err = ar_fail(c.ctx, EIO, "%s; then %s: process %d "
				      "stays stopped: run `anonremap recover "
				      "%d`", msg, why, c.pid, c.pid);
		} else if (how == AR_RECOVERY_FINISHED) {
			err = 0;
		} else {
			memcpy(c.ctx->errmsg, msg, sizeof(msg));
		}
	}
out:
	copy_free(&c);
	if (!c.j) {
		free(c.local.src);	/* else the journal's */
		c.local.src = NULL;
	}
	st->ns = ar_now_ns() - t0;
	return err;
}

static int ar_copy_recover(struct ar_inject *inj, enum ar_recovery *how)
{
	struct ar_heal_stats st;
	struct copy c;
	int err;

	*how = AR_RECOVERY_NOTHING;
	memset(&st, 0, sizeof(st));
	err = copy_init(&c, inj, &st);
	if (!err && !c.j)
		err = ar_fail(c.ctx, EINVAL, "no journal to recover from");
	/* The dead tool may have left dst without THP: blocks stay so. */
	if (!err && (c.js->advice & AR_ADV_HUGEPAGE)) {
		c.nblocks = (size_t)((c.js->run_end -
				      c.js->run_start / HUGE * HUGE + HUGE - 1) /
				     HUGE);
		c.sparse = malloc(c.nblocks);
		if (!c.sparse)
			err = ar_fail(c.ctx, ENOMEM, "out of memory");
		else
			memset(c.sparse, 1, c.nblocks);
	}
	if (!err)
		err = resume(&c, 1, how);
	if (err)
		ar_inject_keep_stopped(inj);
	copy_free(&c);
	return err;
}

static int copy_split(struct ar_inject *inj, const struct ar_heal_run *run,
		      struct ar_heal_stats *st)
{
	return ar_heal_split_by_heals(inj, ar_copy_heal, run, st);
}

/* The copy backend needs process_vm_readv() (CONFIG_CROSS_MEMORY_ATTACH). */
static int copy_probe(struct ar_ctx *ctx)
{
	char src = 42, dst = 0;
	struct iovec local = { &dst, 1 }, remote = { &src, 1 };

	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1 || dst != 42)
		return ar_fail_errno(ctx, errno, "process_vm_readv() does not "
				     "work here");
	return 0;
}

static const uint32_t copy_phases[] = {
	AR_JP_COPY_DST, AR_JP_COPY_BACK, 0
};

/*
 * Heals a run on any kernel; its contents, protections, flags and name
 * stay.  Holes stay holes (pagemap); swapped-out pages are read back in
 * and copied, so the process's Rss grows by what the run had in swap.
 * Each source VMA is unmapped as soon as it is copied: memory grows by at
 * most one VMA plus 2 MiB meanwhile.  Copying un-shares COW pages, so runs
 * with pages shared with another process (-EBUSY) are refused before
 * anything changes, as are those with a NUMA policy or guard regions
 * (-EPERM); read-only and PROT_NONE runs can be healed.  A failure before
 * any source was unmapped removes dst; after, the copied front of the run
 * is put back in place (as one VMA, the rest untouched).  Never chosen by
 * auto: slower, and it gives up sharing.
 */
const struct ar_backend_ops ar_backend_copy = {
	.id = AR_BACKEND_COPY,
	.name = "copy",
	.automatic = false,
	.hint = "works on any kernel but is slower and gives up pages shared "
		"with a fork",
	.parts_merge = false,
	.locks_dst = true,
	.probe = copy_probe,
	.check_run = ar_copy_check_run,
	.heal = ar_copy_heal,
	.split = copy_split,
	.recover = ar_copy_recover,
	.phases = copy_phases,
};
