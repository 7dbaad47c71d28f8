//! Inwoners: finding a resident, registering one, and the resident's page — one line across
//! every case, the ladder across cases, the people who work with them, what happens next.

use crate::error::PageQuery;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use doorloop_engine::engine::EngineError;
use doorloop_engine::line::Line;
use doorloop_engine::resident::provision::{ProvisionChange, ProvisionStatus};
use doorloop_engine::resident::{Bsn, Resident};
use doorloop_engine::store::UserRole;
use doorloop_engine::text::dutch::code_label;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult, field_label};
use crate::residents::{ResidentFields, reveal_bsn, scope, search as find, visible_line};
use crate::views::{base, date, due_state, page, status_label};
use crate::{AppState, forms};

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
}

fn birth(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| format!("{:02}-{:02}-{}", d.day(), d.month(), d.year()))
}

fn age(d: Option<NaiveDate>, today: NaiveDate) -> Option<i32> {
    let d = d?;
    let mut years = today.year() - d.year();
    if (today.month(), today.day()) < (d.month(), d.day()) {
        years -= 1;
    }
    Some(years)
}

fn resident_json(r: &Resident) -> Value {
    json!({
        "id": r.id, "reference": r.reference, "name": r.display_name(), "unknown": r.unknown,
        "birth_date": birth(r.birth_date), "municipality": r.municipality,
    })
}

