//! Adapters between the crates: the local image store as the frontend's
//! image resolver, and the build context as the solver's local source.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use kiln_frontend::definition::{Image, Platform};
use kiln_frontend::lower::{ImageResolver, ResolvedImage};
use kiln_frontend::reference::Reference;
use kiln_solver::image::LocalImages;
use kiln_solver::solve::LocalSource;
use kiln_solver::store::Digest;

use crate::context::Context;
use crate::registry::{pull, Registry, RegistryError};

/// Base image configs from the local store, pulled from their registry
/// when missing (always checked with `--pull`).
pub struct StoreResolver<'a> {
    pub images: &'a LocalImages<'a>,
    /// `--insecure-registry` hosts.
    pub insecure: &'a [String],
    /// `--pull`: ask the registry even when the store has the image.
    pub always_pull: bool,
    pub quiet: bool,
    /// One client per registry host, so tokens are reused.
    pub registries: RefCell<HashMap<String, Rc<Registry>>>,
}

impl StoreResolver<'_> {
    fn registry(&self, host: &str) -> Result<Rc<Registry>, RegistryError> {
        if let Some(r) = self.registries.borrow().get(host) {
            return Ok(r.clone());
        }
        let r = Rc::new(Registry::connect(host, self.insecure)?);
        self.registries
            .borrow_mut()
            .insert(host.to_string(), r.clone());
        Ok(r)
    }

    /// The platform manifest of `reference`: local, else pulled.
    fn manifest(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Digest, RegistryError> {
        let store = self.images.store;
        if !self.always_pull {
            if let Some(d) = pull::local_manifest(store, reference, platform)? {
                return Ok(d);
            }
        }
        if !self.quiet {
            eprintln!("pulling {reference}");
        }
        let pulled = self
            .registry(&reference.domain)
            .and_then(|r| pull::pull(store, &r, reference, platform, !self.quiet));
        match pulled {
            Err(e) if !self.always_pull => Err(RegistryError::Invalid(format!(
                "{}: image not found in the local store, and pulling it failed: {e}",
                reference.familiar()
            ))),
            other => other,
        }
    }
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> kiln_frontend::Result<Option<ResolvedImage>> {
        let name = reference.to_string();
        let manifest = self
            .manifest(reference, platform)
            .map_err(|e| kiln_frontend::Error::new(e.to_string()))?;
        let pinned = format!("{}@{manifest}", reference.repository());
        let (_, config) = self
            .images
            .config(&pinned)
            .map_err(kiln_frontend::Error::new)?;
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
