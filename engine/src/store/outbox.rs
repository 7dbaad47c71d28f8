//! The outbox as the notifiers see it: intents to expand, deliveries to send, and the
//! outcome of each attempt.

use chrono::{DateTime, Utc};
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
