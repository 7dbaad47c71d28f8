//! People who use Doorloop, their sessions and API tokens, and the access log.

use chrono::{DateTime, Utc};
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
}

impl UserRole {
    pub const ALL: [UserRole; 4] = [
        UserRole::Coordinator,
        UserRole::Consultant,
        UserRole::Manager,
        UserRole::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            UserRole::Coordinator => "coordinator",
            UserRole::Consultant => "consultant",
            UserRole::Manager => "manager",
            UserRole::Admin => "admin",
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
    pub organisation: String,
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

/// One row of the access log: who saw which case, when, on which screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    pub user_id: String,
    pub case_id: String,
    pub purpose: String,
}

/// Which tasks a person's work list holds: the open tasks assigned to them and the open,
/// unassigned tasks of their teams, narrowed by the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkFilter {
    pub user: String,
    pub teams: Vec<String>,
    pub role: Option<String>,
    pub pathway: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    /// Rows to skip (paging).
    pub offset: u32,
    pub limit: u32,
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
}
