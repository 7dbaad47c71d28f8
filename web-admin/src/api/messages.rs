//! `POST /api/v1/messages`: a message from an outside party (UWV's decision, a provider's
//! report) ends the wait that awaits it.
//!
//! Sent by a consultant's token (the cases they may act on) or, from a system outside,
//! signed like Doorloop's own webhooks: `X-Doorloop-Timestamp` (Unix seconds) and
//! `X-Doorloop-Signature: sha256=<hex of HMAC-SHA256 over "{timestamp}.{body}">` with the
//! configured message secret. A message sent again with the same `id` acts once.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use doorloop_engine::engine::{EngineError, IncomingMessage};
use doorloop_engine::store::{User, UserRole};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use super::{ApiError, ApiResult, ApiUser, ErrorBody, parse_json, read_json_body};
use crate::access::CaseAccess;
use crate::error::WebError;

type Shared = State<std::sync::Arc<crate::AppState>>;

/// How far a signed message's timestamp may be from the server's clock.
const SIGNATURE_WINDOW_SECONDS: i64 = 300;

/// The actor on the timeline of a message sent by a signed outside system.
pub const SIGNED_SENDER: &str = "koppeling";

/// A message from an outside party.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// The message a wait step names (`uwv_besluit`): lower case, digits and `_`.
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9_]+$")]
    name: String,
    /// The sender's own id for this message; sent again with the same id it acts once.
    #[schema(min_length = 1, max_length = 200, pattern = "^\\S+$")]
    id: String,
    /// The case the message is for. Give this, `resident`, `business_key` or `signal`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    case: Option<String>,
    /// The resident's reference (`DL-000123`): every case of theirs waiting for the message.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    resident: Option<String>,
    /// The business key a case was started with (the sender's own case number): every
    /// active case with that key waiting for the message.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    business_key: Option<String>,
    /// A signal for every case that waits for it (a new budget year, a changed rule),
    /// instead of `case`, `resident` or `business_key`.
    #[serde(default)]
    signal: bool,
    /// Answers for the waiting step's fields (`besluit`, `datum`); checked like a form.
    #[serde(default)]
    variables: BTreeMap<String, Value>,
}

/// What the message did.
#[derive(Serialize, ToSchema)]
pub struct MessageOut {
    /// The cases whose wait the message ended (now or, for a repeat, before).
    cases: Vec<String>,
    /// True when every one of them had this message (same `id`) already: nothing changed.
    duplicate: bool,
}

/// Who sent a message: a user by token, or a system that signed it.
pub enum Sender {
    User(User),
    Signed,
}

/// A message body with its sender, checked before the body is read as JSON.
pub struct Sent {
    sender: Sender,
    message: MessageIn,
}

impl FromRequest<std::sync::Arc<crate::AppState>> for Sent {
    type Rejection = ApiError;

    async fn from_request(
        req: Request,
        app: &std::sync::Arc<crate::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signature = header(&parts.headers, "x-doorloop-signature");
        let sender = match signature {
            Some(_) => Sender::Signed,
            None => Sender::User(ApiUser::from_request_parts(&mut parts, app).await?.0),
        };
        let timestamp = header(&parts.headers, "x-doorloop-timestamp");
        let bytes = read_json_body(Request::from_parts(parts, body), app).await?;
        if let Some(signature) = signature {
            verify(app, &signature, timestamp.as_deref(), &bytes)?;
        }
        Ok(Sent {
            sender,
            message: parse_json(&bytes)?,
        })
    }
}

fn header(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn bad_signature(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "signature_invalid", message, None)
}

/// Checks `sha256=<hex>` over `{timestamp}.{body}` with the message secret, in constant time.
fn verify(
    app: &crate::AppState,
    signature: &str,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(secret) = &app.config.message_secret else {
        return Err(bad_signature(
            "signed messages are not accepted here: no message secret is configured ([messages] secret)",
        ));
    };
    let Some(timestamp) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) else {
        return Err(bad_signature(
            "X-Doorloop-Timestamp must be the Unix time in seconds",
        ));
    };
    if (app.clock.now().timestamp() - timestamp).abs() > SIGNATURE_WINDOW_SECONDS {
        return Err(bad_signature(
            "X-Doorloop-Timestamp is more than 5 minutes from the server's clock",
        ));
    }
    let Some(given) = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return Err(bad_signature("X-Doorloop-Signature must be sha256=<hex>"));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| bad_signature("the message secret cannot key HMAC-SHA256"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| bad_signature("the signature does not match the body"))
}

