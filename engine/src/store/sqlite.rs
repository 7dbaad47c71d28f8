//! SQLite store: one file in WAL mode with `synchronous=FULL`, one dedicated writer
//! connection, a small pool of readers.
//!
//! A batch is one multi-statement query (sqlx runs the statements in order on the writer
//! connection and hands each statement the next unnamed `?` arguments): `BEGIN IMMEDIATE`,
//! one statement per table reading a JSON array, `COMMIT`. Numbered `?N` parameters must
//! not be used there: sqlx counts the unused lower numbers as unnamed and stops binding. One round trip to SQLite's worker thread and one
//! fsync for any number of commands.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use tokio::sync::Mutex;

use super::outbox::OUTBOX_COLUMNS;
use super::rows::{CaseWrite, batch_json};
use super::{
    AccessEntry, ApiToken, Attempt, Backend, Broadcast, CaseCount, CaseSummary, DueTimer, Durability,
    NewDelivery, OrgFilter, OutboxCounts, OutboxItem, PathwaySummary, Result, RetryOutcome, StallRow,
    StoreError, StoredEvent, TaskFilter, TaskRow, User, UserRole, WorkFilter, attempt_columns, corrupt,
    retry_outcome, ts,
};
use crate::pathway::model::{Pathway, PathwayVersion};
use crate::runtime::CaseState;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// WAL pages after which a commit checkpoints (see [`SqliteStore::open`]).
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Mutex<SqliteConnection>,
    readers: SqlitePool,
}

// Each JSON row is turned into SQLite's binary JSONB once (a materialized CTE), so reading
// its columns does not re-parse the text for every column.
const COMMIT_BATCH: &str = r#"
BEGIN IMMEDIATE;
WITH s(j) AS (SELECT ?), r AS MATERIALIZED (SELECT key AS k, jsonb(value) AS v FROM json_each(?))
INSERT INTO cases (id, pathway_key, pathway_version, status, version, prev_version, state, last_command,
                   created_at, updated_at, outcome, ended_at, rung_first, rung_last, resident_id, business_key)
    SELECT v->>'id', v->>'pk', v->>'pv', v->>'status', v->>'version', v->>'expected',
           (SELECT j FROM s) ->> ('$[' || k || ']'), v->>'cmd', v->>'at', v->>'at',
           v->>'outcome', v->>'ended_at', v->>'rung_first', v->>'rung_last', v->>'resident', v->>'business_key'
    FROM r WHERE true
    ON CONFLICT (id) DO UPDATE SET
        pathway_version = excluded.pathway_version,
        status = excluded.status, version = excluded.version, prev_version = excluded.prev_version,
        state = excluded.state, last_command = excluded.last_command, updated_at = excluded.updated_at,
        outcome = excluded.outcome, ended_at = excluded.ended_at, rung_first = excluded.rung_first,
        rung_last = excluded.rung_last
    WHERE cases.version = excluded.prev_version
    RETURNING last_command;
WITH s(j) AS (SELECT ?), r AS MATERIALIZED (SELECT key AS k, jsonb(value) AS v FROM json_each(?))
INSERT INTO events (case_id, first_seq, event_count, at, actor, command, payload)
    SELECT v->>'case_id', v->>'seq', v->>'count', v->>'at', v->>'actor', v->>'command',
           (SELECT j FROM s) -> ('$[' || k || ']')
    FROM r
    WHERE EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'case_id' AND c.last_command = v->>'cmd');
WITH r AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?))
INSERT INTO tasks (case_id, task_id, step, role, roles, assignee, status, opened_at, due_at, closed_at,
                   pathway_key, pathway_version, title, at_step)
    SELECT v->>'case_id', v->>'task_id', v->>'step', v->>'role', v->'roles', v->>'assignee', v->>'status',
           v->>'opened_at', v->>'due_at', v->>'closed_at', v->>'pk', v->>'pv', v->>'title', v->>'at_step'
    FROM r
    WHERE EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'case_id' AND c.last_command = v->>'cmd')
    ON CONFLICT (case_id, task_id) DO UPDATE SET
        step = excluded.step, role = excluded.role, roles = excluded.roles,
        assignee = excluded.assignee, status = excluded.status, due_at = excluded.due_at,
        closed_at = excluded.closed_at, pathway_version = excluded.pathway_version;
