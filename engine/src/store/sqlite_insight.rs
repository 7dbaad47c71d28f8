//! The figures queries and drafts on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::insight::{
    self, CaseGroup, Draft, FunnelCell, InsightStore, StallSummaries, StallSummary, StepTime,
};
use super::sqlite::{SqliteStore, parse_ts};
use super::{Result, ts};

#[async_trait]
impl InsightStore for SqliteStore {
    async fn open_work_by_step(&self, key: &str, version: u32) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT step, count(*) FROM tasks
             WHERE status = 'open' AND pathway_key = ?1 AND pathway_version = ?2 GROUP BY step",
        )
        .bind(key)
        .bind(version)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    async fn step_times(
        &self,
        key: &str,
        version: Option<u32>,
        from: &str,
        to: &str,
    ) -> Result<Vec<StepTime>> {
        let rows = sqlx::query(
            "SELECT step, hours, sum(n) FROM step_stats
             WHERE pathway_key = ?1 AND (?2 IS NULL OR pathway_version = ?2) AND month >= ?3 AND month <= ?4
             GROUP BY step, hours ORDER BY step, hours",
        )
        .bind(key)
        .bind(version)
        .bind(from)
        .bind(to)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::step_time).collect()
    }

    async fn case_groups(&self, key: Option<&str>) -> Result<Vec<CaseGroup>> {
        let rows = sqlx::query(
            "SELECT pathway_key, started, status, nullif(outcome, ''), nullif(ended, ''), nullif(rung_first, 0),
                    nullif(rung_last, 0), n
             FROM case_stats WHERE (?1 IS NULL OR pathway_key = ?1) AND n > 0",
        )
        .bind(key)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::case_group).collect()
    }

    async fn funnel(&self, key: &str, from: &str, to: &str) -> Result<Vec<FunnelCell>> {
        let rows = sqlx::query(
            "SELECT cohort, step, n FROM funnel_stats WHERE pathway_key = ?1 AND cohort >= ?2 AND cohort <= ?3",
        )
        .bind(key)
        .bind(from)
        .bind(to)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(insight::funnel_cell).collect()
    }

    async fn stall_summary(&self, key: Option<&str>) -> Result<StallSummaries> {
        Ok(StallSummaries {
            by_reason: self.stall_groups(key, false).await?,
            by_party: self.stall_groups(key, true).await?,
        })
    }

    async fn active_cases_on(&self, key: &str, version: u32, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM cases WHERE pathway_key = ?1 AND pathway_version = ?2 AND status = 'active'
             ORDER BY created_at, id LIMIT ?3",
        )
        .bind(key)
        .bind(version)
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await?)
    }

    async fn pathway_source(&self, key: &str, version: u32) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT source FROM pathway_versions WHERE key = ?1 AND version = ?2")
                .bind(key)
                .bind(version)
                .fetch_optional(self.readers())
                .await?,
        )
    }

    async fn draft(&self, key: &str) -> Result<Option<Draft>> {
        let row =
            sqlx::query("SELECT key, source, updated_by, updated_at FROM pathway_drafts WHERE key = ?1")
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
        let mut conn = self.writer().lock().await;
        sqlx::query(
            "INSERT INTO pathway_drafts (key, source, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET source = excluded.source, updated_by = excluded.updated_by,
                 updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(source)
        .bind(by)
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn delete_draft(&self, key: &str) -> Result<()> {
        let mut conn = self.writer().lock().await;
        sqlx::query("DELETE FROM pathway_drafts WHERE key = ?1")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

impl SqliteStore {
    /// Open stalls per reason (and party): counts in one grouped pass over the index, each
    /// median found by walking the index to its rank.
    async fn stall_groups(&self, key: Option<&str>, by_party: bool) -> Result<Vec<StallSummary>> {
        let sql = if by_party {
            "SELECT reason, party, count(*), min(since) FROM stalls
             WHERE cleared_at IS NULL AND (?1 IS NULL OR pathway_key = ?1) GROUP BY reason, party"
        } else {
            "SELECT reason, NULL, count(*), min(since) FROM stalls
             WHERE cleared_at IS NULL AND (?1 IS NULL OR pathway_key = ?1) GROUP BY reason"
        };
        let rows = sqlx::query(sql).bind(key).fetch_all(self.readers()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (reason, party, count): (String, Option<String>, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            // The median wait: SQLite walks the index to it; no row leaves the database.
            let offset = (count + 1) / 2 - 1;
            let median: String = if by_party {
                sqlx::query_scalar(
                    "SELECT since FROM stalls INDEXED BY stalls_open_age
                     WHERE cleared_at IS NULL AND reason = ?1 AND party IS ?2 AND (?3 IS NULL OR pathway_key = ?3)
                     ORDER BY since DESC LIMIT 1 OFFSET ?4",
                )
                .bind(&reason)
                .bind(&party)
                .bind(key)
                .bind(offset)
                .fetch_one(self.readers())
                .await?
            } else {
                sqlx::query_scalar(
                    "SELECT since FROM stalls INDEXED BY stalls_open_reason_age
                     WHERE cleared_at IS NULL AND reason = ?1 AND (?2 IS NULL OR pathway_key = ?2)
                     ORDER BY since DESC LIMIT 1 OFFSET ?3",
                )
                .bind(&reason)
                .bind(key)
                .bind(offset)
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

fn draft_row(r: &sqlx::sqlite::SqliteRow) -> Result<Draft> {
    Ok(Draft {
        key: r.try_get(0)?,
        source: r.try_get(1)?,
        updated_by: r.try_get(2)?,
        updated_at: parse_ts("draft time", &r.try_get::<String, _>(3)?)?,
    })
}
