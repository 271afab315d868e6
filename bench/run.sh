#!/usr/bin/env bash
# bench/run.sh — side-by-side load benchmark of caddy-apigw.
#
#   bench/run.sh              measure, print the table (and write bench/out/)
#   bench/run.sh --profile    also take CPU and allocation profiles under
#                             load, one per Caddy target (plain and
#                             plain-routes included, as the baselines),
#                             summary in bench/out/profile-summary.txt
#   bench/run.sh -h           this help
#
# What runs (all on 127.0.0.1, one machine):
#   upstream  bench/upstream: a tiny Go JSON API every gateway proxies to
#   plain     this repository's Caddy binary with bench/Caddyfile.plain:
#             one site, one route: nothing but Caddy's own reverse_proxy
#   plain-routes  the same binary with bench/Caddyfile.plain-routes: the
#             gateway's route structure (the same `handle` blocks and path
#             matchers) with only reverse_proxy in each block, measured on
#             every gateway path. Caddy pays per route it passes (a request
#             to the 9th `handle` block costs more than one to the 1st) and
#             compiles each `handle` block's handlers per request, so
#             gateway ÷ plain-routes on the same path is the cost of our
#             handlers alone; gateway ÷ plain adds the routing structure
#   caddy-native  a second site of the plain-routes Caddy: the same routes,
#             with the response of the gateway's site-wide chain (request id,
#             helmet's headers, Vary, Server removed) written with Caddy's own
#             `header`/`request_header` directives: the floor of sending what
#             the gateway sends; measured on /open next to the gateway
# Every site uses the address form of Caddyfile.example (`http://:<port>`
# with `bind 127.0.0.1`): no host matcher, so Caddy serves the site's routes
# directly instead of through a per-request subroute of all of them.
#   gateway   the same binary with bench/Caddyfile.bench: the demo chain of
#             Caddyfile.example (request id, CORS, security headers, error
#             scrubbing, then per route: API key + rate limit raised to 1e7/min,
#             JWT HS256, JWT ES256 against a JWKS, DPoP, RFC 9421
#             signatures, session, JSON validation)
#   before    (only with BENCH_BASELINE_CADDY=<binary>) a second gateway on
#             bench/Caddyfile.bench run by another Caddy binary, e.g. one
#             built from an older commit: every gateway route is measured on
#             both, interleaved, as "before <route>"
#   express   the Express peer gateway (../shared/peers/express: helmet,
#             cors, express-rate-limit, express-session, jsonwebtoken,
#             http-proxy-middleware), copied to a temp dir, `npm ci`, node
# One load generator, wrk, runs every target in turn, round after round
# (targets alternate, so drift of this shared machine hits all of them), and
# the table shows the mean over rounds of req/s, p50 and p99 latency, the
# CPU time the serving process spent per request (from /proc: steadier than
# req/s on a shared machine) and the allocations per request of the serving
# Caddy process (the Go runtime's memstats.Mallocs delta read from the admin
# endpoint's /debug/vars, divided by the requests), with ratios to plain
# reverse_proxy, to plain-routes on the same path and to Express on the same
# route (and, for the proof-of-possession routes, to /oidc ES256 of the same
# gateway). Each round's own figures are in bench/out/results.txt, and the
# min-max range over rounds in bench/out/ranges.md.
#
# Proof-of-possession targets: /dpop ES256 and /dpop EdDSA (a DPoP-bound
# ES256 token + a DPoP proof, RFC 9449), /sig ed25519 and /sig ES256 (RFC
# 9421 signatures). Each proof jti / signature nonce is accepted once and
# expires (DPoP iat ±60 s, created ±300 s), so right before each of these
# targets is measured, bench/popgen writes that many distinct pre-signed
# requests (the expected req/s — the fastest target so far in this run, or
# 10000 at first — x BENCH_POP_MARGIN x the round), and bench/pop.lua has
# wrk send each line once; a thread whose file runs out stops, and the
# target is measured again with twice the lines. Each is compared with
# "plain <route>": the very same kind of signed request through plain
# reverse_proxy (its "x plain" columns use that baseline), and with
# /oidc ES256 (a cached Bearer ES256 token) in the same table.
#
# Validation targets: POST /batch with a 1 KB and a 100 KB JSON array of
# small user objects, validated by apigw_validate against a strict schema,
# next to "plain POST 1KB" / "plain POST 100KB": the same bytes through
# plain reverse_proxy (their "x plain" columns use that baseline).
#
# Settings (environment):
#   BENCH_DURATION [5s]  per target and round   BENCH_ROUNDS [2]
#   BENCH_CONNECTIONS [32]  BENCH_THREADS [2]   wrk's -c and -t
#   BENCH_PORT_BASE [18000]  ports BASE..BASE+10 must be free (checked)
#   BENCH_ONLY  comma list of target names to run (default: all), e.g.
#               BENCH_ONLY='plain-routes /key,/key'
#   EXPRESS_DIR  the Express peer [../shared/peers/express from the repo];
#               none: leave Express out
#   BENCH_CADDY  use this Caddy binary instead of building one
#   BENCH_BASELINE_CADDY  also run this binary as the "before" gateway
#   BENCH_BASELINE_CADDYFILE  its Caddyfile [the gateway's], e.g. one
#               without a directive the older binary does not know
#   BENCH_OUT [bench/out]  logs, raw wrk output, profiles
#   BENCH_POP_MARGIN [2]  pre-signed requests per expected request
# Missing tools: wrk, curl, node/npm are installed with apt-get when run as
# root, else the exact install command is printed. A port in use is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
profile=0
for arg in "$@"; do
	case "$arg" in
	--profile) profile=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $arg (see -h)" >&2; exit 2 ;;
	esac
