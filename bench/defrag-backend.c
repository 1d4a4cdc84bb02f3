// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The uffd-move backend against the same moves made in-process, on
 * tests/helpers/target with PAGES reversed one-page VMAs (default 10 000).
 * Run through bench/defrag.sh.
 *
 * Prints medians of REPEAT rounds (default 3), each on fresh targets,
 * each measuring everything below back to back (ratios are medians of
 * the rounds' ratios, never of times taken under different loads):
 *  - injection costs: one injected getpid, one in a batch, the attach;
 *  - heal: wall time of the uffd-move backend's heal(), the whole pause (attach to
 *    detach), and the target healing itself with the same ioctls;
 *    ratios heal / in-process and pause / in-process;
 *  - ar_defrag() as a whole, and the anonremap command (forked and
 *    executed, as a shell starts it), against the in-process time;
 *  - ar_defrag() with --max-pause MAX_PAUSE_MS (default 10): stops,
 *    longest and mean pause, VMAs left; then, back to back, the target
 *    healing itself in parts that take as long as those stops did on
 *    average: the longest of them is how far this machine alone stretches
 *    a pause of that length (a stalled vCPU, another task), which no
 *    injector can do better than.
 * Every target verifies its pages afterwards; any error fails the bench.
 * VERBOSE=1 prints each pause and where its time went.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target-client.h"

static struct ar_ctx *ctx;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void fail(const char *what)
{
	fprintf(stderr, "defrag-backend: %s: %s\n", what, ar_ctx_errmsg(ctx));
	kill_all();
	exit(1);
}

static void finish_target(struct tgt *t)
{
	long errors = tgt_verify(t);
	int status = tgt_quit(t);

	if (errors || status) {
		fprintf(stderr, "defrag-backend: target: %ld errors, exit %d\n",
			errors, status);
		kill_all();
		exit(1);
	}
}

/* Per-call cost of injected getpid, alone and in a batch; attach time. */
static void injection_costs(double *single_us, double *batch_us,
			    double *attach_us)
{
	enum { N = 1000 };
	static struct ar_sysdesc d[N];
	struct ar_inject_stats st;
	struct ar_inject *inj;
	uint64_t data;
	size_t size, done;
	struct tgt t;
	double t0;
	long ret;

	if (tgt_start(&t, "-w 2"))
		fail("starting the target");
	if (ar_inject_attach(ctx, t.pid, 0, AR_INJECT_NO_JOURNAL, &inj))
		fail("attach");
	ar_inject_get_stats(inj, &st);
	*attach_us = st.attach_ns / 1e3;
	t0 = now_us();
	for (int i = 0; i < N; i++)
		if (ar_inject_call(inj, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0) ||
		    ret != t.pid)
			fail("injected getpid");
	*single_us = (now_us() - t0) / N;
	data = ar_inject_data(inj, &size);
	for (int i = 0; i < N; i++)
		d[i] = (struct ar_sysdesc){ .nr = SYS_getpid };
	t0 = now_us();
	if (ar_inject_batch(inj, data, d, N, &done) || done != N)
		fail("batch of getpid");
	*batch_us = (now_us() - t0) / N;
	if (ar_inject_detach(inj))
		fail("detach");
	finish_target(&t);
}

/*
 * Heal VMAs [from, to) of the run over t's region in one pause; wall time
 * of the pause and of the heal itself.
 */
static void heal_part(struct tgt *t, size_t from, size_t to, double *pause_us,
		      double *heal_us)
{
	struct ar_heal_stats st;
	struct ar_proc *proc = NULL;
	const struct ar_run *run = NULL;
	struct ar_heal_run hr;
	struct ar_inject *inj;
	struct ar_jsrc *src;
	struct ar_run part;
	double t0 = now_us();
	double t_attach, t_read, t_heal;

	if (ar_inject_attach(ctx, t->pid, 0, 0, &inj))
		fail("attach");
	t_attach = now_us();
	if (ar_proc_read(ctx, t->pid, 0, &proc))
		fail("reading smaps");
	t_read = now_us();
	for (size_t i = 0; i < ar_proc_nruns(proc); i++) {
		const struct ar_run *r = ar_proc_run(proc, i);

		if (r->start <= t->start && r->end >= t->end)
			run = r;
	}
	if (!run || to > run->vmas)
		fail("finding the run");
	part = *run;
	part.first_vma += from;
	part.vmas = to - from;
	part.start = ar_proc_vma(proc, part.first_vma)->start;
	part.end = ar_proc_vma(proc, part.first_vma + part.vmas - 1)->end;
	src = calloc(part.vmas, sizeof(*src));
	if (!src || ar_heal_run_from_proc(&hr, src, proc, &part) ||
	    UFFD->heal(inj, &hr, &st))
		fail("heal");
	t_heal = now_us();
	if (ar_inject_detach(inj))
		fail("detach");
	*pause_us = now_us() - t0;
	if (getenv("VERBOSE"))
		fprintf(stderr, "pause %.2f ms: attach %.2f, smaps %.2f, heal "
			"%.2f, detach %.2f\n", *pause_us / 1e3,
			(t_attach - t0) / 1e3, (t_read - t_attach) / 1e3,
			(t_heal - t_read) / 1e3, (now_us() - t_heal) / 1e3);
	*heal_us = st.ns / 1e3;
	free(src);
	ar_proc_free(proc);
}