/// `GET /inwoners?q=`: the search page; a search text that cannot be read says why on the page.
pub async fn search(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<SearchQuery>,
) -> WebResult<Response> {
    scope(&viewer.user, None)?;
    let text = q.q.unwrap_or_default();
    let mut data = base(&viewer, "Inwoners", "inwoners");
    data.insert("q".into(), json!(text));
    data.insert("may_add".into(), json!(viewer.user.role == UserRole::Consultant));
    data.insert("inzage".into(), json!(viewer.user.role == UserRole::Privacy));
    if !text.trim().is_empty() {
        match find(&app, &viewer.user, &text, "zoeken").await {
            Ok(found) => {
                data.insert("searched".into(), json!(true));
                let mut results: Vec<Value> = found.iter().map(resident_json).collect();
                if viewer.user.role == UserRole::Privacy {
                    for (row, r) in results.iter_mut().zip(&found) {
                        let hold = app.engine.store().hold(&r.id).await?;
                        row["held"] = json!(hold.map(|h| crate::views::date(h.since)));
                    }
                }
                data.insert("results".into(), Value::Array(results));
            }
            Err(WebError::Engine(e @ (EngineError::Query(_) | EngineError::Bsn(_)))) => {
                data.insert("problem".into(), json!(capitalised(&e.to_string())));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(page(StatusCode::OK, "residents", Value::Object(data)))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn form_page(
    viewer: &Viewer,
    fields: &ResidentFields,
    problem: Option<(&str, String)>,
    status: StatusCode,
) -> Response {
    edit_page(viewer, None, fields, problem, status)
}

/// The resident form: new (`editing` none) or changing a resident's details.
fn edit_page(
    viewer: &Viewer,
    editing: Option<&Resident>,
    fields: &ResidentFields,
    problem: Option<(&str, String)>,
    status: StatusCode,
) -> Response {
    let title = match editing {
        Some(r) => format!("Gegevens van {}", r.display_name()),
        None => "Nieuwe inwoner".to_owned(),
    };
    let mut data = base(viewer, &title, "inwoners");
    data.insert("form_title".into(), json!(title));
    data.insert(
        "action".into(),
        json!(editing.map_or_else(
            || "/inwoners".to_owned(),
            |r| format!("/inwoners/{}/bewerken", r.id)
        )),
    );
    data.insert(
        "editing".into(),
        json!(editing.map(|r| json!({"id": r.id, "has_bsn": r.has_bsn}))),
    );
    data.insert(
        "f".into(),
        json!({
            "given_name": fields.given_name, "family_name": fields.family_name, "birth_date": fields.birth_date,
            "email": fields.email, "phone": fields.phone, "address": fields.address,
            "municipality": fields.municipality,
        }),
    );
    if let Some((field, message)) = problem {
        data.insert(
            "problem".into(),
            json!(format!("{}: {message}", field_label(field))),
        );
        data.insert("problem_field".into(), json!(field));
    }
    page(status, "resident_form", Value::Object(data))
}

/// `GET /inwoners/nieuw`
pub async fn new_form(viewer: Viewer) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    Ok(form_page(
        &viewer,
        &ResidentFields::default(),
        None,
        StatusCode::OK,
    ))
}

fn fields_of(form: &CsrfForm) -> ResidentFields {
    let get = |k: &str| form.get(k).map(str::to_owned);
    ResidentFields {
        given_name: get("given_name").unwrap_or_default(),
        family_name: get("family_name").unwrap_or_default(),
        birth_date: get("birth_date"),
        email: get("email"),
        phone: get("phone"),
        address: get("address"),
        municipality: get("municipality"),
        bsn: get("bsn"),
    }
}

/// `POST /inwoners`: registers a resident; a problem shows the form again with what was typed
/// (except the BSN).
pub async fn create(State(app): Shared, form: CsrfForm) -> WebResult<Response> {
    let viewer = &form.viewer;
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    let fields = fields_of(&form);
    let input = match fields.input() {
        Ok(i) => i,
        Err(p) => {
            return Ok(form_page(
                viewer,
                &fields,
                Some(p),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    match app
        .engine
        .add_resident_by(&input, &viewer.user.id, app.clock.now())
        .await
    {
        Ok(r) => Ok(Redirect::to(&format!("/inwoners/{}?nieuw=1", r.id)).into_response()),
        Err(EngineError::ResidentInvalid(p)) => Ok(form_page(
            viewer,
            &fields,
            Some((p.field, p.message)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(
            e @ (EngineError::Bsn(_)
            | EngineError::Store(doorloop_engine::store::StoreError::BsnExists { .. })),
        ) => {
            let message = WebError::Engine(e).public_message();
            Ok(form_page(
                viewer,
                &fields,
                Some(("bsn", message)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    nieuw: Option<String>,
    /// A provision was just recorded.
    voorziening: Option<String>,
}

/// `GET /inwoners/{id}`
pub async fn show(
    State(app): Shared,
    viewer: Viewer,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<ShowQuery>,
) -> WebResult<Response> {
    let (line, may_act) = visible_line(&app, &viewer.user, &id, "inwonerpagina").await?;
    let flash = match (q.nieuw, q.voorziening) {
        (Some(_), _) => Some("Inwoner vastgelegd. Meld de inwoner hieronder aan voor een traject."),
        (_, Some(_)) => Some("Voorziening vastgelegd."),
        _ => None,
    };
    render(&app, &viewer, &line, may_act, None, flash).await
}

/// `GET /inwoners/{id}/inzage`: the resident's whole file as one HTML document to hand over
/// (privacy officer only).
pub async fn inzage(State(app): Shared, viewer: Viewer, Path(id): Path<String>) -> WebResult<Response> {
    let file = crate::residents::inzage(&app, &viewer.user, &id).await?;
    let html = crate::inzage::render(&app.engine, &file).await?;
    let name = format!("inzage-{}.html", file.resident.reference);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/html; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        html,
    )
        .into_response())
}

/// `POST /inwoners/{id}/bsn`: the page again with the BSN shown (a POST, so the number
/// never sits in a URL or the browser's history); logged as its own view.
pub async fn show_bsn(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Response> {
    let viewer = &form.viewer;
    let bsn = reveal_bsn(&app, &viewer.user, &id, "BSN bekeken").await?;
    let (line, may_act) = visible_line(&app, &viewer.user, &id, "inwonerpagina").await?;
    render(&app, viewer, &line, may_act, Some(bsn), None).await
}

/// `POST /inwoners/{id}/aanmelden`: starts a case on the chosen pathway for the resident.
pub async fn enrol(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Response> {
    let user = &form.viewer.user;
    auth::require(user, &[UserRole::Consultant])?;
    visible_line(&app, user, &id, "aanmelden").await?;
    let key = form.get("traject").unwrap_or_default();
    if key.is_empty() {
        return Err(WebError::BadRequest("Kies een traject.".into()));
    }
    crate::cases::may_start(&app, user, key, None).await?;
    let out = app
        .engine
        .start_case(key, None, &user.id, &id, Default::default(), app.clock.now())
        .await?;
    Ok(Redirect::to(&format!("/casussen/{}?klaar=1", out.state.id)).into_response())
}

/// A correction as people read it: "Achternaam: Dekker → Dekker-Jansen".
pub(crate) fn correction_json(c: &doorloop_engine::store::ResidentChange, by: &str) -> Value {
    let shown = |v: &Option<String>| match (c.field.as_str(), v) {
        ("birth_date", Some(d)) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_else(|_| d.clone()),
        (_, Some(v)) => v.clone(),
        (_, None) => "(leeg)".to_owned(),
    };
    let what = if c.field == "bsn" {
        "BSN gewijzigd".to_owned()
    } else {
        format!(
            "{}: {} → {}",
            crate::error::field_label(&c.field),
            shown(&c.old),
            shown(&c.new)
        )
    };
    json!({"at": crate::views::date_time(c.at), "by": by, "what": what})
}

async fn render(
    app: &AppState,
    viewer: &Viewer,
    line: &Line,
    may_act: bool,
    bsn: Option<Option<Bsn>>,
    flash: Option<&str>,
) -> WebResult<Response> {
    let now = app.clock.now();
    let names = app.pathway_names.get(&app.engine).await?;
    let pathway_name = |key: &str| crate::views::pathway_name(&names, key);
    let store = app.engine.store().as_ref();
    let user_name = async |id: &str| app.users.name(store, id).await;
    let r = &line.resident;
    // Team keys by the names the resident's pathways give their roles ("Ambulant begeleider").
    let mut role_names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (_, state) in &line.cases {
        if let Ok(pv) = app
            .engine
            .pathway(&state.pathway_key, Some(state.pathway_version))
            .await
        {
            for (key, role) in &pv.pathway.roles {
                role_names.entry(key.clone()).or_insert_with(|| role.name.clone());
            }
        }
    }
    let mut cases = Vec::new();
    for (summary, state) in &line.cases {
        let pv = app
            .engine
            .pathway(&state.pathway_key, Some(state.pathway_version))
            .await?;
        let steps: Vec<String> = state.tasks.values().map(|t| t.title(&pv).to_owned()).collect();
        cases.push(json!({
            "id": state.id,
            "pathway": pv.pathway.name,
            "status": summary.status,
            "status_label": status_label(&summary.status),
            "started": state.started_at.map(date),
            "ended": state.ended_at.map(date),
            "outcome": state.outcome.as_deref().map(code_label),
            "now": steps.join(", "),
        }));
    }
    let ladder: Vec<Value> = line
        .ladder()
        .iter()
        .map(|p| {
            json!({
                "label": forms::rung_label(u64::from(p.rung)), "rung": p.rung, "at": date(p.at),
                "pathway": pathway_name(&p.pathway_key), "case_id": p.case_id,
            })
        })
        .collect();
    let mut team = Vec::new();
    for (id, keys) in line.team() {
        let user = app.users.get(store, &id).await?;
        let teams: Vec<String> = user
            .as_ref()
            .map(|u| {
                u.teams
                    .iter()
                    .map(|t| role_names.get(t).cloned().unwrap_or_else(|| t.clone()))
                    .collect()
            })
            .unwrap_or_default();
        team.push(json!({
            "name": user.as_ref().map(|u| u.display_name.clone()).unwrap_or_else(|| id.clone()),
            "teams": teams.join(", "),
            "organisation": user.as_ref().map(|u| u.organisation.clone()),
            "email": user.as_ref().and_then(|u| u.email.clone()),
            "pathways": keys.iter().map(|k| pathway_name(k)).collect::<Vec<_>>().join(", "),
        }));
    }
    let mut next = Vec::new();
    for w in line.next() {
        let pv = app.engine.pathway(w.pathway_key, None).await.ok();
        let step = pv
            .as_ref()
            .map(|pv| w.task.title(pv).to_owned())
            .unwrap_or_else(|| w.task.step.clone());
        let (due_class, due_text) = due_state(w.task.due.as_ref().map(|d| d.at), now);
        let assignee = match &w.task.assignee {
            Some(a) => Some(user_name(a).await?),
            None => None,
        };
        next.push(json!({
            "case_id": w.case_id, "task_id": w.task.id, "step": step, "pathway": pathway_name(w.pathway_key),
            "roles": w.task.roles.iter().map(|r| role_names.get(r).cloned().unwrap_or_else(|| r.clone())).collect::<Vec<_>>().join(" + "),
            "assignee": assignee, "due_class": due_class, "due_text": due_text,
            "visit": w.task.visit.as_ref().map(|v| crate::views::date_time(v.at)),
        }));
    }
    // Only the pathways the viewer's teams may start (`started_by`).
    let mut pathways: Vec<Value> = Vec::new();
    for (k, n) in names
        .iter()
        .filter(|(k, _)| k != doorloop_engine::line::EXPIRY_PATHWAY)
    {
        if app
            .engine
            .pathway(k, None)
            .await?
            .pathway
            .may_start(&viewer.user.teams)
        {
            pathways.push(json!({"key": k, "name": n}));
        }
    }
    let kinds = app.engine.provision_kinds();
    let kind_label = |key: &str| {
        kinds
            .iter()
            .find(|k| k.key == key)
            .map(|k| (k.label.clone(), k.law.clone()))
            .unwrap_or_else(|| (key.replace('_', " "), String::new()))
    };
    let mut provisions = Vec::new();
    for p in app.engine.store().provisions(&r.id).await? {
        let (label, law) = kind_label(&p.kind);
        let decided_by = match &p.decided_by {
            Some(u) => Some(user_name(u).await?),
            None => None,
        };
        provisions.push(json!({
            "kind": p.kind, "label": label, "law": law, "status": p.status.as_str(), "status_label": p.status.label(),
            "start": birth(p.start_date), "end": birth(p.end_date), "dormant_until": birth(p.dormant_until),
            "decision_date": birth(p.decision_date), "decision_ref": p.decision_ref, "decided_by": decided_by,
            "dormant": p.status == ProvisionStatus::Slapend,
        }));
    }
    let mut history = Vec::new();
    for c in app.engine.store().provision_changes(&r.id).await?.iter().take(20) {
        history.push(json!({
            "at": crate::views::date_time(c.at), "label": kind_label(&c.kind).0, "status_label": c.status.label(),
            "by": user_name(&c.by).await?, "case_id": c.case_id,
        }));
    }
    let kind_options: Vec<Value> = kinds
        .iter()
        .map(|k| json!({"key": k.key, "label": k.label}))
        .collect();
    let status_options: Vec<Value> = ProvisionStatus::ALL
        .iter()
        .map(|s| json!({"key": s.as_str(), "label": s.label()}))
        .collect();
    let mut data = base(viewer, &r.display_name(), "inwoners");
    data.insert(
        "r".into(),
        json!({
            "id": r.id, "reference": r.reference, "name": r.display_name(), "unknown": r.unknown,
            "birth_date": birth(r.birth_date), "age": age(r.birth_date, now.date_naive()),
            "municipality": r.municipality, "email": r.email, "phone": r.phone, "address": r.address,
            "has_bsn": r.has_bsn,
        }),
    );
    if let Some(b) = bsn {
        data.insert("bsn".into(), json!(b.as_ref().map(|b| b.expose().to_owned())));
        data.insert("bsn_shown".into(), json!(true));
    }
    data.insert("may_act".into(), json!(may_act));
    data.insert(
        "may_see_bsn".into(),
        json!(crate::residents::reads_bsn(
            &viewer.user,
            line.resident.municipality.as_deref()
        )),
    );
    data.insert("cases".into(), Value::Array(cases));
    data.insert("ladder".into(), Value::Array(ladder));
    data.insert("team".into(), Value::Array(team));
    data.insert("next".into(), Value::Array(next));
    data.insert("pathways".into(), Value::Array(pathways));
    data.insert("provisions".into(), Value::Array(provisions));
    data.insert("provision_history".into(), Value::Array(history));
    let mut corrections = Vec::new();
    for c in app.engine.store().resident_changes(&r.id).await?.iter().take(50) {
        corrections.push(correction_json(c, &user_name(&c.by).await?));
    }
    data.insert(
        "corrections_summary".into(),
        json!(match corrections.len() {
            1 => "1 correctie".to_owned(),
            n => format!("{n} correcties"),
        }),
    );
    data.insert("corrections".into(), Value::Array(corrections));
    data.insert("kind_options".into(), Value::Array(kind_options));
    data.insert("status_options".into(), Value::Array(status_options));
    if let Some(f) = flash {
        data.insert("flash".into(), json!(f));
    }
    Ok(page(StatusCode::OK, "resident", Value::Object(data)))
}

/// `POST /inwoners/{id}/voorzieningen`: a consultant records a provision by hand.
pub async fn record_provision(
    State(app): Shared,
    Path(id): Path<String>,
    form: CsrfForm,
) -> WebResult<Response> {
    let user = &form.viewer.user;
    auth::require(user, &[UserRole::Consultant])?;
    visible_line(&app, user, &id, "voorziening vastleggen").await?;
    let date = |field: &'static str| -> WebResult<Option<NaiveDate>> {
        match form.get(field).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => doorloop_engine::resident::parse_date(v).map(Some).ok_or_else(|| {
                WebError::BadRequest(format!("{} is geen datum (dd-mm-jjjj).", provision_field(field)))
            }),
        }
    };
    let status = form
        .get("status")
        .and_then(ProvisionStatus::parse)
        .ok_or_else(|| WebError::BadRequest("Kies een status.".into()))?;
    let now = app.clock.now();
    let change = ProvisionChange {
        key: format!("hand:{}", uuid::Uuid::now_v7()),
        resident_id: id.clone(),
        kind: form.get("soort").unwrap_or_default().to_owned(),
        status,
        start_date: date("begin")?,
        end_date: date("einde")?,
        dormant_until: date("slapend_tot")?,
        decision_date: date("besluitdatum")?,
        decision_ref: form
            .get("kenmerk")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        by: user.id.clone(),
        case_id: None,
        at: now,
    };
    match app.engine.record_provision(&change).await {
        Ok(()) => Ok(Redirect::to(&format!("/inwoners/{id}?voorziening=1#voorzieningen")).into_response()),
        Err(EngineError::Provision(p)) => Err(WebError::BadRequest(format!(
            "{}: {}.",
            provision_field(p.field),
            p.message
        ))),
        Err(e) => Err(e.into()),
    }
}

fn provision_field(field: &str) -> &str {
    match field {
        "kind" | "soort" => "Soort",
        "begin" => "Begindatum",
        "einde" | "end_date" => "Einddatum",
        "slapend_tot" => "Slapend tot",
        "besluitdatum" => "Besluitdatum",
        "decision_ref" => "Kenmerk",
        other => other,
    }
}

/// `POST /inwoners/{id}/voorzieningen/{kind}/heractiveren`: a dormant provision becomes
/// active in one action, and the fall-back pathway starts.
pub async fn reactivate(
    State(app): Shared,
    Path((id, kind)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let user = &form.viewer.user;
    auth::require(user, &[UserRole::Consultant])?;
    visible_line(&app, user, &id, "voorziening heractiveren").await?;
    match app.engine.reactivate(&id, &kind, &user.id, app.clock.now()).await {
        Ok(case) => Ok(Redirect::to(&format!("/casussen/{case}?klaar=1")).into_response()),
        Err(EngineError::Provision(p)) => Err(WebError::BadRequest(format!("{}.", capitalised(&p.message)))),
        Err(e) => Err(e.into()),
    }
}

/// `GET /inwoners/{id}/bewerken`: a consultant fills in or corrects a resident's details
/// (a resident made for an older case starts as "onbekend").
pub async fn edit_form(State(app): Shared, viewer: Viewer, Path(id): Path<String>) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    let (line, _) = visible_line(&app, &viewer.user, &id, "inwoner bewerken").await?;
    let r = &line.resident;
    let fields = ResidentFields {
        given_name: r.given_name.clone(),
        family_name: if r.unknown {
            String::new()
        } else {
            r.family_name.clone()
        },
        birth_date: birth(r.birth_date),
        email: r.email.clone(),
        phone: r.phone.clone(),
        address: r.address.clone(),
        municipality: r.municipality.clone(),
        bsn: None,
    };
    Ok(edit_page(&viewer, Some(r), &fields, None, StatusCode::OK))
}

/// `POST /inwoners/{id}/bewerken`; an empty BSN keeps the stored one.
pub async fn update(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Response> {
    let viewer = &form.viewer;
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    let (line, _) = visible_line(&app, &viewer.user, &id, "inwoner bewerken").await?;
    let fields = fields_of(&form);
    let again = |p: (&str, String)| {
        edit_page(
            viewer,
            Some(&line.resident),
            &fields,
            Some(p),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let input = match fields.input() {
        Ok(i) => i,
        Err(p) => return Ok(again(p)),
    };
    match app
        .engine
        .update_resident(&id, &input, &viewer.user.id, app.clock.now())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/inwoners/{id}")).into_response()),
        Err(EngineError::ResidentInvalid(p)) => Ok(again((p.field, p.message))),
        Err(
            e @ (EngineError::Bsn(_)
            | EngineError::Store(doorloop_engine::store::StoreError::BsnExists { .. })),
        ) => Ok(again(("bsn", WebError::Engine(e).public_message()))),
        Err(e) => Err(e.into()),
    }
}
