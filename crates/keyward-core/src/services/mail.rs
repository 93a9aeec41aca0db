//! Mail: what Keyward writes and how it leaves. Each kind of mail has a fixed subject, so
//! nothing a user typed goes into a header; names go into the body, quoted. Links in mail
//! come only from `--public-url`, never from a request's `Host` (whoever sets `Host` would
//! otherwise have people sent a link to their own site). Mail is never sent from a
//! request: services put it in the outbox (`services::outbox`) and its worker hands it to
//! the SMTP server through [`Mailer`].

use crate::config::{MailSettings, Settings, SmtpSecurity};
use crate::error::AppError;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::Message;
use std::time::{Duration, Instant};

/// The kinds of mail, each with its fixed subject. Stored as the outbox row's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Invitation,
    PasswordReset,
    /// A key was found leaked and revoked (`services::key_leaks`): to its owner, or to
    /// the tenant's admins for a service account's key.
    KeyLeaked,
    /// "A new API key was added to your account" (`services::key_notices`).
    KeyCreated,
    /// A key expires in 7 days, or in 1 (`services::key_notices`).
    KeyExpiring,
    /// A webhook was disabled after repeated failures (`services::webhooks`).
    WebhookDisabled,
    /// An identity at the OpenID provider was linked to the account (`services::oidc`).
    SsoLinked,
}

impl MailKind {
    pub const ALL: [MailKind; 7] = [
        MailKind::Invitation,
        MailKind::PasswordReset,
        MailKind::KeyLeaked,
        MailKind::KeyCreated,
        MailKind::KeyExpiring,
        MailKind::WebhookDisabled,
        MailKind::SsoLinked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "mail.invitation",
            MailKind::PasswordReset => "mail.password_reset",
            MailKind::KeyLeaked => "mail.api_key_leaked",

            MailKind::KeyCreated => "mail.key_created",
            MailKind::KeyExpiring => "mail.key_expiring",
            MailKind::WebhookDisabled => "mail.webhook_disabled",
            MailKind::SsoLinked => "mail.sso_linked",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    pub fn subject(self) -> &'static str {
        match self {
            MailKind::Invitation => "You are invited to join a team on Keyward",
            MailKind::PasswordReset => "Reset your Keyward password",
            MailKind::KeyLeaked => "A Keyward API key was found leaked and has been revoked",

            MailKind::KeyCreated => "A new API key was added to your Keyward account",
            MailKind::KeyExpiring => "A Keyward API key expires soon",
            MailKind::WebhookDisabled => "A Keyward webhook was disabled after failures",
            MailKind::SsoLinked => "An identity provider was linked to your Keyward account",
        }
    }
}

/// Whether this server may mail links, and their base: what the services ask before they
/// put a mail with a link in the outbox.
#[derive(Debug, Clone, Default)]
pub struct MailLinks {
    public_url: Option<String>,
    mail_on: bool,
}

impl MailLinks {
    pub fn of(settings: &Settings) -> Self {
        Self {
            public_url: settings.public_url.clone(),
            mail_on: settings.mail.is_some(),
        }
    }

    /// `None` when links can be mailed; else why not, in words for the person who asked.
    pub fn why_not(&self) -> Option<&'static str> {
        if !self.mail_on {
            Some("this server sends no mail (the operator has not set --smtp-url)")
        } else if self.public_url.is_none() {
            Some("this server mails links only under its --public-url, which the operator has not set (KEYWARD_PUBLIC_URL)")
        } else {
            None
        }
    }

    /// The base of links in mail (`--public-url`), or an error on `field` saying why none
    /// can be mailed and what to do instead.
    pub fn base(&self, field: &'static str) -> Result<&str, AppError> {
        match (self.why_not(), &self.public_url) {
            (None, Some(url)) => Ok(url),
            (why, _) => Err(AppError::invalid(
                field,
                format!(
                    "the link cannot be mailed: {}; leave the email out and send the link yourself",
                    why.unwrap_or("mail is off")
                ),
            )),
        }
    }
}

