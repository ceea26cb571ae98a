//! Everything in a store and what refers to what: the reference graph that
//! GC ([`super::gc`]) and the store check ([`super::check`]) walk.
//!
//! ```text
//! tag ──> manifest (or index ──> manifests) ──> config, layer blobs
//! cache record ──> snapshots (and blobs)
//! refs table (count > 0) ──> blob or snapshot, pinned
//! ```
//!
//! # What cache records refer to
//!
//! The store keeps cache records as opaque bytes; their writers follow
//! these conventions, which is how GC knows what a record keeps alive:
//!
//! | key                         | record                          | keeps alive              |
//! |-----------------------------|---------------------------------|--------------------------|
//! | `sha256:<hex>` (a solve)    | JSON array of snapshot ids      | those snapshots          |
//! | `diff:<diff id>`            | JSON snapshot id                | that snapshot            |
//! | `layer:<snapshot>:<opts>`   | JSON `{"layer":{"digest",..}}`  | the blob; *belongs to* the snapshot (goes when it goes) |
//! | `origin:<snapshot>`         | JSON `{"diff_id","blob":{"digest",..}}` | the blob a pulled layer came from; *belongs to* the snapshot |
//! | anything else               | JSON                            | a top-level snapshot id or array of ids; every `"digest"` field's blob |
//!
//! A record whose value a known kind cannot decode is corrupt: GC and
//! `doctor --repair` drop it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::Deserialize;

use super::content::ContentStore;
use super::digest::Digest;
use super::error::Result;
use super::meta::Tag;
use super::snapshots::{SnapshotId, SnapshotRecord};
use super::Store;

/// Manifests, indexes and configs larger than this are not read (they are
/// kilobytes; a bigger blob under a tag is damage).
const MAX_DOCUMENT: u64 = 16 << 20;

/// One cache record and what it refers to.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub last_used: u64,
    /// `Err`: the record cannot be read (why).
    pub refers: std::result::Result<Refers, String>,
}

/// What a cache record refers to; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refers {
    /// Snapshots the record keeps alive.
    pub snapshots: Vec<SnapshotId>,
    /// Blobs the record keeps alive.
    pub blobs: Vec<Digest>,
    /// The snapshot a `layer:` record was made from: the record goes with it.
    pub owner: Option<SnapshotId>,
    /// The layer content (diff id) a `diff:` or `layer:` record stands for.
    pub diff_id: Option<String>,
    /// The key names a kind whose references must all resolve.
    pub strict: bool,
}

/// Decodes what a cache record refers to from its key and bytes.
pub fn classify(key: &str, record: &[u8]) -> std::result::Result<Refers, String> {
    if let Some(diff_id) = key.strip_prefix("diff:") {
        let id: SnapshotId = serde_json::from_slice(record).map_err(|e| e.to_string())?;
        return Ok(Refers {
            snapshots: vec![id],
            diff_id: Some(diff_id.to_string()),
            strict: true,
            ..Refers::default()
        });
    }
    if let Some(rest) = key.strip_prefix("layer:") {
        return classify_layer(rest, record);
    }
    if let Some(rest) = key.strip_prefix("origin:") {
        return classify_origin(rest, record);
    }
    if key.starts_with("sha256:") {
        let chain: Vec<SnapshotId> = serde_json::from_slice(record).map_err(|e| e.to_string())?;
        return Ok(Refers {
            snapshots: chain,
            strict: true,
            ..Refers::default()
        });
    }
    Ok(classify_other(record))
}

fn classify_layer(rest: &str, record: &[u8]) -> std::result::Result<Refers, String> {
    #[derive(Deserialize)]
    struct LayerRecord {
        layer: LayerFields,
    }
    #[derive(Deserialize)]
    struct LayerFields {
        digest: Digest,
        #[serde(default)]
        diff_id: Option<String>,
    }
    let owner = rest
        .split(':')
        .next()
        .unwrap_or_default()
        .parse::<SnapshotId>()
        .map_err(|e| format!("key: {e}"))?;
    let parsed: LayerRecord = serde_json::from_slice(record).map_err(|e| e.to_string())?;
    Ok(Refers {
        blobs: vec![parsed.layer.digest],
        owner: Some(owner),
        diff_id: parsed.layer.diff_id,
        strict: true,
        ..Refers::default()
    })
}

