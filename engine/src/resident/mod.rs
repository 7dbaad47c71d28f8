//! Residents (inwoners): the person a line of cases belongs to.
//!
//! A resident has a Doorloop reference (`DL-000042`), a name, an optional date of birth,
//! contact details, a municipality and optionally a BSN (see [`bsn`]). Every case belongs to
//! one resident. Pure: no IO, no clock.

pub mod bsn;
pub mod provision;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub use bsn::{Bsn, BsnError, BsnVault, SealedBsn};

/// The longest name, address or contact field accepted.
pub const MAX_FIELD: usize = 200;

/// A resident as stored. The BSN is not here: only whether one is recorded; reading it is
/// a separate, logged act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resident {
    pub id: String,
    /// The Doorloop reference people quote (`DL-000042`).
    pub reference: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<NaiveDate>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub municipality: Option<String>,
    pub has_bsn: bool,
    /// Created for a case that existed before residents did: who it is, is not known yet.
    pub unknown: bool,
    pub created_at: DateTime<Utc>,
    /// Who registered them (none for the system's own records).
    #[serde(skip)]
    pub created_by: Option<String>,
}

impl Resident {
    /// "Pablo de Vries", or the reference for a person not known yet.
    pub fn display_name(&self) -> String {
        if self.unknown {
            return format!("Onbekende inwoner ({})", self.reference);
        }
        let name = format!("{} {}", self.given_name, self.family_name);
        name.trim().to_owned()
    }
}

/// The fields of a new resident, or of a change to one, as typed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResidentInput {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<NaiveDate>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub municipality: Option<String>,
    pub bsn: Option<Bsn>,
}

/// Why a resident's details are refused; `field` names the field for forms and the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ResidentProblem {
    pub field: &'static str,
    pub message: String,
}

impl ResidentInput {
    /// Checks what a person typed: a family name is needed, fields have a sensible length
    /// and no control characters, a date of birth lies between 1900 and `today`.
    pub fn check(&self, today: NaiveDate) -> Result<(), ResidentProblem> {
        let problem = |field, message: &str| {
            Err(ResidentProblem {
                field,
                message: message.to_owned(),
            })
        };
        if self.family_name.trim().is_empty() {
            return problem("family_name", "vul de achternaam in");
        }
        for (field, value) in [
            ("given_name", Some(&self.given_name)),
            ("family_name", Some(&self.family_name)),
            ("email", self.email.as_ref()),
            ("phone", self.phone.as_ref()),
            ("address", self.address.as_ref()),
            ("municipality", self.municipality.as_ref()),
        ] {
            let Some(v) = value else { continue };
            if v.chars().count() > MAX_FIELD {
                return problem(field, "is te lang (meer dan 200 tekens)");
            }
            if v.chars().any(char::is_control) {
                return problem(field, "bevat een regeleinde of ander stuurteken");
            }
        }
        if let Some(e) = &self.email
            && !(e.contains('@') && !e.starts_with('@') && !e.ends_with('@'))
        {
            return problem("email", "is geen e-mailadres");
        }
        if let Some(d) = self.birth_date {
            let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
            if d > today || d < earliest {
                return problem("birth_date", "ligt niet tussen 1900 en vandaag");
            }
        }
        Ok(())
    }
}

/// What a search box's text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentQuery {
    /// Every word a prefix of a word of the name (accents and case ignored).
    Name(Vec<String>),
    Reference(String),
    BirthDate(NaiveDate),
    Bsn(Bsn),
}

/// Why a search text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error(
        "typ minstens twee letters van een naam, een referentie (DL-…), een geboortedatum (dd-mm-jjjj) of een BSN"
    )]
    TooShort,
    #[error("de zoekvraag is te lang")]
    TooLong,
    #[error(transparent)]
    Bsn(#[from] BsnError),
}

impl ResidentQuery {
    pub fn parse(text: &str) -> Result<ResidentQuery, QueryError> {
        let text = text.trim();
        if text.chars().count() > MAX_FIELD {
            return Err(QueryError::TooLong);
        }
        // Two characters as typed, too: one sign can fold to two letters (`£` to `ps`).
        if text.chars().count() < 2 {
            return Err(QueryError::TooShort);
        }
        if let Some(r) = parse_reference(text) {
            return Ok(ResidentQuery::Reference(r));
        }
        if let Some(d) = parse_date(text) {
            return Ok(ResidentQuery::BirthDate(d));
        }
        if Bsn::looks_like(text) {
            return Ok(ResidentQuery::Bsn(Bsn::parse(text)?));
        }
        let words = name_words(text);
        if words.iter().map(String::len).sum::<usize>() < 2 {
            return Err(QueryError::TooShort);
        }
        Ok(ResidentQuery::Name(words))
    }

