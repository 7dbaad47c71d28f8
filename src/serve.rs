//! `doorloop serve`: engine, scheduler, notifiers and web admin in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::{Schedule, Scheduler, SystemClock};
use doorloop_web::WebConfig;

use crate::{demo, worker};

pub struct Options {
    pub notifier: doorloop_notifiers::Notifier,
    pub listen: SocketAddr,
    pub demo: bool,
    pub secure_cookies: bool,
    pub scheduler: bool,
}

pub async fn run(engine: Arc<Engine>, options: Options) -> anyhow::Result<()> {
    if options.demo {
        demo::run(engine.clone(), demo::DEFAULT_PER_PATHWAY, demo::DEFAULT_SEED).await?;
        demo::accounts(&engine).await?;
    }
    let config = WebConfig {
        secure_cookies: options.secure_cookies,
        ..WebConfig::default()
    };
    let app = doorloop_web::router(engine.clone(), config)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let bound = listener.local_addr()?;
    println!();
    println!("Doorloop draait op http://{bound}/  (stoppen: Ctrl-C)");
    if options.scheduler {
        let owner = format!("serve-{}", std::process::id());
        let scheduler = Scheduler::new(
            engine.clone(),
            Arc::new(SystemClock),
            owner,
            Schedule::defaults()?,
        );
        tokio::spawn(async move {
            scheduler
                .run(Duration::from_secs(1), worker::shutdown_signal())
                .await;
        });
        let notifier = options.notifier;
        tokio::spawn(async move {
            notifier
                .run(Duration::from_secs(1), worker::shutdown_signal())
                .await;
        });
    }
    doorloop_web::serve(app, listener, worker::shutdown_signal())
        .await
        .context("web server")?;
    tracing::info!("stopped");
    Ok(())
}
