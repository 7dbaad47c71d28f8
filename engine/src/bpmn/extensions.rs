//! Doorloop's own properties in a BPMN file, in the namespace [`DOORLOOP`], so that a round
//! trip through bpmn.io or Camunda Modeler keeps them: attributes on flow nodes and the
//! process, and `doorloop:*` elements under `extensionElements`.
//!
//! On a flow node: `doorloop:kind="joint_visit"` with `doorloop:roles="a,b"`,
//! `doorloop:role`, `doorloop:deadline` (a term such as `10 werkdagen`), `doorloop:atw`,
//! `doorloop:stallAfter`, `doorloop:party`, `doorloop:reason`, `doorloop:expected`,
//! `doorloop:rung`, `doorloop:outcome`, `doorloop:suspend`, `doorloop:extend`,
//! `doorloop:kind="wait"` (or `"automatic"` on a call activity that does not wait); elements `<doorloop:field name type required label options>`,
//! `<doorloop:escalation before|after to>`, `<doorloop:set name expr>` and
//! `<doorloop:provision kind status start end until>`; `doorloop:startPathway` on a step
//! that starts a linked pathway without being a call activity. On the process: `doorloop:key`,
//! `doorloop:inactivity`, `doorloop:visitReminders` (comma-separated terms), `doorloop:summary`
//! (comma-separated field names), `doorloop:startedBy` (comma-separated role ids); elements
//! `<doorloop:role id name organisation>`, `<doorloop:variable …>` (as a field),
//! `<doorloop:escalation …>` and `<doorloop:message kind subject intro>`.

use crate::pathway::model::Category;
use roxmltree::Node;

use crate::pathway::model::{
    ClockRules, Deadline, Escalation, Field, FieldType, MessageText, Pathway, RoleDef, Step, StepKind,
};
use crate::time::term::Term;

pub const DOORLOOP: &str = "urn:doorloop:bpmn:1";

fn get<'a>(node: &Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute((DOORLOOP, name))
}

fn elements<'a, 'i>(node: &Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(|n| n.tag_name().name() == "extensionElements")
        .flat_map(|e| e.children())
        .filter(move |n| n.tag_name().name() == name && n.tag_name().namespace() == Some(DOORLOOP))
}

