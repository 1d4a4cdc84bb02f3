// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Free address ranges in a target process: a copy of its mappings, taken
 * before it is stopped, and the gap picked in it for scratch pages and
 * destinations, used once the kernel confirms it is still free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch.h"
#include "gaps.h"
#include "layout.h"

void ar_gaps_init(struct ar_gaps *g, struct ar_ctx *ctx, pid_t pid)
{
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->pid = pid;
	g->mapsfd = -1;
}

static int gaps_add(struct ar_gaps *g, uint64_t start, uint64_t end)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		struct ar_gap_range *r = realloc(g->r, cap * sizeof(*r));

		if (!r)
			return ar_fail(g->ctx, ENOMEM, "out of memory");
		g->r = r;
		g->cap = cap;
	}
	g->r[g->n].start = start;
	g->r[g->n].end = end;
	g->n++;
	return 0;
}

int ar_gaps_read(struct ar_gaps *g)
{
	struct ar_maps_line l;
	struct ar_maps m;
	int ret = ar_maps_open(g->ctx, g->pid, &m);

	if (ret)
		return ret;
	g->n = 0;
	g->stack = 0;
	while ((ret = ar_maps_next(&m, &l)) > 0) {
		if (!g->stack && !strcmp(l.name, "[stack]"))
			g->stack = l.start;
		if ((ret = gaps_add(g, l.start, l.end)))
			break;
	}
	ar_maps_close(&m);
	return ret;
}

int ar_gaps_copy(struct ar_gaps *g, const struct ar_vma *vmas, size_t n)
{
	struct ar_gap_range *r = realloc(g->r, (n ? n : 1) * sizeof(*r));

	if (!r)
		return ar_fail(g->ctx, ENOMEM, "out of memory");
	g->r = r;
	g->cap = n ? n : 1;
	g->stack = 0;
	for (size_t i = 0; i < n; i++) {
		r[i] = (struct ar_gap_range){ vmas[i].start, vmas[i].end };
		if (!g->stack && !strcmp(vmas[i].name, "[stack]"))
			g->stack = vmas[i].start;
	}
	g->n = n;
	return 0;
}

void ar_gaps_free(struct ar_gaps *g)
{
	free(g->r);
	if (g->mapsfd >= 0)
		close(g->mapsfd);
	memset(g, 0, sizeof(*g));
	g->mapsfd = -1;
}

/* Note [start, start + len) as taken in g (no-op when out of memory). */
static void reserve(struct ar_gaps *g, uint64_t start, uint64_t len)
{
	size_t i = 0;

	if (g->n == g->cap) {
		struct ar_gap_range *r = realloc(g->r, (g->cap + 16) * sizeof(*r));

		if (!r) {
			g->n = 0;	/* forget the copy: read it again */
			return;
		}
		g->r = r;
		g->cap += 16;
	}
	while (i < g->n && g->r[i].start < start)
		i++;
	memmove(&g->r[i + 1], &g->r[i], (g->n - i) * sizeof(*g->r));
	g->r[i].start = start;
	g->r[i].end = start + len;
	g->n++;
}

/*
 * Top-down like mmap's own choice, in the highest gap of g that fits with
 * a page to spare on each side, but never the one below [stack]: that is
 * where the stack grows.  0 when none fits.
 */
static uint64_t pick_gap(const struct ar_gaps *g, uint64_t len,
			 uint64_t align, uint64_t phase)
{
	uint64_t prev_end = 1UL << 16, best = 0;
	uint64_t page = ar_page_size(), user_top = ar_arch_user_top();

	for (size_t i = 0; i < g->n; i++) {
		uint64_t s = g->r[i].start, a;

		if (g->stack && s >= g->stack)
			break;
		/* Not above the default 47-bit user address space. */
		if (s > user_top)
			s = user_top;
		if (s >= prev_end + len + 2 * page &&
		    s - page - len >= phase) {
			a = (s - page - len - phase) / align * align + phase;
			if (a >= prev_end + page)
				best = a;
		}
		prev_end = g->r[i].end;
	}
	return best;
}

/*
 * Whether [addr - page, addr + len + page) holds no mapping now, asked of
 * the kernel (PROCMAP_QUERY); 0 also when the kernel cannot answer.
 */
static int range_free_now(struct ar_gaps *g, uint64_t addr, uint64_t len)
{
	uint64_t page = ar_page_size();
	struct ar_procmap_query q;

	if (g->mapsfd < 0) {
		g->mapsfd = ar_maps_open_fd(g->pid);
		if (g->mapsfd < 0)
			return 0;
	}
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = AR_PROCMAP_COVERING_OR_NEXT_VMA;
	q.query_addr = addr - page;
	if (ioctl(g->mapsfd, AR_PROCMAP_QUERY, &q))
		return errno == ENOENT;
	return q.vma_start >= addr + len + page;
}

/*
 * Reading /proc/PID/maps costs about 0.4 us per mapping: milliseconds of
 * pause for a fragmented process.  So attach reads it before the stop,
 * and a gap picked from that copy is taken when the kernel confirms it is
 * still free; else (the process mapped something meanwhile, or we did)
 * the map is read again, stopped.
 */
int ar_gaps_find(struct ar_gaps *g, uint64_t len, uint64_t align,
		 uint64_t phase, uint64_t *addr)
{
	uint64_t best;
	int err;

	if (!align)
		align = ar_page_size();
	best = g->n ? pick_gap(g, len, align, phase) : 0;
	if (!best || !range_free_now(g, best, len)) {
		err = ar_gaps_read(g);
		if (err)
			return err;
		best = pick_gap(g, len, align, phase);
	}
	if (!best)
		return ar_fail(g->ctx, ENOMEM, "no free range of %llu bytes "
			       "in process %d", (unsigned long long)len,
			       g->pid);
	/* Not free for the next caller: a mapping will be made there. */
	reserve(g, best, len);
	*addr = best;
	return 0;
}
