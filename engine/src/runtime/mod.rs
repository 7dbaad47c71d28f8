//! The pure case runtime: `apply(pathway, state, command, now) -> Outcome`.
//!
//! No IO and no clock reads. A command is decided by emitting events onto a working copy of
//! the state (through [`CaseState::evolve`], the same function replay uses) and collecting
//! effects: timers to set or cancel and notifications to enqueue. On any error nothing is
//! returned but the error, so the caller has nothing to persist.

mod clock;
mod effects;
mod forms;
mod migrate;
mod state;

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pathway::expr::Expr;
use crate::pathway::model::{FieldType, PathwayVersion, Phase, Step, StepKind};
use crate::time::calendar::Calendar;

pub use clock::{TimerKey, inactivity_key, linked_case_of, not_in_quiet_hours};
pub use effects::{Effect, Notification, NotificationKind, Recipient, Timer, TimerKind};
pub use forms::parse_field_value;
pub use migrate::{Migration, StepMapping, TargetProblem, TaskFate, TaskMigration, migrate, propose_mapping};
pub use state::{
    ADHOC_STEP, ADHOC_TITLE_MAX, AdHoc, CameFrom, CaseState, CaseStatus, ClockChange, DueInfo, Event,
    EventKind, Link, MIGRATE_COMMAND, NOTE_KINDS, NOTE_MAX, RungChange, SplitState, Stall, TIMER_COMMAND,
    Task, Token, Visit, visit_timer_keys,
};

/// Most people outside Doorloop one joint visit invites by e-mail.
pub const MAX_GUESTS: usize = 10;

/// A joint visit's guests as they are kept: trimmed, each a valid e-mail address, the
/// same address (in any case) once, at most [`MAX_GUESTS`].
pub fn check_guests(list: &[String]) -> Result<Vec<String>> {
    let mut guests: Vec<String> = Vec::new();
    for g in list {
        let g = g.trim();
        if !email_address::EmailAddress::is_valid(g) {
            return Err(RuntimeError::InvalidGuest {
                address: g.chars().take(100).collect(),
            });
        }
        if !guests.iter().any(|k| k.eq_ignore_ascii_case(g)) {
            guests.push(g.to_owned());
        }
    }
    if guests.len() > MAX_GUESTS {
        return Err(RuntimeError::TooManyGuests { limit: MAX_GUESTS });
    }
    Ok(guests)
}

/// Who outside Doorloop a joint visit invites.
struct Guests {
    guests: Vec<String>,
    invite_resident: bool,
}

/// The one field an ad-hoc task's completion may carry: what was done.
pub const ADHOC_NOTE: &str = "toelichting";

/// Most automatic moves one command may make before the runtime stops a runaway loop.
pub const STEP_LIMIT: usize = 10_000;

/// Who asks for what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub actor: String,
    pub action: Action,
}

impl Command {
    pub fn new(actor: impl Into<String>, action: Action) -> Command {
        Command {
            actor: actor.into(),
            action,
        }
    }
}

/// A task named by its id (`t7`) or by the step it is open on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef(pub String);

/// What a command does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    StartCase {
        variables: BTreeMap<String, Value>,
    },
    CompleteTask {
        task: TaskRef,
        data: BTreeMap<String, Value>,
    },
    PlanJointVisit {
        task: TaskRef,
        at: DateTime<Utc>,
        place: Option<String>,
        participants: Vec<String>,
        /// E-mail addresses of people outside Doorloop (a GP, an employer, family).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        guests: Vec<String>,
        /// Invite the resident at the address on their record.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        invite_resident: bool,
    },
    RecordVisitOutcome {
        task: TaskRef,
        data: BTreeMap<String, Value>,
    },
    SetVariables {
        values: BTreeMap<String, Value>,
    },
    /// Sends a case held at `step` (a gateway where no condition held and there is no
    /// default: the `route:` stall) on to `to`, one of the step's routes.
    ChooseRoute {
        step: String,
        to: String,
    },
    Reassign {
        task: TaskRef,
        to: Option<String>,
    },
    Withdraw {
        reason: String,
    },
    /// Record a note or a contact on the timeline (see [`state::NOTE_KINDS`]).
    RecordNote {
        kind: String,
        text: String,
    },
    /// Add work outside the drawn pathway ("doe wat nodig is") for a role, and optionally
    /// a person, with a reason and an optional date it should be done by.
    AddTask {
        title: String,
        reason: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<chrono::NaiveDate>,
    },
    /// Stop a task's clock (opschorten), where the step allows it.
    SuspendClock {
        task: TaskRef,
        reason: String,
    },
    ResumeClock {
        task: TaskRef,
        reason: String,
    },
    /// Extend a task's deadline (verlengen) within the step's maximum.
    ExtendDeadline {
        task: TaskRef,
        term: String,
        reason: String,
    },
    /// A message from an outside party: ends the open wait whose step awaits `name`, with
    /// `data` as that step's form; a message `id` already received does nothing.
    ReceiveMessage {
        name: String,
        id: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        data: BTreeMap<String, Value>,
    },
    /// A timer became due (sent by the scheduler).
    TimerFired {
        key: String,
    },
    /// A case started from this one has ended (sent by the engine).
    LinkedCaseEnded {
        case: String,
        outcome: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::StartCase { .. } => "start_case",
            Action::CompleteTask { .. } => "complete_task",
            Action::PlanJointVisit { .. } => "plan_joint_visit",
            Action::RecordVisitOutcome { .. } => "record_visit_outcome",
            Action::SetVariables { .. } => "set_variables",
            Action::ChooseRoute { .. } => "choose_route",
            Action::Reassign { .. } => "reassign",
            Action::Withdraw { .. } => "withdraw",
            Action::RecordNote { .. } => "record_note",
            Action::AddTask { .. } => "add_task",
            Action::SuspendClock { .. } => "suspend_clock",
            Action::ResumeClock { .. } => "resume_clock",
            Action::ExtendDeadline { .. } => "extend_deadline",
            Action::ReceiveMessage { .. } => "receive_message",
            Action::TimerFired { .. } => TIMER_COMMAND,
            Action::LinkedCaseEnded { .. } => "linked_case_ended",
        }
    }
}

