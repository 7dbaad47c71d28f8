//! A coordinator edits a pathway with a mistake, sees it at the step, fixes it, publishes
//! v2 and migrates a case; a manager reads the stuck, bottleneck and outcome views, whose
//! numbers must match a data set built here (the Oss pilot's shape) with the engine.

use std::sync::Arc;

use chrono::TimeZone;
use doorloop_engine::demo::pilot::{self, Pilot, Route};
use doorloop_engine::engine::Engine;
use doorloop_engine::store::SqliteStore;
use doorloop_engine::time::calendar::Calendar;

use super::*;

const KEY: &str = "van-zorg-naar-werk";

fn vznw() -> String {
    std::fs::read_to_string(repo().join("workflows/van-zorg-naar-werk.yaml")).unwrap()
}

/// Nearest-rank percentile, computed here independently of the product.
fn rank(mut v: Vec<i64>, q: f64) -> i64 {
    v.sort_unstable();
    let k = ((q * v.len() as f64).ceil() as usize).max(1);
    v[k - 1]
}

fn days(hours: i64) -> String {
    if hours < 48 {
        format!("{hours} uur")
    } else {
        format!("{} dagen", hours / 24)
    }
}

async fn cell_texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for cell in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(cell.text().await.unwrap().trim().to_owned());
    }
    out
}

async fn js(client: &Client, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
    client.execute(script, args).await.unwrap()
}

