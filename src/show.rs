//! Plain-text views for the terminal. Times are shown in Europe/Amsterdam.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::figures::stall::{QueueLine, Risk};
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::runtime::{CaseState, EventKind};
use doorloop_engine::store::{StoredEvent, TaskRow};

/// Appends one line to an output buffer.
macro_rules! out {
    ($o:expr) => {
        $o.push('\n')
    };
    ($o:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($arg)*);
    }};
}

/// Writes a finished view to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).format("%Y-%m-%d %H:%M").to_string()
}

fn day(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).format("%Y-%m-%d").to_string()
}

/// Status of a deadline: overdue, due within 3 days, or on track.
fn urgency(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
    match due {
        Some(d) if d < now => "OVERDUE",
        Some(d) if d < now + chrono::Duration::days(3) => "soon",
        Some(_) => "",
        None => "",
    }
}

pub fn tasks(rows: &[TaskRow], risks: &[Option<Risk>]) {
    let mut o = String::new();
    if rows.is_empty() {
        out!(o, "no open tasks");
        return emit(&o);
    }
    out!(
        o,
        "{:<10} {:<7} {:<36} {:<5} {:<26} {:<34} {}",
        "due",
        "",
        "case",
        "task",
        "step",
        "roles",
        "assignee"
    );
    for (t, risk) in rows.iter().zip(risks) {
        out!(
            o,
            "{:<10} {:<9} {:<36} {:<5} {:<26} {:<34} {}",
            t.due_at.map(day).unwrap_or_else(|| "-".into()),
            risk.map(|r| r.as_str()).unwrap_or(""),
            t.case_id,
            t.task_id,
            t.step,
            t.roles.join(","),
            t.assignee.as_deref().unwrap_or("-")
        );
    }
    out!(o, "{} open task(s)", rows.len());
    emit(&o);
}

pub fn stalls(queue: &[QueueLine]) {
    let mut o = String::new();
    if queue.is_empty() {
        out!(o, "no stalled cases");
        return emit(&o);
    }
    for q in queue {
        let party = q.party.as_deref().map(|p| format!(" on {p}")).unwrap_or_default();
        let step = q.step.as_deref().map(|s| format!(" at {s}")).unwrap_or_default();
        out!(
            o,
            "{} case(s) waiting{party}{step} ({}): median {} days, oldest {} days",
            q.cases,
            q.reason,
            q.median_days,
            q.oldest_days
        );
    }
    emit(&o);
}

pub fn open_tasks(state: &CaseState) {
    let mut o = String::new();
    if state.tasks.is_empty() {
        out!(
            o,
            "case {} is {}{}",
            state.id,
            state.status.as_str(),
            state
                .outcome
                .as_ref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default()
        );
        return emit(&o);
    }
    for t in state.tasks.values() {
        out!(
            o,
            "open: {} {} [{}] due {}",
            t.id,
            t.adhoc
                .as_ref()
                .map_or_else(|| t.step.clone(), |a| format!("adhoc \"{}\"", a.title)),
            t.roles.join(", "),
            t.due.as_ref().map(|d| day(d.at)).unwrap_or_else(|| "-".into())
        );
    }
    emit(&o);
}

