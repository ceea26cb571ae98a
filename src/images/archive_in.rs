//! Reading image archives: a tar (plain, gzip, zstd, xz or bzip2) streamed
//! once, its large files straight into the content store (hashed, and
//! verified where the path names the digest, `blobs/sha256/<hex>`), its
//! small files (manifests, configs, `manifest.json`) kept in memory until
//! the loader knows which of them are blobs it needs.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_solver::store::{Digest, Store};

/// Files up to this size are kept in memory.
const SMALL: u64 = 1 << 20;

/// A file of the archive.
#[derive(Debug, Clone)]
pub enum Content {
    Small(Vec<u8>),
    /// Already in the content store.
    Stored {
        digest: Digest,
    },
}

/// The files of an archive, by normalized path.
#[derive(Debug, Default)]
pub struct Archive {
    files: BTreeMap<String, Content>,
    /// Symlinks (docker save links repeated layers), path -> target path.
    links: BTreeMap<String, String>,
}

impl Archive {
    /// Reads the whole archive.
    pub fn read(store: &Store, input: impl Read + Send) -> Result<Archive> {
        let reader = decompress(input).context("reading the archive")?;
        let mut tar = tar::Archive::new(reader);
        let mut archive = Archive::default();
        let entries = tar.entries().context("reading the archive")?;
        for entry in entries {
            let entry = entry.context("reading the archive (is it a tar?)")?;
            archive.add(store, entry)?;
        }
        if archive.files.is_empty() {
            bail!("the archive is empty or not a tar");
        }
        Ok(archive)
    }

    fn add<R: Read>(&mut self, store: &Store, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry
            .path()
            .context("reading an archive entry name")?
            .into_owned();
        let Some(path) = normalize(&raw) else {
            return Ok(());
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name().ok().flatten() {
                    let base = match entry.header().entry_type() {
                        tar::EntryType::Symlink => Path::new(&path)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(target),
                        _ => target.into_owned(),
                    };
                    if let Some(target) = normalize(&base) {
                        self.links.insert(path, target);
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
        let expected = blob_digest(&path);
        let size = entry.header().size().unwrap_or(0);
        let content = if size <= SMALL {
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {path} from the archive"))?;
            if let Some(expected) = expected.as_ref().filter(|e| Digest::of(&bytes) != **e) {
                bail!("{path}: content does not match its digest {expected}");
            }
            Content::Small(bytes)
        } else {
            let mut writer = store.content().writer()?;
            io::copy(&mut entry, &mut writer)
                .with_context(|| format!("reading {path} from the archive"))?;
            let digest = writer
                .commit(expected.as_ref())
                .with_context(|| format!("{path}: content does not match its digest"))?;
            Content::Stored { digest }
        };
        self.files.insert(path, content);
        Ok(())
    }

    /// The file at `path` (following links), if any.
    pub fn get(&self, path: &str) -> Option<&Content> {
        let mut path = normalize(Path::new(path))?;
        for _ in 0..16 {
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        self.files.get(&path)
    }

    /// The file at `path`, or an error naming it.
    pub fn need(&self, path: &str) -> Result<&Content> {
        self.get(path)
            .ok_or_else(|| anyhow!("the archive has no {path} (incomplete archive?)"))
    }

    /// The blob `digest` under `blobs/<alg>/<hex>`.
    pub fn blob(&self, digest: &str) -> Result<&Content> {
        let path = format!("blobs/{}", digest.replacen(':', "/", 1));
        self.get(&path)
            .ok_or_else(|| anyhow!("blob {digest} is not in the archive"))
    }

    /// The bytes of a small file (reading a stored one back).
    pub fn bytes(&self, store: &Store, content: &Content) -> Result<Vec<u8>> {
        match content {
            Content::Small(bytes) => Ok(bytes.clone()),
            Content::Stored { digest } => super::catalog::read_document(store, digest),
        }
    }
}

impl Content {
    /// Puts the content in the store (small files are written now).
    pub fn store(&self, store: &Store) -> Result<(Digest, u64)> {
        match self {
            Content::Small(bytes) => {
                let digest = Digest::of(bytes);
                if !store.content().contains(&digest)? {
                    store.content().write_blob(bytes, Some(&digest))?;
                }
                Ok((digest, bytes.len() as u64))
            }
            Content::Stored { digest } => {
                let size = store
                    .content()
                    .info(digest)?
                    .ok_or_else(|| anyhow!("blob {digest} vanished from the store"))?;
                Ok((digest.clone(), size))
            }
        }
    }

    /// The first bytes (to tell compressed layers apart).
    pub fn head(&self, store: &Store) -> Vec<u8> {
        match self {
            Content::Small(bytes) => bytes.iter().take(8).copied().collect(),
            Content::Stored { digest } => {
                let mut head = Vec::new();
                if let Ok(file) = store.content().open(digest) {
                    let _ = file.take(8).read_to_end(&mut head);
                }
                head
            }
        }
    }
}

/// `./a/../b` -> `b`; `None` for paths leaving the archive or empty.
fn normalize(path: &Path) -> Option<String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let text = out.to_str()?.to_string();
    (!text.is_empty()).then_some(text)
}

/// `blobs/sha256/<hex>` names its digest.
fn blob_digest(path: &str) -> Option<Digest> {
    path.strip_prefix("blobs/sha256/")
        .and_then(|hex| Digest::from_hex(hex).ok())
}

/// Wraps `input` in the decoder its first bytes call for.
pub fn decompress<'a>(input: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut input = io::BufReader::with_capacity(256 << 10, input);
    let head = io::BufRead::fill_buf(&mut input)?.to_vec();
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(
            input,
        )));
    }
    if head.starts_with(b"BZh") {
        return Ok(Box::new(bzip2::bufread::MultiBzDecoder::new(input)));
    }
    let (reader, _) = kiln_solver::layer::compressed_reader(input)?;
    Ok(reader)
}

/// The OCI media type of a layer with these first bytes.
pub fn layer_media_type(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        kiln_solver::image::LAYER_GZIP_MEDIA_TYPE
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        kiln_solver::image::LAYER_ZSTD_MEDIA_TYPE
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_normalized() {
        assert_eq!(normalize(Path::new("./a/b")).as_deref(), Some("a/b"));
        assert_eq!(normalize(Path::new("a/../b")).as_deref(), Some("b"));
        assert_eq!(normalize(Path::new("../x")), None);
        assert_eq!(normalize(Path::new("./")), None);
    }
}
