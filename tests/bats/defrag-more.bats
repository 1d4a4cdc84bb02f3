#!/usr/bin/env bats
# anonremap defrag: refusals under --must, runs that are no splits, the
# progress line, backend selection where no backend works.

load helpers

NO_UFFD=${NO_UFFD:-$BATS_TEST_DIRNAME/../helpers/no-uffd}

teardown() {
	stop_fragment
}

splits_of() {
	"$ANONREMAP" stat -J "$1" | jq .processes[0].splits
}

@test "--must refuses uffd-armed and guarded runs before anything moves" {
	for args in "--uffd reverse:30" "--guard reverse:30"; do
		start_fragment $args
		before=$(cat /proc/$FPID/maps)
		run "$ANONREMAP" defrag --must "$FPID"
		[ "$status" -eq 1 ]
		[[ "$output" == *"nothing moved (--must)"* ]]
		[ "$(cat /proc/$FPID/maps)" = "$before" ]
		verify_fragment
		stop_fragment
	done
}

@test "mixed protections are no splits: nothing to heal, the process is not stopped" {
	start_fragment mixed:40
	before=$(cat /proc/$FPID/maps)
	run "$ANONREMAP" defrag -J "$FPID"
	[ "$status" -eq 0 ]
	[ "$(jq '.pauses' <<<"$output")" -eq 0 ]
	[ "$(jq '.runs | length' <<<"$output")" -eq 0 ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}

@test "a progress line on a terminal, cleared at the end" {
	start_fragment reverse:2000
	run script -qec "$ANONREMAP defrag --max-pause 5 $FPID" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\r'"defrag: "*"/2000 VMAs"* ]]
	[[ "$output" == *"/2000 VMAs"$'\r\033[K'* ]]
	verify_fragment
	stop_fragment
	# Not on a pipe.
	start_fragment reverse:200
	run "$ANONREMAP" defrag "$FPID"
	[[ "$output" != *"defrag: "* ]]
	verify_fragment
}

@test "--backend auto where no backend works: the reason of each, and --backend copy named" {
	start_fragment reverse:30
	run "$NO_UFFD" "$ANONREMAP" defrag "$FPID"
	[ "$status" -eq 1 ]
	[[ "$output" == "anonremap: no backend works here: relocate: "*"; uffd-move: "*"--backend copy works on any kernel"* ]]
	run "$NO_UFFD" "$ANONREMAP" defrag --backend copy "$FPID"
	[ "$status" -eq 0 ]
	[ "$(splits_of "$FPID")" -eq 0 ]
	verify_fragment
}

@test "SIGINT, SIGTERM or SIGHUP during a defrag: no new stop, the process runs, no journal" {
	for sig in INT TERM HUP; do
		# Long enough (about 100 stops) to be under way when the
		# signal comes, however late the journal of a stop is seen.
		start_fragment reverse:12000
		"$ANONREMAP" defrag -J --max-pause 1 "$FPID" >"$BATS_TEST_TMPDIR/out" 2>&1 &
		tool=$!
		while [ ! -e "/run/anonremap/$FPID.journal" ] &&
		      kill -0 "$tool" 2>/dev/null; do
			sleep 0.001
		done
		sleep 0.05
		kill -$sig "$tool"
		rc=0
		wait "$tool" || rc=$?
		echo "# SIG$sig: exit $rc: $(tail -1 "$BATS_TEST_TMPDIR/out")" >&3
		[ "$rc" -eq 1 ]
		grep -q "interrupted by a signal: no new stop was begun, the process runs" "$BATS_TEST_TMPDIR/out"
		[ "$(ps -o stat= -p "$FPID" | cut -c1)" = S ]
		[ ! -e "/run/anonremap/$FPID.journal" ]
		verify_fragment
		stop_fragment
	done
}

@test "--must interrupted: what was healed is split back" {
	start_fragment reverse:6000 reverse:6000
	before=$(cat /proc/$FPID/maps)
	"$ANONREMAP" defrag --must --max-pause 1 "$FPID" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	tool=$!
	while [ ! -e "/run/anonremap/$FPID.journal" ] && kill -0 "$tool" 2>/dev/null; do
		sleep 0.001
	done
	sleep 0.1
	kill -INT "$tool"
	rc=0
	wait "$tool" || rc=$?
	[ "$rc" -eq 1 ]
	grep -q "what was healed was split back (--must)" "$BATS_TEST_TMPDIR/out"
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	verify_fragment
}
