//! The load driver shared by the crash loop and the failpoint runs: clients push cases
//! through a pathway with a deadline, a joint visit and a message from outside (register a
//! resident, start the case, complete a task, plan the joint visit and record its outcome,
//! send the message that ends the wait) over the API of
//! `doorloop serve`, retrying every call that got no answer; afterwards it checks that every
//! acknowledged command is in the event log exactly once, every case driven to its end has
//! ended, and `doorloop check` finds the store clean.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::common;
use crate::common::BSN_KEY;

pub const PATHWAY: &str = r#"
key: crashproef
name: Crashproef
roles:
  r: { name: Consulent }
  j: { name: Jobcoach }
steps:
  - { id: start, kind: start, next: a }
  - id: a
    kind: task
    name: Eerste gesprek
    role: r
    deadline: 1 werkdagen
    fields:
      - { name: n, type: integer, required: true }
    next: b
  - { id: b, kind: joint_visit, name: Gezamenlijk gesprek, roles: [r, j], next: c }
  - id: c
    kind: wait
    name: Besluit
    role: r
    party: UWV
    expected: 1 weken
    message: besluit
    next: einde
  - { id: einde, kind: end, outcome: overig }
"#;

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One Doorloop process of the run: `serve` on a port, or the `worker`.
pub struct Server {
    child: Option<Child>,
    dir: std::path::PathBuf,
    url: String,
    args: Vec<String>,
    /// Extra environment (the failpoints), and the file its standard error goes to.
    env: Vec<(String, String)>,
    log: Option<std::path::PathBuf>,
}

impl Server {
    pub fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(&self.dir)
            .env("DOORLOOP_DATABASE_URL", &self.url)
            .env("DOORLOOP_BSN_KEY", BSN_KEY)
            .env_remove("DOORLOOP_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(match &self.log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("log file"),
                ),
                None => Stdio::null(),
            })
            .spawn()
            .expect("start doorloop serve");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut off.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the server acknowledged.
#[derive(Default)]
pub struct Acked {
    /// Case id → the steps whose completion was acknowledged, and whether its message was.
    pub cases: BTreeMap<String, (BTreeSet<String>, bool)>,
    pub commands: u32,
    pub unknown: u32,
}

