//! Beheer: accounts and rights, the outbox and the access log.

use crate::error::PageQuery;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use doorloop_engine::store::{RetryOutcome, UserRole};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult};
use crate::views::{base, date_time, page};

#[derive(Deserialize)]
pub struct PeopleQuery {
    casus: Option<String>,
    /// The message just queued again.
    opnieuw: Option<i64>,
    /// Rights were just saved.
    rechten: Option<u8>,
}

/// The newest 200 rows of the access log (of one case) that the viewer's organisation
/// oversees (the region: all), people by name.
async fn log_rows(app: &crate::AppState, viewer: &Viewer, case: Option<&str>) -> WebResult<Vec<Value>> {
    let store = app.engine.store();
    let case = case.map(str::trim);
    let entries = match crate::access::org_filter(&viewer.user) {
        None => store.access_log(case, 200).await?,
        Some(org) => store.access_log_of(&org.organisation, case, 200).await?,
    };
    let mut rows = Vec::new();
    for e in entries {
        rows.push(json!({
            "at": date_time(e.at), "user": app.users.name(store.as_ref(), &e.user_id).await?,
            "case_id": e.case_id, "purpose": e.purpose, "detail": e.detail,
        }));
    }
    Ok(rows)
}

/// `GET /toegangslog`: the access log for the privacy officer (and the admin).
pub async fn access_log(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<PeopleQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Privacy, UserRole::Admin])?;
    let case = q.casus.filter(|c| !c.trim().is_empty());
    let mut data = base(&viewer, "Toegangslog", "toegangslog");
    data.insert(
        "log".into(),
        Value::Array(log_rows(&app, &viewer, case.as_deref()).await?),
    );
    data.insert("case_filter".into(), json!(case));
    data.insert("log_action".into(), json!("/toegangslog"));
    Ok(page(StatusCode::OK, "access_log_page", Value::Object(data)))
}

pub async fn admin(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<PeopleQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Admin])?;
    let users: Vec<Value> = app
        .engine
        .store()
        .users()
        .await?
        .iter()
        .map(|u| {
            json!({"id": u.id, "name": u.display_name, "role": u.role.label(), "teams": u.teams.join(", "),
                   "email": u.email, "active": u.active,
                   "roles": UserRole::ALL.iter().map(|r| json!({"v": r.as_str(), "label": r.label(), "selected": *r == u.role})).collect::<Vec<_>>()})
        })
        .collect();
    let case = q.casus.clone().filter(|c| !c.trim().is_empty());
    let log = log_rows(&app, &viewer, case.as_deref()).await?;
    let store = app.engine.store();
    let counts = store.outbox_counts(app.clock.now()).await?;
    // Messages that need the admin: dead ones, and waiting ones that failed at least once.
    let mut troubled = store.outbox_items(Some("dead"), 100).await?;
    troubled.extend(
        store
            .outbox_items(Some("pending"), 500)
            .await?
            .into_iter()
            .filter(|r| r.last_error.is_some())
            .take(100),
    );
    let messages: Vec<Value> = troubled
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "kind": message_kind(&r.kind), "channel": r.channel.as_deref().unwrap_or("-"),
                "recipient": r.recipient, "attempts": r.attempts, "error": r.last_error,
                "dead": r.status == "dead", "created": date_time(r.created_at),
                "next": (r.status == "pending").then(|| date_time(r.next_attempt_at)),
            })
        })
        .collect();
    let mut data = base(&viewer, "Beheer", "beheer");
    data.insert("outbox".into(), json!(counts));
    data.insert("messages".into(), Value::Array(messages));
    data.insert("retried".into(), json!(q.opnieuw));
    data.insert("rights_saved".into(), json!(q.rechten.is_some()));
    data.insert("users".into(), Value::Array(users));
    data.insert("log".into(), Value::Array(log));
    data.insert("case_filter".into(), json!(case));
    data.insert("log_action".into(), json!("/beheer"));
    Ok(page(StatusCode::OK, "people", Value::Object(data)))
}

/// `POST /beheer/berichten/{id}/opnieuw`: a dead (or waiting) message goes out again.
pub async fn retry_message(State(app): Shared, Path(id): Path<i64>, form: CsrfForm) -> WebResult<Redirect> {
    auth::require(&form.viewer.user, &[UserRole::Admin])?;
    match app.engine.store().retry_outbox(id, app.clock.now()).await? {
        RetryOutcome::NotFound => Err(WebError::NotFound),
        RetryOutcome::Requeued => {
            tracing::info!(id, admin = %form.viewer.user.id, "message queued again");
            Ok(Redirect::to(&format!("/beheer?opnieuw={id}#berichten")))
        }
        RetryOutcome::AlreadyDone | RetryOutcome::InFlight => Ok(Redirect::to("/beheer#berichten")),
    }
}

/// An admin sets what a user may do (role, teams, active): how an account created at a
/// first login through the identity provider gets its rights.
pub async fn set_rights(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    auth::require(&form.viewer.user, &[UserRole::Admin])?;
    let role_text = form.get("rol").unwrap_or_default();
    let role = UserRole::parse(role_text)
        .ok_or_else(|| WebError::BadRequest(format!("Onbekende rol '{role_text}'.")))?;
    let teams: Vec<String> = form
        .get("teams")
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if role == UserRole::Consultant && teams.is_empty() {
        return Err(WebError::BadRequest(
            "Een consulent hoort bij minstens één team (een rol uit een traject, zoals wmo-consulent)."
                .into(),
        ));
    }
    if role != UserRole::Consultant && !teams.is_empty() {
        return Err(WebError::BadRequest(
            "Alleen consulenten horen bij een team.".into(),
        ));
    }
    if id == form.viewer.user.id && (role != UserRole::Admin || form.get("actief").is_none()) {
        return Err(WebError::BadRequest(
            "U kunt uw eigen beheerrechten niet intrekken.".into(),
        ));
    }
    let active = form.get("actief").is_some();
    app.engine
        .store()
        .set_rights(&id, role, &teams, None, active)
        .await
        .map_err(|e| match e {
            doorloop_engine::store::StoreError::UnknownUser { .. } => WebError::NotFound,
            other => other.into(),
        })?;
    tracing::info!(role = role.as_str(), active, "rights changed by an admin");
    Ok(Redirect::to("/beheer?rechten=1#gebruikers"))
}

/// The Dutch name of a message kind.
pub(crate) fn message_kind(kind: &str) -> &str {
    match kind {
        "test" => "testbericht",
        "task_opened" => "nieuwe taak",
        "task_assigned" => "taak toegewezen",
        "deadline_approaching" => "termijn nadert",
        "deadline_passed" => "termijn verlopen",
        "escalation" => "escalatie",
        "stall_raised" => "casus ligt stil",
        "visit_planned" => "uitnodiging bezoek",
        "visit_cancelled" => "bezoek vervallen",
        "visit_reminder" => "herinnering bezoek",
        "visit_outcome_missing" => "uitkomst bezoek ontbreekt",
        "daily_digest" => "dagoverzicht",
        "weekly_summary" => "weekoverzicht",
        other => other,
    }
}
