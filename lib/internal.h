/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Definitions shared by the library's modules; not installed. */
#ifndef ANONREMAP_INTERNAL_H
#define ANONREMAP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <time.h>

#include "anonremap.h"
#include "procfs.h"

#define AR_EXPORT __attribute__((visibility("default")))
#define AR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/*
 * A system call's result from -AR_MAX_ERRNO up to -1 is an error (the
 * kernel's MAX_ERRNO): below, it is an address.
 */
#define AR_MAX_ERRNO 4096

struct ar_ctx {
	char errmsg[512];
	/* vm.max_map_count, re-read when older than a second */
	size_t max_map_count;
	struct timespec max_map_count_read;
};

/* vm.max_map_count, 0 when it cannot be read. */
size_t ar_max_map_count(struct ar_ctx *ctx);

/*
 * Record a failure: the message is the formatted text; ar_fail_errno()
 * appends ": strerror(err)".  Both return -err (err is a positive errno)
 * so callers can write "return ar_fail(ctx, EINVAL, ...)".
 */
int ar_fail(struct ar_ctx *ctx, int err, const char *fmt, ...) AR_PRINTF(3, 4);
int ar_fail_errno(struct ar_ctx *ctx, int err, const char *fmt, ...)
	AR_PRINTF(3, 4);

/* A parsed smaps file and its analysis (maps.c fills, analyze.c derives). */
struct ar_proc {
	struct ar_summary sum;
	/* Its start time (/proc/PID/stat): which process had the pid. */
	uint64_t starttime;
	struct ar_vma *vmas;	/* see grow_vma_table() */
	size_t nvmas, vmas_cap;
	bool vmas_mapped;	/* vmas is a mapping, not an allocation */
	/*
	 * Every name lives in one pool; while parsing, ar_vma.name holds an
	 * offset into it because the pool may move when it grows.
	 */
	char *names;
	size_t names_len, names_cap;
	struct ar_run *runs;
	size_t nruns;
	/*
	 * A part only (ar_proc_read_part()): smaps is read up to and
	 * including the first VMA at or after read_until, and pagemap
	 * blockers are looked for in [read_from, read_until) only.  0: all.
	 */
	uint64_t read_from, read_until;
};

/*
 * ar_proc_read() flag for the library's own use: read /proc/PID/maps
 * instead of smaps, at a fifth of the cost.  Every VmFlags and size is
 * then 0, so the "splits" found are the boundaries between touching
 * anonymous VMAs of the same protections and name: every split is one,
 * not every one is a split.
 */
#define AR_READ_MAPS_ONLY (1u << 16)

/*
 * Who a target is, as the first read of it found it: read once, then
 * passed down, so that what is read while it is stopped (by us: it cannot
 * exit or be another process then) need not ask again.
 */
struct ar_target {
	pid_t pid;
	uint64_t starttime;	/* /proc/PID/stat field 22: which process */
	char comm[64];
};

/* The identity of the process proc was read from. */
void ar_proc_target(const struct ar_proc *proc, struct ar_target *t);

/*
 * ar_proc_read() of a part of the process: the VMAs up to the first one at
 * or after until (and all before from, which smaps lists first), blockers
 * of [from, until).  For a stopped process, where reading costs pause: the
 * kernel writes smaps only as far as it is read.
 */
int ar_proc_read_part(struct ar_ctx *ctx, pid_t pid, unsigned int flags,
		      uint64_t from, uint64_t until, struct ar_proc **procp);
/*
 * The same of the process t, which the caller holds stopped: its stat is
 * not read again, the identity comes from t.
 */
int ar_proc_read_stopped(struct ar_ctx *ctx, const struct ar_target *t,
			 unsigned int flags, uint64_t from, uint64_t until,
			 struct ar_proc **procp);

/*
 * Whether the VMAs of proc, a part read by ar_proc_read_part() (the last
 * one before the part included), are still exactly what the process has:
 * same boundaries, protections, offsets, files and names, and nothing in
 * between.  Asked of the kernel VMA by VMA (PROCMAP_QUERY, Linux 6.11), so
 * the cost grows with the part, not with the process.  1 yes, 0 no, or a
 * negative errno (e.g. -ENOTTY: a kernel that cannot answer).  VmFlags
 * are not seen: a flag change on exactly whole VMAs goes unnoticed.
 */
