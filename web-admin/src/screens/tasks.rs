//! "Mijn taken": a consultant's open tasks and the team's unassigned ones, and the joint visits they are invited to.

use crate::error::PageQuery;
use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::store::{TaskRow, UserRole, WorkFilter, WorkScope};
use serde::Deserialize;

use crate::auth::{self, Viewer};
use crate::error::{WebError, WebResult};
use crate::views::{self, base, date_time, due_state, short, stall_reason};
use crate::{AppState, Shared};
use askama::Template;

// ---- Mijn taken ----

#[derive(Deserialize, Default)]
pub struct TaskQuery {
    rol: Option<String>,
    traject: Option<String>,
    voor: Option<String>,
    pagina: Option<u32>,
    per: Option<u32>,
    /// `opgepakt` or `vrijgegeven`: the confirmation to show.
    melding: Option<String>,
}

/// Page sizes of "Mijn taken"; the first is the default.
const PAGE_SIZES: [u32; 3] = [25, 50, 100];

/// "Mijn taken": the tasks assigned to me, and the joint visits I am invited to.
pub async fn my_tasks(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<TaskQuery>,
) -> WebResult<Response> {
    work_page(&app, viewer, q, WorkScope::Mine).await
}

/// "Werkvoorraad": my teams' tasks that nobody has picked up yet.
pub async fn team_work(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<TaskQuery>,
) -> WebResult<Response> {
    work_page(&app, viewer, q, WorkScope::Team).await
}

/// The confirmation after claiming or releasing, shown on the list the user returns to.
fn notice(melding: Option<&str>) -> Option<&'static str> {
    match melding {
        Some("opgepakt") => Some("De taak is opgepakt: u vindt hem onder Mijn taken."),
        Some("vrijgegeven") => {
            Some("De taak is vrijgegeven: hij staat weer in de werkvoorraad van het team.")
        }
        Some("overgedragen") => Some("De taak is overgedragen aan uw collega; die krijgt er bericht van."),
        _ => None,
    }
}

async fn work_page(app: &AppState, viewer: Viewer, q: TaskQuery, scope: WorkScope) -> WebResult<Response> {
    let (path, title) = match scope {
        WorkScope::Team => ("/werkvoorraad", "Werkvoorraad"),
        _ => ("/taken", "Mijn taken"),
    };
    auth::require(&viewer.user, &[UserRole::Consultant])?;
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let (role, pathway, before) = (nonempty(q.rol), nonempty(q.traject), nonempty(q.voor));
    let page_no = q.pagina.unwrap_or(1).clamp(1, 10_000);
    let per_page = q.per.filter(|p| PAGE_SIZES.contains(p)).unwrap_or(PAGE_SIZES[0]);
    let due_before = match &before {
        Some(d) => Some(
            d.parse::<NaiveDate>()
                .ok()
                .and_then(|d| {
                    Amsterdam
                        .from_local_datetime(&d.and_time(NaiveTime::MIN))
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| WebError::BadRequest(format!("Ongeldige datum bij 'Termijn vóór': {d}")))?,
        ),
        None => None,
    };
    let rows = app
        .engine
        .store()
        .work_list(&WorkFilter {
            user: viewer.user.id.clone(),
            teams: viewer.user.teams.clone(),
            organisation: crate::access::org_filter(&viewer.user),
            scope,
            role: role.clone(),
            pathway: pathway.clone(),
            due_before,
            offset: (page_no - 1).saturating_mul(per_page),
            limit: per_page + 1,
        })
        .await?;
    let more = rows.len() > per_page as usize;
    let now = app.clock.now();
    let listing = app.pathway_names.get(&app.engine).await?;
    let names: HashMap<&str, &str> = listing.iter().map(|(k, n)| (k.as_str(), n.as_str())).collect();
    // Whose work it is, by name.
    let invited_rows = if scope == WorkScope::Mine {
        app.engine
            .store()
            .invited_visits(
                &viewer.user.id,
                crate::access::org_filter(&viewer.user).as_ref(),
                20,
            )
            .await?
    } else {
        Vec::new()
    };
    let case_ids: Vec<String> = rows
        .iter()
        .take(per_page as usize)
        .chain(invited_rows.iter())
        .map(|r| r.case_id.clone())
        .collect();
    let people: HashMap<String, String> = crate::residents::names_of_cases(app, &case_ids).await?;
    let resident = |case: &str| {
        people
            .get(case)
            .cloned()
            .unwrap_or_else(|| format!("casus {}", short(case)))
    };
    let mut tasks = Vec::with_capacity(rows.len().min(per_page as usize));
    let store = app.engine.store().as_ref();
    let shown: Vec<&TaskRow> = rows.iter().take(per_page as usize).collect();
    let risks = app.engine.risks(&shown, now).await?;
    for (r, risk) in shown.into_iter().zip(risks) {
        let pv = app
            .engine
            .pathway(&r.pathway_key, Some(r.pathway_version))
            .await?;
        let assignee = match &r.assignee {
            Some(a) => Some(app.users.name(store, a).await?),
            None => None,
        };
        let mut line = task_line(
            r,
            &pv,
            &names,
            &viewer.user.id,
            now,
            (resident(&r.case_id), assignee),
        );
        line.at_risk = risk == Some(doorloop_engine::figures::stall::Risk::AtRisk);
        tasks.push(line);
    }
    let team_names = app.pathway_names.roles(&app.engine).await?;
    // Joint visits the consultant is invited to while a colleague holds them.
    // Most consultants have none; each one shown reads its case for the visit's moment,
    // place and company.
    let mut invited = Vec::with_capacity(invited_rows.len());
    for r in &invited_rows {
        let Ok((state, pv)) = crate::cases::visible_case_on_pathway(app, &viewer.user, &r.case_id)
            .await
            .map(|(state, _, pv)| (state, pv))
        else {
            continue;
        };
        let Some(visit) = state.tasks.get(&r.task_id).and_then(|t| t.visit.clone()) else {
            continue;
        };
        let mut with = Vec::new();
        for id in visit.participants.iter().filter(|p| **p != viewer.user.id) {
            let name = match app.users.get(app.engine.store().as_ref(), id).await? {
                Some(u) => u.display_name,
                None => id.clone(),
            };
            with.push(name);
        }
        invited.push(InvitedLine {
            case_id: &r.case_id,
            resident: resident(&r.case_id),
            step_name: r.title_in(&pv),
            pathway: names
                .get(r.pathway_key.as_str())
                .copied()
                .unwrap_or(r.pathway_key.as_str()),
            when: date_time(visit.at),
            place: visit.place.unwrap_or_default(),
            with: with.join(", "),
        });
    }
    let back = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("rol", &role), ("traject", &pathway), ("voor", &before)] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        if per_page != PAGE_SIZES[0] {
            s.append_pair("per", &per_page.to_string());
        }
        s.finish()
    };
    let link = |p: u32| {
        let mut q = back.clone();
        if p > 1 {
            q.push_str(&format!("{}pagina={p}", if q.is_empty() { "" } else { "&" }));
        }
        if q.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{q}")
        }
    };
    let first = (page_no - 1) * per_page + 1;
    let range = match tasks.len() {
        0 => String::new(),
        n => format!("{first}–{}", first as usize + n - 1),
    };
    let filtered = role.is_some() || pathway.is_some() || before.is_some();
    let content = TasksPage {
        title,
        path,
        team_list: scope == WorkScope::Team,
        csrf: &viewer.csrf,
        range,
        next: more.then(|| link(page_no + 1)),
        previous: (page_no > 1).then(|| link(page_no - 1)),
        roles: viewer
            .user
            .teams
            .iter()
            .map(|t| {
                let label = team_names.get(t).cloned().unwrap_or_else(|| t.clone());
                (t.as_str(), label, role.as_ref() == Some(t))
            })
            .collect(),
        pathways: listing
            .iter()
            .map(|(k, n)| (k.as_str(), n.as_str(), pathway.as_ref() == Some(k)))
            .collect(),
        sizes: PAGE_SIZES.iter().map(|p| (*p, *p == per_page)).collect(),
        due_before: before.as_deref().unwrap_or(""),
        filtered,
        back: link(page_no),
        tasks,
        invited,
    };
    let body = content
        .render()
        .map_err(|e| WebError::Internal(format!("template tasks: {e}")))?;
    let mut frame = base(
        &viewer,
        title,
        if scope == WorkScope::Team {
            "werkvoorraad"
        } else {
            "taken"
        },
    );
    if let Some(text) = notice(q.melding.as_deref()) {
        frame.insert("flash".into(), serde_json::json!(text));
    }
    Ok(views::page_around(StatusCode::OK, frame, body))
}

