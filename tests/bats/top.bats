#!/usr/bin/env bats
# anonremap top and the Prometheus output of stat and top.

load helpers

teardown() {
	stop_fragment
}

# values of one column of `top -r -n -b`, in printed order
top_column() {
	"$ANONREMAP" top -r -n -b --limit 0 -o "$1" "${@:2}"
}

is_descending() {
	sort -n -r -c <<<"$1"
}

@test "top ranks the fragmented helper by its splits" {
	start_fragment reverse:3000
	run "$ANONREMAP" top
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "processes "*", skipped "*", VMAs "*", splits "* ]]
	[[ "${lines[1]}" == *PID*COMM*SPLITS* ]]
	# other processes with more splits may run beside the test: they
	# come first, everything else after
	row=$(grep -E "^ *$FPID fragment " <<<"$output")
	[ "$(awk '{print $5}' <<<"$row")" -eq 2999 ]
	run top_column SPLITS
	is_descending "$output"
}

@test "--sort orders every key highest first" {
	start_fragment reverse:500
	for key in splits map-use vmas split-rss; do
		col=$key
		[ "$key" = map-use ] && col=VMAS	# same order as MAP-USE, finer
		[ "$key" = split-rss ] && col=SPLIT-RSS
		run top_column "$col" --sort "$key"
		[ "$status" -eq 0 ]
		is_descending "$output"
	done
}

@test "--limit: the first N, 0 for all, 20 by default in a table" {
	run top_column PID --limit 1
	[ "${#lines[@]}" -eq 1 ]
	all=$(top_column PID | wc -l)
	[ "$all" -ge 2 ]
	run "$ANONREMAP" top -n
	[ "${#lines[@]}" -le 20 ]
	run "$ANONREMAP" top -J
	[ "$(jq '.processes | length' <<<"$output")" -eq "$(jq .summary.scanned <<<"$output")" ]
}

@test "top -J: summary keys and ranked processes" {
	start_fragment reverse:800
	run "$ANONREMAP" top -J --limit 3
	[ "$status" -eq 0 ]
	keys=$(jq -r '.summary | keys_unsorted | join(",")' <<<"$output")
	[ "$keys" = "scanned,vanished,denied,errors,vmas,splits,worst_map_use_pid,worst_map_count_ratio" ]
	[ "$(jq '.processes | length' <<<"$output")" -eq 3 ]
	[ "$(jq '[.processes[].splits] | . == (sort | reverse)' <<<"$output")" = true ]
	[ "$(jq '.processes[2].splits >= 799 or (.processes | map(.pid) | index('"$FPID"')) != null' <<<"$output")" = true ]
	[ "$(jq '.summary.splits >= 799' <<<"$output")" = true ]
}

@test "top as nobody counts the processes it may not read" {
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$ANONREMAP" top -J
	[ "$status" -eq 0 ]
	[ "$(jq .summary.denied <<<"$output")" -ge 1 ]
	[ "$(jq .summary.scanned <<<"$output")" -ge 1 ]
}

@test "top thresholds: exit 3 when any process reaches one" {
	start_fragment reverse:400
	run "$ANONREMAP" top --threshold-splits 300 --limit 1
	[ "$status" -eq 3 ]
	run "$ANONREMAP" top --threshold-splits 100000000
	[ "$status" -eq 0 ]
	run "$ANONREMAP" top --threshold-map-use 0.5 -J
	[ "$status" -eq 3 ]
}

@test "top usage errors exit 2" {
	run "$ANONREMAP" top --sort bogus
	[ "$status" -eq 2 ]
	[[ "$output" == *"--sort: 'bogus'"* ]]
	run "$ANONREMAP" top --limit x
	[ "$status" -eq 2 ]
	run "$ANONREMAP" top --watch 0
	[ "$status" -eq 2 ]
	run "$ANONREMAP" top 123
	[ "$status" -eq 2 ]
	[[ "$output" == *"top takes no process ids"* ]]
	run "$ANONREMAP" top --json --prometheus
	[ "$status" -eq 2 ]
	run "$ANONREMAP" top --watch 5 --prometheus-file /tmp/x.prom
	[ "$status" -eq 2 ]
}

@test "--watch scans again until interrupted" {
	"$ANONREMAP" top --watch 1 -o PID --limit 1 >"$BATS_TEST_TMPDIR/watch" &
	watcher=$!
	sleep 2.5
	kill -INT "$watcher"
	wait "$watcher"
	[ "$(grep -c '^processes ' "$BATS_TEST_TMPDIR/watch")" -ge 2 ]
}

@test "Prometheus output of stat passes promtool and matches the JSON" {
	start_fragment reverse:200
	run "$ANONREMAP" stat --prometheus "$FPID" 2147483000
	[ "$status" -eq 1 ]
	metrics=$(grep -v '^anonremap: ' <<<"$output")
	promtool check metrics <<<"$metrics"
	grep -qx "anonremap_splits{pid=\"$FPID\",comm=\"fragment\"} 199" <<<"$metrics"
	grep -qx "anonremap_split_bytes{pid=\"$FPID\",comm=\"fragment\"} $((200 * 4096))" <<<"$metrics"
	grep -qx 'anonremap_scrape_errors{reason="vanished"} 1' <<<"$metrics"
	grep -qx 'anonremap_processes_scanned 1' <<<"$metrics"
	ratio=$(sed -n "s/^anonremap_map_count_ratio{pid=\"$FPID\".*} //p" <<<"$metrics")
	json=$("$ANONREMAP" stat -J "$FPID")
	expect=$(jq '.processes[0] | .map_count / .max_map_count' <<<"$json")
	awk -v a="$ratio" -v b="$expect" 'BEGIN { exit !(a - b < 1e-6 && b - a < 1e-6) }'
}

@test "Prometheus label values are escaped" {
	dir=$BATS_TEST_TMPDIR/bin
	mkdir -p "$dir"
	ln -s "$FRAGMENT" "$dir/q\"b\\s"
	FRAGMENT="$dir/q\"b\\s" start_fragment reverse:5
	run "$ANONREMAP" stat --prometheus "$FPID"
	[ "$status" -eq 0 ]
	promtool check metrics <<<"$output"
	grep -qF "comm=\"q\\\"b\\\\s\"}" <<<"$output"
}

@test "Prometheus output of top passes promtool" {
	start_fragment reverse:50
	run "$ANONREMAP" top --prometheus
	[ "$status" -eq 0 ]
	promtool check metrics <<<"$output"
	[ "$(grep -c '^anonremap_splits{' <<<"$output")" -eq "$(grep '^anonremap_processes_scanned ' <<<"$output" | cut -d' ' -f2)" ]
}

@test "--prometheus-file writes atomically and reports failures" {
	out=$BATS_TEST_TMPDIR/textfile/anonremap.prom
	mkdir -p "$(dirname "$out")"
	run "$ANONREMAP" top --prometheus-file "$out"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	promtool check metrics <"$out"
	[ "$(stat -c %a "$out")" = 644 ]
	[ "$(ls "$(dirname "$out")")" = anonremap.prom ]
	run "$ANONREMAP" top --prometheus-file /nonexistent/dir/a.prom
	[ "$status" -eq 1 ]
	[[ "$output" == "anonremap: cannot create a temporary file for /nonexistent/dir/a.prom: No such file or directory" ]]
}