/// `origin:<snapshot>`: the original blob of a layer extracted from an
/// image (exported as is rather than recompressed).
fn classify_origin(rest: &str, record: &[u8]) -> std::result::Result<Refers, String> {
    #[derive(Deserialize)]
    struct Origin {
        diff_id: String,
        blob: Blob,
    }
    #[derive(Deserialize)]
    struct Blob {
        digest: Digest,
    }
    let owner = rest
        .parse::<SnapshotId>()
        .map_err(|e| format!("key: {e}"))?;
    let parsed: Origin = serde_json::from_slice(record).map_err(|e| e.to_string())?;
    Ok(Refers {
        blobs: vec![parsed.blob.digest],
        owner: Some(owner),
        diff_id: Some(parsed.diff_id),
        strict: true,
        ..Refers::default()
    })
}

/// Records of kinds this module does not know: conservative guesses.
fn classify_other(record: &[u8]) -> Refers {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(record) else {
        return Refers::default();
    };
    let mut refers = Refers::default();
    let as_id = |v: &serde_json::Value| v.as_u64().filter(|&n| n > 0).map(SnapshotId::from_u64);
    match &value {
        serde_json::Value::Array(items) => {
            refers.snapshots = items.iter().filter_map(as_id).collect()
        }
        other => refers.snapshots = as_id(other).into_iter().collect(),
    }
    collect_digests(&value, &mut refers.blobs);
    refers
}

fn collect_digests(value: &serde_json::Value, out: &mut Vec<Digest>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v.as_str().map(str::parse::<Digest>) {
                    Some(Ok(d)) if k == "digest" => out.push(d),
                    _ => collect_digests(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_digests(v, out)),
        _ => {}
    }
}

/// A picture of the whole store, read in one metadata transaction plus a
/// walk of `blobs/`. Consistent when taken under the exclusive lock.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Tags; `Err`: unreadable value (why).
    pub tags: Vec<(String, std::result::Result<Tag, String>)>,
    pub records: Vec<Record>,
    pub snapshots: BTreeMap<SnapshotId, SnapshotRecord>,
    /// Blob sizes.
    pub blobs: BTreeMap<Digest, u64>,
    /// Non-zero reference counts: pinned blobs.
    pub pinned_blobs: BTreeSet<Digest>,
    /// Non-zero reference counts: pinned snapshots.
    pub pinned_snapshots: BTreeSet<SnapshotId>,
    /// Reference-count keys that name neither a digest nor a snapshot.
    pub odd_refs: Vec<String>,
}

impl Inventory {
    pub fn load(store: &Store) -> Result<Inventory> {
        let mut inv = store.meta().read(|tx| {
            let tags = tx
                .tag_entries()?
                .into_iter()
                .map(|(name, tag)| (name, tag.map_err(|e| e.to_string())))
                .collect();
            let records = tx
                .cache_entries()?
                .into_iter()
                .map(|(key, entry)| match entry {
                    Ok(entry) => Record {
                        refers: classify(&key, &entry.record),
                        last_used: entry.last_used,
                        key,
                    },
                    Err(e) => Record {
                        key,
                        last_used: 0,
                        refers: Err(e.to_string()),
                    },
                })
                .collect();
            let snapshots = tx.snapshots_list()?.into_iter().collect();
            Ok::<_, super::StoreError>(Inventory {
                tags,
                records,
                snapshots,
                ..Inventory::default()
            })
        })?;
        for (key, _) in store.meta().refs_list()? {
            if let Some(id) = key.strip_prefix("snapshot:") {
                match id.parse() {
                    Ok(id) => drop(inv.pinned_snapshots.insert(id)),
                    Err(_) => inv.odd_refs.push(key),
                }
            } else {
                match key.parse() {
                    Ok(d) => drop(inv.pinned_blobs.insert(d)),
                    Err(_) => inv.odd_refs.push(key),
                }
            }
        }
        for blob in store.content().walk()? {
            let blob = blob?;
            inv.blobs.insert(blob.digest, blob.size);
        }
        Ok(inv)
    }

