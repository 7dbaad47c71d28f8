//! Graph checks on a pathway (petgraph): one start, every step reachable, no traps, cycles
//! with exits, gateways with defaults, joins that close their splits, declared roles and
//! variables, conditions that parse. Every problem names the step (and line) it concerns.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use petgraph::Direction;
use petgraph::algo::{dominators, kosaraju_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef, Reversed};

use crate::pathway::definition::Loaded;
use crate::pathway::expr::Expr;
use crate::pathway::model::{
    ESCALATION_TARGETS, FieldType, KNOWN_OUTCOMES, KNOWN_WAIT_REASONS, Pathway, Step, StepKind,
};

/// One thing wrong with a pathway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub step: Option<String>,
    pub line: Option<usize>,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(step) = &self.step {
            write!(f, "step `{step}`: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    #[error(
        "the key `{key}` may only hold lowercase letters, digits, `-` and `_` (1 to 64 characters, starting with a letter or digit)"
    )]
    BadKey { key: String },
    #[error("the pathway has {count} steps; at most {limit} are allowed")]
    TooManySteps { count: usize, limit: usize },
    #[error("the retention term is {years} years; write whole years from 1 to 120")]
    BadRetention { years: u32 },
    #[error("the pathway has no start step (a step with `kind: start`)")]
    NoStart,
    #[error("the pathway has {} start steps ({}); it needs exactly one", .ids.len(), .ids.join(", "))]
    ManyStarts { ids: Vec<String> },
    #[error("step id `{id}` is used more than once")]
    DuplicateId { id: String },
    #[error("unknown step kind `{kind}` (known kinds: {})", StepKind::KNOWN.join(", "))]
    UnknownKind { kind: String },
    #[error("transition to unknown step `{to}`")]
    UnknownTarget { to: String },
    #[error("cannot be reached from the start step{}", if *.behind > 0 { format!(", nor can the {} step(s) only reached through it", .behind) } else { String::new() })]
    Unreachable { behind: usize },
    #[error("no end step can be reached from here: a case would be trapped")]
    Trap,
    #[error("the cycle {} has no way out", .cycle.join(" → "))]
    CycleWithoutExit { cycle: Vec<String> },
    #[error("the cycle {} has no task, wait or visit step: it would loop without anyone acting", .cycle.join(" → "))]
    CycleWithoutHumanStep { cycle: Vec<String> },
    #[error("{kind} does not close a split: {why}")]
    UnmatchedJoin { kind: String, why: String },
    #[error("{kind} has no matching {join} that all its branches reach")]
    SplitWithoutJoin { kind: String, join: String },
    #[error("role `{role}` is not declared under `roles`")]
    UndeclaredRole { role: String },
    #[error("expression `{expr}` does not parse: {message}")]
    BadExpression { expr: String, message: String },
    #[error("expression `{expr}` reads `{name}`, which is neither a pathway variable nor a form field")]
    UnknownVariable { expr: String, name: String },
    #[error("a {kind} step needs `{attribute}`")]
    MissingAttribute { kind: String, attribute: String },
    #[error("`{attribute}` does not belong on a {kind} step")]
    UnexpectedAttribute { kind: String, attribute: String },
    #[error("a {kind} step needs exactly one successor in `next`, it has {count}")]
    SuccessorCount { kind: String, count: usize },
    #[error("a {kind} step needs at least {min} {what}, it has {count}")]
    TooFew {
        kind: String,
        what: String,
        min: usize,
        count: usize,
    },
    #[error("ladder rung {rung} is outside 1–6")]
    BadRung { rung: u8 },
    #[error("unknown outcome `{outcome}` (known: {})", KNOWN_OUTCOMES.join(", "))]
    UnknownOutcome { outcome: String },
    #[error("message name `{name}` must be 1 to 100 lower-case letters, digits or `_`")]
    BadMessageName { name: String },
    #[error("`start_pathway` names `{key}`, which is not published; publish it first")]
    UnpublishedPathway { key: String },
    #[error("`{what}` names `{name}`, which is not a date field of the case")]
    NotADateField { what: String, name: String },
    #[error("`summary` names `{name}`, which is not a variable or form field")]
    UnknownSummaryField { name: String },
    #[error("`started_by` names `{role}`, which is not a role of this pathway")]
    UnknownStarter { role: String },
    #[error("unknown wait reason `{reason}` (known: {})", KNOWN_WAIT_REASONS.join(", "))]
    UnknownReason { reason: String },
    #[error("variable `{name}` is declared as both {first} and {second}")]
    ConflictingVariable {
        name: String,
        first: String,
        second: String,
    },
    #[error("choice field `{name}` has no `options`")]
    ChoiceWithoutOptions { name: String },
    #[error("field `{name}` gives a label for `{option}`, which is not one of its options")]
    LabelForUnknownOption { name: String, option: String },
    #[error("field `{name}` appears twice in this step's form")]
    DuplicateField { name: String },
    #[error("`set` writes `{name}`, which is not a declared variable or form field")]
    UndeclaredSetTarget { name: String },
    #[error(
        "escalation rung {rung} goes to `{to}`, which is not `responsible`, `team_lead`, `manager` or a declared role"
    )]
    UnknownEscalationTarget { rung: usize, to: String },
    #[error("escalation rung {rung} has both `before` and `after`")]
    AmbiguousEscalation { rung: usize },
    #[error("`{attribute}` needs a `deadline` on the step")]
    NeedsDeadline { attribute: String },
    #[error(transparent)]
    Message(#[from] crate::text::messages::MessageProblem),
    #[error("phase `{phase}`: {problem}")]
    Phase { phase: String, problem: PhaseProblem },
}

