//! Case state and the events that build it. `evolve` is the only code that changes a
//! state, so replaying a case's events reproduces its stored state exactly.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Blank state before `StartCase`.
    New,
    Active,
    Ended,
    Withdrawn,
}

impl CaseStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Active => "active",
            CaseStatus::Ended => "ended",
            CaseStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A token: one thread of control at a step. `frames` are the split instances it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub step: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<u64>,
}

/// A running split: how many branches it started and how many have reached the join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitState {
    pub step: String,
    pub expected: u32,
    pub arrived: u32,
}

/// A planned joint visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    pub participants: Vec<String>,
    /// Increases with every re-planning; part of reminder keys.
    pub revision: u32,
    /// E-mail addresses of people outside Doorloop who are invited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<String>,
    /// Whether the resident is invited (at the address on their record).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resident: bool,
}

/// An open piece of work for people: a task, a joint visit or a wait to follow up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub step: String,
    pub token: u64,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    pub opened_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DueInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<Visit>,
    /// Keys of the timers this task owns; cancelled when it closes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<String>,
    /// Set on work added outside the drawn pathway ("doe wat nodig is"); its `step` is
    /// [`ADHOC_STEP`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adhoc: Option<Box<AdHoc>>,
}

/// The step name of every ad-hoc task: it belongs to no step of the drawing.
pub const ADHOC_STEP: &str = "adhoc";

/// Longest title of an ad-hoc task, in characters.
pub const ADHOC_TITLE_MAX: usize = 200;

/// Work added by a person outside the drawn pathway, and where the case stood then: what
/// coordinators compare with the drawing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdHoc {
    pub title: String,
    pub reason: String,
    /// The step of the case's oldest open drawn task when the work was added, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_step: Option<String>,
}

impl AdHoc {
    /// The step an ad-hoc task's form follows: named by its title, described by its reason,
    /// for `roles`, with one optional text field for what was done ([`super::ADHOC_NOTE`]).
    pub fn step(&self, roles: &[String]) -> Option<crate::pathway::model::Step> {
        serde_json::from_value(serde_json::json!({
            "id": ADHOC_STEP,
            "kind": "task",
            "name": self.title,
            "description": format!("Toegevoegd buiten het traject. Reden: {}", self.reason),
            "roles": roles,
            "fields": [{"name": super::ADHOC_NOTE, "type": "text", "label": "Wat is er gedaan?"}],
        }))
        .ok()
    }
}

impl Task {
    /// What people read for this task: an ad-hoc task's title, else the step's name.
    pub fn title<'a>(&'a self, pv: &'a crate::pathway::model::PathwayVersion) -> &'a str {
        match &self.adhoc {
            Some(a) => &a.title,
            None => pv
                .step(&self.step)
                .map_or(self.step.as_str(), |s| s.display_name()),
        }
    }
}

/// A computed due date with its reasoning: base date, rule, and every suspension and
/// extension with reason and actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueInfo {
    /// The current due moment (while suspended: as it stood when the clock stopped).
    pub at: DateTime<Utc>,
    /// The due moment before any suspension or extension.
    pub original_at: DateTime<Utc>,
    pub term: String,
    /// When the clock started.
    pub base: DateTime<Utc>,
    /// Whether the Algemene termijnenwet applied to the end date.
    #[serde(default)]
    pub atw: bool,
    pub explanation: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ClockChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_since: Option<DateTime<Utc>>,
    /// Increases with every change; part of the deadline timers' keys.
    pub revision: u32,
}

/// A suspension, resumption or extension of a clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockChange {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

/// A stall: the case is not moving, with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    /// Reason code: a wait reason (`uwv`, `wmo_besluit`, `zorgaanbieder`, …), `intern`,
    /// or `inactief` for a case without events.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// Since when the case has been waiting.
    pub since: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
}

/// One entry of the participatieladder history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RungChange {
    pub rung: u8,
    pub at: DateTime<Utc>,
    pub step: Option<String>,
}

