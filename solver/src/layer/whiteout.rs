//! The whiteout vocabulary of both forms.
//!
//! | meaning                  | overlay form (snapshot dir)            | OCI form (layer tar)          |
//! |--------------------------|----------------------------------------|-------------------------------|
//! | `dir/name` was deleted   | char device 0/0 `dir/name`             | empty file `dir/.wh.name`     |
//! | `dir` hides lower layers | xattr `trusted.overlay.opaque=y` on it | empty file `dir/.wh..wh..opq` |
//!
//! Other `.wh..wh.*` names (AUFS bookkeeping such as `.wh..wh.plnk`) carry
//! no meaning for images and are skipped on extraction.

/// Prefix of a whiteout file in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Prefix of AUFS metadata entries (never a whiteout of a file).
pub(crate) const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// Name of the opaque-directory marker file in a layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Which xattr namespace marks overlay opaque directories.
///
/// `Trusted` (`trusted.overlay.opaque`) is what a privileged overlay mount
/// reads and is the default; `User` (`user.overlay.opaque`) is what an
/// overlay mounted with `userxattr` (rootless, Linux >= 5.11) reads.
/// The layer writer accepts either when reading a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverlayXattr {
    #[default]
    Trusted,
    User,
}

impl OverlayXattr {
    /// The opaque xattr name in this namespace.
    pub fn opaque(self) -> &'static str {
        match self {
            OverlayXattr::Trusted => "trusted.overlay.opaque",
            OverlayXattr::User => "user.overlay.opaque",
        }
    }
}

/// Xattrs that belong to overlayfs itself (never copied into or out of a layer).
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Is this xattr the opaque marker (in either namespace)?
pub(crate) fn is_opaque_xattr(name: &[u8]) -> bool {
    name == b"trusted.overlay.opaque" || name == b"user.overlay.opaque"
}

/// Overlay xattrs that mean the upper dir does not hold the full truth
/// (`redirect_dir`, `metacopy`): such a snapshot cannot become a layer.
pub(crate) fn is_unsupported_overlay_xattr(name: &[u8]) -> Option<&'static str> {
    let rest = name
        .strip_prefix(b"trusted.overlay.")
        .or_else(|| name.strip_prefix(b"user.overlay."))?;
    match rest {
        b"redirect" => Some("redirect_dir"),
        b"metacopy" => Some("metacopy"),
        _ => None,
    }
}

/// Xattrs that describe the host rather than the image and are left out of
/// layers: overlay's own, and SELinux labels (BuildKit's layers carry no
/// labels either; the runtime relabels).
pub(crate) fn skip_xattr_on_write(name: &[u8]) -> bool {
    is_overlay_xattr(name) || name == b"security.selinux"
}

/// What a base name in a layer tar means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TarName<'a> {
    /// A normal entry.
    Plain,
    /// The opaque marker: the parent directory is opaque.
    Opaque,
    /// A whiteout of the named sibling.
    Whiteout(&'a [u8]),
    /// AUFS metadata: ignore.
    Meta,
}

pub(crate) fn classify(base: &[u8]) -> TarName<'_> {
    if base == OPAQUE_MARKER.as_bytes() {
        TarName::Opaque
    } else if base.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        TarName::Meta
    } else if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        TarName::Whiteout(name)
    } else {
        TarName::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify(b"foo"), TarName::Plain);
        assert_eq!(classify(b".wh.foo"), TarName::Whiteout(b"foo"));
        assert_eq!(classify(b".wh..wh..opq"), TarName::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), TarName::Meta);
        assert_eq!(classify(b".whfoo"), TarName::Plain);
    }

    #[test]
    fn overlay_xattrs() {
        assert!(skip_xattr_on_write(b"trusted.overlay.origin"));
        assert!(skip_xattr_on_write(b"user.overlay.opaque"));
        assert!(skip_xattr_on_write(b"security.selinux"));
        assert!(!skip_xattr_on_write(b"security.capability"));
        assert_eq!(
            is_unsupported_overlay_xattr(b"trusted.overlay.redirect"),
            Some("redirect_dir")
        );
        assert_eq!(
            is_unsupported_overlay_xattr(b"user.overlay.metacopy"),
            Some("metacopy")
        );
        assert_eq!(
            is_unsupported_overlay_xattr(b"trusted.overlay.origin"),
            None
        );
    }
}
