#!/usr/bin/env bash
# ACME full order flow: newOrder -> authorization -> challenge (validated at once in test mode) -> finalize ->
# download, with the same client (crates/connectors/examples/acme_load.rs) and the same concurrency against
# certwright (acme_insecure_always_valid) and pebble, both over HTTPS, in the same run. pebble runs twice: at its
# fastest (PEBBLE_VA_ALWAYS_VALID=1, no validation sleep, no nonce rejection, no authorization reuse) and as
# configured with PEBBLE_VA_ALWAYS_VALID=1 alone (its validation authority then sleeps up to 5 s per challenge and
# 5% of nonces are rejected), the second on fewer orders. Prints orders/s, p50/p99/max per order and the ratios.
#
#   bash bench/acme.sh [orders] [concurrency] [pebble-orders] [pebble-default-orders]
set -euo pipefail
cd "$(dirname "$0")/.."
orders="${1:-10000}"
conns="${2:-8}"
pebble_orders="${3:-2000}"
pebble_default_orders="${4:-48}"
for tool in pebble openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install pebble openssl curl python3)" >&2; exit 1; }
done
cargo build --release --quiet --bin certwright --example acme_load -p certwright -p certwright-connectors
target="${CARGO_TARGET_DIR:-target}"
bin=$(realpath "${CERTWRIGHT_BIN:-$target/release/certwright}")
load=$(realpath "$target/release/examples/acme_load")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

# certwright, SQLite in a fresh data directory, test-mode validation.
port=$((20500 + RANDOM % 400))
mkdir cw
echo 'acme_insecure_always_valid = true' > cw/certwright.toml
"$bin" --data-dir cw serve --http-listen "127.0.0.1:$port" --listen "127.0.0.1:$((port + 1))" \
  --log-level warn > cw.log 2>&1 &
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ -f cw/admin.token ] || { echo "certwright did not start:" >&2; cat cw.log >&2; exit 1; }
token=$(cat cw/admin.token)
authority=$(curl -fs -H "Authorization: Bearer $token" "https://127.0.0.1:$((port + 1))/v1/ra-profiles/default" \
  --cacert cw/ca.pem | python3 -c 'import json,sys; print(json.load(sys.stdin)["authority"])')
curl -fs -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --cacert cw/ca.pem \
  -d "{\"name\": \"bench\", \"authority\": \"$authority\", \"policy\": {\"acme\": {\"enabled\": true}}}" \
  "https://127.0.0.1:$((port + 1))/v1/ra-profiles"

# pebble with its own TLS certificate for localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pebble.key -out pebble.pem -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE >/dev/null 2>&1
pport=$((port + 2))
cat > pebble.json <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$pport", "managementListenAddress": "127.0.0.1:$((pport + 1))",
 "certificate": "pebble.pem", "privateKey": "pebble.key", "httpPort": 5002, "tlsPort": 5001,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
start_pebble() { # environment assignments
  env "$@" pebble -config pebble.json > pebble.log 2>&1 &
  for _ in $(seq 1 100); do curl -fsk "https://127.0.0.1:$pport/dir" >/dev/null 2>&1 && break; sleep 0.1; done
}
start_pebble PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0

rss() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cw_pid=$(pgrep -f "$bin --data-dir cw serve" | head -n 1)
pebble_pid=$(pgrep -f "pebble -config pebble.json" | head -n 1)
cw=$("$load" --directory "https://127.0.0.1:$((port + 1))/acme/bench/directory" --ca cw/ca.pem \
  --orders "$orders" --concurrency "$conns")
pb=$("$load" --directory "https://127.0.0.1:$pport/dir" --ca pebble.pem --orders "$pebble_orders" --concurrency "$conns")
pb_rss=$(rss "$pebble_pid")
pb_default="0 orders/s (skipped)"
if [ "$pebble_default_orders" -gt 0 ]; then
  kill "$pebble_pid"; wait "$pebble_pid" 2>/dev/null || true
  start_pebble PEBBLE_VA_ALWAYS_VALID=1
  pb_default=$("$load" --directory "https://127.0.0.1:$pport/dir" --ca pebble.pem --orders "$pebble_default_orders" \
    --concurrency "$conns")
fi

echo "ACME full order flow, $conns concurrent clients, $(nproc) cores"
echo "certwright ($orders orders, SQLite): $cw  peak RSS $(rss "$cw_pid") kB"
echo "pebble, fastest ($pebble_orders orders):  $pb  peak RSS $pb_rss kB"
echo "pebble, PEBBLE_VA_ALWAYS_VALID=1 only ($pebble_default_orders orders): $pb_default"
python3 - "$cw" "$pb" "$pb_default" <<'PY'
import sys
cw, pb, default = (float(a.split()[0]) for a in sys.argv[1:4])
for name, peer in (("fastest", pb), ("PEBBLE_VA_ALWAYS_VALID=1 only", default)):
    print(f"ratio certwright/pebble ({name}): {cw / peer:.1f}x" if peer else f"pebble ({name}) completed no orders")
PY
