//! What a security probe of the web admin and API found (issue 12), each as a request
//! that must now be answered safely.

use super::*;

/// A straight chain of `n` task steps between a start and an end.
fn chain(key: &str, n: usize) -> String {
    let mut s = format!(
        "key: {key}\nname: Keten\nroles:\n  r: {{ name: R }}\nsteps:\n  - id: s0\n    kind: start\n    next: t1\n"
    );
    for i in 1..n {
        s.push_str(&format!(
            "  - id: t{i}\n    kind: task\n    role: r\n    next: t{}\n",
            i + 1
        ));
    }
    s.push_str(&format!("  - id: t{n}\n    kind: end\n    outcome: gestopt\n"));
    s
}

async fn publish(f: &Fixture, source: &str) -> (StatusCode, Value) {
    f.api(
        "carla",
        "POST",
        "/api/v1/pathways",
        Some(json!({ "source": source })),
    )
    .await
}

/// Items 1–3 and 7: hostile pathways are refused with their reason, and the server
/// keeps answering.
pub(crate) async fn hostile_pathways_are_refused_and_the_server_stays_up(f: Fixture) {
    // 1. A chain of 15,000 steps (under 1 MB): was a stack overflow that aborted the process.
    let (status, body) = publish(&f, &chain("keten", 15_000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at most 1000"),
        "{body}"
    );
    // 2. 100,000 levels of nesting: was 89 s of a core.
    let deep = format!("key: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body) = publish(&f, &deep).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("nests deeper"),
        "{body}"
    );
    // 7. Keys that are no keys.
    for key in ["''", "'../../etc'", "\"a\\nb\"", "'<b>x</b>'"] {
        let (status, body) = publish(&f, &chain(key, 2)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key}: {body}");
        assert!(
            body["problems"].to_string().contains("may only hold"),
            "{key}: {body}"
        );
    }
    // 3. A large (allowed) pathway is not laid out on every request.
    let (status, body) = publish(&f, &chain("lang", 400)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let carla = f.login("carla").await;
    let (status, headers, svg) = f
        .page(&carla, "/trajecten/lang/1/graaf.svg?actief=t1,t2,nergens")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.contains("401 stappen: te veel om te tekenen"), "{svg}");
    // Still answering.
    let (status, list) = f.api("carla", "GET", "/api/v1/pathways", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.as_array().unwrap().iter().all(|p| p["key"] != "keten"));
}

/// Item 4: after login and after claim/release only a path of this site is followed.
pub(crate) async fn redirects_stay_on_this_site(f: Fixture) {
    let (_, headers, html) = f
        .send(Request::get("/inloggen").body(Body::empty()).unwrap())
        .await;
    let login_cookie = named_cookie(&headers, "doorloop_inlog").unwrap();
    let csrf = csrf_of(&html);
    for next in [
        "%2F%09%2Fevil.example%2F",
        "%2F%0A%2Fevil.example",
        "%2F%5Cevil.example",
        "%2F%2Fevil.example",
    ] {
        let (status, headers, _) = f
            .send(
                Request::post("/inloggen")
                    .header(header::COOKIE, &login_cookie)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "_csrf={csrf}&volgende={next}&gebruikersnaam=piet&wachtwoord={}",
                        f.creds["piet"].0
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(headers[header::LOCATION], "/", "{next}");
    }
    // The login form itself drops such a target.
    let (status, _, html) = f
        .send(
            Request::get("/inloggen?volgende=%2F%0A%2Fevil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("evil.example"));
    // `terug` after claiming.
    let anna = f.login("anna").await;
    let task = f.task_of(&f.mine).await;
    let (status, headers, _) = f
        .send(
            Request::post(format!("/casussen/{}/taken/{task}/oppakken", f.mine))
                .header(header::COOKIE, &anna.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "_csrf={}&terug=%2F%09%2Fevil.example",
                    anna.csrf
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/taken?melding=opgepakt");
}

/// Item 5: a new password ends the sessions and revokes the API tokens of the account;
/// tokens expire; sessions are not stored under their cookie id; the login page writes
/// no session.
pub(crate) async fn a_new_password_ends_sessions_and_tokens(f: Fixture) {
    let store = f.engine.store().clone();
    let far = Utc::now() + Duration::days(365 * 50);
    for _ in 0..3 {
        f.send(Request::get("/inloggen").body(Body::empty()).unwrap())
            .await;
    }
    assert_eq!(
        store.sessions_purge(far).await.unwrap(),
        0,
        "anonymous visits to the login page store no session"
    );
    let anna = f.login("anna").await;
    let piet = f.login("piet").await;
    let anna_id = anna.cookie.split('=').nth(1).unwrap();
    assert_eq!(
        store.session_load(anna_id, Utc::now()).await.unwrap(),
        None,
        "the cookie's id is not what the database keeps"
    );
    assert_eq!(f.page(&anna, "/taken").await.0, StatusCode::OK);
    assert_eq!(
        f.api("anna", "GET", "/api/v1/tasks", None).await.0,
        StatusCode::OK
    );
    store
        .set_password(
            "anna",
            &auth::hash_password("een-nieuw-wachtwoord").unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
    let (status, headers, _) = f.page(&anna, "/taken").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old session is over");
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/inloggen")
    );
    let (status, body) = f.api("anna", "GET", "/api/v1/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Nobody else's.
    assert_eq!(f.page(&piet, "/taken").await.0, StatusCode::OK);
    assert_eq!(
        f.api("piet", "GET", "/api/v1/tasks", None).await.0,
        StatusCode::OK
    );
    // An expired token opens nothing; a revoked one neither.
    let token = auth::generate_api_token().unwrap();
    store
        .add_api_token(
            &auth::token_hash(&token),
            "piet",
            "kort",
            Utc::now() - Duration::days(2),
            Some(Utc::now() - Duration::days(1)),
        )
        .await
        .unwrap();
    let res = f
        .send(
            Request::get("/api/v1/tasks")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.0, StatusCode::UNAUTHORIZED);
    let id = store
        .api_tokens(Some("piet"))
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.label == "test")
        .unwrap()
        .id;
    assert!(store.revoke_api_token(&id, Utc::now()).await.unwrap());
    assert_eq!(
        f.api("piet", "GET", "/api/v1/tasks", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Item 9: a consultant invited to a joint visit finds its case in the lists.
pub(crate) async fn visit_invitees_find_the_case(f: Fixture) {
    let now = Utc::now();
    let case = f
        .engine
        .start_case(
            "bezoek-test",
            None,
            "anna",
            &anon_resident(&f.engine).await,
            BTreeMap::new(),
            now,
        )
        .await
        .unwrap()
        .state
        .id;
    let task = f.task_of(&case).await;
    f.engine
        .execute(
            &case,
            Command::new(
                "anna",
                Action::Reassign {
                    task: TaskRef(task.clone()),
                    to: Some("anna".into()),
                },
            ),
            now,
        )
        .await
        .unwrap();
    let listed = |body: &Value| body.as_array().unwrap().iter().any(|c| c["id"] == case.as_str());
    let (_, before) = f.api("bert", "GET", "/api/v1/cases", None).await;
    assert!(!listed(&before), "bert has nothing to do with it yet");
    f.engine
        .execute(
            &case,
            Command::new(
                "anna",
                Action::PlanJointVisit {
                    task: TaskRef(task),
                    at: now + Duration::days(3),
                    place: Some("Wijkcentrum".into()),
                    participants: vec!["anna".into(), "bert".into()],
                    guests: Vec::new(),
                    invite_resident: false,
                },
            ),
            now,
        )
        .await
        .unwrap();
    let (status, after) = f.api("bert", "GET", "/api/v1/cases", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed(&after), "the invitee finds the case: {after}");
    let bert = f.login("bert").await;
    let (status, _, html) = f.page(&bert, "/casussen").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&case[case.len() - 8..]), "the case list shows it");
    assert_eq!(
        f.page(&bert, &format!("/casussen/{case}")).await.0,
        StatusCode::OK
    );
    // And in Mijn taken, as a visit he is invited to (anna holds the task).
    let (status, _, html) = f.page(&bert, "/taken").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Gezamenlijke bezoeken waarvoor u bent uitgenodigd"),
        "{html}"
    );
    let section = html
        .split("id=\"uitgenodigd\"")
        .nth(1)
        .expect("a section for visits he is invited to");
    assert!(
        section.contains(&case) && section.contains("Kennismaking"),
        "{section}"
    );
    let anna = f.login("anna").await;
    let (_, _, html) = f.page(&anna, "/taken").await;
    assert!(
        !html.contains("id=\"uitgenodigd\""),
        "the one holding the visit sees it as her task"
    );
    assert_eq!(
        f.engine
            .store()
            .invited_visits("bert", None, 20)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        f.engine
            .store()
            .invited_visits("anna", None, 20)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Item 10: error bodies name the field by its path, are JSON for the API and Dutch for
/// pages, and never echo what was sent at length; the Origin check counts the scheme.
pub(crate) async fn error_bodies_are_exact_and_short(f: Fixture) {
    // A type error names its field, not the value.
    let (status, body) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({ "pathway": 123, "variables": {} })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "pathway", "{body}");
    // A 900 KB value is not echoed back.
    let big = "x".repeat(900 * 1024);
    let (status, body) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({ "pathway": "van-zorg-naar-werk", "variables": big })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().len() < 600, "{} bytes", body.to_string().len());
    assert_eq!(body["field"], "variables");
    // Malformed JSON, a bad query value, a body over the limit: JSON, with a status.
    let res = f
        .send(
            Request::post("/api/v1/cases")
                .header(header::AUTHORIZATION, format!("Bearer {}", f.creds["anna"].1))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"pathway\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(res.0, StatusCode::BAD_REQUEST);
    assert!(res.2.contains("malformed JSON"), "{}", res.2);
    let (status, body) = f
        .api(
            "carla",
            "GET",
            "/api/v1/pathways/van-zorg-naar-werk?version=abc",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "version", "{body}");
    let res = f
        .send(
            Request::post("/api/v1/pathways")
                .header(header::AUTHORIZATION, format!("Bearer {}", f.creds["carla"].1))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, 2 * 1024 * 1024)
                .body(Body::from(vec![b' '; 2 * 1024 * 1024]))
                .unwrap(),
        )
        .await;
    assert_eq!(res.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.1[header::CONTENT_TYPE], "application/json");
    assert!(res.2.contains("larger than the limit"), "{}", res.2);
    // Pages: a bad query answers a Dutch page, not serde's English.
    let anna = f.login("anna").await;
    let (status, headers, html) = f.page(&anna, "/taken?pagina=veel").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.contains("Het verzoek kon niet worden gelezen"), "{html}");
    assert!(!html.contains("invalid digit"), "{html}");
    // A handler's error names its stable code for the helpdesk.
    let (status, _, html) = f.page(&anna, "/casussen/bestaat-niet").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("Foutcode voor de helpdesk: <code>not_found</code>"),
        "{html}"
    );
    // The Origin must match by scheme as well as host.
    let task = f.task_of(&f.mine).await;
    let (status, _, _) = f
        .send(
            Request::post(format!("/casussen/{}/taken/{task}/oppakken", f.mine))
                .header(header::COOKIE, &anna.cookie)
                .header(header::HOST, "doorloop.example")
                .header(header::ORIGIN, "https://doorloop.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("_csrf={}", anna.csrf)))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "https Origin on an http site");
}

/// What the log receives, for the test of the login lines.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

/// Item 8: failed and throttled logins are logged with the account and the client's
/// address; a name that is no account is logged only by a short hash.
pub(crate) async fn failed_logins_are_logged() {
    let f = fixture(None).await;
    let log = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (_, headers, html) = f
        .send(Request::get("/inloggen").body(Body::empty()).unwrap())
        .await;
    let login_cookie = named_cookie(&headers, "doorloop_inlog").unwrap();
    let csrf = csrf_of(&html);
    let attempt = |name: &str| {
        Request::post("/inloggen")
            .header(header::COOKIE, &login_cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "_csrf={csrf}&gebruikersnaam={name}&wachtwoord=fout"
            )))
            .unwrap()
    };
    f.send(attempt("geheim-wachtwoord-als-naam")).await;
    for _ in 0..6 {
        f.send(attempt("anna")).await;
    }
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("login failed")
            && text.contains("account=anna")
            && text.contains("why=\"wrong password\""),
        "{text}"
    );
    assert!(
        text.contains("login throttled") && text.contains("per account and address"),
        "{text}"
    );
    assert!(text.contains("account=onbekend:"), "{text}");
    assert!(!text.contains("geheim-wachtwoord-als-naam"), "{text}");
}

/// Operations: health, readiness and metrics for a load balancer and Prometheus; every
/// answer carries a request id.
pub(crate) async fn health_readiness_metrics_and_request_ids(f: Fixture) {
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let (status, _, body) = f.send(get("/healthz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, body) = f.send(get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["migrations"], "ok");
    assert_eq!(ready["writer"], "ok");
    assert_eq!(ready["scheduler"], "elsewhere");
    // Some traffic: a page, an API call, a command.
    let anna = f.login("anna").await;
    f.page(&anna, &format!("/casussen/{}", f.mine)).await;
    f.api("anna", "GET", "/api/v1/tasks", None).await;
    let (_, headers, body) = f.send(get("/metrics")).await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{headers:?}"
    );
    for needle in [
        "doorloop_http_responses_total{method=\"GET\",route=\"/casussen/{id}\",status=\"200\"} 1",
        "doorloop_http_responses_total{method=\"GET\",route=\"/api/v1/tasks\",status=\"200\"} 1",
        "doorloop_commands_total{result=\"landed\"}",
        "doorloop_commit_seconds_bucket",
        "doorloop_commit_batch_size_count",
        "doorloop_outbox_pending",
        "doorloop_outbox_dead 0",
        "# EOF",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    assert!(!body.contains(&f.mine), "no case id in a label");
    // A request id: the caller's when it is sane, else a new one; sent back either way.
    let res = f
        .send(
            Request::get("/healthz")
                .header("x-request-id", "lb-1234")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.1["x-request-id"], "lb-1234");
    let res = f
        .send(
            Request::get("/healthz")
                .header("x-request-id", "x".repeat(200))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let id = res.1["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "a fresh id replaces one that is too long: {id}");
    assert!(f.engine.store().schema_current().await.unwrap());
}
