//! Roles in a tenant and kinds of account.

use super::InvalidInput;
use std::fmt;

/// A member's role in one tenant. USER and READ_ONLY_USER are treated alike by the
/// permission matrix; the difference is reported to consumers of Keyward's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    User,
    ReadOnlyUser,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::User, Role::ReadOnlyUser];

    /// The stored and GraphQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::User => "USER",
            Role::ReadOnlyUser => "READ_ONLY_USER",
        }
    }

    /// The CLI spelling: admin | user | read-only.
    pub fn cli_name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::ReadOnlyUser => "read-only",
        }
    }

    /// What people read in the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::User => "User",
            Role::ReadOnlyUser => "Read-only user",
        }
    }

    /// A stored role: `None` for one this version does not know (written by a newer
    /// version), which every permission check refuses.
    pub fn from_stored(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// Accepts the stored spelling and the CLI spelling, case-insensitively.
    pub fn parse(raw: &str) -> Result<Role, InvalidInput> {
        match raw.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "read-only" | "read-only-user" | "readonly" => Ok(Role::ReadOnlyUser),
            _ => Err(InvalidInput::new(
                "role",
                "must be one of admin, user, read-only",
            )),
        }
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person (signs in, has an email) or a service account (belongs to one tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountKind {
    User,
    ServiceAccount,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "USER",
            AccountKind::ServiceAccount => "SERVICE_ACCOUNT",
        }
    }

    pub fn parse(raw: &str) -> Result<AccountKind, InvalidInput> {
        match raw {
            "USER" => Ok(AccountKind::User),
            "SERVICE_ACCOUNT" => Ok(AccountKind::ServiceAccount),
            _ => Err(InvalidInput::new(
                "account_type",
                "must be USER or SERVICE_ACCOUNT",
            )),
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
