//! Team › Members: list members (admins); invitations, roles and removal (human admins).

use crate::db::models::api_key_list::KeyOrderField;
use crate::db::models::team_lists::TeamWhere;
use crate::db::models::Invitation;
use crate::domain::{AccountKind, Email, InvitationNote, Role};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::auth::{GqlAccountType, GqlRole};
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::lists::{
    first_order, offset_page, Aggregate, OrderBy, StringComparison, TimeComparison, Window,
};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::graphql::SuccessPayload;
use crate::services::invitations::{self, InvitationRequest, PendingInvitation};
use crate::services::mail::MailLinks;
use crate::services::members::{self, Member};
use crate::services::team_lists::{self, TeamList};
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
    /// Whether the person has two-factor authentication on (service accounts: false).
    two_factor_enabled: bool,
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
            two_factor_enabled: false,
        }
    }
}

impl GqlMember {
    /// The members with whether each has two-factor on, read at once.
    fn with_two_factor(
        conn: &mut crate::db::DbConnection,
        members: Vec<Member>,
    ) -> Result<Vec<GqlMember>, AppError> {
        let ids: Vec<String> = members.iter().map(|m| m.account.id.clone()).collect();
        let on = crate::services::two_factor::enabled_among(conn, &ids)?;
        Ok(members
            .into_iter()
            .map(|m| {
                let enabled = on.contains(&m.account.id);
                GqlMember {
                    two_factor_enabled: enabled,
                    ..m.into()
                }
            })
            .collect())
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
    /// What the admin wrote to tell it apart from other pending links (null: nothing).
    note: Option<String>,
    /// The address it was mailed to and is bound to (null: a link for whoever holds it).
    email: Option<String>,
}

impl From<Invitation> for GqlInvitation {
    fn from(i: Invitation) -> Self {
        GqlInvitation {
            role: i.role().unwrap_or(Role::ReadOnlyUser).into(),
            id: i.id.into(),
            tenant_id: i.tenant_id.into(),
            created_at: i.created_at.into(),
            expires_at: i.expires_at.into(),
            created_by: i.created_by.into(),
            created_by_name: None,
            note: i.note,
            email: i.email,
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
    /// The address the link is mailed to: queued with the invitation and sent in the
    /// background, at least once (null: nothing mailed).
    mailed_to: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "create_invitation_input", rename_fields = "snake_case")]
pub struct CreateInvitationInput {
    role: GqlRole,
    tenant_id: Option<Uuid>,
    /// Up to 100 characters for the admins, to tell pending links apart ("for Grace").
    note: Option<String>,
    /// Mail the link to this address and bind the invitation to it: an account made
    /// through it takes this address, an existing account must have it. Needs a server
    /// with --smtp-url and --public-url (links in mail are built only from the latter).
    email: Option<String>,
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

/// A role in a `where`: one of the role names.
fn role_of(c: &Option<StringComparison>) -> async_graphql::Result<Option<String>> {
    StringComparison::eq_of(c)
        .map(|r| Role::parse(&r).map(|r| r.as_str().to_string()))
        .transpose()
        .map_err(|e| AppError::from(e).into_graphql())
}

/// `where` on members: all given conditions must hold. `name: {_ilike}` matches the
/// name or the email, as the dashboard's search does.
#[derive(InputObject, Default)]
#[graphql(name = "member_bool_exp", rename_fields = "snake_case")]
pub struct MemberWhere {
    user_id: Option<StringComparison>,
    name: Option<StringComparison>,
    /// `ADMIN`, `USER` or `READ_ONLY_USER`.
    role: Option<StringComparison>,
    account_type: Option<GqlAccountType>,
    joined_at: Option<TimeComparison>,
}

impl MemberWhere {
    fn into_filter(self) -> async_graphql::Result<TeamWhere> {
        let (created_before, created_after, _) = TimeComparison::parts(&self.joined_at);
        Ok(TeamWhere {
            account_id: StringComparison::eq_of(&self.user_id),
            name_eq: StringComparison::eq_of(&self.name),
            name_like: StringComparison::ilike_of(&self.name),
            role: role_of(&self.role)?,
            account_type: self.account_type.map(|t| match t {
                GqlAccountType::User => AccountKind::User,
                GqlAccountType::ServiceAccount => AccountKind::ServiceAccount,
            }),
            created_before,
            created_after,
            ..TeamWhere::default()
        })
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "member_order_by", rename_fields = "snake_case")]
pub struct MemberOrderBy {
    joined_at: Option<OrderBy>,
    name: Option<OrderBy>,
}

/// `where` on pending invitations.
#[derive(InputObject, Default)]
#[graphql(name = "invitation_bool_exp", rename_fields = "snake_case")]
pub struct InvitationWhere {
    role: Option<StringComparison>,
    created_by: Option<StringComparison>,
    created_at: Option<TimeComparison>,
}

impl InvitationWhere {
    fn into_filter(self) -> async_graphql::Result<TeamWhere> {
        let (created_before, created_after, _) = TimeComparison::parts(&self.created_at);
        Ok(TeamWhere {
            account_id: StringComparison::eq_of(&self.created_by),
            role: role_of(&self.role)?,
            created_before,
            created_after,
            ..TeamWhere::default()
        })
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "invitation_order_by", rename_fields = "snake_case")]
pub struct InvitationOrderBy {
    created_at: Option<OrderBy>,
}

#[derive(Default)]
pub struct MembersQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl MembersQuery {
    /// The tenant's members (default: the key's tenant), service accounts included,
    /// newest first; admins only. At most 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<MemberWhere>,
        order_by: Option<Vec<MemberOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlMember>> {
        let order = first_order(order_by.unwrap_or_default().into_iter().map(|o| {
            [
                (KeyOrderField::CreatedAt, o.joined_at),
                (KeyOrderField::Name, o.name),
            ]
        }));
        let page = offset_page(limit, offset, order)?;
        let w = filter.unwrap_or_default().into_filter()?;
        let list = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                let list = team_lists::members(conn, actor, now, &tenant_id, &w, &page)?;
                GqlMember::with_two_factor(conn, list)
            })
            .await?;
        Ok(list)
    }

