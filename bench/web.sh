#!/usr/bin/env bash
# Load test of the web admin (BENCHMARKS.md): 100,000 cases and 300 consultants in a
# SQLite store; 50 logged-in consultants at once on "Mijn taken" (default page of 25 and
# the largest page of 100) and on case pages, with
# wrk on loopback. Usage: bench/web.sh [WORKDIR] (the seeded database is kept and reused).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/doorloop-web-bench}
CASES=${CASES:-100000}
CONSULTANTS=${CONSULTANTS:-300}
DURATION=${DURATION:-30s}
PORT=${PORT:-18181}
mkdir -p "$WORK"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
BIN=$PWD/target/release/doorloop
# DATABASE_URL=postgres://… measures PostgreSQL instead of the SQLite file.
export DOORLOOP_DATABASE_URL="${DATABASE_URL:-sqlite://$WORK/bench.db}"
if [ ! -f "$WORK/creds.txt" ]; then
    "$BIN" seed --cases "$CASES" --consultants "$CONSULTANTS" --credentials "$WORK/creds.txt"
fi
# No scheduler: the seeded history leaves thousands of timers due, and their catch-up
# would be measured instead of the pages.
"$BIN" serve --no-scheduler --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/inloggen" && break; sleep 0.2; done

# Log the 50 consultants in (the login throttle allows 30 quick logins per address, then
# one every 2 seconds).
echo "return {" >"$WORK/sessions.lua"
while read -r user password cases; do
    jar="$WORK/jar-$user"
    rm -f "$jar"
    while true; do
        csrf=$(curl -s -c "$jar" -b "$jar" "http://127.0.0.1:$PORT/inloggen" | grep -o 'name="_csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//;s/"//')
        code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
            --data-urlencode "_csrf=$csrf" --data-urlencode "gebruikersnaam=$user" \
            --data-urlencode "wachtwoord=$password" "http://127.0.0.1:$PORT/inloggen")
        [ "$code" = 303 ] && break
        [ "$code" = 429 ] || { echo "login of $user failed: $code" >&2; exit 1; }
        sleep 2
    done
    cookie=$(awk '$6 == "doorloop_sessie" {print $7}' "$jar")
    list=$(for c in $cases; do printf '"%s",' "$c"; done)
    echo "  { cookie = \"doorloop_sessie=$cookie\", cases = { $list } }," >>"$WORK/sessions.lua"
done <"$WORK/creds.txt"
echo "}" >>"$WORK/sessions.lua"

cat >"$WORK/load.lua" <<LUA
local sessions = dofile("$WORK/sessions.lua")
local mode = os.getenv("MODE")
local n = 0
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  n = n + 1
  local s = sessions[(n % #sessions) + 1]
  local path = "/taken"
  if mode == "tasks100" then path = "/taken?per=100" end
  if mode == "case" then path = "/casussen/" .. s.cases[(math.floor(n / #sessions) % #s.cases) + 1] end
  return wrk.format("GET", path, { ["Cookie"] = s.cookie })
end
function response(status) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("not-200 responses: %d\n", total))
end
LUA
for mode in tasks tasks100 case; do
    echo "== $mode pages, 50 connections, $DURATION =="
    MODE=$mode wrk -t2 -c50 -d"$DURATION" --latency -s "$WORK/load.lua" "http://127.0.0.1:$PORT/"
done
echo "peak RSS of doorloop serve: $(grep VmHWM /proc/$SERVER/status | awk '{print $2/1024 " MB"}')"
