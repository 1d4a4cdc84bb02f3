#!/bin/bash
# anonremap stat against `cat /proc/PID/smaps` and `pmap -X PID`, on helper
# processes with about 1 000, 10 000 and 60 000 VMAs.  The three commands
# run interleaved; the medians and their ratios to cat are printed, wall
# time and CPU time (absolute times on a shared VM mean little).
# Target: anonremap stat <= 1.3x cat at 60 000 VMAs.
set -eu
cd "$(dirname "$0")/.."
ANONREMAP=$(realpath "${ANONREMAP:-cli/anonremap}")
REPEAT=${REPEAT:-15}
. bench/lib.sh

cat_smaps() { cat "/proc/$pid/smaps"; }
anonremap_stat() { "$ANONREMAP" stat "$pid"; }
pmap_x() { pmap -X "$pid"; }

printf '%8s %22s %22s\n' "" "anonremap/cat" "pmap -X/cat"
printf '%8s %10s %11s %10s %11s %12s\n' VMAS wall cpu wall cpu cat_wall_us
for pages in 1000 10000 60000; do
	out=$(mktemp)
	tests/helpers/fragment --timeout 600 "reverse:$pages" >"$out" &
	helper=$!
	until grep -q '^ready' "$out"; do sleep 0.1; done
	pid=$(awk '/^pid /{print $2}' "$out")
	vmas=$(grep -vc '\[vsyscall\]$' "/proc/$pid/maps")
	measure cat_smaps anonremap_stat pmap_x
	printf '%8s %10s %11s %10s %11s %12s\n' "$vmas" \
		"$(ratio "${WALL[anonremap_stat]}" "${WALL[cat_smaps]}")" \
		"$(ratio "${CPU[anonremap_stat]}" "${CPU[cat_smaps]}")" \
		"$(ratio "${WALL[pmap_x]}" "${WALL[cat_smaps]}")" \
		"$(ratio "${CPU[pmap_x]}" "${CPU[cat_smaps]}")" "${WALL[cat_smaps]}"
	kill "$helper"
	wait "$helper" 2>/dev/null || true
	rm -f "$out"
done
