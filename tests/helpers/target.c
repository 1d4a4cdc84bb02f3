// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A live target for the injection tests: it fragments a region of its own
 * memory, then keeps checking it while something outside defragments it.
 *
 *   target [-w WORKERS] [-r PAGES | -H CHUNKS] [-z K] [-l | -L | -M]
 *          [-s deny|kill|mlock2-kill|move-kill]
 *
 *  -r PAGES   PAGES pages placed in reverse order with mremap: PAGES VMAs
 *  -H CHUNKS  CHUNKS 2 MiB THP chunks placed in reverse order
 *  -z K       every K-th page of the region is a hole (never populated)
 *  -w N       worker threads (default 2) that verify and rewrite their own
 *             pages of the region forever, each page with a pattern that
 *             names its address and generation
 *  -s MODE    a seccomp filter: deny makes userfaultfd fail with EPERM,
 *             kill kills the process on it, mlock2-kill on mlock2,
 *             move-kill on ioctl(UFFDIO_MOVE) only (a filter that looks
 *             at arguments)
 *  -V         start a process that shares our memory without being a
 *             thread (clone(CLONE_VM)), as a vfork() child does
 *  -u UID     run as UID (dumpable), once set up
 *  -D         make the process non-dumpable
 *  -a         give the region attributes a defrag must keep: a name
 *             ([anon:frag], where the kernel has them), MADV_DONTDUMP,
 *             MADV_DONTFORK, MADV_WIPEONFORK
 *  -l         mlock the region (which also fills its holes with zeros)
 *  -L         mlock2(MLOCK_ONFAULT) the region: holes stay holes
 *  -M         mlockall(MCL_CURRENT | MCL_FUTURE), as real-time programs
 *             do: every mapping made later is locked and filled at once
 *  -T         a thread that keeps creating short-lived threads
 *  -m         bind the region to NUMA node 0 (mbind MPOL_BIND)
 *  -n         leave no free file descriptor (RLIMIT_NOFILE), so that a
 *             userfaultfd injected later fails with EMFILE
 *  -f         fork a child that sleeps holding the second half of the
 *             region (those pages stay shared: workers leave them alone)
 *  -P         pin the first half of the region as io_uring fixed buffers
 *             (FOLL_PIN, as DMA would), after an empty slot (a sparse
 *             table's "<none>" in fdinfo): UFFDIO_MOVE refuses such pages;
 *             exit 77 where io_uring is not available
 *  -q K       move the main thread's struct rseq to the start of page K
 *             of the region (unregistering glibc's): the kernel writes it
 *             whenever that thread runs; workers leave page K alone and
 *             its other bytes are checked as written
 *
 * Three more threads, named sleeper, reader and futex (comm), sit in
 * nanosleep, read and futex through a raw
 * syscall that checks every register the kernel must preserve: an EINTR or
 * a changed register is an anomaly.
 *
 * Prints "READY pid=P start=S end=E pages=N" once set up.  Commands on
 * stdin: "verify" waits until every worker completed a full pass begun
 * after the command and prints "VERIFIED errors=N"; "selfheal [N]" pauses
 * the workers and heals the region in-process with the same UFFDIO_MOVE
 * sequence as the uffd-move backend, in parts of N VMAs if given, printing
 * "SELFHEAL ns=T moves=M parts=P longest=L" (the benchmark's baseline); "signals" prints what its SIGUSR1 handler saw
 * last and how many SIGUSR1 and SIGRTMIN+1 it got: "SIGNALS usr1=N
 * code=C value=V rt=M"; "quit" or end of input
 * stops, verifies everything and exits.  Exit status: 0 clean, 1 on any
 * corruption or anomaly (each also printed on stderr as it happens).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "uffd.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define WORDS (PAGE / sizeof(uint64_t))
/* struct rseq as registered by -q: 32 bytes, RSEQ_SIG of x86. */
#define RSEQ_LEN 32
#define RSEQ_WORDS (RSEQ_LEN / sizeof(uint64_t))
#define RSEQ_SIG_X86 0x53053053
#define RSEQ_FLAG_UNREGISTER_ 1

static char *region;
static size_t npages;
static size_t hole_every;
static unsigned nworkers = 2;
static atomic_int stop;
static atomic_long errors;
static atomic_ulong *passes;
static int wake_pipe[2];
static uint32_t futex_word;

static size_t frozen_from = SIZE_MAX;	/* pages shared with a child */
static size_t chunk = PAGE;		/* bytes per VMA of the region */
static atomic_int pause_req;
static atomic_uint paused;

static size_t rseq_page = SIZE_MAX;	/* -q: holds the main thread's rseq */

static int is_hole(size_t j)
{
	return hole_every && j % hole_every == hole_every - 1;
}

/* Pages the workers leave alone: holes, -f's shared half, -q's page. */
static int untouched(size_t j)
{
	return is_hole(j) || j >= frozen_from || j == rseq_page;
}

static uint64_t pattern(size_t j, uint64_t gen, size_t i)
{
	return (j * 0x9E3779B97F4A7C15ULL) ^ (gen << 40) ^ (i * 0x100000001ULL);
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	atomic_fetch_add(&errors, 1);
}

static void verify_page(size_t j, uint64_t gen)
{
	const uint64_t *w = (const uint64_t *)(region + j * PAGE);

	for (size_t i = 0; i < WORDS; i++)
		if (w[i] != pattern(j, gen, i)) {
			report("CORRUPT page %zu at %p word %zu gen %llu: got %#llx "
			       "want %#llx", j, (void *)w, i,
			       (unsigned long long)gen,
			       (unsigned long long)w[i],
			       (unsigned long long)pattern(j, gen, i));
			return;
		}
}

static void write_page(size_t j, uint64_t gen)
{
	uint64_t *w = (uint64_t *)(region + j * PAGE);

	for (size_t i = 0; i < WORDS; i++)
		w[i] = pattern(j, gen, i);
}

/* The -q page: as written, but for the struct rseq the kernel writes. */
static void verify_rseq_page(void)
{
	const uint64_t *w = (const uint64_t *)(region + rseq_page * PAGE);

	for (size_t i = RSEQ_WORDS; i < WORDS; i++)
		if (w[i] != pattern(rseq_page, 0, i)) {
			report("CORRUPT rseq page %zu word %zu: got %#llx want "
			       "%#llx", rseq_page, i, (unsigned long long)w[i],
			       (unsigned long long)pattern(rseq_page, 0, i));
			return;
		}
}

/* Pages no worker owns: holes read as zeros, frozen pages as written. */
static void verify_holes(void)
{
	if (rseq_page < npages)
		verify_rseq_page();
	for (size_t j = 0; j < npages; j++) {
		const uint64_t *w = (const uint64_t *)(region + j * PAGE);

		if (j >= frozen_from && !is_hole(j))
			verify_page(j, 0);
		if (!is_hole(j))
			continue;
		for (size_t i = 0; i < WORDS; i++)
			if (w[i]) {
				report("CORRUPT hole page %zu word %zu: %#llx",
				       j, i, (unsigned long long)w[i]);
				break;
			}
	}
}

struct worker {
	unsigned id;
	uint64_t *gen;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct timespec pause = { 0, 1000000 };

	prctl(PR_SET_NAME, "worker");
	while (!atomic_load(&stop)) {
		if (atomic_load(&pause_req)) {
			atomic_fetch_add(&paused, 1);
			while (atomic_load(&pause_req))
				nanosleep(&pause, NULL);
			atomic_fetch_sub(&paused, 1);
		}
		for (size_t j = wk->id; j < npages; j += nworkers) {
			if (untouched(j))
				continue;
			verify_page(j, wk->gen[j]);
			write_page(j, ++wk->gen[j]);
		}
		atomic_fetch_add(&passes[wk->id], 1);
		nanosleep(&pause, NULL);
	}
	for (size_t j = wk->id; j < npages; j += nworkers)
		if (!untouched(j))
			verify_page(j, wk->gen[j]);
	return NULL;
}

/*
 * A system call with known values in every register the kernel preserves;
 * out[] gets rax and then rbx rbp r12 r13 r14 r15 r8 r9 rdi rsi rdx r10.
 */
long checked_syscall(long nr, const long args[4], long out[13]);
__asm__(
	"	.text\n"
	"	.globl checked_syscall\n"
	"	.type checked_syscall, @function\n"
	"checked_syscall:\n"
	"	push %rbx\n push %rbp\n push %r12\n push %r13\n"
	"	push %r14\n push %r15\n push %rdx\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %r11\n"
	"	mov 0(%r11), %rdi\n mov 8(%r11), %rsi\n"
	"	mov 16(%r11), %rdx\n mov 24(%r11), %r10\n"
	"	movabs $0x1111111111111111, %rbx\n"
	"	movabs $0x2222222222222222, %rbp\n"
	"	movabs $0x3333333333333333, %r12\n"
	"	movabs $0x4444444444444444, %r13\n"
	"	movabs $0x5555555555555555, %r14\n"
	"	movabs $0x6666666666666666, %r15\n"
	"	movabs $0x7777777777777777, %r8\n"
	"	movabs $0x8888888888888888, %r9\n"
	"	syscall\n"
	"	mov (%rsp), %r11\n"
	"	mov %rax, 0(%r11)\n mov %rbx, 8(%r11)\n mov %rbp, 16(%r11)\n"
	"	mov %r12, 24(%r11)\n mov %r13, 32(%r11)\n mov %r14, 40(%r11)\n"
	"	mov %r15, 48(%r11)\n mov %r8, 56(%r11)\n mov %r9, 64(%r11)\n"
	"	mov %rdi, 72(%r11)\n mov %rsi, 80(%r11)\n mov %rdx, 88(%r11)\n"
	"	mov %r10, 96(%r11)\n"
	"	pop %rdx\n pop %r15\n pop %r14\n pop %r13\n pop %r12\n"
	"	pop %rbp\n pop %rbx\n"
	"	ret\n"
	"	.size checked_syscall, .-checked_syscall\n");

static long blocked_call(const char *who, long nr, long a0, long a1, long a2,
			 long a3)
{
	static const long magic[8] = {
		0x1111111111111111, 0x2222222222222222, 0x3333333333333333,
		0x4444444444444444, 0x5555555555555555, 0x6666666666666666,
		0x7777777777777777, (long)0x8888888888888888,
	};
	const long args[4] = { a0, a1, a2, a3 };
	long out[13];

	checked_syscall(nr, args, out);
	for (int i = 0; i < 8; i++)
		if (out[1 + i] != magic[i])
			report("ANOMALY %s: preserved register %d changed to "
			       "%#lx", who, i, out[1 + i]);
	for (int i = 0; i < 4; i++)
		if (out[9 + i] != args[i])
			report("ANOMALY %s: argument register %d changed to "
			       "%#lx", who, i, out[9 + i]);
	if (out[0] == -EINTR)
		report("ANOMALY %s: EINTR", who);
	return out[0];
}

static void *sleeper_main(void *arg)
{
	struct timespec ts = { 0, 200000000 };

	(void)arg;
	prctl(PR_SET_NAME, "sleeper");
	while (!atomic_load(&stop)) {
		long r = blocked_call("nanosleep", SYS_nanosleep, (long)&ts, 0,
				      0, 0);

		if (r)
			report("ANOMALY nanosleep returned %ld", r);
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	char c;

	(void)arg;
	prctl(PR_SET_NAME, "reader");
	while (!atomic_load(&stop)) {
		long r = blocked_call("read", SYS_read, wake_pipe[0], (long)&c,
				      1, 0);

		if (r != 1)
			report("ANOMALY read returned %ld", r);
	}
	return NULL;
}

static void *futex_main(void *arg)
{
	struct timespec ts = { 0, 200000000 };

	(void)arg;
	prctl(PR_SET_NAME, "futex");
	while (!atomic_load(&stop)) {
		long r = blocked_call("futex", SYS_futex, (long)&futex_word,
				      FUTEX_WAIT_PRIVATE, 0, (long)&ts);

		if (r && r != -ETIMEDOUT && r != -EAGAIN)
			report("ANOMALY futex returned %ld", r);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	volatile unsigned long x = 0;

	for (int i = 0; i < 1000; i++)
		x += (unsigned long)i;
	return arg;
}

/* Threads born and dying all the time: attach must cope with both. */
static void *churn_main(void *arg)
{
	struct timespec ts = { 0, 100000 };

	(void)arg;
	prctl(PR_SET_NAME, "churn");
	while (!atomic_load(&stop)) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_lived, NULL) == 0)
			pthread_join(t, NULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* What the SA_SIGINFO handlers saw (the "signals" command prints it). */
static atomic_int usr1_count, usr1_code, usr1_value, rt_count;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	atomic_store(&usr1_code, si->si_code);
	atomic_store(&usr1_value, si->si_value.sival_int);
	atomic_fetch_add(&usr1_count, 1);
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_fetch_add(&rt_count, 1);
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static char sharer_stack[64 * 1024] __attribute__((aligned(16)));

/* The -V process: shares our memory, sleeps until we are gone. */
static int vm_sharer_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;)
		syscall(SYS_pause);
	return 0;
}

static void start_vm_sharer(void)
{
	if (clone(vm_sharer_main, sharer_stack + sizeof(sharer_stack),
		  CLONE_VM | SIGCHLD, NULL) < 0)
		die("clone");
}

/*
 * The calling thread's struct rseq goes to the start of page j of the
 * region, its other bytes written once: glibc's registration is undone
 * first (a thread has one), leaving glibc to do without it.
 */
static void move_rseq(size_t j)
{
	char *area = region + j * PAGE;

	if (j >= npages || is_hole(j))
		die("-q: not a page of the region");
	write_page(j, 0);
	/* glibc registers 32 bytes even where __rseq_size says 20. */
	if (__rseq_size &&
	    syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
		    __rseq_size < RSEQ_LEN ? RSEQ_LEN : __rseq_size,
		    RSEQ_FLAG_UNREGISTER_, RSEQ_SIG_X86))
		die("rseq unregister");
	memset(area, 0, RSEQ_LEN);
	if (syscall(SYS_rseq, area, RSEQ_LEN, 0, RSEQ_SIG_X86))
		die("rseq");
	rseq_page = j;
}

/*
 * Register the first half of the region with a new io_uring as fixed
 * buffers, one iovec per page after an empty slot, which pins them for as
 * long as the ring lives (the whole run of the target).
 */
static void pin_first_half(void)
{
	struct io_uring_params params;
	size_t n = npages / 2;
	struct iovec *iov = calloc(n + 1, sizeof(*iov));
	int fd;

	memset(&params, 0, sizeof(params));
	if (!iov)
		die("calloc");
	fd = (int)syscall(SYS_io_uring_setup, 4, &params);
	if (fd < 0) {
		fprintf(stderr, "io_uring_setup: %s\n", strerror(errno));
		exit(77);
	}
	/* Its submission ring mapped, as every io_uring user does. */
	if (mmap(NULL, params.sq_off.array + params.sq_entries * sizeof(uint32_t),
		 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		 IORING_OFF_SQ_RING) == MAP_FAILED)
		die("mmap of the io_uring");
	/* Slot 0 left empty, as in a sparse table: fdinfo says "<none>". */
	for (size_t j = 0; j < n; j++)
		iov[j + 1] = (struct iovec){ region + j * PAGE, PAGE };
	if (syscall(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS, iov,
		    (unsigned int)n + 1))
		die("io_uring_register");
	free(iov);
}

/* Map len bytes at an address aligned to align. */
static char *map_aligned(size_t len, size_t align, int prot)
{
	char *p = mmap(NULL, len + align, prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + len + align - (a + len)));
	return a;
}

/*
 * Fault a fresh region in, then move its chunks one by one into a
 * reserved range in reverse order: neighbours' page offsets run backwards,
 * so no two of them can merge.
 */
static void fragment(size_t size, size_t nchunks, int thp)
{
	size_t len = size * nchunks;
	char *src = map_aligned(len, thp ? HUGE : PAGE, PROT_READ | PROT_WRITE);

	/* Without MAP_NORESERVE: the region must be accounted ("ac"). */
	src = mmap(src, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (src == MAP_FAILED)
		die("mmap");
	if (thp && madvise(src, len, MADV_HUGEPAGE))
		die("madvise");
	for (size_t off = 0; off < len; off += PAGE)
		src[off] = 1;
	region = map_aligned(len, thp ? HUGE : PAGE, PROT_NONE);
	chunk = size;
	for (size_t i = 0; i < nchunks; i++)
		if (mremap(src + i * size, size, size,
			   MREMAP_FIXED | MREMAP_MAYMOVE,
			   region + (nchunks - 1 - i) * size) == MAP_FAILED)
			die("mremap");
	npages = len / PAGE;
	for (size_t j = 0; j < npages; j++)
		if (is_hole(j) && madvise(region + j * PAGE, PAGE, MADV_DONTNEED))
			die("madvise");
}

static void uffd_ioctl(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg))
		die("userfaultfd ioctl");
}

