//! The HTML screens (Dutch): login, "Mijn taken", the case page, task forms, joint
//! visits, and the overviews for managers, coordinators and admins.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::engine::EngineError;
use doorloop_engine::pathway::model::{PathwayVersion, Step, StepKind};
use doorloop_engine::runtime::{Action, CaseState, Command, EventKind, RuntimeError, Task, TaskRef};
use doorloop_engine::store::{RetryOutcome, TaskRow, User, UserRole, WorkFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::access::{CaseAccess, case_access, check_task, may_take};
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult};
use crate::forms;
use crate::views::{self, date, date_time, due_state, page, stall_reason};
use askama::Template;

pub(crate) type Shared = State<Arc<AppState>>;

/// The layout's view of the logged-in user.
pub(crate) fn user_json(u: &User) -> Value {
    json!({
        "name": u.display_name,
        "role_label": u.role.label(),
        "teams": u.teams.join(", "),
        "is_consultant": u.role == UserRole::Consultant,
        "sees_cases": matches!(u.role, UserRole::Consultant | UserRole::Manager),
        "sees_stalls": u.role == UserRole::Coordinator,
        "sees_figures": u.role == UserRole::Manager,
        "sees_pathways": matches!(u.role, UserRole::Manager | UserRole::Coordinator),
        "is_admin": u.role == UserRole::Admin,
    })
}

pub(crate) fn base(viewer: &Viewer, title: &str, nav: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(title));
    m.insert("user".into(), user_json(&viewer.user));
    m.insert("csrf".into(), json!(viewer.csrf));
    m.insert(format!("nav_{nav}"), json!(true));
    m
}

pub(crate) fn short(id: &str) -> String {
    id.chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// A local path to go back to after a form; anything else becomes `fallback`.
///
/// Only a path of this site passes: it starts with one `/`, and holds nothing but the
/// printable ASCII characters of a URL path and query. Browsers drop tabs and newlines
/// and read a backslash as `/`, so `/\t/evil.example` would lead to another host; control
/// characters would also make an invalid `Location` header.
pub(crate) fn local_path(path: Option<&str>, fallback: &str) -> String {
    let Some(p) = path else {
        return fallback.to_owned();
    };
    let printable = p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if printable && p.starts_with('/') && p.as_bytes().get(1) != Some(&b'/') && p.len() <= 2_000 {
        p.to_owned()
    } else {
        fallback.to_owned()
    }
}

pub async fn home(viewer: Viewer) -> Redirect {
    Redirect::to(match viewer.user.role {
        UserRole::Consultant => "/taken",
        UserRole::Manager => "/vastgelopen",
        UserRole::Coordinator => "/trajecten",
        UserRole::Admin => "/beheer",
    })
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        views::CSS,
    )
}

pub async fn editor_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        views::EDITOR_JS,
    )
}

// ---- login ----

#[derive(Deserialize)]
pub struct LoginQuery {
    volgende: Option<String>,
}

fn login_page(
    app: &AppState,
    status: StatusCode,
    csrf: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    page(
        status,
        "login",
        json!({
            "title": "Inloggen",
            "user": Value::Null,
            "csrf": csrf,
            "next": next,
            "username": username,
            "error": error,
            "oidc": app.oidc.is_some(),
            "next_q": form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>(),
        }),
    )
}

/// The cookie that carries the login form's CSRF token (double submit): an anonymous
/// visit to the login page writes no session row.
const LOGIN_COOKIE: &str = "doorloop_inlog";

