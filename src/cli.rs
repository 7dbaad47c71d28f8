//! Dispatch of the command line: the effective configuration, the engine opened once, and
//! each command's work. The arguments themselves live in `args`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{NaiveDateTime, Utc};
use doorloop_engine::engine::{Engine, IncomingMessage};
use doorloop_engine::pathway::definition::from_yaml;
use doorloop_engine::pathway::validate::validate;
use doorloop_engine::runtime::{Action, Command, TaskRef};
use doorloop_engine::store::{self, TaskFilter};
use doorloop_engine::time::calendar::{Calendar, local_moment};
use secrecy::SecretString;

pub use crate::args::*;
use crate::config::Settings;
use crate::{bench, demo, notify, residents, retention, seed, serve, show, users, vars, worker};

/// Opens the store and the engine, refusing a non-durable database unless allowed.
pub async fn open_engine(settings: &Settings) -> anyhow::Result<Engine> {
    open_engine_with(
        settings,
        std::sync::Arc::new(doorloop_engine::time::clock::SystemClock),
    )
    .await
}

/// Opens the engine with a clock of the caller's.
pub async fn open_engine_with(
    settings: &Settings,
    clock: std::sync::Arc<dyn doorloop_engine::time::clock::Clock>,
) -> anyhow::Result<Engine> {
    let url = &settings.database.url;
    let store = store::open(url)
        .await
        .with_context(|| format!("opening {}", store::redact(url)))?;
    let mut engine = Engine::with_clock(store, settings.calendar(), clock)
        .with_out_of_sight(chrono::Duration::weeks(i64::from(
            settings.residents.out_of_sight_weeks,
        )))
        .with_provision_kinds(settings.residents.provision_kinds.clone())
        .with_retention(settings.retention_policy()?);
    if let Some(vault) = settings.vault()? {
        engine = engine.with_vault(vault);
    }
    engine
        .check_durability(settings.database.allow_non_durable)
        .await?;
    Ok(engine)
}

