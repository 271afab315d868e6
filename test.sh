#!/usr/bin/env bash
# test.sh — run every caddy-apigw test on a fresh machine.
#
# Installs what the tests need when it is missing (Debian: redis-server,
# chromium; npm packages jose and helmet for the independent-implementation
# tests), then runs gofmt, go vet and `go test ./...`, printing each
# package's result as it finishes. Extra arguments go to
# `go test` (e.g. ./test.sh -run TestDemo ./caddymodule/...).
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "test.sh: installing ${need_apt[*]} with apt-get" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

js=internal/testutil/js
if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
	echo "test.sh: npm ci in $js" >&2
	npm ci --prefix "$js" --no-audit --no-fund --loglevel=error
fi

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './internal/testutil/js/*'))"
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

if [ $# -eq 0 ]; then
	set -- ./...
fi
# -json through internal/testfmt: one line per package as it finishes (and
# the output of failing tests), instead of silence until the slowest is done
go build -o "${TMPDIR:-/tmp}/apigw-testfmt" ./internal/testfmt
go test -json -count=1 -timeout 40m "$@" 2>&1 | "${TMPDIR:-/tmp}/apigw-testfmt"
