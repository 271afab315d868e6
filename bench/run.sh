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
#             every gateway path. Caddy compiles a site's route list per
#             request, so gateway ÷ plain-routes on the same path is the cost
#             of our handlers alone; gateway ÷ plain adds the routing structure
#   gateway   the same binary with bench/Caddyfile.bench: the demo chain of
#             Caddyfile.example (request id, CORS, security headers, error
#             scrubbing, then per route: API key + rate limit raised to 1e7/min,
#             JWT HS256, JWT ES256 against a JWKS, session, JSON validation)
#   express   the Express peer gateway (../shared/peers/express: helmet,
#             cors, express-rate-limit, express-session, jsonwebtoken,
#             http-proxy-middleware), copied to a temp dir, `npm ci`, node
# One load generator, wrk, runs every target in turn, round after round
# (targets alternate, so drift of this shared machine hits all of them), and
# the table shows the mean over rounds of req/s, p50 and p99 latency and
# the CPU time the serving process spent per request (from /proc: steadier
# than req/s on a shared machine), with ratios to plain reverse_proxy, to
# plain-routes on the same path and to Express on the same route.
#
# Settings (environment):
#   BENCH_DURATION [5s]  per target and round   BENCH_ROUNDS [2]
#   BENCH_CONNECTIONS [32]  BENCH_THREADS [2]   wrk's -c and -t
#   BENCH_PORT_BASE [18000]  ports BASE..BASE+7 must be free (checked)
#   BENCH_ONLY  comma list of target names to run (default: all), e.g.
#               BENCH_ONLY='plain-routes /key,/key'
#   EXPRESS_DIR  the Express peer [../shared/peers/express from the repo]
#   BENCH_OUT [bench/out]  logs, raw wrk output, profiles
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
	"$pr_port:plain-routes Caddy" "$pr_admin:plain-routes Caddy admin"; do
	p="${pn%%:*}"
	if port_in_use "$p"; then
		die "port $p (${pn#*:}) is already in use on 127.0.0.1; stop what listens there or pick other ports with BENCH_PORT_BASE=<n> (uses n..n+7)"
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

say "building Caddy (./internal/caddycmd) and the upstream"
go build -o "$out/caddy" ./internal/caddycmd
go build -o "$out/upstream" ./bench/upstream

export BENCH_UPSTREAM_PORT=$up_port BENCH_PLAIN_PORT=$plain_port BENCH_PLAIN_ADMIN=$plain_admin
export BENCH_GATEWAY_PORT=$gw_port BENCH_ADMIN=$gw_admin BENCH_JWT_SECRET=$jwt_secret
export BENCH_PLAIN_ROUTES_PORT=$pr_port BENCH_PLAIN_ROUTES_ADMIN=$pr_admin

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

express_dir="${EXPRESS_DIR:-}"
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
ex_cookie=""
[ -n "$express_dir" ] && ex_cookie="$(curl -si "$ex/login" | cookie_of || true)"

cat >"$tmp/post-users.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"email":"ann@example.com","name":"Ann","age":30}'
wrk.headers["Content-Type"] = "application/json"
EOF

# --- targets: name|url|header|lua ---------------------------------------------------
# every gateway route is measured right after "plain-routes <route>": the same
# request (path, headers, body) to the plain-routes site, so both see the
# same moment of this shared machine
gw_targets=(
	"/open|/open/items||"
	"/key|/key/items|X-API-Key: demo-key-1|"
	"/jwt HS256|/jwt/items|Authorization: Bearer $hs_token|"
	"/oidc ES256|/oidc/items|Authorization: Bearer $es_token|"
	"/session|/session/items|Cookie: $gw_cookie|"
	"POST /users|/users||$tmp/post-users.lua"
)
pr="http://127.0.0.1:$pr_port"
targets=("plain reverse_proxy|http://127.0.0.1:$plain_port/open/items||")
for t in "${gw_targets[@]}"; do
	IFS='|' read -r name path header lua <<<"$t"
	targets+=("plain-routes $name|$pr$path|$header|$lua" "$name|$gw$path|$header|$lua")
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

