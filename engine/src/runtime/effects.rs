//! Effects: what the caller persists beside the new state, in the same transaction.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use chrono_tz::Europe::Amsterdam;
use serde::{Deserialize, Serialize};

use super::state::Visit;
use crate::time::calendar::{Calendar, local_moment};

/// Something to do after the command commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    SetTimer(Timer),
    CancelTimer {
        key: String,
    },
    /// The timer that caused this command has fired; it must not fire again.
    TimerDone {
        key: String,
    },
    Notify(Notification),
}

/// A moment at which the scheduler turns a timer into a command or a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Unique per case and purpose, e.g. `deadline:{case}:{task}`.
    pub key: String,
    pub case_id: String,
    pub task: Option<String>,
    pub kind: TimerKind,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Deadline,
    Escalation,
    Stall,
    Inactivity,
    VisitReminder,
    VisitOutcomeMissing,
    /// Start the linked case a step asked for (on the case that asked).
    Link,
    /// Tell the case this one came from that it has ended (on the linked case).
    Resume,
    /// Apply a step's change to the resident's provisions.
    Provision,
    /// A phase's deadline or a rung of its ladder.
    Phase,
}

impl TimerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimerKind::Deadline => "deadline",
            TimerKind::Escalation => "escalation",
            TimerKind::Stall => "stall",
            TimerKind::Inactivity => "inactivity",
            TimerKind::VisitReminder => "visit_reminder",
            TimerKind::VisitOutcomeMissing => "visit_outcome_missing",
            TimerKind::Link => "link",
            TimerKind::Resume => "resume",
            TimerKind::Provision => "provision",
            TimerKind::Phase => "phase",
        }
    }
}

/// A message for the outbox. It carries references, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Idempotency key: the same notification is never enqueued twice.
    pub key: String,
    pub case_id: String,
    pub task: Option<String>,
    pub kind: NotificationKind,
    pub to: Recipient,
    pub at: DateTime<Utc>,
    /// The joint visit as it stood when the message was made (visit messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<Visit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    TaskOpened,
    TaskAssigned,
    VisitPlanned,
    VisitCancelled,
    VisitReminder,
    VisitOutcomeMissing,
    DeadlineApproaching,
    DeadlinePassed,
    Escalation,
    StallRaised,
}

impl NotificationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            NotificationKind::TaskOpened => "task_opened",
            NotificationKind::TaskAssigned => "task_assigned",
            NotificationKind::VisitPlanned => "visit_planned",
            NotificationKind::VisitCancelled => "visit_cancelled",
            NotificationKind::VisitReminder => "visit_reminder",
            NotificationKind::VisitOutcomeMissing => "visit_outcome_missing",
            NotificationKind::DeadlineApproaching => "deadline_approaching",
            NotificationKind::DeadlinePassed => "deadline_passed",
            NotificationKind::Escalation => "escalation",
            NotificationKind::StallRaised => "stall_raised",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    Role(String),
    User(String),
    /// Someone outside Doorloop, by e-mail address (a joint visit's guest).
    Address(String),
    /// The case's resident, at the address on their record when the message is sent.
    Resident,
}

/// The same local time `n` working days before `at`.
pub fn working_days_before(cal: &Calendar, at: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    let local = at.with_timezone(&Amsterdam);
    let mut date = local.date_naive();
    let mut counted = 0;
    while counted < n {
        date = date.pred_opt().unwrap_or(date);
        if cal.is_working_day(date) && !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            counted += 1;
        }
    }
    let moment = local_moment(date, local.time());
    if moment >= at {
        at - Duration::days(i64::from(n))
    } else {
        moment
    }
}
