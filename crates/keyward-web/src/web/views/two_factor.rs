//! User › Two-factor authentication and the sign-in's code step.

use super::{FieldErrors, Layout};
use askama::Template;

/// An enrolment waiting for its first code: the secret three ways.
pub struct EnrolmentView {
    pub qr_svg: String,
    pub otpauth_url: String,
    pub secret: String,
}

/// Two-factor that is on.
pub struct TwoFactorOnView {
    pub enabled: String,
    pub recovery_codes_left: i64,
}

/// `/user/two-factor`: enrol (off), or manage (on); the recovery codes once, when just
/// made.
#[derive(Template)]
#[template(path = "pages/two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub enrolling: Option<EnrolmentView>,
    pub on: Option<TwoFactorOnView>,
    /// Just made: shown on this answer only.
    pub recovery_codes: Vec<String>,
    /// The tenant whose requirement sent the person here.
    pub required_by: Option<String>,
    pub errors: FieldErrors,
}

/// `/login/two-factor`: the code step of a sign-in.
#[derive(Template)]
#[template(path = "pages/login_two_factor.html")]
pub struct LoginTwoFactorPage {
    pub layout: Layout,
    pub error: Option<String>,
}

/// One identity linked to the account (User › Single sign-on).
pub struct SsoLinkRow {
    pub issuer: String,
    pub subject: String,
    pub created: String,
    pub last_sign_in: String,
}

/// `/user/single-sign-on`: the identities that sign the person in, each removable.
#[derive(Template)]
#[template(path = "pages/sso_links.html")]
pub struct SsoLinksPage {
    pub layout: Layout,
    /// The provider's name when single sign-on is set up.
    pub provider: Option<String>,
    pub links: Vec<SsoLinkRow>,
}
