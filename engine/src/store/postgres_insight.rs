//! The stall summary on PostgreSQL: both groupings and their medians in one pass
//! (GROUPING SETS, percentile_disc).

use sqlx::Row;

use super::Result;
use super::insight::{StallSummaries, StallSummary};
use super::postgres::PostgresStore;

/// Open stalls grouped by reason and by reason and party.
pub(super) async fn stall_summary(store: &PostgresStore, key: Option<&str>) -> Result<StallSummaries> {
    // One pass for both groupings; GROUPING(party) = 1 marks the totals per reason.
    let rows = sqlx::query(
        "SELECT reason, party, GROUPING(party) = 1, count(*), min(since),
                percentile_disc(0.5) WITHIN GROUP (ORDER BY since DESC)
         FROM stalls WHERE cleared_at IS NULL AND ($1::text IS NULL OR pathway_key = $1)
         GROUP BY GROUPING SETS ((reason), (reason, party))",
    )
    .bind(key)
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