done

duration="${BENCH_DURATION:-5s}"
rounds="${BENCH_ROUNDS:-2}"
conns="${BENCH_CONNECTIONS:-32}"
threads="${BENCH_THREADS:-2}"
base="${BENCH_PORT_BASE:-18000}"
out="${BENCH_OUT:-$repo/bench/out}"
only="${BENCH_ONLY:-}"
up_port=$base plain_port=$((base + 1)) gw_port=$((base + 2)) ex_port=$((base + 3))
gw_admin=$((base + 4)) plain_admin=$((base + 5))
pr_port=$((base + 6)) pr_admin=$((base + 7)) # plain-routes: its own admin, for --profile
bf_port=$((base + 8)) bf_admin=$((base + 9)) # the "before" gateway (BENCH_BASELINE_CADDY)
nat_port=$((base + 10)) # caddy-native: a second site of the plain-routes Caddy
baseline_caddy="${BENCH_BASELINE_CADDY:-}"
jwt_secret="bench-jwt-secret-0123456789abcdef0123456789"

say() { echo "bench: $*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------
apt_install() { # apt_install <command> <debian package>
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $2 with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; } ||
			die "could not install $2; run: sudo apt-get update && sudo apt-get install -y $2"
	else
		die "$1 is missing; install it with: sudo apt-get install -y $2"
	fi
	command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}
command -v go >/dev/null 2>&1 || die "go is missing; install Go 1.26 from https://go.dev/dl/"
apt_install wrk wrk
apt_install curl curl
apt_install node nodejs
apt_install npm npm

# --- ports: refuse to reuse anything already listening ------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for pn in "$up_port:upstream" "$plain_port:plain Caddy" "$gw_port:gateway" "$ex_port:Express peer" \
	"$gw_admin:gateway admin" "$plain_admin:plain Caddy admin" \
	"$pr_port:plain-routes Caddy" "$pr_admin:plain-routes Caddy admin" \
	"$bf_port:before gateway" "$bf_admin:before gateway admin" "$nat_port:caddy-native site"; do
	p="${pn%%:*}"
	if port_in_use "$p"; then
		die "port $p (${pn#*:}) is already in use on 127.0.0.1; stop what listens there or pick other ports with BENCH_PORT_BASE=<n> (uses n..n+10)"
	fi
done

# --- processes -----------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/wrk-*.txt "$out/results.txt" "$out/profile-summary.txt" "$out"/*.pprof
pids=()
tmp="$(mktemp -d)"
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

wait_port() { # wait_port <port> <name> <log>: the last started process must listen
	local pid="${pids[-1]}"
	for _ in $(seq 1 300); do
		port_in_use "$1" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	die "$2 did not start on port $1; its log ($3):
$(tail -20 "$3")"
}

if [ -n "${BENCH_CADDY:-}" ]; then
	say "using Caddy $BENCH_CADDY; building the upstream"
	cp "$BENCH_CADDY" "$out/caddy"
else
	say "building Caddy (./internal/caddycmd) and the upstream"
	go build -o "$out/caddy" ./internal/caddycmd
