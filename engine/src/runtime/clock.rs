//! A task's legal clock: the due date with its explanation, suspensions and extensions, and
//! the timers it implies (deadline, escalation rungs, stall checks). Pure.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use chrono_tz::Europe::Amsterdam;

use super::effects::{Timer, TimerKind};
use super::state::{ClockChange, DueInfo, Task};
use crate::pathway::model::{Deadline, Escalation, PathwayVersion, Step};
use crate::text::dutch;
use crate::time::calendar::{Calendar, local_moment};
use crate::time::term::{Term, TermKind};

/// The first moment at or after `t` that is inside working hours on a working day
/// (quiet hours: nothing fires at night or at weekends).
pub fn not_in_quiet_hours(cal: &Calendar, t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&Amsterdam);
    let date = local.date_naive();
    let time = local.time();
    let working = cal.is_working_day(date) && !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    if working && time >= cal.quiet_until && time < cal.quiet_from {
        return t;
    }
    let mut day = if working && time < cal.quiet_until {
        date
    } else {
        date.succ_opt().unwrap_or(date)
    };
    while !cal.is_working_day(day) {
        day = day.succ_opt().unwrap_or(day);
    }
    local_moment(day, cal.morning)
}

/// Computes a step's deadline from `base`.
pub fn new_due(cal: &Calendar, deadline: &Deadline, base: DateTime<Utc>) -> DueInfo {
    let due = cal.add(base, deadline.term(), deadline.atw());
    DueInfo {
        at: due.at,
        original_at: due.at,
        term: deadline.term().to_string(),
        base,
        atw: deadline.atw(),
        explanation: due.explanation,
        changes: Vec::new(),
        suspended_since: None,
        revision: 1,
    }
}

/// Moves a term back from `t`: working days are counted back over working days.
pub fn before(cal: &Calendar, t: DateTime<Utc>, term: &Term) -> DateTime<Utc> {
    match term.kind {
        TermKind::WorkingDays(n) => super::effects::working_days_before(cal, t, n),
        TermKind::WorkingHours(n) => t - Duration::hours(i64::from(n)),
        TermKind::Calendar {
            months,
            days,
            seconds,
        } => {
            let local = t.with_timezone(&Amsterdam);
            let date = local
                .date_naive()
                .checked_sub_months(chrono::Months::new(months))
                .and_then(|d| d.checked_sub_days(chrono::Days::new(u64::from(days))))
                .unwrap_or(local.date_naive());
            local_moment(date, local.time()) - Duration::seconds(i64::try_from(seconds).unwrap_or(0))
        }
    }
}

/// The rungs that apply to a step: its own, else the pathway's default ladder.
pub fn ladder<'a>(pv: &'a PathwayVersion, step: &'a Step) -> &'a [Escalation] {
    if step.escalations.is_empty() {
        &pv.pathway.defaults.escalations
    } else {
        &step.escalations
    }
}

pub fn deadline_key(case: &str, task: &str, revision: u32) -> String {
    format!("deadline:{case}:{task}:{revision}")
}

pub fn escalation_key(case: &str, task: &str, revision: u32, rung: usize) -> String {
    format!("escalation:{case}:{task}:{revision}:{rung}")
}

pub fn stall_key(case: &str, task: &str) -> String {
    format!("stall:{case}:{task}")
}

pub fn inactivity_key(case: &str) -> String {
    format!("inactive:{case}")
}

/// The timer that starts linked case `child` of `case`.
pub fn link_key(case: &str, child: &str) -> String {
    format!("link:{case}:{child}")
}

/// The linked case's id in a link timer's key.
pub fn linked_case_of(key: &str) -> Option<&str> {
    key.strip_prefix("link:")?.split(':').nth(1)
}

/// The timer that applies change `n` of `case` to the resident's provisions.
pub fn provision_key(case: &str, n: u64) -> String {
    format!("provision:{case}:{n}")
}

/// The timer of a phase's deadline (`rung` None) or of a rung of its ladder, for the `entry`th
/// time the case entered the phase.
pub fn phase_key(case: &str, phase: &str, entry: u64, rung: Option<usize>) -> String {
    match rung {
        None => format!("phase:{case}:{phase}:{entry}:deadline"),
        Some(i) => format!("phase:{case}:{phase}:{entry}:{i}"),
    }
}

/// The timer on a linked case that tells the case it came from that it has ended.
pub fn resume_key(case: &str) -> String {
    format!("resume:{case}")
}

/// A timer key read back once, as the runtime dispatches on it: the kind of timer (the
/// inverse of the key makers above and of `visit_timer_keys`) and, for an escalation, its
/// rung on the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerKey {
    pub kind: TimerKind,
    pub rung: Option<usize>,
}

