//! Team › Members: list members (admins); invitations, roles and removal (human admins).

use crate::db::models::Invitation;
use crate::domain::Role;
use crate::graphql::auth::{GqlAccountType, GqlRole};
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::graphql::SuccessPayload;
use crate::services::invitations::{self, PendingInvitation};
use crate::services::members::{self, Member};
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "member", rename_fields = "snake_case")]
pub struct GqlMember {
    user_id: Uuid,
    name: String,
    /// People only.
    email: Option<String>,
    account_type: GqlAccountType,
    role: GqlRole,
    joined_at: DateTime,
}

impl From<Member> for GqlMember {
    fn from(m: Member) -> Self {
        GqlMember {
            account_type: m.account.kind().into(),
            user_id: m.account.id.into(),
            name: m.account.name,
            email: m.account.email,
            role: m.role.into(),
            joined_at: m.joined_at.into(),
        }
    }
}

/// A pending invitation; its token was shown once, when it was created.
#[derive(SimpleObject)]
#[graphql(name = "invitation", rename_fields = "snake_case")]
pub struct GqlInvitation {
    id: Uuid,
    tenant_id: Uuid,
    role: GqlRole,
    created_at: DateTime,
    expires_at: DateTime,
    /// The admin who made the link; it stops working if they stop being an admin.
    created_by: Uuid,
    /// Their name, in the `invitations` list (null when they are gone).
    created_by_name: Option<String>,
}

impl From<Invitation> for GqlInvitation {
    fn from(i: Invitation) -> Self {
        GqlInvitation {
            role: Role::parse(&i.role).unwrap_or(Role::ReadOnlyUser).into(),
            id: i.id.into(),
            tenant_id: i.tenant_id.into(),
            created_at: i.created_at.into(),
            expires_at: i.expires_at.into(),
            created_by: i.created_by.into(),
            created_by_name: None,
        }
    }
}

impl From<PendingInvitation> for GqlInvitation {
    fn from(p: PendingInvitation) -> Self {
        GqlInvitation {
            created_by_name: p.created_by_name,
            ..p.invitation.into()
        }
    }
}

/// A new invitation. `token` is the one-time secret of the link, shown only here.
#[derive(SimpleObject)]
#[graphql(name = "create_invitation_payload", rename_fields = "snake_case")]
pub struct CreateInvitationPayload {
    invitation: GqlInvitation,
    token: String,
}

#[derive(InputObject)]
#[graphql(name = "create_invitation_input", rename_fields = "snake_case")]
pub struct CreateInvitationInput {
    role: GqlRole,
    tenant_id: Option<Uuid>,
}

#[derive(InputObject)]
#[graphql(name = "revoke_invitation_input", rename_fields = "snake_case")]
pub struct RevokeInvitationInput {
    id: Uuid,
    tenant_id: Option<Uuid>,
}

#[derive(InputObject)]
#[graphql(name = "change_member_role_input", rename_fields = "snake_case")]
pub struct ChangeMemberRoleInput {
    user_id: Uuid,
    role: GqlRole,
    tenant_id: Option<Uuid>,
}

#[derive(InputObject)]
#[graphql(name = "remove_member_input", rename_fields = "snake_case")]
pub struct RemoveMemberInput {
    user_id: Uuid,
    tenant_id: Option<Uuid>,
}

#[derive(Default)]
pub struct MembersQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl MembersQuery {
    /// The tenant's members (default: the key's tenant), service accounts included; admins only.
    async fn members(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<GqlMember>> {
        let list = RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                members::list_members(conn, actor, &tenant_id)
            })
            .await?;
        Ok(list.into_iter().map(GqlMember::from).collect())
    }

    /// Pending invitations of the tenant; human admins only.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<GqlInvitation>> {
        let list = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                invitations::list_pending_invitations(conn, actor, now, &tenant_id)
            })
            .await?;
        Ok(list.into_iter().map(GqlInvitation::from).collect())
    }
}

#[derive(Default)]
pub struct MembersMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl MembersMutation {
    /// A one-time link valid 24 hours; whoever opens it signed in joins with `role`.
    async fn create_invitation(
        &self,
        ctx: &Context<'_>,
        input: CreateInvitationInput,
    ) -> async_graphql::Result<CreateInvitationPayload> {
        let context = RequestContext::of(ctx)?;
        let quotas = context.state.settings.quotas;
        let created = context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                invitations::create_invitation_within(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    input.role.into(),
                    &quotas,
                )
            })
            .await?;
        Ok(CreateInvitationPayload {
            invitation: created.invitation.into(),
            token: created.token,
        })
    }

    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        input: RevokeInvitationInput,
    ) -> async_graphql::Result<SuccessPayload> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                invitations::revoke_invitation(conn, actor, now, &tenant_id, &input.id.0)
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }

    /// The last human admin cannot be demoted.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        input: ChangeMemberRoleInput,
    ) -> async_graphql::Result<GqlMember> {
        let member = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                members::change_role(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    &input.user_id.0,
                    input.role.into(),
                )
            })
            .await?;
        Ok(member.into())
    }

    /// Removes a person from the tenant; their keys for it are revoked. The last human
    /// admin cannot be removed.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<SuccessPayload> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                members::remove_member(conn, actor, now, &tenant_id, &input.user_id.0)
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }
}
