//! Coordinators editing, publishing and migrating; managers' figures against a known data
//! set (the Oss pilot's shape).

use super::*;
use chrono::TimeZone;
use doorloop_engine::demo::pilot::{self, Route};

const KEY: &str = "van-zorg-naar-werk";

/// Version 2: the signal gets ten working days, the intake a new id (same name).
fn v2() -> String {
    VZNW.replace("deadline: 5 werkdagen", "deadline: 10 werkdagen")
        .replace("id: intake", "id: kennismaking")
        .replace("next: intake", "next: kennismaking")
}

pub(crate) async fn coordinator_edits_validates_publishes_and_migrates(f: Fixture) {
    let carla = f.login("carla").await;
    let (status, _, list) = f.page(&carla, "/trajecten").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("href=\"/trajecten/van-zorg-naar-werk\""), "{list}");
    assert!(list.contains("v1 · 2"), "versions with their running cases");
    let (status, _, show) = f.page(&carla, &format!("/trajecten/{KEY}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(show.contains("/trajecten/van-zorg-naar-werk/1/graaf.svg"));
    let (status, _, editor) = f.page(&carla, &format!("/trajecten/{KEY}/bewerken")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        editor.contains("key: van-zorg-naar-werk"),
        "the published text in the editor"
    );
    assert!(!editor.contains("id=\"publiceren\""), "nothing to publish yet");
    // The pathway by its name, not its key.
    assert!(
        editor.contains("<h1>Van zorg naar werk (pilot regio Oss) bewerken</h1>"),
        "{editor}"
    );

    let edit = format!("/trajecten/{KEY}/bewerken");
    // A field the reader does not know: said in Dutch, with the step's number.
    let misspelt = VZNW.replacen("next: intake", "nxt: intake", 1);
    let (status, _) = f.post(&carla, &edit, &[("bron", &misspelt)], true).await;
    assert!(status == StatusCode::SEE_OTHER || status == StatusCode::UNPROCESSABLE_ENTITY);
    let (_, _, html) = f.page(&carla, &edit).await;
    assert!(
        html.contains(
            "het bestand is geen geldig traject: stap 2: onbekend veld &#x60;nxt&#x60;; mogelijk zijn:"
        ),
        "{html}"
    );

    // A mistake: the signal points at a step that does not exist.
    let broken = VZNW.replacen("next: intake", "next: intak", 1);
    let (status, _) = f.post(&carla, &edit, &[("bron", &broken)], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = f.page(&carla, &edit).await;
    assert!(html.contains("id=\"problemen\""), "{html}");
    assert!(
        html.contains("data-step=\"signaal\""),
        "the problem sits at its step"
    );
    assert!(
        html.contains("Verwijst naar stap &#x60;intak&#x60;, die niet bestaat."),
        "in Dutch"
    );
    assert!(!html.contains("id=\"publiceren\""), "no publishing with problems");
    let line = broken.lines().position(|l| l.contains("next: intak")).unwrap() + 1;
    let signaal_line = broken.lines().position(|l| l.contains("id: signaal")).unwrap() + 1;
    assert!(
        html.contains(&format!("<span class=\"bad\">{signaal_line}</span>"))
            || html.contains(&format!("<span class=\"bad\">{line}</span>")),
        "the line is marked in the editor"
    );
    let graph = f
        .page(&carla, &format!("/trajecten/{KEY}/concept/graaf.svg"))
        .await;
    assert_eq!(graph.0, StatusCode::OK);
    assert!(
        graph.2.contains("1 probleem") && graph.2.contains("#dc2626"),
        "red on the graph"
    );
    // Without a CSRF token nothing is saved.
    let (status, _) = f.post(&carla, &edit, &[("bron", &v2())], false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A file for another key is refused and not saved.
    let other = VZNW.replace("key: van-zorg-naar-werk", "key: iets-anders");
    let (status, html) = f.post(&carla, &edit, &[("bron", &other)], true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("De sleutel in het bestand is &#x60;iets-anders&#x60;"));
    assert_eq!(f.engine.store().draft(KEY).await.unwrap().unwrap().source, broken);

    // Fixed and changed: valid, with a diff against v1.
    let (status, _) = f.post(&carla, &edit, &[("bron", &v2())], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = f.page(&carla, &edit).await;
    assert!(html.contains("id=\"geldig\""), "{html}");
    assert!(html.contains("id=\"verschil\""));
    assert!(
        html.contains("<ul class=\"added\"><li>Intake: ik wil / ik kan / ik heb nodig (kennismaking)</li>"),
        "{html}"
    );
    assert!(html.contains("<ul class=\"removed\"><li>Intake: ik wil / ik kan / ik heb nodig (intake)</li>"));
    assert!(
        html.contains(
            "Signaal en aanmelding voor het traject (signaal): termijn: 5 werkdagen → 10 werkdagen; \
             vervolg: Intake: ik wil / ik kan / ik heb nodig (intake) → Intake: ik wil / ik kan / ik heb nodig (kennismaking)"
        ),
        "{html}"
    );
    assert!(html.contains("Publiceren als versie 2"));
    let hash = auth::token_hash(&v2());
    let publish = format!("/trajecten/{KEY}/publiceren");
    let (status, _) = f.post(&carla, &publish, &[("hash", "0000")], true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "only the text that was checked");
    let (status, _) = f.post(&carla, &publish, &[("hash", &hash)], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(f.engine.store().pathway(KEY, None).await.unwrap().version, 2);
    assert!(
        f.engine.store().draft(KEY).await.unwrap().is_none(),
        "the draft is gone"
    );
    let (_, _, show) = f.page(&carla, &format!("/trajecten/{KEY}?gepubliceerd=2")).await;
    assert!(show.contains("Versie 2 is gepubliceerd"));
    assert!(show.contains("/trajecten/van-zorg-naar-werk/overzetten?van=1&amp;naar=2"));

    // Migration: the proposal maps the intake by its name.
    let (status, _, form) = f
        .page(&carla, &format!("/trajecten/{KEY}/overzetten?van=1&naar=2"))
        .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains("data-step=\"intake\""));
    assert!(
        form.contains("<option value=\"kennismaking\" selected>"),
        "{form}"
    );
    // Dry run with the intake left unmapped: that case is refused, nothing changes.
    let dry = format!("/trajecten/{KEY}/overzetten/proef?van=1&naar=2&naar_signaal=signaal&naar_intake=");
    let (status, _, html) = f.page(&carla, &dry).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("niet gekoppeld aan een stap van versie 2"),
        "{html}"
    );
    let dry = format!(
        "/trajecten/{KEY}/overzetten/proef?van=1&naar=2&naar_signaal=signaal&naar_intake=kennismaking"
    );
    let (_, _, html) = f.page(&carla, &dry).await;
    assert!(html.contains("2 casus(sen) kunnen over"), "{html}");
    assert!(html.contains("blijft open op de nieuwe stap"));
    assert!(html.contains("; termijn "), "the recomputed deadline is shown");
    assert_eq!(
        f.engine
            .store()
            .load_case(&f.mine)
            .await
            .unwrap()
            .unwrap()
            .pathway_version,
        1
    );
    assert!(
        f.views(&f.mine).await >= 1,
        "a dry run is a view of the case, and logged"
    );
    // Apply to one case; the other stays on v1.
    let fields = [
        ("van", "1"),
        ("naar", "2"),
        ("naar_signaal", "signaal"),
        ("naar_intake", "kennismaking"),
        ("casus", f.mine.as_str()),
    ];
    let (status, _) = f
        .post(&carla, &format!("/trajecten/{KEY}/overzetten"), &fields, true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let moved = f.engine.store().load_case(&f.mine).await.unwrap().unwrap();
    assert_eq!(moved.pathway_version, 2);
    assert_eq!(moved.tasks.values().next().unwrap().step, "kennismaking");
    let stayed = f.engine.store().load_case(&f.foreign).await.unwrap().unwrap();
    assert_eq!(stayed.pathway_version, 1);
    let events = f.engine.store().events(&f.mine).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event.kind.name() == "case_migrated" && e.event.actor == "carla")
    );
    // The versions table counts running cases where they are now: one moved to v2, one stayed.
    let (_, _, show) = f.page(&carla, &format!("/trajecten/{KEY}")).await;
    for version in ["v1", "v2"] {
        let row = show
            .split("<tr><td>")
            .find(|r| r.starts_with(version))
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_default();
        assert!(
            row.matches("<td class=\"num\">1</td>").count() == 2,
            "{version}: one running, one in all: {row}"
        );
    }
    let anna = f.login("anna").await;
    let (_, _, case) = f.page(&anna, &format!("/casussen/{}", f.mine)).await;
    assert!(
        case.contains("Overgezet van versie 1 naar versie 2"),
        "on the timeline"
    );
    // The figures follow: v2 alone has no history yet; "alle versies" shows v1's on v2's
    // steps, the renamed intake included, and the funnel counts the intake under its new id.
    let mark = f.login("mark").await;
    let figures = |q: &'static str| {
        let f = &f;
        let mark = &mark;
        async move {
            let (status, _, html) = f
                .page(mark, &format!("/analyse/knelpunten?traject={KEY}{q}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{html}");
            html
        }
    };
    let cells = |html: &str, step: &str| -> Vec<String> {
        let row = html
            .split(&format!("data-step=\"{step}\">"))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_default();
        row.split("<td class=\"num\">")
            .skip(1)
            .map(|c| c.split('<').next().unwrap_or_default().to_owned())
            .collect()
    };
    let v2_alone = figures("&versie=2").await;
    assert_eq!(cells(&v2_alone, "signaal")[..2], ["0", "0"], "{v2_alone}");
    assert_eq!(cells(&v2_alone, "kennismaking")[0], "1");
    let all = figures("&versie=2&alle=1").await;
    assert!(all.contains("id=\"alle-versies\" checked"), "{all}");
    assert_eq!(
        cells(&all, "signaal")[..2],
        ["1", "1"],
        "the case on v1 and v1's history: {all}"
    );
    assert_eq!(cells(&all, "kennismaking")[0], "1");
    let (status, _, svg) = f
        .page(
            &mark,
            &format!("/analyse/knelpunten/graaf.svg?traject={KEY}&alle=1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("nu: 1"), "{svg}");
    let (_, _, funnel) = f
        .page(&mark, &format!("/analyse/instroom?traject={KEY}&klein=tonen"))
        .await;
    let intake = row_cells(&funnel, "Intake");
    assert!(
        intake.first().is_some_and(|c| c.starts_with('1')),
        "the renamed intake keeps its count: {intake:?}"
    );
    // Only coordinators edit and migrate.
    assert_eq!(f.page(&anna, &edit).await.0, StatusCode::FORBIDDEN);
    let mark = f.login("mark").await;
    assert_eq!(
        f.post(&mark, &edit, &[("bron", &v2())], true).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.page(&mark, &format!("/trajecten/{KEY}/overzetten?van=1&naar=2"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Throwing a draft away asks first; the draft stays until the coordinator confirms.
    let (status, _) = f.post(&carla, &edit, &[("bron", &v2())], true).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    assert!(f.engine.store().draft(KEY).await.unwrap().is_some());
    let discard = format!("/trajecten/{KEY}/concept/verwijderen");
    let (status, asked) = f.post(&carla, &discard, &[], true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        asked.contains("Concept weggooien?") && asked.contains("Ja, concept weggooien"),
        "{asked}"
    );
    assert!(
        f.engine.store().draft(KEY).await.unwrap().is_some(),
        "not yet thrown away"
    );
    let (status, _) = f.post(&carla, &discard, &[("bevestigd", "ja")], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(f.engine.store().draft(KEY).await.unwrap().is_none());
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

/// The text of the cells (header cells too) of the first table row whose first cell
/// starts with `label`; the label cell is left out.
fn row_cells(html: &str, label: &str) -> Vec<String> {
    let strip = |text: &str| {
        let mut out = String::new();
        let mut tag = false;
        for ch in text.chars() {
            match ch {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => out.push(c),
                _ => {}
            }
        }
        out.trim().to_owned()
    };
    for row in html.split("<tr").skip(1) {
        let row = row.split("</tr>").next().unwrap_or("");
        let cells: Vec<String> = row
            .split("<t")
            .skip(1)
            .filter(|c| c.starts_with('d') || c.starts_with('h'))
            .map(|c| {
                let inner = c.split_once('>').map_or("", |(_, rest)| rest);
                strip(inner.split("</t").next().unwrap_or(""))
            })
            .collect();
        if cells.first().is_some_and(|c| c.starts_with(label)) {
            return cells[1..].to_vec();
        }
    }
    panic!("no row starting with {label}");
}

pub(crate) async fn manager_figures_match_a_known_data_set(f: Fixture) {
    let first = Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).unwrap();
    let data = pilot::load(&f.engine, first, Duration::days(3)).await.unwrap();
    assert_eq!(data.cases.len(), 53);
    // The pilot's participants live in five municipalities: the regional manager reads them all.
    let mark = f.login("rita").await;
    let q = format!("traject={KEY}&van=2025-01&tot=2025-12");

    // Outcomes: the pilot's three figures.
    let (status, _, html) = f.page(&mark, &format!("/analyse/uitkomsten?{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"deelnemers\">53<"), "{html}");
    assert!(html.contains("id=\"omhoog\">38<"));
    assert!(html.contains("id=\"naar-werk\">12<"));
    // The period is chosen from Dutch month names, whatever the browser's language.
    assert!(
        html.contains("<option value=\"2025-01\" selected>januari 2025</option>")
            && html.contains("<option value=\"2025-12\" selected>december 2025</option>")
            && !html.contains("type=\"month\""),
        "{html}"
    );
    // Without a choice: the pathway with the most participants, over the last 24 months.
    let (_, _, chosen) = f.page(&mark, "/analyse/uitkomsten").await;
    assert!(
        chosen.contains("<h1>Uitkomsten: Van zorg naar werk (pilot regio Oss)</h1>"),
        "{chosen}"
    );
    let now = Utc::now().with_timezone(&chrono_tz::Europe::Amsterdam);
    let from = now
        .date_naive()
        .checked_sub_months(chrono::Months::new(23))
        .unwrap();
    assert!(
        chosen.contains(&format!("value=\"{}\"", from.format("%Y-%m"))),
        "24 months back: {chosen}"
    );
    assert!(html.contains("72%") && html.contains("23%"));
    // Ladder cells: 2→6 five, 2→5 seven, 1→3 twenty-six; stopped ones stay put.
    assert_eq!(row_cells(&html, "2 sociale")[5], "5");
    assert_eq!(row_cells(&html, "2 sociale")[4], "7");
    assert_eq!(row_cells(&html, "1 geïsoleerd")[2], "26");
    // Three stopped: a small cell, hidden unless asked for.
    assert_eq!(
        row_cells(&html, "gestopt").first().map(String::as_str),
        Some("&lt;5")
    );
    let (_, _, shown) = f
        .page(&mark, &format!("/analyse/uitkomsten?{q}&klein=tonen"))
        .await;
    assert_eq!(
        row_cells(&shown, "gestopt").first().map(String::as_str),
        Some("3")
    );
    // CSV.
    let (status, headers, csv) = f.page(&mark, &format!("/analyse/uitkomsten.csv?{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    // For Excel: a byte-order mark, Dutch labels, a row per start month and a total row.
    assert!(
        csv.starts_with(
            "\u{feff}traject;gemeente;startmaand;deelnemers;minstens één trede omhoog;omlaag;met twee metingen;\
             uitgestroomd naar werk;lopen nog;afgesloten: betaald werk;afgesloten: beschut werk;"
        ),
        "{csv}"
    );
    assert!(csv.contains("trede 1 → 3"), "{csv}");
    let total = csv
        .lines()
        .find(|l| {
            l.starts_with("Van zorg naar werk (pilot regio Oss);Hele regio (alle gemeenten samen);totaal;")
        })
        .unwrap_or_else(|| panic!("a total row: {csv}"));
    assert!(total.contains(";totaal;53;38;0;53;12;"), "{total}");
    assert!(!total.contains(";3;"), "suppressed in the export too: {total}");
    assert!(
        csv.lines().any(|l| l.contains(";jan 2025;")),
        "a row per start month: {csv}"
    );
    assert!(!csv.contains("betaald_werk"), "labels, not codes: {csv}");

    // Per municipality, side by side: the region reads each; the rows add up to the region.
    let (_, _, side) = f
        .page(&mark, &format!("/analyse/uitkomsten?{q}&klein=tonen"))
        .await;
    let table = side.split("id=\"per-gemeente\"").nth(1).unwrap_or_default();
    let mut sum = 0;
    for m in [
        "Gemeente Oss",
        "Gemeente Uden",
        "Gemeente Bernheze",
        "Gemeente Boekel",
        "Gemeente Landerd",
    ] {
        let n: i64 = row_cells(table, m)[0]
            .parse()
            .unwrap_or_else(|_| panic!("{m}: {table}"));
        assert!(n > 0, "{m}");
        sum += n;
    }
    assert_eq!(sum, 53, "{table}");
    assert_eq!(row_cells(table, "Hele regio")[0], "53");
    let uden: String = row_cells(table, "Gemeente Uden")[0].clone();
    // Suppressed, no column has one hidden municipality count: it would follow from the total.
    let (_, _, hidden) = f.page(&mark, &format!("/analyse/uitkomsten?{q}")).await;
    let table = hidden.split("id=\"per-gemeente\"").nth(1).unwrap_or_default();
    let rows: Vec<Vec<String>> = [
        "Gemeente Oss",
        "Gemeente Uden",
        "Gemeente Bernheze",
        "Gemeente Boekel",
        "Gemeente Landerd",
    ]
    .iter()
    .map(|m| row_cells(table, m))
    .collect();
    for column in [0, 1, 3, 5] {
        let small = rows
            .iter()
            .filter(|r| r[column] == "&lt;5" || r[column] == "×")
            .count();
        assert_ne!(small, 1, "column {column}: {rows:?}");
    }
    assert!(
        rows.iter().all(|r| !matches!(r[0].parse::<i64>(), Ok(1..=4))),
        "{rows:?}"
    );
    // A municipality's manager reads their own and the region's total, no other municipality.
    let ulla = f.login("ulla").await;
    let (status, _, own) = f
        .page(&ulla, &format!("/analyse/uitkomsten?{q}&klein=tonen"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        own.contains(&format!("id=\"deelnemers\">{uden}<")),
        "Uden's own: {own}"
    );
    let table = own.split("id=\"per-gemeente\"").nth(1).unwrap_or_default();
    assert_eq!(row_cells(table, "Gemeente Uden")[0], uden);
    assert_eq!(row_cells(table, "Hele regio")[0], "53");
    assert!(
        !table.contains("Gemeente Oss") && !own.contains("value=\"Oss\""),
        "{table}"
    );
    let (status, _, refused) = f
        .page(&ulla, &format!("/analyse/uitkomsten?{q}&gemeente=Oss"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        refused.contains("niet die van een andere gemeente apart"),
        "{refused}"
    );
    let (status, _, _) = f
        .page(&ulla, &format!("/analyse/uitkomsten.csv?{q}&gemeente=Oss"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor in the export");
    let (_, _, region) = f
        .page(&ulla, &format!("/analyse/uitkomsten?{q}&gemeente=regio"))
        .await;
    assert!(
        region.contains("id=\"deelnemers\">53<"),
        "the region as a whole: {region}"
    );
    let (_, _, csv) = f
        .page(&ulla, &format!("/analyse/uitkomsten.csv?{q}&klein=tonen"))
        .await;
    assert!(
        csv.lines().any(|l| l.starts_with(&format!(
            "Van zorg naar werk (pilot regio Oss);Gemeente Uden;totaal;{uden};"
        ))),
        "{csv}"
    );
    // Bad periods are named.
    let (status, _, html) = f
        .page(&mark, &format!("/analyse/uitkomsten?traject={KEY}&van=2025-13"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("Ongeldige maand bij &#x27;van&#x27;") || html.contains("Ongeldige maand bij 'van'"),
        "{html}"
    );
    let (status, _, _) = f
        .page(
            &mark,
            &format!("/analyse/uitkomsten?traject={KEY}&van=2025-06&tot=2025-01"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Stuck: four waiting for the UWV insurance doctor.
    let now = Utc::now();
    let mut waits = Vec::new();
    for (id, route) in &data.cases {
        if *route == Route::WaitingForUwv {
            let s = f.engine.store().load_case(id).await.unwrap().unwrap();
            waits.push((now - s.stalls.values().next().unwrap().since).num_days());
        }
    }
    assert_eq!(waits.len(), 4);
    let (status, _, html) = f.page(&mark, &format!("/vastgelopen?traject={KEY}")).await;
    assert_eq!(status, StatusCode::OK);
    let uwv = row_cells(&html, "wacht op UWV");
    assert_eq!(uwv[1], "4", "{uwv:?}");
    assert_eq!(uwv[2], rank(waits.clone(), 0.5).to_string());
    assert!(uwv[3].starts_with(&waits.iter().max().unwrap().to_string()));
    assert!(html.contains("UWV verzekeringsarts"));
    let (status, _, list) = f
        .page(
            &mark,
            "/vastgelopen/casussen?reden=uwv&partij=UWV+verzekeringsarts",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (id, route) in &data.cases {
        assert_eq!(list.contains(id.as_str()), *route == Route::WaitingForUwv);
    }
    // Oss's manager: only the waits of residents of Oss (every other pilot participant),
    // in the counts and in the list.
    let oss: Vec<&String> = data
        .cases
        .iter()
        .enumerate()
        .filter(|(i, (_, route))| *route == Route::WaitingForUwv && i % 2 == 0)
        .map(|(_, (id, _))| id)
        .collect();
    assert!(!oss.is_empty() && oss.len() < 4, "{oss:?}");
    let oss_manager = f.login("mark").await;
    let (_, _, html) = f.page(&oss_manager, &format!("/vastgelopen?traject={KEY}")).await;
    assert_eq!(row_cells(&html, "wacht op UWV")[1], oss.len().to_string());
    let (_, _, list) = f
        .page(
            &oss_manager,
            "/vastgelopen/casussen?reden=uwv&partij=UWV+verzekeringsarts",
        )
        .await;
    for (id, _) in &data.cases {
        assert_eq!(list.contains(id.as_str()), oss.contains(&id), "{id}");
    }

    // Bottlenecks: open work and time spent per step.
    let b = format!("traject={KEY}&versie=1&van=2025-01&tot=2026-11");
    let (status, _, html) = f.page(&mark, &format!("/analyse/knelpunten?{b}")).await;
    assert_eq!(status, StatusCode::OK);
    let wait = &data.hours["wacht_herbeoordeling"];
    let cells = row_cells(&html, "Wachten op herbeoordeling");
    assert_eq!(cells[0], "4", "open now: {cells:?}");
    assert_eq!(cells[1], wait.len().to_string(), "left in the period");
    assert_eq!(cells[2], days(rank(wait.clone(), 0.5)));
    assert_eq!(cells[3], days(rank(wait.clone(), 0.9)));
    let signal = &data.hours["signaal"];
    let cells = row_cells(&html, "Signaal en aanmelding");
    assert_eq!(cells[2], days(rank(signal.clone(), 0.5)), "{cells:?}");
    // Coloured by the manager's thresholds: the long UWV wait is red, the signal green.
    assert!(html.contains("<tr class=\"bad\" data-step=\"wacht_herbeoordeling\">"));
    assert!(html.contains("<tr class=\"good\" data-step=\"signaal\">"));
    let (_, _, loose) = f
        .page(&mark, &format!("/analyse/knelpunten?{b}&groen=400&rood=500"))
        .await;
    assert!(loose.contains("<tr class=\"good\" data-step=\"wacht_herbeoordeling\">"));
    let (status, _, svg) = f.page(&mark, &format!("/analyse/knelpunten/graaf.svg?{b}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("nu: 4") && svg.contains(&format!("p90 {}", days(rank(wait.clone(), 0.9)))));

    // The funnel: per start month, how many reached each step.
    let (status, _, html) = f.page(&mark, &format!("/analyse/instroom?{q}&klein=tonen")).await;
    assert_eq!(status, StatusCode::OK);
    let started = row_cells(&html, "Gestart");
    let total: i64 = started.iter().map(|c| c.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 53);
    let signals = row_cells(&html, "Signaal en aanmelding");
    assert_eq!(
        signals
            .iter()
            .map(|c| c.split_whitespace().next().unwrap().to_owned())
            .collect::<Vec<_>>(),
        started,
        "everyone reached the first step"
    );
    // Drawn: bars as shares of all who started in the period.
    let drawn = html.split("id=\"trechter-getekend\"").nth(1).unwrap_or_default();
    assert!(
        drawn.contains(
            "aria-label=\"53 (100%)\"><rect class=\"bar\" x=\"0\" y=\"0\" height=\"10\" width=\"100.0\">"
        ),
        "{drawn}"
    );
    let widths: Vec<f64> = drawn
        .split("width=\"")
        .skip(1)
        .filter_map(|w| w.split('"').next()?.parse().ok())
        .collect();
    assert!(widths.len() >= 3, "{drawn}");
    let (_, _, hidden) = f.page(&mark, &format!("/analyse/instroom?{q}")).await;
    let drawn = hidden
        .split("id=\"trechter-getekend\"")
        .nth(1)
        .unwrap_or_default();
    for row in drawn.split("<tr>").skip(1).filter(|r| r.contains("&lt;5")) {
        assert!(!row.contains("<svg"), "a small count has no bar: {row}");
    }
    // With each row's total drawn, no row of the table hides exactly one count.
    let table = hidden
        .split("id=\"trechter\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_default();
    for row in table.split("<tr").skip(1) {
        let small = row.matches(">&lt;5").count() + row.matches(">×").count();
        assert_ne!(small, 1, "one hidden count follows from the total: {row}");
    }
    assert!(widths.iter().all(|w| (0.0..=100.0).contains(w)), "{widths:?}");

    // Only managers see these screens; coordinators see the stuck groups without cases.
    let anna = f.login("anna").await;
    assert_eq!(
        f.page(&anna, "/analyse/knelpunten").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(f.page(&anna, "/vastgelopen").await.0, StatusCode::FORBIDDEN);
    let carla = f.login("carla").await;
    assert_eq!(
        f.page(&carla, "/analyse/uitkomsten").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, html) = f.page(&carla, "/vastgelopen").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("/vastgelopen/casussen"));
    assert_eq!(
        f.page(&carla, "/vastgelopen/casussen?reden=uwv").await.0,
        StatusCode::FORBIDDEN
    );
}

/// A multipart form post of one file, as a browser sends `<input type=file>`.
fn multipart_request(s: &Session, path: &str, csrf: &str, file: &str) -> Request<Body> {
    let boundary = "----doorloop-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"bestand\"; filename=\"proces.bpmn\"\r\n\
         Content-Type: application/xml\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    Request::post(path)
        .header(header::COOKIE, &s.cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

async fn upload(f: &Fixture, s: &Session, path: &str, csrf: &str, file: &str) -> (StatusCode, String) {
    let (status, _, html) = f.send(multipart_request(s, path, csrf, file)).await;
    (status, html)
}

pub(crate) async fn coordinator_imports_a_bpmn_file_into_a_draft(f: Fixture) {
    let bpmn = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/../engine/tests/bpmn/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let carla = f.login("carla").await;
    let (status, _, form) = f.page(&carla, "/trajecten/importeren").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("enctype=\"multipart/form-data\""));
    // Without the CSRF token nothing is read.
    let (status, _) = upload(
        &f,
        &carla,
        "/trajecten/importeren",
        "fout",
        &bpmn("camunda7-intake.bpmn"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(f.engine.store().drafts().await.unwrap().is_empty());
    // A file with elements Doorloop does not run: each one named, nothing kept.
    let (status, html) = upload(
        &f,
        &carla,
        "/trajecten/importeren",
        &carla.csrf,
        &bpmn("unsupported.bpmn"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("niets ingelezen")
            && html.contains("deelproces &#x60;sub&#x60; (subProcess (event sub-process))"),
        "{html}"
    );
    assert!(f.engine.store().drafts().await.unwrap().is_empty());
    // A Camunda 7 file becomes the draft of its pathway, in the editor as YAML.
    let (status, _) = upload(
        &f,
        &carla,
        "/trajecten/importeren",
        &carla.csrf,
        &bpmn("camunda7-intake.bpmn"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let drafts = f.engine.store().drafts().await.unwrap();
    assert_eq!(drafts.len(), 1);
    let key = drafts[0].key.clone();
    let (status, _, editor) = f.page(&carla, &format!("/trajecten/{key}/bewerken")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        editor.contains(&format!("key: {key}")) && editor.contains("id=\"geldig\""),
        "{editor}"
    );
    assert!(editor.contains("Publiceren als versie 1"));
    // What the import decided or left out heads the draft, for the coordinator to read.
    let (status, _) = upload(
        &f,
        &carla,
        "/trajecten/importeren",
        &carla.csrf,
        &bpmn("named-routes.bpmn"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let draft = f
        .engine
        .store()
        .drafts()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.key == "p")
        .expect("the draft of named-routes.bpmn");
    assert!(
        draft
            .source
            .starts_with("# Bij het inlezen uit BPMN:\n# - Bij keuzepunt")
            && draft.source.contains("textAnnotation (1)"),
        "{}",
        draft.source
    );
    // A process a call activity calls in the same file becomes a draft of its own; the
    // editor opens on the main one.
    let c50 = std::fs::read_to_string(format!(
        "{}/../engine/tests/bpmn-miwg/reference/C.5.0.bpmn",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let res = f
        .app
        .clone()
        .oneshot(multipart_request(
            &carla,
            "/trajecten/importeren",
            &carla.csrf,
            &c50,
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let keys: Vec<String> = f
        .engine
        .store()
        .drafts()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert!(
        keys.contains(&"check-for-connected-clients".to_owned()),
        "{keys:?}"
    );
    assert!(
        !to.contains("check-for-connected-clients") && to.ends_with("/bewerken"),
        "{to}"
    );
    // Consultants and managers may not.
    let mark = f.login("mark").await;
    assert_eq!(
        f.page(&mark, "/trajecten/importeren").await.0,
        StatusCode::FORBIDDEN
    );
}
