//! Where the time comes from: the wall clock in production, a clock that moves only when
//! told to in tests. The engine, the scheduler, the notifiers and every web handler read
//! the one clock they are given; none reads the system time itself.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where the time comes from. Tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The wall clock shifted by a fixed amount: a process that must see "later" without
/// waiting for it (a test worker for which held leases have already expired).
pub struct OffsetClock(Duration);

impl OffsetClock {
    pub fn seconds(seconds: i64) -> OffsetClock {
        OffsetClock(Duration::seconds(seconds))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}
