//! `ADD <git url>`: a checkout of a git repository, as BuildKit's git
//! source makes it, with the `git` binary.
//!
//! - **Resolve**: the ref (default branch when none is given) becomes a
//!   commit with `git ls-remote`, preferring a branch over a tag of the
//!   same name; a full commit hash is taken as is. The cache key is that
//!   commit, so a rebuild re-runs the steps after the ADD only when the
//!   ref moved. `--checksum` (a commit hash or its prefix) must match.
//! - **Fetch**: into one bare repository per remote under
//!   `$KILN_ROOT/sources/git/`, shallow (`--depth=1`), skipped when the
//!   commit is already there; later builds fetch only what changed.
//! - **Checkout**: the commit's tree (with submodules) into a new
//!   snapshot, without `.git` unless `--keep-git-dir` (then a shallow clone
//!   whose `origin` is the remote). Files get git's modes under umask 022
//!   and the checkout time as mtime. A subdir (`#ref:dir`) becomes the
//!   root.
//!
//! git runs with a clean environment: no user or system config, no
//! terminal prompts; proxy variables, `SSH_AUTH_SOCK` and `SSL_CERT_FILE`
//! (as git's CA file) are passed through.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{name_for, state_dir, NewSnapshot};
use crate::store::{SnapshotId, Store};

/// One git source (`ADD https://host/repo.git#ref:subdir /dst`).
#[derive(Debug, Clone)]
pub struct GitSource {
    /// What git is given as the remote (`https://...`, `git@host:repo`).
    pub remote: String,
    /// Branch, tag, full ref or commit; `None`: the default branch.
    pub reference: Option<String>,
    pub subdir: Option<String>,
    pub keep_git_dir: bool,
    /// Commit hash (or a prefix of it) the ref must resolve to.
    pub checksum: Option<String>,
    pub submodules: bool,
    resolved: OnceLock<Resolved>,
}

/// What the ref pointed at in this build.
#[derive(Debug, Clone)]
struct Resolved {
    /// The full ref (`refs/heads/main`, `refs/tags/v1`) or a commit hash.
    reference: String,
    /// The object the ref names: a commit, or an annotated tag.
    sha: String,
    /// The commit an annotated tag points at.
    commit: Option<String>,
}

impl GitSource {
    pub fn new(remote: String, reference: Option<String>, subdir: Option<String>) -> GitSource {
        GitSource {
            remote,
            reference,
            subdir,
            keep_git_dir: false,
            checksum: None,
            submodules: true,
            resolved: OnceLock::new(),
        }
    }

    /// What the cache key depends on: the commit the ref names now.
    pub fn resolve(&self) -> Result<String, String> {
        let r = self.resolved()?;
        // Without .git an annotated tag and its commit give the same files.
        let mut key = match (&r.commit, self.keep_git_dir) {
            (Some(commit), false) => commit.clone(),
            _ => r.sha.clone(),
        };
        if self.keep_git_dir {
            key.push('#');
            key.push_str(&r.reference);
        }
        Ok(key)
    }

    fn resolved(&self) -> Result<&Resolved, String> {
        if let Some(r) = self.resolved.get() {
            return Ok(r);
        }
        let r = self.ls_remote()?;
        Ok(self.resolved.get_or_init(|| r))
    }

    /// The checkout, fetched into the remote's bare repository first.
    pub fn snapshot(&self, store: &Store) -> Result<SnapshotId, String> {
        let r = self.resolved()?;
        let repo = BareRepo::open(store, &self.remote)?;
        self.fetch(&repo, r)?;
        let snapshot = NewSnapshot::prepare(store)?;
        let subdir = clean_subdir(self.subdir.as_deref().unwrap_or(""));
        if self.keep_git_dir && subdir.is_empty() {
            self.clone_into(&repo, r, &snapshot.fs)?;
        } else {
            let work = if subdir.is_empty() {
                snapshot.fs.clone()
            } else {
                mkdir(snapshot.dir.join("checkout"))?
            };
            self.checkout_into(&repo, r, &work, &snapshot.dir.join("index"))?;
            if !subdir.is_empty() {
                move_subdir(&work, &subdir, &snapshot.fs)?;
            }
        }
        snapshot.commit()
    }

