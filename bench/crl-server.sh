#!/usr/bin/env bash
# CRL generation through the server: N revocations stored for the issuing CA (inserted straight in SQL), then
#  1. a full CRL signed on demand (GET /crl/<ca>.crl with no stored CRL): read from the store, encoded, signed,
#     stored and served;
#  2. every CRL of the CA signed at once (POST /v1/authorities/<ca>/crls: full, delta and 4 partitions);
#  3. a delta CRL after 1,000 new revocations through the API, as the scheduler signs it.
# Prints wall times and the server's peak RSS (VmHWM). The peer figures (openssl ca -gencrl on the same number of
# entries) come from bench/crl.sh.
#
#   bash bench/crl-server.sh [N]     (default 1000000)
#
# SQLite by default; with CERTWRIGHT_BENCH_POSTGRES_URL set, the server runs on PostgreSQL in a scratch schema
# (needs psql).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
for tool in sqlite3 curl python3 openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install sqlite3 curl python3)" >&2; exit 1; }
done
if [ -z "${CERTWRIGHT_BIN:-}" ]; then
  cargo build --release --quiet --bin certwright
fi
bin=$(realpath "${CERTWRIGHT_BIN:-${CARGO_TARGET_DIR:-target}/release/certwright}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
db_args=()
backend=sqlite
sql() { sqlite3 cw/certwright.db; }
if [ -n "${CERTWRIGHT_BENCH_POSTGRES_URL:-}" ]; then
  backend=postgres
  schema="cw_crl_$$"
  psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $schema" > /dev/null
  trap 'kill $(jobs -p) 2>/dev/null || true; cd /; rm -rf "$work"; psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS '"$schema"' CASCADE" >/dev/null' EXIT
  db_args=(--database-url "${CERTWRIGHT_BENCH_POSTGRES_URL}?options=-c%20search_path%3D$schema")
  sql() { (echo "SET search_path = $schema;"; sed -e 's/PRAGMA busy_timeout = 10000;//' -e "s/printf('%x%015x', 1 + (i % 7), i)/(1 + i % 7)::text || lpad(to_hex(i), 15, '0')/" -e "s/printf('%x%015x 1790000000 %d', 1 + (i % 7), i, 1 + (i % 5))/(1 + i % 7)::text || lpad(to_hex(i), 15, '0') || ' 1790000000 ' || (1 + i % 5)/") | psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -q -v ON_ERROR_STOP=1 -f - > /dev/null; }
fi
port=$((19900 + RANDOM % 90))
"$bin" --data-dir cw serve "${db_args[@]}" --insecure-http --http-listen "127.0.0.1:$port" --listen 127.0.0.1:0 \
  --log-level "warn,certwright_core::services::crl=debug" > cw.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(cat cw/admin.token)
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
ca=$(api "http://127.0.0.1:$port/v1/authorities" | python3 -c 'import json,sys; print([a["id"] for a in json.load(sys.stdin)["items"] if a["kind"]=="intermediate"][0])')
ca_row=$(echo "SELECT id FROM authorities WHERE uuid = '$ca';" | if [ "$backend" = sqlite ]; then sqlite3 cw/certwright.db; else psql "$CERTWRIGHT_BENCH_POSTGRES_URL" -qtA -c "SET search_path = $schema" -f - | tail -1; fi)

echo "filling $n revocations ..."
sql <<SQL
PRAGMA busy_timeout = 10000;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n)
INSERT INTO revocations (authority_id, serial, partition_no, not_after, revoked_at, reason, changed_at, crl_entry)
SELECT $ca_row, printf('%x%015x', 1 + (i % 7), i), i % 4, 4102444800, 1790000000, 1 + (i % 5), 1790000000,
  printf('%x%015x 1790000000 %d', 1 + (i % 7), i, 1 + (i % 5)) FROM s;
DELETE FROM crls;
SQL
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

before=$(hwm)
t0=$(ms); curl -fsS "http://127.0.0.1:$port/crl/$ca.crl" -o full.crl; t1=$(ms)
after_full=$(hwm)
entries=$(openssl crl -inform DER -in full.crl -noout -text | grep -c "Serial Number:" || true)
t2=$(ms); api -X POST "http://127.0.0.1:$port/v1/authorities/$ca/crls" > all.json; t3=$(ms)
after_all=$(hwm)

# 1,000 revocations through the API, then the delta the scheduler signs.
ids=$(for i in $(seq 1 1000); do api -d "{\"ra_profile\":\"default\",\"common_name\":\"d$i.example.com\"}" "http://127.0.0.1:$port/v1/certificates"; echo; done \
  | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin if l.strip()]')
for id in $ids; do api -d '{"reason":"superseded"}' "http://127.0.0.1:$port/v1/certificates/$id/revoke" > /dev/null; done
sleep 2
# The last delta the scheduler signed after those revocations (debounced, so it may have signed several).
delta_line=$(grep 'CRL signed' cw.log | grep 'kind=delta' | tail -1)

echo "CRL generation through the server ($backend), $n stored revocations, $(nproc) cores"
echo "  full CRL on demand (read, encode, sign, store, serve): $((t1 - t0)) ms, $entries entries, $(stat -c %s full.crl) bytes"
echo "  every CRL of the CA (full + delta + 4 partitions):     $((t3 - t2)) ms"
echo "  delta after 1,000 revocations, as the scheduler signed it: $(sed -E 's/.*entries=([0-9]+).*read_ms=([0-9]+) total_ms=([0-9]+).*/\1 entries, read \2 ms, total \3 ms/' <<< "$delta_line")"
echo "  signing log (read = rows from the store into entries):"
grep "CRL signed" cw.log | grep -v "entries=0 " | head -8 | sed -E 's/.*kind=([a-z0-9-]+).*entries=([0-9]+).*read_ms=([0-9]+) total_ms=([0-9]+).*/    \1: \2 entries, read \3 ms, total \4 ms/'
echo "  server peak RSS: $((before / 1024)) MiB before, $((after_full / 1024)) MiB after the full CRL, $((after_all / 1024)) MiB after all"
