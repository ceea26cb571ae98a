use std::io;

/// Why a file action failed. Paths are the ones the user wrote or their
/// place inside the root (`/app/x`), never host paths.
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    /// A source path does not exist (or is hidden, e.g. by .dockerignore).
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    /// A wildcard source matched nothing and that is not allowed.
    #[error("{pattern}: no such file or directory (no source file matches the pattern)")]
    NoMatch { pattern: String },
    /// A copy names a source input that was not handed to [`apply`](super::apply).
    #[error("copy of {src}: source input {index} does not exist ({count} given)")]
    NoSuchSource {
        src: String,
        index: usize,
        count: usize,
    },
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// `/etc/passwd` or `/etc/group` of the destination cannot be used.
    #[error("reading {path} of the destination: {reason}")]
    UserFile { path: &'static str, reason: String },
    #[error("invalid chmod parameter {mode:?}: {reason}")]
    InvalidMode { mode: String, reason: String },
    #[error("invalid {kind} pattern {pattern:?}: syntax error in pattern")]
    InvalidPattern { kind: &'static str, pattern: String },
    /// A file would replace a directory (BuildKit refuses too).
    #[error("cannot replace directory {path} with a file")]
    ReplaceDirWithFile { path: String },
    /// A directory would be copied onto an existing non-directory.
    #[error("cannot copy to non-directory: {path}")]
    NotADirectory { path: String },
    /// An archive being unpacked (ADD) is invalid or tries to leave its
    /// destination.
    #[error("unpacking {archive}: {message}")]
    Archive { archive: String, message: String },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl FileOpError {
    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> Self {
        FileOpError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Attach an operation and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &str) -> Result<T, FileOpError>;
}

impl<T, E: Into<io::Error>> IoContext<T> for Result<T, E> {
    fn ctx(self, op: &'static str, path: &str) -> Result<T, FileOpError> {
        self.map_err(|e| FileOpError::io(op, display(path), e.into()))
    }
}

/// A path inside a root as shown in messages: rooted, `/` for the root.
pub(crate) fn display(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}
