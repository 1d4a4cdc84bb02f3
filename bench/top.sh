#!/bin/bash
# anonremap top over every process against `cat /proc/*/smaps`, with 200
# extra processes and one of about 60 000 VMAs running.  Both run
# interleaved; prints the medians' ratio, wall and CPU time.
# Target: <= 1.2x.
set -eu
cd "$(dirname "$0")/.."
ANONREMAP=$(realpath "${ANONREMAP:-cli/anonremap}")
REPEAT=${REPEAT:-11}
. bench/lib.sh

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

out=$(mktemp)
tests/helpers/fragment --timeout 600 reverse:60000 >"$out" &
pids+=($!)
for _ in $(seq 200); do
	sleep 600 &
	pids+=($!)
done
until grep -q '^ready' "$out"; do sleep 0.1; done
rm -f "$out"

cat_all() { cat /proc/[0-9]*/smaps; }
anonremap_top() { "$ANONREMAP" top --limit 0; }
measure cat_all anonremap_top
nprocs=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)
printf '%s processes: anonremap top / cat /proc/*/smaps: wall %s, cpu %s (cat: %s us wall)\n' \
	"$nprocs" "$(ratio "${WALL[anonremap_top]}" "${WALL[cat_all]}")" \
	"$(ratio "${CPU[anonremap_top]}" "${CPU[cat_all]}")" "${WALL[cat_all]}"
