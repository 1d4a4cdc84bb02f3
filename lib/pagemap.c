// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading /proc/PID/pagemap: one entry per page, at the page's number
 * times 8; and asking it for the shared zero page with PAGEMAP_SCAN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch.h"
#include "pagemap.h"

/* PAGEMAP_SCAN (Linux 6.7); Debian 12's headers predate it. */
#ifndef PAGEMAP_SCAN
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

struct page_region {
	uint64_t start, end, categories;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PFNZERO (1 << 5)
#endif

int ar_pagemap_open(struct ar_ctx *ctx, pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? ar_fail_errno(ctx, errno, "cannot open %s", path) : fd;
}

int ar_pagemap_open_at(int dirfd)
{
	int fd = openat(dirfd, "pagemap", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int ar_pagemap_read(int fd, uint64_t addr, size_t n, uint64_t *entries)
{
	const size_t page = ar_page_size();
	size_t done = 0;

	while (done < n) {
		ssize_t got = pread(fd, entries + done,
				    (n - done) * sizeof(*entries),
				    (off_t)((addr / page + done) * sizeof(*entries)));

		if (got < 0)
			return -errno;
		if (got == 0 || got % sizeof(*entries))
			return -EIO;
		done += (size_t)got / sizeof(*entries);
	}
	return 0;
}

long ar_pagemap_zero_pages(int fd, uint64_t start, uint64_t end)
{
	struct page_region regions[64];
	struct pm_scan_arg arg;
	long pages = 0;

	while (start < end) {
		int i, n;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)regions;
		arg.vec_len = AR_ARRAY_SIZE(regions);
		arg.category_mask = PAGE_IS_PFNZERO;
		arg.return_mask = PAGE_IS_PFNZERO;
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++)
			pages += (long)((regions[i].end - regions[i].start) /
					ar_page_size());
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return pages;
}
