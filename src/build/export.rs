//! The built chain as an image in the store, then its outputs.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_frontend::definition::Image;
use kiln_frontend::reference::Reference;
use kiln_solver::fileop;
use kiln_solver::image::{Descriptor, CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use kiln_solver::layer::{self, Compression, WriteOptions};
use kiln_solver::solve::snapshot_fs;
use kiln_solver::store::{Digest, SnapshotId, Store};
use serde::{Deserialize, Serialize};

use super::outputs::{Dest, Kind, LayerCompression, Output};
use crate::export::archive::{self, ArchiveImage, Format};
use crate::export::manifest::{self, Layer};

/// An image written to the content store.
pub struct Built {
    pub manifest: Descriptor,
    pub config_digest: String,
    pub layers: Vec<Layer>,
    pub epoch: Option<i64>,
}

/// Layers, config and manifest of `chain` into the content store; layers
/// are written uncompressed when `compression` is `None`.
pub fn image(
    store: &Store,
    chain: &[SnapshotId],
    image: Image,
    epoch: Option<i64>,
    compression: Option<LayerCompression>,
) -> Result<Built> {
    let compression = match compression {
        Some(LayerCompression::Gzip(level)) => Compression::Gzip { level },
        Some(LayerCompression::Zstd(level)) => Compression::Zstd { level },
        None => Compression::None,
    };
    let layers = chain
        .iter()
        .map(|&id| layer_blob(store, id, compression, epoch))
        .collect::<Result<Vec<_>>>()?;
    let config = manifest::finalize_config(image, &layers);
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = put_blob(store, &config_bytes)?;
    let m = manifest::manifest(
        Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: config_digest.to_string(),
            size: config_bytes.len() as u64,
            annotations: None,
        },
        &layers,
    );
    let manifest_bytes = serde_json::to_vec(&m)?;
    let manifest_digest = put_blob(store, &manifest_bytes)?;
    Ok(Built {
        manifest: Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: manifest_digest.to_string(),
            size: manifest_bytes.len() as u64,
            annotations: None,
        },
        config_digest: config_digest.to_string(),
        layers,
        epoch,
    })
}

/// Writes a small blob unless the store has it already (a rebuild from
/// cache writes nothing).
fn put_blob(store: &Store, bytes: &[u8]) -> Result<Digest> {
    let digest = Digest::of(bytes);
    if !store.content().contains(&digest)? {
        store.content().write_blob(bytes, Some(&digest))?;
    }
    Ok(digest)
}

#[derive(Serialize, Deserialize)]
struct LayerRecord {
    layer: Layer,
}

/// The compressed blob of one snapshot, written once per (snapshot,
/// compression, epoch) and remembered.
pub(crate) fn layer_blob(
    store: &Store,
    id: SnapshotId,
    compression: Compression,
    epoch: Option<i64>,
) -> Result<Layer> {
    let key = format!("layer:{id}:{compression:?}:{epoch:?}");
    if let Some(entry) = store.meta().cache_get(&key)? {
        if let Ok(record) = serde_json::from_slice::<LayerRecord>(&entry.record) {
            let digest: Digest = record.layer.digest.parse().map_err(|e| anyhow!("{e}"))?;
            if store.content().contains(&digest)? {
                return Ok(record.layer);
            }
        }
    }
    if let Some(layer) = reused_blob(store, id, compression, epoch)? {
        return Ok(layer);
    }
    let mut writer = store.content().writer()?;
    let info = layer::write_layer_compressed(
        &snapshot_fs(store, id),
        &mut writer,
        &WriteOptions { epoch },
        compression,
    )
    .map_err(|e| anyhow!("writing layer of snapshot {id}: {e}"))?;
    let expected: Digest = info
        .digest
        .to_string()
        .parse()
        .map_err(|e| anyhow!("{e}"))?;
    writer.commit(Some(&expected))?;
    // A layer is as old as its snapshot (or SOURCE_DATE_EPOCH), so a
    // rebuild from cache reproduces the image exactly.
    let created = match epoch {
        Some(secs) => secs,
        None => store.snapshots().get(id)?.map_or(0, |r| r.created as i64),
    };
    let layer = Layer {
        diff_id: info.diff_id.to_string(),
        digest: info.digest.to_string(),
        size: info.size,
        media_type: compression.media_type().to_string(),
        created,
    };
    store.meta().cache_put(
        &key,
        &serde_json::to_vec(&LayerRecord {
            layer: layer.clone(),
        })?,
    )?;
    Ok(layer)
}

