#!/usr/bin/env bash
# Installs what `make run`/`make test` need on a fresh Debian machine:
#   deps.sh qemu    qemu-system-x86
#   deps.sh image   + grub-pc-bin grub-efi-amd64-bin xorriso mtools ovmf
set -euo pipefail
want=(qemu-system-x86)
check=(qemu-system-x86_64)
if [ "${1:-qemu}" = image ]; then
	want+=(grub-pc-bin grub-efi-amd64-bin xorriso mtools ovmf)
	check+=(grub-mkrescue xorriso mformat)
fi
missing=0
for c in "${check[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=1; done
[ "$1" = image ] && [ ! -e /usr/share/ovmf/OVMF.fd ] && missing=1
[ $missing = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing ${want[*]}: run 'sudo apt-get update && sudo apt-get install -y ${want[*]}'" >&2
	exit 1
fi
# Several builds may start at once on a fresh machine (parallel make
# targets, CI jobs): one installs while the others wait, then re-check.
exec 9>/tmp/smpgo-deps.lock
flock 9
missing=0
for c in "${check[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=1; done
[ "$1" = image ] && [ ! -e /usr/share/ovmf/OVMF.fd ] && missing=1
[ $missing = 0 ] && exit 0
echo "deps: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${want[@]}" >/dev/null
