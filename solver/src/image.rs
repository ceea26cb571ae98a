//! OCI image documents the solver reads and writes (manifest, index,
//! descriptors), and the local image source: tags in the store resolved to
//! snapshot chains, each layer extracted once and reused by its diff id.

use serde::{Deserialize, Serialize};

use crate::layer::{self, ExtractOptions};
use crate::solve::{snapshot_fs, ImageSource, SNAPSHOT_FS};
use crate::store::{Digest, SnapshotId, Store};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const LAYER_GZIP_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A content descriptor (`mediaType`, `digest`, `size`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The part of an image config the solver needs.
#[derive(Debug, Clone, Deserialize)]
struct ConfigRootFs {
    rootfs: RootFs,
}

#[derive(Debug, Clone, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The image layer a snapshot was extracted from: an export can reuse
/// that blob instead of writing the layer again (and a push can then
/// mount it from the repository it came from).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerOrigin {
    pub diff_id: String,
    pub blob: Descriptor,
}

fn origin_key(id: SnapshotId) -> String {
    format!("origin:{id}")
}

/// The origin recorded for a snapshot extracted from an image layer.
pub fn layer_origin(store: &Store, id: SnapshotId) -> Option<LayerOrigin> {
    let entry = store.meta().cache_get(&origin_key(id)).ok()??;
    serde_json::from_slice(&entry.record).ok()
}

/// Images of the local store.
pub struct LocalImages<'a> {
    pub store: &'a Store,
}

impl LocalImages<'_> {
    /// The manifest digest a reference names: `...@sha256:...` directly,
    /// else the tag's target.
    pub fn manifest_digest(&self, reference: &str) -> Result<Digest, String> {
        if let Some((_, digest)) = reference.rsplit_once('@') {
            return digest.parse::<Digest>().map_err(|e| e.to_string());
        }
        match self
            .store
            .meta()
            .tag_get(reference)
            .map_err(|e| e.to_string())?
        {
            Some(tag) => Ok(tag.digest),
            None => Err(format!("{reference}: image not found in the local store")),
        }
    }

    pub fn manifest(&self, digest: &Digest) -> Result<Manifest, String> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| format!("manifest {digest}: {e}"))
    }

    /// The raw config JSON of an image.
    pub fn config(&self, reference: &str) -> Result<(Digest, Vec<u8>), String> {
        let digest = self.manifest_digest(reference)?;
        let manifest = self.manifest(&digest)?;
        let config = manifest
            .config
            .digest
            .parse::<Digest>()
            .map_err(|e| e.to_string())?;
        Ok((digest, self.read_blob(&config)?))
    }

    fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, String> {
        let mut file = self
            .store
            .content()
            .open(digest)
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| format!("{digest}: {e}"))?;
        Ok(bytes)
    }

    /// The snapshot holding layer `diff_id`, extracting `layer` the first
    /// time that diff id is seen (and remembering it as the snapshot's
    /// [`LayerOrigin`]).
    pub fn layer_snapshot(&self, diff_id: &str, layer: &Descriptor) -> Result<SnapshotId, String> {
        let blob = &layer.digest.parse::<Digest>().map_err(|e| e.to_string())?;
        let key = format!("diff:{diff_id}");
        if let Some(entry) = self
            .store
            .meta()
            .cache_get(&key)
            .map_err(|e| e.to_string())?
        {
            if let Ok(id) = serde_json::from_slice::<SnapshotId>(&entry.record) {
                if snapshot_fs(self.store, id).is_dir() {
                    return Ok(id);
                }
            }
        }
        let (id, dir) = self
            .store
            .snapshots()
            .prepare(None)
            .map_err(|e| e.to_string())?;
        let fs = dir.join(SNAPSHOT_FS);
        std::fs::create_dir(&fs).map_err(|e| format!("{}: {e}", fs.display()))?;
        let file = self.store.content().open(blob).map_err(|e| e.to_string())?;
        let stats = layer::extract_compressed_layer(file, &fs, &ExtractOptions::default())
            .map_err(|e| format!("extracting layer {blob}: {e}"))?;
        if stats.diff_id.to_string() != diff_id {
            return Err(format!(
                "layer {blob}: content has diff id {}, the image config says {diff_id}",
                stats.diff_id
            ));
        }
        self.store
            .snapshots()
            .commit(id, 0)
            .map_err(|e| e.to_string())?;
        let origin = LayerOrigin {
            diff_id: diff_id.to_string(),
            blob: layer.clone(),
        };
        let origin = serde_json::to_vec(&origin).expect("origin serializes");
        self.store
            .meta()
            .cache_put(&origin_key(id), &origin)
            .map_err(|e| e.to_string())?;
        let record = serde_json::to_vec(&id).expect("id serializes");
        self.store
            .meta()
            .cache_put(&key, &record)
            .map_err(|e| e.to_string())?;
        Ok(id)
    }
}

impl ImageSource for LocalImages<'_> {
    fn resolve(&self, reference: &str) -> Result<(String, Vec<SnapshotId>), String> {
        let digest = self.manifest_digest(reference)?;
        let manifest = self.manifest(&digest)?;
        let config = manifest
            .config
            .digest
            .parse::<Digest>()
            .map_err(|e| e.to_string())?;
        let rootfs: ConfigRootFs = serde_json::from_slice(&self.read_blob(&config)?)
            .map_err(|e| format!("config {config}: {e}"))?;
        if rootfs.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(format!(
                "image {reference}: config and manifest disagree on the layer count"
            ));
        }
        let mut chain = Vec::with_capacity(manifest.layers.len());
        for (layer, diff_id) in manifest.layers.iter().zip(&rootfs.rootfs.diff_ids) {
            chain.push(self.layer_snapshot(diff_id, layer)?);
        }
        Ok((digest.to_string(), chain))
    }
}