    fn ls_remote(&self) -> Result<Resolved, String> {
        if let Some(sum) = &self.checksum {
            if sum.is_empty() || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "invalid checksum {sum} for Git URL, expected hex commit hash"
                ));
            }
        }
        let git = Git::default();
        let reference = match &self.reference {
            Some(r) => r.clone(),
            None => self.default_branch(&git)?,
        };
        if reference.starts_with('-') {
            return Err(format!("invalid git ref {reference:?}"));
        }
        if is_commit_sha(&reference) {
            self.check_checksum(&reference, None)?;
            return Ok(Resolved {
                sha: reference.clone(),
                reference,
                commit: None,
            });
        }
        let peeled = format!("{reference}^{{}}");
        let out = git
            .run(&["ls-remote", "--", &self.remote, &reference, &peeled])
            .map_err(|e| format!("failed to fetch remote {}: {e}", self.remote))?;
        let found = pick_ref(&out, &reference).ok_or_else(|| {
            format!(
                "repository {} does not contain ref {reference}",
                self.remote
            )
        })?;
        self.check_checksum(&found.sha, found.commit.as_deref())?;
        Ok(found)
    }

    fn default_branch(&self, git: &Git) -> Result<String, String> {
        let out = git
            .run(&["ls-remote", "--symref", &self.remote, "HEAD"])
            .map_err(|e| {
                format!(
                    "error fetching default branch for repository {}: {e}",
                    self.remote
                )
            })?;
        out.lines()
            .filter_map(|l| l.strip_prefix("ref: refs/heads/"))
            .filter_map(|l| l.split_whitespace().next())
            .next()
            .map(|b| format!("refs/heads/{b}"))
            .ok_or_else(|| {
                format!(
                    "could not find default branch for repository: {}",
                    self.remote
                )
            })
    }

    fn check_checksum(&self, sha: &str, commit: Option<&str>) -> Result<(), String> {
        let Some(sum) = &self.checksum else {
            return Ok(());
        };
        let sum = sum.to_ascii_lowercase();
        if sha.starts_with(&sum) || commit.is_some_and(|c| c.starts_with(&sum)) {
            return Ok(());
        }
        let got = match commit {
            Some(c) => format!("{sha} or {c}"),
            None => sha.to_string(),
        };
        Err(format!("expected checksum to match {sum}, got {got}"))
    }

    /// Makes `r.sha` present in the bare repository.
    fn fetch(&self, repo: &BareRepo, r: &Resolved) -> Result<(), String> {
        let git = repo.git();
        if repo.has(&r.sha) {
            return Ok(());
        }
        let fail = |e: String| format!("failed to fetch remote {}: {e}", self.remote);
        if is_commit_sha(&r.reference) {
            // Servers may refuse unadvertised commits: then fetch all.
            let shallow = ["fetch", "--depth=1", "--no-tags", "origin", r.sha.as_str()];
            if git.run(&shallow).is_err() {
                let mut args = vec!["fetch", "--tags", "--force"];
                if repo.dir.join("shallow").exists() {
                    args.push("--unshallow");
                }
                args.extend(["origin", "+refs/heads/*:refs/remotes/origin/*"]);
                git.run(&args).map_err(fail)?;
            }
        } else {
            let refspec = format!("{}:{}", r.reference, local_ref(&r.reference));
            git.run(&[
                "fetch",
                "--depth=1",
                "--no-tags",
                "--force",
                "origin",
                "--",
                &refspec,
            ])
            .map_err(fail)?;
        }
        if repo.has(&r.sha) {
            Ok(())
        } else {
            Err(format!(
                "fetched {} from {} but commit {} is not there (did the remote change during the build?)",
                r.reference, self.remote, r.sha
            ))
        }
    }

    /// The tree of `r.sha` into `work` (no .git), with submodules.
    fn checkout_into(
        &self,
        repo: &BareRepo,
        r: &Resolved,
        work: &Path,
        index: &Path,
    ) -> Result<(), String> {
        let git = Git {
            git_dir: Some(repo.dir.clone()),
            work_tree: Some(work.to_path_buf()),
            index: Some(index.to_path_buf()),
        };
        git.run(&["checkout", "--no-overlay", &r.sha, "--", "."])
            .map_err(|e| format!("failed to checkout remote {}: {e}", self.remote))?;
        self.update_submodules(&git, work)?;
        let _ = std::fs::remove_file(index);
        Ok(())
    }

    /// A shallow clone of the bare repository in `dir`, at `r`, whose
    /// `origin` is the remote (`--keep-git-dir`).
    fn clone_into(&self, repo: &BareRepo, r: &Resolved, dir: &Path) -> Result<(), String> {
        // A ref of our own pins the commit in the bare repository even if
        // its branch has moved on since.
        let pin = format!("refs/kiln/pin/{}", r.sha);
        repo.git()
            .run(&["update-ref", &pin, &r.sha])
            .map_err(|e| format!("{}: {e}", self.remote))?;
        let git = Git {
            git_dir: Some(dir.join(".git")),
            work_tree: Some(dir.to_path_buf()),
            index: None,
        };
        let origin = format!("file://{}", repo.dir.display());
        let refspec = if is_commit_sha(&r.reference) {
            pin.clone()
        } else {
            format!("{pin}:{}", r.reference)
        };
        let steps: [&[&str]; 6] = [
            &["-c", "init.defaultBranch=master", "init", "-q"],
            &["remote", "add", "origin", &origin],
            &["fetch", "-q", "-u", "--depth=1", "--", "origin", &refspec],
            &["checkout", "-q", "FETCH_HEAD"],
            &["remote", "set-url", "origin", &self.remote],
            &["reflog", "expire", "--all", "--expire=now"],
        ];
        for args in steps {
            git.run(args)
                .map_err(|e| format!("failed to checkout remote {}: {e}", self.remote))?;
        }
        let _ = std::fs::remove_file(dir.join(".git/FETCH_HEAD"));
        self.update_submodules(&git, dir)
    }

    fn update_submodules(&self, git: &Git, work: &Path) -> Result<(), String> {
        if !self.submodules || !work.join(".gitmodules").exists() {
            return Ok(());
        }
        git.run(&["submodule", "update", "--init", "--recursive", "--depth=1"])
            .map(drop)
            .map_err(|e| format!("failed to update submodules for {}: {e}", self.remote))
    }
}

