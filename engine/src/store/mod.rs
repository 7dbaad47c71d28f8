//! The durable store: a [`Store`] trait with SQLite (embedded default) and PostgreSQL
//! implementations.
//!
//! A batch of case writes is one transaction and, on both backends, one round trip to the
//! database: every table gets a single multi-row statement fed with a JSON array. Each
//! write carries the case version it was decided on; a write whose case moved on in the
//! meantime is skipped whole (its events, tasks, timers and outbox rows are filtered by
//! the command id that actually landed) and reported as a conflict.

mod chain;
mod identity;
mod insight;
mod outbox;
mod pathways;
mod people;
mod postgres;
mod postgres_insight;
mod provisions;
mod residents;
mod retention;
mod rows;
mod sqlite;
mod sqlite_insight;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::runtime::{CaseState, Event};

pub use chain::{Chain, OrgFilter};
pub use identity::IdentityStore;
pub use insight::{
    CaseGroup, Draft, FunnelCell, InsightStore, StallSummaries, StallSummary, StepTime, month_of,
};
pub use outbox::{Attempt, NewDelivery, Outbox, OutboxCounts, OutboxItem, RetryOutcome};
use outbox::{attempt_columns, retry_outcome};
pub use pathways::Pathways;
pub use people::{
    AccessEntry, AccessQuery, ApiToken, CaseSummary, ChainedAccess, People, User, UserRole, WorkFilter,
    WorkScope, access_hash, chain_hashes,
};
pub use postgres::PostgresStore;
pub use provisions::Provisions;
pub use residents::{ResidentChange, ResidentRow, Residents, StoredQuery, Viewer};
pub use retention::{EndedCase, Hold, Removed, Retention, RetentionEntry};
pub use rows::CaseWrite;
pub use sqlite::SqliteStore;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored {what} cannot be read: {message}")]
    Corrupt { what: String, message: String },
    #[error("unsupported database URL `{url}`: use sqlite://FILE or postgres://HOST/DB")]
    UnsupportedUrl { url: String },
    #[error("pathway `{key}`{} is not published", .version.map(|v| format!(" v{v}")).unwrap_or_default())]
    PathwayNotFound { key: String, version: Option<u32> },
    #[error("there is already a user `{id}`")]
    UserExists { id: String },
    #[error("there is no user `{id}`")]
    UnknownUser { id: String },
    #[error("there is already an organisation `{id}`")]
    OrganisationExists { id: String },
    #[error("there is no organisation `{id}`: add it first (doorloop organisation add)")]
    UnknownOrganisation { id: String },
    #[error("this BSN is already recorded for resident {reference}")]
    BsnExists { reference: String },
    #[error(
        "the database cannot be written ({message}): check that the file and its folder are writable by this user, and that the disk is not full"
    )]
    NotWritable { message: String },
}

impl StoreError {
    /// The database cannot be reached (away, restarting, the network cut, no connection free
    /// in time): worth trying again shortly, unlike a statement that failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
            )
        )
    }
}

impl StoreError {
    /// The database's disk is full (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`): the
    /// write was refused whole and nothing of it stored; it works again once there is room.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(d)) => {
                matches!(d.code().as_deref(), Some("13" | "53100"))
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The durability settings the database reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// Each setting with its value and whether it is durable.
    pub settings: Vec<(String, String, bool)>,
}

impl Durability {
    pub fn is_durable(&self) -> bool {
        self.settings.iter().all(|(_, _, ok)| *ok)
    }

    /// The settings that are not durable, as `name=value`.
    pub fn problems(&self) -> Vec<String> {
        self.settings
            .iter()
            .filter(|(_, _, ok)| !ok)
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect()
    }
}

/// A published pathway in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathwaySummary {
    pub key: String,
    pub version: u32,
    pub name: String,
    pub published_at: DateTime<Utc>,
    /// Cases ever started on this version.
    pub cases: i64,
    /// Of those, still running.
    pub running: i64,
}

