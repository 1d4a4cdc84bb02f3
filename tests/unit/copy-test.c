// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Live tests of the copy backend against tests/helpers/target (which
 * verifies its own memory while we work) and against a read-only region
 * of a child of ours that checks its own bytes on request.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "inject.h"
#include "journal.h"
#include "target-client.h"

static struct ar_ctx *ctx;

/* THP collapses khugepaged made since boot; 0 when unknown. */
static unsigned long khugepaged_collapsed(void)
{
	char buf[64];

	if (ar_read_small_file("/sys/kernel/mm/transparent_hugepage/khugepaged/"
			       "pages_collapsed", buf, sizeof(buf)) < 0)
		return 0;
	return strtoul(buf, NULL, 10);
}

/*
 * Rss went from before to now: the same, or khugepaged collapsed pages
 * meanwhile (it fills holes of MADV_HUGEPAGE memory, healed or not, up to
 * max_ptes_none): then the change is not the copy's.
 */
static int rss_held(long before, long now, unsigned long collapsed)
{
	if (now == before)
		return 1;
	printf("# Rss %ld -> %ld kB\n", before, now);
	if (khugepaged_collapsed() == collapsed)
		return 0;
	printf("# khugepaged collapsed pages meanwhile: not the copy's\n");
	return 1;
}

/* VMAs of t's process outside its region: nothing of ours may stay. */
static long vmas_outside(const struct tgt *t)
{
	return count_vmas(t->pid, 0, ~0UL) - count_vmas(t->pid, t->start, t->end);
}

/* VmFlags and permissions of the VMA of pid containing addr. */
static int vma_attrs(pid_t pid, unsigned long addr, char *out, size_t size)
{
	char path[64], line[512];
	int in = 0, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];

		if (line[strspn(line, "0123456789abcdef")] == '-' &&
		    sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3) {
			in = s <= addr && addr < e;
			if (in)
				snprintf(out, size, "%s", perms);
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strlen(out);

			snprintf(out + n, size - n, "%s", line + 8);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * Heal the target started with args with the copy backend: one VMA, the
 * same permissions and VmFlags, Rss not grown, THP kept when thp, every
 * page verified by the target.
 */
static void copy_and_check(const char *args, unsigned int flags, int thp)
{
	char before[512], after[512];
	struct ar_heal_stats st;
	long rss, rss_after, huge = 0, outside, locked;
	unsigned long collapsed = khugepaged_collapsed();
	struct tgt t;
	double t0;

	CHECK(tgt_start(&t, args) == 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), (long)(thp ? t.pages / 512 :
							   t.pages));
	CHECK(vma_attrs(t.pid, t.start, before, sizeof(before)) == 0);
	rss = smaps_kb(t.pid, t.start, t.end, "Rss:");
	locked = smaps_kb(t.pid, t.start, t.end, "Locked:");
	outside = vmas_outside(&t);
	if (thp) {
		huge = smaps_kb(t.pid, t.start, t.end, "AnonHugePages:");
		CHECK(huge > 0);
	}
	t0 = now_us();
	CHECK_EQ(heal_range(ctx, t.pid, t.start, t.end, COPY->heal, flags,
			    &st), 0);
	t0 = now_us() - t0;
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	CHECK(vma_attrs(t.pid, t.start, after, sizeof(after)) == 0);
	if (strcmp(before, after))
		printf("# before: %s# after:  %s", before, after);
	CHECK(!strcmp(before, after));
	rss_after = smaps_kb(t.pid, t.start, t.end, "Rss:");
	printf("# %s: %llu pages copied, %llu unmap batches, %.2f ms; Rss "
	       "%ld -> %ld kB", args, (unsigned long long)st.moves,
	       (unsigned long long)st.batches, t0 / 1e3, rss, rss_after);
	if (thp)
		printf(", AnonHugePages %ld -> %ld kB", huge,
		       smaps_kb(t.pid, t.start, t.end, "AnonHugePages:"));
	printf("\n");
	CHECK(rss_held(rss, rss_after, collapsed));
	CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), locked);
	CHECK_EQ(vmas_outside(&t), outside);
	if (thp)
		CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "AnonHugePages:"), huge);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

