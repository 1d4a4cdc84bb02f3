// SPDX-License-Identifier: GPL-2.0
/*
 * mremap() of a populated anonymous range with MREMAP_MUST_RELOCATE_ANON
 * versus a plain move. Runs in the test guest (kernel/Makefile check);
 * informational, not pass/fail.
 *
 * Three layouts:
 *   4K-aligned   4K pages, source and destination 2 MiB aligned: a plain
 *                move carries whole page tables (one PMD entry per 2 MiB)
 *   4K-shifted   4K pages, destination one page off: a plain move copies
 *                every PTE, as relocation has to visit every PTE
 *   THP          MADV_HUGEPAGE, 2 MiB aligned: both move PMD entries
 *
 * Each figure is the mean of moves back and forth between two holes, run
 * for at least MIN_US of wall time (the guest clock may tick coarsely).
 *
 * usage: kernel-mremap-relocate [MAX_MIB]   (default 256)
 *        kernel-mremap-relocate LAYOUT MIB plain|relocate SECONDS
 *
 * The second form only moves one range back and forth for SECONDS, for a
 * profiler to sample (make -C kernel bench PERF=...).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/mman.h>

#define PMD_SIZE	(2UL << 20)
#define MIN_US		200000.0

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char *reserve(unsigned long len)
{
	char *p = mmap(NULL, len + 2 * PMD_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (char *)(((unsigned long)p + PMD_SIZE - 1) & ~(PMD_SIZE - 1));
}

/*
 * Mean microseconds per move of a populated range, moved for at least
 * @min_us; -1 if a move failed.
 */
static double time_move(unsigned long len, int advice, unsigned long shift,
			unsigned long flags, double min_us)
{
	char *a = reserve(len), *b = reserve(len), *p;
	double start, elapsed;
	unsigned long n = 0;

	if (!a || !b)
		return -1;
	b += shift;
	p = mmap(a, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED || madvise(p, len, advice))
		return -1;
	memset(p, 1, len);
	start = now_us();
	do {
		char *src = (n & 1) ? b : a, *dst = (n & 1) ? a : b;

		if ((char *)syscall(__NR_mremap, src, len, len,
				    MREMAP_MAYMOVE | MREMAP_FIXED | flags,
				    dst) != dst)
			return -1;
		n++;
		elapsed = now_us() - start;
	} while (elapsed < min_us || (n & 1));
	munmap(a, len + PMD_SIZE);
	munmap(b - shift, len + PMD_SIZE);
	return elapsed / n;
}

static const struct {
	const char *name;
	int advice;
	unsigned long shift;
} kinds[] = {
	{ "4K-aligned", MADV_NOHUGEPAGE, 0 },
	{ "4K-shifted", MADV_NOHUGEPAGE, 4096 },
	{ "THP", MADV_HUGEPAGE, 0 },
};

#define NR_KINDS	(sizeof(kinds) / sizeof(kinds[0]))

static int profile(const char *layout, unsigned long mib, const char *how,
		   double seconds)
{
	unsigned long flags = !strcmp(how, "relocate") ?
			      MREMAP_MUST_RELOCATE_ANON : 0;
	double us;
	unsigned int k;

	for (k = 0; k < NR_KINDS && strcmp(kinds[k].name, layout); k++)
		;
	if (k == NR_KINDS || (flags == 0 && strcmp(how, "plain"))) {
		fprintf(stderr, "usage: kernel-mremap-relocate LAYOUT MIB plain|relocate SECONDS\n");
		return 2;
	}
	us = time_move(mib << 20, kinds[k].advice, kinds[k].shift, flags,
		       seconds * 1e6);
	if (us <= 0) {
		printf("%s %lu MiB %s: failed\n", layout, mib, how);
		return 1;
	}
	printf("%s %lu MiB %s: %.1f us a move\n", layout, mib, how, us);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long max_mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	unsigned long mib;
	unsigned int k;

	if (argc == 5)
		return profile(argv[1], strtoul(argv[2], NULL, 0), argv[3],
			       strtod(argv[4], NULL));

	printf("%-10s %6s %12s %12s %7s\n", "layout", "MiB", "plain_us",
	       "relocate_us", "ratio");
	for (k = 0; k < NR_KINDS; k++) {
		for (mib = 1; mib <= max_mib; mib *= 4) {
			unsigned long len = mib << 20;
			double plain = time_move(len, kinds[k].advice,
						 kinds[k].shift, 0, MIN_US);
			double reloc = time_move(len, kinds[k].advice,
						 kinds[k].shift,
						 MREMAP_MUST_RELOCATE_ANON,
						 MIN_US);

			if (plain <= 0 || reloc <= 0) {
				printf("%-10s %6lu failed\n", kinds[k].name, mib);
				continue;
			}
			printf("%-10s %6lu %12.1f %12.1f %7.2f\n",
			       kinds[k].name, mib, plain, reloc, reloc / plain);
		}
	}
	return 0;
}
