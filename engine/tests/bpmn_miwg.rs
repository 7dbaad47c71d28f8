//! The OMG BPMN Model Interchange Working Group's test files (`tests/bpmn-miwg/`, CC BY 3.0):
//! every reference model and every tool's export of it is imported. No file may crash the
//! importer; one that is read but does not validate counts as "problems" (it would be a
//! draft the editor shows with its problems); the number of reference models that import
//! as valid pathways may only grow. The table printed (`cargo test --test bpmn_miwg -- --nocapture`)
//! is the one in the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use doorloop_engine::bpmn::import::{ImportError, import_with_notices};
use doorloop_engine::pathway::validate::validate_pathway;

/// Reference models that import today; raise it as the importer learns more.
const REFERENCE_IMPORTED_AT_LEAST: usize = 17;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Result {
    Imported,
    Refused(String),
    Invalid(String),
    Crashed,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bpmn-miwg")
}

fn run(path: &Path) -> Result {
    let xml = match std::fs::read_to_string(path) {
        Ok(x) => x,
        Err(e) => return Result::Refused(format!("unreadable: {e}")),
    };
    match std::panic::catch_unwind(|| import_with_notices(&xml)) {
        Err(_) => Result::Crashed,
        Ok(Ok(imported)) => {
            let problems = validate_pathway(&imported.pathway);
            if problems.is_empty() {
                Result::Imported
            } else {
                Result::Invalid(format!("{problems:?}"))
            }
        }
        Ok(Err(e)) => Result::Refused(match e {
            ImportError::Unsupported(list) => {
                let mut kinds: Vec<String> = list.iter().map(|u| u.element.clone()).collect();
                kinds.sort();
                kinds.dedup();
                kinds.join(", ")
            }
            other => doorloop_engine::text::problems::bpmn(&other).join(" "),
        }),
    }
}

#[test]
fn every_miwg_file_imports_or_is_refused_with_its_reasons() {
    let mut results: BTreeMap<(String, String), Result> = BTreeMap::new();
    let mut tools: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("tests/bpmn-miwg") {
        let tool_dir = entry.expect("entry").path();
        if !tool_dir.is_dir() {
            continue;
        }
        let tool = tool_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        tools.push(tool.clone());
        for file in std::fs::read_dir(&tool_dir).expect("tool dir") {
            let path = file.expect("file").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let Some(model) = name.strip_suffix(".bpmn") else {
                continue;
            };
            let model = model
                .trim_end_matches("-export")
                .trim_end_matches("-roundtrip")
                .to_owned();
            results.insert((model, tool.clone()), run(&path));
        }
    }
    tools.sort();
    tools.retain(|t| t != "reference");
    tools.insert(0, "reference".into());

    let models: std::collections::BTreeSet<&String> = results.keys().map(|(m, _)| m).collect();
    let mark = |r: Option<&Result>| match r {
        None => "",
        Some(Result::Imported) => "imported",
        Some(Result::Refused(_)) => "refused",
        Some(Result::Invalid(_)) => "problems",
        Some(Result::Crashed) => "CRASHED",
    };
    println!("| model | {} |", tools.join(" | "));
    println!("| --- |{}", " --- |".repeat(tools.len()));
    for m in &models {
        let row: Vec<&str> = tools
            .iter()
            .map(|t| mark(results.get(&((*m).clone(), t.clone()))))
            .collect();
        println!("| {m} | {} |", row.join(" | "));
    }
    println!();
    for ((m, t), r) in &results {
        if let Result::Refused(why) = r {
            println!("{m} ({t}): {why}");
        }
    }

    let crashed: Vec<_> = results
        .iter()
        .filter(|(_, r)| **r == Result::Crashed)
        .map(|(k, _)| k)
        .collect();
    assert!(crashed.is_empty(), "the importer crashed on {crashed:?}");
    let invalid: Vec<_> = results
        .iter()
        .filter_map(|(k, r)| match r {
            Result::Invalid(p) => Some((k, p)),
            _ => None,
        })
        .collect();
    // Read, but the pathway has problems (shown in the editor as a draft, not publishable).
    for (k, p) in &invalid {
        println!("{k:?}: read, with problems: {p}");
    }
    let reference = results
        .iter()
        .filter(|((_, t), r)| t == "reference" && **r == Result::Imported)
        .count();
    println!("\nreference models imported: {reference} of {}", models.len());
    assert!(
        reference >= REFERENCE_IMPORTED_AT_LEAST,
        "only {reference} reference models import (at least {REFERENCE_IMPORTED_AT_LEAST} did)"
    );
}

fn reference(model: &str) -> doorloop_engine::bpmn::import::Imported {
    let xml = std::fs::read_to_string(dir().join("reference").join(format!("{model}.bpmn"))).expect("model");
    import_with_notices(&xml).unwrap_or_else(|e| panic!("{model}: {e}"))
}

