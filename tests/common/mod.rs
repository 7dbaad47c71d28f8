//! What the end-to-end tests of the binary share: running `doorloop`, free ports, JSON calls
//! to a running server, a fresh PostgreSQL database per test.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The BSN key every test run uses (32 bytes of 7, base64).
pub const BSN_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// The PostgreSQL the tests may use, when set (as `.ci/run` does).
pub const PG_ENV: &str = "DOORLOOP_TEST_POSTGRES_URL";

/// Runs `doorloop` on the database `url` in `dir`; stdout, or the test fails with its output.
pub fn doorloop(url: &str, dir: &Path, args: &[&str]) -> String {
    doorloop_env(url, dir, args, &[])
}

/// As [`doorloop`], with extra environment variables.
pub fn doorloop_env(url: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_doorloop"))
        .current_dir(dir)
        .env("DOORLOOP_DATABASE_URL", url)
        .env("DOORLOOP_BSN_KEY", BSN_KEY)
        .env_remove("DOORLOOP_LOG")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run doorloop");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "doorloop {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Gemeente Oss and the shipped pathways of the pilot, as most end-to-end tests need them.
pub fn region_with_pathways(url: &str, dir: &Path) {
    doorloop(
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
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["simpel-switchen.yaml", "van-zorg-naar-werk.yaml"] {
        doorloop(
            url,
            dir,
            &["publish", &repo.join("workflows").join(f).display().to_string()],
        );
    }
}

/// The API token `doorloop token create` prints on its second line.
pub fn api_token(url: &str, dir: &Path, user: &str) -> String {
    doorloop(url, dir, &["token", "create", user, "--label", "test"])
        .lines()
        .nth(1)
        .expect("a token")
        .trim()
        .to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port` (at most 30 s).
pub fn wait_for_port(port: u16) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A JSON call with a bearer token; `None` when no answer came (connection refused or cut,
/// or nothing within 20 s).
pub async fn call(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    call_with(port, token, method, path, body, &[]).await
}

/// As [`call`], with extra headers (an `Idempotency-Key`).
pub async fn call_with(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Option<(u16, Value)> {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .ok()?;
    // 20 s, or what DOORLOOP_TEST_CALL_TIMEOUT_S says (the slow-network runs).
    let wait = Duration::from_secs(
        std::env::var("DOORLOOP_TEST_CALL_TIMEOUT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let res = tokio::time::timeout(wait, client.request(req)).await.ok()?.ok()?;
    let status = res.status().as_u16();
    let bytes = tokio::time::timeout(wait, res.into_body().collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// A database of its own on the test PostgreSQL, dropped when this is.
pub struct FreshDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl FreshDatabase {
    /// `None` (and a note) when no PostgreSQL is configured.
    pub fn create(prefix: &str) -> Option<FreshDatabase> {
        let Some(admin) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
            println!("NOTE: {prefix} on PostgreSQL SKIPPED ({PG_ENV} is not set)");
            return None;
        };
        let name = format!("{prefix}_{}", std::process::id());
        let (server, _) = admin.rsplit_once('/').expect("a database in the URL");
        let db = FreshDatabase {
            url: format!("{server}/{name}"),
            admin,
            name,
        };
        db.admin_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name));
        db.admin_sql(&format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    fn admin_sql(&self, sql: &str) {
        let (admin, sql) = (self.admin.clone(), sql.to_owned());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                    sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
                })
        })
        .join()
        .expect("an administrative statement");
    }

    /// The database server's `host:port`, for a proxy in front of it.
    pub fn server_address(&self) -> String {
        let (server, _) = self.url.rsplit_once('/').unwrap_or_default();
        server
            .rsplit_once('@')
            .map_or(server, |(_, host)| host)
            .trim_start_matches("postgres://")
            .trim_start_matches("postgresql://")
            .to_owned()
    }

    /// Its URL through another port of this machine (a proxy).
    pub fn url_via(&self, port: u16) -> String {
        let user = self
            .url
            .trim_start_matches("postgres://")
            .trim_start_matches("postgresql://")
            .split_once('@')
            .map_or("postgres", |(user, _)| user)
            .to_owned();
        format!("postgres://{user}@127.0.0.1:{port}/{}", self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| {
                    rt.block_on(async move {
                        use sqlx::Connection;
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
                        }
                    })
                })
        })
        .join();
    }
}

/// A page request with cookies: status, the cookies it sets (`name=value`), the body.
pub async fn page(
    port: u16,
    cookie: &str,
    method: &str,
    path: &str,
    form: Option<String>,
) -> (u16, Vec<String>, String) {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("cookie", cookie);
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let res = client
        .request(req.body(Full::from(form.unwrap_or_default())).unwrap())
        .await
        .expect("an answer");
    let status = res.status().as_u16();
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, cookies, String::from_utf8_lossy(&body).into_owned())
}

/// Logs in through the form; the session cookie.
pub async fn log_in(port: u16, user: &str, password: &str) -> String {
    let (status, cookies) = try_log_in(port, user, password).await;
    assert_eq!(status, 303, "logged in");
    cookies
        .into_iter()
        .find(|c| c.starts_with("doorloop_sessie="))
        .expect("a session cookie")
}

/// Posts the login form once: the status (303 in, 401 refused, 429 throttled) and the
/// cookies set.
pub async fn try_log_in(port: u16, user: &str, password: &str) -> (u16, Vec<String>) {
    let (_, cookies, html) = page(port, "", "GET", "/inloggen", None).await;
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the login form's token")
        .to_owned();
    let form = format!("_csrf={csrf}&volgende=%2F&gebruikersnaam={user}&wachtwoord={password}");
    let (status, cookies, _) = page(port, &cookies.join("; "), "POST", "/inloggen", Some(form)).await;
    (status, cookies)
}

/// A `doorloop serve` process, killed when dropped (a failed assertion included).
pub struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `doorloop serve` on `port` with `extra` arguments and waits until it listens.
pub fn serve(url: &str, dir: &Path, port: u16, extra: &[&str]) -> Serving {
    serve_logged(url, dir, port, extra, None)
}

/// As [`serve`], its standard error written to `log`.
pub fn serve_logged(url: &str, dir: &Path, port: u16, extra: &[&str], log: Option<&Path>) -> Serving {
    let child = Command::new(env!("CARGO_BIN_EXE_doorloop"))
        .current_dir(dir)
        .env("DOORLOOP_DATABASE_URL", url)
        .env("DOORLOOP_BSN_KEY", BSN_KEY)
        .env_remove("DOORLOOP_LOG")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(match log {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("a log file")),
            None => std::process::Stdio::null(),
        })
        .spawn()
        .expect("start doorloop serve");
    let serving = Serving(child);
    wait_for_port(port);
    serving
}

/// The password `doorloop user add` or `user password` printed (shown once).
pub fn password_of(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.split_once("(shown once): ").map(|(_, p)| p))
        .expect("a password")
        .trim()
        .to_owned()
}
