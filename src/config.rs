//! The configuration: one typed struct per part, layered defaults → `doorloop.toml`
//! (`--config FILE` or `DOORLOOP_CONFIG`) → environment → flags. `doorloop config show`
//! prints the effective configuration with every secret masked; a bad file is refused
//! with the key and line that are wrong.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveTime};
use doorloop_engine::scheduler::{Job, Schedule};
use doorloop_engine::time::calendar::Calendar;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

/// What a masked secret shows.
const MASKED: &str = "********";

/// The effective configuration of one process.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: Database,
    pub calendar: CalendarSettings,
    pub web: Web,
    pub mail: Mail,
    pub webhook: Option<WebhookSettings>,
    pub messages: MessageSettings,
    pub notifier: NotifierSettings,
    pub schedules: Schedules,
    pub oidc: Option<OidcSettings>,
    pub privacy: Privacy,
    pub residents: ResidentSettings,
    pub retention: RetentionSettings,
}

/// How long records are kept after a case ends.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Years after a case's end for pathways that set no `retention:` of their own; also how
    /// long a resident's record without cases is kept after its last change.
    pub default_years: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            default_years: doorloop_engine::retention::Policy::default().default_years,
        }
    }
}

/// Residents and their provisions.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResidentSettings {
    /// Weeks without any event (and without open work or an ended case) before a resident
    /// is flagged as out of sight (uit beeld) on the managers' stuck view.
    pub out_of_sight_weeks: u32,
    /// Weeks before its end date that a provision opens a decision task
    /// (voorziening-verloopt) for its role.
    pub expiry_notice_weeks: u32,
    /// Kinds of provision besides the standard ones, e.g.
    /// `[[residents.provision_kinds]] key = "schuldhulp" label = "Schuldhulpverlening" law = "Wgs" role = "klantmanager"`.
    pub provision_kinds: Vec<doorloop_engine::resident::provision::ProvisionKind>,
}

impl Default for ResidentSettings {
    fn default() -> Self {
        ResidentSettings {
            out_of_sight_weeks: 12,
            expiry_notice_weeks: 8,
            provision_kinds: Vec::new(),
        }
    }
}

/// Messages from outside parties (`POST /api/v1/messages`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageSettings {
    /// The shared secret outside systems sign their messages with (HMAC-SHA256, like the
    /// webhooks Doorloop sends), at least 16 characters. Environment:
    /// `DOORLOOP_MESSAGE_SECRET`. Without it only consultants' API tokens send messages.
    pub secret: Option<SecretString>,
}

/// How personal data is protected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// The key that encrypts BSNs and keys their lookup hash: 32 bytes as base64
    /// (`openssl rand -base64 32`). Environment: `DOORLOOP_BSN_KEY`. Without it (or a
    /// key file) no BSN is stored. Losing it makes stored BSNs unreadable.
    pub bsn_key: Option<SecretString>,
    /// A file holding the key instead (readable by this user only); `serve --demo` creates
    /// one beside an SQLite database when no key is configured.
    pub bsn_key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://FILE` (embedded) or `postgres://USER@HOST/DB`; a password in it is a
    /// secret and is masked when shown.
    pub url: String,
    /// Run even when the database does not fsync every commit.
    pub allow_non_durable: bool,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: "sqlite://doorloop.db".into(),
            allow_non_durable: false,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSettings {
    /// Extra non-working days: bridge days and the organisation's closure days.
    pub closed_days: Vec<NaiveDate>,
    /// The working day, for terms in working hours (`HH:MM`, local time).
    #[serde(deserialize_with = "hh_mm", serialize_with = "show_hh_mm")]
    pub day_start: NaiveTime,
    #[serde(deserialize_with = "hh_mm", serialize_with = "show_hh_mm")]
    pub day_end: NaiveTime,
    /// Quiet hours: reminders due from `quiet_from` to `quiet_until` (or on a day off)
    /// wait for `morning` of the next working day.
    #[serde(deserialize_with = "hh_mm", serialize_with = "show_hh_mm")]
    pub quiet_from: NaiveTime,
    #[serde(deserialize_with = "hh_mm", serialize_with = "show_hh_mm")]
    pub quiet_until: NaiveTime,
    #[serde(deserialize_with = "hh_mm", serialize_with = "show_hh_mm")]
    pub morning: NaiveTime,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        let c = Calendar::default();
        CalendarSettings {
            closed_days: Vec::new(),
            day_start: c.day_start,
            day_end: c.day_end,
            quiet_from: c.quiet_from,
            quiet_until: c.quiet_until,
            morning: c.morning,
        }
    }
}

