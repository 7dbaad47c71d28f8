//! `doorloop bench`: durable commands per second against the disk's bare commit rate.
//!
//! Runs on a fresh temporary SQLite file (next to the configured database, so the same
//! disk is measured) or, for a PostgreSQL URL, in a fresh schema that is dropped after.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Duration, TimeZone, Utc};
use clap::Args;
use doorloop_engine::demo::sim::{Driver, next_command};
use doorloop_engine::engine::Engine;
use doorloop_engine::runtime::{Action, Command, Event, EventKind};
use doorloop_engine::store::{PostgresStore, SqliteStore, Store};
use doorloop_engine::time::calendar::Calendar;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::shipped::PATHWAYS;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Cases to run from start to end.
    #[arg(long, default_value_t = 1000)]
    pub cases: u32,
    /// Clients sending commands at the same time (group commit batches them).
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// Minimal commits for the bare commit rate.
    #[arg(long, default_value_t = 2000)]
    pub bare_commits: u32,
    /// Seed for the choices made on forms and branches.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// `commands` (cases run to their end), `timers` (one scheduler pass over a large store)
    /// or `search` (finding residents among `--cases` of them).
    #[arg(long, value_enum, default_value_t = Scenario::Commands)]
    pub scenario: Scenario,
    /// Timers scenario: how many timers are due in the measured pass.
    #[arg(long, default_value_t = 1000)]
    pub due: u32,
    /// Start variables of every case, `name=value` (repeatable).
    #[arg(long = "var")]
    pub vars: Vec<String>,
    /// Pathway file, YAML or BPMN 2.0 (default: the shipped van-zorg-naar-werk).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Commands,
    Timers,
    /// `--cases` residents (made up, with cases), then searches as a manager and as a
    /// consultant: name prefixes, references, dates of birth.
    Search,
}

/// The pathway of the timers scenario: one open task with a deadline per case.
const TIMER_PATHWAY: &str = "key: termijn\nname: Termijn\nroles:\n  r: { name: Consulent }\nsteps:\n  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, deadline: 10 werkdagen, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n";

/// Most commands one case may take before the bench withdraws it.
const MAX_COMMANDS_PER_CASE: usize = 400;

pub async fn run(args: BenchArgs, url: &str, allow_non_durable: bool) -> anyhow::Result<()> {
    if args.cases == 0 || args.concurrency == 0 {
        bail!("--cases and --concurrency must be at least 1");
    }
    let source = match &args.file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        None => PATHWAYS
            .iter()
            .find(|(k, _)| *k == "van-zorg-naar-werk")
            .map(|(_, s)| (*s).to_owned())
            .context("the shipped van-zorg-naar-werk")?,
    };
    let bpmn = args
        .file
        .as_ref()
        .is_some_and(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("bpmn")));
    // The pathways to publish, the one to drive last: a BPMN file's called processes first.
    let sources: Vec<String> = if bpmn {
        let started = Instant::now();
        let all = doorloop_engine::bpmn::import::import_all(&source).context("importing the BPMN file")?;
        let steps: usize = all.iter().map(|i| i.pathway.steps.len()).sum();
        eprintln!(
            "imported BPMN: {} pathway(s), {steps} steps in {:.1} ms",
            all.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        all.iter()
            .map(|i| doorloop_engine::pathway::definition::to_yaml(&i.pathway))
            .collect::<Result<_, _>>()?
    } else {
        vec![source]
    };
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let store = PostgresStore::open(url, Some(&schema)).await?;
        let result = measure(Arc::new(store), &sources, &args, allow_non_durable).await;
        PostgresStore::drop_schema(url, &schema).await?;
        result
    } else {
        let dir = sqlite_dir(url);
        let tmp = tempfile::Builder::new()
            .prefix(".doorloop-bench-")
            .tempdir_in(&dir)
            .with_context(|| format!("creating a temporary directory in {}", dir.display()))?;
        let file_url = format!("sqlite://{}", tmp.path().join("bench.db").display());
        let store = SqliteStore::open(&file_url).await?;
        measure(Arc::new(store), &sources, &args, allow_non_durable).await
    }
}

