#!/usr/bin/env bash
# xcaddy.sh — build ./caddy with caddy-apigw, or build and run the demo.
#
#   ./xcaddy.sh          build ./caddy (Caddy v2.11.9 + this module) with xcaddy
#   ./xcaddy.sh run      build if needed, then run Caddyfile.example (offline,
#                        gateway on 127.0.0.1:${APIGW_HTTP_PORT:-8080}, its demo
#                        upstream on 127.0.0.1:${APIGW_UPSTREAM_PORT:-9000})
#
# xcaddy is installed from the Go module proxy into $(go env GOPATH)/bin if it
# is missing. Set CADDY_VERSION to build another Caddy release.
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"

build() {
	local xcaddy
	xcaddy="$(command -v xcaddy || true)"
	if [ -z "$xcaddy" ]; then
		xcaddy="$(go env GOPATH)/bin/xcaddy"
		if [ ! -x "$xcaddy" ]; then
			echo "xcaddy.sh: installing xcaddy $XCADDY_VERSION" >&2
			go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
		fi
	fi
	echo "xcaddy.sh: building ./caddy (Caddy $CADDY_VERSION + github.com/apigw/caddy-apigw)" >&2
	# The pseudo-version lets go resolve the local replacement without asking
	# the module proxy for a module that is not published there.
	XCADDY_SKIP_CLEANUP=0 "$xcaddy" build "$CADDY_VERSION" \
		--output ./caddy \
		--with github.com/apigw/caddy-apigw@v0.0.0-00010101000000-000000000000=.
}

needs_build() {
	[ ! -x ./caddy ] && return 0
	# rebuild when any Go source or go.mod is newer than the binary
	[ -n "$(find . -path ./node_modules -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer ./caddy -print -quit)" ]
}

case "${1:-build}" in
build)
	build
	;;
run)
	shift || true
	if needs_build; then build; fi
	exec ./caddy run --config Caddyfile.example --adapter caddyfile "$@"
	;;
*)
	echo "usage: $0 [build|run]" >&2
	exit 2
	;;
esac
