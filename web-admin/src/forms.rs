//! A step's form in the browser: input widgets and validation with Dutch messages per
//! field. The runtime checks the values again; this layer makes the messages humane.

use std::collections::BTreeMap;

use doorloop_engine::pathway::model::{Field, FieldType};
use serde::Serialize;
use serde_json::Value;

/// One field as the template draws it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    pub input: &'static str,
    pub required: bool,
    pub value: String,
    pub checked: bool,
    /// A yes/no question answered "Nee" (with `checked` for "Ja"; neither when unanswered).
    pub answered_no: bool,
    pub options: Vec<OptionView>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The Dutch label of a participatieladder rung.
pub fn rung_label(rung: u64) -> &'static str {
    match rung {
        1 => "1 – geïsoleerd",
        2 => "2 – sociale contacten buiten de deur",
        3 => "3 – deelname georganiseerde activiteiten",
        4 => "4 – onbetaald werk",
        5 => "5 – betaald werk met ondersteuning",
        6 => "6 – betaald werk",
        _ => "onbekende trede",
    }
}

/// A required yes/no question is two choices, Ja and Nee, with neither chosen: an unticked box
/// would answer "no" for someone who did not look. An optional one is a box to tick.
fn input_kind(f: &Field) -> &'static str {
    match f.ty {
        FieldType::Text => "text",
        FieldType::Integer | FieldType::Number => "number",
        FieldType::Boolean if f.required => "yesno",
        FieldType::Boolean => "checkbox",
        FieldType::Date => "date",
        FieldType::Choice | FieldType::Rung => "select",
    }
}

/// The fields to draw, filled with what the user typed and the errors found.
pub fn field_views(
    fields: &[Field],
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| {
            let value = values.get(&f.name).cloned().unwrap_or_default();
            let options: Vec<(String, String)> = match f.ty {
                FieldType::Choice => f.options.iter().map(|o| (o.clone(), f.option_label(o))).collect(),
                FieldType::Rung => (1..=6)
                    .map(|r| (r.to_string(), rung_label(r).to_owned()))
                    .collect(),
                _ => Vec::new(),
            };
            FieldView {
                name: f.name.clone(),
                label: f.display_label(),
                input: input_kind(f),
                required: f.required,
                checked: matches!(value.as_str(), "ja" | "true" | "on"),
                answered_no: value == "nee",
                options: options
                    .into_iter()
                    .map(|(v, l)| OptionView {
                        selected: v == value,
                        value: v,
                        label: l,
                    })
                    .collect(),
                value,
                error: errors.get(&f.name).cloned(),
            }
        })
        .collect()
}

