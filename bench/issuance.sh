#!/usr/bin/env bash
# Certificate issuance over HTTP: certwright (POST /v1/certificates, each certificate committed with its audit
# event before the 201) against cfssl 1.2 (`cfssl serve`, POST /api/v1/cfssl/sign), same CA key type, same
# fixed P-256 CSR, same load tool (wrk) at the same concurrency, in the same run. Prints requests/s, p50, p99
# for both and the ratio, and the store's own ceiling (sqlite3 alone inserting the same rows in transactions of 4).
#
#   bash bench/issuance.sh [seconds] [connections] [ca-key: ecdsa-p256|rsa-2048]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-8}"
ca_key="${3:-ecdsa-p256}"
for tool in wrk cfssl openssl curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install wrk golang-cfssl openssl curl)" >&2; exit 1; }
done
# CERTWRIGHT_BIN runs an already built binary instead of building one.
if [ -z "${CERTWRIGHT_BIN:-}" ]; then
  cargo build --release --quiet --bin certwright
fi
bin=$(realpath "${CERTWRIGHT_BIN:-${CARGO_TARGET_DIR:-target}/release/certwright}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout leaf.key -out leaf.csr \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com 2>/dev/null
csr_json=$(python3 -c 'import json,sys; print(json.dumps(open("leaf.csr").read()))')

# measure URL BODY-FILE [HEADER] -> "rps p50 p99 non2xx"
measure() {
  local url=$1 body=$2 header=${3:-}
  cat > post.lua <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body", "r"); wrk.body = f:read("*a"); f:close()
LUA
  local args=(-t2 -c"$conns" -d"${secs}s" --latency -s post.lua)
  [ -n "$header" ] && args+=(-H "$header")
  wrk "${args[@]}" "$url" > out 2>&1
  local rps p50 p99 err
  rps=$(awk '/Requests\/sec/ {print $2}' out)
  p50=$(awk '$1=="50%" {print $2}' out)
  p99=$(awk '$1=="99%" {print $2}' out)
  err=$(awk '/Non-2xx/ {print $5}' out)
  echo "$rps $p50 $p99 ${err:-0}"
}

# certwright
port=$((19000 + RANDOM % 500))
"$bin" --data-dir cw serve --insecure-http --http-listen "127.0.0.1:$port" --listen "127.0.0.1:$((port + 1))" \
  --log-level warn --ca-key-algorithm "$ca_key" > cw.log 2>&1 &
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ -f cw/admin.token ] || { echo "certwright did not start:" >&2; cat cw.log >&2; exit 1; }
token=$(cat cw/admin.token)
echo "{\"ra_profile\": \"default\", \"csr\": $csr_json}" > cw-body.json
read -r c_rps c_p50 c_p99 c_err <<< "$(measure "http://127.0.0.1:$port/v1/certificates" cw-body.json "Authorization: Bearer $token")"
issued=$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/certificates?limit=1&origin=request" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')

# The store's own ceiling, for reading the ratio: the sqlite3 shell alone storing copies of the certificates just
# issued (same schema, indexes and triggers) in transactions of 4, the batch 8 connections give the writer.
floor_rows=8000
if command -v sqlite3 > /dev/null; then
  sqlite3 cw/certwright.db ".backup floor.db"
  python3 - "$floor_rows" > floor.sql <<'PY'
import sys
cols = ("uuid, serial, issuer, subject, common_name, sans, not_before, not_after, key_algorithm, signature_algorithm, "
        "fingerprint, state, origin, authority_id, ra_profile_id, key_id, der, idempotency_key, created_by, created_at, "
        "owner, labels, custom_attributes")
fresh = {"uuid": "lower(hex(randomblob(16)))", "serial": "lower(hex(randomblob(16)))",
         "fingerprint": "lower(hex(randomblob(32)))"}
select = ", ".join(fresh.get(c, c) for c in cols.split(", "))
print("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")
for _ in range(int(sys.argv[1]) // 4):
    print(f"BEGIN IMMEDIATE; INSERT INTO certificates ({cols}) SELECT {select} FROM certificates "
          "WHERE origin = 'request' ORDER BY id LIMIT 4; COMMIT;")
PY
  floor_start=$(date +%s.%N)
  sqlite3 floor.db < floor.sql > /dev/null
  floor_rps=$(echo "$floor_rows / ($(date +%s.%N) - $floor_start)" | bc -l)
fi

# cfssl with a CA of the same key type
case "$ca_key" in
  ecdsa-p256) openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650 \
                -keyout ca-key.pem -out ca.pem -subj "/CN=cfssl bench CA" 2>/dev/null ;;
  rsa-2048)   openssl req -x509 -new -nodes -newkey rsa:2048 -days 3650 \
                -keyout ca-key.pem -out ca.pem -subj "/CN=cfssl bench CA" 2>/dev/null ;;
  *) echo "unsupported CA key for the cfssl peer: $ca_key" >&2; exit 1 ;;
esac
cport=$((port + 2))
cfssl serve -address 127.0.0.1 -port "$cport" -ca ca.pem -ca-key ca-key.pem -loglevel 5 > cfssl.log 2>&1 &
for _ in $(seq 1 100); do
  if curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$cport/api/v1/cfssl/sign"; then break; fi
  sleep 0.1
done
echo "{\"certificate_request\": $csr_json}" > cfssl-body.json
read -r f_rps f_p50 f_p99 f_err <<< "$(measure "http://127.0.0.1:$cport/api/v1/cfssl/sign" cfssl-body.json)"

echo "issuance over HTTP, ${secs}s, $conns connections, CA key $ca_key, $(nproc) cores"
printf '%-11s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' certwright "$c_rps" "$c_p50" "$c_p99" "$c_err"
printf '%-11s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' cfssl "$f_rps" "$f_p50" "$f_p99" "$f_err"
printf 'ratio certwright/cfssl: %.2f   (certificates stored by certwright: %s)\n' "$(echo "$c_rps / $f_rps" | bc -l)" "$issued"
if [ -n "${floor_rps:-}" ]; then
  printf 'store ceiling: sqlite3 alone stores %.0f certificate rows/s in transactions of 4 (%.2f x cfssl)\n' \
    "$floor_rps" "$(echo "$floor_rps / $f_rps" | bc -l)"
fi
