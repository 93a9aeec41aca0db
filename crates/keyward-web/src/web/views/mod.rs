//! What the dashboard shows: the layout every page shares and the page and partial
//! templates (`*Page` renders `templates/pages/…` inside `base.html`; `*Partial` renders
//! the `templates/partials/…` file that the page includes, never a copy of it).

mod agents;
mod keys;
mod lifecycle;
mod notifications;
mod recovery;
mod sign_in;
mod team;
mod two_factor;
mod webhooks;

pub use agents::*;
pub use keys::*;
pub use lifecycle::*;
pub use notifications::*;
pub use recovery::*;
pub use sign_in::*;
pub use team::*;
pub use two_factor::*;
pub use webhooks::*;

use crate::services::sessions::TenantMembership;
use crate::web::session::SignedIn;
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
    pub settings: String,
    pub security: String,

    pub webhooks: String,
}

impl TeamLinks {
    pub fn for_slug(slug: &str) -> Self {
        Self {
            service_accounts: format!("/t/{slug}/team/service-accounts"),
            members: format!("/t/{slug}/team/members"),
            audit_log: format!("/t/{slug}/team/audit-log"),
            settings: format!("/t/{slug}/team/settings"),
            security: format!("/t/{slug}/team/security"),

            webhooks: format!("/t/{slug}/team/webhooks"),
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

const DATE_TIME_SECONDS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// To the second, for the audit log.
pub fn date_time_seconds(t: PrimitiveDateTime) -> String {
    t.format(DATE_TIME_SECONDS).unwrap_or_default()
}

pub fn date(t: PrimitiveDateTime) -> String {
    t.format(DATE).unwrap_or_default()
}

pub fn date_time(t: PrimitiveDateTime) -> String {
    t.format(DATE_TIME).unwrap_or_default()
}

const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[day padding:none] [month repr:short] [year]");

/// When a key expires, as people picked it: a key made to expire "at the end of 15 Jan"
/// (stored as midnight after it) reads "end of 15 Jan 2027", any other time in full, and
/// either with "in N days".
pub fn expiry(at: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> String {
    let Some(at) = at else {
        return "Never".into();
    };
    format!("{} ({})", expiry_day(at), relative(at, now))
}

/// The date part of `expiry`: "end of 15 Jan 2027 UTC" or "2027-01-15 10:30 UTC".
pub fn expiry_day(at: PrimitiveDateTime) -> String {
    if at.time() == time::Time::MIDNIGHT {
        let day = at - Duration::days(1);
        format!("end of {} UTC", day.format(DAY).unwrap_or_default())
    } else {
        date_time(at)
    }
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

#[cfg(test)]
mod tests {
    use super::relative;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn a_date_picked_as_the_end_of_a_day_reads_as_that_day() {
        let now = datetime!(2026-11-24 12:00:00);
        assert_eq!(
            super::expiry(Some(datetime!(2027-01-16 00:00:00)), now),
            "end of 15 Jan 2027 UTC (in 52 days)"
        );
        assert_eq!(
            super::expiry(Some(datetime!(2026-12-01 12:00:00)), now),
            "2026-12-01 12:00 UTC (in 7 days)"
        );
        assert_eq!(super::expiry(None, now), "Never");
    }

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
