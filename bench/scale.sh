#!/usr/bin/env bash
# SPEC §16's reference volume, built in about a minute with generate_series, then the
# pages an admin and a big library's owner open, timed: 50,000 accounts, 1.2 M images (one
# account holding 300,000 in 21 folders), 1 M generation jobs from 131,072 addresses, 3 M
# usage events. SCALE=10 multiplies every count (the IP gallery and the gallery pages).
#
# Prints the median of 15 sequential requests to every page (release build, warm), the
# signed-in gallery's throughput (wrk -t2 -c32, four rounds and their medians) for the big
# account, its 100-picture twin and the 10-picture account, the
# query plans PostgreSQL logged for the slowest statements (auto_explain, > 20 ms, in a pass
# of its own), and
# `atelier purge-ips` over ~690k rows with the worst latency of uploads sent meanwhile.
#
# KEEP=/some/dir keeps the cluster there and reuses it on the next run (the volume is built
# once; the purge, which would change it, is skipped): for measuring a change again quickly.
#
# Needs: a release build, wrk, ffmpeg, curl, python3, PostgreSQL 15 server binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
SCALE=${SCALE:-1}
RUNS=${RUNS:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
pg_port=15442 port=18280
base="http://127.0.0.1:$port"
for p in $pg_port $port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is in use: stop whatever listens there first" >&2
    exit 1
  fi
done

KEEP=${KEEP:-}
if [ -n "$KEEP" ]; then
  work=$(realpath -m "$KEEP")
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/atelier-scale.XXXXXX)
fi
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg" ] && su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -m fast stop" >/dev/null 2>&1 || true
  [ -n "$KEEP" ] || rm -rf "$work"
}
trap cleanup EXIT

reusing=false
if [ -n "$KEEP" ] && [ -f "$work/built" ]; then
  reusing=true
else
  rm -rf "$work/pg" "$work/data" "$work/uploads"
  mkdir -p "$work/pg" && chown postgres "$work/pg"
  su postgres -s /bin/sh -c "$PG_BIN/initdb -D $work/pg -A trust -U postgres" >/dev/null
fi
su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $work/pg -l $work/pg/log -w -o \"-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$work/pg -c max_connections=100 -c shared_buffers=1GB -c maintenance_work_mem=512MB -c max_wal_size=4GB -c backend_flush_after=256kB -c shared_preload_libraries=auto_explain -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_nested_statements=on -c log_lock_waits=on -c deadlock_timeout=100ms -c log_checkpoints=on\" start" >/dev/null
psql_do() { psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $pg_port -U postgres -d atelier "$@"; }
$reusing || psql -q -h 127.0.0.1 -p $pg_port -U postgres -c "CREATE DATABASE atelier"
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/atelier"

