//! Reading a BPMN 2.0 file (as bpmn.io and Camunda Modeler 5 save it) into a pathway.
//!
//! XML is read with `roxmltree`, by namespace. Supported: start and end events (name or
//! `doorloop:outcome` → outcome), user/manual/plain tasks (role from `doorloop:role`,
//! `camunda:candidateGroups`, a Zeebe assignment definition or the lane; deadline from
//! `doorloop:deadline`, `camunda:dueDate` or a Zeebe task schedule when it is a duration),
//! service and send tasks (automatic steps), script tasks of simple assignments (automatic
//! steps that set variables), exclusive, parallel and inclusive gateways (splits, joins,
//! and exclusive merges, which a pathway does not need), conditions in JUEL, FEEL, Python
//! or JavaScript style (or CEL, as Doorloop exports them), default flows, interrupting timer
//! boundary events (the task's deadline and where the case goes then), non-interrupting
//! ones with a duration or a fixed cycle (reminders on the task's escalation ladder; their
//! own notification path is left out), timer catch events (waits), lanes as roles,
//! documentation as descriptions, and Doorloop's own properties ([`super::extensions`]).
//! Every other element is reported, all at once, with its id and type; nothing is
//! half-imported.

use std::collections::{BTreeMap, HashMap, HashSet};

use roxmltree::{Document, Node};

use super::condition::{self, ConditionError};
use super::extensions;
use super::{BPMN, CAMUNDA};
use crate::pathway::model::{
    Branch, Deadline, Defaults, Field, FieldType, Next, Pathway, RoleDef, Step, StepKind,
};
use crate::time::term::Term;

pub const ZEEBE: &str = "http://camunda.org/schema/zeebe/1.0";

/// Why a file cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not well-formed XML: {0}")]
    Xml(String),
    #[error("the file is not BPMN 2.0: its root is `{0}`, expected `definitions` in {BPMN}")]
    NotBpmn(String),
    #[error("the file holds no process")]
    NoProcess,
    #[error(
        "the file uses {} element(s) Doorloop does not support; nothing was imported:\n{}",
        .0.len(),
        .0.iter().map(|u| format!("  {u}")).collect::<Vec<_>>().join("\n")
    )]
    Unsupported(Vec<Unsupported>),
    /// The process's problems, in Dutch, each naming its element by name (id second).
    #[error(
        "the process cannot be imported:\n{}",
        .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    Invalid(Vec<String>),
}

/// An element the importer does not support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub id: String,
    /// The element's name in the file, when it has one.
    pub name: Option<String>,
    /// The BPMN element, with its event definitions or loop marker in brackets.
    pub element: String,
    /// Why, in Dutch.
    pub why: Option<String>,
}

impl Unsupported {
    fn new(node: &Node<'_, '_>, element: impl Into<String>, why: Option<String>) -> Self {
        Unsupported {
            id: attr(node, "id"),
            name: named(node),
            element: element.into(),
            why,
        }
    }

    /// The element in Dutch: what it is, its name, its id and the BPMN element second.
    pub fn dutch(&self) -> String {
        let tag = self.element.split(" (").next().unwrap_or(&self.element);
        let what = element_nl(tag);
        let who = match &self.name {
            Some(name) => format!("{what} ‘{name}’ (`{}`, {})", self.id, self.element),
            None => format!("{what} `{}` ({})", self.id, self.element),
        };
        match &self.why {
            Some(why) => format!("{who}: {why}"),
            None => who,
        }
    }
}

/// A BPMN element's kind in Dutch, as a coordinator would call it.
pub fn element_nl(tag: &str) -> &'static str {
    match tag {
        "userTask" | "task" => "taak",
        "manualTask" => "handmatige taak",
        "serviceTask" => "automatische taak",
        "sendTask" => "verzendtaak",
        "receiveTask" => "ontvangsttaak",
        "scriptTask" => "scripttaak",
        "businessRuleTask" => "beslistaak",
        "callActivity" => "aanroep van een ander traject",
        "subProcess" => "deelproces",
        "adHocSubProcess" => "ad-hoc-deelproces",
        "transaction" => "transactie",
        "startEvent" => "startgebeurtenis",
        "endEvent" => "eindgebeurtenis",
        "intermediateCatchEvent" => "tussengebeurtenis",
        "intermediateThrowEvent" => "uitgaande tussengebeurtenis",
        "boundaryEvent" => "randgebeurtenis",
        "exclusiveGateway" => "keuzepunt",
        "parallelGateway" => "parallelle splitsing of samenvoeging",
        "inclusiveGateway" => "inclusieve splitsing of samenvoeging",
        "eventBasedGateway" => "gebeurtenisafhankelijk keuzepunt",
        "complexGateway" => "complex keuzepunt",
        "sequenceFlow" => "verbinding",
        "process" => "proces",
        _ => "onderdeel",
    }
}

/// How the Dutch problems name an element of the file: its kind, its name, its id second.
struct Names(HashMap<String, (String, Option<String>)>);

impl Names {
    fn of(root: &Node<'_, '_>) -> Self {
        Names(
            root.descendants()
                .filter(|n| n.is_element() && n.tag_name().namespace() == Some(BPMN))
                .filter_map(|n| {
                    let id = n.attribute("id")?;
                    Some((id.to_owned(), (n.tag_name().name().to_owned(), named(&n))))
                })
                .collect(),
        )
    }

    fn label(&self, id: &str) -> String {
        match self.0.get(id) {
            Some((tag, Some(name))) => format!("{} ‘{name}’ (`{id}`)", element_nl(tag)),
            Some((tag, None)) => format!("{} `{id}`", element_nl(tag)),
            None => format!("`{id}`"),
        }
    }
}

fn named(node: &Node<'_, '_>) -> Option<String> {
    node.attribute("name").map(one_line).filter(|n| !n.is_empty())
}

/// A name as one line: modellers break long labels over lines for the drawing, and tools
/// write those breaks differently (`\r\n`, `\n`, `&#10;`); a step's name is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.element, self.id)?;
        if let Some(why) = &self.why {
            write!(f, ": {why}")?;
        }
        Ok(())
    }
}

struct Flow {
    id: String,
    source: String,
    target: String,
    condition: Option<String>,
    /// The condition's `language`; CEL (Doorloop's own export) is taken as it is.
    language: Option<String>,
    name: Option<String>,
}

/// A pathway read from a BPMN file, and what of the file was left out (in Dutch).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub pathway: Pathway,
    /// Descriptive elements ignored, other pools taken as outside parties, decisions made
    /// from named routes: what a coordinator should know about the import.
    pub notices: Vec<String>,
    /// Processes of the same file that call activities call: (pathway key, process id).
    pub calls: Vec<(String, String)>,
}

/// Imports the main process of a BPMN file.
pub fn import(xml: &str) -> Result<Pathway, ImportError> {
    import_with_notices(xml).map(|i| i.pathway)
}

/// Every pathway a file holds: the main process and, under the keys their calls use, the
/// processes of the same file that call activities call (and those they call). In the order
/// to publish them: called pathways before the pathways that call them.
pub fn import_all(xml: &str) -> Result<Vec<Imported>, ImportError> {
    let mut found = vec![import_chosen(xml, None)?];
    let mut keys: Vec<String> = vec![found[0].pathway.key.clone()];
    let mut i = 0;
    while i < found.len() {
        for (key, process) in found[i].calls.clone() {
            if keys.contains(&key) {
                continue;
            }
            keys.push(key.clone());
            found.push(import_chosen(xml, Some((&process, &key)))?);
        }
        i += 1;
    }
    found.reverse();
    Ok(found)
}

/// Elements that describe but do not run: ignored, with a notice.
const DESCRIPTIVE: &[&str] = &[
    "textAnnotation",
    "association",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "dataStore",
    "ioSpecification",
    "property",
    "group",
    "category",
    "dataInput",
    "dataOutput",
    "dataInputAssociation",
    "dataOutputAssociation",
];

/// Imports the main process of a BPMN file — the pool with the most flow nodes; other
/// pools are outside parties — and says what it left out.
pub fn import_with_notices(xml: &str) -> Result<Imported, ImportError> {
    import_chosen(xml, None)
}