    /// What kind of search it is, for the access log (never the text searched for).
    pub fn kind(&self) -> &'static str {
        match self {
            ResidentQuery::Name(_) => "naam",
            ResidentQuery::Reference(_) => "referentie",
            ResidentQuery::BirthDate(_) => "geboortedatum",
            ResidentQuery::Bsn(_) => "BSN",
        }
    }
}

/// `DL-42`, `dl-000042` → `DL-000042`.
pub fn parse_reference(text: &str) -> Option<String> {
    let rest = text.strip_prefix("DL-").or_else(|| text.strip_prefix("dl-"))?;
    let n: u64 = rest.parse().ok()?;
    Some(reference(n))
}

pub fn reference(number: u64) -> String {
    format!("DL-{number:06}")
}

/// `17-03-1997`, `17-3-1997` or `1997-03-17`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%d-%m-%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}

/// The words of a name as the index keeps them: accents folded (`Özdemir` → `ozdemir`),
/// lower case, apostrophes dropped (`’t Hart` → `t`, `hart`), split on anything else.
pub fn name_words(text: &str) -> Vec<String> {
    deunicode::deunicode(text)
        .to_lowercase()
        .replace(['\'', '`'], "")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The words a resident is found by: given and family name.
pub fn search_words(given_name: &str, family_name: &str) -> Vec<String> {
    let mut words = name_words(&format!("{given_name} {family_name}"));
    words.sort();
    words.dedup();
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sign_is_too_short_even_when_it_folds_to_two_letters() {
        assert_eq!(name_words("£"), ["ps"]);
        assert!(matches!(ResidentQuery::parse(" £ "), Err(QueryError::TooShort)));
        assert!(matches!(ResidentQuery::parse("Ö"), Err(QueryError::TooShort)));
        assert!(matches!(ResidentQuery::parse("Öz"), Ok(ResidentQuery::Name(_))));
    }

    #[test]
    fn search_texts_are_read_as_what_people_mean() {
        assert_eq!(
            ResidentQuery::parse("dl-42"),
            Ok(ResidentQuery::Reference("DL-000042".into()))
        );
        assert_eq!(
            ResidentQuery::parse("17-03-1997"),
            Ok(ResidentQuery::BirthDate(
                NaiveDate::from_ymd_opt(1997, 3, 17).unwrap()
            ))
        );
        assert!(matches!(
            ResidentQuery::parse("111 222 333"),
            Ok(ResidentQuery::Bsn(_))
        ));
        assert_eq!(
            ResidentQuery::parse("111222334"),
            Err(QueryError::Bsn(BsnError::Checksum)),
            "a mistyped BSN is not searched as a name"
        );
        assert_eq!(
            ResidentQuery::parse("  Özd  Jan-Willem "),
            Ok(ResidentQuery::Name(vec![
                "ozd".into(),
                "jan".into(),
                "willem".into()
            ]))
        );
        assert_eq!(ResidentQuery::parse("a"), Err(QueryError::TooShort));
        assert_eq!(ResidentQuery::parse("  "), Err(QueryError::TooShort));
    }

    #[test]
    fn names_fold_accents_and_case() {
        assert_eq!(
            search_words("Zoë", "’t Hart-Çelik"),
            vec!["celik", "hart", "t", "zoe"]
        );
        assert_eq!(name_words("O'Neill"), vec!["oneill"]);
    }

    #[test]
    fn input_is_checked_field_by_field() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let ok = ResidentInput {
            given_name: "Pablo".into(),
            family_name: "Verhoeven".into(),
            ..Default::default()
        };
        assert!(ok.check(today).is_ok());
        let no_name = ResidentInput::default();
        assert_eq!(no_name.check(today).unwrap_err().field, "family_name");
        let future = ResidentInput {
            birth_date: NaiveDate::from_ymd_opt(2030, 1, 1),
            ..ok.clone()
        };
        assert_eq!(future.check(today).unwrap_err().field, "birth_date");
        let newline = ResidentInput {
            address: Some("Kerkstraat 1\nOss".into()),
            ..ok.clone()
        };
        assert_eq!(newline.check(today).unwrap_err().field, "address");
        let mail = ResidentInput {
            email: Some("geen-adres".into()),
            ..ok
        };
        assert_eq!(mail.check(today).unwrap_err().field, "email");
    }
}
