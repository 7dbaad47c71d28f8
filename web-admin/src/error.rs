//! Errors of the web layer and how they turn into responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorloop_engine::engine::EngineError;
use doorloop_engine::resident::{BsnError, QueryError};
use doorloop_engine::store::StoreError;

/// Why a request failed. HTML handlers render these as a Dutch error page, the API as
/// JSON (see `api::ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Unknown id, or an object the user may not see (ids must not leak).
    #[error("niet gevonden")]
    NotFound,
    /// The user is known but their role does not allow this screen or action.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// The case has ended or was withdrawn: nothing more can be done on it.
    #[error("Deze casus is al afgesloten.")]
    CaseEnded,
    /// The pathway's `started_by` does not name any of the user's teams; `who` are the
    /// names of the roles that may.
    #[error(
        "Aanmelden voor {pathway} mag alleen een {}.",
        doorloop_engine::text::dutch::or_list(who)
    )]
    StartNotAllowed { pathway: String, who: Vec<String> },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template: {0}")]
    Render(#[from] handlebars::RenderError),
    #[error("{0}")]
    Internal(String),
    /// The database (here: the session store) cannot be reached for a moment.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database's disk is full (here: the access log could not be written).
    #[error("the database's disk is full: {0}")]
    DiskFull(String),
}

impl WebError {
    /// The database cannot be reached: a moment's outage, not a fault in the request.
    fn unavailable(&self) -> bool {
        match self {
            WebError::Store(e) | WebError::Engine(EngineError::Store(e)) => e.is_unavailable(),
            WebError::Unavailable(_) => true,
            _ => false,
        }
    }

    /// The database's disk is full: nothing was stored, and an administrator must make room.
    fn disk_full(&self) -> bool {
        match self {
            WebError::Store(e) | WebError::Engine(EngineError::Store(e)) => e.is_disk_full(),
            WebError::DiskFull(_) => true,
            _ => false,
        }
    }

