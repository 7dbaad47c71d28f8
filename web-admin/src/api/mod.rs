//! The JSON API under `/api/v1` for other municipal systems, with its OpenAPI document.
//! Authentication: `Authorization: Bearer <token>` (per user, `doorloop token create`).
//! The same object-level rules as the screens apply; foreign objects answer 404.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, routing};
use chrono::{DateTime, Utc};
use doorloop_engine::engine::EngineError;
use doorloop_engine::runtime::{CaseState, RuntimeError};
use doorloop_engine::store::{StoreError, TaskFilter, TaskRow, UserRole, WorkFilter};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

mod messages;
mod parties;
mod residents;

use crate::AppState;
use crate::auth::require;
use crate::cases::{CaseAct, assign};
use crate::error::WebError;

type Shared = State<Arc<AppState>>;

/// An API error: `{"code": "...", "message": "...", "field": "..."}` with a fitting status.
/// `code` is stable (`task_already_completed`, `field_invalid`, …): clients branch on it;
/// `message` says the same in English for a person.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code of what is wrong: `not_found`, `unauthorized`, `forbidden`,
    /// `bad_request`, `json_malformed`, `query_invalid`, `unsupported_media_type`,
    /// `payload_too_large`, `field_missing`, `field_unknown`, `field_invalid`,
    /// `variable_unknown`, `pathway_unknown`, `pathway_invalid`, `pathway_unreadable`,
    /// `case_changed`, `task_already_completed`, `action_not_allowed`, `database_unavailable`
    /// (503: try again shortly), `database_full` (507: the disk is full, nothing was stored;
    /// an administrator must make room), `internal`.
    code: &'static str,
    /// What is wrong, in English.
    message: String,
    /// The request field that is wrong, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// Validation problems of a pathway, each naming its step and line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        field: Option<&str>,
    ) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: field.map(str::to_owned),
                problems: Vec::new(),
            },
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown API token (Authorization: Bearer …)",
            None,
        )
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found", None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn runtime_field(e: &RuntimeError) -> Option<&str> {
    match e {
        RuntimeError::MissingField { field, .. }
        | RuntimeError::UnknownField { field, .. }
        | RuntimeError::FieldType { field, .. } => Some(field),
        RuntimeError::UnknownVariable { name } => Some(name),
        _ => None,
    }
}

impl From<WebError> for ApiError {
    /// The one status table ([`WebError::status`]) and code table ([`WebError::code`]);
    /// only the English wording and the field are the API's own.
    fn from(e: WebError) -> ApiError {
        let status = e.status();
        let code = e.code();
        match e {
            _ if status == StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
                status,
                code,
                "the database is unavailable for a moment; try again in a minute (check first whether your last change was stored)",
                None,
            ),
            _ if status == StatusCode::INSUFFICIENT_STORAGE => {
                tracing::error!(error = %e, "the database's disk is full");
                ApiError::new(
                    status,
                    code,
                    "the database's disk is full: nothing of this request was stored; an administrator must make room, then try again",
                    None,
                )
            }
            WebError::NotFound
            | WebError::Engine(EngineError::CaseNotFound { .. })
            | WebError::Store(StoreError::PathwayNotFound { .. })
            | WebError::Engine(EngineError::Store(StoreError::PathwayNotFound { .. })) => {
                ApiError::not_found()
            }
            WebError::Forbidden(m) | WebError::BadRequest(m) => ApiError::new(status, code, m, None),
            WebError::StartNotAllowed { pathway, who } => ApiError::new(
                status,
                code,
                format!(
                    "only these roles may start a case on {pathway}: {}",
                    who.join(", ")
                ),
                Some("pathway"),
            ),
            WebError::Engine(EngineError::Conflict { case }) => ApiError::new(
                status,
                code,
                format!("case {case} was changed at the same time; reload it and try again"),
                None,
            ),
            WebError::Engine(EngineError::Runtime(RuntimeError::TaskNotOpen { case, task })) => {
                ApiError::new(
                    status,
                    code,
                    format!("task {task} of case {case} is no longer open"),
                    None,
                )
            }
            WebError::Engine(EngineError::Runtime(r)) => {
                let field = runtime_field(&r).map(|f| format!("data.{f}"));
                ApiError::new(status, code, r.to_string(), field.as_deref())
            }
            WebError::Engine(EngineError::Invalid(problems)) => ApiError {
                status,
                body: ErrorBody {
                    code,
                    message: format!("the pathway has {} problem(s)", problems.len()),
                    field: Some("source".into()),
                    problems: problems.iter().map(|p| p.to_string()).collect(),
                },
            },
            WebError::Engine(EngineError::ResidentInvalid(p)) => {
                ApiError::new(status, code, p.message, Some(p.field))
            }
            WebError::Engine(EngineError::Bsn(b)) => ApiError::new(status, code, b.to_string(), Some("bsn")),
            WebError::Engine(EngineError::Definition(d)) => {
                ApiError::new(status, code, d.to_string(), Some("source"))
            }
            other => {
                let message = other.public_message();
                ApiError::new(status, code, message, None)
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        WebError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        WebError::from(e).into()
    }
}

/// A JSON body whose errors name the field (`missing field `x``, `unknown field `y``).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A request's body, refused unless it is declared JSON or fits the size limit.
pub(crate) async fn read_json_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
                None,
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", crate::BODY_TOO_LARGE_EN, None)
            } else {
                ApiError::new(status, "bad_request", "the request body could not be read", None)
            }
        })?;
        Ok(bytes)
    }
}

