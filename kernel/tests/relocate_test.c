// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of mremap(MREMAP_RELOCATE_ANON / MREMAP_MUST_RELOCATE_ANON).
 *
 * Every test maps its memory inside a PROT_NONE reservation, so that it
 * decides exactly which VMAs are neighbours, and judges merging from
 * /proc/self/maps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <time.h>
#include <linux/io_uring.h>
#include <linux/mman.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"

#define PMD_SIZE	(2UL << 20)

static unsigned long page_size;

static void *sys_mremap(void *old, unsigned long old_len, unsigned long new_len,
			unsigned long flags, void *new)
{
	return (void *)syscall(__NR_mremap, old, old_len, new_len, flags, new);
}

/* A PROT_NONE reservation of len bytes aligned to align. */
static char *reserve(unsigned long len, unsigned long align)
{
	char *p = mmap(NULL, len + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned long start;

	if (p == MAP_FAILED)
		return NULL;
	start = ((unsigned long)p + align - 1) & ~(align - 1);
	if (start > (unsigned long)p)
		munmap(p, start - (unsigned long)p);
	munmap((char *)start + len, (unsigned long)p + align - start);
	return (char *)start;
}

/* Map len bytes read-write at addr (inside a reservation). */
static char *map_at(char *addr, unsigned long len)
{
	char *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Word i of a range filled with seed holds a value unique to (seed, i). */
static uint32_t pattern(unsigned int seed, unsigned long off)
{
	return seed * 2654435761u + (uint32_t)off;
}

static void fill(char *p, unsigned long len, unsigned int seed)
{
	unsigned long i;

	for (i = 0; i < len; i += sizeof(uint32_t))
		*(uint32_t *)(p + i) = pattern(seed, i);
}

/* p holds bytes [off, off + len) of a range filled with seed. */
static bool check_off(const char *p, unsigned long len, unsigned int seed,
		      unsigned long off)
{
	unsigned long i;

	for (i = 0; i < len; i += sizeof(uint32_t))
		if (*(const uint32_t *)(p + i) != pattern(seed, off + i))
			return false;
	return true;
}

static bool check(const char *p, unsigned long len, unsigned int seed)
{
	return check_off(p, len, seed, 0);
}

/* Number of accessible VMAs (not reservations) in [start, start + len). */
static int count_vmas(char *start, unsigned long len)
{
	unsigned long lo = (unsigned long)start, hi = lo + len, s, e;
	char line[512], perms[8];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 &&
		    s < hi && e > lo && strncmp(perms, "---", 3))
			n++;
	fclose(f);
	return n;
}

/* Bounds of the VMA containing addr. */
static bool vma_bounds(char *addr, unsigned long *start, unsigned long *end)
{
	unsigned long a = (unsigned long)addr, s, e;
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s <= a && a < e) {
			*start = s;
			*end = e;
			found = true;
		}
	fclose(f);
	return found;
}

/* The value in kB of an smaps field of the VMA containing addr, or -1. */
static long smaps_kb(char *addr, const char *field)
{
	unsigned long a = (unsigned long)addr, s, e;
	size_t flen = strlen(field);
	bool in = false;
	char line[512];
	long val = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* Only VMA header lines start with "start-end". */
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = s <= a && a < e;
			continue;
		}
		if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			val = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	long v;

	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) <= 0)
		v = -1;
	else
		v = strtol(buf, NULL, 10);
	close(fd);
	return v;
}

static bool write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

#define RELOC		(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_RELOCATE_ANON)
#define MUST		(RELOC | MREMAP_MUST_RELOCATE_ANON)
#define PLAIN		(MREMAP_MAYMOVE | MREMAP_FIXED)

