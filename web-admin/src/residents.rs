//! The resident service: who may find and see a resident, for the pages and the API alike.
//! Every view and every search is written to the access log before anything is shown.

use doorloop_engine::line::Line;
use doorloop_engine::resident::{Bsn, Resident, ResidentInput, parse_date};
use doorloop_engine::store::{OrgFilter, User, UserRole, Viewer};

use crate::AppState;
use crate::access::{CaseAccess, CaseChain, case_access, org_filter};
use crate::error::{WebError, WebResult};

/// Whose residents a user may find: managers every resident of the organisation,
/// consultants the residents of cases they may see (and those they registered, until a case
/// exists).
pub(crate) fn scope<'a>(user: &'a User, org: Option<&'a OrgFilter>) -> WebResult<Viewer<'a>> {
    match user.role {
        UserRole::Manager | UserRole::Privacy => Ok(Viewer {
            user: None,
            teams: &[],
            organisation: org,
        }),
        UserRole::Consultant => Ok(Viewer {
            user: Some(&user.id),
            teams: &user.teams,
            organisation: org,
        }),
        _ => Err(WebError::Forbidden(format!(
            "Inwoners zoeken is niet beschikbaar voor de rol {}.",
            user.role.label()
        ))),
    }
}

/// Searches and logs the search (its kind and the references shown, not the text).
pub(crate) async fn search(
    app: &AppState,
    user: &User,
    text: &str,
    purpose: &str,
) -> WebResult<Vec<Resident>> {
    let org = org_filter(user);
    let viewer = scope(user, org.as_ref())?;
    let (query, found) = app.engine.find_residents(text, Some(viewer)).await?;
    app.access_log
        .record_search(user, purpose, query.kind(), &found)
        .await?;
    Ok(found)
}

