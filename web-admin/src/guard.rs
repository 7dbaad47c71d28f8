//! Answers that no handler wrote: the body limit, extractor rejections (a bad query string,
//! a path that does not parse) and panics. Each becomes a Dutch page, or JSON under
//! `/api/`, instead of axum's English plain text; a panic in one request answers 500 and
//! leaves every other request alone.

use std::any::Any;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The largest request body, in bytes.
pub const MAX_BODY: usize = 1024 * 1024;
/// The API's words for a body over [`MAX_BODY`].
pub const BODY_TOO_LARGE_EN: &str = "the request body is larger than the limit of 1 MiB";

/// What a user is told for an error status no handler explained.
fn dutch(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => {
            "Het verzoek kon niet worden gelezen. Controleer de invoer of de link en probeer het opnieuw."
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "Wat u verstuurde is te groot: hoogstens 1 MB per formulier of bestand."
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Dit soort inhoud wordt hier niet aangenomen.",
        StatusCode::UNPROCESSABLE_ENTITY => "De invoer kon niet worden verwerkt. Controleer de velden.",
        StatusCode::METHOD_NOT_ALLOWED => "Deze actie is op dit adres niet mogelijk.",
        StatusCode::NOT_FOUND => "Deze pagina of casus bestaat niet, of u heeft er geen toegang toe.",
        s if s.is_server_error() => "Er ging iets mis aan onze kant. Probeer het later opnieuw.",
        _ => "Het verzoek is geweigerd.",
    }
}

/// The stable code of an error status no handler explained (see `api::ErrorBody`).
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "field_invalid",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

fn english(status: StatusCode, text: &str) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => BODY_TOO_LARGE_EN.to_owned(),
        s if s.is_server_error() => "internal error".to_owned(),
        _ if text.trim().is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => crate::error::shorten(text.trim()),
    }
}

/// The layers every route runs under: a panic answers 500, bodies over [`MAX_BODY`]
/// answer 413, and plain-text errors get the site's own form.
pub fn harden(app: axum::Router) -> axum::Router {
    app.layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::from_fn(plain_errors))
}

/// Rewrites error answers in plain text (or without a body) into the site's own form.
pub async fn plain_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let plain = content_type.is_empty() || content_type.starts_with("text/plain");
    if !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut out = if api {
        (
            status,
            axum::Json(json!({ "code": code(status), "message": english(status, &text) })),
        )
            .into_response()
    } else {
        crate::views::error_page(status, dutch(status))
    };
    // Keep what the answer said besides its body (Allow on 405, WWW-Authenticate, …).
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// A panicking handler answers 500 in plain text; [`plain_errors`] gives it its form.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    // The panic message is the program's text, not a user's; cut it short all the same.
    tracing::error!(panic = %crate::error::shorten(&what), "a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "internal error",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    #[allow(clippy::panic)]
    async fn boom() -> &'static str {
        panic!("a handler bug")
    }

    async fn echo(body: String) -> String {
        body
    }

    fn app() -> axum::Router {
        harden(
            axum::Router::new()
                .route("/api/v1/boom", get(boom))
                .route("/boom", get(boom))
                .route("/api/v1/echo", post(echo))
                .route("/ok", get(|| async { "ok" })),
        )
    }

    async fn call(app: &axum::Router, req: axum::http::Request<Body>) -> (StatusCode, String, String) {
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let ctype = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, ctype, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panic_answers_500_and_the_next_request_is_served() {
        let app = app();
        let get = |p: &str| axum::http::Request::get(p).body(Body::empty()).unwrap();
        let (status, ctype, body) = call(&app, get("/api/v1/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ctype, "application/json");
        assert_eq!(body, r#"{"code":"internal","message":"internal error"}"#);
        let (status, ctype, body) = call(&app, get("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(body.contains("Er ging iets mis aan onze kant"), "{body}");
        assert!(!body.contains("handler bug"));
        assert_eq!(call(&app, get("/ok")).await.2, "ok");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_answers_413_in_json() {
        let req = axum::http::Request::post("/api/v1/echo")
            .body(Body::from(vec![b'x'; MAX_BODY + 1]))
            .unwrap();
        let (status, ctype, body) = call(&app(), req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(ctype, "application/json");
        assert!(body.contains(BODY_TOO_LARGE_EN), "{body}");
    }
}