    /// Good tags: name and manifest digest.
    pub fn good_tags(&self) -> impl Iterator<Item = (&str, &Digest)> {
        self.tags
            .iter()
            .filter_map(|(name, tag)| tag.as_ref().ok().map(|t| (name.as_str(), &t.digest)))
    }
}

/// What one tagged image needs.
#[derive(Debug, Default, Clone)]
pub struct ImageRefs {
    /// Every blob of the image found in the store: manifests, configs, layers.
    pub blobs: BTreeSet<Digest>,
    /// Diff ids of the layers (from the configs).
    pub diff_ids: BTreeSet<String>,
    /// What is missing or unreadable, as sentences.
    pub broken: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Ref>>,
    #[serde(default)]
    config: Option<Ref>,
    #[serde(default)]
    layers: Option<Vec<Ref>>,
}

#[derive(Deserialize)]
struct Ref {
    digest: String,
}

#[derive(Deserialize)]
struct ConfigDoc {
    #[serde(default)]
    rootfs: Option<RootFsDoc>,
}

#[derive(Deserialize)]
struct RootFsDoc {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Walks the image under `manifest` (a manifest or an index). `usable`
/// says whether a blob is stored and sound. An index may lack manifests
/// of other platforms, but not all of them.
pub fn image_refs(
    content: &ContentStore,
    manifest: &Digest,
    usable: &dyn Fn(&Digest) -> bool,
) -> ImageRefs {
    let mut refs = ImageRefs::default();
    walk_document(content, manifest, usable, &mut refs, 0);
    refs
}

fn walk_document(
    content: &ContentStore,
    digest: &Digest,
    usable: &dyn Fn(&Digest) -> bool,
    refs: &mut ImageRefs,
    depth: usize,
) {
    let doc: Document = match read_json(content, digest, usable) {
        Ok(doc) => doc,
        Err(e) => return refs.broken.push(format!("manifest {digest}: {e}")),
    };
    refs.blobs.insert(digest.clone());
    if let Some(children) = doc.manifests {
        let present: Vec<Digest> = children
            .iter()
            .filter_map(|c| c.digest.parse().ok())
            .filter(|d| usable(d))
            .collect();
        if present.is_empty() || depth > 4 {
            refs.broken
                .push(format!("index {digest}: none of its manifests is stored"));
        }
        for child in present.iter().take(64) {
            walk_document(content, child, usable, refs, depth + 1);
        }
        return;
    }
    let Some(config) = doc.config else {
        return refs
            .broken
            .push(format!("{digest}: neither a manifest nor an index"));
    };
    let mut want = |d: &str, what: &str| match d.parse::<Digest>() {
        Ok(d) if usable(&d) => Some(d),
        Ok(d) => {
            refs.broken.push(format!(
                "manifest {digest}: {what} {d} is missing or damaged"
            ));
            None
        }
        Err(e) => {
            refs.broken.push(format!("manifest {digest}: {e}"));
            None
        }
    };
    let config = want(&config.digest, "config");
    let layers: Vec<Digest> = doc
        .layers
        .unwrap_or_default()
        .iter()
        .filter_map(|l| want(&l.digest, "layer"))
        .collect();
    refs.blobs.extend(layers);
    if let Some(config) = config {
        match read_json::<ConfigDoc>(content, &config, usable) {
            Ok(doc) => refs
                .diff_ids
                .extend(doc.rootfs.map(|r| r.diff_ids).unwrap_or_default()),
            Err(e) => refs.broken.push(format!("config {config}: {e}")),
        }
        refs.blobs.insert(config);
    }
}

fn read_json<T: serde::de::DeserializeOwned>(
    content: &ContentStore,
    digest: &Digest,
    usable: &dyn Fn(&Digest) -> bool,
) -> std::result::Result<T, String> {
    if !usable(digest) {
        return Err("missing or damaged".into());
    }
    let file = content.open(digest).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not valid JSON: {e}"))
}
