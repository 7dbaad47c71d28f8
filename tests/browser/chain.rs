//! The chain in a real browser: the Wmo-consulent of Oss involves a care provider on the
//! resident's consent, the provider's begeleider sees the case and its work, the consent is
//! withdrawn and his next request answers "niet gevonden".

use super::*;

fn person(setup: &Setup, name: &str, team: &str, organisation: &str) {
    let pw = setup.user_of(name, team, Some(organisation));
    std::fs::write(setup.dir.path().join(format!("{name}.pw")), pw).unwrap();
}

async fn show_section(client: &Client) {
    client
        .execute(
            "document.getElementById('organisaties').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
}

/// Logs out from the work list (an error page has no header to log out from).
async fn log_out(client: &Client, base: &str) {
    client.goto(&format!("{base}/taken")).await.unwrap();
    click_and_wait(client, Locator::Css("form[action='/uitloggen'] button")).await;
}

async fn consent_given_and_withdrawn(setup: &Setup, port: u16, driver: u16, case: &str) {
    let base = format!("http://127.0.0.1:{port}");
    let page = format!("{base}/casussen/{case}");
    let (client, _profile) = browser(driver, 1366, 768).await;

    // Before: the begeleider of De Linde neither sees the case nor its work.
    log_in_as(&client, &base, setup, "gijs").await;
    client.goto(&format!("{base}/werkvoorraad")).await.unwrap();
    assert!(!text(&client).await.contains("Pablo Verhoeven"));
    client.goto(&page).await.unwrap();
    assert!(
        text(&client).await.contains("Niet gevonden"),
        "{}",
        text(&client).await
    );
    log_out(&client, &base).await;

    // Anna involves De Linde on Pablo's consent.
    log_in_as(&client, &base, setup, "anna").await;
    client.goto(&page).await.unwrap();
    let section = text_of(&client, Locator::Id("organisaties")).await;
    assert!(
        section.contains("Gemeente Oss werkt mee als gemeente van de inwoner")
            && section.contains("Nog geen andere organisaties betrokken"),
        "{section}"
    );
    client
        .find(Locator::Css("#betrekken summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css(
            "#betrekken select[name=organisatie] option[value='de-linde']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#betrekken input[value=toestemming]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(
        &client,
        Locator::Css("#betrekken input[name=doel]"),
        "Ambulante begeleiding naar werk",
    )
    .await;
    fill(
        &client,
        Locator::Css("#betrekken input[name=kenmerk]"),
        "TF-2026-0012",
    )
    .await;
    click_and_wait(&client, Locator::Css("#betrekken button")).await;
    let section = text_of(&client, Locator::Id("organisaties")).await;
    assert!(
        section.contains("Zorggroep De Linde")
            && section.contains("toestemming van de inwoner")
            && section.contains("TF-2026-0012")
            && section.contains("Anna de Vries"),
        "the ground, its form and who recorded it, by name: {section}"
    );
    show_section(&client).await;
    shot(&client, "11-organisatie-betrokken").await;
    log_out(&client, &base).await;

    // Now he sees the case and its work.
    log_in_as(&client, &base, setup, "gijs").await;
    client.goto(&format!("{base}/werkvoorraad")).await.unwrap();
    assert!(
        text(&client).await.contains("Pablo Verhoeven"),
        "{}",
        text(&client).await
    );
    client.goto(&page).await.unwrap();
    let seen = text(&client).await;
    assert!(seen.contains("Pablo Verhoeven") && !seen.contains("Organisatie betrekken"));
    shot(&client, "12-zorgaanbieder-ziet-de-casus").await;
    log_out(&client, &base).await;

    // Pablo withdraws his consent; Anna records it.
    log_in_as(&client, &base, setup, "anna").await;
    client.goto(&page).await.unwrap();
    client
        .find(Locator::Css("#intrekken-de-linde summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(
        &client,
        Locator::Css("#intrekken-de-linde input[name=reden]"),
        "inwoner trekt toestemming in",
    )
    .await;
    client
        .find(Locator::Css("#intrekken-de-linde input[name=bevestig]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_and_wait(&client, Locator::Css("#intrekken-de-linde button")).await;
    let section = text_of(&client, Locator::Id("organisaties")).await;
    assert!(section.contains("Ingetrokken op"), "{section}");
    assert!(
        text_of(&client, Locator::Id("tijdlijn"))
            .await
            .contains("werkt niet meer mee")
    );
    show_section(&client).await;
    shot(&client, "13-grondslag-ingetrokken").await;
    log_out(&client, &base).await;

    // His next request: not found, and the work is gone from his list.
    log_in_as(&client, &base, setup, "gijs").await;
    client.goto(&page).await.unwrap();
    assert!(text(&client).await.contains("Niet gevonden"));
    client.goto(&format!("{base}/werkvoorraad")).await.unwrap();
    assert!(!text(&client).await.contains("Pablo Verhoeven"));
    log_out(&client, &base).await;

    // Pablo objects to a decision: the privacy officer holds his records from removal.
    log_in_as(&client, &base, setup, "pia").await;
    client
        .goto(&format!("{base}/inwoners?q=verhoeven"))
        .await
        .unwrap();
    client
        .find(Locator::Css("#zoekresultaten details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(
        &client,
        Locator::Css("#zoekresultaten input[name=reden]"),
        "bezwaarprocedure tegen het besluit",
    )
    .await;
    click_and_wait(&client, Locator::Css("#zoekresultaten form button")).await;
    let page = text(&client).await;
    assert!(page.contains("De bewaarplicht is ingesteld"), "{page}");
    let held = text_of(&client, Locator::Id("bewaarplichten")).await;
    assert!(
        held.contains("Pablo Verhoeven") && held.contains("bezwaarprocedure"),
        "{held}"
    );
    let terms = text_of(&client, Locator::Id("termijnen")).await;
    assert!(
        terms.contains("Van zorg naar werk") && terms.contains("10 jaar"),
        "{terms}"
    );
    shot(&client, "14-bewaartermijnen").await;
    let _ = client.close().await;
}

pub fn run_chain_test() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let setup = Setup::new(dir, "chain.db");
    setup.doorloop(&[
        "organisation",
        "add",
        "de-linde",
        "--name",
        "Zorggroep De Linde",
        "--kind",
        "zorgaanbieder",
    ]);
    for file in ["simpel-switchen.yaml", "van-zorg-naar-werk.yaml"] {
        setup.doorloop(&[
            "publish",
            &repo().join("workflows").join(file).display().to_string(),
        ]);
    }
    person(&setup, "anna", "wmo-consulent", "Oss");
    person(&setup, "gijs", "ambulant-begeleider", "de-linde");
    staff_of(&setup, "pia", "privacy", Some("Oss"));
    let pablo = setup.resident(&[
        "--given-name",
        "Pablo",
        "--family-name",
        "Verhoeven",
        "--municipality",
        "Oss",
    ]);
    let case = setup.start_case("van-zorg-naar-werk", &pablo, "anna");
    let (_server, port) = serve(&setup, &[])?;
    let (_driver, driver_port) = chromedriver()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(consent_given_and_withdrawn(&setup, port, driver_port, &case));
    Ok(())
}