WITH r AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?))
INSERT INTO timers (key, case_id, task_id, kind, due_at, status)
    SELECT v->>'key', v->>'case_id', v->>'task_id', v->>'kind', v->>'due_at', v->>'status'
    FROM r
    WHERE EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'case_id' AND c.last_command = v->>'cmd')
    ON CONFLICT (key) DO UPDATE SET
        status = excluded.status,
        due_at = iif(excluded.status = 'pending', excluded.due_at, timers.due_at),
        kind = iif(excluded.status = 'pending', excluded.kind, timers.kind),
        task_id = coalesce(excluded.task_id, timers.task_id),
        lease_owner = NULL, lease_until = NULL
    WHERE timers.status = 'pending' OR excluded.status = 'pending';
WITH r AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?))
INSERT INTO outbox (key, case_id, task_id, kind, recipient_type, recipient, created_at, status, next_attempt_at,
                    payload)
    SELECT v->>'key', v->>'case_id', v->>'task_id', v->>'kind', v->>'recipient_type', v->>'recipient',
           v->>'created_at', 'pending', v->>'created_at', json(v->'payload')
    FROM r
    WHERE EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'case_id' AND c.last_command = v->>'cmd')
    ON CONFLICT (key) DO NOTHING;
WITH r AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?))
INSERT INTO stalls (case_id, key, pathway_key, reason, step, party, since, raised_at, cleared_at)
    SELECT v->>'case_id', v->>'key', v->>'pathway_key', v->>'reason', v->>'step', v->>'party', v->>'since',
           v->>'raised_at', v->>'cleared_at'
    FROM r
    WHERE EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'case_id' AND c.last_command = v->>'cmd')
    ON CONFLICT (case_id, key) DO UPDATE SET
        reason = excluded.reason, step = excluded.step, party = excluded.party, since = excluded.since,
        raised_at = excluded.raised_at, cleared_at = excluded.cleared_at;
COMMIT;
"#;

/// The message of the fast commit's refusal when a case moved on (see [`FAST_COMMIT`]).
const CASE_CHANGED: &str = "doorloop: case changed";

/// The whole batch as one statement, so that the writer and sqlx's SQLite thread exchange
/// one message per commit instead of one per statement (each a thread wake-up, which cost
/// more than the SQL). Inserting into this per-connection view runs its trigger: every
/// write of [`COMMIT_BATCH`] in one atomic statement (autocommit). A case that moved on
/// aborts the statement (nothing written); the batch then goes the statement-by-statement
/// way, which writes the others and reports it.
const FAST_COMMIT_SETUP: &str = r#"
CREATE TEMP VIEW IF NOT EXISTS commit_batch (state_bytes, cases, payload_bytes, events, tasks, timers, outbox, stalls)
    AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL;
