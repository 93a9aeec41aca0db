//! Account recovery (issue 26): a new password for someone who cannot sign in.
//!
//! - **The operator** (`keyward admin set-password`) sets one directly.
//! - **"Forgot your password?"** mails a one-time link to the address stored on the
//!   account (never the one typed), built only from `--public-url`. The answer is the same
//!   for known and unknown addresses, after nearly the same work (the request is counted,
//!   a token made and digested, one transaction run with the same reads either way; only a
//!   known account's link, mail and audit lines are then inserted). No new link while one
//!   younger than `REISSUE_AFTER` exists.
//!   Requests are counted per address and per account by `guess_limits`
//!   (`Purpose::PasswordReset`).
//! - **An admin's reset link**, made on Team › Members (never with an API key), for people
//!   who belong to no tenant the admin does not administer (checked again when the link is
//!   used): mailed to the person's stored address when the server mails links, else shown
//!   once.
//!
//! A link's token has 256 bits from the thread's CSPRNG and is stored as its SHA-256; it
//! is valid `VALID_FOR`. A newer link of the account deletes the older ones (and their
//! unsent mail); a password change by any path voids them, as each link keeps the
//! account's credential epoch from when it was made. Opening the link (GET) consumes
//! nothing — mail scanners prefetch links — but exchanges the token for a state: a second
//! random value whose digest the link's row keeps for `STATE_VALID_FOR` and which the
//! browser carries in an HttpOnly cookie to a page whose URL has no token. The new
//! password is set by a POST with that state, once (the row is deleted by the request
//! that wins). Setting it ends every session of the account, lifts its sign-in lockouts,
//! and signs nobody in: the person then signs in as usual.
//!
//! Every step is audited in each tenant the account belongs to; requests and openings as
//! done by someone not signed in, with the client's address.

use crate::db::models::password_reset::PasswordReset;
use crate::db::models::{Account, AuditEvent, Membership, SessionRow};
use crate::db::DbConnection;
use crate::domain::api_key::random_secret;
use crate::domain::{new_id, AccountId, AuditAction, TenantId, TokenDigest};
use crate::error::AppError;
use crate::services::actor::ActorKind;
use crate::services::audit::{self, Event};
use crate::services::guess_limits::{self, credential_epoch, Limit, Purpose};
use crate::services::mail::{self, MailKind, MailLinks};
use crate::services::passwords::HashedPassword;
use crate::services::permissions::{self, Permission};
use crate::services::sign_in::normalise_email;
use crate::services::{outbox, transaction, Actor};
use std::collections::{HashMap, HashSet};
use time::{Duration, PrimitiveDateTime};

/// How long a link works.
pub const VALID_FOR: Duration = Duration::hours(1);
/// How long the page a link opened may set the password (at most the link's own life).
pub const STATE_VALID_FOR: Duration = Duration::minutes(15);
/// While a link younger than this exists, "Forgot your password?" makes no new one (the
/// same answer, no mail): anyone could otherwise void a person's link again and again.
pub const REISSUE_AFTER: Duration = Duration::minutes(5);
/// 43 characters of 62: 256 bits.
const TOKEN_LEN: usize = 43;

/// Where a link points, under a base URL.
pub fn link_path(token: &str) -> String {
    format!("/reset-password/{token}")
}

const LINK_NOT_VALID: &str = "this password reset link does not work: it was used, a newer link replaced it, the password was changed since, or its hour is over. Ask for a new one on the sign-in page (\"Forgot your password?\")";
const STATE_NOT_VALID: &str = "this page has expired or its link was used: open the link from your mail again, or ask for a new one on the sign-in page";

/// An admin's new link. No Debug.
pub struct IssuedLink {
    /// The token, to show once, when the link was not mailed; `None` when it was mailed to
    /// the person's stored address (then it exists only in the mail).
    pub token: Option<String>,
    pub expires_at: PrimitiveDateTime,
    pub account: Account,
}

/// Makes a link for `account`, deleting its older links and their unsent mail.
fn issue(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    digest: TokenDigest,
    created_by: Option<&str>,
) -> Result<PasswordReset, AppError> {
    PasswordReset::lock_account(conn, &account.id)?;
    for old in PasswordReset::delete_all_of_account_returning(conn, &account.id)? {
        outbox::cancel_about(conn, &old, now)?;
    }
    let row = PasswordReset {
        id: new_id(),
        account_id: account.id.clone(),
        token_digest: digest.into_inner(),
        epoch: credential_epoch(account.password_hash.as_deref()),
        created_by: created_by.map(str::to_string),
        created_at: now,
        expires_at: now + VALID_FOR,
        state_digest: None,
        state_expires_at: None,
    };
    row.insert(conn)?;
    Ok(row)
}

