use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::*;
use crate::pathway::definition::from_yaml;
use crate::pathway::model::{FieldType, PathwayVersion};
use crate::pathway::validate::validate;

pub(crate) const SHIPPED: [(&str, &str); 3] = [
    (
        "van-zorg-naar-werk",
        include_str!("../../../workflows/van-zorg-naar-werk.yaml"),
    ),
    (
        "jongeren-zorg-school-werk",
        include_str!("../../../workflows/jongeren-zorg-school-werk.yaml"),
    ),
    (
        "simpel-switchen",
        include_str!("../../../workflows/simpel-switchen.yaml"),
    ),
];

fn pathway(key: &str) -> PathwayVersion {
    let (_, src) = SHIPPED.iter().find(|(k, _)| *k == key).unwrap();
    let loaded = from_yaml(src).unwrap();
    PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn data(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).unwrap()
}

/// Starts case `c1` at `t0` with the given variables.
fn start_with(pv: &PathwayVersion, variables: Value) -> Outcome {
    apply(
        pv,
        &CaseState::blank("c1"),
        Command::new(
            "anna",
            Action::StartCase {
                variables: data(variables),
            },
        ),
        t0(),
    )
    .unwrap()
}

fn start(pv: &PathwayVersion) -> CaseState {
    start_with(pv, json!({})).state
}

fn complete(pv: &PathwayVersion, s: &CaseState, step: &str, d: Value) -> Outcome {
    apply(
        pv,
        s,
        Command::new(
            "anna",
            Action::CompleteTask {
                task: TaskRef(step.into()),
                data: data(d),
            },
        ),
        t0() + Duration::days(1),
    )
    .unwrap_or_else(|e| panic!("completing {step}: {e}"))
}

fn visit(pv: &PathwayVersion, s: &CaseState, step: &str, d: Value) -> CaseState {
    let planned = apply(
        pv,
        s,
        Command::new(
            "anna",
            Action::PlanJointVisit {
                task: TaskRef(step.into()),
                at: t0() + Duration::days(7),
                place: Some("Wijkcentrum".into()),
                participants: vec!["anna".into(), "bert".into()],
                guests: Vec::new(),
                invite_resident: false,
            },
        ),
        t0(),
    )
    .unwrap();
    apply(
        pv,
        &planned.state,
        Command::new(
            "anna",
            Action::RecordVisitOutcome {
                task: TaskRef(step.into()),
                data: data(d),
            },
        ),
        t0() + Duration::days(8),
    )
    .unwrap()
    .state
}

fn open_steps(s: &CaseState) -> Vec<String> {
    let mut v: Vec<String> = s.tasks.values().map(|t| t.step.clone()).collect();
    v.sort();
    v
}

fn intake(pv: &PathwayVersion, uitkering: &str, gbm: bool) -> CaseState {
    let s = start(pv);
    let s = complete(pv, &s, "signaal", json!({"motivatie": "wil werken", "trede": 3})).state;
    visit(
        pv,
        &s,
        "intake",
        json!({"ik_wil": "programmeren", "ik_kan": "computers", "ik_heb_nodig": "structuur",
               "uitkering": uitkering, "geen_benutbare_mogelijkheden": gbm}),
    )
}

#[test]
fn shipped_pathways_validate() {
    for (key, src) in SHIPPED {
        let loaded = from_yaml(src).unwrap();
        let problems = validate(&loaded);
        assert!(problems.is_empty(), "{key}: {problems:#?}");
    }
}

#[test]
fn start_opens_the_first_task_with_deadline_and_notification() {
    let pv = pathway("van-zorg-naar-werk");
    let out = start_with(&pv, json!({"verwijzer": "Partners in Zorg"}));
    assert_eq!(out.state.status, CaseStatus::Active);
    assert_eq!(open_steps(&out.state), ["signaal"]);
    let task = out.state.tasks.values().next().unwrap();
    let due = task.due.as_ref().unwrap();
    // Monday 23 Nov 2026 + 5 werkdagen = Monday 30 Nov.
    assert_eq!(
        due.at
            .with_timezone(&chrono_tz::Europe::Amsterdam)
            .date_naive()
            .to_string(),
        "2026-11-30"
    );
    // Only the first moment of the deadline ladder is armed: the pathway's default reminder
    // three working days before the deadline (Wed 25 Nov, end of day → Thu 08:30).
    let armed: Vec<&Timer> = out
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::SetTimer(t) if t.task.is_some() => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(armed.len(), 1, "{armed:?}");
    assert_eq!(armed[0].kind, TimerKind::Escalation);
    assert_eq!(
        armed[0]
            .due_at
            .with_timezone(&chrono_tz::Europe::Amsterdam)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        "2026-11-26 08:30"
    );
    assert_eq!(task.timers, [armed[0].key.clone()]);
    assert!(
        out.effects
            .iter()
            .any(|e| matches!(e, Effect::Notify(n) if n.to == Recipient::Role("ambulant-begeleider".into())))
    );
}

#[test]
fn wrong_commands_are_refused_and_change_nothing() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let before = s.clone();
    let try_complete = |step: &str, d: Value| {
        apply(
            &pv,
            &s,
            Command::new(
                "anna",
                Action::CompleteTask {
                    task: TaskRef(step.into()),
                    data: data(d),
                },
            ),
            t0(),
        )
    };
    assert_eq!(
        try_complete("signaal", json!({"trede": 3})).unwrap_err(),
        RuntimeError::MissingField {
            step: "signaal".into(),
            field: "motivatie".into()
        }
    );
    assert!(matches!(
        try_complete("signaal", json!({"motivatie": "x", "trede": "drie"})).unwrap_err(),
        RuntimeError::FieldType { field, .. } if field == "trede"
    ));
    assert!(matches!(
        try_complete("signaal", json!({"motivatie": "x", "trede": 9})).unwrap_err(),
        RuntimeError::FieldType { field, .. } if field == "trede"
    ));
    assert!(matches!(
        try_complete("signaal", json!({"motivatie": "x", "trede": 3, "bsn": "123"})).unwrap_err(),
        RuntimeError::UnknownField { field, .. } if field == "bsn"
    ));
    assert!(matches!(
        try_complete("casusoverleg", json!({})).unwrap_err(),
        RuntimeError::TaskNotOpen { task, .. } if task == "casusoverleg"
    ));
    assert!(matches!(
        apply(
            &pv,
            &s,
            Command::new(
                "a",
                Action::StartCase {
                    variables: BTreeMap::new()
                }
            ),
            t0()
        )
        .unwrap_err(),
        RuntimeError::AlreadyStarted { .. }
    ));
    assert!(matches!(
        apply(
            &pv,
            &s,
            Command::new("a", Action::SetVariables { values: data(json!({"onbekend": 1})) }),
            t0()
        )
        .unwrap_err(),
        RuntimeError::UnknownVariable { name } if name == "onbekend"
    ));
    assert_eq!(s, before);
}

