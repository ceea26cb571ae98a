//! The build definition the solver executes: a DAG of [`Op`]s with stable
//! content digests, plus the image config the target stage produces.
//!
//! Digests are Merkle-style: sha256 over the op's canonical encoding and the
//! digests of its inputs, so the same Dockerfile and build args give the
//! same digests byte for byte on any machine. Identical ops (say, the same
//! `FROM` in two stages) are stored once.

mod image;
mod ops;
mod platform;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

pub use image::{Config, Empty, Healthcheck, History, Image, RootFs, DEFAULT_PATH};
pub use ops::*;
pub use platform::Platform;

use crate::SourceRange;

/// Position of an op in [`BuildDefinition::ops`].
pub type OpId = usize;

/// One op of the graph with its inputs and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpNode {
    pub op: Op,
    /// Ops whose outputs this op reads; `Input` indices point in here.
    pub inputs: Vec<OpId>,
    /// `sha256:<hex>` of the op and its inputs' digests.
    pub digest: String,
    pub meta: OpMeta,
}

/// What the solver shows and honours but does not hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpMeta {
    /// Progress name, e.g. `[build 2/5] RUN make`.
    pub name: String,
    /// Dockerfile lines the op comes from.
    pub range: Option<SourceRange>,
    /// `--no-cache` / `--no-cache-filter` matched this op's stage.
    pub ignore_cache: bool,
}

/// Everything the solver needs to build the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDefinition {
    /// Ops in dependency order: inputs always come before their users.
    pub ops: Vec<OpNode>,
    /// The op producing the target's root filesystem; `None` for scratch.
    pub root: Option<OpId>,
    /// The target's image config (history included, rootfs left empty for
    /// the exporter to fill).
    pub image: Image,
    /// SOURCE_DATE_EPOCH (seconds), when the build sets it: the time of
    /// the image, its history and its layers' files.
    pub epoch: Option<i64>,
}

/// Builds a graph, deduplicating identical ops.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    ops: Vec<OpNode>,
    by_digest: HashMap<String, OpId>,
}

/// Feeds written bytes into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    inputs: Vec<&'a str>,
    op: &'a Op,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `op` reading `inputs`; returns the id of an identical op if
    /// there is one already.
    pub fn add(&mut self, op: Op, inputs: Vec<OpId>, meta: OpMeta) -> OpId {
        let digest = self.digest_of(&op, &inputs);
        if let Some(&id) = self.by_digest.get(&digest) {
            let existing = &mut self.ops[id].meta;
            existing.ignore_cache |= meta.ignore_cache;
            return id;
        }
        let id = self.ops.len();
        self.by_digest.insert(digest.clone(), id);
        self.ops.push(OpNode {
            op,
            inputs,
            digest,
            meta,
        });
        id
    }

    pub fn get(&self, id: OpId) -> &OpNode {
        &self.ops[id]
    }

    /// Names an op for progress output unless it has a name already (an
    /// op shared by several stages keeps the first).
    pub fn set_name(&mut self, id: OpId, name: String, range: Option<SourceRange>) {
        let meta = &mut self.ops[id].meta;
        if meta.name.is_empty() {
            meta.name = name;
            meta.range = range;
        }
    }

    /// Sets the follow paths of a local source op (known only once every
    /// stage is lowered; they are not part of the digest).
    pub fn set_follow_paths(&mut self, id: OpId, paths: Vec<String>) {
        if let Op::Local(local) = &mut self.ops[id].op {
            local.follow_paths = paths;
        }
    }

    fn digest_of(&self, op: &Op, inputs: &[OpId]) -> String {
        let canonical = Canonical {
            inputs: inputs
                .iter()
                .map(|&i| self.ops[i].digest.as_str())
                .collect(),
            op,
        };
        // A compact, deterministic binary encoding (postcard's specified
        // wire format), hashed as it is written, never held in memory.
        // Serializing plain structs, enums and Vecs cannot fail.
        let mut hasher = HashWriter(Sha256::new());
        postcard::to_io(&canonical, &mut hasher).expect("op serializes");
        format!("sha256:{}", hex::encode(hasher.0.finalize()))
    }

    /// Keeps only the ops `root` needs, renumbered in dependency order.
    pub fn finish(self, root: Option<OpId>, image: Image) -> BuildDefinition {
        let Some(root) = root else {
            return BuildDefinition {
                ops: Vec::new(),
                root: None,
                image,
                epoch: None,
            };
        };
        let mut needed = vec![false; self.ops.len()];
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut needed[id], true) {
                stack.extend(self.ops[id].inputs.iter().copied());
            }
        }
        // Ids were handed out in insertion order, which is already a
        // dependency order; keep it and renumber.
        let mut new_id = vec![usize::MAX; self.ops.len()];
        let mut ops = Vec::new();
        for (old, node) in self.ops.into_iter().enumerate() {
            if needed[old] {
                new_id[old] = ops.len();
                let inputs = node.inputs.iter().map(|&i| new_id[i]).collect();
                ops.push(OpNode { inputs, ..node });
            }
        }
        BuildDefinition {
            ops,
            root: Some(new_id[root]),
            image,
            epoch: None,
        }
    }
}

