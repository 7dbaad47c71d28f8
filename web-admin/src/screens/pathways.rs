//! The coordinator's screens: the pathway list, one pathway with its versions, editing a
//! draft in the browser (validation next to each step and on the drawn graph, a diff
//! against the live version), publishing the next version, and exports.

use crate::error::PageQuery;
use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use doorloop_engine::figures::diff::diff;
use doorloop_engine::pathway::definition::{Loaded, from_yaml};
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::pathway::validate::{Problem, validate};
use doorloop_engine::store::{Draft, PathwaySummary, StoreError, UserRole};
use doorloop_engine::text::problems as dutch_problems;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::Shared;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{WebError, WebResult};
use crate::graph::{self, Mark, Marks};
use crate::views::base;
use crate::views::{date, date_time, page, svg_response};

/// Keys appear in URLs and files: lower-case letters, digits, `-` and `_`.
const NEW_PATHWAY: &str = r#"key: nieuw-traject
name: Nieuw traject
roles:
  wmo-consulent: { name: Wmo-consulent, organisation: gemeente }
steps:
  - id: start
    kind: start
    next: intake

  - id: intake
    kind: task
    name: Intakegesprek
    role: wmo-consulent
    deadline: 10 werkdagen
    next: einde

  - id: einde
    kind: end
    outcome: dagbesteding
"#;

fn coordinator(viewer: &Viewer) -> WebResult<()> {
    auth::require(&viewer.user, &[UserRole::Coordinator])
}

/// Published versions grouped by key, newest version first.
fn by_key(list: Vec<PathwaySummary>) -> BTreeMap<String, Vec<PathwaySummary>> {
    let mut out: BTreeMap<String, Vec<PathwaySummary>> = BTreeMap::new();
    for p in list {
        out.entry(p.key.clone()).or_default().push(p);
    }
    for versions in out.values_mut() {
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    }
    out
}

pub async fn list(State(app): Shared, viewer: Viewer) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Manager, UserRole::Coordinator])?;
    let store = app.engine.store();
    let drafts: BTreeMap<String, Draft> = store
        .drafts()
        .await?
        .into_iter()
        .map(|d| (d.key.clone(), d))
        .collect();
    let grouped = by_key(store.pathways().await?);
    let mut rows = Vec::new();
    for (key, versions) in &grouped {
        let live = &versions[0];
        rows.push(json!({
            "key": key,
            "name": live.name,
            "live": live.version,
            "running": versions.iter().map(|v| v.running).sum::<i64>(),
            "versions": versions.iter().map(|v| json!({
                "version": v.version, "published": date(v.published_at), "cases": v.running,
                "live": v.version == live.version,
            })).collect::<Vec<_>>(),
            "draft": drafts.get(key).map(|d| json!({"by": d.updated_by, "at": date_time(d.updated_at)})),
        }));
    }
    // Drafts of pathways never published.
    let unpublished: Vec<Value> = drafts
        .values()
        .filter(|d| !grouped.contains_key(&d.key))
        .map(|d| json!({"key": d.key, "by": d.updated_by, "at": date_time(d.updated_at)}))
        .collect();
    let mut data = base(&viewer, "Trajecten", "trajecten");
    data.insert("pathways".into(), Value::Array(rows));
    data.insert("unpublished".into(), Value::Array(unpublished));
    data.insert(
        "is_coordinator".into(),
        json!(viewer.user.role == UserRole::Coordinator),
    );
    Ok(page(StatusCode::OK, "pathways", Value::Object(data)))
}

#[derive(Deserialize, Default)]
pub struct PathwayQuery {
    gepubliceerd: Option<u32>,
    overgezet: Option<u32>,
}

