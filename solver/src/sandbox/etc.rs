//! The generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
//!
//! They are bind-mounted read-only over the rootfs's own (as BuildKit
//! does), so whatever the image had there is hidden during the step and
//! untouched in the layer. Being read-only, one copy serves every step:
//! they are written once per process (per hostname; `resolv.conf` again
//! when the host's changes) to a private directory under the temporary
//! directory, `kiln-sandbox-<pid>`, which later processes remove once its
//! owner is gone. Writing and removing three files per step cost more
//! than a third of a millisecond.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use super::Network;

/// BuildKit's default hostname for build containers.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";

/// The three files for a step.
pub(super) struct EtcFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname: PathBuf,
}

struct Cache {
    dir: PathBuf,
    /// Generated file name -> nothing (written already).
    written: HashMap<String, ()>,
    /// The host's resolv.conf as last copied, and the copy's name.
    resolv: Option<(Vec<u8>, String)>,
    next: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

impl EtcFiles {
    pub(super) fn get(hostname: &str, _network: Network) -> io::Result<EtcFiles> {
        // The host's resolver configuration, as BuildKit copies it. With
        // `Network::None` nothing is reachable anyway, so it is harmless.
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|c| !c.dir.is_dir()) {
            *guard = Some(Cache {
                dir: private_dir()?,
                written: HashMap::new(),
                resolv: None,
                next: 0,
            });
        }
        let cache = guard.as_mut().expect("just set");
        let hosts = cache.file(&format!("hosts.{hostname}"), hosts(hostname).as_bytes())?;
        let name = cache.file(
            &format!("hostname.{hostname}"),
            format!("{hostname}\n").as_bytes(),
        )?;
        let resolv_name = match &cache.resolv {
            Some((content, name)) if *content == resolv => name.clone(),
            _ => {
                // In use by running steps: a new file, never a rewrite.
                let name = format!("resolv.conf.{}", cache.next);
                cache.next += 1;
                cache.resolv = Some((resolv.clone(), name.clone()));
                name
            }
        };
        let resolv_conf = cache.file(&resolv_name, &resolv)?;
        Ok(EtcFiles {
            hosts,
            resolv_conf,
            hostname: name,
        })
    }
}

impl Cache {
    /// `dir/name` holding `content`, written if it is not there yet.
    fn file(&mut self, name: &str, content: &[u8]) -> io::Result<PathBuf> {
        let path = self.dir.join(name);
        if self.written.contains_key(name) && path.exists() {
            return Ok(path);
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, &path)?;
        self.written.insert(name.to_string(), ());
        Ok(path)
    }
}

/// `$TMPDIR/kiln-sandbox-<pid>`, created empty; directories of processes
/// that no longer exist are removed on the way.
fn private_dir() -> io::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name
                .to_str()
                .and_then(|n| n.strip_prefix("kiln-sandbox-"))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: signal 0 only checks whether the process exists.
            let gone = owner as u32 != pid
                && unsafe { libc::kill(owner, 0) } < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("kiln-sandbox-{pid}"));
    let _ = std::fs::remove_dir_all(&dir); // a previous process with our pid
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// BuildKit's `/etc/hosts`.
pub(super) fn hosts(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// Whether `name` is a valid hostname for sethostname(2) (and sane).
pub(super) fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_shared_and_current() {
        let a = EtcFiles::get("box", Network::Host).unwrap();
        assert_eq!(
            std::fs::read_to_string(&a.hosts).unwrap(),
            "127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
        assert_eq!(std::fs::read_to_string(&a.hostname).unwrap(), "box\n");
        assert_eq!(
            std::fs::read(&a.resolv_conf).unwrap(),
            std::fs::read("/etc/resolv.conf").unwrap_or_default()
        );
        let b = EtcFiles::get("box", Network::None).unwrap();
        assert_eq!(
            (a.hosts.clone(), a.resolv_conf.clone()),
            (b.hosts, b.resolv_conf)
        );
        let c = EtcFiles::get("other", Network::Host).unwrap();
        assert_ne!(a.hosts, c.hosts);
        // Removed behind our back (a tmp cleaner): written again.
        std::fs::remove_file(&a.hostname).unwrap();
        let d = EtcFiles::get("box", Network::Host).unwrap();
        assert_eq!(std::fs::read_to_string(&d.hostname).unwrap(), "box\n");
    }

    #[test]
    fn hostnames() {
        assert!(valid_hostname(DEFAULT_HOSTNAME));
        assert!(valid_hostname("build-1.example"));
        assert!(!valid_hostname(""));
        assert!(!valid_hostname("a b"));
        assert!(!valid_hostname(&"a".repeat(65)));
    }
}
