//! Server-rendered pages: handlebars templates (HTML-escaped by default) compiled into
//! the binary, and Dutch formatting of dates and durations.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Amsterdam;
use handlebars::Handlebars;
use serde_json::{Map, Value, json};

use crate::auth::Viewer;
use crate::error::WebError;
use doorloop_engine::pathway::model::{PathwayVersion, StepKind};
use doorloop_engine::store::{User, UserRole};

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("../templates/layout.hbs")),
    ("login", include_str!("../templates/login.hbs")),
    ("case", include_str!("../templates/case.hbs")),
    ("task", include_str!("../templates/task.hbs")),
    ("cases", include_str!("../templates/cases.hbs")),
    ("stalls", include_str!("../templates/stalls.hbs")),
    ("pathways", include_str!("../templates/pathways.hbs")),
    ("pathway", include_str!("../templates/pathway.hbs")),
    ("editor", include_str!("../templates/editor.hbs")),
    ("import", include_str!("../templates/import.hbs")),
    ("migrate", include_str!("../templates/migrate.hbs")),
    ("stalled_cases", include_str!("../templates/stalled_cases.hbs")),
    ("bottlenecks", include_str!("../templates/bottlenecks.hbs")),
    ("outcomes", include_str!("../templates/outcomes.hbs")),
    ("funnel", include_str!("../templates/funnel.hbs")),
    ("analysis_tabs", include_str!("../templates/analysis_tabs.hbs")),
    ("people", include_str!("../templates/people.hbs")),
    ("messages", include_str!("../templates/messages.hbs")),
    ("admin_tabs", include_str!("../templates/admin_tabs.hbs")),
    ("residents", include_str!("../templates/residents.hbs")),
    ("resident", include_str!("../templates/resident.hbs")),
    ("resident_form", include_str!("../templates/resident_form.hbs")),
    ("error", include_str!("../templates/error.hbs")),
    ("inzage", include_str!("../templates/inzage.hbs")),
    ("retention", include_str!("../templates/retention.hbs")),
    ("access_log", include_str!("../templates/access_log.hbs")),
    (
        "access_log_page",
        include_str!("../templates/access_log_page.hbs"),
    ),
];

/// What the layout shows around every page.
const LAYOUT_KEYS: &[&str] = &["title", "user", "csrf", "flash", "flash_kind"];

pub const CSS: &str = include_str!("../static/app.css");
pub const EDITOR_JS: &str = include_str!("../static/editor.js");
pub const GRAPH_JS: &str = include_str!("../static/graph.js");

static REGISTRY: LazyLock<Result<Handlebars<'static>, String>> = LazyLock::new(|| {
    let mut hb = Handlebars::new();
    hb.set_dev_mode(false);
    // Pages are HTML: partials need no re-indenting, which costs a pass over the output.
    hb.set_prevent_indent(true);
    for (name, source) in TEMPLATES {
        hb.register_template_string(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(hb)
});

/// Renders a template with `data` into HTML.
pub fn render(name: &str, data: Value) -> Result<String, WebError> {
    let hb = REGISTRY.as_ref().map_err(|e| WebError::Internal(e.clone()))?;
    // The page's own template first, then the layout around it. (A layout partial block
    // would make handlebars copy every row of a list it iterates.)
    let mut frame = serde_json::Map::new();
    if let Value::Object(map) = &data {
        for (k, v) in map {
            if LAYOUT_KEYS.contains(&k.as_str()) || k.starts_with("nav_") {
                frame.insert(k.clone(), v.clone());
            }
        }
    }
    let body = hb.render_with_context(name, &handlebars::Context::from(data))?;
    // `body` is HTML this engine has just produced with every value escaped.
    frame.insert("body".to_owned(), Value::String(body));
    Ok(hb.render_with_context("layout", &handlebars::Context::from(Value::Object(frame)))?)
}

/// Renders a template that is a whole document of its own (no layout around it).
pub fn render_plain(name: &str, data: Value) -> Result<String, WebError> {
    let hb = REGISTRY.as_ref().map_err(|e| WebError::Internal(e.clone()))?;
    Ok(hb.render_with_context(name, &handlebars::Context::from(data))?)
}

/// A page whose content was rendered elsewhere (already escaped HTML), inside the layout.
pub fn page_around(status: StatusCode, frame: serde_json::Map<String, Value>, body: String) -> Response {
    let hb = match REGISTRY.as_ref() {
        Ok(hb) => hb,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let mut frame = frame;
    frame.insert("body".to_owned(), Value::String(body));
    match hb.render_with_context("layout", &handlebars::Context::from(Value::Object(frame))) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            let e = WebError::from(e);
            error_page(e.status(), &e.public_message())
        }
    }
}

/// A rendered page, or the error page when rendering failed.
pub fn page(status: StatusCode, name: &str, data: Value) -> Response {
    match render(name, data) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => error_page(e.status(), &e.public_message()),
    }
}

/// A plain Dutch error page (no user context needed).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    error_page_coded(status, None, message)
}

/// An error page that also names the error's stable code, for a call to support.
pub fn error_page_coded(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let data = json!({
        "title": "Foutmelding",
        "status": status.as_u16(),
        "message": message,
        "code": code,
        "user": Value::Null,
    });
    match render("error", data) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message.to_owned(),
        )
            .into_response(),
    }
}