static int64_t elapsed_ns(const struct timespec *t0, const struct timespec *t1)
{
	return (t1->tv_sec - t0->tv_sec) * 1000000000LL + t1->tv_nsec -
	       t0->tv_nsec;
}

/*
 * The backend's sequence for one part, in-process, from userfaultfd to
 * close: bytes [off, off + len) of the region moved into dst, reserved
 * for it, which then replaces them.
 */
static size_t self_heal_part(char *dst, size_t off, size_t len, int thp)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MOVE };
	size_t moves = 0;
	int fd;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		die("userfaultfd");
	uffd_ioctl(fd, UFFDIO_API, &api);
	if (mmap(dst, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap");
	if (thp && madvise(dst, len, MADV_HUGEPAGE))
		die("madvise");
	{
		struct uffdio_register reg = {
			.range = { (uintptr_t)dst, len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		uffd_ioctl(fd, UFFDIO_REGISTER, &reg);
	}
	for (size_t at = 0; at < len; at += chunk, moves++) {
		struct uffdio_move mv = {
			.dst = (uintptr_t)dst + at,
			.src = (uintptr_t)region + off + at,
			.len = chunk,
			.mode = UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
		};

		uffd_ioctl(fd, UFFDIO_MOVE, &mv);
	}
	{
		struct uffdio_range range = { (uintptr_t)dst, len };

		uffd_ioctl(fd, UFFDIO_UNREGISTER, &range);
	}
	if (mremap(dst, len, len, MREMAP_FIXED | MREMAP_MAYMOVE,
		   region + off) == MAP_FAILED)
		die("mremap");
	close(fd);
	return moves;
}

/*
 * The backend's sequence in-process, in parts of part_vmas VMAs (0: the
 * whole region at once), with the workers paused for each part alone and
 * run 1 ms between parts, as stops would have them.  Prints the time of
 * all parts and of the longest, which the same moves take here without
 * any injection: the benchmark's baseline.
 */
static void self_heal(int thp, size_t part_vmas)
{
	const size_t len = npages * PAGE;
	const size_t part = part_vmas ? part_vmas * chunk : len;
	struct timespec t0, t1, ts = { 0, 100000 }, gap = { 0, 1000000 };
	int64_t total = 0, longest = 0;
	size_t moves = 0, parts = 0;

	for (size_t off = 0; off < len; off += part, parts++) {
		size_t n = len - off < part ? len - off : part;
		char *dst = map_aligned(n, thp ? HUGE : PAGE, PROT_NONE);
		int64_t ns;

		if (off)
			nanosleep(&gap, NULL);
		atomic_store(&pause_req, 1);
		while (atomic_load(&paused) < nworkers)
			nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		moves += self_heal_part(dst, off, n, thp);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		atomic_store(&pause_req, 0);
		ns = elapsed_ns(&t0, &t1);
		total += ns;
		if (ns > longest)
			longest = ns;
	}
	printf("SELFHEAL ns=%lld moves=%zu parts=%zu longest=%lld\n",
	       (long long)total, moves, parts, (long long)longest);
	fflush(stdout);
}

/* _IOWR(0xAA, 5, struct uffdio_move): newer than Debian 12's headers. */
#define UFFDIO_MOVE_REQUEST 0xc028aa05u

static void install_seccomp(const char *mode)
{
	uint32_t action = !strcmp(mode, "deny") ? SECCOMP_RET_ERRNO | EPERM :
			  SECCOMP_RET_KILL_PROCESS;
	uint32_t nr = !strcmp(mode, "mlock2-kill") ? SYS_mlock2 :
		      SYS_userfaultfd;
	/*
	 * deny, kill: userfaultfd(); mlock2-kill: mlock2(); move-kill: only
	 * ioctl(UFFDIO_MOVE).
	 */
	struct sock_filter nr_filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_filter arg_filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
		/* the request's low 32 bits (little endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UFFDIO_MOVE_REQUEST, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(nr_filter) / sizeof(nr_filter[0]),
				   nr_filter };

	if (!strcmp(mode, "move-kill")) {
		prog.len = sizeof(arg_filter) / sizeof(arg_filter[0]);
		prog.filter = arg_filter;
	}

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		die("seccomp");
}

int main(int argc, char **argv)
{
	size_t rpages = 0, hchunks = 0;
	const char *seccomp = NULL;
	pthread_t *threads, extra[3];
	struct worker *wk;
	char line[64];
	int opt, shared = 0, nodump = 0, nofds = 0, bind = 0, churn = 0;
	int attrs = 0, vm_sharer = 0, lock = -1, lock_all = 0, pin = 0;
	size_t rseq_at = SIZE_MAX;
	pthread_t churner;
	uid_t uid = 0;
	pid_t child = 0;

	while ((opt = getopt(argc, argv, "w:r:H:z:s:fu:DnmTaVlLMq:P")) != -1) {
		switch (opt) {
		case 'w': nworkers = (unsigned)atoi(optarg); break;
		case 'r': rpages = strtoul(optarg, NULL, 0); break;
		case 'H': hchunks = strtoul(optarg, NULL, 0); break;
		case 'z': hole_every = strtoul(optarg, NULL, 0); break;
		case 's': seccomp = optarg; break;
		case 'f': shared = 1; break;
		case 'u': uid = (uid_t)atoi(optarg); break;
		case 'D': nodump = 1; break;
		case 'n': nofds = 1; break;
		case 'm': bind = 1; break;
		case 'T': churn = 1; break;
		case 'a': attrs = 1; break;
		case 'V': vm_sharer = 1; break;
		case 'l': lock = 0; break;
		case 'L': lock = MLOCK_ONFAULT; break;
		case 'M': lock_all = 1; break;
		case 'q': rseq_at = strtoul(optarg, NULL, 0); break;
		case 'P': pin = 1; break;
		default:
			fprintf(stderr, "usage: target [-w N] [-r PAGES | -H CHUNKS] "
				"[-z K] [-l | -L | -M] [-s deny|kill|mlock2-kill|move-kill] [-f] [-u UID] [-D] [-n] [-m] [-T] [-a] [-V] [-q K] [-P]\n");
			return 2;
		}
	}
	if (!nworkers)
		nworkers = 1;
	if (hchunks)
		fragment(HUGE, hchunks, 1);
	else
		fragment(PAGE, rpages ? rpages : 1, 0);
	if (attrs && (madvise(region, npages * PAGE, MADV_DONTDUMP) ||
		      madvise(region, npages * PAGE, MADV_DONTFORK) ||
		      madvise(region, npages * PAGE, MADV_WIPEONFORK)))
		die("madvise");
	/* EINVAL: a kernel without CONFIG_ANON_VMA_NAME. */
	if (attrs && prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, region,
			   npages * PAGE, "frag") && errno != EINVAL)
		die("prctl");
	if (lock >= 0 && mlock2(region, npages * PAGE, (unsigned int)lock))
		die("mlock2");
	if (lock_all && mlockall(MCL_CURRENT | MCL_FUTURE))
		die("mlockall");
	if (bind) {
		unsigned long node0 = 1;

		/* MPOL_BIND is 2 in linux/mempolicy.h. */
		if (syscall(SYS_mbind, region, npages * PAGE, 2, &node0,
			    sizeof(node0) * 8, 0))
			die("mbind");
	}
	if (rseq_at != SIZE_MAX)
		move_rseq(rseq_at);
	if (pin)
		pin_first_half();
	if (shared) {
		frozen_from = npages / 2;
		for (size_t j = frozen_from; j < npages; j++)
			if (!is_hole(j))
				write_page(j, 0);
		child = fork();
		if (child < 0)
			die("fork");
		if (!child) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pause();
			_exit(0);
		}
	}
	/* Changing uid makes a process non-dumpable: undo that. */
	if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid) ||
		    prctl(PR_SET_DUMPABLE, 1)))
		die("setresuid");
	if (nodump && prctl(PR_SET_DUMPABLE, 0))
		die("prctl");
	if (vm_sharer)
		start_vm_sharer();
	if (seccomp)
		install_seccomp(seccomp);
	if (pipe(wake_pipe))
		die("pipe");
	{
		struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_RESTART };

		sa.sa_sigaction = on_usr1;
		if (sigaction(SIGUSR1, &sa, NULL))
			die("sigaction");
		sa.sa_sigaction = on_rt;
		if (sigaction(SIGRTMIN + 1, &sa, NULL))
			die("sigaction");
	}
	if (nofds) {
		struct rlimit rl = { (rlim_t)wake_pipe[1] + 1,
				     (rlim_t)wake_pipe[1] + 1 };

		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit");
	}
	passes = calloc(nworkers, sizeof(*passes));
	threads = calloc(nworkers, sizeof(*threads));
	wk = calloc(nworkers, sizeof(*wk));
	if (!passes || !threads || !wk)
		die("calloc");
	for (unsigned k = 0; k < nworkers; k++) {
		wk[k].id = k;
		wk[k].gen = calloc(npages, sizeof(uint64_t));
		if (!wk[k].gen)
			die("calloc");
		for (size_t j = k; j < npages; j += nworkers)
			if (!untouched(j))
				write_page(j, 0);
		if (pthread_create(&threads[k], NULL, worker_main, &wk[k]))
			die("pthread_create");
	}
	if (pthread_create(&extra[0], NULL, sleeper_main, NULL) ||
	    pthread_create(&extra[1], NULL, reader_main, NULL) ||
	    pthread_create(&extra[2], NULL, futex_main, NULL))
		die("pthread_create");
	if (churn && pthread_create(&churner, NULL, churn_main, NULL))
		die("pthread_create");
	printf("READY pid=%d start=%#lx end=%#lx pages=%zu\n", getpid(),
	       (unsigned long)region, (unsigned long)(region + npages * PAGE),
	       npages);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "verify", 6)) {
			unsigned long want[nworkers];
			struct timespec ts = { 0, 1000000 };

			for (unsigned k = 0; k < nworkers; k++)
				want[k] = atomic_load(&passes[k]) + 2;
			for (unsigned k = 0; k < nworkers; k++)
				while (atomic_load(&passes[k]) < want[k])
					nanosleep(&ts, NULL);
			verify_holes();
			printf("VERIFIED errors=%ld\n", atomic_load(&errors));
			fflush(stdout);
		} else if (!strncmp(line, "selfheal", 8)) {
			self_heal(hchunks > 0, strtoul(line + 8, NULL, 10));
		} else if (!strncmp(line, "signals", 7)) {
			printf("SIGNALS usr1=%d code=%d value=%d rt=%d\n",
			       atomic_load(&usr1_count), atomic_load(&usr1_code),
			       atomic_load(&usr1_value), atomic_load(&rt_count));
			fflush(stdout);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	atomic_store(&stop, 1);
	for (unsigned k = 0; k < nworkers; k++)
		pthread_join(threads[k], NULL);
	if (write(wake_pipe[1], "q", 1) != 1)
		die("write");
	futex_word = 1;
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(extra[i], NULL);
	if (churn)
		pthread_join(churner, NULL);
	verify_holes();
	if (child)
		kill(child, SIGKILL);
	printf("EXIT errors=%ld\n", atomic_load(&errors));
	return atomic_load(&errors) ? 1 : 0;
}
