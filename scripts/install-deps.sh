#!/bin/sh
# Install the Debian packages a make target needs, only those missing.
# Usage: scripts/install-deps.sh build|check|kernel
set -eu

build="gcc make pkg-config libsmartcols-dev libproc2-dev libcap-dev"
check="$build bats jq mandoc procps util-linux bash-completion prometheus systemd strace"
kernel="linux-source-6.12 qemu-system-x86 busybox-static bc bison flex libelf-dev libssl-dev cpio ccache xz-utils stress-ng rsync"

case "${1:-}" in
build) want=$build ;;
check) want=$check ;;
kernel) want=$kernel ;;
*) echo "usage: $0 build|check|kernel" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "install them as root: apt-get install$missing" >&2
	exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
