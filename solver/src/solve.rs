//! The solver: computes a cache key for every vertex, reuses cached
//! results, and executes what is missing — independent vertices in
//! parallel — producing the target's snapshot chain.
//!
//! Cache key of a vertex = sha256 of (its definition digest, its inputs'
//! cache keys, and the content digest of any local files it reads). Keys
//! are computed top-down before anything runs, so a fully cached build
//! costs a few stat calls and one database read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::events::Event;
use crate::fileop::{self, FileAction, SourceRoot};
use crate::graph::{
    ExecMountKind, ExecNetwork, ExecSpec, Graph, SecretEnv, Vertex, VertexId, VertexOp,
};
use crate::mount;
use crate::store::{SnapshotId, Store};

/// A local directory the graph reads (the build context).
pub trait LocalSource: Sync {
    fn root(&self) -> &Path;
    /// Hidden paths (`.dockerignore`), relative, `/`-separated.
    fn is_excluded(&self, rel: &str) -> bool;
    /// Digest of what copying `srcs` reads (for cache keys).
    fn selection_digest(&self, srcs: &[String], follow_symlinks: bool) -> Result<String, String>;
}

/// Runs a RUN step in a sandbox (see `sandbox`); the solver prepares the
/// root filesystem and mounts.
pub trait Executor: Sync {
    /// Runs the step; `output` receives its stdout/stderr bytes as they
    /// come. Returns the exit code (128 + signal for a killed process).
    fn run(&self, request: &ExecRequest<'_>, output: &mut dyn FnMut(&[u8])) -> Result<i32, String>;
}

/// One RUN step, ready to execute.
pub struct ExecRequest<'a> {
    /// The writable root filesystem (an overlay mount).
    pub rootfs: &'a Path,
    pub args: &'a [String],
    pub env: Vec<String>,
    pub cwd: &'a str,
    pub user: &'a str,
    /// Share the host's network (`false`: an empty namespace with `lo`).
    pub host_network: bool,
    pub insecure: bool,
    pub mounts: Vec<ExecBind>,
    /// Secrets to expose as environment variables.
    pub secret_env: &'a [SecretEnv],
    /// A private directory for the step's helpers (secret files, agent
    /// sockets), removed after the step; never part of the rootfs.
    pub scratch: &'a Path,
}

/// A mount of a RUN step.
pub enum ExecBind {
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: u64,
    },
    /// A secret of the build's session as a read-only file (`mode`, owned
    /// by `uid:gid`); skipped when missing and not `required`.
    Secret {
        id: String,
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An SSH agent of the build's session as a socket at `target`.
    Ssh {
        id: String,
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// Resolves image references to their layer chains in the store.
pub trait ImageSource: Sync {
    /// The image's content digest (part of the cache key) and its layer
    /// snapshots, bottom first, extracting layers on first use.
    fn resolve(&self, reference: &str) -> Result<(String, Vec<SnapshotId>), String>;
}

/// Results beyond the local store (`--cache-from`): the snapshot chain a
/// cache key names, imported into the store on first use. Failures are
/// the source's to report; the step then runs.
pub trait RemoteCache: Sync {
    fn fetch(&self, key: &str) -> Option<Vec<SnapshotId>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("{name}: {message}")]
    Vertex {
        vertex: VertexId,
        name: String,
        message: String,
    },
    #[error("store: {0}")]
    Store(String),
    /// [`interrupt`] was called: no further vertex was started.
    #[error("interrupted")]
    Interrupted,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops every solve of this process for good (Ctrl-C): no vertex starts
/// any more and [`Solver::solve`] returns [`SolveError::Interrupted`] once
/// the running ones end (pair with `sandbox::kill_all` to end RUN steps).
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// What a vertex produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A filesystem: snapshots, bottom first.
    Layers(Vec<SnapshotId>),
    /// A local directory (by name).
    Local(String),
}

pub struct Solver<'a> {
    pub store: &'a Store,
    pub locals: HashMap<String, &'a dyn LocalSource>,
    pub images: &'a dyn ImageSource,
    /// Runs RUN steps; `None`: a RUN fails with a clear error.
    pub executor: Option<&'a dyn Executor>,
    pub events: Option<Sender<Event>>,
    /// Ignore every cached result (`--no-cache`).
    pub no_cache: bool,
    /// Consulted when the local cache misses (`--cache-from`).
    pub remote_cache: Option<&'a dyn RemoteCache>,
}

