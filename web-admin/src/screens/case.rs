//! The case page (where the case is, its open work, ladder, team and timeline), the case list and the pathway graph.

use crate::error::PageQuery;
use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::runtime::{CaseState, EventKind};
use doorloop_engine::store::UserRole;
use doorloop_engine::text::dutch::code_label;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::access::CaseAccess;
use crate::auth::{self, CsrfForm, Viewer};
use crate::cases::{self, CaseAct, team_json, visible_case_on_pathway};
use crate::error::{WebError, WebResult};
use crate::forms;
use crate::graph::Marks;
use crate::views::{
    base, date, date_time, due_state, page, pathway_name, role_label, role_labels, short, stall_reason,
    status_label,
};

/// Names of the people and pathways an event may mention, resolved before it is worded.
pub(crate) struct Names {
    pub(crate) people: std::collections::HashMap<String, String>,
    pub(crate) pathways: Vec<(String, String)>,
    pub(crate) provisions: std::collections::HashMap<String, String>,
}

impl Names {
    pub(crate) fn person(&self, id: &str) -> String {
        self.people.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// Everyone who acted on or was given work in `events`, by name.
    async fn of(app: &crate::AppState, events: &[doorloop_engine::store::StoredEvent]) -> WebResult<Names> {
        let store = app.engine.store().as_ref();
        let mut people = std::collections::HashMap::new();
        for e in events {
            let assigned = match &e.event.kind {
                EventKind::TaskAssigned { user: Some(u), .. } => Some(u.as_str()),
                _ => None,
            };
            for id in std::iter::once(e.event.actor.as_str()).chain(assigned) {
                if !people.contains_key(id) {
                    people.insert(id.to_owned(), app.users.name(store, id).await?);
                }
            }
        }
        Ok(Names {
            people,
            pathways: app.pathway_names.get(&app.engine).await?.to_vec(),
            provisions: app
                .engine
                .provision_kinds()
                .iter()
                .map(|k| (k.key.clone(), k.label.clone()))
                .collect(),
        })
    }
}

/// Titles of a case's ad-hoc tasks by task id, from its history.
pub(crate) fn adhoc_titles(events: &[doorloop_engine::store::StoredEvent]) -> HashMap<String, String> {
    events
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::TaskOpened { task } => task.adhoc.as_ref().map(|a| (task.id.clone(), a.title.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn event_text(
    kind: &EventKind,
    pv: &PathwayVersion,
    names: &Names,
    adhoc: &HashMap<String, String>,
) -> Option<String> {
    let step = |id: &str| {
        pv.step(id)
            .map(|s| s.display_name().to_owned())
            .unwrap_or_else(|| id.to_owned())
    };
    Some(match kind {
        EventKind::CaseStarted { pathway_version, .. } => format!("Casus gestart (versie {pathway_version})"),
        EventKind::TaskOpened { task } => match &task.adhoc {
            Some(a) => format!(
                "Taak toegevoegd buiten het traject: {} (voor {}). Reden: {}",
                a.title,
                role_labels(pv, &task.roles),
                a.reason
            ),
            None => format!("Taak geopend: {}", step(&task.step)),
        },
        EventKind::TaskCompleted { task, data, .. } if adhoc.contains_key(task) => {
            match data
                .get(doorloop_engine::runtime::ADHOC_NOTE)
                .and_then(Value::as_str)
            {
                Some(note) => format!("Afgerond: {}. {note}", adhoc[task]),
                None => format!("Afgerond: {}", adhoc[task]),
            }
        }
        EventKind::TaskClosed { task, .. } if adhoc.contains_key(task) => {
            format!("Gesloten: {}", adhoc[task])
        }
        EventKind::TaskAssigned { user: Some(u), .. } => format!("Taak toegewezen aan {}", names.person(u)),
        EventKind::TaskAssigned { user: None, .. } => "Taak vrijgegeven".to_owned(),
        EventKind::VisitPlanned { visit, .. } => {
            format!("Gezamenlijk bezoek gepland op {}", date_time(visit.at))
        }
        EventKind::TaskCompleted { step: s, .. } => format!("Afgerond: {}", step(s)),
        EventKind::TaskClosed { step: s, .. } => format!("Gesloten: {}", step(s)),
        EventKind::RungSet { rung, .. } => format!(
            "Trede participatieladder: {}",
            forms::rung_label(u64::from(*rung))
        ),
        // An end no category fits says how by its step's name.
        EventKind::CaseEnded { outcome, step: end } if outcome == "overig" => {
            format!("Casus afgesloten: {}", step(end))
        }
        EventKind::CaseEnded { outcome, .. } => format!("Casus afgesloten: {}", code_label(outcome)),
        EventKind::CaseWithdrawn { reason } => format!("Casus ingetrokken: {reason}"),
        EventKind::NoteRecorded { kind, text } => format!("{}: {text}", note_label(kind)),
        EventKind::MessageReceived { name, step: s, .. } => {
            format!("Bericht ontvangen: {} ({})", code_label(name), step(s))
        }
        EventKind::PhaseEntered { phase, due, .. } => {
            let name = phase_name(pv, phase);
            match due {
                Some(due) => format!("Fase {name} begonnen (termijn tot {})", date_time(*due)),
                None => format!("Fase {name} begonnen"),
            }
        }
        EventKind::PhaseLeft { phase } => format!("Fase {} afgerond", phase_name(pv, phase)),
        EventKind::PhaseDeadlinePassed { phase } => {
            format!("Termijn van fase {} verstreken", phase_name(pv, phase))
        }
        EventKind::PhaseEscalationRaised { phase, to, .. } => format!(
            "Escalatie (fase {}) naar {}",
            phase_name(pv, phase),
            role_label(pv, to)
        ),
        EventKind::DueChanged { due, .. } => format!("Termijn: {}", date_time(due.at)),
        EventKind::DeadlinePassed { step: s, .. } => format!("Termijn verstreken: {}", step(s)),
        EventKind::EscalationRaised { step: s, to, .. } => {
            format!("Escalatie ({}) naar {}", step(s), role_label(pv, to))
        }
        EventKind::StallRaised { stall, .. } => format!("Vastgelopen: {}", stall_reason(&stall.reason)),
        EventKind::StallCleared { .. } => "Weer in beweging".to_owned(),
        EventKind::CaseMigrated {
            from_version,
            to_version,
            ..
        } => format!("Overgezet van versie {from_version} naar versie {to_version}"),
        EventKind::TaskMoved { step: s, .. } => format!("Taak verplaatst naar: {}", step(s)),
        EventKind::VariablesSet { .. } => "Gegevens bijgewerkt".to_owned(),
        EventKind::ProvisionChanged { change } => format!(
            "Voorziening {}: {}",
            names
                .provisions
                .get(&change.kind)
                .cloned()
                .unwrap_or_else(|| code_label(&change.kind)),
            change.status.label()
        ),
        EventKind::LinkedCaseStarted { link } => format!(
            "Gekoppeld traject gestart: {}",
            pathway_name(&names.pathways, &link.pathway)
        ),
        EventKind::LinkedCaseEnded { outcome, .. } => {
            format!("Gekoppeld traject afgerond: {}", code_label(outcome))
        }
        _ => return None,
    })
}

/// A phase by its name (its id when it has none or left the pathway).
fn phase_name(pv: &PathwayVersion, id: &str) -> String {
    pv.phase(id)
        .map(|p| p.name.trim())
        .filter(|n| !n.is_empty())
        .unwrap_or(id)
        .to_owned()
}

/// A field's value as people read it: Ja/Nee, option words, rung names, Dutch dates.
pub(crate) fn shown_value(pv: &PathwayVersion, name: &str, value: &Value) -> String {
    use doorloop_engine::pathway::model::FieldType;
    let ty = pv.variable_type(name).map(|f| f.ty);
    match (ty, value) {
        (_, Value::Bool(true)) => "Ja".into(),
        (_, Value::Bool(false)) => "Nee".into(),
        (Some(FieldType::Rung), Value::Number(n)) => forms::rung_label(n.as_u64().unwrap_or_default()).into(),
        (Some(FieldType::Date), Value::String(d)) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_else(|_| d.clone()),
        (Some(FieldType::Choice), Value::String(o)) => pv
            .variable_type(name)
            .map_or_else(|| code_label(o), |f| f.option_label(o)),
        (_, Value::String(t)) => t.clone(),
        (_, Value::Null) => "–".into(),
        (_, other) => other.to_string(),
    }
}

pub(crate) fn field_label(pv: &PathwayVersion, name: &str) -> String {
    pv.variable_type(name)
        .map_or_else(|| name.replace('_', " "), |f| f.display_label())
}

/// A value a field was given: the value, by whom, when.
type SetValue<'e> = (&'e Value, &'e str, chrono::DateTime<chrono::Utc>);

/// The plan: the pathway's summary fields with their latest value, who set it and when,
/// and earlier values; then every completed form, grouped by step, oldest first. Only the
/// fields the viewer may read (need to know); the third value names the categories left out.
async fn plan_json(
    app: &crate::AppState,
    pv: &PathwayVersion,
    events: &[doorloop_engine::store::StoredEvent],
    sight: &crate::access::Sight<'_>,
) -> WebResult<(Vec<Value>, Vec<Value>, Vec<&'static str>)> {
    let mut withheld: Vec<&String> = Vec::new();
    let store = app.engine.store().as_ref();
    let name_of = async |id: &str| app.users.name(store, id).await;
    // Every value each field had, oldest first: (value, who, when, step).
    let mut history: std::collections::BTreeMap<&str, Vec<SetValue<'_>>> = Default::default();
    let mut forms = Vec::new();
    for e in events {
        let (data, step) = match &e.event.kind {
            EventKind::TaskCompleted { data, step, .. } => (data, Some(step.as_str())),
            EventKind::CaseStarted { variables, .. } => (variables, None),
            _ => continue,
        };
        if data.is_empty() {
            continue;
        }
        withheld.extend(data.keys().filter(|k| !sight.shows(k)));
        for (k, v) in data.iter().filter(|(k, _)| sight.shows(k)) {
            history
                .entry(k.as_str())
                .or_default()
                .push((v, &e.event.actor, e.event.at));
        }
        if let Some(step) = step {
            let fields: Vec<Value> = data
                .iter()
                .filter(|(k, _)| sight.shows(k))
                .map(|(k, v)| json!({"label": field_label(pv, k), "value": shown_value(pv, k, v)}))
                .collect();
            forms.push(json!({
                "step": pv.step(step).map(|s| s.display_name().to_owned()).unwrap_or_else(|| step.to_owned()),
                "at": date_time(e.event.at),
                "by": name_of(&e.event.actor).await?,
                "fields": fields,
            }));
        }
    }
    let mut summary = Vec::new();
    for name in &pv.pathway.summary {
        let Some(values) = history.get(name.as_str()) else {
            continue;
        };
        let Some((latest, who, at)) = values.last() else {
            continue;
        };
        let mut earlier = Vec::new();
        for (v, w, t) in values[..values.len() - 1].iter().rev() {
            earlier.push(json!({"value": shown_value(pv, name, v), "by": name_of(w).await?, "at": date(*t)}));
        }
        summary.push(json!({
            "label": field_label(pv, name),
            "value": shown_value(pv, name, latest),
            "by": name_of(who).await?,
            "at": date(*at),
            "earlier": earlier,
        }));
    }
    Ok((summary, forms, sight.hidden(withheld)))
}

fn current_steps(state: &CaseState) -> BTreeSet<String> {
    state
        .tasks
        .values()
        .filter(|t| t.adhoc.is_none())
        .map(|t| t.step.clone())
        .chain(state.tokens.values().map(|t| t.step.clone()))
        .collect()
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    klaar: Option<String>,
    /// `ingetrokken` or `termijn`: the confirmation after an action on the case.
    melding: Option<String>,
}

pub async fn case_page(
    State(app): Shared,
    viewer: Viewer,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<CaseQuery>,
) -> WebResult<Response> {
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    app.access_log.record(&viewer.user, &id, "casuspagina").await?;
    let now = app.clock.now();
    let steps = current_steps(&state);
    let mut tasks = Vec::new();
    for t in state.tasks.values() {
        let step = pv.step(&t.step);
        let (due_class, due_text) = due_state(t.due.as_ref().map(|d| d.at), now);
        tasks.push(json!({
            "id": t.id,
            "step_name": t.title(&pv),
            "adhoc": t.adhoc.as_ref().map(|a| &a.reason),
            "roles": role_labels(&pv, &t.roles),
            "assignee": match &t.assignee {
                Some(a) => Some(app.users.name(app.engine.store().as_ref(), a).await?),
                None => None,
            },
            "due_class": due_class,
            "due_text": due_text,
            "explanation": t.due.as_ref().map(|d| d.explanation.clone()).unwrap_or_default(),
            "visit": t.visit.as_ref().map(|v| date_time(v.at)),
            "can_open": access == CaseAccess::Act || access == CaseAccess::Read,
            "clock": clock_actions(&viewer, access, step, t),
        }));
    }
    let events = app.engine.store().events(&id).await?;
    let names = Names::of(&app, &events).await?;
    let adhoc = adhoc_titles(&events);
    let timeline: Vec<Value> = events
        .iter()
        .rev()
        .filter_map(|e| {
            event_text(&e.event.kind, &pv, &names, &adhoc).map(
                |what| json!({"at": date_time(e.event.at), "what": what, "actor": names.person(&e.event.actor)}),
            )
        })
        .collect();
    let rungs: Vec<Value> = state
        .rung_history
        .iter()
        .map(|r| {
            json!({
                "label": forms::rung_label(u64::from(r.rung)),
                "at": date(r.at),
                "step": r.step.as_deref().and_then(|s| pv.step(s)).map(|s| s.display_name()),
            })
        })
        .collect();
    let may_act = access == CaseAccess::Act && viewer.user.role == UserRole::Consultant;
    let stalls: Vec<Value> = state
        .stalls
        .values()
        .map(|s| {
            // Held at a gateway where no condition held: the routes to choose from.
            let held = s
                .step
                .as_deref()
                .and_then(|id| pv.step(id))
                .filter(|_| s.reason == doorloop_engine::runtime::NO_ROUTE && may_act);
            let routes: Vec<Value> = held
                .map(|g| {
                    g.branches
                        .iter()
                        .map(|b| (b.to.as_str(), b.label.as_deref()))
                        .chain(g.default.as_deref().map(|d| (d, None)))
                        .map(|(to, label)| {
                            let name = pv.step(to).map_or(to, |t| t.display_name());
                            json!({"to": to, "label": label.map_or_else(|| name.to_owned(), |l| format!("{l} ({name})"))})
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "reason": stall_reason(&s.reason),
                "step": s.step.as_deref().and_then(|id| pv.step(id)).map(|st| st.display_name()),
                "step_id": s.step,
                "party": s.party,
                "since": date(s.since),
                "routes": routes,
                "case_id": state.id,
                "csrf": viewer.csrf,
            })
        })
        .collect();
    let active: Vec<String> = steps.iter().cloned().collect();
    let graph_url = format!(
        "/trajecten/{}/{}/graaf.svg?{}",
        state.pathway_key,
        state.pathway_version,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("actief", &active.join(","))
            .finish()
    );
    let graph_window_url = format!("{graph_url}&venster=1");
    // Where the current steps lie in the window, so the page scrolls the drawing to them
    // (the same drawing the image asks for, from the cache).
    let window = app
        .graphs
        .get_or_draw_marked(&pv, &window_marks(&pv, steps.iter().map(String::as_str)))
        .await?;
    let status = state.status.as_str();
    let (back, back_label) = if viewer.user.role == UserRole::Consultant {
        ("/taken", "Mijn taken")
    } else {
        ("/casussen", "Casussen")
    };
    let resident = match &state.resident {
        Some(r) => app.engine.store().resident(r).await?,
        None => None,
    };
    let title = match &resident {
        Some(r) => format!("{} – {}", r.display_name(), pv.pathway.name),
        None => format!("Casus {}", short(&id)),
    };
    let mut data = base(&viewer, &title, "casussen");
    data.insert(
        "case".into(),
        json!({
            "id": state.id,
            "short_id": short(&state.id),
            "status": status,
            "status_label": status_label(status),
            "pathway_name": pv.pathway.name,
            "pathway_version": state.pathway_version,
            "started": state.started_at.map(date).unwrap_or_default(),
            "outcome": state.outcome.as_deref().map(code_label),
            "stalls": stalls,
            "current_steps": steps.iter().filter_map(|s| pv.step(s)).map(|s| s.display_name()).collect::<Vec<_>>().join(", "),
        }),
    );
    let names = app.pathway_names.get(&app.engine).await?;
    let pathway_name = |key: &str| crate::views::pathway_name(&names, key);
    let links: Vec<Value> = state
        .links
        .iter()
        .map(|l| {
            json!({
                "id": l.case, "pathway": pathway_name(&l.pathway), "started": date(l.started_at),
                "outcome": l.outcome.as_deref().map(code_label),
                "waits": l.task.is_some() && l.outcome.is_none(),
            })
        })
        .collect();
    data.insert("links".into(), Value::Array(links));
    if let Some(key) = &state.business_key {
        data.insert("business_key".into(), json!(key));
    }
    if let Some(from) = &state.came_from {
        data.insert(
            "came_from".into(),
            json!({"id": from.case, "pathway": pathway_name(&from.pathway), "waits": from.task.is_some()}),
        );
    }
    if let Some(resident) = &state.resident
        && let Some(r) = app.engine.store().resident(resident).await?
    {
        data.insert(
            "resident".into(),
            json!({"id": r.id, "name": r.display_name(), "reference": r.reference}),
        );
    }
    let sight = crate::access::Sight::of(&viewer.user, &pv);
    let (summary, forms_done, withheld) = plan_json(&app, &pv, &events, &sight).await?;
    if !withheld.is_empty() {
        data.insert("withheld".into(), json!(withheld.join(", ")));
    }
    data.insert("summary".into(), Value::Array(summary));
    data.insert("forms_done".into(), Value::Array(forms_done));
    data.insert("tasks".into(), Value::Array(tasks));
    data.insert("timeline".into(), Value::Array(timeline));
    data.insert("team".into(), Value::Array(team_json(&app, &state.team).await?));
    data.insert("rungs".into(), Value::Array(rungs));
    data.insert("graph_url".into(), json!(graph_url));
    data.insert("graph_window_url".into(), json!(graph_window_url));
    data.insert(
        "graph_focus".into(),
        json!(window.focus.map(|(x, y)| json!({"x": x.round(), "y": y.round()}))),
    );
    data.insert("read_only".into(), json!(access == CaseAccess::Read));
    data.insert("back".into(), json!(back));
    data.insert("back_label".into(), json!(back_label));
    let acts = viewer.user.role == UserRole::Consultant && access == CaseAccess::Act;
    data.insert(
        "may_note".into(),
        json!(acts && state.status == doorloop_engine::runtime::CaseStatus::Active),
    );
    data.insert(
        "may_withdraw".into(),
        json!(acts && state.status == doorloop_engine::runtime::CaseStatus::Active),
    );
    if acts && state.status == doorloop_engine::runtime::CaseStatus::Active {
        let (roles, people) = cases::adhoc_choices(&app, &pv).await?;
        data.insert("adhoc".into(), json!({"roles": roles, "people": people}));
    }
    data.insert(
        "chain".into(),
        chain_json(
            &app,
            &viewer,
            &cases::Visible {
                state: state.clone(),
                access,
                pv: pv.clone(),
            },
        )
        .await?,
    );
    if let Some(text) = match q.melding.as_deref() {
        Some("ingetrokken") => Some("De casus is ingetrokken."),
        Some("termijn") => Some("De termijn is aangepast; zie ‘Waarom deze termijn?’."),
        Some("notitie") => Some("De notitie staat op de tijdlijn."),
        Some("route") => Some("De route is gekozen; de casus gaat verder."),
        Some("bericht") => Some("Het bericht is vastgelegd; de casus gaat verder."),
        Some("taak") => Some("De taak is toegevoegd; hij staat bij de open taken."),
        Some("betrokken") => {
            Some("De organisatie werkt mee; de grondslag staat bij ‘Betrokken organisaties’.")
        }
        Some("grondslag-ingetrokken") => Some(
            "De grondslag is ingetrokken: de organisatie ziet de casus niet meer. Open taken van haar medewerkers staan nu bij u.",
        ),
        _ => None,
    } {
        data.insert("flash".into(), json!(text));
    }
    if q.klaar.is_some() {
        data.insert("flash".into(), json!("Opgeslagen. De casus is bijgewerkt."));
    }
    Ok(page(StatusCode::OK, "case", Value::Object(data)))
}

/// The case's organisations: the resident's municipality (by law), every recorded ground
/// with its history, and what the viewer may do about them.
async fn chain_json(app: &crate::AppState, viewer: &Viewer, case: &cases::Visible) -> WebResult<Value> {
    let chain = crate::access::CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    let orgs = app.engine.store().organisations().await?;
    let name_of = |id: &str| {
        orgs.iter()
            .find(|o| o.id == id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let mut rows = Vec::new();
    for p in crate::parties::list(app, &chain).await? {
        let kind = doorloop_engine::chain::OrganisationKind::parse(&p.kind).map(|k| k.label());
        let ground = doorloop_engine::chain::Ground::parse(&p.ground).map(|g| g.label());
        rows.push(json!({
            "organisation": p.organisation,
            "name": p.organisation_name,
            "kind": kind,
            "ground": ground,
            "purpose": p.purpose,
            "reference": p.reference,
            "since": date(p.since),
            "by": app.users.name(app.engine.store().as_ref(), &p.recorded_by).await?,
            "withdrawn": match (p.withdrawn_at, &p.withdrawn_by) {
                (Some(at), Some(by)) => Some(json!({
                    "at": date(at),
                    "by": app.users.name(app.engine.store().as_ref(), by).await?,
                    "reason": p.withdrawn_reason,
                })),
                _ => None,
            },
        }));
    }
    let may = crate::parties::may_manage(&viewer.user, case, &chain)
        && case.state.status == doorloop_engine::runtime::CaseStatus::Active;
    let candidates: Vec<Value> = if may {
        crate::parties::candidates(app, &chain)
            .await?
            .into_iter()
            .map(|o| json!({"id": o.id, "name": o.name, "kind": o.kind.label()}))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({
        "municipality": chain.municipality.as_deref().map(name_of),
        "parties": rows,
        "may_manage": may,
        "candidates": candidates,
    }))
}

/// Involves an organisation on a ground (betrekken).
pub async fn involve(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    let what = crate::parties::Involve {
        organisation: posted(&form, "organisatie"),
        ground: posted(&form, "grondslag"),
        purpose: posted(&form, "doel"),
        reference: form.get("kenmerk").map(str::to_owned),
    };
    crate::parties::involve(&app, &form.viewer.user, &case, what).await?;
    Ok(Redirect::to(&format!(
        "/casussen/{id}?melding=betrokken#organisaties"
    )))
}

/// Withdraws an organisation's ground, after the consultant confirmed it.
pub async fn withdraw_party(
    State(app): Shared,
    Path((id, organisation)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    if form.get("bevestig") != Some("ja") {
        return Err(WebError::BadRequest(
            "Bevestig dat de organisatie niet meer meewerkt: vink het vakje aan en probeer het opnieuw."
                .into(),
        ));
    }
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    crate::parties::withdraw(
        &app,
        &form.viewer.user,
        &case,
        &organisation,
        &posted(&form, "reden"),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/casussen/{id}?melding=grondslag-ingetrokken#organisaties"
    )))
}

// ---- overviews ----

pub async fn cases(State(app): Shared, viewer: Viewer) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Consultant, UserRole::Manager])?;
    let only = (viewer.user.role == UserRole::Consultant).then_some(viewer.user.id.as_str());
    let org = crate::access::org_filter(&viewer.user);
    let rows = app
        .engine
        .store()
        .cases(only, &viewer.user.teams, org.as_ref(), 200)
        .await?;
    let mut ids: Vec<String> = rows.iter().filter_map(|c| c.resident_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let people = app.engine.store().residents_by_id(&ids).await?;
    let names = app.pathway_names.get(&app.engine).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            let person = people.iter().find(|p| Some(&p.id) == c.resident_id.as_ref());
            json!({
                "id": c.id, "short_id": short(&c.id), "pathway": crate::views::pathway_name(&names, &c.pathway_key),
                "resident": person.map(|p| p.display_name()), "resident_id": person.map(|p| p.id.clone()),
                "status": c.status, "status_label": status_label(&c.status),
                "created": date(c.created_at), "updated": date_time(c.updated_at),
            })
        })
        .collect();
    let mut data = base(&viewer, "Casussen", "casussen");
    data.insert(
        "intro".into(),
        json!(if only.is_some() {
            "Casussen waarin u of uw team een rol heeft (de 200 laatst gewijzigde)."
        } else {
            "Alle casussen van de organisatie, alleen lezen (de 200 laatst gewijzigde)."
        }),
    );
    data.insert("cases".into(), Value::Array(list));
    Ok(page(StatusCode::OK, "cases", Value::Object(data)))
}

#[derive(Deserialize)]
pub struct GraphQuery {
    actief: Option<String>,
    /// Only the neighbourhood of the highlighted steps.
    venster: Option<String>,
}

/// The pathway graph as SVG. Pathways are not personal data; any logged-in user may
/// fetch them. The highlighted steps come from the query.
pub async fn graph(
    State(app): Shared,
    _viewer: Viewer,
    Path((key, version)): Path<(String, u32)>,
    PageQuery(q): PageQuery<GraphQuery>,
) -> WebResult<Response> {
    let pv = app.engine.pathway(&key, Some(version)).await?;
    let asked = q.actief.as_deref().unwrap_or_default().split(',');
    let marks = if q.venster.is_some() {
        window_marks(&pv, asked)
    } else {
        Marks::active(&active_steps(&pv, asked))
    };
    let drawing = app.graphs.get_or_draw_marked(&pv, &marks).await?;
    Ok(crate::views::svg_response(
        drawing.svg.clone(),
        "private, max-age=300",
    ))
}

/// The steps of `pv` among `asked`: only this pathway's step ids mark a step, anything
/// else would only make the cache hold another copy of the same drawing.
fn active_steps<'a>(pv: &PathwayVersion, asked: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let asked: BTreeSet<&str> = asked.into_iter().collect();
    pv.pathway
        .steps
        .iter()
        .filter(|s| asked.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect()
}

/// The case page's window: the current steps, one step back and two ahead.
fn window_marks<'a>(pv: &PathwayVersion, asked: impl IntoIterator<Item = &'a str>) -> Marks {
    Marks::around(&active_steps(pv, asked), 1, 2)
}

/// What a consultant may do with a task's clock here: suspend, resume, extend (by at most).
fn clock_actions(
    viewer: &Viewer,
    access: CaseAccess,
    step: Option<&doorloop_engine::pathway::model::Step>,
    task: &doorloop_engine::runtime::Task,
) -> Value {
    let (Some(step), Some(due)) = (step, task.due.as_ref()) else {
        return Value::Null;
    };
    if viewer.user.role != UserRole::Consultant || access != CaseAccess::Act {
        return Value::Null;
    }
    let rules = step.clock.clone().unwrap_or_default();
    let suspended = due.suspended_since.is_some();
    let can = json!({
        "suspend": rules.suspend && !suspended,
        "resume": suspended,
        "extend": rules.extend.as_ref().filter(|_| !suspended).map(ToString::to_string),
    });
    if can["suspend"] == json!(false) && can["resume"] == json!(false) && can["extend"].is_null() {
        Value::Null
    } else {
        can
    }
}

/// The reason (and term) posted with an action on a case.
fn posted(form: &CsrfForm, name: &str) -> String {
    form.get(name).unwrap_or_default().to_owned()
}

/// Withdraws a case (intrekken), after the consultant confirmed it.
pub async fn withdraw(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    if form.get("bevestig") != Some("ja") {
        return Err(WebError::BadRequest(
            "Bevestig dat u de casus wilt intrekken: vink het vakje aan en probeer het opnieuw.".into(),
        ));
    }
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    cases::act(
        &app,
        &form.viewer.user,
        &case,
        CaseAct::Withdraw {
            reason: posted(&form, "reden"),
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/casussen/{id}?melding=ingetrokken")))
}

/// Suspends (opschorten), resumes (hervatten) or extends (verdagen) a task's clock.
pub async fn clock(
    State(app): Shared,
    Path((id, task, what)): Path<(String, String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    let reason = posted(&form, "reden");
    let act = match what.as_str() {
        "opschorten" => CaseAct::Suspend { task, reason },
        "hervatten" => CaseAct::Resume { task, reason },
        "verdagen" => CaseAct::Extend {
            task,
            term: posted(&form, "termijn"),
            reason,
        },
        _ => return Err(WebError::NotFound),
    };
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    cases::act(&app, &form.viewer.user, &case, act).await?;
    Ok(Redirect::to(&format!("/casussen/{id}?melding=termijn")))
}

/// A note's kind as people say it.
fn note_label(kind: &str) -> &'static str {
    match kind {
        "gespreksverslag" => "Gespreksverslag",
        "telefoon" => "Telefoongesprek",
        "email" => "E-mail",
        _ => "Notitie",
    }
}

/// Sends a case held at a gateway (no condition held, no default) along the chosen route.
pub async fn choose_route(
    State(app): Shared,
    Path((id, step)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    let act = CaseAct::ChooseRoute {
        step,
        to: posted(&form, "naar"),
    };
    cases::act(&app, &form.viewer.user, &case, act).await?;
    Ok(Redirect::to(&format!("/casussen/{id}?melding=route")))
}

/// Records a note or a contact (gespreksverslag, telefoon, e-mail) on the timeline.
/// Adds work outside the drawn pathway ("Taak toevoegen").
pub async fn add_task(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    let due = match posted(&form, "datum").trim() {
        "" => None,
        d => Some(
            d.parse::<chrono::NaiveDate>()
                .map_err(|_| WebError::BadRequest("Vul de datum in als dag-maand-jaar.".into()))?,
        ),
    };
    let act = CaseAct::AddTask {
        title: posted(&form, "wat"),
        reason: posted(&form, "reden"),
        role: Some(posted(&form, "rol")),
        assignee: Some(posted(&form, "collega")),
        due,
    };
    cases::act(&app, &form.viewer.user, &case, act).await?;
    Ok(Redirect::to(&format!("/casussen/{id}?melding=taak#open-taken")))
}

pub async fn note(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    let case = cases::load(&app, &form.viewer.user, &id).await?;
    let act = CaseAct::Note {
        kind: posted(&form, "soort"),
        text: posted(&form, "tekst"),
    };
    cases::act(&app, &form.viewer.user, &case, act).await?;
    Ok(Redirect::to(&format!("/casussen/{id}?melding=notitie#tijdlijn")))
}
