//! The figures queries and drafts on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::insight::{
    self, CaseGroup, Draft, FunnelCell, InsightStore, StallSummaries, StallSummary, StepTime,
};
use super::postgres::PostgresStore;
use super::{Result, corrupt};

fn version(v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|e| corrupt("pathway version", e))
}

#[async_trait]
impl InsightStore for PostgresStore {
    async fn open_work_by_step(&self, key: &str, v: u32) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT step, count(*) FROM tasks
             WHERE status = 'open' AND pathway_key = $1 AND pathway_version = $2 GROUP BY step",
        )
        .bind(key)
        .bind(version(v)?)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    async fn step_times(&self, key: &str, v: Option<u32>, from: &str, to: &str) -> Result<Vec<StepTime>> {
        let rows = sqlx::query(
            "SELECT step, hours::bigint, sum(n)::bigint FROM step_stats
             WHERE pathway_key = $1 AND ($2::int IS NULL OR pathway_version = $2) AND month >= $3 AND month <= $4
             GROUP BY step, hours ORDER BY step, hours",
        )
        .bind(key)
        .bind(v.map(version).transpose()?)
        .bind(from)
        .bind(to)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::step_time).collect()
    }

    async fn case_groups(&self, key: Option<&str>) -> Result<Vec<CaseGroup>> {
        let rows = sqlx::query(
            "SELECT pathway_key, started, status, nullif(outcome, ''), nullif(ended, ''),
                    nullif(rung_first, 0)::bigint, nullif(rung_last, 0)::bigint, n
             FROM case_stats WHERE ($1::text IS NULL OR pathway_key = $1) AND n > 0",
        )
        .bind(key)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::case_group).collect()
    }

    async fn funnel(&self, key: &str, from: &str, to: &str) -> Result<Vec<FunnelCell>> {
        let rows = sqlx::query(
            "SELECT cohort, step, n FROM funnel_stats WHERE pathway_key = $1 AND cohort >= $2 AND cohort <= $3",
        )
        .bind(key)
        .bind(from)
        .bind(to)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::funnel_cell).collect()
    }

    async fn stall_summary(&self, key: Option<&str>) -> Result<StallSummaries> {
        // One pass for both groupings; GROUPING(party) = 1 marks the totals per reason.
        let rows = sqlx::query(
            "SELECT reason, party, GROUPING(party) = 1, count(*), min(since),
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY since DESC)
             FROM stalls WHERE cleared_at IS NULL AND ($1::text IS NULL OR pathway_key = $1)
             GROUP BY GROUPING SETS ((reason), (reason, party))",
        )
        .bind(key)
        .fetch_all(self.readers())
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

    async fn active_cases_on(&self, key: &str, v: u32, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM cases WHERE pathway_key = $1 AND pathway_version = $2 AND status = 'active'
             ORDER BY created_at, id LIMIT $3",
        )
        .bind(key)
        .bind(version(v)?)
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await?)
    }

    async fn pathway_source(&self, key: &str, v: u32) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT source FROM pathway_versions WHERE key = $1 AND version = $2")
                .bind(key)
                .bind(version(v)?)
                .fetch_optional(self.readers())
                .await?,
        )
    }

    async fn draft(&self, key: &str) -> Result<Option<Draft>> {
        let row =
            sqlx::query("SELECT key, source, updated_by, updated_at FROM pathway_drafts WHERE key = $1")
                .bind(key)
                .fetch_optional(self.readers())
                .await?;
        row.as_ref().map(draft_row).transpose()
    }

    async fn drafts(&self) -> Result<Vec<Draft>> {
        let rows = sqlx::query("SELECT key, source, updated_by, updated_at FROM pathway_drafts ORDER BY key")
            .fetch_all(self.readers())
            .await?;
        rows.iter().map(draft_row).collect()
    }

    async fn save_draft(&self, key: &str, source: &str, by: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO pathway_drafts (key, source, updated_by, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET source = excluded.source, updated_by = excluded.updated_by,
                 updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(source)
        .bind(by)
        .bind(now)
        .execute(self.readers())
        .await?;
        Ok(())
    }

    async fn delete_draft(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM pathway_drafts WHERE key = $1")
            .bind(key)
            .execute(self.readers())
            .await?;
        Ok(())
    }
}

fn draft_row(r: &sqlx::postgres::PgRow) -> Result<Draft> {
    Ok(Draft {
        key: r.try_get(0)?,
        source: r.try_get(1)?,
        updated_by: r.try_get(2)?,
        updated_at: r.try_get(3)?,
    })
}
