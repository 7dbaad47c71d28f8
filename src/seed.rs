//! `doorloop seed`: fills a database with generated consultants and cases for load tests
//! of the web admin (BENCHMARKS.md). Every open task is assigned to a consultant of its
//! role, as after a team's morning triage.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use clap::Args;
use doorloop_engine::demo::sim::{Driver, next_command};
use doorloop_engine::engine::Engine;
use doorloop_engine::runtime::{Action, CaseState, Command, TaskRef};
use doorloop_engine::store::{User, UserRole};
use doorloop_web::auth;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::shipped::PATHWAYS;

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 100_000)]
    pub cases: u32,
    #[arg(long, default_value_t = 300)]
    pub consultants: u32,
    /// Commands in flight at once while seeding.
    #[arg(long, default_value_t = 32)]
    pub concurrency: u32,
    /// Where to write `user password case…` lines for the first 50 consultants.
    #[arg(long)]
    pub credentials: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Most commands per case (each case takes between none and this many).
    #[arg(long, default_value_t = 4)]
    pub moves: u32,
    /// Afterwards, fire every timer that fell due in the generated history (deadlines,
    /// escalations, stall checks), as a scheduler catching up would.
    #[arg(long)]
    pub catch_up: bool,
}

/// The generated accounts work for the regional coordination, which sees the whole region:
/// a load test's consultants then see all the work they are given, whichever of the five
/// municipalities the made-up resident lives in.
const SEED_ORGANISATION: &str = "regio";

fn login(role: &str, n: u32) -> String {
    format!("{role}-{n:03}")
}

