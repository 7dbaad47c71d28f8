//! Failpoints: Doorloop made to fail on purpose at the places where a failure is most
//! dangerous — just before a commit, just after it (landed, but nobody told), after the
//! scheduler leased due timers, after the notifier leased outbox rows, and between the SMTP
//! server's 250 and the "sent" mark. Each failpoint runs once set to `panic` and once to
//! `return` (an error), on SQLite, and on PostgreSQL when `DOORLOOP_TEST_POSTGRES_URL` is set.
//! Afterwards nothing acknowledged is lost, nothing happened twice, and `doorloop check` is
//! clean. The failpoints fire on a fixed schedule (`fail`'s `N*off->1*panic` chains), so a run
//! repeats exactly; each run also shows that its failpoint really fired.
//!
//! `every_failpoint_has_a_test` reads the source: a failpoint without a test here fails it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

mod common;
mod load;
#[path = "../notifiers/tests/support/sink.rs"]
mod sink;

use common::{FreshDatabase, free_port};

/// Failpoints on the command path, driven by the load driver of the crash loop.
const COMMAND_POINTS: &[&str] = &["commit_before", "commit_after"];
/// Failpoints of the scheduler, driven by due deadlines.
const TIMER_POINTS: &[&str] = &["scheduler_claim"];
/// Failpoints of the notifier, driven by the messages those deadlines send.
const OUTBOX_POINTS: &[&str] = &["outbox_claim", "outbox_after_send", "outbox_lease_renewal"];
const ACTIONS: &[&str] = &["panic", "return"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `failpoint::hit("…")` in the workspace's sources.
fn failpoints_in_source() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("failpoint::hit(\"").skip(1) {
                    if let Some(name) = part.split('"').next() {
                        found.insert(name.to_owned());
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    for dir in ["src", "engine/src", "notifiers/src", "web-admin/src"] {
        walk(&repo().join(dir), &mut found);
    }
    found
}

#[test]
fn every_failpoint_has_a_test() {
    let tested: BTreeSet<String> = COMMAND_POINTS
        .iter()
        .chain(TIMER_POINTS)
        .chain(OUTBOX_POINTS)
        .map(|p| (*p).to_owned())
        .collect();
    let found = failpoints_in_source();
    assert!(!found.is_empty(), "no failpoint found in the sources");
    let untested: Vec<_> = found.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "failpoints without a test in tests/failpoints.rs: {untested:?}"
    );
    let gone: Vec<_> = tested.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "tested failpoints no longer in the code: {gone:?}"
    );
}

/// `times` failures of `action`, each after `gap` passes that go through.
fn chain(action: &str, gap: u32, times: u32) -> String {
    (0..times)
        .map(|_| format!("{gap}*off->1*{action}"))
        .collect::<Vec<_>>()
        .join("->")
}

// ---- commands: start, complete, message, with the commit failing before or after ----

/// One run of the load driver against a `serve` whose failpoint `point` fails six times
/// with `action`, each after six commits that go through.
fn commands_survive(url: &str, dir: &Path, point: &str, action: &str, label: &str) {
    let log = dir.join("serve.log");
    let port = free_port();
    let failpoints = format!("{point}={}", chain(action, 6, 6));
    let acked = load::run(
        url,
        dir,
        &[vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ]],
        &[port],
        load::Plan {
            kills: 0,
            cases: 20,
            env: &[("FAILPOINTS", &failpoints)],
            log: Some(&log),
        },
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    println!(
        "{label} {point}={action}: {} cases, {} acknowledged commands, {} calls failed or unanswered",
        acked.cases.len(),
        acked.commands,
        acked.unknown
    );
    assert!(
        text.contains(&format!("`{point}` armed")),
        "{point}: the server was not built with failpoints:\n{text}"
    );
    // Without the failpoint every call would have been answered the first time.
    assert!(acked.unknown >= 1, "{point}={action} never fired:\n{text}");
}

#[test]
fn commands_survive_failpoints_on_sqlite() {
    for point in COMMAND_POINTS {
        for action in ACTIONS {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("f.db").display());
            commands_survive(&url, dir.path(), point, action, "SQLite");
        }
    }
}

