//! Writing a pathway as BPMN 2.0 XML that bpmn.io and Camunda Modeler open as a drawing:
//! the process with Doorloop's properties in their own namespace (so an import gives the
//! same pathway back), and a diagram section laid out in layers from left to right.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use quick_xml::Writer;
use quick_xml::events::BytesText;

use super::extensions::DOORLOOP;
use super::{BPMN, CAMUNDA, CEL};
use crate::pathway::model::{Deadline, Escalation, Field, Pathway, Phase, Step, StepKind};

/// An XML element before it is written.
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<El>,
}

impl El {
    fn new(name: &str) -> El {
        El {
            name: name.to_owned(),
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    fn attr(mut self, k: &str, v: impl Into<String>) -> El {
        self.attrs.push((k.to_owned(), v.into()));
        self
    }

    fn opt(self, k: &str, v: Option<impl Into<String>>) -> El {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }

    fn text(mut self, t: impl Into<String>) -> El {
        self.text = Some(t.into());
        self
    }

    fn child(mut self, c: El) -> El {
        self.children.push(c);
        self
    }

    fn children(mut self, cs: impl IntoIterator<Item = El>) -> El {
        self.children.extend(cs);
        self
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let e = w
            .create_element(self.name.as_str())
            .with_attributes(self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match (&self.text, self.children.is_empty()) {
            (Some(t), _) => e.write_text_content(BytesText::new(t)).map(|_| ()),
            (None, true) => e.write_empty().map(|_| ()),
            (None, false) => e
                .write_inner_content(|w| {
                    for c in &self.children {
                        c.write(w)?;
                    }
                    Ok(())
                })
                .map(|_| ()),
        }
    }
}

#[derive(Clone)]
struct Flow {
    id: String,
    from: String,
    to: String,
    when: Option<String>,
    label: Option<String>,
    is_default: bool,
}

/// The pathway as BPMN 2.0 XML.
pub fn export(p: &Pathway) -> Result<String, std::io::Error> {
    let mut flows: Vec<Flow> = Vec::new();
    let mut boundaries: Vec<(String, String, String)> = Vec::new(); // (event id, task, target)
    for s in &p.steps {
        let mut push =
            |to: &str, when: Option<&String>, label: Option<&String>, is_default: bool, from: &str| {
                flows.push(Flow {
                    id: format!("Flow_{}_{}", from, flows.len() + 1),
                    from: from.to_owned(),
                    to: to.to_owned(),
                    when: when.cloned(),
                    label: label.cloned(),
                    is_default,
                });
            };
        for b in &s.branches {
            push(&b.to, Some(&b.when), b.label.as_ref(), false, &s.id);
        }
        for to in s.next.ids() {
            push(to, None, None, false, &s.id);
        }
        if let Some(d) = &s.default {
            push(d, None, None, true, &s.id);
        }
        if let Some(target) = &s.on_deadline {
            let event = format!("{}_termijn", s.id);
            push(target, None, None, false, &event);
            boundaries.push((event, s.id.clone(), target.clone()));
        }
        for (i, m) in s.on_message.iter().enumerate() {
            let event = format!("{}_bericht_{}", s.id, i + 1);
            push(&m.to, None, None, false, &event);
            boundaries.push((event, s.id.clone(), m.to.clone()));
        }
    }

    let mut process = El::new("bpmn:process")
        .attr("id", ncname(&p.key))
        .attr("name", &p.name)
        .attr("isExecutable", "true")
        .attr("doorloop:key", &p.key)
        .opt(
            "doorloop:inactivity",
            p.defaults.inactivity.as_ref().map(ToString::to_string),
        )
        .opt(
            "doorloop:summary",
            (!p.summary.is_empty()).then(|| p.summary.join(",")),
        )
        .opt(
            "doorloop:startedBy",
            (!p.started_by.is_empty()).then(|| p.started_by.join(",")),
        )
        .opt(
            "doorloop:retentionYears",
            p.retention.as_ref().map(|r| r.years.to_string()),
        )
        .opt(
            "doorloop:retentionBasis",
            p.retention.as_ref().and_then(|r| r.basis.clone()),
        )
        .opt(
            "doorloop:visitReminders",
            (!p.defaults.visit_reminders.is_empty()).then(|| {
                p.defaults
                    .visit_reminders
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        );
    if let Some(d) = &p.description {
        process = process.child(El::new("bpmn:documentation").text(d));
    }
    let mut ext = El::new("bpmn:extensionElements");
    for (id, r) in &p.roles {
        ext = ext.child(
            El::new("doorloop:role")
                .attr("id", id)
                .attr("name", &r.name)
                .opt("organisation", r.organisation.clone())
                .opt(
                    "sees",
                    r.sees
                        .as_ref()
                        .map(|c| c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")),
                ),
        );
    }
    for v in &p.variables {
        ext = ext.child(field("doorloop:variable", v));
    }
    for e in &p.defaults.escalations {
        ext = ext.child(escalation(e));
    }
    for (kind, m) in &p.defaults.messages {
        ext = ext.child(
            El::new("doorloop:message")
                .attr("kind", kind)
                .opt("subject", m.subject.clone())
                .opt("intro", m.intro.clone()),
        );
    }
    // Phases entered at one step and left to one step are drawn as expanded sub-processes;
    // any other phase travels as Doorloop's own property (a modeller shows it not).
    let drawn = drawn_phases(p, &flows, &boundaries);
    for phase in p
        .phases
        .iter()
        .filter(|ph| !drawn.iter().any(|d| d.phase.id == ph.id))
    {
        ext = ext.child(
            El::new("doorloop:phase")
                .attr("id", &phase.id)
                .attr("name", &phase.name)
                .attr("steps", phase.steps.join(","))
                .opt("deadline", phase.deadline.as_ref().map(ToString::to_string))
                .opt("onDeadline", phase.on_deadline.clone())
                .children(phase.escalations.iter().map(escalation)),
        );
    }
    if !ext.children.is_empty() {
        process = process.child(ext);
    }
    let layout_flows = flows.clone();
    let flows = through_phases(flows, &drawn, &boundaries);
    // Every element goes into its container: the process, or the sub-process of its phase.
    let container = |id: &str| -> Option<usize> {
        let owner = boundaries
            .iter()
            .find(|(e, _, _)| e == id)
            .map_or(id, |(_, task, _)| task.as_str());
        drawn
            .iter()
            .position(|d| d.phase.contains(owner) || id == d.start_id() || id == d.end_id())
    };
    let mut inside: Vec<Vec<El>> = drawn.iter().map(|_| Vec::new()).collect();
    let mut outer: Vec<El> = Vec::new();
    // A sub-process stands where its phase's first step stands, so steps keep their order.
    let mut slots: Vec<Option<usize>> = drawn.iter().map(|_| None).collect();
    for s in &p.steps {
        let mut here: Vec<El> = vec![node(s, &flows)];
        for (i, m) in s.on_message.iter().enumerate() {
            let event = format!("{}_bericht_{}", s.id, i + 1);
            let outgoing = flows
                .iter()
                .find(|f| f.from == event)
                .map(|f| f.id.clone())
                .unwrap_or_default();
            here.push(
                El::new("bpmn:boundaryEvent")
                    .attr("id", &event)
                    .attr("name", format!("Bericht: {}", m.message.replace('_', " ")))
                    .attr("attachedToRef", &s.id)
                    .attr("cancelActivity", if m.interrupting { "true" } else { "false" })
                    .attr("doorloop:message", &m.message)
                    .child(El::new("bpmn:outgoing").text(outgoing))
                    .child(El::new("bpmn:messageEventDefinition").attr("id", format!("{event}_def"))),
            );
        }
        let deadline_event = format!("{}_termijn", s.id);
        if let Some((event, task, _)) = boundaries
            .iter()
            .find(|(e, t, _)| t == &s.id && *e == deadline_event)
        {
            let duration = s
                .deadline
                .as_ref()
                .map(|d| iso(d.term().to_string()))
                .unwrap_or_default();
            let outgoing = flows
                .iter()
                .find(|f| &f.from == event)
                .map(|f| f.id.clone())
                .unwrap_or_default();
            here.push(
                El::new("bpmn:boundaryEvent")
                    .attr("id", event)
                    .attr("name", "Termijn verstreken")
                    .attr("attachedToRef", task)
                    .child(El::new("bpmn:outgoing").text(outgoing))
                    .child(
                        El::new("bpmn:timerEventDefinition")
                            .attr("id", format!("{event}_def"))
                            .child(
                                El::new("bpmn:timeDuration")
                                    .attr("xsi:type", "bpmn:tFormalExpression")
                                    .text(duration),
                            ),
                    ),
            );
        }
        match container(&s.id) {
            Some(i) => {
                slots[i].get_or_insert(outer.len());
                inside[i].extend(here)
            }
            None => outer.extend(here),
        }
    }
    for f in &flows {
        let mut e = El::new("bpmn:sequenceFlow")
            .attr("id", &f.id)
            .opt("name", f.label.clone())
            .attr("sourceRef", &f.from)
            .attr("targetRef", &f.to);
        if let Some(when) = &f.when {
            e = e.child(
                El::new("bpmn:conditionExpression")
                    .attr("xsi:type", "bpmn:tFormalExpression")
                    .attr("language", CEL)
                    .text(when),
            );
        }
        match (container(&f.from), container(&f.to)) {
            (Some(i), Some(j)) if i == j => inside[i].push(e),
            _ => outer.push(e),
        }
    }
    let mut placed: Vec<((usize, usize), Vec<El>)> = drawn
        .iter()
        .zip(inside)
        .zip(slots)
        .enumerate()
        .map(|(i, ((d, children), slot))| {
            let (sub, boundary) = sub_process(d, &flows, children);
            (
                (slot.unwrap_or(0), i),
                std::iter::once(sub).chain(boundary).collect(),
            )
        })
        .collect();
    // From the last slot back (the later phase first where two share one), so earlier
    // positions stay where they were.
    placed.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for ((slot, _), els) in placed {
        let at = slot.min(outer.len());
        outer.splice(at..at, els);
    }
    process = process.children(outer);

    let diagram = diagram(p, &layout_flows, &flows, &boundaries, &drawn);
    let root = El::new("bpmn:definitions")
        .attr("xmlns:bpmn", BPMN)
        .attr("xmlns:bpmndi", "http://www.omg.org/spec/BPMN/20100524/DI")
        .attr("xmlns:dc", "http://www.omg.org/spec/DD/20100524/DC")
        .attr("xmlns:di", "http://www.omg.org/spec/DD/20100524/DI")
        .attr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
        .attr("xmlns:camunda", CAMUNDA)
        .attr("xmlns:doorloop", DOORLOOP)
        .attr("id", "Definitions_doorloop")
        .attr("targetNamespace", "http://bpmn.io/schema/bpmn")
        .attr("exporter", "Doorloop")
        .attr("exporterVersion", env!("CARGO_PKG_VERSION"))
        .child(process)
        .child(diagram);
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.get_mut()
        .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    root.write(&mut w)?;
    let mut out = String::from_utf8(w.into_inner()).map_err(std::io::Error::other)?;
    out.push('\n');
    Ok(out)
}

/// A phase drawn as an expanded sub-process: entered at one step, left to one step.
struct Drawn<'p> {
    phase: &'p Phase,
    entry: String,
    exit: String,
}

impl Drawn<'_> {
    fn start_id(&self) -> String {
        format!("{}_begin", self.phase.id)
    }
    fn end_id(&self) -> String {
        format!("{}_einde", self.phase.id)
    }
    fn deadline_id(&self) -> String {
        format!("{}_termijn", self.phase.id)
    }
}

/// The phases that can be drawn as sub-processes: one step where every route in arrives,
/// one step where every route out goes (work that leaves by a deadline or a message goes
/// there too), no start or end inside, and no step shared with a phase drawn before.
fn drawn_phases<'p>(
    p: &'p Pathway,
    flows: &[Flow],
    boundaries: &[(String, String, String)],
) -> Vec<Drawn<'p>> {
    let owner = |id: &str| -> String {
        boundaries
            .iter()
            .find(|(e, _, _)| e == id)
            .map_or(id, |(_, task, _)| task.as_str())
            .to_owned()
    };
    let mut out: Vec<Drawn<'p>> = Vec::new();
    for phase in &p.phases {
        let ends_inside = phase
            .steps
            .iter()
            .filter_map(|id| p.steps.iter().find(|s| &s.id == id))
            .any(|s| matches!(s.kind, StepKind::Start | StepKind::End));
        let shared = out
            .iter()
            .any(|d| d.phase.steps.iter().any(|s| phase.contains(s)));
        if ends_inside || shared {
            continue;
        }
        let mut entries: Vec<&str> = Vec::new();
        let mut exits: Vec<&str> = Vec::new();
        for f in flows {
            let (a, b) = (phase.contains(&owner(&f.from)), phase.contains(&f.to));
            let list = match (a, b) {
                (false, true) => &mut entries,
                (true, false) => &mut exits,
                _ => continue,
            };
            if !list.contains(&f.to.as_str()) {
                list.push(&f.to);
            }
        }
        // Another phase's deadline that leads in is a way in too.
        for other in &p.phases {
            if let Some(t) = &other.on_deadline
                && phase.contains(t)
                && !entries.contains(&t.as_str())
            {
                entries.push(t);
            }
        }
        if let ([entry], [exit]) = (entries.as_slice(), exits.as_slice()) {
            out.push(Drawn {
                phase,
                entry: (*entry).to_owned(),
                exit: (*exit).to_owned(),
            });
        }
    }
    out
}

/// The flows with drawn phases as sub-processes: routes into a phase arrive at the
/// sub-process, which begins at its entry step; routes out end at its end event, and one
/// route leaves the sub-process; its deadline leaves from a boundary timer.
fn through_phases(
    flows: Vec<Flow>,
    drawn: &[Drawn<'_>],
    boundaries: &[(String, String, String)],
) -> Vec<Flow> {
    let owner = |id: &str| -> String {
        boundaries
            .iter()
            .find(|(e, _, _)| e == id)
            .map_or(id, |(_, task, _)| task.as_str())
            .to_owned()
    };
    let mut out: Vec<Flow> = flows
        .into_iter()
        .map(|mut f| {
            for d in drawn {
                let (a, b) = (d.phase.contains(&owner(&f.from)), d.phase.contains(&f.to));
                if !a && b {
                    f.to = d.phase.id.clone();
                } else if a && !b {
                    f.to = d.end_id();
                }
            }
            f
        })
        .collect();
    for d in drawn {
        let flow = |id: String, from: String, to: String| Flow {
            id,
            from,
            to,
            when: None,
            label: None,
            is_default: false,
        };
        out.push(flow(
            format!("Flow_{}_begin", d.phase.id),
            d.start_id(),
            d.entry.clone(),
        ));
        out.push(flow(
            format!("Flow_{}_uit", d.phase.id),
            d.phase.id.clone(),
            d.exit.clone(),
        ));
        if let Some(target) = &d.phase.on_deadline {
            out.push(flow(
                format!("Flow_{}_termijn", d.phase.id),
                d.deadline_id(),
                target.clone(),
            ));
        }
    }
    out
}

/// A drawn phase's sub-process element (with its start, its end and the elements inside),
/// and its boundary timer when its deadline leads elsewhere.
fn sub_process(d: &Drawn<'_>, flows: &[Flow], children: Vec<El>) -> (El, Option<El>) {
    let ph = d.phase;
    let flow_ids = |pick: &dyn Fn(&Flow) -> bool| -> Vec<String> {
        flows.iter().filter(|f| pick(f)).map(|f| f.id.clone()).collect()
    };
    let mut ext = El::new("bpmn:extensionElements");
    for e in &ph.escalations {
        ext = ext.child(escalation(e));
    }
    let mut sub = El::new("bpmn:subProcess")
        .attr("id", &ph.id)
        .opt("name", (!ph.name.is_empty()).then(|| ph.name.clone()))
        .opt("doorloop:deadline", ph.deadline.as_ref().map(ToString::to_string));
    if let Some(doc) = &ph.description {
        sub = sub.child(El::new("bpmn:documentation").text(doc));
    }
    if !ext.children.is_empty() {
        sub = sub.child(ext);
    }
    for id in flow_ids(&|f| f.to == ph.id) {
        sub = sub.child(El::new("bpmn:incoming").text(id));
    }
    for id in flow_ids(&|f| f.from == ph.id) {
        sub = sub.child(El::new("bpmn:outgoing").text(id));
    }
    let start = El::new("bpmn:startEvent").attr("id", d.start_id()).children(
        flow_ids(&|f| f.from == d.start_id())
            .into_iter()
            .map(|id| El::new("bpmn:outgoing").text(id)),
    );
    let end = El::new("bpmn:endEvent").attr("id", d.end_id()).children(
        flow_ids(&|f| f.to == d.end_id())
            .into_iter()
            .map(|id| El::new("bpmn:incoming").text(id)),
    );
    sub = sub.child(start).children(children).child(end);
    let boundary = ph.on_deadline.as_ref().map(|_| {
        El::new("bpmn:boundaryEvent")
            .attr("id", d.deadline_id())
            .attr("name", "Termijn van de fase verstreken")
            .attr("attachedToRef", &ph.id)
            .children(
                flow_ids(&|f| f.from == d.deadline_id())
                    .into_iter()
                    .map(|id| El::new("bpmn:outgoing").text(id)),
            )
            .child(
                El::new("bpmn:timerEventDefinition")
                    .attr("id", format!("{}_def", d.deadline_id()))
                    .child(
                        El::new("bpmn:timeDuration")
                            .attr("xsi:type", "bpmn:tFormalExpression")
                            .text(
                                ph.deadline
                                    .as_ref()
                                    .map(|t| iso(t.to_string()))
                                    .unwrap_or_default(),
                            ),
                    ),
            )
    });
    (sub, boundary)
}

fn node(s: &Step, flows: &[Flow]) -> El {
    let tag = match s.kind {
        StepKind::Start => "bpmn:startEvent",
        StepKind::End => "bpmn:endEvent",
        StepKind::Task | StepKind::JointVisit | StepKind::Wait => "bpmn:userTask",
        StepKind::Automatic => "bpmn:serviceTask",
        StepKind::Gateway => "bpmn:exclusiveGateway",
        StepKind::ParallelSplit | StepKind::ParallelJoin => "bpmn:parallelGateway",
        StepKind::InclusiveSplit | StepKind::InclusiveJoin => "bpmn:inclusiveGateway",
        StepKind::Unknown(_) => "bpmn:task",
    };
    // A step that starts another pathway is a call activity of it.
    let tag = if s.start_pathway.is_some() {
        "bpmn:callActivity"
    } else {
        tag
    };
    let mut e = El::new(tag)
        .attr("id", &s.id)
        .opt("calledElement", s.start_pathway.clone())
        .opt("name", (!s.name.is_empty()).then(|| s.name.clone()));
    match s.kind {
        StepKind::Task => {
            e = e
                .opt("camunda:candidateGroups", s.role.clone())
                .opt("doorloop:role", s.role.clone())
        }
        StepKind::JointVisit => {
            e = e
                .attr("doorloop:kind", "joint_visit")
                .attr("doorloop:roles", s.roles.join(","))
        }
        StepKind::Wait => {
            e = e
                .attr("doorloop:kind", "wait")
                .opt("camunda:candidateGroups", s.role.clone())
                .opt("doorloop:role", s.role.clone())
        }
        StepKind::Automatic if s.start_pathway.is_some() => e = e.attr("doorloop:kind", "automatic"),
        StepKind::Gateway | StepKind::InclusiveSplit => {
            if let Some(d) = flows.iter().find(|f| f.from == s.id && f.is_default) {
                e = e.attr("default", &d.id);
            }
        }
        _ => {}
    }
    if let Some(d) = &s.deadline {
        e = e.attr("doorloop:deadline", d.term().to_string());
        if let Deadline::Detailed { atw, from, .. } = d {
            e = e
                .attr("doorloop:atw", atw.to_string())
                .opt("doorloop:deadlineFrom", from.clone());
        }
    }
    e = e
        .opt(
            "doorloop:stallAfter",
            s.stall_after.as_ref().map(ToString::to_string),
        )
        .opt("doorloop:party", s.party.clone())
        .opt("doorloop:message", s.message.clone())
        .opt("doorloop:reason", s.reason.clone())
        .opt("doorloop:expected", s.expected.as_ref().map(ToString::to_string))
        .opt("doorloop:rung", s.rung.map(|r| r.to_string()))
        .opt("doorloop:outcome", s.outcome.clone());
    if let Some(c) = &s.clock {
        e = e
            .attr("doorloop:suspend", c.suspend.to_string())
            .opt("doorloop:extend", c.extend.as_ref().map(ToString::to_string));
    }
    if let Some(d) = &s.description {
        e = e.child(El::new("bpmn:documentation").text(d));
    }
    let mut ext = El::new("bpmn:extensionElements");
    for f in &s.fields {
        ext = ext.child(field("doorloop:field", f));
    }
    for x in &s.escalations {
        ext = ext.child(escalation(x));
    }
    for (name, expr) in &s.set {
        ext = ext.child(El::new("doorloop:set").attr("name", name).attr("expr", expr));
    }
    for p in &s.provisions {
        ext = ext.child(
            El::new("doorloop:provision")
                .attr("kind", &p.kind)
                .attr("status", p.status.as_str())
                .opt("start", p.start.clone())
                .opt("end", p.end.as_ref().map(ToString::to_string))
                .opt("until", p.until.as_ref().map(ToString::to_string)),
        );
    }
    if !ext.children.is_empty() {
        e = e.child(ext);
    }
    for f in flows.iter().filter(|f| f.to == s.id) {
        e = e.child(El::new("bpmn:incoming").text(&f.id));
    }
    for f in flows.iter().filter(|f| f.from == s.id) {
        e = e.child(El::new("bpmn:outgoing").text(&f.id));
    }
    if s.kind == StepKind::End && s.terminate {
        e = e.child(El::new("bpmn:terminateEventDefinition"));
    }
    e
}

fn field(tag: &str, f: &Field) -> El {
    let ty = serde_json::to_value(f.ty)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    El::new(tag)
        .attr("name", &f.name)
        .attr("type", ty)
        .attr("required", f.required.to_string())
        .opt("label", f.label.clone())
        .opt("options", (!f.options.is_empty()).then(|| f.options.join(", ")))
        .opt("category", f.category.map(|c| c.as_str().to_owned()))
        .children(f.option_labels.iter().map(|(value, label)| {
            El::new("doorloop:option")
                .attr("value", value)
                .attr("label", label)
        }))
}

fn escalation(e: &Escalation) -> El {
    El::new("doorloop:escalation")
        .opt("before", e.before.as_ref().map(ToString::to_string))
        .opt("after", e.after.as_ref().map(ToString::to_string))
        .attr("to", &e.to)
}

/// A BPMN id (an XML NCName) for a key.
fn ncname(key: &str) -> String {
    let mut id: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}

/// An ISO-8601 duration for a timer other tools can read: the term itself when it is one,
/// else calendar days (the exact rule stays in `doorloop:deadline`).
fn iso(term: String) -> String {
    if term.starts_with('P') {
        return term;
    }
    let mut words = term.split_whitespace();
    let n: u32 = words.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    match words.next().unwrap_or("") {
        w if w.starts_with("werkdag") => format!("P{}D", n + n * 2 / 5),
        w if w.starts_with("week") => format!("P{n}W"),
        w if w.starts_with("maand") => format!("P{n}M"),
        w if w.starts_with("jaar") => format!("P{n}Y"),
        w if w.starts_with("uur") || w.starts_with("werkuur") || w.starts_with("werkuren") => {
            format!("PT{n}H")
        }
        w if w.starts_with("minu") => format!("PT{n}M"),
        _ => format!("P{n}D"),
    }
}

/// Shapes and edges: layers by distance from the start (back-edges, falling back, are left
/// out of the layering), left to right; steps of a layer stacked top to bottom.
fn diagram(
    p: &Pathway,
    layout_flows: &[Flow],
    flows: &[Flow],
    boundaries: &[(String, String, String)],
    drawn: &[Drawn<'_>],
) -> El {
    // Room between layers for a phase's border and its start and end events.
    let dx: i64 = if drawn.is_empty() { 200 } else { 260 };
    let index: HashMap<&str, usize> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let start = p
        .steps
        .iter()
        .position(|s| s.kind == StepKind::Start)
        .unwrap_or(0);
    // Breadth-first order from the start decides which edges point back.
    let mut order: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    order.insert(start, 0);
    while let Some(i) = queue.pop_front() {
        for f in layout_flows.iter().filter(|f| f.from == p.steps[i].id) {
            if let Some(&j) = index.get(f.to.as_str())
                && !order.contains_key(&j)
            {
                order.insert(j, order.len());
                queue.push_back(j);
            }
        }
    }
    // A phase's deadline route leaves from its steps: laid out after all of them (its target
    // is found by no flow, so every such edge counts as forward).
    let phase_routes = p.phases.iter().flat_map(|ph| {
        ph.on_deadline
            .iter()
            .flat_map(move |to| ph.steps.iter().map(move |s| (s.as_str(), to.as_str())))
    });
    let edges: Vec<(usize, usize)> = p
        .steps
        .iter()
        .flat_map(|s| s.transitions().into_iter().map(move |t| (s.id.as_str(), t.to)))
        .chain(phase_routes)
        .filter_map(|(a, b)| Some((*index.get(a)?, *index.get(b)?)))
        .filter(|(a, b)| order.get(a).unwrap_or(&usize::MAX) < order.get(b).unwrap_or(&usize::MAX))
        .collect();
    // Longest path layering over the forward edges.
    let mut layer = vec![0usize; p.steps.len()];
    for _ in 0..p.steps.len() {
        let mut changed = false;
        for &(a, b) in &edges {
            if layer[b] < layer[a] + 1 {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut bounds: HashMap<String, (i64, i64, i64, i64)> = HashMap::new();
    let mut plane = El::new("bpmndi:BPMNPlane")
        .attr("id", "BPMNPlane_1")
        .attr("bpmnElement", ncname(&p.key));
    let mut seen: HashSet<usize> = HashSet::new();
    let mut ordered: Vec<usize> = (0..p.steps.len()).collect();
    ordered.sort_by_key(|i| (layer[*i], order.get(i).copied().unwrap_or(usize::MAX)));
    for i in ordered {
        if !seen.insert(i) {
            continue;
        }
        let s = &p.steps[i];
        let row = rows.entry(layer[i]).or_insert(0);
        let (w, h) = match s.kind {
            StepKind::Start | StepKind::End => (36, 36),
            StepKind::Task
            | StepKind::JointVisit
            | StepKind::Wait
            | StepKind::Automatic
            | StepKind::Unknown(_) => (120, 80),
            _ => (50, 50),
        };
        let cx = 120 + dx * i64::try_from(layer[i]).unwrap_or(0);
        let cy = 120 + 140 * i64::try_from(*row).unwrap_or(0);
        *row += 1;
        let (x, y) = (cx - w / 2, cy - h / 2);
        bounds.insert(s.id.clone(), (x, y, w, h));
        plane = plane.child(shape(&s.id, x, y, w, h));
    }
    let mut on_task: BTreeMap<&str, i64> = BTreeMap::new();
    for (event, task, _) in boundaries {
        if let Some(&(x, y, w, h)) = bounds.get(task) {
            // Several events on one task sit side by side along its bottom edge.
            let k = on_task.entry(task.as_str()).or_insert(0);
            let b = (x + w - 28 - 40 * *k, y + h - 18, 36, 36);
            *k += 1;
            bounds.insert(event.clone(), b);
            plane = plane.child(shape(event, b.0, b.1, b.2, b.3));
        }
    }
    for d in drawn {
        let inner: Vec<(i64, i64, i64, i64)> = bounds
            .iter()
            .filter(|(id, _)| {
                d.phase.contains(id)
                    || boundaries
                        .iter()
                        .any(|(e, task, _)| e == *id && d.phase.contains(task))
            })
            .map(|(_, b)| *b)
            .collect();
        let (Some(x0), Some(y0), Some(x1), Some(y1)) = (
            inner.iter().map(|b| b.0).min(),
            inner.iter().map(|b| b.1).min(),
            inner.iter().map(|b| b.0 + b.2).max(),
            inner.iter().map(|b| b.1 + b.3).max(),
        ) else {
            continue;
        };
        let (bx, by, bw, bh) = (x0 - 60, y0 - 40, x1 - x0 + 120, y1 - y0 + 80);
        bounds.insert(d.phase.id.clone(), (bx, by, bw, bh));
        plane = plane.child(shape(&d.phase.id, bx, by, bw, bh).attr("isExpanded", "true"));
        let entry_y = bounds.get(&d.entry).map_or(by + bh / 2, |b| b.1 + b.3 / 2);
        let start = (x0 - 48, entry_y - 18, 36, 36);
        let end = (x1 + 12, by + bh / 2 - 18, 36, 36);
        for (id, b) in [(d.start_id(), start), (d.end_id(), end)] {
            bounds.insert(id.clone(), b);
            plane = plane.child(shape(&id, b.0, b.1, b.2, b.3));
        }
        if d.phase.on_deadline.is_some() {
            let b = (bx + bw - 60, by + bh - 18, 36, 36);
            bounds.insert(d.deadline_id(), b);
            plane = plane.child(shape(&d.deadline_id(), b.0, b.1, b.2, b.3));
        }
    }
    for f in flows {
        let (Some(&(sx, sy, sw, sh)), Some(&(tx, ty, _tw, th))) = (bounds.get(&f.from), bounds.get(&f.to))
        else {
            continue;
        };
        let (x1, y1) = (sx + sw, sy + sh / 2);
        let (x2, y2) = (tx, ty + th / 2);
        let mut points = vec![(x1, y1)];
        if x2 > x1 {
            let mx = (x1 + x2) / 2;
            if y1 != y2 {
                points.push((mx, y1));
                points.push((mx, y2));
            }
        } else {
            // Back to an earlier layer: around underneath.
            let low = sy.max(ty) + sh.max(th) + 40;
            points.push((x1 + 20, y1));
            points.push((x1 + 20, low));
            points.push((x2 - 20, low));
            points.push((x2 - 20, y2));
        }
        points.push((x2, y2));
        let mut edge = El::new("bpmndi:BPMNEdge")
            .attr("id", format!("{}_di", f.id))
            .attr("bpmnElement", &f.id);
        for (x, y) in points {
            edge = edge.child(
                El::new("di:waypoint")
                    .attr("x", x.to_string())
                    .attr("y", y.to_string()),
            );
        }
        plane = plane.child(edge);
    }
    El::new("bpmndi:BPMNDiagram")
        .attr("id", "BPMNDiagram_1")
        .child(plane)
}

fn shape(id: &str, x: i64, y: i64, w: i64, h: i64) -> El {
    El::new("bpmndi:BPMNShape")
        .attr("id", format!("{id}_di"))
        .attr("bpmnElement", id)
        .child(
            El::new("dc:Bounds")
                .attr("x", x.to_string())
                .attr("y", y.to_string())
                .attr("width", w.to_string())
                .attr("height", h.to_string()),
        )
}