/// The login form's token from its cookie, when it has the shape of one.
fn login_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| tower_sessions::cookie::Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn with_login_cookie(app: &AppState, mut res: Response, token: &str) -> Response {
    let secure = if app.config.secure_cookies { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/inloggen; HttpOnly; SameSite=Strict{secure}"
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn login_form(
    State(app): Shared,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> WebResult<Response> {
    let token = match login_cookie(&headers) {
        Some(t) => t,
        None => auth::new_csrf_token().map_err(|e| WebError::Internal(e.to_string()))?,
    };
    let next = local_path(q.volgende.as_deref(), "/");
    let res = login_page(&app, StatusCode::OK, &token, &next, "", None);
    Ok(with_login_cookie(&app, res, &token))
}

/// The client's address (from the server's connection info), for throttling.
pub struct ClientAddr(Option<IpAddr>);

impl FromRequestParts<Arc<AppState>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(auth::client_address(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

pub async fn login(
    State(app): Shared,
    session: Session,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    auth::check_origin(&headers, app.config.secure_cookies)?;
    // The form's token is the login cookie's; the page that refuses a municipal login
    // carries the session's own token instead.
    let from_cookie = login_cookie(&headers);
    let from_session = session
        .get::<String>(auth::CSRF)
        .await
        .map_err(|e| WebError::Internal(format!("session: {e}")))?;
    let csrf = match [from_cookie, from_session]
        .into_iter()
        .flatten()
        .find(|t| auth::check_csrf(t, &fields).is_ok())
    {
        Some(token) => token,
        None => return Err(auth::check_csrf("", &fields).err().unwrap_or(WebError::NotFound)),
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (name, password) = (get("gebruikersnaam").trim().to_owned(), get("wachtwoord"));
    let next = local_path(Some(&get("volgende")), "/");
    let client = addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "onbekend".to_owned());
    // Account names are staff logins, not residents; a name that is no account is logged
    // only by a short hash (it may be a mistyped password).
    let user = app.engine.store().user(&name).await?;
    let account = match &user {
        Some(u) => u.id.clone(),
        None => format!("onbekend:{}", &auth::token_hash(&name)[..8]),
    };
    if let Err(limit) = app.throttle.allow(&name, addr) {
        tracing::warn!(account = %account, client = %client, limit, "login throttled");
        let res = login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &csrf,
            &next,
            &name,
            Some("Te veel inlogpogingen. Wacht een paar minuten en probeer het opnieuw."),
        );
        return Ok(with_login_cookie(&app, res, &csrf));
    }
    let hash = user
        .as_ref()
        .filter(|u| u.active)
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| app.dummy_hash.clone());
    // The hash is checked even for unknown names, so timing does not tell them apart.
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    match user {
        Some(user) if matches && user.active && user.password_hash.is_some() => {
            auth::log_in(&session, &user, app.clock.now()).await?;
            tracing::info!(account = %user.id, role = user.role.as_str(), client = %client, "login");
            Ok(Redirect::to(&next).into_response())
        }
        user => {
            let why = match &user {
                None => "unknown account",
                Some(u) if !u.active => "account deactivated",
                Some(u) if u.password_hash.is_none() => "account has no password",
                Some(_) => "wrong password",
            };
            tracing::warn!(account = %account, client = %client, why, "login failed");
            let res = login_page(
                &app,
                StatusCode::UNAUTHORIZED,
                &csrf,
                &next,
                &name,
                Some("Gebruikersnaam of wachtwoord onjuist."),
            );
            Ok(with_login_cookie(&app, res, &csrf))
        }
    }
}

pub async fn logout(session: Session, form: CsrfForm) -> WebResult<Redirect> {
    drop(form);
    session
        .flush()
        .await
        .map_err(|e| WebError::Internal(format!("session: {e}")))?;
    Ok(Redirect::to("/inloggen"))
}

// ---- Mijn taken ----

#[derive(Deserialize, Default)]
pub struct TaskQuery {
    rol: Option<String>,
    traject: Option<String>,
    voor: Option<String>,
    pagina: Option<u32>,
    per: Option<u32>,
}

/// Page sizes of "Mijn taken"; the first is the default.
const PAGE_SIZES: [u32; 3] = [25, 50, 100];

pub async fn my_tasks(State(app): Shared, viewer: Viewer, Query(q): Query<TaskQuery>) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let (role, pathway, before) = (nonempty(q.rol), nonempty(q.traject), nonempty(q.voor));
    let page_no = q.pagina.unwrap_or(1).clamp(1, 10_000);
    let per_page = q.per.filter(|p| PAGE_SIZES.contains(p)).unwrap_or(PAGE_SIZES[0]);
    let due_before = match &before {
        Some(d) => Some(
            d.parse::<NaiveDate>()
                .ok()
                .and_then(|d| {
                    Amsterdam
                        .from_local_datetime(&d.and_time(NaiveTime::MIN))
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| WebError::BadRequest(format!("Ongeldige datum bij 'Termijn vóór': {d}")))?,
        ),
        None => None,
    };
    let rows = app
        .engine
        .store()
        .work_list(&WorkFilter {
            user: viewer.user.id.clone(),
            teams: viewer.user.teams.clone(),
            role: role.clone(),
            pathway: pathway.clone(),
            due_before,
            offset: (page_no - 1).saturating_mul(per_page),
            limit: per_page + 1,
        })
        .await?;
    let more = rows.len() > per_page as usize;
    let now = app.clock.now();
    let listing = app.pathway_names.get(&app.engine).await?;
    let names: HashMap<&str, &str> = listing.iter().map(|(k, n)| (k.as_str(), n.as_str())).collect();
    let mut tasks = Vec::with_capacity(rows.len().min(per_page as usize));
    for r in rows.iter().take(per_page as usize) {
        let pv = app
            .engine
            .pathway(&r.pathway_key, Some(r.pathway_version))
            .await?;
        tasks.push(task_line(r, &pv, &names, &viewer.user.id, now));
    }
    // Joint visits the consultant is invited to while a colleague holds them.
    let invited_rows = app.engine.store().invited_visits(&viewer.user.id, 20).await?;
    let mut invited = Vec::with_capacity(invited_rows.len());
    for r in &invited_rows {
        let pv = app
            .engine
            .pathway(&r.pathway_key, Some(r.pathway_version))
            .await?;
        invited.push(task_line(r, &pv, &names, &viewer.user.id, now));
    }
    let back = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("rol", &role), ("traject", &pathway), ("voor", &before)] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        if per_page != PAGE_SIZES[0] {
            s.append_pair("per", &per_page.to_string());
        }
        s.finish()
    };
    let link = |p: u32| {
        let mut q = back.clone();
        if p > 1 {
            q.push_str(&format!("{}pagina={p}", if q.is_empty() { "" } else { "&" }));
        }
        if q.is_empty() {
            "/taken".to_owned()
        } else {
            format!("/taken?{q}")
        }
    };
    let first = (page_no - 1) * per_page + 1;
    let range = match tasks.len() {
        0 => String::new(),
        n => format!("{first}–{}", first as usize + n - 1),
    };
    let filtered = role.is_some() || pathway.is_some() || before.is_some();
    let content = TasksPage {
        csrf: &viewer.csrf,
        range,
        next: more.then(|| link(page_no + 1)),
        previous: (page_no > 1).then(|| link(page_no - 1)),
        roles: viewer
            .user
            .teams
            .iter()
            .map(|t| (t.as_str(), role.as_ref() == Some(t)))
            .collect(),
        pathways: listing
            .iter()
            .map(|(k, n)| (k.as_str(), n.as_str(), pathway.as_ref() == Some(k)))
            .collect(),
        sizes: PAGE_SIZES.iter().map(|p| (*p, *p == per_page)).collect(),
        due_before: before.as_deref().unwrap_or(""),
        filtered,
        back: link(page_no),
        tasks,
        invited,
    };
    let body = content
        .render()
        .map_err(|e| WebError::Internal(format!("template tasks: {e}")))?;
    Ok(views::page_around(
        StatusCode::OK,
        base(&viewer, "Mijn taken", "taken"),
        body,
    ))
}

/// "Mijn taken" is the busiest screen: its template is compiled (askama escapes every
/// value), which renders a page of 100 rows several times faster than handlebars.
#[derive(askama::Template)]
#[template(path = "tasks.html")]
struct TasksPage<'a> {
    csrf: &'a str,
    range: String,
    next: Option<String>,
    previous: Option<String>,
    roles: Vec<(&'a str, bool)>,
    pathways: Vec<(&'a str, &'a str, bool)>,
    sizes: Vec<(u32, bool)>,
    due_before: &'a str,
    filtered: bool,
    back: String,
    tasks: Vec<TaskLine<'a>>,
    /// Open joint visits this consultant is invited to, held by a colleague.
    invited: Vec<TaskLine<'a>>,
}

/// One row of a work list.
fn task_line<'a>(
    r: &'a TaskRow,
    pv: &PathwayVersion,
    names: &HashMap<&'a str, &'a str>,
    viewer: &str,
    now: DateTime<Utc>,
) -> TaskLine<'a> {
    let step_name = pv
        .step(&r.step)
        .map(|s| s.display_name().to_owned())
        .unwrap_or_else(|| r.step.clone());
    let (due_class, due_text) = due_state(r.due_at, now);
    TaskLine {
        case_id: &r.case_id,
        short_id: short(&r.case_id),
        task_id: &r.task_id,
        step: &r.step,
        step_name,
        pathway: names
            .get(r.pathway_key.as_str())
            .copied()
            .unwrap_or(r.pathway_key.as_str()),
        roles: r.roles.join(" + "),
        assignee: r.assignee.as_deref(),
        mine: r.assignee.as_deref() == Some(viewer),
        due_class,
        due_text,
        due_at: r.due_at.map(date_time),
        stall: r.stall_reason.as_deref().map(stall_reason),
    }
}

