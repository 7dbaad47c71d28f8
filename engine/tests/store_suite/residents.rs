//! Suite tests for residents: search, the sealed BSN, who finds whom, the line across cases,
//! and the migration that gives every existing case a resident.

use super::*;
use doorloop_engine::resident::{BsnVault, ResidentInput};
use doorloop_engine::store::Viewer;
use sqlx::Connection;

fn vault() -> BsnVault {
    BsnVault::from_key(&[42; 32])
}

fn person(given: &str, family: &str, birth: Option<(i32, u32, u32)>, bsn: Option<&str>) -> ResidentInput {
    ResidentInput {
        given_name: given.into(),
        family_name: family.into(),
        birth_date: birth.and_then(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d)),
        municipality: Some("Oss".into()),
        bsn: bsn.map(|b| doorloop_engine::resident::Bsn::parse(b).unwrap()),
        ..Default::default()
    }
}

fn names(found: &[doorloop_engine::resident::Resident]) -> Vec<String> {
    found.iter().map(|r| r.display_name()).collect()
}

pub(crate) async fn residents_are_found_by_name_reference_birth_date_and_bsn(f: Fixture) {
    let engine = f.engine().await.with_vault(vault());
    let pablo = engine
        .add_resident(
            &person("Pablo", "Verhoeven", Some((1997, 3, 17)), Some("111222333")),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(pablo.reference, "DL-000001");
    assert!(pablo.has_bsn);
    let zoe = engine
        .add_resident(&person("Zoë", "van den Heuvel-Özdemir", None, None), t0())
        .await
        .unwrap();
    assert_eq!(zoe.reference, "DL-000002");
    engine
        .add_resident(&person("Paula", "Verbeek", None, None), t0())
        .await
        .unwrap();

    let find = |q: &'static str| {
        let engine = &engine;
        async move { names(&engine.find_residents(q, None).await.unwrap().1) }
    };
    assert_eq!(find("pab").await, vec!["Pablo Verhoeven"]);
    assert_eq!(
        find("VER").await,
        vec!["Paula Verbeek", "Pablo Verhoeven"],
        "by family name"
    );
    assert_eq!(find("pa ver").await, vec!["Paula Verbeek", "Pablo Verhoeven"]);
    assert_eq!(
        find("pa verh").await,
        vec!["Pablo Verhoeven"],
        "every word must match"
    );
    assert_eq!(
        find("zoe ozd").await,
        vec!["Zoë van den Heuvel-Özdemir"],
        "accents folded"
    );
    assert_eq!(find("dl-2").await, vec!["Zoë van den Heuvel-Özdemir"]);
    assert_eq!(find("17-03-1997").await, vec!["Pablo Verhoeven"]);
    assert_eq!(find("111.222.333").await, vec!["Pablo Verhoeven"]);
    assert!(find("123456782").await.is_empty(), "a valid BSN nobody has");
    assert!(find("xq").await.is_empty());
    assert!(matches!(
        engine.find_residents("111222334", None).await,
        Err(EngineError::Query(_))
    ));
}

pub(crate) async fn the_bsn_is_sealed_never_recorded_twice_and_needs_the_key(f: Fixture) {
    let engine = f.engine().await.with_vault(vault());
    let r = engine
        .add_resident(&person("Sjaak", "Dekker", None, Some("111222333")), t0())
        .await
        .unwrap();
    let stored = engine.store().resident_bsn(&r.id).await.unwrap().unwrap();
    assert!(!stored.contains("111222333"), "stored in clear: {stored}");
    assert_eq!(
        engine.resident_bsn(&r.id).await.unwrap().unwrap().expose(),
        "111222333"
    );
    let again = engine
        .add_resident(&person("Ander", "Iemand", None, Some("111 222 333")), t0())
        .await;
    match again {
        Err(EngineError::Store(StoreError::BsnExists { reference })) => assert_eq!(reference, r.reference),
        other => panic!("a second resident with the same BSN: {other:?}"),
    }
    // Without the key nothing is sealed, searched or opened.
    let keyless = f.engine().await;
    assert!(matches!(
        keyless
            .add_resident(&person("Zonder", "Sleutel", None, Some("123456782")), t0())
            .await,
        Err(EngineError::Bsn(_))
    ));
    assert!(matches!(
        keyless.find_residents("111222333", None).await,
        Err(EngineError::Bsn(_))
    ));
    // A changed name is found under the new name only; the BSN stays.
    let changed = engine
        .update_resident(&r.id, &person("Sjaak", "de Wit", None, None), "anna", t0())
        .await
        .unwrap();
    assert!(changed.has_bsn);
    assert!(engine.find_residents("dekker", None).await.unwrap().1.is_empty());
    assert_eq!(engine.find_residents("wit", None).await.unwrap().1.len(), 1);
}

