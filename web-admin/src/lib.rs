//! Doorloop web admin: the server-rendered Dutch UI (handlebars, escaped by default) and
//! the JSON API under `/api/v1`, on axum.
//!
//! Security: local accounts with argon2id hashes, server-side sessions in Doorloop's own
//! database (cookie HttpOnly, SameSite=Lax, Secure behind HTTPS, id rotated at login,
//! idle and absolute timeouts), a CSRF token on every form plus an Origin check, login
//! throttling, strict security headers, object-level checks on every case and task, and
//! an access-log row for every view of a case.

pub mod access;
pub mod accounts;
pub mod api;
pub mod auth;
mod cases;
mod error;
mod forms;
pub mod graph;
mod guard;
pub mod inzage;
pub mod oidc;
mod ops;
mod parties;
mod residents;
mod screens;
mod sessions;
mod views;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use doorloop_engine::engine::Engine;
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::store::{Store, User};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use error::WebError;

/// The state every handler is given.
pub(crate) type Shared = axum::extract::State<Arc<AppState>>;
pub(crate) use guard::BODY_TOO_LARGE_EN;

/// Settings of the web server.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` and send HSTS: set when Doorloop is reached over HTTPS.
    pub secure_cookies: bool,
    /// Whether this process runs the scheduler (then `/readyz` wants its passes).
    pub scheduler_in_process: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for login throttling
    /// and the log).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, active or not.
    pub absolute_timeout: Duration,
    /// Login through the municipality's identity provider, besides local accounts.
    pub oidc: Option<oidc::OidcConfig>,
    /// The shared secret outside systems sign `POST /api/v1/messages` with; without it only
    /// consultants' tokens may send messages.
    pub message_secret: Option<secrecy::SecretString>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            scheduler_in_process: false,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(10 * 60 * 60),
            oidc: None,
            message_secret: None,
        }
    }
}

/// Drawn pathway graphs by (pathway, version, marks).
pub struct GraphCache {
    drawn: Mutex<HashMap<(String, u32, u64), Arc<graph::Drawing>>>,
    /// Layouts run on blocking threads, at most this many at once: a large graph costs a
    /// core for a while and must not hold up the async threads or the other cores.
    layouts: tokio::sync::Semaphore,
}

impl Default for GraphCache {
    fn default() -> Self {
        GraphCache {
            drawn: Mutex::default(),
            layouts: tokio::sync::Semaphore::new(1),
        }
    }
}

impl GraphCache {
    const MAX: usize = 2048;

    pub async fn get_or_draw(
        &self,
        pv: &Arc<PathwayVersion>,
        active: &BTreeSet<String>,
    ) -> Result<Arc<graph::Drawing>, WebError> {
        self.get_or_draw_marked(pv, &graph::Marks::active(active)).await
    }

    /// A drawing with marks; versions are immutable, so (key, version, marks) names it.
    pub async fn get_or_draw_marked(
        &self,
        pv: &Arc<PathwayVersion>,
        marks: &graph::Marks,
    ) -> Result<Arc<graph::Drawing>, WebError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        marks.hash(&mut h);
        let key = (pv.key().to_owned(), pv.version, h.finish());
        if let Ok(map) = self.drawn.lock()
            && let Some(drawing) = map.get(&key)
        {
            return Ok(drawing.clone());
        }
        let drawing = self.draw(pv.clone(), marks.clone()).await?;
        if let Ok(mut map) = self.drawn.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(key, drawing.clone());
        }
        Ok(drawing)
    }

    /// Lays out a drawing off the async threads, one layout at a time.
    pub async fn draw(
        &self,
        pv: Arc<PathwayVersion>,
        marks: graph::Marks,
    ) -> Result<Arc<graph::Drawing>, WebError> {
        let _permit = self
            .layouts
            .acquire()
            .await
            .map_err(|e| WebError::Internal(format!("graph layout: {e}")))?;
        tokio::task::spawn_blocking(move || Arc::new(graph::draw_marked(&pv, &marks)))
            .await
            .map_err(|e| WebError::Internal(format!("graph layout: {e}")))
    }
}

/// (pathway key, name of its latest version), by key.
type Names = Vec<(String, String)>;

