//! What the dashboard shows: the layout every page shares and the page and partial
//! templates (`*Page` renders `templates/pages/…` inside `base.html`; `*Partial` renders
//! the `templates/partials/…` file that the page includes, never a copy of it).

use crate::db::models::api_key::ApiKeyListing;
use crate::services::sessions::TenantMembership;
use crate::web::handlers::key_list::KeyListView;
use crate::web::session::SignedIn;
use askama::Template;
use time::{Duration, PrimitiveDateTime};

/// Field-level messages for a form, shown beside the field they are about.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if self.get(&field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A tenant in the switcher and in forms.
#[derive(Debug, Clone)]
pub struct TenantOption {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub role: &'static str,
    pub selected: bool,
}

impl TenantOption {
    fn of(m: &TenantMembership, selected_id: Option<&str>) -> Self {
        Self {
            id: m.tenant.id.clone(),
            name: m.tenant.name.clone(),
            slug: m.tenant.slug.clone(),
            role: m.role.label(),
            selected: selected_id == Some(m.tenant.id.as_str()),
        }
    }

    /// The person's tenants, `selected_id` marked.
    pub fn list(signed_in: &SignedIn, selected_id: Option<&str>) -> Vec<TenantOption> {
        signed_in
            .person
            .tenants
            .iter()
            .map(|m| TenantOption::of(m, selected_id))
            .collect()
    }
}

/// The Team links of the nav, for admins of the current tenant (DESIGN §5).
#[derive(Debug, Clone)]
pub struct TeamLinks {
    pub service_accounts: String,
    pub members: String,
    pub audit_log: String,
}

impl TeamLinks {
    pub fn for_slug(slug: &str) -> Self {
        Self {
            service_accounts: format!("/t/{slug}/team/service-accounts"),
            members: format!("/t/{slug}/team/members"),
            audit_log: format!("/t/{slug}/team/audit-log"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NavPerson {
    pub name: String,
    pub email: String,
    pub tenants: Vec<TenantOption>,
    pub team: Option<TeamLinks>,
}

/// What `base.html` needs: the title, the nav, the CSRF token for htmx and forms, and a
/// message to show once in the toast area.
#[derive(Clone)]
pub struct Layout {
    pub title: String,
    /// Which nav entry is current: `api-keys`, `password`, `team-service-accounts`, …
    pub active: &'static str,
    pub person: Option<NavPerson>,
    pub csrf_token: String,
    pub flash: Option<String>,
}

impl Layout {
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            active: "",
            person: None,
            csrf_token: String::new(),
            flash: None,
        }
    }

    /// The layout for a signed-in person; takes the session's flash message.
    pub fn signed_in(signed_in: &SignedIn, title: impl Into<String>, active: &'static str) -> Self {
        let current = signed_in.current_tenant();
        let person = &signed_in.person;
        Self {
            title: title.into(),
            active,
            person: Some(NavPerson {
                name: person.account.name.clone(),
                email: person.account.email.clone().unwrap_or_default(),
                tenants: TenantOption::list(signed_in, current.map(|m| m.tenant.id.as_str())),
                team: current
                    .filter(|_| person.manages_current_team)
                    .map(|m| TeamLinks::for_slug(&m.tenant.slug)),
            }),
            csrf_token: signed_in.csrf_token.clone(),
            flash: crate::web::session::take_flash(&signed_in.session),
        }
    }
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");
const DATE_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

pub fn date(t: PrimitiveDateTime) -> String {
    t.format(DATE).unwrap_or_default()
}

pub fn date_time(t: PrimitiveDateTime) -> String {
    t.format(DATE_TIME).unwrap_or_default()
}

fn count(n: i64, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn span(d: Duration) -> String {
    if d.whole_days() >= 1 {
        count(d.whole_days(), "day")
    } else if d.whole_hours() >= 1 {
        count(d.whole_hours(), "hour")
    } else {
        count(d.whole_minutes().max(1), "minute")
    }
}

/// "in 7 days", "3 hours ago", "just now". A future time counts the minute under way, so
/// a key made a moment ago for 30 days says "in 30 days", not "in 29 days".
pub fn relative(t: PrimitiveDateTime, now: PrimitiveDateTime) -> String {
    if t > now {
        format!("in {}", span(t - now + Duration::minutes(1)))
    } else if now - t < Duration::minutes(1) {
        "just now".into()
    } else {
        format!("{} ago", span(now - t))
    }
}

/// One row of an API-key table.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub hint: String,
    pub created: String,
    pub created_iso: String,
    pub expired: bool,
    /// "Never", or the date plus "in N days".
    pub expires: String,
    pub last_used: String,
    /// Where the trash icon leads: the confirmation, which posts back to it.
    pub delete_url: String,
}

impl KeyRow {
    pub fn of(listing: &ApiKeyListing, now: PrimitiveDateTime) -> Self {
        let key = &listing.key;
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            tenant_name: listing.tenant.name.clone(),
            tenant_slug: listing.tenant.slug.clone(),
            hint: key.display_hint.clone(),
            created: date(key.created_at),
            created_iso: crate::domain::clock::rfc3339(key.created_at),
            expired: key.is_expired(now),
            expires: match key.expires_at {
                None => "Never".into(),
                Some(at) => format!("{} ({})", date_time(at), relative(at, now)),
            },
            last_used: match key.last_used_at {
                None => "Never".into(),
                Some(at) => relative(at, now),
            },
            delete_url: format!("/user/api-keys/{}/delete", key.id),
        }
    }

    pub fn list(listings: &[ApiKeyListing], now: PrimitiveDateTime) -> Vec<KeyRow> {
        listings.iter().map(|l| KeyRow::of(l, now)).collect()
    }

    /// For key lists elsewhere (a service account's keys): deletion confirmed at
    /// `{base}/{id}/delete`.
    pub fn with_delete_base(mut self, base: &str) -> Self {
        self.delete_url = format!("{base}/{}/delete", self.id);
        self
    }
}

// ---- sign-in and first run ----

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Clone, Default)]
pub struct SetupForm {
    pub token: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub name: String,
    pub email: String,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "pages/setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub form: SetupForm,
}