#[test]
fn notes_go_on_the_timeline_and_bring_their_author_onto_the_team() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let note = |kind: &str, text: &str| {
        Command::new(
            "piet",
            Action::RecordNote {
                kind: kind.into(),
                text: text.into(),
            },
        )
    };
    let out = apply(&pv, &s, note("telefoon", "  Gebeld met moeder.  "), t0()).unwrap();
    assert!(matches!(
        &out.events[..],
        [e] if e.kind == EventKind::NoteRecorded { kind: "telefoon".into(), text: "Gebeld met moeder.".into() }
    ));
    assert!(out.state.team.contains(&"piet".to_owned()));
    for (kind, text) in [
        ("brief", "x"),
        ("notitie", "   "),
        ("notitie", &"x".repeat(NOTE_MAX + 1)),
    ] {
        assert!(
            matches!(
                apply(&pv, &s, note(kind, text), t0()),
                Err(RuntimeError::InvalidNote { .. })
            ),
            "{kind}"
        );
    }
}

#[test]
fn ad_hoc_work_is_added_beside_the_drawing_and_does_not_move_the_case() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let drawn = open_steps(&s);
    let add = |title: &str, reason: &str, role: &str, due| {
        Command::new(
            "anna",
            Action::AddTask {
                title: title.into(),
                reason: reason.into(),
                role: role.into(),
                assignee: Some("piet".into()),
                due,
            },
        )
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let out = apply(
        &pv,
        &s,
        add(
            " Schuldhulp regelen ",
            "Beslagleggingen op loon",
            "klantmanager",
            Some(day),
        ),
        t0(),
    )
    .unwrap();
    let task = out
        .state
        .tasks
        .values()
        .find(|t| t.adhoc.is_some())
        .unwrap()
        .clone();
    let a = task.adhoc.clone().unwrap();
    assert_eq!(
        (a.title.as_str(), a.reason.as_str(), a.at_step.as_deref()),
        (
            "Schuldhulp regelen",
            "Beslagleggingen op loon",
            drawn.first().map(String::as_str)
        )
    );
    assert_eq!(
        (task.step.as_str(), task.roles.clone(), task.assignee.as_deref()),
        (ADHOC_STEP, vec!["klantmanager".to_owned()], Some("piet"))
    );
    assert_eq!(task.title(&pv), "Schuldhulp regelen");
    assert_eq!(
        task.due.as_ref().unwrap().at,
        crate::time::calendar::end_of_day(day)
    );
    assert!(
        out.state.team.contains(&"piet".to_owned()),
        "the person it is for joins the team"
    );
    assert_eq!(
        CaseState::replay("c1", s_events(&pv).iter().chain(&out.events)).tasks,
        out.state.tasks
    );
    // Finishing it records what was done; the drawn work is where it was.
    let done = apply(
        &pv,
        &out.state,
        Command::new(
            "piet",
            Action::CompleteTask {
                task: TaskRef(task.id.clone()),
                data: data(json!({"toelichting": "Aangemeld bij de schuldhulp"})),
            },
        ),
        t0(),
    )
    .unwrap();
    assert_eq!(open_steps(&done.state), drawn);
    assert!(done.events.iter().any(|e| matches!(&e.kind,
        EventKind::TaskCompleted { step, data, .. } if step == ADHOC_STEP && data["toelichting"] == "Aangemeld bij de schuldhulp")));
    // Its date is its own: no legal clock to stop; unknown fields are refused.
    let refused = |action| apply(&pv, &out.state, Command::new("piet", action), t0());
    assert!(matches!(
        refused(Action::SuspendClock {
            task: TaskRef(task.id.clone()),
            reason: "x".into()
        }),
        Err(RuntimeError::ClockNotAllowed { .. })
    ));
    assert!(matches!(
        refused(Action::CompleteTask {
            task: TaskRef(task.id.clone()),
            data: data(json!({"uitkering": "wia"}))
        }),
        Err(RuntimeError::UnknownField { .. })
    ));
    for (title, reason, role, due) in [
        ("", "reden", "klantmanager", None),
        ("titel", "  ", "klantmanager", None),
        ("titel", "reden", "bestaat-niet", None),
        (
            "titel",
            "reden",
            "klantmanager",
            Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()),
        ),
    ] {
        assert!(
            matches!(
                apply(&pv, &s, add(title, reason, role, due), t0()),
                Err(RuntimeError::InvalidAdHoc { .. })
            ),
            "{title}/{reason}/{role}/{due:?}"
        );
    }
}

/// The events that started case `c1` in [`start`].
fn s_events(pv: &PathwayVersion) -> Vec<Event> {
    start_with(pv, json!({})).events
}

#[test]
fn commands_on_an_ended_or_withdrawn_case_are_refused() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let out = apply(
        &pv,
        &s,
        Command::new(
            "anna",
            Action::Withdraw {
                reason: "verhuisd".into(),
            },
        ),
        t0(),
    )
    .unwrap();
    assert_eq!(out.state.status, CaseStatus::Withdrawn);
    assert!(out.state.tasks.is_empty());
    assert!(
        out.effects
            .iter()
            .any(|e| matches!(e, Effect::CancelTimer { .. }))
    );
    let err = apply(
        &pv,
        &out.state,
        Command::new(
            "anna",
            Action::CompleteTask {
                task: TaskRef("signaal".into()),
                data: BTreeMap::new(),
            },
        ),
        t0(),
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::CaseClosed { status, .. } if status == "withdrawn"));
}

