//! BPMN 2.0 interchange: import of models from bpmn.io, Camunda Modeler and other tools,
//! export with Doorloop's own properties and a diagram.

pub mod condition;
pub mod export;
pub mod extensions;
pub mod import;

/// The BPMN 2.0 model namespace.
pub const BPMN: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
/// Camunda 7's extension namespace.
pub const CAMUNDA: &str = "http://camunda.org/schema/1.0/bpmn";
/// The `language` of conditions written in Doorloop's expression language (CEL): an
/// import takes them as they are.
pub const CEL: &str = "https://github.com/google/cel-spec";