/// Role (team) names by role key.
type RoleNames = HashMap<String, String>;

/// Pathway names by key for menus, refreshed at most once a minute (the full listing
/// counts cases per version, too costly for every page).
#[derive(Default)]
pub struct PathwayNames {
    cached: Mutex<Option<(std::time::Instant, Arc<Names>)>>,
    roles: Mutex<Option<(std::time::Instant, Arc<RoleNames>)>>,
}

impl PathwayNames {
    pub async fn get(&self, engine: &Engine) -> Result<Arc<Names>, WebError> {
        if let Ok(guard) = self.cached.lock()
            && let Some((at, names)) = guard.as_ref()
            && at.elapsed() < Duration::from_secs(60)
        {
            return Ok(names.clone());
        }
        let names = Arc::new(engine.store().pathway_keys().await?);
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((std::time::Instant::now(), names.clone()));
        }
        Ok(names)
    }

    /// Role (team) names by key, as the latest versions of the pathways name them (the first
    /// pathway that declares a key names it).
    pub async fn roles(&self, engine: &Engine) -> Result<Arc<RoleNames>, WebError> {
        if let Ok(guard) = self.roles.lock()
            && let Some((at, names)) = guard.as_ref()
            && at.elapsed() < Duration::from_secs(60)
        {
            return Ok(names.clone());
        }
        let mut names = HashMap::new();
        for (key, _) in self.get(engine).await?.iter() {
            let pv = engine.pathway(key, None).await?;
            for (role, def) in &pv.pathway.roles {
                names.entry(role.clone()).or_insert_with(|| def.name.clone());
            }
        }
        let names = Arc::new(names);
        if let Ok(mut guard) = self.roles.lock() {
            *guard = Some((std::time::Instant::now(), names.clone()));
        }
        Ok(names)
    }

    /// A user's teams by name: "Wmo-consulent, Klantmanager Werk & Inkomen".
    pub async fn teams_of(&self, engine: &Engine, user: &User) -> Result<String, WebError> {
        let names = self.roles(engine).await?;
        Ok(user
            .teams
            .iter()
            .map(|t| {
                names
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| t.replace(['-', '_'], " "))
            })
            .collect::<Vec<_>>()
            .join(", "))
    }
}

/// Accounts by login name, kept for a few seconds: every page shows names of the case
/// team. The viewer's own account is read fresh ([`UserCache::fresh`]), so a deactivated
/// account or changed team takes effect on the next request, in every process.
#[derive(Default)]
pub struct UserCache {
    users: Mutex<HashMap<String, (std::time::Instant, Option<User>)>>,
}

impl UserCache {
    pub const TTL: Duration = Duration::from_secs(10);
    const MAX: usize = 10_000;

    pub async fn get(&self, store: &dyn Store, id: &str) -> Result<Option<User>, WebError> {
        if let Ok(map) = self.users.lock()
            && let Some((at, user)) = map.get(id)
            && at.elapsed() < Self::TTL
        {
            return Ok(user.clone());
        }
        self.fresh(store, id).await
    }

    /// The account as stored now (and kept for the names shown with it).
    pub async fn fresh(&self, store: &dyn Store, id: &str) -> Result<Option<User>, WebError> {
        let user = store.user(id).await?;
        if let Ok(mut map) = self.users.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(id.to_owned(), (std::time::Instant::now(), user.clone()));
        }
        Ok(user)
    }

    /// The name people read for an account: its display name, "systeem" for the engine's
    /// own actions, the login when the account is gone.
    pub async fn name(&self, store: &dyn Store, id: &str) -> Result<String, WebError> {
        if id == "system" {
            return Ok("systeem".to_owned());
        }
        Ok(self
            .get(store, id)
            .await?
            .map_or_else(|| id.to_owned(), |u| u.display_name))
    }
}

