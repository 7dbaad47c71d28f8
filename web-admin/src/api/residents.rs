//! `/api/v1/residents`: finding, registering and reading residents, with their line.
//! The same rules as the screens: a resident not visible to the caller answers 404; every
//! read and search is access-logged; the BSN only on its own endpoint, for consultants.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use doorloop_engine::engine::EngineError;
use doorloop_engine::line::LadderPoint;
use doorloop_engine::resident::Resident;
use doorloop_engine::resident::provision::{ProvisionChange, ProvisionStatus};
use doorloop_engine::store::UserRole;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiQuery, ApiResult, ApiUser, CaseOut, ErrorBody};
use crate::AppState;
use crate::auth::require;
use crate::residents::{ResidentFields, reveal_bsn, search, visible_line};

type Shared = State<Arc<AppState>>;

/// A resident (never the BSN itself: `has_bsn` says whether one is recorded).
#[derive(Serialize, ToSchema)]
pub struct ResidentOut {
    id: String,
    /// The Doorloop reference, e.g. `DL-000042`.
    reference: String,
    given_name: String,
    family_name: String,
    birth_date: Option<NaiveDate>,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    municipality: Option<String>,
    has_bsn: bool,
    /// Created for a case from before residents existed; details still to be filled in.
    unknown: bool,
    created_at: DateTime<Utc>,
}

impl From<&Resident> for ResidentOut {
    fn from(r: &Resident) -> ResidentOut {
        ResidentOut {
            id: r.id.clone(),
            reference: r.reference.clone(),
            given_name: r.given_name.clone(),
            family_name: r.family_name.clone(),
            birth_date: r.birth_date,
            email: r.email.clone(),
            phone: r.phone.clone(),
            address: r.address.clone(),
            municipality: r.municipality.clone(),
            has_bsn: r.has_bsn,
            unknown: r.unknown,
            created_at: r.created_at,
        }
    }
}

/// A rung reached on one of the resident's cases.
#[derive(Serialize, ToSchema)]
pub struct LadderOut {
    rung: u8,
    at: DateTime<Utc>,
    case_id: String,
    pathway_key: String,
}

impl From<&LadderPoint> for LadderOut {
    fn from(p: &LadderPoint) -> LadderOut {
        LadderOut {
            rung: p.rung,
            at: p.at,
            case_id: p.case_id.clone(),
            pathway_key: p.pathway_key.clone(),
        }
    }
}

/// Someone who works with the resident.
#[derive(Serialize, ToSchema)]
pub struct TeamMemberOut {
    user_id: String,
    name: String,
    organisation: Option<String>,
    email: Option<String>,
    teams: Vec<String>,
    /// The pathways they work on for this resident.
    pathways: Vec<String>,
}

/// Open work on the resident's line.
#[derive(Serialize, ToSchema)]
pub struct NextOut {
    case_id: String,
    task_id: String,
    pathway_key: String,
    step: String,
    roles: Vec<String>,
    assignee: Option<String>,
    due_at: Option<DateTime<Utc>>,
    visit_at: Option<DateTime<Utc>>,
}

/// A resident with their whole line.
#[derive(Serialize, ToSchema)]
pub struct ResidentLineOut {
    resident: ResidentOut,
    /// Every case, newest first.
    cases: Vec<CaseOut>,
    /// The participatieladder across all cases, oldest first.
    ladder: Vec<LadderOut>,
    team: Vec<TeamMemberOut>,
    /// Open work, soonest deadline first.
    next: Vec<NextOut>,
    /// Provisions by kind.
    provisions: Vec<ProvisionOut>,
}

/// A provision as it stands.
#[derive(Serialize, ToSchema)]
pub struct ProvisionOut {
    kind: String,
    label: String,
    law: String,
    /// aangevraagd, actief, slapend or beeindigd
    status: String,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    dormant_until: Option<NaiveDate>,
    decision_date: Option<NaiveDate>,
    decision_ref: Option<String>,
    decided_by: Option<String>,
    case_id: Option<String>,
}

