//! Notifier settings and the `notify`, `digest` and `outbox` commands.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::Args;
use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::{Clock, ManualClock, Scheduler, SystemClock};
use secrecy::ExposeSecret;

use crate::config::Settings;
use doorloop_engine::store::{Broadcast, RetryOutcome};
use doorloop_notifiers::{Config, Notifier, Webhook};

/// Where messages go: flags and environment over `[mail]`, `[webhook]` and `[notifier]` in
/// the configuration file. Without an SMTP server messages are written to the log.
#[derive(Debug, Clone, Args)]
pub struct NotifyOpts {
    /// SMTP server: smtp://HOST:PORT (add ?tls=required for STARTTLS), smtps://HOST:PORT
    /// for TLS, user:password@ before the host for authentication.
    #[arg(long, global = true, env = "DOORLOOP_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of e-mail (default `Doorloop <doorloop@localhost>`).
    #[arg(long, global = true, env = "DOORLOOP_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Every event is POSTed here as signed JSON.
    #[arg(long, global = true, env = "DOORLOOP_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Shared secret for the webhook signature (HMAC-SHA256), at least 16 characters.
    #[arg(long, global = true, env = "DOORLOOP_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Address of the web admin as users reach it; links in messages start here.
    #[arg(long, global = true, env = "DOORLOOP_BASE_URL")]
    pub base_url: Option<String>,
    /// Attempts per message before it goes to `dead` (default 8).
    #[arg(long, global = true)]
    pub notify_max_attempts: Option<u32>,
    /// Wait before the second attempt, in milliseconds; doubles with each further one
    /// (default 30000).
    #[arg(long, global = true)]
    pub notify_backoff_ms: Option<u64>,
    /// How long a claimed message stays with this process (default 120).
    #[arg(long, global = true)]
    pub notify_lease_seconds: Option<u64>,
    /// Messages in flight at once, and SMTP connections kept open (default 32).
    #[arg(long, global = true)]
    pub notify_concurrency: Option<usize>,
}

/// The notifier's settings from the effective configuration.
pub fn notifier_config(settings: &Settings, default_base_url: &str) -> anyhow::Result<Config> {
    let backoff = Duration::from_millis(settings.notifier.backoff_ms);
    Ok(Config {
        smtp_url: settings
            .mail
            .smtp_url
            .as_ref()
            .map(|u| u.expose_secret().to_owned()),
        from: settings.mail.from.clone(),
        webhook: settings.webhook.as_ref().map(|w| Webhook {
            url: w.url.clone(),
            secret: w.secret.clone(),
        }),
        base_url: settings
            .web
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url.to_owned()),
        max_attempts: settings.notifier.max_attempts.max(1),
        backoff,
        max_backoff: Duration::from_secs(3600).max(backoff),
        lease: Duration::from_secs(settings.notifier.lease_seconds.max(1)),
        concurrency: settings.notifier.concurrency.max(1),
        ..Config::default()
    })
}

pub fn notifier(
    settings: &Settings,
    engine: Arc<Engine>,
    default_base_url: &str,
    owner: &str,
) -> anyhow::Result<Notifier> {
    notifier_at(settings, engine, default_base_url, owner, Arc::new(SystemClock))
}

