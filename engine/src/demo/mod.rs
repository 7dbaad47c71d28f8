//! Data for demonstrations and measurements: a cohort shaped like the Oss pilot moved
//! through the real engine, and the simulator that pushes cases through a pathway.

pub mod people;
pub mod pilot;
pub mod region;
pub mod sim;
