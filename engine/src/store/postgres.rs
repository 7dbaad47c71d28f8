//! PostgreSQL store, for several Doorloop processes sharing one database.
//!
//! A batch is one statement: data-modifying CTEs insert or update the cases (checking the
//! expected version), and every other table's rows are filtered by the command ids that
//! landed. One statement is one implicit transaction and one WAL flush.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use tokio::sync::Mutex;

use super::outbox::OUTBOX_COLUMNS;
use super::rows::{BatchJson, CaseWrite, batch_json};
use super::{
    AccessEntry, ApiToken, Attempt, Backend, Broadcast, CaseCount, CaseSummary, DueTimer, Durability,
    NewDelivery, OrgFilter, OutboxCounts, OutboxItem, PathwaySummary, Result, RetryOutcome, StallRow,
    StoreError, StoredEvent, TaskFilter, TaskRow, User, UserRole, WorkFilter, attempt_columns, corrupt,
    retry_outcome,
};
use crate::pathway::model::{Pathway, PathwayVersion};
use crate::runtime::CaseState;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    writer: Mutex<PgConnection>,
    /// How to connect again when the writer's connection is lost (the database restarted,
    /// the network between was cut).
    options: PgConnectOptions,
    readers: PgPool,
    /// Connections that always use generic plans, for the work-list statement.
    lists: PgPool,
}

const COMMIT_BATCH: &str = r#"
WITH w AS (
    -- The states travel in their own array; joining on position parses it once (indexing
    -- into the parameter per row would parse it once per row).
    SELECT x.*, s.state
    FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (
        id text, pk text, pv int, status text, version bigint, expected bigint, cmd text, at timestamptz,
        outcome text, ended_at timestamptz, rung_first smallint, rung_last smallint, resident text,
        business_key text))
        WITH ORDINALITY AS x(id, pk, pv, status, version, expected, cmd, at, outcome, ended_at, rung_first,
                             rung_last, resident, business_key, n)
    JOIN jsonb_array_elements($2::jsonb) WITH ORDINALITY AS s(state, n) USING (n)
), ok AS (
    INSERT INTO cases AS c (id, pathway_key, pathway_version, status, version, prev_version, state, last_command,
                            created_at, updated_at, outcome, ended_at, rung_first, rung_last, resident_id,
                            business_key)
    SELECT id, pk, pv, status, version, expected, state, cmd, at, at, outcome, ended_at, rung_first, rung_last,
           resident, business_key
    FROM w
    ON CONFLICT (id) DO UPDATE SET
        pathway_version = excluded.pathway_version,
        status = excluded.status, version = excluded.version, prev_version = excluded.prev_version,
        state = excluded.state, last_command = excluded.last_command, updated_at = excluded.updated_at,
        outcome = excluded.outcome, ended_at = excluded.ended_at, rung_first = excluded.rung_first,
        rung_last = excluded.rung_last
    WHERE c.version = excluded.prev_version
    RETURNING c.last_command AS cmd
), ev AS (
    INSERT INTO events (case_id, first_seq, event_count, at, actor, command, payload)
    SELECT e.case_id, e.seq, e.count, e.at, e.actor, e.command, p.payload
    FROM ROWS FROM (jsonb_to_recordset($3::jsonb) AS (
        case_id text, cmd text, seq bigint, count int, at timestamptz, actor text, command text))
        WITH ORDINALITY AS e(case_id, cmd, seq, count, at, actor, command, n)
    JOIN jsonb_array_elements($4::jsonb) WITH ORDINALITY AS p(payload, n) USING (n)
    WHERE e.cmd IN (SELECT cmd FROM ok)
), tk AS (
    INSERT INTO tasks (case_id, task_id, step, role, roles, assignee, status, opened_at, due_at, closed_at,
                       pathway_key, pathway_version, title, at_step)
    SELECT case_id, task_id, step, role, roles, assignee, status, opened_at, due_at, closed_at, pk, pv, title, at_step
    FROM jsonb_to_recordset($5::jsonb) AS t(
        case_id text, cmd text, task_id text, step text, role text, roles jsonb, assignee text, status text,
        opened_at timestamptz, due_at timestamptz, closed_at timestamptz, pk text, pv int, title text, at_step text)
    WHERE t.cmd IN (SELECT cmd FROM ok)
    ON CONFLICT (case_id, task_id) DO UPDATE SET
        step = excluded.step, role = excluded.role, roles = excluded.roles,
        assignee = excluded.assignee, status = excluded.status, due_at = excluded.due_at, closed_at = excluded.closed_at,
        pathway_version = excluded.pathway_version
), tm AS (
    INSERT INTO timers AS tt (key, case_id, task_id, kind, due_at, status)
    SELECT key, case_id, task_id, kind, due_at, status
    FROM jsonb_to_recordset($6::jsonb) AS t(
        case_id text, cmd text, key text, task_id text, kind text, due_at timestamptz, status text)
    WHERE t.cmd IN (SELECT cmd FROM ok)
    ON CONFLICT (key) DO UPDATE SET
        status = excluded.status,
        due_at = CASE WHEN excluded.status = 'pending' THEN excluded.due_at ELSE tt.due_at END,
        kind = CASE WHEN excluded.status = 'pending' THEN excluded.kind ELSE tt.kind END,
        task_id = coalesce(excluded.task_id, tt.task_id),
        lease_owner = NULL, lease_until = NULL
    WHERE tt.status = 'pending' OR excluded.status = 'pending'
), ob AS (
    INSERT INTO outbox (key, case_id, task_id, kind, recipient_type, recipient, created_at, status, next_attempt_at,
                        payload)
    SELECT key, case_id, task_id, kind, recipient_type, recipient, created_at, 'pending', created_at, payload
    FROM jsonb_to_recordset($7::jsonb) AS o(
        case_id text, cmd text, key text, task_id text, kind text, recipient_type text, recipient text,
        created_at timestamptz, payload jsonb)
    WHERE o.cmd IN (SELECT cmd FROM ok)
    ON CONFLICT (key) DO NOTHING
), st AS (
    INSERT INTO stalls (case_id, key, pathway_key, reason, step, party, since, raised_at, cleared_at)
    SELECT case_id, key, pathway_key, reason, step, party, since, raised_at, cleared_at
    FROM jsonb_to_recordset($8::jsonb) AS s(
        case_id text, cmd text, key text, pathway_key text, reason text, step text, party text,
        since timestamptz, raised_at timestamptz, cleared_at timestamptz)
    WHERE s.cmd IN (SELECT cmd FROM ok)
    ON CONFLICT (case_id, key) DO UPDATE SET
        reason = excluded.reason, step = excluded.step, party = excluded.party, since = excluded.since,
        raised_at = excluded.raised_at, cleared_at = excluded.cleared_at
)
SELECT cmd FROM ok
"#;