#[test]
fn joint_visits_are_planned_before_their_outcome() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let s = complete(&pv, &s, "signaal", json!({"motivatie": "x", "trede": 3})).state;
    let err = apply(
        &pv,
        &s,
        Command::new(
            "anna",
            Action::CompleteTask {
                task: TaskRef("intake".into()),
                data: BTreeMap::new(),
            },
        ),
        t0(),
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::IsJointVisit { .. }));
    let err = apply(
        &pv,
        &s,
        Command::new(
            "anna",
            Action::RecordVisitOutcome {
                task: TaskRef("intake".into()),
                data: BTreeMap::new(),
            },
        ),
        t0(),
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::VisitNotPlanned { .. }));
    let plan = |s: &CaseState, days| {
        apply(
            &pv,
            s,
            Command::new(
                "anna",
                Action::PlanJointVisit {
                    task: TaskRef("intake".into()),
                    at: t0() + Duration::days(days),
                    place: None,
                    participants: vec!["anna".into(), "bert".into()],
                    guests: Vec::new(),
                    invite_resident: false,
                },
            ),
            t0(),
        )
        .unwrap()
    };
    let first = plan(&s, 10);
    let timers: Vec<&Timer> = first
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::SetTimer(t) if t.key.starts_with("visit:") => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(timers.len(), 3, "two reminders and an outcome check");
    let notified = first
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Notify(_)))
        .count();
    assert_eq!(notified, 2);
    let again = plan(&first.state, 12);
    let cancelled: Vec<&String> = again
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelTimer { key } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled.len(), 3);
    assert!(cancelled.iter().all(|k| k.contains(":1:")));
    assert_eq!(
        again
            .state
            .tasks
            .values()
            .next()
            .unwrap()
            .visit
            .as_ref()
            .unwrap()
            .revision,
        2
    );
    assert!(again.state.team.contains(&"bert".to_owned()));
}

#[test]
fn visit_reminders_follow_the_pathway_and_moves_cancel_for_those_left_out() {
    let mut pv = pathway("van-zorg-naar-werk");
    pv.pathway.defaults.visit_reminders = vec!["1 werkdagen".parse().unwrap(), "30 minuten".parse().unwrap()];
    let s = start(&pv);
    let s = complete(&pv, &s, "signaal", json!({"motivatie": "x", "trede": 3})).state;
    // Monday 7 December 2026, 10:00 in Amsterdam.
    let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
    let plan = |s: &CaseState, who: Vec<String>| {
        apply(
            &pv,
            s,
            Command::new(
                "anna",
                Action::PlanJointVisit {
                    task: TaskRef("intake".into()),
                    at,
                    place: None,
                    participants: who,
                    guests: Vec::new(),
                    invite_resident: false,
                },
            ),
            t0(),
        )
        .unwrap()
    };
    let first = plan(&s, vec!["anna".into(), "bert".into()]);
    let mut due: Vec<DateTime<Utc>> = first
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::SetTimer(t) if t.kind == TimerKind::VisitReminder => Some(t.due_at),
            _ => None,
        })
        .collect();
    due.sort();
    // One working day before is Friday 4 December 10:00; then 09:30 on the day.
    assert_eq!(
        due,
        vec![
            Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap()
        ]
    );
    let task = first.state.tasks.values().next().unwrap();
    assert_eq!(task.timers.iter().filter(|k| k.starts_with("visit:")).count(), 3);
    // Bert is left out of the second plan: he gets a cancellation, Anna and Carla an invitation.
    let again = plan(&first.state, vec!["anna".into(), "carla".into()]);
    let messages: Vec<(NotificationKind, Recipient, u32)> = again
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some((n.kind, n.to.clone(), n.visit.as_ref().unwrap().revision)),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            (
                NotificationKind::VisitCancelled,
                Recipient::User("bert".into()),
                2
            ),
            (NotificationKind::VisitPlanned, Recipient::User("anna".into()), 2),
            (NotificationKind::VisitPlanned, Recipient::User("carla".into()), 2),
        ]
    );
}

#[test]
fn joint_visits_invite_guests_by_address_and_the_resident() {
    let pv = pathway("van-zorg-naar-werk");
    let s = start(&pv);
    let s = complete(&pv, &s, "signaal", json!({"motivatie": "x", "trede": 3})).state;
    let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
    let plan = |s: &CaseState, guests: &[&str], invite_resident: bool| {
        apply(
            &pv,
            s,
            Command::new(
                "anna",
                Action::PlanJointVisit {
                    task: TaskRef("intake".into()),
                    at,
                    place: None,
                    participants: vec!["anna".into()],
                    guests: guests.iter().map(|g| (*g).to_owned()).collect(),
                    invite_resident,
                },
            ),
            t0(),
        )
    };
    let messages = |o: &Outcome| -> Vec<(NotificationKind, Recipient)> {
        o.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notify(n) => Some((n.kind, n.to.clone())),
                _ => None,
            })
            .collect()
    };
    // A typo in an address is refused, naming it; nothing is planned.
    assert!(matches!(
        plan(&s, &["huisarts@praktijk.nl", "werkgever(at)bedrijf.nl"], false),
        Err(RuntimeError::InvalidGuest { address }) if address == "werkgever(at)bedrijf.nl"
    ));
    let many: Vec<String> = (0..=MAX_GUESTS)
        .map(|i| format!("gast{i}@voorbeeld.nl"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        plan(&s, &many, false),
        Err(RuntimeError::TooManyGuests { .. })
    ));

    // The same address twice (in other case) is one guest.
    let first = plan(
        &s,
        &[
            " huisarts@praktijk.nl",
            "werkgever@bedrijf.nl",
            "HUISARTS@praktijk.nl",
        ],
        true,
    )
    .unwrap();
    let visit = first.state.tasks.values().next().unwrap().visit.clone().unwrap();
    assert_eq!(visit.guests, ["huisarts@praktijk.nl", "werkgever@bedrijf.nl"]);
    assert!(visit.resident);
    assert_eq!(
        messages(&first),
        vec![
            (NotificationKind::VisitPlanned, Recipient::User("anna".into())),
            (
                NotificationKind::VisitPlanned,
                Recipient::Address("huisarts@praktijk.nl".into())
            ),
            (
                NotificationKind::VisitPlanned,
                Recipient::Address("werkgever@bedrijf.nl".into())
            ),
            (NotificationKind::VisitPlanned, Recipient::Resident),
        ]
    );
    // Outbox keys never carry an address.
    for e in &first.effects {
        if let Effect::Notify(n) = e {
            assert!(!n.key.contains('@'), "{}", n.key);
        }
    }
    // Re-planned without the employer and without the resident: both get a cancellation.
    let again = plan(&first.state, &["huisarts@praktijk.nl"], false).unwrap();
    assert_eq!(
        messages(&again),
        vec![
            (
                NotificationKind::VisitCancelled,
                Recipient::Address("werkgever@bedrijf.nl".into())
            ),
            (NotificationKind::VisitCancelled, Recipient::Resident),
            (NotificationKind::VisitPlanned, Recipient::User("anna".into())),
            (
                NotificationKind::VisitPlanned,
                Recipient::Address("huisarts@praktijk.nl".into())
            ),
        ]
    );
}

