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
  "certbot:certbot"
  "lego:lego"
  "keytool:openjdk-17-jre-headless"
  "apache2:apache2"
  "sshd:openssh-server"
  "ssh:openssh-client"
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
# The OAuth 1.0a interop case signs with Debian's python3-oauthlib.
/usr/bin/python3 -c "import oauthlib" >/dev/null 2>&1 || missing+=("python3-oauthlib")
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} (run as root to install them, or install them yourself)" >&2
    exit 1
  fi
fi

# Debian's certbot (2.1) predates ACME Renewal Information; the ARI interop case uses a newer one from PyPI in a
# virtualenv when PyPI can be reached (set CERTWRIGHT_TEST_CERTBOT_ARI to use another).
if [ -z "${CERTWRIGHT_TEST_CERTBOT_ARI:-}" ]; then
  venv="${CARGO_TARGET_DIR:-$PWD/target}/certbot-ari"
  if [ -x "$venv/bin/certbot" ] || { python3 -m venv "$venv" && timeout 300 "$venv/bin/pip" install -q 'certbot==5.*'; } >/dev/null 2>&1; then
    export CERTWRIGHT_TEST_CERTBOT_ARI="$venv/bin/certbot"
    echo "certbot with ARI: $("$venv/bin/certbot" --version 2>&1)"
  else
    rm -rf "$venv"
    echo "certbot with ARI: not installed (no python3 venv or PyPI); the ARI interop case will not run"
  fi
fi

if [ -n "${CERTWRIGHT_TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL tests: on (${CERTWRIGHT_TEST_POSTGRES_URL%%@*}@…)"
else
  echo "PostgreSQL tests: off (set CERTWRIGHT_TEST_POSTGRES_URL to run them)"
fi
exec cargo test --workspace --locked "$@"
