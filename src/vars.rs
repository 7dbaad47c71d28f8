//! `--var name=value` arguments, typed by the pathway's declarations.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use doorloop_engine::pathway::model::{Field, PathwayVersion};
use doorloop_engine::runtime::parse_field_value;
use serde_json::Value;

/// Splits `name=value` pairs and types each value by the field it names: first among
/// `fields` (a step's form), then among every variable the pathway declares. Names the
/// pathway does not know are passed on as text, so the runtime can name them in its error.
pub fn parse(
    pairs: &[String],
    fields: &[Field],
    pv: &PathwayVersion,
) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((name, text)) = pair.split_once('=') else {
            bail!("--var `{pair}` must be written as name=value");
        };
        let name = name.trim();
        if name.is_empty() {
            bail!("--var `{pair}` has no name before `=`");
        }
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| pv.variable_type(name));
        let value = match field {
            Some(f) => parse_field_value(f, text).with_context(|| format!("--var {name}"))?,
            None => Value::String(text.to_owned()),
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}
