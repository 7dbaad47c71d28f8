//! The one reading of typed-in form text (web form, `--var name=value`): any text for any
//! field type is read or refused, never a panic, and what is read has the field's type.
#![no_main]

use doorloop_engine::pathway::model::{Field, FieldType};
use libfuzzer_sys::fuzz_target;

const TYPES: [FieldType; 7] = [
    FieldType::Text,
    FieldType::Integer,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::Choice,
    FieldType::Rung,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let ty = TYPES[usize::from(first) % TYPES.len()];
    let field = Field {
        name: "veld".into(),
        ty,
        required: first & 0x80 != 0,
        label: None,
        options: vec!["ja_graag".into(), "nee".into(), "misschien".into()],
        option_labels: Default::default(),
        category: None,
    };
    if let Ok(value) = doorloop_engine::runtime::parse_field_value(&field, text) {
        let ok = match ty {
            FieldType::Text => value.is_string(),
            FieldType::Integer => value.is_i64() || value.is_u64(),
            FieldType::Number => value.as_f64().is_some_and(f64::is_finite),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Date => value.as_str().is_some_and(|s| s.len() == 10),
            FieldType::Choice => value
                .as_str()
                .is_some_and(|s| field.options.iter().any(|o| o == s)),
            FieldType::Rung => value.as_u64().is_some_and(|r| (1..=6).contains(&r)),
        };
        assert!(ok, "`{text}` read as {value} for a {ty:?} field");
    }
});
