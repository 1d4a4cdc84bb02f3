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

#define JMAGIC "ARJRNL1"
#define HEAD_SIZE 4096UL
#define MAX_THREADS (1u << 22)

struct jdisk {
	char magic[8];
	uint32_t size, phase;
	int32_t pid, tid;
	uint32_t was_stopped, prot;
	uint64_t starttime;
	struct ar_regs regs;
	uint64_t code, code_len, data, data_len;
	int32_t uffd;
	uint32_t mflags;
	uint64_t advice;
	uint64_t run_start, run_end, dst;
	uint64_t batch, batch_seq, first_lo;
	uint32_t nbatch, batch_first;
	uint64_t nsrc;
	uint64_t csum;
	/* Added with the copy backend: older journals end before (size). */
	uint32_t prot_after, pad;
	/* Added with parked threads: their records follow the header. */
	uint64_t nthreads;
};

struct ar_journal {
	struct ar_ctx *ctx;
	int fd;
	bool nosync;		/* see ar_journal_set_sync() */
	char path[256];
	struct ar_journal_state st;
};

_Static_assert(sizeof(struct jdisk) <= HEAD_SIZE, "journal header size");

#define JDISK_V1_SIZE offsetof(struct jdisk, prot_after)
#define JDISK_V2_SIZE offsetof(struct jdisk, nthreads)

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
		n = snprintf(buf, size, "/run/anonremap");
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

int ar_proc_starttime(pid_t pid, uint64_t *starttime)
{
	char path[64], buf[1024], *p;
	unsigned long long v;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (ar_read_small_file(path, buf, sizeof(buf)) < 0 ||
	    !(p = strrchr(buf, ')')))
		return -ESRCH;
	/* p ends field 2; starttime is field 22. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &v) != 1)
		return -ESRCH;
	*starttime = v;
	return 0;
}

static int load(struct ar_journal *j)
{
	struct jdisk d;
	struct ar_journal_state *st = &j->st;
	ssize_t n = pread(j->fd, &d, sizeof(d), 0);
	uint64_t sum;

	if (n < 0)
		return ar_fail_errno(j->ctx, errno, "cannot read %s", j->path);
	if (n < (ssize_t)JDISK_V1_SIZE || memcmp(d.magic, JMAGIC, 8) ||
	    (d.size != sizeof(d) && d.size != JDISK_V1_SIZE &&
	     d.size != JDISK_V2_SIZE) ||
	    n < (ssize_t)d.size)
		return ar_fail(j->ctx, EBADMSG, "%s is empty or not a journal "
			       "of this version", j->path);
	if (d.size < sizeof(d))
		memset((char *)&d + d.size, 0, sizeof(d) - d.size);
	sum = d.csum;
	d.csum = 0;
	if (checksum(&d, d.size) != sum)
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
	st->uffd = d.uffd;
	st->prot = d.prot;
	st->mflags = d.mflags;
	st->prot_after = d.prot_after;
	st->advice = d.advice;
	st->run_start = d.run_start;
	st->run_end = d.run_end;
	st->dst = d.dst;
	st->batch = d.batch;
	st->batch_seq = d.batch_seq;
	st->first_lo = d.first_lo;
	st->nbatch = d.nbatch;
	st->batch_first = d.batch_first;
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

static struct ar_journal *journal_new(struct ar_ctx *ctx, pid_t pid)
{
	struct ar_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->ctx = ctx;
	j->fd = -1;
	j->st.uffd = -1;
	if (ar_journal_path(j->path, sizeof(j->path), pid)) {
		free(j);
		return NULL;
	}
	return j;
}

int ar_journal_create(struct ar_ctx *ctx, pid_t pid, struct ar_journal **jp)
{
	struct ar_journal *j = journal_new(ctx, pid);
	char dir[200];

	*jp = NULL;
	if (!j)
		return ar_fail(ctx, ENOMEM, "cannot make the journal path");
	journal_dir(dir, sizeof(dir));
	if (mkdir(dir, 0700) && errno != EEXIST) {
		int err = ar_fail_errno(ctx, errno, "cannot create %s", dir);

		free(j);
		return err;
	}
	for (int tries = 0; tries < 2; tries++) {
		struct ar_journal *old;
		uint64_t st;

		j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			     0600);
		/* Held while we live: recover knows a live tool from a dead one. */
		if (j->fd >= 0 && !lock(j->fd))
			break;
		if (j->fd >= 0) {
			close(j->fd);
			j->fd = -1;
			errno = EEXIST;
		}
		if (errno != EEXIST) {
			int err = ar_fail_errno(ctx, errno, "cannot create %s",
						j->path);

			free(j);
			return err;
		}
		/* A journal of a process that is gone (pid reused) is stale. */
		if (ar_journal_open(ctx, pid, &old) == -EBUSY) {
			free(j);
			return -EBUSY;
		}
		if (old) {
			int stale = ar_proc_starttime(pid, &st) ||
				    st != old->st.starttime;

			ar_journal_close(old);
			if (stale && !unlink(j->path))
				continue;
		}
		ar_fail(ctx, EBUSY, "an interrupted run left %s: run "
			"`anonremap recover %d` first", j->path, pid);
		free(j);
		return -EBUSY;
	}
	if (j->fd < 0) {
		ar_fail(ctx, EBUSY, "cannot create %s", j->path);
		free(j);
		return -EBUSY;
	}
	*jp = j;
	return 0;
}

int ar_journal_open(struct ar_ctx *ctx, pid_t pid, struct ar_journal **jp)
{
	struct ar_journal *j = journal_new(ctx, pid);
	int err;

	*jp = NULL;
	if (!j)
		return ar_fail(ctx, ENOMEM, "cannot make the journal path");
	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		err = errno == ENOENT ?
			ar_fail(ctx, ENOENT, "no journal for process %d (%s)",
				pid, j->path) :
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
	d.uffd = st->uffd;
	d.prot = st->prot;
	d.mflags = st->mflags;
	d.prot_after = st->prot_after;
	d.advice = st->advice;
	d.run_start = st->run_start;
	d.run_end = st->run_end;
	d.dst = st->dst;
	d.batch = st->batch;
	d.batch_seq = st->batch_seq;
	d.first_lo = st->first_lo;
	d.nbatch = st->nbatch;
	d.batch_first = st->batch_first;
	d.nsrc = st->nsrc;
	d.nthreads = st->nthreads;
	d.csum = checksum(&d, sizeof(d));
	if (pwrite(j->fd, &d, sizeof(d), 0) != (ssize_t)sizeof(d) ||
	    (!j->nosync && fdatasync(j->fd)))
		return ar_fail_errno(j->ctx, errno, "cannot write %s", j->path);
	return 0;
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
