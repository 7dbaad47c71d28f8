//! The scheduler: claims due timers with a lease, turns each into a `TimerFired` command
//! through the same runtime and store path as a person's command, and runs recurring
//! schedules (cron) exactly once per planned moment.
//!
//! A timer's "fired" mark is written in the same transaction as the events it causes, so a
//! process that dies before committing leaves only a lease, which expires and is taken over;
//! one that dies after committing has nothing left to repeat.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Europe::Amsterdam;
use tokio::task::JoinSet;

use crate::engine::{Engine, EngineError};
use crate::runtime::{Action, Command, TimerKind};
use crate::store::{Broadcast, DueTimer, UserRole};

pub use crate::time::clock::{Clock, ManualClock, SystemClock};

/// A recurring job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Each role with open work gets its daily list.
    ConsultantDigest,
    /// The managers' weekly summary.
    ManagerSummary,
    /// Removes what is past its retention term (daily).
    Retention(crate::retention::Policy),
}

/// A named cron schedule (Europe/Amsterdam), optionally on working days only.
pub struct Schedule {
    pub name: String,
    pub cron: cron::Schedule,
    pub working_days_only: bool,
    pub job: Job,
}

/// Why a schedule cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("schedule `{name}`: cron expression `{expr}` cannot be read: {message}")]
pub struct ScheduleError {
    pub name: String,
    pub expr: String,
    pub message: String,
}

