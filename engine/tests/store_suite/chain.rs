//! Suite tests for the chain: which organisation sees which case, in every list, and what
//! recording and withdrawing a ground does.

use super::*;
use doorloop_engine::chain::{CaseParty, Ground};
use doorloop_engine::resident::ResidentInput;
use doorloop_engine::store::{OrgFilter, Viewer};

fn living_in(family: &str, municipality: Option<&str>) -> ResidentInput {
    ResidentInput {
        given_name: "Inwoner".into(),
        family_name: family.into(),
        municipality: municipality.map(str::to_owned),
        ..Default::default()
    }
}

fn org(id: &str, municipality: bool) -> OrgFilter {
    OrgFilter {
        organisation: id.into(),
        municipality,
    }
}

fn consent(case: &str, organisation: &str) -> CaseParty {
    CaseParty {
        id: format!("p-{case}-{organisation}"),
        case_id: case.into(),
        organisation: organisation.into(),
        ground: Ground::Toestemming,
        purpose: "Ambulante begeleiding naar werk".into(),
        reference: Some("TF-2026-0012".into()),
        since: t0(),
        recorded_by: "anna".into(),
        withdrawn_at: None,
        withdrawn_by: None,
        withdrawn_reason: None,
    }
}

pub(crate) async fn the_chain_decides_which_cases_an_organisation_sees(f: Fixture) {
    let engine = f.engine().await;
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(VZNW, t0()).await.unwrap();
    let mut cases = BTreeMap::new();
    for (who, municipality) in [("Oss", Some("Oss")), ("Uden", Some("Uden")), ("Onbekend", None)] {
        let r = engine
            .add_resident(&living_in(who, municipality), t0())
            .await
            .unwrap();
        let case = engine
            .start_case("van-zorg-naar-werk", None, "anna", &r.id, BTreeMap::new(), t0())
            .await
            .unwrap()
            .state
            .id;
        cases.insert(who, case);
    }
    // A municipality that is not recorded as one is refused, naming the known ones.
    let wrong = engine.add_resident(&living_in("X", Some("Osss")), t0()).await;
    match wrong {
        Err(EngineError::ResidentInvalid(p)) => {
            assert_eq!(p.field, "municipality");
            assert!(
                p.message.contains("‘Osss’") && p.message.contains("Oss, "),
                "{}",
                p.message
            );
        }
        other => panic!("{other:?}"),
    }
    // The first task of each case is for ambulant begeleiders.
    let team = vec!["ambulant-begeleider".to_owned()];
    let work = |o: Option<OrgFilter>| {
        let engine = &engine;
        let team = team.clone();
        async move {
            let mut ids: Vec<String> = engine
                .store()
                .work_list(&WorkFilter {
                    user: "gijs".into(),
                    teams: team,
                    organisation: o,
                    limit: 50,
                    ..WorkFilter::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.case_id)
                .collect();
            ids.sort();
            ids
        }
    };
    let listed = |o: Option<OrgFilter>| {
        let engine = &engine;
        let team = team.clone();
        async move {
            let mut ids: Vec<String> = engine
                .store()
                .cases(Some("gijs"), &team, o.as_ref(), 50)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    // Oss sees its resident and the one whose municipality is not recorded; Uden its own.
    let oss = sorted(vec![&cases["Oss"], &cases["Onbekend"]]);
    assert_eq!(work(Some(org("Oss", true))).await, oss);
    assert_eq!(listed(Some(org("Oss", true))).await, oss);
    assert_eq!(
        work(Some(org("Uden", true))).await,
        sorted(vec![&cases["Uden"], &cases["Onbekend"]])
    );
    // A care provider sees nothing until a ground is recorded for it.
    assert!(work(Some(org("de-linde", false))).await.is_empty());
    assert!(listed(Some(org("de-linde", false))).await.is_empty());
    assert!(
        engine
            .store()
            .record_party(&consent(&cases["Oss"], "de-linde"))
            .await
            .unwrap()
    );
    assert!(
        !engine
            .store()
            .record_party(&consent(&cases["Oss"], "de-linde"))
            .await
            .unwrap(),
        "one active ground per organisation and case"
    );
    assert_eq!(
        work(Some(org("de-linde", false))).await,
        vec![cases["Oss"].clone()]
    );
    assert_eq!(
        listed(Some(org("de-linde", false))).await,
        vec![cases["Oss"].clone()]
    );
    assert!(
        work(Some(org("maasland", false))).await.is_empty(),
        "the other provider"
    );
    // The region is not narrowed.
    assert_eq!(work(None).await.len(), 3);

    // Residents found: by municipality, or through a case with a ground.
    let find = |o: OrgFilter| {
        let engine = &engine;
        async move {
            let viewer = Viewer {
                user: None,
                teams: &[],
                organisation: Some(&o),
            };
            let (_, found) = engine.find_residents("inwoner", Some(viewer)).await.unwrap();
            let mut names: Vec<String> = found.into_iter().map(|r| r.family_name).collect();
            names.sort();
            names
        }
    };
    assert_eq!(find(org("Oss", true)).await, vec!["Onbekend", "Oss"]);
    assert_eq!(find(org("Uden", true)).await, vec!["Onbekend", "Uden"]);
    assert_eq!(find(org("de-linde", false)).await, vec!["Oss"]);
    assert!(find(org("maasland", false)).await.is_empty());

    // Withdrawn: gone from every list at once; the history keeps the row.
    let later = t0() + Duration::days(30);
    assert!(
        engine
            .store()
            .withdraw_party(
                &cases["Oss"],
                "de-linde",
                "anna",
                Some("inwoner trekt toestemming in"),
                later
            )
            .await
            .unwrap()
    );
    assert!(
        !engine
            .store()
            .withdraw_party(&cases["Oss"], "de-linde", "anna", None, later)
            .await
            .unwrap(),
        "nothing left to withdraw"
    );
    assert!(work(Some(org("de-linde", false))).await.is_empty());
    assert!(listed(Some(org("de-linde", false))).await.is_empty());
    assert!(find(org("de-linde", false)).await.is_empty());
    let history = engine.store().case_parties(&cases["Oss"]).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].withdrawn_at, Some(later));
    assert_eq!(history[0].withdrawn_by.as_deref(), Some("anna"));
    assert_eq!(history[0].reference.as_deref(), Some("TF-2026-0012"));
    // Given again later: a new row beside the old one.
    let mut again = consent(&cases["Oss"], "de-linde");
    again.id = "p-again".into();
    again.since = later + Duration::days(1);
    assert!(engine.store().record_party(&again).await.unwrap());
    assert_eq!(engine.store().case_parties(&cases["Oss"]).await.unwrap().len(), 2);
    assert_eq!(
        work(Some(org("de-linde", false))).await,
        vec![cases["Oss"].clone()]
    );

    // Out of sight (withdrawn, no open work, quiet for long): each municipality's own only.
    let withdraw = Command::new(
        "anna",
        Action::Withdraw {
            reason: "verhuisd".into(),
        },
    );
    engine.execute(&cases["Uden"], withdraw, t0()).await.unwrap();
    let quiet = |o: Option<OrgFilter>| {
        let engine = &engine;
        async move {
            engine
                .store()
                .out_of_sight(t0() + Duration::days(365), o.as_ref(), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|(r, _)| r.family_name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(quiet(None).await, vec!["Uden"]);
    assert_eq!(quiet(Some(org("Uden", true))).await, vec!["Uden"]);
    assert!(quiet(Some(org("Oss", true))).await.is_empty());
    assert!(quiet(Some(org("de-linde", false))).await.is_empty());

    // Organisations: listed by kind and name; a key is taken once.
    let orgs = engine.store().organisations().await.unwrap();
    assert!(orgs.iter().any(|o| o.id == "de-linde"));
    assert!(matches!(
        engine.store().add_organisation(&orgs[0]).await,
        Err(StoreError::OrganisationExists { .. })
    ));
    assert_eq!(
        engine.store().organisation("Uden").await.unwrap().map(|o| o.kind),
        Some(doorloop_engine::chain::OrganisationKind::Gemeente)
    );
}
