//! The graph the solver executes: vertices with inputs, each carrying the
//! digest its definition had (stable across machines) and what it does.
//!
//! The solver never sees Dockerfile syntax: callers build this graph (the
//! CLI converts the frontend's build definition into it).

use crate::fileop::FileAction;

/// Position of a vertex in [`Graph::vertices`].
pub type VertexId = usize;

#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// In dependency order: inputs come before their users.
    pub vertices: Vec<Vertex>,
}

#[derive(Debug, Clone)]
pub struct Vertex {
    pub op: VertexOp,
    /// Vertices whose outputs this one reads; input indices in `op` point
    /// into this list.
    pub inputs: Vec<VertexId>,
    /// Digest of the op definition and its inputs' definitions
    /// (`sha256:...`); the base of the cache key.
    pub digest: String,
    /// Progress name (`[build 2/5] COPY . /src`).
    pub name: String,
    /// Re-run even when a cached result exists.
    pub ignore_cache: bool,
}

#[derive(Debug, Clone)]
pub enum VertexOp {
    /// An image from the local store (or the registry, once it exists).
    Image { reference: String },
    /// A local directory handed in by the caller (the build context).
    Local { name: String },
    /// File actions on top of input `base` (`None` = empty filesystem).
    File {
        base: Option<usize>,
        actions: Vec<FileAction>,
    },
    /// Filesystems stacked in order (`COPY --link`).
    Merge { inputs: Vec<Option<usize>> },
    /// A RUN step (executed by the sandbox).
    Exec(Box<ExecSpec>),
    /// One file downloaded over HTTP(S) (`ADD <url>`).
    Http(Box<crate::source::HttpSource>),
    /// A git repository checkout (`ADD <git url>`).
    Git(Box<crate::source::GitSource>),
    /// Something this solver cannot run yet; fails with `reason` when
    /// executed (never silently skipped).
    Unsupported { reason: String },
}

/// A RUN step as the solver runs it.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `user[:group]`, names resolved in the root filesystem.
    pub user: String,
    /// Input index of the root filesystem (`None` = scratch).
    pub root: Option<usize>,
    pub network: ExecNetwork,
    /// `--security=insecure`: full privileges.
    pub insecure: bool,
    pub mounts: Vec<ExecMount>,
    /// Proxy variables: set for the step, not part of the cache key.
    pub proxy_env: Vec<String>,
    /// Secrets exposed as environment variables (`env=` of a secret mount).
    pub secret_env: Vec<SecretEnv>,
}

/// `RUN --mount=type=secret,env=NAME`: the secret's value in `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    pub id: String,
    pub name: String,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecNetwork {
    /// The build's default (the host's network).
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMount {
    /// Absolute path inside the step.
    pub target: String,
    pub readonly: bool,
    pub kind: ExecMountKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMountKind {
    /// A path of input `input` (`None` = empty), `source` inside it.
    Bind {
        input: Option<usize>,
        source: String,
    },
    /// A persistent cache directory shared between builds.
    Cache {
        id: String,
        locked: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        size: u64,
    },
    /// A secret provided with the build (`--secret`).
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An SSH agent socket provided with the build (`--ssh`).
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}
