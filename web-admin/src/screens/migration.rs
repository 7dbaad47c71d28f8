//! Moving running cases from one version of a pathway to another: the system proposes a
//! step mapping, the coordinator adjusts it, a dry run shows per case what would happen,
//! and the coordinator applies it to the cases they keep selected. Cases not selected
//! stay on their version.

use crate::error::PageQuery;
use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use doorloop_engine::engine::EngineError;
use doorloop_engine::pathway::model::{PathwayVersion, StepKind};
use doorloop_engine::runtime::{StepMapping, TaskFate, propose_mapping};
use doorloop_engine::store::UserRole;
use doorloop_engine::text::problems as dutch_problems;
use serde_json::{Value, json};

use crate::Shared;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult};
use crate::views::holding_steps;
use crate::views::{base, short};
use crate::views::{date, page};

/// Most cases one dry run or one apply covers.
const MAX_CASES: u32 = 2000;

fn pairs_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn version_param(pairs: &[(String, String)], name: &str) -> WebResult<Option<u32>> {
    match pairs_get(pairs, name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("Ongeldig versienummer bij '{name}': {v}"))),
    }
}

/// The mapping from `naar_<step>=<target>` pairs; empty targets are left out.
fn mapping_of(pairs: &[(String, String)]) -> StepMapping {
    pairs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("naar_").map(|s| (s.to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

struct Plan {
    from: std::sync::Arc<PathwayVersion>,
    to: std::sync::Arc<PathwayVersion>,
}

async fn plan(app: &crate::AppState, key: &str, pairs: &[(String, String)]) -> WebResult<Plan> {
    let live = app.engine.pathway(key, None).await?;
    let to_version = version_param(pairs, "naar")?.unwrap_or(live.version);
    let from_version = match version_param(pairs, "van")? {
        Some(v) => v,
        None if live.version > 1 => live.version - 1,
        None => return Err(WebError::BadRequest("Dit traject heeft maar één versie.".into())),
    };
    if from_version == to_version {
        return Err(WebError::BadRequest("Kies twee verschillende versies.".into()));
    }
    Ok(Plan {
        from: app.engine.pathway(key, Some(from_version)).await?,
        to: app.engine.pathway(key, Some(to_version)).await?,
    })
}

fn compatible(from: &StepKind, to: &StepKind) -> bool {
    if from.is_split() {
        from == to
    } else {
        to.is_human()
    }
}

/// The mapping form: every step of the old version that holds work now (and every split
/// whose branches may still run), with the proposed target.
async fn mapping_rows(app: &crate::AppState, plan: &Plan, chosen: &StepMapping) -> WebResult<Vec<Value>> {
    let occupied: BTreeMap<String, i64> = app
        .engine
        .store()
        .open_work_by_step(plan.from.key(), plan.from.version)
        .await?
        .into_iter()
        .collect();
    let proposal = propose_mapping(&plan.from, &plan.to);
    let targets = holding_steps(&plan.to);
    let mut rows = Vec::new();
    for (id, name, kind) in holding_steps(&plan.from) {
        let open = occupied.get(&id).copied().unwrap_or(0);
        if open == 0 && !kind.is_split() {
            continue;
        }
        let proposed = proposal.get(&id).cloned().flatten();
        let selected = chosen.get(&id).cloned().or_else(|| proposed.clone());
        let options: Vec<Value> = targets
            .iter()
            .filter(|(_, _, k)| compatible(&kind, k))
            .map(|(tid, tname, _)| json!({"id": tid, "name": tname, "selected": selected.as_deref() == Some(tid.as_str())}))
            .collect();
        rows.push(json!({
            "id": id, "name": name, "open": open, "split": kind.is_split(),
            "proposed": proposed.is_some(), "unset": selected.is_none(), "options": options,
        }));
    }
    Ok(rows)
}

fn hidden_mapping(mapping: &StepMapping) -> Vec<Value> {
    mapping
        .iter()
        .map(|(k, v)| json!({"name": format!("naar_{k}"), "value": v}))
        .collect()
}

async fn screen(
    app: &crate::AppState,
    viewer: &Viewer,
    key: &str,
    plan: &Plan,
    mapping: &StepMapping,
    extra: serde_json::Map<String, Value>,
) -> WebResult<Response> {
    let mut data = base(viewer, &format!("{key}: casussen overzetten"), "trajecten");
    data.insert("key".into(), json!(key));
    data.insert("name".into(), json!(plan.to.pathway.name));
    data.insert("from".into(), json!(plan.from.version));
    data.insert("to".into(), json!(plan.to.version));
    data.insert("rows".into(), json!(mapping_rows(app, plan, mapping).await?));
    data.insert("mapping".into(), json!(hidden_mapping(mapping)));
    data.extend(extra);
    Ok(page(StatusCode::OK, "migrate", Value::Object(data)))
}

pub async fn form(
    State(app): Shared,
    viewer: Viewer,
    Path(key): Path<String>,
    PageQuery(pairs): PageQuery<Vec<(String, String)>>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Coordinator])?;
    let plan = plan(&app, &key, &pairs).await?;
    screen(
        &app,
        &viewer,
        &key,
        &plan,
        &mapping_of(&pairs),
        serde_json::Map::new(),
    )
    .await
}

fn step_name(pv: &PathwayVersion, id: &str) -> String {
    pv.step(id)
        .map(|s| s.display_name().to_owned())
        .unwrap_or_else(|| id.to_owned())
}

/// The dry run: every active case on the old version, decided but not written.
pub async fn dry_run(
    State(app): Shared,
    viewer: Viewer,
    Path(key): Path<String>,
    PageQuery(pairs): PageQuery<Vec<(String, String)>>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Coordinator])?;
    let plan = plan(&app, &key, &pairs).await?;
    let mapping = mapping_of(&pairs);
    let ids = app
        .engine
        .store()
        .active_cases_on(&key, plan.from.version, MAX_CASES)
        .await?;
    let now = app.clock.now();
    let mut cases = Vec::new();
    let (mut ok, mut refused) = (0, 0);
    for id in &ids {
        // What a dry run shows is where each case stands: a view of the case.
        app.access_log
            .record(&viewer.user, id, "overzetten-proef")
            .await?;
        match app
            .engine
            .migrate_case(id, plan.to.version, &mapping, &viewer.user.id, now, false)
            .await
        {
            Ok(m) => {
                ok += 1;
                let lines: Vec<Value> = m
                    .tasks
                    .iter()
                    .map(|t| {
                        let what = match t.fate {
                            TaskFate::Unchanged => "blijft zoals het is",
                            TaskFate::Kept => "blijft open op de nieuwe stap",
                            TaskFate::Reopened => "wordt gesloten; een nieuwe taak opent",
                        };
                        json!({
                            "from": step_name(&plan.from, &t.from_step),
                            "to": step_name(&plan.to, &t.to_step),
                            "what": what,
                            "due_before": t.due_before.map(date),
                            "due_after": t.due_after.map(date),
                            "due_changed": t.due_before != t.due_after,
                            "roles_changed": t.roles_before != t.roles_after,
                            "roles": t.roles_after.join(", "),
                        })
                    })
                    .collect();
                cases.push(json!({"id": id, "short": short(id), "ok": true, "lines": lines}));
            }
            Err(EngineError::Runtime(e)) => {
                refused += 1;
                cases.push(json!({"id": id, "short": short(id), "ok": false, "error": dutch_problems::migration(&e)}));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut extra = serde_json::Map::new();
    extra.insert("dry_run".into(), json!(true));
    extra.insert("cases".into(), json!(cases));
    extra.insert("ok_count".into(), json!(ok));
    extra.insert("refused_count".into(), json!(refused));
    extra.insert("capped".into(), json!(ids.len() as u32 >= MAX_CASES));
    screen(&app, &viewer, &key, &plan, &mapping, extra).await
}

/// Applies the migration to the selected cases, each in its own transaction.
pub async fn apply(State(app): Shared, Path(key): Path<String>, form: CsrfForm) -> WebResult<Response> {
    auth::require(&form.viewer.user, &[UserRole::Coordinator])?;
    let plan = plan(&app, &key, &form.fields).await?;
    let mapping = mapping_of(&form.fields);
    let chosen: BTreeSet<String> = form.all("casus").into_iter().collect();
    if chosen.is_empty() {
        return Err(WebError::BadRequest(
            "Kies minstens één casus om over te zetten.".into(),
        ));
    }
    let now = app.clock.now();
    let (mut done, mut failed) = (0u32, Vec::new());
    for id in &chosen {
        match app
            .engine
            .migrate_case(id, plan.to.version, &mapping, &form.viewer.user.id, now, true)
            .await
        {
            Ok(_) => done += 1,
            Err(EngineError::Runtime(e)) => {
                failed.push(json!({"short": short(id), "error": dutch_problems::migration(&e)}))
            }
            Err(EngineError::Conflict { .. }) => failed.push(json!({
                "short": short(id),
                "error": "De casus is intussen gewijzigd; doe de proefdraai opnieuw.",
            })),
            Err(EngineError::CaseNotFound { .. }) => {
                failed.push(json!({"short": short(id), "error": "Deze casus bestaat niet."}))
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(pathway = %key, from = plan.from.version, to = plan.to.version, migrated = done, failed = failed.len(), "cases migrated");
    if failed.is_empty() {
        return Ok(Redirect::to(&format!("/trajecten/{key}?overgezet={done}")).into_response());
    }
    let mut extra = serde_json::Map::new();
    extra.insert("applied".into(), json!(done));
    extra.insert("failed".into(), json!(failed));
    screen(&app, &form.viewer, &key, &plan, &mapping, extra).await
}