fn hh_mm<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    let text = String::deserialize(d)?;
    NaiveTime::parse_from_str(&text, "%H:%M")
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time of day; write HH:MM")))
}

fn show_hh_mm<S: serde::Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format("%H:%M").to_string())
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    pub listen: SocketAddr,
    /// Where users reach the web admin; links in messages start here.
    pub base_url: Option<String>,
    /// Mark cookies Secure, send HSTS and expect `https` origins (behind HTTPS).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// A session ends after this many minutes without a request.
    pub idle_timeout_minutes: u64,
    /// A session ends this many hours after login.
    pub absolute_timeout_hours: u64,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: None,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mail {
    /// `smtp://[user:password@]host:port[?tls=required]` or `smtps://…`; without it
    /// messages go to the log.
    pub smtp_url: Option<SecretString>,
    pub from: String,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            smtp_url: None,
            from: "Doorloop <doorloop@localhost>".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// Shared secret of the HMAC-SHA256 signature, at least 16 characters.
    pub secret: SecretString,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierSettings {
    /// Attempts per message before it goes to `dead`.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles with each further one.
    pub backoff_ms: u64,
    /// How long a claimed message stays with this process.
    pub lease_seconds: u64,
    /// Messages in flight at once, and SMTP connections kept open.
    pub concurrency: usize,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            max_attempts: 8,
            backoff_ms: 30_000,
            lease_seconds: 120,
            concurrency: 32,
        }
    }
}

/// Cron expressions (seconds first, Europe/Amsterdam) of the recurring jobs.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedules {
    /// The consultants' digest; runs on working days only.
    pub consultant_digest: String,
    /// The managers' weekly summary.
    pub manager_summary: String,
    /// Removing what is past its retention term.
    pub retention: String,
}