/* ar_defrag() of t with the uffd-move backend; a copy of its report. */
static void defrag(struct tgt *t, unsigned int max_pause_ms,
		   struct ar_defrag_report *out)
{
	struct ar_defrag_opts opts = {
		.backend = AR_BACKEND_UFFD_MOVE,
		.max_pause_ms = max_pause_ms,
	};
	struct ar_defrag_report *rep;

	if (ar_defrag(ctx, t->pid, &opts, &rep))
		fail("ar_defrag");
	*out = *rep;
	out->runs = NULL;
	ar_defrag_report_free(rep);
}

/*
 * The target healing itself with the backend's sequence, in parts of
 * part_vmas VMAs (0: all at once): time of all parts; with parts, the
 * longest part, the time of all again and how many parts into the
 * pointers that are not NULL.
 */
static double self_heal_us(const char *args, size_t part_vmas,
			   double *longest_us, double *total_us, size_t *parts)
{
	char buf[128];
	long long ns, longest;
	unsigned long n;
	struct tgt t;

	if (tgt_start(&t, args))
		fail("starting the target");
	fprintf(t.in, "selfheal %zu\n", part_vmas);
	fflush(t.in);
	if (!fgets(buf, sizeof(buf), t.out) ||
	    sscanf(buf, "SELFHEAL ns=%lld moves=%*u parts=%lu longest=%lld",
		   &ns, &n, &longest) != 3)
		fail("in-process heal");
	if (!part_vmas && count_vmas(t.pid, t.start, t.end) != 1)
		fail("in-process heal left several VMAs");
	finish_target(&t);
	if (longest_us)
		*longest_us = longest / 1e3;
	if (total_us)
		*total_us = ns / 1e3;
	if (parts)
		*parts = n;
	return ns / 1e3;
}

/* A part of n * scale VMAs, at least 2. */
static size_t scaled_part(size_t n, double scale)
{
	double part = n * scale;

	return part < 2 ? 2 : (size_t)part;
}

/*
 * The anonremap command on t, started as a shell starts a command (fork
 * and exec, output to /dev/null); wall time in us until it exited.
 */
