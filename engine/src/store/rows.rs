//! Turning a command's outcome into rows, and a batch of writes into one JSON array per
//! table (the single parameter each multi-row statement reads).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ts;
use crate::runtime::{CaseState, Effect, Event, EventKind, Outcome, Recipient};

/// Everything one command writes for one case.
#[derive(Debug, Clone)]
pub struct CaseWrite {
    pub case_id: String,
    /// Unique id of the command; the rows of a write land only if its case row does.
    pub command_id: String,
    /// The case version the command was decided on (0 for a new case).
    pub expected: u64,
    pub state: CaseState,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    /// Task projection changes: rows to upsert.
    tasks: Vec<TaskChange>,
    /// Stall flags raised (open) or cleared by this command.
    stalls: Vec<StallChange>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct StallChange {
    key: String,
    stall: crate::runtime::Stall,
    cleared: bool,
}

#[derive(Debug, Clone)]
struct TaskChange {
    task_id: String,
    step: String,
    title: Option<String>,
    at_step: Option<String>,
    roles: Vec<String>,
    assignee: Option<String>,
    status: &'static str,
    opened_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
}

impl CaseWrite {
    /// The write for `outcome`, decided on `before`.
    pub fn new(before: &CaseState, outcome: Outcome, command_id: String, at: DateTime<Utc>) -> CaseWrite {
        let mut tasks = Vec::new();
        // After a migration every open task row names the new version.
        let migrated = before.pathway_version != outcome.state.pathway_version;
        for (id, t) in &outcome.state.tasks {
            if migrated || before.tasks.get(id) != Some(t) {
                tasks.push(TaskChange {
                    task_id: id.clone(),
                    step: t.step.clone(),
                    title: t.adhoc.as_ref().map(|a| a.title.clone()),
                    at_step: t.adhoc.as_ref().and_then(|a| a.at_step.clone()),
                    roles: t.roles.clone(),
                    assignee: t.assignee.clone(),
                    status: "open",
                    opened_at: t.opened_at,
                    due_at: t.due.as_ref().map(|d| d.at),
                    closed_at: None,
                });
            }
        }
        for (id, t) in &before.tasks {
            if !outcome.state.tasks.contains_key(id) {
                let done = outcome
                    .events
                    .iter()
                    .any(|e| matches!(&e.kind, EventKind::TaskCompleted { task, .. } if task == id));
                tasks.push(TaskChange {
                    task_id: id.clone(),
                    step: t.step.clone(),
                    title: t.adhoc.as_ref().map(|a| a.title.clone()),
                    at_step: t.adhoc.as_ref().and_then(|a| a.at_step.clone()),
                    roles: t.roles.clone(),
                    assignee: t.assignee.clone(),
                    status: if done { "done" } else { "closed" },
                    opened_at: t.opened_at,
                    due_at: t.due.as_ref().map(|d| d.at),
                    closed_at: Some(at),
                });
            }
        }
        let mut stalls = Vec::new();
        for (key, s) in &outcome.state.stalls {
            if before.stalls.get(key) != Some(s) {
                stalls.push(StallChange {
                    key: key.clone(),
                    stall: s.clone(),
                    cleared: false,
                });
            }
        }
        for (key, s) in &before.stalls {
            if !outcome.state.stalls.contains_key(key) {
                stalls.push(StallChange {
                    key: key.clone(),
                    stall: s.clone(),
                    cleared: true,
                });
            }
        }
        // The last effect on a timer key wins, so one statement never touches a row twice.
        let mut last: BTreeMap<String, usize> = BTreeMap::new();
        for (i, e) in outcome.effects.iter().enumerate() {
            let key = match e {
                Effect::SetTimer(t) => format!("t:{}", t.key),
                Effect::CancelTimer { key } | Effect::TimerDone { key } => format!("t:{key}"),
                Effect::Notify(n) => format!("n:{}", n.key),
            };
            last.insert(key, i);
        }
        let keep: Vec<usize> = last.into_values().collect();
        let effects = outcome
            .effects
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, e)| e)
            .collect();
        CaseWrite {
            case_id: outcome.state.id.clone(),
            command_id,
            expected: before.seq,
            state: outcome.state,
            events: outcome.events,
            effects,
            tasks,
            stalls,
            at,
        }
    }
}

impl CaseWrite {
    /// The outcome this write carries (effects de-duplicated by key).
    pub fn into_outcome(self) -> Outcome {
        Outcome {
            state: self.state,
            events: self.events,
            effects: self.effects,
        }
    }
}

#[derive(Serialize)]
struct CaseRow<'a> {
    id: &'a str,
    pk: &'a str,
    pv: u32,
    status: &'static str,
    resident: Option<&'a str>,
    business_key: Option<&'a str>,
    outcome: Option<&'a str>,
    ended_at: Option<String>,
    /// The first and the latest participatieladder rung.
    rung_first: Option<u8>,
    rung_last: Option<u8>,
    version: u64,
    expected: u64,
    cmd: &'a str,
    at: String,
    /// Where the state is in [`BatchJson::state_bytes`]: 1-based offset and length.
    so: usize,
    sl: usize,
}