fn notifier_at(
    settings: &Settings,
    engine: Arc<Engine>,
    default_base_url: &str,
    owner: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Notifier> {
    let config = notifier_config(settings, default_base_url)?;
    if config.smtp_url.is_none() {
        tracing::warn!("no SMTP server configured (--smtp-url or [mail] smtp_url): messages go to the log");
    }
    Ok(Notifier::new(engine, config, clock, owner)?)
}

pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// `doorloop notify test --to ADDRESS`: one test message, sent now.
pub async fn test(engine: Arc<Engine>, settings: &Settings, to: &str) -> anyhow::Result<bool> {
    if settings.mail.smtp_url.is_none() {
        bail!("no SMTP server configured: give --smtp-url smtp://HOST:PORT or set DOORLOOP_SMTP_URL");
    }
    if !to.contains('@') {
        bail!("`{to}` is not an e-mail address");
    }
    let notifier = notifier(settings, engine.clone(), DEFAULT_BASE_URL, &owner("notify"))?;
    let key = format!("test:{}:{}", to, uuid::Uuid::now_v7());
    engine
        .store()
        .enqueue(
            &[Broadcast {
                key: key.clone(),
                kind: "test".into(),
                recipient_type: "address".into(),
                recipient: to.to_owned(),
            }],
            Utc::now(),
        )
        .await?;
    notifier.drain(10).await?;
    let rows = engine.store().outbox_items(None, 50).await?;
    let Some(row) = rows.iter().find(|r| r.parent.as_deref() == Some(key.as_str())) else {
        bail!("the test message was not prepared");
    };
    match row.status.as_str() {
        "sent" => {
            println!("Testbericht verstuurd naar {to} (outbox {}).", row.id);
            Ok(true)
        }
        _ => {
            println!(
                "Testbericht NIET verstuurd: {} (outbox {}, status {}; opnieuw: doorloop outbox retry {})",
                row.last_error.as_deref().unwrap_or("onbekende fout"),
                row.id,
                row.status,
                row.id
            );
            Ok(false)
        }
    }
}

/// `doorloop digest send`: today's consultant digest, now; a second run the same day
/// sends nothing new. `at` pretends it is another moment (benchmarks).
pub async fn digest_send(engine: Arc<Engine>, settings: &Settings, at: Option<&str>) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match at {
        Some(t) => Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--now `{t}` is not an RFC 3339 moment"))?
                .with_timezone(&Utc),
        )),
        None => Arc::new(SystemClock),
    };
    let started = Instant::now();
    let notifier = notifier_at(
        settings,
        engine.clone(),
        DEFAULT_BASE_URL,
        &owner("digest"),
        clock.clone(),
    )?;
    let scheduler = Scheduler::new(engine.clone(), clock, owner("digest"), settings.schedules()?);
    match scheduler.run_today("consultant-digest").await? {
        Some(n) => println!("Dagoverzicht van vandaag klaargezet voor {n} consulent(en)."),
        None => println!("Het dagoverzicht van vandaag was al verstuurd; er gaat niets nieuws uit."),
    }
    let report = notifier.drain(100_000).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "verzonden={} opnieuw_later={} mislukt={} seconds={seconds:.2} messages_per_s={:.0} peak_rss_mb={}",
        report.sent,
        report.retrying,
        report.dead,
        report.sent as f64 / seconds.max(1e-9),
        peak_rss_mb().map_or_else(|| "?".to_owned(), |m| m.to_string())
    );
    Ok(())
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// `doorloop outbox list`.
pub async fn list(engine: &Engine, status: Option<&str>, limit: u32) -> anyhow::Result<()> {
    if let Some(s) = status
        && !["pending", "sending", "sent", "dead", "expanded"].contains(&s)
    {
        bail!("unknown status `{s}` (known: pending, sending, sent, dead, expanded)");
    }
    let counts = engine.store().outbox_counts(Utc::now()).await?;
    println!(
        "pending={} (due now {}) sending={} sent={} dead={} expanded={}",
        counts.pending, counts.due, counts.sending, counts.sent, counts.dead, counts.expanded
    );
    for r in engine.store().outbox_items(status, limit).await? {
        println!(
            "{:>6}  {:<8} {:<22} {:<8} {:<28} attempts={} {}{}",
            r.id,
            r.status,
            r.kind,
            r.channel.as_deref().unwrap_or("-"),
            format!("{}:{}", r.recipient_type, r.recipient),
            r.attempts,
            r.case_id
                .as_deref()
                .map(|c| format!("case={c} "))
                .unwrap_or_default(),
            r.last_error
                .as_deref()
                .map(|e| format!("error: {e}"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// `doorloop outbox retry ID`.
pub async fn retry(engine: &Engine, id: i64) -> anyhow::Result<()> {
    match engine
        .store()
        .retry_outbox(id, Utc::now())
        .await
        .context("retry")?
    {
        RetryOutcome::Requeued => {
            println!("Outbox {id} staat weer klaar en gaat mee met de volgende ronde van de notifier.");
            Ok(())
        }
        RetryOutcome::AlreadyDone => {
            bail!("outbox row {id} was already delivered (or expanded); nothing to retry")
        }
        RetryOutcome::InFlight => {
            bail!("outbox row {id} is being sent right now; try again when its attempt ends")
        }
        RetryOutcome::NotFound => bail!("there is no outbox row {id}"),
    }
}

pub fn owner(what: &str) -> String {
    format!("{what}-{}", std::process::id())
}