impl Default for Schedules {
    fn default() -> Self {
        Schedules {
            consultant_digest: "0 0 8 * * Mon-Fri".into(),
            manager_summary: "0 0 8 * * Mon".into(),
            retention: "0 30 2 * * *".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// Default `{base_url}/inloggen/oidc/terug`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// `group=role[:team][@organisation]`, comma-separated.
    #[serde(default)]
    pub groups: String,
    /// The organisation of people whose groups name none.
    #[serde(default)]
    pub organisation: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_client_id() -> String {
    "doorloop".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

impl Settings {
    /// Reads a configuration file over the defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Settings::from_toml(&text).with_context(|| format!("configuration file {}", path.display()))
    }

    /// Reads configuration text over the defaults; an error names the key and line.
    pub fn from_toml(text: &str) -> anyhow::Result<Settings> {
        let settings: Settings = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        settings.check()?;
        Ok(settings)
    }

    /// What cannot work, named by its key.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(secret) = &self.messages.secret
            && secret.expose_secret().chars().count() < 16
        {
            bail!("messages.secret must be at least 16 characters");
        }
        if self.web.idle_timeout_minutes == 0 || self.web.absolute_timeout_hours == 0 {
            bail!("web.idle_timeout_minutes and web.absolute_timeout_hours must be at least 1");
        }
        if self.calendar.quiet_until >= self.calendar.quiet_from {
            bail!("calendar.quiet_until must lie before calendar.quiet_from (quiet hours run overnight)");
        }
        if self.residents.out_of_sight_weeks == 0 {
            bail!("residents.out_of_sight_weeks must be at least 1");
        }
        for k in &self.residents.provision_kinds {
            if !doorloop_engine::pathway::validate::valid_key(&k.key) {
                bail!(
                    "residents.provision_kinds: `{}` is not a key (lower case letters, digits, - and _)",
                    k.key
                );
            }
        }
        if let Some(w) = &self.webhook
            && w.secret.expose_secret().chars().count() < 16
        {
            bail!("webhook.secret must be at least 16 characters");
        }
        self.schedules()?;
        Ok(())
    }

    /// The BSN vault from the key or key file, if one is configured.
    pub fn vault(&self) -> anyhow::Result<Option<doorloop_engine::resident::BsnVault>> {
        use doorloop_engine::resident::BsnVault;
        if let Some(key) = &self.privacy.bsn_key {
            return Ok(Some(
                BsnVault::from_base64(key.expose_secret()).context("privacy.bsn_key")?,
            ));
        }
        if let Some(path) = &self.privacy.bsn_key_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading privacy.bsn_key_file {}", path.display()))?;
            return Ok(Some(
                BsnVault::from_base64(&text)
                    .with_context(|| format!("privacy.bsn_key_file {}", path.display()))?,
            ));
        }
        Ok(None)
    }

    /// For the demo: without a configured key, a key file beside the SQLite database
    /// (created, readable by this user only, when missing).
    pub fn demo_key_file(&mut self) -> anyhow::Result<()> {
        if self.privacy.bsn_key.is_some() || self.privacy.bsn_key_file.is_some() {
            return Ok(());
        }
        let Some(db) = self.database.url.strip_prefix("sqlite://") else {
            return Ok(());
        };
        let path = std::path::PathBuf::from(format!("{}.bsn-key", db.split('?').next().unwrap_or(db)));
        if !path.exists() {
            use std::io::Write;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut file = options
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(doorloop_engine::resident::BsnVault::generate_key().as_bytes())?;
            tracing::warn!(file = %path.display(), "demo: BSN key created beside the database; configure privacy.bsn_key for real use");
        }
        self.privacy.bsn_key_file = Some(path);
        Ok(())
    }

    pub fn calendar(&self) -> Calendar {
        Calendar {
            closed_days: self.calendar.closed_days.iter().copied().collect(),
            day_start: self.calendar.day_start,
            day_end: self.calendar.day_end,
            quiet_from: self.calendar.quiet_from,
            quiet_until: self.calendar.quiet_until,
            morning: self.calendar.morning,
        }
    }

    pub fn schedules(&self) -> anyhow::Result<Vec<Schedule>> {
        Ok(vec![
            Schedule::new(
                "consultant-digest",
                &self.schedules.consultant_digest,
                true,
                Job::ConsultantDigest,
            )
            .context("schedules.consultant_digest")?,
            Schedule::new(
                "manager-summary",
                &self.schedules.manager_summary,
                false,
                Job::ManagerSummary,
            )
            .context("schedules.manager_summary")?,
            Schedule::new(
                "retention",
                &self.schedules.retention,
                false,
                Job::Retention(self.retention_policy()?),
            )
            .context("schedules.retention")?,
        ])
    }

    pub fn retention_policy(&self) -> anyhow::Result<doorloop_engine::retention::Policy> {
        let years = self.retention.default_years;
        if !(1..=120).contains(&years) {
            bail!("retention.default_years is {years}; write whole years from 1 to 120");
        }
        Ok(doorloop_engine::retention::Policy { default_years: years })
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.web.idle_timeout_minutes.saturating_mul(60))
    }

    pub fn absolute_timeout(&self) -> Duration {
        Duration::from_secs(self.web.absolute_timeout_hours.saturating_mul(3600))
    }

