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

# refused_as_nobody MESSAGE COMMAND...: each anonremap command, run as
# nobody on $TPID, exits 1 and prints MESSAGE alone.
refused_as_nobody() {
	local msg=$1 cmd
	shift
	for cmd in "$@"; do
		run setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$ANONREMAP" $cmd "$TPID"
		echo "$output"
		[ "$status" -eq 1 ]
		[ "$output" = "$msg" ]
	done
}

# same_refusal [PREFIX...]: defrag of $TPID (run through PREFIX, if any)
# exits 1, and so do --dry-run and --must, with the same last line, in
# REFUSAL; nothing moved.
same_refusal() {
	local opt
	run "$@" "$ANONREMAP" defrag "$TPID"
	echo "$output"
	[ "$status" -eq 1 ]
	REFUSAL=${lines[-1]}
	for opt in --dry-run --must; do
		run "$@" "$ANONREMAP" defrag $opt "$TPID"
		echo "$output"
		[ "$status" -eq 1 ]
		[ "${lines[-1]}" = "$REFUSAL" ]
	done
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 99 ]
}

# verify_target: every page as the target's threads last wrote it, then
# the target quits cleanly (no anomaly seen).
verify_target() {
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target
	TJOB=
}

teardown() {
	[ -n "${TJOB:-}" ] && kill -9 "$TJOB" 2>/dev/null
	[ -n "${MADE_DIR:-}" ] && rm -rf "$MADE_DIR"
	true
}

# nobody_killed_defrag: nobody's defrag of $TPID, with its journal in
# nobody's runtime directory (made for the test), killed -9 once the
# journal exists; sets JOURNAL and RUNTIME_DIR.
nobody_killed_defrag() {
	local tool
	RUNTIME_DIR=/run/user/65534
	[ -d /run/user ] || MADE_DIR=/run/user
	[ -d "$RUNTIME_DIR" ] || MADE_DIR=${MADE_DIR:-$RUNTIME_DIR}
	mkdir -p "$RUNTIME_DIR"
	chown nobody:nogroup "$RUNTIME_DIR"
	chmod 700 "$RUNTIME_DIR"
	JOURNAL=$RUNTIME_DIR/anonremap/$TPID.journal
	env XDG_RUNTIME_DIR="$RUNTIME_DIR" setpriv --reuid=nobody \
		--regid=nogroup --clear-groups "$ANONREMAP" defrag "$TPID" \
		>/dev/null 2>&1 &
	tool=$!
	while [ ! -e "$JOURNAL" ] && kill -0 "$tool" 2>/dev/null; do
		sleep 0.001
	done
	kill -9 "$tool"
	wait "$tool" || true
	[ -e "$JOURNAL" ]
}

@test "multi-threaded target: healed while its threads run, no anomaly" {
	start_target -w 2 -r 2000
	run "$ANONREMAP" defrag "$TPID"
	[ "$status" -eq 0 ]
	[[ "$output" == "pid $TPID (target): 1999 splits in 1 runs → 0;"* ]]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 0 ]
	verify_target
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
	verify_target
}

@test "--max-pause with threads running: parts healed in many stops, pages intact" {
	start_target -w 2 -r 3000
	run "$ANONREMAP" defrag -J --max-pause 5 "$TPID"
	[ "$status" -eq 0 ]
	[ "$(jq .pauses <<<"$output")" -ge 2 ]
	[ "$(jq -r '.runs[0].fate' <<<"$output")" = healed ]
	parts=$(jq '.runs[0].vmas_after' <<<"$output")
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq $((parts - 1)) ]
	verify_target
}

@test "--max-pause a process cannot be stopped within: said, with what a stop costs" {
	# 33 threads cannot be stopped, checked and resumed in 1 ms.
	start_target -w 30 -r 400
	run "$ANONREMAP" defrag -J --max-pause 1 "$TPID"
	[ "$status" -eq 0 ]
	[ "$(jq '.pauses_over_max' <<<"$output")" -ge 1 ]
	[ "$(jq '.threads' <<<"$output")" -ge 33 ]
	jq -e '.stop_floor_ms > 0' <<<"$output"
	stop_target
	TJOB=
	start_target -w 30 -r 400
	run "$ANONREMAP" defrag --max-pause 1 "$TPID"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "  --max-pause 1: "*" stops took longer; stopping, checking and resuming the process ("*" threads) alone took "*" ms at best" ]]
	verify_target
}