impl BuildDefinition {
    /// Human-readable graph for `kiln build --dry-run`: one op a line with
    /// its digest, its inputs and what it does.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (id, node) in self.ops.iter().enumerate() {
            let inputs: Vec<String> = node.inputs.iter().map(|i| format!("#{i}")).collect();
            let _ = writeln!(
                out,
                "#{id} {} {}{}",
                short(&node.digest),
                summary(&node.op),
                if inputs.is_empty() {
                    String::new()
                } else {
                    format!(" <- {}", inputs.join(" "))
                }
            );
            if !node.meta.name.is_empty() {
                let _ = writeln!(out, "    {}", node.meta.name);
            }
        }
        match self.root {
            Some(root) => {
                let _ = writeln!(out, "target: #{root} {}", self.ops[root].digest);
            }
            None => out.push_str("target: scratch\n"),
        }
        out
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

fn summary(op: &Op) -> String {
    match op {
        Op::Image(i) => format!("image {} ({})", i.reference, i.platform),
        Op::Local(l) if l.follow_paths.is_empty() => format!("local {}", l.name),
        Op::Local(l) => format!("local {} [{}]", l.name, l.follow_paths.join(", ")),
        Op::Http(h) => format!("http {}", h.url),
        Op::Git(g) => format!("git {}", g.remote),
        Op::Exec(e) => format!("exec {:?}", e.args),
        Op::File(f) => {
            let actions: Vec<String> = f
                .actions
                .iter()
                .map(|a| match a {
                    FileAction::Copy(c) => format!("copy {} -> {}", c.src, c.dest),
                    FileAction::Mkdir(m) => format!("mkdir {}", m.path),
                    FileAction::Mkfile(m) => format!("mkfile {}", m.path),
                })
                .collect();
            format!("file {}", actions.join("; "))
        }
        Op::Merge(inputs) => format!("merge of {} inputs", inputs.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str) -> Op {
        Op::Image(ImageSource {
            reference: reference.into(),
            platform: Platform::new("linux", "amd64", ""),
        })
    }

    #[test]
    fn identical_ops_are_stored_once() {
        let mut g = GraphBuilder::new();
        let a = g.add(
            image("docker.io/library/alpine:latest"),
            vec![],
            OpMeta::default(),
        );
        let b = g.add(
            image("docker.io/library/alpine:latest"),
            vec![],
            OpMeta::default(),
        );
        let c = g.add(
            image("docker.io/library/debian:latest"),
            vec![],
            OpMeta::default(),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn digest_depends_on_inputs_not_positions() {
        let mkdir = || {
            Op::File(FileOp {
                base: Some(0),
                actions: vec![FileAction::Mkdir(Mkdir {
                    path: "/app".into(),
                    mode: 0o755,
                    make_parents: true,
                    owner: None,
                    timestamp: None,
                })],
            })
        };
        let mut g1 = GraphBuilder::new();
        let base1 = g1.add(
            image("docker.io/library/alpine:latest"),
            vec![],
            OpMeta::default(),
        );
        let m1 = g1.add(mkdir(), vec![base1], OpMeta::default());

        let mut g2 = GraphBuilder::new();
        g2.add(
            image("docker.io/library/debian:latest"),
            vec![],
            OpMeta::default(),
        );
        let base2 = g2.add(
            image("docker.io/library/alpine:latest"),
            vec![],
            OpMeta::default(),
        );
        let m2 = g2.add(mkdir(), vec![base2], OpMeta::default());
        assert_eq!(g1.get(m1).digest, g2.get(m2).digest);

        let other = g2.add(mkdir(), vec![0], OpMeta::default());
        assert_ne!(g2.get(other).digest, g2.get(m2).digest);
    }

    #[test]
    fn finish_drops_unneeded_ops_and_renumbers() {
        let mut g = GraphBuilder::new();
        let _unused = g.add(
            image("docker.io/library/debian:latest"),
            vec![],
            OpMeta::default(),
        );
        let base = g.add(
            image("docker.io/library/alpine:latest"),
            vec![],
            OpMeta::default(),
        );
        let merged = g.add(
            Op::Merge(vec![Some(0), None]),
            vec![base],
            OpMeta::default(),
        );
        let def = g.finish(Some(merged), Image::default());
        assert_eq!(def.ops.len(), 2);
        assert_eq!(def.root, Some(1));
        assert_eq!(def.ops[1].inputs, vec![0]);
        assert!(def.render().contains("#1"), "{}", def.render());
    }
}