/// Refuses, on `field`, an address the SMTP client could not send to (its parser is
/// stricter than `Email::parse`).
/// Refuses, too, a domain literal (`x@[10.0.0.5]`, which would have the relay deliver to an
/// address on its own network) and a domain without a dot (`x@localhost`, `x@intranet`):
/// mail goes to DNS names only.
pub fn check_address(field: &'static str, address: &str) -> Result<(), AppError> {
    let parsed = address
        .parse::<lettre::Address>()
        .map_err(|_| AppError::invalid(field, "is not an address mail can be sent to"))?;
    mailable_domain(parsed.domain()).map_err(|why| AppError::invalid(field, why))
}

/// Whether mail may go to `domain`: a DNS name with a dot, not an IP literal.
fn mailable_domain(domain: &str) -> Result<(), &'static str> {
    let domain = domain.trim_end_matches('.');
    if domain.starts_with('[') || domain.parse::<std::net::IpAddr>().is_ok() {
        Err("names its mail server by IP address: use an address at a domain name")
    } else if !domain.contains('.') {
        Err("has a domain without a dot: use an address at a full domain name such as example.com")
    } else {
        Ok(())
    }
}

/// A name as the body of a mail shows it: in quotes, on one line: every whitespace
/// character (a tab, U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR, which mail readers
/// show as line breaks) becomes a space, and other control characters go (the domain types
/// already refuse them; this holds for any text).
pub(crate) fn quoted(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control())
        .map(|c| if c == '”' { '"' } else { c })
        .collect();
    format!("“{}”", clean.trim())
}

/// What an invitation mail says.
pub struct InvitationMail<'a> {
    pub inviter: Option<&'a str>,
    pub tenant_name: &'a str,
    pub role: &'a str,
    pub link: &'a str,
    pub expires: &'a str,
}

/// The plain-text body of an invitation mail. It carries the one-time link.
pub fn invitation_body(mail: &InvitationMail<'_>) -> String {
    let who = match mail.inviter {
        Some(name) => format!("{} invited you", quoted(name)),
        None => "You are invited".to_string(),
    };
    format!(
        "Hello,\n\n\
         {who} to join the team {tenant} on Keyward, as {role}.\n\n\
         Open this link to accept. It works once, until {expires}:\n\n\
         {link}\n\n\
         If you did not expect this invitation, ignore this mail: nothing happens unless the link is opened.\n",
        tenant = quoted(mail.tenant_name),
        role = mail.role,
        expires = mail.expires,
        link = mail.link,
    )
}

/// What a leaked-key mail says. It names the key by its name and display hint (prefix
/// and last four characters), never its value.
pub struct LeakedKeyMail<'a> {
    pub key_name: &'a str,
    pub display_hint: &'a str,
    /// `Some(name)` for a service account's key (the mail goes to the tenant's admins).
    pub service_account: Option<&'a str>,
    pub tenant_name: &'a str,
    pub location: &'a str,
    pub found_by: &'a str,
    pub at: &'a str,
}

/// The plain-text body of a leaked-key mail.
pub fn leaked_key_body(mail: &LeakedKeyMail<'_>) -> String {
    let whose = match mail.service_account {
        Some(name) => format!("of the service account {}", quoted(name)),
        None => "of yours".to_string(),
    };
    format!(
        "Hello,\n\n\
         The API key {key} ({hint}) {whose} in the team {tenant} on Keyward was found where others could read it:\n\n\
         {location}\n\n\
         It was reported by {found_by} at {at}, and Keyward revoked it at once: it no longer works.\n\n\
         What to do now:\n\
         - make a new key for whatever used this one;\n\
         - remove the old value from where it was found, and from that place's history;\n\
         - look at the team's audit log for what was done with the key, and at the keys and service accounts made through it, which still work.\n",
        key = quoted(mail.key_name),
        hint = mail.display_hint,
        tenant = quoted(mail.tenant_name),
        location = quoted(mail.location),
        found_by = mail.found_by,
        at = mail.at,
    )
}

/// Why a send failed. `reason` is what tenant admins see: a category and the server's
/// code, never the server's words (which may name the operator's account or other
/// people's addresses). `detail` is for the log: the server's words, one bounded line,
/// with anything like an address removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Trying again cannot help: the server refused the recipient or the message for good.
    /// A refusal of the sign-in or the sender (a rotated password, a relay's setting) is
    /// the operator's to fix and is retried.
    pub permanent: bool,
    pub reason: String,
    pub detail: String,
}