#[test]
fn phases_errors_and_decisions_of_the_reference_models_become_steps() {
    use doorloop_engine::pathway::model::StepKind;
    // C.2.0: the Checkout sub-process runs inline as a phase; the error its end throws
    // goes where the phase's error boundary leads; decisions without conditions are asked
    // of the task before them (through a gateway: asked, not required).
    let c2 = reference("C.2.0");
    let p = &c2.pathway;
    assert!(
        p.steps
            .iter()
            .all(|s| s.id != "__5ffa1675-9ad7-46f8-b19a-85cd5878496f"),
        "no step for the phase itself"
    );
    let pay = p.steps.iter().find(|s| s.name == "Pay Order").expect("Pay Order");
    let field = |name: &str| {
        pay.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", pay.fields))
    };
    assert!(field("keuze_payment_accepted").required);
    assert!(!field("keuze_retry").required);
    let retry = p
        .steps
        .iter()
        .find(|s| s.name.starts_with("Retry"))
        .expect("Retry?");
    let no = retry
        .branches
        .iter()
        .find(|b| b.label.as_deref() == Some("No"))
        .expect("No");
    // The phase's error end is no step; its route is the boundary's (to the end after it).
    assert!(
        p.steps
            .iter()
            .all(|s| s.id != "_7ea6639e-e773-4236-94bf-78f149188c30")
    );
    assert_eq!(no.to, "__8f9632f2-9fdb-4e3c-8b10-6a05091de766");
    assert!(
        c2.notices.iter().any(|n| n.contains("als fase ingelezen")),
        "{:?}",
        c2.notices
    );

    // C.8.0: a service task with an error boundary becomes work whose outcome someone states.
    let c8 = reference("C.8.0");
    let fetch = c8
        .pathway
        .steps
        .iter()
        .find(|s| s.name == "Fetch Vacation Information")
        .expect("task");
    assert_eq!(fetch.kind, StepKind::Task);
    let afloop = fetch
        .fields
        .iter()
        .find(|f| f.name.starts_with("afloop_"))
        .expect("afloop");
    assert_eq!(afloop.options[0], "gelukt");
    // Its FEEL conditions (`Vacation Approval = "Approved"`) read a choice of the task before.
    assert!(
        c8.pathway
            .steps
            .iter()
            .any(|s| s.fields.iter().any(|f| f.name == "Vacation_Approval")),
        "{:#?}",
        c8.pathway.steps
    );
}

#[test]
fn an_event_based_gateway_races_the_message_against_its_timer() {
    use doorloop_engine::pathway::model::StepKind;
    // C.1.0: "Invoice review needed" or, after 7 days (a timer named by its term), onwards.
    let c1 = reference("C.1.0");
    let wait = c1
        .pathway
        .steps
        .iter()
        .find(|s| s.name.starts_with("Invoice review"))
        .expect("the awaited message");
    assert_eq!(wait.kind, StepKind::Wait);
    assert_eq!(
        wait.deadline.as_ref().map(|d| d.term().to_string()),
        Some("7 dagen".to_owned())
    );
    assert!(wait.on_deadline.is_some(), "{wait:?}");
    assert!(
        c1.notices
            .iter()
            .any(|n| n.contains("wacht op wat het eerst komt")),
        "{:?}",
        c1.notices
    );
}

/// Every reference model that imports runs to an end: driven as consultants would (the
/// seeded driver of `doorloop bench` and the demo), on the pure runtime, 30 cases each with
/// different answers. Called processes of the same file import as pathways of their own.
#[test]
fn every_imported_reference_model_runs_to_an_end() {
    use doorloop_engine::demo::sim::{Driver, next_command};
    use doorloop_engine::pathway::model::PathwayVersion;
    use doorloop_engine::runtime::{Action, CaseState, CaseStatus, Command, apply};
    use rand::SeedableRng;
    let mut ran = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir().join("reference"))
        .expect("reference models")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn"))
        .collect();
    entries.sort();
    for path in entries {
        let model = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let xml = std::fs::read_to_string(&path).expect("readable");
        let Ok(all) = doorloop_engine::bpmn::import::import_all(&xml) else {
            continue;
        };
        if all.iter().any(|i| !validate_pathway(&i.pathway).is_empty()) {
            continue;
        }
        let main = all.last().expect("the main pathway").pathway.clone();
        let pv = PathwayVersion {
            version: 1,
            pathway: main,
        };
        let driver = Driver {
            optional: 1.0,
            ..Driver::default()
        };
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .expect("time")
            .to_utc();
        for seed in 0..30u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let start = Command::new(
                "anna",
                Action::StartCase {
                    variables: BTreeMap::new(),
                },
            );
            let mut state = apply(&pv, &CaseState::blank("c"), start, t0)
                .unwrap_or_else(|e| panic!("{model}: start: {e}"))
                .state;
            let mut t = t0;
            for _ in 0..200 {
                t += chrono::Duration::hours(30);
                let Some((command, at)) = next_command(&driver, &pv, &state, &mut rng, t, "anna") else {
                    break;
                };
                t = at;
                state = apply(&pv, &state, command, at)
                    .unwrap_or_else(|e| panic!("{model} (seed {seed}): {e}"))
                    .state;
            }
            assert_eq!(
                state.status,
                CaseStatus::Ended,
                "{model} (seed {seed}) did not end: {state:?}"
            );
        }
        ran.push(model);
    }
    println!(
        "ran to an end: {} reference models: {}",
        ran.len(),
        ran.join(", ")
    );
    assert!(
        ran.len() >= REFERENCE_IMPORTED_AT_LEAST,
        "only {} reference models ran to an end: {ran:?}",
        ran.len()
    );
}
