//! The engine service: loads a case, applies a command with the pure runtime, and hands the
//! write to a single writer task that group-commits whatever is queued.
//!
//! Concurrent commands on different cases share one transaction and one fsync; each is
//! still all-or-nothing for its case. Two commands decided on the same case version cannot
//! both land: the second gets [`EngineError::Conflict`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::figures::stall::{self, Risk};
use crate::metrics::Metrics;
use crate::pathway::definition::{DefinitionError, Loaded, from_yaml};
use crate::pathway::model::PathwayVersion;
use crate::pathway::validate::{Problem, validate};
use crate::resident::{BsnError, BsnVault, QueryError, ResidentProblem};
use crate::runtime::{
    Action, CaseState, CaseStatus, Command, Migration, Outcome, RuntimeError, StepMapping,
    apply_with_calendar, migrate,
};
use crate::store::{CaseWrite, Store, StoreError};
use crate::time::calendar::Calendar;
use crate::time::clock::{Clock, SystemClock};

/// A message from an outside party (UWV's decision, a provider's report): `name` is the
/// message a wait step names, `id` the sender's own id (a repeat acts once).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    pub name: String,
    pub id: String,
    pub variables: std::collections::BTreeMap<String, Value>,
}

/// What a message did to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub case: String,
    /// The case had this message (same id) already; nothing changed.
    pub duplicate: bool,
}

