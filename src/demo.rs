//! `doorloop demo`: publishes the shipped pathways and moves sample cases to varied points.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{Duration, Utc};
use std::sync::Arc;

use doorloop_engine::chain::OrganisationKind;
use doorloop_engine::demo::sim::{Driver, next_command};
use doorloop_engine::engine::Engine;
use doorloop_engine::runtime::{Action, CaseState, Command};
use doorloop_engine::scheduler::{Scheduler, SystemClock};
use doorloop_engine::store::TaskFilter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::shipped::PATHWAYS;
use crate::users;

pub const DEFAULT_PER_PATHWAY: u32 = 12;
pub const DEFAULT_SEED: u64 = 2026;

/// Demo staff (fictional): display names for the consultant of each pathway role.
const NAMES: &[(&str, &str)] = &[
    ("wmo-consulent", "Anna de Vries"),
    ("klantmanager", "Bram Jansen"),
    ("arbeidsdeskundige", "Chantal Bakker"),
    ("casusregisseur", "Daan Visser"),
    ("trajectbegeleider", "Esra Yilmaz"),
    ("jobcoach", "Fleur Smit"),
    ("ambulant-begeleider", "Gijs Mulder"),
    ("loonwaardedeskundige", "Hanna de Boer"),
    ("jeugdhulpverlener", "Ilse Dekker"),
    ("leermeester", "Joost Peters"),
    ("werkgever", "Karim El Amrani"),
];

/// The demo consultant who works as `role`.
fn consultant(role: &str) -> String {
    format!("{role}-1")
}

/// The demo user who acts on a command: the consultant of the task's first role.
fn actor_for(command: &Command, state: &CaseState, fallback: &str) -> String {
    let task = match &command.action {
        Action::CompleteTask { task, .. }
        | Action::PlanJointVisit { task, .. }
        | Action::RecordVisitOutcome { task, .. } => state.tasks.get(&task.0),
        _ => None,
    };
    task.and_then(|t| t.roles.first())
        .map(|r| consultant(r))
        .unwrap_or_else(|| fallback.to_owned())
}

/// Creates the demo accounts (one per role, a consultant per pathway role) and prints
/// their generated passwords once.
pub async fn accounts(engine: &Engine) -> anyhow::Result<()> {
    if !engine.store().users().await?.is_empty() {
        println!();
        println!("demo accounts exist already; a new password: doorloop user password NAME");
        return Ok(());
    }
    doorloop_engine::demo::region::ensure(engine).await?;
    let mut roles: BTreeSet<String> = BTreeSet::new();
    // The kind of organisation each role's people work for, as the pathways say.
    let mut kinds: BTreeMap<String, OrganisationKind> = BTreeMap::new();
    for (key, _) in PATHWAYS {
        let pv = engine.pathway(key, None).await?;
        roles.extend(pv.pathway.roles.keys().cloned());
        for (role, def) in &pv.pathway.roles {
            if let Some(k) = def.organisation.as_deref().and_then(OrganisationKind::of_role) {
                kinds.entry(role.clone()).or_insert(k);
            }
        }
    }
    // (login, role, teams, name, organisation)
    let mut people: Vec<(String, &str, Vec<String>, String, &str)> = vec![
        (
            "coordinator".into(),
            "coordinator",
            vec![],
            "Carla Coördinator".into(),
            "regio",
        ),
        ("manager".into(), "manager", vec![], "Mark Manager".into(), "Oss"),
        (
            "manager-uden".into(),
            "manager",
            vec![],
            "Ulla van Uden".into(),
            "Uden",
        ),
        (
            "regiomanager".into(),
            "manager",
            vec![],
            "Rita Regio".into(),
            "regio",
        ),
        ("beheerder".into(), "admin", vec![], "Bea Beheer".into(), "regio"),
        ("privacy".into(), "privacy", vec![], "Priya Privacy".into(), "Oss"),
    ];
    for role in &roles {
        let name = NAMES
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, n)| (*n).to_owned())
            .unwrap_or_else(|| format!("Consulent {role}"));
        let org = kinds
            .get(role)
            .and_then(|k| doorloop_engine::demo::region::provider(*k, 0))
            .unwrap_or("Oss");
        people.push((consultant(role), "consultant", vec![role.clone()], name, org));
    }
    // The other care provider's begeleider, and a Wmo-consulent of Uden: the same screens
    // show them other residents.
    people.push((
        "ambulant-begeleider-2".into(),
        "consultant",
        vec!["ambulant-begeleider".into()],
        "Lotte Maas".into(),
        "maasland",
    ));
    people.push((
        "wmo-consulent-uden".into(),
        "consultant",
        vec!["wmo-consulent".into()],
        "Umar Uden".into(),
        "Uden",
    ));
    println!();
    println!("Demo-accounts (wachtwoorden worden maar één keer getoond):");
    for (id, role, teams, name, org) in &people {
        let email = format!("{id}@demo.doorloop.invalid");
        let password = users::add(
            engine,
            users::NewUser {
                id,
                role,
                teams,
                name: Some(name),
                email: Some(&email),
                organisation: Some(org),
            },
        )
        .await?;
        let team = teams.first().map(|t| format!(" ({t})")).unwrap_or_default();
        println!("  {id:<26} {password}   {role}{team}, {org}");
    }
    Ok(())
}