/// The blob a base-image snapshot was extracted from, when it can stand
/// for the layer as is: same compression (or any, for the local store)
/// and no SOURCE_DATE_EPOCH rewrite. Docker's media types are given
/// their OCI names (same bytes).
fn reused_blob(
    store: &Store,
    id: SnapshotId,
    compression: Compression,
    epoch: Option<i64>,
) -> Result<Option<Layer>> {
    let Some(origin) = kiln_solver::image::layer_origin(store, id).filter(|_| epoch.is_none())
    else {
        return Ok(None);
    };
    let media_type = origin.blob.media_type.as_str();
    let kind = if media_type.ends_with("gzip") {
        Compression::gzip()
    } else if media_type.ends_with("zstd") {
        Compression::zstd()
    } else {
        return Ok(None);
    };
    let matches = match compression {
        Compression::None => true,
        c => std::mem::discriminant(&c) == std::mem::discriminant(&kind),
    };
    let digest: Digest = origin.blob.digest.parse().map_err(|e| anyhow!("{e}"))?;
    if !matches || !store.content().contains(&digest)? {
        return Ok(None);
    }
    Ok(Some(Layer {
        diff_id: origin.diff_id,
        digest: origin.blob.digest,
        size: origin.blob.size,
        media_type: kind.media_type().to_string(),
        created: store.snapshots().get(id)?.map_or(0, |r| r.created as i64),
    }))
}

/// Tags the image and writes every requested output.
pub fn deliver(
    store: &Store,
    built: &Built,
    chain: &[SnapshotId],
    tags: &[Reference],
    outputs: &[Output],
) -> Result<()> {
    let manifest_digest: Digest = built.manifest.digest.parse().map_err(|e| anyhow!("{e}"))?;
    for tag in tags {
        let name = tag.to_string();
        let current = store.meta().tag_get(&name)?;
        if current.map(|t| t.digest) != Some(manifest_digest.clone()) {
            store.meta().tag_set(&name, &manifest_digest)?;
        }
    }
    for output in outputs {
        match output.kind {
            Kind::Image | Kind::Registry => {}
            Kind::Docker | Kind::Oci => {
                let mut names = tags.to_vec();
                for n in &output.names {
                    names.push(Reference::parse(n).map_err(|e| anyhow!("name={n}: {e}"))?);
                    store
                        .meta()
                        .tag_set(&names.last().expect("pushed").to_string(), &manifest_digest)?;
                }
                let format = if output.kind == Kind::Docker {
                    Format::Docker
                } else {
                    Format::Oci
                };
                write_archive(store, built, &names, format, output.dest.as_ref())?;
            }
            Kind::Local | Kind::Tar => rootfs_output(store, chain, output, built.epoch)?,
        }
    }
    Ok(())
}

/// `type=local` (the root filesystem as a directory) and `type=tar` (as
/// one tar), read from a merged read-only view of the chain.
fn rootfs_output(
    store: &Store,
    chain: &[SnapshotId],
    output: &Output,
    epoch: Option<i64>,
) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(store.root())
        .context("creating a temporary directory")?;
    let lowers: Vec<PathBuf> = chain.iter().map(|&id| snapshot_fs(store, id)).collect();
    let target = scratch.path().join("rootfs");
    std::fs::create_dir(&target)?;
    let view = kiln_solver::mount::overlay(&lowers, None, &target)
        .context("mounting the image filesystem")?;
    match (output.kind, output.dest.as_ref()) {
        (Kind::Local, Some(Dest::Path(dir))) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let copy = fileop::FileAction::Copy(fileop::CopyAction {
                source: Some(0),
                src: "/".into(),
                dest: "/".into(),
                owner: None,
                mode: None,
                follow_symlinks: false,
                dir_contents_only: true,
                include_patterns: Vec::new(),
                exclude_patterns: Vec::new(),
                required_paths: Vec::new(),
                attempt_unpack: false,
                create_dest_path: true,
                allow_wildcard: false,
                allow_empty_wildcard: false,
                timestamp: None,
            });
            let source = fileop::SourceRoot {
                dir: view.path(),
                exclude: None,
            };
            fileop::apply(dir, &[copy], &[source])
                .map_err(|e| anyhow!("writing {}: {e}", dir.display()))?;
        }
        (Kind::Tar, Some(Dest::Path(path))) => {
            let tmp = path.with_extension("kiln-tmp");
            let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut out = BufWriter::new(file);
            layer::write_layer(view.path(), &mut out, &WriteOptions { epoch })
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        (Kind::Tar, _) => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            layer::write_layer(view.path(), &mut out, &WriteOptions { epoch })
                .map_err(|e| anyhow!("writing the tar: {e}"))?;
            out.flush()?;
        }
        _ => bail!(
            "output type {:?} needs a destination directory",
            output.kind
        ),
    }
    Ok(())
}

fn write_archive(
    store: &Store,
    built: &Built,
    names: &[Reference],
    format: Format,
    dest: Option<&Dest>,
) -> Result<()> {
    let layers: Vec<String> = built.layers.iter().map(|l| l.digest.clone()).collect();
    let image = ArchiveImage {
        names,
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
    match dest {
        Some(Dest::Stdout) | None => {
            let stdout = io::stdout();
            archive::write_archive(BufWriter::new(stdout.lock()), &image, format, &open, mtime)?;
        }
        Some(Dest::Path(path)) => {
            // Write next to the destination and rename: never a half-written file.
            let tmp = path.with_extension("kiln-tmp");
            let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut out = BufWriter::new(file);
            archive::write_archive(&mut out, &image, format, &open, mtime)?;
            out.flush()?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
