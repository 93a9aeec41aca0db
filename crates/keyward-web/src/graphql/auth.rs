//! `hello`, `auth_info` (who the key authenticates as) and `change_password`.

use crate::domain::{AccountKind, Password, Role};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::context::RequestContext;
use crate::graphql::scalars::Uuid;
use crate::graphql::SuccessPayload;
use crate::services::password_checks;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

/// A member's role in a tenant.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "role")]
pub enum GqlRole {
    Admin,
    User,
    ReadOnlyUser,
}

impl From<Role> for GqlRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => GqlRole::Admin,
            Role::User => GqlRole::User,
            Role::ReadOnlyUser => GqlRole::ReadOnlyUser,
        }
    }
}

impl From<GqlRole> for Role {
    fn from(r: GqlRole) -> Self {
        match r {
            GqlRole::Admin => Role::Admin,
            GqlRole::User => Role::User,
            GqlRole::ReadOnlyUser => Role::ReadOnlyUser,
        }
    }
}

/// `USER` (a person) or `SERVICE_ACCOUNT`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "account_type")]
pub enum GqlAccountType {
    User,
    ServiceAccount,
}

impl From<AccountKind> for GqlAccountType {
    fn from(k: AccountKind) -> Self {
        match k {
            AccountKind::User => GqlAccountType::User,
            AccountKind::ServiceAccount => GqlAccountType::ServiceAccount,
        }
    }
}

/// What the presented API key authenticates as, read on this request.
#[derive(SimpleObject)]
#[graphql(name = "auth_info", rename_fields = "snake_case")]
pub struct AuthInfo {
    /// The key's account: a person, or the service account itself.
    user_id: Uuid,
    /// The one tenant the key serves.
    tenant_id: Uuid,
    api_key_id: Uuid,
    /// The account's role in the tenant right now.
    role: GqlRole,
    account_type: GqlAccountType,
    /// Whether the key is read-only (every mutation through it is FORBIDDEN).
    read_only: bool,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AuthQuery {
    /// Answers without a key: a cheap check that the endpoint is there.
    async fn hello(&self) -> &'static str {
        "Hello from Keyward"
    }

    async fn auth_info(&self, ctx: &Context<'_>) -> async_graphql::Result<AuthInfo> {
        let caller = RequestContext::of(ctx)?
            .caller()
            .map_err(AppError::into_graphql)?;
        let p = &caller.principal;
        Ok(AuthInfo {
            user_id: p.account_id().to_string().into(),
            tenant_id: p.tenant_id().to_string().into(),
            api_key_id: p.key_id().to_string().into(),
            role: p.role().map_err(AppError::into_graphql)?.into(),
            account_type: p.account_kind().into(),
            read_only: p.read_only(),
        })
    }
}

#[derive(InputObject)]
#[graphql(name = "change_password_input", rename_fields = "snake_case")]
pub struct ChangePasswordInput {
    current_password: String,
    /// At least 8 characters.
    new_password: String,
}

#[derive(Default)]
pub struct AuthMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AuthMutation {
    /// Changes the password of the person whose key this is (not for service accounts);
    /// every dashboard session of theirs ends.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> async_graphql::Result<SuccessPayload> {
        let new = Password::parse_new(&input.new_password)
            .map_err(|e| AppError::from(e).into_graphql())?;
        let current = Password::offered(&input.current_password);
        let request = RequestContext::of(ctx)?;
        let actor = request.caller().map_err(AppError::into_graphql)?.actor();
        let state = &request.state;
        password_checks::change_own_password(&state.db, &state.clock, actor, current, new)
            .await
            .map_err(AppError::into_graphql)?;
        Ok(SuccessPayload { success: true })
    }
}