TEST(invalid_flags)
{
	char *r = reserve(4 * page_size, page_size);
	char *p = map_at(r, page_size);
	int bad[] = {
		MREMAP_RELOCATE_ANON,
		MREMAP_MUST_RELOCATE_ANON,
		MREMAP_RELOCATE_ANON | MREMAP_MUST_RELOCATE_ANON,
		MREMAP_FIXED | MREMAP_RELOCATE_ANON,
		MREMAP_MAYMOVE | MREMAP_RELOCATE_ANON | 32,
		MREMAP_DONTUNMAP | MREMAP_RELOCATE_ANON,
	};
	unsigned int i;

	ASSERT_NE(p, NULL);
	p[0] = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(sys_mremap(p, page_size, page_size, bad[i],
				     r + 2 * page_size), MAP_FAILED) {
			TH_LOG("flags %#x", bad[i]);
		}
		EXPECT_EQ(errno, EINVAL);
	}
	/* Without a move, the old mapping is still there and intact. */
	EXPECT_EQ(p[0], 1);
	munmap(r, 4 * page_size);
}

/*
 * A faulted range moved next to a faulted neighbour merges with it only with
 * relocation.
 */
TEST(merge_after_move)
{
	unsigned long len = 4 * page_size, s, e;
	char *r = reserve(16 * page_size, page_size);
	char *a, *b, *c;

	ASSERT_NE(r, NULL);
	a = map_at(r, len);
	b = map_at(r + 8 * page_size, len);
	c = map_at(r + 13 * page_size, len / 2);
	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	ASSERT_NE(c, NULL);
	fill(a, len, 1);
	fill(b, len, 2);
	fill(c, len / 2, 3);

	/* Without the flag: two VMAs. */
	ASSERT_EQ(sys_mremap(c, len / 2, len / 2, PLAIN, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 8 * page_size), 2);
	EXPECT_TRUE(check(r + len, len / 2, 3));
	munmap(r + len, len / 2);

	/* With it: one. */
	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 8 * page_size), 1);
	ASSERT_TRUE(vma_bounds(r, &s, &e));
	EXPECT_EQ(s, (unsigned long)r);
	EXPECT_EQ(e, (unsigned long)r + 2 * len);
	EXPECT_TRUE(check(r, len, 1));
	EXPECT_TRUE(check(r + len, len, 2));

	/* The merged VMA moves as one, again relocating. */
	ASSERT_EQ(sys_mremap(r, 2 * len, 2 * len, MUST, r + 8 * page_size),
		  r + 8 * page_size);
	EXPECT_TRUE(check(r + 8 * page_size, len, 1));
	EXPECT_TRUE(check(r + 8 * page_size + len, len, 2));
	munmap(r, 16 * page_size);
}

/* 1000 pages moved one by one into reverse order. */
TEST(reverse_order_heals)
{
	const unsigned long n = 1000;
	unsigned long len = n * page_size, i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		unsigned long flags = pass ? MUST : PLAIN;
		char *r = reserve(2 * len, page_size);
		char *src, *dst = r + len;

		ASSERT_NE(r, NULL);
		src = map_at(r, len);
		ASSERT_NE(src, NULL);
		for (i = 0; i < n; i++)
			fill(src + i * page_size, page_size, i);
		for (i = 0; i < n; i++)
			ASSERT_EQ(sys_mremap(src + i * page_size, page_size,
					     page_size, flags,
					     dst + (n - 1 - i) * page_size),
				  dst + (n - 1 - i) * page_size);
		EXPECT_EQ(count_vmas(dst, len), pass ? 1 : (int)n);
		for (i = 0; i < n; i++)
			ASSERT_TRUE(check(dst + (n - 1 - i) * page_size,
					  page_size, i));
		munmap(r, 2 * len);
	}
}

