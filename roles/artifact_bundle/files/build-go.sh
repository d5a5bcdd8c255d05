#!/usr/bin/env bash
# Builds commands of one Go module at one pinned version from the Go module
# proxy, for when the official release download is out of reach. The module is
# required by a throwaway module, so `go` checks every download against the
# checksum database; replace lines of the target module do not apply.
# Usage: build-go.sh MODULE VERSION OUTDIR PACKAGE=BINARY...
# Environment: KILN_CACHE (build dirs), KILN_GO_LDFLAGS, KILN_GO_TAGS,
# KILN_GO_CGO (0 or 1; 1 links statically), KILN_GO_REPLACE ("mod=mod@ver ...").
set -euo pipefail

module=${1:?module path} version=${2:?version without v} out=${3:?output directory}
shift 3
(($#)) || { echo "build-go.sh: name at least one PACKAGE=BINARY" >&2; exit 2; }

# The module proxy alone: a refused module fails here instead of falling back
# to its version control host.
proxy=$(go env GOPROXY)
proxy=${proxy%%,direct}
export GOPROXY=${proxy%%|direct}

work="${KILN_CACHE:-$HOME/.cache/kiln}/build/$(echo "$module" | tr '/' '_')-v${version}"
mkdir -p "$work" "$out"
cd "$work"
if [ ! -f .tidy ]; then
  rm -f go.mod go.sum
  go mod init kiln.local/build >/dev/null 2>&1
  go mod edit -require "${module}@v${version}"
  for rep in ${KILN_GO_REPLACE:-}; do go mod edit -replace "$rep"; done
  {
    printf 'package tools\n\nimport (\n'
    for spec in "$@"; do printf '\t_ "%s"\n' "${spec%%=*}"; done
    printf ')\n'
  } > tools.go
  go mod tidy >/dev/null
  touch .tidy
fi

cgo=${KILN_GO_CGO:-0}
ldflags="-s -w ${KILN_GO_LDFLAGS:-}"
[ "$cgo" = 1 ] && ldflags+=" -linkmode external -extldflags -static"
for spec in "$@"; do
  pkg=${spec%%=*} bin=${spec#*=}
  [ -x "$out/$bin" ] && continue
  echo "build: $bin ($module v$version)" >&2
  CGO_ENABLED=$cgo go build -trimpath -tags "${KILN_GO_TAGS:-}" -ldflags "$ldflags" -o "$out/$bin.part" "$pkg"
  mv "$out/$bin.part" "$out/$bin"
done
