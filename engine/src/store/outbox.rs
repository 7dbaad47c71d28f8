//! The outbox as the notifiers see it: intents to expand, deliveries to send, and the
//! outcome of each attempt.

use chrono::{DateTime, Utc};

use super::{Broadcast, Result};
use serde::Serialize;

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    /// Short number for the admin (`doorloop outbox retry ID`).
    pub id: i64,
    /// Idempotency key.
    pub key: String,
    /// The intent a delivery was expanded from.
    pub parent: Option<String>,
    pub case_id: Option<String>,
    pub task_id: Option<String>,
    pub kind: String,
    /// `role`, `user`, `address` or `webhook`.
    pub recipient_type: String,
    pub recipient: String,
    /// `None` for an intent; `email`, `webhook` or `log` for a delivery.
    pub channel: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub status: String,
    /// Attempts started so far, the current one included.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl OutboxItem {
    pub fn is_intent(&self) -> bool {
        self.channel.is_none()
    }
}

/// A delivery an intent expands into.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDelivery {
    /// `{intent key}>{channel}:{recipient}`: expanding twice creates nothing new.
    pub key: String,
    pub channel: String,
    pub recipient_type: String,
    pub recipient: String,
    /// Everything the message shows, whitelisted and frozen.
    pub payload: serde_json::Value,
    /// Fixed before the first attempt, so a re-sent message can be recognised.
    pub message_id: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// Try again at the given moment.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up: the row goes to `dead` with the error.
    Dead {
        error: String,
    },
}

/// Rows per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    /// Pending and due now.
    pub due: u64,
    pub sending: u64,
    pub sent: u64,
    pub dead: u64,
    pub expanded: u64,
}

/// What `retry` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The row is pending again and goes out with the next pass.
    Requeued,
    /// Nothing to do: the row was already delivered or expanded.
    AlreadyDone,
    /// Another worker is sending it right now.
    InFlight,
    NotFound,
}

impl OutboxCounts {
    pub(crate) fn add(&mut self, status: &str, n: i64, due: i64) {
        let n = u64::try_from(n).unwrap_or(0);
        match status {
            "pending" => {
                self.pending = n;
                self.due = u64::try_from(due).unwrap_or(0);
            }
            "sending" => self.sending = n,
            "sent" => self.sent = n,
            "dead" => self.dead = n,
            _ => self.expanded = n,
        }
    }

    /// Rows a worker would pick up now or once their lease expires.
    pub fn outstanding(&self) -> u64 {
        self.due + self.sending
    }
}

/// Status, next attempt and error to store for an attempt's outcome.
pub(crate) fn attempt_columns(
    outcome: &Attempt,
    now: DateTime<Utc>,
) -> (&'static str, Option<DateTime<Utc>>, Option<String>) {
    match outcome {
        Attempt::Sent => ("sent", Some(now), None),
        Attempt::Retry { at, error } => ("pending", Some(*at), Some(error.clone())),
        Attempt::Dead { error } => ("dead", None, Some(error.clone())),
    }
}

pub(crate) fn retry_outcome(status: Option<&str>) -> RetryOutcome {
    match status {
        None => RetryOutcome::NotFound,
        Some("dead" | "pending") => RetryOutcome::Requeued,
        Some("sending") => RetryOutcome::InFlight,
        Some(_) => RetryOutcome::AlreadyDone,
    }
}

/// The outbox: what the notifiers claim, expand, send and record, and what admins see.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Leases up to `limit` outbox rows to `owner` until `lease_until`: pending rows due at
    /// `now`, and rows in flight whose lease expired (their worker died). Each claim counts
    /// as an attempt and is committed before anything is sent.
    async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>>;

    /// Replaces claimed intents by their deliveries, all in one transaction; intents whose
    /// lease `owner` lost are left alone. Returns how many were expanded.
    async fn expand_intents(
        &self,
        owner: &str,
        expansions: &[(i64, Vec<NewDelivery>)],
        now: DateTime<Utc>,
    ) -> Result<usize>;

    /// Records how attempts ended, in one transaction. Rows whose lease `owner` lost are
    /// left alone.
    async fn finish_attempts(
        &self,
        owner: &str,
        outcomes: &[(i64, Attempt)],
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Extends to `lease_until` the lease of every row `owner` still holds in flight: a
    /// pass that takes longer than its lease keeps its rows, which another worker would
    /// otherwise take over and send again. Rows another worker took over already are left
    /// alone. Returns how many were renewed.
    async fn renew_outbox_leases(&self, owner: &str, lease_until: DateTime<Utc>) -> Result<u64>;

    /// Outbox rows, newest first, optionally of one status.
    async fn outbox_items(&self, status: Option<&str>, limit: u32) -> Result<Vec<OutboxItem>>;

    async fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>>;

    /// Makes a dead (or waiting) row pending again, due now, with its attempts reset.
    async fn retry_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<RetryOutcome>;

    async fn outbox_counts(&self, now: DateTime<Utc>) -> Result<OutboxCounts>;

    /// Adds intents not tied to a case (a test message); existing keys are left alone.
    /// Returns how many were new.
    async fn enqueue(&self, intents: &[Broadcast], now: DateTime<Utc>) -> Result<u64>;
}