/// A term in a Doorloop property; `label` names the element in Dutch (name first, id second).
fn term(label: &str, what: &str, text: &str, problems: &mut Vec<String>) -> Option<Term> {
    match text.parse::<Term>() {
        Ok(t) => Some(t),
        Err(_) => {
            problems.push(format!(
                "{label}: doorloop:{what} `{text}` is geen termijn (schrijf bijvoorbeeld `2 weken`, `10 werkdagen` of `P14D`)."
            ));
            None
        }
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn field(label: &str, n: &Node<'_, '_>, problems: &mut Vec<String>) -> Option<Field> {
    let name = n.attribute("name")?.to_owned();
    let ty_text = n.attribute("type").unwrap_or("text");
    let ty: FieldType = match serde_json::from_value(serde_json::Value::String(ty_text.to_owned())) {
        Ok(t) => t,
        Err(_) => {
            problems.push(format!(
                "{label}: het veld `{name}` heeft een onbekend type `{ty_text}` (bekend: text, integer, number, boolean, date, choice, rung)."
            ));
            return None;
        }
    };
    let category = match n.attribute("category") {
        None => None,
        Some(c) => match category(c) {
            Some(c) => Some(c),
            None => {
                problems.push(format!(
                    "{label}: het veld `{name}` heeft een onbekende categorie `{c}` (zorg, inkomen, werk of algemeen)."
                ));
                None
            }
        },
    };
    Some(Field {
        name,
        ty,
        required: n.attribute("required") == Some("true"),
        label: n.attribute("label").map(str::to_owned),
        options: n.attribute("options").map(list).unwrap_or_default(),
        option_labels: n
            .children()
            .filter(|c| c.tag_name().name() == "option" && c.tag_name().namespace() == Some(DOORLOOP))
            .filter_map(|c| Some((c.attribute("value")?.to_owned(), c.attribute("label")?.to_owned())))
            .collect(),
        category,
    })
}

fn category(text: &str) -> Option<Category> {
    Category::ALL.into_iter().find(|c| c.as_str() == text.trim())
}

fn escalation(label: &str, n: &Node<'_, '_>, problems: &mut Vec<String>) -> Escalation {
    Escalation {
        before: n
            .attribute("before")
            .and_then(|t| term(label, "escalation before", t, problems)),
        after: n
            .attribute("after")
            .and_then(|t| term(label, "escalation after", t, problems)),
        to: n.attribute("to").unwrap_or("responsible").to_owned(),
    }
}

/// Applies a flow node's Doorloop properties to its step; `id` is how the Dutch problems
/// name the node (its name, its id second).
pub(super) fn apply_step(node: &Node<'_, '_>, id: &str, step: &mut Step, problems: &mut Vec<String>) {
    match get(node, "kind") {
        Some("joint_visit") => {
            step.kind = StepKind::JointVisit;
            step.roles = get(node, "roles").map(list).unwrap_or_default();
            step.role = None;
        }
        Some("wait") => step.kind = StepKind::Wait,
        Some("automatic") => {
            step.kind = StepKind::Automatic;
            step.role = None;
            step.party = None;
            step.expected = None;
        }
        Some(other) => problems.push(format!(
            "{id}: onbekende doorloop:kind `{other}` (bekend: joint_visit, wait, automatic)."
        )),
        None => {}
    }
    if let Some(r) = get(node, "role") {
        step.role = Some(r.to_owned());
    }
    if let Some(t) = get(node, "deadline").and_then(|t| term(id, "deadline", t, problems)) {
        let from = get(node, "deadlineFrom").map(str::to_owned);
        step.deadline = Some(match (get(node, "atw"), from) {
            (None, None) => Deadline::Plain(t),
            (atw, from) => Deadline::Detailed {
                term: t,
                atw: atw == Some("true"),
                from,
            },
        });
    }
    if let Some(t) = get(node, "stallAfter") {
        step.stall_after = term(id, "stallAfter", t, problems);
    }
    if let Some(t) = get(node, "expected") {
        step.expected = term(id, "expected", t, problems);
    }
    if let Some(p) = get(node, "party") {
        step.party = Some(p.to_owned());
    }
    if let Some(m) = get(node, "message") {
        step.message = Some(m.to_owned());
    }
    if let Some(r) = get(node, "reason") {
        step.reason = Some(r.to_owned());
    }
    if let Some(o) = get(node, "outcome") {
        step.outcome = Some(o.to_owned());
    }
    if let Some(r) = get(node, "rung") {
        match r.parse() {
            Ok(r) => step.rung = Some(r),
            Err(_) => problems.push(format!("{id}: doorloop:rung `{r}` is geen getal.")),
        }
    }
    let suspend = get(node, "suspend") == Some("true");
    let extend = get(node, "extend").and_then(|t| term(id, "extend", t, problems));
    if suspend || extend.is_some() {
        step.clock = Some(ClockRules { suspend, extend });
    }
    for f in elements(node, "field") {
        if let Some(f) = field(id, &f, problems) {
            step.fields.push(f);
        }
    }
    for e in elements(node, "escalation") {
        step.escalations.push(escalation(id, &e, problems));
    }
    let sets: Vec<(String, String)> = elements(node, "set")
        .filter_map(|n| Some((n.attribute("name")?.to_owned(), n.attribute("expr")?.to_owned())))
        .collect();
    if !sets.is_empty() {
        step.set = sets.into_iter().collect();
    }
    if let Some(key) = get(node, "startPathway") {
        step.start_pathway = Some(key.to_owned());
    }
    for p in elements(node, "provision") {
        let (Some(kind), Some(status)) = (p.attribute("kind"), p.attribute("status")) else {
            problems.push(format!(
                "{id}: doorloop:provision heeft `kind` en `status` nodig."
            ));
            continue;
        };
        let Some(status) = crate::resident::provision::ProvisionStatus::parse(status) else {
            problems.push(format!(
                "{id}: de status `{status}` van doorloop:provision is niet aangevraagd, actief, slapend of beeindigd."
            ));
            continue;
        };
        step.provisions.push(crate::pathway::model::ProvisionRule {
            kind: kind.to_owned(),
            status,
            start: p.attribute("start").map(str::to_owned),
            end: p
                .attribute("end")
                .and_then(|t| term(id, "provision end", t, problems)),
            until: p
                .attribute("until")
                .and_then(|t| term(id, "provision until", t, problems)),
        });
    }
}

/// Applies the process's Doorloop properties to the pathway.
pub(super) fn apply_process(process: &Node<'_, '_>, pathway: &mut Pathway, problems: &mut Vec<String>) {
    let label = match process.attribute("name") {
        Some(name) => format!("proces ‘{name}’ ({})", process.attribute("id").unwrap_or("")),
        None => format!("proces `{}`", process.attribute("id").unwrap_or("")),
    };
    let id = label.as_str();
    if let Some(k) = get(process, "key") {
        pathway.key = k.to_owned();
    }
    if let Some(t) = get(process, "inactivity") {
        pathway.defaults.inactivity = term(id, "inactivity", t, problems);
    }
    if let Some(fields) = get(process, "summary") {
        pathway.summary = list(fields);
    }
    if let Some(roles) = get(process, "startedBy") {
        pathway.started_by = list(roles);
    }
    if let Some(years) = get(process, "retentionYears") {
        match years.trim().parse::<u32>() {
            Ok(years) => {
                pathway.retention = Some(crate::pathway::model::Retention {
                    years,
                    basis: get(process, "retentionBasis").map(str::to_owned),
                })
            }
            Err(_) => problems.push(format!(
                "{id}: doorloop:retentionYears `{years}` is geen heel aantal jaren."
            )),
        }
    }
    if let Some(list_text) = get(process, "visitReminders") {
        pathway.defaults.visit_reminders = list(list_text)
            .iter()
            .filter_map(|t| term(id, "visitReminders", t, problems))
            .collect();
    }
    for r in elements(process, "role") {
        if let Some(role_id) = r.attribute("id") {
            pathway.roles.insert(
                role_id.to_owned(),
                RoleDef {
                    name: r.attribute("name").unwrap_or(role_id).to_owned(),
                    organisation: r.attribute("organisation").map(str::to_owned),
                    sees: r.attribute("sees").map(|s| {
                        let mut seen = Vec::new();
                        for c in list(s) {
                            match category(&c) {
                                Some(c) => seen.push(c),
                                None => problems.push(format!(
                                    "rol `{role_id}`: onbekende categorie `{c}` (zorg, inkomen, werk of algemeen)."
                                )),
                            }
                        }
                        seen
                    }),
                },
            );
        }
    }
    for v in elements(process, "variable") {
        if let Some(f) = field(id, &v, problems) {
            pathway.variables.retain(|existing| existing.name != f.name);
            pathway.variables.push(f);
        }
    }
    for e in elements(process, "escalation") {
        pathway.defaults.escalations.push(escalation(id, &e, problems));
    }
    // Phases no modeller draws (not one way in and one way out): Doorloop's own property.
    for ph in elements(process, "phase") {
        let Some(phase_id) = ph.attribute("id") else {
            problems.push(format!("{id}: doorloop:phase heeft een `id` nodig."));
            continue;
        };
        let label = format!("fase `{phase_id}`");
        pathway.phases.push(crate::pathway::model::Phase {
            id: phase_id.to_owned(),
            name: ph.attribute("name").unwrap_or_default().to_owned(),
            description: None,
            steps: ph.attribute("steps").map(list).unwrap_or_default(),
            deadline: ph
                .attribute("deadline")
                .and_then(|t| term(&label, "deadline", t, problems)),
            escalations: ph
                .children()
                .filter(|n| n.tag_name().name() == "escalation" && n.tag_name().namespace() == Some(DOORLOOP))
                .map(|e| escalation(&label, &e, problems))
                .collect(),
            on_deadline: ph.attribute("onDeadline").map(str::to_owned),
        });
    }
    for m in elements(process, "message") {
        if let Some(kind) = m.attribute("kind") {
            pathway.defaults.messages.insert(
                kind.to_owned(),
                MessageText {
                    subject: m.attribute("subject").map(str::to_owned),
                    intro: m.attribute("intro").map(str::to_owned),
                },
            );
        }
    }
}
