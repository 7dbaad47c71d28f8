//! E-mail over SMTP with lettre: HTML and plain text, and for joint visits an iCalendar
//! part (METHOD:REQUEST or CANCEL) plus the same invitation as an attachment.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::SendError;
use crate::config::ConfigError;
use crate::templates::Rendered;

/// The idempotency key of the outbox row, so a receiver (and our tests) can count.
#[derive(Debug, Clone)]
struct DoorloopKey(String);

impl Header for DoorloopKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Doorloop-Key")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(DoorloopKey(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// An SMTP server to send through.
#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailChannel {
    /// `url`: `smtp://host:port` (plain; add `?tls=required` for STARTTLS),
    /// `smtps://host:port` (TLS), with `user:password@` for authentication.
    ///
    /// `connections`: SMTP connections kept open and used at once. lettre 0.11 does not set
    /// TCP_NODELAY, so each message waits out the peer's delayed ACK (about 40 ms, fixed
    /// upstream in lettre#1159, not yet released); parallel connections hide that wait.
    pub fn new(
        url: &str,
        from: &str,
        timeout: Duration,
        connections: u32,
    ) -> Result<EmailChannel, ConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError::Smtp {
                url: redact(url),
                message: e.to_string(),
            })?
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(connections.max(1)))
            .build();
        let from = from.parse::<Mailbox>().map_err(|e| ConfigError::From {
            from: from.to_owned(),
            message: e.to_string(),
        })?;
        Ok(EmailChannel { transport, from })
    }

    /// The domain Message-IDs are made in.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }

    pub fn from_address(&self) -> String {
        self.from.email.to_string()
    }

    /// Sends one message ([`EmailChannel::build`]). Permanent SMTP errors (5xx) are marked
    /// permanent (as `build` marks unusable addresses); everything else (connection
    /// refused, 4xx, timeouts) may be retried.
    pub async fn send(&self, email: Message) -> Result<(), SendError> {
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError {
                permanent: e.is_permanent(),
                message: format!("SMTP: {e}"),
            }),
        }
    }

    /// The message as it goes out: headers (lettre encodes every value, so no text can
    /// start a header of its own), the plain and HTML parts, the invitation if any.
    pub fn build(
        &self,
        to: &str,
        message: &Rendered,
        invite: Option<(&str, bool)>,
        message_id: &str,
        key: &str,
    ) -> Result<Message, SendError> {
        let to = to.parse::<Mailbox>().map_err(|e| SendError {
            permanent: true,
            message: format!("address cannot be used: {e}"),
        })?;
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(message.text.clone()))
            .singlepart(SinglePart::html(message.html.clone()));
        let body = match invite {
            None => body,
            Some((ics, cancelled)) => {
                let method = if cancelled { "CANCEL" } else { "REQUEST" };
                let calendar = ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                    .map_err(|e| permanent(&e))?;
                let attachment = ContentType::parse("application/ics").map_err(|e| permanent(&e))?;
                let alternative =
                    body.singlepart(SinglePart::builder().header(calendar).body(ics.to_owned()));
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(Attachment::new("uitnodiging.ics".into()).body(ics.to_owned(), attachment))
            }
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(message_id.to_owned()))
            .header(DoorloopKey(key.to_owned()))
            .multipart(body)
            .map_err(|e| permanent(&e))
    }
}

fn permanent(e: &dyn std::fmt::Display) -> SendError {
    SendError {
        permanent: true,
        message: e.to_string(),
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("smtp://user:geheim@mail:587"), "smtp://…@mail:587");
        assert_eq!(redact("smtp://mail:25"), "smtp://mail:25");
    }

    #[tokio::test]
    async fn bad_settings_are_named() {
        let e = EmailChannel::new("http://mail", "x@y.nl", Duration::from_secs(1), 1).err();
        assert!(e.is_some_and(|e| e.to_string().contains("http://mail")));
        let e = EmailChannel::new("smtp://mail:25", "geen adres", Duration::from_secs(1), 1).err();
        assert!(e.is_some_and(|e| e.to_string().contains("geen adres")));
    }
}
