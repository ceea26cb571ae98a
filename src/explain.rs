//! Cache-miss explanations (`kiln build --explain`, and a line per missed
//! step in plain progress): for each step that ran instead of hitting the
//! cache, which of its inputs changed since the last successful build of
//! the same target — its instruction, a build arg, the base image, the
//! context files it copies, or a step it depends on.
//!
//! After each successful build the inputs of every step's cache key are
//! recorded in `$KILN_ROOT/explain/<target>.json`, where a target is the
//! context directory, the Dockerfile and `--target`. Steps are matched
//! across builds by their position (`[stage k/n]` without `/n`). The list
//! of context files a COPY reads is recorded only when its content
//! changed (or was never recorded), so a cached rebuild walks nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use kiln_frontend::definition::OpNode;
use kiln_solver::fileop::FileAction;
use kiln_solver::graph::{Graph, VertexId, VertexOp};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::context::Context;

/// Context files listed at most in one explanation.
const MAX_FILES: usize = 10;

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Record {
    build_args: BTreeMap<String, String>,
    /// By step position.
    steps: BTreeMap<String, StepRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StepRecord {
    name: String,
    /// The op's definition digest.
    digest: String,
    key: String,
    input_keys: Vec<String>,
    /// Context files read: path -> fingerprint.
    files: Option<BTreeMap<String, String>>,
}

/// The recorded inputs of the last build of one target.
pub struct Explainer {
    path: PathBuf,
    previous: Option<Record>,
}

/// What the current build knows about its steps.
pub struct Build<'a> {
    /// The definition's ops (for their cache flags).
    pub ops: &'a [OpNode],
    pub graph: &'a Graph,
    pub keys: &'a HashMap<VertexId, String>,
    pub build_args: &'a BTreeMap<String, String>,
    pub context: &'a Context,
    /// `--no-cache` was given.
    pub no_cache: bool,
}

impl Explainer {
    /// The record of `target` (context, Dockerfile and stage) in the store
    /// at `root`.
    pub fn open(root: &Path, context: &Path, dockerfile: &str, target: Option<&str>) -> Explainer {
        let context = context
            .canonicalize()
            .unwrap_or_else(|_| context.to_path_buf());
        let dockerfile = Path::new(dockerfile)
            .canonicalize()
            .map_or_else(|_| dockerfile.to_string(), |p| p.display().to_string());
        let identity = format!(
            "{}\0{dockerfile}\0{}",
            context.display(),
            target.unwrap_or("")
        );
        let name = hex::encode(Sha256::digest(identity.as_bytes()));
        let path = root.join("explain").join(format!("{}.json", &name[..32]));
        let previous = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Explainer { path, previous }
    }

    /// Whether an earlier build of the target was recorded.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// The reason each vertex of `ran` missed the cache, by step name;
    /// records this build's inputs for the next one.
    pub fn explain(&self, build: &Build<'_>, ran: &[VertexId]) -> Vec<(String, String)> {
        let mut record = Record {
            build_args: build.build_args.clone(),
            steps: BTreeMap::new(),
        };
        let mut reasons = HashMap::new();
        for (id, v) in build.graph.vertices.iter().enumerate() {
            let (Some(position), Some(key)) = (position(&v.name), build.keys.get(&id)) else {
                continue;
            };
            let input_keys: Vec<String> = v
                .inputs
                .iter()
                .map(|i| build.keys.get(i).cloned().unwrap_or_default())
                .collect();
            let previous = self.previous.as_ref().and_then(|r| r.steps.get(&position));
            let mut step = StepRecord {
                name: v.name.clone(),
                digest: v.digest.clone(),
                key: key.clone(),
                input_keys,
                files: previous.and_then(|p| p.files.clone()),
            };
            let content_changed = previous.is_some_and(|p| {
                p.key != step.key && p.digest == step.digest && p.input_keys == step.input_keys
            });
            let reads = context_sources(build.graph, id);
            if !reads.is_empty() && (step.files.is_none() || content_changed) {
                let mut files = BTreeMap::new();
                for (srcs, follow) in &reads {
                    if let Ok(f) = build.context.file_fingerprints(srcs, *follow) {
                        files.extend(f);
                    }
                }
                step.files = Some(files);
            }
            if ran.contains(&id) {
                let reason = match (&self.previous, previous) {
                    (None, _) => "no earlier build of this target to compare with".to_string(),
                    (Some(_), None) => "a new step".to_string(),
                    (Some(prev), Some(p)) => self.reason(build, id, p, &step, prev),
                };
                reasons.insert(id, reason);
            }
            record.steps.insert(position, step);
        }
        // A cached rebuild changes nothing: no write.
        if self.previous.as_ref() != Some(&record) {
            self.save(&record);
        }
        ran.iter()
            .filter_map(|id| Some((build.graph.vertices[*id].name.clone(), reasons.remove(id)?)))
            .collect()
    }

