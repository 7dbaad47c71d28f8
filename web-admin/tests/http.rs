//! Handler tests for every page and API endpoint, and the authorisation matrix, against
//! the real router and a real store (SQLite file; PostgreSQL too when
//! `DOORLOOP_TEST_POSTGRES_URL` is set, as `.ci/run` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test binary (harness = false)

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use doorloop_engine::engine::Engine;
use doorloop_engine::runtime::{Action, Command, TaskRef};
use doorloop_engine::store::{PostgresStore, SqliteStore, Store, User, UserRole};
use doorloop_engine::time::calendar::Calendar;
use doorloop_web::{WebConfig, auth};
use http_body_util::BodyExt;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use tower::ServiceExt;

const SWITCH_YAML: &str = include_str!("../../workflows/simpel-switchen.yaml");
const VZNW: &str = include_str!("../../workflows/van-zorg-naar-werk.yaml");
const VISIT: &str = r#"
key: bezoek-test
name: Bezoek test
roles:
  wmo-consulent: { name: Wmo-consulent }
  jobcoach: { name: Jobcoach }
steps:
  - { id: start, kind: start, next: kennismaking }
  - id: kennismaking
    kind: joint_visit
    name: Kennismaking
    roles: [wmo-consulent, jobcoach]
    fields:
      - { name: verslag, type: text, required: true, label: Verslag }
    next: einde
  - { id: einde, kind: end, outcome: dagbesteding }
"#;

struct Fixture {
    engine: Arc<Engine>,
    app: Router,
    /// login name → (password, API token)
    creds: BTreeMap<&'static str, (String, String)>,
    /// anna's case (signaal done, intake open for her team); foreign: zoe's claimed task.
    mine: String,
    foreign: String,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// (login, role, teams, organisation): everyone works for Oss, except the chain's four.
const PEOPLE: &[(&str, UserRole, &[&str], &str)] = &[
    ("anna", UserRole::Consultant, &["wmo-consulent"], "Oss"),
    ("piet", UserRole::Consultant, &["jobcoach"], "Oss"),
    ("bert", UserRole::Consultant, &["ambulant-begeleider"], "Oss"),
    ("zoe", UserRole::Consultant, &["ambulant-begeleider"], "Oss"),
    ("mark", UserRole::Manager, &[], "Oss"),
    ("carla", UserRole::Coordinator, &[], "Oss"),
    ("bea", UserRole::Admin, &[], "Oss"),
    ("kees", UserRole::Consultant, &["klantmanager"], "Oss"),
    ("gijs", UserRole::Consultant, &["ambulant-begeleider"], "de-linde"),
    (
        "lotte",
        UserRole::Consultant,
        &["ambulant-begeleider"],
        "maasland",
    ),
    ("ulla", UserRole::Manager, &[], "Uden"),
    ("rita", UserRole::Manager, &[], "regio"),
    ("pia", UserRole::Privacy, &[], "Oss"),
];

async fn fixture(pg: Option<&str>) -> Fixture {
    fixture_with(pg, WebConfig::default()).await
}

async fn fixture_with(pg: Option<&str>, config: WebConfig) -> Fixture {
    fixture_clocked(pg, config, Arc::new(doorloop_engine::time::clock::SystemClock)).await
}

async fn fixture_clocked(
    pg: Option<&str>,
    config: WebConfig,
    clock: Arc<dyn doorloop_engine::time::clock::Clock>,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg): (Arc<dyn Store>, _) = match pg {
        Some(url) => {
            let schema = format!("web_{}", uuid_like());
            (
                Arc::new(PostgresStore::open(url, Some(&schema)).await.unwrap()),
                Some((url.to_owned(), schema)),
            )
        }
        None => {
            let url = format!("sqlite://{}", dir.path().join("web.db").display());
            (Arc::new(SqliteStore::open(&url).await.unwrap()), None)
        }
    };
    let now = clock.now();
    let engine = Arc::new(
        Engine::with_clock(store.clone(), Calendar::default(), clock)
            .with_vault(doorloop_engine::resident::BsnVault::from_key(&[9; 32])),
    );
    engine.publish_yaml(SWITCH_YAML, now).await.unwrap();
    engine.publish_yaml(VZNW, now).await.unwrap();
    engine.publish_yaml(VISIT, now).await.unwrap();
    use doorloop_engine::chain::OrganisationKind as Kind;
    for (id, name, kind) in [
        ("Oss", "Gemeente Oss", Kind::Gemeente),
        ("Uden", "Gemeente Uden", Kind::Gemeente),
        ("de-linde", "Zorggroep De Linde", Kind::Zorgaanbieder),
        ("maasland", "Stichting Zorg Maasland", Kind::Zorgaanbieder),
        ("regio", "Regio Noordoost-Brabant", Kind::Regio),
    ] {
        store
            .add_organisation(&doorloop_engine::chain::Organisation {
                id: id.into(),
                name: name.into(),
                kind,
            })
            .await
            .unwrap();
    }
    let mut creds = BTreeMap::new();
    for (id, role, teams, organisation) in PEOPLE {
        let password = format!("wachtwoord-{id}-123");
        store
            .add_user(&User {
                id: (*id).into(),
                display_name: format!("{id} test"),
                role: *role,
                teams: teams.iter().map(|t| t.to_string()).collect(),
                email: None,
                organisation: (*organisation).into(),
                organisation_kind: None,
                password_hash: Some(auth::hash_password(&password).unwrap()),
                active: true,
                created_at: now,
            })
            .await
            .unwrap();
        let token = auth::generate_api_token().unwrap();
        store
            .add_api_token(&auth::token_hash(&token), id, "test", now, None)
            .await
            .unwrap();
        creds.insert(*id, (password, token));
    }
    let signaal = json!({"motivatie": "wil werken", "trede": 2});
    let complete = |by: &str| {
        Command::new(
            by,
            Action::CompleteTask {
                task: TaskRef("signaal".into()),
                data: serde_json::from_value(signaal.clone()).unwrap(),
            },
        )
    };
    let mine = engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "bert",
            &anon_resident(&engine).await,
            BTreeMap::new(),
            now,
        )
        .await
        .unwrap()
        .state
        .id;
    engine.execute(&mine, complete("bert"), now).await.unwrap();
    // zoe's case: she holds the first task; nobody else may see it.
    let foreign = engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "zoe",
            &anon_resident(&engine).await,
            BTreeMap::new(),
            now,
        )
        .await
        .unwrap()
        .state
        .id;
    let task = engine
        .store()
        .load_case(&foreign)
        .await
        .unwrap()
        .unwrap()
        .tasks
        .keys()
        .next()
        .unwrap()
        .clone();
    engine
        .execute(
            &foreign,
            Command::new(
                "zoe",
                Action::Reassign {
                    task: TaskRef(task),
                    to: Some("zoe".into()),
                },
            ),
            now,
        )
        .await
        .unwrap();
    let app = doorloop_web::router(engine.clone(), config).unwrap();
    Fixture {
        engine,
        app,
        creds,
        mine,
        foreign,
        pg,
        _dir: dir,
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

impl Fixture {
    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    async fn api(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if !who.is_empty() {
            req = req.header(header::AUTHORIZATION, format!("Bearer {}", self.creds[who].1));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let (status, _, text) = self.send(req).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Logs in through the form; returns the session cookie and the CSRF token.
    async fn login(&self, who: &str) -> Session {
        let (status, headers, html) = self
            .send(Request::get("/inloggen").body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cookie(&headers), None, "an anonymous visit starts no session");
        let anonymous = named_cookie(&headers, "doorloop_inlog").expect("the login form's cookie");
        let csrf = csrf_of(&html);
        let form = format!(
            "_csrf={csrf}&volgende=%2F&gebruikersnaam={who}&wachtwoord={}",
            self.creds[who].0
        );
        let (status, headers, _) = self
            .send(
                Request::post("/inloggen")
                    .header(header::COOKIE, &anonymous)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "login of {who}");
        let cookie = cookie(&headers).expect("session cookie after login");
        assert_ne!(cookie, anonymous, "the session id is rotated at login");
        let (_, _, html) = self
            .page(
                &Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                },
                "/trajecten-or-home",
            )
            .await;
        drop(html);
        // Every page of a logged-in user carries the session's CSRF token (in the logout form).
        let (_, headers, _) = self.send(self.get_req(&cookie, "/")).await;
        let home_path = headers[header::LOCATION].to_str().unwrap().to_owned();
        let (_, _, home) = self.send(self.get_req(&cookie, &home_path)).await;
        Session {
            csrf: csrf_of(&home),
            cookie,
        }
    }

    fn get_req(&self, cookie: &str, path: &str) -> Request<Body> {
        Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    }

    async fn page(&self, s: &Session, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        self.send(self.get_req(&s.cookie, path)).await
    }

    async fn post(
        &self,
        s: &Session,
        path: &str,
        fields: &[(&str, &str)],
        with_csrf: bool,
    ) -> (StatusCode, String) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if with_csrf {
            ser.append_pair("_csrf", &s.csrf);
        }
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        let (status, _, body) = self
            .send(
                Request::post(path)
                    .header(header::COOKIE, &s.cookie)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(ser.finish()))
                    .unwrap(),
            )
            .await;
        (status, body)
    }

    async fn seq(&self, case: &str) -> u64 {
        self.engine.store().load_case(case).await.unwrap().unwrap().seq
    }

    async fn task_of(&self, case: &str) -> String {
        self.engine
            .store()
            .load_case(case)
            .await
            .unwrap()
            .unwrap()
            .tasks
            .keys()
            .next()
            .unwrap()
            .clone()
    }

    async fn views(&self, case: &str) -> usize {
        self.engine
            .store()
            .access_log(Some(case), 1000)
            .await
            .unwrap()
            .len()
    }
}

