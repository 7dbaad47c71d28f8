//! Messages from outside parties over HTTP: a wait ended by a message (by token and signed),
//! a repeat acting once, the race between the message and the deadline, unmatched messages.

use super::*;

const MESSAGE_YAML: &str = r#"
key: bericht-test
name: Bericht test
roles:
  klantmanager: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: besluit_uwv }
  - id: besluit_uwv
    kind: wait
    name: Wachten op besluit UWV
    role: klantmanager
    party: UWV
    expected: 8 weken
    message: uwv_besluit
    deadline: { term: 16 weken }
    on_deadline: rappel
    fields:
      - { name: besluit, type: text, required: true, label: Besluit }
    next: einde
  - id: rappel
    kind: task
    name: UWV rappelleren
    role: klantmanager
    next: einde
  - { id: einde, kind: end, outcome: overig }
"#;

const SECRET: &str = "gedeeld-geheim-van-de-koppeling";

async fn started(f: &Fixture, resident: &str) -> String {
    start(f, "bericht-test", resident).await.id
}

/// A case of kees (klantmanager) on `pathway` for `resident`.
async fn start(f: &Fixture, pathway: &str, resident: &str) -> doorloop_engine::runtime::CaseState {
    f.engine
        .start_case(pathway, None, "kees", resident, BTreeMap::new(), Utc::now())
        .await
        .unwrap()
        .state
}

async fn open_steps(f: &Fixture, case: &str) -> Vec<String> {
    let state = f.engine.store().load_case(case).await.unwrap().unwrap();
    state.tasks.values().map(|t| t.step.clone()).collect()
}

/// What an outside system sends: `sha256=` HMAC-SHA256 of `{timestamp}.{body}`.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed(body: &Value, timestamp: i64, secret: &str) -> Request<Body> {
    let body = body.to_string();
    Request::post("/api/v1/messages")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-doorloop-timestamp", timestamp.to_string())
        .header("x-doorloop-signature", sign(secret, timestamp, body.as_bytes()))
        .body(Body::from(body))
        .unwrap()
}