/// The result of a command: the new state, the events to append, the effects to persist.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: CaseState,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("case {case} is {status}; it accepts no more commands")]
    CaseClosed { case: String, status: String },
    #[error("case {case} was not started from this case")]
    UnknownLink { case: String },
    #[error("case {case} has already been started")]
    AlreadyStarted { case: String },
    #[error("case {case} has not been started")]
    NotStarted { case: String },
    #[error("case {case} runs on {case_pathway}, not on {given}")]
    WrongPathway {
        case: String,
        case_pathway: String,
        given: String,
    },
    #[error("no open task `{task}` on case {case}")]
    TaskNotOpen { case: String, task: String },
    #[error("step `{step}` has {} open tasks ({}); name one by its task id", .ids.len(), .ids.join(", "))]
    AmbiguousTask { step: String, ids: Vec<String> },
    #[error("step `{step}`: required field `{field}` is missing")]
    MissingField { step: String, field: String },
    #[error("step `{step}` has no field `{field}`")]
    UnknownField { step: String, field: String },
    #[error("field `{field}` must be {expected}, got {got}")]
    FieldType {
        field: String,
        expected: String,
        got: String,
    },
    #[error("variable `{name}` is not declared in the pathway")]
    UnknownVariable { name: String },
    #[error("task `{task}` (step `{step}`) is a joint visit: plan it, then record its outcome")]
    IsJointVisit { task: String, step: String },
    #[error("task `{task}` (step `{step}`) is not a joint visit")]
    NotAJointVisit { task: String, step: String },
    #[error("joint visit `{task}` (step `{step}`) has not been planned yet")]
    VisitNotPlanned { task: String, step: String },
    #[error("a joint visit needs at least one participant")]
    NoParticipants,
    #[error("`{address}` is not an e-mail address")]
    InvalidGuest { address: String },
    #[error("a joint visit invites at most {limit} people by e-mail")]
    TooManyGuests { limit: usize },
    #[error("the visit time {at} lies in the past")]
    VisitInPast { at: DateTime<Utc> },
    #[error("step `{step}`: condition `{expr}` failed: {message}")]
    Condition {
        step: String,
        expr: String,
        message: String,
    },
    #[error("step `{step}`: expression for `{variable}` failed: {message}")]
    SetExpression {
        step: String,
        variable: String,
        message: String,
    },
    #[error("step `{step}`: no condition holds and there is no default")]
    NoBranch { step: String },
    #[error("the pathway has no step `{step}`")]
    UnknownStep { step: String },
    #[error("the pathway has no start step")]
    NoStart,
    #[error("step `{step}`: a join was reached outside any split")]
    JoinWithoutSplit { step: String },
    #[error("step `{step}` does not allow its clock to be {what}")]
    ClockNotAllowed { step: String, what: String },
    #[error("task `{task}` has no deadline")]
    NoDeadline { task: String },
    #[error("the clock of task `{task}` is already suspended")]
    AlreadySuspended { task: String },
    #[error("the clock of task `{task}` is not suspended")]
    NotSuspended { task: String },
    #[error("task `{task}`: {message}")]
    ExtensionRefused { task: String, message: String },
    #[error("{0}")]
    BadTerm(String),
    #[error("note: {why}")]
    InvalidNote { why: String },
    #[error("the case is not held at step `{step}` for want of a route")]
    NotHeldAt { step: String },
    #[error("`{to}` is not a route of step `{step}`")]
    NotARoute { step: String, to: String },
    #[error("message `{id}` was already received")]
    MessageAlreadyReceived { id: String },
    #[error("no open wait awaits message `{name}`")]
    NoWaitForMessage { name: String },
    #[error("ad-hoc task: {why}")]
    InvalidAdHoc { why: String },
    #[error("case {case} already runs on version {version}")]
    AlreadyOnVersion { case: String, version: u32 },
    #[error("step `{step}` holds work but is not mapped to a step of version {version}")]
    MigrationUnmapped { step: String, version: u32 },
    #[error("step `{step}` cannot move to `{target}`: {why}")]
    MigrationTarget {
        step: String,
        target: String,
        why: migrate::TargetProblem,
    },
    #[error("more than {limit} automatic moves in one command (last at step `{step}`): the pathway loops")]
    StepLimit { step: String, limit: usize },
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Applies a command with the default Dutch calendar.
pub fn apply(
    pathway: &PathwayVersion,
    state: &CaseState,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    apply_with_calendar(pathway, &Calendar::default(), state, command, now)
}

/// Applies a command with an organisation's calendar (closure days, working hours).
pub fn apply_with_calendar(
    pathway: &PathwayVersion,
    calendar: &Calendar,
    state: &CaseState,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut run = Run {
        pv: pathway,
        calendar,
        state: state.clone(),
        events: Vec::new(),
        effects: Vec::new(),
        now,
        actor: command.actor,
        command: command.action.name(),
    };
    run.execute(command.action)?;
    Ok(Outcome {
        state: run.state,
        events: run.events,
        effects: run.effects,
    })
}

struct Run<'a> {
    pv: &'a PathwayVersion,
    calendar: &'a Calendar,
    state: CaseState,
    events: Vec<Event>,
    effects: Vec<Effect>,
    now: DateTime<Utc>,
    actor: String,
    command: &'static str,
}

impl<'a> Run<'a> {
    fn emit(&mut self, kind: EventKind) {
        let event = Event {
            at: self.now,
            actor: self.actor.clone(),
            command: self.command.to_owned(),
            kind,
        };
        self.state.evolve(&event);
        self.events.push(event);
    }

    fn alloc(&mut self) -> u64 {
        let id = self.state.next_id;
        self.state.next_id += 1;
        id
    }