CREATE TEMP TABLE IF NOT EXISTS commit_rows (kind TEXT NOT NULL, v BLOB NOT NULL);
CREATE TEMP TRIGGER IF NOT EXISTS commit_batch_insert INSTEAD OF INSERT ON commit_batch
BEGIN
    -- The arrays arrive as binary JSON (parsed once, in FAST_COMMIT's VALUES); each row is
    -- cut out of its array as binary JSON too. json_each's `value` would turn a row back
    -- into text, and reading its columns would parse that text again.
    INSERT INTO commit_rows (kind, v)
        SELECT 'case', jsonb_extract(NEW.cases, fullkey) FROM json_each(NEW.cases)
        UNION ALL SELECT 'event', jsonb_extract(NEW.events, fullkey) FROM json_each(NEW.events)
        UNION ALL SELECT 'task', jsonb_extract(NEW.tasks, fullkey) FROM json_each(NEW.tasks)
        UNION ALL SELECT 'timer', jsonb_extract(NEW.timers, fullkey) FROM json_each(NEW.timers)
        UNION ALL SELECT 'outbox', jsonb_extract(NEW.outbox, fullkey) FROM json_each(NEW.outbox)
        UNION ALL SELECT 'stall', jsonb_extract(NEW.stalls, fullkey) FROM json_each(NEW.stalls);
    INSERT INTO cases (id, pathway_key, pathway_version, status, version, prev_version, state, last_command,
                       created_at, updated_at, outcome, ended_at, rung_first, rung_last, resident_id, business_key)
        SELECT v->>'id', v->>'pk', v->>'pv', v->>'status', v->>'version', v->>'expected',
               CAST(substr(NEW.state_bytes, v->>'so', v->>'sl') AS TEXT), v->>'cmd', v->>'at', v->>'at',
               v->>'outcome', v->>'ended_at', v->>'rung_first', v->>'rung_last', v->>'resident',
               v->>'business_key'
        FROM commit_rows WHERE kind = 'case'
        ON CONFLICT (id) DO UPDATE SET
            version = excluded.version, prev_version = excluded.prev_version,
            state = excluded.state, last_command = excluded.last_command, updated_at = excluded.updated_at
        WHERE cases.version = excluded.prev_version;
    SELECT RAISE(ABORT, 'doorloop: case changed') FROM commit_rows WHERE kind = 'case'
        AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = v->>'id' AND c.last_command = v->>'cmd');
    -- The indexed columns only where they change (most commands change none of them):
    -- SQLite rewrites an index entry whenever its column is in an UPDATE's SET list.
    UPDATE cases SET pathway_version = r.pv, status = r.status, outcome = r.outcome, ended_at = r.ended_at,
                     rung_first = r.rung_first, rung_last = r.rung_last
        FROM (SELECT v->>'id' AS id, v->>'pv' AS pv, v->>'status' AS status, v->>'outcome' AS outcome,
                     v->>'ended_at' AS ended_at, v->>'rung_first' AS rung_first,
                     v->>'rung_last' AS rung_last
              FROM commit_rows WHERE kind = 'case') AS r
        WHERE cases.id = r.id
          AND (cases.pathway_version IS NOT r.pv OR cases.status IS NOT r.status OR cases.outcome IS NOT r.outcome
               OR cases.ended_at IS NOT r.ended_at OR cases.rung_first IS NOT r.rung_first
               OR cases.rung_last IS NOT r.rung_last);
    INSERT INTO events (case_id, first_seq, event_count, at, actor, command, payload)
        SELECT v->>'case_id', v->>'seq', v->>'count', v->>'at', v->>'actor', v->>'command',
               CAST(substr(NEW.payload_bytes, v->>'po', v->>'pl') AS TEXT)
        FROM commit_rows WHERE kind = 'event';
    INSERT INTO tasks (case_id, task_id, step, role, roles, assignee, status, opened_at, due_at, closed_at,
                       pathway_key, pathway_version, title, at_step)
        SELECT v->>'case_id', v->>'task_id', v->>'step', v->>'role', v->'roles', v->>'assignee',
               v->>'status', v->>'opened_at', v->>'due_at', v->>'closed_at', v->>'pk', v->>'pv',
               v->>'title', v->>'at_step'
        FROM commit_rows WHERE kind = 'task'
        ON CONFLICT (case_id, task_id) DO UPDATE SET
            step = excluded.step, role = excluded.role, roles = excluded.roles,
            assignee = excluded.assignee, status = excluded.status, due_at = excluded.due_at,
            closed_at = excluded.closed_at, pathway_version = excluded.pathway_version;
    INSERT INTO timers (key, case_id, task_id, kind, due_at, status)
        SELECT v->>'key', v->>'case_id', v->>'task_id', v->>'kind', v->>'due_at', v->>'status'
        FROM commit_rows WHERE kind = 'timer'
        ON CONFLICT (key) DO UPDATE SET
            status = excluded.status,
            due_at = iif(excluded.status = 'pending', excluded.due_at, timers.due_at),
            kind = iif(excluded.status = 'pending', excluded.kind, timers.kind),
            task_id = coalesce(excluded.task_id, timers.task_id),
            lease_owner = NULL, lease_until = NULL
        WHERE timers.status = 'pending' OR excluded.status = 'pending';
    INSERT INTO outbox (key, case_id, task_id, kind, recipient_type, recipient, created_at, status, next_attempt_at,
                        payload)
        SELECT v->>'key', v->>'case_id', v->>'task_id', v->>'kind', v->>'recipient_type',
               v->>'recipient', v->>'created_at', 'pending', v->>'created_at', v->'payload'
        FROM commit_rows WHERE kind = 'outbox'
        ON CONFLICT (key) DO NOTHING;
    INSERT INTO stalls (case_id, key, pathway_key, reason, step, party, since, raised_at, cleared_at)
        SELECT v->>'case_id', v->>'key', v->>'pathway_key', v->>'reason', v->>'step',
               v->>'party', v->>'since', v->>'raised_at', v->>'cleared_at'
        FROM commit_rows WHERE kind = 'stall'
        ON CONFLICT (case_id, key) DO UPDATE SET
            reason = excluded.reason, step = excluded.step, party = excluded.party, since = excluded.since,
            raised_at = excluded.raised_at, cleared_at = excluded.cleared_at;
    DELETE FROM commit_rows;
