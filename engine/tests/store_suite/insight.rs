//! Suite tests for migrations between versions, the managers' figures and drafts.

use super::*;
use doorloop_engine::runtime::{StepMapping, TaskFate};
use doorloop_engine::store::{StallSummary, StepTime};

fn v2_source() -> String {
    VZNW.replace("id: signaal", "id: aanmelding")
        .replace("next: signaal", "next: aanmelding")
        .replace(
            "deadline: 5 werkdagen\n    fields:\n      - { name: motivatie",
            "deadline: 10 werkdagen\n    fields:\n      - { name: motivatie",
        )
}

pub(crate) async fn a_case_migrates_to_the_next_version_in_one_durable_step(f: Fixture) {
    let engine = f.engine().await;
    let moved = started(&engine).await;
    let stays = engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "anna",
            &anon_resident(&engine).await,
            BTreeMap::new(),
            t0(),
        )
        .await
        .unwrap()
        .state
        .id;
    let v2 = engine.publish_yaml(&v2_source(), t0()).await.unwrap();
    assert_eq!(v2.version, 2);
    let store = engine.store();
    assert_eq!(
        store.pathway_source("van-zorg-naar-werk", 2).await.unwrap(),
        Some(v2_source()),
        "the coordinator's own text, comments and all"
    );
    assert_eq!(store.pathway_source("van-zorg-naar-werk", 3).await.unwrap(), None);
    assert_eq!(
        store
            .active_cases_on("van-zorg-naar-werk", 1, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let mapping: StepMapping = [("signaal".to_owned(), "aanmelding".to_owned())].into();
    let now = t0() + Duration::days(1);
    // A dry run decides but writes nothing.
    let dry = engine
        .migrate_case(&moved, 2, &mapping, "coo", now, false)
        .await
        .unwrap();
    assert_eq!(dry.tasks.len(), 1);
    assert_eq!(dry.tasks[0].fate, TaskFate::Kept);
    assert!(
        dry.tasks[0].due_after > dry.tasks[0].due_before,
        "10 instead of 5 working days"
    );
    let stored = store.load_case(&moved).await.unwrap().unwrap();
    assert_eq!(stored.pathway_version, 1);
    // Applying it.
    let done = engine
        .migrate_case(&moved, 2, &mapping, "coo", now, true)
        .await
        .unwrap();
    assert_eq!(done.tasks, dry.tasks);
    let stored = store.load_case(&moved).await.unwrap().unwrap();
    assert_eq!(stored.pathway_version, 2);
    assert_eq!(stored.tasks.values().next().unwrap().step, "aanmelding");
    let events = store.events(&moved).await.unwrap();
    assert_eq!(count(&events, "case_migrated"), 1);
    assert_eq!(events.last().unwrap().event.actor, "coo");
    let pending = store.pending_timers(&moved).await.unwrap();
    let task = &stored.tasks.values().next().unwrap().id;
    let ladder = |revision: u32| {
        let (d, e) = (
            format!("deadline:{moved}:{task}:{revision}"),
            format!("escalation:{moved}:{task}:{revision}:"),
        );
        pending.iter().any(|(k, _, _)| k == &d || k.starts_with(&e))
    };
    assert!(ladder(2), "the new clock's ladder is armed: {pending:?}");
    assert!(!ladder(1), "the old one is cancelled: {pending:?}");
    // Task lists, version counts and open work follow.
    let tasks = store.open_tasks(&TaskFilter::default()).await.unwrap();
    let t = tasks.iter().find(|t| t.case_id == moved).unwrap();
    assert_eq!((t.step.as_str(), t.pathway_version), ("aanmelding", 2));
    let list = store.pathways().await.unwrap();
    let cases: Vec<(u32, i64)> = list.iter().map(|p| (p.version, p.cases)).collect();
    assert!(cases.contains(&(1, 1)) && cases.contains(&(2, 1)), "{cases:?}");
    assert_eq!(
        store.open_work_by_step("van-zorg-naar-werk", 2).await.unwrap(),
        vec![("aanmelding".to_owned(), 1)]
    );
    assert_eq!(
        store.open_work_by_step("van-zorg-naar-werk", 1).await.unwrap(),
        vec![("signaal".to_owned(), 1)]
    );
    // The migrated case goes on under version 2; the other stays on version 1.
    let out = engine
        .execute(
            &moved,
            complete("aanmelding", json!({"motivatie": "wil werken", "trede": 2})),
            now,
        )
        .await
        .unwrap();
    assert!(out.state.tasks.values().any(|t| t.step == "intake"));
    assert_eq!(store.load_case(&stays).await.unwrap().unwrap().pathway_version, 1);
    // A second migration to the same version is refused and changes nothing.
    let again = engine.migrate_case(&moved, 2, &mapping, "coo", now, true).await;
    assert!(again.is_err());
    assert_eq!(count(&store.events(&moved).await.unwrap(), "case_migrated"), 1);
}

/// A resident who starts on a pathway again is one participant: in the cohort of their first
/// start, with the first rung measured on the pathway and their latest case's status and rung.
pub(crate) async fn figures_count_residents_not_cases(f: Fixture) {
    let engine = f.engine().await;
    let key = "van-zorg-naar-werk";
    engine.publish_yaml(SWITCH_YAML, t0()).await.unwrap();
    engine.publish_yaml(VZNW, t0()).await.unwrap();
    let store = engine.store();
    let pablo = anon_resident(&engine).await;
    let other = anon_resident(&engine).await;
    let start = |resident: String, at| {
        let engine = &engine;
        async move {
            engine
                .start_case(key, None, "anna", &resident, BTreeMap::new(), at)
                .await
                .unwrap()
                .state
                .id
        }
    };
    let signal = |trede: u8| complete("signaal", json!({"motivatie": "x", "trede": trede}));
    let first = start(pablo.clone(), t0()).await;
    start(other.clone(), t0()).await;
    engine
        .execute(&first, signal(2), t0() + Duration::days(1))
        .await
        .unwrap();
    let withdraw = Command::new(
        "anna",
        Action::Withdraw {
            reason: "verhuisd".into(),
        },
    );
    engine
        .execute(&first, withdraw.clone(), t0() + Duration::days(2))
        .await
        .unwrap();
    type Shape = (String, String, Option<u8>, Option<u8>, Option<String>, i64);
    let shape = || async {
        let mut groups = store.case_groups(Some(key)).await.unwrap();
        groups.sort_by_key(|g| (g.status.clone(), g.rung_first));
        groups
            .into_iter()
            .map(|g| (g.started, g.status, g.rung_first, g.rung_last, g.ended, g.count))
            .collect::<Vec<Shape>>()
    };
    let m = |s: &str| s.to_owned();
    assert_eq!(
        shape().await,
        vec![
            (m("2026-11"), m("active"), None, None, None, 1),
            (
                m("2026-11"),
                m("withdrawn"),
                Some(2),
                Some(2),
                Some(m("2026-11")),
                1
            ),
        ]
    );
    // Pablo comes back a month later: still one participant, of November, now running again.
    let second = start(pablo.clone(), t0() + Duration::days(30)).await;
    assert_eq!(
        shape().await,
        vec![
            (m("2026-11"), m("active"), None, None, None, 1),
            (m("2026-11"), m("active"), Some(2), Some(2), None, 1),
        ]
    );
    engine
        .execute(&second, signal(4), t0() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(
        shape().await,
        vec![
            (m("2026-11"), m("active"), None, None, None, 1),
            (m("2026-11"), m("active"), Some(2), Some(4), None, 1),
        ],
        "the first rung of his first case, the latest of his second"
    );
    engine
        .execute(&second, withdraw, t0() + Duration::days(40))
        .await
        .unwrap();
    assert_eq!(
        shape().await,
        vec![
            (m("2026-11"), m("active"), None, None, None, 1),
            (
                m("2026-11"),
                m("withdrawn"),
                Some(2),
                Some(4),
                Some(m("2027-01")),
                1
            ),
        ]
    );
    // The funnel counts people too: two reached the signal, in November, and Pablo the intake
    // (in both his cases) once; nobody joined the December cohort.
    let funnel: Vec<(String, String, i64)> = store
        .funnel(key, "2026-11", "2027-01")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.cohort, c.step, c.cases))
        .collect();
    assert_eq!(
        funnel,
        vec![(m("2026-11"), m("intake"), 1), (m("2026-11"), m("signaal"), 2)]
    );
}

