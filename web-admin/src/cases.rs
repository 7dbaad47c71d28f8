//! The case service: every action on a case, for the pages and the API alike — load the
//! case once with the viewer's access, decide, act through the engine, answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use doorloop_engine::engine::EngineError;
use doorloop_engine::pathway::model::{PathwayVersion, StepKind};
use doorloop_engine::runtime::{Action, CaseState, Command, EventKind, Outcome, RuntimeError, Task, TaskRef};
use doorloop_engine::runtime::{NOTE_KINDS, NOTE_MAX};
use doorloop_engine::store::{User, UserRole};

use crate::AppState;
use crate::access::{CaseAccess, CaseChain, case_access, check_task, may_take};
use crate::error::{WebError, WebResult};
use serde_json::{Value, json};

/// Refuses a consultant whose teams the pathway's `started_by` does not name, saying who
/// may start it.
pub(crate) async fn may_start(app: &AppState, user: &User, key: &str, version: Option<u32>) -> WebResult<()> {
    let pv = match app.engine.pathway(key, version).await {
        Ok(pv) => pv,
        // An unknown pathway is reported by the start itself, with its own code.
        Err(_) => return Ok(()),
    };
    if pv.pathway.may_start(&user.teams) {
        return Ok(());
    }
    let who: Vec<String> = pv
        .pathway
        .started_by
        .iter()
        .map(|r| {
            pv.pathway
                .roles
                .get(r)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| r.clone())
        })
        .collect();
    Err(WebError::StartNotAllowed {
        pathway: pv.pathway.name.clone(),
        who,
    })
}