struct Session {
    cookie: String,
    csrf: String,
}

fn cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    named_cookie(headers, "doorloop_sessie")
}

fn named_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn openapi_document_lists_every_endpoint() {
    let f = fixture(None).await;
    let (status, doc) = f.api("", "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/cases/{id}/tasks/{task}/claim",
        "/api/v1/cases/{id}/tasks/{task}/release",
        "/api/v1/cases/{id}/tasks/{task}/complete",
        "/api/v1/tasks",
        "/api/v1/pathways",
        "/api/v1/pathways/{key}",
        "/api/v1/stalls",
        "/api/v1/cases/{id}/withdraw",
        "/api/v1/cases/{id}/notes",
        "/api/v1/cases/{id}/tasks/{task}/hand-over",
        "/api/v1/cases/{id}/tasks/{task}/clock/{action}",
        "/api/v1/cases/{id}/tasks/{task}/extend",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every API route the router serves is in the document.
    for route in doorloop_web::route_paths() {
        if route.starts_with("/api/") && route != "/api/v1/openapi.json" && route != "/api/v1/{*rest}" {
            assert!(paths.contains_key(route), "{route} is served but not documented");
        }
    }
    // Every operation lists the errors any request can meet, with the error body.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut needed = vec!["400", "401", "403"];
            if path.contains('{') {
                needed.push("404");
            }
            if op.get("requestBody").is_some() {
                needed.extend(["413", "415", "422"]);
            }
            for status in needed {
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    // Every response is described, as OpenAPI 3.1 requires.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().into_iter().flatten() {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.trim().is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    // And an independent validator accepts the document (openapi-spec-validator from PyPI,
    // installed by .ci/run in a virtual environment and named by DOORLOOP_OPENAPI_VALIDATOR).
    match std::env::var("DOORLOOP_OPENAPI_VALIDATOR") {
        Ok(validator) if !validator.is_empty() => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("openapi.json");
            std::fs::write(&file, doc.to_string()).unwrap();
            let out = std::process::Command::new(&validator)
                .arg(&file)
                .output()
                .unwrap_or_else(|e| panic!("{validator}: {e}"));
            assert!(
                out.status.success(),
                "openapi-spec-validator refuses the document:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        _ => println!("NOTE: openapi-spec-validator not run (set DOORLOOP_OPENAPI_VALIDATOR; .ci/run does)"),
    }
}

async fn api_cases_tasks_and_their_errors(f: Fixture) {
    let (status, _) = f.api("", "GET", "/api/v1/cases", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, list) = f.api("anna", "GET", "/api/v1/cases", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![f.mine.as_str()],
        "anna's team holds the open intake of one case"
    );
    let (_, list) = f.api("mark", "GET", "/api/v1/cases", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "managers see the organisation's cases"
    );

    let before = f.views(&f.mine).await;
    let (status, case) = f
        .api("anna", "GET", &format!("/api/v1/cases/{}", f.mine), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["tasks"][0]["step"], "intake");
    assert_eq!(f.views(&f.mine).await, before + 1, "every API view is logged");
    let (status, _) = f.api("anna", "GET", "/api/v1/cases/no-such-case", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, created) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(
                json!({"pathway": "van-zorg-naar-werk", "resident": anon_resident(&f.engine).await,
                        "variables": {"verwijzer": "huisarts"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // A jobcoach is not among the roles that may sign someone up for this pathway.
    let (status, err) = f
        .api(
            "piet",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "van-zorg-naar-werk", "resident": anon_resident(&f.engine).await})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str(), err["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("start_not_allowed"), Some("pathway")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap().contains("Wmo-consulent"),
        "{err}"
    );
    let (status, err) = f
        .api("anna", "POST", "/api/v1/cases", Some(json!({"variables": {}})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "pathway", "{err}");
    assert_eq!(err["code"], "field_missing", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("missing field"),
        "{err}"
    );
    let someone = anon_resident(&f.engine).await;
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "bestaat-niet", "resident": someone})),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str(), err["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("pathway"),
            Some("pathway_unknown")
        )
    );
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "van-zorg-naar-werk", "resident": someone, "variables": {"onbekend": 1}})),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("variables.onbekend")),
        "{err}"
    );
    let (status, err) = f
        .api(
            "anna",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "x", "extra": 1})),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str(), err["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("extra"),
            Some("field_unknown")
        ),
        "{err}"
    );
    let req = Request::post("/api/v1/cases")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.creds["anna"].1))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(f.send(req).await.0, StatusCode::BAD_REQUEST);

    let (status, tasks) = f.api("anna", "GET", "/api/v1/tasks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["case_id"] == f.mine.as_str())
    );
    let (_, tasks) = f.api("piet", "GET", "/api/v1/tasks", None).await;
    assert!(tasks.as_array().unwrap().is_empty());
    // The two lists apart: the unassigned intake is the team's, not anna's own.
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["case_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (_, team) = f.api("anna", "GET", "/api/v1/tasks?scope=team", None).await;
    assert!(ids(&team).contains(&f.mine), "{team}");
    let (_, own) = f.api("anna", "GET", "/api/v1/tasks?scope=mine", None).await;
    assert!(!ids(&own).contains(&f.mine), "{own}");
    let (status, bad) = f.api("anna", "GET", "/api/v1/tasks?scope=iedereen", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    // Each task with a deadline says whether it is on track.
    for t in team.as_array().unwrap() {
        assert_eq!(
            t["risk"].is_string(),
            t["due_at"].is_string(),
            "risk where there is a deadline: {t}"
        );
        if let Some(r) = t["risk"].as_str() {
            assert!(["on_track", "at_risk", "overdue"].contains(&r), "{t}");
        }
    }

    // claim, release, complete (the intake is a joint visit: plan it first)
    let task = f.task_of(&f.mine).await;
    let base = format!("/api/v1/cases/{}/tasks/{task}", f.mine);
    assert_eq!(
        f.api("anna", "POST", &format!("{base}/claim"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.engine.store().load_case(&f.mine).await.unwrap().unwrap().tasks[&task]
            .assignee
            .as_deref(),
        Some("anna")
    );
    assert_eq!(
        f.api("anna", "POST", &format!("{base}/release"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.api("anna", "POST", &format!("{base}/claim"), None).await.0,
        StatusCode::NO_CONTENT
    );
    let at = Utc::now() + Duration::days(3);
    f.engine
        .execute(
            &f.mine,
            Command::new(
                "anna",
                Action::PlanJointVisit {
                    task: TaskRef(task.clone()),
                    at,
                    place: None,
                    participants: vec!["anna".into()],
                    guests: Vec::new(),
                    invite_resident: false,
                },
            ),
            Utc::now(),
        )
        .await
        .unwrap();
    let (status, err) = f
        .api(
            "anna",
            "POST",
            &format!("{base}/complete"),
            Some(json!({"data": {"ik_wil": "werken"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["field"].as_str().unwrap().starts_with("data."), "{err}");
    assert_eq!(err["code"], "field_missing", "{err}");
    let data = json!({"data": {"ik_wil": "werken", "ik_kan": "veel", "ik_heb_nodig": "begeleiding", "uitkering": "bijstand"}});
    let (status, case) = f
        .api("anna", "POST", &format!("{base}/complete"), Some(data.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["tasks"][0]["step"], "casusoverleg", "the case moved on");
    let (status, err) = f
        .api("anna", "POST", &format!("{base}/complete"), Some(data))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("task_already_completed")),
        "completing twice: the task is no longer open"
    );
}

async fn api_pathways_and_stalls(f: Fixture) {
    let (status, list) = f.api("carla", "GET", "/api/v1/pathways", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list.as_array().unwrap().len(),
        3,
        "van-zorg-naar-werk, the visit test, simpel-switchen"
    );
    let (status, p) = f
        .api(
            "anna",
            "GET",
            "/api/v1/pathways/van-zorg-naar-werk?version=1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["definition"]["key"], "van-zorg-naar-werk");
    assert_eq!(
        f.api("anna", "GET", "/api/v1/pathways/nope", None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, published) = f
        .api(
            "carla",
            "POST",
            "/api/v1/pathways",
            Some(json!({"source": VISIT})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(published["version"], 2);
    let broken = VISIT.replace("next: einde", "next: nergens");
    let (status, err) = f
        .api(
            "carla",
            "POST",
            "/api/v1/pathways",
            Some(json!({"source": broken})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["problems"][0].as_str().unwrap().contains("nergens"), "{err}");
    assert_eq!(
        f.api("anna", "POST", "/api/v1/pathways", Some(json!({"source": VISIT})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = f.api("mark", "GET", "/api/v1/stalls", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        f.api("carla", "GET", "/api/v1/stalls", None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.api("anna", "GET", "/api/v1/stalls", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        f.api("anna", "GET", "/api/v1/nothing-here", None).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn login_is_generic_throttled_and_sets_safe_cookies() {
    let f = fixture(None).await;
    let (_, headers, html) = f
        .send(Request::get("/inloggen").body(Body::empty()).unwrap())
        .await;
    assert_eq!(cookie(&headers), None, "an anonymous visit starts no session");
    let anonymous = named_cookie(&headers, "doorloop_inlog").unwrap();
    let csrf = csrf_of(&html);
    let set_cookie = headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    for h in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ] {
        assert!(headers.contains_key(h), "{h} missing");
    }
    assert!(
        !headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    let attempt = |name: &str, pw: &str| {
        Request::post("/inloggen")
            .header(header::COOKIE, &anonymous)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "_csrf={csrf}&gebruikersnaam={name}&wachtwoord={pw}"
            )))
            .unwrap()
    };
    let (status, _, wrong_pw) = f.send(attempt("anna", "fout")).await;
    let (status2, _, wrong_user) = f.send(attempt("niemand", "fout")).await;
    assert_eq!(
        (status, status2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert!(wrong_pw.contains("Gebruikersnaam of wachtwoord onjuist"));
    assert!(
        wrong_user.contains("Gebruikersnaam of wachtwoord onjuist"),
        "same message for unknown names"
    );
    for _ in 0..4 {
        f.send(attempt("anna", "fout")).await;
    }
    let (status, _, html) = f.send(attempt("anna", &f.creds["anna"].0)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the sixth attempt in a minute is refused, even with the right password"
    );
    assert!(html.contains("Te veel inlogpogingen"));
    // Without the CSRF token the login form is refused.
    let (status, _, _) = f
        .send(
            Request::post("/inloggen")
                .header(header::COOKIE, &anonymous)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "gebruikersnaam=piet&wachtwoord={}",
                    f.creds["piet"].0
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Logged out: the session is gone.
    let s = f.login("piet").await;
    assert_eq!(f.page(&s, "/taken").await.0, StatusCode::OK);
    assert_eq!(f.post(&s, "/uitloggen", &[], true).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        f.page(&s, "/taken").await.0,
        StatusCode::SEE_OTHER,
        "back to the login page"
    );
}

/// Joint visits invite anyone on the resident's line, people outside by e-mail and the
/// resident; recording the outcome before the visit asks for confirmation.
async fn joint_visits_invite_the_line_guests_and_the_resident(f: Fixture) {
    let input = doorloop_engine::resident::ResidentInput {
        given_name: "Pablo".into(),
        family_name: "de Vries".into(),
        email: Some("pablo@voorbeeld.nl".into()),
        ..Default::default()
    };
    let resident = f.engine.add_resident(&input, Utc::now()).await.unwrap().id;
    let case = f
        .engine
        .start_case(
            "bezoek-test",
            None,
            "anna",
            &resident,
            BTreeMap::new(),
            Utc::now(),
        )
        .await
        .unwrap()
        .state;
    let task = case.tasks.keys().next().unwrap().clone();
    let case = case.id;
    let page = format!("/casussen/{case}/taken/{task}");
    let anna = f.login("anna").await;
    let (_, _, html) = f.page(&anna, &page).await;
    assert!(
        html.contains("piet test"),
        "a jobcoach, whom the visit's roles name"
    );
    assert!(!html.contains("bert test"), "not on this resident's line yet");
    assert!(html.contains("De inwoner uitnodigen"), "{html}");
    assert!(html.contains("Mensen van buiten uitnodigen"));
    // Bert starts another trajectory for the same resident: now he is on the line.
    f.engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "bert",
            &resident,
            BTreeMap::new(),
            Utc::now(),
        )
        .await
        .unwrap();
    let (_, _, html) = f.page(&anna, &page).await;
    assert!(html.contains("bert test"), "a colleague on the resident's line");
    assert!(!html.contains("mark test"), "a manager is no participant");

    let day = (Utc::now() + Duration::days(7)).format("%Y-%m-%d").to_string();
    let plan = |who: &'static str, guests: &'static str| {
        vec![
            ("datum", day.clone()),
            ("tijd", "10:00".to_owned()),
            ("deelnemer", "anna".to_owned()),
            ("deelnemer", who.to_owned()),
            ("gasten", guests.to_owned()),
            ("inwoner", "ja".to_owned()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    let post = |fields: Vec<(&'static str, String)>| {
        let anna = &anna;
        let f = &f;
        let page = page.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.post(anna, &format!("{page}/bezoek"), &fields, true).await
        }
    };
    let (status, html) = post(as_refs(&plan(
        "bert",
        "huisarts@praktijk.nl\nwerkgever(at)bedrijf.nl",
    )))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("‘werkgever(at)bedrijf.nl’ is geen e-mailadres."),
        "{html}"
    );
    assert!(
        html.contains("werkgever(at)bedrijf.nl</textarea>"),
        "input is kept"
    );
    let (status, html) = post(as_refs(&plan("mark", ""))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("werkt niet aan de lijn van deze inwoner"), "{html}");
    assert!(
        f.engine.store().load_case(&case).await.unwrap().unwrap().tasks[&task]
            .visit
            .is_none()
    );

    let (status, html) = post(as_refs(&plan(
        "bert",
        "huisarts@praktijk.nl, werkgever@bedrijf.nl",
    )))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let visit = f.engine.store().load_case(&case).await.unwrap().unwrap().tasks[&task]
        .visit
        .clone()
        .unwrap();
    assert_eq!(visit.participants, ["anna", "bert"]);
    assert_eq!(visit.guests, ["huisarts@praktijk.nl", "werkgever@bedrijf.nl"]);
    assert!(visit.resident);
    let invited: Vec<(String, String)> = f
        .engine
        .store()
        .outbox_items(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.case_id.as_deref() == Some(case.as_str()) && o.kind == "visit_planned")
        .map(|o| (o.recipient_type, o.recipient))
        .collect();
    for who in [
        ("user", "anna"),
        ("user", "bert"),
        ("address", "huisarts@praktijk.nl"),
        ("address", "werkgever@bedrijf.nl"),
        ("resident", ""),
    ] {
        assert!(
            invited.iter().any(|(t, r)| t == who.0 && r == who.1),
            "{who:?} in {invited:?}"
        );
    }
    // The re-planning form shows who is invited.
    let (_, _, html) = f.page(&anna, &page).await;
    assert!(
        html.contains("huisarts@praktijk.nl\nwerkgever@bedrijf.nl</textarea>"),
        "{html}"
    );

    // The outcome before the visit's date: a question first, nothing recorded.
    let version = f.seq(&case).await.to_string();
    let outcome = [("versie", version.as_str()), ("verslag", "Goed gesprek")];
    let (status, html) = f.post(&anna, &format!("{page}/afronden"), &outcome, true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("dat is nog niet geweest"), "{html}");
    assert!(html.contains("name=\"bevestigd\" value=\"ja\""));
    assert_eq!(f.seq(&case).await.to_string(), version, "nothing recorded");
    let confirmed = [
        ("versie", version.as_str()),
        ("verslag", "Goed gesprek"),
        ("bevestigd", "ja"),
    ];
    let (status, _) = f.post(&anna, &format!("{page}/afronden"), &confirmed, true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The API plans the same way and refuses in the same words.
    let mine = f.task_of(&f.mine).await;
    let path = format!("/api/v1/cases/{}/tasks/{mine}/visit", f.mine);
    let at = (Utc::now() + Duration::days(3)).to_rfc3339();
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &path,
            Some(json!({"at": at, "participants": ["anna"], "invite_resident": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("geen e-mailadres"),
        "{body}"
    );
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &path,
            Some(json!({"at": at, "participants": ["anna"], "guests": ["nee"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &path,
            Some(json!({"at": at, "participants": ["anna"], "guests": ["jobcoach@ibn.nl"], "place": "IBN"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let visit = f.engine.store().load_case(&f.mine).await.unwrap().unwrap().tasks[&mine]
        .visit
        .clone()
        .unwrap();
    assert_eq!(visit.guests, ["jobcoach@ibn.nl"]);
    assert_eq!(visit.place.as_deref(), Some("IBN"));
}

async fn consultants_add_work_outside_the_pathway(f: Fixture) {
    let resident = anon_resident(&f.engine).await;
    let case = f
        .engine
        .start_case(
            "van-zorg-naar-werk",
            None,
            "anna",
            &resident,
            BTreeMap::new(),
            Utc::now(),
        )
        .await
        .unwrap()
        .state
        .id;
    let anna = f.login("anna").await;
    let add = format!("/casussen/{case}/taak-toevoegen");
    let (_, _, html) = f.page(&anna, &format!("/casussen/{case}")).await;
    assert!(
        html.contains("Taak toevoegen buiten het traject") && html.contains("piet test (Jobcoach)"),
        "{html}"
    );
    // For nobody, or for a colleague without the role: refused in Dutch, nothing added.
    let (status, html) = f
        .post(
            &anna,
            &add,
            &[
                ("wat", "Schuldhulp regelen"),
                ("reden", "Beslag op loon"),
                ("rol", ""),
                ("collega", ""),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Kies voor wie de taak is"), "{html}");
    let (status, html) = f
        .post(
            &anna,
            &add,
            &[
                ("wat", "Schuldhulp regelen"),
                ("reden", "Beslag op loon"),
                ("rol", "wmo-consulent"),
                ("collega", "piet"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("piet test heeft de rol Wmo-consulent niet"),
        "{html}"
    );
    let (status, html) = f
        .post(
            &anna,
            &add,
            &[
                ("wat", "Schuldhulp regelen"),
                ("reden", "Beslag op loon"),
                ("rol", "jobcoach"),
                ("collega", ""),
                ("datum", "2020-01-01"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("De datum ligt in het verleden."), "{html}");
    let before = f.engine.store().load_case(&case).await.unwrap().unwrap();
    assert!(before.tasks.values().all(|t| t.adhoc.is_none()), "nothing added");
    // For the jobcoaches: on the case page with its reason, and on the timeline.
    let (status, _) = f
        .post(
            &anna,
            &add,
            &[
                ("wat", "Schuldhulp regelen"),
                ("reden", "Beslag op loon"),
                ("rol", "jobcoach"),
                ("collega", ""),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = f.page(&anna, &format!("/casussen/{case}?melding=taak")).await;
    assert!(
        html.contains("De taak is toegevoegd")
            && html.contains("Buiten het traject toegevoegd. Reden: Beslag op loon")
            && html.contains("Taak toegevoegd buiten het traject: Schuldhulp regelen (voor Jobcoach)"),
        "{html}"
    );
    // Through the API, for a person: the role is their team on this pathway.
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{case}/tasks"),
            Some(json!({"title": "Huisarts bellen", "reason": "Belastbaarheid", "assignee": "piet"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let added = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["adhoc"]["title"] == "Huisarts bellen")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(
        (added["step"].as_str(), added["assignee"].as_str()),
        (Some("adhoc"), Some("piet"))
    );
    assert_eq!(added["roles"], json!(["jobcoach"]));
    let task = added["task_id"].as_str().unwrap().to_owned();
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{case}/tasks"),
            Some(json!({"title": "x", "reason": "y", "role": "bestaat-niet"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{body}"
    );
    // Piet finds it by its title, opens it and says what was done.
    let (_, list) = f.api("piet", "GET", "/api/v1/tasks", None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["title"] == "Huisarts bellen"),
        "{list}"
    );
    let piet = f.login("piet").await;
    let (_, _, html) = f.page(&piet, "/taken").await;
    assert!(html.contains("Huisarts bellen"), "{html}");
    let url = format!("/casussen/{case}/taken/{task}");
    let (status, _, html) = f.page(&piet, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Huisarts bellen")
            && html.contains("Wat is er gedaan?")
            && html.contains("Reden: Belastbaarheid"),
        "{html}"
    );
    let (status, _) = f
        .post(
            &piet,
            &format!("{url}/afronden"),
            &[("toelichting", "Huisarts gebeld")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = f.page(&piet, &url).await;
    assert!(
        html.contains("Huisarts gebeld"),
        "the old link shows what was done: {html}"
    );
    let after = f.engine.store().load_case(&case).await.unwrap().unwrap();
    assert_eq!(
        after
            .tasks
            .values()
            .filter(|t| t.adhoc.is_none())
            .map(|t| &t.step)
            .collect::<Vec<_>>(),
        before.tasks.values().map(|t| &t.step).collect::<Vec<_>>(),
        "the drawn work did not move"
    );
    // The coordinator sees where practice departs from the drawing.
    let carla = f.login("carla").await;
    let (_, _, html) = f.page(&carla, "/trajecten/van-zorg-naar-werk").await;
    let practice = &html[html.find("id=\"praktijk\"").expect("practice section")..];
    assert!(
        practice.contains("Schuldhulp regelen") && practice.contains("Huisarts bellen"),
        "{practice}"
    );
}

/// A pathway whose decision waits on a clock that may be suspended and extended (Awb).
const CLOCKED: &str = "key: besluit\nname: Besluit\nroles:\n  wmo-consulent: { name: Wmo-consulent }\nsteps:\n  - { id: start, kind: start, next: besluit }\n  - id: besluit\n    kind: task\n    name: Besluit nemen\n    role: wmo-consulent\n    deadline: 8 weken\n    clock: { suspend: true, extend: 6 weken }\n    next: einde\n  - { id: einde, kind: end, outcome: gestopt }\n";

async fn consultants_withdraw_cases_and_move_deadlines_with_a_reason(f: Fixture) {
    f.engine.publish_yaml(CLOCKED, Utc::now()).await.unwrap();
    let resident = anon_resident(&f.engine).await;
    let case = f
        .engine
        .start_case("besluit", None, "anna", &resident, BTreeMap::new(), Utc::now())
        .await
        .unwrap()
        .state;
    let task = case.tasks.keys().next().unwrap().clone();
    let anna = f.login("anna").await;
    // The case page offers the clock's actions for this step.
    let (_, _, html) = f.page(&anna, &format!("/casussen/{}", case.id)).await;
    assert!(
        html.contains("Termijn opschorten") && html.contains("hoogstens 6 weken"),
        "{html}"
    );
    let clock = |what: &str| format!("/casussen/{}/taken/{task}/termijn/{what}", case.id);
    // Without a reason: refused, nothing changes.
    let (status, html) = f.post(&anna, &clock("opschorten"), &[("reden", " ")], true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Geef een reden op."), "{html}");
    let (status, _) = f
        .post(
            &anna,
            &clock("opschorten"),
            &[("reden", "wacht op stukken")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = f.engine.store().load_case(&case.id).await.unwrap().unwrap();
    assert!(state.tasks[&task].due.as_ref().unwrap().suspended_since.is_some());
    let (_, _, html) = f
        .page(&anna, &format!("/casussen/{}?melding=termijn", case.id))
        .await;
    assert!(
        html.contains("De termijn is aangepast") && html.contains("Klok stilgezet op"),
        "{html}"
    );
    assert!(html.contains("Termijn hervatten") && !html.contains("Termijn opschorten"));
    let (status, _) = f
        .post(
            &anna,
            &clock("hervatten"),
            &[("reden", "stukken ontvangen")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Extending past the step's maximum is refused in Dutch; within it, accepted (API).
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/tasks/{task}/extend", case.id),
            Some(json!({"term": "8 weken", "reason": "advies nodig"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("grootste verlenging"), "{body}");
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/tasks/{task}/extend", case.id),
            Some(json!({"term": "2 weken", "reason": "advies nodig"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state = f.engine.store().load_case(&case.id).await.unwrap().unwrap();
    let due = state.tasks[&task].due.clone().unwrap();
    assert!(due.at > due.original_at, "later than first planned");
    // A step without clock rules refuses, named.
    let task_of_mine = f.task_of(&f.mine).await;
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/tasks/{task_of_mine}/clock/suspend", f.mine),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("niet worden opgeschort"), "{body}");
    // Handing the task to a named colleague of its team: the task page offers her by name.
    f.engine
        .store()
        .add_user(&User {
            id: "wim".into(),
            display_name: "Wim de Boer".into(),
            role: UserRole::Consultant,
            teams: vec!["wmo-consulent".into()],
            email: None,
            organisation: "Oss".into(),
            organisation_kind: None,
            password_hash: None,
            active: true,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let task_page = format!("/casussen/{}/taken/{task}", case.id);
    let (_, _, html) = f.page(&anna, &task_page).await;
    assert!(
        html.contains("id=\"oppakken\"") && html.contains("<option value=\"wim\">Wim de Boer</option>"),
        "{html}"
    );
    assert!(!html.contains("value=\"piet\""), "not of this task's team");
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/tasks/{task}/hand-over", case.id),
            Some(json!({"to": "piet"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = f
        .post(
            &anna,
            &format!("{task_page}/overdragen"),
            &[("collega", "wim")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = f.engine.store().load_case(&case.id).await.unwrap().unwrap();
    assert_eq!(state.tasks[&task].assignee.as_deref(), Some("wim"));
    let (_, _, html) = f.page(&anna, "/taken?melding=overgedragen").await;
    assert!(html.contains("De taak is overgedragen aan uw collega"), "{html}");
    let (status, _) = f
        .post(
            &anna,
            &format!("{task_page}/overdragen"),
            &[("collega", "wim")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only who holds it hands it on");
    // A note on the timeline: the web form and the API.
    let (status, _) = f
        .post(
            &anna,
            &format!("/casussen/{}/notitie", case.id),
            &[("soort", "telefoon"), ("tekst", "Gebeld: stukken komen vrijdag.")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = f.page(&anna, &format!("/casussen/{}", case.id)).await;
    assert!(
        html.contains("Telefoongesprek: Gebeld: stukken komen vrijdag."),
        "{html}"
    );
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/notes", case.id),
            Some(json!({"kind": "brief", "text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/notes", case.id),
            Some(json!({"kind": "gespreksverslag", "text": "Keukentafelgesprek gehad."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = f.engine.store().events(&case.id).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(
                e.event.kind,
                doorloop_engine::runtime::EventKind::NoteRecorded { .. }
            ))
            .count(),
        2
    );
    // A manager reads but does not act.
    let (status, _) = f
        .api(
            "mark",
            "POST",
            &format!("/api/v1/cases/{}/withdraw", case.id),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    // Withdrawing needs the confirmation; then the case stops and its tasks close.
    let (status, html) = f
        .post(
            &anna,
            &format!("/casussen/{}/intrekken", case.id),
            &[("reden", "verhuisd")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Bevestig dat u de casus wilt intrekken"), "{html}");
    let (status, _) = f
        .post(
            &anna,
            &format!("/casussen/{}/intrekken", case.id),
            &[("reden", "verhuisd"), ("bevestig", "ja")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = f.engine.store().load_case(&case.id).await.unwrap().unwrap();
    assert_eq!(state.status.as_str(), "withdrawn");
    assert!(state.tasks.is_empty());
    let (_, _, html) = f
        .page(&anna, &format!("/casussen/{}?melding=ingetrokken", case.id))
        .await;
    assert!(html.contains("De casus is ingetrokken.") && !html.contains("id=\"intrekken\""));
    // Through the API too (the other case), and only once.
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/withdraw", f.mine),
            Some(json!({"reason": "afgezien"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "withdrawn");
    let (status, body) = f
        .api(
            "anna",
            "POST",
            &format!("/api/v1/cases/{}/withdraw", f.mine),
            Some(json!({"reason": "nogmaals"})),
        )
        .await;
    // A case that has ended conflicts with the action: 409 with its own code.
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "case_ended");
    // An answer that ends the trajectory asks for confirmation before anything is stored.
    let last = f
        .engine
        .start_case("besluit", None, "anna", &resident, BTreeMap::new(), Utc::now())
        .await
        .unwrap()
        .state;
    let last_task = last.tasks.keys().next().unwrap().clone();
    let finish = format!("/casussen/{}/taken/{last_task}/afronden", last.id);
    let version = last.seq.to_string();
    let (status, html) = f.post(&anna, &finish, &[("versie", &version)], true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Met deze antwoorden wordt het traject afgesloten (uitkomst: Gestopt). Klopt dat?")
            && html.contains("name=\"bevestigd\" value=\"ja\""),
        "{html}"
    );
    let state = f.engine.store().load_case(&last.id).await.unwrap().unwrap();
    assert_eq!(
        state.status.as_str(),
        "active",
        "nothing stored before the confirmation"
    );
    let (status, _) = f
        .post(&anna, &finish, &[("versie", &version), ("bevestigd", "ja")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = f.engine.store().load_case(&last.id).await.unwrap().unwrap();
    assert_eq!(state.status.as_str(), "ended");
}

async fn consultant_screens_work_list_case_page_and_task_form(f: Fixture) {
    let anna = f.login("anna").await;
    // Two lists: the intake nobody has picked up is in the team's werkvoorraad, not in Mijn taken.
    let (status, _, html) = f.page(&anna, "/werkvoorraad").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1>Werkvoorraad</h1>") && html.contains(&f.mine),
        "the werkvoorraad shows the intake"
    );
    assert!(html.contains("Intake"));
    let (status, _, mine) = f.page(&anna, "/taken").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        mine.contains("<h1>Mijn taken</h1>") && !mine.contains(&f.mine),
        "not mine yet"
    );
    let (_, _, filtered) = f
        .page(&anna, "/werkvoorraad?rol=wmo-consulent&traject=simpel-switchen")
        .await;
    assert!(!filtered.contains(&f.mine), "filters stay in the URL and apply");
    let (status, _, second) = f.page(&anna, "/werkvoorraad?pagina=2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !second.contains(&f.mine) && !second.contains("id=\"volgende\""),
        "one page only"
    );
    let (status, _, _) = f.page(&anna, "/taken?voor=morgen").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let before = f.views(&f.mine).await;
    let (status, _, case) = f.page(&anna, &format!("/casussen/{}", f.mine)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        case.contains("Tijdlijn") && case.contains("Afgerond: Signaal"),
        "timeline with actor"
    );
    assert!(
        case.replace("&#x3D;", "=").contains("graaf.svg?actief=intake"),
        "graph highlights the current step"
    );
    assert!(case.contains("Waarom deze termijn?"), "deadline explanation");
    assert!(case.contains("Participatieladder") && case.contains("2 – sociale contacten"));
    assert_eq!(f.views(&f.mine).await, before + 1);
    let (status, headers, svg) = f
        .page(&anna, "/trajecten/van-zorg-naar-werk/1/graaf.svg?actief=intake")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.contains("<svg") && svg.contains("#ea580c"));

    // Claim and release from the list.
    let task = f.task_of(&f.mine).await;
    let base = format!("/casussen/{}/taken/{task}", f.mine);
    let (status, headers, _) = f
        .send(
            Request::post(format!("{base}/oppakken"))
                .header(header::COOKIE, &anna.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("_csrf={}&terug=%2Fwerkvoorraad", anna.csrf)))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/werkvoorraad?melding=opgepakt");
    let (_, _, back) = f.page(&anna, "/werkvoorraad?melding=opgepakt").await;
    assert!(
        back.contains("De taak is opgepakt: u vindt hem onder Mijn taken."),
        "a confirmation"
    );
    assert!(!back.contains(&f.mine), "gone from the werkvoorraad");
    let (_, _, mine) = f.page(&anna, "/taken").await;
    assert!(mine.contains(&f.mine), "now in Mijn taken");
    assert_eq!(
        f.engine.store().load_case(&f.mine).await.unwrap().unwrap().tasks[&task]
            .assignee
            .as_deref(),
        Some("anna")
    );
    assert_eq!(
        f.post(&anna, &format!("{base}/vrijgeven"), &[], true).await.0,
        StatusCode::SEE_OTHER
    );

    // A joint visit: plan it (with field errors first), then record the outcome.
    let (status, _, form) = f.page(&anna, &base).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Gezamenlijk bezoek plannen"));
    let (status, html) = f
        .post(
            &anna,
            &format!("{base}/bezoek"),
            &[("datum", "gisteren"), ("tijd", "10:00")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Kies een datum.") && html.contains("Kies minstens één collega."));
    let day = (Utc::now() + Duration::days(7)).format("%Y-%m-%d").to_string();
    let (status, _) = f
        .post(
            &anna,
            &format!("{base}/bezoek"),
            &[
                ("datum", &day),
                ("tijd", "10:00"),
                ("plaats", "Wijkcentrum"),
                ("deelnemer", "anna"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let visit = f.engine.store().load_case(&f.mine).await.unwrap().unwrap().tasks[&task]
        .visit
        .clone()
        .unwrap();
    assert_eq!(visit.place.as_deref(), Some("Wijkcentrum"));
    assert_eq!(
        visit
            .at
            .with_timezone(&chrono_tz::Europe::Amsterdam)
            .format("%H:%M")
            .to_string(),
        "10:00"
    );

    let version = f.seq(&f.mine).await.to_string();
    let (status, html) = f
        .post(
            &anna,
            &format!("{base}/afronden"),
            &[
                ("versie", &version),
                ("ik_wil", "werken in de zorg"),
                ("uitkering", "vliegtuig"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"fout-ik_kan\">Vul dit veld in."),
        "message next to the field"
    );
    assert!(html.contains("Kies een van: Bijstand (Participatiewet), WIA-uitkering, Wajong, Geen."));
    assert!(html.contains("value=\"werken in de zorg\""), "input is kept");

    // Without the CSRF token nothing happens. (The visit lies ahead: confirmed at once.)
    let seq = f.seq(&f.mine).await;
    let fields = [
        ("versie", version.as_str()),
        ("bevestigd", "ja"),
        ("ik_wil", "a"),
        ("ik_kan", "b"),
        ("ik_heb_nodig", "c"),
        ("uitkering", "geen"),
    ];
    assert_eq!(
        f.post(&anna, &format!("{base}/afronden"), &fields, false).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(f.seq(&f.mine).await, seq, "nothing changed");
    let (status, _) = f.post(&anna, &format!("{base}/afronden"), &fields, true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = f.engine.store().load_case(&f.mine).await.unwrap().unwrap();
    assert_eq!(
        state.tasks.values().next().unwrap().step,
        "casusoverleg",
        "the case moved on"
    );
    // A colleague's completion meanwhile: the same post again is a conflict, input kept.
    let (status, html) = f.post(&anna, &format!("{base}/afronden"), &fields, true).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("Een collega heeft deze casus intussen gewijzigd"));
    assert!(html.contains("value=\"a\""));
    assert!(
        html.contains("id=\"afgerond\"") && html.contains("Afgerond door"),
        "what the colleague did: {html}"
    );
    // The old link to the finished task: who finished it, when, what they entered, and the
    // way to the case; no form, no 404.
    let (status, _, html) = f.page(&anna, &base).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Deze taak is niet meer open"), "{html}");
    assert!(html.contains("Afgerond door <strong>"), "{html}");
    assert!(html.contains("<dt>Huidige uitkering</dt><dd>Geen</dd>"), "{html}");
    assert!(html.contains(&format!("href=\"/casussen/{}\"", f.mine)));
    assert!(
        !html.contains("id=\"taakformulier\""),
        "no form for a finished task"
    );
    // A task that never existed is still not found.
    assert_eq!(
        f.page(&anna, &format!("/casussen/{}/taken/t999", f.mine)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, _, case) = f.page(&anna, &format!("/casussen/{}?klaar=1", f.mine)).await;
    assert!(case.contains("Opgeslagen"));
}

async fn manager_coordinator_and_admin_screens(f: Fixture) {
    let mark = f.login("mark").await;
    let (status, _, case) = f.page(&mark, &format!("/casussen/{}", f.foreign)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(case.contains("alleen lezen"));
    assert_eq!(f.page(&mark, "/casussen").await.0, StatusCode::OK);
    assert_eq!(f.page(&mark, "/vastgelopen").await.0, StatusCode::OK);
    assert_eq!(f.page(&mark, "/taken").await.0, StatusCode::FORBIDDEN);
    let carla = f.login("carla").await;
    let (status, _, html) = f.page(&carla, "/trajecten/van-zorg-naar-werk").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/trajecten/van-zorg-naar-werk/1/graaf.svg"));
    assert_eq!(f.page(&carla, "/beheer").await.0, StatusCode::FORBIDDEN);
    let bea = f.login("bea").await;
    let (status, _, html) = f.page(&bea, &format!("/toegangslog?casus={}", f.foreign)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("casuspagina") && html.contains("mark"),
        "the manager's view is in the access log"
    );
    assert_eq!(f.page(&bea, "/onbekend").await.0, StatusCode::NOT_FOUND);
    // A bad value in an address answers a Dutch page that names it, never serde's English.
    let (status, _, html) = f.page(&mark, "/analyse/uitkomsten?versie=twee").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("het adres bevat een waarde die niet klopt bij ‘versie’")
            && !html.contains("invalid digit"),
        "{html}"
    );
    let anna = f.login("anna").await;
    let (status, _, html) = f.page(&anna, "/taken?per=veel&pagina=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!html.contains("Failed to deserialize"), "{html}");
    // Rights: an admin gives a role; bad input is named; nobody else may.
    let (status, _) = f
        .post(
            &bea,
            "/beheer/gebruikers/piet/rechten",
            &[
                ("rol", "consultant"),
                ("teams", "jobcoach, wmo-consulent"),
                ("actief", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let piet = f.engine.store().user("piet").await.unwrap().unwrap();
    assert_eq!(piet.teams, ["jobcoach", "wmo-consulent"]);
    let (status, html) = f
        .post(
            &bea,
            "/beheer/gebruikers/piet/rechten",
            &[("rol", "consultant"), ("teams", ""), ("actief", "1")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("minstens één team"), "{html}");
    let (status, _) = f
        .post(
            &bea,
            "/beheer/gebruikers/bea/rechten",
            &[("rol", "manager")],
            true,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an admin cannot lock themself out"
    );
    assert_eq!(
        f.post(
            &bea,
            "/beheer/gebruikers/niemand/rechten",
            &[("rol", "manager")],
            true
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.post(
            &mark,
            "/beheer/gebruikers/piet/rechten",
            &[("rol", "admin"), ("actief", "1")],
            true
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // Teams are ticked (one value each) from the pathways' roles; an unknown one is named.
    let (status, _) = f
        .post(
            &bea,
            "/beheer/gebruikers/piet/rechten",
            &[
                ("rol", "consultant"),
                ("team", "jobcoach"),
                ("team", "klantmanager"),
                ("actief", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let piet = f.engine.store().user("piet").await.unwrap().unwrap();
    assert_eq!(piet.teams, ["jobcoach", "klantmanager"]);
    let (status, html) = f
        .post(
            &bea,
            "/beheer/gebruikers/piet/rechten",
            &[("rol", "consultant"), ("team", "jobcoch"), ("actief", "1")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("‘jobcoch’ bestaat in geen enkel traject"), "{html}");
    // The saved message stands beside the row that was saved.
    let (_, _, html) = f.page(&bea, "/beheer?rechten=piet").await;
    let row = html.split("id=\"gebruiker-piet\"").nth(1).unwrap_or_default();
    assert!(
        row.split("</tr>")
            .next()
            .unwrap_or_default()
            .contains("Rechten van piet test opgeslagen"),
        "{html}"
    );
    assert!(
        html.contains("Klantmanager Werk &amp; Inkomen"),
        "teams by their names: {html}"
    );

    // A new account in the web: its password shown once, and it logs in.
    let create = |fields: Vec<(&'static str, &'static str)>| {
        let f = &f;
        let bea = &bea;
        async move { f.post(bea, "/beheer/gebruikers", &fields, true).await }
    };
    for (fields, problem) in [
        (
            vec![("gebruikersnaam", "nieuwe collega"), ("rol", "manager")],
            "De gebruikersnaam ‘nieuwe collega’ kan niet",
        ),
        (
            vec![("gebruikersnaam", "sanne"), ("rol", "consultant")],
            "minstens één team",
        ),
        (
            vec![("gebruikersnaam", "sanne"), ("rol", "")],
            "Kies een rol voor ‘sanne’",
        ),
        (
            vec![
                ("gebruikersnaam", "sanne"),
                ("rol", "manager"),
                ("team", "jobcoach"),
            ],
            "Alleen consulenten horen bij een team",
        ),
        (
            vec![("gebruikersnaam", "anna"), ("rol", "manager")],
            "De gebruikersnaam ‘anna’ bestaat al",
        ),
        (
            vec![
                ("gebruikersnaam", "sanne"),
                ("rol", "manager"),
                ("email", "sanne.oss.nl"),
            ],
            "heeft geen @",
        ),
    ] {
        let (status, html) = create(fields.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(html.contains(problem), "{fields:?}: {html}");
    }
    assert!(
        f.engine.store().user("sanne").await.unwrap().is_none(),
        "nothing made"
    );
    let (status, html) = create(vec![
        ("gebruikersnaam", "sanne"),
        ("naam", "Sanne Peters"),
        ("email", "s.peters@oss.test"),
        ("organisatie", "Oss"),
        ("rol", "consultant"),
        ("team", "wmo-consulent"),
    ])
    .await;
    assert_eq!(status, StatusCode::OK);
    let password = html
        .split("id=\"nieuw-wachtwoord\">")
        .nth(1)
        .and_then(|p| p.split('<').next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(password.len(), 20, "{html}");
    let sanne = f.engine.store().user("sanne").await.unwrap().unwrap();
    assert_eq!(
        (sanne.display_name.as_str(), sanne.teams.clone()),
        ("Sanne Peters", vec!["wmo-consulent".to_owned()])
    );
    let (_, _, again) = f.page(&bea, "/beheer").await;
    assert!(!again.contains(&password), "shown once");
    let (_, headers, form) = f
        .send(Request::get("/inloggen").body(Body::empty()).unwrap())
        .await;
    let (status, headers, _) = f
        .send(
            Request::post("/inloggen")
                .header(header::COOKIE, named_cookie(&headers, "doorloop_inlog").unwrap())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "_csrf={}&gebruikersnaam=sanne&wachtwoord={password}",
                    csrf_of(&form)
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{headers:?}");
    assert!(cookie(&headers).is_some(), "Sanne is logged in");
    assert_eq!(
        f.post(
            &mark,
            "/beheer/gebruikers",
            &[("gebruikersnaam", "x"), ("rol", "admin")],
            true
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // The access log a page at a time, by day.
    let entries: Vec<doorloop_engine::store::AccessEntry> = (0..230)
        .map(|i| doorloop_engine::store::AccessEntry {
            at: Utc::now() - Duration::minutes(i),
            user_id: "anna".into(),
            case_id: f.mine.clone(),
            purpose: format!("paginatest {i}"),
            resident_id: None,
            detail: None,
        })
        .collect();
    f.engine.store().log_access(&entries).await.unwrap();
    let (_, _, first) = f.page(&bea, &format!("/toegangslog?casus={}", f.mine)).await;
    assert!(
        first.contains("paginatest 0<") && !first.contains("paginatest 100<"),
        "newest first"
    );
    assert!(first.contains("id=\"volgende\"") && !first.contains("id=\"vorige\""));
    let (_, _, second) = f
        .page(&bea, &format!("/toegangslog?casus={}&pagina=2", f.mine))
        .await;
    assert!(
        second.contains("paginatest 100<") && !second.contains("paginatest 0<"),
        "{second}"
    );
    assert!(second.contains("id=\"vorige\"") && second.contains("pagina 2"));
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let long_ago = today - Duration::days(400);
    let (_, _, none) = f
        .page(&bea, &format!("/toegangslog?casus={}&tot={long_ago}", f.mine))
        .await;
    assert!(none.contains("Geen inzages"), "{none}");
    let (status, _, bad) = f.page(&bea, "/toegangslog?van=gisteren").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("Ongeldige datum bij ‘van’"), "{bad}");

    // Without an identity provider configured there is no municipal login.
    let (status, _, login) = f
        .send(Request::get("/inloggen").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!login.contains("inloggen-gemeente"));
    assert_eq!(
        f.send(Request::get("/inloggen/oidc").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // A message that could not be delivered: shown to the admin, who sends it again.
    let now = Utc::now();
    f.engine
        .store()
        .enqueue(
            &[doorloop_engine::store::Broadcast {
                key: format!("test:http:{}", uuid_like()),
                kind: "test".into(),
                recipient_type: "address".into(),
                recipient: "kapot@gemeente.test".into(),
            }],
            now,
        )
        .await
        .unwrap();
    let claimed = f
        .engine
        .store()
        .claim_outbox("t", now, now + Duration::seconds(60), 100)
        .await
        .unwrap();
    let row = claimed
        .iter()
        .find(|r| r.recipient == "kapot@gemeente.test")
        .unwrap();
    f.engine
        .store()
        .finish_attempts(
            "t",
            &[(
                row.id,
                doorloop_engine::store::Attempt::Dead {
                    error: "SMTP: 550 mailbox <b>unavailable</b>".into(),
                },
            )],
            now,
        )
        .await
        .unwrap();
    let (_, _, html) = f.page(&bea, "/beheer/berichten").await;
    assert!(html.contains("mislukt: 1"), "{html}");
    assert!(html.contains("kapot@gemeente.test") && html.contains("testbericht"));
    assert!(
        html.contains("550 mailbox &lt;b&gt;unavailable&lt;/b&gt;"),
        "errors are escaped"
    );
    let path = format!("/beheer/berichten/{}/opnieuw", row.id);
    // Only admins, only with the CSRF token.
    assert_eq!(f.post(&carla, &path, &[], true).await.0, StatusCode::FORBIDDEN);
    assert_eq!(f.post(&bea, &path, &[], false).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        f.engine
            .store()
            .outbox_item(row.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "dead"
    );
    let (status, _) = f.post(&bea, &path, &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let again = f.engine.store().outbox_item(row.id).await.unwrap().unwrap();
    assert_eq!((again.status.as_str(), again.attempts), ("pending", 0));
    let (_, _, html) = f
        .page(&bea, &format!("/beheer/berichten?opnieuw={}", row.id))
        .await;
    assert!(html.contains(&format!("Bericht {} gaat opnieuw uit", row.id)));
    assert_eq!(
        f.post(&bea, "/beheer/berichten/987654/opnieuw", &[], true)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// Every role × every endpoint × an object they may not see (zoe's case): 404 or 403,
/// nothing changed, no view logged for a refused view.
async fn authorisation_matrix(f: Fixture) {
    let case = f.foreign.clone();
    let task = f.task_of(&case).await;
    let seq = f.seq(&case).await;
    let views = f.views(&case).await;
    let day = (Utc::now() + Duration::days(7)).format("%Y-%m-%d").to_string();
    for who in ["anna", "piet", "bert", "mark", "carla", "bea"] {
        let read_only = who == "mark";
        // API
        let api: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/api/v1/cases/{case}"), None),
            ("POST", format!("/api/v1/cases/{case}/tasks/{task}/claim"), None),
            ("POST", format!("/api/v1/cases/{case}/tasks/{task}/release"), None),
            (
                "POST",
                format!("/api/v1/cases/{case}/tasks/{task}/complete"),
                Some(json!({"data": {"motivatie": "x", "trede": 3}})),
            ),
        ];
        for (method, path, body) in api {
            if read_only && method == "GET" {
                continue; // managers may read every case
            }
            let (status, _) = f.api(who, method, &path, body).await;
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{who} {method} {path}: {status}"
            );
        }
        if who != "carla" {
            let (status, _) = f
                .api(who, "POST", "/api/v1/pathways", Some(json!({"source": VISIT})))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} publishes");
        }
        let (_, list) = f.api(who, "GET", "/api/v1/cases", None).await;
        if !read_only {
            assert!(!list.to_string().contains(&case), "{who} lists a foreign case");
        }
        let (_, tasks) = f.api(who, "GET", "/api/v1/tasks", None).await;
        if !read_only {
            assert!(!tasks.to_string().contains(&case), "{who} gets a foreign task");
        }
        // Pages
        let s = f.login(who).await;
        for path in [
            format!("/casussen/{case}"),
            format!("/casussen/{case}/taken/{task}"),
        ] {
            if read_only {
                continue;
            }
            let (status, _, _) = f.page(&s, &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who} GET {path}");
        }
        for (action, fields) in [
            ("afronden", vec![("motivatie", "x"), ("trede", "3")]),
            (
                "bezoek",
                vec![("datum", day.as_str()), ("tijd", "10:00"), ("deelnemer", who)],
            ),
            ("oppakken", vec![]),
            ("vrijgeven", vec![]),
        ] {
            let path = format!("/casussen/{case}/taken/{task}/{action}");
            let (status, _) = f.post(&s, &path, &fields, true).await;
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{who} POST {path}: {status}"
            );
        }
    }
    assert_eq!(f.seq(&case).await, seq, "nothing changed on the foreign case");
    let logged = f.views(&case).await - views;
    assert_eq!(logged, 0, "refused views show nothing and log nothing");
}

async fn sessions_end_when_idle_and_after_the_absolute_limit() {
    // The session's clocks follow the engine's clock: moved by hand, never slept on.
    let clock = Arc::new(doorloop_engine::time::clock::ManualClock::new(Utc::now()));
    let idle = fixture_clocked(
        None,
        WebConfig {
            idle_timeout: std::time::Duration::from_secs(30 * 60),
            ..WebConfig::default()
        },
        clock.clone(),
    )
    .await;
    let s = idle.login("anna").await;
    assert_eq!(idle.page(&s, "/taken").await.0, StatusCode::OK);
    clock.advance(Duration::minutes(29));
    assert_eq!(idle.page(&s, "/taken").await.0, StatusCode::OK, "29 minutes idle");
    clock.advance(Duration::minutes(31));
    let (status, headers, _) = idle.page(&s, "/taken").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "idle too long");
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/inloggen")
    );

    let clock = Arc::new(doorloop_engine::time::clock::ManualClock::new(Utc::now()));
    let absolute = fixture_clocked(
        None,
        WebConfig {
            absolute_timeout: std::time::Duration::from_secs(10 * 60 * 60),
            ..WebConfig::default()
        },
        clock.clone(),
    )
    .await;
    let s = absolute.login("anna").await;
    // Active every 20 minutes for nine and a half hours: still in.
    for _ in 0..28 {
        clock.advance(Duration::minutes(20));
        assert_eq!(
            absolute.page(&s, "/taken").await.0,
            StatusCode::OK,
            "active, within the limit"
        );
    }
    clock.advance(Duration::minutes(40));
    assert_eq!(
        absolute.page(&s, "/taken").await.0,
        StatusCode::SEE_OTHER,
        "past the absolute limit"
    );
}

#[path = "http/design.rs"]
mod design;
use design::*;
#[path = "http/probe.rs"]
mod probe;
use probe::*;
#[path = "http/matrix.rs"]
mod matrix;
use matrix::*;
#[path = "http/chain.rs"]
mod chain;
#[path = "http/messages.rs"]
mod messages;
#[path = "http/residents.rs"]
mod residents;
use chain::*;
use messages::*;
use residents::*;

// ---- the runner: every backend test on SQLite, and on PostgreSQL when configured ----

const PG_ENV: &str = "DOORLOOP_TEST_POSTGRES_URL";

type BackendTest = fn(Fixture) -> Pin<Box<dyn Future<Output = ()>>>;
type PlainTest = fn() -> Pin<Box<dyn Future<Output = ()>>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), |f| Box::pin($name(f)))),*] };
}

macro_rules! plain_tests {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), || Box::pin($name()))),*] };
}

const BOTH: &[(&str, BackendTest)] = tests![
    api_cases_tasks_and_their_errors,
    api_pathways_and_stalls,
    consultant_screens_work_list_case_page_and_task_form,
    consultants_withdraw_cases_and_move_deadlines_with_a_reason,
    consultants_add_work_outside_the_pathway,
    joint_visits_invite_the_line_guests_and_the_resident,
    manager_coordinator_and_admin_screens,
    authorisation_matrix,
    coordinator_edits_validates_publishes_and_migrates,
    manager_figures_match_a_known_data_set,
    coordinator_imports_a_bpmn_file_into_a_draft,
    hostile_pathways_are_refused_and_the_server_stays_up,
    redirects_stay_on_this_site,
    a_new_password_ends_sessions_and_tokens,
    visit_invitees_find_the_case,
    error_bodies_are_exact_and_short,
    health_readiness_metrics_and_request_ids,
    residents_are_searched_registered_and_shown,
    a_care_provider_sees_a_case_only_on_a_recorded_ground,
    each_role_reads_only_the_fields_it_needs,
    coordinators_see_who_reads_what,
    a_privacy_officer_hands_over_a_residents_file,
    a_privacy_officer_holds_a_residents_records_from_removal,
    the_chain_matrix_covers_every_route_organisation_and_consent,
    outside_parties_end_waits_with_messages_once,
    a_message_sent_twice_at_once_acts_once,
    a_case_held_at_a_gateway_goes_on_by_the_route_chosen,
    messages_break_into_work_from_the_api_and_the_task_page,
    a_signal_reaches_every_case_waiting_for_it,
    a_start_sent_again_with_its_key_acts_once,
    a_message_finds_cases_by_their_business_key,
];
const SQLITE_ONLY: &[(&str, PlainTest)] = plain_tests![
    openapi_document_lists_every_endpoint,
    login_is_generic_throttled_and_sets_safe_cookies,
    sessions_end_when_idle_and_after_the_absolute_limit,
    failed_logins_are_logged,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn on_backend(test: BackendTest, pg: Option<String>) -> Result<(), Failed> {
    let rt = runtime();
    let f = rt.block_on(fixture(pg.as_deref()));
    let schema = f.pg.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(test(f))));
    if let Some((url, schema)) = schema {
        rt.block_on(PostgresStore::drop_schema(&url, &schema))
            .map_err(|e| Failed::from(format!("dropping test schema: {e}")))?;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let pg = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty());
    if pg.is_none() {
        println!(
            "NOTE: PostgreSQL web tests SKIPPED ({PG_ENV} is not set); they are listed as ignored below."
        );
    }
    let mut trials = Vec::new();
    for &(name, test) in BOTH {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            on_backend(test, None)
        }));
        let url = pg.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || match url {
                Some(u) => on_backend(test, Some(u)),
                None => Ok(()),
            })
            .with_ignored_flag(pg.is_none()),
        );
    }
    for &(name, test) in SQLITE_ONLY {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            runtime().block_on(test());
            Ok(())
        }));
    }
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
