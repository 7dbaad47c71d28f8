//! The figures managers read, computed from what the store keeps (pure): percentiles of
//! time spent per step, open stalls grouped by reason and party, ladder movement, outflow
//! by outcome, and the cohort funnel. Small cells can be suppressed: in cohorts of about
//! fifty, a count of one to four can identify a resident.

pub mod diff;
pub mod lineage;
pub mod stall;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{CaseGroup, FunnelCell, StallSummary, StepTime};

/// Counts from 1 up to this are shown as "<5" when suppression is on.
pub const SMALL_CELL: i64 = 4;

/// Outcomes that count as work.
pub const WORK_OUTCOMES: &[&str] = &["betaald_werk", "beschut_werk"];

/// A count as shown: itself, or hidden because it is small.
pub fn cell(count: i64, suppress: bool) -> String {
    if suppress && (1..=SMALL_CELL).contains(&count) {
        format!("<{}", SMALL_CELL + 1)
    } else {
        count.to_string()
    }
}

#[cfg(test)]
mod small_number_tests {
    use super::*;

    #[test]
    fn shares_do_not_give_small_counts_away() {
        assert_eq!(share(1, 12, true), "–", "1 of 12");
        assert_eq!(share(11, 12, true), "–", "the one who did not");
        assert_eq!(share(6, 12, true), "50%");
        assert_eq!(share(1, 12, false), "8%");
        assert_eq!(share(0, 12, true), "0%");
        assert_eq!(share(3, 0, false), "–");
    }

    #[test]
    fn one_hidden_cell_hides_the_next_smallest_too() {
        assert_eq!(cells_of_group(&[20, 3, 9, 0], true), ["20", "<5", "×", "0"]);
        assert_eq!(cells_of_group(&[20, 3, 2, 9], true), ["20", "<5", "<5", "9"]);
        assert_eq!(cells_of_group(&[20, 3, 9], false), ["20", "3", "9"]);
        assert_eq!(cells_of_group(&[20, 9], true), ["20", "9"]);
    }
}

/// `part` as a rounded percentage of `whole`, or "–" when it would give a hidden count away:
/// with suppression on, a share is hidden when the part, the rest or the whole is small
/// (1 of 12 is 8 %, 11 of 12 is 92 %: both name one person).
pub fn share(part: i64, whole: i64, suppress: bool) -> String {
    let small = |n: i64| (1..=SMALL_CELL).contains(&n);
    if whole <= 0 || (suppress && (small(part) || small(whole) || small(whole - part))) {
        return "–".to_owned();
    }
    format!("{}%", (part * 100 + whole / 2) / whole)
}

/// Cells of a group whose total is shown elsewhere, as shown: small counts hidden, and when
/// exactly one is hidden, also the smallest other non-zero one, so that the hidden count
/// cannot be found by subtracting the others from the total.
pub fn cells_of_group(counts: &[i64], suppress: bool) -> Vec<String> {
    let small = |n: i64| (1..=SMALL_CELL).contains(&n);
    let primary: Vec<bool> = counts.iter().map(|n| suppress && small(*n)).collect();
    let secondary = if primary.iter().filter(|h| **h).count() == 1 {
        counts
            .iter()
            .enumerate()
            .filter(|(i, n)| !primary[*i] && **n > 0)
            .min_by_key(|(_, n)| **n)
            .map(|(i, _)| i)
    } else {
        None
    };
    counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if Some(i) == secondary {
                HIDDEN.to_owned()
            } else {
                cell(*n, primary[i])
            }
        })
        .collect()
}

/// How a count hidden only to protect a small one next to it is shown.
pub const HIDDEN: &str = "×";

/// Median and 90th percentile (nearest rank) of a histogram of hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub count: i64,
    pub median_hours: i64,
    pub p90_hours: i64,
}

