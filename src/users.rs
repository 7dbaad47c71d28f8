//! `doorloop user …`, `doorloop token create`, `doorloop access-log`: people and audit.

use anyhow::{Context, bail};
use chrono::Utc;
use doorloop_engine::chain::{Organisation, OrganisationKind};
use doorloop_engine::engine::Engine;
use doorloop_engine::store::{User, UserRole};
use doorloop_web::{accounts, auth};

pub struct NewUser<'a> {
    pub id: &'a str,
    pub role: &'a str,
    pub teams: &'a [String],
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    /// Their organisation's key; `None`: the installation's only organisation.
    pub organisation: Option<&'a str>,
}

/// `doorloop organisation add`.
pub async fn add_organisation(engine: &Engine, key: &str, name: &str, kind: &str) -> anyhow::Result<()> {
    let Some(kind) = OrganisationKind::parse(kind) else {
        bail!("unknown kind `{kind}`: use one of gemeente, zorgaanbieder, sw-bedrijf, uwv, regio");
    };
    let org = Organisation {
        id: key.to_owned(),
        name: name.trim().to_owned(),
        kind,
    };
    org.check()?;
    engine.store().add_organisation(&org).await?;
    Ok(())
}

/// `doorloop organisation list`.
pub async fn list_organisations(engine: &Engine) -> anyhow::Result<()> {
    for o in engine.store().organisations().await? {
        println!("{:<24} {:<14} {}", o.id, o.kind.as_str(), o.name);
    }
    Ok(())
}

/// The organisation a new account belongs to: the one named, or the installation's only one.
pub async fn organisation_for(engine: &Engine, named: Option<&str>) -> anyhow::Result<String> {
    if let Some(n) = named {
        return Ok(n.to_owned());
    }
    let orgs = engine.store().organisations().await?;
    match orgs.as_slice() {
        [only] => Ok(only.id.clone()),
        [] => bail!(
            "there are no organisations yet: add one first, e.g. doorloop organisation add Oss --name \"Gemeente Oss\" --kind gemeente"
        ),
        more => bail!(
            "say which organisation with --organisation: {}",
            more.iter().map(|o| o.id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A generated password and its argon2id hash (computed off the async threads).
async fn new_password() -> anyhow::Result<(String, String)> {
    let password = auth::generate_password()?;
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || auth::hash_password(&password)
    })
    .await
    .context("hashing the password")??;
    Ok((password, hash))
}

/// Creates an account with a generated password; returns the password (shown once).
pub async fn add(engine: &Engine, new: NewUser<'_>) -> anyhow::Result<String> {
    accounts::check_login(new.id)?;
    let Some(role) = UserRole::parse(new.role) else {
        bail!(
            "unknown role `{}`: use one of coordinator, consultant, manager, admin, privacy",
            new.role
        );
    };
    let teams = accounts::teams_of(new.teams.iter().map(String::as_str));
    accounts::check_rights(role, &teams)?;
    accounts::check_email(new.email)?;
    let organisation = organisation_for(engine, new.organisation).await?;
    let (password, hash) = new_password().await?;
    let user = User {
        id: new.id.to_owned(),
        display_name: new.name.unwrap_or(new.id).to_owned(),
        role,
        teams,
        email: new.email.map(str::to_owned),
        organisation,
        organisation_kind: None,
        password_hash: Some(hash),
        active: true,
        created_at: Utc::now(),
    };
    engine.store().add_user(&user).await?;
    Ok(password)
}

/// Gives an account a new generated password; returns it.
pub async fn reset_password(engine: &Engine, id: &str) -> anyhow::Result<String> {
    let (password, hash) = new_password().await?;
    engine.store().set_password(id, &hash, Utc::now()).await?;
    Ok(password)
}

/// Creates an API token for a user; returns it (shown once, only its hash is kept).
pub async fn create_token(
    engine: &Engine,
    id: &str,
    label: &str,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> anyhow::Result<String> {
    let token = auth::generate_api_token()?;
    engine
        .store()
        .add_api_token(&auth::token_hash(&token), id, label, Utc::now(), expires_at)
        .await?;
    Ok(token)
}

/// Prints API tokens: id, user, label, created, valid until, state.
pub async fn list_tokens(engine: &Engine, user: Option<&str>) -> anyhow::Result<()> {
    let tokens = engine.store().api_tokens(user).await?;
    if tokens.is_empty() {
        println!("no API tokens");
    }
    let now = Utc::now();
    let day = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    for t in tokens {
        let state = match (t.revoked_at, t.is_valid(now)) {
            (Some(at), _) => format!("revoked {}", day(at)),
            (None, false) => "expired".to_owned(),
            (None, true) => "active".to_owned(),
        };
        println!(
            "{:<12}  {:<24} {:<16} created {}  until {:<10}  {state}",
            t.id,
            t.user_id,
            t.label,
            day(t.created_at),
            t.expires_at.map(day).unwrap_or_else(|| "-".to_owned()),
        );
    }
    Ok(())
}

pub async fn list(engine: &Engine) -> anyhow::Result<()> {
    for u in engine.store().users().await? {
        println!(
            "{:<24} {:<12} {:<20} {:<40} {}{}",
            u.id,
            u.role.as_str(),
            u.organisation,
            u.teams.join(","),
            u.email.unwrap_or_default(),
            if u.active { "" } else { "  (inactive)" }
        );
    }
    Ok(())
}

pub async fn access_log(engine: &Engine, case: Option<&str>, limit: u32) -> anyhow::Result<()> {
    let rows = engine.store().access_log(case, limit).await?;
    if rows.is_empty() {
        println!(
            "no views logged{}",
            case.map(|c| format!(" for case {c}")).unwrap_or_default()
        );
    }
    for r in rows {
        let what = match (&r.resident_id, r.case_id.is_empty()) {
            (Some(resident), true) => format!("inwoner {resident}"),
            (None, true) => "-".to_owned(),
            _ => r.case_id.clone(),
        };
        println!(
            "{}  {:<24} {}  {}{}",
            r.at.to_rfc3339(),
            r.user_id,
            what,
            r.purpose,
            r.detail
                .as_deref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