impl PostgresStore {
    pub(super) fn readers(&self) -> &PgPool {
        &self.readers
    }

    /// Connects, optionally inside `schema` (created if missing), and runs migrations.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<PostgresStore> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            let mut admin = PgConnection::connect_with(&options).await?;
            sqlx::query(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            ))
            .execute(&mut admin)
            .await?;
            admin.close().await?;
            options = options.options([("search_path", schema)]);
        }
        // No JIT: its compile time (0.7 s measured on the consultant's resident search once
        // the chain's rule made the estimate cross jit_above_cost) dwarfs the short
        // statements of a case system.
        let options = options.options([("jit", "off")]);
        let mut writer = PgConnection::connect_with(&options).await?;
        MIGRATOR.run(&mut writer).await?;
        // A request waits at most a few seconds for a connection: with the database away it
        // answers "unavailable" (503) soon, instead of hanging.
        let readers = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // Work lists: one statement of four index walks whose custom plans take ~2 ms to
        // make (ten times their execution); its generic plan uses the same indexes.
        let lists = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .options([("plan_cache_mode", "force_generic_plan")]),
            )
            .await?;
        Ok(PostgresStore {
            writer: Mutex::new(writer),
            options,
            readers,
            lists,
        })
    }

    /// Drops a schema made by [`PostgresStore::open`] (benchmarks and tests clean up).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        let mut admin = PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?;
        sqlx::query(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            schema.replace('"', "")
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// Columns of a task list row, decoded by [`task_row`]; the stall is the task's own or
/// the case's inactivity flag.
const TASK_COLUMNS: &str =
    "SELECT t.case_id, t.task_id, t.step, t.role, t.roles::text, t.assignee, t.opened_at,
        t.due_at, c.pathway_key, c.pathway_version,
        (SELECT s.reason FROM stalls s WHERE s.case_id = t.case_id AND s.cleared_at IS NULL
           AND (s.key = 'task:' || t.task_id OR s.key = 'inactive') ORDER BY s.key DESC LIMIT 1) AS stall_reason,
        t.title
     FROM tasks t JOIN cases c ON c.id = t.case_id";

fn task_row(r: &PgRow) -> Result<TaskRow> {
    Ok(TaskRow {
        case_id: r.try_get(0)?,
        task_id: r.try_get(1)?,
        step: r.try_get(2)?,
        role: r.try_get(3)?,
        roles: serde_json::from_str(&r.try_get::<String, _>(4)?).map_err(|e| corrupt("task roles", e))?,
        assignee: r.try_get(5)?,
        opened_at: r.try_get(6)?,
        due_at: r.try_get(7)?,
        pathway_key: r.try_get(8)?,
        pathway_version: u32::try_from(r.try_get::<i32, _>(9)?).map_err(|e| corrupt("pathway version", e))?,
        stall_reason: r.try_get(10)?,
        title: r.try_get(11)?,
    })
}

/// A time as PostgreSQL binds it (TIMESTAMPTZ).
fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

fn time_col(r: &PgRow, i: usize, _what: &str) -> Result<DateTime<Utc>> {
    Ok(r.try_get(i)?)
}

fn opt_time_col(r: &PgRow, i: usize, _what: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(r.try_get(i)?)
}

impl PostgresStore {
    /// Where writes outside the commit batch go: a pool connection.
    async fn write_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.readers.acquire().await?)
    }
}

