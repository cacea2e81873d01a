#!/usr/bin/env bash
# Shows that `go install github.com/tenantkit/tenantkit/cmd/tenantkit@VERSION`
# works from a clean module cache, before a tag exists: the committed HEAD
# is served as VERSION from a file-based module proxy standing in for the
# public one, every dependency comes from the Go module proxy (checksums
# verified as usual) into an empty module cache, and the installed binary
# must report VERSION. Needs the module proxy; takes ~2 min on 2 cores.
set -euo pipefail

version="${1:-v0.0.0-installcheck}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

git -C "$root" archive --format=tar HEAD | (mkdir -p "$work/src" && tar -x -C "$work/src")
(cd "$root/tools/installcheck" && go run . "$work/src" "$work/proxy" "$version")

upstream="$(go env GOPROXY)"
env GOMODCACHE="$work/modcache" GOBIN="$work/bin" GOFLAGS= \
	GOPROXY="file://$work/proxy,$upstream" GONOSUMDB=github.com/tenantkit/tenantkit \
	go install "github.com/tenantkit/tenantkit/cmd/tenantkit@$version"

got="$("$work/bin/tenantkit" version --output json | sed -n 's/.*"version": "\(.*\)".*/\1/p')"
if [ "$got" != "$version" ]; then
	echo "install-check: the installed tenantkit reports version \"$got\", want \"$version\"" >&2
	exit 1
fi
echo "install-check: go install github.com/tenantkit/tenantkit/cmd/tenantkit@$version works from a clean module cache"
