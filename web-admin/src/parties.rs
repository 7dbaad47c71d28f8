//! The organisations on a case, for the pages and the API alike: which grounds are recorded,
//! involving an organisation on a ground, and withdrawing it — which removes the
//! organisation's access at once and takes its people's open tasks back.

use chrono::{DateTime, Utc};
use doorloop_engine::chain::{CaseParty, Ground, Organisation, OrganisationKind, PartyError, Standing};
use doorloop_engine::runtime::{Action, Command, NOTE_MAX, TaskRef};
use doorloop_engine::store::{User, UserRole};
use serde::Serialize;

use crate::AppState;
use crate::access::{CaseAccess, CaseChain};
use crate::cases::{self, CaseAct, Visible};
use crate::error::{WebError, WebResult};

/// A recorded ground as screens and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyOut {
    pub organisation: String,
    pub organisation_name: String,
    /// gemeente, zorgaanbieder, sw-bedrijf, uwv or regio.
    pub kind: String,
    /// wettelijke-taak or toestemming.
    pub ground: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub since: DateTime<Utc>,
    pub recorded_by: String,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
    pub withdrawn_reason: Option<String>,
}

/// What someone asks to record.
#[derive(Debug, Clone)]
pub struct Involve {
    pub organisation: String,
    pub ground: String,
    pub purpose: String,
    pub reference: Option<String>,
}

/// The case's grounds, oldest first, with organisation names.
pub(crate) async fn list(app: &AppState, chain: &CaseChain) -> WebResult<Vec<PartyOut>> {
    let orgs = app.engine.store().organisations().await?;
    Ok(chain.parties.iter().map(|p| party_out(&orgs, p)).collect())
}

fn party_out(orgs: &[Organisation], p: &CaseParty) -> PartyOut {
    let org = orgs.iter().find(|o| o.id == p.organisation);
    PartyOut {
        organisation: p.organisation.clone(),
        organisation_name: org.map_or_else(|| p.organisation.clone(), |o| o.name.clone()),
        kind: org.map(|o| o.kind.as_str().to_owned()).unwrap_or_default(),
        ground: p.ground.as_str().to_owned(),
        purpose: p.purpose.clone(),
        reference: p.reference.clone(),
        since: p.since,
        recorded_by: p.recorded_by.clone(),
        withdrawn_at: p.withdrawn_at,
        withdrawn_by: p.withdrawn_by.clone(),
        withdrawn_reason: p.withdrawn_reason.clone(),
    }
}

/// Only a consultant of the resident's municipality who works on the case records or
/// withdraws grounds: the municipality directs the case (regie).
pub(crate) fn may_manage(user: &User, case: &Visible, chain: &CaseChain) -> bool {
    user.role == UserRole::Consultant
        && case.access == CaseAccess::Act
        && chain.standing(user) == Some(Standing::Municipality)
}

fn check_manage(user: &User, case: &Visible, chain: &CaseChain) -> WebResult<()> {
    if may_manage(user, case, chain) {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "Alleen een consulent van de gemeente van de inwoner legt vast welke organisaties meewerken."
                .into(),
        ))
    }
}

/// Organisations that could still be involved: not the resident's municipality, not the
/// region, and without an active ground on the case.
pub(crate) async fn candidates(app: &AppState, chain: &CaseChain) -> WebResult<Vec<Organisation>> {
    let orgs = app.engine.store().organisations().await?;
    Ok(orgs
        .into_iter()
        .filter(|o| o.kind != OrganisationKind::Regio)
        .filter(|o| chain.municipality.as_deref() != Some(o.id.as_str()))
        .filter(|o| !chain.active().any(|p| p.organisation == o.id))
        .collect())
}

