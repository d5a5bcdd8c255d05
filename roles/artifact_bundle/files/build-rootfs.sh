#!/usr/bin/env bash
# Writes a minimal Debian root filesystem with the given packages as a
# reproducible tar (numeric owners, zero mtimes, sorted), the base layer of
# images that need userland tools (kube-proxy needs iptables and conntrack).
# Usage: build-rootfs.sh SUITE OUT.tar PACKAGE[,PACKAGE...]
# The default mirror of debootstrap is used; KILN_DEBIAN_MIRROR overrides it.
set -euo pipefail
suite=${1:?suite} out=${2:?output tar} packages=${3:?packages}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700, and the tar's "." entry becomes the image's /: a
# non-root user could not reach anything.
chmod 0755 "$root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" ${KILN_DEBIAN_MIRROR:-} >/dev/null
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/var/log/* "$root"/dev/*
tar -C "$root" --numeric-owner --mtime=@0 --sort=name -cf "$out.part" .
mv "$out.part" "$out"