END;
"#;

const FAST_COMMIT: &str =
    "INSERT INTO commit_batch VALUES (?, jsonb(?), ?, jsonb(?), jsonb(?), jsonb(?), jsonb(?), jsonb(?))";

impl SqliteStore {
    pub(super) fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// Opens (creating if needed) the database file and runs migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // The commit's staging table and the ephemeral b-trees of upserts live in memory,
            // not in a temporary file.
            .pragma("temp_store", "memory")
            // The commit that fills the WAL to this many pages copies them into the database
            // file (and syncs it) before it is answered. A command writes about 30 pages, so
            // SQLite's default of 1,000 made every 33rd command wait for a checkpoint;
            // 10,000 (a WAL of up to 40 MB) gave 18 % more commands per second and a third of
            // the p99 latency (BENCHMARKS.md, issue 13).
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES);
        let mut writer = SqliteConnection::connect_with(&options).await?;
        MIGRATOR.run(&mut writer).await?;
        Self::check_writable(&mut writer).await?;
        sqlx::raw_sql(FAST_COMMIT_SETUP).execute(&mut writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            // Readers serve the screens: a larger page cache keeps a busy work list off disk.
            .connect_with(options.read_only(true).pragma("cache_size", "-16384"))
            .await?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
        })
    }

    /// A database that opens but cannot be written (a read-only file or folder: SQLite
    /// then opens it for reading only) is found at start-up, not at the first command: one
    /// row is written and rolled back.
    async fn check_writable(conn: &mut SqliteConnection) -> Result<()> {
        let probe = async {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            sqlx::query("INSERT INTO sessions (id, data, expires_at) VALUES ('write-check', '{}', '1970-01-01T00:00:00Z')")
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        Self::rollback(conn).await;
        probe.map_err(|e| StoreError::NotWritable {
            message: e.to_string(),
        })
    }

    async fn rollback(conn: &mut SqliteConnection) {
        // After a failed batch the transaction may or may not be open; either is fine.
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            tracing::debug!(error = %e, "rollback after failed batch");
        }
    }
}

/// Columns of a task list row, decoded by [`task_row`]; the stall is the task's own or
/// the case's inactivity flag. The case's pathway comes from a covering index: reading
/// the (large) case rows made a work list several times slower.
const TASK_COLUMNS: &str =
    "SELECT t.case_id, t.task_id, t.step, t.role, t.roles, t.assignee, t.opened_at, t.due_at,
        c.pathway_key, c.pathway_version,
        (SELECT s.reason FROM stalls s WHERE s.case_id = t.case_id AND s.cleared_at IS NULL
           AND (s.key = 'task:' || t.task_id OR s.key = 'inactive') ORDER BY s.key DESC LIMIT 1) AS stall_reason,
        t.title
     FROM tasks t JOIN cases c INDEXED BY cases_pathway_of ON c.id = t.case_id";

fn task_row(r: &SqliteRow) -> Result<TaskRow> {
    let due: Option<String> = r.try_get(7)?;
    Ok(TaskRow {
        case_id: r.try_get(0)?,
        task_id: r.try_get(1)?,
        step: r.try_get(2)?,
        role: r.try_get(3)?,
        roles: serde_json::from_str(&r.try_get::<String, _>(4)?).map_err(|e| corrupt("task roles", e))?,
        assignee: r.try_get(5)?,
        opened_at: parse_ts("task time", &r.try_get::<String, _>(6)?)?,
        due_at: due.map(|d| parse_ts("task due time", &d)).transpose()?,
        pathway_key: r.try_get(8)?,
        pathway_version: u32::try_from(r.try_get::<i64, _>(9)?).map_err(|e| corrupt("pathway version", e))?,
        stall_reason: r.try_get(10)?,
        title: r.try_get(11)?,
    })
}

