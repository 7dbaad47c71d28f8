//! Logging in and out with a local account; the start page by role.

use crate::error::PageQuery;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use doorloop_engine::store::UserRole;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::auth::{self, CsrfForm, Viewer, local_path};
use crate::error::{WebError, WebResult};
use crate::views::{self, page};
use crate::{AppState, Shared};

pub async fn home(viewer: Viewer) -> Redirect {
    Redirect::to(match viewer.user.role {
        UserRole::Consultant => "/taken",
        UserRole::Manager => "/vastgelopen",
        UserRole::Coordinator => "/trajecten",
        UserRole::Admin => "/beheer",
        UserRole::Privacy => "/inwoners",
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

pub async fn graph_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        views::GRAPH_JS,
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
    PageQuery(q): PageQuery<LoginQuery>,
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
    if let Err(limit) = app
        .throttle
        .allow(app.engine.store().as_ref(), &name, addr, app.clock.now())
        .await?
    {
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