/// Serialises the appends of every process to the access log's chain.
const ACCESS_CHAIN_LOCK: i64 = 0x0d00_7100_0ac0;

async fn insert_access(store: &PostgresStore, entries: &[AccessEntry]) -> Result<()> {
    // Several processes append: one at a time (a transaction-scoped advisory lock), the
    // chain continuing from the last row, ids in the order of the batch.
    let mut tx = store.readers.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ACCESS_CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let prev: Option<String> = sqlx::query_scalar(super::people::LAST_ACCESS_HASH)
        .fetch_optional(&mut *tx)
        .await?;
    let hashes = super::people::chain_hashes(prev, entries);
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .zip(&hashes)
        .enumerate()
        .map(|(n, (e, h))| {
            // Whole microseconds, as the column keeps them and the hash counts them
            // (PostgreSQL would round the nanoseconds instead).
            serde_json::json!({"at": chrono::SubsecRound::trunc_subsecs(e.at, 6), "user_id": e.user_id, "case_id": e.case_id, "purpose": e.purpose,
                               "resident_id": e.resident_id, "detail": e.detail, "hash": h, "n": n})
        })
        .collect();
    let json = serde_json::to_string(&rows).map_err(|e| corrupt("access log", e))?;
    sqlx::query(
        "INSERT INTO access_log (at, user_id, case_id, purpose, resident_id, detail, hash)
         SELECT at, user_id, case_id, purpose, resident_id, detail, hash
         FROM jsonb_to_recordset($1::jsonb)
              AS x(at timestamptz, user_id text, case_id text, purpose text, resident_id text, detail text, hash text, n bigint)
         ORDER BY n",
    )
    .bind(json)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn claim_outbox(
    store: &PostgresStore,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxItem>> {
    // SKIP LOCKED: several workers share the outbox without waiting for each other.
    let rows = sqlx::query(&format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = $1, lease_until = $2
         WHERE id IN (SELECT id FROM outbox
                      WHERE (status = 'pending' AND next_attempt_at <= $3)
                         OR (status = 'sending' AND lease_until < $3)
                      ORDER BY next_attempt_at LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING {OUTBOX_COLUMNS}"
    ))
    .bind(owner)
    .bind(lease_until)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&store.readers)
    .await?;
    let mut items = rows.iter().map(outbox_item).collect::<Result<Vec<_>>>()?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

async fn expand_intents(
    store: &PostgresStore,
    owner: &str,
    expansions: &[(i64, Vec<NewDelivery>)],
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut tx = store.readers.begin().await?;
    let mut expanded = 0;
    for (intent_id, deliveries) in expansions {
        let json = serde_json::to_string(deliveries).map_err(|e| corrupt("deliveries", e))?;
        let key: Option<String> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'expanded', sent_at = $3, lease_owner = NULL, lease_until = NULL,
             last_error = NULL
         WHERE id = $1 AND status = 'sending' AND lease_owner = $2
         RETURNING key",
        )
        .bind(intent_id)
        .bind(owner)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if key.is_none() {
            continue;
        }
        expanded += 1;
        sqlx::query(
            "INSERT INTO outbox (key, parent, case_id, task_id, kind, recipient_type, recipient, channel, payload,
                             created_at, status, next_attempt_at, message_id)
         SELECT d.key, i.key, i.case_id, i.task_id, i.kind, d.recipient_type, d.recipient, d.channel, d.payload,
                $2, 'pending', $2, d.message_id
         FROM outbox i, jsonb_to_recordset($3::jsonb) AS d(
             key text, channel text, recipient_type text, recipient text, payload jsonb, message_id text)
         WHERE i.id = $1
         ON CONFLICT (key) DO NOTHING",
        )
        .bind(intent_id)
        .bind(now)
        .bind(json)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(expanded)
}

async fn finish_attempts(
    store: &PostgresStore,
    owner: &str,
    outcomes: &[(i64, Attempt)],
    now: DateTime<Utc>,
) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut statuses = Vec::with_capacity(outcomes.len());
    let mut nexts = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::with_capacity(outcomes.len());
    for (id, outcome) in outcomes {
        let (status, next, error) = attempt_columns(outcome, now);
        ids.push(*id);
        statuses.push(status.to_owned());
        nexts.push(next);
        errors.push(error);
    }
    sqlx::query(
        "UPDATE outbox o SET status = u.status, next_attempt_at = coalesce(u.next, o.next_attempt_at),
             last_error = u.error, sent_at = CASE WHEN u.status = 'sent' THEN $6 ELSE o.sent_at END,
             lease_owner = NULL, lease_until = NULL
         FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[]) AS u(id, status, next, error)
         WHERE o.id = u.id AND o.status = 'sending' AND o.lease_owner = $5",
    )
    .bind(ids)
    .bind(statuses)
    .bind(nexts)
    .bind(errors)
    .bind(owner)
    .bind(now)
    .execute(&store.readers)
    .await?;
    Ok(())
}

