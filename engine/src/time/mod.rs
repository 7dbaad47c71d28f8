//! Dutch legal time: terms (`6 weken`, `10 werkdagen`), the calendar with public holidays,
//! closure days, working hours and quiet hours, and the clock every part of a process reads.

pub mod calendar;
pub mod clock;
pub mod term;