/// The effective configuration: defaults, then the file (`--config`), then environment
/// and flags (clap reads both; a flag wins over its variable).
pub fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = match &cli.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    if let Some(url) = &cli.database_url {
        s.database.url = url.clone();
    }
    if let Ok(key) = std::env::var("DOORLOOP_BSN_KEY")
        && !key.trim().is_empty()
    {
        s.privacy.bsn_key = Some(SecretString::from(key));
    }
    if let Ok(secret) = std::env::var("DOORLOOP_MESSAGE_SECRET")
        && !secret.trim().is_empty()
    {
        s.messages.secret = Some(SecretString::from(secret));
    }
    if cli.allow_non_durable {
        s.database.allow_non_durable = true;
    }
    let closed: Vec<&str> = cli
        .closed_days
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .collect();
    if !closed.is_empty() {
        s.calendar.closed_days = closed
            .iter()
            .map(|d| {
                d.parse()
                    .with_context(|| format!("closed day `{d}` is not a date; write YYYY-MM-DD"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let n = &cli.notify;
    if let Some(url) = &n.smtp_url {
        s.mail.smtp_url = Some(SecretString::from(url.clone()));
    }
    if let Some(from) = &n.mail_from {
        s.mail.from = from.clone();
    }
    match (&n.webhook_url, &n.webhook_secret) {
        (Some(url), Some(secret)) => {
            s.webhook = Some(crate::config::WebhookSettings {
                url: url.clone(),
                secret: SecretString::from(secret.clone()),
            });
        }
        (Some(url), None) => match &mut s.webhook {
            Some(w) => w.url = url.clone(),
            None => bail!(
                "--webhook-url needs --webhook-secret (or DOORLOOP_WEBHOOK_SECRET, or [webhook] secret)"
            ),
        },
        (None, Some(secret)) => {
            if let Some(w) = &mut s.webhook {
                w.secret = SecretString::from(secret.clone());
            }
        }
        (None, None) => {}
    }
    if let Some(base) = &n.base_url {
        s.web.base_url = Some(base.clone());
    }
    if let Some(v) = n.notify_max_attempts {
        s.notifier.max_attempts = v;
    }
    if let Some(v) = n.notify_backoff_ms {
        s.notifier.backoff_ms = v;
    }
    if let Some(v) = n.notify_lease_seconds {
        s.notifier.lease_seconds = v;
    }
    if let Some(v) = n.notify_concurrency {
        s.notifier.concurrency = v;
    }
    if let Cmd::Serve {
        listen,
        secure_cookies,
        trusted_proxies,
        oidc,
        ..
    } = &cli.command
    {
        if let Some(listen) = listen {
            s.web.listen = *listen;
        }
        if *secure_cookies {
            s.web.secure_cookies = true;
        }
        if !trusted_proxies.is_empty() {
            s.web.trusted_proxies = trusted_proxies.clone();
        }
        oidc.apply(&mut s);
    }
    s.check()?;
    Ok(s)
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = settings(&cli)?;
    match cli.command {
        Cmd::Config(ConfigCmd::Show) => {
            print!("{}", settings.show()?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Validate { file } => validate_file(&file),
        Cmd::Export { key, version, format } => {
            let engine = open_engine(&settings).await?;
            let pv = engine.store().pathway(&key, version).await?;
            if format == "yaml" {
                print!("{}", doorloop_engine::pathway::definition::to_yaml(&pv.pathway)?);
            } else {
                print!("{}", doorloop_engine::bpmn::export::export(&pv.pathway)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Import { file, publish } => {
            if publish {
                return publish_file(&settings, &file).await;
            }
            let source = pathway_source(&file)?;
            // Validated as it is printed: its problems on stderr, and exit 1 with any.
            let problems: Vec<String> = match from_yaml(&source) {
                Ok(loaded) => validate(&loaded).iter().map(ToString::to_string).collect(),
                Err(e) => vec![e.to_string()],
            };
            print!("{source}");
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            if problems.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("{} problem(s) found", problems.len());
            Ok(ExitCode::FAILURE)
        }
        Cmd::Publish { file } => publish_file(&settings, &file).await,
        Cmd::Case(cmd) => {
            let engine = open_engine(&settings).await?;
            case(&engine, cmd).await
        }
        Cmd::Message(MessageCmd::Send {
            name,
            id,
            case,
            resident,
            business_key,
            signal,
            vars,
            by,
        }) => {
            let engine = open_engine(&settings).await?;
            let to = match (case, resident, business_key) {
                (Some(case), _, _) => Target::Case(case),
                (None, Some(resident), _) => Target::Resident(resident),
                (None, None, Some(key)) => Target::BusinessKey(key),
                (None, None, None) if signal => Target::Signal,
                (None, None, None) => {
                    bail!(
                        "say which case (--case), resident (--resident) or business key (--business-key) the message is for, or --signal"
                    )
                }
            };
            send_message(&engine, &name, &id, to, &vars, &by).await
        }
        Cmd::Resident(cmd) => {
            let engine = open_engine(&settings).await?;
            residents::run(&engine, cmd).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Tasks { role, user, limit } => {
            let engine = open_engine(&settings).await?;
            let filter = TaskFilter {
                role,
                assignee: user,
                limit: Some(limit),
                // The CLI is the operator's, on the server: the whole installation.
                organisation: None,
            };
            let tasks = engine.store().open_tasks(&filter).await?;
            let refs: Vec<&doorloop_engine::store::TaskRow> = tasks.iter().collect();
            let risks = engine.risks(&refs, engine.clock().now()).await?;
            show::tasks(&tasks, &risks);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Pathways => {
            let engine = open_engine(&settings).await?;
            for p in engine.store().pathways().await? {
                println!("{} v{}  {}  ({} cases)", p.key, p.version, p.name, p.cases);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Worker {
            lease_seconds,
            batch,
            idle_ms,
            until_idle,
            claim_pause_ms,
            clock_offset_seconds,
        } => {
            let clock: std::sync::Arc<dyn doorloop_engine::time::clock::Clock> = std::sync::Arc::new(
                doorloop_engine::time::clock::OffsetClock::seconds(clock_offset_seconds),
            );
            let engine = std::sync::Arc::new(open_engine_with(&settings, clock).await?);
            let notifier = notify::notifier(
                &settings,
                engine.clone(),
                notify::DEFAULT_BASE_URL,
                &notify::owner("worker"),
            )?;
            let options = worker::Options {
                notifier,
                schedules: settings.schedules()?,
                lease_seconds,
                batch,
                idle: std::time::Duration::from_millis(idle_ms),
                until_idle,
                claim_pause: std::time::Duration::from_millis(claim_pause_ms),
            };
            worker::run(engine, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check => {
            let engine = open_engine(&settings).await?;
            let report = doorloop_engine::check::check(engine.store().as_ref()).await?;
            println!(
                "checked {} cases: {} events, {} open tasks, {} pending timers, {} outbox rows",
                report.cases, report.events, report.open_tasks, report.pending_timers, report.outbox_rows
            );
            for v in &report.violations {
                println!("VIOLATION {v}");
            }
            if report.is_clean() {
                println!("no violations");
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} violation(s)", report.violations.len());
            Ok(ExitCode::FAILURE)
        }
        Cmd::Stalls => {
            let engine = open_engine(&settings).await?;
            let rows = engine.store().open_stalls(None).await?;
            show::stalls(&doorloop_engine::figures::stall::queue(&rows, Utc::now()));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Calendar(CalendarCmd::Add {
            date,
            term,
            atw,
            closed,
        }) => {
            calendar_add(settings.calendar(), &date, &term, atw, &closed)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { per_pathway, seed } => {
            let mut settings = settings;
            settings.demo_key_file()?;
            let engine = open_engine(&settings).await?;
            let engine = std::sync::Arc::new(engine);
            demo::run(engine.clone(), per_pathway, seed).await?;
            demo::accounts(&engine).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve {
            demo, no_scheduler, ..
        } => {
            let mut settings = settings;
            if demo {
                settings.demo_key_file()?;
            }
            let engine = std::sync::Arc::new(open_engine(&settings).await?);
            let options = serve::Options {
                demo,
                scheduler: !no_scheduler,
            };
            serve::run(engine, &settings, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Notify(NotifyCmd::Test { to }) => {
            let engine = std::sync::Arc::new(open_engine(&settings).await?);
            Ok(if notify::test(engine, &settings, &to).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Digest(DigestCmd::Send { now }) => {
            let engine = std::sync::Arc::new(open_engine(&settings).await?);
            notify::digest_send(engine, &settings, now.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox(cmd) => {
            let engine = open_engine(&settings).await?;
            match cmd {
                OutboxCmd::List { status, limit } => notify::list(&engine, status.as_deref(), limit).await?,
                OutboxCmd::Retry { id } => notify::retry(&engine, id).await?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Retention(cmd) => {
            let engine = open_engine(&settings).await?;
            retention::run(&engine, engine.retention(), cmd).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Organisation(cmd) => {
            let engine = open_engine(&settings).await?;
            match cmd {
                OrganisationCmd::Add { key, name, kind } => {
                    users::add_organisation(&engine, &key, &name, &kind).await?;
                    println!("added organisation {key} ({kind})");
                }
                OrganisationCmd::List => users::list_organisations(&engine).await?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::User(cmd) => {
            let engine = open_engine(&settings).await?;
            match cmd {
                UserCmd::Add {
                    name,
                    role,
                    teams,
                    display_name,
                    email,
                    organisation,
                } => {
                    let new = users::NewUser {
                        id: &name,
                        role: &role,
                        teams: &teams,
                        name: display_name.as_deref(),
                        email: email.as_deref(),
                        organisation: organisation.as_deref(),
                    };
                    let password = users::add(&engine, new).await?;
                    println!("added {name} ({role})");
                    println!("password (shown once): {password}");
                }
                UserCmd::List => users::list(&engine).await?,
                UserCmd::Password { name } => {
                    let password = users::reset_password(&engine, &name).await?;
                    println!("new password for {name} (shown once): {password}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Token(cmd) => {
            let engine = open_engine(&settings).await?;
            match cmd {
                TokenCmd::Create {
                    name,
                    label,
                    expires_in_days,
                } => {
                    let expires = (expires_in_days > 0)
                        .then(|| chrono::Utc::now() + chrono::Duration::days(i64::from(expires_in_days)));
                    let token = users::create_token(&engine, &name, &label, expires).await?;
                    println!("API token for {name} (shown once; send as `Authorization: Bearer …`):");
                    println!("{token}");
                    match expires {
                        Some(at) => println!("valid until {}", at.format("%Y-%m-%d %H:%M UTC")),
                        None => println!("valid until revoked (doorloop token revoke ID)"),
                    }
                }
                TokenCmd::List { name } => users::list_tokens(&engine, name.as_deref()).await?,
                TokenCmd::Revoke { id } => {
                    if !engine.store().revoke_api_token(&id, chrono::Utc::now()).await? {
                        anyhow::bail!(
                            "no active API token with id `{id}` (the 12 characters `doorloop token list` shows)"
                        );
                    }
                    println!("token {id} revoked");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::AccessLog {
            action: Some(AccessLogCmd::Verify),
            ..
        } => {
            let engine = open_engine(&settings).await?;
            let v = doorloop_engine::check::verify_access_log(engine.store().as_ref()).await?;
            println!(
                "verified {} access-log rows ({} from before the chain)",
                v.rows, v.before_chain
            );
            for b in &v.broken {
                println!("BROKEN {b}");
            }
            if let Some(head) = &v.head {
                println!("head: {head}");
            }
            if v.broken.is_empty() {
                println!("the chain is whole");
                return Ok(ExitCode::SUCCESS);
            }
            Ok(ExitCode::FAILURE)
        }
        Cmd::AccessLog {
            action: None,
            case,
            limit,
        } => {
            let engine = open_engine(&settings).await?;
            users::access_log(&engine, case.as_deref(), limit).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Seed(args) => {
            let engine = std::sync::Arc::new(open_engine(&settings).await?);
            seed::run(engine, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench(args) => {
            bench::run(args, &settings.database.url, settings.database.allow_non_durable).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn calendar_add(
    mut calendar: Calendar,
    date: &str,
    term: &str,
    atw: bool,
    closed: &[String],
) -> anyhow::Result<()> {
    let start: chrono::NaiveDate = date
        .parse()
        .with_context(|| format!("`{date}` is not a date; write YYYY-MM-DD"))?;
    let term: doorloop_engine::time::term::Term = term.parse()?;
    for d in closed.iter().map(|d| d.trim()).filter(|d| !d.is_empty()) {
        let day: chrono::NaiveDate = d
            .parse()
            .with_context(|| format!("closed day `{d}` is not a date; write YYYY-MM-DD"))?;
        calendar.closed_days.insert(day);
    }
    // A term counts from the start of the day it is given (e.g. the day of the melding).
    let from = local_moment(start, chrono::NaiveTime::MIN);
    let due = calendar.add(from, &term, atw);
    let shown = if term.is_day_granular() {
        due.date.to_string()
    } else {
        due.at
            .with_timezone(&chrono_tz::Europe::Amsterdam)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    println!("{shown}");
    for line in &due.explanation {
        println!("  {line}");
    }
    Ok(())
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// A pathway file as YAML: YAML files as they are, BPMN 2.0 files (`.bpmn`) imported.
fn pathway_source(file: &PathBuf) -> anyhow::Result<String> {
    pathway_sources(file)?.pop().context("the file holds no pathway")
}

/// Every pathway a file holds, as YAML, in the order to publish them: for a BPMN file the
/// processes its call activities call in the same file first, the main process last.
fn pathway_sources(file: &PathBuf) -> anyhow::Result<Vec<String>> {
    let source = read(file)?;
    if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("bpmn")) {
        let all = doorloop_engine::bpmn::import::import_all(&source).map_err(|e| {
            anyhow::anyhow!(doorloop_engine::text::problems::bpmn(&e).join("\n  "))
                .context(format!("importing {}", file.display()))
        })?;
        let mut out = Vec::new();
        for imported in &all {
            for notice in &imported.notices {
                eprintln!("{}: let op: {notice}", file.display());
            }
            out.push(doorloop_engine::pathway::definition::to_yaml(&imported.pathway)?);
        }
        return Ok(out);
    }
    Ok(vec![source])
}

/// Publishes every pathway of a file, called ones first; prints each.
async fn publish_file(settings: &Settings, file: &PathBuf) -> anyhow::Result<ExitCode> {
    let sources = pathway_sources(file)?;
    let engine = open_engine(settings).await?;
    for source in &sources {
        let pv = engine.publish_yaml(source, Utc::now()).await?;
        println!("published {} v{}", pv.pathway.key, pv.version);
    }
    Ok(ExitCode::SUCCESS)
}

fn validate_file(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let source = match pathway_source(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e:#}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let loaded = match from_yaml(&source) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let problems = validate(&loaded);
    if problems.is_empty() {
        println!(
            "{}: ok (pathway {}, {} steps)",
            file.display(),
            loaded.pathway.key,
            loaded.pathway.steps.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{}: {p}", file.display());
    }
    eprintln!("{} problem(s) found", problems.len());
    Ok(ExitCode::FAILURE)
}

async fn case(engine: &Engine, cmd: CaseCmd) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match cmd {
        CaseCmd::Start {
            key,
            resident,
            version,
            business_key,
            vars,
            by,
        } => {
            let pv = engine.pathway(&key, version).await?;
            // A consultant named with --by starts only what the pathway's `started_by` allows.
            if let Some(u) = engine.store().user(&by).await?
                && u.role == store::UserRole::Consultant
                && !pv.pathway.may_start(&u.teams)
            {
                bail!(
                    "{by} may not start a case on {key}: its started_by names {}",
                    pv.pathway.started_by.join(", ")
                );
            }
            let variables = vars::parse(&vars, &[], &pv)?;
            let resident = engine.resident_by_key(&resident).await?;
            let id = uuid::Uuid::now_v7().to_string();
            let out = engine
                .start_case_with_id(
                    &id,
                    &key,
                    version,
                    &by,
                    &resident.id,
                    business_key.as_deref(),
                    variables,
                    now,
                )
                .await?
                .ok_or_else(|| anyhow::anyhow!("case {id} exists already"))?;
            println!("{}", out.state.id);
        }
        CaseCmd::Complete { case, step, by, vars } => {
            let action = |data| Action::CompleteTask {
                task: TaskRef(step.clone()),
                data,
            };
            form_command(engine, &case, &step, &by, &vars, action).await?;
        }
        CaseCmd::Outcome { case, step, by, vars } => {
            let action = |data| Action::RecordVisitOutcome {
                task: TaskRef(step.clone()),
                data,
            };
            form_command(engine, &case, &step, &by, &vars, action).await?;
        }
        CaseCmd::PlanVisit {
            case,
            step,
            at,
            place,
            participants,
            guests,
            invite_resident,
            by,
        } => {
            let local = NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M")
                .with_context(|| format!("--at `{at}`: write the local time as YYYY-MM-DD HH:MM"))?;
            if invite_resident {
                let state = engine.load_fresh(&case).await?;
                let resident = match &state.resident {
                    Some(id) => engine.store().resident(id).await?,
                    None => None,
                };
                if resident.is_none_or(|r| r.email.is_none_or(|e| e.trim().is_empty())) {
                    bail!("--invite-resident: no e-mail address is on record for this case's resident");
                }
            }
            let action = Action::PlanJointVisit {
                task: TaskRef(step),
                at: local_moment(local.date(), local.time()),
                place,
                participants,
                guests,
                invite_resident,
            };
            act(engine, &case, by, action, now).await?;
        }
        CaseCmd::Set { case, by, vars } => {
            let state = engine.load_fresh(&case).await?;
            let pv = engine
                .pathway(&state.pathway_key, Some(state.pathway_version))
                .await?;
            let values = vars::parse(&vars, &[], &pv)?;
            engine
                .execute(&case, Command::new(by, Action::SetVariables { values }), now)
                .await?;
            println!("variables set");
        }
        CaseCmd::Assign { case, task, to, by } => {
            let out = engine
                .execute(
                    &case,
                    Command::new(
                        by,
                        Action::Reassign {
                            task: TaskRef(task),
                            to,
                        },
                    ),
                    now,
                )
                .await?;
            show::open_tasks(&out.state);
        }
        CaseCmd::Withdraw { case, reason, by } => {
            engine
                .execute(&case, Command::new(by, Action::Withdraw { reason }), now)
                .await?;
            println!("case {case} withdrawn");
        }
        CaseCmd::Note { case, kind, text, by } => {
            engine
                .execute(&case, Command::new(by, Action::RecordNote { kind, text }), now)
                .await?;
            println!("note recorded on case {case}");
        }
        CaseCmd::AddTask {
            case,
            title,
            reason,
            role,
            assignee,
            due,
            by,
        } => {
            let action = Action::AddTask {
                title,
                reason,
                role,
                assignee,
                due,
            };
            act(engine, &case, by, action, now).await?;
        }
        CaseCmd::Suspend {
            case,
            task,
            reason,
            by,
        } => {
            let action = Action::SuspendClock {
                task: TaskRef(task),
                reason,
            };
            act(engine, &case, by, action, now).await?;
        }
        CaseCmd::Resume {
            case,
            task,
            reason,
            by,
        } => {
            let action = Action::ResumeClock {
                task: TaskRef(task),
                reason,
            };
            act(engine, &case, by, action, now).await?;
        }
        CaseCmd::Extend {
            case,
            task,
            term,
            reason,
            by,
        } => {
            let action = Action::ExtendDeadline {
                task: TaskRef(task),
                term,
                reason,
            };
            act(engine, &case, by, action, now).await?;
        }
        CaseCmd::Show { case } => {
            let state = engine.load_fresh(&case).await?;
            let pv = engine
                .pathway(&state.pathway_key, Some(state.pathway_version))
                .await?;
            let events = engine.store().events(&case).await?;
            let timers = engine.store().pending_timers(&case).await?;
            show::case(&pv, &state, &events, &timers, now);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a command on a case and shows what is open afterwards.
async fn act(
    engine: &Engine,
    case: &str,
    by: String,
    action: Action,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let out = engine.execute(case, Command::new(by, action), now).await?;
    show::open_tasks(&out.state);
    Ok(())
}

/// Whom `doorloop message send` is for.
enum Target {
    Case(String),
    Resident(String),
    BusinessKey(String),
    Signal,
}

/// `doorloop message send`: the answers are read against each waiting step's fields.
async fn send_message(
    engine: &Engine,
    name: &str,
    id: &str,
    to: Target,
    vars: &[String],
    by: &str,
) -> anyhow::Result<ExitCode> {
    let cases = match to {
        Target::Case(case) => vec![case],
        Target::Signal => engine.cases_awaiting(name).await?,
        Target::BusinessKey(key) => engine.cases_with_business_key(&key).await?,
        Target::Resident(resident) => {
            let resident = engine.resident_by_key(&resident).await?;
            engine
                .store()
                .resident_cases(&resident.id)
                .await?
                .into_iter()
                .filter(|c| c.status == "active")
                .map(|c| c.id)
                .collect()
        }
    };
    let mut acted = 0;
    for case in &cases {
        let state = engine.load_fresh(case).await?;
        let pv = engine
            .pathway(&state.pathway_key, Some(state.pathway_version))
            .await?;
        let waiting = state
            .tasks
            .values()
            .find_map(|t| pv.step(&t.step).filter(|s| s.message.as_deref() == Some(name)));
        let fields = waiting.map(|s| s.fields.as_slice()).unwrap_or_default();
        let message = IncomingMessage {
            name: name.to_owned(),
            id: id.to_owned(),
            variables: vars::parse(vars, fields, &pv)?,
        };
        for d in engine
            .deliver_message(std::slice::from_ref(case), &message, by, Utc::now())
            .await?
        {
            acted += 1;
            if d.duplicate {
                println!("{}: had message {id} already; nothing changed", d.case);
            } else {
                println!("{}: message {name} received", d.case);
            }
        }
    }
    if acted == 0 {
        eprintln!("no case waits for message `{name}`");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn form_command(
    engine: &Engine,
    case: &str,
    step: &str,
    by: &str,
    vars: &[String],
    action: impl FnOnce(std::collections::BTreeMap<String, serde_json::Value>) -> Action,
) -> anyhow::Result<()> {
    let state = engine.load_fresh(case).await?;
    let pv = engine
        .pathway(&state.pathway_key, Some(state.pathway_version))
        .await?;
    let step_id = state.tasks.get(step).map_or(step, |t| t.step.as_str());
    let Some(step_def) = pv.step(step_id) else {
        bail!("pathway {} v{} has no step `{step}`", pv.pathway.key, pv.version);
    };
    let data = vars::parse(vars, &step_def.fields, &pv)?;
    let out = engine
        .execute(case, Command::new(by, action(data)), Utc::now())
        .await?;
    println!("completed {step_id}");
    show::open_tasks(&out.state);
    Ok(())
}