pub(crate) async fn figures_follow_the_cases(f: Fixture) {
    let engine = f.engine().await;
    let key = "van-zorg-naar-werk";
    let a = started(&engine).await;
    let mut ids = vec![a.clone()];
    for _ in 0..2 {
        ids.push(
            engine
                .start_case(
                    key,
                    None,
                    "anna",
                    &anon_resident(&engine).await,
                    BTreeMap::new(),
                    t0(),
                )
                .await
                .unwrap()
                .state
                .id,
        );
    }
    let (b, c) = (ids[1].clone(), ids[2].clone());
    let signal = |trede: u8| complete("signaal", json!({"motivatie": "x", "trede": trede}));
    engine
        .execute(&a, signal(2), t0() + Duration::days(2))
        .await
        .unwrap();
    engine
        .execute(&b, signal(3), t0() + Duration::days(10) + Duration::hours(5))
        .await
        .unwrap();
    let withdraw = Command::new(
        "anna",
        Action::Withdraw {
            reason: "verhuisd".into(),
        },
    );
    engine
        .execute(&c, withdraw, t0() + Duration::hours(30))
        .await
        .unwrap();
    let store = engine.store();
    // Time spent: whole days from two days up, whole hours below.
    let times = store
        .step_times(key, Some(1), "2026-11", "2026-12")
        .await
        .unwrap();
    let signaal: Vec<&StepTime> = times.iter().filter(|t| t.step == "signaal").collect();
    assert_eq!(
        signaal.iter().map(|t| (t.hours, t.count)).collect::<Vec<_>>(),
        vec![(30, 1), (48, 1), (240, 1)],
        "{times:?}"
    );
    assert!(
        store
            .step_times(key, Some(1), "2027-01", "2027-12")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.step_times(key, None, "2026-11", "2026-12").await.unwrap(),
        times,
        "all versions"
    );
    let mut open = store.open_work_by_step(key, 1).await.unwrap();
    open.sort();
    assert_eq!(open, vec![("intake".to_owned(), 2)]);
    // Cases by start, status and ladder.
    let mut groups = store.case_groups(Some(key)).await.unwrap();
    groups.sort_by_key(|g| (g.status.clone(), g.rung_first));
    type Shape<'a> = (&'a str, Option<u8>, Option<u8>, Option<&'a str>, i64);
    let shape: Vec<Shape> = groups
        .iter()
        .map(|g| {
            (
                g.status.as_str(),
                g.rung_first,
                g.rung_last,
                g.ended.as_deref(),
                g.count,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("active", Some(2), Some(2), None, 1),
            ("active", Some(3), Some(3), None, 1),
            ("withdrawn", None, None, Some("2026-11"), 1)
        ]
    );
    assert!(
        groups
            .iter()
            .all(|g| g.started == "2026-11" && g.outcome.is_none())
    );
    assert!(
        store
            .case_groups(Some("simpel-switchen"))
            .await
            .unwrap()
            .is_empty()
    );
    // The funnel: all three reached the signal, two the intake.
    let mut funnel: Vec<(String, String, i64)> = store
        .funnel(key, "2026-11", "2026-11")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.cohort, c.step, c.cases))
        .collect();
    funnel.sort();
    assert_eq!(
        funnel,
        vec![
            ("2026-11".to_owned(), "intake".to_owned(), 2),
            ("2026-11".to_owned(), "signaal".to_owned(), 3)
        ]
    );
    assert!(store.funnel(key, "2026-12", "2027-01").await.unwrap().is_empty());
    // A stall raised by its timer shows with its group and start.
    let state = store.load_case(&a).await.unwrap().unwrap();
    let intake = state.tasks.values().next().unwrap();
    let stall_key = intake
        .timers
        .iter()
        .find(|k| k.starts_with("stall:"))
        .unwrap()
        .clone();
    engine
        .execute(
            &a,
            Command::new("system", Action::TimerFired { key: stall_key }),
            t0() + Duration::weeks(5),
        )
        .await
        .unwrap();
    let one = StallSummary {
        reason: "intern".to_owned(),
        party: None,
        count: 1,
        oldest_since: intake.opened_at,
        median_since: intake.opened_at,
    };
    let summary = store.stall_summary(None, None).await.unwrap();
    assert_eq!(
        (summary.by_reason, summary.by_party),
        (vec![one.clone()], vec![one])
    );
    let none = store.stall_summary(Some("simpel-switchen"), None).await.unwrap();
    assert!(none.by_reason.is_empty() && none.by_party.is_empty());
    // A second stall: the median is the more recent start of the two (nearest rank), the
    // oldest the first.
    let state = store.load_case(&b).await.unwrap().unwrap();
    let intake_b = state.tasks.values().next().unwrap().clone();
    let stall_b = intake_b
        .timers
        .iter()
        .find(|k| k.starts_with("stall:"))
        .unwrap()
        .clone();
    engine
        .execute(
            &b,
            Command::new("system", Action::TimerFired { key: stall_b }),
            t0() + Duration::weeks(6),
        )
        .await
        .unwrap();
    let two = store.stall_summary(None, None).await.unwrap().by_reason;
    assert_eq!(two.len(), 1);
    assert_eq!(two[0].count, 2);
    assert_eq!(two[0].oldest_since, intake.opened_at.min(intake_b.opened_at));
    assert_eq!(two[0].median_since, intake.opened_at.max(intake_b.opened_at));
}

