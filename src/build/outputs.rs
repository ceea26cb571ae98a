//! `-o/--output` values, as buildx reads them: `type=docker,dest=FILE`,
//! `type=oci,dest=FILE|DIR`, `type=local,dest=DIR`, `type=tar,dest=FILE`,
//! `type=image`, shorthands `-o DIR` (local) and `-o -` (tar to stdout),
//! plus `compression=gzip|zstd` and `compression-level=N`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The local image store only (`type=image`, and what `-t` implies).
    Image,
    /// docker-archive tar.
    Docker,
    /// OCI image layout tar.
    Oci,
    /// The final root filesystem as a directory.
    Local,
    /// The final root filesystem as one tar.
    Tar,
    /// Pushed to a registry (`type=registry`, `type=image,push=true`).
    Registry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    Gzip(u32),
    Zstd(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: Kind,
    pub dest: Option<Dest>,
    pub compression: LayerCompression,
    /// `name=` (extra image names for docker/oci/image outputs).
    pub names: Vec<String>,
}

/// Parses one `--output` value.
pub fn parse(value: &str) -> Result<Output> {
    if value == "-" {
        return Ok(output(Kind::Tar, Some(Dest::Stdout)));
    }
    if !value.contains('=') {
        return Ok(output(Kind::Local, Some(Dest::Path(value.into()))));
    }
    let mut kind = None;
    let mut dest = None;
    let mut compression = "gzip".to_string();
    let mut level: Option<i32> = None;
    let mut names = Vec::new();
    let mut push = false;
    for field in value.split(',') {
        let (key, val) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid output option {field:?}: expected key=value"))?;
        match key.trim() {
            "type" => kind = Some(parse_kind(val)?),
            "dest" => {
                dest = Some(if val == "-" {
                    Dest::Stdout
                } else {
                    Dest::Path(val.into())
                })
            }
            "compression" => compression = val.to_string(),
            "compression-level" => {
                level = Some(
                    val.parse()
                        .map_err(|_| anyhow!("invalid compression-level {val:?}"))?,
                )
            }
            "name" => names.extend(val.split(',').map(str::to_string)),
            "push" => push = val == "true",
            // Accepted for buildx compatibility; kiln's behaviour matches their defaults.
            "oci-mediatypes" | "force-compression" | "rewrite-timestamp" | "unpack" => {}
            other => bail!("unknown output option {other:?} in {value:?}"),
        }
    }
    let kind = match kind.ok_or_else(|| anyhow!("output {value:?} has no type="))? {
        Kind::Image if push => Kind::Registry,
        kind => kind,
    };
    let compression = match compression.as_str() {
        "gzip" => LayerCompression::Gzip(level.map_or(6, |l| l.clamp(0, 9) as u32)),
        "zstd" => LayerCompression::Zstd(level.unwrap_or(3)),
        other => bail!("unsupported compression {other:?} (gzip or zstd)"),
    };
    if matches!(kind, Kind::Docker | Kind::Oci | Kind::Local | Kind::Tar) && dest.is_none() {
        bail!("output type {:?} needs dest=", kind_name(kind));
    }
    if kind == Kind::Local && dest == Some(Dest::Stdout) {
        bail!("output type \"local\" needs a directory, not stdout");
    }
    Ok(Output {
        kind,
        dest,
        compression,
        names,
    })
}

fn output(kind: Kind, dest: Option<Dest>) -> Output {
    Output {
        kind,
        dest,
        compression: LayerCompression::Gzip(6),
        names: Vec::new(),
    }
}

fn parse_kind(value: &str) -> Result<Kind> {
    Ok(match value {
        "image" => Kind::Image,
        "docker" => Kind::Docker,
        "oci" => Kind::Oci,
        "local" => Kind::Local,
        "tar" => Kind::Tar,
        "registry" => Kind::Registry,
        other => bail!("unknown output type {other:?} (image, registry, docker, oci, local, tar)"),
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "image",
        Kind::Docker => "docker",
        Kind::Oci => "oci",
        Kind::Local => "local",
        Kind::Tar => "tar",
        Kind::Registry => "registry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_forms() {
        let o = parse("type=docker,dest=out.tar").unwrap();
        assert_eq!(
            (o.kind, o.dest),
            (Kind::Docker, Some(Dest::Path("out.tar".into())))
        );
        let o = parse("type=oci,dest=-,compression=zstd,compression-level=9").unwrap();
        assert_eq!(
            (o.kind, o.dest, o.compression),
            (Kind::Oci, Some(Dest::Stdout), LayerCompression::Zstd(9))
        );
        assert_eq!(parse("out").unwrap().kind, Kind::Local);
        assert_eq!(parse("-").unwrap(), output(Kind::Tar, Some(Dest::Stdout)));
        assert_eq!(parse("type=image").unwrap().dest, None);
        let o = parse("type=registry,name=h:5000/a:1").unwrap();
        assert_eq!(
            (o.kind, o.names),
            (Kind::Registry, vec!["h:5000/a:1".to_string()])
        );
        assert_eq!(parse("type=image,push=true").unwrap().kind, Kind::Registry);
    }

    #[test]
    fn rejects_bad_values() {
        for (value, want) in [
            ("type=docker", "needs dest="),
            ("type=nope,dest=x", "unknown output type"),
            (
                "type=docker,dest=x,compression=lz4",
                "unsupported compression",
            ),
            ("type=docker,dest=x,colour=red", "unknown output option"),
            ("dest=x,", "expected key=value"),
            ("type=local,dest=-", "needs a directory"),
        ] {
            let err = parse(value).unwrap_err().to_string();
            assert!(err.contains(want), "{value}: {err}");
        }
    }
}