/// The case and the viewer's access, or "not found" when they may not see it.
pub(crate) async fn visible_case(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<(Arc<CaseState>, CaseAccess)> {
    let state = match app.engine.load_fresh(id).await {
        Ok(s) => s,
        Err(EngineError::CaseNotFound { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let chain = CaseChain::load(app.engine.store().as_ref(), &state).await?;
    match case_access(user, &state, &chain) {
        CaseAccess::None => Err(WebError::NotFound),
        access => Ok((state, access)),
    }
}

/// A visible case with the pathway version it runs on.
pub(crate) async fn visible_case_on_pathway(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<(Arc<CaseState>, CaseAccess, Arc<PathwayVersion>)> {
    let (state, access) = visible_case(app, user, id).await?;
    let pv = app
        .engine
        .pathway(&state.pathway_key, Some(state.pathway_version))
        .await?;
    Ok((state, access, pv))
}

pub(crate) async fn closed_task_step(app: &AppState, case: &str, task: &str) -> WebResult<Option<String>> {
    Ok(closed_task(app, case, task).await?.map(|t| t.step))
}

/// A task that is no longer open: its step, and how it ended, from the case history.
pub(crate) struct ClosedTask {
    pub step: String,
    /// Set for work added outside the drawn pathway.
    pub adhoc: Option<doorloop_engine::runtime::AdHoc>,
    pub roles: Vec<String>,
    /// Who completed or closed it, and when (`None` while the history holds no end, as
    /// for a task moved away by a migration).
    pub ended: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// What they entered.
    pub data: BTreeMap<String, Value>,
    /// Why it was closed without being completed (the case ended, was withdrawn, …).
    pub closed_because: Option<String>,
}

/// The task `task` of `case` as its history tells it, or `None` when it never existed.
pub(crate) async fn closed_task(app: &AppState, case: &str, task: &str) -> WebResult<Option<ClosedTask>> {
    let events = app.engine.store().events(case).await?;
    let mut found: Option<ClosedTask> = None;
    for e in &events {
        match &e.event.kind {
            EventKind::TaskOpened { task: t } if t.id == task => {
                found = Some(ClosedTask {
                    step: t.step.clone(),
                    adhoc: t.adhoc.as_deref().cloned(),
                    roles: t.roles.clone(),
                    ended: None,
                    data: BTreeMap::new(),
                    closed_because: None,
                });
            }
            EventKind::TaskCompleted { task: t, data, .. } if t == task => {
                if let Some(f) = found.as_mut() {
                    f.ended = Some((e.event.actor.clone(), e.event.at));
                    f.data = data.clone();
                }
            }
            EventKind::TaskClosed { task: t, reason, .. } if t == task => {
                if let Some(f) = found.as_mut() {
                    f.ended = Some((e.event.actor.clone(), e.event.at));
                    f.closed_because = Some(reason.clone());
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The step a task's form follows: its drawn step, or for ad-hoc work one made of its title
/// and reason ([`doorloop_engine::runtime::AdHoc::step`]).
pub(crate) fn step_for<'a>(
    pv: &'a PathwayVersion,
    step: &str,
    adhoc: Option<&doorloop_engine::runtime::AdHoc>,
    roles: &[String],
) -> Option<std::borrow::Cow<'a, doorloop_engine::pathway::model::Step>> {
    match adhoc {
        Some(a) => a.step(roles).map(std::borrow::Cow::Owned),
        None => pv.step(step).map(std::borrow::Cow::Borrowed),
    }
}

/// The step of an open task, or of a closed one from its history.
pub(crate) fn step_of<'a>(
    pv: &'a PathwayVersion,
    task: Option<&Task>,
    done: Option<&ClosedTask>,
) -> WebResult<std::borrow::Cow<'a, doorloop_engine::pathway::model::Step>> {
    let found = match (task, done) {
        (Some(t), _) => step_for(pv, &t.step, t.adhoc.as_deref(), &t.roles),
        (None, Some(d)) => step_for(pv, &d.step, d.adhoc.as_ref(), &d.roles),
        (None, None) => None,
    };
    found.ok_or(WebError::NotFound)
}

/// Claims (`take = true`) or releases a task.
pub(crate) async fn assign(
    app: &AppState,
    user: &User,
    id: &str,
    task_id: &str,
    take: bool,
) -> WebResult<()> {
    let (state, access) = visible_case(app, user, id).await?;
    let task = state.tasks.get(task_id).ok_or(WebError::NotFound)?;
    if access != CaseAccess::Act || user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    let to = if take {
        if task.assignee.as_deref() == Some(user.id.as_str()) {
            return Ok(());
        }
        if !may_take(user, task) {
            return Err(WebError::Forbidden(if task.assignee.is_some() {
                "Deze taak is al toegewezen aan een collega.".into()
            } else {
                "Deze taak hoort niet bij uw team.".into()
            }));
        }
        Some(user.id.clone())
    } else {
        if task.assignee.as_deref() != Some(user.id.as_str()) {
            return Err(WebError::Forbidden(
                "Alleen wie de taak heeft, kan haar vrijgeven.".into(),
            ));
        }
        None
    };
    let action = Action::Reassign {
        task: TaskRef(task_id.to_owned()),
        to,
    };
    app.engine
        .execute(id, Command::new(user.id.clone(), action), app.clock.now())
        .await?;
    Ok(())
}

/// Colleagues a task may be handed to: active consultants (other than `user`) in one of the
/// task's teams, by name.
pub(crate) async fn colleagues_for(app: &AppState, user: &User, task: &Task) -> WebResult<Vec<User>> {
    let mut found: Vec<User> = app
        .engine
        .store()
        .users()
        .await?
        .into_iter()
        .filter(|u| {
            u.active
                && u.role == UserRole::Consultant
                && u.id != user.id
                && Some(u.id.as_str()) != task.assignee.as_deref()
                && task.roles.iter().any(|r| u.teams.contains(r))
        })
        .collect();
    found.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    Ok(found)
}

/// Hands a task to a named colleague: who holds it (or, while nobody does, anyone of its
/// teams) gives it to a consultant of one of its teams.
pub(crate) async fn hand_over(
    app: &AppState,
    user: &User,
    id: &str,
    task_id: &str,
    to: &str,
) -> WebResult<()> {
    let (state, access) = visible_case(app, user, id).await?;
    let task = state.tasks.get(task_id).ok_or(WebError::NotFound)?;
    if access != CaseAccess::Act || user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    let holds = task.assignee.as_deref() == Some(user.id.as_str());
    let unassigned_and_mine = task.assignee.is_none() && may_take(user, task);
    if !(holds || unassigned_and_mine) {
        return Err(WebError::Forbidden(
            "Alleen wie de taak heeft, of bij een onverdeelde taak het team, kan haar overdragen.".into(),
        ));
    }
    if !colleagues_for(app, user, task).await?.iter().any(|u| u.id == to) {
        return Err(WebError::BadRequest(
            "Kies een collega uit de lijst: iemand van een team van deze taak.".into(),
        ));
    }
    let action = Action::Reassign {
        task: TaskRef(task_id.to_owned()),
        to: Some(to.to_owned()),
    };
    app.engine
        .execute(id, Command::new(user.id.clone(), action), app.clock.now())
        .await?;
    Ok(())
}

pub(crate) async fn team_json(app: &AppState, ids: &[String]) -> WebResult<Vec<Value>> {
    let mut out = Vec::new();
    for id in ids {
        let user = app.users.get(app.engine.store().as_ref(), id).await?;
        let teams = match &user {
            Some(u) => app.pathway_names.teams_of(&app.engine, u).await?,
            None => String::new(),
        };
        out.push(json!({
            "id": id,
            "name": user.as_ref().map(|u| u.display_name.clone()).unwrap_or_else(|| id.clone()),
            "teams": teams,
        }));
    }
    Ok(out)
}

/// The command that completes `task`: its form's answers, or a joint visit's outcome.
/// Decided here once for the pages and the API (the runtime checks it again).
pub(crate) fn completion(pv: &PathwayVersion, task: &Task, data: BTreeMap<String, Value>) -> Action {
    let visit = task.adhoc.is_none()
        && pv
            .step(&task.step)
            .is_some_and(|s| s.kind == StepKind::JointVisit);
    let message = pv
        .step(&task.step)
        .filter(|s| task.adhoc.is_none() && s.kind == StepKind::Wait)
        .and_then(|s| s.message.clone());
    if let Some(name) = message {
        // The consultant heard it by phone or read it in a letter: the same message an outside
        // system would send, under an id of this task so that it too acts once.
        return Action::ReceiveMessage {
            name,
            id: format!("handmatig-{}", task.id),
            data,
        };
    }
    let task = TaskRef(task.id.clone());
    if visit {
        Action::RecordVisitOutcome { task, data }
    } else {
        Action::CompleteTask { task, data }
    }
}

/// Completes an open task of a loaded case: the viewer must be able to act on the case
/// and on the task. A task completed meanwhile by a colleague answers
/// `task_already_completed`; an unknown one "not found". Returns the case after it.
pub(crate) async fn complete(
    app: &AppState,
    user: &User,
    case: &Visible,
    task_id: &str,
    data: BTreeMap<String, Value>,
) -> WebResult<Outcome> {
    let Some(task) = case.state.tasks.get(task_id) else {
        return Err(match closed_task_step(app, &case.state.id, task_id).await? {
            Some(_) => WebError::Engine(EngineError::Runtime(RuntimeError::TaskNotOpen {
                case: case.state.id.clone(),
                task: task_id.to_owned(),
            })),
            None => WebError::NotFound,
        });
    };
    if case.access != CaseAccess::Act {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    check_task(user, task)?;
    let action = completion(&case.pv, task, data);
    Ok(app
        .engine
        .execute(
            &case.state.id,
            Command::new(user.id.clone(), action),
            app.clock.now(),
        )
        .await?)
}

/// A case loaded once for a request: its state, the viewer's access and its pathway.
pub(crate) struct Visible {
    pub state: Arc<CaseState>,
    pub access: CaseAccess,
    pub pv: Arc<PathwayVersion>,
}

/// Loads a case the viewer may see, with its pathway version.
pub(crate) async fn load(app: &AppState, user: &User, id: &str) -> WebResult<Visible> {
    let (state, access, pv) = visible_case_on_pathway(app, user, id).await?;
    Ok(Visible { state, access, pv })
}

/// What a consultant may do to a case or a task's clock, outside the drawn pathway.
pub(crate) enum CaseAct {
    Withdraw {
        reason: String,
    },
    Note {
        kind: String,
        text: String,
    },
    /// The route of a case held at a gateway where no condition held.
    ChooseRoute {
        step: String,
        to: String,
    },
    Suspend {
        task: String,
        reason: String,
    },
    Resume {
        task: String,
        reason: String,
    },
    Extend {
        task: String,
        term: String,
        reason: String,
    },
    /// Work outside the drawn pathway for a role, or a person (whose team on this pathway
    /// then gives the role), with a reason and an optional date.
    AddTask {
        title: String,
        reason: String,
        role: Option<String>,
        assignee: Option<String>,
        due: Option<chrono::NaiveDate>,
    },
    /// Plans (or re-plans) a joint visit: when, where and whom it invites.
    PlanVisit {
        task: String,
        at: chrono::DateTime<chrono::Utc>,
        place: Option<String>,
        invite: VisitInvite,
    },
}

/// Withdraws a case or changes a task's clock, for the pages and the API alike: the viewer
/// must be a consultant who may act on the case, give a reason, and name an open task. The
/// runtime decides whether the step's clock allows it.
pub(crate) async fn act(app: &AppState, user: &User, case: &Visible, what: CaseAct) -> WebResult<Outcome> {
    if case.access != CaseAccess::Act || user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("U kunt deze casus alleen inzien.".into()));
    }
    let reason_of = |r: &str| -> WebResult<String> {
        let r = r.trim();
        if r.is_empty() {
            return Err(WebError::BadRequest("Geef een reden op.".into()));
        }
        if r.chars().count() > 500 {
            return Err(WebError::BadRequest(
                "Gebruik voor de reden hoogstens 500 tekens.".into(),
            ));
        }
        Ok(r.to_owned())
    };
    let open = |task: &str| -> WebResult<TaskRef> {
        case.state
            .tasks
            .get(task)
            .map(|t| TaskRef(t.id.clone()))
            .ok_or(WebError::NotFound)
    };
    let action = match what {
        CaseAct::Withdraw { reason } => Action::Withdraw {
            reason: reason_of(&reason)?,
        },
        CaseAct::ChooseRoute { step, to } => Action::ChooseRoute { step, to },
        CaseAct::Note { kind, text } => {
            if !NOTE_KINDS.contains(&kind.as_str()) {
                return Err(WebError::BadRequest(format!(
                    "Kies het soort notitie: {}.",
                    NOTE_KINDS.join(", ")
                )));
            }
            if text.trim().is_empty() || text.trim().chars().count() > NOTE_MAX {
                return Err(WebError::BadRequest(format!(
                    "Schrijf de notitie in 1 tot {NOTE_MAX} tekens."
                )));
            }
            Action::RecordNote { kind, text }
        }
        CaseAct::Suspend { task, reason } => Action::SuspendClock {
            task: open(&task)?,
            reason: reason_of(&reason)?,
        },
        CaseAct::Resume { task, reason } => Action::ResumeClock {
            task: open(&task)?,
            reason: reason_of(&reason)?,
        },
        CaseAct::Extend { task, term, reason } => Action::ExtendDeadline {
            task: open(&task)?,
            term: term.trim().to_owned(),
            reason: reason_of(&reason)?,
        },
        CaseAct::AddTask {
            title,
            reason,
            role,
            assignee,
            due,
        } => adhoc_action(app, case, title, reason_of(&reason)?, role, assignee, due).await?,
        CaseAct::PlanVisit {
            task,
            at,
            place,
            invite,
        } => {
            let open_task = case.state.tasks.get(&task).ok_or(WebError::NotFound)?;
            check_task(user, open_task)?;
            let step = step_of(&case.pv, Some(open_task), None)?;
            if step.kind != StepKind::JointVisit {
                return Err(WebError::BadRequest(
                    "Deze taak is geen gezamenlijk bezoek.".into(),
                ));
            }
            if at <= app.clock.now() {
                return Err(WebError::BadRequest(
                    "Het bezoek moet in de toekomst liggen.".into(),
                ));
            }
            let place = place.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
            if place.as_ref().is_some_and(|p| p.chars().count() > 200) {
                return Err(WebError::BadRequest(
                    "Gebruik voor de plaats hoogstens 200 tekens.".into(),
                ));
            }
            let roles: Vec<String> = step.role.iter().chain(&step.roles).cloned().collect();
            let (participants, guests) = check_invite(app, &case.state, &roles, user, &invite)
                .await?
                .map_err(|(_, message)| WebError::BadRequest(message))?;
            Action::PlanJointVisit {
                task: TaskRef(task),
                at,
                place,
                participants,
                guests,
                invite_resident: invite.invite_resident,
            }
        }
    };
    app.engine
        .execute(
            &case.state.id,
            Command::new(user.id.clone(), action),
            app.clock.now(),
        )
        .await
        .map_err(|e| match e {
            EngineError::Runtime(RuntimeError::CaseClosed { .. }) => WebError::CaseEnded,
            EngineError::Runtime(r) => WebError::BadRequest(clock_refusal(&r)),
            other => other.into(),
        })
}

/// Checks an ad-hoc task in Dutch before the runtime sees it: a title, a role of this
/// pathway (or a person's team on it), an active consultant who holds that role, a date
/// not in the past.
async fn adhoc_action(
    app: &AppState,
    case: &Visible,
    title: String,
    reason: String,
    role: Option<String>,
    assignee: Option<String>,
    due: Option<chrono::NaiveDate>,
) -> WebResult<Action> {
    let title = title.trim().to_owned();
    if title.is_empty() || title.chars().count() > doorloop_engine::runtime::ADHOC_TITLE_MAX {
        return Err(WebError::BadRequest(format!(
            "Beschrijf in 1 tot {} tekens wat er moet gebeuren.",
            doorloop_engine::runtime::ADHOC_TITLE_MAX
        )));
    }
    let roles = &case.pv.pathway.roles;
    let role = role.filter(|r| !r.is_empty());
    let assignee = assignee.filter(|a| !a.is_empty());
    let person = match &assignee {
        Some(id) => Some(
            app.engine
                .store()
                .user(id)
                .await?
                .filter(|u| u.active && u.role == UserRole::Consultant)
                .ok_or_else(|| WebError::BadRequest("Deze collega bestaat niet of is niet actief.".into()))?,
        ),
        None => None,
    };
    let role = match (role, &person) {
        (Some(r), _) if !roles.contains_key(&r) => {
            return Err(WebError::BadRequest("Kies een rol van dit traject.".into()));
        }
        (Some(r), Some(p)) if !p.teams.contains(&r) => {
            return Err(WebError::BadRequest(format!(
                "{} heeft de rol {} niet; kies een andere collega of een andere rol.",
                p.display_name,
                crate::views::role_label(&case.pv, &r)
            )));
        }
        (Some(r), _) => r,
        (None, Some(p)) => p
            .teams
            .iter()
            .find(|t| roles.contains_key(*t))
            .cloned()
            .ok_or_else(|| {
                WebError::BadRequest(format!(
                    "{} heeft geen rol in dit traject; kies ook een rol.",
                    p.display_name
                ))
            })?,
        (None, None) => {
            return Err(WebError::BadRequest(
                "Kies voor wie de taak is: een rol of een collega.".into(),
            ));
        }
    };
    let today = app
        .clock
        .now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    if due.is_some_and(|d| d < today) {
        return Err(WebError::BadRequest("De datum ligt in het verleden.".into()));
    }
    Ok(Action::AddTask {
        title,
        reason,
        role,
        assignee,
        due,
    })
}

/// The roles of a case's pathway and the consultants who hold them, for the ad-hoc task
/// form: `(roles as (key, name), people as (id, name))`.
pub(crate) async fn adhoc_choices(
    app: &AppState,
    pv: &PathwayVersion,
) -> WebResult<(Vec<Value>, Vec<Value>)> {
    let roles: Vec<Value> = pv
        .pathway
        .roles
        .iter()
        .map(|(k, r)| json!({"key": k, "name": r.name}))
        .collect();
    let mut people: Vec<User> = app
        .engine
        .store()
        .users()
        .await?
        .into_iter()
        .filter(|u| {
            u.active
                && u.role == UserRole::Consultant
                && u.teams.iter().any(|t| pv.pathway.roles.contains_key(t))
        })
        .collect();
    people.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let mut out = Vec::new();
    for u in people {
        let teams = app.pathway_names.teams_of(&app.engine, &u).await?;
        out.push(json!({"id": u.id, "name": u.display_name, "teams": teams}));
    }
    Ok((roles, out))
}

/// Why the runtime refused a clock change or withdrawal, in Dutch.
fn clock_refusal(e: &RuntimeError) -> String {
    match e {
        RuntimeError::ClockNotAllowed { what, .. } if what == "suspended" => {
            "Bij deze stap kan de termijn niet worden opgeschort.".to_owned()
        }
        RuntimeError::ClockNotAllowed { .. } => {
            "Bij deze stap kan de termijn niet worden verdaagd.".to_owned()
        }
        RuntimeError::NoDeadline { .. } => "Deze taak heeft geen termijn.".to_owned(),
        RuntimeError::AlreadySuspended { .. } => "De termijn is al opgeschort; hervat hem eerst.".to_owned(),
        RuntimeError::NotSuspended { .. } => "De termijn is niet opgeschort.".to_owned(),
        RuntimeError::ExtensionRefused { message, .. } => format!("{message}."),
        RuntimeError::BadTerm(_) => {
            "Deze termijn kan Doorloop niet lezen; schrijf bijvoorbeeld ‘2 weken’ of ‘10 werkdagen’."
                .to_owned()
        }
        RuntimeError::InvalidAdHoc { .. } => {
            "De taak kon niet worden toegevoegd: vul wat, waarom en voor wie in.".to_owned()
        }
        RuntimeError::NotHeldAt { .. } => {
            "De casus staat hier niet (meer) stil; misschien koos een collega de route al.".to_owned()
        }
        RuntimeError::NotARoute { .. } => "Kies een van de routes uit de lijst.".to_owned(),
        other => other.to_string(),
    }
}

/// The colleagues a joint visit may invite: everyone on the resident's line — whoever
/// acted on any of the resident's cases — and the active consultants who hold a role of
/// the visit's step or of open work on that line; the viewer always. Sorted by name.
pub(crate) async fn visit_colleagues(
    app: &AppState,
    state: &CaseState,
    step_roles: &[String],
    viewer: &User,
) -> WebResult<Vec<User>> {
    let store = app.engine.store();
    let mut people: std::collections::BTreeSet<String> = state.team.iter().cloned().collect();
    people.insert(viewer.id.clone());
    let mut roles: std::collections::BTreeSet<String> = step_roles.iter().cloned().collect();
    let mut line = vec![state.clone()];
    if let Some(resident) = &state.resident {
        for other in store.resident_cases(resident).await? {
            if other.id != state.id
                && let Some(s) = store.load_case(&other.id).await?
            {
                line.push(s);
            }
        }
    }
    for case in &line {
        people.extend(case.team.iter().cloned());
        for task in case.tasks.values() {
            roles.extend(task.roles.iter().cloned());
        }
    }
    let mut found: Vec<User> = store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role == UserRole::Consultant)
        .filter(|u| people.contains(&u.id) || u.teams.iter().any(|t| roles.contains(t)))
        .collect();
    found.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
    Ok(found)
}

/// Who a joint visit invites, as a consultant asked for it.
pub(crate) struct VisitInvite {
    pub participants: Vec<String>,
    /// E-mail addresses as typed: one per line, or separated by commas or semicolons.
    pub guests: String,
    pub invite_resident: bool,
}

/// Checks a joint visit's invitation in Dutch before the runtime sees it: colleagues from
/// the resident's line, valid guest addresses, the resident only when an address is on
/// their record. Returns the participants and guests to plan with, or the form field that
/// is wrong and why.
pub(crate) async fn check_invite(
    app: &AppState,
    state: &CaseState,
    step_roles: &[String],
    viewer: &User,
    invite: &VisitInvite,
) -> WebResult<Result<(Vec<String>, Vec<String>), (&'static str, String)>> {
    if invite.participants.is_empty() {
        return Ok(Err(("deelnemer", "Kies minstens één collega.".into())));
    }
    let allowed = visit_colleagues(app, state, step_roles, viewer).await?;
    if let Some(stranger) = invite
        .participants
        .iter()
        .find(|p| !allowed.iter().any(|u| &u.id == *p))
    {
        return Ok(Err((
            "deelnemer",
            format!(
                "{stranger} werkt niet aan de lijn van deze inwoner; nodig alleen collega's uit die dat doen."
            ),
        )));
    }
    let typed: Vec<String> = invite
        .guests
        .split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    let guests = match doorloop_engine::runtime::check_guests(&typed) {
        Ok(g) => g,
        Err(RuntimeError::InvalidGuest { address }) => {
            return Ok(Err(("gasten", format!("‘{address}’ is geen e-mailadres."))));
        }
        Err(_) => {
            return Ok(Err((
                "gasten",
                format!(
                    "Nodig hoogstens {} mensen van buiten per e-mail uit.",
                    doorloop_engine::runtime::MAX_GUESTS
                ),
            )));
        }
    };
    if invite.invite_resident && !resident_has_email(app, state).await? {
        return Ok(Err((
            "inwoner",
            "Van deze inwoner is geen e-mailadres bekend; leg het eerst vast bij de inwoner.".into(),
        )));
    }
    Ok(Ok((invite.participants.clone(), guests)))
}

/// Whether the case's resident has an e-mail address on record (and can be invited).
pub(crate) async fn resident_has_email(app: &AppState, state: &CaseState) -> WebResult<bool> {
    let Some(id) = &state.resident else {
        return Ok(false);
    };
    Ok(app
        .engine
        .store()
        .resident(id)
        .await?
        .is_some_and(|r| !r.unknown && r.email.as_deref().is_some_and(|e| !e.trim().is_empty())))
}