fn sqlite_dir(url: &str) -> PathBuf {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

async fn measure(
    store: Arc<dyn Store>,
    sources: &[String],
    args: &BenchArgs,
    allow: bool,
) -> anyhow::Result<()> {
    let Some((source, called)) = sources.split_last() else {
        bail!("no pathway to measure");
    };
    if args.scenario == Scenario::Timers {
        return measure_timers(store, args, allow).await;
    }
    if args.scenario == Scenario::Search {
        return measure_search(store, args, allow).await;
    }
    let engine = Arc::new(Engine::new(store.clone(), Calendar::default()));
    engine.check_durability(allow).await?;
    let epoch = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .context("bench epoch")?;
    // The pathways a shipped pathway links to.
    for (key, linked) in crate::shipped::PATHWAYS {
        if source != linked && source.contains(&format!("start_pathway: {key}")) {
            engine.publish_yaml(linked, epoch).await?;
        }
    }
    for linked in called {
        engine.publish_yaml(linked, epoch).await?;
    }
    let pv = engine.publish_yaml(source, epoch).await?;
    let key = pv.pathway.key.clone();
    let start_vars = Arc::new(crate::vars::parse(&args.vars, &[], &pv)?);
    // Every optional field answered: conditions of imported BPMN read them.
    let driver = Driver {
        optional: if args
            .file
            .as_ref()
            .is_some_and(|f| f.extension().is_some_and(|e| e == "bpmn"))
        {
            1.0
        } else {
            Driver::default().optional
        },
        ..Driver::default()
    };

    let bare = store.bare_commits(args.bare_commits).await?;
    let bare_per_s = f64::from(args.bare_commits) / bare.as_secs_f64();
    eprintln!(
        "bare commits: {} in {:.2}s",
        args.bare_commits,
        bare.as_secs_f64()
    );

    // Each case its own resident, as in life: checks that look across a resident's cases
    // (one line per resident) then cost what they cost for one person, not for thousands.
    let residents = Arc::new(bench_residents(&engine, args.cases, epoch).await?);
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let engine = engine.clone();
        let next = next.clone();
        let key = key.clone();
        let residents = residents.clone();
        let cases = args.cases;
        let seed = args.seed;
        let start_vars = start_vars.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut reached: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    break;
                }
                let seed = seed.wrapping_add(u64::from(i));
                let how = CaseRun {
                    driver: &driver,
                    start_vars: &start_vars,
                    epoch,
                    resident: residents.get(i as usize).cloned().unwrap_or_default(),
                };
                run_case(&engine, &key, &how, seed, &mut latencies, &mut reached).await?;
            }
            anyhow::Ok((latencies, reached))
        }));
    }
    let mut latencies = Vec::new();
    let mut reached: BTreeMap<String, u64> = BTreeMap::new();
    let mut completed_tasks: u64 = 0;
    let mut ended: u64 = 0;
    for w in workers {
        let (l, r) = w.await.context("bench worker")??;
        latencies.extend(l);
        for (step, n) in r {
            if step == COMPLETED {
                completed_tasks += n;
            } else if step == ENDED {
                ended += n;
            } else {
                *reached.entry(step).or_default() += n;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let commands = latencies.len();
    let per_s = commands as f64 / elapsed;
    let pct = |p: f64| {
        let idx = ((commands as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied().unwrap_or(0)
    };
    let human: Vec<&str> = pv
        .pathway
        .steps
        .iter()
        .filter(|s| s.kind.is_human())
        .map(|s| s.id.as_str())
        .collect();
    let missed: Vec<&&str> = human.iter().filter(|s| !reached.contains_key(**s)).collect();
    eprintln!("cases run to an end: {ended} of {}", args.cases);
    eprintln!(
        "work steps reached: {} of {}{}",
        human.len() - missed.len(),
        human.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (never: {missed:?})")
        }
    );
    eprintln!(
        "times reached: {}",
        reached
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "cases={} commands={} fsync_commits_per_s={:.0} commands_per_s={:.0} ratio={:.2} p50_us={} p99_us={} peak_rss_mb={:.1} tasks_per_s={:.0}",
        args.cases,
        commands,
        bare_per_s,
        per_s,
        per_s / bare_per_s,
        pct(0.50),
        pct(0.99),
        peak_rss_mb(),
        completed_tasks as f64 / elapsed
    );
    Ok(())
}

/// Key under which `run_case` counts human-task completions.
const COMPLETED: &str = "\u{0}completed";
/// Key under which `run_case` counts cases that reached an end.
const ENDED: &str = "\u{0}ended";

/// Builds `cases` open cases (each with a deadline timer), of which `due` fall due first,
/// then times one scheduler pass that finds nothing and one that fires the due ones.
async fn measure_timers(store: Arc<dyn Store>, args: &BenchArgs, allow: bool) -> anyhow::Result<()> {
    use doorloop_engine::scheduler::{ManualClock, Scheduler};
    let engine = Arc::new(Engine::new(store, Calendar::default()));
    engine.check_durability(allow).await?;
    let early = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .context("bench epoch")?;
    let late = early + Duration::days(60);
    engine.publish_yaml(TIMER_PATHWAY, early).await?;
    let due = args.due.min(args.cases);
    let next = Arc::new(AtomicU32::new(0));
    let building = Instant::now();
    let mut workers = Vec::new();
    let resident = bench_resident(&engine, early).await?;
    for _ in 0..args.concurrency.max(32) {
        let engine = engine.clone();
        let next = next.clone();
        let resident = resident.clone();
        let cases = args.cases;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    break;
                }
                let start = if i < due { early } else { late };
                engine
                    .start_case("termijn", None, "bench", &resident, Default::default(), start)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await.context("bench worker")??;
    }
    eprintln!(
        "built {} open cases in {:.1}s",
        args.cases,
        building.elapsed().as_secs_f64()
    );
    // 10 werkdagen after 5 January is 19 January; the late cases are due in March.
    let clock = Arc::new(ManualClock::new(early + Duration::days(1)));
    let mut scheduler = Scheduler::new(engine.clone(), clock.clone(), "bench", Vec::new());
    scheduler.batch = due.max(1);
    scheduler.tick().await?; // warms connections and statement caches
    let t = Instant::now();
    let empty = scheduler.tick().await?;
    let empty_ms = t.elapsed().as_secs_f64() * 1000.0;
    if empty.claimed != 0 {
        bail!(
            "{} timers were due in the pass that should find none",
            empty.claimed
        );
    }
    clock.set(early + Duration::days(30));
    let t = Instant::now();
    let mut fired = 0;
    let mut passes = 0;
    loop {
        let r = scheduler.tick().await?;
        if r.claimed == 0 {
            break;
        }
        fired += r.fired;
        passes += 1;
    }
    let pass_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "cases={} due={} empty_pass_ms={:.2} due_pass_ms={:.1} fired={} passes={} peak_rss_mb={:.1}",
        args.cases,
        due,
        empty_ms,
        pass_ms,
        fired,
        passes,
        peak_rss_mb()
    );
    Ok(())
}

/// How the bench runs each case: answers, start variables, the first moment.
struct CaseRun<'a> {
    driver: &'a Driver,
    start_vars: &'a BTreeMap<String, serde_json::Value>,
    epoch: chrono::DateTime<Utc>,
    /// The made-up resident this case belongs to.
    resident: String,
}

