//! Image config and manifest documents for a built image.
//!
//! kiln writes OCI media types (manifest, config, gzip/zstd layers); the
//! config keeps Docker's extensions (Healthcheck, Shell, OnBuild,
//! ArgsEscaped) so `docker inspect` shows them.

use serde::{Deserialize, Serialize};

use kiln_frontend::definition::{History, Image};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

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

/// One layer of the image: uncompressed and compressed digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub diff_id: String,
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// Fills in what the frontend left open: the layers' diff ids, history
/// entries lined up with the layers, and creation times (`created` =
/// SOURCE_DATE_EPOCH when set, else now).
pub fn finalize_config(mut image: Image, layers: &[Layer], created: &str) -> Image {
    image.rootfs.kind = "layers".into();
    image.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
    align_history(&mut image.history, layers.len());
    for h in &mut image.history {
        if h.created.is_none() {
            h.created = Some(created.to_string());
        }
    }
    image.created = Some(created.to_string());
    image
}

/// Makes the non-empty history entries match the layer count: entries
/// for unknown base layers are added in front; surplus ones (a layer
/// that turned out to be absent) are marked empty, oldest first.
fn align_history(history: &mut Vec<History>, layers: usize) {
    let non_empty = history.iter().filter(|h| !h.empty_layer).count();
    if non_empty < layers {
        let missing = layers - non_empty;
        let filler = (0..missing).map(|_| History {
            empty_layer: false,
            ..History::default()
        });
        history.splice(0..0, filler);
    } else {
        let mut surplus = non_empty - layers;
        for h in history.iter_mut() {
            if surplus == 0 {
                break;
            }
            if !h.empty_layer {
                h.empty_layer = true;
                surplus -= 1;
            }
        }
    }
}

pub fn manifest(config: Descriptor, layers: &[Layer]) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config,
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                annotations: None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> Layer {
        Layer {
            diff_id: format!("sha256:{}", hex_of(n)),
            digest: format!("sha256:{}", hex_of(n + 100)),
            size: 10,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        }
    }

    fn hex_of(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn entry(created_by: &str, empty: bool) -> History {
        History {
            created_by: created_by.into(),
            empty_layer: empty,
            ..History::default()
        }
    }

    #[test]
    fn history_lines_up_with_layers() {
        let img = Image {
            history: vec![entry("ENV A=1", true), entry("COPY a /a # buildkit", false)],
            ..Image::default()
        };
        let img = finalize_config(img, &[layer(1), layer(2)], "2024-01-01T00:00:00Z");
        assert_eq!(
            img.history.len(),
            3,
            "a filler entry for the unknown base layer"
        );
        assert_eq!(img.history.iter().filter(|h| !h.empty_layer).count(), 2);
        assert_eq!(img.rootfs.diff_ids.len(), 2);
        assert!(img
            .history
            .iter()
            .all(|h| h.created.as_deref() == Some("2024-01-01T00:00:00Z")));

        let img = Image {
            history: vec![entry("a", false), entry("b", false)],
            ..Image::default()
        };
        let img = finalize_config(img, &[layer(1)], "x");
        assert_eq!(img.history.iter().filter(|h| !h.empty_layer).count(), 1);
        assert!(img.history[0].empty_layer);
    }

    #[test]
    fn manifest_json_shape() {
        let m = manifest(
            Descriptor {
                media_type: CONFIG_MEDIA_TYPE.into(),
                digest: "sha256:c".into(),
                size: 3,
                annotations: None,
            },
            &[layer(1)],
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"#), "{json}");
        assert!(
            json.contains(
                r#""layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip""#
            ),
            "{json}"
        );
    }
}