pub(super) fn parse_ts(what: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(what, e))
}

/// A stored time (TEXT in SQLite).
fn time_col(r: &SqliteRow, i: usize, what: &str) -> Result<DateTime<Utc>> {
    parse_ts(what, &r.try_get::<String, _>(i)?)
}

fn opt_time_col(r: &SqliteRow, i: usize, what: &str) -> Result<Option<DateTime<Utc>>> {
    r.try_get::<Option<String>, _>(i)?
        .map(|t| parse_ts(what, &t))
        .transpose()
}

impl SqliteStore {
    /// Where writes go: SQLite's one writer connection.
    async fn write_conn(&self) -> Result<tokio::sync::MutexGuard<'_, SqliteConnection>> {
        Ok(self.writer.lock().await)
    }
}

async fn insert_access(store: &SqliteStore, entries: &[AccessEntry]) -> Result<()> {
    // The one writer appends: the chain continues from the last row, in order.
    let mut conn = store.writer.lock().await;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let prev: Option<String> = sqlx::query_scalar(super::people::LAST_ACCESS_HASH)
        .fetch_optional(&mut *tx)
        .await?;
    let hashes = super::people::chain_hashes(prev, entries);
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .zip(&hashes)
        .map(|(e, h)| {
            serde_json::json!([
                ts(e.at),
                e.user_id,
                e.case_id,
                e.purpose,
                e.resident_id,
                e.detail,
                h
            ])
        })
        .collect();
    let json = serde_json::to_string(&rows).map_err(|e| corrupt("access log", e))?;
    sqlx::query(
        "INSERT INTO access_log (at, user_id, case_id, purpose, resident_id, detail, hash)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
         FROM json_each(?1) ORDER BY CAST(key AS INTEGER)",
    )
    .bind(json)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn claim_outbox(
    store: &SqliteStore,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxItem>> {
    let mut conn = store.writer.lock().await;
    let rows = sqlx::query(&format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = ?1, lease_until = ?2
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?3
                      UNION ALL
                      SELECT id FROM outbox WHERE status = 'sending' AND lease_until < ?3
                      LIMIT ?4)
         RETURNING {OUTBOX_COLUMNS}"
    ))
    .bind(owner)
    .bind(ts(lease_until))
    .bind(ts(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut items = rows.iter().map(outbox_item).collect::<Result<Vec<_>>>()?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

async fn expand_intents(
    store: &SqliteStore,
    owner: &str,
    expansions: &[(i64, Vec<NewDelivery>)],
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut conn = store.writer.lock().await;
    let mut tx = conn.begin().await?;
    let mut expanded = 0;
    for (intent_id, deliveries) in expansions {
        let json = serde_json::to_string(deliveries).map_err(|e| corrupt("deliveries", e))?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'expanded', sent_at = ?3, lease_owner = NULL, lease_until = NULL,
             last_error = NULL
         WHERE id = ?1 AND status = 'sending' AND lease_owner = ?2",
        )
        .bind(intent_id)
        .bind(owner)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            continue;
        }
        expanded += 1;
        sqlx::query(
            "INSERT INTO outbox (key, parent, case_id, task_id, kind, recipient_type, recipient, channel, payload,
                             created_at, status, next_attempt_at, message_id)
         SELECT d.value->>'key', i.key, i.case_id, i.task_id, i.kind, d.value->>'recipient_type',
                d.value->>'recipient', d.value->>'channel', json(d.value->'payload'), ?2, 'pending', ?2,
                d.value->>'message_id'
         FROM outbox i, json_each(?3) d
         WHERE i.id = ?1
         ON CONFLICT (key) DO NOTHING",
        )
        .bind(intent_id)
        .bind(ts(now))
        .bind(json)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(expanded)
}

async fn finish_attempts(
    store: &SqliteStore,
    owner: &str,
    outcomes: &[(i64, Attempt)],
    now: DateTime<Utc>,
) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut conn = store.writer.lock().await;
    let mut tx = conn.begin().await?;
    for (id, outcome) in outcomes {
        let (status, next, error) = attempt_columns(outcome, now);
        sqlx::query(
            "UPDATE outbox SET status = ?3, next_attempt_at = coalesce(?4, next_attempt_at), last_error = ?5,
                 sent_at = iif(?3 = 'sent', ?6, sent_at), lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND status = 'sending' AND lease_owner = ?2",
        )
        .bind(id)
        .bind(owner)
        .bind(status)
        .bind(next.map(ts))
        .bind(error)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How a JSON text parameter is written into a JSON column.
const JSONB: &str = "";

use super::sqlite_insight::stall_summary;

/// Seconds from `{from}` to `{to}` (two time columns) as a float.
const SECONDS_BETWEEN: &str = "(julianday({to}) - julianday({from})) * 86400.0";
/// The row lock of a read that a write in the same transaction depends on.
const LOCK_ROW: &str = "";

/// Whether the JSON array of roles `{roles}` holds the bound role `{role}`.
const HAS_ROLE: &str = "EXISTS (SELECT 1 FROM json_each({roles}) WHERE value = {role})";
/// Whether the JSON array of roles `{roles}` shares a role with the bound list `{list}`.
const ROLES_OVERLAP: &str =
    "EXISTS (SELECT 1 FROM json_each({roles}) r JOIN json_each({list}) m ON m.value = r.value)";

/// A list of strings as SQLite binds it: a JSON array.
fn string_list(items: &[String]) -> Result<String> {
    serde_json::to_string(items).map_err(|e| corrupt("list", e))
}

/// The next resident number: SQLite has one writer, so the highest plus one is free.
const NEXT_RESIDENT_NUMBER: &str = "(SELECT COALESCE(MAX(number), 0) + 1 FROM residents)";

super::backend_impls!(SqliteStore, SqliteRow, SqliteConnection, sqlx::Sqlite);

const BACKEND: Backend = Backend::Sqlite;

async fn durability(store: &SqliteStore) -> Result<Durability> {
    let mut conn = store.writer.lock().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Durability {
        settings: vec![
            (
                "journal_mode".into(),
                mode.clone(),
                mode.eq_ignore_ascii_case("wal"),
            ),
            ("synchronous".into(), sync.to_string(), sync >= 2),
        ],
    })
}

async fn commit(store: &SqliteStore, writes: &[CaseWrite]) -> Result<Vec<bool>> {
    let json = batch_json(writes).map_err(|e| corrupt("batch", e))?;
    let mut conn = store.writer.lock().await;
    // Both statements take the batch in the same order; only how states and payloads
    // travel differs (cut out of bytes by offset, or JSON arrays).
    macro_rules! batch {
        ($sql:expr, $states:expr, $payloads:expr) => {
            sqlx::query($sql)
                .bind($states)
                .bind(json.cases.as_str())
                .bind($payloads)
                .bind(json.events.as_str())
                .bind(json.tasks.as_str())
                .bind(json.timers.as_str())
                .bind(json.outbox.as_str())
                .bind(json.stalls.as_str())
        };
    }
    let fast = batch!(
        FAST_COMMIT,
        json.state_bytes.as_slice(),
        json.payload_bytes.as_slice()
    );
    match fast.execute(&mut *conn).await {
        Ok(_) => return Ok(vec![true; writes.len()]),
        Err(sqlx::Error::Database(e)) if e.message().contains(CASE_CHANGED) => {}
        Err(e) => return Err(e.into()),
    }
    // Unnamed `?` are numbered in text order: states before rows in the case and event
    // statements.
    let result = batch!(COMMIT_BATCH, json.states(), json.payloads())
        .fetch_all(&mut *conn)
        .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            SqliteStore::rollback(&mut conn).await;
            return Err(e.into());
        }
    };
    let landed: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect();
    Ok(writes.iter().map(|w| landed.contains(&w.command_id)).collect())
}

