//! A seeded driver that moves a case along as consultants would: it picks an open task,
//! plans joint visits before recording them, and fills forms with plausible values.
//! Used by `doorloop demo`, `doorloop bench` and the property tests. Pure: the caller
//! passes the random generator and the time.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{Value, json};

use crate::pathway::model::{FieldType, PathwayVersion, StepKind};
use crate::runtime::{Action, CaseState, CaseStatus, Command, TaskRef};

/// How the driver chooses.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    /// Chance that a yes/no field is answered yes. Above one half, cases mostly move
    /// forward, while loops back and the rarer branches are still taken regularly.
    pub yes: f64,
    /// Chance that an optional field is filled in.
    pub optional: f64,
}

impl Default for Driver {
    fn default() -> Self {
        Driver {
            yes: 0.75,
            optional: 0.7,
        }
    }
}

/// The next command for a case and the moment it happens, or `None` when the case has
/// ended or has no open task (and is not held for want of a route).
pub fn next_command(
    driver: &Driver,
    pv: &PathwayVersion,
    state: &CaseState,
    rng: &mut impl Rng,
    now: DateTime<Utc>,
    actor: &str,
) -> Option<(Command, DateTime<Utc>)> {
    if state.status != CaseStatus::Active {
        return None;
    }
    // Held at a gateway where no condition held: a consultant chooses a route.
    let held = state
        .stalls
        .values()
        .filter(|s| s.reason == crate::runtime::NO_ROUTE)
        .find_map(|s| pv.step(s.step.as_deref()?));
    if let Some(gateway) = held {
        let routes: Vec<&str> = gateway
            .branches
            .iter()
            .map(|b| b.to.as_str())
            .chain(gateway.default.as_deref())
            .collect();
        let to = routes.get(rng.random_range(0..routes.len().max(1)))?;
        let action = Action::ChooseRoute {
            step: gateway.id.clone(),
            to: (*to).to_owned(),
        };
        return Some((Command::new(actor, action), now));
    }
    if state.tasks.is_empty() {
        return None;
    }
    let tasks: Vec<_> = state.tasks.values().collect();
    let task = tasks[rng.random_range(0..tasks.len())];
    let step = pv.step(&task.step)?;
    let task_ref = TaskRef(task.id.clone());
    if step.kind == StepKind::JointVisit && task.visit.is_none() {
        let at = now + Duration::days(rng.random_range(2..10));
        let mut participants: Vec<String> = vec![actor.to_owned()];
        participants.extend(step.roles.iter().skip(1).map(|r| format!("{r}-1")));
        let action = Action::PlanJointVisit {
            task: task_ref,
            at,
            place: Some("Wijkcentrum De Schakel".into()),
            participants,
            guests: Vec::new(),
            invite_resident: false,
        };
        return Some((Command::new(actor, action), now));
    }
    let mut data = BTreeMap::new();
    for f in &step.fields {
        if !f.required && !rng.random_bool(driver.optional) {
            continue;
        }
        let v: Value = match f.ty {
            FieldType::Boolean => json!(rng.random_bool(driver.yes)),
            FieldType::Choice => f
                .options
                .get(rng.random_range(0..f.options.len().max(1)))
                .map_or(Value::Null, |o| json!(o)),
            FieldType::Integer => json!(rng.random_range(14..40)),
            FieldType::Number => json!(f64::from(rng.random_range(10..90u8)) / 2.0),
            FieldType::Rung => {
                let current = i64::from(state.rung.unwrap_or(2));
                json!((current + rng.random_range(-1..=1)).clamp(1, 6))
            }
            FieldType::Date => json!(
                (now + Duration::days(rng.random_range(7..60)))
                    .date_naive()
                    .to_string()
            ),
            FieldType::Text => json!(format!("Toelichting bij {}", step.display_name())),
        };
        data.insert(f.name.clone(), v);
    }
    let at = match &task.visit {
        Some(v) => now.max(v.at + Duration::hours(2)),
        None => now,
    };
    let action = if step.kind == StepKind::JointVisit {
        Action::RecordVisitOutcome { task: task_ref, data }
    } else {
        Action::CompleteTask { task: task_ref, data }
    };
    Some((Command::new(actor, action), at))
}