/// How a JSON text parameter is written into a JSON column.
const JSONB: &str = "::jsonb";

use super::postgres_insight::stall_summary;

/// Seconds from `{from}` to `{to}` (two time columns) as a float.
const SECONDS_BETWEEN: &str = "EXTRACT(EPOCH FROM {to} - {from})::float8";
/// The row lock of a read that a write in the same transaction depends on.
const LOCK_ROW: &str = " FOR UPDATE";

/// Whether the JSON array of roles `{roles}` holds the bound role `{role}`.
const HAS_ROLE: &str = "{roles} ? {role}";
/// Whether the JSON array of roles `{roles}` shares a role with the bound list `{list}`.
const ROLES_OVERLAP: &str = "{roles} ?| {list}";

/// A list of strings as PostgreSQL binds it: `text[]`.
fn string_list(items: &[String]) -> Result<&[String]> {
    Ok(items)
}

/// The next resident number, from a sequence: concurrent writers never collide.
const NEXT_RESIDENT_NUMBER: &str = "nextval('resident_numbers')";

super::backend_impls!(PostgresStore, PgRow, sqlx::PgConnection, sqlx::Postgres);

const BACKEND: Backend = Backend::Postgres;

async fn durability(store: &PostgresStore) -> Result<Durability> {
    let mut conn = store.writer.lock().await;
    let row = sqlx::query("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
        .fetch_one(&mut *conn)
        .await?;
    let fsync: String = row.try_get(0)?;
    let sync: String = row.try_get(1)?;
    Ok(Durability {
        settings: vec![
            ("fsync".into(), fsync.clone(), fsync == "on"),
            (
                "synchronous_commit".into(),
                sync.clone(),
                matches!(sync.as_str(), "on" | "local" | "remote_write" | "remote_apply"),
            ),
        ],
    })
}

/// How long a request waits for a pooled connection before it is told the database is
/// unavailable.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn commit(store: &PostgresStore, writes: &[CaseWrite]) -> Result<Vec<bool>> {
    let json = batch_json(writes).map_err(|e| corrupt("batch", e))?;
    let mut conn = store.writer.lock().await;
    let result = run_commit(&mut conn, json).await;
    if let Err(e) = &result
        && e.is_unavailable()
    {
        // This batch is not acknowledged (it may or may not have landed: the commands'
        // senders are told it failed, and a retry is decided on the case as it then is).
        // The next batch goes through a new connection, once the database answers again.
        tracing::warn!(error = %e, "the writer's database connection was lost; connecting again");
        if let Ok(fresh) = PgConnection::connect_with(&store.options).await {
            *conn = fresh;
        }
    }
    let landed = result?;
    let landed: std::collections::HashSet<String> = landed.into_iter().collect();
    Ok(writes.iter().map(|w| landed.contains(&w.command_id)).collect())
}