/// Records a ground for an organisation on the case, and says so on the timeline.
pub(crate) async fn involve(
    app: &AppState,
    user: &User,
    case: &Visible,
    what: Involve,
) -> WebResult<CaseParty> {
    let chain = CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    check_manage(user, case, &chain)?;
    let Some(org) = app.engine.store().organisation(what.organisation.trim()).await? else {
        return Err(WebError::BadRequest(format!(
            "Organisatie ‘{}’ is niet bekend.",
            what.organisation.trim()
        )));
    };
    if org.kind == OrganisationKind::Regio {
        return Err(WebError::BadRequest(format!(
            "{} ziet de cijfers van de regio; die hoeft u niet bij een casus te betrekken.",
            org.name
        )));
    }
    let Some(ground) = Ground::parse(what.ground.trim()) else {
        return Err(WebError::BadRequest(
            "Kies de grondslag: wettelijke taak of toestemming van de inwoner.".into(),
        ));
    };
    let reference = what
        .reference
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let purpose = what.purpose.trim().to_owned();
    if purpose.chars().count() > 300 || reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(WebError::BadRequest(
            "Gebruik voor het doel hoogstens 300 en voor het kenmerk hoogstens 200 tekens.".into(),
        ));
    }
    let party = CaseParty {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case.state.id.clone(),
        organisation: org.id.clone(),
        ground,
        purpose,
        reference,
        since: app.clock.now(),
        recorded_by: user.id.clone(),
        withdrawn_at: None,
        withdrawn_by: None,
        withdrawn_reason: None,
    };
    party
        .check(chain.municipality.as_deref())
        .map_err(|e| WebError::BadRequest(party_problem(&e, &org)))?;
    if !app.engine.store().record_party(&party).await? {
        return Err(WebError::BadRequest(format!(
            "{} werkt al mee in deze casus.",
            org.name
        )));
    }
    tracing::info!(case = %case.state.id, organisation = %org.id, ground = ground.as_str(), "organisation involved");
    let text = format!(
        "{} betrokken op grond van {}{}: {}.",
        org.name,
        ground.label(),
        party
            .reference
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        party.purpose
    );
    note(app, user, case, text).await?;
    Ok(party)
}

fn party_problem(e: &PartyError, org: &Organisation) -> String {
    match e {
        PartyError::NoPurpose => format!("Beschrijf wat {} in deze casus doet (het doel).", org.name),
        PartyError::NoReference => {
            "Bij toestemming hoort het kenmerk van het ondertekende toestemmingsformulier.".into()
        }
        PartyError::Municipality => format!(
            "{} is de gemeente van de inwoner en ziet de casus al op grond van haar wettelijke taak.",
            org.name
        ),
    }
}

/// Withdraws an organisation's ground: from this moment its people no longer see the case;
/// the open tasks they held go to the consultant who records the withdrawal. Nothing is
/// deleted. Returns how many tasks came back.
pub(crate) async fn withdraw(
    app: &AppState,
    user: &User,
    case: &Visible,
    organisation: &str,
    reason: &str,
) -> WebResult<usize> {
    let chain = CaseChain::load(app.engine.store().as_ref(), &case.state).await?;
    check_manage(user, case, &chain)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(WebError::BadRequest(
            "Geef een reden op (hoogstens 500 tekens), bijvoorbeeld: de inwoner trekt de toestemming in."
                .into(),
        ));
    }
    let org = app.engine.store().organisation(organisation).await?;
    let name = org.as_ref().map_or(organisation, |o| o.name.as_str()).to_owned();
    let now = app.clock.now();
    if !app
        .engine
        .store()
        .withdraw_party(&case.state.id, organisation, &user.id, Some(reason), now)
        .await?
    {
        return Err(WebError::BadRequest(format!(
            "{name} heeft geen grondslag (meer) in deze casus."
        )));
    }
    // Their people's open tasks come back to the municipality, to the one who withdrew.
    let theirs: Vec<String> = app
        .engine
        .store()
        .users()
        .await?
        .into_iter()
        .filter(|u| u.organisation == organisation)
        .map(|u| u.id)
        .collect();
    let mut back = 0;
    for task in case.state.tasks.values() {
        if task.assignee.as_ref().is_some_and(|a| theirs.contains(a)) {
            app.engine
                .execute(
                    &case.state.id,
                    Command::new(
                        user.id.clone(),
                        Action::Reassign {
                            task: TaskRef(task.id.clone()),
                            to: Some(user.id.clone()),
                        },
                    ),
                    now,
                )
                .await?;
            back += 1;
        }
    }
    tracing::info!(case = %case.state.id, organisation = %organisation, tasks = back, "ground withdrawn");
    let mut text = format!("{name} werkt niet meer mee: grondslag ingetrokken ({reason}).");
    if back > 0 {
        text.push_str(&format!(
            " {back} open {} terug bij de gemeente.",
            if back == 1 { "taak" } else { "taken" }
        ));
    }
    // The case as it is now (the reassignments moved it on).
    let case = cases::load(app, user, &case.state.id).await?;
    note(app, user, &case, text).await?;
    Ok(back)
}

async fn note(app: &AppState, user: &User, case: &Visible, mut text: String) -> WebResult<()> {
    if text.chars().count() > NOTE_MAX {
        text = text.chars().take(NOTE_MAX - 1).collect::<String>() + "…";
    }
    cases::act(
        app,
        user,
        case,
        CaseAct::Note {
            kind: "notitie".into(),
            text,
        },
    )
    .await?;
    Ok(())
}
