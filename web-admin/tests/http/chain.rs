//! The chain over HTTP: a care provider sees a resident's case only on a recorded ground, a
//! municipality only its own residents, and withdrawing consent shuts the door at once.

use super::*;

/// The open task ids of a user's work list (mine and the team's).
async fn work(f: &Fixture, who: &str) -> Vec<String> {
    let (status, list) = f.api(who, "GET", "/api/v1/tasks", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["case_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn views_by(f: &Fixture, case: &str, who: &str) -> usize {
    f.engine
        .store()
        .access_log(Some(case), 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.user_id == who)
        .count()
}

pub(crate) async fn a_care_provider_sees_a_case_only_on_a_recorded_ground(f: Fixture) {
    let now = Utc::now();
    let input = doorloop_engine::resident::ResidentInput {
        given_name: "Pablo".into(),
        family_name: "Verhoeven".into(),
        municipality: Some("Oss".into()),
        ..Default::default()
    };
    let pablo = f.engine.add_resident(&input, now).await.unwrap();
    let case = f
        .engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "anna",
            &pablo.id,
            BTreeMap::new(),
            now,
        )
        .await
        .unwrap()
        .state;
    let id = case.id.clone();
    let task = case.tasks.keys().next().unwrap().clone();
    let page = format!("/casussen/{id}");
    let api = format!("/api/v1/cases/{id}");

    // Before any ground: the begeleider of De Linde neither sees the case nor its work,
    // although the task is for his team; Uden's manager does not see Oss's resident.
    let gijs = f.login("gijs").await;
    assert_eq!(f.page(&gijs, &page).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.api("gijs", "GET", &api, None).await.0, StatusCode::NOT_FOUND);
    assert!(!work(&f, "gijs").await.contains(&id));
    assert!(work(&f, "bert").await.contains(&id), "Oss's own begeleider does");
    assert_eq!(f.api("ulla", "GET", &api, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.api("mark", "GET", &api, None).await.0, StatusCode::OK);
    assert!(
        work(&f, "mark").await.contains(&id),
        "Oss's manager reads Oss's open work"
    );
    assert!(!work(&f, "ulla").await.contains(&id), "Uden's does not");
    let (_, found) = f.api("ulla", "GET", "/api/v1/residents?q=verhoeven", None).await;
    assert_eq!(found, json!([]), "Uden does not find Oss's resident");
    assert_eq!(views_by(&f, &id, "gijs").await, 0, "refused views are not logged");

    // Only the resident's municipality records grounds, and consent needs its form.
    let parties = format!("{api}/parties");
    let consent = json!({"organisation": "de-linde", "ground": "toestemming",
                         "purpose": "Ambulante begeleiding naar werk"});
    let (status, body) = f.api("mark", "POST", &parties, Some(consent.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = f.api("anna", "POST", &parties, Some(consent.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("toestemmingsformulier"),
        "{body}"
    );
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &parties,
            Some(json!({"organisation": "Oss", "ground": "wettelijke-taak", "purpose": "regie"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("gemeente van de inwoner"),
        "{body}"
    );
    let mut with_form = consent.clone();
    with_form["reference"] = json!("TF-2026-0012");
    let (status, body) = f.api("anna", "POST", &parties, Some(with_form.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["organisation_name"], "Zorggroep De Linde");
    assert_eq!(body[0]["ground"], "toestemming");
    assert_eq!(body[0]["recorded_by"], "anna");
    let (status, _) = f.api("anna", "POST", &parties, Some(with_form)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "already involved");

    // Now De Linde's begeleider sees it and picks up the work; Maasland's still does not.
    assert!(work(&f, "gijs").await.contains(&id));
    assert!(!work(&f, "lotte").await.contains(&id));
    assert_eq!(f.api("lotte", "GET", &api, None).await.0, StatusCode::NOT_FOUND);
    let (status, _, html) = f.page(&gijs, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Zorggroep De Linde") && html.contains("TF-2026-0012"),
        "the ground on the page"
    );
    assert!(
        !html.contains("Organisatie betrekken"),
        "only the municipality involves others"
    );
    let (status, body) = f
        .api("gijs", "POST", &format!("{api}/tasks/{task}/claim"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(views_by(&f, &id, "gijs").await, 1, "his one page view is logged");
    // The BSN is the municipality's: not for the care provider's work.
    let bsn = format!("/api/v1/residents/{}/bsn", pablo.id);
    let (status, body) = f.api("gijs", "GET", &bsn, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("alleen de gemeente"), "{body}");
    let (status, _) = f
        .post(&gijs, &format!("/inwoners/{}/bsn", pablo.id), &[], true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        f.api("anna", "GET", &bsn, None).await.0,
        StatusCode::OK,
        "Oss's consultant may"
    );

    // The resident withdraws consent: anna records it, with confirmation.
    let anna = f.login("anna").await;
    let (status, _, html) = f.page(&anna, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Organisatie betrekken") && html.contains("Grondslag intrekken"));
    let withdraw = format!("{page}/organisaties/de-linde/intrekken");
    let (status, _) = f
        .post(
            &anna,
            &withdraw,
            &[("reden", "inwoner trekt toestemming in")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not confirmed");
    let (status, _) = f
        .post(
            &anna,
            &withdraw,
            &[("reden", "inwoner trekt toestemming in"), ("bevestig", "ja")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // At once: his next request answers "not found", the work is gone from his list, and
    // the task he held is anna's now.
    assert_eq!(f.page(&gijs, &page).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.api("gijs", "GET", &api, None).await.0, StatusCode::NOT_FOUND);
    assert!(!work(&f, "gijs").await.contains(&id));
    let state = f.engine.store().load_case(&id).await.unwrap().unwrap();
    assert_eq!(state.tasks[&task].assignee.as_deref(), Some("anna"));
    assert_eq!(
        views_by(&f, &id, "gijs").await,
        1,
        "no rows for the refused views"
    );
    let (_, _, html) = f.page(&anna, &page).await;
    assert!(html.contains("Ingetrokken op"), "the history stays");
    assert!(html.contains("werkt niet meer mee"), "and the timeline says so");
    let (status, list) = f.api("anna", "GET", &parties, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["withdrawn_by"], "anna");
    assert_eq!(list[0]["withdrawn_reason"], "inwoner trekt toestemming in");
    // Nothing left to withdraw.
    let (status, _) = f
        .api(
            "anna",
            "POST",
            &format!("{parties}/de-linde/withdraw"),
            Some(json!({"reason": "nog eens"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

pub(crate) async fn each_role_reads_only_the_fields_it_needs(f: Fixture) {
    let now = Utc::now();
    let input = doorloop_engine::resident::ResidentInput {
        given_name: "Karin".into(),
        family_name: "Smits".into(),
        municipality: Some("Oss".into()),
        ..Default::default()
    };
    let karin = f.engine.add_resident(&input, now).await.unwrap();
    // Simpel Switchen, started by the klantmanager: "vangnetter" is about income.
    let mut vars = BTreeMap::new();
    vars.insert("vangnetter".to_owned(), json!(true));
    let id = f
        .engine
        .start_case("simpel-switchen", None, "kees", &karin.id, vars, now)
        .await
        .unwrap()
        .state
        .id;
    let note = |who: &str| {
        Command::new(
            who,
            Action::RecordNote {
                kind: "notitie".into(),
                text: "kennismaking".into(),
            },
        )
    };
    // The Wmo-consulent and De Linde's begeleider work on the case too.
    f.engine.execute(&id, note("anna"), now).await.unwrap();
    let (status, _) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{id}/parties"),
            Some(json!({"organisation": "de-linde", "ground": "toestemming",
                        "purpose": "begeleiding", "reference": "TF-7"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    f.engine.execute(&id, note("gijs"), now).await.unwrap();

    let api = format!("/api/v1/cases/{id}");
    let reads = |who: &'static str| {
        let f = &f;
        let api = api.clone();
        async move {
            let (status, body) = f.api(who, "GET", &api, None).await;
            assert_eq!(status, StatusCode::OK, "{who}: {body}");
            body["variables"].get("vangnetter").is_some()
        }
    };
    assert!(reads("kees").await, "the klantmanager reads income");
    assert!(!reads("anna").await, "the Wmo-consulent does not");
    assert!(!reads("gijs").await, "the care provider does not");
    assert!(!reads("mark").await, "the manager does not");
    // Left out of the page, not blanked: the page says what is withheld, never the value.
    let anna = f.login("anna").await;
    let (_, _, html) = f.page(&anna, &format!("/casussen/{id}")).await;
    assert!(
        html.contains("Afgeschermd voor uw rol: gegevens over inkomen en uitkering"),
        "{html}"
    );
    assert!(!html.contains("Vangnetter"), "{html}");
    let kees = f.login("kees").await;
    let (_, _, html) = f.page(&kees, &format!("/casussen/{id}")).await;
    assert!(!html.contains("Afgeschermd"), "{html}");
}

pub(crate) async fn coordinators_see_who_reads_what(f: Fixture) {
    let carla = f.login("carla").await;
    let (status, _, html) = f.page(&carla, "/trajecten/van-zorg-naar-werk").await;
    assert_eq!(status, StatusCode::OK);
    let table = html
        .split("id=\"leesrechten\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_default();
    // The klantmanager reads income, work and general, not health; set in the pathway.
    let row = table
        .split("<tr>")
        .find(|r| r.contains("Klantmanager Werk &amp; Inkomen"))
        .unwrap_or_default();
    let cells: Vec<&str> = row.split("<td>").skip(3).collect();
    assert_eq!(cells.len(), 4, "{row}");
    assert!(cells[0].contains('—') && cells[1].contains("leest"), "{row}");
    assert!(!row.contains("(standaard)"), "{row}");
    // The care provider's default.
    assert!(
        table.contains("Ambulant begeleider <span class=\"muted\">(standaard)</span>"),
        "{table}"
    );
    assert!(
        html.contains("Ik heb nodig"),
        "the health fields are listed: {html}"
    );
    // And how long its cases are kept.
    assert!(
        html.contains(
            "<strong>Bewaartermijn:</strong> 10 jaar na het einde van een casus (Selectielijst gemeenten 2020"
        ),
        "{html}"
    );
}

pub(crate) async fn a_privacy_officer_hands_over_a_residents_file(f: Fixture) {
    let now = Utc::now();
    let person = |given: &str, municipality: &str| doorloop_engine::resident::ResidentInput {
        given_name: given.into(),
        family_name: "Smits".into(),
        municipality: Some(municipality.into()),
        ..Default::default()
    };
    let karin = f.engine.add_resident(&person("Karin", "Oss"), now).await.unwrap();
    let uden = f
        .engine
        .add_resident(&person("Ulrike", "Uden"), now)
        .await
        .unwrap();
    let mut vars = BTreeMap::new();
    vars.insert("vangnetter".to_owned(), json!(true));
    let id = f
        .engine
        .start_case("simpel-switchen", None, "kees", &karin.id, vars, now)
        .await
        .unwrap()
        .state
        .id;
    // Kees looks at her page: the file must say so.
    let kees = f.login("kees").await;
    assert_eq!(
        f.page(&kees, &format!("/inwoners/{}", karin.id)).await.0,
        StatusCode::OK
    );

    let pia = f.login("pia").await;
    // Nothing but the inzage and the access log.
    assert_eq!(
        f.page(&pia, &format!("/casussen/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(f.page(&pia, "/beheer").await.0, StatusCode::FORBIDDEN);
    assert_eq!(f.page(&pia, "/taken").await.0, StatusCode::FORBIDDEN);
    let (_, _, found) = f.page(&pia, "/inwoners?q=smits").await;
    assert!(
        found.contains(&format!("/inwoners/{}/inzage", karin.id)),
        "{found}"
    );
    assert!(
        !found.contains(&format!("/inwoners/{}\"", karin.id)),
        "no resident page: {found}"
    );
    assert!(!found.contains("Ulrike"), "Uden's resident is Uden's: {found}");
    assert_eq!(
        f.page(&pia, &format!("/inwoners/{}/inzage", uden.id)).await.0,
        StatusCode::NOT_FOUND
    );
    let anna = f.login("anna").await;
    assert_eq!(
        f.page(&anna, &format!("/inwoners/{}/inzage", karin.id)).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, headers, html) = f.page(&pia, &format!("/inwoners/{}/inzage", karin.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"inzage-{}.html\"", karin.reference).as_str()
    );
    assert!(html.contains("<h1>Uw gegevens in Doorloop</h1>") && html.contains("Karin Smits"));
    assert!(html.contains("Simpel Switchen"), "her case");
    // Everything, also what need to know hides from most colleagues.
    assert!(
        html.contains("<dt>Vangnetter (Ziektewet via gemeente)</dt><dd>Ja</dd>"),
        "{html}"
    );
    // Who viewed her file, by name and purpose.
    assert!(
        html.contains("kees test") && html.contains("inwonerpagina"),
        "{html}"
    );
    assert!(
        html.contains("&quot;vangnetter&quot;: true"),
        "the JSON inside: {html}"
    );
    // The officer's own view is logged with its purpose.
    let (_, _, log) = f.page(&pia, "/toegangslog").await;
    assert!(log.contains("inzageverzoek (AVG art. 15)"), "{log}");
}

pub(crate) async fn a_privacy_officer_holds_a_residents_records_from_removal(f: Fixture) {
    let now = Utc::now();
    let person = |given: &str, municipality: &str| doorloop_engine::resident::ResidentInput {
        given_name: given.into(),
        family_name: "Bewaar".into(),
        municipality: Some(municipality.into()),
        ..Default::default()
    };
    let karin = f.engine.add_resident(&person("Karin", "Oss"), now).await.unwrap();
    let uden = f
        .engine
        .add_resident(&person("Ulrike", "Uden"), now)
        .await
        .unwrap();
    let pia = f.login("pia").await;
    let (_, _, terms) = f.page(&pia, "/bewaartermijnen").await;
    assert!(
        terms.contains("<td>Van zorg naar werk (pilot regio Oss)</td><td>10 jaar</td>")
            && terms.contains("Selectielijst gemeenten 2020"),
        "every pathway's term: {terms}"
    );
    assert!(
        terms.contains("<td>Bezoek test</td><td>10 jaar</td><td>Standaardtermijn van deze installatie</td>"),
        "a pathway without its own term: {terms}"
    );
    assert!(terms.contains("Geen inwoners met een bewaarplicht"), "{terms}");
    let (_, _, found) = f.page(&pia, "/inwoners?q=bewaar").await;
    assert!(
        found.contains(&format!("action=\"/inwoners/{}/bewaarplicht\"", karin.id)),
        "{found}"
    );

    let hold = format!("/inwoners/{}/bewaarplicht", karin.id);
    let (status, body) = f
        .post(&pia, &hold, &[("actie", "aan"), ("reden", " ")], true)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Vul de reden van de bewaarplicht in"), "{body}");
    // Only the privacy officer, only of their municipality's residents.
    let anna = f.login("anna").await;
    let (status, _) = f
        .post(&anna, &hold, &[("actie", "aan"), ("reden", "x")], true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .post(
            &pia,
            &format!("/inwoners/{}/bewaarplicht", uden.id),
            &[("actie", "aan"), ("reden", "x")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(f.page(&anna, "/bewaartermijnen").await.0, StatusCode::FORBIDDEN);
    assert!(
        f.engine.store().holds().await.unwrap().is_empty(),
        "nothing written"
    );

    let (status, _) = f
        .post(
            &pia,
            &hold,
            &[("actie", "aan"), ("reden", "bezwaarprocedure")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = f.page(&pia, "/bewaartermijnen?bewaarplicht=aan").await;
    assert!(page.contains("De bewaarplicht is ingesteld"), "{page}");
    assert!(
        page.contains("Karin Bewaar")
            && page.contains("bezwaarprocedure")
            && page.contains("Bewaarplicht ingesteld"),
        "{page}"
    );
    let (_, _, found) = f.page(&pia, "/inwoners?q=bewaar").await;
    assert!(
        found.contains(&format!("id=\"bewaarplicht-{}\"", karin.reference)),
        "{found}"
    );
    let (_, _, file) = f.page(&pia, &format!("/inwoners/{}/inzage", karin.id)).await;
    assert!(
        file.contains("Uw gegevens worden voorlopig niet verwijderd") && file.contains("bezwaarprocedure"),
        "the resident is told: {file}"
    );
    assert!(file.contains("Hoe lang uw gegevens bewaard blijven"), "{file}");

    let (status, body) = f.post(&pia, &hold, &[("actie", "uit")], true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "release asks for confirmation");
    assert!(
        body.contains("Bevestig dat de bewaarplicht wordt opgeheven"),
        "{body}"
    );
    assert!(f.engine.store().hold(&karin.id).await.unwrap().is_some());
    let (status, _) = f
        .post(&pia, &hold, &[("actie", "uit"), ("bevestig", "ja")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = f.page(&pia, "/bewaartermijnen?bewaarplicht=uit").await;
    assert!(
        page.contains("De bewaarplicht is opgeheven") && page.contains("Geen inwoners met een bewaarplicht"),
        "{page}"
    );
    assert!(page.contains("Bewaarplicht opgeheven"), "logged: {page}");
    let (status, body) = f
        .post(&pia, &hold, &[("actie", "uit"), ("bevestig", "ja")], true)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("heeft geen bewaarplicht"), "{body}");
}
