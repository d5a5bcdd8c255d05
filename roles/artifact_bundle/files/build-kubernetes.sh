#!/usr/bin/env bash
# Builds the pinned Kubernetes release's binaries from the Go module proxy when
# the official release downloads are out of reach. k8s.io/kubernetes is used as
# a dependency of a throwaway module whose `replace` lines pin every staging
# module (k8s.io/api, ...) to the matching v0.X.Y, and the version is stamped
# with ldflags so kubeadm and the kubelet report the real release.
# Usage: build-kubernetes.sh VERSION OUTDIR [BINARY...]
set -euo pipefail

version=${1:?version, e.g. 1.36.3}
out=${2:?output directory}
shift 2
binaries=("$@")
((${#binaries[@]})) || binaries=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

work="${KILN_CACHE:-$HOME/.cache/kiln}/build/kubernetes-v${version}"
mkdir -p "$work" "$out"
cd "$work"
staging_version="v0.${version#1.}"

if [ ! -f go.mod ]; then
  go mod init kiln.local/kubernetes-build >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@v${version}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # Every staging module k8s.io/kubernetes replaces with ./staging/... gets the released version.
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
    go mod edit -replace "${mod}=${mod}@${staging_version}"
  done
  go mod edit -require "k8s.io/kubernetes@v${version}"
fi
# tools.go names every command so that `go mod tidy` records all their
# dependencies (the file is never compiled: it imports main packages).
if [ ! -f .tidy-all ]; then
  {
    printf 'package tools\n\nimport (\n'
    for cmd in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
      printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"
    done
    printf ')\n'
  } > tools.go
  go mod tidy >/dev/null
  touch .tidy-all
fi

ldflags="-s -w"
for key in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${key}.gitVersion=v${version} -X ${key}.gitMajor=1 -X ${key}.gitMinor=$(echo "$version" | cut -d. -f2)"
  ldflags+=" -X ${key}.gitTreeState=clean -X ${key}.buildDate=1970-01-01T00:00:00Z"
done
for bin in "${binaries[@]}"; do
  if [ ! -x "$out/$bin" ]; then
    echo "build: $bin v$version" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$bin.part" "k8s.io/kubernetes/cmd/$bin"
    mv "$out/$bin.part" "$out/$bin"
  fi
done
