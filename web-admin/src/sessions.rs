//! Server-side sessions in Doorloop's own database (SQLite or PostgreSQL), for
//! tower-sessions. The cookie carries only the random session id; the database keeps
//! only its SHA-256, so a copy of the database opens no session.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use doorloop_engine::store::{Store, StoreError};
use doorloop_engine::time::clock::Clock;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

#[derive(Clone)]
pub struct DbSessionStore {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// A stored session ends this long after its last write, by the engine's clock.
    idle: chrono::Duration,
}

impl DbSessionStore {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, idle: std::time::Duration) -> DbSessionStore {
        DbSessionStore {
            store,
            clock,
            idle: chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// When a session written now ends (the engine's clock, not the system's).
    fn expiry(&self) -> DateTime<Utc> {
        self.clock
            .now()
            .checked_add_signed(self.idle)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSessionStore").finish_non_exhaustive()
    }
}

/// The key a session is stored under: SHA-256 of its id, hex.
fn key(id: &Id) -> String {
    crate::auth::token_hash(&id.to_string())
}

/// What is stored of a record: its data and expiry, not its id.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    data: std::collections::HashMap<String, serde_json::Value>,
    /// Seconds since the epoch.
    expires: i64,
}

fn encode(record: &Record) -> Result<String> {
    serde_json::to_string(&Stored {
        data: record.data.clone(),
        expires: record.expiry_date.unix_timestamp(),
    })
    .map_err(|e| Error::Encode(e.to_string()))
}

fn decode(id: &Id, data: &str) -> Result<Record> {
    let stored: Stored = serde_json::from_str(data).map_err(|e| Error::Decode(e.to_string()))?;
    Ok(Record {
        id: *id,
        data: stored.data,
        expiry_date: time::OffsetDateTime::from_unix_timestamp(stored.expires)
            .map_err(|e| Error::Decode(e.to_string()))?,
    })
}

/// Marks a session store error as the database being away (see [`is_unavailable`]).
const UNAVAILABLE: &str = "database unavailable";

fn backend(e: StoreError) -> Error {
    if e.is_unavailable() {
        Error::Backend(format!("{UNAVAILABLE}: {e}"))
    } else {
        Error::Backend(e.to_string())
    }
}

/// Whether a session error came from the database being unreachable: the page then says
/// so (503), instead of a fault on our side.
pub(crate) fn is_unavailable(e: &impl fmt::Display) -> bool {
    e.to_string().contains(UNAVAILABLE)
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // Ids are 128 random bits; a collision is retried with a fresh id.
        loop {
            let data = encode(record)?;
            if self
                .store
                .session_insert(&key(&record.id), &data, self.expiry())
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = encode(record)?;
        self.store
            .session_save(&key(&record.id), &data, self.expiry())
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let data = self
            .store
            .session_load(&key(id), self.clock.now())
            .await
            .map_err(backend)?;
        data.map(|d| decode(id, &d)).transpose()
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store.session_delete(&key(id)).await.map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_without_their_id() {
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        };
        record.data.insert("user".into(), serde_json::json!("anna"));
        let data = encode(&record).unwrap();
        assert!(!data.contains(&record.id.to_string()), "{data}");
        let back = decode(&record.id, &data).unwrap();
        assert_eq!(back.id, record.id);
        assert_eq!(back.data, record.data);
        assert_eq!(back.expiry_date, record.expiry_date);
        assert_ne!(key(&record.id), record.id.to_string());
        assert_eq!(key(&record.id).len(), 64);
    }
}
