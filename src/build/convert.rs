//! The frontend's build definition -> the solver's graph. The two crates
//! do not know each other (see DESIGN.md); this is where they meet.

use kiln_frontend::definition as def;
use kiln_solver::fileop;
use kiln_solver::graph::{
    ExecMount, ExecMountKind, ExecNetwork, ExecSpec, Graph, SecretEnv, Vertex, VertexOp,
};
use kiln_solver::source::{GitSource, HttpSource};

/// Converts every op; vertex ids equal the definition's op ids.
pub fn to_graph(definition: &def::BuildDefinition) -> Graph {
    let vertices = definition
        .ops
        .iter()
        .map(|node| Vertex {
            op: vertex_op(&node.op),
            inputs: node.inputs.clone(),
            digest: node.digest.clone(),
            name: node.meta.name.clone(),
            ignore_cache: node.meta.ignore_cache,
        })
        .collect();
    Graph { vertices }
}

fn vertex_op(op: &def::Op) -> VertexOp {
    match op {
        def::Op::Image(i) => VertexOp::Image {
            reference: i.reference.clone(),
        },
        def::Op::Local(l) => VertexOp::Local {
            name: l.name.clone(),
        },
        def::Op::File(f) => VertexOp::File {
            base: f.base,
            actions: f.actions.iter().map(file_action).collect(),
        },
        def::Op::Merge(inputs) => VertexOp::Merge {
            inputs: inputs.clone(),
        },
        def::Op::Exec(e) => VertexOp::Exec(Box::new(exec(e))),
        def::Op::Http(h) => VertexOp::Http(Box::new(HttpSource::new(
            h.url.clone(),
            h.filename.clone(),
            h.checksum.clone(),
        ))),
        def::Op::Git(g) => VertexOp::Git(Box::new(git(g))),
    }
}

fn git(g: &def::GitSource) -> GitSource {
    let mut src = GitSource::new(g.remote.clone(), g.reference.clone(), g.subdir.clone());
    src.keep_git_dir = g.keep_git_dir;
    src.checksum = g.checksum.clone();
    src
}

fn exec(e: &def::Exec) -> ExecSpec {
    ExecSpec {
        args: e.args.clone(),
        env: with_ssh_auth_sock(e),
        cwd: e.cwd.clone(),
        user: e.user.clone(),
        root: e
            .mounts
            .iter()
            .find(|m| m.kind == def::MountKind::Root)
            .and_then(|m| m.input),
        network: match e.network {
            def::Network::Default => ExecNetwork::Default,
            def::Network::None => ExecNetwork::None,
            def::Network::Host => ExecNetwork::Host,
        },
        insecure: e.security == def::Security::Insecure,
        mounts: e.mounts.iter().filter_map(exec_mount).collect(),
        proxy_env: e.proxy_env.clone(),
        secret_env: e
            .secret_env
            .iter()
            .map(|s| SecretEnv {
                id: s.id.clone(),
                name: s.name.clone(),
                required: s.required,
            })
            .collect(),
    }
}

/// With an SSH mount, `SSH_AUTH_SOCK` names the first one's socket unless
/// the step sets it (as BuildKit's exec op does).
fn with_ssh_auth_sock(e: &def::Exec) -> Vec<String> {
    let mut env = e.env.clone();
    let first = e
        .mounts
        .iter()
        .find(|m| matches!(m.kind, def::MountKind::Ssh { .. }));
    if let Some(m) = first {
        if !env.iter().any(|v| v.starts_with("SSH_AUTH_SOCK=")) {
            env.push(format!("SSH_AUTH_SOCK={}", m.target));
        }
    }
    env
}

fn exec_mount(m: &def::Mount) -> Option<ExecMount> {
    let kind = match &m.kind {
        def::MountKind::Root => return None,
        def::MountKind::Bind => ExecMountKind::Bind {
            input: m.input,
            source: m.source.clone(),
        },
        def::MountKind::Cache {
            id,
            sharing,
            mode,
            uid,
            gid,
        } => ExecMountKind::Cache {
            id: id.clone(),
            locked: *sharing != def::CacheSharing::Shared,
            mode: *mode,
            uid: *uid,
            gid: *gid,
        },
        def::MountKind::Tmpfs { size } => ExecMountKind::Tmpfs { size: *size },
        def::MountKind::Secret {
            id,
            required,
            mode,
            uid,
            gid,
        } => ExecMountKind::Secret {
            id: id.clone(),
            required: *required,
            mode: *mode,
            uid: *uid,
            gid: *gid,
        },
        def::MountKind::Ssh {
            id,
            required,
            mode,
            uid,
            gid,
        } => ExecMountKind::Ssh {
            id: id.clone(),
            required: *required,
            mode: *mode,
            uid: *uid,
            gid: *gid,
        },
    };
    Some(ExecMount {
        target: m.target.clone(),
        readonly: m.readonly,
        kind,
    })
}

fn file_action(a: &def::FileAction) -> fileop::FileAction {
    match a {
        def::FileAction::Copy(c) => fileop::FileAction::Copy(fileop::CopyAction {
            source: c.source,
            src: c.src.clone(),
            dest: c.dest.clone(),
            owner: c.owner.as_ref().map(chown),
            mode: c.mode.as_ref().map(chmod),
            follow_symlinks: c.follow_symlinks,
            dir_contents_only: c.dir_contents_only,
            include_patterns: c.include_patterns.clone(),
            exclude_patterns: c.exclude_patterns.clone(),
            required_paths: c.required_paths.clone(),
            attempt_unpack: c.attempt_unpack,
            create_dest_path: c.create_dest_path,
            allow_wildcard: c.allow_wildcard,
            allow_empty_wildcard: c.allow_empty_wildcard,
            timestamp: c.timestamp,
        }),
        def::FileAction::Mkdir(m) => fileop::FileAction::Mkdir(fileop::MkdirAction {
            path: m.path.clone(),
            mode: m.mode,
            make_parents: m.make_parents,
            owner: m.owner.as_ref().map(chown),
            timestamp: m.timestamp,
        }),
        def::FileAction::Mkfile(m) => fileop::FileAction::Mkfile(fileop::MkfileAction {
            path: m.path.clone(),
            mode: m.mode,
            data: m.data.clone().into_bytes(),
            owner: m.owner.as_ref().map(chown),
            timestamp: m.timestamp,
        }),
    }
}

fn chown(c: &def::Chown) -> fileop::Chown {
    let id = |u: &def::UserRef| match u {
        def::UserRef::Id(n) => fileop::IdRef::Id(*n),
        def::UserRef::Name(s) => fileop::IdRef::Name(s.clone()),
    };
    fileop::Chown {
        user: id(&c.user),
        group: c.group.as_ref().map(id),
    }
}

fn chmod(c: &def::Chmod) -> fileop::Chmod {
    match c {
        def::Chmod::Octal(m) => fileop::Chmod::Octal(*m),
        def::Chmod::Symbolic(s) => fileop::Chmod::Symbolic(s.clone()),
    }
}
