// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Shared by the backends: which runs can be healed at all, and the fresh
 * destination VMA that must end up with exactly the run's attributes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "heal.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static const struct {
	unsigned int bit;
	int advice;
} advices[] = {
	{ AR_ADV_HUGEPAGE, MADV_HUGEPAGE },
	{ AR_ADV_NOHUGEPAGE, MADV_NOHUGEPAGE },
	{ AR_ADV_DONTFORK, MADV_DONTFORK },
	{ AR_ADV_DONTDUMP, MADV_DONTDUMP },
	{ AR_ADV_WIPEONFORK, MADV_WIPEONFORK },
	{ AR_ADV_MERGEABLE, MADV_MERGEABLE },
};

int ar_heal_call(struct ar_inject *inj, const char *what, long *ret, long nr,
		 uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		 uint64_t a5, uint64_t a6)
{
	long r;
	int err = ar_inject_call(inj, &r, nr, a1, a2, a3, a4, a5, a6);

	if (err)
		return err;
	if (r < 0 && r > -AR_MAX_ERRNO)
		return ar_fail_errno(ar_inject_ctx(inj), (int)-r,
				     "%s in process %d", what,
				     ar_inject_pid(inj));
	if (ret)
		*ret = r;
	return 0;
}

uint64_t ar_heal_advice_of(uint64_t vmflags)
{
	return (vmflags & AR_VMF(HG) ? AR_ADV_HUGEPAGE : 0) |
	       (vmflags & AR_VMF(NH) ? AR_ADV_NOHUGEPAGE : 0) |
	       (vmflags & AR_VMF(DC) ? AR_ADV_DONTFORK : 0) |
	       (vmflags & AR_VMF(DD) ? AR_ADV_DONTDUMP : 0) |
	       (vmflags & AR_VMF(WF) ? AR_ADV_WIPEONFORK : 0) |
	       (vmflags & AR_VMF(MG) ? AR_ADV_MERGEABLE : 0) |
	       (vmflags & AR_VMF(LO) ? AR_ADV_MLOCK : 0) |
	       (vmflags & AR_VMF(LF) ? AR_ADV_MLOCK_ONFAULT : 0);
}

