//! `kiln.toml`: defaults for every command. The first file found of
//! `$KILN_CONFIG`, `$XDG_CONFIG_HOME/kiln/kiln.toml` (default
//! `~/.config/kiln/kiln.toml`) and `/etc/kiln/kiln.toml` is read; flags
//! and environment variables win over it.
//!
//! ```toml
//! root = "/srv/kiln"            # the store ($KILN_ROOT, --root win)
//!
//! [build]
//! progress = "plain"            # default --progress
//! compression = "zstd"          # layer compression of -o type=docker|oci
//!
//! [registry]                    # for the registry client
//! insecure = ["localhost:5000"] # plain HTTP allowed
//! [registry.mirrors]
//! "docker.io" = ["mirror.internal:5000"]
//!
//! [gc]                          # for `kiln prune`
//! keep_storage = "20GB"
//! keep_duration = "168h"
//! ```
//!
//! Unknown keys are errors, so a typo does not silently do nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub root: Option<PathBuf>,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub registry: Registry,
    #[serde(default)]
    pub gc: Gc,
    /// The file this was read from.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub progress: Option<crate::progress::Mode>,
    /// `gzip` or `zstd`.
    pub compression: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Registry host -> mirrors tried first.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries reached over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    pub keep_storage: Option<String>,
    pub keep_duration: Option<String>,
}

/// Candidate config files, most specific first.
fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("KILN_CONFIG").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = xdg {
        out.push(dir.join("kiln/kiln.toml"));
    }
    out.push(PathBuf::from("/etc/kiln/kiln.toml"));
    out
}

/// Reads the first config file that exists (`KILN_CONFIG` must exist
/// when set); no file gives the defaults.
pub fn load() -> Result<Config> {
    let explicit = std::env::var_os("KILN_CONFIG").is_some_and(|p| !p.is_empty());
    for path in candidates() {
        if path.exists() || explicit {
            return read(&path);
        }
    }
    Ok(Config::default())
}

pub fn read(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let mut config: Config =
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    if let Some(c) = &config.build.compression {
        if c != "gzip" && c != "zstd" {
            bail!(
                "config file {}: build.compression must be gzip or zstd, not {c:?}",
                path.display()
            );
        }
    }
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// `-o` values with the configured compression added where the output
/// writes layers and names none.
pub fn with_compression(outputs: &[String], compression: Option<&str>) -> Vec<String> {
    let Some(c) = compression else {
        return outputs.to_vec();
    };
    outputs
        .iter()
        .map(|o| {
            let archive = o.split(',').any(|f| f == "type=docker" || f == "type=oci");
            if archive && !o.contains("compression=") {
                format!("{o},compression={c}")
            } else {
                o.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_added_only_where_missing() {
        let outs = vec![
            "type=docker,dest=a.tar".to_string(),
            "type=oci,dest=b,compression=gzip".to_string(),
            "type=local,dest=c".to_string(),
        ];
        assert_eq!(
            with_compression(&outs, Some("zstd")),
            [
                "type=docker,dest=a.tar,compression=zstd",
                "type=oci,dest=b,compression=gzip",
                "type=local,dest=c"
            ]
        );
    }
}
