#!/bin/bash
# anonremap stat against `cat /proc/PID/smaps` and `pmap -X PID`, on helper
# processes with about 1 000, 10 000 and 60 000 VMAs.  Prints the median time
# of each and the ratios to cat measured in the same run (absolute times on
# a shared VM mean little).  Target: anonremap stat <= 1.3x cat at 60 000.
set -eu
cd "$(dirname "$0")/.."
ANONREMAP=${ANONREMAP:-cli/anonremap}
REPEAT=${REPEAT:-15}

now_us() { echo $(( $(date +%s%N) / 1000 )); }

# median_us CMD...: median wall time of REPEAT runs, microseconds.
median_us() {
	local i t0 times=()
	for ((i = 0; i < REPEAT; i++)); do
		t0=$(now_us)
		"$@" >/dev/null
		times+=($(( $(now_us) - t0 )))
	done
	printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '%8s %10s %12s %12s %10s %10s\n' VMAS cat_us anonremap_us pmap_us anonremap/cat pmap/cat
for pages in 1000 10000 60000; do
	out=$(mktemp)
	tests/helpers/fragment --timeout 600 "reverse:$pages" >"$out" &
	helper=$!
	until grep -q '^ready' "$out"; do sleep 0.1; done
	pid=$(awk '/^pid /{print $2}' "$out")
	vmas=$(grep -vc '\[vsyscall\]$' "/proc/$pid/maps")
	cat_us=$(median_us cat "/proc/$pid/smaps")
	ar_us=$(median_us "$ANONREMAP" stat "$pid")
	pmap_us=$(REPEAT=5 median_us pmap -X "$pid")
	printf '%8s %10s %12s %12s %10s %10s\n' "$vmas" "$cat_us" "$ar_us" "$pmap_us" \
		"$(ratio "$ar_us" "$cat_us")" "$(ratio "$pmap_us" "$cat_us")"
	kill "$helper"
	wait "$helper" 2>/dev/null || true
	rm -f "$out"
done
