//! A data set shaped like the Oss pilot (domain.md §5: 53 participants, 38 of them a rung
//! up the participatieladder, 12 to work), run through the shipped `van-zorg-naar-werk`
//! pathway by the real engine with set answers and set durations. `doorloop demo` loads
//! it so the managers' screens have something to show; the tests load it to check those
//! screens against figures known in advance.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::engine::{Engine, Result};
use crate::pathway::model::StepKind;
use crate::runtime::{Action, CaseStatus, Command, TaskRef};

pub const PATHWAY: &str = "van-zorg-naar-werk";

/// Where a participant's trajectory goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Development trajectory, then paid work (ladder 2 → 6).
    Work,
    /// Development trajectory, positive UWV advice, sheltered work (2 → 5).
    Sheltered,
    /// UWV finds no usable capacity: dagbesteding continues, a rung up (1 → 3).
    DayCareUp,
    /// The same, without moving on the ladder (3 → 3).
    DayCareSame,
    /// Still waiting for the UWV insurance doctor; stalled.
    WaitingForUwv,
    /// Stopped at the case meeting.
    Stopped,
}

/// The pilot's participants: (route, how many).
pub const SHAPE: &[(Route, usize)] = &[
    (Route::Work, 5),
    (Route::Sheltered, 7),
    (Route::DayCareUp, 26),
    (Route::DayCareSame, 8),
    (Route::WaitingForUwv, 4),
    (Route::Stopped, 3),
];

/// What was loaded: the cases by route, and how long each finished step took.
#[derive(Debug, Clone, Default)]
pub struct Pilot {
    pub cases: Vec<(String, Route)>,
    /// Step → hours each task spent there, for the tasks that left it.
    pub hours: BTreeMap<String, Vec<i64>>,
    pub first_start: Option<DateTime<Utc>>,
    pub last_event: Option<DateTime<Utc>>,
}

fn first_rung(route: Route) -> u8 {
    match route {
        Route::DayCareUp => 1,
        Route::DayCareSame => 3,
        _ => 2,
    }
}

/// The form answers of a route, by step.
fn answers(route: Route) -> BTreeMap<&'static str, Value> {
    let wia = matches!(
        route,
        Route::DayCareUp | Route::DayCareSame | Route::WaitingForUwv
    );
    let mut a = BTreeMap::from([
        (
            "signaal",
            json!({"motivatie": "Wil aan het werk", "trede": first_rung(route)}),
        ),
        (
            "intake",
            json!({"ik_wil": "werken", "ik_kan": "met begeleiding", "ik_heb_nodig": "structuur",
                   "uitkering": if wia { "wia" } else { "bijstand" }, "geen_benutbare_mogelijkheden": wia}),
        ),
        (
            "casusoverleg",
            json!({"doorgaan": route != Route::Stopped, "plan": "Afspraken gemaakt"}),
        ),
        ("herbeoordeling_aanvragen", json!({})),
        ("wacht_herbeoordeling", json!({"benutbare_mogelijkheden": false})),
        (
            "dagbesteding_voortzetten",
            json!({"trede": 3, "opnieuw_proberen": false}),
        ),
        ("advies_beschut_aanvragen", json!({})),
        ("wacht_advies_beschut", json!({"advies_positief": true})),
        ("loonwaarde", json!({"loonwaarde_pct": 60})),
        ("uitkering_afstemmen", json!({})),
        ("beschikking_aanpassen", json!({})),
    ]);
    let (direction, end_rung) = if route == Route::Work {
        ("regulier_werk", 6)
    } else {
        ("beschut_werk", 5)
    };
    a.insert(
        "ontwikkeltraject",
        json!({"trede": 4, "traject_geslaagd": true, "richting": direction}),
    );
    a.insert(
        "start_werk",
        json!({"startdatum": "2026-09-01", "uren_per_week": 24, "trede": 5}),
    );
    a.insert("nazorg", json!({"trede": end_rung, "werk_behouden": true}));
    a
}

/// Days a step takes for participant `i`: varied, but fixed, so figures can be checked.
pub fn days_at(step: &str, i: usize) -> i64 {
    let i = i as i64;
    match step {
        "signaal" => 1 + i % 5,
        "intake" => 7 + i % 7,
        "casusoverleg" => 10 + (i * 3) % 20,
        "herbeoordeling_aanvragen" => 3 + i % 4,
        "wacht_herbeoordeling" => 60 + (i * 7) % 90,
        "dagbesteding_voortzetten" => 20 + i % 10,
        "ontwikkeltraject" => 90 + (i * 5) % 60,
        "advies_beschut_aanvragen" => 4 + i % 3,
        "wacht_advies_beschut" => 40 + (i * 3) % 30,
        "loonwaarde" => 14 + i % 10,
        "start_werk" => 10 + i % 8,
        "nazorg" => 60 + i % 30,
        _ => 5 + i % 3,
    }
}

