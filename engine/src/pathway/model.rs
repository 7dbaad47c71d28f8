//! The serde types of a pathway definition: steps, transitions, roles, fields and terms.
//!
//! These are the shapes a coordinator writes in YAML (and that BPMN import produces). They
//! are deliberately permissive where a typed check gives a better message later: a step's
//! `kind` keeps an unknown value so that validation can name the step it belongs to.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::term::Term;

/// A pathway (traject) as written by a coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pathway {
    /// Stable key, e.g. `van-zorg-naar-werk`; versions are numbered per key.
    pub key: String,
    /// Human-readable name (Dutch).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The role catalogue: role id → description.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleDef>,
    /// Case variables that exist before any form sets them (start variables, flags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Field>,
    #[serde(default)]
    pub defaults: Defaults,
    /// The fields the case page shows first, as the case's plan (`summary: [ik_wil, plan]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// The roles whose holders may start (aanmelden) a case on this pathway; empty: any
    /// consultant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started_by: Vec<String>,
    /// How long the records of an ended case are kept (the Archiefwet selection list's
    /// term); without it the installation's default applies (`[retention] default_years`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    pub steps: Vec<Step>,
    /// Phases: steps that belong together (BPMN's embedded sub-processes), with a term that
    /// covers the whole phase from the moment the case enters it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

/// A phase of a pathway, e.g. "Onderzoek" (intake, diagnose, plan): its steps run as usual;
/// its term runs from the moment the case enters the phase until it leaves it, whichever of
/// the phase's steps are open meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps inside the phase, by id.
    pub steps: Vec<String>,
    /// How long the case may be in the phase, counted from entering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Term>,
    /// Moments before or after the phase's deadline and who hears of them (reminders; the
    /// work goes on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// When the deadline passes, the phase's open work closes and the case goes here
    /// (BPMN's interrupting timer on a sub-process). Without it the deadline only warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deadline: Option<String>,
}

impl Phase {
    pub fn contains(&self, step: &str) -> bool {
        self.steps.iter().any(|s| s == step)
    }
}

/// The retention term of a pathway's cases, counted from the day a case ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Whole years after the case's end (1 to 120).
    pub years: u32,
    /// Where the term comes from, e.g. "Selectielijst gemeenten 2020, 1.3.1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

impl Pathway {
    /// Whether a consultant in `teams` may start a case on this pathway.
    pub fn may_start(&self, teams: &[String]) -> bool {
        self.started_by.is_empty() || self.started_by.iter().any(|r| teams.contains(r))
    }
}

/// Pathway-wide defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// A case with no event for this long counts as stalled (inactivity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity: Option<Term>,
    /// Escalation ladder for every step with a deadline that declares none of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// When participants of a joint visit are reminded, counted back from the visit.
    /// Empty: 2 working days and 2 hours before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visit_reminders: Vec<Term>,
    /// Pathway-specific wording of messages, by message kind (e.g. `visit_reminder`).
    /// Checked against the whitelisted message fields when the pathway is validated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, MessageText>,
}

/// The words a pathway puts into one kind of message; handlebars templates over the
/// message's whitelisted fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageText {
    /// Replaces the subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A paragraph added above the standard text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
}

/// One rung of an escalation ladder: a moment relative to the deadline and who hears of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Fire this long before the deadline (working days are counted back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Term>,
    /// Fire this long after the deadline. With neither, the rung fires at the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Term>,
    /// `responsible` (the step's roles), `team_lead`, `manager`, or a declared role id.
    pub to: String,
}

/// What a step allows with its clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRules {
    /// The clock may be suspended (opschorten), e.g. while waiting for the client's papers.
    #[serde(default)]
    pub suspend: bool,
    /// The deadline may be extended (verlengen) by at most this much in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend: Option<Term>,
}

/// Escalation targets other than a role id.
pub const ESCALATION_TARGETS: &[&str] = &["responsible", "team_lead", "manager"];

/// One entry of the role catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The field categories people in this role read (need to know); left out: the
    /// default of the role's kind of organisation ([`crate::chain::default_sight`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sees: Option<Vec<Category>>,
}

