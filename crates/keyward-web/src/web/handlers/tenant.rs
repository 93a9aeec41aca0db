//! The tenant switcher: which tenant the nav's Team links and the create-key form start
//! from. Team pages carry their tenant in the URL, which makes it the current one.

use crate::domain::TenantId;
use crate::error::{AppError, HtmlError};
use crate::services::permissions::{self, Permission};
use crate::services::sessions;
use crate::web::htmx::{redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SwitchInput {
    tenant_id: String,
}

/// `POST /tenant`: only to a tenant you belong to.
pub async fn switch(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    input: web::Form<SwitchInput>,
    req: HttpRequest,
) -> Result<HttpResponse, HtmlError> {
    let actor = signed_in.actor();
    let tenant_id =
        TenantId::parse_as("tenant_id", &input.into_inner().tenant_id).map_err(AppError::from)?;
    let (tenant_id, manages) = state
        .run(move |conn, _| {
            let tenant_id = sessions::choose_tenant(conn, &actor, &tenant_id)?;
            let manages =
                permissions::allows(conn, &actor, &tenant_id, Permission::ManageServiceAccounts)?;
            Ok((tenant_id, manages))
        })
        .await?;
    session::set_current_tenant(&signed_in.session, tenant_id.as_str())?;
    // From a Team page, to the same Team page of the new tenant (when you may see it).
    let team_page = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<actix_web::http::Uri>().ok())
        .and_then(|uri| {
            let path = uri.path();
            session::team_page_slug(path)?;
            let page = path.split('/').nth(4)?;
            matches!(page, "service-accounts" | "members" | "audit-log")
                .then(|| format!("/team/{page}"))
        })
        .filter(|_| manages);
    Ok(redirect(
        hx,
        team_page.as_deref().unwrap_or(super::sign_in::HOME),
    ))
}
