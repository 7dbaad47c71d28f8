//! Accounts: argon2id password hashes, API tokens, the logged-in user of a request,
//! CSRF tokens and login throttling.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use doorloop_engine::store::{Store, User, UserRole};
use rand::rngs::OsRng;
use rand::{Rng, SeedableRng, TryRngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::AppState;
use crate::error::WebError;

/// Session keys.
pub(crate) const USER: &str = "user";
pub(crate) const LOGIN_AT: &str = "login_at_ms";
pub(crate) const SEEN_AT: &str = "seen_at_ms";
pub(crate) const CSRF: &str = "csrf";
/// The name of the hidden CSRF field in every form.
pub const CSRF_FIELD: &str = "_csrf";

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the system's random source failed: {0}")]
    Random(String),
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches a stored PHC string. Unreadable hashes never match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AccountError> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(buf)
}

/// A new random password of 20 characters without look-alikes (shown once to the admin).
pub fn generate_password() -> Result<String, AccountError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::StdRng::from_seed(random_bytes::<32>()?);
    Ok((0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect())
}

/// A new API token (`dl_` + 64 hex digits). Only its [`token_hash`] is stored.
pub fn generate_api_token() -> Result<String, AccountError> {
    Ok(format!("dl_{}", hex::encode(random_bytes::<32>()?)))
}

/// SHA-256 of a token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn new_csrf_token() -> Result<String, AccountError> {
    Ok(hex::encode(random_bytes::<32>()?))
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Login throttling, three ways: per client address (a burst of 30, then one every two
/// seconds); per account name and address (5, then one a minute), which stops guessing
/// from one place; per account name alone (100, then one every 15 seconds), which slows
/// guessing spread over many addresses without letting one address lock a person out.
/// The counts live in the database, so every `serve` process behind it shares them; keys
/// are hashes (what is typed as a name may be a password).
pub struct Throttle {
    limits: [Limit; 3],
}

struct Limit {
    /// Says which limit stopped an attempt (in the log).
    name: &'static str,
    interval: Duration,
    burst: i64,
}

impl Throttle {
    pub fn new() -> Throttle {
        let limit = |name, secs, burst| Limit {
            name,
            interval: Duration::from_secs(secs),
            burst,
        };
        Throttle {
            limits: [
                limit("per address", 2, 30),
                limit("per account and address", 60, 5),
                limit("per account", 15, 100),
            ],
        }
    }

    /// Whether a login attempt may go ahead (counted); otherwise which limit stopped it.
    pub async fn allow(
        &self,
        store: &dyn Store,
        name: &str,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), &'static str>, WebError> {
        let name = name.trim().to_lowercase();
        let address_text = address.map_or_else(|| "-".to_owned(), |a| a.to_string());
        let keys = [
            address.map(|_| token_hash(&format!("adres\n{address_text}"))),
            Some(token_hash(&format!("naam-adres\n{name}\n{address_text}"))),
            Some(token_hash(&format!("naam\n{name}"))),
        ];
        for (limit, key) in self.limits.iter().zip(keys) {
            let Some(key) = key else { continue };
            let interval = i64::try_from(limit.interval.as_millis()).unwrap_or(i64::MAX);
            if !store
                .login_attempt(&key, now.timestamp_millis(), interval, limit.burst)
                .await?
            {
                return Ok(Err(limit.name));
            }
        }
        Ok(Ok(()))
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// The client's address. Behind a reverse proxy listed in `trusted` the connection comes
/// from the proxy: then the address is the last one in `X-Forwarded-For` that is not a
/// trusted proxy itself (what a client writes there earlier in the list is not believed).
pub(crate) fn client_address(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .copied()
            .unwrap_or(peer),
    )
}

fn session(parts: &Parts) -> Result<Session, WebError> {
    parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| WebError::Internal("session layer missing".into()))
}

fn session_error(e: tower_sessions::session::Error) -> WebError {
    if crate::sessions::is_unavailable(&e) {
        return WebError::Unavailable(e.to_string());
    }
    WebError::Internal(format!("session: {e}"))
}

/// The CSRF token of the session, created when missing.
pub(crate) async fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Some(token) = session.get::<String>(CSRF).await.map_err(session_error)? {
        return Ok(token);
    }
    let token = new_csrf_token().map_err(|e| WebError::Internal(e.to_string()))?;
    session.insert(CSRF, &token).await.map_err(session_error)?;
    Ok(token)
}

