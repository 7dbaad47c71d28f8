//! End-to-end in a real headless Chromium (Debian `chromium` + `chromium-driver`, driven
//! over WebDriver with fantoccini) against the real `doorloop serve` on a SQLite file.
//!
//! `.ci/run` installs the browser and sets `DOORLOOP_REQUIRE_BROWSER=1`, which turns a
//! missing browser into a failure; elsewhere the test is listed as ignored, with a notice.
//! Screenshots of the main screens land in `target/tmp/screenshots/` (not committed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test binary (harness = false)

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;

#[path = "browser/chain.rs"]
mod chain;
#[path = "browser/design.rs"]
mod design;
#[path = "browser/line.rs"]
mod line;
#[path = "browser/messages.rs"]
mod messages;
#[path = "browser/oidc.rs"]
mod oidc;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key the test server seals BSNs with (32 bytes of 7, base64).
const BSN_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const CHROMIUM: &str = "/usr/bin/chromium";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Setup {
    dir: tempfile::TempDir,
    url: String,
}

impl Setup {
    /// A SQLite file `db` in `dir`, with the municipality the tests' people work for.
    fn new(dir: tempfile::TempDir, db: &str) -> Setup {
        let setup = Setup {
            url: format!("sqlite://{}", dir.path().join(db).display()),
            dir,
        };
        setup.doorloop(&[
            "organisation",
            "add",
            "Oss",
            "--name",
            "Gemeente Oss",
            "--kind",
            "gemeente",
        ]);
        setup
    }