#[derive(Serialize)]
struct EventRow<'a> {
    case_id: &'a str,
    cmd: &'a str,
    seq: u64,
    count: usize,
    at: String,
    actor: &'a str,
    command: &'a str,
    /// Where the payload is in [`BatchJson::payload_bytes`]: 1-based offset and length.
    po: usize,
    pl: usize,
}

#[derive(Serialize)]
struct TaskRowOut<'a> {
    case_id: &'a str,
    cmd: &'a str,
    pk: &'a str,
    pv: u32,
    task_id: &'a str,
    step: &'a str,
    title: Option<&'a str>,
    at_step: Option<&'a str>,
    role: &'a str,
    roles: &'a [String],
    assignee: Option<&'a str>,
    status: &'static str,
    opened_at: String,
    due_at: Option<String>,
    closed_at: Option<String>,
}

#[derive(Serialize)]
struct StallRowOut<'a> {
    case_id: &'a str,
    cmd: &'a str,
    key: &'a str,
    pathway_key: &'a str,
    reason: &'a str,
    step: Option<&'a str>,
    party: Option<&'a str>,
    since: String,
    raised_at: String,
    cleared_at: Option<String>,
}

#[derive(Serialize)]
struct TimerRow<'a> {
    case_id: &'a str,
    cmd: &'a str,
    key: &'a str,
    task_id: Option<&'a str>,
    kind: &'static str,
    due_at: String,
    /// `pending` to set, `cancelled` to cancel.
    status: &'static str,
}

#[derive(Serialize)]
struct OutboxRow<'a> {
    case_id: &'a str,
    cmd: &'a str,
    key: &'a str,
    task_id: Option<&'a str>,
    kind: &'static str,
    recipient_type: &'static str,
    recipient: &'a str,
    created_at: String,
    /// Data the message needs frozen at the moment it was made (a joint visit).
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a crate::runtime::Visit>,
}

/// The timer kind a key names by its prefix (`deadline:…`, `visit:…`).
fn kind_of_key(key: &str) -> &'static str {
    match key.split(':').next() {
        Some("deadline") => "deadline",
        Some("escalation") => "escalation",
        Some("stall") => "stall",
        Some("inactive") => "inactivity",
        Some("visit") => "visit_reminder",
        Some("link") => "link",
        Some("resume") => "resume",
        Some("provision") => "provision",
        Some("phase") => "phase",
        _ => "other",
    }
}

/// One JSON array per table for a batch. The large values (case states, event payloads)
/// travel in arrays of their own, aligned by position with their rows: SQLite then
/// extracts each once by index instead of re-reading it with every column of its row.
pub(crate) struct BatchJson {
    pub cases: String,
    /// The states' JSON one after another, each found by its row's offset and length:
    /// cut out as bytes, without parsing them again (SQLite's fast commit).
    pub state_bytes: Vec<u8>,
    /// (1-based offset, length) of each case row's state in `state_bytes`.
    state_at: Vec<(usize, usize)>,
    pub events: String,
    pub payload_bytes: Vec<u8>,
    /// (1-based offset, length) of each event row's payload in `payload_bytes`.
    payload_at: Vec<(usize, usize)>,
    pub tasks: String,
    /// Timers to set and to cancel.
    pub timers: String,
    pub stalls: String,
    pub outbox: String,
}

