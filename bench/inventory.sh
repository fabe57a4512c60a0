#!/usr/bin/env bash
# Inventory search on a large inventory: fills the store with N synthetic certificate records straight in SQL
# (no signing; the records carry placeholder DER), then measures GET /v1/certificates with wrk: a selective name
# (substring) search, an expiry-window query, the unfiltered first page, owner and label filters, the sorts, and a
# page half-way down the list by offset and by keyset cursor. SQLite always; PostgreSQL too when
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
  signature_algorithm, fingerprint, state, origin, der, created_by, created_at, owner, labels $2)
SELECT
  $(uuid_expr), $(hex_expr serial), 'CN=bench issuer', 'CN=host-' || i || '.example.com', 'host-' || i || '.example.com',
  '["dns:host-' || i || '.example.com"]', 1790000000, 1790000000 + (i % 400) * 86400, 'ecdsa-p256', 'ecdsa-sha256',
  $(hex_expr fingerprint), 'issued', 'import', $3, 'bench', 1790000000, 'team-' || (i % 1000),
  '{"shard":"' || (i % 100) || '","parity":"' || (i % 2) || '"}' $4
FROM $1;
SQL
}

# The label index rows of the records above: shard = i % 100 (rare), parity = i % 2 (common).
labels_sql() { # $1 = how to read a label from the labels column, with KEY for its key
  for key in shard parity; do
    echo "INSERT INTO certificate_labels (certificate_id, key, value) SELECT id, '$key', ${1//KEY/$key} FROM certificates WHERE created_by = 'bench';"
  done
}

# A keyset cursor (see crates/core/src/inventory.rs): unpadded base64url of {"s":sort,"k":key,"i":id}.
cursor() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }

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
  measure "owner=team-777 (1/1000)" "$1/v1/certificates?owner=team-777&limit=50" "$2"
  measure "label=shard:42 (1/100)" "$1/v1/certificates?label=shard:42&limit=50" "$2"
  measure "label=parity:1 (1/2)" "$1/v1/certificates?label=parity:1&limit=50" "$2"
  measure "label=parity:1 + owner" "$1/v1/certificates?label=parity:1&owner=team-777&limit=50" "$2"
  measure "sort=-not_after, first page" "$1/v1/certificates?sort=-not_after&limit=50" "$2"
  measure "sort=common_name, first page" "$1/v1/certificates?sort=common_name&limit=50" "$2"
  measure "owner + sort=not_after" "$1/v1/certificates?owner=team-777&sort=not_after&limit=50" "$2"
  local mid=$((n / 2)) half=$((1790000000 + 200 * 86400))
  measure "half-way, offset (-created_at)" "$1/v1/certificates?limit=50&offset=$mid" "$2"
  measure "half-way, cursor (-created_at)" "$1/v1/certificates?limit=50&cursor=$(cursor "{\"s\":\"-created_at\",\"i\":$mid}")" "$2"
  measure "half-way, offset (not_after)" "$1/v1/certificates?limit=50&sort=not_after&offset=$mid" "$2"
  measure "half-way, cursor (not_after)" \
    "$1/v1/certificates?limit=50&cursor=$(cursor "{\"s\":\"not_after\",\"k\":$half,\"i\":$mid}")" "$2"
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
  # The name index and the count are filled by the insert triggers (migration 0007).
  labels_sql "json_extract(labels, '\$.KEY')"
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
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "SET search_path = $schema; $(labels_sql "labels::json->>'KEY'")
    INSERT INTO inventory_counts VALUES ('bench', $n)" > /dev/null
  # What autovacuum does to a table of a million settled rows (set the visibility map, so that counts and pages
  # are answered from the indexes alone), done now rather than whenever it comes round after the bulk load.
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -q -c "VACUUM ANALYZE $schema.certificates" \
    -c "VACUUM ANALYZE $schema.certificate_labels" > /dev/null
  echo "postgres: filled in $(( $(date +%s) - started ))s"
  port=$((port + 1))
  start "$work/pg" "$port" --database-url "$url"
  queries "http://127.0.0.1:$port" "$(cat "$work/pg/admin.token")"
fi
