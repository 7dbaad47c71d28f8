//! Login through the municipality's identity provider (Keycloak, Entra ID, …) with OpenID
//! Connect: authorization code flow with PKCE, state and nonce kept in the server-side
//! session, the ID token verified by `openidconnect`. Roles and teams come from the
//! provider's groups by configuration; a person whose groups map to nothing gets an
//! account without rights, which an admin completes. Local accounts keep working.

use crate::error::PageQuery;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use doorloop_engine::store::{StoreError, User, UserRole};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tower_sessions::Session;

use crate::AppState;
use crate::error::{WebError, WebResult};

/// One rule of the group mapping: members of `group` get `role` (and, as consultants,
/// the role team `team`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub group: String,
    pub role: UserRole,
    pub team: Option<String>,
    /// The organisation its people work for.
    pub organisation: Option<String>,
}

/// The group mapping from configuration text: `group=role[:team][@organisation]`, separated
/// by commas or new lines, e.g. `wmo-team=consultant:wmo-consulent, beleid=manager@Oss,
/// linde=consultant:ambulant-begeleider@de-linde`.
pub fn parse_group_map(text: &str) -> Result<Vec<GroupRule>, String> {
    let mut rules = Vec::new();
    for entry in text.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let (group, right) = entry
            .split_once('=')
            .ok_or_else(|| format!("group mapping `{entry}`: write group=role or group=consultant:team"))?;
        // An organisation after '@': people of this group work there.
        let (right, organisation) = match right.split_once('@') {
            Some((r, o)) if !o.trim().is_empty() => (r, Some(o.trim().to_owned())),
            Some(_) => {
                return Err(format!(
                    "group mapping `{entry}`: the organisation after @ is empty"
                ));
            }
            None => (right, None),
        };
        let (role, team) = match right.split_once(':') {
            Some((r, t)) => (r.trim(), Some(t.trim().to_owned()).filter(|t| !t.is_empty())),
            None => (right.trim(), None),
        };
        let role = UserRole::parse(role).ok_or_else(|| {
            format!(
                "group mapping `{entry}`: unknown role `{role}` (coordinator, consultant, manager, admin, privacy)"
            )
        })?;
        if role == UserRole::Consultant && team.is_none() {
            return Err(format!(
                "group mapping `{entry}`: a consultant needs a team (group=consultant:team)"
            ));
        }
        if group.trim().is_empty() {
            return Err(format!("group mapping `{entry}`: the group is empty"));
        }
        rules.push(GroupRule {
            group: group.trim().to_owned(),
            role,
            team,
            organisation,
        });
    }
    Ok(rules)
}

/// The rights the groups give: the role of the first rule that matches, and every team of
/// the matching consultant rules. `None` when no rule matches.
pub fn rights(rules: &[GroupRule], groups: &[String]) -> Option<(UserRole, Vec<String>)> {
    let matching: Vec<&GroupRule> = rules.iter().filter(|r| groups.contains(&r.group)).collect();
    let role = matching.first()?.role;
    // (The organisation is read by `organisation_of`.)
    let mut teams: Vec<String> = matching
        .iter()
        .filter(|r| r.role == role)
        .filter_map(|r| r.team.clone())
        .collect();
    teams.dedup();
    Some((role, teams))
}

/// The organisation the first matching group names, if any names one.
pub fn organisation_of<'a>(rules: &'a [GroupRule], groups: &[String]) -> Option<&'a str> {
    rules
        .iter()
        .filter(|r| groups.contains(&r.group))
        .find_map(|r| r.organisation.as_deref())
}

/// How Doorloop talks to the identity provider.
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `{base}/inloggen/oidc/terug`.
    pub redirect_url: String,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    pub group_map: Vec<GroupRule>,
    /// The organisation of people whose groups name none (`group=role@organisation` does);
    /// `None`: the installation's only organisation, and no login when there are several.
    pub organisation: Option<String>,
    /// Scopes asked besides `openid`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client secret is never printed.
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("redirect_url", &self.redirect_url)
            .field("groups_claim", &self.groups_claim)
            .field("group_map", &self.group_map)
            .field("organisation", &self.organisation)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Claims beyond the standard ones, so the configured groups claim can be read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

type TokenFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<TokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider's client, discovered at the first login (so Doorloop starts when the
/// provider is down) and kept.
pub struct Oidc {
    config: OidcConfig,
    http: openidconnect::reqwest::Client,
    client: Mutex<Option<Arc<OidcClient>>>,
}