start_server() {
  ATELIER_DATA_DIR="$work/data" ATELIER_UPLOADS_DIR="$work/uploads" ATELIER_BIND="127.0.0.1:$port" \
    ATELIER_BCRYPT_COST=4 ATELIER_LOG=warn ATELIER_UPLOADS_PER_HOUR=100000 ATELIER_SIGNUP_CREDITS=10 \
    ATELIER_ADMIN_USERNAME=root ATELIER_ADMIN_EMAIL=root@example.com ATELIER_ADMIN_PASSWORD=scalepass123 \
    ATELIER_AUTO_TAG=off ATELIER_IP_RETENTION_DAYS=3650 ./target/release/atelier serve >>"$work/server.log" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.2; done
  echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
login() { # name → cookie file
  curl -s -o /dev/null -c "$work/$1.cookies" -H "Origin: $base" -X POST "$base/login" \
    -d "username=$1&password=scalepass123"
}

if ! $reusing; then
# Migrations, the admin, and the two accounts measured (their password hashes are the
# ones the bulk accounts copy).
start_server
for name in big twin small; do
  curl -s -o /dev/null -H "Origin: $base" -X POST "$base/register" \
    -d "username=$name&email=$name@example.com&password=scalepass123&confirm_password=scalepass123"
done
kill "$server"; wait "$server" 2>/dev/null || true

echo "building the volume (SCALE=$SCALE)…"
started=$(date +%s)
psql_do -v scale="$SCALE" <<'SQL'
SET synchronous_commit = off;
-- Bulk rows skip the per-row triggers; their counters are computed once below, as the
-- triggers would have left them.
ALTER TABLE images DISABLE TRIGGER USER;
ALTER TABLE image_origins DISABLE TRIGGER USER;
ALTER TABLE generation_jobs DISABLE TRIGGER USER;
ALTER TABLE job_origins DISABLE TRIGGER USER;
ALTER TABLE folders DISABLE TRIGGER USER;
ALTER TABLE users DISABLE TRIGGER USER;
-- Each picture's address goes in with it here and moves to `image_origins` below.
ALTER TABLE images ADD COLUMN scale_ip inet;
ALTER TABLE generation_jobs ADD COLUMN scale_ip inet;

INSERT INTO users (username, email, password_hash, created_at, updated_at)
SELECT 'user' || n, 'user' || n || '@example.com',
       (SELECT password_hash FROM users WHERE username = 'small'),
       now() - interval '400 days', now()
FROM generate_series(1::bigint, 50000 * :scale) AS n;
INSERT INTO folders (user_id, slug, name)
SELECT id, 'default', 'Default' FROM users WHERE username LIKE 'user%';
INSERT INTO folders (user_id, slug, name)
SELECT u.id, 'trip-' || n, 'Trip ' || n
FROM users u, generate_series(1::bigint, 20) AS n WHERE u.username IN ('big', 'twin');
INSERT INTO folders (user_id, slug, name)
SELECT id, 'default', 'Default' FROM users WHERE username IN ('big', 'twin', 'small')
ON CONFLICT DO NOTHING;

-- The big library: 300,000 pictures (×SCALE) in 21 folders over a year; and its twin in
-- everything but size: 100 pictures in 21 folders with the same 50 tags, so its first page
-- shows what the big one's shows.
INSERT INTO images (user_id, folder_id, kind, stem, original_ext, thumb_ext, pristine_ext,
                    display_ext, mime, width, height, bytes, disk_bytes, title, tags,
                    scale_ip, created_at, updated_at, prompt)
SELECT u.id, f.ids[1 + n % array_length(f.ids, 1)],
       CASE WHEN n % 3 = 0 THEN 'upload' ELSE 'generated' END,
       md5(lib.name || n), 'jpg', 'jpg', 'jpg', 'jpg', 'image/jpeg', 1024, 768,
       50000 + (n * 7919) % 4000000, 120000 + (n * 7919) % 4000000,
       (ARRAY['fox', 'lighthouse', 'storm', 'harbour', 'forest', 'mountain', 'lake', 'city'])[1 + n % 8]
         || ' ' || (ARRAY['at dawn', 'in fog', 'at night', 'in spring', 'by the sea'])[1 + n % 5] || ' ' || n,
       ARRAY['tag' || (n % 50), 'tag' || (n % 7)],
       ('198.18.' || (n / 256) % 256 || '.' || n % 256)::inet,
       now() - make_interval(secs => n * lib.spacing), now(),
       CASE WHEN n % 3 = 0 THEN NULL ELSE 'a painting ' || n END
FROM (VALUES ('big', 300000 * :scale, 100.0 / :scale), ('twin', 100, 100.0))
       AS lib(name, pictures, spacing)
     JOIN users u ON u.username = lib.name
     CROSS JOIN LATERAL (SELECT array_agg(id ORDER BY id) AS ids FROM folders
                         WHERE user_id = u.id) AS f
     CROSS JOIN LATERAL generate_series(1::bigint, lib.pictures) AS n;
-- Everyone else: 900,000 more (18 each), and ten for the small account.
INSERT INTO images (user_id, folder_id, kind, stem, original_ext, thumb_ext, pristine_ext,
                    display_ext, mime, width, height, bytes, disk_bytes, title, tags,
                    scale_ip, created_at, updated_at, prompt)
SELECT f.user_id, f.id, CASE WHEN n % 2 = 0 THEN 'upload' ELSE 'generated' END,
       md5('u' || f.id || '.' || n), 'jpg', 'jpg', 'jpg', 'jpg', 'image/jpeg', 800, 600,
       80000, 200000, 'picture ' || n, ARRAY['tag' || (n % 50)],
       ('198.19.' || (f.id / 256) % 256 || '.' || f.id % 256)::inet,
       now() - make_interval(days => ((f.id + n) % 365)::int), now(), 'a scene ' || n
FROM folders f, generate_series(1::bigint, 18) AS n
WHERE f.user_id IN (SELECT id FROM users WHERE username LIKE 'user%');
INSERT INTO images (user_id, folder_id, kind, stem, original_ext, thumb_ext, pristine_ext,
                    display_ext, mime, width, height, bytes, disk_bytes, title, tags,
                    scale_ip, created_at, updated_at, prompt)
SELECT f.user_id, f.id, 'upload', md5('small' || n), 'jpg', 'jpg', 'jpg', 'jpg', 'image/jpeg',
       800, 600, 80000, 200000, 'small ' || n, ARRAY['tag1'], '192.0.2.10'::inet,
       now() - make_interval(days => n::int), now(), NULL
FROM folders f, generate_series(1::bigint, 10) AS n
WHERE f.user_id = (SELECT id FROM users WHERE username = 'small');

-- 1,000,000 generation jobs (×SCALE) from 131,072 addresses (198.18.0.0/15).
INSERT INTO generation_jobs (user_id, owner_key, kind, prompt, params, status, scale_ip,
                             image_ids, created_at, finished_at, anon_id)
SELECT CASE WHEN n % 5 = 0 THEN NULL ELSE 1 + n % (50000 * :scale) END,
       CASE WHEN n % 5 = 0 THEN 'anon:' || n % 9973 ELSE 'user:' || (1 + n % (50000 * :scale)) END,
       'image', 'a prompt ' || n, '{}'::jsonb, 'succeeded',
       ('198.' || (18 + (n % 131072) / 65536) || '.' || ((n % 131072) / 256) % 256 || '.' || n % 256)::inet,
       '{}', now() - make_interval(secs => n * 31.5 / :scale), now() - make_interval(secs => n * 31.5 / :scale),
       CASE WHEN n % 5 = 0 THEN 'anon' || n % 9973 END
FROM generate_series(1::bigint, 1000000 * :scale) AS n;

-- 3,000,000 usage events (×SCALE).
INSERT INTO usage_events (ip_key, action, client_ip, at)
SELECT ('198.18.' || (n / 256) % 256 || '.0')::inet, 'generate',
       ('198.18.' || (n / 256) % 256 || '.' || n % 256)::inet,
       now() - make_interval(secs => n * 10.0 / :scale)
FROM generate_series(1::bigint, 3000000 * :scale) AS n;

INSERT INTO image_origins (image_id, user_id, client_ip, upload, created_at)
SELECT id, user_id, scale_ip, kind = 'upload', created_at FROM images ORDER BY id;
ALTER TABLE images DROP COLUMN scale_ip;
INSERT INTO job_origins (job_id, user_id, client_ip, anonymous, tagging, created_at)
SELECT id, user_id, scale_ip, anon_id IS NOT NULL, kind = 'tag', created_at
FROM generation_jobs ORDER BY id;
ALTER TABLE generation_jobs DROP COLUMN scale_ip;

ALTER TABLE images ENABLE TRIGGER USER;
ALTER TABLE image_origins ENABLE TRIGGER USER;
ALTER TABLE generation_jobs ENABLE TRIGGER USER;
ALTER TABLE job_origins ENABLE TRIGGER USER;
ALTER TABLE folders ENABLE TRIGGER USER;
ALTER TABLE users ENABLE TRIGGER USER;

-- What the triggers keep: folder counts, tag counts, library versions, the search words,
-- the IP rollups.
UPDATE folders SET image_count = c.images, disk_bytes = c.bytes
FROM (SELECT folder_id, count(*) FILTER (WHERE trashed_at IS NULL) AS images,
             sum(disk_bytes) AS bytes FROM images GROUP BY folder_id) c
WHERE c.folder_id = folders.id;
INSERT INTO library_tags (user_id, tag, images)
SELECT user_id, tag, count(*) FROM images CROSS JOIN LATERAL unnest(tags) AS tag
WHERE trashed_at IS NULL GROUP BY user_id, tag;
INSERT INTO library_versions (user_id, version) SELECT id, 1 FROM users
ON CONFLICT (user_id) DO UPDATE SET version = library_versions.version + 1;
INSERT INTO search_words (word)
SELECT DISTINCT word FROM images, unnest(tsvector_to_array(search)) AS word ORDER BY 1
ON CONFLICT DO NOTHING;
TRUNCATE ip_activity_totals, ip_activity_days, ip_activity_months, ip_activity_accounts;
SELECT atelier_ip_rollup_apply(array_agg(client_ip), array_agg(created_at), array_agg(1),
    array_agg(0), array_agg(anonymous::int), array_agg(user_id))
FROM job_origins WHERE NOT tagging;
SELECT atelier_ip_rollup_apply(array_agg(client_ip), array_agg(created_at), array_agg(0),
    array_agg(1), array_agg(0), array_agg(user_id))
FROM image_origins WHERE upload;
SQL
psql_do -c "VACUUM ANALYZE"
echo "built in $(( $(date +%s) - started )) s: $(psql_do -At -c "SELECT (SELECT count(*) FROM users) || ' accounts, ' || (SELECT count(*) FROM images) || ' images, ' || (SELECT count(*) FROM generation_jobs) || ' jobs, ' || (SELECT count(*) FROM usage_events) || ' usage events, ' || (SELECT count(*) FROM ip_activity_totals) || ' IP groups'")"
touch "$work/built"
fi

start_server
if $reusing; then psql_do -c "VACUUM ANALYZE"; fi # what a new migration rewrote or indexed
# The server's housekeeping deletes the uses no rate window counts any more (all but the
# last day's of the volume's), a batch at a time: the pages are measured once it is done.
old_uses="SELECT count(*) FROM usage_events WHERE at < timestamptz '$(date -u '+%F %T')Z' - interval '1 day'"
cleared_from=$(psql_do -At -c "$old_uses"); clearing_started=$(date +%s.%N)
for _ in $(seq 1200); do [ "$(psql_do -At -c "$old_uses")" = 0 ] && break; sleep 0.5; done
echo "housekeeping deleted $cleared_from old uses in $(python3 -c "print(round($(date +%s.%N) - $clearing_started, 1))") s (left: $(psql_do -At -c "$old_uses"))"
psql_do -c "VACUUM usage_events" # now, rather than autovacuum's while pages are measured
login big; login twin; login small; login root
median() { # cookie-name path → median seconds of RUNS sequential requests (after 2 warm-ups)
  local jar="$work/$1.cookies" path=$2
  for _ in 1 2; do curl -s -o /dev/null -b "$jar" "$base$path"; done
  for _ in $(seq "$RUNS"); do
    curl -s -o /dev/null -b "$jar" -w '%{time_total} %{size_download} %{http_code}\n' "$base$path"
  done | sort -n | awk -v runs="$RUNS" 'NR == int((runs + 1) / 2) { printf "%.1f ms  %d KB  (HTTP %s)", $1 * 1000, $2 / 1000, $3 }'
}
# Every page measured: who asks, and the path.
pages=$(cat <<PAGES
big /gallery
big /gallery?page=10000
small /gallery
big /gallery?q=fox
big /api/images?q=fox
big /gallery?q=lighthouse+storm
big /gallery?q=fox+dawn
big /gallery?sort=largest
big /gallery?sort=title
big /gallery?tag=tag7
big /gallery?folder=trip-2
big /gallery?folder=trip-2&sort=largest
big /gallery?favourites=1
big /gallery?sort=oldest&page=5000
big /images/150000?q=fox
big /images/150000
big /dashboard
small /explore?page=500
root /admin
root /admin/ips
root /admin/ips?sort=last
root /admin/ips?group=prefix
root /admin/ips?since=2026-11-01
root /admin/ips/198.18.0.0/16
root /admin/ips/198.18.3.7
root /admin/ips/198.18.0.0/16?after=$(date +%s)000000.j.500000
root /admin/users?q=198.18.0.9
PAGES
)
# Let the first clean-up (old usage events) finish.
sleep 15
echo
echo "| page | median | size |"
echo "|---|---:|---:|"
while read -r who path; do
  printf '| `%s` (%s) | %s |\n' "$path" "$who" "$(median "$who" "$path" | sed 's/  / | /; s/  (HTTP 200)//')"
done <<<"$pages"

echo
# The big library, its small twin (the same first page: 24 pictures, 21 folders, 50 tags)
# and the ten-picture account (a page of 10 pictures, one folder, one tag), in turn,
# GALLERY_ROUNDS times (4), after a few seconds of each (the first pass after the build
# otherwise meets pages that autovacuum and the index builds left cold); then each
# account's median over the rounds and the big account's against the others'. Rounds on
# this shared 2-core machine differ by up to a tenth, so one or two say little.
for who in big twin small; do
  wrk -t2 -c32 -d3s -H "Cookie: $(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/$who.cookies")" \
    "$base/gallery" >/dev/null
