//! A resident's file for an inzage request (AVG art. 15): everything Doorloop holds about
//! them — their record, every case with its history and the values entered, provisions and
//! their changes, the organisations that worked on each case and on what ground, the
//! messages sent, and who viewed the file when. The BSN itself is not in it (only that one
//! is recorded): it leaves its field only through the logged "BSN tonen".

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::chain::CaseParty;
use crate::engine::{Engine, Result};
use crate::resident::Resident;
use crate::resident::provision::{Provision, ProvisionChange};
use crate::runtime::{CaseStatus, EventKind};
use crate::store::AccessEntry;

/// At most this many access-log rows go into one file.
pub const VIEWS_MAX: u32 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct ResidentFile {
    pub made_at: DateTime<Utc>,
    pub resident: Resident,
    pub cases: Vec<CaseFile>,
    pub provisions: Vec<Provision>,
    pub provision_changes: Vec<ProvisionChange>,
    /// Corrections of the record (AVG art. 16), newest first.
    pub corrections: Vec<crate::store::ResidentChange>,
    /// Who viewed the resident or their cases, newest first.
    pub views: Vec<AccessEntry>,
    /// A legal hold that stops removal, if any.
    pub hold: Option<crate::store::Hold>,
    /// How long a record without cases is kept after its last change, in years.
    pub record_kept_years: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseFile {
    pub id: String,
    pub pathway_key: String,
    pub pathway_name: String,
    pub pathway_version: u32,
    pub status: CaseStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    /// Every value entered, by field, as it stands now.
    pub values: BTreeMap<String, Value>,
    pub events: Vec<FileEvent>,
    pub parties: Vec<CaseParty>,
    /// Messages about the case: (kind, status).
    pub messages: Vec<(String, String)>,
    /// The retention term after the case ends, in years, and the day it passes (once ended).
    pub kept_years: u32,
    pub kept_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: EventKind,
}

impl Engine {
    /// Gathers a resident's file. Reading it is a view of everything: the caller logs it.
    pub async fn resident_file(&self, id: &str, now: DateTime<Utc>) -> Result<ResidentFile> {
        let line = self.line(id).await?;
        let store = self.store();
        let mut cases = Vec::new();
        for (summary, state) in &line.cases {
            let pathway_name = match self
                .pathway(&summary.pathway_key, Some(summary.pathway_version))
                .await
            {
                Ok(pv) => pv.pathway.name.clone(),
                Err(_) => summary.pathway_key.clone(),
            };
            let events = store
                .events(&summary.id)
                .await?
                .into_iter()
                .map(|e| FileEvent {
                    at: e.event.at,
                    actor: e.event.actor,
                    event: e.event.kind,
                })
                .collect();
            let messages = store
                .outbox(&summary.id)
                .await?
                .into_iter()
                .map(|(_, kind, status)| (kind, status))
                .collect();
            let kept_years = match self.pathway(&summary.pathway_key, None).await {
                Ok(pv) => pv.pathway.retention.as_ref().map(|r| r.years),
                Err(_) => None,
            }
            .unwrap_or(self.retention().default_years);
            let kept_until = state
                .ended_at
                .and_then(|end| end.checked_add_months(chrono::Months::new(kept_years.saturating_mul(12))));
            cases.push(CaseFile {
                id: summary.id.clone(),
                pathway_key: summary.pathway_key.clone(),
                pathway_name,
                pathway_version: summary.pathway_version,
                status: state.status,
                started_at: state.started_at,
                ended_at: state.ended_at,
                outcome: state.outcome.clone(),
                values: state.variables.clone().into_iter().collect(),
                events,
                parties: store.case_parties(&summary.id).await?,
                messages,
                kept_years,
                kept_until,
            });
        }
        Ok(ResidentFile {
            made_at: now,
            provisions: store.provisions(id).await?,
            provision_changes: store.provision_changes(id).await?,
            corrections: store.resident_changes(id).await?,
            views: store
                .resident_access_log(id, &line.resident.reference, VIEWS_MAX)
                .await?,
            hold: store.hold(id).await?,
            record_kept_years: self.retention().default_years,
            resident: line.resident,
            cases,
        })
    }
}
