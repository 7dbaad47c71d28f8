#!/usr/bin/env bash
# Digest benchmark (BENCHMARKS.md): render and deliver the daily digest through a real SMTP
# server on loopback (Debian's python3-aiosmtpd, tests/support/smtp_sink.py in raw mode).
# Seeds 160,000 cases and 20,000 consultants (8 teams; about 11,000 of them hold due work
# and get a digest), then runs `doorloop digest send` thirty days on, when every deadline has
# passed. Prints messages/s and the peak RSS of that process.
# Usage: bench/notify.sh [WORKDIR] (the seed is kept and reused).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/doorloop-notify-bench}
CASES=${CASES:-160000}
CONSULTANTS=${CONSULTANTS:-20000}
PORT=${PORT:-18225}
mkdir -p "$WORK"
/usr/bin/python3 -c "import aiosmtpd" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null
}
cargo build --release -q
BIN=$PWD/target/release/doorloop
export DOORLOOP_DATABASE_URL="${DATABASE_URL:-sqlite://$WORK/bench.db}"
if [ ! -f "$WORK/creds.txt" ]; then
    "$BIN" seed --cases "$CASES" --consultants "$CONSULTANTS" --credentials "$WORK/creds.txt"
fi
if [ -z "${DATABASE_URL:-}" ] && [ ! -f "$WORK/drained.db" ]; then
    # The seeded history left messages in the outbox (task opened, deadlines, …); they are
    # not what is measured here, so they are marked sent before the snapshot.
    /usr/bin/python3 - "$WORK/bench.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("UPDATE outbox SET status = 'sent' WHERE status = 'pending'").rowcount
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"{n} seeded messages marked sent")
PY
    cp "$WORK/bench.db" "$WORK/drained.db"
fi
# Each run starts from the same state, in which today's digest has not gone out yet.
if [ -f "$WORK/drained.db" ]; then
    cp "$WORK/drained.db" "$WORK/bench.db" && rm -f "$WORK/bench.db-wal" "$WORK/bench.db-shm"
fi
rm -f "$WORK/received.jsonl"
/usr/bin/python3 tests/support/smtp_sink.py "$PORT" "$WORK/received.jsonl" --raw >"$WORK/sink.log" 2>&1 &
SINK=$!
trap 'kill $SINK 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q ready "$WORK/sink.log" 2>/dev/null && break; sleep 0.1; done
# Thirty days on, every task with a deadline is overdue: each consultant with work gets one.
NOW=$(date -u -d '+30 days' +%Y-%m-%dT08:00:00Z)
"$BIN" --smtp-url "smtp://127.0.0.1:$PORT" --notify-concurrency "${CONCURRENCY:-32}" digest send --now "$NOW"
echo "received by the SMTP server: $(wc -l <"$WORK/received.jsonl")"
