//! Beheer: accounts and rights, the outbox and the access log.

use crate::error::PageQuery;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use std::collections::BTreeMap;

use doorloop_engine::store::{AccessQuery, RetryOutcome, UserRole};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::accounts;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult};
use crate::views::{base, date_time, page};

#[derive(Deserialize)]
pub struct PeopleQuery {
    /// The user whose rights were just saved.
    rechten: Option<String>,
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    /// The message just queued again.
    opnieuw: Option<i64>,
}

#[derive(Deserialize)]
pub struct LogQuery {
    casus: Option<String>,
    /// `jjjj-mm-dd`, both days included.
    van: Option<String>,
    tot: Option<String>,
    pagina: Option<u32>,
}

/// Rows per page of the access log.
const LOG_PAGE: u32 = 100;

fn day(text: Option<&str>, what: &str) -> WebResult<Option<chrono::NaiveDate>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("Ongeldige datum bij ‘{what}’: {t} (kies een dag)."))),
    }
}

/// `GET /toegangslog`: the access log for the privacy officer and the admin, of what their
/// organisation oversees (the region: all), a page at a time, by day and case.
pub async fn access_log(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<LogQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Privacy, UserRole::Admin])?;
    let case = q.casus.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let from = day(q.van.as_deref(), "van")?;
    let to = day(q.tot.as_deref(), "tot en met")?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(WebError::BadRequest(
            "De periode begint na haar einde: kies ‘van’ vóór ‘tot en met’.".into(),
        ));
    }
    let page_no = q.pagina.unwrap_or(1).clamp(1, 10_000);
    let midnight = |d: chrono::NaiveDate| {
        doorloop_engine::time::calendar::local_moment(d, chrono::NaiveTime::MIN).with_timezone(&chrono::Utc)
    };
    let query = AccessQuery {
        organisation: crate::access::org_filter(&viewer.user).map(|o| o.organisation),
        case_id: case.map(str::to_owned),
        from: from.map(midnight),
        to: to.and_then(|t| t.succ_opt()).map(midnight),
        // One more than shown: whether a next page exists.
        limit: LOG_PAGE + 1,
        offset: (page_no - 1) * LOG_PAGE,
    };
    let store = app.engine.store();
    let mut entries = store.access_log_page(&query).await?;
    let more = entries.len() > LOG_PAGE as usize;
    entries.truncate(LOG_PAGE as usize);
    let mut rows = Vec::new();
    for e in entries {
        rows.push(json!({
            "at": date_time(e.at), "user": app.users.name(store.as_ref(), &e.user_id).await?,
            "case_id": e.case_id, "purpose": e.purpose, "detail": e.detail,
        }));
    }
    let link = |n: u32| {
        let mut pairs = vec![("pagina", n.to_string())];
        for (k, v) in [
            ("casus", case),
            ("van", q.van.as_deref()),
            ("tot", q.tot.as_deref()),
        ] {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                pairs.push((k, v.trim().to_owned()));
            }
        }
        format!(
            "/toegangslog?{}",
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .finish()
        )
    };
    let nav = if viewer.user.role == UserRole::Admin {
        "beheer"
    } else {
        "toegangslog"
    };
    let mut data = base(&viewer, "Toegangslog", nav);
    data.insert("tab_toegangslog".into(), json!(true));
    data.insert("admin_tabs".into(), json!(viewer.user.role == UserRole::Admin));
    data.insert("log".into(), Value::Array(rows));
    data.insert("case_filter".into(), json!(case));
    data.insert("van".into(), json!(q.van));
    data.insert("tot".into(), json!(q.tot));
    data.insert("page_no".into(), json!(page_no));
    data.insert("previous".into(), json!((page_no > 1).then(|| link(page_no - 1))));
    data.insert("next".into(), json!(more.then(|| link(page_no + 1))));
    Ok(page(StatusCode::OK, "access_log_page", Value::Object(data)))
}

