//! Doorloop engine: the pathway model, validation, the pure case runtime, Dutch legal time,
//! and the durable store on SQLite and PostgreSQL.
//!
//! The modules `model`, `term`, `calendar`, `expr`, `definition`, `validate`, `diff`,
//! `figures` and `runtime` do no IO and never read the clock. `store` and `engine` hold all database work.
#![forbid(unsafe_code)]

pub mod bpmn;
pub mod calendar;
pub mod clock;
pub mod definition;
pub mod diff;
pub mod dutch;
pub mod dutch_problems;
pub mod engine;
pub mod expr;
pub mod figures;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod pilot;
pub mod runtime;
pub mod scheduler;
pub mod sim;
pub mod stall;
pub mod store;
pub mod term;
pub mod validate;
