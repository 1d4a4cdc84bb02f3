#!/usr/bin/env bats
# anonremap defrag, probe and recover against live fragmented processes.
# Every test that lets defrag touch a process checks all of its pages.

load helpers

teardown() {
	stop_fragment
}

json_field() {
	jq -r ".$1" <<<"$output"
}

vmas_of() {
	"$ANONREMAP" stat -J "$1" | jq .processes[0].vmas
}

splits_of() {
	"$ANONREMAP" stat -J "$1" | jq .processes[0].splits
}

# rss_kb PID: the process's resident memory in kB (smaps_rollup)
rss_kb() {
	awk '/^Rss:/ {print $2}' "/proc/$1/smaps_rollup"
}

@test "probe: uffd-move works on this kernel, relocate says why not" {
	run "$ANONREMAP" probe
	[ "$status" -eq 0 ]
	grep -qx 'uffd-move  yes' <<<"$output"
	grep -q '^relocate   no: this kernel has no MREMAP_RELOCATE_ANON' <<<"$output"
	run "$ANONREMAP" probe -J
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.backends[] | {backend, works}]' <<<"$output")" = \
	  '[{"backend":"relocate","works":false},{"backend":"uffd-move","works":true},{"backend":"copy","works":true}]' ]
	run "$ANONREMAP" probe extra
	[ "$status" -eq 2 ]
}

@test "defrag heals reverse, interleaved and THP runs; every page intact" {
	start_fragment reverse:1000 interleave:101 thp:4 holes:60:10
	run "$ANONREMAP" defrag --dry-run -J "$FPID"
	[ "$status" -eq 0 ]
	predicted=$(json_field vmas_after)
	[ "$(json_field splits_after)" -eq 0 ]
	[ "$(json_field mode)" = dry-run ]
	run "$ANONREMAP" defrag "$FPID"
	[ "$status" -eq 0 ]
	[[ "$output" == "pid $FPID (fragment): $EXPECT_SPLITS splits in $EXPECT_RUNS runs → 0; VMAs "*"backend uffd-move" ]]
	[ "$(splits_of "$FPID")" -eq 0 ]
	[ "$("$ANONREMAP" stat -J "$FPID" | jq .processes[0].vmas)" -eq "$predicted" ]
	[ "$(ps -o stat= -p "$FPID" | cut -c1)" = S ]
	verify_fragment
}

@test "--backend copy heals every pattern; Rss does not grow; every page intact" {
	start_fragment reverse:500 interleave:51 thp:2 holes:60:10
	rss=$(rss_kb "$FPID")
	run "$ANONREMAP" defrag --backend copy "$FPID"
	[ "$status" -eq 0 ]
	[[ "$output" == *"; backend copy" ]]
	[ "$(splits_of "$FPID")" -eq 0 ]
	[ "$(rss_kb "$FPID")" -le "$rss" ]
	verify_fragment
}