const PENDING: &str = "oidc_pending";

/// What a login in progress keeps in the session until the provider sends the browser back.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
}

fn failed(e: impl std::fmt::Display) -> WebError {
    tracing::warn!(error = %e, "login through the identity provider failed");
    WebError::Internal(format!("identity provider: {e}"))
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, WebError> {
        // Following redirects from the provider's endpoints would open SSRF holes.
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| WebError::Internal(format!("identity provider client: {e}")))?;
        Ok(Oidc {
            config,
            http,
            client: Mutex::new(None),
        })
    }

    async fn client(&self) -> WebResult<Arc<OidcClient>> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(failed)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(failed)?;
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(self.config.redirect_url.clone()).map_err(failed)?);
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }
}

#[derive(Deserialize)]
pub struct StartQuery {
    volgende: Option<String>,
}

/// Sends the browser to the identity provider.
pub async fn start(
    State(app): State<Arc<AppState>>,
    session: Session,
    PageQuery(q): PageQuery<StartQuery>,
) -> WebResult<Response> {
    let oidc = app.oidc.as_ref().ok_or(WebError::NotFound)?;
    let client = oidc.client().await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &oidc.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.url();
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next: crate::auth::local_path(q.volgende.as_deref(), "/"),
    };
    session
        .insert(PENDING, pending)
        .await
        .map_err(|e| WebError::Internal(format!("session: {e}")))?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A login name for a new account: the provider's preferred username, else the e-mail
/// address's local part, else a name from the subject; made unique.
async fn new_login(
    app: &AppState,
    preferred: Option<&str>,
    email: Option<&str>,
    subject: &str,
) -> WebResult<String> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(40)
            .collect()
    };
    let base = preferred
        .map(clean)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            email
                .and_then(|e| e.split('@').next())
                .map(clean)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| format!("idp-{}", clean(subject).chars().take(12).collect::<String>()));
    let mut candidate = base.clone();
    for n in 2..1000 {
        if app.engine.store().user(&candidate).await?.is_none() {
            return Ok(candidate);
        }
        candidate = format!("{base}-{n}");
    }
    Err(WebError::Internal("no free login name".into()))
}

/// The login page again, with why the municipal login did not let the person in; its form
/// for local accounts carries the session's CSRF token.
async fn refused(session: &Session, status: StatusCode, message: &str) -> WebResult<Response> {
    let csrf = crate::auth::csrf_token(session).await?;
    Ok(crate::views::page(
        status,
        "login",
        serde_json::json!({"title": "Inloggen", "user": null, "csrf": csrf, "next": "/", "next_q": "%2F",
                           "username": "", "error": message, "oidc": true}),
    ))
}