/// "Mijn taken" is the busiest screen: its template is compiled (askama escapes every
/// value), which renders a page of 100 rows several times faster than handlebars.
#[derive(askama::Template)]
#[template(path = "tasks.html")]
struct TasksPage<'a> {
    title: &'static str,
    /// `/taken` or `/werkvoorraad`.
    path: &'static str,
    /// The werkvoorraad (my teams' unassigned work), not my own.
    team_list: bool,
    csrf: &'a str,
    range: String,
    next: Option<String>,
    previous: Option<String>,
    /// The viewer's teams: key, name, chosen.
    roles: Vec<(&'a str, String, bool)>,
    pathways: Vec<(&'a str, &'a str, bool)>,
    sizes: Vec<(u32, bool)>,
    due_before: &'a str,
    filtered: bool,
    back: String,
    tasks: Vec<TaskLine<'a>>,
    /// Open joint visits this consultant is invited to, held by a colleague.
    invited: Vec<InvitedLine<'a>>,
}

/// A joint visit a consultant is invited to.
struct InvitedLine<'a> {
    case_id: &'a str,
    /// Whose case it is.
    resident: String,
    step_name: String,
    pathway: &'a str,
    when: String,
    place: String,
    /// The other participants, by name.
    with: String,
}

/// One row of a work list.
fn task_line<'a>(
    r: &'a TaskRow,
    pv: &PathwayVersion,
    names: &HashMap<&'a str, &'a str>,
    viewer: &str,
    now: DateTime<Utc>,
    (resident, assignee_name): (String, Option<String>),
) -> TaskLine<'a> {
    let step_name = r.title_in(pv);
    let (due_class, due_text) = due_state(r.due_at, now);
    TaskLine {
        case_id: &r.case_id,
        resident,
        task_id: &r.task_id,
        step: &r.step,
        step_name,
        pathway: names
            .get(r.pathway_key.as_str())
            .copied()
            .unwrap_or(r.pathway_key.as_str()),
        roles: views::role_labels(pv, &r.roles),
        assignee: assignee_name,
        mine: r.assignee.as_deref() == Some(viewer),
        due_class,
        due_text,
        due_at: r.due_at.map(date_time),
        stall: r.stall_reason.as_deref().map(stall_reason),
        at_risk: false,
    }
}

struct TaskLine<'a> {
    case_id: &'a str,
    /// Whose case it is, by name.
    resident: String,
    task_id: &'a str,
    step: &'a str,
    step_name: String,
    pathway: &'a str,
    roles: String,
    /// Who holds it, by name.
    assignee: Option<String>,
    mine: bool,
    due_class: &'static str,
    due_text: String,
    due_at: Option<String>,
    stall: Option<String>,
    /// A typical slow case of this step would finish after the deadline.
    at_risk: bool,
}
