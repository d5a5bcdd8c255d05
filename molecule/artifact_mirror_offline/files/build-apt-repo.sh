#!/bin/sh
# Test helper: builds a small signed apt repository in the layout of the
# distribution's archive under ROOT. Usage: build-apt-repo.sh ROOT RELEASE ARCH
# (GNUPGHOME holds the signing key.)
set -eu
root=$1 release=$2 arch=$3
components="main contrib non-free non-free-firmware"

build() { # archive path, suite, pool (main only; empty for none)
  cd "$root/$1"
  for component in $components; do
    dir=dists/$2/$component/binary-$arch
    mkdir -p "$dir"
    if [ "$component" = main ] && [ -n "$3" ]; then
      apt-ftparchive packages "$3" >"$dir/Packages"
    else
      : >"$dir/Packages"
    fi
    gzip -9nkf "$dir/Packages"
  done
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=Kiln-test \
    -o APT::FTPArchive::Release::Label=Kiln-test \
    -o APT::FTPArchive::Release::Suite="$2" \
    -o APT::FTPArchive::Release::Codename="$2" \
    -o APT::FTPArchive::Release::Architectures="$arch" \
    -o APT::FTPArchive::Release::Components="$components" \
    release "dists/$2" >"$root/Release.tmp"
  mv "$root/Release.tmp" "dists/$2/Release"
  gpg --batch --yes --clearsign --output "dists/$2/InRelease" "dists/$2/Release"
  gpg --batch --yes --armor --detach-sign --output "dists/$2/Release.gpg" "dists/$2/Release"
}

mkdir -p "$root/debian-security"
build debian "$release" pool/main
build debian "$release-updates" ""
build debian-security "$release-security" ""
