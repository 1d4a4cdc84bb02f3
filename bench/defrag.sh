#!/bin/bash
# The uffd-move backend against the same moves made in-process, on a
# target with PAGES (default 10 000) split one-page VMAs; see
# bench/defrag-backend.c.  Targets: heal <= 2x in-process, pause <= 10 ms
# per batch (MAX_PAUSE_MS).  Needs root or ptrace rights over own children.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory -s lib/libanonremap.a cli/anonremap tests/helpers/target
mkdir -p build/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Ilib -Itests/unit \
	-o build/bench/defrag-backend bench/defrag-backend.c lib/libanonremap.a -lcap
exec build/bench/defrag-backend "${1:-10000}" "${MAX_PAUSE_MS:-10}"
