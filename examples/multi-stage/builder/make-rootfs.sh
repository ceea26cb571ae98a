#!/bin/sh
# Makes examples/multi-stage/builder/rootfs: Debian 12 with gcc and a static
# libc, from a Debian mirror (the only network this needs; set MIRROR to a
# local one). Then: sudo kiln build -t builder:1 examples/multi-stage/builder
set -eu
cd "$(dirname "$0")"
MIRROR=${MIRROR:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || { echo "apt-get install debootstrap" >&2; exit 1; }
rm -rf rootfs
debootstrap --variant=minbase --include=gcc,libc6-dev bookworm rootfs "$MIRROR"
rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
