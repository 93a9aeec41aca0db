//! A key found where it should not be (issue 29): where it was found, and who reported
//! it. The location comes from outside (GitLab's finding, an operator, an admin's paste)
//! and goes into the audit log and a mail, so it is made safe here once: one line,
//! no control characters, bounded, and never holding the key it names.

use std::fmt;

/// The longest location kept, in characters; a longer one is cut with "…" (a finding is
/// still revoked: refusing it would leave the key working).
pub const MAX_LOCATION_CHARS: usize = 500;

/// Where a leaked key was found, cleaned: a URL, a path, a ticket, words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakLocation(String);

impl LeakLocation {
    /// `raw` made safe to store and mail: whitespace (line breaks, U+2028/U+2029) becomes
    /// a space, other control characters and bidi overrides go; then (so that a key split
    /// by a control character is whole again and found) every copy of `secret` (the key
    /// itself, pasted into the location by mistake) becomes `[the key]` and anything else
    /// shaped like a key (`kw[us]_` and 36 base62 characters: another live key) becomes
    /// `[a key]`; the rest is cut at `MAX_LOCATION_CHARS`. Empty or absent: "an
    /// unspecified place".
    pub fn clean(raw: Option<&str>, secret: &str) -> Self {
        let one_line: String = raw
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .collect();
        let without_key = if secret.is_empty() {
            one_line
        } else {
            one_line.replace(secret, "[the key]")
        };
        let without_keys = replace_key_shaped(&without_key);
        let words = without_keys
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if words.is_empty() {
            return Self("an unspecified place".into());
        }
        if words.chars().count() > MAX_LOCATION_CHARS {
            let cut: String = words.chars().take(MAX_LOCATION_CHARS).collect();
            return Self(format!("{cut}…"));
        }
        Self(words)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LeakLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The characters after `kwu_` / `kws_` in a key (`crates/keyward-domain/src/api_key.rs`).
const KEY_BODY_CHARS: usize = 36;

/// `text` with every run matching `kw[us]_[0-9A-Za-z]{36}` replaced by `[a key]` (no word
/// boundaries asked: a key glued to other text is still a key).
fn replace_key_shaped(text: &str) -> String {
    let bytes = text.as_bytes();
    let key_len = 4 + KEY_BODY_CHARS;
    let is_key_at = |i: usize| {
        bytes.len() >= i + key_len
            && (bytes[i..].starts_with(b"kwu_") || bytes[i..].starts_with(b"kws_"))
            && bytes[i + 4..i + key_len]
                .iter()
                .all(|b| b.is_ascii_alphanumeric())
    };
    let (mut out, mut copied, mut i) = (String::with_capacity(text.len()), 0, 0);
    while i < bytes.len() {
        if is_key_at(i) {
            // `i` and `i + key_len` are ASCII positions, so char boundaries.
            out.push_str(&text[copied..i]);
            out.push_str("[a key]");
            i += key_len;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Who reported the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakSource {
    /// A self-managed GitLab's secret detection, through the Token Revocation API.
    GitLab,
    /// An operator with `keyward admin revoke-token --stdin`.
    Operator,
    /// A tenant admin on Team › Security.
    Dashboard,
}

impl LeakSource {
    /// How the audit log and the mail name it.
    pub fn describe(self) -> &'static str {
        match self {
            LeakSource::GitLab => "GitLab secret detection",
            LeakSource::Operator => "an operator (keyward admin revoke-token)",
            LeakSource::Dashboard => "a tenant admin (Team › Security)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_one_clean_bounded_line_without_the_key() {
        let key = "kwu_SECRET";
        let l = LeakLocation::clean(
            Some("https://git.example/a.env\r\nBcc: x\u{2028}y\u{202E}z kwu_SECRET"),
            key,
        );
        assert_eq!(l.as_str(), "https://git.example/a.env Bcc: x yz [the key]");
        assert_eq!(
            LeakLocation::clean(None, key).as_str(),
            "an unspecified place"
        );
        assert_eq!(
            LeakLocation::clean(Some(" \t "), key).as_str(),
            "an unspecified place"
        );
        // A key split by control characters is whole again, and found.
        assert_eq!(
            LeakLocation::clean(Some("a kwu_SEC\u{0}RET b"), key).as_str(),
            "a [the key] b"
        );
        let long = LeakLocation::clean(Some(&"é".repeat(2000)), key);
        assert_eq!(long.as_str().chars().count(), MAX_LOCATION_CHARS + 1);
        assert!(long.as_str().ends_with('…'));
    }

    #[test]
    fn any_other_key_in_a_location_is_replaced_too() {
        let other = format!("kws_{}", "aB3".repeat(12));
        let split = format!("kwu_{}\u{7}{}", "x".repeat(20), "Y9".repeat(8));
        let raw = format!("é{other}, ?k={split}&n=kwu_short kwx_{}", "z".repeat(36));
        assert_eq!(
            LeakLocation::clean(Some(&raw), "kwu_SECRET").as_str(),
            format!("é[a key], ?k=[a key]&n=kwu_short kwx_{}", "z".repeat(36))
        );
    }
}
