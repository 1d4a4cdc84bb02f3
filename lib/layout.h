/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a process's VMAs are, from /proc/PID/maps (internal API): the one
 * reader of its lines for the library's address-level needs, and the
 * layout of the VMAs that meet some address ranges.
 */
#ifndef ANONREMAP_LAYOUT_H
#define ANONREMAP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "internal.h"

/* /proc/PID/maps being read, one line at a time. */
struct ar_maps {
	struct ar_ctx *ctx;
	FILE *f;
	char *line;
	size_t cap;
	char path[32];
};

/* /proc/PID/maps as a bare descriptor (PROCMAP_QUERY), or -1 (errno). */
int ar_maps_open_fd(pid_t pid);

/* Open /proc/PID/maps for ar_maps_next(); ar_maps_close() when done. */
int ar_maps_open(struct ar_ctx *ctx, pid_t pid, struct ar_maps *m);
/*
 * The next line into *l: 1, or 0 at the end, or a negative errno.  Lines
 * that do not parse are skipped.
 */
int ar_maps_next(struct ar_maps *m, struct ar_maps_line *l);
void ar_maps_close(struct ar_maps *m);

/* The target's VMAs that meet some address ranges, in address order. */
struct ar_heal_layout {
	uint64_t (*v)[2];	/* start, end */
	size_t n, cap;
};

/* Read from /proc/PID/maps the VMAs meeting any of ranges[0..n). */
int ar_heal_layout_read(struct ar_ctx *ctx, pid_t pid,
			const uint64_t (*ranges)[2], size_t n,
			struct ar_heal_layout *l);
void ar_heal_layout_free(struct ar_heal_layout *l);

/* Index of the first VMA of l ending after addr (l->n if none). */
size_t ar_heal_layout_find(const struct ar_heal_layout *l, uint64_t addr);

enum ar_heal_range {
	AR_RANGE_FREE,		/* no VMA meets it */
	AR_RANGE_EXACT,		/* exactly one VMA */
	AR_RANGE_OTHER,		/* part of one, or several */
};

/* What [s, e) is in l, which must have been read over it. */
enum ar_heal_range ar_heal_range_state(const struct ar_heal_layout *l,
				       uint64_t s, uint64_t e);

/* What a piece of a healed run is now, for splitting it back. */
enum ar_heal_piece {
	AR_PIECE_DONE,		/* a VMA of its own, or will be once every
				   piece before it in its VMA is split off */
	AR_PIECE_INSIDE,	/* inside a VMA that goes on after it */
	AR_PIECE_FREE,		/* nothing mapped at its start */
	AR_PIECE_ACROSS,	/* more than one VMA meets it */
};

/* What [s, e) is in l, which must have been read over it. */
enum ar_heal_piece ar_heal_piece_state(const struct ar_heal_layout *l,
				       uint64_t s, uint64_t e);

#endif /* ANONREMAP_LAYOUT_H */