/// A case started from this one for the same resident (a linked pathway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked case's id.
    pub case: String,
    pub pathway: String,
    /// The step that started it.
    pub step: String,
    /// The wait task that waits for it to end, if the step waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Who caused it (the person who completed the step); they start the linked case.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
    /// Its outcome, once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// The case (and step) a linked case was started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameFrom {
    pub case: String,
    pub pathway: String,
    pub step: String,
    /// The wait task of the original case that resumes when this case ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// The whole state of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    pub id: String,
    pub pathway_key: String,
    pub pathway_version: u32,
    pub status: CaseStatus,
    /// The resident the case belongs to (set when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<String>,
    /// The case this one was started from (a linked pathway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub came_from: Option<CameFrom>,
    /// The sender's own reference for the case (a UWV or provider case number), set at the
    /// start; a message may address the case by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_key: Option<String>,
    /// Cases started from this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<DateTime<Utc>>,
    /// When the case ended or was withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    pub variables: BTreeMap<String, Value>,
    pub tokens: BTreeMap<u64, Token>,
    pub splits: BTreeMap<u64, SplitState>,
    pub tasks: BTreeMap<String, Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rung_history: Vec<RungChange>,
    /// Open stall flags by key (`task:{id}` or `inactive`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stalls: BTreeMap<String, Stall>,
    /// Ids of the messages from outside parties this case has received (each acts once).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub received: std::collections::BTreeSet<String>,
    /// The phases the case is in, by phase id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, PhaseState>,
    /// The last event caused by a person (timers do not count as activity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Users who acted on or were assigned to the case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<String>,
    /// Counter for token, split and task numbers.
    pub next_id: u64,
    /// Number of events applied; the optimistic-concurrency version of the case.
    pub seq: u64,
}

impl CaseState {
    /// The state before `StartCase`.
    pub fn blank(id: impl Into<String>) -> CaseState {
        CaseState {
            id: id.into(),
            pathway_key: String::new(),
            pathway_version: 0,
            status: CaseStatus::New,
            resident: None,
            came_from: None,
            business_key: None,
            links: Vec::new(),
            outcome: None,
            started_at: None,
            last_event_at: None,
            ended_at: None,
            variables: BTreeMap::new(),
            tokens: BTreeMap::new(),
            splits: BTreeMap::new(),
            tasks: BTreeMap::new(),
            rung: None,
            rung_history: Vec::new(),
            stalls: BTreeMap::new(),
            received: Default::default(),
            phases: BTreeMap::new(),
            last_activity_at: None,
            team: Vec::new(),
            next_id: 1,
            seq: 0,
        }
    }

    /// Rebuilds a state from its events.
    pub fn replay<'a>(id: &str, events: impl IntoIterator<Item = &'a Event>) -> CaseState {
        let mut s = CaseState::blank(id);
        for e in events {
            s.evolve(e);
        }
        s
    }

    fn add_to_team(&mut self, user: &str) {
        if !user.is_empty() && !self.team.iter().any(|u| u == user) {
            self.team.push(user.to_owned());
        }
    }

    /// Applies one event. Never fails: events are facts.
    pub fn evolve(&mut self, event: &Event) {
        self.seq += 1;
        self.last_event_at = Some(event.at);
        if event.command != TIMER_COMMAND && event.command != MIGRATE_COMMAND {
            self.last_activity_at = Some(event.at);
        }
        match &event.kind {
            EventKind::CaseStarted {
                pathway_key,
                pathway_version,
                variables,
                resident,
                came_from,
                business_key,
            } => {
                self.resident.clone_from(resident);
                self.came_from.clone_from(came_from);
                self.business_key.clone_from(business_key);
                self.pathway_key = pathway_key.clone();
                self.pathway_version = *pathway_version;
                self.status = CaseStatus::Active;
                self.started_at = Some(event.at);
                self.variables.extend(variables.clone());
                self.add_to_team(&event.actor);
            }
            EventKind::LinkedCaseStarted { link } => self.links.push(link.clone()),
            // The resident's provisions live beside the case, not in it.
            EventKind::ProvisionChanged { .. } => {}
            EventKind::LinkedCaseEnded { case, outcome } => {
                if let Some(l) = self.links.iter_mut().find(|l| &l.case == case) {
                    l.outcome = Some(outcome.clone());
                }
            }
            EventKind::TokenPlaced { token, step, frames } => {
                self.next_id = self.next_id.max(token + 1);
                self.tokens.insert(
                    *token,
                    Token {
                        step: step.clone(),
                        frames: frames.clone(),
                    },
                );
            }
            EventKind::TokenMoved { token, to } => {
                if let Some(t) = self.tokens.get_mut(token) {
                    t.step = to.clone();
                }
            }
            EventKind::TokenRemoved { token } => {
                self.tokens.remove(token);
            }
            EventKind::SplitOpened {
                instance,
                step,
                expected,
            } => {
                self.next_id = self.next_id.max(instance + 1);
                self.splits.insert(
                    *instance,
                    SplitState {
                        step: step.clone(),
                        expected: *expected,
                        arrived: 0,
                    },
                );
            }
            EventKind::BranchArrived { instance, token } => {
                if let Some(s) = self.splits.get_mut(instance) {
                    s.arrived += 1;
                }
                self.tokens.remove(token);
            }
            EventKind::SplitClosed { instance } => {
                self.splits.remove(instance);
            }
            EventKind::TaskOpened { task } => {
                if let Some(n) = task.id.strip_prefix('t').and_then(|n| n.parse::<u64>().ok()) {
                    self.next_id = self.next_id.max(n + 1);
                }
                self.tasks.insert(task.id.clone(), task.clone());
            }
            EventKind::TaskAssigned { task, user } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.assignee = user.clone();
                }
                if let Some(u) = user {
                    self.add_to_team(u);
                }
            }
            EventKind::VisitPlanned { task, visit } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    // The visit's timers follow in a `TimersReplaced` event.
                    t.visit = Some(visit.clone());
                }
                for p in &visit.participants {
                    self.add_to_team(p);
                }
            }
            EventKind::TaskCompleted { task, .. } | EventKind::TaskClosed { task, .. } => {
                self.tasks.remove(task);
                self.add_to_team(&event.actor);
            }
            EventKind::VariablesSet { values } => {
                for (k, v) in values {
                    self.variables.insert(k.clone(), v.clone());
                }
            }
            EventKind::RungSet { rung, step } => {
                self.rung = Some(*rung);
                self.rung_history.push(RungChange {
                    rung: *rung,
                    at: event.at,
                    step: step.clone(),
                });
            }
            EventKind::CaseEnded { outcome, .. } => {
                self.status = CaseStatus::Ended;
                self.outcome = Some(outcome.clone());
                self.ended_at = Some(event.at);
            }
            EventKind::DueChanged { task, due } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.due = Some(due.clone());
                }
            }
            EventKind::TimersReplaced { task, timers } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.timers = timers.clone();
                }
            }
            EventKind::DeadlinePassed { .. } | EventKind::EscalationRaised { .. } => {}
            EventKind::StallRaised { key, stall } => {
                self.stalls.insert(key.clone(), stall.clone());
            }
            EventKind::StallCleared { key } => {
                self.stalls.remove(key);
            }
            EventKind::CaseMigrated {
                to_version, mapping, ..
            } => {
                self.pathway_version = *to_version;
                for split in self.splits.values_mut() {
                    if let Some(to) = mapping.get(&split.step) {
                        split.step = to.clone();
                    }
                }
            }
            EventKind::TaskMoved {
                task,
                step,
                roles,
                due,
            } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.step = step.clone();
                    t.roles = roles.clone();
                    t.due = due.clone();
                }
            }
            EventKind::NoteRecorded { .. } => self.add_to_team(&event.actor),
            EventKind::MessageReceived { id, .. } => {
                self.received.insert(id.clone());
            }
            EventKind::PhaseEntered { phase, due, timers } => {
                self.phases.insert(
                    phase.clone(),
                    PhaseState {
                        entered_at: event.at,
                        due: *due,
                        timers: timers.clone(),
                    },
                );
            }
            EventKind::PhaseLeft { phase } => {
                self.phases.remove(phase);
            }
            EventKind::PhaseDeadlinePassed { .. } | EventKind::PhaseEscalationRaised { .. } => {}
            EventKind::CaseWithdrawn { .. } => {
                self.status = CaseStatus::Withdrawn;
                self.ended_at = Some(event.at);
                self.tokens.clear();
                self.splits.clear();
            }
        }
    }
}

