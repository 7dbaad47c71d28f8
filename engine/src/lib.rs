//! Doorloop engine: the pathway model, validation, the pure case runtime, Dutch legal time,
//! and the durable store on SQLite and PostgreSQL.
//!
//! - `resident/`: residents, the BSN and how people are searched for
//! - `pathway/`: the model, YAML with source lines, conditions, validation
//! - `runtime/`: the pure case runtime (commands in, events and effects out), migration
//! - `time/`: legal terms, the calendar, the clock
//! - `figures/`: managers' figures, stalls, the diff between versions
//! - `text/`: the Dutch words users read; what messages may say
//! - `bpmn/`: import and export
//! - `store/`, `engine`, `scheduler`, `metrics`: the database, the writer, timers, figures of the process
//! - `demo/`: the pilot cohort and the simulator
//!
//! `pathway`, `runtime`, `time`, `figures` and `text` do no IO and never read the clock
//! (`now` is an argument). `store` and `engine` hold all database work.
#![forbid(unsafe_code)]

pub mod bpmn;
pub mod chain;
pub mod check;
pub mod demo;
pub mod engine;
pub mod failpoint;
pub mod figures;
pub mod inzage;
pub mod line;
pub mod metrics;
pub mod pathway;
pub mod resident;
pub mod retention;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod text;
pub mod time;