/// Reads a JSON body; a wrong value names its field by its path (`data.leeftijd`,
/// `variables.items[2]`), and no error message echoes more than a few dozen characters
/// of what was sent.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = crate::error::shorten(&strip_position(&inner.to_string()));
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "json_malformed",
                    format!(
                        "malformed JSON at line {}, column {}",
                        inner.line(),
                        inner.column()
                    ),
                    None,
                ));
            }
            // A missing field is named in the message; the path is its parent's.
            let named = message.split('`').nth(1).map(str::to_owned);
            let field = match (message.starts_with("missing field"), path.as_str(), named) {
                (true, ".", Some(n)) => Some(n),
                (true, parent, Some(n)) => Some(format!("{parent}.{n}")),
                (_, ".", _) => None,
                (_, path, _) => Some(path.to_owned()),
            };
            let code = if message.starts_with("missing field") {
                "field_missing"
            } else if message.starts_with("unknown field") {
                "field_unknown"
            } else {
                "field_invalid"
            };
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                message,
                field.as_deref(),
            ))
        }
    }
}

/// serde_json appends " at line L column C"; the API says where by the field instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string read as `T`; a bad value answers JSON naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        crate::error::read_query(parts.uri.query().unwrap_or(""))
            .map(ApiQuery)
            .map_err(|bad| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "query_invalid",
                    format!("bad query string: {}", bad.message),
                    bad.field.as_deref(),
                )
            })
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The user behind an API request's `Authorization: Bearer` token.
pub struct ApiUser(pub doorloop_engine::store::User);

impl axum::extract::FromRequestParts<Arc<AppState>> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(ApiError::unauthorized());
        }
        match state
            .engine
            .store()
            .user_by_token(&crate::auth::token_hash(token), state.clock.now())
            .await
        {
            Ok(Some(user)) => Ok(ApiUser(user)),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(e) => Err(WebError::from(e).into()),
        }
    }
}

// ---- schemas ----

/// A case in a listing.
#[derive(Serialize, ToSchema)]
pub struct CaseOut {
    id: String,
    pathway_key: String,
    pathway_version: u32,
    /// active, ended or withdrawn
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The resident the case belongs to.
    resident_id: Option<String>,
}

impl From<doorloop_engine::store::CaseSummary> for CaseOut {
    fn from(c: doorloop_engine::store::CaseSummary) -> CaseOut {
        CaseOut {
            id: c.id,
            pathway_key: c.pathway_key,
            pathway_version: c.pathway_version,
            status: c.status,
            created_at: c.created_at,
            updated_at: c.updated_at,
            resident_id: c.resident_id,
        }
    }
}

/// One case with its open work.
#[derive(Serialize, ToSchema)]
pub struct CaseDetail {
    id: String,
    pathway_key: String,
    pathway_version: u32,
    status: String,
    outcome: Option<String>,
    started_at: Option<DateTime<Utc>>,
    /// Current participatieladder rung (1–6).
    rung: Option<u8>,
    #[schema(value_type = Object)]
    variables: BTreeMap<String, Value>,
    tasks: Vec<CaseTask>,
    stalls: Vec<CaseStall>,
    /// Login names of the case team.
    team: Vec<String>,
    /// The resident the case belongs to.
    resident_id: Option<String>,
    /// The outside party's reference the case was started with, if any.
    business_key: Option<String>,
    /// The case this one was started from (a linked pathway), if any.
    came_from: Option<String>,
    /// Cases started from this one.
    links: Vec<CaseLink>,
}