/// One row of a task list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    pub case_id: String,
    pub task_id: String,
    pub step: String,
    pub role: String,
    pub roles: Vec<String>,
    pub assignee: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub pathway_key: String,
    pub pathway_version: u32,
    /// Reason code of an open stall on this task or on its case.
    pub stall_reason: Option<String>,
    /// The title of ad-hoc work (step [`crate::runtime::ADHOC_STEP`]); `None` for drawn steps.
    pub title: Option<String>,
}

/// Ad-hoc tasks with one title added while cases stood at one step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdHocCount {
    /// The step of the oldest open drawn task then; `None`: the case had none open.
    pub at_step: Option<String>,
    pub title: String,
    pub count: i64,
    /// On how many cases.
    pub cases: i64,
}

impl TaskRow {
    /// What people read for this task: an ad-hoc task's title, else its step's name.
    pub fn title_in(&self, pv: &crate::pathway::model::PathwayVersion) -> String {
        match &self.title {
            Some(t) => t.clone(),
            None => pv
                .step(&self.step)
                .map_or_else(|| self.step.clone(), |s| s.display_name().to_owned()),
        }
    }
}

/// Which open tasks to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub limit: Option<u32>,
    /// Only tasks of cases this organisation may see.
    pub organisation: Option<OrgFilter>,
}

/// A stored event with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub event: Event,
}

/// Cases per pathway and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseCount {
    pub pathway_key: String,
    pub status: String,
    pub count: i64,
}

/// A timer claimed by a scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub key: String,
    pub case_id: String,
}

/// An open stall flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StallRow {
    pub case_id: String,
    pub pathway_key: String,
    pub reason: String,
    pub step: Option<String>,
    pub party: Option<String>,
    pub since: DateTime<Utc>,
}

/// A notification not tied to one case (digests, summaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub key: String,
    pub kind: String,
    pub recipient_type: String,
    pub recipient: String,
}

