// SPDX-License-Identifier: GPL-2.0-or-later
/* Parser and analyzer against recorded and hand-made smaps fixtures. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "anonremap.h"
#include "internal.h"
#include "layout.h"
#include "tap.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif

static struct ar_ctx *ctx;

static struct ar_proc *parse(const char *name)
{
	struct ar_proc *proc;
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	if (ar_proc_parse_file(ctx, path, &proc)) {
		printf("# %s: %s\n", name, ar_ctx_errmsg(ctx));
		return NULL;
	}
	return proc;
}

static struct ar_summary summary(const struct ar_proc *proc)
{
	struct ar_summary s;

	ar_proc_summary(proc, &s);
	return s;
}

/* Captured from `fragment reverse:20 interleave:9 holes:30:5 mixed:6 thp:2`. */
static void real_fragment_capture(void)
{
	struct ar_proc *p = parse("fragment-real.smaps");
	struct ar_summary s;
	size_t i, thp_runs = 0;

	CHECK(p);
	s = summary(p);
	CHECK_EQ(s.vmas, 98);
	CHECK_EQ(s.anon_vmas, 80);
	CHECK_EQ(s.splits, 46);
	CHECK_EQ(s.runs, 9);
	CHECK_EQ(s.split_bytes, 4411392);
	CHECK_EQ(s.split_rss_bytes, 4411392);
	CHECK_EQ(ar_proc_nruns(p), 9);
	for (i = 0; i < ar_proc_nruns(p); i++) {
		const struct ar_run *r = ar_proc_run(p, i);

		CHECK(r->vmas >= 2);
		CHECK_EQ(r->bytes, r->end - r->start);
		CHECK_EQ(r->blockers, 0);
		thp_runs += r->thp_bytes > 0;
	}
	CHECK_EQ(thp_runs, 1);
	CHECK(ar_proc_run(p, 9) == NULL);
	ar_proc_free(p);
}

static void real_plain_process_has_no_split(void)
{
	struct ar_proc *p = parse("bash-real.smaps");
	struct ar_summary s;

	CHECK(p);
	s = summary(p);
	CHECK_EQ(s.vmas, 37);	/* 38 entries less [vsyscall] */
	CHECK_EQ(s.splits, 0);
	CHECK_EQ(s.runs, 0);
	CHECK_EQ(s.split_bytes, 0);
	ar_proc_free(p);
}

static const struct ar_vma *find_vma(const struct ar_proc *p, uint64_t start)
{
	size_t i;

	for (i = 0; i < ar_proc_nvmas(p); i++)
		if (ar_proc_vma(p, i)->start == start)
			return ar_proc_vma(p, i);
	return NULL;
}

static void odd_names_and_attributes(void)
{
	struct ar_proc *p = parse("odd-names.smaps");
	const struct ar_vma *v;
	struct ar_summary s;

	CHECK(p);
	s = summary(p);
	CHECK_EQ(s.vmas, 17);
	CHECK_EQ(s.anon_vmas, 13);
	/* [heap] pair (sd ignored), [anon:my buffer] pair (gu ignored),
	 * mlocked pair */
	CHECK_EQ(s.splits, 3);
	CHECK_EQ(s.runs, 3);
	v = ar_proc_vma(p, 0);
	CHECK(!strcmp(v->name, "/opt/my app/bin/with spaces"));
	CHECK(!v->anonymous);
	v = ar_proc_vma(p, 1);
	CHECK(!strcmp(v->name, "/opt/my app/bin/with spaces (deleted)"));
	v = find_vma(p, 0x7f0000000000);
	CHECK(v && !strcmp(v->name, "[anon:my buffer]") && v->anonymous);
	v = find_vma(p, 0x7f0000004000);
	CHECK(v && !v->anonymous && (v->vmflags & AR_VMF(SH)));
	v = find_vma(p, 0x7f0000012000);
	CHECK(v && v->vmflags_other != 0);
	CHECK(find_vma(p, 0x7f0000013000)->vmflags_other != v->vmflags_other);
	CHECK_EQ(find_vma(p, 0x7f0000021000)->pkey, 1);
	CHECK_EQ(find_vma(p, 0x7f0000020000)->pkey, 0);
	CHECK(find_vma(p, 0xffffffffff600000) == NULL);
	CHECK_EQ(ar_proc_run(p, 0)->start, 0x55d000100000);
	CHECK_EQ(ar_proc_run(p, 0)->blockers, 0);
	CHECK_EQ(ar_proc_run(p, 1)->start, 0x7f0000000000);
	CHECK_EQ(ar_proc_run(p, 2)->start, 0x7f0000010000);
	/* mlocked runs heal: no blocker */
	CHECK_EQ(ar_proc_run(p, 2)->blockers, 0);
	CHECK(!strcmp(find_vma(p, 0x7ffd00000000)->name, "[stack]"));
	CHECK_EQ(find_vma(p, 0x7ffd00000000)->rss, 132 * 1024);
	ar_proc_free(p);
}

