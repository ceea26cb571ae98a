//! What `kiln build` lends RUN steps and allows them, from its flags:
//! `--secret`, `--ssh` (buildx's syntax), `--allow` entitlements and the
//! default `--network` of RUN steps.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_solver::graph::{ExecNetwork, Graph, VertexOp};
use kiln_solver::session::{SecretSource, Session};
use sha2::{Digest as _, Sha256};

use crate::cli::BuildArgs;

/// The session of a build: secrets and agents, plus the `ssh-agent`
/// processes holding `--ssh id=KEYFILE` keys (stopped on drop).
pub struct Lent {
    pub session: Session,
    _agents: Vec<KeyAgent>,
}

pub fn session(args: &BuildArgs) -> Result<Lent> {
    let mut session = Session::default();
    for spec in &args.secrets {
        let (id, source) = parse_secret(spec)?;
        session.add_secret(id, source);
    }
    let mut agents = Vec::new();
    for spec in &args.ssh {
        let (id, paths) = parse_ssh(spec);
        if session.has_ssh(&id) {
            bail!("--ssh {spec}: duplicate agent ID {id:?}");
        }
        let socket =
            ssh_socket(&id, paths, &mut agents).with_context(|| format!("--ssh {spec}"))?;
        session.add_ssh(id, socket);
    }
    Ok(Lent {
        session,
        _agents: agents,
    })
}

/// buildx's `--secret`: `id=x,src=path`, `id=x,env=VAR`, `type=file|env`;
/// without a source, the variable named by the id if it is set, else the
/// file of that name.
fn parse_secret(spec: &str) -> Result<(String, SecretSource)> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in csv_fields(spec)? {
        let Some((key, value)) = field.split_once('=') else {
            bail!("--secret {spec}: invalid field '{field}' must be a key=value pair");
        };
        match key.to_ascii_lowercase().as_str() {
            "type" if value == "file" || value == "env" => kind = Some(value.to_string()),
            "type" => bail!("--secret {spec}: unsupported secret type {value:?}"),
            "id" => id = Some(value.to_string()),
            "source" | "src" => src = Some(value.to_string()),
            "env" => env = Some(value.to_string()),
            _ => bail!("--secret {spec}: unexpected key '{key}' in '{field}'"),
        }
    }
    if kind.as_deref() == Some("env") && env.is_none() {
        env = src.take();
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| anyhow!("--secret {spec}: secret missing ID"))?;
    let source = match (env, src) {
        (Some(var), _) if !var.is_empty() => SecretSource::Env(var),
        (_, Some(path)) if !path.is_empty() => SecretSource::File(PathBuf::from(path)),
        _ if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
        _ => SecretSource::File(PathBuf::from(&id)),
    };
    if let SecretSource::File(path) = &source {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("--secret {spec}: failed to stat {}", path.display()))?;
        if meta.len() > kiln_solver::session::MAX_SECRET_SIZE {
            bail!(
                "--secret {spec}: secret {id} too big (at most {} KiB)",
                kiln_solver::session::MAX_SECRET_SIZE / 1024
            );
        }
    }
    Ok((id, source))
}

/// Comma-separated fields; a field in double quotes may hold commas (`""`
/// is a quote), as Go's CSV reader that buildx uses.
fn csv_fields(s: &str) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        bail!("{s}: unterminated quote");
    }
    fields.push(field);
    Ok(fields)
}

/// buildx's `--ssh`: `default|<id>[=<socket>|<key>[,<key>]]`.
fn parse_ssh(spec: &str) -> (String, Vec<String>) {
    match spec.split_once('=') {
        Some((id, paths)) => (
            id.to_string(),
            paths.split(',').map(str::to_string).collect(),
        ),
        None => (spec.to_string(), Vec::new()),
    }
}

/// The agent socket for `--ssh id[=paths]`: `SSH_AUTH_SOCK` without paths,
/// the path when it is a socket, else an `ssh-agent` holding the keys.
fn ssh_socket(id: &str, mut paths: Vec<String>, agents: &mut Vec<KeyAgent>) -> Result<PathBuf> {
    if id.is_empty() {
        bail!("empty ssh ID");
    }
    if paths.is_empty() || paths == [""] {
        let sock = std::env::var("SSH_AUTH_SOCK").unwrap_or_default();
        if sock.is_empty() {
            bail!("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set");
        }
        paths = vec![sock];
    }
    let mut keys = Vec::new();
    let mut socket = None;
    for p in &paths {
        let meta = std::fs::metadata(p).with_context(|| format!("stat {p}"))?;
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            if socket.is_some() {
                bail!("only single socket allowed");
            }
            socket = Some(PathBuf::from(p));
        } else {
            keys.push(PathBuf::from(p));
        }
    }
    match (socket, keys.is_empty()) {
        (Some(s), true) => Ok(s),
        (Some(_), false) => bail!("invalid combination of keys and sockets"),
        (None, _) => {
            let agent = KeyAgent::start(&keys)?;
            let path = agent.socket.clone();
            agents.push(agent);
            Ok(path)
        }
    }
}

