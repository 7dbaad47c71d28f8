//! The rules for accounts, written once for the web admin and the command line: a login name,
//! the teams a role may have, an e-mail address. Each problem reads in English (the CLI) and
//! in Dutch (the web).

use std::collections::BTreeMap;

use doorloop_engine::store::UserRole;

/// Why an account, or its rights, cannot be as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountProblem {
    #[error("user name `{0}` is not allowed: use 1–64 letters, digits, '-', '_', '.' or '@'")]
    BadLogin(String),
    #[error("a consultant needs at least one --team (a pathway role such as wmo-consulent)")]
    NoTeam,
    #[error("only consultants are members of role teams; leave out --team for a {0}")]
    TeamForStaff(String),
    #[error("e-mail address `{0}` has no @")]
    BadEmail(String),
    #[error("unknown team `{team}`: use one of {known}")]
    UnknownTeam { team: String, known: String },
}

impl AccountProblem {
    /// The problem as the web admin says it.
    pub fn dutch(&self) -> String {
        match self {
            AccountProblem::BadLogin(id) => format!(
                "De gebruikersnaam ‘{id}’ kan niet: gebruik 1 tot 64 letters, cijfers, '-', '_', '.' of '@'."
            ),
            AccountProblem::NoTeam => {
                "Een consulent hoort bij minstens één team (een rol uit een traject, zoals wmo-consulent)."
                    .into()
            }
            AccountProblem::TeamForStaff(_) => "Alleen consulenten horen bij een team.".into(),
            AccountProblem::BadEmail(e) => format!("Het e-mailadres ‘{e}’ heeft geen @."),
            AccountProblem::UnknownTeam { team, known } => {
                format!("Het team ‘{team}’ bestaat in geen enkel traject. Kies uit: {known}.")
            }
        }
    }
}

/// A login name: 1–64 letters, digits, `-`, `_`, `.` or `@`.
pub fn check_login(id: &str) -> Result<(), AccountProblem> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccountProblem::BadLogin(id.chars().take(80).collect()))
    }
}

/// Consultants belong to at least one team; nobody else belongs to any.
pub fn check_rights(role: UserRole, teams: &[String]) -> Result<(), AccountProblem> {
    match (role, teams.is_empty()) {
        (UserRole::Consultant, true) => Err(AccountProblem::NoTeam),
        (UserRole::Consultant, false) | (_, true) => Ok(()),
        (other, false) => Err(AccountProblem::TeamForStaff(other.as_str().to_owned())),
    }
}

pub fn check_email(email: Option<&str>) -> Result<(), AccountProblem> {
    match email {
        Some(e) if !e.contains('@') => Err(AccountProblem::BadEmail(e.to_owned())),
        _ => Ok(()),
    }
}

/// Every team is a role of a published pathway (`known`: role id → name).
pub fn check_teams(teams: &[String], known: &BTreeMap<String, String>) -> Result<(), AccountProblem> {
    match teams.iter().find(|t| !known.contains_key(*t)) {
        None => Ok(()),
        Some(team) => Err(AccountProblem::UnknownTeam {
            team: team.clone(),
            known: known.keys().cloned().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Teams as typed ("jobcoach, wmo-consulent") or ticked (one value each), trimmed, without
/// doubles, in order.
pub fn teams_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut teams: Vec<String> = Vec::new();
    for t in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        if !t.is_empty() && !teams.iter().any(|x| x == t) {
            teams.push(t.to_owned());
        }
    }
    teams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_hold_in_both_languages() {
        assert!(check_login("anna.de-vries@oss").is_ok());
        assert_eq!(check_login(""), Err(AccountProblem::BadLogin(String::new())));
        assert!(check_login("anna devries").is_err());
        assert_eq!(
            check_rights(UserRole::Consultant, &[]),
            Err(AccountProblem::NoTeam)
        );
        assert!(check_rights(UserRole::Manager, &[]).is_ok());
        let problem = check_rights(UserRole::Manager, &["klantmanager".into()]).unwrap_err();
        assert!(problem.to_string().contains("leave out --team for a manager"));
        assert_eq!(problem.dutch(), "Alleen consulenten horen bij een team.");
        let known: BTreeMap<String, String> = [("jobcoach".to_owned(), "Jobcoach".to_owned())].into();
        let unknown = check_teams(&["jobcoch".into()], &known).unwrap_err();
        assert!(unknown.dutch().contains("‘jobcoch’") && unknown.dutch().contains("Kies uit: jobcoach"));
        assert_eq!(
            teams_of(["jobcoach, wmo-consulent", "jobcoach", " "]),
            ["jobcoach", "wmo-consulent"]
        );
        assert!(check_email(Some("anna.gemeente.nl")).is_err());
    }
}