/// What a field is about, for need to know: health, income, work, or general.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Zorg,
    Inkomen,
    Werk,
    #[default]
    Algemeen,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Zorg,
        Category::Inkomen,
        Category::Werk,
        Category::Algemeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Zorg => "zorg",
            Category::Inkomen => "inkomen",
            Category::Werk => "werk",
            Category::Algemeen => "algemeen",
        }
    }

    /// The Dutch words on screens ("gegevens over zorg").
    pub fn label(self) -> &'static str {
        match self {
            Category::Zorg => "zorg en gezondheid",
            Category::Inkomen => "inkomen en uitkering",
            Category::Werk => "werk",
            Category::Algemeen => "algemeen",
        }
    }
}

/// What a step is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StepKind {
    Start,
    Task,
    JointVisit,
    Wait,
    Automatic,
    /// Exclusive gateway: ordered conditions plus a default.
    Gateway,
    ParallelSplit,
    ParallelJoin,
    InclusiveSplit,
    InclusiveJoin,
    End,
    /// A kind this version of Doorloop does not know; validation reports it.
    Unknown(String),
}

impl StepKind {
    pub const KNOWN: &'static [&'static str] = &[
        "start",
        "task",
        "joint_visit",
        "wait",
        "automatic",
        "gateway",
        "parallel_split",
        "parallel_join",
        "inclusive_split",
        "inclusive_join",
        "end",
    ];

    pub fn as_str(&self) -> &str {
        match self {
            StepKind::Start => "start",
            StepKind::Task => "task",
            StepKind::JointVisit => "joint_visit",
            StepKind::Wait => "wait",
            StepKind::Automatic => "automatic",
            StepKind::Gateway => "gateway",
            StepKind::ParallelSplit => "parallel_split",
            StepKind::ParallelJoin => "parallel_join",
            StepKind::InclusiveSplit => "inclusive_split",
            StepKind::InclusiveJoin => "inclusive_join",
            StepKind::End => "end",
            StepKind::Unknown(s) => s,
        }
    }

    /// Steps where a person acts and the case waits for a command.
    pub fn is_human(&self) -> bool {
        matches!(self, StepKind::Task | StepKind::JointVisit | StepKind::Wait)
    }

    pub fn is_split(&self) -> bool {
        matches!(self, StepKind::ParallelSplit | StepKind::InclusiveSplit)
    }

    pub fn is_join(&self) -> bool {
        matches!(self, StepKind::ParallelJoin | StepKind::InclusiveJoin)
    }

    /// The join kind that closes this split kind.
    pub fn matching_join(&self) -> Option<StepKind> {
        match self {
            StepKind::ParallelSplit => Some(StepKind::ParallelJoin),
            StepKind::InclusiveSplit => Some(StepKind::InclusiveJoin),
            _ => None,
        }
    }
}

impl From<String> for StepKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "start" => StepKind::Start,
            "task" => StepKind::Task,
            "joint_visit" => StepKind::JointVisit,
            "wait" => StepKind::Wait,
            "automatic" => StepKind::Automatic,
            "gateway" => StepKind::Gateway,
            "parallel_split" => StepKind::ParallelSplit,
            "parallel_join" => StepKind::ParallelJoin,
            "inclusive_split" => StepKind::InclusiveSplit,
            "inclusive_join" => StepKind::InclusiveJoin,
            "end" => StepKind::End,
            _ => StepKind::Unknown(s),
        }
    }
}

