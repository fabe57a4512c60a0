#!/usr/bin/env bash
# OCSP responder throughput for cached answers: certwright (GET /ocsp/<base64> and POST /ocsp) against cfssl 1.2
# (`cfssl ocspserve` serving the same answer from a responses file), same request, same load tool (wrk), same
# concurrency, in the same run. Prints requests/s, p50, p99 for both and the ratios.
#
#   bash bench/ocsp.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-8}"
for tool in wrk cfssl openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install wrk golang-cfssl openssl curl python3)" >&2; exit 1; }
done
# CERTWRIGHT_BIN runs an already built binary instead of building one.
if [ -z "${CERTWRIGHT_BIN:-}" ]; then
  cargo build --release --quiet --bin certwright
fi
bin=$(realpath "${CERTWRIGHT_BIN:-${CARGO_TARGET_DIR:-target}/release/certwright}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

port=$((19500 + RANDOM % 400))
"$bin" --data-dir cw serve --insecure-http --http-listen "127.0.0.1:$port" --listen "127.0.0.1:$((port + 1))" \
  --log-level warn > cw.log 2>&1 &
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ -f cw/admin.token ] || { echo "certwright did not start:" >&2; cat cw.log >&2; exit 1; }
token=$(cat cw/admin.token)
curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"ra_profile": "default", "common_name": "ocsp-bench.example.com"}' "http://127.0.0.1:$port/v1/certificates" > issued.json
python3 - <<'PY'
import json
v = json.load(open("issued.json"))
open("leaf.pem", "w").write(v["certificate_pem"])
open("issuing.pem", "w").write(v["chain_pem"].split("-----END CERTIFICATE-----\n")[0] + "-----END CERTIFICATE-----\n")
PY
openssl ocsp -issuer issuing.pem -cert leaf.pem -no_nonce -reqout req.der >/dev/null 2>&1
path=$(python3 -c 'import base64,urllib.parse; print(urllib.parse.quote(base64.b64encode(open("req.der","rb").read()).decode(), safe=""))')
curl -fs "http://127.0.0.1:$port/ocsp/$path" -o resp.der
openssl ocsp -respin resp.der -resp_text -noverify 2>/dev/null | grep -q "Cert Status: good" \
  || { echo "certwright did not answer 'good'" >&2; exit 1; }

# cfssl serves the very same answer from a responses file.
base64 -w0 resp.der > responses.txt; echo >> responses.txt
cport=$((port + 2))
cfssl ocspserve -address 127.0.0.1 -port "$cport" -responses responses.txt -loglevel 5 > cfssl.log 2>&1 &
for _ in $(seq 1 100); do
  curl -fs -o /dev/null --data-binary @req.der -H 'Content-Type: application/ocsp-request' "http://127.0.0.1:$cport/" && break
  sleep 0.1
done
# cfssl 1.2 base64-decodes the GET path with its leading slash and answers 400 to every GET; its POST works.
cfssl_get=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$cport/$path")

cat > post.lua <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
local f = io.open("req.der", "rb"); wrk.body = f:read("*a"); f:close()
LUA
# measure URL [SCRIPT] -> "rps p50 p99 non2xx"
measure() {
  local args=(-t2 -c"$conns" -d"${secs}s" --latency)
  [ -n "${2:-}" ] && args+=(-s "$2")
  wrk "${args[@]}" "$1" > out 2>&1
  echo "$(awk '/Requests\/sec/ {print $2}' out) $(awk '$1=="50%" {print $2}' out) $(awk '$1=="99%" {print $2}' out) $(awk '/Non-2xx/ {print $5}' out | grep . || echo 0)"
}
read -r cg_rps cg_p50 cg_p99 cg_err <<< "$(measure "http://127.0.0.1:$port/ocsp/$path")"
read -r cp_rps cp_p50 cp_p99 cp_err <<< "$(measure "http://127.0.0.1:$port/ocsp" post.lua)"
if [ "$cfssl_get" = 200 ]; then
  read -r fg_rps fg_p50 fg_p99 fg_err <<< "$(measure "http://127.0.0.1:$cport/$path")"
else
  fg_rps=0 fg_p50=- fg_p99=- fg_err="all (HTTP $cfssl_get: cfssl cannot answer GET)"
fi
read -r fp_rps fp_p50 fp_p99 fp_err <<< "$(measure "http://127.0.0.1:$cport/" post.lua)"

echo "OCSP, cached answer for one serial, ${secs}s, $conns connections, $(nproc) cores"
printf '%-18s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "certwright GET" "$cg_rps" "$cg_p50" "$cg_p99" "$cg_err"
printf '%-18s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "cfssl GET" "$fg_rps" "$fg_p50" "$fg_p99" "$fg_err"
printf '%-18s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "certwright POST" "$cp_rps" "$cp_p50" "$cp_p99" "$cp_err"
printf '%-18s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "cfssl POST" "$fp_rps" "$fp_p50" "$fp_p99" "$fp_err"
if [ "$cfssl_get" = 200 ]; then
  printf 'ratio certwright/cfssl: GET %.2f  POST %.2f\n' "$(echo "$cg_rps / $fg_rps" | bc -l)" "$(echo "$cp_rps / $fp_rps" | bc -l)"
else
  printf 'ratio certwright/cfssl: POST %.2f; certwright GET / cfssl POST %.2f (cfssl answers no GET)\n' \
    "$(echo "$cp_rps / $fp_rps" | bc -l)" "$(echo "$cg_rps / $fp_rps" | bc -l)"
fi
