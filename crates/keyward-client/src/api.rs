//! One GraphQL request to a Keyward server over `ureq`, and the exit code each kind of
//! failure leaves with (see `cli::EXIT_CODES`).

use super::config::Sourced;
use crate::cli::CliError;
use serde_json::{json, Value};
use std::time::Duration;

/// Exit codes beyond `CliError::usage` (2) and `CliError::failure` (1).
pub const NOT_AUTHENTICATED: i32 = 3;
pub const PERMISSION_DENIED: i32 = 4;
pub const UNREACHABLE: i32 = 5;

/// A server and the key to call it with. No `Debug`: it holds the key.
pub struct Api {
    pub url: Sourced,
    pub key: Sourced,
    endpoint: String,
    agent: ureq::Agent,
}

impl Api {
    pub fn new(url: Sourced, key: Sourced) -> Result<Self, CliError> {
        let endpoint = endpoint(&url.value)?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Api {
            url,
            key,
            endpoint,
            agent,
        })
    }

    /// Runs `query`; the `data` object, or the first error as a `CliError`.
    pub fn call(&self, query: &str, variables: Value) -> Result<Value, CliError> {
        let unreachable = |e: &dyn std::fmt::Display| CliError {
            message: format!("cannot reach the Keyward server at {}: {e}", self.url.value),
            code: UNREACHABLE,
        };
        let response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &format!("Bearer {}", self.key.value))
            .send_json(json!({ "query": query, "variables": variables }));
        let mut response = match response {
            Ok(r) => r,
            Err(e @ ureq::Error::BadUri(_)) => {
                return Err(CliError::usage(format!(
                    "the server URL {} is not valid ({e})",
                    self.url.value
                )))
            }
            Err(e) => return Err(unreachable(&e)),
        };
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().map_err(|_| {
            CliError::failure(format!(
                "{} answered HTTP {status} without a GraphQL answer: is --url a Keyward server?",
                self.endpoint
            ))
        })?;
        if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
            return Err(self.error(error));
        }
        if status >= 400 || !body["data"].is_object() {
            return Err(CliError::failure(format!(
                "{} answered HTTP {status} without data",
                self.endpoint
            )));
        }
        Ok(body["data"].clone())
    }

    fn error(&self, error: &Value) -> CliError {
        let message = error["message"]
            .as_str()
            .unwrap_or("the server refused the request");
        match error["extensions"]["code"].as_str().unwrap_or_default() {
            "UNAUTHENTICATED" => CliError {
                message: format!(
                    "not authenticated: {message} (the key came from the {})",
                    self.key.source
                ),
                code: NOT_AUTHENTICATED,
            },
            "FORBIDDEN" => CliError {
                message: format!("permission denied: {message}"),
                code: PERMISSION_DENIED,
            },
            "BAD_USER_INPUT" | "NOT_FOUND" => CliError::usage(message),
            "SERVICE_UNAVAILABLE" => CliError {
                message: format!("the server at {} is unavailable: {message}", self.url.value),
                code: UNREACHABLE,
            },
            _ => CliError::failure(message),
        }
    }
}

/// `URL/graphql`, from a base URL or one that already ends in `/graphql`.
fn endpoint(url: &str) -> Result<String, CliError> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "the server URL must start with http:// or https://, e.g. https://keys.example.com (got {url:?})"
        )));
    }
    Ok(if url.ends_with("/graphql") {
        url.to_string()
    } else {
        format!("{url}/graphql")
    })
}
