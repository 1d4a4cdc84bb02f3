// SPDX-License-Identifier: GPL-2.0
/*
 * Driver for the anonymous and file-backed THP tests of the stock
 * tools/testing/selftests/mm/split_huge_page_test.c, included here with its
 * main() renamed (one translation unit: kselftest.h keeps its counters in
 * statics). The stock main() goes on to split page cache folios
 * to nine orders, each time creating a 4 MiB file with one-byte write()
 * calls: some 36 million system calls, hours under TCG, and nothing to do
 * with anonymous memory.
 */
#define main stock_main
#include "mm/split_huge_page_test.c"
#undef main

int main(void)
{
	ksft_print_header();
	if (geteuid() != 0) {
		ksft_print_msg("Please run the benchmark as root\n");
		ksft_finished();
	}
	ksft_set_plan(3);
	pagesize = getpagesize();
	pageshift = ffs(pagesize) - 1;
	pmd_pagesize = read_pmd_pagesize();
	if (!pmd_pagesize)
		ksft_exit_fail_msg("Reading PMD pagesize failed\n");
	split_pmd_zero_pages();
	split_pmd_thp();
	split_pte_mapped_thp();
	split_file_backed_thp();
	ksft_finished();
	return 0;
}
