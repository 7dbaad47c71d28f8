//! A pathway as coordinators write it: the model, reading and writing YAML with source
//! lines, the conditions (CEL) steps branch on, and validation.

pub mod definition;
pub mod expr;
pub mod model;
pub mod validate;
