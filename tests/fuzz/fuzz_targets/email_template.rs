//! E-mail rendering: whatever text ends up in a message's fields (a case reference, a
//! pathway or step name, a person's name, a pathway's own subject, the recipient's
//! address), the message keeps exactly its own headers: no field can add one (no header
//! injection through CR/LF), and rendering never panics.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use doorloop_notifiers::{EmailChannel, Rendered, Templates};
use libfuzzer_sys::fuzz_target;

/// The headers a Doorloop e-mail has; anything else came from a field.
const HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "message-id",
    "x-doorloop-key",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "date",
];

fn setup() -> &'static (Templates, EmailChannel, tokio::runtime::Runtime) {
    static SETUP: OnceLock<(Templates, EmailChannel, tokio::runtime::Runtime)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let _inside = runtime.enter();
        let templates = Templates::new().expect("the shipped templates compile");
        let channel = EmailChannel::new(
            "smtp://127.0.0.1:2525",
            "doorloop@gemeente.test",
            Duration::from_secs(1),
            1,
        )
        .expect("a channel (it connects only when sending)");
        drop(_inside);
        (templates, channel, runtime)
    })
}

/// The header names of the message's top-level header block.
fn header_names(formatted: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(formatted);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .filter(|line| !line.starts_with([' ', '\t']) && !line.is_empty())
        .map(|line| line.split(':').next().unwrap_or_default().to_ascii_lowercase())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Up to six fields, separated by NUL; missing ones are empty.
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let (reference, pathway, step, name, subject, to) = (next(), next(), next(), next(), next(), next());
    let (templates, channel, _) = setup();
    let context = serde_json::json!({
        "recipient": {"name": name},
        "intro": null,
        "case": {"reference": reference, "pathway": pathway},
        "task": {"step": step, "role": "klantmanager", "due": "1 januari", "link": "https://doorloop.test/taken/1"},
    });
    let own_subject = (!subject.is_empty()).then_some(subject.as_str());
    let Ok(rendered) = templates.render("task_assigned", &context, own_subject) else {
        return;
    };
    let Rendered { .. } = &rendered;
    let to = if to.is_empty() {
        "anna@gemeente.test"
    } else {
        to.as_str()
    };
    let Ok(message) = channel.build(to, &rendered, None, "<1@doorloop.test>", &reference) else {
        return;
    };
    for header in header_names(&message.formatted()) {
        assert!(
            HEADERS.contains(&header.as_str()),
            "a field added the header `{header}`: {rendered:?}"
        );
    }
});
