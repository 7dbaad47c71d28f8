//! Retention: an ended case removed whole once its term has passed, the figures kept (they
//! live in their own tables, which removal does not touch), a resident removed once nothing
//! of theirs is left, and the legal holds that stop all of it for one resident.

use chrono::{DateTime, Utc};

use super::Result;

/// An ended (or withdrawn) case, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCase {
    pub case_id: String,
    pub pathway_key: String,
    pub resident_id: Option<String>,
    pub ended_at: DateTime<Utc>,
}

/// A legal hold on a resident's records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub resident_id: String,
    pub reason: String,
    pub by: String,
    pub since: DateTime<Utc>,
}

/// What retention did, as logged (ids and counts only: never a value from the records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `zaak-verwijderd`, `inwoner-verwijderd`, `bewaarplicht-aan` or `bewaarplicht-uit`.
    pub action: String,
    pub case_id: Option<String>,
    pub resident_id: Option<String>,
    pub pathway_key: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub term_years: Option<u32>,
    pub by: String,
    pub detail: Option<String>,
}

/// Rows removed with a case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub events: u64,
    pub tasks: u64,
    pub messages: u64,
    /// Timers, stall flags, grounds and visit invitations.
    pub other: u64,
}

#[async_trait::async_trait]
pub trait Retention: Send + Sync {
    /// Ended or withdrawn cases of a pathway that ended before `before` and whose resident
    /// is not held, the longest ended first.
    async fn ended_before(
        &self,
        pathway_key: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EndedCase>>;

    /// Removes an ended case whole in one transaction, logging `entry` first; the figures
    /// are kept (its participant is kept without the link to the person). `None` (nothing
    /// written) when the case is gone, active, ended on or after `ended_before`, or its
    /// resident is held.
    async fn remove_case(
        &self,
        case_id: &str,
        ended_before: DateTime<Utc>,
        entry: &RetentionEntry,
    ) -> Result<Option<Removed>>;

    /// Residents with no case left whose record and provisions have not changed since
    /// `before` and who are not held.
    async fn residents_to_remove(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<String>>;

    /// Removes such a resident (record, name words, corrections, provisions) in one
    /// transaction, logging `entry` first; `false` (nothing written) when they no longer
    /// qualify.
    async fn remove_resident(
        &self,
        resident_id: &str,
        before: DateTime<Utc>,
        entry: &RetentionEntry,
    ) -> Result<bool>;

    async fn hold(&self, resident_id: &str) -> Result<Option<Hold>>;

    /// Every legal hold, oldest first.
    async fn holds(&self) -> Result<Vec<Hold>>;

    /// Sets a legal hold (and logs it); `false` when the resident was already held.
    async fn set_hold(&self, hold: &Hold, entry: &RetentionEntry) -> Result<bool>;

    /// Ends a resident's legal hold (and logs it); `false` when there was none.
    async fn release_hold(&self, resident_id: &str, entry: &RetentionEntry) -> Result<bool>;

    /// The retention log, newest first.
    async fn retention_log(&self, limit: u32) -> Result<Vec<RetentionEntry>>;
}

macro_rules! retention_impl {
    ($store:ty, $row:ty) => {
        fn retention_entry_row(r: &$row) -> Result<super::retention::RetentionEntry> {
            let years: Option<i64> = r.try_get(7)?;
            Ok(super::retention::RetentionEntry {
                id: r.try_get(0)?,
                at: time_col(r, 1, "retention time")?,
                action: r.try_get(2)?,
                case_id: r.try_get(3)?,
                resident_id: r.try_get(4)?,
                pathway_key: r.try_get(5)?,
                ended_at: opt_time_col(r, 6, "case end")?,
                term_years: years.and_then(|y| u32::try_from(y).ok()),
                by: r.try_get(8)?,
                detail: r.try_get(9)?,
            })
        }

        fn hold_row(r: &$row) -> Result<super::retention::Hold> {
            Ok(super::retention::Hold {
                resident_id: r.try_get(0)?,
                reason: r.try_get(1)?,
                by: r.try_get(2)?,
                since: time_col(r, 3, "hold time")?,
            })
        }

        async fn log_retention<'c, E>(conn: E, e: &super::retention::RetentionEntry) -> Result<()>
        where
            E: sqlx::Executor<'c, Database = <$row as sqlx::Row>::Database>,
        {
            sqlx::query(
                "INSERT INTO retention_log (id, at, action, case_id, resident_id, pathway_key, ended_at,
                                            term_years, by_user, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&e.id)
            .bind(ts(e.at))
            .bind(&e.action)
            .bind(&e.case_id)
            .bind(&e.resident_id)
            .bind(&e.pathway_key)
            .bind(e.ended_at.map(ts))
            .bind(e.term_years.map(i64::from))
            .bind(&e.by)
            .bind(&e.detail)
            .execute(conn)
            .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl super::retention::Retention for $store {
            async fn ended_before(
                &self,
                pathway_key: &str,
                before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<super::retention::EndedCase>> {
                let rows = sqlx::query(
                    "SELECT c.id, c.pathway_key, c.resident_id, c.ended_at FROM cases c
                     WHERE c.pathway_key = $1 AND c.status <> 'active' AND c.ended_at < $2
                       AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.resident_id = c.resident_id)
                     ORDER BY c.ended_at, c.id LIMIT $3",
                )
                .bind(pathway_key)
                .bind(ts(before))
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::retention::EndedCase {
                            case_id: r.try_get(0)?,
                            pathway_key: r.try_get(1)?,
                            resident_id: r.try_get(2)?,
                            ended_at: time_col(r, 3, "case end")?,
                        })
                    })
                    .collect()
            }

            async fn remove_case(
                &self,
                case_id: &str,
                ended_before: DateTime<Utc>,
                entry: &super::retention::RetentionEntry,
            ) -> Result<Option<super::retention::Removed>> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let due = sqlx::query(
                    "SELECT 1 FROM cases c WHERE c.id = $1 AND c.status <> 'active' AND c.ended_at < $2
                       AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.resident_id = c.resident_id)",
                )
                .bind(case_id)
                .bind(ts(ended_before))
                .fetch_optional(&mut *tx)
                .await?;
                if due.is_none() {
                    return Ok(None);
                }
                // The log row first: the events' append-only guard lets them go only then.
                log_retention(&mut *tx, entry).await?;
                let mut removed = super::retention::Removed::default();
                for table in ["events", "tasks", "outbox", "timers", "stalls", "case_parties", "visit_participants"] {
                    let n = sqlx::query(&format!("DELETE FROM {table} WHERE case_id = $1"))
                        .bind(case_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    match table {
                        "events" => removed.events = n,
                        "tasks" => removed.tasks = n,
                        "outbox" => removed.messages = n,
                        _ => removed.other += n,
                    }
                }
                // The figures count the participant on; who it was goes.
                let anonymous = format!("verwijderd:{}", uuid::Uuid::now_v7());
                sqlx::query("UPDATE participants SET resident_id = $1, case_id = $1 WHERE case_id = $2")
                    .bind(&anonymous)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                for table in ["provisions", "provision_changes"] {
                    sqlx::query(&format!("UPDATE {table} SET case_id = NULL WHERE case_id = $1"))
                        .bind(case_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM cases WHERE id = $1")
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(removed))
            }

            async fn residents_to_remove(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT r.id FROM residents r
                     WHERE r.updated_at < $1
                       AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.resident_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.resident_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.resident_id = r.id
                                       AND (p.status <> 'beeindigd' OR p.updated_at >= $1))
                     ORDER BY r.updated_at, r.id LIMIT $2",
                )
                .bind(ts(before))
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            }

