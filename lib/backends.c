// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The list of backends, the one place that names them, and what the public
 * API asks of the list: names, probing, and the choice of auto.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

extern const struct ar_backend_ops ar_backend_relocate;
extern const struct ar_backend_ops ar_backend_uffd;
extern const struct ar_backend_ops ar_backend_copy;

/* In the order auto tries them. */
const struct ar_backend_ops *const ar_backends[] = {
	&ar_backend_relocate,
	&ar_backend_uffd,
	&ar_backend_copy,
};
const size_t ar_nbackends = AR_ARRAY_SIZE(ar_backends);

const struct ar_backend_ops *ar_backend_ops(enum ar_backend id)
{
	for (size_t i = 0; i < ar_nbackends; i++)
		if (ar_backends[i]->id == id)
			return ar_backends[i];
	return NULL;
}

const struct ar_backend_ops *ar_backend_of_phase(uint32_t phase)
{
	for (size_t i = 0; i < ar_nbackends; i++)
		for (const uint32_t *p = ar_backends[i]->phases; *p; p++)
			if (*p == phase)
				return ar_backends[i];
	return NULL;
}

AR_EXPORT const char *ar_backend_name(enum ar_backend backend)
{
	const struct ar_backend_ops *b = ar_backend_ops(backend);

	if (backend == AR_BACKEND_AUTO)
		return "auto";
	return b ? b->name : NULL;
}

AR_EXPORT int ar_backend_parse(const char *name, enum ar_backend *backend)
{
	if (!strcmp(name, "auto")) {
		*backend = AR_BACKEND_AUTO;
		return 0;
	}
	for (size_t i = 0; i < ar_nbackends; i++)
		if (!strcmp(name, ar_backends[i]->name)) {
			*backend = ar_backends[i]->id;
			return 0;
		}
	return -EINVAL;
}

AR_EXPORT int ar_backend_probe(struct ar_ctx *ctx, enum ar_backend backend)
{
	const struct ar_backend_ops *b = ar_backend_ops(backend);

	if (!b)
		return ar_fail(ctx, EINVAL, "no such backend: %d",
			       (int)backend);
	return b->probe(ctx);
}

/* Append the strings of parts to buf, as far as they go. */
static void append(char *buf, size_t size, const char *const *parts,
		   size_t n)
{
	size_t len = strlen(buf);

	for (size_t i = 0; i < n && len + 1 < size; i++) {
		size_t k = strnlen(parts[i], size - len - 1);

		memcpy(buf + len, parts[i], k);
		len += k;
		buf[len] = '\0';
	}
}

int ar_backend_choose(struct ar_ctx *ctx, enum ar_backend *id)
{
	char why[sizeof(ctx->errmsg)] = "";
	int ret = -ENOSYS;

	if (*id != AR_BACKEND_AUTO)
		return ar_backend_probe(ctx, *id);
	for (size_t i = 0; i < ar_nbackends; i++) {
		const struct ar_backend_ops *b = ar_backends[i];
		const char *one[] = { *why ? "; " : "", b->name, ": ",
				      ctx->errmsg };

		if (!b->automatic)
			continue;
		ret = b->probe(ctx);
		if (!ret) {
			*id = b->id;
			return 0;
		}
		append(why, sizeof(why), one, AR_ARRAY_SIZE(one));
	}
	for (size_t i = 0; i < ar_nbackends; i++) {
		const struct ar_backend_ops *b = ar_backends[i];
		const char *one[] = { *why ? "; " : "", "--backend ", b->name,
				      " ", b->hint };

		if (!b->automatic)
			append(why, sizeof(why), one, AR_ARRAY_SIZE(one));
	}
	return ar_fail(ctx, -ret, "no backend works here: %s", why);
}
