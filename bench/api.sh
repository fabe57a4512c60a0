#!/usr/bin/env bash
# Native API throughput and latency: an unauthenticated probe (/healthz, the HTTP stack alone), an
# authenticated read (/v1/me: bearer hash + indexed token lookup per request) and an audited write
# (POST /v1/tokens: one transaction with its hash-chained event), on SQLite and, when
# CERTWRIGHT_BENCH_POSTGRES_URL is set, PostgreSQL. Prints requests/s, p50 and p99, and each route's ratio
# to /healthz measured in the same run.
#
#   bash bench/api.sh [seconds-per-route] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin certwright
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/certwright")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"name":"bench-' .. counter .. '","role":"auditor"}')
end
LUA

# run LABEL URL TOKEN [SCRIPT] -> "rps p50 p99"
measure() {
  local url=$1 token=$2 script=${3:-}
  local args=(-t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token")
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" > "$work/out" 2>&1
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/out")
  p50=$(awk '$1=="50%" {print $2}' "$work/out")
  p99=$(awk '$1=="99%" {print $2}' "$work/out")
  errors=$(awk '/Non-2xx/ {print $5}' "$work/out")
  echo "$rps $p50 $p99 ${errors:-0}"
}

bench_backend() {
  local name=$1; shift
  local port=$((18300 + RANDOM % 500))
  local dir="$work/$name"
  "$bin" --data-dir "$dir" serve --insecure-http --http-listen "127.0.0.1:$port" --listen 127.0.0.1:0 --log-level warn "$@" \
    > "$work/$name.log" 2>&1 &
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  local token; token=$(cat "$dir/admin.token")
  local base="http://127.0.0.1:$port"
  read -r h_rps h_p50 h_p99 _ <<< "$(measure "$base/healthz" "$token")"
  read -r m_rps m_p50 m_p99 m_err <<< "$(measure "$base/v1/me" "$token")"
  read -r w_rps w_p50 w_p99 w_err <<< "$(measure "$base/v1/tokens" "$token" "$work/post.lua")"
  printf '%-9s %-22s %10s req/s  p50 %8s  p99 %8s  non-2xx %s  ratio to /healthz %s\n' \
    "$name" "GET /healthz" "$h_rps" "$h_p50" "$h_p99" 0 "1.00"
  printf '%-9s %-22s %10s req/s  p50 %8s  p99 %8s  non-2xx %s  ratio to /healthz %.2f\n' \
    "$name" "GET /v1/me (auth)" "$m_rps" "$m_p50" "$m_p99" "$m_err" "$(echo "$m_rps / $h_rps" | bc -l)"
  printf '%-9s %-22s %10s req/s  p50 %8s  p99 %8s  non-2xx %s  ratio to /healthz %.2f\n' \
    "$name" "POST /v1/tokens (audited)" "$w_rps" "$w_p50" "$w_p99" "$w_err" "$(echo "$w_rps / $h_rps" | bc -l)"
  "$bin" --data-dir "$dir" audit verify "$@" | tail -n 1
  kill %% 2>/dev/null || true
  wait 2>/dev/null || true
}

echo "certwright native API, ${secs}s per route, $conns connections, $(nproc) cores"
bench_backend sqlite
if [ -n "${CERTWRIGHT_BENCH_POSTGRES_URL:-}" ]; then
  schema="cw_bench_$$"
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null
  bench_backend postgres --database-url "${CERTWRIGHT_BENCH_POSTGRES_URL}?options=-c%20search_path%3D$schema"
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
fi
