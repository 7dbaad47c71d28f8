//! Residents and finding them: the person each case belongs to.
//!
//! The store never sees a BSN in clear text: the engine hands it sealed (ciphertext and
//! keyed hash, see [`crate::resident::bsn`]) and searches by the hash.

use chrono::{DateTime, NaiveDate, Utc};

use super::{CaseSummary, Result};
use crate::resident::{Resident, SealedBsn};

/// A resident's details as the store writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRow {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<NaiveDate>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub municipality: Option<String>,
    /// `None` keeps what is stored (on an update) or stores none (on an insert).
    pub bsn: Option<SealedBsn>,
    /// The folded words of the name, for prefix search.
    pub words: Vec<String>,
    /// Who registers the resident (on insert only).
    pub created_by: Option<String>,
    /// Who changes the record (on update): their corrections keep the old values.
    pub changed_by: Option<String>,
}

/// One correction of a resident's record: which field, what it was and became, by whom.
/// For the BSN only the fact of the change is kept, never a number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResidentChange {
    pub at: DateTime<Utc>,
    pub by: String,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A search as the store runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredQuery {
    /// Each word a prefix of one of the name's words.
    Name(Vec<String>),
    Number(u64),
    BirthDate(NaiveDate),
    BsnHash(String),
}

/// Whose search: `None` for someone who may see every resident (a manager), else the user
/// and their teams, who see the residents of the cases they may see.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// `None`: not narrowed to the user's own cases (a manager).
    pub user: Option<&'a str>,
    pub teams: &'a [String],
    /// Only residents this organisation may see (of its municipality, or of a case it holds
    /// a ground on); `None`: the whole region.
    pub organisation: Option<&'a super::OrgFilter>,
}

#[async_trait::async_trait]
pub trait Residents: Send + Sync {
    /// Adds a resident with the next reference number;
    /// [`StoreError::BsnExists`](super::StoreError::BsnExists) when the BSN is already recorded.
    async fn add_resident(&self, id: &str, row: &ResidentRow, now: DateTime<Utc>) -> Result<Resident>;

    /// Changes a resident's details (and marks them known); `false` when there is no such resident.
    async fn update_resident(&self, id: &str, row: &ResidentRow, now: DateTime<Utc>) -> Result<bool>;

    async fn resident(&self, id: &str) -> Result<Option<Resident>>;

    /// The sealed BSN of a resident, if one is recorded.
    async fn resident_bsn(&self, id: &str) -> Result<Option<String>>;

    /// Residents matching a search, by family name, at most `limit`; only those `viewer`
    /// may see (of a case they may see, or registered by them and without a case yet).
    async fn find_residents(
        &self,
        query: &StoredQuery,
        viewer: Option<Viewer<'_>>,
        limit: u32,
    ) -> Result<Vec<Resident>>;

    /// Every correction of a resident's record, newest first.
    async fn resident_changes(&self, id: &str) -> Result<Vec<ResidentChange>>;

    /// Every case of a resident, newest first.
    async fn resident_cases(&self, id: &str) -> Result<Vec<CaseSummary>>;

    /// Residents by id (for lists that show names); unknown ids are left out.
    async fn residents_by_id(&self, ids: &[String]) -> Result<Vec<Resident>>;

    /// The resident of each of these cases (for work lists that show names).
    async fn residents_of_cases(&self, case_ids: &[String]) -> Result<Vec<(String, Resident)>>;

    /// Residents out of sight: cases, but none ended with an outcome, no open work on any
    /// of them, and nothing happened on any since `before`; with the last moment something
    /// did, longest out of sight first.
    /// With `org`: only residents that organisation may see.
    async fn out_of_sight(
        &self,
        before: DateTime<Utc>,
        org: Option<&super::OrgFilter>,
        limit: u32,
    ) -> Result<Vec<(Resident, DateTime<Utc>)>>;
}

/// The columns `resident_row` decodes.
pub(crate) const RESIDENT_COLUMNS: &str = "SELECT r.id, CAST(r.number AS BIGINT), r.given_name, r.family_name, \
     r.birth_date, r.email, r.phone, r.address, r.municipality, r.bsn_hash IS NOT NULL, r.unknown, r.created_at, \
     r.created_by FROM residents r";

/// The cases a user may see (their own, acted on, invited to, or open for their teams), as a
/// condition on `c` with the user in `$U` and the teams in `$T`; the same rule as the case list.
pub(crate) const VISIBLE_CASE: &str = "(c.id IN (SELECT case_id FROM tasks WHERE assignee = $U)
     OR c.id IN (SELECT case_id FROM events WHERE actor = $U)
     OR c.id IN (SELECT case_id FROM visit_participants WHERE user_id = $U)
     OR c.id IN (SELECT t.case_id FROM tasks t WHERE t.status = 'open' AND t.assignee IS NULL AND {overlap}))";

