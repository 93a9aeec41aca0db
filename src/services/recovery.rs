//! Account recovery (issue 26): a new password for someone who cannot sign in.
//!
//! - **The operator** (`keyward admin set-password`) sets one directly.
//! - **"Forgot your password?"** mails a one-time link to the address stored on the
//!   account (never the one typed), built only from `--public-url`. The answer is the same
//!   for known and unknown addresses, after the same work (the request is counted, a token
//!   made and digested either way; only a known account's link is stored and mailed).
//!   Requests are counted per address and per account by `guess_limits`
//!   (`Purpose::PasswordReset`).
//! - **An admin's reset link**, shown once on Team › Members, for people who belong to no
//!   tenant the admin does not administer.
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
//! Every step is audited in each tenant the account belongs to.

use crate::db::models::password_reset::PasswordReset;
use crate::db::models::{Account, Membership, SessionRow};
use crate::db::DbConnection;
use crate::domain::api_key::random_secret;
use crate::domain::{new_id, TokenDigest};
use crate::error::AppError;
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
/// 43 characters of 62: 256 bits.
const TOKEN_LEN: usize = 43;

/// Where a link points, under a base URL.
pub fn link_path(token: &str) -> String {
    format!("/reset-password/{token}")
}

const LINK_NOT_VALID: &str = "this password reset link does not work: it was used, a newer link replaced it, the password was changed since, or its hour is over. Ask for a new one on the sign-in page (\"Forgot your password?\")";
const STATE_NOT_VALID: &str = "this page has expired or its link was used: open the link from your mail again, or ask for a new one on the sign-in page";

/// A new link: its token exists only in this value (and in the mail). No Debug.
pub struct IssuedLink {
    pub token: String,
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

/// One audit event in each tenant the account belongs to (in none when it belongs to
/// none, so the event is still kept).
fn audit_everywhere(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    account: &Account,
    action: &'static str,
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
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: tenant_id.as_deref(),
                action,
                target_id: Some(&account.id),
                detail: detail.to_string(),
            },
        )?;
    }
    Ok(())
}

/// The person the normalised email names, if any (service accounts have no password).
fn person_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<Account>, AppError> {
    Ok(Account::find_by_email(conn, email)?.filter(|a| !a.is_service_account()))
}

/// The new password is stored, every session of the account ends, its links go, and its
/// sign-in lockouts are lifted. In the caller's transaction.
fn store_new_password(
    conn: &mut DbConnection,
    account: &Account,
    hash: HashedPassword,
) -> Result<(), AppError> {
    Account::set_password_hash(conn, &account.id, &hash.into_inner())?;
    SessionRow::delete_all_of_account(conn, &account.id)?;
    PasswordReset::delete_all_of_account(conn, &account.id)?;
    crate::services::two_factor::end_pending_sign_ins(conn, &account.id)?;
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
        store_new_password(conn, &account, password)?;
        audit_everywhere(
            conn,
            actor,
            now,
            &account,
            "password_reset.set_by_operator",
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
    if let Err(refusal) = counted {
        if let Some(account) = account.as_ref().filter(|_| refusal.audit_due) {
            let actor = Actor::person(account.id.clone(), Some(ip.to_string()));
            transaction(conn, |conn| {
                audit_everywhere(
                    conn,
                    &actor,
                    now,
                    account,
                    "password_reset.refused",
                    &format!(
                        "password reset requests refused: {}; refused for {} more minutes (further refusals are not recorded)",
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
    // The token is made and digested for unknown emails too: the same work either way.
    let token = random_secret(TOKEN_LEN);
    let digest = TokenDigest::of(&token);
    let Some(account) = account else {
        std::hint::black_box(digest);
        return Ok(());
    };
    let Some(to) = account.email.clone() else {
        return Ok(());
    };
    if mail::check_address("email", &to).is_err() {
        return Ok(());
    }
    let actor = Actor::person(account.id.clone(), Some(ip.to_string()));
    transaction(conn, |conn| {
        let row = issue(conn, now, &account, digest, None)?;
        let link = format!("{base}{}", link_path(&token));
        outbox::enqueue(
            conn,
            now,
            outbox::NewMessage {
                kind: MailKind::PasswordReset.as_str(),
                tenant_id: None,
                about_id: Some(row.id.clone()),
                recipient: to.clone(),
                payload: reset_mail_body(&to, &link, &format_utc(row.expires_at)),
            },
        )?;
        audit_everywhere(
            conn,
            &actor,
            now,
            &account,
            "password_reset.requested",
            "a password reset link was requested and mailed to the account's address (valid one hour; older links void)",
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
/// or voided by a password change since.
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
    Ok(Some((row, account)))
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
        PasswordReset::set_state(conn, &row.id, &TokenDigest::of(&state).into_inner(), until)?;
        // Audited at the first opening only: each further one replaces the state and
        // would add a line per request.
        if row.state_digest.is_none() {
            let actor = Actor::person(account.id.clone(), ip);
            audit_everywhere(
                conn,
                &actor,
                now,
                &account,
                "password_reset.opened",
                "the password reset link was opened",
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
        store_new_password(conn, &account, password)?;
        let actor = Actor::person(account.id.clone(), ip);
        let how = match row.created_by {
            Some(_) => "an admin's reset link",
            None => "a link mailed to the account's address",
        };
        audit_everywhere(
            conn,
            &actor,
            now,
            &account,
            "password_reset.completed",
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
    for (tenant, _) in Membership::tenants_of(conn, id)? {
        if permissions::allows(conn, actor, &tenant.id, Permission::ManagePeople)? {
            out.insert(tenant.id);
        }
    }
    Ok(out)
}

/// Which of these members of `tenant_id` the actor is offered a reset link for (Team ›
/// Members): two queries for a page, whatever its size.
pub fn reset_link_offered(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &str,
    members: &[Account],
) -> Result<HashSet<String>, AppError> {
    if !permissions::allows(conn, actor, tenant_id, Permission::ManagePeople)? {
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

/// An admin's reset link for a member of `tenant_id`, to pass on by hand (teams without
/// mail). Replaces the person's older links. It never signs anyone in: the person sets a
/// password, then signs in as usual.
pub fn create_reset_link(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &str,
    account_id: &str,
) -> Result<IssuedLink, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let account_id = crate::domain::ids::parse_id("user_id", account_id)?;
        let target = match Membership::find(conn, &account_id, tenant_id)? {
            Some(_) => Account::find(conn, &account_id)?,
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
            actor.account_id(),
        )?;
        audit_everywhere(
            conn,
            actor,
            now,
            &target,
            "password_reset.link_created",
            "an admin made a password reset link (valid one hour, shown once; older links void)",
        )?;
        Ok(IssuedLink {
            token,
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
