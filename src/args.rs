//! The command line's arguments (clap). Flags and their environment variables override
//! the configuration file; see `config`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{bench, notify, seed, serve};

#[derive(Debug, Parser)]
#[command(
    name = "doorloop",
    version,
    about = "Doorloop: van zorg naar werk, one moving line"
)]
pub struct Cli {
    /// Configuration file (TOML): defaults, then this file, then environment, then flags.
    /// `doorloop config show` prints the result.
    #[arg(long, global = true, env = "DOORLOOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://FILE (embedded, default sqlite://doorloop.db) or
    /// postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "DOORLOOP_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Run even when the database does not fsync every commit (logged as a warning).
    #[arg(long, global = true)]
    pub allow_non_durable: bool,
    /// Extra non-working days for deadlines: bridge days set by royal decree and the
    /// organisation's closure days, comma-separated YYYY-MM-DD.
    #[arg(long, global = true, env = "DOORLOOP_CLOSED_DAYS", value_delimiter = ',')]
    pub closed_days: Vec<String>,
    /// Log progress to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub notify: notify::NotifyOpts,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Check a pathway file (YAML or BPMN 2.0) and print every problem.
    Validate { file: PathBuf },
    /// Validate and publish a pathway file (YAML or BPMN 2.0) as the next version of its key.
    Publish { file: PathBuf },
    /// Print a published pathway as BPMN 2.0 (with a diagram, for bpmn.io and Camunda
    /// Modeler) or as YAML.
    Export {
        key: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long, value_parser = ["bpmn", "yaml"], default_value = "bpmn")]
        format: String,
    },
    /// Read a BPMN 2.0 file (bpmn.io, Camunda Modeler) as a pathway: prints it as YAML, or
    /// publishes it with `--publish`.
    Import {
        file: PathBuf,
        #[arg(long)]
        publish: bool,
    },
    /// Work on one case.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Residents: register, find, show one's line.
    #[command(subcommand)]
    Resident(ResidentCmd),
    /// Messages from outside parties (UWV's decision, a provider's report).
    #[command(subcommand)]
    Message(MessageCmd),
    /// Open tasks, oldest deadline first.
    Tasks {
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    /// Published pathways and their versions.
    Pathways,
    /// Run the scheduler (timers, escalations, stalls, digests) and the notifiers until stopped.
    Worker {
        /// How long a claimed timer stays leased to this process.
        #[arg(long, default_value_t = 60)]
        lease_seconds: i64,
        /// Most timers claimed per pass.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Pause between passes that found nothing due, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        idle_ms: u64,
        /// Stop once nothing is due any more.
        #[arg(long)]
        until_idle: bool,
        /// Testing aid: after claiming, wait this long before firing (to test lease expiry).
        #[arg(long, hide = true, default_value_t = 0)]
        claim_pause_ms: u64,
        /// Testing aid: this worker's clock runs this many seconds ahead of the system's
        /// (to see leases expire without waiting for them).
        #[arg(long, hide = true, default_value_t = 0)]
        clock_offset_seconds: i64,
    },
    /// Stalled cases grouped by reason, outside party and step.
    Stalls,
    /// Check what must hold of the store after any run: event logs without gaps, states their
    /// replay gives, task rows and timers that match; prints every violation, exit 1 on any.
    Check,
    /// Legal time: add a term to a date and explain the result.
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// Create a demo database with the shipped pathways and sample cases.
    Demo {
        /// How many sample cases per pathway.
        #[arg(long, default_value_t = 12)]
        per_pathway: u32,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Measure durable command throughput against the bare commit rate.
    Bench(bench::BenchArgs),
    /// Run engine, scheduler and web admin in one process.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "DOORLOOP_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Load the shipped pathways, sample cases and demo accounts (printed once).
        #[arg(long)]
        demo: bool,
        /// Mark session cookies Secure and send HSTS (set when served over HTTPS).
        #[arg(long, env = "DOORLOOP_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Address of a reverse proxy whose X-Forwarded-For names the client (repeat, or
        /// separate with commas).
        #[arg(
            long = "trusted-proxy",
            env = "DOORLOOP_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Do not run the scheduler and notifiers in this process (e.g. when `doorloop worker`
        /// runs them).
        #[arg(long)]
        no_scheduler: bool,
        #[command(flatten)]
        oidc: serve::OidcOpts,
    },
    /// Fill a database with generated consultants and cases, for load tests of the web admin.
    Seed(seed::SeedArgs),
    /// Accounts of coordinators, consultants, managers and admins.
    #[command(subcommand)]
    User(UserCmd),
    /// The organisations of the region: municipalities, care providers, the social work
    /// company, UWV, the regional coordination.
    #[command(subcommand)]
    Organisation(OrganisationCmd),
    /// Retention: remove what is past its term after a case ended; legal holds.
    #[command(subcommand)]
    Retention(RetentionCmd),
    /// API tokens for other municipal systems.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Messages: send a test e-mail.
    #[command(subcommand)]
    Notify(NotifyCmd),
    /// The consultants' daily digest.
    #[command(subcommand)]
    Digest(DigestCmd),
    /// Messages waiting, sent and dead; re-send a dead one.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// The configuration in force.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Who viewed which case, newest first; `access-log verify` checks its hash chain.
    #[command(args_conflicts_with_subcommands = true)]
    AccessLog {
        #[command(subcommand)]
        action: Option<AccessLogCmd>,
        #[arg(long)]
        case: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessLogCmd {
    /// Walk the access log's hash chain: every changed or removed row is named by its id;
    /// exit 1 on any. Prints the last row's hash to keep elsewhere.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (defaults, file, environment, flags) as TOML,
    /// every secret masked.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Send one test e-mail through the configured SMTP server.
    Test {
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DigestCmd {
    /// Send today's digest now; running it again the same day sends nothing new.
    Send {
        /// Benchmarks: pretend it is this moment (RFC 3339).
        #[arg(long, hide = true)]
        now: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Messages, newest first.
    List {
        /// Only rows of this status: pending, sending, sent, dead, expanded.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Make a dead message pending again; the notifier sends it with its next pass.
    Retry { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add an account; prints its generated password once.
    Add {
        /// Login name.
        name: String,
        /// coordinator, consultant, manager, admin or privacy (the privacy officer).
        #[arg(long)]
        role: String,
        /// Role team(s) of a consultant: pathway roles such as wmo-consulent, klantmanager.
        #[arg(long = "team")]
        teams: Vec<String>,
        /// Name shown in the UI.
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The key of their organisation (see `doorloop organisation list`); may be left out
        /// when the installation has only one.
        #[arg(long)]
        organisation: Option<String>,
    },
    /// List accounts.
    List,
    /// Give an account a new generated password (printed once).
    Password { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Remove every case whose term after its end has passed (the whole case: events,
    /// tasks, messages, grounds), and residents' records with nothing left. The figures stay.
    Run {
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// The term of each pathway.
    Terms,
    /// Put a legal hold on a resident (reference DL-…, BSN or id): nothing of theirs is
    /// removed until it is released.
    Hold {
        resident: String,
        /// Why (an objection, a complaint, a court case).
        #[arg(long)]
        reason: String,
    },
    /// Release a resident's legal hold.
    Release { resident: String },
    /// What retention removed and which holds were set, newest first.
    Log {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrganisationCmd {
    /// Record an organisation of the region.
    Add {
        /// Short key: letters, digits, hyphens (`Oss`, `ibn`, `de-linde`). A municipality's
        /// key is what residents' records name as their municipality.
        key: String,
        /// The name people read ("Gemeente Oss", "Zorggroep De Linde").
        #[arg(long)]
        name: String,
        /// gemeente, zorgaanbieder, sw-bedrijf, uwv or regio.
        #[arg(long)]
        kind: String,
    },
    /// List the organisations.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token for a user; printed once, only its hash is stored.
    Create {
        name: String,
        #[arg(long, default_value = "api")]
        label: String,
        /// Days the token stays valid; 0 for a token that does not expire.
        #[arg(long, default_value_t = 365)]
        expires_in_days: u32,
    },
    /// List API tokens (ids, labels, dates; never the tokens), of one user or of all.
    List { name: Option<String> },
    /// Revoke an API token by the id `token list` shows.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// e.g. `doorloop calendar add 2026-04-01 "10 werkdagen"`
    Add {
        /// Start date, YYYY-MM-DD (the term counts from the end of this day's start).
        date: String,
        /// `10 werkdagen`, `6 weken`, `P6W`, …
        term: String,
        /// Apply the Algemene termijnenwet roll-over to the end date.
        #[arg(long)]
        atw: bool,
        /// Extra closure days (bridge days, the organisation's own), YYYY-MM-DD.
        #[arg(long = "closed")]
        closed: Vec<String>,
    },
}

/// Messages from outside parties.
#[derive(Debug, Subcommand)]
pub enum MessageCmd {
    /// Hand a message to the case (or each of the resident's cases) waiting for it; a
    /// message sent again with the same --id acts once.
    Send {
        /// The message a wait step names, e.g. `uwv_besluit`.
        name: String,
        /// The sender's id of this message.
        #[arg(long)]
        id: String,
        /// The case it is for.
        #[arg(long, conflicts_with_all = ["resident", "business_key", "signal"], required_unless_present_any = ["resident", "business_key", "signal"])]
        case: Option<String>,
        /// The resident it is for: id or reference (`DL-000042`).
        #[arg(long, conflicts_with_all = ["business_key", "signal"])]
        resident: Option<String>,
        /// The business key the case was started with (the sender's own case number).
        #[arg(long, conflicts_with = "signal")]
        business_key: Option<String>,
        /// A signal for every case waiting for it (e.g. a new budget year).
        #[arg(long)]
        signal: bool,
        /// Answers for the waiting step's fields.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, default_value = "koppeling")]
        by: String,
    },
}
#[derive(Debug, Subcommand)]
pub enum CaseCmd {
    /// Start a case on the latest version of a pathway; prints the case id.
    Start {
        key: String,
        /// The resident the case is for: id or reference (`DL-000042`).
        #[arg(long)]
        resident: String,
        #[arg(long)]
        version: Option<u32>,
        /// An outside party's reference for the case (a UWV case number); messages may
        /// address the case by it.
        #[arg(long)]
        business_key: Option<String>,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Complete the open task on STEP (or with task id STEP).
    Complete {
        case: String,
        step: String,
        #[arg(long)]
        by: String,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Plan a joint visit.
    PlanVisit {
        case: String,
        step: String,
        /// Local time, e.g. "2026-12-01 10:00" (Europe/Amsterdam).
        #[arg(long)]
        at: String,
        #[arg(long)]
        place: Option<String>,
        #[arg(long = "participant", required = true)]
        participants: Vec<String>,
        /// An e-mail address of someone outside Doorloop to invite (repeatable).
        #[arg(long = "guest")]
        guests: Vec<String>,
        /// Invite the resident at the e-mail address on their record.
        #[arg(long)]
        invite_resident: bool,
        #[arg(long)]
        by: String,
    },
    /// Record the outcome of a joint visit (completes it).
    Outcome {
        case: String,
        step: String,
        #[arg(long)]
        by: String,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Set case variables.
    Set {
        case: String,
        #[arg(long)]
        by: String,
        #[arg(long = "var", value_name = "NAME=VALUE", required = true)]
        vars: Vec<String>,
    },
    /// Assign a task to a user (or release it with no --to).
    Assign {
        case: String,
        task: String,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        by: String,
    },
    /// Withdraw a case.
    Withdraw {
        case: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Record a note or a contact on the case's timeline.
    Note {
        case: String,
        /// gespreksverslag, telefoon, email or notitie.
        #[arg(long, default_value = "notitie")]
        kind: String,
        #[arg(long)]
        text: String,
        #[arg(long)]
        by: String,
    },
    /// Add work outside the drawn pathway ("doe wat nodig is") for a role, or a person.
    AddTask {
        case: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        reason: String,
        /// A role of the case's pathway.
        #[arg(long)]
        role: String,
        /// A colleague's login who gets the task at once.
        #[arg(long)]
        assignee: Option<String>,
        /// The day it should be done by (YYYY-MM-DD).
        #[arg(long)]
        due: Option<chrono::NaiveDate>,
        #[arg(long)]
        by: String,
    },
    /// Stop a task's clock (opschorten), where its step allows it.
    Suspend {
        case: String,
        task: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Restart a suspended clock; the deadline moves by the days it stood still.
    Resume {
        case: String,
        task: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Extend a deadline (verlengen) within the step's maximum.
    Extend {
        case: String,
        task: String,
        /// e.g. "6 weken"
        term: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// State, open tasks with role and deadline, and the timeline.
    Show { case: String },
}

#[derive(Debug, Subcommand)]
pub enum ResidentCmd {
    /// Register a resident; prints the reference.
    Add {
        #[arg(long)]
        family_name: String,
        #[arg(long, default_value = "")]
        given_name: String,
        /// dd-mm-jjjj or jjjj-mm-dd.
        #[arg(long)]
        birth_date: Option<String>,
        #[arg(long)]
        municipality: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read from the environment variable DOORLOOP_RESIDENT_BSN (not a flag: flags show in
        /// process lists and shell history).
        #[arg(long)]
        bsn_from_env: bool,
    },
    /// Find residents by name prefix, reference, date of birth or BSN (logged).
    Find { query: String },
    /// Everything held about a resident, for an inzage request (AVG art. 15): writes
    /// `inzage-REF.json` and `inzage-REF.html` into `--out` (logged).
    Export {
        resident: String,
        /// The folder to write the two files into.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
    /// A resident's line: cases, ladder, provisions, the people who work with them, what
    /// happens next (logged).
    Show { resident: String },
    /// Record a provision of a resident by hand (kind: wmo_begeleiding, dagbesteding,
    /// bijstand, wia, wajong, loonkostensubsidie, jobcoaching, beschut_werk, …).
    Provision {
        resident: String,
        #[arg(long)]
        kind: String,
        /// aangevraagd, actief, slapend or beeindigd.
        #[arg(long)]
        status: String,
        /// dd-mm-jjjj or jjjj-mm-dd.
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        #[arg(long)]
        dormant_until: Option<String>,
        #[arg(long)]
        decision_date: Option<String>,
        #[arg(long)]
        decision_ref: Option<String>,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Re-activate a dormant provision and start the fall-back pathway; prints the case id.
    Reactivate {
        resident: String,
        #[arg(long)]
        kind: String,
        #[arg(long, default_value = "cli")]
        by: String,
    },
}