macro_rules! resident_row_fn {
    ($row:ty) => {
        fn resident_row(r: &$row) -> Result<crate::resident::Resident> {
            let number: i64 = r.try_get(1)?;
            Ok(crate::resident::Resident {
                id: r.try_get(0)?,
                reference: crate::resident::reference(
                    u64::try_from(number).map_err(|e| corrupt("resident number", e))?,
                ),
                given_name: r.try_get(2)?,
                family_name: r.try_get(3)?,
                birth_date: r.try_get(4)?,
                email: r.try_get(5)?,
                phone: r.try_get(6)?,
                address: r.try_get(7)?,
                municipality: r.try_get(8)?,
                has_bsn: r.try_get(9)?,
                unknown: r.try_get(10)?,
                created_at: time_col(r, 11, "resident time")?,
                created_by: r.try_get(12)?,
            })
        }
    };
}
pub(crate) use resident_row_fn;

/// [`Residents`] for a backend, written once (`$N` parameters, portable SQL).
macro_rules! residents_impl {
    ($store:ty) => {
        use super::residents::RESIDENT_COLUMNS;

        async fn insert_resident(
            store: &$store,
            id: &str,
            row: &super::residents::ResidentRow,
            now: DateTime<Utc>,
        ) -> Result<crate::resident::Resident> {
            let mut conn = store.write_conn().await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            if let Some(b) = &row.bsn {
                refuse_taken_bsn(&mut tx, &b.hash, id).await?;
            }
            let sql = format!(
                "INSERT INTO residents (id, number, given_name, family_name, birth_date, email, phone, address,
                                        municipality, bsn_cipher, bsn_hash, unknown, created_at, updated_at, created_by)
                 VALUES ($1, {NEXT_RESIDENT_NUMBER}, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $11, $12)"
            );
            bind_resident(sqlx::query(&sql), id, row, now)
                .bind(&row.created_by)
                .execute(&mut *tx)
                .await?;
            insert_words(&mut tx, id, &row.words).await?;
            let r = sqlx::query(&format!("{RESIDENT_COLUMNS} WHERE r.id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let resident = resident_row(&r)?;
            tx.commit().await?;
            Ok(resident)
        }

        #[async_trait::async_trait]
        impl super::residents::Residents for $store {
            async fn add_resident(
                &self,
                id: &str,
                row: &super::residents::ResidentRow,
                now: DateTime<Utc>,
            ) -> Result<crate::resident::Resident> {
                insert_resident(self, id, row, now).await
            }

            async fn update_resident(
                &self,
                id: &str,
                row: &super::residents::ResidentRow,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                if let Some(b) = &row.bsn {
                    refuse_taken_bsn(&mut tx, &b.hash, id).await?;
                }
                // The record as it was, for the history of corrections.
                let before = sqlx::query(
                    "SELECT given_name, family_name, birth_date, email, phone, address, municipality,
                            bsn_hash FROM residents WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(before) = before else { return Ok(false) };
                let text = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
                let old_bsn: Option<String> = before.try_get(7)?;
                let pairs: [(&str, Option<String>, Option<String>); 8] = [
                    ("given_name", Some(before.try_get(0)?), Some(row.given_name.clone())),
                    ("family_name", Some(before.try_get(1)?), Some(row.family_name.clone())),
                    ("birth_date", text(before.try_get(2)?), text(row.birth_date)),
                    ("email", before.try_get(3)?, row.email.clone()),
                    ("phone", before.try_get(4)?, row.phone.clone()),
                    ("address", before.try_get(5)?, row.address.clone()),
                    ("municipality", before.try_get(6)?, row.municipality.clone()),
                    // Only that it changed: the values stay sealed.
                    (
                        "bsn",
                        old_bsn.clone(),
                        row.bsn.as_ref().map(|b| b.hash.clone()).or(old_bsn),
                    ),
                ];
                let by = row.changed_by.clone().unwrap_or_else(|| "systeem".to_owned());
                for (field, old, new) in pairs {
                    if old == new {
                        continue;
                    }
                    let bsn = field == "bsn";
                    sqlx::query(
                        "INSERT INTO resident_changes (id, resident_id, at, by_user, field, old_value, new_value)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(id)
                    .bind(ts(now))
                    .bind(&by)
                    .bind(field)
                    .bind(if bsn { None } else { old })
                    .bind(if bsn { None } else { new })
                    .execute(&mut *tx)
                    .await?;
                }
                const UPDATE: &str = "UPDATE residents SET given_name = $2, family_name = $3, birth_date = $4,
                        email = $5, phone = $6, address = $7, municipality = $8, bsn_cipher = COALESCE($9, bsn_cipher),
                        bsn_hash = COALESCE($10, bsn_hash), unknown = FALSE, updated_at = $11
                     WHERE id = $1";
                let changed = bind_resident(sqlx::query(UPDATE), id, row, now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM resident_words WHERE resident_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                insert_words(&mut tx, id, &row.words).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn resident_changes(&self, id: &str) -> Result<Vec<super::residents::ResidentChange>> {
                let rows = sqlx::query(
                    "SELECT at, by_user, field, old_value, new_value FROM resident_changes
                     WHERE resident_id = $1 ORDER BY at DESC, id DESC",
                )
                .bind(id)
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::residents::ResidentChange {
                            at: time_col(r, 0, "change time")?,
                            by: r.try_get(1)?,
                            field: r.try_get(2)?,
                            old: r.try_get(3)?,
                            new: r.try_get(4)?,
                        })
                    })
                    .collect()
            }

            async fn resident(&self, id: &str) -> Result<Option<crate::resident::Resident>> {
                sqlx::query(&format!("{RESIDENT_COLUMNS} WHERE r.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.readers)
                    .await?
                    .as_ref()
                    .map(resident_row)
                    .transpose()
            }

            async fn resident_bsn(&self, id: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT bsn_cipher FROM residents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.readers)
                    .await?
                    .flatten())
            }

            async fn find_residents(
                &self,
                query: &super::residents::StoredQuery,
                viewer: Option<super::residents::Viewer<'_>>,
                limit: u32,
            ) -> Result<Vec<crate::resident::Resident>> {
                use super::residents::StoredQuery;
                // $1 user (NULL: sees all), $2 teams, $3 limit, $4 and $5 the organisation (NULL:
                // the whole region) and whether it is a municipality, then the query's own parameters.
                let visible = super::residents::VISIBLE_CASE
                    .replace("$U", "$1")
                    .replace("{overlap}", &ROLES_OVERLAP.replace("{roles}", "t.roles").replace("{list}", "$2"));
                let matching = match query {
                    StoredQuery::Name(words) => {
                        // Each word: the residents with a name word in [word, word + U+FFFF).
                        let parts: Vec<String> = (0..words.len())
                            .map(|i| {
                                format!(
                                    "r.id IN (SELECT resident_id FROM resident_words WHERE word >= ${} AND word < ${})",
                                    6 + 2 * i,
                                    7 + 2 * i
                                )
                            })
                            .collect();
                        parts.join(" AND ")
                    }
                    StoredQuery::Number(_) => "r.number = $6".to_owned(),
                    StoredQuery::BirthDate(_) => "r.birth_date = $6".to_owned(),
                    StoredQuery::BsnHash(_) => "r.bsn_hash = $6".to_owned(),
                };
                let org = super::chain::org_sees_resident("r", "$4", "$5");
                let sql = format!(
                    "{RESIDENT_COLUMNS} WHERE {matching}
                       AND (CAST($1 AS TEXT) IS NULL
                            OR r.id IN (SELECT c.resident_id FROM cases c WHERE {visible})
                            OR (r.created_by = $1 AND NOT EXISTS (SELECT 1 FROM cases n WHERE n.resident_id = r.id)))
                       AND {org}
                     ORDER BY r.family_name, r.given_name, r.number LIMIT $3"
                );
                let mut q = sqlx::query(&sql)
                    .bind(viewer.and_then(|v| v.user))
                    .bind(string_list(viewer.map(|v| v.teams).unwrap_or_default())?)
                    .bind(i64::from(limit))
                    .bind(viewer.and_then(|v| v.organisation).map(|o| o.organisation.as_str()))
                    .bind(viewer.and_then(|v| v.organisation).is_some_and(|o| o.municipality));
                q = match query {
                    StoredQuery::Name(words) => {
                        for w in words {
                            q = q.bind(w.clone()).bind(format!("{w}\u{ffff}"));
                        }
                        q
                    }
                    StoredQuery::Number(n) => q.bind(i64::try_from(*n).unwrap_or(i64::MAX)),
                    StoredQuery::BirthDate(d) => q.bind(*d),
                    StoredQuery::BsnHash(h) => q.bind(h.clone()),
                };
                q.fetch_all(&self.readers).await?.iter().map(resident_row).collect()
            }

            async fn resident_cases(&self, id: &str) -> Result<Vec<CaseSummary>> {
                let rows = sqlx::query(
                    "SELECT id, pathway_key, CAST(pathway_version AS BIGINT), status, created_at, updated_at, resident_id
                     FROM cases WHERE resident_id = $1 ORDER BY created_at DESC, id DESC",
                )
                .bind(id)
                .fetch_all(&self.readers)
                .await?;
                rows.iter().map(case_summary_row).collect()
            }

            async fn out_of_sight(
                &self,
                before: DateTime<Utc>,
                org: Option<&super::OrgFilter>,
                limit: u32,
            ) -> Result<Vec<(crate::resident::Resident, DateTime<Utc>)>> {
                let rows = sqlx::query(&format!(
                    "SELECT c.resident_id, MAX(c.updated_at) FROM cases c
                     WHERE c.resident_id IS NOT NULL
                       AND EXISTS (SELECT 1 FROM residents r WHERE r.id = c.resident_id AND {org})
                     GROUP BY c.resident_id
                     HAVING SUM(CASE WHEN c.status = 'ended' THEN 1 ELSE 0 END) = 0
                        AND MAX(c.updated_at) < $1
                        AND NOT EXISTS (SELECT 1 FROM tasks t JOIN cases o ON o.id = t.case_id
                                        WHERE o.resident_id = c.resident_id AND t.status = 'open')
                     ORDER BY MAX(c.updated_at) LIMIT $2",
                    org = super::chain::org_sees_resident("r", "$3", "$4")
                ))
                .bind(ts(before))
                .bind(i64::from(limit))
                .bind(org.map(|o| o.organisation.as_str()))
                .bind(org.is_some_and(|o| o.municipality))
                .fetch_all(&self.readers)
                .await?;
                let mut last = Vec::with_capacity(rows.len());
                for r in &rows {
                    last.push((r.try_get::<String, _>(0)?, time_col(r, 1, "case time")?));
                }
                let ids: Vec<String> = last.iter().map(|(id, _)| id.clone()).collect();
                let people = self.residents_by_id(&ids).await?;
                Ok(last
                    .into_iter()
                    .filter_map(|(id, at)| people.iter().find(|p| p.id == id).map(|p| (p.clone(), at)))
                    .collect())
            }

            async fn residents_of_cases(
                &self,
                case_ids: &[String],
            ) -> Result<Vec<(String, crate::resident::Resident)>> {
                if case_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT id, resident_id FROM cases WHERE resident_id IS NOT NULL AND id IN ({})",
                    (1..=case_ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
                );
                let mut q = sqlx::query(&sql);
                for id in case_ids {
                    q = q.bind(id);
                }
                let mut pairs = Vec::new();
                for r in q.fetch_all(&self.readers).await? {
                    pairs.push((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?));
                }
                let mut ids: Vec<String> = pairs.iter().map(|(_, r)| r.clone()).collect();
                ids.sort();
                ids.dedup();
                let people = self.residents_by_id(&ids).await?;
                Ok(pairs
                    .into_iter()
                    .filter_map(|(case, r)| people.iter().find(|p| p.id == r).map(|p| (case, p.clone())))
                    .collect())
            }

            async fn residents_by_id(&self, ids: &[String]) -> Result<Vec<crate::resident::Resident>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "{RESIDENT_COLUMNS} WHERE r.id IN ({})",
                    (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
                );
                let mut q = sqlx::query(&sql);
                for id in ids {
                    q = q.bind(id);
                }
                q.fetch_all(&self.readers).await?.iter().map(resident_row).collect()
            }
        }
    };
}
pub(crate) use residents_impl;

/// Helpers on a backend's transaction: the search words of a resident, and the check that
/// a BSN is not recorded for someone else.
macro_rules! insert_words_fn {
    ($db:ty) => {
        /// Binds `$1` id and `$2`..`$11` a resident's fields, as INSERT and UPDATE both read them.
        fn bind_resident<'q>(
            q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            id: &'q str,
            row: &'q super::residents::ResidentRow,
            now: DateTime<Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            q.bind(id)
                .bind(&row.given_name)
                .bind(&row.family_name)
                .bind(row.birth_date)
                .bind(&row.email)
                .bind(&row.phone)
                .bind(&row.address)
                .bind(&row.municipality)
                .bind(row.bsn.as_ref().map(|b| &b.cipher))
                .bind(row.bsn.as_ref().map(|b| &b.hash))
                .bind(ts(now))
        }

        async fn refuse_taken_bsn(tx: &mut sqlx::Transaction<'_, $db>, hash: &str, id: &str) -> Result<()> {
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(number AS BIGINT) FROM residents WHERE bsn_hash = $1 AND id <> $2",
            )
            .bind(hash)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            match taken {
                Some(n) => Err(StoreError::BsnExists {
                    reference: crate::resident::reference(u64::try_from(n).unwrap_or_default()),
                }),
                None => Ok(()),
            }
        }

        async fn insert_words(tx: &mut sqlx::Transaction<'_, $db>, id: &str, words: &[String]) -> Result<()> {
            for w in words {
                sqlx::query(
                    "INSERT INTO resident_words (word, resident_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(w)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }
    };
}
pub(crate) use insert_words_fn;
