#!/usr/bin/env bats
# anonremap stat: every option, every error, counts against the helper.

load helpers

teardown() {
	stop_fragment
}

json_field() {
	jq -r ".processes[0].$1" <<<"$output"
}

@test "--help lists the commands, -V the version" {
	run "$ANONREMAP" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"stat "* ]]
	run "$ANONREMAP" -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^anonremap\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run "$ANONREMAP" stat --version
	[ "$status" -eq 0 ]
	run "$ANONREMAP" stat --usage
	[ "$status" -eq 0 ]
	[[ "$output" == *"PID..."* ]]
}

@test "stat --help lists every column, and -o accepts each one" {
	run "$ANONREMAP" stat --help
	[ "$status" -eq 0 ]
	cols=$(sed -n '/^Columns/,/^$/p' <<<"$output" | awk 'NR > 1 && $1 {print $1}')
	[ "$(wc -w <<<"$cols")" -ge 10 ]
	for c in $cols; do
		run "$ANONREMAP" stat -o "$c" $$
		[ "$status" -eq 0 ]
		[ "$(head -1 <<<"$output" | tr -d ' ')" = "$c" ]
	done
}

@test "usage errors exit 2 with one line naming the problem" {
	run "$ANONREMAP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no command given"* ]]
	run "$ANONREMAP" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate'"* ]]
	run "$ANONREMAP" stat
	[ "$status" -eq 2 ]
	[[ "$output" == *"no process id given"* ]]
	run "$ANONREMAP" stat 12abc
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == *"'12abc' is not a process id"* ]]
	run "$ANONREMAP" stat -- -5
	[ "$status" -eq 2 ]
	run "$ANONREMAP" stat --bogus $$
	[ "$status" -eq 2 ]
	run "$ANONREMAP" stat -o PID,NOPE $$
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown column: NOPE"* ]]
}

@test "a missing process: exit 1, one line with the pid" {
	run "$ANONREMAP" stat 2147483000
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "anonremap: pid 2147483000: no such process" ]
}

@test "a kernel thread: exit 1, one line" {
	run "$ANONREMAP" stat 2
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: pid 2: kernel thread has no user memory" ]
}

@test "a zombie: exit 1, one line" {
	( sleep 0.1 & exec sleep 10 ) &
	parent=$!
	sleep 0.5
	zombie=$(ps -o pid= --ppid "$parent" | tr -d ' ')
	[ -n "$zombie" ]
	[ "$(ps -o stat= -p "$zombie" | cut -c1)" = Z ]
	run "$ANONREMAP" stat "$zombie"
	kill "$parent"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: pid $zombie: process is a zombie" ]
}

@test "a process the caller may not read: exit 1, names what is missing" {
	start_fragment reverse:10
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$ANONREMAP" stat "$FPID"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "anonremap: pid $FPID: permission denied: reading its memory map needs ptrace read access: process $FPID runs as uid 0 (effective 0, saved 0), we are uid 65534 without CAP_SYS_PTRACE" ]
}

@test "several pids: the good ones are reported, the bad ones fail" {
	start_fragment reverse:10
	run "$ANONREMAP" stat "$FPID" 2147483000 $$
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid 2147483000: no such process"* ]]
	grep -q "^ *$FPID fragment " <<<"$output"
	grep -q "^ *$$ " <<<"$output"
}

@test "reverse-order moves: splits and runs as the helper built them" {
	start_fragment reverse:500
	[ "$EXPECT_SPLITS" -eq 499 ]
	run "$ANONREMAP" stat -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(json_field splits)" -eq 499 ]
	[ "$(json_field runs)" -eq 1 ]
	[ "$(json_field split_bytes)" -eq $((500 * 4096)) ]
	[ "$(json_field split_rss_bytes)" -eq $((500 * 4096)) ]
	[ "$(json_field comm)" = fragment ]
	[ "$(json_field map_count)" -eq "$(grep -vc '\[vsyscall\]$' /proc/$FPID/maps)" ]
	[ "$(json_field max_map_count)" -eq "$(cat /proc/sys/vm/max_map_count)" ]
}

@test "interleaved sources, holes and THP: counts match the helper" {
	start_fragment interleave:101 holes:100:10 thp:3 reverse:50
	run "$ANONREMAP" stat -J -v "$FPID"
	[ "$status" -eq 0 ]
	[ "$(json_field splits)" -eq "$EXPECT_SPLITS" ]
	[ "$(json_field runs)" -eq "$EXPECT_RUNS" ]
	[ "$(jq '.processes[0].runs_detail | length' <<<"$output")" -eq "$EXPECT_RUNS" ]
	[ "$(jq '[.processes[0].runs_detail[].vmas] | add' <<<"$output")" -eq $((EXPECT_SPLITS + EXPECT_RUNS)) ]
	thp=$(jq '[.processes[0].runs_detail[].thp_bytes] | add' <<<"$output")
	[ "$thp" -gt 0 ]
	[ $((thp % (2 * 1024 * 1024))) -eq 0 ]
}

@test "mixed protections are not splits" {
	start_fragment mixed:60
	run "$ANONREMAP" stat -J "$FPID"
	[ "$(json_field splits)" -eq 0 ]
	[ "$(json_field vmas)" -ge 60 ]
}

