//! The one error type of the store: every variant names the file,
//! directory or record it is about, so `kiln` can print a message a user
//! can act on (`error: cannot rename ... : No space left on device`).

use std::io;
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::snapshots::SnapshotId;

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Written (or stored) bytes do not hash to the digest they should.
    /// When writing, nothing is left behind.
    #[error("digest mismatch for {}: expected {expected}, got {actual}", path.display())]
    DigestMismatch {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },

    /// No blob with this digest in the content store.
    #[error("blob {digest} not found ({})", path.display())]
    BlobNotFound { digest: Digest, path: PathBuf },

    /// The metadata database refused an operation (full disk, foreign
    /// file, ...). The redb error is the source.
    #[error("metadata database {}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },

    /// The metadata database file is damaged (truncated, overwritten, or
    /// redb gave up on it).
    #[error("metadata database {} is corrupt: {detail}", path.display())]
    CorruptDatabase { path: PathBuf, detail: String },

    /// A record in the metadata database cannot be decoded.
    #[error("metadata database {}: corrupt record {key:?} in table {table}: {detail}", path.display())]
    CorruptRecord {
        path: PathBuf,
        table: &'static str,
        key: String,
        detail: String,
    },

    /// Another process kept the database or a lock for too long.
    #[error("{} is busy: {detail}", path.display())]
    Busy { path: PathBuf, detail: String },

    /// The snapshot is not in the metadata database.
    #[error("snapshot {id} not found")]
    SnapshotNotFound { id: SnapshotId },

    /// The snapshot is not in the state the operation needs (e.g.
    /// committing a snapshot twice).
    #[error("snapshot {id} is {state}, expected {expected}")]
    SnapshotState {
        id: SnapshotId,
        state: &'static str,
        expected: &'static str,
    },

    /// `ref_dec` on a reference whose count is already zero.
    #[error("reference count of {key} would drop below zero")]
    RefcountUnderflow { key: String },

    /// Text that is not a snapshot id (base-36, lowercase).
    #[error("invalid snapshot id {text:?}")]
    InvalidSnapshotId { text: String },

    /// None of `$KILN_ROOT`, `$XDG_DATA_HOME` and `$HOME` is set.
    #[error("cannot choose a store directory: set KILN_ROOT (or XDG_DATA_HOME or HOME)")]
    NoDefaultRoot,

    /// The store was written by a newer kiln.
    #[error("{}: store format {found} is newer than this kiln supports ({supported})", path.display())]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
}

impl StoreError {
    /// An I/O error about `path`; `op` completes "cannot ...".
    pub(crate) fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A redb error about the database at `path`. Damage (redb's
    /// verdict, a truncated file, a foreign file) gets its own variant so
    /// callers can tell "damaged file" from "disk full".
    pub(crate) fn db(path: &Path, source: impl Into<redb::Error>) -> Self {
        let source = source.into();
        let damage = match &source {
            redb::Error::Corrupted(detail) => Some(detail.clone()),
            redb::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Some(format!("the file is truncated ({e})"))
            }
            redb::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => Some(e.to_string()),
            _ => None,
        };
        match damage {
            Some(detail) => StoreError::CorruptDatabase {
                path: path.to_path_buf(),
                detail,
            },
            None => StoreError::Database {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// Whether this is an I/O error of the given kind.
    pub fn is_io_kind(&self, kind: io::ErrorKind) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == kind)
    }
}

/// Adds the path to `io::Result`s: `fs::rename(a, b).at("rename to", b)?`.
pub(crate) trait IoContext<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| StoreError::io(op, path, e))
    }
}