static double command_us(struct tgt *t)
{
	char pid[16];
	char *const argv[] = { "cli/anonremap", "defrag", "--backend",
			       "uffd-move", pid, NULL };
	posix_spawn_file_actions_t fa;
	pid_t child;
	int status;
	double t0;

	snprintf(pid, sizeof(pid), "%d", (int)t->pid);
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					     O_WRONLY, 0))
		fail("posix_spawn_file_actions");
	t0 = now_us();
	if (posix_spawn(&child, argv[0], &fa, NULL, argv, environ) ||
	    waitpid(child, &status, 0) != child)
		fail("starting cli/anonremap defrag");
	t0 = now_us() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("cli/anonremap defrag");
	return t0;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000;
	unsigned int max_pause_ms = argc > 2 ? (unsigned int)atoi(argv[2]) : 10;
	int repeat = getenv("REPEAT") ? atoi(getenv("REPEAT")) : 3;
	double single[repeat], batch[repeat], attach[repeat], self[repeat];
	double heal[repeat], pause[repeat], whole[repeat], wpause[repeat];
	double cmd[repeat], r_heal[repeat], r_pause[repeat], r_whole[repeat];
	double r_cmd[repeat], in_longest[repeat], self_us;
	struct ar_defrag_report rep;
	char args[64];
	struct tgt t;

	if (ar_ctx_new(&ctx) || tgt_locate() ||
	    repeat < 1)
		return 1;
	snprintf(args, sizeof(args), "-r %zu -w 2", pages);
	/*
	 * Each round measures everything back to back, the in-process
	 * baseline included, so that a ratio never compares times taken
	 * under different loads; the medians of the rounds' ratios follow.
	 */
	for (int i = 0; i < repeat; i++) {
		double t0;

		injection_costs(&single[i], &batch[i], &attach[i]);
		self[i] = self_heal_us(args, 0, NULL, NULL, NULL);
		if (tgt_start(&t, args))
			fail("starting the target");
		heal_part(&t, 0, pages, &pause[i], &heal[i]);
		if (count_vmas(t.pid, t.start, t.end) != 1)
			fail("heal left several VMAs");
		finish_target(&t);
		/* The product's path: ar_defrag() as `anonremap defrag` calls it. */
		if (tgt_start(&t, args))
			fail("starting the target");
		t0 = now_us();
		defrag(&t, 0, &rep);
		whole[i] = now_us() - t0;
		wpause[i] = rep.pause_ns / 1e3;
		finish_target(&t);
		if (tgt_start(&t, args))
			fail("starting the target");
		cmd[i] = command_us(&t);
		finish_target(&t);
		r_heal[i] = heal[i] / self[i];
		r_pause[i] = pause[i] / self[i];
		r_whole[i] = whole[i] / self[i];
		r_cmd[i] = cmd[i] / self[i];
	}
	printf("injected getpid: %.1f us/call alone, %.2f us/call in a batch; "
	       "attach %.2f ms\n", median(single, repeat),
	       median(batch, repeat), median(attach, repeat) / 1e3);
	printf("%zu-VMA run, medians of %d rounds: in-process %.1f ms; uffd "
	       "backend %.1f ms (pause %.1f ms); ar_defrag %.1f ms (pause "
	       "%.1f ms); the command %.1f ms\n", pages, repeat,
	       median(self, repeat) / 1e3, median(heal, repeat) / 1e3,
	       median(pause, repeat) / 1e3, median(whole, repeat) / 1e3,
	       median(wpause, repeat) / 1e3, median(cmd, repeat) / 1e3);
	printf("ratios to in-process, medians of the rounds': heal %.2f, its "
	       "pause %.2f; ar_defrag (snapshots, plan, one stop) %.2f "
	       "(target <= 2); the command %.2f (target <= 2)\n",
	       median(r_heal, repeat), median(r_pause, repeat),
	       median(r_whole, repeat), median(r_cmd, repeat));
	self_us = median(self, repeat);
	for (int i = 0; i < repeat; i++) {
		double mean_ms, in_total;
		size_t part, done;

		if (tgt_start(&t, args))
			fail("starting the target");
		defrag(&t, (unsigned int)max_pause_ms, &rep);
		pause[i] = rep.pause_ns / 1e3;
		mean_ms = rep.pause_total_ns / 1e6 / (double)rep.pauses;
		printf("--max-pause %u: %zu stops, longest %.2f ms, mean %.2f ms; "
		       "%zu VMAs -> %zu\n", (unsigned int)max_pause_ms,
		       rep.pauses, rep.pause_ns / 1e6, mean_ms, pages,
		       (size_t)count_vmas(t.pid, t.start, t.end));
		finish_target(&t);
		/*
		 * The mean stop's worth of VMAs at the in-process rate, then
		 * corrected by one heal in such parts (each part has a fixed
		 * cost besides its moves).
		 */
		part = scaled_part(pages, mean_ms * 1e3 / self_us);
		self_heal_us(args, part, NULL, &in_total, &done);
		part = scaled_part(part, mean_ms * 1e3 * done / in_total);
		/* As many parts as stops, for as many chances of a stall. */
		in_longest[i] = in_total = 0;
		for (done = 0; done < rep.pauses;) {
			double l, t;
			size_t n;

			self_heal_us(args, part, &l, &t, &n);
			in_total += t;
			done += n;
			if (l > in_longest[i])
				in_longest[i] = l;
		}
		printf("  in-process, %zu parts of %zu VMAs (a mean stop's worth): "
		       "longest %.2f ms, mean %.2f ms\n", done, part,
		       in_longest[i] / 1e3, in_total / (double)done / 1e3);
	}
	printf("--max-pause %u: longest pause, median of %d: %.2f ms "
	       "(target <= %u); in-process parts as long as the mean stop, "
	       "longest, median of %d: %.2f ms\n", (unsigned int)max_pause_ms,
	       repeat, median(pause, repeat) / 1e3,
	       (unsigned int)max_pause_ms, repeat,
	       median(in_longest, repeat) / 1e3);
	ar_ctx_free(ctx);
	return 0;
}