impl Solver<'_> {
    /// Solves `target` (a vertex of `graph`); returns its snapshot chain.
    pub fn solve(&self, graph: &Graph, target: VertexId) -> Result<Vec<SnapshotId>, SolveError> {
        let keys = self.cache_keys(graph)?;
        let (outputs, needed) = self.plan(graph, target, &keys)?;
        let outputs = self.execute(graph, &keys, outputs, needed)?;
        match &outputs[target] {
            Some(Output::Layers(chain)) => Ok(chain.clone()),
            _ => Err(self.fail(graph, target, "the target is not a filesystem")),
        }
    }

    fn fail(&self, graph: &Graph, vertex: VertexId, message: impl Into<String>) -> SolveError {
        SolveError::Vertex {
            vertex,
            name: graph.vertices[vertex].name.clone(),
            message: message.into(),
        }
    }

    fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Cache keys of all vertices, inputs first.
    pub fn cache_keys(&self, graph: &Graph) -> Result<Vec<String>, SolveError> {
        let mut keys: Vec<String> = Vec::with_capacity(graph.vertices.len());
        for (id, v) in graph.vertices.iter().enumerate() {
            let mut h = Sha256::new();
            h.update(v.digest.as_bytes());
            for &input in &v.inputs {
                h.update(b"\0input:");
                h.update(keys[input].as_bytes());
            }
            for extra in self.content_digests(graph, id)? {
                h.update(b"\0content:");
                h.update(extra.as_bytes());
            }
            keys.push(format!("sha256:{}", hex::encode(h.finalize())));
            if self.events.is_some() {
                self.emit(Event::CacheKey {
                    vertex: id,
                    key: keys[id].clone(),
                });
            }
        }
        Ok(keys)
    }

    /// Digests of the content a vertex reads that its definition does not
    /// pin: local files it copies, the image a tag currently names.
    fn content_digests(&self, graph: &Graph, id: VertexId) -> Result<Vec<String>, SolveError> {
        let v = &graph.vertices[id];
        match &v.op {
            VertexOp::File { actions, .. } => {
                let mut out = Vec::new();
                for action in actions {
                    let FileAction::Copy(copy) = action else {
                        continue;
                    };
                    let Some(input) = copy.source else { continue };
                    if let VertexOp::Local { name } = &graph.vertices[v.inputs[input]].op {
                        let local = self.local(graph, id, name)?;
                        let src = copy.src.trim_start_matches('/').to_string();
                        let src = if src.is_empty() { ".".to_string() } else { src };
                        let digest = local
                            .selection_digest(&[src], copy.follow_symlinks)
                            .map_err(|e| self.fail(graph, id, e))?;
                        out.push(digest);
                    }
                }
                Ok(out)
            }
            VertexOp::Image { reference } => {
                let (digest, _) = self
                    .images
                    .resolve(reference)
                    .map_err(|e| self.fail(graph, id, e))?;
                Ok(vec![digest])
            }
            // Remote sources: what the URL or ref holds now.
            VertexOp::Http(src) => Ok(vec![src
                .resolve(self.store)
                .map_err(|e| self.fail(graph, id, e))?]),
            VertexOp::Git(src) => Ok(vec![src.resolve().map_err(|e| self.fail(graph, id, e))?]),
            _ => Ok(Vec::new()),
        }
    }

    fn local(
        &self,
        graph: &Graph,
        id: VertexId,
        name: &str,
    ) -> Result<&dyn LocalSource, SolveError> {
        self.locals
            .get(name)
            .copied()
            .ok_or_else(|| self.fail(graph, id, format!("local source {name:?} was not provided")))
    }

    /// Which vertices must run: walking down from the target, a cache hit
    /// stops the descent. Returns the outputs known without running
    /// anything and the vertices that must run.
    fn plan(&self, graph: &Graph, target: VertexId, keys: &[String]) -> Result<Plan, SolveError> {
        let mut outputs: Vec<Option<Output>> = vec![None; graph.vertices.len()];
        let mut needed = vec![false; graph.vertices.len()];
        let mut stack = vec![target];
        while let Some(id) = stack.pop() {
            if needed[id] || outputs[id].is_some() {
                continue;
            }
            let v = &graph.vertices[id];
            if let VertexOp::Local { name } = &v.op {
                outputs[id] = Some(Output::Local(name.clone()));
                continue;
            }
            if !self.no_cache && !v.ignore_cache {
                if let Some(chain) = self.cached(&keys[id])? {
                    self.emit(Event::Cached {
                        vertex: id,
                        name: v.name.clone(),
                    });
                    outputs[id] = Some(Output::Layers(chain));
                    continue;
                }
            }
            needed[id] = true;
            stack.extend(v.inputs.iter().copied());
        }
        Ok((outputs, needed))
    }

    fn cached(&self, key: &str) -> Result<Option<Vec<SnapshotId>>, SolveError> {
        let entry = self.store.meta().cache_get(key).map_err(store_error)?;
        let local = entry.and_then(|e| serde_json::from_slice::<Vec<SnapshotId>>(&e.record).ok());
        if local.is_some() {
            return Ok(local);
        }
        let Some(chain) = self.remote_cache.and_then(|r| r.fetch(key)) else {
            return Ok(None);
        };
        let record = serde_json::to_vec(&chain).expect("ids serialize");
        self.store
            .meta()
            .cache_put(key, &record)
            .map_err(store_error)?;
        Ok(Some(chain))
    }

    /// Runs every vertex without an output once its inputs have one, on a
    /// few worker threads.
    fn execute(
        &self,
        graph: &Graph,
        keys: &[String],
        outputs: Vec<Option<Output>>,
        pending: Vec<bool>,
    ) -> Result<Vec<Option<Output>>, SolveError> {
        let state = Mutex::new(Schedule {
            outputs,
            running: vec![false; graph.vertices.len()],
            pending,
            error: None,
        });
        let wake = Condvar::new();
        // Steps often wait on I/O (RUN, downloads): run a few more than
        // there are cores.
        let workers = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(4, 16);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| self.worker(graph, keys, &state, &wake));
            }
        });
        let state = state
            .into_inner()
            .expect("no worker panicked while holding the lock");
        match state.error {
            Some(e) => Err(e),
            None => Ok(state.outputs),
        }
    }

    fn worker(&self, graph: &Graph, keys: &[String], state: &Mutex<Schedule>, wake: &Condvar) {
        loop {
            let (id, inputs) = {
                let mut s = state.lock().expect("schedule lock");
                loop {
                    if interrupted() {
                        s.error = Some(SolveError::Interrupted);
                    }
                    if s.error.is_some() || !s.pending.iter().any(|&p| p) {
                        wake.notify_all();
                        return;
                    }
                    if let Some(id) = s.next_ready(graph) {
                        s.running[id] = true;
                        let inputs: Vec<Option<Output>> = graph.vertices[id]
                            .inputs
                            .iter()
                            .map(|&i| s.outputs[i].clone())
                            .collect();
                        break (id, inputs);
                    }
                    s = wake.wait(s).expect("schedule lock");
                }
            };
            let result = self.run_vertex(graph, id, &keys[id], &inputs);
            let mut s = state.lock().expect("schedule lock");
            s.running[id] = false;
            s.pending[id] = false;
            match result {
                Ok(out) => s.outputs[id] = Some(out),
                Err(e) => {
                    if s.error.is_none() {
                        s.error = Some(e);
                    }
                }
            }
            wake.notify_all();
        }
    }

    fn run_vertex(
        &self,
        graph: &Graph,
        id: VertexId,
        key: &str,
        inputs: &[Option<Output>],
    ) -> Result<Output, SolveError> {
        let v = &graph.vertices[id];
        let started = Instant::now();
        self.emit(Event::Started {
            vertex: id,
            name: v.name.clone(),
        });
        let result = self.run_op(graph, id, v, inputs, key);
        match &result {
            Ok(Output::Layers(chain)) => {
                // File and RUN steps record their key with the new layer.
                if !matches!(v.op, VertexOp::File { .. } | VertexOp::Exec(_)) {
                    let record = serde_json::to_vec(chain).expect("ids serialize");
                    self.store
                        .meta()
                        .cache_put(key, &record)
                        .map_err(store_error)?;
                }
                self.emit(Event::Done {
                    vertex: id,
                    elapsed: started.elapsed(),
                });
            }
            Ok(Output::Local(_)) => {}
            Err(e) => self.emit(Event::Error {
                vertex: id,
                message: match e {
                    SolveError::Vertex { message, .. } => message.clone(),
                    other => other.to_string(),
                },
            }),
        }
        result
    }

    fn run_op(
        &self,
        graph: &Graph,
        id: VertexId,
        v: &Vertex,
        inputs: &[Option<Output>],
        key: &str,
    ) -> Result<Output, SolveError> {
        match &v.op {
            VertexOp::Image { reference } => {
                let (_, chain) = self
                    .images
                    .resolve(reference)
                    .map_err(|e| self.fail(graph, id, e))?;
                Ok(Output::Layers(chain))
            }
            VertexOp::Local { name } => Ok(Output::Local(name.clone())),
            VertexOp::Merge { inputs: parts } => {
                let mut chain = Vec::new();
                for part in parts.iter().flatten() {
                    chain.extend(layers(&inputs[*part]).iter().cloned());
                }
                Ok(Output::Layers(chain))
            }
            VertexOp::File { base, actions } => self
                .run_file(graph, id, *base, actions, inputs, key)
                .map_err(|e| self.fail(graph, id, e)),
            VertexOp::Exec(spec) => self
                .run_exec(graph, id, spec, inputs, key)
                .map_err(|e| self.fail(graph, id, e)),
            VertexOp::Http(src) => src
                .snapshot(self.store)
                .map(|s| Output::Layers(vec![s]))
                .map_err(|e| self.fail(graph, id, e)),
            VertexOp::Git(src) => src
                .snapshot(self.store)
                .map(|s| Output::Layers(vec![s]))
                .map_err(|e| self.fail(graph, id, e)),
            VertexOp::Unsupported { reason } => Err(self.fail(graph, id, reason.clone())),
        }
    }

    /// File actions: the base chain mounted with a fresh upper dir, the
    /// sources mounted read-only; the upper dir becomes the new snapshot.
    fn run_file(
        &self,
        graph: &Graph,
        id: VertexId,
        base: Option<usize>,
        actions: &[FileAction],
        inputs: &[Option<Output>],
        key: &str,
    ) -> Result<Output, String> {
        let base_chain: Vec<SnapshotId> = base
            .map(|b| layers(&inputs[b]).to_vec())
            .unwrap_or_default();
        let layer = self.new_layer(&base_chain)?;
        let scratch = layer.scratch();
        let dest = layer.mount();

        // Mount each source input once, read-only.
        let mut views: HashMap<usize, mount::Mounted> = HashMap::new();
        let mut local_roots: HashMap<usize, &dyn LocalSource> = HashMap::new();
        for (i, input) in inputs.iter().enumerate() {
            match input {
                Some(Output::Local(name)) => {
                    let local = self.local(graph, id, name).map_err(|e| e.to_string())?;
                    local_roots.insert(i, local);
                }
                Some(Output::Layers(chain)) if used_as_source(actions, i) => {
                    let target =
                        mkdir(scratch.join(format!("src{i}"))).map_err(|e| e.to_string())?;
                    let view = mount::overlay(&self.paths(chain), None, &target)
                        .map_err(|e| format!("mounting a source: {e}"))?;
                    views.insert(i, view);
                }
                _ => {}
            }
        }
        let empty = mkdir(scratch.join("empty")).map_err(|e| e.to_string())?;
        // .dockerignore'd paths stay invisible to the copy.
        let filters: Vec<Option<Filter<'_>>> = (0..inputs.len())
            .map(|i| {
                local_roots.get(&i).map(|&local| -> Filter<'_> {
                    Box::new(move |rel: &str| local.is_excluded(rel))
                })
            })
            .collect();
        let sources: Vec<SourceRoot<'_>> = (0..inputs.len())
            .map(|i| SourceRoot {
                dir: match (local_roots.get(&i), views.get(&i)) {
                    (Some(local), _) => local.root(),
                    (_, Some(view)) => view.path(),
                    _ => empty.as_path(),
                },
                exclude: filters[i].as_deref(),
            })
            .collect();
        fileop::apply(dest.path(), actions, &sources).map_err(|e| e.to_string())?;
        drop(views);
        self.commit_layer(layer, base_chain, key)
    }

    /// RUN: the root chain mounted with a fresh upper dir, the step run in
    /// the sandbox; the upper dir becomes the new snapshot.
    fn run_exec(
        &self,
        graph: &Graph,
        id: VertexId,
        spec: &ExecSpec,
        inputs: &[Option<Output>],
        key: &str,
    ) -> Result<Output, String> {
        let executor = self
            .executor
            .ok_or("RUN needs the sandbox, which is not available here")?;
        let base_chain: Vec<SnapshotId> = spec
            .root
            .map(|r| layers(&inputs[r]).to_vec())
            .unwrap_or_default();
        let layer = self.new_layer(&base_chain)?;
        let scratch = layer.scratch();
        let rootfs = layer.mount();

        let mut views = Vec::new();
        let mut mounts = Vec::new();
        for (n, m) in spec.mounts.iter().enumerate() {
            let bind = match &m.kind {
                ExecMountKind::Bind { input, source } => {
                    let root = match input.map(|i| &inputs[i]) {
                        Some(Some(Output::Local(name))) => self
                            .local(graph, id, name)
                            .map_err(|e| e.to_string())?
                            .root()
                            .to_path_buf(),
                        Some(Some(Output::Layers(chain))) => {
                            let target =
                                mkdir(scratch.join(format!("m{n}"))).map_err(|e| e.to_string())?;
                            let view = mount::overlay(&self.paths(chain), None, &target)
                                .map_err(|e| format!("mounting {}: {e}", m.target))?;
                            let path = view.path().to_path_buf();
                            views.push(view);
                            path
                        }
                        _ => mkdir(scratch.join(format!("m{n}"))).map_err(|e| e.to_string())?,
                    };
                    ExecBind::Bind {
                        source: inside(&root, source)?,
                        target: m.target.clone(),
                        readonly: m.readonly,
                    }
                }
                ExecMountKind::Cache {
                    id: cache_id,
                    mode,
                    uid,
                    gid,
                    ..
                } => ExecBind::Bind {
                    source: self.cache_dir(cache_id, *mode, *uid, *gid)?,
                    target: m.target.clone(),
                    readonly: m.readonly,
                },
                ExecMountKind::Tmpfs { size } => ExecBind::Tmpfs {
                    target: m.target.clone(),
                    size: *size,
                },
                ExecMountKind::Secret {
                    id,
                    required,
                    mode,
                    uid,
                    gid,
                } => ExecBind::Secret {
                    id: id.clone(),
                    target: m.target.clone(),
                    required: *required,
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                },
                ExecMountKind::Ssh {
                    id,
                    required,
                    mode,
                    uid,
                    gid,
                } => ExecBind::Ssh {
                    id: id.clone(),
                    target: m.target.clone(),
                    required: *required,
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                },
            };
            mounts.push(bind);
        }
        let mut env = spec.env.clone();
        env.extend(spec.proxy_env.iter().cloned());
        let request = ExecRequest {
            rootfs: rootfs.path(),
            args: &spec.args,
            env,
            cwd: &spec.cwd,
            user: &spec.user,
            host_network: spec.network != ExecNetwork::None,
            insecure: spec.insecure,
            mounts,
            secret_env: &spec.secret_env,
            scratch,
        };
        let mut pending = Vec::new();
        let code = executor.run(&request, &mut |bytes| {
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&pending[..end]).into_owned();
                self.emit(Event::Log { vertex: id, line });
                pending.drain(..=end);
            }
        })?;
        if !pending.is_empty() {
            let line = String::from_utf8_lossy(&pending).into_owned();
            self.emit(Event::Log { vertex: id, line });
        }
        drop(views);
        self.emit(Event::Exited { vertex: id, code });
        if code != 0 {
            return Err(format!(
                "process \"{}\" did not complete successfully: exit code: {code}",
                spec.args.join(" ")
            ));
        }
        self.commit_layer(layer, base_chain, key)
    }

    /// The persistent directory of a cache mount, created on first use.
    fn cache_dir(&self, cache_id: &str, mode: u32, uid: u32, gid: u32) -> Result<PathBuf, String> {
        let name = hex::encode(Sha256::digest(cache_id.as_bytes()));
        let dir = self.store.root().join("cache-mounts").join(&name[..32]);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        Ok(dir)
    }

    /// A fresh snapshot mounted writable on top of `base_chain`; its upper
    /// dir becomes the layer once [`commit_layer`](Self::commit_layer)ed.
    fn new_layer(&self, base_chain: &[SnapshotId]) -> Result<NewLayer<'_>, String> {
        let (snapshot, dir) = self
            .store
            .snapshots()
            .prepare(base_chain.last().copied())
            .map_err(|e| e.to_string())?;
        // From here on, an error drops the layer, which removes the snapshot.
        let mut layer = NewLayer {
            store: self.store,
            snapshot,
            work: dir.join("work"),
            mount: None,
            scratch: None,
            committed: false,
        };
        let upper = mkdir(dir.join(SNAPSHOT_FS)).map_err(|e| e.to_string())?;
        let work = mkdir(layer.work.clone()).map_err(|e| e.to_string())?;
        let scratch = tempdir_in(&self.store.root().join("tmp")).map_err(|e| e.to_string())?;
        let target = mkdir(scratch.join("rootfs")).map_err(|e| e.to_string())?;
        layer.scratch = Some(scratch);
        let mount = mount::overlay(&self.paths(base_chain), Some((&upper, &work)), &target)
            .map_err(|e| format!("mounting the filesystem: {e}"))?;
        layer.mount = Some(mount);
        Ok(layer)
    }

    /// Unmounts the layer and records it with the step's cache `key` in
    /// one transaction (one sync per step, not two); returns the extended
    /// chain.
    fn commit_layer(
        &self,
        mut layer: NewLayer<'_>,
        base_chain: Vec<SnapshotId>,
        key: &str,
    ) -> Result<Output, String> {
        layer.mount.take();
        layer.scratch.take();
        let _ = std::fs::remove_dir_all(&layer.work);
        let snapshot = layer.snapshot;
        let mut chain = base_chain;
        chain.push(snapshot);
        let record = serde_json::to_vec(&chain).expect("ids serialize");
        self.store
            .meta()
            .transaction(|tx| {
                tx.snapshot_commit(snapshot, 0)?;
                tx.cache_put(key, &record)
            })
            .map_err(|e| e.to_string())?;
        layer.committed = true;
        Ok(Output::Layers(chain))
    }

    fn paths(&self, chain: &[SnapshotId]) -> Vec<PathBuf> {
        chain.iter().map(|&s| snapshot_fs(self.store, s)).collect()
    }
}