#[test]
fn uwv_branch_is_taken_for_wia_without_usable_capacity() {
    let pv = pathway("van-zorg-naar-werk");
    let s = intake(&pv, "wia", true);
    let s = complete(&pv, &s, "casusoverleg", json!({"doorgaan": true})).state;
    assert_eq!(open_steps(&s), ["herbeoordeling_aanvragen"]);
    let s = complete(&pv, &s, "herbeoordeling_aanvragen", json!({})).state;
    assert_eq!(open_steps(&s), ["wacht_herbeoordeling"]);
    let s = complete(
        &pv,
        &s,
        "wacht_herbeoordeling",
        json!({"benutbare_mogelijkheden": true}),
    )
    .state;
    assert_eq!(open_steps(&s), ["ontwikkeltraject"]);

    let s = intake(&pv, "bijstand", false);
    let s = complete(&pv, &s, "casusoverleg", json!({"doorgaan": true})).state;
    assert_eq!(open_steps(&s), ["ontwikkeltraject"]);
}

#[test]
fn falling_back_is_a_normal_path() {
    let pv = pathway("van-zorg-naar-werk");
    let s = intake(&pv, "bijstand", false);
    let s = complete(&pv, &s, "casusoverleg", json!({"doorgaan": true})).state;
    let first_task = s.tasks.keys().next().unwrap().clone();
    let s = complete(
        &pv,
        &s,
        "ontwikkeltraject",
        json!({"trede": 3, "traject_geslaagd": false}),
    )
    .state;
    assert_eq!(open_steps(&s), ["casusoverleg"]);
    let s = complete(&pv, &s, "casusoverleg", json!({"doorgaan": true})).state;
    assert_eq!(open_steps(&s), ["ontwikkeltraject"]);
    assert_ne!(
        s.tasks.keys().next().unwrap(),
        &first_task,
        "a new task, not the old one"
    );
}

#[test]
fn parallel_join_waits_for_both_branches_and_ladder_history_is_kept() {
    let pv = pathway("van-zorg-naar-werk");
    let s = intake(&pv, "bijstand", false);
    let s = complete(&pv, &s, "casusoverleg", json!({"doorgaan": true})).state;
    let s = complete(
        &pv,
        &s,
        "ontwikkeltraject",
        json!({"trede": 4, "traject_geslaagd": true, "richting": "beschut_werk"}),
    )
    .state;
    let s = complete(&pv, &s, "advies_beschut_aanvragen", json!({})).state;
    let s = complete(&pv, &s, "wacht_advies_beschut", json!({"advies_positief": true})).state;
    let s = complete(&pv, &s, "loonwaarde", json!({"loonwaarde_pct": 45})).state;
    let s = complete(
        &pv,
        &s,
        "start_werk",
        json!({"startdatum": "2027-02-01", "uren_per_week": 25, "trede": 5}),
    )
    .state;
    assert_eq!(open_steps(&s), ["beschikking_aanpassen", "uitkering_afstemmen"]);
    let s = complete(&pv, &s, "uitkering_afstemmen", json!({})).state;
    assert_eq!(open_steps(&s), ["beschikking_aanpassen"], "join must wait");
    let s = complete(&pv, &s, "beschikking_aanpassen", json!({})).state;
    assert_eq!(open_steps(&s), ["nazorg"]);
    let out = complete(&pv, &s, "nazorg", json!({"trede": 5, "werk_behouden": true}));
    assert_eq!(out.state.status, CaseStatus::Ended);
    assert_eq!(out.state.outcome.as_deref(), Some("beschut_werk"));
    let rungs: Vec<u8> = out.state.rung_history.iter().map(|r| r.rung).collect();
    assert_eq!(rungs, [3, 4, 5, 5]);
    assert_eq!(out.state.rung, Some(5));
    assert!(out.state.tasks.is_empty() && out.state.tokens.is_empty());
}

#[test]
fn inclusive_join_waits_only_for_started_branches() {
    let pv = pathway("jongeren-zorg-school-werk");
    let s = start(&pv);
    let s = complete(
        &pv,
        &s,
        "aanmelding",
        json!({"leeftijd": 19, "startkwalificatie": false, "trede": 2}),
    )
    .state;
    let answers = |zorg: bool, inkomen: bool, doel: &str| {
        json!({"ik_wil": "ICT", "ik_kan": "veel", "ik_heb_nodig": "rust", "begeleiding_nodig": zorg,
               "inkomen_nodig": inkomen, "onderwijsdoel": doel})
    };
    let only_care = visit(&pv, &s, "intake", answers(true, false, "geen"));
    assert_eq!(open_steps(&only_care), ["wmo_onderzoek"]);
    let split = only_care.splits.values().next().unwrap();
    assert_eq!(split.expected, 1);
    let s2 = complete(
        &pv,
        &only_care,
        "wmo_onderzoek",
        json!({"aanvraag_ingediend": true}),
    )
    .state;
    let s2 = complete(
        &pv,
        &s2,
        "wmo_beschikking",
        json!({"begeleiding_toegekend": true}),
    )
    .state;
    assert_eq!(open_steps(&s2), ["casusoverleg"]);

    let none = visit(&pv, &s, "intake", answers(false, false, "geen"));
    assert_eq!(
        open_steps(&none),
        ["casusoverleg"],
        "default goes straight to the join"
    );

    let all = visit(&pv, &s, "intake", answers(true, true, "mbo-4"));
    assert_eq!(
        open_steps(&all),
        ["opleiding_plannen", "wmo_onderzoek", "zoektermijn"]
    );
    // A loop back inside the education branch keeps the join waiting.
    let a = complete(&pv, &all, "opleiding_plannen", json!({"opleiding": "mbo-4 ICT"})).state;
    let a = complete(&pv, &a, "cursus_financiering", json!({"gefinancierd": false})).state;
    assert_eq!(
        open_steps(&a),
        ["opleiding_plannen", "wmo_onderzoek", "zoektermijn"]
    );
    let a = complete(&pv, &a, "wmo_onderzoek", json!({"aanvraag_ingediend": true})).state;
    let a = complete(&pv, &a, "wmo_beschikking", json!({"begeleiding_toegekend": true})).state;
    let a = complete(&pv, &a, "zoektermijn", json!({})).state;
    let a = complete(&pv, &a, "bijstand_besluit", json!({"bijstand_toegekend": true})).state;
    assert_eq!(open_steps(&a), ["opleiding_plannen"]);
    let a = complete(&pv, &a, "opleiding_plannen", json!({"opleiding": "LOI"})).state;
    let a = complete(&pv, &a, "cursus_financiering", json!({"gefinancierd": true})).state;
    let a = complete(&pv, &a, "examen", json!({"diploma_behaald": true})).state;
    assert_eq!(open_steps(&a), ["casusoverleg"]);
}