struct TaskLine<'a> {
    case_id: &'a str,
    short_id: String,
    task_id: &'a str,
    step: &'a str,
    step_name: String,
    pathway: &'a str,
    roles: String,
    assignee: Option<&'a str>,
    mine: bool,
    due_class: &'static str,
    due_text: String,
    due_at: Option<String>,
    stall: Option<String>,
}

// ---- loading a case with its access rule ----

/// The case and the viewer's access, or "not found" when they may not see it.
pub(crate) async fn visible_case(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<(Arc<CaseState>, CaseAccess)> {
    let state = match app.engine.load_fresh(id).await {
        Ok(s) => s,
        Err(EngineError::CaseNotFound { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    match case_access(user, &state) {
        CaseAccess::None => Err(WebError::NotFound),
        access => Ok((state, access)),
    }
}

/// A visible case with the pathway version it runs on.
pub(crate) async fn visible_case_on_pathway(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<(Arc<CaseState>, CaseAccess, Arc<PathwayVersion>)> {
    let (state, access) = visible_case(app, user, id).await?;
    let pv = app
        .engine
        .pathway(&state.pathway_key, Some(state.pathway_version))
        .await?;
    Ok((state, access, pv))
}

fn event_text(kind: &EventKind, pv: &PathwayVersion) -> Option<String> {
    let step = |id: &str| {
        pv.step(id)
            .map(|s| s.display_name().to_owned())
            .unwrap_or_else(|| id.to_owned())
    };
    Some(match kind {
        EventKind::CaseStarted { pathway_version, .. } => format!("Casus gestart (versie {pathway_version})"),
        EventKind::TaskOpened { task } => format!("Taak geopend: {}", step(&task.step)),
        EventKind::TaskAssigned { user: Some(u), .. } => format!("Taak toegewezen aan {u}"),
        EventKind::TaskAssigned { user: None, .. } => "Taak vrijgegeven".to_owned(),
        EventKind::VisitPlanned { visit, .. } => {
            format!("Gezamenlijk bezoek gepland op {}", date_time(visit.at))
        }
        EventKind::TaskCompleted { step: s, .. } => format!("Afgerond: {}", step(s)),
        EventKind::TaskClosed { step: s, .. } => format!("Gesloten: {}", step(s)),
        EventKind::RungSet { rung, .. } => format!(
            "Trede participatieladder: {}",
            forms::rung_label(u64::from(*rung))
        ),
        EventKind::CaseEnded { outcome, .. } => format!("Casus afgesloten: {}", outcome.replace('_', " ")),
        EventKind::CaseWithdrawn { .. } => "Casus ingetrokken".to_owned(),
        EventKind::DueChanged { due, .. } => format!("Termijn: {}", date_time(due.at)),
        EventKind::DeadlinePassed { step: s, .. } => format!("Termijn verstreken: {}", step(s)),
        EventKind::EscalationRaised { step: s, to, .. } => format!("Escalatie ({}) naar {to}", step(s)),
        EventKind::StallRaised { stall, .. } => format!("Vastgelopen: {}", stall_reason(&stall.reason)),
        EventKind::StallCleared { .. } => "Weer in beweging".to_owned(),
        EventKind::CaseMigrated {
            from_version,
            to_version,
            ..
        } => format!("Overgezet van versie {from_version} naar versie {to_version}"),
        EventKind::TaskMoved { step: s, .. } => format!("Taak verplaatst naar: {}", step(s)),
        EventKind::VariablesSet { .. } => "Gegevens bijgewerkt".to_owned(),
        _ => return None,
    })
}

async fn team_json(app: &AppState, ids: &[String]) -> WebResult<Vec<Value>> {
    let mut out = Vec::new();
    for id in ids {
        let user = app.users.get(app.engine.store().as_ref(), id).await?;
        out.push(json!({
            "id": id,
            "name": user.as_ref().map(|u| u.display_name.clone()).unwrap_or_else(|| id.clone()),
            "teams": user.map(|u| u.teams.join(", ")).unwrap_or_default(),
        }));
    }
    Ok(out)
}

fn current_steps(state: &CaseState) -> BTreeSet<String> {
    state
        .tasks
        .values()
        .map(|t| t.step.clone())
        .chain(state.tokens.values().map(|t| t.step.clone()))
        .collect()
}

fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "loopt",
        "ended" => "afgerond",
        "withdrawn" => "ingetrokken",
        _ => "nieuw",
    }
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    klaar: Option<String>,
}

pub async fn case_page(
    State(app): Shared,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> WebResult<Response> {
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    app.access_log.record(&viewer.user, &id, "casuspagina").await?;
    let now = app.clock.now();
    let steps = current_steps(&state);
    let mut tasks = Vec::new();
    for t in state.tasks.values() {
        let step = pv.step(&t.step);
        let (due_class, due_text) = due_state(t.due.as_ref().map(|d| d.at), now);
        tasks.push(json!({
            "id": t.id,
            "step_name": step.map(|s| s.display_name()).unwrap_or(&t.step),
            "roles": t.roles.join(" + "),
            "assignee": t.assignee,
            "due_class": due_class,
            "due_text": due_text,
            "explanation": t.due.as_ref().map(|d| d.explanation.clone()).unwrap_or_default(),
            "visit": t.visit.as_ref().map(|v| date_time(v.at)),
            "can_open": access == CaseAccess::Act || access == CaseAccess::Read,
        }));
    }
    let events = app.engine.store().events(&id).await?;
    let timeline: Vec<Value> = events
        .iter()
        .rev()
        .filter_map(|e| {
            event_text(&e.event.kind, &pv)
                .map(|what| json!({"at": date_time(e.event.at), "what": what, "actor": e.event.actor}))
        })
        .collect();
    let rungs: Vec<Value> = state
        .rung_history
        .iter()
        .map(|r| {
            json!({
                "label": forms::rung_label(u64::from(r.rung)),
                "at": date(r.at),
                "step": r.step.as_deref().and_then(|s| pv.step(s)).map(|s| s.display_name()),
            })
        })
        .collect();
    let stalls: Vec<Value> = state
        .stalls
        .values()
        .map(|s| {
            json!({
                "reason": stall_reason(&s.reason),
                "step": s.step.as_deref().and_then(|id| pv.step(id)).map(|st| st.display_name()),
                "party": s.party,
                "since": date(s.since),
            })
        })
        .collect();
    let active: Vec<String> = steps.iter().cloned().collect();
    let graph_url = format!(
        "/trajecten/{}/{}/graaf.svg?{}",
        state.pathway_key,
        state.pathway_version,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("actief", &active.join(","))
            .finish()
    );
    let graph_window_url = format!("{graph_url}&venster=1");
    let status = state.status.as_str();
    let (back, back_label) = if viewer.user.role == UserRole::Consultant {
        ("/taken", "Mijn taken")
    } else {
        ("/casussen", "Casussen")
    };
    let mut data = base(&viewer, &format!("Casus {}", short(&id)), "casussen");
    data.insert(
        "case".into(),
        json!({
            "id": state.id,
            "short_id": short(&state.id),
            "status": status,
            "status_label": status_label(status),
            "pathway_name": pv.pathway.name,
            "pathway_version": state.pathway_version,
            "started": state.started_at.map(date).unwrap_or_default(),
            "outcome": state.outcome.as_ref().map(|o| o.replace('_', " ")),
            "stalls": stalls,
            "current_steps": steps.iter().filter_map(|s| pv.step(s)).map(|s| s.display_name()).collect::<Vec<_>>().join(", "),
        }),
    );
    data.insert("tasks".into(), Value::Array(tasks));
    data.insert("timeline".into(), Value::Array(timeline));
    data.insert("team".into(), Value::Array(team_json(&app, &state.team).await?));
    data.insert("rungs".into(), Value::Array(rungs));
    data.insert("graph_url".into(), json!(graph_url));
    data.insert("graph_window_url".into(), json!(graph_window_url));
    data.insert("read_only".into(), json!(access == CaseAccess::Read));
    data.insert("back".into(), json!(back));
    data.insert("back_label".into(), json!(back_label));
    if q.klaar.is_some() {
        data.insert("flash".into(), json!("Opgeslagen. De casus is bijgewerkt."));
    }
    Ok(page(StatusCode::OK, "case", Value::Object(data)))
}

// ---- task forms ----

struct TaskForm<'a> {
    state: &'a CaseState,
    access: CaseAccess,
    pv: &'a PathwayVersion,
    step: &'a Step,
    task_id: &'a str,
    task: Option<&'a Task>,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    problem: Option<String>,
}

async fn render_task(
    app: &AppState,
    viewer: &Viewer,
    f: TaskForm<'_>,
    status: StatusCode,
) -> WebResult<Response> {
    let now = app.clock.now();
    let is_visit = f.step.kind == StepKind::JointVisit;
    let planned = f.task.and_then(|t| t.visit.as_ref());
    let (due_class, due_text) = due_state(f.task.and_then(|t| t.due.as_ref().map(|d| d.at)), now);
    let may_act = f.access == CaseAccess::Act && f.task.is_some_and(|t| check_task(&viewer.user, t).is_ok());
    let read_only = match (f.access, f.task) {
        (_, None) => None,
        (CaseAccess::Read, _) => Some("U kunt deze taak inzien maar niet afronden (alleen lezen)."),
        (_, Some(t)) if !may_act => Some(if t.assignee.is_some() {
            "Deze taak is toegewezen aan een collega."
        } else {
            "Deze taak hoort niet bij uw team."
        }),
        _ => None,
    };
    let mut team: Vec<String> = f.state.team.clone();
    if !team.contains(&viewer.user.id) {
        team.push(viewer.user.id.clone());
    }
    let chosen: BTreeSet<String> = match (f.values.get("deelnemer"), planned) {
        (Some(list), _) => list.split('\u{1f}').map(str::to_owned).collect(),
        (None, Some(v)) => v.participants.iter().cloned().collect(),
        (None, None) => BTreeSet::from([viewer.user.id.clone()]),
    };
    let participants: Vec<Value> = team_json(app, &team)
        .await?
        .into_iter()
        .map(|mut p| {
            let checked = p["id"].as_str().is_some_and(|id| chosen.contains(id));
            p["checked"] = json!(checked);
            p
        })
        .collect();
    let visit_form = planned.map(|v| {
        let l = v.at.with_timezone(&Amsterdam);
        (
            l.format("%Y-%m-%d").to_string(),
            l.format("%H:%M").to_string(),
            v.place.clone().unwrap_or_default(),
        )
    });
    let form_value =
        |k: &str, planned: Option<String>| f.values.get(k).cloned().or(planned).unwrap_or_default();
    let mut data = base(viewer, f.step.display_name(), "taken");
    data.insert("case_id".into(), json!(f.state.id));
    data.insert("short_id".into(), json!(short(&f.state.id)));
    data.insert("task_id".into(), json!(f.task_id));
    data.insert("step_name".into(), json!(f.step.display_name()));
    data.insert("description".into(), json!(f.step.description));
    data.insert("pathway_name".into(), json!(f.pv.pathway.name));
    data.insert("roles".into(), json!(f.step.responsible_roles().join(" + ")));
    data.insert("assignee".into(), json!(f.task.and_then(|t| t.assignee.clone())));
    data.insert("due_class".into(), json!(due_class));
    data.insert("due_text".into(), json!(due_text));
    data.insert("version".into(), json!(f.state.seq));
    data.insert("problem".into(), json!(f.problem));
    data.insert("errors".into(), json!(f.errors));
    data.insert("read_only".into(), json!(read_only));
    data.insert("plan_visit".into(), json!(is_visit && may_act));
    data.insert("visit".into(), json!(planned.map(|v| date_time(v.at))));
    data.insert("participants".into(), Value::Array(participants));
    data.insert(
        "form".into(),
        json!({
            "datum": form_value("datum", visit_form.as_ref().map(|v| v.0.clone())),
            "tijd": form_value("tijd", visit_form.as_ref().map(|v| v.1.clone())),
            "plaats": form_value("plaats", visit_form.as_ref().map(|v| v.2.clone())),
        }),
    );
    // A joint visit records its outcome once planned; other steps complete directly.
    // After a conflict (task gone) the form is shown again with the user's input.
    let show_form = f.task.is_none() || (may_act && (!is_visit || planned.is_some()));
    data.insert("show_form".into(), json!(show_form));
    data.insert(
        "form_title".into(),
        json!(if is_visit {
            "Uitkomst van het bezoek vastleggen"
        } else {
            "Taak afronden"
        }),
    );
    data.insert(
        "submit_label".into(),
        json!(if is_visit {
            "Uitkomst vastleggen"
        } else {
            "Afronden"
        }),
    );
    data.insert(
        "fields".into(),
        json!(forms::field_views(&f.step.fields, &f.values, &f.errors)),
    );
    Ok(page(status, "task", Value::Object(data)))
}

pub async fn task_page(
    State(app): Shared,
    viewer: Viewer,
    Path((id, task_id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    let Some(task) = state.tasks.get(&task_id) else {
        return Err(WebError::NotFound);
    };
    app.access_log.record(&viewer.user, &id, "taakformulier").await?;
    let step = pv.step(&task.step).ok_or(WebError::NotFound)?;
    let form = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step,
        task_id: &task_id,
        task: Some(task),
        values: BTreeMap::new(),
        errors: BTreeMap::new(),
        problem: None,
    };
    render_task(&app, &viewer, form, StatusCode::OK).await
}

/// What was posted, as the form shows it again (checkbox groups joined).
fn posted_values(form: &CsrfForm) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &form.fields {
        if k == auth::CSRF_FIELD || k == "versie" {
            continue;
        }
        values
            .entry(k.clone())
            .and_modify(|e| {
                e.push('\u{1f}');
                e.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    values
}

const CONFLICT: &str = "Een collega heeft deze casus intussen gewijzigd en deze taak is niet meer open. \
     Uw invoer staat hieronder nog; bekijk de casus voordat u verder gaat.";

fn is_conflict(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Conflict { .. } | EngineError::Runtime(RuntimeError::TaskNotOpen { .. })
    )
}

pub async fn complete_task(
    State(app): Shared,
    Path((id, task_id)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let viewer = &form.viewer;
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    let values = posted_values(&form);
    // The task may have been completed by a colleague meanwhile: find its step from the
    // case history so the form (with the user's input) can be shown again.
    let task = state.tasks.get(&task_id);
    let step_id = match task {
        Some(t) => t.step.clone(),
        None => closed_task_step(&app, &id, &task_id)
            .await?
            .ok_or(WebError::NotFound)?,
    };
    let step = pv.step(&step_id).ok_or(WebError::NotFound)?;
    let mut f = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step,
        task_id: &task_id,
        task,
        values,
        errors: BTreeMap::new(),
        problem: None,
    };
    let Some(task) = task else {
        f.problem = Some(CONFLICT.to_owned());
        return render_task(&app, viewer, f, StatusCode::CONFLICT).await;
    };
    if access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    check_task(&viewer.user, task)?;
    let data = match forms::parse(&step.fields, &f.values) {
        Ok(data) => data,
        Err(errors) => {
            f.problem = Some("Niet alle velden zijn goed ingevuld; zie de meldingen bij de velden.".into());
            f.errors = errors;
            return render_task(&app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let action = if step.kind == StepKind::JointVisit {
        Action::RecordVisitOutcome {
            task: TaskRef(task_id.clone()),
            data,
        }
    } else {
        Action::CompleteTask {
            task: TaskRef(task_id.clone()),
            data,
        }
    };
    let done = format!("/casussen/{id}?klaar=1");
    act_on_form(&app, viewer, f, action, &done, "De taak kon niet worden afgerond").await
}

/// Runs a form's command: on success to `done`; a conflict or a refusal shows the form
/// again with the user's input and the reason.
async fn act_on_form(
    app: &AppState,
    viewer: &Viewer,
    mut f: TaskForm<'_>,
    action: Action,
    done: &str,
    refused: &str,
) -> WebResult<Response> {
    let command = Command::new(viewer.user.id.clone(), action);
    match app.engine.execute(&f.state.id, command, app.clock.now()).await {
        Ok(_) => Ok(Redirect::to(done).into_response()),
        Err(e) if is_conflict(&e) => {
            f.problem = Some(CONFLICT.to_owned());
            render_task(app, viewer, f, StatusCode::CONFLICT).await
        }
        Err(EngineError::Runtime(e)) => {
            f.problem = Some(format!("{refused}: {e}"));
            render_task(app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn closed_task_step(app: &AppState, case: &str, task: &str) -> WebResult<Option<String>> {
    let events = app.engine.store().events(case).await?;
    Ok(events.iter().find_map(|e| match &e.event.kind {
        EventKind::TaskOpened { task: t } if t.id == task => Some(t.step.clone()),
        _ => None,
    }))
}

pub async fn plan_visit(
    State(app): Shared,
    Path((id, task_id)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let viewer = &form.viewer;
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    let Some(task) = state.tasks.get(&task_id) else {
        return Err(WebError::NotFound);
    };
    if access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    check_task(&viewer.user, task)?;
    let step = pv.step(&task.step).ok_or(WebError::NotFound)?;
    if step.kind != StepKind::JointVisit {
        return Err(WebError::BadRequest(
            "Deze taak is geen gezamenlijk bezoek.".into(),
        ));
    }
    let mut errors = BTreeMap::new();
    let day = form.get("datum").unwrap_or("").parse::<NaiveDate>();
    let time = NaiveTime::parse_from_str(form.get("tijd").unwrap_or(""), "%H:%M");
    if day.is_err() {
        errors.insert("datum".to_owned(), "Kies een datum.".to_owned());
    }
    if time.is_err() {
        errors.insert("tijd".to_owned(), "Kies een tijd (uu:mm).".to_owned());
    }
    let at = match (day, time) {
        (Ok(d), Ok(t)) => Amsterdam
            .from_local_datetime(&d.and_time(t))
            .earliest()
            .map(|l| l.with_timezone(&Utc)),
        _ => None,
    };
    if let Some(at) = at
        && at <= app.clock.now()
    {
        errors.insert(
            "datum".to_owned(),
            "Het bezoek moet in de toekomst liggen.".to_owned(),
        );
    }
    let mut allowed: BTreeSet<&str> = state.team.iter().map(String::as_str).collect();
    allowed.insert(viewer.user.id.as_str());
    let participants = form.all("deelnemer");
    if participants.is_empty() {
        errors.insert("deelnemer".to_owned(), "Kies minstens één deelnemer.".to_owned());
    } else if participants.iter().any(|p| !allowed.contains(p.as_str())) {
        errors.insert(
            "deelnemer".to_owned(),
            "Deelnemers komen uit het casusteam.".to_owned(),
        );
    }
    let place = form
        .get("plaats")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    if place.as_ref().is_some_and(|p| p.chars().count() > 200) {
        errors.insert("plaats".to_owned(), "Gebruik hoogstens 200 tekens.".to_owned());
    }
    let mut f = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step,
        task_id: &task_id,
        task: Some(task),
        values: posted_values(&form),
        errors,
        problem: None,
    };
    let Some(at) = at.filter(|_| f.errors.is_empty()) else {
        f.problem = Some("Het bezoek is nog niet gepland; zie de meldingen bij de velden.".into());
        return render_task(&app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let action = Action::PlanJointVisit {
        task: TaskRef(task_id.clone()),
        at,
        place,
        participants,
    };
    let done = format!("/casussen/{id}/taken/{task_id}");
    act_on_form(
        &app,
        viewer,
        f,
        action,
        &done,
        "Het bezoek kon niet worden gepland",
    )
    .await
}

/// Claims (`take = true`) or releases a task.
pub(crate) async fn assign(
    app: &AppState,
    user: &User,
    id: &str,
    task_id: &str,
    take: bool,
) -> WebResult<()> {
    let (state, access) = visible_case(app, user, id).await?;
    let task = state.tasks.get(task_id).ok_or(WebError::NotFound)?;
    if access != CaseAccess::Act || user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    let to = if take {
        if task.assignee.as_deref() == Some(user.id.as_str()) {
            return Ok(());
        }
        if !may_take(user, task) {
            return Err(WebError::Forbidden(if task.assignee.is_some() {
                "Deze taak is al toegewezen aan een collega.".into()
            } else {
                "Deze taak hoort niet bij uw team.".into()
            }));
        }
        Some(user.id.clone())
    } else {
        if task.assignee.as_deref() != Some(user.id.as_str()) {
            return Err(WebError::Forbidden(
                "Alleen wie de taak heeft, kan haar vrijgeven.".into(),
            ));
        }
        None
    };
    let action = Action::Reassign {
        task: TaskRef(task_id.to_owned()),
        to,
    };
    app.engine
        .execute(id, Command::new(user.id.clone(), action), app.clock.now())
        .await?;
    Ok(())
}

pub async fn claim(
    State(app): Shared,
    Path((id, task)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    assign(&app, &form.viewer.user, &id, &task, true).await?;
    Ok(Redirect::to(&local_path(form.get("terug"), "/taken")))
}

pub async fn release(
    State(app): Shared,
    Path((id, task)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    assign(&app, &form.viewer.user, &id, &task, false).await?;
    Ok(Redirect::to(&local_path(form.get("terug"), "/taken")))
}

// ---- overviews ----

pub async fn cases(State(app): Shared, viewer: Viewer) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Consultant, UserRole::Manager])?;
    let only = (viewer.user.role == UserRole::Consultant).then_some(viewer.user.id.as_str());
    let rows = app.engine.store().cases(only, &viewer.user.teams, 200).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "short_id": short(&c.id), "pathway": c.pathway_key,
                "status": c.status, "status_label": status_label(&c.status),
                "created": date(c.created_at), "updated": date_time(c.updated_at),
            })
        })
        .collect();
    let mut data = base(&viewer, "Casussen", "casussen");
    data.insert(
        "intro".into(),
        json!(if only.is_some() {
            "Casussen waarin u of uw team een rol heeft (de 200 laatst gewijzigde)."
        } else {
            "Alle casussen van de organisatie, alleen lezen (de 200 laatst gewijzigde)."
        }),
    );
    data.insert("cases".into(), Value::Array(list));
    Ok(page(StatusCode::OK, "cases", Value::Object(data)))
}

#[derive(Deserialize)]
pub struct GraphQuery {
    actief: Option<String>,
    /// Only the neighbourhood of the highlighted steps.
    venster: Option<String>,
}

/// The pathway graph as SVG. Pathways are not personal data; any logged-in user may
/// fetch them. The highlighted steps come from the query.
pub async fn graph(
    State(app): Shared,
    _viewer: Viewer,
    Path((key, version)): Path<(String, u32)>,
    Query(q): Query<GraphQuery>,
) -> WebResult<Response> {
    let pv = app.engine.pathway(&key, Some(version)).await?;
    // Only this pathway's step ids mark a step: anything else would only make the cache
    // hold another copy of the same drawing.
    let asked: BTreeSet<&str> = q.actief.as_deref().unwrap_or_default().split(',').collect();
    let active: BTreeSet<String> = pv
        .pathway
        .steps
        .iter()
        .filter(|s| asked.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect();
    let drawing = app.graphs.get_or_draw(&pv, &active).await?;
    let svg = if q.venster.is_some() {
        drawing.window(1500., 520.)
    } else {
        drawing.svg.clone()
    };
    Ok(crate::design::svg_response(svg, "private, max-age=300"))
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    casus: Option<String>,
    /// The message just queued again.
    opnieuw: Option<i64>,
    /// Rights were just saved.
    rechten: Option<u8>,
}

pub async fn admin(State(app): Shared, viewer: Viewer, Query(q): Query<PeopleQuery>) -> WebResult<Response> {
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
    let case = q.casus.filter(|c| !c.trim().is_empty());
    let log: Vec<Value> = app
        .engine
        .store()
        .access_log(case.as_deref().map(str::trim), 200)
        .await?
        .iter()
        .map(
            |e| json!({"at": date_time(e.at), "user": e.user_id, "case_id": e.case_id, "purpose": e.purpose}),
        )
        .collect();
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
        .set_rights(&id, role, &teams, active)
        .await
        .map_err(|e| match e {
            doorloop_engine::store::StoreError::UnknownUser { .. } => WebError::NotFound,
            other => other.into(),
        })?;
    tracing::info!(role = role.as_str(), active, "rights changed by an admin");
    Ok(Redirect::to("/beheer?rechten=1#gebruikers"))
}

/// The Dutch name of a message kind.
fn message_kind(kind: &str) -> &str {
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

pub async fn not_found() -> WebError {
    WebError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_a_form() {
        assert_eq!(local_path(Some("/taken?rol=x"), "/"), "/taken?rol=x");
        assert_eq!(local_path(Some("https://evil.example"), "/"), "/");
        assert_eq!(local_path(Some("//evil.example"), "/"), "/");
        assert_eq!(local_path(None, "/taken"), "/taken");
        // What the probe sent: a tab or newline between the slashes, a backslash.
        assert_eq!(local_path(Some("/\t/evil.example/"), "/"), "/");
        assert_eq!(local_path(Some("/\n/evil.example/"), "/"), "/");
        assert_eq!(local_path(Some("/\r\nSet-Cookie: x=1"), "/"), "/");
        assert_eq!(local_path(Some("/\\evil.example"), "/"), "/");
        assert_eq!(local_path(Some("/ /evil.example"), "/"), "/");
        assert_eq!(local_path(Some("/caf\u{e9}"), "/"), "/");
        assert_eq!(local_path(Some(""), "/"), "/");
    }
}
