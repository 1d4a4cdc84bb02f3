// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One buffered pass over /proc/PID/smaps.
 *
 * Lines come in two shapes: a header "start-end perms offset dev inode name"
 * that opens a VMA, and "Field: value" lines that describe it.  Fields are
 * looked up by name, so a kernel that adds, drops or reorders fields does not
 * disturb the parser; unknown fields are skipped.  The only allocations are
 * the growing VMA array and name pool, never one per line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* A line longer than this cannot be an smaps line (names are <= PATH_MAX). */
#define SMAPS_BUF_SIZE (128 * 1024)
/* About ten VMAs of smaps: what one read() asks for when reading a part. */
#define SMAPS_PARTIAL_CHUNK (8 * 1024)

struct line_reader {
	int fd;
	size_t chunk;		/* bytes asked of one read() */
	char *buf;
	size_t start, len;	/* unread bytes are buf[start, len) */
	bool eof;
	size_t lineno;
};

/*
 * Return the next line without its newline, or NULL at the end or on error:
 * then *err is -errno of a failed read, or -E2BIG for a line that does not
 * fit the buffer.
 */
static char *next_line(struct line_reader *r, size_t *linelen, int *err)
{
	for (;;) {
		char *base = r->buf + r->start;
		char *nl = memchr(base, '\n', r->len - r->start);
		ssize_t n;

		if (nl) {
			*linelen = nl - base;
			r->start += *linelen + 1;
			r->lineno++;
			return base;
		}
		/*
		 * /proc always ends its lines; a last line without a newline
		 * is a saved capture cut short, and is left out.
		 */
		if (r->eof)
			return NULL;
		if (r->start > 0) {
			memmove(r->buf, base, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (r->len == SMAPS_BUF_SIZE) {
			*err = -E2BIG;
			return NULL;
		}
		do
			n = read(r->fd, r->buf + r->len,
				 r->chunk < SMAPS_BUF_SIZE - r->len ?
				 r->chunk : SMAPS_BUF_SIZE - r->len);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			*err = -errno;
			return NULL;
		}
		if (n == 0)
			r->eof = true;
		r->len += n;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse hex digits at *p up to a non-hex character; false if there are none. */
static bool parse_hex(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	while (s < end && (d = hexval(*s)) >= 0) {
		v = (v << 4) | (unsigned int)d;
		s++;
	}
	if (s == *p)
		return false;
	*p = s;
	*val = v;
	return true;
}

static bool parse_dec(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;

	while (s < end && *s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p)
		return false;
	*p = s;
	*val = v;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

static void skip_spaces(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static int grow(void **array, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*array, ncap * elem);
	if (!n)
		return -ENOMEM;
	*array = n;
	*cap = ncap;
	return 0;
}

/* Append name to the pool; return its offset, or -ENOMEM. */
static long pool_add(struct ar_proc *proc, const char *name, size_t len)
{
	size_t off = proc->names_len;
	int ret;

	ret = grow((void **)&proc->names, &proc->names_cap,
		   proc->names_len + len + 1, 1);
	if (ret)
		return ret;
	memcpy(proc->names + off, name, len);
	proc->names[off + len] = '\0';
	proc->names_len += len + 1;
	return (long)off;
}

static bool name_is_anonymous(const char *name, size_t len)
{
	static const char *const prefixes[] = { "[heap]", "[stack", "[anon:" };
	size_t i;

	if (len == 0)
		return true;
	for (i = 0; i < AR_ARRAY_SIZE(prefixes); i++) {
		size_t plen = strlen(prefixes[i]);

		if (len >= plen && !memcmp(name, prefixes[i], plen))
			return true;
	}
	return false;
}

bool ar_maps_parse_line(const char *s, size_t len, struct ar_maps_line *l)
{
	const char *p = s, *end = s + len;
	uint64_t major, minor;

	if (!parse_hex(&p, end, &l->start) || !expect(&p, end, '-') ||
	    !parse_hex(&p, end, &l->end) || !expect(&p, end, ' '))
		return false;
	if (end - p < 5 || p[4] != ' ')
		return false;
	memcpy(l->perms, p, 4);
	l->perms[4] = '\0';
	p += 5;
	if (!parse_hex(&p, end, &l->offset) || !expect(&p, end, ' ') ||
	    !parse_hex(&p, end, &major) || !expect(&p, end, ':') ||
	    !parse_hex(&p, end, &minor) || !expect(&p, end, ' ') ||
	    !parse_dec(&p, end, &l->inode))
		return false;
	if (p < end && *p != ' ')
		return false;
	skip_spaces(&p, end);
	l->major = (uint32_t)major;
	l->minor = (uint32_t)minor;
	l->name = p;
	l->name_len = (size_t)(end - p);
	return true;
}

/*
 * A header line into *vma: 1 when the line is one and *vma was filled, 0
 * when it is not one.
 */
static int parse_header(struct ar_proc *proc, const char *s, size_t len,
			struct ar_vma *vma)
{
	struct ar_maps_line l;
	long name_off;

	memset(vma, 0, sizeof(*vma));
	vma->pkey = -1;
	if (!ar_maps_parse_line(s, len, &l))
		return 0;
	vma->start = l.start;
	vma->end = l.end;
	vma->offset = l.offset;
	memcpy(vma->perms, l.perms, sizeof(l.perms));
	vma->inode = (uint32_t)l.inode;
	vma->anonymous = l.inode == 0 && l.major == 0 && l.minor == 0 &&
			 vma->perms[3] == 'p' &&
			 name_is_anonymous(l.name, l.name_len);
	name_off = l.name_len ? pool_add(proc, l.name, l.name_len) : 0;
	if (name_off < 0)
		return (int)name_off;
	vma->name = (const char *)(uintptr_t)name_off;
	return 1;
}

static const char vmflag_codes[AR_VMF_NR_KNOWN][2] = {
	[AR_VMF_RD] = "rd", [AR_VMF_WR] = "wr", [AR_VMF_EX] = "ex",
	[AR_VMF_SH] = "sh", [AR_VMF_MR] = "mr", [AR_VMF_MW] = "mw",
	[AR_VMF_ME] = "me", [AR_VMF_MS] = "ms", [AR_VMF_GD] = "gd",
	[AR_VMF_PF] = "pf", [AR_VMF_LO] = "lo", [AR_VMF_IO] = "io",
	[AR_VMF_SR] = "sr", [AR_VMF_RR] = "rr", [AR_VMF_DC] = "dc",
	[AR_VMF_DE] = "de", [AR_VMF_AC] = "ac", [AR_VMF_NR] = "nr",
	[AR_VMF_HT] = "ht", [AR_VMF_SF] = "sf", [AR_VMF_NL] = "nl",
	[AR_VMF_AR] = "ar", [AR_VMF_WF] = "wf", [AR_VMF_DD] = "dd",
	[AR_VMF_SD] = "sd", [AR_VMF_MM] = "mm", [AR_VMF_HG] = "hg",
	[AR_VMF_NH] = "nh", [AR_VMF_MG] = "mg", [AR_VMF_BT] = "bt",
	[AR_VMF_UM] = "um", [AR_VMF_UW] = "uw", [AR_VMF_UI] = "ui",
	[AR_VMF_SS] = "ss", [AR_VMF_SL] = "sl", [AR_VMF_LF] = "lf",
	[AR_VMF_MT] = "mt", [AR_VMF_DP] = "dp", [AR_VMF_GU] = "gu",
};

static int vmflag_index(const char *code)
{
	int i;

	for (i = 0; i < AR_VMF_NR_KNOWN; i++)
		if (vmflag_codes[i][0] == code[0] && vmflag_codes[i][1] == code[1])
			return i;
	return -1;
}

/*
 * Known codes become bits; unknown ones (a newer kernel's) are folded into
 * a hash so that two VMAs still compare unequal when they differ there.
 */
static void parse_vmflags(const char *p, const char *end, struct ar_vma *vma)
{
	while (p < end) {
		skip_spaces(&p, end);
		if (end - p >= 2 && (p + 2 == end || p[2] == ' ')) {
			int i = vmflag_index(p);

			if (i >= 0) {
				vma->vmflags |= UINT64_C(1) << i;
			} else {
				vma->vmflags_other = vma->vmflags_other * 31 +
					((uint32_t)(unsigned char)p[0] << 8 |
					 (unsigned char)p[1]) + 1;
			}
			p += 2;
		} else {
			while (p < end && *p != ' ')
				p++;
		}
	}
}

static bool is_field_start(char c)
{
	return c >= 'A' && c <= 'Z';
}

enum field_kind { FIELD_KB, FIELD_INT, FIELD_VMFLAGS };

struct field {
	const char *name;
	unsigned char len;
	enum field_kind kind;
	size_t offset;
};

#define KB_FIELD(n, member) { n, sizeof(n) - 1, FIELD_KB, offsetof(struct ar_vma, member) }

static const struct field fields[] = {
	KB_FIELD("Rss", rss),
	KB_FIELD("Anonymous", anon),
	KB_FIELD("AnonHugePages", thp),
	KB_FIELD("Swap", swap),
	KB_FIELD("Locked", locked),
	{ "ProtectionKey", 13, FIELD_INT, offsetof(struct ar_vma, pkey) },
	{ "VmFlags", 7, FIELD_VMFLAGS, 0 },
};

/* The fields above, by the first letter of their names. */
struct field_index {
	unsigned char n;
	unsigned char idx[AR_ARRAY_SIZE(fields)];
};

static void index_fields(struct field_index by_letter[26])
{
	size_t i;

	memset(by_letter, 0, 26 * sizeof(*by_letter));
	for (i = 0; i < AR_ARRAY_SIZE(fields); i++) {
		struct field_index *fi = &by_letter[fields[i].name[0] - 'A'];

		fi->idx[fi->n++] = (unsigned char)i;
	}
}

/*
 * Most smaps lines are fields nobody here needs: reject them on their first
 * letter before looking any further.
 */
static const struct field *find_field(const struct field_index by_letter[26],
				      const char *s, size_t len)
{
	const struct field_index *fi = &by_letter[s[0] - 'A'];
	unsigned int i;

	for (i = 0; i < fi->n; i++) {
		const struct field *f = &fields[fi->idx[i]];

		if (len > f->len && s[f->len] == ':' && !memcmp(s, f->name, f->len))
			return f;
	}
	return NULL;
}

/* "Name:   value [kB]".  Returns 1 when the line is a field line. */
static int parse_field(const struct field_index by_letter[26], const char *s,
		       size_t len, struct ar_vma *vma)
{
	const char *end = s + len;
	const struct field *f;
	const char *p;
	uint64_t v;

	if (!is_field_start(s[0]))
		return 0;
	f = find_field(by_letter, s, len);
	if (!f)
		return memchr(s, ':', len) != NULL;
	p = s + f->len + 1;
	skip_spaces(&p, end);
	switch (f->kind) {
	case FIELD_VMFLAGS:
		parse_vmflags(p, end, vma);
		return 1;
	case FIELD_INT:
		if (!parse_dec(&p, end, &v))
			return 0;
		*(int *)((char *)vma + f->offset) = (int)v;
		return 1;
	case FIELD_KB:
		if (!parse_dec(&p, end, &v))
			return 0;
		*(uint64_t *)((char *)vma + f->offset) = v * 1024;
		return 1;
	}
	return 0;
}

/*
 * Most processes have a few hundred VMAs: their table is an ordinary
 * allocation.  A bigger one moves to a mapping of its own, sized for
 * vm.max_map_count and grown with mremap() past it, of which only the
 * pages used are touched, and backed by huge pages where THP allows.
 * Without that, a 60 000-VMA table costs about 1 700 page faults, as much
 * time as parsing its smaps.  The advice covers the whole mapping: one
 * on a part would split it in two VMAs, which mremap() cannot grow.
 */
#define TABLE_SMALL 2048

static int map_vma_table(struct ar_proc *proc, size_t ncap)
{
	size_t len = ncap * sizeof(*proc->vmas);
	void *p;

	if (proc->vmas_mapped)
		p = mremap(proc->vmas, proc->vmas_cap * sizeof(*proc->vmas), len,
			   MREMAP_MAYMOVE);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	/* Only advice: without THP the table works the same. */
	madvise(p, len, MADV_HUGEPAGE);
	if (!proc->vmas_mapped) {
		memcpy(p, proc->vmas, proc->nvmas * sizeof(*proc->vmas));
		free(proc->vmas);
		proc->vmas_mapped = true;
	}
	proc->vmas = p;
	proc->vmas_cap = ncap;
	return 0;
}

static int grow_vma_table(struct ar_proc *proc)
{
	size_t ncap = 2 * proc->vmas_cap;

	if (!proc->vmas) {
		proc->vmas = malloc(TABLE_SMALL * sizeof(*proc->vmas));
		if (!proc->vmas)
			return -ENOMEM;
		proc->vmas_cap = TABLE_SMALL;
		return 0;
	}
	if (!proc->vmas_mapped && ncap < proc->sum.max_map_count + 16)
		ncap = proc->sum.max_map_count + 16;
	return map_vma_table(proc, ncap);
}

/* The VMA being parsed lives in the slot just past the committed ones. */
static struct ar_vma *open_slot(struct ar_proc *proc)
{
	if (proc->nvmas == proc->vmas_cap && grow_vma_table(proc))
		return NULL;
	return &proc->vmas[proc->nvmas];
}

/* The gate area is listed in maps but is not a VMA of the process. */
static bool is_vsyscall(const struct ar_proc *proc, const struct ar_vma *vma)
{
	const char *name = proc->names + (uintptr_t)vma->name;

	return name[0] == '[' && !strcmp(name, "[vsyscall]");
}

static void commit_slot(struct ar_proc *proc, bool *have)
{
	if (*have && !is_vsyscall(proc, &proc->vmas[proc->nvmas]))
		proc->nvmas++;
	*have = false;
}

/* The last VMA kept starts at or after proc->read_until: enough read. */
static bool past_read_until(const struct ar_proc *proc)
{
	return proc->read_until && proc->nvmas &&
	       proc->vmas[proc->nvmas - 1].start >= proc->read_until;
}

int ar_smaps_parse_fd(struct ar_ctx *ctx, int fd, const char *what,
		      struct ar_proc *proc)
{
	/*
	 * The kernel makes as much of the file as a read() asks for: when
	 * only the start is wanted, ask for little at a time.
	 */
	struct line_reader r = {
		.fd = fd,
		.chunk = proc->read_until ? SMAPS_PARTIAL_CHUNK : SMAPS_BUF_SIZE,
	};
	struct field_index by_letter[26];
	struct ar_vma *cur = NULL;
	bool have = false;
	size_t i, len;
	char *line;
	int err = 0, ret;

	index_fields(by_letter);
	r.buf = malloc(SMAPS_BUF_SIZE);
	if (!r.buf)
		return ar_fail(ctx, ENOMEM, "%s: out of memory", what);
	/* Offset 0 of the pool is the empty name. */
	if (!proc->names_len && pool_add(proc, "", 0) < 0) {
		ret = ar_fail(ctx, ENOMEM, "%s: out of memory", what);
		goto out;
	}

	while ((line = next_line(&r, &len, &err))) {
		if (len == 0)
			continue;
		/* Field names start with a capital, addresses never do. */
		if (!is_field_start(line[0])) {
			commit_slot(proc, &have);
			if (past_read_until(proc))
				break;
			cur = open_slot(proc);
			if (!cur)
				goto nomem;
			ret = parse_header(proc, line, len, cur);
			if (ret < 0)
				goto nomem;
			if (ret) {
				have = true;
				continue;
			}
		} else if (!have) {
			ret = ar_fail(ctx, EBADMSG,
				      "%s: line %zu: field before any mapping",
				      what, r.lineno);
			goto out;
		} else if (parse_field(by_letter, line, len, cur)) {
			continue;
		}
		ret = ar_fail(ctx, EBADMSG, "%s: line %zu: not an smaps line: \"%.*s\"",
			      what, r.lineno, (int)(len > 60 ? 60 : len), line);
		goto out;
	}
	if (err == -E2BIG) {
		ret = ar_fail(ctx, EBADMSG, "%s: line %zu is too long", what,
			      r.lineno + 1);
		goto out;
	}
	if (err) {
		ret = ar_fail_errno(ctx, -err, "%s: read failed", what);
		goto out;
	}
	commit_slot(proc, &have);

	for (i = 0; i < proc->nvmas; i++)
		proc->vmas[i].name = proc->names + (uintptr_t)proc->vmas[i].name;
	ret = 0;
	goto out;
nomem:
	ret = ar_fail(ctx, ENOMEM, "%s: out of memory at line %zu", what,
		      r.lineno);
out:
	free(r.buf);
	return ret;
}
