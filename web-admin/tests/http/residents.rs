//! Residents in the web admin and the API: search, register, the resident's page with the
//! line across cases, the BSN only on request, and every view logged.

use super::*;

async fn resident_logs(f: &Fixture) -> Vec<doorloop_engine::store::AccessEntry> {
    f.engine.store().access_log(None, 1000).await.unwrap()
}

pub(crate) async fn residents_are_searched_registered_and_shown(f: Fixture) {
    // The API: register with a BSN, find, read the line.
    let (status, pablo) = f
        .api(
            "anna",
            "POST",
            "/api/v1/residents",
            Some(
                json!({"given_name": "Pablo", "family_name": "Verhoeven", "birth_date": "17-03-1997",
                        "municipality": "Oss", "bsn": "111222333"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pablo}");
    assert_eq!(pablo["has_bsn"], true);
    assert!(
        !pablo.to_string().contains("111222333"),
        "never the BSN in a resident: {pablo}"
    );
    let id = pablo["id"].as_str().unwrap().to_owned();
    let reference = pablo["reference"].as_str().unwrap().to_owned();
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/residents",
            Some(json!({"family_name": "Typfout", "bsn": "111222334"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (err["code"].as_str(), err["field"].as_str()),
        (Some("field_invalid"), Some("bsn")),
        "{err}"
    );
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/residents",
            Some(json!({"family_name": "Dubbel", "bsn": "111222333"})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("bsn_exists")),
        "{err}"
    );
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/residents",
            Some(json!({"given_name": "Zonder"})),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("family_name")),
        "{err}"
    );

    // A case for him, by reference.
    let (status, case) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "van-zorg-naar-werk", "resident": reference})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["resident_id"], id.as_str());
    let case_id = case["id"].as_str().unwrap().to_owned();
    let (_, detail) = f
        .api("anna", "GET", &format!("/api/v1/cases/{case_id}"), None)
        .await;
    assert_eq!(
        (detail["resident_id"].as_str(), &detail["links"]),
        (Some(id.as_str()), &json!([])),
        "{detail}"
    );
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "van-zorg-naar-werk", "resident": "DL-999999"})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("resident_unknown"))
    );

    let (status, found) = f.api("anna", "GET", "/api/v1/residents?q=verh", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found[0]["reference"], reference.as_str(), "{found}");
    let (status, found) = f.api("zoe", "GET", "/api/v1/residents?q=verh", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found[0]["reference"],
        reference.as_str(),
        "his first task is open for zoe's team"
    );
    let (status, found) = f.api("piet", "GET", "/api/v1/residents?q=verh", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, json!([]), "piet (jobcoach) has no part in his case");
    let (status, err) = f.api("anna", "GET", "/api/v1/residents?q=x", None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("query_invalid"))
    );
    let (status, _) = f.api("carla", "GET", "/api/v1/residents?q=verh", None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "coordinators design pathways, they do not look people up"
    );

    let (status, line) = f
        .api("anna", "GET", &format!("/api/v1/residents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{line}");
    assert_eq!(line["cases"][0]["id"], case_id.as_str());
    assert_eq!(line["next"][0]["step"], "signaal");
    assert!(
        line["team"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == "anna"),
        "{line}"
    );
    let (status, _) = f
        .api("piet", "GET", &format!("/api/v1/residents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not visible answers as unknown");
    let (status, bsn) = f
        .api("anna", "GET", &format!("/api/v1/residents/{id}/bsn"), None)
        .await;
    assert_eq!((status, bsn["bsn"].as_str()), (StatusCode::OK, Some("111222333")));
    let (status, _) = f
        .api("mark", "GET", &format!("/api/v1/residents/{id}/bsn"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "managers do not need the BSN");
    let logs = resident_logs(&f).await;
    let searches: Vec<_> = logs.iter().filter(|e| e.purpose == "api: zoeken").collect();
    assert_eq!(searches.len(), 3, "every search that ran is logged");
    assert!(
        searches
            .iter()
            .all(|e| !e.detail.as_deref().unwrap_or("").contains("verh")),
        "never the text searched for"
    );
    assert!(
        searches
            .iter()
            .any(|e| e.detail.as_deref().unwrap_or("").contains(&reference))
    );
    assert!(
        logs.iter()
            .any(|e| e.purpose == "api: BSN bekeken" && e.resident_id.as_deref() == Some(id.as_str()))
    );

    // The screens: search, the page, the BSN on request, registering, enrolling. A pathway
    // only jobcoaches may start (published before any page caches the pathway names).
    f.engine
        .publish_yaml(
            "key: alleen-jobcoach\nname: Alleen jobcoach\nroles:\n  jobcoach: { name: Jobcoach }\n  wmo-consulent: { name: Wmo-consulent }\nstarted_by: [jobcoach]\nsteps:\n  - { id: start, kind: start, next: einde }\n  - { id: einde, kind: end, outcome: gestopt }\n",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let anna = f.login("anna").await;
    let (status, _, html) = f.page(&anna, "/inwoners?q=pab").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Pablo Verhoeven") && html.contains(&reference),
        "search result"
    );
    let (status, _, html) = f.page(&anna, "/inwoners?q=111222334").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("11-proef"), "a mistyped BSN is said on the page");
    let (status, _, html) = f.page(&anna, &format!("/inwoners/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Wie werkt met deze inwoner") && html.contains("anna test"),
        "{html}"
    );
    assert!(
        html.contains("Signaal") && html.contains("Van zorg naar werk"),
        "what happens next, by name"
    );
    assert!(!html.contains("111222333") && html.contains("BSN tonen"));
    let (status, html) = f.post(&anna, &format!("/inwoners/{id}/bsn"), &[], true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("111222333"));
    let (status, _) = f.post(&anna, &format!("/inwoners/{id}/bsn"), &[], false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "without the CSRF token");
    let piet = f.login("piet").await;
    let (status, _, _) = f.page(&piet, &format!("/inwoners/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, html) = f
        .post(
            &anna,
            "/inwoners",
            &[("given_name", "Sjaak"), ("family_name", ""), ("bsn", "")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Achternaam: vul de achternaam in") && html.contains("value=\"Sjaak\""),
        "kept what was typed"
    );
    let (status, body) = f
        .post(
            &anna,
            "/inwoners",
            &[
                ("given_name", "Sjaak"),
                ("family_name", "Dekker"),
                ("birth_date", "02-05-1998"),
                ("bsn", ""),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, found) = f.api("anna", "GET", "/api/v1/residents?q=sjaak", None).await;
    let sjaak = found[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = f
        .post(
            &anna,
            &format!("/inwoners/{sjaak}/aanmelden"),
            &[("traject", "van-zorg-naar-werk")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let line = f.engine.line(&sjaak).await.unwrap();
    assert_eq!(line.cases.len(), 1, "enrolled on the pathway");
    // `started_by` of alleen-jobcoach leaves out Wmo-consulenten: anna is not offered it, and
    // a forged form is refused in Dutch with the roles that may.
    let (_, _, html) = f.page(&anna, &format!("/inwoners/{sjaak}")).await;
    assert!(
        html.contains("<option value=\"simpel-switchen\"")
            && !html.contains("<option value=\"alleen-jobcoach\""),
        "anna is offered what she may start only"
    );
    let (status, html) = f
        .post(
            &anna,
            &format!("/inwoners/{sjaak}/aanmelden"),
            &[("traject", "alleen-jobcoach")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("Aanmelden voor Alleen jobcoach mag alleen een Jobcoach."),
        "{html}"
    );
    assert_eq!(
        f.engine.line(&sjaak).await.unwrap().cases.len(),
        1,
        "nothing started"
    );

    // Correcting his details: the form keeps what was typed when a field is wrong.
    let (status, _, html) = f.page(&anna, &format!("/inwoners/{sjaak}/bewerken")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("value=\"Sjaak\"") && html.contains("value=\"Dekker\""),
        "prefilled"
    );
    let (status, html) = f
        .post(
            &anna,
            &format!("/inwoners/{sjaak}/bewerken"),
            &[("given_name", "Sjaak"), ("family_name", "")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Achternaam: vul de achternaam in"), "{html}");
    let (status, _) = f
        .post(
            &anna,
            &format!("/inwoners/{sjaak}/bewerken"),
            &[
                ("given_name", "Sjaak"),
                ("family_name", "Dekker-Jansen"),
                ("municipality", "Oss"),
                ("bsn", ""),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, found) = f.api("anna", "GET", "/api/v1/residents?q=jansen", None).await;
    assert_eq!(found[0]["id"], sjaak.as_str(), "found by the new name: {found}");
    // The correction keeps what it replaced (AVG art. 16), shown on his page.
    let (_, _, page) = f.page(&anna, &format!("/inwoners/{sjaak}")).await;
    let corrections = page
        .split("id=\"correcties\"")
        .nth(1)
        .and_then(|c| c.split("</details>").next())
        .unwrap_or_default();
    assert!(
        corrections.contains("Achternaam: ")
            && corrections.contains("→ Dekker-Jansen")
            && corrections.contains("anna test"),
        "{page}"
    );
    // A municipality the region does not know is refused, naming the ones it does.
    let (status, wrong) = f
        .api(
            "anna",
            "PUT",
            &format!("/api/v1/residents/{sjaak}"),
            Some(json!({"given_name": "Sjaak", "family_name": "Dekker-Jansen", "municipality": "Osss"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    assert_eq!(wrong["field"], "municipality", "{wrong}");
    assert!(
        wrong["message"].as_str().unwrap().contains("Kies uit: Oss, Uden"),
        "{wrong}"
    );
    // He moves to Uden: from then on Uden is his municipality, and Oss no longer finds him.
    let (status, changed) = f
        .api(
            "anna",
            "PUT",
            &format!("/api/v1/residents/{sjaak}"),
            Some(json!({"given_name": "Sjaak", "family_name": "Dekker-Jansen", "municipality": "Uden"})),
        )
        .await;
    assert_eq!(
        (status, changed["municipality"].as_str()),
        (StatusCode::OK, Some("Uden")),
        "{changed}"
    );
    let (_, found) = f.api("anna", "GET", "/api/v1/residents?q=jansen", None).await;
    assert_eq!(found, json!([]), "moved to Uden");
    let changes = f.engine.store().resident_changes(&sjaak).await.unwrap();
    assert!(
        changes.iter().any(|c| c.field == "municipality"
            && c.old.as_deref() == Some("Oss")
            && c.new.as_deref() == Some("Uden")
            && c.by == "anna"),
        "{changes:?}"
    );
    let (status, _) = f
        .api("anna", "GET", &format!("/api/v1/residents/{sjaak}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "moved to Uden");
    let (status, _) = f
        .api(
            "piet",
            "PUT",
            &format!("/api/v1/residents/{sjaak}"),
            Some(json!({"family_name": "X"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "piet may not see him, let alone change him"
    );

    // Managers read every resident, without acting.
    let mark = f.login("mark").await;
    let (status, _, html) = f.page(&mark, &format!("/inwoners/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("BSN tonen") && !html.contains("id=\"aanmelden\""));
    let (status, _, stuck) = f.page(&mark, "/vastgelopen").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stuck.contains("Uit beeld") && stuck.contains("Niemand is uit beeld."),
        "everyone here has open work"
    );
    let views = resident_logs(&f)
        .await
        .iter()
        .filter(|e| e.resident_id.as_deref() == Some(id.as_str()) && e.purpose == "inwonerpagina")
        .count();
    assert_eq!(views, 3, "anna twice (page, page with BSN) and mark once");
}
