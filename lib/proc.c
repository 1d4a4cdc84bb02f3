// SPDX-License-Identifier: LGPL-2.1-or-later
/* Reading one process: identity, checks, smaps, analysis. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "pagemap.h"

#define PF_KTHREAD 0x00200000	/* include/linux/sched.h */

/*
 * A sysctl read for every process would be a fifth of the system calls of
 * a scan of all processes; a second-old value is recent enough.
 */
size_t ar_max_map_count(struct ar_ctx *ctx)
{
	struct timespec now;
	char buf[32];

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (ctx->max_map_count_read.tv_sec &&
	    now.tv_sec - ctx->max_map_count_read.tv_sec < 1)
		return ctx->max_map_count;
	if (ar_read_small_file("/proc/sys/vm/max_map_count", buf, sizeof(buf)) <= 0)
		return 0;
	ctx->max_map_count = strtoul(buf, NULL, 10);
	ctx->max_map_count_read = now;
	return ctx->max_map_count;
}

/*
 * Refuse what has no user address space: zombies and kernel threads.  When
 * comm is not NULL it is filled from the stat line (and starttime, when
 * not NULL, from field 22).
 */
static int check_state(struct ar_ctx *ctx, int dirfd, pid_t pid, char *comm,
		       size_t comm_size, uint64_t *starttime)
{
	struct ar_stat st;
	int n = ar_stat_read_at(dirfd, &st);

	if (n == -ENOENT || n == -ESRCH)
		return ar_fail(ctx, ESRCH, "pid %d: no such process", (int)pid);
	if (n < 0)
		return ar_fail_errno(ctx, -n, "pid %d: cannot read /proc/%d/stat",
				     (int)pid, (int)pid);
	if (n < AR_STAT_STARTTIME)
		return ar_fail(ctx, EIO, "pid %d: cannot parse /proc/%d/stat",
			       (int)pid, (int)pid);
	if (st.state == 'Z' || st.state == 'X')
		return ar_fail(ctx, ESRCH, "pid %d: process is a zombie", (int)pid);
	if (st.flags & PF_KTHREAD)
		return ar_fail(ctx, EINVAL,
			       "pid %d: kernel thread has no user memory", (int)pid);
	if (comm)
		snprintf(comm, comm_size, "%s", st.comm);
	if (starttime)
		*starttime = st.starttime;
	return 0;
}

static int permission_error(struct ar_ctx *ctx, pid_t pid, int err)
{
	char why[400];

	if (ar_access_why_not(pid, AR_ACCESS_READ, why, sizeof(why)))
		return ar_fail(ctx, err, "pid %d: permission denied: reading its "
			       "memory map needs ptrace read access: %s",
			       (int)pid, why);
	return ar_fail(ctx, err,
		       "pid %d: permission denied: reading its memory map needs "
		       "ptrace read access (same user and dumpable, or "
		       "CAP_SYS_PTRACE)", (int)pid);
}

static int proc_alloc(struct ar_ctx *ctx, struct ar_proc **procp)
{
	*procp = calloc(1, sizeof(**procp));
	if (!*procp)
		return ar_fail(ctx, ENOMEM, "out of memory");
	(*procp)->sum.max_map_count = ar_max_map_count(ctx);
	return 0;
}

static int read_blockers(struct ar_ctx *ctx, int dirfd, struct ar_proc *proc)
{
	int fd, ret;

	if (!proc->nruns)
		return 0;
	fd = ar_pagemap_open_at(dirfd);
	if (fd == -EACCES || fd == -EPERM)
		return permission_error(ctx, proc->sum.pid, -fd);
	if (fd < 0)
		return ar_fail_errno(ctx, -fd, "pid %d: cannot open pagemap",
				     (int)proc->sum.pid);
	ret = ar_analyze_pagemap(ctx, proc, fd);
	close(fd);
	return ret ? ret : ar_read_io_uring_pins(ctx, dirfd, proc);
}

/* smaps, or maps (AR_READ_MAPS_ONLY): the same lines without the fields. */
static int read_smaps(struct ar_ctx *ctx, int dirfd, pid_t pid,
		      const char *file, struct ar_proc *proc)
{
	char what[64];
	int fd, ret;

	fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM)
			return permission_error(ctx, pid, errno);
		if (errno == ENOENT || errno == ESRCH)
			return ar_fail(ctx, ESRCH, "pid %d: no such process", (int)pid);
		return ar_fail_errno(ctx, errno, "pid %d: cannot open %s",
				     (int)pid, file);
	}
	snprintf(what, sizeof(what), "/proc/%d/%s", (int)pid, file);
	ret = ar_smaps_parse_fd(ctx, fd, what, proc);
	close(fd);
	if (ret == -EACCES || ret == -EPERM)
		return permission_error(ctx, pid, -ret);
	if (ret == -ESRCH)
		return ar_fail(ctx, ESRCH, "pid %d: process exited", (int)pid);
	return ret;
}