/// Persistence for pathways, cases, their events and effects.
#[async_trait]
pub trait Store:
    InsightStore
    + IdentityStore
    + People
    + Outbox
    + Pathways
    + Residents
    + Provisions
    + Chain
    + Retention
    + Send
    + Sync
{
    fn backend(&self) -> Backend;

    /// The database's durability settings (WAL + synchronous=FULL; fsync + synchronous_commit).
    async fn durability(&self) -> Result<Durability>;

    async fn load_case(&self, id: &str) -> Result<Option<CaseState>>;

    async fn events(&self, case_id: &str) -> Result<Vec<StoredEvent>>;

    /// Writes a batch in one transaction. Returns, per write, whether it landed (`false`:
    /// the case had moved on, a conflict). An error means nothing of the batch was written.
    async fn commit(&self, writes: &[CaseWrite]) -> Result<Vec<bool>>;

    /// Open tasks, oldest deadline first (tasks without a deadline last).
    async fn open_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>>;

    /// Cases with open work on `step` of a pathway version (where a signal is awaited).
    async fn cases_at_step(&self, pathway_key: &str, version: u32, step: &str) -> Result<Vec<String>>;

    /// Active cases started with this business key (an outside party's reference).
    async fn cases_with_business_key(&self, business_key: &str) -> Result<Vec<String>>;

    async fn case_counts(&self) -> Result<Vec<CaseCount>>;

    /// Every task row of a case as (task id, status: `open`, `done` or `closed`).
    async fn task_rows(&self, case_id: &str) -> Result<Vec<(String, String)>>;

    /// Pending timers of a case as (key, kind, due).
    async fn pending_timers(&self, case_id: &str) -> Result<Vec<(String, String, DateTime<Utc>)>>;

    /// Outbox rows of a case as (key, kind, status).
    async fn outbox(&self, case_id: &str) -> Result<Vec<(String, String, String)>>;

    /// Leases up to `limit` pending timers due at `now` (or whose lease expired) to `owner`
    /// until `lease_until`. Cost follows the number of due timers, not of cases.
    async fn claim_due_timers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueTimer>>;

    /// Seconds spent in `step` by the most recent `limit` finished tasks of a pathway version:
    /// the history behind "at risk".
    async fn step_durations(
        &self,
        pathway_key: &str,
        version: u32,
        step: &str,
        limit: u32,
    ) -> Result<Vec<i64>>;

    /// Open stall flags.
    /// With `org`: only stalls of cases that organisation may see.
    async fn open_stalls(&self, org: Option<&OrgFilter>) -> Result<Vec<StallRow>>;

    /// Ad-hoc work added on a pathway (all versions), by the step the case stood at and
    /// the work's title: where practice departs from the drawing.
    async fn adhoc_practice(&self, pathway_key: &str) -> Result<Vec<AdHocCount>>;

    /// The latest recorded run of a schedule.
    async fn last_schedule_run(&self, name: &str) -> Result<Option<DateTime<Utc>>>;

    /// Records the run of `name` planned at `planned_at` together with its notifications;
    /// `false` (and nothing written) when another process already ran it.
    async fn record_schedule_run(
        &self,
        name: &str,
        planned_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
        notifications: &[Broadcast],
    ) -> Result<bool>;

    /// Runs `n` minimal durable commits (one-row INSERT, autocommit) through the writer
    /// connection: the physical limit a command is measured against.
    async fn bare_commits(&self, n: u32) -> Result<std::time::Duration>;

    /// For a load balancer: the database answers, and the newest migration this build
    /// knows has been applied. `Ok(false)` when the schema is behind (or ahead of) it.
    async fn schema_current(&self) -> Result<bool>;

    /// Open joint visits `user` is invited to without holding the task (at most `limit`,
    /// earliest deadline first): they belong in the invitee's work list too.
    /// With `org`: only cases that organisation may see.
    async fn invited_visits(&self, user: &str, org: Option<&OrgFilter>, limit: u32) -> Result<Vec<TaskRow>>;

    /// A person's work list ("Mijn taken"): their open tasks and their teams' unassigned
    /// ones, oldest deadline first (tasks without a deadline last).
    async fn work_list(&self, filter: &WorkFilter) -> Result<Vec<TaskRow>>;

    /// Cases, most recently changed first. With `user`: only cases they are on the team of
    /// (assigned a task, acted on it) or that hold an open unassigned task for one of `teams`.
    /// With `org`: only cases that organisation may see (the chain's rule, [`crate::chain::standing`]).
    async fn cases(
        &self,
        user: Option<&str>,
        teams: &[String],
        org: Option<&OrgFilter>,
        limit: u32,
    ) -> Result<Vec<CaseSummary>>;
}

/// Opens the store a URL names: `sqlite://FILE` or `postgres://…`. Migrations run.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url, None).await?))
    } else {
        Err(StoreError::UnsupportedUrl { url: redact(url) })
    }
}

