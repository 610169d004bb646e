#!/usr/bin/env bash
# The image proxy on the two storage backends, side by side in one run: two Atelier
# instances on one PostgreSQL, one keeping files in a local folder, the other in a bucket
# of a real S3 server (s3s-fs on loopback), each holding the same pictures. Measured with
# wrk: a thumbnail (small: served from the proxy's in-memory copy once fetched), a 2.4 MB
# original (streamed from the backend on every request), and the first fetch of each of
# 200 distinct thumbnails (the backend's cost per cold file). Prints the figures and the
# s3/local ratios.
#
# Needs: a release build (cargo build --release), wrk, curl, ffmpeg, PostgreSQL 15, and
# s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
S3S_FS=${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
pg_port=15433 local_port=18180 s3_port=18181 store_port=18182

for port in $pg_port $local_port $s3_port $store_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use: stop whatever listens there first" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/atelier-storage.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg" ] && su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg" && chown postgres "$work/pg"
su postgres -s /bin/sh -c "$PG_BIN/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -l $work/pg/log -w -o '-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$work/pg -c max_connections=100' start" >/dev/null
psql -q -h 127.0.0.1 -p $pg_port -U postgres -c "CREATE DATABASE on_local" -c "CREATE DATABASE on_s3"

mkdir -p "$work/s3/atelier"
"$S3S_FS" --host 127.0.0.1 --port $store_port --access-key bench-key --secret-key bench-secret-0123456789 "$work/s3" >/dev/null 2>&1 & pids+=("$!")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$store_port") 2>/dev/null && break; sleep 0.1; done

start() { # start NAME PORT DB [ENV...]
  local name=$1 port=$2 db=$3; shift 3
  env ATELIER_DATA_DIR="$work/$name-data" ATELIER_UPLOADS_DIR="$work/$name-uploads" \
    ATELIER_BIND="127.0.0.1:$port" DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/$db" \
    ATELIER_BCRYPT_COST=4 ATELIER_LOG=warn ATELIER_UPLOADS_PER_HOUR=1000 "$@" \
    ./target/release/atelier serve & pids+=("$!")
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
}
start local $local_port on_local
start s3 $s3_port on_s3 ATELIER_STORAGE=s3 ATELIER_S3_ENDPOINT="http://127.0.0.1:$store_port" \
  ATELIER_S3_BUCKET=atelier ATELIER_S3_ACCESS_KEY_ID=bench-key ATELIER_S3_SECRET_ACCESS_KEY=bench-secret-0123456789

# The same pictures on both: 200 small JPEGs and one 2.4 MB PNG of noise.
mkdir -p "$work/pics"
ffmpeg -loglevel error -f lavfi -i "testsrc2=s=800x600:r=25,noise=alls=12:allf=t" -frames:v 200 -q:v 4 "$work/pics/p%03d.jpg"
ffmpeg -loglevel error -f lavfi -i "nullsrc=s=1024x768,format=rgb24,geq=r=random(1)*255:g=random(2)*255:b=random(3)*255" -frames:v 1 "$work/pics/big.png"
for port in $local_port $s3_port; do
  base="http://127.0.0.1:$port"
  curl -s -o /dev/null -X POST "$base/register" -d "username=bench&email=bench@example.com&password=benchpass123&confirm_password=benchpass123"
  curl -s -o /dev/null -c "$work/cookies-$port" -X POST "$base/login" -d "username=bench&password=benchpass123"
  curl -s -o /dev/null -b "$work/cookies-$port" -F "file=@$work/pics/big.png" "$base/upload"
  for pic in "$work"/pics/p*.jpg; do curl -s -o /dev/null -b "$work/cookies-$port" -F "file=@$pic" "$base/upload"; done
  mkdir -p "$work/api-$port"
  for page in $(seq 9); do
    curl -s -b "$work/cookies-$port" "$base/api/images?page=$page" > "$work/api-$port/$page.json"
  done
done
cookie_of() { awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/cookies-$1"; }
urls_of() { python3 -c '
import json, pathlib, sys
for page in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for image in json.loads(page.read_text())["images"]:
        print(image["width"], image["urls"]["thumb"], image["urls"]["original"])' "$work/api-$1"; }
echo "big original: $(stat -c %s "$work/pics/big.png") bytes uploaded; $(urls_of $local_port | wc -l) images on each instance"

measure() { # measure NAME URL COOKIE
  local out rps p99 non2xx
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $3" "$2")
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub("us","",v); v/=1000 } else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) { sub("s","",v); v*=1000 } print v }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  printf '%-22s %10.0f req/s   p99 %7.2f ms%s\n' "$1" "$rps" "$p99" "${non2xx:+   NON-2xx: $non2xx}"
  echo "$1 $rps $p99" >> "$work/results"
}

# The first fetch of 200 distinct thumbnails, one at a time: what a cold gallery costs.
cold() { # cold NAME PORT
  local start end
  start=$(date +%s%N)
  urls_of "$2" | awk '$1 != 1024 { print $2 }' \
    | awk -v base="http://127.0.0.1:$2" '{ print "url = \"" base $1 "\"\noutput = \"/dev/null\"" }' > "$work/cold-$2.curl"
  curl -s -b "$(cookie_of "$2")" -w '%{http_code}\n' --config "$work/cold-$2.curl" | grep -vc '^200$' > "$work/cold-errors" || true
  end=$(date +%s%N)
  printf '%-22s %10.2f ms per file (200 files, one at a time)   errors %s\n' "$1" "$(( (end - start) / 20000000 ))e-1" "$(cat "$work/cold-errors")"
}
cold local-cold-thumb $local_port
cold s3-cold-thumb $s3_port

for round in $(seq "$ROUNDS"); do
  echo "== round $round =="
  for port in $local_port $s3_port; do
    [ "$round" = 1 ] && read -r _ t _ < <(urls_of $port | awk '$1 != 1024' | sed -n 1p) \
      && echo "port $port: thumbnail $(curl -s -o /dev/null -w '%{http_code}, %{size_download} bytes' -b "$(cookie_of $port)" "http://127.0.0.1:$port$t")"
    name=$([ $port = $local_port ] && echo local || echo s3)
    read -r _ thumb _ < <(urls_of $port | awk '$1 != 1024' | sed -n 1p)
    read -r _ _ big < <(urls_of $port | awk '$1 == 1024')
    measure "$name-thumb" "http://127.0.0.1:$port$thumb" "$(cookie_of $port)"
    measure "$name-large-original" "http://127.0.0.1:$port$big" "$(cookie_of $port)"
  done
done

best() { awk -v n="$1" '$1 == n && $2 > best { best = $2 } END { printf "%.0f", best }' "$work/results"; }
echo "== best of $ROUNDS rounds (req/s) and ratios =="
for what in thumb large-original; do
  l=$(best "local-$what") s=$(best "s3-$what")
  printf '%-14s local %8s   s3 %8s   s3/local %.2f\n' "$what" "$l" "$s" "$(awk -v a="$s" -v b="$l" 'BEGIN { print a / b }')"
done
