//! The delivery worker: claims outbox rows with a lease, expands intents, sends
//! deliveries concurrently and records each outcome.

use doorloop_engine::failpoint;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::Clock;
use doorloop_engine::store::{Attempt, NewDelivery, OutboxItem};
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};

use crate::compose::{Composer, People};
use crate::config::Config;
use crate::email::EmailChannel;
use crate::templates::Templates;
use crate::webhook::WebhookChannel;
use crate::{NotifyError, SendError};

/// Deliveries marked in one write at most, when that many finish at the same moment.
const MARK_AT_ONCE: usize = 64;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub claimed: usize,
    pub expanded: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

impl PassReport {
    fn add(&mut self, other: &PassReport) {
        self.claimed += other.claimed;
        self.expanded += other.expanded;
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.dead += other.dead;
    }
}

/// The notifier of one process.
pub struct Notifier {
    engine: Arc<Engine>,
    config: Config,
    clock: Arc<dyn Clock>,
    owner: String,
    composer: Composer,
    templates: Templates,
    email: Option<EmailChannel>,
    webhook: Option<WebhookChannel>,
}

impl Notifier {
    pub fn new(
        engine: Arc<Engine>,
        config: Config,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
    ) -> Result<Notifier, NotifyError> {
        let email = config
            .smtp_url
            .as_deref()
            .map(|url| {
                let connections = u32::try_from(config.concurrency).unwrap_or(u32::MAX);
                EmailChannel::new(url, &config.from, config.timeout, connections)
            })
            .transpose()?;
        let webhook = config
            .webhook
            .as_ref()
            .map(|w| WebhookChannel::new(w, config.timeout))
            .transpose()?;
        let from_address = match &email {
            Some(e) => e.from_address(),
            None => config
                .from
                .rsplit('<')
                .next()
                .unwrap_or(&config.from)
                .trim_end_matches('>')
                .to_owned(),
        };
        Ok(Notifier {
            composer: Composer::new(engine.clone(), config.clone(), email.is_some(), from_address),
            templates: Templates::new()?,
            engine,
            config,
            clock,
            owner: owner.into(),
            email,
            webhook,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One pass: claim a batch, expand its intents, send its deliveries.
    #[tracing::instrument(name = "notifier_pass", skip_all, fields(owner = %self.owner))]
    pub async fn pass(&self) -> Result<PassReport, NotifyError> {
        let store = self.engine.store();
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::minutes(2));
        let items = store
            .claim_outbox(&self.owner, now, now + lease, self.config.batch)
            .await?;
        // Claimed but not sent: the leases run out and another pass takes the rows.
        failpoint::hit("outbox_claim").map_err(failpoint::fault)?;
        let mut report = PassReport {
            claimed: items.len(),
            ..PassReport::default()
        };
        let (intents, deliveries): (Vec<OutboxItem>, Vec<OutboxItem>) =
            items.into_iter().partition(|i| i.is_intent());
        let mut outcomes: Vec<(i64, Attempt)> = Vec::new();
        let people = if intents.is_empty() {
            None
        } else {
            Some(People::new(store.users().await?))
        };
        let mut expansions = Vec::with_capacity(intents.len());
        if let Some(people) = &people {
            // Prepared concurrently: each reads the store, and the readers are a pool.
            let intents = &intents;
            let prepared: Vec<(usize, Result<Vec<NewDelivery>, NotifyError>)> =
                futures_util::stream::iter(0..intents.len())
                    .map(|i| async move { (i, self.composer.expand(&intents[i], people, now).await) })
                    .buffered(self.config.concurrency.max(1))
                    .collect()
                    .await;
            for (i, result) in prepared {
                let intent = &intents[i];
                match result {
                    Ok(d) => expansions.push((intent.id, d)),
                    Err(e) => {
                        tracing::warn!(id = intent.id, kind = %intent.kind, error = %e, "message could not be prepared");
                        let permanent = matches!(e, NotifyError::BadRow { .. });
                        outcomes.push((
                            intent.id,
                            self.failed(
                                intent,
                                SendError {
                                    permanent,
                                    message: e.to_string(),
                                },
                                now,
                            ),
                        ));
                    }
                }
            }
        }
        if !expansions.is_empty() {
            report.expanded = store.expand_intents(&self.owner, &expansions, now).await?;
        }
        // Each delivery is marked as soon as it is done (those done at the same moment in
        // one write), not at the end of the pass: a crash mid-pass sends again only what
        // was in flight or not yet marked, not everything the pass had sent.
        let mut done = futures_util::stream::iter(deliveries)
            .map(|d: OutboxItem| async move {
                let outcome = match self.deliver(&d).await {
                    Ok(()) => Attempt::Sent,
                    Err(e) => {
                        tracing::warn!(id = d.id, kind = %d.kind, channel = ?d.channel, attempt = d.attempts, error = %e, "delivery failed");
                        self.failed(&d, e, self.clock.now())
                    }
                };
                (d.id, outcome)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .ready_chunks(MARK_AT_ONCE);
        // A mark that fails (or panics) does not cut off the sends still in flight: a send
        // dropped halfway through its SMTP transaction would leave its pooled connection
        // unusable. They finish; what could not be marked goes out again after its lease.
        let mut failure = None;
        // The lease is renewed at a third of its term while the pass runs, so a slow pass
        // (a slow mail server, a large batch) keeps the rows it has not sent yet.
        let mut renew = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config.lease / 3,
            (self.config.lease / 3).max(StdDuration::from_millis(10)),
        );
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let chunk = tokio::select! {
                chunk = done.next() => chunk,
                _ = renew.tick() => {
                    self.renew_leases(lease).await;
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            outcomes.extend(chunk);
            // Between the server's 250 and the "sent" mark: the rows go out again after
            // their lease, under the same Message-ID, so a receiver can tell the copy.
            let marked = failpoint::survive(async {
                failpoint::hit("outbox_after_send").map_err(failpoint::fault)?;
                self.finish(&outcomes, &mut report).await
            })
            .await
            .unwrap_or_else(|panic| Err(NotifyError::Panicked(panic)));
            // Each chunk is tried: a mark that failed once may work the next time.
            failure = failure.or(marked.err());
            outcomes.clear();
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if !outcomes.is_empty() {
            self.finish(&outcomes, &mut report).await?;
        }
        Ok(report)
    }

    /// Extends the lease of the rows this pass still holds. A renewal that fails (or
    /// panics) is logged and the pass goes on: at worst the lease runs out and a row goes
    /// out again, under the same Message-ID.
    async fn renew_leases(&self, lease: chrono::Duration) {
        let renewed = failpoint::survive(async {
            failpoint::hit("outbox_lease_renewal").map_err(failpoint::fault)?;
            let until = self.clock.now() + lease;
            self.engine.store().renew_outbox_leases(&self.owner, until).await
        })
        .await;
        match renewed {
            Ok(Ok(n)) => tracing::debug!(rows = n, "outbox leases renewed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "outbox leases not renewed"),
            Err(panic) => tracing::error!(panic = %panic, "outbox lease renewal panicked"),
        }
    }

    /// Marks attempts sent, to be retried or dead, and counts them.
    async fn finish(&self, outcomes: &[(i64, Attempt)], report: &mut PassReport) -> Result<(), NotifyError> {
        for (_, o) in outcomes {
            match o {
                Attempt::Sent => report.sent += 1,
                Attempt::Retry { .. } => report.retrying += 1,
                Attempt::Dead { .. } => report.dead += 1,
            }
        }
        self.engine
            .store()
            .finish_attempts(&self.owner, outcomes, self.clock.now())
            .await?;
        Ok(())
    }

    fn failed(&self, item: &OutboxItem, e: SendError, now: DateTime<Utc>) -> Attempt {
        if e.permanent || item.attempts >= self.config.max_attempts {
            Attempt::Dead { error: e.message }
        } else {
            let wait = self
                .config
                .backoff_after(item.attempts, rand::rngs::StdRng::from_os_rng().random::<f64>());
            Attempt::Retry {
                at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1)),
                error: e.message,
            }
        }
    }

    /// Sends one delivery over its channel.
    async fn deliver(&self, d: &OutboxItem) -> Result<(), SendError> {
        let fail = |message: String| SendError {
            permanent: true,
            message,
        };
        let payload = d
            .payload
            .as_ref()
            .ok_or_else(|| fail("the row has no message data".into()))?;
        match d.channel.as_deref() {
            Some("webhook") => {
                let webhook = self.webhook.as_ref().ok_or_else(|| SendError {
                    permanent: false,
                    message: "no webhook is configured (--webhook-url)".into(),
                })?;
                webhook
                    .send(
                        payload.get("body").unwrap_or(payload),
                        &d.key,
                        self.clock.now().timestamp(),
                    )
                    .await
            }
            Some(channel @ ("email" | "log")) => {
                let context = payload
                    .get("context")
                    .ok_or_else(|| fail("the row has no message".into()))?;
                let subject = payload.get("subject").and_then(|s| s.as_str());
                let rendered = self
                    .templates
                    .render(&d.kind, context, subject)
                    .map_err(|e| fail(e.to_string()))?;
                if channel == "log" {
                    tracing::info!(id = d.id, kind = %d.kind, "message (log channel, no SMTP server configured)");
                    return Ok(());
                }
                let email = self.email.as_ref().ok_or_else(|| SendError {
                    permanent: false,
                    message: "no SMTP server is configured (--smtp-url)".into(),
                })?;
                let to = payload
                    .get("to")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| fail("the row has no address".into()))?;
                let invite = payload.get("ics").and_then(|i| i.as_str()).map(|ics| {
                    let cancel = payload
                        .get("cancel")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false);
                    (ics, cancel)
                });
                let message_id = d
                    .message_id
                    .as_deref()
                    .ok_or_else(|| fail("the row has no Message-ID".into()))?;
                let message = email.build(to, &rendered, invite, message_id, &d.key)?;
                email.send(message).await
            }
            other => Err(fail(format!("unknown channel {other:?}"))),
        }
    }

    /// Passes until nothing is due; rows waiting for a retry later stay. For the CLI and
    /// tests. Gives up after `limit` passes.
    pub async fn drain(&self, limit: usize) -> Result<PassReport, NotifyError> {
        let mut total = PassReport::default();
        for _ in 0..limit {
            let r = self.pass().await?;
            total.add(&r);
            if r.claimed == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// Runs until `shutdown` resolves, waiting `idle` between passes that found nothing.
    pub async fn run(&self, idle: StdDuration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = doorloop_engine::scheduler::Backoff::new(idle);
        loop {
            let pass = tokio::select! {
                _ = &mut shutdown => return,
                r = failpoint::survive(self.pass()) => r.unwrap_or_else(|panic| {
                    tracing::error!(panic = %panic, "notifier pass panicked");
                    Ok(PassReport::default())
                }),
            };
            let busy = match pass {
                Ok(r) => {
                    backoff.succeeded();
                    if r.claimed > 0 {
                        tracing::info!(
                            claimed = r.claimed,
                            expanded = r.expanded,
                            sent = r.sent,
                            retrying = r.retrying,
                            dead = r.dead,
                            "notifier pass"
                        );
                    }
                    r.claimed > 0
                }
                Err(e) => {
                    let wait = backoff.failed();
                    tracing::error!(error = %e, failures = backoff.failures(), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "notifier pass failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff.wait()) => {}
                }
            }
        }
    }
}