fi
go build -o "$out/upstream" ./bench/upstream
go build -o "$out/popgen" ./bench/popgen

export BENCH_UPSTREAM_PORT=$up_port BENCH_PLAIN_PORT=$plain_port BENCH_PLAIN_ADMIN=$plain_admin
export BENCH_GATEWAY_PORT=$gw_port BENCH_ADMIN=$gw_admin BENCH_JWT_SECRET=$jwt_secret
export BENCH_PLAIN_ROUTES_PORT=$pr_port BENCH_PLAIN_ROUTES_ADMIN=$pr_admin BENCH_NATIVE_PORT=$nat_port

"$out/upstream" -addr "127.0.0.1:$up_port" -jwks examples/demo-keys/jwks.json >"$out/upstream.log" 2>&1 &
pids+=($!)
up_pid=$!
wait_port "$up_port" upstream "$out/upstream.log"

HOME="$tmp/home-plain" XDG_DATA_HOME="$tmp/data-plain" XDG_CONFIG_HOME="$tmp/cfg-plain" \
	"$out/caddy" run --config bench/Caddyfile.plain --adapter caddyfile >"$out/plain.log" 2>&1 &
pids+=($!)
plain_pid=$!
wait_port "$plain_port" "plain Caddy" "$out/plain.log"

HOME="$tmp/home-pr" XDG_DATA_HOME="$tmp/data-pr" XDG_CONFIG_HOME="$tmp/cfg-pr" \
	"$out/caddy" run --config bench/Caddyfile.plain-routes --adapter caddyfile >"$out/plain-routes.log" 2>&1 &
pids+=($!)
pr_pid=$!
wait_port "$pr_port" "plain-routes Caddy" "$out/plain-routes.log"

HOME="$tmp/home-gw" XDG_DATA_HOME="$tmp/data-gw" XDG_CONFIG_HOME="$tmp/cfg-gw" \
	"$out/caddy" run --config "${BENCH_CADDYFILE:-bench/Caddyfile.bench}" --adapter caddyfile >"$out/gateway.log" 2>&1 &
pids+=($!)
gw_pid=$!
wait_port "$gw_port" gateway "$out/gateway.log"

bf_pid=""
if [ -n "$baseline_caddy" ]; then
	[ -x "$baseline_caddy" ] || die "BENCH_BASELINE_CADDY=$baseline_caddy is not an executable"
	cp "$baseline_caddy" "$out/caddy-before"
	HOME="$tmp/home-bf" XDG_DATA_HOME="$tmp/data-bf" XDG_CONFIG_HOME="$tmp/cfg-bf" \
		BENCH_GATEWAY_PORT=$bf_port BENCH_ADMIN=$bf_admin \
		"$out/caddy-before" run --config "${BENCH_BASELINE_CADDYFILE:-${BENCH_CADDYFILE:-bench/Caddyfile.bench}}" --adapter caddyfile >"$out/before.log" 2>&1 &
	pids+=($!)
	bf_pid=$!
	wait_port "$bf_port" "before gateway" "$out/before.log"
fi

express_dir="${EXPRESS_DIR:-}"
[ "$express_dir" = none ] && express_dir=/nonexistent
if [ -z "$express_dir" ]; then
	for d in "$repo/../shared/peers/express" "$repo/../../shared/peers/express"; do
		[ -f "$d/index.js" ] && express_dir="$d" && break
	done
fi
if [ -n "$express_dir" ] && [ -f "$express_dir/index.js" ]; then
	say "starting the Express peer from $express_dir (npm ci in a temp copy)"
	mkdir -p "$tmp/express"
	cp "$express_dir/index.js" "$express_dir/package.json" "$express_dir/package-lock.json" "$tmp/express/"
	(cd "$tmp/express" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >"$out/express-npm.log" 2>&1) ||
		die "npm ci for the Express peer failed: $(tail -5 "$out/express-npm.log")"
	(cd "$tmp/express" && PORT=$ex_port UPSTREAM="http://127.0.0.1:$up_port" JWT_SECRET="$jwt_secret" \
		NODE_ENV=production exec node index.js) >"$out/express.log" 2>&1 &
	pids+=($!)
	ex_pid=$!
	wait_port "$ex_port" "Express peer" "$out/express.log"
else
	express_dir=""
	say "Express peer not found (set EXPRESS_DIR): its rows are left out"