    fn step(&self, id: &str) -> Result<&'a Step> {
        self.pv
            .step(id)
            .ok_or_else(|| RuntimeError::UnknownStep { step: id.to_owned() })
    }

    fn case_id(&self) -> String {
        self.state.id.clone()
    }

    fn execute(&mut self, action: Action) -> Result<()> {
        if let Action::TimerFired { key } = &action
            && self.state.status != CaseStatus::Active
        {
            self.effects.push(Effect::TimerDone { key: key.clone() });
            return Ok(());
        }
        // A message seen before answers "already received" whatever the case's state since:
        // senders retry, and a retry after the case ended is still a duplicate, not an error.
        if let Action::ReceiveMessage { id, .. } = &action
            && self.state.received.contains(id)
        {
            return Err(RuntimeError::MessageAlreadyReceived { id: id.clone() });
        }
        let fired = match &action {
            Action::TimerFired { key } => Some(key.clone()),
            _ => None,
        };
        match (&self.state.status, &action) {
            (CaseStatus::New, Action::StartCase { .. }) => {}
            (CaseStatus::New, _) => {
                return Err(RuntimeError::NotStarted { case: self.case_id() });
            }
            (_, Action::StartCase { .. }) => {
                return Err(RuntimeError::AlreadyStarted { case: self.case_id() });
            }
            (CaseStatus::Active, _) => {
                if self.state.pathway_key != self.pv.pathway.key
                    || self.state.pathway_version != self.pv.version
                {
                    return Err(RuntimeError::WrongPathway {
                        case: self.case_id(),
                        case_pathway: format!("{} v{}", self.state.pathway_key, self.state.pathway_version),
                        given: format!("{} v{}", self.pv.pathway.key, self.pv.version),
                    });
                }
            }
            (status, _) => {
                return Err(RuntimeError::CaseClosed {
                    case: self.case_id(),
                    status: status.as_str().to_owned(),
                });
            }
        }
        let mut rearm_inactivity = false;
        if fired.is_none() && self.state.stalls.contains_key(INACTIVE) {
            self.emit(EventKind::StallCleared { key: INACTIVE.into() });
            rearm_inactivity = true;
        }
        let starting = matches!(action, Action::StartCase { .. });
        self.dispatch(action)?;
        self.track_phases();
        let inactivity = clock::inactivity_key(&self.state.id);
        if self.state.status != CaseStatus::Active {
            self.effects.push(Effect::CancelTimer { key: inactivity });
        } else if starting || rearm_inactivity {
            // Armed once; when it fires early (there was activity since) it re-arms itself,
            // so ordinary commands write no timer for it.
            if let Some(last) = self.state.last_activity_at {
                self.arm_inactivity_check(last);
            }
        }
        if let Some(key) = fired {
            // Last, so that it wins over a cancellation of the same key in this command; a
            // timer that re-armed itself stays pending.
            let rearmed = self
                .effects
                .iter()
                .any(|e| matches!(e, Effect::SetTimer(t) if t.key == key));
            if !rearmed {
                self.effects.push(Effect::TimerDone { key });
            }
        }
        Ok(())
    }

    /// Checks for inactivity one `inactivity` term after the last activity.
    fn arm_inactivity_check(&mut self, last_activity: DateTime<Utc>) {
        if let Some(term) = &self.pv.pathway.defaults.inactivity {
            let due_at =
                clock::not_in_quiet_hours(self.calendar, self.calendar.add(last_activity, term, false).at);
            self.effects.push(Effect::SetTimer(Timer {
                key: clock::inactivity_key(&self.state.id),
                case_id: self.case_id(),
                task: None,
                kind: TimerKind::Inactivity,
                due_at,
            }));
        }
    }

    fn dispatch(&mut self, action: Action) -> Result<()> {
        match action {
            Action::StartCase { variables } => self.start(variables),
            Action::CompleteTask { task, data } => self.complete(&task, data, false),
            Action::RecordVisitOutcome { task, data } => self.complete(&task, data, true),
            Action::PlanJointVisit {
                task,
                at,
                place,
                participants,
                guests,
                invite_resident,
            } => self.plan_visit(
                &task,
                at,
                place,
                participants,
                Guests {
                    guests,
                    invite_resident,
                },
            ),
            Action::ChooseRoute { step, to } => self.choose_route(&step, &to),
            Action::SetVariables { values } => {
                let values = forms::check_variables(self.pv, values)?;
                if !values.is_empty() {
                    self.emit(EventKind::VariablesSet { values });
                }
                Ok(())
            }
            Action::Reassign { task, to } => {
                let task = self.resolve(&task)?;
                self.emit(EventKind::TaskAssigned {
                    task: task.id.clone(),
                    user: to.clone(),
                });
                if let Some(user) = to {
                    self.effects.push(Effect::Notify(Notification {
                        key: format!(
                            "assigned:{}:{}:{}:{}",
                            self.state.id, task.id, user, self.state.seq
                        ),
                        case_id: self.case_id(),
                        task: Some(task.id.clone()),
                        kind: NotificationKind::TaskAssigned,
                        to: Recipient::User(user),
                        at: self.now,
                        visit: None,
                    }));
                }
                Ok(())
            }
            Action::Withdraw { reason } => {
                let open: Vec<Task> = self.state.tasks.values().cloned().collect();
                for t in open {
                    self.close_task(&t, "case withdrawn");
                }
                let stalls: Vec<String> = self.state.stalls.keys().cloned().collect();
                for key in stalls {
                    self.emit(EventKind::StallCleared { key });
                }
                self.emit(EventKind::CaseWithdrawn { reason });
                Ok(())
            }
            Action::RecordNote { kind, text } => {
                if !state::NOTE_KINDS.contains(&kind.as_str()) {
                    return Err(RuntimeError::InvalidNote {
                        why: format!("unknown kind `{kind}` (known: {})", state::NOTE_KINDS.join(", ")),
                    });
                }
                let text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > state::NOTE_MAX {
                    return Err(RuntimeError::InvalidNote {
                        why: format!("the text must have 1 to {} characters", state::NOTE_MAX),
                    });
                }
                self.emit(EventKind::NoteRecorded { kind, text });
                Ok(())
            }
            Action::AddTask {
                title,
                reason,
                role,
                assignee,
                due,
            } => self.add_task(title, reason, role, assignee, due),
            Action::SuspendClock { task, reason } => self.change_clock(&task, ClockOp::Suspend, &reason),
            Action::ResumeClock { task, reason } => self.change_clock(&task, ClockOp::Resume, &reason),
            Action::ExtendDeadline { task, term, reason } => {
                let term: crate::time::term::Term = term
                    .parse()
                    .map_err(|e: crate::time::term::TermError| RuntimeError::BadTerm(e.to_string()))?;
                self.change_clock(&task, ClockOp::Extend(term), &reason)
            }
            Action::ReceiveMessage { name, id, data } => {
                let waiting = self
                    .state
                    .tasks
                    .values()
                    .filter(|t| t.adhoc.is_none())
                    .find(|t| {
                        self.pv.pathway.steps.iter().any(|s| {
                            s.id == t.step
                                && s.kind == StepKind::Wait
                                && s.message.as_deref() == Some(name.as_str())
                        })
                    })
                    .map(|t| (t.id.clone(), t.step.clone()));
                if let Some((task, step)) = waiting {
                    self.emit(EventKind::MessageReceived { name, id, step });
                    return self.complete(&TaskRef(task), data, false);
                }
                // Else work that the message breaks into (a message boundary event).
                let breaking = self
                    .state
                    .tasks
                    .values()
                    .filter(|t| t.adhoc.is_none())
                    .find_map(|t| {
                        let step = self.pv.step(&t.step)?;
                        let on = step.on_message.iter().find(|m| m.message == name)?;
                        Some((t.clone(), on.clone()))
                    });
                let Some((task, on)) = breaking else {
                    return Err(RuntimeError::NoWaitForMessage { name });
                };
                self.step(&on.to)?;
                let values = forms::check_variables(self.pv, data)?;
                self.emit(EventKind::MessageReceived {
                    name,
                    id,
                    step: task.step.clone(),
                });
                if !values.is_empty() {
                    self.emit(EventKind::VariablesSet { values });
                }
                if on.interrupting {
                    self.close_task(&task, "message received");
                    self.emit(EventKind::TokenMoved {
                        token: task.token,
                        to: on.to,
                    });
                    return self.run_tokens(VecDeque::from([task.token]));
                }
                // Beside the open work: a route of its own, outside any split.
                let token = self.alloc();
                self.emit(EventKind::TokenPlaced {
                    token,
                    step: on.to,
                    frames: Vec::new(),
                });
                self.run_tokens(VecDeque::from([token]))
            }
            Action::TimerFired { key } => self.timer_fired(&key),
            Action::LinkedCaseEnded { case, outcome } => self.linked_case_ended(&case, outcome),
        }
    }

    /// Starts a case on `step.start_pathway` for the same resident: recorded here as a link,
    /// started by the engine when the link timer fires (at once; again after a crash).
    fn start_linked(&mut self, step: &Step, task: Option<String>) {
        let Some(pathway) = step.start_pathway.clone() else {
            return;
        };
        // Named after the event that records it: deterministic, unique, and replayed as is.
        let n = self.state.seq + 1;
        let case = format!("{}-{n}", self.state.id);
        self.emit(EventKind::LinkedCaseStarted {
            link: state::Link {
                case: case.clone(),
                pathway,
                step: step.id.clone(),
                task,
                started_at: self.now,
                by: self.actor.clone(),
                outcome: None,
            },
        });
        self.effects.push(Effect::SetTimer(Timer {
            key: clock::link_key(&self.state.id, &case),
            case_id: self.case_id(),
            task: None,
            kind: TimerKind::Link,
            due_at: self.now,
        }));
    }

    /// The linked case ended: its outcome becomes `{step}_uitkomst`, and the wait for it
    /// completes. Told twice, the second time changes nothing.
    fn linked_case_ended(&mut self, case: &str, outcome: String) -> Result<()> {
        let link = self
            .state
            .links
            .iter()
            .find(|l| l.case == case)
            .cloned()
            .ok_or_else(|| RuntimeError::UnknownLink {
                case: case.to_owned(),
            })?;
        if link.outcome.is_some() {
            return Ok(());
        }
        self.emit(EventKind::LinkedCaseEnded {
            case: case.to_owned(),
            outcome: outcome.clone(),
        });
        if let Some(task) = link.task.filter(|t| self.state.tasks.contains_key(t)) {
            let values = BTreeMap::from([(format!("{}_uitkomst", link.step), Value::String(outcome))]);
            self.emit(EventKind::VariablesSet { values });
            self.complete(&TaskRef(task), BTreeMap::new(), false)?;
        }
        Ok(())
    }

    fn change_clock(&mut self, r: &TaskRef, op: ClockOp, reason: &str) -> Result<()> {
        let task = self.resolve(r)?;
        if task.adhoc.is_some() {
            // Its date is the one chosen when it was added; there is no legal clock to stop.
            return Err(RuntimeError::ClockNotAllowed {
                step: task.step.clone(),
                what: match op {
                    ClockOp::Suspend | ClockOp::Resume => "suspended".into(),
                    ClockOp::Extend(_) => "extended".into(),
                },
            });
        }
        let step = self.step(&task.step)?;
        let rules = step.clock.clone().unwrap_or_default();
        let mut due = task.due.clone().ok_or_else(|| RuntimeError::NoDeadline {
            task: task.id.clone(),
        })?;
        let refuse = |what: &str| RuntimeError::ClockNotAllowed {
            step: step.id.clone(),
            what: what.to_owned(),
        };
        match op {
            ClockOp::Suspend => {
                if !rules.suspend {
                    return Err(refuse("suspended"));
                }
                if due.suspended_since.is_some() {
                    return Err(RuntimeError::AlreadySuspended { task: task.id });
                }
                clock::suspend(&mut due, self.now, &self.actor, reason);
            }
            ClockOp::Resume => {
                if due.suspended_since.is_none() {
                    return Err(RuntimeError::NotSuspended { task: task.id });
                }
                clock::resume(&mut due, self.now, &self.actor, reason);
            }
            ClockOp::Extend(term) => {
                let Some(max) = &rules.extend else {
                    return Err(refuse("extended"));
                };
                if due.suspended_since.is_some() {
                    return Err(RuntimeError::AlreadySuspended { task: task.id });
                }
                clock::extend(self.calendar, &mut due, max, &term, self.now, &self.actor, reason).map_err(
                    |message| RuntimeError::ExtensionRefused {
                        task: task.id.clone(),
                        message,
                    },
                )?;
            }
        }
        // Replace the deadline and escalation timers; stall checks stay.
        let mut keys: Vec<String> = Vec::new();
        for key in &task.timers {
            if clock::TimerKey::is_deadline_ladder(key) {
                self.effects.push(Effect::CancelTimer { key: key.clone() });
            } else {
                keys.push(key.clone());
            }
        }
        let plan = clock::deadline_timers(self.calendar, self.pv, step, &self.state.id, &task.id, &due);
        if let Some(timer) = clock::first_after(plan, self.now) {
            keys.push(timer.key.clone());
            self.effects.push(Effect::SetTimer(timer));
        }
        self.emit(EventKind::DueChanged {
            task: task.id.clone(),
            due,
        });
        self.emit(EventKind::TimersReplaced {
            task: task.id,
            timers: keys,
        });
        Ok(())
    }

    /// A timer is due. Stale timers (their task closed, their revision replaced) do nothing.
    fn timer_fired(&mut self, key: &str) -> Result<()> {
        let Some(fired) = clock::TimerKey::parse(key) else {
            return Ok(());
        };
        if matches!(
            fired.kind,
            TimerKind::Link | TimerKind::Resume | TimerKind::Provision
        ) {
            // The engine did the work (started the linked case, told the original one);
            // firing only marks the timer done.
            return Ok(());
        }
        if fired.kind == TimerKind::Phase {
            return self.phase_timer_fired(key, fired.rung);
        }
        if fired.kind == TimerKind::Inactivity {
            let (Some(term), Some(last)) =
                (&self.pv.pathway.defaults.inactivity, self.state.last_activity_at)
            else {
                return Ok(());
            };
            if self.state.stalls.contains_key(INACTIVE) {
                return Ok(());
            }
            if self.calendar.add(last, term, false).at > self.now {
                // There was activity since this check was planned: check again later.
                self.arm_inactivity_check(last);
                return Ok(());
            }
            // Where the case stands: its oldest open task, and the party that step waits on.
            let current = self
                .state
                .tasks
                .values()
                .min_by_key(|t| (t.opened_at, t.id.clone()))
                .map(|t| (t.step.clone(), t.id.clone()));
            let party = current
                .as_ref()
                .and_then(|(step, _)| self.pv.step(step))
                .and_then(|s| s.party.clone());
            let (step, task) = current.unzip();
            self.emit(EventKind::StallRaised {
                key: INACTIVE.into(),
                stall: Stall {
                    reason: "inactief".into(),
                    step,
                    task,
                    party,
                    since: last,
                    raised_at: self.now,
                },
            });
            self.notify(
                NotificationKind::StallRaised,
                None,
                Recipient::Role("manager".into()),
                key,
            );
            return Ok(());
        }
        let Some(task) = self
            .state
            .tasks
            .values()
            .find(|t| t.timers.iter().any(|k| k == key))
            .cloned()
        else {
            return Ok(());
        };
        let step = self.step(&task.step)?;
        if matches!(fired.kind, TimerKind::Deadline | TimerKind::Escalation) {
            self.arm_next_rung(&task, step, key);
        }
        match fired.kind {
            TimerKind::Deadline => {
                self.emit(EventKind::DeadlinePassed {
                    task: task.id.clone(),
                    step: step.id.clone(),
                });
                for role in &task.roles {
                    self.notify(
                        NotificationKind::DeadlinePassed,
                        Some(&task.id),
                        Recipient::Role(role.clone()),
                        key,
                    );
                }
                if let Some(target) = &step.on_deadline {
                    self.step(target)?;
                    self.close_task(&task, "deadline passed");
                    self.emit(EventKind::TokenMoved {
                        token: task.token,
                        to: target.clone(),
                    });
                    self.run_tokens(VecDeque::from([task.token]))?;
                }
            }
            TimerKind::Escalation => {
                let ladder = clock::ladder(self.pv, step);
                let Some((i, rung)) = fired.rung.and_then(|i| ladder.get(i).map(|r| (i, r))) else {
                    return Ok(());
                };
                self.emit(EventKind::EscalationRaised {
                    task: task.id.clone(),
                    step: step.id.clone(),
                    rung: i,
                    to: rung.to.clone(),
                });
                let kind = if rung.before.is_some() {
                    NotificationKind::DeadlineApproaching
                } else {
                    NotificationKind::Escalation
                };
                let targets = if rung.to == "responsible" {
                    task.roles.clone()
                } else {
                    vec![rung.to.clone()]
                };
                for role in targets {
                    self.notify(kind, Some(&task.id), Recipient::Role(role), key);
                }
            }
            TimerKind::VisitOutcomeMissing => {
                if task.visit.is_none() {
                    return Ok(());
                }
                for role in &task.roles {
                    self.notify(
                        NotificationKind::VisitOutcomeMissing,
                        Some(&task.id),
                        Recipient::Role(role.clone()),
                        key,
                    );
                }
            }
            TimerKind::VisitReminder => {
                let Some(visit) = &task.visit else {
                    return Ok(());
                };
                for user in visit.participants.clone() {
                    self.notify(
                        NotificationKind::VisitReminder,
                        Some(&task.id),
                        Recipient::User(user),
                        key,
                    );
                }
            }
            TimerKind::Stall => {
                let stall_key = format!("task:{}", task.id);
                if self.state.stalls.contains_key(&stall_key) {
                    return Ok(());
                }
                self.emit(EventKind::StallRaised {
                    key: stall_key,
                    stall: Stall {
                        reason: step.reason.clone().unwrap_or_else(|| "intern".into()),
                        step: Some(step.id.clone()),
                        task: Some(task.id.clone()),
                        party: step.party.clone(),
                        since: task.opened_at,
                        raised_at: self.now,
                    },
                });
                for role in task.roles.iter().cloned().chain(["manager".to_owned()]) {
                    self.notify(
                        NotificationKind::StallRaised,
                        Some(&task.id),
                        Recipient::Role(role),
                        key,
                    );
                }
            }
            // Handled above, before a task is looked for.
            TimerKind::Inactivity
            | TimerKind::Link
            | TimerKind::Resume
            | TimerKind::Provision
            | TimerKind::Phase => {}
        }
        Ok(())
    }

    /// The steps where the case stands: its tokens and its open work.
    fn current_steps(&self) -> std::collections::BTreeSet<&str> {
        self.state
            .tokens
            .values()
            .map(|t| t.step.as_str())
            .chain(self.state.tasks.values().map(|t| t.step.as_str()))
            .collect()
    }

    /// Enters the phases the case now stands in and leaves those it no longer does, after
    /// every command: a phase's term runs from entering it to leaving it.
    fn track_phases(&mut self) {
        if self.pv.pathway.phases.is_empty() && self.state.phases.is_empty() {
            return;
        }
        let here = self.current_steps();
        let inside: Vec<&'a Phase> = self
            .pv
            .pathway
            .phases
            .iter()
            .filter(|p| p.steps.iter().any(|s| here.contains(s.as_str())))
            .collect();
        let left: Vec<String> = self
            .state
            .phases
            .keys()
            .filter(|id| !inside.iter().any(|p| &p.id == *id))
            .cloned()
            .collect();
        for id in left {
            self.leave_phase(&id);
        }
        for phase in inside {
            if !self.state.phases.contains_key(&phase.id) {
                self.enter_phase(phase);
            }
        }
    }

    fn enter_phase(&mut self, phase: &Phase) {
        let entry = self.alloc();
        let due = phase
            .deadline
            .as_ref()
            .map(|term| self.calendar.add(self.now, term, false).at);
        let mut timers = Vec::new();
        if let Some(due) = due {
            let mut moments = vec![(None, due)];
            for (i, rung) in phase.escalations.iter().enumerate() {
                let at = match (&rung.before, &rung.after) {
                    (Some(b), _) => clock::before(self.calendar, due, b),
                    (None, Some(a)) => self.calendar.add(due, a, false).at,
                    (None, None) => due,
                };
                moments.push((Some(i), at));
            }
            for (rung, at) in moments {
                let key = clock::phase_key(&self.state.id, &phase.id, entry, rung);
                self.effects.push(Effect::SetTimer(Timer {
                    key: key.clone(),
                    case_id: self.case_id(),
                    task: None,
                    kind: TimerKind::Phase,
                    due_at: clock::not_in_quiet_hours(self.calendar, at.max(self.now)),
                }));
                timers.push(key);
            }
        }
        self.emit(EventKind::PhaseEntered {
            phase: phase.id.clone(),
            due,
            timers,
        });
    }

    fn leave_phase(&mut self, id: &str) {
        let Some(state) = self.state.phases.get(id).cloned() else {
            return;
        };
        for key in state.timers {
            self.effects.push(Effect::CancelTimer { key });
        }
        let stall = phase_stall_key(id);
        if self.state.stalls.contains_key(&stall) {
            self.emit(EventKind::StallCleared { key: stall });
        }
        self.emit(EventKind::PhaseLeft { phase: id.to_owned() });
    }

    /// The phase's deadline or a rung of its ladder came.
    fn phase_timer_fired(&mut self, key: &str, rung: Option<usize>) -> Result<()> {
        let Some((id, entered)) = self
            .state
            .phases
            .iter()
            .find(|(_, p)| p.timers.iter().any(|k| k == key))
            .map(|(id, p)| (id.clone(), p.entered_at))
        else {
            return Ok(());
        };
        let Some(phase) = self.pv.phase(&id) else {
            return Ok(());
        };
        // The phase's open work, oldest first: who hears of it, and where it stands.
        let mut work: Vec<Task> = self
            .state
            .tasks
            .values()
            .filter(|t| phase.contains(&t.step))
            .cloned()
            .collect();
        work.sort_by_key(|t| (t.opened_at, t.id.clone()));
        let mut roles: Vec<String> = Vec::new();
        for t in &work {
            for r in &t.roles {
                if !roles.contains(r) {
                    roles.push(r.clone());
                }
            }
        }
        let oldest = work.first().map(|t| t.id.clone());
        if let Some(i) = rung {
            let Some(step) = phase.escalations.get(i) else {
                return Ok(());
            };
            self.emit(EventKind::PhaseEscalationRaised {
                phase: id.clone(),
                rung: i,
                to: step.to.clone(),
            });
            let kind = if step.before.is_some() {
                NotificationKind::DeadlineApproaching
            } else {
                NotificationKind::Escalation
            };
            let targets = if step.to == "responsible" {
                roles
            } else {
                vec![step.to.clone()]
            };
            for role in targets {
                self.notify(kind, oldest.as_deref(), Recipient::Role(role), key);
            }
            return Ok(());
        }
        self.emit(EventKind::PhaseDeadlinePassed { phase: id.clone() });
        let Some(target) = &phase.on_deadline else {
            // The work goes on; the case counts as stuck in the phase until it leaves it.
            let stall = phase_stall_key(&id);
            if !self.state.stalls.contains_key(&stall) {
                self.emit(EventKind::StallRaised {
                    key: stall.clone(),
                    stall: Stall {
                        reason: PHASE_OVERDUE.into(),
                        step: work.first().map(|t| t.step.clone()),
                        task: None,
                        party: None,
                        since: entered,
                        raised_at: self.now,
                    },
                });
                for role in roles.into_iter().chain(["manager".to_owned()]) {
                    self.notify(NotificationKind::StallRaised, None, Recipient::Role(role), key);
                }
            }
            return Ok(());
        };
        // Interrupting: the phase's work closes and one route goes on from `target`.
        self.step(target)?;
        for t in &work {
            self.close_task(t, "phase deadline passed");
        }
        let inner: Vec<u64> = self
            .state
            .splits
            .iter()
            .filter(|(_, s)| phase.contains(&s.step))
            .map(|(i, _)| *i)
            .collect();
        for instance in &inner {
            self.emit(EventKind::SplitClosed { instance: *instance });
        }
        let mut tokens: Vec<(u64, state::Token)> = self
            .state
            .tokens
            .iter()
            .filter(|(_, t)| phase.contains(&t.step))
            .map(|(i, t)| (*i, t.clone()))
            .collect();
        tokens.sort_by_key(|(i, t)| (t.frames.len(), *i));
        for (i, t) in &tokens {
            if self.state.stalls.contains_key(&route_key(&t.step)) {
                self.emit(EventKind::StallCleared {
                    key: route_key(&t.step),
                });
            }
            self.emit(EventKind::TokenRemoved { token: *i });
        }
        let frames = tokens
            .first()
            .map(|(_, t)| t.frames.iter().copied().filter(|f| !inner.contains(f)).collect())
            .unwrap_or_default();
        let token = self.alloc();
        self.emit(EventKind::TokenPlaced {
            token,
            step: target.clone(),
            frames,
        });
        self.run_tokens(VecDeque::from([token]))
    }

    /// Arms the moment of a task's deadline ladder that follows `fired`.
    fn arm_next_rung(&mut self, task: &Task, step: &Step, fired: &str) {
        let Some(due) = &task.due else { return };
        let plan = clock::deadline_timers(self.calendar, self.pv, step, &self.state.id, &task.id, due);
        let Some(pos) = plan.iter().position(|t| t.key == fired) else {
            return;
        };
        let mut keys: Vec<String> = task
            .timers
            .iter()
            .filter(|k| k.as_str() != fired)
            .cloned()
            .collect();
        if let Some(next) = plan.into_iter().nth(pos + 1) {
            keys.push(next.key.clone());
            self.effects.push(Effect::SetTimer(next));
        }
        self.emit(EventKind::TimersReplaced {
            task: task.id.clone(),
            timers: keys,
        });
    }

    fn notify(&mut self, kind: NotificationKind, task: Option<&str>, to: Recipient, cause: &str) {
        let who = match &to {
            Recipient::Role(r) | Recipient::User(r) | Recipient::Address(r) => r.clone(),
            Recipient::Resident => "inwoner".to_owned(),
        };
        let visit = match kind {
            NotificationKind::VisitReminder | NotificationKind::VisitOutcomeMissing => task
                .and_then(|id| self.state.tasks.get(id))
                .and_then(|t| t.visit.clone()),
            _ => None,
        };
        self.effects.push(Effect::Notify(Notification {
            key: format!("{}:{cause}:{who}", kind.as_str()),
            case_id: self.case_id(),
            task: task.map(str::to_owned),
            kind,
            to,
            at: self.now,
            visit,
        }));
    }

    fn start(&mut self, variables: BTreeMap<String, Value>) -> Result<()> {
        let variables = forms::check_variables(self.pv, variables)?;
        let start = self
            .pv
            .pathway
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Start)
            .ok_or(RuntimeError::NoStart)?;
        self.emit(EventKind::CaseStarted {
            pathway_key: self.pv.pathway.key.clone(),
            pathway_version: self.pv.version,
            variables,
            resident: self.state.resident.clone(),
            came_from: self.state.came_from.clone(),
            business_key: self.state.business_key.clone(),
        });
        let token = self.alloc();
        self.emit(EventKind::TokenPlaced {
            token,
            step: start.id.clone(),
            frames: Vec::new(),
        });
        self.run_tokens(VecDeque::from([token]))
    }

    fn resolve(&self, r: &TaskRef) -> Result<Task> {
        if let Some(t) = self.state.tasks.get(&r.0) {
            return Ok(t.clone());
        }
        let on_step: Vec<&Task> = self.state.tasks.values().filter(|t| t.step == r.0).collect();
        match on_step.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(RuntimeError::TaskNotOpen {
                case: self.case_id(),
                task: r.0.clone(),
            }),
            many => Err(RuntimeError::AmbiguousTask {
                step: r.0.clone(),
                ids: many.iter().map(|t| t.id.clone()).collect(),
            }),
        }
    }

    fn complete(&mut self, r: &TaskRef, data: BTreeMap<String, Value>, visit_outcome: bool) -> Result<()> {
        let task = self.resolve(r)?;
        if task.adhoc.is_some() {
            return self.complete_adhoc(&task, data, visit_outcome);
        }
        let step = self.step(&task.step)?;
        let is_visit = step.kind == StepKind::JointVisit;
        if is_visit && !visit_outcome {
            return Err(RuntimeError::IsJointVisit {
                task: task.id,
                step: step.id.clone(),
            });
        }
        if visit_outcome && !is_visit {
            return Err(RuntimeError::NotAJointVisit {
                task: task.id,
                step: step.id.clone(),
            });
        }
        if is_visit && task.visit.is_none() {
            return Err(RuntimeError::VisitNotPlanned {
                task: task.id,
                step: step.id.clone(),
            });
        }
        let data = forms::check_form(step, data)?;
        self.emit(EventKind::TaskCompleted {
            task: task.id.clone(),
            step: step.id.clone(),
            data: data.clone(),
        });
        self.cancel_timers(&task);
        self.clear_task_stall(&task);
        if !data.is_empty() {
            self.emit(EventKind::VariablesSet { values: data.clone() });
        }
        self.change_provisions(step);
        let rung_field = step
            .fields
            .iter()
            .filter(|f| f.ty == FieldType::Rung)
            .find_map(|f| data.get(&f.name).and_then(Value::as_u64));
        if let Some(rung) = rung_field.and_then(|r| u8::try_from(r).ok()).or(step.rung) {
            self.emit(EventKind::RungSet {
                rung,
                step: Some(step.id.clone()),
            });
        }
        self.move_on(task.token, step)?;
        self.run_tokens(VecDeque::from([task.token]))
    }

    /// Adds an ad-hoc task: checked, opened for `role` (and handed to `assignee`), with the
    /// step the case stands at recorded for the practice-versus-drawing figures.
    fn add_task(
        &mut self,
        title: String,
        reason: String,
        role: String,
        assignee: Option<String>,
        due: Option<chrono::NaiveDate>,
    ) -> Result<()> {
        let bad = |why: String| Err(RuntimeError::InvalidAdHoc { why });
        let title = title.trim().to_owned();
        let reason = reason.trim().to_owned();
        if title.is_empty() || title.chars().count() > ADHOC_TITLE_MAX {
            return bad(format!("the title must have 1 to {ADHOC_TITLE_MAX} characters"));
        }
        if reason.is_empty() || reason.chars().count() > NOTE_MAX {
            return bad(format!("the reason must have 1 to {NOTE_MAX} characters"));
        }
        if !self.pv.pathway.roles.contains_key(&role) {
            return bad(format!("`{role}` is not a role of this pathway"));
        }
        let due = match due {
            Some(d) if d < self.now.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive() => {
                return bad(format!("the date {d} lies in the past"));
            }
            Some(d) => {
                let at = crate::time::calendar::end_of_day(d);
                Some(DueInfo {
                    at,
                    original_at: at,
                    term: "datum".into(),
                    base: self.now,
                    atw: false,
                    explanation: vec![format!(
                        "Gekozen bij het toevoegen van de taak: {}",
                        crate::text::dutch::day(d)
                    )],
                    changes: Vec::new(),
                    suspended_since: None,
                    revision: 0,
                })
            }
            None => None,
        };
        let at_step = self
            .state
            .tasks
            .values()
            .filter(|t| t.adhoc.is_none())
            .min_by_key(|t| (t.opened_at, t.id.clone()))
            .map(|t| t.step.clone());
        let id = format!("t{}", self.alloc());
        self.emit(EventKind::TaskOpened {
            task: Task {
                id: id.clone(),
                step: ADHOC_STEP.into(),
                // Ad-hoc work holds no token: it does not move the case.
                token: 0,
                roles: vec![role.clone()],
                assignee: None,
                opened_at: self.now,
                due,
                visit: None,
                timers: Vec::new(),
                adhoc: Some(Box::new(AdHoc {
                    title,
                    reason,
                    at_step,
                })),
            },
        });
        match assignee {
            Some(user) => self.dispatch(Action::Reassign {
                task: TaskRef(id),
                to: Some(user),
            })?,
            None => self.effects.push(Effect::Notify(Notification {
                key: format!("task-opened:{}:{}:{}", self.state.id, id, role),
                case_id: self.case_id(),
                task: Some(id.clone()),
                kind: NotificationKind::TaskOpened,
                to: Recipient::Role(role),
                at: self.now,
                visit: None,
            })),
        }
        Ok(())
    }

    /// Finishes an ad-hoc task: only an optional `toelichting` (what was done) is recorded;
    /// the case does not move.
    fn complete_adhoc(
        &mut self,
        task: &Task,
        data: BTreeMap<String, Value>,
        visit_outcome: bool,
    ) -> Result<()> {
        if visit_outcome {
            return Err(RuntimeError::NotAJointVisit {
                task: task.id.clone(),
                step: task.step.clone(),
            });
        }
        if let Some(field) = data.keys().find(|k| k.as_str() != ADHOC_NOTE) {
            return Err(RuntimeError::UnknownField {
                step: task.step.clone(),
                field: field.clone(),
            });
        }
        let data: BTreeMap<String, Value> = data
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(t) if t.trim().is_empty() => None,
                Value::String(t) if t.chars().count() <= NOTE_MAX => {
                    Some(Ok((k, Value::String(t.trim().into()))))
                }
                Value::Null => None,
                _ => Some(Err(RuntimeError::FieldType {
                    field: k,
                    expected: format!("text of at most {NOTE_MAX} characters"),
                    got: "something else".into(),
                })),
            })
            .collect::<Result<_>>()?;
        self.emit(EventKind::TaskCompleted {
            task: task.id.clone(),
            step: task.step.clone(),
            data,
        });
        self.cancel_timers(task);
        self.clear_task_stall(task);
        Ok(())
    }

    fn plan_visit(
        &mut self,
        r: &TaskRef,
        at: DateTime<Utc>,
        place: Option<String>,
        participants: Vec<String>,
        invited: Guests,
    ) -> Result<()> {
        let guests = check_guests(&invited.guests)?;
        let task = self.resolve(r)?;
        let step = self.step(&task.step)?;
        if step.kind != StepKind::JointVisit {
            return Err(RuntimeError::NotAJointVisit {
                task: task.id,
                step: step.id.clone(),
            });
        }
        if participants.is_empty() {
            return Err(RuntimeError::NoParticipants);
        }
        if at <= self.now {
            return Err(RuntimeError::VisitInPast { at });
        }
        let revision = task.visit.as_ref().map_or(1, |v| v.revision + 1);
        let old_prefix = format!("visit:{}:{}:", self.state.id, task.id);
        let mut timers: Vec<String> = Vec::new();
        for key in &task.timers {
            if key.starts_with(&old_prefix) {
                self.effects.push(Effect::CancelTimer { key: key.clone() });
            } else {
                timers.push(key.clone());
            }
        }
        let visit = Visit {
            at,
            place,
            participants: participants.clone(),
            revision,
            guests: guests.clone(),
            resident: invited.invite_resident,
        };
        self.emit(EventKind::VisitPlanned {
            task: task.id.clone(),
            visit: visit.clone(),
        });
        let offsets = &self.pv.pathway.defaults.visit_reminders;
        let mut moments: Vec<(TimerKind, DateTime<Utc>)> = if offsets.is_empty() {
            vec![
                effects::working_days_before(self.calendar, at, 2),
                at - Duration::hours(2),
            ]
        } else {
            offsets
                .iter()
                .map(|t| clock::before(self.calendar, at, t))
                .collect()
        }
        .into_iter()
        .map(|due| (TimerKind::VisitReminder, due))
        .collect();
        moments.push((TimerKind::VisitOutcomeMissing, at + Duration::days(1)));
        let keys = visit_timer_keys(&self.state.id, &task.id, revision, moments.len() - 1);
        for (key, (kind, due_at)) in keys.into_iter().zip(moments) {
            if due_at > self.now {
                timers.push(key.clone());
                self.effects.push(Effect::SetTimer(Timer {
                    key,
                    case_id: self.case_id(),
                    task: Some(task.id.clone()),
                    kind,
                    due_at,
                }));
            }
        }
        self.emit(EventKind::TimersReplaced {
            task: task.id.clone(),
            timers,
        });
        // Whoever is no longer invited gets a cancellation for their agenda. Keys name a
        // guest by position, never by address.
        if let Some(old) = &task.visit {
            let mut gone: Vec<(String, Recipient)> = old
                .participants
                .iter()
                .filter(|u| !participants.contains(u))
                .map(|u| (u.clone(), Recipient::User(u.clone())))
                .collect();
            gone.extend(
                old.guests
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| !guests.contains(g))
                    .map(|(i, g)| (format!("gast-{i}"), Recipient::Address(g.clone()))),
            );
            if old.resident && !invited.invite_resident {
                gone.push(("inwoner".into(), Recipient::Resident));
            }
            for (who, to) in gone {
                self.effects.push(Effect::Notify(Notification {
                    key: format!(
                        "visit-cancelled:{}:{}:{}:{}",
                        self.state.id, task.id, revision, who
                    ),
                    case_id: self.case_id(),
                    task: Some(task.id.clone()),
                    kind: NotificationKind::VisitCancelled,
                    to,
                    at: self.now,
                    // The old time, under the new revision: the agenda entry it withdraws.
                    visit: Some(Visit {
                        participants: participants.clone(),
                        revision,
                        ..old.clone()
                    }),
                }));
            }
        }
        let mut invitees: Vec<(String, Recipient)> = participants
            .into_iter()
            .map(|u| (u.clone(), Recipient::User(u)))
            .chain(
                guests
                    .into_iter()
                    .enumerate()
                    .map(|(i, g)| (format!("gast-{i}"), Recipient::Address(g))),
            )
            .collect();
        if invited.invite_resident {
            invitees.push(("inwoner".into(), Recipient::Resident));
        }
        for (who, to) in invitees {
            self.effects.push(Effect::Notify(Notification {
                key: format!("visit-planned:{}:{}:{}:{}", self.state.id, task.id, revision, who),
                case_id: self.case_id(),
                task: Some(task.id.clone()),
                kind: NotificationKind::VisitPlanned,
                to,
                at: self.now,
                visit: Some(visit.clone()),
            }));
        }
        Ok(())
    }

    fn cancel_timers(&mut self, task: &Task) {
        for key in &task.timers {
            self.effects.push(Effect::CancelTimer { key: key.clone() });
        }
    }

    fn close_task(&mut self, task: &Task, reason: &str) {
        self.emit(EventKind::TaskClosed {
            task: task.id.clone(),
            step: task.step.clone(),
            reason: reason.to_owned(),
        });
        self.cancel_timers(task);
        self.clear_task_stall(task);
    }

    fn clear_task_stall(&mut self, task: &Task) {
        let key = format!("task:{}", task.id);
        if self.state.stalls.contains_key(&key) {
            self.emit(EventKind::StallCleared { key });
        }
    }

    /// Moves a token from a single-successor step to its successor.
    fn move_on(&mut self, token: u64, step: &Step) -> Result<()> {
        let to = step.next.ids().next().ok_or_else(|| RuntimeError::NoBranch {
            step: step.id.clone(),
        })?;
        self.step(to)?;
        self.emit(EventKind::TokenMoved {
            token,
            to: to.to_owned(),
        });
        Ok(())
    }

    fn run_tokens(&mut self, mut queue: VecDeque<u64>) -> Result<()> {
        let mut moves = 0usize;
        while let Some(tid) = queue.pop_front() {
            let Some(token) = self.state.tokens.get(&tid).cloned() else {
                continue;
            };
            let step = self.step(&token.step)?;
            moves += 1;
            if moves > STEP_LIMIT {
                return Err(RuntimeError::StepLimit {
                    step: step.id.clone(),
                    limit: STEP_LIMIT,
                });
            }
            match &step.kind {
                StepKind::Start | StepKind::Automatic => {
                    if step.kind == StepKind::Automatic {
                        self.run_automatic(step)?;
                        self.start_linked(step, None);
                    }
                    self.move_on(tid, step)?;
                    queue.push_back(tid);
                }
                StepKind::Task | StepKind::JointVisit | StepKind::Wait => {
                    let task = self.open_task(tid, step);
                    if step.kind == StepKind::Wait {
                        self.start_linked(step, Some(task));
                    }
                }
                StepKind::Gateway => {
                    // No route: the token stays here, held, until someone chooses one.
                    let Some(to) = self.routes(step, true)?.into_iter().next() else {
                        continue;
                    };
                    self.emit(EventKind::TokenMoved { token: tid, to });
                    queue.push_back(tid);
                }
                StepKind::ParallelSplit | StepKind::InclusiveSplit => {
                    let targets = if step.kind == StepKind::ParallelSplit {
                        step.next.ids().map(str::to_owned).collect()
                    } else {
                        self.routes(step, false)?
                    };
                    if targets.is_empty() {
                        continue;
                    }
                    queue.extend(self.open_split(tid, &token, step, targets)?);
                }
                StepKind::ParallelJoin | StepKind::InclusiveJoin => {
                    let instance = token
                        .frames
                        .last()
                        .copied()
                        .filter(|i| self.state.splits.contains_key(i))
                        .ok_or_else(|| RuntimeError::JoinWithoutSplit {
                            step: step.id.clone(),
                        })?;
                    self.emit(EventKind::BranchArrived { instance, token: tid });
                    let done = self
                        .state
                        .splits
                        .get(&instance)
                        .is_some_and(|s| s.arrived >= s.expected);
                    if done {
                        self.emit(EventKind::SplitClosed { instance });
                        let new = self.alloc();
                        let frames = token.frames[..token.frames.len() - 1].to_vec();
                        self.emit(EventKind::TokenPlaced {
                            token: new,
                            step: step.id.clone(),
                            frames,
                        });
                        let after = self.step(&step.id)?;
                        self.move_on(new, after)?;
                        queue.push_back(new);
                    }
                }
                StepKind::End => {
                    self.emit(EventKind::TokenRemoved { token: tid });
                    // A terminating end takes every other route with it.
                    if step.terminate {
                        let others: Vec<u64> = self.state.tokens.keys().copied().collect();
                        for other in others {
                            self.emit(EventKind::TokenRemoved { token: other });
                        }
                    }
                    if let Some(rung) = step.rung {
                        self.emit(EventKind::RungSet {
                            rung,
                            step: Some(step.id.clone()),
                        });
                    }
                    if self.state.tokens.is_empty() {
                        let open: Vec<Task> = self.state.tasks.values().cloned().collect();
                        for t in open {
                            self.close_task(&t, "case ended");
                        }
                        self.emit(EventKind::CaseEnded {
                            outcome: step.outcome.clone().unwrap_or_else(|| "gestopt".into()),
                            step: step.id.clone(),
                        });
                        if self.state.came_from.as_ref().is_some_and(|c| c.task.is_some()) {
                            // The case it came from waits for this one: tell it (by timer,
                            // so that it is told even after a crash).
                            self.effects.push(Effect::SetTimer(Timer {
                                key: clock::resume_key(&self.state.id),
                                case_id: self.case_id(),
                                task: None,
                                kind: TimerKind::Resume,
                                due_at: self.now,
                            }));
                        }
                        return Ok(());
                    }
                }
                StepKind::Unknown(_) => {
                    return Err(RuntimeError::UnknownStep {
                        step: step.id.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Opens a split at `step` for token `tid`: one new token per target, inside a new frame.
    /// Returns the new tokens.
    fn open_split(
        &mut self,
        tid: u64,
        token: &state::Token,
        step: &Step,
        targets: Vec<String>,
    ) -> Result<Vec<u64>> {
        let instance = self.alloc();
        self.emit(EventKind::SplitOpened {
            instance,
            step: step.id.clone(),
            expected: u32::try_from(targets.len()).unwrap_or(u32::MAX),
        });
        self.emit(EventKind::TokenRemoved { token: tid });
        let mut placed = Vec::new();
        for target in targets {
            self.step(&target)?;
            let new = self.alloc();
            let mut frames = token.frames.clone();
            frames.push(instance);
            self.emit(EventKind::TokenPlaced {
                token: new,
                step: target,
                frames,
            });
            placed.push(new);
        }
        Ok(placed)
    }

    /// The routes a gateway takes ([`Self::choose`]). When no condition holds and there is no
    /// default, none: the case is held at the gateway with a `route:` stall (an incident the
    /// team and the stuck view see) until someone chooses the route — never a silent stop.
    fn routes(&mut self, step: &Step, first_only: bool) -> Result<Vec<String>> {
        match self.choose(step, first_only) {
            Err(RuntimeError::NoBranch { .. }) => {
                let key = route_key(&step.id);
                if !self.state.stalls.contains_key(&key) {
                    self.emit(EventKind::StallRaised {
                        key: key.clone(),
                        stall: Stall {
                            reason: NO_ROUTE.into(),
                            step: Some(step.id.clone()),
                            task: None,
                            party: None,
                            since: self.now,
                            raised_at: self.now,
                        },
                    });
                    self.notify(
                        NotificationKind::StallRaised,
                        None,
                        Recipient::Role("manager".into()),
                        &key,
                    );
                }
                Ok(Vec::new())
            }
            other => other,
        }
    }

    /// Someone chose the route of a case held at a gateway for want of one.
    fn choose_route(&mut self, step_id: &str, to: &str) -> Result<()> {
        let key = route_key(step_id);
        let held = self
            .state
            .tokens
            .iter()
            .find(|(_, t)| t.step == step_id)
            .map(|(id, t)| (*id, t.clone()));
        let (Some((tid, token)), true) = (held, self.state.stalls.contains_key(&key)) else {
            return Err(RuntimeError::NotHeldAt {
                step: step_id.to_owned(),
            });
        };
        let step = self.step(step_id)?;
        let is_route = step.branches.iter().any(|b| b.to == to) || step.default.as_deref() == Some(to);
        if !is_route {
            return Err(RuntimeError::NotARoute {
                step: step_id.to_owned(),
                to: to.to_owned(),
            });
        }
        self.emit(EventKind::StallCleared { key });
        if step.kind == StepKind::InclusiveSplit {
            let placed = self.open_split(tid, &token, step, vec![to.to_owned()])?;
            return self.run_tokens(placed.into());
        }
        self.emit(EventKind::TokenMoved {
            token: tid,
            to: to.to_owned(),
        });
        self.run_tokens(VecDeque::from([tid]))
    }

    /// Branch targets whose condition holds: the first one (exclusive) or all (inclusive);
    /// the default when none holds.
    fn choose(&self, step: &Step, first_only: bool) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for b in &step.branches {
            let holds = Expr::cached(&b.when)
                .and_then(|e| e.eval_bool(&self.state.variables))
                .map_err(|e| RuntimeError::Condition {
                    step: step.id.clone(),
                    expr: b.when.clone(),
                    message: e.message,
                })?;
            if holds {
                out.push(b.to.clone());
                if first_only {
                    break;
                }
            }
        }
        if out.is_empty() {
            match &step.default {
                Some(d) => out.push(d.clone()),
                None => {
                    return Err(RuntimeError::NoBranch {
                        step: step.id.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn run_automatic(&mut self, step: &Step) -> Result<()> {
        let mut values = BTreeMap::new();
        for (name, source) in &step.set {
            let v = Expr::cached(source)
                .and_then(|e| e.eval(&self.state.variables))
                .map_err(|e| RuntimeError::SetExpression {
                    step: step.id.clone(),
                    variable: name.clone(),
                    message: e.message,
                })?;
            values.insert(name.clone(), v);
        }
        let values = forms::check_variables(self.pv, values)?;
        if !values.is_empty() {
            self.emit(EventKind::VariablesSet { values });
        }
        if let Some(rung) = step.rung {
            self.emit(EventKind::RungSet {
                rung,
                step: Some(step.id.clone()),
            });
        }
        self.change_provisions(step);
        Ok(())
    }

    /// The step's changes to the resident's provisions, recorded as events and applied by
    /// the engine when their timer fires (at once; again after a crash, harmlessly).
    fn change_provisions(&mut self, step: &Step) {
        use crate::resident::provision::{ProvisionChange, ProvisionStatus};
        let Some(resident) = self.state.resident.clone() else {
            return;
        };
        for rule in &step.provisions {
            let given = rule
                .start
                .as_ref()
                .and_then(|f| self.state.variables.get(f))
                .and_then(Value::as_str)
                .and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
            let start =
                given.unwrap_or_else(|| self.now.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive());
            let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
            let after = |t: &crate::time::term::Term| {
                self.calendar
                    .add(crate::time::calendar::local_moment(start, nine), t, false)
                    .at
                    .with_timezone(&chrono_tz::Europe::Amsterdam)
                    .date_naive()
            };
            let starts = given.is_some()
                || matches!(
                    rule.status,
                    ProvisionStatus::Actief | ProvisionStatus::Aangevraagd
                );
            let n = self.state.seq + 1;
            let key = clock::provision_key(&self.state.id, n);
            let change = ProvisionChange {
                key: key.clone(),
                resident_id: resident.clone(),
                kind: rule.kind.clone(),
                status: rule.status,
                start_date: starts.then_some(start),
                end_date: rule.end.as_ref().map(after),
                dormant_until: rule.until.as_ref().map(after),
                decision_date: None,
                decision_ref: None,
                by: self.actor.clone(),
                case_id: Some(self.case_id()),
                at: self.now,
            };
            self.emit(EventKind::ProvisionChanged { change });
            self.effects.push(Effect::SetTimer(Timer {
                key,
                case_id: self.case_id(),
                task: None,
                kind: TimerKind::Provision,
                due_at: self.now,
            }));
        }
    }

    /// A new deadline: from the date field it names (read from the case), else from now.
    fn due_from(&self, deadline: &crate::pathway::model::Deadline) -> DueInfo {
        let Some(field) = deadline.from_field() else {
            return clock::new_due(self.calendar, deadline, self.now);
        };
        let date = self
            .state
            .variables
            .get(field)
            .and_then(Value::as_str)
            .and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        let label = self
            .pv
            .variable_type(field)
            .map_or_else(|| field.replace('_', " "), |f| f.display_label());
        match date {
            Some(date) => {
                let base = crate::time::calendar::local_moment(date, chrono::NaiveTime::MIN);
                let mut due = clock::new_due(self.calendar, deadline, base);
                due.explanation.insert(
                    0,
                    format!(
                        "Geteld vanaf {label} ({}), niet vanaf het openen van de taak",
                        crate::text::dutch::day(date)
                    ),
                );
                due
            }
            None => {
                let mut due = clock::new_due(self.calendar, deadline, self.now);
                due.explanation.insert(
                    0,
                    format!("{label} is niet ingevuld: geteld vanaf het openen van de taak"),
                );
                due
            }
        }
    }

    /// Opens a task for a step; returns its id.
    fn open_task(&mut self, token: u64, step: &Step) -> String {
        let id = format!("t{}", self.alloc());
        let due = step.deadline.as_ref().map(|d| self.due_from(d));
        let roles = step.responsible_roles();
        let mut task = Task {
            id: id.clone(),
            step: step.id.clone(),
            token,
            roles: roles.clone(),
            assignee: None,
            opened_at: self.now,
            due,
            visit: None,
            timers: Vec::new(),
            adhoc: None,
        };
        let mut timers = Vec::new();
        if let Some(due) = &task.due {
            // Only the first moment of the deadline's ladder is armed; each one arms the
            // next when it fires, so a task writes one deadline timer, not one per rung.
            let plan = clock::deadline_timers(self.calendar, self.pv, step, &self.state.id, &id, due);
            timers.extend(clock::first_after(plan, self.now));
        }
        timers.extend(clock::stall_timer(self.calendar, step, &self.state.id, &task));
        for timer in timers {
            task.timers.push(timer.key.clone());
            self.effects.push(Effect::SetTimer(timer));
        }
        for role in &roles {
            self.effects.push(Effect::Notify(Notification {
                key: format!("task-opened:{}:{}:{}", self.state.id, id, role),
                case_id: self.case_id(),
                task: Some(id.clone()),
                kind: NotificationKind::TaskOpened,
                to: Recipient::Role(role.clone()),
                at: self.now,
                visit: None,
            }));
        }
        self.emit(EventKind::TaskOpened { task });
        id
    }
}

/// Stall key of a case without activity.
const INACTIVE: &str = "inactive";

/// The stall reason of a case held at a gateway where no route holds.
pub const NO_ROUTE: &str = "geen_route";

/// The stall key of a case held at gateway `step` for want of a route.
/// The stall of a case that is in a phase longer than its term.
pub fn phase_stall_key(phase: &str) -> String {
    format!("phase:{phase}")
}

/// The stall reason of a phase past its term.
pub const PHASE_OVERDUE: &str = "fase_verlopen";

pub fn route_key(step: &str) -> String {
    format!("route:{step}")
}

enum ClockOp {
    Suspend,
    Resume,
    Extend(crate::time::term::Term),
}

#[cfg(test)]
mod tests;