fn unmatched(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "message_unmatched",
        format!("no case waits for message `{name}`"),
        None,
    )
}

#[utoipa::path(post, path = "/api/v1/messages", tag = "messages", operation_id = "send_message",
    request_body = MessageIn,
    responses((status = 200, description = "The cases whose wait the message ended; `duplicate` when it had acted before", body = MessageOut),
              (status = 401, description = "No valid token, or a signature that does not match", body = ErrorBody),
              (status = 403, description = "The token's user may not act on the case", body = ErrorBody),
              (status = 404, description = "No case (of those the sender may reach) waits for this message (`message_unmatched`)", body = ErrorBody),
              (status = 422, description = "Not exactly one of `case`, `resident`, `business_key` and `signal`, or answers that do not fit the waiting step; `field` names it", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send(State(app): Shared, sent: Sent) -> ApiResult<Json<MessageOut>> {
    let Sent { sender, message } = sent;
    let (actor, user) = match &sender {
        Sender::User(user) => {
            if user.role != UserRole::Consultant {
                return Err(
                    WebError::Forbidden("only consultants and signed systems send messages".into()).into(),
                );
            }
            (user.id.clone(), Some(user))
        }
        Sender::Signed => (SIGNED_SENDER.to_owned(), None),
    };
    let addressed = [
        message.case.is_some(),
        message.resident.is_some(),
        message.business_key.is_some(),
        message.signal,
    ];
    if addressed.iter().filter(|given| **given).count() != 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_invalid",
            "give one of `case`, `resident`, `business_key` or `signal: true`",
            Some("case"),
        ));
    }
    let cases = match (&message.case, &message.resident, &message.business_key) {
        (Some(case), _, _) => vec![case.clone()],
        (_, _, Some(key)) => app
            .engine
            .cases_with_business_key(key)
            .await
            .map_err(WebError::from)?,
        (_, None, None) => app
            .engine
            .cases_awaiting(&message.name)
            .await
            .map_err(WebError::from)?,
        (_, Some(reference), _) => match app.engine.resident_by_key(reference).await {
            Ok(r) => app
                .engine
                .store()
                .resident_cases(&r.id)
                .await
                .map_err(WebError::from)?
                .into_iter()
                .filter(|c| c.status == "active")
                .map(|c| c.id)
                .collect(),
            Err(EngineError::ResidentNotFound { .. }) => Vec::new(),
            Err(e) => return Err(WebError::from(e).into()),
        },
    };
    // A user reaches only the cases they may act on; others stay unseen (answered as
    // unmatched, so that ids do not leak).
    let mut reachable = Vec::new();
    for id in cases {
        let Some(user) = user else {
            reachable.push(id);
            continue;
        };
        match crate::cases::load(&app, user, &id).await {
            Ok(case) if case.access == CaseAccess::Act => reachable.push(id),
            Ok(_) if message.case.is_some() => {
                return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()).into());
            }
            Ok(_) | Err(WebError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let incoming = IncomingMessage {
        name: message.name.clone(),
        id: message.id,
        variables: message.variables,
    };
    let delivered = match app
        .engine
        .deliver_message(&reachable, &incoming, &actor, app.clock.now())
        .await
    {
        Ok(d) => d,
        Err(EngineError::Runtime(r)) => {
            let field = super::runtime_field(&r).map(|f| format!("variables.{f}"));
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                WebError::Engine(EngineError::Runtime(r.clone())).code(),
                r.to_string(),
                field.as_deref(),
            ));
        }
        Err(e) => return Err(WebError::from(e).into()),
    };
    if delivered.is_empty() {
        // The message's name only: its id and variables may carry what the sender knows.
        tracing::warn!(message = %message.name, "no case waits for this message");
        return Err(unmatched(&message.name));
    }
    for d in &delivered {
        match user {
            Some(user) => app.access_log.record(user, &d.case, "api: bericht").await?,
            None => {
                tracing::info!(case_id = %d.case, message = %message.name, duplicate = d.duplicate, "signed message delivered")
            }
        }
    }
    Ok(Json(MessageOut {
        duplicate: delivered.iter().all(|d| d.duplicate),
        cases: delivered.into_iter().map(|d| d.case).collect(),
    }))
}
