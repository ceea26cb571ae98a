//! RUN: the command (exec form, shell form, heredocs), its mounts, and
//! the exec op whose root filesystem changes become the stage's layer.

use super::graph::{Lowering, Step};
use super::paths;
use super::stage::StageState;
use crate::definition::{
    CacheSharing, Exec, FileAction, FileOp, Mkfile, Mount, MountKind, Network, Op, OpId, OpMeta,
    SecretEnv, Security,
};
use crate::instructions::{self, MountType, NetworkMode, RunInstruction, SecurityMode};
use crate::parser::{chomp_heredoc_content, parse_heredoc};
use crate::{Error, Result};

/// Where a single shebang heredoc script is mounted (BuildKit's path).
const PIPES_DIR: &str = "/dev/pipes/";

impl Lowering<'_> {
    pub(super) fn dispatch_run(
        &mut self,
        st: &mut StageState,
        c: &RunInstruction,
        step: &Step,
    ) -> Result<()> {
        if !c.devices.is_empty() {
            return Err(Error::new(
                "device feature is only supported in Dockerfile frontend 1.14.0-labs or later",
            ));
        }
        let mut extra_mounts = Vec::new();
        let mut extra_inputs = Vec::new();
        let (args, summary) = self.run_args(st, c, &mut extra_mounts, &mut extra_inputs)?;
        let args = if c.command.prepend_shell {
            st.with_shell(&args)
        } else {
            args
        };

        let mut inputs: Vec<OpId> = st.root.into_iter().collect();
        let mut mounts = vec![Mount {
            input: st.root.map(|_| 0),
            target: "/".into(),
            source: "/".into(),
            readonly: false,
            kind: MountKind::Root,
        }];
        for (mount, op) in extra_mounts.into_iter().zip(extra_inputs) {
            mounts.push(Mount {
                input: Some(push_input(&mut inputs, op)),
                ..mount
            });
        }
        let mut secret_env = Vec::new();
        let mut ssh_count = 0;
        for (mount, from) in c.mounts.iter().zip(&step.mount_from) {
            match self.run_mount(st, mount, *from, &mut inputs, &mut ssh_count)? {
                RunMount::Mount(m) => mounts.push(m),
                RunMount::Env(e) => secret_env.push(e),
                RunMount::Both(m, e) => {
                    mounts.push(m);
                    secret_env.push(e);
                }
            }
        }

        let mut text = c.origin.original.clone();
        if let Some(summary) = summary {
            text.push_str(&format!(" ({summary})"));
        }
        let masked = masked_env(st, c);
        let text = self.display_command(&text, &*masked);
        let name = st.progress_name(&text, step.onbuild);
        let exec = Exec {
            args: args.clone(),
            env: st.env.to_vec(),
            cwd: st.cwd.clone(),
            user: st.user.clone(),
            network: match c.network {
                NetworkMode::Default => Network::Default,
                NetworkMode::None => Network::None,
                NetworkMode::Host => Network::Host,
            },
            security: match c.security {
                SecurityMode::Sandbox => Security::Sandbox,
                SecurityMode::Insecure => Security::Insecure,
            },
            hostname: None,
            mounts,
            secret_env,
            proxy_env: super::args::proxy_env(&self.opts.build_args),
        };
        let meta = OpMeta {
            name,
            range: Some(c.origin.range),
            ignore_cache: st.ignore_cache,
        };
        st.root = Some(self.graph.add(Op::Exec(exec), inputs, meta));
        let history = run_command_string(&args, st);
        st.commit(format!("RUN {history}"), true, true);
        Ok(())
    }

    /// The command's arguments before the shell is prepended, with
    /// heredocs folded in as BuildKit does; returns the heredoc summary
    /// shown in progress output.
    fn run_args(
        &mut self,
        st: &StageState,
        c: &RunInstruction,
        mounts: &mut Vec<Mount>,
        inputs: &mut Vec<OpId>,
    ) -> Result<(Vec<String>, Option<String>)> {
        let files = &c.command.files;
        let args = &c.command.args;
        if files.is_empty() {
            return Ok((args.clone(), None));
        }
        if args.len() != 1 || !c.command.prepend_shell {
            return Err(Error::new(format!(
                "parsing produced an invalid run command: {args:?}"
            )));
        }
        if parse_heredoc(&args[0])?.is_none() {
            // Several heredocs or a command around one: hand the whole
            // script, bodies appended, to the shell.
            let mut script = args[0].clone();
            for f in files {
                script.push('\n');
                script.push_str(&f.data);
                script.push_str(&f.name);
            }
            return Ok((vec![script], None));
        }
        let file = &files[0];
        let summary = Some(summarize(&file.data));
        let data = if file.chomp {
            chomp_heredoc_content(&file.data)
        } else {
            file.data.clone()
        };
        if st.image.os == "windows" || !data.starts_with("#!") {
            return Ok((vec![data], summary));
        }
        // A script with a shebang runs as a file of its own.
        let op = Op::File(FileOp {
            base: None,
            actions: vec![FileAction::Mkfile(Mkfile {
                path: paths::join("/", &file.name),
                mode: 0o755,
                data,
                owner: None,
                timestamp: None,
            })],
        });
        let meta = OpMeta {
            name: "preparing inline document".into(),
            ..OpMeta::default()
        };
        inputs.push(self.graph.add(op, Vec::new(), meta));
        mounts.push(Mount {
            input: None,
            target: PIPES_DIR.into(),
            source: "/".into(),
            readonly: true,
            kind: MountKind::Bind,
        });
        Ok((vec![paths::join(PIPES_DIR, &file.name)], summary))
    }

    fn run_mount(
        &mut self,
        st: &StageState,
        m: &instructions::Mount,
        from: Option<usize>,
        inputs: &mut Vec<OpId>,
        ssh_count: &mut usize,
    ) -> Result<RunMount> {
        match m.mount_type {
            MountType::Secret => return secret_mount(m),
            MountType::Ssh => {
                *ssh_count += 1;
                return ssh_mount(m, *ssh_count - 1);
            }
            _ => {}
        }
        let target = if m.target.starts_with('/') {
            m.target.clone()
        } else {
            paths::join(&paths::join("/", &st.cwd), &m.target)
        };
        if paths::clean(&target) == "/" {
            return Err(Error::new(format!("invalid mount target {target:?}")));
        }
        // Without from=, a cache starts empty and a bind mount reads the
        // build context.
        let source_op = match (m.mount_type, from) {
            (MountType::Tmpfs, _) => None,
            (_, Some(stage)) => self.mount_source_stage(stage, &m.from, &m.target)?,
            (MountType::Cache, None) => None,
            (_, None) => {
                self.context_paths.insert(paths::join("/", &m.source));
                Some(self.local_source("context"))
            }
        };
        let kind = match m.mount_type {
            MountType::Bind => MountKind::Bind,
            MountType::Cache => MountKind::Cache {
                id: if m.cache_id.is_empty() {
                    paths::clean(&m.target)
                } else {
                    m.cache_id.clone()
                },
                sharing: match m.cache_sharing {
                    Some(instructions::CacheSharing::Private) => CacheSharing::Private,
                    Some(instructions::CacheSharing::Locked) => CacheSharing::Locked,
                    _ => CacheSharing::Shared,
                },
                mode: m.mode.unwrap_or(0o755),
                uid: m.uid.unwrap_or(0),
                gid: m.gid.unwrap_or(0),
            },
            MountType::Tmpfs => MountKind::Tmpfs {
                size: u64::try_from(m.size_limit).unwrap_or(0),
            },
            MountType::Secret | MountType::Ssh => unreachable!("handled above"),
        };
        Ok(RunMount::Mount(Mount {
            input: source_op.map(|op| push_input(inputs, op)),
            target,
            source: paths::join("/", &m.source),
            readonly: m.read_only,
            kind,
        }))
    }

    fn mount_source_stage(&self, stage: usize, from: &str, target: &str) -> Result<Option<OpId>> {
        let node = &self.stages[stage];
        match &node.state {
            Some(state) => Ok(state.root),
            None if node.unregistered || node.base_name == "scratch" => {
                Ok(node.base_image.as_ref().and_then(|(root, _)| *root))
            }
            None => Err(Error::new(format!(
                "cannot mount from stage {from:?} to {target:?}, stage needs to be defined before current command"
            ))),
        }
    }
}

