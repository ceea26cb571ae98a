//! Image archives: docker-archive (what `docker load` and `podman load`
//! read, with an OCI layout inside, as `docker save` writes since 25) and
//! OCI image layout tars. Blobs are streamed from the store; nothing is
//! held in memory.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde_json::json;

use super::manifest::{Descriptor, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};

/// What goes into an archive for one image.
pub struct ArchiveImage<'a> {
    /// Fully qualified names (`docker.io/library/app:latest`); may be empty.
    pub names: &'a [kiln_frontend::reference::Reference],
    pub manifest: Descriptor,
    pub config_digest: &'a str,
    /// Layer blob digests, bottom first.
    pub layers: &'a [String],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// docker-archive: `manifest.json` + `repositories` + OCI layout.
    Docker,
    /// OCI image layout only.
    Oci,
}

/// Opens a blob for streaming: returns its reader and size.
pub type BlobOpener<'a> = dyn Fn(&str) -> io::Result<(Box<dyn Read>, u64)> + 'a;

/// Writes the archive of `image` to `out`. `mtime` is the timestamp of
/// every entry (0 or SOURCE_DATE_EPOCH), so archives are reproducible.
pub fn write_archive(
    out: impl Write,
    image: &ArchiveImage<'_>,
    format: Format,
    open: &BlobOpener<'_>,
    mtime: u64,
) -> io::Result<()> {
    write_archive_many(out, std::slice::from_ref(image), format, open, mtime)
}

/// [`write_archive`] of several images in one archive (`kiln save a b`);
/// blobs they share are written once.
pub fn write_archive_many(
    out: impl Write,
    images: &[ArchiveImage<'_>],
    format: Format,
    open: &BlobOpener<'_>,
    mtime: u64,
) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut blobs: Vec<&str> = Vec::new();
    for image in images {
        blobs.extend([image.config_digest, image.manifest.digest.as_str()]);
        blobs.extend(image.layers.iter().map(String::as_str));
    }
    blobs.sort_unstable();
    blobs.dedup();
    append_dir(&mut tar, "blobs/", mtime)?;
    append_dir(&mut tar, "blobs/sha256/", mtime)?;
    for digest in blobs {
        let (reader, size) = open(digest)?;
        append_file(&mut tar, &blob_path(digest), size, reader, mtime)?;
    }
    let index = index_json(images);
    append_bytes(&mut tar, "index.json", &index, mtime)?;
    if format == Format::Docker {
        append_bytes(
            &mut tar,
            "manifest.json",
            &docker_manifest_json(images),
            mtime,
        )?;
        append_bytes(&mut tar, "repositories", &repositories_json(images), mtime)?;
    }
    append_bytes(
        &mut tar,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        mtime,
    )?;
    tar.into_inner()?.flush()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn index_json(images: &[ArchiveImage<'_>]) -> Vec<u8> {
    let mut manifests: Vec<serde_json::Value> = Vec::new();
    for image in images {
        if image.names.is_empty() {
            manifests.push(descriptor_json(&image.manifest, None));
        }
        for name in image.names {
            manifests.push(descriptor_json(&image.manifest, Some(name)));
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    serde_json::to_vec(&index).expect("json")
}

fn descriptor_json(
    d: &Descriptor,
    name: Option<&kiln_frontend::reference::Reference>,
) -> serde_json::Value {
    let mut v = json!({
        "mediaType": if d.media_type.is_empty() { MANIFEST_MEDIA_TYPE } else { &d.media_type },
        "digest": d.digest,
        "size": d.size,
    });
    if let Some(name) = name {
        let mut annotations = BTreeMap::new();
        annotations.insert("io.containerd.image.name", name.to_string());
        if let Some(tag) = &name.tag {
            annotations.insert("org.opencontainers.image.ref.name", tag.clone());
        }
        v["annotations"] = json!(annotations);
    }
    v
}

fn docker_manifest_json(images: &[ArchiveImage<'_>]) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            let tags: Vec<String> = image
                .names
                .iter()
                .filter(|n| n.tag.is_some())
                .map(|n| n.familiar())
                .collect();
            json!({
                "Config": blob_path(image.config_digest),
                "RepoTags": tags,
                "Layers": image.layers.iter().map(|l| blob_path(l)).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_vec(&entries).expect("json")
}

/// Legacy `repositories` file: repository -> tag -> image id.
fn repositories_json(images: &[ArchiveImage<'_>]) -> Vec<u8> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (image, name) in images
        .iter()
        .flat_map(|i| i.names.iter().map(move |n| (i, n)))
    {
        let id = image.config_digest.trim_start_matches("sha256:");
        if let Some(tag) = &name.tag {
            let repo = name.familiar();
            let repo = repo
                .rsplit_once(':')
                .map_or(repo.as_str(), |(r, _)| r)
                .to_string();
            repos
                .entry(repo)
                .or_default()
                .insert(tag.clone(), id.to_string());
        }
    }
    serde_json::to_vec(&repos).expect("json")
}

fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, mtime: u64) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755, mtime);
    tar.append_data(&mut h, path, io::empty())
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    reader: impl Read,
    mtime: u64,
) -> io::Result<()> {
    let mut h = header(tar::EntryType::Regular, size, 0o644, mtime);
    tar.append_data(&mut h, path, reader)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    append_file(tar, path, data.len() as u64, data, mtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_frontend::reference::Reference;

    #[test]
    fn docker_archive_layout() {
        let blobs: BTreeMap<String, Vec<u8>> = [
            ("sha256:aa".to_string(), b"config".to_vec()),
            ("sha256:bb".to_string(), b"manifest".to_vec()),
            ("sha256:cc".to_string(), b"layer".to_vec()),
        ]
        .into_iter()
        .collect();
        let open = |d: &str| -> io::Result<(Box<dyn Read>, u64)> {
            let data = blobs
                .get(d)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            let len = data.len() as u64;
            Ok((Box::new(io::Cursor::new(data)), len))
        };
        let names = [Reference::parse("app:1").unwrap()];
        let image = ArchiveImage {
            names: &names,
            manifest: Descriptor {
                media_type: MANIFEST_MEDIA_TYPE.into(),
                digest: "sha256:bb".into(),
                size: 8,
                annotations: None,
            },
            config_digest: "sha256:aa",
            layers: &["sha256:cc".to_string()],
        };
        let mut out = Vec::new();
        write_archive(&mut out, &image, Format::Docker, &open, 0).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut files = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = String::new();
            entry.read_to_string(&mut data).unwrap();
            files.insert(path, data);
        }
        assert_eq!(files["blobs/sha256/cc"], "layer");
        assert_eq!(
            files["manifest.json"],
            r#"[{"Config":"blobs/sha256/aa","Layers":["blobs/sha256/cc"],"RepoTags":["app:1"]}]"#
        );
        assert!(
            files["index.json"].contains(r#""io.containerd.image.name":"docker.io/library/app:1""#)
        );
        assert_eq!(files["repositories"], r#"{"app":{"1":"aa"}}"#);
        assert!(files.contains_key("oci-layout"));
    }
}
