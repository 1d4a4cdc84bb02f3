// SPDX-License-Identifier: GPL-2.0
/*
 * mremap() of a populated anonymous range with MREMAP_MUST_RELOCATE_ANON
 * versus a plain move, on 4K pages and on PMD-mapped THPs. Runs in the test
 * guest (kernel/Makefile check); informational, not pass/fail.
 *
 * usage: kernel-mremap-relocate [MAX_MIB]   (default 256)
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
#define ROUNDS		5

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char *reserve(unsigned long len)
{
	char *p = mmap(NULL, len + PMD_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (char *)(((unsigned long)p + PMD_SIZE - 1) & ~(PMD_SIZE - 1));
}

/*
 * Best of ROUNDS moves of a freshly populated range between two 2 MiB
 * aligned holes, in microseconds; -1 if a move failed.
 */
static double time_move(unsigned long len, int advice, unsigned long flags)
{
	char *a = reserve(len), *b = reserve(len), *p;
	double best = -1, t;
	int i;

	if (!a || !b)
		return -1;
	p = mmap(a, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED || madvise(p, len, advice))
		return -1;
	memset(p, 1, len);
	for (i = 0; i < ROUNDS; i++) {
		char *dst = (i & 1) ? a : b, *src = (i & 1) ? b : a;

		t = now_us();
		if ((char *)syscall(__NR_mremap, src, len, len,
				    MREMAP_MAYMOVE | MREMAP_FIXED | flags,
				    dst) != dst)
			return -1;
		t = now_us() - t;
		if (best < 0 || t < best)
			best = t;
	}
	munmap(a, len);
	munmap(b, len);
	return best;
}

int main(int argc, char **argv)
{
	unsigned long max_mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	const struct { const char *name; int advice; } kinds[] = {
		{ "4K ", MADV_NOHUGEPAGE },
		{ "THP", MADV_HUGEPAGE },
	};
	unsigned long mib;
	unsigned int k;

	printf("%-4s %8s %12s %12s %7s\n", "kind", "MiB", "plain_us",
	       "relocate_us", "ratio");
	for (k = 0; k < 2; k++) {
		for (mib = 1; mib <= max_mib; mib *= 4) {
			unsigned long len = mib << 20;
			double plain = time_move(len, kinds[k].advice, 0);
			double reloc = time_move(len, kinds[k].advice,
						 MREMAP_MUST_RELOCATE_ANON);

			if (plain < 0 || reloc < 0) {
				printf("%-4s %8lu failed\n", kinds[k].name, mib);
				continue;
			}
			printf("%-4s %8lu %12.0f %12.0f %7.2f\n", kinds[k].name,
			       mib, plain, reloc, reloc / plain);
		}
	}
	return 0;
}
