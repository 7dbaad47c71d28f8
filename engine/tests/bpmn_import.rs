//! BPMN import on files in the shapes Camunda Modeler 5 saves (Camunda 7 and 8), checked by
//! the pathway validator and run by the pure runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use doorloop_engine::bpmn::import::{ImportError, import};
use doorloop_engine::pathway::model::{FieldType, Next, PathwayVersion, StepKind};
use doorloop_engine::pathway::validate::validate_pathway;
use doorloop_engine::runtime::{Action, CaseState, CaseStatus, Command, TaskRef, apply};
use serde_json::json;

fn step_of<'a>(
    p: &'a doorloop_engine::pathway::model::Pathway,
    id: &str,
) -> &'a doorloop_engine::pathway::model::Step {
    p.steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

fn file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/bpmn/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn a_camunda_7_file_becomes_a_valid_pathway_that_runs() {
    let p = import(&file("camunda7-intake.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    assert_eq!((p.key.as_str(), p.name.as_str()), ("intake_werk", "Intake werk"));
    let intake = p.steps.iter().find(|s| s.id == "Activity_intake").unwrap();
    assert_eq!(intake.kind, StepKind::Task);
    assert_eq!(intake.role.as_deref(), Some("wmo_consulent"));
    assert_eq!(
        intake.description.as_deref(),
        Some("Gesprek over ik wil / ik kan.")
    );
    assert!(intake.deadline.is_some());
    assert_eq!(intake.next, Next::One("Gateway_besluit".into()));
    let gw = p.steps.iter().find(|s| s.id == "Gateway_besluit").unwrap();
    assert_eq!(gw.branches[0].when, "geschikt == true && trede >= 3");
    assert_eq!(gw.branches[0].label.as_deref(), Some("ja"));
    assert_eq!(gw.default.as_deref(), Some("Event_gestopt"));
    // What the gateway reads is asked when the intake is completed (optional fields).
    let types: BTreeMap<&str, &FieldType> = intake.fields.iter().map(|v| (v.name.as_str(), &v.ty)).collect();
    assert_eq!(types["geschikt"], &FieldType::Boolean);
    assert_eq!(types["trede"], &FieldType::Number);
    assert!(intake.fields.iter().all(|f| !f.required));
    assert!(p.variables.is_empty());
    let outcomes: Vec<&str> = p.steps.iter().filter_map(|s| s.outcome.as_deref()).collect();
    assert_eq!(outcomes, ["betaald_werk", "gestopt"]);

    // It runs: start with the variables, complete the intake, the condition picks the way.
    let pv = PathwayVersion {
        version: 1,
        pathway: p,
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let started = apply(
        &pv,
        &CaseState::blank("c1"),
        Command::new(
            "anna",
            Action::StartCase {
                variables: BTreeMap::new(),
            },
        ),
        now,
    )
    .unwrap()
    .state;
    let done = |s: &CaseState, task: &str, data: serde_json::Value| {
        apply(
            &pv,
            s,
            Command::new(
                "anna",
                Action::CompleteTask {
                    task: TaskRef(task.into()),
                    data: serde_json::from_value(data).unwrap(),
                },
            ),
            now,
        )
        .unwrap()
        .state
    };
    let s = done(&started, "Activity_intake", json!({"geschikt": true, "trede": 4}));
    assert!(s.tasks.values().any(|t| t.step == "Activity_traject"), "{s:#?}");
    let s = done(&s, "Activity_traject", json!({}));
    assert_eq!(s.status, CaseStatus::Ended);
    assert_eq!(s.outcome.as_deref(), Some("betaald_werk"));
}

#[test]
fn a_camunda_8_file_with_lanes_parallel_paths_and_merges() {
    let p = import(&file("zeebe-lanes-parallel.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    assert_eq!(
        step("Zorg").role.as_deref(),
        Some("jeugdconsulent"),
        "role from the lane"
    );
    assert_eq!(
        step("School").role.as_deref(),
        Some("onderwijsconsulent"),
        "Zeebe assignment wins"
    );
    assert!(step("School").deadline.is_some(), "Zeebe task schedule");
    assert_eq!(step("Split").kind, StepKind::ParallelSplit);
    assert_eq!(step("Join").kind, StepKind::ParallelJoin);
    assert_eq!(step("Keuze").branches[0].when, "startkwalificatie == true");
    // The exclusive merge is not a step: both ways lead straight on.
    assert!(p.steps.iter().all(|s| s.id != "Samen"));
    assert_eq!(step("Keuze").default.as_deref(), Some("Registreren"));
    assert_eq!(step("Registreren").kind, StepKind::Automatic);
    assert_eq!(p.roles["jeugdconsulent"].name, "Jeugdconsulent");
}

#[test]
fn unsupported_elements_are_listed_all_at_once() {
    let e = import(&file("unsupported.bpmn")).unwrap_err();
    let ImportError::Unsupported(list) = &e else {
        panic!("{e}")
    };
    let ids: Vec<&str> = list.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["s", "sub", "b"], "{e}");
    let text = e.to_string();
    assert!(text.contains("startEvent (signalEventDefinition) `s`"), "{text}");
    assert!(
        text.contains("subProcess (event sub-process) `sub`")
            && text.contains("boundaryEvent (conditionalEventDefinition) `b`"),
        "{text}"
    );
    // In Dutch, for the coordinator: what each element is, its id second.
    let dutch = doorloop_engine::text::problems::bpmn(&e).join("\n");
    assert!(
        dutch.contains("deelproces `sub` (subProcess (event sub-process))")
            && dutch.contains("startgebeurtenis `s` (startEvent (signalEventDefinition))"),
        "{dutch}"
    );
}

#[test]
fn bad_files_and_conditions_get_clear_errors() {
    assert!(matches!(import("<definitions"), Err(ImportError::Xml(_))));
    let e = import("<definitions xmlns='urn:x'/>").unwrap_err();
    assert!(e.to_string().contains("not BPMN 2.0"), "{e}");
    let bad = file("camunda7-intake.bpmn").replace(
        "${geschikt == true &amp;&amp; trede &gt;= 3}",
        "${execution.getVariable('x')}",
    );
    let e = import(&bad).unwrap_err().to_string();
    assert!(
        e.contains("verbinding") && e.contains("`Flow_ja`") && e.contains("geen gewone variabele"),
        "{e}"
    );
    let fixed_date = file("camunda7-intake.bpmn").replace("P10D", "2026-12-01T10:00:00");
    let e = import(&fixed_date).unwrap_err().to_string();
    assert!(
        e.contains("taak ‘Intakegesprek’ (`Activity_intake`)") && e.contains("geen duur"),
        "{e}"
    );
}

#[test]
fn script_tasks_and_timers() {
    let p = import(&file("spiff-script-timers.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    let init = step("init");
    assert_eq!(init.kind, StepKind::Automatic);
    assert_eq!(init.set["pogingen"], "0");
    // Script lines run in order: `gereed` sees the values just assigned.
    assert_eq!(init.set["gereed"], "(0) >= (3)");
    assert_eq!(step("tel").set["pogingen"], "pogingen + 1");
    // The interrupting timer is the task's deadline, with where the case goes then.
    let aanvraag = step("aanvraag");
    assert!(aanvraag.deadline.is_some());
    assert_eq!(aanvraag.on_deadline.as_deref(), Some("gestopt"));
    // The timer catch event is a wait on the outside party it names.
    let wachten = step("wachten");
    assert_eq!(wachten.kind, StepKind::Wait);
    assert_eq!(wachten.party.as_deref(), Some("UWV verzekeringsarts"));
    assert_eq!(
        wachten.expected.as_ref().map(ToString::to_string).as_deref(),
        Some("P16W")
    );
    assert_eq!(step("nog").branches[0].when, "pogingen < max_pogingen && !gereed");
    let types: BTreeMap<&str, &FieldType> = p.variables.iter().map(|v| (v.name.as_str(), &v.ty)).collect();
    assert_eq!(types["gereed"], &FieldType::Boolean);
    assert_eq!(types["pogingen"], &FieldType::Number);
}

#[test]
fn scripts_and_timers_that_cannot_be_translated_are_named() {
    let src = file("spiff-script-timers.bpmn");
    let e = import(&src.replace("var pogingen = pogingen + 1;", "print(pogingen)"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("scriptTask `tel`") && e.contains("niet uit eenvoudige toewijzingen"),
        "{e}"
    );
    // A reminder whose path leads back into the work is refused.
    let e = import(
        &src.replace(
            "<bpmn:boundaryEvent id=\"te_laat\"",
            "<bpmn:boundaryEvent id=\"te_laat\" cancelActivity=\"false\"",
        )
        .replace(
            "sourceRef=\"te_laat\" targetRef=\"gestopt\"",
            "sourceRef=\"te_laat\" targetRef=\"wachten\"",
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("randgebeurtenis `te_laat`: de route van deze herinnering komt bij tussengebeurtenis ‘UWV verzekeringsarts’ (`wachten`)"),
        "{e}"
    );
    let e = import(&src.replace(
        "<bpmn:timeDuration>P14D</bpmn:timeDuration>",
        "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("timeDuration"), "{e}");
}

#[test]
fn doorloop_properties_survive_in_their_own_namespace() {
    let p = import(&file("doorloop-extensions.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    assert_eq!(p.key, "vznw-bpmn");
    assert_eq!(p.roles["wmo-consulent"].organisation.as_deref(), Some("gemeente"));
    assert!(!p.roles.contains_key("medewerker"), "{:?}", p.roles.keys());
    assert_eq!(p.defaults.visit_reminders.len(), 2);
    assert!(p.defaults.inactivity.is_some());
    assert_eq!(p.defaults.escalations.len(), 1);
    assert!(p.defaults.messages.contains_key("visit_reminder"));
    let intake = p.steps.iter().find(|s| s.id == "intake").unwrap();
    assert_eq!(intake.kind, StepKind::JointVisit);
    assert_eq!(intake.roles, ["wmo-consulent", "klantmanager"]);
    assert!(matches!(
        intake.deadline,
        Some(doorloop_engine::pathway::model::Deadline::Detailed { atw: true, .. })
    ));
    assert!(intake.stall_after.is_some());
    assert_eq!(intake.rung, Some(2));
    assert_eq!(intake.fields.len(), 2);
    assert_eq!(intake.fields[1].options, ["bijstand", "wia", "geen"]);
    assert_eq!(intake.escalations[0].to, "manager");
    let end = p.steps.iter().find(|s| s.id == "eind").unwrap();
    assert_eq!(end.outcome.as_deref(), Some("beschut_werk"));
    // A bad term is named with its element.
    let e = import(&file("doorloop-extensions.bpmn").replace("4 weken", "vier weken"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("taak ‘Intake’ (`intake`): doorloop:stallAfter `vier weken` is geen termijn"),
        "{e}"
    );
}

#[test]
fn shipped_pathways_survive_a_round_trip_through_bpmn() {
    use doorloop_engine::bpmn::export::export;
    use doorloop_engine::pathway::definition::from_yaml;
    for name in [
        "van-zorg-naar-werk.yaml",
        "jongeren-zorg-school-werk.yaml",
        "simpel-switchen.yaml",
    ] {
        let yaml =
            std::fs::read_to_string(format!("{}/../workflows/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let original = from_yaml(&yaml).unwrap().pathway;
        let xml = export(&original).unwrap();
        let back = import(&xml).unwrap_or_else(|e| panic!("{name}: {e}\n{xml}"));
        if back != original {
            let (a, b) = (
                doorloop_engine::pathway::definition::to_yaml(&original).unwrap(),
                doorloop_engine::pathway::definition::to_yaml(&back).unwrap(),
            );
            let diff: Vec<String> = a
                .lines()
                .zip(b.lines())
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .take(5)
                .map(|(i, (x, y))| format!("line {i}: {x:?} became {y:?}"))
                .collect();
            panic!("{name}: the round trip changed the pathway:\n{}", diff.join("\n"));
        }
        // BPMN → YAML → BPMN keeps every element.
        let again = export(&back).unwrap();
        assert_eq!(again, xml, "{name}");
        assert!(
            xml.contains("<bpmndi:BPMNShape") && xml.contains("<di:waypoint"),
            "{name} has a diagram"
        );
    }
}

#[test]
fn reminders_and_inclusive_gateways_in_a_bpmn_io_file_without_diagram() {
    let p = import(&file("reminders-inclusive.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    // R3/P2D: the task is due after 2 days, then reminded twice more, 2 and 4 days later,
    // to the lane of the task that sends the reminder.
    let onderzoek = step("onderzoek");
    assert_eq!(
        onderzoek
            .deadline
            .as_ref()
            .map(|d| d.term().to_string())
            .as_deref(),
        Some("P2D")
    );
    let rungs: Vec<(Option<String>, &str)> = onderzoek
        .escalations
        .iter()
        .map(|e| (e.after.as_ref().map(ToString::to_string), e.to.as_str()))
        .collect();
    assert_eq!(
        rungs,
        [
            (None, "teamleider"),
            (Some("P2D".into()), "teamleider"),
            (Some("P4D".into()), "teamleider")
        ]
    );
    // The reminder's own path is not part of the case.
    assert!(p.steps.iter().all(|s| s.id != "herinner" && s.id != "herinnerd"));
    assert_eq!(step("welke").kind, StepKind::InclusiveSplit);
    assert_eq!(step("samen").kind, StepKind::InclusiveJoin);
    assert_eq!(step("welke").branches.len(), 2);
    assert_eq!(step("welke").default.as_deref(), Some("zorg"));
    // `opleiding` is compared with a fixed string: asked as a choice.
    let asked = onderzoek.fields.iter().find(|f| f.name == "opleiding").unwrap();
    assert_eq!(asked.ty, FieldType::Choice);
    assert_eq!(asked.options, ["geen", "anders"]);
}

#[test]
fn camunda_7_javascript_conditions_hour_deadlines_and_timer_waits() {
    let p = import(&file("camunda7-js-timer.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    assert_eq!(
        step("Afspraken")
            .deadline
            .as_ref()
            .map(|d| d.term().to_string())
            .as_deref(),
        Some("PT48H")
    );
    assert_eq!(step("Proeftijd").kind, StepKind::Wait);
    assert_eq!(step("Proeftijd").role.as_deref(), Some("medewerker"));
    assert_eq!(
        step("Geslaagd").branches[0].when,
        "contract_aangeboden && uren >= 12"
    );
    let fields: Vec<(&str, &FieldType)> = step("Evaluatie")
        .fields
        .iter()
        .map(|f| (f.name.as_str(), &f.ty))
        .collect();
    assert_eq!(
        fields,
        [
            ("contract_aangeboden", &FieldType::Boolean),
            ("uren", &FieldType::Number)
        ]
    );
}

#[test]
fn camunda_8_feel_scripts_service_tasks_and_merges() {
    let p = import(&file("zeebe-feel-script.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    assert_eq!(
        step("uren").role.as_deref(),
        Some("jobcoach"),
        "FEEL string candidate group"
    );
    assert_eq!(step("bereken").set["kosten"], "uren_per_week * 52 * 65");
    assert_eq!(step("registreer").kind, StepKind::Automatic);
    assert_eq!(step("hoog").branches[0].when, "kosten > 10000");
    // The merge is gone: the manager's approval leads straight to the end.
    assert_eq!(step("akkoord").next, Next::One("eind".into()));
    assert_eq!(step("hoog").default.as_deref(), Some("eind"));
    let vars: Vec<&str> = p.variables.iter().map(|v| v.name.as_str()).collect();
    assert!(
        vars.contains(&"kosten") && vars.contains(&"uren_per_week"),
        "{vars:?}"
    );
}

#[test]
fn a_gateway_that_joins_and_splits_becomes_two_steps() {
    let p = import(&file("parallel-join-split.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let step = |id: &str| step_of(&p, id);
    assert_eq!(step("midden").kind, StepKind::ParallelJoin);
    assert_eq!(step("midden").next, Next::One("midden_split".into()));
    assert_eq!(step("midden_split").kind, StepKind::ParallelSplit);
    assert_eq!(
        step("midden_split").next,
        Next::Many(vec!["c".into(), "d".into()])
    );
    assert_eq!(step("e").outcome.as_deref(), Some("overgedragen"));
}

#[test]
fn pools_signals_errors_calls_and_loops_are_all_named() {
    let e = import(&file("two-pools-signals.bpmn")).unwrap_err();
    let ImportError::Unsupported(list) = &e else {
        panic!("{e}")
    };
    let ids: Vec<&str> = list.iter().map(|u| u.id.as_str()).collect();
    // The call activity is not among them: it calls pathway `x` as a linked case. Nor is the
    // UWV's pool (an outside party, said in a notice when the file imports), nor the signal
    // thrown (a moment on the timeline), nor the error nobody catches (work for the team lead).
    assert_eq!(ids, ["multi"], "{e}");
    let text = e.to_string();
    assert!(
        text.contains("userTask (loop or multi-instance) `multi`"),
        "{text}"
    );
    let runnable = file("two-pools-signals.bpmn")
        .replace(
            "<intermediateThrowEvent id=\"sig\"><signalEventDefinition/></intermediateThrowEvent>",
            "",
        )
        .replace(
            "<userTask id=\"multi\"><multiInstanceLoopCharacteristics/></userTask>",
            "",
        )
        .replace(
            "<endEvent id=\"e1\"><errorEventDefinition/></endEvent>",
            "<endEvent id=\"e1\" name=\"Doorverwezen\"/>",
        )
        .replace("<callActivity id=\"call\" calledElement=\"x\"/>", "");
    let runnable = runnable.replace("<sendTask id=\"vraag\"/>", "<sendTask id=\"vraag\"/><sequenceFlow id=\"f1\" sourceRef=\"s1\" targetRef=\"vraag\"/><sequenceFlow id=\"f2\" sourceRef=\"vraag\" targetRef=\"e1\"/>");
    let imported =
        doorloop_engine::bpmn::import::import_with_notices(&runnable).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imported
            .notices
            .iter()
            .any(|n| n.contains("De pool ‘UWV’ is als buitenpartij genomen")),
        "{:?}",
        imported.notices
    );
    // An end event's name that is no outcome category counts as `overig`; the name stays.
    let end = imported.pathway.steps.iter().find(|s| s.id == "e1").unwrap();
    assert_eq!(
        (end.outcome.as_deref(), end.name.as_str()),
        (Some("overig"), "Doorverwezen")
    );
}

#[test]
fn routes_without_conditions_become_a_choice_on_the_task_before() {
    // MIWG A.2.0: an exclusive gateway whose three routes carry no condition.
    let xml = file("named-routes.bpmn");
    let imported = doorloop_engine::bpmn::import::import_with_notices(&xml).unwrap_or_else(|e| panic!("{e}"));
    let p = &imported.pathway;
    assert_eq!(validate_pathway(p), vec![], "{p:#?}");
    let task = p.steps.iter().find(|s| s.id == "t1").unwrap();
    let field = task
        .fields
        .iter()
        .find(|f| f.name.starts_with("keuze_"))
        .expect("a choice");
    assert!(field.required);
    assert_eq!(field.options, ["akkoord", "nog_niet", "task_4"]);
    assert_eq!(field.option_labels["nog_niet"], "Nog niet");
    assert_eq!(
        field.option_labels["task_4"], "Task 4",
        "an unnamed route by its target"
    );
    assert!(
        imported
            .notices
            .iter()
            .any(|n| n.contains("kiest wie ‘Task 1’ afrondt de route")),
        "{:?}",
        imported.notices
    );
    // Descriptive elements are left out with a notice, not refused.
    assert!(
        imported.notices.iter().any(|n| n.contains("textAnnotation (1)")),
        "{:?}",
        imported.notices
    );
}

#[test]
fn an_imported_inclusive_join_waits_only_for_the_branches_that_started() {
    let p = import(&file("reminders-inclusive.bpmn")).unwrap_or_else(|e| panic!("{e}"));
    let pv = PathwayVersion {
        version: 1,
        pathway: p,
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let run = |s: &CaseState, action: Action| apply(&pv, s, Command::new("anna", action), now).unwrap().state;
    let s = run(
        &CaseState::blank("c"),
        Action::StartCase {
            variables: BTreeMap::new(),
        },
    );
    // Work and education wanted: werk and school start; zorg, the default, does not (a
    // default is taken only when no condition holds).
    let data =
        serde_json::from_value(json!({"werk_gewenst": true, "leeftijd": 20, "opleiding": "anders"})).unwrap();
    let s = run(
        &s,
        Action::CompleteTask {
            task: TaskRef("onderzoek".into()),
            data,
        },
    );
    let mut open: Vec<&str> = s.tasks.values().map(|t| t.step.as_str()).collect();
    open.sort_unstable();
    assert_eq!(open, ["school", "werk"]);
    let s = run(
        &s,
        Action::CompleteTask {
            task: TaskRef("werk".into()),
            data: BTreeMap::new(),
        },
    );
    assert_eq!(s.status, CaseStatus::Active, "the join waits for school");
    let s = run(
        &s,
        Action::CompleteTask {
            task: TaskRef("school".into()),
            data: BTreeMap::new(),
        },
    );
    assert_eq!(
        s.status,
        CaseStatus::Ended,
        "and not for zorg, which never started"
    );
    assert_eq!(s.outcome.as_deref(), Some("dagbesteding"));
}

#[test]
fn a_task_outside_any_lane_belongs_to_its_pool() {
    let src = file("zeebe-lanes-parallel.bpmn").replace("<bpmn:flowNodeRef>Zorg</bpmn:flowNodeRef>", "");
    let p = import(&src).unwrap_or_else(|e| panic!("{e}"));
    let zorg = p.steps.iter().find(|s| s.id == "Zorg").unwrap();
    assert_eq!(zorg.role.as_deref(), Some("gemeente"));
    assert_eq!(p.roles["gemeente"].name, "Gemeente");
}

#[test]
fn messages_that_end_waits_or_break_into_work_survive_a_round_trip() {
    use doorloop_engine::bpmn::export::export;
    use doorloop_engine::pathway::definition::from_yaml;
    let yaml = r#"
key: berichten
name: Berichten
roles:
  r: { name: Consulent }
steps:
  - { id: begin, kind: start, next: aanvraag }
  - id: aanvraag
    kind: task
    name: Aanvraag
    role: r
    on_message:
      - { message: klant_belt_af, to: afzeggen }
      - { message: klant_vraagt, to: terugbellen, interrupting: false }
    next: uwv
  - { id: uwv, kind: wait, name: Besluit UWV, role: r, party: UWV, expected: 8 weken, message: uwv_besluit, next: klaar }
  - { id: afzeggen, kind: task, name: Afzeggen, role: r, next: klaar }
  - { id: terugbellen, kind: task, name: Terugbellen, role: r, next: gebeld }
  - { id: gebeld, kind: end, outcome: overig }
  - { id: klaar, kind: end, outcome: overig }
"#;
    let original = from_yaml(yaml).unwrap().pathway;
    let xml = export(&original).unwrap();
    assert!(
        xml.contains("cancelActivity=\"false\"") && xml.contains("<bpmn:messageEventDefinition"),
        "{xml}"
    );
    let back = import(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(back.steps, original.steps);
    assert_eq!(export(&back).unwrap(), xml);
}

#[test]
fn a_signal_catch_event_is_a_wait_the_signal_ends() {
    let xml = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <signal id="sig" name="Nieuw budgetjaar"/>
  <process id="p">
    <startEvent id="s"/>
    <intermediateCatchEvent id="w" name="Wacht op budget"><signalEventDefinition signalRef="sig"/></intermediateCatchEvent>
    <userTask id="t" name="Herindicatie"/>
    <endEvent id="e" name="Klaar"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="w"/>
    <sequenceFlow id="f2" sourceRef="w" targetRef="t"/>
    <sequenceFlow id="f3" sourceRef="t" targetRef="e"/>
  </process>
</definitions>"#;
    let imported = doorloop_engine::bpmn::import::import_with_notices(xml).unwrap_or_else(|e| panic!("{e}"));
    let p = imported.pathway;
    assert_eq!(validate_pathway(&p), vec![]);
    let w = step_of(&p, "w");
    assert_eq!(w.kind, StepKind::Wait);
    assert_eq!(w.message.as_deref(), Some("nieuw_budgetjaar"));
    assert!(
        imported
            .notices
            .iter()
            .any(|n| n.contains("signaal `nieuw_budgetjaar`")),
        "{:?}",
        imported.notices
    );
}

#[test]
fn an_error_nobody_catches_goes_to_the_team_lead_and_an_escalation_to_its_boundary() {
    let xml = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <escalation id="esc" name="Te laat"/>
  <process id="p">
    <startEvent id="s"/>
    <userTask id="t" name="Aanvraag"/>
    <exclusiveGateway id="g" default="f_ok"/>
    <endEvent id="fout" name="Dossier onvolledig"><errorEventDefinition/></endEvent>
    <subProcess id="fase" name="Beoordeling">
      <startEvent id="fs"/>
      <userTask id="beoordelen" name="Beoordelen"/>
      <endEvent id="fe" name="Te laat"><escalationEventDefinition escalationRef="esc"/></endEvent>
      <sequenceFlow id="fa" sourceRef="fs" targetRef="beoordelen"/>
      <sequenceFlow id="fb" sourceRef="beoordelen" targetRef="fe"/>
    </subProcess>
    <boundaryEvent id="b" attachedToRef="fase"><escalationEventDefinition escalationRef="esc"/></boundaryEvent>
    <userTask id="opschalen" name="Opschalen"/>
    <endEvent id="e" name="Klaar"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <sequenceFlow id="f2" sourceRef="t" targetRef="g"/>
    <sequenceFlow id="f_fout" sourceRef="g" targetRef="fout"><conditionExpression>${onvolledig == true}</conditionExpression></sequenceFlow>
    <sequenceFlow id="f_ok" sourceRef="g" targetRef="fase"/>
    <sequenceFlow id="f3" sourceRef="fase" targetRef="e"/>
    <sequenceFlow id="f4" sourceRef="b" targetRef="opschalen"/>
    <sequenceFlow id="f5" sourceRef="opschalen" targetRef="e"/>
  </process>
</definitions>"#;
    let imported = doorloop_engine::bpmn::import::import_with_notices(xml).unwrap_or_else(|e| panic!("{e}"));
    let p = imported.pathway;
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    // Uncaught: work for the team lead, then the route ends with the error's name.
    let fout = step_of(&p, "fout");
    assert_eq!(
        (fout.kind.clone(), fout.role.as_deref()),
        (StepKind::Task, Some("teamleider"))
    );
    assert_eq!(p.roles["teamleider"].name, "Teamleider");
    assert_eq!(step_of(&p, "fout_einde").name, "Dossier onvolledig");
    assert!(
        imported
            .notices
            .iter()
            .any(|n| n.contains("gaat als taak naar de teamleider")),
        "{:?}",
        imported.notices
    );
    // Caught: the escalation at the phase's end goes where its boundary leads.
    assert_eq!(step_of(&p, "beoordelen").next, Next::One("opschalen".into()));
}

#[test]
fn a_timer_on_a_sub_process_is_the_term_of_the_whole_phase() {
    // As bpmn.io draws it: an expanded sub-process with an interrupting timer (eight weeks,
    // then the case goes to a reminder letter) and a non-interrupting one a week earlier.
    let xml = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">
  <process id="p" name="Onderzoek met termijn">
    <startEvent id="s"/>
    <userTask id="aanmelding" name="Aanmelding"/>
    <subProcess id="onderzoek" name="Onderzoek">
      <startEvent id="os"/>
      <parallelGateway id="split"/>
      <userTask id="gesprek" name="Gesprek"/>
      <userTask id="dossier" name="Dossier opvragen"/>
      <parallelGateway id="join"/>
      <endEvent id="oe"/>
      <sequenceFlow id="o1" sourceRef="os" targetRef="split"/>
      <sequenceFlow id="o2" sourceRef="split" targetRef="gesprek"/>
      <sequenceFlow id="o3" sourceRef="split" targetRef="dossier"/>
      <sequenceFlow id="o4" sourceRef="gesprek" targetRef="join"/>
      <sequenceFlow id="o5" sourceRef="dossier" targetRef="join"/>
      <sequenceFlow id="o6" sourceRef="join" targetRef="oe"/>
    </subProcess>
    <boundaryEvent id="acht_weken" name="8 weken" attachedToRef="onderzoek">
      <timerEventDefinition><timeDuration xsi:type="tFormalExpression">P56D</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <boundaryEvent id="zeven_weken" name="Herinnering" attachedToRef="onderzoek" cancelActivity="false">
      <timerEventDefinition><timeDuration xsi:type="tFormalExpression">P49D</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="herinnerd"/>
    <userTask id="plan" name="Plan"/>
    <userTask id="rappel" name="Rappel"/>
    <endEvent id="e" name="Klaar"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="aanmelding"/>
    <sequenceFlow id="f2" sourceRef="aanmelding" targetRef="onderzoek"/>
    <sequenceFlow id="f3" sourceRef="onderzoek" targetRef="plan"/>
    <sequenceFlow id="f4" sourceRef="plan" targetRef="e"/>
    <sequenceFlow id="f5" sourceRef="acht_weken" targetRef="rappel"/>
    <sequenceFlow id="f6" sourceRef="rappel" targetRef="e"/>
    <sequenceFlow id="f7" sourceRef="zeven_weken" targetRef="herinnerd"/>
  </process>
</definitions>"#;
    let p = import(xml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_pathway(&p), vec![], "{p:#?}");
    let [phase] = p.phases.as_slice() else {
        panic!("one phase: {:#?}", p.phases)
    };
    assert_eq!(phase.name, "Onderzoek");
    let mut steps = phase.steps.clone();
    steps.sort();
    assert_eq!(steps, ["dossier", "gesprek", "join", "split"]);
    assert_eq!(
        phase.deadline.as_ref().map(ToString::to_string).as_deref(),
        Some("P56D")
    );
    assert_eq!(phase.on_deadline.as_deref(), Some("rappel"));
    assert_eq!(phase.escalations.len(), 1, "{:?}", phase.escalations);
    assert_eq!(
        phase.escalations[0]
            .before
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("P7D")
    );
    // It runs: the phase's term covers both branches; when it passes, both close and the
    // case goes to the reminder letter.
    let pv = PathwayVersion {
        version: 1,
        pathway: p,
    };
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let run = |s: &CaseState, action: Action, days: i64| {
        apply(
            &pv,
            s,
            Command::new("anna", action),
            t0 + chrono::Duration::days(days),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let s = run(
        &CaseState::blank("c"),
        Action::StartCase {
            variables: BTreeMap::new(),
        },
        0,
    )
    .state;
    let complete = |s: &CaseState, task: &str, days: i64| {
        let action = Action::CompleteTask {
            task: TaskRef(task.into()),
            data: BTreeMap::new(),
        };
        run(s, action, days).state
    };
    let s = complete(&s, "aanmelding", 1);
    let s = complete(&s, "gesprek", 3);
    let key = s.phases["onderzoek"]
        .timers
        .iter()
        .find(|k| k.ends_with(":deadline"))
        .unwrap()
        .clone();
    let late = run(&s, Action::TimerFired { key }, 60).state;
    let open: Vec<&str> = late.tasks.values().map(|t| t.step.as_str()).collect();
    assert_eq!(open, ["rappel"]);
    assert_eq!(late.status, CaseStatus::Active);
}

#[test]
fn phases_survive_a_round_trip_drawn_as_sub_processes() {
    use doorloop_engine::bpmn::export::export;
    use doorloop_engine::pathway::definition::from_yaml;
    let yaml = file("phases.yaml");
    let original = from_yaml(&yaml).unwrap().pathway;
    assert_eq!(validate_pathway(&original), vec![]);
    let xml = export(&original).unwrap();
    // Onderzoek and Afronding are drawn (one way in, one way out); `los` holds an end and
    // travels as Doorloop's own property.
    assert_eq!(xml.matches("<bpmn:subProcess").count(), 2, "{xml}");
    assert!(xml.contains("isExpanded=\"true\""), "{xml}");
    assert!(xml.contains("attachedToRef=\"onderzoek\""), "{xml}");
    assert!(xml.contains("<doorloop:phase id=\"los\""), "{xml}");
    let back = import(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(back.steps, original.steps);
    let mut phases = back.phases.clone();
    phases.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = original.phases.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(phases, expected);
    assert_eq!(
        export(&back).unwrap(),
        xml,
        "BPMN → pathway → BPMN keeps every element"
    );
}

/// An activity without a flow out ends its route, as BPMN reads it (Signavio and Trisotech
/// export such routes): the importer says so, and the case ends once every route has.
#[test]
fn an_activity_without_a_flow_out_ends_its_route() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <process id="impliciet" name="Impliciet einde" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <parallelGateway id="split" />
    <sequenceFlow id="f2" sourceRef="split" targetRef="werk" />
    <sequenceFlow id="f3" sourceRef="split" targetRef="zorg" />
    <userTask id="werk" name="Werk zoeken" />
    <sequenceFlow id="f4" sourceRef="werk" targetRef="einde" />
    <userTask id="zorg" name="Zorg regelen" />
    <endEvent id="einde" name="betaald werk" />
  </process>
</definitions>"#;
    let imported = doorloop_engine::bpmn::import::import_with_notices(xml).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imported
            .notices
            .iter()
            .any(|n| n.contains("Zorg regelen") && n.contains("eindigt deze route daar")),
        "{:?}",
        imported.notices
    );
    let pv = PathwayVersion {
        version: 1,
        pathway: imported.pathway,
    };
    assert!(validate_pathway(&pv.pathway).is_empty());
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let run = |s: &CaseState, action: Action| apply(&pv, s, Command::new("anna", action), now).unwrap().state;
    let s = run(
        &CaseState::blank("c"),
        Action::StartCase {
            variables: BTreeMap::new(),
        },
    );
    let done = |task: &str| Action::CompleteTask {
        task: TaskRef(task.into()),
        data: BTreeMap::new(),
    };
    let s = run(&s, done("zorg"));
    assert_eq!(s.status, CaseStatus::Active, "the other route is still open");
    let s = run(&s, done("werk"));
    assert_eq!(s.status, CaseStatus::Ended);
    assert_eq!(s.outcome.as_deref(), Some("betaald_werk"));
}
