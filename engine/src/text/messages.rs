//! What a message may say: the whitelisted fields handed to message templates.
//!
//! Messages leave the system (mail, agendas, webhooks), so they carry a case reference,
//! a link to the web admin and the words of the pathway, never a client's name, BSN or
//! health details. The notifiers fill these structs; templates see nothing else. The
//! same structs, filled with sample values, check a pathway's own message texts when it
//! is validated, so a mistake shows at publication rather than at 08:00 on a Monday.

use handlebars::Handlebars;
use serde::Serialize;

use crate::pathway::model::Pathway;

/// Message kinds about one case, whose wording a pathway may adapt under
/// `defaults.messages`.
pub const CASE_KINDS: &[&str] = &[
    "task_assigned",
    "deadline_approaching",
    "deadline_passed",
    "escalation",
    "stall_raised",
    "visit_planned",
    "visit_cancelled",
    "visit_reminder",
    "visit_outcome_missing",
];

/// The fields of a message about one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseMessage {
    pub kind: String,
    pub recipient: Person,
    pub case: CaseRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit: Option<VisitRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall: Option<StallRef>,
    /// The pathway's own paragraph, already rendered.
    pub intro: Option<String>,
    /// Written to someone outside Doorloop (a joint visit's guest or the resident): no
    /// links into Doorloop, formal address.
    pub guest: bool,
}

/// A member of staff, by the name they chose to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRef {
    /// The case number, e.g. `c-0192b3…`; means nothing outside the municipality.
    pub reference: String,
    pub pathway: String,
    /// The case page in the web admin.
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRef {
    pub step: String,
    pub role: String,
    /// Deadline as Dutch text (`ma 7 december 2026, 17:00`), when there is one.
    pub due: Option<String>,
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitRef {
    /// `woensdag 25 november 2026`
    pub date: String,
    /// `10:00`
    pub time: String,
    pub place: String,
    pub participants: Vec<String>,
    /// Increases each time the visit is re-planned.
    pub revision: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StallRef {
    /// Dutch description of the reason, e.g. `wachtlijst UWV-verzekeringsarts`.
    pub reason: String,
    pub party: Option<String>,
    /// Since when, as Dutch date.
    pub since: String,
}

impl CaseMessage {
    /// A message of `kind` with every field its kind has, filled with sample values.
    pub fn sample(kind: &str) -> CaseMessage {
        let visit_kind = kind.starts_with("visit_");
        CaseMessage {
            kind: kind.to_owned(),
            recipient: Person {
                name: "Voorbeeld Consulent".into(),
            },
            case: CaseRef {
                reference: "c-voorbeeld".into(),
                pathway: "Van zorg naar werk".into(),
                link: "https://doorloop.example/casussen/c-voorbeeld".into(),
            },
            task: Some(TaskRef {
                step: "Intake".into(),
                role: "wmo-consulent".into(),
                due: Some("ma 7 december 2026, 17:00".into()),
                link: "https://doorloop.example/casussen/c-voorbeeld/taken/t1".into(),
            }),
            visit: visit_kind.then(|| VisitRef {
                date: "woensdag 25 november 2026".into(),
                time: "10:00".into(),
                place: "Stadskantoor".into(),
                participants: vec!["Voorbeeld Consulent".into()],
                revision: 1,
            }),
            stall: (kind == "stall_raised").then(|| StallRef {
                reason: "wachtlijst UWV-verzekeringsarts".into(),
                party: Some("uwv".into()),
                since: "1 oktober 2026".into(),
            }),
            intro: None,
            guest: false,
        }
    }
}

/// A pathway message text that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageProblem {
    #[error("`messages` names unknown message kind `{kind}` (known: {})", CASE_KINDS.join(", "))]
    UnknownKind { kind: String },
    #[error("message `{kind}`, {part}: {message}")]
    BadTemplate {
        kind: String,
        part: &'static str,
        message: String,
    },
}

/// Renders a pathway's message text with the whitelisted fields; strict, so an unknown
/// variable is an error rather than an empty string. `escape` is false for plain text.
pub fn render_text(
    template: &str,
    message: &CaseMessage,
    escape: bool,
) -> Result<String, handlebars::RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    if !escape {
        hb.register_escape_fn(handlebars::no_escape);
    }
    hb.render_template(template, message)
}

/// Checks the `messages` texts of a pathway against the fields of their kind.
pub fn check_pathway(pathway: &Pathway) -> Vec<MessageProblem> {
    let mut problems = Vec::new();
    for (kind, text) in &pathway.defaults.messages {
        if !CASE_KINDS.contains(&kind.as_str()) {
            problems.push(MessageProblem::UnknownKind { kind: kind.clone() });
            continue;
        }
        let sample = CaseMessage::sample(kind);
        for (part, template) in [("subject", &text.subject), ("intro", &text.intro)] {
            let Some(template) = template else { continue };
            if let Err(e) = render_text(template, &sample, true) {
                problems.push(MessageProblem::BadTemplate {
                    kind: kind.clone(),
                    part,
                    message: format!(
                        "{} (this message has: {})",
                        template_error(&e),
                        fields(&sample).join(", ")
                    ),
                });
            }
        }
    }
    problems
}

/// A render error in words a coordinator can act on.
fn template_error(e: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason;
    match e.reason() {
        RenderErrorReason::MissingVariable(Some(name)) => format!("unknown field `{name}`"),
        RenderErrorReason::TemplateError(t) => format!("the template does not parse: {}", t.reason()),
        _ => e.to_string(),
    }
}

/// The dotted names of a message's fields, e.g. `case.reference`.
pub fn fields(message: &CaseMessage) -> Vec<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(message) {
        walk("", &v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pathway::model::MessageText;

    fn pathway_with(kind: &str, subject: &str) -> Pathway {
        let mut p: Pathway = serde_yaml_ng::from_str(
            "key: p\nname: P\nsteps:\n  - {id: s, kind: start, next: e}\n  - {id: e, kind: end, outcome: gestopt}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        p.defaults.messages.insert(
            kind.into(),
            MessageText {
                subject: Some(subject.into()),
                intro: None,
            },
        );
        p
    }

    #[test]
    fn known_fields_pass() {
        let p = pathway_with(
            "visit_reminder",
            "Bezoek {{case.reference}} op {{visit.date}} om {{visit.time}}",
        );
        assert_eq!(check_pathway(&p), vec![]);
    }

    #[test]
    fn unknown_field_is_named_with_the_fields_there_are() {
        let p = pathway_with("visit_reminder", "Bezoek bij {{client.naam}}");
        let problems = check_pathway(&p);
        assert_eq!(problems.len(), 1);
        let text = problems[0].to_string();
        assert!(text.contains("`client.naam`"), "{text}");
        assert!(text.contains("visit.time"), "{text}");
    }

    #[test]
    fn fields_of_another_kind_are_unknown() {
        // A deadline message has no visit.
        let p = pathway_with("deadline_passed", "{{visit.date}}");
        assert_eq!(check_pathway(&p).len(), 1);
    }

    #[test]
    fn syntax_errors_and_unknown_kinds_are_reported() {
        let p = pathway_with("deadline_passed", "{{#if task.due}}open");
        assert!(check_pathway(&p)[0].to_string().contains("does not parse"));
        let p = pathway_with("herinnering", "x");
        assert!(matches!(check_pathway(&p)[0], MessageProblem::UnknownKind { .. }));
    }
}
