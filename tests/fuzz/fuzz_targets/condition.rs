//! Condition translation (FEEL, JUEL, JavaScript and XPath forms from other modellers):
//! any text is translated or refused, never a panic — and what it translates to is CEL
//! that compiles, since a pathway with a condition that does not compile cannot run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(translated) = doorloop_engine::bpmn::condition::translate(source) {
        if let Err(e) = doorloop_engine::pathway::expr::Expr::compile(&translated.cel) {
            panic!(
                "`{source}` translated to `{}`, which does not compile: {e}",
                translated.cel
            );
        }
    }
});