fi

# --- credentials -------------------------------------------------------------------
js=internal/testutil/js
if [ ! -d "$js/node_modules" ]; then
	say "npm ci in $js (jose mints the benchmark's tokens)"
	npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >/dev/null
fi
exp=$(($(date +%s) + 3600))
hs_token="$(cd "$js" && node mint.mjs HS256 "$jwt_secret" "{\"sub\":\"bench\",\"exp\":$exp}")"
es_token="$(cd "$js" && node mint.mjs ES256 "$repo/examples/demo-keys/oidc-es256.key.pem" \
	"{\"sub\":\"bench\",\"iss\":\"http://127.0.0.1:$up_port\",\"aud\":\"caddy-apigw-demo\",\"exp\":$exp}" '{"kid":"demo-es256"}')"
cookie_of() { # first name=value of Set-Cookie in curl -i output on stdin
	tr -d '\r' | awk 'tolower($1)=="set-cookie:" { split($2, a, ";"); print a[1]; exit }'
}
gw="http://127.0.0.1:$gw_port"
ex="http://127.0.0.1:$ex_port"
gw_cookie="$(curl -si -X POST -H 'Content-Type: application/json' \
	-d '{"username":"demo","password":"demo-password"}' "$gw/login" | cookie_of || true)"
bf_cookie=""
[ -n "$bf_pid" ] && bf_cookie="$(curl -si -X POST -H 'Content-Type: application/json' \
	-d '{"username":"demo","password":"demo-password"}' "http://127.0.0.1:$bf_port/login" | cookie_of || true)"
ex_cookie=""
[ -n "$express_dir" ] && ex_cookie="$(curl -si "$ex/login" | cookie_of || true)"


# validation bodies: JSON arrays of small user objects, ~1 KB and ~100 KB
make_body() { # make_body <bytes> <file>: as many objects as fit in <bytes>
	awk -v max="$1" 'BEGIN {
		s = "["; i = 0
		while (1) {
			o = sprintf("{\"email\":\"user%d@example.com\",\"name\":\"User %d\",\"age\":%d}", i, i, 20 + i % 60)
			if (length(s) + length(o) + 2 > max) break
			s = s (i > 0 ? "," : "") o; i++
		}
		printf "%s]", s }' >"$2"
}
make_body 1024 "$tmp/post-1k.json"
make_body 102400 "$tmp/post-100k.json"
printf '%s' '{"email":"ann@example.com","name":"Ann","age":30}' >"$tmp/post-users.json"
for sz in 1k 100k users; do
	cat >"$tmp/post-$sz.lua" <<LUA
wrk.method = "POST"
local f = assert(io.open("$tmp/post-$sz.json", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
done

# --- targets: name|url|header|lua ---------------------------------------------------
# every gateway route is measured right after "plain-routes <route>": the same
# request (path, headers, body) to the plain-routes site, so both see the
# same moment of this shared machine
gw_targets=(
	"/open|/open/items||"
	"/key|/key/items|X-API-Key: demo-key-1|"
	"/jwt HS256|/jwt/items|Authorization: Bearer $hs_token|"
	"/oidc ES256|/oidc/items|Authorization: Bearer $es_token|"
	"/dpop ES256|/dpop/items||pop:dpop-es256"
	"/dpop EdDSA|/dpop/items||pop:dpop-eddsa"
	"/sig ed25519|/sig/items||pop:sig-ed25519"
	"/sig ES256|/sig/items||pop:sig-es256"
	"/session|/session/items|Cookie: $gw_cookie|"
	"POST /users|/users||$tmp/post-users.lua"
	"POST /batch 1KB|/batch||$tmp/post-1k.lua"
	"POST /batch 100KB|/batch||$tmp/post-100k.lua"
)
pr="http://127.0.0.1:$pr_port"
bf="http://127.0.0.1:$bf_port"
targets=("plain reverse_proxy|http://127.0.0.1:$plain_port/open/items||")
for t in "${gw_targets[@]}"; do
	IFS='|' read -r name path header lua <<<"$t"
	case "$name" in
	"POST /batch "*) targets+=("plain POST ${name#POST /batch }|http://127.0.0.1:$plain_port$path|$header|$lua") ;;
	/dpop* | /sig*) targets+=("plain $name|http://127.0.0.1:$plain_port$path|$header|$lua") ;;
	esac
	targets+=("plain-routes $name|$pr$path|$header|$lua")
	# the site-wide chain's floor: its response written with Caddy's own directives
	if [ "$name" = /open ]; then targets+=("caddy-native $name|http://127.0.0.1:$nat_port$path|$header|$lua"); fi
	targets+=("$name|$gw$path|$header|$lua")
	# the before gateway has its own sessions
	if [ -n "$bf_pid" ]; then targets+=("before $name|$bf$path|${header/"$gw_cookie"/$bf_cookie}|$lua"); fi