/// What every handler shares.
pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: WebConfig,
    pub access_log: access::AccessLog,
    pub throttle: auth::Throttle,
    /// Verified against for unknown login names, so timing does not reveal them.
    pub dummy_hash: String,
    pub graphs: GraphCache,
    pub pathway_names: PathwayNames,
    pub users: UserCache,
    pub oidc: Option<oidc::Oidc>,
    /// The one clock handlers read (the engine's).
    pub clock: Arc<dyn doorloop_engine::time::clock::Clock>,
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The whole web application: pages, API and security layers. Call within a tokio runtime.
pub fn router(engine: Arc<Engine>, config: WebConfig) -> Result<Router, WebError> {
    let dummy_hash =
        auth::hash_password("doorloop-dummy-password").map_err(|e| WebError::Internal(e.to_string()))?;
    let store = engine.store().clone();
    let idle = time::Duration::seconds(i64::try_from(config.idle_timeout.as_secs()).unwrap_or(i64::MAX));
    let clock = engine.clock().clone();
    let sessions = SessionManagerLayer::new(sessions::DbSessionStore::new(
        store.clone(),
        clock.clone(),
        config.idle_timeout,
    ))
    .with_name("doorloop_sessie")
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_secure(config.secure_cookies)
    .with_expiry(Expiry::OnInactivity(idle));
    let secure = config.secure_cookies;
    let oidc = config.oidc.clone().map(oidc::Oidc::new).transpose()?;
    let state = Arc::new(AppState {
        oidc,
        access_log: access::AccessLog::start(store.clone(), clock.clone()),
        clock: clock.clone(),
        engine,
        config,
        throttle: auth::Throttle::new(),
        dummy_hash,
        graphs: GraphCache::default(),
        pathway_names: PathwayNames::default(),
        users: UserCache::default(),
    });
    let purge_clock = clock.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = store.sessions_purge(purge_clock.now()).await {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
        }
    });
    let pages = page_routes().router.fallback(screens::not_found).layer(sessions);
    let app = ops_routes()
        .router
        .merge(api::routes().router)
        .merge(pages)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::observe))
        .with_state(state);
    let mut app = guard::harden(app)
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        .layer(header_layer(header::CACHE_CONTROL, "no-store"));
    if secure {
        app = app.layer(header_layer(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        ));
    }
    Ok(app)
}

/// A router that remembers its paths, so that tests walk exactly what is served (the
/// authorisation matrix fails on a route it has no rule for).
pub(crate) struct Routes<S> {
    pub(crate) router: Router<S>,
    pub(crate) paths: Vec<&'static str>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub(crate) fn new() -> Self {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub(crate) fn route(mut self, path: &'static str, methods: axum::routing::MethodRouter<S>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, methods);
        self
    }
}

/// Every path the web admin serves: pages, API and operations.
pub fn route_paths() -> Vec<&'static str> {
    let mut paths = ops_routes().paths;
    paths.extend(api::routes().paths);
    paths.extend(page_routes().paths);
    paths
}

fn ops_routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/static/app.css", get(screens::login::css))
        .route("/static/editor.js", get(screens::login::editor_js))
        .route("/static/graph.js", get(screens::login::graph_js))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
}

