#!/usr/bin/env bash
# TLS discovery: one nginx serving an ECDSA P-256 certificate on N loopback ports (default 2000), scanned by
# `certwright discover tls` and by `nmap --script ssl-cert` in the same run. Prints endpoints/s, peak RSS and
# the certificates found for both, and the ratio.
#
#   bash bench/discovery.sh [endpoints] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
conc="${2:-512}"
for tool in nginx nmap openssl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install nginx-light nmap openssl python3)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin certwright -p certwright
target="${CARGO_TARGET_DIR:-target}"
bin=$(realpath "${CERTWRIGHT_BIN:-$target/release/certwright}")
work=$(mktemp -d)
trap '[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
ulimit -n 65536 2>/dev/null || true

first=$((30000 + RANDOM % 20000))
last=$((first + n - 1))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key -out site.pem -days 2 \
  -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
{
  echo "worker_processes 2; pid $work/nginx.pid; error_log $work/error.log; daemon on;"
  echo "worker_rlimit_nofile 65536; events { worker_connections 8192; }"
  echo "http { access_log off; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;"
  echo "  uwsgi_temp_path $work; scgi_temp_path $work;"
  echo "  server { ssl_certificate $work/site.pem; ssl_certificate_key $work/site.key; return 204;"
  for p in $(seq "$first" "$last"); do echo "    listen 127.0.0.1:$p ssl;"; done
  echo "  } }"
} > nginx.conf
nginx -c "$work/nginx.conf" -p "$work"
sleep 1

echo "== certwright discover tls 127.0.0.1:$first-$last (concurrency $conc)"
/usr/bin/time -f '%M' -o cw.rss "$bin" discover tls "127.0.0.1:$first-$last" --concurrency "$conc" --json > cw.json
python3 - "$n" <<'PY'
import json, sys
r = json.load(open("cw.json")); rss = int(open("cw.rss").read().split()[-1])
print(f"certwright: {r['examined']} endpoints, {r['found']} with certificates, {r['seconds']:.2f} s, "
      f"{r['endpoints_per_second']:.0f} endpoints/s, peak RSS {rss/1024:.1f} MiB")
open("cw.rate", "w").write(str(r['endpoints_per_second']))
assert r['found'] == int(sys.argv[1]), "certwright missed endpoints"
PY

echo "== nmap -sT -Pn -n --script ssl-cert -p $first-$last 127.0.0.1"
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o nmap.rss nmap -sT -Pn -n --script ssl-cert -p "$first-$last" 127.0.0.1 -oN nmap.txt > /dev/null
end=$(date +%s.%N)
python3 - "$n" "$start" "$end" <<'PY'
import sys
n, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
found = open("nmap.txt").read().count("Subject: commonName=bench.test")
rss = int(open("nmap.rss").read().split()[-1]); secs = end - start
rate = n / secs; cw = float(open("cw.rate").read())
print(f"nmap:       {n} endpoints, {found} with certificates, {secs:.2f} s, {rate:.0f} endpoints/s, peak RSS {rss/1024:.1f} MiB")
print(f"ratio certwright/nmap: {cw / rate:.1f}x")
PY