/// `n` made-up residents, one for each case of the bench (made before timing starts).
async fn bench_residents(engine: &Engine, n: u32, at: chrono::DateTime<Utc>) -> anyhow::Result<Vec<String>> {
    doorloop_engine::demo::region::ensure(engine).await?;
    let mut ids = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        ids.push(doorloop_engine::demo::people::add(engine, i, at).await?.id);
    }
    Ok(ids)
}

/// The one made-up resident the bench's cases belong to (made before timing starts).
async fn bench_resident(engine: &Engine, at: chrono::DateTime<Utc>) -> anyhow::Result<String> {
    doorloop_engine::demo::region::ensure(engine).await?;
    Ok(doorloop_engine::demo::people::add(engine, 0, at).await?.id)
}

async fn run_case(
    engine: &Engine,
    key: &str,
    how: &CaseRun<'_>,
    seed: u64,
    latencies: &mut Vec<u32>,
    reached: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = how.epoch;
    let timer = Instant::now();
    let out = engine
        .start_case(key, None, "bench", &how.resident, how.start_vars.clone(), t)
        .await?;
    latencies.push(micros(timer));
    count_opened(&out.events, reached);
    let pv = engine.pathway(key, Some(out.state.pathway_version)).await?;
    let mut state = out.state;
    for n in 0.. {
        t += Duration::hours(30);
        let (command, at) = if n >= MAX_COMMANDS_PER_CASE {
            (
                Command::new(
                    "bench",
                    Action::Withdraw {
                        reason: "bench limit".into(),
                    },
                ),
                t,
            )
        } else {
            match next_command(how.driver, &pv, &state, &mut rng, t, "bench") {
                Some(c) => c,
                None => break,
            }
        };
        t = at;
        if matches!(
            command.action,
            Action::CompleteTask { .. } | Action::RecordVisitOutcome { .. }
        ) {
            *reached.entry(COMPLETED.to_owned()).or_default() += 1;
        }
        let timer = Instant::now();
        let out = engine.execute(&state.id, command, at).await?;
        latencies.push(micros(timer));
        count_opened(&out.events, reached);
        state = out.state;
    }
    if state.status == doorloop_engine::runtime::CaseStatus::Ended {
        *reached.entry(ENDED.to_owned()).or_default() += 1;
    }
    Ok(())
}