/// The directory holding a snapshot's files (its diff, in overlay form);
/// beside it the snapshot keeps overlay's work dir while it is written.
pub const SNAPSHOT_FS: &str = "fs";

pub fn snapshot_fs(store: &Store, id: SnapshotId) -> PathBuf {
    store.snapshots().path(id).join(SNAPSHOT_FS)
}

fn store_error(e: crate::store::StoreError) -> SolveError {
    SolveError::Store(e.to_string())
}

/// A layer being written: its snapshot, overlay work dir and mount. Dropped
/// without [`Solver::commit_layer`] (a failed or killed step), it is
/// unmounted and its snapshot removed, so no `Preparing` record is left.
struct NewLayer<'s> {
    store: &'s Store,
    snapshot: SnapshotId,
    work: PathBuf,
    mount: Option<mount::Mounted>,
    scratch: Option<TempDir>,
    committed: bool,
}

impl NewLayer<'_> {
    fn mount(&self) -> &mount::Mounted {
        self.mount.as_ref().expect("mounted until committed")
    }

    fn scratch(&self) -> &Path {
        self.scratch.as_ref().expect("kept until committed")
    }
}

impl Drop for NewLayer<'_> {
    fn drop(&mut self) {
        self.mount.take();
        self.scratch.take();
        if !self.committed {
            let _ = self.store.snapshots().remove(self.snapshot);
        }
    }
}

