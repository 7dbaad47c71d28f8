//! Who may see and do what on a case, and the access log every case view writes.

use std::sync::Arc;

use std::collections::BTreeSet;

use doorloop_engine::chain::{self, CaseParty, Member, OrganisationKind, Standing};
use doorloop_engine::pathway::model::{Category, PathwayVersion};
use doorloop_engine::runtime::{CaseState, Task};
use doorloop_engine::store::{AccessEntry, OrgFilter, Store, StoreError, User, UserRole};
use doorloop_engine::time::clock::Clock;
use tokio::sync::{mpsc, oneshot};

use crate::error::WebError;

/// What a user may do with one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAccess {
    /// Not visible: answered as "not found" so ids do not leak.
    None,
    /// Managers: the cases their organisation may see, read-only.
    Read,
    /// Consultants on the case team (or whose team holds an open, unassigned task), of an
    /// organisation that may see the case.
    Act,
}

/// Where a case stands in the chain: the resident's municipality and every ground recorded
/// on it. Loaded with the case for every view.
#[derive(Debug, Clone, Default)]
pub struct CaseChain {
    pub municipality: Option<String>,
    pub parties: Vec<CaseParty>,
}

impl CaseChain {
    pub async fn load(store: &dyn Store, state: &CaseState) -> Result<CaseChain, WebError> {
        let municipality = match &state.resident {
            Some(r) => store.resident(r).await?.and_then(|r| r.municipality),
            None => None,
        };
        Ok(CaseChain {
            municipality,
            parties: store.case_parties(&state.id).await?,
        })
    }

    /// Why `user`'s organisation may see the case, if it may.
    pub fn standing(&self, user: &User) -> Option<Standing> {
        chain::standing(member(user), self.municipality.as_deref(), &self.parties)
    }

    /// The active grounds, oldest first.
    pub fn active(&self) -> impl Iterator<Item = &CaseParty> {
        self.parties.iter().filter(|p| p.is_active())
    }
}

/// A user as a member of the chain. An organisation without a record (which the store no
/// longer lets anyone create) counts as neither municipality nor region: it sees only cases
/// it holds a ground on.
pub fn member(user: &User) -> Member<'_> {
    Member::of(&user.organisation, user.organisation_kind)
}

/// The organisation filter for `user`'s lists: `None` for the regional coordination, which
/// sees the region.
pub fn org_filter(user: &User) -> Option<OrgFilter> {
    let m = member(user);
    (m.kind != OrganisationKind::Regio).then(|| OrgFilter {
        organisation: user.organisation.clone(),
        municipality: m.kind == OrganisationKind::Gemeente,
    })
}

/// What a user reads of a case's fields (need to know, [`chain::sight`]). Hidden fields are
/// left out of what is sent, never blanked in it.
#[derive(Debug, Clone)]
pub struct Sight<'p> {
    pv: &'p PathwayVersion,
    reads: BTreeSet<Category>,
    /// The fields of the steps the user's roles carry out: whoever fills in a form reads it.
    own: BTreeSet<&'p str>,
}

impl<'p> Sight<'p> {
    pub fn of(user: &User, pv: &'p PathwayVersion) -> Sight<'p> {
        let own = if user.role == UserRole::Consultant {
            pv.pathway
                .steps
                .iter()
                .filter(|s| s.responsible_roles().iter().any(|r| user.teams.contains(r)))
                .flat_map(|s| s.fields.iter().map(|f| f.name.as_str()))
                .collect()
        } else {
            BTreeSet::new()
        };
        Sight {
            pv,
            own,
            reads: chain::sight(
                &pv.pathway,
                &user.teams,
                user.role == UserRole::Manager,
                member(user).kind,
            ),
        }
    }

    /// The category of a field of this pathway (`algemeen` for what it does not declare).
    pub fn category(&self, field: &str) -> Category {
        self.pv
            .variable_type(field)
            .map(|f| f.category())
            .unwrap_or_default()
    }

    pub fn shows(&self, field: &str) -> bool {
        self.own.contains(field) || self.reads.contains(&self.category(field))
    }

    /// The categories among `fields` this user does not read, in Dutch, for a line such as
    /// "Afgeschermd voor uw rol: zorg en gezondheid".
    pub fn hidden<'a>(&self, fields: impl IntoIterator<Item = &'a String>) -> Vec<&'static str> {
        let mut cats: BTreeSet<Category> = BTreeSet::new();
        for f in fields {
            if !self.shows(f) {
                cats.insert(self.category(f));
            }
        }
        cats.into_iter().map(Category::label).collect()
    }
}

