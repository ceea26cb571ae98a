//! Adapters between the crates: the local image store as the frontend's
//! image resolver, and the build context as the solver's local source.

use std::path::Path;

use kiln_frontend::definition::{Image, Platform};
use kiln_frontend::lower::{ImageResolver, ResolvedImage};
use kiln_frontend::reference::Reference;
use kiln_solver::image::LocalImages;
use kiln_solver::solve::LocalSource;

use crate::context::Context;

/// Base image configs from the local store (the registry comes later).
pub struct StoreResolver<'a> {
    pub images: &'a LocalImages<'a>,
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(
        &self,
        reference: &Reference,
        _platform: &Platform,
    ) -> kiln_frontend::Result<Option<ResolvedImage>> {
        let name = reference.to_string();
        let (manifest, config) = self.images.config(&name).map_err(|e| {
            kiln_frontend::Error::new(format!(
                "{e} (pulling from registries is not supported yet)"
            ))
        })?;
        let config: Image = serde_json::from_slice(&config)
            .map_err(|e| kiln_frontend::Error::new(format!("{name}: invalid image config: {e}")))?;
        let repository = match &reference.tag {
            Some(tag) => format!("{}:{tag}", reference.repository()),
            None => reference.repository(),
        };
        Ok(Some(ResolvedImage {
            reference: format!("{repository}@{manifest}"),
            config,
        }))
    }
}

/// The build context as the solver sees it.
pub struct ContextSource<'a>(pub &'a Context);

impl LocalSource for ContextSource<'_> {
    fn root(&self) -> &Path {
        self.0.root()
    }

    fn is_excluded(&self, rel: &str) -> bool {
        self.0.is_excluded(rel)
    }

    fn selection_digest(&self, srcs: &[String], follow_symlinks: bool) -> Result<String, String> {
        self.0
            .selection_digest(srcs, follow_symlinks)
            .map_err(|e| e.to_string())
    }
}