done
if [ -n "$express_dir" ]; then
	targets+=(
		"express /open|$ex/open/items||"
		"express /key|$ex/key/items|X-API-Key: test-key-1|"
		"express /jwt HS256|$ex/jwt/items|Authorization: Bearer $hs_token|"
		"express /session|$ex/session/items|Cookie: $ex_cookie|"
	)
fi
selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# proof-of-possession targets (lua "pop:<popgen kind>"): pre-signed requests
pop_margin="${BENCH_POP_MARGIN:-2}"
pop_rps=10000 pop_measured=0 # expected req/s: the fastest target so far (10000 before the first)
secs="$(awk -v d="$duration" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; else if (d ~ /h$/) n *= 3600; print n }')"
pop_gen() { # pop_gen <kind> <url> <lines> <parts> <prefix>
	"$out/popgen" -kind "$1" -url "$2" -n "$3" -parts "$4" -out "$5" -window "${secs}s" \
		-iss "http://127.0.0.1:$up_port" >"$out/popgen.log" 2>&1 ||
		die "bench/popgen failed: $(cat "$out/popgen.log")"
}
pop_lines() { # pop_lines <factor>: requests to sign for one round
	awk -v r="$pop_rps" -v m="$pop_margin" -v s="$secs" -v f="$1" 'BEGIN { printf "%d", r * m * s * f + 100 }'
}

# every target must answer 200 before it is measured: a benchmark of 401s
# or 429s would be meaningless
for t in "${targets[@]}"; do
	IFS='|' read -r name url header lua <<<"$t"
	selected "$name" || continue
	args=(-s -o "$tmp/smoke" -w '%{http_code}')
	[ -n "$header" ] && args+=(-H "$header")
	case "$lua" in
	pop:*) # one fresh signed request
		pop_gen "${lua#pop:}" "$url" 1 1 "$tmp/smoke-pop"
		IFS=$'\t' read -r -a line <"$tmp/smoke-pop.1"
		for h in "${line[@]:1}"; do args+=(-H "$h"); done ;;
	?*) args+=(-X POST -H 'Content-Type: application/json' --data-binary "@${lua%.lua}.json") ;;
	esac
	code="$(curl "${args[@]}" "$url" || true)"
	[ "$code" = 200 ] || die "$name ($url) answered $code, not 200, before the run: $(head -c 300 "$tmp/smoke")"
done

to_ms() { # wrk latency (e.g. 512.00us, 2.10ms, 1.02s) -> milliseconds
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "%s", v }'
}
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system time of a process
gateway_pid() { # the process serving a target
	case "$1" in
	plain-routes* | caddy-native*) echo "$pr_pid" ;;
	plain*) echo "$plain_pid" ;;
	express*) echo "$ex_pid" ;;
	before*) echo "$bf_pid" ;;
	*) echo "$gw_pid" ;;
	esac
}
admin_of() { # the admin endpoint of the Caddy serving a target ("" for Express)
	case "$1" in
	plain-routes* | caddy-native*) echo "http://127.0.0.1:$pr_admin" ;;
	plain*) echo "http://127.0.0.1:$plain_admin" ;;
	express*) echo "" ;;
	before*) echo "http://127.0.0.1:$bf_admin" ;;
	*) echo "http://127.0.0.1:$gw_admin" ;;
	esac
}
mallocs() { # mallocs <admin>: the Go runtime's count of heap allocations so far
	[ -n "$1" ] || return 0
	curl -sf "$1/debug/vars" | tr ',' '\n' | awk -F: '/"Mallocs"/ && !done { gsub(/[^0-9]/, "", $2); print $2; done = 1 }'
}
run_wrk() { # run_wrk <file> <duration> <url> <header> <lua>: pop:* needs pop_prepare first
	local args=(-t"$threads" -c"$conns" -d"$2" --latency)
	[ -n "$4" ] && args+=(-H "$4")
	case "$5" in
	pop:*) args+=(-s bench/pop.lua "$3" -- "$tmp/pop") ;;
	?*) args+=(-s "$5" "$3") ;;
	*) args+=("$3") ;;
	esac
	wrk "${args[@]}" >"$1" 2>&1 || die "wrk failed on $3: $(cat "$1")"
}
pop_prepare() { # pop_prepare <lua> <url> [factor]: sign the requests of one round
	case "$1" in pop:*) ;; *) return 0 ;; esac
	rm -f "$tmp"/pop.*
	pop_gen "${1#pop:}" "$2" "$(pop_lines "${3:-1}")" "$threads" "$tmp/pop"
}