/// Where a deadline stands: a CSS class and a Dutch phrase.
pub fn due_state(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (&'static str, String) {
    let Some(due) = due else {
        return ("none", "geen termijn".to_owned());
    };
    let today = now.with_timezone(&Amsterdam).date_naive();
    let day = due.with_timezone(&Amsterdam).date_naive();
    let days = (day - today).num_days();
    if due < now {
        let late = (today - day).num_days();
        let text = match late {
            0 => "vandaag verlopen".to_owned(),
            1 => "1 dag te laat".to_owned(),
            n => format!("{n} dagen te laat"),
        };
        ("overdue", text)
    } else if days <= 5 {
        let text = match days {
            0 => "vandaag".to_owned(),
            1 => "morgen".to_owned(),
            n => format!("over {n} dagen"),
        };
        ("soon", text)
    } else {
        ("later", format!("over {days} dagen"))
    }
}

pub use doorloop_engine::text::dutch::{date, date_time, stall_reason};

/// The layout's view of the logged-in user.
pub(crate) fn user_json(u: &User) -> Value {
    json!({
        "name": u.display_name,
        "role_label": u.role.label(),
        "teams": u.teams.join(", "),
        "is_consultant": u.role == UserRole::Consultant,
        "sees_cases": matches!(u.role, UserRole::Consultant | UserRole::Manager),
        "sees_residents": matches!(u.role, UserRole::Consultant | UserRole::Manager | UserRole::Privacy),
        "sees_access_log": u.role == UserRole::Privacy,
        "sees_retention": u.role == UserRole::Privacy,
        "sees_stalls": u.role == UserRole::Coordinator,
        "sees_figures": u.role == UserRole::Manager,
        "sees_pathways": matches!(u.role, UserRole::Manager | UserRole::Coordinator),
        "is_admin": u.role == UserRole::Admin,
    })
}

pub(crate) fn base(viewer: &Viewer, title: &str, nav: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(title));
    let mut user = user_json(&viewer.user);
    user["teams"] = json!(viewer.teams);
    m.insert("user".into(), user);
    m.insert("csrf".into(), json!(viewer.csrf));
    m.insert(format!("nav_{nav}"), json!(true));
    m
}

/// A pathway's name by its key, from the cached list of names (the key if unknown).
pub(crate) fn pathway_name(names: &[(String, String)], key: &str) -> String {
    names
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| key.to_owned())
}

/// Who a role key means, in the pathway's words: its roles by name ("Klantmanager Werk &
/// Inkomen"), and the escalation targets the engine knows.
pub(crate) fn role_label(pv: &PathwayVersion, key: &str) -> String {
    match key {
        "responsible" => "verantwoordelijke".to_owned(),
        "team_lead" => "teamleider".to_owned(),
        "manager" => "manager".to_owned(),
        "system" => "systeem".to_owned(),
        _ => pv
            .pathway
            .roles
            .get(key)
            .map_or_else(|| key.replace(['-', '_'], " "), |r| r.name.clone()),
    }
}

/// Several roles as one line: "Wmo-consulent + Klantmanager".
pub(crate) fn role_labels(pv: &PathwayVersion, keys: &[impl AsRef<str>]) -> String {
    keys.iter()
        .map(|k| role_label(pv, k.as_ref()))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A case's status in Dutch.
pub(crate) fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "loopt",
        "ended" => "afgerond",
        "withdrawn" => "ingetrokken",
        _ => "nieuw",
    }
}

pub(crate) fn short(id: &str) -> String {
    id.chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

pub(crate) fn svg_response(svg: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (header::CACHE_CONTROL, cache),
        ],
        svg,
    )
        .into_response()
}

/// Steps of a version where a case can hold work, for the migration screen.
pub(crate) fn holding_steps(pv: &PathwayVersion) -> Vec<(String, String, StepKind)> {
    pv.pathway
        .steps
        .iter()
        .filter(|s| s.kind.is_human() || s.kind.is_split())
        .map(|s| (s.id.clone(), s.display_name().to_owned(), s.kind.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_template_compiles_and_escapes() {
        assert!(REGISTRY.is_ok(), "{:?}", REGISTRY.as_ref().err());
        let html = render(
            "error",
            json!({"title": "t", "status": 404, "message": "<b>x</b>", "user": null}),
        )
        .unwrap();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!html.contains("<b>x</b>"));
    }

    #[test]
    fn dates_are_dutch_and_local() {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap();
        assert_eq!(date_time(t), "ma 23 nov 2026 09:30");
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 8, 30, 0).unwrap();
        assert_eq!(date_time(summer), "wo 1 jul 2026 10:30");
    }

    #[test]
    fn deadlines_read_as_late_soon_or_later() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        assert_eq!(
            due_state(Some(now - chrono::Duration::days(3)), now),
            ("overdue", "3 dagen te laat".into())
        );
        assert_eq!(
            due_state(Some(now + chrono::Duration::days(1)), now),
            ("soon", "morgen".into())
        );
        assert_eq!(due_state(Some(now + chrono::Duration::days(20)), now).0, "later");
        assert_eq!(due_state(None, now).0, "none");
    }
}
