//! Provisions per resident: the current record of each kind and every change to it.

use chrono::NaiveDate;

use super::Result;
use crate::resident::provision::{Provision, ProvisionChange};

#[async_trait::async_trait]
pub trait Provisions: Send + Sync {
    /// Applies a change to the resident's provision of its kind (in one transaction with its
    /// history row); `false` when a change with this key was applied before.
    async fn apply_provision_change(&self, change: &ProvisionChange) -> Result<bool>;

    /// A resident's provisions, by kind.
    async fn provisions(&self, resident_id: &str) -> Result<Vec<Provision>>;

    /// Every change to a resident's provisions, newest first.
    async fn provision_changes(&self, resident_id: &str) -> Result<Vec<ProvisionChange>>;

    /// Active or dormant provisions ending on or before `by` for which no expiry case was
    /// opened yet.
    async fn provisions_ending(&self, by: NaiveDate, limit: u32) -> Result<Vec<Provision>>;

    /// Claims the provision's expiry work for case `case_id` (to be started next); `false`
    /// when another process claimed it first. A claim whose case never started is claimable
    /// again.
    async fn claim_expiry_case(&self, resident_id: &str, kind: &str, case_id: &str) -> Result<bool>;
}

pub(crate) const PROVISION_COLUMNS: &str = "SELECT resident_id, kind, status, start_date, end_date, dormant_until, \
     decision_date, decision_ref, decided_by, case_id, updated_at FROM provisions";

macro_rules! provisions_impl {
    ($store:ty, $row:ty) => {
        fn provision_row(r: &$row) -> Result<crate::resident::provision::Provision> {
            let status: String = r.try_get(2)?;
            Ok(crate::resident::provision::Provision {
                resident_id: r.try_get(0)?,
                kind: r.try_get(1)?,
                status: crate::resident::provision::ProvisionStatus::parse(&status)
                    .ok_or_else(|| corrupt("provision status", &status))?,
                start_date: r.try_get(3)?,
                end_date: r.try_get(4)?,
                dormant_until: r.try_get(5)?,
                decision_date: r.try_get(6)?,
                decision_ref: r.try_get(7)?,
                decided_by: r.try_get(8)?,
                case_id: r.try_get(9)?,
                updated_at: time_col(r, 10, "provision time")?,
            })
        }

        #[async_trait::async_trait]
        impl super::provisions::Provisions for $store {
            async fn apply_provision_change(&self, c: &crate::resident::provision::ProvisionChange) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let new = sqlx::query(
                    "INSERT INTO provision_changes (key, resident_id, kind, status, start_date, end_date, dormant_until,
                                                    decision_date, decision_ref, by_user, case_id, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&c.key)
                .bind(&c.resident_id)
                .bind(&c.kind)
                .bind(c.status.as_str())
                .bind(c.start_date)
                .bind(c.end_date)
                .bind(c.dormant_until)
                .bind(c.decision_date)
                .bind(&c.decision_ref)
                .bind(&c.by)
                .bind(&c.case_id)
                .bind(ts(c.at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if new == 0 {
                    return Ok(false);
                }
                // Dates given replace the stored ones; a new end date may need a new expiry
                // case; leaving dormancy clears its date.
                sqlx::query(
                    "INSERT INTO provisions AS p (resident_id, kind, status, start_date, end_date, dormant_until,
                                                  decision_date, decision_ref, decided_by, case_id, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (resident_id, kind) DO UPDATE SET
                        status = excluded.status,
                        start_date = COALESCE(excluded.start_date, p.start_date),
                        end_date = COALESCE(excluded.end_date, p.end_date),
                        dormant_until = CASE WHEN excluded.status = 'slapend'
                                             THEN COALESCE(excluded.dormant_until, p.dormant_until) END,
                        decision_date = COALESCE(excluded.decision_date, p.decision_date),
                        decision_ref = COALESCE(excluded.decision_ref, p.decision_ref),
                        decided_by = excluded.decided_by,
                        case_id = COALESCE(excluded.case_id, p.case_id),
                        expiry_case_id = CASE WHEN excluded.end_date IS NULL OR excluded.end_date = p.end_date
                                              THEN p.expiry_case_id END,
                        updated_at = excluded.updated_at",
                )
                .bind(&c.resident_id)
                .bind(&c.kind)
                .bind(c.status.as_str())
                .bind(c.start_date)
                .bind(c.end_date)
                .bind(c.dormant_until)
                .bind(c.decision_date)
                .bind(&c.decision_ref)
                .bind(&c.by)
                .bind(&c.case_id)
                .bind(ts(c.at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn provisions(&self, resident_id: &str) -> Result<Vec<crate::resident::provision::Provision>> {
                sqlx::query(&format!("{} WHERE resident_id = $1 ORDER BY kind", super::provisions::PROVISION_COLUMNS))
                    .bind(resident_id)
                    .fetch_all(&self.readers)
                    .await?
                    .iter()
                    .map(provision_row)
                    .collect()
            }

            async fn provision_changes(
                &self,
                resident_id: &str,
            ) -> Result<Vec<crate::resident::provision::ProvisionChange>> {
                let rows = sqlx::query(
                    "SELECT key, resident_id, kind, status, start_date, end_date, dormant_until, decision_date,
                            decision_ref, by_user, case_id, at
                     FROM provision_changes WHERE resident_id = $1 ORDER BY at DESC, key DESC",
                )
                .bind(resident_id)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        let status: String = r.try_get(3)?;
                        Ok(crate::resident::provision::ProvisionChange {
                            key: r.try_get(0)?,
                            resident_id: r.try_get(1)?,
                            kind: r.try_get(2)?,
                            status: crate::resident::provision::ProvisionStatus::parse(&status)
                                .ok_or_else(|| corrupt("provision status", &status))?,
                            start_date: r.try_get(4)?,
                            end_date: r.try_get(5)?,
                            dormant_until: r.try_get(6)?,
                            decision_date: r.try_get(7)?,
                            decision_ref: r.try_get(8)?,
                            by: r.try_get(9)?,
                            case_id: r.try_get(10)?,
                            at: time_col(r, 11, "provision change time")?,
                        })
                    })
                    .collect()
            }

            async fn provisions_ending(
                &self,
                by: chrono::NaiveDate,
                limit: u32,
            ) -> Result<Vec<crate::resident::provision::Provision>> {
                sqlx::query(&format!(
                    "{} WHERE status IN ('actief', 'slapend') AND end_date <= $1
                       AND (expiry_case_id IS NULL
                            OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = provisions.expiry_case_id))
                     ORDER BY end_date LIMIT $2",
                    super::provisions::PROVISION_COLUMNS
                ))
                .bind(by)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
                .iter()
                .map(provision_row)
                .collect()
            }

            async fn claim_expiry_case(&self, resident_id: &str, kind: &str, case_id: &str) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let claimed = sqlx::query(
                    "UPDATE provisions SET expiry_case_id = $3
                     WHERE resident_id = $1 AND kind = $2
                       AND (expiry_case_id IS NULL
                            OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = provisions.expiry_case_id))",
                )
                .bind(resident_id)
                .bind(kind)
                .bind(case_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(claimed == 1)
            }
        }
    };
}
pub(crate) use provisions_impl;
