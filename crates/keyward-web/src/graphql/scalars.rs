//! `UUID` and `DateTime`: ids are lowercase UUID strings, times RFC 3339 in UTC.

use crate::domain::clock::rfc3339;
use crate::domain::ids::parse_id;
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use time::PrimitiveDateTime;

/// An id: any UUID spelling in, the canonical lowercase form out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uuid(pub String);

#[Scalar(name = "UUID")]
impl ScalarType for Uuid {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_id("id", s)
                .map(Uuid)
                .map_err(|e| InputValueError::custom(e.message)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// The scalar holds the canonical form already: it becomes the domain's id as is.
impl Uuid {
    pub fn tenant(self) -> crate::domain::TenantId {
        crate::domain::TenantId::from_stored(self.0)
    }
    pub fn account(self) -> crate::domain::AccountId {
        crate::domain::AccountId::from_stored(self.0)
    }
    pub fn api_key(self) -> crate::domain::ApiKeyId {
        crate::domain::ApiKeyId::from_stored(self.0)
    }
    pub fn invitation(self) -> crate::domain::InvitationId {
        crate::domain::InvitationId::from_stored(self.0)
    }
    pub fn agent(self) -> crate::domain::AgentId {
        crate::domain::AgentId::from_stored(self.0)
    }
}

macro_rules! uuid_from_id {
    ($($id:ident),*) => {$(
        impl From<crate::domain::$id> for Uuid {
            fn from(id: crate::domain::$id) -> Self {
                Uuid(id.into_inner())
            }
        }
    )*};
}
uuid_from_id!(TenantId, AccountId, ApiKeyId, InvitationId, AgentId);

impl From<String> for Uuid {
    fn from(s: String) -> Self {
        Uuid(s)
    }
}

/// A point in time: RFC 3339 with any offset in (`2031-01-01T00:00:00+00:00`), UTC with
/// a `Z` out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub PrimitiveDateTime);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => crate::domain::clock::parse_rfc3339_utc(s)
                .map(DateTime)
                .ok_or_else(|| {
                    InputValueError::custom(
                        "must be an RFC 3339 time no later than year 9999, such as 2031-01-01T00:00:00Z",
                    )
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(rfc3339(self.0))
    }
}

impl From<PrimitiveDateTime> for DateTime {
    fn from(t: PrimitiveDateTime) -> Self {
        DateTime(t)
    }
}
