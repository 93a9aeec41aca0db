//! Leaked keys (issue 29): a key's value found where others can read it (by a
//! self-managed GitLab's secret detection, an operator, a tenant admin) is turned into its
//! key the way authentication does it (format and checksum, then the digest's unique
//! index), and a stored key is revoked at once through the one revocation path
//! (`api_keys::delete_key_audited`), so its very next request is refused on every
//! instance. In the same transaction: `api_key.leaked` is audited with where it was found
//! and who said so, and a mail naming the key, the tenant and the place is queued to its
//! owner (for a service account's key: the tenant's human admins), never to the one who
//! reported it, and within the leak mails' own bounds (`queue_mails`).
//!
//! - **Nothing revealed.** A value that is no key, an unknown key and a key revoked
//!   already all answer `None` and change nothing; the caller answers them alike. The
//!   dashboard is scoped to its tenant: another tenant's key is answered exactly as an
//!   unknown one (and its permission is checked before the lookup, so a non-admin
//!   learns nothing either).
//! - **Idempotent.** The second report of a key finds nothing; two reports at once are
//!   ordered by the tenant's lock, and the later one finds the key gone.
//! - **Possession is the permission.** Whoever holds a key's value can already use it to
//!   revoke it; revoking it here needs no role (but Team › Security asks for an admin of
//!   its tenant, and the GitLab route for the pre-shared token).
//! - **The value goes nowhere.** It is digested and dropped: the audit line and the mail
//!   name the key by its name and display hint, and a location holding the value has it
//!   replaced (`LeakLocation`). Expired keys are revoked too (they are still stored); a
//!   rotated key in its overlap likewise.
//!
//! Keys and service accounts made through the leaked key are left alone: they may be
//! what the owner's systems run on, and the mail tells the owner to review them.

use crate::db::models::{Account, ApiKey, Membership, Tenant};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::clock::rfc3339;
use crate::domain::{AuditAction, LeakLocation, LeakSource, PlainToken, TenantId};
use crate::error::AppError;
use crate::services::mail::{self, MailKind};
use crate::services::permissions::{self, Permission};
use crate::services::{api_keys, audit, outbox, transaction, Actor};
use time::PrimitiveDateTime;

/// The most admins one leak of a service account's key is mailed to.
pub const MAX_ADMINS_MAILED: i64 = 50;

/// The most leaked-key mails one tenant queues in 24 hours; later findings are still
/// revoked and audited, not mailed.
pub const LEAK_MAILS_PER_TENANT_PER_DAY: i64 = 50;

/// One address gets at most one leaked-key mail from a tenant in this window; it tells
/// them to look at the audit log, which lists every later one.
pub const LEAK_MAIL_INTERVAL: time::Duration = time::Duration::hours(1);

/// A report of a found key.
#[derive(Debug)]
pub struct Finding {
    /// The value as found; anything that is not a Keyward key is simply not found.
    pub token: FoundToken,
    pub location: LeakLocation,
    pub source: LeakSource,
}

/// A found value: a well-formed key (its checksum holds) or not. `Debug` prints no secret.
#[derive(Debug)]
pub enum FoundToken {
    Key(PlainToken),
    NotAKey,
}

impl FoundToken {
    /// Parses `raw` (trimmed) as a key; no I/O.
    pub fn parse(raw: &str) -> Self {
        PlainToken::parse(raw.trim()).map_or(FoundToken::NotAKey, FoundToken::Key)
    }
}

impl Finding {
    /// A finding of `raw` at `location`, the location cleaned (and the value removed from
    /// it).
    pub fn new(raw: &str, location: Option<&str>, source: LeakSource) -> Self {
        Self {
            token: FoundToken::parse(raw),
            location: LeakLocation::clean(location, raw.trim()),
            source,
        }
    }
}

/// What was revoked, for the one who reported it. Names, never the value.
#[derive(Debug, Clone)]
pub struct RevokedLeak {
    pub key_id: String,
    pub key_name: String,
    pub display_hint: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub owner_name: String,
    pub service_account: bool,
    /// How many mails were queued (the owner, or the tenant's admins).
    pub mailed: usize,
    /// How many of them were not, held back by the leak mails' bounds (`queue_mails`).
    pub mails_held_back: usize,
}