pub async fn show(
    State(app): Shared,
    viewer: Viewer,
    Path(key): Path<String>,
    PageQuery(q): PageQuery<PathwayQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Manager, UserRole::Coordinator])?;
    let store = app.engine.store();
    let versions = by_key(store.pathways().await?)
        .remove(&key)
        .ok_or(WebError::NotFound)?;
    let live = app.engine.pathway(&key, Some(versions[0].version)).await?;
    let mut data = base(&viewer, live.pathway.name.as_str(), "trajecten");
    data.insert("key".into(), json!(key));
    data.insert("name".into(), json!(live.pathway.name));
    data.insert("description".into(), json!(live.pathway.description));
    data.insert("live".into(), json!(live.version));
    data.insert(
        "versions".into(),
        json!(
            versions
                .iter()
                .map(|v| json!({
                    "version": v.version, "published": date_time(v.published_at), "cases": v.cases,
                    "running": v.running, "live": v.version == live.version,
                    "can_migrate": v.version != live.version && v.running > 0,
                }))
                .collect::<Vec<_>>()
        ),
    );
    data.insert("draft".into(), json!(store.draft(&key).await?.is_some()));
    data.insert(
        "practice".into(),
        practice_json(&live, &store.adhoc_practice(&key).await?),
    );
    data.insert("need_to_know".into(), need_to_know_json(&live));
    data.insert(
        "retention".into(),
        json!(match &live.pathway.retention {
            Some(r) => format!(
                "{} jaar na het einde van een casus{}.",
                r.years,
                r.basis.as_deref().map(|b| format!(" ({b})")).unwrap_or_default()
            ),
            None => format!(
                "{} jaar na het einde van een casus (de standaardtermijn van deze installatie; zet `retention:` in het traject voor een eigen termijn).",
                app.engine.retention().default_years
            ),
        }),
    );
    data.insert(
        "is_coordinator".into(),
        json!(viewer.user.role == UserRole::Coordinator),
    );
    data.insert("is_manager".into(), json!(viewer.user.role == UserRole::Manager));
    if let Some(v) = q.gepubliceerd {
        data.insert("flash".into(), json!(format!("Versie {v} is gepubliceerd. Nieuwe casussen starten op deze versie; lopende casussen blijven op hun versie tot u ze overzet.")));
    }
    if let Some(n) = q.overgezet {
        data.insert("flash".into(), json!(format!("{n} casus(sen) overgezet.")));
    }
    Ok(page(StatusCode::OK, "pathway", Value::Object(data)))
}

/// Need to know, as the pathway sets it: per role, the kinds of data it reads (its `sees:`, or
/// its organisation kind's default), and per kind, the fields that hold it.
fn need_to_know_json(pv: &doorloop_engine::pathway::model::PathwayVersion) -> Value {
    use doorloop_engine::chain::{OrganisationKind, default_sight};
    use doorloop_engine::pathway::model::{Category, declared_variables};
    let roles: Vec<Value> = pv
        .pathway
        .roles
        .values()
        .map(|r| {
            let kind = r
                .organisation
                .as_deref()
                .and_then(OrganisationKind::of_role)
                .unwrap_or(OrganisationKind::Gemeente);
            let reads: Vec<Category> = match &r.sees {
                Some(c) => c.clone(),
                None => default_sight(kind).into_iter().collect(),
            };
            json!({
                "name": r.name,
                "organisation": kind.label(),
                "reads": Category::ALL.iter().map(|c| reads.contains(c)).collect::<Vec<_>>(),
                "set_here": r.sees.is_some(),
            })
        })
        .collect();
    let mut fields: Vec<Value> = Vec::new();
    for c in Category::ALL {
        let mut names: Vec<String> = declared_variables(&pv.pathway)
            .into_iter()
            .filter(|f| f.category() == c)
            .map(|f| f.display_label())
            .collect();
        names.sort();
        names.dedup();
        fields.push(json!({"category": c.label(), "fields": names.join(", ")}));
    }
    json!({
        "categories": Category::ALL.iter().map(|c| c.label()).collect::<Vec<_>>(),
        "roles": roles,
        "fields": fields,
    })
}

