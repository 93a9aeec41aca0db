//! Who is acting: an operator at the command line, a signed-in person, or the holder of
//! an API key (a `Principal`, which only the auth pipeline can make).

use crate::domain::{AccountId, AccountKind, ApiKeyId, Role, TenantId};
use crate::error::AppError;

/// What an API key authenticated as. Fields are private: only `services::auth` builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub(super) account_id: AccountId,
    pub(super) account_kind: AccountKind,
    pub(super) tenant_id: TenantId,
    /// `None`: a role this version does not know, which allows nothing.
    pub(super) role: Option<Role>,
    pub(super) key_id: ApiKeyId,
    /// The key's name when it authenticated, kept in the audit events it causes.
    pub(super) key_name: String,
    pub(super) read_only: bool,
}

impl Principal {
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }
    pub fn account_kind(&self) -> AccountKind {
        self.account_kind
    }
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }
    /// The account's role in the key's tenant, read on this request; one this version
    /// does not know is refused like a missing permission.
    pub fn role(&self) -> Result<Role, AppError> {
        self.role.ok_or_else(|| {
            AppError::forbidden(
                "this API key's account holds a role in its tenant that this version of Keyward does not know, so the key allows nothing here; an admin of the tenant can set the role again",
            )
        })
    }
    pub fn key_id(&self) -> &ApiKeyId {
        &self.key_id
    }
    /// A read-only key answers queries and may change nothing.
    pub fn read_only(&self) -> bool {
        self.read_only
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// `keyward admin` at the command line: may do the operator rows of the matrix.
    Operator,
    /// A person signed in to the dashboard; roles are read per tenant on each call.
    Person { account_id: AccountId },
    /// A request authenticated by an API key: everything stays in the key's tenant.
    ApiKey(Principal),
}

/// Whether a person acting may act in tenants that require single sign-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleSignOn {
    /// A dashboard session opened through the OpenID provider within
    /// `--oidc-session-hours`, or a step that is no dashboard session (setup, an audit
    /// record, an admin's check made for them).
    Satisfied,
    /// A dashboard session not opened through the provider (a password, say) or past
    /// `--oidc-session-hours`, or an account just made with a password: tenants that
    /// require single sign-on refuse it (`permissions::access`).
    Outside,
}

impl SingleSignOn {
    pub fn outside(outside: bool) -> Self {
        match outside {
            true => SingleSignOn::Outside,
            false => SingleSignOn::Satisfied,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Private to the crate (read it with `kind()`), as `outside_sso` is: an actor is made
    /// only by the constructors, so a person's actor always says whether it is outside
    /// single sign-on (`person`'s required argument cannot be skipped by a struct literal).
    pub(crate) kind: ActorKind,
    /// The client address, for the audit log.
    pub ip: Option<String>,
    /// A dashboard session not opened through the OpenID provider (a password, say), or
    /// past `--oidc-session-hours`: tenants that require single sign-on refuse it
    /// (`permissions::access`). Only the web session sets it.
    pub(crate) outside_sso: bool,
}

impl Actor {
    pub fn operator() -> Self {
        Self::operator_from(None)
    }

    /// The operator, acting through a request from `ip` (the revocation API's token).
    pub fn operator_from(ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::Operator,
            ip,
            outside_sso: false,
        }
    }

    /// Who acts.
    pub fn kind(&self) -> &ActorKind {
        &self.kind
    }

    /// Whether tenants that require single sign-on refuse this actor (a dashboard session
    /// outside it).
    pub fn outside_sso(&self) -> bool {
        self.outside_sso
    }

    /// A person acting; `sso` says whether they may act in tenants that require single
    /// sign-on (required, so no caller can forget a password session's limit).
    pub fn person(account_id: impl Into<String>, ip: Option<String>, sso: SingleSignOn) -> Self {
        Self {
            kind: ActorKind::Person {
                account_id: AccountId::from_stored(account_id),
            },
            ip,
            outside_sso: sso == SingleSignOn::Outside,
        }
    }

    pub fn api_key(principal: Principal, ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::ApiKey(principal),
            ip,
            outside_sso: false,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.kind == ActorKind::Operator
    }

    /// The acting account, if any (operators have none).
    pub fn account_id(&self) -> Option<&AccountId> {
        match &self.kind {
            ActorKind::Operator => None,
            ActorKind::Person { account_id } => Some(account_id),
            ActorKind::ApiKey(p) => Some(&p.account_id),
        }
    }

    pub fn key_id(&self) -> Option<&ApiKeyId> {
        match &self.kind {
            ActorKind::ApiKey(p) => Some(&p.key_id),
            _ => None,
        }
    }

    pub fn key_name(&self) -> Option<&str> {
        match &self.kind {
            ActorKind::ApiKey(p) => Some(&p.key_name),
            _ => None,
        }
    }

    /// The one tenant an API key is bound to.
    pub fn bound_tenant(&self) -> Option<&TenantId> {
        match &self.kind {
            ActorKind::ApiKey(p) => Some(&p.tenant_id),
            _ => None,
        }
    }

    pub fn is_service_account(&self) -> bool {
        matches!(&self.kind, ActorKind::ApiKey(p) if p.account_kind == AccountKind::ServiceAccount)
    }

    /// Whether this is a read-only API key (then every change is refused).
    pub fn is_read_only(&self) -> bool {
        matches!(&self.kind, ActorKind::ApiKey(p) if p.read_only)
    }

    pub fn is(&self, account_id: &str) -> bool {
        self.account_id().is_some_and(|a| a == account_id)
    }
}