done
throughput=$(for _ in $(seq "${GALLERY_ROUNDS:-4}"); do for who in big twin small; do
  wrk -t2 -c32 -d8s -H "Cookie: $(awk '$6 == "atelier_session" { print $6 "=" $7 }' "$work/$who.cookies")" \
    "$base/gallery" | awk -v who="$who" '/Requests\/sec/ { rps = $2 } /Latency/ { lat = $2 } END { printf "gallery of %s: %s req/s (mean latency %s)\n", who, rps, lat }'
done; done)
echo "$throughput"
THROUGHPUT="$throughput" python3 - <<'PY'
import os, statistics
rates = {}
for line in os.environ["THROUGHPUT"].splitlines():
    words = line.split()
    rates.setdefault(words[2].rstrip(":"), []).append(float(words[3]))
big, twin, small = (statistics.median(rates[who]) for who in ("big", "twin", "small"))
rounds = " ".join(f"{b / s:.2f}" for b, s in zip(rates["big"], rates["small"]))
print(f"medians: big {big:.0f}, twin {twin:.0f}, small {small:.0f} req/s; "
      f"big/small {big / small:.2f} (rounds: {rounds}), big/twin {big / twin:.2f}")
PY

# The plans, from one more pass over the pages with auto_explain on (timing every plan
# node slows the statements it measures, so the medians above were taken without it).
psql_do -c "ALTER SYSTEM SET auto_explain.log_min_duration = 20" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
log_from=$(stat -c %s "$work/pg/log")
while read -r who path; do
  curl -s -o /dev/null -b "$work/$who.cookies" "$base$path"
