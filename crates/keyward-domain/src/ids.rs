//! Ids are lowercase UUID strings (DESIGN §1).

use super::InvalidInput;

/// A fresh random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses any UUID spelling into the canonical lowercase hyphenated form.
pub fn parse_id(field: &'static str, raw: &str) -> Result<String, InvalidInput> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            InvalidInput::new(
                field,
                "must be a UUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            )
        })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// Built by parsing input at the edge (`parse`, with the field named in its error),
        /// from storage (`from_stored`, trusted as written), or fresh (`generate`). Reads as
        /// a `&str` (`as_str`) where storage takes text: the database keeps TEXT columns, so
        /// no data migrates. No `Deref` to `str`: an id never turns into text, or text into
        /// an id, without saying so.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Any UUID spelling, as the canonical lowercase form.
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                parse_id($field, raw).map(Self)
            }

            /// `parse`, naming another field in the error (a form's or a path's name).
            pub fn parse_as(field: &'static str, raw: &str) -> Result<Self, InvalidInput> {
                parse_id(field, raw).map(Self)
            }

            /// A value read from the database, or already checked (a GraphQL `UUID`, an id
            /// this process made), taken as is.
            pub fn from_stored(stored: impl Into<String>) -> Self {
                Self(stored.into())
            }

            pub fn generate() -> Self {
                Self(new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }
    };
}

id_type!(
    /// A tenant's id.
    TenantId,
    "tenant_id"
);
id_type!(
    /// An account's id: a person or a service account (`user_id` in GraphQL).
    AccountId,
    "user_id"
);
id_type!(
    /// An API key's id.
    ApiKeyId,
    "key_id"
);
id_type!(
    /// An invitation link's id (not its secret token).
    InvitationId,
    "id"
);
id_type!(
    /// A registered Prefect agent's id.
    AgentId,
    "agent_id"
);
id_type!(
    /// An audit event's id.
    AuditEventId,
    "id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_parses_any_uuid_spelling_into_the_stored_form() {
        let id = TenantId::parse(" 3F2504E0-4F89-41D3-9A0C-0305E82C3301 ").unwrap();
        assert_eq!(id, "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        assert_eq!(
            TenantId::parse("acme").unwrap_err().field,
            "tenant_id",
            "the error names the field"
        );
    }
}