impl From<StepKind> for String {
    fn from(k: StepKind) -> Self {
        k.as_str().to_owned()
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a case ends.
pub const KNOWN_OUTCOMES: &[&str] = &[
    "betaald_werk",
    "beschut_werk",
    "opleiding",
    "dagbesteding",
    "gestopt",
    "verhuisd",
    "overleden",
    "overgedragen",
    // Work that is not a trajectory of its own (an expiring provision dealt with).
    "afgehandeld",
    // An end no category fits (a BPMN end event named otherwise); its step's name says how.
    "overig",
];

/// Why a case waits; used for stall reasons and the manager's queue view.
pub const KNOWN_WAIT_REASONS: &[&str] = &[
    "client",
    "uwv",
    "zorgaanbieder",
    "financiering",
    "wmo_besluit",
    "werkgever",
    "onderwijs",
    "intern",
];

/// One step of a pathway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Responsible role (task, wait: who follows the outside party up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Roles taking part in a joint visit (two or more).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The outside party a `wait` step waits on, e.g. "UWV verzekeringsarts".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// Reason code of a wait (see [`KNOWN_WAIT_REASONS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expected duration of a `wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Term>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after: Option<Term>,
    /// Escalation ladder for the deadline (else the pathway default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// An interrupting deadline: when it passes, the open task closes and the case moves here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deadline: Option<String>,
    /// Whether the clock may be suspended or extended at this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockRules>,
    /// Form fields filled in when the step is completed; values become case variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// Automatic steps: variable → CEL expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Participatieladder rung (1–6) the case reaches when this step completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u8>,
    /// End steps: the outcome (`betaald_werk`, `beschut_werk`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Starts a case on this pathway for the same resident, linked to this one. On an
    /// `automatic` step the case moves on at once; on a `wait` step it waits until the
    /// linked case ends, whose outcome becomes the variable `{step id}_uitkomst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_pathway: Option<String>,
    /// Wait steps: the message from an outside party that ends the wait
    /// (`POST /api/v1/messages`, `doorloop message send`), e.g. `uwv_besluit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Messages from outside parties that break into this step's work (BPMN's message
    /// boundary events), e.g. `{ message: klant_belt_af, to: afspraak_verzetten }`: the open
    /// task closes and the case goes to `to`; with `interrupting: false` the work stays open
    /// and `to` runs beside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_message: Vec<OnMessage>,
    /// End steps: end the whole case at once, closing work still open on other routes
    /// (BPMN's terminate end event). An ordinary end ends the case when its last route ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminate: bool,
    /// Provisions of the resident this step changes when it completes (or runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisions: Vec<ProvisionRule>,
    /// Unconditional successor(s): one id, or several for a parallel split.
    #[serde(default, skip_serializing_if = "Next::is_empty")]
    pub next: Next,
    /// Conditional successors (exclusive gateway, inclusive split), tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<Branch>,
    /// Successor when no branch condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A message that breaks into a step's work (see [`Step::on_message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnMessage {
    pub message: String,
    pub to: String,
    #[serde(default = "interrupts", skip_serializing_if = "is_true")]
    pub interrupting: bool,
}

fn interrupts() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A change a step makes to one of the resident's provisions, e.g.
/// `{ kind: wmo_begeleiding, status: slapend, until: 12 maanden }` or
/// `{ kind: loonkostensubsidie, status: actief, start: startdatum, end: 12 maanden }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRule {
    pub kind: String,
    pub status: crate::resident::provision::ProvisionStatus,
    /// A date field of the case the provision starts on; the day the step completes when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// How long after its start it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Term>,
    /// For a dormant provision: how long after its start it can be re-activated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Term>,
}

impl Step {
    /// Roles responsible for this step (one for task/wait, several for a joint visit).
    pub fn responsible_roles(&self) -> Vec<String> {
        match (&self.role, self.roles.is_empty()) {
            (_, false) => self.roles.clone(),
            (Some(r), true) => vec![r.clone()],
            (None, true) => Vec::new(),
        }
    }

    /// Every outgoing transition in evaluation order: branches, then `next`, then `default`.
    pub fn transitions(&self) -> Vec<Transition<'_>> {
        let mut out: Vec<Transition<'_>> = self
            .branches
            .iter()
            .map(|b| Transition {
                to: &b.to,
                when: Some(&b.when),
                is_default: false,
            })
            .collect();
        out.extend(self.next.ids().map(|to| Transition {
            to,
            when: None,
            is_default: false,
        }));
        if let Some(d) = &self.default {
            out.push(Transition {
                to: d,
                when: None,
                is_default: true,
            });
        }
        if let Some(d) = &self.on_deadline {
            out.push(Transition {
                to: d,
                when: None,
                is_default: false,
            });
        }
        out.extend(self.on_message.iter().map(|m| Transition {
            to: &m.to,
            when: None,
            is_default: false,
        }));
        out
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

/// An outgoing edge as the runtime and validator see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    pub to: &'a str,
    pub when: Option<&'a str>,
    pub is_default: bool,
}