/// Picks the ref's line of `ls-remote` output like `git checkout` would:
/// an exact full ref, else a branch, else a tag (peeled for its commit).
fn pick_ref(output: &str, reference: &str) -> Option<Resolved> {
    let bare = reference.strip_prefix("refs/").unwrap_or(reference);
    let full = format!("refs/{bare}");
    let head = format!("refs/heads/{}", bare.strip_prefix("heads/").unwrap_or(bare));
    let tag = format!("refs/tags/{}", bare.strip_prefix("tags/").unwrap_or(bare));
    let peeled = format!("{tag}^{{}}");
    let (mut exact, mut branch, mut tagged, mut commit) = (None, None, None, None);
    for line in output.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        let sha = Some(sha.trim().to_string());
        if name == full {
            exact = sha;
        } else if name == head {
            branch = sha;
        } else if name == tag {
            tagged = sha;
        } else if name == peeled {
            commit = sha;
        }
    }
    let (name, sha, commit) = match (exact, branch, tagged) {
        (Some(sha), _, _) => (full.clone(), sha, (full == tag).then_some(commit).flatten()),
        (None, Some(sha), _) => (head, sha, None),
        (None, None, Some(sha)) => (tag, sha, commit),
        _ => return None,
    };
    Some(Resolved {
        reference: name,
        sha,
        commit,
    })
    .filter(|r| is_commit_sha(&r.sha))
}

/// Where a fetched ref is kept in the bare repository.
fn local_ref(reference: &str) -> String {
    format!(
        "refs/kiln/{}",
        reference.strip_prefix("refs/").unwrap_or(reference)
    )
}

fn is_commit_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `a/../b/` -> `b`; the repository root is the empty string.
fn clean_subdir(subdir: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in subdir.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Moves the entries of `work/subdir` to `dest`; every component of the
/// subdir must be a real directory (no symlink out of the checkout).
fn move_subdir(work: &Path, subdir: &str, dest: &Path) -> Result<(), String> {
    let mut dir = work.to_path_buf();
    for part in subdir.split('/') {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "git subpath {subdir:?} contains non-directory {part:?}"
                ))
            }
            Err(e) => return Err(format!("invalid subdir {subdir}: {e}")),
        }
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("subdir {subdir}: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("subdir {subdir}: {e}"))?;
        std::fs::rename(entry.path(), dest.join(entry.file_name()))
            .map_err(|e| format!("subdir {subdir}: {e}"))?;
    }
    std::fs::remove_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))
}