@test "--backend copy never copies pages a fork shares; --must refuses them" {
	start_fragment --fork reverse:60
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag --backend copy "$FPID"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == *"skipped: pages shared with another process (a fork)" ]]
	# A run left alone keeps its VMAs, in the report too.
	for opt in "" --dry-run; do
		run "$ANONREMAP" defrag -J $opt --backend copy "$FPID"
		[ "$(jq '.runs[0].vmas_after' <<<"$output")" -eq 60 ]
	done
	run "$ANONREMAP" defrag --backend copy --must "$FPID"
	[ "$status" -eq 1 ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "auto never picks copy" {
	start_fragment reverse:20
	run "$ANONREMAP" defrag --dry-run -J "$FPID"
	[ "$(json_field backend)" = uffd-move ]
}

@test "THP stays huge after a defrag" {
	start_fragment thp:4
	before=$("$ANONREMAP" stat -v -J "$FPID" | jq .processes[0].runs_detail[0].thp_bytes)
	[ "$before" -gt 0 ]
	run "$ANONREMAP" defrag "$FPID"
	[ "$status" -eq 0 ]
	after=$(awk '/^AnonHugePages/ { s += $2 } END { print s * 1024 }' /proc/$FPID/smaps)
	[ "$after" -ge "$before" ]
	verify_fragment
}

@test "--dry-run changes nothing" {
	start_fragment reverse:300
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag --dry-run "$FPID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pid $FPID (fragment): would heal 1 of 1 runs: splits 299 → 0; VMAs $(vmas_of "$FPID") → $(($(vmas_of "$FPID") - 299)); would move 1.2M in 301 moves; backend uffd-move" ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "the moves a dry run expects are the moves made: one per VMA, one back per part" {
	start_fragment reverse:300 interleave:21
	for opt in "" "--max-pause 5"; do
		# shellcheck disable=SC2086 # opt is empty or two words
		run "$ANONREMAP" defrag --dry-run -J $opt "$FPID"
		[ "$status" -eq 0 ]
		echo "$output"
		[ "$(jq .bytes_moved <<<"$output")" -eq $(((300 + 21) * 4096)) ]
		if [ -z "$opt" ]; then
			[ "$(jq .moves <<<"$output")" -eq $((300 + 1 + 21 + 1)) ]
			[ "$(jq -c '[.runs[].moves] | sort' <<<"$output")" = "[22,301]" ]
		else
			[ "$(jq .moves <<<"$output")" -gt $((300 + 1 + 21 + 1)) ]
		fi
	done
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq .bytes_moved <<<"$output")" -eq $(((300 + 21) * 4096)) ]
	[ "$(jq -c '[.moves, ([.runs[].moves] | sort)]' <<<"$output")" = "[323,[22,301]]" ]
	verify_fragment
}

@test "--must refuses a run shared with a forked child; nothing moves" {
	start_fragment --fork reverse:200 interleave:20
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag --must "$FPID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot be healed (pages shared with another process"*"nothing moved (--must)"* ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "pages a finished fork left unmovable: a hint, then --unshare heals them in place" {
	start_fragment --fork-exit reverse:80 interleave:20
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag "$FPID"
	[ "$status" -eq 1 ]
	[[ "${lines[1]}" == *"failed: pages once shared with a forked process and not written since cannot move; --unshare rewrites them in place"* ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
	rss=$(rss_kb "$FPID")
	run "$ANONREMAP" defrag --unshare "$FPID"
	[ "$status" -eq 0 ]
	[ "$(splits_of "$FPID")" -eq 0 ]
	[ "$(rss_kb "$FPID")" -eq "$rss" ]
	verify_fragment
}

@test "--must: a run fails after another healed; that one is split back, maps as before" {
	# The first pattern is built before the fork that leaves its pages
	# unmovable, the second after, below it: healed first, then undone.
	start_fragment --fork-exit-after 1 interleave:40 reverse:120
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag --must "$FPID"
	[ "$status" -eq 1 ]
	[[ "${lines[1]}" == *"(120 VMAs): failed: healed, then split back as it was: a later run failed (--must)" ]]
	[[ "${lines[2]}" == *"(40 VMAs): failed: pages once shared with a forked process"* ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
	# Under --max-pause, the rollback takes stops of its own.
	run "$ANONREMAP" defrag --must --max-pause 5 -J "$FPID"
	[ "$status" -eq 1 ]
	[ "$(json_field pauses)" -gt 2 ]
	[ "$(jq -r '.runs[0].fate + " " + (.runs[0].vmas_after | tostring)' <<<"$output")" = "failed 120" ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "--unshare never touches pages a live process still shares" {
	start_fragment --fork reverse:40
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag --unshare "$FPID"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == *"skipped: pages shared with another process (a fork)" ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "without --must, blocked runs are skipped and reported" {
	start_fragment --uffd reverse:50
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.runs[0].fate + ": " + .runs[0].reason' <<<"$output")" = "skipped: registered with the process's own userfaultfd" ]
	[ "$(splits_of "$FPID")" -eq 49 ]
	verify_fragment
}

# run_starts PID: the start of each run of PID, one a line
run_starts() {
	"$ANONREMAP" stat -v -J "$1" | jq -r '.processes[0].runs_detail[].start'
}

# mlocked_heals [--backend B] FRAGMENT-ARGS...: every run heals, each
# healed VMA has the VmFlags its first VMA had (lo, and lf when locked on
# fault) and is all Locked, every page intact.
mlocked_heals() {
	local backend=() a flags=()
	if [ "$1" = --backend ]; then
		backend=(--backend "$2")
		shift 2
	fi
	start_fragment "$@"
	mapfile -t starts < <(run_starts "$FPID")
	[ "${#starts[@]}" -eq "$EXPECT_RUNS" ]
	[ "$("$ANONREMAP" stat -v -J "$FPID" | jq '[.processes[0].runs_detail[].blockers[]] | length')" -eq 0 ]
	for a in "${starts[@]}"; do
		flags+=("$(vma_field "$FPID" "$a" VmFlags)")
		[[ " ${flags[-1]} " == *" lo "* ]]
	done
	run "$ANONREMAP" defrag -J "${backend[@]}" "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.runs[].fate] | unique | join(",")' <<<"$output")" = healed ]
	[ "$(splits_of "$FPID")" -eq 0 ]
	for i in "${!starts[@]}"; do
		a=${starts[$i]}
		echo "$a: $(vma_field "$FPID" "$a" VmFlags), Size $(vma_field "$FPID" "$a" Size), Locked $(vma_field "$FPID" "$a" Locked)"
		[ "$(vma_field "$FPID" "$a" VmFlags)" = "${flags[$i]}" ]
		[ "$(vma_field "$FPID" "$a" Locked)" = "$(vma_field "$FPID" "$a" Size)" ]
	done
	verify_fragment
}

@test "mlocked runs heal and stay mlocked (lo, all Locked), THP ones too" {
	mlocked_heals --mlock reverse:50 thp:2
	[[ " $(vma_field "$FPID" "${starts[0]}" VmFlags) " != *" lf "* ]]
}

@test "runs locked on fault (MLOCK_ONFAULT) heal and stay so (lo lf)" {
	mlocked_heals --mlock-onfault reverse:50 interleave:31
	[[ " $(vma_field "$FPID" "${starts[0]}" VmFlags) " == *" lo lf "* ]]
}

@test "--backend copy heals mlocked runs; they stay mlocked" {
	mlocked_heals --backend copy --mlock reverse:50 thp:2
	[[ " $(vma_field "$FPID" "${starts[0]}" VmFlags) " != *" lf "* ]]
}

@test "an mlocked run the process may not lock twice over: foreseen by --dry-run, --must refuses; fails untouched, still locked" {
	command -v setpriv >/dev/null || skip "no setpriv"
	# Without CAP_IPC_LOCK, RLIMIT_MEMLOCK counts; 200K are locked.
	printf '#!/bin/sh\nexec setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "%s" "$@"\n' \
		"$FRAGMENT" >"$BATS_TEST_TMPDIR/fragment"
	chmod +x "$BATS_TEST_TMPDIR/fragment"
	FRAGMENT=$BATS_TEST_TMPDIR/fragment start_fragment --mlock reverse:50
	prlimit --pid "$FPID" --memlock=307200:307200
	a=$(run_starts "$FPID")
	before=$(cat /proc/$FPID/maps)
	# Foreseen by --dry-run and --must; not under --max-pause (parts).
	why="mlocked: healing it locks 200 kB more while it moves, beyond RLIMIT_MEMLOCK (300 kB, 200 kB locked already; no CAP_IPC_LOCK)"
	run "$ANONREMAP" defrag --dry-run -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -r .runs[0].fate <<<"$output")" = skipped ]
	[ "$(jq -r .runs[0].reason <<<"$output")" = "$why" ]
	[ "$(jq -r .vmas_after <<<"$output")" -eq "$(jq -r .vmas_before <<<"$output")" ]
	run "$ANONREMAP" defrag --must "$FPID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"($why): nothing moved (--must)" ]]
	run "$ANONREMAP" defrag --dry-run -J --max-pause 5 "$FPID"
	[ "$(jq -r .runs[0].fate <<<"$output")" = planned ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 1 ]
	[ "$(jq -r .runs[0].fate <<<"$output")" = failed ]
	[[ "$(jq -r .runs[0].reason <<<"$output")" == *"may not lock the 200 kB more that its mlocked run needs while it moves (RLIMIT_MEMLOCK 300 kB, 200 kB locked already; no CAP_IPC_LOCK): run left as it was" ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	[[ " $(vma_field "$FPID" "$a" VmFlags) " == *" lo "* ]]
	verify_fragment
}

@test "--range heals only the runs inside it" {
	start_fragment reverse:100 interleave:40
	first=$("$ANONREMAP" stat -v -J "$FPID" | jq -r '.processes[0].runs_detail[0] | .start + "-" + .end')
	run "$ANONREMAP" defrag --range "$first" "$FPID"
	[ "$status" -eq 0 ]
	run "$ANONREMAP" stat -J -v "$FPID"
	[ "$(json_field 'processes[0].runs')" -eq 1 ]
	[ "$(json_field 'processes[0].runs_detail[0].start')-$(json_field 'processes[0].runs_detail[0].end')" != "$first" ]
	verify_fragment
}

@test "--max-pause heals a big run in several stops, as a few VMAs" {
	start_fragment reverse:3000
	run "$ANONREMAP" defrag --dry-run --max-pause 10 "$FPID"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == *"(3000 VMAs): planned into "*" VMAs (--max-pause)" ]]
	run "$ANONREMAP" defrag -J --max-pause 10 "$FPID"
	[ "$status" -eq 0 ]
	[ "$(json_field pauses)" -ge 2 ]
	parts=$(json_field 'runs[0].vmas_after')
	[ "$parts" -ge 2 ]
	[ "$(json_field 'runs[0].fate')" = healed ]
	[ "$(splits_of "$FPID")" -eq $((parts - 1)) ]
	verify_fragment
}

@test "defrag refuses bad targets with one line and leaves them alone" {
	run "$ANONREMAP" defrag 2147483000
	[ "$status" -eq 1 ]
	[[ "$output" == *"2147483000"* ]]
	run "$ANONREMAP" defrag 2
	[ "$status" -eq 1 ]
	[[ "$output" == *"kernel thread"* ]]
	run sh -c 'exec "$0" defrag $$' "$ANONREMAP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a process cannot defragment itself" ]]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$ANONREMAP" defrag 1
	[ "$status" -eq 1 ]
	[[ "$output" == "anonremap: pid 1: permission denied"* ]]
	( sleep 0.1 & exec sleep 10 ) &
	parent=$!
	sleep 0.5
	zombie=$(ps -o pid= --ppid "$parent" | tr -d ' ')
	run "$ANONREMAP" defrag "$zombie"
	kill "$parent"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: pid $zombie: process is a zombie" ]
	start_fragment reverse:20
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$ANONREMAP" defrag "$FPID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"permission denied"* ]]
	verify_fragment
}

@test "defrag refuses a process another tracer holds" {
	start_fragment reverse:20
	strace_attach "$FPID"
	run "$ANONREMAP" defrag "$FPID"
	kill "$TRACER"
	wait "$TRACER" || true
	[ "$status" -eq 1 ]
	[[ "$output" == *"traced"* ]]
	[ "$(splits_of "$FPID")" -eq 19 ]
	verify_fragment
}

@test "defrag usage errors exit 2" {
	run "$ANONREMAP" defrag
	[ "$status" -eq 2 ]
	run "$ANONREMAP" defrag 1 2
	[ "$status" -eq 2 ]
	run "$ANONREMAP" defrag --backend floppy 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"not one of auto, relocate, uffd-move, copy"* ]]
	run "$ANONREMAP" defrag --range 20-10 1
	[ "$status" -eq 2 ]
	run "$ANONREMAP" defrag --range zz 1
	[ "$status" -eq 2 ]
	run "$ANONREMAP" defrag --max-pause 0 1
	[ "$status" -eq 2 ]
	run "$ANONREMAP" defrag --max-pause 5ms 1
	[ "$status" -eq 2 ]
}

@test "--backend relocate on a stock kernel fails with the reason" {
	start_fragment reverse:20
	run "$ANONREMAP" defrag --backend relocate "$FPID"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: this kernel has no MREMAP_RELOCATE_ANON (the patch series in kernel/ adds it)" ]
	[ "$(splits_of "$FPID")" -eq 19 ]
}

@test "recover without a journal says so" {
	start_fragment reverse:5
	run "$ANONREMAP" recover "$FPID"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: pid $FPID: nothing to recover: no journal of an interrupted defrag (/run/anonremap/$FPID.journal)" ]
	run "$ANONREMAP" recover
	[ "$status" -eq 2 ]
}

# recover_removes: recover of $FPID succeeds and removes $journal.
recover_removes() {
	run "$ANONREMAP" recover "$FPID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ ! -e "$journal" ]
}

@test "recover keeps a damaged journal, and removes one its tool left before the first record" {
	start_fragment reverse:5
	journal=/run/anonremap/$FPID.journal
	mkdir -p /run/anonremap
	{ printf 'ARJRNL2\0'; head -c 4088 /dev/zero | tr '\0' x; } >"$journal"
	run "$ANONREMAP" recover "$FPID"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: $journal is damaged or not a journal of this version" ]
	[ -e "$journal" ]
	# One of the first version, whose header held the backends' fields.
	{ printf 'ARJRNL1\0'; head -c 4088 /dev/zero; } >"$journal"
	run "$ANONREMAP" recover "$FPID"
	[ "$status" -eq 1 ]
	[ "$output" = "anonremap: $journal was written by an older anonremap (0.1): recover with that version" ]
	[ -e "$journal" ]
	: >"$journal"
	recover_removes
	# Thread records, without the header that would count them.
	{ head -c 4096 /dev/zero; head -c 64 /dev/zero | tr '\0' t; } >"$journal"
	recover_removes
	verify_fragment
}

# The state letter of process $1 (S, T, ...).
state_of() {
	sed 's/.*) \(.\).*/\1/' "/proc/$1/stat"
}

@test "recover lets a stopped process run after a tool killed before its first record, not one started since" {
	start_fragment reverse:5
	journal=/run/anonremap/$FPID.journal
	mkdir -p /run/anonremap
	kill -STOP "$FPID"
	# A journal older than the process: its pid was another process's.
	: >"$journal"
	touch -d '-1 hour' "$journal"
	recover_removes
	sleep 0.2
	[ "$(state_of "$FPID")" = T ]
	: >"$journal"
	recover_removes
	for _ in $(seq 50); do
		[ "$(state_of "$FPID")" != T ] && break
		sleep 0.1
	done
	[ "$(state_of "$FPID")" != T ]
	verify_fragment
}

# kill9_rounds FROM_MS TO_MS DEFRAG_OPTION... -- FRAGMENT_ARGS...: six
# rounds of: start the helper, defrag it, kill -9 the tool a random FROM_MS
# to TO_MS after its journal appears (it attaches: counting from there,
# a slow start, under load or a sanitizer, does not shift the instants
# out of the heal), recover; the helper must run again, every page in
# place, no journal left.  At least one round must have killed the tool
# while a run was under way, or the rounds tested nothing: a round hits
# one about half the time, so after six rounds without a hit, up to six
# more are run.
kill9_rounds() {
	local from=$1 to=$2 opts=() i=0 tool hit=0
	shift 2
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	while [ "$i" -lt 6 ] || { [ "$hit" -eq 0 ] && [ "$i" -lt 12 ]; }; do
		i=$((i + 1))
		start_fragment "$@"
		"$ANONREMAP" defrag "${opts[@]}" "$FPID" >/dev/null 2>&1 &
		tool=$!
		while [ ! -e "/run/anonremap/$FPID.journal" ] &&
		      kill -0 "$tool" 2>/dev/null; do
			sleep 0.001
		done
		sleep "$(printf '0.%03d' $((from + RANDOM % (to - from))))"
		kill -9 "$tool" 2>/dev/null || true
		wait "$tool" 2>/dev/null || true
		if "$ANONREMAP" recover "$FPID" >"$BATS_TEST_TMPDIR/recover" 2>&1; then
			echo "# round $i: $(cat "$BATS_TEST_TMPDIR/recover")" >&3
			grep -q 'the interrupted run was' "$BATS_TEST_TMPDIR/recover" &&
				hit=$((hit + 1))
		fi
		for _ in $(seq 50); do
			[ "$(ps -o stat= -p "$FPID" | cut -c1)" = S ] && break
			sleep 0.1
		done
		[ "$(ps -o stat= -p "$FPID" | cut -c1)" = S ]
		[ ! -e "/run/anonremap/$FPID.journal" ]
		verify_fragment
		stop_fragment
	done
	echo "# $hit of $i rounds interrupted a run" >&3
	[ "$hit" -ge 1 ]
}

@test "kill -9 of defrag at random instants, then recover: no page lost" {
	kill9_rounds 5 45 -- reverse:3000 interleave:500
}

@test "a journal held by another anonremap: refused in one line (JSON: the runs say why), nothing moves" {
	start_fragment reverse:30
	before=$(cat /proc/$FPID/maps)
	mkdir -p /run/anonremap
	journal=/run/anonremap/$FPID.journal
	: >"$journal"
	flock "$journal" sleep 30 &
	holder=$!
	for _ in $(seq 50); do
		flock -n "$journal" true || break
		sleep 0.1
	done
	run "$ANONREMAP" defrag -J "$FPID"
	json=$output
	run "$ANONREMAP" defrag "$FPID"
	kill "$holder"
	wait "$holder" || true
	rm -f "$journal"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "anonremap: another anonremap is working on process $FPID right now"* ]]
	[[ "$(jq -r '.runs[0].reason' <<<"$json")" == "not tried: another anonremap is working on process $FPID right now"* ]]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "a process that dies during the defrag: one line, exit 1, no journal left" {
	for i in 1 2 3 4 5 6; do
		start_fragment reverse:3000 interleave:500
		"$ANONREMAP" defrag "$FPID" >"$BATS_TEST_TMPDIR/out" 2>&1 &
		tool=$!
		sleep "0.0$((RANDOM % 9 + 1))"
		kill -9 "$FPID"
		rc=0
		timeout 30 tail --pid="$tool" -f /dev/null || rc=$?
		[ "$rc" -eq 0 ]
		wait "$tool" && rc=0 || rc=$?
		echo "# round $i: exit $rc: $(tail -1 "$BATS_TEST_TMPDIR/out")" >&3
		# It finished before the kill (0), or failed saying so (1).
		[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]
		[ "$rc" -eq 0 ] || grep -q '^anonremap: ' "$BATS_TEST_TMPDIR/out"
		[ ! -e "/run/anonremap/$FPID.journal" ]
		FPID=
	done
}

