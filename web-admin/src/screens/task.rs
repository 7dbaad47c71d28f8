//! A task's form: completing it, planning a joint visit and recording its outcome, claiming and releasing.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::engine::EngineError;
use doorloop_engine::pathway::model::{PathwayVersion, Step, StepKind};
use doorloop_engine::runtime::{Action, CaseState, Command, RuntimeError, Task, TaskRef};
use serde_json::{Value, json};

use crate::access::{CaseAccess, check_task};
use crate::auth::{self, CsrfForm, Viewer, local_path};
use crate::cases::{ClosedTask, assign, closed_task, team_json, visible_case_on_pathway};
use crate::error::{WebError, WebResult};
use crate::forms;
use crate::views::{base, date_time, due_state, page, short};
use crate::{AppState, Shared};

// ---- task forms ----

struct TaskForm<'a> {
    state: &'a CaseState,
    access: CaseAccess,
    pv: &'a PathwayVersion,
    step: &'a Step,
    task_id: &'a str,
    task: Option<&'a Task>,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    problem: Option<String>,
    /// How the task ended, when it is no longer open.
    done: Option<ClosedTask>,
    /// A confirmation to show at the top.
    notice: Option<&'static str>,
    /// The question to confirm before the answers are sent again (they end the trajectory).
    confirm: Option<String>,
}

/// Why a task was closed without being completed, in Dutch.
fn closed_reason(reason: &str) -> String {
    match reason {
        "case withdrawn" => "de casus is ingetrokken".to_owned(),
        "case ended" => "de casus is afgesloten".to_owned(),
        "deadline passed" => "de termijn is verstreken".to_owned(),
        "message received" => "er kwam een bericht binnen dat het werk afbrak".to_owned(),
        other => match other.strip_prefix("migrated to version ") {
            Some(v) => format!("de casus is overgezet naar versie {v}"),
            None => other.to_owned(),
        },
    }
}

/// How a task that is no longer open ended: who, when, what they entered.
async fn done_json(
    app: &AppState,
    pv: &PathwayVersion,
    done: &ClosedTask,
    sight: &crate::access::Sight<'_>,
) -> WebResult<Value> {
    let (by, at) = match &done.ended {
        Some((who, at)) => (
            Some(app.users.name(app.engine.store().as_ref(), who).await?),
            Some(date_time(*at)),
        ),
        None => (None, None),
    };
    let fields: Vec<Value> = done
        .data
        .iter()
        .filter(|(k, _)| sight.shows(k))
        .map(|(k, v)| {
            json!({
                "label": super::case::field_label(pv, k),
                "value": super::case::shown_value(pv, k, v),
            })
        })
        .collect();
    let withheld = sight.hidden(done.data.keys());
    Ok(json!({
        "by": by, "at": at, "fields": fields,
        "withheld": (!withheld.is_empty()).then(|| withheld.join(", ")),
        "closed_because": done.closed_because.as_deref().map(closed_reason),
    }))
}

