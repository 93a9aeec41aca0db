//! One-time invitation links: created by human admins with a role, valid 24 hours, stored
//! by the digest of their token; whoever holds one, signed in, joins with that role. A
//! link made with an email is mailed there (through the outbox) and bound to it: a new
//! account made through it takes that address, an existing account must have it.

use crate::db::models::Account;
use crate::db::models::{Invitation, Membership};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::api_key::random_secret;
use crate::domain::quotas::{QuotaSetting, Quotas};
use crate::domain::{
    new_id, AuditAction, Email, InvitationId, InvitationNote, PersonName, Role, TenantId,
    TokenDigest,
};
use crate::error::AppError;
use crate::services::actor::ActorKind;
use crate::services::audit::{self, Event};
use crate::services::mail::{self, MailKind, MailLinks};
use crate::services::members::{self, insert_membership};
use crate::services::outbox;
use crate::services::passwords::HashedPassword;
use crate::services::permissions::{self, Permission};
use crate::services::{transaction, Actor};
use time::{Duration, PrimitiveDateTime};

pub const VALID_FOR: Duration = Duration::hours(24);

/// A new invitation and its token, which exists only in this value.
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub token: String,
    /// The address its link was mailed to (queued in the outbox, sent in the background).
    pub mailed_to: Option<String>,
}

impl std::fmt::Debug for CreatedInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedInvitation")
            .field("invitation", &self.invitation)
            .finish_non_exhaustive()
    }
}

/// What an admin asks for: a role, an optional note for the admins, and optionally the
/// address the link is mailed to (and the invitation bound to).
#[derive(Debug, Clone)]
pub struct InvitationRequest {
    pub role: Role,
    pub note: Option<InvitationNote>,
    pub email: Option<Email>,
}

impl InvitationRequest {
    pub fn role(role: Role) -> Self {
        Self {
            role,
            note: None,
            email: None,
        }
    }
}

/// `create_invitation_within` the default quotas, unmailed (for tests).
pub fn create_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    role: Role,
) -> Result<CreatedInvitation, AppError> {
    create_invitation_within(
        conn,
        actor,
        now,
        tenant_id,
        InvitationRequest::role(role),
        &Quotas::default(),
        &MailLinks::default(),
    )
}

/// Creates a one-time link, refused when the tenant has `max_pending_invitations_per_tenant`
/// links neither used nor expired. The note is for the admins, to tell pending links apart.
/// With an email, the invitation is bound to that address and its link is mailed there
/// (the mail is queued in this transaction); refused when this server cannot mail links
/// (no `--smtp-url`, or no `--public-url` to build them from).
pub fn create_invitation_within(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    request: InvitationRequest,
    quotas: &Quotas,
    mail: &MailLinks,
) -> Result<CreatedInvitation, AppError> {
    let InvitationRequest { role, note, email } = request;
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let link_base = match &email {
            Some(to) => {
                let base = mail.base("email")?.to_string();
                mail::check_address("email", to.as_str())?;
                Some(base)
            }
            None => None,
        };
        lock_tenant(conn, tenant_id.as_str())?;
        let limit = quotas.max_pending_invitations_per_tenant;
        if Invitation::count_pending_of(conn, tenant_id.as_str(), now)? >= limit {
            return Err(AppError::Conflict(format!(
                "this tenant already has {limit} pending invitations, the limit set by {}; revoke one or let one expire first",
                QuotaSetting::INVITATIONS.describe()
            )));
        }
        if let Some(to) = &email {
            within_mail_quotas(conn, now, tenant_id, to.as_str(), quotas)?;
        }
        let token = random_secret(40);
        let invitation = Invitation {
            id: new_id(),
            token_digest: TokenDigest::of(&token).into_inner(),
            tenant_id: tenant_id.to_string(),
            role: role.as_str().into(),
            created_by: actor
                .account_id()
                .map(ToString::to_string)
                .unwrap_or_default(),
            created_at: now,
            expires_at: now + VALID_FOR,
            used_at: None,
            used_by: None,
            note: note.map(InvitationNote::into_inner),
            email: email.map(Email::into_inner),
        };
        invitation.insert(conn)?;
        if let (Some(base), Some(to)) = (&link_base, &invitation.email) {
            mail_invitation(conn, actor, now, &invitation, base, &token, to)?;
        }
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::InvitationCreated,
                target_id: Some(&invitation.id),
                detail: invitation.described(),
            },
        )?;
        let mailed_to = invitation.email.clone();
        Ok(CreatedInvitation {
            invitation,
            token,
            mailed_to,
        })
    })
}

