//! `keyward admin …`: operator commands for bootstrap and scripts. Each calls the same
//! services the server uses, as the operator actor. Bad input and conflicts exit 2.

use super::CliError;
use crate::config::{DatabaseArgs, Settings};
use crate::db::{Database, DbConnection};
use crate::domain::clock::rfc3339;
use crate::domain::LeakSource;
use crate::domain::{
    Clock, Email, ExpiresAt, KeyName, Password, PersonName, Role, TenantName, TenantSlug,
};
use crate::services::key_leaks::{self, Finding, FoundToken};
use crate::services::passwords::HashedPassword;
use crate::services::{accounts, api_keys, members, recovery, service_accounts, tenants, Actor};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Read};

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Print one JSON object instead of text
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant
    CreateTenant {
        /// Display name, e.g. "Acme Corp"
        #[arg(long)]
        name: String,
        /// URL name: 1-40 characters of a-z, 0-9 and -
        #[arg(long)]
        slug: String,
    },
    /// Delete a tenant with its members, service accounts, keys and invitations
    DeleteTenant {
        /// The tenant's slug
        #[arg(long)]
        slug: String,
        /// Delete without asking for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Create a person's account (the password is read from standard input)
    CreateUser {
        /// Email address (stored lowercased; must be unique)
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Read the password from standard input (required: passwords are never arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a person's password (read from standard input): ends their sessions, voids
    /// their reset links and lifts their sign-in lockouts; audited as the operator
    SetPassword {
        /// The person's email
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords are never arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Add a person to a tenant with a role
    AddMember {
        /// The person's email
        #[arg(long)]
        email: String,
        /// The tenant's slug
        #[arg(long)]
        tenant: String,
        /// admin, user or read-only
        #[arg(long, value_name = "admin|user|read-only")]
        role: String,
    },
    /// Create a service account in a tenant (ADMIN there by default)
    CreateServiceAccount {
        /// The tenant's slug
        #[arg(long)]
        tenant: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Its role in the tenant: admin, user or read-only
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Create an API key and print it once
    CreateKey {
        /// The owner: a person's email, or an account id (people or service accounts)
        #[arg(long, value_name = "EMAIL_OR_ID")]
        account: String,
        /// The tenant's slug the key serves
        #[arg(long)]
        tenant: String,
        /// The key's name, 1-100 characters
        #[arg(long)]
        name: String,
        /// When the key stops working, RFC 3339 (e.g. 2031-01-01T00:00:00Z) [default: never]
        #[arg(long, value_name = "RFC3339")]
        expires_at: Option<String>,
        /// The key runs queries only: every mutation through it is refused
        #[arg(long)]
        read_only: bool,
    },
    /// Revoke an API key at once, whoever owns it (audited as the operator)
    RevokeKey {
        /// The key's id
        #[arg(long)]
        id: String,
    },
    /// Revoke a key found leaked, its value read from standard input (never an argument):
    /// audited as api_key.leaked with --location, its owner (for a service account's key,
    /// the tenant's admins) mailed. Exit 2 when no stored key has that value
    RevokeToken {
        /// Read the key's value from standard input, a file or a pipe (required: keys are
        /// never arguments; a terminal is refused, it would echo the key)
        #[arg(long, required = true)]
        stdin: bool,
        /// Where the key was found: a URL, a file, a ticket
        #[arg(long, value_name = "WHERE")]
        location: Option<String>,
    },
    /// Turn two-factor authentication off for a person who lost their device (audited as
    /// the operator); their next sign-in needs the password only
    ResetTwoFactor {
        /// The person's email
        #[arg(long)]
        email: String,
    },
    /// Stop requiring single sign-on of a tenant's members (audited as the operator): the
    /// way back when the identity provider is gone or misconfigured; their passwords sign
    /// them in again
    StopRequiringSso {
        /// The tenant's slug
        #[arg(long)]
        tenant: String,
    },
    /// List the identities at OpenID providers linked to a person's account
    ListSsoLinks {
        /// The person's email
        #[arg(long)]
        email: String,
    },
    /// Remove one identity link of a person's account (audited as the operator); every
    /// session of the account ends. Their next sign-in through the provider links again
    /// only by the usual rules (an email Keyward verified, or the account's password)
    RemoveSsoLink {
        /// The person's email
        #[arg(long)]
        email: String,
        /// The provider's issuer URL, as `list-sso-links` prints it
        #[arg(long)]
        issuer: String,
        /// The person's `sub` at that provider, as `list-sso-links` prints it
        #[arg(long)]
        subject: String,
    },
    /// Copy a SQLite database into a new file while the server runs (PostgreSQL: pg_dump)
    Backup {
        /// The backup file to create (never overwritten)
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
    /// Prove a SQLite backup opens, passes the integrity check and migrates (on a copy)
    RestoreCheck {
        /// The backup file
        file: std::path::PathBuf,
    },
}

pub fn run(db: &DatabaseArgs, args: AdminArgs) -> Result<(), CliError> {
    let url = Settings::database_url(db).map_err(CliError::usage)?;
    // These two never migrate or write the live database.
    let copied = match &args.command {
        AdminCommand::Backup { to } => Some(super::backup::backup(&url, to)?),
        AdminCommand::RestoreCheck { file } => Some(super::backup::restore_check(file)?),
        _ => None,
    };
    if let Some((text, value)) = copied {
        return print(args.json, text, value);
    }
    let quotas = Settings::quotas(db).map_err(CliError::usage)?;
    // Read stdin before opening the database so a prompt never waits on a lock.
    let from_stdin = match &args.command {
        AdminCommand::CreateUser { .. } | AdminCommand::SetPassword { .. } => {
            Some(read_password()?)
        }
        AdminCommand::RevokeToken { .. } => Some(read_found_key()?),
        _ => None,
    };
    let mut conn = Database::connect_once(&url).map_err(CliError::failure)?;
    let conn: &mut DbConnection = &mut conn;
    let clock = Clock::system();
    let now = clock.now();
    let operator = Actor::operator();
    let (text, value) = match args.command {
        AdminCommand::CreateTenant { name, slug } => {
            let t = tenants::create_tenant(
                conn,
                &operator,
                now,
                TenantName::parse(&name)?,
                TenantSlug::parse(&slug)?,
            )?;
            (
                format!("created tenant {} ({}) with id {}", t.name, t.slug, t.id),
                json!({ "id": t.id, "slug": t.slug, "name": t.name }),
            )
        }
        AdminCommand::DeleteTenant { slug, yes } => {
            let tenant = tenants::find_by_slug(conn, &slug)?;
            if !yes {
                confirm(&format!(
                    "Delete tenant {} ({}) with all its members, service accounts and keys? Type the slug to confirm: ",
                    tenant.name, tenant.slug
                ), &tenant.slug)?;
            }
            let t = tenants::delete_tenant(conn, &operator, now, &slug)?;
            (
                format!("deleted tenant {} ({})", t.name, t.slug),
                json!({ "id": t.id, "slug": t.slug, "deleted": true }),
            )
        }
        AdminCommand::CreateUser { email, name, .. } => {
            let password = Password::parse_new(from_stdin.as_deref().unwrap_or_default())?;
            let password = HashedPassword::of(&password)?;
            let a = accounts::create_user(
                conn,
                &operator,
                now,
                Email::parse(&email)?,
                PersonName::parse(&name)?,
                password,
            )?;
            (
                format!(
                    "created {} <{}> with id {}",
                    a.name,
                    a.email.as_deref().unwrap_or_default(),
                    a.id
                ),
                json!({ "id": a.id, "email": a.email, "name": a.name }),
            )
        }
        AdminCommand::SetPassword { email, .. } => {
            let password = Password::parse_new(from_stdin.as_deref().unwrap_or_default())?;
            let password = HashedPassword::of(&password)?;
            let a = recovery::set_password_by_operator(conn, &operator, now, &email, password)?;
            (
                format!(
                    "set the password of {} <{}>; their sessions ended and their sign-in lockouts were lifted",
                    a.name,
                    a.email.as_deref().unwrap_or_default()
                ),
                json!({ "id": a.id, "email": a.email, "password_set": true }),
            )
        }
        AdminCommand::AddMember {
            email,
            tenant,
            role,
        } => {
            let role = Role::parse(&role)?;
            let t = tenants::find_by_slug(conn, &tenant)?;
            let a = accounts::find_by_email_or_id(conn, &Email::parse(&email)?.into_inner())?;
            members::add_member(conn, &operator, now, &t.tenant_id(), &a.account_id(), role)?;
            (
                format!("added {} to {} as {}", a.name, t.slug, role.cli_name()),
                json!({ "account_id": a.id, "tenant_id": t.id, "role": role.as_str() }),
            )
        }
        AdminCommand::CreateServiceAccount { tenant, name, role } => {
            let role = Role::parse(&role)?;
            let t = tenants::find_by_slug(conn, &tenant)?;
            let a = service_accounts::create_service_account_within(
                conn,
                &operator,
                now,
                &t.tenant_id(),
                PersonName::parse(&name)?,
                role,
                &quotas,
            )?;
            (
                format!(
                    "created service account {} in {} with id {}",
                    a.name, t.slug, a.id
                ),
                json!({ "id": a.id, "name": a.name, "tenant_id": t.id }),
            )
        }
        AdminCommand::CreateKey {
            account,
            tenant,
            name,
            expires_at,
            read_only,
        } => {
            let t = tenants::find_by_slug(conn, &tenant)?;
            let a = accounts::find_by_email_or_id(conn, &account)?;
            let expires_at = expires_at
                .as_deref()
                .map(|e| ExpiresAt::parse_rfc3339(e, now))
                .transpose()?;
            let created = api_keys::create_api_key(
                conn,
                &operator,
                now,
                api_keys::NewApiKey {
                    account_id: a.account_id(),
                    tenant_id: Some(t.tenant_id()),
                    name: KeyName::parse(&name)?,
                    expires_at,
                    read_only,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                crate::domain::ApiKeyId::generate(),
                &quotas,
            )?;
            let secret = created.token.expose_secret().to_string();
            let expires = created.key.expires_at.map(rfc3339);
            (
                format!(
                    "{secret}\n\nThis is the only time this key is shown: store it now.\nkey id {} for {} in {}, expires {}",
                    created.key.id,
                    a.name,
                    t.slug,
                    expires.as_deref().unwrap_or("never")
                ),
                json!({ "id": created.key.id, "key": secret, "tenant_id": t.id, "account_id": a.id, "expires_at": expires, "read_only": created.key.read_only }),
            )
        }
        AdminCommand::RevokeKey { id } => {
            let id = crate::domain::ApiKeyId::parse_as("id", &id)?;
            let key = api_keys::revoke_api_key(conn, &operator, now, &id)?;
            (
                format!("revoked key {} ({})", key.id, key.name),
                json!({ "id": key.id, "revoked": true }),
            )
        }
        AdminCommand::RevokeToken { location, .. } => {
            let finding = Finding::new(
                from_stdin.as_deref().unwrap_or_default(),
                location.as_deref(),
                LeakSource::Operator,
            );
            if matches!(finding.token, FoundToken::NotAKey) {
                return Err(CliError::usage(
                    "standard input holds no Keyward API key (kwu_… or kws_…, 40 characters with a valid checksum); nothing was revoked",
                ));
            }
            let Some(leak) = key_leaks::revoke_found_key(conn, &operator, now, &finding, None)?
            else {
                return Err(CliError::usage(
                    "no stored key has that value: it is unknown or was revoked already; nothing was revoked",
                ));
            };
            let whose = if leak.service_account {
                format!("the service account {}", leak.owner_name)
            } else {
                leak.owner_name.clone()
            };
            (
                format!(
                    "revoked key {} \"{}\" ({}) of {} in {}; audited as api_key.leaked at {}; {} mail(s) queued{}",
                    leak.key_id,
                    leak.key_name,
                    leak.display_hint,
                    whose,
                    leak.tenant_name,
                    finding.location,
                    leak.mailed,
                    match leak.mails_held_back {
                        0 => String::new(),
                        n => format!(", {n} held back (mailed about a leaked key of this team within the hour, or the team's {} a day reached)", key_leaks::LEAK_MAILS_PER_TENANT_PER_DAY),
                    }
                ),
                json!({ "revoked": true, "key_id": leak.key_id, "name": leak.key_name, "display_hint": leak.display_hint, "tenant_id": leak.tenant_id, "mailed": leak.mailed, "mails_held_back": leak.mails_held_back }),
            )
        }
        AdminCommand::ResetTwoFactor { email } => {
            let a = crate::services::two_factor::reset_by_operator(conn, &operator, now, &email)?;
            let email = a.email.unwrap_or_default();
            (
                format!("two-factor authentication is off for {email}: their next sign-in needs the password only"),
                json!({ "account_id": a.id, "email": email, "two_factor": false }),
            )
        }
        AdminCommand::StopRequiringSso { tenant } => {
            let t = tenants::find_by_slug(conn, &tenant)?;
            crate::services::oidc::set_tenant_requirement(
                conn,
                &operator,
                now,
                &t.tenant_id(),
                false,
                None,
            )?;
            (
                format!("{} ({}) no longer requires single sign-on: its members may sign in with their passwords again", t.name, t.slug),
                json!({ "tenant_id": t.id, "slug": t.slug, "sso_required": false }),
            )
        }
        AdminCommand::ListSsoLinks { email } => {
            let account = person_by_email(conn, &email)?;
            let links =
                crate::services::oidc::identities_of(conn, &operator, &account.account_id())?;
            let text = match links.is_empty() {
                true => format!("{email} has no identity provider link"),
                false => links
                    .iter()
                    .map(|l| {
                        format!(
                            "issuer {} subject {} linked {} last sign-in {}",
                            l.issuer,
                            l.subject,
                            rfc3339(l.created_at),
                            rfc3339(l.last_sign_in_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            let value = json!({ "account_id": account.id, "links": links.iter().map(|l| json!({ "issuer": l.issuer, "subject": l.subject, "created_at": rfc3339(l.created_at), "last_sign_in_at": rfc3339(l.last_sign_in_at) })).collect::<Vec<_>>() });
            (text, value)
        }
        AdminCommand::RemoveSsoLink {
            email,
            issuer,
            subject,
        } => {
            let account = person_by_email(conn, &email)?;
            // The operator may remove any link, the last one included: no configured
            // issuer needed.
            crate::services::oidc::unlink(
                conn,
                &operator,
                now,
                &account.account_id(),
                &issuer,
                &subject,
                None,
            )?;
            (
                format!(
                    "removed the link of {email} to {subject} at {issuer}; their sessions ended"
                ),
                json!({ "account_id": account.id, "issuer": issuer, "subject": subject, "removed": true }),
            )
        }
        AdminCommand::Backup { .. } | AdminCommand::RestoreCheck { .. } => {
            unreachable!("answered before the database is opened")
        }
    };
    print(args.json, text, value)
}

/// The person account with this email, or a clear refusal.
fn person_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<crate::db::models::Account, CliError> {
    let email = crate::services::sign_in::normalise_email(email)?;
    crate::db::models::Account::find_by_email(conn, &email)
        .map_err(crate::error::AppError::from)?
        .ok_or_else(|| CliError::usage(format!("no account has the email {email}")))
}

fn print(json: bool, text: String, value: serde_json::Value) -> Result<(), CliError> {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
    Ok(())
}

fn read_password() -> Result<String, CliError> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut text = String::new();
    stdin.read_to_string(&mut text).map_err(|e| {
        CliError::usage(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(password.to_string())
}

/// A found key's value from standard input: at most 4 KiB read, surrounding whitespace
/// dropped. Never echoed: a terminal is refused (it would show the key as it is pasted,
/// and keep it in the scrollback), so the key comes from a file or a pipe.
fn read_found_key() -> Result<String, CliError> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::usage(
            "standard input is a terminal, which would show the key as you paste it: pipe the key in: keyward admin revoke-token --stdin < file",
        ));
    }
    let mut text = String::new();
    stdin
        .by_ref()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("cannot read the key from standard input: {e}")))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(CliError::usage(
            "standard input is empty: pipe the key's value into this command (keyward admin revoke-token --stdin < file)",
        ));
    }
    Ok(key.to_string())
}

fn confirm(prompt: &str, expected: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "refusing to delete without confirmation: pass --yes",
        ));
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failure(e.to_string()))?;
    if line.trim() == expected {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed; nothing was deleted"))
    }
}