/// Repeats a call until it gets an answer (the server may be down for a moment).
async fn answered(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
    acked: &Mutex<Acked>,
) -> (u16, Value) {
    let started = Instant::now();
    loop {
        if let Some(answer) =
            common::call(port, token, method, path, (!body.is_null()).then(|| body.clone())).await
            && answer.0 < 500
        {
            return answer;
        }
        acked.lock().await.unknown += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{method} {path}: no answer for a minute"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn drive_case(ports: &[u16], token: &str, i: u32, acked: &Mutex<Acked>) {
    // The servers take turns: calls of one case go to alternating processes.
    let turn = std::sync::atomic::AtomicUsize::new(i as usize);
    let port = || ports[turn.fetch_add(1, Ordering::Relaxed) % ports.len()];
    let (status, resident) = answered(
        port(),
        token,
        "POST",
        "/api/v1/residents",
        json!({"given_name": "Proef", "family_name": format!("Inwoner {i}"), "municipality": "Oss"}),
        acked,
    )
    .await;
    assert_eq!(status, 201, "{resident}");
    let resident = resident["id"].as_str().unwrap().to_owned();
    // Started again after no answer with the same Idempotency-Key: one case, whichever answer
    // arrives (201 the first time, 200 for a start that had landed).
    let key = format!("crash-{i}");
    let started = Instant::now();
    let (status, case) = loop {
        let body = json!({"pathway": "crashproef", "resident": resident});
        if let Some(answer) = common::call_with(
            port(),
            token,
            "POST",
            "/api/v1/cases",
            Some(body),
            &[("idempotency-key", &key)],
        )
        .await
            && answer.0 < 500
        {
            break answer;
        }
        acked.lock().await.unknown += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no start for a minute"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert!(status == 201 || status == 200, "{status}: {case}");
    let case = case["id"].as_str().unwrap().to_owned();
    {
        let mut a = acked.lock().await;
        a.commands += 1;
        a.cases.insert(case.clone(), (BTreeSet::new(), false));
    }
    for (step, data) in [("a", json!({"n": i})), ("b", json!({}))] {
        // The open task of that step (what came before was acknowledged, so it is open).
        let (status, detail) = answered(
            port(),
            token,
            "GET",
            &format!("/api/v1/cases/{case}"),
            Value::Null,
            acked,
        )
        .await;
        assert_eq!(status, 200, "{detail}");
        let task = detail["tasks"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["step"] == step))
            .and_then(|t| t["task_id"].as_str())
            .unwrap_or_else(|| panic!("case {case}: no open task at {step}: {detail}"))
            .to_owned();
        if step == "b" {
            // A joint visit: planned first (again after a lost answer: the same plan), then
            // its outcome recorded.
            // 409 `case_changed` says: reload and try again; reloaded, a plan that had
            // landed shows on the task.
            let at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
            loop {
                let (status, out) = answered(
                    port(),
                    token,
                    "POST",
                    &format!("/api/v1/cases/{case}/tasks/{task}/visit"),
                    json!({"at": at, "place": "Wijkcentrum", "participants": ["anna"]}),
                    acked,
                )
                .await;
                if status == 200 {
                    break;
                }
                assert_eq!(
                    (status, out["code"].as_str()),
                    (409, Some("case_changed")),
                    "{out}"
                );
                let (_, detail) = answered(
                    port(),
                    token,
                    "GET",
                    &format!("/api/v1/cases/{case}"),
                    Value::Null,
                    acked,
                )
                .await;
                let planned = detail["tasks"]
                    .as_array()
                    .and_then(|ts| ts.iter().find(|t| t["task_id"] == task.as_str()))
                    .is_some_and(|t| !t["visit_at"].is_null());
                if planned {
                    break;
                }
            }
            acked.lock().await.commands += 1;
        }
        let (status, out) = answered(
            port(),
            token,
            "POST",
            &format!("/api/v1/cases/{case}/tasks/{task}/complete"),
            json!({ "data": data }),
            acked,
        )
        .await;
        // 409: it had landed before the crash; the retry is told so, and does nothing.
        assert!(status == 200 || status == 409, "{status}: {out}");
        let mut a = acked.lock().await;
        a.commands += 1;
        a.cases.get_mut(&case).unwrap().0.insert(step.to_owned());
    }
    let (status, out) = answered(
        port(),
        token,
        "POST",
        "/api/v1/messages",
        json!({"name": "besluit", "id": format!("besluit-{case}"), "case": case}),
        acked,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let mut a = acked.lock().await;
    a.commands += 1;
    a.cases.get_mut(&case).unwrap().1 = true;
}

/// Runs the loop against the processes `processes` (their arguments), the drivers calling
/// the servers on `ports` in turn, and checks what must hold afterwards.
/// How a run goes: `kills` processes killed at random moments, at least `cases` cases, `env`
/// given to each process, whose standard error goes to `log` when set.
pub struct Plan<'a> {
    pub kills: u64,
    pub cases: u32,
    pub env: &'a [(&'a str, &'a str)],
    pub log: Option<&'a std::path::Path>,
}

/// Runs the plan; returns what was acknowledged.
pub fn run(
    url: &str,
    dir: &std::path::Path,
    processes: &[Vec<String>],
    ports: &[u16],
    plan: Plan<'_>,
) -> Acked {
    let Plan {
        kills,
        cases,
        env,
        log,
    } = plan;
    let seed = env_or(
        "DOORLOOP_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
    );
    println!(
        "load run on {}: seed {seed} (DOORLOOP_CRASH_SEED={seed} repeats it), {kills} kills of {} processes, {cases} cases",
        url.split(':').next().unwrap_or_default(),
        processes.len()
    );
    let file = dir.join("crashproef.yaml");
    std::fs::write(&file, PATHWAY).unwrap();
    common::doorloop(
        url,
        dir,
        &[
            "organisation",
            "add",
            "Oss",
            "--name",
            "Gemeente Oss",
            "--kind",
            "gemeente",
        ],
    );
    common::doorloop(url, dir, &["publish", &file.display().to_string()]);
    common::doorloop(
        url,
        dir,
        &["user", "add", "anna", "--role", "consultant", "--team", "r"],
    );
    let token = common::api_token(url, dir, "anna");
    let servers: Vec<Arc<std::sync::Mutex<Server>>> = processes
        .iter()
        .map(|args| {
            let mut s = Server {
                child: None,
                dir: dir.to_owned(),
                url: url.to_owned(),
                args: args.clone(),
                env: env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                log: log.map(std::path::Path::to_owned),
            };
            s.start();
            Arc::new(std::sync::Mutex::new(s))
        })
        .collect();
    let ports: Arc<Vec<u16>> = Arc::new(ports.to_vec());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let started = Instant::now();
    let killed = rt.block_on(async {
        // The drivers go on past `cases` until every kill has happened.
        let killing = Arc::new(AtomicBool::new(true));
        let killer = {
            let servers = servers.clone();
            let killing = killing.clone();
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                for _ in 0..kills {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(50..250))).await;
                    let victim = rng.random_range(0..servers.len());
                    let mut s = servers[victim].lock().unwrap();
                    s.kill();
                    s.start();
                }
                killing.store(false, Ordering::Relaxed);
                kills
            })
        };
        let next = Arc::new(AtomicU32::new(0));
        let mut drivers = Vec::new();
        for _ in 0..8 {
            let (acked, next, token, killing, ports) = (
                acked.clone(),
                next.clone(),
                token.clone(),
                killing.clone(),
                ports.clone(),
            );
            drivers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= cases && !killing.load(Ordering::Relaxed) {
                        break;
                    }
                    drive_case(&ports, &token, i, &acked).await;
                }
            }));
        }
        for d in drivers {
            d.await.unwrap();
        }
        killer.await.unwrap()
    });
    for s in &servers {
        s.lock().unwrap().kill();
    }
    let elapsed = started.elapsed();

    // Every acknowledged command is in the log, once; every case driven to its end ended.
    let acked: Acked = rt.block_on(async { std::mem::take(&mut *acked.lock().await) });
    let store = rt.block_on(doorloop_engine::store::open(url)).unwrap();
    let mut problems = Vec::new();
    rt.block_on(async {
        for (case, (steps, message)) in &acked.cases {
            let events = store.events(case).await.unwrap();
            let completed = |step: &str| {
                events
                    .iter()
                    .filter(|e| {
                        matches!(&e.event.kind, doorloop_engine::runtime::EventKind::TaskCompleted { step: s, .. } if s == step)
                    })
                    .count()
            };
            for step in steps {
                if completed(step) != 1 {
                    problems.push(format!("case {case}: step {step} acknowledged, completed {} times", completed(step)));
                }
            }
            let received = events
                .iter()
                .filter(|e| e.event.kind.name() == "message_received")
                .count();
            if *message && received != 1 {
                problems.push(format!("case {case}: message acknowledged, received {received} times"));
            }
            let state = store.load_case(case).await.unwrap().unwrap();
            if *message && state.status.as_str() != "ended" {
                problems.push(format!("case {case}: driven to its end but {}", state.status.as_str()));
            }
        }
    });
    drop(store);
    let checked = common::doorloop(url, dir, &["check"]);
    println!(
        "load run: {killed} kills in {:.1} s; {} cases, {} acknowledged commands, {} calls without an answer; {}",
        elapsed.as_secs_f64(),
        acked.cases.len(),
        acked.commands,
        acked.unknown,
        checked.lines().next().unwrap_or_default()
    );
    assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    assert!(checked.contains("no violations"), "seed {seed}:\n{checked}");
    assert!(acked.cases.len() as u32 >= cases, "{} cases", acked.cases.len());
    // Starts carry an idempotency key: no case beyond those acknowledged.
    assert!(
        checked.contains(&format!("checked {} cases", acked.cases.len())),
        "{checked}"
    );
    assert_eq!(killed, kills);
    acked
}
