//! First run (`/setup`): while no account exists, the one-time link printed at start-up
//! creates the first tenant and its admin, who is then signed in. Afterwards: 404.

use crate::domain::{Email, InvalidInput, Password, PersonName, TenantName, TenantSlug};
use crate::error::{AppError, HtmlError};
use crate::services::passwords;
use crate::services::setup::{self, FirstRun};
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session;
use crate::web::views::{FieldErrors, Layout, SetupForm, SetupPage};
use crate::web::AppState;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

/// While setup is open: issues a new one-time token and returns the URL to print (on
/// stdout, never in the logs).
pub async fn first_run_url(state: &AppState, port: u16) -> Result<Option<String>, AppError> {
    let token = state.run(setup::issue_token).await?;
    let base = match &state.settings.public_url {
        Some(url) => url.clone(),
        None => {
            let host = state
                .settings
                .bind
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or("localhost");
            let host = match host {
                "0.0.0.0" | "[::]" | "" => "localhost",
                h => h,
            };
            format!("http://{host}:{port}")
        }
    };
    Ok(token.map(|t| format!("{base}/setup?token={t}")))
}

fn closed() -> HtmlError {
    AppError::not_found("there is nothing to set up: Keyward already has accounts").into()
}

fn bad_link() -> HtmlError {
    AppError::not_found(
        "this setup link is not valid: use the one-time URL that `keyward serve` printed at start-up",
    )
    .into()
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SetupQuery {
    token: String,
}

/// `GET /setup?token=…`.
pub async fn setup_page(
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, HtmlError> {
    let token = query.into_inner().token;
    let checked = token.clone();
    let (open, valid) = state
        .run(move |conn, _| {
            Ok((
                setup::is_open(conn)?,
                setup::token_is_valid(conn, &checked)?,
            ))
        })
        .await?;
    if !open {
        return Err(closed());
    }
    if !valid {
        return Err(bad_link());
    }
    html(
        StatusCode::OK,
        &SetupPage {
            layout: Layout::anonymous("Set up Keyward"),
            form: SetupForm {
                token,
                ..SetupForm::default()
            },
        },
    )
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SetupInput {
    token: String,
    tenant_name: String,
    tenant_slug: String,
    name: String,
    email: String,
    password: String,
}

fn field<T>(errors: &mut FieldErrors, name: &str, parsed: Result<T, InvalidInput>) -> Option<T> {
    parsed.map_err(|e| errors.add(name, e.message)).ok()
}

/// `POST /setup`.
pub async fn complete(
    req: actix_web::HttpRequest,
    hx: Htmx,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<SetupInput>,
) -> Result<HttpResponse, HtmlError> {
    let input = form.into_inner();
    let checked = input.token.clone();
    let (open, valid) = state
        .run(move |conn, _| {
            Ok((
                setup::is_open(conn)?,
                setup::token_is_valid(conn, &checked)?,
            ))
        })
        .await?;
    if !open {
        return Err(closed());
    }
    if !valid {
        return Err(bad_link());
    }
    let mut errors = FieldErrors::default();
    let tenant_name = field(
        &mut errors,
        "tenant_name",
        TenantName::parse(&input.tenant_name),
    );
    let tenant_slug = field(
        &mut errors,
        "tenant_slug",
        TenantSlug::parse(&input.tenant_slug),
    );
    let name = field(&mut errors, "name", PersonName::parse(&input.name));
    let email = field(&mut errors, "email", Email::parse(&input.email));
    let password = field(
        &mut errors,
        "password",
        Password::parse_new(&input.password),
    );
    let (Some(tenant_name), Some(tenant_slug), Some(name), Some(email), Some(password)) =
        (tenant_name, tenant_slug, name, email, password)
    else {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                layout: Layout::anonymous("Set up Keyward"),
                form: SetupForm {
                    token: input.token,
                    tenant_name: input.tenant_name,
                    tenant_slug: input.tenant_slug,
                    name: input.name,
                    email: input.email,
                    errors,
                },
            },
        );
    };
    let token = input.token;
    let password = passwords::hash_bounded(password).await?;
    let ip = crate::web::client_ip::client_ip(&req, &state.settings);
    let (tenant, account) = state
        .run(move |conn, now| {
            setup::complete(
                conn,
                now,
                &token,
                FirstRun {
                    tenant_name,
                    tenant_slug,
                    email,
                    name,
                    password,
                    ip,
                },
            )
        })
        .await?;
    session::start(&session, &account.id, Some(&tenant.id))?;
    session::set_flash(
        &session,
        format!(
            "Welcome! You administer the tenant “{}”. Invite people from Team › Members.",
            tenant.name
        ),
    )?;
    Ok(redirect(hx, super::sign_in::HOME))
}
