// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fragment: build anonymous VMA fragmentation patterns on demand, then wait.
 *
 *   fragment [--fork | --fork-exit | --fork-exit-after N |
 *             --fork-live-after N | --fork-half]
 *            [--mlock | --mlock-onfault] [--uffd] [--guard] [--mbind P]
 *            [--timeout SEC] PATTERN...
 *
 * PATTERN is one of
 *   reverse:N      N pages moved one by one in reverse order: N VMAs, 1 run
 *   interleave:N   pages of two mappings placed alternately: N VMAs, 1 run
 *   holes:N:K      like reverse, but every K-th slot left unmapped
 *   thp:N          N 2 MiB huge-page mappings placed side by side
 *   mixed:N        N pages with alternating protections: N VMAs, no split
 *   flags:N        N pages, every other one MADV_DONTDUMP: N VMAs of the
 *                  same protections that touch, yet no split (VmFlags)
 *   named:N        reverse:N, then named with PR_SET_VMA_ANON_NAME
 *
 * --fork keeps a child that shares every page; --fork-exit forks one that
 * exits at once: the pages are then the parent's alone again, yet no
 * longer marked exclusive, so UFFDIO_MOVE refuses them (EBUSY) until
 * written.  --fork-exit-after N does that once the first N patterns are
 * built, so only theirs are left unmovable (later patterns are mapped
 * below them: they come first in address order); --fork-live-after N
 * keeps the child instead, then writes every page again: all pages are
 * the process's own, yet the anon_vma of the first N patterns has a fork
 * child, so MREMAP_RELOCATE_ANON cannot relocate them.  --mlock locks
 * every page written (mlock), --mlock-onfault the same way with
 * mlock2(MLOCK_ONFAULT) (VmFlags lo and lf).  --guard turns the first
 * page written into a guard region
 * (MADV_GUARD_INSTALL, Linux 6.13), exit 77 where the kernel lacks it.
 * --fork-half keeps a child too, but hides every odd-numbered page (the
 * first mapping of an interleave pattern) from it with MADV_DONTFORK,
 * undone after the fork, and writes every page again once forked: all
 * pages are the process's own, yet the even ones' anon_vma has a fork
 * child, so MREMAP_RELOCATE_ANON can relocate only the odd ones.
 *
 * --mbind P binds the pages of the P-th pattern (from 1) to NUMA node 0
 * (mbind MPOL_BIND): a policy a new VMA would not have.
 *
 * Each pattern lives between PROT_NONE guard pages so patterns never touch.
 * stdout (line-buffered): "pid N", "expect splits=S runs=R", "ready".  On
 * SIGUSR1 every page written is checked and "verified N pages" or "corrupt
 * ..." printed.  SIGTERM or the timeout ends it.  Exit 77 when a pattern
 * cannot be built on this kernel (e.g. anonymous names compiled out).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define THP_SIZE (2UL << 20)
#define EXIT_SKIP 77

static size_t page_size;

struct page_rec {
	char *addr;
	uint64_t id;
	size_t len;
};

static struct page_rec *pages;
static size_t npages, pages_cap;
static uint64_t next_id = 1;
static size_t exp_splits, exp_runs;
static char *regions[256];
static size_t region_len[256], nregions;