int ar_heal_prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) |
	       (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

int ar_heal_advise(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   uint64_t advice)
{
	int err = 0;

	for (size_t i = 0; i < AR_ARRAY_SIZE(advices) && !err; i++)
		if (advice & advices[i].bit)
			err = ar_heal_call(inj, "madvise", NULL, SYS_madvise,
					   addr, len,
					   (uint64_t)advices[i].advice, 0, 0,
					   0);
	return err;
}

/* An "[anon:NAME]" name, the only kind a destination is given. */
static bool is_anon_name(const char *name)
{
	return name && !strncmp(name, "[anon:", 6) &&
	       name[strlen(name) - 1] == ']';
}

/*
 * A process under mlockall(MCL_FUTURE) locks each new mapping, and fills a
 * locked one at once unless it is inaccessible or locked on fault: a
 * locked run's destination is mapped PROT_NONE, locked on fault, and only
 * then given the run's protections, so that it stays empty.
 */
static int dst_map_prot(int prot, uint64_t advice)
{
	return advice & AR_ADV_MLOCK ? PROT_NONE : prot;
}

int ar_heal_check_calls(struct ar_inject *inj, int prot, int mflags,
			uint64_t advice, const char *name,
			const struct ar_call_check *extra, size_t nextra)
{
	/* mmap munmap mremap mlock2 mprotect mlock prctl, madvises, 16 extra */
	struct ar_call_check calls[7 + AR_ARRAY_SIZE(advices) + 16];
	size_t n = 0;

	if (nextra > 16)
		return ar_fail(ar_inject_ctx(inj), EINVAL, "too many calls");
	calls[n++] = (struct ar_call_check){
		NULL, SYS_mmap, { 0, 0, (uint64_t)dst_map_prot(prot, advice),
				  (uint64_t)(mflags | MAP_FIXED_NOREPLACE),
				  (uint64_t)-1, 0 } };
	calls[n++] = (struct ar_call_check){ NULL, SYS_munmap, { 0 } };
	calls[n++] = (struct ar_call_check){
		NULL, SYS_mremap, { 0, 0, 0, MREMAP_FIXED | MREMAP_MAYMOVE } };
	for (size_t i = 0; i < AR_ARRAY_SIZE(advices); i++)
		if (advice & advices[i].bit)
			calls[n++] = (struct ar_call_check){
				"madvise", SYS_madvise,
				{ 0, 0, (uint64_t)advices[i].advice } };
	if (advice & AR_ADV_MLOCK) {
		calls[n++] = (struct ar_call_check){
			"mlock2(MLOCK_ONFAULT)", SYS_mlock2,
			{ 0, 0, MLOCK_ONFAULT } };
		calls[n++] = (struct ar_call_check){
			NULL, SYS_mprotect, { 0, 0, (uint64_t)prot } };
	}
	if (ar_heal_needs_relock(advice))
		calls[n++] = (struct ar_call_check){ NULL, SYS_mlock, { 0 } };
	if (is_anon_name(name))
		calls[n++] = (struct ar_call_check){
			"prctl(PR_SET_VMA)", SYS_prctl,
			{ PR_SET_VMA, PR_SET_VMA_ANON_NAME } };
	for (size_t i = 0; i < nextra; i++)
		calls[n++] = extra[i];
	return ar_inject_check_calls(inj, calls, n);
}

int ar_memlock_read(pid_t pid, struct ar_memlock *m)
{
	char text[4096];
	unsigned long long locked, caps;
	const char *v;

	memset(m, 0, sizeof(*m));
	if (ar_read_limit(pid, "Max locked memory", &m->unlimited, &m->limit))
		return -ENODATA;
	if (ar_read_status(pid, pid, text, sizeof(text)) <= 0 ||
	    !(v = ar_status_field(text, "VmLck")) ||
	    sscanf(v, "%llu", &locked) != 1 ||
	    !(v = ar_status_field(text, "CapEff")) ||
	    sscanf(v, "%llx", &caps) != 1)
		return -ENODATA;
	m->locked = locked * 1024;
	m->cap_ipc_lock = caps & (1ULL << CAP_IPC_LOCK);
	return 0;
}

bool ar_memlock_allows(const struct ar_memlock *m, uint64_t len)
{
	return m->cap_ipc_lock || m->unlimited ||
	       (m->limit && m->locked + len <= m->limit);
}

void ar_memlock_words(const struct ar_memlock *m, char *buf, size_t size)
{
	if (m->unlimited)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%llu kB, %llu kB locked already",
			 (unsigned long long)m->limit / 1024,
			 (unsigned long long)m->locked / 1024);
}

/*
 * Lock the empty destination on fault, as UFFDIO_MOVE needs it when the
 * run is locked.  The process's RLIMIT_MEMLOCK must then allow the run's
 * size twice over, unless it has CAP_IPC_LOCK.
 */
static int lock_dst(struct ar_inject *inj, uint64_t dst, uint64_t len)
{
	struct ar_memlock m;
	char limit[96] = "";
	long r;
	int err = ar_inject_call(inj, &r, SYS_mlock2, dst, len, MLOCK_ONFAULT,
				 0, 0, 0);

	if (err)
		return err;
	if (r == -ENOMEM || r == -EPERM) {
		if (!ar_memlock_read(ar_inject_pid(inj), &m))
			ar_memlock_words(&m, limit, sizeof(limit));
		return ar_fail(ar_inject_ctx(inj), (int)-r, "process %d may "
			       "not lock the %llu kB more that its mlocked run "
			       "needs while it moves (RLIMIT_MEMLOCK%s%s; no "
			       "CAP_IPC_LOCK): run left as it was",
			       ar_inject_pid(inj),
			       (unsigned long long)len / 1024,
			       *limit ? " " : "", limit);
	}
	if (r < 0)
		return ar_fail_errno(ar_inject_ctx(inj), (int)-r,
				     "mlock2(MLOCK_ONFAULT) of the destination "
				     "in process %d", ar_inject_pid(inj));
	return 0;
}