/// Object-level rule for cases: the user's organisation must stand in the case (the
/// resident's municipality, a recorded ground, or the region); then managers read it and
/// consultants act on it when they are on its team or their team has open work in it.
/// Coordinators and admins see no cases (they manage pathways and people).
pub fn case_access(user: &User, state: &CaseState, chain: &CaseChain) -> CaseAccess {
    if chain.standing(user).is_none() {
        return CaseAccess::None;
    }
    match user.role {
        UserRole::Manager => CaseAccess::Read,
        // The privacy officer reads a resident's whole file through the export, logged; no
        // case pages.
        UserRole::Coordinator | UserRole::Admin | UserRole::Privacy => CaseAccess::None,
        UserRole::Consultant => {
            let on_team = state.team.iter().any(|m| m == &user.id);
            let has_work = state
                .tasks
                .values()
                .any(|t| may_take(user, t) || t.assignee.as_ref() == Some(&user.id));
            if on_team || has_work {
                CaseAccess::Act
            } else {
                CaseAccess::None
            }
        }
    }
}

/// Whether `user` may pick up an unassigned task: one of its roles is one of their teams.
pub fn may_take(user: &User, task: &Task) -> bool {
    task.assignee.is_none() && task.roles.iter().any(|r| user.teams.contains(r))
}

/// Whether `user` may complete or plan `task`: it is theirs, or unassigned for their team.
pub fn check_task(user: &User, task: &Task) -> Result<(), WebError> {
    if user.role != UserRole::Consultant {
        return Err(WebError::Forbidden("Alleen consulenten werken taken af.".into()));
    }
    match &task.assignee {
        Some(a) if a == &user.id => Ok(()),
        Some(_) => Err(WebError::Forbidden(
            "Deze taak is toegewezen aan een collega. Vraag die om de taak vrij te geven.".into(),
        )),
        None if may_take(user, task) => Ok(()),
        None => Err(WebError::Forbidden("Deze taak hoort niet bij uw team.".into())),
    }
}

type Pending = (AccessEntry, oneshot::Sender<Result<(), AccessFailure>>);

/// Why a batch of access-log rows was not stored, kept apart so that each waiting view
/// answers as the store failed: unreachable (503), full (507) or otherwise (500).
#[derive(Clone, Debug)]
enum AccessFailure {
    Unavailable(String),
    DiskFull(String),
    Other(String),
}

impl From<&StoreError> for AccessFailure {
    fn from(e: &StoreError) -> Self {
        if e.is_disk_full() {
            AccessFailure::DiskFull(e.to_string())
        } else if e.is_unavailable() {
            AccessFailure::Unavailable(e.to_string())
        } else {
            AccessFailure::Other(e.to_string())
        }
    }
}

impl From<AccessFailure> for WebError {
    fn from(f: AccessFailure) -> Self {
        match f {
            AccessFailure::Unavailable(e) => WebError::Unavailable(format!("access log: {e}")),
            AccessFailure::DiskFull(e) => WebError::DiskFull(format!("access log: {e}")),
            AccessFailure::Other(e) => WebError::Internal(format!("access log: {e}")),
        }
    }
}

