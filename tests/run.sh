#!/bin/bash
# Run every test suite that works on this machine and print one line at the
# end: "N passed, N failed[, N skipped]".  Suites print TAP; this counts it.
#
# Environment: ANONREMAP (the binary under test, default cli/anonremap),
# UNIT_DIR (where the unit test binaries are, default tests/unit).
set -u
cd "$(dirname "$0")/.." || exit 1

export ANONREMAP=${ANONREMAP:-$PWD/cli/anonremap}
export FRAGMENT=${FRAGMENT:-$PWD/tests/helpers/fragment}
UNIT_DIR=${UNIT_DIR:-tests/unit}
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Count one suite's TAP from $log; a suite that exits non-zero without a
# failed test line still counts as one failure.
count() {
	local suite=$1 status=$2 p f s
	p=$(grep -cE '^ok [0-9]+' "$log" | head -1)
	s=$(grep -cE '^ok [0-9]+.*# (skip|SKIP)' "$log" | head -1)
	f=$(grep -cE '^not ok [0-9]+' "$log" | head -1)
	p=$((p - s))
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $suite exited with status $status"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	echo "# $suite: $p passed, $f failed, $s skipped"
}

for t in "$UNIT_DIR"/*-test; do
	[ -x "$t" ] || continue
	echo "# unit: $(basename "$t")"
	"$t" 2>&1 | tee "$log"
	count "$(basename "$t")" "${PIPESTATUS[0]}"
done

echo "# man: mandoc -Tlint"
{
	n=0
	for m in man/*.[0-9]; do
		n=$((n + 1))
		if out=$(mandoc -Tlint -W warning "$m" 2>&1) && [ -z "$out" ]; then
			echo "ok $n - mandoc -Tlint $m"
		else
			echo "$out" | sed 's/^/# /'
			echo "not ok $n - mandoc -Tlint $m"
		fi
	done
} | tee "$log"
count man 0

echo "# bats: tests/bats"
bats --tap tests/bats 2>&1 | tee "$log"
count bats "${PIPESTATUS[0]}"

# The kernel series' harness (kernel/scripts/apply-series): no QEMU, no
# kernel source; seconds.
echo "# bats: kernel/tests/harness.bats"
bats --tap kernel/tests/harness.bats 2>&1 | tee "$log"
count kernel-harness "${PIPESTATUS[0]}"

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