static void copy_heals_1000_reversed(void)
{
	copy_and_check("-r 1000 -w 2", 0, 0);
}

/*
 * --must's rollback: a run healed by copying is split back into the VMAs
 * it was, each with its attributes, every page in place.
 */
static void copy_split_back(void)
{
	char before[512], after[512], maps[2][16384];
	long healed = 0;
	struct tgt t;

	CHECK(tgt_start(&t, "-r 200 -z 7 -w 2") == 0);
	CHECK(vma_attrs(t.pid, t.start, before, sizeof(before)) == 0);
	CHECK(maps_of(t.pid, t.start, t.end, maps[0], sizeof(maps[0])) == 0);
	CHECK_EQ(heal_then_split(ctx, t.pid, t.start, t.end, COPY->heal,
				 &healed), 0);
	CHECK_EQ(healed, 1);
	CHECK(maps_of(t.pid, t.start, t.end, maps[1], sizeof(maps[1])) == 0);
	CHECK(!strcmp(maps[0], maps[1]));
	CHECK(vma_attrs(t.pid, t.start, after, sizeof(after)) == 0);
	CHECK(!strcmp(before, after));
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* Holes stay holes: Rss equal (compared in copy_and_check). */
static void copy_heals_holes(void)
{
	copy_and_check("-r 600 -z 5 -w 2", 0, 0);
}

/* Without a journal too. */
static void copy_heals_holes_no_journal(void)
{
	copy_and_check("-r 300 -z 3 -w 2", AR_INJECT_NO_JOURNAL, 0);
}

/* Whole, aligned THP chunks stay huge pages. */
static void copy_keeps_thp(void)
{
	copy_and_check("-H 4 -w 2", 0, 1);
}

/*
 * MADV_HUGEPAGE chunks with holes (split to small pages): no huge page
 * may fill the holes, so Rss does not grow.
 */
static void copy_thp_run_with_holes(void)
{
	unsigned long collapsed = khugepaged_collapsed();
	struct tgt t;
	long rss, rss_after;

	CHECK(tgt_start(&t, "-H 3 -z 9 -w 2") == 0);
	rss = smaps_kb(t.pid, t.start, t.end, "Rss:");
	CHECK_EQ(heal_range(ctx, t.pid, t.start, t.end, COPY->heal, 0, NULL), 0);
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 1);
	rss_after = smaps_kb(t.pid, t.start, t.end, "Rss:");
	printf("# -H 3 -z 9: Rss %ld -> %ld kB\n", rss, rss_after);
	CHECK(rss_held(rss, rss_after, collapsed));
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * mlocked runs stay so: plainly ("lo", holes filled by the mlock) or on
 * fault ("lo lf", holes kept); Locked unchanged (see copy_and_check()).
 */
static void copy_keeps_mlock(void)
{
	copy_and_check("-r 300 -l -w 2", 0, 0);
	copy_and_check("-r 300 -z 5 -L -w 2", 0, 0);
	copy_and_check("-H 2 -l -w 2", 0, 1);
}

/* DONTDUMP, DONTFORK, WIPEONFORK kept, and the name where names exist. */
static void copy_keeps_attributes(void)
{
	struct tgt t;
	int named;

	copy_and_check("-r 100 -a -w 2", 0, 0);
	CHECK(tgt_start(&t, "-r 20 -a -w 1") == 0);
	named = vma_named(t.pid, t.start, "[anon:frag]");
	CHECK(named >= 0);
	CHECK_EQ(heal_range(ctx, t.pid, t.start, t.end, COPY->heal, 0, NULL), 0);
	if (named)
		CHECK_EQ(vma_named(t.pid, t.start, "[anon:frag]"), 1);
	else
		printf("# no CONFIG_ANON_VMA_NAME here: names not tested\n");
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * A child of ours with a read-only (prot) run of n reverse-placed pages,
 * each with its own pattern; "v" on its pipe makes it check them all and
 * answer with the number of bad pages.
 */
struct ro_child {
	pid_t pid;
	int cmd, ans;
	unsigned long start, end;
};

static uint64_t ro_pattern(size_t page, size_t word)
{
	return (page + 1) * 0x9E3779B97F4A7C15ULL ^ word;
}

static void ro_child_main(int cmd, int ans, size_t n, int prot, int mflags)
{
	size_t len = n * PAGE;
	char *src = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | mflags, -1, 0);
	char *dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);
	char c;

	if (src == MAP_FAILED || dst == MAP_FAILED)
		_exit(2);
	for (size_t j = 0; j < n; j++)
		for (size_t w = 0; w < PAGE / 8; w++)
			((uint64_t *)(src + j * PAGE))[w] = ro_pattern(n - 1 - j, w);
	for (size_t j = 0; j < n; j++)
		if (mremap(src + j * PAGE, PAGE, PAGE, MREMAP_FIXED |
			   MREMAP_MAYMOVE, dst + (n - 1 - j) * PAGE) ==
		    MAP_FAILED)
			_exit(2);
	if (mprotect(dst, len, prot))
		_exit(2);
	if (write(ans, &dst, sizeof(dst)) != sizeof(dst))
		_exit(2);
	while (read(cmd, &c, 1) == 1) {
		int bad = 0;

		/* PROT_NONE pages are checked once readable again. */
		if (!(prot & PROT_READ) && mprotect(dst, len, PROT_READ))
			_exit(2);
		for (size_t j = 0; j < n; j++)
			for (size_t w = 0; w < PAGE / 8; w++)
				if (((uint64_t *)(dst + j * PAGE))[w] !=
				    ro_pattern(j, w)) {
					bad++;
					break;
				}
		if (!(prot & PROT_READ) && mprotect(dst, len, prot))
			_exit(2);
		if (write(ans, &bad, sizeof(bad)) != sizeof(bad))
			_exit(2);
	}
	_exit(0);
}

