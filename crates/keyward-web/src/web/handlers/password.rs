//! User › Password: change your own password (the current one is required); every other
//! session of the account ends, and this one continues under a new id.

use crate::domain::Password;
use crate::error::{AppError, HtmlError};
use crate::services::password_checks;
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{FieldErrors, Layout, PasswordPage};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const PATH: &str = "/user/password";
const TITLE: &str = "Password";
const NAV: &str = "password";

fn page(
    status: StatusCode,
    signed_in: &SignedIn,
    errors: FieldErrors,
) -> Result<HttpResponse, HtmlError> {
    html(
        status,
        &PasswordPage {
            layout: Layout::signed_in(signed_in, TITLE, NAV),
            errors,
        },
    )
}

/// `GET /user/password`.
pub async fn page_get(signed_in: SignedIn) -> Result<HttpResponse, HtmlError> {
    page(StatusCode::OK, &signed_in, FieldErrors::default())
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct ChangePasswordInput {
    current_password: String,
    new_password: String,
    new_password_again: String,
}

/// `POST /user/password`.
pub async fn change(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    input: web::Form<ChangePasswordInput>,
) -> Result<HttpResponse, HtmlError> {
    let input = input.into_inner();
    let mut errors = FieldErrors::default();
    if input.current_password.is_empty() {
        errors.add("current_password", "enter your current password");
    }
    let new = Password::parse_new(&input.new_password)
        .map_err(|e| errors.add("new_password", e.message))
        .ok();
    if input.new_password != input.new_password_again {
        errors.add("new_password_again", "does not match the new password");
    }
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, &signed_in, errors);
    };
    let current = Password::offered(&input.current_password);
    let actor = signed_in.actor();
    let changed =
        password_checks::change_own_password(&state.db, &state.clock, actor, current, new).await;
    match changed {
        Ok(()) => {}
        Err(AppError::Invalid(i)) => {
            let mut errors = FieldErrors::default();
            errors.add(i.field, i.message);
            return page(StatusCode::UNPROCESSABLE_ENTITY, &signed_in, errors);
        }
        Err(AppError::TooManyRequests(message)) => {
            let mut errors = FieldErrors::default();
            errors.add("current_password", message);
            return page(StatusCode::TOO_MANY_REQUESTS, &signed_in, errors);
        }
        Err(e) => return Err(e.into()),
    }
    // Every session of the account is gone, this one included; it continues under a new
    // id and CSRF token, with its original sign-in time.
    session::rotate(&signed_in.session)?;
    session::set_flash(
        &signed_in.session,
        "Your password has been changed, and your other sessions have been signed out.",
    )?;
    Ok(redirect(hx, PATH))
}