type Plan = (Vec<Option<Output>>, Vec<bool>);

type Filter<'a> = Box<dyn Fn(&str) -> bool + Sync + 'a>;

struct Schedule {
    outputs: Vec<Option<Output>>,
    running: Vec<bool>,
    pending: Vec<bool>,
    error: Option<SolveError>,
}

impl Schedule {
    /// A pending vertex, not running, whose inputs all have outputs.
    fn next_ready(&self, graph: &Graph) -> Option<VertexId> {
        (0..self.pending.len()).find(|&id| {
            self.pending[id]
                && !self.running[id]
                && graph.vertices[id]
                    .inputs
                    .iter()
                    .all(|&i| self.outputs[i].is_some())
        })
    }
}

fn layers(output: &Option<Output>) -> &[SnapshotId] {
    match output {
        Some(Output::Layers(chain)) => chain,
        _ => &[],
    }
}

fn used_as_source(actions: &[FileAction], input: usize) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, FileAction::Copy(c) if c.source == Some(input)))
}

/// `rel` inside `root`, refusing paths that leave it (`..`, or a symlink
/// pointing out).
fn inside(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let joined = root.join(rel.trim_start_matches('/'));
    let resolved = joined
        .canonicalize()
        .map_err(|e| format!("mount source {rel}: {e}"))?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(format!("mount source {rel} points outside its filesystem"))
    }
}

fn mkdir(path: PathBuf) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

/// A fresh directory under `parent`, removed with its contents on drop.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(parent: &Path) -> std::io::Result<TempDir> {
    std::fs::create_dir_all(parent)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = parent.join(format!("op-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(TempDir(dir))
}
