//! `kiln build`: Dockerfile -> frontend -> solver -> exported image.
//!
//! 1. read the Dockerfile and lower it, resolving base images from the
//!    local store;
//! 2. convert the definition into the solver's graph and solve it
//!    (cached steps are reused, the rest runs, progress on stderr);
//! 3. export: layers and config into the content store, then tags and the
//!    requested outputs.

mod contexts;
mod convert;
pub(crate) mod export;
mod load;
pub mod outputs;
mod session;
mod sources;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{anyhow, Context as _, Result};
use kiln_frontend::definition::BuildDefinition;
use kiln_frontend::definition::Platform;
use kiln_frontend::lower::{BuildOptions, NoResolver};
use kiln_solver::image::LocalImages;
use kiln_solver::solve::{LocalSource, SolveError, Solver};
use kiln_solver::store::Store;

use crate::cli::BuildArgs;
use crate::report::BuildFailure;
use crate::{commands, explain, progress};

pub fn run(args: &BuildArgs) -> Result<i32> {
    if args.check {
        return crate::checks::run(args, args.format);
    }
    let main = contexts::main_context(&args.context, args.file.as_deref())?;
    let dockerfile = main.dockerfile.clone();
    let (name, source) = commands::read_dockerfile(&dockerfile)?;
    let mut opts = build_options(args)?;
    let named = contexts::named(&args.build_contexts)?;
    for n in &named {
        opts.named_contexts
            .insert(n.name.clone(), n.context.clone());
    }
    // For the CopyIgnoredFile check; a bad ignore file is reported when
    // the context is opened.
    let dockerfile_path = (dockerfile != "-").then(|| PathBuf::from(&dockerfile));
    opts.dockerignore = crate::checks::dockerignore(&main.dir, dockerfile_path.as_deref())
        .ok()
        .flatten();
    let outputs = args
        .outputs
        .iter()
        .map(|o| outputs::parse(o).map_err(|e| crate::report::usage(format!("{e:#}"))))
        .collect::<Result<Vec<_>>>()?;
    let tags = args
        .tags
        .iter()
        .map(|t| {
            kiln_frontend::reference::Reference::parse(t)
                .map_err(|e| crate::report::usage(format!("invalid tag {t:?}: {e}")))
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
    let mode = if args.quiet {
        progress::Mode::Quiet
    } else {
        args.progress.unwrap_or_default().resolve()
    };
    let resolver = sources::StoreResolver {
        images: &images,
        insecure: &args.registry.insecure,
        always_pull: args.pull,
        // Pull lines are plain text: only the plain view has room for them.
        quiet: mode != progress::Mode::Plain,
        registries: Default::default(),
    };
    let mut view = progress::Progress::new(mode);
    let lowered = match crate::checks::lower(&name, &source, &opts, &resolver, true) {
        Ok(lowered) => lowered,
        Err(e) => {
            // The warnings raised before the error, as the view shows them.
            let report = kiln_frontend::lower::lower_reporting(&source, &opts, &resolver);
            view.warnings(&name, &source, &report.warnings);
            return Err(view.abort(None, e));
        }
    };
    let definition = lowered.definition;

    let context_dir = main.dir.clone();
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
    let named_dirs = named
        .iter()
        .filter_map(|n| Some((n, n.dir.as_ref()?)))
        .map(|(n, dir)| {
            let ctx = crate::context::Context::open(dir, None, Some(&root.join("context-cache")))
                .map_err(|e| anyhow!("build context {}: {e}", dir.display()))?;
            Ok((n, ctx))
        })
        .collect::<Result<Vec<_>>>()?;
    let named_sources: Vec<_> = named_dirs
        .iter()
        .map(|(n, ctx)| (n, sources::ContextSource(ctx)))
        .collect();
    for (n, src) in &named_sources {
        if let kiln_frontend::lower::NamedContext::Local { name } = &n.context {
            locals.insert(name.clone(), src);
        }
    }

    // Ctrl-C from here on stops the steps and cleans up (exit 130).
    let _graceful = crate::interrupt::graceful();
    let mut graph = convert::to_graph(&definition);
    let policy = session::RunPolicy::new(args)?;
    policy.check(&graph)?;
    policy.apply(&mut graph);
    let lent = session::session(args)?;
    let executor = kiln_solver::executor::SandboxExecutor {
        session: lent.session.clone(),
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel();
    let printer = std::thread::spawn(move || {
        rx.into_iter().for_each(|event| view.event(event));
        view
    });
    let remote = crate::registry::cache::import(
        &images,
        &args.cache_from,
        &args.registry.insecure,
        mode != progress::Mode::Plain,
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
    let mut view = printer.join().expect("the progress thread does not panic");
    crate::interrupt::check()?;
    let chain = match chain {
        Ok(chain) => chain,
        Err(e) => {
            let failure = solve_error(e, &definition, &name, &source, &view);
            view.warnings(&name, &source, &lowered.warnings);
            view.finished(&progress::Outcome::Failed {
                message: &failure.message,
            });
            return Err(failure.into());
        }
    };
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
    let step = view.begin("exporting to image");
    let exported = export::image(
        &store,
        &chain,
        definition.image,
        definition.epoch,
        compression,
    )
    .and_then(|image| {
        view.status(step, "exporting layers done");
        export::deliver(&store, &image, &chain, &tags, &outputs)?;
        Ok(image)
    });
    let image = exported.map_err(|e| view.abort(Some(step), e))?;
    view.status(step, &format!("writing image {} done", image.config_digest));
    for t in &tags {
        view.status(step, &format!("naming to {t} done"));
    }
    view.end(step);
    if crate::registry::build::compression(args, &outputs).is_some() {
        let step = view.begin("pushing the image");
        crate::registry::build::push(&store, args, &tags, &outputs, &image.manifest.digest)
            .map_err(|e| view.abort(Some(step), e))?;
        view.end(step);
    }
    if !cache_to.is_empty() {
        let step = view.begin("exporting cache");
        for to in &cache_to {
            crate::registry::cache::export(
                &store,
                &cache_keys,
                &chain,
                to,
                &args.registry.insecure,
                mode != progress::Mode::Plain,
            )
            .map_err(|e| view.abort(Some(step), e))?;
        }
        view.end(step);
    }
    let keys = std::mem::take(&mut view.keys);
    explain_misses(
        args,
        &mut view,
        mode,
        &root,
        &main,
        &dockerfile,
        &explain::Build {
            ops: &definition.ops,
            graph: &graph,
            keys: &keys,
            build_args: &opts.build_args,
            context: &context,
            no_cache: args.no_cache,
        },
    );
    if args.load {
        let step = view.begin("loading the image into the Docker engine");
        let messages =
            load::into_docker(&store, &image, &tags).map_err(|e| view.abort(Some(step), e))?;
        messages.iter().for_each(|m| view.status(step, m));
        view.end(step);
    }
    view.warnings(&name, &source, &lowered.warnings);
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
    let tag_names: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    view.finished(&progress::Outcome::Built {
        image_id: &image.config_digest,
        tags: &tag_names,
    });
    if args.quiet {
        println!("{}", image.config_digest);
    }
    store.flush().ok();
    Ok(0)
}

/// Cache-miss reasons: in plain and rawjson progress as a step of their
/// own, and with `--explain` in every mode.
#[allow(clippy::too_many_arguments)]
fn explain_misses(
    args: &BuildArgs,
    view: &mut progress::Progress,
    mode: progress::Mode,
    root: &Path,
    main: &contexts::MainContext,
    dockerfile: &str,
    build: &explain::Build<'_>,
) {
    let explainer = explain::Explainer::open(root, &main.dir, dockerfile, args.target.as_deref());
    let first = !explainer.has_previous();
    let ran = view.ran.clone();
    let reasons = explainer.explain(build, &ran);
    if reasons.is_empty() || (first && !args.explain) {
        return;
    }
    if matches!(mode, progress::Mode::Plain | progress::Mode::Rawjson) {
        let step = view.begin("explaining cache misses");
        for (name, reason) in &reasons {
            view.status(step, &format!("{name}: {reason}"));
        }
        view.end(step);
    } else if args.explain {
        for (name, reason) in &reasons {
            eprintln!("cache miss: {name}: {reason}");
        }
    }
}

/// A failed step with the Dockerfile lines it comes from, as BuildKit
/// shows it.
fn solve_error(
    e: SolveError,
    definition: &BuildDefinition,
    name: &str,
    source: &str,
    view: &progress::Progress,
) -> BuildFailure {
    let SolveError::Vertex { vertex, .. } = &e else {
        return BuildFailure::at_step(None, None, e.to_string());
    };
    let range = definition.ops.get(*vertex).and_then(|op| op.meta.range);
    BuildFailure::at_step(
        view.step_of(*vertex),
        range.map(|r| (name, source, r)),
        e.to_string(),
    )
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

pub fn build_options(args: &BuildArgs) -> Result<BuildOptions> {
    let host = Platform::host();
    if let Some(p) = &args.platform {
        let wanted =
            Platform::parse(p).map_err(|e| crate::report::usage(format!("--platform: {e}")))?;
        if wanted != host {
            return Err(crate::report::usage(format!(
                "--platform {wanted}: only the host platform ({host}) is supported"
            )));
        }
    }
    Ok(BuildOptions {
        build_args: commands::key_values(&args.build_args, true),
        labels: commands::key_values(&args.labels, false),
        target: args.target.clone(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        ..BuildOptions::new(host)
    })
}