fn mkdir(path: PathBuf) -> Result<PathBuf, String> {
    std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The bare repository caching one remote, locked while in use.
struct BareRepo {
    dir: PathBuf,
    _lock: File,
}

impl BareRepo {
    fn open(store: &Store, remote: &str) -> Result<BareRepo, String> {
        let base = state_dir(store, "git")?;
        let name = name_for(&[remote]);
        let dir = base.join(&name);
        let lock_path = base.join(format!("{name}.lock"));
        let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
        let repo = BareRepo { dir, _lock: lock };
        if !repo.dir.join("kiln-ready").exists() {
            repo.init(remote)?;
        }
        Ok(repo)
    }

    /// Creates the repository in a temp dir and renames it in place, so a
    /// crash never leaves a half-made one.
    fn init(&self, remote: &str) -> Result<(), String> {
        let tmp = self.dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_dir_all(&self.dir);
        let git = Git {
            git_dir: Some(tmp.clone()),
            ..Git::default()
        };
        let tmp_str = tmp.to_string_lossy();
        let steps: [&[&str]; 2] = [
            &[
                "-c",
                "init.defaultBranch=master",
                "init",
                "-q",
                "--bare",
                &tmp_str,
            ],
            &["remote", "add", "origin", remote],
        ];
        for args in steps {
            git.run(args).map_err(|e| format!("git init: {e}"))?;
        }
        std::fs::write(tmp.join("kiln-ready"), b"").map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))
    }

    fn git(&self) -> Git {
        Git {
            git_dir: Some(self.dir.clone()),
            ..Git::default()
        }
    }

    fn has(&self, sha: &str) -> bool {
        let object = format!("{sha}^{{commit}}");
        self.git().run(&["cat-file", "-e", &object]).is_ok()
    }
}

/// The `git` binary with a clean environment.
#[derive(Default)]
struct Git {
    git_dir: Option<PathBuf>,
    work_tree: Option<PathBuf>,
    index: Option<PathBuf>,
}

/// Variables passed through to git: proxies and the SSH agent.
const PASS_ENV: &[&str] = &[
    "PATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSH_AUTH_SOCK",
];

impl Git {
    /// Runs git; stdout on success, else its stderr.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", "/dev/null")
            .env("LC_ALL", "C")
            .env(
                "GIT_SSH_COMMAND",
                "ssh -F /dev/null -o StrictHostKeyChecking=no",
            );
        for name in PASS_ENV {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        if let Some(ca) = std::env::var_os("SSL_CERT_FILE") {
            cmd.env("GIT_SSL_CAINFO", ca);
        }
        if let Some(index) = &self.index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        // Submodules must not be cloned from the host's filesystem.
        cmd.args(["-c", "protocol.file.allow=user"]);
        if let Some(dir) = &self.work_tree {
            cmd.arg("--work-tree").arg(dir).current_dir(dir);
        }
        if let Some(dir) = &self.git_dir {
            cmd.arg("--git-dir").arg(dir);
        }
        cmd.args(args).stdin(Stdio::null());
        // SAFETY: umask is async-signal-safe and touches no memory; files
        // get git's modes under the usual 022, whatever kiln's umask is.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let out = cmd
            .output()
            .map_err(|e| format!("running git (is it installed?): {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!("git {}: {}", args.join(" "), stderr.trim()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    #[test]
    fn branches_win_over_tags_and_tags_peel() {
        let out = format!("{A}\trefs/heads/v1\n{B}\trefs/tags/v1\n{C}\trefs/tags/v1^{{}}\n");
        let r = pick_ref(&out, "v1").unwrap();
        assert_eq!((r.reference.as_str(), r.sha.as_str()), ("refs/heads/v1", A));
        assert_eq!(r.commit, None);
        let out = format!("{B}\trefs/tags/v1\n{C}\trefs/tags/v1^{{}}\n");
        let r = pick_ref(&out, "v1").unwrap();
        assert_eq!((r.reference.as_str(), r.sha.as_str()), ("refs/tags/v1", B));
        assert_eq!(r.commit.as_deref(), Some(C));
        let r = pick_ref(&out, "refs/tags/v1").unwrap();
        assert_eq!(r.commit.as_deref(), Some(C));
        assert!(pick_ref(&out, "v2").is_none());
    }

    #[test]
    fn subdirs_and_shas() {
        assert_eq!(clean_subdir("/a/./b/../c/"), "a/c");
        assert_eq!(clean_subdir(""), "");
        assert!(is_commit_sha(A));
        assert!(!is_commit_sha(&A[1..]));
        assert_eq!(local_ref("refs/heads/main"), "refs/kiln/heads/main");
    }
}