/* Random contents survive, byte for byte, including across a page split. */
TEST(contents_preserved)
{
	unsigned long len = 256 * page_size, i;
	char *r = reserve(2 * len, page_size);
	char *p = map_at(r, len);
	char *copy = malloc(len);

	ASSERT_NE(p, NULL);
	ASSERT_NE(copy, NULL);
	srandom(42);
	for (i = 0; i < len; i++)
		p[i] = copy[i] = random();
	/* Move the middle, then the rest, to the other half. */
	ASSERT_EQ(sys_mremap(p + 64 * page_size, 128 * page_size,
			     128 * page_size, MUST, r + len + 64 * page_size),
		  r + len + 64 * page_size);
	ASSERT_EQ(sys_mremap(p, 64 * page_size, 64 * page_size, MUST, r + len),
		  r + len);
	ASSERT_EQ(sys_mremap(p + 192 * page_size, 64 * page_size,
			     64 * page_size, MUST, r + len + 192 * page_size),
		  r + len + 192 * page_size);
	EXPECT_EQ(memcmp(r + len, copy, len), 0);
	EXPECT_EQ(count_vmas(r + len, len), 1);
	free(copy);
	munmap(r, 2 * len);
}

/* Some pages written, some only read (zero page), some never touched. */
TEST(partially_populated)
{
	unsigned long n = 64, len = n * page_size, i;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);
	volatile char sink;

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 7);
	for (i = 0; i < n; i++) {
		if (i % 3 == 0)
			fill(b + i * page_size, page_size, 100 + i);
		else if (i % 3 == 1)
			sink = b[i * page_size];
	}
	(void)sink;
	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_TRUE(check(a, len, 7));
	for (i = 0; i < n; i++) {
		char *pg = r + len + i * page_size;

		if (i % 3 == 0) {
			EXPECT_TRUE(check(pg, page_size, 100 + i));
		} else {
			EXPECT_EQ(pg[0] | pg[page_size - 1], 0);
		}
	}
	munmap(r, 4 * len);
}

