#!/usr/bin/env bash
# Runs every certwright test: unit, store conformance (SQLite, and PostgreSQL when
# CERTWRIGHT_TEST_POSTGRES_URL is set), HTTP integration and CLI tests.
# Installs the Debian packages the tests need when they are missing (needs root for that).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests call, as "command:package".
needs=(
  "kill:procps"
  "openssl:openssl"
  "curl:curl"
  "pg_isready:postgresql-client"
  "nginx:nginx-light"
  "pebble:pebble"
  "pebble-challtestsrv:pebble"
  "dnsmasq:dnsmasq-base"
  "aiosmtpd:python3-aiosmtpd"
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} (run as root to install them, or install them yourself)" >&2
    exit 1
  fi
fi

if [ -n "${CERTWRIGHT_TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL tests: on (${CERTWRIGHT_TEST_POSTGRES_URL%%@*}@…)"
else
  echo "PostgreSQL tests: off (set CERTWRIGHT_TEST_POSTGRES_URL to run them)"
fi
exec cargo test --workspace --locked "$@"
