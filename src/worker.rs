//! `doorloop worker`: the scheduler and the notifiers without the web server.

use std::sync::Arc;
use std::time::Duration;

use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::{Schedule, Scheduler};
use doorloop_notifiers::Notifier;

pub struct Options {
    pub notifier: Notifier,
    pub schedules: Vec<Schedule>,
    pub lease_seconds: i64,
    pub batch: u32,
    pub idle: Duration,
    pub until_idle: bool,
    pub claim_pause: Duration,
}

pub async fn run(engine: Arc<Engine>, options: Options) -> anyhow::Result<()> {
    let owner = format!("{}-{}", hostname(), std::process::id());
    let clock = engine.clock().clone();
    let mut scheduler = Scheduler::new(engine, clock, owner, options.schedules);
    scheduler.lease = chrono::Duration::seconds(options.lease_seconds.max(1));
    scheduler.batch = options.batch.max(1);
    tracing::info!(owner = scheduler.owner(), "worker started");
    if options.until_idle || !options.claim_pause.is_zero() {
        loop {
            let due = scheduler.claim().await?;
            if due.is_empty() {
                break;
            }
            if !options.claim_pause.is_zero() {
                tokio::time::sleep(options.claim_pause).await;
            }
            let report = scheduler.fire(due).await;
            eprintln!(
                "claimed={} fired={} failed={}",
                report.claimed, report.fired, report.failed
            );
            if !options.until_idle && options.claim_pause.is_zero() {
                break;
            }
        }
        if options.until_idle {
            let report = options.notifier.drain(10_000).await?;
            eprintln!(
                "messages: sent={} retrying={} dead={}",
                report.sent, report.retrying, report.dead
            );
        }
        return Ok(());
    }
    let notifier = options.notifier;
    tokio::join!(
        scheduler.run(options.idle, shutdown_signal()),
        notifier.run(options.idle, shutdown_signal())
    );
    tracing::info!("worker stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "doorloop".into())
}
