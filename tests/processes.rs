//! Two `doorloop serve` processes behind one PostgreSQL, as a municipality runs them behind a
//! load balancer: login throttling counts the attempts made at either, and an account
//! deactivated through one is out of both on its next request. Runs when
//! `DOORLOOP_TEST_POSTGRES_URL` is set (as `.ci/run` does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{FreshDatabase, doorloop, free_port, log_in, page, serve, try_log_in};

#[test]
fn throttling_and_deactivation_hold_across_processes() {
    let Some(db) = FreshDatabase::create("processes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::region_with_pathways(&db.url, d);
    let password = |name: &str| {
        common::password_of(&doorloop(
            &db.url,
            d,
            &[
                "user",
                "add",
                name,
                "--role",
                "consultant",
                "--team",
                "ambulant-begeleider",
            ],
        ))
    };
    let bert = password("bert");
    let carla = password("carla");
    let (a, b) = (free_port(), free_port());
    // Both schedulers off: this is about the web layer.
    let _first = serve(&db.url, d, a, &["--no-scheduler"]);
    let _second = serve(&db.url, d, b, &["--no-scheduler"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Five wrong passwords for carla, alternating between the processes: each is
        // refused as wrong (401, the form again); the sixth, at either, is throttled.
        for i in 0..5 {
            let port = if i % 2 == 0 { a } else { b };
            let (status, _) = try_log_in(port, "carla", "fout-wachtwoord").await;
            assert_eq!(status, 401, "wrong password {i}: the form again");
        }
        for port in [a, b] {
            let (status, _) = try_log_in(port, "carla", &carla).await;
            assert_eq!(
                status, 429,
                "throttled at :{port} after five tries spread over both"
            );
        }
        let (_, _, html) = page(a, "", "GET", "/inloggen", None).await;
        assert!(html.contains("Inloggen"), "the login page itself still shows");

        // Bert logs in at the first and works at both (the session is in the database).
        let session = log_in(a, "bert", &bert).await;
        for port in [a, b] {
            assert_eq!(page(port, &session, "GET", "/taken", None).await.0, 200);
        }
        // Deactivated through the store (another process, an admin's screen): out of both
        // on the next request, not after a cache's term.
        let store = doorloop_engine::store::open(&db.url).await.unwrap();
        let user = store.user("bert").await.unwrap().unwrap();
        store
            .set_rights("bert", user.role, &user.teams, None, false)
            .await
            .unwrap();
        for port in [b, a] {
            let (status, _, _) = page(port, &session, "GET", "/taken", None).await;
            assert_eq!(status, 303, "deactivated bert is sent to the login at :{port}");
        }
        let (status, _) = try_log_in(b, "bert", &bert).await;
        assert_eq!(status, 401, "a deactivated account cannot log in");
    });
}
