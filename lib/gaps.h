/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Free address ranges in a target process (internal API): a copy of its
 * mappings, and the gap picked in it, confirmed free with the kernel.
 */
#ifndef ANONREMAP_GAPS_H
#define ANONREMAP_GAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

/* The process's mappings as /proc/PID/maps listed them, for finding gaps. */
struct ar_gaps {
	struct ar_ctx *ctx;
	pid_t pid;
	struct ar_gap_range {
		uint64_t start, end;
	} *r;
	size_t n, cap;		/* n == 0: no copy, read it when needed */
	uint64_t stack;		/* start of [stack], or 0 */
	int mapsfd;		/* /proc/PID/maps, for PROCMAP_QUERY */
};

/* An empty copy for process pid; ar_gaps_free() when done. */
void ar_gaps_init(struct ar_gaps *g, struct ar_ctx *ctx, pid_t pid);
void ar_gaps_free(struct ar_gaps *g);

/* Read /proc/PID/maps into g: the ranges in address order. */
int ar_gaps_read(struct ar_gaps *g);

/* g from the caller's copy of the mappings (vmas[0..n), address order). */
int ar_gaps_copy(struct ar_gaps *g, const struct ar_vma *vmas, size_t n);

/*
 * A free range of len bytes, with a free page on each side, placed so that
 * addr % align == phase (align 0: a page), into *addr; noted as taken in
 * g.  -ENOMEM when none fits.
 */
int ar_gaps_find(struct ar_gaps *g, uint64_t len, uint64_t align,
		 uint64_t phase, uint64_t *addr);

#endif /* ANONREMAP_GAPS_H */