/// An `ssh-agent` holding key files for the build; killed on drop (and
/// by the kernel if kiln dies first).
struct KeyAgent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl KeyAgent {
    fn start(keys: &[PathBuf]) -> Result<KeyAgent> {
        let dir = tempfile::Builder::new()
            .prefix("kiln-ssh-")
            .tempdir()
            .context("creating a directory for ssh-agent")?;
        let socket = dir.path().join("agent.sock");
        let mut cmd = Command::new("ssh-agent");
        cmd.arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            })
        };
        let child = cmd
            .spawn()
            .context("loading key files needs ssh-agent (openssh-client)")?;
        let mut agent = KeyAgent {
            child,
            socket,
            _dir: dir,
        };
        agent.wait_for_socket()?;
        let out = Command::new("ssh-add")
            .args(keys)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .env_remove("SSH_ASKPASS")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .output()
            .context("loading key files needs ssh-add (openssh-client)")?;
        if !out.status.success() {
            bail!(
                "ssh-add {}: {}",
                keys.iter()
                    .map(|k| k.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(agent)
    }

    fn wait_for_socket(&mut self) -> Result<()> {
        for _ in 0..500 {
            if self.socket.exists() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("ssh-agent exited ({status}) before listening");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        bail!("ssh-agent did not create {}", self.socket.display())
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--allow` and `--network`: what RUN steps may do and their default
/// network.
pub struct RunPolicy {
    network: ExecNetwork,
    network_host: bool,
    security_insecure: bool,
}

impl RunPolicy {
    pub fn new(args: &BuildArgs) -> Result<RunPolicy> {
        let network = match args.network.as_str() {
            "" | "default" => ExecNetwork::Default,
            "host" => ExecNetwork::Host,
            "none" => ExecNetwork::None,
            other => bail!("network mode {other:?} not supported: use default, host or none"),
        };
        let mut policy = RunPolicy {
            network,
            // `--network host` grants what it asks for, as in buildx.
            network_host: network == ExecNetwork::Host,
            security_insecure: false,
        };
        for a in args.allow.iter().flat_map(|a| a.split(',')) {
            match a.trim() {
                "" => {}
                "network.host" => policy.network_host = true,
                "security.insecure" => policy.security_insecure = true,
                other => bail!("--allow: unknown entitlement {other}"),
            }
        }
        Ok(policy)
    }

    /// Refuses a graph with a RUN step needing an entitlement the build
    /// was not given (BuildKit checks when it loads the definition,
    /// before anything runs, cached or not).
    pub fn check(&self, graph: &Graph) -> Result<()> {
        for v in &graph.vertices {
            let VertexOp::Exec(spec) = &v.op else {
                continue;
            };
            if spec.network == ExecNetwork::Host && !self.network_host {
                bail!(
                    "{}: network.host is not allowed (pass --allow network.host)",
                    v.name
                );
            }
            if spec.insecure && !self.security_insecure {
                bail!(
                    "{}: security.insecure is not allowed (pass --allow security.insecure)",
                    v.name
                );
            }
        }
        Ok(())
    }

    /// Gives RUN steps without `--network` the build's network; their cache
    /// keys change with it (as BuildKit's op definitions do).
    pub fn apply(&self, graph: &mut Graph) {
        if self.network == ExecNetwork::Default {
            return;
        }
        let tag = match self.network {
            ExecNetwork::None => "none",
            _ => "host",
        };
        for v in &mut graph.vertices {
            let VertexOp::Exec(spec) = &mut v.op else {
                continue;
            };
            if spec.network != ExecNetwork::Default {
                continue;
            }
            spec.network = self.network;
            let mut h = Sha256::new();
            h.update(v.digest.as_bytes());
            h.update(b"\0network=");
            h.update(tag.as_bytes());
            v.digest = format!("sha256:{}", hex::encode(h.finalize()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_specs_as_buildx_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "x").unwrap();
        let f = file.display().to_string();
        assert_eq!(
            parse_secret(&format!("id=a,src={f}")).unwrap(),
            ("a".into(), SecretSource::File(file.clone()))
        );
        assert_eq!(
            parse_secret(&format!("id=a,source={f},type=file"))
                .unwrap()
                .1,
            SecretSource::File(file.clone())
        );
        assert_eq!(
            parse_secret("id=a,env=HOME").unwrap().1,
            SecretSource::Env("HOME".into())
        );
        // type=env takes src as the variable's name.
        assert_eq!(
            parse_secret("id=a,type=env,src=HOME").unwrap().1,
            SecretSource::Env("HOME".into())
        );
        // A bare id: the variable if set, else the file.
        assert_eq!(
            parse_secret("id=PATH").unwrap().1,
            SecretSource::Env("PATH".into())
        );
        assert_eq!(
            parse_secret(&format!("id={f}")).unwrap().1,
            SecretSource::File(file.clone())
        );
        assert_eq!(
            parse_secret(&format!("\"id=a\",\"src={f}\"")).unwrap().1,
            SecretSource::File(file)
        );
        for (bad, message) in [
            ("src=/x", "secret missing ID"),
            ("id=a,type=socket", "unsupported secret type"),
            ("id=a,colour=red", "unexpected key 'colour'"),
            ("id", "must be a key=value pair"),
            ("id=a,src=/does/not/exist", "failed to stat /does/not/exist"),
        ] {
            let err = format!("{:#}", parse_secret(bad).unwrap_err());
            assert!(err.contains(message), "{bad}: {err}");
        }
    }

    #[test]
    fn ssh_specs() {
        assert_eq!(parse_ssh("default"), ("default".into(), vec![]));
        assert_eq!(
            parse_ssh("git=/a,/b"),
            ("git".into(), vec!["/a".to_string(), "/b".to_string()])
        );
    }
}
