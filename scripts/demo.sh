#!/bin/bash
# make demo: fragment a demo process the way mremap-heavy programs do, let
# anonremap report on it, repair it from inside, and report again.  The demo
# process checks every page it wrote at the end, so a demo that damaged
# memory would say so.
set -eu
cd "$(dirname "$0")/.."

out=$(mktemp)
tests/helpers/fragment --timeout 300 reverse:2000 interleave:500 holes:400:50 thp:4 >"$out" &
demo=$!
trap 'kill $demo 2>/dev/null; wait 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
	grep -q '^ready' "$out" && break
	sleep 0.1
done
grep -q '^ready' "$out" || { echo "demo process did not start:" >&2; cat "$out" >&2; exit 1; }
pid=$(awk '/^pid /{print $2}' "$out")

echo "== demo process $pid: $(sed -n 's/^expect //p' "$out") built by tests/helpers/fragment"
echo "== anonremap stat -v $pid"
cli/anonremap stat -v "$pid"
echo
echo "== anonremap probe"
cli/anonremap probe || true
echo
echo "== anonremap defrag --dry-run $pid"
cli/anonremap defrag --dry-run "$pid"
echo
echo "== anonremap defrag $pid"
cli/anonremap defrag "$pid"
echo
echo "== anonremap stat $pid"
cli/anonremap stat "$pid"
echo
kill -USR1 "$pid"
for _ in $(seq 50); do
	grep -q '^verified\|^corrupt' "$out" && break
	sleep 0.1
done
echo "== demo process memory: $(grep '^verified\|^corrupt' "$out")"
grep -q '^verified' "$out"
