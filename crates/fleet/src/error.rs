//! The crate's error type.

use std::fmt;

/// Why `ninesdb fleet` could not finish.
#[derive(Debug)]
pub enum FleetError {
    /// A configuration value is missing, malformed or out of range.
    Config(String),
    /// Reading the configuration or writing a result file failed.
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for FleetError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Config(message) => write!(formatter, "fleet.toml: {message}"),
            FleetError::Io { path, source } => write!(formatter, "{path}: {source}"),
        }
    }
}

impl std::error::Error for FleetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FleetError::Config(_) => None,
            FleetError::Io { source, .. } => Some(source),
        }
    }
}
