#!/usr/bin/env bash
# Installs what the controller machine lacks to run the lab and the tests:
# podman (runc), debootstrap, an SSH client, skopeo (mirror.yml pushes the
# bundle's images with it), and what the artifact bundle's
# cgo build of runc links statically (a C toolchain, libseccomp). Idempotent;
# safe to rerun.
set -euo pipefail

need=()
for pkg in podman runc debootstrap openssh-client rsync gcc libc6-dev pkg-config libseccomp-dev skopeo; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Hybrid cgroup hosts (cgroup v1 controllers plus an empty v2 mount) break crun
# and refuse podman's default rlimits; pure cgroup v2 hosts need neither change.
conf=/etc/containers/containers.conf
if [ "$(stat -fc %T /sys/fs/cgroup)" != "cgroup2fs" ]; then
  want=$'# Written by Kiln setup: this host runs hybrid cgroups (crun unsupported).\n[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n'
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "${want%$'\n'}" ]; then
    if [ -f "$conf" ] && ! grep -q "Written by Kiln setup" "$conf"; then
      echo "setup: $conf exists and was not written by Kiln; check it sets runtime=runc and lower ulimits" >&2
    else
      printf '%s' "$want" > "$conf"
      echo "setup: wrote $conf (hybrid cgroups detected)"
    fi
  fi
fi