async fn render_task(
    app: &AppState,
    viewer: &Viewer,
    f: TaskForm<'_>,
    status: StatusCode,
) -> WebResult<Response> {
    let now = app.clock.now();
    let is_visit = f.step.kind == StepKind::JointVisit;
    let planned = f.task.and_then(|t| t.visit.as_ref());
    let (due_class, due_text) = due_state(f.task.and_then(|t| t.due.as_ref().map(|d| d.at)), now);
    let may_act = f.access == CaseAccess::Act && f.task.is_some_and(|t| check_task(&viewer.user, t).is_ok());
    let read_only = match (f.access, f.task) {
        (_, None) => None,
        (CaseAccess::Read, _) => Some("U kunt deze taak inzien maar niet afronden (alleen lezen)."),
        (_, Some(t)) if !may_act => Some(if t.assignee.is_some() {
            "Deze taak is toegewezen aan een collega."
        } else {
            "Deze taak hoort niet bij uw team."
        }),
        _ => None,
    };
    let step_roles = visit_roles(f.step);
    let team: Vec<String> = if is_visit && may_act {
        crate::cases::visit_colleagues(app, f.state, &step_roles, &viewer.user)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect()
    } else {
        Vec::new()
    };
    let chosen: BTreeSet<String> = match (f.values.get("deelnemer"), planned) {
        (Some(list), _) => list.split('\u{1f}').map(str::to_owned).collect(),
        (None, Some(v)) => v.participants.iter().cloned().collect(),
        (None, None) => BTreeSet::from([viewer.user.id.clone()]),
    };
    let participants: Vec<Value> = team_json(app, &team)
        .await?
        .into_iter()
        .map(|mut p| {
            let checked = p["id"].as_str().is_some_and(|id| chosen.contains(id));
            p["checked"] = json!(checked);
            p
        })
        .collect();
    let guests_text = f
        .values
        .get("gasten")
        .cloned()
        .or_else(|| planned.map(|v| v.guests.join("\n")))
        .unwrap_or_default();
    // A posted form says it by the box; otherwise the visit as planned.
    let invite_resident = if f.values.contains_key("datum") {
        f.values.get("inwoner").is_some_and(|v| v == "ja")
    } else {
        planned.is_some_and(|v| v.resident)
    };
    let resident_email = is_visit && may_act && crate::cases::resident_has_email(app, f.state).await?;
    let visit_form = planned.map(|v| {
        let l = v.at.with_timezone(&Amsterdam);
        (
            l.format("%Y-%m-%d").to_string(),
            l.format("%H:%M").to_string(),
            v.place.clone().unwrap_or_default(),
        )
    });
    let form_value =
        |k: &str, planned: Option<String>| f.values.get(k).cloned().or(planned).unwrap_or_default();
    let mut data = base(viewer, f.step.display_name(), "taken");
    data.insert("case_id".into(), json!(f.state.id));
    // Back to the case by the resident's name, as people know it (the case id only without).
    let resident = match &f.state.resident {
        Some(r) => app.engine.store().resident(r).await?,
        None => None,
    };
    data.insert(
        "case_label".into(),
        json!(resident.map_or_else(
            || format!("Casus {}", short(&f.state.id)),
            |r| format!("{} – {}", r.display_name(), f.pv.pathway.name)
        )),
    );
    data.insert("task_id".into(), json!(f.task_id));
    data.insert("step_name".into(), json!(f.step.display_name()));
    data.insert("description".into(), json!(f.step.description));
    data.insert("pathway_name".into(), json!(f.pv.pathway.name));
    data.insert(
        "roles".into(),
        json!(crate::views::role_labels(f.pv, &f.step.responsible_roles())),
    );
    let assignee = match f.task.and_then(|t| t.assignee.as_deref()) {
        Some(a) => Some(app.users.name(app.engine.store().as_ref(), a).await?),
        None => None,
    };
    data.insert("assignee".into(), json!(assignee));
    data.insert("due_class".into(), json!(due_class));
    data.insert("due_text".into(), json!(due_text));
    data.insert("version".into(), json!(f.state.seq));
    data.insert("problem".into(), json!(f.problem));
    data.insert("errors".into(), json!(f.errors));
    data.insert("read_only".into(), json!(read_only));
    if let Some(text) = f.notice {
        data.insert("flash".into(), json!(text));
    }
    data.insert("confirm".into(), json!(f.confirm));
    // Claim, release and hand over from the task itself.
    if let Some(t) = f.task.filter(|_| {
        f.access == CaseAccess::Act && viewer.user.role == doorloop_engine::store::UserRole::Consultant
    }) {
        let holds = t.assignee.as_deref() == Some(viewer.user.id.as_str());
        let may_take = t.assignee.is_none() && crate::access::may_take(&viewer.user, t);
        let colleagues: Vec<Value> = if holds || may_take {
            crate::cases::colleagues_for(app, &viewer.user, t)
                .await?
                .into_iter()
                .map(|u| json!({"id": u.id, "name": u.display_name}))
                .collect()
        } else {
            Vec::new()
        };
        data.insert(
            "assign".into(),
            json!({
                "take": may_take, "release": holds, "colleagues": colleagues,
                "back": format!("/casussen/{}/taken/{}", f.state.id, f.task_id),
            }),
        );
    }
    if let Some(done) = &f.done {
        let sight = crate::access::Sight::of(&viewer.user, f.pv);
        data.insert("done".into(), done_json(app, f.pv, done, &sight).await?);
    }
    data.insert("plan_visit".into(), json!(is_visit && may_act));
    data.insert("visit".into(), json!(planned.map(|v| date_time(v.at))));
    data.insert("participants".into(), Value::Array(participants));
    data.insert("guests".into(), json!(guests_text));
    data.insert("max_guests".into(), json!(doorloop_engine::runtime::MAX_GUESTS));
    data.insert(
        "resident_invite".into(),
        json!({ "possible": resident_email, "checked": invite_resident }),
    );
    data.insert(
        "form".into(),
        json!({
            "datum": form_value("datum", visit_form.as_ref().map(|v| v.0.clone())),
            "tijd": form_value("tijd", visit_form.as_ref().map(|v| v.1.clone())),
            "plaats": form_value("plaats", visit_form.as_ref().map(|v| v.2.clone())),
        }),
    );
    // A joint visit records its outcome once planned; other steps complete directly.
    // After a conflict (task gone) the form is shown again with the user's input.
    // An old link to a finished task shows how it ended, without a form.
    let show_form =
        (f.task.is_none() && f.problem.is_some()) || (may_act && (!is_visit || planned.is_some()));
    data.insert("show_form".into(), json!(show_form));
    // Messages that break into this work, for the consultant who heard one by phone.
    if may_act {
        let messages: Vec<Value> = f
            .step
            .on_message
            .iter()
            .map(|m| {
                json!({
                    "name": m.message,
                    "label": m.message.replace('_', " "),
                    "interrupting": m.interrupting,
                })
            })
            .collect();
        data.insert("messages".into(), json!(messages));
    }
    data.insert(
        "form_title".into(),
        json!(if is_visit {
            "Uitkomst van het bezoek vastleggen"
        } else {
            "Taak afronden"
        }),
    );
    if f.step.kind == StepKind::Wait && f.step.message.is_some() {
        let party = f.step.party.clone().unwrap_or_else(|| "buiten".to_owned());
        data.insert("awaits_message".into(), json!(party));
    }
    data.insert(
        "submit_label".into(),
        json!(if is_visit {
            "Uitkomst vastleggen"
        } else if f.step.kind == StepKind::Wait && f.step.message.is_some() {
            "Bericht is binnen"
        } else {
            "Afronden"
        }),
    );
    data.insert(
        "fields".into(),
        json!(forms::field_views(&f.step.fields, &f.values, &f.errors)),
    );
    Ok(page(status, "task", Value::Object(data)))
}