    /// The effective configuration as TOML, every secret masked.
    pub fn show(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Shown<'a> {
            database: Database,
            calendar: &'a CalendarSettings,
            web: &'a Web,
            mail: ShownMail<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            webhook: Option<ShownWebhook<'a>>,
            messages: ShownMessages,
            notifier: &'a NotifierSettings,
            schedules: &'a Schedules,
            #[serde(skip_serializing_if = "Option::is_none")]
            oidc: Option<ShownOidc<'a>>,
            privacy: ShownPrivacy<'a>,
            residents: &'a ResidentSettings,
            retention: &'a RetentionSettings,
        }
        #[derive(Serialize)]
        struct ShownPrivacy<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            bsn_key: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bsn_key_file: Option<&'a std::path::Path>,
        }
        #[derive(Serialize)]
        struct ShownMail<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            smtp_url: Option<String>,
            from: &'a str,
        }
        #[derive(Serialize)]
        struct ShownMessages {
            #[serde(skip_serializing_if = "Option::is_none")]
            secret: Option<&'static str>,
        }
        #[derive(Serialize)]
        struct ShownWebhook<'a> {
            url: &'a str,
            secret: &'static str,
        }
        #[derive(Serialize)]
        struct ShownOidc<'a> {
            issuer: &'a str,
            client_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            client_secret: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            redirect_url: Option<&'a str>,
            groups_claim: &'a str,
            groups: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            organisation: Option<&'a str>,
            scopes: &'a [String],
        }
        let shown = Shown {
            database: Database {
                url: doorloop_engine::store::redact(&self.database.url),
                allow_non_durable: self.database.allow_non_durable,
            },
            calendar: &self.calendar,
            web: &self.web,
            mail: ShownMail {
                smtp_url: self
                    .mail
                    .smtp_url
                    .as_ref()
                    .map(|u| doorloop_engine::store::redact(u.expose_secret())),
                from: &self.mail.from,
            },
            webhook: self.webhook.as_ref().map(|w| ShownWebhook {
                url: &w.url,
                secret: MASKED,
            }),
            messages: ShownMessages {
                secret: self.messages.secret.as_ref().map(|_| MASKED),
            },
            notifier: &self.notifier,
            schedules: &self.schedules,
            oidc: self.oidc.as_ref().map(|o| ShownOidc {
                issuer: &o.issuer,
                client_id: &o.client_id,
                client_secret: o.client_secret.as_ref().map(|_| MASKED),
                redirect_url: o.redirect_url.as_deref(),
                groups_claim: &o.groups_claim,
                groups: &o.groups,
                organisation: o.organisation.as_deref(),
                scopes: &o.scopes,
            }),
            privacy: ShownPrivacy {
                bsn_key: self.privacy.bsn_key.as_ref().map(|_| MASKED),
                bsn_key_file: self.privacy.bsn_key_file.as_deref(),
            },
            residents: &self.residents,
            retention: &self.retention,
        };
        Ok(toml::to_string_pretty(&shown)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_stand_without_a_file() {
        let s = Settings::from_toml("").unwrap();
        assert_eq!(s.database.url, "sqlite://doorloop.db");
        assert_eq!(s.web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.idle_timeout(), Duration::from_secs(1800));
        let names: Vec<String> = s.schedules().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["consultant-digest", "manager-summary", "retention"]);
        assert_eq!(s.retention_policy().unwrap().default_years, 10);
        let bad = Settings::from_toml("[retention]\ndefault_years = 0\n").unwrap_err();
        assert!(
            format!("{bad:#}").contains("retention.default_years is 0"),
            "{bad:#}"
        );
    }

    #[test]
    fn a_file_sets_every_part() {
        let s = Settings::from_toml(
            r#"
[database]
url = "postgres://doorloop:geheim@db.gemeente.nl/doorloop"

[calendar]
closed_days = ["2026-05-15", "2026-12-24"]
quiet_from = "19:00"
quiet_until = "06:30"
morning = "09:00"

[web]
listen = "0.0.0.0:9000"
secure_cookies = true
idle_timeout_minutes = 15

[mail]
smtp_url = "smtps://post:wachtwoord@mail.gemeente.nl:465"
from = "Doorloop <doorloop@gemeente.nl>"

[webhook]
url = "https://zaaksysteem.gemeente.nl/hook"
secret = "een-lang-gedeeld-geheim"

[schedules]
consultant_digest = "0 30 7 * * Mon-Fri"

[oidc]
issuer = "https://login.gemeente.nl/realms/medewerkers"
client_secret = "client-geheim"
groups = "wmo=consultant:wmo-consulent"
"#,
        )
        .unwrap();
        let cal = s.calendar();
        assert_eq!(cal.closed_days.len(), 2);
        assert_eq!(cal.quiet_from, NaiveTime::from_hms_opt(19, 0, 0).unwrap());
        assert_eq!(cal.morning, NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        assert_eq!(s.idle_timeout(), Duration::from_secs(900));
        assert!(s.web.secure_cookies);
        let shown = s.show().unwrap();
        for secret in [
            "geheim@",
            "wachtwoord",
            "een-lang-gedeeld-geheim",
            "client-geheim",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(shown.contains("0 30 7 * * Mon-Fri"), "{shown}");
        assert!(shown.contains("quiet_from = \"19:00\""), "{shown}");
        assert!(shown.contains("********"), "{shown}");
        // What is shown reads back (secrets aside).
        assert!(toml::from_str::<toml::Table>(&shown).is_ok());
    }

    #[test]
    fn a_bad_file_names_the_key_and_line() {
        let err = Settings::from_toml("[web]\nlisten = \"127.0.0.1:8080\"\nidle_timout_minutes = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("idle_timout_minutes"),
            "{err}"
        );
        let err = Settings::from_toml("[calendar]\nmorning = \"half negen\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("HH:MM"), "{err}");
        let err = Settings::from_toml("[schedules]\nmanager_summary = \"elke maandag\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("schedules.manager_summary"), "{err}");
        let err = Settings::from_toml("[webhook]\nurl = \"https://x\"\nsecret = \"kort\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("webhook.secret"), "{err}");
    }
}