AR_EXPORT int ar_proc_read(struct ar_ctx *ctx, pid_t pid, unsigned int flags,
			   struct ar_proc **procp)
{
	return ar_proc_read_part(ctx, pid, flags, 0, 0, procp);
}

void ar_proc_target(const struct ar_proc *proc, struct ar_target *t)
{
	t->pid = proc->sum.pid;
	t->starttime = proc->starttime;
	snprintf(t->comm, sizeof(t->comm), "%s", proc->sum.comm);
}

/* A part of process pid; known, when not NULL, is who it is (not read). */
static int read_part(struct ar_ctx *ctx, pid_t pid,
		     const struct ar_target *known, unsigned int flags,
		     uint64_t from, uint64_t until, struct ar_proc **procp)
{
	struct ar_proc *proc = NULL;
	char path[32];
	int dirfd, ret;

	*procp = NULL;
	if (pid <= 0)
		return ar_fail(ctx, EINVAL, "pid %d: not a process id", (int)pid);
	/* Everything below is read through this directory: a reused pid
	 * cannot slip in between two reads. */
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		if (errno == ENOENT)
			return ar_fail(ctx, ESRCH, "pid %d: no such process", (int)pid);
		return ar_fail_errno(ctx, errno, "pid %d: cannot open %s", (int)pid,
				     path);
	}
	ret = proc_alloc(ctx, &proc);
	if (ret)
		goto out;
	if (known) {
		snprintf(proc->sum.comm, sizeof(proc->sum.comm), "%s",
			 known->comm);
		proc->starttime = known->starttime;
	} else {
		ret = check_state(ctx, dirfd, pid, proc->sum.comm,
				  sizeof(proc->sum.comm), &proc->starttime);
	}
	if (ret)
		goto out;
	proc->sum.pid = pid;
	proc->read_from = from;
	proc->read_until = until;
	ret = read_smaps(ctx, dirfd, pid,
			 flags & AR_READ_MAPS_ONLY ? "maps" : "smaps", proc);
	if (ret)
		goto out;
	if (!proc->nvmas) {
		/* Exited or became a zombie while we read. */
		ret = check_state(ctx, dirfd, pid, NULL, 0, NULL);
		if (!ret)
			ret = ar_fail(ctx, ESRCH, "pid %d: process has no memory map"
				      " (exiting)", (int)pid);
		goto out;
	}
	ret = ar_analyze(ctx, proc);
	if (!ret && (flags & AR_READ_BLOCKERS) && !(flags & AR_READ_MAPS_ONLY))
		ret = read_blockers(ctx, dirfd, proc);
out:
	close(dirfd);
	if (ret) {
		ar_proc_free(proc);
		return ret;
	}
	*procp = proc;
	return 0;
}

int ar_proc_read_part(struct ar_ctx *ctx, pid_t pid, unsigned int flags,
		      uint64_t from, uint64_t until, struct ar_proc **procp)
{
	return read_part(ctx, pid, NULL, flags, from, until, procp);
}

int ar_proc_read_stopped(struct ar_ctx *ctx, const struct ar_target *t,
			 unsigned int flags, uint64_t from, uint64_t until,
			 struct ar_proc **procp)
{
	return read_part(ctx, t->pid, t, flags, from, until, procp);
}

/* Whether the kernel's answer q describes vma as proc read it. */
static bool same_vma(const struct ar_procmap_query *q, const char *name,
		     const struct ar_vma *vma)
{
	uint64_t flags = (vma->perms[0] == 'r' ? AR_PROCMAP_READABLE : 0) |
			 (vma->perms[1] == 'w' ? AR_PROCMAP_WRITABLE : 0) |
			 (vma->perms[2] == 'x' ? AR_PROCMAP_EXECUTABLE : 0) |
			 (vma->perms[3] == 's' ? AR_PROCMAP_SHARED : 0);

	return q->vma_start == vma->start && q->vma_end == vma->end &&
	       (q->vma_flags & 0xf) == flags && q->vma_offset == vma->offset &&
	       (uint32_t)q->inode == vma->inode && !strcmp(name, vma->name);
}

