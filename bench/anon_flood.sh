#!/usr/bin/env bash
# SPEC §7: an abuser hammering anonymous generation from one network. Every request takes
# the (key, action) advisory lock and counts the rolling window in PostgreSQL; after the
# first 3 the answer is 429. Measures how fast refusals are served and whether a signed-in
# page suffers meanwhile.
# Needs wrk and a release build. Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
work=$(mktemp -d)
chmod 755 "$work"
port=18091
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$port" \
  ATELIER_LOG=warn ATELIER_SIGNUP_CREDITS=10 \
  ./target/release/atelier serve & server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
curl -s -o /dev/null -X POST "$base/register" -d "username=bench&email=bench@example.com&password=benchpass123&confirm_password=benchpass123"
curl -s -o /dev/null -c "$work/cookies" -X POST "$base/login" -d "username=bench&password=benchpass123"
cookie=$(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies")
cat > "$work/flood.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"prompt":"spam spam spam","wait":false}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "== /dashboard alone =="
wrk -t1 -c8 -d"$DURATION" --latency -H "Cookie: $cookie" "$base/dashboard" | grep -E "Requests/sec|50%|99%"
echo "== anonymous generation flood alone (64 connections, one network) =="
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/flood.lua" "$base/api/generate-image" | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== /dashboard during the flood =="
wrk -t1 -c64 -d"$DURATION" -s "$work/flood.lua" "$base/api/generate-image" > "$work/flood.txt" &
flood=$!
sleep 1
wrk -t1 -c8 -d"$DURATION" --latency -H "Cookie: $cookie" "$base/dashboard" | grep -E "Requests/sec|50%|99%"
wait "$flood"
grep -E "Requests/sec|Non-2xx" "$work/flood.txt"
echo "== what the flood got =="
curl -s -o /dev/null -w "%{http_code}\n" -X POST -H "Content-Type: application/json" -d '{"prompt":"x","wait":false}' "$base/api/generate-image"
curl -s "$base/api/usage" | grep -o '"anonymous":{[^}]*}'
