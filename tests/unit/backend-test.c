// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of the backend list (backends.c): what the planner, probe and
 * recover rely on when they walk it without naming a backend.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "journal.h"
#include "tap.h"

/* Every member is whole, and ids and names are each one backend's. */
static void each_backend_is_whole_and_unique(void)
{
	CHECK(ar_nbackends >= 1);
	for (size_t i = 0; i < ar_nbackends; i++) {
		const struct ar_backend_ops *b = ar_backends[i];

		CHECK(b->name && *b->name && b->id != AR_BACKEND_AUTO);
		CHECK(b->probe && b->check_run && b->heal && b->split &&
		      b->recover && b->phases && *b->phases);
		CHECK(b->automatic || (b->hint && *b->hint));
		CHECK(ar_backend_ops(b->id) == b);
		for (size_t k = 0; k < i; k++) {
			CHECK(ar_backends[k]->id != b->id);
			CHECK(strcmp(ar_backends[k]->name, b->name));
		}
	}
	CHECK(!ar_backend_ops(AR_BACKEND_AUTO));
}

/* recover finds a run's backend by its phase: no phase may be two's. */
static void journal_phases_belong_to_one_backend(void)
{
	for (size_t i = 0; i < ar_nbackends; i++)
		for (const uint32_t *p = ar_backends[i]->phases; *p; p++) {
			CHECK(*p != AR_JP_ATTACHED && *p != AR_JP_READY &&
			      *p != AR_JP_DONE);
			CHECK(ar_backend_of_phase(*p) == ar_backends[i]);
			for (size_t k = i + 1; k < ar_nbackends; k++)
				for (const uint32_t *q = ar_backends[k]->phases;
				     *q; q++)
					CHECK(*q != *p);
		}
	CHECK(!ar_backend_of_phase(AR_JP_ATTACHED));
	CHECK(!ar_backend_of_phase(AR_JP_READY));
	CHECK(!ar_backend_of_phase(AR_JP_DONE));
}

/* The public names walk the list: every id after auto up to NULL. */
static void names_walk_the_list(void)
{
	enum ar_backend id, back;
	size_t n = 0;

	CHECK(!strcmp(ar_backend_name(AR_BACKEND_AUTO), "auto"));
	for (id = AR_BACKEND_AUTO + 1; ar_backend_name(id); id++) {
		CHECK_EQ(ar_backend_parse(ar_backend_name(id), &back), 0);
		CHECK_EQ(back, id);
		n++;
	}
	CHECK_EQ(n, ar_nbackends);
	CHECK_EQ(ar_backend_parse("nonesuch", &back), -EINVAL);
}

int main(void)
{
	TAP_RUN(each_backend_is_whole_and_unique);
	TAP_RUN(journal_phases_belong_to_one_backend);
	TAP_RUN(names_walk_the_list);
	return tap_done();
}