    fn reason(
        &self,
        build: &Build<'_>,
        id: VertexId,
        old: &StepRecord,
        new: &StepRecord,
        previous: &Record,
    ) -> String {
        let meta = &build.ops[id].meta;
        if build.no_cache {
            return "--no-cache".to_string();
        }
        if meta.ignore_cache {
            return "--no-cache-filter names its stage".to_string();
        }
        if old.key == new.key {
            return "same inputs, but the cached result is gone (pruned, or that build did not finish)"
                .to_string();
        }
        let (old_text, new_text) = (instruction(&old.name), instruction(&new.name));
        if old_text != new_text {
            return match (base_image(old_text), base_image(new_text)) {
                (Some((a, da)), Some((b, db))) if a == b => {
                    format!("base image {a} changed: {da} -> {db}")
                }
                _ => {
                    let args = changed_keys(&previous.build_args, build.build_args);
                    let why = if args.is_empty() {
                        String::new()
                    } else {
                        format!(" (build arg changed: {})", args.join(", "))
                    };
                    format!("instruction changed: `{old_text}` -> `{new_text}`{why}")
                }
            };
        }
        if old.input_keys != new.input_keys {
            let v = &build.graph.vertices[id];
            let changed = old
                .input_keys
                .iter()
                .zip(&new.input_keys)
                .position(|(a, b)| a != b)
                .map(|i| build.graph.vertices[v.inputs[i]].name.as_str())
                .filter(|n| !n.is_empty());
            return match changed {
                Some(name) => format!("it depends on `{name}`, which changed"),
                None => "a step it depends on changed".to_string(),
            };
        }
        if old.digest != new.digest {
            let args = changed_keys(&previous.build_args, build.build_args);
            return if args.is_empty() {
                "its definition changed (ARG/ENV values or instruction flags)".to_string()
            } else {
                format!("build arg changed: {}", args.join(", "))
            };
        }
        match (&old.files, &new.files) {
            (Some(a), Some(b)) => {
                let files = changed_keys(a, b);
                if files.is_empty() {
                    "the content it reads changed".to_string()
                } else {
                    format!("context files changed: {}", list(&files))
                }
            }
            _ => "the content it reads changed".to_string(),
        }
    }

    /// Writes the record next to its final name, then renames.
    fn save(&self, record: &Record) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let tmp = self.path.with_extension("tmp");
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(record).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            eprintln!(
                "warning: could not record the build for --explain ({}): {e}",
                self.path.display()
            );
        }
    }
}

/// `[stage k/n] ...` -> `stage k` (the step's place, stable when steps
/// are added after it).
fn position(name: &str) -> Option<String> {
    let inner = name.strip_prefix('[')?.split(']').next()?;
    let (place, _) = inner.rsplit_once('/')?;
    Some(place.to_string())
}

/// The instruction text of a step name.
fn instruction(name: &str) -> &str {
    name.split_once("] ").map_or(name, |(_, i)| i)
}

/// `FROM repo@digest` -> (repo, digest).
fn base_image(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix("FROM ")?.split_once('@')
}

/// Keys added, removed or changed between `a` and `b`.
fn changed_keys(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out.sort();
    out
}

fn list(files: &[String]) -> String {
    let shown = files[..files.len().min(MAX_FILES)].join(", ");
    match files.len() {
        n if n > MAX_FILES => format!("{shown} and {} more", n - MAX_FILES),
        _ => shown,
    }
}

/// The sources a File vertex copies from the main build context, as the
/// solver hashes them.
fn context_sources(graph: &Graph, id: VertexId) -> Vec<(Vec<String>, bool)> {
    let v = &graph.vertices[id];
    let VertexOp::File { actions, .. } = &v.op else {
        return Vec::new();
    };
    actions
        .iter()
        .filter_map(|a| match a {
            FileAction::Copy(copy) => {
                let input = copy.source?;
                let is_context = matches!(
                    &graph.vertices[v.inputs[input]].op,
                    VertexOp::Local { name } if name == "context"
                );
                let src = copy.src.trim_start_matches('/');
                let src = if src.is_empty() { "." } else { src };
                is_context.then(|| (vec![src.to_string()], copy.follow_symlinks))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_instructions() {
        assert_eq!(position("[build 2/5] RUN make").as_deref(), Some("build 2"));
        assert_eq!(position("[3/3] COPY . /").as_deref(), Some("3"));
        assert_eq!(position("exporting to image"), None);
        assert_eq!(instruction("[3/3] COPY . /"), "COPY . /");
        assert_eq!(
            base_image("FROM docker.io/library/a:1@sha256:ab"),
            Some(("docker.io/library/a:1", "sha256:ab"))
        );
    }

    #[test]
    fn changed_keys_and_lists() {
        let a: BTreeMap<String, String> = [("x", "1"), ("y", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut b = a.clone();
        b.insert("y".into(), "3".into());
        b.insert("z".into(), "4".into());
        b.remove("x");
        assert_eq!(changed_keys(&a, &b), ["x", "y", "z"]);
        let many: Vec<String> = (0..12).map(|i| format!("f{i:02}")).collect();
        assert!(list(&many).ends_with("f09 and 2 more"));
    }
}