async fn run_commit(conn: &mut PgConnection, json: BatchJson) -> Result<Vec<String>> {
    let (states, payloads) = (json.states(), json.payloads());
    Ok(sqlx::query_scalar(COMMIT_BATCH)
        .bind(json.cases)
        .bind(states)
        .bind(json.events)
        .bind(payloads)
        .bind(json.tasks)
        .bind(json.timers)
        .bind(json.outbox)
        .bind(json.stalls)
        .fetch_all(conn)
        .await?)
}

async fn claim_due_timers(
    store: &PostgresStore,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueTimer>> {
    let rows = sqlx::query(
        "UPDATE timers t SET lease_owner = $1, lease_until = $2
         FROM (SELECT key FROM timers
               WHERE status = 'pending' AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
               ORDER BY due_at LIMIT $4
               FOR UPDATE SKIP LOCKED) d
         WHERE t.key = d.key
         RETURNING t.key, t.case_id",
    )
    .bind(owner)
    .bind(lease_until)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&store.readers)
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

async fn work_list(store: &PostgresStore, filter: &WorkFilter) -> Result<Vec<TaskRow>> {
    let want = i64::from(filter.offset.saturating_add(filter.limit));
    // Four index walks in due order, each cut at what the page needs: my tasks and my
    // teams' unassigned ones, with a deadline and without; one statement, merged below.
    let org = super::chain::org_sees_case("c.id", "c.resident_id", "$9", "$10");
    let mut parts = Vec::new();
    for (mine, dated) in [(true, true), (true, false), (false, true), (false, false)] {
        // $7 and $8 switch the walks of my tasks and my teams' tasks (a one-time filter).
        let who = if mine {
            "$7 AND t.assignee = $1"
        } else {
            "$8 AND t.assignee IS NULL AND t.roles ?| $2"
        };
        let due = if dated {
            "t.due_at IS NOT NULL AND ($3::timestamptz IS NULL OR t.due_at < $3)"
        } else {
            "t.due_at IS NULL AND $3::timestamptz IS NULL"
        };
        parts.push(format!(
            "({TASK_COLUMNS} WHERE t.status = 'open' AND {who} AND {due}
               AND ($4::text IS NULL OR t.roles ? $4)
               AND ($5::text IS NULL OR c.pathway_key = $5)
               AND {org}
             ORDER BY t.due_at LIMIT $6)"
        ));
    }
    let sql = parts.join(" UNION ALL ");
    let rows = sqlx::query(&sql)
        .bind(&filter.user)
        .bind(&filter.teams)
        .bind(filter.due_before)
        .bind(filter.role.as_deref())
        .bind(filter.pathway.as_deref())
        .bind(want)
        .bind(filter.scope.includes_mine())
        .bind(filter.scope.includes_team())
        .bind(filter.organisation.as_ref().map(|o| o.organisation.as_str()))
        .bind(filter.organisation.as_ref().is_some_and(|o| o.municipality))
        .fetch_all(&store.lists)
        .await?;
    let rows = rows.iter().map(task_row).collect::<Result<Vec<_>>>()?;
    Ok(super::page_of_work(rows, filter))
}
