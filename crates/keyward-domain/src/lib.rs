//! Pure types and rules of the domain: ids, names, roles, API-key tokens and the clock.
//! Everything here is built valid or not at all; nothing here does I/O.

pub mod address_group;
pub mod allowed_ips;
pub mod api_key;
pub mod audit_action;
pub mod cli_error;
pub mod client_name;
pub mod clock;
pub mod ids;
pub mod key_policy;
pub mod leak;
pub mod names;
pub mod quotas;
pub mod role;

pub use address_group::{address_group, wide_address_group};
pub use allowed_ips::AllowedIps;
pub use api_key::{PlainToken, TokenDigest, TokenError, TokenKind};
pub use audit_action::AuditAction;
pub use cli_error::CliError;
pub use client_name::client_name;
pub use clock::Clock;
pub use ids::{new_id, AccountId, AgentId, ApiKeyId, AuditEventId, InvitationId, TenantId};
pub use key_policy::KeyPolicy;
pub use leak::{LeakLocation, LeakSource};
pub use names::{
    Email, ExpiresAt, InvitationNote, KeyDescription, KeyName, Password, PersonName, TenantName,
    TenantSlug,
};
pub use quotas::Quotas;
pub use role::{AccountKind, Role};

/// A value that failed validation, with a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