@test "kill -9 of defrag --must while it splits a healed run back, then recover: no page lost" {
	kill9_rounds 60 440 --must -- --fork-exit-after 1 interleave:40 reverse:1000
}

@test "a plain defrag plans in its stop: counts are the kernel's, without the injector's pages" {
	start_fragment flags:40 reverse:30
	vmas=$(grep -vc '\[vsyscall\]' /proc/$FPID/maps)
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.splits_before, .vmas_before, .splits_after, .vmas_after, (.runs | length)]' <<<"$output")" = "[29,$vmas,0,$((vmas - 29)),1]" ]
	[ "$(grep -vc '\[vsyscall\]' /proc/$FPID/maps)" -eq $((vmas - 29)) ]
	verify_fragment
	# Touching VMAs whose flags differ are no splits: nothing to do.
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.splits_before, .vmas_before, .vmas_after, (.runs | length)]' <<<"$output")" = "[0,$((vmas - 29)),$((vmas - 29)),0]" ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "--range with splits outside it only: the splits counted are the kernel's, nothing moves" {
	start_fragment flags:40 reverse:30
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag -J --range 0x1000-0x2000 "$FPID"
	[ "$status" -eq 0 ]
	# /proc/PID/maps alone would count the 39 touching flag VMAs too.
	[ "$(jq -c '[.splits_before, .splits_after, (.runs | length)]' <<<"$output")" = "[29,29,0]" ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

# A NUMA policy (mbind) cannot be carried to the fresh VMA: the bound run
# in the middle fails with its reason, untouched; the runs below and above
# it heal in the same stop.
@test "a run with a NUMA policy fails with the reason; the runs around it heal in the same stop" {
	for backend in uffd-move copy; do
		start_fragment --mbind 2 reverse:30 reverse:40 reverse:50
		run "$ANONREMAP" defrag -J --backend "$backend" "$FPID"
		echo "$output"
		[ "$status" -eq 1 ]
		[ "$(jq .pauses <<<"$output")" -eq 1 ]
		[ "$(jq -c '[.runs[] | [.vmas, .fate]]' <<<"$output")" = '[[50,"healed"],[40,"failed"],[30,"healed"]]' ]
		[[ "$(jq -r .runs[1].reason <<<"$output")" == *"has a NUMA policy (bind:0) that a move cannot carry" ]]
		[ "$(grep -c ' bind:0 ' "/proc/$FPID/numa_maps")" -eq 40 ]
		verify_fragment
		stop_fragment
	done
}
