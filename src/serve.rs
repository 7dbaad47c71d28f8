//! `doorloop serve`: engine, scheduler, notifiers and web admin in one process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorloop_engine::engine::Engine;
use doorloop_engine::scheduler::Scheduler;
use doorloop_web::WebConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{OidcSettings, Settings};
use crate::{demo, notify, worker};

/// Login through the municipality's identity provider (OpenID Connect); flags and
/// environment over `[oidc]` in the configuration file.
#[derive(Debug, clap::Args)]
pub struct OidcOpts {
    /// The provider's issuer URL (its discovery document lives under it); turns the
    /// municipal login on.
    #[arg(long, env = "DOORLOOP_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Client id at the provider (default `doorloop`).
    #[arg(long, env = "DOORLOOP_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    #[arg(long, env = "DOORLOOP_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Where the provider sends users back; default `{base-url}/inloggen/oidc/terug`.
    #[arg(long, env = "DOORLOOP_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// The ID token claim that lists a person's groups (default `groups`).
    #[arg(long, env = "DOORLOOP_OIDC_GROUPS_CLAIM")]
    pub oidc_groups_claim: Option<String>,
    /// Groups to rights: `group=role[:team]`, comma-separated, e.g.
    /// `wmo=consultant:wmo-consulent,beleid=manager`. A person in none of them gets an
    /// account without rights until an admin gives them a role.
    #[arg(long, env = "DOORLOOP_OIDC_GROUPS")]
    pub oidc_groups: Option<String>,
    /// The organisation of people whose groups name none (`group=role@organisation` does);
    /// default: the installation's only organisation.
    #[arg(long, env = "DOORLOOP_OIDC_ORGANISATION")]
    pub oidc_organisation: Option<String>,
    /// Scopes asked besides `openid`, comma-separated (default `profile,email`).
    #[arg(long, env = "DOORLOOP_OIDC_SCOPES")]
    pub oidc_scopes: Option<String>,
}

impl OidcOpts {
    /// Lays the flags over the file's `[oidc]`; an issuer turns the section on.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(issuer) = self.oidc_issuer.clone().filter(|i| !i.is_empty()) {
            match &mut settings.oidc {
                Some(o) => o.issuer = issuer,
                None => {
                    settings.oidc = Some(OidcSettings {
                        issuer,
                        client_id: "doorloop".into(),
                        client_secret: None,
                        redirect_url: None,
                        groups_claim: "groups".into(),
                        groups: String::new(),
                        organisation: None,
                        scopes: vec!["profile".into(), "email".into()],
                    })
                }
            }
        }
        let Some(o) = &mut settings.oidc else {
            return;
        };
        if let Some(v) = &self.oidc_client_id {
            o.client_id = v.clone();
        }
        if let Some(v) = &self.oidc_client_secret {
            o.client_secret = Some(SecretString::from(v.clone()));
        }
        if let Some(v) = &self.oidc_redirect_url {
            o.redirect_url = Some(v.clone());
        }
        if let Some(v) = &self.oidc_groups_claim {
            o.groups_claim = v.clone();
        }
        if let Some(v) = &self.oidc_groups {
            o.groups = v.clone();
        }
        if let Some(v) = &self.oidc_organisation {
            o.organisation = Some(v.clone());
        }
        if let Some(v) = &self.oidc_scopes {
            o.scopes = v.split(',').map(|s| s.trim().to_owned()).collect();
        }
    }
}

/// The municipal login's settings, when it is configured.
fn oidc_config(
    settings: &Settings,
    base_url: &str,
) -> anyhow::Result<Option<doorloop_web::oidc::OidcConfig>> {
    let Some(o) = &settings.oidc else {
        return Ok(None);
    };
    let group_map =
        doorloop_web::oidc::parse_group_map(&o.groups).map_err(|e| anyhow::anyhow!("oidc.groups: {e}"))?;
    Ok(Some(doorloop_web::oidc::OidcConfig {
        issuer: o.issuer.clone(),
        client_id: o.client_id.clone(),
        client_secret: o.client_secret.as_ref().map(|s| s.expose_secret().to_owned()),
        redirect_url: o
            .redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}/inloggen/oidc/terug", base_url.trim_end_matches('/'))),
        groups_claim: o.groups_claim.clone(),
        group_map,
        organisation: o.organisation.clone(),
        scopes: o
            .scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(str::to_owned)
            .collect(),
    }))
}

/// What `serve` does besides the configuration.
pub struct Options {
    /// Load the demo data and accounts first.
    pub demo: bool,
    /// Run the scheduler and the notifiers in this process.
    pub scheduler: bool,
}

pub async fn run(engine: Arc<Engine>, settings: &Settings, options: Options) -> anyhow::Result<()> {
    if options.demo {
        demo::run(engine.clone(), demo::DEFAULT_PER_PATHWAY, demo::DEFAULT_SEED).await?;
        demo::accounts(&engine).await?;
    }
    let listen = settings.web.listen;
    let base = settings
        .web
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let config = WebConfig {
        secure_cookies: settings.web.secure_cookies,
        trusted_proxies: settings.web.trusted_proxies.clone(),
        scheduler_in_process: options.scheduler,
        idle_timeout: settings.idle_timeout(),
        absolute_timeout: settings.absolute_timeout(),
        oidc: oidc_config(settings, &base)?,
        message_secret: settings.messages.secret.clone(),
    };
    let app = doorloop_web::router(engine.clone(), config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr()?;
    println!();
    println!("Doorloop draait op http://{bound}/  (stoppen: Ctrl-C)");
    if options.scheduler {
        let owner = format!("serve-{}", std::process::id());
        let scheduler = Scheduler::new(
            engine.clone(),
            engine.clock().clone(),
            owner,
            settings.schedules()?,
        );
        tokio::spawn(async move {
            scheduler
                .run(Duration::from_secs(1), worker::shutdown_signal())
                .await;
        });
        let notifier = notify::notifier(settings, engine.clone(), &base, &notify::owner("serve"))?;
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