pub async fn run(engine: Arc<Engine>, per_pathway: u32, seed: u64) -> anyhow::Result<()> {
    let engine = &engine;
    let store = engine.store();
    let existing: i64 = store.case_counts().await?.iter().map(|c| c.count).sum();
    if existing > 0 {
        println!("the database already holds {existing} cases; no demo data added");
        return summary(engine).await;
    }
    let now = Utc::now();
    let published = store.pathways().await?;
    for (key, source) in PATHWAYS {
        if published.iter().any(|p| p.key == key) {
            continue;
        }
        let pv = engine
            .publish_yaml(source, now)
            .await
            .with_context(|| format!("publishing {key}"))?;
        println!("published {} v{}", pv.pathway.key, pv.version);
    }
    doorloop_engine::demo::region::ensure(engine).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let driver = Driver::default();
    let mut made = 0usize;
    // Expiry work is opened by Doorloop itself, from the residents' provisions.
    for (key, _) in PATHWAYS
        .iter()
        .filter(|(k, _)| *k != doorloop_engine::line::EXPIRY_PATHWAY)
    {
        let pv = engine.pathway(key, None).await?;
        for _ in 0..per_pathway {
            let mut t = now - Duration::days(rng.random_range(5..300));
            let first_role = pv.pathway.roles.keys().next().cloned().unwrap_or_default();
            let starter = pv
                .pathway
                .steps
                .iter()
                .find_map(|s| s.responsible_roles().first().cloned())
                .unwrap_or(first_role);
            let actor = consultant(&starter);
            // Made-up residents after the pilot's 53.
            made += 1;
            let resident = doorloop_engine::demo::people::add(engine, 100 + made, t).await?;
            let out = engine
                .start_case(key, None, &actor, &resident.id, BTreeMap::new(), t)
                .await?;
            doorloop_engine::demo::region::involve(engine, &out.state.id, &pv, 100 + made, &actor, t).await?;
            let mut state = out.state;
            let moves = rng.random_range(0..16);
            for _ in 0..moves {
                t += Duration::hours(rng.random_range(20..24 * 21));
                let Some((mut command, at)) = next_command(&driver, &pv, &state, &mut rng, t, &actor) else {
                    break;
                };
                command.actor = actor_for(&command, &state, &actor);
                if at > now {
                    break;
                }
                t = at;
                state = engine.execute(&state.id, command, at).await?.state;
            }
        }
    }
    // A cohort shaped like the Oss pilot, started 20 months ago: the managers' figures.
    let pilot =
        doorloop_engine::demo::pilot::load(engine, now - Duration::days(600), Duration::days(3)).await?;
    println!(
        "pilot cohort: {} participants of van-zorg-naar-werk (as in Oss: 38 a rung up, 12 to work)",
        pilot.cases.len()
    );
    // Sjaak (the article): came to the youth desk, did not know his contact person, left, and
    // stayed out of sight. The managers' stuck view lists him as uit beeld.
    let left = now - Duration::days(700);
    let mut sjaak = doorloop_engine::demo::people::resident(9_999);
    sjaak.given_name = "Sjaak".into();
    sjaak.family_name = "Bosch".into();
    sjaak.email = Some("sjaak.bosch@voorbeeld.nl".into());
    if engine.vault().is_none() {
        sjaak.bsn = None;
    }
    let sjaak = engine.add_resident(&sjaak, left).await?;
    let case = engine
        .start_case(
            "jongeren-zorg-school-werk",
            None,
            "klantmanager-1",
            &sjaak.id,
            BTreeMap::new(),
            left,
        )
        .await?;
    let withdraw = Command::new(
        "klantmanager-1",
        Action::Withdraw {
            reason: "niet meer verschenen".into(),
        },
    );
    engine
        .execute(&case.state.id, withdraw, left + Duration::days(3))
        .await?;
    // Let time catch up: reminders, escalations, deadlines and stall checks that fell due
    // while the sample cases were moving.
    let scheduler = Scheduler::new(engine.clone(), Arc::new(SystemClock), "demo", Vec::new());
    let fired = scheduler.catch_up().await?;
    println!("scheduler: {fired} timers fired (reminders, escalations, deadlines, stall checks)");
    summary(engine).await
}

async fn summary(engine: &Engine) -> anyhow::Result<()> {
    let store = engine.store();
    println!();
    println!("cases per pathway:");
    for c in store.case_counts().await? {
        println!("  {:<28} {:<10} {}", c.pathway_key, c.status, c.count);
    }
    let tasks = store.open_tasks(&TaskFilter::default()).await?;
    let now = Utc::now();
    let overdue = tasks.iter().filter(|t| t.due_at.is_some_and(|d| d < now)).count();
    let mut by_role: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &tasks {
        *by_role.entry(t.role.as_str()).or_default() += 1;
    }
    println!("open tasks: {} ({} overdue)", tasks.len(), overdue);
    for (role, n) in by_role {
        println!("  {role:<28} {n}");
    }
    let stalls = doorloop_engine::figures::stall::queue(&store.open_stalls(None).await?, now);
    if !stalls.is_empty() {
        println!("stalled cases:");
        for q in stalls.iter().take(6) {
            let party = q.party.as_deref().map(|p| format!(" on {p}")).unwrap_or_default();
            println!(
                "  {} waiting{party} ({}), median {} days",
                q.cases, q.reason, q.median_days
            );
        }
    }
    if let Some(first) = tasks.first() {
        println!();
        println!("try:");
        println!("  doorloop tasks --role {}", first.role);
        println!("  doorloop case show {}", first.case_id);
    }
    Ok(())
}
