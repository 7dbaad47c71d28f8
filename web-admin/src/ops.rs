//! Endpoints for operations: `GET /healthz` (the process answers), `GET /readyz` (it can
//! serve: database reachable, schema current, writer and scheduler running) and
//! `GET /metrics` (OpenMetrics text); plus the middleware that gives every request a
//! span with a request id and counts responses by route template and status.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorloop_engine::metrics::HttpLabels;
use serde_json::json;

use crate::AppState;

type Shared = State<Arc<AppState>>;

/// How old the scheduler's last pass may be before the process counts as not ready.
const SCHEDULER_STALE: Duration = Duration::from_secs(300);

/// The header carrying a request's id (taken from the client or proxy when present).
pub const REQUEST_ID: &str = "x-request-id";

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(app): Shared) -> Response {
    let engine = &app.engine;
    let database = match engine.store().schema_current().await {
        Ok(true) => ("ok", "ok"),
        Ok(false) => ("ok", "behind"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            ("unreachable", "unknown")
        }
    };
    let writer = if engine.writer_running() { "ok" } else { "stopped" };
    let scheduler = if !app.config.scheduler_in_process {
        "elsewhere"
    } else {
        let now = app.clock.now().timestamp_millis();
        match engine.metrics().last_scheduler_pass() {
            Some(at) if now - at <= SCHEDULER_STALE.as_millis() as i64 => "ok",
            Some(_) => "stalled",
            None => "starting",
        }
    };
    let ready = database == ("ok", "ok") && writer == "ok" && matches!(scheduler, "ok" | "elsewhere");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({
            "ready": ready,
            "database": database.0,
            "migrations": database.1,
            "writer": writer,
            "scheduler": scheduler,
        })),
    )
        .into_response()
}

pub async fn metrics(State(app): Shared) -> Response {
    let metrics = app.engine.metrics();
    match app.engine.store().outbox_counts(app.clock.now()).await {
        Ok(c) => metrics.outbox(
            i64::try_from(c.pending).unwrap_or(i64::MAX),
            i64::try_from(c.dead).unwrap_or(i64::MAX),
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: outbox counts unavailable"),
    }
    match metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be encoded");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Gives the request an id (the caller's `X-Request-Id` when it is short and printable,
/// else a new one), runs it inside a span that names method, route template and id, sends
/// the id back, and counts the response. Paths and query strings are not logged: they
/// may hold a search for a person's name.
pub async fn observe(State(app): Shared, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(geen route)".to_owned());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = std::time::Instant::now();
    let mut res = {
        use tracing::Instrument;
        next.run(req).instrument(span.clone()).await
    };
    let status = res.status().as_u16();
    span.in_scope(|| {
        tracing::debug!(status, millis = started.elapsed().as_millis() as u64, "answered");
    });
    app.engine.metrics().http_response(HttpLabels {
        method,
        route,
        status,
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}
