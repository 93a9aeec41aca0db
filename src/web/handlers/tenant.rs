//! The tenant switcher: which tenant the nav's Team links and the create-key form start
//! from. Team pages carry their tenant in the URL and never act on this choice.

use crate::error::HtmlError;
use crate::services::sessions;
use crate::web::htmx::{redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::AppState;
use actix_web::{web, HttpResponse};

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
) -> Result<HttpResponse, HtmlError> {
    let actor = signed_in.actor();
    let tenant_id = input.into_inner().tenant_id;
    let tenant_id = state
        .run(move |conn, _| sessions::choose_tenant(conn, &actor, &tenant_id))
        .await?;
    session::set_current_tenant(&signed_in.session, &tenant_id)?;
    Ok(redirect(hx, super::sign_in::HOME))
}
