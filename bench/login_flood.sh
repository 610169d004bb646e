#!/usr/bin/env bash
# SPEC §3: does a login flood (bcrypt at cost 12) hurt other pages? Measures a signed-in
# page's latency alone, then while wrk floods POST /login with wrong passwords.
# Compare ATELIER_BCRYPT_CONCURRENCY=1 (default) with a large value (bcrypt unbounded on
# the blocking pool): `CONCURRENCY=64 bash bench/login_flood.sh`.
# Needs wrk and a release build. Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
work=$(mktemp -d)
chmod 755 "$work"
port=18090
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$port" \
  ATELIER_LOG=warn ATELIER_LOGIN_FAILURE_LIMIT=100000000 ATELIER_BCRYPT_CONCURRENCY="${CONCURRENCY:-1}" \
  ./target/release/atelier serve & server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
curl -s -o /dev/null -X POST "$base/register" -d "username=bench&email=bench@example.com&password=benchpass123&confirm_password=benchpass123"
curl -s -o /dev/null -c "$work/cookies" -X POST "$base/login" -d "username=bench&password=benchpass123"
cookie=$(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies")
cat > "$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=bench&password=wrong-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
echo "bcrypt concurrency: ${CONCURRENCY:-1}"
echo "== /dashboard alone =="
wrk -t1 -c8 -d"$DURATION" --latency -H "Cookie: $cookie" "$base/dashboard" | grep -E "Requests/sec|50%|99%"
echo "== /dashboard during a login flood (64 connections posting wrong passwords) =="
wrk -t1 -c64 -d"$DURATION" -s "$work/login.lua" "$base/login" > "$work/flood.txt" &
flood=$!
sleep 1
wrk -t1 -c8 -d"$DURATION" --latency -H "Cookie: $cookie" "$base/dashboard" | grep -E "Requests/sec|50%|99%"
wait "$flood"
echo "== the flood itself =="
grep -E "Requests/sec" "$work/flood.txt"
