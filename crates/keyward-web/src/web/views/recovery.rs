//! Account recovery: "Forgot your password?", the page a reset link opens, and an admin's
//! reset link, shown once.

use super::{FieldErrors, Layout};
use askama::Template;

#[derive(Template)]
#[template(path = "pages/forgot_password.html")]
pub struct ForgotPasswordPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub email: String,
    /// Why this server cannot mail a link (`None`: it can).
    pub mail_off: Option<&'static str>,
    pub sent: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/reset_password.html")]
pub struct ResetPasswordPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub email: String,
    /// Why no password can be set here (a dead link or page).
    pub problem: Option<String>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "pages/reset_link_created.html")]
pub struct ResetLinkCreatedPage {
    pub layout: Layout,
    pub name: String,
    pub email: String,
    /// Mailed to `email`: then `link` is empty and the page shows no token.
    pub mailed: bool,
    pub link: String,
    pub expires: String,
    pub done_url: String,
}
