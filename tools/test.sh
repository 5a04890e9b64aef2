#!/usr/bin/env bash
# make test / make test-full: host unit tests, lint, then the QEMU boot
# matrix of the given tier (smoke or full). Ends with one line
# "N passed, N failed" counting every Go test and subtest (each QEMU boot is
# a subtest of TestBoots) plus the lint step.
set -uo pipefail
tier=${1:-smoke}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bad=0

echo "== host tests"
go test -count=1 -v ./... >"$log" 2>&1 || bad=1
grep -E '^(ok|FAIL|---|\s+---)' "$log" | grep -vE '^\s+--- PASS' || true
cp "$log" "$log.host"

echo "== lint"
lintok=1
make --no-print-directory lint || { lintok=0; bad=1; }

echo "== QEMU ($tier)"
if bash tools/deps.sh image && make --no-print-directory build image; then
	SMPGO_QEMU=$tier go test -count=1 -v -run 'TestBoots' -timeout 80m ./qemu/ 2>&1 | tee "$log" || bad=1
else
	echo "QEMU boots not run: build or deps failed"
	: >"$log"
	bad=1
fi

# Repeat what failed at the end, where a log's tail shows it: the failing
# Go tests, the kernel's failing self-tests and panics (boot output lines
# are prefixed "name| "), and the harness's verdict on each failing boot.
if grep -qE -- '--- FAIL' "$log.host" "$log"; then
	echo "== failures"
	grep -hE -A6 -- '\| --- FAIL|\| (panic|fatal|PANIC)' "$log" | head -80
	cat "$log.host" "$log" | grep -E -- '^\s*--- FAIL: Test|boot_test.go:[0-9]+: [^ ]+: (want|host side|screen)|Error Trace|Error:' | head -40
fi

passed=$(cat "$log.host" "$log" | grep -cE '^\s*--- PASS: Test')
failed=$(cat "$log.host" "$log" | grep -cE '^\s*--- FAIL: Test')
rm -f "$log.host"
if [ $lintok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ $bad = 1 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