/// Starts a logged-in session: a new session id, login time and CSRF token.
pub(crate) async fn log_in(
    session: &Session,
    user: &User,
    now: chrono::DateTime<Utc>,
) -> Result<(), WebError> {
    session.cycle_id().await.map_err(session_error)?;
    let now = now.timestamp_millis();
    session.insert(USER, &user.id).await.map_err(session_error)?;
    session.insert(LOGIN_AT, now).await.map_err(session_error)?;
    session.insert(SEEN_AT, now).await.map_err(session_error)?;
    let token = new_csrf_token().map_err(|e| WebError::Internal(e.to_string()))?;
    session.insert(CSRF, &token).await.map_err(session_error)?;
    Ok(())
}

/// The logged-in user of an HTML request, with the session's CSRF token.
pub struct Viewer {
    pub user: User,
    pub csrf: String,
    /// The user's teams as the pathways name them, for the page header.
    pub teams: String,
}

/// What happens to a request without a valid login.
pub enum NoLogin {
    Redirect(String),
    Error(WebError),
}

impl IntoResponse for NoLogin {
    fn into_response(self) -> Response {
        match self {
            NoLogin::Redirect(to) => Redirect::to(&to).into_response(),
            NoLogin::Error(e) => e.into_response(),
        }
    }
}

impl From<WebError> for NoLogin {
    fn from(e: WebError) -> Self {
        NoLogin::Error(e)
    }
}

fn login_redirect(parts: &Parts) -> NoLogin {
    let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    NoLogin::Redirect(format!("/inloggen?{}", serde_urlencoded_next(next)))
}

fn serde_urlencoded_next(next: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("volgende", next)
        .finish()
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = NoLogin;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let session = session(parts)?;
        let Some(id) = session.get::<String>(USER).await.map_err(session_error)? else {
            return Err(login_redirect(parts));
        };
        // Milliseconds since the epoch.
        let now = state.clock.now().timestamp_millis();
        let login_at: i64 = session.get(LOGIN_AT).await.map_err(session_error)?.unwrap_or(0);
        let seen_at: i64 = session.get(SEEN_AT).await.map_err(session_error)?.unwrap_or(0);
        let absolute = i64::try_from(state.config.absolute_timeout.as_millis()).unwrap_or(i64::MAX);
        let idle = i64::try_from(state.config.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        if now - login_at > absolute || now - seen_at > idle {
            session.flush().await.map_err(session_error)?;
            return Err(login_redirect(parts));
        }
        // Read fresh on every request, not from the cache: an account deactivated in any
        // process is out on its next click everywhere.
        let user = match state.users.fresh(state.engine.store().as_ref(), &id).await? {
            Some(user) if user.active => user,
            _ => {
                session.flush().await.map_err(session_error)?;
                return Err(login_redirect(parts));
            }
        };
        // Refresh the idle clock at most once a minute (each refresh is a write).
        if now - seen_at > 60_000 {
            session.insert(SEEN_AT, now).await.map_err(session_error)?;
        }
        let csrf = csrf_token(&session).await?;
        let teams = state
            .pathway_names
            .teams_of(&state.engine, &user)
            .await
            .map_err(NoLogin::Error)?;
        Ok(Viewer { user, csrf, teams })
    }
}

/// A form posted by a logged-in user whose CSRF token matched. The fields come in order
/// (checkbox groups repeat a name).
pub struct CsrfForm {
    pub viewer: Viewer,
    pub fields: Vec<(String, String)>,
}

