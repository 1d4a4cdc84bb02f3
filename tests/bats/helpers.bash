# Shared by the CLI tests.  ANONREMAP and FRAGMENT come from tests/run.sh.
ANONREMAP=${ANONREMAP:-$BATS_TEST_DIRNAME/../../cli/anonremap}
FRAGMENT=${FRAGMENT:-$BATS_TEST_DIRNAME/../helpers/fragment}

# start_fragment [fragment args...]: start the helper, wait until it is
# ready; sets FPID, EXPECT_SPLITS, EXPECT_RUNS, EXPECT_PAGES.  Status 77
# from the helper skips the test.
start_fragment() {
	FOUT=$BATS_TEST_TMPDIR/fragment.out
	"$FRAGMENT" --timeout 120 "$@" >"$FOUT" 2>&1 &
	local helper=$! i
	# Up to 30 s: a loaded machine takes long to make thousands of VMAs.
	for i in $(seq 600); do
		grep -q '^ready' "$FOUT" && break
		if ! kill -0 "$helper" 2>/dev/null; then
			local rc=0
			wait "$helper" || rc=$?
			[ "$rc" -eq 77 ] && skip "$(head -1 "$FOUT")"
			echo "fragment exited with $rc: $(cat "$FOUT")" >&2
			return 1
		fi
		sleep 0.05
	done
	grep -q '^ready' "$FOUT" || { echo "fragment not ready" >&2; return 1; }
	FPID=$(awk '/^pid /{print $2}' "$FOUT")
	EXPECT_SPLITS=$(sed -n 's/^expect splits=\([0-9]*\).*/\1/p' "$FOUT")
	EXPECT_RUNS=$(sed -n 's/.* runs=\([0-9]*\).*/\1/p' "$FOUT")
	EXPECT_PAGES=$(sed -n 's/.* pages=\([0-9]*\).*/\1/p' "$FOUT")
}

# verify_fragment: the helper checks every page it wrote; fails on any
# corrupted or missing page.
verify_fragment() {
	local before i
	before=$(grep -c '^verified\|^corrupt' "$FOUT" || true)
	kill -USR1 "$FPID"
	for i in $(seq 300); do
		[ "$(grep -c '^verified\|^corrupt' "$FOUT" || true)" -gt "$before" ] && break
		sleep 0.05
	done
	tail -1 "$FOUT" | grep -q "^verified $EXPECT_PAGES pages$" || {
		echo "verification failed: $(tail -1 "$FOUT")" >&2
		return 1
	}
}

stop_fragment() {
	if [ -n "${FPID:-}" ]; then
		kill "$FPID" 2>/dev/null
		wait 2>/dev/null
	fi
	FPID=
}

# strace_attach PID: strace holds PID (sets TRACER) once TracerPid shows it.
strace_attach() {
	strace -o /dev/null -p "$1" &
	TRACER=$!
	for _ in $(seq 50); do
		grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$1/status" && break
		sleep 0.1
	done
}

# vma_field PID ADDR FIELD: FIELD (VmFlags, Locked, Rss, Size...) of the
# VMA of PID that holds ADDR, as its smaps shows it, blanks squeezed.
vma_field() {
	local addr=$(($2)) re='^([0-9a-f]+)-([0-9a-f]+) ' line in=0
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			in=$(( 16#${BASH_REMATCH[1]} <= addr && addr < 16#${BASH_REMATCH[2]} ))
		elif (( in )) && [[ $line == "$3:"* ]]; then
			echo ${line#*:}
			return 0
		fi
	done <"/proc/$1/smaps"
	return 1
}
