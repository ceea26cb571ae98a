//! The sandbox as the solver's [`Executor`]: maps a prepared RUN step onto
//! a sandbox spec and runs it, lending it the session's secrets and SSH
//! agents for the duration of the step.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::mount::{self, MountFlags, UnmountFlags};

use crate::sandbox::{self, Mount, Network, Spec};
use crate::session::{self, Session};
use crate::solve::{ExecBind, ExecRequest, Executor};
use crate::ssh_forward::{self, Forward};

/// Runs RUN steps in kiln's own namespaced sandbox.
pub struct SandboxExecutor {
    /// `buildkitsandbox` unless set.
    pub hostname: String,
    /// Secrets and SSH agents steps may mount.
    pub session: Session,
}

impl Default for SandboxExecutor {
    fn default() -> Self {
        SandboxExecutor {
            hostname: sandbox::DEFAULT_HOSTNAME.to_string(),
            session: Session::default(),
        }
    }
}

impl Executor for SandboxExecutor {
    fn run(&self, request: &ExecRequest<'_>, output: &mut dyn FnMut(&[u8])) -> Result<i32, String> {
        // Dropped after the run: the secrets' tmpfs and the agent relays.
        let mut lent = Lent::default();
        let mut mounts = Vec::with_capacity(request.mounts.len());
        for m in &request.mounts {
            if let Some(mount) = self.mount(m, request.scratch, &mut lent)? {
                mounts.push(mount);
            }
        }
        let mut env = request.env.clone();
        for s in request.secret_env {
            match self.session.secret(&s.id)? {
                Some(value) => env.push(format!("{}={}", s.name, String::from_utf8_lossy(&value))),
                None if s.required => return Err(session::missing_secret(&s.id)),
                None => {}
            }
        }
        let spec = Spec {
            rootfs: request.rootfs,
            args: request.args.to_vec(),
            env,
            cwd: request.cwd.to_string(),
            user: request.user.to_string(),
            hostname: self.hostname.clone(),
            network: if request.host_network {
                Network::Host
            } else {
                Network::None
            },
            insecure: request.insecure,
            mounts,
        };
        let outcome =
            sandbox::run(&spec, &mut |_stream, bytes| output(bytes)).map_err(|e| e.to_string())?;
        drop(lent);
        Ok(outcome.code())
    }
}

impl SandboxExecutor {
    /// The sandbox mount for `m`; `None` for a missing optional secret or
    /// agent.
    fn mount(
        &self,
        m: &ExecBind,
        scratch: &Path,
        lent: &mut Lent,
    ) -> Result<Option<Mount>, String> {
        Ok(Some(match m {
            ExecBind::Bind {
                source,
                target,
                readonly,
            } => Mount::Bind {
                source: source.clone(),
                target: target.clone(),
                readonly: *readonly,
            },
            ExecBind::Tmpfs { target, size } => Mount::Tmpfs {
                target: target.clone(),
                size: *size,
            },
            ExecBind::Secret {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(data) = self.session.secret(id)? else {
                    if *required {
                        return Err(session::missing_secret(id));
                    }
                    return Ok(None);
                };
                let dir = lent.secrets_dir(scratch)?;
                let file = dir.join(format!("{}", lent.files));
                lent.files += 1;
                write_secret(&file, &data, *mode, *uid, *gid)
                    .map_err(|e| format!("secret {id}: {e}"))?;
                Mount::Bind {
                    source: file,
                    target: target.clone(),
                    readonly: true,
                }
            }
            ExecBind::Ssh {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(agent) = self.session.ssh_socket(id) else {
                    if *required {
                        return Err(session::missing_ssh(id));
                    }
                    return Ok(None);
                };
                let at = scratch.join(format!("ssh-{}.sock", lent.agents.len()));
                let forward = ssh_forward::forward(agent, &at, *uid, *gid, *mode)
                    .map_err(|e| format!("ssh agent {id:?}: {e}"))?;
                let source = forward.path().to_path_buf();
                lent.agents.push(forward);
                Mount::Bind {
                    source,
                    target: target.clone(),
                    readonly: false,
                }
            }
        }))
    }
}

/// What a step borrows from the session, returned when it is dropped.
#[derive(Default)]
struct Lent {
    /// A tmpfs holding the secret files (never on disk).
    secrets: Option<PathBuf>,
    files: usize,
    agents: Vec<Forward>,
}

impl Lent {
    /// The step's secrets tmpfs, mounted on first use: only root may look
    /// in, noexec/nodev/nosuid.
    fn secrets_dir(&mut self, scratch: &Path) -> Result<PathBuf, String> {
        if let Some(dir) = &self.secrets {
            return Ok(dir.clone());
        }
        let dir = scratch.join("secrets");
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        mount::mount(
            "tmpfs",
            &dir,
            "tmpfs",
            MountFlags::NODEV | MountFlags::NOSUID,
            Some(c"mode=0711,size=16m"),
        )
        .map_err(|e| format!("mounting a tmpfs for secrets: {e}"))?;
        self.secrets = Some(dir.clone());
        Ok(dir)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.agents.clear();
        if let Some(dir) = &self.secrets {
            let _ = mount::unmount(dir, UnmountFlags::DETACH);
        }
    }
}

fn write_secret(path: &Path, data: &[u8], mode: u32, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777))
}