@test "a VMA holding a thread's rseq area stays in place; the rest heals (uffd-move, copy, --max-pause)" {
	# -q 100: the main thread's struct rseq, which the kernel rewrites
	# whenever the thread runs, is in page 100 of the run.  Moved or
	# unmapped under it, the process would crash (copy) or a stray page
	# would be faulted in at its source.
	for args in "--backend uffd-move" "--backend copy" "--max-pause 5"; do
		start_target -w 2 -r 200 -q 100
		run "$ANONREMAP" defrag -J $args "$TPID"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.runs[0].fate' <<<"$output")" = healed ]
		[[ "$(jq -r '.runs[0].reason' <<<"$output")" == *"rseq area of thread $TPID"* ]] ||
			[[ "$args" == --max-pause* ]]
		# Page 100 alone between the healed VMAs below and above it.
		run "$ANONREMAP" stat -v -J "$TPID"
		if [[ "$args" != --max-pause* ]]; then
			[ "$(jq '.processes[0].splits' <<<"$output")" -eq 2 ]
		fi
		verify_target
	done
}

@test "--max-pause: a part that is the rseq VMA and one more leaves that one to the next stop" {
	# -q 0: the rseq area is in the run's first VMA; --max-pause 1 plans
	# two VMAs for the first stop, which keeps the first in place and
	# must not take the second, alone, for mappings that changed.
	start_target -w 2 -r 200 -q 0
	run "$ANONREMAP" defrag -J --max-pause 1 "$TPID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.runs[0].fate' <<<"$output")" = healed ]
	[ "$(jq '.pauses' <<<"$output")" -gt 1 ]
	# Each stop's part became a VMA (uffd-move under --max-pause): the
	# report says how many splits are left, as the kernel shows them.
	splits=$(jq .splits_after <<<"$output")
	[ "$splits" -lt 199 ]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq "$splits" ]
	verify_target
}

@test "--must with a thread's rseq area in the run: refused, nothing moved" {
	start_target -w 2 -r 50 -q 20
	run "$ANONREMAP" defrag --must -J "$TPID"
	[ "$status" -eq 1 ]
	[[ "$(jq -r '.runs[0].reason' <<<"$output")" == *"rseq area of thread $TPID"* ]]
	[ "$(jq '.runs[0].vmas_after' <<<"$output")" -eq 50 ]
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 49 ]
	verify_target
}

@test "pinned pages (io_uring fixed buffers): seen in stat, skipped by every backend, refused by --must" {
	[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 2 ] ||
		skip "io_uring is disabled here (kernel.io_uring_disabled=2)"
	start_target -w 2 -r 100 -P
	run "$ANONREMAP" stat -v -J "$TPID"
	[ "$(jq -r '.processes[0].runs_detail[0].blockers | join(",")' <<<"$output")" = pinned ]
	for backend in uffd-move copy; do
		run "$ANONREMAP" defrag --dry-run --backend $backend "$TPID"
		[[ "${lines[1]}" == *"skipped: pinned: the process's io_uring holds them as fixed buffers" ]]
		run "$ANONREMAP" defrag --backend $backend "$TPID"
		[[ "${lines[1]}" == *"skipped: pinned: the process's io_uring holds them as fixed buffers" ]]
		run "$ANONREMAP" defrag --must --backend $backend "$TPID"
		[ "$status" -eq 1 ]
		[[ "$output" == *"nothing moved (--must)"* ]]
	done
	[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 99 ]
	verify_target
}

@test "holes and THP in a multi-threaded target" {
	for pattern in "-r 600 -z 7" "-H 4"; do
		start_target -w 2 $pattern
		run "$ANONREMAP" defrag "$TPID"
		[ "$status" -eq 0 ]
		[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 0 ]
		verify_target
	done
}

@test "a process of another user: refused, the message names both uids" {
	start_target -w 1 -r 50
	refused_as_nobody "anonremap: pid $TPID: permission denied: reading its memory map needs ptrace read access: process $TPID runs as uid 0 (effective 0, saved 0), we are uid 65534 without CAP_SYS_PTRACE" \
		defrag "defrag --dry-run" "defrag --must" stat
	verify_target
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
	verify_target
}

@test "mlocked, threads running, whole or in --max-pause parts: stays mlocked, pages intact" {
	heal_mlocked "-r 2000 -l"
	heal_mlocked "-r 3000 -z 7 -L" --max-pause 5
	# mlockall(MCL_FUTURE) would lock and fill a destination at once.
	heal_mlocked "-r 2000 -M"
	heal_mlocked "-r 2000 -M" --backend copy
}

@test "a seccomp filter denying userfaultfd: refused up front, target untouched" {
	for mode in deny kill move-kill; do
		start_target -w 1 -r 100 -s "$mode"
		run "$ANONREMAP" defrag "$TPID"
		[ "$status" -eq 1 ]
		[[ "$output" == *seccomp* ]]
		# Filters are read only from a stopped process.
		run "$ANONREMAP" defrag --dry-run "$TPID"
		[ "$status" -eq 0 ]
		[ "${lines[1]}" = "  note: process $TPID has seccomp filters: whether they allow the calls a defrag makes is known only once it is stopped" ]
		kill -0 "$TPID"
		[ "$("$ANONREMAP" stat -J "$TPID" | jq .processes[0].splits)" -eq 99 ]
		verify_target
	done
}

