//! BPMN 2.0 interchange.

pub mod condition;
pub mod export;
pub mod extensions;
pub mod import;
