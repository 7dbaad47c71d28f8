//! Accounts behind a municipal identity provider (OpenID Connect): which user an issuer's
//! subject is, and the rights an admin (or the group mapping) gives them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Result, User, UserRole};

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The login name of the user an identity provider's subject belongs to.
    async fn identity_user(&self, issuer: &str, subject: &str) -> Result<Option<String>>;

    /// Links an identity to an existing user.
    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Adds a user and links its identity in one transaction: both land, or neither.
    async fn add_identity_user(
        &self,
        user: &User,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Sets what a user may do; [`StoreError::UnknownUser`] when there is no such user.
    /// With `organisation`, moves them to that (recorded) organisation too.
    async fn set_rights(
        &self,
        id: &str,
        role: UserRole,
        teams: &[String],
        organisation: Option<&str>,
        active: bool,
    ) -> Result<()>;

    /// Counts a login attempt under `key` against a limit every process on this database
    /// shares (GCRA: one attempt per `interval_ms` on average, `burst` at once). True when
    /// the attempt may go ahead; a refused attempt is not counted. Spent keys are removed.
    async fn login_attempt(&self, key: &str, now_ms: i64, interval_ms: i64, burst: i64) -> Result<bool>;
}

/// [`IdentityStore`] for a backend, written once: the same SQL on both, with the
/// backend's `JSONB` parameter cast (empty on SQLite), `ts`, `readers` and `write_conn`.
macro_rules! identity_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl super::identity::IdentityStore for $store {
            async fn identity_user(&self, issuer: &str, subject: &str) -> Result<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2")
                        .bind(issuer)
                        .bind(subject)
                        .fetch_optional(&self.readers)
                        .await?,
                )
            }

            async fn add_identity_user(
                &self,
                user: &User,
                issuer: &str,
                subject: &str,
                now: DateTime<Utc>,
            ) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                insert_user(&mut tx, user).await?;
                link(&mut tx, issuer, subject, &user.id, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn link_identity(
                &self,
                issuer: &str,
                subject: &str,
                user_id: &str,
                now: DateTime<Utc>,
            ) -> Result<()> {
                let mut conn = self.write_conn().await?;
                link(&mut conn, issuer, subject, user_id, now).await
            }

            async fn set_rights(
                &self,
                id: &str,
                role: UserRole,
                teams: &[String],
                organisation: Option<&str>,
                active: bool,
            ) -> Result<()> {
                let teams = serde_json::to_string(teams).map_err(|e| corrupt("user teams", e))?;
                let mut conn = self.write_conn().await?;
                if let Some(org) = organisation {
                    let known: Option<String> = sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
                        .bind(org)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if known.is_none() {
                        return Err(StoreError::UnknownOrganisation { id: org.to_owned() });
                    }
                }
                let changed = sqlx::query(&format!(
                    "UPDATE users SET role = $2, teams = $3{JSONB}, active = $4, organisation = COALESCE($5, organisation)
                     WHERE id = $1"
                ))
                .bind(id)
                .bind(role.as_str())
                .bind(teams)
                .bind(active)
                .bind(organisation)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(StoreError::UnknownUser { id: id.to_owned() });
                }
                Ok(())
            }

            async fn login_attempt(&self, key: &str, now_ms: i64, interval_ms: i64, burst: i64) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                sqlx::query("DELETE FROM login_throttle WHERE tat < $1")
                    .bind(now_ms)
                    .execute(&mut *conn)
                    .await?;
                // One statement, so two processes counting the same key at once both count.
                let allowed: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO login_throttle (key, tat) VALUES ($1, $2 + $3)
                     ON CONFLICT (key) DO UPDATE
                     SET tat = (CASE WHEN login_throttle.tat > $2 THEN login_throttle.tat ELSE $2 END) + $3
                     WHERE (CASE WHEN login_throttle.tat > $2 THEN login_throttle.tat ELSE $2 END) + $3 - $2 <= $4
                     RETURNING tat",
                )
                .bind(key)
                .bind(now_ms)
                .bind(interval_ms)
                .bind(interval_ms.saturating_mul(burst))
                .fetch_optional(&mut *conn)
                .await?;
                Ok(allowed.is_some())
            }
        }
    };
}
pub(crate) use identity_impl;

/// Links an identity to a user on a backend's connection or inside a caller's transaction.
macro_rules! link_fn {
    ($conn:ty) => {
        async fn link(
            conn: &mut $conn,
            issuer: &str,
            subject: &str,
            user_id: &str,
            now: DateTime<Utc>,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (issuer, subject) DO UPDATE SET user_id = excluded.user_id",
            )
            .bind(issuer)
            .bind(subject)
            .bind(user_id)
            .bind(ts(now))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    };
}
pub(crate) use link_fn;