static int ro_start(struct ro_child *k, size_t n, int prot, int mflags)
{
	int cmd[2], ans[2];
	char *addr;

	if (pipe(cmd) || pipe(ans))
		return -1;
	fflush(stdout);
	k->pid = fork();
	if (k->pid < 0)
		return -1;
	if (!k->pid) {
		close(cmd[1]);
		close(ans[0]);
		ro_child_main(cmd[0], ans[1], n, prot, mflags);
	}
	close(cmd[0]);
	close(ans[1]);
	k->cmd = cmd[1];
	k->ans = ans[0];
	if (read(k->ans, &addr, sizeof(addr)) != sizeof(addr))
		return -1;
	k->start = (unsigned long)addr;
	k->end = k->start + n * PAGE;
	return 0;
}

static int ro_verify(struct ro_child *k)
{
	int bad;

	if (write(k->cmd, "v", 1) != 1 ||
	    read(k->ans, &bad, sizeof(bad)) != sizeof(bad))
		return -1;
	return bad;
}

static int ro_stop(struct ro_child *k)
{
	int status;

	close(k->cmd);
	close(k->ans);
	if (waitpid(k->pid, &status, 0) != k->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void copy_protected(int prot, int mflags, const char *perms)
{
	char before[512], after[512];
	struct ro_child k;

	CHECK(ro_start(&k, 200, prot, mflags) == 0);
	CHECK_EQ(count_vmas(k.pid, k.start, k.end), 200);
	CHECK_EQ(ro_verify(&k), 0);
	CHECK(vma_attrs(k.pid, k.start, before, sizeof(before)) == 0);
	CHECK(!strncmp(before, perms, 4));
	CHECK_EQ(heal_range(ctx, k.pid, k.start, k.end, COPY->heal, 0, NULL), 0);
	CHECK_EQ(count_vmas(k.pid, k.start, k.end), 1);
	CHECK(vma_attrs(k.pid, k.start, after, sizeof(after)) == 0);
	if (strcmp(before, after))
		printf("# before: %s# after:  %s", before, after);
	CHECK(!strcmp(before, after));
	CHECK_EQ(ro_verify(&k), 0);
	CHECK_EQ(ro_stop(&k), 0);
}

/* Mapped writable while filled, read-only again after ("ac" kept). */
static void copy_read_only_run(void)
{
	copy_protected(PROT_READ, 0, "r--p");
}

/* Not accounted ("nr"): dst stays read-only, written through /proc/PID/mem. */
static void copy_read_only_noreserve_run(void)
{
	copy_protected(PROT_READ, MAP_NORESERVE, "r--p");
}

static void copy_prot_none_run(void)
{
	copy_protected(PROT_NONE, 0, "---p");
}

/* Pages shared with a forked child: refused before anything changes. */
static void copy_refuses_shared(void)
{
	char path[256];
	struct tgt t;
	long rss;
	int err;

	CHECK(tgt_start(&t, "-r 200 -f -w 2") == 0);
	rss = smaps_kb(t.pid, t.start, t.end, "Rss:");
	err = heal_range(ctx, t.pid, t.start, t.end, COPY->heal, 0, NULL);
	printf("# %s\n", ar_ctx_errmsg(ctx));
	CHECK_EQ(err, -EBUSY);
	CHECK(strstr(ar_ctx_errmsg(ctx), "shared"));
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 200);
	CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Rss:"), rss);
	CHECK(proc_state(t.pid) != 'T');
	CHECK_EQ(ar_journal_path(path, sizeof(path), t.pid), 0);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/*
 * The same refusals as uffd-move, minus "not writable"; every backend
 * heals mlocked runs.
 */
static void copy_check_run_refusals(void)
{
	struct ar_jsrc src[2] = { { 0x10000, 0x11000, 0 },
				  { 0x11000, 0x12000, 0 } };
	struct ar_heal_run hr = { .start = 0x10000, .end = 0x12000, .src = src,
				  .nsrc = 2, .perms = "r--p" };

	CHECK_EQ(COPY->check_run(ctx, &hr), 0);
	CHECK_EQ(UFFD->check_run(ctx, &hr), -EPERM);
	hr.vmflags = AR_VMF(LO);
	CHECK_EQ(COPY->check_run(ctx, &hr), 0);
	hr.vmflags = AR_VMF(LO) | AR_VMF(LF);
	CHECK_EQ(COPY->check_run(ctx, &hr), 0);
	CHECK_EQ(RELOCATE->check_run(ctx, &hr), 0);
	hr.perms = "rw-p";
	CHECK_EQ(UFFD->check_run(ctx, &hr), 0);
	hr.vmflags = AR_VMF(UM);
	CHECK_EQ(COPY->check_run(ctx, &hr), -EPERM);
	hr.vmflags = AR_VMF(GD);
	CHECK_EQ(COPY->check_run(ctx, &hr), -EPERM);
	hr.vmflags = AR_VMF(SL);
	CHECK_EQ(COPY->check_run(ctx, &hr), -EPERM);
	hr.vmflags = 0;
	src[1].start = 0x11800;
	CHECK_EQ(COPY->check_run(ctx, &hr), -EINVAL);
}

/* A NUMA policy cannot be carried to the new VMA: refused, untouched. */
static void copy_refuses_mempolicy(void)
{
	struct tgt t;

	CHECK(tgt_start(&t, "-r 50 -m") == 0);
	CHECK_EQ(heal_range(ctx, t.pid, t.start, t.end, COPY->heal, 0, NULL),
		 -EPERM);
	CHECK(strstr(ar_ctx_errmsg(ctx), "NUMA policy"));
	CHECK_EQ(count_vmas(t.pid, t.start, t.end), 50);
	CHECK_EQ(tgt_verify(&t), 0);
	CHECK_EQ(tgt_quit(&t), 0);
}

/* VMAs of a region of the target started with args, before any heal. */
static long count_vmas_of(const char *args)
{
	const char *h = strstr(args, "-H "), *r = strstr(args, "-r ");

	return h ? atol(h + 3) : r ? atol(r + 3) : 1;
}

/* End of the VMA of pid that starts at start, 0 if none. */
static unsigned long vma_end_at(pid_t pid, unsigned long start)
{
	char path[64], line[512];
	unsigned long end = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s == start)
			end = e;
	}
	fclose(f);
	return end;
}