/// Refuses a mail beyond the day's quotas: the tenant's `max_mails_per_tenant_per_day`,
/// and `outbox::MAILS_PER_ADDRESS_PER_DAY` to one address. Mails sent, given up or
/// cancelled count (their rows are kept a week), so revoking and inviting again does not
/// reset them. Called under the tenant's lock. The refusal is on the email field (beside
/// it in the dialog): the link can still be made without one.
fn within_mail_quotas(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    to: &str,
    quotas: &Quotas,
) -> Result<(), AppError> {
    let (of_tenant, to_address) = outbox::queued_in_the_last_day(conn, now, tenant_id, to)?;
    let limit = quotas.max_mails_per_tenant_per_day;
    if of_tenant >= limit {
        return Err(AppError::invalid("email", format!(
            "cannot be mailed: this tenant has had {of_tenant} mails queued in the last 24 hours, the limit set by {}; try again later, or leave the email out and pass the link on yourself",
            QuotaSetting::MAILS.describe()
        )));
    }
    let per_address = outbox::MAILS_PER_ADDRESS_PER_DAY;
    if to_address >= per_address {
        return Err(AppError::invalid("email", format!(
            "cannot be mailed: {to} has been mailed {to_address} invitations from this tenant in the last 24 hours, the most one address gets in a day; try again tomorrow, or leave the email out and pass the link on yourself"
        )));
    }
    Ok(())
}

/// Queues the invitation's mail: the link under `base` (`--public-url`), who invited, to
/// which team and role. Its body holds the link until the outbox has sent it.
fn mail_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    invitation: &Invitation,
    base: &str,
    token: &str,
    to: &str,
) -> Result<(), AppError> {
    let tenant = crate::db::models::Tenant::find(conn, &invitation.tenant_id)?
        .ok_or_else(|| AppError::not_found("tenant not found"))?;
    let inviter = match actor.account_id() {
        Some(id) => Account::find(conn, id.as_str())?.map(|a| a.name),
        None => None,
    };
    let link = format!("{base}/t/{}/join/{token}", tenant.slug);
    let expires = invitation
        .expires_at
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let body = mail::invitation_body(&mail::InvitationMail {
        inviter: inviter.as_deref(),
        tenant_name: &tenant.name,
        role: invitation.role().map_or("a member", Role::label),
        link: &link,
        expires: &expires,
    });
    outbox::enqueue(
        conn,
        now,
        outbox::NewMessage {
            kind: MailKind::Invitation.as_str(),
            tenant_id: Some(invitation.tenant_id.clone()),
            about_id: Some(invitation.id.clone()),
            recipient: to.to_string(),
            payload: body,
        },
    )?;
    Ok(())
}

/// A pending invitation and the name of the admin who made it.
#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub invitation: Invitation,
    pub created_by_name: Option<String>,
}

pub fn list_pending_invitations(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
) -> Result<Vec<PendingInvitation>, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
    Invitation::pending_of(conn, tenant_id.as_str(), now)?
        .into_iter()
        .map(|invitation| {
            let created_by_name = Account::find(conn, &invitation.created_by)?.map(|a| a.name);
            Ok(PendingInvitation {
                invitation,
                created_by_name,
            })
        })
        .collect()
}

/// Whether the account that made a link is still a human admin of the link's tenant.
fn creator_still_admin(conn: &mut DbConnection, invitation: &Invitation) -> Result<bool, AppError> {
    let human =
        Account::find(conn, &invitation.created_by)?.is_some_and(|a| !a.is_service_account());
    Ok(human
        && Membership::find(conn, &invitation.created_by, &invitation.tenant_id)?
            .is_some_and(|m| m.role() == Some(Role::Admin)))
}

pub fn revoke_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    id: &InvitationId,
) -> Result<Invitation, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let invitation = Invitation::find(conn, id.as_str())?
            .filter(|i| i.tenant_id == *tenant_id)
            .ok_or_else(|| AppError::not_found("invitation not found"))?;
        members::revoke_invitation(conn, actor, now, &invitation, invitation.described())?;
        Ok(invitation)
    })
}

/// Checks a presented token against the tenant of the URL it came with, without using it.
pub fn find_usable(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    token: &str,
) -> Result<Invitation, AppError> {
    let invitation = Invitation::find_by_digest(conn, TokenDigest::of(token.trim()).as_str())?
        .ok_or_else(|| {
            AppError::not_found("this invitation link is not valid; ask an admin for a new one")
        })?;
    if invitation.tenant_id != *tenant_id {
        return Err(AppError::not_found(
            "this invitation link is not valid for this tenant",
        ));
    }
    if invitation.used_at.is_some() {
        return Err(AppError::Conflict(
            "this invitation link has already been used; ask an admin for a new one".into(),
        ));
    }
    if invitation.expires_at <= now {
        return Err(AppError::Conflict(
            "this invitation link has expired; ask an admin for a new one".into(),
        ));
    }
    if !creator_still_admin(conn, &invitation)? {
        return Err(AppError::Conflict(
            "the person who made this invitation link is no longer an admin of this tenant, so the link no longer works; ask a current admin for a new one".into(),
        ));
    }
    Ok(invitation)
}

