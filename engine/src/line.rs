//! The resident's line: adding, changing and finding residents, and everything about one
//! person across their cases (timeline, ladder history, the people who work with them, what
//! happens next).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{Engine, EngineError, Result};
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
            for m in members {
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
        })
    }

    /// Records a new resident; a BSN needs the configured key.
    pub async fn add_resident(&self, input: &ResidentInput, now: DateTime<Utc>) -> Result<Resident> {
        let row = self.row(input)?;
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
        now: DateTime<Utc>,
    ) -> Result<Resident> {
        let row = self.row(input)?;
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
