/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one reader of /proc/PID/pagemap: its entry bits, opening it, its
 * entries for a range, and the PAGEMAP_SCAN ioctl on it.
 */
#ifndef ANONREMAP_PAGEMAP_H
#define ANONREMAP_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

/* Bits of an entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_MMAP_EXCLUSIVE (UINT64_C(1) << 56)
#define PM_GUARD_REGION (UINT64_C(1) << 58)
#define PM_FILE (UINT64_C(1) << 61)
#define PM_SWAP (UINT64_C(1) << 62)
#define PM_PRESENT (UINT64_C(1) << 63)

/* Process pid's pagemap: the fd, or a negative errno with its message. */
int ar_pagemap_open(struct ar_ctx *ctx, pid_t pid);
/* The pagemap of a /proc/PID directory: the fd, or -errno. */
int ar_pagemap_open_at(int dirfd);
/*
 * The entries of the n pages from addr into entries: 0, or -errno (-EIO
 * when the file ends first).  No message: callers word it.
 */
int ar_pagemap_read(int fd, uint64_t addr, size_t n, uint64_t *entries);
/*
 * The pages of [start, end) that are the shared zero page, by PAGEMAP_SCAN
 * (Linux 6.7): present and not exclusive, yet shared with no process in a
 * way that blocks a move.  -errno when the kernel cannot tell.
 */
long ar_pagemap_zero_pages(int fd, uint64_t start, uint64_t end);

#endif /* ANONREMAP_PAGEMAP_H */
