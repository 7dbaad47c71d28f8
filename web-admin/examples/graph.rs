//! Prints a shipped pathway's graph as SVG: `cargo run -p doorloop-web --example graph FILE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
fn main() {
    let file = std::env::args().nth(1).expect("a pathway file");
    let source = std::fs::read_to_string(file).unwrap();
    let pathway = doorloop_engine::definition::from_yaml(&source).unwrap().pathway;
    let pv = doorloop_engine::model::PathwayVersion { version: 1, pathway };
    print!(
        "{}",
        doorloop_web::graph::svg(&pv, &std::collections::BTreeSet::from(["intake".to_owned()]))
    );
}
