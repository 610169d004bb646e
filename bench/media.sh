#!/usr/bin/env bash
# Image proxy throughput: wrk against /media for a ~20 KB file as its signed-in owner, and
# nginx serving the same bytes as a static file for reference. Loopback only, bounded.
# Needs: wrk, nginx (apt-get install wrk nginx), a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
work=$(mktemp -d)
chmod 755 "$work"
port=18080
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$port" \
  ATELIER_BCRYPT_COST=4 ATELIER_LOG=warn ./target/release/atelier serve & server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

python3 - "$work/pic.png" <<'PY'
import sys, zlib, struct, random
random.seed(7)
w, h = 120, 60  # noisy pixels so the PNG stays near 20 KB
raw = b"".join(b"\x00" + bytes(random.randrange(256) for _ in range(w * 3)) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
base="http://127.0.0.1:$port"
curl -s -o /dev/null -X POST "$base/register" -d "username=bench&email=bench@example.com&password=benchpass123&confirm_password=benchpass123"
curl -s -o /dev/null -c "$work/cookies" -X POST "$base/login" -d "username=bench&password=benchpass123"
curl -s -o /dev/null -b "$work/cookies" -F "file=@$work/pic.png" "$base/upload"
url=$(curl -s -b "$work/cookies" "$base/api/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["urls"]["original"])')
cookie=$(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies")
file=$(find "$work/uploads" -path "*original*" -type f | head -1)
echo "file: $(stat -c %s "$file") bytes"

echo "== atelier /healthz (no cookie: no database) =="
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$base/healthz" | grep -E "Requests/sec|50%|99%"
echo "== atelier /healthz (session cookie: session load only) =="
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$base/healthz" | grep -E "Requests/sec|50%|99%"
echo "== atelier /media (owner, session cookie) =="
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$base$url" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"

if command -v nginx >/dev/null; then
  mkdir -p "$work/nginx/logs" "$work/www"
  cp "$file" "$work/www/pic.png"
  cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nodelay on;
  server { listen 127.0.0.1:18081; root $work/www; } }
NGX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g "daemon off;" & nginx_pid=$!
  sleep 1
  echo "== nginx static (reference) =="
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:18081/pic.png" | grep -E "Requests/sec|Latency|50%|99%"
fi