/* Nothing to relocate: succeeds under MUST. */
TEST(noop_cases_succeed)
{
	unsigned long len = 8 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);
	pid_t pid;
	int status;

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	/* Never faulted. */
	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);

	/*
	 * A move that the ordinary merge already handles: the range goes
	 * back where it was. It succeeds even with a fork child alive, in
	 * which case relocation itself would be refused.
	 */
	fill(r, 2 * len, 9);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		pause();
		_exit(0);
	}
	ASSERT_EQ(sys_mremap(r + len, len, len, PLAIN, r + 3 * len),
		  r + 3 * len);
	EXPECT_EQ(sys_mremap(r + 3 * len, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_TRUE(check(r, 2 * len, 9));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	munmap(r, 4 * len);
}

/* Shared with a fork child: MUST fails, plain RELOCATE falls back. */
TEST(forked_parent_refused)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);
	int to_child[2], to_parent[2], status;
	char c = 0;
	pid_t pid;

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 11);
	fill(b, len, 12);
	ASSERT_EQ(pipe(to_child), 0);
	ASSERT_EQ(pipe(to_parent), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Wait for the parent's attempts, then check our copy. */
		if (read(to_child[0], &c, 1) != 1)
			_exit(2);
		_exit(check(b, len, 12) && check(a, len, 11) ? 0 : 1);
	}
	errno = 0;
	EXPECT_EQ(sys_mremap(b, len, len, MUST, r + len), MAP_FAILED);
	EXPECT_EQ(errno, EFAULT);
	/* Left as it was. */
	EXPECT_TRUE(check(b, len, 12));
	EXPECT_EQ(count_vmas(r, 4 * len), 2);
	/* Fallback: the move happens, without the merge. */
	ASSERT_EQ(sys_mremap(b, len, len, RELOC, r + len), r + len);
	EXPECT_TRUE(check(r + len, len, 12));
	EXPECT_EQ(count_vmas(r, 2 * len), 2);
	/* The parent's writes don't reach the child. */
	fill(r + len, len, 13);
	ASSERT_EQ(write(to_child[1], &c, 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* With the child gone, relocation works again. */
	ASSERT_EQ(sys_mremap(r + len, len, len, MUST, r + 2 * len),
		  r + 2 * len);
	ASSERT_EQ(sys_mremap(r + 2 * len, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_TRUE(check(r + len, len, 13));
	munmap(r, 4 * len);
}

/* The fork child's side: its VMA hangs off the parent's anon_vma. */
TEST(forked_child_refused)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);
	int to_parent[2], status;
	char c = 0;
	pid_t pid;

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 21);
	fill(b, len, 22);
	ASSERT_EQ(pipe(to_parent), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int bad = 0;

		errno = 0;
		if (sys_mremap(b, len, len, MUST, r + len) != MAP_FAILED ||
		    errno != EFAULT)
			bad |= 1;
		if (!check(b, len, 22) || count_vmas(r, 4 * len) != 2)
			bad |= 2;
		/* Even after writing every page (no longer shared). */
		fill(b, len, 23);
		if (sys_mremap(b, len, len, MUST, r + len) != MAP_FAILED)
			bad |= 4;
		if (sys_mremap(b, len, len, RELOC, r + len) != r + len ||
		    !check(r + len, len, 23))
			bad |= 8;
		if (write(to_parent[1], &c, 1) != 1)
			bad |= 16;
		_exit(bad);
	}
	ASSERT_EQ(read(to_parent[0], &c, 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	/* The parent's memory is untouched by the child's moves. */
	EXPECT_TRUE(check(a, len, 21));
	EXPECT_TRUE(check(b, len, 22));
	munmap(r, 4 * len);
}

static bool thp_available(void)
{
	return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

/* A PMD-mapped THP moved PMD-aligned stays a THP and merges. */
TEST(pmd_thp_relocates)
{
	char *r, *a, *b;

	if (!thp_available())
		SKIP(return, "no THP");
	r = reserve(8 * PMD_SIZE, PMD_SIZE);
	ASSERT_NE(r, NULL);
	a = map_at(r, PMD_SIZE);
	b = map_at(r + 4 * PMD_SIZE, PMD_SIZE);
	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	ASSERT_EQ(madvise(a, PMD_SIZE, MADV_HUGEPAGE), 0);
	ASSERT_EQ(madvise(b, PMD_SIZE, MADV_HUGEPAGE), 0);
	fill(a, PMD_SIZE, 31);
	fill(b, PMD_SIZE, 32);
	if (smaps_kb(b, "AnonHugePages") != 2048)
		SKIP(munmap(r, 8 * PMD_SIZE); return, "no THP allocated");

	ASSERT_EQ(sys_mremap(b, PMD_SIZE, PMD_SIZE, MUST, r + PMD_SIZE),
		  r + PMD_SIZE);
	EXPECT_EQ(count_vmas(r, 2 * PMD_SIZE), 1);
	EXPECT_EQ(smaps_kb(r, "AnonHugePages"), 4096);
	EXPECT_TRUE(check(r, PMD_SIZE, 31));
	EXPECT_TRUE(check(r + PMD_SIZE, PMD_SIZE, 32));
	munmap(r, 8 * PMD_SIZE);
}

/*
 * A THP moved to a misaligned address (split into PTEs by the move), and
 * half a THP moved (the folio must be split first).
 */
TEST(pmd_thp_misaligned)
{
	char *r, *a, *b;

	if (!thp_available())
		SKIP(return, "no THP");
	r = reserve(8 * PMD_SIZE, PMD_SIZE);
	ASSERT_NE(r, NULL);
	a = map_at(r + 4 * PMD_SIZE, PMD_SIZE);
	ASSERT_NE(a, NULL);
	ASSERT_EQ(madvise(a, PMD_SIZE, MADV_HUGEPAGE), 0);
	fill(a, PMD_SIZE, 41);
	if (smaps_kb(a, "AnonHugePages") != 2048)
		SKIP(munmap(r, 8 * PMD_SIZE); return, "no THP allocated");

	b = r + page_size;
	ASSERT_EQ(sys_mremap(a, PMD_SIZE, PMD_SIZE, MUST, b), b);
	EXPECT_TRUE(check(b, PMD_SIZE, 41));
	/* And back to aligned, with a faulted neighbour to merge with. */
	ASSERT_NE(map_at(r + 2 * PMD_SIZE - page_size, page_size), NULL);
	ASSERT_EQ(madvise(r + 2 * PMD_SIZE - page_size, page_size,
			  MADV_HUGEPAGE), 0);
	fill(r + 2 * PMD_SIZE - page_size, page_size, 42);
	ASSERT_EQ(sys_mremap(b, PMD_SIZE, PMD_SIZE, MUST, r + 2 * PMD_SIZE),
		  r + 2 * PMD_SIZE);
	EXPECT_EQ(count_vmas(r + 2 * PMD_SIZE - page_size,
			     PMD_SIZE + page_size), 1);
	EXPECT_TRUE(check(r + 2 * PMD_SIZE, PMD_SIZE, 41));

	/* Half of a fresh THP. */
	a = map_at(r + 6 * PMD_SIZE, PMD_SIZE);
	ASSERT_NE(a, NULL);
	ASSERT_EQ(madvise(a, PMD_SIZE, MADV_HUGEPAGE), 0);
	fill(a, PMD_SIZE, 43);
	ASSERT_EQ(sys_mremap(a + PMD_SIZE / 2, PMD_SIZE / 2, PMD_SIZE / 2, MUST,
			     r + 3 * PMD_SIZE), r + 3 * PMD_SIZE);
	EXPECT_EQ(count_vmas(r + 2 * PMD_SIZE, 2 * PMD_SIZE), 1);
	EXPECT_TRUE(check(a, PMD_SIZE / 2, 43));
	EXPECT_TRUE(check_off(r + 3 * PMD_SIZE, PMD_SIZE / 2, 43,
			      PMD_SIZE / 2));
	munmap(r, 8 * PMD_SIZE);
}

#define MTHP "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/"

/* PTE-mapped 64K folios: kept whole when aligned, split when not. */
TEST(pte_mapped_large_folios)
{
	unsigned long fsz = 64 * 1024, len = 16 * fsz;
	long allocs, splits;
	char *r, *a, *b;
	char old[32] = "";
	int fd;

	fd = open(MTHP "enabled", O_RDONLY);
	if (fd < 0)
		SKIP(return, "no mTHP sysfs");
	ASSERT_GT(read(fd, old, sizeof(old) - 1), 0);
	close(fd);
	/* "always inherit madvise [never]": keep the bracketed one. */
	ASSERT_NE(strchr(old, '['), NULL);
	memmove(old, strchr(old, '[') + 1, strlen(strchr(old, '[')));
	*strchr(old, ']') = 0;
	if (!write_str(MTHP "enabled", "always"))
		SKIP(return, "cannot enable 64K mTHP");

	r = reserve(4 * len, PMD_SIZE);
	ASSERT_NE(r, NULL);
	a = map_at(r, len);
	b = map_at(r + 2 * len, len);
	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	allocs = read_long(MTHP "stats/anon_fault_alloc");
	fill(a, len, 51);
	fill(b, len, 52);
	if (read_long(MTHP "stats/anon_fault_alloc") - allocs < 32) {
		write_str(MTHP "enabled", old);
		SKIP(munmap(r, 4 * len); return, "no 64K folios allocated");
	}

	splits = read_long(MTHP "stats/split");
	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_EQ(read_long(MTHP "stats/split"), splits);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_TRUE(check(r, len, 51));
	EXPECT_TRUE(check(r + len, len, 52));

	/* Starting inside a folio: that folio (and the last one) split. */
	ASSERT_EQ(sys_mremap(r + len + page_size, len - 2 * page_size,
			     len - 2 * page_size, MUST,
			     r + 3 * len + page_size), r + 3 * len + page_size);
	EXPECT_GE(read_long(MTHP "stats/split"), splits + 2);
	EXPECT_TRUE(check_off(r + 3 * len + page_size, len - 2 * page_size,
			      52, page_size));
	EXPECT_TRUE(check_off(r + len, page_size, 52, 0));
	write_str(MTHP "enabled", old);
	munmap(r, 4 * len);
}

static int io_uring_pin(void *buf, size_t len)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int fd = syscall(__NR_io_uring_setup, 1, &params);

	if (fd < 0)
		return -1;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS,
		    &iov, 1)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * io_uring fixed buffers are long-term pinned. Pinning only the last page
 * makes relocation fail after it has rewritten the others: the undo path.
 */
TEST(pinned_pages_refused)
{
	unsigned long len = 32 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);
	int fd;

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 61);
	fill(b, len, 62);
	fd = io_uring_pin(b + len - page_size, page_size);
	if (fd < 0)
		SKIP(munmap(r, 4 * len); return, "io_uring unavailable");

	errno = 0;
	EXPECT_EQ(sys_mremap(b, len, len, MUST, r + len), MAP_FAILED);
	EXPECT_EQ(errno, EFAULT);
	EXPECT_TRUE(check(b, len, 62));
	EXPECT_EQ(count_vmas(r, 4 * len), 2);
	/* The unpinned part alone relocates. */
	ASSERT_EQ(sys_mremap(b, len / 2, len / 2, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, len + len / 2), 1);
	/* The pinned part falls back to an ordinary move. */
	ASSERT_EQ(sys_mremap(b + len / 2, len / 2, len / 2, RELOC,
			     r + len + len / 2), r + len + len / 2);
	EXPECT_EQ(count_vmas(r, 2 * len), 2);
	EXPECT_TRUE(check(r + len, len, 62));
	close(fd);
	munmap(r, 4 * len);
}

