//! People who use Doorloop, their sessions and API tokens, and the access log.

use chrono::{DateTime, Utc};

use super::Result;
use serde::Serialize;

/// What a user may do. Consultants act on their own cases; managers read all cases of
/// their organisation; coordinators manage pathways; admins manage people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    Coordinator,
    Consultant,
    Manager,
    Admin,
    /// The privacy officer (functionaris gegevensbescherming): answers residents' requests
    /// (inzage) and reads the access log; sees no case otherwise.
    Privacy,
}

impl UserRole {
    pub const ALL: [UserRole; 5] = [
        UserRole::Coordinator,
        UserRole::Consultant,
        UserRole::Manager,
        UserRole::Admin,
        UserRole::Privacy,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            UserRole::Coordinator => "coordinator",
            UserRole::Consultant => "consultant",
            UserRole::Manager => "manager",
            UserRole::Admin => "admin",
            UserRole::Privacy => "privacy",
        }
    }

    pub fn parse(text: &str) -> Option<UserRole> {
        UserRole::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The Dutch name shown in the UI.
    pub fn label(&self) -> &'static str {
        match self {
            UserRole::Coordinator => "coördinator",
            UserRole::Consultant => "consulent",
            UserRole::Manager => "manager",
            UserRole::Admin => "beheerder",
            UserRole::Privacy => "privacyfunctionaris",
        }
    }
}

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub id: String,
    pub display_name: String,
    pub role: UserRole,
    /// Role teams (wmo-consulent, klantmanager, …): the pathway roles this user works as.
    pub teams: Vec<String>,
    pub email: Option<String>,
    /// The key of the organisation they work for.
    pub organisation: String,
    /// Its kind, read from the organisation's record (not stored with the user; `None`
    /// only for a user read before their organisation was recorded).
    pub organisation_kind: Option<crate::chain::OrganisationKind>,
    /// argon2id PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// An API token as listed: its id is the first [`ApiToken::ID_LEN`] hex digits of the
/// token's SHA-256, which is all that is stored of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub const ID_LEN: usize = 12;

    /// Whether the token still opens the API at `now`.
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// One row of the access log: who saw which case or resident, when, on which screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    pub user_id: String,
    /// Empty for a view of a resident's page or a search.
    pub case_id: String,
    pub purpose: String,
    pub resident_id: Option<String>,
    /// What a search showed (references only, never what was searched for).
    pub detail: Option<String>,
}

/// The access log's hash chain: a row's hash covers the hash before it and the row itself
/// (its moment to the microsecond, as both databases keep it), so changing or removing a row
/// breaks the chain at the next one.
pub fn access_hash(prev: Option<&str>, e: &AccessEntry) -> String {
    use chrono::SubsecRound;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        prev.unwrap_or(""),
        &e.at
            .trunc_subsecs(6)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        &e.user_id,
        &e.case_id,
        &e.purpose,
        e.resident_id.as_deref().unwrap_or(""),
        e.detail.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        // A separator no field holds, with each field's length: no two rows hash alike.
        h.update([0x1f]);
        h.update((part.len() as u64).to_le_bytes());
    }
    format!("{:x}", h.finalize())
}

/// The hash the next access-log row chains to: the last row's that has one.
pub(crate) const LAST_ACCESS_HASH: &str =
    "SELECT hash FROM access_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1";

/// The hashes of a batch appended after `prev`, in order.
pub fn chain_hashes(prev: Option<String>, entries: &[AccessEntry]) -> Vec<String> {
    let mut last = prev;
    entries
        .iter()
        .map(|e| {
            let h = access_hash(last.as_deref(), e);
            last = Some(h.clone());
            h
        })
        .collect()
}

/// One row of the access log with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedAccess {
    pub id: i64,
    pub entry: AccessEntry,
    /// `None` for rows written before the chain began.
    pub hash: Option<String>,
}

