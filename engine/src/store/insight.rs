//! What the managers' and coordinators' screens read: figures kept as the cases move
//! (open work per step, time spent per step, outcome and ladder columns on each case), open
//! stalls by age, and pathway drafts. Every query reads an index range or a small
//! aggregate, never every event.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Result, corrupt};

/// Work leaving a step: how many times it took `hours` (whole hours below two days, whole
/// days × 24 above).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepTime {
    pub step: String,
    pub hours: i64,
    pub count: i64,
}

/// Cases of a pathway grouped by everything the outcome screens count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseGroup {
    pub pathway_key: String,
    /// `YYYY-MM` (UTC) of the start.
    pub started: String,
    pub status: String,
    pub outcome: Option<String>,
    /// `YYYY-MM` (UTC) of the end.
    pub ended: Option<String>,
    pub rung_first: Option<u8>,
    pub rung_last: Option<u8>,
    pub count: i64,
    /// The municipality the participants lived in when their latest case started (empty
    /// when not recorded).
    pub municipality: String,
}

/// How many cases of a start month reached a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunnelCell {
    pub cohort: String,
    pub step: String,
    pub cases: i64,
}

/// Open stalls of one reason (and, when asked by party, one outside party): how many, the
/// longest waiting, and the median (nearest rank) of their waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StallSummary {
    pub reason: String,
    /// `None` in a summary by reason, or for stalls that name no party.
    pub party: Option<String>,
    pub count: i64,
    pub oldest_since: DateTime<Utc>,
    /// The start of the median wait: the `ceil(n/2)`-th most recent.
    pub median_since: DateTime<Utc>,
}

/// Open stalls per reason, and per reason and party.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StallSummaries {
    pub by_reason: Vec<StallSummary>,
    pub by_party: Vec<StallSummary>,
}

/// A coordinator's unpublished edit of a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    pub key: String,
    pub source: String,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// Queries behind the figures screens, and pathway drafts.
#[async_trait]
pub trait InsightStore: Send + Sync {
    /// Open tasks per step of one pathway version, as (step, count).
    async fn open_work_by_step(&self, key: &str, version: u32) -> Result<Vec<(String, i64)>>;

    /// Open work of every version of a pathway: (version, step, count).
    async fn open_work_by_version(&self, key: &str) -> Result<Vec<(u32, String, i64)>>;

    /// Time spent per step, per version, by work that left it in the months `from..=to`.
    async fn step_times_by_version(&self, key: &str, from: &str, to: &str) -> Result<Vec<(u32, StepTime)>>;

    /// Records where the work of old steps went as cases moved to a newer version:
    /// (from version, from step, to version, to step); a step's first record stays.
    async fn record_lineage(&self, key: &str, links: &[(u32, String, u32, String)]) -> Result<()>;

    /// Every recorded move of a pathway's steps.
    async fn lineage(&self, key: &str) -> Result<Vec<(u32, String, u32, String)>>;

    /// Time spent per step by work that left it in the months `from..=to` (`YYYY-MM`);
    /// all versions of the pathway when `version` is `None`.
    async fn step_times(
        &self,
        key: &str,
        version: Option<u32>,
        from: &str,
        to: &str,
    ) -> Result<Vec<StepTime>>;

    /// Every case, grouped (optionally of one pathway).
    async fn case_groups(&self, key: Option<&str>) -> Result<Vec<CaseGroup>>;

    /// Cases started in the months `from..=to` that reached each step, per start month.
    async fn funnel(&self, key: &str, from: &str, to: &str) -> Result<Vec<FunnelCell>>;

    /// Open stalls grouped by reason, and by reason and party (optionally of one pathway).
    /// Counted and ranked in the database, over the index of open stalls.
    /// With `org`: only stalls of cases that organisation may see.
    async fn stall_summary(
        &self,
        key: Option<&str>,
        org: Option<&super::OrgFilter>,
    ) -> Result<StallSummaries>;

    /// Active cases on a pathway version, oldest first.
    async fn active_cases_on(&self, key: &str, version: u32, limit: u32) -> Result<Vec<String>>;

    /// The file a version was published from, as its coordinator wrote it.
    async fn pathway_source(&self, key: &str, version: u32) -> Result<Option<String>>;

    async fn draft(&self, key: &str) -> Result<Option<Draft>>;

