//! Messages and held routes in a real browser: the consultant records a message heard by
//! phone (one that breaks into work, one that ends a wait), chooses the route of a case held
//! at a gateway where no condition held, and the manager sees that case on the stuck view.

use super::*;

const WERKFIT: &str = r#"
key: werkfit
name: Werkfit
roles:
  klantmanager: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: gesprek }
  - id: gesprek
    kind: task
    name: Oriënterend gesprek
    role: klantmanager
    fields:
      - { name: uren, type: number, required: true, label: Uren per week beschikbaar }
    on_message:
      - { message: klant_belt_af, to: afspraak_verzetten }
    next: hoeveel
  - id: hoeveel
    kind: gateway
    name: Hoeveel uur kan de inwoner werken?
    branches:
      - { when: 'uren >= 20', to: werk_zoeken, label: Twintig uur of meer }
      - { when: 'uren < 8', to: dagbesteding, label: Minder dan acht uur }
  - id: afspraak_verzetten
    kind: task
    name: Afspraak verzetten
    role: klantmanager
    next: gesprek
  - id: werk_zoeken
    kind: task
    name: Werk zoeken
    role: klantmanager
    next: besluit_uwv
  - id: dagbesteding
    kind: task
    name: Dagbesteding regelen
    role: klantmanager
    next: einde
  - id: besluit_uwv
    kind: wait
    name: Wachten op besluit UWV
    role: klantmanager
    party: UWV
    expected: 8 weken
    message: uwv_besluit
    fields:
      - { name: besluit, type: text, required: true, label: Besluit van UWV }
    next: einde
  - { id: einde, kind: end, outcome: betaald_werk }
"#;

pub fn run_messages_test() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let setup = Setup::new(dir, "messages.db");
    let file = setup.dir.path().join("werkfit.yaml");
    std::fs::write(&file, WERKFIT).unwrap();
    setup.doorloop(&["publish", &file.display().to_string()]);
    let pw = setup.user("kim", "klantmanager");
    std::fs::write(setup.dir.path().join("kim.pw"), pw).unwrap();
    staff(&setup, "mark", "manager");
    let sanne = setup.resident(&[
        "--given-name",
        "Sanne",
        "--family-name",
        "de Wit",
        "--municipality",
        "Oss",
    ]);
    let joost = setup.resident(&[
        "--given-name",
        "Joost",
        "--family-name",
        "Bakker",
        "--municipality",
        "Oss",
    ]);
    // Sanne can work twelve hours: neither route holds, her case is held at the gateway.
    let held = setup.start_case("werkfit", &sanne, "kim");
    setup.doorloop(&[
        "case", "complete", &held, "gesprek", "--by", "kim", "--var", "uren=12",
    ]);
    // Joost's talk is planned; he will call it off.
    let called_off = setup.start_case("werkfit", &joost, "kim");
    let (_server, port) = serve(&setup, &[])?;
    let (_driver, driver_port) = chromedriver()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(walk(&setup, port, driver_port, &held, &called_off));
    Ok(())
}

async fn walk(setup: &Setup, port: u16, driver: u16, held: &str, called_off: &str) {
    let base = format!("http://127.0.0.1:{port}");
    let (client, _profile) = browser(driver, 1366, 768).await;
    // The manager sees the held case among the stuck ones, with its own reason.
    log_in_as(&client, &base, setup, "mark").await;
    client.goto(&format!("{base}/vastgelopen")).await.unwrap();
    let page = text(&client).await.to_lowercase();
    assert!(page.contains("geen route: geen voorwaarde geldt"), "{page}");
    shot(&client, "30-vastgelopen-geen-route").await;
    client
        .goto(&format!("{base}/vastgelopen/casussen?reden=geen_route"))
        .await
        .unwrap();
    let list = text_of(&client, Locator::Id("casussen")).await;
    assert!(
        list.contains("Sanne de Wit")
            && list.contains("Werkfit")
            && list.contains("Hoeveel uur kan de inwoner werken?"),
        "the resident and pathway by name: {list}"
    );
    shot(&client, "30a-vastgelopen-casussen").await;
    click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;

    log_in_as(&client, &base, setup, "kim").await;
    // The case page says where it stands and asks for the route.
    client.goto(&format!("{base}/casussen/{held}")).await.unwrap();
    let page = text_of(&client, Locator::Id("vastgelopen")).await;
    assert!(
        page.contains("geen route") && page.contains("Hoeveel uur kan de inwoner werken?"),
        "{page}"
    );
    shot(&client, "30b-route-kiezen").await;
    set_value(&client, "select[name=naar]", "werk_zoeken").await;
    click_and_wait(&client, Locator::Css("form.route-choice button")).await;
    let page = text(&client).await;
    assert!(
        page.contains("De route is gekozen") && page.contains("Werk zoeken"),
        "{page}"
    );

    // The work moves on to the wait for UWV's decision.
    setup.doorloop(&["case", "complete", held, "werk_zoeken", "--by", "kim"]);
    client.goto(&format!("{base}/casussen/{held}")).await.unwrap();
    click_and_wait(&client, Locator::LinkText("Wachten op besluit UWV")).await;
    let page = text(&client).await;
    assert!(
        page.contains("wacht op een bericht van UWV") && page.contains("Bericht is binnen"),
        "{page}"
    );
    shot(&client, "30c-wachten-op-bericht").await;
    fill(
        &client,
        Locator::Id("veld-besluit"),
        "Toegekend, telefonisch gehoord",
    )
    .await;
    click_and_wait(&client, Locator::Id("afronden")).await;
    if client.find(Locator::Id("bevestigen")).await.is_ok() {
        click_and_wait(&client, Locator::Id("afronden")).await;
    }
    let page = text(&client).await;
    assert!(page.contains("Bericht ontvangen"), "the timeline says so: {page}");

    // Joost calls off his talk: recorded on the task page, the work goes to rescheduling.
    client
        .goto(&format!("{base}/casussen/{called_off}"))
        .await
        .unwrap();
    click_and_wait(&client, Locator::LinkText("Oriënterend gesprek")).await;
    let page = text_of(&client, Locator::Id("berichten")).await;
    assert!(page.contains("Bericht ‘klant belt af’ is binnen"), "{page}");
    shot(&client, "30d-bericht-van-buiten").await;
    click_and_wait(&client, Locator::Css("#berichten button")).await;
    let page = text(&client).await;
    assert!(
        page.contains("Het bericht is vastgelegd") && page.contains("Afspraak verzetten"),
        "{page}"
    );
    let _ = client.close().await;
}
