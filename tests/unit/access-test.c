// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of access.c: the words for a refused ptrace. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "anonremap.h"
#include "internal.h"
#include "tap.h"

static char why[400];

static bool yama(int scope, enum ar_access mode, bool cap)
{
	why[0] = '\0';
	return ar_yama_why_not(scope, mode, cap, why, sizeof(why));
}

/* Scope 3 refuses everyone, CAP_SYS_PTRACE or not. */
static void yama_scope_3_refuses_even_cap_sys_ptrace(void)
{
	CHECK(yama(3, AR_ACCESS_ATTACH, true));
	CHECK(strstr(why, "kernel.yama.ptrace_scope=3"));
	CHECK(yama(3, AR_ACCESS_REFUSED, false));
	CHECK(!yama(3, AR_ACCESS_READ, true));
}

static void yama_scopes_1_and_2_yield_to_cap_sys_ptrace(void)
{
	CHECK(yama(2, AR_ACCESS_ATTACH, false));
	CHECK(strstr(why, "kernel.yama.ptrace_scope=2"));
	CHECK(!yama(2, AR_ACCESS_ATTACH, true));
	/* Scope 1 lets a descendant be traced: blamed once refused only. */
	CHECK(!yama(1, AR_ACCESS_ATTACH, false));
	CHECK(yama(1, AR_ACCESS_REFUSED, false));
	CHECK(strstr(why, "kernel.yama.ptrace_scope=1"));
	CHECK(!yama(1, AR_ACCESS_REFUSED, true));
	CHECK(!yama(0, AR_ACCESS_REFUSED, false));
}

int main(void)
{
	TAP_RUN(yama_scope_3_refuses_even_cap_sys_ptrace);
	TAP_RUN(yama_scopes_1_and_2_yield_to_cap_sys_ptrace);
	return tap_done();
}