@test "named anonymous regions form runs under their name" {
	start_fragment named:20
	run "$ANONREMAP" stat -J "$FPID"
	[ "$(json_field splits)" -eq 19 ]
}

@test "-v shows pages shared with a forked child as a blocker" {
	start_fragment --fork reverse:40
	run "$ANONREMAP" stat -v -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.processes[0].runs_detail[0].blockers | join(",")' <<<"$output")" = shared ]
	run "$ANONREMAP" stat -v "$FPID"
	grep -Eq ' 40 .* shared$' <<<"$output"
}

@test "-v shows userfaultfd-armed runs; mlocked is no blocker (such runs heal)" {
	start_fragment --mlock --uffd reverse:30
	run "$ANONREMAP" stat -v -J "$FPID"
	[ "$(jq -r '.processes[0].runs_detail[0].blockers | join(",")' <<<"$output")" = uffd ]
	run "$ANONREMAP" stat -v "$FPID"
	grep -Eq ' 30 .* uffd$' <<<"$output"
}

@test "-v shows guard regions inside a run" {
	start_fragment --guard reverse:30
	run "$ANONREMAP" stat -v -J "$FPID"
	[ "$(json_field splits)" -eq 29 ]
	[ "$(jq -r '.processes[0].runs_detail[0].blockers | join(",")' <<<"$output")" = guard ]
	verify_fragment
}

@test "JSON: documented keys only, numbers as numbers, no runs_detail without -v" {
	start_fragment reverse:20
	run "$ANONREMAP" stat -J "$FPID" $$
	[ "$status" -eq 0 ]
	keys=$(jq -r '.processes[0] | keys_unsorted | join(",")' <<<"$output")
	[ "$keys" = "pid,comm,vmas,anon_vmas,splits,runs,split_bytes,split_rss_bytes,map_count,max_map_count" ]
	[ "$(jq '.processes | length' <<<"$output")" -eq 2 ]
	[ "$(jq '[.processes[0][] | numbers] | length' <<<"$output")" -eq 9 ]
	run "$ANONREMAP" stat -J -v "$FPID"
	keys=$(jq -r '.processes[0].runs_detail[0] | keys_unsorted | join(",")' <<<"$output")
	[ "$keys" = "start,end,vmas,bytes,rss_bytes,thp_bytes,swap_bytes,blockers" ]
	[[ "$(jq -r '.processes[0].runs_detail[0].start' <<<"$output")" =~ ^0x[0-9a-f]+$ ]]
}

@test "JSON for a failed pid lists only the good ones" {
	run "$ANONREMAP" stat -J 2147483000
	[ "$status" -eq 1 ]
	[ "$(jq -c . <<<"${lines[1]}")" = '{"processes":[]}' ]
}

@test "-r, -n, -b and -o shape the table" {
	start_fragment reverse:100
	run "$ANONREMAP" stat -r -n -b -o PID,SPLITS,SPLIT-RSS,SPLIT-SIZE "$FPID"
	[ "$status" -eq 0 ]
	[ "$output" = "$FPID 99 409600 409600" ]
	run "$ANONREMAP" stat -n -o PID "$FPID"
	[ "$(tr -d ' ' <<<"$output")" = "$FPID" ]
	run "$ANONREMAP" stat -o PID -o +SPLITS -r "$FPID"
	[ "${lines[0]}" = "PID SPLITS" ]
	run "$ANONREMAP" stat -o SPLIT-RSS -n "$FPID"
	[ "$(tr -d ' ' <<<"$output")" = 400K ]
	run "$ANONREMAP" stat -o map-use -n "$FPID"
	[[ "$output" =~ ^\ *[0-9]+%$ ]]
}

@test "thresholds: exit 3 when reached, 0 when not, 2 when malformed" {
	start_fragment reverse:500
	run "$ANONREMAP" stat --threshold-splits 100 "$FPID"
	[ "$status" -eq 3 ]
	[[ "$output" == *"fragment"* ]]
	run "$ANONREMAP" stat --threshold-splits 1000 "$FPID"
	[ "$status" -eq 0 ]
	run "$ANONREMAP" stat --threshold-map-use 0.5 "$FPID"
	[ "$status" -eq 3 ]
	run "$ANONREMAP" stat --threshold-map-use 50% "$FPID"
	[ "$status" -eq 0 ]
	run "$ANONREMAP" stat --threshold-splits 100 "$FPID" 2147483000
	[ "$status" -eq 3 ]
	run "$ANONREMAP" stat --threshold-splits abc "$FPID"
	[ "$status" -eq 2 ]
	run "$ANONREMAP" stat --threshold-map-use 150 "$FPID"
	[ "$status" -eq 2 ]
}

@test "stat never changes the target: maps identical, every page intact" {
	start_fragment --fork interleave:64 thp:2 reverse:100
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" stat -v -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	[ "$(ps -o stat= -p "$FPID" | cut -c1)" = S ]
	verify_fragment
}

@test "a write error on standard output is reported" {
	run bash -c "'$ANONREMAP' stat $$ > /dev/full"
	[ "$status" -eq 1 ]
	[[ "$output" == *"write error"* ]]
}