/// The roles of every published pathway, by id: the teams a consultant can belong to.
async fn team_choices(app: &crate::AppState) -> WebResult<BTreeMap<String, String>> {
    let mut teams = BTreeMap::new();
    for (key, _) in app.pathway_names.get(&app.engine).await?.iter() {
        let pv = app.engine.pathway(key, None).await?;
        for (id, role) in &pv.pathway.roles {
            teams.entry(id.clone()).or_insert_with(|| role.name.clone());
        }
    }
    Ok(teams)
}

/// The accounts tab: every account with its rights, and a form for a new one.
async fn users_page(
    app: &crate::AppState,
    viewer: &Viewer,
    saved: Option<&str>,
    created: Option<Value>,
    problem: Option<String>,
) -> WebResult<Response> {
    let teams = team_choices(app).await?;
    let store = app.engine.store();
    let orgs = store.organisations().await?;
    let users: Vec<Value> = store
        .users()
        .await?
        .iter()
        .map(|u| {
            json!({"id": u.id, "name": u.display_name, "role": u.role.label(), "email": u.email, "active": u.active,
                   "organisation": orgs.iter().find(|o| o.id == u.organisation).map_or(u.organisation.as_str(), |o| o.name.as_str()),
                   "team_names": u.teams.iter().map(|t| teams.get(t).cloned().unwrap_or_else(|| t.clone())).collect::<Vec<_>>().join(", "),
                   "teams": teams.iter().map(|(id, name)| json!({"id": id, "name": name, "on": u.teams.contains(id)})).collect::<Vec<_>>(),
                   "saved": saved == Some(u.id.as_str()),
                   "roles": UserRole::ALL.iter().map(|r| json!({"v": r.as_str(), "label": r.label(), "selected": *r == u.role})).collect::<Vec<_>>()})
        })
        .collect();
    let mut data = base(viewer, "Beheer: gebruikers", "beheer");
    data.insert("tab_gebruikers".into(), json!(true));
    data.insert("admin_tabs".into(), json!(true));
    data.insert("users".into(), Value::Array(users));
    data.insert(
        "all_teams".into(),
        json!(
            teams
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name}))
                .collect::<Vec<_>>()
        ),
    );
    data.insert(
        "roles".into(),
        json!(
            UserRole::ALL
                .iter()
                .map(|r| json!({"v": r.as_str(), "label": r.label()}))
                .collect::<Vec<_>>()
        ),
    );
    data.insert(
        "organisations".into(),
        json!(
            orgs.iter()
                .map(|o| json!({"id": o.id, "name": o.name, "selected": o.id == viewer.user.organisation}))
                .collect::<Vec<_>>()
        ),
    );
    data.insert("created".into(), json!(created));
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    data.insert("problem".into(), json!(problem));
    Ok(page(status, "people", Value::Object(data)))
}

/// `GET /beheer`: the accounts.
pub async fn admin(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<PeopleQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Admin])?;
    users_page(&app, &viewer, q.rechten.as_deref(), None, None).await
}

/// `GET /beheer/berichten`: messages that need the admin.
pub async fn messages(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<MessagesQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Admin])?;
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
    let mut data = base(&viewer, "Beheer: berichten", "beheer");
    data.insert("tab_berichten".into(), json!(true));
    data.insert("admin_tabs".into(), json!(true));
    data.insert("outbox".into(), json!(counts));
    data.insert("messages".into(), Value::Array(messages));
    data.insert("retried".into(), json!(q.opnieuw));
    Ok(page(StatusCode::OK, "messages", Value::Object(data)))
}