/// A provision recorded by hand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionIn {
    /// A kind the installation knows (`wmo_begeleiding`, `loonkostensubsidie`, …).
    #[schema(min_length = 1, max_length = 64)]
    kind: String,
    /// aangevraagd, actief, slapend or beeindigd
    #[schema(pattern = "^(aangevraagd|actief|slapend|beeindigd)$")]
    status: String,
    #[serde(default)]
    start_date: Option<NaiveDate>,
    #[serde(default)]
    end_date: Option<NaiveDate>,
    #[serde(default)]
    dormant_until: Option<NaiveDate>,
    #[serde(default)]
    decision_date: Option<NaiveDate>,
    #[serde(default)]
    decision_ref: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReactivatedOut {
    /// The fall-back case started.
    case_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct BsnOut {
    /// Nine digits, or null when none is recorded.
    bsn: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchQuery {
    /// A name (prefixes of its words), a reference (`DL-…`), a date of birth
    /// (`dd-mm-jjjj`) or a BSN.
    q: String,
}

/// The typed fields, or a 422 naming the field that is wrong.
fn input_of(body: &ResidentFields) -> ApiResult<doorloop_engine::resident::ResidentInput> {
    body.input().map_err(|(field, message)| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_invalid",
            message,
            Some(field),
        )
    })
}