#[test]
fn commands_survive_failpoints_on_postgres() {
    for point in COMMAND_POINTS {
        for action in ACTIONS {
            let Some(db) = FreshDatabase::create("failpoint") else {
                return;
            };
            let dir = tempfile::tempdir().unwrap();
            commands_survive(&db.url, dir.path(), point, action, "PostgreSQL");
        }
    }
}

// ---- timers and messages: due deadlines fired by a worker, their e-mails sent ----

const KORT: &str = "key: kort\nname: Kort\nroles:\n  r: { name: Consulent }\nsteps:\n  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, name: Gesprek, role: r, deadline: PT1H, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n";
const DUE_CASES: usize = 60;

/// Seeds `DUE_CASES` cases started ten days ago (every deadline due) and a consultant of
/// their team with an e-mail address, who hears of each passed deadline.
fn seed_due_deadlines(url: &str, dir: &Path) {
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
    common::doorloop(
        url,
        dir,
        &[
            "user",
            "add",
            "anna",
            "--role",
            "consultant",
            "--team",
            "r",
            "--email",
            "anna@gemeente.test",
        ],
    );
    let rt = runtime();
    rt.block_on(async {
        let store = doorloop_engine::store::open(url).await.unwrap();
        let engine = doorloop_engine::engine::Engine::new(store, Default::default());
        let then = chrono::Utc::now() - chrono::Duration::days(10);
        engine.publish_yaml(KORT, then).await.unwrap();
        for i in 0..DUE_CASES {
            let input = doorloop_engine::resident::ResidentInput {
                family_name: format!("Proef {i}"),
                ..Default::default()
            };
            let resident = engine.add_resident(&input, then).await.unwrap().id;
            engine
                .start_case("kort", None, "seed", &resident, Default::default(), then)
                .await
                .unwrap();
        }
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Timers still pending, outbox rows not yet sent or dead, and deadline events per case.
fn progress(url: &str) -> (usize, usize, BTreeMap<String, usize>) {
    runtime().block_on(async {
        let store = doorloop_engine::store::open(url).await.unwrap();
        // Pending and unsent first, the events after: a timer that fires between the two
        // reads then shows as fired, never as "none pending and not fired".
        let report = doorloop_engine::check::check(store.as_ref()).await.unwrap();
        let mut unsent = 0;
        for status in ["pending", "sending"] {
            unsent += store.outbox_items(Some(status), u32::MAX).await.unwrap().len();
        }
        let mut per_case = BTreeMap::new();
        for case in store.cases(None, &[], None, u32::MAX).await.unwrap() {
            let events = store.events(&case.id).await.unwrap();
            per_case.insert(
                case.id.clone(),
                events
                    .iter()
                    .filter(|e| e.event.kind.name() == "deadline_passed")
                    .count(),
            );
        }
        (report.pending_timers, unsent, per_case)
    })
}

fn worker_with(url: &str, dir: &Path, smtp: &str, failpoints: &str, log: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_doorloop"))
        .current_dir(dir)
        .env("DOORLOOP_DATABASE_URL", url)
        .env("DOORLOOP_BSN_KEY", common::BSN_KEY)
        .env("FAILPOINTS", failpoints)
        .env_remove("DOORLOOP_LOG")
        .args(["--smtp-url", smtp, "--notify-lease-seconds", "1"])
        .args(extra)
        .args([
            "worker",
            "--idle-ms",
            "50",
            "--lease-seconds",
            "1",
            "--batch",
            "10",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .expect("start doorloop worker")
}

/// A database URL for a run (and the PostgreSQL schema, dropped with it); `None` skips.
type Target = Option<(String, Option<FreshDatabase>)>;

fn worker_survives(url_for: &dyn Fn(&Path) -> Target, label: &str) {
    if !smtp_sink_or_skip() {
        return;
    }
    for point in TIMER_POINTS.iter().chain(OUTBOX_POINTS) {
        for action in ACTIONS {
            let dir = tempfile::tempdir().unwrap();
            let Some((url, _db)) = url_for(dir.path()) else {
                return;
            };
            seed_due_deadlines(&url, dir.path());
            // Lease renewal happens in a pass that lasts: a server taking 100 ms a message,
            // four at a time, makes the pass of 60 about 1.5 s against a 1 s lease.
            let renewal = *point == "outbox_lease_renewal";
            let smtp = sink::SmtpSink::start_slow(true, if renewal { 100 } else { 0 });
            let log = dir.path().join("worker.log");
            let failpoints = format!("{point}={}", chain(action, 1, 3));
            let extra: &[&str] = if renewal {
                &["--notify-concurrency", "4"]
            } else {
                &[]
            };
            let mut child = worker_with(&url, dir.path(), &smtp.url(), &failpoints, &log, extra);
            let started = Instant::now();
            let (pending, unsent, per_case) = loop {
                std::thread::sleep(Duration::from_millis(300));
                let (pending, unsent, per_case) = progress(&url);
                if pending == 0 && unsent == 0 {
                    break (pending, unsent, per_case);
                }
                if started.elapsed() > Duration::from_secs(60) {
                    break (pending, unsent, per_case);
                }
            };
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let received = smtp.messages();
            // Every key went out under one Message-ID, however often it went out.
            let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for m in &received {
                ids.entry(m["key"].as_str().unwrap_or_default().to_owned())
                    .or_default()
                    .insert(m["message_id"].as_str().unwrap_or_default().to_owned());
            }
            let copies = received.len() - ids.len();
            println!(
                "{label} {point}={action}: {} deadlines fired, {} e-mails received for {} messages ({copies} copies) in {:.1} s",
                per_case.values().sum::<usize>(),
                received.len(),
                ids.len(),
                started.elapsed().as_secs_f64()
            );
            assert_eq!(pending, 0, "{point}={action}: timers left pending\n{text}");
            if unsent > 0 {
                let rows = runtime().block_on(async {
                    let store = doorloop_engine::store::open(&url).await.unwrap();
                    let mut rows = Vec::new();
                    for status in ["pending", "sending"] {
                        for r in store.outbox_items(Some(status), u32::MAX).await.unwrap() {
                            rows.push(format!(
                                "{} {} {:?} attempts {} next {} error {:?}",
                                r.key, r.status, r.channel, r.attempts, r.next_attempt_at, r.last_error
                            ));
                        }
                    }
                    rows.join("\n")
                });
                panic!("{point}={action}: {unsent} messages left unsent:\n{rows}\n{text}");
            }
            assert_eq!(per_case.len(), DUE_CASES);
            for (case, n) in &per_case {
                assert_eq!(
                    *n, 1,
                    "{point}={action}: case {case} passed its deadline {n} times"
                );
            }
            assert!(ids.len() >= DUE_CASES, "{point}={action}: {} messages", ids.len());
            for (key, set) in &ids {
                assert_eq!(set.len(), 1, "{point}={action}: {key} went out as {set:?}");
            }
            // It fired: a panic's message or the error names the failpoint.
            assert!(
                text.contains(&format!("failpoint {point}")),
                "{point}={action} never fired:\n{text}"
            );
            if *point == "outbox_after_send" {
                assert!(copies >= 1, "sent but not marked: the copy went out again");
            }
            let checked = common::doorloop(&url, dir.path(), &["check"]);
            assert!(checked.contains("no violations"), "{point}={action}:\n{checked}");
        }
    }
}

#[test]
fn the_worker_survives_failpoints_on_sqlite() {
    worker_survives(
        &|dir| Some((format!("sqlite://{}", dir.join("w.db").display()), None)),
        "SQLite",
    );
}

#[test]
fn the_worker_survives_failpoints_on_postgres() {
    worker_survives(
        &|_| FreshDatabase::create("failworker").map(|db| (db.url.clone(), Some(db))),
        "PostgreSQL",
    );
}

/// Killed mid-pass, the notifier sends again only what was in flight: each delivery is
/// marked sent as soon as the server took it, not when the whole pass is done.
#[test]
fn a_worker_killed_mid_pass_sends_again_only_what_was_in_flight() {
    if !smtp_sink_or_skip() {
        return;
    }
    let (dir, url) = due_deadlines_on_sqlite();
    // 50 ms a message, two at a time: the pass takes over a second.
    let smtp = sink::SmtpSink::start_slow(true, 50);
    let log = dir.path().join("worker.log");
    let in_flight = 2;
    let concurrency = in_flight.to_string();
    let extra = ["--notify-concurrency", concurrency.as_str()];
    let mut child = worker_with(&url, dir.path(), &smtp.url(), "", &log, &extra);
    let received = smtp.wait_for_blocking(20, Duration::from_secs(30)).len();
    let _ = child.kill();
    let _ = child.wait();
    let marked = runtime().block_on(async {
        let store = doorloop_engine::store::open(&url).await.unwrap();
        store.outbox_items(Some("sent"), u32::MAX).await.unwrap().len()
    });
    let got_at_kill = smtp.messages().len();
    println!("killed after {got_at_kill} e-mails taken ({received} seen), {marked} outbox rows marked sent");
    let mut child = worker_with(&url, dir.path(), &smtp.url(), "", &log, &extra);
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (pending, unsent, _) = progress(&url);
        if pending == 0 && unsent == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not done in 60 s");
    }
    let _ = child.kill();
    let _ = child.wait();
    let received = smtp.messages();
    let (messages, copies) = messages_and_copies(&received);
    println!(
        "after the restart: {} e-mails for {} messages, {copies} sent twice",
        received.len(),
        messages
    );
    assert!(messages >= DUE_CASES, "{messages} messages");
    assert!(
        copies <= in_flight,
        "{copies} copies: more went out again than were in flight at the kill ({in_flight})"
    );
    let checked = common::doorloop(&url, dir.path(), &["check"]);
    assert!(checked.contains("no violations"), "{checked}");
}

/// A pass that lasts longer than its lease keeps its rows: it renews the lease while it
/// sends, so a second worker does not take them over and send them again.
#[test]
fn a_slow_pass_renews_its_lease_and_nothing_goes_out_twice() {
    if !smtp_sink_or_skip() {
        return;
    }
    let (dir, url) = due_deadlines_on_sqlite();
    // 50 ms a message, one at a time: a pass of 60 takes 3 s against a 1 s lease.
    let smtp = sink::SmtpSink::start_slow(true, 50);
    let extra = ["--notify-concurrency", "1"];
    let mut first = worker_with(
        &url,
        dir.path(),
        &smtp.url(),
        "",
        &dir.path().join("1.log"),
        &extra,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut second = worker_with(
        &url,
        dir.path(),
        &smtp.url(),
        "",
        &dir.path().join("2.log"),
        &extra,
    );
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (pending, unsent, _) = progress(&url);
        if pending == 0 && unsent == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not done in 60 s");
    }
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let received = smtp.messages();
    let (messages, copies) = messages_and_copies(&received);
    println!(
        "two workers, a pass longer than the lease: {} e-mails for {} messages, {copies} twice, in {:.1} s",
        received.len(),
        messages,
        started.elapsed().as_secs_f64()
    );
    assert!(messages >= DUE_CASES);
    assert_eq!(copies, 0, "rows whose lease ran out mid-pass went out twice");
    let checked = common::doorloop(&url, dir.path(), &["check"]);
    assert!(checked.contains("no violations"), "{checked}");
}

/// Whether the SMTP test server can run; without it the test is skipped, saying so (and
/// fails when `DOORLOOP_REQUIRE_SMTP` is set, as in `.ci/run`).
fn smtp_sink_or_skip() -> bool {
    if sink::available() {
        return true;
    }
    assert!(
        std::env::var_os("DOORLOOP_REQUIRE_SMTP").is_none(),
        "DOORLOOP_REQUIRE_SMTP is set but aiosmtpd is missing"
    );
    println!("NOTE: skipped: no aiosmtpd (python3-aiosmtpd)");
    false
}

/// The distinct messages (by `X-Doorloop-Key`) among the e-mails received, and how many
/// e-mails were copies of one already received.
fn messages_and_copies(received: &[serde_json::Value]) -> (usize, usize) {
    let keys: BTreeSet<&str> = received
        .iter()
        .map(|m| m["key"].as_str().unwrap_or_default())
        .collect();
    (keys.len(), received.len() - keys.len())
}

/// A SQLite database in a directory of its own with `DUE_CASES` deadlines due.
fn due_deadlines_on_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    seed_due_deadlines(&url, dir.path());
    (dir, url)
}
