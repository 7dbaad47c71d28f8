//! The chain: the organisations of a region and on what ground each may process the data of
//! a case. Pure: the rule "may this organisation see this case" is decided here, and the
//! store's list queries say the same thing in SQL (the store suite holds them to it).
//!
//! The municipality a resident lives in processes their cases as its legal task: it needs no
//! recorded ground. Every other organisation — a care provider, the social work company,
//! UWV — sees a case only while a ground is recorded for it on that case ([`CaseParty`]), and
//! loses it the moment that ground is withdrawn.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pathway::model::{Category, Pathway};

/// What kind of organisation it is. Pathway roles name the kind that fills them
/// (`organisation: zorgaanbieder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrganisationKind {
    #[serde(rename = "gemeente")]
    Gemeente,
    #[serde(rename = "zorgaanbieder")]
    Zorgaanbieder,
    #[serde(rename = "sw-bedrijf")]
    SwBedrijf,
    #[serde(rename = "uwv")]
    Uwv,
    #[serde(rename = "regio")]
    Regio,
}

impl OrganisationKind {
    pub const ALL: [OrganisationKind; 5] = [
        OrganisationKind::Gemeente,
        OrganisationKind::Zorgaanbieder,
        OrganisationKind::SwBedrijf,
        OrganisationKind::Uwv,
        OrganisationKind::Regio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::Gemeente => "gemeente",
            OrganisationKind::Zorgaanbieder => "zorgaanbieder",
            OrganisationKind::SwBedrijf => "sw-bedrijf",
            OrganisationKind::Uwv => "uwv",
            OrganisationKind::Regio => "regio",
        }
    }

    pub fn parse(text: &str) -> Option<OrganisationKind> {
        OrganisationKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind a pathway role's `organisation:` names: a kind's key or label, or a word
    /// pathways use for one (`jeugdhulp` is care, an `ontwikkelcentrum` is the social work
    /// company's). `None` for a word it does not know.
    pub fn of_role(text: &str) -> Option<OrganisationKind> {
        let t = text.trim().to_lowercase();
        OrganisationKind::parse(&t)
            .or_else(|| {
                OrganisationKind::ALL
                    .into_iter()
                    .find(|k| k.label().to_lowercase() == t)
            })
            .or(match t.as_str() {
                "jeugdhulp" | "zorg" | "wijkteam" => Some(OrganisationKind::Zorgaanbieder),
                "ontwikkelcentrum" | "sw" | "werkbedrijf" => Some(OrganisationKind::SwBedrijf),
                _ => None,
            })
    }

    /// The Dutch name people read.
    pub fn label(self) -> &'static str {
        match self {
            OrganisationKind::Gemeente => "gemeente",
            OrganisationKind::Zorgaanbieder => "zorgaanbieder",
            OrganisationKind::SwBedrijf => "sociaal werkbedrijf",
            OrganisationKind::Uwv => "UWV",
            OrganisationKind::Regio => "regionale coördinatie",
        }
    }
}

/// An organisation of the region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Short key (`Oss`, `ibn`, `zorggroep-linde`); a municipality's key is what residents'
    /// records name as their municipality.
    pub id: String,
    pub name: String,
    pub kind: OrganisationKind,
}

/// Why an organisation key or name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganisationError {
    #[error("organisation key `{0}`: use letters, digits and hyphens (1 to 40)")]
    BadKey(String),
    #[error("organisation `{0}` needs a name")]
    NoName(String),
}

impl Organisation {
    /// Checks the key and name before the organisation is stored.
    pub fn check(&self) -> Result<(), OrganisationError> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(OrganisationError::BadKey(self.id.clone()));
        }
        if self.name.trim().is_empty() {
            return Err(OrganisationError::NoName(self.id.clone()));
        }
        Ok(())
    }
}

/// On what ground an organisation processes a resident's data for a case (AVG art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ground {
    /// A task the law gives it (the Participatiewet for the social work company, the WIA for
    /// UWV, a Wmo provision for the care provider that delivers it).
    #[serde(rename = "wettelijke-taak")]
    WettelijkeTaak,
    /// The resident's consent for this purpose, recorded with the form as reference; it can
    /// be withdrawn at any time.
    #[serde(rename = "toestemming")]
    Toestemming,
}

impl Ground {
    pub const ALL: [Ground; 2] = [Ground::WettelijkeTaak, Ground::Toestemming];

    pub fn as_str(self) -> &'static str {
        match self {
            Ground::WettelijkeTaak => "wettelijke-taak",
            Ground::Toestemming => "toestemming",
        }
    }

    pub fn parse(text: &str) -> Option<Ground> {
        Ground::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Ground::WettelijkeTaak => "wettelijke taak",
            Ground::Toestemming => "toestemming van de inwoner",
        }
    }
}