/// What a task page is told after an action.
#[derive(serde::Deserialize)]
pub struct TaskPageQuery {
    /// `opgepakt` or `vrijgegeven`.
    melding: Option<String>,
}

pub async fn task_page(
    State(app): Shared,
    viewer: Viewer,
    Path((id, task_id)): Path<(String, String)>,
    crate::error::PageQuery(q): crate::error::PageQuery<TaskPageQuery>,
) -> WebResult<Response> {
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    // An old link to a finished task says who finished it, when, and what they entered.
    let (task, done) = match state.tasks.get(&task_id) {
        Some(t) => (Some(t), None),
        None => (
            None,
            Some(
                closed_task(&app, &id, &task_id)
                    .await?
                    .ok_or(WebError::NotFound)?,
            ),
        ),
    };
    app.access_log.record(&viewer.user, &id, "taakformulier").await?;
    let step = crate::cases::step_of(&pv, task, done.as_ref())?;
    let form = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step: &step,
        task_id: &task_id,
        task,
        values: BTreeMap::new(),
        errors: BTreeMap::new(),
        problem: None,
        done,
        notice: None,
        confirm: None,
    };
    let notice = match q.melding.as_deref() {
        Some("opgepakt") => Some("U heeft de taak opgepakt; hij staat onder Mijn taken."),
        Some("vrijgegeven") => Some("U heeft de taak vrijgegeven; hij staat weer in de werkvoorraad."),
        _ => None,
    };
    render_task(&app, &viewer, TaskForm { notice, ..form }, StatusCode::OK).await
}