/// Columns of an outbox row, decoded by `outbox_item` (the same SQL on both backends).
pub(crate) const OUTBOX_COLUMNS: &str = "id, key, parent, case_id, task_id, kind, recipient_type, recipient, channel, \
     CAST(payload AS TEXT), created_at, status, CAST(attempts AS BIGINT), next_attempt_at, message_id, sent_at, last_error";

/// [`Outbox`] for a backend: the reading methods written once (same SQL on both), the
/// claiming, expanding and finishing delegated to the backend's own functions
/// (`claim_outbox`, `expand_intents`, `finish_attempts`), where the dialects really differ
/// (`FOR UPDATE SKIP LOCKED`, `json_each` against `jsonb`, `unnest`); `LOCK_ROW` is the
/// backend's row lock for a read before a write (none on SQLite, whose writer is single).
macro_rules! outbox_impl {
    ($store:ty, $row:ty) => {
        fn outbox_item(r: &$row) -> Result<OutboxItem> {
            let payload: Option<String> = r.try_get(9)?;
            Ok(OutboxItem {
                id: r.try_get(0)?,
                key: r.try_get(1)?,
                parent: r.try_get(2)?,
                case_id: r.try_get(3)?,
                task_id: r.try_get(4)?,
                kind: r.try_get(5)?,
                recipient_type: r.try_get(6)?,
                recipient: r.try_get(7)?,
                channel: r.try_get(8)?,
                payload: payload
                    .map(|p| serde_json::from_str(&p))
                    .transpose()
                    .map_err(|e| corrupt("outbox payload", e))?,
                created_at: time_col(r, 10, "outbox row")?,
                status: r.try_get(11)?,
                attempts: u32::try_from(r.try_get::<i64, _>(12)?).unwrap_or(0),
                next_attempt_at: time_col(r, 13, "outbox row")?,
                message_id: r.try_get(14)?,
                sent_at: opt_time_col(r, 15, "outbox row")?,
                last_error: r.try_get(16)?,
            })
        }

        #[async_trait::async_trait]
        impl super::outbox::Outbox for $store {
            async fn claim_outbox(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<OutboxItem>> {
                claim_outbox(self, owner, now, lease_until, limit).await
            }

            async fn expand_intents(
                &self,
                owner: &str,
                expansions: &[(i64, Vec<NewDelivery>)],
                now: DateTime<Utc>,
            ) -> Result<usize> {
                expand_intents(self, owner, expansions, now).await
            }

            async fn finish_attempts(&self, owner: &str, outcomes: &[(i64, Attempt)], now: DateTime<Utc>) -> Result<()> {
                if outcomes.is_empty() {
                    return Ok(());
                }
                finish_attempts(self, owner, outcomes, now).await
            }

            async fn outbox_items(&self, status: Option<&str>, limit: u32) -> Result<Vec<OutboxItem>> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM outbox WHERE CAST($1 AS TEXT) IS NULL OR status = $1 ORDER BY id DESC LIMIT $2",
                    super::outbox::OUTBOX_COLUMNS
                ))
                .bind(status)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(outbox_item).collect()
            }

            async fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM outbox WHERE id = $1",
                    super::outbox::OUTBOX_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&self.readers)
                .await?;
                row.as_ref().map(outbox_item).transpose()
            }

            async fn renew_outbox_leases(&self, owner: &str, lease_until: DateTime<Utc>) -> Result<u64> {
                let mut conn = self.write_conn().await?;
                Ok(sqlx::query(
                    "UPDATE outbox SET lease_until = $2 WHERE lease_owner = $1 AND status = 'sending'",
                )
                .bind(owner)
                .bind(ts(lease_until))
                .execute(&mut *conn)
                .await?
                .rows_affected())
            }

            async fn retry_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<RetryOutcome> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let status: Option<String> =
                    sqlx::query_scalar(&format!("SELECT status FROM outbox WHERE id = $1{LOCK_ROW}"))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let outcome = retry_outcome(status.as_deref());
                if outcome == RetryOutcome::Requeued {
                    sqlx::query("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(outcome)
            }

            async fn outbox_counts(&self, now: DateTime<Utc>) -> Result<OutboxCounts> {
                let rows = sqlx::query(
                    "SELECT status, count(*), CAST(SUM(CASE WHEN status = 'pending' AND next_attempt_at <= $1 THEN 1 ELSE 0 END) AS BIGINT)
                     FROM outbox GROUP BY status",
                )
                .bind(ts(now))
                .fetch_all(&self.readers)
                .await?;
                let mut counts = OutboxCounts::default();
                for r in &rows {
                    let status: String = r.try_get(0)?;
                    let n: i64 = r.try_get(1)?;
                    let due: Option<i64> = r.try_get(2)?;
                    counts.add(&status, n, due.unwrap_or(0));
                }
                Ok(counts)
            }

            async fn enqueue(&self, intents: &[Broadcast], now: DateTime<Utc>) -> Result<u64> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let added = insert_intents(&mut tx, intents, now).await?;
                tx.commit().await?;
                Ok(added)
            }
        }
    };
}
pub(crate) use outbox_impl;
