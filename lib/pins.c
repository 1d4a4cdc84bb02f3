// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Pinned pages that a process shows: io_uring fixed buffers.
 *
 * A pinned page (FOLL_PIN: DMA, io_uring registered buffers) cannot move:
 * UFFDIO_MOVE refuses it, MREMAP_RELOCATE_ANON leaves it unrelocated, and
 * a copy would leave the pin on the old page, where the process's later
 * I/O would go unseen.  Linux shows no pin to another process, except that
 * an io_uring lists its registered buffers in the fdinfo of its fd
 * ("UserBufs:", then "N: 0xADDR/LEN" each, or "N: <none>" for a slot
 * that a sparse table leaves empty).  A process with an io_uring
 * has its rings mapped ("anon_inode:[io_uring]" in maps), unless it made
 * them with IORING_SETUP_NO_MMAP: only then are its fds looked at.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static bool maps_io_uring(const struct ar_proc *proc)
{
	for (size_t i = 0; i < proc->nvmas; i++)
		if (strstr(proc->vmas[i].name, "[io_uring]"))
			return true;
	return false;
}

/* Runs of proc that meet [start, start + len) are blocked as pinned. */
static void block_pinned(struct ar_proc *proc, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < proc->nruns; i++)
		if (proc->runs[i].start < start + len &&
		    proc->runs[i].end > start)
			proc->runs[i].blockers |= AR_BLOCK_PINNED;
}

/* The buffers listed in one io_uring's fdinfo. */
static void read_user_bufs(int dirfd, int fd, struct ar_proc *proc)
{
	char path[64], line[128];
	bool in_bufs = false;
	FILE *f;
	int ffd;

	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	ffd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		return;		/* closed meanwhile */
	f = fdopen(ffd, "re");
	if (!f) {
		close(ffd);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr, len;

		if (!strncmp(line, "UserBufs:", 9)) {
			in_bufs = true;
			continue;
		}
		if (!in_bufs)
			continue;
		/* "N: 0xADDR/LEN", or "N: <none>": a slot left empty. */
		if (sscanf(line, " %*u: 0x%llx/%llu", &addr, &len) == 2) {
			if (len)
				block_pinned(proc, addr, len);
		} else if (!strstr(line, ": <none>")) {
			break;
		}
	}
	fclose(f);
}

int ar_read_io_uring_pins(struct ar_ctx *ctx, int dirfd, struct ar_proc *proc)
{
	char target[64];
	struct dirent *de;
	DIR *d;
	int fdd;

	if (!proc->nruns || !maps_io_uring(proc))
		return 0;
	fdd = openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fdd < 0 || !(d = fdopendir(fdd))) {
		int err = errno;

		if (fdd >= 0)
			close(fdd);
		return ar_fail_errno(ctx, err, "pid %d: cannot read its file "
				     "descriptors (to find io_uring buffers)",
				     (int)proc->sum.pid);
	}
	while ((de = readdir(d))) {
		ssize_t n = readlinkat(fdd, de->d_name, target,
				       sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, "anon_inode:[io_uring]"))
			read_user_bufs(dirfd, atoi(de->d_name), proc);
	}
	closedir(d);
	return 0;
}
