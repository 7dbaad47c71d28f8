//! What changes between two versions of a pathway, step by step, as a coordinator checks
//! it before publishing. Pure.

use serde::Serialize;
use serde_json::Value;

use crate::pathway::model::{Pathway, Step};

/// One step that exists in both versions but differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepChange {
    pub id: String,
    /// The attributes that differ (`kind`, `role`, `deadline`, `next`, …).
    pub attributes: Vec<String>,
    /// Per attribute, in the same order: the value before and after, as people read it,
    /// where it is short enough to show (`5 werkdagen` → `10 werkdagen`); `None` for what
    /// is too big to show in a line (a form, an escalation ladder) or absent.
    pub values: Vec<(Option<String>, Option<String>)>,
}

/// A value as a line of text, when it is short and plain enough to read in one.
pub fn value_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "ja" } else { "nee" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.len() <= 6 => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => value_text(i),
                    _ => None,
                })
                .collect();
            parts?.join(", ")
        }
        // A deadline with its details: "16 weken (Algemene termijnenwet) vanaf aanvraagdatum".
        Value::Object(m) if m.get("term").is_some_and(Value::is_string) => {
            let mut t = value_text(&m["term"])?;
            if m.get("atw") == Some(&Value::Bool(true)) {
                t.push_str(" (Algemene termijnenwet)");
            }
            if let Some(from) = m.get("from").and_then(Value::as_str) {
                t.push_str(&format!(" vanaf {from}"));
            }
            t
        }
        _ => return None,
    };
    (text.chars().count() <= 80).then_some(text)
}

/// The differences between a published version and a draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PathwayDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<StepChange>,
    /// Pathway-wide parts that differ: `name`, `roles`, `defaults`, `variables`, …
    pub pathway: Vec<String>,
}

impl PathwayDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && self.pathway.is_empty()
    }
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// The attributes in which two values (serialised structs) differ, in order.
fn differing(old: Value, new: Value, skip: &[&str]) -> Vec<String> {
    let (old, new) = (fields(old), fields(new));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| !skip.contains(&n.as_str()) && old.get(*n) != new.get(*n))
        .cloned()
        .collect()
}

fn step_value(s: &Step) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Steps added, removed and changed from `old` to `new`, in `new`'s order (removed ones in
/// `old`'s).
pub fn diff(old: &Pathway, new: &Pathway) -> PathwayDiff {
    let find = |p: &'_ Pathway, id: &str| p.steps.iter().find(|s| s.id == id).map(step_value);
    let mut d = PathwayDiff::default();
    for s in &new.steps {
        match find(old, &s.id) {
            None => d.added.push(s.id.clone()),
            Some(before) => {
                let after = step_value(s);
                let attributes = differing(before.clone(), after.clone(), &["id"]);
                if !attributes.is_empty() {
                    let values = attributes
                        .iter()
                        .map(|a| {
                            let text = |v: &Value| v.get(a).and_then(value_text);
                            (text(&before), text(&after))
                        })
                        .collect();
                    d.changed.push(StepChange {
                        id: s.id.clone(),
                        attributes,
                        values,
                    });
                }
            }
        }
    }
    d.removed = old
        .steps
        .iter()
        .filter(|s| find(new, &s.id).is_none())
        .map(|s| s.id.clone())
        .collect();
    let whole = |p: &Pathway| serde_json::to_value(p).unwrap_or(Value::Null);
    d.pathway = differing(whole(old), whole(new), &["steps"]);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pathway::definition::from_yaml;

    const VZNW: &str = include_str!("../../../workflows/van-zorg-naar-werk.yaml");

    #[test]
    fn steps_added_removed_and_changed_are_named() {
        let old = from_yaml(VZNW).unwrap().pathway;
        assert!(diff(&old, &old).is_empty());
        let edited = VZNW
            .replace("deadline: 5 werkdagen", "deadline: 10 werkdagen")
            .replace("id: uwv_rappel", "id: uwv_herinnering")
            .replace("on_deadline: uwv_rappel", "on_deadline: uwv_herinnering")
            .replace("name: Van zorg naar werk", "name: Van zorg naar werk (2027)");
        let new = from_yaml(&edited).unwrap().pathway;
        let d = diff(&old, &new);
        assert_eq!(d.added, ["uwv_herinnering"]);
        assert_eq!(d.removed, ["uwv_rappel"]);
        let changed: Vec<(&str, Vec<&str>)> = d
            .changed
            .iter()
            .map(|c| (c.id.as_str(), c.attributes.iter().map(String::as_str).collect()))
            .collect();
        assert!(changed.contains(&("signaal", vec!["deadline"])), "{changed:?}");
        assert!(
            changed.contains(&("wacht_herbeoordeling", vec!["on_deadline"])),
            "{changed:?}"
        );
        assert_eq!(d.pathway, ["name"]);
        let signal = d.changed.iter().find(|c| c.id == "signaal").unwrap();
        assert_eq!(
            signal.values,
            [(Some("5 werkdagen".to_owned()), Some("10 werkdagen".to_owned()))]
        );
    }

    #[test]
    fn values_read_as_a_line_or_not_at_all() {
        use serde_json::json;
        assert_eq!(value_text(&json!(true)).as_deref(), Some("ja"));
        assert_eq!(
            value_text(&json!(["wmo-consulent", "klantmanager"])).as_deref(),
            Some("wmo-consulent, klantmanager")
        );
        assert_eq!(
            value_text(&json!({"term": "16 weken", "atw": true})).as_deref(),
            Some("16 weken (Algemene termijnenwet)")
        );
        assert_eq!(
            value_text(&json!([{"name": "x"}])),
            None,
            "a form is too big for a line"
        );
        assert_eq!(value_text(&json!("x".repeat(81))), None);
    }
}