/// Queues the mail of a link to `to` (no tenant: an account spans tenants); cancelled if
/// the link goes before it is sent.
fn queue_mail(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    row: &PasswordReset,
    to: &str,
    payload: String,
) -> Result<(), AppError> {
    outbox::enqueue(
        conn,
        now,
        outbox::NewMessage {
            kind: MailKind::PasswordReset.as_str(),
            tenant_id: None,
            about_id: Some(row.id.clone()),
            recipient: to.to_string(),
            payload,
        },
    )
    .map(drop)
}

/// One audit event in each tenant the account belongs to (in none when it belongs to
/// none, so the event is still kept).
fn audit_everywhere(
    conn: &mut DbConnection,
    by: &By<'_>,
    now: PrimitiveDateTime,
    account: &Account,
    action: AuditAction,
    detail: &str,
) -> Result<(), AppError> {
    let mut tenants: Vec<Option<String>> = Membership::tenants_of(conn, &account.id)?
        .into_iter()
        .map(|(tenant, _)| Some(tenant.id))
        .collect();
    if tenants.is_empty() {
        tenants.push(None);
    }
    for tenant_id in &tenants {
        let event = Event {
            tenant_id: tenant_id.as_deref(),
            action,
            target_id: Some(&account.id),
            detail: detail.to_string(),
        };
        match by {
            By::Actor(actor) => audit::record(conn, actor, now, event)?,
            By::NotSignedIn(ip) => AuditEvent {
                id: new_id(),
                tenant_id: event.tenant_id.map(str::to_string),
                actor_id: None,
                actor_key_id: None,
                action: action.to_string(),
                target_id: Some(account.id.clone()),
                detail: event.detail,
                ip: ip.clone(),
                at: now,
                actor_key_name: None,
            }
            .insert(conn)?,
        }
    }
    Ok(())
}

/// Who an audit line names.
enum By<'a> {
    Actor(&'a Actor),
    /// Someone not signed in, known only by the client's address: whoever asks for a reset
    /// mail or opens a link need not be the account's owner, so the line names no account.
    NotSignedIn(Option<String>),
}

/// The person the normalised email names, if any (service accounts have no password).
fn person_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<Account>, AppError> {
    Ok(Account::find_by_email(conn, email)?.filter(|a| !a.is_service_account()))
}

/// The new password is stored, every session of the account ends, its links go, and its
/// sign-in lockouts are lifted. In the caller's transaction.
fn store_new_password(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    hash: HashedPassword,
) -> Result<(), AppError> {
    Account::set_password_hash(conn, &account.id, &hash.into_inner())?;
    SessionRow::delete_all_of_account(conn, &account.id)?;
    for old in PasswordReset::delete_all_of_account_returning(conn, &account.id)? {
        outbox::cancel_about(conn, &old, now)?;
    }
    crate::services::two_factor::end_pending_sign_ins(conn, &account.account_id())?;
    let email = normalise_email(account.email.as_deref().unwrap_or_default())?;
    guess_limits::lift(conn, Purpose::Password, &email)?;
    Ok(())
}

// ---- the operator ----

/// `keyward admin set-password`: sets the person's password, ends their sessions, voids
/// their reset links, lifts their sign-in lockouts; audited as the operator.
pub fn set_password_by_operator(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: &str,
    password: HashedPassword,
) -> Result<Account, AppError> {
    if !actor.is_operator() {
        return Err(AppError::forbidden(
            "only the operator (keyward admin) sets another person's password",
        ));
    }
    let email = normalise_email(email)?;
    let account = person_by_email(conn, &email)?
        .ok_or_else(|| AppError::not_found(format!("no person has the email {email}")))?;
    transaction(conn, |conn| {
        store_new_password(conn, now, &account, password)?;
        audit_everywhere(
            conn,
            &By::Actor(actor),
            now,
            &account,
            AuditAction::PasswordSetByOperator,
            "password set by the operator (keyward admin set-password); sessions ended, sign-in lockouts lifted",
        )
    })?;
    Ok(account)
}