TEST(mlocked)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 71);
	fill(b, len, 72);
	if (mlock(a, len) || mlock(b, len))
		SKIP(munmap(r, 4 * len); return, "mlock: %s", strerror(errno));
	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_EQ(smaps_kb(r, "Locked"), (long)(2 * len / 1024));
	EXPECT_TRUE(check(r, len, 71));
	EXPECT_TRUE(check(r + len, len, 72));
	munlock(r, 2 * len);
	munmap(r, 4 * len);
}

/* A range registered with userfaultfd (missing mode) relocates. */
TEST(uffd_registered)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(4 * len, page_size);
	char *b = map_at(r + 2 * len, len);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)b, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd;

	ASSERT_NE(b, NULL);
	fill(b, len, 81);
	fd = syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		SKIP(munmap(r, 4 * len); return, "userfaultfd unavailable");
	ASSERT_EQ(ioctl(fd, UFFDIO_API, &api), 0);
	ASSERT_EQ(ioctl(fd, UFFDIO_REGISTER, &reg), 0);

	ASSERT_EQ(sys_mremap(b, len, len, MUST, r + len), r + len);
	EXPECT_TRUE(check(r + len, len, 81));
	/* Moving it on keeps working, and it can be unregistered. */
	ASSERT_EQ(sys_mremap(r + len, len, len, MUST, r), r);
	EXPECT_TRUE(check(r, len, 81));
	close(fd);
	munmap(r, 4 * len);
}