#[utoipa::path(get, path = "/api/v1/residents", tag = "residents", operation_id = "find_residents",
    params(("q" = String, Query, min_length = 2, max_length = 200,
            description = "Name prefix (at least two letters), reference, date of birth or BSN")),
    responses((status = 200, description = "Residents the caller may see, at most 50", body = Vec<ResidentOut>),
              (status = 400, description = "The search text cannot be read (`query_invalid`)", body = ErrorBody),
              (status = 422, description = "A BSN that fails the 11-proef (`bsn_invalid`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn find(
    State(app): Shared,
    ApiUser(user): ApiUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Vec<ResidentOut>>> {
    let found = search(&app, &user, &q.q, "api: zoeken").await?;
    Ok(Json(found.iter().map(ResidentOut::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/residents", tag = "residents", operation_id = "create_resident", request_body = ResidentFields,
    responses((status = 201, body = ResidentOut),
              (status = 409, description = "The BSN is already recorded (`bsn_exists`) or no BSN key is configured (`bsn_key_missing`)", body = ErrorBody),
              (status = 422, description = "A field is wrong; `field` names it", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(app): Shared,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<ResidentFields>,
) -> ApiResult<(StatusCode, Json<ResidentOut>)> {
    require(&user, &[UserRole::Consultant])?;
    let input = input_of(&body)?;
    let resident = app
        .engine
        .add_resident_by(&input, &user.id, app.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(ResidentOut::from(&resident))))
}

#[utoipa::path(get, path = "/api/v1/residents/{id}", tag = "residents", operation_id = "get_resident",
    params(("id" = String, Path, description = "Resident id")),
    responses((status = 200, body = ResidentLineOut), (status = 404, description = "Unknown, or not visible to the caller", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ResidentLineOut>> {
    let (line, _) = visible_line(&app, &user, &id, "api").await?;
    let store = app.engine.store().as_ref();
    let mut team = Vec::new();
    for (member, pathways) in line.team() {
        let u = app.users.get(store, &member).await?;
        team.push(TeamMemberOut {
            name: u
                .as_ref()
                .map(|u| u.display_name.clone())
                .unwrap_or_else(|| member.clone()),
            organisation: u.as_ref().map(|u| u.organisation.clone()),
            email: u.as_ref().and_then(|u| u.email.clone()),
            teams: u.map(|u| u.teams).unwrap_or_default(),
            user_id: member,
            pathways,
        });
    }
    let next = line
        .next()
        .iter()
        .map(|w| NextOut {
            case_id: w.case_id.to_owned(),
            task_id: w.task.id.clone(),
            pathway_key: w.pathway_key.to_owned(),
            step: w.task.step.clone(),
            roles: w.task.roles.clone(),
            assignee: w.task.assignee.clone(),
            due_at: w.task.due.as_ref().map(|d| d.at),
            visit_at: w.task.visit.as_ref().map(|v| v.at),
        })
        .collect();
    let kinds = app.engine.provision_kinds();
    let provisions = app
        .engine
        .store()
        .provisions(&id)
        .await?
        .into_iter()
        .map(|p| {
            let kind = kinds.iter().find(|k| k.key == p.kind);
            ProvisionOut {
                label: kind.map(|k| k.label.clone()).unwrap_or_else(|| p.kind.clone()),
                law: kind.map(|k| k.law.clone()).unwrap_or_default(),
                kind: p.kind,
                status: p.status.as_str().to_owned(),
                start_date: p.start_date,
                end_date: p.end_date,
                dormant_until: p.dormant_until,
                decision_date: p.decision_date,
                decision_ref: p.decision_ref,
                decided_by: p.decided_by,
                case_id: p.case_id,
            }
        })
        .collect();
    Ok(Json(ResidentLineOut {
        provisions,
        resident: ResidentOut::from(&line.resident),
        cases: line.cases.iter().map(|(c, _)| CaseOut::from(c.clone())).collect(),
        ladder: line.ladder().iter().map(LadderOut::from).collect(),
        team,
        next,
    }))
}

#[utoipa::path(get, path = "/api/v1/residents/{id}/bsn", tag = "residents", operation_id = "get_resident_bsn",
    params(("id" = String, Path, description = "Resident id")),
    responses((status = 200, body = BsnOut), (status = 403, description = "Only consultants read a BSN", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn bsn(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<BsnOut>> {
    let bsn = reveal_bsn(&app, &user, &id, "api: BSN bekeken").await?;
    Ok(Json(BsnOut {
        bsn: bsn.map(|b| b.expose().to_owned()),
    }))
}

#[utoipa::path(post, path = "/api/v1/residents/{id}/provisions", tag = "residents", operation_id = "record_provision", request_body = ProvisionIn,
    params(("id" = String, Path, description = "Resident id")),
    responses((status = 204, description = "Recorded"),
              (status = 422, description = "Unknown kind or status, or dates out of order; `field` names it", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn record_provision(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProvisionIn>,
) -> ApiResult<StatusCode> {
    require(&user, &[UserRole::Consultant])?;
    visible_line(&app, &user, &id, "api: voorziening vastleggen").await?;
    let status = ProvisionStatus::parse(&body.status).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_invalid",
            "status must be aangevraagd, actief, slapend or beeindigd",
            Some("status"),
        )
    })?;
    let change = ProvisionChange {
        key: format!("api:{}", uuid::Uuid::now_v7()),
        resident_id: id,
        kind: body.kind,
        status,
        start_date: body.start_date,
        end_date: body.end_date,
        dormant_until: body.dormant_until,
        decision_date: body.decision_date,
        decision_ref: body.decision_ref,
        by: user.id.clone(),
        case_id: None,
        at: app.clock.now(),
    };
    match app.engine.record_provision(&change).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::Provision(p)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_invalid",
            p.message,
            Some(p.field),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/residents/{id}/provisions/{kind}/reactivate", tag = "residents", operation_id = "reactivate_provision",
    params(("id" = String, Path, description = "Resident id"), ("kind" = String, Path, description = "Provision kind")),
    responses((status = 201, body = ReactivatedOut),
              (status = 409, description = "The provision is not dormant (`provision_not_dormant`)", body = ErrorBody),
              (status = 404, description = "No such resident, or the resident has no provision of this kind", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reactivate(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path((id, kind)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<ReactivatedOut>)> {
    require(&user, &[UserRole::Consultant])?;
    visible_line(&app, &user, &id, "api: voorziening heractiveren").await?;
    match app.engine.reactivate(&id, &kind, &user.id, app.clock.now()).await {
        Ok(case_id) => Ok((StatusCode::CREATED, Json(ReactivatedOut { case_id }))),
        // None of that kind is a missing resource; one that is not dormant is a conflict
        // with its state.
        Err(EngineError::Provision(p)) => {
            let held = app
                .engine
                .store()
                .provisions(&id)
                .await
                .map_err(crate::error::WebError::Store)?;
            if held.iter().any(|h| h.kind == kind) {
                Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "provision_not_dormant",
                    p.message,
                    Some(p.field),
                ))
            } else {
                Err(ApiError::not_found())
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(put, path = "/api/v1/residents/{id}", tag = "residents", operation_id = "update_resident", request_body = ResidentFields,
    params(("id" = String, Path, description = "Resident id")),
    responses((status = 200, body = ResidentOut),
              (status = 409, description = "The BSN is recorded for someone else (`bsn_exists`)", body = ErrorBody),
              (status = 422, description = "A field is wrong; `field` names it", body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(app): Shared,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResidentFields>,
) -> ApiResult<Json<ResidentOut>> {
    require(&user, &[UserRole::Consultant])?;
    visible_line(&app, &user, &id, "api: inwoner bewerken").await?;
    let input = input_of(&body)?;
    let resident = app
        .engine
        .update_resident(&id, &input, &user.id, app.clock.now())
        .await?;
    Ok(Json(ResidentOut::from(&resident)))
}
