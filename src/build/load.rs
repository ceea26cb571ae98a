//! `--load`: the built image, as a docker-archive, streamed into the
//! Docker engine (see [`crate::docker_engine`]).

use std::io::{self, Read};

use anyhow::{anyhow, Result};
use kiln_frontend::reference::Reference;
use kiln_solver::store::{Digest, Store};

use super::export::Built;
use crate::docker_engine;
use crate::export::archive::{self, ArchiveImage, Format};

/// Loads `built` (named `tags`) into the engine; returns its messages.
pub fn into_docker(store: &Store, built: &Built, tags: &[Reference]) -> Result<Vec<String>> {
    let layers: Vec<String> = built.layers.iter().map(|l| l.digest.clone()).collect();
    let image = ArchiveImage {
        names: tags,
        manifest: built.manifest.clone(),
        config_digest: &built.config_digest,
        layers: &layers,
    };
    let open = |d: &str| -> io::Result<(Box<dyn Read>, u64)> {
        let digest: Digest = d
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
        let file = store.content().open(&digest).map_err(io::Error::other)?;
        let size = file.metadata()?.len();
        Ok((Box::new(file), size))
    };
    let mtime = built.epoch.unwrap_or(0).max(0) as u64;
    let host = docker_engine::host();
    docker_engine::load(&host, |out| {
        archive::write_archive(out, &image, Format::Docker, &open, mtime)
            .map_err(|e| anyhow!("writing the image archive: {e}"))
    })
}