impl TimerKey {
    pub fn parse(key: &str) -> Option<TimerKey> {
        let kind = match key.split(':').next()? {
            "deadline" => TimerKind::Deadline,
            "escalation" => TimerKind::Escalation,
            "stall" => TimerKind::Stall,
            "inactive" => TimerKind::Inactivity,
            "visit" if key.ends_with(":outcome-missing") => TimerKind::VisitOutcomeMissing,
            "visit" => TimerKind::VisitReminder,
            "link" => TimerKind::Link,
            "resume" => TimerKind::Resume,
            "provision" => TimerKind::Provision,
            "phase" => TimerKind::Phase,
            _ => return None,
        };
        let rung = match kind {
            TimerKind::Escalation | TimerKind::Phase => key.rsplit(':').next().and_then(|i| i.parse().ok()),
            _ => None,
        };
        Some(TimerKey { kind, rung })
    }

    /// Whether the timer belongs to a task's deadline ladder (replaced when the deadline moves).
    pub fn is_deadline_ladder(key: &str) -> bool {
        matches!(
            TimerKey::parse(key).map(|k| k.kind),
            Some(TimerKind::Deadline | TimerKind::Escalation)
        )
    }
}

/// The deadline and escalation moments of a running (not suspended) clock, in time order.
pub fn deadline_timers(
    cal: &Calendar,
    pv: &PathwayVersion,
    step: &Step,
    case: &str,
    task: &str,
    due: &DueInfo,
) -> Vec<Timer> {
    if due.suspended_since.is_some() {
        return Vec::new();
    }
    let mut out = vec![Timer {
        key: deadline_key(case, task, due.revision),
        case_id: case.to_owned(),
        task: Some(task.to_owned()),
        kind: TimerKind::Deadline,
        due_at: not_in_quiet_hours(cal, due.at),
    }];
    for (i, rung) in ladder(pv, step).iter().enumerate() {
        let at = match (&rung.before, &rung.after) {
            (Some(b), _) => before(cal, due.at, b),
            (None, Some(a)) => cal.add(due.at, a, false).at,
            (None, None) => due.at,
        };
        out.push(Timer {
            key: escalation_key(case, task, due.revision, i),
            case_id: case.to_owned(),
            task: Some(task.to_owned()),
            kind: TimerKind::Escalation,
            due_at: not_in_quiet_hours(cal, at),
        });
    }
    out.sort_by_key(|t| t.due_at);
    out
}

/// The first planned moment still ahead of `now` (or the last one, when all have passed).
pub fn first_after(plan: Vec<Timer>, now: DateTime<Utc>) -> Option<Timer> {
    let last = plan.last().cloned();
    plan.into_iter().find(|t| t.due_at > now).or(last)
}

/// The stall checks of a newly opened task: `stall_after`, and a wait's expected duration.
pub fn stall_timer(cal: &Calendar, step: &Step, case: &str, task: &Task) -> Option<Timer> {
    let after = match (&step.stall_after, &step.expected) {
        (Some(s), _) => s,
        (None, Some(e)) => e,
        (None, None) => return None,
    };
    Some(Timer {
        key: stall_key(case, &task.id),
        case_id: case.to_owned(),
        task: Some(task.id.clone()),
        kind: TimerKind::Stall,
        due_at: not_in_quiet_hours(cal, cal.add(task.opened_at, after, false).at),
    })
}

/// Suspends a running clock.
pub fn suspend(due: &mut DueInfo, at: DateTime<Utc>, actor: &str, reason: &str) {
    due.suspended_since = Some(at);
    due.changes.push(ClockChange {
        kind: "suspended".into(),
        at,
        actor: actor.to_owned(),
        reason: reason.to_owned(),
        shift_days: None,
        term: None,
    });
    due.explanation.push(format!(
        "Klok stilgezet op {} door {actor}: {reason}",
        dutch::long_date(at)
    ));
}

/// Resumes a suspended clock: the due date moves by the calendar days it was stopped.
pub fn resume(due: &mut DueInfo, at: DateTime<Utc>, actor: &str, reason: &str) {
    let Some(since) = due.suspended_since.take() else {
        return;
    };
    let stopped = (at.with_timezone(&Amsterdam).date_naive() - since.with_timezone(&Amsterdam).date_naive())
        .num_days()
        .max(0);
    due.at += Duration::days(stopped);
    due.revision += 1;
    due.changes.push(ClockChange {
        kind: "resumed".into(),
        at,
        actor: actor.to_owned(),
        reason: reason.to_owned(),
        shift_days: Some(stopped),
        term: None,
    });
    due.explanation.push(format!(
        "Klok hervat op {} door {actor} na {stopped} dag(en) stilstand: de termijn schuift op naar {}",
        dutch::long_date(at),
        dutch::long_date(due.at)
    ));
}