/// What was posted, as the form shows it again (checkbox groups joined).
fn posted_values(form: &CsrfForm) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &form.fields {
        if k == auth::CSRF_FIELD || k == "versie" {
            continue;
        }
        values
            .entry(k.clone())
            .and_modify(|e| {
                e.push('\u{1f}');
                e.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    values
}

const CONFLICT: &str = "Een collega heeft deze casus intussen gewijzigd en deze taak is niet meer open. \
     Uw invoer staat hieronder nog; bekijk de casus voordat u verder gaat.";

fn is_conflict(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Conflict { .. } | EngineError::Runtime(RuntimeError::TaskNotOpen { .. })
    )
}

pub async fn complete_task(
    State(app): Shared,
    Path((id, task_id)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let viewer = &form.viewer;
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    let values = posted_values(&form);
    // The task may have been completed by a colleague meanwhile: find its step from the
    // case history so the form (with the user's input) can be shown again.
    let task = state.tasks.get(&task_id);
    let done = match task {
        Some(_) => None,
        None => Some(
            closed_task(&app, &id, &task_id)
                .await?
                .ok_or(WebError::NotFound)?,
        ),
    };
    let step = crate::cases::step_of(&pv, task, done.as_ref())?;
    let mut f = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step: &step,
        task_id: &task_id,
        task,
        values,
        errors: BTreeMap::new(),
        problem: None,
        done,
        notice: None,
        confirm: None,
    };
    let Some(task) = task else {
        f.problem = Some(CONFLICT.to_owned());
        return render_task(&app, viewer, f, StatusCode::CONFLICT).await;
    };
    if access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    check_task(&viewer.user, task)?;
    let data = match forms::parse(&step.fields, &f.values) {
        Ok(data) => data,
        Err(errors) => {
            f.problem = Some("Niet alle velden zijn goed ingevuld; zie de meldingen bij de velden.".into());
            f.errors = errors;
            return render_task(&app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let action = crate::cases::completion(&pv, task, data);
    // An outcome before the visit took place, or answers that end the trajectory, ask for
    // confirmation first: decided on the loaded case by a dry run of the pure runtime,
    // nothing written.
    if f.values.get("bevestigd").map(String::as_str) != Some("ja") {
        let mut questions: Vec<String> = Vec::new();
        let now = app.clock.now();
        if let Some(visit) = task.visit.as_ref().filter(|v| v.at > now) {
            questions.push(format!(
                "Het bezoek staat gepland op {}; dat is nog niet geweest.",
                date_time(visit.at)
            ));
        }
        let trial = doorloop_engine::runtime::apply_with_calendar(
            &pv,
            app.engine.calendar(),
            &state,
            Command::new(viewer.user.id.clone(), action.clone()),
            now,
        );
        if let Ok(out) = trial
            && out.state.status != doorloop_engine::runtime::CaseStatus::Active
        {
            let outcome = out
                .state
                .outcome
                .as_deref()
                .map(doorloop_engine::text::dutch::code_label)
                .unwrap_or_else(|| "zonder uitkomst".to_owned());
            questions.push(format!(
                "Met deze antwoorden wordt het traject afgesloten (uitkomst: {outcome})."
            ));
        }
        if !questions.is_empty() {
            f.confirm = Some(format!(
                "{} Klopt dat? Kies dan nog eens ‘{}’.",
                questions.join(" "),
                if step.kind == StepKind::JointVisit {
                    "Uitkomst vastleggen"
                } else {
                    "Afronden"
                }
            ));
            return render_task(&app, viewer, f, StatusCode::OK).await;
        }
    }
    let done = format!("/casussen/{id}?klaar=1");
    act_on_form(&app, viewer, f, action, &done, "De taak kon niet worden afgerond").await
}

/// Records a message that breaks into the task's work (heard by phone or read in a letter),
/// as if the outside party had sent it: once per task and message.
pub async fn receive_message(
    State(app): Shared,
    Path((id, task_id)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let viewer = &form.viewer;
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    if access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    let task = state.tasks.get(&task_id).ok_or(WebError::NotFound)?;
    check_task(&viewer.user, task)?;
    let name = form.get("naam").unwrap_or_default().to_owned();
    let step = pv.step(&task.step).ok_or(WebError::NotFound)?;
    if !step.on_message.iter().any(|m| m.message == name) {
        return Err(WebError::BadRequest(
            "Dit bericht hoort niet bij deze taak.".into(),
        ));
    }
    let action = Action::ReceiveMessage {
        id: format!("handmatig-{task_id}-{name}"),
        name,
        data: BTreeMap::new(),
    };
    match app
        .engine
        .execute(&id, Command::new(viewer.user.id.clone(), action), app.clock.now())
        .await
    {
        // A second click records nothing new.
        Ok(_) | Err(EngineError::Runtime(RuntimeError::MessageAlreadyReceived { .. })) => {
            Ok(Redirect::to(&format!("/casussen/{id}?melding=bericht")).into_response())
        }
        Err(e) if is_conflict(&e) => Err(WebError::BadRequest(
            "Een collega heeft deze taak intussen afgerond of gewijzigd; kijk op de casus wat er is gebeurd."
                .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Runs a form's command: on success to `done`; a conflict or a refusal shows the form
/// again with the user's input and the reason.
async fn act_on_form(
    app: &AppState,
    viewer: &Viewer,
    mut f: TaskForm<'_>,
    action: Action,
    done: &str,
    refused: &str,
) -> WebResult<Response> {
    let command = Command::new(viewer.user.id.clone(), action);
    match app.engine.execute(&f.state.id, command, app.clock.now()).await {
        Ok(_) => Ok(Redirect::to(done).into_response()),
        Err(e) if is_conflict(&e) => {
            f.problem = Some(CONFLICT.to_owned());
            render_task(app, viewer, f, StatusCode::CONFLICT).await
        }
        Err(EngineError::Runtime(e)) => {
            f.problem = Some(format!("{refused}: {e}"));
            render_task(app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The roles a joint visit step names: who usually takes part.
fn visit_roles(step: &Step) -> Vec<String> {
    step.role.iter().chain(&step.roles).cloned().collect()
}

pub async fn plan_visit(
    State(app): Shared,
    Path((id, task_id)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Response> {
    let viewer = &form.viewer;
    let (state, access, pv) = visible_case_on_pathway(&app, &viewer.user, &id).await?;
    let Some(task) = state.tasks.get(&task_id) else {
        return Err(WebError::NotFound);
    };
    if access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    check_task(&viewer.user, task)?;
    let step = crate::cases::step_of(&pv, Some(task), None)?;
    if step.kind != StepKind::JointVisit {
        return Err(WebError::BadRequest(
            "Deze taak is geen gezamenlijk bezoek.".into(),
        ));
    }
    let mut errors = BTreeMap::new();
    let day = form.get("datum").unwrap_or("").parse::<NaiveDate>();
    let time = NaiveTime::parse_from_str(form.get("tijd").unwrap_or(""), "%H:%M");
    if day.is_err() {
        errors.insert("datum".to_owned(), "Kies een datum.".to_owned());
    }
    if time.is_err() {
        errors.insert("tijd".to_owned(), "Kies een tijd (uu:mm).".to_owned());
    }
    let at = match (day, time) {
        (Ok(d), Ok(t)) => Amsterdam
            .from_local_datetime(&d.and_time(t))
            .earliest()
            .map(|l| l.with_timezone(&Utc)),
        _ => None,
    };
    if let Some(at) = at
        && at <= app.clock.now()
    {
        errors.insert(
            "datum".to_owned(),
            "Het bezoek moet in de toekomst liggen.".to_owned(),
        );
    }
    let invite = crate::cases::VisitInvite {
        participants: form.all("deelnemer"),
        guests: form.get("gasten").unwrap_or_default().to_owned(),
        invite_resident: form.get("inwoner") == Some("ja"),
    };
    let invited =
        crate::cases::check_invite(&app, &state, &visit_roles(&step), &viewer.user, &invite).await?;
    let (participants, guests) = match invited {
        Ok(who) => who,
        Err((field, message)) => {
            errors.insert(field.to_owned(), message);
            (Vec::new(), Vec::new())
        }
    };
    let place = form
        .get("plaats")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    if place.as_ref().is_some_and(|p| p.chars().count() > 200) {
        errors.insert("plaats".to_owned(), "Gebruik hoogstens 200 tekens.".to_owned());
    }
    let mut f = TaskForm {
        state: &state,
        access,
        pv: &pv,
        step: &step,
        task_id: &task_id,
        task: Some(task),
        values: posted_values(&form),
        errors,
        problem: None,
        done: None,
        notice: None,
        confirm: None,
    };
    let Some(at) = at.filter(|_| f.errors.is_empty()) else {
        f.problem = Some("Het bezoek is nog niet gepland; zie de meldingen bij de velden.".into());
        return render_task(&app, viewer, f, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let action = Action::PlanJointVisit {
        task: TaskRef(task_id.clone()),
        at,
        place,
        participants,
        guests,
        invite_resident: invite.invite_resident,
    };
    let done = format!("/casussen/{id}/taken/{task_id}");
    act_on_form(
        &app,
        viewer,
        f,
        action,
        &done,
        "Het bezoek kon niet worden gepland",
    )
    .await
}

pub async fn claim(
    State(app): Shared,
    Path((id, task)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    assign(&app, &form.viewer.user, &id, &task, true).await?;
    Ok(Redirect::to(&with_notice(
        &local_path(form.get("terug"), "/taken"),
        "opgepakt",
    )))
}

/// Hands the task to a named colleague, then back to Mijn taken with a confirmation.
pub async fn hand_over(
    State(app): Shared,
    Path((id, task)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    let to = form.get("collega").unwrap_or_default().to_owned();
    crate::cases::hand_over(&app, &form.viewer.user, &id, &task, &to).await?;
    Ok(Redirect::to("/taken?melding=overgedragen"))
}

pub async fn release(
    State(app): Shared,
    Path((id, task)): Path<(String, String)>,
    form: CsrfForm,
) -> WebResult<Redirect> {
    assign(&app, &form.viewer.user, &id, &task, false).await?;
    Ok(Redirect::to(&with_notice(
        &local_path(form.get("terug"), "/taken"),
        "vrijgegeven",
    )))
}

/// `path` with `melding=…`, for the confirmation the page it leads to shows.
fn with_notice(path: &str, notice: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}melding={notice}")
}
