//! `kiln save`: images of the store into a docker-archive (what `docker
//! load` and `podman load` read; it carries an OCI layout too) or, with
//! `--format oci`, an OCI image layout tar.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, ValueEnum};
use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, MANIFEST_MEDIA_TYPE};
use kiln_solver::store::{Digest, Store};

use super::{open_store, Catalog, Image};
use crate::export::archive::{self, ArchiveImage};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    /// docker-archive (`docker load`, `podman load`).
    #[default]
    Docker,
    /// OCI image layout tar (`skopeo copy oci-archive:...`).
    Oci,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images to save: name:tag, a repository name (all its tags), or an id.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to a file instead of STDOUT (`-` for STDOUT).
    #[arg(short, long)]
    pub output: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: SaveFormat,
}

/// One image of the archive and the names it is saved under.
struct Entry<'a> {
    image: &'a Image,
    names: Vec<Reference>,
}

pub fn run(args: &SaveArgs) -> Result<i32> {
    let to_stdout = matches!(args.output.as_deref(), None | Some("-"));
    if to_stdout && io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let store = open_store()?;
    let catalog = Catalog::load(&store, true)?;
    let entries = select(&catalog, &args.images)?;
    let layers: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            e.image
                .manifest
                .layers
                .iter()
                .map(|l| l.digest.clone())
                .collect()
        })
        .collect();
    let configs: Vec<String> = entries
        .iter()
        .map(|e| e.image.config_digest.to_string())
        .collect();
    let images: Vec<ArchiveImage<'_>> = entries
        .iter()
        .zip(&layers)
        .zip(&configs)
        .map(|((e, layers), config)| ArchiveImage {
            names: &e.names,
            manifest: descriptor(&store, e.image),
            config_digest: config,
            layers,
        })
        .collect();
    let format = match args.format {
        SaveFormat::Docker => archive::Format::Docker,
        SaveFormat::Oci => archive::Format::Oci,
    };
    let open = |d: &str| -> io::Result<(Box<dyn Read>, u64)> {
        let digest: Digest = d
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
        let file = store.content().open(&digest).map_err(io::Error::other)?;
        let size = file.metadata()?.len();
        Ok((Box::new(file), size))
    };
    match args.output.as_deref() {
        Some(path) if path != "-" => write_file(Path::new(path), |out| {
            archive::write_archive_many(out, &images, format, &open, 0)
        })?,
        _ => {
            let mut out = BufWriter::new(io::stdout().lock());
            archive::write_archive_many(&mut out, &images, format, &open, 0)
                .context("writing the archive to stdout")?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// The images the arguments name, each once, with the names to save.
fn select<'a>(catalog: &'a Catalog, names: &[String]) -> Result<Vec<Entry<'a>>> {
    let mut entries: Vec<Entry<'a>> = Vec::new();
    for name in names {
        for (image, reference) in resolve(catalog, name)? {
            let at = match entries.iter().position(|e| e.image.target == image.target) {
                Some(at) => at,
                None => {
                    entries.push(Entry {
                        image,
                        names: Vec::new(),
                    });
                    entries.len() - 1
                }
            };
            if let Some(r) = reference.filter(|r| !entries[at].names.contains(r)) {
                entries[at].names.push(r);
            }
        }
    }
    Ok(entries)
}

/// `repo` without a tag means every tag of the repository, as `docker
/// save` does; a tag or id names one image.
fn resolve<'a>(catalog: &'a Catalog, name: &str) -> Result<Vec<(&'a Image, Option<Reference>)>> {
    let bare = Reference::parse_named(name)
        .ok()
        .filter(|r| r.tag.is_none() && r.digest.is_none());
    if let Some(bare) = bare {
        let all: Vec<(&Image, Option<Reference>)> = catalog
            .images
            .iter()
            .flat_map(|i| i.references().into_iter().map(move |r| (i, r)))
            .filter(|(_, r)| r.repository() == bare.repository())
            .map(|(i, r)| (i, Some(r)))
            .collect();
        if !all.is_empty() {
            return Ok(all);
        }
    }
    let image = catalog.find(name)?;
    let reference = Reference::parse(name)
        .ok()
        .filter(|r| image.tags.iter().any(|(t, _)| *t == r.to_string()));
    Ok(vec![(image, reference)])
}

fn descriptor(store: &Store, image: &Image) -> Descriptor {
    let media_type = match image.manifest.media_type.as_str() {
        "" => MANIFEST_MEDIA_TYPE.to_string(),
        m => m.to_string(),
    };
    Descriptor {
        media_type,
        digest: image.manifest_digest.to_string(),
        size: store
            .content()
            .info(&image.manifest_digest)
            .ok()
            .flatten()
            .unwrap_or(0),
        annotations: None,
    }
}

/// Writes `path` through a temp file next to it and renames it into place:
/// never a half-written output.
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".kiln-tmp");
    let tmp = path.with_file_name(tmp_name);
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut out = BufWriter::new(file);
    let result = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all());
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
