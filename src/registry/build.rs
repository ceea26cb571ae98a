//! `kiln build --push` and `-o type=registry[,name=...]`: the built image
//! is pushed under each name after it is in the local store.

use anyhow::{anyhow, bail, Result};
use kiln_frontend::reference::Reference;
use kiln_solver::store::{Digest, Store};

use super::{parse_reference, push, Registry};
use crate::build::outputs::{Kind, LayerCompression, Output};
use crate::cli::BuildArgs;

/// The layer compression a push needs (gzip unless the registry output
/// says otherwise), or `None` when nothing is pushed.
pub fn compression(args: &BuildArgs, outputs: &[Output]) -> Option<LayerCompression> {
    match outputs.iter().find(|o| o.kind == Kind::Registry) {
        Some(o) => Some(o.compression),
        None => args.push.then_some(LayerCompression::Gzip(6)),
    }
}

/// Fails early (before building) when a push has no name to push to.
pub fn check(args: &BuildArgs, tags: &[Reference], outputs: &[Output]) -> Result<()> {
    names(args, tags, outputs).map(|_| ())
}

/// The names to push: `name=` of registry outputs (else the tags), and
/// the tags with `--push`.
fn names(args: &BuildArgs, tags: &[Reference], outputs: &[Output]) -> Result<Vec<Reference>> {
    let mut out: Vec<Reference> = Vec::new();
    for o in outputs.iter().filter(|o| o.kind == Kind::Registry) {
        if o.names.is_empty() {
            out.extend(tags.iter().cloned());
        }
        for n in &o.names {
            out.push(parse_reference(n)?);
        }
    }
    if args.push {
        out.extend(tags.iter().cloned());
    }
    let wanted = args.push || outputs.iter().any(|o| o.kind == Kind::Registry);
    if wanted && out.is_empty() {
        bail!("pushing needs an image name: add -t NAME (or name= to the registry output)");
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|r| seen.insert(r.to_string()));
    Ok(out)
}

pub fn push(
    store: &Store,
    args: &BuildArgs,
    tags: &[Reference],
    outputs: &[Output],
    manifest: &str,
) -> Result<()> {
    let names = names(args, tags, outputs)?;
    if names.is_empty() {
        return Ok(());
    }
    let manifest: Digest = manifest.parse().map_err(|e| anyhow!("{e}"))?;
    let mut registries: std::collections::HashMap<String, Registry> = Default::default();
    for name in names {
        if !registries.contains_key(&name.domain) {
            let r = Registry::connect(&name.domain, &args.registry.insecure)?;
            registries.insert(name.domain.clone(), r);
        }
        let registry = &registries[&name.domain];
        if !args.quiet {
            eprintln!("pushing {name}");
        }
        let pushed = push::push(store, registry, &name, &manifest, !args.quiet)
            .map_err(|e| anyhow!("pushing {name}: {e}"))?;
        if !args.quiet {
            eprintln!("pushed {name}@{}", pushed.digest);
        }
    }
    Ok(())
}