/// The HTML screens (behind the session layer).
fn page_routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/", get(screens::login::home))
        .route(
            "/inloggen",
            get(screens::login::login_form).post(screens::login::login),
        )
        .route("/uitloggen", post(screens::login::logout))
        .route("/inloggen/oidc", get(oidc::start))
        .route("/inloggen/oidc/terug", get(oidc::callback))
        .route("/taken", get(screens::tasks::my_tasks))
        .route(
            "/inwoners",
            get(screens::residents::search).post(screens::residents::create),
        )
        .route("/inwoners/nieuw", get(screens::residents::new_form))
        .route("/inwoners/{id}", get(screens::residents::show))
        .route("/inwoners/{id}/bsn", post(screens::residents::show_bsn))
        .route("/inwoners/{id}/inzage", get(screens::residents::inzage))
        .route("/inwoners/{id}/bewaarplicht", post(screens::retention::set_hold))
        .route(
            "/inwoners/{id}/bewerken",
            get(screens::residents::edit_form).post(screens::residents::update),
        )
        .route("/inwoners/{id}/aanmelden", post(screens::residents::enrol))
        .route(
            "/inwoners/{id}/voorzieningen",
            post(screens::residents::record_provision),
        )
        .route(
            "/inwoners/{id}/voorzieningen/{kind}/heractiveren",
            post(screens::residents::reactivate),
        )
        .route("/casussen", get(screens::case::cases))
        .route("/casussen/{id}", get(screens::case::case_page))
        .route("/casussen/{id}/taken/{task}", get(screens::task::task_page))
        .route(
            "/casussen/{id}/taken/{task}/afronden",
            post(screens::task::complete_task),
        )
        .route(
            "/casussen/{id}/taken/{task}/bericht",
            post(screens::task::receive_message),
        )
        .route(
            "/casussen/{id}/taken/{task}/bezoek",
            post(screens::task::plan_visit),
        )
        .route("/werkvoorraad", get(screens::tasks::team_work))
        .route("/casussen/{id}/intrekken", post(screens::case::withdraw))
        .route("/casussen/{id}/route/{step}", post(screens::case::choose_route))
        .route("/casussen/{id}/notitie", post(screens::case::note))
        .route("/casussen/{id}/organisaties", post(screens::case::involve))
        .route(
            "/casussen/{id}/organisaties/{organisation}/intrekken",
            post(screens::case::withdraw_party),
        )
        .route("/casussen/{id}/taak-toevoegen", post(screens::case::add_task))
        .route(
            "/casussen/{id}/taken/{task}/termijn/{what}",
            post(screens::case::clock),
        )
        .route("/casussen/{id}/taken/{task}/oppakken", post(screens::task::claim))
        .route(
            "/casussen/{id}/taken/{task}/overdragen",
            post(screens::task::hand_over),
        )
        .route(
            "/casussen/{id}/taken/{task}/vrijgeven",
            post(screens::task::release),
        )
        .route("/vastgelopen", get(screens::figures::stuck))
        .route("/vastgelopen/casussen", get(screens::figures::stuck_cases))
        .route(
            "/analyse",
            get(|| async { axum::response::Redirect::to("/vastgelopen") }),
        )
        .route("/analyse/knelpunten", get(screens::figures::bottlenecks))
        .route(
            "/analyse/knelpunten/graaf.svg",
            get(screens::figures::bottleneck_graph),
        )
        .route("/analyse/uitkomsten", get(screens::figures::outcomes))
        .route("/analyse/uitkomsten.csv", get(screens::figures::outcomes_csv))
        .route("/analyse/instroom", get(screens::figures::funnel))
        .route("/trajecten", get(screens::pathways::list))
        .route(
            "/trajecten/nieuw",
            get(screens::pathways::new_form).post(screens::pathways::save_new),
        )
        .route(
            "/trajecten/importeren",
            get(screens::pathways::import_form).post(screens::pathways::import_bpmn),
        )
        .route("/trajecten/{key}", get(screens::pathways::show))
        .route(
            "/trajecten/{key}/bewerken",
            get(screens::pathways::edit_form).post(screens::pathways::save),
        )
        .route(
            "/trajecten/{key}/concept/graaf.svg",
            get(screens::pathways::draft_graph),
        )
        .route(
            "/trajecten/{key}/concept/verwijderen",
            post(screens::pathways::discard),
        )
        .route("/trajecten/{key}/publiceren", post(screens::pathways::publish))
        .route(
            "/trajecten/{key}/overzetten",
            get(screens::migration::form).post(screens::migration::apply),
        )
        .route(
            "/trajecten/{key}/overzetten/proef",
            get(screens::migration::dry_run),
        )
        .route("/trajecten/{key}/{version}/graaf.svg", get(screens::case::graph))
        .route(
            "/trajecten/{key}/{version}/bestand",
            get(screens::pathways::export),
        )
        .route("/beheer", get(screens::admin::admin))
        .route("/beheer/gebruikers", post(screens::admin::create_user))
        .route("/beheer/berichten", get(screens::admin::messages))
        .route("/toegangslog", get(screens::admin::access_log))
        .route("/bewaartermijnen", get(screens::retention::page_view))
        .route(
            "/beheer/berichten/{id}/opnieuw",
            post(screens::admin::retry_message),
        )
        .route(
            "/beheer/gebruikers/{id}/rechten",
            post(screens::admin::set_rights),
        )
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Serves `app` on `listener` until `shutdown` completes; client addresses reach the
/// login throttle.
pub async fn serve(
    app: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