/// A recorded ground for one organisation on one case: since when, by whom, on what
/// reference; and when it was withdrawn. Rows are never deleted: the history shows who could
/// see the case when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseParty {
    pub id: String,
    pub case_id: String,
    pub organisation: String,
    pub ground: Ground,
    /// What the organisation does in the case ("begeleiding naar werk", "intake").
    pub purpose: String,
    /// The consent form or decision the ground rests on.
    pub reference: Option<String>,
    pub since: DateTime<Utc>,
    pub recorded_by: String,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
    pub withdrawn_reason: Option<String>,
}

impl CaseParty {
    pub fn is_active(&self) -> bool {
        self.withdrawn_at.is_none()
    }
}

/// Why a ground cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartyError {
    #[error("say what the organisation does in this case (the purpose)")]
    NoPurpose,
    #[error("consent needs the reference of the signed consent form")]
    NoReference,
    #[error("the municipality the resident lives in needs no recorded ground")]
    Municipality,
}

impl CaseParty {
    /// Checks a new ground: a purpose, and for consent the form's reference.
    pub fn check(&self, municipality: Option<&str>) -> Result<(), PartyError> {
        if self.purpose.trim().is_empty() {
            return Err(PartyError::NoPurpose);
        }
        if self.ground == Ground::Toestemming && self.reference.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            return Err(PartyError::NoReference);
        }
        if municipality == Some(self.organisation.as_str()) {
            return Err(PartyError::Municipality);
        }
        Ok(())
    }
}

/// Who is asking, as far as the chain is concerned: their organisation and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub organisation: &'a str,
    pub kind: OrganisationKind,
}

impl<'a> Member<'a> {
    /// A member of `organisation` of `kind`. An organisation without a record counts as
    /// neither municipality nor region: it sees only cases it holds a ground on.
    pub fn of(organisation: &'a str, kind: Option<OrganisationKind>) -> Member<'a> {
        Member {
            organisation,
            kind: kind.unwrap_or(OrganisationKind::Zorgaanbieder),
        }
    }
}

/// Why an organisation may see a case, if it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The municipality the resident lives in (or, for a resident whose municipality is not
    /// recorded yet, any municipality, so that it can be filled in).
    Municipality,
    /// A recorded, not withdrawn, ground.
    Party(Ground),
    /// The regional coordination: figures and read access across the region.
    Region,
}

/// Whether `member`'s organisation may see a case of a resident living in `municipality`
/// with the recorded grounds `parties`, and why.
pub fn standing(member: Member<'_>, municipality: Option<&str>, parties: &[CaseParty]) -> Option<Standing> {
    if member.kind == OrganisationKind::Regio {
        return Some(Standing::Region);
    }
    match municipality {
        Some(m) if m == member.organisation => return Some(Standing::Municipality),
        None if member.kind == OrganisationKind::Gemeente => return Some(Standing::Municipality),
        _ => {}
    }
    parties
        .iter()
        .find(|p| p.is_active() && p.organisation == member.organisation)
        .map(|p| Standing::Party(p.ground))
}

/// The field categories an organisation of `kind` reads when a pathway says nothing else:
/// a municipality all; a care provider care, work and the general; the social work company
/// work and the general; UWV also income and health (its insurance doctor); the region only
/// work and the general.
pub fn default_sight(kind: OrganisationKind) -> BTreeSet<Category> {
    use Category::*;
    let cats: &[Category] = match kind {
        OrganisationKind::Gemeente => &[Zorg, Inkomen, Werk, Algemeen],
        OrganisationKind::Zorgaanbieder => &[Zorg, Werk, Algemeen],
        OrganisationKind::SwBedrijf => &[Werk, Algemeen],
        OrganisationKind::Uwv => &[Zorg, Inkomen, Werk, Algemeen],
        OrganisationKind::Regio => &[Werk, Algemeen],
    };
    cats.iter().copied().collect()
}