    async fn drafts(&self) -> Result<Vec<Draft>>;

    /// Stores (or replaces) the draft of `key`.
    async fn save_draft(&self, key: &str, source: &str, by: &str, now: DateTime<Utc>) -> Result<()>;

    async fn delete_draft(&self, key: &str) -> Result<()>;
}

// Row decoders both backends share: their queries give the same column types (counts and
// hours as 64-bit integers, months as text).

pub(super) fn step_time<'r, R: Row>(r: &'r R) -> Result<StepTime>
where
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StepTime {
        step: r.try_get(0)?,
        hours: r.try_get(1)?,
        count: r.try_get(2)?,
    })
}

pub(super) fn funnel_cell<'r, R: Row>(r: &'r R) -> Result<FunnelCell>
where
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(FunnelCell {
        cohort: r.try_get(0)?,
        step: r.try_get(1)?,
        cases: r.try_get(2)?,
    })
}

pub(super) fn case_group<'r, R: Row>(r: &'r R) -> Result<CaseGroup>
where
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let rung = |v: Option<i64>| -> Result<Option<u8>> {
        v.map(|r| u8::try_from(r).map_err(|e| corrupt("ladder rung", e)))
            .transpose()
    };
    Ok(CaseGroup {
        pathway_key: r.try_get(0)?,
        started: r.try_get(1)?,
        status: r.try_get(2)?,
        outcome: r.try_get(3)?,
        ended: r.try_get(4)?,
        rung_first: rung(r.try_get(5)?)?,
        rung_last: rung(r.try_get(6)?)?,
        count: r.try_get(7)?,
        municipality: r.try_get(8)?,
    })
}

/// A stored version number.
pub(super) fn version_col(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|e| corrupt("pathway version", e))
}

/// `YYYY-MM` of a moment (UTC), as the figures tables count months.
pub fn month_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

