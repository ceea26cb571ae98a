//! Turning a built snapshot chain into an image: layers, config and
//! manifest in the content store, then the requested outputs (local image
//! store, docker-archive, OCI layout, rootfs directory or tar).

pub mod archive;
pub mod manifest;

/// RFC 3339 (UTC, whole seconds) of Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    kiln_frontend::golang::rfc3339_utc(secs)
}
