//! The operations of a build graph (BuildKit's LLB ops, kiln's shape).
//!
//! An op never names another op directly: it refers to its *inputs* by
//! position (`Input = usize` into `OpNode::inputs`), and `None` stands for
//! the empty filesystem (scratch). That keeps an op's canonical encoding,
//! and so its digest, independent of where it sits in the graph.

use serde::Serialize;

use super::Platform;

/// Index into the owning node's `inputs`; `None` means scratch.
pub type Input = Option<usize>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A registry (or local store) image's root filesystem.
    Image(ImageSource),
    /// Files of the build context or of a named local context.
    Local(LocalSource),
    /// One file downloaded over HTTP(S) (`ADD https://...`).
    Http(HttpSource),
    /// A git repository checkout (`ADD git@...`, `ADD https://...git`).
    Git(GitSource),
    /// A RUN step.
    Exec(Exec),
    /// COPY/ADD/WORKDIR and inline files: actions applied to `base`.
    File(FileOp),
    /// Layers stacked in order (`COPY --link`).
    Merge(Vec<Input>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSource {
    /// Normalized reference (`docker.io/library/alpine:3.20`, possibly
    /// pinned `@sha256:...` once resolved).
    pub reference: String,
    pub platform: Platform,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalSource {
    /// `context` for the main build context, else a named context.
    pub name: String,
    /// Only these paths (relative, sorted) are needed; empty = everything.
    /// A transfer hint, not part of the digest: the solver hashes the
    /// files each op reads.
    #[serde(skip)]
    pub follow_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpSource {
    pub url: String,
    /// Name of the single file the download produces.
    pub filename: String,
    /// `sha256:...` the content must have (`ADD --checksum`).
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitSource {
    pub remote: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exec {
    pub args: Vec<String>,
    /// `KEY=value`, in the order they were set.
    pub env: Vec<String>,
    pub cwd: String,
    /// `user[:group]` as written (names resolved in the rootfs at run time).
    pub user: String,
    pub network: Network,
    pub security: Security,
    pub hostname: Option<String>,
    /// Mounts; the one at `/` is the root filesystem and the op's output.
    pub mounts: Vec<Mount>,
    /// `RUN --mount=type=secret,env=NAME`: secrets exposed as variables.
    pub secret_env: Vec<SecretEnv>,
    /// Proxy variables from build args: passed to the step, never part of
    /// the cache key (as in BuildKit).
    #[serde(skip)]
    pub proxy_env: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The build's default (`--network` of the build, host unless set).
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    #[default]
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub input: Input,
    pub target: String,
    /// Path inside the input to mount (`source=`), `/` for all of it.
    pub source: String,
    pub readonly: bool,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// The root filesystem (target `/`), whose changes become the output.
    Root,
    Bind,
    Cache {
        id: String,
        sharing: CacheSharing,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        size: u64,
    },
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEnv {
    pub id: String,
    pub name: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOp {
    /// The filesystem the actions modify.
    pub base: Input,
    pub actions: Vec<FileAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Copy(Copy),
    Mkdir(Mkdir),
    Mkfile(Mkfile),
}

/// Copy `src` of input `source` to `dest` (BuildKit's FileActionCopy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub source: Input,
    pub src: String,
    pub dest: String,
    pub owner: Option<Chown>,
    pub mode: Option<Chmod>,
    pub follow_symlinks: bool,
    pub dir_contents_only: bool,
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub required_paths: Vec<String>,
    pub attempt_unpack: bool,
    pub create_dest_path: bool,
    pub allow_wildcard: bool,
    pub allow_empty_wildcard: bool,
    /// SOURCE_DATE_EPOCH (seconds) for the copied files' mtime.
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mkdir {
    pub path: String,
    pub mode: u32,
    pub make_parents: bool,
    pub owner: Option<Chown>,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mkfile {
    pub path: String,
    pub mode: u32,
    pub data: String,
    pub owner: Option<Chown>,
    pub timestamp: Option<i64>,
}

/// `--chown=user[:group]`, each part a name or a numeric id; names are
/// resolved from the destination image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chown {
    pub user: UserRef,
    pub group: Option<UserRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRef {
    Id(u32),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chmod {
    /// `--chmod=755`
    Octal(u32),
    /// `--chmod=u+x,g-w` (applied to each file's existing mode)
    Symbolic(String),
}

impl Chown {
    /// Parses `user[:group]` the way BuildKit's `llb.WithUser` does.
    pub fn parse(spec: &str) -> Chown {
        let part = |s: &str| match s.parse::<u32>() {
            Ok(id) => UserRef::Id(id),
            Err(_) => UserRef::Name(s.to_string()),
        };
        match spec.split_once(':') {
            Some((user, group)) => Chown {
                user: part(user),
                group: Some(part(group)),
            },
            None => Chown {
                user: part(spec),
                group: None,
            },
        }
    }
}