done <<<"$pages"
psql_do -c "ALTER SYSTEM RESET auto_explain.log_min_duration" -c "SELECT pg_reload_conf()" >/dev/null
echo
echo "slowest statements PostgreSQL logged (auto_explain, > 20 ms), with their plans:"
python3 - "$work/pg/log" "$log_from" <<'PY'
import re, sys
with open(sys.argv[1], errors="replace") as log:
    log.seek(int(sys.argv[2]))
    text = log.read()
entries = re.split(r"\n(?=\S.*LOG:  duration: )", text)
plans = []
for entry in entries:
    m = re.search(r"LOG:  duration: ([\d.]+) ms  plan:", entry)
    if m:
        plans.append((float(m.group(1)), entry))
plans.sort(key=lambda p: -p[0])
seen = set()
for ms, entry in plans:
    query = re.search(r"Query Text: (.*)", entry)
    key = (query.group(1)[:120] if query else entry[:120])
    if key in seen:
        continue
    seen.add(key)
    print(f"--- {ms:.0f} ms")
    print("\n".join(entry.splitlines()[:40]))
    if len(seen) == 3:
        break
if not plans:
    print("(none over 20 ms)")
PY

echo
if [ -n "$KEEP" ]; then
  echo "purge-ips skipped: it would change the kept volume (run without KEEP to measure it)"
  exit 0
