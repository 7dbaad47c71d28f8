//! `/api/v1/cases/{id}/parties`: the organisations on a case and the ground each works on.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiJson, ApiResult, ApiUser, ErrorBody};

type Shared = State<std::sync::Arc<crate::AppState>>;
use crate::access::CaseChain;
use crate::parties::{self, Involve, PartyOut};

/// An organisation to involve, and on what ground.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyIn {
    /// The organisation's key (`de-linde`, `ibn`, `uwv`).
    #[schema(min_length = 1, max_length = 64)]
    organisation: String,
    /// `wettelijke-taak` or `toestemming`.
    #[schema(pattern = "^(wettelijke-taak|toestemming)$")]
    ground: String,
    /// What the organisation does in the case; at most 300 characters.
    #[schema(max_length = 300)]
    purpose: String,
    /// The signed consent form or decision; needed for `toestemming`.
    #[serde(default)]
    reference: Option<String>,
}

/// Why a ground is withdrawn.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawIn {
    /// At most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

#[utoipa::path(get, path = "/api/v1/cases/{id}/parties", tag = "cases", operation_id = "list_parties",
    params(("id" = String, Path)),
    responses((status = 200, description = "Every ground recorded on the case, withdrawn ones included, oldest first", body = [PartyOut]),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<PartyOut>>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    app.access_log.record(&user, &id, "api: organisaties").await?;
    let chain = CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    Ok(Json(parties::list(&app, &chain).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/parties", tag = "cases", operation_id = "involve_party",
    params(("id" = String, Path)), request_body = PartyIn,
    responses((status = 200, description = "The case's grounds, with the new one", body = [PartyOut]),
              (status = 400, description = "Unknown organisation or ground, no purpose, consent without reference, the resident's own municipality, or already involved", body = ErrorBody),
              (status = 403, description = "Only a consultant of the resident's municipality on the case records grounds", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn involve(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PartyIn>,
) -> ApiResult<Json<Vec<PartyOut>>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    let what = Involve {
        organisation: body.organisation,
        ground: body.ground,
        purpose: body.purpose,
        reference: body.reference,
    };
    parties::involve(&app, &user, &case, what).await?;
    let chain = CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    Ok(Json(parties::list(&app, &chain).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/parties/{organisation}/withdraw", tag = "cases", operation_id = "withdraw_party",
    params(("id" = String, Path), ("organisation" = String, Path)), request_body = WithdrawIn,
    responses((status = 200, description = "The case's grounds, this one withdrawn; the organisation no longer sees the case and its people's open tasks went to the caller", body = [PartyOut]),
              (status = 400, description = "No reason, or the organisation has no active ground on the case", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, organisation)): Path<(String, String)>,
    ApiJson(body): ApiJson<WithdrawIn>,
) -> ApiResult<Json<Vec<PartyOut>>> {
    let case = crate::cases::load(&app, &user, &id).await?;
    parties::withdraw(&app, &user, &case, &organisation, &body.reason).await?;
    let chain = CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    Ok(Json(parties::list(&app, &chain).await?))
}