/// The provider sends the browser back here with a code: exchange it (with the PKCE
/// verifier), verify the ID token (with the nonce), find or create the account.
pub async fn callback(
    State(app): State<Arc<AppState>>,
    session: Session,
    PageQuery(q): PageQuery<CallbackQuery>,
) -> WebResult<Response> {
    let oidc = app.oidc.as_ref().ok_or(WebError::NotFound)?;
    let pending: Option<Pending> = session
        .remove(PENDING)
        .await
        .map_err(|e| WebError::Internal(format!("session: {e}")))?;
    let Some(pending) = pending else {
        return refused(
            &session,
            StatusCode::BAD_REQUEST,
            "Deze inlogpoging is verlopen of al gebruikt. Probeer het opnieuw.",
        )
        .await;
    };
    if let Some(error) = q.error {
        tracing::info!(error = %error, "identity provider refused the login");
        return refused(
            &session,
            StatusCode::UNAUTHORIZED,
            "Inloggen bij de gemeente is niet gelukt.",
        )
        .await;
    }
    let state_ok = q.state.as_deref().is_some_and(|s| {
        use subtle::ConstantTimeEq;
        bool::from(s.as_bytes().ct_eq(pending.state.as_bytes()))
    });
    let (Some(code), true) = (q.code, state_ok) else {
        return refused(
            &session,
            StatusCode::BAD_REQUEST,
            "Deze inlogpoging klopt niet. Probeer het opnieuw.",
        )
        .await;
    };
    let client = oidc.client().await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(failed)?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&oidc.http)
        .await
        .map_err(failed)?;
    let id_token = token
        .id_token()
        .ok_or_else(|| failed("the provider returned no ID token"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
        .map_err(failed)?;
    let issuer = claims.issuer().as_str().to_owned();
    let subject = claims.subject().as_str().to_owned();
    let groups: Vec<String> = match claims.additional_claims().other.get(&oidc.config.groups_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.trim_start_matches('/').to_owned()))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mapped = rights(&oidc.config.group_map, &groups);
    let store = app.engine.store();
    let organisation = match organisation_of(&oidc.config.group_map, &groups)
        .or(oidc.config.organisation.as_deref())
    {
        Some(o) => o.to_owned(),
        None => match store.organisations().await?.as_slice() {
            [only] => only.id.clone(),
            _ => {
                tracing::warn!(
                    "login through the identity provider: no organisation mapped for the person's groups"
                );
                return refused(
                    &session,
                    StatusCode::FORBIDDEN,
                    "U bent ingelogd bij de gemeente, maar uw organisatie is in Doorloop niet bekend. Een beheerder moet uw groep aan een organisatie koppelen.",
                )
                .await;
            }
        },
    };
    let now = app.clock.now();
    let user = match store.identity_user(&issuer, &subject).await? {
        Some(id) => {
            let user = store
                .user(&id)
                .await?
                .ok_or_else(|| StoreError::UnknownUser { id: id.clone() })?;
            // Groups decide where they map: losing a group loses its rights at the next login.
            match &mapped {
                Some((role, teams))
                    if (user.role, &user.teams, user.active, &user.organisation)
                        != (*role, teams, true, &organisation) =>
                {
                    store
                        .set_rights(&user.id, *role, teams, Some(&organisation), true)
                        .await?;
                    store.user(&id).await?.ok_or(StoreError::UnknownUser { id })?
                }
                _ => user,
            }
        }
        None => {
            let name = claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned());
            let email = claims.email().map(|e| e.as_str().to_owned());
            let preferred = claims.preferred_username().map(|u| u.as_str().to_owned());
            let id = new_login(&app, preferred.as_deref(), email.as_deref(), &subject).await?;
            let (role, teams, active) = match &mapped {
                Some((role, teams)) => (*role, teams.clone(), true),
                None => (UserRole::Consultant, Vec::new(), false),
            };
            let user = User {
                display_name: name.unwrap_or_else(|| id.clone()),
                id,
                role,
                teams,
                email,
                organisation,
                organisation_kind: None,
                password_hash: None,
                active,
                created_at: now,
            };
            store.add_identity_user(&user, &issuer, &subject, now).await?;
            tracing::info!(
                role = user.role.as_str(),
                rights = active,
                "account created at first login through the identity provider"
            );
            user
        }
    };
    if !user.active {
        return refused(&session, StatusCode::FORBIDDEN,
            "U bent ingelogd bij de gemeente, maar heeft in Doorloop nog geen rechten. Een beheerder moet u eerst een rol geven.",
        ).await;
    }
    crate::auth::log_in(&session, &user, app.clock.now()).await?;
    tracing::info!(role = user.role.as_str(), "login through the identity provider");
    Ok(Redirect::to(&pending.next).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_mapping_reads_and_names_mistakes() {
        let rules =
            parse_group_map("wmo=consultant:wmo-consulent, werk=consultant:klantmanager\nbeleid=manager")
                .unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rights(&rules, &["wmo".into(), "werk".into()]),
            Some((
                UserRole::Consultant,
                vec!["wmo-consulent".to_owned(), "klantmanager".to_owned()]
            ))
        );
        assert_eq!(
            rights(&rules, &["beleid".into()]),
            Some((UserRole::Manager, vec![]))
        );
        assert_eq!(rights(&rules, &["iets".into()]), None);
        assert!(
            parse_group_map("wmo=baas")
                .unwrap_err()
                .contains("unknown role `baas`")
        );
        assert!(
            parse_group_map("wmo=consultant")
                .unwrap_err()
                .contains("needs a team")
        );
        assert!(parse_group_map("wmo").unwrap_err().contains("group=role"));
        let chain = parse_group_map("linde=consultant:ambulant-begeleider@de-linde, oss=manager").unwrap();
        assert_eq!(organisation_of(&chain, &["linde".into()]), Some("de-linde"));
        assert_eq!(organisation_of(&chain, &["oss".into()]), None);
        assert!(
            parse_group_map("x=manager@")
                .unwrap_err()
                .contains("organisation after @ is empty")
        );
        assert_eq!(parse_group_map(" , ").unwrap(), vec![]);
    }
}