#[test]
fn replay_reproduces_the_state() {
    let pv = pathway("van-zorg-naar-werk");
    let mut events = Vec::new();
    let mut s = CaseState::blank("c1");
    let steps: Vec<(Action, i64)> = vec![
        (
            Action::StartCase {
                variables: BTreeMap::new(),
            },
            0,
        ),
        (
            Action::CompleteTask {
                task: TaskRef("signaal".into()),
                data: data(json!({"motivatie": "x", "trede": 2})),
            },
            1,
        ),
        (
            Action::Reassign {
                task: TaskRef("intake".into()),
                to: Some("bert".into()),
            },
            2,
        ),
    ];
    for (a, d) in steps {
        let out = apply(&pv, &s, Command::new("anna", a), t0() + Duration::days(d)).unwrap();
        events.extend(out.events);
        s = out.state;
    }
    assert_eq!(CaseState::replay("c1", &events), s);
}

/// A random walk through a pathway: picks open tasks and fills their forms at random.
fn random_walk(pv: &PathwayVersion, seed: u64, max_commands: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = t0();
    let mut events: Vec<Event> = Vec::new();
    let started = apply(
        pv,
        &CaseState::blank("walk"),
        Command::new(
            "anna",
            Action::StartCase {
                variables: BTreeMap::new(),
            },
        ),
        now,
    )
    .unwrap();
    events.extend(started.events);
    let mut s = started.state;
    for _ in 0..max_commands {
        if s.status != CaseStatus::Active {
            break;
        }
        now += Duration::hours(rng.random_range(1..200));
        let tasks: Vec<&Task> = s.tasks.values().collect();
        assert!(!tasks.is_empty(), "an active case has open work: {s:#?}");
        let task = tasks[rng.random_range(0..tasks.len())].clone();
        let step = pv.step(&task.step).unwrap();
        let action = if rng.random_ratio(1, 15) {
            Action::Reassign {
                task: TaskRef(task.id.clone()),
                to: Some(format!("user{}", rng.random_range(0..5))),
            }
        } else if step.kind == StepKind::JointVisit && task.visit.is_none() {
            Action::PlanJointVisit {
                task: TaskRef(task.id.clone()),
                at: now + Duration::days(3),
                place: None,
                participants: vec!["anna".into(), "bert".into()],
                guests: Vec::new(),
                invite_resident: false,
            }
        } else {
            let mut form = BTreeMap::new();
            for f in &step.fields {
                if !f.required && rng.random_bool(0.3) {
                    continue;
                }
                let v = match f.ty {
                    FieldType::Boolean => json!(rng.random_bool(0.5)),
                    FieldType::Choice => json!(f.options[rng.random_range(0..f.options.len())]),
                    FieldType::Integer => json!(rng.random_range(10..40)),
                    FieldType::Number => json!(1.5),
                    FieldType::Rung => json!(rng.random_range(1..=6)),
                    FieldType::Date => json!("2027-01-15"),
                    FieldType::Text => json!("tekst"),
                };
                form.insert(f.name.clone(), v);
            }
            if step.kind == StepKind::JointVisit {
                now = now.max(task.visit.as_ref().unwrap().at);
                Action::RecordVisitOutcome {
                    task: TaskRef(task.id.clone()),
                    data: form,
                }
            } else {
                Action::CompleteTask {
                    task: TaskRef(task.id.clone()),
                    data: form,
                }
            }
        };
        let out =
            apply(pv, &s, Command::new("anna", action), now).unwrap_or_else(|e| panic!("walk {seed}: {e}"));
        events.extend(out.events);
        s = out.state;
        check_invariants(pv, &s, &events);
    }
}

fn check_invariants(pv: &PathwayVersion, s: &CaseState, events: &[Event]) {
    for t in s.tokens.values() {
        assert!(pv.step(&t.step).is_some(), "token on unknown step {}", t.step);
    }
    for task in s.tasks.values() {
        let token = s.tokens.get(&task.token).expect("task without token");
        assert_eq!(token.step, task.step);
    }
    if s.status != CaseStatus::Active {
        assert!(s.tasks.is_empty(), "open tasks on an ended case");
        assert!(s.tokens.is_empty(), "tokens on an ended case");
    } else {
        assert!(!s.tokens.is_empty());
    }
    // Joins never complete early: each split closes after exactly as many arrivals as it
    // started branches.
    let mut started: HashMap<u64, u32> = HashMap::new();
    let mut expected: HashMap<u64, u32> = HashMap::new();
    let mut arrived: HashMap<u64, u32> = HashMap::new();
    // The split places its branch tokens right after opening; count those.
    let mut placing: Option<u64> = None;
    for e in events {
        match &e.kind {
            EventKind::SplitOpened {
                instance,
                expected: n,
                ..
            } => {
                expected.insert(*instance, *n);
                placing = Some(*instance);
            }
            EventKind::TokenRemoved { .. } if placing.is_some() => {}
            EventKind::TokenPlaced { frames, .. }
                if placing.is_some() && frames.last() == placing.as_ref() =>
            {
                if let Some(i) = placing {
                    *started.entry(i).or_default() += 1;
                }
            }
            EventKind::BranchArrived { instance, .. } => {
                placing = None;
                let a = arrived.entry(*instance).or_default();
                *a += 1;
                assert!(*a <= expected[instance], "more arrivals than branches");
            }
            EventKind::SplitClosed { instance } => {
                placing = None;
                assert_eq!(
                    arrived.get(instance).copied().unwrap_or(0),
                    expected[instance],
                    "join completed early"
                );
                assert_eq!(started.get(instance).copied().unwrap_or(0), expected[instance]);
            }
            _ => placing = None,
        }
    }
    assert_eq!(&CaseState::replay(&s.id, events), s, "replay differs");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_walks_keep_the_invariants(seed in any::<u64>(), which in 0usize..3, len in 1usize..120) {
        let (key, _) = SHIPPED[which];
        random_walk(&pathway(key), seed, len);
    }
}

