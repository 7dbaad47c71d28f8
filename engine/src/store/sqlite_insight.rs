//! The stall summary on SQLite: counts in one grouped pass over the index, each median
//! found by walking the index to its rank (SQLite has no percentile function).

use sqlx::Row;

use super::insight::{StallSummaries, StallSummary};
use super::sqlite::{SqliteStore, parse_ts};
use super::{OrgFilter, Result};

/// Open stalls grouped by reason and by reason and party.
pub(super) async fn stall_summary(
    store: &SqliteStore,
    key: Option<&str>,
    org: Option<&OrgFilter>,
) -> Result<StallSummaries> {
    Ok(StallSummaries {
        by_reason: store.stall_groups(key, org, false).await?,
        by_party: store.stall_groups(key, org, true).await?,
    })
}

/// The chain's rule on a stall row, with the organisation at `?{o}` and whether it is a
/// municipality at `?{o + 1}`.
fn org_sees_stall(o: u8) -> String {
    format!(
        "(?{o} IS NULL OR EXISTS (SELECT 1 FROM cases c WHERE c.id = stalls.case_id AND {}))",
        super::chain::org_sees_case("c.id", "c.resident_id", &format!("?{o}"), &format!("?{}", o + 1))
    )
}

impl SqliteStore {
    /// Open stalls per reason (and party): counts in one grouped pass over the index, each
    /// median found by walking the index to its rank.
    async fn stall_groups(
        &self,
        key: Option<&str>,
        org: Option<&OrgFilter>,
        by_party: bool,
    ) -> Result<Vec<StallSummary>> {
        let org_id = org.map(|o| o.organisation.as_str());
        let municipality = org.is_some_and(|o| o.municipality);
        let sql = if by_party {
            format!(
                "SELECT reason, party, count(*), min(since) FROM stalls
                 WHERE cleared_at IS NULL AND (?1 IS NULL OR pathway_key = ?1) AND {} GROUP BY reason, party",
                org_sees_stall(2)
            )
        } else {
            format!(
                "SELECT reason, NULL, count(*), min(since) FROM stalls
                 WHERE cleared_at IS NULL AND (?1 IS NULL OR pathway_key = ?1) AND {} GROUP BY reason",
                org_sees_stall(2)
            )
        };
        let rows = sqlx::query(&sql)
            .bind(key)
            .bind(org_id)
            .bind(municipality)
            .fetch_all(self.readers())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (reason, party, count): (String, Option<String>, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            // The median wait: SQLite walks the index to it; no row leaves the database.
            let offset = (count + 1) / 2 - 1;
            let median: String = if by_party {
                sqlx::query_scalar(&format!(
                    "SELECT since FROM stalls INDEXED BY stalls_open_age
                     WHERE cleared_at IS NULL AND reason = ?1 AND party IS ?2 AND (?3 IS NULL OR pathway_key = ?3)
                       AND {}
                     ORDER BY since DESC LIMIT 1 OFFSET ?4",
                    org_sees_stall(5)
                ))
                .bind(&reason)
                .bind(&party)
                .bind(key)
                .bind(offset)
                .bind(org_id)
                .bind(municipality)
                .fetch_one(self.readers())
                .await?
            } else {
                sqlx::query_scalar(&format!(
                    "SELECT since FROM stalls INDEXED BY stalls_open_reason_age
                     WHERE cleared_at IS NULL AND reason = ?1 AND (?2 IS NULL OR pathway_key = ?2)
                       AND {}
                     ORDER BY since DESC LIMIT 1 OFFSET ?3",
                    org_sees_stall(4)
                ))
                .bind(&reason)
                .bind(key)
                .bind(offset)
                .bind(org_id)
                .bind(municipality)
                .fetch_one(self.readers())
                .await?
            };
            out.push(StallSummary {
                oldest_since: parse_ts("stall time", &r.try_get::<String, _>(3)?)?,
                median_since: parse_ts("stall time", &median)?,
                reason,
                party,
                count,
            });
        }
        Ok(out)
    }
}