/* How long a copy of the target started with args takes, in us. */
static double time_copy_once(const char *args)
{
	struct tgt t;
	double us;
	pid_t child;
	int status;

	if (tgt_start(&t, args))
		return -1;
	fflush(stdout);
	us = now_us();
	child = fork();
	if (child < 0)
		return -1;
	if (!child)
		_exit(heal_range(ctx, t.pid, t.start, t.end, COPY->heal, 0,
				 NULL) ? 1 : 0);
	if (waitpid(child, &status, 0) != child)
		return -1;
	us = now_us() - us;
	if (WEXITSTATUS(status) || count_vmas(t.pid, t.start, t.end) != 1 ||
	    tgt_quit(&t))
		return -1;
	return us;
}

/* The fastest of three: the first copies of a test run slower. */
static double time_copy(const char *args)
{
	double best = -1;

	for (int i = 0; i < 3; i++) {
		double us = time_copy_once(args);

		if (us < 0)
			return -1;
		if (best < 0 || us < best)
			best = us;
	}
	return best;
}

/* Start a copy of t in a child and SIGKILL it after us microseconds. */
static int kill_copy_after(struct tgt *t, double us)
{
	pid_t child;
	int status;

	fflush(stdout);
	child = fork();
	if (child < 0)
		return -1;
	if (!child)
		_exit(heal_range(ctx, t->pid, t->start, t->end, COPY->heal, 0,
				 NULL) ? 1 : 0);
	usleep((useconds_t)us);
	kill(child, SIGKILL);
	if (waitpid(child, &status, 0) != child)
		return -1;
	/* A batch of munmaps the tool left running ends and stops itself. */
	usleep(20000);
	return 0;
}

