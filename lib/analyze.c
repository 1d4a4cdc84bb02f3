// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fragmentation analysis.
 *
 * The kernel prints offset 0 for anonymous VMAs, so neither vm_pgoff nor the
 * anon_vma can be seen.  Two touching anonymous private VMAs whose every
 * visible merge attribute is equal would have been merged unless one of
 * those hidden attributes differs: that boundary is a split.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "internal.h"
#include "pagemap.h"

/*
 * Flags the kernel ignores when it merges (VM_IGNORE_MERGE): soft-dirty,
 * and "maybe guard", which is sticky and spreads to the merged VMA.
 */
#define MERGE_IGNORED_VMFLAGS (AR_VMF(SD) | AR_VMF(GU))

static bool is_split(const struct ar_vma *a, const struct ar_vma *b)
{
	return a->anonymous && b->anonymous && a->end == b->start &&
	       !memcmp(a->perms, b->perms, sizeof(a->perms)) &&
	       (a->vmflags & ~MERGE_IGNORED_VMFLAGS) ==
		       (b->vmflags & ~MERGE_IGNORED_VMFLAGS) &&
	       a->vmflags_other == b->vmflags_other && a->pkey == b->pkey &&
	       !strcmp(a->name, b->name);
}

static unsigned int vmflag_blockers(uint64_t vmflags)
{
	return vmflags & (AR_VMF(UM) | AR_VMF(UW) | AR_VMF(UI)) ?
	       AR_BLOCK_UFFD : 0;
}

static void account_vma(struct ar_run *run, const struct ar_vma *vma)
{
	run->end = vma->end;
	run->vmas++;
	run->bytes += vma->end - vma->start;
	run->rss_bytes += vma->rss;
	run->thp_bytes += vma->thp;
	run->swap_bytes += vma->swap;
	run->blockers |= vmflag_blockers(vma->vmflags);
}

int ar_analyze(struct ar_ctx *ctx, struct ar_proc *proc)
{
	struct ar_summary *sum = &proc->sum;
	struct ar_run *run = NULL;
	size_t i, nruns = 0;

	free(proc->runs);
	proc->runs = NULL;
	proc->nruns = 0;
	sum->vmas = proc->nvmas;
	sum->anon_vmas = sum->splits = sum->runs = 0;
	sum->split_bytes = sum->split_rss_bytes = 0;

	for (i = 0; i < proc->nvmas; i++) {
		sum->anon_vmas += proc->vmas[i].anonymous;
		if (i && is_split(&proc->vmas[i - 1], &proc->vmas[i])) {
			sum->splits++;
			if (i == 1 || !is_split(&proc->vmas[i - 2], &proc->vmas[i - 1]))
				nruns++;
		}
	}
	if (!nruns)
		return 0;

	proc->runs = calloc(nruns, sizeof(*proc->runs));
	if (!proc->runs)
		return ar_fail(ctx, ENOMEM, "out of memory for %zu runs", nruns);

	for (i = 1; i < proc->nvmas; i++) {
		const struct ar_vma *prev = &proc->vmas[i - 1];

		if (!is_split(prev, &proc->vmas[i])) {
			run = NULL;
			continue;
		}
		if (!run) {
			run = &proc->runs[proc->nruns++];
			run->start = prev->start;
			run->first_vma = i - 1;
			account_vma(run, prev);
		}
		account_vma(run, &proc->vmas[i]);
	}
	for (i = 0; i < proc->nruns; i++) {
		sum->split_bytes += proc->runs[i].bytes;
		sum->split_rss_bytes += proc->runs[i].rss_bytes;
	}
	sum->runs = proc->nruns;
	return 0;
}

#define PAGEMAP_CHUNK 4096	/* entries read at once */

/* Blockers of run found in [start, end), a part of it. */
static int scan_run_pagemap(int fd, struct ar_run *run, uint64_t start,
			    uint64_t end, uint64_t page_size)
{
	uint64_t entries[PAGEMAP_CHUNK];
	uint64_t addr = start;
	long not_exclusive = 0;

	while (addr < end) {
		size_t n = (end - addr) / page_size, i;
		int err;

		if (n > PAGEMAP_CHUNK)
			n = PAGEMAP_CHUNK;
		if (!n)
			return -EIO;	/* an end within a page */
		if ((err = ar_pagemap_read(fd, addr, n, entries)))
			return err;
		for (i = 0; i < n; i++) {
			uint64_t e = entries[i];

			if (e & PM_GUARD_REGION)
				run->blockers |= AR_BLOCK_GUARD;
			if ((e & PM_PRESENT) && !(e & PM_FILE) &&
			    !(e & PM_MMAP_EXCLUSIVE))
				not_exclusive++;
		}
		addr += (uint64_t)n * page_size;
	}
	if (not_exclusive) {
		long zero = ar_pagemap_zero_pages(fd, start, end);

		/* Without PAGEMAP_SCAN, err on the side of reporting. */
		if (zero < 0 || not_exclusive > zero)
			run->blockers |= AR_BLOCK_SHARED;
	}
	return 0;
}

int ar_analyze_pagemap(struct ar_ctx *ctx, struct ar_proc *proc, int pagemap_fd)
{
	uint64_t page_size = ar_page_size();
	size_t i;

	for (i = 0; i < proc->nruns; i++) {
		struct ar_run *run = &proc->runs[i];
		uint64_t start = run->start, end = run->end;
		int ret;

		if (proc->read_until) {
			start = start > proc->read_from ? start : proc->read_from;
			end = end < proc->read_until ? end : proc->read_until;
			if (start >= end)
				continue;
		}
		ret = scan_run_pagemap(pagemap_fd, run, start, end, page_size);

		if (ret)
			return ar_fail_errno(ctx, -ret,
					     "pid %d: cannot read pagemap",
					     (int)proc->sum.pid);
	}
	return 0;
}
