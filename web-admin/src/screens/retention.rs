//! Bewaartermijnen: the privacy officer's view of how long records are kept (per pathway),
//! which residents are held from removal and what retention removed; setting and releasing a
//! legal hold.

use crate::access::CaseChain;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use doorloop_engine::store::UserRole;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::auth::{self, CsrfForm, Viewer};
use crate::error::{PageQuery, WebError, WebResult};
use crate::views::{base, date, date_time, page};

#[derive(Deserialize)]
pub struct RetentionQuery {
    /// A hold was just set (`aan`) or released (`uit`).
    bewaarplicht: Option<String>,
}

fn action_label(action: &str) -> &'static str {
    match action {
        "zaak-verwijderd" => "Traject verwijderd na bewaartermijn",
        "inwoner-verwijderd" => "Inwonergegevens verwijderd",
        "bewaarplicht-aan" => "Bewaarplicht ingesteld",
        "bewaarplicht-uit" => "Bewaarplicht opgeheven",
        _ => "Onbekende handeling",
    }
}

/// `GET /bewaartermijnen`: terms, holds and the retention log.
pub async fn page_view(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(q): PageQuery<RetentionQuery>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Privacy, UserRole::Admin])?;
    let engine = &app.engine;
    let store = engine.store();
    let policy = engine.retention();
    let terms: Vec<Value> = doorloop_engine::retention::terms(engine, policy)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "pathway": t.pathway_name, "years": t.years,
                "basis": if t.default { "Standaardtermijn van deze installatie".to_owned() }
                         else { t.basis.unwrap_or_else(|| "Vastgelegd in het traject".to_owned()) },
            })
        })
        .collect();
    // Holds on residents this officer reaches (their municipality; the region: all).
    let mut holds = Vec::new();
    for h in store.holds().await? {
        let Ok(r) = engine.resident(&h.resident_id).await else {
            continue;
        };
        let home = CaseChain {
            municipality: r.municipality.clone(),
            parties: Vec::new(),
        };
        if viewer.user.role == UserRole::Privacy && home.standing(&viewer.user).is_none() {
            continue;
        }
        holds.push(json!({
            "id": r.id, "name": r.display_name(), "reference": r.reference,
            "since": date(h.since), "reason": h.reason,
            "by": app.users.name(store.as_ref(), &h.by).await?,
        }));
    }
    let names = app.pathway_names.get(engine).await?;
    let mut log = Vec::new();
    for e in store.retention_log(100).await? {
        log.push(json!({
            "at": date_time(e.at), "what": action_label(&e.action),
            "pathway": e.pathway_key.as_deref().map(|k| crate::views::pathway_name(&names, k)),
            "ended": e.ended_at.map(date), "years": e.term_years,
            "by": app.users.name(store.as_ref(), &e.by).await?,
        }));
    }
    let nav = if viewer.user.role == UserRole::Admin {
        "beheer"
    } else {
        "bewaartermijnen"
    };
    let mut data = base(&viewer, "Bewaartermijnen", nav);
    data.insert("terms".into(), Value::Array(terms));
    data.insert("default_years".into(), json!(policy.default_years));
    data.insert("holds".into(), Value::Array(holds));
    data.insert("log".into(), Value::Array(log));
    data.insert("hold_set".into(), json!(q.bewaarplicht.as_deref() == Some("aan")));
    data.insert(
        "hold_released".into(),
        json!(q.bewaarplicht.as_deref() == Some("uit")),
    );
    data.insert("may_hold".into(), json!(viewer.user.role == UserRole::Privacy));
    data.insert("tab_bewaartermijnen".into(), json!(true));
    data.insert("admin_tabs".into(), json!(viewer.user.role == UserRole::Admin));
    Ok(page(StatusCode::OK, "retention", Value::Object(data)))
}

/// `POST /inwoners/{id}/bewaarplicht`: sets (`actie=aan`, with `reden`) or releases
/// (`actie=uit`) a resident's legal hold.
pub async fn set_hold(State(app): Shared, Path(id): Path<String>, form: CsrfForm) -> WebResult<Redirect> {
    let user = &form.viewer.user;
    let resident = crate::residents::for_privacy_officer(&app, user, &id).await?;
    let now = app.clock.now();
    match form.get("actie").unwrap_or_default() {
        "aan" => {
            let reason = form.get("reden").unwrap_or_default().trim();
            if reason.is_empty() {
                return Err(WebError::BadRequest(
                    "Vul de reden van de bewaarplicht in (bijvoorbeeld een bezwaarprocedure).".into(),
                ));
            }
            if reason.chars().count() > 500 {
                return Err(WebError::BadRequest(
                    "De reden is te lang: hoogstens 500 tekens.".into(),
                ));
            }
            doorloop_engine::retention::hold(&app.engine, &resident.id, reason, &user.id, now).await?;
            Ok(Redirect::to("/bewaartermijnen?bewaarplicht=aan#bewaarplicht"))
        }
        "uit" => {
            if form.get("bevestig") != Some("ja") {
                return Err(WebError::BadRequest(
                    "Bevestig dat de bewaarplicht wordt opgeheven: daarna verwijdert Doorloop wat voorbij zijn termijn is."
                        .into(),
                ));
            }
            if !doorloop_engine::retention::release(&app.engine, &resident.id, &user.id, now).await? {
                return Err(WebError::BadRequest(format!(
                    "{} heeft geen bewaarplicht.",
                    resident.reference
                )));
            }
            Ok(Redirect::to("/bewaartermijnen?bewaarplicht=uit#bewaarplicht"))
        }
        _ => Err(WebError::BadRequest(
            "Kies of de bewaarplicht ingesteld of opgeheven wordt.".into(),
        )),
    }
}
