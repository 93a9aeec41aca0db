//! Mail settings: the SMTP server (`--smtp-url`), its password (a file or the environment,
//! never a flag), the sender (`--mail-from`), and the outbox worker's timing.
//!
//! `smtp://host[:port]` upgrades with STARTTLS and refuses to send without it (default
//! port 587), except to a loopback host (`localhost`, 127.0.0.0/8, `::1`), where STARTTLS
//! is used when offered: a relay on the same machine is reached without a network.
//! `?tls=opportunistic` asks for that behaviour elsewhere too (a relay on a private
//! network without TLS; not recommended). `smtps://host[:port]` is TLS from the first
//! byte (default port 465). A user name goes in the URL (`smtp://user@host`); a password
//! there is refused, since `ps` shows flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// STARTTLS, refusing a server that does not offer it.
    StartTlsRequired,
    /// STARTTLS when the server offers it, plain text otherwise.
    StartTlsOpportunistic,
}

/// A parsed `--smtp-url`. Holds no password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: Option<String>,
}

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = |why: &str| {
            format!("the SMTP URL is not understood: {why}; use smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT] (TLS), with an optional USER@ before the host")
        };
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| bad("it has no scheme"))?;
        let implicit = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad("the scheme must be smtp or smtps")),
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        if authority.contains('/') {
            return Err(bad("it has a path"));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                if userinfo.contains(':') {
                    return Err("the SMTP URL holds a password, which anyone can read with `ps`: put the password in a file named by KEYWARD_SMTP_PASSWORD_FILE (or in KEYWARD_SMTP_PASSWORD) and keep only the user in the URL".into());
                }
                (
                    Some(percent_decode(userinfo).map_err(|e| bad(&e))?),
                    hostport,
                )
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        let loopback = is_loopback(host);
        let mut security = match (implicit, loopback) {
            (true, _) => SmtpSecurity::ImplicitTls,
            (false, true) => SmtpSecurity::StartTlsOpportunistic,
            (false, false) => SmtpSecurity::StartTlsRequired,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match (pair.split_once('=').unwrap_or((pair, "")), implicit) {
                (("tls", "required"), false) => security = SmtpSecurity::StartTlsRequired,
                (("tls", "opportunistic"), false) => security = SmtpSecurity::StartTlsOpportunistic,
                ((key, _), _) => {
                    // Only the key: the value may be a secret put in the wrong place.
                    let key: String = key.chars().take(40).collect();
                    return Err(bad(&format!(
                        "the parameter \"{key}\" (or its value) is not known (smtp:// takes tls=required or tls=opportunistic)"
                    )));
                }
            }
        }
        let port = port.unwrap_or(if implicit { 465 } else { 587 });
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            security,
            user,
        })
    }
}

impl SmtpUrl {
    /// Whether the server is on this machine (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl std::fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.security {
            SmtpSecurity::ImplicitTls => "smtps",
            _ => "smtp",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        write!(f, "{scheme}://{user}{}:{}", self.host, self.port)
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']').ok_or("an IPv6 address lacks its ]")?;
        let after = &rest[end + 1..];
        (
            &hostport[..end + 2],
            after.strip_prefix(':').filter(|p| !p.is_empty()),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("the port \"{p}\" is not a port number"))
        })
        .transpose()?;
    Ok((host, port))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in the user is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the user is not UTF-8".to_string())
}

/// The SMTP password. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpPassword(<redacted>)")
    }
}

impl SmtpPassword {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Where and as whom mail is sent; present only when `--smtp-url` is set.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp: SmtpUrl,
    pub password: Option<SmtpPassword>,
    /// `--mail-from` as given (`Keyward <keyward@example.com>`), checked at start-up.
    pub from: String,
}

/// The outbox worker's timing. The defaults suit production; tests shorten them through
/// hidden flags (`KEYWARD_OUTBOX_*`) so that nothing waits long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxTiming {
    /// How often an idle worker looks for due rows.
    pub poll: Duration,
    /// How long a claim lasts: a row claimed by an instance that died is retried after it.
    pub lease: Duration,
    /// The first retry's delay; each further one doubles it (at most an hour).
    pub retry_base: Duration,
    /// Attempts before a row is given up (a permanent refusal gives up at once).
    pub max_attempts: u32,
}

impl Default for OutboxTiming {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            lease: Duration::from_secs(10 * 60),
            retry_base: Duration::from_secs(30),
            max_attempts: 8,
        }
    }
}

impl OutboxTiming {
    /// The most the hidden timing flags take (a day; attempts: 100), so that no time
    /// arithmetic with them can overflow.
    pub const MAX_MS: u64 = 24 * 60 * 60 * 1000;
    pub const MAX_ATTEMPTS: u32 = 100;

    /// How long a whole send may take, from its claim: half the lease (5 minutes by
    /// default). Each step of the exchange gets at most what is left of it, so a send
    /// ends well before its claim runs out and another instance could take the row.
    pub fn send_budget(&self) -> Duration {
        self.lease / 2
    }