/// Whether `actor` may revoke found keys of `tenant_id` (Team › Security): FORBIDDEN,
/// saying why, when not. Reads only.
pub fn check_access(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<(), AppError> {
    permissions::require(conn, actor, tenant_id, Permission::RevokeFoundKeys).map(drop)
}

/// Revokes the key `finding` names, when it is stored (and, with `within_tenant`, only
/// when it serves that tenant, whose admin `actor` must be). `None`: nothing was changed,
/// whether the value is no key, an unknown key, a revoked one or another tenant's.
pub fn revoke_found_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    finding: &Finding,
    within_tenant: Option<&TenantId>,
) -> Result<Option<RevokedLeak>, AppError> {
    transaction(conn, |conn| {
        if let Some(tenant_id) = within_tenant {
            permissions::require(conn, actor, tenant_id, Permission::RevokeFoundKeys)?;
        }
        let FoundToken::Key(token) = &finding.token else {
            return Ok(None);
        };
        let Some(key) = ApiKey::find_by_digest(conn, token.digest().as_str())? else {
            return Ok(None);
        };
        if within_tenant.is_some_and(|t| *t != key.tenant_id) {
            return Ok(None);
        }
        // A report of the same key running at once waits here, then finds it gone.
        lock_tenant(conn, &key.tenant_id)?;
        let Some(key) = ApiKey::find(conn, &key.id)? else {
            return Ok(None);
        };
        let owner = Account::find(conn, &key.account_id)?
            .ok_or_else(|| AppError::internal("a stored key's account is missing"))?;
        let tenant = Tenant::find(conn, &key.tenant_id)?
            .ok_or_else(|| AppError::internal("a stored key's tenant is missing"))?;
        let source = finding.source;
        api_keys::delete_key_audited(
            conn,
            actor,
            now,
            &key,
            &format!("revoked: found leaked, reported by {}", source.describe()),
        )?;
        let mails = queue_mails(conn, actor, now, &key, &owner, &tenant, finding)?;
        let detail = format!(
            "key \"{}\" ({}) of {} found at {}, reported by {}; {}",
            key.name,
            key.display_hint,
            owner.name,
            finding.location,
            source.describe(),
            mails.describe()
        );
        record_leak(conn, actor, now, &key, detail)?;
        crate::services::webhooks::enqueue_event(
            conn,
            now,
            &key.tenant(),
            crate::services::webhooks::WebhookEvent::ApiKeyLeaked,
            serde_json::json!({
                "id": key.id,
                "name": key.name,
                "display_hint": key.display_hint,
                "user_id": key.account_id,
                "tenant_id": key.tenant_id,
                "location": finding.location.to_string(),
                "reported_by": source.describe(),
            }),
        )?;
        let (mailed, mails_held_back) = (mails.queued, mails.held_back);
        Ok(Some(RevokedLeak {
            key_id: key.id,
            key_name: key.name,
            display_hint: key.display_hint,
            tenant_id: tenant.id,
            tenant_name: tenant.name,
            service_account: owner.is_service_account(),
            owner_name: owner.name,
            mailed,
            mails_held_back,
        }))
    })
}

/// `api_key.leaked` in the key's tenant, by the actor: an admin, an operator, or GitLab
/// (an operator's actor with the address its report came from).
fn record_leak(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key: &ApiKey,
    detail: String,
) -> Result<(), AppError> {
    audit::record(
        conn,
        actor,
        now,
        audit::Event {
            tenant_id: Some(&key.tenant_id),
            action: AuditAction::ApiKeyLeaked,
            target_id: Some(&key.id),
            detail,
        },
    )
}

/// What became of a leak's mails.
struct Mails {
    queued: usize,
    /// Recipients not mailed because of `LEAK_MAIL_INTERVAL` or
    /// `LEAK_MAILS_PER_TENANT_PER_DAY`.
    held_back: usize,
}

impl Mails {
    fn describe(&self) -> String {
        let mut text = format!("{} mail(s) queued", self.queued);
        if self.held_back > 0 {
            text.push_str(&format!(
                ", {} held back (at most one leaked-key mail an hour to an address, {LEAK_MAILS_PER_TENANT_PER_DAY} a day per team)",
                self.held_back
            ));
        }
        text
    }
}

/// The mails about a leaked key: to its owner, or, for a service account's key, to the
/// tenant's human admins (at most `MAX_ADMINS_MAILED`), but never to the person who
/// reported it (an admin pasting a key on Team › Security knows already).
///
/// Bounded on their own, not by the daily mail quotas (which guard invitations and do not
/// count these, `outbox::queued_in_the_last_day`): an admin can make keys and report them
/// in a loop, so each address gets at most one leaked-key mail from a tenant per
/// `LEAK_MAIL_INTERVAL`, and a tenant queues at most `LEAK_MAILS_PER_TENANT_PER_DAY` of
/// them in 24 hours. A finding past those is revoked and audited all the same (its audit
/// line says how many mails were held back). Called under the tenant's lock, so the
/// counts hold with several instances. Queued whether or not this instance mails: another
/// instance may, and housekeeping gives up what none sends within a day.
fn queue_mails(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key: &ApiKey,
    owner: &Account,
    tenant: &Tenant,
    finding: &Finding,
) -> Result<Mails, AppError> {
    let reporter = match actor.account_id() {
        Some(id) => Account::find(conn, id.as_str())?.and_then(|a| a.email),
        None => None,
    };
    let recipients: Vec<String> = if owner.is_service_account() {
        Membership::human_admin_emails(conn, &tenant.id, MAX_ADMINS_MAILED)?
    } else {
        owner.email.iter().cloned().collect()
    }
    .into_iter()
    .filter(|to| {
        !reporter
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(to))
    })
    .collect();
    let at = rfc3339(now);
    let body = mail::leaked_key_body(&mail::LeakedKeyMail {
        key_name: &key.name,
        display_hint: &key.display_hint,
        service_account: owner.is_service_account().then_some(owner.name.as_str()),
        tenant_name: &tenant.name,
        location: finding.location.as_str(),
        found_by: finding.source.describe(),
        at: &at,
    });
    let kind = MailKind::KeyLeaked;
    let mut today = outbox::queued_of_kind_since(
        conn,
        now - outbox::QUOTA_WINDOW,
        &tenant.tenant_id(),
        kind,
        None,
    )?;
    let mut mails = Mails {
        queued: 0,
        held_back: 0,
    };
    for to in recipients {
        if mail::check_address("email", &to).is_err() {
            continue;
        }
        let lately = outbox::queued_of_kind_since(
            conn,
            now - LEAK_MAIL_INTERVAL,
            &tenant.tenant_id(),
            kind,
            Some(&to),
        )?;
        if lately > 0 || today >= LEAK_MAILS_PER_TENANT_PER_DAY {
            mails.held_back += 1;
            continue;
        }
        outbox::enqueue(
            conn,
            now,
            outbox::NewMessage {
                kind: kind.as_str(),
                tenant_id: Some(tenant.id.clone()),
                about_id: Some(key.id.clone()),
                recipient: to,
                payload: body.clone(),
            },
        )?;
        mails.queued += 1;
        today += 1;
    }
    Ok(mails)
}
