//! Canary personal data — a resident's name, a BSN that passes the 11-proef and a sentence
//! about a diagnosis — pushed through the API of a running `doorloop serve` that logs at
//! debug level: none of it may reach the process's logs or its metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::{BSN_KEY, doorloop_env, free_port, wait_for_port};

const GIVEN: &str = "Kanariena";
const FAMILY: &str = "Vogelzang-Canarius";
/// 9·1 + 8·2 + 7·3 + 6·4 + 5·5 + 4·6 + 3·7 + 2·8 − 1·2 = 154 = 14 × 11.
const BSN: &str = "123456782";
const DIAGNOSIS: &str = "Diagnose kanarievogelsyndroom met paniekstoornis";

/// The server, killed when the test ends however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A call that must be answered; the body as text.
async fn call(port: u16, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let (status, body) = common::call(port, token, method, path, body)
        .await
        .expect("an answer");
    let text = match body {
        Value::String(text) => text,
        other => other.to_string(),
    };
    (status, text)
}

#[test]
fn canary_personal_data_never_reaches_logs_or_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("canary.db").display());
    let run = |args: &[&str]| doorloop_env(&url, dir.path(), args, &[("DOORLOOP_RESIDENT_BSN", BSN)]);
    common::region_with_pathways(&url, dir.path());
    run(&[
        "user",
        "add",
        "bert",
        "--role",
        "consultant",
        "--team",
        "ambulant-begeleider",
    ]);
    let token = common::api_token(&url, dir.path(), "bert");
    let reference = run(&[
        "resident",
        "add",
        "--given-name",
        GIVEN,
        "--family-name",
        FAMILY,
        "--municipality",
        "Oss",
        "--bsn-from-env",
    ])
    .split_whitespace()
    .next()
    .expect("a reference")
    .to_owned();
    let case = run(&[
        "case",
        "start",
        "van-zorg-naar-werk",
        "--resident",
        &reference,
        "--by",
        "bert",
    ])
    .trim()
    .to_owned();

    let port = free_port();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(dir.path())
            .env("DOORLOOP_DATABASE_URL", &url)
            .env("DOORLOOP_BSN_KEY", BSN_KEY)
            .env("DOORLOOP_LOG", "debug")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = rt.block_on(async {
        let (status, found) = call(port, &token, "GET", "/api/v1/residents?q=kanariena", None).await;
        assert_eq!(status, 200, "{found}");
        assert!(found.contains(FAMILY), "the search finds her: {found}");
        let found: Value = serde_json::from_str(&found).unwrap();
        let id = found[0]["id"].as_str().expect("her id").to_owned();
        let (status, shown) = call(port, &token, "GET", &format!("/api/v1/residents/{id}"), None).await;
        assert_eq!(status, 200, "{shown}");
        let (status, bsn) = call(port, &token, "GET", &format!("/api/v1/residents/{id}/bsn"), None).await;
        assert_eq!(status, 200, "{bsn}");
        assert!(bsn.contains(BSN));
        let (status, shown) = call(port, &token, "GET", &format!("/api/v1/cases/{case}"), None).await;
        assert_eq!(status, 200, "{shown}");
        let detail: Value = serde_json::from_str(&shown).unwrap();
        let task = detail["tasks"][0]["task_id"]
            .as_str()
            .expect("an open task")
            .to_owned();
        let (status, done) = call(
            port,
            &token,
            "POST",
            &format!("/api/v1/cases/{case}/tasks/{task}/complete"),
            Some(json!({"data": {"motivatie": DIAGNOSIS, "trede": 2}})),
        )
        .await;
        assert_eq!(status, 200, "{done}");
        let (status, noted) = call(
            port,
            &token,
            "POST",
            &format!("/api/v1/cases/{case}/notes"),
            Some(json!({"kind": "gespreksverslag", "text": DIAGNOSIS})),
        )
        .await;
        assert_eq!(status, 200, "{noted}");
        // Refused requests that carry the same data take the error paths.
        let (status, _) = call(
            port,
            &token,
            "POST",
            &format!("/api/v1/cases/{case}/notes"),
            Some(json!({"kind": "onbekend", "text": DIAGNOSIS})),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = call(
            port,
            &token,
            "POST",
            "/api/v1/residents",
            Some(json!({"given_name": GIVEN, "family_name": FAMILY, "bsn": BSN})),
        )
        .await;
        assert!(status >= 400, "the BSN is taken already");
        let (status, metrics) = call(port, &token, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        metrics
    });
    drop(server);
    let mut logged = String::new();
    std::fs::File::open(&log_path)
        .unwrap()
        .read_to_string(&mut logged)
        .unwrap();
    assert!(
        logged.contains("DEBUG") && logged.contains("/api/v1/cases"),
        "the server logged its requests at debug level:\n{logged}"
    );
    let spaced_bsn = format!("{} {} {}", &BSN[..4], &BSN[4..6], &BSN[6..]);
    for canary in [
        GIVEN,
        FAMILY,
        BSN,
        spaced_bsn.as_str(),
        DIAGNOSIS,
        "kanarievogelsyndroom",
    ] {
        assert!(!logged.contains(canary), "`{canary}` reached the log:\n{logged}");
        assert!(!metrics.contains(canary), "`{canary}` reached the metrics");
    }
}