/// Extends the deadline by `term`, if the step's maximum allows it.
pub fn extend(
    cal: &Calendar,
    due: &mut DueInfo,
    max: &Term,
    term: &Term,
    at: DateTime<Utc>,
    actor: &str,
    reason: &str,
) -> Result<(), String> {
    let limit = cal.add(due.original_at, max, false).at;
    let new_at = cal.add(due.at, term, false).at;
    if new_at > limit {
        return Err(format!(
            "Verlengen met {term} gaat voorbij de grootste verlenging die deze stap toestaat, {max} (uiterlijk {})",
            dutch::long_date(limit)
        ));
    }
    due.at = new_at;
    due.revision += 1;
    due.changes.push(ClockChange {
        kind: "extended".into(),
        at,
        actor: actor.to_owned(),
        reason: reason.to_owned(),
        shift_days: None,
        term: Some(term.to_string()),
    });
    due.explanation.push(format!(
        "Verdaagd met {term} op {} door {actor} ({reason}): nieuwe termijn {}",
        dutch::long_date(at),
        dutch::long_date(new_at)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn local(s: &str) -> DateTime<Utc> {
        let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        local_moment(n.date(), n.time())
    }

    #[test]
    fn timer_keys_read_back_as_their_kind() {
        let k = |key: &str| TimerKey::parse(key);
        assert_eq!(
            k(&deadline_key("c", "t", 2)).map(|k| k.kind),
            Some(TimerKind::Deadline)
        );
        assert_eq!(
            k(&escalation_key("c", "t", 2, 3)),
            Some(TimerKey {
                kind: TimerKind::Escalation,
                rung: Some(3)
            })
        );
        assert_eq!(k(&stall_key("c", "t")).map(|k| k.kind), Some(TimerKind::Stall));
        assert_eq!(
            k(&inactivity_key("c")).map(|k| k.kind),
            Some(TimerKind::Inactivity)
        );
        let visits = crate::runtime::visit_timer_keys("c", "t", 1, 2);
        let kinds: Vec<_> = visits.iter().map(|v| k(v).map(|k| k.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                Some(TimerKind::VisitReminder),
                Some(TimerKind::VisitReminder),
                Some(TimerKind::VisitOutcomeMissing)
            ]
        );
        assert_eq!(k("iets-anders:c"), None);
        assert!(TimerKey::is_deadline_ladder(&deadline_key("c", "t", 1)));
        assert!(!TimerKey::is_deadline_ladder(&stall_key("c", "t")));
    }

    #[test]
    fn quiet_hours_move_to_the_next_working_morning() {
        let cal = Calendar::default();
        // Friday 20:00 → Monday 08:30.
        assert_eq!(
            not_in_quiet_hours(&cal, local("2026-11-20 20:00")),
            local("2026-11-23 08:30")
        );
        // Saturday noon → Monday 08:30.
        assert_eq!(
            not_in_quiet_hours(&cal, local("2026-11-21 12:00")),
            local("2026-11-23 08:30")
        );
        // Thursday 24 Dec 23:59 → Christmas and the weekend pass → Monday 28 Dec 08:30.
        assert_eq!(
            not_in_quiet_hours(&cal, local("2026-12-24 23:59")),
            local("2026-12-28 08:30")
        );
        // Early morning on a working day → same day 08:30.
        assert_eq!(
            not_in_quiet_hours(&cal, local("2026-11-24 03:00")),
            local("2026-11-24 08:30")
        );
        // Inside working hours: unchanged.
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        assert_eq!(not_in_quiet_hours(&cal, t), t);
    }

    #[test]
    fn suspension_shifts_and_extension_is_capped() {
        let cal = Calendar::default();
        let deadline = Deadline::Plain("6 weken".parse().unwrap());
        let mut due = new_due(&cal, &deadline, local("2026-11-02 10:00"));
        assert_eq!(
            due.at.with_timezone(&Amsterdam).date_naive().to_string(),
            "2026-12-14"
        );
        suspend(&mut due, local("2026-11-10 09:00"), "anna", "wacht op stukken");
        resume(&mut due, local("2026-11-17 09:00"), "anna", "stukken binnen");
        assert_eq!(
            due.at.with_timezone(&Amsterdam).date_naive().to_string(),
            "2026-12-21"
        );
        assert_eq!(due.revision, 2);
        let max: Term = "6 weken".parse().unwrap();
        extend(
            &cal,
            &mut due,
            &max,
            &"4 weken".parse().unwrap(),
            local("2026-12-01 09:00"),
            "anna",
            "complex",
        )
        .unwrap();
        assert_eq!(
            due.at.with_timezone(&Amsterdam).date_naive().to_string(),
            "2027-01-18"
        );
        let err = extend(
            &cal,
            &mut due,
            &max,
            &"4 weken".parse().unwrap(),
            local("2026-12-02 09:00"),
            "anna",
            "nog meer",
        )
        .unwrap_err();
        assert!(err.contains("die deze stap toestaat, 6 weken"), "{err}");
        assert!(
            due.explanation
                .iter()
                .any(|l| l.contains("na 7 dag(en) stilstand")),
            "{:?}",
            due.explanation
        );
    }
}
