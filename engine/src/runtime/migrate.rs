//! Moving a running case to another version of its pathway (a coordinator's migration).
//! Pure, like the rest of the runtime: the caller gets the events and effects to commit,
//! and a report of what happens to each open task, which is also what a dry run shows.
//!
//! Work rests only on steps where people act (task, joint visit, wait), and at the splits
//! whose branches are still running. Every such step the case occupies must map to a step
//! of the new version: by the coordinator's mapping, else to the step with the same id.
//! A task whose new step is of the same kind keeps its id, its history and its clock; its
//! deadline is recomputed from the same base date when the new step's term differs (earlier
//! suspensions and extensions keep shifting it). A task whose new step is of another kind
//! is closed and a fresh one opens at the new step.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::state::{CaseState, CaseStatus, DueInfo, EventKind, MIGRATE_COMMAND, Task};
use super::{Effect, Outcome, Result, Run, RuntimeError, TimerKind, clock};
use crate::pathway::model::{PathwayVersion, Step, StepKind};
use crate::time::calendar::Calendar;

/// Old step id → new step id.
pub type StepMapping = BTreeMap<String, String>;

/// Why a step of the new version cannot take the work of an old one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    #[error("version {version} has no such step")]
    NoSuchStep { version: u32 },
    #[error("work cannot wait at a {kind} step")]
    CannotHoldWork { kind: String },
    #[error(
        "branches of this {split} are still running; it must map to a step of the same kind, not a {kind}"
    )]
    SplitKind { split: String, kind: String },
}

/// What a migration does to one open task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskFate {
    /// Same step, same roles, same deadline.
    Unchanged,
    /// The task stays open, on its new step, with its clock.
    Kept,
    /// The new step is of another kind: the task closes and a new one opens there.
    Reopened,
}

/// The report line of one open task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskMigration {
    pub task: String,
    pub from_step: String,
    pub to_step: String,
    pub fate: TaskFate,
    /// The task that is open afterwards (a new id when reopened).
    pub new_task: String,
    pub roles_before: Vec<String>,
    pub roles_after: Vec<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
}

/// A decided migration: what to commit and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub outcome: Outcome,
    pub tasks: Vec<TaskMigration>,
}

/// Steps where a case can hold work.
fn holds_work(kind: &StepKind) -> bool {
    kind.is_human() || kind.is_split()
}

/// The mapping the system proposes: every step of `from` where work can rest, to the step
/// of `to` with the same id and kind, else to the only step of that kind with the same
/// name; `None` where the coordinator must choose.
pub fn propose_mapping(from: &PathwayVersion, to: &PathwayVersion) -> BTreeMap<String, Option<String>> {
    from.pathway
        .steps
        .iter()
        .filter(|s| holds_work(&s.kind))
        .map(|s| {
            let same_id = to.step(&s.id).filter(|t| t.kind == s.kind).map(|t| t.id.clone());
            let same_name = || {
                let mut named = to
                    .pathway
                    .steps
                    .iter()
                    .filter(|t| t.kind == s.kind && !s.name.is_empty() && t.name == s.name);
                match (named.next(), named.next()) {
                    (Some(one), None) => Some(one.id.clone()),
                    _ => None,
                }
            };
            (s.id.clone(), same_id.or_else(same_name))
        })
        .collect()
}

/// Where work on `step` goes: the mapping, else the step with the same id.
fn target<'a>(
    to: &'a PathwayVersion,
    mapping: &StepMapping,
    step: &str,
    need: impl Fn(&Step) -> Option<TargetProblem>,
) -> Result<&'a Step> {
    let id = mapping.get(step).map_or(step, String::as_str);
    let Some(t) = to.step(id) else {
        return Err(match mapping.get(step) {
            Some(_) => RuntimeError::MigrationTarget {
                step: step.to_owned(),
                target: id.to_owned(),
                why: TargetProblem::NoSuchStep { version: to.version },
            },
            None => RuntimeError::MigrationUnmapped {
                step: step.to_owned(),
                version: to.version,
            },
        });
    };
    match need(t) {
        Some(why) => Err(RuntimeError::MigrationTarget {
            step: step.to_owned(),
            target: id.to_owned(),
            why,
        }),
        None => Ok(t),
    }
}