bool ar_heal_needs_relock(uint64_t advice)
{
	return (advice & AR_ADV_MLOCK) && !(advice & AR_ADV_MLOCK_ONFAULT);
}

int ar_heal_relock(struct ar_inject *inj, uint64_t addr, uint64_t len,
		   uint64_t advice)
{
	if (!ar_heal_needs_relock(advice))
		return 0;
	return ar_heal_call(inj, "mlock of the healed run", NULL, SYS_mlock,
			    addr, len, 0, 0, 0, 0);
}

int ar_heal_map_dst(struct ar_inject *inj, uint64_t dst, uint64_t len,
		    int prot, int mflags, uint64_t advice, const char *name,
		    uint64_t scratch)
{
	int err = ar_inject_mmap(inj, dst, len, dst_map_prot(prot, advice),
				 mflags);

	if (!err)
		err = ar_heal_advise(inj, dst, len, advice);
	if (!err && (advice & AR_ADV_MLOCK) && !(err = lock_dst(inj, dst, len)))
		err = ar_heal_call(inj, "mprotect of the destination", NULL,
				   SYS_mprotect, dst, len, (uint64_t)prot, 0, 0,
				   0);
	if (err)
		return err;
	/* Only "[anon:NAME]" is a name; "[heap]" and the like follow the address. */
	if (is_anon_name(name)) {
		char buf[256];
		size_t n = strlen(name) - 6;

		if (n > sizeof(buf))
			return ar_fail(ar_inject_ctx(inj), ENAMETOOLONG,
				       "anonymous name too long");
		memcpy(buf, name + 6, n - 1);
		buf[n - 1] = '\0';
		if ((err = ar_inject_write(inj, scratch, buf, n)) ||
		    (err = ar_heal_call(inj, "naming the destination", NULL,
					SYS_prctl, PR_SET_VMA,
					PR_SET_VMA_ANON_NAME, dst, len,
					scratch, 0)))
			return err;
	}
	return 0;
}

int ar_heal_check_run(struct ar_ctx *ctx, const struct ar_heal_run *run)
{
	static const struct {
		int flag;
		const char *why;
	} refuse[] = {
		{ AR_VMF_UM, "armed by the process's own userfaultfd" },
		{ AR_VMF_UW, "armed by the process's own userfaultfd" },
		{ AR_VMF_UI, "armed by the process's own userfaultfd" },
		{ AR_VMF_SH, "shared" }, { AR_VMF_MS, "shared" },
		{ AR_VMF_GD, "a stack growing down" },
		{ AR_VMF_HT, "hugetlb" }, { AR_VMF_IO, "I/O memory" },
		{ AR_VMF_PF, "a PFN map" }, { AR_VMF_DE, "not expandable" },
		{ AR_VMF_SS, "a shadow stack" }, { AR_VMF_SL, "sealed" },
		{ AR_VMF_DP, "droppable" }, { AR_VMF_GU, "guarded" },
	};

	if (!run->nsrc || run->src[0].start != run->start ||
	    run->src[run->nsrc - 1].end != run->end ||
	    run->start % ar_page_size() || run->end % ar_page_size())
		return ar_fail(ctx, EINVAL, "run %#llx-%#llx: sources do not "
			       "cover it", (unsigned long long)run->start,
			       (unsigned long long)run->end);
	for (size_t i = 0; i + 1 < run->nsrc; i++)
		if (run->src[i].end != run->src[i + 1].start ||
		    run->src[i].start >= run->src[i].end)
			return ar_fail(ctx, EINVAL, "run %#llx-%#llx: sources "
				       "are not adjacent VMAs in order",
				       (unsigned long long)run->start,
				       (unsigned long long)run->end);
	for (size_t i = 0; i < AR_ARRAY_SIZE(refuse); i++)
		if (run->vmflags & (UINT64_C(1) << refuse[i].flag))
			return ar_fail(ctx, EPERM, "run %#llx-%#llx is %s: "
				       "skipped", (unsigned long long)run->start,
				       (unsigned long long)run->end,
				       refuse[i].why);
	if (!run->perms || strlen(run->perms) != 4 || run->perms[3] != 'p')
		return ar_fail(ctx, EINVAL, "run %#llx-%#llx is not private "
			       "anonymous memory", (unsigned long long)run->start,
			       (unsigned long long)run->end);
	return 0;
}

