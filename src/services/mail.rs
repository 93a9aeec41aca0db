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
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

/// The kinds of mail, each with its fixed subject. Stored as the outbox row's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Invitation,
    PasswordReset,
}

impl MailKind {
    pub const ALL: [MailKind; 2] = [MailKind::Invitation, MailKind::PasswordReset];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "mail.invitation",
            MailKind::PasswordReset => "mail.password_reset",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    pub fn subject(self) -> &'static str {
        match self {
            MailKind::Invitation => "You are invited to join a team on Keyward",
            MailKind::PasswordReset => "Reset your Keyward password",
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
pub fn check_address(field: &'static str, address: &str) -> Result<(), AppError> {
    address
        .parse::<lettre::Address>()
        .map(drop)
        .map_err(|_| AppError::invalid(field, "is not an address mail can be sent to"))
}

/// A name as the body of a mail shows it: in quotes, without control characters (the
/// domain types already refuse them; this holds for any text).
fn quoted(name: &str) -> String {
    let clean: String = name
        .chars()
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

/// Why a send failed: `permanent` when trying again cannot help (the server refused the
/// message or an address for good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub permanent: bool,
    pub reason: String,
}

impl SendFailure {
    fn permanent(reason: impl Into<String>) -> Self {
        Self {
            permanent: true,
            reason: reason.into(),
        }
    }
}

/// The SMTP client, built once at start-up. The blocking transport: it runs on the
/// outbox worker's own thread, never on a request's.
#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    /// The client for `settings`, each exchange bounded by `timeout`.
    pub fn new(settings: &MailSettings, timeout: Duration) -> Result<Self, String> {
        let smtp = &settings.smtp;
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("--mail-from is not a mail address: {e}"))?;
        let tls_parameters = || {
            TlsParameters::new(smtp.host.clone())
                .map_err(|e| format!("cannot set up TLS for the SMTP server {smtp}: {e}"))
        };
        let tls = match smtp.security {
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::StartTlsRequired => Tls::Required(tls_parameters()?),
            SmtpSecurity::StartTlsOpportunistic => Tls::Opportunistic(tls_parameters()?),
        };
        let mut builder = SmtpTransport::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(user) = &smtp.user {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one mail of `kind` with `body` to `to`. Blocking, at most the timeout per
    /// exchange with the server.
    pub fn send(&self, kind: MailKind, to: &str, body: &str) -> Result<(), SendFailure> {
        let to = to.parse::<Mailbox>().map_err(|e| {
            SendFailure::permanent(format!("the recipient's address is not valid ({e})"))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(kind.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendFailure::permanent(format!("the mail could not be built ({e})")))?;
        self.transport.send(&message).map(drop).map_err(|e| {
            let mut reason = e.to_string();
            // The reason is shown to admins and logged: bounded, one line.
            reason = reason.replace(['\r', '\n'], " ");
            if reason.chars().count() > 300 {
                reason = reason.chars().take(300).collect::<String>() + "…";
            }
            SendFailure {
                permanent: e.is_permanent(),
                reason,
            }
        })
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
            body.contains("“AdaBcc: eve@example.com” invited you"),
            "{body}"
        );
        assert!(body.contains("the team “Acme”"));
    }
}
