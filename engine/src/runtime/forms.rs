//! Checking form data and variables against their declared types.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::{Result, RuntimeError};
use crate::pathway::model::{Field, FieldType, PathwayVersion, Step};

/// Checks a completed form: every value belongs to a field of the step and has its type;
/// every required field is present. Nulls count as absent.
pub(super) fn check_form(step: &Step, data: BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (name, value) in data {
        let field =
            step.fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| RuntimeError::UnknownField {
                    step: step.id.clone(),
                    field: name.clone(),
                })?;
        if value.is_null() {
            continue;
        }
        out.insert(name, check_value(field, value)?);
    }
    for f in &step.fields {
        if f.required && !out.contains_key(&f.name) {
            return Err(RuntimeError::MissingField {
                step: step.id.clone(),
                field: f.name.clone(),
            });
        }
    }
    Ok(out)
}

/// Checks variables set directly (start variables, `set`, corrections).
pub(super) fn check_variables(
    pv: &PathwayVersion,
    values: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (name, value) in values {
        let field = pv
            .variable_type(&name)
            .ok_or_else(|| RuntimeError::UnknownVariable { name: name.clone() })?;
        let value = if value.is_null() {
            Value::Null
        } else {
            check_value(field, value)?
        };
        out.insert(name, value);
    }
    Ok(out)
}

fn type_error(field: &Field, expected: &str, got: &Value) -> RuntimeError {
    RuntimeError::FieldType {
        field: field.name.clone(),
        expected: expected.to_owned(),
        got: got.to_string(),
    }
}

/// A calendar date written as `YYYY-MM-DD`, the year in four digits: chrono alone reads
/// `2-12-06` as 6 December of the year 2, which someone typing a short date never meant
/// (found by the `form_value` fuzz target).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && s.parse::<NaiveDate>().is_ok()
}

fn check_value(field: &Field, value: Value) -> Result<Value> {
    let ok = match field.ty {
        FieldType::Text => value.is_string(),
        FieldType::Integer => value.is_i64() || value.is_u64(),
        FieldType::Number => value.is_number(),
        FieldType::Boolean => value.is_boolean(),
        FieldType::Date => value.as_str().is_some_and(is_date),
        FieldType::Choice => value
            .as_str()
            .is_some_and(|s| field.options.iter().any(|o| o == s)),
        FieldType::Rung => value.as_u64().is_some_and(|r| (1..=6).contains(&r)),
    };
    if ok {
        Ok(value)
    } else {
        let expected = match field.ty {
            FieldType::Text => "text".to_owned(),
            FieldType::Integer => "a whole number".to_owned(),
            FieldType::Number => "a number".to_owned(),
            FieldType::Boolean => "true or false".to_owned(),
            FieldType::Date => "a date YYYY-MM-DD".to_owned(),
            FieldType::Choice => format!("one of {}", field.options.join(", ")),
            FieldType::Rung => "a ladder rung 1–6".to_owned(),
        };
        Err(type_error(field, &expected, &value))
    }
}

/// Turns text — a form field in the web admin, `--var name=value` on the command line —
/// into a checked value for `field`: the one reading of typed-in text, so every way in
/// accepts the same input (a decimal comma, `ja`/`nee`, a date as YYYY-MM-DD, an option
/// code, a rung 1–6) and refuses the same.
pub fn parse_field_value(field: &Field, text: &str) -> Result<Value> {
    check_value(field, read_text(field, text)?)
}

fn read_text(field: &Field, text: &str) -> Result<Value> {
    let bad = |expected: &str| RuntimeError::FieldType {
        field: field.name.clone(),
        expected: expected.to_owned(),
        got: format!("`{text}`"),
    };
    Ok(match field.ty {
        FieldType::Text | FieldType::Date | FieldType::Choice => Value::String(text.to_owned()),
        FieldType::Integer | FieldType::Rung => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("a whole number"))?)
        }
        FieldType::Number => {
            let f: f64 = text
                .trim()
                .replace(',', ".")
                .parse()
                .map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| bad("a finite number"))?
        }
        FieldType::Boolean => match text.trim().to_lowercase().as_str() {
            "true" | "ja" | "yes" | "1" => Value::Bool(true),
            "false" | "nee" | "no" | "0" => Value::Bool(false),
            _ => return Err(bad("true or false (ja/nee)")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(ty: FieldType) -> Field {
        Field {
            name: "x".into(),
            ty,
            required: true,
            label: None,
            options: vec!["wia".into(), "beschut_werk".into()],
            option_labels: Default::default(),
            category: None,
        }
    }

    #[test]
    fn typed_in_text_is_read_one_way_for_every_way_in() {
        let ok = |ty, text: &str| parse_field_value(&field(ty), text).unwrap();
        let refused = |ty, text: &str| parse_field_value(&field(ty), text).is_err();
        assert_eq!(ok(FieldType::Number, "2,5"), serde_json::json!(2.5));
        assert_eq!(ok(FieldType::Number, " 2.5 "), serde_json::json!(2.5));
        assert_eq!(ok(FieldType::Boolean, "ja"), Value::Bool(true));
        assert_eq!(ok(FieldType::Boolean, "Nee"), Value::Bool(false));
        assert_eq!(ok(FieldType::Choice, "wia"), Value::from("wia"));
        assert_eq!(ok(FieldType::Rung, "3"), Value::from(3));
        assert!(refused(FieldType::Choice, "iets"), "only the pathway's options");
        assert!(refused(FieldType::Rung, "7"), "rungs run 1 to 6");
        assert!(refused(FieldType::Date, "31-12-2026"), "dates as YYYY-MM-DD");
        assert!(refused(FieldType::Date, "2-12-06"), "the year in four digits");
        assert!(refused(FieldType::Date, "+2026-12-06"));
        assert!(refused(FieldType::Date, "2026-2-06"));
        assert!(refused(FieldType::Date, "2026-02-30"), "a day that exists");
        assert_eq!(ok(FieldType::Date, "2026-02-28"), Value::from("2026-02-28"));
        assert!(refused(FieldType::Integer, "2,5"));
        assert!(refused(FieldType::Boolean, "misschien"));
    }
}