    pub fn status(&self) -> StatusCode {
        if self.disk_full() {
            return StatusCode::INSUFFICIENT_STORAGE;
        }
        if self.unavailable() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) | WebError::StartNotAllowed { .. } => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::CaseEnded => StatusCode::CONFLICT,
            WebError::Engine(EngineError::CaseNotFound { .. } | EngineError::ResidentNotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            WebError::Engine(EngineError::Conflict { .. }) => StatusCode::CONFLICT,
            WebError::Engine(EngineError::ResidentInvalid(_) | EngineError::BusinessKeyInvalid(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WebError::Engine(EngineError::Bsn(b) | EngineError::Query(QueryError::Bsn(b))) => match b {
                BsnError::Length | BsnError::Checksum => StatusCode::UNPROCESSABLE_ENTITY,
                BsnError::NoKey => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            WebError::Engine(EngineError::Query(_)) => StatusCode::BAD_REQUEST,
            WebError::Store(StoreError::BsnExists { .. })
            | WebError::Engine(EngineError::Store(StoreError::BsnExists { .. })) => StatusCode::CONFLICT,
            WebError::Engine(EngineError::Runtime(doorloop_engine::runtime::RuntimeError::TaskNotOpen {
                ..
            })) => StatusCode::CONFLICT,
            WebError::Engine(EngineError::Runtime(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Engine(EngineError::Invalid(_) | EngineError::Definition(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WebError::Store(StoreError::PathwayNotFound { .. })
            | WebError::Engine(EngineError::Store(StoreError::PathwayNotFound { .. })) => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code for this error: what API clients branch on and what a user can quote
    /// to support. Never changes meaning once published.
    pub fn code(&self) -> &'static str {
        use doorloop_engine::runtime::RuntimeError as R;
        if self.disk_full() {
            return "database_full";
        }
        if self.unavailable() {
            return "database_unavailable";
        }
        match self {
            WebError::NotFound => "not_found",
            WebError::Forbidden(_) => "forbidden",
            WebError::StartNotAllowed { .. } => "start_not_allowed",
            WebError::BadRequest(_) => "bad_request",
            WebError::CaseEnded => "case_ended",
            WebError::Engine(EngineError::CaseNotFound { .. } | EngineError::ResidentNotFound { .. }) => {
                "not_found"
            }
            WebError::Engine(EngineError::Conflict { .. }) => "case_changed",
            WebError::Engine(EngineError::ResidentInvalid(_)) => "field_invalid",
            WebError::Engine(EngineError::BusinessKeyInvalid(_)) => "business_key_invalid",
            WebError::Engine(EngineError::Bsn(b) | EngineError::Query(QueryError::Bsn(b))) => match b {
                BsnError::Length | BsnError::Checksum => "bsn_invalid",
                BsnError::NoKey => "bsn_key_missing",
                _ => "internal",
            },
            WebError::Engine(EngineError::Query(_)) => "query_invalid",
            WebError::Store(StoreError::BsnExists { .. })
            | WebError::Engine(EngineError::Store(StoreError::BsnExists { .. })) => "bsn_exists",
            WebError::Engine(EngineError::Runtime(r)) => match r {
                R::TaskNotOpen { .. } => "task_already_completed",
                R::MissingField { .. } => "field_missing",
                R::UnknownField { .. } => "field_unknown",
                R::FieldType { .. } => "field_invalid",
                R::UnknownVariable { .. } => "variable_unknown",
                _ => "action_not_allowed",
            },
            WebError::Engine(EngineError::Invalid(_)) => "pathway_invalid",
            WebError::Engine(EngineError::Definition(_)) => "pathway_unreadable",
            WebError::Store(StoreError::PathwayNotFound { .. })
            | WebError::Engine(EngineError::Store(StoreError::PathwayNotFound { .. })) => "not_found",
            _ => "internal",
        }
    }

    /// The text shown to the user; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(error = %self, "the database is unavailable");
                "De database is even niet bereikbaar. Probeer het over een minuut opnieuw; kijk dan eerst of uw laatste wijziging al is opgeslagen.".to_owned()
            }
            StatusCode::INSUFFICIENT_STORAGE => {
                tracing::error!(error = %self, "the database's disk is full");
                "De database kan niets meer opslaan: de schijf is vol. Uw wijziging is niet opgeslagen. Meld het aan de beheerder en probeer het opnieuw als er weer ruimte is.".to_owned()
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::error!(error = %self, "request failed");
                "Er ging iets mis aan onze kant. Probeer het later opnieuw.".to_owned()
            }
            StatusCode::NOT_FOUND => {
                "Deze pagina of casus bestaat niet, of u heeft er geen toegang toe.".to_owned()
            }
            _ => match self {
                WebError::Engine(EngineError::ResidentInvalid(p)) => {
                    format!("{}: {}", field_label(p.field), p.message)
                }
                WebError::Engine(EngineError::BusinessKeyInvalid(p)) => {
                    use doorloop_engine::engine::BusinessKeyProblem as P;
                    match p {
                        P::Empty => "Het zaakkenmerk is leeg.",
                        P::TooLong => "Het zaakkenmerk is langer dan 100 tekens.",
                        P::Characters => {
                            "Gebruik in het zaakkenmerk alleen letters, cijfers en - _ . / : #, te beginnen met een letter of cijfer."
                        }
                        P::Bsn => "Een BSN mag geen zaakkenmerk zijn; het BSN staat alleen bij de inwoner.",
                    }
                    .to_owned()
                }
                WebError::Store(StoreError::BsnExists { reference })
                | WebError::Engine(EngineError::Store(StoreError::BsnExists { reference })) => {
                    format!("Dit BSN is al vastgelegd bij inwoner {reference}.")
                }
                _ => self.to_string(),
            },
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        crate::views::error_page_coded(status, Some(self.code()), &message)
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// The Dutch label of a resident's field, for messages.
pub(crate) fn field_label(field: &str) -> &str {
    match field {
        "given_name" => "Voornaam",
        "family_name" => "Achternaam",
        "birth_date" => "Geboortedatum",
        "email" => "E-mailadres",
        "phone" => "Telefoon",
        "address" => "Adres",
        "municipality" => "Gemeente",
        "bsn" => "BSN",
        other => other,
    }
}

/// At most 200 characters of a message: serde quotes the value it refused, which may be
/// as large as the body.
pub(crate) fn shorten(message: &str) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        return message.to_owned();
    }
    let mut out: String = message.chars().take(MAX).collect();
    out.push('…');
    out
}

/// A query string that does not read as what a route expects.
pub(crate) struct BadQuery {
    /// The parameter it is about, when serde can tell.
    pub field: Option<String>,
    /// serde's words (English), shortened.
    pub message: String,
}

/// Reads a query string as `T`, naming the parameter that is wrong.
pub(crate) fn read_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, BadQuery> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = shorten(&e.into_inner().to_string());
        let field = if path == "." {
            message.split('`').nth(1).map(str::to_owned)
        } else {
            Some(path)
        };
        BadQuery { field, message }
    })
}

/// A page's query string read as `T`; a bad value answers the Dutch error page naming the
/// parameter, never serde's English.
pub struct PageQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for PageQuery<T> {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        read_query(parts.uri.query().unwrap_or(""))
            .map(PageQuery)
            .map_err(|bad| {
                WebError::BadRequest(match bad.field {
                    Some(f) => format!(
                        "Het verzoek kon niet worden gelezen: het adres bevat een waarde die niet klopt bij ‘{}’. Ga terug en kies opnieuw.",
                        shorten(&f)
                    ),
                    None => "Het verzoek kon niet worden gelezen: het adres klopt niet. Ga terug en kies opnieuw.".to_owned(),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_with_its_own_code_and_a_dutch_message() {
        for e in [
            WebError::DiskFull("access log: (code: 13) database or disk is full".into()),
            WebError::Internal("other".into()),
            WebError::Unavailable("pool timed out".into()),
        ] {
            let (status, code, message) = (e.status(), e.code(), e.public_message());
            match e {
                WebError::DiskFull(_) => {
                    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
                    assert_eq!(code, "database_full");
                    assert!(message.contains("de schijf is vol"), "{message}");
                    assert!(!message.contains("code: 13"), "details stay in the log");
                }
                WebError::Unavailable(_) => assert_eq!(code, "database_unavailable"),
                _ => assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
    }
}
