//! Where messages go and how hard to try.

use std::time::Duration;

/// Notifier settings, from the command line or the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `smtp://[user:pass@]host[:port][?tls=required]` (STARTTLS) or `smtps://…` (TLS).
    /// Without it messages go to the log channel.
    pub smtp_url: Option<String>,
    /// Sender, e.g. `Doorloop <doorloop@gemeente.example>`.
    pub from: String,
    pub webhook: Option<Webhook>,
    /// Where the web admin is reached; links in messages start here.
    pub base_url: String,
    /// After this many attempts a row goes to `dead`.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles with each further one, with jitter.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How long a claimed row stays with this worker before another may take it over.
    pub lease: Duration,
    /// Rows claimed per pass.
    pub batch: u32,
    /// Messages in flight at once (and SMTP connections kept open).
    pub concurrency: usize,
    /// Per SMTP conversation or webhook call.
    pub timeout: Duration,
}

/// A webhook: every event is POSTed there as JSON, signed with the shared secret.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    /// Never printed: `Debug` shows it redacted.
    pub secret: secrecy::SecretString,
}

/// Settings that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SMTP URL `{url}` cannot be used: {message}")]
    Smtp { url: String, message: String },
    #[error("sender address `{from}` is not an e-mail address: {message}")]
    From { from: String, message: String },
    #[error("webhook URL `{url}` cannot be used: {message}")]
    Webhook { url: String, message: String },
    #[error("the webhook secret must be at least 16 characters")]
    WeakSecret,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            smtp_url: None,
            from: "Doorloop <doorloop@localhost>".into(),
            webhook: None,
            base_url: "http://127.0.0.1:8080".into(),
            max_attempts: 8,
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(120),
            batch: 500,
            concurrency: 32,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The wait before attempt `attempts + 1`: exponential, capped, with ±25 % jitter so
    /// rows that failed together do not return together.
    pub fn backoff_after(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
            .min(self.max_backoff);
        exp.mul_f64((0.75 + jitter.clamp(0.0, 1.0) * 0.5).max(0.0))
    }

    /// A link into the web admin.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = Config {
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            ..Config::default()
        };
        assert_eq!(c.backoff_after(1, 0.5), Duration::from_secs(10));
        assert_eq!(c.backoff_after(2, 0.5), Duration::from_secs(20));
        assert_eq!(c.backoff_after(3, 0.5), Duration::from_secs(40));
        assert_eq!(c.backoff_after(4, 0.5), Duration::from_secs(60));
        assert_eq!(c.backoff_after(30, 0.5), Duration::from_secs(60));
        assert_eq!(c.backoff_after(1, 0.0), Duration::from_millis(7500));
        assert_eq!(c.backoff_after(1, 1.0), Duration::from_millis(12500));
    }
}