pub(crate) async fn consultants_find_only_residents_of_cases_they_may_see(f: Fixture) {
    let engine = f.engine().await;
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(VZNW, t0()).await.unwrap();
    let mine = engine
        .add_resident(&person("Mijn", "Bewoner", None, None), t0())
        .await
        .unwrap();
    let other = engine
        .add_resident(&person("Mijn", "Buurman", None, None), t0())
        .await
        .unwrap();
    let fresh = engine
        .add_resident_by(&person("Mijn", "Nieuwe", None, None), "anna", t0())
        .await
        .unwrap();
    engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "anna",
            &mine.id,
            BTreeMap::new(),
            t0(),
        )
        .await
        .unwrap();
    engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "bert",
            &other.id,
            BTreeMap::new(),
            t0(),
        )
        .await
        .unwrap();
    // The first task is for ambulant begeleiders; neither anna nor carla is in that team.
    let teams: Vec<String> = vec!["wmo-consulent".into()];
    let as_anna = Viewer {
        user: Some("anna"),
        teams: &teams,
        organisation: None,
    };
    let found = engine.find_residents("mijn", Some(as_anna)).await.unwrap().1;
    assert_eq!(
        names(&found),
        vec!["Mijn Bewoner", "Mijn Nieuwe"],
        "her case, and the one she registered (no case yet)"
    );
    let as_carla = Viewer {
        user: Some("carla"),
        teams: &teams,
        organisation: None,
    };
    let found = engine.find_residents("mijn", Some(as_carla)).await.unwrap().1;
    assert!(
        found.is_empty(),
        "not a colleague's registration: {:?}",
        names(&found)
    );
    assert_eq!(
        engine.find_residents("mijn", None).await.unwrap().1.len(),
        3,
        "a manager sees all"
    );
    let _ = fresh;
    // A case cannot start for nobody.
    assert!(matches!(
        engine
            .start_case(
                "van-zorg-naar-werk",
                None,
                "anna",
                "niemand",
                BTreeMap::new(),
                t0()
            )
            .await,
        Err(EngineError::ResidentNotFound { .. })
    ));
}

pub(crate) async fn the_line_holds_every_case_of_the_resident(f: Fixture) {
    let engine = f.engine().await;
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(VZNW, t0()).await.unwrap();
    let r = engine
        .add_resident(&person("Pablo", "Verhoeven", None, None), t0())
        .await
        .unwrap();
    let first = engine
        .start_case("van-zorg-naar-werk", None, "anna", &r.id, BTreeMap::new(), t0())
        .await
        .unwrap()
        .state;
    let second = engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "bert",
            &r.id,
            BTreeMap::new(),
            t0() + Duration::days(3),
        )
        .await
        .unwrap()
        .state;
    assert_eq!(first.resident.as_deref(), Some(r.id.as_str()));
    // Replaying the events gives the resident too.
    let events: Vec<_> = engine
        .store()
        .events(&first.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(CaseState::replay(&first.id, &events).resident, first.resident);
    let line = engine.line(&r.id).await.unwrap();
    let ids: Vec<&str> = line.cases.iter().map(|(c, _)| c.id.as_str()).collect();
    assert_eq!(ids, vec![second.id.as_str(), first.id.as_str()], "newest first");
    let team: Vec<String> = line.team().into_iter().map(|(u, _)| u).collect();
    assert!(
        team.contains(&"anna".to_owned()) && team.contains(&"bert".to_owned()),
        "{team:?}"
    );
    assert_eq!(line.next().len(), 2, "the open first task of each case");
    let listed = engine.store().cases(None, &[], None, 10).await.unwrap();
    assert!(
        listed
            .iter()
            .all(|c| c.resident_id.as_deref() == Some(r.id.as_str()))
    );
}