say "measuring: $rounds rounds x ${#targets[@]} targets x $duration (wrk -t$threads -c$conns)"
for round in $(seq 1 "$rounds"); do
	i=0
	for t in "${targets[@]}"; do
		i=$((i + 1))
		IFS='|' read -r name url header lua <<<"$t"
		selected "$name" || continue
		f="$out/wrk-$round-$i.txt"
		pid="$(gateway_pid "$name")"
		admin="$(admin_of "$name")"
		for attempt in 1 2; do
			pop_prepare "$lua" "$url" "$attempt"
			m0="$(mallocs "$admin")"
			c0="$(cpu_ticks "$pid")"
			run_wrk "$f" "$duration" "$url" "$header" "$lua"
			c1="$(cpu_ticks "$pid")"
			m1="$(mallocs "$admin")"
			grep -q '^popgen: file exhausted' "$f" || break
			[ "$attempt" = 2 ] && die "$name: wrk used up $(pop_lines 2) pre-signed requests in $duration; raise BENCH_POP_MARGIN"
			say "round $round: $name: the pre-signed requests ran out; measuring again with twice as many"
		done
		rm -f "$tmp"/pop.*
		reqs="$(awk '/requests in/ { print $1 }' "$f")"
		# CPU time the gateway process spent per request: unlike req/s it
		# hardly depends on what else runs on the machine
		cpu_us="$(awk -v d="$((c1 - c0))" -v r="$reqs" -v hz="$clk_tck" 'BEGIN { printf "%.1f", (r > 0 ? d * 1e6 / hz / r : 0) }')"
		rps="$(awk '/^Requests\/sec:/ { print $2 }' "$f")"
		pop_rps="$(awk -v a="$pop_rps" -v b="$rps" -v m="$pop_measured" 'BEGIN { print (b > a || !m) ? int(b + 0.5) : a }')"
		pop_measured=1
		p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")"
		p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")"
		bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")"
		errs="$(awk '/Socket errors:/ { n = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i; print n }' "$f")"
		# the /debug/vars read allocates too: a few hundred objects, well
		# under one per request at these rates
		allocs="$(awk -v a="$m0" -v b="$m1" -v r="$reqs" 'BEGIN { if (a != "" && b != "" && r > 0) printf "%.0f", (b - a) / r; else print "-" }')"
		printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$name" "$rps" "$p50" "$p99" "$((${bad:-0} + ${errs:-0}))" "$cpu_us" "$allocs" "$round" >>"$out/results.txt"
		say "round $round: $name: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu_us CPU µs/req, $allocs allocs/req${bad:+, $bad non-2xx}"
	done
done

