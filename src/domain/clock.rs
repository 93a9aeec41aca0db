//! The one source of "now". Production reads the system clock; tests move it forward
//! through the same handle the server holds, so expiry and throttling are testable
//! without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

#[derive(Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Clock(offset={}µs)",
            self.offset_micros.load(Ordering::Relaxed)
        )
    }
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// Now in UTC, truncated to microseconds so both backends store the same value.
    pub fn now(&self) -> PrimitiveDateTime {
        let now = OffsetDateTime::now_utc()
            + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        truncate_to_micros(PrimitiveDateTime::new(now.date(), now.time()))
    }

    /// Moves this clock (and every clone of it) forward; for tests.
    pub fn advance(&self, by: Duration) {
        self.offset_micros
            .fetch_add(by.whole_microseconds() as i64, Ordering::Relaxed);
    }
}

pub fn truncate_to_micros(t: PrimitiveDateTime) -> PrimitiveDateTime {
    let micros = t.nanosecond() / 1_000;
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}

/// RFC 3339 with a `Z`, as every surface prints times.
pub fn rfc3339(t: PrimitiveDateTime) -> String {
    t.assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