static void die(const char *what)
{
	fprintf(stderr, "fragment: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fill(char *addr, size_t len, uint64_t id)
{
	size_t i;

	for (i = 0; i < len; i += sizeof(uint64_t))
		*(uint64_t *)(addr + i) = id * 0x9e3779b97f4a7c15ULL + i;
}

static bool check(const char *addr, size_t len, uint64_t id)
{
	size_t i;

	for (i = 0; i < len; i += sizeof(uint64_t))
		if (*(const uint64_t *)(addr + i) != id * 0x9e3779b97f4a7c15ULL + i)
			return false;
	return true;
}

/* Write a fresh id into [addr, addr+len) and remember where it must be. */
static uint64_t populate(char *addr, size_t len)
{
	uint64_t id = next_id++;

	fill(addr, len, id);
	if (npages == pages_cap) {
		pages_cap = pages_cap ? 2 * pages_cap : 1024;
		pages = realloc(pages, pages_cap * sizeof(*pages));
		if (!pages)
			die("realloc");
	}
	pages[npages++] = (struct page_rec){ addr, id, len };
	return id;
}

static void moved(char *from, char *to)
{
	size_t i;

	for (i = npages; i-- > 0;)
		if (pages[i].addr == from) {
			pages[i].addr = to;
			return;
		}
}

/* Reserve len bytes plus a PROT_NONE guard page each side, aligned to align. */
static char *reserve(size_t len, size_t align)
{
	size_t total = len + 2 * page_size + align;
	char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *start;

	if (p == MAP_FAILED)
		die("mmap reserve");
	start = p + page_size;
	if (align > page_size)
		start = (char *)(((uintptr_t)start + align - 1) & ~(align - 1));
	regions[nregions] = start;
	region_len[nregions++] = len;
	return start;
}

static char *map_rw(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void move_to(char *from, size_t len, char *to)
{
	if (mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED)
		die("mremap");
	moved(from, to);
}

/* Count runs of >= 2 filled slots; each adjacent filled pair is a split. */
static void expect_slots(const bool *filled, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && filled[i]) {
			len++;
			continue;
		}
		if (len >= 2) {
			exp_runs++;
			exp_splits += len - 1;
		}
		len = 0;
	}
}

static char *pattern_reverse(size_t n, size_t hole_every)
{
	char *src = map_rw(n * page_size), *dst = reserve(n * page_size, 0);
	bool *filled = calloc(n, sizeof(bool));
	size_t i;

	if (!filled)
		die("calloc");
	for (i = 0; i < n; i++)
		populate(src + i * page_size, page_size);
	for (i = 0; i < n; i++) {
		size_t slot = n - 1 - i;

		if (hole_every && slot % hole_every == hole_every - 1) {
			if (munmap(src + i * page_size, page_size))
				die("munmap");
			moved(src + i * page_size, NULL);
			continue;
		}
		move_to(src + i * page_size, page_size, dst + slot * page_size);
		filled[slot] = true;
	}
	expect_slots(filled, n);
	free(filled);
	return dst;
}

static void pattern_interleave(size_t n)
{
	size_t half = (n + 1) / 2, i;
	char *a = map_rw(half * page_size), *b = map_rw(half * page_size);
	char *dst = reserve(n * page_size, 0);

	for (i = 0; i < half; i++) {
		populate(a + i * page_size, page_size);
		populate(b + i * page_size, page_size);
	}
	for (i = 0; i < n; i++) {
		char *src = (i % 2 ? b : a) + (i / 2) * page_size;

		move_to(src, page_size, dst + i * page_size);
	}
	if (n % 2) {
		/* n odd: the last page of b has no slot */
		char *unused = b + (half - 1) * page_size;

		if (munmap(unused, page_size))
			die("munmap");
		moved(unused, NULL);
	}
	if (n >= 2) {
		exp_runs++;
		exp_splits += n - 1;
	}
}

static void pattern_thp(size_t n)
{
	char *dst = reserve(n * THP_SIZE, THP_SIZE);
	size_t i;

	for (i = 0; i < n; i++) {
		char *raw = mmap(NULL, 2 * THP_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *src;

		if (raw == MAP_FAILED)
			die("mmap thp");
		src = (char *)(((uintptr_t)raw + THP_SIZE - 1) & ~(THP_SIZE - 1));
		if (madvise(src, THP_SIZE, MADV_HUGEPAGE))
			die("madvise MADV_HUGEPAGE");
		populate(src, THP_SIZE);
		move_to(src, THP_SIZE, dst + (n - 1 - i) * THP_SIZE);
		/* the slack around the aligned part stays mapped: unmap it */
		if (src > raw)
			munmap(raw, src - raw);
		if (raw + 2 * THP_SIZE > src + THP_SIZE)
			munmap(src + THP_SIZE, raw + 2 * THP_SIZE - (src + THP_SIZE));
	}
	if (n >= 2) {
		exp_runs++;
		exp_splits += n - 1;
	}
}

/* n pages in one fresh mapping, every one written. */
static char *map_populated(size_t n)
{
	char *dst = reserve(n * page_size, 0);
	size_t i;

	if (mmap(dst, n * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap");
	for (i = 0; i < n; i++)
		populate(dst + i * page_size, page_size);
	return dst;
}

static void pattern_mixed(size_t n)
{
	char *dst = map_populated(n);

	for (size_t i = 1; i < n; i += 2)
		if (mprotect(dst + i * page_size, page_size, PROT_READ))
			die("mprotect");
}

static void pattern_flags(size_t n)
{
	char *dst = map_populated(n);

	for (size_t i = 1; i < n; i += 2)
		if (madvise(dst + i * page_size, page_size, MADV_DONTDUMP))
			die("madvise(MADV_DONTDUMP)");
}


static void pattern_named(size_t n)
{
	char *dst = pattern_reverse(n, 0);

	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, dst, n * page_size,
		  "anonremap-test")) {
		printf("skip anonymous VMA names not supported: %s\n", strerror(errno));
		exit(EXIT_SKIP);
	}
}

static void apply_mlock(unsigned int flags)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if (pages[i].addr && mlock2(pages[i].addr, pages[i].len, flags))
			die("mlock2");
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static void apply_guard(void)
{
	if (madvise(pages[0].addr, page_size, MADV_GUARD_INSTALL)) {
		printf("skip MADV_GUARD_INSTALL not supported: %s\n", strerror(errno));
		exit(EXIT_SKIP);
	}
	pages[0].addr = NULL;	/* its contents are gone by design */
}

/* MADV_DONTFORK (or back) on pages with odd ids. */
/* mbind(MPOL_BIND) pages [from, to) to node 0. */
static void bind_pages(size_t from, size_t to)
{
	const unsigned long node0 = 1, mpol_bind = 2;

	for (size_t i = from; i < to; i++)
		if (pages[i].addr &&
		    syscall(SYS_mbind, pages[i].addr, pages[i].len, mpol_bind,
			    &node0, 2UL, 0UL))
			die("mbind");
}

static void hide_odd_pages(int advice)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if (pages[i].addr && pages[i].id % 2 &&
		    madvise(pages[i].addr, pages[i].len, advice))
			die("madvise MADV_DONTFORK");
}

/* Write every page again: copy-on-write makes each the process's own. */
static void rewrite_pages(void)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if (pages[i].addr)
			fill(pages[i].addr, pages[i].len, pages[i].id);
}