// ---- User › API Keys ----

/// The secret, shown once. No `Debug`: it holds the token.
pub struct CreatedKeyView {
    pub id: String,
    pub name: String,
    pub tenant_name: String,
    pub token: String,
    pub expires: String,
    /// Where "Done" leads without JavaScript (the list the key belongs to).
    pub done_url: String,
}

#[derive(Template)]
#[template(path = "pages/user_api_keys.html")]
pub struct UserApiKeysPage {
    pub layout: Layout,
    pub list: KeyListView,
    pub created: Option<CreatedKeyView>,
}

/// A key list, `<section id="api-keys">`: the same file the pages include.
#[derive(Template)]
#[template(path = "partials/api_keys_list.html")]
pub struct ApiKeysListPartial {
    pub list: KeyListView,
}

#[derive(Template)]
#[template(path = "partials/api_key_created.html")]
pub struct ApiKeyCreatedPartial {
    pub created: CreatedKeyView,
}

/// The expiration choices of a create-key form.
pub const EXPIRATIONS: [(&str, &str); 5] = [
    ("never", "Never"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("date", "On a date…"),
];

#[derive(Clone)]
pub struct CreateKeyForm {
    /// Where the form posts.
    pub action: String,
    /// Where "Cancel" leads without JavaScript.
    pub cancel_url: String,
    pub csrf_token: String,
    pub nonce: String,
    pub name: String,
    pub expiration: String,
    pub expires_on: String,
    pub today: String,
    /// The tenants to choose from; empty for keys whose tenant is fixed (a service
    /// account's), which hides the field.
    pub tenants: Vec<TenantOption>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "pages/api_key_new.html")]
pub struct ApiKeyNewPage {
    pub layout: Layout,
    pub form: CreateKeyForm,
}

#[derive(Template)]
#[template(path = "partials/api_key_form.html")]
pub struct ApiKeyFormPartial {
    pub form: CreateKeyForm,
}

#[derive(Template)]
#[template(path = "pages/api_key_delete.html")]
pub struct ApiKeyDeletePage {
    pub layout: Layout,
    pub key: KeyRow,
    pub csrf_token: String,
    /// Where "Cancel" leads without JavaScript.
    pub back_url: String,
}

/// The delete confirmation: posts to `key.delete_url`; htmx swaps the answer (the list
/// without the key) into `#api-keys`.
#[derive(Template)]
#[template(path = "partials/api_key_delete_form.html")]
pub struct ApiKeyDeletePartial {
    pub key: KeyRow,
    pub csrf_token: String,
    pub back_url: String,
}

// ---- User › Password ----

#[derive(Template)]
#[template(path = "pages/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub errors: FieldErrors,
}

// ---- Team pages (`/t/{slug}/team/…`) ----

/// The tenant a team page acts on: the one in its URL, never the session's current one.
#[derive(Debug, Clone)]
pub struct TeamTenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// `/t/{slug}/team`
    pub base: String,
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
}

#[derive(Template)]
#[template(path = "pages/team_service_accounts.html")]
pub struct ServiceAccountsPage {
    pub layout: Layout,
    pub team: TeamTenant,
    pub accounts: Vec<ServiceAccountRow>,
}

#[derive(Clone)]
pub struct ServiceAccountForm {
    pub action: String,
    pub cancel_url: String,
    pub csrf_token: String,
    pub name: String,
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
    pub list: KeyListView,
    pub created: Option<CreatedKeyView>,
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
}

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: String,
    pub role: String,
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
    pub invitations: Vec<InvitationRow>,
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
    pub actor_kind: &'static str,
    pub via_key: Option<String>,
    pub action: String,
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
    pub actions: &'static [&'static str],
    pub action: String,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
}

/// `/t/{slug}/join/{token}`: what the link offers, and how to take it.
#[derive(Template)]
#[template(path = "pages/join.html")]
pub struct JoinPage {
    pub layout: Layout,
    pub tenant_name: String,
    pub role: &'static str,
    pub action: String,
    pub signup_action: String,
    pub sign_in_url: String,
    pub signed_in_as: Option<String>,
    pub email: String,
    pub name: String,
    pub errors: FieldErrors,
}

#[cfg(test)]
mod tests {
    use super::relative;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn relative_times_read_as_people_expect() {
        let now = datetime!(2026-11-24 12:00:00);
        assert_eq!(
            relative(now + Duration::days(30) - Duration::seconds(5), now),
            "in 30 days"
        );
        assert_eq!(relative(now + Duration::days(7), now), "in 7 days");
        assert_eq!(relative(now + Duration::hours(3), now), "in 3 hours");
        assert_eq!(relative(now - Duration::seconds(30), now), "just now");
        assert_eq!(
            relative(now - Duration::days(2) - Duration::hours(5), now),
            "2 days ago"
        );
    }
}
