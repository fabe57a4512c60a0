#!/usr/bin/env bash
# CRL generation: certwright's one-pass encoder (crates/pki/examples/crl_bench.rs, in release) against
# `openssl ca -gencrl`, in the same run, on the same CA key (P-256) and the same N revoked certificates
# (16-octet serials, keyCompromise): the example writes the openssl database it built from. Prints time and peak
# memory of both and the ratios.
#
#   bash bench/crl.sh [N]        (default 1000000)
#
# certwright: p50 of 5 builds inside one process, with the entries already in memory (as they come from the
# store); peak RSS is the process's VmHWM, input included. openssl: one `openssl ca -gencrl` process, wall time
# and maximum RSS from GNU time; it also has to read index.txt, which `openssl ca -status` timed alone shows.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
command -v openssl >/dev/null || { echo "openssl is needed (apt-get install openssl)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed for peak memory (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet -p certwright-pki --example crl_bench
bin="${CARGO_TARGET_DIR:-target}/release/examples/crl_bench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== certwright crl::build, $n entries"
"$bin" "$n" --openssl-dir "$work" | tee "$work/ours.txt"
result=$(grep '^RESULT' "$work/ours.txt")
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<< "$result"; }
ours_ms=$(field total_ms)
ours_encode_ms=$(field encode_ms)
ours_kib=$(field peak_kib)

# seconds KiB of a GNU time -v report
time_report() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
    /Maximum resident set size/ { kib = $2 }
    END { print s, kib }' "$1"
}

echo
echo "== openssl ca -gencrl, same CA key and entries ($(openssl version | cut -d' ' -f1-2))"
cd "$work"
/usr/bin/time -v openssl ca -gencrl -config openssl.cnf -out peer.crl 2> gencrl.time >/dev/null \
  || { cat gencrl.time >&2; exit 1; }
read -r peer_s peer_kib <<< "$(time_report gencrl.time)"
openssl crl -in peer.crl -outform DER -out peer.der
peer_entries_check=$(grep -c . index.txt)
first_serial=$(head -1 index.txt | cut -f4)
/usr/bin/time -v openssl ca -config openssl.cnf -status "$first_serial" > /dev/null 2> status.time || true
read -r load_s load_kib <<< "$(time_report status.time)"
echo "index entries: $peer_entries_check"
echo "crl size: $(stat -c %s peer.der) bytes DER ($(stat -c %s peer.crl) bytes PEM as written)"
echo "wall time: ${peer_s} s (reading index.txt alone: ${load_s} s, ${load_kib} KiB)"
echo "peak RSS: ${peer_kib} KiB"

echo
echo "== summary, $n entries"
awk -v om="$ours_ms" -v oe="$ours_encode_ms" -v ok="$ours_kib" -v ps="$peer_s" -v pk="$peer_kib" -v ls="$load_s" '
  BEGIN {
    pm = ps * 1000; lm = ls * 1000
    printf "%-28s %12s %14s\n", "", "time (ms)", "peak RSS (MiB)"
    printf "%-28s %12.1f %14.1f\n", "certwright (with signature)", om, ok / 1024
    printf "%-28s %12.1f %14s\n", "certwright (encoding only)", oe, "-"
    printf "%-28s %12.1f %14.1f\n", "openssl ca -gencrl", pm, pk / 1024
    printf "%-28s %12.1f %14s\n", "openssl minus index read", pm - lm, "-"
    printf "ratio openssl/certwright: time %.0fx (%.0fx without the index read), memory %.1fx\n",
      pm / om, (pm - lm) / om, pk / ok
  }'
