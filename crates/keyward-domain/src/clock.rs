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

    /// `t`, read from another clock (the database's), moved as far as this clock was
    /// moved: `t` itself in production. So a test that moves the server's time moves
    /// the time its workers read from the database too.
    pub fn shifted(&self, t: PrimitiveDateTime) -> PrimitiveDateTime {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        t.checked_add(offset).unwrap_or(t)
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

/// Parses an RFC 3339 time with any offset into UTC (truncated to microseconds). `None`
/// for text that is not one, or whose UTC time falls outside what `time` represents
/// (converting such a time would panic).
pub fn parse_rfc3339_utc(raw: &str) -> Option<PrimitiveDateTime> {
    let t = OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?
        .checked_to_offset(time::UtcOffset::UTC)?;
    Some(truncate_to_micros(PrimitiveDateTime::new(
        t.date(),
        t.time(),
    )))
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_utc;

    #[test]
    fn rfc3339_times_convert_to_utc_and_out_of_range_ones_are_refused() {
        let t = parse_rfc3339_utc("2031-01-01T01:30:00+01:30").unwrap();
        assert_eq!(super::rfc3339(t), "2031-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339_utc("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_rfc3339_utc("tomorrow"), None);
    }
}