/*
 * The tool killed with SIGKILL at random instants of a copy, then
 * recover: healed or untouched, every page intact, Rss not grown, the
 * same VmFlags, the process running.  With need_midway, some kills must
 * land after the first sources were unmapped and before the last
 * (several batches of munmaps).  AR_KILL9_ITERATIONS multiplies the
 * iterations.
 */
static void kill9_loop(const char *args, int iterations, int need_midway)
{
	const char *env = getenv("AR_KILL9_ITERATIONS");
	unsigned int healed = 0, untouched = 0, how_seen[3] = { 0 };
	unsigned int in_copy = 0, midway = 0;
	double full_us = time_copy(args);
	struct tgt t;

	CHECK(full_us > 0);
	if (env)
		iterations = iterations * atoi(env) / 20;
	srand((unsigned int)getpid());
	for (int it = 0; it < iterations; it++) {
		enum ar_recovery how = AR_RECOVERY_NOTHING;
		char before[512], after[512];
		struct ar_journal *j;
		unsigned long collapsed;
		long vmas, rss, outside, locked;
		int err;

		CHECK(tgt_start(&t, args) == 0);
		collapsed = khugepaged_collapsed();
		rss = smaps_kb(t.pid, t.start, t.end, "Rss:");
		locked = smaps_kb(t.pid, t.start, t.end, "Locked:");
		outside = vmas_outside(&t);
		CHECK(vma_attrs(t.pid, t.start, before, sizeof(before)) == 0);
		CHECK_EQ(kill_copy_after(&t, rand() % (int)(full_us + 1)), 0);
		if (!ar_journal_open(ctx, t.pid, &j)) {
			in_copy += (ar_backend_of_phase(ar_journal_state(j)->phase) == COPY);
			ar_journal_close(j);
		}
		vmas = count_vmas(t.pid, t.start, t.end);
		midway += vmas != 1 && vmas != count_vmas_of(args);
		err = ar_recover(ctx, t.pid, &how);
		if (err && err != -ENOENT)
			printf("# iteration %d: %s\n", it, ar_ctx_errmsg(ctx));
		CHECK(err == 0 || err == -ENOENT);
		how_seen[how]++;
		vmas = count_vmas(t.pid, t.start, t.end);
		CHECK(vmas == count_vmas_of(args) || vmas == 1);
		CHECK(how != AR_RECOVERY_FINISHED || vmas == 1);
		CHECK(how != AR_RECOVERY_UNDONE || vmas == count_vmas_of(args));
		CHECK(rss_held(rss, smaps_kb(t.pid, t.start, t.end, "Rss:"),
			       collapsed));
		CHECK_EQ(vmas_outside(&t), outside);
		CHECK(vma_attrs(t.pid, t.start, after, sizeof(after)) == 0);
		if (strcmp(before, after))
			printf("# before: %s# after:  %s", before, after);
		CHECK(!strcmp(before, after));
		CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), locked);
		healed += vmas == 1;
		untouched += vmas != 1;
		CHECK(proc_state(t.pid) != 'T');
		CHECK_EQ(tgt_verify(&t), 0);
		CHECK_EQ(tgt_quit(&t), 0);
	}
	printf("# %s: %d kills over %.1f ms: %u healed, %u untouched; in a "
	       "copy phase %u, sources partly unmapped %u; recover finished "
	       "%u, undid %u\n", args, iterations, full_us / 1e3, healed,
	       untouched, in_copy, midway, how_seen[AR_RECOVERY_FINISHED],
	       how_seen[AR_RECOVERY_UNDONE]);
	CHECK(midway > 0 || !need_midway);
}