/// Why a command or request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("case {case} was changed by someone else at the same time; reload it and try again")]
    Conflict { case: String },
    #[error("there is no case {case}")]
    CaseNotFound { case: String },
    #[error("there is no resident {resident}")]
    ResidentNotFound { resident: String },
    #[error("business key: {0}")]
    BusinessKeyInvalid(BusinessKeyProblem),
    #[error(transparent)]
    ResidentInvalid(#[from] ResidentProblem),
    #[error(transparent)]
    Bsn(#[from] BsnError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Provision(#[from] crate::resident::provision::ProvisionProblem),
    #[error("the pathway file cannot be read: {0}")]
    Definition(#[from] DefinitionError),
    #[error("the pathway has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    #[error("the database is not durable ({}); refusing to run without --allow-non-durable", .0.join(", "))]
    NotDurable(Vec<String>),
    #[error("the engine's writer has stopped")]
    WriterStopped,
    #[error("there is no schedule `{name}`")]
    UnknownSchedule { name: String },
    #[error("a background task failed: {0}")]
    Background(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The case variable that receives the resident's date of birth, where a pathway declares it.
pub const BIRTH_DATE: &str = "geboortedatum";

/// Longest business key accepted.
pub const BUSINESS_KEY_MAX: usize = 100;

/// What is wrong with a business key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BusinessKeyProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 100 characters")]
    TooLong,
    #[error("use letters, digits and - _ . / : # only, starting with a letter or digit")]
    Characters,
    #[error("it is a BSN; a BSN is kept only in the resident's own field")]
    Bsn,
}

/// Checks a business key (an outside party's reference for a case, such as a UWV case
/// number) and returns it trimmed: 1 to 100 letters, digits and `- _ . / : #`, starting with
/// a letter or digit. A BSN is refused: it belongs in the resident's restricted field only.
pub fn check_business_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() {
        return Err(EngineError::BusinessKeyInvalid(BusinessKeyProblem::Empty));
    }
    if key.chars().count() > BUSINESS_KEY_MAX {
        return Err(EngineError::BusinessKeyInvalid(BusinessKeyProblem::TooLong));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '#');
    if !key.chars().all(allowed) || !key.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(EngineError::BusinessKeyInvalid(BusinessKeyProblem::Characters));
    }
    if crate::resident::Bsn::parse(key).is_ok() {
        return Err(EngineError::BusinessKeyInvalid(BusinessKeyProblem::Bsn));
    }
    Ok(key.to_owned())
}

/// Most commands one group commit takes.
const MAX_BATCH: usize = 256;
/// Active cases kept in memory; the cache is cleared when it grows past this.
const CACHE_LIMIT: usize = 20_000;

type Cache = Arc<Mutex<HashMap<String, Arc<CaseState>>>>;

type Reply = oneshot::Sender<Result<(bool, CaseWrite), StoreError>>;

struct Job {
    write: CaseWrite,
    reply: Reply,
}

/// The engine: a store, a calendar, caches, and the writer task.
pub struct Engine {
    store: Arc<dyn Store>,
    calendar: Calendar,
    pathways: Mutex<HashMap<(String, u32), Arc<PathwayVersion>>>,
    cache: Cache,
    writer: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// Seals and opens BSNs; without it no BSN is stored or searched.
    vault: Option<BsnVault>,
    /// The kinds of provision this installation records.
    kinds: Vec<crate::resident::provision::ProvisionKind>,
    /// How long without any event before a resident with no open work counts as out of sight.
    out_of_sight: chrono::Duration,
    /// How long before its end date a provision opens work.
    expiry_notice: chrono::Duration,
    /// The installation's retention default.
    retention: crate::retention::Policy,
    /// The 80th percentile of each step's finished times, with when it was read: a work
    /// list asks for it on every page, and it moves slowly.
    step_p80: Mutex<HashMap<StepKey, ReadP80>>,
}

/// A step of one version of a pathway: key, version, step id.
type StepKey = (String, u32, String);

/// A step's 80th percentile in seconds (none without history), and when it was read.
type ReadP80 = (Option<i64>, DateTime<Utc>);

/// How long a step's 80th percentile is used before it is read again.
pub const STEP_P80_TTL: chrono::Duration = chrono::Duration::minutes(10);

impl Engine {
    /// Starts the engine on a store. Must be called inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>, calendar: Calendar) -> Engine {
        Engine::with_clock(store, calendar, Arc::new(SystemClock))
    }

    /// Starts the engine with a clock of the caller's (tests move a [`ManualClock`](crate::time::clock::ManualClock)).
    pub fn with_clock(store: Arc<dyn Store>, calendar: Calendar, clock: Arc<dyn Clock>) -> Engine {
        let (tx, rx) = mpsc::channel(4096);
        let cache: Cache = Arc::default();
        let metrics = Arc::new(Metrics::new());
        tokio::spawn(writer_loop(store.clone(), rx, cache.clone(), metrics.clone()));
        Engine {
            store,
            calendar,
            pathways: Mutex::default(),
            cache,
            writer: tx,
            metrics,
            clock,
            vault: None,
            kinds: crate::resident::provision::standard_kinds(),
            out_of_sight: chrono::Duration::weeks(12),
            expiry_notice: chrono::Duration::weeks(8),
            retention: crate::retention::Policy::default(),
            step_p80: Mutex::default(),
        }
    }

    /// The installation's retention default (`[retention] default_years`).
    pub fn with_retention(mut self, policy: crate::retention::Policy) -> Engine {
        self.retention = policy;
        self
    }

    pub fn retention(&self) -> crate::retention::Policy {
        self.retention
    }

    /// The key that seals BSNs (`privacy.bsn_key`).
    pub fn with_vault(mut self, vault: BsnVault) -> Engine {
        self.vault = Some(vault);
        self
    }

    pub fn vault(&self) -> Option<&BsnVault> {
        self.vault.as_ref()
    }

    /// Adds kinds of provision (from the configuration) to the standard ones; a kind with
    /// a standard key replaces it.
    pub fn with_provision_kinds(mut self, extra: Vec<crate::resident::provision::ProvisionKind>) -> Engine {
        for k in extra {
            self.kinds.retain(|s| s.key != k.key);
            self.kinds.push(k);
        }
        self
    }

    /// How long without contact (and without open work) a resident may be before they are
    /// flagged as out of sight (uit beeld).
    pub fn with_out_of_sight(mut self, after: chrono::Duration) -> Engine {
        self.out_of_sight = after;
        self
    }

    /// How long before its end a provision opens work ("indicatie verloopt over 8 weken").
    pub fn with_expiry_notice(mut self, notice: chrono::Duration) -> Engine {
        self.expiry_notice = notice;
        self
    }

    pub fn expiry_notice(&self) -> chrono::Duration {
        self.expiry_notice
    }

    pub fn out_of_sight_after(&self) -> chrono::Duration {
        self.out_of_sight
    }

    pub fn provision_kinds(&self) -> &[crate::resident::provision::ProvisionKind] {
        &self.kinds
    }

    /// The clock every part of this process reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// This process's operational figures.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the writer task still takes commands.
    pub fn writer_running(&self) -> bool {
        !self.writer.is_closed()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Checks the database's durability settings; `allow` turns a refusal into a warning.
    pub async fn check_durability(&self, allow: bool) -> Result<()> {
        let d = self.store.durability().await?;
        if d.is_durable() {
            return Ok(());
        }
        if allow {
            tracing::warn!(settings = ?d.problems(), "running on a non-durable database: commits may be lost on power failure");
            Ok(())
        } else {
            Err(EngineError::NotDurable(d.problems()))
        }
    }

    /// Validates a YAML pathway and publishes it as the next version of its key.
    /// Parsing and validation run on a blocking thread: a large or hostile file must not
    /// hold up the async threads that serve everyone else.
    pub async fn publish_yaml(&self, source: &str, now: DateTime<Utc>) -> Result<PathwayVersion> {
        let text = source.to_owned();
        let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded> {
            let loaded = from_yaml(&text)?;
            let problems = validate(&loaded);
            if !problems.is_empty() {
                return Err(EngineError::Invalid(problems));
            }
            Ok(loaded)
        })
        .await
        .map_err(|e| EngineError::Background(e.to_string()))??;
        // A linked pathway must be there to start (or be this one).
        let mut missing = Vec::new();
        for step in &loaded.pathway.steps {
            let Some(key) = step.start_pathway.as_deref().filter(|k| *k != loaded.pathway.key) else {
                continue;
            };
            match self.store.pathway(key, None).await {
                Ok(_) => {}
                Err(StoreError::PathwayNotFound { .. }) => missing.push(Problem {
                    step: Some(step.id.clone()),
                    line: loaded.line_of(&step.id),
                    kind: crate::pathway::validate::ProblemKind::UnpublishedPathway { key: key.to_owned() },
                }),
                Err(e) => return Err(e.into()),
            }
        }
        if !missing.is_empty() {
            return Err(EngineError::Invalid(missing));
        }
        let pv = self.store.publish(&loaded.pathway, source, now).await?;
        tracing::info!(pathway = %pv.pathway.key, version = pv.version, "published");
        Ok(pv)
    }

    /// A published pathway version (cached: published versions never change).
    pub async fn pathway(&self, key: &str, version: Option<u32>) -> Result<Arc<PathwayVersion>> {
        if let Some(v) = version
            && let Some(hit) = lock(&self.pathways).get(&(key.to_owned(), v))
        {
            return Ok(hit.clone());
        }
        let pv = Arc::new(self.store.pathway(key, version).await?);
        lock(&self.pathways).insert((key.to_owned(), pv.version), pv.clone());
        Ok(pv)
    }

    /// Starts a case for a resident on the latest (or given) version of a pathway; returns
    /// its outcome.
    pub async fn start_case(
        &self,
        key: &str,
        version: Option<u32>,
        actor: &str,
        resident: &str,
        variables: std::collections::BTreeMap<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let id = uuid::Uuid::now_v7().to_string();
        self.start_with(&id, key, version, actor, resident, None, None, variables, now)
            .await?
            .ok_or(EngineError::Conflict { case: id })
    }

    /// Starts case `id` (a caller's own, e.g. derived from an idempotency key); `None` when a
    /// case with that id exists already: the same start, sent again. `business_key` is the
    /// sender's own reference for the case (checked by [`check_business_key`]); messages
    /// may address the case by it.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_case_with_id(
        &self,
        id: &str,
        key: &str,
        version: Option<u32>,
        actor: &str,
        resident: &str,
        business_key: Option<&str>,
        variables: std::collections::BTreeMap<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome>> {
        let business_key = business_key.map(check_business_key).transpose()?;
        self.start_with(
            id,
            key,
            version,
            actor,
            resident,
            None,
            business_key,
            variables,
            now,
        )
        .await
    }

    /// The active cases started with `business_key` (none for a key that is not a valid one).
    pub async fn cases_with_business_key(&self, business_key: &str) -> Result<Vec<String>> {
        match check_business_key(business_key) {
            Ok(key) => Ok(self.store.cases_with_business_key(&key).await?),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Starts case `id`; `None` when a case with that id already exists.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_with(
        &self,
        id: &str,
        key: &str,
        version: Option<u32>,
        actor: &str,
        resident: &str,
        came_from: Option<crate::runtime::CameFrom>,
        business_key: Option<String>,
        variables: std::collections::BTreeMap<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome>> {
        let pv = self.pathway(key, version).await?;
        let Some(person) = self.store.resident(resident).await? else {
            return Err(EngineError::ResidentNotFound {
                resident: resident.to_owned(),
            });
        };
        // A pathway that declares `geboortedatum` gets the resident's date of birth, so that
        // a deadline can count from it (the 18th birthday's transition plan).
        let mut variables = variables;
        let declares_birth = pv
            .pathway
            .variables
            .iter()
            .any(|f| f.name == BIRTH_DATE && f.ty == crate::pathway::model::FieldType::Date);
        if declares_birth
            && !variables.contains_key(BIRTH_DATE)
            && let Some(d) = person.birth_date
        {
            variables.insert(
                BIRTH_DATE.to_owned(),
                Value::String(d.format("%Y-%m-%d").to_string()),
            );
        }
        let mut blank = CaseState::blank(id);
        blank.resident = Some(resident.to_owned());
        blank.came_from = came_from;
        blank.business_key = business_key;
        let outcome = apply_with_calendar(
            &pv,
            &self.calendar,
            &blank,
            Command::new(actor, Action::StartCase { variables }),
            now,
        )?;
        self.submit(&blank, outcome, now).await
    }

    /// Starts the linked case a step of `case` asked for, if it is not there yet (the link
    /// timer's work; safe to repeat). Returns the linked case's id.
    pub async fn start_linked(&self, case: &str, child: &str, now: DateTime<Utc>) -> Result<()> {
        if self.store.load_case(child).await?.is_some() {
            return Ok(());
        }
        let origin = self.load_fresh(case).await?;
        let Some(link) = origin.links.iter().find(|l| l.case == child) else {
            return Err(EngineError::Runtime(RuntimeError::UnknownLink {
                case: child.to_owned(),
            }));
        };
        let resident = origin
            .resident
            .clone()
            .ok_or_else(|| EngineError::ResidentNotFound {
                resident: format!("(case {case})"),
            })?;
        let came_from = crate::runtime::CameFrom {
            case: case.to_owned(),
            pathway: origin.pathway_key.clone(),
            step: link.step.clone(),
            task: link.task.clone(),
        };
        let started = self
            .start_with(
                child,
                &link.pathway,
                None,
                if link.by.is_empty() { "system" } else { &link.by },
                &resident,
                Some(came_from),
                // A called pathway answers to the same outside reference as its caller.
                origin.business_key.clone(),
                Default::default(),
                now,
            )
            .await?;
        if started.is_some() {
            tracing::info!(case = %case, linked = %child, "linked case started");
        }
        Ok(())
    }

    /// Tells the case `case` came from that it has ended (the resume timer's work; safe to
    /// repeat).
    pub async fn tell_origin(&self, case: &str, now: DateTime<Utc>) -> Result<()> {
        let state = self.load_fresh(case).await?;
        let (Some(from), Some(outcome)) = (state.came_from.as_ref(), state.outcome.as_ref()) else {
            return Ok(());
        };
        let origin = self.load_fresh(&from.case).await?;
        let told = origin.links.iter().any(|l| l.case == case && l.outcome.is_some());
        if told || origin.status != CaseStatus::Active {
            return Ok(());
        }
        let command = Command::new(
            "system",
            Action::LinkedCaseEnded {
                case: case.to_owned(),
                outcome: outcome.clone(),
            },
        );
        self.execute(&from.case, command, now).await?;
        Ok(())
    }

    /// The active cases with open work that message or signal `name` ends or breaks into, in
    /// every version of every pathway that listens for it (a signal such as a new budget year
    /// reaches all of them).
    pub async fn cases_awaiting(&self, name: &str) -> Result<Vec<String>> {
        let mut cases = Vec::new();
        for summary in self.store.pathways().await? {
            if summary.running == 0 {
                continue;
            }
            let pv = self.pathway(&summary.key, Some(summary.version)).await?;
            for step in pv.pathway.steps.iter().filter(|s| {
                s.message.as_deref() == Some(name) || s.on_message.iter().any(|m| m.message == name)
            }) {
                cases.extend(
                    self.store
                        .cases_at_step(&summary.key, summary.version, &step.id)
                        .await?,
                );
            }
        }
        cases.sort();
        cases.dedup();
        Ok(cases)
    }

    /// Hands a message from an outside party to each of `cases` that waits for it: the
    /// cases it ended a wait in, and those that had it already (same `id`: acted on once).
    /// Cases not waiting for `name`, and ended ones, are left out; an empty answer means
    /// nobody waited. A case changed at the same time is read again, so a message sent
    /// twice at once still acts once.
    pub async fn deliver_message(
        &self,
        cases: &[String],
        message: &IncomingMessage,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>> {
        const ATTEMPTS: usize = 5;
        let mut delivered = Vec::new();
        for case in cases {
            let command = Command::new(
                actor,
                Action::ReceiveMessage {
                    name: message.name.clone(),
                    id: message.id.clone(),
                    data: message.variables.clone(),
                },
            );
            let mut attempt = 0;
            let duplicate = loop {
                attempt += 1;
                match self.execute(case, command.clone(), now).await {
                    Ok(_) => break Some(false),
                    Err(EngineError::Runtime(RuntimeError::MessageAlreadyReceived { .. })) => {
                        break Some(true);
                    }
                    Err(EngineError::Runtime(
                        RuntimeError::NoWaitForMessage { .. }
                        | RuntimeError::CaseClosed { .. }
                        | RuntimeError::NotStarted { .. },
                    )) => break None,
                    Err(EngineError::Conflict { .. }) if attempt < ATTEMPTS => {}
                    Err(e) => return Err(e),
                }
            };
            if let Some(duplicate) = duplicate {
                delivered.push(Delivery {
                    case: case.clone(),
                    duplicate,
                });
            }
        }
        Ok(delivered)
    }

    /// Applies a command to a case and commits it durably.
    #[tracing::instrument(skip_all, fields(case_id = %case_id, command = command.action.name()))]
    pub async fn execute(&self, case_id: &str, command: Command, now: DateTime<Utc>) -> Result<Outcome> {
        let mut from_cache = true;
        loop {
            let state = match from_cache.then(|| self.cached(case_id)).flatten() {
                Some(s) => s,
                None => {
                    from_cache = false;
                    self.load_fresh(case_id).await?
                }
            };
            let pv = self
                .pathway(&state.pathway_key, Some(state.pathway_version))
                .await?;
            let outcome = match apply_with_calendar(&pv, &self.calendar, &state, command.clone(), now) {
                Ok(outcome) => outcome,
                Err(e) if from_cache => {
                    // Decided on a cached copy: another process may have moved the case.
                    let fresh = self.load_fresh(case_id).await?;
                    if fresh.seq == state.seq {
                        return Err(e.into());
                    }
                    lock(&self.cache).remove(case_id);
                    from_cache = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(outcome) = self.submit(&state, outcome, now).await? {
                return Ok(outcome);
            }
            // Conflict. If our cached copy is still what this process last wrote, another
            // process moved the case: reload once and decide again. Otherwise a command in
            // this process won the race, and this one must be told.
            let stale = from_cache && self.cached(case_id).is_some_and(|c| c.seq == state.seq);
            lock(&self.cache).remove(case_id);
            if !stale {
                return Err(EngineError::Conflict {
                    case: case_id.to_owned(),
                });
            }
            from_cache = false;
        }
    }

    /// Moves a running case to version `to` of its pathway, work on each occupied step going
    /// where `mapping` says (else to the step with the same id). With `commit: false` only
    /// decides it: the dry run a coordinator reads before applying.
    #[tracing::instrument(skip_all, fields(case_id = %case_id, to = to))]
    pub async fn migrate_case(
        &self,
        case_id: &str,
        to: u32,
        mapping: &StepMapping,
        actor: &str,
        now: DateTime<Utc>,
        commit: bool,
    ) -> Result<Migration> {
        let state = self.load_fresh(case_id).await?;
        let from = self
            .pathway(&state.pathway_key, Some(state.pathway_version))
            .await?;
        let target = self.pathway(&state.pathway_key, Some(to)).await?;
        let migration = migrate(&from, &target, &self.calendar, &state, mapping, actor, now)?;
        if !commit {
            return Ok(migration);
        }
        let tasks = migration.tasks;
        let outcome = self
            .submit(&state, migration.outcome, now)
            .await?
            .ok_or_else(|| EngineError::Conflict {
                case: case_id.to_owned(),
            })?;
        tracing::info!(from = from.version, "case migrated");
        // Where the work went, so the figures follow a renamed step.
        let moved: Vec<(u32, String, u32, String)> = mapping
            .iter()
            .chain(tasks.iter().map(|t| (&t.from_step, &t.to_step)))
            .filter(|(old, new)| old != new)
            .map(|(old, new)| (from.version, old.clone(), to, new.clone()))
            .collect();
        if !moved.is_empty() {
            self.store.record_lineage(&state.pathway_key, &moved).await?;
        }
        Ok(Migration { outcome, tasks })
    }

    /// Whether each task is on track, at risk or overdue at `now` (`None` without a
    /// deadline): at risk when a typical slow case — the 80th percentile of the time
    /// spent in the same step of the same version, from up to 500 finished tasks —
    /// would finish after the deadline. For work lists, the digest and the API. Each step's
    /// percentile is read once per [`STEP_P80_TTL`] (by the engine's clock), not per page.
    pub async fn risks(
        &self,
        tasks: &[&crate::store::TaskRow],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Risk>>> {
        let mut risks = Vec::with_capacity(tasks.len());
        for t in tasks {
            let Some(due) = t.due_at else {
                risks.push(None);
                continue;
            };
            let key = (t.pathway_key.clone(), t.pathway_version, t.step.clone());
            let p80 = self.step_p80(key).await?;
            risks.push(Some(stall::risk(t.opened_at, due, now, p80)));
        }
        Ok(risks)
    }

    async fn step_p80(&self, key: StepKey) -> Result<Option<i64>> {
        let read_at = self.clock.now();
        let cached = self
            .step_p80
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .filter(|(_, at)| read_at - *at < STEP_P80_TTL && *at <= read_at)
            .map(|(p80, _)| *p80);
        if let Some(p80) = cached {
            return Ok(p80);
        }
        let mut d = self.store.step_durations(&key.0, key.1, &key.2, 500).await?;
        let p80 = stall::p80(&mut d);
        self.step_p80
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (p80, read_at));
        Ok(p80)
    }

    /// The current state of a case, from the database.
    pub async fn load_fresh(&self, case_id: &str) -> Result<Arc<CaseState>> {
        let state = self
            .store
            .load_case(case_id)
            .await?
            .ok_or_else(|| EngineError::CaseNotFound {
                case: case_id.to_owned(),
            })?;
        Ok(Arc::new(state))
    }

    /// Drops a case from the in-memory cache (after it was removed from the store).
    pub fn forget(&self, case_id: &str) {
        lock(&self.cache).remove(case_id);
    }

    fn cached(&self, case_id: &str) -> Option<Arc<CaseState>> {
        lock(&self.cache).get(case_id).cloned()
    }

    /// Hands a decided command to the writer. `Some(outcome)` when it landed, `None` on a
    /// version conflict.
    async fn submit(
        &self,
        before: &CaseState,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome>> {
        let write = CaseWrite::new(before, outcome, uuid::Uuid::now_v7().to_string(), now);
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job { write, reply })
            .await
            .map_err(|_| EngineError::WriterStopped)?;
        let (landed, write) = rx.await.map_err(|_| EngineError::WriterStopped)??;
        Ok(landed.then(|| write.into_outcome()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves a usable map; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes whatever is queued (one write per case per batch), commits it as one
/// transaction, updates the cache, and answers each caller.
async fn writer_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    cache: Cache,
    metrics: Arc<Metrics>,
) {
    let mut deferred: VecDeque<Job> = VecDeque::new();
    loop {
        if deferred.is_empty() {
            match rx.recv().await {
                Some(job) => deferred.push_back(job),
                None => return,
            }
        }
        while deferred.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => deferred.push_back(job),
                Err(_) => break,
            }
        }
        let mut batch = Vec::new();
        let mut cases = HashSet::new();
        let mut later = VecDeque::new();
        while let Some(job) = deferred.pop_front() {
            if batch.len() < MAX_BATCH && cases.insert(job.write.case_id.clone()) {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        deferred = later;
        let (writes, replies): (Vec<CaseWrite>, Vec<Reply>) =
            batch.into_iter().map(|j| (j.write, j.reply)).unzip();
        let started = std::time::Instant::now();
        let committed = commit_guarded(store.as_ref(), &writes).await;
        if committed.is_err() {
            // Whether it landed is unknown: the next command of these cases reads them fresh.
            let mut cache = lock(&cache);
            for w in &writes {
                cache.remove(&w.case_id);
            }
        }
        match &committed {
            Ok(landed) => metrics.commit(
                writes.len(),
                landed.iter().filter(|l| **l).count(),
                started.elapsed().as_secs_f64(),
            ),
            Err(_) => metrics.failed(writes.len()),
        }
        match committed {
            Ok(landed) => finish(writes, replies, landed, &cache),
            Err(e) if writes.len() > 1 => {
                // Find the write that fails: commit each alone, so one bad write cannot
                // take its neighbours down.
                tracing::warn!(error = %e, size = writes.len(), "group commit failed; retrying writes one by one");
                for (write, reply) in writes.into_iter().zip(replies) {
                    let one = vec![write];
                    match commit_guarded(store.as_ref(), &one).await {
                        Ok(landed) => finish(one, vec![reply], landed, &cache),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// One commit, with the failpoints around it; a panic inside becomes an error for its
/// callers instead of ending the writer (and with it every later command of the process).
async fn commit_guarded(store: &dyn Store, writes: &[CaseWrite]) -> Result<Vec<bool>, StoreError> {
    use crate::failpoint::fault;
    let attempt = async {
        crate::failpoint::hit("commit_before").map_err(fault)?;
        let landed = store.commit(writes).await?;
        // Landed, but the callers have not heard yet: a crash here loses only the answer.
        crate::failpoint::hit("commit_after").map_err(fault)?;
        Ok(landed)
    };
    match crate::failpoint::survive(attempt).await {
        Ok(result) => result,
        Err(panic) => {
            tracing::error!(panic = %panic, size = writes.len(), "the commit panicked; its callers are told it failed");
            Err(fault(format!("the commit panicked: {panic}")))
        }
    }
}

fn finish(writes: Vec<CaseWrite>, replies: Vec<Reply>, landed: Vec<bool>, cache: &Cache) {
    {
        let mut cache = lock(cache);
        for (write, ok) in writes.iter().zip(&landed) {
            if !*ok {
                continue;
            }
            if write.state.status == CaseStatus::Active {
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(write.case_id.clone(), Arc::new(write.state.clone()));
            } else {
                cache.remove(&write.case_id);
            }
        }
    }
    for ((write, reply), ok) in writes.into_iter().zip(replies).zip(landed) {
        let _ = reply.send(Ok((ok, write)));
    }
}