impl CsrfForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Refuses cross-site form posts: an `Origin` other than this site's, by scheme, host and
/// port (`https` when Doorloop is reached over HTTPS, `--secure-cookies`; `http` otherwise).
pub(crate) fn check_origin(headers: &HeaderMap, https: bool) -> Result<(), WebError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let scheme = if https { "https" } else { "http" };
    if host.is_empty() || !origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")) {
        return Err(WebError::Forbidden(
            "Dit formulier komt niet van deze website en is geweigerd.".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_csrf(expected: &str, fields: &[(String, String)]) -> Result<(), WebError> {
    let given = fields
        .iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if given.is_empty() || !same_token(expected, given) {
        return Err(WebError::Forbidden(
            "Het formulier is verlopen of ongeldig (CSRF). Laad de pagina opnieuw en probeer het nog eens."
                .into(),
        ));
    }
    Ok(())
}

impl FromRequest<Arc<AppState>> for CsrfForm {
    type Rejection = NoLogin;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        check_origin(&parts.headers, state.config.secure_cookies)?;
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(fields): Form<Vec<(String, String)>> = Form::from_request(req, state)
            .await
            .map_err(|e| WebError::BadRequest(format!("Het formulier kon niet worden gelezen: {e}")))?;
        check_csrf(&viewer.csrf, &fields)?;
        Ok(CsrfForm { viewer, fields })
    }
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

/// Whether `role` may use a screen meant for `allowed`.
pub(crate) fn require(user: &User, allowed: &[UserRole]) -> Result<(), WebError> {
    if allowed.contains(&user.role) {
        Ok(())
    } else {
        Err(WebError::Forbidden(format!(
            "Dit onderdeel is niet beschikbaar voor de rol {}.",
            user.role.label()
        )))
    }
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

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn generated_secrets_differ_and_have_their_shape() {
        let a = generate_password().unwrap();
        assert_eq!(a.chars().count(), 20);
        assert_ne!(a, generate_password().unwrap());
        let t = generate_api_token().unwrap();
        assert!(t.starts_with("dl_") && t.len() == 67, "{t}");
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), token_hash(&generate_api_token().unwrap()));
    }

    #[tokio::test]
    async fn logins_are_throttled_per_name_and_address() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = doorloop_engine::store::open(&url).await.unwrap();
        let store = store.as_ref();
        let throttle = Throttle::new();
        let now = chrono::Utc::now();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..5 {
            assert!(throttle.allow(store, "anna", Some(a), now).await.unwrap().is_ok());
        }
        assert_eq!(
            throttle.allow(store, "Anna ", Some(a), now).await.unwrap(),
            Err("per account and address"),
            "the sixth try within a minute from one address is refused"
        );
        assert!(
            throttle.allow(store, "anna", Some(b), now).await.unwrap().is_ok(),
            "someone guessing from one address does not lock anna out elsewhere"
        );
        assert!(throttle.allow(store, "bert", Some(a), now).await.unwrap().is_ok());
        // Spread over many addresses, the account's own limit holds.
        let mut refused = 0;
        for i in 0..200u8 {
            let addr = IpAddr::from([198, 51, 100, i]);
            if throttle
                .allow(store, "carla", Some(addr), now)
                .await
                .unwrap()
                .is_err()
            {
                refused += 1;
            }
        }
        assert!(refused >= 90, "refused {refused} of 200");
        // A minute on, anna may try once more from the first address.
        let later = now + chrono::Duration::seconds(61);
        assert!(
            throttle
                .allow(store, "anna", Some(a), later)
                .await
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn the_client_address_behind_a_trusted_proxy_comes_from_x_forwarded_for() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let parts = |peer: IpAddr, xff: Option<&str>| {
            let mut req = axum::http::Request::builder().uri("/inloggen");
            if let Some(x) = xff {
                req = req.header("x-forwarded-for", x);
            }
            let (mut parts, ()) = req.body(()).unwrap().into_parts();
            parts.extensions.insert(ConnectInfo(SocketAddr::new(peer, 4000)));
            parts
        };
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        // Not behind a trusted proxy: the header is ignored.
        assert_eq!(client_address(&parts(client, Some("1.2.3.4")), &[]), Some(client));
        // Behind it: the last address the proxy added; a forged first entry is not believed.
        assert_eq!(
            client_address(&parts(proxy, Some("1.2.3.4, 203.0.113.9")), &[proxy]),
            Some(client)
        );
        assert_eq!(client_address(&parts(proxy, None), &[proxy]), Some(proxy));
    }

    #[test]
    fn csrf_tokens_must_match() {
        let fields = vec![(CSRF_FIELD.to_owned(), "abc".to_owned())];
        assert!(check_csrf("abc", &fields).is_ok());
        assert!(check_csrf("abd", &fields).is_err());
        assert!(check_csrf("abc", &[]).is_err());
    }

    #[test]
    fn foreign_origins_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(
            check_origin(&h, false).is_ok(),
            "no Origin: same-site navigation or non-browser"
        );
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(check_origin(&h, false).is_ok());
        assert!(check_origin(&h, true).is_err(), "plain http to an https site");
        h.insert(header::ORIGIN, "https://127.0.0.1:8080".parse().unwrap());
        assert!(check_origin(&h, true).is_ok());
        assert!(check_origin(&h, false).is_err(), "the scheme counts");
        h.insert(header::ORIGIN, "ftp://127.0.0.1:8080".parse().unwrap());
        assert!(check_origin(&h, false).is_err());
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(check_origin(&h, false).is_err());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(check_origin(&h, true).is_err());
    }
}
