//! Hostile pathway files: each is refused with a clear error rather than expanded, recursed
//! into or allowed to exhaust memory (no timing assertions: a hang would stop the suite).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorloop_engine::bpmn::import::{ImportError, import};
use doorloop_engine::pathway::definition::from_yaml;

/// The "billion laughs": ten levels of ten entity references, a gigabyte once expanded.
#[test]
fn a_billion_laughs_bpmn_file_is_refused_unexpanded() {
    let mut dtd = String::from("<!DOCTYPE definitions [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>\n");
    let xml = format!(
        "<?xml version=\"1.0\"?>\n{dtd}<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\
         <process id=\"p\"><task id=\"t\" name=\"&lol9;\"/></process></definitions>"
    );
    let err = import(&xml).expect_err("entities are not expanded");
    assert!(matches!(err, ImportError::Xml(_)), "{err}");
}

/// XML nested 10,000 levels deep.
#[test]
fn deeply_nested_bpmn_is_refused() {
    let depth = 10_000;
    let xml = format!(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"p\">{}{}</process></definitions>",
        "<subProcess id=\"s\">".repeat(depth),
        "</subProcess>".repeat(depth)
    );
    let err = import(&xml).expect_err("too deep");
    assert!(
        matches!(err, ImportError::Xml(_)) && err.to_string().contains("nested more than 100 levels"),
        "{err}"
    );
}

/// A YAML "alias bomb": each anchor nine times the one before, billions of strings once
/// expanded. Refused at the first place its shape does not fit, nothing expanded.
#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut levels = vec!["&a0 [x, x, x, x, x, x, x, x, x]".to_owned()];
    for i in 1..=9 {
        levels.push(format!("&a{i} [{}]", vec![format!("*a{}", i - 1); 9].join(", ")));
    }
    let yaml = format!(
        "key: bom\nname: Bom\nroles: {{ r: {{ name: R }} }}\nsummary: [{}]\nsteps: []\n",
        levels.join(", ")
    );
    let err = from_yaml(&yaml).expect_err("aliases are not expanded into a bomb");
    assert!(err.to_string().contains("line 4"), "names where: {err}");
}

/// YAML nested 10,000 levels deep is refused before the parser proper recurses into it.
#[test]
fn deeply_nested_yaml_is_refused() {
    let yaml = format!(
        "key: diep\nname: Diep\nsteps: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = from_yaml(&yaml).expect_err("too deep");
    assert!(err.to_string().contains("32"), "names the limit: {err}");
}