pub(crate) async fn drafts_are_kept_per_pathway(f: Fixture) {
    let store = f.store().await;
    assert!(store.draft("van-zorg-naar-werk").await.unwrap().is_none());
    store
        .save_draft("van-zorg-naar-werk", "key: a", "coo", t0())
        .await
        .unwrap();
    store
        .save_draft("van-zorg-naar-werk", "key: b", "coo2", t0() + Duration::hours(1))
        .await
        .unwrap();
    store
        .save_draft("simpel-switchen", "key: c", "coo", t0())
        .await
        .unwrap();
    let d = store.draft("van-zorg-naar-werk").await.unwrap().unwrap();
    assert_eq!(
        (d.source.as_str(), d.updated_by.as_str(), d.updated_at),
        ("key: b", "coo2", t0() + Duration::hours(1))
    );
    assert_eq!(store.drafts().await.unwrap().len(), 2);
    store.delete_draft("van-zorg-naar-werk").await.unwrap();
    assert!(store.draft("van-zorg-naar-werk").await.unwrap().is_none());
    assert_eq!(store.drafts().await.unwrap().len(), 1);
}

pub(crate) async fn identities_find_their_user_and_rights_change(f: Fixture) {
    use doorloop_engine::store::{User, UserRole};
    let store = f.store().await;
    let user = User {
        id: "w.wmo".into(),
        display_name: "Wendy".into(),
        role: UserRole::Consultant,
        teams: vec![],
        email: None,
        organisation: "gemeente".into(),
        organisation_kind: None,
        password_hash: None,
        active: false,
        created_at: t0(),
    };
    store
        .add_identity_user(&user, "https://idp", "sub-1", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .identity_user("https://idp", "sub-1")
            .await
            .unwrap()
            .as_deref(),
        Some("w.wmo")
    );
    assert_eq!(store.identity_user("https://other", "sub-1").await.unwrap(), None);
    // A second account with the same login name is refused, and no identity is linked.
    assert!(
        store
            .add_identity_user(&user, "https://idp", "sub-2", t0())
            .await
            .is_err()
    );
    assert_eq!(store.identity_user("https://idp", "sub-2").await.unwrap(), None);
    store
        .set_rights(
            "w.wmo",
            UserRole::Consultant,
            &["wmo-consulent".into()],
            None,
            true,
        )
        .await
        .unwrap();
    let back = store.user("w.wmo").await.unwrap().unwrap();
    assert_eq!(
        (back.teams, back.active),
        (vec!["wmo-consulent".to_owned()], true)
    );
    assert!(matches!(
        store
            .set_rights("niemand", UserRole::Manager, &[], None, true)
            .await,
        Err(StoreError::UnknownUser { .. })
    ));
}

pub(crate) async fn login_attempts_are_counted_for_every_process_alike(f: Fixture) {
    let store = f.store().await;
    // A burst of 5, then one a minute; two stores on one database count together.
    let other = f.store().await;
    let (minute, t) = (60_000, 1_796_000_000_000_i64);
    for i in 0..5 {
        let by = if i % 2 == 0 { &store } else { &other };
        assert!(by.login_attempt("k", t, minute, 5).await.unwrap(), "attempt {i}");
    }
    assert!(!store.login_attempt("k", t, minute, 5).await.unwrap());
    assert!(!other.login_attempt("k", t + 1_000, minute, 5).await.unwrap());
    assert!(
        store.login_attempt("ander", t, minute, 5).await.unwrap(),
        "another key has its own count"
    );
    // A minute on, one more; a refused attempt did not count.
    assert!(other.login_attempt("k", t + minute, minute, 5).await.unwrap());
    assert!(!store.login_attempt("k", t + minute, minute, 5).await.unwrap());
    // Long after, the key is spent and removed: a full burst again.
    for i in 0..5 {
        assert!(
            store
                .login_attempt("k", t + 60 * minute, minute, 5)
                .await
                .unwrap(),
            "later attempt {i}"
        );
    }
}
