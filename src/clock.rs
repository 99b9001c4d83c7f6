//! The time source: the system clock in production, a hand-moved one in tests.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A clock passed to everything that reads the time, so expiry and schedules are testable.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands still at `start` until moved with [`Clock::advance`].
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    /// The current time, truncated to milliseconds (what the database keeps).
    pub fn now(&self) -> DateTime<Utc> {
        let now = match &self.manual {
            Some(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
            None => Utc::now(),
        };
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            *t += by;
        }
    }
}
