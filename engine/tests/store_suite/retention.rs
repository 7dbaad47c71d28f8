//! Suite tests for retention: a case past its term goes whole, the figures stay, a resident
//! with nothing left goes too, and a legal hold stops all of it.

use super::*;
use doorloop_engine::resident::ResidentInput;
use doorloop_engine::retention::{self, Policy};

fn in_oss(family: &str) -> ResidentInput {
    ResidentInput {
        given_name: "Inwoner".into(),
        family_name: family.into(),
        municipality: Some("Oss".into()),
        ..Default::default()
    }
}

fn years(n: i64) -> Duration {
    Duration::days(365 * n + n / 4 + 1)
}

pub(crate) async fn retention_removes_what_is_past_its_term_and_keeps_the_figures(f: Fixture) {
    let engine = f.engine().await;
    let key = "van-zorg-naar-werk";
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(VZNW, t0()).await.unwrap();
    let store = engine.store();
    let policy = Policy { default_years: 10 };
    let term = retention::terms(&engine, policy)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.pathway_key == key)
        .unwrap();
    assert_eq!(
        (term.years, term.default),
        (10, false),
        "the pathway sets its own term"
    );

    let mut ids = BTreeMap::new();
    for who in ["ended", "active", "held"] {
        let r = engine.add_resident(&in_oss(who), t0()).await.unwrap();
        let case = engine
            .start_case(key, None, "anna", &r.id, BTreeMap::new(), t0())
            .await
            .unwrap()
            .state
            .id;
        ids.insert(who, (r.id, case));
    }
    let withdraw = Command::new(
        "anna",
        Action::Withdraw {
            reason: "verhuisd".into(),
        },
    );
    for who in ["ended", "held"] {
        let case = &ids[who].1;
        engine
            .execute(
                case,
                complete("signaal", json!({"motivatie": "x", "trede": 2})),
                t0() + Duration::days(1),
            )
            .await
            .unwrap();
        engine
            .execute(case, withdraw.clone(), t0() + Duration::days(2))
            .await
            .unwrap();
    }
    let held = &ids["held"].0;
    assert!(
        retention::hold(&engine, held, "bezwaarprocedure", "pia", t0())
            .await
            .unwrap()
    );
    assert!(
        !retention::hold(&engine, held, "nog eens", "pia", t0())
            .await
            .unwrap(),
        "one hold at a time"
    );
    let figures = || async {
        let mut groups = store.case_groups(Some(key)).await.unwrap();
        groups.sort_by_key(|g| (g.started.clone(), g.status.clone(), g.rung_first, g.count));
        let funnel = store.funnel(key, "2026-01", "2026-12").await.unwrap();
        let times = store.step_times(key, None, "2026-01", "2026-12").await.unwrap();
        (format!("{groups:?}"), format!("{funnel:?}"), format!("{times:?}"))
    };
    let before = figures().await;
    assert!(before.0.contains("withdrawn"), "{before:?}");

    // Within the term nothing goes.
    let report = retention::run(&engine, policy, t0() + years(9), "systeem", false)
        .await
        .unwrap();
    assert_eq!(report.case_count(), 0);
    assert_eq!(report.residents, 0);

    // Past it: the dry run counts, the run removes — the held resident's case stays.
    let later = t0() + years(11);
    let dry = retention::run(&engine, policy, later, "systeem", true)
        .await
        .unwrap();
    assert_eq!(dry.cases, vec![(key.to_owned(), 1)]);
    assert!(
        store.load_case(&ids["ended"].1).await.unwrap().is_some(),
        "a dry run removes nothing"
    );
    let report = retention::run(&engine, policy, later, "systeem", false)
        .await
        .unwrap();
    assert_eq!(report.cases, vec![(key.to_owned(), 1)]);
    assert!(report.events >= 3 && report.tasks >= 1, "{report:?}");
    assert_eq!(report.residents, 1, "the resident with nothing left goes too");

    let (gone_resident, gone_case) = &ids["ended"];
    assert!(store.load_case(gone_case).await.unwrap().is_none());
    assert!(store.events(gone_case).await.unwrap().is_empty());
    assert!(store.case_parties(gone_case).await.unwrap().is_empty());
    assert!(matches!(
        engine.resident(gone_resident).await,
        Err(EngineError::ResidentNotFound { .. })
    ));
    for who in ["active", "held"] {
        let (r, c) = &ids[who];
        assert!(engine.resident(r).await.is_ok(), "{who} stays");
        assert!(store.load_case(c).await.unwrap().is_some(), "{who}'s case stays");
        assert!(!store.events(c).await.unwrap().is_empty());
    }
    assert_eq!(figures().await, before, "the figures do not change");

    // Running again finds nothing; the log says what happened, with ids only.
    let again = retention::run(&engine, policy, later, "systeem", false)
        .await
        .unwrap();
    assert_eq!((again.case_count(), again.residents), (0, 0));
    let log = store.retention_log(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["inwoner-verwijderd", "zaak-verwijderd", "bewaarplicht-aan"]
    );
    let removal = &log[1];
    assert_eq!(removal.case_id.as_deref(), Some(gone_case.as_str()));
    assert_eq!(removal.term_years, Some(10));
    assert_eq!(removal.ended_at, Some(t0() + Duration::days(2)));
    assert!(log.iter().all(|e| e.detail.is_none()), "no values in the log");

    // Released, the held resident's case goes at the next run.
    assert!(retention::release(&engine, held, "pia", later).await.unwrap());
    assert!(!retention::release(&engine, held, "pia", later).await.unwrap());
    let report = retention::run(&engine, policy, later, "systeem", false)
        .await
        .unwrap();
    assert_eq!((report.case_count(), report.residents), (1, 1));
    assert!(store.load_case(&ids["held"].1).await.unwrap().is_none());
    assert_eq!(figures().await, before, "the figures still do not change");
    // The active case and its resident are untouched by any of it.
    assert!(store.load_case(&ids["active"].1).await.unwrap().is_some());
}