/// `POST /beheer/gebruikers`: a new account with a generated password, shown once.
pub async fn create_user(State(app): Shared, form: CsrfForm) -> WebResult<Response> {
    let viewer = &form.viewer;
    auth::require(&viewer.user, &[UserRole::Admin])?;
    let text = |k: &str| {
        form.get(k)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let id = text("gebruikersnaam").unwrap_or_default();
    let role_text = text("rol").unwrap_or_default();
    let teams = accounts::teams_of(form.all("team").iter().map(String::as_str));
    let email = text("email");
    let organisation = text("organisatie").unwrap_or_else(|| viewer.user.organisation.clone());
    let known = team_choices(&app).await?;
    let checked = match UserRole::parse(&role_text) {
        None => Err(format!("Kies een rol voor ‘{id}’.")),
        Some(role) => accounts::check_login(&id)
            .and_then(|()| accounts::check_rights(role, &teams))
            .and_then(|()| accounts::check_teams(&teams, &known))
            .and_then(|()| accounts::check_email(email.as_deref()))
            .map(|()| role)
            .map_err(|p| p.dutch()),
    };
    let role = match checked {
        Ok(role) => role,
        Err(problem) => return users_page(&app, viewer, None, None, Some(problem)).await,
    };
    let password = auth::generate_password().map_err(|e| WebError::Internal(e.to_string()))?;
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || auth::hash_password(&password)
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))?
    .map_err(|e| WebError::Internal(e.to_string()))?;
    let user = doorloop_engine::store::User {
        id: id.clone(),
        display_name: text("naam").unwrap_or_else(|| id.clone()),
        role,
        teams,
        email,
        organisation,
        organisation_kind: None,
        password_hash: Some(hash),
        active: true,
        created_at: app.clock.now(),
    };
    match app.engine.store().add_user(&user).await {
        Ok(()) => {}
        Err(doorloop_engine::store::StoreError::UserExists { .. }) => {
            return users_page(
                &app,
                viewer,
                None,
                None,
                Some(format!("De gebruikersnaam ‘{id}’ bestaat al.")),
            )
            .await;
        }
        Err(doorloop_engine::store::StoreError::UnknownOrganisation { .. }) => {
            return users_page(
                &app,
                viewer,
                None,
                None,
                Some("Kies een bestaande organisatie.".into()),
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(role = role.as_str(), "account created by an admin");
    users_page(
        &app,
        viewer,
        None,
        Some(json!({"id": id, "password": password})),
        None,
    )
    .await
}

/// `POST /beheer/gebruikers/{id}/rechten`: role, teams (ticked, or typed with commas) and
/// whether the account may log in.
pub async fn set_rights(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    auth::require(&form.viewer.user, &[UserRole::Admin])?;
    let role_text = form.get("rol").unwrap_or_default();
    let role = UserRole::parse(role_text)
        .ok_or_else(|| WebError::BadRequest(format!("Onbekende rol '{role_text}'.")))?;
    let mut values = form.all("team");
    values.extend(form.get("teams").map(str::to_owned));
    let teams = accounts::teams_of(values.iter().map(String::as_str));
    accounts::check_rights(role, &teams).map_err(|p| WebError::BadRequest(p.dutch()))?;
    accounts::check_teams(&teams, &team_choices(&app).await?).map_err(|p| WebError::BadRequest(p.dutch()))?;
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
    Ok(Redirect::to(&format!(
        "/beheer?{}#gebruiker-{id}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("rechten", &id)
            .finish()
    )))
}

/// `POST /beheer/berichten/{id}/opnieuw`: a dead (or waiting) message goes out again.
pub async fn retry_message(State(app): Shared, Path(id): Path<i64>, form: CsrfForm) -> WebResult<Redirect> {
    auth::require(&form.viewer.user, &[UserRole::Admin])?;
    match app.engine.store().retry_outbox(id, app.clock.now()).await? {
        RetryOutcome::NotFound => Err(WebError::NotFound),
        RetryOutcome::Requeued => {
            tracing::info!(id, admin = %form.viewer.user.id, "message queued again");
            Ok(Redirect::to(&format!("/beheer/berichten?opnieuw={id}#berichten")))
        }
        RetryOutcome::AlreadyDone | RetryOutcome::InFlight => Ok(Redirect::to("/beheer/berichten#berichten")),
    }
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
