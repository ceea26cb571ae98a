//! `kiln build`: Dockerfile -> frontend -> solver -> exported image.
//!
//! 1. read the Dockerfile and lower it, resolving base images from the
//!    local store;
//! 2. convert the definition into the solver's graph and solve it
//!    (cached steps are reused, the rest runs, progress on stderr);
//! 3. export: layers and config into the content store, then tags and the
//!    requested outputs.

mod convert;
pub(crate) mod export;
pub mod outputs;
mod sources;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_frontend::definition::BuildDefinition;
use kiln_frontend::definition::Platform;
use kiln_frontend::lower::{BuildOptions, NoResolver};
use kiln_solver::image::LocalImages;
use kiln_solver::solve::{LocalSource, SolveError, Solver};
use kiln_solver::store::Store;

use crate::cli::BuildArgs;
use crate::{commands, diagnostic, progress};

pub fn run(args: &BuildArgs) -> Result<i32> {
    if args.check {
        return crate::checks::run(args, args.format);
    }
    let dockerfile = commands::resolve_dockerfile(&args.context, args.file.as_deref())?;
    let (name, source) = commands::read_dockerfile(&dockerfile)?;
    let mut opts = build_options(args)?;
    // For the CopyIgnoredFile check; a bad ignore file is reported when
    // the context is opened.
    let dockerfile_path = (dockerfile != "-").then(|| PathBuf::from(&dockerfile));
    opts.dockerignore =
        crate::checks::dockerignore(Path::new(&args.context), dockerfile_path.as_deref())
            .ok()
            .flatten();
    let outputs = args
        .outputs
        .iter()
        .map(|o| outputs::parse(o))
        .collect::<Result<Vec<_>>>()?;
    let tags = args
        .tags
        .iter()
        .map(|t| {
            kiln_frontend::reference::Reference::parse(t)
                .map_err(|e| anyhow!("invalid tag {t:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::registry::build::check(args, &tags, &outputs)?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|c| crate::registry::cache::parse_cache_to(c))
        .collect::<Result<Vec<_>>>()?;

    if args.dry_run {
        let lowered = crate::checks::lower(&name, &source, &opts, &NoResolver, args.quiet)?;
        if !args.quiet {
            crate::checks::print_build_warnings(&name, &source, &lowered.warnings);
        }
        print!("{}", lowered.definition.render());
        return Ok(0);
    }

    let root = kiln_solver::store::default_root()?;
    let store =
        Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))?;
    kiln_solver::mount::enter_private_namespace()
        .map_err(|e| anyhow!("kiln build needs root (a private mount namespace): {e}"))?;

    let images = LocalImages { store: &store };
    let resolver = sources::StoreResolver {
        images: &images,
        insecure: &args.registry.insecure,
        always_pull: args.pull,
        quiet: args.quiet,
        registries: Default::default(),
    };
    let lowered = crate::checks::lower(&name, &source, &opts, &resolver, args.quiet)?;
    let definition = lowered.definition;

    let context_dir = PathBuf::from(&args.context);
    let dockerfile_path = (dockerfile != "-").then(|| PathBuf::from(&dockerfile));
    let context = crate::context::Context::open(
        &context_dir,
        dockerfile_path.as_deref(),
        Some(&root.join("context-cache")),
    )
    .map_err(|e| anyhow!("build context {}: {e}", context_dir.display()))?;
    let local = sources::ContextSource(&context);
    let mut locals: HashMap<String, &dyn LocalSource> = HashMap::new();
    locals.insert("context".to_string(), &local);

    let graph = convert::to_graph(&definition);
    let executor = kiln_solver::executor::SandboxExecutor::default();
    let (tx, rx) = mpsc::channel();
    let quiet = args.quiet;
    let printer = std::thread::spawn(move || {
        if quiet {
            rx.into_iter().for_each(drop);
        } else {
            progress::print_plain(rx, std::io::stderr());
        }
    });
    let remote = crate::registry::cache::import(
        &images,
        &args.cache_from,
        &args.registry.insecure,
        args.quiet,
    )?;
    let solver = Solver {
        store: &store,
        locals,
        images: &images,
        executor: Some(&executor),
        events: Some(tx),
        no_cache: args.no_cache,
        remote_cache: remote
            .as_ref()
            .map(|r| r as &dyn kiln_solver::solve::RemoteCache),
    };
    let chain = match definition.root {
        Some(root) => solver.solve(&graph, root),
        None => Ok(Vec::new()),
    };
    let cache_keys = match (&chain, cache_to.is_empty()) {
        (Ok(_), false) => solver.cache_keys(&graph).map_err(|e| anyhow!("{e}"))?,
        _ => Vec::new(),
    };
    drop(solver);
    let _ = printer.join();
    let chain = chain.map_err(|e| solve_error(e, &definition, &name, &source))?;
    if let Err(e) = context.save() {
        eprintln!("warning: could not save the context metadata cache: {e}");
    }

    // Layers are compressed for archives; an image only tagged into the
    // local store keeps them uncompressed (as Docker's image store does),
    // which spares a cold build the slowest step.
    let compression = outputs
        .iter()
        .find(|o| matches!(o.kind, outputs::Kind::Docker | outputs::Kind::Oci))
        .map(|o| o.compression)
        .or_else(|| crate::registry::build::compression(args, &outputs));
    let image = export::image(
        &store,
        &chain,
        definition.image,
        definition.epoch,
        compression,
    )?;
    export::deliver(&store, &image, &chain, &tags, &outputs)?;
    crate::registry::build::push(&store, args, &tags, &outputs, &image.manifest.digest)?;
    for to in &cache_to {
        crate::registry::cache::export(
            &store,
            &cache_keys,
            &chain,
            to,
            &args.registry.insecure,
            args.quiet,
        )?;
    }
    if !args.quiet {
        crate::checks::print_build_warnings(&name, &source, &lowered.warnings);
    }
    if let Some(path) = &args.iidfile {
        write_file(path, image.config_digest.as_bytes())?;
    }
    if let Some(path) = &args.metadata_file {
        let metadata = serde_json::json!({
            "containerimage.config.digest": image.config_digest,
            "containerimage.digest": image.manifest.digest,
            "image.name": tags.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","),
        });
        write_file(path, serde_json::to_string_pretty(&metadata)?.as_bytes())?;
    }
    if args.quiet {
        println!("{}", image.config_digest);
    } else {
        eprintln!("writing image {} done", image.config_digest);
        for t in &tags {
            eprintln!("naming to {t} done");
        }
    }
    store.flush().ok();
    Ok(0)
}

/// A failed step with the Dockerfile lines it comes from, as BuildKit
/// shows it.
fn solve_error(
    e: SolveError,
    definition: &BuildDefinition,
    name: &str,
    source: &str,
) -> anyhow::Error {
    let SolveError::Vertex { vertex, .. } = &e else {
        return anyhow!("{e}");
    };
    match definition.ops.get(*vertex).and_then(|op| op.meta.range) {
        Some(range) => anyhow!(
            "{e}\n{}",
            diagnostic::excerpt(name, source, range).trim_end()
        ),
        None => anyhow!("{e}"),
    }
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

pub fn build_options(args: &BuildArgs) -> Result<BuildOptions> {
    let host = Platform::host();
    if let Some(p) = &args.platform {
        let wanted = Platform::parse(p).map_err(|e| anyhow!("--platform: {e}"))?;
        if wanted != host {
            bail!("--platform {wanted}: only the host platform ({host}) is supported");
        }
    }
    Ok(BuildOptions {
        build_args: commands::key_values(&args.build_args, true),
        labels: commands::key_values(&args.labels, false),
        target: args.target.clone(),
        no_cache: args.no_cache,
        ..BuildOptions::new(host)
    })
}
