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