/// A phase the case is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseState {
    pub entered_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    /// The pending timers of the phase's term (its deadline and ladder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<String>,
}

/// Kinds of notes a consultant records on a case's timeline.
pub const NOTE_KINDS: &[&str] = &["gespreksverslag", "telefoon", "email", "notitie"];

/// Longest note, in characters.
pub const NOTE_MAX: usize = 4000;

/// The command name of timer firings; they are not activity on a case.
pub const TIMER_COMMAND: &str = "timer_fired";
/// The command name of migrations; like timers, a migration is not activity on a case.
pub const MIGRATE_COMMAND: &str = "migrate_case";

/// Timer keys a planned visit owns: reminders before it and the missing-outcome check.
pub fn visit_timer_keys(case: &str, task: &str, revision: u32, reminders: usize) -> Vec<String> {
    (0..reminders)
        .map(|i| format!("reminder-{i}"))
        .chain(["outcome-missing".to_owned()])
        .map(|k| format!("visit:{case}:{task}:{revision}:{k}"))
        .collect()
}

/// One fact in a case's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// Who caused it: a user name, or `system`.
    pub actor: String,
    /// The command that produced it.
    pub command: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    CaseStarted {
        pathway_key: String,
        pathway_version: u32,
        variables: BTreeMap<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resident: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        came_from: Option<CameFrom>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        business_key: Option<String>,
    },
    /// A step started a case on another pathway for the same resident.
    LinkedCaseStarted {
        link: Link,
    },
    /// A linked case ended.
    LinkedCaseEnded {
        case: String,
        outcome: String,
    },
    /// A step changed one of the resident's provisions.
    ProvisionChanged {
        change: crate::resident::provision::ProvisionChange,
    },
    TokenPlaced {
        token: u64,
        step: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        frames: Vec<u64>,
    },
    TokenMoved {
        token: u64,
        to: String,
    },
    TokenRemoved {
        token: u64,
    },
    SplitOpened {
        instance: u64,
        step: String,
        expected: u32,
    },
    BranchArrived {
        instance: u64,
        token: u64,
    },
    SplitClosed {
        instance: u64,
    },
    TaskOpened {
        task: Task,
    },
    TaskAssigned {
        task: String,
        user: Option<String>,
    },
    VisitPlanned {
        task: String,
        visit: Visit,
    },
    TaskCompleted {
        task: String,
        step: String,
        data: BTreeMap<String, Value>,
    },
    TaskClosed {
        task: String,
        step: String,
        reason: String,
    },
    /// A note or a contact with the resident, outside any step: a conversation report, a
    /// phone call, an e-mail. `kind` is one of [`NOTE_KINDS`].
    NoteRecorded {
        kind: String,
        text: String,
    },
    /// The case entered a phase; its term runs until `due`.
    PhaseEntered {
        phase: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        timers: Vec<String>,
    },
    /// The case left a phase (its last work there is done, or the phase's deadline ended it).
    PhaseLeft {
        phase: String,
    },
    /// The phase's term has passed.
    PhaseDeadlinePassed {
        phase: String,
    },
    /// A rung of the phase's escalation ladder came.
    PhaseEscalationRaised {
        phase: String,
        rung: usize,
        to: String,
    },
    /// A message from an outside party arrived (and ended the wait `step`).
    MessageReceived {
        name: String,
        id: String,
        step: String,
    },
    VariablesSet {
        values: BTreeMap<String, Value>,
    },
    RungSet {
        rung: u8,
        step: Option<String>,
    },
    CaseEnded {
        outcome: String,
        step: String,
    },
    CaseWithdrawn {
        reason: String,
    },
    /// The clock of a task was suspended, resumed or extended.
    DueChanged {
        task: String,
        due: DueInfo,
    },
    /// The timer keys a task owns changed (after a clock change).
    TimersReplaced {
        task: String,
        timers: Vec<String>,
    },
    DeadlinePassed {
        task: String,
        step: String,
    },
    EscalationRaised {
        task: String,
        step: String,
        rung: usize,
        to: String,
    },
    StallRaised {
        key: String,
        stall: Stall,
    },
    StallCleared {
        key: String,
    },
    /// A coordinator moved the case to another version of its pathway; `mapping` says
    /// where the work on each occupied step went.
    CaseMigrated {
        from_version: u32,
        to_version: u32,
        mapping: BTreeMap<String, String>,
    },
    /// An open task belongs to another step now, with its roles and clock (a migration).
    TaskMoved {
        task: String,
        step: String,
        roles: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<DueInfo>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CaseStarted { .. } => "case_started",
            EventKind::LinkedCaseStarted { .. } => "linked_case_started",
            EventKind::LinkedCaseEnded { .. } => "linked_case_ended",
            EventKind::ProvisionChanged { .. } => "provision_changed",
            EventKind::TokenPlaced { .. } => "token_placed",
            EventKind::TokenMoved { .. } => "token_moved",
            EventKind::TokenRemoved { .. } => "token_removed",
            EventKind::SplitOpened { .. } => "split_opened",
            EventKind::BranchArrived { .. } => "branch_arrived",
            EventKind::SplitClosed { .. } => "split_closed",
            EventKind::TaskOpened { .. } => "task_opened",
            EventKind::TaskAssigned { .. } => "task_assigned",
            EventKind::VisitPlanned { .. } => "visit_planned",
            EventKind::TaskCompleted { .. } => "task_completed",
            EventKind::TaskClosed { .. } => "task_closed",
            EventKind::VariablesSet { .. } => "variables_set",
            EventKind::RungSet { .. } => "rung_set",
            EventKind::CaseEnded { .. } => "case_ended",
            EventKind::CaseWithdrawn { .. } => "case_withdrawn",
            EventKind::NoteRecorded { .. } => "note_recorded",
            EventKind::MessageReceived { .. } => "message_received",
            EventKind::PhaseEntered { .. } => "phase_entered",
            EventKind::PhaseLeft { .. } => "phase_left",
            EventKind::PhaseDeadlinePassed { .. } => "phase_deadline_passed",
            EventKind::PhaseEscalationRaised { .. } => "phase_escalation_raised",
            EventKind::DueChanged { .. } => "due_changed",
            EventKind::TimersReplaced { .. } => "timers_replaced",
            EventKind::DeadlinePassed { .. } => "deadline_passed",
            EventKind::EscalationRaised { .. } => "escalation_raised",
            EventKind::StallRaised { .. } => "stall_raised",
            EventKind::StallCleared { .. } => "stall_cleared",
            EventKind::CaseMigrated { .. } => "case_migrated",
            EventKind::TaskMoved { .. } => "task_moved",
        }
    }
}
