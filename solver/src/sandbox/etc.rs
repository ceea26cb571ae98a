//! The generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
//!
//! They are written to a private temporary directory on the host and
//! bind-mounted read-only over the rootfs's own (as BuildKit does), so
//! whatever the image had there is hidden during the step and untouched in
//! the layer.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Network;

/// BuildKit's default hostname for build containers.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";

/// The three files of one step, removed on drop.
pub(super) struct EtcFiles {
    dir: PathBuf,
}

impl EtcFiles {
    pub(super) fn create(hostname: &str, _network: Network) -> io::Result<EtcFiles> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kiln-sandbox-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Left over by a process that had our pid before.
                std::fs::remove_dir_all(&dir)?;
                std::fs::create_dir(&dir)?;
            }
            r => r?,
        }
        let files = EtcFiles { dir };
        std::fs::write(files.hosts(), hosts(hostname))?;
        // The host's resolver configuration, as BuildKit copies it. With
        // `Network::None` nothing is reachable anyway, so it is harmless.
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(files.resolv_conf(), resolv)?;
        std::fs::write(files.hostname(), format!("{hostname}\n"))?;
        Ok(files)
    }

    pub(super) fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub(super) fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub(super) fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    #[cfg(test)]
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for EtcFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
    fn files_are_written_and_removed() {
        let files = EtcFiles::create("box", Network::Host).unwrap();
        let dir = files.dir().to_path_buf();
        assert_eq!(
            std::fs::read_to_string(files.hosts()).unwrap(),
            "127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
        assert_eq!(std::fs::read_to_string(files.hostname()).unwrap(), "box\n");
        assert!(files.resolv_conf().exists());
        drop(files);
        assert!(!dir.exists());
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

#[cfg(test)]
mod bench_tmp {
    #[test]
    fn etc_cost() {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            let f = super::EtcFiles::create("box", super::Network::Host).unwrap();
            drop(f);
        }
        eprintln!("ETC {:?} per create+drop", t.elapsed() / 100);
        let t = std::time::Instant::now();
        for _ in 0..100 {
            let _ = super::super::caps::bounding_set();
        }
        eprintln!("BND {:?}", t.elapsed() / 100);
    }
}
