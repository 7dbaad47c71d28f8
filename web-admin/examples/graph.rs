//! Prints a pathway file's graph as SVG, with the given steps highlighted:
//! `cargo run -p doorloop-web --example graph workflows/van-zorg-naar-werk.yaml intake > g.svg`
#![allow(clippy::unwrap_used, clippy::expect_used)]
fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("a pathway file");
    let active: std::collections::BTreeSet<String> = args.collect();
    let source = std::fs::read_to_string(file).unwrap();
    let pathway = doorloop_engine::definition::from_yaml(&source).unwrap().pathway;
    let pv = doorloop_engine::model::PathwayVersion { version: 1, pathway };
    print!("{}", doorloop_web::graph::svg(&pv, &active));
}
