//! What a build lends its RUN steps from outside the build definition:
//! secrets (`--secret`) and SSH agents (`--ssh`), BuildKit's session
//! attachables. Their contents are read when a step runs and never become
//! part of a cache key, a layer or the image config.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// BuildKit's limit on a secret's size.
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file, read when a step uses it.
    File(PathBuf),
    /// An environment variable of the build process.
    Env(String),
}

/// The secrets and SSH agents of one build, by id.
#[derive(Debug, Default, Clone)]
pub struct Session {
    secrets: HashMap<String, SecretSource>,
    ssh: HashMap<String, PathBuf>,
}

impl Session {
    /// Adds (or replaces: the last one wins, as in buildx) a secret.
    pub fn add_secret(&mut self, id: impl Into<String>, source: SecretSource) {
        self.secrets.insert(id.into(), source);
    }

    /// Adds an SSH agent listening on the unix socket `socket`.
    pub fn add_ssh(&mut self, id: impl Into<String>, socket: PathBuf) {
        self.ssh.insert(id.into(), socket);
    }

    pub fn has_ssh(&self, id: &str) -> bool {
        self.ssh.contains_key(id)
    }

    /// The secret's value; `Ok(None)` when the build was given no secret
    /// of that id.
    pub fn secret(&self, id: &str) -> Result<Option<Vec<u8>>, String> {
        match self.secrets.get(id) {
            None => Ok(None),
            Some(SecretSource::Env(var)) => Ok(Some(
                std::env::var_os(var)
                    .map(|v| v.into_encoded_bytes())
                    .unwrap_or_default(),
            )),
            Some(SecretSource::File(path)) => {
                let data = std::fs::read(path)
                    .map_err(|e| format!("secret {id}: reading {}: {e}", path.display()))?;
                if data.len() as u64 > MAX_SECRET_SIZE {
                    return Err(format!(
                        "secret {id}: {} is too big ({} bytes, at most {MAX_SECRET_SIZE})",
                        path.display(),
                        data.len()
                    ));
                }
                Ok(Some(data))
            }
        }
    }

    /// The agent socket of SSH id `id`.
    pub fn ssh_socket(&self, id: &str) -> Option<&Path> {
        self.ssh.get(id).map(PathBuf::as_path)
    }
}

/// The error for a required secret the build was not given.
pub fn missing_secret(id: &str) -> String {
    format!(
        "secret {id}: not found (pass it with --secret id={id},src=FILE or --secret id={id},env=VARIABLE)"
    )
}

/// The error for a required SSH agent the build was not given.
pub fn missing_ssh(id: &str) -> String {
    let flag = if id == "default" {
        "--ssh default".to_string()
    } else {
        format!("--ssh {id}=SOCKET|KEY")
    };
    format!("no SSH key {id:?} forwarded from the client (pass one with {flag})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_files_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "from-file").unwrap();
        let mut session = Session::default();
        session.add_secret("f", SecretSource::File(file));
        session.add_secret("e", SecretSource::Env("PATH".into()));
        session.add_secret("gone", SecretSource::File(dir.path().join("missing")));
        assert_eq!(session.secret("f").unwrap().unwrap(), b"from-file");
        assert_eq!(
            session.secret("e").unwrap().unwrap(),
            std::env::var("PATH").unwrap().as_bytes()
        );
        assert_eq!(session.secret("other").unwrap(), None);
        let err = session.secret("gone").unwrap_err();
        assert!(err.starts_with("secret gone: reading"), "{err}");

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_SIZE as usize + 1]).unwrap();
        session.add_secret("big", SecretSource::File(big));
        assert!(session.secret("big").unwrap_err().contains("too big"));
    }
}
