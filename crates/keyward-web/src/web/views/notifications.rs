//! User › Notifications.

use super::Layout;
use askama::Template;

/// One notice on the page.
pub struct NotificationRow {
    /// The form's value (`key_created`, `key_expiring`).
    pub kind: &'static str,
    pub label: &'static str,
    pub on: bool,
}

/// `/user/notifications`: the key notices mailed to the signed-in person, each with a
/// button that turns it off or on.
#[derive(Template)]
#[template(path = "pages/notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub rows: Vec<NotificationRow>,
    pub mail_on: bool,
}
