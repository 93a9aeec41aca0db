//! The secrets among the settings, in types whose `Debug` prints nothing of them: the
//! session-cookie key (on SQLite kept in a 0600 file beside the database when not
//! configured) and the metrics token.

use super::{MIN_METRICS_TOKEN_CHARS, MIN_SESSION_SECRET_BYTES};
use base64::Engine;
use std::path::{Path, PathBuf};

/// The session-cookie signing key. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(Vec<u8>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    pub fn parse(base64_text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_text.trim())
            .map_err(|_| "KEYWARD_SESSION_SECRET must be base64 (generate one with `openssl rand -base64 64`)".to_string())?;
        if bytes.len() < MIN_SESSION_SECRET_BYTES {
            return Err(format!(
                "KEYWARD_SESSION_SECRET must decode to at least {MIN_SESSION_SECRET_BYTES} bytes, it has {} (generate one with `openssl rand -base64 64`)",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = vec![0u8; MIN_SESSION_SECRET_BYTES];
        rand::fill(&mut bytes[..]);
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

/// The bearer token `GET /metrics` asks for. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl MetricsToken {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().count() < MIN_METRICS_TOKEN_CHARS || text.chars().any(char::is_whitespace) {
            return Err(format!(
                "the metrics token must be at least {MIN_METRICS_TOKEN_CHARS} characters without spaces (generate one with `openssl rand -hex 32`)"
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The pre-shared tokens the Token Revocation API (`/api/secret-scanning/gitlab/v1/…`)
/// accepts as the whole `Authorization` header: one for a self-managed GitLab, one for
/// each CI job that posts findings, so that each has its own rate budget and can be
/// replaced alone. Given one per line (blank lines and `#` comments skipped). Only their
/// SHA-256 digests are kept; `Debug` shows how many there are.
#[derive(Clone, PartialEq, Eq)]
pub struct RevocationApiTokens(Vec<[u8; 32]>);

/// The shortest revocation API token accepted: 32 characters (`openssl rand -hex 32`
/// makes 64), so guessing it is hopeless whatever the rate.
pub const MIN_REVOCATION_API_TOKEN_CHARS: usize = 32;

/// The most revocation API tokens accepted (each has its own rate budget).
pub const MAX_REVOCATION_API_TOKENS: usize = 100;

impl std::fmt::Debug for RevocationApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RevocationApiTokens({} <redacted>)", self.0.len())
    }
}

impl RevocationApiTokens {
    /// One token a line; the error names the line, never its text.
    pub fn parse(text: &str) -> Result<Self, String> {
        use sha2::{Digest, Sha256};
        let mut digests: Vec<[u8; 32]> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.chars().count() < MIN_REVOCATION_API_TOKEN_CHARS
                || !token.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(format!(
                    "the revocation API token on line {} must be at least {MIN_REVOCATION_API_TOKEN_CHARS} printable ASCII characters without spaces (one token a line; generate one with `openssl rand -hex 32`)",
                    n + 1
                ));
            }
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if digests.contains(&digest) {
                return Err(format!(
                    "the revocation API token on line {} repeats an earlier one: give GitLab and each CI a token of its own",
                    n + 1
                ));
            }
            digests.push(digest);
        }
        if digests.is_empty() {
            return Err(
                "the revocation API tokens hold no token: one a line (generate one with `openssl rand -hex 32`)".into(),
            );
        }
        if digests.len() > MAX_REVOCATION_API_TOKENS {
            return Err(format!(
                "{} revocation API tokens given; at most {MAX_REVOCATION_API_TOKENS} are accepted",
                digests.len()
            ));
        }
        Ok(Self(digests))
    }

    /// The SHA-256 digests of the tokens, in the order given.
    pub fn digests(&self) -> &[[u8; 32]] {
        &self.0
    }
}

#[cfg(test)]
mod revocation_token_tests {
    use super::*;

    #[test]
    fn several_tokens_one_a_line_each_long_enough_and_none_repeated() {
        let (a, b) = ("a".repeat(32), "b".repeat(40));
        let tokens = RevocationApiTokens::parse(&format!("# GitLab\n{a}\n\n  {b}  \n")).unwrap();
        assert_eq!(tokens.digests().len(), 2);
        assert_eq!(format!("{tokens:?}"), "RevocationApiTokens(2 <redacted>)");
        let short = RevocationApiTokens::parse(&format!("{a}\nshort-token")).unwrap_err();
        assert!(
            short.contains("line 2") && short.contains("at least 32"),
            "{short}"
        );
        assert!(!short.contains("short-token"));
        let twice = RevocationApiTokens::parse(&format!("{a}\n{a}")).unwrap_err();
        assert!(twice.contains("repeats"), "{twice}");
        assert!(RevocationApiTokens::parse("\n# none\n").is_err());
    }
}

pub(super) fn secret_file_beside(db_path: &Path) -> Result<SessionSecret, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = db_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".session-secret");
    let path = db_path.with_file_name(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => SessionSecret::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Written aside, then linked into place: of two instances starting together,
            // one links and the other reads the winner's whole file.
            let secret = SessionSecret::generate();
            let mut aside = path.clone().into_os_string();
            aside.push(format!(".{}", uuid::Uuid::new_v4().simple()));
            let aside = PathBuf::from(aside);
            let cannot = |e: std::io::Error| {
                format!(
                    "cannot create the session secret file {}: {e}",
                    path.display()
                )
            };
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&aside)
                .and_then(|mut file| writeln!(file, "{}", secret.to_base64()));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&aside);
                return Err(cannot(e));
            }
            let linked = std::fs::hard_link(&aside, &path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => Ok(secret),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).map_err(cannot)?;
                    SessionSecret::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
                }
                Err(e) => Err(cannot(e)),
            }
        }
        Err(e) => Err(format!(
            "cannot read the session secret file {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_session_secrets_are_refused() {
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(SessionSecret::parse(&short)
            .unwrap_err()
            .contains("at least 64 bytes"));
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert!(SessionSecret::parse(&long).is_ok());
    }
}