static int uffd_fd = -1;

static void apply_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	size_t i;

	uffd_fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd_fd < 0 && errno == EPERM)
		uffd_fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd_fd < 0 || ioctl(uffd_fd, UFFDIO_API, &api))
		die("userfaultfd");
	for (i = 0; i < npages; i++) {
		struct uffdio_register reg = {
			.range = { (uintptr_t)pages[i].addr, pages[i].len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (pages[i].addr && ioctl(uffd_fd, UFFDIO_REGISTER, &reg))
			die("UFFDIO_REGISTER");
	}
}

static size_t live_pages(void)
{
	size_t i, n = 0;

	for (i = 0; i < npages; i++)
		n += pages[i].addr != NULL;
	return n;
}

static volatile sig_atomic_t got_usr1, got_term;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static void verify(void)
{
	size_t i, n = 0;

	for (i = 0; i < npages; i++) {
		if (!pages[i].addr)
			continue;
		if (!check(pages[i].addr, pages[i].len, pages[i].id)) {
			printf("corrupt %p id %llu\n", (void *)pages[i].addr,
			       (unsigned long long)pages[i].id);
			return;
		}
		n++;
	}
	printf("verified %zu pages\n", n);
}

static size_t parse_count(const char *s, const char *pattern)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || (*end && *end != ':') || v == 0 || v > 1000000) {
		fprintf(stderr, "fragment: bad count in '%s'\n", pattern);
		exit(2);
	}
	return v;
}

