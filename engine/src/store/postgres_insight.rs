//! The stall summary on PostgreSQL: both groupings and their medians in one pass
//! (GROUPING SETS, percentile_disc).

use sqlx::Row;

use super::insight::{StallSummaries, StallSummary};
use super::postgres::PostgresStore;
use super::{OrgFilter, Result};

/// Open stalls grouped by reason and by reason and party.
pub(super) async fn stall_summary(
    store: &PostgresStore,
    key: Option<&str>,
    org: Option<&OrgFilter>,
) -> Result<StallSummaries> {
    // One pass for both groupings; GROUPING(party) = 1 marks the totals per reason.
    let rows = sqlx::query(&format!(
        "SELECT reason, party, GROUPING(party) = 1, count(*), min(since),
                percentile_disc(0.5) WITHIN GROUP (ORDER BY since DESC)
         FROM stalls WHERE cleared_at IS NULL AND ($1::text IS NULL OR pathway_key = $1)
           AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM cases c WHERE c.id = stalls.case_id AND {}))
         GROUP BY GROUPING SETS ((reason), (reason, party))",
        super::chain::org_sees_case("c.id", "c.resident_id", "$2", "$3")
    ))
    .bind(key)
    .bind(org.map(|o| o.organisation.as_str()))
    .bind(org.is_some_and(|o| o.municipality))
    .fetch_all(store.readers())
    .await?;
    let mut out = StallSummaries::default();
    for r in &rows {
        let summary = StallSummary {
            reason: r.try_get(0)?,
            party: r.try_get(1)?,
            count: r.try_get(3)?,
            oldest_since: r.try_get(4)?,
            median_since: r.try_get(5)?,
        };
        if r.try_get::<bool, _>(2)? {
            out.by_reason.push(summary);
        } else {
            out.by_party.push(summary);
        }
    }
    Ok(out)
}
