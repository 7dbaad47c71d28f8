//! `doorloop serve`: engine, scheduler, notifiers and web admin in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::{Schedule, Scheduler, SystemClock};
use doorloop_web::WebConfig;

use crate::{demo, worker};

/// Login through the municipality's identity provider (OpenID Connect).
#[derive(Debug, clap::Args)]
pub struct OidcOpts {
    /// The provider's issuer URL (its discovery document lives under it); turns the
    /// municipal login on.
    #[arg(long, env = "DOORLOOP_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    #[arg(long, env = "DOORLOOP_OIDC_CLIENT_ID", default_value = "doorloop")]
    pub oidc_client_id: String,
    #[arg(long, env = "DOORLOOP_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Where the provider sends users back; default `{base-url}/inloggen/oidc/terug`.
    #[arg(long, env = "DOORLOOP_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// The ID token claim that lists a person's groups.
    #[arg(long, env = "DOORLOOP_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Groups to rights: `group=role[:team]`, comma-separated, e.g.
    /// `wmo=consultant:wmo-consulent,beleid=manager`. A person in none of them gets an
    /// account without rights until an admin gives them a role.
    #[arg(long, env = "DOORLOOP_OIDC_GROUPS", default_value = "")]
    pub oidc_groups: String,
    /// Scopes asked besides `openid`, comma-separated.
    #[arg(long, env = "DOORLOOP_OIDC_SCOPES", default_value = "profile,email")]
    pub oidc_scopes: String,
}

impl OidcOpts {
    pub fn config(&self, base_url: &str) -> anyhow::Result<Option<doorloop_web::oidc::OidcConfig>> {
        let Some(issuer) = self.oidc_issuer.clone().filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let group_map = doorloop_web::oidc::parse_group_map(&self.oidc_groups)
            .map_err(|e| anyhow::anyhow!("--oidc-groups: {e}"))?;
        Ok(Some(doorloop_web::oidc::OidcConfig {
            issuer,
            client_id: self.oidc_client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url: self
                .oidc_redirect_url
                .clone()
                .unwrap_or_else(|| format!("{}/inloggen/oidc/terug", base_url.trim_end_matches('/'))),
            groups_claim: self.oidc_groups_claim.clone(),
            group_map,
            scopes: self
                .oidc_scopes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "openid")
                .map(str::to_owned)
                .collect(),
        }))
    }
}

pub struct Options {
    pub oidc: Option<doorloop_web::oidc::OidcConfig>,
    pub notifier: doorloop_notifiers::Notifier,
    pub listen: SocketAddr,
    pub demo: bool,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub scheduler: bool,
}

pub async fn run(engine: Arc<Engine>, options: Options) -> anyhow::Result<()> {
    if options.demo {
        demo::run(engine.clone(), demo::DEFAULT_PER_PATHWAY, demo::DEFAULT_SEED).await?;
        demo::accounts(&engine).await?;
    }
    let config = WebConfig {
        secure_cookies: options.secure_cookies,
        trusted_proxies: options.trusted_proxies.clone(),
        scheduler_in_process: options.scheduler,
        oidc: options.oidc,
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
