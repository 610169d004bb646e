#!/usr/bin/env bash
# Everyday pages side by side, in one run, on one PostgreSQL: Atelier's signed-in /gallery,
# /dashboard and image page against the Flask and FastAPI peers in ../shared/bench-peers
# (session → user → 24 newest images + total → template), the /media thumbnail against
# nginx serving the same file, and a 12 MP JPEG upload against libvips doing the same work.
# Prints every figure, the ratios, and Atelier's peak RSS.
#
# Needs: a release build (cargo build --release), wrk, nginx, ffmpeg, libvips-tools, python3
# (the peers' packages are installed into target/bench-venv on first use), PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
PEERS=${PEERS:-$root/../shared/bench-peers}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
VENV=${VENV:-$root/target/bench-venv}
pg_port=15432 atelier_port=18080 flask_port=18090 fastapi_port=18091 nginx_port=18081

for port in $pg_port $atelier_port $flask_port $fastapi_port $nginx_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use: stop whatever listens there first" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/atelier-pages.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg" ] && su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$VENV/bin/gunicorn" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q flask gunicorn "psycopg[binary]" fastapi "uvicorn[standard]" asyncpg jinja2
fi

# One PostgreSQL for everyone, on loopback TCP, trusting local connections.
mkdir -p "$work/pg" && chown postgres "$work/pg"
su postgres -s /bin/sh -c "$PG_BIN/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -l $work/pg/log -w -o '-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$work/pg -c max_connections=200' start" >/dev/null
psql_do() { psql -q -h 127.0.0.1 -p $pg_port -U postgres "$@"; }
psql_do -c "CREATE DATABASE atelier" -c "CREATE DATABASE peer"
psql_do -d peer -f "$PEERS/schema.sql" >/dev/null

ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$atelier_port" \
  DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/atelier" ATELIER_BCRYPT_COST=4 ATELIER_LOG=warn \
  ATELIER_UPLOADS_PER_HOUR=1000 ./target/release/atelier serve & atelier=$!
pids+=("$atelier")
base="http://127.0.0.1:$atelier_port"
for _ in $(seq 150); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done

# Atelier's peak RSS, sampled every 200 ms for the whole run.
( peak=0; while kill -0 "$atelier" 2>/dev/null; do
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$atelier/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$work/rss-peak"
    sleep 0.2; done ) & pids+=("$!")