enum RunMount {
    Mount(Mount),
    Env(SecretEnv),
    Both(Mount, SecretEnv),
}

fn push_input(inputs: &mut Vec<OpId>, op: OpId) -> usize {
    match inputs.iter().position(|&o| o == op) {
        Some(i) => i,
        None => {
            inputs.push(op);
            inputs.len() - 1
        }
    }
}

/// `--mount=type=secret`: a file (default `/run/secrets/<id>`) and/or an
/// environment variable (`env=`).
fn secret_mount(m: &instructions::Mount) -> Result<RunMount> {
    let id = if !m.source.is_empty() {
        m.source.clone()
    } else if !m.cache_id.is_empty() {
        m.cache_id.clone()
    } else if !m.target.is_empty() {
        paths::clean(&m.target)
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string()
    } else {
        return Err(Error::new("one of source, target required"));
    };
    let target = match (&m.env, m.target.is_empty()) {
        (Some(_), true) => None,
        (_, false) => Some(m.target.clone()),
        (None, true) => Some(format!(
            "/run/secrets/{}",
            id.rsplit('/').next().unwrap_or(&id)
        )),
    };
    let mount = target.map(|target| Mount {
        input: None,
        target,
        source: "/".into(),
        readonly: true,
        kind: MountKind::Secret {
            id: id.clone(),
            required: m.required,
            mode: m.mode.unwrap_or(0o400),
            uid: m.uid.unwrap_or(0),
            gid: m.gid.unwrap_or(0),
        },
    });
    let env = m.env.as_ref().map(|name| SecretEnv {
        id: id.clone(),
        name: name.clone(),
        required: m.required,
    });
    Ok(match (mount, env) {
        (Some(m), Some(e)) => RunMount::Both(m, e),
        (Some(m), None) => RunMount::Mount(m),
        (None, Some(e)) => RunMount::Env(e),
        (None, None) => unreachable!("a secret without env= always has a target"),
    })
}