/// Where in the exchange with the SMTP server a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting, the greeting, EHLO, STARTTLS.
    Connect,
    /// AUTH.
    SignIn,
    /// MAIL FROM.
    Sender,
    /// RCPT TO (or an address that cannot be used).
    Recipient,
    /// DATA and the message.
    Message,
}

impl SendFailure {
    /// A failure at `stage`: with the server's reply `code` (`None`: no reply, the
    /// connection failed or timed out), whether that code is a 5xx, and the log's words.
    pub fn at(stage: Stage, code: Option<&str>, code_permanent: bool, detail: &str) -> Self {
        let see_logs = "; the operator can see why in the logs";
        let reason = match (stage, code) {
            (Stage::Connect, None) => format!("the mail server could not be reached{see_logs}"),
            (Stage::Connect, Some(c)) => {
                format!("the mail server refused the connection ({c}){see_logs}")
            }
            (Stage::SignIn, None) => format!("signing in to the mail server failed{see_logs}"),
            (Stage::SignIn, Some(c)) => {
                format!("the mail server refused Keyward's sign-in ({c}){see_logs}")
            }
            (Stage::Sender, Some(c)) => {
                format!("the mail server refused the sender ({c}){see_logs}")
            }
            (Stage::Recipient, Some(c)) => format!("the mail server refused the recipient ({c})"),
            (Stage::Message, Some(c)) => format!("the mail server refused the message ({c})"),
            (_, None) => format!("the connection to the mail server failed{see_logs}"),
        };
        Self {
            permanent: code_permanent
                && code.is_some()
                && matches!(stage, Stage::Recipient | Stage::Message),
            reason,
            detail: log_line(detail),
        }
    }

    /// An address this client will not send to: given up at once.
    fn unusable_address(why: &str) -> Self {
        Self {
            permanent: true,
            reason: "the recipient's address cannot be used".into(),
            detail: log_line(why),
        }
    }

    /// The send ran past its time budget at `stage`: tried again.
    fn out_of_time(stage: Stage) -> Self {
        Self {
            permanent: false,
            reason: "the mail server did not answer in time".into(),
            detail: format!("the send ran past its time budget ({stage:?})"),
        }
    }

    /// A failure lettre reports at `stage`; one without a reply that came when the
    /// send's `deadline` had (all but) passed is the send running out of time.
    fn smtp(
        stage: Stage,
        deadline: Instant,
    ) -> impl FnOnce(lettre::transport::smtp::Error) -> Self {
        move |e| {
            let code = e.status().map(|c| c.to_string());
            let late = Instant::now() + Duration::from_millis(50) >= deadline;
            if code.is_none() && (late || e.is_timeout()) {
                let mut failure = Self::out_of_time(stage);
                failure.detail = log_line(&format!("{} ({e})", failure.detail));
                return failure;
            }
            Self::at(stage, code.as_deref(), e.is_permanent(), &e.to_string())
        }
    }
}

