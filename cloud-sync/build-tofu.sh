#!/bin/bash
# Build OpenTofu from the Go module proxy into ~/.cache/kiln/tofu-<version>/bin/tofu, where
# playbooks/cloud-sync.yml and the tests look for it (for `tofu fmt -check`). The module's source is fetched
# through the Go toolchain (checked against the Go checksum database) and built as the main module, because
# its go.mod carries a replace directive that `go install pkg@version` refuses.
# About 15 minutes on 2 busy cores; run it with nice. Needs Go (the version OpenTofu's go.mod asks for).
set -euo pipefail
version="${1:-1.12.6}"
go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
cache="${KILN_CACHE:-$HOME/.cache/kiln}/tofu-$version"
if [ -x "$cache/bin/tofu" ]; then echo "$cache/bin/tofu"; exit 0; fi
mkdir -p "$cache/src"
source_dir=$(cd "$cache/src" && "$go" mod download -json "github.com/opentofu/opentofu@v$version" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
rm -rf "$cache/src/opentofu" && cp -r "$source_dir" "$cache/src/opentofu" && chmod -R u+w "$cache/src/opentofu"
cd "$cache/src/opentofu"
CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 19 "$go" build -trimpath \
  -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$cache/bin/tofu" ./cmd/tofu
echo "$cache/bin/tofu"
