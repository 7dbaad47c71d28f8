//! The resident's line: adding, changing and finding residents, and everything about one
//! person across their cases (timeline, ladder history, the people who work with them, what
//! happens next).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{Engine, EngineError, Result};
use crate::resident::provision::{ProvisionChange, ProvisionProblem, ProvisionStatus};
use crate::resident::{Bsn, BsnError, Resident, ResidentInput, ResidentQuery, search_words};
use crate::runtime::{CaseState, CaseStatus, Task};
use crate::store::{CaseSummary, ResidentRow, StoredQuery, Viewer};

/// Most residents one search returns.
pub const SEARCH_LIMIT: u32 = 50;

/// One person's line: their cases and what follows from them.
#[derive(Debug, Clone)]
pub struct Line {
    pub resident: Resident,
    /// Every case, newest first, with its state.
    pub cases: Vec<(CaseSummary, Arc<CaseState>)>,
}

/// A rung of the participatieladder reached on one of the resident's cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderPoint {
    pub rung: u8,
    pub at: DateTime<Utc>,
    pub case_id: String,
    pub pathway_key: String,
    pub step: Option<String>,
}

/// Open work on the line: a task, visit or wait, with its case.
#[derive(Debug, Clone)]
pub struct NextWork<'a> {
    pub case_id: &'a str,
    pub pathway_key: &'a str,
    pub task: &'a Task,
}

impl Line {
    /// The ladder across all cases, oldest first: a fall-back does not break the history.
    pub fn ladder(&self) -> Vec<LadderPoint> {
        let mut points: Vec<LadderPoint> = self
            .cases
            .iter()
            .flat_map(|(_, s)| {
                s.rung_history.iter().map(|r| LadderPoint {
                    rung: r.rung,
                    at: r.at,
                    case_id: s.id.clone(),
                    pathway_key: s.pathway_key.clone(),
                    step: r.step.clone(),
                })
            })
            .collect();
        points.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.case_id.cmp(&b.case_id)));
        points
    }

    /// Everyone who acted on or was given work on any of the cases, once each, with the
    /// pathways they worked on.
    pub fn team(&self) -> Vec<(String, Vec<String>)> {
        let mut team: Vec<(String, Vec<String>)> = Vec::new();
        for (_, s) in &self.cases {
            let members = s
                .team
                .iter()
                .chain(s.tasks.values().filter_map(|t| t.assignee.as_ref()));
            for m in members.filter(|m| m.as_str() != "system") {
                match team.iter_mut().find(|(id, _)| id == m) {
                    Some((_, keys)) if !keys.contains(&s.pathway_key) => keys.push(s.pathway_key.clone()),
                    Some(_) => {}
                    None => team.push((m.clone(), vec![s.pathway_key.clone()])),
                }
            }
        }
        team
    }

    /// Open work on running cases, soonest deadline first (work without one last).
    pub fn next(&self) -> Vec<NextWork<'_>> {
        let mut work: Vec<NextWork<'_>> = self
            .cases
            .iter()
            .filter(|(_, s)| s.status == CaseStatus::Active)
            .flat_map(|(_, s)| {
                s.tasks.values().map(move |task| NextWork {
                    case_id: &s.id,
                    pathway_key: &s.pathway_key,
                    task,
                })
            })
            .collect();
        work.sort_by_key(|w| {
            (
                w.task.due.as_ref().map(|d| d.at).is_none(),
                w.task.due.as_ref().map(|d| d.at),
            )
        });
        work
    }
}

impl Engine {
    fn row(&self, input: &ResidentInput) -> Result<ResidentRow> {
        input.check(self.clock().now().date_naive())?;
        let bsn = match &input.bsn {
            Some(b) => Some(self.vault().ok_or(BsnError::NoKey)?.seal(b)?),
            None => None,
        };
        let trim = |o: &Option<String>| o.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(ResidentRow {
            given_name: input.given_name.trim().to_owned(),
            family_name: input.family_name.trim().to_owned(),
            birth_date: input.birth_date,
            email: trim(&input.email),
            phone: trim(&input.phone),
            address: trim(&input.address),
            municipality: trim(&input.municipality),
            bsn,
            words: search_words(&input.given_name, &input.family_name),
            created_by: None,
            changed_by: None,
        })
    }

    /// A resident's municipality must be one of the region's municipalities: it decides who
    /// sees their cases.
    async fn check_municipality(&self, municipality: Option<&str>) -> Result<()> {
        let Some(m) = municipality else { return Ok(()) };
        let orgs = self.store().organisations().await?;
        let municipalities: Vec<&crate::chain::Organisation> = orgs
            .iter()
            .filter(|o| o.kind == crate::chain::OrganisationKind::Gemeente)
            .collect();
        if municipalities.iter().any(|o| o.id == m) {
            return Ok(());
        }
        let known: Vec<&str> = municipalities.iter().map(|o| o.id.as_str()).collect();
        Err(EngineError::ResidentInvalid(crate::resident::ResidentProblem {
            field: "municipality",
            message: if known.is_empty() {
                format!("Gemeente ‘{m}’ is niet bekend: er zijn nog geen gemeenten vastgelegd.")
            } else {
                format!("Gemeente ‘{m}’ is niet bekend. Kies uit: {}.", known.join(", "))
            },
        }))
    }