/// Reads the posted values of `fields`. Returns the typed data, or per field a message.
pub fn parse(
    fields: &[Field],
    posted: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Value>, BTreeMap<String, String>> {
    let mut data = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for f in fields {
        let raw = posted.get(&f.name).map(|s| s.trim()).unwrap_or("");
        if f.ty == FieldType::Boolean {
            match raw {
                "ja" | "true" | "on" => {
                    data.insert(f.name.clone(), Value::Bool(true));
                }
                "nee" | "false" => {
                    data.insert(f.name.clone(), Value::Bool(false));
                }
                "" if f.required => {
                    errors.insert(f.name.clone(), "Kies ja of nee.".to_owned());
                }
                "" => {
                    data.insert(f.name.clone(), Value::Bool(false));
                }
                _ => {
                    errors.insert(f.name.clone(), "Kies ja of nee.".to_owned());
                }
            }
            continue;
        }
        if raw.is_empty() {
            if f.required {
                errors.insert(f.name.clone(), "Vul dit veld in.".to_owned());
            }
            continue;
        }
        // The engine's one reading of typed-in text; the message is the page's, in Dutch.
        let parsed = doorloop_engine::runtime::parse_field_value(f, raw).map_err(|_| match f.ty {
            FieldType::Integer => "Vul een geheel getal in.".to_owned(),
            FieldType::Number => "Vul een getal in (bijvoorbeeld 2,5).".to_owned(),
            FieldType::Date => "Vul een datum in als JJJJ-MM-DD.".to_owned(),
            FieldType::Choice => format!(
                "Kies een van: {}.",
                f.options
                    .iter()
                    .map(|o| f.option_label(o))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FieldType::Rung => "Kies een trede van 1 tot en met 6.".to_owned(),
            FieldType::Text | FieldType::Boolean => "Deze waarde kan hier niet.".to_owned(),
        });
        match parsed {
            Ok(v) => {
                data.insert(f.name.clone(), v);
            }
            Err(message) => {
                errors.insert(f.name.clone(), message);
            }
        }
    }
    if errors.is_empty() { Ok(data) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: FieldType, required: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            required,
            label: None,
            options: vec!["ja_graag".into(), "nee".into()],
            option_labels: Default::default(),
            category: None,
        }
    }

    fn posted(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_typed_and_errors_name_the_field() {
        let fields = vec![
            field("uren", FieldType::Number, true),
            field("trede", FieldType::Rung, true),
            field("keuze", FieldType::Choice, false),
            field("akkoord", FieldType::Boolean, false),
            field("datum", FieldType::Date, false),
        ];
        let ok = parse(
            &fields,
            &posted(&[
                ("uren", "2,5"),
                ("trede", "3"),
                ("keuze", "nee"),
                ("akkoord", "ja"),
            ]),
        )
        .unwrap();
        assert_eq!(ok["uren"], serde_json::json!(2.5));
        assert_eq!(ok["trede"], serde_json::json!(3));
        assert_eq!(ok["akkoord"], serde_json::json!(true));
        assert!(!ok.contains_key("datum"));
        let errors = parse(
            &fields,
            &posted(&[
                ("uren", "veel"),
                ("trede", "9"),
                ("keuze", "x"),
                ("datum", "morgen"),
            ]),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4);
        assert!(errors["uren"].contains("getal"));
        assert!(errors["trede"].contains("1 tot en met 6"));
        let missing = parse(&fields, &posted(&[])).unwrap_err();
        assert_eq!(missing.keys().collect::<Vec<_>>(), vec!["trede", "uren"]);
    }

    #[test]
    fn a_required_yes_no_question_has_no_default() {
        let fields = vec![
            field("ingediend", FieldType::Boolean, true),
            field("akkoord", FieldType::Boolean, false),
        ];
        let missing = parse(&fields, &posted(&[])).unwrap_err();
        assert_eq!(missing["ingediend"], "Kies ja of nee.");
        assert!(
            !missing.contains_key("akkoord"),
            "an optional box may stay unticked"
        );
        let no = parse(&fields, &posted(&[("ingediend", "nee")])).unwrap();
        assert_eq!(no["ingediend"], serde_json::json!(false));
        assert_eq!(no["akkoord"], serde_json::json!(false));
        assert!(parse(&fields, &posted(&[("ingediend", "misschien")])).is_err());
        let views = field_views(&fields, &posted(&[("ingediend", "nee")]), &BTreeMap::new());
        assert_eq!(
            (views[0].input, views[0].checked, views[0].answered_no),
            ("yesno", false, true)
        );
        assert_eq!(views[1].input, "checkbox");
        let blank = field_views(&fields, &BTreeMap::new(), &BTreeMap::new());
        assert!(!blank[0].checked && !blank[0].answered_no, "neither chosen");
    }

    #[test]
    fn options_read_as_words() {
        let mut f = field("uitkering", FieldType::Choice, true);
        f.options = vec!["wia".into(), "beschut_werk".into(), "eigen".into()];
        f.option_labels.insert("eigen".into(), "Eigen inkomsten".into());
        let views = field_views(&[f.clone()], &BTreeMap::new(), &BTreeMap::new());
        let labels: Vec<&str> = views[0].options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(labels, ["WIA-uitkering", "Beschut werk", "Eigen inkomsten"]);
        let wrong = parse(&[f], &posted(&[("uitkering", "x")])).unwrap_err();
        assert_eq!(
            wrong["uitkering"],
            "Kies een van: WIA-uitkering, Beschut werk, Eigen inkomsten."
        );
    }

    #[test]
    fn views_keep_what_was_typed() {
        let fields = vec![field("trede", FieldType::Rung, true)];
        let errors = posted(&[("trede", "Kies")]);
        let views = field_views(&fields, &posted(&[("trede", "4")]), &errors);
        assert_eq!(views[0].input, "select");
        assert!(views[0].options[3].selected);
        assert_eq!(views[0].error.as_deref(), Some("Kies"));
    }
}