pub fn case(
    pv: &PathwayVersion,
    state: &CaseState,
    events: &[StoredEvent],
    timers: &[(String, String, DateTime<Utc>)],
    now: DateTime<Utc>,
) {
    let mut o = String::new();
    out!(o, "case {}", state.id);
    out!(
        o,
        "pathway   {} v{} — {}",
        pv.pathway.key,
        pv.version,
        pv.pathway.name
    );
    let status = match &state.outcome {
        Some(o) => format!("{} ({o})", state.status.as_str()),
        None => state.status.as_str().to_owned(),
    };
    out!(o, "status    {status}");
    if let Some(s) = state.started_at {
        out!(o, "started   {}", local(s));
    }
    if let Some(r) = state.rung {
        let history: Vec<String> = state
            .rung_history
            .iter()
            .map(|h| format!("{} ({})", h.rung, day(h.at)))
            .collect();
        out!(o, "ladder    rung {r}; history: {}", history.join(" → "));
    }
    if !state.team.is_empty() {
        out!(o, "team      {}", state.team.join(", "));
    }
    if let Some(r) = &state.resident {
        out!(o, "resident  {r}");
    }
    if let Some(key) = &state.business_key {
        out!(o, "business key  {key}");
    }
    if let Some(from) = &state.came_from {
        out!(
            o,
            "linked    started from case {} ({}, step {})",
            from.case,
            from.pathway,
            from.step
        );
    }
    for l in &state.links {
        out!(
            o,
            "linked    case {} on {} (step {}){}",
            l.case,
            l.pathway,
            l.step,
            l.outcome
                .as_ref()
                .map(|x| format!(", ended: {x}"))
                .unwrap_or_default()
        );
    }
    out!(o);
    if state.tasks.is_empty() {
        out!(o, "open tasks: none");
    } else {
        out!(o, "open tasks:");
        for t in state.tasks.values() {
            let name = pv
                .step(&t.step)
                .map(|s| s.display_name().to_owned())
                .unwrap_or_default();
            out!(o, "  {} {} — {}", t.id, t.step, name);
            out!(o, "      roles     {}", t.roles.join(", "));
            if let Some(a) = &t.assignee {
                out!(o, "      assignee  {a}");
            }
            if let Some(d) = &t.due {
                let u = urgency(Some(d.at), now);
                out!(
                    o,
                    "      deadline  {} ({}){}",
                    day(d.at),
                    d.term,
                    if u.is_empty() {
                        String::new()
                    } else {
                        format!(" {u}")
                    }
                );
                for line in &d.explanation {
                    out!(o, "                · {line}");
                }
            }
            if let Some(v) = &t.visit {
                out!(
                    o,
                    "      visit     {}{} with {}",
                    local(v.at),
                    v.place.as_ref().map(|p| format!(" at {p}")).unwrap_or_default(),
                    v.participants.join(", ")
                );
            }
        }
    }
    if !timers.is_empty() {
        out!(o);
        out!(o, "pending timers:");
        for (key, kind, due) in timers {
            out!(o, "  {} {kind} ({key})", local(*due));
        }
    }
    out!(o);
    out!(o, "timeline:");
    for e in events {
        let what = match &e.event.kind {
            EventKind::CaseStarted {
                pathway_key,
                pathway_version,
                ..
            } => {
                format!("case started on {pathway_key} v{pathway_version}")
            }
            EventKind::LinkedCaseStarted { link } => {
                format!(
                    "linked case {} started on {} (step {})",
                    link.case, link.pathway, link.step
                )
            }
            EventKind::LinkedCaseEnded { case, outcome } => format!("linked case {case} ended: {outcome}"),
            EventKind::ProvisionChanged { change } => {
                format!("provision {} set to {}", change.kind, change.status.as_str())
            }
            EventKind::TaskOpened { task } => format!(
                "task {} opened: {} [{}]",
                task.id,
                task.step,
                task.roles.join(", ")
            ),
            EventKind::TaskCompleted { task, step, data } => {
                let fields: Vec<&String> = data.keys().collect();
                if fields.is_empty() {
                    format!("task {task} completed: {step}")
                } else {
                    format!(
                        "task {task} completed: {step} (filled in: {})",
                        fields.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )
                }
            }
            EventKind::TaskClosed { task, step, reason } => {
                format!("task {task} closed: {step} ({reason})")
            }
            EventKind::TaskAssigned { task, user } => match user {
                Some(u) => format!("task {task} assigned to {u}"),
                None => format!("task {task} released"),
            },
            EventKind::VisitPlanned { task, visit } => {
                format!(
                    "visit for {task} planned at {} (revision {})",
                    local(visit.at),
                    visit.revision
                )
            }
            EventKind::VariablesSet { values } => {
                format!(
                    "variables set: {}",
                    values.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
            EventKind::RungSet { rung, .. } => format!("ladder rung {rung} recorded"),
            EventKind::CaseEnded { outcome, step } => format!("case ended at {step}: {outcome}"),
            EventKind::CaseWithdrawn { reason } => format!("case withdrawn: {reason}"),
            EventKind::NoteRecorded { kind, .. } => format!("{kind} recorded"),
            EventKind::MessageReceived { name, step, .. } => format!("message {name} ended {step}"),
            EventKind::PhaseEntered { phase, due, .. } => match due {
                Some(due) => format!("phase {phase} entered; due {}", day(*due)),
                None => format!("phase {phase} entered"),
            },
            EventKind::PhaseLeft { phase } => format!("phase {phase} left"),
            EventKind::PhaseDeadlinePassed { phase } => format!("deadline of phase {phase} passed"),
            EventKind::PhaseEscalationRaised { phase, rung, to } => {
                format!("escalation rung {} for phase {phase} to {to}", rung + 1)
            }
            EventKind::SplitOpened { step, expected, .. } => {
                format!("{step}: {expected} branch(es) started")
            }
            EventKind::SplitClosed { .. } => "branches joined".to_owned(),
            EventKind::DueChanged { task, due } => match due.changes.last() {
                Some(c) => format!(
                    "deadline of {task} {} ({}); due {}",
                    c.kind,
                    c.reason,
                    day(due.at)
                ),
                None => format!("deadline of {task} changed; due {}", day(due.at)),
            },
            EventKind::DeadlinePassed { task, step } => format!("deadline of {task} ({step}) passed"),
            EventKind::EscalationRaised { task, step, rung, to } => {
                format!("escalation rung {} for {task} ({step}) to {to}", rung + 1)
            }
            EventKind::StallRaised { stall, .. } => format!(
                "stall raised: {}{}{}",
                stall.reason,
                stall
                    .step
                    .as_ref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default(),
                stall
                    .party
                    .as_ref()
                    .map(|p| format!(", waiting on {p}"))
                    .unwrap_or_default()
            ),
            EventKind::StallCleared { key } => format!("stall cleared ({key})"),
            EventKind::CaseMigrated {
                from_version,
                to_version,
                mapping,
            } => {
                let moved: Vec<String> = mapping
                    .iter()
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| format!("{a} → {b}"))
                    .collect();
                format!(
                    "migrated from version {from_version} to {to_version}{}",
                    if moved.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", moved.join(", "))
                    }
                )
            }
            EventKind::TaskMoved { task, step, due, .. } => match due {
                Some(due) => format!("{task} now at {step}; due {}", day(due.at)),
                None => format!("{task} now at {step}, without a deadline"),
            },
            EventKind::TimersReplaced { .. } => continue,
            EventKind::TokenPlaced { .. }
            | EventKind::TokenMoved { .. }
            | EventKind::TokenRemoved { .. }
            | EventKind::BranchArrived { .. } => continue,
        };
        out!(
            o,
            "  {:>3}  {}  {:<12} {what}",
            e.seq,
            local(e.event.at),
            e.event.actor
        );
    }
    emit(&o);
}
