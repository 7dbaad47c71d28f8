//! Delivers the outbox: e-mail over SMTP (with calendar invites for joint visits),
//! signed webhooks, and a log channel for development.
//!
//! The engine writes *intents* into the outbox in the same transaction as the state change
//! that causes them. A [`Notifier`] claims them with a lease, expands each into one
//! *delivery* per recipient and channel (with the whitelisted message data frozen in the
//! row), and sends the deliveries with retries, backoff and a dead-letter state.
//!
//! Guarantee: every row is claimed, and the attempt recorded, before anything is sent; a
//! row marked sent is never sent again. A worker that dies between the SMTP server's
//! acceptance and the database's "sent" mark leaves the row in flight; when its lease
//! expires the row is sent again with the same Message-ID (and webhook delivery id), by
//! which the receiving side recognises the repeat. No channel can be asked afterwards
//! whether it accepted a message, so this window — milliseconds — cannot be closed
//! entirely; outside it, each message is delivered exactly once.

mod compose;
mod config;
mod email;
mod ics;
mod templates;
mod webhook;
mod worker;

pub use compose::Composer;
pub use config::{Config, ConfigError, Webhook};
pub use email::EmailChannel;
pub use ics::visit_invite;
pub use templates::{Rendered, Templates, kinds};
pub use webhook::{WebhookChannel, sign};
pub use worker::{Notifier, PassReport};

use doorloop_engine::engine::EngineError;
use doorloop_engine::store::StoreError;

/// Why notifying failed (as opposed to one message failing, which is retried).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("message template `{name}` failed: {message}")]
    Template { name: String, message: String },
    #[error("outbox row {id} cannot be sent: {message}")]
    BadRow { id: i64, message: String },
    /// Marking what was sent panicked (a bug); the pass's sends were let finish.
    #[error("the notifier panicked while marking messages sent: {0}")]
    Panicked(String),
}

/// One attempt at one message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Retrying cannot help (address refused, 4xx from a webhook).
    pub permanent: bool,
    pub message: String,
}
