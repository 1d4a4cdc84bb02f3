# Shared by the benchmarks: interleaved timing of several commands.
#
# measure NAME... : each NAME is a shell function; runs them in turn,
# REPEAT rounds, so a load change on this shared machine hits them all
# alike.  Sets WALL[NAME] and CPU[NAME] to the medians, in microseconds
# (CPU = user + system time of the command, which other load disturbs
# less than wall time).  A command's exit status is ignored: reading every
# /proc/*/smaps meets processes that exit meanwhile.
declare -A WALL CPU

_median() { sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p"; }

measure() {
	local name round t0 t1 cpu
	local -A walls cpus
	TIMEFORMAT='%3U %3S'
	for ((round = 0; round < REPEAT; round++)); do
		for name in "$@"; do
			t0=${EPOCHREALTIME/[.,]/}
			cpu=$({ time "$name" >/dev/null 2>&1; } 2>&1) || true
			t1=${EPOCHREALTIME/[.,]/}
			walls[$name]+="$((t1 - t0)) "
			cpus[$name]+="$(awk '{ printf "%d", ($1 + $2) * 1000000 }' <<<"$cpu") "
		done
	done
	for name in "$@"; do
		WALL[$name]=$(tr ' ' '\n' <<<"${walls[$name]}" | grep . | _median)
		CPU[$name]=$(tr ' ' '\n' <<<"${cpus[$name]}" | grep . | _median)
	done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