# The same shape of data as the peers' user 7: 200 images; the gallery shows the newest 24.
mkdir -p "$work/pics"
ffmpeg -loglevel error -f lavfi -i "testsrc2=s=800x600:r=25,noise=alls=12:allf=t" -frames:v 200 -q:v 4 "$work/pics/p%03d.jpg"
curl -s -o /dev/null -X POST "$base/register" -d "username=bench&email=bench@example.com&password=benchpass123&confirm_password=benchpass123"
curl -s -o /dev/null -c "$work/cookies" -X POST "$base/login" -d "username=bench&password=benchpass123"
for pic in "$work"/pics/*.jpg; do curl -s -o /dev/null -b "$work/cookies" -F "file=@$pic" "$base/upload"; done
# Uploads are tagged in the background (ATELIER_AUTO_TAG's default): let the queue drain, so
# the runs below do not share the cores with the tagger.
for _ in $(seq 300); do
  [ "$(psql_do -d atelier -Atc "SELECT count(*) FROM generation_jobs WHERE status IN ('queued', 'running')")" = 0 ] && break
  sleep 0.2
done
# Let PostgreSQL's statistics catch up with the 200 new rows (autovacuum would within a
# minute), so the runs below measure the steady state, not plans made for an empty table.
psql_do -d atelier -c "ANALYZE"
newest=$(curl -s -b "$work/cookies" "$base/api/images" | python3 -c 'import json,sys; i=json.load(sys.stdin)["images"][0]; print(i["id"], i["urls"]["thumb"])')
image_id=${newest%% *} thumb_url=${newest#* }
cookie=$(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies")

# `exec`, so the pid killed at the end is the server itself, not a subshell.
(cd "$PEERS" && PEER_DSN="postgresql://postgres@127.0.0.1:$pg_port/peer" \
  exec "$VENV/bin/gunicorn" -w 5 -b 127.0.0.1:$flask_port flask_gallery:app >"$work/flask.log" 2>&1) & pids+=("$!")
(cd "$PEERS" && PEER_DSN="postgresql://postgres@127.0.0.1:$pg_port/peer" \
  exec "$VENV/bin/uvicorn" --workers 2 --loop uvloop --port $fastapi_port fastapi_gallery:app >"$work/fastapi.log" 2>&1) & pids+=("$!")

mkdir -p "$work/nginx/logs" "$work/www"
curl -s -b "$work/cookies" -o "$work/www/thumb.jpg" "$base$thumb_url"
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nodelay on;
  server { listen 127.0.0.1:$nginx_port; root $work/www; } }
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g "daemon off;" & pids+=("$!")
for port in $flask_port $fastapi_port $nginx_port; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done
for port in $flask_port $fastapi_port; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: sid=sess7" "http://127.0.0.1:$port/gallery")
  [ "$status" = 200 ] || { echo "peer on port $port answers $status, not 200: is an old one still running?" >&2; exit 1; }
done
echo "thumbnail: $(stat -c %s "$work/www/thumb.jpg") bytes; gallery: $(curl -s -b "$work/cookies" "$base/gallery" | grep -c 'class="tile-title') cards"

# wrk NAME URL [COOKIE]: appends "NAME req/s p99-ms" to $work/results.
measure() {
  local name=$1 url=$2 header=${3:-}
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency ${header:+-H "Cookie: $header"} "$url")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub("us","",v); v/=1000 } else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) { sub("s","",v); v*=1000 } print v }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  printf '%-22s %10.0f req/s   p99 %7.2f ms%s\n' "$name" "$rps" "$p99" "${non2xx:+   NON-2xx: $non2xx}"
  echo "$name $rps $p99" >> "$work/results"
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round =="
  measure atelier-gallery "$base/gallery" "$cookie"
  measure flask-gallery "http://127.0.0.1:$flask_port/gallery" "sid=sess7"
  measure fastapi-gallery "http://127.0.0.1:$fastapi_port/gallery" "sid=sess7"
  measure atelier-dashboard "$base/dashboard" "$cookie"
  measure atelier-image-page "$base/images/$image_id" "$cookie"
  measure atelier-media-thumb "$base$thumb_url" "$cookie"
  measure nginx-thumb "http://127.0.0.1:$nginx_port/thumb.jpg"
done

echo "atelier peak RSS through the page runs: $(( $(cat "$work/rss-peak") / 1024 )) MB"

# The 12 MP upload: Atelier's whole upload request against libvips doing the same work.
ffmpeg -loglevel error -f lavfi -i "testsrc2=s=4000x3000,noise=alls=12:allf=t" -frames:v 1 -q:v 3 "$work/12mp.jpg"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
upload_ms=$(for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -w '%{time_total}\n' -b "$work/cookies" -H "Accept: application/json" -F "file=@$work/12mp.jpg" "$base/api/upload"
done | awk '{ print $1 * 1000 }' | median)
vips_ms=$(for _ in 1 2 3 4 5; do
  start=$(date +%s%N)
  vips copy "$work/12mp.jpg" "$work/vips-out.jpg[strip,Q=90]"
  vipsthumbnail -s 320 "$work/12mp.jpg" -o "$work/vips-thumb.jpg"
  echo $(( ($(date +%s%N) - start) / 1000000 ))
done | median)
echo "12mp-upload: atelier $upload_ms ms, libvips $vips_ms ms ($(stat -c %s "$work/12mp.jpg") bytes)"

echo "== summary (best of $ROUNDS rounds) =="
best() { awk -v n="$1" '$1 == n && $2 > best { best = $2; p99 = $3 } END { printf "%.0f %.2f", best, p99 }' "$work/results"; }
read -r gallery gallery_p99 <<<"$(best atelier-gallery)"
read -r flask _ <<<"$(best flask-gallery)"
read -r fastapi _ <<<"$(best fastapi-gallery)"
read -r dashboard dashboard_p99 <<<"$(best atelier-dashboard)"
read -r image_page image_p99 <<<"$(best atelier-image-page)"
read -r media media_p99 <<<"$(best atelier-media-thumb)"
read -r nginx _ <<<"$(best nginx-thumb)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "gallery      $gallery req/s (p99 $gallery_p99 ms): $(ratio "$gallery" "$flask")x Flask ($flask), $(ratio "$gallery" "$fastapi")x FastAPI ($fastapi)"
echo "dashboard    $dashboard req/s (p99 $dashboard_p99 ms): $(ratio "$dashboard" "$fastapi")x FastAPI's gallery"
echo "image page   $image_page req/s (p99 $image_p99 ms): $(ratio "$image_page" "$fastapi")x FastAPI's gallery"
echo "media thumb  $media req/s (p99 $media_p99 ms): $(ratio "$media" "$nginx")x nginx ($nginx)"
echo "12 MP upload $upload_ms ms: $(ratio "$upload_ms" "$vips_ms")x libvips ($vips_ms ms)"
echo "atelier peak RSS: $(( $(cat "$work/rss-peak") / 1024 )) MB"