/// A server's words as the log shows them: one line, at most 300 characters, and every
/// word with an `@` (`<bob@example.com>:`, `user@host`) replaced by `[address]`.
pub fn log_line(text: &str) -> String {
    let line = text
        .split_whitespace()
        .map(|word| {
            if word.contains('@') {
                "[address]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > 300 {
        line.chars().take(300).collect::<String>() + "…"
    } else {
        line
    }
}

/// The SMTP client, built once at start-up. It speaks SMTP through lettre's blocking
/// connection, step by step, so that it knows at which step a failure came (only a refusal
/// of the recipient or the message is for good) and bounds the whole send by a deadline
/// as well as each read and write by `io_timeout`. It runs on the outbox worker's own
/// thread, never on a request's.
#[derive(Clone)]
pub struct Mailer {
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: TlsParameters,
    credentials: Option<Credentials>,
    hello: ClientId,
    from: Mailbox,
    io_timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    /// The client for `settings`, each read and write bounded by `io_timeout`.
    pub fn new(settings: &MailSettings, io_timeout: Duration) -> Result<Self, String> {
        let smtp = &settings.smtp;
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("--mail-from is not a mail address: {e}"))?;
        let tls = TlsParameters::new(smtp.host.clone())
            .map_err(|e| format!("cannot set up TLS for the SMTP server {smtp}: {e}"))?;
        let credentials = smtp.user.as_ref().map(|user| {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            Credentials::new(user.clone(), password)
        });
        Ok(Self {
            host: smtp.host.clone(),
            port: smtp.port,
            security: smtp.security,
            tls,
            credentials,
            hello: ClientId::default(),
            from,
            io_timeout,
        })
    }

    /// Sends one mail of `kind` with `body` to `to`, giving up at `deadline`. Blocking.
    pub fn send(
        &self,
        kind: MailKind,
        to: &str,
        body: &str,
        deadline: Instant,
    ) -> Result<(), SendFailure> {
        let unusable = |why: &str| SendFailure::unusable_address(why);
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| unusable(&format!("the recipient's address is not valid ({e})")))?;
        mailable_domain(to.email.domain()).map_err(unusable)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(kind.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| {
                SendFailure::at(
                    Stage::Message,
                    None,
                    false,
                    &format!("the mail could not be built ({e})"),
                )
            })?;
        let mut conn = self.connect(deadline)?;
        let sent = self.transact(&mut conn, &message, deadline);
        // QUIT, briefly: the outcome is known already.
        let _ = conn.set_timeout(Some(self.io_timeout.min(Duration::from_secs(1))));
        conn.abort();
        sent
    }

    /// How long the next step may take: what is left before `deadline`, at most
    /// `io_timeout`; out of time when nothing is left.
    fn step_timeout(&self, stage: Stage, deadline: Instant) -> Result<Duration, SendFailure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SendFailure::out_of_time(stage));
        }
        Ok(left.min(self.io_timeout))
    }

    fn step(
        &self,
        conn: &mut SmtpConnection,
        stage: Stage,
        deadline: Instant,
    ) -> Result<(), SendFailure> {
        let timeout = self.step_timeout(stage, deadline)?;
        conn.set_timeout(Some(timeout))
            .map_err(|e| SendFailure::at(stage, None, false, &e.to_string()))
    }

    /// Connects, greets, secures (as `--smtp-url` says) and signs in.
    fn connect(&self, deadline: Instant) -> Result<SmtpConnection, SendFailure> {
        let timeout = self.step_timeout(Stage::Connect, deadline)?;
        let wrapper = (self.security == SmtpSecurity::ImplicitTls).then_some(&self.tls);
        let mut conn = SmtpConnection::connect(
            (self.host.as_str(), self.port),
            Some(timeout),
            &self.hello,
            wrapper,
            None,
        )
        .map_err(SendFailure::smtp(Stage::Connect, deadline))?;
        let starttls = match self.security {
            SmtpSecurity::ImplicitTls => false,
            SmtpSecurity::StartTlsRequired => true,
            SmtpSecurity::StartTlsOpportunistic => conn.can_starttls(),
        };
        if starttls {
            self.step(&mut conn, Stage::Connect, deadline)?;
            conn.starttls(&self.tls, &self.hello)
                .map_err(SendFailure::smtp(Stage::Connect, deadline))?;
        }
        if let Some(credentials) = &self.credentials {
            self.step(&mut conn, Stage::SignIn, deadline)?;
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .map_err(SendFailure::smtp(Stage::SignIn, deadline))?;
        }
        Ok(conn)
    }

    /// MAIL FROM, RCPT TO, DATA and the message, each step's failure named by its stage.
    fn transact(
        &self,
        conn: &mut SmtpConnection,
        message: &Message,
        deadline: Instant,
    ) -> Result<(), SendFailure> {
        let envelope = message.envelope();
        let email = message.formatted();
        let mut options = Vec::new();
        let non_ascii_address = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(SendFailure::unusable_address(
                    "the address is not ASCII and the mail server does not offer SMTPUTF8",
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !email.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(conn, Stage::Sender, deadline)?;
        conn.command(Mail::new(envelope.from().cloned(), options))
            .map_err(SendFailure::smtp(Stage::Sender, deadline))?;
        for to in envelope.to() {
            self.step(conn, Stage::Recipient, deadline)?;
            conn.command(Rcpt::new(to.clone(), vec![]))
                .map_err(SendFailure::smtp(Stage::Recipient, deadline))?;
        }
        self.step(conn, Stage::Message, deadline)?;
        conn.command(Data)
            .map_err(SendFailure::smtp(Stage::Message, deadline))?;
        self.step(conn, Stage::Message, deadline)?;
        conn.message(&email)
            .map_err(SendFailure::smtp(Stage::Message, deadline))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_mail_body_are_quoted_and_cannot_break_its_lines() {
        let body = invitation_body(&InvitationMail {
            inviter: Some("Ada\r\nBcc: eve@example.com"),
            tenant_name: "Acme",
            role: "User",
            link: "https://keys.example.com/t/acme/join/x",
            expires: "2026-12-08 10:00 UTC",
        });
        assert!(
            body.contains("“Ada  Bcc: eve@example.com” invited you"),
            "{body}"
        );
        assert!(body.contains("the team “Acme”"));
    }

    #[test]
    fn unicode_line_and_paragraph_separators_in_names_become_spaces() {
        let body = invitation_body(&InvitationMail {
            inviter: Some("Ada\u{2028}Your password expired: https://evil.example\u{2029}"),
            tenant_name: "Acme\u{0085}Corp\tInc",
            role: "User",
            link: "https://keys.example.com/t/acme/join/x",
            expires: "2026-12-08 10:00 UTC",
        });
        assert!(
            !body.contains(['\u{2028}', '\u{2029}', '\u{0085}', '\t']),
            "{body:?}"
        );
        assert!(
            body.contains("“Ada Your password expired: https://evil.example” invited you")
                && body.contains("the team “Acme Corp Inc”"),
            "{body}"
        );
    }

    #[test]
    fn mail_goes_to_dns_names_only() {
        for ok in ["grace@example.com", "grace@mail.example.co.uk"] {
            assert!(check_address("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "grace@[10.0.0.5]",
            "grace@[IPv6:::1]",
            "grace@10.0.0.5",
            "grace@localhost",
            "grace@intranet",
        ] {
            assert!(check_address("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_refusals_of_the_recipient_or_the_message_are_for_good() {
        let at = |stage, code| SendFailure::at(stage, Some(code), code.starts_with('5'), "x");
        assert!(at(Stage::Recipient, "550").permanent);
        assert!(at(Stage::Message, "554").permanent);
        assert!(!at(Stage::Recipient, "451").permanent);
        // A rotated password, a sender the relay no longer takes: the operator fixes it
        // and the queue goes out.
        assert!(!at(Stage::SignIn, "535").permanent);
        assert!(!at(Stage::Sender, "550").permanent);
        assert!(!at(Stage::Connect, "554").permanent);
        assert!(!SendFailure::at(Stage::Message, None, false, "broken pipe").permanent);
    }

    #[test]
    fn admins_see_a_category_and_a_code_and_the_log_no_address() {
        let f = SendFailure::at(
            Stage::SignIn,
            Some("535"),
            true,
            "permanent error (535): 5.7.8 Username and Password not accepted for ops@corp.example",
        );
        assert_eq!(
            f.reason,
            "the mail server refused Keyward's sign-in (535); the operator can see why in the logs"
        );
        assert!(f.detail.contains("Username and Password not accepted"));
        assert!(!f.detail.contains("ops@corp"), "{}", f.detail);
        let f = SendFailure::at(
            Stage::Recipient,
            Some("550"),
            true,
            "permanent error (550): 5.1.1 <bob@corp.example>: User unknown\r\nmore",
        );
        assert_eq!(f.reason, "the mail server refused the recipient (550)");
        assert_eq!(
            f.detail,
            "permanent error (550): 5.1.1 [address] User unknown more"
        );
        let f = SendFailure::at(Stage::Connect, None, false, "Connection refused");
        assert_eq!(
            f.reason,
            "the mail server could not be reached; the operator can see why in the logs"
        );
    }
}
