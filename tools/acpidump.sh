#!/usr/bin/env bash
# Dump a QEMU configuration's ACPI tables as test data for package acpi:
#   tools/acpidump.sh NAME [qemurun flags...]
# boots the kernel with acpidump=1 and writes
# arch/amd64/acpi/testdata/NAME/SIG.bin (see that folder's README).
set -euo pipefail
name=$1; shift
cd "$(dirname "$0")/.."
out=arch/amd64/acpi/testdata/$name
mkdir -p "$out"
go run ./qemu/cmd/qemurun -timeout 60s "$@" -- acpidump=1 | tr -d '\r' | grep '^ACPIDUMP ' |
while read -r _ file hexdata; do
	printf '%s' "$hexdata" | xxd -r -p >"$out/$file"
done
ls "$out"