    /// How many members `members` would page through with this `where`.
    async fn members_aggregate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<MemberWhere>,
    ) -> async_graphql::Result<Aggregate> {
        let w = filter.unwrap_or_default().into_filter()?;
        aggregate(ctx, tenant_id, TeamList::Members, w).await
    }

    /// Pending invitations of the tenant, newest first; human admins only. At most
    /// 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<InvitationWhere>,
        order_by: Option<Vec<InvitationOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlInvitation>> {
        let order = first_order(
            order_by
                .unwrap_or_default()
                .into_iter()
                .map(|o| [(KeyOrderField::CreatedAt, o.created_at)]),
        );
        let page = offset_page(limit, offset, order)?;
        let w = filter.unwrap_or_default().into_filter()?;
        let list = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                team_lists::invitations(conn, actor, now, &tenant_id, &w, &page)
            })
            .await?;
        Ok(list.into_iter().map(GqlInvitation::from).collect())
    }

    /// How many pending invitations `invitations` would page through with this `where`.
    async fn invitations_aggregate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<InvitationWhere>,
    ) -> async_graphql::Result<Aggregate> {
        let w = filter.unwrap_or_default().into_filter()?;
        aggregate(ctx, tenant_id, TeamList::Invitations, w).await
    }
}

/// The count of a team list with `w`, in the tenant (default: the key's).
pub(crate) async fn aggregate(
    ctx: &Context<'_>,
    tenant_id: Option<Uuid>,
    list: TeamList,
    w: TeamWhere,
) -> async_graphql::Result<Aggregate> {
    let count = RequestContext::of(ctx)?
        .run(move |conn, now, actor| {
            let tenant_id = tenant_or_own(tenant_id, actor)?;
            team_lists::count(conn, actor, now, list, &tenant_id, &w)
        })
        .await?;
    Ok(Aggregate::count(count))
}

#[derive(Default)]
pub struct MembersMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl MembersMutation {
    /// A one-time link valid 24 hours; whoever opens it signed in joins with `role`.
    /// With `email`, the link is also mailed there and only that address can use it.
    async fn create_invitation(
        &self,
        ctx: &Context<'_>,
        input: CreateInvitationInput,
    ) -> async_graphql::Result<CreateInvitationPayload> {
        let context = RequestContext::of(ctx)?;
        let quotas = context.state.settings.quotas;
        let mail = MailLinks::of(&context.state.settings);
        let note = InvitationNote::parse(input.note.as_deref().unwrap_or_default())
            .map_err(AppError::from)?;
        let email = input
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(Email::parse)
            .transpose()
            .map_err(AppError::from)?;
        let request = InvitationRequest {
            role: input.role.into(),
            note,
            email,
        };
        let created = context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                invitations::create_invitation_within(
                    conn, actor, now, &tenant_id, request, &quotas, &mail,
                )
            })
            .await?;
        Ok(CreateInvitationPayload {
            invitation: created.invitation.into(),
            token: created.token,
            mailed_to: created.mailed_to,
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
                invitations::revoke_invitation(conn, actor, now, &tenant_id, &input.id.invitation())
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
                let member = members::change_role(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    &input.user_id.account(),
                    input.role.into(),
                )?;
                GqlMember::with_two_factor(conn, vec![member])
            })
            .await?;
        member
            .into_iter()
            .next()
            .ok_or_else(|| AppError::internal("the changed member is missing").into_graphql())
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
                members::remove_member(conn, actor, now, &tenant_id, &input.user_id.account())
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }
}
