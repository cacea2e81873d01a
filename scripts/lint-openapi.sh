#!/usr/bin/env bash
# Lint api/openapi.yaml with Redocly's CLI, pinned in tools/redocly
# (package-lock.json), on top of the validation kin-openapi runs in the Go
# tests. Installs Node.js from Debian when it is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v npm >/dev/null; then
	echo "lint-openapi: installing Node.js and npm" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
want="$(sed -n 's/.*"@redocly\/cli": "\(.*\)".*/\1/p' tools/redocly/package.json)"
if [ "$(tools/redocly/node_modules/.bin/redocly --version 2>/dev/null)" != "$want" ]; then
	npm ci --prefix tools/redocly --no-audit --no-fund --loglevel=error >/dev/null
fi
# redocly.yaml makes every rule an error (recommended-strict).
if ! out="$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true tools/redocly/node_modules/.bin/redocly lint --max-problems=50 --format=stylish 2>&1)"; then
	printf '%s\n' "$out" >&2
	echo "lint-openapi: api/openapi.yaml FAILED Redocly's lint" >&2
	exit 1
fi
echo "lint-openapi: api/openapi.yaml OK"
