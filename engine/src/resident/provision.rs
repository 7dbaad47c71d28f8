//! Provisions (voorzieningen): what a resident receives under which law — a Wmo indication,
//! dagbesteding, a benefit, loonkostensubsidie, jobcoaching, beschut werk — with its status
//! and dates. Steps of a pathway change them declaratively; consultants record them by hand.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A kind of provision: its key, the label people read, the law it falls under, and the
/// role that acts when it is about to expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionKind {
    pub key: String,
    pub label: String,
    pub law: String,
    /// Pathway role that gets the task when it is about to end (`wmo-consulent`,
    /// `klantmanager` or `arbeidsdeskundige` in the shipped voorziening-verloopt).
    pub role: String,
    /// Weeks before its end date that it opens that task; the installation's default
    /// (`residents.expiry_notice_weeks`) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_weeks: Option<u32>,
}

/// The kinds every installation knows; configuration may add more.
pub fn standard_kinds() -> Vec<ProvisionKind> {
    [
        ("wmo_begeleiding", "Wmo-begeleiding", "Wmo 2015", "wmo-consulent"),
        ("dagbesteding", "Dagbesteding", "Wmo 2015", "wmo-consulent"),
        (
            "bijstand",
            "Bijstandsuitkering",
            "Participatiewet",
            "klantmanager",
        ),
        ("wia", "WIA-uitkering", "WIA", "arbeidsdeskundige"),
        ("wajong", "Wajong-uitkering", "Wajong", "klantmanager"),
        (
            "loonkostensubsidie",
            "Loonkostensubsidie",
            "Participatiewet",
            "klantmanager",
        ),
        ("jobcoaching", "Jobcoaching", "Participatiewet", "klantmanager"),
        ("beschut_werk", "Beschut werk", "Participatiewet", "klantmanager"),
    ]
    .into_iter()
    .map(|(key, label, law, role)| ProvisionKind {
        key: key.into(),
        label: label.into(),
        law: law.into(),
        role: role.into(),
        notice_weeks: None,
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionStatus {
    Aangevraagd,
    Actief,
    /// Kept without being used (a dormant Wmo indication while working): the way back.
    Slapend,
    Beeindigd,
}

impl ProvisionStatus {
    pub const ALL: [ProvisionStatus; 4] = [
        ProvisionStatus::Aangevraagd,
        ProvisionStatus::Actief,
        ProvisionStatus::Slapend,
        ProvisionStatus::Beeindigd,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ProvisionStatus::Aangevraagd => "aangevraagd",
            ProvisionStatus::Actief => "actief",
            ProvisionStatus::Slapend => "slapend",
            ProvisionStatus::Beeindigd => "beeindigd",
        }
    }

    /// The Dutch word people read.
    pub fn label(&self) -> &'static str {
        match self {
            ProvisionStatus::Beeindigd => "beëindigd",
            other => other.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<ProvisionStatus> {
        let text = text.trim().to_lowercase().replace('ë', "e");
        ProvisionStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A resident's provision of one kind as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provision {
    pub resident_id: String,
    pub kind: String,
    pub status: ProvisionStatus,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// A dormant provision can be re-activated until this date.
    pub dormant_until: Option<NaiveDate>,
    pub decision_date: Option<NaiveDate>,
    pub decision_ref: Option<String>,
    /// Who decided (or recorded) it.
    pub decided_by: Option<String>,
    /// The case whose step last changed it, if a step did.
    pub case_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A change to a resident's provision of one kind: made by a step, a consultant or the
/// engine. `key` makes applying it twice harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionChange {
    pub key: String,
    pub resident_id: String,
    pub kind: String,
    pub status: ProvisionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dormant_until: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_ref: Option<String>,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// Why a provision change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProvisionProblem {
    pub field: &'static str,
    pub message: String,
}

impl ProvisionChange {
    /// Checks a change made by hand: a known kind, dates in order.
    pub fn check(&self, kinds: &[ProvisionKind]) -> Result<(), ProvisionProblem> {
        if !kinds.iter().any(|k| k.key == self.kind) {
            return Err(ProvisionProblem {
                field: "kind",
                message: format!("onbekende soort voorziening `{}`", self.kind),
            });
        }
        if let (Some(s), Some(e)) = (self.start_date, self.end_date)
            && e < s
        {
            return Err(ProvisionProblem {
                field: "end_date",
                message: "de einddatum ligt voor de begindatum".into(),
            });
        }
        if self
            .decision_ref
            .as_ref()
            .is_some_and(|r| r.chars().count() > 100 || r.chars().any(char::is_control))
        {
            return Err(ProvisionProblem {
                field: "decision_ref",
                message: "het kenmerk is te lang of bevat een regeleinde".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_people_write_them() {
        assert_eq!(
            ProvisionStatus::parse("Beëindigd"),
            Some(ProvisionStatus::Beeindigd)
        );
        assert_eq!(ProvisionStatus::parse("slapend"), Some(ProvisionStatus::Slapend));
        assert_eq!(ProvisionStatus::parse("weg"), None);
        assert_eq!(ProvisionStatus::Beeindigd.label(), "beëindigd");
    }

    #[test]
    fn a_change_by_hand_is_checked() {
        let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let change = ProvisionChange {
            key: "k".into(),
            resident_id: "r".into(),
            kind: "wmo_begeleiding".into(),
            status: ProvisionStatus::Actief,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1),
            end_date: NaiveDate::from_ymd_opt(2025, 1, 1),
            dormant_until: None,
            decision_date: None,
            decision_ref: None,
            by: "anna".into(),
            case_id: None,
            at,
        };
        assert_eq!(change.check(&standard_kinds()).unwrap_err().field, "end_date");
        let unknown = ProvisionChange {
            kind: "fiets".into(),
            end_date: None,
            ..change
        };
        assert_eq!(unknown.check(&standard_kinds()).unwrap_err().field, "kind");
    }
}
