//! The sandbox as the solver's [`Executor`]: maps a prepared RUN step onto
//! a sandbox spec and runs it.

use crate::sandbox::{self, Mount, Network, Spec};
use crate::solve::{ExecBind, ExecRequest, Executor};

/// Runs RUN steps in kiln's own namespaced sandbox.
pub struct SandboxExecutor {
    /// `buildkitsandbox` unless set.
    pub hostname: String,
}

impl Default for SandboxExecutor {
    fn default() -> Self {
        SandboxExecutor {
            hostname: sandbox::DEFAULT_HOSTNAME.to_string(),
        }
    }
}

impl Executor for SandboxExecutor {
    fn run(&self, request: &ExecRequest<'_>, output: &mut dyn FnMut(&[u8])) -> Result<i32, String> {
        let spec = Spec {
            rootfs: request.rootfs,
            args: request.args.to_vec(),
            env: request.env.clone(),
            cwd: request.cwd.to_string(),
            user: request.user.to_string(),
            hostname: self.hostname.clone(),
            network: if request.host_network {
                Network::Host
            } else {
                Network::None
            },
            insecure: request.insecure,
            mounts: request
                .mounts
                .iter()
                .map(|m| match m {
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
                })
                .collect(),
        };
        let outcome =
            sandbox::run(&spec, &mut |_stream, bytes| output(bytes)).map_err(|e| e.to_string())?;
        Ok(outcome.code())
    }
}
