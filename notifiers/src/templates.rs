//! Message texts: handlebars templates from `notifiers/templates/`, compiled into the
//! binary. Each kind has a subject, an HTML body and a plain-text body; both bodies are
//! wrapped in a layout. HTML escapes every value; the text part escapes nothing. Strict
//! mode: a template that names a field its message does not have fails, and the tests
//! render every kind.

use handlebars::Handlebars;
use serde_json::Value;

use crate::NotifyError;

macro_rules! sources {
    ($($kind:literal),* $(,)?) => {
        &[$(
            (
                $kind,
                include_str!(concat!("../templates/", $kind, ".subject.hbs")),
                include_str!(concat!("../templates/", $kind, ".html.hbs")),
                include_str!(concat!("../templates/", $kind, ".txt.hbs")),
            ),
        )*]
    };
}

const SOURCES: &[(&str, &str, &str, &str)] = sources!(
    "test",
    "task_assigned",
    "deadline_approaching",
    "deadline_passed",
    "escalation",
    "stall_raised",
    "visit_planned",
    "visit_cancelled",
    "visit_reminder",
    "visit_outcome_missing",
    "daily_digest",
    "weekly_summary",
);

/// Every message kind that can be e-mailed.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(kind, ..)| *kind)
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The compiled templates.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl Templates {
    pub fn new() -> Result<Templates, NotifyError> {
        let mut html = Handlebars::new();
        let mut text = Handlebars::new();
        for hb in [&mut html, &mut text] {
            hb.set_strict_mode(true);
            hb.set_prevent_indent(true);
        }
        text.register_escape_fn(handlebars::no_escape);
        let bad = |name: &str, e: handlebars::TemplateError| NotifyError::Template {
            name: name.to_owned(),
            message: e.to_string(),
        };
        for (kind, subject, body_html, body_text) in SOURCES {
            // Subjects are plain text: no HTML escaping.
            text.register_template_string(&format!("{kind}.subject"), subject.trim())
                .map_err(|e| bad(&format!("{kind}.subject"), e))?;
            html.register_template_string(kind, body_html)
                .map_err(|e| bad(&format!("{kind}.html"), e))?;
            text.register_template_string(kind, body_text)
                .map_err(|e| bad(&format!("{kind}.txt"), e))?;
        }
        html.register_template_string("layout", include_str!("../templates/layout.html.hbs"))
            .map_err(|e| bad("layout.html", e))?;
        text.register_template_string("layout", include_str!("../templates/layout.txt.hbs"))
            .map_err(|e| bad("layout.txt", e))?;
        Ok(Templates { html, text })
    }

    /// Renders a message of `kind`; `subject` replaces the standard subject (a pathway's own).
    pub fn render(
        &self,
        kind: &str,
        context: &Value,
        subject: Option<&str>,
    ) -> Result<Rendered, NotifyError> {
        let fail = |part: &str, e: handlebars::RenderError| NotifyError::Template {
            name: format!("{kind}.{part}"),
            message: e.to_string(),
        };
        let subject = match subject {
            Some(s) => s.to_owned(),
            None => self
                .text
                .render(&format!("{kind}.subject"), context)
                .map_err(|e| fail("subject", e))?,
        };
        let html_body = self.html.render(kind, context).map_err(|e| fail("html", e))?;
        let text_body = self.text.render(kind, context).map_err(|e| fail("txt", e))?;
        let guest = context.get("guest").and_then(Value::as_bool).unwrap_or(false);
        let wrap = |body: String| serde_json::json!({ "subject": subject, "body": body, "guest": guest });
        let html = self
            .html
            .render("layout", &wrap(html_body))
            .map_err(|e| fail("layout.html", e))?;
        let text = self
            .text
            .render("layout", &wrap(text_body))
            .map_err(|e| fail("layout.txt", e))?;
        Ok(Rendered { subject, html, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorloop_engine::text::messages::{CASE_KINDS, CaseMessage};
    use serde_json::json;

    fn sample(kind: &str) -> Value {
        match kind {
            "test" => {
                json!({ "recipient": { "name": "Jan" }, "sent_at": "ma 23 nov 2026 09:00", "link": "http://x/" })
            }
            "daily_digest" => json!({
                "recipient": { "name": "Jan <b>" }, "date": "maandag 23 november 2026",
                "overdue": 1, "this_week": 2, "stalled": 1, "more": 0, "link": "http://x/taken",
                "cases": [{ "reference": "c-1", "pathway": "Van zorg naar werk", "link": "http://x/casussen/c-1",
                            "tasks": [{ "step": "Intake", "state": "te laat", "due": "20 nov 2026", "stall": null }] }],
            }),
            "weekly_summary" => json!({
                "recipient": { "name": "Mia" }, "week": "week 48 van 2026", "stalls_total": 3,
                "stalls": [{ "party": "uwv", "count": 3, "oldest": "1 okt 2026" }],
                "open_tasks": 40, "overdue": 5, "ladder_up": 2, "ladder_down": 0,
                "ladder": [{ "from": 2, "to": 3, "count": 2 }], "link": "http://x/vastgelopen",
            }),
            k => serde_json::to_value(CaseMessage::sample(k)).unwrap_or_default(),
        }
    }

    #[test]
    fn every_kind_renders_in_dutch_with_both_parts() {
        let t = Templates::new().unwrap_or_else(|e| panic!("{e}"));
        for kind in kinds() {
            let r = t
                .render(kind, &sample(kind), None)
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{kind}: {:?}",
                r.subject
            );
            assert!(r.html.contains("<html lang=\"nl\">"), "{kind}");
            assert!(r.text.contains("Doorloop"), "{kind}");
            assert!(!r.text.contains("<p>"), "{kind}: text part holds HTML");
        }
        // Every case kind a pathway may adapt has a template.
        for kind in CASE_KINDS {
            assert!(kinds().any(|k| k == *kind), "{kind} has no template");
        }
    }

    #[test]
    fn html_escapes_and_text_does_not() {
        let t = Templates::new().unwrap_or_else(|e| panic!("{e}"));
        let r = t
            .render("daily_digest", &sample("daily_digest"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.html.contains("Beste Jan &lt;b&gt;"), "{}", r.html);
        assert!(r.text.contains("Beste Jan <b>"), "{}", r.text);
        assert_eq!(
            r.subject,
            "Je werk voor maandag 23 november 2026: 1 te laat, 2 deze week, 1 stil"
        );
    }

    #[test]
    fn a_missing_field_fails_instead_of_rendering_empty() {
        let t = Templates::new().unwrap_or_else(|e| panic!("{e}"));
        let mut context = sample("deadline_passed");
        context.as_object_mut().map(|o| o.remove("case"));
        assert!(t.render("deadline_passed", &context, None).is_err());
    }

    #[test]
    fn guests_get_formal_words_without_links_into_doorloop() {
        let t = Templates::new().unwrap_or_else(|e| panic!("{e}"));
        for kind in ["visit_planned", "visit_cancelled"] {
            let mut context = sample(kind);
            context["guest"] = json!(true);
            context["recipient"]["name"] = json!("");
            let r = t.render(kind, &context, None).unwrap_or_else(|e| panic!("{e}"));
            for part in [&r.subject, &r.html, &r.text] {
                assert!(!part.contains("doorloop.example"), "{kind}: {part}");
                assert!(!part.contains("c-voorbeeld"), "{kind}: {part}");
                assert!(!part.contains("Je "), "{kind}: {part}");
            }
            assert!(r.text.starts_with("Goedendag,"), "{kind}: {}", r.text);
            assert!(r.text.contains("U bent"), "{kind}: {}", r.text);
            assert!(!r.text.contains("cliënt"), "{kind}: {}", r.text);
            // Staff still get the link.
            let staff = t
                .render(kind, &sample(kind), None)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                staff
                    .text
                    .contains("doorloop.example/casussen/c-voorbeeld/taken/t1"),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_pathway_subject_replaces_the_standard_one() {
        let t = Templates::new().unwrap_or_else(|e| panic!("{e}"));
        let r = t
            .render(
                "visit_reminder",
                &sample("visit_reminder"),
                Some("Morgen: bezoek"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.subject, "Morgen: bezoek");
        assert!(
            r.text.contains("woensdag 25 november 2026 om 10:00"),
            "{}",
            r.text
        );
    }
}
