//! Image config and manifest documents for a built image.
//!
//! kiln writes OCI media types (manifest, config, gzip/zstd layers); the
//! config keeps Docker's extensions (Healthcheck, Shell, OnBuild,
//! ArgsEscaped) so `docker inspect` shows them.

use serde::{Deserialize, Serialize};

use kiln_frontend::definition::{History, Image};

pub use kiln_solver::image::{
    Descriptor, Manifest, CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};

/// One layer of the image: uncompressed and compressed digests, and when
/// its content was made (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub diff_id: String,
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    #[serde(default)]
    pub created: i64,
}

/// Fills in what the frontend left open, as BuildKit's exporter does: the
/// layers' diff ids, history entries lined up with the layers, and times.
/// A layer's history entry without a time takes the time its layer was
/// made; other entries take the time before them (or the first known), and
/// the image is as old as its last entry. So rebuilding from cache gives
/// the same image, byte for byte.
pub fn finalize_config(mut image: Image, layers: &[Layer]) -> Image {
    image.rootfs.kind = "layers".into();
    image.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
    align_history(&mut image.history, layers.len());
    let mut layer = layers.iter();
    for h in image.history.iter_mut().filter(|h| !h.empty_layer) {
        if let Some(l) = layer.next() {
            if h.created.is_none() {
                h.created = Some(crate::export::rfc3339(l.created));
            }
        }
    }
    let mut previous = image.history.iter().find_map(|h| h.created.clone());
    for h in &mut image.history {
        match &h.created {
            Some(c) => previous = Some(c.clone()),
            None => h.created = previous.clone(),
        }
    }
    image.created = previous.or_else(|| layers.last().map(|l| crate::export::rfc3339(l.created)));
    image
}

/// Makes the non-empty history entries match the layer count, as
/// BuildKit's exporter does: surplus entries past the last layer become
/// empty; missing ones are appended.
fn align_history(history: &mut Vec<History>, layers: usize) {
    let mut seen = 0;
    for h in history.iter_mut() {
        if !h.empty_layer {
            if seen >= layers {
                h.empty_layer = true;
            } else {
                seen += 1;
            }
        }
    }
    for _ in seen..layers {
        history.push(History {
            comment: "buildkit.exporter.image.v0".into(),
            ..History::default()
        });
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
            created: i64::from(n),
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
        let img = finalize_config(img, &[layer(1), layer(2)]);
        assert_eq!(img.history.len(), 3, "an entry for the unaccounted layer");
        assert_eq!(img.history[2].comment, "buildkit.exporter.image.v0");
        assert_eq!(img.history.iter().filter(|h| !h.empty_layer).count(), 2);
        assert_eq!(img.rootfs.diff_ids.len(), 2);
        let times: Vec<_> = img
            .history
            .iter()
            .map(|h| h.created.clone().unwrap())
            .collect();
        // The ENV entry has no layer: it takes the first known time.
        assert_eq!(
            times,
            [
                "1970-01-01T00:00:01Z",
                "1970-01-01T00:00:01Z",
                "1970-01-01T00:00:02Z"
            ]
        );
        assert_eq!(img.created.as_deref(), Some("1970-01-01T00:00:02Z"));

        let img = Image {
            history: vec![entry("a", false), entry("b", false)],
            ..Image::default()
        };
        let img = finalize_config(img, &[layer(1)]);
        assert_eq!(img.history.iter().filter(|h| !h.empty_layer).count(), 1);
        assert!(!img.history[0].empty_layer && img.history[1].empty_layer);
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