#[test]
fn the_inactivity_check_rearms_itself_after_activity() {
    let pv = pathway("van-zorg-naar-werk"); // inactivity: 6 weken
    let started = start_with(&pv, json!({}));
    let key = inactivity_key("c1");
    let armed = |effects: &[Effect]| {
        effects.iter().find_map(|e| match e {
            Effect::SetTimer(t) if t.key == key => Some(t.due_at),
            _ => None,
        })
    };
    let first = armed(&started.effects).expect("armed at the start");
    // A person acts after three weeks: no timer write for it.
    let moved = complete(
        &pv,
        &started.state,
        "signaal",
        json!({"motivatie": "x", "trede": 2}),
    );
    assert!(
        armed(&moved.effects).is_none(),
        "ordinary commands leave the check alone"
    );
    let mut s = moved.state;
    s.last_activity_at = Some(t0() + Duration::weeks(3));
    // The check fires after six weeks: there was activity since, so it re-arms, raises nothing.
    let fired = |s: &CaseState, at| {
        apply(
            &pv,
            s,
            Command::new("system", Action::TimerFired { key: key.clone() }),
            at,
        )
        .unwrap()
    };
    let early = fired(&s, first);
    assert!(early.events.is_empty());
    let again = armed(&early.effects).unwrap_or_else(|| panic!("re-armed: {:?}", early.effects));
    assert!(again > first + Duration::weeks(2));
    assert!(
        !early
            .effects
            .iter()
            .any(|e| matches!(e, Effect::TimerDone { key: k } if *k == key))
    );
    // Firing after six quiet weeks raises the stall, once.
    let late = fired(&early.state, again);
    assert!(late.state.stalls.contains_key("inactive"));
    assert!(
        late.effects
            .iter()
            .any(|e| matches!(e, Effect::TimerDone { key: k } if *k == key))
    );
    let twice = fired(&late.state, again + Duration::days(1));
    assert!(twice.events.is_empty());
    // A person acting clears the stall and plans the next check.
    let back = apply(
        &pv,
        &late.state,
        Command::new(
            "anna",
            Action::SetVariables {
                values: data(json!({"verwijzer": "ORO"})),
            },
        ),
        again + Duration::days(2),
    )
    .unwrap();
    assert!(!back.state.stalls.contains_key("inactive"));
    assert!(armed(&back.effects).is_some());
}

#[test]
fn a_terminating_end_closes_the_other_routes_at_once() {
    let src = r#"
key: stoppen
name: Stoppen
roles:
  r: { name: Consulent }
steps:
  - { id: begin, kind: start, next: split }
  - { id: split, kind: parallel_split, next: [a, b] }
  - { id: a, kind: task, role: r, next: samen }
  - id: b
    kind: task
    role: r
    fields:
      - { name: stoppen, type: boolean, required: true }
    next: keuze
  - id: keuze
    kind: gateway
    branches:
      - { when: "stoppen == true", to: gestopt }
    default: samen
  - { id: samen, kind: parallel_join, next: klaar }
  - { id: klaar, kind: end, outcome: betaald_werk }
  - { id: gestopt, kind: end, outcome: gestopt, terminate: true }
"#;
    let loaded = from_yaml(src).unwrap();
    assert_eq!(
        crate::pathway::validate::validate(&loaded),
        vec![],
        "a valid pathway"
    );
    let pv = PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    };
    let s = start(&pv);
    assert_eq!(open_steps(&s), ["a", "b"]);
    let out = complete(&pv, &s, "b", json!({"stoppen": true}));
    assert_eq!(out.state.status, CaseStatus::Ended, "ended although `a` was open");
    assert!(out.state.tasks.is_empty() && out.state.tokens.is_empty());
    assert!(out.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::TaskClosed { step, .. } if step == "a"
    )));
    assert!(out.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CaseEnded { outcome, .. } if outcome == "gestopt"
    )));
}

#[test]
fn a_message_ends_the_wait_that_awaits_it_once() {
    let src = r#"
key: bericht
name: Bericht
roles:
  r: { name: Consulent }
steps:
  - { id: begin, kind: start, next: aanvraag }
  - { id: aanvraag, kind: task, role: r, next: uwv }
  - id: uwv
    kind: wait
    role: r
    party: UWV
    expected: 8 weken
    message: uwv_besluit
    fields:
      - { name: besluit, type: choice, options: [toegekend, afgewezen] }
    next: klaar
  - { id: klaar, kind: end, outcome: betaald_werk }
"#;
    let loaded = from_yaml(src).unwrap();
    assert_eq!(validate(&loaded), vec![]);
    let pv = PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    };
    let s = start(&pv);
    let message = |s: &CaseState, name: &str, id: &str| {
        apply(
            &pv,
            s,
            Command::new(
                "uwv-koppeling",
                Action::ReceiveMessage {
                    name: name.into(),
                    id: id.into(),
                    data: data(json!({"besluit": "toegekend"})),
                },
            ),
            t0() + Duration::days(2),
        )
    };
    // Nothing waits for it yet: refused, nothing changes.
    assert!(matches!(
        message(&s, "uwv_besluit", "m1"),
        Err(RuntimeError::NoWaitForMessage { .. })
    ));
    let s = complete(&pv, &s, "aanvraag", json!({})).state;
    assert_eq!(open_steps(&s), ["uwv"]);
    assert!(matches!(
        message(&s, "iets_anders", "m1"),
        Err(RuntimeError::NoWaitForMessage { .. })
    ));
    let out = message(&s, "uwv_besluit", "m1").unwrap();
    assert_eq!(out.state.status, CaseStatus::Ended);
    assert_eq!(out.state.variables["besluit"], json!("toegekend"));
    assert!(out.state.received.contains("m1"));
    // The same message again acts no more.
    assert!(matches!(
        message(&out.state, "uwv_besluit", "m1"),
        Err(RuntimeError::MessageAlreadyReceived { .. })
    ));
}

