#!/bin/bash
# The uffd-move backend against the same moves made in-process, on a
# target with PAGES (default 10 000) split one-page VMAs; see
# bench/defrag-backend.c.  Targets: heal <= 2x in-process, pause <= 10 ms
# per batch (MAX_PAUSE_MS).  Needs root or ptrace rights over own children.
#
# The journal is synced to disk at each step (without --max-pause).  A
# stock Debian system has /run on tmpfs, where that costs nothing; on a
# machine whose /run is on a disk it costs milliseconds a sync.  With
# JOURNAL_TMPFS=1 (root only), a tmpfs is mounted on /run/anonremap for
# the run, as a stock system would have it, and unmounted after.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory -s lib/libanonremap.a cli/anonremap tests/helpers/target
mkdir -p build/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Ilib -Itests/unit \
	-o build/bench/defrag-backend bench/defrag-backend.c lib/libanonremap.a -lcap
if [ "${JOURNAL_TMPFS:-0}" = 1 ]; then
	dir=/run/anonremap
	mkdir -p "$dir"
	if [ -n "$(ls -A "$dir")" ]; then
		echo "bench/defrag.sh: $dir holds journals; not mounting over them" >&2
		exit 1
	fi
	mount -t tmpfs -o mode=0700,size=16m anonremap-bench "$dir"
	trap 'umount "$dir"' EXIT
	echo "journal: tmpfs on $dir"
else
	echo "journal: $(findmnt -n -o FSTYPE -T /run/anonremap 2>/dev/null ||
			 findmnt -n -o FSTYPE -T /run) under /run/anonremap"
fi
build/bench/defrag-backend "${1:-10000}" "${MAX_PAUSE_MS:-10}"
