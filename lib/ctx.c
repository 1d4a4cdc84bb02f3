// SPDX-License-Identifier: LGPL-2.1-or-later
/* Library context and error reporting. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

AR_EXPORT int ar_ctx_new(struct ar_ctx **ctxp)
{
	struct ar_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	*ctxp = ctx;
	return 0;
}

AR_EXPORT void ar_ctx_free(struct ar_ctx *ctx)
{
	free(ctx);
}

AR_EXPORT const char *ar_ctx_errmsg(const struct ar_ctx *ctx)
{
	return ctx->errmsg;
}

static int vfail(struct ar_ctx *ctx, int err, int with_errno, const char *fmt,
		 va_list ap)
{
	int n = vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);

	if (with_errno && n >= 0 && (size_t)n < sizeof(ctx->errmsg))
		snprintf(ctx->errmsg + n, sizeof(ctx->errmsg) - n, ": %s",
			 strerror(err));
	return -err;
}

int ar_fail(struct ar_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(ctx, err, 0, fmt, ap);
	va_end(ap);
	return ret;
}

int ar_fail_errno(struct ar_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(ctx, err, 1, fmt, ap);
	va_end(ap);
	return ret;
}

int ar_read_small_file_at(int dirfd, const char *path, char *buf, size_t size)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (int)n;
}

int ar_read_small_file(const char *path, char *buf, size_t size)
{
	return ar_read_small_file_at(AT_FDCWD, path, buf, size);
}

uint64_t ar_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