// ---- "Forgot your password?" ----

/// What the reset mail says.
pub fn reset_mail_body(email: &str, link: &str, expires: &str) -> String {
    let email: String = email.chars().filter(|c| !c.is_control()).collect();
    format!(
        "Hello,\n\n\
         Someone asked to reset the password of the Keyward account {email}.\n\n\
         Open this link to choose a new password. It works once, until {expires}:\n\n\
         {link}\n\n\
         Setting a new password signs out every session of the account; you then sign in with it.\n\n\
         If you did not ask for this, ignore this mail: your password stays as it is.\n"
    )
}

fn format_utc(at: PrimitiveDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// "Forgot your password?": counts the request against the address and the account and,
/// when the email names a person, mails a link to the address stored on the account. The
/// same answer (`Ok`) whether or not it does; refused alike for known and unknown emails
/// when a limit is reached. `ip` is the client's address as the server believes it.
pub fn request_by_mail(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    links: &MailLinks,
    email: &str,
    ip: &str,
) -> Result<(), AppError> {
    let base = links.base("email")?.to_string();
    let email = normalise_email(email)?;
    if email.is_empty() {
        return Err(AppError::invalid("email", "enter your email address"));
    }
    // No account can have such an address, and PostgreSQL refuses a NUL in text.
    if email.chars().any(char::is_control) {
        return Ok(());
    }
    let account = person_by_email(conn, &email)?;
    let account_id = account.as_ref().map(|a| a.id.as_str());
    let counted = guess_limits::begin(
        conn,
        now,
        Purpose::PasswordReset,
        &email,
        account_id,
        ip,
        None,
    )?;
    let requester = By::NotSignedIn(Some(ip.to_string()));
    if let Err(refusal) = counted {
        if let Some(account) = account.as_ref().filter(|_| refusal.audit_due) {
            transaction(conn, |conn| {
                audit_everywhere(
                    conn,
                    &requester,
                    now,
                    account,
                    AuditAction::PasswordResetRefused,
                    &format!(
                        "password reset requests for this account's email refused (by someone not signed in, from {ip}): {}; refused for {} more minutes (further refusals are not recorded)",
                        limit_words(refusal.limit),
                        refusal.minutes_left(now)
                    ),
                )
            })?;
        }
        let minutes = refusal.minutes_left(now);
        let plural = if minutes == 1 { "" } else { "s" };
        return Err(AppError::TooManyRequests(format!(
            "too many password reset requests for this email or from your address; try again in {minutes} minute{plural}"
        )));
    }
    // Known or not, the same steps: a token made and digested, then one transaction that
    // locks the account's row, reads its newest link and its tenants. Only a known,
    // mailable account whose newest link is older than `REISSUE_AFTER` then writes its
    // link, its mail and its audit lines (see docs/SECURITY.md for what differs).
    let token = random_secret(TOKEN_LEN);
    let digest = TokenDigest::of(&token);
    let mailable = account.filter(|a| {
        a.email
            .as_deref()
            .is_some_and(|to| mail::check_address("email", to).is_ok())
    });
    let looked_up = mailable.as_ref().map_or("", |a| a.id.as_str()).to_string();
    transaction(conn, |conn| {
        PasswordReset::lock_account(conn, &looked_up)?;
        let newest = PasswordReset::newest_of_account(conn, &looked_up)?;
        let tenants = Membership::tenants_of(conn, &looked_up)?;
        let (Some(account), None) = (
            mailable.as_ref(),
            newest.filter(|at| now < *at + REISSUE_AFTER),
        ) else {
            std::hint::black_box((&digest, tenants));
            return Ok(());
        };
        let to = account.email.clone().unwrap_or_default();
        let row = issue(conn, now, account, digest.clone(), None)?;
        let link = format!("{base}{}", link_path(&token));
        let body = reset_mail_body(&to, &link, &format_utc(row.expires_at));
        queue_mail(conn, now, &row, &to, body)?;
        audit_everywhere(
            conn,
            &requester,
            now,
            account,
            AuditAction::PasswordResetRequested,
            &format!("a password reset link was requested (by someone not signed in, from {ip}) and mailed to the account's address (valid one hour; older links void)"),
        )
    })
}

fn limit_words(limit: Limit) -> String {
    let (max, whose) = match limit {
        Limit::AccountFromAddress => (guess_limits::MAX_PAIR, "for this account from one address"),
        Limit::Address => (guess_limits::MAX_ADDRESS, "from one address"),
        Limit::Account => (guess_limits::MAX_ACCOUNT, "for this account"),
        Limit::Device => (guess_limits::MAX_DEVICE, "from one browser"),
    };
    format!(
        "{max} within {} minutes {whose}",
        guess_limits::WINDOW.whole_minutes()
    )
}

// ---- opening a link and setting the password ----

/// The live link with this token's digest, and its account; `None` when unknown, expired,
/// voided by a password change since, or made by an admin who could not make it now.
fn live_link(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    row: Option<PasswordReset>,
) -> Result<Option<(PasswordReset, Account)>, AppError> {
    let Some(row) = row.filter(|r| now < r.expires_at) else {
        return Ok(None);
    };
    let Some(account) = Account::find(conn, &row.account_id)? else {
        return Ok(None);
    };
    if credential_epoch(account.password_hash.as_deref()) != row.epoch {
        return Ok(None);
    }
    if let Some(creator) = row.created_by.as_deref() {
        if !creator_still_may(conn, creator, &account)? {
            return Ok(None);
        }
    }
    Ok(Some((row, account)))
}

/// Whether the admin who made a link could make it now: checked when the link is opened
/// and when it sets the password, not only when it was made, so a link does not outlive
/// the admin's role, nor reach a tenant the person joined since. The person must still
/// belong to a tenant, each administered by the link's maker.
fn creator_still_may(
    conn: &mut DbConnection,
    creator: &str,
    account: &Account,
) -> Result<bool, AppError> {
    if Account::find(conn, creator)?.is_none() {
        return Ok(false);
    }
    let maker = Actor::person(creator, None, crate::services::SingleSignOn::Satisfied);
    let administered = administered_by(conn, &maker)?;
    let of: Vec<String> = Membership::tenants_of(conn, &account.id)?
        .into_iter()
        .map(|(t, _)| t.id)
        .collect();
    Ok(!of.is_empty() && refusal_for(&maker, account, &of, &administered).is_none())
}

/// Opening a link (GET): consumes nothing; gives the link a new state, returned to be
/// carried in a cookie to the token-free page. A newer opening replaces an older one's.
pub fn open_link(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &str,
    ip: Option<String>,
) -> Result<String, AppError> {
    transaction(conn, |conn| {
        let row = PasswordReset::find_by_token(conn, &TokenDigest::of(token).into_inner())?;
        let (row, account) =
            live_link(conn, now, row)?.ok_or_else(|| AppError::not_found(LINK_NOT_VALID))?;
        let state = random_secret(TOKEN_LEN);
        let until = (now + STATE_VALID_FOR).min(row.expires_at);
        // 0 rows: the link went (used or replaced) since it was read.
        if PasswordReset::set_state(conn, &row.id, &TokenDigest::of(&state).into_inner(), until)?
            == 0
        {
            return Err(AppError::not_found(LINK_NOT_VALID));
        }
        // Audited at the first opening only: each further one replaces the state and
        // would add a line per request.
        if row.state_digest.is_none() {
            audit_everywhere(
                conn,
                &By::NotSignedIn(ip),
                now,
                &account,
                AuditAction::PasswordResetOpened,
                "the password reset link was opened (by someone not signed in: a mail scanner's prefetch opens it too)",
            )?;
        }
        Ok(state)
    })
}

/// Whose password the page a link opened sets: the account's email, to show.
pub fn state_email(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    state: &str,
) -> Result<String, AppError> {
    let (_, account) = live_state(conn, now, state)?;
    Ok(account.email.unwrap_or_default())
}

fn live_state(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    state: &str,
) -> Result<(PasswordReset, Account), AppError> {
    if state.is_empty() {
        return Err(AppError::not_found(STATE_NOT_VALID));
    }
    let row = PasswordReset::find_by_state(conn, &TokenDigest::of(state).into_inner())?
        .filter(|r| r.state_expires_at.is_some_and(|t| now < t));
    live_link(conn, now, row)?.ok_or_else(|| AppError::not_found(STATE_NOT_VALID))
}

/// Checks the state before the new password is hashed (no hash for a dead page).
pub fn check_state(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    state: &str,
) -> Result<(), AppError> {
    live_state(conn, now, state).map(drop)
}

/// Sets the new password with the state a link's opening gave, once: of several requests
/// with it, one wins and the others are refused. Ends every session of the account, lifts
/// its sign-in lockouts, voids its other links; signs nobody in.
pub fn reset_password(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    state: &str,
    password: HashedPassword,
    ip: Option<String>,
) -> Result<Account, AppError> {
    transaction(conn, |conn| {
        let (row, account) = live_state(conn, now, state)?;
        let state_digest = TokenDigest::of(state).into_inner();
        if PasswordReset::take(conn, &row.id, &state_digest)? != 1 {
            return Err(AppError::not_found(STATE_NOT_VALID));
        }
        store_new_password(conn, now, &account, password)?;
        // Identities linked to the account go: one linked with a leaked password must not
        // outlive the reset. The removal is recorded, as an unlink records it: the email
        // verified just below must not link any identity again by itself (whoever claims
        // the address at the provider would get the account back without the password);
        // the owner links theirs again with the new password (services::oidc).
        use crate::db::models::oidc::OidcIdentity;
        let links_last_used = OidcIdentity::last_sign_in_of_account(conn, &account.id)?;
        let unlinked = OidcIdentity::delete_of_account(conn, &account.id)?;
        if unlinked > 0 {
            crate::db::models::oidc::record_link_removal(conn, &account.id, now, links_last_used)?;
        }
        // A link mailed to the address was used: its owner receives mail there (what lets
        // single sign-on link a provider's same, verified email; services::oidc).
        if row.created_by.is_none() {
            if let Some(email) = account.email.as_deref() {
                crate::db::models::oidc::set_verified_email(conn, &account.id, email, now)?;
            }
        }
        let actor = Actor::person(
            account.id.clone(),
            ip,
            crate::services::SingleSignOn::Satisfied,
        );
        let how = match row.created_by.as_deref() {
            Some(admin) => format!("a reset link made by the admin {admin}"),
            None => "a link mailed to the account's address".to_string(),
        };
        audit_everywhere(
            conn,
            &By::Actor(&actor),
            now,
            &account,
            AuditAction::PasswordResetCompleted,
            &format!("password set through {how}; sessions ended, sign-in lockouts lifted"),
        )?;
        Ok(account)
    })
}

// ---- an admin's reset link ----

/// Why an admin may not make a reset link for `target` in `tenant_id`; `None`: they may.
/// Service accounts have no password; one's own password is changed on User › Password;
/// and an account that belongs to a tenant the admin does not administer is not theirs to
/// take over.
fn refusal_for(
    actor: &Actor,
    target: &Account,
    tenants_of_target: &[String],
    administered: &HashSet<String>,
) -> Option<&'static str> {
    if target.is_service_account() {
        Some("service accounts have no password: they use API keys")
    } else if actor.is(&target.id) {
        Some("change your own password on User › Password")
    } else if tenants_of_target.iter().any(|t| !administered.contains(t)) {
        Some("this person also belongs to a team you do not administer: an admin of every team they belong to, or the operator (keyward admin set-password), can reset their password")
    } else {
        None
    }
}

