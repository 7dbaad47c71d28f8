#!/usr/bin/env bash
# Load test of the managers' figures screens (BENCHMARKS.md): 100,000 cases with about
# 2,000,000 events of history; the stuck view, the bottleneck view (page and graph) and
# the outcome and funnel screens under wrk, 4 managers at once, p50/p95/p99.
# Usage: bench/figures.sh [WORKDIR]; DATABASE_URL=postgres://… measures PostgreSQL.
# The seeded database is kept and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/doorloop-figures-bench}
CASES=${CASES:-100000}
MOVES=${MOVES:-10}
DURATION=${DURATION:-30s}
PORT=${PORT:-18182}
mkdir -p "$WORK"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
BIN=$PWD/target/release/doorloop
export DOORLOOP_DATABASE_URL="${DATABASE_URL:-sqlite://$WORK/bench.db}"
if [ ! -f "$WORK/creds.manager" ]; then
    /usr/bin/time -v "$BIN" seed --cases "$CASES" --consultants 300 --moves "$MOVES" --catch-up \
        --credentials "$WORK/creds.txt" 2>"$WORK/seed.time"
    grep -E "cases in|timers fired|Maximum resident" "$WORK/seed.time" || true
fi
case "$DOORLOOP_DATABASE_URL" in
  sqlite:*) python3 - "$WORK/bench.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
q = lambda s: db.execute(s).fetchone()[0]
print(f"data: cases={q('SELECT count(*) FROM cases')} events={q('SELECT sum(event_count) FROM events')} "
      f"tasks={q('SELECT count(*) FROM tasks')} open_stalls={q('SELECT count(*) FROM stalls WHERE cleared_at IS NULL')} "
      f"step_stats_rows={q('SELECT count(*) FROM step_stats')}")
PY
  ;;
  postgres*)
    # This machine's PostgreSQL runs with autovacuum off; a production server vacuums and
    # analyses by itself. Without it, the freshly seeded tables (every case row rewritten
    # about ten times) have no statistics and no visibility map.
    [ "$(psql "$DOORLOOP_DATABASE_URL" -Atc 'SHOW autovacuum')" = on ] || psql "$DOORLOOP_DATABASE_URL" -qc "VACUUM ANALYZE"
    psql "$DOORLOOP_DATABASE_URL" -Atc "SELECT 'data: cases=' || (SELECT count(*) FROM cases) || ' events=' || (SELECT sum(event_count) FROM events) || ' tasks=' || (SELECT count(*) FROM tasks) || ' open_stalls=' || (SELECT count(*) FROM stalls WHERE cleared_at IS NULL) || ' step_stats_rows=' || (SELECT count(*) FROM step_stats)" ;;
esac
"$BIN" serve --no-scheduler --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/inloggen" && break; sleep 0.2; done
read -r user password <"$WORK/creds.manager"
jar="$WORK/jar-manager"
rm -f "$jar"
csrf=$(curl -s -c "$jar" -b "$jar" "http://127.0.0.1:$PORT/inloggen" | grep -o 'name="_csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//;s/"//')
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" --data-urlencode "_csrf=$csrf" \
    --data-urlencode "gebruikersnaam=$user" --data-urlencode "wachtwoord=$password" "http://127.0.0.1:$PORT/inloggen")
[ "$code" = 303 ] || { echo "manager login failed: $code" >&2; exit 1; }
cookie="doorloop_sessie=$(awk '$6 == "doorloop_sessie" {print $7}' "$jar")"
# The last twelve months, the default period of the screens.
Q="traject=van-zorg-naar-werk"
cat >"$WORK/figures.lua" <<LUA
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request() return wrk.format("GET", os.getenv("PATHQ"), { ["Cookie"] = "$cookie" }) end
function response(status) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("requests=%d req_per_s=%.1f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f not_200=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, total))
end
LUA
for page in "/vastgelopen" "/analyse/knelpunten?$Q" "/analyse/knelpunten/graaf.svg?$Q&versie=1" \
            "/analyse/uitkomsten?$Q" "/analyse/instroom?$Q"; do
    echo "== $page, 4 connections, $DURATION =="
    PATHQ="$page" wrk -t2 -c4 -d"$DURATION" -s "$WORK/figures.lua" "http://127.0.0.1:$PORT/" | tail -n 1
done
echo "peak RSS of doorloop serve: $(grep VmHWM /proc/$SERVER/status | awk '{print $2/1024 " MB"}')"
