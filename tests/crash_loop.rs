//! The crash loop: a load driver pushes cases through a pathway with a deadline and a message
//! from outside, over the API of a `doorloop serve` (with its scheduler) that is killed with
//! SIGKILL at random moments and started again. Afterwards every acknowledged command (a 2xx
//! answer) is in the event log, no transition happened twice, every case driven to its end
//! has ended, and `doorloop check` finds the store clean.
//!
//! The short form (20 kills, 100 cases) runs with the tests; the full one with
//! `DOORLOOP_CRASH_KILLS=200 DOORLOOP_CRASH_CASES=1000 cargo test --release --test crash_loop
//! -- --nocapture` (figures in RELIABILITY.md). On SQLite one `serve`; on PostgreSQL (when
//! `DOORLOOP_TEST_POSTGRES_URL` is set) two `serve --no-scheduler` taking alternate calls
//! and a `worker`, a random one of the three killed each time. The seed is printed; `DOORLOOP_CRASH_SEED`
//! repeats a run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod load;
use common::{FreshDatabase, free_port};
use load::env_or;

fn kills() -> u64 {
    env_or("DOORLOOP_CRASH_KILLS", 20)
}

fn cases() -> u32 {
    u32::try_from(env_or("DOORLOOP_CRASH_CASES", 100)).unwrap_or(100)
}

#[test]
fn acknowledged_work_survives_processes_killed_at_random() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    // One process: serve with its scheduler.
    let port = free_port();
    load::run(
        &url,
        dir.path(),
        &[vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ]],
        &[port],
        load::Plan {
            kills: kills(),
            cases: cases(),
            env: &[],
            log: None,
        },
    );
}

#[test]
fn acknowledged_work_survives_on_postgres_with_two_servers_and_a_worker() {
    let Some(db) = FreshDatabase::create("crash") else {
        return;
    };
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    // Two servers without a scheduler, taking alternate requests, and one worker.
    let (a, b) = (free_port(), free_port());
    let serve = |port: u16| {
        vec![
            "serve".to_owned(),
            "--no-scheduler".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
        ]
    };
    load::run(
        &url,
        dir.path(),
        &[
            serve(a),
            serve(b),
            vec!["worker".into(), "--idle-ms".into(), "100".into()],
        ],
        &[a, b],
        load::Plan {
            kills: kills(),
            cases: cases(),
            env: &[],
            log: None,
        },
    );
}
