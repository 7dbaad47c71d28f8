//! The pathway YAML loader and validator: any text is loaded or refused with an error,
//! never a panic, a hang or unbounded memory; a pathway that validates clean can be
//! exported to BPMN.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = doorloop_engine::pathway::definition::from_yaml(source) else {
        return;
    };
    let problems = doorloop_engine::pathway::validate::validate(&loaded);
    if problems.is_empty() {
        let _ = doorloop_engine::bpmn::export::export(&loaded.pathway);
    }
});
