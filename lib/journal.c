// SPDX-License-Identifier: LGPL-2.1-or-later
/* The fsync'd journal that lets `recover` repair a process after a crash. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

/*
 * ARJRNL1 journals kept each backend's fields in the header; since 2 a
 * backend's are an opaque record (rec).  An older one is not read: the
 * anonremap that wrote it recovers it.
 */
#define JMAGIC "ARJRNL2"
#define JMAGIC_V1 "ARJRNL1"
#define HEAD_SIZE 4096UL
#define MAX_THREADS (1u << 22)
#define ROOT_DIR "/run/anonremap"

struct jdisk {
	char magic[8];
	uint32_t size, phase;
	int32_t pid, tid;
	uint32_t was_stopped, prot;
	uint64_t starttime;
	struct ar_regs regs;
	uint64_t code, code_len, data, data_len;
	uint32_t mflags, pad;
	uint64_t advice;
	uint64_t run_start, run_end, dst;
	uint64_t nsrc, nthreads;
	uint64_t rec[AR_JREC_SIZE / 8];
	uint64_t csum;
};

struct ar_journal {
	struct ar_ctx *ctx;
	int fd;
	bool nosync;		/* see ar_journal_set_sync() */
	char path[256];
	struct ar_journal_state st;
};

_Static_assert(sizeof(struct jdisk) <= HEAD_SIZE, "journal header size");

/* The source list comes after the header and the thread records. */
static off_t src_offset(size_t nthreads)
{
	size_t len = nthreads * sizeof(struct ar_jthread);

	return (off_t)(HEAD_SIZE + (len + HEAD_SIZE - 1) / HEAD_SIZE * HEAD_SIZE);
}

static uint64_t checksum(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static int journal_dir(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0 || !xdg || !*xdg)
		n = snprintf(buf, size, ROOT_DIR);
	else
		n = snprintf(buf, size, "%s/anonremap", xdg);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ar_journal_path(char *buf, size_t size, pid_t pid)
{
	char dir[200];
	int n, err = journal_dir(dir, sizeof(dir));

	if (err)
		return err;
	n = snprintf(buf, size, "%s/%d.journal", dir, pid);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int load(struct ar_journal *j)
{
	static const char no_magic[8];
	struct jdisk d;
	struct ar_journal_state *st = &j->st;
	ssize_t n = pread(j->fd, &d, sizeof(d), 0);
	uint64_t sum;

	if (n < 0)
		return ar_fail_errno(j->ctx, errno, "cannot read %s", j->path);
	/*
	 * The header is written whole, after the thread records: before the
	 * first one, the file is empty or begins with zeros.
	 */
	if (n < (ssize_t)sizeof(d.magic) || !memcmp(d.magic, no_magic, 8))
		return ar_fail(j->ctx, ENODATA, "%s holds no record", j->path);
	if (n >= (ssize_t)sizeof(d.magic) && !memcmp(d.magic, JMAGIC_V1, 8))
		return ar_fail(j->ctx, EBADMSG, "%s was written by an older "
			       "anonremap (0.1): recover with that version",
			       j->path);
	if (n < (ssize_t)sizeof(d) || memcmp(d.magic, JMAGIC, 8) ||
	    d.size != sizeof(d))
		return ar_fail(j->ctx, EBADMSG, "%s is damaged or not a journal "
			       "of this version", j->path);
	sum = d.csum;
	d.csum = 0;
	if (checksum(&d, sizeof(d)) != sum)
		return ar_fail(j->ctx, EBADMSG, "%s is damaged", j->path);
	free(st->src);
	free(st->threads);
	memset(st, 0, sizeof(*st));
	st->phase = d.phase;
	st->pid = d.pid;
	st->tid = d.tid;
	st->was_stopped = d.was_stopped;
	st->starttime = d.starttime;
	st->regs = d.regs;
	st->code = d.code;
	st->code_len = d.code_len;
	st->data = d.data;
	st->data_len = d.data_len;
	st->prot = d.prot;
	st->mflags = d.mflags;
	st->advice = d.advice;
	st->run_start = d.run_start;
	st->run_end = d.run_end;
	st->dst = d.dst;
	memcpy(st->rec, d.rec, sizeof(st->rec));
	if (d.nsrc > (1u << 24) || d.nthreads > MAX_THREADS)
		return ar_fail(j->ctx, EBADMSG, "%s is damaged", j->path);
	if (d.nthreads) {
		size_t len = d.nthreads * sizeof(*st->threads);

		st->threads = malloc(len);
		if (!st->threads)
			return ar_fail(j->ctx, ENOMEM, "out of memory");
		n = pread(j->fd, st->threads, len, HEAD_SIZE);
		if (n != (ssize_t)len)
			return ar_fail(j->ctx, EBADMSG, "%s is truncated",
				       j->path);
		st->nthreads = d.nthreads;
	}
	if (!d.nsrc)
		return 0;
	st->src = calloc(d.nsrc, sizeof(*st->src));
	if (!st->src)
		return ar_fail(j->ctx, ENOMEM, "out of memory");
	n = pread(j->fd, st->src, d.nsrc * sizeof(*st->src),
		  src_offset(st->nthreads));
	if (n != (ssize_t)(d.nsrc * sizeof(*st->src)))
		return ar_fail(j->ctx, EBADMSG, "%s is truncated", j->path);
	st->nsrc = d.nsrc;
	return 0;
}

/*
 * Lock a journal for as long as it is open: recover knows a live tool
 * from a dead one.  A kernel built without file locking (the test guest's
 * tinyconfig) cannot tell them apart: the journal is then used unlocked.
 */
static int lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) && errno != ENOSYS ? -1 : 0;
}