/// The value at rank `ceil(q × n)` of a histogram sorted by hours.
fn rank(sorted: &[(i64, i64)], n: i64, q: f64) -> i64 {
    let want = ((q * n as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (hours, count) in sorted {
        seen += count;
        if seen >= want {
            return *hours;
        }
    }
    sorted.last().map_or(0, |(h, _)| *h)
}

/// Median and p90 of (hours, count) pairs; `None` when there are none.
pub fn spread(histogram: &[(i64, i64)]) -> Option<Spread> {
    let mut sorted: Vec<(i64, i64)> = histogram.iter().copied().filter(|(_, c)| *c > 0).collect();
    sorted.sort_unstable();
    let n: i64 = sorted.iter().map(|(_, c)| c).sum();
    (n > 0).then(|| Spread {
        count: n,
        median_hours: rank(&sorted, n, 0.5),
        p90_hours: rank(&sorted, n, 0.9),
    })
}

/// Spread per step.
pub fn spreads_by_step(times: &[StepTime]) -> BTreeMap<String, Spread> {
    let mut by_step: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for t in times {
        by_step.entry(&t.step).or_default().push((t.hours, t.count));
    }
    by_step
        .into_iter()
        .filter_map(|(step, h)| spread(&h).map(|s| (step.to_owned(), s)))
        .collect()
}

/// "3 uur", "1 dag", "12 dagen".
pub fn duration_nl(hours: i64) -> String {
    if hours < 48 {
        format!("{hours} uur")
    } else {
        let days = hours / 24;
        format!("{days} dagen")
    }
}

/// Open stalls of one reason (and party).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StallGroup {
    pub reason: String,
    pub party: Option<String>,
    pub count: i64,
    pub median_days: i64,
    pub oldest_days: i64,
    pub oldest_since: DateTime<Utc>,
}

fn group(s: &StallSummary, now: DateTime<Utc>) -> StallGroup {
    StallGroup {
        reason: s.reason.clone(),
        party: s.party.clone(),
        count: s.count,
        median_days: (now - s.median_since).num_days().max(0),
        oldest_days: (now - s.oldest_since).num_days().max(0),
        oldest_since: s.oldest_since,
    }
}

/// Open stalls by reason, each with its parties, the longest waits first.
pub fn stall_groups(
    by_reason: &[StallSummary],
    by_party: &[StallSummary],
    now: DateTime<Utc>,
) -> Vec<(StallGroup, Vec<StallGroup>)> {
    let mut out: Vec<(StallGroup, Vec<StallGroup>)> = by_reason
        .iter()
        .map(|total| {
            let mut parts: Vec<StallGroup> = by_party
                .iter()
                .filter(|p| p.reason == total.reason)
                .map(|p| group(p, now))
                .collect();
            parts.sort_by(|a, b| b.oldest_days.cmp(&a.oldest_days).then(b.count.cmp(&a.count)));
            (group(total, now), parts)
        })
        .collect();
    out.sort_by(|a, b| {
        b.0.oldest_days
            .cmp(&a.0.oldest_days)
            .then(b.0.count.cmp(&a.0.count))
    });
    out
}

/// What the outcome screen shows for the cases of one pathway that started in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Cases started in the period.
    pub participants: i64,
    /// Of those, with a first and a latest ladder rung.
    pub measured: i64,
    /// Moved up at least one rung.
    pub stepped_up: i64,
    pub stepped_down: i64,
    /// Ended with paid or sheltered work.
    pub to_work: i64,
    pub still_running: i64,
    /// (first rung, latest rung) → cases.
    pub ladder: BTreeMap<(u8, u8), i64>,
    /// Outcome → cases of the cohort, for those that ended (`ingetrokken` for withdrawn).
    pub by_outcome: BTreeMap<String, i64>,
    /// End month → outcome → cases that ended in that month (any start).
    pub outflow: BTreeMap<String, BTreeMap<String, i64>>,
}

fn outcome_of(g: &CaseGroup) -> Option<String> {
    match g.status.as_str() {
        "ended" => Some(g.outcome.clone().unwrap_or_else(|| "gestopt".into())),
        "withdrawn" => Some("ingetrokken".into()),
        _ => None,
    }
}

