//! Webhooks: each event POSTed as JSON, signed with HMAC-SHA256 over
//! `{timestamp}.{body}` with the shared secret.
//!
//! Headers: `X-Doorloop-Timestamp` (Unix seconds), `X-Doorloop-Signature: sha256=<hex>`,
//! `X-Doorloop-Delivery` (the outbox key, the same on every retry, for de-duplication).

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::SendError;
use crate::config::{ConfigError, Webhook};

/// A receiver of webhook calls.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: SecretString,
}

/// The signature header value for a body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookChannel {
    pub fn new(webhook: &Webhook, timeout: Duration) -> Result<WebhookChannel, ConfigError> {
        let bad = |message: String| ConfigError::Webhook {
            url: webhook.url.clone(),
            message,
        };
        let url = reqwest::Url::parse(&webhook.url).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only http and https are supported".into()));
        }
        if webhook.secret.expose_secret().chars().count() < 16 {
            return Err(ConfigError::WeakSecret);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(WebhookChannel {
            client,
            url,
            secret: webhook.secret.clone(),
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs one event. A 2xx answer is delivery; 4xx other than 408 and 429 is permanent
    /// (the receiver refuses this event); 5xx, 408, 429 and network errors are retried.
    pub async fn send(&self, body: &serde_json::Value, key: &str, now: i64) -> Result<(), SendError> {
        let body = serde_json::to_vec(body).map_err(|e| SendError {
            permanent: true,
            message: e.to_string(),
        })?;
        let signature = sign(self.secret.expose_secret(), now, &body);
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-doorloop-timestamp", now.to_string())
            .header("x-doorloop-signature", signature)
            .header("x-doorloop-delivery", key)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError {
                permanent: false,
                message: format!("webhook: {}", without_url(&e)),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        Err(SendError {
            permanent: status.is_client_error() && code != 408 && code != 429,
            message: format!("webhook answered {status}"),
        })
    }
}

/// reqwest errors name the URL, which may hold a token; the channel's URL is known anyway.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<webhook>");
    }
    if e.is_timeout() {
        return format!("timed out ({text})");
    }
    if e.is_connect() {
        return format!("cannot connect ({text})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_and_body() {
        // Computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'geheim-geheim-16'
        let s = sign("geheim-geheim-16", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "sha256=6f88b34c3c4759352b91bc108d708218fcb25cba57605908c7d2ed148e9364e9"
        );
        assert_ne!(s, sign("geheim-geheim-17", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(s, sign("geheim-geheim-16", 1_700_000_001, br#"{"a":1}"#));
    }

    #[test]
    fn the_secret_never_prints() {
        let w = Webhook {
            url: "https://zaaksysteem.example/hook".into(),
            secret: SecretString::from("een-heel-geheim-gedeeld-woord".to_owned()),
        };
        let shown = format!("{w:?}");
        assert!(!shown.contains("geheim"), "{shown}");
        assert!(shown.contains("zaaksysteem.example"), "{shown}");
    }

    #[test]
    fn bad_webhooks_are_refused_with_a_reason() {
        let w = |url: &str, secret: &str| {
            WebhookChannel::new(
                &Webhook {
                    url: url.into(),
                    secret: SecretString::from(secret.to_owned()),
                },
                Duration::from_secs(1),
            )
            .err()
            .map(|e| e.to_string())
        };
        assert!(w("ftp://x", "0123456789abcdef").is_some_and(|e| e.contains("http")));
        assert!(w("http://x", "kort").is_some_and(|e| e.contains("16")));
        assert!(w("http://127.0.0.1:9/hook", "0123456789abcdef").is_none());
    }
}