# --- table ---------------------------------------------------------------------------
table() { # table <mean|range>: means over rounds, or min-max over rounds
	awk -F'|' -v mode="$1" '
	{ t = $1; n[t]++; rps[t] += $2; p50[t] += $3; p99[t] += $4; bad[t] += $5; cpu[t] += $6
	  if ($7 != "-") { al[t] += $7; nal[t]++ }
	  R[t, $8] = $2; C[t, $8] = $6; A[t, $8] = $7; rounds[$8] = 1
	  if (!(t in seen)) { seen[t] = 1; order[++k] = t } }
	function mean(a, t) { return a[t] / n[t] }
	function amean(t) { return nal[t] ? al[t] / nal[t] : -1 }
	# the plain reverse_proxy baseline of a target: the plain POST of the
	# same bytes for the validation bodies, else the plain GET
	function base(t, s) { if (t ~ /^plain (POST |\/)/) return t
		s = t; sub(/^(before|plain-routes) /, "", s)
		if (s ~ /^POST \/batch /) { sub(/^POST \/batch /, "plain POST ", s); return s }
		if (s ~ /^\/(dpop|sig) /) return "plain " s
		return "plain reverse_proxy" }
	function gwname(t, s) { s = t; sub(/^before /, "", s); return s }
	function isgw(t) { return t !~ /^(express|plain|caddy-native)/ }
	# the cached Bearer ES256 route of the same gateway, for the
	# proof-of-possession routes ("" for the others)
	function oidc(t, p) { if (!isgw(t) || t !~ /\/(dpop|sig) /) return ""
		p = (t ~ /^before /) ? "before " : ""
		return ((p "/oidc ES256") in n) ? p "/oidc ES256" : "" }
	# min-max over rounds of the per-round ratio x[t, r] / x[b, r]
	function rr(X, t, b, pct,   r, v, lo, hi, any) {
		for (r in rounds) if (((t, r) in X) && ((b, r) in X) && X[b, r] > 0 && X[t, r] != "-" && X[b, r] != "-") {
			v = pct ? X[t, r] - X[b, r] : X[t, r] / X[b, r]
			if (!any || v < lo) lo = v; if (!any || v > hi) hi = v; any = 1 }
		if (!any) return "-"
		return pct ? sprintf("%+.0f…%+.0f", lo, hi) : sprintf("%.2f–%.2f", lo, hi) }
	function fmtr(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "-" }
	END {
		if (mode == "range") {
			printf "| target | req/s × plain | CPU/req × plain | allocs/req − plain | req/s × plain-routes | CPU/req × plain-routes | req/s × caddy-native | CPU/req × caddy-native | CPU/req × /oidc |\n"
			printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
			for (i = 1; i <= k; i++) { t = order[i]; b = base(t)
				if (t == b) continue
				prn = "plain-routes " gwname(t)
				prr = isgw(t) && (prn in n) ? rr(R, t, prn) : "-"
				prc = isgw(t) && (prn in n) ? rr(C, t, prn) : "-"
				o = oidc(t); nat = "caddy-native " gwname(t)
				natr = isgw(t) && (nat in n) ? rr(R, t, nat) : "-"
				natc = isgw(t) && (nat in n) ? rr(C, t, nat) : "-"
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t, rr(R, t, b), rr(C, t, b, 0), rr(A, t, b, 1), prr, prc, natr, natc, o != "" ? rr(C, t, o) : "-" }
			exit }
		printf "| target | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req | allocs/req | req/s × plain | CPU/req × plain | allocs − plain | req/s × plain-routes | CPU/req × plain-routes | req/s × caddy-native | CPU/req × caddy-native | allocs − caddy-native | req/s × Express | req/s × /oidc | CPU/req × /oidc | allocs − /oidc |\n"
		printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
		for (i = 1; i <= k; i++) {
			t = order[i]; r = mean(rps, t); b = base(t)
			vsplain = (b in n) ? fmtr(r, mean(rps, b)) : "-"
			cpuplain = (b in n) ? fmtr(mean(cpu, t), mean(cpu, b)) : "-"
			allocs = amean(t) >= 0 ? sprintf("%.0f", amean(t)) : "-"
			dal = (b in n) && amean(t) >= 0 && amean(b) >= 0 && t != b ? sprintf("%+.0f", amean(t) - amean(b)) : "-"
			# plain-routes on the same path: only for gateway routes
			pr = "plain-routes " gwname(t); vspr = "-"; cpupr = "-"
			if (isgw(t) && (pr in n)) { vspr = fmtr(r, mean(rps, pr)); cpupr = fmtr(mean(cpu, t), mean(cpu, pr)) }
			# the response of the site-wide chain written with the directives of Caddy
			nat = "caddy-native " gwname(t); vsn = "-"; cpun = "-"; dan = "-"
			if (isgw(t) && (nat in n)) { vsn = fmtr(r, mean(rps, nat)); cpun = fmtr(mean(cpu, t), mean(cpu, nat))
				if (amean(t) >= 0 && amean(nat) >= 0) dan = sprintf("%+.0f", amean(t) - amean(nat)) }
			ex = (t == "plain reverse_proxy") ? "express /open" : "express " t; vsex = "-"
			if (t !~ /^(express|plain-routes) / && (ex in n)) vsex = fmtr(r, mean(rps, ex))
			# the proof-of-possession routes against the cached Bearer ES256 one
			o = oidc(t); vso = "-"; cpuo = "-"; dao = "-"
			if (o != "") { vso = fmtr(r, mean(rps, o)); cpuo = fmtr(mean(cpu, t), mean(cpu, o))
				if (amean(t) >= 0 && amean(o) >= 0) dao = sprintf("%+.0f", amean(t) - amean(o)) }
			printf "| %s | %.0f | %.2f | %.2f | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t, r, mean(p50, t), mean(p99, t), bad[t], mean(cpu, t), allocs, vsplain, cpuplain, dal, vspr, cpupr, vsn, cpun, dan, vsex, vso, cpuo, dao
		}
	}' "$out/results.txt"
}
{
	echo
	echo "caddy-apigw load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go env GOVERSION), wrk -t$threads -c$conns, $rounds x $duration per target, mean of rounds"
	echo
	table mean
} | tee "$out/table.md"
{
	echo
	echo "per-round ratios, min–max over the $rounds rounds (each round's target against the same round's baseline)"
	echo
	table range
} | tee "$out/ranges.md"

