#!/usr/bin/env bash
# Builds the Debian 12 systemd node image used by the lab and by Molecule, once.
# The tag is a hash of this script, so a change to the recipe builds a new image
# and an unchanged recipe reuses the cached one (podman store + rootfs tarball).
# Prints the image reference on stdout.
set -euo pipefail

suite=bookworm
packages=python3,systemd,systemd-sysv,dbus,iproute2,sudo,openssh-server,kmod,procps,ca-certificates
cache="${KILN_CACHE:-$HOME/.cache/kiln}/images"
key=$(cat "$0" | sha256sum | cut -c1-12)
ref="localhost/kiln-node:${suite}-${key}"
tarball="$cache/kiln-node-${suite}-${key}.tar"

if podman image exists "$ref"; then
  echo "$ref"; exit 0
fi
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  rootfs=$(mktemp -d /var/tmp/kiln-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "image: debootstrap $suite (about a minute)" >&2
  # No mirror argument: debootstrap's default mirror is the one reachable here.
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # Host keys are made per node at lab-up; a machine id per container at boot.
  rm -f "$rootfs"/etc/ssh/ssh_host_* "$rootfs"/etc/machine-id "$rootfs"/var/lib/dbus/machine-id
  touch "$rootfs"/etc/machine-id
  chroot "$rootfs" systemctl enable ssh.service >/dev/null 2>&1
  # Units that only make sense on real consoles/hardware.
  chroot "$rootfs" systemctl mask getty@tty1.service console-getty.service systemd-udevd.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket sys-kernel-config.mount >/dev/null 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
fi
podman import --quiet --change 'CMD ["/sbin/init"]' "$tarball" "$ref" >/dev/null
echo "$ref"
