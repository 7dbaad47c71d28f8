//! The invariant checker (`doorloop check`): what must hold of a store after any run, on
//! either backend, however processes died or requests raced. Read-only.
//!
//! Checked per case: event sequence numbers run 1, 2, 3 … without gaps; replaying the events
//! gives the stored state; the open task rows are exactly the state's open tasks; an ended
//! case has no open tasks, and no pending timers but the ones that deliver its end (telling
//! the case it came from, applying provision changes); every pending timer of a task belongs
//! to an open task that lists it; and the outbox rows are counted.

use std::collections::BTreeSet;

use crate::runtime::{CaseState, CaseStatus};
use crate::store::{Store, StoreError};

/// One thing that does not hold, with the case it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub case: String,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "case {}: {}", self.case, self.what)
    }
}

/// What the checker looked at, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub cases: usize,
    pub events: usize,
    pub open_tasks: usize,
    pub pending_timers: usize,
    pub outbox_rows: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Timer kinds a task owns: pending only while that task is open and lists them.
const TASK_TIMERS: &[&str] = &[
    "deadline",
    "escalation",
    "stall",
    "visit_reminder",
    "visit_outcome_missing",
];

/// Timer kinds that deliver what a case did, after it ended too.
const AFTER_END_TIMERS: &[&str] = &["resume", "provision", "link"];

/// Checks every case in the store.
pub async fn check(store: &dyn Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for summary in store.cases(None, &[], None, u32::MAX).await? {
        report.cases += 1;
        check_case(store, &summary.id, &mut report).await?;
    }
    Ok(report)
}

async fn check_case(store: &dyn Store, id: &str, report: &mut Report) -> Result<(), StoreError> {
    let mut found: Vec<String> = Vec::new();
    let events = store.events(id).await?;
    let Some(stored) = store.load_case(id).await? else {
        report.violations.push(Violation {
            case: id.to_owned(),
            what: "listed, but its state cannot be loaded".into(),
        });
        return Ok(());
    };
    // Sequence numbers: 1, 2, 3 … and the state says how far.
    if let Some((i, e)) = events
        .iter()
        .enumerate()
        .find(|(i, e)| e.seq != u64::try_from(*i).unwrap_or(u64::MAX).saturating_add(1))
    {
        found.push(format!(
            "event {} has sequence number {} (a gap or a repeat)",
            i + 1,
            e.seq
        ));
    }
    if stored.seq != events.len() as u64 {
        found.push(format!(
            "the state is at event {} but the log holds {}",
            stored.seq,
            events.len()
        ));
    }
    // Replaying the log gives the state (the resident and origin live on the case row).
    let mut replayed = CaseState::replay(id, events.iter().map(|e| &e.event));
    replayed.resident.clone_from(&stored.resident);
    replayed.came_from.clone_from(&stored.came_from);
    let differing = differing_fields(&replayed, &stored);
    if !differing.is_empty() {
        found.push(format!(
            "replaying its {} events does not give the stored state (differs in: {})",
            events.len(),
            differing.join(", ")
        ));
    }
    // The work list's rows are the state's open tasks.
    let rows = store.task_rows(id).await?;
    let open_rows: BTreeSet<&str> = rows
        .iter()
        .filter(|(_, status)| status == "open")
        .map(|(task, _)| task.as_str())
        .collect();
    let open_state: BTreeSet<&str> = stored.tasks.keys().map(String::as_str).collect();
    report.open_tasks += open_rows.len();
    if open_rows != open_state {
        found.push(format!(
            "open task rows {open_rows:?} differ from the state's open tasks {open_state:?}"
        ));
    }
    let ended = stored.status != CaseStatus::Active && stored.status != CaseStatus::New;
    if ended && !stored.tasks.is_empty() {
        found.push(format!(
            "it has ended ({}) with open tasks",
            stored.status.as_str()
        ));
    }
    // Timers: a task's belong to that open task; nothing else waits on an ended case.
    let timers = store.pending_timers(id).await?;
    report.pending_timers += timers.len();
    let listed: BTreeSet<&str> = stored
        .tasks
        .values()
        .flat_map(|t| t.timers.iter().map(String::as_str))
        .collect();
    let of_phases: BTreeSet<&str> = stored
        .phases
        .values()
        .flat_map(|p| p.timers.iter().map(String::as_str))
        .collect();
    for (key, kind, _) in &timers {
        if TASK_TIMERS.contains(&kind.as_str()) && !listed.contains(key.as_str()) {
            found.push(format!("pending {kind} timer {key} belongs to no open task"));
        } else if kind == "phase" && !of_phases.contains(key.as_str()) {
            found.push(format!(
                "pending phase timer {key} belongs to no phase the case is in"
            ));
        } else if ended && !AFTER_END_TIMERS.contains(&kind.as_str()) && !TASK_TIMERS.contains(&kind.as_str())
        {
            found.push(format!("pending {kind} timer {key} on an ended case"));
        }
    }
    report.outbox_rows += store.outbox(id).await?.len();
    report.events += events.len();
    report.violations.extend(found.into_iter().map(|what| Violation {
        case: id.to_owned(),
        what,
    }));
    Ok(())
}