static void copy_kill9_then_recover(void)
{
	kill9_loop("-r 2000 -z 4 -w 2", 20, 1);
}

/* An mlocked run stays plainly mlocked whatever the dead tool left. */
static void copy_kill9_mlocked_then_recover(void)
{
	kill9_loop("-r 2000 -l -w 2", 10, 1);
}

/* MADV_HUGEPAGE kept whatever mode the dead tool left dst in. */
static void copy_kill9_thp_then_recover(void)
{
	kill9_loop("-H 8 -z 9 -w 2", 10, 0);
}

/*
 * A copy that could not go on puts the copied front back: the journal of
 * a copy killed half-way is turned into the record such a failure writes
 * (AR_JP_COPY_BACK), then recover.  The front becomes one VMA with the
 * run's VmFlags, the rest is untouched, every page intact.
 */
static void recover_puts_back(const char *args)
{
	double full_us = time_copy(args);
	int done = 0;

	CHECK(full_us > 0);
	for (int tries = 0; tries < 40 && !done; tries++) {
		enum ar_recovery how = AR_RECOVERY_NOTHING;
		struct ar_journal_state *js;
		struct ar_journal *j;
		struct tgt t;
		unsigned long front;
		size_t m = 0;
		unsigned long collapsed;
		char before[512], after[512];
		long vmas, rss, outside, locked;
		int err, rewritten;

		CHECK(tgt_start(&t, args) == 0);
		collapsed = khugepaged_collapsed();
		rss = smaps_kb(t.pid, t.start, t.end, "Rss:");
		locked = smaps_kb(t.pid, t.start, t.end, "Locked:");
		outside = vmas_outside(&t);
		CHECK(vma_attrs(t.pid, t.start, before, sizeof(before)) == 0);
		CHECK_EQ(kill_copy_after(&t, full_us * (0.2 + 0.6 * rand() /
							 RAND_MAX)), 0);
		vmas = count_vmas(t.pid, t.start, t.end);
		rewritten = 0;
		if (vmas > 1 && vmas < (long)t.pages &&
		    !ar_journal_open(ctx, t.pid, &j)) {
			js = ar_journal_state(j);
			while (m < js->nsrc &&
			       !count_vmas(t.pid, js->src[m].start,
					   js->src[m].end))
				m++;
			CHECK(m > 0 && m < js->nsrc);
			CHECK_EQ(js->phase, COPY_PHASE_DST);
			js->phase = COPY_PHASE_BACK;
			AR_JREC(js, struct test_copy_rec)->batch_first = (uint32_t)m;
			CHECK_EQ(ar_journal_write(j, js, 0), 0);
			ar_journal_close(j);
			rewritten = 1;
		}
		err = ar_recover(ctx, t.pid, &how);
		if (err && err != -ENOENT)
			printf("# %s\n", ar_ctx_errmsg(ctx));
		CHECK(err == 0 || (!rewritten && err == -ENOENT));
		vmas = count_vmas(t.pid, t.start, t.end);
		/* The batch the tool left may have unmapped more, or all. */
		if (rewritten && how == AR_RECOVERY_FINISHED) {
			CHECK_EQ(vmas, 1);
		} else if (rewritten) {
			CHECK_EQ(how, AR_RECOVERY_UNDONE);
			front = vma_end_at(t.pid, t.start);
			printf("# put back %lu of %zu sources (%zu when the "
			       "record was made) after %d tries\n",
			       (front - t.start) / PAGE, t.pages, m, tries + 1);
			CHECK(front >= t.start + m * PAGE && front < t.end);
			CHECK_EQ(vmas, 1 + (long)((t.end - front) / PAGE));
			done = 1;
		}
		CHECK(rss_held(rss, smaps_kb(t.pid, t.start, t.end, "Rss:"),
			       collapsed));
		CHECK_EQ(smaps_kb(t.pid, t.start, t.end, "Locked:"), locked);
		CHECK(vma_attrs(t.pid, t.start, after, sizeof(after)) == 0);
		if (strcmp(before, after))
			printf("# before: %s# after:  %s", before, after);
		CHECK(!strcmp(before, after));
		CHECK_EQ(vmas_outside(&t), outside);
		CHECK(proc_state(t.pid) != 'T');
		CHECK_EQ(tgt_verify(&t), 0);
		CHECK_EQ(tgt_quit(&t), 0);
	}
	CHECK(done);
}

