//! The one error type of the Rust core; the Python skin maps each variant onto `polyhunter.errors`.

use std::fmt;

/// An error from the Rust core. Messages name the offending value, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// Input bytes that are not a well-formed log, hash or hex string.
    Decode(String),
    /// A value of the right type but outside what the operation accepts.
    InvalidInput(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Decode(msg) | CoreError::InvalidInput(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CoreError {}

pub type CoreResult<T> = Result<T, CoreError>;
