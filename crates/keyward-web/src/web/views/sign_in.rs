//! Sign-in, first run and the join page of an invitation.

use super::{FieldErrors, Layout};
use askama::Template;

// ---- sign-in and first run ----

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// The single sign-on button's provider name; `None`: single sign-on is off.
    pub sso: Option<String>,
}

/// Why a sign-in through the provider did not happen.
#[derive(Template)]
#[template(path = "pages/sso_error.html")]
pub struct SsoErrorPage {
    pub layout: Layout,
    pub message: String,
}

/// A first sign-in that matched an account Keyward never verified: its password, once.
#[derive(Template)]
#[template(path = "pages/sso_link.html")]
pub struct SsoLinkPage {
    pub layout: Layout,
    pub provider: String,
    pub email: String,
    /// The account has two-factor on: a code field too.
    pub needs_code: bool,
    /// A link of the account was removed before: that, not an unchecked address, is why.
    pub removed_before: bool,
    pub error: Option<String>,
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

/// `/t/{slug}/join/{token}`: what the link offers, and how to take it.
#[derive(Template)]
#[template(path = "pages/join.html")]
pub struct JoinPage {
    pub layout: Layout,
    pub tenant_name: String,
    pub role: &'static str,
    /// Who made the link, while their account exists.
    pub invited_by: Option<String>,
    pub action: String,
    pub signup_action: String,
    pub sign_in_url: String,
    pub signed_in_as: Option<String>,
    pub email: String,
    /// The address a mailed invitation is bound to: shown, not editable.
    pub bound_email: Option<String>,
    pub name: String,
    pub errors: FieldErrors,
}
