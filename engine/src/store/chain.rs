//! The organisations of a region and the grounds on which they see cases.

use chrono::{DateTime, Utc};

use super::Result;
use crate::chain::{CaseParty, Organisation};

/// Whose lists these are, as far as the chain is concerned: an organisation, and whether it
/// is a municipality (which sees residents whose municipality is not recorded yet). A list
/// without one is not narrowed by organisation (the regional coordination, the system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFilter {
    pub organisation: String,
    pub municipality: bool,
}

#[async_trait::async_trait]
pub trait Chain: Send + Sync {
    /// Adds an organisation; [`StoreError::OrganisationExists`](super::StoreError::OrganisationExists)
    /// when its key is taken.
    async fn add_organisation(&self, org: &Organisation) -> Result<()>;

    /// Every organisation, by kind and name.
    async fn organisations(&self) -> Result<Vec<Organisation>>;

    async fn organisation(&self, id: &str) -> Result<Option<Organisation>>;

    /// Every ground recorded on a case, withdrawn ones included, oldest first.
    async fn case_parties(&self, case_id: &str) -> Result<Vec<CaseParty>>;

    /// Records a ground; `false` (nothing written) while the organisation already has an
    /// active one on the case.
    async fn record_party(&self, party: &CaseParty) -> Result<bool>;

    /// Withdraws the organisation's active ground on a case; `false` when it had none.
    async fn withdraw_party(
        &self,
        case_id: &str,
        organisation: &str,
        by: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// SQL: the organisation bound at `o` may see the case with id column `case` and resident
/// column `resident` — [`crate::chain::standing`] said in SQL, for lists. `g` is true for a
/// municipality. No organisation (NULL) means no narrowing. The placeholders appear in the
/// order o, o, g, o (for backends that bind `?` by position).
pub(crate) fn org_sees_case(case: &str, resident: &str, o: &str, g: &str) -> String {
    format!(
        "(CAST({o} AS TEXT) IS NULL
          OR EXISTS (SELECT 1 FROM residents sr WHERE sr.id = {resident}
                     AND (sr.municipality = {o} OR (sr.municipality IS NULL AND {g})))
          OR EXISTS (SELECT 1 FROM case_parties sp WHERE sp.case_id = {case}
                     AND sp.organisation = {o} AND sp.withdrawn_at IS NULL))"
    )
}

/// SQL: the organisation bound at `o` may see resident `r` (a residents row alias): they
/// live in it (or, for a municipality, their municipality is not recorded), or it holds a
/// standing ground on one of their cases. NULL means no narrowing.
pub(crate) fn org_sees_resident(r: &str, o: &str, g: &str) -> String {
    format!(
        "(CAST({o} AS TEXT) IS NULL OR {r}.municipality = {o} OR ({r}.municipality IS NULL AND {g})
          OR EXISTS (SELECT 1 FROM cases pc JOIN case_parties sp ON sp.case_id = pc.id
                     WHERE pc.resident_id = {r}.id AND sp.organisation = {o} AND sp.withdrawn_at IS NULL))"
    )
}

pub(crate) const PARTY_COLUMNS: &str = "SELECT id, case_id, organisation, ground, purpose, reference, since, recorded_by, \
     withdrawn_at, withdrawn_by, withdrawn_reason FROM case_parties";

macro_rules! chain_impl {
    ($store:ty, $row:ty) => {
        fn organisation_row(r: &$row) -> Result<crate::chain::Organisation> {
            let kind: String = r.try_get(2)?;
            Ok(crate::chain::Organisation {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: crate::chain::OrganisationKind::parse(&kind)
                    .ok_or_else(|| corrupt("organisation kind", &kind))?,
            })
        }

        fn party_row(r: &$row) -> Result<crate::chain::CaseParty> {
            let ground: String = r.try_get(3)?;
            Ok(crate::chain::CaseParty {
                id: r.try_get(0)?,
                case_id: r.try_get(1)?,
                organisation: r.try_get(2)?,
                ground: crate::chain::Ground::parse(&ground).ok_or_else(|| corrupt("ground", &ground))?,
                purpose: r.try_get(4)?,
                reference: r.try_get(5)?,
                since: time_col(r, 6, "ground time")?,
                recorded_by: r.try_get(7)?,
                withdrawn_at: opt_time_col(r, 8, "withdrawal time")?,
                withdrawn_by: r.try_get(9)?,
                withdrawn_reason: r.try_get(10)?,
            })
        }

        #[async_trait::async_trait]
        impl super::chain::Chain for $store {
            async fn add_organisation(&self, org: &crate::chain::Organisation) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let added = sqlx::query(
                    "INSERT INTO organisations (id, name, kind) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&org.id)
                .bind(&org.name)
                .bind(org.kind.as_str())
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if added == 0 {
                    return Err(StoreError::OrganisationExists { id: org.id.clone() });
                }
                Ok(())
            }

            async fn organisations(&self) -> Result<Vec<crate::chain::Organisation>> {
                sqlx::query("SELECT id, name, kind FROM organisations ORDER BY kind, name")
                    .fetch_all(&self.readers)
                    .await?
                    .iter()
                    .map(organisation_row)
                    .collect()
            }

            async fn organisation(&self, id: &str) -> Result<Option<crate::chain::Organisation>> {
                sqlx::query("SELECT id, name, kind FROM organisations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.readers)
                    .await?
                    .as_ref()
                    .map(organisation_row)
                    .transpose()
            }

            async fn case_parties(&self, case_id: &str) -> Result<Vec<crate::chain::CaseParty>> {
                sqlx::query(&format!(
                    "{} WHERE case_id = $1 ORDER BY since, id",
                    super::chain::PARTY_COLUMNS
                ))
                .bind(case_id)
                .fetch_all(&self.readers)
                .await?
                .iter()
                .map(party_row)
                .collect()
            }

            async fn record_party(&self, p: &crate::chain::CaseParty) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let added = sqlx::query(
                    "INSERT INTO case_parties (id, case_id, organisation, ground, purpose, reference, since, recorded_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&p.id)
                .bind(&p.case_id)
                .bind(&p.organisation)
                .bind(p.ground.as_str())
                .bind(&p.purpose)
                .bind(&p.reference)
                .bind(ts(p.since))
                .bind(&p.recorded_by)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(added == 1)
            }

            async fn withdraw_party(
                &self,
                case_id: &str,
                organisation: &str,
                by: &str,
                reason: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let changed = sqlx::query(
                    "UPDATE case_parties SET withdrawn_at = $1, withdrawn_by = $2, withdrawn_reason = $3
                     WHERE case_id = $4 AND organisation = $5 AND withdrawn_at IS NULL",
                )
                .bind(ts(now))
                .bind(by)
                .bind(reason)
                .bind(case_id)
                .bind(organisation)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(changed > 0)
            }
        }
    };
}
pub(crate) use chain_impl;