/// Cases from before residents existed get one resident each, marked unknown, by the
/// migration; nothing else changes.
pub(crate) async fn existing_cases_get_an_unknown_resident_each(f: Fixture) {
    const CASE_ROW: &str =
        "INSERT INTO pathway_versions (key, version, name, definition, source, published_at)
         VALUES ('p', 1, 'P', '{}', '', '2026-01-01T00:00:00.000000Z')";
    let insert_case = |id: &str| {
        let state = serde_json::to_string(&CaseState::blank(id)).unwrap();
        format!(
            "INSERT INTO cases (id, pathway_key, pathway_version, status, version, prev_version, state, last_command,
                                created_at, updated_at)
             VALUES ('{id}', 'p', 1, 'active', 1, 0, '{state}', 'x', '2026-01-0{n}T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
            n = if id == "oud-1" { 1 } else { 2 }
        )
    };
    match &f.schema {
        None => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
            let mut older = sqlx::migrate::Migrator::new(dir).await.unwrap();
            older.migrations = std::borrow::Cow::Owned(
                older
                    .migrations
                    .iter()
                    .filter(|m| m.version <= 8)
                    .cloned()
                    .collect(),
            );
            let opts: sqlx::sqlite::SqliteConnectOptions = f.url.parse().unwrap();
            let mut conn = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true))
                .await
                .unwrap();
            older.run(&mut conn).await.unwrap();
            sqlx::query(CASE_ROW).execute(&mut conn).await.unwrap();
            for id in ["oud-1", "oud-2"] {
                sqlx::query(&insert_case(id)).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
        Some(schema) => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
            let mut older = sqlx::migrate::Migrator::new(dir).await.unwrap();
            older.migrations = std::borrow::Cow::Owned(
                older
                    .migrations
                    .iter()
                    .filter(|m| m.version <= 8)
                    .cloned()
                    .collect(),
            );
            let opts: sqlx::postgres::PgConnectOptions = f.url.parse().unwrap();
            let mut admin = sqlx::PgConnection::connect_with(&opts).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
            let mut conn =
                sqlx::PgConnection::connect_with(&opts.options([("search_path", schema.as_str())]))
                    .await
                    .unwrap();
            older.run(&mut conn).await.unwrap();
            sqlx::query(&CASE_ROW.replace("'{}'", "'{}'::jsonb"))
                .execute(&mut conn)
                .await
                .unwrap();
            for id in ["oud-1", "oud-2"] {
                sqlx::query(&insert_case(id).replace("}', 'x'", "}'::jsonb, 'x'"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
        }
    }
    let store = f.store().await;
    let mut seen = Vec::new();
    for id in ["oud-1", "oud-2"] {
        let state = store.load_case(id).await.unwrap().unwrap();
        let resident = state.resident.expect("a resident by migration");
        let r = store.resident(&resident).await.unwrap().unwrap();
        assert!(r.unknown, "marked as an unknown person");
        assert_eq!(r.display_name(), format!("Onbekende inwoner ({})", r.reference));
        assert_eq!(store.resident_cases(&resident).await.unwrap().len(), 1);
        seen.push(r.reference);
    }
    assert_eq!(
        seen,
        vec!["DL-000001", "DL-000002"],
        "numbered in the order the cases began"
    );
    // The figures were rebuilt from the cases: two people, each their own participant.
    let groups = store.case_groups(Some("p")).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!((groups[0].started.as_str(), groups[0].count), ("2026-01", 2));
    // New residents continue the numbering.
    let engine = Engine::new(store, Calendar::default());
    let next = engine
        .add_resident(&person("Nieuw", "Mens", None, None), t0())
        .await
        .unwrap();
    assert_eq!(next.reference, "DL-000003");
}

const WORK: &str = "key: werk\nname: Werk\nroles:\n  coach: { name: Coach }\nsteps:\n  - id: start\n    kind: start\n    next: nazorg\n  - id: nazorg\n    kind: task\n    role: coach\n    fields:\n      - { name: werk_behouden, type: boolean, required: true, label: Werk behouden }\n    rung: 5\n    next: na_nazorg\n  - id: na_nazorg\n    kind: gateway\n    branches:\n      - { when: \"werk_behouden == false\", to: terugval }\n    default: einde\n  - id: terugval\n    kind: wait\n    name: Terugval\n    role: coach\n    party: Simpel Switchen\n    expected: 3 maanden\n    start_pathway: switch\n    next: na_terugval\n  - id: na_terugval\n    kind: gateway\n    branches:\n      - { when: \"terugval_uitkomst == 'betaald_werk'\", to: nazorg }\n    default: einde_dagbesteding\n  - id: einde\n    kind: end\n    outcome: betaald_werk\n  - id: einde_dagbesteding\n    kind: end\n    outcome: dagbesteding\n";

const SWITCH: &str = "key: switch\nname: Switch\nroles:\n  coach: { name: Coach }\nsteps:\n  - id: start\n    kind: start\n    next: evaluatie\n  - id: evaluatie\n    kind: task\n    role: coach\n    fields:\n      - { name: trede, type: rung, required: true, label: Trede }\n      - { name: weer_werk, type: boolean, required: true, label: Weer werk }\n    next: na\n  - id: na\n    kind: gateway\n    branches:\n      - { when: \"weer_werk == true\", to: einde_werk }\n    default: einde_dag\n  - id: einde_werk\n    kind: end\n    outcome: betaald_werk\n  - id: einde_dag\n    kind: end\n    outcome: dagbesteding\n";

/// A fall-back starts the linked pathway for the same resident; its end resumes the
/// original case; the ladder stays one line; a crash between the steps is repaired.
pub(crate) async fn a_fall_back_starts_a_linked_case_and_its_end_resumes_the_line(f: Fixture) {
    use doorloop_engine::scheduler::Scheduler;
    let clock = Arc::new(doorloop_engine::time::clock::ManualClock::new(t0()));
    let engine = Arc::new(Engine::with_clock(
        f.store().await,
        Calendar::default(),
        clock.clone(),
    ));
    engine.publish_yaml(SWITCH, t0()).await.unwrap();
    engine.publish_yaml(WORK, t0()).await.unwrap();
    let pablo = engine
        .add_resident(&person("Pablo", "Verhoeven", None, None), t0())
        .await
        .unwrap();
    let work = engine
        .start_case_with_id(
            "werk-pablo",
            "werk",
            None,
            "anna",
            &pablo.id,
            Some(" UWV-2026/0042 "),
            BTreeMap::new(),
            t0(),
        )
        .await
        .unwrap()
        .expect("a new case")
        .state;
    assert_eq!(work.business_key.as_deref(), Some("UWV-2026/0042"), "trimmed");
    let fall_back = Command::new(
        "anna",
        Action::CompleteTask {
            task: TaskRef("nazorg".into()),
            data: data(json!({"werk_behouden": false})),
        },
    );
    let waiting = engine.execute(&work.id, fall_back, t0()).await.unwrap().state;
    let link = waiting.links.first().expect("a link").clone();
    assert_eq!(
        (link.pathway.as_str(), link.step.as_str()),
        ("switch", "terugval")
    );
    assert!(
        engine.store().load_case(&link.case).await.unwrap().is_none(),
        "started by the scheduler"
    );

    let scheduler = Scheduler::new(engine.clone(), clock.clone(), "w", Vec::new());
    assert_eq!(scheduler.tick().await.unwrap().fired, 1);
    let child = engine.load_fresh(&link.case).await.unwrap();
    assert_eq!(child.pathway_key, "switch");
    assert_eq!(
        child.resident.as_deref(),
        Some(pablo.id.as_str()),
        "the same resident"
    );
    assert_eq!(
        child.came_from.as_ref().map(|c| c.case.as_str()),
        Some(work.id.as_str())
    );
    // The called pathway answers to its caller's business key: a message by it reaches both.
    assert_eq!(child.business_key, work.business_key);
    let mut keyed = vec![work.id.clone(), child.id.clone()];
    keyed.sort();
    assert_eq!(
        engine.cases_with_business_key("UWV-2026/0042").await.unwrap(),
        keyed
    );
    assert!(
        engine
            .cases_with_business_key("UWV-2026/0043")
            .await
            .unwrap()
            .is_empty()
    );
    // Starting again (a repeated timer after a crash) changes nothing.
    engine.start_linked(&work.id, &link.case, t0()).await.unwrap();
    assert_eq!(engine.store().resident_cases(&pablo.id).await.unwrap().len(), 2);

    // The switch ends back at work: the original case resumes at nazorg.
    let back = Command::new(
        "anna",
        Action::CompleteTask {
            task: TaskRef("evaluatie".into()),
            data: data(json!({"trede": 4, "weer_werk": true})),
        },
    );
    let ended = engine
        .execute(&link.case, back, t0() + Duration::days(30))
        .await
        .unwrap()
        .state;
    assert_eq!(ended.outcome.as_deref(), Some("betaald_werk"));
    clock.set(t0() + Duration::days(30));
    assert_eq!(scheduler.tick().await.unwrap().fired, 1, "the resume timer");
    let resumed = engine.load_fresh(&work.id).await.unwrap();
    assert_eq!(resumed.variables["terugval_uitkomst"], json!("betaald_werk"));
    assert_eq!(resumed.links[0].outcome.as_deref(), Some("betaald_werk"));
    let open: Vec<&str> = resumed.tasks.values().map(|t| t.step.as_str()).collect();
    assert_eq!(open, vec!["nazorg"], "back on the original line");
    // Told twice changes nothing.
    engine
        .tell_origin(&link.case, t0() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(engine.load_fresh(&work.id).await.unwrap().seq, resumed.seq);
    assert_eq!(scheduler.tick().await.unwrap().claimed, 0, "nothing left to do");

    // One line: the ladder across both cases, oldest first.
    let line = engine.line(&pablo.id).await.unwrap();
    let rungs: Vec<u8> = line.ladder().iter().map(|p| p.rung).collect();
    assert_eq!(rungs, vec![5, 4]);
    // Replaying the events gives the same links.
    let events: Vec<_> = engine
        .store()
        .events(&work.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(CaseState::replay(&work.id, &events).links, resumed.links);
}

const PROVIDE: &str = "key: voorzien\nname: Voorzien\nroles:\n  coach: { name: Coach }\nsteps:\n  - id: start\n    kind: start\n    next: werk\n  - id: werk\n    kind: task\n    role: coach\n    fields:\n      - { name: startdatum, type: date, required: true, label: Startdatum }\n    provisions:\n      - { kind: wmo_begeleiding, status: slapend, until: 12 maanden }\n      - { kind: loonkostensubsidie, status: actief, start: startdatum, end: 2 maanden }\n    next: einde\n  - id: einde\n    kind: end\n    outcome: betaald_werk\n";

const EXPIRY: &str = include_str!("../../../workflows/voorziening-verloopt.yaml");

/// A step changes provisions (applied once, however often the timer fires); a dormant
/// indication is re-activated in one action, starting the fall-back pathway; a provision
/// about to end opens work once.
pub(crate) async fn steps_and_people_change_provisions_and_expiry_opens_work(f: Fixture) {
    use doorloop_engine::resident::provision::{ProvisionChange, ProvisionStatus};
    use doorloop_engine::scheduler::Scheduler;
    let clock = Arc::new(doorloop_engine::time::clock::ManualClock::new(t0()));
    let engine = Arc::new(Engine::with_clock(
        f.store().await,
        Calendar::default(),
        clock.clone(),
    ));
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(PROVIDE, t0()).await.unwrap();
    let r = engine
        .add_resident(&person("Pablo", "Verhoeven", None, None), t0())
        .await
        .unwrap();
    // Recorded by hand first: an active Wmo indication.
    let by_hand = ProvisionChange {
        key: "hand-1".into(),
        resident_id: r.id.clone(),
        kind: "wmo_begeleiding".into(),
        status: ProvisionStatus::Actief,
        start_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
        end_date: chrono::NaiveDate::from_ymd_opt(2027, 12, 31),
        dormant_until: None,
        decision_date: chrono::NaiveDate::from_ymd_opt(2024, 12, 15),
        decision_ref: Some("WMO-2024-118".into()),
        by: "anna".into(),
        case_id: None,
        at: t0(),
    };
    engine.record_provision(&by_hand).await.unwrap();
    let bad = ProvisionChange {
        kind: "fiets".into(),
        key: "hand-2".into(),
        ..by_hand.clone()
    };
    assert!(matches!(
        engine.record_provision(&bad).await,
        Err(EngineError::Provision(_))
    ));

    let case = engine
        .start_case("voorzien", None, "anna", &r.id, BTreeMap::new(), t0())
        .await
        .unwrap()
        .state;
    let done = Command::new(
        "anna",
        Action::CompleteTask {
            task: TaskRef("werk".into()),
            data: data(json!({"startdatum": "2026-12-01"})),
        },
    );
    engine.execute(&case.id, done, t0()).await.unwrap();
    let scheduler = Scheduler::new(engine.clone(), clock.clone(), "w", Vec::new());
    assert_eq!(scheduler.tick().await.unwrap().fired, 2, "two provision timers");
    let provisions = engine.store().provisions(&r.id).await.unwrap();
    let wmo = provisions.iter().find(|p| p.kind == "wmo_begeleiding").unwrap();
    assert_eq!(wmo.status, ProvisionStatus::Slapend);
    assert_eq!(
        wmo.start_date,
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
        "the indication's start is kept"
    );
    assert_eq!(
        wmo.dormant_until,
        chrono::NaiveDate::from_ymd_opt(2027, 11, 23),
        "twelve months from the step"
    );
    assert_eq!(wmo.decision_ref.as_deref(), Some("WMO-2024-118"));
    assert_eq!(wmo.case_id.as_deref(), Some(case.id.as_str()));
    let lks = provisions
        .iter()
        .find(|p| p.kind == "loonkostensubsidie")
        .unwrap();
    assert_eq!(
        (lks.status, lks.start_date, lks.end_date),
        (
            ProvisionStatus::Actief,
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
            chrono::NaiveDate::from_ymd_opt(2027, 2, 1)
        )
    );
    // A timer that fires again (a crash before it was marked done) applies nothing twice.
    let key = engine
        .store()
        .provision_changes(&r.id)
        .await
        .unwrap()
        .iter()
        .find(|c| c.kind == "loonkostensubsidie")
        .unwrap()
        .key
        .clone();
    engine.apply_provision_timer(&case.id, &key).await.unwrap();
    assert_eq!(engine.store().provision_changes(&r.id).await.unwrap().len(), 3);

    // Expiry: the subsidy ends 1 Feb 2027; eight weeks before, work opens — once.
    engine.publish_yaml(EXPIRY, t0()).await.unwrap();
    assert_eq!(
        engine.open_expiry_work(t0()).await.unwrap(),
        0,
        "not yet within notice"
    );
    let notice = t0() + Duration::days(20);
    let short_notice =
        Engine::new(f.store().await, Calendar::default()).with_expiry_notice(Duration::weeks(1));
    assert_eq!(
        short_notice.open_expiry_work(notice).await.unwrap(),
        0,
        "with one week's notice, ten weeks before the end is too early"
    );
    assert_eq!(engine.open_expiry_work(notice).await.unwrap(), 1);
    assert_eq!(engine.open_expiry_work(notice).await.unwrap(), 0, "once");
    let line = engine.line(&r.id).await.unwrap();
    let expiry = line
        .cases
        .iter()
        .find(|(c, _)| c.pathway_key == "voorziening-verloopt")
        .unwrap();
    let open: Vec<&str> = expiry.1.tasks.values().map(|t| t.step.as_str()).collect();
    assert_eq!(
        open,
        vec!["werk_beslissen"],
        "the klantmanager decides on a subsidy"
    );

    // A kind of the installation's own, with its own role and a longer notice.
    let own = Engine::new(f.store().await, Calendar::default()).with_provision_kinds(vec![
        doorloop_engine::resident::provision::ProvisionKind {
            key: "schuldhulp".into(),
            label: "Schuldhulpverlening".into(),
            law: "Wgs".into(),
            role: "wmo-consulent".into(),
            notice_weeks: Some(20),
        },
    ]);
    let debt = ProvisionChange {
        key: "hand-3".into(),
        kind: "schuldhulp".into(),
        start_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
        end_date: chrono::NaiveDate::from_ymd_opt(2027, 4, 1),
        decision_ref: None,
        ..by_hand.clone()
    };
    own.record_provision(&debt).await.unwrap();
    assert_eq!(
        engine.open_expiry_work(notice).await.unwrap(),
        0,
        "eight weeks: not yet"
    );
    assert_eq!(
        own.open_expiry_work(notice).await.unwrap(),
        1,
        "twenty weeks: now"
    );
    let line = own.line(&r.id).await.unwrap();
    let tasks: Vec<String> = line
        .cases
        .iter()
        .filter(|(c, _)| c.pathway_key == "voorziening-verloopt")
        .flat_map(|(_, s)| s.tasks.values().map(|t| t.step.clone()).collect::<Vec<_>>())
        .collect();
    assert!(
        tasks.contains(&"wmo_beslissen".to_owned()),
        "the kind's own role decides: {tasks:?}"
    );

    // Re-activation: one action, and the fall-back pathway starts for the same resident.
    let fall_back = engine
        .reactivate(&r.id, "wmo_begeleiding", "anna", notice)
        .await
        .unwrap();
    let wmo = engine
        .store()
        .provisions(&r.id)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.kind == "wmo_begeleiding")
        .unwrap();
    assert_eq!((wmo.status, wmo.dormant_until), (ProvisionStatus::Actief, None));
    assert_eq!(
        engine.load_fresh(&fall_back).await.unwrap().pathway_key,
        "simpel-switchen"
    );
    assert!(
        matches!(
            engine.reactivate(&r.id, "wmo_begeleiding", "anna", notice).await,
            Err(EngineError::Provision(_))
        ),
        "only a dormant provision is re-activated"
    );
}

const DATED: &str = "key: gedateerd\nname: Gedateerd\nroles:\n  r: { name: R }\nvariables:\n  - { name: geboortedatum, type: date, label: Geboortedatum }\nsteps:\n  - id: start\n    kind: start\n    next: plan18\n  - id: plan18\n    kind: task\n    role: r\n    deadline: { term: 17 jaar, from: geboortedatum }\n    fields:\n      - { name: aanvraagdatum, type: date, required: true, label: Aanvraag }\n    next: besluit\n  - id: besluit\n    kind: wait\n    role: r\n    party: Inkomen\n    expected: 8 weken\n    deadline: { term: 8 weken, atw: true, from: aanvraagdatum }\n    next: einde\n  - id: einde\n    kind: end\n    outcome: gestopt\n";

/// A deadline counts from a date on the case (a form's date, the resident's birthday),
/// and says so.
pub(crate) async fn deadlines_count_from_the_date_the_law_names(f: Fixture) {
    let engine = f.engine().await;
    engine.publish_yaml(DATED, t0()).await.unwrap();
    let young = engine
        .add_resident(&person("Sanne", "Bakker", Some((2009, 6, 15)), None), t0())
        .await
        .unwrap();
    let case = engine
        .start_case("gedateerd", None, "anna", &young.id, BTreeMap::new(), t0())
        .await
        .unwrap()
        .state;
    assert_eq!(
        case.variables["geboortedatum"],
        json!("2009-06-15"),
        "the birthday from the resident"
    );
    let due = case.tasks.values().next().unwrap().due.clone().unwrap();
    assert_eq!(
        due.at.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive(),
        chrono::NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
        "a year before the 18th birthday"
    );
    assert!(
        due.explanation[0].starts_with("Geteld vanaf ")
            && due.explanation[0].contains("(maandag 15 juni 2009)"),
        "{:?}",
        due.explanation
    );
    let applied = Command::new(
        "anna",
        Action::CompleteTask {
            task: TaskRef("plan18".into()),
            data: data(json!({"aanvraagdatum": "2026-10-01"})),
        },
    );
    let state = engine.execute(&case.id, applied, t0()).await.unwrap().state;
    let due = state.tasks.values().next().unwrap().due.clone().unwrap();
    // Eight weeks from 1 October is 26 November, although the wait opened on 23 November.
    assert_eq!(
        due.at.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    );
    assert!(
        due.explanation[0].contains("(donderdag 1 oktober 2026), niet vanaf het openen van de taak"),
        "{:?}",
        due.explanation
    );
}

/// Out of sight: no open work, nothing ended with an outcome, no event for the configured
/// period (Sjaak, who left the desk and stayed away for years).
pub(crate) async fn residents_without_work_or_contact_are_out_of_sight(f: Fixture) {
    let engine = f.engine().await;
    engine.publish_yaml(PROVIDE, t0()).await.unwrap();
    let start = |who: &'static str, at| {
        let engine = &engine;
        async move {
            let r = engine
                .add_resident(&person(who, "Test", None, None), at)
                .await
                .unwrap();
            let c = engine
                .start_case("voorzien", None, "anna", &r.id, BTreeMap::new(), at)
                .await
                .unwrap()
                .state;
            (r, c)
        }
    };
    let (sjaak, left) = start("Sjaak", t0()).await;
    let withdraw = Command::new(
        "anna",
        Action::Withdraw {
            reason: "niet meer verschenen".into(),
        },
    );
    engine.execute(&left.id, withdraw, t0()).await.unwrap();
    let (_waiting, _) = start("Wachtend", t0()).await;
    let (_done, finished) = start("Klaar", t0()).await;
    let complete = Command::new(
        "anna",
        Action::CompleteTask {
            task: TaskRef("werk".into()),
            data: data(json!({"startdatum": "2026-12-01"})),
        },
    );
    engine.execute(&finished.id, complete, t0()).await.unwrap();
    let store = engine.store();
    assert!(
        store.out_of_sight(t0(), None, 10).await.unwrap().is_empty(),
        "not before the period"
    );
    let later = t0() + Duration::weeks(13);
    let found = store
        .out_of_sight(later - Duration::weeks(12), None, 10)
        .await
        .unwrap();
    let names: Vec<String> = found.iter().map(|(r, _)| r.display_name()).collect();
    assert_eq!(
        names,
        vec![sjaak.display_name()],
        "only the one nobody works with"
    );
    assert_eq!(found[0].1, t0());
}