#[test]
fn a_gateway_where_no_condition_holds_holds_the_case_until_someone_chooses() {
    let src = r#"
key: route
name: Route
roles:
  r: { name: Consulent }
variables:
  - { name: uren, type: number }
steps:
  - { id: begin, kind: start, next: gesprek }
  - id: gesprek
    kind: task
    role: r
    fields:
      - { name: uren, type: number }
    next: hoeveel
  - id: hoeveel
    kind: gateway
    name: Hoeveel uur?
    branches:
      - { when: 'uren >= 20', to: werk, label: Twintig uur of meer }
      - { when: 'uren < 8', to: zorg, label: Minder dan acht }
  - { id: werk, kind: task, role: r, next: klaar }
  - { id: zorg, kind: task, role: r, next: klaar }
  - { id: klaar, kind: end, outcome: betaald_werk }
"#;
    let loaded = from_yaml(src).unwrap();
    assert_eq!(validate(&loaded), vec![]);
    let pv = PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    };
    let begun = start_with(&pv, json!({}));
    let s = begun.state;
    // 12 hours: neither route holds, and there is no default. Not an error and not a
    // silent stop: the case is held at the gateway with a stall of its own.
    let out = complete(&pv, &s, "gesprek", json!({"uren": 12}));
    let mut events = begun.events;
    events.extend(out.events.clone());
    let held = out.state;
    assert_eq!(held.status, CaseStatus::Active);
    assert!(held.tasks.is_empty());
    let stall = &held.stalls[&route_key("hoeveel")];
    assert_eq!(
        (stall.reason.as_str(), stall.step.as_deref()),
        (NO_ROUTE, Some("hoeveel"))
    );
    assert!(
        out.effects
            .iter()
            .any(|e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::StallRaised)),
        "the manager hears of it"
    );
    let choose = |s: &CaseState, step: &str, to: &str| {
        apply(
            &pv,
            s,
            Command::new(
                "anna",
                Action::ChooseRoute {
                    step: step.into(),
                    to: to.into(),
                },
            ),
            t0() + Duration::days(3),
        )
    };
    assert!(matches!(
        choose(&held, "hoeveel", "klaar"),
        Err(RuntimeError::NotARoute { .. })
    ));
    assert!(matches!(
        choose(&held, "gesprek", "werk"),
        Err(RuntimeError::NotHeldAt { .. })
    ));
    let chosen = choose(&held, "hoeveel", "werk").unwrap();
    events.extend(chosen.events);
    let on = chosen.state;
    assert!(on.stalls.is_empty());
    assert_eq!(open_steps(&on), ["werk"]);
    // Once moved on, choosing again is refused.
    assert!(matches!(
        choose(&on, "hoeveel", "zorg"),
        Err(RuntimeError::NotHeldAt { .. })
    ));
    // Replaying the events gives the same state.
    assert_eq!(CaseState::replay("c1", &events), on);
}

#[test]
fn a_message_breaks_into_work_or_opens_a_route_beside_it() {
    let src = r#"
key: afbreken
name: Afbreken
roles:
  r: { name: Consulent }
steps:
  - { id: begin, kind: start, next: reparatie }
  - id: reparatie
    kind: task
    role: r
    on_message:
      - { message: klant_belt_af, to: afzeggen }
      - { message: klant_vraagt, to: terugbellen, interrupting: false }
    next: klaar
  - { id: afzeggen, kind: task, role: r, next: klaar }
  - { id: terugbellen, kind: task, role: r, next: gebeld }
  - { id: gebeld, kind: end, outcome: overig }
  - { id: klaar, kind: end, outcome: overig }
"#;
    let loaded = from_yaml(src).unwrap();
    assert_eq!(validate(&loaded), vec![]);
    let pv = PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    };
    let s = start(&pv);
    let message = |s: &CaseState, name: &str, id: &str| {
        apply(
            &pv,
            s,
            Command::new(
                "koppeling",
                Action::ReceiveMessage {
                    name: name.into(),
                    id: id.into(),
                    data: BTreeMap::new(),
                },
            ),
            t0() + Duration::days(1),
        )
    };
    // Beside the work: the repair stays open, the call-back opens as well.
    let beside = message(&s, "klant_vraagt", "v1").unwrap().state;
    assert_eq!(open_steps(&beside), ["reparatie", "terugbellen"]);
    // Breaking in: the repair closes, the case goes to the cancellation.
    let broken = message(&beside, "klant_belt_af", "a1").unwrap().state;
    assert_eq!(open_steps(&broken), ["afzeggen", "terugbellen"]);
    assert!(matches!(
        message(&broken, "klant_belt_af", "a2"),
        Err(RuntimeError::NoWaitForMessage { .. })
    ));
    // Both routes end on their own; the case ends with the last.
    let one = complete(&pv, &broken, "terugbellen", json!({})).state;
    assert_eq!(one.status, CaseStatus::Active);
    let done = complete(&pv, &one, "afzeggen", json!({})).state;
    assert_eq!(done.status, CaseStatus::Ended);
}

/// A phase "Onderzoek" of three steps, two of them side by side, with an eight-week term.
fn phased(on_deadline: bool) -> PathwayVersion {
    let (interrupt, rappel) = if on_deadline {
        (
            "    on_deadline: rappel\n",
            "  - { id: rappel, kind: task, role: r, next: klaar }\n",
        )
    } else {
        ("", "")
    };
    let src = format!(
        r#"
key: fasen
name: Fasen
roles: {{ r: {{ name: Consulent }} }}
steps:
  - {{ id: start, kind: start, next: aanmelding }}
  - {{ id: aanmelding, kind: task, role: r, next: splits }}
  - {{ id: splits, kind: parallel_split, next: [gesprek, dossier] }}
  - {{ id: gesprek, kind: task, role: r, next: samen }}
  - {{ id: dossier, kind: task, role: r, next: samen }}
  - {{ id: samen, kind: parallel_join, next: plan }}
  - {{ id: plan, kind: task, role: r, next: klaar }}
{rappel}  - {{ id: klaar, kind: end, outcome: betaald_werk }}
phases:
  - id: onderzoek
    name: Onderzoek
    steps: [splits, gesprek, dossier, samen]
    deadline: 8 weken
    escalations:
      - {{ before: 1 week, to: team_lead }}
{interrupt}"#
    );
    let loaded = from_yaml(&src).unwrap();
    assert_eq!(validate(&loaded), vec![]);
    PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    }
}

fn phase_timers(effects: &[Effect]) -> Vec<(String, DateTime<Utc>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SetTimer(t) if t.kind == TimerKind::Phase => Some((t.key.clone(), t.due_at)),
            _ => None,
        })
        .collect()
}

fn fire(pv: &PathwayVersion, s: &CaseState, key: &str, at: DateTime<Utc>) -> Outcome {
    apply(
        pv,
        s,
        Command::new("system", Action::TimerFired { key: key.into() }),
        at,
    )
    .unwrap_or_else(|e| panic!("firing {key}: {e}"))
}

#[test]
fn a_phase_term_runs_from_entering_the_phase_to_leaving_it() {
    let pv = phased(false);
    let s = start(&pv);
    assert!(s.phases.is_empty(), "not in the phase before its first step");
    let entered = complete(&pv, &s, "aanmelding", json!({}));
    let phase = &entered.state.phases["onderzoek"];
    assert_eq!(phase.entered_at, t0() + Duration::days(1));
    let timers = phase_timers(&entered.effects);
    assert_eq!(timers.len(), 2, "the deadline and one reminder: {timers:?}");
    assert_eq!(phase.timers.len(), 2);
    assert!(phase.due.is_some_and(|d| d >= t0() + Duration::weeks(8)));
    // One of two branches done: still in the phase, nothing re-armed.
    let half = complete(&pv, &entered.state, "gesprek", json!({}));
    assert!(half.state.phases.contains_key("onderzoek"));
    assert!(phase_timers(&half.effects).is_empty());
    // Both done: the case leaves the phase and its timers are cancelled.
    let out = complete(&pv, &half.state, "dossier", json!({}));
    assert!(out.state.phases.is_empty());
    for (key, _) in &timers {
        assert!(
            out.effects
                .iter()
                .any(|e| matches!(e, Effect::CancelTimer { key: k } if k == key)),
            "{key} cancelled"
        );
    }
    assert!(
        out.events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::PhaseLeft { phase } if phase == "onderzoek"))
    );
    // Replaying the events gives the same state.
    let mut events = Vec::new();
    for o in [&entered, &half, &out] {
        events.extend(o.events.clone());
    }
    let replayed = CaseState::replay(
        "c1",
        start_with(&pv, json!({})).events.iter().chain(events.iter()),
    );
    assert_eq!(replayed, out.state);
}

