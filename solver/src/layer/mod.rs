//! Layers: snapshot diffs <-> OCI layer tars, and layer compression.
//!
//! A *snapshot diff* is a directory in **overlay form**: it is exactly what
//! overlayfs leaves in an upper directory, and it can be used as an overlay
//! `lowerdir` as is.
//!
//! - a deleted path is a *whiteout*: a character device 0/0 with the deleted
//!   entry's name;
//! - a directory whose lower contents are hidden is *opaque*: it carries the
//!   xattr `trusted.overlay.opaque=y` (kiln writes the `trusted.` form; the
//!   writer also accepts `user.overlay.opaque`, which rootless overlay mounts
//!   with `userxattr` use, and [`ExtractOptions::overlay_xattr`] can choose it).
//!
//! A *layer* is a tar stream in the OCI form of the same information:
//! a whiteout is an empty regular file `.wh.<name>`, an opaque directory is
//! the directory entry followed by an empty file `<dir>/.wh..wh..opq`.
//!
//! | module      | does                                                                   |
//! |-------------|------------------------------------------------------------------------|
//! | [`write`]   | diff dir -> tar ([`write_layer`]): sorted, reproducible, BuildKit-compatible headers |
//! | [`extract`] | tar -> diff dir ([`extract_layer`]): every path resolved *inside* the destination |
//! | [`compress`]| gzip (parallel blocks) / zstd (worker threads) with digests of both streams in one pass |
//! | `whiteout`  | the overlay <-> OCI whiteout vocabulary                                 |
//!
//! The tar bytes follow what BuildKit produces (containerd's `ChangeWriter`
//! over Go's `archive/tar`): USTAR headers whenever they can hold the entry,
//! PAX extended headers only when needed (long or non-ASCII names, ids or
//! sizes too large for octal, xattrs), numeric ids with empty user/group
//! names, directory names ending in `/`, modes holding only permission and
//! setuid/setgid/sticky bits, timestamps in whole seconds, whiteouts with
//! mode 0, owner 0:0 and mtime 0, entries in depth-first walk order with
//! siblings sorted by name bytes. See [`write`] for the details.
//!
//! Digests: a layer's *diff id* is the sha256 of the uncompressed tar, its
//! *digest* the sha256 of the compressed blob; [`write_layer_compressed`]
//! computes both while streaming, without holding the layer in memory.
//!
//! ```no_run
//! use kiln_solver::layer::{
//!     extract_compressed_layer, write_layer_compressed, Compression, ExtractOptions, WriteOptions,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Export a snapshot: one pass gives the diff id and the blob digest.
//! let blob = std::fs::File::create("/tmp/layer.tar.gz")?;
//! let opts = WriteOptions { epoch: Some(1_700_000_000) }; // SOURCE_DATE_EPOCH
//! let info = write_layer_compressed("/snapshots/7".as_ref(), blob, &opts, Compression::gzip())?;
//! println!("{} {} ({} bytes)", info.diff_id, info.digest, info.size);
//!
//! // Unpack a pulled blob (gzip, zstd or plain) into a fresh snapshot dir.
//! let blob = std::fs::File::open("/tmp/layer.tar.gz")?;
//! let stats = extract_compressed_layer(blob, "/snapshots/8".as_ref(), &ExtractOptions::default())?;
//! assert_eq!(stats.diff_id, info.diff_id);
//! # Ok(())
//! # }
//! ```

pub mod compress;
pub mod extract;
mod header;
mod resolve;
mod whiteout;
pub mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use compress::{
    compressed_reader, write_layer_compressed, BlobInfo, CompressWriter, CompressedLayerInfo,
    Compression,
};
pub use extract::{extract_compressed_layer, extract_layer, ExtractOptions, ExtractStats};
pub use whiteout::{OverlayXattr, OPAQUE_MARKER, WHITEOUT_PREFIX};
pub use write::{write_layer, LayerInfo, WriteOptions};

/// A sha256 digest, displayed as `sha256:<hex>` (the OCI form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The lowercase hex of the 32 bytes, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn from_hasher(h: sha2::Sha256) -> Digest {
        use sha2::Digest as _;
        Digest(h.finalize().into())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Errors of the layer module. Every variant that is about a file names it.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A filesystem operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing the output stream (tar or compressed blob) failed.
    #[error("writing layer stream: {0}")]
    Output(#[source] io::Error),
    /// Reading the input stream failed, or it is not a valid (compressed) tar.
    #[error("reading layer archive: {0}")]
    Input(#[source] io::Error),
    /// The archive ends in the middle of a header or of an entry's data.
    #[error("layer archive is truncated{}", at.as_ref().map(|p| format!(" (in {})", p.display())).unwrap_or_default())]
    Truncated { at: Option<PathBuf> },
    /// The archive is readable but holds something invalid.
    #[error("invalid layer archive entry {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// A device node could not be created: that needs CAP_MKNOD.
    #[error(
        "cannot create device node {path}: {source} (creating device nodes needs CAP_MKNOD: \
         run as root, or build images without devices in their layers)"
    )]
    DeviceNotPermitted {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The destination filesystem cannot hold a snapshot in overlay form.
    #[error("cannot create whiteout {path}: {fs} cannot store overlay whiteouts (char device 0/0); keep kiln's snapshot directory on ext4, xfs, btrfs or tmpfs")]
    UnsupportedFilesystem { path: PathBuf, fs: &'static str },
    /// Changing ownership was refused (not root, or uid/gid outside the user namespace's map).
    #[error("cannot set owner {uid}:{gid} of {path}: {source} (extract as root, or with same_owner off)")]
    OwnerNotPermitted {
        path: PathBuf,
        uid: u64,
        gid: u64,
        #[source]
        source: io::Error,
    },
    /// A hard link names a target that does not exist inside the destination.
    #[error("hard link {path} -> {target}: target not found inside the layer")]
    HardlinkTarget {
        path: PathBuf,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The snapshot uses an overlay feature a layer tar cannot express.
    #[error("{path}: overlay {feature} is not supported in a snapshot diff (mount overlays with redirect_dir=off,metacopy=off)")]
    UnsupportedOverlay { path: PathBuf, feature: String },
    /// The archive holds an entry type kiln cannot represent.
    #[error("{path}: unsupported tar entry type {kind:?}")]
    UnsupportedEntry { path: PathBuf, kind: char },
    /// A value does not fit the tar format (e.g. an xattr name with '=').
    #[error("{path}: cannot be written to a tar: {reason}")]
    Unrepresentable { path: PathBuf, reason: String },
}

/// Extended attributes: (name, value), sorted by name.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Result of the layer module.
pub type Result<T> = std::result::Result<T, LayerError>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> LayerError {
    let path = path.into();
    move |source| LayerError::Io { op, path, source }
}

/// Convert a byte path (as found in tars) to a `PathBuf` for messages and joins.
pub(crate) fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}
