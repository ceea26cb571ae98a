//! `kiln import`: a root filesystem tarball (plain or compressed, a file or
//! STDIN) becomes a one-layer image, like `docker import`. `--change`
//! takes Dockerfile config instructions, parsed and applied by the
//! frontend exactly as in a Dockerfile (on an empty config, as docker
//! does: no default PATH or WORKDIR unless a change sets them).

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use kiln_frontend::definition::{Config, History, Image as ImageConfig, Platform};
use kiln_frontend::lower::{self, BuildOptions, NoResolver};
use kiln_frontend::parser;
use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, Manifest, CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use kiln_solver::store::{BlobWriter, Digest, Store};

use super::archive_in::decompress;
use super::open_store;
use super::units::now;

/// The instructions `--change` accepts (docker's list).
const CHANGES: &[&str] = &[
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tarball (plain, gzip, zstd, xz or bzip2), or `-` for STDIN.
    pub file: String,
    /// Name the image (name[:tag]).
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the image config (CMD,
    /// ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
    /// USER, VOLUME, WORKDIR); repeatable.
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Set the commit message (the history comment).
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(args: &ImportArgs) -> Result<i32> {
    let reference = match &args.reference {
        Some(r) => Some(
            Reference::parse(r).map_err(|e| anyhow!("invalid reference {r:?}: {}", e.message))?,
        ),
        None => None,
    };
    let config = apply_changes(&args.changes)?;
    let store = open_store()?;
    let (diff_id, size) = ingest(&store, &args.file)?;
    let created = crate::export::rfc3339(now());
    let comment = args
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", args.file));
    let platform = Platform::host();
    let image = ImageConfig {
        created: Some(created.clone()),
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config,
        rootfs: kiln_frontend::definition::RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.to_string()],
        },
        history: vec![History {
            created: Some(created),
            comment: comment.clone(),
            ..History::default()
        }],
        ..ImageConfig::default()
    };
    let mut json = serde_json::to_value(&image)?;
    json["comment"] = comment.into();
    let config_bytes = serde_json::to_vec(&json)?;
    let config_digest = put(&store, &config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: descriptor(CONFIG_MEDIA_TYPE, &config_digest, config_bytes.len() as u64),
        layers: vec![descriptor(
            "application/vnd.oci.image.layer.v1.tar",
            &diff_id,
            size,
        )],
    };
    let manifest_digest = put(&store, &serde_json::to_vec(&manifest)?)?;
    if let Some(r) = &reference {
        store.meta().tag_set(&r.to_string(), &manifest_digest)?;
    }
    println!("{config_digest}");
    Ok(0)
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest.to_string(),
        size,
        annotations: None,
    }
}

fn put(store: &Store, bytes: &[u8]) -> Result<Digest> {
    let digest = Digest::of(bytes);
    if !store.content().contains(&digest)? {
        store.content().write_blob(bytes, Some(&digest))?;
    }
    Ok(digest)
}

/// The config the changes make, applied on an empty config through the
/// frontend (a `FROM scratch` Dockerfile of the changes).
fn apply_changes(changes: &[String]) -> Result<Config> {
    if changes.is_empty() {
        return Ok(Config::default());
    }
    let mut dockerfile = String::from("FROM scratch\n");
    for change in changes {
        let parsed =
            parser::parse(change).map_err(|e| anyhow!("--change {change:?}: {}", e.message))?;
        let [node] = parsed.nodes.as_slice() else {
            bail!("--change {change:?}: expected one Dockerfile instruction");
        };
        let name = node.name();
        if !CHANGES.contains(&name.as_str()) {
            bail!(
                "--change {change:?}: {} is not a valid change command (valid: {})",
                node.keyword.to_uppercase(),
                CHANGES.join(", ").to_uppercase()
            );
        }
        dockerfile.push_str(change.trim());
        dockerfile.push('\n');
    }
    let opts = BuildOptions::new(Platform::host());
    let lowered = lower::lower(&dockerfile, &opts, &NoResolver)
        .map_err(|e| anyhow!("--change: {}", e.message))?;
    let baseline = lower::lower("FROM scratch\n", &opts, &NoResolver)
        .map_err(|e| anyhow!("{}", e.message))?
        .definition
        .image
        .config;
    let mut config = lowered.definition.image.config;
    // What FROM scratch adds, unless a change set it.
    let env: Vec<String> = config
        .env
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !baseline.env.iter().flatten().any(|b| b == e))
        .collect();
    config.env = (!env.is_empty()).then_some(env);
    let sets_workdir = changes
        .iter()
        .any(|c| c.trim_start().to_lowercase().starts_with("workdir"));
    if !sets_workdir && config.working_dir == baseline.working_dir {
        config.working_dir.clear();
    }
    Ok(config)
}

/// Streams the (decompressed) tarball into the content store, checking
/// that it is a tar on the way; returns its digest (the diff id) and size.
fn ingest(store: &Store, file: &str) -> Result<(Digest, u64)> {
    let input: Box<dyn Read + Send> = if file == "-" {
        if io::stdin().is_terminal() {
            bail!("import from stdin, but stdin is a terminal (pipe a tarball in)");
        }
        Box::new(io::stdin())
    } else {
        Box::new(File::open(file).with_context(|| format!("opening {file}"))?)
    };
    let reader = decompress(input).with_context(|| format!("reading {file}"))?;
    let mut tee = Tee {
        input: reader,
        blob: store.content().writer()?,
    };
    let entries = count_entries(&mut tee, file)?;
    io::copy(&mut tee, &mut io::sink()).with_context(|| format!("reading {file}"))?;
    if entries == 0 {
        bail!("{file}: the archive is empty (no files to import)");
    }
    let size = tee.blob.size();
    let digest = tee.blob.commit(None)?;
    Ok((digest, size))
}

/// Reads a tar through to its end marker; returns how many entries it has.
fn count_entries(input: impl Read, file: &str) -> Result<usize> {
    let mut tar = tar::Archive::new(input);
    let mut entries = 0;
    for entry in tar
        .entries()
        .with_context(|| format!("{file}: not a tar archive"))?
    {
        let mut entry = entry.with_context(|| format!("{file}: not a valid tar archive"))?;
        io::copy(&mut entry, &mut io::sink()).with_context(|| format!("reading {file}"))?;
        entries += 1;
    }
    Ok(entries)
}

/// Copies what is read from `input` into the blob being written.
struct Tee<R> {
    input: R,
    blob: BlobWriter,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.blob.write_all(&buf[..n])?;
        Ok(n)
    }
}
