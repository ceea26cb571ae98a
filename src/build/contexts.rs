//! Where a build reads from besides the Dockerfile: the main context — a
//! directory; `-`: a tar (plain or gzip) or a bare Dockerfile on stdin,
//! as `docker build -` takes them; or a git repository
//! (`URL[#REF][:SUBDIR]`, cloned with the `git` command) — and the named
//! contexts of
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
    if let Some(git) = GitContext::parse(context) {
        return git.clone_context(file);
    }
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

/// A git repository as the build context, as docker recognises one:
/// `git://`, `git@`, `github.com/`, or an http(s) URL ending in `.git`,
/// with an optional `#REF[:SUBDIR]` fragment.
#[derive(Debug, PartialEq, Eq)]
struct GitContext {
    url: String,
    reference: Option<String>,
    subdir: Option<String>,
}

impl GitContext {
    fn parse(context: &str) -> Option<GitContext> {
        let (url, fragment) = context.split_once('#').unwrap_or((context, ""));
        let http =
            (url.starts_with("https://") || url.starts_with("http://")) && url.ends_with(".git");
        if !(http
            || url.starts_with("git://")
            || url.starts_with("git@")
            || url.starts_with("github.com/"))
        {
            return None;
        }
        let url = match url.strip_prefix("github.com/") {
            Some(rest) => format!("https://github.com/{rest}"),
            None => url.to_string(),
        };
        let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some(GitContext {
            url,
            reference: some(reference),
            subdir: some(subdir.trim_matches('/')),
        })
    }

    /// Clones (shallow unless the reference is a commit) into a temporary
    /// directory; the context is SUBDIR of the checkout, without `.git`.
    fn clone_context(&self, file: Option<&str>) -> Result<MainContext> {
        let temp = tempfile::tempdir().context("creating a directory for the git context")?;
        let checkout = temp.path().join("checkout");
        let is_commit = self
            .reference
            .as_deref()
            .is_some_and(|r| r.len() >= 7 && r.bytes().all(|b| b.is_ascii_hexdigit()));
        let mut clone = std::process::Command::new("git");
        clone.args(["clone", "--quiet", "--recurse-submodules"]);
        if let (Some(r), false) = (&self.reference, is_commit) {
            clone.args(["--depth", "1", "--branch", r]);
        }
        clone.arg("--").arg(&self.url).arg(&checkout);
        git(&mut clone, &self.url)?;
        if let (Some(r), true) = (&self.reference, is_commit) {
            let mut checkout_cmd = std::process::Command::new("git");
            checkout_cmd
                .arg("-C")
                .arg(&checkout)
                .args(["checkout", "--quiet", r]);
            git(&mut checkout_cmd, &self.url)?;
        }
        std::fs::remove_dir_all(checkout.join(".git"))
            .with_context(|| format!("removing .git from the clone of {}", self.url))?;
        let dir = match &self.subdir {
            Some(sub) => checkout.join(sub),
            None => checkout,
        };
        if !dir.is_dir() {
            anyhow::bail!(
                "{}: no directory {:?} in the repository",
                self.url,
                self.subdir.as_deref().unwrap_or("")
            );
        }
        let dir_text = dir.to_string_lossy().into_owned();
        // As with a tar context, `-f` names a file inside the context.
        let dockerfile = match file {
            Some("-") => "-".to_string(),
            Some(f) => dir.join(f).to_string_lossy().into_owned(),
            None => commands::resolve_dockerfile(&dir_text, None)?,
        };
        Ok(MainContext {
            dir,
            dockerfile,
            _stdin: Some(temp),
        })
    }
}

/// Runs a git command without prompting for credentials; its stderr
/// becomes the error.
fn git(cmd: &mut std::process::Command, url: &str) -> Result<()> {
    let out = cmd
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "cloning the git context {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_as_docker_recognises_them() {
        let g = GitContext::parse("https://example.com/r.git#v1:app/").unwrap();
        assert_eq!(
            g,
            GitContext {
                url: "https://example.com/r.git".into(),
                reference: Some("v1".into()),
                subdir: Some("app".into())
            }
        );
        let g = GitContext::parse("github.com/o/r#:sub").unwrap();
        assert_eq!(
            (g.url.as_str(), g.reference, g.subdir.as_deref()),
            ("https://github.com/o/r", None, Some("sub"))
        );
        assert!(GitContext::parse("git@host:o/r.git").is_some());
        assert!(GitContext::parse("git://127.0.0.1:9418/r.git").is_some());
        assert_eq!(
            GitContext::parse("https://example.com/archive.tar.gz"),
            None
        );
        assert_eq!(GitContext::parse("./dir"), None);
        assert_eq!(GitContext::parse("-"), None);
    }
}