/// A case started from another for the same resident.
#[derive(Serialize, ToSchema)]
pub struct CaseLink {
    case_id: String,
    pathway_key: String,
    /// The step that started it.
    step: String,
    started_at: DateTime<Utc>,
    /// Its outcome once it has ended.
    outcome: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CaseTask {
    task_id: String,
    step: String,
    roles: Vec<String>,
    assignee: Option<String>,
    opened_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    /// The reasoning behind the deadline (Dutch).
    due_explanation: Vec<String>,
    visit_at: Option<DateTime<Utc>>,
    /// Set on work added outside the drawn pathway (`step` is then `adhoc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    adhoc: Option<AdHocOut>,
}

/// Work added outside the drawn pathway.
#[derive(Serialize, ToSchema)]
pub struct AdHocOut {
    title: String,
    reason: String,
    /// The step the case stood at when it was added.
    at_step: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CaseStall {
    reason: String,
    step: Option<String>,
    party: Option<String>,
    since: DateTime<Utc>,
}

/// An open task in a work list.
#[derive(Serialize, ToSchema)]
pub struct TaskOut {
    case_id: String,
    task_id: String,
    step: String,
    roles: Vec<String>,
    assignee: Option<String>,
    opened_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    pathway_key: String,
    pathway_version: u32,
    stall_reason: Option<String>,
    /// The title of work added outside the drawn pathway (`step` is then `adhoc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// `on_track`, `at_risk` (a typical slow case of this step would finish after the
    /// deadline) or `overdue`; absent without a deadline.
    risk: Option<String>,
}

impl From<TaskRow> for TaskOut {
    fn from(r: TaskRow) -> TaskOut {
        TaskOut {
            risk: None,
            case_id: r.case_id,
            task_id: r.task_id,
            step: r.step,
            title: r.title,
            roles: r.roles,
            assignee: r.assignee,
            opened_at: r.opened_at,
            due_at: r.due_at,
            pathway_key: r.pathway_key,
            pathway_version: r.pathway_version,
            stall_reason: r.stall_reason,
        }
    }
}

/// Start a case.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCase {
    /// Pathway key, e.g. `van-zorg-naar-werk`.
    #[schema(min_length = 1, max_length = 64)]
    pathway: String,
    /// The resident the case is for: their id or reference (`DL-000042`).
    #[schema(min_length = 1)]
    resident: String,
    /// Published version; the latest when left out.
    #[serde(default)]
    version: Option<u32>,
    /// The sender's own reference for the case (a UWV or provider case number): 1 to 100
    /// letters, digits and `- _ . / : #`, never a BSN. A message may address the case by it.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9][A-Za-z0-9._/:#-]*$")]
    business_key: Option<String>,
    /// Start variables declared by the pathway.
    #[serde(default)]
    #[schema(value_type = Object)]
    variables: BTreeMap<String, Value>,
}

/// Complete a task with its form data.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTask {
    #[serde(default)]
    #[schema(value_type = Object)]
    data: BTreeMap<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct PathwayOut {
    key: String,
    version: u32,
    name: String,
    published_at: DateTime<Utc>,
    /// Cases on this version.
    cases: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PathwayDetail {
    key: String,
    version: u32,
    /// The pathway definition (steps, roles, deadlines).
    #[schema(value_type = Object)]
    definition: Value,
}

/// Publish a pathway: the YAML source as a coordinator writes it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    source: String,
}

#[derive(Serialize, ToSchema)]
pub struct Published {
    key: String,
    version: u32,
}

#[derive(Serialize, ToSchema)]
pub struct StallOut {
    case_id: String,
    pathway_key: String,
    reason: String,
    step: Option<String>,
    party: Option<String>,
    since: DateTime<Utc>,
}

// ---- handlers ----

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases",
    responses((status = 200, description = "Cases the caller may see, most recently changed first", body = Vec<CaseOut>),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_cases(State(app): Shared, ApiUser(user): ApiUser) -> ApiResult<Json<Vec<CaseOut>>> {
    require(&user, &[UserRole::Consultant, UserRole::Manager])?;
    let only = (user.role == UserRole::Consultant).then_some(user.id.as_str());
    let org = crate::access::org_filter(&user);
    let rows = app
        .engine
        .store()
        .cases(only, &user.teams, org.as_ref(), 500)
        .await?;
    Ok(Json(rows.into_iter().map(CaseOut::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = CaseDetail), (status = 404, description = "Unknown, or not visible to the caller", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_case(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    app.access_log.record(&user, &id, "api").await?;
    Ok(Json(case_detail(&case.state, &user, &case.pv)))
}

/// A case as the API shows it.
/// The case's variables hold only what the caller may read (need to know): fields of a
/// category their role does not read are left out.
fn case_detail(
    state: &CaseState,
    user: &doorloop_engine::store::User,
    pv: &doorloop_engine::pathway::model::PathwayVersion,
) -> CaseDetail {
    let sight = crate::access::Sight::of(user, pv);
    CaseDetail {
        id: state.id.clone(),
        pathway_key: state.pathway_key.clone(),
        pathway_version: state.pathway_version,
        status: state.status.as_str().to_owned(),
        outcome: state.outcome.clone(),
        started_at: state.started_at,
        rung: state.rung,
        resident_id: state.resident.clone(),
        business_key: state.business_key.clone(),
        came_from: state.came_from.as_ref().map(|c| c.case.clone()),
        links: state
            .links
            .iter()
            .map(|l| CaseLink {
                case_id: l.case.clone(),
                pathway_key: l.pathway.clone(),
                step: l.step.clone(),
                started_at: l.started_at,
                outcome: l.outcome.clone(),
            })
            .collect(),
        variables: state
            .variables
            .iter()
            .filter(|(k, _)| sight.shows(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tasks: state
            .tasks
            .values()
            .map(|t| CaseTask {
                task_id: t.id.clone(),
                step: t.step.clone(),
                roles: t.roles.clone(),
                assignee: t.assignee.clone(),
                opened_at: t.opened_at,
                due_at: t.due.as_ref().map(|d| d.at),
                due_explanation: t.due.as_ref().map(|d| d.explanation.clone()).unwrap_or_default(),
                visit_at: t.visit.as_ref().map(|v| v.at),
                adhoc: t.adhoc.as_ref().map(|a| AdHocOut {
                    title: a.title.clone(),
                    reason: a.reason.clone(),
                    at_step: a.at_step.clone(),
                }),
            })
            .collect(),
        stalls: state
            .stalls
            .values()
            .map(|s| CaseStall {
                reason: s.reason.clone(),
                step: s.step.clone(),
                party: s.party.clone(),
                since: s.since,
            })
            .collect(),
        team: state.team.clone(),
    }
}

/// The case id an idempotency key stands for: the same key of the same user, the same case.
fn case_id_for(user: &str, key: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("doorloop case\n{user}\n{key}").as_bytes(),
    )
    .to_string()
}

#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = StartCase,
    params(("Idempotency-Key" = Option<String>, Header, description = "Sent again with the same key (1 to 200 visible ASCII characters), the start acts once: the answer is the case it started (200 instead of 201).")),
    responses((status = 201, body = CaseOut),
              (status = 200, description = "The same start sent again with its `Idempotency-Key`: the case it started", body = CaseOut),
              (status = 403, description = "Not a consultant, or none of the user's teams is in the pathway's `started_by` (`start_not_allowed`)", body = ErrorBody),
              (status = 422, description = "Unknown pathway or bad variables, a business key that is not one (`business_key_invalid`: a BSN, a space), a bad `Idempotency-Key`, or one used before for another start (`idempotency_key_reused`); `field` names it", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_case(
    State(app): Shared,
    ApiUser(user): ApiUser,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<StartCase>,
) -> ApiResult<(StatusCode, Json<CaseOut>)> {
    require(&user, &[UserRole::Consultant])?;
    crate::cases::may_start(&app, &user, &body.pathway, body.version).await?;
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(k.to_owned())
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "field_invalid",
                    "Idempotency-Key must be 1 to 200 visible ASCII characters",
                    Some("Idempotency-Key"),
                ));
            }
        },
    };
    let now = app.clock.now();
    let resident = match app.engine.resident_by_key(&body.resident).await {
        Ok(r) => r,
        Err(EngineError::ResidentNotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "resident_unknown",
                format!("there is no resident `{}`", body.resident),
                Some("resident"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let id = match &idempotency {
        Some(key) => case_id_for(&user.id, key),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let started = app
        .engine
        .start_case_with_id(
            &id,
            &body.pathway,
            body.version,
            &user.id,
            &resident.id,
            body.business_key.as_deref(),
            body.variables,
            now,
        )
        .await
        .map(|o| o.ok_or(id));
    let out = match started {
        Ok(Ok(out)) => out,
        // Sent before with this key: the case it started, if it is the same start.
        Ok(Err(id)) => {
            let state = app.engine.load_fresh(&id).await.map_err(WebError::from)?;
            let same_key =
                state.business_key.as_deref().map(str::trim) == body.business_key.as_deref().map(str::trim);
            if state.pathway_key != body.pathway
                || state.resident.as_deref() != Some(resident.id.as_str())
                || !same_key
            {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key started another case (another pathway, resident or business key) before",
                    Some("Idempotency-Key"),
                ));
            }
            return Ok((
                StatusCode::OK,
                Json(CaseOut {
                    id: state.id.clone(),
                    pathway_key: state.pathway_key.clone(),
                    pathway_version: state.pathway_version,
                    status: state.status.as_str().to_owned(),
                    created_at: state.started_at.unwrap_or(now),
                    updated_at: state.last_event_at.unwrap_or(now),
                    resident_id: state.resident.clone(),
                }),
            ));
        }
        Err(EngineError::Store(StoreError::PathwayNotFound { .. })) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "pathway_unknown",
                format!("pathway `{}` is not published", body.pathway),
                Some("pathway"),
            ));
        }
        Err(EngineError::Runtime(r)) => {
            let field = runtime_field(&r).map(|f| format!("variables.{f}"));
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                WebError::Engine(EngineError::Runtime(r.clone())).code(),
                r.to_string(),
                field.as_deref(),
            ));
        }
        Err(e @ EngineError::BusinessKeyInvalid(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business_key_invalid",
                e.to_string(),
                Some("business_key"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let s = out.state;
    Ok((
        StatusCode::CREATED,
        Json(CaseOut {
            id: s.id.clone(),
            pathway_key: s.pathway_key.clone(),
            pathway_version: s.pathway_version,
            status: s.status.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            resident_id: s.resident.clone(),
        }),
    ))
}

/// Which of a consultant's lists to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// `mine` (assigned to the caller, "Mijn taken"), `team` (the caller's teams' unassigned
    /// tasks, "Werkvoorraad") or `all` (both; the default).
    #[param(value_type = Option<String>, pattern = "^(all|mine|team)$")]
    pub scope: Option<doorloop_engine::store::WorkScope>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    params(TasksQuery),
    responses((status = 200, description = "Consultants: their open tasks and their teams' unassigned ones (or one of the two, by `scope`). Managers: all open tasks (read-only).", body = Vec<TaskOut>),
              (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(app): Shared,
    ApiUser(user): ApiUser,
    ApiQuery(q): ApiQuery<TasksQuery>,
) -> ApiResult<Json<Vec<TaskOut>>> {
    require(&user, &[UserRole::Consultant, UserRole::Manager])?;
    let rows = if user.role == UserRole::Consultant {
        app.engine
            .store()
            .work_list(&WorkFilter {
                user: user.id.clone(),
                teams: user.teams.clone(),
                organisation: crate::access::org_filter(&user),
                scope: q.scope.unwrap_or_default(),
                limit: 500,
                ..WorkFilter::default()
            })
            .await?
    } else {
        app.engine
            .store()
            .open_tasks(&TaskFilter {
                limit: Some(500),
                organisation: crate::access::org_filter(&user),
                ..TaskFilter::default()
            })
            .await?
    };
    let refs: Vec<&TaskRow> = rows.iter().collect();
    let risks = app.engine.risks(&refs, app.clock.now()).await?;
    Ok(Json(
        rows.into_iter()
            .zip(risks)
            .map(|(r, risk)| TaskOut {
                risk: risk.map(|k| k.as_str().replace(' ', "_")),
                ..TaskOut::from(r)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/claim", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)),
    responses((status = 204, description = "The task is now the caller's"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn claim(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assign(&app, &user, &id, &task, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/release", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)),
    responses((status = 204, description = "The task is back with the team"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assign(&app, &user, &id, &task, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/complete", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)), request_body = CompleteTask,
    responses((status = 200, description = "The case after the step", body = CaseDetail),
              (status = 409, description = "Completed or changed by someone else meanwhile", body = ErrorBody),
              (status = 422, description = "Form data does not fit the step; `field` names it", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
    ApiJson(body): ApiJson<CompleteTask>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let outcome = crate::cases::complete(&app, &user, &case, &task, body.data).await?;
    app.access_log.record(&user, &id, "api").await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

/// Why: a withdrawal or a change to a task's clock must say why.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// At most 500 characters; shown on the case's timeline and in "Waarom deze termijn?".
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// A note or a contact on a case's timeline.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NoteIn {
    /// `gespreksverslag`, `telefoon`, `email` or `notitie`.
    #[schema(pattern = "^(gespreksverslag|telefoon|email|notitie)$")]
    kind: String,
    /// 1 to 4,000 characters.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/notes", tag = "cases",
    params(("id" = String, Path)), request_body = NoteIn,
    responses((status = 200, description = "The case, with the note on its timeline", body = CaseDetail),
              (status = 400, description = "Unknown kind, empty or too long text, or the case has ended", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn note(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteIn>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let act = CaseAct::Note {
        kind: body.kind,
        text: body.text,
    };
    let outcome = crate::cases::act(&app, &user, &case, act).await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

/// Work added outside the drawn pathway ("doe wat nodig is").
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdHocIn {
    /// What must be done: 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
    /// Why: at most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    /// A role of the case's pathway; may be left out when `assignee` is given (the
    /// colleague's team on this pathway is used).
    #[serde(default)]
    role: Option<String>,
    /// A colleague's login: an active consultant holding `role`.
    #[serde(default)]
    assignee: Option<String>,
    /// The day it should be done by (not in the past).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    due: Option<chrono::NaiveDate>,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks", tag = "tasks",
    params(("id" = String, Path)), request_body = AdHocIn,
    responses((status = 201, description = "The case, with the new task open (step `adhoc`)", body = CaseDetail),
              (status = 400, description = "No title or reason, an unknown role, a colleague without that role, a date in the past, or the case has ended", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "A body that is not an ad-hoc task; `field` names what is wrong", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_task(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AdHocIn>,
) -> ApiResult<(StatusCode, Json<CaseDetail>)> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let act = CaseAct::AddTask {
        title: body.title,
        reason: body.reason,
        role: body.role,
        assignee: body.assignee,
        due: body.due,
    };
    let outcome = crate::cases::act(&app, &user, &case, act).await?;
    Ok((
        StatusCode::CREATED,
        Json(case_detail(&outcome.state, &user, &case.pv)),
    ))
}

/// A joint visit to plan, or to re-plan (a new time, other people).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitIn {
    /// When, in the future.
    at: DateTime<Utc>,
    /// Where (at most 200 characters).
    #[serde(default)]
    place: Option<String>,
    /// Colleagues' logins: people who work on the resident's line (any of the resident's
    /// cases) or hold a role of the visit or of open work on it; at least one.
    #[schema(min_items = 1)]
    participants: Vec<String>,
    /// E-mail addresses of people outside Doorloop (at most 10); they get the invitation
    /// for their agenda without a link into Doorloop.
    #[serde(default)]
    #[schema(max_items = 10)]
    guests: Vec<String>,
    /// Invite the resident at the e-mail address on their record.
    #[serde(default)]
    invite_resident: bool,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/visit", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)), request_body = VisitIn,
    responses((status = 200, description = "The case with the visit planned; everyone invited gets an agenda invitation", body = CaseDetail),
              (status = 400, description = "Not a joint visit, a time in the past, a colleague not on the resident's line, an address that is not one, or a resident without an e-mail address", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "A body that is not a visit; `field` names what is wrong", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn plan_visit(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
    ApiJson(body): ApiJson<VisitIn>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let act = CaseAct::PlanVisit {
        task,
        at: body.at,
        place: body.place,
        invite: crate::cases::VisitInvite {
            participants: body.participants,
            guests: body.guests.join("\n"),
            invite_resident: body.invite_resident,
        },
    };
    let outcome = crate::cases::act(&app, &user, &case, act).await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

/// Whom a task goes to.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct HandOver {
    /// The colleague's login: an active consultant in one of the task's teams.
    #[schema(min_length = 1)]
    to: String,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/hand-over", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)), request_body = HandOver,
    responses((status = 204, description = "The task is now the colleague's"),
              (status = 400, description = "Not a consultant of one of the task's teams", body = ErrorBody),
              (status = 403, description = "The caller neither holds the task nor may take it", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn hand_over(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
    ApiJson(body): ApiJson<HandOver>,
) -> ApiResult<StatusCode> {
    crate::cases::hand_over(&app, &user, &id, &task, &body.to).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An extension of a task's deadline.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Extension {
    /// How much longer: `2 weken`, `10 werkdagen`, `P14D`.
    #[schema(min_length = 1)]
    term: String,
    /// Why: at most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/withdraw", tag = "cases",
    params(("id" = String, Path)), request_body = Reason,
    responses((status = 200, description = "The case, withdrawn: its open tasks closed", body = CaseDetail),
              (status = 400, description = "No reason, or the case has ended", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let outcome = crate::cases::act(&app, &user, &case, CaseAct::Withdraw { reason: body.reason }).await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/clock/{action}", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path),
           ("action" = String, Path, description = "`suspend` (opschorten) or `resume` (hervatten)")),
    request_body = Reason,
    responses((status = 200, description = "The case with the task's new deadline and its explanation", body = CaseDetail),
              (status = 400, description = "The step's clock does not allow it, or no reason", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn clock(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task, action)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<Json<CaseDetail>> {
    let act = match action.as_str() {
        "suspend" => CaseAct::Suspend {
            task,
            reason: body.reason,
        },
        "resume" => CaseAct::Resume {
            task,
            reason: body.reason,
        },
        _ => return Err(WebError::NotFound.into()),
    };
    let case = crate::cases::load(&app, &user, &id).await?;
    let outcome = crate::cases::act(&app, &user, &case, act).await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks/{task}/extend", tag = "tasks",
    params(("id" = String, Path), ("task" = String, Path)), request_body = Extension,
    responses((status = 200, description = "The case with the task's new deadline", body = CaseDetail),
              (status = 400, description = "The step does not allow it, the term is unreadable or passes the step's maximum", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn extend(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, task)): Path<(String, String)>,
    ApiJson(body): ApiJson<Extension>,
) -> ApiResult<Json<CaseDetail>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let act = CaseAct::Extend {
        task,
        term: body.term,
        reason: body.reason,
    };
    let outcome = crate::cases::act(&app, &user, &case, act).await?;
    Ok(Json(case_detail(&outcome.state, &user, &case.pv)))
}

#[utoipa::path(get, path = "/api/v1/pathways", tag = "pathways",
    responses((status = 200, body = Vec<PathwayOut>)), security(("bearer" = [])))]
pub async fn list_pathways(State(app): Shared, ApiUser(_user): ApiUser) -> ApiResult<Json<Vec<PathwayOut>>> {
    let rows = app.engine.store().pathways().await?;
    Ok(Json(
        rows.into_iter()
            .map(|p| PathwayOut {
                key: p.key,
                version: p.version,
                name: p.name,
                published_at: p.published_at,
                cases: p.cases,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A published version; the latest when left out.
    version: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/pathways/{key}", tag = "pathways",
    params(("key" = String, Path), VersionQuery),
    responses((status = 200, body = PathwayDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_pathway(
    State(app): Shared,
    ApiUser(_user): ApiUser,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<PathwayDetail>> {
    let pv = app.engine.pathway(&key, q.version).await?;
    let definition = serde_json::to_value(&pv.pathway).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(Json(PathwayDetail {
        key: pv.pathway.key.clone(),
        version: pv.version,
        definition,
    }))
}

#[utoipa::path(post, path = "/api/v1/pathways", tag = "pathways", request_body = Publish,
    responses((status = 201, body = Published),
              (status = 422, description = "Invalid pathway: every problem names its step and line", body = ErrorBody),
              (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish(
    State(app): Shared,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<Publish>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    require(&user, &[UserRole::Coordinator])?;
    let pv = app.engine.publish_yaml(&body.source, app.clock.now()).await?;
    tracing::info!(
        pathway = pv.key(),
        version = pv.version,
        "published through the API"
    );
    Ok((
        StatusCode::CREATED,
        Json(Published {
            key: pv.key().to_owned(),
            version: pv.version,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/stalls", tag = "stalls",
    responses((status = 200, description = "Open stalls; consultants get those of their own cases", body = Vec<StallOut>),
              (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_stalls(State(app): Shared, ApiUser(user): ApiUser) -> ApiResult<Json<Vec<StallOut>>> {
    require(&user, &[UserRole::Consultant, UserRole::Manager])?;
    let mut rows = app
        .engine
        .store()
        .open_stalls(crate::access::org_filter(&user).as_ref())
        .await?;
    if user.role == UserRole::Consultant {
        let mine: BTreeSet<String> = app
            .engine
            .store()
            .cases(
                Some(&user.id),
                &user.teams,
                crate::access::org_filter(&user).as_ref(),
                10_000,
            )
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        rows.retain(|s| mine.contains(&s.case_id));
    }
    Ok(Json(
        rows.into_iter()
            .map(|s| StallOut {
                case_id: s.case_id,
                pathway_key: s.pathway_key,
                reason: s.reason,
                step: s.step,
                party: s.party,
                since: s.since,
            })
            .collect(),
    ))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every response of the document has a description, as OpenAPI 3.1 requires: where a route
/// gives none, the status's own words (with what the error body holds).
struct DescribeResponses;

impl Modify for DescribeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response
                        && r.description.trim().is_empty()
                    {
                        r.description = status_description(status);
                    }
                }
            }
        }
    }
}

/// Every operation lists the errors any request to it can meet, each with the error body:
/// 401 (it needs a token), 403, 400 (a query or path value that cannot be read), 404 where the
/// path names something, and 413, 415 and 422 where it takes a body.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_something = path.contains('{');
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let mut statuses = vec!["400", "401", "403"];
                if names_something {
                    statuses.push("404");
                }
                // Every action on a case can meet a case that ended or changed meanwhile.
                if path.starts_with("/api/v1/cases/{id}") && item_is_action(op) {
                    statuses.push("409");
                }
                if op.request_body.is_some() {
                    statuses.extend(["413", "415", "422"]);
                }
                for status in statuses {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(status_description(status))
                                    .content(
                                        "application/json",
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

fn item_is_action(op: &utoipa::openapi::path::Operation) -> bool {
    // Reads have no body and answer 200 with content; actions are the rest.
    op.request_body.is_some() || op.responses.responses.keys().any(|s| s == "201" || s == "204")
}

/// The operations on one task of a case.
const TASK_OPERATIONS: [&str; 7] = [
    "claim",
    "release",
    "complete",
    "hand_over",
    "extend",
    "clock",
    "plan_visit",
];

/// A link: the target operation and its parameters as runtime expressions.
type LinkSpec = (&'static str, Vec<(&'static str, String)>);

/// Links from the answers that create or list things to the operations that use them, so
/// a client (and schemathesis's stateful phase) can follow a case to its tasks and a
/// resident to their record.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        // From a case in the body (at `prefix`) to everything done with it and its first task.
        let case_ops = |prefix: &str| -> Vec<LinkSpec> {
            let id = format!("$response.body#{prefix}/id");
            let task = format!("$response.body#{prefix}/tasks/0/task_id");
            let mut out: Vec<LinkSpec> = [
                "get_case",
                "note",
                "withdraw",
                "add_task",
                "list_parties",
                "involve_party",
            ]
            .into_iter()
            .map(|op| (op, vec![("id", id.clone())]))
            .collect();
            for op in TASK_OPERATIONS {
                out.push((op, vec![("id", id.clone()), ("task", task.clone())]));
            }
            out
        };
        let task_ops = || -> Vec<LinkSpec> {
            let id = "$response.body#/0/case_id".to_owned();
            let task = "$response.body#/0/task_id".to_owned();
            TASK_OPERATIONS
                .into_iter()
                .map(|op| (op, vec![("id", id.clone()), ("task", task.clone())]))
                .chain(std::iter::once(("get_case", vec![("id", id.clone())])))
                .collect()
        };
        let resident_ops = || -> Vec<LinkSpec> {
            let id = "$response.body#/id".to_owned();
            [
                "get_resident",
                "update_resident",
                "get_resident_bsn",
                "record_provision",
            ]
            .into_iter()
            .map(|op| (op, vec![("id", id.clone())]))
            .collect()
        };
        let wanted: [(&str, &str, Vec<LinkSpec>); 6] = [
            ("/api/v1/cases", "201", case_ops("")),
            ("/api/v1/cases/{id}", "200", case_ops("")),
            ("/api/v1/cases/{id}/tasks", "201", case_ops("")),
            ("/api/v1/tasks", "200", task_ops()),
            ("/api/v1/residents", "201", resident_ops()),
            ("/api/v1/residents/{id}", "200", resident_ops()),
        ];
        for (path, status, links) in wanted {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let op = if status == "201" {
                item.post.as_mut()
            } else {
                item.get.as_mut()
            };
            let Some(RefOr::T(response)) = op.and_then(|op| op.responses.responses.get_mut(status)) else {
                continue;
            };
            for (target, parameters) in links {
                let mut link = LinkBuilder::new().operation_id(target);
                for (name, value) in parameters {
                    link = link.parameter(name, value);
                }
                response.links.insert(target.to_owned(), RefOr::T(link.build()));
            }
        }
    }
}

/// What an error status of this API means, for the document.
fn status_description(status: &str) -> String {
    let text = match status {
        "400" => "The request cannot be read or a value is refused; `field` names it when known",
        "401" => "No valid bearer token",
        "403" => "The caller's role or access does not allow this",
        "404" => "Unknown, or not visible to the caller",
        "409" => {
            "Conflicts with the current state: the case has ended (`case_ended`) or changed meanwhile (`case_changed`), the task is already completed (`task_already_completed`)"
        }
        "413" => "The body is larger than 1 MiB",
        "415" => "The body is not JSON",
        "422" => "The values do not fit; `field` names the first",
        "500" => "An internal error; `code` is `internal`",
        other => {
            return StatusCode::from_bytes(other.as_bytes())
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Response")
                .to_owned();
        }
    };
    text.to_owned()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorloop API", description = "Cases, tasks, pathways and stalls of Doorloop, for other municipal systems."),
    paths(list_cases, get_case, start_case, withdraw, note, add_task, plan_visit, list_tasks, claim, release, hand_over, complete, clock, extend, list_pathways, get_pathway, publish, list_stalls,
          residents::find, residents::create, residents::get, residents::update, residents::bsn, residents::record_provision,
          residents::reactivate, parties::list, parties::involve, parties::withdraw, messages::send),
    components(schemas(ErrorBody, CaseOut, CaseDetail, CaseTask, CaseStall, CaseLink, TaskOut, StartCase, CompleteTask, Reason, Extension, NoteIn, AdHocIn, AdHocOut, VisitIn, HandOver,
                        PathwayOut, PathwayDetail, Publish, Published, StallOut, residents::ResidentOut,
                        residents::ResidentLineOut, residents::LadderOut, residents::TeamMemberOut, residents::NextOut,
                        residents::BsnOut, crate::residents::ResidentFields, residents::ProvisionOut,
                        residents::ProvisionIn, residents::ReactivatedOut, parties::PartyIn, parties::WithdrawIn,
                        crate::parties::PartyOut, messages::MessageIn, messages::MessageOut)),
    modifiers(&BearerAuth, &StandardErrors, &DescribeResponses, &Links),
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string(), None).into_response()
        }
    }
}

async fn unknown_endpoint() -> ApiError {
    ApiError::not_found()
}

pub(crate) fn routes() -> crate::Routes<Arc<AppState>> {
    crate::Routes::new()
        .route("/api/v1/openapi.json", routing::get(openapi))
        .route("/api/v1/cases", routing::get(list_cases).post(start_case))
        .route("/api/v1/cases/{id}", routing::get(get_case))
        .route("/api/v1/cases/{id}/withdraw", routing::post(withdraw))
        .route("/api/v1/cases/{id}/notes", routing::post(note))
        .route(
            "/api/v1/cases/{id}/parties",
            routing::get(parties::list).post(parties::involve),
        )
        .route(
            "/api/v1/cases/{id}/parties/{organisation}/withdraw",
            routing::post(parties::withdraw),
        )
        .route("/api/v1/cases/{id}/tasks", routing::post(add_task))
        .route(
            "/api/v1/cases/{id}/tasks/{task}/hand-over",
            routing::post(hand_over),
        )
        .route(
            "/api/v1/cases/{id}/tasks/{task}/clock/{action}",
            routing::post(clock),
        )
        .route("/api/v1/cases/{id}/tasks/{task}/extend", routing::post(extend))
        .route("/api/v1/cases/{id}/tasks/{task}/visit", routing::post(plan_visit))
        .route("/api/v1/cases/{id}/tasks/{task}/claim", routing::post(claim))
        .route("/api/v1/cases/{id}/tasks/{task}/release", routing::post(release))
        .route(
            "/api/v1/cases/{id}/tasks/{task}/complete",
            routing::post(complete),
        )
        .route("/api/v1/tasks", routing::get(list_tasks))
        .route("/api/v1/pathways", routing::get(list_pathways).post(publish))
        .route("/api/v1/pathways/{key}", routing::get(get_pathway))
        .route("/api/v1/stalls", routing::get(list_stalls))
        .route(
            "/api/v1/residents",
            routing::get(residents::find).post(residents::create),
        )
        .route(
            "/api/v1/residents/{id}",
            routing::get(residents::get).put(residents::update),
        )
        .route("/api/v1/residents/{id}/bsn", routing::get(residents::bsn))
        .route(
            "/api/v1/residents/{id}/provisions",
            routing::post(residents::record_provision),
        )
        .route(
            "/api/v1/residents/{id}/provisions/{kind}/reactivate",
            routing::post(residents::reactivate),
        )
        .route("/api/v1/messages", routing::post(messages::send))
        .route("/api/v1/{*rest}", routing::any(unknown_endpoint))
}