/*
 * A new file at path in dir, locked before it appears there: whoever
 * looks at it (another tool, recover) never finds it unlocked while we
 * live, as it would between an open(O_CREAT) and the lock.  Where the
 * file system has no O_TMPFILE, it is created and locked at once.  -1
 * with errno (EEXIST: path exists).
 */
static int create_locked(const char *dir, const char *path)
{
	char fdpath[64];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), saved;

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 && lock(fd))
			goto fail;
		return fd;
	}
	if (fd < 0)
		return -1;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (lock(fd) ||
	    linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW))
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static struct ar_journal *journal_new(struct ar_ctx *ctx, const char *path)
{
	struct ar_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->ctx = ctx;
	j->fd = -1;
	snprintf(j->path, sizeof(j->path), "%s", path);
	return j;
}

/* Open, lock and read the journal at path, of process pid. */
static int open_path(struct ar_ctx *ctx, const char *path, pid_t pid,
		     struct ar_journal **jp)
{
	struct ar_journal *j = journal_new(ctx, path);
	int err;

	*jp = NULL;
	if (!j)
		return ar_fail(ctx, ENOMEM, "out of memory");
	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		err = errno == ENOENT ?
			ar_fail(ctx, ENOENT, "pid %d: nothing to recover: no "
				"journal of an interrupted defrag (%s)", pid,
				j->path) :
			ar_fail_errno(ctx, errno, "cannot open %s", j->path);
		free(j);
		return err;
	}
	if (lock(j->fd)) {
		err = errno == EWOULDBLOCK ?
			ar_fail(ctx, EBUSY, "another anonremap is working on "
				"process %d right now (%s is locked)", pid,
				j->path) :
			ar_fail_errno(ctx, errno, "cannot lock %s", j->path);
		ar_journal_close(j);
		return err;
	}
	err = load(j);
	if (err) {
		ar_journal_close(j);
		return err;
	}
	*jp = j;
	return 0;
}

/*
 * Every place a journal of pid may be, ours first (see journal_dir()):
 * root's directory, the runtime directory of each user the process runs
 * as (where that user's tool writes by default), and the one our own
 * $XDG_RUNTIME_DIR names.
 */
#define MAX_PLACES 6

struct places {
	char path[MAX_PLACES][256];
	size_t n;
};

static void add_place(struct places *pl, const char *dir, pid_t pid)
{
	char path[sizeof(pl->path[0])];
	int n = snprintf(path, sizeof(path), "%s/%d.journal", dir, pid);

	if (n < 0 || (size_t)n >= sizeof(path) || pl->n == MAX_PLACES)
		return;
	for (size_t i = 0; i < pl->n; i++)
		if (!strcmp(pl->path[i], path))
			return;
	memcpy(pl->path[pl->n++], path, (size_t)n + 1);
}

static int journal_places(struct ar_ctx *ctx, pid_t pid, struct places *pl)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *v;
	unsigned int uid[3];
	char dir[200], status[4096];

	pl->n = 0;
	if (journal_dir(dir, sizeof(dir)))
		return ar_fail(ctx, ENAMETOOLONG, "cannot make the journal "
			       "path: $XDG_RUNTIME_DIR is too long");
	add_place(pl, dir, pid);
	add_place(pl, ROOT_DIR, pid);
	if (ar_read_status(pid, pid, status, sizeof(status)) > 0 &&
	    (v = ar_status_field(status, "Uid")) &&
	    sscanf(v, "%u %u %u", &uid[0], &uid[1], &uid[2]) == 3)
		for (int i = 0; i < 3; i++) {
			snprintf(dir, sizeof(dir), "/run/user/%u/anonremap",
				 uid[i]);
			add_place(pl, dir, pid);
		}
	if (xdg && *xdg && strlen(xdg) < sizeof(dir) - 16) {
		snprintf(dir, sizeof(dir), "%s/anonremap", xdg);
		add_place(pl, dir, pid);
	}
	return 0;
}