int ar_proc_part_unchanged(struct ar_ctx *ctx, const struct ar_proc *proc)
{
	char path[64], name[PATH_MAX];
	size_t i = 0;
	int fd, ret = 1;

	if (!proc->read_until || !proc->nvmas)
		return ar_fail(ctx, EINVAL, "not a part of a process");
	/* The VMA before the part too: it decides where the run begins. */
	while (i + 1 < proc->nvmas && proc->vmas[i + 1].end <= proc->read_from)
		i++;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)proc->sum.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ar_fail_errno(ctx, errno, "cannot open %s", path);
	for (; i < proc->nvmas && ret == 1; i++) {
		struct ar_procmap_query q = {
			.size = sizeof(q),
			.query_flags = AR_PROCMAP_COVERING_OR_NEXT_VMA,
			.query_addr = proc->vmas[i].start,
			.vma_name_size = sizeof(name),
			.vma_name_addr = (uintptr_t)name,
		};

		if (ioctl(fd, AR_PROCMAP_QUERY, &q)) {
			ret = errno == ENOENT ? 0 :
			      ar_fail_errno(ctx, errno, "PROCMAP_QUERY on %s",
					    path);
			break;
		}
		if (!q.vma_name_size)
			name[0] = '\0';
		ret = same_vma(&q, name, &proc->vmas[i]) ? 1 : 0;
		/* No VMA appeared between this one and the next. */
		if (ret && i + 1 < proc->nvmas && q.vma_end < proc->vmas[i + 1].start) {
			q.query_addr = q.vma_end;
			q.vma_name_size = sizeof(name);
			if (ioctl(fd, AR_PROCMAP_QUERY, &q))
				ret = errno == ENOENT ? 0 : -errno;
			else
				ret = q.vma_start == proc->vmas[i + 1].start;
			if (ret < 0)
				ret = ar_fail_errno(ctx, -ret, "PROCMAP_QUERY on %s",
						    path);
		}
	}
	close(fd);
	return ret;
}

int ar_proc_rescan_blockers(struct ar_ctx *ctx, struct ar_proc *proc)
{
	char path[32];
	int dirfd, ret;

	snprintf(path, sizeof(path), "/proc/%d", (int)proc->sum.pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return ar_fail_errno(ctx, errno, "pid %d: cannot open %s",
				     (int)proc->sum.pid, path);
	ret = read_blockers(ctx, dirfd, proc);
	close(dirfd);
	return ret;
}

AR_EXPORT int ar_proc_parse_file(struct ar_ctx *ctx, const char *path,
				 struct ar_proc **procp)
{
	struct ar_proc *proc;
	int fd, ret;

	*procp = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ar_fail_errno(ctx, errno, "cannot open %s", path);
	ret = proc_alloc(ctx, &proc);
	if (!ret)
		ret = ar_smaps_parse_fd(ctx, fd, path, proc);
	if (!ret)
		ret = ar_analyze(ctx, proc);
	close(fd);
	if (ret) {
		ar_proc_free(proc);
		return ret;
	}
	*procp = proc;
	return 0;
}

AR_EXPORT void ar_proc_free(struct ar_proc *proc)
{
	if (!proc)
		return;
	if (proc->vmas_mapped)
		munmap(proc->vmas, proc->vmas_cap * sizeof(*proc->vmas));
	else
		free(proc->vmas);
	free(proc->names);
	free(proc->runs);
	free(proc);
}

AR_EXPORT void ar_proc_summary(const struct ar_proc *proc, struct ar_summary *sum)
{
	*sum = proc->sum;
}

AR_EXPORT size_t ar_proc_nruns(const struct ar_proc *proc)
{
	return proc->nruns;
}

AR_EXPORT const struct ar_run *ar_proc_run(const struct ar_proc *proc, size_t i)
{
	return i < proc->nruns ? &proc->runs[i] : NULL;
}

AR_EXPORT size_t ar_proc_nvmas(const struct ar_proc *proc)
{
	return proc->nvmas;
}

AR_EXPORT const struct ar_vma *ar_proc_vma(const struct ar_proc *proc, size_t i)
{
	return i < proc->nvmas ? &proc->vmas[i] : NULL;
}

AR_EXPORT const char *ar_blocker_name(unsigned int blocker)
{
	switch (blocker) {
	case AR_BLOCK_SHARED:
		return "shared";
	case AR_BLOCK_UFFD:
		return "uffd";
	case AR_BLOCK_GUARD:
		return "guard";
	case AR_BLOCK_PINNED:
		return "pinned";
	}
	return NULL;
}