# --- profiles (--profile) ----------------------------------------------------------------
if [ "$profile" -eq 1 ]; then
	secs="${duration%s}"
	i=0
	for t in "${targets[@]}"; do
		i=$((i + 1))
		IFS='|' read -r name url header lua <<<"$t"
		[[ "$name" == express* ]] && continue
		selected "$name" || continue
		admin="http://127.0.0.1:$gw_admin"
		case "$name" in
		plain-routes*) admin="http://127.0.0.1:$pr_admin" ;;
		plain*) admin="http://127.0.0.1:$plain_admin" ;;
		esac
		slug="$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_' | sed 's/^_*//')"
		pop_prepare "$lua" "$url" 2
		curl -sf "$admin/debug/pprof/allocs" -o "$out/$slug.allocs-before.pprof"
		curl -sf "$admin/debug/pprof/profile?seconds=$secs" -o "$out/$slug.cpu.pprof" &
		cpid=$!
		run_wrk "$out/wrk-profile-$i.txt" "$duration" "$url" "$header" "$lua"
		wait "$cpid"
		curl -sf "$admin/debug/pprof/allocs" -o "$out/$slug.allocs-after.pprof"
		go tool pprof -top -nodecount=40 "$out/caddy" "$out/$slug.cpu.pprof" >"$out/$slug.cpu.txt" 2>/dev/null
		go tool pprof -top -nodecount=40 -sample_index=alloc_space -base "$out/$slug.allocs-before.pprof" \
			"$out/caddy" "$out/$slug.allocs-after.pprof" >"$out/$slug.alloc_space.txt" 2>/dev/null
		go tool pprof -top -nodecount=40 -sample_index=alloc_objects -base "$out/$slug.allocs-before.pprof" \
			"$out/caddy" "$out/$slug.allocs-after.pprof" >"$out/$slug.alloc_objects.txt" 2>/dev/null
		reqs="$(awk '/requests in/ { print $1 }' "$out/wrk-profile-$i.txt")"
		objs="$(awk '/ total$/ { print $(NF - 1); exit }' "$out/$slug.alloc_objects.txt")"
		per="$(awk -v o="$objs" -v r="$reqs" 'BEGIN { if (r > 0 && o ~ /^[0-9]+$/) printf "%.0f", o / r; else print "?" }')"
		say "profile $name: $out/$slug.cpu.txt, $out/$slug.alloc_objects.txt ($reqs requests, ~$per allocations/request in the whole process)"
		{
			echo "== $name: $reqs requests, ~$per allocations/request (whole process)"
			echo "-- our functions in the CPU profile (flat = in our code itself; cum includes what it calls)"
			go tool pprof -top -nodecount=100000 "$out/caddy" "$out/$slug.cpu.pprof" 2>/dev/null |
				awk 'NR <= 8 && /flat%/ || /github.com\/apigw\//' | head -16
			echo "-- our functions in the allocations (alloc_objects since the run started)"
			go tool pprof -top -nodecount=100000 -sample_index=alloc_objects -base "$out/$slug.allocs-before.pprof" \
				"$out/caddy" "$out/$slug.allocs-after.pprof" 2>/dev/null |
				awk 'NR <= 8 && /flat%/ || /github.com\/apigw\//' | head -16
		} >>"$out/profile-summary.txt"
	done
	say "profile summary: $out/profile-summary.txt"
fi