/// Imports the main process, or the process `(id, key)` under that pathway key.
fn import_chosen(xml: &str, chosen: Option<(&str, &str)>) -> Result<Imported, ImportError> {
    let doc = Document::parse(xml).map_err(|e| ImportError::Xml(e.to_string()))?;
    let root = doc.root_element();
    check_depth(&root)?;
    if root.tag_name().name() != "definitions" || root.tag_name().namespace() != Some(BPMN) {
        return Err(ImportError::NotBpmn(root.tag_name().name().to_owned()));
    }
    let processes: Vec<Node<'_, '_>> = root
        .children()
        .filter(|n| is(n, "process"))
        .filter(|p| {
            p.children()
                .any(|c| c.is_element() && !is(&c, "laneSet") && !is(&c, "documentation"))
        })
        .collect();
    let flow_nodes = |p: &Node<'_, '_>| {
        p.children()
            .filter(|c| c.is_element() && !DESCRIPTIVE.contains(&c.tag_name().name()))
            .filter(|c| {
                !matches!(
                    c.tag_name().name(),
                    "sequenceFlow" | "laneSet" | "documentation" | "extensionElements"
                )
            })
            .count()
    };
    // The pathway is the pool with the most to do (the first of equals).
    let process = *match chosen {
        Some((id, _)) => processes.iter().find(|p| p.attribute("id") == Some(id)),
        None => processes.iter().rev().max_by_key(|p| flow_nodes(p)),
    }
    .ok_or(ImportError::NoProcess)?;
    let mut calls: Vec<(String, String)> = Vec::new();
    let names = Names::of(&root);
    let mut notices: Vec<String> = Vec::new();
    let participant_of = |p: &Node<'_, '_>| {
        root.descendants()
            .find(|n| is(n, "participant") && n.attribute("processRef") == p.attribute("id"))
            .and_then(|n| n.attribute("name"))
            .map(str::to_owned)
    };
    for other in processes.iter().filter(|p| p.id() != process.id()) {
        let who = participant_of(other)
            .or_else(|| named(other))
            .map_or_else(|| format!("`{}`", attr(other, "id")), |n| format!("‘{n}’"));
        notices.push(format!(
            "De pool {who} is als buitenpartij genomen: haar {} onderdelen zijn niet ingelezen; het traject is de pool met het meeste werk.",
            flow_nodes(other)
        ));
    }
    let mut unsupported: Vec<Unsupported> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut descriptive: BTreeMap<String, usize> = BTreeMap::new();
    // Text in files Doorloop wrote is taken exactly; other tools' is trimmed.
    let ours = root.attribute("exporter") == Some("Doorloop");

    // Without a lane, a task belongs to the pool (participant) of its process, if named.
    let default_role = root
        .descendants()
        .find(|n| is(n, "participant") && n.attribute("processRef") == process.attribute("id"))
        .and_then(|n| n.attribute("name"))
        .map_or_else(|| "medewerker".to_owned(), str::to_owned);
    // Lanes name the role of the nodes they hold.
    let mut lane_of: HashMap<String, String> = HashMap::new();
    for lane in process.descendants().filter(|n| is(n, "lane")) {
        let name = lane
            .attribute("name")
            .unwrap_or_else(|| lane.attribute("id").unwrap_or("rol"));
        for r in lane.children().filter(|n| is(n, "flowNodeRef")) {
            if let Some(id) = r.text() {
                lane_of.insert(id.trim().to_owned(), name.to_owned());
            }
        }
    }

    let mut flows: Vec<Flow> = Vec::new();
    // Embedded sub-processes are phases: their nodes and flows run inline.
    let members = members(process);
    for f in members.iter().copied().filter(|n| is(n, "sequenceFlow")) {
        let expression = f.children().find(|n| is(n, "conditionExpression"));
        let condition = expression
            .and_then(|c| c.text())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let language = expression
            .and_then(|c| c.attribute("language"))
            .map(str::to_owned);
        flows.push(Flow {
            id: attr(&f, "id"),
            source: attr(&f, "sourceRef"),
            target: attr(&f, "targetRef"),
            condition,
            language,
            name: f.attribute("name").map(one_line).filter(|n| !n.is_empty()),
        });
    }
    let outgoing = |id: &str| flows.iter().filter(|f| f.source == id).collect::<Vec<_>>();
    let incoming = |id: &str| flows.iter().filter(|f| f.target == id).count();

    let mut roles: BTreeMap<String, RoleDef> = BTreeMap::new();
    let mut variables: BTreeMap<String, FieldType> = BTreeMap::new();
    // Variables conditions read, with their type and the strings they are compared with;
    // and which gateway reads which.
    let mut read_by_conditions: BTreeMap<String, (FieldType, Vec<String>)> = BTreeMap::new();
    let mut reads: Vec<(String, String)> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    // Exclusive merges: a pathway step may have many predecessors, so the merge is skipped.
    let mut alias: HashMap<String, String> = HashMap::new();
    // Gateways that both join and split become two steps: flows into them go to the join.
    let mut gateway_steps: Vec<(Node<'_, '_>, StepKind)> = Vec::new();
    // Interrupting timers on tasks: the task's deadline, and where the case goes then.
    let mut boundaries: Vec<(Node<'_, '_>, Term)> = Vec::new();
    // Non-interrupting timers on tasks: reminders (a rung of the task's escalation ladder),
    // repeated `times` times for a cycle.
    let mut reminders: Vec<(Node<'_, '_>, Term, u32)> = Vec::new();

    // Who sends the message a wait receives: the pool at the other end of its message flow.
    let sender_of = |id: &str| -> Option<String> {
        let flow = root
            .descendants()
            .find(|n| is(n, "messageFlow") && n.attribute("targetRef") == Some(id))?;
        let source = flow.attribute("sourceRef")?;
        root.descendants()
            .find(|n| is(n, "participant") && n.attribute("id") == Some(source))
            .or_else(|| {
                let process_id = root
                    .descendants()
                    .find(|n| n.attribute("id") == Some(source))?
                    .ancestors()
                    .find(|a| is(a, "process"))?
                    .attribute("id")?;
                root.descendants()
                    .find(|n| is(n, "participant") && n.attribute("processRef") == Some(process_id))
            })
            .and_then(|p| named(&p))
    };
    let inside_phase = |n: &Node<'_, '_>| n.parent().is_some_and(|p| is(&p, "subProcess"));
    // Event-based gateways that race one awaited message against one timer ("the UWV
    // decision, or 16 weeks"): the wait, with the timer as its deadline and route.
    let mut races: Vec<(String, String, Node<'_, '_>)> = Vec::new();
    for g in members.iter().filter(|n| is(n, "eventBasedGateway")) {
        let gid = attr(g, "id");
        let targets: Vec<Node<'_, '_>> = outgoing(&gid)
            .iter()
            .filter_map(|f| {
                members
                    .iter()
                    .copied()
                    .find(|n| n.attribute("id") == Some(f.target.as_str()))
            })
            .collect();
        let awaits = |n: &Node<'_, '_>| {
            is(n, "receiveTask")
                || (is(n, "intermediateCatchEvent") && n.children().any(|c| is(&c, "messageEventDefinition")))
        };
        let timer = |n: &Node<'_, '_>| {
            is(n, "intermediateCatchEvent") && n.children().any(|c| is(&c, "timerEventDefinition"))
        };
        if let ([w], [t]) = (
            targets
                .iter()
                .filter(|n| awaits(n))
                .collect::<Vec<_>>()
                .as_slice(),
            targets
                .iter()
                .filter(|n| timer(n))
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
        ) && targets.len() == 2
        {
            races.push((gid, attr(w, "id"), *t));
        }
    }
    let racing = |id: &str| races.iter().any(|(_, _, t)| attr(t, "id") == id);
    // Errors: a boundary that catches them, and error ends inside phases that throw them.
    let mut error_boundaries: Vec<Node<'_, '_>> = Vec::new();
    let mut message_boundaries: Vec<Node<'_, '_>> = Vec::new();
    let mut error_ends: Vec<Node<'_, '_>> = Vec::new();
    for node in members.iter().copied() {
        let tag = node.tag_name().name();
        if node.tag_name().namespace() != Some(BPMN) {
            continue;
        }
        let id = attr(&node, "id");
        let name = one_line(node.attribute("name").unwrap_or(""));
        let description = documentation(&node, ours);
        let base = |kind: StepKind| Step {
            id: id.clone(),
            kind,
            name: name.clone(),
            description: description.clone(),
            ..blank_step()
        };
        let definitions: Vec<String> = node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name().ends_with("EventDefinition"))
            .map(|c| c.tag_name().name().to_owned())
            .collect();
        match tag {
            "sequenceFlow"
            | "laneSet"
            | "documentation"
            | "extensionElements"
            | "incoming"
            | "outgoing"
            | "standardLoopCharacteristics"
            | "multiInstanceLoopCharacteristics" => {}
            t if DESCRIPTIVE.contains(&t) => *descriptive.entry(t.to_owned()).or_default() += 1,
            "eventBasedGateway" if races.iter().any(|(g, _, _)| *g == id) => {
                if let Some((_, wait, _)) = races.iter().find(|(g, _, _)| *g == id) {
                    alias.insert(id.clone(), wait.clone());
                }
            }
            // The timer of a race is the wait's deadline (below), not a step of its own.
            "intermediateCatchEvent" if racing(&id) => {}
            // Errors and escalations thrown at an end: to the boundary that catches them, else
            // to the team lead (below).
            "endEvent"
                if definitions == ["errorEventDefinition"]
                    || definitions == ["escalationEventDefinition"] =>
            {
                error_ends.push(node)
            }
            // A phase: its start leads to its first step, its ends to what follows it.
            "subProcess" if node.attribute("triggeredByEvent") == Some("true") => {
                unsupported.push(Unsupported::new(&node, "subProcess (event sub-process)", None))
            }
            "subProcess" if node.children().any(|c| is(&c, "startEvent")) => {
                let inner = node
                    .children()
                    .find(|c| is(c, "startEvent"))
                    .map(|c| attr(&c, "id"));
                alias.insert(id.clone(), inner.unwrap_or_default());
                notices.push(format!(
                    "{} is als fase ingelezen: zijn stappen lopen in het traject.",
                    names.label(&id)
                ));
            }
            // A sub-process drawn without its inside is one piece of work.
            "subProcess"
                if !node.children().any(|c| {
                    c.is_element()
                        && !is(&c, "documentation")
                        && !is(&c, "extensionElements")
                        && !is(&c, "incoming")
                        && !is(&c, "outgoing")
                        && !DESCRIPTIVE.contains(&c.tag_name().name())
                }) =>
            {
                let mut step = base(StepKind::Task);
                let role = lane_of.get(&id).cloned().unwrap_or_else(|| default_role.clone());
                step.role = Some(register_role(&mut roles, role));
                notices.push(format!(
                    "{} is zonder inhoud getekend en als één taak ingelezen.",
                    names.label(&id)
                ));
                steps.push(step);
            }
            "startEvent" if inside_phase(&node) && definitions.is_empty() => {
                let next = outgoing(&id)
                    .first()
                    .map(|f| f.target.clone())
                    .unwrap_or_default();
                alias.insert(id.clone(), next);
            }
            "endEvent" if inside_phase(&node) && definitions.is_empty() => {
                let phase = node.parent().map(|p| attr(&p, "id")).unwrap_or_default();
                match outgoing(&phase).as_slice() {
                    [after] => {
                        alias.insert(id.clone(), after.target.clone());
                    }
                    _ => problems.push(format!(
                        "{}: na deze fase moet precies één verbinding uitgaan.",
                        names.label(&phase)
                    )),
                }
            }
            // A message start: the case starts when the message arrives, as any start does
            // (aanmelden, the API).
            "startEvent" if definitions == ["messageEventDefinition"] => {
                notices.push(format!(
                    "{}: een casus start bij aanmelden of via de API; het bericht zelf is niet nodig.",
                    names.label(&id)
                ));
                steps.push(base(StepKind::Start));
            }
            // Messages and signals sent at an end or on the way: the moment is recorded; the
            // sending itself is left to the systems around Doorloop.
            "endEvent"
                if matches!(
                    definitions.as_slice(),
                    [d] if d == "messageEventDefinition" || d == "signalEventDefinition"
                ) =>
            {
                notices.push(format!(
                    "{}: het bericht wordt niet door Doorloop verstuurd; de casus eindigt hier.",
                    names.label(&id)
                ));
                let mut step = base(StepKind::End);
                step.outcome = Some(outcome_of(&name));
                steps.push(step);
            }
            "intermediateThrowEvent"
                if definitions.is_empty()
                    || matches!(
                        definitions.as_slice(),
                        [d] if d == "messageEventDefinition" || d == "signalEventDefinition"
                    ) =>
            {
                if !definitions.is_empty() {
                    notices.push(format!(
                        "{}: het bericht wordt niet door Doorloop verstuurd; het moment staat op de tijdlijn.",
                        names.label(&id)
                    ));
                }
                steps.push(base(StepKind::Automatic));
            }
            // Waiting for a message from an outside party, or for a signal (a new budget
            // year): a wait that the message ends (the API, the CLI, or the consultant).
            "receiveTask" | "intermediateCatchEvent"
                if tag == "receiveTask"
                    || definitions == ["messageEventDefinition"]
                    || definitions == ["signalEventDefinition"] =>
            {
                let mut step = base(StepKind::Wait);
                let role = lane_of.get(&id).cloned().unwrap_or_else(|| default_role.clone());
                step.role = Some(register_role(&mut roles, role));
                step.party = Some(sender_of(&id).unwrap_or_else(|| {
                    if name.is_empty() {
                        "externe partij".to_owned()
                    } else {
                        name.clone()
                    }
                }));
                step.expected = "4 weken".parse::<Term>().ok();
                // The message that ends it: the BPMN message's name, else the element's.
                let message = node
                    .descendants()
                    .find_map(|n| {
                        n.attribute("messageRef")
                            .map(|r| ("message", r))
                            .or_else(|| n.attribute("signalRef").map(|r| ("signal", r)))
                    })
                    .and_then(|(kind, r)| {
                        root.descendants()
                            .find(|m| is(m, kind) && m.attribute("id") == Some(r))
                    })
                    .and_then(|m| named(&m))
                    .unwrap_or_else(|| if name.is_empty() { id.clone() } else { name.clone() });
                if definitions == ["signalEventDefinition"] {
                    step.party = Some("signaal".to_owned());
                    notices.push(format!(
                        "{} wacht op het signaal `{}`; het bereikt alle casussen die erop wachten (berichten-API met `signal: true`, of `doorloop message send --signal`).",
                        names.label(&id),
                        slug(&message)
                    ));
                }
                step.message = Some(slug(&message));
                steps.push(step);
            }
            // A terminate end event ends the whole case, whatever else is still open.
            "endEvent" if definitions == ["terminateEventDefinition"] => {
                let mut step = base(StepKind::End);
                step.outcome = Some(outcome_of(&name));
                step.terminate = true;
                steps.push(step);
            }
            "startEvent" | "endEvent" if !definitions.is_empty() => unsupported.push(Unsupported::new(
                &node,
                format!("{tag} ({})", definitions.join(", ")),
                None,
            )),
            "startEvent" => steps.push(base(StepKind::Start)),
            "endEvent" => {
                let mut step = base(StepKind::End);
                step.outcome = Some(outcome_of(&name));
                steps.push(step);
            }
            // An automatic step does nothing of itself: once or once per item is the same
            // moment on the timeline.
            "serviceTask" | "sendTask"
                if node.children().any(|c| {
                    is(&c, "multiInstanceLoopCharacteristics") || is(&c, "standardLoopCharacteristics")
                }) =>
            {
                notices.push(format!(
                    "{} is herhaald getekend (lus of meervoudig); een automatische stap doet in Doorloop zelf niets en telt één keer.",
                    names.label(&id)
                ));
                steps.push(base(StepKind::Automatic));
            }
            "userTask" | "manualTask" | "task" | "scriptTask" | "businessRuleTask" | "receiveTask"
            | "subProcess"
                if node.children().any(|c| {
                    is(&c, "multiInstanceLoopCharacteristics") || is(&c, "standardLoopCharacteristics")
                }) =>
            {
                unsupported.push(Unsupported::new(
                    &node,
                    format!("{tag} (loop or multi-instance)"),
                    Some("herhaalde taken (lus of meervoudig) worden niet ondersteund".into()),
                ))
            }
            "userTask" | "manualTask" | "task" | "businessRuleTask" => {
                if tag == "businessRuleTask" {
                    notices.push(format!(
                        "{}: een beslistaak; wie de taak afrondt, neemt het besluit.",
                        names.label(&id)
                    ));
                }
                let mut step = base(StepKind::Task);
                let role = task_role(&node).or_else(|| lane_of.get(&id).cloned());
                let role = role.unwrap_or_else(|| default_role.clone());
                step.role = Some(register_role(&mut roles, role));
                if let Some(due) = due_date(&node) {
                    match translate_duration(&due) {
                        Some(term) => step.deadline = Some(Deadline::Plain(term)),
                        None => problems.push(format!(
                            "{}: de vervaldatum `{due}` is geen duur (P…); een vaste datum kan geen termijn van een traject zijn.",
                            names.label(&id)
                        )),
                    }
                }
                steps.push(step);
            }
            "serviceTask" | "sendTask" => steps.push(base(StepKind::Automatic)),
            // A call of a reusable (global) task is that task, done here.
            "callActivity"
                if node.attribute("calledElement").is_some_and(|c| {
                    root.children().any(|g| {
                        g.is_element()
                            && g.tag_name().name().starts_with("global")
                            && g.attribute("id") == Some(c)
                    })
                }) =>
            {
                let mut step = base(StepKind::Task);
                let role = lane_of.get(&id).cloned().unwrap_or_else(|| default_role.clone());
                step.role = Some(register_role(&mut roles, role));
                notices.push(format!(
                    "{} roept een herbruikbare taak aan; in Doorloop is dat een gewone taak op deze plek.",
                    names.label(&id)
                ));
                steps.push(step);
            }
            // A call activity calls another published pathway for the same resident and waits
            // for it to end (BPMN's semantics), as a `wait` step with `start_pathway`.
            "callActivity"
                if node
                    .attribute("calledElement")
                    .is_some_and(|c| !c.trim().is_empty())
                    || !name.is_empty() =>
            {
                // Without `calledElement` (some tools leave it out) the activity's name names
                // the pathway it calls.
                let element = node
                    .attribute("calledElement")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .unwrap_or(name.as_str());
                // The called pathway's key: as written when it is one, else made from the
                // called process's name in this file, or from the reference itself.
                let in_file = processes
                    .iter()
                    .any(|p| p.attribute("id") == Some(element) && p.id() != process.id());
                let called = if crate::pathway::validate::valid_key(element) {
                    element.to_owned()
                } else {
                    let named_process = root
                        .descendants()
                        .find(|n| is(n, "process") && n.attribute("id") == Some(element))
                        .and_then(|p| participant_of(&p).or_else(|| named(&p)));
                    let key: String = slug(named_process.as_deref().unwrap_or(element))
                        .replace('_', "-")
                        .chars()
                        .take(64)
                        .collect();
                    notices.push(if in_file {
                        format!(
                            "{} roept `{element}` aan, een proces uit dit bestand; het wordt mee ingelezen als traject `{key}`.",
                            names.label(&id)
                        )
                    } else {
                        format!(
                            "{} roept `{element}` aan; in Doorloop is dat het traject `{key}`, dat gepubliceerd moet zijn voordat deze stap wordt bereikt.",
                            names.label(&id)
                        )
                    });
                    key
                };
                let mut step = base(StepKind::Wait);
                let role = lane_of.get(&id).cloned().unwrap_or_else(|| default_role.clone());
                step.role = Some(register_role(&mut roles, role));
                step.party = Some(if name.is_empty() {
                    called.clone()
                } else {
                    name.clone()
                });
                step.expected = "3 maanden".parse::<Term>().ok();
                if in_file {
                    calls.push((called.clone(), element.to_owned()));
                }
                step.start_pathway = Some(called);
                steps.push(step);
            }
            "scriptTask" => match script_assignments(&node) {
                Ok(assignments) => {
                    let mut step = base(StepKind::Automatic);
                    let mut earlier: BTreeMap<String, String> = BTreeMap::new();
                    for (name, expr) in assignments {
                        match condition::translate_with(&expr, &earlier) {
                            Ok(t) => {
                                for (v, ty) in t.variables {
                                    variables.entry(v).or_insert(ty);
                                }
                                variables.insert(name.clone(), value_type(&t.cel));
                                earlier.insert(name.clone(), t.cel.clone());
                                step.set.insert(name, t.cel);
                            }
                            Err(e) => problems.push(format!(
                                "{}: `{name} = {expr}`: {}",
                                names.label(&id),
                                e.reason
                            )),
                        }
                    }
                    steps.push(step);
                }
                Err(why) => unsupported.push(Unsupported::new(&node, "scriptTask", Some(why))),
            },
            "boundaryEvent" if definitions == ["errorEventDefinition"] => error_boundaries.push(node),
            // An escalation that stops the work is, for a task, an outcome its person reports.
            "boundaryEvent"
                if definitions == ["escalationEventDefinition"]
                    && node.attribute("cancelActivity") != Some("false") =>
            {
                error_boundaries.push(node)
            }
            "boundaryEvent" if definitions == ["messageEventDefinition"] => message_boundaries.push(node),
            "boundaryEvent" => match (timer_duration(&node), node.attribute("cancelActivity")) {
                (Some(Ok(term)), None | Some("true")) => boundaries.push((node, term)),
                (Some(Ok(term)), Some(_)) => reminders.push((node, term, 1)),
                (Some(Err(_)), Some("false")) => match timer_cycle(&node) {
                    Ok((term, times)) => reminders.push((node, term, times)),
                    Err(why) => unsupported.push(Unsupported::new(
                        &node,
                        "boundaryEvent (non-interrupting timer)",
                        Some(why),
                    )),
                },
                (Some(Err(why)), _) => {
                    unsupported.push(Unsupported::new(&node, "boundaryEvent (timer)", Some(why)))
                }
                (None, _) => unsupported.push(Unsupported::new(
                    &node,
                    format!("boundaryEvent ({})", definitions.join(", ")),
                    None,
                )),
            },
            "intermediateCatchEvent" => match timer_duration(&node) {
                Some(Ok(term)) => {
                    let mut step = base(StepKind::Wait);
                    let role = lane_of.get(&id).cloned().unwrap_or_else(|| default_role.clone());
                    step.role = Some(register_role(&mut roles, role));
                    step.party = Some(if name.is_empty() {
                        "termijn".to_owned()
                    } else {
                        name.clone()
                    });
                    step.expected = Some(term);
                    steps.push(step);
                }
                Some(Err(why)) => unsupported.push(Unsupported::new(
                    &node,
                    "intermediateCatchEvent (timer)",
                    Some(why),
                )),
                None => unsupported.push(Unsupported::new(
                    &node,
                    format!("intermediateCatchEvent ({})", definitions.join(", ")),
                    None,
                )),
            },
            "exclusiveGateway" | "parallelGateway" | "inclusiveGateway" => {
                let outs = outgoing(&id).len();
                let ins = incoming(&id);
                match (tag, outs) {
                    ("exclusiveGateway", 1) => {
                        let target = outgoing(&id)
                            .first()
                            .map(|f| f.target.clone())
                            .unwrap_or_default();
                        alias.insert(id, target);
                    }
                    ("exclusiveGateway", _) => gateway_steps.push((node, StepKind::Gateway)),
                    ("parallelGateway", 1) => gateway_steps.push((node, StepKind::ParallelJoin)),
                    ("parallelGateway", _) => {
                        if ins > 1 {
                            gateway_steps.push((node, StepKind::ParallelJoin));
                        }
                        gateway_steps.push((node, StepKind::ParallelSplit));
                    }
                    ("inclusiveGateway", 1) => gateway_steps.push((node, StepKind::InclusiveJoin)),
                    _ => {
                        if ins > 1 {
                            gateway_steps.push((node, StepKind::InclusiveJoin));
                        }
                        gateway_steps.push((node, StepKind::InclusiveSplit));
                    }
                }
            }
            other => unsupported.push(Unsupported::new(&node, other, None)),
        }
    }
    // An error thrown at the end of a phase goes where the phase's error boundary leads.
    let mut caught: Vec<String> = Vec::new();
    for end in &error_ends {
        let phase = end
            .parent()
            .filter(|p| is(p, "subProcess"))
            .map(|p| attr(&p, "id"));
        let boundary = phase.as_ref().and_then(|phase| {
            error_boundaries
                .iter()
                .find(|b| b.attribute("attachedToRef") == Some(phase.as_str()))
        });
        match boundary.and_then(|b| {
            outgoing(&attr(b, "id"))
                .first()
                .map(|f| (attr(b, "id"), f.target.clone()))
        }) {
            Some((b, target)) => {
                alias.insert(attr(end, "id"), target);
                caught.push(b);
            }
            // Nobody catches it: it goes to the team lead as work, then this route ends.
            None => {
                let id = attr(end, "id");
                let escalation = end.children().any(|c| is(&c, "escalationEventDefinition"));
                let what = if escalation { "escalatie" } else { "fout" };
                let label = named(end).unwrap_or_else(|| what.to_owned());
                let role = register_role(&mut roles, "Teamleider".to_owned());
                steps.push(Step {
                    id: id.clone(),
                    kind: StepKind::Task,
                    name: format!("Aan de teamleider gemeld: {label}"),
                    role: Some(role),
                    next: Next::One(format!("{id}_einde")),
                    ..blank_step()
                });
                steps.push(Step {
                    id: format!("{id}_einde"),
                    kind: StepKind::End,
                    name: label.clone(),
                    outcome: Some(outcome_of(&label)),
                    ..blank_step()
                });
                notices.push(format!(
                    "{}: een {what} die niemand opvangt, gaat als taak naar de teamleider; daarna eindigt deze route.",
                    names.label(&id)
                ));
            }
        }
    }
    // An error boundary on a task: the person finishing it says whether it went wrong.
    let mut task_errors: Vec<Node<'_, '_>> = Vec::new();
    for b in error_boundaries {
        let b_id = attr(&b, "id");
        if caught.contains(&b_id) {
            continue;
        }
        let on = attr(&b, "attachedToRef");
        let on_work = steps
            .iter()
            .any(|s| s.id == on && matches!(s.kind, StepKind::Task | StepKind::Automatic));
        if on_work && outgoing(&b_id).len() == 1 {
            task_errors.push(b);
        } else {
            unsupported.push(Unsupported::new(
                &b,
                "boundaryEvent (errorEventDefinition)",
                Some("vangt alleen fouten op van een taak of van het einde van een fase".into()),
            ));
        }
    }
    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported(unsupported));
    }
    for step in &mut steps {
        if let Some(node) = members
            .iter()
            .copied()
            .find(|n| n.attribute("id") == Some(step.id.as_str()))
        {
            extensions::apply_step(&node, &names.label(&step.id), step, &mut problems);
            if let Some(role) = &step.role
                && !roles.contains_key(role)
            {
                roles.insert(
                    role.clone(),
                    RoleDef {
                        name: role.clone(),
                        organisation: None,
                        sees: None,
                    },
                );
            }
            for role in &step.roles {
                roles.entry(role.clone()).or_insert(RoleDef {
                    name: role.clone(),
                    organisation: None,
                    sees: None,
                });
            }
        }
    }

    // Where a flow really goes: through exclusive merges. Flows into a gateway that joins
    // and splits reach its join half, which keeps the gateway's id.
    let resolve = |target: &str| -> String {
        let mut t = target.to_owned();
        for _ in 0..64 {
            match alias.get(&t) {
                Some(next) => t = next.clone(),
                None => break,
            }
        }
        t
    };
    let split_id = |id: &str| format!("{id}_split");
    let mut translate_flow = |f: &Flow, problems: &mut Vec<String>| -> Option<String> {
        let c = f.condition.as_deref()?;
        if f.language.as_deref() == Some(super::CEL) {
            return match crate::pathway::expr::Expr::compile(c) {
                Ok(_) => Some(c.to_owned()),
                Err(e) => {
                    problems.push(format!(
                        "{}: de voorwaarde `{c}` is geen geldige expressie: {}",
                        names.label(&f.id),
                        e.message
                    ));
                    None
                }
            };
        }
        match condition::translate(c) {
            Ok(t) => {
                for (name, ty) in t.variables {
                    let entry = read_by_conditions.entry(name.clone()).or_insert((ty, Vec::new()));
                    for l in t.literals.get(&name).into_iter().flatten() {
                        if !entry.1.contains(l) {
                            entry.1.push(l.clone());
                        }
                    }
                    reads.push((f.source.clone(), name));
                }
                Some(t.cel)
            }
            Err(ConditionError { reason, .. }) => {
                problems.push(format!(
                    "{}: de voorwaarde `{c}` kan niet worden vertaald: {reason}",
                    names.label(&f.id)
                ));
                None
            }
        }
    };

    // Splits drawn without a gateway: several flows leaving one activity.
    let mut implicit: Vec<Step> = Vec::new();
    for step in &mut steps {
        let outs = outgoing(&step.id);
        match step.kind {
            StepKind::End => {}
            // A step the importer made with its own route (an uncaught error's report).
            _ if outs.is_empty() && !step.next.is_empty() => {}
            // BPMN reads an activity without a flow out as the end of its route (an
            // implicit end): the route ends there, the case once no other route is open.
            _ if outs.is_empty()
                && matches!(
                    step.kind,
                    StepKind::Task | StepKind::JointVisit | StepKind::Wait | StepKind::Automatic
                ) =>
            {
                let end = Step {
                    id: format!("{}_einde", step.id),
                    kind: StepKind::End,
                    name: format!("Einde na {}", step.name),
                    outcome: Some("overig".to_owned()),
                    ..blank_step()
                };
                notices.push(format!(
                    "{}: er gaat geen verbinding uit; zoals BPMN zegt, eindigt deze route daar (uitkomst ‘overig’).",
                    names.label(&step.id)
                ));
                step.next = Next::One(end.id.clone());
                implicit.push(end);
            }
            _ if outs.is_empty() => problems.push(format!(
                "{}: er gaat geen verbinding uit; waar gaat de casus heen?",
                names.label(&step.id)
            )),
            // BPMN takes every unconditioned flow leaving an activity, and each conditioned
            // one whose condition holds: a parallel (or inclusive) split right after it.
            _ if outs.len() > 1 => {
                let conditioned = outs.iter().any(|f| f.condition.is_some());
                let mut split = Step {
                    id: format!("{}_splitsing", step.id),
                    kind: if conditioned {
                        StepKind::InclusiveSplit
                    } else {
                        StepKind::ParallelSplit
                    },
                    ..blank_step()
                };
                if conditioned {
                    for f in &outs {
                        let when = match f.condition {
                            Some(_) => translate_flow(f, &mut problems),
                            None => Some("true".to_owned()),
                        };
                        if let Some(when) = when {
                            split.branches.push(Branch {
                                when,
                                to: resolve(&f.target),
                                label: f.name.clone(),
                            });
                        }
                    }
                } else {
                    split.next = Next::Many(outs.iter().map(|f| resolve(&f.target)).collect());
                }
                notices.push(format!(
                    "{}: er gaan {} verbindingen uit zonder keuzepunt; zoals BPMN zegt, lopen ze {} tegelijk.",
                    names.label(&step.id),
                    outs.len(),
                    if conditioned { "waar hun voorwaarde geldt" } else { "allemaal" }
                ));
                step.next = Next::One(split.id.clone());
                implicit.push(split);
            }
            _ => {
                if outs[0].condition.is_some() {
                    problems.push(format!(
                        "{}: een voorwaarde kan alleen op een verbinding na een keuzepunt staan.",
                        names.label(&outs[0].id)
                    ));
                }
                step.next = Next::One(resolve(&outs[0].target));
            }
        }
    }
    steps.extend(implicit);
    for (gateway, wait, timer) in &races {
        let t_id = attr(timer, "id");
        let term = match timer_duration(timer) {
            Some(Ok(term)) => term,
            _ => {
                problems.push(format!(
                    "{}: de timer heeft geen duur die Doorloop kan lezen.",
                    names.label(&t_id)
                ));
                continue;
            }
        };
        let after = outgoing(&t_id).first().map(|f| resolve(&f.target));
        let Some(step) = steps.iter_mut().find(|s| s.id == *wait) else {
            continue;
        };
        if step.deadline.is_some() {
            problems.push(format!(
                "{}: heeft al een termijn; de timer van {} kan er niet nog een zijn.",
                names.label(wait),
                names.label(gateway)
            ));
            continue;
        }
        step.deadline = Some(Deadline::Plain(term.clone()));
        step.on_deadline = after;
        notices.push(format!(
            "{}: wacht op wat het eerst komt; komt het niet binnen {term}, dan gaat de casus verder via {}.",
            names.label(gateway),
            names.label(&t_id)
        ));
    }
    for b in task_errors {
        let b_id = attr(&b, "id");
        let on = attr(&b, "attachedToRef");
        let Some(target) = outgoing(&b_id).first().map(|f| resolve(&f.target)) else {
            continue;
        };
        let Some(task) = steps.iter_mut().find(|s| s.id == on) else {
            continue;
        };
        // Automatic work that can fail becomes work someone confirms.
        if task.kind == StepKind::Automatic {
            task.kind = StepKind::Task;
            let role = lane_of.get(&on).cloned().unwrap_or_else(|| default_role.clone());
            task.role = Some(register_role(&mut roles, role));
        }
        let label = named(&b).unwrap_or_else(|| "Mislukt".to_owned());
        let var = format!("afloop_{}", slug(&on));
        let value = match slug(&label) {
            v if v == "gelukt" => "mislukt".to_owned(),
            v => v,
        };
        task.fields.push(Field {
            name: var.clone(),
            ty: FieldType::Choice,
            required: true,
            label: Some("Afloop".into()),
            options: vec!["gelukt".into(), value.clone()],
            option_labels: [
                ("gelukt".to_owned(), "Gelukt".to_owned()),
                (value.clone(), label.clone()),
            ]
            .into_iter()
            .collect(),
            category: None,
        });
        let after = std::mem::replace(&mut task.next, Next::One(format!("{on}_afloop")));
        let Next::One(normal) = after else {
            problems.push(format!(
                "{}: na een taak met foutafhandeling moet precies één verbinding uitgaan.",
                names.label(&on)
            ));
            continue;
        };
        notices.push(format!(
            "{}: wie de taak afrondt, kiest of die gelukt is of ‘{label}’ (de afhandeling van {}).",
            names.label(&on),
            names.label(&b_id)
        ));
        steps.push(Step {
            id: format!("{on}_afloop"),
            kind: StepKind::Gateway,
            name: "Afloop".into(),
            branches: vec![Branch {
                when: format!("{var} == \"{value}\""),
                to: target,
                label: Some(label),
            }],
            default: Some(normal),
            ..blank_step()
        });
    }
    // A message that breaks into work: the step's `on_message`.
    for b in message_boundaries {
        let id = attr(&b, "id");
        let on = attr(&b, "attachedToRef");
        let outs = outgoing(&id);
        let Some(step) = steps
            .iter_mut()
            .find(|s| s.id == on && matches!(s.kind, StepKind::Task | StepKind::JointVisit | StepKind::Wait))
        else {
            problems.push(format!(
                "{}: hangt aan {}, en dat is geen taak of wachtstap.",
                names.label(&id),
                names.label(&on)
            ));
            continue;
        };
        let [out] = outs.as_slice() else {
            problems.push(format!(
                "{}: er moet precies één verbinding uitgaan.",
                names.label(&id)
            ));
            continue;
        };
        let message = b
            .attribute((extensions::DOORLOOP, "message"))
            .map(str::to_owned)
            .or_else(|| {
                b.descendants()
                    .find_map(|n| n.attribute("messageRef"))
                    .and_then(|r| {
                        root.descendants()
                            .find(|m| is(m, "message") && m.attribute("id") == Some(r))
                    })
                    .and_then(|m| named(&m))
            })
            .or_else(|| named(&b))
            .unwrap_or_else(|| id.clone());
        let interrupting = b.attribute("cancelActivity") != Some("false");
        step.on_message.push(crate::pathway::model::OnMessage {
            message: slug(&message),
            to: resolve(&out.target),
            interrupting,
        });
        notices.push(format!(
            "{}: het bericht `{}` {} (via de berichten-API of door de consulent vastgelegd).",
            names.label(&id),
            slug(&message),
            if interrupting {
                "breekt het werk af en zet de casus door"
            } else {
                "opent een route naast het werk"
            }
        ));
    }
    // Phases (expanded sub-processes) carry their timers as a step would, on a stand-in that
    // becomes the phase below.
    let mut phase_holders: Vec<Step> = members
        .iter()
        .filter(|n| is(n, "subProcess") && is_phase(n))
        .map(|n| {
            let mut holder = Step {
                id: attr(n, "id"),
                kind: StepKind::Task,
                name: one_line(n.attribute("name").unwrap_or("")),
                description: documentation(n, ours),
                ..blank_step()
            };
            // Doorloop's own term and ladder of the phase, when it wrote the file.
            extensions::apply_step(n, &names.label(&holder.id), &mut holder, &mut problems);
            holder
        })
        .collect();
    for (node, term) in boundaries {
        let id = attr(&node, "id");
        let on = attr(&node, "attachedToRef");
        let outs = outgoing(&id);
        let Some(step) = steps
            .iter_mut()
            .chain(phase_holders.iter_mut())
            .find(|s| s.id == on)
        else {
            problems.push(format!(
                "{}: hangt aan {}, en dat is geen taak.",
                names.label(&id),
                names.label(&on)
            ));
            continue;
        };
        let own_rule = members.iter().any(|n| {
            n.attribute("id") == Some(on.as_str())
                && n.attribute((extensions::DOORLOOP, "deadline")).is_some()
        });
        if step.deadline.is_some() && !own_rule {
            problems.push(format!(
                "{}: heeft een vervaldatum én een timer ({}); houd er één.",
                names.label(&on),
                names.label(&id)
            ));
        } else if outs.len() != 1 {
            problems.push(format!(
                "{}: er moet precies één verbinding uitgaan.",
                names.label(&id)
            ));
        } else {
            if !own_rule {
                step.deadline = Some(Deadline::Plain(term));
            }
            step.on_deadline = outs.first().map(|f| resolve(&f.target));
        }
    }
    for (node, term, times) in reminders {
        let id = attr(&node, "id");
        let on = attr(&node, "attachedToRef");
        // The reminder's own path (sending a message) is the notification Doorloop sends;
        // it must not join the process again, and is left out.
        let mut path: Vec<String> = Vec::new();
        let mut to_role: Option<String> = None;
        let mut next = outgoing(&id).first().map(|f| f.target.clone());
        while let Some(n) = next.take() {
            let Some(step) = steps.iter().find(|s| s.id == n) else {
                problems.push(reminder_path(&names, &id, &n));
                break;
            };
            if incoming(&n) > 1 || !matches!(step.kind, StepKind::Automatic | StepKind::End) {
                problems.push(reminder_path(&names, &id, &n));
                break;
            }
            if step.kind == StepKind::Automatic && to_role.is_none() {
                to_role = lane_of.get(&n).map(|l| slug(l));
            }
            path.push(n.clone());
            next = outgoing(&n).first().map(|f| f.target.clone());
        }
        steps.retain(|s| !path.contains(&s.id));
        let Some(step) = steps
            .iter_mut()
            .chain(phase_holders.iter_mut())
            .find(|s| s.id == on)
        else {
            problems.push(format!(
                "{}: hangt aan {}, en dat is geen taak.",
                names.label(&id),
                names.label(&on)
            ));
            continue;
        };
        // With an interrupting deadline as well, the reminders are moments counted back from
        // it: every `term` from the start while the deadline has not come.
        let deadline = match (&step.deadline, &step.on_deadline) {
            (None, _) => None,
            (Some(Deadline::Plain(d)), Some(_)) => match calendar_seconds(d).zip(calendar_seconds(&term)) {
                Some(both) => Some(both),
                None => {
                    problems.push(format!(
                        "{}: de herinnering ({}) en de vervaldatum moeten allebei in dagen, uren of minuten zijn om ze samen te tellen.",
                        names.label(&on),
                        names.label(&id)
                    ));
                    continue;
                }
            },
            (Some(_), _) => {
                problems.push(format!(
                    "{}: heeft een vervaldatum én een herinnering ({}); een herinnering is een moment op weg naar de vervaldatum, geef één van de twee.",
                    names.label(&on),
                    names.label(&id)
                ));
                continue;
            }
        };
        let to = match to_role {
            Some(role) => {
                let name = lane_of
                    .values()
                    .find(|l| slug(l) == role)
                    .cloned()
                    .unwrap_or_else(|| role.clone());
                roles.entry(role.clone()).or_insert(RoleDef {
                    name,
                    organisation: None,
                    sees: None,
                });
                role
            }
            None => "responsible".to_owned(),
        };
        if let Some((due, every)) = deadline {
            for k in 1..=u64::from(times) {
                let Some(before) = due.checked_sub(every.saturating_mul(k)).filter(|b| *b > 0) else {
                    break;
                };
                step.escalations.push(crate::pathway::model::Escalation {
                    before: term_of_seconds(before),
                    after: None,
                    to: to.clone(),
                });
            }
            continue;
        }
        step.deadline = Some(Deadline::Plain(term.clone()));
        for k in 0..times {
            let after = if k == 0 {
                None
            } else {
                match multiply(&term, k) {
                    Some(t) => Some(t),
                    None => {
                        problems.push(format!(
                            "{}: de herhaling van `{term}` kan niet worden berekend.",
                            names.label(&id)
                        ));
                        break;
                    }
                }
            };
            step.escalations.push(crate::pathway::model::Escalation {
                before: None,
                after,
                to: to.clone(),
            });
        }
    }
    // Decisions made at exclusive gateways whose routes have no condition: the gateway, and
    // the choice to ask.
    let mut decisions: Vec<(String, Field)> = Vec::new();
    for (node, kind) in &gateway_steps {
        let id = attr(node, "id");
        let both = gateway_steps.iter().filter(|(n, _)| n.id() == node.id()).count() > 1;
        let mut step = Step {
            id: id.clone(),
            kind: kind.clone(),
            name: one_line(node.attribute("name").unwrap_or("")),
            ..blank_step()
        };
        let outs = outgoing(&id);
        match kind {
            StepKind::ParallelJoin | StepKind::InclusiveJoin => {
                step.next = Next::One(if both {
                    split_id(&id)
                } else {
                    outs.first().map(|f| resolve(&f.target)).unwrap_or_default()
                });
            }
            StepKind::ParallelSplit => {
                if both {
                    step.id = split_id(&id);
                }
                step.next = Next::Many(outs.iter().map(|f| resolve(&f.target)).collect());
            }
            _ => {
                if both {
                    step.id = split_id(&id);
                }
                let default = node.attribute("default");
                // An exclusive gateway whose routes carry no condition is a decision someone
                // takes: the person finishing the task before it chooses the route.
                let decided = *kind == StepKind::Gateway
                    && outs
                        .iter()
                        .filter(|f| Some(f.id.as_str()) != default)
                        .all(|f| f.condition.is_none());
                if decided {
                    let label_of = |f: &Flow, i: usize| {
                        f.name
                            .as_deref()
                            .map(str::trim)
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned)
                            .or_else(|| names.0.get(&f.target).and_then(|(_, n)| n.clone()))
                            .unwrap_or_else(|| format!("route {}", i + 1))
                    };
                    let var = format!(
                        "keuze_{}",
                        slug(if step.name.trim().is_empty() {
                            &id
                        } else {
                            &step.name
                        })
                    );
                    let mut field = Field {
                        name: var.clone(),
                        ty: FieldType::Choice,
                        required: true,
                        label: Some(if step.name.trim().is_empty() {
                            "Welke route?".to_owned()
                        } else {
                            step.name.split_whitespace().collect::<Vec<_>>().join(" ")
                        }),
                        options: Vec::new(),
                        option_labels: Default::default(),
                        category: None,
                    };
                    for (i, f) in outs.iter().enumerate() {
                        let label = label_of(f, i);
                        let mut value = slug(&label);
                        while field.options.contains(&value) {
                            value.push_str("_2");
                        }
                        field.options.push(value.clone());
                        field.option_labels.insert(value.clone(), label.clone());
                        if Some(f.id.as_str()) == default {
                            step.default = Some(resolve(&f.target));
                        }
                        step.branches.push(Branch {
                            when: format!("{var} == \"{value}\""),
                            to: resolve(&f.target),
                            label: Some(label),
                        });
                    }
                    // Every answer has its route; without an answer (a question not asked on
                    // this way) the case is held for someone to choose.
                    decisions.push((id.clone(), field));
                    steps.push(step);
                    continue;
                }
                // One route without a condition beside conditioned ones, and no default drawn:
                // it is the route when none holds (as executing engines take it).
                let unconditioned: Vec<&&Flow> = outs.iter().filter(|f| f.condition.is_none()).collect();
                let default = match (default, unconditioned.as_slice()) {
                    (None, [only]) if *kind == StepKind::Gateway && outs.len() > 1 => {
                        notices.push(format!(
                            "{}: {} heeft geen voorwaarde en is als standaardroute genomen (als geen voorwaarde geldt).",
                            names.label(&id),
                            names.label(&only.id)
                        ));
                        Some(only.id.as_str())
                    }
                    _ => default,
                };
                for f in &outs {
                    if Some(f.id.as_str()) == default {
                        step.default = Some(resolve(&f.target));
                    } else if let Some(when) = translate_flow(f, &mut problems) {
                        step.branches.push(Branch {
                            when,
                            to: resolve(&f.target),
                            label: f.name.clone(),
                        });
                    } else if f.condition.is_none() && *kind == StepKind::InclusiveSplit {
                        // BPMN: an inclusive gateway takes every route without a condition.
                        step.branches.push(Branch {
                            when: "true".into(),
                            to: resolve(&f.target),
                            label: f.name.clone(),
                        });
                    } else if f.condition.is_none() {
                        problems.push(format!(
                            "{}: verlaat {} zonder voorwaarde en is niet de standaardroute.",
                            names.label(&f.id),
                            names.label(&id)
                        ));
                    }
                }
            }
        }
        steps.push(step);
    }
    // Answers no task asks: case variables, unset until someone chooses the route.
    let mut chosen_on_the_case: Vec<Field> = Vec::new();
    for (gateway, mut field) in decisions {
        // The work before the decision: right before it, or before the gateways that lead
        // to it (then the question is asked but not required, as the route may not pass).
        let mut reach: Vec<String> = vec![gateway.clone()];
        loop {
            let more: Vec<String> = steps
                .iter()
                .filter(|s| s.kind == StepKind::Gateway && !reach.contains(&s.id))
                .filter(|s| s.transitions().iter().any(|t| reach.iter().any(|r| r == t.to)))
                .map(|s| s.id.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            reach.extend(more);
        }
        let is_work = |s: &Step| matches!(s.kind, StepKind::Task | StepKind::JointVisit | StepKind::Wait);
        let direct = steps
            .iter()
            .any(|s| is_work(s) && s.transitions().iter().any(|t| t.to == gateway));
        field.required = direct;
        let asking: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| is_work(s))
            .filter(|(_, s)| s.transitions().iter().any(|t| reach.iter().any(|r| r == t.to)))
            .map(|(i, _)| i)
            .collect();
        if asking.is_empty() {
            // Nobody finishes work right before it: the case stops at the gateway (its
            // routes' answer unset, no default) until someone chooses on the case page.
            if let Some(g) = steps.iter_mut().find(|s| s.id == gateway) {
                g.default = None;
            }
            field.required = false;
            chosen_on_the_case.push(field);
            notices.push(format!(
                "Bij {} gaat geen taak aan vooraf die de route kan kiezen: de casus wacht daar tot iemand op de casuspagina de route kiest.",
                names.label(&gateway)
            ));
            continue;
        }
        let labels: Vec<String> = field
            .options
            .iter()
            .filter_map(|o| field.option_labels.get(o).cloned())
            .collect();
        let who: Vec<String> = asking
            .iter()
            .filter_map(|i| steps.get(*i))
            .map(|s| format!("‘{}’", s.display_name()))
            .collect();
        notices.push(format!(
            "Bij {} kiest wie {} afrondt de route ({}); een keuzevraag is aan die taak toegevoegd.",
            names.label(&gateway),
            who.join(" of "),
            labels.join(" / ")
        ));
        for i in asking {
            if let Some(s) = steps.get_mut(i) {
                s.fields.push(field.clone());
            }
        }
    }
    // A variable a condition reads is, as in Camunda, what the person completing the task
    // before the gateway answers: an optional field of that task. Variables set by scripts,
    // or read right after the start, are case variables.
    let set_by_scripts: Vec<String> = steps.iter().flat_map(|s| s.set.keys().cloned()).collect();
    let is_field = |steps: &[Step], name: &str| steps.iter().any(|s| s.fields.iter().any(|f| f.name == name));
    for (name, (ty, literals)) in &read_by_conditions {
        if set_by_scripts.contains(name) || is_field(&steps, name) {
            continue;
        }
        let gateways: Vec<String> = reads
            .iter()
            .filter(|(_, v)| v == name)
            .map(|(g, _)| g.clone())
            .collect();
        let asking: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.kind, StepKind::Task | StepKind::JointVisit | StepKind::Wait))
            .filter(|(_, s)| s.transitions().iter().any(|t| gateways.iter().any(|g| g == t.to)))
            .map(|(i, _)| i)
            .collect();
        if asking.is_empty() {
            variables.entry(name.clone()).or_insert(*ty);
            continue;
        }
        let field = if *ty == FieldType::Text && !literals.is_empty() {
            let mut options = literals.clone();
            options.push("anders".into());
            Field {
                name: name.clone(),
                ty: FieldType::Choice,
                required: false,
                label: None,
                options,
                option_labels: Default::default(),
                category: None,
            }
        } else {
            Field {
                name: name.clone(),
                ty: *ty,
                required: false,
                label: None,
                options: Vec::new(),
                option_labels: Default::default(),
                category: None,
            }
        };
        for i in asking {
            if let Some(s) = steps.get_mut(i) {
                s.fields.push(field.clone());
            }
        }
    }
    // Steps in the order of the file (a gateway's split half right after its join half).
    let position: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((n.attribute("id")?, i)))
        .collect();
    steps.sort_by_key(|s| {
        let (id, split) = match s.id.strip_suffix("_split") {
            Some(base) if position.contains_key(base) => (base, 1),
            _ => (s.id.as_str(), 0),
        };
        (position.get(id).copied().unwrap_or(usize::MAX), split)
    });
    let key = chosen.map_or_else(
        || slug(process.attribute("id").unwrap_or("bpmn")),
        |(_, k)| k.to_owned(),
    );
    let name = process
        .attribute("name")
        .or_else(|| root.attribute("name"))
        .map_or_else(|| key.clone(), one_line);
    let mut pathway = Pathway {
        key,
        name,
        description: documentation(&process, ours),
        roles,
        variables: variables
            .into_iter()
            .map(|(name, ty)| Field {
                name,
                ty,
                required: false,
                label: None,
                options: Vec::new(),
                option_labels: Default::default(),
                category: None,
            })
            .chain(chosen_on_the_case)
            .collect(),
        defaults: Defaults::default(),
        summary: Vec::new(),
        started_by: Vec::new(),
        retention: None,
        phases: phases_of(&members, phase_holders, &steps, &mut notices, &names),
        steps,
    };
    // Roles no step names any more (a default replaced by a Doorloop role) are dropped.
    let used: Vec<String> = pathway
        .steps
        .iter()
        .flat_map(|s| {
            s.role
                .iter()
                .chain(s.roles.iter())
                .chain(s.escalations.iter().map(|e| &e.to))
        })
        .cloned()
        .collect();
    pathway.roles.retain(|id, _| used.contains(id));
    extensions::apply_process(&process, &mut pathway, &mut problems);
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    if !descriptive.is_empty() {
        notices.push(format!(
            "Beschrijvende onderdelen zijn niet ingelezen (ze sturen het traject niet): {}.",
            descriptive
                .iter()
                .map(|(tag, n)| format!("{tag} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Imported {
        pathway,
        notices,
        calls,
    })
}

/// Whether a sub-process is drawn with its inside (a phase), not collapsed or event-triggered.
fn is_phase(node: &Node<'_, '_>) -> bool {
    node.attribute("triggeredByEvent") != Some("true") && node.children().any(|c| is(&c, "startEvent"))
}

/// The phases of a process: one per expanded sub-process, holding the steps imported from
/// inside it (nested phases' steps too), with the term its boundary timers gave its stand-in.
fn phases_of(
    members: &[Node<'_, '_>],
    holders: Vec<Step>,
    steps: &[Step],
    notices: &mut Vec<String>,
    names: &Names,
) -> Vec<crate::pathway::model::Phase> {
    let mut out = Vec::new();
    for holder in holders {
        let Some(node) = members
            .iter()
            .find(|n| n.attribute("id") == Some(holder.id.as_str()))
        else {
            continue;
        };
        let inside: HashSet<&str> = node
            .descendants()
            .filter(|d| d.is_element() && *d != *node)
            .filter_map(|d| d.attribute("id"))
            .collect();
        // Steps keep their element's id, or add a suffix to it (`{id}_split`, `{id}_einde`).
        let held: Vec<String> = steps
            .iter()
            .filter(|s| {
                inside.contains(s.id.as_str())
                    || ["_split", "_splitsing", "_einde", "_afloop"]
                        .iter()
                        .any(|suffix| {
                            s.id.strip_suffix(suffix)
                                .is_some_and(|base| inside.contains(base))
                        })
            })
            .map(|s| s.id.clone())
            .collect();
        if held.is_empty() {
            if holder.deadline.is_some() {
                notices.push(format!(
                    "{}: de fase heeft geen stappen; haar termijn is niet ingelezen.",
                    names.label(&holder.id)
                ));
            }
            continue;
        }
        out.push(crate::pathway::model::Phase {
            id: holder.id,
            name: holder.name,
            description: holder.description,
            steps: held,
            deadline: holder.deadline.map(|d| d.term().clone()),
            escalations: holder.escalations,
            on_deadline: holder.on_deadline,
        });
    }
    out
}

/// A reminder's own path must be the notification only.
fn reminder_path(names: &Names, reminder: &str, reaches: &str) -> String {
    format!(
        "{}: de route van deze herinnering komt bij {}; na een herinnering mogen alleen automatische, verzend- of scripttaken en een eindgebeurtenis volgen.",
        names.label(reminder),
        names.label(reaches)
    )
}

/// How deep elements may nest: far beyond any drawing (a sub-process in a sub-process is
/// three or four levels), far below what walking the tree needs of the stack.
pub const MAX_DEPTH: usize = 100;

/// Refuses a file nested deeper than [`MAX_DEPTH`], counted without recursion.
fn check_depth(root: &Node<'_, '_>) -> Result<(), ImportError> {
    let mut depth: HashMap<roxmltree::NodeId, usize> = HashMap::new();
    for n in root.descendants().filter(Node::is_element) {
        let d = n
            .parent_element()
            .and_then(|p| depth.get(&p.id()))
            .map_or(0, |d| d + 1);
        if d > MAX_DEPTH {
            return Err(ImportError::Xml(format!(
                "elements are nested more than {MAX_DEPTH} levels deep (line {})",
                n.document().text_pos_at(n.range().start).row
            )));
        }
        depth.insert(n.id(), d);
    }
    Ok(())
}

/// The elements of a process with those of its embedded sub-processes, in document order.
fn members<'a, 'i>(container: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    let mut out = Vec::new();
    for c in container.children().filter(Node::is_element) {
        out.push(c);
        if is(&c, "subProcess") && c.attribute("triggeredByEvent") != Some("true") {
            out.extend(members(c));
        }
    }
    out
}

fn is(n: &Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(BPMN)
}

fn attr(n: &Node<'_, '_>, name: &str) -> String {
    n.attribute(name).unwrap_or("").to_owned()
}

/// The role a task names: `camunda:candidateGroups` or a Zeebe assignment definition
/// (the first group when there are several).
fn task_role(node: &Node<'_, '_>) -> Option<String> {
    let groups = node
        .attribute((CAMUNDA, "candidateGroups"))
        .map(str::to_owned)
        .or_else(|| {
            node.descendants()
                .find(|n| {
                    n.tag_name().name() == "assignmentDefinition" && n.tag_name().namespace() == Some(ZEEBE)
                })
                .and_then(|n| n.attribute("candidateGroups"))
                .map(str::to_owned)
        })?;
    let first = groups
        .trim_start_matches('=')
        .split(',')
        .next()?
        .trim()
        .trim_matches(['"', '[', ']']);
    (!first.is_empty()).then(|| first.to_owned())
}

fn due_date(node: &Node<'_, '_>) -> Option<String> {
    node.attribute((CAMUNDA, "dueDate"))
        .map(str::to_owned)
        .or_else(|| {
            node.descendants()
                .find(|n| n.tag_name().name() == "taskSchedule" && n.tag_name().namespace() == Some(ZEEBE))
                .and_then(|n| n.attribute("dueDate"))
                .map(|d| d.trim_start_matches('=').trim().trim_matches('"').to_owned())
        })
}

/// An ISO-8601 duration (`P10D`, `PT48H`) as a term; `None` for dates and expressions.
fn translate_duration(text: &str) -> Option<Term> {
    let t = text.trim();
    if !t.starts_with('P') {
        return None;
    }
    t.parse().ok()
}

/// A step or role id from a name: lower case, `_` for anything else.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() { "x".into() } else { out }
}

/// Registers a role by the name a file gives it (a lane, a pool, a group) and returns its id.
fn register_role(roles: &mut BTreeMap<String, RoleDef>, name: String) -> String {
    let id = slug(&name);
    roles.entry(id.clone()).or_insert(RoleDef {
        name,
        organisation: None,
        sees: None,
    });
    id
}

/// An end event's outcome: the category its name names (`Betaald werk` → `betaald_werk`),
/// else `overig`; the name stays the end step's name, which the timeline shows.
/// `doorloop:outcome` sets the category explicitly.
fn outcome_of(name: &str) -> String {
    let code = slug(name);
    if crate::pathway::model::KNOWN_OUTCOMES.contains(&code.as_str()) {
        code
    } else {
        "overig".to_owned()
    }
}

fn blank_step() -> Step {
    Step {
        id: String::new(),
        kind: StepKind::Task,
        name: String::new(),
        description: None,
        role: None,
        roles: Vec::new(),
        party: None,
        reason: None,
        expected: None,
        deadline: None,
        stall_after: None,
        escalations: Vec::new(),
        on_deadline: None,
        clock: None,
        fields: Vec::new(),
        set: BTreeMap::new(),
        rung: None,
        outcome: None,
        start_pathway: None,
        on_message: Vec::new(),
        terminate: false,
        message: None,
        provisions: Vec::new(),
        next: Next::None,
        branches: Vec::new(),
        default: None,
    }
}

/// The duration of a timer event (`timeDuration`); `None` when the event is no timer.
fn timer_duration(node: &Node<'_, '_>) -> Option<Result<Term, String>> {
    let timer = node.children().find(|n| is(n, "timerEventDefinition"))?;
    let Some(duration) = timer.children().find(|n| is(n, "timeDuration")) else {
        // A timer drawn without its definition, named by its term ("7 days", "2 weken").
        let bare = !timer.children().any(|n| n.is_element());
        if bare && let Some(term) = node.attribute("name").and_then(term_from_name) {
            return Some(Ok(term));
        }
        return Some(Err(
            "alleen timers met een duur (timeDuration) worden ondersteund".into(),
        ));
    };
    let text = duration
        .text()
        .unwrap_or("")
        .trim()
        .trim_start_matches('=')
        .trim()
        .trim_matches('"');
    Some(translate_duration(text).ok_or_else(|| format!("`{text}` is geen ISO-8601-duur")))
}

/// A term read from a timer's name, Dutch or English: `7 days`, `2 weken`, `10 working days`.
fn term_from_name(name: &str) -> Option<Term> {
    let text = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let dutch = [
        ("working days", "werkdagen"),
        ("business days", "werkdagen"),
        ("working day", "werkdag"),
        ("days", "dagen"),
        ("day", "dag"),
        ("weeks", "weken"),
        ("months", "maanden"),
        ("month", "maand"),
        ("hours", "uur"),
        ("hour", "uur"),
    ]
    .iter()
    .fold(text, |t, (en, nl)| t.replace(en, nl));
    dutch.parse::<Term>().ok()
}

/// A script task's assignments, one `name = expression` per line (Python or JavaScript,
/// `var`/`let` allowed), or a Zeebe script with a result variable.
fn script_assignments(node: &Node<'_, '_>) -> Result<Vec<(String, String)>, String> {
    if let Some(z) = node
        .descendants()
        .find(|n| n.tag_name().name() == "script" && n.tag_name().namespace() == Some(ZEEBE))
    {
        let (Some(expr), Some(var)) = (z.attribute("expression"), z.attribute("resultVariable")) else {
            return Err("een Zeebe-script heeft een expressie en een resultaatvariabele nodig".into());
        };
        return Ok(vec![(var.to_owned(), expr.to_owned())]);
    }
    let text = node
        .children()
        .find(|n| is(n, "script"))
        .and_then(|n| n.text())
        .unwrap_or("");
    let mut out = Vec::new();
    for line in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
    {
        let line = ["var ", "let ", "const "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or(line);
        let assignment = line.split_once('=').filter(|(name, rest)| {
            !rest.starts_with('=')
                && !name.ends_with(['!', '<', '>'])
                && !name.trim().is_empty()
                && name.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match assignment {
            Some((name, expr)) => out.push((name.trim().to_owned(), expr.trim().to_owned())),
            None => {
                return Err(format!(
                    "het script bestaat niet uit eenvoudige toewijzingen (`{line}`)"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("het script is leeg".into());
    }
    Ok(out)
}

/// The type of a value an automatic step sets, from its expression.
fn value_type(cel: &str) -> FieldType {
    let t = cel.trim();
    if t.starts_with('"') && t.ends_with('"') {
        FieldType::Text
    } else if t == "true"
        || t == "false"
        || ["==", "!=", "<", ">", "&&", "||", "!"]
            .iter()
            .any(|op| t.contains(op))
    {
        FieldType::Boolean
    } else {
        FieldType::Number
    }
}

fn documentation(node: &Node<'_, '_>, verbatim: bool) -> Option<String> {
    let text = node.children().find(|n| is(n, "documentation"))?.text()?;
    let text = if verbatim {
        text.to_owned()
    } else {
        text.trim().to_owned()
    };
    (!text.is_empty()).then_some(text)
}

/// A timer cycle `R{n}/{duration}`: the duration and how often it repeats.
fn timer_cycle(node: &Node<'_, '_>) -> Result<(Term, u32), String> {
    let timer = node
        .children()
        .find(|n| is(n, "timerEventDefinition"))
        .ok_or("not a timer")?;
    let cycle = timer
        .children()
        .find(|n| is(n, "timeCycle"))
        .and_then(|n| n.text());
    // Drawn without a definition (as several tools export it): the name says how often.
    if cycle.is_none()
        && !timer
            .children()
            .any(|n| is(&n, "timeDuration") || is(&n, "timeDate"))
    {
        let name = node.attribute("name").unwrap_or("").trim().to_lowercase();
        let every = match name.as_str() {
            "daily" | "dagelijks" | "elke dag" | "iedere dag" => Some("P1D"),
            "weekly" | "wekelijks" | "elke week" | "iedere week" => Some("P1W"),
            _ => None,
        };
        if let Some(term) = every.and_then(|t| t.parse::<Term>().ok()) {
            return Ok((term, 12));
        }
    }
    let text = cycle
        .ok_or("alleen timers met een duur of een herhaling (R<n>/<duur>) worden ondersteund")?
        .trim()
        .trim_start_matches('=')
        .trim()
        .trim_matches('"');
    let (repeat, duration) = text
        .split_once('/')
        .ok_or_else(|| format!("de herhaling `{text}` heeft niet de vorm R<n>/<duur>"))?;
    let times: u32 = repeat
        .strip_prefix('R')
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=12).contains(n))
        .ok_or_else(|| {
            format!("de herhaling `{text}` moet een vast aantal keren zijn (R1 tot en met R12)")
        })?;
    let term = translate_duration(duration).ok_or_else(|| format!("`{duration}` is geen ISO-8601-duur"))?;
    Ok((term, times))
}

/// A calendar term without months in seconds (`P7D`, `PT4H`); none for months or working time.
fn calendar_seconds(term: &Term) -> Option<u64> {
    match term.kind {
        crate::time::term::TermKind::Calendar {
            months: 0,
            days,
            seconds,
        } => Some(u64::from(days) * 86_400 + seconds),
        _ => None,
    }
}

/// Seconds as the plainest term: days, hours or minutes.
fn term_of_seconds(n: u64) -> Option<Term> {
    let text = if n.is_multiple_of(86_400) {
        format!("P{}D", n / 86_400)
    } else if n.is_multiple_of(3_600) {
        format!("PT{}H", n / 3_600)
    } else {
        format!("PT{}M", n.div_ceil(60))
    };
    text.parse().ok()
}

/// `k` times a single-unit ISO duration (`P2D` × 3 = `P6D`).
fn multiply(term: &Term, k: u32) -> Option<Term> {
    let text = term.to_string();
    let (prefix, rest) = if let Some(r) = text.strip_prefix("PT") {
        ("PT", r)
    } else {
        ("P", text.strip_prefix('P')?)
    };
    let unit = rest.chars().last()?;
    let n: u32 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    format!("{prefix}{}{unit}", n.checked_mul(k)?).parse().ok()
}
