//! The demo region (made up, after the Oss pilot): five municipalities, the social work
//! company, two care providers, UWV and the regional coordination.

use chrono::{DateTime, Utc};

use crate::chain::{CaseParty, Ground, Organisation, OrganisationKind};
use crate::engine::{Engine, Result};
use crate::pathway::model::PathwayVersion;
use crate::store::StoreError;

/// The municipalities, by key; the made-up residents live in them in turn.
pub const MUNICIPALITIES: &[&str] = super::people::MUNICIPALITIES;

/// Every organisation of the demo region: (key, name, kind).
pub const ORGANISATIONS: &[(&str, &str, OrganisationKind)] = &[
    ("Oss", "Gemeente Oss", OrganisationKind::Gemeente),
    ("Bernheze", "Gemeente Bernheze", OrganisationKind::Gemeente),
    ("Boekel", "Gemeente Boekel", OrganisationKind::Gemeente),
    ("Landerd", "Gemeente Landerd", OrganisationKind::Gemeente),
    ("Uden", "Gemeente Uden", OrganisationKind::Gemeente),
    ("ibn", "IBN (sociaal werkbedrijf)", OrganisationKind::SwBedrijf),
    ("de-linde", "Zorggroep De Linde", OrganisationKind::Zorgaanbieder),
    (
        "maasland",
        "Stichting Zorg Maasland",
        OrganisationKind::Zorgaanbieder,
    ),
    ("uwv", "UWV Noordoost-Brabant", OrganisationKind::Uwv),
    ("regio", "Regio Noordoost-Brabant", OrganisationKind::Regio),
];

/// The demo organisation that fills roles of `kind` for the `i`th resident: the two care
/// providers take turns.
pub fn provider(kind: OrganisationKind, i: usize) -> Option<&'static str> {
    match kind {
        OrganisationKind::Zorgaanbieder => Some(if i.is_multiple_of(2) {
            "de-linde"
        } else {
            "maasland"
        }),
        OrganisationKind::SwBedrijf => Some("ibn"),
        OrganisationKind::Uwv => Some("uwv"),
        OrganisationKind::Gemeente | OrganisationKind::Regio => None,
    }
}

/// Records the region's organisations that are missing.
pub async fn ensure(engine: &Engine) -> Result<()> {
    for (id, name, kind) in ORGANISATIONS {
        let org = Organisation {
            id: (*id).into(),
            name: (*name).into(),
            kind: *kind,
        };
        match engine.store().add_organisation(&org).await {
            Ok(()) | Err(StoreError::OrganisationExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Records, for a demo case of the `i`th resident, the ground of every organisation other than
/// the municipality whose people fill a role of its pathway: consent for the care provider,
/// the law for the social work company and UWV.
pub async fn involve(
    engine: &Engine,
    case_id: &str,
    pv: &PathwayVersion,
    i: usize,
    by: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    for role in pv.pathway.roles.values() {
        let Some(kind) = role.organisation.as_deref().and_then(OrganisationKind::of_role) else {
            continue;
        };
        let Some(org) = provider(kind, i) else { continue };
        let consent = kind == OrganisationKind::Zorgaanbieder;
        let party = CaseParty {
            id: format!("demo-{case_id}-{org}"),
            case_id: case_id.to_owned(),
            organisation: org.to_owned(),
            ground: if consent {
                Ground::Toestemming
            } else {
                Ground::WettelijkeTaak
            },
            purpose: format!("{} in {}", role.name, pv.pathway.name),
            reference: consent.then(|| format!("Toestemmingsformulier TF-{}-{i:04}", at.format("%Y"))),
            since: at,
            recorded_by: by.to_owned(),
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawn_reason: None,
        };
        engine.store().record_party(&party).await?;
    }
    Ok(())
}