/// The figures for starts in `from..=to` (months `YYYY-MM`), and the outflow that ended
/// in those months.
pub fn outcomes(groups: &[CaseGroup], from: &str, to: &str) -> Outcomes {
    let mut o = Outcomes::default();
    let within = |m: &str| m >= from && m <= to;
    for g in groups {
        if let (Some(ended), Some(outcome)) = (&g.ended, outcome_of(g))
            && within(ended)
        {
            *o.outflow
                .entry(ended.clone())
                .or_default()
                .entry(outcome)
                .or_default() += g.count;
        }
        if !within(&g.started) {
            continue;
        }
        o.participants += g.count;
        match outcome_of(g) {
            Some(outcome) => {
                if WORK_OUTCOMES.contains(&outcome.as_str()) {
                    o.to_work += g.count;
                }
                *o.by_outcome.entry(outcome).or_default() += g.count;
            }
            None => o.still_running += g.count,
        }
        if let (Some(first), Some(last)) = (g.rung_first, g.rung_last) {
            o.measured += g.count;
            *o.ladder.entry((first, last)).or_default() += g.count;
            if last > first {
                o.stepped_up += g.count;
            } else if last < first {
                o.stepped_down += g.count;
            }
        }
    }
    o
}

/// The funnel: per step (in the order given), cases of each start month that reached it,
/// next to the number that started that month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    pub cohorts: Vec<String>,
    /// Started cases per cohort, aligned with `cohorts`.
    pub started: Vec<i64>,
    /// (step, counts aligned with `cohorts`).
    pub steps: Vec<(String, Vec<i64>)>,
}

