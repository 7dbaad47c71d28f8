//! The municipal login: staff log in through a real, certified OpenID Connect provider
//! (`oidc-provider` from npm, run with the machine's Node), their groups give them their
//! role; a first-time user outside the mapped groups gets no rights until an admin gives
//! them; logging out ends the Doorloop session.

use super::*;

const SECRET: &str = "test-geheim-voor-doorloop-0123456789";

/// `npm ci` for the test-only provider (tests/oidc/package.json and its lockfile).
fn provider_installed() -> Result<PathBuf, Failed> {
    let dir = repo().join("tests/oidc");
    if !dir.join("node_modules/oidc-provider/package.json").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .map_err(|e| Failed::from(format!("npm is needed to install oidc-provider: {e}")))?;
        if !status.success() {
            return Err(Failed::from("npm ci in tests/oidc failed"));
        }
    }
    Ok(dir)
}

fn start_provider(dir: &Path, port: u16, redirect: &str) -> Result<Guard, Failed> {
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .arg(redirect)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(format!("starting the OIDC provider with node: {e}")))?;
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .next()
        .and_then(Result::ok)
        .is_some_and(|l| l.trim() == "ready");
    std::thread::spawn(move || for _ in lines {});
    let guard = Guard(child);
    if !ready {
        return Err(Failed::from("the OIDC provider did not start"));
    }
    Ok(guard)
}

/// Through the provider's own login and consent screens, back to Doorloop.
async fn log_in_at_the_provider(client: &Client, base: &str, login: &str, shot_name: Option<&str>) {
    client.goto(&format!("{base}/inloggen")).await.unwrap();
    click_and_wait(client, Locator::Id("inloggen-gemeente")).await;
    let url = client.current_url().await.unwrap();
    if url.as_str().starts_with(base) {
        // Still signed in at the provider (single sign-on): straight back.
        return;
    }
    assert!(
        url.as_str().contains("/interaction/"),
        "at the identity provider, not at {url}"
    );
    fill(client, Locator::Css("input[name=login]"), login).await;
    fill(client, Locator::Css("input[name=password]"), "wat-dan-ook").await;
    if let Some(name) = shot_name {
        shot_of_other_software(client, name).await;
    }
    click_and_wait(client, Locator::Css("button[type=submit]")).await;
    // The consent screen.
    if client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("/interaction/")
    {
        click_and_wait(client, Locator::Css("button[type=submit]")).await;
    }
    // Back at Doorloop (the redirects settle).
    for _ in 0..50 {
        if client.current_url().await.unwrap().as_str().starts_with(base) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn municipal_login(setup: &Setup, base: &str, driver: u16) {
    let (client, _profile) = browser(driver, 1366, 900).await;
    // A login page with both ways in.
    client.goto(&format!("{base}/inloggen")).await.unwrap();
    assert!(text(&client).await.contains("Inloggen met uw gemeente-account"));
    shot(&client, "20-inloggen-gemeente").await;
    // Wendy is in the mapped group: a consultant of the Wmo team at her first login.
    log_in_at_the_provider(&client, base, "w.wmo", Some("21-identity-provider")).await;
    assert_eq!(path_of(&client).await, "/taken");
    let page = text(&client).await;
    assert!(
        page.contains("Mijn taken") && page.contains("Wendy Wmo") && page.contains("Wmo-consulent"),
        "{page}"
    );
    shot(&client, "22-ingelogd-via-gemeente").await;
    let users = setup.doorloop(&["user", "list"]);
    assert!(users.contains("w.wmo"), "{users}");
    // Logging out ends the Doorloop session.
    click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;
    client.goto(&format!("{base}/taken")).await.unwrap();
    assert!(path_of(&client).await.starts_with("/inloggen"), "logged out");
    let _ = client.close().await;

    // Nina is in no mapped group: an account without rights, no session.
    let (client, _profile) = browser(driver, 1366, 900).await;
    log_in_at_the_provider(&client, base, "n.nieuw", None).await;
    let page = text(&client).await;
    assert!(page.contains("nog geen rechten"), "{page}");
    shot(&client, "23-nog-geen-rechten").await;
    // The page offers the local login too, with a working CSRF token.
    let token = client
        .execute("return document.querySelector('input[name=_csrf]').value", vec![])
        .await
        .unwrap();
    assert!(token.as_str().is_some_and(|t| t.len() >= 32), "{token}");
    client.goto(&format!("{base}/taken")).await.unwrap();
    assert!(path_of(&client).await.starts_with("/inloggen"));
    // An admin gives her a role.
    log_in_as(&client, base, setup, "bea").await;
    client.goto(&format!("{base}/beheer")).await.unwrap();
    let row = "tr[data-user='n.nieuw']";
    assert!(
        client.find(Locator::Css(&format!("{row}.pending"))).await.is_ok(),
        "shown as waiting for rights"
    );
    // Teams are ticked from the pathways' roles.
    client
        .find(Locator::Css(&format!("{row} details summary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css(&format!(
            "{row} input[name=team][value='wmo-consulent']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css(&format!("{row} input[name=actief]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    shot(&client, "24-rechten-geven").await;
    click_and_wait(&client, Locator::Css(&format!("{row} button"))).await;
    let saved = text_of(&client, Locator::Css(&format!("{row} [role=status]"))).await;
    assert!(
        saved.contains("opgeslagen"),
        "the message beside the row: {saved}"
    );
    click_and_wait(&client, Locator::Css("form[action='/uitloggen'] button")).await;
    // Now she gets in (still signed in at the provider: no second password).
    log_in_at_the_provider(&client, base, "n.nieuw", None).await;
    assert_eq!(path_of(&client).await, "/taken");
    assert!(text(&client).await.contains("Nina Nieuw"));
    let _ = client.close().await;
}

pub(crate) fn run_oidc_test() -> Result<(), Failed> {
    let dir = provider_installed()?;
    let tmp = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let setup = Setup::new(tmp, "oidc.db");
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
    staff(&setup, "bea", "admin");
    let idp_port = free_port();
    let web_port = free_port();
    let base = format!("http://127.0.0.1:{web_port}");
    let _idp = start_provider(&dir, idp_port, &format!("{base}/inloggen/oidc/terug"))?;
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let (_server, port) = serve_on(
        &setup,
        web_port,
        &[
            "--no-scheduler",
            "--base-url",
            &base,
            "--oidc-issuer",
            &issuer,
            "--oidc-client-secret",
            SECRET,
            "--oidc-groups",
            "doorloop-wmo=consultant:wmo-consulent",
        ],
    )?;
    assert_eq!(port, web_port);
    let (_driver, driver_port) = chromedriver()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(municipal_login(&setup, &base, driver_port));
    Ok(())
}