async fn claim_due_timers(
    store: &SqliteStore,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueTimer>> {
    let mut conn = store.writer.lock().await;
    let rows = sqlx::query(
        "UPDATE timers SET lease_owner = ?1, lease_until = ?2
         WHERE key IN (SELECT key FROM timers
                       WHERE status = 'pending' AND due_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3)
                       ORDER BY due_at LIMIT ?4)
         RETURNING key, case_id",
    )
    .bind(owner)
    .bind(ts(lease_until))
    .bind(ts(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueTimer {
                key: r.try_get(0)?,
                case_id: r.try_get(1)?,
            })
        })
        .collect()
}

async fn work_list(store: &SqliteStore, filter: &WorkFilter) -> Result<Vec<TaskRow>> {
    let teams = serde_json::to_string(&filter.teams).map_err(|e| corrupt("teams", e))?;
    let due_before = filter.due_before.map(ts);
    let want = i64::from(filter.offset.saturating_add(filter.limit));
    // Four index walks in due order, each cut at what the page needs: my tasks and my
    // teams' unassigned ones, with a deadline and without; one statement, merged below.
    let walks: Vec<(bool, bool)> = [(true, true), (true, false), (false, true), (false, false)]
        .into_iter()
        .filter(|(mine, _)| {
            if *mine {
                filter.scope.includes_mine()
            } else {
                filter.scope.includes_team()
            }
        })
        .collect();
    let org = super::chain::org_sees_case("c.id", "c.resident_id", "?", "?");
    let org_id = filter.organisation.as_ref().map(|o| o.organisation.as_str());
    let municipality = filter.organisation.as_ref().is_some_and(|o| o.municipality);
    let mut parts = Vec::new();
    for &(mine, dated) in &walks {
        let who = if mine {
            "t.assignee = ?"
        } else {
            "t.assignee IS NULL AND EXISTS (SELECT 1 FROM json_each(t.roles) r JOIN json_each(?) m ON m.value = r.value)"
        };
        let due = if dated {
            "t.due_at IS NOT NULL AND (? IS NULL OR t.due_at < ?)"
        } else {
            "t.due_at IS NULL AND ? IS NULL"
        };
        parts.push(format!(
            "SELECT * FROM ({TASK_COLUMNS} WHERE t.status = 'open' AND {who} AND {due}
               AND (? IS NULL OR EXISTS (SELECT 1 FROM json_each(t.roles) WHERE value = ?))
               AND (? IS NULL OR c.pathway_key = ?)
               AND {org}
             ORDER BY t.due_at LIMIT ?)"
        ));
    }
    // One row back: sqlx hands every result row across threads, which costs more than
    // SQLite's work here; the page travels as one JSON array instead.
    let sql = format!(
        "SELECT json_group_array(json_array(case_id, task_id, step, role, json(roles), assignee, opened_at,
                                            due_at, pathway_key, pathway_version, stall_reason, title))
         FROM ({})",
        parts.join(" UNION ALL ")
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for &(mine, dated) in &walks {
        q = if mine {
            q.bind(&filter.user)
        } else {
            q.bind(&teams)
        };
        q = q.bind(due_before.as_deref());
        if dated {
            q = q.bind(due_before.as_deref());
        }
        q = q
            .bind(filter.role.as_deref())
            .bind(filter.role.as_deref())
            .bind(filter.pathway.as_deref())
            .bind(filter.pathway.as_deref())
            // org_sees_case's placeholders, in their order: o, o, g, o.
            .bind(org_id)
            .bind(org_id)
            .bind(municipality)
            .bind(org_id)
            .bind(want);
    }
    let json = q.fetch_one(&store.readers).await?;
    type Packed = (
        String,
        String,
        String,
        String,
        Vec<String>,
        Option<String>,
        String,
        Option<String>,
        String,
        u32,
        Option<String>,
        Option<String>,
    );
    let packed: Vec<Packed> = serde_json::from_str(&json).map_err(|e| corrupt("work list", e))?;
    let mut rows = Vec::with_capacity(packed.len());
    for (
        case_id,
        task_id,
        step,
        role,
        roles,
        assignee,
        opened,
        due,
        pathway_key,
        pathway_version,
        stall,
        title,
    ) in packed
    {
        rows.push(TaskRow {
            case_id,
            task_id,
            step,
            role,
            roles,
            assignee,
            opened_at: parse_ts("task time", &opened)?,
            due_at: due.map(|d| parse_ts("task due time", &d)).transpose()?,
            pathway_key,
            pathway_version,
            stall_reason: stall,
            title,
        });
    }
    Ok(super::page_of_work(rows, filter))
}