/// The tenants where the actor manages people.
fn administered_by(conn: &mut DbConnection, actor: &Actor) -> Result<HashSet<String>, AppError> {
    let Some(id) = actor.account_id() else {
        return Ok(HashSet::new());
    };
    let mut out = HashSet::new();
    for (tenant, _) in Membership::tenants_of(conn, id.as_str())? {
        if permissions::allows(conn, actor, &tenant.tenant_id(), Permission::ManagePeople)? {
            out.insert(tenant.id);
        }
    }
    Ok(out)
}

/// Which of these members of `tenant_id` the actor is offered a reset link for (Team ›
/// Members; never to an API key): one query for the memberships of the page's members,
/// whatever its size, plus the actor's own tenants and roles (`administered_by`).
pub fn reset_link_offered(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    members: &[Account],
) -> Result<HashSet<String>, AppError> {
    if matches!(actor.kind, ActorKind::ApiKey(_))
        || !permissions::allows(conn, actor, tenant_id, Permission::ManagePeople)?
    {
        return Ok(HashSet::new());
    }
    let administered = administered_by(conn, actor)?;
    let ids: Vec<String> = members.iter().map(|a| a.id.clone()).collect();
    let mut tenants: HashMap<String, Vec<String>> = HashMap::new();
    for (account_id, tenant) in PasswordReset::memberships_of(conn, &ids)? {
        tenants.entry(account_id).or_default().push(tenant);
    }
    Ok(members
        .iter()
        .filter(|a| {
            let of = tenants.get(&a.id).map(Vec::as_slice).unwrap_or_default();
            refusal_for(actor, a, of, &administered).is_none()
        })
        .map(|a| a.id.clone())
        .collect())
}

