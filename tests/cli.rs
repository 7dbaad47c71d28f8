//! End-to-end tests of the `doorloop` binary against real databases: a SQLite file in a
//! temporary directory, and PostgreSQL (a fresh schema) when `DOORLOOP_TEST_POSTGRES_URL`
//! is set. Without it the PostgreSQL tests are listed as ignored, with a notice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test binary (harness = false)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../notifiers/tests/support/sink.rs"]
mod sink;

const PG_ENV: &str = "DOORLOOP_TEST_POSTGRES_URL";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workflow(name: &str) -> String {
    repo().join("workflows").join(name).display().to_string()
}

/// One database for one test, and the way to call the binary against it.
struct Db {
    url: String,
    dir: PathBuf,
}

/// The BSN key every test run uses (32 bytes of 7, base64).
const TEST_BSN_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

impl Db {
    /// The municipality the tests' people work for and their residents live in.
    fn region(&self) {
        self.ok(&[
            "organisation",
            "add",
            "Oss",
            "--name",
            "Gemeente Oss",
            "--kind",
            "gemeente",
        ]);
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(&self.dir)
            .env("DOORLOOP_DATABASE_URL", &self.url)
            .env("DOORLOOP_BSN_KEY", TEST_BSN_KEY)
            .envs(env.iter().copied())
            .env_remove("DOORLOOP_LOG")
            .args(args)
            .output()
            .expect("run doorloop")
    }

    /// Registers a made-up resident; returns the reference.
    fn resident(&self, family_name: &str) -> String {
        let out = self.ok(&["resident", "add", "--family-name", family_name]);
        out.split_whitespace().next().unwrap_or_default().to_owned()
    }

    /// Runs and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "doorloop {args:?} failed:\n{stdout}\n{stderr}"
        );
        stdout
    }

    /// Runs and insists on failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "doorloop {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

// ---- tests, each run on SQLite and on PostgreSQL ----