# every target must answer 200 before it is measured: a benchmark of 401s
# or 429s would be meaningless
for t in "${targets[@]}"; do
	IFS='|' read -r name url header lua <<<"$t"
	selected "$name" || continue
	args=(-s -o "$tmp/smoke" -w '%{http_code}')
	[ -n "$header" ] && args+=(-H "$header")
	[ -n "$lua" ] && args+=(-X POST -H 'Content-Type: application/json' -d '{"email":"ann@example.com","name":"Ann","age":30}')
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
	plain-routes*) echo "$pr_pid" ;;
	plain*) echo "$plain_pid" ;;
	express*) echo "$ex_pid" ;;
	*) echo "$gw_pid" ;;
	esac
}
run_wrk() { # run_wrk <file> <duration> <url> <header> <lua>
	local args=(-t"$threads" -c"$conns" -d"$2" --latency)
	[ -n "$4" ] && args+=(-H "$4")
	[ -n "$5" ] && args+=(-s "$5")
	wrk "${args[@]}" "$3" >"$1" 2>&1 || die "wrk failed on $3: $(cat "$1")"
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
		c0="$(cpu_ticks "$pid")"
		run_wrk "$f" "$duration" "$url" "$header" "$lua"
		c1="$(cpu_ticks "$pid")"
		reqs="$(awk '/requests in/ { print $1 }' "$f")"
		# CPU time the gateway process spent per request: unlike req/s it
		# hardly depends on what else runs on the machine
		cpu_us="$(awk -v d="$((c1 - c0))" -v r="$reqs" -v hz="$clk_tck" 'BEGIN { printf "%.1f", (r > 0 ? d * 1e6 / hz / r : 0) }')"
		rps="$(awk '/^Requests\/sec:/ { print $2 }' "$f")"
		p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")"
		p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")"
		bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")"
		errs="$(awk '/Socket errors:/ { n = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i; print n }' "$f")"
		printf '%s|%s|%s|%s|%s|%s\n' "$name" "$rps" "$p50" "$p99" "$((${bad:-0} + ${errs:-0}))" "$cpu_us" >>"$out/results.txt"
		say "round $round: $name: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu_us CPU µs/req${bad:+, $bad non-2xx}"
	done
done

# --- table ---------------------------------------------------------------------------
table() {
	awk -F'|' '
	{ n[$1]++; rps[$1] += $2; p50[$1] += $3; p99[$1] += $4; bad[$1] += $5; cpu[$1] += $6
	  if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	function mean(a, t) { return a[t] / n[t] }
	END {
		p = "plain reverse_proxy"
		printf "| target | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req | req/s × plain | req/s × plain-routes | req/s × Express | CPU/req × plain | CPU/req × plain-routes |\n"
		printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
		for (i = 1; i <= k; i++) {
			t = order[i]; r = mean(rps, t)
			vsplain = (p in n) ? sprintf("%.2f", r / mean(rps, p)) : "-"
			cpuplain = (p in n) && mean(cpu, p) > 0 ? sprintf("%.2f", mean(cpu, t) / mean(cpu, p)) : "-"
			# plain-routes on the same path: only for gateway routes
			pr = "plain-routes " t; vspr = "-"; cpupr = "-"
			if (t != p && t !~ /^(express|plain-routes) / && (pr in n)) {
				vspr = sprintf("%.2f", r / mean(rps, pr))
				if (mean(cpu, pr) > 0) cpupr = sprintf("%.2f", mean(cpu, t) / mean(cpu, pr))
			}
			ex = (t == p) ? "express /open" : "express " t; vsex = "-"
			if (t !~ /^(express|plain-routes) / && (ex in n)) vsex = sprintf("%.2f", r / mean(rps, ex))
			printf "| %s | %.0f | %.2f | %.2f | %d | %.0f | %s | %s | %s | %s | %s |\n", t, r, mean(p50, t), mean(p99, t), bad[t], mean(cpu, t), vsplain, vspr, vsex, cpuplain, cpupr
		}
	}' "$out/results.txt"
}
{
	echo
	echo "caddy-apigw load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go env GOVERSION), wrk -t$threads -c$conns, $rounds x $duration per target, mean of rounds"
	echo
	table
} | tee "$out/table.md"

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