/// What a person reads of a case on `pathway` (need to know): for each of the pathway's
/// roles they work as, the role's `sees:` or the default of the role's kind of organisation;
/// someone in none of its roles, their own organisation's default. Managers read no more than
/// work and the general: figures and progress, not health or income.
pub fn sight(
    pathway: &Pathway,
    teams: &[String],
    manager: bool,
    kind: OrganisationKind,
) -> BTreeSet<Category> {
    if manager {
        return [Category::Werk, Category::Algemeen].into_iter().collect();
    }
    let mut seen = BTreeSet::new();
    let mut in_a_role = false;
    for (id, role) in &pathway.roles {
        if !teams.contains(id) {
            continue;
        }
        in_a_role = true;
        match &role.sees {
            Some(cats) => seen.extend(cats.iter().copied()),
            None => seen.extend(default_sight(
                role.organisation
                    .as_deref()
                    .and_then(OrganisationKind::of_role)
                    .unwrap_or(kind),
            )),
        }
    }
    if !in_a_role {
        seen = default_sight(kind);
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn party(org: &str, withdrawn: bool) -> CaseParty {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        CaseParty {
            id: format!("p-{org}"),
            case_id: "c".into(),
            organisation: org.into(),
            ground: Ground::Toestemming,
            purpose: "begeleiding".into(),
            reference: Some("TF-1".into()),
            since: at,
            recorded_by: "anna".into(),
            withdrawn_at: withdrawn.then_some(at),
            withdrawn_by: withdrawn.then(|| "anna".into()),
            withdrawn_reason: None,
        }
    }

    fn member(org: &str, kind: OrganisationKind) -> Member<'_> {
        Member {
            organisation: org,
            kind,
        }
    }

    #[test]
    fn the_municipality_of_residence_sees_its_residents_and_no_other() {
        let oss = member("oss", OrganisationKind::Gemeente);
        let uden = member("uden", OrganisationKind::Gemeente);
        assert_eq!(standing(oss, Some("oss"), &[]), Some(Standing::Municipality));
        assert_eq!(standing(uden, Some("oss"), &[]), None);
        // Not recorded yet: any municipality may see it to fill it in; a provider may not.
        assert_eq!(standing(uden, None, &[]), Some(Standing::Municipality));
        assert_eq!(
            standing(member("linde", OrganisationKind::Zorgaanbieder), None, &[]),
            None
        );
    }

    #[test]
    fn a_provider_sees_a_case_only_while_its_ground_stands() {
        let linde = member("linde", OrganisationKind::Zorgaanbieder);
        let meer = member("meerzorg", OrganisationKind::Zorgaanbieder);
        let given = [party("linde", false)];
        assert_eq!(
            standing(linde, Some("oss"), &given),
            Some(Standing::Party(Ground::Toestemming))
        );
        assert_eq!(standing(meer, Some("oss"), &given), None);
        let withdrawn = [party("linde", true)];
        assert_eq!(standing(linde, Some("oss"), &withdrawn), None);
        // Withdrawn and given again: the new ground counts.
        let again = [party("linde", true), party("linde", false)];
        assert!(standing(linde, Some("oss"), &again).is_some());
        assert_eq!(
            standing(member("regio", OrganisationKind::Regio), Some("oss"), &[]),
            Some(Standing::Region)
        );
    }

    #[test]
    fn a_ground_needs_a_purpose_and_consent_a_reference() {
        let mut p = party("linde", false);
        assert_eq!(p.check(Some("oss")), Ok(()));
        p.reference = Some("  ".into());
        assert_eq!(p.check(Some("oss")), Err(PartyError::NoReference));
        p.ground = Ground::WettelijkeTaak;
        assert_eq!(p.check(Some("oss")), Ok(()));
        p.purpose = String::new();
        assert_eq!(p.check(Some("oss")), Err(PartyError::NoPurpose));
        let mut own = party("oss", false);
        own.ground = Ground::WettelijkeTaak;
        assert_eq!(own.check(Some("oss")), Err(PartyError::Municipality));
    }

    #[test]
    fn need_to_know_follows_the_roles_of_the_pathway() {
        let yaml = r#"
key: t
name: T
roles:
  klantmanager: { name: Klantmanager, organisation: gemeente, sees: [inkomen, werk, algemeen] }
  ambulant-begeleider: { name: Begeleider, organisation: zorgaanbieder }
  jobcoach: { name: Jobcoach, organisation: sociaal werkbedrijf }
steps:
  - { id: a, kind: task, name: A, role: klantmanager, next: b }
  - { id: b, kind: end, name: B }
"#;
        let p = crate::pathway::definition::from_yaml(yaml).unwrap().pathway;
        let cats = |teams: &[&str], manager, kind| {
            let teams: Vec<String> = teams.iter().map(|t| t.to_string()).collect();
            sight(&p, &teams, manager, kind).into_iter().collect::<Vec<_>>()
        };
        use Category::*;
        let gemeente = OrganisationKind::Gemeente;
        // The klantmanager does not read health; the begeleider does not read income.
        assert_eq!(
            cats(&["klantmanager"], false, gemeente),
            vec![Inkomen, Werk, Algemeen]
        );
        assert_eq!(
            cats(&["ambulant-begeleider"], false, OrganisationKind::Zorgaanbieder),
            vec![Zorg, Werk, Algemeen]
        );
        assert_eq!(
            cats(&["jobcoach"], false, OrganisationKind::SwBedrijf),
            vec![Werk, Algemeen]
        );
        // Two roles: both sights.
        assert_eq!(
            cats(&["klantmanager", "ambulant-begeleider"], false, gemeente),
            vec![Zorg, Inkomen, Werk, Algemeen]
        );
        // In no role of this pathway: the organisation's default; managers: work and general.
        assert_eq!(cats(&["wmo-consulent"], false, gemeente).len(), 4);
        assert_eq!(cats(&[], true, gemeente), vec![Werk, Algemeen]);
    }

    #[test]
    fn keys_are_plain() {
        let org = |id: &str| Organisation {
            id: id.into(),
            name: "X".into(),
            kind: OrganisationKind::Gemeente,
        };
        assert!(org("oss").check().is_ok());
        assert!(org("zorggroep-de-linde").check().is_ok());
        assert!(org("Oss").check().is_ok());
        assert!(org("Sint-Michielsgestel").check().is_ok());
        assert!(org("gemeente/oss").check().is_err());
        assert!(org("").check().is_err());
        assert!(org("a b").check().is_err());
    }
}
