//! Upgrading in place: a database written by the demo of the commit this round began from
//! (b26f706; `tests/fixtures/upgrade/`, made as its README says) is opened by this build.
//! Its migrations run, every case, task, timer, outbox row, user and access-log row is still
//! there and consistent (`doorloop check`), a task can still be completed and a due timer
//! still fires. On SQLite always; on PostgreSQL when `DOORLOOP_TEST_POSTGRES_URL` is set (as
//! `.ci/run` does), from a plain SQL dump restored into a fresh database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;
use common::FreshDatabase;

/// What the fixture holds, counted when it was made (see its README).
const CASES: usize = 57;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn ok(url: &str, dir: &Path, args: &[&str]) -> String {
    common::doorloop(url, dir, args)
}

/// Everything the new build must find and be able to do in the old database.
fn works_after_the_upgrade(url: &str, dir: &Path) {
    // Migrations run on opening; the store is consistent.
    let checked = ok(url, dir, &["check"]);
    assert!(
        checked.contains(&format!("checked {CASES} cases")) && checked.contains("no violations"),
        "{checked}"
    );
    let counts = |text: &str, what: &str| -> usize {
        text.split(", ")
            .find_map(|p| p.trim().strip_suffix(what).map(str::trim))
            .and_then(|n| n.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` in {text}"))
    };
    let line = checked.lines().next().unwrap_or_default().to_owned();
    assert!(counts(&line, "open tasks") > 0, "{line}");
    assert!(counts(&line, "pending timers") > 0, "{line}");
    assert!(counts(&line, "outbox rows") > 0, "{line}");
    // Users and the access log written before the chain: still there, reported as such.
    let users = ok(url, dir, &["user", "list"]);
    assert!(
        users.contains("wmo-consulent-1") && users.contains("beheerder"),
        "{users}"
    );
    let verified = ok(url, dir, &["access-log", "verify"]);
    assert!(
        !verified.contains("(0 from before the chain)") && verified.contains("the chain is whole"),
        "{verified}"
    );
    // New access-log rows continue as a chain after the old ones.
    ok(url, dir, &["resident", "find", "sjaak bosch"]);
    let verified = ok(url, dir, &["access-log", "verify"]);
    assert!(verified.contains("the chain is whole"), "{verified}");
    // A task of an old case can still be completed.
    let tasks = ok(url, dir, &["tasks", "--role", "klantmanager"]);
    let line = tasks
        .lines()
        .find(|l| l.contains("uitkering_afstemmen"))
        .unwrap_or_else(|| panic!("an open uitkering_afstemmen task in:\n{tasks}"));
    let case = line
        .split_whitespace()
        .find(|w| w.len() == 36 && w.chars().filter(|c| *c == '-').count() == 4)
        .unwrap_or_else(|| panic!("a case id in: {line}"));
    let done = ok(
        url,
        dir,
        &[
            "case",
            "complete",
            case,
            "uitkering_afstemmen",
            "--by",
            "klantmanager-1",
        ],
    );
    assert!(done.contains("completed uitkering_afstemmen"), "{done}");
    // Pending timers fire when due: a worker whose clock runs a year ahead finds them all due.
    let before = ok(url, dir, &["check"]);
    let fired = ok(
        url,
        dir,
        &[
            "worker",
            "--until-idle",
            "--idle-ms",
            "50",
            "--clock-offset-seconds",
            "31536000",
        ],
    );
    let after = ok(url, dir, &["check"]);
    let first = |t: &str| t.lines().next().unwrap_or_default().to_owned();
    assert!(after.contains("no violations"), "{fired}\n{after}");
    assert!(
        counts(&first(&after), "events") > counts(&first(&before), "events"),
        "timers fired and were recorded:\n{before}\n{after}"
    );
}

#[test]
fn a_sqlite_database_of_the_previous_version_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("doorloop.db");
    std::fs::copy(fixtures().join("b26f706-demo.db"), &db).unwrap();
    let url = format!("sqlite://{}", db.display());
    works_after_the_upgrade(&url, dir.path());
}

#[test]
fn a_postgres_database_of_the_previous_version_upgrades_in_place() {
    let Some(db) = FreshDatabase::create("upgrade") else {
        return;
    };
    let url = db.url.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dump = std::fs::read_to_string(fixtures().join("b26f706-demo.pg.sql")).unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&dump).execute(&mut conn).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    works_after_the_upgrade(&url, dir.path());
}
