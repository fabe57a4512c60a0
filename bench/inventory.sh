#!/usr/bin/env bash
# Inventory search on a large inventory: fills the store with N synthetic certificate records straight in SQL
# (no signing; the records carry placeholder DER), then measures GET /v1/certificates with wrk: a selective name
# (substring) search, an expiry-window query and the unfiltered first page. SQLite always; PostgreSQL too when
# CERTWRIGHT_BENCH_POSTGRES_URL is set. Prints requests/s, p50 and p99 per query.
#
#   bash bench/inventory.sh [records] [seconds-per-query] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
secs="${2:-10}"
conns="${3:-8}"
for tool in wrk sqlite3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install wrk sqlite3 curl)" >&2; exit 1; }
done
cargo build --release --quiet --bin certwright
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/certwright")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

rows_sql() { # $1 = row source yielding i
  cat <<SQL
INSERT INTO certificates (uuid, serial, issuer, subject, common_name, sans, not_before, not_after, key_algorithm,
  signature_algorithm, fingerprint, state, origin, der, created_by, created_at $2)
SELECT
  $(uuid_expr), $(hex_expr serial), 'CN=bench issuer', 'CN=host-' || i || '.example.com', 'host-' || i || '.example.com',
  '["dns:host-' || i || '.example.com"]', 1790000000, 1790000000 + (i % 400) * 86400, 'ecdsa-p256', 'ecdsa-sha256',
  $(hex_expr fingerprint), 'issued', 'import', $3, 'bench', 1790000000 $4
FROM $1;
SQL
}

start() { # data-dir port [args]
  local dir=$1 port=$2; shift 2
  "$bin" --data-dir "$dir" serve --insecure-http --http-listen "127.0.0.1:$port" --listen 127.0.0.1:0 \
    --log-level warn "$@" > "$dir.log" 2>&1 &
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server did not start:" >&2; cat "$dir.log" >&2; exit 1
}

measure() { # label url token
  wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $3" "$2" > "$work/out" 2>&1
  printf '  %-34s %9s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' "$work/out")" "$(awk '$1=="50%" {print $2}' "$work/out")" \
    "$(awk '$1=="99%" {print $2}' "$work/out")" "$(awk '/Non-2xx/ {print $5}' "$work/out" | grep . || echo 0)"
}

queries() { # base token
  local probe=$((n / 2 + 7))
  measure "name=host-$probe (substring)" "$1/v1/certificates?name=host-$probe&limit=10" "$2"
  measure "name=-$((probe / 10))9. (substring)" "$1/v1/certificates?name=-$((probe / 10))9.&limit=10" "$2"
  measure "expires in a 1-day window" "$1/v1/certificates?expires_after=1820000000&expires_before=1820086400&limit=50" "$2"
  measure "first page, no filter" "$1/v1/certificates?limit=50" "$2"
}

echo "inventory of $n records, ${secs}s per query, $conns connections, $(nproc) cores"

# SQLite: initialise, fill with the server stopped, then serve.
port=$((19600 + RANDOM % 300))
"$bin" --data-dir "$work/sqlite" init --log-level warn > /dev/null
uuid_expr() { echo "printf('%08x-0000-4000-8000-%012x', i, i)"; }
hex_expr() { [ "$1" = serial ] && echo "printf('%x', i + 4096)" || echo "printf('%064x', i)"; }
started=$(date +%s)
{
  echo "BEGIN;"
  rows_sql "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n) SELECT i FROM n)" "" "x'30'" ""
  echo "INSERT INTO certificate_names (rowid, names) SELECT id, LOWER(common_name || ' ' || sans) FROM certificates WHERE created_by = 'bench';"
  echo "INSERT INTO inventory_counts (node, certificates) VALUES ('bench', $n);"
  echo "COMMIT;"
} | sqlite3 "$work/sqlite/certwright.db"
echo "sqlite: filled in $(( $(date +%s) - started ))s"
start "$work/sqlite" "$port"
queries "http://127.0.0.1:$port" "$(cat "$work/sqlite/admin.token")"
kill %% 2>/dev/null || true; wait 2>/dev/null || true

if [ -n "${CERTWRIGHT_BENCH_POSTGRES_URL:-}" ]; then
  schema="cw_inventory_$$"
  url="${CERTWRIGHT_BENCH_POSTGRES_URL}?options=-c%20search_path%3D$schema"
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $schema" > /dev/null
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS '"$schema"' CASCADE" >/dev/null' EXIT
  "$bin" --data-dir "$work/pg" init --log-level warn --database-url "$url" > /dev/null
  uuid_expr() { echo "lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')"; }
  hex_expr() { [ "$1" = serial ] && echo "to_hex(i + 4096)" || echo "lpad(to_hex(i), 64, '0')"; }
  started=$(date +%s)
  rows_sql "generate_series(1, $n) AS i" ", search_names" "'\\x30'::bytea" \
    ", LOWER('host-' || i || '.example.com' || ' ' || '[\"dns:host-' || i || '.example.com\"]')" \
    | psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -q -v ON_ERROR_STOP=1 -c "SET search_path = $schema" -f - > /dev/null
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "SET search_path = $schema; INSERT INTO inventory_counts VALUES ('bench', $n); ANALYZE certificates" > /dev/null
  echo "postgres: filled in $(( $(date +%s) - started ))s"
  port=$((port + 1))
  start "$work/pg" "$port" --database-url "$url"
  queries "http://127.0.0.1:$port" "$(cat "$work/pg/admin.token")"
fi