/// Writes access-log rows. Concurrent views are grouped into one transaction; a view
/// is shown only after its row is stored.
#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<Pending>,
    clock: Arc<dyn Clock>,
}

impl AccessLog {
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> AccessLog {
        let (tx, mut rx) = mpsc::channel::<Pending>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (entries, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let result = store
                    .log_access(&entries)
                    .await
                    .map_err(|e| AccessFailure::from(&e));
                if let Err(e) = &result {
                    tracing::error!(error = ?e, rows = entries.len(), "access log write failed");
                }
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        });
        AccessLog { tx, clock }
    }

    /// Records that `user` viewed `case_id` on `purpose` (screen or API); waits until stored.
    pub async fn record(&self, user: &User, case_id: &str, purpose: &str) -> Result<(), WebError> {
        self.store(user, case_id, None, purpose, None).await
    }

    /// Records that `user` viewed a resident's page or record on `purpose`.
    pub async fn record_resident(
        &self,
        user: &User,
        resident_id: &str,
        purpose: &str,
    ) -> Result<(), WebError> {
        self.store(user, "", Some(resident_id), purpose, None).await
    }

    /// Records a search: its kind (`naam`, `BSN`, …) and the references it showed, never
    /// the text searched for.
    pub async fn record_search(
        &self,
        user: &User,
        purpose: &str,
        kind: &str,
        shown: &[doorloop_engine::resident::Resident],
    ) -> Result<(), WebError> {
        let refs: Vec<&str> = shown.iter().map(|r| r.reference.as_str()).collect();
        let detail = format!(
            "zoeken op {kind}: {} gevonden{}{}",
            shown.len(),
            if refs.is_empty() { "" } else { ": " },
            refs.join(", ")
        );
        self.store(user, "", None, purpose, Some(detail)).await
    }

    async fn store(
        &self,
        user: &User,
        case_id: &str,
        resident_id: Option<&str>,
        purpose: &str,
        detail: Option<String>,
    ) -> Result<(), WebError> {
        let (done, wait) = oneshot::channel();
        let entry = AccessEntry {
            at: self.clock.now(),
            user_id: user.id.clone(),
            case_id: case_id.to_owned(),
            purpose: purpose.to_owned(),
            resident_id: resident_id.map(str::to_owned),
            detail,
        };
        self.tx
            .send((entry, done))
            .await
            .map_err(|_| WebError::Internal("access log writer stopped".into()))?;
        wait.await
            .map_err(|_| WebError::Internal("access log writer stopped".into()))?
            .map_err(WebError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn user(id: &str, role: UserRole, teams: &[&str]) -> User {
        User {
            id: id.into(),
            display_name: id.into(),
            role,
            teams: teams.iter().map(|t| t.to_string()).collect(),
            email: None,
            organisation: "Oss".into(),
            organisation_kind: Some(OrganisationKind::Gemeente),
            password_hash: None,
            active: true,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn oss() -> CaseChain {
        CaseChain {
            municipality: Some("Oss".into()),
            parties: Vec::new(),
        }
    }

    fn case_with(task_roles: &[&str], assignee: Option<&str>, team: &[&str]) -> CaseState {
        let mut state = CaseState::blank("c1");
        state.team = team.iter().map(|t| t.to_string()).collect();
        state.tasks.insert(
            "t1".into(),
            Task {
                id: "t1".into(),
                step: "intake".into(),
                token: 1,
                roles: task_roles.iter().map(|r| r.to_string()).collect(),
                assignee: assignee.map(str::to_owned),
                opened_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                due: None,
                visit: None,
                timers: vec![],
                adhoc: None,
            },
        );
        state
    }

    #[test]
    fn consultants_see_their_cases_and_their_teams_open_work_only() {
        let anna = user("anna", UserRole::Consultant, &["wmo-consulent"]);
        let piet = user("piet", UserRole::Consultant, &["jobcoach"]);
        let open = case_with(&["wmo-consulent"], None, &[]);
        assert_eq!(case_access(&anna, &open, &oss()), CaseAccess::Act);
        assert_eq!(case_access(&piet, &open, &oss()), CaseAccess::None);
        let taken = case_with(&["wmo-consulent"], Some("bert"), &["bert"]);
        assert_eq!(
            case_access(&anna, &taken, &oss()),
            CaseAccess::None,
            "assigned to a colleague, not on the team"
        );
        let member = case_with(&["wmo-consulent"], Some("bert"), &["bert", "piet"]);
        assert_eq!(case_access(&piet, &member, &oss()), CaseAccess::Act);
    }

    #[test]
    fn managers_read_and_others_see_no_cases() {
        let case = case_with(&["wmo-consulent"], None, &[]);
        assert_eq!(
            case_access(&user("m", UserRole::Manager, &[]), &case, &oss()),
            CaseAccess::Read
        );
        assert_eq!(
            case_access(&user("c", UserRole::Coordinator, &[]), &case, &oss()),
            CaseAccess::None
        );
        assert_eq!(
            case_access(&user("a", UserRole::Admin, &[]), &case, &oss()),
            CaseAccess::None
        );
    }

    #[test]
    fn the_organisation_must_stand_in_the_case() {
        let case = case_with(&["ambulant-begeleider"], None, &[]);
        let mut gijs = user("gijs", UserRole::Consultant, &["ambulant-begeleider"]);
        gijs.organisation = "de-linde".into();
        gijs.organisation_kind = Some(OrganisationKind::Zorgaanbieder);
        let mut uden = user("ulla", UserRole::Manager, &[]);
        uden.organisation = "Uden".into();
        // The task is for his team, but his care provider has no ground on the case.
        assert_eq!(case_access(&gijs, &case, &oss()), CaseAccess::None);
        assert_eq!(case_access(&uden, &case, &oss()), CaseAccess::None);
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        let mut party = CaseParty {
            id: "p".into(),
            case_id: "c1".into(),
            organisation: "de-linde".into(),
            ground: chain::Ground::Toestemming,
            purpose: "begeleiding".into(),
            reference: Some("TF-12".into()),
            since: at,
            recorded_by: "anna".into(),
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawn_reason: None,
        };
        let given = CaseChain {
            municipality: Some("Oss".into()),
            parties: vec![party.clone()],
        };
        assert_eq!(case_access(&gijs, &case, &given), CaseAccess::Act);
        party.withdrawn_at = Some(at);
        let withdrawn = CaseChain {
            municipality: Some("Oss".into()),
            parties: vec![party],
        };
        assert_eq!(case_access(&gijs, &case, &withdrawn), CaseAccess::None);
        let mut region = user("rita", UserRole::Manager, &[]);
        region.organisation = "regio".into();
        region.organisation_kind = Some(OrganisationKind::Regio);
        assert_eq!(case_access(&region, &case, &oss()), CaseAccess::Read);
        assert_eq!(org_filter(&region), None);
        assert_eq!(
            org_filter(&gijs),
            Some(OrgFilter {
                organisation: "de-linde".into(),
                municipality: false
            })
        );
    }

    #[test]
    fn only_the_assignee_or_the_team_may_act_on_a_task() {
        let anna = user("anna", UserRole::Consultant, &["wmo-consulent"]);
        let case = case_with(&["wmo-consulent"], None, &[]);
        assert!(check_task(&anna, &case.tasks["t1"]).is_ok());
        let taken = case_with(&["wmo-consulent"], Some("bert"), &["bert"]);
        assert!(check_task(&anna, &taken.tasks["t1"]).is_err());
        let mine = case_with(&["jobcoach"], Some("anna"), &["anna"]);
        assert!(check_task(&anna, &mine.tasks["t1"]).is_ok());
        assert!(check_task(&user("m", UserRole::Manager, &[]), &case.tasks["t1"]).is_err());
    }
}