    /// Records a new resident (by the system: a migration, the demo); a BSN needs the
    /// configured key.
    pub async fn add_resident(&self, input: &ResidentInput, now: DateTime<Utc>) -> Result<Resident> {
        self.insert_resident(input, None, now).await
    }

    /// Records a new resident registered by `by`, who finds them before any case exists.
    pub async fn add_resident_by(
        &self,
        input: &ResidentInput,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Resident> {
        self.insert_resident(input, Some(by), now).await
    }

    async fn insert_resident(
        &self,
        input: &ResidentInput,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Resident> {
        let mut row = self.row(input)?;
        self.check_municipality(row.municipality.as_deref()).await?;
        row.created_by = by.map(str::to_owned);
        let id = uuid::Uuid::now_v7().to_string();
        let resident = self.store().add_resident(&id, &row, now).await?;
        tracing::info!(resident = %resident.id, "resident added");
        Ok(resident)
    }

    /// Changes a resident's details. A BSN given replaces the stored one; none keeps it.
    pub async fn update_resident(
        &self,
        id: &str,
        input: &ResidentInput,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Resident> {
        let mut row = self.row(input)?;
        row.changed_by = Some(by.to_owned());
        self.check_municipality(row.municipality.as_deref()).await?;
        if !self.store().update_resident(id, &row, now).await? {
            return Err(EngineError::ResidentNotFound {
                resident: id.to_owned(),
            });
        }
        tracing::info!(resident = %id, "resident changed");
        self.resident(id).await
    }

    pub async fn resident(&self, id: &str) -> Result<Resident> {
        self.store()
            .resident(id)
            .await?
            .ok_or_else(|| EngineError::ResidentNotFound {
                resident: id.to_owned(),
            })
    }

    /// A resident by id or by reference (`DL-000042`).
    pub async fn resident_by_key(&self, key: &str) -> Result<Resident> {
        if let Some(reference) = crate::resident::parse_reference(key) {
            let number = reference[3..].parse::<u64>().unwrap_or_default();
            let found = self
                .store()
                .find_residents(&StoredQuery::Number(number), None, 1)
                .await?;
            return found
                .into_iter()
                .next()
                .ok_or_else(|| EngineError::ResidentNotFound {
                    resident: key.to_owned(),
                });
        }
        self.resident(key).await
    }

    /// The BSN of a resident, opened with the key; only for screens that need it.
    pub async fn resident_bsn(&self, id: &str) -> Result<Option<Bsn>> {
        let Some(sealed) = self.store().resident_bsn(id).await? else {
            return Ok(None);
        };
        Ok(Some(self.vault().ok_or(BsnError::NoKey)?.open(&sealed)?))
    }

    /// Finds residents by what someone typed; `viewer` limits them to those the user may see.
    /// Returns the query as read (for the access log's kind) and the residents.
    pub async fn find_residents(
        &self,
        text: &str,
        viewer: Option<Viewer<'_>>,
    ) -> Result<(ResidentQuery, Vec<Resident>)> {
        let query = ResidentQuery::parse(text)?;
        let stored = match &query {
            ResidentQuery::Name(words) => StoredQuery::Name(words.clone()),
            ResidentQuery::Reference(r) => StoredQuery::Number(r[3..].parse().unwrap_or_default()),
            ResidentQuery::BirthDate(d) => StoredQuery::BirthDate(*d),
            ResidentQuery::Bsn(b) => {
                StoredQuery::BsnHash(self.vault().ok_or(BsnError::NoKey)?.lookup_hash(b))
            }
        };
        let found = self.store().find_residents(&stored, viewer, SEARCH_LIMIT).await?;
        Ok((query, found))
    }

    /// A resident with every case and its state.
    pub async fn line(&self, id: &str) -> Result<Line> {
        let resident = self.resident(id).await?;
        let summaries = self.store().resident_cases(id).await?;
        let mut cases = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let state = self.load_fresh(&summary.id).await?;
            cases.push((summary, state));
        }
        Ok(Line { resident, cases })
    }
}

/// The pathway a dormant provision's re-activation starts (the way back from work).
pub const FALL_BACK_PATHWAY: &str = "simpel-switchen";
/// The pathway opened when a provision is about to end.
pub const EXPIRY_PATHWAY: &str = "voorziening-verloopt";

impl Engine {
    /// Applies the provision change a step recorded (the provision timer's work; safe to
    /// repeat).
    pub async fn apply_provision_timer(&self, case: &str, key: &str) -> Result<()> {
        let events = self.store().events(case).await?;
        let change = events.iter().find_map(|e| match &e.event.kind {
            crate::runtime::EventKind::ProvisionChanged { change } if change.key == key => {
                Some(change.clone())
            }
            _ => None,
        });
        if let Some(change) = change
            && self.store().apply_provision_change(&change).await?
        {
            tracing::info!(case = %case, kind = %change.kind, status = change.status.as_str(), "provision changed by a step");
        }
        Ok(())
    }

    /// Applies every provision change a case's steps recorded (for loaders that run cases
    /// without a scheduler; safe to repeat).
    pub async fn apply_case_provisions(&self, case: &str) -> Result<()> {
        for e in self.store().events(case).await? {
            if let crate::runtime::EventKind::ProvisionChanged { change } = &e.event.kind {
                self.store().apply_provision_change(change).await?;
            }
        }
        Ok(())
    }

    /// Records a provision change made by hand (after checking it).
    pub async fn record_provision(&self, change: &ProvisionChange) -> Result<()> {
        change.check(self.provision_kinds())?;
        self.resident(&change.resident_id).await?;
        self.store().apply_provision_change(change).await?;
        Ok(())
    }

    /// Re-activates a dormant provision in one action and starts the fall-back pathway for
    /// the resident; returns the new case's id.
    pub async fn reactivate(
        &self,
        resident: &str,
        kind: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let current = self.store().provisions(resident).await?;
        let Some(p) = current
            .iter()
            .find(|p| p.kind == kind && p.status == ProvisionStatus::Slapend)
        else {
            return Err(ProvisionProblem {
                field: "kind",
                message: "deze voorziening is niet slapend".into(),
            }
            .into());
        };
        let change = ProvisionChange {
            key: format!("heractiveren:{}", uuid::Uuid::now_v7()),
            resident_id: resident.to_owned(),
            kind: p.kind.clone(),
            status: ProvisionStatus::Actief,
            start_date: None,
            end_date: None,
            dormant_until: None,
            decision_date: Some(now.date_naive()),
            decision_ref: None,
            by: actor.to_owned(),
            case_id: None,
            at: now,
        };
        self.store().apply_provision_change(&change).await?;
        let out = self
            .start_case(FALL_BACK_PATHWAY, None, actor, resident, Default::default(), now)
            .await?;
        tracing::info!(resident = %resident, kind = %kind, case = %out.state.id, "dormant provision re-activated");
        Ok(out.state.id)
    }

    /// Opens a case on [`EXPIRY_PATHWAY`] for every active or dormant provision ending
    /// within the notice term (`residents.expiry_notice_weeks`); returns how many. Without that pathway published, nothing.
    pub async fn open_expiry_work(&self, now: DateTime<Utc>) -> Result<usize> {
        if self.pathway(EXPIRY_PATHWAY, None).await.is_err() {
            return Ok(0);
        }
        let notice = |kind: Option<&crate::resident::provision::ProvisionKind>| {
            kind.and_then(|k| k.notice_weeks)
                .map_or(self.expiry_notice(), |w| chrono::Duration::weeks(i64::from(w)))
        };
        let longest = self
            .provision_kinds()
            .iter()
            .map(|k| notice(Some(k)))
            .fold(self.expiry_notice(), std::cmp::max);
        let today = now.date_naive();
        let ending = self.store().provisions_ending(today + longest, 100).await?;
        let mut opened = 0;
        for p in ending {
            let kind = self.provision_kinds().iter().find(|k| k.key == p.kind);
            if p.end_date.is_some_and(|end| end > today + notice(kind)) {
                continue;
            }
            let variables = std::collections::BTreeMap::from([
                ("voorziening".to_owned(), serde_json::json!(p.kind)),
                (
                    "voorziening_naam".to_owned(),
                    serde_json::json!(kind.map(|k| k.label.clone()).unwrap_or_else(|| p.kind.clone())),
                ),
                (
                    "rol".to_owned(),
                    serde_json::json!(
                        kind.map(|k| k.role.clone())
                            .unwrap_or_else(|| "klantmanager".into())
                    ),
                ),
                (
                    "einddatum".to_owned(),
                    serde_json::json!(p.end_date.map(|d| d.format("%Y-%m-%d").to_string())),
                ),
            ]);
            let id = uuid::Uuid::now_v7().to_string();
            if !self
                .store()
                .claim_expiry_case(&p.resident_id, &p.kind, &id)
                .await?
            {
                continue;
            }
            self.start_with(
                &id,
                EXPIRY_PATHWAY,
                None,
                "system",
                &p.resident_id,
                None,
                None,
                variables,
                now,
            )
            .await?;
            opened += 1;
        }
        Ok(opened)
    }
}
