//! Steps across versions: which step of the latest version an old version's step became, so
//! that figures follow a renamed or moved step instead of showing it empty. A coordinator's
//! mapping, recorded when cases moved to a newer version, is followed first; otherwise a step
//! keeps its id.

use std::collections::BTreeMap;

use crate::pathway::model::PathwayVersion;
use crate::store::{FunnelCell, StepTime};

/// The recorded moves of one pathway's steps: (version, step) → (newer version, step).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    links: BTreeMap<(u32, String), (u32, String)>,
}

impl Lineage {
    pub fn new(links: impl IntoIterator<Item = (u32, String, u32, String)>) -> Lineage {
        Lineage {
            links: links
                .into_iter()
                .filter(|(from, _, to, _)| to > from)
                .map(|(fv, fs, tv, ts)| ((fv, fs), (tv, ts)))
                .collect(),
        }
    }

    /// The step of `latest` that `step` of `version` became, if it has one.
    pub fn current(&self, latest: &PathwayVersion, version: u32, step: &str) -> Option<String> {
        let mut at = (version, step.to_owned());
        // Versions only go up, so this ends; the bound keeps a corrupt table harmless.
        for _ in 0..self.links.len() + 1 {
            match self.links.get(&at) {
                Some(next) if at.0 < latest.version => at = next.clone(),
                _ => break,
            }
        }
        latest.step(&at.1).map(|s| s.id.clone())
    }

    /// The step of `latest` that a step id of any version became (for figures kept by step
    /// id alone, like the funnel): the id itself when `latest` has it, else the oldest
    /// recorded move of that id.
    pub fn current_any(&self, latest: &PathwayVersion, step: &str) -> Option<String> {
        if latest.step(step).is_some() {
            return Some(step.to_owned());
        }
        let oldest = self.links.keys().find(|(_, s)| s == step)?;
        self.current(latest, oldest.0, step)
    }
}

/// Time spent per step over every version, as steps of `latest`; time on steps that have no
/// place in it is left out and counted (the second value).
pub fn step_times_in(
    latest: &PathwayVersion,
    lineage: &Lineage,
    rows: &[(u32, StepTime)],
) -> (Vec<StepTime>, i64) {
    let mut merged: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut lost = 0;
    for (version, t) in rows {
        match lineage.current(latest, *version, &t.step) {
            Some(step) => *merged.entry((step, t.hours)).or_default() += t.count,
            None => lost += t.count,
        }
    }
    let times = merged
        .into_iter()
        .map(|((step, hours), count)| StepTime { step, hours, count })
        .collect();
    (times, lost)
}

/// Open work of every version, as steps of `latest`.
pub fn open_work_in(
    latest: &PathwayVersion,
    lineage: &Lineage,
    rows: &[(u32, String, i64)],
) -> BTreeMap<String, i64> {
    let mut open = BTreeMap::new();
    for (version, step, n) in rows {
        if let Some(step) = lineage.current(latest, *version, step) {
            *open.entry(step).or_default() += n;
        }
    }
    open
}

/// Funnel cells (kept by step id) as steps of `latest`.
pub fn funnel_in(latest: &PathwayVersion, lineage: &Lineage, cells: &[FunnelCell]) -> Vec<FunnelCell> {
    let mut merged: BTreeMap<(String, String), i64> = BTreeMap::new();
    for c in cells {
        if let Some(step) = lineage.current_any(latest, &c.step) {
            *merged.entry((c.cohort.clone(), step)).or_default() += c.cases;
        }
    }
    merged
        .into_iter()
        .map(|((cohort, step), cases)| FunnelCell { cohort, step, cases })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pathway::definition::from_yaml;

    fn version(v: u32, intake: &str) -> PathwayVersion {
        let yaml = format!(
            "key: p\nname: P\nsteps:\n  - {{id: start, kind: start, next: {intake}}}\n  - {{id: {intake}, kind: task, name: Intake, next: besluit}}\n  - {{id: besluit, kind: task, next: einde}}\n  - {{id: einde, kind: end, outcome: gestopt}}\n"
        );
        let pathway = from_yaml(&yaml)
            .map(|l| l.pathway)
            .unwrap_or_else(|e| panic!("{e}"));
        PathwayVersion { version: v, pathway }
    }

    #[test]
    fn figures_follow_a_renamed_step_into_the_latest_version() {
        let v3 = version(3, "kennismaking");
        // v1 → v2 kept `intake`; v2 → v3 renamed it, as the coordinator mapped it.
        let lineage = Lineage::new([(2, "intake".to_owned(), 3, "kennismaking".to_owned())]);
        assert_eq!(
            lineage.current(&v3, 1, "intake"),
            None,
            "no move recorded from v1"
        );
        assert_eq!(lineage.current(&v3, 2, "intake").as_deref(), Some("kennismaking"));
        assert_eq!(lineage.current(&v3, 1, "besluit").as_deref(), Some("besluit"));
        assert_eq!(
            lineage.current_any(&v3, "intake").as_deref(),
            Some("kennismaking")
        );
        assert_eq!(lineage.current_any(&v3, "weg"), None);

        let t = |step: &str, hours, count| StepTime {
            step: step.into(),
            hours,
            count,
        };
        let (times, lost) = step_times_in(
            &v3,
            &lineage,
            &[
                (2, t("intake", 24, 3)),
                (3, t("kennismaking", 24, 2)),
                (1, t("intake", 48, 4)),
                (2, t("besluit", 5, 1)),
            ],
        );
        assert_eq!(times, vec![t("besluit", 5, 1), t("kennismaking", 24, 5)]);
        assert_eq!(lost, 4, "v1's intake had no recorded move");
        let open = open_work_in(
            &v3,
            &lineage,
            &[(2, "intake".into(), 2), (3, "kennismaking".into(), 1)],
        );
        assert_eq!(open.get("kennismaking"), Some(&3));
        let cell = |step: &str, cases| FunnelCell {
            cohort: "2026-01".into(),
            step: step.into(),
            cases,
        };
        assert_eq!(
            funnel_in(&v3, &lineage, &[cell("intake", 4), cell("kennismaking", 2)]),
            vec![cell("kennismaking", 6)]
        );
    }
}
