//! The words users read: Dutch dates, sizes and reasons, Dutch explanations of what is
//! wrong with a pathway, and what a message may say.

pub mod dutch;
pub mod messages;
pub mod problems;
