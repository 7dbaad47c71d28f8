//! A real SMTP server for tests: Debian's python3-aiosmtpd running
//! `tests/support/smtp_sink.py`, which writes each received message as a JSON line.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PYTHON: &str = "/usr/bin/python3";

/// Whether the SMTP server can run here; `.ci/run` installs it and sets
/// `DOORLOOP_REQUIRE_SMTP=1`, which turns a missing server into a failure.
pub fn available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd, icalendar"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("DOORLOOP_REQUIRE_SMTP").is_ok_and(|v| v == "1") {
        panic!(
            "DOORLOOP_REQUIRE_SMTP=1 but {PYTHON} cannot import aiosmtpd and icalendar (apt-get install python3-aiosmtpd python3-icalendar)"
        );
    }
    ok
}

fn support_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        dir.join("tests/support").join(name),
        dir.join("../tests/support").join(name),
        dir.join("../notifiers/tests/support").join(name),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("tests/support/{name} not found from {}", dir.display());
}

fn script() -> PathBuf {
    support_file("smtp_sink.py")
}

/// Checks an invitation with an independent iCalendar parser (Debian's python3-icalendar,
/// `check_ics.py`) against the rules agendas such as Outlook enforce, and returns what it read:
/// `method`, `uid`, `sequence`, `tzid`, `start` (local, `YYYY-MM-DD HH:MM:SS`), `status`.
pub fn check_ics(text: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(PYTHON)
        .arg(support_file("check_ics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 check_ics.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the invitation");
    let out = child.wait_with_output().expect("check_ics.py ends");
    assert!(
        out.status.success(),
        "the invitation is refused by an independent parser:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check_ics.py prints JSON")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct SmtpSink {
    pub port: u16,
    pub file: PathBuf,
    raw: bool,
    /// Milliseconds each message waits before the server's 250 (0: none).
    delay_ms: u64,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(raw: bool) -> SmtpSink {
        SmtpSink::start_slow(raw, 0)
    }

    /// A server that takes `delay_ms` over each message before accepting it.
    pub fn start_slow(raw: bool, delay_ms: u64) -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = SmtpSink {
            port: free_port(),
            file: dir.path().join("received.jsonl"),
            raw,
            delay_ms,
            child: None,
            _dir: dir,
        };
        sink.restart();
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port, appending to the same file.
    pub fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut cmd = Command::new(PYTHON);
            cmd.arg(script()).arg(self.port.to_string()).arg(&self.file);
            if self.raw {
                cmd.arg("--raw");
            }
            if self.delay_ms > 0 {
                cmd.arg(format!("--delay-ms={}", self.delay_ms));
            }
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start smtp_sink.py");
            let mut line = String::new();
            let ready = BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .is_ok_and(|_| line.trim() == "ready");
            if ready {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let out = child.wait_with_output().expect("sink output");
            assert!(
                Instant::now() < deadline,
                "SMTP sink did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (SIGKILL): an outage, not a polite shutdown.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("sink line"))
            .collect()
    }

    /// Waits until at least `n` messages arrived (from synchronous code).
    pub fn wait_for_blocking(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.kill();
    }
}
