//! The BPMN importer: any XML is imported (with notices) or refused, never a panic;
//! every imported pathway can be validated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(all) = doorloop_engine::bpmn::import::import_all(xml) {
        for imported in all {
            let _ = doorloop_engine::pathway::validate::validate_pathway(&imported.pathway);
        }
    }
});
