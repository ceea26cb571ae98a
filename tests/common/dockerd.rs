//! A dockerd of our own for interop tests: private socket, data and exec
//! roots in a temp dir, no bridge or iptables changes, stopped by PID.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dockerd of our own, on a private socket, stopped (by PID) on drop.
pub struct Dockerd {
    child: Child,
    _dir: tempfile::TempDir,
    pub host: String,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let host = format!("unix://{}", sock.display());
        let child = Command::new("dockerd")
            .args(["--bridge=none", "--iptables=false", "--host", &host])
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            _dir: dir,
            host,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if d.docker(&["version"]).status.success() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("dockerd did not come up");
    }

    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        // Debian's client (the machine's /usr/local/bin/docker may differ).
        Command::new("/usr/bin/docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