/*
 * The journal at path is an interrupted run's: only `recover` run as its
 * owner, with the runtime directory that holds it, will find it.  here:
 * path is where our own recover looks (place 0).
 */
static int refuse_journal(struct ar_ctx *ctx, const char *path, pid_t pid,
			  uid_t owner, bool here)
{
	const char *sub = strstr(path, "/anonremap/");
	bool root_dir = !strncmp(path, ROOT_DIR "/", strlen(ROOT_DIR) + 1);

	if (owner == geteuid()) {
		if (here || !owner || !sub)
			return ar_fail(ctx, EBUSY, "an interrupted run left %s: "
				       "run `anonremap recover %d` first",
				       path, pid);
		if (root_dir)
			return ar_fail(ctx, EBUSY, "an interrupted run left %s: "
				       "run `anonremap recover %d` with "
				       "XDG_RUNTIME_DIR unset", path, pid);
		return ar_fail(ctx, EBUSY, "an interrupted run left %s: run "
			       "`anonremap recover %d` with XDG_RUNTIME_DIR=%.*s",
			       path, pid, (int)(sub - path), path);
	}
	if (!owner || !sub || root_dir)
		return ar_fail(ctx, EBUSY, "an interrupted run of uid %u left "
			       "%s: run `anonremap recover %d` as uid %u",
			       owner, path, pid, owner);
	return ar_fail(ctx, EBUSY, "an interrupted run of uid %u left %s: run "
		       "`anonremap recover %d` as uid %u with XDG_RUNTIME_DIR="
		       "%.*s", owner, path, pid, owner, (int)(sub - path), path);
}

/*
 * What path holds for process pid, as ar_journal_create() must know it:
 * 0 when nothing we can see, or a journal of an older process that had
 * the pid (*stale set); -EBUSY naming the file when a live tool holds
 * it or an interrupted run left it (recover first, and how).  here: path
 * is where our own recover looks.  Locked while read: a tool at work is
 * never mistaken for a dead one.
 */
static int look_at(struct ar_ctx *ctx, const char *path, pid_t pid,
		   bool here, bool *stale)
{
	struct ar_journal *old;
	struct stat sb;
	uint64_t st;
	int err = open_path(ctx, path, pid, &old);

	*stale = false;
	/* None, or behind a directory we may not enter (root's). */
	if (err == -ENOENT || err == -ENOTDIR || err == -EACCES ||
	    err == -EPERM)
		return 0;
	if (err == -EBUSY)
		return err;
	if (!err) {
		*stale = ar_proc_starttime(pid, &st) ||
			 st != old->st.starttime;
		ar_journal_close(old);
		if (*stale)
			return 0;
	}
	/* A journal left empty or damaged is an interrupted run's too. */
	return refuse_journal(ctx, path, pid,
			      stat(path, &sb) == 0 ? sb.st_uid : geteuid(),
			      here);
}

/*
 * look_at() every place from first on; a stale journal of ours (place 0)
 * is removed when remove is set.
 */
static int look_all(struct ar_ctx *ctx, const struct places *pl, pid_t pid,
		    size_t first, bool remove)
{
	bool stale;

	for (size_t i = first; i < pl->n; i++) {
		int err = look_at(ctx, pl->path[i], pid, !i, &stale);

		if (err)
			return err;
		if (stale && remove && !i && unlink(pl->path[i]) &&
		    errno != ENOENT)
			return ar_fail_errno(ctx, errno, "cannot remove the "
					     "stale journal %s", pl->path[i]);
	}
	return 0;
}

int ar_journal_check(struct ar_ctx *ctx, pid_t pid)
{
	struct places pl;
	int err = journal_places(ctx, pid, &pl);

	return err ? err : look_all(ctx, &pl, pid, 0, false);
}

int ar_journal_create(struct ar_ctx *ctx, pid_t pid, struct ar_journal **jp)
{
	struct ar_journal *j;
	struct places pl;
	char dir[200];
	int err = journal_places(ctx, pid, &pl);

	*jp = NULL;
	if (!err)
		err = look_all(ctx, &pl, pid, 0, true);
	if (err)
		return err;
	j = journal_new(ctx, pl.path[0]);
	if (!j)
		return ar_fail(ctx, ENOMEM, "out of memory");
	journal_dir(dir, sizeof(dir));
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = ar_fail_errno(ctx, errno, "cannot create %s", dir);
		free(j);
		return err;
	}
	/* Held while we live: recover knows a live tool from a dead one. */
	j->fd = create_locked(dir, j->path);
	if (j->fd < 0) {
		err = errno == EEXIST || errno == EWOULDBLOCK ?
			ar_fail(ctx, EBUSY, "another anonremap began working on "
				"process %d meanwhile (%s)", pid, j->path) :
			ar_fail_errno(ctx, errno, "cannot create %s", j->path);
		ar_journal_close(j);
		return err;
	}
	*jp = j;
	return 0;
}

