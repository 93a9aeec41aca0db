//! A failure the command line reports as one line, with the exit code to leave with
//! (`keyward --help` lists the codes). Shared by the operator commands and the terminal
//! client; `keyward_core::error` maps its error to one.

use crate::InvalidInput;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    /// Bad input or a conflict with what is stored: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
    /// Anything else (database unreachable, I/O): exit code 1.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<InvalidInput> for CliError {
    fn from(e: InvalidInput) -> Self {
        Self::usage(e.to_string())
    }
}
