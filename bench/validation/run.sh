#!/usr/bin/env bash
# bench/validation/run.sh — JSON body validation through the real binary
# against a plain POST of the same bytes.
#
# One Caddy process serves two sites (bench/validation/Caddyfile): plain
# reverse_proxy, and apigw_validate with a strict schema in front of the
# same reverse_proxy. wrk POSTs a valid JSON array of small user objects
# of about 1 KB, 100 KB and 1 MB to each, the two targets alternating
# round after round, and the table shows the mean req/s of each, the
# Caddy process's CPU time per request (from /proc: steadier than req/s on
# a shared machine) and the ratios validate ÷ plain.
#
# Settings (environment): BENCH_DURATION [5s] BENCH_ROUNDS [3]
# BENCH_CONNECTIONS [16] BENCH_THREADS [2] BENCH_PORT_BASE [18100]
# (ports BASE..BASE+3 must be free) BENCH_SIZES ["1024 102400 1048576"]
set -euo pipefail
cd "$(dirname "$0")/../.."

duration="${BENCH_DURATION:-5s}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNECTIONS:-16}"
threads="${BENCH_THREADS:-2}"
base="${BENCH_PORT_BASE:-18100}"
sizes="${BENCH_SIZES:-1024 102400 1048576}"
command -v wrk >/dev/null || { echo "bench/validation/run.sh: wrk is required (apt-get install wrk)" >&2; exit 1; }

out="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$out"
}
trap cleanup EXIT

export BENCH_UPSTREAM_PORT=$base BENCH_PLAIN_PORT=$((base + 1)) BENCH_VALIDATE_PORT=$((base + 2)) BENCH_ADMIN=$((base + 3))
go build -o "$out/caddy" ./internal/caddycmd
go build -o "$out/upstream" ./bench/upstream
"$out/upstream" -addr "127.0.0.1:$BENCH_UPSTREAM_PORT" >"$out/upstream.log" 2>&1 &
pids+=($!)
"$out/caddy" run --config bench/validation/Caddyfile --adapter caddyfile >"$out/caddy.log" 2>&1 &
caddy_pid=$!
pids+=($caddy_pid)
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$caddy_pid/stat"; }
for port in "$BENCH_UPSTREAM_PORT" "$BENCH_PLAIN_PORT" "$BENCH_VALIDATE_PORT"; do
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1
	done
done

# body SIZE: a valid array of user objects of about SIZE bytes
body() {
	awk -v size="$1" 'BEGIN {
		s = "["
		for (i = 0; length(s) < size - 70; i++) {
			if (i > 0) s = s ","
			s = s sprintf("{\"email\":\"user%d@example.com\",\"name\":\"User Number %d\",\"age\":%d}", i, i, i % 150)
		}
		printf "%s]", s
	}'
}

printf '%-8s %12s %12s %7s %12s %12s %7s\n' body plain_req/s valid_req/s ratio plain_cpu/r valid_cpu/r ratio
for size in $sizes; do
	body "$size" >"$out/body.json"
	cat >"$out/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$out/body.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
	# a wrong body would be measured as fast 400s: check it first
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$out/body.json" "http://127.0.0.1:$BENCH_VALIDATE_PORT/users")
	[ "$code" = 200 ] || { echo "validate target answered $code to the benchmark body" >&2; exit 1; }
	sum_p=0 sum_v=0 cpu_p=0 cpu_v=0 n_p=0 n_v=0
	for _ in $(seq "$rounds"); do
		for target in plain validate; do
			port=$BENCH_PLAIN_PORT
			[ "$target" = validate ] && port=$BENCH_VALIDATE_PORT
			c0=$(cpu_ticks)
			res=$(wrk -t"$threads" -c"$conns" -d"$duration" -s "$out/post.lua" "http://127.0.0.1:$port/users")
			c1=$(cpu_ticks)
			if grep -q "Non-2xx" <<<"$res"; then echo "$target: non-2xx responses" >&2; echo "$res" >&2; exit 1; fi
			rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$res")
			reqs=$(awk '/requests in/ {print $1}' <<<"$res")
			if [ "$target" = plain ]; then
				sum_p=$(awk -v a="$sum_p" -v b="$rps" 'BEGIN {print a + b}')
				cpu_p=$((cpu_p + c1 - c0)) n_p=$((n_p + reqs))
			else
				sum_v=$(awk -v a="$sum_v" -v b="$rps" 'BEGIN {print a + b}')
				cpu_v=$((cpu_v + c1 - c0)) n_v=$((n_v + reqs))
			fi
		done
	done
	awk -v s="$(wc -c <"$out/body.json")" -v p="$sum_p" -v v="$sum_v" -v n="$rounds" -v tck="$tck" \
		-v cp="$cpu_p" -v cv="$cpu_v" -v np="$n_p" -v nv="$n_v" 'BEGIN {
			mp = cp * 1000 / tck / np; mv = cv * 1000 / tck / nv
			printf "%-8s %12.1f %12.1f %7.2f %10.3fms %10.3fms %7.2f\n", (s >= 1000000 ? "1MB" : (s >= 100000 ? "100KB" : "1KB")),
				p/n, v/n, v/p, mp, mv, mv/mp }'
done