int ar_journal_open(struct ar_ctx *ctx, pid_t pid, struct ar_journal **jp)
{
	char msg[sizeof(ctx->errmsg)];
	struct places pl;
	int first, err = journal_places(ctx, pid, &pl);

	*jp = NULL;
	if (err)
		return err;
	err = open_path(ctx, pl.path[0], pid, jp);
	if (err != -ENOENT && err != -EACCES && err != -EPERM)
		return err;
	/*
	 * None where we look (or a directory we may not enter: root's,
	 * when we have no XDG_RUNTIME_DIR): say whose one elsewhere is, and
	 * how to recover with it.
	 */
	memcpy(msg, ctx->errmsg, sizeof(msg));
	first = err;
	err = look_all(ctx, &pl, pid, 1, false);
	if (err)
		return err;
	memcpy(ctx->errmsg, msg, sizeof(msg));
	return first;
}

int ar_journal_write(struct ar_journal *j, const struct ar_journal_state *st,
		     int with_src)
{
	struct jdisk d;

	if (with_src && st->nsrc) {
		size_t len = st->nsrc * sizeof(*st->src);

		if (pwrite(j->fd, st->src, len, src_offset(st->nthreads)) !=
		    (ssize_t)len)
			return ar_fail_errno(j->ctx, errno, "cannot write %s",
					     j->path);
	}
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, JMAGIC, 8);
	d.size = sizeof(d);
	d.phase = st->phase;
	d.pid = st->pid;
	d.tid = st->tid;
	d.was_stopped = st->was_stopped;
	d.starttime = st->starttime;
	d.regs = st->regs;
	d.code = st->code;
	d.code_len = st->code_len;
	d.data = st->data;
	d.data_len = st->data_len;
	d.prot = st->prot;
	d.mflags = st->mflags;
	d.advice = st->advice;
	d.run_start = st->run_start;
	d.run_end = st->run_end;
	d.dst = st->dst;
	memcpy(d.rec, st->rec, sizeof(d.rec));
	d.nsrc = st->nsrc;
	d.nthreads = st->nthreads;
	d.csum = checksum(&d, sizeof(d));
	if (pwrite(j->fd, &d, sizeof(d), 0) != (ssize_t)sizeof(d) ||
	    (!j->nosync && fdatasync(j->fd)))
		return ar_fail_errno(j->ctx, errno, "cannot write %s", j->path);
	return 0;
}

int ar_journal_step(struct ar_journal *j, struct ar_journal_state *st,
		    uint32_t phase, int with_src)
{
	st->phase = phase;
	return j ? ar_journal_write(j, st, with_src) : 0;
}

int ar_journal_write_threads(struct ar_journal *j,
			     const struct ar_jthread *threads, size_t n)
{
	struct ar_journal_state *st = &j->st;
	size_t len = n * sizeof(*threads);
	ssize_t w;

	if (st->nthreads)
		return ar_fail(j->ctx, EINVAL, "%s: threads already recorded",
			       j->path);
	if (n > MAX_THREADS)
		return ar_fail(j->ctx, E2BIG, "%zu threads: more than a journal "
			       "holds", n);
	if (!n)
		return 0;
	st->threads = malloc(len);
	if (!st->threads)
		return ar_fail(j->ctx, ENOMEM, "out of memory");
	memcpy(st->threads, threads, len);
	/* Synced with the header that counts them, by ar_journal_write(). */
	w = pwrite(j->fd, threads, len, HEAD_SIZE);
	if (w != (ssize_t)len) {
		free(st->threads);
		st->threads = NULL;
		return ar_fail_errno(j->ctx, w < 0 ? errno : EIO,
				     "cannot write %s", j->path);
	}
	st->nthreads = n;
	return 0;
}

void ar_journal_set_sync(struct ar_journal *j, bool sync)
{
	j->nosync = !sync;
}

struct ar_journal_state *ar_journal_state(struct ar_journal *j)
{
	return &j->st;
}

int ar_journal_remove(struct ar_journal *j)
{
	int err = 0;

	if (unlink(j->path) && errno != ENOENT)
		err = ar_fail_errno(j->ctx, errno, "cannot remove %s", j->path);
	ar_journal_close(j);
	return err;
}

void ar_journal_close(struct ar_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->st.src);
	free(j->st.threads);
	free(j);
}