static void old_kernel_without_fields(void)
{
	struct ar_proc *p = parse("missing-fields.smaps");
	struct ar_summary s;

	CHECK(p);
	s = summary(p);
	CHECK_EQ(s.vmas, 4);
	CHECK_EQ(s.anon_vmas, 3);
	CHECK_EQ(s.splits, 2);
	CHECK_EQ(s.runs, 1);
	CHECK_EQ(ar_proc_run(p, 0)->swap_bytes, 3 * 4096);
	CHECK_EQ(ar_proc_vma(p, 1)->pkey, -1);
	CHECK_EQ(ar_proc_vma(p, 1)->vmflags, 0);
	ar_proc_free(p);
}

/* Cut at byte 20000, inside the "Referenced:" line of the 28th entry. */
static void truncated_capture_keeps_complete_part(void)
{
	struct ar_proc *p = parse("truncated.smaps");

	CHECK(p);
	CHECK_EQ(ar_proc_nvmas(p), 28);
	CHECK_EQ(ar_proc_vma(p, 27)->start, 0x7f1370120000);
	CHECK_EQ(ar_proc_vma(p, 27)->rss, 4096);
	ar_proc_free(p);
}

static char tmp_path[] = "/tmp/anonremap-maps-test.XXXXXX";

static int parse_text(const char *text, struct ar_proc **p)
{
	FILE *f = fopen(tmp_path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	fclose(f);
	return ar_proc_parse_file(ctx, tmp_path, p);
}

static void malformed_line_is_an_error_with_its_number(void)
{
	struct ar_proc *p;

	CHECK_EQ(parse_text("7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n"
			    "Rss: 4 kB\n"
			    "this is not smaps\n", &p), -EBADMSG);
	CHECK(p == NULL);
	CHECK(strstr(ar_ctx_errmsg(ctx), "line 3"));
	CHECK_EQ(parse_text("Rss: 4 kB\n", &p), -EBADMSG);
	CHECK(strstr(ar_ctx_errmsg(ctx), "before any mapping"));
	CHECK_EQ(parse_text("7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n"
			    "Rss: lots kB\n", &p), -EBADMSG);
	CHECK_EQ(parse_text("", &p), 0);
	CHECK_EQ(ar_proc_nvmas(p), 0);
	ar_proc_free(p);
}

static void missing_file_is_an_error(void)
{
	struct ar_proc *p;

	CHECK_EQ(ar_proc_parse_file(ctx, "/nonexistent/smaps", &p), -ENOENT);
	CHECK(strstr(ar_ctx_errmsg(ctx), "/nonexistent/smaps"));
}

/* 60 000 file-backed and anonymous VMAs alternating, then 20 000 in a run. */
static void huge_counts(void)
{
	FILE *f = fopen(tmp_path, "w");
	struct ar_proc *p;
	struct ar_summary s;
	uint64_t addr = 0x100000000;
	int i;

	CHECK(f);
	for (i = 0; i < 60000; i++, addr += 4096) {
		if (i % 2)
			fprintf(f, "%llx-%llx r--p 00001000 fe:00 99 /usr/lib/lib %d.so\n",
				(unsigned long long)addr,
				(unsigned long long)addr + 4096, i);
		else
			fprintf(f, "%llx-%llx rw-p 00000000 00:00 0 \n",
				(unsigned long long)addr,
				(unsigned long long)addr + 4096);
		fputs("Rss:                   4 kB\nVmFlags: rd wr mr mw me ac\n", f);
	}
	for (i = 0; i < 20000; i++, addr += 4096)
		fprintf(f, "%llx-%llx rw-p 00000000 00:00 0 \nRss: 4 kB\n"
			"VmFlags: rd wr mr mw me ac\n", (unsigned long long)addr,
			(unsigned long long)addr + 4096);
	fclose(f);
	CHECK_EQ(ar_proc_parse_file(ctx, tmp_path, &p), 0);
	s = summary(p);
	CHECK_EQ(s.vmas, 80000);
	CHECK_EQ(s.anon_vmas, 50000);
	/* entry 59999 is file-backed, so the run is the last 20 000 alone */
	CHECK_EQ(s.splits, 19999);
	CHECK_EQ(s.runs, 1);
	CHECK_EQ(s.split_bytes, 20000 * 4096ULL);
	CHECK(!strcmp(ar_proc_vma(p, 59999)->name, "/usr/lib/lib 59999.so"));
	ar_proc_free(p);
}

static void live_self(void)
{
	struct ar_proc *p;
	struct ar_summary s;

	CHECK_EQ(ar_proc_read(ctx, getpid(), AR_READ_BLOCKERS, &p), 0);
	s = summary(p);
	CHECK_EQ(s.pid, getpid());
	CHECK(!strcmp(s.comm, "maps-test"));
	CHECK(s.vmas > 5);
	CHECK(s.max_map_count > 0);
	ar_proc_free(p);
}

static void live_bad_pids(void)
{
	struct ar_proc *p = NULL;
	pid_t child;

	CHECK_EQ(ar_proc_read(ctx, 0, 0, &p), -EINVAL);
	CHECK_EQ(ar_proc_read(ctx, -5, 0, &p), -EINVAL);
	CHECK_EQ(ar_proc_read(ctx, 2, 0, &p), -EINVAL);
	CHECK(strstr(ar_ctx_errmsg(ctx), "kernel thread"));
	CHECK_EQ(ar_proc_read(ctx, 0x3fffffff, 0, &p), -ESRCH);
	CHECK(strstr(ar_ctx_errmsg(ctx), "no such process"));
	child = fork();
	CHECK(child >= 0);
	if (!child)
		_exit(0);
	usleep(100000);
	CHECK_EQ(ar_proc_read(ctx, child, 0, &p), -ESRCH);
	CHECK(strstr(ar_ctx_errmsg(ctx), "zombie"));
	waitpid(child, NULL, 0);
	CHECK(p == NULL);
}

/* Ten pages moved in reverse order: one run of ten VMAs in this process. */
static char *make_run(int write_pages)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *src = mmap(NULL, 10 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dst = mmap(NULL, 12 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	volatile char sink = 0;
	int i;

	if (src == MAP_FAILED || dst == MAP_FAILED)
		return NULL;
	for (i = 0; i < 10; i++) {
		if (write_pages)
			src[i * ps] = (char)i;
		else
			sink += src[i * ps];	/* maps the shared zero page */
	}
	(void)sink;
	for (i = 0; i < 10; i++)
		if (mremap(src + i * ps, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED,
			   dst + (10 - i) * ps) == MAP_FAILED)
			return NULL;
	return dst + ps;
}

static const struct ar_run *run_at(const struct ar_proc *p, char *addr)
{
	size_t i;

	for (i = 0; i < ar_proc_nruns(p); i++)
		if (ar_proc_run(p, i)->start == (uintptr_t)addr)
			return ar_proc_run(p, i);
	return NULL;
}

static void blockers_from_pagemap(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *written = make_run(1), *zero = make_run(0);
	struct ar_proc *p;
	pid_t child;
	int pipefd[2];
	char c;

	CHECK(written && zero);
	CHECK_EQ(ar_proc_read(ctx, getpid(), AR_READ_BLOCKERS, &p), 0);
	CHECK(run_at(p, written) && run_at(p, zero));
	CHECK_EQ(run_at(p, written)->vmas, 10);
	CHECK_EQ(run_at(p, written)->blockers, 0);
	/* zero-page mappings are present but not exclusive: not "shared" */
	CHECK_EQ(run_at(p, zero)->blockers, 0);
	ar_proc_free(p);

	CHECK(!pipe(pipefd));
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[0]);
	CHECK_EQ(ar_proc_read(ctx, getpid(), AR_READ_BLOCKERS, &p), 0);
	close(pipefd[1]);
	waitpid(child, NULL, 0);
	CHECK_EQ(run_at(p, written)->blockers, AR_BLOCK_SHARED);
	ar_proc_free(p);

	/*
	 * mlocked is no blocker (the raw call: AddressSanitizer turns mlock()
	 * into a no-op).
	 */
	CHECK(!syscall(SYS_mlock, written, 10 * ps));
	CHECK_EQ(ar_proc_read(ctx, getpid(), AR_READ_BLOCKERS, &p), 0);
	CHECK(run_at(p, written));
	CHECK(ar_proc_vma(p, run_at(p, written)->first_vma)->vmflags &
	      AR_VMF(LO));
	CHECK_EQ(run_at(p, written)->blockers, 0);
	ar_proc_free(p);
	CHECK(!syscall(SYS_munlock, written, 10 * ps));
}

static void blocker_names(void)
{
	CHECK(!strcmp(ar_blocker_name(AR_BLOCK_SHARED), "shared"));
	/* 1u << 1 was AR_BLOCK_MLOCKED */
	CHECK(ar_blocker_name(1u << 1) == NULL);
	CHECK(!strcmp(ar_blocker_name(AR_BLOCK_UFFD), "uffd"));
	CHECK(!strcmp(ar_blocker_name(AR_BLOCK_GUARD), "guard"));
	CHECK(!strcmp(ar_blocker_name(AR_BLOCK_PINNED), "pinned"));
	CHECK(ar_blocker_name(0) == NULL);
	CHECK(ar_blocker_name(AR_BLOCK_SHARED | AR_BLOCK_UFFD) == NULL);
}

/*
 * A part of our own map: read up to the part only, and the kernel's view
 * of it compared VMA by VMA (what a stop under --max-pause relies on).
 */
static void part_read_and_unchanged(void)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ar_proc *proc;
	uint64_t from, until;
	size_t n, i;
	char *p;

	/* Eight VMAs of alternating protections, two holes after. */
	p = mmap(NULL, 10 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK_EQ(munmap(p + 8 * page, 2 * page), 0);
	for (i = 1; i < 8; i += 2)
		CHECK_EQ(mprotect(p + i * page, page, PROT_READ), 0);
	from = (uintptr_t)p + 2 * page;
	until = (uintptr_t)p + 6 * page;
	CHECK_EQ(ar_proc_read_part(ctx, getpid(), AR_READ_BLOCKERS, from, until,
				   &proc), 0);
	n = ar_proc_nvmas(proc);
	/* It stopped at the first VMA at or after until. */
	CHECK(n > 0 && ar_proc_vma(proc, n - 1)->start == until);
	CHECK_EQ(ar_proc_part_unchanged(ctx, proc), 1);
	/* A protection change inside the part is seen... */
	CHECK_EQ(mprotect(p + 3 * page, page, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(ar_proc_part_unchanged(ctx, proc), 0);
	CHECK_EQ(mprotect(p + 3 * page, page, PROT_READ), 0);
	CHECK_EQ(ar_proc_part_unchanged(ctx, proc), 1);
	/* ...and so is the VMA just before it, which decides the run... */
	CHECK_EQ(mprotect(p + page, page, PROT_NONE), 0);
	CHECK_EQ(ar_proc_part_unchanged(ctx, proc), 0);
	CHECK_EQ(mprotect(p + page, page, PROT_READ), 0);
	/* ...and the one just after it, gone. */
	CHECK_EQ(munmap(p + 6 * page, page), 0);
	CHECK_EQ(ar_proc_part_unchanged(ctx, proc), 0);
	ar_proc_free(proc);
	munmap(p, 8 * page);
}

/* What our VMAs make of [s, e) (ar_heal_layout_read()), and how many. */
static int layout_of(uint64_t s, uint64_t e, size_t *n)
{
	const uint64_t range[1][2] = { { s, e } };
	struct ar_heal_layout l = { 0 };
	int state = -1;

	if (!ar_heal_layout_read(ctx, getpid(), range, 1, &l)) {
		state = (int)ar_heal_range_state(&l, s, e);
		*n = l.n;
	}
	ar_heal_layout_free(&l);
	return state;
}

/*
 * The /proc/PID/maps reader on ourselves: a shared file mapping at an
 * offset, whose deleted file has spaces in its name, and a named
 * anonymous mapping; then the layout over the latter.
 */
static void maps_reader_self(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char path[] = "/tmp/maps test XXXXXX", file[64], anon[32] = "";
	struct ar_maps_line l;
	struct ar_maps m;
	int fd = mkstemp(path), file_ok = 0, anon_ok = 0, ret;
	uint64_t s;
	size_t n = 0;
	char *f = MAP_FAILED, *a;

	CHECK(fd >= 0);
	if (!ftruncate(fd, 2 * page))
		f = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, page);
	close(fd);
	unlink(path);
	CHECK(f != MAP_FAILED);
	snprintf(file, sizeof(file), "%s (deleted)", path);
	a = mmap(NULL, 3 * (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(a != MAP_FAILED);
	/* Kernels without CONFIG_ANON_VMA_NAME: no name. */
	if (!prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a, 3 * page, "a name"))
		strcpy(anon, "[anon:a name]");
	CHECK_EQ(ar_maps_open(ctx, getpid(), &m), 0);
	while ((ret = ar_maps_next(&m, &l)) > 0) {
		if (l.start == (uintptr_t)f)
			file_ok = l.end == l.start + (uint64_t)page &&
				  !strcmp(l.perms, "r--s") &&
				  l.offset == (uint64_t)page &&
				  !strcmp(l.name, file);
		if (l.start == (uintptr_t)a)
			anon_ok = l.end == l.start + 3 * (uint64_t)page &&
				  !strcmp(l.perms, "rw-p") && !l.offset &&
				  !strcmp(l.name, anon);
	}
	ar_maps_close(&m);
	CHECK_EQ(ret, 0);
	CHECK(file_ok);
	CHECK(anon_ok);
	s = (uintptr_t)a;
	CHECK_EQ(layout_of(s, s + 3 * (uint64_t)page, &n), AR_RANGE_EXACT);
	CHECK_EQ(n, 1);
	CHECK_EQ(layout_of(s + (uint64_t)page, s + 2 * (uint64_t)page, &n),
		 AR_RANGE_OTHER);
	munmap(f, (size_t)page);
	munmap(a, 3 * (size_t)page);
	CHECK(ar_maps_open(ctx, 0, &m) == -ENOENT);
	CHECK(!strcmp(ar_ctx_errmsg(ctx), "cannot open /proc/0/maps: "
		      "No such file or directory"));
}

int main(void)
{
	int fd, ret;

	if (ar_ctx_new(&ctx))
		return 1;
	fd = mkstemp(tmp_path);
	if (fd < 0)
		return 1;
	close(fd);
	TAP_RUN(real_fragment_capture);
	TAP_RUN(real_plain_process_has_no_split);
	TAP_RUN(odd_names_and_attributes);
	TAP_RUN(old_kernel_without_fields);
	TAP_RUN(truncated_capture_keeps_complete_part);
	TAP_RUN(malformed_line_is_an_error_with_its_number);
	TAP_RUN(missing_file_is_an_error);
	TAP_RUN(huge_counts);
	TAP_RUN(live_self);
	TAP_RUN(live_bad_pids);
	TAP_RUN(blockers_from_pagemap);
	TAP_RUN(blocker_names);
	TAP_RUN(part_read_and_unchanged);
	TAP_RUN(maps_reader_self);
	ret = tap_done();
	unlink(tmp_path);
	ar_ctx_free(ctx);
	return ret;
}