pub async fn run(engine: Arc<Engine>, args: SeedArgs) -> anyhow::Result<()> {
    if args.cases == 0 || args.consultants == 0 {
        bail!("--cases and --consultants must be at least 1");
    }
    let now = Utc::now();
    let pv = match engine.pathway("van-zorg-naar-werk", None).await {
        Ok(pv) => pv,
        Err(_) => {
            for (key, source) in PATHWAYS {
                if engine.pathway(key, None).await.is_err() {
                    engine.publish_yaml(source, now).await?;
                }
            }
            engine.pathway("van-zorg-naar-werk", None).await?
        }
    };
    doorloop_engine::demo::region::ensure(&engine).await?;
    let roles: Vec<String> = pv.pathway.roles.keys().cloned().collect();
    let teams = roles.len() as u32;
    // Consultants spread over the roles; every role gets at least one.
    let per_role: Vec<u32> = (0..teams)
        .map(|i| (args.consultants / teams + u32::from(i < args.consultants % teams)).max(1))
        .collect();
    // One password for all generated accounts: hashing 300 distinct ones adds nothing.
    let password = auth::generate_password()?;
    let hash = auth::hash_password(&password)?;
    let mut created = 0;
    for (role, &count) in roles.iter().zip(&per_role) {
        for n in 0..count {
            let user = User {
                id: login(role, n),
                display_name: format!("Consulent {role} {n}"),
                role: UserRole::Consultant,
                teams: vec![role.clone()],
                email: Some(format!("{}@bench.doorloop.invalid", login(role, n))),
                organisation: SEED_ORGANISATION.to_owned(),
                organisation_kind: None,
                password_hash: Some(hash.clone()),
                active: true,
                created_at: now,
            };
            engine.store().add_user(&user).await?;
            created += 1;
        }
    }
    eprintln!("{created} consultants in {} teams", roles.len());
    let per_role: Arc<BTreeMap<String, u32>> = Arc::new(roles.iter().cloned().zip(per_role).collect());
    let started = Instant::now();
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (engine, next, pv, roles) = (engine.clone(), next.clone(), pv.clone(), roles.clone());
        let per_role = per_role.clone();
        let (cases, seed, args_moves) = (args.cases, args.seed, args.moves);
        workers.push(tokio::spawn(async move {
            let driver = Driver::default();
            let mut owned: Vec<(String, String)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    break;
                }
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(u64::from(i)));
                let who = |role: &str, rng: &mut StdRng| {
                    login(
                        role,
                        rng.random_range(0..per_role.get(role).copied().unwrap_or(1)),
                    )
                };
                let mut t = now - Duration::days(rng.random_range(1..365));
                let starter = who(&roles[0], &mut rng);
                let resident = doorloop_engine::demo::people::add(&engine, i as usize, t).await?;
                let mut state = engine
                    .start_case(
                        &pv.pathway.key,
                        Some(pv.version),
                        &starter,
                        &resident.id,
                        BTreeMap::new(),
                        t,
                    )
                    .await?
                    .state;
                let moves = rng.random_range(0..args_moves.max(1));
                for _ in 0..=moves {
                    state = claim_all(&engine, state, &mut rng, &who, t).await?;
                    t += Duration::hours(rng.random_range(4..24 * 14));
                    if t > now {
                        break;
                    }
                    let Some((mut command, at)) = next_command(&driver, &pv, &state, &mut rng, t, &starter)
                    else {
                        break;
                    };
                    if let Some(assignee) = task_assignee(&command, &state) {
                        command.actor = assignee;
                    }
                    if at > now {
                        break;
                    }
                    state = engine.execute(&state.id, command, at).await?.state;
                }
                let state = claim_all(&engine, state, &mut rng, &who, t.min(now)).await?;
                for task in state.tasks.values() {
                    if let Some(a) = &task.assignee {
                        owned.push((a.clone(), state.id.clone()));
                    }
                }
            }
            anyhow::Ok(owned)
        }));
    }
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in workers {
        for (user, case) in w.await.context("seed worker")?? {
            by_user.entry(user).or_default().push(case);
        }
    }
    eprintln!("{} cases in {:.0}s", args.cases, started.elapsed().as_secs_f64());
    if args.catch_up {
        let started = Instant::now();
        let scheduler = doorloop_engine::scheduler::Scheduler::new(
            engine.clone(),
            Arc::new(doorloop_engine::scheduler::SystemClock),
            "seed",
            Vec::new(),
        );
        let fired = scheduler.catch_up().await?;
        eprintln!(
            "{fired} due timers fired in {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
    // A manager, for the figures screens.
    let manager = User {
        id: "manager-001".into(),
        display_name: "Manager".into(),
        role: UserRole::Manager,
        teams: Vec::new(),
        email: None,
        organisation: SEED_ORGANISATION.to_owned(),
        organisation_kind: None,
        password_hash: Some(hash.clone()),
        active: true,
        created_at: now,
    };
    if engine.store().user(&manager.id).await?.is_none() {
        engine.store().add_user(&manager).await?;
    }
    let manager_file = args.credentials.with_extension("manager");
    std::fs::write(&manager_file, format!("{} {password}\n", manager.id))
        .with_context(|| format!("writing {}", manager_file.display()))?;
    let mut file = std::fs::File::create(&args.credentials)
        .with_context(|| format!("writing {}", args.credentials.display()))?;
    let mut busiest: Vec<(&String, &Vec<String>)> = by_user.iter().collect();
    busiest.sort_by_key(|(_, cases)| std::cmp::Reverse(cases.len()));
    for (user, cases) in busiest.iter().take(50) {
        let sample: BTreeSet<&String> = cases.iter().take(20).collect();
        let sample: Vec<&str> = sample.into_iter().map(String::as_str).collect();
        writeln!(file, "{user} {password} {}", sample.join(" "))?;
    }
    let open: usize = by_user.values().map(Vec::len).sum();
    let max = busiest.first().map(|(_, c)| c.len()).unwrap_or(0);
    println!(
        "seeded cases={} consultants={created} open_assigned_tasks={open} busiest_consultant_tasks={max}",
        args.cases
    );
    Ok(())
}

fn task_assignee(command: &Command, state: &CaseState) -> Option<String> {
    let task = match &command.action {
        Action::CompleteTask { task, .. }
        | Action::PlanJointVisit { task, .. }
        | Action::RecordVisitOutcome { task, .. } => state.tasks.get(&task.0)?,
        _ => return None,
    };
    task.assignee.clone()
}

/// Assigns every unassigned open task to a consultant of its first role.
async fn claim_all(
    engine: &Engine,
    mut state: CaseState,
    rng: &mut StdRng,
    who: &impl Fn(&str, &mut StdRng) -> String,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<CaseState> {
    let open: Vec<(String, String)> = state
        .tasks
        .values()
        .filter(|t| t.assignee.is_none())
        .filter_map(|t| t.roles.first().map(|r| (t.id.clone(), r.clone())))
        .collect();
    for (task, role) in open {
        let user = who(&role, rng);
        let action = Action::Reassign {
            task: TaskRef(task),
            to: Some(user.clone()),
        };
        state = engine
            .execute(&state.id, Command::new(user, action), at)
            .await?
            .state;
    }
    Ok(state)
}
