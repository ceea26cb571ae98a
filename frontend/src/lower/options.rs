//! What the caller tells the lowering: build args, target, platforms,
//! and how to learn a base image's config (the only thing the frontend
//! needs from outside, asked through [`ImageResolver`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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
    /// `BUILDKIT_DOCKERFILE_CHECK`-style override of `# check=` (wins
    /// over the build arg of that name).
    pub check: Option<String>,
    /// Lower every stage, not only those the target needs, as BuildKit's
    /// lint request does without a target (set by [`super::check`]).
    pub all_stages: bool,
    /// The build context's `.dockerignore`, for the `CopyIgnoredFile`
    /// check; `None` (or no patterns) skips the check.
    pub dockerignore: Option<DockerIgnore>,
}

/// What the `CopyIgnoredFile` check needs from the build context's
/// ignore file. The frontend does no I/O: the caller reads and compiles
/// the file and hands over its patterns and a matcher.
#[derive(Clone)]
pub struct DockerIgnore {
    /// The patterns as the matcher holds them (cleaned, an exception
    /// keeps its leading `!`), in file order.
    pub patterns: Vec<String>,
    /// moby's `MatchesOrParentMatches`: whether the cleaned relative path
    /// or one of its parent directories is excluded.
    pub matches: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl DockerIgnore {
    pub fn new(
        patterns: Vec<String>,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        DockerIgnore {
            patterns,
            matches: Arc::new(matches),
        }
    }
}

impl fmt::Debug for DockerIgnore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerIgnore")
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
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
            all_stages: false,
            dockerignore: None,
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