/// [`Store`] for a backend, written once. The methods whose SQL is the same on both
/// backends are here; where the dialects really differ (the commit batch, claiming timers,
/// JSON arrays in the work lists, durability settings, time arithmetic) the backend module
/// supplies a function of the same name. Each backend also supplies `BACKEND`, `MIGRATOR`,
/// `SECONDS_BETWEEN`, `HAS_ROLE` (a JSON array of roles holds a bound role), `ROLES_OVERLAP` (a JSON array of roles shares one with a bound list),
/// `string_list` (how that list is bound), `readers`, `writer`, `write_conn`, `ts`,
/// `time_col`, `opt_time_col` and `task_row`.
macro_rules! store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl super::Store for $store {
            fn backend(&self) -> Backend {
                BACKEND
            }

            async fn durability(&self) -> Result<Durability> {
                durability(self).await
            }

            async fn load_case(&self, id: &str) -> Result<Option<CaseState>> {
                let row = sqlx::query("SELECT CAST(state AS TEXT), resident_id FROM cases WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.readers)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let mut state: CaseState =
                    serde_json::from_str(&row.try_get::<String, _>(0)?).map_err(|e| corrupt("case state", e))?;
                // Cases from before residents existed got theirs by migration, not by event.
                if state.resident.is_none() {
                    state.resident = row.try_get(1)?;
                }
                Ok(Some(state))
            }

            async fn events(&self, case_id: &str) -> Result<Vec<StoredEvent>> {
                let rows = sqlx::query(
                    "SELECT first_seq, at, actor, command, CAST(payload AS TEXT) FROM events WHERE case_id = $1
                     ORDER BY first_seq",
                )
                .bind(case_id)
                .fetch_all(&self.readers)
                .await?;
                let mut out = Vec::new();
                for r in &rows {
                    let payload: String = r.try_get(4)?;
                    super::unpack_events(
                        &mut out,
                        r.try_get(0)?,
                        time_col(r, 1, "event time")?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        &payload,
                    )?;
                }
                Ok(out)
            }

            async fn commit(&self, writes: &[CaseWrite]) -> Result<Vec<bool>> {
                if writes.is_empty() {
                    return Ok(Vec::new());
                }
                commit(self, writes).await
            }

            async fn open_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>> {
                let sql = format!(
                    "{TASK_COLUMNS}
                     WHERE t.status = 'open'
                       AND (CAST($1 AS TEXT) IS NULL OR {})
                       AND (CAST($2 AS TEXT) IS NULL OR t.assignee = $2)
                       AND {}
                     ORDER BY t.due_at ASC NULLS LAST, t.opened_at
                     LIMIT $3",
                    HAS_ROLE.replace("{roles}", "t.roles").replace("{role}", "$1"),
                    super::chain::org_sees_case("c.id", "c.resident_id", "$4", "$5")
                );
                let rows = sqlx::query(&sql)
                    .bind(filter.role.as_deref())
                    .bind(filter.assignee.as_deref())
                    .bind(i64::from(filter.limit.unwrap_or(1000)))
                    .bind(filter.organisation.as_ref().map(|o| o.organisation.as_str()))
                    .bind(filter.organisation.as_ref().is_some_and(|o| o.municipality))
                    .fetch_all(&self.readers)
                    .await?;
                rows.iter().map(task_row).collect()
            }

            async fn cases_at_step(&self, pathway_key: &str, version: u32, step: &str) -> Result<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT DISTINCT t.case_id FROM tasks t JOIN cases c ON c.id = t.case_id
                     WHERE t.status = 'open' AND t.step = $1 AND c.pathway_key = $2
                       AND c.pathway_version = $3 AND c.status = 'active'
                     ORDER BY t.case_id",
                )
                .bind(step)
                .bind(pathway_key)
                .bind(i64::from(version))
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).map_err(Into::into))
                    .collect()
            }

            async fn cases_with_business_key(&self, business_key: &str) -> Result<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT id FROM cases WHERE business_key = $1 AND status = 'active' ORDER BY id",
                )
                .bind(business_key)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).map_err(Into::into))
                    .collect()
            }

            async fn case_counts(&self) -> Result<Vec<CaseCount>> {
                let rows = sqlx::query(
                    "SELECT pathway_key, status, COUNT(*) FROM cases GROUP BY pathway_key, status
                     ORDER BY pathway_key, status",
                )
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CaseCount {
                            pathway_key: r.try_get(0)?,
                            status: r.try_get(1)?,
                            count: r.try_get(2)?,
                        })
                    })
                    .collect()
            }

            async fn task_rows(&self, case_id: &str) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT task_id, status FROM tasks WHERE case_id = $1 ORDER BY task_id")
                    .bind(case_id)
                    .fetch_all(&self.readers)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect()
            }

            async fn pending_timers(&self, case_id: &str) -> Result<Vec<(String, String, DateTime<Utc>)>> {
                let rows = sqlx::query(
                    "SELECT key, kind, due_at FROM timers WHERE case_id = $1 AND status = 'pending' ORDER BY due_at",
                )
                .bind(case_id)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, time_col(r, 2, "timer due")?)))
                    .collect()
            }

            async fn outbox(&self, case_id: &str) -> Result<Vec<(String, String, String)>> {
                let rows =
                    sqlx::query("SELECT key, kind, status FROM outbox WHERE case_id = $1 ORDER BY created_at, key")
                        .bind(case_id)
                        .fetch_all(&self.readers)
                        .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn claim_due_timers(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<DueTimer>> {
                claim_due_timers(self, owner, now, lease_until, limit).await
            }

            async fn step_durations(&self, key: &str, version: u32, step: &str, limit: u32) -> Result<Vec<i64>> {
                let rows: Vec<f64> = sqlx::query_scalar(&format!(
                    "SELECT {}
                     FROM tasks t JOIN cases c ON c.id = t.case_id
                     WHERE t.step = $1 AND t.status = 'done' AND c.pathway_key = $2 AND c.pathway_version = $3
                     ORDER BY t.closed_at DESC LIMIT $4",
                    SECONDS_BETWEEN.replace("{from}", "t.opened_at").replace("{to}", "t.closed_at")
                ))
                .bind(step)
                .bind(key)
                .bind(i64::from(version))
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?;
                Ok(rows.into_iter().map(|s| s.round() as i64).collect())
            }

            async fn adhoc_practice(&self, pathway_key: &str) -> Result<Vec<super::AdHocCount>> {
                let rows = sqlx::query(
                    "SELECT at_step, title, COUNT(*), COUNT(DISTINCT case_id) FROM tasks
                     WHERE pathway_key = $1 AND step = 'adhoc'
                     GROUP BY at_step, title ORDER BY COUNT(*) DESC, title",
                )
                .bind(pathway_key)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::AdHocCount {
                            at_step: r.try_get(0)?,
                            title: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                            count: r.try_get(2)?,
                            cases: r.try_get(3)?,
                        })
                    })
                    .collect()
            }

            async fn open_stalls(&self, org: Option<&OrgFilter>) -> Result<Vec<StallRow>> {
                let rows = sqlx::query(&format!(
                    "SELECT s.case_id, s.pathway_key, s.reason, s.step, s.party, s.since FROM stalls s
                     WHERE s.cleared_at IS NULL
                       AND (CAST($1 AS TEXT) IS NULL
                            OR EXISTS (SELECT 1 FROM cases c WHERE c.id = s.case_id AND {}))
                     ORDER BY s.since",
                    super::chain::org_sees_case("c.id", "c.resident_id", "$1", "$2")
                ))
                .bind(org.map(|o| o.organisation.as_str()))
                .bind(org.is_some_and(|o| o.municipality))
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(StallRow {
                            case_id: r.try_get(0)?,
                            pathway_key: r.try_get(1)?,
                            reason: r.try_get(2)?,
                            step: r.try_get(3)?,
                            party: r.try_get(4)?,
                            since: time_col(r, 5, "stall time")?,
                        })
                    })
                    .collect()
            }

            async fn last_schedule_run(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
                let row = sqlx::query("SELECT MAX(planned_at) FROM schedule_runs WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.readers)
                    .await?;
                opt_time_col(&row, 0, "schedule run")
            }

            async fn record_schedule_run(
                &self,
                name: &str,
                planned_at: DateTime<Utc>,
                owner: &str,
                now: DateTime<Utc>,
                notifications: &[Broadcast],
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let inserted = sqlx::query(
                    "INSERT INTO schedule_runs (name, planned_at, owner, started_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name, planned_at) DO NOTHING",
                )
                .bind(name)
                .bind(ts(planned_at))
                .bind(owner)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                insert_intents(&mut tx, notifications, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn bare_commits(&self, n: u32) -> Result<std::time::Duration> {
                let mut conn = self.writer.lock().await;
                let started = std::time::Instant::now();
                for _ in 0..n {
                    sqlx::query("INSERT INTO bench_commits (at) VALUES ($1)")
                        .bind(ts(Utc::now()))
                        .execute(&mut *conn)
                        .await?;
                }
                let took = started.elapsed();
                sqlx::query("DELETE FROM bench_commits").execute(&mut *conn).await?;
                Ok(took)
            }

            async fn schema_current(&self) -> Result<bool> {
                let applied: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.readers)
                        .await?;
                Ok(applied == MIGRATOR.iter().map(|m| m.version).max())
            }

            async fn invited_visits(&self, user: &str, org: Option<&OrgFilter>, limit: u32) -> Result<Vec<TaskRow>> {
                let rows = sqlx::query(&format!(
                    "{TASK_COLUMNS}
                     JOIN visit_participants v ON v.case_id = t.case_id AND v.task_id = t.task_id
                     WHERE v.user_id = $1 AND t.status = 'open' AND (t.assignee IS NULL OR t.assignee <> $1)
                       AND {}
                     ORDER BY t.due_at, t.case_id LIMIT $2",
                    super::chain::org_sees_case("c.id", "c.resident_id", "$3", "$4")
                ))
                .bind(user)
                .bind(i64::from(limit))
                .bind(org.map(|o| o.organisation.as_str()))
                .bind(org.is_some_and(|o| o.municipality))
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(task_row).collect()
            }

            async fn work_list(&self, filter: &WorkFilter) -> Result<Vec<TaskRow>> {
                work_list(self, filter).await
            }

            async fn cases(
                &self,
                user: Option<&str>,
                teams: &[String],
                org: Option<&OrgFilter>,
                limit: u32,
            ) -> Result<Vec<CaseSummary>> {
                let rows = sqlx::query(&format!(
                    "SELECT id, pathway_key, CAST(pathway_version AS BIGINT), status, created_at, updated_at, resident_id
                     FROM cases c
                     WHERE (CAST($1 AS TEXT) IS NULL OR {}) AND {}
                     ORDER BY updated_at DESC LIMIT $3",
                    super::residents::VISIBLE_CASE
                        .replace("$U", "$1")
                        .replace("{overlap}", &ROLES_OVERLAP.replace("{roles}", "t.roles").replace("{list}", "$2")),
                    super::chain::org_sees_case("c.id", "c.resident_id", "$4", "$5")
                ))
                .bind(user)
                .bind(string_list(teams)?)
                .bind(i64::from(limit))
                .bind(org.map(|o| o.organisation.as_str()))
                .bind(org.is_some_and(|o| o.municipality))
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(case_summary_row).collect()
            }
        }
    };
}
pub(crate) use store_impl;

