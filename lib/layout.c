// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where a process's VMAs are: the one reader of /proc/PID/maps lines for
 * addresses (scratch gaps, the vdso, what a backend finds in place), and
 * the layout of the VMAs meeting some ranges that the backends check
 * their moves against.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

static void maps_path(pid_t pid, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/%d/maps", (int)pid);
}

int ar_maps_open_fd(pid_t pid)
{
	char path[32];

	maps_path(pid, path, sizeof(path));
	return open(path, O_RDONLY | O_CLOEXEC);
}

int ar_maps_open(struct ar_ctx *ctx, pid_t pid, struct ar_maps *m)
{
	memset(m, 0, sizeof(*m));
	m->ctx = ctx;
	maps_path(pid, m->path, sizeof(m->path));
	m->f = fopen(m->path, "re");
	if (!m->f)
		return ar_fail_errno(ctx, errno, "cannot open %s", m->path);
	return 0;
}

/* A line as read, newline and all, into *l, its name NUL-ended in place. */
static bool parse_line(char *line, struct ar_maps_line *l)
{
	size_t len = strcspn(line, "\n");

	if (!ar_maps_parse_line(line, len, l))
		return false;
	line[len] = '\0';	/* the name ends the line */
	return true;
}

int ar_maps_next(struct ar_maps *m, struct ar_maps_line *l)
{
	for (;;) {
		errno = 0;
		if (getline(&m->line, &m->cap, m->f) < 0)
			return feof(m->f) ? 0 :
				ar_fail_errno(m->ctx, errno ? errno : EIO,
					      "cannot read %s", m->path);
		if (parse_line(m->line, l))
			return 1;
	}
}

void ar_maps_close(struct ar_maps *m)
{
	if (m->f)
		fclose(m->f);
	free(m->line);
	m->f = NULL;
	m->line = NULL;
	m->cap = 0;
}

static bool meets(const uint64_t (*ranges)[2], size_t n, uint64_t s,
		  uint64_t e)
{
	for (size_t i = 0; i < n; i++)
		if (s < ranges[i][1] && e > ranges[i][0])
			return true;
	return false;
}

static int layout_add(struct ar_ctx *ctx, struct ar_heal_layout *l,
		      uint64_t s, uint64_t e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (!v)
			return ar_fail(ctx, ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n][0] = s;
	l->v[l->n++][1] = e;
	return 0;
}

int ar_heal_layout_read(struct ar_ctx *ctx, pid_t pid,
			const uint64_t (*ranges)[2], size_t n,
			struct ar_heal_layout *l)
{
	struct ar_maps_line ml;
	struct ar_maps m;
	int err;

	l->n = 0;
	err = ar_maps_open(ctx, pid, &m);
	if (err)
		return err;
	while ((err = ar_maps_next(&m, &ml)) > 0)
		if (meets(ranges, n, ml.start, ml.end) &&
		    (err = layout_add(ctx, l, ml.start, ml.end)))
			break;
	ar_maps_close(&m);
	return err;
}

void ar_heal_layout_free(struct ar_heal_layout *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

size_t ar_heal_layout_find(const struct ar_heal_layout *l, uint64_t addr)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (l->v[mid][1] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum ar_heal_range ar_heal_range_state(const struct ar_heal_layout *l,
				       uint64_t s, uint64_t e)
{
	size_t i = ar_heal_layout_find(l, s);

	if (i == l->n || l->v[i][0] >= e)
		return AR_RANGE_FREE;
	return l->v[i][0] == s && l->v[i][1] == e ? AR_RANGE_EXACT :
						     AR_RANGE_OTHER;
}

enum ar_heal_piece ar_heal_piece_state(const struct ar_heal_layout *l,
				       uint64_t s, uint64_t e)
{
	size_t i = ar_heal_layout_find(l, s);

	if (i == l->n || l->v[i][0] > s)
		return i < l->n && l->v[i][0] < e ? AR_PIECE_ACROSS :
						     AR_PIECE_FREE;
	if (l->v[i][1] < e)
		return AR_PIECE_ACROSS;
	return l->v[i][1] == e ? AR_PIECE_DONE : AR_PIECE_INSIDE;
}