impl Schedule {
    pub fn new(name: &str, expr: &str, working_days_only: bool, job: Job) -> Result<Schedule, ScheduleError> {
        let cron = cron::Schedule::from_str(expr).map_err(|e| ScheduleError {
            name: name.to_owned(),
            expr: expr.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Schedule {
            name: name.to_owned(),
            cron,
            working_days_only,
            job,
        })
    }

    /// The default schedules: the consultants' digest at 08:00 on working days and the
    /// managers' summary on Monday at 08:00.
    pub fn defaults() -> Result<Vec<Schedule>, ScheduleError> {
        Ok(vec![
            Schedule::new(
                "consultant-digest",
                "0 0 8 * * Mon-Fri",
                true,
                Job::ConsultantDigest,
            )?,
            Schedule::new("manager-summary", "0 0 8 * * Mon", false, Job::ManagerSummary)?,
            Schedule::new(
                "retention",
                "0 30 2 * * *",
                false,
                Job::Retention(crate::retention::Policy::default()),
            )?,
        ])
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub claimed: usize,
    pub fired: usize,
    pub failed: usize,
    pub schedules_run: usize,
    /// Cases opened because a provision is about to end.
    pub expiries_opened: usize,
}

/// The scheduler of one process.
pub struct Scheduler {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    owner: String,
    pub lease: Duration,
    pub batch: u32,
    schedules: Vec<Schedule>,
}

/// How long a background loop (the scheduler, the notifier) waits before its next pass:
/// its idle wait, doubled for each failed pass in a row up to [`Backoff::MAX`] — a database
/// that is away is not hammered, and one that is back is found within seconds.
#[derive(Debug, Clone)]
pub struct Backoff {
    idle: StdDuration,
    failures: u32,
}

impl Backoff {
    /// The longest wait after failures: recovery within seconds of a repair.
    pub const MAX: StdDuration = StdDuration::from_secs(5);

    pub fn new(idle: StdDuration) -> Backoff {
        Backoff { idle, failures: 0 }
    }

    /// A pass failed: returns the wait before the next one.
    pub fn failed(&mut self) -> StdDuration {
        self.failures = self.failures.saturating_add(1);
        self.wait()
    }

    /// A pass worked: the next wait is the idle one again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failed passes in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait before the next pass.
    pub fn wait(&self) -> StdDuration {
        if self.failures == 0 {
            return self.idle;
        }
        let factor = 2u32.saturating_pow(self.failures.min(16));
        self.idle.saturating_mul(factor).min(Self::MAX).max(self.idle)
    }
}

impl Scheduler {
    pub fn new(
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
        schedules: Vec<Schedule>,
    ) -> Self {
        Scheduler {
            engine,
            clock,
            owner: owner.into(),
            lease: Duration::seconds(60),
            batch: 500,
            schedules,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims the due timers (up to one batch) without firing them.
    pub async fn claim(&self) -> Result<Vec<DueTimer>, EngineError> {
        let now = self.clock.now();
        let due = self
            .engine
            .store()
            .claim_due_timers(&self.owner, now, now + self.lease, self.batch)
            .await?;
        // Claimed but not fired: the leases run out and another pass takes them.
        crate::failpoint::hit("scheduler_claim").map_err(crate::failpoint::fault)?;
        Ok(due)
    }

    /// Passes until nothing is due: a scheduler catching up on time that went by (loading
    /// demo or test histories). Returns how many timers fired.
    pub async fn catch_up(&self) -> Result<usize, EngineError> {
        let mut fired = 0;
        loop {
            let pass = self.tick().await?;
            if pass.claimed == 0 {
                return Ok(fired);
            }
            fired += pass.fired;
        }
    }

    /// One pass: fire what is due (all at once, so the writer group-commits them), then run
    /// any schedule whose moment has come.
    #[tracing::instrument(name = "scheduler_pass", skip_all, fields(owner = %self.owner))]
    pub async fn tick(&self) -> Result<TickReport, EngineError> {
        let due = self.claim().await?;
        let mut report = self.fire(due).await;
        report.schedules_run = self.run_schedules().await?;
        // Provisions about to end open work (an indexed look at the ones within notice).
        report.expiries_opened = self.engine.open_expiry_work(self.clock.now()).await?;
        self.engine.metrics().scheduler_pass(
            report.claimed,
            report.fired,
            report.failed,
            self.clock.now().timestamp_millis(),
        );
        Ok(report)
    }

    /// Fires claimed timers.
    pub async fn fire(&self, due: Vec<DueTimer>) -> TickReport {
        let now = self.clock.now();
        let mut report = TickReport {
            claimed: due.len(),
            ..TickReport::default()
        };
        // Cases in parallel (the writer group-commits them), one case's timers in order, so
        // they do not race each other for the case's version.
        let mut by_case: std::collections::BTreeMap<String, Vec<DueTimer>> =
            std::collections::BTreeMap::new();
        for timer in due {
            by_case.entry(timer.case_id.clone()).or_default().push(timer);
        }
        let mut set = JoinSet::new();
        for (_, timers) in by_case {
            let engine = self.engine.clone();
            set.spawn(async move {
                let mut results = Vec::with_capacity(timers.len());
                for timer in &timers {
                    results.push(fire_one(&engine, timer, now).await);
                }
                results
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(results) => {
                    for result in results {
                        match result {
                            Ok(()) => report.fired += 1,
                            Err(e) => {
                                // The lease will expire and the timer be tried again.
                                tracing::warn!(error = %e, "timer could not be fired");
                                report.failed += 1;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "timer task panicked");
                    report.failed += 1;
                }
            }
        }
        report
    }

    /// Runs until `shutdown` resolves, waiting `idle` between passes that found nothing.
    pub async fn run(&self, idle: StdDuration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Backoff::new(idle);
        loop {
            let pass = tokio::select! {
                _ = &mut shutdown => return,
                r = crate::failpoint::survive(self.tick()) => r.unwrap_or_else(|panic| {
                    tracing::error!(panic = %panic, "scheduler pass panicked");
                    Ok(TickReport::default())
                }),
            };
            let busy = match pass {
                Ok(r) => {
                    backoff.succeeded();
                    if r.claimed > 0 || r.schedules_run > 0 {
                        tracing::info!(
                            claimed = r.claimed,
                            fired = r.fired,
                            failed = r.failed,
                            schedules = r.schedules_run,
                            "scheduler pass"
                        );
                    }
                    r.claimed > 0 || r.expiries_opened > 0
                }
                Err(e) => {
                    let wait = backoff.failed();
                    tracing::error!(error = %e, failures = backoff.failures(), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "scheduler pass failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff.wait()) => {}
                }
            }
        }
    }

    async fn run_schedules(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let mut ran = 0;
        for s in &self.schedules {
            let store = self.engine.store();
            let last = store.last_schedule_run(&s.name).await?;
            // Catch up a missed moment once (a restart must not skip it), never several.
            let from = last.unwrap_or(now - Duration::days(1)).with_timezone(&Amsterdam);
            let planned = s
                .cron
                .after(&from)
                .take_while(|t| t.with_timezone(&Utc) <= now)
                .filter(|t| !s.working_days_only || self.engine.calendar().is_working_day(t.date_naive()))
                .last();
            let Some(planned) = planned else { continue };
            let planned = planned.with_timezone(&Utc);
            if let Job::Retention(policy) = s.job {
                // Claimed first, so one process runs it; a failed run waits for the next day.
                if store
                    .record_schedule_run(&s.name, planned, &self.owner, now, &[])
                    .await?
                {
                    if let Err(e) = crate::retention::run(&self.engine, policy, now, "systeem", false).await {
                        tracing::error!(schedule = %s.name, error = %e, "retention run failed");
                    }
                    ran += 1;
                }
                continue;
            }
            let notifications = self.job_notifications(s, planned).await?;
            if store
                .record_schedule_run(&s.name, planned, &self.owner, now, &notifications)
                .await?
            {
                tracing::info!(schedule = %s.name, messages = notifications.len(), "schedule ran");
                ran += 1;
            }
        }
        Ok(ran)
    }

    /// Runs the schedule `name` for today's moment now (`doorloop digest send`). Running it
    /// again on the same day adds nothing: the run is recorded for that moment and its
    /// messages are keyed by the day. Returns the number of messages, or `None` when
    /// today's run had already happened.
    pub async fn run_today(&self, name: &str) -> Result<Option<usize>, EngineError> {
        let Some(s) = self.schedules.iter().find(|s| s.name == name) else {
            return Err(EngineError::UnknownSchedule {
                name: name.to_owned(),
            });
        };
        let now = self.clock.now();
        let today = now.with_timezone(&Amsterdam).date_naive();
        let midnight =
            crate::time::calendar::local_moment(today, chrono::NaiveTime::MIN).with_timezone(&Amsterdam);
        let planned = s
            .cron
            .after(&(midnight - Duration::seconds(1)))
            .next()
            .filter(|t| t.date_naive() == today)
            .unwrap_or(midnight)
            .with_timezone(&Utc);
        let notifications = self.job_notifications(s, planned).await?;
        let recorded = self
            .engine
            .store()
            .record_schedule_run(&s.name, planned, &self.owner, now, &notifications)
            .await?;
        Ok(recorded.then_some(notifications.len()))
    }

    async fn job_notifications(
        &self,
        s: &Schedule,
        planned: DateTime<Utc>,
    ) -> Result<Vec<Broadcast>, EngineError> {
        let local = planned.with_timezone(&Amsterdam);
        Ok(match s.job {
            Job::ConsultantDigest => {
                // One message per consultant, whatever the number of their teams; the
                // notifier leaves out consultants with nothing to report.
                let users = self.engine.store().users().await?;
                users
                    .into_iter()
                    .filter(|u| u.active && u.role == UserRole::Consultant)
                    .map(|u| Broadcast {
                        key: format!("digest:{}:{}", u.id, local.date_naive()),
                        kind: "daily_digest".into(),
                        recipient_type: "user".into(),
                        recipient: u.id,
                    })
                    .collect()
            }
            Job::Retention(_) => Vec::new(),
            Job::ManagerSummary => vec![Broadcast {
                key: format!(
                    "summary:{}-W{:02}",
                    local.iso_week().year(),
                    local.iso_week().week()
                ),
                kind: "weekly_summary".into(),
                recipient_type: "role".into(),
                recipient: "manager".into(),
            }],
        })
    }
}

async fn fire_one(engine: &Engine, timer: &DueTimer, now: DateTime<Utc>) -> Result<(), EngineError> {
    // Work between cases first; the timer is marked done only after it (a crash in
    // between leaves the timer to fire again, and the work is safe to repeat).
    match crate::runtime::TimerKey::parse(&timer.key).map(|k| k.kind) {
        Some(TimerKind::Link) => {
            if let Some(child) = crate::runtime::linked_case_of(&timer.key) {
                engine.start_linked(&timer.case_id, child, now).await?;
            }
        }
        Some(TimerKind::Resume) => engine.tell_origin(&timer.case_id, now).await?,
        Some(TimerKind::Provision) => engine.apply_provision_timer(&timer.case_id, &timer.key).await?,
        _ => {}
    }
    let mut attempt = 0;
    loop {
        let command = Command::new(
            "system",
            Action::TimerFired {
                key: timer.key.clone(),
            },
        );
        match engine.execute(&timer.case_id, command, now).await {
            Ok(_) => return Ok(()),
            Err(EngineError::Conflict { .. }) if attempt < 3 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_passes_wait_longer_up_to_a_limit_and_a_good_one_resets() {
        let mut b = Backoff::new(StdDuration::from_millis(200));
        assert_eq!(b.wait(), StdDuration::from_millis(200));
        let waits: Vec<u128> = (0..8).map(|_| b.failed().as_millis()).collect();
        assert_eq!(waits, [400, 800, 1_600, 3_200, 5_000, 5_000, 5_000, 5_000]);
        assert_eq!(b.failures(), 8);
        b.succeeded();
        assert_eq!(b.wait(), StdDuration::from_millis(200));
        // An idle wait above the limit is kept: failures never make the loop faster.
        let mut slow = Backoff::new(StdDuration::from_secs(30));
        assert_eq!(slow.failed(), StdDuration::from_secs(30));
    }
}