/// `next: a` or `next: [a, b]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Next {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Next {
    pub fn is_empty(&self) -> bool {
        match self {
            Next::None => true,
            Next::One(_) => false,
            Next::Many(v) => v.is_empty(),
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Next::None => &[],
            Next::One(s) => std::slice::from_ref(s),
            Next::Many(v) => v,
        };
        slice.iter().map(String::as_str)
    }
}

/// A conditional successor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// A CEL expression over case variables.
    pub when: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A deadline: a term, optionally with the Algemene termijnenwet roll-over.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Deadline {
    Plain(Term),
    Detailed {
        term: Term,
        /// Apply the Algemene termijnenwet to the end date.
        #[serde(default)]
        atw: bool,
        /// A date field of the case the term counts from (the application, the melding, the
        /// first day of sickness, the date of birth) instead of the moment the task opens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
}

impl<'de> Deserialize<'de> for Deadline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read the shape first, then the term, so a bad term keeps its own message.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Plain(String),
            Detailed {
                term: String,
                #[serde(default)]
                atw: bool,
                #[serde(default)]
                from: Option<String>,
            },
        }
        let parse = |t: &str| t.parse::<Term>().map_err(serde::de::Error::custom);
        match Shape::deserialize(d)? {
            Shape::Plain(t) => Ok(Deadline::Plain(parse(&t)?)),
            Shape::Detailed { term, atw, from } => Ok(Deadline::Detailed {
                term: parse(&term)?,
                atw,
                from,
            }),
        }
    }
}

impl Deadline {
    pub fn term(&self) -> &Term {
        match self {
            Deadline::Plain(t) => t,
            Deadline::Detailed { term, .. } => term,
        }
    }

    pub fn atw(&self) -> bool {
        matches!(self, Deadline::Detailed { atw: true, .. })
    }

    /// The date field the term counts from, if not from the moment the task opens.
    pub fn from_field(&self) -> Option<&str> {
        match self {
            Deadline::Detailed { from, .. } => from.as_deref(),
            Deadline::Plain(_) => None,
        }
    }
}

/// The type of a form field or case variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Integer,
    Number,
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Choice,
    /// A participatieladder rung, 1–6; completing the step records it on the case.
    Rung,
}

impl FieldType {
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Choice => "choice",
            FieldType::Rung => "rung",
        }
    }
}

/// A form field (or declared case variable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Words for the options (`option_labels: { wia: WIA-uitkering }`); options without one
    /// read as their well-known Dutch name or as the code with spaces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub option_labels: BTreeMap<String, String>,
    /// What the field is about (need to know); left out: `algemeen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

impl Field {
    pub fn category(&self) -> Category {
        self.category.unwrap_or_default()
    }

    /// What a user reads for one of the options (or any stored answer).
    pub fn option_label(&self, value: &str) -> String {
        self.option_labels
            .get(value)
            .cloned()
            .unwrap_or_else(|| crate::text::dutch::code_label(value))
    }

    /// The label, or the name with spaces.
    pub fn display_label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.name.replace('_', " "))
    }
}

/// A published, immutable version of a pathway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathwayVersion {
    pub version: u32,
    pub pathway: Pathway,
}

impl PathwayVersion {
    pub fn key(&self) -> &str {
        &self.pathway.key
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.pathway.steps.iter().find(|s| s.id == id)
    }

    pub fn phase(&self, id: &str) -> Option<&Phase> {
        self.pathway.phases.iter().find(|p| p.id == id)
    }

    /// The declared type of a variable: a pathway variable or any step's form field.
    pub fn variable_type(&self, name: &str) -> Option<&Field> {
        declared_variables(&self.pathway)
            .into_iter()
            .find(|f| f.name == name)
    }
}

/// Every variable a pathway declares: pathway variables, form fields, and `set` targets
/// (the latter typed by their declaration elsewhere, or as text when only set).
pub fn declared_variables(p: &Pathway) -> Vec<&Field> {
    let mut out: Vec<&Field> = p.variables.iter().collect();
    for s in &p.steps {
        out.extend(s.fields.iter());
    }
    out
}