pub fn funnel(cells: &[FunnelCell], groups: &[CaseGroup], from: &str, to: &str, steps: &[String]) -> Funnel {
    let mut started: BTreeMap<&str, i64> = BTreeMap::new();
    for g in groups
        .iter()
        .filter(|g| g.started.as_str() >= from && g.started.as_str() <= to)
    {
        *started.entry(&g.started).or_default() += g.count;
    }
    let cohorts: Vec<String> = started.keys().map(|c| (*c).to_owned()).collect();
    let reached: BTreeMap<(&str, &str), i64> = cells
        .iter()
        .map(|c| ((c.step.as_str(), c.cohort.as_str()), c.cases))
        .collect();
    Funnel {
        started: cohorts.iter().map(|c| started[c.as_str()]).collect(),
        steps: steps
            .iter()
            .map(|s| {
                let counts = cohorts
                    .iter()
                    .map(|c| reached.get(&(s.as_str(), c.as_str())).copied().unwrap_or(0))
                    .collect();
                (s.clone(), counts)
            })
            .collect(),
        cohorts,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(spread(&[]), None);
        let one = spread(&[(48, 1)]).unwrap();
        assert_eq!((one.median_hours, one.p90_hours), (48, 48));
        // 1..=10 days, one each: median the 5th, p90 the 9th.
        let h: Vec<(i64, i64)> = (1..=10).map(|d| (d * 24, 1)).collect();
        let s = spread(&h).unwrap();
        assert_eq!((s.count, s.median_hours, s.p90_hours), (10, 5 * 24, 9 * 24));
        // Order and zero counts do not matter.
        let s2 = spread(&[(240, 1), (24, 0), (72, 3)]).unwrap();
        assert_eq!((s2.count, s2.median_hours, s2.p90_hours), (4, 72, 240));
        assert_eq!(duration_nl(5), "5 uur");
        assert_eq!(duration_nl(24 * 12), "12 dagen");
    }

    #[test]
    fn small_cells_are_hidden_on_request() {
        assert_eq!(cell(0, true), "0");
        assert_eq!(cell(3, true), "<5");
        assert_eq!(cell(5, true), "5");
        assert_eq!(cell(3, false), "3");
    }

    #[test]
    fn stalls_group_by_reason_then_party() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let ago = |d: i64| now - Duration::days(d);
        let sum = |reason: &str, party: Option<&str>, count: i64, oldest: i64, median: i64| StallSummary {
            reason: reason.into(),
            party: party.map(str::to_owned),
            count,
            oldest_since: ago(oldest),
            median_since: ago(median),
        };
        let by_reason = vec![sum("wmo_besluit", None, 1, 20, 20), sum("uwv", None, 3, 100, 30)];
        let by_party = vec![
            sum("uwv", Some("UWV arbeidsdeskundige"), 1, 10, 10),
            sum("uwv", Some("UWV verzekeringsarts"), 2, 100, 100),
            sum("wmo_besluit", None, 1, 20, 20),
        ];
        let groups = stall_groups(&by_reason, &by_party, now);
        assert_eq!(groups.len(), 2);
        let (uwv, parties) = &groups[0];
        assert_eq!(
            (uwv.reason.as_str(), uwv.count, uwv.median_days, uwv.oldest_days),
            ("uwv", 3, 30, 100)
        );
        assert_eq!(parties[0].party.as_deref(), Some("UWV verzekeringsarts"));
        assert_eq!((parties[0].count, parties[0].median_days), (2, 100));
        assert_eq!(groups[1].0.reason, "wmo_besluit");
        assert_eq!(groups[1].1.len(), 1);
    }

    fn g(
        started: &str,
        status: &str,
        outcome: Option<&str>,
        ended: Option<&str>,
        rungs: (Option<u8>, Option<u8>),
        n: i64,
    ) -> CaseGroup {
        CaseGroup {
            pathway_key: "p".into(),
            started: started.into(),
            status: status.into(),
            outcome: outcome.map(str::to_owned),
            ended: ended.map(str::to_owned),
            rung_first: rungs.0,
            rung_last: rungs.1,
            count: n,
            municipality: "Oss".into(),
        }
    }

    #[test]
    fn the_oss_pilot_figures_come_out() {
        // 53 participants, 38 a rung up, 12 to work (Oss, domain.md §5).
        let groups = vec![
            g(
                "2018-03",
                "ended",
                Some("betaald_werk"),
                Some("2019-06"),
                (Some(2), Some(6)),
                5,
            ),
            g(
                "2018-04",
                "ended",
                Some("beschut_werk"),
                Some("2019-09"),
                (Some(2), Some(5)),
                7,
            ),
            g("2018-05", "active", None, None, (Some(1), Some(3)), 26),
            g(
                "2018-05",
                "ended",
                Some("dagbesteding"),
                Some("2019-11"),
                (Some(3), Some(3)),
                10,
            ),
            g(
                "2018-06",
                "withdrawn",
                None,
                Some("2019-02"),
                (Some(2), Some(1)),
                3,
            ),
            g("2018-06", "active", None, None, (None, None), 2),
            // Outside the period.
            g("2021-01", "active", None, None, (Some(1), Some(2)), 9),
        ];
        let o = outcomes(&groups, "2018-01", "2019-12");
        assert_eq!(o.participants, 53);
        assert_eq!(o.stepped_up, 38);
        assert_eq!(o.to_work, 12);
        assert_eq!((o.measured, o.stepped_down, o.still_running), (51, 3, 28));
        assert_eq!(o.ladder[&(2, 6)], 5);
        assert_eq!(o.by_outcome["ingetrokken"], 3);
        assert_eq!(o.outflow["2019-09"]["beschut_werk"], 7);
        assert!(!o.outflow.contains_key("2021-01"));
    }

    #[test]
    fn the_funnel_counts_per_cohort_in_step_order() {
        let groups = vec![
            g("2026-01", "active", None, None, (None, None), 4),
            g("2026-02", "active", None, None, (None, None), 2),
        ];
        let cells = vec![
            FunnelCell {
                cohort: "2026-01".into(),
                step: "intake".into(),
                cases: 3,
            },
            FunnelCell {
                cohort: "2026-01".into(),
                step: "signaal".into(),
                cases: 4,
            },
            FunnelCell {
                cohort: "2026-02".into(),
                step: "signaal".into(),
                cases: 2,
            },
        ];
        let steps = vec!["signaal".to_owned(), "intake".to_owned(), "nazorg".to_owned()];
        let f = funnel(&cells, &groups, "2026-01", "2026-12", &steps);
        assert_eq!(f.cohorts, ["2026-01", "2026-02"]);
        assert_eq!(f.started, [4, 2]);
        assert_eq!(
            f.steps,
            vec![
                ("signaal".to_owned(), vec![4, 2]),
                ("intake".to_owned(), vec![3, 0]),
                ("nazorg".to_owned(), vec![0, 0])
            ]
        );
    }
}
