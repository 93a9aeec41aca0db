//! Account recovery through the API: an admin's password reset link for a member, as
//! Team › Members makes it (`services::recovery`).

use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::recovery;
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(InputObject)]
#[graphql(
    name = "create_password_reset_link_input",
    rename_fields = "snake_case"
)]
pub struct CreatePasswordResetLinkInput {
    user_id: Uuid,
    tenant_id: Option<Uuid>,
}

/// A one-time password reset link, shown only here. `token` is its secret; `path` is
/// where it opens on this server; `link` is the whole link under `--public-url` (null
/// when the server has none: put `path` after the address people use).
#[derive(SimpleObject)]
#[graphql(
    name = "create_password_reset_link_payload",
    rename_fields = "snake_case"
)]
pub struct CreatePasswordResetLinkPayload {
    token: String,
    path: String,
    link: Option<String>,
    expires_at: DateTime,
}

#[derive(Default)]
pub struct RecoveryMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl RecoveryMutation {
    /// A one-time link, valid one hour, with which a member sets a new password (it signs
    /// nobody in; older links of theirs stop working). Human admins only, for people who
    /// belong to no tenant the caller does not administer; never for service accounts or
    /// oneself.
    async fn create_password_reset_link(
        &self,
        ctx: &Context<'_>,
        input: CreatePasswordResetLinkInput,
    ) -> async_graphql::Result<CreatePasswordResetLinkPayload> {
        let context = RequestContext::of(ctx)?;
        let base = context
            .state
            .settings
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string());
        let issued = context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                recovery::create_reset_link(conn, actor, now, &tenant_id, &input.user_id.0)
            })
            .await?;
        let path = recovery::link_path(&issued.token);
        Ok(CreatePasswordResetLinkPayload {
            link: base.map(|b| format!("{b}{path}")),
            path,
            token: issued.token,
            expires_at: issued.expires_at.into(),
        })
    }
}
