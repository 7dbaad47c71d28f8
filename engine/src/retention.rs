//! Retention: what is held about a resident is kept for its term after their case ends (the
//! Archiefwet selection list's term, set per pathway) and then removed — the case whole, its
//! events, tasks, messages and grounds, and the resident's record once nothing of theirs is
//! left. A legal hold stops it for one resident. The figures stay as they were: they are
//! kept in aggregate tables that removal does not touch. Every removal is logged with ids
//! and counts, never a value from the records.

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::store::{EndedCase, Hold, Removed, RetentionEntry};

/// The installation's retention settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The term, in years after a case ends, of a pathway that sets none; also how long a
    /// resident's record without cases is kept after its last change.
    pub default_years: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { default_years: 10 }
    }
}

/// How many cases one store call handles at most.
const BATCH: u32 = 200;
/// How far a dry run counts.
const DRY_RUN_LIMIT: u32 = 10_000_000;

/// The moment `years` before `now`: what ended before it is past its term.
pub fn cutoff(now: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A pathway's term and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub pathway_key: String,
    pub pathway_name: String,
    pub years: u32,
    /// The pathway's own basis, or `None` when the installation's default applies.
    pub basis: Option<String>,
    pub default: bool,
}

/// What a run removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub terms: Vec<Term>,
    /// Cases past their term, per pathway key.
    pub cases: Vec<(String, usize)>,
    pub events: u64,
    pub tasks: u64,
    pub messages: u64,
    pub residents: usize,
}

impl Report {
    pub fn case_count(&self) -> usize {
        self.cases.iter().map(|(_, n)| n).sum()
    }
}

/// The term of every published pathway (its latest version's `retention`, else the default).
pub async fn terms(engine: &Engine, policy: Policy) -> Result<Vec<Term>, EngineError> {
    let mut terms = Vec::new();
    for (key, name) in engine.store().pathway_keys().await? {
        let pv = engine.pathway(&key, None).await?;
        let own = pv.pathway.retention.as_ref();
        terms.push(Term {
            pathway_key: key,
            pathway_name: name,
            years: own.map_or(policy.default_years, |r| r.years),
            basis: own.and_then(|r| r.basis.clone()),
            default: own.is_none(),
        });
    }
    Ok(terms)
}

/// Removes (or, `dry_run`, counts) everything past its term at `now`; `by` is who ran it
/// (`systeem` for the worker).
pub async fn run(
    engine: &Engine,
    policy: Policy,
    now: DateTime<Utc>,
    by: &str,
    dry_run: bool,
) -> Result<Report, EngineError> {
    let store = engine.store();
    let mut report = Report {
        dry_run,
        terms: terms(engine, policy).await?,
        ..Report::default()
    };
    for term in report.terms.clone() {
        let before = cutoff(now, term.years);
        let mut count = 0;
        if dry_run {
            count = count_ended(engine, &term.pathway_key, before).await?;
        } else {
            loop {
                let batch = store.ended_before(&term.pathway_key, before, BATCH).await?;
                let mut progressed = false;
                for case in &batch {
                    let entry = case_entry(case, &term, now, by);
                    if let Some(removed) = store.remove_case(&case.case_id, before, &entry).await? {
                        engine.forget(&case.case_id);
                        tracing::info!(case = %case.case_id, pathway = %term.pathway_key,
                            events = removed.events, "retention: case removed");
                        add(&mut report, removed);
                        count += 1;
                        progressed = true;
                    }
                }
                if batch.len() < BATCH as usize || !progressed {
                    break;
                }
            }
        }
        if count > 0 {
            report.cases.push((term.pathway_key.clone(), count));
        }
    }
    let before = cutoff(now, policy.default_years);
    loop {
        if dry_run {
            // Residents already without cases; more follow once their cases are removed.
            report.residents = store.residents_to_remove(before, DRY_RUN_LIMIT).await?.len();
            break;
        }
        let batch = store.residents_to_remove(before, BATCH).await?;
        let mut progressed = false;
        for resident in &batch {
            let entry = RetentionEntry {
                id: uuid::Uuid::now_v7().to_string(),
                at: now,
                action: "inwoner-verwijderd".into(),
                case_id: None,
                resident_id: Some(resident.clone()),
                pathway_key: None,
                ended_at: None,
                term_years: Some(policy.default_years),
                by: by.to_owned(),
                detail: None,
            };
            if store.remove_resident(resident, before, &entry).await? {
                tracing::info!(resident = %resident, "retention: resident's record removed");
                report.residents += 1;
                progressed = true;
            }
        }
        if batch.len() < BATCH as usize || !progressed {
            break;
        }
    }
    if !dry_run {
        tracing::info!(
            cases = report.case_count(),
            residents = report.residents,
            "retention run finished"
        );
    }
    Ok(report)
}

async fn count_ended(engine: &Engine, key: &str, before: DateTime<Utc>) -> Result<usize, EngineError> {
    Ok(engine
        .store()
        .ended_before(key, before, DRY_RUN_LIMIT)
        .await?
        .len())
}

fn add(report: &mut Report, removed: Removed) {
    report.events += removed.events;
    report.tasks += removed.tasks;
    report.messages += removed.messages;
}

fn case_entry(case: &EndedCase, term: &Term, now: DateTime<Utc>, by: &str) -> RetentionEntry {
    RetentionEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: now,
        action: "zaak-verwijderd".into(),
        case_id: Some(case.case_id.clone()),
        resident_id: case.resident_id.clone(),
        pathway_key: Some(case.pathway_key.clone()),
        ended_at: Some(case.ended_at),
        term_years: Some(term.years),
        by: by.to_owned(),
        detail: None,
    }
}

/// Puts a legal hold on a resident: nothing of theirs is removed until it is released.
/// `false` when they were already held.
pub async fn hold(
    engine: &Engine,
    resident_id: &str,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let hold = Hold {
        resident_id: resident_id.to_owned(),
        reason: reason.to_owned(),
        by: by.to_owned(),
        since: now,
    };
    let entry = hold_entry(resident_id, "bewaarplicht-aan", by, now);
    Ok(engine.store().set_hold(&hold, &entry).await?)
}

/// Releases a resident's legal hold; `false` when there was none.
pub async fn release(
    engine: &Engine,
    resident_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let entry = hold_entry(resident_id, "bewaarplicht-uit", by, now);
    Ok(engine.store().release_hold(resident_id, &entry).await?)
}

fn hold_entry(resident_id: &str, action: &str, by: &str, now: DateTime<Utc>) -> RetentionEntry {
    RetentionEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: now,
        action: action.to_owned(),
        case_id: None,
        resident_id: Some(resident_id.to_owned()),
        pathway_key: None,
        ended_at: None,
        term_years: None,
        by: by.to_owned(),
        // The hold's reason stays in the hold itself: it may name a person or a court case.
        detail: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_cutoff_counts_calendar_years_back() {
        let now = Utc
            .with_ymd_and_hms(2036, 3, 1, 12, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            cutoff(now, 10),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
                .single()
                .unwrap_or_default()
        );
        // 29 February back to a year without one ends on the 28th, not in March.
        let leap = Utc
            .with_ymd_and_hms(2028, 2, 29, 0, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            cutoff(leap, 1),
            Utc.with_ymd_and_hms(2027, 2, 28, 0, 0, 0)
                .single()
                .unwrap_or_default()
        );
        assert_eq!(cutoff(now, u32::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