/// Where practice departs from the drawing: ad-hoc work per step the cases stood at, most
/// first, with what was added most often there.
fn practice_json(
    pv: &doorloop_engine::pathway::model::PathwayVersion,
    rows: &[doorloop_engine::store::AdHocCount],
) -> Value {
    /// (step the cases stood at, ad-hoc tasks there, (title, count) most first).
    type AtStep<'a> = (Option<&'a str>, i64, Vec<(&'a str, i64)>);
    let mut by_step: Vec<AtStep> = Vec::new();
    for r in rows {
        let at = r.at_step.as_deref();
        match by_step.iter_mut().find(|(s, _, _)| *s == at) {
            Some((_, n, titles)) => {
                *n += r.count;
                titles.push((&r.title, r.count));
            }
            None => by_step.push((at, r.count, vec![(&r.title, r.count)])),
        }
    }
    by_step.sort_by_key(|b| std::cmp::Reverse(b.1));
    Value::Array(
        by_step
            .into_iter()
            .map(|(step, count, titles)| {
                let name = match step {
                    Some(id) => pv
                        .step(id)
                        .map_or_else(|| id.to_owned(), |s| s.display_name().to_owned()),
                    None => "(geen open stap)".to_owned(),
                };
                let work: Vec<String> = titles
                    .iter()
                    .take(5)
                    .map(|(t, n)| {
                        if *n > 1 {
                            format!("{t} ({n}×)")
                        } else {
                            (*t).to_owned()
                        }
                    })
                    .collect();
                json!({"step": name, "count": count, "work": work.join(" · ")})
            })
            .collect(),
    )
}

#[derive(Deserialize)]
pub struct ExportQuery {
    formaat: Option<String>,
}

/// A version as YAML (the file it was published from) or as BPMN 2.0 with a diagram.
pub async fn export(
    State(app): Shared,
    viewer: Viewer,
    Path((key, version)): Path<(String, u32)>,
    PageQuery(q): PageQuery<ExportQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Manager, UserRole::Coordinator])?;
    let pv = app.engine.pathway(&key, Some(version)).await?;
    let (body, ctype, ext) = match q.formaat.as_deref().unwrap_or("yaml") {
        "bpmn" => (
            doorloop_engine::bpmn::export::export(&pv.pathway)
                .map_err(|e| WebError::Internal(e.to_string()))?,
            "application/xml; charset=utf-8",
            "bpmn",
        ),
        "yaml" => (
            app.engine
                .store()
                .pathway_source(&key, version)
                .await?
                .ok_or(WebError::NotFound)?,
            "application/yaml; charset=utf-8",
            "yaml",
        ),
        other => {
            return Err(WebError::BadRequest(format!(
                "Onbekend formaat '{other}': kies yaml of bpmn."
            )));
        }
    };
    let disposition = format!("attachment; filename=\"{key}-v{version}.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

// ---- editing ----

/// A checked draft: what the editor page shows.
struct Checked {
    loaded: Option<Loaded>,
    /// A file that cannot be read at all: (message, line).
    unreadable: Option<(String, Option<usize>)>,
    problems: Vec<Problem>,
}

/// Parses and validates off the async threads (a large or hostile file must not hold up
/// other requests).
async fn check(source: &str, key: Option<&str>) -> WebResult<Checked> {
    let (source, key) = (source.to_owned(), key.map(str::to_owned));
    tokio::task::spawn_blocking(move || check_now(&source, key.as_deref()))
        .await
        .map_err(|e| WebError::Internal(format!("checking a pathway: {e}")))
}

fn check_now(source: &str, key: Option<&str>) -> Checked {
    match from_yaml(source) {
        Err(e) => {
            let line = match &e {
                doorloop_engine::pathway::definition::DefinitionError::Syntax { line, .. }
                | doorloop_engine::pathway::definition::DefinitionError::TooDeep { line, .. } => Some(*line),
                _ => None,
            };
            Checked {
                loaded: None,
                unreadable: Some((dutch_problems::definition(&e), line)),
                problems: Vec::new(),
            }
        }
        Ok(loaded) => {
            let mut c = Checked {
                problems: validate(&loaded),
                unreadable: None,
                loaded: None,
            };
            let k = loaded.pathway.key.as_str();
            if let Some(key) = key
                && k != key
            {
                c.unreadable = Some((
                    format!(
                        "De sleutel in het bestand is `{k}`, maar dit is traject `{key}`. Een nieuw traject begint u via 'Nieuw traject'."
                    ),
                    Some(1),
                ));
            }
            c.loaded = Some(loaded);
            c
        }
    }
}

impl Checked {
    fn publishable(&self) -> bool {
        self.loaded.is_some() && self.unreadable.is_none() && self.problems.is_empty()
    }

    /// Problems by step (in the file's order), then those of the whole pathway.
    fn grouped(&self) -> (Vec<Value>, Vec<Value>) {
        let Some(loaded) = &self.loaded else {
            return (Vec::new(), Vec::new());
        };
        let mut by_step: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        let mut general = Vec::new();
        for p in &self.problems {
            let text = json!({"message": dutch_problems::problem(&p.kind), "line": p.line});
            match p
                .step
                .as_ref()
                .and_then(|id| loaded.pathway.steps.iter().position(|s| &s.id == id))
            {
                Some(i) => by_step.entry(i).or_default().push(text),
                None => general.push(text),
            }
        }
        let steps = by_step
            .into_iter()
            .map(|(i, problems)| {
                let s = &loaded.pathway.steps[i];
                json!({"id": s.id, "name": s.display_name(), "line": loaded.step_lines.get(&i), "problems": problems})
            })
            .collect();
        (steps, general)
    }

    fn problem_lines(&self) -> BTreeSet<usize> {
        let mut lines: BTreeSet<usize> = self.problems.iter().filter_map(|p| p.line).collect();
        if let Some((_, Some(line))) = &self.unreadable {
            lines.insert(*line);
        }
        lines
    }
}

/// Marks for the drawn draft: every step with a problem in red, with the count.
fn problem_marks(checked: &Checked) -> Marks {
    let mut marks = Marks::default();
    for p in &checked.problems {
        if let Some(step) = &p.step {
            let m = marks.steps.entry(step.clone()).or_insert_with(|| Mark {
                lines: Vec::new(),
                colour: Some(graph::BAD),
            });
            m.lines.clear();
            let n = checked
                .problems
                .iter()
                .filter(|q| q.step.as_ref() == Some(step))
                .count();
            m.lines
                .push(format!("⚠ {n} {}", if n == 1 { "probleem" } else { "problemen" }));
        }
    }
    marks
}

/// A changed step's attributes as people read them: `termijn: 5 werkdagen → 10 werkdagen`,
/// or `formulier gewijzigd` where the value is too big for a line.
/// `step_name(id, before)` names a step of the old (`true`) or new version: where a step is
/// followed by another, the other is named.
fn change_lines(
    c: &doorloop_engine::figures::diff::StepChange,
    step_name: impl Fn(&str, bool) -> Option<String>,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for (a, (old, new)) in c.attributes.iter().zip(&c.values) {
        let name = attribute_nl(a);
        let steps = matches!(a.as_str(), "next" | "default" | "on_deadline");
        let shown = |v: &Option<String>, before: bool| match v {
            None => "(geen)".to_owned(),
            Some(v) if steps => v
                .split(", ")
                .map(|id| step_name(id, before).unwrap_or_else(|| id.to_owned()))
                .collect::<Vec<_>>()
                .join(", "),
            Some(v) => v.clone(),
        };
        let line = match (old, new) {
            (None, None) => format!("{name} gewijzigd"),
            (old, new) => format!("{name}: {} → {}", shown(old, true), shown(new, false)),
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

fn attribute_nl(a: &str) -> &str {
    match a {
        "kind" => "soort",
        "name" => "naam",
        "role" | "roles" => "rol",
        "deadline" => "termijn",
        "next" | "branches" | "default" => "vervolg",
        "fields" => "formulier",
        "stall_after" => "stil na",
        "expected" => "verwachte duur",
        "escalations" => "escalaties",
        "on_deadline" => "bij verlopen termijn",
        "party" => "partij",
        "reason" => "wachtreden",
        "description" => "omschrijving",
        "outcome" => "uitkomst",
        "rung" => "trede",
        "set" => "berekening",
        "clock" => "klok",
        "variables" => "variabelen",
        "defaults" => "standaarden",
        other => other,
    }
}

async fn editor_page(
    app: &AppState,
    viewer: &Viewer,
    key: Option<&str>,
    source: &str,
    saved: Option<&Draft>,
    status: StatusCode,
) -> WebResult<Response> {
    editor_page_asking(app, viewer, key, source, saved, status, false).await
}

/// The editor; `ask_discard` shows the question whether the saved draft is to be thrown away.
async fn editor_page_asking(
    app: &AppState,
    viewer: &Viewer,
    key: Option<&str>,
    source: &str,
    saved: Option<&Draft>,
    status: StatusCode,
    ask_discard: bool,
) -> WebResult<Response> {
    let checked = check(source, key).await?;
    let live = match key {
        Some(k) => match app.engine.pathway(k, None).await {
            Ok(pv) => Some(pv),
            Err(doorloop_engine::engine::EngineError::Store(StoreError::PathwayNotFound { .. })) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let (steps, general) = checked.grouped();
    let lines = checked.problem_lines();
    let gutter: Vec<Value> = (1..=source.lines().count().max(1))
        .map(|n| json!({"n": n, "bad": lines.contains(&n)}))
        .collect();
    // The pathway by its name: the draft's when it reads, else the live version's.
    let name = checked
        .loaded
        .as_ref()
        .map(|l| l.pathway.name.clone())
        .or_else(|| live.as_ref().map(|l| l.pathway.name.clone()))
        .filter(|n| !n.trim().is_empty())
        .or_else(|| key.map(str::to_owned));
    let title = match &name {
        Some(n) => format!("{n} bewerken"),
        None => "Nieuw traject".to_owned(),
    };
    let mut data = base(viewer, &title, "trajecten");
    data.insert("key".into(), json!(key));
    data.insert("name".into(), json!(name));
    data.insert("source".into(), json!(source));
    data.insert("gutter".into(), json!(gutter));
    data.insert(
        "problem_lines".into(),
        json!(lines.iter().map(usize::to_string).collect::<Vec<_>>().join(",")),
    );
    data.insert(
        "unreadable".into(),
        json!(
            checked
                .unreadable
                .as_ref()
                .map(|(m, l)| json!({"message": m, "line": l}))
        ),
    );
    data.insert("step_problems".into(), json!(steps));
    data.insert("general_problems".into(), json!(general));
    data.insert("problem_count".into(), json!(checked.problems.len()));
    data.insert("valid".into(), json!(checked.publishable()));
    data.insert(
        "checked".into(),
        json!(saved.is_some() || status != StatusCode::OK),
    );
    if let Some(d) = saved {
        data.insert(
            "saved".into(),
            json!({"by": d.updated_by, "at": date_time(d.updated_at)}),
        );
        data.insert("ask_discard".into(), json!(ask_discard));
        data.insert("hash".into(), json!(auth::token_hash(&d.source)));
    }
    if let (Some(loaded), Some(k)) = (&checked.loaded, key)
        && checked.unreadable.is_none()
        && saved.is_some()
    {
        data.insert(
            "graph".into(),
            json!(format!(
                "/trajecten/{k}/concept/graaf.svg?h={}",
                &auth::token_hash(source)[..16]
            )),
        );
        let next = live.as_ref().map_or(1, |l| l.version + 1);
        data.insert("next_version".into(), json!(next));
        if let Some(live) = &live {
            let d = diff(&live.pathway, &loaded.pathway);
            let name = |id: &str, p: &doorloop_engine::pathway::model::Pathway| {
                p.steps
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| format!("{} ({id})", s.display_name()))
                    .unwrap_or_else(|| id.to_owned())
            };
            data.insert(
                "diff".into(),
                json!({
                    "live": live.version,
                    "empty": d.is_empty(),
                    "added": d.added.iter().map(|id| name(id, &loaded.pathway)).collect::<Vec<_>>(),
                    "removed": d.removed.iter().map(|id| name(id, &live.pathway)).collect::<Vec<_>>(),
                    "changed": d.changed.iter().map(|c| json!({
                        "step": name(&c.id, &loaded.pathway),
                        "what": change_lines(c, |id, before| {
                            let p = if before { &live.pathway } else { &loaded.pathway };
                            p.steps.iter().find(|s| s.id == id).map(|s| format!("{} ({id})", s.display_name()))
                        }).join("; "),
                    })).collect::<Vec<_>>(),
                    "pathway": d.pathway.iter().map(|a| attribute_nl(a)).collect::<Vec<_>>().join(", "),
                }),
            );
            data.insert("unchanged".into(), json!(d.is_empty()));
        }
    }
    Ok(page(status, "editor", Value::Object(data)))
}

pub async fn new_form(State(app): Shared, viewer: Viewer) -> WebResult<Response> {
    coordinator(&viewer)?;
    editor_page(&app, &viewer, None, NEW_PATHWAY, None, StatusCode::OK).await
}

pub async fn edit_form(State(app): Shared, viewer: Viewer, Path(key): Path<String>) -> WebResult<Response> {
    coordinator(&viewer)?;
    let store = app.engine.store();
    if let Some(draft) = store.draft(&key).await? {
        return editor_page(
            &app,
            &viewer,
            Some(&key),
            &draft.source,
            Some(&draft),
            StatusCode::OK,
        )
        .await;
    }
    let live = app.engine.pathway(&key, None).await?;
    let source = store
        .pathway_source(&key, live.version)
        .await?
        .ok_or(WebError::NotFound)?;
    editor_page(&app, &viewer, Some(&key), &source, None, StatusCode::OK).await
}

fn posted_source(form: &CsrfForm) -> WebResult<String> {
    let source = form.get("bron").unwrap_or_default().replace("\r\n", "\n");
    if source.trim().is_empty() {
        return Err(WebError::BadRequest("Het traject is leeg.".into()));
    }
    Ok(source)
}

/// Saves the posted text as the draft (when its key can be read) and shows it checked.
pub async fn save(State(app): Shared, Path(key): Path<String>, form: CsrfForm) -> WebResult<Response> {
    coordinator(&form.viewer)?;
    let source = posted_source(&form)?;
    let store = app.engine.store();
    let known = store.draft(&key).await?.is_some() || store.pathways().await?.iter().any(|p| p.key == key);
    if !known {
        return Err(WebError::NotFound);
    }
    let checked = check(&source, Some(&key)).await?;
    if checked.loaded.is_some() && checked.unreadable.is_some() {
        // A file for another key (or a bad key) is not this pathway's draft.
        return editor_page(
            &app,
            &form.viewer,
            Some(&key),
            &source,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // Saved even when it cannot be read yet, so no work is lost.
    app.engine
        .store()
        .save_draft(&key, &source, &form.viewer.user.id, app.clock.now())
        .await?;
    tracing::info!(pathway = %key, problems = checked.problems.len(), "draft saved");
    Ok(Redirect::to(&format!("/trajecten/{key}/bewerken")).into_response())
}

/// The first save of a new pathway: its key comes from the file.
pub async fn save_new(State(app): Shared, form: CsrfForm) -> WebResult<Response> {
    coordinator(&form.viewer)?;
    let source = posted_source(&form)?;
    let checked = check(&source, None).await?;
    let Some(loaded) = checked.loaded.as_ref().filter(|_| checked.unreadable.is_none()) else {
        return editor_page(
            &app,
            &form.viewer,
            None,
            &source,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let key = loaded.pathway.key.clone();
    let store = app.engine.store();
    let taken = store.pathways().await?.iter().any(|p| p.key == key) || store.draft(&key).await?.is_some();
    if taken {
        return Err(WebError::BadRequest(format!(
            "Er is al een traject of concept met de sleutel `{key}`; kies een andere sleutel of bewerk dat traject."
        )));
    }
    store
        .save_draft(&key, &source, &form.viewer.user.id, app.clock.now())
        .await?;
    Ok(Redirect::to(&format!("/trajecten/{key}/bewerken")).into_response())
}

/// Throws the draft away once the coordinator confirmed it (`bevestigd=ja`); before that,
/// the editor asks, and the draft stays.
pub async fn discard(State(app): Shared, Path(key): Path<String>, form: CsrfForm) -> WebResult<Response> {
    coordinator(&form.viewer)?;
    let store = app.engine.store();
    let published = store.pathways().await?.iter().any(|p| p.key == key);
    let back = if published {
        format!("/trajecten/{key}")
    } else {
        "/trajecten".to_owned()
    };
    let Some(draft) = store.draft(&key).await? else {
        return Ok(Redirect::to(&back).into_response());
    };
    if form.get("bevestigd") != Some("ja") {
        return editor_page_asking(
            &app,
            &form.viewer,
            Some(&key),
            &draft.source,
            Some(&draft),
            StatusCode::OK,
            true,
        )
        .await;
    }
    store.delete_draft(&key).await?;
    Ok(Redirect::to(&back).into_response())
}

/// Publishes the draft as the next version, if it is still the text the coordinator
/// checked (`hash`) and has no problems.
pub async fn publish(State(app): Shared, Path(key): Path<String>, form: CsrfForm) -> WebResult<Response> {
    coordinator(&form.viewer)?;
    let store = app.engine.store();
    let draft = store.draft(&key).await?.ok_or(WebError::NotFound)?;
    if form.get("hash") != Some(auth::token_hash(&draft.source).as_str()) {
        return Err(WebError::BadRequest(
            "Het concept is intussen gewijzigd. Controleer het opnieuw voordat u publiceert.".into(),
        ));
    }
    let checked = check(&draft.source, Some(&key)).await?;
    if !checked.publishable() {
        return editor_page(
            &app,
            &form.viewer,
            Some(&key),
            &draft.source,
            Some(&draft),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let pv = app.engine.publish_yaml(&draft.source, app.clock.now()).await?;
    store.delete_draft(&key).await?;
    tracing::info!(pathway = %key, version = pv.version, "published from the web admin");
    Ok(Redirect::to(&format!("/trajecten/{key}?gepubliceerd={}", pv.version)).into_response())
}

/// A BPMN 2.0 file (bpmn.io, Camunda Modeler) uploaded by a coordinator becomes the draft of
/// its pathway, as YAML in the editor; nothing is published until it is checked.
pub async fn import_bpmn(
    State(app): Shared,
    viewer: Viewer,
    headers: axum::http::HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> WebResult<Response> {
    auth::check_origin(&headers, app.config.secure_cookies)?;
    coordinator(&viewer)?;
    let bad = |m: String| WebError::BadRequest(m);
    let (mut csrf, mut file) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("Het formulier kon niet worden gelezen: {e}")))?
    {
        match field.name() {
            Some("_csrf") => csrf = Some(field.text().await.map_err(|e| bad(e.to_string()))?),
            Some("bestand") => {
                let bytes = field.bytes().await.map_err(|e| bad(e.to_string()))?;
                file = Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| bad("Het bestand is geen tekst (UTF-8).".into()))?,
                );
            }
            _ => {}
        }
    }
    auth::check_csrf(&viewer.csrf, &[("_csrf".to_owned(), csrf.unwrap_or_default())])?;
    let xml = file
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| bad("Kies een BPMN-bestand.".into()))?;
    let imported = tokio::task::spawn_blocking(move || doorloop_engine::bpmn::import::import_all(&xml))
        .await
        .map_err(|e| WebError::Internal(format!("importing BPMN: {e}")))?;
    // Called processes of the same file first, each a draft of its own; the main one last.
    let all = match imported {
        Ok(all) => all,
        Err(e) => {
            let mut data = base(&viewer, "BPMN inlezen", "trajecten");
            data.insert("import_errors".into(), json!(dutch_problems::bpmn(&e)));
            return Ok(page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "import",
                Value::Object(data),
            ));
        }
    };
    let mut drafts = Vec::new();
    for imported in all {
        let (pathway, notices) = (imported.pathway, imported.notices);
        let key = pathway.key.clone();
        if !doorloop_engine::pathway::validate::valid_key(&key) {
            return Err(bad(format!(
                "De sleutel `{key}` uit het bestand mag alleen kleine letters, cijfers, '-' en '_' bevatten."
            )));
        }
        let yaml = doorloop_engine::pathway::definition::to_yaml(&pathway)
            .map_err(|e| bad(dutch_problems::definition(&e)))?;
        // What the import left out or decided stays at the top of the draft, as comments the
        // coordinator reads in the editor (and may delete).
        let yaml = if notices.is_empty() {
            yaml
        } else {
            let mut head = String::from("# Bij het inlezen uit BPMN:\n");
            for n in &notices {
                head.push_str(&format!("# - {}\n", n.replace('\n', " ")));
            }
            head + &yaml
        };
        drafts.push((key, yaml, pathway.steps.len()));
    }
    let mut main = String::new();
    for (key, yaml, steps) in drafts {
        app.engine
            .store()
            .save_draft(&key, &yaml, &viewer.user.id, app.clock.now())
            .await?;
        tracing::info!(pathway = %key, steps, "BPMN imported into a draft");
        main = key;
    }
    Ok(Redirect::to(&format!("/trajecten/{main}/bewerken")).into_response())
}

/// The form for a BPMN file.
pub async fn import_form(viewer: Viewer) -> WebResult<Response> {
    coordinator(&viewer)?;
    let data = base(&viewer, "BPMN inlezen", "trajecten");
    Ok(page(StatusCode::OK, "import", Value::Object(data)))
}

/// The draft drawn with its problems marked.
pub async fn draft_graph(State(app): Shared, viewer: Viewer, Path(key): Path<String>) -> WebResult<Response> {
    coordinator(&viewer)?;
    let draft = app.engine.store().draft(&key).await?.ok_or(WebError::NotFound)?;
    let checked = check(&draft.source, Some(&key)).await?;
    let loaded = checked.loaded.as_ref().ok_or(WebError::NotFound)?;
    let pv = PathwayVersion {
        version: 0,
        pathway: loaded.pathway.clone(),
    };
    let drawing = app
        .graphs
        .draw(std::sync::Arc::new(pv), problem_marks(&checked))
        .await?;
    Ok(svg_response(drawing.svg.clone(), "no-store"))
}