/// The signed-in person joins the tenant with the invitation's role; the link is used up.
pub fn accept_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    token: &str,
) -> Result<Membership, AppError> {
    let ActorKind::Person { account_id } = &actor.kind else {
        return Err(AppError::forbidden(
            "an invitation is accepted by a person signed in to the dashboard",
        ));
    };
    transaction(conn, |conn| {
        let invitation = find_usable(conn, now, tenant_id, token)?;
        // As GitLab's SSO-enforced groups: a session not opened through the provider does
        // not join a tenant that requires it (it could not act there anyway); the link
        // stays unused.
        if actor.outside_sso
            && crate::db::models::oidc::TenantSsoRequirement::is_required(conn, tenant_id.as_str())?
        {
            return Err(AppError::forbidden(
                "this team requires single sign-on: sign out, sign in through your identity provider (the \"Sign in with …\" button on the sign-in page; the first time, your password links your account to it), then open this invitation link again. The link stays valid until it expires",
            ));
        }
        if let Some(bound) = &invitation.email {
            let yours = Account::find(conn, account_id.as_str())?.and_then(|a| a.email);
            if yours.as_deref() != Some(bound.as_str()) {
                return Err(AppError::forbidden(format!(
                    "this invitation was sent to {bound} and is for that address only: sign in as {bound} to join, or ask an admin to invite {}",
                    yours.as_deref().unwrap_or("your account")
                )));
            }
        }
        if Invitation::mark_used(conn, &invitation.id, account_id.as_str(), now)? == 0 {
            return Err(AppError::Conflict(
                "this invitation link has already been used; ask an admin for a new one".into(),
            ));
        }
        let role = granted_role(&invitation)?;
        insert_membership(
            conn,
            actor,
            now,
            tenant_id,
            account_id,
            role,
            AuditAction::InvitationAccepted,
        )
    })
}

/// The account someone creates when they open an invitation without having one.
#[derive(Debug)]
pub struct NewPerson {
    pub email: Email,
    pub name: PersonName,
    /// Hashed before the connection is taken (`passwords::hash_bounded`).
    pub password: HashedPassword,
}

/// Someone without an account opens a link: their account is created and they join, in
/// one transaction, so a used-up or expired link creates no account either.
pub fn accept_invitation_as_new_person(
    conn: &mut DbConnection,
    ip: Option<String>,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    token: &str,
    person: NewPerson,
) -> Result<(Account, Membership), AppError> {
    let NewPerson {
        email,
        name,
        password,
    } = person;
    transaction(conn, |conn| {
        // A mailed invitation makes the account with the address it was sent to.
        let email = match find_usable(conn, now, tenant_id, token)?.email {
            Some(bound) => Email::parse(&bound)?,
            None => email,
        };
        let creator = Actor {
            kind: ActorKind::Operator,
            ip: ip.clone(),
            outside_sso: false,
        };
        let account =
            crate::services::accounts::insert_user(conn, &creator, now, email, name, password)?;
        let as_person = Actor::person(
            account.id.clone(),
            ip,
            crate::services::SingleSignOn::Satisfied,
        );
        let membership = accept_invitation(conn, &as_person, now, tenant_id, token)?;
        Ok((account, membership))
    })
}

/// What a link offers (its tenant and role), for the page that opens it. Anyone holding
/// the link may see this; an unknown tenant reads like an unknown link.
pub fn preview(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_slug: &str,
    token: &str,
) -> Result<(crate::db::models::Tenant, Role), AppError> {
    let tenant = crate::db::models::Tenant::find_by_slug(conn, tenant_slug)?.ok_or_else(|| {
        AppError::not_found("this invitation link is not valid; ask an admin for a new one")
    })?;
    let invitation = find_usable(conn, now, &tenant.tenant_id(), token)?;
    let role = granted_role(&invitation)?;
    Ok((tenant, role))
}

/// The role a link grants; one this version does not know is refused like a missing
/// permission (the link may come from a newer version during a rolling upgrade).
fn granted_role(invitation: &Invitation) -> Result<Role, AppError> {
    invitation.role().ok_or_else(|| {
        AppError::forbidden(format!(
            "this invitation grants the role \"{}\", which this version of Keyward does not know; ask an admin for a new link",
            invitation.role
        ))
    })
}

/// What the join page shows of a link: [`preview`], who made it ("Ada Lovelace invited
/// you"; `None` once their account is gone) and the address a mailed one is bound to.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub tenant: crate::db::models::Tenant,
    pub role: Role,
    pub inviter: Option<String>,
    pub email: Option<String>,
}

pub fn preview_with_inviter(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_slug: &str,
    token: &str,
) -> Result<InvitationPreview, AppError> {
    let (tenant, role) = preview(conn, now, tenant_slug, token)?;
    let invitation = find_usable(conn, now, &tenant.tenant_id(), token)?;
    let inviter = Account::find(conn, &invitation.created_by)?.map(|a| a.name);
    Ok(InvitationPreview {
        tenant,
        role,
        inviter,
        email: invitation.email,
    })
}