    /// How long one read or write with the SMTP server may take: at most 30 s, and never
    /// more than the whole send's budget.
    pub fn send_timeout(&self) -> Duration {
        self.send_budget().min(Duration::from_secs(30))
    }
}

/// The mail settings from their flags, environment variables and file entries.
pub(super) fn resolve_mail(
    smtp_url: Option<&str>,
    mail_from: Option<&str>,
    password_file: Option<&PathBuf>,
    password_flag: bool,
) -> Result<Option<MailSettings>, String> {
    if password_flag {
        return Err("--smtp-password shows the password to anyone who runs `ps`: put it in a file readable by Keyward only and pass --smtp-password-file PATH (or KEYWARD_SMTP_PASSWORD_FILE), or set KEYWARD_SMTP_PASSWORD".into());
    }
    let from_env = std::env::var("KEYWARD_SMTP_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let password = match (password_file, from_env) {
        (Some(_), Some(_)) => {
            return Err(
                "both KEYWARD_SMTP_PASSWORD and an SMTP password file are set: keep one".into(),
            )
        }
        (Some(path), None) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the SMTP password file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        (None, from_env) => from_env,
    };
    let Some(url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
        if mail_from.is_some_and(|f| !f.trim().is_empty()) || password.is_some() {
            return Err("--mail-from or an SMTP password is set but --smtp-url (KEYWARD_SMTP_URL) is not: set the SMTP server too, or leave mail off".into());
        }
        return Ok(None);
    };
    let smtp = SmtpUrl::parse(url)?;
    if password.is_some()
        && smtp.security == SmtpSecurity::StartTlsOpportunistic
        && !smtp.is_loopback()
    {
        return Err("an SMTP password is set with ?tls=opportunistic, so anyone on the network path who strips STARTTLS reads the password: drop ?tls=opportunistic (STARTTLS is then required), use smtps://, or relay through a server on this machine".into());
    }
    if password.is_some() && smtp.user.is_none() {
        return Err(
            "an SMTP password is set but the SMTP URL names no user: use smtp://USER@HOST".into(),
        );
    }
    let from = mail_from
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or("--smtp-url is set but --mail-from (KEYWARD_MAIL_FROM) is not: give the sender, e.g. \"Keyward <keyward@example.com>\"")?;
    from.parse::<lettre::message::Mailbox>().map_err(|e| {
        format!("--mail-from \"{from}\" is not a mail address such as \"Keyward <keyward@example.com>\" ({e})")
    })?;
    Ok(Some(MailSettings {
        smtp,
        password: password.map(SmtpPassword),
        from: from.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_their_security_and_refuse_passwords() {
        let u = SmtpUrl::parse("smtp://mail.example.com").unwrap();
        assert_eq!((u.port, u.security), (587, SmtpSecurity::StartTlsRequired));
        let u = SmtpUrl::parse("smtps://keyward%40example.com@mail.example.com:2465").unwrap();
        assert_eq!(
            (u.port, u.security, u.user.as_deref()),
            (2465, SmtpSecurity::ImplicitTls, Some("keyward@example.com"))
        );
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(u.security, SmtpSecurity::StartTlsOpportunistic);
        let u = SmtpUrl::parse("smtp://[::1]:2525").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        let u = SmtpUrl::parse("smtp://relay.lan:25?tls=opportunistic").unwrap();
        assert_eq!(u.security, SmtpSecurity::StartTlsOpportunistic);
        assert!(SmtpUrl::parse("smtp://u:secret@mail.example.com")
            .unwrap_err()
            .contains("KEYWARD_SMTP_PASSWORD_FILE"));
        for bad in [
            "mail.example.com",
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com:0",
            "smtp://mail.example.com:x",
            "smtp://mail.example.com/path",
            "smtps://mail.example.com?tls=opportunistic",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unknown_parameter_is_named_by_its_key_only() {
        let e = SmtpUrl::parse("smtp://u@mail.example.com?password=hunter2").unwrap_err();
        assert!(e.contains("\"password\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = SmtpUrl::parse("smtp://mail.example.com?hunter2").unwrap_err();
        assert!(e.contains("\"hunter2\""), "a key is named: {e}");
    }

    #[test]
    fn a_password_is_refused_with_opportunistic_tls_off_this_machine() {
        let dir = std::env::temp_dir().join(format!("keyward-smtp-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "hunter2\n").unwrap();
        let resolve = |url: &str| {
            resolve_mail(
                Some(url),
                Some("Keyward <keyward@example.com>"),
                Some(&file),
                false,
            )
        };
        let e = resolve("smtp://u@relay.lan:25?tls=opportunistic").unwrap_err();
        assert!(e.contains("tls=opportunistic") && !e.contains('\n'), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        // Required STARTTLS, implicit TLS, or a relay on this machine: accepted.
        for ok in [
            "smtp://u@relay.lan:25",
            "smtps://u@relay.lan",
            "smtp://u@127.0.0.1:25?tls=opportunistic",
            "smtp://u@localhost:25",
        ] {
            let mail = resolve(ok).unwrap().unwrap();
            assert_eq!(mail.password.unwrap().expose(), "hunter2", "{ok}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