/// Waits until the image has loaded and returns its natural width.
async fn image_width(client: &Client, id: &str) -> u64 {
    for _ in 0..100 {
        let w = js(
            client,
            "const i = document.getElementById(arguments[0]); return i && i.complete ? i.naturalWidth : 0;",
            vec![json!(id)],
        )
        .await;
        if w.as_u64().unwrap_or(0) > 0 {
            return w.as_u64().unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    0
}

async fn manager_reads_the_figures(client: &Client, base: &str, setup: &Setup, data: &Pilot) {
    log_in_as(client, base, setup, "mark").await;
    // Stuck: four waiting for the UWV insurance doctor, grouped by party.
    client
        .goto(&format!("{base}/vastgelopen?traject={KEY}"))
        .await
        .unwrap();
    let uwv = cell_texts(client, "tbody[data-reason='uwv'] tr.total td").await;
    assert_eq!(uwv[1], "4", "{uwv:?}");
    assert!(text(client).await.contains("UWV verzekeringsarts"));
    shot(client, "10-vastgelopen-per-reden").await;
    click_and_wait(client, Locator::Css("tbody[data-reason='uwv'] tr.party a")).await;
    let rows = client.find_all(Locator::Css("#casussen tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 4);
    // Listed by the resident's name, linked to the case.
    let mut listed = Vec::new();
    for a in client.find_all(Locator::Css("#casussen tbody a")).await.unwrap() {
        listed.push(a.attr("href").await.unwrap().unwrap_or_default());
    }
    for (id, route) in &data.cases {
        let shown = listed.iter().any(|href| href.ends_with(id.as_str()));
        assert_eq!(shown, *route == Route::WaitingForUwv, "{id}: {listed:?}");
    }
    shot(client, "11-vastgelopen-casussen").await;

    // Bottlenecks: the numbers on each step, and the graph drawn with them.
    client
        .goto(&format!(
            "{base}/analyse/knelpunten?traject={KEY}&versie=1&van=2025-01&tot=2026-11"
        ))
        .await
        .unwrap();
    let wait = data.hours["wacht_herbeoordeling"].clone();
    let cells = cell_texts(client, "tr[data-step='wacht_herbeoordeling'] td").await;
    assert_eq!(
        cells[1..],
        [
            "4".to_owned(),
            wait.len().to_string(),
            days(rank(wait.clone(), 0.5)),
            days(rank(wait.clone(), 0.9))
        ],
        "{cells:?}"
    );
    let intake = data.hours["intake"].clone();
    let cells = cell_texts(client, "tr[data-step='intake'] td").await;
    assert_eq!(cells[3], days(rank(intake.clone(), 0.5)), "{cells:?}");
    let class = client
        .find(Locator::Css("tr[data-step='wacht_herbeoordeling']"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap();
    assert_eq!(class.as_deref(), Some("bad"), "over the red threshold");
    assert!(
        image_width(client, "knelpunt-graaf").await > 600,
        "the graph is drawn"
    );
    shot(client, "12-knelpunten").await;
    // The manager moves the thresholds: the long wait turns green.
    client
        .find(Locator::Css("input[name=groen]"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    fill(client, Locator::Css("input[name=groen]"), "400").await;
    client
        .find(Locator::Css("input[name=rood]"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    fill(client, Locator::Css("input[name=rood]"), "500").await;
    click_and_wait(client, Locator::Css("#knelpunt-filter button")).await;
    let class = client
        .find(Locator::Css("tr[data-step='wacht_herbeoordeling']"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap();
    assert_eq!(class.as_deref(), Some("good"));

    // Outcomes: the pilot's figures.
    client
        .goto(&format!(
            "{base}/analyse/uitkomsten?traject={KEY}&van=2025-01&tot=2025-12"
        ))
        .await
        .unwrap();
    let n = |id: &'static str| async move { text_of(client, Locator::Id(id)).await };
    assert_eq!(n("deelnemers").await, "53");
    assert_eq!(n("omhoog").await, "38");
    assert_eq!(n("naar-werk").await, "12");
    // No small count shows, and none can be found from the others: where one is hidden,
    // a second one is too.
    let per_outcome = cell_texts(client, "#per-uitkomst td.num").await;
    assert!(
        per_outcome.iter().all(|c| !matches!(c.parse::<i64>(), Ok(1..=4))),
        "{per_outcome:?}"
    );
    let hidden = per_outcome.iter().filter(|c| *c == "<5" || *c == "×").count();
    assert_ne!(
        hidden, 1,
        "one hidden count follows from the total: {per_outcome:?}"
    );
    shot(client, "13-uitkomsten").await;
    // Per municipality, side by side, for the region.
    let side = text_of(client, Locator::Id("per-gemeente")).await;
    for m in ["Gemeente Oss", "Gemeente Uden", "Gemeente Bernheze", "Hele regio"] {
        assert!(side.contains(m), "{m}: {side}");
    }
    client
        .execute(
            "document.getElementById('per-gemeente').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    shot(client, "13b-uitkomsten-per-gemeente").await;
    client
        .goto(&format!(
            "{base}/analyse/instroom?traject={KEY}&van=2025-01&tot=2025-12"
        ))
        .await
        .unwrap();
    assert!(text(client).await.contains("Instroom per cohort"));
    shot(client, "14-instroom").await;
    click_and_wait(client, Locator::Css("form[action='/uitloggen'] button")).await;
}

async fn coordinator_fixes_publishes_and_migrates(client: &Client, base: &str, setup: &Setup) {
    log_in_as(client, base, setup, "carla").await;
    client.goto(&format!("{base}/trajecten")).await.unwrap();
    shot(client, "15-trajecten").await;
    click_and_wait(
        client,
        Locator::Css("#trajecten a[href='/trajecten/van-zorg-naar-werk']"),
    )
    .await;
    click_and_wait(
        client,
        Locator::Css("a[href='/trajecten/van-zorg-naar-werk/bewerken']"),
    )
    .await;
    // Two mistakes: the signal goes to a step that does not exist, and the case summary names
    // a field that does not exist.
    let source = vznw();
    let broken =
        source
            .replacen("next: intake", "next: intak", 1)
            .replacen("uitkering, plan", "uitkerin, plan", 1);
    set_value(client, "#bron", &broken).await;
    click_and_wait(client, Locator::Id("controleren")).await;
    let problems = text_of(client, Locator::Id("problemen")).await;
    assert!(problems.contains("3 problemen"), "{problems}");
    let general = text_of(client, Locator::Id("algemeen")).await;
    assert!(
        general
            .contains("`summary` noemt `uitkerin`, maar dat is geen trajectvariabele en geen formulierveld."),
        "{general}"
    );
    let at_step = text_of(client, Locator::Css("#stapproblemen [data-step='signaal']")).await;
    assert!(
        at_step.contains("Verwijst naar stap `intak`, die niet bestaat."),
        "{at_step}"
    );
    let behind = text_of(client, Locator::Css("#stapproblemen [data-step='intake']")).await;
    assert!(
        behind.contains("niet te bereiken, en daardoor ook de 28 stap(pen)"),
        "{behind}"
    );
    let marked = cell_texts(client, "#regels span.bad").await;
    assert!(!marked.is_empty(), "a line number is marked");
    assert!(
        image_width(client, "concept-graaf").await > 300,
        "the draft is drawn"
    );
    assert!(
        client.find(Locator::Id("publiceren")).await.is_err(),
        "no publishing with a problem"
    );
    shot(client, "16-bewerken-met-fout").await;
    // Jumping to the line selects it in the editor.
    client
        .find(Locator::Css("#stapproblemen a[data-line]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let selected = js(
        client,
        "const a = document.getElementById('bron'); return a.value.substring(a.selectionStart, a.selectionEnd);",
        vec![],
    )
    .await;
    assert!(
        selected.as_str().unwrap_or("").contains("id: signaal"),
        "{selected}"
    );

    // Fixed, with two changes: a new id for the intake, a longer UWV term.
    let v2 = source
        .replace("id: intake", "id: kennismaking")
        .replace("next: intake", "next: kennismaking")
        .replace(
            "deadline: { term: 16 weken, atw: true }",
            "deadline: { term: 26 weken, atw: true }",
        );
    set_value(client, "#bron", &v2).await;
    click_and_wait(client, Locator::Id("controleren")).await;
    assert!(client.find(Locator::Id("geldig")).await.is_ok());
    let diff = text_of(client, Locator::Id("verschil")).await;
    assert!(
        diff.contains("Toegevoegd") && diff.contains("kennismaking"),
        "{diff}"
    );
    assert!(diff.contains("Verwijderd") && diff.contains("(intake)"), "{diff}");
    assert!(
        diff.contains("Wachten op herbeoordeling")
            && diff.contains("termijn: 16 weken (Algemene termijnenwet) → 26 weken (Algemene termijnenwet)"),
        "old → new: {diff}"
    );
    shot(client, "17-bewerken-verschil").await;
    click_and_wait(client, Locator::Id("publiceren")).await;
    assert!(text(client).await.contains("Versie 2 is gepubliceerd"));
    shot(client, "18-gepubliceerd").await;

    // Migration: proposal, dry run, one case over.
    click_and_wait(client, Locator::Css("a[href*='/overzetten?van=1']")).await;
    let proposal = client
        .find(Locator::Css("tr[data-step='wacht_herbeoordeling'] select"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(proposal.as_deref(), Some("wacht_herbeoordeling"));
    click_and_wait(client, Locator::Id("proefdraai")).await;
    let dry = text_of(client, Locator::Id("proef")).await;
    assert!(dry.contains("4 casus(sen) kunnen over"), "{dry}");
    assert!(
        dry.contains("blijft open op de nieuwe stap") && dry.contains("termijn"),
        "{dry}"
    );
    let boxes = client
        .find_all(Locator::Css("#proef input[name=casus]"))
        .await
        .unwrap();
    assert_eq!(boxes.len(), 4);
    let chosen = boxes[0].attr("value").await.unwrap().unwrap();
    for b in &boxes[1..] {
        b.click().await.unwrap();
    }
    shot(client, "19-proefdraai").await;
    click_and_wait(client, Locator::Id("overzetten")).await;
    assert!(text(client).await.contains("1 casus(sen) overgezet"));
    let shown = setup.doorloop(&["case", "show", &chosen]);
    assert!(shown.contains("migrated from version 1 to 2"), "{shown}");
    let list = setup.doorloop(&["pathways"]);
    assert!(list.contains("v2"), "{list}");

    // A draft she regrets: thrown away only after she confirms, the published versions kept.
    client
        .goto(&format!("{base}/trajecten/van-zorg-naar-werk/bewerken"))
        .await
        .unwrap();
    let draft = v2.replace("deadline: 10 werkdagen", "deadline: 12 werkdagen");
    set_value(client, "#bron", &draft).await;
    click_and_wait(client, Locator::Id("controleren")).await;
    click_and_wait(client, Locator::Id("weggooien")).await;
    let ask = text_of(client, Locator::Id("weggooien-vraag")).await;
    assert!(
        ask.contains("Concept weggooien?") && ask.contains("Gepubliceerde versies blijven zoals ze zijn"),
        "{ask}"
    );
    shot(client, "19b-concept-weggooien").await;
    click_and_wait(client, Locator::Id("weggooien-bevestigen")).await;
    assert_eq!(path_of(client).await, "/trajecten/van-zorg-naar-werk");
    let page = text(client).await;
    assert!(
        page.contains("Bewerken") && !page.contains("Concept verder bewerken"),
        "the draft is gone: {page}"
    );
}

async fn both(setup: &Setup, port: u16, driver: u16, data: &Pilot) {
    let base = format!("http://127.0.0.1:{port}");
    let (client, _profile) = browser(driver, 1440, 1800).await;
    manager_reads_the_figures(&client, &base, setup, data).await;
    coordinator_fixes_publishes_and_migrates(&client, &base, setup).await;
    let _ = client.close().await;
}

pub(crate) fn run_design_test() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let setup = Setup::new(dir, "design.db");
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
    // The pilot's participants live in five municipalities: the regional manager reads them.
    setup.doorloop(&[
        "organisation",
        "add",
        "regio",
        "--name",
        "Regio Noordoost-Brabant",
        "--kind",
        "regio",
    ]);
    staff_of(&setup, "mark", "manager", Some("regio"));
    staff_of(&setup, "carla", "coordinator", Some("Oss"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The known data set, through the engine on the same database file.
    let data = rt.block_on(async {
        let store = SqliteStore::open(&setup.url).await.unwrap();
        let engine = Engine::new(Arc::new(store), Calendar::default());
        let first = chrono::Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).unwrap();
        pilot::load(&engine, first, chrono::Duration::days(3))
            .await
            .unwrap()
    });
    let (_server, port) = serve(&setup, &["--no-scheduler"])?;
    let (_driver, driver_port) = chromedriver()?;
    rt.block_on(both(&setup, port, driver_port, &data));
    Ok(())
}