static void build(const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t n;

	if (!colon) {
		fprintf(stderr, "fragment: pattern '%s' needs :N\n", spec);
		exit(2);
	}
	n = parse_count(colon + 1, spec);
	if (!strncmp(spec, "reverse:", 8)) {
		pattern_reverse(n, 0);
	} else if (!strncmp(spec, "interleave:", 11)) {
		pattern_interleave(n);
	} else if (!strncmp(spec, "holes:", 6)) {
		const char *k = strchr(colon + 1, ':');

		pattern_reverse(n, k ? parse_count(k + 1, spec) : 10);
	} else if (!strncmp(spec, "thp:", 4)) {
		pattern_thp(n);
	} else if (!strncmp(spec, "mixed:", 6)) {
		pattern_mixed(n);
	} else if (!strncmp(spec, "flags:", 6)) {
		pattern_flags(n);
	} else if (!strncmp(spec, "named:", 6)) {
		pattern_named(n);
	} else {
		fprintf(stderr, "fragment: unknown pattern '%s'\n", spec);
		exit(2);
	}
}

/* Fork a child that exits at once: every page so far is left unmovable. */
static void fork_and_reap(void)
{
	pid_t child = fork();

	if (child < 0)
		die("fork");
	if (child == 0)
		_exit(0);
	if (waitpid(child, NULL, 0) < 0)
		die("waitpid");
}

/* Fork a child that stays, sharing every page so far, until we end. */
static pid_t fork_live_child(void)
{
	pid_t child = fork();

	if (child < 0)
		die("fork");
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return child;
}

int main(int argc, char **argv)
{
	bool do_fork = false, do_fork_exit = false, do_fork_half = false;
	int mlock_flags = -1;	/* mlock2() flags, -1: none */
	int fork_exit_after = -1, fork_live_after = -1, built = 0, bind = 0;
	size_t bind_from = 0, bind_to = 0;
	bool do_uffd = false, do_guard = false;
	unsigned int timeout = 600;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, old;
	pid_t child = 0;
	int i;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--fork"))
			do_fork = true;
		else if (!strcmp(argv[i], "--fork-exit"))
			do_fork_exit = true;
		else if (!strcmp(argv[i], "--fork-exit-after") && i + 1 < argc)
			fork_exit_after = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--fork-live-after") && i + 1 < argc)
			fork_live_after = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--fork-half"))
			do_fork = do_fork_half = true;
		else if (!strcmp(argv[i], "--mlock"))
			mlock_flags = 0;
		else if (!strcmp(argv[i], "--mlock-onfault"))
			mlock_flags = MLOCK_ONFAULT;
		else if (!strcmp(argv[i], "--uffd"))
			do_uffd = true;
		else if (!strcmp(argv[i], "--guard"))
			do_guard = true;
		else if (!strcmp(argv[i], "--mbind") && i + 1 < argc)
			bind = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = (unsigned int)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: fragment [--fork | --fork-exit | "
				"--fork-exit-after N | --fork-live-after N | "
				"--fork-half] [--mlock | --mlock-onfault] "
				"[--uffd] [--guard] [--mbind P] [--timeout SEC] "
				"PATTERN...\n");
			return 2;
		}
	}
	if (i == argc) {
		fprintf(stderr, "fragment: no pattern given\n");
		return 2;
	}
	for (; i < argc; i++) {
		if (built == fork_exit_after)
			fork_and_reap();
		if (built++ == fork_live_after)
			child = fork_live_child();
		bind_from = built == bind ? npages : bind_from;
		build(argv[i]);
		bind_to = built == bind ? npages : bind_to;
	}
	bind_pages(bind_from, bind_to);
	if (fork_live_after >= 0)
		rewrite_pages();
	if (mlock_flags >= 0)
		apply_mlock((unsigned int)mlock_flags);
	if (do_uffd)
		apply_uffd();
	if (do_guard)
		apply_guard();
	if (do_fork_exit)
		fork_and_reap();
	if (do_fork_half)
		hide_odd_pages(MADV_DONTFORK);
	if (do_fork)
		child = fork_live_child();
	if (do_fork_half) {
		hide_odd_pages(MADV_DOFORK);
		rewrite_pages();
	}

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout);

	printf("pid %d\n", (int)getpid());
	printf("expect splits=%zu runs=%zu pages=%zu\n", exp_splits, exp_runs,
	       live_pages());
	printf("ready\n");
	while (!got_term) {
		sigsuspend(&old);
		if (got_usr1) {
			got_usr1 = 0;
			verify();
		}
	}
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	return 0;
}