            async fn remove_resident(
                &self,
                resident_id: &str,
                before: DateTime<Utc>,
                entry: &super::retention::RetentionEntry,
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let due = sqlx::query(
                    "SELECT 1 FROM residents r
                     WHERE r.id = $1 AND r.updated_at < $2
                       AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.resident_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.resident_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.resident_id = r.id
                                       AND (p.status <> 'beeindigd' OR p.updated_at >= $2))",
                )
                .bind(resident_id)
                .bind(ts(before))
                .fetch_optional(&mut *tx)
                .await?;
                if due.is_none() {
                    return Ok(false);
                }
                log_retention(&mut *tx, entry).await?;
                for table in ["resident_words", "resident_changes", "provision_changes", "provisions"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE resident_id = $1"))
                        .bind(resident_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM residents WHERE id = $1")
                    .bind(resident_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn hold(&self, resident_id: &str) -> Result<Option<super::retention::Hold>> {
                sqlx::query("SELECT resident_id, reason, by_user, since FROM legal_holds WHERE resident_id = $1")
                    .bind(resident_id)
                    .fetch_optional(&self.readers)
                    .await?
                    .as_ref()
                    .map(hold_row)
                    .transpose()
            }

            async fn holds(&self) -> Result<Vec<super::retention::Hold>> {
                sqlx::query("SELECT resident_id, reason, by_user, since FROM legal_holds ORDER BY since, resident_id")
                    .fetch_all(&self.readers)
                    .await?
                    .iter()
                    .map(hold_row)
                    .collect()
            }

            async fn set_hold(
                &self,
                hold: &super::retention::Hold,
                entry: &super::retention::RetentionEntry,
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let added = sqlx::query(
                    "INSERT INTO legal_holds (resident_id, reason, by_user, since) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (resident_id) DO NOTHING",
                )
                .bind(&hold.resident_id)
                .bind(&hold.reason)
                .bind(&hold.by)
                .bind(ts(hold.since))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if added == 0 {
                    return Ok(false);
                }
                log_retention(&mut *tx, entry).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn release_hold(
                &self,
                resident_id: &str,
                entry: &super::retention::RetentionEntry,
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let gone = sqlx::query("DELETE FROM legal_holds WHERE resident_id = $1")
                    .bind(resident_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Ok(false);
                }
                log_retention(&mut *tx, entry).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn retention_log(&self, limit: u32) -> Result<Vec<super::retention::RetentionEntry>> {
                sqlx::query(
                    "SELECT id, at, action, case_id, resident_id, pathway_key, ended_at, term_years, by_user, detail
                     FROM retention_log ORDER BY at DESC, id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
                .iter()
                .map(retention_entry_row)
                .collect()
            }
        }
    };
}
pub(crate) use retention_impl;
