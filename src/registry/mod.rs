//! The registry client: the OCI distribution API over `reqwest`, streaming
//! blobs between registries and the local content store.
//!
//! | module        | does                                                        |
//! |---------------|-------------------------------------------------------------|
//! | [`endpoint`]  | host -> URL and TLS (HTTP for loopback and `--insecure-registry`, certs.d CAs) |
//! | [`credentials`] | `config.json` auths and docker-credential helpers         |
//! | [`auth`]      | `WWW-Authenticate` challenges, Basic, bearer tokens          |
//! | [`client`]    | one host: authenticated requests with retries, API calls     |
//! | [`pull`]      | manifest/index -> platform manifest -> blobs into the store  |
//! | [`push`]      | blobs (HEAD, mount, upload) then the manifest                |
//! | [`commands`]  | `kiln pull/push/login/logout`                                |
//!
//! References are parsed with Docker's rules by
//! [`kiln_frontend::reference`].

pub mod args;
pub mod auth;
pub mod build;
pub mod cache;
pub mod client;
pub mod commands;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod pull;
pub mod push;

pub use client::Registry;
pub use error::{RegistryError, Result};

use kiln_frontend::reference::Reference;

/// Parses an image name with Docker's normalisation (`busybox` ->
/// `docker.io/library/busybox:latest`).
pub fn parse_reference(name: &str) -> Result<Reference> {
    Reference::parse(name).map_err(|e| RegistryError::Reference {
        reference: name.to_string(),
        message: e.message,
    })
}