/// What is wrong with a phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhaseProblem {
    #[error("the phase id is used more than once")]
    DuplicateId,
    #[error("it holds no steps")]
    Empty,
    #[error("it names step `{0}`, which does not exist")]
    UnknownStep(String),
    #[error("step `{step}` is in phase `{other}` too; phases may nest but not overlap")]
    InTwoPhases { step: String, other: String },
    #[error("the start step `{0}` cannot be inside a phase")]
    StartInside(String),
    #[error("`on_deadline` goes to `{0}`, which does not exist")]
    UnknownTarget(String),
    #[error("`on_deadline` goes to `{0}`, which is inside the phase itself")]
    TargetInside(String),
    #[error("`{0}` needs a `deadline` on the phase")]
    NeedsDeadline(String),
    #[error(
        "escalation rung {rung} goes to `{to}`, which is not `responsible`, `team_lead`, `manager` or a declared role"
    )]
    UnknownEscalationTarget { rung: usize, to: String },
}

/// Whether a pathway key is fit for URLs, file names and the store: 1 to 64 lowercase
/// letters, digits, `-` or `_`, starting with a letter or digit.
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Validates a loaded pathway; the empty list means it may be published.
pub fn validate(loaded: &Loaded) -> Vec<Problem> {
    let mut v = Validator {
        loaded,
        problems: Vec::new(),
    };
    v.run();
    v.problems
}

/// Validates a pathway without source lines (e.g. one read back from the store).
pub fn validate_pathway(pathway: &Pathway) -> Vec<Problem> {
    validate(&Loaded {
        pathway: pathway.clone(),
        step_lines: HashMap::new(),
    })
}