#[test]
fn a_phase_past_its_term_without_a_route_is_a_stall_until_the_case_leaves_it() {
    let pv = phased(false);
    let s = complete(&pv, &start(&pv), "aanmelding", json!({})).state;
    let keys = s.phases["onderzoek"].timers.clone();
    let deadline = keys.iter().find(|k| k.ends_with(":deadline")).unwrap();
    let reminder = keys.iter().find(|k| !k.ends_with(":deadline")).unwrap();
    // The reminder a week before: the team lead hears, the work goes on.
    let warned = fire(&pv, &s, reminder, t0() + Duration::weeks(7));
    assert!(warned.effects.iter().any(|e| matches!(e,
        Effect::Notify(n) if n.kind == NotificationKind::DeadlineApproaching
            && n.to == Recipient::Role("team_lead".into()))));
    assert_eq!(open_steps(&warned.state), ["dossier", "gesprek"]);
    // The deadline: a stall of its own reason, the work stays open.
    let late = fire(&pv, &warned.state, deadline, t0() + Duration::weeks(9));
    let stall = &late.state.stalls[&phase_stall_key("onderzoek")];
    assert_eq!(stall.reason, PHASE_OVERDUE);
    assert_eq!(open_steps(&late.state), ["dossier", "gesprek"]);
    // A timer of a phase the case has left does nothing.
    let s2 = complete(&pv, &late.state, "gesprek", json!({})).state;
    let left = complete(&pv, &s2, "dossier", json!({})).state;
    assert!(
        !left.stalls.contains_key(&phase_stall_key("onderzoek")),
        "cleared on leaving"
    );
    let stale = fire(&pv, &left, deadline, t0() + Duration::weeks(10));
    assert!(stale.events.is_empty());
}

#[test]
fn an_interrupting_phase_deadline_closes_all_its_work_and_goes_on_once() {
    let pv = phased(true);
    let s = complete(&pv, &start(&pv), "aanmelding", json!({})).state;
    // One branch done and waiting at the join, the other still open.
    let s = complete(&pv, &s, "gesprek", json!({})).state;
    let deadline = s.phases["onderzoek"]
        .timers
        .iter()
        .find(|k| k.ends_with(":deadline"))
        .unwrap()
        .clone();
    let out = fire(&pv, &s, &deadline, t0() + Duration::weeks(9));
    assert_eq!(open_steps(&out.state), ["rappel"]);
    assert!(
        out.state.splits.is_empty(),
        "the split inside the phase is closed"
    );
    assert_eq!(out.state.tokens.len(), 1);
    assert!(out.state.phases.is_empty());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::PhaseDeadlinePassed { phase } if phase == "onderzoek"))
    );
    // The case goes on to its end from there.
    let done = complete(&pv, &out.state, "rappel", json!({})).state;
    assert_eq!(done.status, CaseStatus::Ended);
    // Firing again (a retry after a crash) changes nothing.
    let again = fire(&pv, &out.state, &deadline, t0() + Duration::weeks(9));
    assert!(again.events.is_empty());
}

#[test]
fn re_entering_a_phase_starts_its_term_anew() {
    let src = r#"
key: lus
name: Lus
roles: { r: { name: Consulent } }
steps:
  - { id: start, kind: start, next: werk }
  - { id: werk, kind: task, role: r, next: klaar_vraag }
  - id: klaar_vraag
    kind: task
    role: r
    fields: [ { name: klaar, type: boolean, required: true } ]
    next: kies
  - id: kies
    kind: gateway
    branches: [ { when: 'klaar', to: einde } ]
    default: opnieuw
  - { id: opnieuw, kind: task, role: r, next: werk }
  - { id: einde, kind: end, outcome: betaald_werk }
phases:
  - { id: f, name: Werk, steps: [werk], deadline: 2 weken }
"#;
    let loaded = from_yaml(src).unwrap();
    assert_eq!(validate(&loaded), vec![]);
    let pv = PathwayVersion {
        version: 1,
        pathway: loaded.pathway,
    };
    let s = start(&pv);
    let first = s.phases["f"].timers.clone();
    let s = complete(&pv, &s, "werk", json!({})).state;
    assert!(s.phases.is_empty());
    let s = complete(&pv, &s, "klaar_vraag", json!({"klaar": false})).state;
    let back = complete(&pv, &s, "opnieuw", json!({})).state;
    let second = back.phases["f"].timers.clone();
    assert_ne!(first, second, "a new term under new keys");
}

#[test]
fn phases_that_do_not_fit_the_pathway_are_named() {
    let src = r#"
key: fout
name: Fout
roles: { r: { name: Consulent } }
steps:
  - { id: start, kind: start, next: a }
  - { id: a, kind: task, role: r, next: b }
  - { id: b, kind: task, role: r, next: einde }
  - { id: einde, kind: end, outcome: betaald_werk }
phases:
  - { id: p, steps: [start, a, x], on_deadline: b }
  - { id: q, steps: [a, b], deadline: 1 week, on_deadline: a, escalations: [ { to: niemand } ] }
"#;
    let loaded = from_yaml(src).unwrap();
    let found: Vec<String> = validate(&loaded).iter().map(ToString::to_string).collect();
    for expected in [
        "phase `p`: it names step `x`, which does not exist",
        "phase `p`: the start step `start` cannot be inside a phase",
        "phase `p`: `on_deadline` needs a `deadline` on the phase",
        "phase `q`: step `a` is in phase `p` too; phases may nest but not overlap",
        "phase `q`: `on_deadline` goes to `a`, which is inside the phase itself",
        "phase `q`: escalation rung 0 goes to `niemand`, which is not `responsible`, `team_lead`, `manager` or a declared role",
    ] {
        assert!(found.iter().any(|f| f == expected), "{expected}\nin {found:#?}");
    }
}