fi
# purge-ips over the jobs and usage events older than 7 days, with uploads meanwhile.
ffmpeg -loglevel error -f lavfi -i "testsrc2=s=640x480" -frames:v 1 "$work/up.jpg"
latency() { # file of seconds → count, median, p99, worst, how many over 100 ms
  sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%d uploads, median %.0f ms, p99 %.0f ms, worst %.0f ms, %d over 100 ms", NR, a[int((NR + 1) / 2)] * 1000, a[int(NR * 0.99)] * 1000, a[NR] * 1000, over } $1 > 0.1 { over++ }'
}
# First the uploads alone for 30 s, to compare with.
( end=$((SECONDS + 30)); while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -b "$work/small.cookies" -H "Origin: $base" -w '%{time_total}\n' -F "file=@$work/up.jpg" "$base/upload"
    sleep 0.05
  done ) > "$work/upload-alone"
echo "uploads alone: $(latency "$work/upload-alone")"
( while [ ! -f "$work/purged" ]; do
    curl -s -o /dev/null -b "$work/small.cookies" -H "Origin: $base" -w '%{time_total}\n' -F "file=@$work/up.jpg" "$base/upload"
    sleep 0.05
  done ) > "$work/upload-latency" & pids+=("$!")
sleep 1
purge_log_from=$(stat -c %s "$work/pg/log")
purge_started=$(date +%s.%N)
ATELIER_IP_RETENTION_DAYS=7 ATELIER_LOG=warn ./target/release/atelier purge-ips | tail -1
purge_ended=$(date +%s.%N)
touch "$work/purged"; sleep 0.5
echo "purge-ips took $(python3 -c "print(round($purge_ended - $purge_started, 1))") s; uploads meanwhile: $(latency "$work/upload-latency")"
# PostgreSQL logs every wait for a lock longer than deadlock_timeout (100 ms).
echo "lock waits over 100 ms while it ran: $(tail -c +$((purge_log_from + 1)) "$work/pg/log" | grep -c 'still waiting for' || true); checkpoints: $(tail -c +$((purge_log_from + 1)) "$work/pg/log" | grep -c 'checkpoint complete' || true)"
