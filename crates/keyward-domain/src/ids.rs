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