static void copy_recover_puts_back(void)
{
	recover_puts_back("-r 2000 -z 4 -w 2");
}

/* The front put back is locked plainly again, as the run was. */
static void copy_recover_puts_back_mlocked(void)
{
	recover_puts_back("-r 2000 -l -w 2");
}

static void run(const char *name, void (*fn)(void))
{
	tap_run(name, fn);
	kill_all();
}

#define RUN(fn) run(#fn, fn)

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (tgt_locate())
		return 1;
	if (ar_ctx_new(&ctx))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	RUN(copy_check_run_refusals);
	RUN(copy_heals_1000_reversed);
	RUN(copy_heals_holes);
	RUN(copy_split_back);
	RUN(copy_heals_holes_no_journal);
	RUN(copy_keeps_thp);
	RUN(copy_thp_run_with_holes);
	RUN(copy_keeps_mlock);
	RUN(copy_keeps_attributes);
	RUN(copy_read_only_run);
	RUN(copy_read_only_noreserve_run);
	RUN(copy_prot_none_run);
	RUN(copy_refuses_shared);
	RUN(copy_refuses_mempolicy);
	RUN(copy_kill9_then_recover);
	RUN(copy_kill9_mlocked_then_recover);
	RUN(copy_kill9_thp_then_recover);
	RUN(copy_recover_puts_back);
	RUN(copy_recover_puts_back_mlocked);
	ar_ctx_free(ctx);
	return tap_done();
}
