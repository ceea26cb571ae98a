//! What the caller tells the lowering: build args, target, platforms,
//! and how to learn a base image's config (the only thing the frontend
//! needs from outside, asked through [`ImageResolver`]).

use std::collections::BTreeMap;

use crate::definition::{Image, Platform};
use crate::reference::Reference;
use crate::Result;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg KEY=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// The platform the build runs on.
    pub build_platform: Platform,
    /// `--platform`; `None` = the build platform, chosen implicitly.
    pub target_platform: Option<Platform>,
    /// `--label`: set on the target image.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`: every op ignores cache hits.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages whose ops ignore cache hits.
    pub no_cache_filter: Vec<String>,
    /// `--build-context name=...`: replaces an image or stage by name.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// `BUILDKIT_DOCKERFILE_CHECK`-style override of `# check=`.
    pub check: Option<String>,
}

impl BuildOptions {
    pub fn new(build_platform: Platform) -> Self {
        BuildOptions {
            build_args: BTreeMap::new(),
            target: None,
            build_platform,
            target_platform: None,
            labels: BTreeMap::new(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            named_contexts: BTreeMap::new(),
            check: None,
        }
    }
}

/// A `--build-context` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, sent as the local source `name`.
    Local { name: String },
    /// `docker-image://ref`.
    Image { reference: String },
}

/// A base image as the resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference to pull, pinned when known (`...@sha256:...`).
    pub reference: String,
    pub config: Image,
}

/// Looks up image configs (local store, then registry); implemented by
/// the solver side. Returning `Ok(None)` means "unknown": the lowering
/// then uses an empty config (for `--dry-run` without a store).
pub trait ImageResolver {
    fn resolve(&self, reference: &Reference, platform: &Platform) -> Result<Option<ResolvedImage>>;
}

/// Resolves nothing: every base image gets an empty config.
pub struct NoResolver;

impl ImageResolver for NoResolver {
    fn resolve(&self, _: &Reference, _: &Platform) -> Result<Option<ResolvedImage>> {
        Ok(None)
    }
}