int ar_heal_run_from_proc(struct ar_heal_run *hr, struct ar_jsrc *src,
			  const struct ar_proc *proc, const struct ar_run *run)
{
	const struct ar_vma *first = ar_proc_vma(proc, run->first_vma);

	memset(hr, 0, sizeof(*hr));
	for (size_t i = 0; i < run->vmas; i++) {
		const struct ar_vma *v = ar_proc_vma(proc, run->first_vma + i);

		if (strcmp(v->perms, first->perms) ||
		    (v->vmflags & ~AR_VMF(SD)) != (first->vmflags & ~AR_VMF(SD)) ||
		    strcmp(v->name, first->name) || v->vmflags_other)
			return -EINVAL;
		src[i] = (struct ar_jsrc){ v->start, v->end, 0 };
	}
	hr->start = run->start;
	hr->end = run->end;
	hr->src = src;
	hr->nsrc = run->vmas;
	hr->perms = first->perms;
	hr->vmflags = first->vmflags;
	hr->name = first->name;
	return 0;
}

/*
 * A NUMA policy (mbind) on any VMA of the run: the destination would not
 * have it.  numa_maps is read only as far as the run.
 */
int ar_heal_check_mempolicy(struct ar_ctx *ctx, pid_t pid,
			    const struct ar_heal_run *run)
{
	char path[64], line[256];
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/numa_maps", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;	/* a kernel without NUMA */
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char policy[32];

		if (sscanf(line, "%llx %31s", &a, policy) != 2 ||
		    a < run->start)
			continue;
		if (a >= run->end)
			break;
		if (strcmp(policy, "default"))
			err = ar_fail(ctx, EPERM, "run %#llx-%#llx has a NUMA "
				      "policy (%s) that a move cannot carry",
				      (unsigned long long)run->start,
				      (unsigned long long)run->end, policy);
	}
	fclose(f);
	return err;
}

int ar_heal_split_by_heals(struct ar_inject *inj,
			   int (*heal)(struct ar_inject *inj,
				       const struct ar_heal_run *run,
				       struct ar_heal_stats *st),
			   const struct ar_heal_run *run,
			   struct ar_heal_stats *st)
{
	const uint64_t range[1][2] = { { run->start, run->end } };
	struct ar_ctx *ctx = ar_inject_ctx(inj);
	struct ar_heal_layout l = { 0 };
	uint64_t t0 = ar_now_ns();
	int err;

	memset(st, 0, sizeof(*st));
	err = ar_heal_layout_read(ctx, ar_inject_pid(inj), range, 1, &l);
	/*
	 * Splitting a piece off changes nothing about where the VMA holding
	 * the pieces after it ends, so one read tells what each needs.
	 */
	for (size_t i = 0; i < run->nsrc && !err; i++) {
		const struct ar_jsrc *p = &run->src[i];
		struct ar_heal_run one = *run;
		struct ar_heal_stats pst;

		switch (ar_heal_piece_state(&l, p->start, p->end)) {
		case AR_PIECE_DONE:
			continue;
		case AR_PIECE_INSIDE:
			break;
		default:
			err = ar_fail(ctx, EBADMSG, "process %d: %#llx-%#llx is "
				      "no longer part of one VMA",
				      (int)ar_inject_pid(inj),
				      (unsigned long long)p->start,
				      (unsigned long long)p->end);
			continue;
		}
		one.start = p->start;
		one.end = p->end;
		one.src = p;
		one.nsrc = 1;
		one.must = 0;
		one.policy_known = 1;	/* the run healed had no policy */
		err = heal(inj, &one, &pst);
		st->moves += pst.moves;
		st->batches += pst.batches;
		st->bytes += pst.bytes;
	}
	ar_heal_layout_free(&l);
	st->ns = ar_now_ns() - t0;
	return err;
}
