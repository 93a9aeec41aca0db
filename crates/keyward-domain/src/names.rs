//! Validated names and values that come from people: each can only be built valid.

use super::clock::truncate_to_micros;
use super::InvalidInput;
use std::fmt;
use time::PrimitiveDateTime;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Unicode's format characters (general category Cf, Unicode 15.1): invisible, and able
/// to reorder or hide text (bidi overrides, zero-width spaces), so names that look alike
/// in lists and the audit log could differ.
const FORMAT_CHARACTERS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

pub fn is_format_character(c: char) -> bool {
    let c = c as u32;
    FORMAT_CHARACTERS
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// 1–`max` printable characters after trimming; no control or format characters.
fn printable(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    let len = trimmed.chars().count();
    if len > max {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters (got {len})"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    if let Some(c) = trimmed.chars().find(|&c| is_format_character(c)) {
        return Err(InvalidInput::new(
            field,
            format!(
                "must not contain invisible formatting characters such as U+{:04X} (bidi overrides, zero-width spaces)",
                c as u32
            ),
        ));
    }
    Ok(trimmed.to_string())
}

/// A tenant's URL name: `[a-z0-9-]{1,40}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);
string_newtype!(TenantSlug);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 40 {
            return Err(InvalidInput::new(
                "slug",
                "must be 1 to 40 characters of a-z, 0-9 and -",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidInput::new(
                "slug",
                "may contain only lowercase letters a-z, digits 0-9 and -",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// A tenant's display name, 1–100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);
string_newtype!(TenantName);

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        printable("name", raw, 100).map(Self)
    }
}

/// An API key's name, 1–100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);
string_newtype!(KeyName);

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        printable("name", raw, 100).map(Self)
    }
}

/// What a key is for ("deploys from GitHub Actions to staging"), as GitHub's token note
/// and GitLab's description say it: optional, at most 200 printable characters; empty
/// means none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyDescription(String);
string_newtype!(KeyDescription);

impl KeyDescription {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        printable("description", raw, Self::MAX_LEN).map(Self)
    }
}

/// A person's or service account's name, 1–100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);
string_newtype!(PersonName);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        printable("name", raw, 100).map(Self)
    }
}

/// What an admin writes on an invitation to tell pending links apart ("for Grace, the
/// contractor"): optional, at most 100 printable characters; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationNote(String);
string_newtype!(InvitationNote);

impl InvitationNote {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Option<Self>, InvalidInput> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        printable("note", raw, Self::MAX_LEN).map(|s| Some(Self(s)))
    }
}

/// An email address, stored lowercased (DESIGN §1). Deliberately loose: one `@`, something
/// on both sides, a dot in the domain, no spaces; the real check is that mail arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim().to_lowercase();
        let bad = || InvalidInput::new("email", "must be an email address such as ada@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(s))
    }
}

/// A password as typed. Never printed: `Debug` shows a placeholder.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub const MIN_LEN: usize = 8;

    /// A new password: at least 8 and at most 1024 characters.
    pub fn parse_new(raw: &str) -> Result<Self, InvalidInput> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(InvalidInput::new(
                "password",
                format!("must be at least {} characters", Self::MIN_LEN),
            ));
        }
        if len > 1024 {
            return Err(InvalidInput::new(
                "password",
                "must be at most 1024 characters",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// A password offered at sign-in; checked against the hash, not against rules.
    pub fn offered(raw: &str) -> Self {
        Self(raw.chars().take(1024).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An expiry time that was in the future when it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiresAt(PrimitiveDateTime);

impl ExpiresAt {
    pub fn parse(at: PrimitiveDateTime, now: PrimitiveDateTime) -> Result<Self, InvalidInput> {
        let at = truncate_to_micros(at);
        if at <= now {
            return Err(InvalidInput::new("expires_at", "must be in the future"));
        }
        Ok(Self(at))
    }

    /// Parses an RFC 3339 time (`2031-01-01T00:00:00+00:00`), converted to UTC.
    pub fn parse_rfc3339(raw: &str, now: PrimitiveDateTime) -> Result<Self, InvalidInput> {
        let at = super::clock::parse_rfc3339_utc(raw).ok_or_else(|| {
            InvalidInput::new(
                "expires_at",
                "must be an RFC 3339 time no later than year 9999, such as 2031-01-01T00:00:00Z",
            )
        })?;
        Self::parse(at, now)
    }

    /// "N days" means now + N × 24 h (DESIGN §1).
    pub fn in_days(days: i64, now: PrimitiveDateTime) -> Result<Self, InvalidInput> {
        if !(1..=3650).contains(&days) {
            return Err(InvalidInput::new(
                "expires_at",
                "must be between 1 and 3650 days",
            ));
        }
        Self::parse(now + time::Duration::days(days), now)
    }

    /// A date means 00:00 UTC of the following day, so the key works all of that day.
    pub fn end_of_date(date: time::Date, now: PrimitiveDateTime) -> Result<Self, InvalidInput> {
        let next = date
            .next_day()
            .ok_or_else(|| InvalidInput::new("expires_at", "is too far in the future"))?;
        Self::parse(next.midnight(), now)
            .map_err(|_| InvalidInput::new("expires_at", "must be today or a later date"))
    }

    pub fn get(self) -> PrimitiveDateTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_only_lowercase_digits_and_dashes() {
        assert!(TenantSlug::parse("acme-01").is_ok());
        assert!(TenantSlug::parse("Acme").is_err());
        assert!(TenantSlug::parse("").is_err());
        assert!(TenantSlug::parse(&"a".repeat(41)).is_err());
    }

    #[test]
    fn every_kind_of_name_refuses_format_characters() {
        for bad in [
            "admin\u{202e}\u{200b}key",
            "a\u{200d}b",
            "\u{feff}x",
            "x\u{2066}y",
            "soft\u{ad}hyphen",
            "tag\u{e0041}",
        ] {
            assert!(KeyName::parse(bad).is_err(), "{bad:?}");
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
            assert!(InvitationNote::parse(bad).is_err(), "{bad:?}");
        }
        let e = KeyName::parse("admin\u{202e}key").unwrap_err();
        assert!(e.message.contains("U+202E"), "{}", e.message);
        assert!(PersonName::parse("Zoë Ünal 李").is_ok());
        assert!(KeyName::parse("deploy 🚀").is_ok());
    }

    #[test]
    fn key_names_are_one_to_a_hundred_printable_characters() {
        assert!(KeyName::parse(&"k".repeat(100)).is_ok());
        assert!(KeyName::parse(&"k".repeat(101)).is_err());
        assert!(KeyName::parse("  ").is_err());
        assert!(KeyName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn invitation_notes_are_optional_and_at_most_a_hundred_characters() {
        assert_eq!(InvitationNote::parse("  ").unwrap(), None);
        assert_eq!(
            InvitationNote::parse(" for Grace ")
                .unwrap()
                .unwrap()
                .as_str(),
            "for Grace"
        );
        assert!(InvitationNote::parse(&"n".repeat(100)).is_ok());
        let e = InvitationNote::parse(&"n".repeat(101)).unwrap_err();
        assert_eq!(e.field, "note");
    }

    #[test]
    fn emails_are_lowercased() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        assert!(Email::parse("ada").is_err());
        assert!(Email::parse("ada@localhost").is_err());
    }

    #[test]
    fn password_debug_prints_no_secret() {
        let p = Password::parse_new("hunter22hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
