#!/usr/bin/env bash
# Outside audits of the pages people see, on a release build: Lighthouse (performance and
# accessibility, mobile and desktop) on the home page, the gallery, the image page of a
# 12-megapixel upload and a share page; axe-core in light and dark mode on those and the
# other main pages; and the Nu HTML checker on every one. Prints a table for
# bench/RESULTS.md and exits 1 when a page misses (Lighthouse performance < 90 or
# accessibility < 98, any serious or critical axe violation, any Nu error).
#
# Needs: a release build (cargo build --release), chromium and chromium-driver, ffmpeg,
# java (for vnu), node and npm (lighthouse, axe-core and vnu-jar are installed into
# target/audit-node on first use), python3 (selenium goes into target/bench-venv), and
# PostgreSQL 15 server binaries (the embedded cluster is used).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
NODE_DIR=${NODE_DIR:-$root/target/audit-node}
VENV=${VENV:-$root/target/bench-venv}
port=18180
base="http://127.0.0.1:$port"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is in use: stop whatever listens there first" >&2
  exit 1
fi
if [ ! -x "$NODE_DIR/node_modules/.bin/lighthouse" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund lighthouse@12.8.2 axe-core@4.14.1 vnu-jar@26.9.27 >/dev/null)
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q selenium
fi

work=$(mktemp -d /tmp/atelier-audit.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$port" \
  ATELIER_BCRYPT_COST=4 ATELIER_LOG=warn ATELIER_SIGNUP_CREDITS=20 \
  ./target/release/atelier serve & pids+=("$!")
for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done

# One account with a 12-megapixel photo, a few generated pictures, and one share.
ffmpeg -loglevel error -f lavfi -i "mandelbrot=size=4000x3000,noise=alls=10:allf=t" -frames:v 1 -q:v 2 "$work/photo.jpg"
curl -s -o /dev/null -c "$work/cookies" -X POST "$base/register" \
  -d "username=auditor&email=auditor@example.com&password=auditpass123&confirm_password=auditpass123"
cookie=$(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies")
photo=$(curl -s -b "$work/cookies" -H "Origin: $base" -H "Accept: application/json" -F "file=@$work/photo.jpg" -F "title=Harbour at night" "$base/upload" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["image"]["id"])')
for prompt in "a lighthouse in a storm" "a red fox at dawn" "mountains over a lake" "a quiet harbour"; do
  job=$(curl -s -b "$work/cookies" -H "Origin: $base" -H "Content-Type: application/json" \
    -d "{\"prompt\":\"$prompt\"}" "$base/api/generate-image" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
done
share=$(curl -s -b "$work/cookies" -H "Origin: $base" -H "Accept: application/json" -X POST -d "visibility=public" "$base/images/$photo/share" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["share_url"])')

printf '%s\n' \
  "home / public" \
  "gallery /gallery" \
  "image /images/$photo" \
  "share $share public" \
  "dashboard /dashboard" \
  "generate /generate" \
  "job /jobs/$job" \
  "trash /trash" \
  "explore /explore public" >"$work/pages"

CHROME_PATH=/usr/bin/chromium LIGHTHOUSE="$NODE_DIR/node_modules/.bin/lighthouse" \
  AXE="$NODE_DIR/node_modules/axe-core/axe.min.js" VNU="$NODE_DIR/node_modules/vnu-jar/build/dist/vnu.jar" \
  "$VENV/bin/python" bench/audit.py "$base" "$cookie" "$work"
