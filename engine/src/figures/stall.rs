//! The stall queue: open stall flags grouped by reason, outside party and step, with how
//! many cases wait there and for how long. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::StallRow;

/// One line of the queue view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueLine {
    pub reason: String,
    pub party: Option<String>,
    pub step: Option<String>,
    pub cases: usize,
    pub median_days: i64,
    pub oldest_days: i64,
}

/// (reason, party, step)
type GroupKey<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// Groups open stalls; the longest queues first, then the oldest.
pub fn queue(stalls: &[StallRow], now: DateTime<Utc>) -> Vec<QueueLine> {
    let mut groups: BTreeMap<GroupKey<'_>, Vec<i64>> = BTreeMap::new();
    for s in stalls {
        let days = (now - s.since).num_days().max(0);
        groups
            .entry((s.reason.as_str(), s.party.as_deref(), s.step.as_deref()))
            .or_default()
            .push(days);
    }
    let mut lines: Vec<QueueLine> = groups
        .into_iter()
        .map(|((reason, party, step), mut days)| {
            days.sort_unstable();
            QueueLine {
                reason: reason.to_owned(),
                party: party.map(str::to_owned),
                step: step.map(str::to_owned),
                cases: days.len(),
                median_days: median(&days),
                oldest_days: days.last().copied().unwrap_or(0),
            }
        })
        .collect();
    lines.sort_by(|a, b| b.cases.cmp(&a.cases).then(b.oldest_days.cmp(&a.oldest_days)));
    lines
}

fn median(sorted: &[i64]) -> i64 {
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Where an open task stands against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    OnTrack,
    AtRisk,
    Overdue,
}

impl Risk {
    pub fn as_str(&self) -> &'static str {
        match self {
            Risk::OnTrack => "on track",
            Risk::AtRisk => "at risk",
            Risk::Overdue => "overdue",
        }
    }
}

/// Fewer finished tasks than this and the history is not trusted.
pub const MIN_HISTORY: usize = 5;
/// Without history: at risk when less than this share of the term is left.
pub const FALLBACK_SHARE: f64 = 0.2;

/// The 80th percentile of durations (seconds), if there are enough of them.
pub fn p80(durations: &mut [i64]) -> Option<i64> {
    if durations.len() < MIN_HISTORY {
        return None;
    }
    durations.sort_unstable();
    let idx = ((durations.len() as f64) * 0.8).ceil() as usize;
    durations.get(idx.saturating_sub(1)).copied()
}

/// On track, at risk or overdue. With history, a task is at risk when a typical slow case
/// (p80 of the time spent in this step) would finish after the deadline; without it, when
/// less than a fifth of the term is left.
pub fn risk(
    opened_at: DateTime<Utc>,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    p80_seconds: Option<i64>,
) -> Risk {
    if now > due {
        return Risk::Overdue;
    }
    let at_risk = match p80_seconds {
        Some(p80) => opened_at + chrono::Duration::seconds(p80) > due,
        None => {
            let term = (due - opened_at).num_seconds().max(1) as f64;
            ((due - now).num_seconds() as f64) < term * FALLBACK_SHARE
        }
    };
    if at_risk { Risk::AtRisk } else { Risk::OnTrack }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn row(reason: &str, party: &str, step: &str, days_ago: i64, now: DateTime<Utc>) -> StallRow {
        StallRow {
            case_id: format!("c{days_ago}"),
            pathway_key: "p".into(),
            reason: reason.into(),
            step: Some(step.into()),
            party: Some(party.into()),
            since: now - Duration::days(days_ago),
        }
    }

    #[test]
    fn risk_uses_history_or_falls_back() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let due = t0 + Duration::days(42);
        // Day 10 of 42, but in this step the slow cases take 50 days: at risk already.
        assert_eq!(
            risk(t0, due, t0 + Duration::days(10), Some(50 * 86_400)),
            Risk::AtRisk
        );
        // Slow cases take 20 days: on track.
        assert_eq!(
            risk(t0, due, t0 + Duration::days(10), Some(20 * 86_400)),
            Risk::OnTrack
        );
        // No history: at risk in the last fifth of the term.
        assert_eq!(risk(t0, due, t0 + Duration::days(30), None), Risk::OnTrack);
        assert_eq!(risk(t0, due, t0 + Duration::days(35), None), Risk::AtRisk);
        assert_eq!(risk(t0, due, t0 + Duration::days(43), None), Risk::Overdue);
        assert_eq!(p80(&mut [1, 2, 3, 4]), None);
        assert_eq!(p80(&mut [5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), Some(8));
    }

    #[test]
    fn groups_count_median_and_oldest() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let rows = vec![
            row("uwv", "UWV verzekeringsarts", "wacht_herbeoordeling", 30, now),
            row("uwv", "UWV verzekeringsarts", "wacht_herbeoordeling", 41, now),
            row("uwv", "UWV verzekeringsarts", "wacht_herbeoordeling", 97, now),
            row("wmo_besluit", "Gemeente", "wmo_beschikking", 20, now),
        ];
        let q = queue(&rows, now);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].cases, 3);
        assert_eq!(q[0].median_days, 41);
        assert_eq!(q[0].oldest_days, 97);
        assert_eq!(q[1].reason, "wmo_besluit");
        assert_eq!(median(&[1, 3]), 2);
    }
}
