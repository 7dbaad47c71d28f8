//! `doorloop demo`: publishes the shipped pathways and moves sample cases to varied points.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{Duration, Utc};
use std::sync::Arc;

use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::{Scheduler, SystemClock};
use doorloop_engine::sim::{Driver, next_command};
use doorloop_engine::store::TaskFilter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::shipped::PATHWAYS;

/// Demo actors: role accounts, not people.
const ACTORS: [&str; 4] = [
    "consulent-wmo-1",
    "klantmanager-1",
    "casusregisseur-1",
    "trajectbegeleider-1",
];

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
    let mut rng = StdRng::seed_from_u64(seed);
    let driver = Driver::default();
    for (key, _) in PATHWAYS {
        let pv = engine.pathway(key, None).await?;
        for _ in 0..per_pathway {
            let mut t = now - Duration::days(rng.random_range(5..300));
            let actor = ACTORS[rng.random_range(0..ACTORS.len())];
            let out = engine.start_case(key, None, actor, BTreeMap::new(), t).await?;
            let mut state = out.state;
            let moves = rng.random_range(0..16);
            for _ in 0..moves {
                t += Duration::hours(rng.random_range(20..24 * 21));
                let Some((command, at)) = next_command(&driver, &pv, &state, &mut rng, t, actor) else {
                    break;
                };
                if at > now {
                    break;
                }
                t = at;
                state = engine.execute(&state.id, command, at).await?.state;
            }
        }
    }
    // Let time catch up: reminders, escalations, deadlines and stall checks that fell due
    // while the sample cases were moving.
    let scheduler = Scheduler::new(engine.clone(), Arc::new(SystemClock), "demo", Vec::new());
    let mut fired = 0;
    loop {
        let pass = scheduler.tick().await?;
        if pass.claimed == 0 {
            break;
        }
        fired += pass.fired;
    }
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
    let stalls = doorloop_engine::stall::queue(&store.open_stalls().await?, now);
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
