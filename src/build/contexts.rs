//! Where a build reads from besides the Dockerfile: the main context — a
//! directory, or `-`: a tar (plain or gzip) or a bare Dockerfile on stdin,
//! as `docker build -` takes them — and the named contexts of
//! `--build-context name=DIR|docker-image://REF`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use kiln_frontend::lower::NamedContext;

use crate::commands;
use crate::report::usage;

/// The main context, ready to open.
pub struct MainContext {
    pub dir: PathBuf,
    /// The Dockerfile path, or `-` (stdin).
    pub dockerfile: String,
    /// Holds what came on stdin until the build is over.
    _stdin: Option<tempfile::TempDir>,
}

/// Resolves the `CONTEXT` argument and `-f`.
pub fn main_context(context: &str, file: Option<&str>) -> Result<MainContext> {
    if context != "-" {
        return Ok(MainContext {
            dir: PathBuf::from(context),
            dockerfile: commands::resolve_dockerfile(context, file)?,
            _stdin: None,
        });
    }
    if file == Some("-") {
        return Err(usage(
            "the context and the Dockerfile cannot both come from stdin (`-f -` with context `-`)",
        ));
    }
    let temp = tempfile::tempdir().context("creating a directory for the context on stdin")?;
    let mut data = tempfile::tempfile_in(temp.path())?;
    std::io::copy(&mut std::io::stdin().lock(), &mut data).context("reading stdin")?;
    let dir = temp.path().join("context");
    std::fs::create_dir(&dir)?;
    let dockerfile = match sniff(&mut data)? {
        Some(gzip) => {
            let reader: Box<dyn Read> = if gzip {
                Box::new(flate2::read::GzDecoder::new(&data))
            } else {
                Box::new(&data)
            };
            tar::Archive::new(reader)
                .unpack(&dir)
                .context("unpacking the context tar from stdin")?;
            let dir_text = dir.to_string_lossy();
            match file {
                // In a tar context, `-f` names a file inside it.
                Some(f) => dir.join(f).to_string_lossy().into_owned(),
                None => commands::resolve_dockerfile(&dir_text, None)?,
            }
        }
        None => {
            // A bare Dockerfile: the context is empty.
            let path = temp.path().join("Dockerfile");
            std::io::copy(&mut data, &mut std::fs::File::create(&path)?)?;
            path.to_string_lossy().into_owned()
        }
    };
    Ok(MainContext {
        dir,
        dockerfile,
        _stdin: Some(temp),
    })
}

/// `Some(gzip)` when `data` is a tar (gzip-compressed or not), `None`
/// for anything else; rewinds `data`.
fn sniff(data: &mut std::fs::File) -> Result<Option<bool>> {
    data.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match data.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    data.seek(SeekFrom::Start(0))?;
    if head[..n].starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(true));
    }
    Ok((n == 512 && &head[257..262] == b"ustar").then_some(false))
}

/// One `--build-context` value.
pub struct Named {
    pub name: String,
    pub context: NamedContext,
    /// The directory of a local named context.
    pub dir: Option<PathBuf>,
}

/// Parses `--build-context` values; a local directory is sent as the
/// local source of the context's name.
pub fn named(values: &[String]) -> Result<Vec<Named>> {
    values
        .iter()
        .map(|value| {
            let (name, target) = value
                .split_once('=')
                .filter(|(n, t)| !n.is_empty() && !t.is_empty())
                .ok_or_else(|| {
                    usage(format!(
                        "--build-context {value:?}: expected name=DIR or name=docker-image://REF"
                    ))
                })?;
            let name = name.to_ascii_lowercase();
            if let Some(reference) = target.strip_prefix("docker-image://") {
                return Ok(Named {
                    name,
                    context: NamedContext::Image {
                        reference: reference.to_string(),
                    },
                    dir: None,
                });
            }
            if target.contains("://") || target.starts_with("oci-layout:") {
                return Err(usage(format!(
                    "--build-context {name}={target}: only local directories and docker-image:// are supported"
                )));
            }
            if !Path::new(target).is_dir() {
                return Err(usage(format!(
                    "--build-context {name}={target}: not a directory"
                )));
            }
            Ok(Named {
                context: NamedContext::Local {
                    name: format!("context:{name}"),
                },
                name,
                dir: Some(PathBuf::from(target)),
            })
        })
        .collect()
}