pub(crate) fn batch_json(writes: &[CaseWrite]) -> Result<BatchJson, serde_json::Error> {
    let mut cases = Vec::with_capacity(writes.len());
    let mut state_bytes = Vec::new();
    let mut events = Vec::new();
    let mut payload_bytes = Vec::new();
    // Appends one value's JSON and says where it is (1-based, as SQL's substr counts).
    let append =
        |bytes: &mut Vec<u8>, value: &dyn erased::Json| -> Result<(usize, usize), serde_json::Error> {
            let start = bytes.len();
            value.write(bytes)?;
            Ok((start + 1, bytes.len() - start))
        };
    let mut tasks = Vec::new();
    let mut timers = Vec::new();
    let mut outbox = Vec::new();
    let mut stalls = Vec::new();
    for w in writes {
        let cmd = w.command_id.as_str();
        let (so, sl) = append(&mut state_bytes, &w.state)?;
        cases.push(CaseRow {
            id: &w.case_id,
            pk: &w.state.pathway_key,
            pv: w.state.pathway_version,
            status: w.state.status.as_str(),
            resident: w.state.resident.as_deref(),
            business_key: w.state.business_key.as_deref(),
            outcome: w.state.outcome.as_deref(),
            ended_at: w.state.ended_at.map(ts),
            rung_first: w.state.rung_history.first().map(|r| r.rung),
            rung_last: w.state.rung,
            version: w.state.seq,
            expected: w.expected,
            cmd,
            at: ts(w.at),
            so,
            sl,
        });
        if let Some(first) = w.events.first() {
            let kinds: Vec<_> = w.events.iter().map(|e| &e.kind).collect();
            let (po, pl) = append(&mut payload_bytes, &kinds)?;
            events.push(EventRow {
                case_id: &w.case_id,
                cmd,
                seq: w.expected + 1,
                count: w.events.len(),
                at: ts(first.at),
                actor: &first.actor,
                command: &first.command,
                po,
                pl,
            });
        }
        for t in &w.tasks {
            tasks.push(TaskRowOut {
                case_id: &w.case_id,
                cmd,
                pk: &w.state.pathway_key,
                pv: w.state.pathway_version,
                task_id: &t.task_id,
                step: &t.step,
                title: t.title.as_deref(),
                at_step: t.at_step.as_deref(),
                role: t.roles.first().map(String::as_str).unwrap_or(""),
                roles: &t.roles,
                assignee: t.assignee.as_deref(),
                status: t.status,
                opened_at: ts(t.opened_at),
                due_at: t.due_at.map(ts),
                closed_at: t.closed_at.map(ts),
            });
        }
        for s in &w.stalls {
            stalls.push(StallRowOut {
                case_id: &w.case_id,
                cmd,
                key: &s.key,
                pathway_key: &w.state.pathway_key,
                reason: &s.stall.reason,
                step: s.stall.step.as_deref(),
                party: s.stall.party.as_deref(),
                since: ts(s.stall.since),
                raised_at: ts(s.stall.raised_at),
                cleared_at: s.cleared.then(|| ts(w.at)),
            });
        }
        for e in &w.effects {
            match e {
                Effect::SetTimer(t) => timers.push(TimerRow {
                    case_id: &w.case_id,
                    cmd,
                    key: &t.key,
                    task_id: t.task.as_deref(),
                    kind: t.kind.as_str(),
                    due_at: ts(t.due_at),
                    status: "pending",
                }),
                // A cancelled key that was never set is kept as a tombstone row: cheaper
                // than looking it up, and it can never fire.
                Effect::CancelTimer { key } => timers.push(TimerRow {
                    case_id: &w.case_id,
                    cmd,
                    key,
                    task_id: None,
                    kind: kind_of_key(key),
                    due_at: ts(w.at),
                    status: "cancelled",
                }),
                Effect::TimerDone { key } => timers.push(TimerRow {
                    case_id: &w.case_id,
                    cmd,
                    key,
                    task_id: None,
                    kind: kind_of_key(key),
                    due_at: ts(w.at),
                    status: "fired",
                }),
                Effect::Notify(n) => {
                    let (recipient_type, recipient) = match &n.to {
                        Recipient::Role(r) => ("role", r.as_str()),
                        Recipient::User(u) => ("user", u.as_str()),
                        Recipient::Address(a) => ("address", a.as_str()),
                        Recipient::Resident => ("resident", ""),
                    };
                    outbox.push(OutboxRow {
                        case_id: &w.case_id,
                        cmd,
                        key: &n.key,
                        task_id: n.task.as_deref(),
                        kind: n.kind.as_str(),
                        recipient_type,
                        recipient,
                        created_at: ts(n.at),
                        payload: n.visit.as_ref(),
                    });
                }
            }
        }
    }
    Ok(BatchJson {
        state_at: cases.iter().map(|c| (c.so, c.sl)).collect(),
        cases: serde_json::to_string(&cases)?,
        state_bytes,
        payload_at: events.iter().map(|e| (e.po, e.pl)).collect(),
        events: serde_json::to_string(&events)?,
        payload_bytes,
        tasks: serde_json::to_string(&tasks)?,
        timers: serde_json::to_string(&timers)?,
        outbox: serde_json::to_string(&outbox)?,
        stalls: serde_json::to_string(&stalls)?,
    })
}

impl BatchJson {
    /// The states as one JSON array, in the order of the case rows: made only where a
    /// statement takes them that way (PostgreSQL, SQLite's statement-by-statement commit),
    /// not on SQLite's fast path, which cuts them out of `state_bytes`.
    pub fn states(&self) -> String {
        json_array(&self.state_bytes, &self.state_at)
    }

    /// The event payloads as one JSON array, in the order of the event rows.
    pub fn payloads(&self) -> String {
        json_array(&self.payload_bytes, &self.payload_at)
    }
}

/// A JSON array of the values at (1-based offset, length) in `bytes`, each valid JSON
/// written by serde_json (so the array is too).
fn json_array(bytes: &[u8], at: &[(usize, usize)]) -> String {
    let mut out = Vec::with_capacity(bytes.len() + at.len() + 2);
    out.push(b'[');
    for (i, &(offset, len)) in at.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(bytes.get(offset - 1..offset - 1 + len).unwrap_or_default());
    }
    out.push(b']');
    // serde_json writes UTF-8, and every piece is cut at a value's bounds.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Serialising through a trait object, so one closure writes states and payloads.
mod erased {
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
            serde_json::to_writer(out, self)
        }
    }
}
