#!/usr/bin/env bash
# Validate .goreleaser.yaml with the GoReleaser version pinned in the
# isolated tools module (tools/goreleaser), leaving the main module's
# dependencies untouched.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! out="$(go tool -modfile=tools/goreleaser/go.mod goreleaser check 2>&1)"; then
	printf '%s\n' "$out" >&2
	echo "release-check: goreleaser check FAILED" >&2
	exit 1
fi
echo "release-check: .goreleaser.yaml OK"