/// Which part of the access log to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessQuery {
    /// The organisation that oversees it: what its own people did, and every view of its
    /// residents (the municipality they live in) or their cases. `None`: all of it.
    pub organisation: Option<String>,
    pub case_id: Option<String>,
    /// From this moment, up to (not including) `to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
    pub offset: u32,
}

/// Which tasks a person's work list holds: the open tasks assigned to them and the open,
/// unassigned tasks of their teams, narrowed by the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkFilter {
    pub user: String,
    pub teams: Vec<String>,
    /// Only work on cases this organisation may see (the chain's rule).
    pub organisation: Option<super::chain::OrgFilter>,
    /// My tasks, my teams' unassigned ones (the werkvoorraad), or both.
    pub scope: WorkScope,
    pub role: Option<String>,
    pub pathway: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    /// Rows to skip (paging).
    pub offset: u32,
    pub limit: u32,
}

/// Which open work a list holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkScope {
    /// Tasks assigned to me and my teams' unassigned tasks.
    #[default]
    All,
    /// Tasks assigned to me ("Mijn taken").
    Mine,
    /// My teams' unassigned tasks ("Werkvoorraad").
    Team,
}

impl WorkScope {
    pub fn includes_mine(self) -> bool {
        matches!(self, WorkScope::All | WorkScope::Mine)
    }

    pub fn includes_team(self) -> bool {
        matches!(self, WorkScope::All | WorkScope::Team)
    }
}

/// A case in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    pub id: String,
    pub pathway_key: String,
    pub pathway_version: u32,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resident_id: Option<String>,
}

/// People with accounts, their API tokens and sessions, and the access log.
#[async_trait::async_trait]
pub trait People: Send + Sync {
    /// Adds a user; [`StoreError::UserExists`](super::StoreError::UserExists) when the
    /// login name is taken.
    async fn add_user(&self, user: &User) -> Result<()>;

    async fn user(&self, id: &str) -> Result<Option<User>>;

    async fn users(&self) -> Result<Vec<User>>;