/// Everything a backend module gets written once: the store's traits for its store type,
/// the row decoders for its row type, the insert helpers for its connection type.
macro_rules! backend_impls {
    ($store:ty, $row:ty, $conn:ty, $db:ty) => {
        super::residents::resident_row_fn!($row);
        super::residents::residents_impl!($store);
        super::residents::insert_words_fn!($db);
        super::provisions::provisions_impl!($store, $row);
        super::chain::chain_impl!($store, $row);
        super::retention::retention_impl!($store, $row);
        super::case_summary_row_fn!($row);
        super::people::user_row_fn!($row);
        super::people::people_impl!($store, $row);
        super::people::insert_user_fn!($conn);
        super::outbox::outbox_impl!($store, $row);
        super::identity::identity_impl!($store);
        super::identity::link_fn!($conn);
        super::pathways::pathways_impl!($store);
        super::insight::insight_impl!($store, $row);
        super::insert_intents_fn!($conn);
        super::store_impl!($store);
    };
}
pub(crate) use backend_impls;

/// Decodes a case listing row: id, pathway key and version, status, created, updated, resident.
macro_rules! case_summary_row_fn {
    ($row:ty) => {
        fn case_summary_row(r: &$row) -> Result<CaseSummary> {
            Ok(CaseSummary {
                id: r.try_get(0)?,
                pathway_key: r.try_get(1)?,
                pathway_version: u32::try_from(r.try_get::<i64, _>(2)?)
                    .map_err(|e| corrupt("pathway version", e))?,
                status: r.try_get(3)?,
                created_at: time_col(r, 4, "case time")?,
                updated_at: time_col(r, 5, "case time")?,
                resident_id: r.try_get(6)?,
            })
        }
    };
}
pub(crate) use case_summary_row_fn;