/// [`InsightStore`] for a backend, written once: the same SQL on both, except the stall
/// summary, where PostgreSQL takes a median in one grouped pass and SQLite walks its index
/// to each median (`stall_summary`, a function of each backend).
macro_rules! insight_impl {
    ($store:ty, $row:ty) => {
        fn draft_row(r: &$row) -> Result<super::insight::Draft> {
            Ok(super::insight::Draft {
                key: r.try_get(0)?,
                source: r.try_get(1)?,
                updated_by: r.try_get(2)?,
                updated_at: time_col(r, 3, "draft time")?,
            })
        }

        #[async_trait::async_trait]
        impl super::insight::InsightStore for $store {
            async fn open_work_by_step(&self, key: &str, version: u32) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "SELECT step, count(*) FROM tasks
                     WHERE status = 'open' AND pathway_key = $1 AND pathway_version = $2 GROUP BY step",
                )
                .bind(key)
                .bind(i64::from(version))
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
            }

            async fn open_work_by_version(&self, key: &str) -> Result<Vec<(u32, String, i64)>> {
                let rows = sqlx::query(
                    "SELECT CAST(pathway_version AS BIGINT), step, count(*) FROM tasks
                     WHERE status = 'open' AND pathway_key = $1 GROUP BY pathway_version, step",
                )
                .bind(key)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| Ok((super::insight::version_col(r.try_get(0)?)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn step_times_by_version(
                &self,
                key: &str,
                from: &str,
                to: &str,
            ) -> Result<Vec<(u32, super::insight::StepTime)>> {
                let rows = sqlx::query(
                    "SELECT step, CAST(hours AS BIGINT), CAST(sum(n) AS BIGINT), CAST(pathway_version AS BIGINT)
                     FROM step_stats WHERE pathway_key = $1 AND month >= $2 AND month <= $3
                     GROUP BY pathway_version, step, hours ORDER BY pathway_version, step, hours",
                )
                .bind(key)
                .bind(from)
                .bind(to)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| Ok((super::insight::version_col(r.try_get(3)?)?, super::insight::step_time(r)?)))
                    .collect()
            }

            async fn record_lineage(&self, key: &str, links: &[(u32, String, u32, String)]) -> Result<()> {
                let mut conn = self.write_conn().await?;
                for (from_version, from_step, to_version, to_step) in links {
                    sqlx::query(
                        "INSERT INTO step_lineage (pathway_key, from_version, from_step, to_version, to_step)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(key)
                    .bind(i64::from(*from_version))
                    .bind(from_step)
                    .bind(i64::from(*to_version))
                    .bind(to_step)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            async fn lineage(&self, key: &str) -> Result<Vec<(u32, String, u32, String)>> {
                let rows = sqlx::query(
                    "SELECT CAST(from_version AS BIGINT), from_step, CAST(to_version AS BIGINT), to_step
                     FROM step_lineage WHERE pathway_key = $1 ORDER BY from_version, from_step",
                )
                .bind(key)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            super::insight::version_col(r.try_get(0)?)?,
                            r.try_get(1)?,
                            super::insight::version_col(r.try_get(2)?)?,
                            r.try_get(3)?,
                        ))
                    })
                    .collect()
            }

            async fn step_times(
                &self,
                key: &str,
                version: Option<u32>,
                from: &str,
                to: &str,
            ) -> Result<Vec<super::insight::StepTime>> {
                let rows = sqlx::query(
                    "SELECT step, CAST(hours AS BIGINT), CAST(sum(n) AS BIGINT) FROM step_stats
                     WHERE pathway_key = $1 AND (CAST($2 AS BIGINT) IS NULL OR pathway_version = $2)
                       AND month >= $3 AND month <= $4
                     GROUP BY step, hours ORDER BY step, hours",
                )
                .bind(key)
                .bind(version.map(i64::from))
                .bind(from)
                .bind(to)
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(super::insight::step_time).collect()
            }

            async fn case_groups(&self, key: Option<&str>) -> Result<Vec<super::insight::CaseGroup>> {
                let rows = sqlx::query(
                    "SELECT pathway_key, started, status, nullif(outcome, ''), nullif(ended, ''),
                            CAST(nullif(rung_first, 0) AS BIGINT), CAST(nullif(rung_last, 0) AS BIGINT), n, municipality
                     FROM case_stats WHERE (CAST($1 AS TEXT) IS NULL OR pathway_key = $1) AND n > 0",
                )
                .bind(key)
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(super::insight::case_group).collect()
            }

            async fn funnel(&self, key: &str, from: &str, to: &str) -> Result<Vec<super::insight::FunnelCell>> {
                let rows = sqlx::query(
                    "SELECT cohort, step, n FROM funnel_stats WHERE pathway_key = $1 AND cohort >= $2 AND cohort <= $3",
                )
                .bind(key)
                .bind(from)
                .bind(to)
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(super::insight::funnel_cell).collect()
            }

            async fn stall_summary(
                &self,
                key: Option<&str>,
                org: Option<&super::OrgFilter>,
            ) -> Result<super::insight::StallSummaries> {
                stall_summary(self, key, org).await
            }

            async fn active_cases_on(&self, key: &str, version: u32, limit: u32) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM cases WHERE pathway_key = $1 AND pathway_version = $2 AND status = 'active'
                     ORDER BY created_at, id LIMIT $3",
                )
                .bind(key)
                .bind(i64::from(version))
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?)
            }

            async fn pathway_source(&self, key: &str, version: u32) -> Result<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT source FROM pathway_versions WHERE key = $1 AND version = $2")
                        .bind(key)
                        .bind(i64::from(version))
                        .fetch_optional(&self.readers)
                        .await?,
                )
            }

            async fn draft(&self, key: &str) -> Result<Option<super::insight::Draft>> {
                let row = sqlx::query("SELECT key, source, updated_by, updated_at FROM pathway_drafts WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.readers)
                    .await?;
                row.as_ref().map(draft_row).transpose()
            }

            async fn drafts(&self) -> Result<Vec<super::insight::Draft>> {
                let rows = sqlx::query("SELECT key, source, updated_by, updated_at FROM pathway_drafts ORDER BY key")
                    .fetch_all(&self.readers)
                    .await?;
                rows.iter().map(draft_row).collect()
            }

            async fn save_draft(&self, key: &str, source: &str, by: &str, now: DateTime<Utc>) -> Result<()> {
                let mut conn = self.write_conn().await?;
                sqlx::query(
                    "INSERT INTO pathway_drafts (key, source, updated_by, updated_at) VALUES ($1, $2, $3, $4)
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
                let mut conn = self.write_conn().await?;
                sqlx::query("DELETE FROM pathway_drafts WHERE key = $1")
                    .bind(key)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use insight_impl;