struct Validator<'a> {
    loaded: &'a Loaded,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn p(&self) -> &Pathway {
        &self.loaded.pathway
    }

    fn at(&mut self, index: Option<usize>, kind: ProblemKind) {
        let (step, line) = match index {
            Some(i) => (
                self.p().steps.get(i).map(|s| s.id.clone()),
                self.loaded.step_lines.get(&i).copied(),
            ),
            None => (None, None),
        };
        self.problems.push(Problem { step, line, kind });
    }

    fn run(&mut self) {
        let steps = &self.loaded.pathway.steps;
        if !valid_key(&self.loaded.pathway.key) {
            self.at(
                None,
                ProblemKind::BadKey {
                    key: self.loaded.pathway.key.chars().take(80).collect(),
                },
            );
        }
        if let Some(r) = &self.loaded.pathway.retention
            && !(1..=120).contains(&r.years)
        {
            self.at(None, ProblemKind::BadRetention { years: r.years });
        }
        if steps.len() > crate::pathway::definition::MAX_STEPS {
            // Nothing else is checked: the graph work would cost time on hostile input.
            self.at(
                None,
                ProblemKind::TooManySteps {
                    count: steps.len(),
                    limit: crate::pathway::definition::MAX_STEPS,
                },
            );
            return;
        }
        // Ids, kinds, attributes.
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            if first_index.contains_key(s.id.as_str()) {
                self.at(Some(i), ProblemKind::DuplicateId { id: s.id.clone() });
            } else {
                first_index.insert(&s.id, i);
            }
            self.check_step_shape(i, s);
        }
        self.check_variables();
        for problem in crate::text::messages::check_pathway(self.p()) {
            self.at(None, ProblemKind::Message(problem));
        }
        for role in &self.loaded.pathway.started_by {
            if !self.p().roles.contains_key(role) {
                self.at(None, ProblemKind::UnknownStarter { role: role.clone() });
            }
        }
        for (rung, e) in self.loaded.pathway.defaults.escalations.iter().enumerate() {
            if !ESCALATION_TARGETS.contains(&e.to.as_str()) && !self.p().roles.contains_key(&e.to) {
                self.at(
                    None,
                    ProblemKind::UnknownEscalationTarget {
                        rung,
                        to: e.to.clone(),
                    },
                );
            }
        }

        self.check_phases(&first_index);

        let starts: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StepKind::Start)
            .map(|(i, _)| i)
            .collect();
        match starts.len() {
            0 => self.at(None, ProblemKind::NoStart),
            1 => {}
            _ => {
                let ids = starts.iter().map(|&i| steps[i].id.clone()).collect();
                self.at(Some(starts[1]), ProblemKind::ManyStarts { ids });
            }
        }

        // The graph: one node per step (by first occurrence), edges per transition.
        let mut g: DiGraph<usize, ()> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| g.add_node(i)).collect();
        for (i, s) in steps.iter().enumerate() {
            for t in s.transitions() {
                match first_index.get(t.to) {
                    Some(&j) => {
                        g.add_edge(nodes[i], nodes[j], ());
                    }
                    None => self.at(Some(i), ProblemKind::UnknownTarget { to: t.to.to_owned() }),
                }
            }
        }
        // A phase's interrupting deadline leaves the phase from wherever its work stands,
        // closing the splits inside it: an edge for reachability, not a route of a branch.
        let routes = g.clone();
        for phase in &self.loaded.pathway.phases {
            let Some(&to) = phase.on_deadline.as_deref().and_then(|t| first_index.get(t)) else {
                continue;
            };
            for id in &phase.steps {
                if let Some(&i) = first_index.get(id.as_str())
                    && steps[i].kind.is_human()
                {
                    g.add_edge(nodes[i], nodes[to], ());
                }
            }
        }
        let Some(&start) = starts.first() else {
            return;
        };
        let start = nodes[start];

        let mut reachable = HashSet::new();
        let mut bfs = Bfs::new(&g, start);
        while let Some(n) = bfs.next(&g) {
            reachable.insert(n);
        }
        let mut reaches_end = HashSet::new();
        let reversed = Reversed(&g);
        for (i, s) in steps.iter().enumerate() {
            if s.kind == StepKind::End {
                let mut bfs = Bfs::new(reversed, nodes[i]);
                while let Some(n) = bfs.next(reversed) {
                    reaches_end.insert(n);
                }
            }
        }
        // One mistake should give one message, not one per step behind it: of the steps
        // that cannot be reached, only the entries of each unreached region are named (with
        // how many steps lie behind them); of the steps that cannot reach an end, only the
        // dead ends (a cycle without exit is named below).
        let firsts: Vec<usize> = (0..steps.len())
            .filter(|&i| first_index.get(steps[i].id.as_str()) == Some(&i))
            .collect();
        let unreached: HashSet<NodeIndex> = firsts
            .iter()
            .map(|&i| nodes[i])
            .filter(|n| !reachable.contains(n))
            .collect();
        let mut entries: Vec<usize> = firsts
            .iter()
            .copied()
            .filter(|&i| unreached.contains(&nodes[i]))
            .collect();
        // Entries without an unreached predecessor first, then the rest in file order.
        entries.sort_by_key(|&i| {
            let fed = g
                .neighbors_directed(nodes[i], petgraph::Direction::Incoming)
                .any(|p| p != nodes[i] && unreached.contains(&p));
            (fed, i)
        });
        let mut covered: HashSet<NodeIndex> = HashSet::new();
        for i in entries {
            if covered.contains(&nodes[i]) {
                continue;
            }
            let mut behind = 0;
            let mut bfs = Bfs::new(&g, nodes[i]);
            while let Some(n) = bfs.next(&g) {
                if unreached.contains(&n) && covered.insert(n) && n != nodes[i] {
                    behind += 1;
                }
            }
            self.at(Some(i), ProblemKind::Unreachable { behind });
        }
        // A dead end already named (a wrong target, a missing `next`) is not named twice.
        let named_target: HashSet<usize> = self
            .problems
            .iter()
            .filter_map(|p| {
                p.step
                    .as_ref()
                    .and_then(|id| first_index.get(id.as_str()).copied())
            })
            .collect();
        for &i in &firsts {
            let n = nodes[i];
            let dead_end = g.neighbors(n).next().is_none();
            if reachable.contains(&n) && !reaches_end.contains(&n) && dead_end && !named_target.contains(&i) {
                self.at(Some(i), ProblemKind::Trap);
            }
        }

        // Cycles.
        // Kosaraju's algorithm in petgraph walks with its own stack (Tarjan's recurses and
        // overflows the thread's stack on a long chain).
        for scc in kosaraju_scc(&g) {
            let is_cycle = scc.len() > 1 || g.contains_edge(scc[0], scc[0]);
            if !is_cycle {
                continue;
            }
            let set: HashSet<NodeIndex> = scc.iter().copied().collect();
            let mut ids: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
            ids.sort_unstable();
            let cycle: Vec<String> = ids.iter().map(|&i| steps[i].id.clone()).collect();
            let has_exit = scc.iter().any(|n| {
                g.edges_directed(*n, Direction::Outgoing)
                    .any(|e| !set.contains(&e.target()))
            });
            if !has_exit {
                self.at(
                    Some(ids[0]),
                    ProblemKind::CycleWithoutExit { cycle: cycle.clone() },
                );
            }
            if !ids.iter().any(|&i| steps[i].kind.is_human()) {
                self.at(Some(ids[0]), ProblemKind::CycleWithoutHumanStep { cycle });
            }
        }

        self.check_splits_and_joins(&routes, &nodes, start, &reachable);
    }

    fn check_phases(&mut self, first_index: &HashMap<&str, usize>) {
        let mut found: Vec<(String, PhaseProblem)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let p = self.p();
        for phase in &p.phases {
            let mut problem = |why: PhaseProblem| found.push((phase.id.clone(), why));
            if !seen.insert(phase.id.as_str()) {
                problem(PhaseProblem::DuplicateId);
            }
            if phase.steps.is_empty() {
                problem(PhaseProblem::Empty);
            }
            for id in &phase.steps {
                match first_index.get(id.as_str()).map(|&i| &p.steps[i]) {
                    None => problem(PhaseProblem::UnknownStep(id.clone())),
                    Some(s) if s.kind == StepKind::Start => problem(PhaseProblem::StartInside(id.clone())),
                    Some(_) => {}
                }
                // Phases may nest (a sub-process inside a sub-process), not overlap.
                let nested = |other: &str| {
                    p.phases.iter().find(|q| q.id == other).is_some_and(|q| {
                        q.steps.iter().all(|s| phase.contains(s)) || phase.steps.iter().all(|s| q.contains(s))
                    })
                };
                match owner.get(id.as_str()) {
                    Some(other) if *other != phase.id && !nested(other) => {
                        problem(PhaseProblem::InTwoPhases {
                            step: id.clone(),
                            other: (*other).to_owned(),
                        })
                    }
                    _ => {
                        owner.insert(id, &phase.id);
                    }
                }
            }
            if let Some(to) = &phase.on_deadline {
                if !first_index.contains_key(to.as_str()) {
                    problem(PhaseProblem::UnknownTarget(to.clone()));
                } else if phase.contains(to) {
                    problem(PhaseProblem::TargetInside(to.clone()));
                }
            }
            if phase.deadline.is_none() {
                if phase.on_deadline.is_some() {
                    problem(PhaseProblem::NeedsDeadline("on_deadline".into()));
                }
                if !phase.escalations.is_empty() {
                    problem(PhaseProblem::NeedsDeadline("escalations".into()));
                }
            }
            for (rung, e) in phase.escalations.iter().enumerate() {
                if !ESCALATION_TARGETS.contains(&e.to.as_str()) && !p.roles.contains_key(&e.to) {
                    problem(PhaseProblem::UnknownEscalationTarget {
                        rung,
                        to: e.to.clone(),
                    });
                }
            }
        }
        for (phase, problem) in found {
            self.at(None, ProblemKind::Phase { phase, problem });
        }
    }

    fn check_step_shape(&mut self, i: usize, s: &Step) {
        let kind = s.kind.as_str().to_owned();
        let missing = |attribute: &str| ProblemKind::MissingAttribute {
            kind: kind.clone(),
            attribute: attribute.to_owned(),
        };
        let unexpected = |attribute: &str| ProblemKind::UnexpectedAttribute {
            kind: kind.clone(),
            attribute: attribute.to_owned(),
        };
        let mut found = Vec::new();
        if let StepKind::Unknown(k) = &s.kind {
            self.at(Some(i), ProblemKind::UnknownKind { kind: k.clone() });
            return;
        }
        let next_count = s.next.ids().count();
        let single_successor = matches!(
            s.kind,
            StepKind::Start
                | StepKind::Task
                | StepKind::JointVisit
                | StepKind::Wait
                | StepKind::Automatic
                | StepKind::ParallelJoin
                | StepKind::InclusiveJoin
        );
        if single_successor {
            if next_count != 1 {
                found.push(ProblemKind::SuccessorCount {
                    kind: kind.clone(),
                    count: next_count,
                });
            }
            if !s.branches.is_empty() {
                found.push(unexpected("branches"));
            }
            if s.default.is_some() {
                found.push(unexpected("default"));
            }
        }
        let routing = matches!(s.kind, StepKind::Gateway | StepKind::InclusiveSplit);
        if routing {
            if s.branches.is_empty() {
                found.push(missing("branches"));
            }
            // Without a default, no condition holding is an incident the case shows (a
            // stall for someone to choose the route), as BPMN has it: not an invalid model.
            if next_count > 0 {
                found.push(unexpected("next"));
            }
        }
        match s.kind {
            StepKind::Task if s.role.is_none() => {
                found.push(missing("role"));
            }
            StepKind::JointVisit if s.roles.len() < 2 => {
                found.push(ProblemKind::TooFew {
                    kind: kind.clone(),
                    what: "roles".into(),
                    min: 2,
                    count: s.roles.len(),
                });
            }
            StepKind::Wait => {
                if s.party.is_none() {
                    found.push(missing("party"));
                }
                if s.expected.is_none() {
                    found.push(missing("expected"));
                }
                if let Some(r) = &s.reason
                    && !KNOWN_WAIT_REASONS.contains(&r.as_str())
                {
                    found.push(ProblemKind::UnknownReason { reason: r.clone() });
                }
            }
            StepKind::ParallelSplit => {
                if next_count < 2 {
                    found.push(ProblemKind::TooFew {
                        kind: kind.clone(),
                        what: "successors in `next`".into(),
                        min: 2,
                        count: next_count,
                    });
                }
                if !s.branches.is_empty() {
                    found.push(unexpected("branches"));
                }
            }
            StepKind::End => {
                match &s.outcome {
                    None => found.push(missing("outcome")),
                    Some(o) if !KNOWN_OUTCOMES.contains(&o.as_str()) => {
                        found.push(ProblemKind::UnknownOutcome { outcome: o.clone() })
                    }
                    Some(_) => {}
                }
                if next_count > 0 || !s.branches.is_empty() || s.default.is_some() {
                    found.push(unexpected("next"));
                }
            }
            _ => {}
        }
        if s.kind != StepKind::Wait && s.message.is_some() {
            found.push(unexpected("message"));
        }
        if !s.on_message.is_empty()
            && !matches!(s.kind, StepKind::Task | StepKind::JointVisit | StepKind::Wait)
        {
            found.push(unexpected("on_message"));
        }
        for name in s.message.iter().chain(s.on_message.iter().map(|m| &m.message)) {
            let fine = (1..=100).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !fine {
                found.push(ProblemKind::BadMessageName { name: name.clone() });
            }
        }
        if s.kind != StepKind::End && s.outcome.is_some() {
            found.push(unexpected("outcome"));
        }
        for r in &s.provisions {
            if !valid_key(&r.kind) {
                found.push(ProblemKind::BadKey { key: r.kind.clone() });
            }
        }
        if let Some(key) = &s.start_pathway {
            if !matches!(s.kind, StepKind::Automatic | StepKind::Wait) {
                found.push(unexpected("start_pathway"));
            } else if !valid_key(key) {
                found.push(ProblemKind::BadKey { key: key.clone() });
            }
        }
        if s.kind != StepKind::Automatic && !s.set.is_empty() {
            found.push(unexpected("set"));
        }
        if !s.kind.is_human() && !s.fields.is_empty() {
            found.push(unexpected("fields"));
        }
        if s.kind != StepKind::JointVisit && !s.roles.is_empty() {
            found.push(unexpected("roles"));
        }
        if let Some(rung) = s.rung
            && !(1..=6).contains(&rung)
        {
            found.push(ProblemKind::BadRung { rung });
        }
        for role in s.role.iter().chain(s.roles.iter()) {
            if !self.p().roles.contains_key(role) {
                found.push(ProblemKind::UndeclaredRole { role: role.clone() });
            }
        }
        for (rung, e) in s.escalations.iter().enumerate() {
            if e.before.is_some() && e.after.is_some() {
                found.push(ProblemKind::AmbiguousEscalation { rung });
            }
            if !ESCALATION_TARGETS.contains(&e.to.as_str()) && !self.p().roles.contains_key(&e.to) {
                found.push(ProblemKind::UnknownEscalationTarget {
                    rung,
                    to: e.to.clone(),
                });
            }
        }
        if s.deadline.is_none() {
            for (attr, present) in [
                ("escalations", !s.escalations.is_empty()),
                ("on_deadline", s.on_deadline.is_some()),
                ("clock", s.clock.is_some()),
            ] {
                if present {
                    found.push(ProblemKind::NeedsDeadline {
                        attribute: attr.into(),
                    });
                }
            }
        }
        if s.deadline.is_some() && !s.kind.is_human() {
            found.push(unexpected("deadline"));
        }
        let mut names = HashSet::new();
        for f in &s.fields {
            if !names.insert(f.name.as_str()) {
                found.push(ProblemKind::DuplicateField { name: f.name.clone() });
            }
        }
        for k in found {
            self.at(Some(i), k);
        }
    }

    fn check_variables(&mut self) {
        let mut types: HashMap<String, FieldType> = HashMap::new();
        let mut found = Vec::new();
        let p = self.p();
        let fields = p.variables.iter().map(|f| (None, f)).chain(
            p.steps
                .iter()
                .enumerate()
                .flat_map(|(i, s)| s.fields.iter().map(move |f| (Some(i), f))),
        );
        for (i, f) in fields {
            if f.ty == FieldType::Choice && f.options.is_empty() {
                found.push((i, ProblemKind::ChoiceWithoutOptions { name: f.name.clone() }));
            }
            for option in f.option_labels.keys().filter(|o| !f.options.contains(o)) {
                found.push((
                    i,
                    ProblemKind::LabelForUnknownOption {
                        name: f.name.clone(),
                        option: option.clone(),
                    },
                ));
            }
            match types.get(&f.name) {
                Some(t) if *t != f.ty => found.push((
                    i,
                    ProblemKind::ConflictingVariable {
                        name: f.name.clone(),
                        first: t.as_str().into(),
                        second: f.ty.as_str().into(),
                    },
                )),
                Some(_) => {}
                None => {
                    types.insert(f.name.clone(), f.ty);
                }
            }
        }
        // The summary names fields.
        for name in &p.summary {
            if !types.contains_key(name) {
                found.push((None, ProblemKind::UnknownSummaryField { name: name.clone() }));
            }
        }
        // A deadline counts from a date field.
        for (i, s) in p.steps.iter().enumerate() {
            if let Some(f) = s.deadline.as_ref().and_then(|d| d.from_field())
                && types.get(f) != Some(&FieldType::Date)
            {
                found.push((
                    Some(i),
                    ProblemKind::NotADateField {
                        what: "deadline from".into(),
                        name: f.to_owned(),
                    },
                ));
            }
        }
        // A provision's start names a date field.
        for (i, s) in p.steps.iter().enumerate() {
            for f in s.provisions.iter().filter_map(|r| r.start.as_ref()) {
                if types.get(f) != Some(&FieldType::Date) {
                    found.push((
                        Some(i),
                        ProblemKind::NotADateField {
                            what: "provisions start".into(),
                            name: f.clone(),
                        },
                    ));
                }
            }
        }
        // A wait on a linked case gives its outcome as `{step}_uitkomst`.
        for s in &p.steps {
            if s.kind == StepKind::Wait && s.start_pathway.is_some() {
                types
                    .entry(format!("{}_uitkomst", s.id))
                    .or_insert(FieldType::Text);
            }
        }
        for (i, s) in p.steps.iter().enumerate() {
            let exprs = s
                .branches
                .iter()
                .map(|b| b.when.as_str())
                .chain(s.set.values().map(String::as_str));
            for e in exprs {
                match Expr::compile(e) {
                    Ok(compiled) => {
                        for name in compiled.variables() {
                            if !types.contains_key(name) {
                                found.push((
                                    Some(i),
                                    ProblemKind::UnknownVariable {
                                        expr: e.to_owned(),
                                        name: name.clone(),
                                    },
                                ));
                            }
                        }
                    }
                    Err(err) => found.push((
                        Some(i),
                        ProblemKind::BadExpression {
                            expr: e.to_owned(),
                            message: err.message,
                        },
                    )),
                }
            }
            for name in s.set.keys() {
                if !types.contains_key(name) {
                    found.push((Some(i), ProblemKind::UndeclaredSetTarget { name: name.clone() }));
                }
            }
        }
        for (i, k) in found {
            self.at(i, k);
        }
    }

    /// Each join closes the nearest split that dominates it (a split whose branches never
    /// meet again, each ending on its own, needs none: the case ends with the last); the split's branches may only
    /// leave through that join, and nothing enters them from outside.
    fn check_splits_and_joins(
        &mut self,
        g: &DiGraph<usize, ()>,
        nodes: &[NodeIndex],
        start: NodeIndex,
        reachable: &HashSet<NodeIndex>,
    ) {
        let steps = &self.loaded.pathway.steps;
        let doms = dominators::simple_fast(g, start);
        let mut closed: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut found = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            if !s.kind.is_join() || !reachable.contains(&nodes[i]) {
                continue;
            }
            let join = nodes[i];
            let kind = s.kind.as_str().to_owned();
            let unmatched = |why: String| ProblemKind::UnmatchedJoin {
                kind: kind.clone(),
                why,
            };
            let split = doms
                .dominators(join)
                .into_iter()
                .flatten()
                .skip(1)
                .find(|n| steps[g[*n]].kind.is_split());
            let Some(split) = split else {
                found.push((i, unmatched("no split comes before it on every path".into())));
                continue;
            };
            let split_step = &steps[g[split]];
            if split_step.kind.matching_join().as_ref() != Some(&s.kind) {
                found.push((
                    i,
                    unmatched(format!(
                        "the nearest split `{}` is a {}",
                        split_step.id, split_step.kind
                    )),
                ));
                continue;
            }
            if let Some(other) = closed.insert(split, join) {
                found.push((
                    i,
                    unmatched(format!(
                        "split `{}` is already closed by `{}`",
                        split_step.id, steps[g[other]].id
                    )),
                ));
                continue;
            }
            // The region: everything reachable from the split without passing the join.
            let mut region = BTreeSet::new();
            let mut todo: Vec<NodeIndex> = g.neighbors(split).filter(|n| *n != join).collect();
            while let Some(n) = todo.pop() {
                if n == join || !region.insert(n) {
                    continue;
                }
                todo.extend(g.neighbors(n));
            }
            if region.contains(&split) {
                found.push((
                    i,
                    unmatched(format!(
                        "a branch of `{}` loops back to the split itself",
                        split_step.id
                    )),
                ));
                continue;
            }
            for &n in &region {
                let step = &steps[g[n]];
                // A terminating end may sit in a branch: it ends every route at once.
                if step.kind == StepKind::End && !step.terminate {
                    found.push((
                        g[n],
                        unmatched(format!(
                            "end step `{}` lies inside a branch of `{}`; branches must meet at `{}`",
                            step.id, split_step.id, s.id
                        )),
                    ));
                }
                for pred in g.neighbors_directed(n, Direction::Incoming) {
                    if pred != split && !region.contains(&pred) {
                        found.push((
                            g[n],
                            unmatched(format!(
                                "`{}` jumps into a branch of `{}` from outside it",
                                steps[g[pred]].id, split_step.id
                            )),
                        ));
                    }
                }
            }
            for pred in g.neighbors_directed(join, Direction::Incoming) {
                if pred != split && !region.contains(&pred) {
                    found.push((
                        i,
                        unmatched(format!(
                            "`{}` reaches it without passing split `{}`",
                            steps[g[pred]].id, split_step.id
                        )),
                    ));
                }
            }
        }
        for (i, s) in steps.iter().enumerate() {
            if s.kind.is_split()
                && reachable.contains(&nodes[i])
                && !closed.contains_key(&nodes[i])
                && !ends_apart(g, nodes[i], steps, &closed)
            {
                found.push((
                    i,
                    ProblemKind::SplitWithoutJoin {
                        kind: s.kind.as_str().into(),
                        join: s.kind.matching_join().map(|k| k.to_string()).unwrap_or_default(),
                    },
                ));
            }
        }
        for (i, k) in found {
            self.at(Some(i), k);
        }
    }
}

/// Whether the branches of `split` never meet again, each ending on its own: what one
/// branch reaches, no other does (an end step excepted), no join is reached except those
/// closing splits inside a branch, and no branch leads back to the split.
fn ends_apart(
    g: &DiGraph<usize, ()>,
    split: NodeIndex,
    steps: &[Step],
    closed: &HashMap<NodeIndex, NodeIndex>,
) -> bool {
    let mut seen: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    for first in g.neighbors(split) {
        let mut todo = vec![first];
        let mut branch = HashSet::new();
        while let Some(n) = todo.pop() {
            if n == split {
                return false;
            }
            if !branch.insert(n) {
                continue;
            }
            let step = &steps[g[n]];
            if let Some(other) = seen.insert(n, first)
                && other != first
                && step.kind != StepKind::End
            {
                return false;
            }
            todo.extend(g.neighbors(n));
        }
        let stray_join = branch.iter().any(|n| {
            steps[g[*n]].kind.is_join()
                && !closed
                    .iter()
                    .any(|(inner, join)| join == n && branch.contains(inner))
        });
        if stray_join {
            return false;
        }
    }
    true
}