    fn doorloop(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_doorloop"))
            .current_dir(self.dir.path())
            .env("DOORLOOP_DATABASE_URL", &self.url)
            .env("DOORLOOP_BSN_KEY", BSN_KEY)
            .env("DOORLOOP_RESIDENT_BSN", "111222333")
            .args(args)
            .output()
            .expect("run doorloop");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "doorloop {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// A consultant with a name people read (`anna` is "Anna de Vries").
    fn user(&self, name: &str, team: &str) -> String {
        self.user_of(name, team, None)
    }

    /// A consultant of a named organisation (needed once there is more than one).
    fn user_of(&self, name: &str, team: &str, organisation: Option<&str>) -> String {
        let display = full_name(name);
        let mut args = vec![
            "user",
            "add",
            name,
            "--role",
            "consultant",
            "--team",
            team,
            "--display-name",
            &display,
        ];
        if let Some(o) = organisation {
            args.extend(["--organisation", o]);
        }
        self.doorloop(&args)
            .lines()
            .find_map(|l| l.strip_prefix("password (shown once): "))
            .expect("a printed password")
            .trim()
            .to_owned()
    }

    /// Registers a resident (`resident add` with these flags); their reference.
    fn resident(&self, flags: &[&str]) -> String {
        let mut args = vec!["resident", "add"];
        args.extend(flags);
        let out = self.doorloop(&args);
        out.split_whitespace().next().expect("a reference").to_owned()
    }

    /// Starts a case for a resident; its id.
    fn start_case(&self, pathway: &str, resident: &str, by: &str) -> String {
        self.doorloop(&["case", "start", pathway, "--resident", resident, "--by", by])
            .trim()
            .to_owned()
    }
}

/// The made-up full name of a test account.
fn full_name(login: &str) -> String {
    match login {
        "anna" => "Anna de Vries".to_owned(),
        "bert" => "Bert Jansen".to_owned(),
        "piet" => "Piet Mulder".to_owned(),
        "carl" => "Carl Smit".to_owned(),
        "tom" => "Tom Bakker".to_owned(),
        "lou" => "Lou Peters".to_owned(),
        "kim" => "Kim Visser".to_owned(),
        "gijs" => "Gijs Mulder".to_owned(),
        other => other.to_owned(),
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Words that must not reach a page a municipal worker reads: the engine's English and its
/// codes (role keys, option and outcome codes), where Dutch words and names belong.
const NOT_FOR_PEOPLE: &[&str] = &[
    "team_lead",
    "responsible",
    "working day",
    "weekends skipped",
    "next day",
    "calendar count",
    "clock suspended",
    "counted from",
    "beschut_werk",
    "betaald_werk",
    "regulier_werk",
    "ambulant-begeleider",
    "wmo-consulent",
    "casusregisseur",
    "loonwaardedeskundige",
];

/// Fails when the page shows one of [`NOT_FOR_PEOPLE`] outside a code editor or code sample.
async fn assert_no_codes(client: &Client, name: &str) {
    let shown = client
        .execute(
            "const b = document.body.cloneNode(true);
             b.querySelectorAll('textarea, pre, code, script, style').forEach(e => e.remove());
             return b.textContent;",
            vec![],
        )
        .await
        .unwrap();
    let shown = shown.as_str().unwrap_or_default();
    let found: Vec<&&str> = NOT_FOR_PEOPLE.iter().filter(|w| shown.contains(**w)).collect();
    assert!(found.is_empty(), "{name}: {found:?} reach the page:\n{shown}");
}

/// Saves a screenshot of one of Doorloop's pages (at the window's size) after checking its
/// words and its accessibility.
async fn shot(client: &Client, name: &str) {
    assert_no_codes(client, name).await;
    assert_accessible(client, name).await;
    assert_graphs_readable(client, name).await;
    shot_of_other_software(client, name).await;
}

/// The smallest text a drawn pathway may put on the screen, in CSS pixels.
const SMALLEST_GRAPH_TEXT: f64 = 10.0;

/// Fails when a pathway drawing on the page shows its text below [`SMALLEST_GRAPH_TEXT`]:
/// node labels are drawn at 13 px and edge labels at 12 px, so what reaches the screen is
/// 12 px × the drawing's shown width / its own width. Waits for the drawings to load and for
/// `graph.js` to fit them.
async fn assert_graphs_readable(client: &Client, name: &str) {
    let mut sizes = serde_json::Value::Null;
    for _ in 0..50 {
        sizes = client
            .execute(
                "const imgs = [...document.querySelectorAll('.graph-wrap img')];
                 if (imgs.some(i => !i.complete || !i.naturalWidth || !i.parentElement.dataset.scale)) { return null; }
                 return imgs.map(i => ({id: i.id, shown: i.getBoundingClientRect().width, own: i.naturalWidth,
                                        box: i.parentElement.clientWidth}));",
                vec![],
            )
            .await
            .unwrap();
        if !sizes.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sizes = sizes
        .as_array()
        .unwrap_or_else(|| panic!("{name}: a drawing did not load or was not fitted"));
    for size in sizes {
        let shown = size["shown"].as_f64().unwrap_or_default();
        let own = size["own"].as_f64().unwrap_or(1.0);
        let text = 12.0 * shown / own;
        assert!(
            text >= SMALLEST_GRAPH_TEXT - 0.05,
            "{name}: the drawing {} shows its text at {text:.1} px ({size})",
            size["id"]
        );
        println!(
            "{name}: drawing {} text at {text:.1} px, {shown:.0} of {own:.0} px wide",
            size["id"]
        );
    }
}

/// Saves a screenshot of a page that is not Doorloop's (the identity provider's login, the
/// bpmn-js test page), without holding it to Doorloop's rules.
async fn shot_of_other_software(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = screenshots().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

async fn text(client: &Client) -> String {
    text_of(client, Locator::Css("body")).await
}

/// The text of the element `locator` finds.
async fn text_of(client: &Client, locator: Locator<'_>) -> String {
    client.find(locator).await.unwrap().text().await.unwrap()
}

/// The path of the page the browser shows.
async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// The password a setup wrote for `name` when it made the account.
fn password(setup: &Setup, name: &str) -> String {
    std::fs::read_to_string(setup.dir.path().join(format!("{name}.pw"))).unwrap()
}

/// Makes a staff account (not a consultant) and keeps its password for [`log_in_as`].
fn staff(setup: &Setup, name: &str, role: &str) {
    staff_of(setup, name, role, None);
}

/// Staff of a named organisation (needed once the installation has more than one).
fn staff_of(setup: &Setup, name: &str, role: &str, organisation: Option<&str>) {
    let mut args = vec!["user", "add", name, "--role", role];
    if let Some(o) = organisation {
        args.extend(["--organisation", o]);
    }
    let out = setup.doorloop(&args);
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a password");
    std::fs::write(setup.dir.path().join(format!("{name}.pw")), pw.trim()).unwrap();
}

async fn log_in_as(client: &Client, base: &str, setup: &Setup, name: &str) {
    login(client, base, name, &password(setup, name)).await;
}

async fn login(client: &Client, base: &str, name: &str, password: &str) {
    client.goto(&format!("{base}/taken")).await.unwrap();
    assert!(
        path_of(client).await.starts_with("/inloggen"),
        "not logged in yet: login page"
    );
    fill(client, Locator::Id("gebruikersnaam"), name).await;
    fill(client, Locator::Id("wachtwoord"), password).await;
    click_and_wait(client, Locator::Id("inloggen")).await;
}

/// Clicks a submit button or link and waits until the next page has replaced this one.
async fn click_and_wait(client: &Client, locator: Locator<'_>) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    client.find(locator).await.unwrap().click().await.unwrap();
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the page did not change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.wait().for_element(Locator::Css("body")).await.unwrap();
}

/// Types into a field.
async fn fill(client: &Client, locator: Locator<'_>, text: &str) {
    client.find(locator).await.unwrap().send_keys(text).await.unwrap();
}

/// Sets an input's value the way a date picker would (typing into date inputs depends on
/// the browser's locale).
async fn set_value(client: &Client, css: &str, value: &str) {
    client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap();
}

/// A raw form POST with the browser's session cookie, as a cross-site attacker's page
/// would send it (no CSRF token; optionally a foreign Origin).
async fn raw_post(port: u16, path: &str, cookie: &str, body: &str, origin: Option<&str>) -> u16 {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut req = hyper::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let res = client
        .request(req.body(Full::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    res.status().as_u16()
}

/// A fresh headless Chromium (its own profile directory) of the given window width.
async fn browser(driver: u16, width: u32, height: u32) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--window-size={width},{height}"), "--lang=nl",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .expect("connect to chromedriver");
    (client, profile)
}

/// `doorloop serve` on the setup's database and a free port; stops when the guard drops.
fn serve(setup: &Setup, extra: &[&str]) -> Result<(Guard, u16), Failed> {
    serve_on(setup, free_port(), extra)
}

/// `doorloop serve` on the setup's database and the given port.
fn serve_on(setup: &Setup, port: u16, extra: &[&str]) -> Result<(Guard, u16), Failed> {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let mut server = Command::new(env!("CARGO_BIN_EXE_doorloop"))
        .current_dir(setup.dir.path())
        .env("DOORLOOP_DATABASE_URL", &setup.url)
        .env("DOORLOOP_BSN_KEY", BSN_KEY)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failed::from(format!("starting doorloop serve: {e}")))?;
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let guard = Guard(server);
    wait_for_port(port, "doorloop serve");
    Ok((guard, port))
}

async fn consultant_completes_the_intake(setup: &Setup, port: u16, driver: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let pablo = setup.resident(&[
        "--given-name",
        "Pablo",
        "--family-name",
        "Verhoeven",
        "--birth-date",
        "17-03-1997",
        "--municipality",
        "Oss",
        "--phone",
        "06-12345678",
        "--bsn-from-env",
    ]);
    let case = setup.start_case("van-zorg-naar-werk", &pablo, "bert");
    setup.doorloop(&[
        "case",
        "complete",
        &case,
        "signaal",
        "--by",
        "bert",
        "--var",
        "motivatie=wil werken",
        "--var",
        "trede=2",
    ]);
    let (client, _profile) = browser(driver, 1366, 900).await;
    let result = async {
        log_in_as(&client, &base, setup, "anna").await;
        assert_eq!(path_of(&client).await, "/taken");
        // Nothing is hers yet: the intake waits in the team's werkvoorraad.
        let page = text(&client).await;
        assert!(
            page.contains("Er zijn geen taken aan u toegewezen") && !page.contains("Intake"),
            "{page}"
        );
        click_and_wait(&client, Locator::Css("header nav a[href='/werkvoorraad']")).await;
        let page = text(&client).await;
        assert!(page.contains("Werkvoorraad") && page.contains("Intake"), "{page}");
        shot(&client, "01-werkvoorraad").await;
        click_and_wait(
            &client,
            Locator::Css(&format!("tr[data-case='{case}'] form button")),
        )
        .await;
        let page = text(&client).await;
        assert!(
            page.contains("De taak is opgepakt: u vindt hem onder Mijn taken."),
            "a confirmation where the eye is: {page}"
        );
        click_and_wait(&client, Locator::Css("header nav a[href='/taken']")).await;
        let page = text(&client).await;
        assert!(page.contains("Mijn taken") && page.contains("Intake"), "{page}");
        shot(&client, "01-mijn-taken").await;

        click_and_wait(
            &client,
            Locator::Css(&format!("tr[data-case='{case}'] a.task-link")),
        )
        .await;
        assert!(text(&client).await.contains("Gezamenlijk bezoek plannen"));
        let day = (chrono::Utc::now() + chrono::Duration::days(7))
            .format("%Y-%m-%d")
            .to_string();
        set_value(&client, "input[name=datum]", &day).await;
        set_value(&client, "input[name=tijd]", "10:30").await;
        fill(
            &client,
            Locator::Css("input[name=plaats]"),
            "Wijkcentrum De Schakel",
        )
        .await;
        // Bert, who sent the signal, is on the case team: invite him too.
        client
            .find(Locator::Css(
                "#bezoekformulier input[name=deelnemer][value='bert']",
            ))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The GP's practice nurse comes too, invited by e-mail.
        fill(
            &client,
            Locator::Css("#bezoekformulier textarea[name=gasten]"),
            "poh@huisartsdeschakel.nl",
        )
        .await;
        shot(&client, "02-bezoek-plannen").await;
        click_and_wait(&client, Locator::Css("#bezoekformulier button[type=submit]")).await;
        let page = text(&client).await;
        assert!(
            page.contains("Bezoek gepland op") && page.contains("10:30"),
            "{page}"
        );

        // Bert finds the visit he is invited to in his own Mijn taken, while anna holds the task.
        {
            let (invitee, _profile) = browser(driver, 1366, 768).await;
            log_in_as(&invitee, &base, setup, "bert").await;
            let page = text(&invitee).await;
            assert!(
                page.contains("Gezamenlijke bezoeken waarvoor u bent uitgenodigd")
                    && page.contains("Intake")
                    && page.contains("Wijkcentrum De Schakel")
                    && page.contains("10:30"),
                "{page}"
            );
            shot(&invitee, "02b-uitgenodigd-voor-bezoek").await;
            invitee.close().await.unwrap();
        }

        // The outcome form: a missing field gets its message next to it; input stays.
        fill(
            &client,
            Locator::Css("#veld-ik_wil"),
            "Werken in de groenvoorziening",
        )
        .await;
        click_and_wait(&client, Locator::Id("afronden")).await;
        let error = text_of(&client, Locator::Id("fout-ik_kan")).await;
        assert_eq!(error, "Vul dit veld in.");
        let kept = client
            .find(Locator::Css("#veld-ik_wil"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("Werken in de groenvoorziening"));
        shot(&client, "03-formulier-met-fouten").await;
        fill(
            &client,
            Locator::Css("#veld-ik_kan"),
            "Buiten werken, met vaste collega's",
        )
        .await;
        fill(
            &client,
            Locator::Css("#veld-ik_heb_nodig"),
            "Een jobcoach en vervoer",
        )
        .await;
        client
            .find(Locator::Css("#veld-uitkering"))
            .await
            .unwrap()
            .select_by_value("bijstand")
            .await
            .unwrap();
        click_and_wait(&client, Locator::Id("afronden")).await;
        // The visit lies a week ahead: the outcome asks for confirmation first.
        let question = text_of(&client, Locator::Id("bevestigen")).await;
        assert!(question.contains("dat is nog niet geweest"), "{question}");
        shot(&client, "03b-uitkomst-voor-het-bezoek").await;
        click_and_wait(&client, Locator::Id("afronden")).await;

        // The case moved on.
        assert_eq!(path_of(&client).await, format!("/casussen/{case}"));
        let page = text(&client).await;
        assert!(page.contains("Opgeslagen"), "{page}");
        let open = text_of(&client, Locator::Id("open-taken")).await;
        assert!(open.contains("Integraal casusoverleg"), "{open}");
        let timeline = text_of(&client, Locator::Id("tijdlijn")).await;
        assert!(
            timeline.contains("Afgerond: Intake")
                && timeline.contains("Anna de Vries")
                && !timeline.contains("anna"),
            "{timeline}"
        );
        let width = client
            .execute("return document.getElementById('graaf').naturalWidth;", vec![])
            .await
            .unwrap();
        assert!(
            width.as_u64().unwrap_or(0) > 200,
            "the pathway graph rendered: {width}"
        );
        let plan = text_of(&client, Locator::Id("plan")).await;
        assert!(
            plan.contains("Ik wil")
                && plan.contains("Werken in de groenvoorziening")
                && plan.contains("Huidige uitkering")
                && plan.contains("Bijstand (Participatiewet)"),
            "the kitchen-table answers on the case page: {plan}"
        );
        let resident = text_of(&client, Locator::Id("inwoner")).await;
        assert!(resident.contains("Pablo Verhoeven"), "{resident}");
        shot(&client, "04-casuspagina").await;
        client
            .execute("document.querySelector('.graph-tools').scrollIntoView();", vec![])
            .await
            .unwrap();
        shot(&client, "04c-casus-in-het-schema").await;
        // The drawing opens on the current step, in the middle of its box.
        let place = client
            .execute(
                "const w = document.querySelector('.graph-wrap'); const i = w.querySelector('img');
                 const s = Number(w.dataset.scale);
                 return [i.offsetTop + Number(w.dataset.focusY) * s - w.scrollTop, w.clientHeight];",
                vec![],
            )
            .await
            .unwrap();
        let (at, box_height) = (
            place[0].as_f64().unwrap_or(-1.0),
            place[1].as_f64().unwrap_or(0.0),
        );
        assert!(
            at > box_height * 0.3 && at < box_height * 0.7,
            "the current step lies at {at} of {box_height} px"
        );
        client.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
        // A phone call with Pablo goes on the timeline, by her name.
        client
            .find(Locator::Css("#notitie summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .find(Locator::Css("#notitie select[name=soort]"))
            .await
            .unwrap()
            .select_by_value("telefoon")
            .await
            .unwrap();
        fill(
            &client,
            Locator::Css("#notitie textarea[name=tekst]"),
            "Pablo gebeld: hij neemt zijn moeder mee naar het overleg.",
        )
        .await;
        click_and_wait(&client, Locator::Css("#notitie button")).await;
        let page = text(&client).await;
        assert!(page.contains("De notitie staat op de tijdlijn."), "{page}");
        let timeline = text_of(&client, Locator::Id("tijdlijn")).await;
        assert!(
            timeline.contains("Telefoongesprek: Pablo gebeld: hij neemt zijn moeder mee naar het overleg.")
                && timeline.contains("door Anna de Vries"),
            "{timeline}"
        );
        shot(&client, "04b-notitie-op-tijdlijn").await;

        // Work the pathway does not draw: an ad-hoc task with its reason, for her own team.
        client
            .execute(
                "document.getElementById('taak-toevoegen').scrollIntoView({block: 'center'});",
                vec![],
            )
            .await
            .unwrap();
        client
            .find(Locator::Css("#taak-toevoegen summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(
            &client,
            Locator::Css("#taak-toevoegen input[name=wat]"),
            "Schuldhulp regelen",
        )
        .await;
        fill(
            &client,
            Locator::Css("#taak-toevoegen input[name=reden]"),
            "Pablo heeft schulden; die staan werk in de weg",
        )
        .await;
        client
            .find(Locator::Css("#taak-toevoegen select[name=rol]"))
            .await
            .unwrap()
            .select_by_value("wmo-consulent")
            .await
            .unwrap();
        click_and_wait(&client, Locator::Css("#taak-toevoegen button")).await;
        let page = text(&client).await;
        assert!(
            page.contains("De taak is toegevoegd; hij staat bij de open taken."),
            "{page}"
        );
        assert!(
            page.contains("Schuldhulp regelen")
                && page.contains(
                    "Buiten het traject toegevoegd. Reden: Pablo heeft schulden; die staan werk in de weg"
                ),
            "{page}"
        );
        let timeline = text_of(&client, Locator::Id("tijdlijn")).await;
        assert!(
            timeline.contains("Taak toegevoegd buiten het traject: Schuldhulp regelen"),
            "{timeline}"
        );
        shot(&client, "04d-taak-buiten-het-traject").await;
        client.goto(&format!("{base}/werkvoorraad")).await.unwrap();
        assert!(
            text(&client).await.contains("Schuldhulp regelen"),
            "on the team's work: {}",
            text(&client).await
        );
        client.goto(&format!("{base}/casussen/{case}")).await.unwrap();

        // Inwoners: anna searches Pablo by the start of his name and opens his line.
        client
            .find(Locator::LinkText("Inwoners"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(&client, Locator::Id("zoekveld"), "pab").await;
        click_and_wait(&client, Locator::Css("form[role=search] button")).await;
        let results = text_of(&client, Locator::Id("zoekresultaten")).await;
        assert!(
            results.contains("Pablo Verhoeven") && results.contains(&pablo),
            "{results}"
        );
        shot(&client, "05-inwoner-zoeken").await;
        click_and_wait(&client, Locator::LinkText("Pablo Verhoeven")).await;
        let page = text(&client).await;
        assert!(
            page.contains("Pablo Verhoeven") && page.contains("geboren 17-03-1997"),
            "{page}"
        );
        let team = text_of(&client, Locator::Id("contactpersonen")).await;
        assert!(
            team.contains("Anna de Vries") && team.contains("Bert Jansen"),
            "who works with him: {team}"
        );
        let next = text_of(&client, Locator::Id("wat-nu")).await;
        assert!(
            next.contains("Integraal casusoverleg"),
            "what happens next: {next}"
        );
        let ladder = text_of(&client, Locator::Id("ladder")).await;
        assert!(ladder.contains("2 – sociale contacten"), "{ladder}");
        assert!(!page.contains("111222333"), "the BSN only on request");
        shot(&client, "06-inwonerpagina").await;
        click_and_wait(&client, Locator::Id("bsn-tonen")).await;
        assert!(text_of(&client, Locator::Id("bsn")).await.contains("111222333"));

        // A cross-site POST with anna's cookie but without the CSRF token is refused.
        let cookie = client.get_named_cookie("doorloop_sessie").await.unwrap();
        let cookie = format!("doorloop_sessie={}", cookie.value());
        let claim = format!("/casussen/{case}/taken/t9999/oppakken");
        assert_eq!(
            raw_post(port, &claim, &cookie, "terug=/taken", None).await,
            403,
            "CSRF-less POST"
        );
        let csrf = client
            .find(Locator::Css("input[name=_csrf]"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        let status = raw_post(
            port,
            &claim,
            &cookie,
            &format!("_csrf={csrf}"),
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(status, 403, "foreign Origin");
        let before = setup.doorloop(&["case", "show", &case]);
        assert!(before.contains("casusoverleg"));

        click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;
        assert!(path_of(&client).await.starts_with("/inloggen"));

        // Another team's consultant cannot open the case.
        log_in_as(&client, &base, setup, "piet").await;
        assert!(text(&client).await.contains("Geen open taken"));
        shot(&client, "05-mijn-taken-leeg").await;
        client.goto(&format!("{base}/casussen/{case}")).await.unwrap();
        let page = text(&client).await;
        assert!(
            page.contains("Niet gevonden") && !page.contains("Tijdlijn"),
            "{page}"
        );
        shot(&client, "06-niet-gevonden").await;
        client.goto(&format!("{base}/taken")).await.unwrap();
        click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;

        // A manager reads the case (read-only) and the stall queue; a coordinator sees the pathways.
        log_in_as(&client, &base, setup, "mark").await;
        client.goto(&format!("{base}/casussen/{case}")).await.unwrap();
        let page = text(&client).await;
        assert!(
            page.contains("alleen lezen") && page.contains("Tijdlijn"),
            "{page}"
        );
        client.goto(&format!("{base}/vastgelopen")).await.unwrap();
        assert!(text(&client).await.contains("Vastgelopen casussen"));
        shot(&client, "07-vastgelopen").await;
        client.goto(&format!("{base}/casussen")).await.unwrap();
        shot(&client, "08-casussen-manager").await;
        click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;
        log_in_as(&client, &base, setup, "carla").await;
        client.goto(&format!("{base}/trajecten")).await.unwrap();
        assert!(text(&client).await.contains("Van zorg naar werk"));
        shot(&client, "09-trajecten").await;
        // The whole pathway drawn on its page, at a laptop's 1,366 × 768: fitted, never
        // below readable text, and zoomable.
        client.set_window_size(1366, 768).await.unwrap();
        client
            .goto(&format!("{base}/trajecten/van-zorg-naar-werk"))
            .await
            .unwrap();
        client
            .execute("document.querySelector('.graph-tools').scrollIntoView();", vec![])
            .await
            .unwrap();
        shot(&client, "09b-trajectschema").await;
        let scale = |c: &Client| {
            let c = c.clone();
            async move {
                let v = c
                    .execute(
                        "return Number(document.querySelector('.graph-wrap').dataset.scale);",
                        vec![],
                    )
                    .await
                    .unwrap();
                v.as_f64().unwrap_or_default()
            }
        };
        let fitted = scale(&client).await;
        client
            .find(Locator::Css("button[aria-label='Inzoomen']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let zoomed = scale(&client).await;
        assert!(zoomed > fitted * 1.2, "zoomed in from {fitted} to {zoomed}");
        client
            .find(Locator::Css("button[aria-label='Passend maken in de breedte']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(scale(&client).await, fitted);
        // Need to know, as the pathway sets it, readable for the coordinator.
        client
            .execute(
                "document.getElementById('wie-leest-wat').scrollIntoView();",
                vec![],
            )
            .await
            .unwrap();
        let reads = text_of(&client, Locator::Id("wie-leest-wat")).await;
        assert!(
            reads.contains("Klantmanager Werk & Inkomen") && reads.contains("zorg en gezondheid"),
            "{reads}"
        );
        shot(&client, "09c-wie-leest-wat").await;
        client.set_window_size(1366, 900).await.unwrap();

        let log = setup.doorloop(&["access-log", "--case", &case]);
        assert!(log.contains("anna") && log.contains("casuspagina"), "{log}");
        assert!(
            !log.contains("piet"),
            "a refused view shows nothing and logs nothing: {log}"
        );
        assert!(log.contains("mark"), "the manager's view is logged: {log}");
    }
    .await;
    let _ = client.close().await;
    result
}

fn run_browser_test() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let setup = Setup::new(dir, "browser.db");
    setup.doorloop(&[
        "publish",
        &repo()
            .join("workflows/simpel-switchen.yaml")
            .display()
            .to_string(),
    ]);
    setup.doorloop(&[
        "publish",
        &repo()
            .join("workflows/van-zorg-naar-werk.yaml")
            .display()
            .to_string(),
    ]);
    for (name, team) in [
        ("anna", "wmo-consulent"),
        ("piet", "jobcoach"),
        ("bert", "ambulant-begeleider"),
    ] {
        let pw = setup.user(name, team);
        std::fs::write(setup.dir.path().join(format!("{name}.pw")), pw).unwrap();
    }
    staff(&setup, "mark", "manager");
    staff(&setup, "carla", "coordinator");
    let (_server, port) = serve(&setup, &[])?;
    let (_driver, driver_port) = chromedriver()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(consultant_completes_the_intake(&setup, port, driver_port));
    Ok(())
}

/// A file of a test-only npm package under `tests/{dir}` (its package.json and lockfile are
/// committed), installed by the harness with `npm ci` when missing.
fn npm_file(dir: &str, file: &str) -> Result<PathBuf, Failed> {
    let root = repo().join("tests").join(dir);
    let path = root.join("node_modules").join(file);
    if !path.exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&root)
            .status()
            .map_err(|e| Failed::from(format!("npm is needed to install tests/{dir}: {e}")))?;
        if !status.success() || !path.exists() {
            return Err(Failed::from(format!("npm ci in tests/{dir} failed")));
        }
    }
    Ok(path)
}

/// bpmn-js from npm: the modeler, as in bpmn.io, which draws the file and saves it again.
fn bpmn_viewer() -> Result<PathBuf, Failed> {
    npm_file("bpmn-js", "bpmn-js/dist/bpmn-modeler.production.min.js")
}

/// axe-core from npm, read once: the accessibility rules every screenshot is checked by.
fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let path = npm_file("axe", "axe-core/axe.min.js").unwrap_or_else(|e| panic!("{e:?}"));
        std::fs::read_to_string(path).unwrap()
    })
}

/// Runs axe-core on the page for WCAG 2.1 A and AA; fails with every violation found.
async fn assert_accessible(client: &Client, name: &str) {
    client
        .execute(&format!("{}\nreturn true;", axe_source()), vec![])
        .await
        .unwrap();
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — '
                   + v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' ' + (n.any[0] ? n.any[0].message : '')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    let found: Vec<String> = serde_json::from_value(found).unwrap_or_default();
    assert!(
        found.is_empty(),
        "{name}: WCAG 2.1 AA violations:\n{}",
        found.join("\n")
    );
}

/// Every shipped pathway, exported as BPMN, opens in bpmn-js without import warnings, with
/// a shape for every step, and comes back unchanged after bpmn-js saved it.
async fn bpmn_js_opens_the_exports(driver: u16, viewer: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let pages = tempfile::tempdir().unwrap();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--allow-file-access-from-files", "--window-size=1600,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .expect("connect to chromedriver");
    // The shipped pathways, and every MIWG reference model Doorloop imports as a valid
    // pathway (drawn in other tools, exported again by Doorloop).
    let mut pathways: Vec<(String, doorloop_engine::pathway::model::Pathway)> = [
        "van-zorg-naar-werk",
        "jongeren-zorg-school-werk",
        "simpel-switchen",
    ]
    .iter()
    .map(|name| {
        let yaml = std::fs::read_to_string(repo().join(format!("workflows/{name}.yaml"))).unwrap();
        let pathway = doorloop_engine::pathway::definition::from_yaml(&yaml)
            .unwrap()
            .pathway;
        ((*name).to_owned(), pathway)
    })
    .collect();
    // A pathway with phases, drawn as sub-processes with a boundary timer.
    let phased = std::fs::read_to_string(repo().join("engine/tests/bpmn/phases.yaml")).unwrap();
    pathways.push((
        "fasen".to_owned(),
        doorloop_engine::pathway::definition::from_yaml(&phased)
            .unwrap()
            .pathway,
    ));
    let mut references: Vec<PathBuf> = std::fs::read_dir(repo().join("engine/tests/bpmn-miwg/reference"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    references.sort();
    for file in references {
        let xml = std::fs::read_to_string(&file).unwrap();
        if let Ok(p) = doorloop_engine::bpmn::import::import(&xml)
            && doorloop_engine::pathway::validate::validate_pathway(&p).is_empty()
        {
            let model = file
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            pathways.push((format!("miwg-{model}"), p));
        }
    }
    assert!(pathways.len() >= 3 + 8, "{} pathways", pathways.len());
    for (name, pathway) in pathways {
        let name = name.as_str();
        let xml = doorloop_engine::bpmn::export::export(&pathway).unwrap();
        let page = pages.path().join(format!("{name}.html"));
        std::fs::write(
            &page,
            format!(
                r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>bezig</title>
<style>html,body,#canvas{{height:100%;margin:0}}</style></head><body><div id="canvas"></div>
<script src="file://{viewer}"></script>
<script>
const viewer = new BpmnJS({{ container: '#canvas' }});
viewer.importXML({xml}).then(function (result) {{
  window.importWarnings = result.warnings.map(function (w) {{ return w.message; }});
  window.shapes = viewer.get('elementRegistry').filter(function (e) {{ return e.type !== 'label' && !e.waypoints; }}).length;
  viewer.get('canvas').zoom('fit-viewport');
  return viewer.saveXML({{ format: true }});
}}).then(function (saved) {{
  window.saved = saved.xml;
  document.title = 'klaar';
}}).catch(function (e) {{ window.importWarnings = ['error: ' + e.message]; document.title = 'fout'; }});
</script></body></html>"#,
                viewer = viewer.display(),
                xml = serde_json::to_string(&xml).unwrap(),
            ),
        )
        .unwrap();
        client.goto(&format!("file://{}", page.display())).await.unwrap();
        let mut title = String::new();
        for _ in 0..100 {
            title = client.title().await.unwrap();
            if title != "bezig" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let warnings = client
            .execute("return window.importWarnings || ['no result']", vec![])
            .await
            .unwrap();
        assert_eq!(title, "klaar", "{name}: {warnings}");
        assert_eq!(warnings, json!([]), "{name}: bpmn-js import warnings");
        let shapes = client.execute("return window.shapes", vec![]).await.unwrap();
        // The process itself counts as one element; boundary timers add to the steps.
        assert!(
            shapes.as_u64().unwrap_or(0) > pathway.steps.len() as u64,
            "{name}: {shapes} shapes for {} steps",
            pathway.steps.len()
        );
        if !name.starts_with("miwg-") {
            shot_of_other_software(&client, &format!("bpmn-{name}")).await;
        }
        // Saved again by bpmn.io's modeler, the file keeps every Doorloop property: it
        // imports to the same pathway.
        let saved = client.execute("return window.saved", vec![]).await.unwrap();
        let saved = saved.as_str().unwrap_or_default();
        assert!(saved.contains("<bpmn:definitions"), "{name}: nothing saved");
        let back = doorloop_engine::bpmn::import::import(saved).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, pathway, "{name}: changed by a round trip through bpmn-js");
    }
    let _ = client.close().await;
}

/// Starts chromedriver on a free port; it stops when the guard is dropped.
fn chromedriver() -> Result<(Guard, u16), Failed> {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(format!("starting chromedriver: {e}")))?;
    let guard = Guard(driver);
    wait_for_port(port, "chromedriver");
    Ok((guard, port))
}

fn run_bpmn_js_test() -> Result<(), Failed> {
    let viewer = bpmn_viewer()?;
    let (_driver, driver_port) = chromedriver()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bpmn_js_opens_the_exports(driver_port, &viewer));
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let available = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    let required = std::env::var("DOORLOOP_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    if !available && !required {
        println!(
            "NOTE: browser tests SKIPPED: {CHROMIUM} / {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver; .ci/run does)."
        );
    }
    let trial = |name: &str, test: fn() -> Result<(), Failed>| {
        Trial::test(name, move || {
            if !available {
                return Err(Failed::from(format!(
                    "{CHROMIUM} and {CHROMEDRIVER} are required (DOORLOOP_REQUIRE_BROWSER=1)"
                )));
            }
            test()
        })
        .with_ignored_flag(!available && !required)
    };
    let trials = vec![
        trial("browser::consultant_completes_the_intake", run_browser_test),
        trial("browser::bpmn_js_opens_every_exported_pathway", run_bpmn_js_test),
        trial(
            "browser::coordinator_publishes_and_migrates_manager_reads_figures",
            design::run_design_test,
        ),
        trial(
            "browser::municipal_login_through_openid_connect",
            oidc::run_oidc_test,
        ),
        trial(
            "browser::a_resident_falls_back_and_stays_one_line",
            line::run_line_test,
        ),
        trial(
            "browser::consent_opens_and_closes_a_case_to_a_care_provider",
            chain::run_chain_test,
        ),
        trial(
            "browser::messages_and_held_routes_on_the_case_and_task_pages",
            messages::run_messages_test,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