/// A resident's line if `user` may see it, logged with `purpose`; "not found" otherwise.
/// The second value says whether the user may act (start cases, change details).
pub(crate) async fn visible_line(
    app: &AppState,
    user: &User,
    id: &str,
    purpose: &str,
) -> WebResult<(Line, bool)> {
    scope(user, None)?;
    let line = match app.engine.line(id).await {
        Ok(line) => line,
        Err(doorloop_engine::engine::EngineError::ResidentNotFound { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    // The municipality the resident lives in sees them (a manager always, a consultant
    // until a case exists); otherwise a case the user may see opens the resident's page.
    let home = CaseChain {
        municipality: line.resident.municipality.clone(),
        parties: Vec::new(),
    };
    let at_home = home.standing(user).is_some();
    let mut visible = at_home && (user.role == UserRole::Manager || line.cases.is_empty());
    for (_, s) in &line.cases {
        if visible {
            break;
        }
        let chain = CaseChain::load(app.engine.store().as_ref(), s).await?;
        visible = case_access(user, s, &chain) != CaseAccess::None;
    }
    if !visible {
        return Err(WebError::NotFound);
    }
    app.access_log.record_resident(user, id, purpose).await?;
    Ok((line, user.role == UserRole::Consultant))
}

/// A resident as the privacy officer of their municipality (or the region) reaches them:
/// for an inzage request or a legal hold. Anyone else is refused; another municipality's
/// resident is not found.
pub(crate) async fn for_privacy_officer(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<doorloop_engine::resident::Resident> {
    if user.role != UserRole::Privacy {
        return Err(WebError::Forbidden(
            "Dit doet alleen de privacyfunctionaris.".into(),
        ));
    }
    let resident = match app.engine.resident(id).await {
        Ok(r) => r,
        Err(doorloop_engine::engine::EngineError::ResidentNotFound { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let home = CaseChain {
        municipality: resident.municipality.clone(),
        parties: Vec::new(),
    };
    if home.standing(user).is_none() {
        return Err(WebError::NotFound);
    }
    Ok(resident)
}

/// A resident's whole file for an inzage request, for the privacy officer of the resident's
/// municipality (or the region); logged as one view with its purpose before it is made.
pub(crate) async fn inzage(
    app: &AppState,
    user: &User,
    id: &str,
) -> WebResult<doorloop_engine::inzage::ResidentFile> {
    for_privacy_officer(app, user, id).await?;
    app.access_log
        .record_resident(user, id, "inzageverzoek (AVG art. 15)")
        .await?;
    Ok(app.engine.resident_file(id, app.clock.now()).await?)
}

/// The BSN of a visible resident, for a consultant who asks to see it; logged on its own.
pub(crate) async fn reveal_bsn(
    app: &AppState,
    user: &User,
    id: &str,
    purpose: &str,
) -> WebResult<Option<Bsn>> {
    if user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("Alleen consulenten zien het BSN.".into()));
    }
    let (line, _) = visible_line(app, user, id, purpose).await?;
    if !reads_bsn(user, line.resident.municipality.as_deref()) {
        return Err(WebError::Forbidden(
            "Het BSN ziet alleen de gemeente van de inwoner; uw organisatie heeft het voor dit werk niet nodig.".into(),
        ));
    }
    Ok(app.engine.resident_bsn(id).await?)
}

/// Whether `user` may ask for the BSN of a resident living in `municipality`: a consultant of
/// that municipality, which processes it by law. Care providers, the social work company and
/// others working on a ground do not need it for their work.
/// The resident of each of these cases by the name people read, for lists.
pub(crate) async fn names_of_cases(
    app: &crate::AppState,
    case_ids: &[String],
) -> WebResult<std::collections::HashMap<String, String>> {
    Ok(app
        .engine
        .store()
        .residents_of_cases(case_ids)
        .await?
        .into_iter()
        .map(|(case, r)| (case, r.display_name()))
        .collect())
}

pub(crate) fn reads_bsn(user: &User, municipality: Option<&str>) -> bool {
    let home = CaseChain {
        municipality: municipality.map(str::to_owned),
        parties: Vec::new(),
    };
    user.role == UserRole::Consultant
        && crate::access::member(user).kind == doorloop_engine::chain::OrganisationKind::Gemeente
        && home.standing(user).is_some()
}

/// Fields of a resident as typed in a form or sent to the API (all text).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidentFields {
    /// At most 200 characters, no line breaks.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub given_name: String,
    /// Required: at most 200 characters, no line breaks.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub family_name: String,
    /// `dd-mm-jjjj` or `jjjj-mm-dd`, between 1900 and today.
    #[serde(default)]
    #[schema(pattern = "^\\s*([0-9]{1,2}-[0-9]{1,2}-[0-9]{4}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})?\\s*$")]
    pub birth_date: Option<String>,
    /// An address with `@`; at most 200 characters.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = "^\\s*([^@\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*@[^\\x00-\\x1f\\x7f-\\x9f]*[^@\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$"
    )]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub address: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub municipality: Option<String>,
    /// Nine digits (11-proef); left out or empty keeps what is stored.
    #[serde(default)]
    #[schema(pattern = "^[0-9 .-]*$")]
    pub bsn: Option<String>,
}

impl ResidentFields {
    /// Reads the typed text; a problem names its field.
    pub fn input(&self) -> Result<ResidentInput, (&'static str, String)> {
        let text = |o: &Option<String>| o.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let birth_date = match text(&self.birth_date) {
            Some(d) => Some(parse_date(&d).ok_or(("birth_date", "is geen datum (dd-mm-jjjj)".to_owned()))?),
            None => None,
        };
        let bsn = match text(&self.bsn) {
            Some(b) => Some(Bsn::parse(&b).map_err(|e| ("bsn", e.to_string()))?),
            None => None,
        };
        Ok(ResidentInput {
            given_name: self.given_name.trim().to_owned(),
            family_name: self.family_name.trim().to_owned(),
            birth_date,
            email: text(&self.email),
            phone: text(&self.phone),
            address: text(&self.address),
            municipality: text(&self.municipality),
            bsn,
        })
    }
}