fn notify_digest_and_outbox(db: &Db) {
    if !sink::available() {
        println!("NOTE: notify_digest_and_outbox skipped: no aiosmtpd");
        return;
    }
    let smtp = sink::SmtpSink::start(false);
    let url = smtp.url();
    let err = db.fails(&["notify", "test", "--to", "jan@gemeente.test"]);
    assert!(err.contains("no SMTP server configured"), "{err}");
    let out = db.ok(&["--smtp-url", &url, "notify", "test", "--to", "jan@gemeente.test"]);
    assert!(
        out.contains("Testbericht verstuurd naar jan@gemeente.test"),
        "{out}"
    );
    let got = smtp.wait_for_blocking(1, std::time::Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["subject"], "Testbericht van Doorloop");
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["jan@gemeente.test"]));
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("Dit is een testbericht van Doorloop")
    );

    // A server that is not there: the message is kept as dead, with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = db.run(&[
        "--smtp-url",
        &format!("smtp://127.0.0.1:{closed}"),
        "--notify-max-attempts",
        "1",
        "notify",
        "test",
        "--to",
        "piet@gemeente.test",
    ]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("NIET verstuurd") && stdout.contains("SMTP"),
        "{stdout}"
    );
    let dead = db.ok(&["outbox", "list", "--status", "dead"]);
    assert!(
        dead.contains("dead=1") && dead.contains("address:piet@gemeente.test"),
        "{dead}"
    );
    let id = dead
        .lines()
        .find(|l| l.contains("piet@gemeente.test"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = db.ok(&["outbox", "retry", &id]);
    assert!(out.contains(&format!("Outbox {id} staat weer klaar")), "{out}");
    db.ok(&["--smtp-url", &url, "worker", "--until-idle"]);
    let got = smtp.wait_for_blocking(2, std::time::Duration::from_secs(10));
    assert_eq!(got[1]["rcpt_tos"], serde_json::json!(["piet@gemeente.test"]));
    let err = db.fails(&["outbox", "retry", &id]);
    assert!(err.contains("already delivered"), "{err}");
    let err = db.fails(&["outbox", "retry", "424242"]);
    assert!(err.contains("no outbox row 424242"), "{err}");
    let err = db.fails(&["outbox", "list", "--status", "weg"]);
    assert!(err.contains("unknown status `weg`"), "{err}");

    // The demo gives consultants e-mail addresses and work; the digest reaches them once a day.
    db.ok(&["demo", "--per-pathway", "6"]);
    let out = db.ok(&["--smtp-url", &url, "digest", "send"]);
    assert!(out.contains("Dagoverzicht van vandaag klaargezet"), "{out}");
    let digests = |m: &[serde_json::Value]| {
        m.iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").starts_with("Je werk voor"))
            .count()
    };
    let all = smtp.wait_for_blocking(3, std::time::Duration::from_secs(10));
    let first = digests(&all);
    assert!(first >= 1, "no digest in {all:#?}");
    assert!(all.iter().all(|m| {
        m["rcpt_tos"][0]
            .as_str()
            .unwrap()
            .ends_with("@demo.doorloop.invalid")
            || m["rcpt_tos"][0].as_str().unwrap().ends_with("@gemeente.test")
    }));
    let out = db.ok(&["--smtp-url", &url, "digest", "send"]);
    assert!(out.contains("al verstuurd"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(digests(&smtp.messages()), first, "a second digest the same day");
    let list = db.ok(&["outbox", "list"]);
    assert!(list.contains("daily_digest"), "{list}");
}

fn publish_start_complete_show(db: &Db) {
    db.ok(&["publish", &workflow("simpel-switchen.yaml")]);
    let out = db.ok(&["publish", &workflow("van-zorg-naar-werk.yaml")]);
    assert_eq!(out.trim(), "published van-zorg-naar-werk v1");
    let out = db.ok(&["publish", &workflow("van-zorg-naar-werk.yaml")]);
    assert_eq!(out.trim(), "published van-zorg-naar-werk v2");

    // A resident with a BSN (from the environment, never a flag), found and shown.
    let out = db.run_env(
        &[
            "resident",
            "add",
            "--given-name",
            "Pablo",
            "--family-name",
            "Verhoeven",
            "--birth-date",
            "17-03-1997",
            "--municipality",
            "Oss",
            "--bsn-from-env",
        ],
        &[("DOORLOOP_RESIDENT_BSN", "111222333")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pablo = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(pablo, "DL-000001");
    let again = db.run_env(
        &["resident", "add", "--family-name", "Ander", "--bsn-from-env"],
        &[("DOORLOOP_RESIDENT_BSN", "111 222 333")],
    );
    assert!(!again.status.success(), "a BSN recorded twice");
    assert!(String::from_utf8_lossy(&again.stderr).contains("DL-000001"));
    let bad = db.run_env(
        &["resident", "add", "--family-name", "Typfout", "--bsn-from-env"],
        &[("DOORLOOP_RESIDENT_BSN", "111222334")],
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("11-proef"),
        "the 11-proef names the fault"
    );
    for q in ["verh", "PAB", "17-03-1997", "111222333", "dl-1"] {
        let found = db.ok(&["resident", "find", q]);
        assert!(found.contains("DL-000001  Pablo Verhoeven"), "{q}: {found}");
        assert!(!found.contains("111222333"), "the BSN is never printed");
    }
    assert!(db.ok(&["resident", "find", "zzz"]).contains("niemand gevonden"));
    // The searches were logged, in a hash chain that verifies whole.
    let verified = db.ok(&["access-log", "verify"]);
    assert!(
        verified.contains("(0 from before the chain)")
            && verified.contains("head: ")
            && verified.trim_end().ends_with("the chain is whole")
            && !verified.contains("verified 0 "),
        "{verified}"
    );
    let err = db.fails(&["case", "start", "van-zorg-naar-werk", "--resident", "DL-000099"]);
    assert!(err.contains("no resident"), "{err}");

    let case = db
        .ok(&[
            "case",
            "start",
            "van-zorg-naar-werk",
            "--resident",
            &pablo,
            "--by",
            "anna",
        ])
        .trim()
        .to_owned();
    assert_eq!(case.len(), 36, "a uuid: {case}");
    db.ok(&[
        "resident",
        "provision",
        &pablo,
        "--kind",
        "wmo_begeleiding",
        "--status",
        "actief",
        "--start",
        "01-01-2025",
        "--decision-ref",
        "WMO-2024-118",
    ]);
    let err = db.fails(&[
        "resident",
        "provision",
        &pablo,
        "--kind",
        "fiets",
        "--status",
        "actief",
    ]);
    assert!(err.contains("onbekende soort voorziening `fiets`"), "{err}");
    let err = db.fails(&[
        "resident",
        "provision",
        &pablo,
        "--kind",
        "wmo_begeleiding",
        "--status",
        "weg",
    ]);
    assert!(err.contains("--status `weg`"), "{err}");
    let err = db.fails(&["resident", "reactivate", &pablo, "--kind", "wmo_begeleiding"]);
    assert!(err.contains("niet slapend"), "{err}");
    let line = db.ok(&["resident", "show", &pablo]);
    assert!(
        line.contains("wmo_begeleiding") && line.contains("actief") && line.contains("01-01-2025"),
        "{line}"
    );
    // Inzage (AVG art. 15): his whole file as JSON and as a readable page, never the BSN.
    let out = db.ok(&["resident", "export", &pablo, "--out", "inzage"]);
    assert!(
        out.contains("inzage-DL-000001.json") && out.contains("inzage-DL-000001.html"),
        "{out}"
    );
    let json = std::fs::read_to_string(db.dir.join("inzage/inzage-DL-000001.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(file["resident"]["reference"], "DL-000001");
    assert_eq!(file["cases"][0]["id"], case.as_str());
    assert_eq!(file["provisions"][0]["kind"], "wmo_begeleiding");
    assert!(
        file["views"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["purpose"] == "doorloop resident show"),
        "who viewed him: {json}"
    );
    let html = std::fs::read_to_string(db.dir.join("inzage/inzage-DL-000001.html")).unwrap();
    assert!(
        html.contains("Pablo Verhoeven") && html.contains("Van zorg naar werk"),
        "{html}"
    );
    assert!(
        !json.contains("111222333") && !html.contains("111222333"),
        "no BSN"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(db.dir.join("inzage/inzage-DL-000001.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads it");
    }
    assert!(
        line.contains(&case) && line.contains("signaal") && line.contains("anna"),
        "{line}"
    );
    assert!(
        line.contains("BSN       vastgelegd") && !line.contains("111222333"),
        "{line}"
    );
    let log = db.ok(&["access-log"]);
    assert!(
        log.contains("doorloop resident show") && log.contains("doorloop resident find"),
        "{log}"
    );

    let tasks = db.ok(&["tasks", "--role", "ambulant-begeleider"]);
    assert!(tasks.contains(&case) && tasks.contains("signaal"), "{tasks}");
    assert!(
        tasks.contains("on track"),
        "a fresh task with five working days left: {tasks}"
    );

    db.ok(&[
        "case",
        "complete",
        &case,
        "signaal",
        "--by",
        "anna",
        "--var",
        "motivatie=wil werken",
        "--var",
        "trede=3",
    ]);
    let show = db.ok(&["case", "show", &case]);
    assert!(show.contains("van-zorg-naar-werk v2"), "{show}");
    assert!(show.contains("intake"), "{show}");
    assert!(show.contains("ladder    rung 3"), "{show}");
    assert!(show.contains("task t2 completed: signaal"), "{show}");
    assert!(show.contains("deadline"), "{show}");

    // A joint visit: plan, then record its outcome.
    db.ok(&[
        "case",
        "plan-visit",
        &case,
        "intake",
        "--at",
        "2099-01-05 10:00",
        "--participant",
        "anna",
        "--participant",
        "bert",
        "--by",
        "anna",
    ]);
    db.ok(&[
        "case",
        "outcome",
        &case,
        "intake",
        "--by",
        "bert",
        "--var",
        "ik_wil=werken",
        "--var",
        "ik_kan=veel",
        "--var",
        "ik_heb_nodig=rust",
        "--var",
        "uitkering=wia",
        "--var",
        "geen_benutbare_mogelijkheden=ja",
    ]);
    db.ok(&[
        "case",
        "complete",
        &case,
        "casusoverleg",
        "--by",
        "carla",
        "--var",
        "doorgaan=true",
    ]);
    let show = db.ok(&["case", "show", &case]);
    assert!(
        show.contains("herbeoordeling_aanvragen"),
        "the UWV branch: {show}"
    );

    // Retention: the terms, a legal hold, a run that finds nothing past its term yet.
    let terms = db.ok(&["retention", "terms"]);
    assert!(
        terms.contains("van-zorg-naar-werk\t10 year(s)") && terms.contains("Selectielijst"),
        "{terms}"
    );
    let err = db.fails(&["retention", "hold", &pablo, "--reason", " "]);
    assert!(err.contains("needs a reason"), "{err}");
    let held = db.ok(&["retention", "hold", &pablo, "--reason", "bezwaarprocedure"]);
    assert!(held.contains("DL-000001: legal hold set"), "{held}");
    let dry = db.ok(&["retention", "run", "--dry-run"]);
    assert!(dry.contains("0 case(s) past their term"), "{dry}");
    let run = db.ok(&["retention", "run"]);
    assert!(run.contains("0 case(s) removed"), "{run}");
    assert!(
        db.ok(&["case", "show", &case]).contains("van-zorg-naar-werk"),
        "nothing removed"
    );
    let log = db.ok(&["retention", "log"]);
    assert!(log.contains("bewaarplicht-aan"), "{log}");
    assert!(
        db.ok(&["retention", "release", &pablo])
            .contains("legal hold released")
    );
    let err = db.fails(&["retention", "release", &pablo]);
    assert!(err.contains("has no legal hold"), "{err}");
}

fn bad_input_is_refused_and_changes_nothing(db: &Db) {
    db.ok(&["publish", &workflow("simpel-switchen.yaml")]);
    db.ok(&["publish", &workflow("van-zorg-naar-werk.yaml")]);
    let resident = db.resident("Jansen");
    let case = db
        .ok(&["case", "start", "van-zorg-naar-werk", "--resident", &resident])
        .trim()
        .to_owned();
    let before = db.ok(&["case", "show", &case]);

    let err = db.fails(&[
        "case", "complete", &case, "signaal", "--by", "anna", "--var", "trede=3",
    ]);
    assert!(err.contains("required field `motivatie` is missing"), "{err}");
    let err = db.fails(&[
        "case",
        "complete",
        &case,
        "signaal",
        "--by",
        "anna",
        "--var",
        "motivatie=x",
        "--var",
        "trede=zeven",
    ]);
    assert!(err.contains("trede"), "{err}");
    let err = db.fails(&[
        "case",
        "complete",
        &case,
        "signaal",
        "--by",
        "anna",
        "--var",
        "motivatie=x",
        "--var",
        "trede=9",
    ]);
    assert!(err.contains("rung 1–6"), "{err}");
    let err = db.fails(&["case", "complete", &case, "nazorg", "--by", "anna"]);
    assert!(err.contains("no open task `nazorg`"), "{err}");
    let err = db.fails(&["case", "complete", "bestaat-niet", "signaal", "--by", "anna"]);
    assert!(err.contains("no case bestaat-niet"), "{err}");
    let err = db.fails(&["case", "start", "onbekend-traject", "--resident", &resident]);
    assert!(
        err.contains("pathway `onbekend-traject` is not published"),
        "{err}"
    );

    assert_eq!(db.ok(&["case", "show", &case]), before, "nothing changed");

    // A broken pathway is not published, and the live one stays.
    let broken = db.dir.join("kapot.yaml");
    let text = std::fs::read_to_string(workflow("van-zorg-naar-werk.yaml"))
        .unwrap()
        .replace("role: loonwaardedeskundige", "role: niemand");
    std::fs::write(&broken, text).unwrap();
    let err = db.fails(&["publish", broken.to_str().unwrap()]);
    assert!(
        err.contains("step `loonwaarde`") && err.contains("role `niemand`"),
        "{err}"
    );
    let list = db.ok(&["pathways"]);
    assert!(
        list.contains("van-zorg-naar-werk v1") && !list.contains("v2"),
        "{list}"
    );
}

fn demo_loads_and_summarises(db: &Db) {
    let out = db.ok(&["demo", "--per-pathway", "5"]);
    assert!(out.contains("published simpel-switchen v1"), "{out}");
    assert!(out.contains("open tasks:"), "{out}");
    let again = db.ok(&["demo"]);
    assert!(out.contains("pilot cohort: 53 participants"), "{out}");
    assert!(
        again.contains("already holds 69 cases"),
        "15 sample cases, the pilot's 53 and Sjaak: {again}"
    );
    assert!(
        out.contains("wmo-consulent-1") && out.contains("beheerder"),
        "demo accounts: {out}"
    );
    assert!(again.contains("demo accounts exist already"), "{again}");
    let found = db.ok(&["resident", "find", "sjaak bosch"]);
    assert!(found.contains("Sjaak Bosch"), "{found}");
    // What must hold of the store after the demo's history does.
    let checked = db.ok(&["check"]);
    assert!(
        checked.contains("checked 69 cases") && checked.trim_end().ends_with("no violations"),
        "{checked}"
    );
    // Demo consultants are on the teams of the cases they acted on.
    let users = db.ok(&["user", "list"]);
    assert!(
        users.contains("manager") && users.contains("@demo.doorloop.invalid"),
        "{users}"
    );
}

fn accounts_tokens_and_the_access_log(db: &Db) {
    let out = db.ok(&[
        "user",
        "add",
        "anna",
        "--role",
        "consultant",
        "--team",
        "wmo-consulent",
        "--email",
        "anna@gemeente.nl",
    ]);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("the generated password");
    assert_eq!(password.trim().len(), 20);
    assert!(
        db.fails(&["user", "add", "anna", "--role", "consultant", "--team", "x"])
            .contains("already a user `anna`")
    );
    assert!(
        db.fails(&["user", "add", "bert", "--role", "baas"])
            .contains("unknown role `baas`")
    );
    assert!(
        db.fails(&["user", "add", "bert", "--role", "consultant"])
            .contains("at least one --team")
    );
    assert!(
        db.fails(&["user", "add", "bert zonder", "--role", "manager"])
            .contains("not allowed")
    );
    assert!(
        db.fails(&[
            "user",
            "add",
            "bert",
            "--role",
            "manager",
            "--email",
            "geen-adres"
        ])
        .contains("has no @")
    );
    db.ok(&["user", "add", "mark", "--role", "manager"]);
    let list = db.ok(&["user", "list"]);
    assert!(
        list.contains("anna") && list.contains("wmo-consulent") && list.contains("mark"),
        "{list}"
    );
    let again = db.ok(&["user", "password", "anna"]);
    assert!(!again.contains(password.trim()), "a new password");
    assert!(
        db.fails(&["user", "password", "niemand"])
            .contains("no user `niemand`")
    );
    let token = db.ok(&["token", "create", "anna", "--label", "zaaksysteem"]);
    assert!(
        token.lines().any(|l| l.starts_with("dl_") && l.len() == 67),
        "{token}"
    );
    assert!(
        db.fails(&["token", "create", "niemand"])
            .contains("no user `niemand`")
    );
    assert!(
        token.contains("valid until 20"),
        "tokens expire by default: {token}"
    );
    let forever = db.ok(&["token", "create", "mark", "--expires-in-days", "0"]);
    assert!(forever.contains("valid until revoked"), "{forever}");
    let list = db.ok(&["token", "list"]);
    assert!(
        list.contains("zaaksysteem") && list.contains("mark") && list.matches("active").count() == 2,
        "{list}"
    );
    assert!(!list.contains("dl_"), "never the token itself: {list}");
    let id = list
        .lines()
        .find(|l| l.contains("zaaksysteem"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a token id")
        .to_owned();
    assert_eq!(id.len(), 12, "{list}");
    assert!(db.ok(&["token", "revoke", &id]).contains("revoked"));
    assert!(
        db.fails(&["token", "revoke", &id])
            .contains("no active API token")
    );
    let anna_only = db.ok(&["token", "list", "anna"]);
    assert!(
        anna_only.contains("revoked") && !anna_only.contains("mark"),
        "{anna_only}"
    );
    // A new password revokes the account's tokens.
    db.ok(&["token", "create", "anna", "--label", "portaal"]);
    db.ok(&["user", "password", "anna"]);
    let after = db.ok(&["token", "list", "anna"]);
    assert!(!after.contains("active"), "{after}");
    let log = db.ok(&["access-log", "--case", "c1"]);
    assert!(log.contains("no views logged for case c1"), "{log}");
}

fn bench_prints_its_line(db: &Db) {
    let out = db.ok(&[
        "bench",
        "--cases",
        "12",
        "--concurrency",
        "3",
        "--bare-commits",
        "20",
    ]);
    let line = out.lines().find(|l| l.starts_with("cases=")).expect("bench line");
    for key in [
        "cases=12 ",
        "commands=",
        "fsync_commits_per_s=",
        "commands_per_s=",
        "ratio=",
        "p50_us=",
        "p99_us=",
        "peak_rss_mb=",
    ] {
        assert!(line.contains(key), "{key} missing in {line}");
    }
    let commands: u64 = line
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("commands="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(commands >= 12 * 5, "every case runs several commands: {line}");
}

fn clocks_are_suspended_resumed_and_extended(db: &Db) {
    db.ok(&["publish", &workflow("jongeren-zorg-school-werk.yaml")]);
    let resident = db.resident("Yilmaz");
    let case = db
        .ok(&[
            "case",
            "start",
            "jongeren-zorg-school-werk",
            "--resident",
            &resident,
        ])
        .trim()
        .to_owned();
    db.ok(&[
        "case",
        "complete",
        &case,
        "aanmelding",
        "--by",
        "anna",
        "--var",
        "leeftijd=19",
        "--var",
        "startkwalificatie=nee",
        "--var",
        "trede=2",
    ]);
    db.ok(&[
        "case",
        "plan-visit",
        &case,
        "intake",
        "--at",
        "2099-01-05 10:00",
        "--participant",
        "anna",
        "--by",
        "anna",
    ]);
    db.ok(&[
        "case",
        "outcome",
        &case,
        "intake",
        "--by",
        "anna",
        "--var",
        "ik_wil=x",
        "--var",
        "ik_kan=y",
        "--var",
        "ik_heb_nodig=z",
        "--var",
        "begeleiding_nodig=nee",
        "--var",
        "inkomen_nodig=ja",
        "--var",
        "onderwijsdoel=geen",
    ]);
    let err = db.fails(&[
        "case",
        "suspend",
        &case,
        "zoektermijn",
        "--reason",
        "x",
        "--by",
        "anna",
    ]);
    assert!(err.contains("has no deadline"), "{err}");
    db.ok(&["case", "complete", &case, "zoektermijn", "--by", "anna"]);
    db.ok(&[
        "case",
        "suspend",
        &case,
        "bijstand_besluit",
        "--reason",
        "wacht op bankafschriften",
        "--by",
        "anna",
    ]);
    let err = db.fails(&[
        "case",
        "suspend",
        &case,
        "bijstand_besluit",
        "--reason",
        "x",
        "--by",
        "anna",
    ]);
    assert!(err.contains("already suspended"), "{err}");
    db.ok(&[
        "case",
        "resume",
        &case,
        "bijstand_besluit",
        "--reason",
        "stukken binnen",
        "--by",
        "anna",
    ]);
    db.ok(&[
        "case",
        "extend",
        &case,
        "bijstand_besluit",
        "4 weken",
        "--reason",
        "complex",
        "--by",
        "anna",
    ]);
    let err = db.fails(&[
        "case",
        "extend",
        &case,
        "bijstand_besluit",
        "4 weken",
        "--reason",
        "nog meer",
        "--by",
        "anna",
    ]);
    assert!(
        err.contains("grootste verlenging die deze stap toestaat, 6 weken"),
        "{err}"
    );
    let show = db.ok(&["case", "show", &case]);
    assert!(show.contains("Klok stilgezet op"), "{show}");
    assert!(show.contains("Klok hervat op"), "{show}");
    assert!(show.contains("Verdaagd met 4 weken"), "{show}");
    let stalls = db.ok(&["stalls"]);
    assert!(stalls.contains("no stalled cases"), "{stalls}");
}

// ---- SQLite-only ----

/// `doorloop message send`: a wait ended by a message to a resident's case, the repeat
/// acting once, an unmatched message refused with exit 1.
fn messages_end_waits_from_the_command_line(db: &Db) {
    let yaml = db.dir.join("bericht.yaml");
    std::fs::write(
        &yaml,
        "key: bericht-cli\nname: Bericht\nroles: { klantmanager: { name: Klantmanager } }\nsteps:\n  \
         - { id: start, kind: start, next: besluit }\n  \
         - { id: besluit, kind: wait, name: Wachten op UWV, role: klantmanager, party: UWV, expected: 8 weken, \
             message: uwv_besluit, fields: [{ name: toegekend, type: boolean, required: true, label: Toegekend }], next: einde }\n  \
         - { id: einde, kind: end, outcome: overig }\n",
    )
    .unwrap();
    db.ok(&["publish", yaml.to_str().unwrap()]);
    let rik = db.resident("Bruin");
    let case = db
        .ok(&["case", "start", "bericht-cli", "--resident", &rik])
        .trim()
        .to_owned();
    let send = |id: &str, var: &str| {
        db.run(&[
            "message",
            "send",
            "uwv_besluit",
            "--id",
            id,
            "--resident",
            &rik,
            "--var",
            var,
        ])
    };
    let wrong = send("uwv-1", "toegekend=misschien");
    assert!(!wrong.status.success(), "a value the field refuses");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("toegekend"));
    let out = send("uwv-1", "toegekend=ja");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{case}: message uwv_besluit received")
    );
    let shown = db.ok(&["case", "show", &case]);
    assert!(shown.contains("ended"), "{shown}");
    let again = db.ok(&["message", "send", "uwv_besluit", "--id", "uwv-1", "--case", &case]);
    assert!(again.contains("had message uwv-1 already"), "{again}");
    let err = db.fails(&[
        "message",
        "send",
        "uwv_besluit",
        "--id",
        "uwv-2",
        "--resident",
        &rik,
    ]);
    assert!(err.contains("no case waits for message `uwv_besluit`"), "{err}");
    let err = db.fails(&["message", "send", "uwv_besluit", "--id", "uwv-3"]);
    assert!(err.contains("--case"), "{err}");
    // A signal reaches every case waiting for it.
    let a = db
        .ok(&["case", "start", "bericht-cli", "--resident", &rik])
        .trim()
        .to_owned();
    let b = db
        .ok(&["case", "start", "bericht-cli", "--resident", &db.resident("Smit")])
        .trim()
        .to_owned();
    let out = db.ok(&[
        "message",
        "send",
        "uwv_besluit",
        "--id",
        "s-1",
        "--signal",
        "--var",
        "toegekend=nee",
    ]);
    assert!(
        out.contains(&format!("{a}: message uwv_besluit received"))
            && out.contains(&format!("{b}: message uwv_besluit received")),
        "{out}"
    );
    // An outside party's own case number, given at the start, addresses the case.
    let keyed = db
        .ok(&[
            "case",
            "start",
            "bericht-cli",
            "--resident",
            &rik,
            "--business-key",
            "UWV/2026/17",
        ])
        .trim()
        .to_owned();
    assert!(
        db.ok(&["case", "show", &keyed])
            .contains("business key  UWV/2026/17")
    );
    let err = db.fails(&[
        "case",
        "start",
        "bericht-cli",
        "--resident",
        &rik,
        "--business-key",
        "111222333",
    ]);
    assert!(err.contains("business key: it is a BSN"), "{err}");
    let out = db.ok(&[
        "message",
        "send",
        "uwv_besluit",
        "--id",
        "k-1",
        "--business-key",
        "UWV/2026/17",
        "--var",
        "toegekend=ja",
    ]);
    assert_eq!(out.trim(), format!("{keyed}: message uwv_besluit received"));
}

fn validate_reports_every_problem(dir: &Path) {
    let db = Db {
        url: format!("sqlite://{}", dir.join("x.db").display()),
        dir: dir.to_owned(),
    };
    for f in [
        "van-zorg-naar-werk.yaml",
        "jongeren-zorg-school-werk.yaml",
        "simpel-switchen.yaml",
    ] {
        let out = db.ok(&["validate", &workflow(f)]);
        assert!(out.contains(": ok"), "{out}");
    }
    // Hostile files end with a message and exit code 1, never an abort: 100,000 steps
    // (over the size limit), 15,000 steps under it (over the step limit).
    for (steps, says) in [(100_000, "at most 1048576"), (15_000, "at most 1000 are allowed")] {
        let mut yaml = String::from(
            "key: keten\nname: K\nroles:\n  r: { name: R }\nsteps:\n  - { id: s0, kind: start, next: t1 }\n",
        );
        for i in 1..steps {
            yaml.push_str(&format!(
                "  - {{ id: t{i}, kind: task, role: r, next: t{} }}\n",
                i + 1
            ));
        }
        yaml.push_str(&format!("  - {{ id: t{steps}, kind: end, outcome: gestopt }}\n"));
        let path = dir.join(format!("keten-{steps}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let out = db.run(&["validate", &path.display().to_string()]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{steps} steps: {text}");
        assert!(text.contains(says), "{steps} steps: {text}");
    }
    // BPMN files are read too: validated, imported as YAML, published.
    let bpmn = |name: &str| repo().join("engine/tests/bpmn").join(name).display().to_string();
    let out = db.ok(&["validate", &bpmn("camunda7-intake.bpmn")]);
    assert!(out.contains("ok (pathway intake_werk, 6 steps)"), "{out}");
    let yaml = db.ok(&["import", &bpmn("zeebe-lanes-parallel.bpmn")]);
    assert!(
        yaml.contains("kind: parallel_split") && yaml.contains("when: startkwalificatie == true"),
        "{yaml}"
    );
    let out = db.ok(&["import", &bpmn("camunda7-intake.bpmn"), "--publish"]);
    assert_eq!(out.trim(), "published intake_werk v1");
    // Imported and validated: a file that reads but has problems (a loop nobody acts in)
    // says so and exits 1.
    let looping = db.dir.join("lus.bpmn");
    std::fs::write(
        &looping,
        r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <process id="lus">
    <startEvent id="s"/><exclusiveGateway id="g" default="f3"/><serviceTask id="t"/><endEvent id="e" name="Klaar"/>
    <dataObject id="do"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
    <sequenceFlow id="f2" sourceRef="g" targetRef="t"><conditionExpression>${x == true}</conditionExpression></sequenceFlow>
    <sequenceFlow id="f3" sourceRef="g" targetRef="e"/>
    <sequenceFlow id="f4" sourceRef="t" targetRef="g"/>
  </process>
</definitions>"#,
    )
    .unwrap();
    let err = db.fails(&["import", looping.to_str().unwrap()]);
    assert!(
        err.contains("problem(s) found") && err.contains("let op:") && err.contains("cycle"),
        "{err}"
    );
    // Processes a call activity calls in the same file are published first.
    let c50 = repo()
        .join("engine/tests/bpmn-miwg/reference/C.5.0.bpmn")
        .display()
        .to_string();
    let out = db.ok(&["import", &c50, "--publish"]);
    assert!(
        out.starts_with("published check-for-connected-clients v1\npublished "),
        "{out}"
    );
    let err = db.fails(&["import", &bpmn("unsupported.bpmn"), "--publish"]);
    assert!(
        err.contains("3 onderdeel/onderdelen")
            && err.contains("deelproces `sub` (subProcess (event sub-process))"),
        "{err}"
    );
    assert!(!db.ok(&["pathways"]).contains("unsupported"));
    // Export: BPMN with a diagram, which imports back to the same pathway.
    db.ok(&["publish", &workflow("simpel-switchen.yaml")]);
    let xml = db.ok(&["export", "simpel-switchen"]);
    assert!(
        xml.contains("<bpmndi:BPMNDiagram") && xml.contains("doorloop:key=\"simpel-switchen\""),
        "{xml}"
    );
    let exported = dir.join("simpel.bpmn");
    std::fs::write(&exported, &xml).unwrap();
    let back = db.ok(&["import", exported.to_str().unwrap()]);
    let yaml = db.ok(&["export", "simpel-switchen", "--format", "yaml"]);
    assert_eq!(back, yaml);
    // A BPMN file runs in the bench like a YAML pathway.
    let out = db.run(&[
        "bench",
        &bpmn("camunda7-intake.bpmn"),
        "--cases",
        "30",
        "--bare-commits",
        "20",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("imported BPMN: 1 pathway(s), 6 steps"),
        "{stderr}"
    );
    assert!(stderr.contains("cases run to an end: 30 of 30"), "{stderr}");
    assert!(
        stderr.contains("work steps reached: 2 of 2"),
        "both branches taken: {stderr}"
    );
    assert!(
        stdout.contains("cases=30 ") && stdout.contains("tasks_per_s="),
        "{stdout}"
    );
    let err = db.fails(&["export", "bestaat-niet"]);
    assert!(err.contains("bestaat-niet"), "{err}");
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        "key: k\nname: K\nroles:\n  r: { name: R }\nsteps:\n  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: x, next: g }\n  - id: g\n    kind: gateway\n    branches: [{ when: 'y > 1', to: e }]\n  - { id: e, kind: end, outcome: gestopt }\n  - { id: los, kind: task, role: r, next: e }\n",
    )
    .unwrap();
    let err = db.fails(&["validate", broken.to_str().unwrap()]);
    assert!(
        err.contains("line 7: step `a`: role `x` is not declared"),
        "{err}"
    );
    {
        // A message text naming a field its message does not have is caught before publication.
        let worded = dir.join("worded.yaml");
        let yaml = std::fs::read_to_string(workflow("van-zorg-naar-werk.yaml"))
            .unwrap()
            .replace(
                "defaults:\n",
                "defaults:\n  messages:\n    visit_reminder: { subject: \"Bezoek bij {{client.naam}}\" }\n",
            );
        std::fs::write(&worded, yaml).unwrap();
        let worded_err = db.fails(&["validate", worded.to_str().unwrap()]);
        assert!(
            worded_err.contains("message `visit_reminder`, subject: unknown field `client.naam`")
                && worded_err.contains("visit.time"),
            "{worded_err}"
        );
        let worded_err = db.fails(&["publish", worded.to_str().unwrap()]);
        assert!(worded_err.contains("unknown field `client.naam`"), "{worded_err}");
    }
    assert!(err.contains("reads `y`"), "{err}");
    assert!(err.contains("line 12: step `los`: cannot be reached"), "{err}");
    assert!(err.contains("3 problem(s) found"), "{err}");
    std::fs::write(&broken, "key: k\nname: [oops\n").unwrap();
    let err = db.fails(&["validate", broken.to_str().unwrap()]);
    assert!(err.contains("line 2"), "{err}");
}

/// Defaults, then the file, then environment, then flags; secrets never shown; a bad file
/// named by key and line.
fn configuration_is_layered_and_shown_masked(dir: &Path) {
    let file = dir.join("doorloop.toml");
    std::fs::write(
        &file,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[mail]\nsmtp_url = \"smtp://post:heel-geheim@127.0.0.1:2525\"\n\n[web]\nidle_timeout_minutes = 12\n\n[calendar]\nclosed_days = [\"2026-05-15\"]\n\n[schedules]\nconsultant_digest = \"0 30 7 * * Mon-Fri\"\n",
            dir.join("uit-bestand.db").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorloop"));
        cmd.current_dir(dir)
            .env_remove("DOORLOOP_DATABASE_URL")
            .env_remove("DOORLOOP_SMTP_URL")
            .env_remove("DOORLOOP_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).output().expect("run doorloop")
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let file_arg = file.display().to_string();
    // Defaults alone.
    let out = run(&["config", "show"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("url = \"sqlite://doorloop.db\"") && shown.contains("idle_timeout_minutes = 30"),
        "{shown}"
    );
    // The file over the defaults; its secret masked.
    let out = run(&["--config", &file_arg, "config", "show"], &[]);
    let shown = text(&out);
    assert!(
        shown.contains("uit-bestand.db") && shown.contains("idle_timeout_minutes = 12"),
        "{shown}"
    );
    assert!(
        shown.contains("0 30 7 * * Mon-Fri") && shown.contains("2026-05-15"),
        "{shown}"
    );
    assert!(!shown.contains("heel-geheim"), "{shown}");
    // Environment over the file, a flag over the environment.
    let env_db = format!("sqlite://{}", dir.join("uit-omgeving.db").display());
    let out = run(
        &["config", "show"],
        &[("DOORLOOP_CONFIG", &file_arg), ("DOORLOOP_DATABASE_URL", &env_db)],
    );
    assert!(text(&out).contains("uit-omgeving.db"), "{}", text(&out));
    let flag_db = format!("sqlite://{}", dir.join("uit-vlag.db").display());
    let out = run(
        &[
            "config",
            "show",
            "--database-url",
            &flag_db,
            "--closed-days",
            "2026-12-24",
        ],
        &[("DOORLOOP_CONFIG", &file_arg), ("DOORLOOP_DATABASE_URL", &env_db)],
    );
    let shown = text(&out);
    assert!(
        shown.contains("uit-vlag.db") && shown.contains("2026-12-24") && !shown.contains("2026-05-15"),
        "{shown}"
    );
    // The configured closed day counts for deadlines.
    let out = run(
        &[
            "--config",
            &file_arg,
            "calendar",
            "add",
            "2026-05-13",
            "2 werkdagen",
        ],
        &[],
    );
    assert!(text(&out).starts_with("2026-05-19\n"), "{}", text(&out));
    // A bad file: key and line.
    std::fs::write(
        &file,
        "[web]\nlisten = \"127.0.0.1:8080\"\nidle_timout_minutes = 5\n",
    )
    .unwrap();
    let out = run(&["--config", &file_arg, "config", "show"], &[]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("line 3") && err.contains("idle_timout_minutes") && err.contains("doorloop.toml"),
        "{err}"
    );
}

fn calendar_add_explains(dir: &Path) {
    let db = Db {
        url: format!("sqlite://{}", dir.join("c.db").display()),
        dir: dir.to_owned(),
    };
    let out = db.ok(&["calendar", "add", "2026-04-01", "10 werkdagen"]);
    assert!(out.starts_with("2026-04-17\n"), "{out}");
    assert!(
        out.contains("Goede Vrijdag") && out.contains("Tweede Paasdag"),
        "{out}"
    );
    let out = db.ok(&["calendar", "add", "2026-11-14", "6 weken", "--atw"]);
    assert!(out.starts_with("2026-12-28\n"), "{out}");
    assert!(out.contains("Tweede Kerstdag"), "{out}");
    let out = db.ok(&[
        "calendar",
        "add",
        "2026-05-13",
        "2 werkdagen",
        "--closed",
        "2026-05-15",
    ]);
    assert!(out.starts_with("2026-05-19\n"), "{out}");
    let err = db.fails(&["calendar", "add", "2026-04-01", "tien werkdagen"]);
    assert!(err.contains("tien werkdagen"), "{err}");
}

fn sqlite_is_wal_and_durable(dir: &Path) {
    let db = Db {
        url: format!("sqlite://{}", dir.join("d.db").display()),
        dir: dir.to_owned(),
    };
    db.ok(&["pathways"]);
    let wal = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().ends_with("-wal"));
    assert!(wal, "WAL file exists");
}

/// Four worker processes share 10,000 due timers on PostgreSQL; one is killed with SIGKILL
/// while it holds leases. Every timer fires exactly once.
fn workers_share_timers_and_survive_a_kill(base: &str) -> Result<(), Failed> {
    workers_share_timers(base, Fault::Kill)
}

/// A worker stopped (SIGSTOP) past its lease term while holding 500 timers: the others take
/// them over and fire them; woken (SIGCONT), it fires its stale claims too late, and nothing
/// happens twice — the case's state, versioned, no longer holds those timers.
fn a_worker_stopped_past_its_lease_does_nothing_twice(base: &str) -> Result<(), Failed> {
    workers_share_timers(base, Fault::Stop)
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Stop,
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill(1)")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn workers_share_timers(base: &str, fault: Fault) -> Result<(), Failed> {
    let cases: usize = if fault == Fault::Kill { 10_000 } else { 2_000 };
    const PATHWAY: &str = "key: kort\nname: Kort\nroles:\n  r: { name: R }\nsteps:\n  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, deadline: PT1H, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n";
    let schema = format!("workers_{}", uuid::Uuid::now_v7().simple());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        // Seed through the engine: cases started ten days ago, so every deadline (moved out
        // of quiet hours to a working morning at the latest) is due.
        let store = doorloop_engine::store::open(&url).await.unwrap();
        let engine = std::sync::Arc::new(doorloop_engine::engine::Engine::new(store, Default::default()));
        let then = chrono::Utc::now() - chrono::Duration::days(10);
        engine.publish_yaml(PATHWAY, then).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let engine = engine.clone();
            set.spawn(async move {
                for _ in 0..cases / 16 {
                    engine
                        .start_case(
                            "kort",
                            None,
                            "seed",
                            &anon_resident(&engine).await,
                            Default::default(),
                            then,
                        )
                        .await
                        .unwrap();
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    });
    let seeded = (cases / 16) * 16;
    let dir = tempfile::tempdir().unwrap();
    let worker = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(dir.path())
            .env("DOORLOOP_DATABASE_URL", &url)
            .args(["worker", "--lease-seconds", "3"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start worker")
    };
    let leased = |owner_like: &str| -> i64 {
        rt.block_on(async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
                .await
                .unwrap();
            sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM \"{schema}\".timers WHERE status = 'pending' AND lease_owner LIKE $1"
            ))
            .bind(owner_like)
            .fetch_one(&mut conn)
            .await
            .unwrap()
        })
    };
    // The doomed worker claims a batch and holds it.
    let mut doomed = match fault {
        Fault::Kill => worker(&["--batch", "500", "--claim-pause-ms", "600000"]),
        // Pauses briefly after claiming; stopped meanwhile, it fires the moment it wakes.
        Fault::Stop => worker(&["--batch", "500", "--claim-pause-ms", "1000", "--until-idle"]),
    };
    let doomed_owner = format!("%-{}", doomed.id());
    let started = std::time::Instant::now();
    while leased(&doomed_owner) < 500 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the doomed worker never claimed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if fault == Fault::Stop {
        signal(doomed.id(), "-STOP");
    }
    let mut others: Vec<_> = (0..3)
        .map(|_| worker(&["--batch", "200", "--until-idle"]))
        .collect();
    if fault == Fault::Kill {
        doomed.kill().unwrap(); // SIGKILL
        doomed.wait().unwrap();
    }
    for w in &mut others {
        assert!(w.wait().unwrap().success());
    }
    // Its leases expire (3 s) and are taken over, by the three while they run or by one more
    // whose clock runs ten seconds ahead (nobody waits for the leases to run out).
    let mut last = worker(&["--until-idle", "--clock-offset-seconds", "10"]);
    assert!(last.wait().unwrap().success());
    if fault == Fault::Stop {
        assert_eq!(
            leased(&doomed_owner),
            0,
            "its claims were taken over while it slept"
        );
        // Woken, the late worker fires what it had claimed long ago.
        signal(doomed.id(), "-CONT");
        assert!(doomed.wait().unwrap().success());
    }
    let (fired, pending, events): (i64, i64, i64) = rt.block_on(async {
        let mut conn2 = <sqlx::PgConnection as sqlx::Connection>::connect(base).await.unwrap();
        let fired: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{schema}\".timers WHERE status = 'fired'"))
            .fetch_one(&mut conn2)
            .await
            .unwrap();
        let pending: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{schema}\".timers WHERE status = 'pending'"))
            .fetch_one(&mut conn2)
            .await
            .unwrap();
        let events: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM \"{schema}\".events, jsonb_array_elements(payload) e WHERE e->>'type' = 'deadline_passed'"
        ))
        .fetch_one(&mut conn2)
        .await
        .unwrap();
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut conn2).await.unwrap();
        (fired, pending, events)
    });
    assert_eq!(pending, 0, "no timer left behind");
    assert_eq!(fired as usize, seeded, "every timer fired");
    assert_eq!(events as usize, seeded, "each exactly once");
    Ok(())
}

type Case = fn(&Db);

const BOTH: &[(&str, Case)] = &[
    ("publish_start_complete_show", publish_start_complete_show),
    (
        "messages_end_waits_from_the_command_line",
        messages_end_waits_from_the_command_line,
    ),
    (
        "bad_input_is_refused_and_changes_nothing",
        bad_input_is_refused_and_changes_nothing,
    ),
    ("demo_loads_and_summarises", demo_loads_and_summarises),
    ("notify_digest_and_outbox", notify_digest_and_outbox),
    (
        "accounts_tokens_and_the_access_log",
        accounts_tokens_and_the_access_log,
    ),
    ("bench_prints_its_line", bench_prints_its_line),
    (
        "clocks_are_suspended_resumed_and_extended",
        clocks_are_suspended_resumed_and_extended,
    ),
];

fn on_sqlite(test: Case) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let db = Db {
        url: format!("sqlite://{}", dir.path().join("doorloop.db").display()),
        dir: dir.path().to_owned(),
    };
    db.region();
    test(&db);
    Ok(())
}

fn on_postgres(base: &str, test: Case, owns_bench_schemas: bool) -> Result<(), Failed> {
    let schema = format!("cli_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let db = Db {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        dir: dir.path().to_owned(),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.region();
        test(&db)
    }));
    // The bench must have removed its own schema; only ours is left to drop.
    let leftover: i64 = rt.block_on(async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
            .await
            .unwrap();
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'bench_%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    });
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    if owns_bench_schemas && leftover > 0 {
        return Err(format!("{leftover} bench schema(s) left behind").into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let pg = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty());
    if pg.is_none() {
        println!("NOTE: PostgreSQL end-to-end tests SKIPPED ({PG_ENV} is not set); listed as ignored below.");
    }
    let mut trials = Vec::new();
    for &(name, test) in BOTH {
        trials.push(Trial::test(format!("sqlite::{name}"), move || on_sqlite(test)));
        let url = pg.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || match &url {
                Some(u) => on_postgres(u, test, name == "bench_prints_its_line"),
                None => Ok(()),
            })
            .with_ignored_flag(pg.is_none()),
        );
    }
    let url = pg.clone();
    trials.push(
        Trial::test(
            "postgres::workers_share_timers_and_survive_a_kill",
            move || match &url {
                Some(u) => workers_share_timers_and_survive_a_kill(u),
                None => Ok(()),
            },
        )
        .with_ignored_flag(pg.is_none()),
    );
    let url = pg.clone();
    trials.push(
        Trial::test(
            "postgres::a_worker_stopped_past_its_lease_does_nothing_twice",
            move || match &url {
                Some(u) => a_worker_stopped_past_its_lease_does_nothing_twice(u),
                None => Ok(()),
            },
        )
        .with_ignored_flag(pg.is_none()),
    );
    trials.push(Trial::test("sqlite::validate_reports_every_problem", || {
        let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        validate_reports_every_problem(dir.path());
        Ok(())
    }));
    trials.push(Trial::test(
        "sqlite::configuration_is_layered_and_shown_masked",
        || {
            let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
            configuration_is_layered_and_shown_masked(dir.path());
            Ok(())
        },
    ));
    trials.push(Trial::test("sqlite::calendar_add_explains", || {
        let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        calendar_add_explains(dir.path());
        Ok(())
    }));
    trials.push(Trial::test("sqlite::is_wal_and_durable", || {
        let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        sqlite_is_wal_and_durable(dir.path());
        Ok(())
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// A made-up resident for a test case.
async fn anon_resident(engine: &doorloop_engine::engine::Engine) -> String {
    let input = doorloop_engine::resident::ResidentInput {
        family_name: "Test".into(),
        ..Default::default()
    };
    engine.add_resident(&input, chrono::Utc::now()).await.unwrap().id
}
