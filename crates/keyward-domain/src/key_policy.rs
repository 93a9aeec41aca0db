//! A tenant's key policy (issue 14): how long its keys may live and whether every key
//! must expire. Setting a maximum lifetime implies that an expiry is required.

use super::clock::rfc3339;
use super::InvalidInput;
use time::{Duration, PrimitiveDateTime, Time};

/// The longest maximum a tenant may set: ten years, as the "N days" expiry allows.
pub const MAX_LIFETIME_DAYS: i32 = 3650;

/// Rotation's choices of overlap, in hours: none, 1 hour, 24 hours, 7 days.
pub const OVERLAP_HOURS: [i32; 4] = [0, 1, 24, 168];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyPolicy {
    max_key_lifetime_days: Option<i32>,
    require_expiry: bool,
}

impl KeyPolicy {
    /// `None` lifetime means no limit; a lifetime makes an expiry required.
    pub fn new(
        max_key_lifetime_days: Option<i32>,
        require_expiry: bool,
    ) -> Result<Self, InvalidInput> {
        if let Some(days) = max_key_lifetime_days {
            if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
                return Err(InvalidInput::new(
                    "max_key_lifetime_days",
                    format!("must be between 1 and {MAX_LIFETIME_DAYS} days, or null for no limit"),
                ));
            }
        }
        Ok(Self {
            max_key_lifetime_days,
            require_expiry: require_expiry || max_key_lifetime_days.is_some(),
        })
    }

    pub fn max_key_lifetime_days(&self) -> Option<i32> {
        self.max_key_lifetime_days
    }

    pub fn require_expiry(&self) -> bool {
        self.require_expiry
    }

    /// The latest expiry a key created at `now` may have: the end (00:00 UTC of the next
    /// day) of the day `max` days from now, so a date picked in the dialog (which means
    /// the end of that day) is allowed up to the last allowed day.
    pub fn latest_expiry(&self, now: PrimitiveDateTime) -> Option<PrimitiveDateTime> {
        let days = self.max_key_lifetime_days?;
        let last_day = (now + Duration::days(days.into())).date();
        Some(PrimitiveDateTime::new(
            last_day.next_day().unwrap_or(last_day),
            Time::MIDNIGHT,
        ))
    }

    /// Whether a new key created at `now` with this expiry is allowed; the message names
    /// the policy and says what to choose.
    pub fn check(
        &self,
        now: PrimitiveDateTime,
        expires_at: Option<PrimitiveDateTime>,
    ) -> Result<(), InvalidInput> {
        match (expires_at, self.latest_expiry(now)) {
            (None, _) if self.require_expiry => {
                Err(InvalidInput::new("expires_at", format!(
                    "this tenant's key policy requires every key to expire{}; choose an expiry",
                    self.lifetime_phrase()
                )))
            }
            (Some(at), Some(latest)) if at > latest => Err(InvalidInput::new(
                "expires_at",
                format!(
                    "this tenant's key policy allows keys to live at most {} days: the last day you can pick is {} (an expiry no later than {})",
                    self.max_key_lifetime_days.unwrap_or_default(),
                    latest
                        .date()
                        .previous_day()
                        .unwrap_or(latest.date())
                        .format(time::macros::format_description!(
                            "[day padding:none] [month repr:short] [year]"
                        ))
                        .unwrap_or_default(),
                    rfc3339(latest)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn lifetime_phrase(&self) -> String {
        self.max_key_lifetime_days
            .map(|d| format!(" within {d} days"))
            .unwrap_or_default()
    }

    /// How a person reads it: "keys must expire within 90 days", "keys must expire",
    /// "no limit".
    pub fn describe(&self) -> String {
        match (self.max_key_lifetime_days, self.require_expiry) {
            (Some(d), _) => format!("keys must expire within {d} days"),
            (None, true) => "keys must expire".into(),
            (None, false) => "no limit: keys may never expire".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_lifetime_implies_an_expiry_and_allows_up_to_the_end_of_the_last_day() {
        let now = datetime!(2026-11-28 12:00:00);
        let p = KeyPolicy::new(Some(30), false).unwrap();
        assert!(p.require_expiry());
        assert!(p.check(now, None).is_err());
        assert!(p.check(now, Some(datetime!(2026-12-29 00:00:00))).is_ok());
        assert!(p.check(now, Some(datetime!(2026-12-29 00:00:01))).is_err());
        assert!(KeyPolicy::default().check(now, None).is_ok());
        assert!(KeyPolicy::new(None, true)
            .unwrap()
            .check(now, None)
            .is_err());
        assert!(KeyPolicy::new(Some(0), false).is_err());
    }
}