/// `--mount=type=ssh`: an agent socket, default `/run/buildkit/ssh_agent.N`.
fn ssh_mount(m: &instructions::Mount, index: usize) -> Result<RunMount> {
    if !m.source.is_empty() {
        return Err(Error::new("ssh does not support source"));
    }
    let target = if m.target.is_empty() {
        format!("/run/buildkit/ssh_agent.{index}")
    } else {
        m.target.clone()
    };
    Ok(RunMount::Mount(Mount {
        input: None,
        target,
        source: "/".into(),
        readonly: true,
        kind: MountKind::Ssh {
            id: if m.cache_id.is_empty() {
                "default".into()
            } else {
                m.cache_id.clone()
            },
            required: m.required,
            mode: m.mode.unwrap_or(0o600),
            uid: m.uid.unwrap_or(0),
            gid: m.gid.unwrap_or(0),
        },
    }))
}

/// The environment used to display a RUN: secret env vars show `****`
/// (a copy is made only when there are any).
fn masked_env<'a>(
    st: &'a StageState,
    c: &RunInstruction,
) -> std::borrow::Cow<'a, super::env::EnvList> {
    let mut env = std::borrow::Cow::Borrowed(&st.env);
    for m in &c.mounts {
        if let (MountType::Secret, Some(name)) = (m.mount_type, &m.env) {
            env.to_mut().set(name, "****");
        }
    }
    env
}

/// First line of a heredoc, `...` when there are more.
fn summarize(doc: &str) -> String {
    let doc = doc.trim().replace("\r\n", "\n");
    let mut lines = doc.split('\n');
    let first = lines.next().unwrap_or("").to_string();
    if lines.next().is_some() {
        first + "..."
    } else {
        first
    }
}

/// History text of a RUN: `|N K=V ... args`, the stage's build args
/// (with their current values) prefixed as BuildKit records them.
fn run_command_string(args: &[String], st: &StageState) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in &st.build_args {
        let v = st
            .env
            .get(key)
            .map(str::to_string)
            .unwrap_or_else(|| value.clone().unwrap_or_default());
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(p) => p.1 = v,
            None => pairs.push((key.clone(), v)),
        }
    }
    let mut parts = Vec::new();
    if !pairs.is_empty() {
        parts.push(format!("|{}", pairs.len()));
        parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}