TEST(dontunmap)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(4 * len, page_size);
	char *a = map_at(r, len), *b = map_at(r + 2 * len, len);

	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, len, 91);
	fill(b, len, 92);
	ASSERT_EQ(sys_mremap(b, len, len, MUST | MREMAP_DONTUNMAP, r + len),
		  r + len);
	EXPECT_EQ(count_vmas(r, 2 * len), 1);
	EXPECT_TRUE(check(r + len, len, 92));
	/* The source stays mapped, empty. */
	EXPECT_EQ(count_vmas(b, len), 1);
	EXPECT_EQ(b[0] | b[len - 1], 0);
	munmap(r, 4 * len);
}

/* Growing while moving (no MREMAP_FIXED): the new tail is fresh. */
TEST(grow_and_move)
{
	unsigned long len = 16 * page_size;
	char *r = reserve(2 * len, page_size);
	char *a = map_at(r, len), *p;

	ASSERT_NE(a, NULL);
	fill(a, len, 95);
	/* Block in-place growth. */
	ASSERT_NE(map_at(r + len, page_size), NULL);
	p = sys_mremap(a, len, 2 * len,
		       MREMAP_MAYMOVE | MREMAP_MUST_RELOCATE_ANON, NULL);
	ASSERT_NE(p, MAP_FAILED);
	EXPECT_TRUE(check(p, len, 95));
	EXPECT_EQ(p[len] | p[2 * len - 1], 0);
	munmap(p, 2 * len);
	munmap(r, 2 * len);
}