/// What the mail of an admin's link says.
pub fn admin_link_mail_body(email: &str, admin: &str, link: &str, expires: &str) -> String {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let (email, admin) = (clean(email), clean(admin));
    format!(
        "Hello,\n\n\
         {admin}, an admin of your team on Keyward, made a link to reset the password of the account {email}.\n\n\
         Open this link to choose a new password. It works once, until {expires}:\n\n\
         {link}\n\n\
         Setting a new password signs out every session of the account; you then sign in with it.\n\n\
         If you did not expect this, ignore this mail (your password stays as it is) and ask {admin} why.\n"
    )
}

/// An admin's reset link for a member of `tenant_id`, made in the dashboard only (never
/// with an API key: a leaked key must not become a person's account). When `links` can be
/// mailed, the link goes to the address stored on the person's account, so they learn of
/// it and the admin never sees it; otherwise (teams without mail) it is returned to be
/// shown once and passed on by hand. Replaces the person's older links. It never signs
/// anyone in: the person sets a password, then signs in as usual.
pub fn create_reset_link(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    account_id: &AccountId,
    links: &MailLinks,
) -> Result<IssuedLink, AppError> {
    if !matches!(actor.kind, ActorKind::Person { .. }) {
        return Err(AppError::forbidden(
            "password reset links are made on Team › Members in the dashboard, signed in; never with an API key",
        ));
    }
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let target = match Membership::find(conn, account_id.as_str(), tenant_id.as_str())? {
            Some(_) => Account::find(conn, account_id.as_str())?,
            None => None,
        }
        .ok_or_else(|| AppError::not_found("no member of this tenant has this id"))?;
        let administered = administered_by(conn, actor)?;
        let of: Vec<String> = Membership::tenants_of(conn, &target.id)?
            .into_iter()
            .map(|(t, _)| t.id)
            .collect();
        if let Some(why) = refusal_for(actor, &target, &of, &administered) {
            return Err(AppError::forbidden(why));
        }
        let token = random_secret(TOKEN_LEN);
        let row = issue(
            conn,
            now,
            &target,
            TokenDigest::of(&token),
            actor.account_id().map(AccountId::as_str),
        )?;
        let mail_to = match (links.base("email"), target.email.as_deref()) {
            (Ok(base), Some(to)) if mail::check_address("email", to).is_ok() => {
                Some((base.to_string(), to.to_string()))
            }
            _ => None,
        };
        let how = match &mail_to {
            Some((base, to)) => {
                let admin = match actor.account_id() {
                    Some(id) => Account::find(conn, id.as_str())?
                        .and_then(|a| a.email)
                        .unwrap_or_else(|| id.to_string()),
                    None => "an admin".to_string(),
                };
                let link = format!("{base}{}", link_path(&token));
                let body = admin_link_mail_body(to, &admin, &link, &format_utc(row.expires_at));
                queue_mail(conn, now, &row, to, body)?;
                "mailed to the account's address"
            }
            None => "shown once to the admin (no mail)",
        };
        audit_everywhere(
            conn,
            &By::Actor(actor),
            now,
            &target,
            AuditAction::PasswordResetLinkCreated,
            &format!(
                "an admin made a password reset link (valid one hour, {how}; older links void)"
            ),
        )?;
        Ok(IssuedLink {
            token: mail_to.is_none().then_some(token),
            expires_at: row.expires_at,
            account: target,
        })
    })
}

/// Housekeeping: links past their hour.
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(PasswordReset::delete_expired(conn, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_body_keeps_the_address_on_its_line() {
        let body = reset_mail_body(
            "ada@example.com\r\nBcc: eve@example.com",
            "https://keys.example.com/reset-password/x",
            "2026-12-08 10:00 UTC",
        );
        assert!(body.contains("account ada@example.comBcc: eve@example.com."));
        assert!(body.contains("https://keys.example.com/reset-password/x\n"));
    }
}
