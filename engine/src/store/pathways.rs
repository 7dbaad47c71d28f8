//! Published pathway versions: each publication is the next version of its key, and a
//! version never changes once published.

use chrono::{DateTime, Utc};

use super::{PathwaySummary, Result};
use crate::pathway::model::{Pathway, PathwayVersion};

#[async_trait::async_trait]
pub trait Pathways: Send + Sync {
    /// Stores a validated pathway as the next version of its key.
    async fn publish(&self, pathway: &Pathway, source: &str, now: DateTime<Utc>) -> Result<PathwayVersion>;

    /// A published version, or the latest when `version` is `None`.
    async fn pathway(&self, key: &str, version: Option<u32>) -> Result<PathwayVersion>;

    async fn pathways(&self) -> Result<Vec<PathwaySummary>>;

    /// Every published pathway key with the name of its latest version, by key.
    async fn pathway_keys(&self) -> Result<Vec<(String, String)>>;
}

/// [`Pathways`] for a backend, written once: the same SQL on both, with the backend's
/// `JSONB` parameter cast (empty on SQLite), `ts`, `time_col`, `readers` and `write_conn`.
macro_rules! pathways_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl super::pathways::Pathways for $store {
            async fn publish(&self, pathway: &Pathway, source: &str, now: DateTime<Utc>) -> Result<PathwayVersion> {
                let definition = serde_json::to_string(pathway).map_err(|e| corrupt("pathway", e))?;
                let mut conn = self.write_conn().await?;
                let version: i64 = sqlx::query_scalar(&format!(
                    "INSERT INTO pathway_versions (key, version, name, definition, source, published_at)
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3{JSONB}, $4, $5 FROM pathway_versions WHERE key = $1
                     RETURNING CAST(version AS BIGINT)"
                ))
                .bind(&pathway.key)
                .bind(&pathway.name)
                .bind(definition)
                .bind(source)
                .bind(ts(now))
                .fetch_one(&mut *conn)
                .await?;
                Ok(PathwayVersion {
                    version: u32::try_from(version).map_err(|e| corrupt("pathway version", e))?,
                    pathway: pathway.clone(),
                })
            }

            async fn pathway(&self, key: &str, version: Option<u32>) -> Result<PathwayVersion> {
                let row = sqlx::query(
                    "SELECT CAST(version AS BIGINT), CAST(definition AS TEXT) FROM pathway_versions
                     WHERE key = $1 AND (CAST($2 AS BIGINT) IS NULL OR version = $2) ORDER BY version DESC LIMIT 1",
                )
                .bind(key)
                .bind(version.map(i64::from))
                .fetch_optional(&self.readers)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::PathwayNotFound {
                        key: key.to_owned(),
                        version,
                    });
                };
                let v: i64 = row.try_get(0)?;
                let def: String = row.try_get(1)?;
                Ok(PathwayVersion {
                    version: u32::try_from(v).map_err(|e| corrupt("pathway version", e))?,
                    pathway: serde_json::from_str(&def).map_err(|e| corrupt("pathway", e))?,
                })
            }

            async fn pathways(&self) -> Result<Vec<PathwaySummary>> {
                let rows = sqlx::query(
                    "SELECT p.key, CAST(p.version AS BIGINT), p.name, p.published_at,
                            (SELECT COUNT(*) FROM cases c WHERE c.pathway_key = p.key AND c.pathway_version = p.version),
                            (SELECT COUNT(*) FROM cases c
                             WHERE c.pathway_key = p.key AND c.pathway_version = p.version AND c.status = 'active')
                     FROM pathway_versions p ORDER BY p.key, p.version",
                )
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(PathwaySummary {
                            key: r.try_get(0)?,
                            version: u32::try_from(r.try_get::<i64, _>(1)?)
                                .map_err(|e| corrupt("pathway version", e))?,
                            name: r.try_get(2)?,
                            published_at: time_col(r, 3, "publication time")?,
                            cases: r.try_get(4)?,
                            running: r.try_get(5)?,
                        })
                    })
                    .collect()
            }

            async fn pathway_keys(&self) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query(
                    "SELECT p.key, p.name FROM pathway_versions p
                     WHERE p.version = (SELECT MAX(q.version) FROM pathway_versions q WHERE q.key = p.key)
                     ORDER BY p.key",
                )
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
            }
        }
    };
}
pub(crate) use pathways_impl;