int ar_proc_part_unchanged(struct ar_ctx *ctx, const struct ar_proc *proc);
/* Look for pagemap blockers in proc's part again (they only add up). */
int ar_proc_rescan_blockers(struct ar_ctx *ctx, struct ar_proc *proc);

/* One line of /proc/PID/maps, or a VMA's first line in smaps. */
struct ar_maps_line {
	uint64_t start, end, offset, inode;
	uint32_t major, minor;
	char perms[5];		/* "rw-p" */
	const char *name;	/* into the line parsed: name_len bytes */
	size_t name_len;
};

/*
 * "start-end perms offset major:minor inode [name]", the len bytes at s
 * without their newline, into *l: the one parser of that format (maps.c),
 * by hand because sscanf() costs milliseconds at 10 000 VMAs.  False when
 * the line is not one.
 */
bool ar_maps_parse_line(const char *s, size_t len, struct ar_maps_line *l);

/* Parse an open smaps file into proc; line numbers appear in errors. */
int ar_smaps_parse_fd(struct ar_ctx *ctx, int fd, const char *what,
		      struct ar_proc *proc);
/* Split and run analysis over proc->vmas; fills runs and the summary. */
int ar_analyze(struct ar_ctx *ctx, struct ar_proc *proc);
/* Add pagemap-visible blockers (shared pages, guard regions) to runs. */
int ar_analyze_pagemap(struct ar_ctx *ctx, struct ar_proc *proc, int pagemap_fd);
/*
 * Block (AR_BLOCK_PINNED) the runs of proc that hold an io_uring's fixed
 * buffers; dirfd is /proc/PID.  See pins.c.
 */
int ar_read_io_uring_pins(struct ar_ctx *ctx, int dirfd, struct ar_proc *proc);

/* PROCMAP_QUERY on /proc/PID/maps (Linux 6.11), newer than our headers. */
struct ar_procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define AR_PROCMAP_QUERY _IOWR('f', 17, struct ar_procmap_query)
#define AR_PROCMAP_READABLE 0x01
#define AR_PROCMAP_WRITABLE 0x02
#define AR_PROCMAP_EXECUTABLE 0x04
#define AR_PROCMAP_SHARED 0x08
#define AR_PROCMAP_COVERING_OR_NEXT_VMA 0x10

/*
 * CLOCK_MONOTONIC in nanoseconds: the one clock of stop times, pauses and
 * heal timings, which are compared with each other across modules.
 */
uint64_t ar_now_ns(void);

/* Whether cap (CAP_*) is in our effective set; no when it cannot tell. */
bool ar_have_cap(int cap);

enum ar_access {
	AR_ACCESS_READ,		/* its /proc files: ptrace read access */
	AR_ACCESS_ATTACH,	/* ptrace, before trying */
	AR_ACCESS_REFUSED,	/* ptrace, once the kernel refused: the
				   target may be our descendant, so
				   ptrace_scope=1 is blamed only now */
};

/*
 * Why kernel.yama.ptrace_scope scope refuses mode access (attaching; it
 * has no say over reading), in words into why; false when it does not.
 * Scope 3 refuses even CAP_SYS_PTRACE.
 */
bool ar_yama_why_not(int scope, enum ar_access mode, bool cap_sys_ptrace,
		     char *why, size_t len);

/*
 * Why we may not have mode access to process pid, as far as can be told
 * from outside (CAP_SYS_PTRACE, ptrace_scope, uids, gids, dumpable), in
 * words into why; false when nothing explains it.
 */
bool ar_access_why_not(pid_t pid, enum ar_access mode, char *why, size_t len);

/* Read a whole small file (/proc/PID/comm, sysctls) into buf, NUL-ended. */
int ar_read_small_file(const char *path, char *buf, size_t size);
/* The same, path relative to dirfd (a /proc/PID directory). */
int ar_read_small_file_at(int dirfd, const char *path, char *buf, size_t size);

#endif /* ANONREMAP_INTERNAL_H */
