//! The API-key token (DESIGN §3): `kwu_` / `kws_`, 30 random base62 characters, then the
//! CRC32 of those 30 characters in base62, left-padded to 6. A `PlainToken` is the secret
//! and exists only between generation and the response that shows it, or between the
//! `Authorization` header and its digest. Neither `Debug` nor `Display` prints it.

use sha2::{Digest, Sha256};
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
const PREFIX_LEN: usize = 4;
pub const TOKEN_LEN: usize = PREFIX_LEN + RANDOM_LEN + CHECKSUM_LEN;

/// Whose key a token is: the prefix says it, so scanners and people can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    User,
    ServiceAccount,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::User => "kwu_",
            TokenKind::ServiceAccount => "kws_",
        }
    }
}

/// Why a presented string is not a Keyward token. Messages help the caller and never echo
/// the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the API key is malformed: {0}")]
    Malformed(&'static str),
    #[error("user access tokens and API tokens are no longer accepted; create an API key and send it as `Authorization: Bearer <key>`")]
    LegacyToken,
}

/// A token in the clear. Build it with `generate` or `parse`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken {
    secret: String,
    kind: TokenKind,
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken({})", self.display_hint())
    }
}

impl fmt::Display for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_hint())
    }
}

fn crc_base62(random: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(random) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().take(2).all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

impl PlainToken {
    /// A fresh token from the OS CSPRNG (≈178 bits).
    pub fn generate(kind: TokenKind) -> Self {
        use rand::RngExt;
        let mut rng = rand::rng();
        let mut secret = String::with_capacity(TOKEN_LEN);
        secret.push_str(kind.prefix());
        let random: Vec<u8> = (0..RANDOM_LEN)
            .map(|_| ALPHABET[rng.random_range(0..62)])
            .collect();
        secret.extend(random.iter().map(|&b| b as char));
        secret.extend(crc_base62(&random).iter().map(|&b| b as char));
        Self { secret, kind }
    }

    /// Format and checksum validation; no I/O.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        if looks_like_jwt(raw) {
            return Err(TokenError::LegacyToken);
        }
        if !raw.is_ascii() {
            return Err(TokenError::Malformed("it contains non-ASCII characters"));
        }
        if raw.len() != TOKEN_LEN {
            return Err(TokenError::Malformed("it has the wrong length"));
        }
        let kind = match &raw[..PREFIX_LEN] {
            "kwu_" => TokenKind::User,
            "kws_" => TokenKind::ServiceAccount,
            _ => return Err(TokenError::Malformed("it does not start with kwu_ or kws_")),
        };
        let body = &raw.as_bytes()[PREFIX_LEN..];
        if !body.iter().all(u8::is_ascii_alphanumeric) {
            return Err(TokenError::Malformed(
                "it contains characters outside 0-9A-Za-z",
            ));
        }
        let (random, checksum) = body.split_at(RANDOM_LEN);
        if crc_base62(random) != checksum {
            return Err(TokenError::Malformed(
                "its checksum does not match; check it was copied completely",
            ));
        }
        Ok(Self {
            secret: raw.to_string(),
            kind,
        })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The secret, for the one response that shows it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.secret)
    }

    /// The prefix and the last 4 characters, e.g. `kwu_…x1Yz`.
    pub fn display_hint(&self) -> String {
        format!(
            "{}…{}",
            &self.secret[..PREFIX_LEN],
            &self.secret[TOKEN_LEN - 4..]
        )
    }
}

/// SHA-256 of a whole token, lowercase hex: what the database stores and looks up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A random base62 string for one-time secrets that are not API keys (session ids,
/// setup tokens, invitations, form nonces).
pub fn random_secret(len: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..62)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back() {
        for kind in [TokenKind::User, TokenKind::ServiceAccount] {
            let t = PlainToken::generate(kind);
            assert_eq!(t.expose_secret().len(), TOKEN_LEN);
            let back = PlainToken::parse(t.expose_secret()).unwrap();
            assert_eq!(back.kind(), kind);
            assert_eq!(back.digest(), t.digest());
        }
    }

    #[test]
    fn a_one_character_typo_fails_the_checksum() {
        let t = PlainToken::generate(TokenKind::User);
        let mut s = t.expose_secret().to_string();
        let c = if s.as_bytes()[10] == b'a' { "b" } else { "a" };
        s.replace_range(10..11, c);
        assert!(matches!(
            PlainToken::parse(&s),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn debug_and_display_print_no_secret() {
        let t = PlainToken::generate(TokenKind::User);
        let random = &t.expose_secret()[4..34];
        assert!(!format!("{t:?}").contains(random));
        assert!(!format!("{t}").contains(random));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_string_never_panics(s in "\\PC{0,120}") {
            let _ = PlainToken::parse(&s);
        }

        #[test]
        fn only_strings_with_a_valid_checksum_parse(body in "[0-9A-Za-z]{36}") {
            let s = format!("kwu_{body}");
            let (random, checksum) = body.as_bytes().split_at(RANDOM_LEN);
            proptest::prop_assert_eq!(PlainToken::parse(&s).is_ok(), crc_base62(random) == checksum);
        }
    }

    #[test]
    fn jwts_are_recognised_as_legacy_tokens() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        assert_eq!(PlainToken::parse(jwt), Err(TokenError::LegacyToken));
    }
}
