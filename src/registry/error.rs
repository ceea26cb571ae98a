//! What can go wrong talking to a registry, worded for the person at the
//! terminal: which registry, which repository, what to do.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference {reference:?}: {message}")]
    Reference { reference: String, message: String },
    #[error("cannot reach registry {host}: {message}")]
    Unreachable { host: String, message: String },
    #[error(
        "login required: {host} refused anonymous access to {repository} (run `kiln login {host}`)"
    )]
    LoginRequired { host: String, repository: String },
    #[error("access to {repository} on {host} denied{}", credentials_hint(*with_credentials))]
    Denied {
        host: String,
        repository: String,
        with_credentials: bool,
    },
    #[error("{what} not found in {host}/{repository}")]
    NotFound {
        host: String,
        repository: String,
        what: String,
    },
    #[error("{host}: {method} {path}: HTTP {status}{}", detail_suffix(detail))]
    Http {
        host: String,
        method: String,
        path: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}; nothing was stored")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{host}: authentication failed: {message}")]
    Auth { host: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("local store: {0}")]
    Store(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn credentials_hint(with_credentials: bool) -> &'static str {
    if with_credentials {
        " (the stored credentials do not grant it)"
    } else {
        " (not logged in: run `kiln login`)"
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl RegistryError {
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        RegistryError::Io {
            context: context.to_string(),
            source,
        }
    }

    pub fn store(e: impl fmt::Display) -> Self {
        RegistryError::Store(e.to_string())
    }

    /// Worth another attempt: a server error or a broken connection.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Http { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Unreachable { .. } => true,
            RegistryError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Other
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The registry's own explanation from an error body
/// (`{"errors":[{"code":..,"message":..}]}`), if it sent one.
pub fn body_detail(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => body.trim().chars().take(200).collect(),
    }
}