    /// Replaces a user's password hash and, in the same transaction, ends every session of
    /// the account and revokes its API tokens;
    /// [`StoreError::UnknownUser`](super::StoreError::UnknownUser) when there is no such user.
    async fn set_password(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<()>;

    /// Stores the SHA-256 (hex) of a new API token for a user, valid until `expires_at`
    /// (forever when `None`).
    async fn add_api_token(
        &self,
        token_hash: &str,
        user_id: &str,
        label: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<()>;

    /// The active user an API token (by its SHA-256, hex) belongs to, unless the token
    /// was revoked or has expired at `now`.
    async fn user_by_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>>;

    /// API tokens (never the tokens themselves), of one user or of all, newest first.
    async fn api_tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>>;

    /// Revokes the token whose id ([`ApiToken::id`]) is `id`; `false` when there is no
    /// such token or it was revoked already.
    async fn revoke_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool>;

    /// Inserts a new session; `false` when the id is already taken.
    async fn session_insert(&self, id: &str, data: &str, expires_at: DateTime<Utc>) -> Result<bool>;

    /// Writes a session (insert or replace).
    async fn session_save(&self, id: &str, data: &str, expires_at: DateTime<Utc>) -> Result<()>;

    /// A session's data unless it has expired at `now`.
    async fn session_load(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>>;

    async fn session_delete(&self, id: &str) -> Result<()>;

    /// Removes sessions expired at `now`; returns how many.
    async fn sessions_purge(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Appends rows to the access log in one transaction.
    async fn log_access(&self, entries: &[AccessEntry]) -> Result<()>;

    /// Up to `limit` access-log rows after row `after`, in the order they were written.
    async fn access_chain(&self, after: i64, limit: u32) -> Result<Vec<ChainedAccess>>;

    /// The access log, newest first, for one case or for all.
    async fn access_log(&self, case_id: Option<&str>, limit: u32) -> Result<Vec<AccessEntry>>;

    /// A page of the access log, newest first, narrowed by [`AccessQuery`].
    async fn access_log_page(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>>;

    /// Who viewed a resident: their page, their cases, searches that showed them; newest first.
    async fn resident_access_log(
        &self,
        resident_id: &str,
        reference: &str,
        limit: u32,
    ) -> Result<Vec<AccessEntry>>;
}

/// Columns of a user row, decoded by `user_row` (the same SQL on both backends).
pub(crate) const USER_COLUMNS: &str = "SELECT id, display_name, role, CAST(teams AS TEXT), email, organisation, \
     password_hash, active, created_at, (SELECT o.kind FROM organisations o WHERE o.id = users.organisation) FROM users";

/// The people, token, session and access-log methods of [`Store`](super::Store), written
/// once for both backends. The SQL is the same on both (`$N` parameters, portable casts);
/// what differs is supplied by the module that expands the macro: `self.readers` (the
/// read pool), `self.write_conn()` (where writes go: SQLite's one writer, a PostgreSQL
/// pool connection), `ts` (a time as the backend binds it) and `time_col`/`opt_time_col`
/// (a time as it reads it).
macro_rules! people_impl {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl super::people::People for $store {
        async fn add_user(&self, user: &User) -> Result<()> {
            let mut conn = self.write_conn().await?;
            insert_user(&mut conn, user).await
        }

        async fn log_access(&self, entries: &[AccessEntry]) -> Result<()> {
            if entries.is_empty() {
                return Ok(());
            }
            insert_access(self, entries).await
        }

        async fn access_chain(&self, after: i64, limit: u32) -> Result<Vec<super::people::ChainedAccess>> {
            let rows = sqlx::query(
                "SELECT id, at, user_id, case_id, purpose, resident_id, detail, hash FROM access_log
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(super::people::ChainedAccess {
                        id: r.try_get(0)?,
                        entry: AccessEntry {
                            at: time_col(r, 1, "access time")?,
                            user_id: r.try_get(2)?,
                            case_id: r.try_get(3)?,
                            purpose: r.try_get(4)?,
                            resident_id: r.try_get(5)?,
                            detail: r.try_get(6)?,
                        },
                        hash: r.try_get(7)?,
                    })
                })
                .collect()
        }

        async fn user(&self, id: &str) -> Result<Option<User>> {
            let row = sqlx::query(&format!("{} WHERE id = $1", super::people::USER_COLUMNS))
                .bind(id)
                .fetch_optional(&self.readers)
                .await?;
            row.as_ref().map(user_row).transpose()
        }

        async fn users(&self) -> Result<Vec<User>> {
            let rows = sqlx::query(&format!("{} ORDER BY id", super::people::USER_COLUMNS))
                .fetch_all(&self.readers)
                .await?;
            rows.iter().map(user_row).collect()
        }

        async fn set_password(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<()> {
            let mut conn = self.write_conn().await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::UnknownUser { id: id.to_owned() });
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(ts(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn add_api_token(
            &self,
            token_hash: &str,
            user_id: &str,
            label: &str,
            now: DateTime<Utc>,
            expires_at: Option<DateTime<Utc>>,
        ) -> Result<()> {
            let mut conn = self.write_conn().await?;
            let inserted = sqlx::query(
                "INSERT INTO api_tokens (token_hash, user_id, label, created_at, expires_at)
                 SELECT $1, id, $2, $3, $4 FROM users WHERE id = $5",
            )
            .bind(token_hash)
            .bind(label)
            .bind(ts(now))
            .bind(expires_at.map(ts))
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::UnknownUser {
                    id: user_id.to_owned(),
                });
            }
            Ok(())
        }

        async fn user_by_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>> {
            let row = sqlx::query(&format!(
                "{} WHERE active AND id = (SELECT user_id FROM api_tokens WHERE token_hash = $1
                    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2))",
                super::people::USER_COLUMNS
            ))
            .bind(token_hash)
            .bind(ts(now))
            .fetch_optional(&self.readers)
            .await?;
            row.as_ref().map(user_row).transpose()
        }

        async fn api_tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>> {
            let rows = sqlx::query(
                "SELECT token_hash, user_id, label, created_at, expires_at, revoked_at FROM api_tokens
                 WHERE CAST($1 AS TEXT) IS NULL OR user_id = $1 ORDER BY created_at DESC, token_hash",
            )
            .bind(user_id)
            .fetch_all(&self.readers)
            .await?;
            rows.iter()
                .map(|r| {
                    let hash: String = r.try_get(0)?;
                    Ok(ApiToken {
                        id: hash.chars().take(ApiToken::ID_LEN).collect(),
                        user_id: r.try_get(1)?,
                        label: r.try_get(2)?,
                        created_at: time_col(r, 3, "token time")?,
                        expires_at: opt_time_col(r, 4, "token time")?,
                        revoked_at: opt_time_col(r, 5, "token time")?,
                    })
                })
                .collect()
        }

        async fn revoke_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
            if id.len() != ApiToken::ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(false);
            }
            let mut conn = self.write_conn().await?;
            let revoked = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE substr(token_hash, 1, 12) = $2 AND revoked_at IS NULL",
            )
            .bind(ts(now))
            .bind(id.to_ascii_lowercase())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(revoked > 0)
        }

        async fn session_insert(&self, id: &str, data: &str, expires_at: DateTime<Utc>) -> Result<bool> {
            let mut conn = self.write_conn().await?;
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(data)
            .bind(ts(expires_at))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        }

        async fn session_save(&self, id: &str, data: &str, expires_at: DateTime<Utc>) -> Result<()> {
            let mut conn = self.write_conn().await?;
            sqlx::query(
                "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(id)
            .bind(data)
            .bind(ts(expires_at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn session_load(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
            Ok(
                sqlx::query_scalar("SELECT data FROM sessions WHERE id = $1 AND expires_at > $2")
                    .bind(id)
                    .bind(ts(now))
                    .fetch_optional(&self.readers)
                    .await?,
            )
        }

        async fn session_delete(&self, id: &str) -> Result<()> {
            let mut conn = self.write_conn().await?;
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        async fn sessions_purge(&self, now: DateTime<Utc>) -> Result<u64> {
            let mut conn = self.write_conn().await?;
            Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(ts(now))
                .execute(&mut *conn)
                .await?
                .rows_affected())
        }

        async fn access_log(&self, case_id: Option<&str>, limit: u32) -> Result<Vec<AccessEntry>> {
            let rows = sqlx::query(
                "SELECT at, user_id, case_id, purpose, resident_id, detail FROM access_log
                 WHERE CAST($1 AS TEXT) IS NULL OR case_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(case_id)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
            access_rows(&rows)
        }

        async fn access_log_page(&self, q: &super::people::AccessQuery) -> Result<Vec<AccessEntry>> {
            let rows = sqlx::query(
                "SELECT l.at, l.user_id, l.case_id, l.purpose, l.resident_id, l.detail FROM access_log l
                 WHERE (CAST($2 AS TEXT) IS NULL OR l.case_id = $2)
                   AND (CAST($3 AS TEXT) IS NULL OR l.at >= $3)
                   AND (CAST($4 AS TEXT) IS NULL OR l.at < $4)
                   AND (CAST($1 AS TEXT) IS NULL
                        OR EXISTS (SELECT 1 FROM users u WHERE u.id = l.user_id AND u.organisation = $1)
                        OR EXISTS (SELECT 1 FROM residents r WHERE r.municipality = $1 AND r.id = l.resident_id)
                        OR EXISTS (SELECT 1 FROM cases c JOIN residents r ON r.id = c.resident_id
                                   WHERE c.id = l.case_id AND r.municipality = $1))
                 ORDER BY l.at DESC, l.id DESC LIMIT $5 OFFSET $6",
            )
            .bind(q.organisation.as_deref())
            .bind(q.case_id.as_deref())
            .bind(q.from.map(ts))
            .bind(q.to.map(ts))
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&self.readers)
            .await?;
            access_rows(&rows)
        }

        async fn resident_access_log(&self, resident_id: &str, reference: &str, limit: u32) -> Result<Vec<AccessEntry>> {
            // A search logs the references it showed in its detail ("… gevonden: DL-000042, …").
            let rows = sqlx::query(
                "SELECT at, user_id, case_id, purpose, resident_id, detail FROM access_log
                 WHERE resident_id = $1
                    OR case_id IN (SELECT id FROM cases WHERE resident_id = $1)
                    OR (resident_id IS NULL AND case_id = '' AND detail LIKE $2)
                 ORDER BY at DESC, id DESC LIMIT $3",
            )
            .bind(resident_id)
            .bind(format!("%{reference}%"))
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
            access_rows(&rows)
        }

        }

        fn access_rows(rows: &[$row]) -> Result<Vec<AccessEntry>> {
            rows.iter()
                .map(|r| {
                    Ok(AccessEntry {
                        at: time_col(r, 0, "access time")?,
                        user_id: r.try_get(1)?,
                        case_id: r.try_get(2)?,
                        purpose: r.try_get(3)?,
                        resident_id: r.try_get(4)?,
                        detail: r.try_get(5)?,
                    })
                })
                .collect()
        }
    };
}
pub(crate) use people_impl;

/// Inserts a user on a backend's connection (or inside a caller's transaction, so that
/// the user and what belongs to it land together);
/// [`StoreError::UserExists`](super::StoreError::UserExists) when the login name is taken.
macro_rules! insert_user_fn {
    ($conn:ty) => {
        async fn insert_user(conn: &mut $conn, user: &User) -> Result<()> {
            let known: Option<String> = sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
                .bind(&user.organisation)
                .fetch_optional(&mut *conn)
                .await?;
            if known.is_none() {
                return Err(StoreError::UnknownOrganisation {
                    id: user.organisation.clone(),
                });
            }
            let teams = serde_json::to_string(&user.teams).map_err(|e| corrupt("user teams", e))?;
            let inserted = sqlx::query(&format!(
                "INSERT INTO users (id, display_name, role, teams, email, organisation, password_hash, active, created_at)
                 VALUES ($1, $2, $3, $4{JSONB}, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(&user.id)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(teams)
            .bind(&user.email)
            .bind(&user.organisation)
            .bind(&user.password_hash)
            .bind(user.active)
            .bind(ts(user.created_at))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::UserExists { id: user.id.clone() });
            }
            Ok(())
        }
    };
}
pub(crate) use insert_user_fn;

/// Decodes a user row selected with [`USER_COLUMNS`]; expanded in each backend module for
/// its row type and time decoding.
macro_rules! user_row_fn {
    ($row:ty) => {
        fn user_row(r: &$row) -> Result<User> {
            let role: String = r.try_get(2)?;
            Ok(User {
                id: r.try_get(0)?,
                display_name: r.try_get(1)?,
                role: UserRole::parse(&role).ok_or_else(|| corrupt("user role", &role))?,
                teams: serde_json::from_str(&r.try_get::<String, _>(3)?)
                    .map_err(|e| corrupt("user teams", e))?,
                email: r.try_get(4)?,
                organisation: r.try_get(5)?,
                password_hash: r.try_get(6)?,
                active: r.try_get(7)?,
                created_at: time_col(r, 8, "user time")?,
                organisation_kind: r
                    .try_get::<Option<String>, _>(9)?
                    .and_then(|k| crate::chain::OrganisationKind::parse(&k)),
            })
        }
    };
}
pub(crate) use user_row_fn;