/// Adds intents not tied to a case (existing keys are left alone) on a backend's
/// connection type; returns how many were new.
macro_rules! insert_intents_fn {
    ($conn:ty) => {
        async fn insert_intents(conn: &mut $conn, intents: &[Broadcast], now: DateTime<Utc>) -> Result<u64> {
            let mut added = 0;
            for n in intents {
                added += sqlx::query(
                    "INSERT INTO outbox (key, case_id, task_id, kind, recipient_type, recipient, created_at, status,
                                         next_attempt_at)
                     VALUES ($1, NULL, NULL, $2, $3, $4, $5, 'pending', $5) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&n.key)
                .bind(&n.kind)
                .bind(&n.recipient_type)
                .bind(&n.recipient)
                .bind(ts(now))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            }
            Ok(added)
        }
    };
}
pub(crate) use insert_intents_fn;

/// A URL with any password replaced, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Fixed-width UTC text for SQLite columns, so text order is time order:
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = match u32::try_from(t.year()) {
        Ok(y) if y <= 9999 => y,
        _ => return ts_formatted(t),
    };
    // Digits written into a fixed buffer: `format!` with seven arguments cost about 3,800
    // instructions per timestamp, and a command writes about eight (BENCHMARKS.md, issue 13).
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            if let Some(b) = out.get_mut(i) {
                // n % 10 is a single decimal digit.
                *b = b'0' + (n % 10) as u8;
            }
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, t.nanosecond() / 1000 % 1_000_000);
    String::from_utf8(out.to_vec()).unwrap_or_else(|_| ts_formatted(t))
}

