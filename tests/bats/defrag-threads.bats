#!/usr/bin/env bats
# anonremap defrag against tests/helpers/target: worker threads keep
# rewriting and checking their pages during the defrag, and three more
# threads sit in nanosleep, read and futex checking that no call returns
# EINTR and no register changes.  The target exits 1 on any anomaly.

load helpers

TARGET=${TARGET:-$BATS_TEST_DIRNAME/../helpers/target}

# start_target ARGS...: sets TPID; commands go to fd TIN, replies on TOUT
start_target() {
	rm -f "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	mkfifo "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	"$TARGET" "$@" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	TJOB=$!
	exec {TIN}>"$BATS_TEST_TMPDIR/in" {TOUT}<"$BATS_TEST_TMPDIR/out"
	read -r -t 20 line <&"$TOUT"
	[[ "$line" == READY* ]]
	TPID=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$line")
}

# target_says CMD: send a command, read one reply line into $REPLY
target_says() {
	echo "$1" >&"$TIN"
	read -r -t 60 REPLY <&"$TOUT"
}

stop_target() {
	echo quit >&"$TIN"
	local rc=0
	wait "$TJOB" || rc=$?
	exec {TIN}>&- {TOUT}<&-
	cat "$BATS_TEST_TMPDIR/err" >&2
	return "$rc"
}

teardown() {
	[ -n "${TJOB:-}" ] && kill -9 "$TJOB" 2>/dev/null
	true
}

@test "multi-threaded target: healed while its threads run, no anomaly" {
	start_target -w 2 -r 2000
	run "$ANONREMAP" defrag "$TPID"
	[ "$status" -eq 0 ]
	[[ "$output" == "pid $TPID (target): 1999 splits in 1 runs → 0;"* ]]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 0 ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

@test "a large run (10 000 splits), threads running: VMAs as --dry-run said" {
	start_target -w 2 -r 10001
	run "$ANONREMAP" defrag --dry-run -J "$TPID"
	[ "$status" -eq 0 ]
	predicted=$(jq .vmas_after <<<"$output")
	run "$ANONREMAP" defrag -J "$TPID"
	[ "$status" -eq 0 ]
	[ "$(jq .splits_before <<<"$output")" -eq 10000 ]
	[ "$(jq .vmas_after <<<"$output")" -eq "$predicted" ]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].vmas)" -eq "$predicted" ]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 0 ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

@test "--max-pause with threads running: parts healed in many stops, pages intact" {
	start_target -w 2 -r 3000
	run "$ANONREMAP" defrag -J --max-pause 5 "$TPID"
	[ "$status" -eq 0 ]
	[ "$(jq .pauses <<<"$output")" -ge 2 ]
	[ "$(jq -r '.runs[0].fate' <<<"$output")" = healed ]
	parts=$(jq '.runs[0].vmas_after' <<<"$output")
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq $((parts - 1)) ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

@test "holes and THP in a multi-threaded target" {
	for pattern in "-r 600 -z 7" "-H 4"; do
		start_target -w 2 $pattern
		run "$ANONREMAP" defrag "$TPID"
		[ "$status" -eq 0 ]
		[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 0 ]
		target_says verify
		[ "$REPLY" = "VERIFIED errors=0" ]
		stop_target
		TJOB=
	done
}

# heal_mlocked TARGET-ARGS [DEFRAG-OPTS...]: an mlocked target, threads
# running, heals; its first VMA keeps its VmFlags and is all Locked.
heal_mlocked() {
	start_target -w 2 $1
	shift
	start=$("$ANONREMAP" stat -v -J "$TPID" | jq -r '.processes[0].runs_detail[0].start')
	flags=$(vma_field "$TPID" "$start" VmFlags)
	[[ " $flags " == *" lo "* ]]
	run "$ANONREMAP" defrag -J "$@" "$TPID"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.runs[0].fate' <<<"$output")" = healed ]
	parts=$(jq '.runs[0].vmas_after' <<<"$output")
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq $((parts - 1)) ]
	[ "$(vma_field "$TPID" "$start" VmFlags)" = "$flags" ]
	[ "$(vma_field "$TPID" "$start" Locked)" = "$(vma_field "$TPID" "$start" Rss)" ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

@test "mlocked, threads running, whole or in --max-pause parts: stays mlocked, pages intact" {
	heal_mlocked "-r 2000 -l"
	heal_mlocked "-r 3000 -z 7 -L" --max-pause 5
}

@test "a seccomp filter denying userfaultfd: refused up front, target untouched" {
	for mode in deny kill move-kill; do
		start_target -w 1 -r 100 -s "$mode"
		run "$ANONREMAP" defrag "$TPID"
		[ "$status" -eq 1 ]
		[[ "$output" == *seccomp* ]]
		kill -0 "$TPID"
		[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 99 ]
		target_says verify
		[ "$REPLY" = "VERIFIED errors=0" ]
		stop_target
		TJOB=
	done
}

@test "another user may defrag its own process, not a non-dumpable one" {
	start_target -w 1 -r 50 -u 65534
	rundir=$(mktemp -d)	# the bats directories are root's alone
	chown nobody "$rundir"
	run env XDG_RUNTIME_DIR="$rundir" setpriv --reuid=nobody --regid=nogroup \
		--clear-groups "$ANONREMAP" defrag "$TPID"
	echo "$output"
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
	rm -rf "$rundir"
	[ "$status" -eq 0 ]

	start_target -w 1 -r 50 -u 65534 -D
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$ANONREMAP" defrag "$TPID"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *dumpable* ]]
	run "$ANONREMAP" defrag "$TPID"		# root may: CAP_SYS_PTRACE
	[ "$status" -eq 0 ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

# sigcont_then_kill ROUNDS DELAY: ROUNDS times, defrag a multi-threaded
# target, send it SIGCONT during the stop, kill -9 the tool DELAY seconds
# later, recover; every page must be intact.  Had the process run on with
# memory out of place, its threads would have faulted in pages where the
# moved ones must go back.
sigcont_then_kill() {
	local rounds=$1 delay=$2 i tool out rc
	for i in $(seq "$rounds"); do
		start_target -w 2 -r 20000
		"$ANONREMAP" defrag "$TPID" >/dev/null 2>&1 &
		tool=$!
		sleep "0.$((RANDOM % 3 + 1))"
		kill -CONT "$TPID"
		sleep "$delay"
		kill -9 "$tool" 2>/dev/null || true
		wait "$tool" 2>/dev/null || true
		out=$("$ANONREMAP" recover "$TPID" 2>&1) && rc=0 || rc=$?
		echo "# round $i: $out" >&3
		[ "$rc" -eq 0 ] || [[ "$out" == *"nothing to recover"* ]]
		target_says verify
		[ "$REPLY" = "VERIFIED errors=0" ]
		stop_target
		TJOB=
	done
}

@test "a SIGCONT from elsewhere during the stop, then kill -9 of the tool: stopped again, recover, pages intact" {
	# The tool answers at its next injected call; then it dies.
	sigcont_then_kill 4 0.05
}

@test "a SIGCONT from elsewhere at once followed by kill -9 of the tool: the threads are parked, recover, pages intact" {
	# No delay between the SIGCONT and the kill: the tool dies before
	# its next injected call can stop the process again.  Every thread
	# but the injected one must then run nothing but the stub's park
	# loop, which stops the process again.
	sigcont_then_kill 8 0
}