/// The top-level fields in which two states differ, by name. Moments count to the
/// microsecond: the event log keeps them so (the state in memory had nanoseconds).
fn differing_fields(a: &CaseState, b: &CaseState) -> Vec<String> {
    let (Ok(mut a), Ok(mut b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return vec!["(not comparable)".into()];
    };
    to_microseconds(&mut a);
    to_microseconds(&mut b);
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (a, b) else {
        return vec!["(not comparable)".into()];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Every RFC 3339 moment in `v`, cut to whole microseconds.
fn to_microseconds(v: &mut serde_json::Value) {
    use chrono::SubsecRound;
    match v {
        serde_json::Value::String(text) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
                *text = t
                    .to_utc()
                    .trunc_subsecs(6)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(to_microseconds),
        serde_json::Value::Object(map) => map.values_mut().for_each(to_microseconds),
        _ => {}
    }
}

/// What `doorloop access-log verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessVerification {
    /// Rows read, in the order they were written.
    pub rows: usize,
    /// Rows written before the chain began (they carry no hash).
    pub before_chain: usize,
    /// The last row's hash: keep it somewhere else to notice the log's end cut off later.
    pub head: Option<String>,
    /// Each row whose hash does not follow from the row before it and its own content.
    pub broken: Vec<String>,
}

/// Walks the access log's hash chain from its first row: a changed row, a removed one (its
/// successor's hash no longer follows) and a row without a hash after the chain began are
/// each named by their id.
pub async fn verify_access_log(store: &dyn Store) -> Result<AccessVerification, StoreError> {
    const BATCH: u32 = 5_000;
    let mut v = AccessVerification::default();
    let mut after = 0;
    let mut prev: Option<(i64, String)> = None;
    loop {
        let rows = store.access_chain(after, BATCH).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        for row in rows {
            v.rows += 1;
            let Some(hash) = &row.hash else {
                match &prev {
                    None => v.before_chain += 1,
                    Some(_) => v
                        .broken
                        .push(format!("row {} has no hash, though the chain had begun", row.id)),
                }
                continue;
            };
            let expected = crate::store::access_hash(prev.as_ref().map(|(_, h)| h.as_str()), &row.entry);
            if &expected != hash {
                v.broken.push(match &prev {
                    Some((id, _)) if row.id != id + 1 => format!(
                        "row {}: its hash does not follow from row {id} before it: rows {} to {} are gone, or one of these rows was changed",
                        row.id,
                        id + 1,
                        row.id - 1
                    ),
                    Some((id, _)) => format!(
                        "row {}: its hash does not follow: this row was changed, or row {id} before it",
                        row.id
                    ),
                    None => format!("row {}: the chain's first row was changed", row.id),
                });
            }
            prev = Some((row.id, hash.clone()));
        }
    }
    v.head = prev.map(|(_, h)| h);
    Ok(v)
}