@test "another user may defrag its own process, not a non-dumpable one" {
	start_target -w 1 -r 50 -u 65534
	rundir=$(mktemp -d)	# the bats directories are root's alone
	chown nobody "$rundir"
	run env XDG_RUNTIME_DIR="$rundir" setpriv --reuid=nobody --regid=nogroup \
		--clear-groups "$ANONREMAP" defrag "$TPID"
	echo "$output"
	verify_target
	rm -rf "$rundir"
	[ "$status" -eq 0 ]

	start_target -w 1 -r 50 -u 65534 -D
	refused_as_nobody "anonremap: pid $TPID: permission denied: reading its memory map needs ptrace read access: process $TPID is not dumpable (PR_SET_DUMPABLE 0 or set-id), and we lack CAP_SYS_PTRACE" \
		defrag "defrag --dry-run" "defrag --must" stat
	run "$ANONREMAP" defrag "$TPID"		# root may: CAP_SYS_PTRACE
	[ "$status" -eq 0 ]
	verify_target
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
		verify_target
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

# nobody_recovers: the journal is there; nobody, with the runtime
# directory that holds it, recovers the target, which is intact.
nobody_recovers() {
	[ -e "$JOURNAL" ]
	run env XDG_RUNTIME_DIR="$RUNTIME_DIR" setpriv --reuid=nobody \
		--regid=nogroup --clear-groups "$ANONREMAP" recover "$TPID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ ! -e "$JOURNAL" ]
	verify_target
}

@test "a journal another user's killed defrag left: root refuses and names it, its owner recovers" {
	start_target -w 1 -r 3000 -u 65534
	nobody_killed_defrag
	for cmd in defrag "defrag --dry-run" "defrag --must" recover; do
		run "$ANONREMAP" $cmd "$TPID"
		echo "$output"
		[ "$status" -eq 1 ]
		[ "${lines[-1]}" = "anonremap: an interrupted run of uid 65534 left $JOURNAL: run \`anonremap recover $TPID\` as uid 65534 with XDG_RUNTIME_DIR=$RUNTIME_DIR" ]
	done
	nobody_recovers
}

@test "our own journal under another runtime directory: defrag and recover name the one to use" {
	start_target -w 1 -r 3000 -u 65534
	nobody_killed_defrag
	rundir=$(mktemp -d)
	chown nobody "$rundir"
	for xdg in "XDG_RUNTIME_DIR=$rundir" "-u XDG_RUNTIME_DIR"; do
		for cmd in defrag "defrag --dry-run" recover; do
			run env $xdg setpriv --reuid=nobody --regid=nogroup \
				--clear-groups "$ANONREMAP" $cmd "$TPID"
			echo "$output"
			[ "$status" -eq 1 ]
			[ "${lines[-1]}" = "anonremap: an interrupted run left $JOURNAL: run \`anonremap recover $TPID\` with XDG_RUNTIME_DIR=$RUNTIME_DIR" ]
		done
	done
	rm -rf "$rundir"
	nobody_recovers
}

@test "--dry-run and --must refuse up front what the stop refuses, with the same reason" {
	start_target -w 1 -r 100
	strace_attach "$TPID"
	same_refusal
	kill "$TRACER"
	wait "$TRACER" || true
	[ "$REFUSAL" = "anonremap: process $TPID (target) is already traced by $TRACER (strace)" ]
	# A journal an interrupted run left (empty: it died at once).
	journal=/run/anonremap/$TPID.journal
	mkdir -p /run/anonremap
	: >"$journal"
	same_refusal
	rm -f "$journal"
	[ "$REFUSAL" = "anonremap: an interrupted run left $journal: run \`anonremap recover $TPID\` first" ]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target

	start_target -w 1 -r 100 -V
	same_refusal
	[[ "$REFUSAL" == "anonremap: process "*" shares the memory of process $TPID without being one of its threads"* ]]
	target_says verify
	[ "$REPLY" = "VERIFIED errors=0" ]
	stop_target

	# Another user's seccomp filters: reading them needs CAP_SYS_ADMIN.
	start_target -w 1 -r 100 -u 65534 -s deny
	rundir=$(mktemp -d)
	chown nobody "$rundir"
	same_refusal env XDG_RUNTIME_DIR="$rundir" setpriv --reuid=nobody \
		--regid=nogroup --clear-groups
	rm -rf "$rundir"
	[ "$REFUSAL" = "anonremap: process $TPID runs under a seccomp filter, and reading it (PTRACE_SECCOMP_GET_FILTER) needs CAP_SYS_ADMIN, which we lack" ]
	verify_target
}