/* Shared and file-backed memory cannot be relocated. */
TEST(not_anonymous)
{
	unsigned long len = 4 * page_size;
	char *r = reserve(4 * len, page_size);
	char *s = mmap(r, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	ASSERT_NE(s, MAP_FAILED);
	fill(s, len, 99);
	errno = 0;
	EXPECT_EQ(sys_mremap(s, len, len, MUST, r + 2 * len), MAP_FAILED);
	EXPECT_EQ(errno, EFAULT);
	EXPECT_TRUE(check(s, len, 99));
	ASSERT_EQ(sys_mremap(s, len, len, RELOC, r + 2 * len), r + 2 * len);
	EXPECT_TRUE(check(r + 2 * len, len, 99));
	munmap(r, 4 * len);
}

struct compactor {
	volatile bool stop;
	unsigned long rounds;
};

static void *compact_loop(void *arg)
{
	struct compactor *c = arg;

	while (!c->stop) {
		if (!write_str("/proc/sys/vm/compact_memory", "1"))
			break;
		c->rounds++;
	}
	return NULL;
}

/*
 * Moves with relocation while compaction migrates the same folios: rmap
 * walks, migration entries and contended folio locks, racing with every
 * step. Contents must survive; nothing may splat (checked by the harness).
 * All of that is transient, so the MUST flag must never fail here.
 */
TEST(concurrent_compaction)
{
	unsigned long len = PMD_SIZE, i, k, moves = 0, efaults = 0;
	char *r = reserve(8 * len, PMD_SIZE);
	struct compactor c = { 0 };
	pthread_t thread;
	time_t end;

	ASSERT_NE(r, NULL);
	/* A THP region at r and a small-folio region at r + 4 * len. */
	for (k = 0; k < 2; k++) {
		ASSERT_NE(map_at(r + 4 * k * len, len), NULL);
		madvise(r + 4 * k * len, len,
			k ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
		fill(r + 4 * k * len, len, 111 + k);
	}
	if (access("/proc/sys/vm/compact_memory", W_OK))
		SKIP(munmap(r, 8 * len); return, "no compaction");
	ASSERT_EQ(pthread_create(&thread, NULL, compact_loop, &c), 0);

	end = time(NULL) + 8;
	for (i = 0; time(NULL) < end; i++) {
		for (k = 0; k < 2; k++) {
			char *base = r + 4 * k * len;
			char *src = base + (i & 1) * 2 * len;
			char *dst = base + !(i & 1) * 2 * len;

			if (sys_mremap(src, len, len, MUST, dst) == MAP_FAILED) {
				ASSERT_EQ(errno, EFAULT);
				efaults++;
				ASSERT_EQ(sys_mremap(src, len, len, RELOC, dst),
					  dst);
			}
			moves++;
			ASSERT_TRUE(check(dst, len, 111 + k));
		}
	}
	c.stop = true;
	pthread_join(thread, NULL);
	TH_LOG("%lu moves, %lu EFAULT, %lu compactions", moves, efaults,
	       c.rounds);
	EXPECT_EQ(efaults, 0);
	EXPECT_GT(moves, 0);
	munmap(r, 8 * len);
}

static void __attribute__((constructor)) init(void)
{
	page_size = sysconf(_SC_PAGESIZE);
}

TEST_HARNESS_MAIN
