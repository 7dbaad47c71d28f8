//! The readable form of a resident's file for an inzage request: one HTML document that a
//! privacy officer hands to the resident, with the same data as JSON inside it.

use std::collections::{BTreeSet, HashMap};

use doorloop_engine::engine::Engine;
use doorloop_engine::inzage::ResidentFile;
use doorloop_engine::runtime::EventKind;
use serde_json::{Value, json};

use crate::error::WebError;
use crate::screens::case::{Names, event_text, field_label, shown_value};
use crate::views::{date, date_time, status_label};

/// Renders the file as one self-contained HTML document (Dutch), every value escaped.
pub async fn render(engine: &Engine, file: &ResidentFile) -> Result<String, WebError> {
    let store = engine.store();
    // Everyone the file names, by name.
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for c in &file.cases {
        for e in &c.events {
            ids.insert(&e.actor);
            if let EventKind::TaskAssigned { user: Some(u), .. } = &e.event {
                ids.insert(u);
            }
        }
        for p in &c.parties {
            ids.insert(&p.recorded_by);
        }
    }
    for v in &file.views {
        ids.insert(&v.user_id);
    }
    for c in &file.corrections {
        ids.insert(&c.by);
    }
    let mut people = HashMap::new();
    for id in ids {
        let name = match store.user(id).await? {
            Some(u) => u.display_name,
            None if id == "system" || id.is_empty() => "systeem".to_owned(),
            None => id.to_owned(),
        };
        people.insert(id.to_owned(), name);
    }
    let names = Names {
        people,
        pathways: store
            .pathways()
            .await?
            .into_iter()
            .map(|p| (p.key, p.name))
            .collect(),
        provisions: engine
            .provision_kinds()
            .iter()
            .map(|k| (k.key.clone(), k.label.clone()))
            .collect(),
    };
    let orgs = store.organisations().await?;
    let org_name = |id: &str| {
        orgs.iter()
            .find(|o| o.id == id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let mut cases = Vec::new();
    for c in &file.cases {
        let pv = engine.pathway(&c.pathway_key, Some(c.pathway_version)).await?;
        let adhoc: HashMap<String, String> = c
            .events
            .iter()
            .filter_map(|e| match &e.event {
                EventKind::TaskOpened { task } => {
                    task.adhoc.as_ref().map(|a| (task.id.clone(), a.title.clone()))
                }
                _ => None,
            })
            .collect();
        let events: Vec<Value> = c
            .events
            .iter()
            .filter_map(|e| {
                event_text(&e.event, &pv, &names, &adhoc)
                    .map(|what| json!({"at": date_time(e.at), "what": what, "actor": names.person(&e.actor)}))
            })
            .collect();
        let status = serde_json::to_value(c.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        cases.push(json!({
            "pathway": c.pathway_name,
            "version": c.pathway_version,
            "status": status_label(&status),
            "started": c.started_at.map(date),
            "ended": c.ended_at.map(date),
            "outcome": c.outcome.as_deref().map(doorloop_engine::text::dutch::code_label),
            "values": c.values.iter().map(|(k, v)| json!({"label": field_label(&pv, k), "value": shown_value(&pv, k, v)})).collect::<Vec<_>>(),
            "events": events,
            "parties": c.parties.iter().map(|p| json!({
                "name": org_name(&p.organisation),
                "ground": p.ground.label(),
                "purpose": p.purpose, "reference": p.reference, "since": date(p.since),
                "withdrawn": p.withdrawn_at.map(date),
            })).collect::<Vec<_>>(),
            "kept": match c.kept_until {
                Some(until) => format!("Bewaard tot {} ({} jaar na het einde van het traject).", date(until), c.kept_years),
                None => format!("Bewaard tot {} jaar na het einde van het traject.", c.kept_years),
            },
            "messages": c.messages.iter().map(|(kind, status)| json!({
                "kind": crate::screens::admin::message_kind(kind), "status": message_status(status),
            })).collect::<Vec<_>>(),
        }));
    }
    let provision_label = |kind: &str| {
        names
            .provisions
            .get(kind)
            .cloned()
            .unwrap_or_else(|| kind.to_owned())
    };
    let r = &file.resident;
    let data = json!({
        "made_at": date_time(file.made_at),
        "resident": {
            "name": r.display_name(), "reference": r.reference,
            "birth_date": r.birth_date.map(|d| d.format("%d-%m-%Y").to_string()),
            "email": r.email, "phone": r.phone, "address": r.address,
            "municipality": r.municipality.as_deref().map(org_name),
            "bsn": r.has_bsn,
        },
        "cases": cases,
        "provisions": file.provisions.iter().map(|p| json!({
            "kind": provision_label(&p.kind), "status": p.status.label(),
            "start": p.start_date.map(|d| d.format("%d-%m-%Y").to_string()),
            "end": p.end_date.map(|d| d.format("%d-%m-%Y").to_string()),
            "decision": p.decision_ref,
        })).collect::<Vec<_>>(),
        "changes": file.provision_changes.len(),
        "record_kept": format!(
            "Uw gegevens worden verwijderd als uw trajecten hun bewaartermijn voorbij zijn en uw gegevens {} jaar niet zijn gewijzigd.",
            file.record_kept_years
        ),
        "hold": file.hold.as_ref().map(|h| json!({"since": date(h.since), "reason": h.reason})),
        "corrections": file.corrections.iter().map(|c| crate::screens::residents::correction_json(c, &names.person(&c.by))).collect::<Vec<_>>(),
        "views": file.views.iter().map(|v| json!({
            "at": date_time(v.at), "who": names.person(&v.user_id), "purpose": v.purpose,
        })).collect::<Vec<_>>(),
        "json": serde_json::to_string_pretty(file).map_err(|e| WebError::Internal(e.to_string()))?,
    });
    crate::views::render_plain("inzage", data)
}

fn message_status(status: &str) -> &'static str {
    match status {
        "sent" => "verstuurd",
        "pending" | "sending" => "nog te versturen",
        "dead" => "niet bezorgd",
        "expanded" => "verwerkt",
        _ => "onbekend",
    }
}