/// Decides the migration of `state` from its version `from` to `to`.
pub fn migrate(
    from: &PathwayVersion,
    to: &PathwayVersion,
    calendar: &Calendar,
    state: &CaseState,
    mapping: &StepMapping,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Migration> {
    if state.status != CaseStatus::Active {
        return Err(RuntimeError::CaseClosed {
            case: state.id.clone(),
            status: state.status.as_str().to_owned(),
        });
    }
    let runs_on = |pv: &PathwayVersion| state.pathway_key == pv.key() && state.pathway_version == pv.version;
    if !runs_on(from) || to.key() != from.key() {
        return Err(RuntimeError::WrongPathway {
            case: state.id.clone(),
            case_pathway: format!("{} v{}", state.pathway_key, state.pathway_version),
            given: format!("{} v{} → {} v{}", from.key(), from.version, to.key(), to.version),
        });
    }
    if to.version == from.version {
        return Err(RuntimeError::AlreadyOnVersion {
            case: state.id.clone(),
            version: to.version,
        });
    }
    // Check everything before deciding anything.
    let mut used = StepMapping::new();
    let mut splits = BTreeMap::new();
    for split in state.splits.values() {
        let kind = from.step(&split.step).map(|s| s.kind.clone());
        let t = target(to, mapping, &split.step, |t| {
            (Some(&t.kind) != kind.as_ref()).then(|| TargetProblem::SplitKind {
                split: kind.as_ref().map_or("split", StepKind::as_str).to_owned(),
                kind: t.kind.to_string(),
            })
        })?;
        splits.insert(split.step.clone(), t.id.clone());
    }
    let mut places = Vec::new();
    // Ad-hoc work belongs to no step: it stays as it is.
    for task in state.tasks.values().filter(|t| t.adhoc.is_none()) {
        let f = from.step(&task.step).ok_or_else(|| RuntimeError::UnknownStep {
            step: task.step.clone(),
        })?;
        let t = target(to, mapping, &task.step, |t| {
            (!t.kind.is_human()).then(|| TargetProblem::CannotHoldWork {
                kind: t.kind.to_string(),
            })
        })?;
        places.push((task.clone(), f, t));
    }
    let tasked: Vec<u64> = state
        .tasks
        .values()
        .filter(|t| t.adhoc.is_none())
        .map(|t| t.token)
        .collect();
    let mut loose = Vec::new();
    for (id, token) in &state.tokens {
        if !tasked.contains(id) {
            let t = target(to, mapping, &token.step, |_| None)?;
            loose.push((*id, token.step.clone(), t.id.clone()));
        }
    }
    for (task, _, t) in &places {
        used.insert(task.step.clone(), t.id.clone());
    }
    used.extend(splits);
    for (_, from_step, to_step) in &loose {
        used.insert(from_step.clone(), to_step.clone());
    }
    let mut run = Run {
        pv: to,
        calendar,
        state: state.clone(),
        events: Vec::new(),
        effects: Vec::new(),
        now,
        actor: actor.to_owned(),
        command: MIGRATE_COMMAND,
    };
    run.emit(EventKind::CaseMigrated {
        from_version: from.version,
        to_version: to.version,
        mapping: used,
    });
    let mut report = Vec::new();
    for (task, f, t) in places {
        report.push(run.migrate_task(from, &task, f, t)?);
    }
    for (token, from_step, to_step) in loose {
        if from_step != to_step {
            run.emit(EventKind::TokenMoved { token, to: to_step });
        }
    }
    Ok(Migration {
        outcome: Outcome {
            state: run.state,
            events: run.events,
            effects: run.effects,
        },
        tasks: report,
    })
}

/// A task's clock under the new step's deadline, counted from the same base date.
fn recomputed_due(
    cal: &Calendar,
    task: &Task,
    to: &Step,
    version: u32,
    now: DateTime<Utc>,
) -> Option<DueInfo> {
    let deadline = to.deadline.as_ref()?;
    let term = deadline.term().to_string();
    let Some(old) = &task.due else {
        let mut due = clock::new_due(cal, deadline, task.opened_at);
        due.explanation.push(format!(
            "Termijn toegevoegd bij het overzetten naar versie {version} op {}, geteld vanaf het openen van de taak",
            crate::text::dutch::date(now)
        ));
        return Some(due);
    };
    if old.term == term && old.atw == deadline.atw() {
        return Some(old.clone());
    }
    let fresh = clock::new_due(cal, deadline, old.base);
    // Suspensions and extensions already granted keep shifting the deadline.
    let shift = old.at - old.original_at;
    let mut explanation = fresh.explanation.clone();
    explanation.push(format!(
        "Termijn gewijzigd van {} naar {term} bij het overzetten naar versie {version} op {}",
        old.term,
        crate::text::dutch::date(now)
    ));
    if shift != chrono::Duration::zero() {
        explanation.push(format!(
            "Eerdere opschortingen en verdagingen schuiven hem nog {} dag(en) op",
            shift.num_days()
        ));
    }
    Some(DueInfo {
        at: fresh.original_at + shift,
        original_at: fresh.original_at,
        term,
        base: old.base,
        atw: deadline.atw(),
        explanation,
        changes: old.changes.clone(),
        suspended_since: old.suspended_since,
        revision: old.revision + 1,
    })
}

impl Run<'_> {
    fn migrate_task(
        &mut self,
        from_pv: &PathwayVersion,
        task: &Task,
        from: &Step,
        to: &Step,
    ) -> Result<TaskMigration> {
        let mut line = TaskMigration {
            task: task.id.clone(),
            from_step: task.step.clone(),
            to_step: to.id.clone(),
            fate: TaskFate::Unchanged,
            new_task: task.id.clone(),
            roles_before: task.roles.clone(),
            roles_after: to.responsible_roles(),
            due_before: task.due.as_ref().map(|d| d.at),
            due_after: None,
        };
        if from.kind != to.kind {
            self.close_task(task, &format!("migrated to version {}", self.pv.version));
            self.emit(EventKind::TokenMoved {
                token: task.token,
                to: to.id.clone(),
            });
            self.run_tokens(VecDeque::from([task.token]))?;
            if let Some(new) = self.state.tasks.values().find(|t| t.token == task.token) {
                line.new_task = new.id.clone();
                line.due_after = new.due.as_ref().map(|d| d.at);
            }
            line.fate = TaskFate::Reopened;
            return Ok(line);
        }
        let due = recomputed_due(self.calendar, task, to, self.pv.version, self.now);
        line.due_after = due.as_ref().map(|d| d.at);
        let roles = to.responsible_roles();
        let ladder_changed = clock::ladder(from_pv, from) != clock::ladder(self.pv, to)
            || from.stall_after != to.stall_after
            || from.expected != to.expected;
        if to.id == task.step && roles == task.roles && due == task.due && !ladder_changed {
            return Ok(line);
        }
        line.fate = TaskFate::Kept;
        if to.id != task.step {
            self.emit(EventKind::TokenMoved {
                token: task.token,
                to: to.id.clone(),
            });
            self.clear_task_stall(task);
        }
        self.emit(EventKind::TaskMoved {
            task: task.id.clone(),
            step: to.id.clone(),
            roles,
            due: due.clone(),
        });
        // Deadline, escalation and stall checks follow the new step; visit reminders stay.
        let mut keys: Vec<String> = Vec::new();
        for key in &task.timers {
            let visit = matches!(
                clock::TimerKey::parse(key).map(|k| k.kind),
                Some(TimerKind::VisitReminder | TimerKind::VisitOutcomeMissing)
            );
            if visit {
                keys.push(key.clone());
            } else {
                self.effects.push(Effect::CancelTimer { key: key.clone() });
            }
        }
        if let Some(due) = &due {
            let plan = clock::deadline_timers(self.calendar, self.pv, to, &self.state.id, &task.id, due);
            if let Some(timer) = clock::first_after(plan, self.now) {
                keys.push(timer.key.clone());
                self.effects.push(Effect::SetTimer(timer));
            }
        }
        if let Some(timer) = clock::stall_timer(self.calendar, to, &self.state.id, task) {
            keys.push(timer.key.clone());
            self.effects.push(Effect::SetTimer(timer));
        }
        self.emit(EventKind::TimersReplaced {
            task: task.id.clone(),
            timers: keys,
        });
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::pathway::definition::from_yaml;
    use crate::pathway::validate::validate;
    use crate::runtime::{Action, Command, TaskRef, apply};

    const V1: &str = r#"
key: proef
name: Proef
roles:
  wmo: { name: Wmo-consulent }
  km: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: aanvraag }
  - id: aanvraag
    kind: task
    name: Aanvraag beoordelen
    role: wmo
    deadline: 5 werkdagen
    stall_after: 3 weken
    clock: { suspend: true, extend: 2 weken }
    next: splitsen
  - { id: splitsen, kind: parallel_split, next: [zorg, werk] }
  - { id: zorg, kind: task, name: Zorg regelen, role: wmo, next: samen }
  - { id: werk, kind: task, name: Werk zoeken, role: km, next: samen }
  - { id: samen, kind: parallel_join, next: einde }
  - { id: einde, kind: end, outcome: betaald_werk }
"#;

    fn version(src: &str, v: u32) -> PathwayVersion {
        let loaded = from_yaml(src).unwrap();
        assert_eq!(validate(&loaded), vec![], "test pathway v{v} is valid");
        PathwayVersion {
            version: v,
            pathway: loaded.pathway,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn started(pv: &PathwayVersion) -> CaseState {
        apply(
            pv,
            &CaseState::blank("c1"),
            Command::new(
                "anna",
                Action::StartCase {
                    variables: BTreeMap::new(),
                },
            ),
            t0(),
        )
        .unwrap()
        .state
    }

    fn run(pv: &PathwayVersion, s: &CaseState, action: Action, days: i64) -> CaseState {
        apply(pv, s, Command::new("anna", action), t0() + Duration::days(days))
            .unwrap()
            .state
    }

    /// Migrates with the default calendar, as coordinator `coo`.
    fn go(
        from: &PathwayVersion,
        to: &PathwayVersion,
        s: &CaseState,
        mapping: &StepMapping,
        now: DateTime<Utc>,
    ) -> Result<Migration> {
        migrate(from, to, &Calendar::default(), s, mapping, "coo", now)
    }

    fn map(pairs: &[(&str, &str)]) -> StepMapping {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn a_renamed_step_keeps_its_task_and_its_clock_under_the_new_term() {
        let v1 = version(V1, 1);
        let v2 = version(
            &V1.replace("id: aanvraag", "id: beoordeling")
                .replace("next: aanvraag", "next: beoordeling")
                .replace("deadline: 5 werkdagen", "deadline: 10 werkdagen"),
            2,
        );
        let mut s = started(&v1);
        // The clock was suspended for a week and resumed: the due date moved by 7 days.
        let suspend = Action::SuspendClock {
            task: TaskRef("aanvraag".into()),
            reason: "wacht op stukken".into(),
        };
        s = run(&v1, &s, suspend, 1);
        let resume = Action::ResumeClock {
            task: TaskRef("aanvraag".into()),
            reason: "stukken binnen".into(),
        };
        s = run(&v1, &s, resume, 8);
        let task = s.tasks.values().next().unwrap().clone();
        let old_due = task.due.clone().unwrap();
        assert_eq!(old_due.at - old_due.original_at, Duration::days(7));
        assert_eq!(
            propose_mapping(&v1, &v2).get("aanvraag"),
            Some(&Some("beoordeling".to_owned())),
            "found by its name"
        );
        assert_eq!(
            propose_mapping(&v1, &v2).get("zorg"),
            Some(&Some("zorg".to_owned()))
        );

        let now = t0() + Duration::days(9);
        let m = go(&v1, &v2, &s, &map(&[("aanvraag", "beoordeling")]), now).unwrap();
        let after = &m.outcome.state;
        assert_eq!(after.pathway_version, 2);
        let moved = &after.tasks[&task.id];
        assert_eq!(moved.step, "beoordeling");
        let due = moved.due.clone().unwrap();
        let ten = Calendar::default()
            .add(old_due.base, &"10 werkdagen".parse().unwrap(), false)
            .at;
        assert_eq!(due.original_at, ten, "recomputed from the same base date");
        assert_eq!(due.at, ten + Duration::days(7), "the suspension still counts");
        assert_eq!(due.changes, old_due.changes);
        assert_eq!(due.revision, old_due.revision + 1);
        assert!(
            due.explanation
                .iter()
                .any(|l| l.contains("van 5 werkdagen naar 10 werkdagen"))
        );
        assert_eq!(
            m.tasks,
            vec![TaskMigration {
                task: task.id.clone(),
                from_step: "aanvraag".into(),
                to_step: "beoordeling".into(),
                fate: TaskFate::Kept,
                new_task: task.id.clone(),
                roles_before: vec!["wmo".into()],
                roles_after: vec!["wmo".into()],
                due_before: Some(old_due.at),
                due_after: Some(due.at),
            }]
        );
        // Old deadline timer cancelled, the new one armed; the stall check follows.
        let old_deadline = clock::deadline_key("c1", &task.id, old_due.revision);
        assert!(
            m.outcome
                .effects
                .contains(&Effect::CancelTimer { key: old_deadline })
        );
        assert!(m.outcome.effects.iter().any(
            |e| matches!(e, Effect::SetTimer(t) if t.key == clock::deadline_key("c1", &task.id, due.revision))
        ));
        assert!(moved.timers.contains(&clock::stall_key("c1", &task.id)));
        // The first event says what happened; replay gives the same state.
        assert!(matches!(
            &m.outcome.events[0].kind,
            EventKind::CaseMigrated { from_version: 1, to_version: 2, mapping } if mapping == &map(&[("aanvraag", "beoordeling")])
        ));
        let mut history = Vec::new();
        let mut s2 = CaseState::blank("c1");
        for (a, d) in [
            (
                Action::StartCase {
                    variables: BTreeMap::new(),
                },
                0,
            ),
            (
                Action::SuspendClock {
                    task: TaskRef("aanvraag".into()),
                    reason: "wacht op stukken".into(),
                },
                1,
            ),
            (
                Action::ResumeClock {
                    task: TaskRef("aanvraag".into()),
                    reason: "stukken binnen".into(),
                },
                8,
            ),
        ] {
            let out = apply(&v1, &s2, Command::new("anna", a), t0() + Duration::days(d)).unwrap();
            history.extend(out.events);
            s2 = out.state;
        }
        history.extend(m.outcome.events.iter().cloned());
        assert_eq!(&CaseState::replay("c1", &history), after);
        // A migration is not activity on the case.
        assert_eq!(after.last_activity_at, s.last_activity_at);
        // The case goes on under version 2.
        let next = run(
            &v2,
            after,
            Action::CompleteTask {
                task: TaskRef("beoordeling".into()),
                data: BTreeMap::new(),
            },
            10,
        );
        let mut open: Vec<&str> = next.tasks.values().map(|t| t.step.as_str()).collect();
        open.sort_unstable();
        assert_eq!(open, ["werk", "zorg"]);
        // Version 1 no longer accepts commands for it.
        let err = apply(
            &v1,
            after,
            Command::new(
                "anna",
                Action::CompleteTask {
                    task: TaskRef("beoordeling".into()),
                    data: BTreeMap::new(),
                },
            ),
            t0() + Duration::days(10),
        )
        .unwrap_err();
        assert!(matches!(err, RuntimeError::WrongPathway { .. }));
    }

    #[test]
    fn an_identical_version_changes_nothing_but_the_version() {
        let v1 = version(V1, 1);
        let v2 = version(V1, 2);
        let s = started(&v1);
        let m = go(&v1, &v2, &s, &StepMapping::new(), t0()).unwrap();
        assert_eq!(m.outcome.events.len(), 1);
        assert!(m.outcome.effects.is_empty());
        assert_eq!(m.tasks[0].fate, TaskFate::Unchanged);
        let mut expected = s.clone();
        expected.pathway_version = 2;
        expected.seq += 1;
        expected.last_event_at = Some(t0());
        assert_eq!(m.outcome.state, expected);
    }

    #[test]
    fn a_step_of_another_kind_closes_the_task_and_opens_one_there() {
        let v1 = version(V1, 1);
        let v2 = version(
            &V1.replace(
                "  - id: aanvraag\n    kind: task\n",
                "  - id: aanvraag\n    kind: wait\n    party: UWV\n    reason: uwv\n    expected: 8 weken\n",
            ),
            2,
        );
        let s = started(&v1);
        let old = s.tasks.values().next().unwrap().clone();
        let now = t0() + Duration::days(2);
        let m = go(&v1, &v2, &s, &StepMapping::new(), now).unwrap();
        let line = &m.tasks[0];
        assert_eq!(line.fate, TaskFate::Reopened);
        assert_ne!(line.new_task, old.id);
        let new = &m.outcome.state.tasks[&line.new_task];
        assert_eq!(new.step, "aanvraag");
        assert_eq!(new.opened_at, now);
        assert!(!m.outcome.state.tasks.contains_key(&old.id));
        assert!(m.outcome.events.iter().any(
            |e| matches!(&e.kind, EventKind::TaskClosed { task, reason, .. } if task == &old.id && reason.contains("version 2"))
        ));
    }

    #[test]
    fn mappings_that_cannot_hold_the_work_are_refused_with_the_step_named() {
        let v1 = version(V1, 1);
        let v2 = version(
            &V1.replace("id: aanvraag", "id: beoordeling")
                .replace("next: aanvraag", "next: beoordeling"),
            2,
        );
        let s = started(&v1);
        let err = go(&v1, &v2, &s, &StepMapping::new(), t0()).unwrap_err();
        assert_eq!(
            err,
            RuntimeError::MigrationUnmapped {
                step: "aanvraag".into(),
                version: 2
            }
        );
        let err = go(&v1, &v2, &s, &map(&[("aanvraag", "splitsen")]), t0()).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::MigrationTarget { step, target, .. } if step == "aanvraag" && target == "splitsen"),
            "{err}"
        );
        let err = go(&v1, &v2, &s, &map(&[("aanvraag", "bestaat_niet")]), t0()).unwrap_err();
        assert!(err.to_string().contains("has no such step"), "{err}");
        let err = go(&v1, &v1, &s, &StepMapping::new(), t0()).unwrap_err();
        assert!(matches!(err, RuntimeError::AlreadyOnVersion { version: 1, .. }));
    }

    #[test]
    fn running_branches_move_with_their_split() {
        let v1 = version(V1, 1);
        let v2 = version(
            &V1.replace("id: splitsen", "id: verdelen")
                .replace("next: splitsen", "next: verdelen")
                .replace(
                    "id: werk, kind: task, name: Werk zoeken, role: km",
                    "id: werk, kind: task, name: Werk zoeken, role: wmo",
                ),
            2,
        );
        let s = started(&v1);
        let s = run(
            &v1,
            &s,
            Action::CompleteTask {
                task: TaskRef("aanvraag".into()),
                data: BTreeMap::new(),
            },
            1,
        );
        assert_eq!(s.splits.len(), 1);
        let err = go(&v1, &v2, &s, &StepMapping::new(), t0()).unwrap_err();
        assert!(matches!(&err, RuntimeError::MigrationUnmapped { step, .. } if step == "splitsen"));
        let m = go(
            &v1,
            &v2,
            &s,
            &map(&[("splitsen", "verdelen")]),
            t0() + Duration::days(2),
        )
        .unwrap();
        let after = &m.outcome.state;
        assert_eq!(after.splits.values().next().unwrap().step, "verdelen");
        let werk = m.tasks.iter().find(|l| l.to_step == "werk").unwrap();
        assert_eq!(
            (werk.fate, werk.roles_after.clone()),
            (TaskFate::Kept, vec!["wmo".to_owned()])
        );
        // Both branches finish under version 2 and the join closes.
        let mut s = after.clone();
        for step in ["zorg", "werk"] {
            s = run(
                &v2,
                &s,
                Action::CompleteTask {
                    task: TaskRef(step.into()),
                    data: BTreeMap::new(),
                },
                3,
            );
        }
        assert_eq!(s.status, CaseStatus::Ended);
        assert_eq!(s.outcome.as_deref(), Some("betaald_werk"));
    }
}