async fn answer(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub(crate) async fn outside_parties_end_waits_with_messages_once(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(MESSAGE_YAML, now).await.unwrap();
    let input = doorloop_engine::resident::ResidentInput {
        given_name: "Rik".into(),
        family_name: "de Bruin".into(),
        municipality: Some("Oss".into()),
        ..Default::default()
    };
    let rik = f.engine.add_resident(&input, now).await.unwrap();

    // A consultant's token ends the wait of one case; the answer becomes a case variable.
    let case = started(&f, &rik.id).await;
    let body = json!({"name": "uwv_besluit", "id": "uwv-2026-0001", "case": case, "variables": {"besluit": "toegekend"}});
    let (status, out) = f
        .api("kees", "POST", "/api/v1/messages", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out, json!({"cases": [case], "duplicate": false}));
    let state = f.engine.store().load_case(&case).await.unwrap().unwrap();
    assert_eq!(state.status.as_str(), "ended");
    assert_eq!(state.variables["besluit"], json!("toegekend"));
    let seq = f.seq(&case).await;
    assert!(f.views(&case).await >= 1, "the sender's view is logged");

    // The same message again acts once: the answer says so and nothing is written.
    let (status, out) = f.api("kees", "POST", "/api/v1/messages", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out, json!({"cases": [case], "duplicate": true}));
    assert_eq!(f.seq(&case).await, seq);

    // Nobody waits: 404 with its own code; wrong answers name the field.
    let case2 = started(&f, &rik.id).await;
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "wmo_beschikking", "id": "x1", "case": case2})),
        )
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_unmatched")),
        "{out}"
    );
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "uwv_besluit", "id": "x2", "case": case2})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert_eq!(out["field"], json!("variables.besluit"), "{out}");
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "uwv_besluit", "id": "x3"})),
        )
        .await;
    assert_eq!(
        (status, out["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("case")),
        "{out}"
    );
    assert_eq!(open_steps(&f, &case2).await, ["besluit_uwv"], "nothing moved");

    // A 50 MB body is refused at the door, with its own code.
    let huge = format!(
        "{{\"name\": \"uwv_besluit\", \"id\": \"{}\"}}",
        "x".repeat(50 * 1024 * 1024)
    );
    let req = Request::post("/api/v1/messages")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.creds["kees"].1))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .unwrap();
    let (status, out) = answer(&f.app, req).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
        "{out}"
    );

    // Only consultants who may act on the case: a manager is refused, a stranger sees nothing.
    let msg =
        json!({"name": "uwv_besluit", "id": "x4", "case": case2, "variables": {"besluit": "afgewezen"}});
    assert_eq!(
        f.api("mark", "POST", "/api/v1/messages", Some(msg.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.api("", "POST", "/api/v1/messages", Some(msg.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, out) = f.api("gijs", "POST", "/api/v1/messages", Some(msg)).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_unmatched")),
        "{out}"
    );
    assert_eq!(open_steps(&f, &case2).await, ["besluit_uwv"]);

    // A signed message from UWV's gateway reaches every waiting case of the resident by
    // reference; the timeline names the link as actor.
    let app = doorloop_web::router(
        f.engine.clone(),
        WebConfig {
            message_secret: Some(SECRET.to_owned().into()),
            ..WebConfig::default()
        },
    )
    .unwrap();
    let by_reference = json!({"name": "uwv_besluit", "id": "uwv-2026-0002", "resident": rik.reference,
                               "variables": {"besluit": "afgewezen"}});
    let stamp = Utc::now().timestamp();
    let (status, out) = answer(&app, signed(&by_reference, stamp, "een-ander-geheim-van-iemand")).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signature_invalid")),
        "{out}"
    );
    let (status, out) = answer(&app, signed(&by_reference, stamp - 3600, SECRET)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an old signature is refused: {out}"
    );
    assert_eq!(open_steps(&f, &case2).await, ["besluit_uwv"]);
    // Without a configured secret, signed messages are refused.
    let (status, _) = answer(&f.app, signed(&by_reference, stamp, SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, out) = answer(&app, signed(&by_reference, stamp, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out,
        json!({"cases": [case2], "duplicate": false}),
        "the ended case is left alone"
    );
    let events = f.engine.store().events(&case2).await.unwrap();
    let received = events
        .iter()
        .find(|e| e.event.kind.name() == "message_received")
        .expect("a message_received event");
    assert_eq!(received.event.actor, "koppeling");

    // The consultant who heard it by phone records it on the task page: the same message,
    // under the task's own id, so that it too acts once.
    let case4 = started(&f, &rik.id).await;
    let task = f.task_of(&case4).await;
    let kees = f.login("kees").await;
    let url = format!("/casussen/{case4}/taken/{task}");
    let (status, _, html) = f.page(&kees, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("wacht op een bericht van UWV") && html.contains("Bericht is binnen"),
        "{html}"
    );
    let (status, _) = f
        .post(
            &kees,
            &format!("{url}/afronden"),
            &[("besluit", "toegekend per telefoon"), ("bevestigd", "ja")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let events = f.engine.store().events(&case4).await.unwrap();
    let by_hand = events
        .iter()
        .find_map(|e| match &e.event.kind {
            doorloop_engine::runtime::EventKind::MessageReceived { id, .. } => {
                Some((id.clone(), e.event.actor.clone()))
            }
            _ => None,
        })
        .expect("recorded as the message");
    assert_eq!(by_hand, (format!("handmatig-{task}"), "kees".to_owned()));
    let (_, _, html) = f.page(&kees, &format!("/casussen/{case4}")).await;
    assert!(html.contains("Bericht ontvangen"), "the timeline says so: {html}");

    // The race: the deadline passes first, the rappel task opens, and the late message finds
    // nobody waiting.
    let case3 = started(&f, &rik.id).await;
    let later = doorloop_engine::time::clock::ManualClock::new(now + Duration::weeks(17));
    let scheduler =
        doorloop_engine::scheduler::Scheduler::new(f.engine.clone(), Arc::new(later), "test", Vec::new());
    scheduler.catch_up().await.unwrap();
    assert_eq!(open_steps(&f, &case3).await, ["rappel"]);
    let late = json!({"name": "uwv_besluit", "id": "uwv-2026-0003", "case": case3, "variables": {"besluit": "toegekend"}});
    let (status, out) = f.api("kees", "POST", "/api/v1/messages", Some(late)).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_unmatched")),
        "{out}"
    );
}

/// Two senders at once with the same message id: one acts, the other is told it is a repeat.
pub(crate) async fn a_message_sent_twice_at_once_acts_once(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(MESSAGE_YAML, now).await.unwrap();
    let resident = anon_resident(&f.engine).await;
    let case = started(&f, &resident).await;
    let body =
        json!({"name": "uwv_besluit", "id": "dubbel-1", "case": case, "variables": {"besluit": "toegekend"}});
    let (a, b) = tokio::join!(
        f.api("kees", "POST", "/api/v1/messages", Some(body.clone())),
        f.api("kees", "POST", "/api/v1/messages", Some(body)),
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{} {}", a.1, b.1);
    let mut duplicates = [a.1["duplicate"].as_bool(), b.1["duplicate"].as_bool()];
    duplicates.sort();
    assert_eq!(duplicates, [Some(false), Some(true)]);
    let events = f.engine.store().events(&case).await.unwrap();
    let received = events
        .iter()
        .filter(|e| e.event.kind.name() == "message_received")
        .count();
    assert_eq!(received, 1);
}

const ROUTE_YAML: &str = r#"
key: route-test
name: Route test
roles:
  klantmanager: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: gesprek }
  - id: gesprek
    kind: task
    name: Gesprek
    role: klantmanager
    fields:
      - { name: uren, type: number, required: true, label: Uren per week }
    next: hoeveel
  - id: hoeveel
    kind: gateway
    name: Hoeveel uur?
    branches:
      - { when: 'uren >= 20', to: werk, label: Twintig uur of meer }
      - { when: 'uren < 8', to: zorg, label: Minder dan acht }
  - { id: werk, kind: task, name: Werk zoeken, role: klantmanager, next: einde }
  - { id: zorg, kind: task, name: Dagbesteding, role: klantmanager, next: einde }
  - { id: einde, kind: end, outcome: overig }
"#;

/// A gateway where no condition holds and no default is drawn: the case is held with a stall
/// the stuck view shows, and the consultant chooses the route on the case page.
pub(crate) async fn a_case_held_at_a_gateway_goes_on_by_the_route_chosen(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(ROUTE_YAML, now).await.unwrap();
    let resident = anon_resident(&f.engine).await;
    let case = start(&f, "route-test", &resident).await;
    let task = case.tasks.keys().next().unwrap().clone();
    let data = serde_json::from_value(json!({"uren": 12})).unwrap();
    f.engine
        .execute(
            &case.id,
            Command::new(
                "kees",
                Action::CompleteTask {
                    task: TaskRef(task),
                    data,
                },
            ),
            now,
        )
        .await
        .unwrap();
    assert_eq!(open_steps(&f, &case.id).await, Vec::<String>::new());

    let mark = f.login("mark").await;
    let (status, _, html) = f.page(&mark, "/vastgelopen").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("geen route"),
        "the stuck view shows the incident: {html}"
    );
    let (_, _, html) = f.page(&mark, &format!("/casussen/{}", case.id)).await;
    assert!(
        html.contains("geen route") && !html.contains("Route kiezen"),
        "a manager only reads"
    );

    let kees = f.login("kees").await;
    let page = format!("/casussen/{}", case.id);
    let (_, _, html) = f.page(&kees, &page).await;
    assert!(
        html.contains("Hoeveel uur?")
            && html.contains("Route kiezen")
            && html.contains("Twintig uur of meer (Werk zoeken)"),
        "{html}"
    );
    let (status, body) = f
        .post(
            &kees,
            &format!("{page}/route/hoeveel"),
            &[("naar", "einde")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a route of the gateway");
    assert!(body.contains("Kies een van de routes"), "{body}");
    let (status, _) = f
        .post(
            &kees,
            &format!("{page}/route/hoeveel"),
            &[("naar", "werk")],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _) = f
        .post(&kees, &format!("{page}/route/hoeveel"), &[("naar", "werk")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(open_steps(&f, &case.id).await, ["werk"]);
    let (_, _, html) = f.page(&kees, &format!("{page}?melding=route")).await;
    assert!(html.contains("De route is gekozen"), "{html}");
    assert!(!html.contains("Route kiezen"));
}

const BREAK_IN_YAML: &str = r#"
key: afbreken-test
name: Afbreken test
roles:
  klantmanager: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: reparatie }
  - id: reparatie
    kind: task
    name: Reparatie uitvoeren
    role: klantmanager
    on_message:
      - { message: klant_belt_af, to: afzeggen }
      - { message: klant_vraagt, to: terugbellen, interrupting: false }
    next: einde
  - { id: afzeggen, kind: task, name: Afspraak afzeggen, role: klantmanager, next: einde }
  - { id: terugbellen, kind: task, name: Klant terugbellen, role: klantmanager, next: gebeld }
  - { id: gebeld, kind: end, outcome: overig }
  - { id: einde, kind: end, outcome: overig }
"#;

/// A message that breaks into open work: from the API beside the work, from the task page
/// (heard by phone) instead of it.
pub(crate) async fn messages_break_into_work_from_the_api_and_the_task_page(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(BREAK_IN_YAML, now).await.unwrap();
    let resident = anon_resident(&f.engine).await;
    let case = start(&f, "afbreken-test", &resident).await;
    let task = case.tasks.keys().next().unwrap().clone();
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "klant_vraagt", "id": "tel-1", "case": case.id})),
        )
        .await;
    assert_eq!(
        (status, out["duplicate"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{out}"
    );
    let mut steps = open_steps(&f, &case.id).await;
    steps.sort();
    assert_eq!(steps, ["reparatie", "terugbellen"]);

    let kees = f.login("kees").await;
    let url = format!("/casussen/{}/taken/{task}", case.id);
    let (_, _, html) = f.page(&kees, &url).await;
    assert!(
        html.contains("Bericht ‘klant belt af’ is binnen") && html.contains("de taak stopt"),
        "{html}"
    );
    let (status, body) = f
        .post(&kees, &format!("{url}/bericht"), &[("naam", "iets_anders")], true)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = f
        .post(
            &kees,
            &format!("{url}/bericht"),
            &[("naam", "klant_belt_af")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mut steps = open_steps(&f, &case.id).await;
    steps.sort();
    assert_eq!(steps, ["afzeggen", "terugbellen"]);
    // The old task page says why the work stopped.
    let (_, _, html) = f.page(&kees, &url).await;
    assert!(
        html.contains("er kwam een bericht binnen dat het werk afbrak"),
        "{html}"
    );
}

const SIGNAL_YAML: &str = r#"
key: signaal-test
name: Signaal test
roles:
  klantmanager: { name: Klantmanager }
steps:
  - { id: start, kind: start, next: nieuw_jaar }
  - id: nieuw_jaar
    kind: wait
    name: Wachten op het nieuwe budgetjaar
    role: klantmanager
    party: signaal
    expected: 3 maanden
    message: budgetjaar_2027
    next: herindicatie
  - { id: herindicatie, kind: task, name: Herindicatie, role: klantmanager, next: einde }
  - { id: einde, kind: end, outcome: overig }
"#;

/// A signal (a new budget year) reaches every case waiting for it, once.
pub(crate) async fn a_signal_reaches_every_case_waiting_for_it(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(SIGNAL_YAML, now).await.unwrap();
    let mut cases = Vec::new();
    for _ in 0..3 {
        let resident = anon_resident(&f.engine).await;
        cases.push(start(&f, "signaal-test", &resident).await.id);
    }
    cases.sort();
    let signal = json!({"name": "budgetjaar_2027", "id": "2027", "signal": true});
    let (status, out) = f
        .api("kees", "POST", "/api/v1/messages", Some(signal.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let mut reached: Vec<String> = serde_json::from_value(out["cases"].clone()).unwrap();
    reached.sort();
    assert_eq!(reached, cases);
    for case in &cases {
        assert_eq!(open_steps(&f, case).await, ["herindicatie"]);
    }
    // Sent again: nobody waits any more.
    let (status, out) = f.api("kees", "POST", "/api/v1/messages", Some(signal)).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_unmatched")),
        "{out}"
    );
    // A signal names no case or resident.
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "budgetjaar_2027", "id": "x", "signal": true, "case": cases[0]})),
        )
        .await;
    assert_eq!(
        (status, out["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("case")),
        "{out}"
    );
}

/// A start sent again with its `Idempotency-Key` (an answer lost on the way) acts once.
pub(crate) async fn a_start_sent_again_with_its_key_acts_once(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(MESSAGE_YAML, now).await.unwrap();
    let resident = anon_resident(&f.engine).await;
    let other = anon_resident(&f.engine).await;
    let start = |key: &str, who: &str| {
        Request::post("/api/v1/cases")
            .header(header::AUTHORIZATION, format!("Bearer {}", f.creds["kees"].1))
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(
                json!({"pathway": "bericht-test", "resident": who}).to_string(),
            ))
            .unwrap()
    };
    let (status, first) = answer(&f.app, start("aanvraag-2026-001", &resident)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = answer(&f.app, start("aanvraag-2026-001", &resident)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"], "the same case");
    let (status, other_case) = answer(&f.app, start("aanvraag-2026-002", &resident)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other_case["id"], first["id"]);
    // The same key for another start is refused, and a key that is no key too.
    let (status, refused) = answer(&f.app, start("aanvraag-2026-001", &other)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")),
        "{refused}"
    );
    let (status, refused) = answer(&f.app, start("met spatie", &resident)).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key")),
        "{refused}"
    );
    let cases = f.engine.store().resident_cases(&resident).await.unwrap();
    assert_eq!(cases.len(), 2, "two starts, not three");
}

/// An outside party addresses cases by its own case number, given when they started: a
/// message by business key reaches every active case with that key waiting for it, once.
pub(crate) async fn a_message_finds_cases_by_their_business_key(f: Fixture) {
    let now = Utc::now();
    f.engine.publish_yaml(MESSAGE_YAML, now).await.unwrap();
    let start = |who: String, key: Value| {
        f.api(
            "kees",
            "POST",
            "/api/v1/cases",
            Some(json!({"pathway": "bericht-test", "resident": who, "business_key": key})),
        )
    };
    let mut keyed = Vec::new();
    for key in ["UWV-2026/0042", "UWV-2026/0043", "UWV-2026/0042"] {
        let (status, out) = start(anon_resident(&f.engine).await, json!(key)).await;
        assert_eq!(status, StatusCode::CREATED, "{out}");
        keyed.push(out["id"].as_str().unwrap().to_owned());
    }
    let (status, detail) = f
        .api("kees", "GET", &format!("/api/v1/cases/{}", keyed[0]), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["business_key"], json!("UWV-2026/0042"));

    // Keys that are no keys are refused by name; a BSN never becomes one.
    for bad in ["", "met spatie", "111222333", &"x".repeat(101)] {
        let (status, out) = start(anon_resident(&f.engine).await, json!(bad)).await;
        assert_eq!(
            (status, out["code"].as_str(), out["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("business_key_invalid"),
                Some("business_key")
            ),
            "{bad}: {out}"
        );
    }

    let message = json!({"name": "uwv_besluit", "id": "uwv-b-1", "business_key": "UWV-2026/0042",
                         "variables": {"besluit": "toegekend"}});
    let (status, out) = f
        .api("kees", "POST", "/api/v1/messages", Some(message.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let mut reached: Vec<String> = serde_json::from_value(out["cases"].clone()).unwrap();
    reached.sort();
    let mut expected = vec![keyed[0].clone(), keyed[2].clone()];
    expected.sort();
    assert_eq!(reached, expected);
    assert_eq!(out["duplicate"], json!(false));
    for case in &expected {
        let state = f.engine.store().load_case(case).await.unwrap().unwrap();
        assert_eq!(state.status.as_str(), "ended");
    }
    assert_eq!(open_steps(&f, &keyed[1]).await, ["besluit_uwv"], "another key");

    // Sent again: those cases have ended, so nobody waits any more; the ended cases were
    // not touched.
    let seq = f.seq(&keyed[0]).await;
    let (status, out) = f.api("kees", "POST", "/api/v1/messages", Some(message)).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_unmatched")),
        "{out}"
    );
    assert_eq!(f.seq(&keyed[0]).await, seq);
    // An unknown key is unmatched; a key beside a case is refused.
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(json!({"name": "uwv_besluit", "id": "x", "business_key": "UWV-2026/9999"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{out}");
    let (status, out) = f
        .api(
            "kees",
            "POST",
            "/api/v1/messages",
            Some(
                json!({"name": "uwv_besluit", "id": "x", "business_key": "UWV-2026/0043", "case": keyed[1]}),
            ),
        )
        .await;
    assert_eq!(
        (status, out["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("case")),
        "{out}"
    );
    assert_eq!(open_steps(&f, &keyed[1]).await, ["besluit_uwv"]);
}