/// [`ts`] through `format!`, for years outside 0..=9999 (and as the reference in tests).
fn ts_formatted(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000 % 1_000_000
    )
}

/// Flattens one stored command row into its numbered events.
pub(crate) fn unpack_events(
    out: &mut Vec<StoredEvent>,
    first_seq: i64,
    at: DateTime<Utc>,
    actor: String,
    command: String,
    payload: &str,
) -> Result<()> {
    let kinds: Vec<crate::runtime::EventKind> =
        serde_json::from_str(payload).map_err(|e| corrupt("events", e))?;
    let first = u64::try_from(first_seq).map_err(|e| corrupt("event sequence number", e))?;
    for (i, kind) in kinds.into_iter().enumerate() {
        out.push(StoredEvent {
            seq: first + i as u64,
            event: Event {
                at,
                actor: actor.clone(),
                command: command.clone(),
                kind,
            },
        });
    }
    Ok(())
}

/// Orders the rows of a work list (deadline first, the oldest first; without a deadline
/// last) and cuts out the requested page.
pub(crate) fn page_of_work(mut rows: Vec<TaskRow>, filter: &WorkFilter) -> Vec<TaskRow> {
    rows.sort_by(|a, b| {
        (a.due_at.is_none(), a.due_at, a.opened_at, &a.case_id, &a.task_id).cmp(&(
            b.due_at.is_none(),
            b.due_at,
            b.opened_at,
            &b.case_id,
            &b.task_id,
        ))
    });
    rows.into_iter()
        .skip(filter.offset as usize)
        .take(filter.limit as usize)
        .collect()
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_sortable() {
        use chrono::TimeZone;
        let a = Utc.with_ymd_and_hms(2026, 3, 9, 8, 5, 1).unwrap();
        assert_eq!(ts(a), "2026-03-09T08:05:01.000000Z");
        let b = a + chrono::Duration::microseconds(1_500);
        assert_eq!(ts(b), "2026-03-09T08:05:01.001500Z");
        assert!(ts(a) < ts(b));
        assert_eq!(DateTime::parse_from_rfc3339(&ts(b)).unwrap(), b);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:geheim@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://doorloop.db"), "sqlite://doorloop.db");
    }

    proptest::proptest! {
        /// The hand-written timestamp text is exactly what `format!` writes, for every
        /// instant from year 0 to 9999 (and beyond, where it falls back to `format!`).
        #[test]
        fn timestamps_are_written_as_format_writes_them(
            secs in -70_000_000_000i64..260_000_000_000i64,
            nanos in 0u32..1_000_000_000u32,
        ) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default();
            proptest::prop_assert_eq!(ts(t), ts_formatted(t));
        }
    }

    #[test]
    fn timestamp_text_has_a_fixed_width() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:03:07.000042Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(ts(t), "2026-01-05T09:03:07.000042Z");
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(ts(leap), "2016-12-31T23:59:59.500000Z");
    }
}
