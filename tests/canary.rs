//! Canary personal data — a resident's name, a BSN that passes the 11-proef and a sentence
//! about a diagnosis — pushed through the API of a running `doorloop serve` that logs at
//! debug level, sends e-mail to a real SMTP server and events to a webhook: none of it may
//! reach the process's logs, its metrics, the e-mails, the webhook's payloads or the
//! bodies of refused requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{BSN_KEY, doorloop_env, free_port, wait_for_port};
#[path = "../notifiers/tests/support/sink.rs"]
mod sink;

/// Receives webhook calls on a port of its own; keeps their bodies.
fn webhook_receiver(rt: &tokio::runtime::Runtime) -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

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
fn canary_personal_data_never_reaches_logs_metrics_messages_or_errors() {
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
        "--email",
        "bert@gemeente.test",
    ]);
    let bert_password = common::password_of(&run(&["user", "password", "bert"]));
    // The intake's team hears of its task by e-mail.
    run(&[
        "user",
        "add",
        "wim",
        "--role",
        "consultant",
        "--team",
        "wmo-consulent",
        "--email",
        "wim@gemeente.test",
    ]);
    let token = common::api_token(&url, dir.path(), "bert");
    let wim = common::api_token(&url, dir.path(), "wim");
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

    if !sink::available() {
        assert!(
            std::env::var_os("DOORLOOP_REQUIRE_SMTP").is_none(),
            "DOORLOOP_REQUIRE_SMTP is set but aiosmtpd is missing"
        );
        println!("NOTE: the canary test was skipped: no aiosmtpd (python3-aiosmtpd)");
        return;
    }
    let smtp = sink::SmtpSink::start(false);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (hook_port, hooks) = webhook_receiver(&rt);
    let port = free_port();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(dir.path())
            .env("DOORLOOP_DATABASE_URL", &url)
            .env("DOORLOOP_BSN_KEY", BSN_KEY)
            .env("DOORLOOP_LOG", "debug")
            .env("DOORLOOP_WEBHOOK_SECRET", "een-lang-gedeeld-geheim-voor-de-test")
            .args([
                "--smtp-url",
                &smtp.url(),
                "--webhook-url",
                &format!("http://127.0.0.1:{hook_port}/hook"),
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);

    let mut refusals = Vec::new();
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
        let done: Value = serde_json::from_str(&done).unwrap();
        let task_after = done["tasks"][0]["task_id"]
            .as_str()
            .expect("the next task")
            .to_owned();
        let (status, noted) = call(
            port,
            &token,
            "POST",
            &format!("/api/v1/cases/{case}/notes"),
            Some(json!({"kind": "gespreksverslag", "text": DIAGNOSIS})),
        )
        .await;
        assert_eq!(status, 200, "{noted}");
        // A joint visit: invitations by e-mail (with the agenda file) to both.
        let at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let (status, planned) = call(
            port,
            &wim,
            "POST",
            &format!("/api/v1/cases/{case}/tasks/{task_after}/visit"),
            Some(json!({"at": at, "place": "Wijkcentrum De Schakel", "participants": ["bert", "wim"]})),
        )
        .await;
        assert_eq!(status, 200, "{planned}");
        // Refused requests that carry the same data take the error paths.
        let (status, refused) = call(
            port,
            &token,
            "POST",
            &format!("/api/v1/cases/{case}/notes"),
            Some(json!({"kind": "onbekend", "text": DIAGNOSIS})),
        )
        .await;
        assert_eq!(status, 400);
        refusals.push(refused);
        let (status, refused) = call(
            port,
            &token,
            "POST",
            "/api/v1/residents",
            Some(json!({"given_name": GIVEN, "family_name": FAMILY, "bsn": BSN})),
        )
        .await;
        assert!(status >= 400, "the BSN is taken already");
        refusals.push(refused);
        // A wrong type next to the data, a BSN that fails the 11-proef, a task's data of
        // the wrong kind, an unknown resident searched by BSN: each refused, none echoing.
        for (path, body) in [
            (
                "/api/v1/residents".to_owned(),
                json!({"given_name": GIVEN, "family_name": FAMILY, "bsn": "123456789"}),
            ),
            (
                "/api/v1/residents".to_owned(),
                json!({"given_name": GIVEN, "family_name": 7, "email": DIAGNOSIS}),
            ),
            (
                format!("/api/v1/cases/{case}/notes"),
                json!({"kind": 5, "text": DIAGNOSIS, "by": BSN}),
            ),
        ] {
            let (status, refused) = call(port, &token, "POST", &path, Some(body)).await;
            assert!((400..500).contains(&status), "{status} {refused}");
            refusals.push(refused);
        }
        let (status, refused) = call(port, &token, "GET", &format!("/api/v1/residents/{BSN}"), None).await;
        assert_eq!(status, 404, "{refused}");
        refusals.push(refused);
        // The screens' error pages, for a logged-in consultant, do not echo what was asked.
        let session = common::log_in(port, "bert", &bert_password).await;
        for path in [
            format!("/inwoners/{BSN}"),
            format!("/casussen/{BSN}"),
            format!("/casussen/{case}/taken/{}", DIAGNOSIS.replace(' ', "%20")),
        ] {
            let (status, _, html) = common::page(port, &session, "GET", &path, None).await;
            assert!((400..500).contains(&status), "{path}: {status}");
            refusals.push(html);
        }
        let (status, metrics) = call(port, &token, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        metrics
    });
    // The messages this work caused: the task for bert's team by e-mail, every event to
    // the webhook.
    let mails = smtp.wait_for_blocking(1, Duration::from_secs(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while hooks.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hooks = hooks.lock().unwrap().clone();
    assert!(
        !mails.is_empty(),
        "an e-mail about the next task:\n{}",
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("outbox")
                || l.contains("mail")
                || l.contains("notif")
                || l.contains("WARN")
                || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(hooks.len() >= 3, "the events reached the webhook: {hooks:?}");
    println!(
        "{} e-mails, {} webhook calls, {} refusals checked",
        mails.len(),
        hooks.len(),
        refusals.len()
    );
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
        for mail in &mails {
            let text = mail.to_string();
            assert!(!text.contains(canary), "`{canary}` reached an e-mail: {text}");
        }
        for body in &hooks {
            assert!(!body.contains(canary), "`{canary}` reached the webhook: {body}");
        }
        for body in &refusals {
            assert!(!body.contains(canary), "`{canary}` in a refusal: {body}");
        }
    }
}