/// Counts the work steps a command opened, to show which branches the run exercised.
fn count_opened(events: &[Event], reached: &mut BTreeMap<String, u64>) {
    for e in events {
        if let EventKind::TaskOpened { task } = &e.kind {
            *reached.entry(task.step.clone()).or_default() += 1;
        }
    }
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// Peak resident set size of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Finds residents among `--cases` made-up ones: 1,000 searches of each kind, as a manager
/// (every resident) and as a consultant (only residents of cases they may see).
async fn measure_search(store: Arc<dyn Store>, args: &BenchArgs, allow: bool) -> anyhow::Result<()> {
    use doorloop_engine::store::Viewer;
    use rand::Rng;
    let engine = Arc::new(
        Engine::new(store.clone(), Calendar::default())
            .with_vault(doorloop_engine::resident::BsnVault::from_key(&[3; 32])),
    );
    engine.check_durability(allow).await?;
    let at = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .context("bench epoch")?;
    engine.publish_yaml(TIMER_PATHWAY, at).await?;
    doorloop_engine::demo::region::ensure(&engine).await?;
    let building = Instant::now();
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(16) {
        let (engine, next) = (engine.clone(), next.clone());
        let n = args.cases;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = doorloop_engine::demo::people::add(&engine, i as usize, at).await?;
                // Every tenth resident has a case, started by one of 50 consultants.
                if i % 10 == 0 {
                    let who = format!("consulent-{}", i % 50);
                    engine
                        .start_case("termijn", None, &who, &r.id, Default::default(), at)
                        .await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await.context("bench worker")??;
    }
    eprintln!(
        "built {} residents in {:.1} s",
        args.cases,
        building.elapsed().as_secs_f64()
    );
    let mut rng = StdRng::seed_from_u64(args.seed);
    let teams: Vec<String> = vec!["r".into()];
    // A consultant of Oss: the chain's rule is part of what a search costs.
    let bench_org = doorloop_engine::store::OrgFilter {
        organisation: "Oss".into(),
        municipality: true,
    };
    let mut report = Vec::new();
    for (kind, as_consultant) in [
        ("name", false),
        ("name", true),
        ("reference", false),
        ("birth_date", false),
        ("bsn", false),
    ] {
        let mut times = Vec::with_capacity(1000);
        let mut found = 0usize;
        for _ in 0..1000 {
            let i = rng.random_range(0..args.cases) as usize;
            let person = doorloop_engine::demo::people::resident(i);
            let q = match kind {
                "name" => {
                    let words = doorloop_engine::resident::name_words(&person.family_name);
                    let w = words.last().cloned().unwrap_or_default();
                    w[..w.len().min(rng.random_range(2..5))].to_owned()
                }
                "reference" => format!("DL-{}", rng.random_range(1..=args.cases)),
                "birth_date" => person
                    .birth_date
                    .map(|d| d.format("%d-%m-%Y").to_string())
                    .unwrap_or_default(),
                _ => person
                    .bsn
                    .as_ref()
                    .map(|b| b.expose().to_owned())
                    .unwrap_or_default(),
            };
            let who = format!("consulent-{}", i % 50);
            let viewer = as_consultant.then(|| Viewer {
                user: Some(&who),
                teams: &teams,
                organisation: Some(&bench_org),
            });
            let t = Instant::now();
            let (_, hits) = engine.find_residents(&q, viewer).await?;
            times.push(t.elapsed().as_micros() as u64);
            found += hits.len();
        }
        times.sort_unstable();
        let pct = |p: f64| {
            times[((times.len() as f64 * p).ceil() as usize)
                .saturating_sub(1)
                .min(times.len() - 1)]
        };
        report.push(format!(
            "{kind}{}: p50_us={} p95_us={} p99_us={} results_per_search={:.1}",
            if as_consultant { " (consultant)" } else { "" },
            pct(0.50),
            pct(0.95),
            pct(0.99),
            found as f64 / 1000.0
        ));
    }
    println!("residents={} searches=1000 per kind", args.cases);
    for line in report {
        println!("  {line}");
    }
    Ok(())
}