/// Loads the pilot's 53 participants, the first starting at `first`, one every `spacing`;
/// every command is executed at its own moment in the past. Returns what it loaded.
pub async fn load(engine: &Engine, first: DateTime<Utc>, spacing: Duration) -> Result<Pilot> {
    let pv = engine.pathway(PATHWAY, None).await?;
    super::region::ensure(engine).await?;
    let mut pilot = Pilot {
        first_start: Some(first),
        ..Pilot::default()
    };
    let mut i = 0usize;
    for &(route, n) in SHAPE {
        for _ in 0..n {
            let start = first + spacing * i32::try_from(i).unwrap_or(i32::MAX);
            let resident = super::people::add(engine, i, start).await?;
            // Everyone in the pilot came from Wmo support: begeleiding, and dagbesteding.
            for kind in ["wmo_begeleiding", "dagbesteding"] {
                let since = start - Duration::days(400);
                engine
                    .record_provision(&crate::resident::provision::ProvisionChange {
                        key: format!("demo:{}:{kind}", resident.id),
                        resident_id: resident.id.clone(),
                        kind: kind.into(),
                        status: crate::resident::provision::ProvisionStatus::Actief,
                        start_date: Some(since.date_naive()),
                        end_date: Some((since + Duration::days(5 * 365)).date_naive()),
                        dormant_until: None,
                        decision_date: Some(since.date_naive()),
                        decision_ref: Some(format!("WMO-{}-{:03}", since.format("%Y"), i + 100)),
                        by: "wmo-consulent-1".into(),
                        case_id: None,
                        at: since,
                    })
                    .await?;
            }
            let out = engine
                .start_case(
                    PATHWAY,
                    Some(pv.version),
                    "ambulant-begeleider-1",
                    &resident.id,
                    BTreeMap::new(),
                    start,
                )
                .await?;
            let id = out.state.id.clone();
            super::region::involve(engine, &id, &pv, i, "wmo-consulent-1", start).await?;
            let mut state = out.state;
            let mut now = start;
            let answers = answers(route);
            while state.status == CaseStatus::Active {
                let Some(task) = state
                    .tasks
                    .values()
                    .min_by_key(|t| (t.opened_at, t.id.clone()))
                    .cloned()
                else {
                    break;
                };
                if route == Route::WaitingForUwv && task.step == "wacht_herbeoordeling" {
                    // Still waiting: the stall check fires once the expected term has passed.
                    if let Some(key) = task.timers.iter().find(|k| k.starts_with("stall:")) {
                        let at = task.opened_at + Duration::weeks(17);
                        let fired = Command::new("system", Action::TimerFired { key: key.clone() });
                        engine.execute(&id, fired, at).await?;
                        now = now.max(at);
                    }
                    break;
                }
                let step = pv
                    .step(&task.step)
                    .ok_or_else(|| crate::runtime::RuntimeError::UnknownStep {
                        step: task.step.clone(),
                    })?;
                let actor = format!(
                    "{}-1",
                    task.roles.first().map_or("casusregisseur", String::as_str)
                );
                let done_at = task.opened_at + Duration::days(days_at(&task.step, i));
                if step.kind == StepKind::JointVisit && task.visit.is_none() {
                    let plan = Action::PlanJointVisit {
                        task: TaskRef(task.id.clone()),
                        at: done_at - Duration::hours(2),
                        place: Some("Wijkcentrum De Schakel".into()),
                        participants: vec![actor.clone()],
                        guests: Vec::new(),
                        invite_resident: false,
                    };
                    state = engine
                        .execute(
                            &id,
                            Command::new(&actor, plan),
                            task.opened_at + Duration::hours(1),
                        )
                        .await?
                        .state;
                    continue;
                }
                let data: BTreeMap<String, Value> = answers
                    .get(task.step.as_str())
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                let action = if step.kind == StepKind::JointVisit {
                    Action::RecordVisitOutcome {
                        task: TaskRef(task.id.clone()),
                        data,
                    }
                } else {
                    Action::CompleteTask {
                        task: TaskRef(task.id.clone()),
                        data,
                    }
                };
                state = engine
                    .execute(&id, Command::new(&actor, action), done_at)
                    .await?
                    .state;
                pilot
                    .hours
                    .entry(task.step.clone())
                    .or_default()
                    .push((done_at - task.opened_at).num_hours());
                now = now.max(done_at);
            }
            // The steps' changes to the resident's provisions, applied now rather than by
            // the scheduler (whose timers find them applied and do nothing).
            engine.apply_case_provisions(&id).await?;
            pilot.last_event = Some(pilot.last_event.map_or(now, |l| l.max(now)));
            pilot.cases.push((id, route));
            i += 1;
        }
    }
    Ok(pilot)
}

/// How many participants took one of `routes`.
pub fn count(routes: &[Route]) -> usize {
    SHAPE
        .iter()
        .filter(|(r, _)| routes.contains(r))
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_the_pilots() {
        let all: Vec<Route> = SHAPE.iter().map(|(r, _)| *r).collect();
        assert_eq!(count(&all), 53);
        assert_eq!(count(&[Route::Work, Route::Sheltered, Route::DayCareUp]), 38);
        assert_eq!(count(&[Route::Work, Route::Sheltered]), 12);
    }
}
