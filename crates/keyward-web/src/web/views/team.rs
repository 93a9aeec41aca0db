//! The Team pages (`/t/{slug}/team/…`): service accounts, members, invitations, audit log.

use super::{CreatedKeyView, FieldErrors, Layout};
use crate::web::handlers::key_list::KeyListView;
use crate::web::handlers::list_page::ListFrame;
use askama::Template;

// ---- Team pages (`/t/{slug}/team/…`) ----

/// The tenant a team page acts on: the one in its URL, never the session's current one.
#[derive(Debug, Clone)]
pub struct TeamTenant {
    /// It came from the signed-in person's memberships.
    pub id: crate::domain::TenantId,
    pub name: String,
    pub slug: String,
    /// `/t/{slug}/team`
    pub base: String,
}

impl TeamTenant {
    /// The id as the services take it.
    pub fn tenant_id(&self) -> crate::domain::TenantId {
        self.id.clone()
    }
}

/// One row of Team › Service Accounts.
#[derive(Debug, Clone)]
pub struct ServiceAccountRow {
    pub id: String,
    pub name: String,
    pub key_count: i64,
    pub created: String,
    pub created_by: String,
    pub url: String,
    /// "Admin", "User", "Read-only user": what its keys may do.
    pub role: &'static str,
    /// The role as stored ("ADMIN"; empty for one this version does not know).
    pub role_value: &'static str,
}

#[derive(Template)]
#[template(path = "pages/team_service_accounts.html")]
pub struct ServiceAccountsPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub accounts: Vec<ServiceAccountRow>,
    pub frame: ListFrame,
}

#[derive(Clone)]
pub struct ServiceAccountForm {
    pub action: String,
    pub cancel_url: String,
    pub csrf_token: String,
    pub name: String,
    /// The role offered at creation (`Some`, with the chosen one); `None` when renaming.
    pub role: Option<crate::domain::Role>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "partials/service_account_form.html")]
pub struct ServiceAccountFormPartial {
    pub form: ServiceAccountForm,
}

#[derive(Template)]
#[template(path = "pages/service_account_new.html")]
pub struct ServiceAccountNewPage {
    pub layout: Layout,
    pub form: ServiceAccountForm,
}

#[derive(Template)]
#[template(path = "pages/service_account.html")]
pub struct ServiceAccountPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub account: ServiceAccountRow,
    pub rename: ServiceAccountForm,
    /// Where the role selector posts; `None` for someone who may not change roles (only
    /// human admins may, as on Team › Members).
    pub role_action: Option<String>,
    pub list: KeyListView,
    pub created: Option<CreatedKeyView>,
    pub agents: super::AgentsView,
}

#[derive(Template)]
#[template(path = "partials/service_account_remove_form.html")]
pub struct ServiceAccountRemovePartial {
    pub account: ServiceAccountRow,
    pub csrf_token: String,
    pub action: String,
}

#[derive(Template)]
#[template(path = "pages/service_account_remove.html")]
pub struct ServiceAccountRemovePage {
    pub layout: Layout,
    pub account: ServiceAccountRow,
    pub csrf_token: String,
    pub action: String,
}

/// One row of Team › Members.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub is_service_account: bool,
    pub role: &'static str,
    pub joined: String,
    pub role_url: String,
    pub remove_url: String,
    /// The signed-in person's own row, marked "(you)".
    pub is_you: bool,
    /// The only human admin: cannot be removed or demoted, so no Remove is offered.
    pub last_admin: bool,
    /// Where the signed-in admin makes this person's password reset link, when offered.
    pub reset_link_url: Option<String>,
    /// Has two-factor authentication on.
    pub two_factor: bool,
}

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: String,
    pub role: String,
    /// What the admin wrote on it; empty when nothing.
    pub note: String,
    /// The address it was mailed to, and is bound to.
    pub email: Option<String>,
    pub created_by: String,
    pub created: String,
    pub expires: String,
    pub revoke_url: String,
}

/// The roles a member can hold, as (stored value, label).
pub const ROLES: [(&str, &str); 3] = [
    ("ADMIN", "Admin"),
    ("USER", "User"),
    ("READ_ONLY_USER", "Read-only user"),
];

#[derive(Template)]
#[template(path = "pages/team_members.html")]
pub struct MembersPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub members: Vec<MemberRow>,
    pub members_frame: ListFrame,
    pub invitations: Vec<InvitationRow>,
    pub invitations_frame: ListFrame,
    pub csrf_token: String,
}

#[derive(Template)]
#[template(path = "partials/member_remove_form.html")]
pub struct MemberRemovePartial {
    pub member: MemberRow,
    pub key_count: usize,
    pub team: TeamTenant,
    pub csrf_token: String,
}

#[derive(Template)]
#[template(path = "pages/member_remove.html")]
pub struct MemberRemovePage {
    pub layout: Layout,
    pub member: MemberRow,
    pub key_count: usize,
    pub team: TeamTenant,
    pub csrf_token: String,
}

#[derive(Clone)]
pub struct InvitationForm {
    pub action: String,
    pub cancel_url: String,
    pub csrf_token: String,
    pub role: String,
    pub note: String,
    pub note_max: usize,
    pub email: String,
    /// Why this server cannot mail the link (`None`: it can, and the email field shows).
    pub mail_off: Option<&'static str>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "partials/invitation_form.html")]
pub struct InvitationFormPartial {
    pub form: InvitationForm,
}

#[derive(Template)]
#[template(path = "pages/invitation_new.html")]
pub struct InvitationNewPage {
    pub layout: Layout,
    pub form: InvitationForm,
}

/// The one-time link, shown once. No `Debug`: it holds the token.
pub struct CreatedInvitationView {
    pub link: String,
    pub role: &'static str,
    pub note: String,
    /// The address the link was mailed to.
    pub mailed_to: Option<String>,
    pub expires: String,
    pub done_url: String,
}

#[derive(Template)]
#[template(path = "partials/invitation_created.html")]
pub struct InvitationCreatedPartial {
    pub created: CreatedInvitationView,
}

#[derive(Template)]
#[template(path = "pages/invitation_created.html")]
pub struct InvitationCreatedPage {
    pub layout: Layout,
    pub created: CreatedInvitationView,
}

/// One line of Team › Audit log.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at: String,
    pub at_iso: String,
    pub actor: String,
    /// The acting account, for the link that shows only what it did.
    pub actor_id: Option<String>,
    pub actor_kind: &'static str,
    pub via_key: Option<String>,
    pub action: String,
    /// "Role changed", not `member.role_changed`.
    pub action_label: &'static str,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "pages/team_audit_log.html")]
pub struct AuditLogPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub rows: Vec<AuditRow>,
    /// The filter's choices: (action, label).
    pub actions: Vec<(&'static str, &'static str)>,
    pub action: String,
    /// Who did it: a name, an email or an account id.
    pub who: String,
    /// The range of days, `YYYY-MM-DD` or empty.
    pub from: String,
    pub to: String,
    /// The export links, with the current filters.
    pub export_csv: String,
    pub export_jsonl: String,
    pub frame: ListFrame,
}

/// Team › Security (issue 29): an admin pastes a key found where others can read it, and
/// it is revoked if it serves this tenant. The form never shows a pasted value again.
#[derive(Template)]
#[template(path = "pages/team_security.html")]
pub struct TeamSecurityPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub errors: FieldErrors,
}
