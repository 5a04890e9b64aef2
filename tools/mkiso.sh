#!/usr/bin/env bash
# mkiso.sh OUT.iso KERNEL.img: the bootable image (make image). A hybrid
# ISO 9660 image made by grub-mkrescue: El Torito for CDs (BIOS and UEFI)
# plus an MBR and a GPT with an EFI system partition, so that it also boots
# when written raw to a USB stick. GRUB (i386-pc and x86_64-efi) loads
# /boot/kernel.img by multiboot2 with boot/grub/grub.cfg.
set -euo pipefail
out=$1
kernel=$2
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$stage" "$log"' EXIT
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/kernel.img"
cp boot/grub/grub.cfg "$stage/boot/grub/grub.cfg"
for p in i386-pc x86_64-efi; do
	if [ ! -d "/usr/lib/grub/$p" ]; then
		echo "mkiso: GRUB for $p is missing: run 'bash tools/deps.sh image' (as root)" >&2
		exit 1
	fi
done
if ! grub-mkrescue --fonts= --locales= --themes= -o "$out" "$stage" -- -volid SMPGO >"$log" 2>&1; then
	cat "$log" >&2
	exit 1
fi
echo "mkiso: $out: $(($(stat -c %s "$out") >> 10)) KiB, BIOS and UEFI, CD and USB"
